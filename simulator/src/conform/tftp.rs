//! TFTP: options, errors, retransmission, duplicate ACKs, windowsize,
//! rollover and path confinement, judged from probe reads with faults.

use super::checks::Check;
use super::link::LinkError;
use super::probe::{Fault, Transfer, VANISH_QUIET, VANISH_WATCH};
use super::{Ctx, Mode, Verdict, fail, not_in_mode, pass, skip};

const TFTP: &[Mode] = &[Mode::Full, Mode::Proxy, Mode::TftpOnly];

/// A plain read of the boot file (no options).
pub(super) fn plain(ctx: &mut Ctx<'_, '_>) -> Result<Option<Transfer>, LinkError> {
    Ok(ctx.transfer("plain", None, &[], Fault::None)?.cloned())
}

fn rrq(t: &Transfer) -> Vec<usize> {
    t.rrq.into_iter().collect()
}

fn first_answer(t: &Transfer) -> Vec<usize> {
    let mut v = rrq(t);
    if let Some((i, _)) = &t.oack {
        v.push(*i);
    } else if let Some(d) = t.data.first() {
        v.push(d.0);
    } else if let Some((i, ..)) = &t.error {
        v.push(*i);
    }
    v
}

fn no_transfer(t: &Transfer) -> Verdict {
    match (&t.error, &t.stopped) {
        (Some((i, code, msg)), _) => fail(
            format!("ERROR {code} {msg:?}"),
            rrq(t).into_iter().chain([*i]).collect(),
        ),
        (None, Some(why)) => fail(why.clone(), rrq(t)),
        (None, None) => fail("the transfer did not complete", rrq(t)),
    }
}

