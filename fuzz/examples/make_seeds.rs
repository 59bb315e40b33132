//! Writes the hand-made seed inputs into `corpus/<target>/seed-*`.
//!
//! `cargo run --no-default-features --example make_seeds` from `fuzz/`. The
//! seeds are real packets (captures from `reference/tests/wire_pxe.rs`) and the
//! exchanges a PXE client goes through, so the fuzzer starts from deep inside
//! the parsers and machines instead of having to discover the magic cookie or an
//! RRQ by itself.

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;

use pxelab_fuzz::record;
use pxelab_reference::Mac;
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{DhcpMessage, MessageType, Op, code};
use pxelab_reference::wire::multicast::{
    Announce, BlockMap, Data, Message, Nak, Packet, SliceEnd, SliceOk,
};
use pxelab_reference::wire::pxe::{
    BootItem, BootServerEntry, DiscoveryControl, MenuItem, MenuPrompt, PxeVendorOptions,
};
use pxelab_reference::wire::tftp::{ErrorCode, TftpPacket};

// The real captures, shared with the reference crate's tests.
#[path = "../../reference/tests/captures/mod.rs"]
mod captures;
use captures::{dnsmasq_proxy_offer, edk2_discover, ipxe_discover};

/// Option 43 of dnsmasq's proxy OFFER, as it was on the wire.
fn dnsmasq_opt43() -> Vec<u8> {
    let offer = DhcpMessage::parse(&dnsmasq_proxy_offer(), ParseMode::Strict).expect("capture");
    offer
        .option(code::VENDOR_SPECIFIC)
        .expect("option 43")
        .into_owned()
}

fn client(t: MessageType, mac_last: u8, xid: u32) -> DhcpMessage {
    let mut m = DhcpMessage {
        op: Op::BootRequest,
        xid,
        ..DhcpMessage::default()
    };
    m.chaddr[..6].copy_from_slice(&[0x52, 0x54, 0, 0, 0, mac_last]);
    m.set_message_type(t);
    m
}

fn make_pxe(m: &mut DhcpMessage, arch: u16) {
    m.push_option(code::PARAMETER_REQUEST_LIST, [1, 3, 43, 60, 66, 67]);
    m.push_option(code::MAX_MESSAGE_SIZE, 1472u16.to_be_bytes());
    m.push_option(
        code::VENDOR_CLASS,
        format!("PXEClient:Arch:{arch:05}:UNDI:003000").into_bytes(),
    );
    m.push_option(code::CLIENT_ARCH, arch.to_be_bytes());
    m.push_option(code::CLIENT_NDI, [1, 3, 0]);
    let mut uuid = vec![0];
    uuid.extend(1..=16);
    m.push_option(code::CLIENT_UUID, uuid);
}

fn pxe(t: MessageType, mac_last: u8, xid: u32, arch: u16) -> DhcpMessage {
    let mut m = client(t, mac_last, xid);
    make_pxe(&mut m, arch);
    m
}

fn select(mac_last: u8, xid: u32, arch: u16, ip: [u8; 4]) -> DhcpMessage {
    let mut m = pxe(MessageType::Request, mac_last, xid, arch);
    m.push_option(code::SERVER_ID, [192, 168, 50, 1]);
    m.push_option(code::REQUESTED_IP, ip);
    m
}

/// The REQUEST to 4011 that asks a boot server for menu item `kind`.
fn boot_request(mac_last: u8, xid: u32, arch: u16, kind: u16) -> DhcpMessage {
    let mut m = pxe(MessageType::Request, mac_last, xid, arch);
    m.ciaddr = Ipv4Addr::new(192, 168, 50, 100);
    let mut o43 = vec![71, 4];
    o43.extend(kind.to_be_bytes());
    o43.extend([0, 0, 255]);
    m.push_option(code::VENDOR_SPECIFIC, o43);
    m
}

fn ipxe(t: MessageType, mac_last: u8, xid: u32) -> DhcpMessage {
    let mut m = pxe(t, mac_last, xid, 7);
    m.push_option(code::USER_CLASS, *b"iPXE");
    m.push_option(
        code::IPXE_ENCAP,
        [1, 1, 1, 0xb1, 5, 1, 0x80, 0x86, 0x10, 0x0e],
    );
    m
}

/// A message whose options only fit by overloading `file` and `sname`.
fn overloaded() -> Vec<u8> {
    let mut m = pxe(MessageType::Offer, 3, 0x0bad_cafe, 0);
    m.op = Op::BootReply;
    for c in 200..212u8 {
        m.push_option(c, vec![c; 30]);
    }
    m.emit_within(576)
}

