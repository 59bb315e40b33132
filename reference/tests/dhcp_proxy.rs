//! ProxyDHCP mode (PXE 2.1) and its hand-over to the boot server on 4011.

mod dhcp_support;

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcp_support::*;
use pxelab_reference::dhcp::{DhcpEventKind, IgnoreReason};
use pxelab_reference::pxe::{BootMenu, BootPolicy, BootServer, BootServerConfig, MenuItem};
use pxelab_reference::wire::dhcp::{DhcpMessage, MessageType, code};
use pxelab_reference::{Instant, L2Dest};

fn t0() -> Instant {
    Instant::from_secs(1)
}

fn offer_for(
    s: &mut pxelab_reference::dhcp::DhcpServer,
    msg: &DhcpMessage,
) -> Option<(pxelab_reference::Transmit, DhcpMessage)> {
    let bytes = msg.emit();
    s.handle_datagram(t0(), bcast(&bytes, msg.client_mac().unwrap()));
    replies(s).pop()
}

#[test]
fn non_pxe_clients_are_ignored() {
    let mut s = server(proxy_config(BootPolicy::default()));
    assert!(offer_for(&mut s, &discover(mac(1), 1)).is_none());
    assert_eq!(ignore_reasons(&mut s), [IgnoreReason::NotPxeClient]);
}

