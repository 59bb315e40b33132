//! Server sessions against the client machine, in memory: a tiny deterministic
//! loop with a virtual clock, no sockets, no sleeps.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pxelab_reference::tftp::{
    Accept, ClientEvent, ClientOptions, MemoryRoot, Rollover, TftpClient, TftpEvent, TftpOutcome,
    TftpServer, TftpServerConfig, TftpSession, TransferSummary,
};
use pxelab_reference::wire::tftp::{ErrorCode, TftpPacket};
use pxelab_reference::{Datagram, Instant, Mac, Transmit};

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: SocketAddrV4 = SocketAddrV4::new(SERVER_IP, 69);

fn client_addr(n: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 10 + n), 2000 + n as u16)
}

/// Deterministic pseudo-random contents.
fn contents(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

/// What the network does to the packet with this index (counted over every
/// datagram sent, in order).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Deliver,
    Drop,
    Duplicate,
}

type Policy = Box<dyn FnMut(usize, &Transmit, &TftpPacket) -> Fate>;

/// A network that delivers twice every packet `twice` matches.
fn duplicating(twice: impl Fn(&TftpPacket) -> bool + 'static) -> Policy {
    Box::new(move |_, _, p| {
        if twice(p) {
            Fate::Duplicate
        } else {
            Fate::Deliver
        }
    })
}

/// A network that loses the first packet `lose` matches, and only that one.
fn losing_first(lose: impl Fn(&TftpPacket) -> bool + 'static) -> Policy {
    let mut lost = false;
    Box::new(move |_, _, p| {
        if !lost && lose(p) {
            lost = true;
            Fate::Drop
        } else {
            Fate::Deliver
        }
    })
}

struct Lab {
    now: Instant,
    server: TftpServer,
    root: MemoryRoot,
    sessions: Vec<(u16, Box<TftpSession>)>,
    next_port: u16,
    clients: Vec<TftpClient>,
    in_flight: VecDeque<Transmit>,
    /// Every datagram sent: (src, dst, packet).
    sent: Vec<(SocketAddrV4, SocketAddrV4, TftpPacket)>,
    policy: Policy,
    server_events: Vec<TransferSummary>,
    client_events: Vec<(usize, ClientEvent)>,
    replies: Vec<TftpPacket>,
}

impl Lab {
    fn new(config: TftpServerConfig, root: MemoryRoot) -> Self {
        Lab {
            now: Instant::ZERO,
            server: TftpServer::new(config),
            root,
            sessions: Vec::new(),
            next_port: 40000,
            clients: Vec::new(),
            in_flight: VecDeque::new(),
            sent: Vec::new(),
            policy: Box::new(|_, _, _| Fate::Deliver),
            server_events: Vec::new(),
            client_events: Vec::new(),
            replies: Vec::new(),
        }
    }

    fn add_client(&mut self, file: &str, opts: ClientOptions) {
        let n = self.clients.len() as u8;
        self.clients.push(TftpClient::new(
            self.now,
            SERVER,
            client_addr(n),
            file,
            opts,
        ));
    }

    fn deliver(&mut self, t: &Transmit) {
        let dgram = Datagram {
            src: t.src,
            dst: t.dst,
            src_mac: Mac::ZERO,
            payload: &t.payload,
        };
        if let Some(c) = self.clients.iter_mut().find(|c| c.local() == t.dst) {
            c.handle_datagram(self.now, dgram);
        } else if t.dst == SERVER {
            match self.server.accept(self.now, dgram, &self.root) {
                Accept::Session(s) => {
                    self.sessions.push((self.next_port, s));
                    self.next_port += 1;
                }
                Accept::Reply(mut r) => {
                    assert_eq!(r.src.port(), 0);
                    r.src = SocketAddrV4::new(SERVER_IP, self.next_port);
                    self.next_port += 1;
                    self.replies.push(TftpPacket::parse(&r.payload).unwrap());
                    self.in_flight.push_back(r);
                }
                Accept::Ignore => {}
            }
        } else if let Some((_, s)) = self.sessions.iter_mut().find(|(p, _)| *p == t.dst.port()) {
            s.handle_datagram(self.now, dgram);
        }
        // Anything else reached a closed port and is lost.
    }

