//! A boot storm through one server: every client's exchange completes, with
//! one ARP per client, and the broadcast replies reach only their client.
//!
//! `PXELAB_NET_SCALE_CLIENTS=10000 cargo test --release --test net_scale`
//! measures the 10,000-client case (≈150 frames each); the default is smaller.

use std::net::{Ipv4Addr, SocketAddrV4};

use pxelab_reference::{Instant, L2Dest, Mac, Transmit};
use pxelab_simulator::engine::{Queue, stream};
use pxelab_simulator::net::{Arrival, LinkParams, NetEvent, Network};
use rand::RngExt;

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Round trips per client: 2 broadcast DHCP exchanges, then unicast ones.
const ROUNDS: u32 = 75;

fn client_mac(i: u32) -> Mac {
    let b = i.to_be_bytes();
    Mac([0x52, 0x54, b[0], b[1], b[2], b[3]])
}

fn client_ip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 0, 0)) + i)
}

/// A BOOTP-like payload: op, htype 1, hlen 6, round number, chaddr.
fn payload(op: u8, round: u32, mac: Mac) -> Vec<u8> {
    let mut p = vec![0u8; 300];
    p[0] = op;
    p[1] = 1;
    p[2] = 6;
    p[4..8].copy_from_slice(&round.to_be_bytes());
    p[28..34].copy_from_slice(&mac.0);
    p
}

#[test]
fn a_boot_storm_completes_with_one_arp_per_client() {
    let n: u32 = std::env::var("PXELAB_NET_SCALE_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let mut net = Network::new(stream(1, "net", 0));
    let seg = net.add_segment("storm");
    let server = net.attach(
        seg,
        Mac([0x02, 0, 0, 0, 0, 1]),
        Some(SERVER_IP),
        LinkParams::default(),
    );
    net.listen(server, 67);
    let mut q: Queue<NetEvent> = Queue::new();
    let mut power = stream(1, "power", 0);
    let mut ports = Vec::new();
    for i in 0..n {
        let p = net.attach(seg, client_mac(i), None, LinkParams::default());
        net.listen(p, 68);
        ports.push(p);
        let at = Instant::from_nanos(power.random_range(0..2_000_000_000));
        net.send(
            at,
            p,
            Transmit {
                src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
                dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
                l2: L2Dest::Broadcast,
                payload: payload(1, 0, client_mac(i)),
            },
            &mut q,
        );
    }
    let mut done = 0u32;
    while let Some((now, ev)) = q.pop() {
        let Some(Arrival::Datagram {
            to,
            src,
            payload: p,
            ..
        }) = net.handle(now, ev, &mut q)
        else {
            continue;
        };
        let round = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        let mac = Mac([p[28], p[29], p[30], p[31], p[32], p[33]]);
        let i = to.0.checked_sub(1);
        if to == server {
            // Broadcast replies while the client has no address, then unicast.
            let reply = if round < 2 {
                Transmit {
                    src: SocketAddrV4::new(SERVER_IP, 67),
                    dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 68),
                    l2: L2Dest::Broadcast,
                    payload: payload(2, round, mac),
                }
            } else {
                Transmit {
                    src: SocketAddrV4::new(SERVER_IP, 67),
                    dst: src,
                    l2: L2Dest::Unicast(Mac::ZERO),
                    payload: payload(2, round, mac),
                }
            };
            net.send(now, server, reply, &mut q);
        } else if let Some(i) = i {
            assert_eq!(mac, client_mac(i), "a reply reached the wrong client");
            if round + 1 == ROUNDS {
                done += 1;
                continue;
            }
            if round == 1 {
                net.set_ip(to, Some(client_ip(i)));
            }
            let next = if round + 1 < 2 {
                Transmit {
                    src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
                    dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
                    l2: L2Dest::Broadcast,
                    payload: payload(1, round + 1, mac),
                }
            } else {
                Transmit {
                    src: SocketAddrV4::new(client_ip(i), 68),
                    dst: SocketAddrV4::new(SERVER_IP, 4011),
                    l2: L2Dest::Unicast(Mac::ZERO),
                    payload: payload(1, round + 1, mac),
                }
            };
            net.send(now, to, next, &mut q);
        }
    }
    assert_eq!(done, n);
    let stats = net.stats();
    // One ARP per client for the server (the server learns the client from it).
    assert_eq!(stats.arp_requests, u64::from(n));
    assert_eq!(stats.frames, u64::from(n) * (2 * u64::from(ROUNDS) + 2));
    assert_eq!((stats.lost, stats.blocked, stats.arp_failures), (0, 0, 0));
}
