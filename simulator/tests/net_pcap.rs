//! The pcap of a run opens in Wireshark: real DHCP, the 4011 exchange, ARP and
//! TFTP (with an 8192-byte block in IPv4 fragments), none of it malformed.
//!
//! tshark is run when it is installed; otherwise the dissection is skipped with
//! a notice, unless `PXELAB_REQUIRE_PEERS=1` (CI), where a missing tshark fails.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::Command;

use pxelab_reference::wire::dhcp::{DhcpMessage, FLAG_BROADCAST, MessageType, code};
use pxelab_reference::wire::tftp::TftpPacket;
use pxelab_reference::{Instant, L2Dest, Mac, Transmit};
use pxelab_simulator::engine::{Queue, stream};
use pxelab_simulator::net::{Arrival, LinkParams, NetEvent, Network, PortId};

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);
const CLIENT_MAC: Mac = Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
const SERVER_MAC: Mac = Mac([0x52, 0x54, 0, 0, 0, 1]);

struct Run {
    net: Network,
    queue: Queue<NetEvent>,
    server: PortId,
    now: Instant,
}

impl Run {
    /// Sends `t` from `from` one millisecond after the previous exchange and
    /// runs the network until it is quiet; returns what arrived.
    fn exchange(&mut self, from: PortId, t: Transmit) -> Vec<Arrival> {
        self.now += std::time::Duration::from_millis(1);
        self.net.send(self.now, from, t, &mut self.queue);
        let mut seen = Vec::new();
        while let Some((at, ev)) = self.queue.pop() {
            self.now = at;
            seen.extend(self.net.handle(at, ev, &mut self.queue));
        }
        seen
    }
}

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

fn pxe_request(t: MessageType) -> DhcpMessage {
    let mut m = DhcpMessage {
        xid: 0x1234_5678,
        flags: FLAG_BROADCAST,
        ..DhcpMessage::default()
    };
    m.chaddr[..6].copy_from_slice(&CLIENT_MAC.0);
    m.set_message_type(t);
    m.push_option(code::MAX_MESSAGE_SIZE, 1260u16.to_be_bytes());
    m.push_option(code::CLIENT_ARCH, [0, 7]);
    m.push_option(code::CLIENT_NDI, [1, 3, 16]);
    m.push_option(code::VENDOR_CLASS, &b"PXEClient:Arch:00007:UNDI:003016"[..]);
    m.push_option(code::PARAMETER_REQUEST_LIST, [1, 3, 43, 60, 66, 67]);
    m
}

/// Writes the capture of a small PXE boot to `path`; returns the datagrams delivered.
fn capture(path: &std::path::Path) -> usize {
    let mut net = Network::new(stream(7, "net", 0));
    let seg = net.add_segment("lab");
    let client = net.attach(seg, CLIENT_MAC, None, LinkParams::default());
    let server = net.attach(seg, SERVER_MAC, Some(SERVER_IP), LinkParams::default());
    net.listen(server, 67);
    net.listen(server, 69);
    net.listen(client, 68);
    let file = std::fs::File::create(path).expect("create pcap");
    net.set_pcap(Box::new(std::io::BufWriter::new(file)))
        .expect("pcap header");
    let mut run = Run {
        net,
        queue: Queue::new(),
        server,
        now: Instant::ZERO,
    };
    let mut delivered = 0;

    // DISCOVER, broadcast from 0.0.0.0.
    let discover = pxe_request(MessageType::Discover);
    delivered += run
        .exchange(
            client,
            Transmit {
                src: sa(Ipv4Addr::UNSPECIFIED, 68),
                dst: sa(Ipv4Addr::BROADCAST, 67),
                l2: L2Dest::Broadcast,
                payload: discover.emit(),
            },
        )
        .len();
    // OFFER, broadcast (flag set), source filled in by the network.
    let mut offer = DhcpMessage::reply_to(&discover);
    offer.set_message_type(MessageType::Offer);
    offer.yiaddr = CLIENT_IP;
    offer.siaddr = SERVER_IP;
    offer.push_option(code::SERVER_ID, SERVER_IP.octets());
    offer.push_option(code::VENDOR_CLASS, &b"PXEClient"[..]);
    delivered += run
        .exchange(
            run.server,
            Transmit {
                src: sa(Ipv4Addr::UNSPECIFIED, 67),
                dst: sa(Ipv4Addr::BROADCAST, 68),
                l2: L2Dest::Broadcast,
                payload: offer.emit(),
            },
        )
        .len();
    run.net.set_ip(client, Some(CLIENT_IP));

    // The boot server REQUEST, unicast to 4011 (the network ARPs first).
    let mut boot = pxe_request(MessageType::Request);
    boot.ciaddr = CLIENT_IP;
    boot.flags = 0;
    delivered += run
        .exchange(
            client,
            Transmit {
                src: sa(CLIENT_IP, 68),
                dst: sa(SERVER_IP, 4011),
                l2: L2Dest::Unicast(Mac::ZERO),
                payload: boot.emit(),
            },
        )
        .len();
    let mut ack = DhcpMessage::reply_to(&boot);
    ack.set_message_type(MessageType::Ack);
    ack.push_option(code::SERVER_ID, SERVER_IP.octets());
    ack.push_option(code::VENDOR_CLASS, &b"PXEClient"[..]);
    ack.push_option(code::BOOTFILE_NAME, &b"ipxe.efi"[..]);
    delivered += run
        .exchange(
            run.server,
            Transmit {
                src: sa(SERVER_IP, 4011),
                dst: sa(CLIENT_IP, 68),
                l2: L2Dest::Unicast(CLIENT_MAC),
                payload: ack.emit(),
            },
        )
        .len();

    // TFTP: RRQ to 69, then the transfer on the server's ephemeral port.
    let (cport, sport) = (2070, 49152);
    let c2s = |p: TftpPacket, dport| Transmit {
        src: sa(CLIENT_IP, cport),
        dst: sa(SERVER_IP, dport),
        l2: L2Dest::Unicast(Mac::ZERO),
        payload: p.to_bytes(),
    };
    let s2c = |p: TftpPacket| Transmit {
        src: sa(SERVER_IP, sport),
        dst: sa(CLIENT_IP, cport),
        l2: L2Dest::Unicast(Mac::ZERO),
        payload: p.to_bytes(),
    };
    let opts = vec![
        ("blksize".to_string(), "8192".to_string()),
        ("tsize".to_string(), "0".to_string()),
    ];
    let rrq = TftpPacket::Rrq {
        filename: "ipxe.efi".into(),
        mode: "octet".into(),
        options: opts,
    };
    delivered += run.exchange(client, c2s(rrq, 69)).len();
    let oack = TftpPacket::Oack {
        options: vec![
            ("blksize".to_string(), "8192".to_string()),
            ("tsize".to_string(), "8292".to_string()),
        ],
    };
    let server = run.server;
    delivered += run.exchange(server, s2c(oack)).len();
    delivered += run
        .exchange(client, c2s(TftpPacket::Ack { block: 0 }, sport))
        .len();
    let big = TftpPacket::Data {
        block: 1,
        data: (0..8192u32).map(|i| (i % 251) as u8).collect(),
    };
    delivered += run.exchange(server, s2c(big)).len();
    delivered += run
        .exchange(client, c2s(TftpPacket::Ack { block: 1 }, sport))
        .len();
    let last = TftpPacket::Data {
        block: 2,
        data: vec![0xab; 100],
    };
    delivered += run.exchange(server, s2c(last)).len();
    delivered += run
        .exchange(client, c2s(TftpPacket::Ack { block: 2 }, sport))
        .len();
    run.net.finish().expect("flush pcap");
    delivered
}