fn menu43() -> Vec<u8> {
    PxeVendorOptions {
        discovery_control: Some(DiscoveryControl(3)),
        boot_servers: Some(vec![BootServerEntry {
            kind: 0x8000,
            addrs: vec![Ipv4Addr::new(192, 168, 50, 1)],
        }]),
        boot_menu: Some(vec![
            MenuItem {
                kind: 0x8000,
                description: b"Install".to_vec(),
            },
            MenuItem {
                kind: 0,
                description: b"Local disk".to_vec(),
            },
        ]),
        menu_prompt: Some(MenuPrompt {
            timeout: 3,
            prompt: b"Press F8".to_vec(),
        }),
        boot_item: Some(BootItem {
            kind: 0x8000,
            layer: 0,
        }),
        mtftp_ip: Some(Ipv4Addr::new(224, 1, 1, 1)),
        mtftp_cport: Some(1758),
        mtftp_sport: Some(1759),
        mtftp_tmout: Some(1),
        mtftp_delay: Some(2),
        ..PxeVendorOptions::default()
    }
    .emit()
    .expect("the seed menu fits")
}

fn rrq(name: &str, options: &[(&str, &str)]) -> Vec<u8> {
    TftpPacket::Rrq {
        filename: name.into(),
        mode: "octet".into(),
        options: options
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    }
    .to_bytes()
}

fn ack(block: u16) -> Vec<u8> {
    TftpPacket::Ack { block }.to_bytes()
}

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    fs::create_dir_all(&d).expect("create corpus dir");
    fs::write(d.join(format!("seed-{name}")), bytes).expect("write seed");
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");

    // dhcp_message
    let msgs: [(&str, Vec<u8>); 6] = [
        ("ipxe-discover", ipxe_discover()),
        ("edk2-discover", edk2_discover()),
        ("dnsmasq-proxy-offer", dnsmasq_proxy_offer()),
        ("pxe-request", select(1, 7, 7, [192, 168, 50, 100]).emit()),
        ("boot-request", boot_request(1, 9, 0, 0x8000).emit()),
        ("overloaded", overloaded()),
    ];
    for (name, bytes) in &msgs {
        write(&dir, "dhcp_message", name, bytes);
    }

    // pxe_options
    let opts: [(&str, Vec<u8>); 8] = [
        ("dnsmasq-43", dnsmasq_opt43()),
        ("menu-43", menu43()),
        ("class-60", b"PXEClient:Arch:00007:UNDI:003016".to_vec()),
        (
            "http-class-60",
            b"HTTPClient:Arch:00016:UNDI:003001".to_vec(),
        ),
        ("arch-93", vec![0, 7, 0, 0]),
        ("user-class-77", b"iPXE".to_vec()),
        ("rfc3004-77", b"\x04iPXE\x03abc".to_vec()),
        (
            "ipxe-175",
            vec![1, 1, 1, 0xb1, 5, 1, 0x80, 0x86, 0x10, 0x0e, 0xb0, 1, 1],
        ),
    ];
    for (name, bytes) in &opts {
        write(&dir, "pxe_options", name, bytes);
    }

    // tftp_packet
    let packets: [(&str, Vec<u8>); 6] = [
        (
            "rrq-options",
            rrq(
                "pxelinux.cfg/01-52-54-00-12-34-56",
                &[("blksize", "1468"), ("tsize", "0"), ("windowsize", "4")],
            ),
        ),
        ("rrq-windows", rrq("boot\\bcd", &[])),
        (
            "data",
            TftpPacket::Data {
                block: 1,
                data: vec![0x55; 32],
            }
            .to_bytes(),
        ),
        ("ack", ack(65535)),
        (
            "error",
            TftpPacket::Error {
                code: ErrorCode::FileNotFound,
                message: "file not found".into(),
            }
            .to_bytes(),
        ),
        (
            "oack",
            TftpPacket::Oack {
                options: vec![
                    ("blksize".into(), "512".into()),
                    ("tsize".into(), "1024".into()),
                ],
            }
            .to_bytes(),
        ),
    ];
    for (name, bytes) in &packets {
        write(&dir, "tftp_packet", name, bytes);
    }

    // dhcp_server: config byte, then records (ctl, tick, payload). ctl 0 is a
    // broadcast from 0.0.0.0:68; 9 is 192.168.50.100:68 to the server's 4011.
    let mut pxe_boot = vec![0x02];
    pxe_boot.extend(record(0, 0, &pxe(MessageType::Discover, 1, 1, 7).emit()));
    pxe_boot.extend(record(0, 3, &select(1, 1, 7, [192, 168, 50, 100]).emit()));
    pxe_boot.extend(record(9, 5, &boot_request(1, 2, 7, 0x8000).emit()));
    pxe_boot.extend(record(0, 6, &ipxe(MessageType::Discover, 1, 3).emit()));
    pxe_boot.extend(record(0, 3, &client(MessageType::Release, 1, 4).emit()));
    write(&dir, "dhcp_server", "pxe-boot", &pxe_boot);

    let mut crowded = vec![0x1f];
    for n in 1..=4u8 {
        crowded.extend(record(
            0,
            1,
            &pxe(MessageType::Discover, n, n.into(), 0).emit(),
        ));
        crowded.extend(record(
            0,
            2,
            &select(n, n.into(), 0, [192, 168, 50, 100 + n]).emit(),
        ));
    }
    crowded.extend(record(0, 2, &client(MessageType::Decline, 1, 9).emit()));
    crowded.extend(record(0, 13, &client(MessageType::Inform, 1, 10).emit()));
    write(&dir, "dhcp_server", "crowded", &crowded);

    // tftp_session: config byte, then records. ctl 0 goes to port 69 from the
    // first client; 1 to its session.
    let mut negotiated = vec![0x00];
    negotiated.extend(record(
        0,
        0,
        &rrq(
            "undionly.kpxe",
            &[("blksize", "512"), ("tsize", "0"), ("windowsize", "2")],
        ),
    ));
    for block in 0..=3 {
        negotiated.extend(record(1, 1, &ack(block)));
    }
    write(&dir, "tftp_session", "negotiated", &negotiated);

    let mut plain = vec![0x08];
    plain.extend(record(0, 0, &rrq("pxelinux.0", &[])));
    plain.extend(record(1, 1, &ack(1)));
    plain.extend(record(0x11, 6, &ack(1))); // another client to the session
    plain.extend(record(0x40, 0, &rrq("boot/bcd", &[("blksize", "8")])));
    plain.extend(record(
        0,
        0,
        &TftpPacket::Wrq {
            filename: "x".into(),
            mode: "octet".into(),
            options: vec![],
        }
        .to_bytes(),
    ));
    plain.extend(record(0x10, 0, &rrq("big", &[("blksize", "8")])));
    write(&dir, "tftp_session", "plain", &plain);

    multicast(&dir);
}