pub(super) fn evaluate(ctx: &mut Ctx<'_, '_>, check: &Check) -> Result<Verdict, LinkError> {
    if let Some(v) = not_in_mode(ctx, TFTP) {
        return Ok(v);
    }
    let id = check.id;
    let opts_req = [("blksize", "1024"), ("tsize", "0"), ("pxelab-probe", "1")];
    macro_rules! transfer {
        ($key:expr, $file:expr, $opts:expr, $fault:expr) => {
            match ctx.transfer($key, $file, $opts, $fault)? {
                Some(t) => t.clone(),
                None => return Ok(skip("no boot file and lease to read it with")),
            }
        };
    }
    let v = match id {
        "tftp.rrq.answers" | "tftp.rrq.new-tid" | "tftp.transfer.completes" => {
            let t = transfer!("plain", None, &[], Fault::None);
            match id {
                "tftp.rrq.answers" => match t.data.first() {
                    Some(&(_, _, 1, len, _)) => pass(format!("DATA block 1, {len} bytes")),
                    Some(&(i, _, b, ..)) => fail(
                        format!("the first DATA is block {b}"),
                        [rrq(&t), vec![i]].concat(),
                    ),
                    None => no_transfer(&t),
                },
                "tftp.rrq.new-tid" => match t.tid {
                    Some(tid) if tid.port() != 69 => pass(format!("TID {}", tid.port())),
                    Some(_) => fail("the server answered from port 69", first_answer(&t)),
                    None => no_transfer(&t),
                },
                _ => {
                    if t.completed {
                        pass(format!("{} bytes in {} blocks", t.bytes, t.blocks))
                    } else {
                        no_transfer(&t)
                    }
                }
            }
        }
        "tftp.file-not-found" => {
            let t = transfer!(
                "missing",
                Some("pxelab-conform-no-such-file.bin".into()),
                &[],
                Fault::None
            );
            match (&t.error, t.data.first()) {
                (Some((_, 1, _)), _) => pass("ERROR 1"),
                (Some((i, code, msg)), _) => fail(
                    format!("ERROR {code} {msg:?}, expected 1 (file not found)"),
                    [rrq(&t), vec![*i]].concat(),
                ),
                (None, Some(d)) => fail(
                    "DATA for a file that does not exist",
                    [rrq(&t), vec![d.0]].concat(),
                ),
                (None, None) => fail("no answer to an RRQ for a missing file", rrq(&t)),
            }
        }
        "tftp.traversal-denied" => {
            let mut evidence = Vec::new();
            let mut leaks = Vec::new();
            for (key, name) in [
                ("traversal", "../../../../../../../../etc/passwd"),
                ("absolute", "/etc/passwd"),
                ("backslash", "..\\..\\..\\..\\..\\..\\etc\\passwd"),
            ] {
                let t = transfer!(key, Some(name.into()), &[], Fault::None);
                if let Some(d) = t.data.first() {
                    leaks.push(name);
                    evidence.extend(rrq(&t));
                    evidence.push(d.0);
                }
            }
            if leaks.is_empty() {
                pass("../, /etc and ..\\ names get ERROR or nothing")
            } else {
                fail(format!("DATA for {}", leaks.join(", ")), evidence)
            }
        }
        "tftp.wrq-refused" => wrq(ctx)?,
        "tftp.oack.only-requested" | "tftp.oack.unknown-option-ignored" => {
            let t = transfer!("options", None, &opts_req, Fault::None);
            match id {
                "tftp.oack.only-requested" => match &t.oack {
                    None => skip("no OACK (the server ignores options)"),
                    Some((i, o)) => {
                        let extra: Vec<&str> = o
                            .iter()
                            .map(|(k, _)| k.as_str())
                            .filter(|k| {
                                !["blksize", "tsize"]
                                    .iter()
                                    .any(|r| r.eq_ignore_ascii_case(k))
                            })
                            .collect();
                        if extra.is_empty() {
                            pass("OACK within blksize, tsize")
                        } else {
                            fail(
                                format!(
                                    "the OACK has options the client did not ask for: {}",
                                    extra.join(", ")
                                ),
                                [rrq(&t), vec![*i]].concat(),
                            )
                        }
                    }
                },
                _ => match &t.error {
                    Some((i, code, msg)) => fail(
                        format!("an unknown option got ERROR {code} {msg:?}"),
                        [rrq(&t), vec![*i]].concat(),
                    ),
                    None if t.oack.is_some() || !t.data.is_empty() => {
                        pass("answered without the unknown option")
                    }
                    None => no_transfer(&t),
                },
            }
        }
        "tftp.blksize.supported"
        | "tftp.blksize.honoured"
        | "tftp.tsize.supported"
        | "tftp.tsize.accurate" => {
            let t = transfer!("options", None, &opts_req, Fault::None);
            let opt = |name: &str| {
                t.oack.as_ref().and_then(|(_, o)| {
                    o.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.clone())
                })
            };
            let oack_ev = first_answer(&t);
            match id {
                "tftp.blksize.supported" => match opt("blksize") {
                    Some(b) => pass(format!("blksize {b}")),
                    None => Verdict::NotSupported("no blksize in an OACK".into()),
                },
                "tftp.blksize.honoured" => match opt("blksize").map(|b| b.parse::<u16>()) {
                    None => skip("blksize not supported"),
                    Some(Err(_)) => fail("blksize in the OACK is not a number", oack_ev),
                    Some(Ok(b)) if !(8..=1024).contains(&b) => {
                        fail(format!("asked for 1024, granted {b}"), oack_ev)
                    }
                    Some(Ok(b)) => {
                        let n = t.data.len();
                        let bad: Vec<usize> = t
                            .data
                            .iter()
                            .enumerate()
                            .filter(|(i, d)| {
                                if *i + 1 < n {
                                    d.3 != usize::from(b)
                                } else {
                                    d.3 > usize::from(b)
                                }
                            })
                            .map(|(_, d)| d.0)
                            .take(3)
                            .collect();
                        if !bad.is_empty() {
                            fail(format!("DATA blocks not of the granted {b} bytes"), bad)
                        } else if !t.completed {
                            no_transfer(&t)
                        } else {
                            pass(format!("blksize {b}, {} blocks", t.blocks))
                        }
                    }
                },
                "tftp.tsize.supported" => match opt("tsize") {
                    Some(s) => pass(format!("tsize {s}")),
                    None => Verdict::NotSupported("no tsize in an OACK".into()),
                },
                _ => match opt("tsize").map(|s| s.parse::<u64>()) {
                    None => skip("tsize not supported"),
                    Some(Ok(s)) if t.completed && s == t.bytes => {
                        pass(format!("tsize {s} = bytes sent"))
                    }
                    Some(Ok(s)) if t.completed => {
                        fail(format!("tsize {s}, but {} bytes arrived", t.bytes), oack_ev)
                    }
                    Some(Ok(_)) => no_transfer(&t),
                    Some(Err(_)) => fail("tsize in the OACK is not a number", oack_ev),
                },
            }
        }
        "tftp.tsize-probe-abort" => {
            let t = transfer!(
                "probe-abort",
                None,
                &[("tsize", "0")],
                Fault::AbortAfterOack
            );
            if t.oack.is_none() {
                skip("no OACK to abort (tsize not supported)")
            } else if !t.after_abort.is_empty() {
                let ev = [
                    rrq(&t),
                    t.abort.into_iter().collect(),
                    t.after_abort.clone(),
                ]
                .concat();
                fail("the server went on sending after the client's ERROR 8", ev)
            } else {
                let again = transfer!("after-probe", None, &[], Fault::None);
                if again.completed {
                    pass("the session ended on ERROR 8; the next RRQ was served")
                } else {
                    no_transfer(&again)
                }
            }
        }
        "tftp.retransmit-on-lost-ack" => {
            let t = transfer!("drop-ack", None, &[], Fault::DropAck(2));
            let copies: Vec<usize> = t.data.iter().filter(|d| d.2 == 2).map(|d| d.0).collect();
            if copies.len() < 2 {
                let ev = [rrq(&t), copies].concat();
                fail("block 2 was never sent again after its ACK was lost", ev)
            } else if !t.completed {
                no_transfer(&t)
            } else {
                pass(format!(
                    "block 2 sent again {:.1} s later; transfer complete",
                    gap(&t, 2)
                ))
            }
        }
        "tftp.no-sorcerers-apprentice" => {
            let t = transfer!("dup-ack", None, &[], Fault::DuplicateAck(2));
            if !t.after_duplicate_ack.is_empty() {
                let first3: Vec<usize> = t
                    .data
                    .iter()
                    .filter(|d| d.2 == 3)
                    .map(|d| d.0)
                    .take(1)
                    .collect();
                let ev = [first3, t.after_duplicate_ack.clone()].concat();
                fail(
                    "the duplicated ACK of block 2 was answered with block 3 again (Sorcerer's Apprentice)",
                    ev,
                )
            } else if !t.completed {
                no_transfer(&t)
            } else {
                pass("one copy of block 3 after a duplicated ACK 2")
            }
        }
        "tftp.session-timeout" => {
            let t = transfer!("vanish", None, &[], Fault::Vanish);
            match t.vanish {
                None => no_transfer(&t),
                Some((span, true)) => pass(format!(
                    "{} retransmissions over {:.1} s, then silence",
                    t.after_abort.len(),
                    span.as_secs_f64()
                )),
                Some((span, false)) => fail(
                    format!(
                        "still retransmitting {:.0} s after the client vanished ({} copies; watched {} s for {} s of silence)",
                        span.as_secs_f64(),
                        t.after_abort.len(),
                        VANISH_WATCH.as_secs(),
                        VANISH_QUIET.as_secs()
                    ),
                    t.after_abort.iter().rev().take(3).rev().copied().collect(),
                ),
            }
        }
        "tftp.unknown-tid" => {
            let t = transfer!("stranger", None, &[], Fault::StrangerAck(1));
            match (t.stranger_reply, t.completed) {
                (Some((_, 5)), true) => pass("ERROR 5 to the stranger; transfer complete"),
                (_, false) => no_transfer(&t),
                (Some((i, code)), true) => {
                    fail(format!("the stranger got ERROR {code}, not 5"), vec![i])
                }
                (None, true) => fail("no ERROR 5 for an ACK from a wrong port", rrq(&t)),
            }
        }
        "tftp.retransmitted-rrq-one-session" => {
            let t = transfer!("double-rrq", None, &[], Fault::None);
            if t.other_tids.is_empty() {
                if t.completed {
                    pass("one session")
                } else {
                    no_transfer(&t)
                }
            } else {
                // RFC 1350 allows it (each RRQ is a request); the client
                // must then refuse the second TID with ERROR 5.
                Verdict::NotSupported(
                    "a retransmitted RRQ starts a second transfer from a second TID \
                     (allowed by RFC 1350; the client refuses it with ERROR 5)"
                        .into(),
                )
            }
        }
        "tftp.windowsize.supported" | "tftp.windowsize.transfer" => {
            let t = transfer!("window", None, &[("windowsize", "4")], Fault::None);
            let w = t.oack.as_ref().and_then(|(_, o)| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("windowsize"))
                    .map(|(_, v)| v.clone())
            });
            match (id, w) {
                ("tftp.windowsize.supported", Some(w)) => pass(format!("windowsize {w}")),
                ("tftp.windowsize.supported", None) => {
                    Verdict::NotSupported("no windowsize in an OACK".into())
                }
                (_, None) => skip("windowsize not supported"),
                (_, Some(w)) => match w.parse::<u16>() {
                    Ok(n) if (1..=4).contains(&n) && t.completed => {
                        pass(format!("window {n}, {} bytes", t.bytes))
                    }
                    Ok(n) if !(1..=4).contains(&n) => {
                        fail(format!("asked for 4, granted {n}"), first_answer(&t))
                    }
                    _ => no_transfer(&t),
                },
            }
        }
        "tftp.rollover" => {
            let Some(large) = ctx.opts.large_file.clone() else {
                return Ok(skip("no --large-file given"));
            };
            let t = transfer!(
                "large",
                Some(large),
                &[("blksize", "1468"), ("tsize", "0"), ("windowsize", "16")],
                Fault::None
            );
            if t.blocks <= 65535 && t.completed {
                skip(format!(
                    "the file has {} blocks at blksize {}: no wrap",
                    t.blocks, t.blksize
                ))
            } else if t.completed {
                pass(format!(
                    "{} blocks; block 65535 was followed by {}",
                    t.blocks,
                    t.rollover_to.unwrap_or(0)
                ))
            } else if t.blocks == 65535 {
                Verdict::NotSupported(format!(
                    "the transfer stopped at block 65535: {}",
                    t.stopped
                        .clone()
                        .or(t.error.as_ref().map(|e| e.2.clone()))
                        .unwrap_or_default()
                ))
            } else {
                no_transfer(&t)
            }
        }
        other => skip(format!("{other}: no evaluation")),
    };
    Ok(v)
}

