//! The simulated segment delivers, delays and drops frames as an Ethernet
//! segment with IPv4 hosts would.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pxelab_reference::{Instant, L2Dest, Mac, Transmit};
use pxelab_simulator::engine::{Queue, stream};
use pxelab_simulator::net::{Arrival, LinkParams, NetEvent, Network, PortId, SegmentId};

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn mac(n: u8) -> Mac {
    Mac([0x52, 0x54, 0, 0, 0, n])
}

/// A network plus the queue that drives it, and everything that arrived.
struct Lab {
    net: Network,
    queue: Queue<NetEvent>,
    seg: SegmentId,
}

impl Lab {
    fn new(seed: u64) -> Self {
        let mut net = Network::new(stream(seed, "net", 0));
        let seg = net.add_segment("lab");
        Lab {
            net,
            queue: Queue::new(),
            seg,
        }
    }

    fn port(&mut self, n: u8, ip: Option<Ipv4Addr>, link: LinkParams) -> PortId {
        self.net.attach(self.seg, mac(n), ip, link)
    }

    fn send(&mut self, now: Instant, from: PortId, t: Transmit) {
        self.net.send(now, from, t, &mut self.queue);
    }

    /// Runs every scheduled event up to `until`; returns what machines saw.
    fn run_until(&mut self, until: Instant) -> Vec<(Instant, Arrival)> {
        let mut seen = Vec::new();
        while self.queue.peek_time().is_some_and(|t| t <= until) {
            let Some((at, ev)) = self.queue.pop() else {
                break;
            };
            if let Some(a) = self.net.handle(at, ev, &mut self.queue) {
                seen.push((at, a));
            }
        }
        seen
    }

    fn run(&mut self) -> Vec<(Instant, Arrival)> {
        self.run_until(Instant::from_secs(3600))
    }
}

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

fn broadcast(src_port: u16, dst_port: u16, payload: Vec<u8>) -> Transmit {
    Transmit {
        src: sa(Ipv4Addr::UNSPECIFIED, src_port),
        dst: sa(Ipv4Addr::BROADCAST, dst_port),
        l2: L2Dest::Broadcast,
        payload,
    }
}

fn receivers(seen: &[(Instant, Arrival)]) -> Vec<PortId> {
    seen.iter()
        .filter_map(|(_, a)| match a {
            Arrival::Datagram { to, .. } => Some(*to),
            Arrival::Unreachable { .. } => None,
        })
        .collect()
}

/// A BOOTREPLY for the client with `chaddr` (just the fields the network reads).
fn bootp_reply(chaddr: Mac) -> Vec<u8> {
    let mut p = vec![0u8; 300];
    p[0] = 2;
    p[1] = 1;
    p[2] = 6;
    p[28..34].copy_from_slice(&chaddr.0);
    p
}

#[test]
fn broadcast_reaches_the_other_listeners_only() {
    let mut lab = Lab::new(1);
    let client = lab.port(1, None, LinkParams::default());
    let server_a = lab.port(2, Some(SERVER_IP), LinkParams::default());
    let server_b = lab.port(3, Some(Ipv4Addr::new(10, 0, 0, 2)), LinkParams::default());
    let deaf = lab.port(4, Some(Ipv4Addr::new(10, 0, 0, 3)), LinkParams::default());
    lab.net.listen(client, 67); // the sender itself never hears its broadcast
    lab.net.listen(server_a, 67);
    lab.net.listen(server_b, 67);
    lab.net.listen(deaf, 69);
    lab.send(Instant::ZERO, client, broadcast(68, 67, vec![1; 300]));
    let seen = lab.run();
    assert_eq!(receivers(&seen), [server_a, server_b]);
    let Arrival::Datagram {
        src, dst, src_mac, ..
    } = &seen[0].1
    else {
        panic!("{seen:?}")
    };
    assert_eq!(*src, sa(Ipv4Addr::UNSPECIFIED, 68));
    assert_eq!(*dst, sa(Ipv4Addr::BROADCAST, 67));
    assert_eq!(*src_mac, mac(1));

    lab.net.unlisten(server_a, 67);
    lab.send(
        Instant::from_secs(1),
        client,
        broadcast(68, 67, vec![1; 300]),
    );
    assert_eq!(receivers(&lab.run()), [server_b]);
}