    fn pump(&mut self) {
        loop {
            for c in &mut self.clients {
                while let Some(t) = c.poll_transmit() {
                    self.in_flight.push_back(t);
                }
            }
            for (port, s) in &mut self.sessions {
                while let Some(mut t) = s.poll_transmit() {
                    assert_eq!(t.src.port(), 0, "session transmits use port 0 = own socket");
                    t.src = SocketAddrV4::new(SERVER_IP, *port);
                    self.in_flight.push_back(t);
                }
            }
            let Some(t) = self.in_flight.pop_front() else {
                break;
            };
            let packet = TftpPacket::parse(&t.payload).expect("machines emit valid TFTP");
            let idx = self.sent.len();
            self.sent.push((t.src, t.dst, packet.clone()));
            match (self.policy)(idx, &t, &packet) {
                Fate::Drop => {}
                Fate::Deliver => self.deliver(&t),
                Fate::Duplicate => {
                    self.deliver(&t);
                    self.deliver(&t);
                }
            }
        }
        for (_, s) in &mut self.sessions {
            while let Some(TftpEvent::Finished(sum)) = s.poll_event() {
                self.server_events.push(sum);
            }
        }
        for (i, c) in self.clients.iter_mut().enumerate() {
            while let Some(e) = c.poll_event() {
                self.client_events.push((i, e));
            }
        }
        self.sessions.retain(|(_, s)| !s.is_finished());
    }

    /// Runs until every machine is finished (virtual time, bounded).
    fn run(&mut self) {
        loop {
            self.pump();
            let next = self
                .clients
                .iter()
                .filter_map(TftpClient::poll_timeout)
                .chain(self.sessions.iter().filter_map(|(_, s)| s.poll_timeout()))
                .min();
            let Some(next) = next else { break };
            assert!(
                next < Instant::from_secs(600),
                "transfer did not end within 600 virtual seconds"
            );
            self.now = self.now.max(next);
            for c in &mut self.clients {
                c.handle_timeout(self.now);
            }
            for (_, s) in &mut self.sessions {
                s.handle_timeout(self.now);
            }
        }
        assert!(self.clients.iter().all(TftpClient::is_finished));
        assert!(self.sessions.is_empty());
        assert_eq!(self.server.active_sessions(), 0);
    }

    fn data_sent(&self) -> usize {
        self.sent
            .iter()
            .filter(|(_, _, p)| matches!(p, TftpPacket::Data { .. }))
            .count()
    }

    fn completed(&self, i: usize) -> &ClientEvent {
        let (_, e) = self
            .client_events
            .iter()
            .find(|(c, _)| *c == i)
            .expect("client event");
        assert!(
            matches!(e, ClientEvent::Completed { .. }),
            "client {i}: {e:?}"
        );
        e
    }
}

fn lab_with(file: &[u8]) -> Lab {
    Lab::new(
        TftpServerConfig::default(),
        MemoryRoot::new().with("boot/pxe.0", file.to_vec()),
    )
}

fn blocks(len: usize, blksize: usize) -> usize {
    len / blksize + 1
}

#[test]
fn plain_transfer_is_byte_for_byte() {
    for len in [0, 1, 511, 512, 513, 1024, 100_000] {
        let file = contents(len);
        let mut lab = lab_with(&file);
        lab.add_client("boot\\pxe.0", ClientOptions::default());
        lab.run();
        assert_eq!(lab.clients[0].data(), &file[..], "len {len}");
        assert_eq!(
            lab.data_sent(),
            blocks(len, 512),
            "len {len}: one DATA per block"
        );
        let s = &lab.server_events[0];
        assert_eq!(s.outcome, TftpOutcome::Completed);
        assert_eq!(
            (
                s.blksize,
                s.windowsize,
                s.tsize,
                s.bytes_sent,
                s.retransmits
            ),
            (512, 1, None, len as u64, 0)
        );
        assert_eq!(s.filename, "boot\\pxe.0");
        assert_eq!(s.client, client_addr(0));
        assert_eq!(
            s.to_string(),
            format!(
                "10.0.0.10:2000 \"boot\\\\pxe.0\" blksize=512 windowsize=1: {len}/{len} bytes in 0.000s, 0 retransmits, completed"
            )
        );
        let ClientEvent::Completed { bytes, .. } = lab.completed(0) else {
            unreachable!()
        };
        assert_eq!(*bytes, len as u64);
    }
}

