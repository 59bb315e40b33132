//! The server endpoint and a session driven packet by packet.

use std::net::{Ipv4Addr, SocketAddrV4};

use pxelab_reference::driver::fs::DirRoot;
use pxelab_reference::tftp::{
    Accept, FileRoot, MemoryRoot, TftpEvent, TftpOutcome, TftpServer, TftpServerConfig,
    TftpSession, TransferSummary,
};
use pxelab_reference::wire::tftp::{ErrorCode, TftpPacket};
use pxelab_reference::{Datagram, Instant, Mac, Transmit};

const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 69);
const CLIENT: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 1234);
const CLIENT_MAC: Mac = Mac([0x52, 0x54, 0, 0, 0, 2]);

fn rrq(filename: &str, options: &[(&str, &str)]) -> Vec<u8> {
    TftpPacket::Rrq {
        filename: filename.into(),
        mode: "octet".into(),
        options: options
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    }
    .to_bytes()
}

fn accept(
    server: &mut TftpServer,
    root: &dyn FileRoot,
    from: SocketAddrV4,
    payload: &[u8],
) -> Accept {
    server.accept(
        Instant::ZERO,
        Datagram {
            src: from,
            dst: SERVER,
            src_mac: CLIENT_MAC,
            payload,
        },
        root,
    )
}

fn root() -> MemoryRoot {
    MemoryRoot::new()
        .with("boot/bcd", vec![7u8; 2000])
        .with("pxelinux.0", vec![1u8; 100])
}