#[test]
fn a_broadcast_bootp_reply_reaches_only_its_chaddr() {
    let mut lab = Lab::new(1);
    let server = lab.port(1, Some(SERVER_IP), LinkParams::default());
    let clients: Vec<PortId> = (10..20)
        .map(|n| lab.port(n, None, LinkParams::default()))
        .collect();
    for &c in &clients {
        lab.net.listen(c, 68);
    }
    lab.send(
        Instant::ZERO,
        server,
        broadcast(67, 68, bootp_reply(mac(13))),
    );
    assert_eq!(receivers(&lab.run()), [clients[3]]);

    // Anything else broadcast to 68 is a real broadcast.
    let mut request = bootp_reply(mac(13));
    request[0] = 1;
    lab.send(Instant::from_secs(1), server, broadcast(67, 68, request));
    assert_eq!(receivers(&lab.run()), clients);
    // One frame each on the wire: the shortcut does not hide the broadcast.
    assert_eq!(lab.net.stats().frames, 2);
}

#[test]
fn unicast_to_an_unknown_mac_arp_resolves_then_delivers() {
    let mut lab = Lab::new(1);
    let link = LinkParams::default();
    let client = lab.port(1, None, link.clone());
    let server = lab.port(2, Some(SERVER_IP), link.clone());
    let client_ip = Ipv4Addr::new(10, 0, 0, 50);
    lab.net.set_ip(client, Some(client_ip));
    let to_server = |payload: Vec<u8>| Transmit {
        src: sa(client_ip, 68),
        dst: sa(SERVER_IP, 4011),
        l2: L2Dest::Unicast(Mac::ZERO),
        payload,
    };
    lab.send(Instant::ZERO, client, to_server(vec![7; 300]));
    lab.send(Instant::ZERO, client, to_server(vec![8; 300]));
    let seen = lab.run();
    assert_eq!(lab.net.stats().arp_requests, 1);
    assert_eq!(receivers(&seen), [server, server]);
    // Request, reply, then the datagram: three one-way trips of 200 µs plus
    // serialisation at 1 Gb/s (42-byte ARP frames, 342-byte datagram frames).
    let ser = |bytes: u64| Duration::from_nanos(bytes * 8);
    let hop = Duration::from_micros(200);
    let first = Instant::ZERO + hop * 3 + ser(42) * 2 + ser(342);
    assert_eq!(seen[0].0, first);
    assert_eq!(seen[1].0, first + ser(342));
    let Arrival::Datagram { payload, .. } = &seen[1].1 else {
        panic!()
    };
    assert_eq!(payload[0], 8, "queued datagrams leave in order");

    // Cached: the next one goes straight, and the server learned the client's
    // MAC from the request, so its answer needs no ARP either.
    let t = Instant::from_secs(1);
    lab.send(t, client, to_server(vec![9; 300]));
    lab.send(
        t,
        server,
        Transmit {
            src: sa(Ipv4Addr::UNSPECIFIED, 4011),
            dst: sa(client_ip, 68),
            l2: L2Dest::Unicast(Mac::ZERO),
            payload: vec![1; 300],
        },
    );
    let seen = lab.run();
    assert_eq!(lab.net.stats().arp_requests, 1);
    assert_eq!(receivers(&seen), [server, client]);
    assert_eq!(seen[0].0, t + hop + ser(342));
    // The server's static address was filled in for its 0.0.0.0 source.
    let Arrival::Datagram { src, .. } = &seen[1].1 else {
        panic!()
    };
    assert_eq!(*src, sa(SERVER_IP, 4011));
}