/// Seconds between the first two copies of `block`.
fn gap(t: &Transfer, block: u16) -> f64 {
    let times: Vec<_> = t
        .data
        .iter()
        .filter(|d| d.2 == block)
        .map(|d| d.1)
        .collect();
    match times.as_slice() {
        [a, b, ..] => (*b - *a).as_secs_f64(),
        _ => 0.0,
    }
}

/// A write request must be refused by a boot server.
fn wrq(ctx: &mut Ctx<'_, '_>) -> Result<Verdict, LinkError> {
    use pxelab_reference::wire::tftp::TftpPacket;
    let Some((mac, ip, server, _)) = ctx.tftp_target()? else {
        return Ok(skip("no boot file and lease"));
    };
    let port = ctx.port();
    let local = std::net::SocketAddrV4::new(ip, port);
    let p = TftpPacket::Wrq {
        filename: "pxelab-conform-write-test.bin".into(),
        mode: "octet".into(),
        options: Vec::new(),
    };
    let l2 = pxelab_reference::L2Dest::Unicast(
        ctx.bench
            .mac_of(server)
            .unwrap_or(pxelab_reference::Mac::ZERO),
    );
    let sent = ctx.bench.send(
        mac,
        &pxelab_reference::Transmit {
            src: local,
            dst: std::net::SocketAddrV4::new(server, 69),
            l2,
            payload: p.to_bytes(),
        },
    )?;
    let until = ctx.bench.now() + super::probe::ANSWER_WAIT;
    let mut answer = None;
    for _ in 0..1000 {
        let Some(rx) = ctx.bench.recv(until)? else {
            break;
        };
        if rx.udp.dst == local && *rx.udp.src.ip() == server {
            answer = Some((rx.idx, rx.udp.src, TftpPacket::parse(&rx.udp.payload).ok()));
            break;
        }
    }
    let ev: Vec<usize> = sent.into_iter().collect();
    Ok(match answer {
        Some((_, _, Some(TftpPacket::Error { code, message }))) => {
            pass(format!("refused: ERROR {} {message:?}", code.code()))
        }
        Some((i, tid, Some(TftpPacket::Ack { block: 0 }))) => {
            // Accepted: end the transfer at once, before any byte is written.
            let abort = TftpPacket::Error {
                code: pxelab_reference::wire::tftp::ErrorCode::NotDefined,
                message: "conformance probe: no write".into(),
            };
            let l2 = pxelab_reference::L2Dest::Unicast(
                ctx.bench
                    .mac_of(server)
                    .unwrap_or(pxelab_reference::Mac::ZERO),
            );
            ctx.bench.send(
                mac,
                &pxelab_reference::Transmit {
                    src: local,
                    dst: tid,
                    l2,
                    payload: abort.to_bytes(),
                },
            )?;
            fail(
                "the server accepted a write request (ACK 0)",
                [ev, vec![i]].concat(),
            )
        }
        Some((i, _, _)) => fail(
            "the answer to a WRQ is neither an ERROR nor an ACK",
            [ev, vec![i]].concat(),
        ),
        None => pass("no answer to a write request (ignored)"),
    })
}