fn error_of(a: Accept) -> (ErrorCode, Transmit) {
    match a {
        Accept::Reply(t) => match TftpPacket::parse(&t.payload) {
            Ok(TftpPacket::Error { code, .. }) => (code, t),
            other => panic!("expected an ERROR, got {other:?}"),
        },
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn session(a: Accept) -> TftpSession {
    match a {
        Accept::Session(s) => *s,
        other => panic!("expected a session, got {other:?}"),
    }
}

fn next_packet(s: &mut TftpSession) -> TftpPacket {
    let t = s.poll_transmit().expect("a transmit");
    assert_eq!(
        t.src,
        SocketAddrV4::new(*SERVER.ip(), 0),
        "from the session's own socket"
    );
    TftpPacket::parse(&t.payload).unwrap()
}

fn from_client(s: &mut TftpSession, now: Instant, p: TftpPacket) {
    let payload = p.to_bytes();
    s.handle_datagram(
        now,
        Datagram {
            src: CLIENT,
            dst: SERVER,
            src_mac: CLIENT_MAC,
            payload: &payload,
        },
    );
}

/// The session a well-formed RRQ from [`CLIENT`] opens.
fn open(
    server: &mut TftpServer,
    root: &dyn FileRoot,
    file: &str,
    options: &[(&str, &str)],
) -> TftpSession {
    session(accept(server, root, CLIENT, &rrq(file, options)))
}

/// The summary of a session that has just finished.
fn summary(s: &mut TftpSession) -> TransferSummary {
    match s.poll_event() {
        Some(TftpEvent::Finished(sum)) => sum,
        other => panic!("expected the session's summary, got {other:?}"),
    }
}

#[test]
fn oack_holds_only_what_the_client_asked_for() {
    let mut server = TftpServer::new(TftpServerConfig::default());
    let root = root();
    let mut s = open(&mut server, &root, "boot/bcd", &[("blksize", "1024")]);
    assert_eq!(
        next_packet(&mut s),
        TftpPacket::Oack {
            options: vec![("blksize".into(), "1024".into())]
        }
    );

    let opts = [
        ("TSize", "0"),
        ("multicast", ""),
        ("rollover", "0"),
        ("windowsize", "0"),
        ("utimeout", "5000"),
    ];
    let from = SocketAddrV4::new(*CLIENT.ip(), 1235);
    let mut s = session(accept(&mut server, &root, from, &rrq("boot/bcd", &opts)));
    assert_eq!(
        next_packet(&mut s),
        TftpPacket::Oack {
            options: vec![("TSize".into(), "2000".into())]
        }
    );

    // Nothing recognised: no OACK at all, DATA 1 straight away (RFC 1350).
    let from = SocketAddrV4::new(*CLIENT.ip(), 1236);
    let mut s = session(accept(
        &mut server,
        &root,
        from,
        &rrq("boot/bcd", &[("foo", "1")]),
    ));
    assert!(
        matches!(next_packet(&mut s), TftpPacket::Data { block: 1, ref data } if data.len() == 512)
    );
}

#[test]
fn paths_leaving_the_root_get_access_violation() {
    let mut server = TftpServer::new(TftpServerConfig::default());
    let root = root();
    for bad in [
        "../etc/passwd",
        "boot/../../etc/passwd",
        "..\\..\\x",
        "/etc/passwd",
        "\\boot\\bcd",
        "C:\\boot\\bcd",
    ] {
        let (code, t) = error_of(accept(&mut server, &root, CLIENT, &rrq(bad, &[])));
        assert_eq!(code, ErrorCode::AccessViolation, "{bad}");
        assert_eq!(
            (t.dst, t.src.port(), t.l2),
            (CLIENT, 0, pxelab_reference::L2Dest::Unicast(CLIENT_MAC))
        );
    }
    // Windows separators are fine.
    open(&mut server, &root, "boot\\bcd", &[]);
    let other = SocketAddrV4::new(*CLIENT.ip(), 999);
    let (code, _) = error_of(accept(&mut server, &root, other, &rrq("missing.efi", &[])));
    assert_eq!(code, ErrorCode::FileNotFound);
}

#[test]
fn writes_netascii_and_strays_are_refused() {
    let mut server = TftpServer::new(TftpServerConfig::default());
    let root = root();
    let wrq = TftpPacket::Wrq {
        filename: "pxelinux.0".into(),
        mode: "octet".into(),
        options: vec![],
    }
    .to_bytes();
    assert_eq!(
        error_of(accept(&mut server, &root, CLIENT, &wrq)).0,
        ErrorCode::AccessViolation
    );
    let netascii = TftpPacket::Rrq {
        filename: "pxelinux.0".into(),
        mode: "NetASCII".into(),
        options: vec![],
    }
    .to_bytes();
    let (code, t) = error_of(accept(&mut server, &root, CLIENT, &netascii));
    assert_eq!(code, ErrorCode::NotDefined);
    assert!(
        matches!(TftpPacket::parse(&t.payload), Ok(TftpPacket::Error { message, .. }) if message.contains("octet"))
    );
    let ack = TftpPacket::Ack { block: 3 }.to_bytes();
    assert_eq!(
        error_of(accept(&mut server, &root, CLIENT, &ack)).0,
        ErrorCode::UnknownTid
    );
    let err = TftpPacket::Error {
        code: ErrorCode::NotDefined,
        message: "x".into(),
    }
    .to_bytes();
    assert!(matches!(
        accept(&mut server, &root, CLIENT, &err),
        Accept::Ignore
    ));
    assert!(matches!(
        accept(&mut server, &root, CLIENT, b"\x00\x01no-nul"),
        Accept::Reply(_)
    ));
    assert!(matches!(
        accept(&mut server, &root, CLIENT, b"garbage"),
        Accept::Ignore
    ));
    assert_eq!(server.active_sessions(), 0);
}

#[test]
fn retransmitted_request_does_not_start_a_second_session() {
    let mut server = TftpServer::new(TftpServerConfig::default());
    let root = root();
    let mut s = open(&mut server, &root, "pxelinux.0", &[]);
    assert!(matches!(
        accept(&mut server, &root, CLIENT, &rrq("pxelinux.0", &[])),
        Accept::Ignore
    ));
    assert_eq!(server.active_sessions(), 1);
    next_packet(&mut s);
    from_client(&mut s, Instant::ZERO, TftpPacket::Ack { block: 1 });
    assert!(s.is_finished());
    // The slot is released when the session finishes, before it is dropped.
    assert_eq!(server.active_sessions(), 0);
    open(&mut server, &root, "pxelinux.0", &[]);
}

#[test]
fn unknown_tid_gets_error_5_without_disturbing_the_session() {
    let mut server = TftpServer::new(TftpServerConfig::default());
    let root = root();
    let mut s = open(&mut server, &root, "boot/bcd", &[]);
    assert!(matches!(
        next_packet(&mut s),
        TftpPacket::Data { block: 1, .. }
    ));
    let intruder = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 66), 1234);
    let ack = TftpPacket::Ack { block: 1 }.to_bytes();
    s.handle_datagram(
        Instant::ZERO,
        Datagram {
            src: intruder,
            dst: SERVER,
            src_mac: Mac::ZERO,
            payload: &ack,
        },
    );
    let t = s.poll_transmit().unwrap();
    assert_eq!(t.dst, intruder);
    assert!(matches!(
        TftpPacket::parse(&t.payload),
        Ok(TftpPacket::Error {
            code: ErrorCode::UnknownTid,
            ..
        })
    ));
    assert!(
        s.poll_transmit().is_none(),
        "the intruder's ACK moved nothing"
    );
    // Same client address, other port: also a stranger.
    let other_port = SocketAddrV4::new(*CLIENT.ip(), 4321);
    s.handle_datagram(
        Instant::ZERO,
        Datagram {
            src: other_port,
            dst: SERVER,
            src_mac: CLIENT_MAC,
            payload: &ack,
        },
    );
    assert_eq!(s.poll_transmit().unwrap().dst, other_port);
    from_client(&mut s, Instant::ZERO, TftpPacket::Ack { block: 1 });
    assert!(matches!(
        next_packet(&mut s),
        TftpPacket::Data { block: 2, .. }
    ));
    assert!(!s.is_finished());
}