#[test]
fn arp_without_an_answer_gives_unreachable_after_four_tries() {
    let mut lab = Lab::new(1);
    let client = lab.port(1, None, LinkParams::default());
    lab.port(2, Some(SERVER_IP), LinkParams::default());
    lab.net.set_ip(client, Some(Ipv4Addr::new(10, 0, 0, 50)));
    let nobody = Ipv4Addr::new(10, 0, 0, 99);
    let t0 = Instant::from_millis(500);
    lab.send(
        t0,
        client,
        Transmit {
            src: sa(Ipv4Addr::new(10, 0, 0, 50), 2000),
            dst: sa(nobody, 69),
            l2: L2Dest::Unicast(Mac::ZERO),
            payload: vec![0; 20],
        },
    );
    let seen = lab.run();
    assert_eq!(
        seen,
        [(
            t0 + Duration::from_secs(4),
            Arrival::Unreachable {
                port: client,
                ip: nobody
            }
        )]
    );
    let stats = lab.net.stats();
    assert_eq!((stats.arp_requests, stats.arp_failures), (4, 1));
}

#[test]
fn an_address_leased_later_answers_arp() {
    let mut lab = Lab::new(1);
    let server = lab.port(1, Some(SERVER_IP), LinkParams::default());
    let client = lab.port(2, None, LinkParams::default());
    let leased = Ipv4Addr::new(10, 0, 0, 77);
    let to_client = Transmit {
        src: sa(SERVER_IP, 69),
        dst: sa(leased, 3000),
        l2: L2Dest::Unicast(Mac::ZERO),
        payload: vec![0; 4],
    };
    lab.send(Instant::ZERO, server, to_client.clone());
    // First try unanswered; the lease arrives before the second.
    assert!(lab.run_until(Instant::from_millis(900)).is_empty());
    lab.net.set_ip(client, Some(leased));
    let seen = lab.run();
    assert_eq!(receivers(&seen), [client]);
    assert!(seen[0].0 > Instant::from_secs(1));
    assert_eq!(lab.net.stats().arp_requests, 2);
    // The lease ends: the address no longer answers.
    lab.net.set_ip(client, None);
    let mut fresh = Lab::new(1);
    let s = fresh.port(1, Some(SERVER_IP), LinkParams::default());
    let c = fresh.port(2, None, LinkParams::default());
    fresh.net.set_ip(c, Some(leased));
    fresh.net.set_ip(c, None);
    fresh.send(Instant::ZERO, s, to_client);
    assert!(matches!(
        fresh.run()[..],
        [(_, Arrival::Unreachable { .. })]
    ));
}

#[test]
fn loss_one_drops_everything_and_loss_zero_nothing() {
    for (loss, expect) in [(1.0, 0usize), (0.0, 100)] {
        let mut lab = Lab::new(3);
        let lossy = LinkParams {
            loss,
            ..LinkParams::default()
        };
        let a = lab.port(1, None, lossy);
        let b = lab.port(2, Some(SERVER_IP), LinkParams::default());
        lab.net.listen(b, 67);
        for i in 0..100 {
            lab.send(Instant::from_millis(i), a, broadcast(68, 67, vec![0; 300]));
        }
        assert_eq!(receivers(&lab.run()).len(), expect, "loss {loss}");
        assert_eq!(lab.net.stats().lost, 100 - expect as u64);
    }
}

#[test]
fn partial_loss_is_drawn_from_the_seed() {
    let run = |seed| {
        let mut lab = Lab::new(seed);
        let lossy = LinkParams {
            loss: 0.3,
            ..LinkParams::default()
        };
        let a = lab.port(1, None, lossy);
        let b = lab.port(2, Some(SERVER_IP), LinkParams::default());
        lab.net.listen(b, 67);
        for i in 0..1000 {
            lab.send(Instant::from_millis(i), a, broadcast(68, 67, vec![0; 300]));
        }
        lab.run().iter().map(|(t, _)| *t).collect::<Vec<_>>()
    };
    let first = run(5);
    assert_eq!(first, run(5));
    assert_ne!(first, run(6));
    assert!((600..800).contains(&first.len()), "{}", first.len());
}