#[test]
fn blksize_and_windowsize_combinations() {
    let file = contents(50_000);
    for blksize in [None, Some(8), Some(1024), Some(1468), Some(9000)] {
        for windowsize in [None, Some(1), Some(4), Some(16), Some(200)] {
            let mut lab = lab_with(&file);
            lab.add_client(
                "boot/pxe.0",
                ClientOptions {
                    blksize,
                    windowsize,
                    tsize: true,
                    ..Default::default()
                },
            );
            lab.run();
            let tag = format!("blksize {blksize:?} windowsize {windowsize:?}");
            assert_eq!(lab.clients[0].data(), &file[..], "{tag}");
            let s = &lab.server_events[0];
            let want_blk = blksize.map_or(512, |b| b.min(1468));
            let want_win = windowsize.map_or(1, |w| w.min(64));
            assert_eq!(
                (s.blksize, s.windowsize, s.tsize),
                (want_blk, want_win, Some(50_000)),
                "{tag}"
            );
            assert_eq!(s.retransmits, 0, "{tag}");
            assert_eq!(
                lab.data_sent(),
                blocks(file.len(), want_blk as usize),
                "{tag}"
            );
            let acks = lab
                .sent
                .iter()
                .filter(|(_, _, p)| matches!(p, TftpPacket::Ack { .. }))
                .count();
            let data_blocks = blocks(file.len(), want_blk as usize);
            // ACK 0 for the OACK, one per full window, one for the last block.
            assert_eq!(acks, 1 + data_blocks.div_ceil(want_win as usize), "{tag}");
        }
    }
}

#[test]
fn a_client_that_keeps_no_data_still_counts_every_byte() {
    let file = contents(50_000);
    let mut lab = lab_with(&file);
    lab.add_client(
        "boot/pxe.0",
        ClientOptions {
            blksize: Some(1468),
            keep_data: false,
            ..Default::default()
        },
    );
    lab.run();
    assert!(lab.clients[0].data().is_empty(), "nothing kept");
    assert_eq!(lab.clients[0].received(), file.len() as u64);
    assert_eq!(lab.server_events[0].outcome, TftpOutcome::Completed);
    assert!(
        matches!(lab.client_events[0].1, ClientEvent::Completed { bytes, .. } if bytes == file.len() as u64),
        "{:?}",
        lab.client_events
    );
}

#[test]
fn tsize_probe_then_abort_then_success() {
    let file = contents(20_000);
    let mut lab = lab_with(&file);
    lab.add_client(
        "boot/pxe.0",
        ClientOptions {
            blksize: Some(1468),
            probe_then_abort: true,
            ..Default::default()
        },
    );
    lab.run();
    assert_eq!(lab.clients[0].data(), &file[..]);
    assert_eq!(lab.server_events.len(), 2);
    assert_eq!(lab.server_events[0].outcome, TftpOutcome::Probed);
    assert!(lab.server_events[0].outcome.is_success());
    assert_eq!(lab.server_events[0].tsize, Some(20_000));
    assert_eq!(lab.server_events[1].outcome, TftpOutcome::Completed);
    assert_eq!(lab.server_events[1].tsize, None);
    let ClientEvent::Completed { tsize, blksize, .. } = lab.completed(0) else {
        unreachable!()
    };
    assert_eq!((*tsize, *blksize), (Some(20_000), 1468));
    // The wire story: RRQ(tsize) → OACK → ERROR 8 → RRQ(no tsize) → OACK → ...
    let kinds: Vec<_> = lab.sent.iter().take(5).map(|(_, _, p)| p.clone()).collect();
    assert!(matches!(&kinds[0], TftpPacket::Rrq { .. } if kinds[0].option("tsize") == Some("0")));
    assert!(
        matches!(&kinds[1], TftpPacket::Oack { .. } if kinds[1].option("tsize") == Some("20000"))
    );
    assert!(matches!(
        &kinds[2],
        TftpPacket::Error {
            code: ErrorCode::OptionRefused,
            ..
        }
    ));
    assert!(matches!(&kinds[3], TftpPacket::Rrq { .. } if kinds[3].option("tsize").is_none()));
    assert!(matches!(&kinds[4], TftpPacket::Oack { .. } if kinds[4].option("tsize").is_none()));
}