/// A multicast packet of the rig's session (7, see
/// reference/tests/multicast_rig/mod.rs).
fn mc(message: Message) -> Vec<u8> {
    Packet::new(7, message)
        .to_bytes()
        .expect("the seed packet fits")
}

/// multicast: config byte, then records. ctl 0 goes to the sender from the
/// receiver's address, 1 to the receiver from the sender's, bit 1 from a
/// stranger instead. The rig's image is 3000 bytes: slice 0 is blocks 0 and 1
/// (1024 bytes each), slice 1 one block of 952.
fn multicast(dir: &Path) {
    const RX: Mac = Mac([0x52, 0x54, 0, 0, 0, 0x10]);
    const STRANGER: Mac = Mac([0x02, 0, 0, 0, 0, 0x66]);
    let slice_ok = |receiver, slice, round| {
        mc(Message::SliceOk(SliceOk {
            receiver,
            slice,
            round,
        }))
    };

    // Two receivers needed: a stranger joins as the second and reports
    // whole slices it never got, then the receiver hears a forged Done.
    let mut stranger = vec![0x01];
    stranger.extend(record(2, 0, &mc(Message::Join(STRANGER))));
    stranger.extend(record(2, 2, &slice_ok(STRANGER, 0, 0)));
    stranger.extend(record(2, 2, &slice_ok(STRANGER, 1, 0)));
    stranger.extend(record(3, 4, &mc(Message::Done)));
    write(dir, "multicast", "stranger-joins", &stranger);

    // The receiver is fed, from the sender's own address, an announce of
    // another size, a block of the wrong bytes and a SliceEnd for it.
    let mut forged = vec![0x00];
    forged.extend(record(
        1,
        0,
        &mc(Message::Announce(Announce {
            image_name: "img".into(),
            image_size: 5000,
            sha256: [0; 32],
            block_len: 1024,
            slice_blocks: 2,
        })),
    ));
    forged.extend(record(
        1,
        1,
        &mc(Message::Data(Data {
            slice: 0,
            block: 0,
            payload: vec![0xaa; 1024],
        })),
    ));
    forged.extend(record(
        1,
        1,
        &mc(Message::SliceEnd(SliceEnd {
            slice: 0,
            round: 0,
            blocks: 2,
        })),
    ));
    forged.extend(record(1, 4, &slice_ok(RX, 0, 0)));
    write(dir, "multicast", "forged-to-receiver", &forged);

    // At most two repair rounds, paced Data: the receiver's address keeps
    // asking for every block of slice 0, then gives up on it.
    let mut repairs = vec![0x06];
    let all = BlockMap::full(2).expect("two blocks");
    for round in 0..3 {
        repairs.extend(record(
            0,
            2,
            &mc(Message::Nak(Nak {
                receiver: RX,
                slice: 0,
                round,
                missing: all.clone(),
            })),
        ));
    }
    repairs.extend(record(0, 5, &slice_ok(RX, 1, 0)));
    write(dir, "multicast", "repair-rounds", &repairs);
}