#[test]
fn spanning_tree_blocks_both_directions_until_the_delay_is_over() {
    let mut lab = Lab::new(1);
    let stp = LinkParams {
        link_up_delay: Duration::from_secs(30),
        ..LinkParams::default()
    };
    let client = lab.port(1, None, stp);
    let server = lab.port(2, Some(SERVER_IP), LinkParams::default());
    lab.net.listen(server, 67);
    lab.net.listen(client, 68);
    lab.net.link_up(client, Instant::ZERO);

    // Out: dropped at the client's port.
    lab.send(
        Instant::from_secs(4),
        client,
        broadcast(68, 67, vec![0; 300]),
    );
    // In: dropped when it meets the client's port.
    lab.send(
        Instant::from_secs(8),
        server,
        broadcast(67, 68, vec![0; 300]),
    );
    assert!(lab.run().is_empty());
    assert_eq!(lab.net.stats().blocked, 2);

    lab.send(
        Instant::from_secs(30),
        client,
        broadcast(68, 67, vec![0; 300]),
    );
    lab.send(
        Instant::from_secs(31),
        server,
        broadcast(67, 68, vec![0; 300]),
    );
    assert_eq!(receivers(&lab.run()), [server, client]);

    // A NIC re-init (iPXE starting) holds the port again.
    lab.net.link_up(client, Instant::from_secs(40));
    lab.send(
        Instant::from_secs(41),
        client,
        broadcast(68, 67, vec![0; 300]),
    );
    assert!(lab.run().is_empty());
    assert_eq!(lab.net.stats().blocked, 3);
}

#[test]
fn a_port_that_is_down_neither_sends_nor_receives() {
    let mut lab = Lab::new(1);
    let client = lab.port(1, None, LinkParams::default());
    let server = lab.port(2, Some(SERVER_IP), LinkParams::default());
    lab.net.listen(server, 67);
    lab.net.listen(client, 68);
    lab.net.set_down(server, true);
    lab.send(Instant::ZERO, client, broadcast(68, 67, vec![0; 300]));
    lab.send(Instant::ZERO, server, broadcast(67, 68, vec![0; 300]));
    assert!(lab.run().is_empty());
    // The client's frame was on the wire and met the dead port; the server's
    // never left (a host that is off sends nothing, not even to the pcap).
    assert_eq!((lab.net.stats().frames, lab.net.stats().blocked), (1, 2));
    lab.net.set_down(server, false);
    lab.send(
        Instant::from_secs(1),
        client,
        broadcast(68, 67, vec![0; 300]),
    );
    assert_eq!(receivers(&lab.run()), [server]);
}

#[test]
fn bandwidth_serialises_a_burst_at_the_senders_egress() {
    let mut lab = Lab::new(1);
    let server = lab.port(1, Some(SERVER_IP), LinkParams::default());
    let client = lab.port(2, None, LinkParams::default());
    // 1 MB in 1000 datagrams of 1000 bytes, all handed over at once.
    for _ in 0..1000 {
        lab.send(
            Instant::ZERO,
            server,
            Transmit {
                src: sa(SERVER_IP, 69),
                dst: sa(Ipv4Addr::new(10, 0, 0, 9), 3000),
                l2: L2Dest::Unicast(mac(2)),
                payload: vec![0; 1000],
            },
        );
    }
    let seen = lab.run();
    assert_eq!(receivers(&seen).len(), 1000);
    assert!(
        seen.iter()
            .all(|(_, a)| matches!(a, Arrival::Datagram { to, .. } if *to == client))
    );
    // 1000 × 1042 bytes × 8 bits at 1 Gb/s = 8.336 ms, plus 200 µs of latency.
    let last = seen.last().map(|(t, _)| *t).unwrap_or(Instant::ZERO);
    assert_eq!(last, Instant::from_nanos(8_336_000 + 200_000));
    assert_eq!(lab.net.stats().bytes, 1_042_000);

    // A slower link takes proportionally longer.
    let mut slow = Lab::new(1);
    let s = slow.port(
        1,
        Some(SERVER_IP),
        LinkParams {
            bandwidth_bps: 100_000_000,
            ..LinkParams::default()
        },
    );
    slow.port(2, None, LinkParams::default());
    for _ in 0..10 {
        slow.send(
            Instant::ZERO,
            s,
            Transmit {
                src: sa(SERVER_IP, 69),
                dst: sa(Ipv4Addr::new(10, 0, 0, 9), 3000),
                l2: L2Dest::Unicast(mac(2)),
                payload: vec![0; 1000],
            },
        );
    }
    let last = slow.run().last().map(|(t, _)| *t);
    assert_eq!(last, Some(Instant::from_nanos(10 * 83_360 + 200_000)));
}

