//! A conversation of arbitrary datagrams with the TFTP server: requests to the
//! port-69 endpoint (`TftpServer::accept`), and whatever follows to the sessions
//! it starts, with the clock advancing between them.
//!
//! Input: one configuration byte, then records (see `crate::records`).
//! Configuration bits: 0-1 rollover policy (to zero, to one, refuse), 2 a single
//! session allowed, 3 `max_blksize` 512, 4 one retry only. Record `ctl` bits:
//! 0-1 to port 69 (0) or to a session (1-3), 2-3 which session, 4-5 the sender
//! (two clients, a client on a stray port, an address-less host), 6 the request
//! sent to broadcast rather than to the server.
//!
//! Checks, beyond "never panics": every transmitted payload is a TFTP packet the
//! strict parser accepts, the endpoint only answers with ERROR, a session only
//! sends DATA, OACK or ERROR, and no session asks to be woken at or before `now`
//! forever.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::OnceLock;
use std::time::Duration;

use crate::{MAX_TIMEOUT_ROUNDS, records, tick_delay};
use pxelab_reference::tftp::{
    Accept, MemoryRoot, Rollover, TftpServer, TftpServerConfig, TftpSession,
};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::tftp::TftpPacket;
use pxelab_reference::{Datagram, Instant, Mac, Transmit};

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 1);
/// At most this many sessions are kept; older ones are dropped, as a driver
/// under pressure might.
const MAX_LIVE: usize = 4;

/// Files of the sizes that matter: empty (one empty DATA), one block less one
/// byte, exactly two 512-byte blocks (a final empty block), a path with a
/// directory, and one too long for 65535 blocks of 8 bytes (the rollover
/// policy).
fn root() -> &'static MemoryRoot {
    static ROOT: OnceLock<MemoryRoot> = OnceLock::new();
    ROOT.get_or_init(|| {
        let pattern = |n: usize| -> Vec<u8> { (0..n).map(|i| (i % 251) as u8).collect() };
        MemoryRoot::new()
            .with("empty", Vec::new())
            .with("pxelinux.0", pattern(511))
            .with("undionly.kpxe", pattern(1024))
            .with("boot/bcd", pattern(3000))
            .with("big", pattern(65_536 * 8 + 1))
    })
}

fn server(cfg: u8) -> TftpServer {
    let mut c = TftpServerConfig {
        rollover: match cfg & 3 {
            0 => Rollover::ToZero,
            1 => Rollover::ToOne,
            _ => Rollover::Refuse,
        },
        ..TftpServerConfig::default()
    };
    if cfg & 4 != 0 {
        c.max_sessions = 1;
    }
    if cfg & 8 != 0 {
        c.max_blksize = 512;
    }
    if cfg & 16 != 0 {
        c.max_retries = 1;
    }
    TftpServer::new(c)
}

fn sender(ctl: u8) -> (SocketAddrV4, Mac) {
    match (ctl >> 4) & 3 {
        0 => (
            SocketAddrV4::new(Ipv4Addr::new(192, 168, 50, 100), 2000),
            Mac([0x52, 0x54, 0, 0, 0, 1]),
        ),
        1 => (
            SocketAddrV4::new(Ipv4Addr::new(192, 168, 50, 101), 3000),
            Mac([0x52, 0x54, 0, 0, 0, 2]),
        ),
        // The first client, from another port: a stray TID (RFC 1350 §4).
        2 => (
            SocketAddrV4::new(Ipv4Addr::new(192, 168, 50, 100), 2001),
            Mac([0x52, 0x54, 0, 0, 0, 1]),
        ),
        _ => (SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68), Mac::ZERO),
    }
}

fn check(t: &Transmit, from_endpoint: bool) {
    let packet = match TftpPacket::parse_with(&t.payload, ParseMode::Strict) {
        Ok(p) => p,
        Err(e) => panic!("the server sent a packet strict mode rejects: {e}\n{t:?}"),
    };
    let ok = if from_endpoint {
        matches!(packet, TftpPacket::Error { .. })
    } else {
        matches!(
            packet,
            TftpPacket::Data { .. } | TftpPacket::Oack { .. } | TftpPacket::Error { .. }
        )
    };
    assert!(ok, "unexpected packet from the server: {packet:?}");
}

fn drain(s: &mut TftpSession) {
    while let Some(t) = s.poll_transmit() {
        check(&t, false);
    }
    while let Some(e) = s.poll_event() {
        let _ = format!("{e:?}");
    }
}

fn run_timeouts(s: &mut TftpSession, now: Instant) {
    for _ in 0..MAX_TIMEOUT_ROUNDS {
        match s.poll_timeout() {
            Some(at) if at <= now => {
                s.handle_timeout(now);
                drain(s);
            }
            _ => return,
        }
    }
    panic!("session still wants a wake-up at or before {now} after {MAX_TIMEOUT_ROUNDS} rounds");
}

/// The `tftp_session` target's body, shared by the libFuzzer binary and the smoke runner.
pub fn tftp_session(data: &[u8]) {
    let Some((&cfg, data)) = data.split_first() else {
        return;
    };
    let mut endpoint = server(cfg);
    let mut sessions: Vec<Box<TftpSession>> = Vec::new();
    let mut now = Instant::from_secs(1);

    for r in records(data) {
        now += tick_delay(r.tick);
        for s in sessions.iter_mut() {
            run_timeouts(s, now);
        }
        let (src, src_mac) = sender(r.ctl);
        let to_endpoint = r.ctl & 3 == 0 || sessions.is_empty();
        let dst_ip = if r.ctl & 0x40 != 0 {
            Ipv4Addr::BROADCAST
        } else {
            SERVER
        };
        let dgram = Datagram {
            src,
            dst: SocketAddrV4::new(dst_ip, if to_endpoint { 69 } else { 40_000 }),
            src_mac,
            payload: r.payload,
        };
        if to_endpoint {
            match endpoint.accept(now, dgram, root()) {
                Accept::Session(mut s) => {
                    let _ = (s.client(), s.filename(), s.negotiated(), format!("{s:?}"));
                    drain(&mut s);
                    if sessions.len() == MAX_LIVE {
                        sessions.remove(0);
                    }
                    sessions.push(s);
                }
                Accept::Reply(t) => check(&t, true),
                Accept::Ignore => {}
            }
        } else {
            let i = usize::from(r.ctl >> 2 & 3) % sessions.len();
            let s = &mut sessions[i];
            s.handle_datagram(now, dgram);
            drain(s);
            run_timeouts(s, now);
        }
        sessions.retain(|s| !s.is_finished());
        assert!(endpoint.active_sessions() <= sessions.len());
    }

    // Every session ends by itself once its client goes quiet.
    now += Duration::from_secs(3600);
    for s in sessions.iter_mut() {
        run_timeouts(s, now);
        assert!(
            s.is_finished(),
            "a session outlived an hour of silence: {s:?}"
        );
    }
}