#[test]
fn client_error_mid_transfer_ends_the_session_with_its_reason() {
    let mut server = TftpServer::new(TftpServerConfig::default());
    let root = root();
    let mut s = open(&mut server, &root, "boot/bcd", &[("tsize", "0")]);
    assert!(matches!(next_packet(&mut s), TftpPacket::Oack { .. }));
    from_client(&mut s, Instant::ZERO, TftpPacket::Ack { block: 0 });
    assert!(matches!(
        next_packet(&mut s),
        TftpPacket::Data { block: 1, .. }
    ));
    // ERROR 8 after data has flowed is not a size probe.
    from_client(
        &mut s,
        Instant::from_millis(5),
        TftpPacket::Error {
            code: ErrorCode::OptionRefused,
            message: "no".into(),
        },
    );
    assert!(s.is_finished());
    let sum = summary(&mut s);
    assert_eq!(
        sum.outcome,
        TftpOutcome::ClientError {
            code: ErrorCode::OptionRefused,
            message: "no".into()
        }
    );
    assert!(!sum.outcome.is_success());
    assert_eq!(sum.tsize, Some(2000));

    // ERROR 0 right after the OACK is the BIOS flavour of the size probe.
    let mut s = open(&mut server, &root, "boot/bcd", &[("tsize", "0")]);
    next_packet(&mut s);
    from_client(
        &mut s,
        Instant::ZERO,
        TftpPacket::Error {
            code: ErrorCode::NotDefined,
            message: "TFTP Aborted".into(),
        },
    );
    let sum = summary(&mut s);
    assert_eq!(sum.outcome, TftpOutcome::Probed);
}

#[test]
fn dir_root_refuses_symlink_escapes_with_error_2() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("shadow"), b"secret").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ipxe.efi"), vec![9u8; 700]).unwrap();
    std::os::unix::fs::symlink(outside.path().join("shadow"), dir.path().join("shadow")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("up")).unwrap();
    let root = DirRoot::new(dir.path()).unwrap();
    let mut server = TftpServer::new(TftpServerConfig::default());
    for bad in ["shadow", "up/shadow", "up\\shadow"] {
        assert_eq!(
            error_of(accept(&mut server, &root, CLIENT, &rrq(bad, &[]))).0,
            ErrorCode::AccessViolation,
            "{bad}"
        );
    }
    let mut s = open(&mut server, &root, "ipxe.efi", &[("tsize", "0")]);
    assert_eq!(next_packet(&mut s).option("tsize"), Some("700"));
    assert!(
        DirRoot::new(dir.path().join("ipxe.efi")).is_err(),
        "a file is not a root"
    );
}

