//! Crash safety of the real `pxelab serve` (issue 9): `kill -9` in the middle of
//! a storm of 200 DHCP clients, a restart on the same lease store, and the same
//! clients again. Every lease a client saw acknowledged before the kill must come
//! back to that client, and no address may be acknowledged to two clients.
//!
//! The server runs in a private network namespace (ports 67/68 on its own `lo`),
//! which needs root: without it the test prints `SKIP …` and passes, unless
//! `PXELAB_REQUIRE_PEERS=1`, which makes it fail.

mod hostile_support;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use hostile_support::{KillOnDrop, Log, free_udp_port, in_private_netns, report, spawn_serve};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{DhcpMessage, MessageType};

const CLIENTS: usize = 200;
const FIRST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 10);
const LAST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 250);
/// Bound of one storm; the clients retransmit every 400 ms until then.
const STORM_BOUND: Duration = Duration::from_secs(90);

fn mac(i: usize) -> [u8; 6] {
    [0x52, 0x54, 0xc0, 0, (i >> 8) as u8, i as u8]
}

fn message(i: usize, xid: u32, ty: MessageType, ask: Option<Ipv4Addr>) -> Vec<u8> {
    let mut m = DhcpMessage {
        xid,
        ..Default::default()
    };
    m.chaddr[..6].copy_from_slice(&mac(i));
    m.set_message_type(ty);
    if let Some(ip) = ask {
        m.push_option(50, ip.octets());
        m.push_option(54, Ipv4Addr::LOCALHOST.octets());
    }
    m.emit()
}

fn start(dir: &Path, tftp_port: u16) -> (KillOnDrop, Log) {
    let range = format!("{FIRST}-{LAST}");
    let (server, log) = spawn_serve(
        dir,
        Path::new("."),
        &["--range", &range, "--tftp-port", &tftp_port.to_string()],
    );
    assert!(
        log.wait_for("pxelab serving", Duration::from_secs(30))
            .is_some(),
        "server did not start: {}",
        log.text()
    );
    (server, log)
}

/// Runs the 200 clients (DISCOVER, then REQUEST what was offered, retransmitting
/// every 400 ms) until every one has its ACK, or until `stop_after` ACKs have been
/// seen. Returns each client's acknowledged address.
fn storm(sock: &UdpSocket, round: u32, stop_after: usize) -> BTreeMap<usize, Ipv4Addr> {
    let xid = |i: usize, req: bool| (round << 24) | ((i as u32) << 1) | u32::from(req);
    let mut offered: HashMap<usize, Ipv4Addr> = HashMap::new();
    let mut acked: BTreeMap<usize, Ipv4Addr> = BTreeMap::new();
    let deadline = Instant::now() + STORM_BOUND;
    let mut buf = [0u8; 1500];
    while acked.len() < stop_after {
        assert!(
            Instant::now() < deadline,
            "round {round}: only {} of {CLIENTS} clients were acknowledged",
            acked.len()
        );
        // The second round asks in reverse order, so a server that had forgotten
        // the leases would hand the addresses out differently.
        let order: Vec<usize> = if round % 2 == 1 {
            (0..CLIENTS).collect()
        } else {
            (0..CLIENTS).rev().collect()
        };
        for i in order.into_iter().filter(|i| !acked.contains_key(i)) {
            let p = match offered.get(&i) {
                None => message(i, xid(i, false), MessageType::Discover, None),
                Some(ip) => message(i, xid(i, true), MessageType::Request, Some(*ip)),
            };
            sock.send_to(&p, (Ipv4Addr::LOCALHOST, 67)).unwrap();
        }
        let window = Instant::now() + Duration::from_millis(400);
        while Instant::now() < window && acked.len() < stop_after {
            let Ok(n) = sock.recv(&mut buf) else { continue };
            let Ok(reply) = DhcpMessage::parse(&buf[..n], ParseMode::Lax) else {
                continue;
            };
            if reply.xid >> 24 != round {
                continue;
            }
            let i = ((reply.xid & 0xff_ffff) >> 1) as usize;
            if i >= CLIENTS || reply.chaddr[..6] != mac(i) {
                continue;
            }
            match reply.message_type() {
                Some(MessageType::Offer) if !acked.contains_key(&i) => {
                    offered.insert(i, reply.yiaddr);
                    let p = message(i, xid(i, true), MessageType::Request, Some(reply.yiaddr));
                    sock.send_to(&p, (Ipv4Addr::LOCALHOST, 67)).unwrap();
                }
                Some(MessageType::Ack) => {
                    acked.insert(i, reply.yiaddr);
                }
                // A NAK (say, after the restart) sends the client back to DISCOVER.
                Some(MessageType::Nak) => {
                    offered.remove(&i);
                }
                _ => {}
            }
        }
    }
    acked
}

/// No address acknowledged to two clients.
fn assert_unique(round: &str, acked: &BTreeMap<usize, Ipv4Addr>) {
    let mut owner: HashMap<Ipv4Addr, usize> = HashMap::new();
    for (&i, &ip) in acked {
        if let Some(j) = owner.insert(ip, i) {
            panic!("{round}: {ip} acknowledged to client {j} and to client {i}");
        }
    }
}

#[test]
fn acknowledged_leases_survive_kill_9_in_a_storm_of_200_clients() {
    in_private_netns(
        "acknowledged_leases_survive_kill_9_in_a_storm_of_200_clients",
        || {
            let dir = tempfile::tempdir().unwrap();
            let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 68)).unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let tftp_port = free_udp_port();

            let (mut server, log) = start(dir.path(), tftp_port);
            // In the middle of the storm: half the clients acknowledged, the rest
            // between DISCOVER and ACK with requests in flight.
            let before = storm(&sock, 1, CLIENTS / 2);
            server.kill_9();
            let log_before = log.text();
            assert_unique("before the kill", &before);

            let (mut server, log) = start(dir.path(), tftp_port);
            let after = storm(&sock, 2, CLIENTS);
            assert!(server.alive(), "{}", log.text());
            drop(server);

            assert_unique("after the restart", &after);
            let mut lost = Vec::new();
            for (i, ip) in &before {
                if after.get(i) != Some(ip) {
                    lost.push(format!("client {i}: {ip} before, {:?} after", after.get(i)));
                }
            }
            assert!(
                lost.is_empty(),
                "{} of {} acknowledged leases did not survive kill -9: {lost:#?}\n\
                 log before the kill:\n{log_before}",
                lost.len(),
                before.len()
            );
            report(&format!(
                "crash safety: {} leases acknowledged before kill -9, all kept; {} clients \
                 acknowledged after the restart, no address shared",
                before.len(),
                after.len()
            ));
        },
    );
}
