//! DHCP, ProxyDHCP, option 43, the 4011 boot server and the boot file per
//! architecture: judged from the probes' DISCOVER/REQUEST exchanges.

use std::net::{Ipv4Addr, SocketAddrV4};

use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{DhcpMessage, MessageType, code};
use pxelab_reference::wire::pxe::PxeVendorOptions;

use super::checks::Check;
use super::link::LinkError;
use super::probe::{self, Reply};
use super::{Ctx, Mode, Verdict, fail, not_in_mode, pass, skip};
use crate::machine::NbpKind;

const FULL: &[Mode] = &[Mode::Full, Mode::DhcpOnly];
const PXE: &[Mode] = &[Mode::Full, Mode::Proxy, Mode::DhcpOnly];
const PROXY: &[Mode] = &[Mode::Proxy];
const BOOT: &[Mode] = &[Mode::Full, Mode::Proxy];

fn opts_list(m: &DhcpMessage) -> String {
    m.options
        .iter()
        .map(|o| o.code.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn evaluate(ctx: &mut Ctx<'_, '_>, check: &Check) -> Result<Verdict, LinkError> {
    let id = check.id;
    let profile = check.profile;
    if id.starts_with("dhcp.")
        && let Some(v) = not_in_mode(ctx, FULL)
    {
        return Ok(v);
    }
    if id.starts_with("proxy.")
        && let Some(v) = not_in_mode(ctx, PROXY)
    {
        return Ok(v);
    }
    if id.starts_with("pxe.")
        && let Some(v) = not_in_mode(ctx, PXE)
    {
        return Ok(v);
    }
    if (id.starts_with("bootsrv.") || id.starts_with("bootfile."))
        && let Some(v) = not_in_mode(ctx, BOOT)
    {
        return Ok(v);
    }
    if id.starts_with("dhcp.request.") || id.starts_with("proxy.ignores") {
        return special(ctx, id);
    }
    if id == "dhcp.offer.broadcast-when-flagged" || id == "dhcp.offer.fits-max-message-size" {
        return flagged(ctx, id);
    }
    if id.starts_with("bootsrv.") {
        return bootsrv(ctx, id, profile);
    }
    if id.starts_with("bootfile.") {
        return bootfile(ctx, id);
    }
    let d = ctx.dora(profile)?.clone();
    let discover: Vec<usize> = d.discover.into_iter().collect();
    let Some(offer) = ctx.subject(&d).cloned() else {
        let who = ctx
            .server
            .map_or("any server".to_string(), |s| s.to_string());
        return Ok(fail(
            format!(
                "no offer from {who} within {:?} of the DISCOVER",
                probe::OFFER_WINDOW
            ),
            discover,
        ));
    };
    let o = offer.rx.idx;
    let ev = |extra: &[usize]| {
        let mut v = discover.clone();
        v.push(o);
        v.extend_from_slice(extra);
        v
    };
    let m = &offer.msg;
    let v = match id {
        "dhcp.offer.answers-discover" | "proxy.answers-pxe-client" => pass(format!(
            "offer from {} ({})",
            offer.server(),
            offer.rx.udp.src
        )),
        "dhcp.offer.echoes-xid" | "proxy.echoes-xid" => {
            if m.xid == d.xid {
                pass(format!("xid {:#010x}", d.xid))
            } else {
                fail(
                    format!("DISCOVER xid {:#010x}, offer xid {:#010x}", d.xid, m.xid),
                    ev(&[]),
                )
            }
        }
        "dhcp.offer.echoes-chaddr" => {
            if m.client_mac() == Some(d.mac) && m.htype == 1 && m.hlen == 6 {
                pass(format!("chaddr {}", d.mac))
            } else {
                fail(
                    format!(
                        "htype {} hlen {} chaddr {:?}, expected 1 6 {}",
                        m.htype,
                        m.hlen,
                        m.client_mac(),
                        d.mac
                    ),
                    ev(&[]),
                )
            }
        }
        "dhcp.offer.message-type" => match m.message_type() {
            Some(MessageType::Offer) => pass("53 = DHCPOFFER"),
            other => fail(format!("option 53 is {other:?}"), ev(&[])),
        },
        "dhcp.offer.server-id" | "proxy.server-id" => match m.server_id() {
            Some(s) if !s.is_unspecified() => pass(format!("54 = {s}")),
            _ => fail(format!("no option 54 (options {})", opts_list(m)), ev(&[])),
        },
        "dhcp.offer.lease-time" => lease_time(m, ev(&[])),
        "dhcp.offer.yiaddr" => {
            let y = m.yiaddr;
            if y.is_unspecified()
                || y.is_broadcast()
                || y.is_multicast()
                || Some(y) == m.server_id()
            {
                fail(
                    format!("yiaddr {y} is not a host address for the client"),
                    ev(&[]),
                )
            } else {
                pass(format!("yiaddr {y}"))
            }
        }
        "dhcp.offer.well-formed" => {
            match DhcpMessage::parse(&offer.rx.udp.payload, ParseMode::Strict) {
                Ok(_) => pass("parses strictly"),
                Err(e) => fail(format!("strict parse: {e}"), ev(&[])),
            }
        }
        "dhcp.ack.echoes-xid" | "dhcp.ack.same-address" | "dhcp.ack.lease-time" => {
            let req: Vec<usize> = d.request.into_iter().collect();
            let Some(ack) = d.acks.first() else {
                return Ok(fail(
                    "no answer to the DHCPREQUEST (2 tries)",
                    [ev(&[]), req].concat(),
                ));
            };
            let e = [ev(&[]), req, vec![ack.rx.idx]].concat();
            if ack.msg.message_type() != Some(MessageType::Ack) {
                return Ok(fail(
                    format!(
                        "the REQUEST got {:?}, not a DHCPACK",
                        ack.msg.message_type()
                    ),
                    e,
                ));
            }
            match id {
                "dhcp.ack.echoes-xid" if ack.msg.xid == d.xid => {
                    pass(format!("xid {:#010x}", d.xid))
                }
                "dhcp.ack.echoes-xid" => fail(
                    format!("REQUEST xid {:#010x}, ACK xid {:#010x}", d.xid, ack.msg.xid),
                    e,
                ),
                "dhcp.ack.same-address" => {
                    let offered = d.requested.as_ref().map(|r| r.msg.yiaddr);
                    if Some(ack.msg.yiaddr) == offered {
                        pass(format!("{}", ack.msg.yiaddr))
                    } else {
                        fail(
                            format!("offered {offered:?}, acknowledged {}", ack.msg.yiaddr),
                            e,
                        )
                    }
                }
                _ => lease_time(&ack.msg, e),
            }
        }
        "proxy.yiaddr-zero" => {
            if m.yiaddr.is_unspecified() {
                pass("yiaddr 0.0.0.0")
            } else {
                fail(
                    format!("the ProxyDHCP offer sets yiaddr {}", m.yiaddr),
                    ev(&[]),
                )
            }
        }
        "proxy.no-lease-options" => {
            let lease: Vec<u8> = [code::LEASE_TIME, code::ROUTER, code::SUBNET_MASK]
                .into_iter()
                .filter(|c| m.has_option(*c))
                .collect();
            if lease.is_empty() {
                pass("no 1, 3, 51")
            } else {
                fail(
                    format!("the ProxyDHCP offer carries lease options {lease:?}"),
                    ev(&[]),
                )
            }
        }
        "pxe.offer.vendor-class" => {
            if offer.is_pxe() {
                pass("60 = PXEClient")
            } else if let Some(file) = offer.boot_file() {
                // A DHCP server may boot PXE clients the BOOTP way, a file
                // and siaddr with no PXE extensions: firmware takes such an
                // offer (EDK2's "DHCP only" class), with no menu or 4011.
                Verdict::NotSupported(format!(
                    "no PXE extensions: a plain DHCP boot file ({file}), no option 60"
                ))
            } else {
                fail(
                    format!("no option 60 PXEClient (options {})", opts_list(m)),
                    ev(&[]),
                )
            }
        }
        "pxe.offer.tftp-server" => match offer.boot_file() {
            None => skip("the offer names no boot file"),
            Some(f) => match offer.tftp_server() {
                Some(s) => pass(format!("{f} from {s}")),
                None => fail(
                    format!("boot file {f:?} but siaddr is 0.0.0.0 and there is no option 66"),
                    ev(&[]),
                ),
            },
        },
        _ => return opt43(ctx, id, &offer, ev(&[])),
    };
    Ok(v)
}

fn lease_time(m: &DhcpMessage, ev: Vec<usize>) -> Verdict {
    match m.option(code::LEASE_TIME) {
        Some(v) if v.len() == 4 => pass(format!(
            "51 = {} s",
            u32::from_be_bytes([v[0], v[1], v[2], v[3]])
        )),
        Some(v) => fail(format!("option 51 is {} bytes, not 4", v.len()), ev),
        None => fail(format!("no option 51 (options {})", opts_list(m)), ev),
    }
}

fn opt43(
    ctx: &mut Ctx<'_, '_>,
    id: &str,
    offer: &Reply,
    ev: Vec<usize>,
) -> Result<Verdict, LinkError> {
    let m = &offer.msg;
    if !offer.is_pxe() {
        return Ok(skip(
            "the offer is not a PXE offer (no option 60 PXEClient)",
        ));
    }
    let raw = m.option(code::VENDOR_SPECIFIC).map(|c| c.to_vec());
    if id == "pxe.opt43.present" {
        return Ok(match raw {
            Some(_) => pass("option 43 present"),
            None => fail(format!("no option 43 (options {})", opts_list(m)), ev),
        });
    }
    let Some(raw) = raw else {
        if id == "pxe.offer.next-step" {
            return Ok(match offer.boot_file() {
                Some(f) => pass(format!("boot file {f}")),
                None => next_step_from_4011(ctx, ev)?,
            });
        }
        return Ok(skip("no option 43"));
    };
    let strict = PxeVendorOptions::parse(&raw, ParseMode::Strict);
    let lax = PxeVendorOptions::parse(&raw, ParseMode::Lax).unwrap_or_default();
    let v = match id {
        "pxe.opt43.well-formed" => match strict {
            Ok(_) => pass(format!("{} bytes of sub-options", raw.len())),
            Err(e) => fail(format!("option 43: {e}"), ev),
        },
        "pxe.opt43.terminated" => {
            if raw.last() == Some(&255) && lax.terminated {
                pass("ends with 255")
            } else {
                fail(
                    format!(
                        "option 43 does not end with END (255): {}",
                        super::bench::hex(&raw)
                    ),
                    ev,
                )
            }
        }
        "pxe.opt43.discovery-control-valid" => match lax.discovery_control {
            None => pass("no 43.6 (all bits 0)"),
            Some(dc) if dc.0 & 0xf0 == 0 => pass(format!("43.6 = {:#04x}", dc.0)),
            Some(dc) => fail(format!("43.6 = {:#04x} sets reserved bits 4-7", dc.0), ev),
        },
        "pxe.opt43.servers-when-only-listed" => match lax.discovery_control {
            Some(dc) if dc.only_listed() => match &lax.boot_servers {
                Some(s) if s.iter().any(|e| !e.addrs.is_empty()) => pass("43.8 lists servers"),
                _ => fail(
                    "43.6 bit 2 (use only listed servers) without servers in 43.8",
                    ev,
                ),
            },
            _ => skip("43.6 bit 2 is not set"),
        },
        "pxe.opt43.mcast-addr-when-multicast" => {
            let dc = lax.discovery_control.map_or(0, |d| d.0);
            let direct = dc & 0x08 != 0 && offer.boot_file().is_some();
            let discovery = lax.boot_menu.is_some() || lax.boot_servers.is_some();
            if direct || !discovery {
                skip("the client boots the offer's file: no discovery")
            } else if dc & 0x02 != 0 || lax.discovery_mcast_addr.is_some() {
                pass("multicast disabled or 43.7 present")
            } else {
                fail(
                    "boot server discovery with multicast enabled, but no 43.7",
                    ev,
                )
            }
        }
        "pxe.opt43.menu-has-prompt" => match (&lax.boot_menu, &lax.menu_prompt) {
            (None, _) => skip("no boot menu (43.9)"),
            (Some(_), Some(_)) => pass("43.9 with 43.10"),
            (Some(_), None) => fail("43.9 without 43.10", ev),
        },
        "pxe.offer.next-step" => {
            if let Some(f) = offer.boot_file() {
                pass(format!("boot file {f}"))
            } else if lax.boot_menu.is_some() || lax.boot_servers.is_some() {
                pass("boot menu or boot servers to discover")
            } else {
                next_step_from_4011(ctx, ev)?
            }
        }
        other => skip(format!("{other}: no evaluation")),
    };
    Ok(v)
}

/// A PXE offer without a file is fine when its 4011 server names one.
fn next_step_from_4011(ctx: &mut Ctx<'_, '_>, ev: Vec<usize>) -> Result<Verdict, LinkError> {
    let profile = ctx.base_profile();
    Ok(match ctx.boot_exchange(&profile)? {
        Some(ex) if ex.replies.first().and_then(Reply::boot_file).is_some() => {
            pass("the offer names no file; its server answers on 4011 with one")
        }
        _ => fail(
            "the PXE offer names no boot file, no menu, no boot servers, and 4011 gives none",
            ev,
        ),
    })
}

fn bootsrv(ctx: &mut Ctx<'_, '_>, id: &str, profile: &str) -> Result<Verdict, LinkError> {
    let mode = ctx.mode;
    let d = ctx.dora(profile)?.clone();
    if d.ip.is_none() {
        return Ok(skip("the probe client got no lease, so it cannot ask 4011"));
    }
    let Some(ex) = ctx.boot_exchange(profile)?.cloned() else {
        return Ok(skip("no server to ask on 4011"));
    };
    let req: Vec<usize> = ex.request.into_iter().collect();
    let Some(r) = ex.replies.first() else {
        return Ok(if id == "bootsrv.4011.answers" && mode == Mode::Proxy {
            fail("no answer on 4011 within 3 s", req)
        } else if id == "bootsrv.4011.answers" {
            Verdict::NotSupported("no boot server on 4011 (the offer names the boot file)".into())
        } else {
            skip("no answer on 4011")
        });
    };
    let e = [req, vec![r.rx.idx]].concat();
    let m = &r.msg;
    Ok(match id {
        "bootsrv.4011.answers" => pass(format!("answer from {}", r.rx.udp.src)),
        "bootsrv.4011.is-ack" => match m.message_type() {
            Some(MessageType::Ack) => pass("DHCPACK"),
            t => fail(format!("the 4011 answer is {t:?}"), e),
        },
        "bootsrv.4011.echoes-xid" => {
            if m.xid == ex.xid {
                pass(format!("xid {:#010x}", ex.xid))
            } else {
                fail(
                    format!("REQUEST xid {:#010x}, ACK xid {:#010x}", ex.xid, m.xid),
                    e,
                )
            }
        }
        "bootsrv.4011.echoes-boot-item" => {
            let item = m
                .option(code::VENDOR_SPECIFIC)
                .and_then(|o| PxeVendorOptions::parse(&o, ParseMode::Lax).ok())
                .and_then(|v| v.boot_item);
            let Some(asked) = ex.item else {
                return Ok(skip(
                    "answered only a request without 43.71 (EDK2's, after an offer without a menu)",
                ));
            };
            match item {
                Some(i) if (i.kind, i.layer) == asked => {
                    pass(format!("43.71 type {} layer {}", i.kind, i.layer))
                }
                Some(i) => fail(
                    format!(
                        "sent 43.71 {asked:?}, got type {} layer {}",
                        i.kind, i.layer
                    ),
                    e,
                ),
                None => fail(format!("sent 43.71 {asked:?}; the ACK has no 43.71"), e),
            }
        }
        "bootsrv.4011.unicast-reply" => {
            if r.rx.udp.dst == ex.client {
                pass(format!("to {}", ex.client))
            } else {
                fail(
                    format!("sent to {}, the client is {}", r.rx.udp.dst, ex.client),
                    e,
                )
            }
        }
        "bootsrv.4011.boot-file" => match r.boot_file() {
            Some(f) => pass(f),
            None => fail("the 4011 ACK names no boot file", e),
        },
        other => skip(format!("{other}: no evaluation")),
    })
}

fn bootfile(ctx: &mut Ctx<'_, '_>, id: &str) -> Result<Verdict, LinkError> {
    let file_of = |ctx: &mut Ctx<'_, '_>, p: &str| ctx.boot_answer(p);
    Ok(match id {
        "bootfile.bios" | "bootfile.uefi-x64" => {
            let p = if id == "bootfile.bios" {
                "pxe21-bios"
            } else {
                "edk2-uefi"
            };
            match file_of(ctx, p)? {
                Some((f, s, _)) => pass(format!("{f} from {s}")),
                None => {
                    let d = &ctx.doras[p];
                    let ev = d
                        .discover
                        .into_iter()
                        .chain(d.offers.iter().map(|o| o.rx.idx))
                        .collect();
                    fail(format!("no boot file for a {p} client"), ev)
                }
            }
        }
        "bootfile.per-arch" => {
            if !ctx.opts.profile_selected("pxe21-bios") {
                return Ok(skip("profile pxe21-bios not selected"));
            }
            match (file_of(ctx, "pxe21-bios")?, file_of(ctx, "edk2-uefi")?) {
                (Some((b, _, bi)), Some((u, _, ui))) => {
                    if b != u {
                        pass(format!("BIOS {b}, UEFI {u}"))
                    } else {
                        fail(format!("BIOS and UEFI clients both get {b}"), vec![bi, ui])
                    }
                }
                _ => skip("a client got no boot file"),
            }
        }
        "bootfile.ipxe-no-chainload-loop" => match file_of(ctx, "ipxe")? {
            Some((f, s, idx)) => {
                if NbpKind::guess(&f) == NbpKind::Ipxe {
                    fail(
                        format!(
                            "iPXE (user class iPXE, option 175) is handed {f} from {s}, an iPXE binary: it chainloads itself forever"
                        ),
                        vec![idx],
                    )
                } else {
                    pass(format!("iPXE gets {f}"))
                }
            }
            None => skip("the iPXE client got no boot file"),
        },
        "bootfile.exists" => match super::tftp::plain(ctx)? {
            None => skip("no boot file and lease to try"),
            Some(t) => match (&t.error, t.data.first()) {
                (_, Some(_)) => pass("DATA block 1 arrived"),
                (Some((i, code, msg)), None) => fail(
                    format!("ERROR {code} {msg:?}"),
                    t.rrq.into_iter().chain([*i]).collect(),
                ),
                (None, None) => fail(
                    t.stopped.clone().unwrap_or_default(),
                    t.rrq.into_iter().collect(),
                ),
            },
        },
        other => skip(format!("{other}: no evaluation")),
    })
}

/// The probes of one-off DHCP situations.
fn special(ctx: &mut Ctx<'_, '_>, id: &str) -> Result<Verdict, LinkError> {
    let Some(server) = ctx.server else {
        return Ok(skip("no server under test answered"));
    };
    match id {
        "dhcp.request.other-server-silent" => {
            let base = ctx.base_profile();
            let d = ctx.dora(&base)?.clone();
            let Some(offer) = ctx.subject(&d).cloned() else {
                return Ok(skip("no offer to request elsewhere"));
            };
            if ctx.other_server.is_none() {
                let spec = Ctx::spec(&base);
                let (mac, xid) = (ctx.mac(), ctx.xid());
                let d2 = probe::discover(ctx.bench, &spec, mac, xid, probe::OFFER_WINDOW)?;
                let yi = ctx.subject(&d2).map_or(offer.msg.yiaddr, |r| r.msg.yiaddr);
                let mut m = probe::client_message(&spec, mac, xid, MessageType::Request);
                m.push_option(code::REQUESTED_IP, yi.octets().to_vec());
                // A server id no host has: the client chose "someone else".
                m.push_option(code::SERVER_ID, vec![192, 0, 2, 254]);
                let t = broadcast(m);
                let sent = ctx.bench.send(mac, &t)?;
                let until = ctx.bench.now() + probe::ANSWER_WAIT;
                let mut replies = probe::collect(ctx.bench, mac, Some(server), until, 4)?;
                replies.retain(|r| r.msg.xid == xid);
                ctx.other_server = Some((sent, replies));
            }
            let (sent, all) = ctx.other_server.clone().unwrap_or_default();
            let req: Vec<usize> = sent.into_iter().collect();
            let acks: Vec<&Reply> = all
                .iter()
                .filter(|r| r.msg.message_type() == Some(MessageType::Ack))
                .collect();
            Ok(if acks.is_empty() {
                pass("no ACK for a REQUEST naming server 192.0.2.254")
            } else {
                fail(
                    "the server ACKed a REQUEST whose option 54 names another server",
                    [req, acks.iter().map(|r| r.rx.idx).collect()].concat(),
                )
            })
        }
        "dhcp.request.wrong-subnet-nak" => {
            if ctx.wrong_subnet.is_none() {
                let spec = Ctx::spec(&ctx.base_profile());
                let (mac, xid) = (ctx.mac(), ctx.xid());
                ctx.bench.register(mac);
                let mut m = probe::client_message(&spec, mac, xid, MessageType::Request);
                m.push_option(code::REQUESTED_IP, vec![198, 51, 100, 77]);
                let t = broadcast(m);
                let sent = ctx.bench.send(mac, &t)?;
                let until = ctx.bench.now() + probe::ANSWER_WAIT;
                let replies = probe::collect(ctx.bench, mac, Some(server), until, 1)?;
                ctx.wrong_subnet = Some((sent, replies));
            }
            let (sent, all) = ctx.wrong_subnet.clone().unwrap_or_default();
            let req: Vec<usize> = sent.into_iter().collect();
            Ok(match all.first() {
                Some(r) if r.msg.message_type() == Some(MessageType::Nak) => pass("DHCPNAK"),
                Some(r) => fail(
                    format!("a REQUEST for 198.51.100.77 got {:?}", r.msg.message_type()),
                    [req, vec![r.rx.idx]].concat(),
                ),
                None => fail(
                    "no DHCPNAK for a REQUEST (INIT-REBOOT) of 198.51.100.77",
                    req,
                ),
            })
        }
        "proxy.ignores-non-pxe" => {
            if ctx.nonpxe.is_none() {
                let mut spec = Ctx::spec(&ctx.base_profile());
                spec.pxe = false;
                spec.profile.user_class = None;
                spec.profile.ipxe_features = None;
                let (mac, xid) = (ctx.mac(), ctx.xid());
                let d = probe::discover(ctx.bench, &spec, mac, xid, probe::ANSWER_WAIT)?;
                ctx.nonpxe = Some(d);
            }
            let Some(d) = ctx.nonpxe.clone() else {
                return Ok(skip("no probe"));
            };
            let from: Vec<usize> = d
                .offers
                .iter()
                .filter(|r| ctx.is_from_subject(r))
                .map(|r| r.rx.idx)
                .collect();
            Ok(if from.is_empty() {
                pass("silent to a DISCOVER without option 60")
            } else {
                fail(
                    "the ProxyDHCP answered a client without option 60 PXEClient",
                    [d.discover.into_iter().collect(), from].concat(),
                )
            })
        }
        other => Ok(skip(format!("{other}: no evaluation"))),
    }
}

fn broadcast(m: DhcpMessage) -> pxelab_reference::Transmit {
    pxelab_reference::Transmit {
        src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
        dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
        l2: pxelab_reference::L2Dest::Broadcast,
        payload: m.emit(),
    }
}

/// DISCOVERs with the broadcast flag and a 576-byte option 57.
fn flagged(ctx: &mut Ctx<'_, '_>, id: &str) -> Result<Verdict, LinkError> {
    if ctx.flagged.is_none() {
        let mut spec = Ctx::spec("edk2-uefi");
        spec.broadcast = Some(true);
        spec.max_size = Some(576);
        let (mac, xid) = (ctx.mac(), ctx.xid());
        let d = probe::discover(ctx.bench, &spec, mac, xid, probe::OFFER_WINDOW)?;
        ctx.flagged = Some(d);
    }
    let Some(d) = ctx.flagged.clone() else {
        return Ok(skip("no probe"));
    };
    let Some(offer) = ctx.subject(&d).cloned() else {
        return Ok(fail(
            "no offer to a DISCOVER with the broadcast flag",
            d.discover.into_iter().collect(),
        ));
    };
    let ev: Vec<usize> = d.discover.into_iter().chain([offer.rx.idx]).collect();
    Ok(match id {
        "dhcp.offer.broadcast-when-flagged" => {
            let u = &offer.rx.udp;
            if u.dst.ip().is_broadcast() && u.dst_mac == pxelab_reference::Mac::BROADCAST {
                pass("255.255.255.255, ff:ff:ff:ff:ff:ff")
            } else {
                fail(
                    format!(
                        "the broadcast flag was set, the offer went to {} ({})",
                        u.dst, u.dst_mac
                    ),
                    ev,
                )
            }
        }
        _ => {
            let len = offer.rx.udp.payload.len();
            // Option 57 counts the IP and UDP headers too (RFC 2132 §9.10).
            if len + 28 <= 576 {
                pass(format!("{} bytes with headers", len + 28))
            } else {
                fail(
                    format!(
                        "the offer is {} bytes with IP and UDP headers; the client said 576",
                        len + 28
                    ),
                    ev,
                )
            }
        }
    })
}