#[test]
fn any_single_lost_packet_is_recovered_by_retransmission() {
    let file = contents(5 * 512 + 100);
    for windowsize in [None, Some(3)] {
        // Count the packets of a clean run, then lose each one in turn.
        let opts = ClientOptions {
            windowsize,
            tsize: true,
            ..Default::default()
        };
        let mut clean = lab_with(&file);
        clean.add_client("boot/pxe.0", opts.clone());
        clean.run();
        for lost in 0..clean.sent.len() {
            let mut lab = lab_with(&file);
            lab.policy =
                Box::new(move |i, _, _| if i == lost { Fate::Drop } else { Fate::Deliver });
            lab.add_client("boot/pxe.0", opts.clone());
            lab.run();
            let tag = format!(
                "windowsize {windowsize:?}, lost packet {lost}: {:?}",
                clean.sent[lost].2
            );
            assert_eq!(lab.clients[0].data(), &file[..], "{tag}");
            lab.completed(0);
            let s = lab.server_events.last().unwrap();
            assert_eq!(s.outcome, TftpOutcome::Completed, "{tag}");
            let was_server_packet = clean.sent[lost].0.ip() == &SERVER_IP;
            if was_server_packet || matches!(clean.sent[lost].2, TftpPacket::Ack { .. }) {
                assert!(s.retransmits >= 1, "{tag}");
            }
        }
    }
}

#[test]
fn duplicate_acks_never_trigger_extra_data() {
    let file = contents(20 * 512 + 7);
    let n = blocks(file.len(), 512);
    // Every ACK arrives twice.
    let mut lab = lab_with(&file);
    lab.policy = duplicating(|p| matches!(p, TftpPacket::Ack { .. }));
    lab.add_client("boot/pxe.0", ClientOptions::default());
    lab.run();
    assert_eq!(lab.clients[0].data(), &file[..]);
    assert_eq!(lab.data_sent(), n);
    assert_eq!(lab.server_events[0].retransmits, 0);

    // The Sorcerer's Apprentice set-up: DATA 5 arrives twice, so the client ACKs
    // block 5 twice; the server must send DATA 6 once.
    let mut lab = lab_with(&file);
    lab.policy = duplicating(|p| matches!(p, TftpPacket::Data { block: 5, .. }));
    lab.add_client("boot/pxe.0", ClientOptions::default());
    lab.run();
    assert_eq!(lab.clients[0].data(), &file[..]);
    let acks5 = lab
        .sent
        .iter()
        .filter(|(_, _, p)| matches!(p, TftpPacket::Ack { block: 5 }))
        .count();
    assert_eq!(acks5, 2);
    assert_eq!(lab.data_sent(), n);

    // DATA 5 lost: exactly one timeout retransmission, even though the client's
    // own timeout repeats ACK 4 (a duplicate) at the same time.
    let mut lab = lab_with(&file);
    let mut lost = false;
    lab.policy = Box::new(move |_, _, p| {
        if !lost && matches!(p, TftpPacket::Data { block: 5, .. }) {
            lost = true;
            Fate::Drop
        } else if matches!(p, TftpPacket::Ack { .. }) {
            Fate::Duplicate
        } else {
            Fate::Deliver
        }
    });
    lab.add_client("boot/pxe.0", ClientOptions::default());
    lab.run();
    assert_eq!(lab.clients[0].data(), &file[..]);
    assert_eq!(lab.data_sent(), n + 1);
    assert_eq!(lab.server_events[0].retransmits, 1);
}

#[test]
fn block_numbers_roll_over_past_65535() {
    let file = contents(65536 * 8 + 3);
    for rollover in [Rollover::ToZero, Rollover::ToOne] {
        let config = TftpServerConfig {
            rollover,
            ..Default::default()
        };
        let mut lab = Lab::new(config, MemoryRoot::new().with("big", file.clone()));
        lab.add_client(
            "big",
            ClientOptions {
                blksize: Some(8),
                windowsize: Some(32),
                rollover,
                ..Default::default()
            },
        );
        lab.run();
        assert_eq!(
            lab.client_events.len(),
            1,
            "{rollover:?} {:?}",
            lab.client_events
        );
        assert_eq!(lab.clients[0].data().len(), file.len(), "{rollover:?}");
        assert!(lab.clients[0].data() == &file[..], "{rollover:?}");
        assert_eq!(lab.server_events[0].outcome, TftpOutcome::Completed);
        let after_wrap = lab
            .sent
            .iter()
            .filter_map(|(_, _, p)| match p {
                TftpPacket::Data { block, .. } => Some(*block),
                _ => None,
            })
            .nth(65535)
            .unwrap();
        assert_eq!(
            after_wrap,
            if rollover == Rollover::ToZero { 0 } else { 1 },
            "{rollover:?}"
        );
    }
}

