//! The servers answering a real client: iPXE's DISCOVER captured from QEMU's
//! e1000 PXE ROM (the same capture as tests/wire_pxe.rs).

mod dhcp_support;

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcp_support::*;
use pxelab_reference::dhcp::{DhcpEventKind, DhcpSettings};
use pxelab_reference::pxe::BootPolicy;
use pxelab_reference::wire::dhcp::{MessageType, code};
use pxelab_reference::{Instant, L2Dest, Mac};

fn capture(head: &str, opts: &str, total: usize) -> Vec<u8> {
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let mut b = hex(head);
    b.resize(236, 0);
    b.extend(hex(opts));
    b.resize(total, 0);
    b
}

fn ipxe_discover() -> Vec<u8> {
    capture(
        "010106006674e97f000400000000000000000000000000000000000052540012345600000000000000000000",
        concat!(
            "63825363350101390205c05d0200005e030102013c20505845436c69656e743a417263683a3030303030",
            "3a554e44493a3030323030314d04695058453717010306070c0f111a2b3c4243778081828384858687af",
            "cbaf30b105018086100eeb030100001701012201011301011101012701011901012901011001022101",
            "011501011801011201013d070152540012345661110000000000000000000000000000000000ff",
        ),
        400,
    )
}

const QEMU_MAC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

#[test]
fn full_mode_offers_ipxe_its_script() {
    let mut s = server(full_config(DhcpSettings::default()));
    let bytes = ipxe_discover();
    s.handle_datagram(Instant::ZERO, bcast(&bytes, QEMU_MAC));
    let (t, offer) = one_reply(&mut s);
    assert_eq!(offer.xid, 0x6674_e97f);
    assert_eq!(offer.message_type(), Some(MessageType::Offer));
    assert!(local_pool().first <= offer.yiaddr && offer.yiaddr <= local_pool().last);
    assert_eq!(offer.siaddr, SERVER);
    // iPXE asks for 67 in option 55, so it gets both the field and option 67.
    assert_eq!(offer.file, b"boot.ipxe");
    assert_eq!(offer.boot_file().as_deref(), Some(&b"boot.ipxe"[..]));
    assert!(
        !offer.has_option(code::VENDOR_SPECIFIC),
        "no menu or 43.6 for iPXE"
    );
    assert_eq!(t.l2, L2Dest::Unicast(QEMU_MAC));
    assert!(t.payload.len() <= 1472, "within iPXE's option 57");
    let ev = s.poll_event().unwrap();
    assert_eq!(ev.kind, DhcpEventKind::Offer);
    assert_eq!(ev.boot_file.as_deref(), Some("boot.ipxe"));
}

#[test]
fn proxy_mode_offers_ipxe_its_script_with_the_uuid_echoed() {
    let mut s = server(proxy_config(BootPolicy::default()));
    let bytes = ipxe_discover();
    s.handle_datagram(Instant::ZERO, bcast(&bytes, QEMU_MAC));
    let (t, offer) = one_reply(&mut s);
    assert_eq!(offer.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(offer.server_id(), Some(SERVER));
    assert_eq!(
        offer.option(code::VENDOR_CLASS).as_deref(),
        Some(&b"PXEClient"[..])
    );
    assert_eq!(
        offer.option(code::CLIENT_UUID).as_deref(),
        Some(&[0u8; 17][..])
    );
    assert_eq!(offer.boot_file().as_deref(), Some(&b"boot.ipxe"[..]));
    assert_eq!(t.dst, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
}