#[test]
fn bios_gets_the_pxe10_dialect_broadcast_with_yiaddr_zero() {
    let mut s = server(proxy_config(BootPolicy::default()));
    let (t, offer) = offer_for(&mut s, &pxe_discover(mac(1), 0x1234, 0)).unwrap();
    assert_eq!(offer.message_type(), Some(MessageType::Offer));
    assert_eq!(offer.xid, 0x1234);
    assert_eq!(offer.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(offer.server_id(), Some(SERVER));
    assert_pxe10_bios_offer(&offer);
    assert_eq!(offer.siaddr, SERVER);
    assert_eq!(offer.boot_file().as_deref(), Some(&b"undionly.kpxe"[..]));
    assert!(
        !offer.has_option(code::LEASE_TIME),
        "a proxy assigns nothing"
    );
    assert_eq!(t.dst, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
    assert_eq!(t.l2, L2Dest::Broadcast);
    let ev = events(&mut s);
    assert_eq!(ev[0].kind, DhcpEventKind::ProxyOffer);
    assert_eq!(ev[0].boot_file.as_deref(), Some("undionly.kpxe"));
}

#[test]
fn uefi_gets_the_binl_dialect_then_its_file_on_4011() {
    let policy = BootPolicy::default();
    let mut s = server(proxy_config(policy.clone()));
    let m = mac(2);
    let (_, offer) = offer_for(&mut s, &pxe_discover(m, 7, 7)).unwrap();
    assert_eq!(offer.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert!(!offer.has_option(code::VENDOR_SPECIFIC), "no 43 for UEFI");
    assert!(
        offer.boot_file().is_none() && offer.file.is_empty(),
        "no boot file: the client asks on 4011"
    );
    assert_eq!(
        offer.option(code::VENDOR_CLASS).as_deref(),
        Some(&b"PXEClient"[..])
    );

    // The client got its address elsewhere and now asks the proxy on 4011.
    let client = Ipv4Addr::new(192, 168, 50, 123);
    let mut req = client_msg(MessageType::Request, m, 8);
    req.ciaddr = client;
    make_pxe(&mut req, 7);
    let bytes = req.emit();
    let mut boot = BootServer::new(BootServerConfig {
        server_addr: SERVER,
        policy,
        respond_delay: Default::default(),
        reserved_files: Default::default(),
        access: Default::default(),
    });
    let from = SocketAddrV4::new(client, 68);
    boot.handle_datagram(
        t0(),
        unicast(&bytes, from, SocketAddrV4::new(SERVER, 4011), m),
    );
    let (t, ack) = one_reply(&mut boot);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.xid, 8);
    assert_eq!(ack.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(ack.siaddr, SERVER);
    assert_eq!(ack.boot_file().as_deref(), Some(&b"ipxe.efi"[..]));
    assert_eq!(
        ack.option(code::VENDOR_CLASS).as_deref(),
        Some(&b"PXEClient"[..])
    );
    assert_eq!(ack.option(code::CLIENT_UUID).as_deref(), Some(&UUID[..]));
    assert_eq!(t.dst, from, "unicast back to where the request came from");
    assert_eq!(t.src, SocketAddrV4::new(SERVER, 4011));
    assert_eq!(t.l2, L2Dest::Unicast(m));
    let ev = events(&mut boot);
    assert_eq!(ev[0].kind, DhcpEventKind::BootAck { item: None });
    assert_eq!(ev[0].boot_file.as_deref(), Some("ipxe.efi"));
}

#[test]
fn ipxe_gets_the_script_never_the_binary() {
    let mut s = server(proxy_config(BootPolicy::default()));
    for (n, arch) in [(1u8, 0u16), (2, 7)] {
        let mut d = pxe_discover(mac(n), u32::from(n), arch);
        make_ipxe(&mut d);
        let (_, offer) = offer_for(&mut s, &d).unwrap();
        assert_eq!(
            offer.boot_file().as_deref(),
            Some(&b"boot.ipxe"[..]),
            "arch {arch}"
        );
        assert!(!offer.has_option(code::VENDOR_SPECIFIC), "no menu for iPXE");
    }
}

#[test]
fn requests_to_67_are_not_for_the_proxy() {
    let mut s = server(proxy_config(BootPolicy::default()));
    let mut r = select(
        mac(1),
        1,
        Ipv4Addr::new(192, 168, 50, 254),
        Ipv4Addr::new(192, 168, 50, 9),
    );
    make_pxe(&mut r, 0);
    assert!(offer_for(&mut s, &r).is_none());
    assert_eq!(ignore_reasons(&mut s), [IgnoreReason::NotForProxy]);
}

fn menu_policy() -> BootPolicy {
    BootPolicy {
        menu: Some(BootMenu {
            prompt: "Press F8".into(),
            timeout_secs: 5,
            discovery_control: 3,
            items: vec![
                MenuItem {
                    item_type: 0,
                    description: "Local".into(),
                    file: None,
                },
                MenuItem {
                    item_type: 0x8000,
                    description: "Install".into(),
                    file: Some("install.0".into()),
                },
            ],
        }),
        ..BootPolicy::default()
    }
}

#[test]
fn bios_gets_the_menu_when_one_is_configured() {
    let mut s = server(proxy_config(menu_policy()));
    let (_, offer) = offer_for(&mut s, &pxe_discover(mac(1), 1, 0)).unwrap();
    let o43 = offer.option(code::VENDOR_SPECIFIC).unwrap().into_owned();
    let expected: Vec<u8> = [
        &[6, 1, 3][..],
        &[8, 7, 0x80, 0x00, 1, 192, 168, 50, 1],
        &[9, 18, 0, 0, 5, b'L', b'o', b'c', b'a', b'l', 0x80, 0, 7],
        b"Install",
        &[10, 9, 5],
        b"Press F8",
        &[255],
    ]
    .concat();
    assert_eq!(o43, expected);
    // UEFI still gets BINL: no 43.
    let (_, offer) = offer_for(&mut s, &pxe_discover(mac(2), 2, 7)).unwrap();
    assert!(!offer.has_option(code::VENDOR_SPECIFIC));
}

#[test]
fn boot_server_discovery_broadcast_to_67_is_answered() {
    let mut s = server(proxy_config(menu_policy()));
    let client = Ipv4Addr::new(192, 168, 50, 123);
    let mut r = client_msg(MessageType::Request, mac(1), 3);
    r.ciaddr = client;
    make_pxe(&mut r, 0);
    r.push_option(code::VENDOR_SPECIFIC, [71, 4, 0x80, 0, 0, 0, 255]);
    let bytes = r.emit();
    s.handle_datagram(
        t0(),
        unicast(
            &bytes,
            SocketAddrV4::new(client, 68),
            SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
            mac(1),
        ),
    );
    let (t, ack) = one_reply(&mut s);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.file, b"install.0");
    assert_eq!(
        ack.option(code::VENDOR_SPECIFIC).as_deref(),
        Some(&[71, 4, 0x80, 0, 0, 0, 255][..])
    );
    assert_eq!(t.dst, SocketAddrV4::new(client, 68));
}

#[test]
fn relayed_proxy_offers_go_to_the_relay_with_the_broadcast_bit() {
    let mut s = server(proxy_config(BootPolicy::default()));
    let mut d = pxe_discover(mac(1), 1, 0);
    d.giaddr = Ipv4Addr::new(10, 20, 0, 1);
    let bytes = d.emit();
    let relay = SocketAddrV4::new(d.giaddr, 67);
    s.handle_datagram(t0(), to_server(&bytes, relay, mac(99)));
    let (t, offer) = one_reply(&mut s);
    assert_eq!(t.dst, relay);
    assert!(offer.broadcast_flag(), "yiaddr 0: the relay must broadcast");
    assert_eq!(offer.giaddr, d.giaddr);
}