fn data_blocks(s: &mut TftpSession) -> Vec<u16> {
    let mut out = Vec::new();
    while let Some(t) = s.poll_transmit() {
        match TftpPacket::parse(&t.payload).unwrap() {
            TftpPacket::Data { block, .. } => out.push(block),
            other => panic!("expected DATA, got {other:?}"),
        }
    }
    out
}

#[test]
fn window_advances_on_any_ack_inside_it_and_ignores_repeats() {
    let mut server = TftpServer::new(TftpServerConfig::default());
    let root = root();
    let opts = [("blksize", "100"), ("windowsize", "4")];
    let mut s = open(&mut server, &root, "boot/bcd", &opts);
    assert!(matches!(next_packet(&mut s), TftpPacket::Oack { .. }));
    from_client(&mut s, Instant::ZERO, TftpPacket::Ack { block: 0 });
    assert_eq!(data_blocks(&mut s), [1, 2, 3, 4]);
    // The client saw a gap after 2: the next window starts at 3.
    from_client(
        &mut s,
        Instant::from_millis(1),
        TftpPacket::Ack { block: 2 },
    );
    assert_eq!(data_blocks(&mut s), [3, 4, 5, 6]);
    // Repeats of that ACK, and ACKs of older blocks, send nothing.
    for block in [2, 1, 0, 2] {
        from_client(&mut s, Instant::from_millis(2), TftpPacket::Ack { block });
        assert_eq!(data_blocks(&mut s), [] as [u16; 0], "ACK {block}");
    }
    from_client(
        &mut s,
        Instant::from_millis(3),
        TftpPacket::Ack { block: 6 },
    );
    assert_eq!(data_blocks(&mut s), [7, 8, 9, 10]);
    // Timeout: the window is resent from the last ACK.
    s.handle_timeout(Instant::from_millis(3) + std::time::Duration::from_secs(1));
    assert_eq!(data_blocks(&mut s), [7, 8, 9, 10]);
    // An ACK for a block never sent is not progress.
    from_client(&mut s, Instant::from_secs(2), TftpPacket::Ack { block: 20 });
    assert_eq!(data_blocks(&mut s), [] as [u16; 0]);
    // 2000 bytes at 100: blocks 1..=20 full, 21 empty.
    for (ack, next) in [
        (10, vec![11, 12, 13, 14]),
        (14, vec![15, 16, 17, 18]),
        (18, vec![19, 20, 21]),
    ] {
        from_client(
            &mut s,
            Instant::from_secs(2),
            TftpPacket::Ack { block: ack },
        );
        assert_eq!(data_blocks(&mut s), next);
    }
    from_client(&mut s, Instant::from_secs(2), TftpPacket::Ack { block: 21 });
    let sum = summary(&mut s);
    assert_eq!(sum.outcome, TftpOutcome::Completed);
    assert_eq!((sum.bytes_sent, sum.retransmits), (2000, 2 + 4));
}