#[test]
fn rollover_refused_when_configured() {
    let file = contents(65535 * 8);
    let config = TftpServerConfig {
        rollover: Rollover::Refuse,
        ..Default::default()
    };
    let mut lab = Lab::new(config, MemoryRoot::new().with("big", file));
    lab.add_client(
        "big",
        ClientOptions {
            blksize: Some(8),
            ..Default::default()
        },
    );
    lab.run();
    assert!(matches!(
        lab.replies[..],
        [TftpPacket::Error {
            code: ErrorCode::DiskFull,
            ..
        }]
    ));
    assert!(matches!(lab.client_events[0].1, ClientEvent::Failed { .. }));
}

#[test]
fn many_concurrent_sessions_and_the_session_limit() {
    let file = contents(3000);
    let config = TftpServerConfig {
        max_sessions: 3,
        ..Default::default()
    };
    let mut lab = Lab::new(config, MemoryRoot::new().with("f", file.clone()));
    for _ in 0..5 {
        lab.add_client("f", ClientOptions::default());
    }
    lab.pump();
    // Three were served at once; the other two RRQs were dropped.
    assert_eq!(lab.server_events.len(), 3);
    assert_eq!(
        lab.clients.iter().filter(|c| c.data().is_empty()).count(),
        2
    );
    lab.run();
    // The two over the limit were dropped, retransmitted their RRQ after their
    // timeout, and were served then.
    for i in 0..5 {
        assert_eq!(lab.clients[i].data(), &file[..], "client {i}");
    }
    assert_eq!(lab.server_events.len(), 5);
}

#[test]
fn server_gives_up_after_bounded_retries() {
    let file = contents(2000);
    let mut lab = lab_with(&file);
    // The client vanishes after its RRQ.
    lab.policy = Box::new(|_, t, _| {
        if t.src.ip() == &SERVER_IP {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    lab.add_client(
        "boot/pxe.0",
        ClientOptions {
            max_retries: 0,
            ..Default::default()
        },
    );
    lab.run();
    let s = &lab.server_events[0];
    assert_eq!(s.outcome, TftpOutcome::TimedOut);
    assert_eq!(s.retransmits, 5);
    assert_eq!(
        lab.data_sent(),
        6,
        "DATA 1 and max_retries (5) retransmissions"
    );
    assert!(matches!(lab.client_events[0].1, ClientEvent::Failed { .. }));
}

#[test]
fn client_answers_stray_tid_with_error_5_and_carries_on() {
    let file = contents(3000);
    let mut lab = lab_with(&file);
    lab.add_client("boot/pxe.0", ClientOptions::default());
    lab.pump();
    // A packet from another port of the server while the transfer runs.
    let stray = SocketAddrV4::new(SERVER_IP, 5555);
    let payload = TftpPacket::Data {
        block: 2,
        data: vec![0; 512],
    }
    .to_bytes();
    let dgram = Datagram {
        src: stray,
        dst: client_addr(0),
        src_mac: Mac::ZERO,
        payload: &payload,
    };
    lab.clients[0].handle_datagram(lab.now, dgram);
    let t = lab.clients[0].poll_transmit().unwrap();
    assert_eq!(t.dst, stray);
    assert!(matches!(
        TftpPacket::parse(&t.payload),
        Ok(TftpPacket::Error {
            code: ErrorCode::UnknownTid,
            ..
        })
    ));
    lab.run();
    assert_eq!(lab.clients[0].data(), &file[..]);
}

#[test]
fn timeout_option_is_echoed_and_used() {
    let file = contents(2000);
    let mut lab = lab_with(&file);
    lab.policy = losing_first(|p| matches!(p, TftpPacket::Data { block: 2, .. }));
    lab.add_client(
        "boot/pxe.0",
        ClientOptions {
            timeout: Some(3),
            ..Default::default()
        },
    );
    lab.run();
    assert_eq!(lab.clients[0].data(), &file[..]);
    let oack = lab
        .sent
        .iter()
        .find(|(_, _, p)| matches!(p, TftpPacket::Oack { .. }))
        .unwrap();
    assert_eq!(
        oack.2.options(),
        &[("timeout".to_string(), "3".to_string())]
    );
    // The retransmission came 3 s after DATA 2, not the 1 s default.
    assert!(lab.server_events[0].duration >= Duration::from_secs(3));
}