#[test]
fn jitter_stays_within_bounds_and_repeats_per_seed() {
    let run = |seed| {
        let mut lab = Lab::new(seed);
        let jittery = LinkParams {
            jitter: Duration::from_millis(2),
            ..LinkParams::default()
        };
        let a = lab.port(1, None, jittery);
        let b = lab.port(2, Some(SERVER_IP), LinkParams::default());
        lab.net.listen(b, 67);
        for i in 0..200 {
            lab.send(
                Instant::from_millis(10 * i),
                a,
                broadcast(68, 67, vec![0; 300]),
            );
        }
        lab.run()
            .iter()
            .enumerate()
            .map(|(i, (t, _))| *t - Instant::from_millis(10 * i as u64))
            .collect::<Vec<Duration>>()
    };
    let delays = run(9);
    assert_eq!(delays, run(9));
    assert_ne!(delays, run(10));
    let base = Duration::from_micros(200) + Duration::from_nanos(342 * 8);
    assert!(
        delays
            .iter()
            .all(|d| *d >= base && *d <= base + Duration::from_millis(2))
    );
    assert!(delays.iter().any(|d| *d > base + Duration::from_millis(1)));
}

#[test]
fn unicast_reaches_the_mac_owner_whatever_it_listens_on() {
    let mut lab = Lab::new(1);
    let server = lab.port(1, Some(SERVER_IP), LinkParams::default());
    let client = lab.port(2, None, LinkParams::default());
    let other = lab.port(3, None, LinkParams::default());
    lab.net.listen(other, 68);
    lab.send(
        Instant::ZERO,
        server,
        Transmit {
            src: sa(SERVER_IP, 67),
            dst: sa(Ipv4Addr::new(10, 0, 0, 40), 68),
            l2: L2Dest::Unicast(mac(2)),
            payload: bootp_reply(mac(2)),
        },
    );
    assert_eq!(receivers(&lab.run()), [client]);
    assert_eq!(lab.net.port_mac(client), mac(2));
    assert_eq!(lab.net.port_ip(server), Some(SERVER_IP));
    assert_eq!(lab.net.port_ip(client), None);
    assert_eq!(lab.net.segment_name(lab.seg), "lab");
}

#[test]
fn jitter_never_reorders_one_flow() {
    let mut lab = Lab::new(4);
    let jittery = LinkParams {
        jitter: Duration::from_millis(2),
        ..LinkParams::default()
    };
    let server = lab.port(1, Some(SERVER_IP), jittery);
    let client = lab.port(2, None, LinkParams::default());
    // A TFTP window of 100 blocks sent 10 µs apart, far less than the jitter.
    for block in 0..100u8 {
        lab.send(
            Instant::from_nanos(10_000 * u64::from(block)),
            server,
            Transmit {
                src: sa(SERVER_IP, 49152),
                dst: sa(Ipv4Addr::new(10, 0, 0, 9), 3000),
                l2: L2Dest::Unicast(mac(2)),
                payload: vec![block; 516],
            },
        );
    }
    let order: Vec<u8> = lab
        .run()
        .iter()
        .filter_map(|(_, a)| match a {
            Arrival::Datagram { to, payload, .. } if *to == client => Some(payload[0]),
            _ => None,
        })
        .collect();
    assert_eq!(order, (0..100).collect::<Vec<u8>>());
}