fn require_peers() -> bool {
    std::env::var("PXELAB_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

#[test]
fn the_pcap_has_the_frames_in_order_with_fragments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("boot.pcap");
    assert_eq!(capture(&path), 11);
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .expect("read pcap");
    // Little-endian microsecond pcap, link type Ethernet.
    assert_eq!(bytes[..4], [0xd4, 0xc3, 0xb2, 0xa1]);
    assert_eq!(bytes[20..24], [1, 0, 0, 0]);
    // Same run, same bytes.
    let again = dir.path().join("again.pcap");
    capture(&again);
    assert_eq!(std::fs::read(&again).expect("read"), bytes);
}

#[test]
fn tshark_dissects_dhcp_4011_and_tftp_without_malformed_packets() {
    if Command::new("tshark").arg("--version").output().is_err() {
        assert!(
            !require_peers(),
            "PXELAB_REQUIRE_PEERS=1 but tshark is not installed"
        );
        eprintln!("SKIP: tshark not installed; the pcap was not dissected");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("boot.pcap");
    capture(&path);
    if let Ok(keep) = std::env::var("PXELAB_KEEP_PCAP") {
        let _ = std::fs::copy(&path, keep);
    }
    let out = Command::new("tshark")
        .args([
            "-n",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "_ws.col.Protocol",
            "-e",
            "_ws.col.Info",
            "-e",
            "_ws.expert.severity",
            "-r",
        ])
        .arg(&path)
        .output()
        .expect("run tshark");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    let proto = |i: usize| lines[i].split('\t').nth(1).unwrap_or("");
    // DISCOVER, OFFER, ARP request/reply, 4011 REQUEST/ACK, ARP (server → client
    // is cached from the request: none), RRQ, OACK, ACK, 6 fragments of DATA 1,
    // ACK, DATA 2, ACK.
    assert_eq!(lines.len(), 18, "{text}");
    for (i, want) in [
        (0, "DHCP"),
        (1, "DHCP"),
        (2, "ARP"),
        (3, "ARP"),
        (4, "DHCP"),
        (5, "DHCP"),
        (6, "TFTP"),
        (7, "TFTP"),
        (8, "TFTP"),
        (14, "TFTP"),
        (17, "TFTP"),
    ] {
        assert_eq!(proto(i), want, "frame {}: {text}", i + 1);
    }
    for i in 9..14 {
        assert_eq!(proto(i), "IPv4", "fragment, frame {}: {text}", i + 1);
    }
    assert!(lines[14].contains("Data Packet, Block: 1"), "{text}");
    // No malformed packet, no bad checksum: no expert info of error severity.
    let verbose = Command::new("tshark")
        .args([
            "-n",
            "-V",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-r",
        ])
        .arg(&path)
        .output()
        .expect("run tshark -V");
    let verbose = String::from_utf8_lossy(&verbose.stdout);
    // Checksums were verified (not skipped) and all are good.
    assert_eq!(verbose.matches("[Checksum Status: Good]").count(), 11);
    assert_eq!(
        verbose.matches("[Header checksum status: Good]").count(),
        16
    );
    assert!(
        verbose.contains("[Reassembled IPv4 length: 8204]"),
        "{verbose}"
    );
    for bad in [
        "Malformed",
        "[Expert Info (Error",
        "incorrect",
        "Bad checksum",
    ] {
        assert!(!verbose.contains(bad), "{bad} in:\n{verbose}");
    }
}
