//! The servers answering a real client: iPXE's DISCOVER captured from QEMU's
//! e1000 PXE ROM (the capture in `captures/mod.rs`, also parsed by tests/wire_pxe.rs).

mod captures;
mod dhcp_support;

use std::net::{Ipv4Addr, SocketAddrV4};

use captures::{QEMU_MAC, ipxe_discover};
use dhcp_support::*;
use pxelab_reference::dhcp::{DhcpEventKind, DhcpSettings};
use pxelab_reference::pxe::BootPolicy;
use pxelab_reference::wire::dhcp::{MessageType, code};
use pxelab_reference::{Instant, L2Dest};

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