#[test]
fn idle_timeout_bounds_a_session_whatever_timeout_was_negotiated() {
    let config = TftpServerConfig {
        idle_timeout: std::time::Duration::from_secs(30),
        ..Default::default()
    };
    let mut server = TftpServer::new(config);
    let root = root();
    let mut s = open(&mut server, &root, "boot/bcd", &[("timeout", "255")]);
    assert_eq!(next_packet(&mut s).option("timeout"), Some("255"));
    assert_eq!(s.poll_timeout(), Some(Instant::from_secs(30)));
    s.handle_timeout(Instant::from_secs(30));
    assert!(s.is_finished());
    assert_eq!(server.active_sessions(), 0);
    let sum = summary(&mut s);
    assert_eq!(
        (sum.outcome, sum.duration),
        (TftpOutcome::TimedOut, std::time::Duration::from_secs(30))
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use pxelab_reference::tftp::TftpPath;

    fn any_packet() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            (
                0u16..8,
                any::<u16>(),
                prop::collection::vec(any::<u8>(), 0..40)
            )
                .prop_map(|(op, n, rest)| {
                    let mut v = op.to_be_bytes().to_vec();
                    v.extend_from_slice(&n.to_be_bytes());
                    v.extend_from_slice(&rest);
                    v
                }),
            (
                "[a-z./\\\\]{1,12}",
                prop::collection::vec(("[a-zA-Z]{1,10}", "[0-9]{0,8}"), 0..4)
            )
                .prop_map(|(f, o)| rrq(
                    &f,
                    &o.iter()
                        .map(|(a, b)| (a.as_str(), b.as_str()))
                        .collect::<Vec<_>>()
                )),
        ]
    }

    proptest! {
        /// Whatever reaches port 69 or a session's port, from the client or a
        /// stranger, at whatever time, nothing panics and a session stays bounded.
        #[test]
        fn machines_survive_arbitrary_input(
            first in any_packet(),
            rest in prop::collection::vec((any_packet(), any::<bool>(), 0u64..3000), 0..24),
        ) {
            let mut server = TftpServer::new(TftpServerConfig { max_blksize: 64, ..Default::default() });
            let root = root();
            let _ = accept(&mut server, &root, CLIENT, &first);
            let Accept::Session(mut s) = accept(&mut server, &root, CLIENT, &rrq("boot/bcd", &[("blksize", "16"), ("windowsize", "4")])) else {
                panic!("the RRQ must open a session");
            };
            let mut now = Instant::ZERO;
            for (payload, stranger, dt) in rest {
                now += std::time::Duration::from_millis(dt);
                let src = if stranger { SocketAddrV4::new(*CLIENT.ip(), 9) } else { CLIENT };
                s.handle_datagram(now, Datagram { src, dst: SERVER, src_mac: Mac::ZERO, payload: &payload });
                s.handle_timeout(now);
                let mut sent = 0;
                while let Some(t) = s.poll_transmit() {
                    match TftpPacket::parse(&t.payload) {
                        Ok(TftpPacket::Data { data, .. }) => prop_assert!(data.len() <= 16, "DATA beyond blksize"),
                        Ok(_) => {}
                        Err(e) => prop_assert!(false, "the session emitted an unparseable packet: {e}"),
                    }
                    sent += 1;
                    prop_assert!(sent <= 8, "more than a window plus an error per input");
                }
                while s.poll_event().is_some() {}
            }
        }

        /// The OACK names only options the client sent, each once.
        #[test]
        fn oack_is_a_subset_of_the_request(
            opts in prop::collection::vec(
                (prop::sample::select(vec!["blksize", "BlkSize", "tsize", "timeout", "windowsize", "x", "rollover"]),
                 "[0-9]{0,6}|[a-z]{1,3}"),
                0..8,
            ),
        ) {
            let mut server = TftpServer::new(TftpServerConfig::default());
            let root = root();
            let o: Vec<(&str, &str)> = opts.iter().map(|(a, b)| (*a, b.as_str())).collect();
            let mut s = open(&mut server, &root, "boot/bcd", &o);
            if let TftpPacket::Oack { options } = next_packet(&mut s) {
                prop_assert!(!options.is_empty());
                for (i, (name, _)) in options.iter().enumerate() {
                    prop_assert!(o.iter().any(|(n, _)| n == name), "{name} not requested");
                    prop_assert!(!options[..i].iter().any(|(n, _)| n.eq_ignore_ascii_case(name)), "{name} twice");
                }
            }
        }

        /// Whatever a client asks for, a parsed path has only plain components.
        #[test]
        fn parsed_paths_stay_inside(name in "[a-zA-Z.:/\\\\\\x00]{0,24}") {
            if let Ok(p) = TftpPath::parse(&name) {
                for c in p.components() {
                    prop_assert!(!c.is_empty() && c != "." && c != "..");
                    prop_assert!(!c.contains(['/', '\\', '\0']));
                }
                prop_assert!(!name.starts_with(['/', '\\']));
            }
        }
    }
}
