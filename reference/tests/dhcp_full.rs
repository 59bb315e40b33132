//! Full-mode DHCP server behaviour (RFC 2131 §4.3), driven in memory.

mod dhcp_support;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use dhcp_support::*;
use pxelab_reference::dhcp::{
    DhcpEventKind, DhcpMode, DhcpSettings, IgnoreReason, NakReason, PoolConfig, Reservation,
};
use pxelab_reference::wire::dhcp::{MIN_EMIT_LEN, MessageType, Op, code};
use pxelab_reference::{Instant, L2Dest, Mac};

fn t0() -> Instant {
    Instant::from_secs(5)
}

#[test]
fn dora_has_the_fields_clients_rely_on() {
    let mut s = server(full_config(DhcpSettings::default()));
    let m = mac(1);
    let bytes = discover(m, 0xdead_beef).emit();
    s.handle_datagram(t0(), bcast(&bytes, m));
    let (t, offer) = one_reply(&mut s);
    assert!(
        t.payload.len() >= MIN_EMIT_LEN,
        "replies are padded to 300 bytes"
    );
    assert_eq!(offer.op, Op::BootReply);
    assert_eq!(offer.xid, 0xdead_beef);
    assert_eq!(offer.message_type(), Some(MessageType::Offer));
    assert!(local_pool().first <= offer.yiaddr && offer.yiaddr <= local_pool().last);
    assert_eq!(offer.server_id(), Some(SERVER));
    assert_eq!(u32_opt(&offer, code::LEASE_TIME), Some(3600));
    assert_eq!(u32_opt(&offer, code::RENEWAL_TIME), Some(1800));
    assert_eq!(u32_opt(&offer, code::REBINDING_TIME), Some(3150));
    assert_eq!(ip_opt(&offer, code::SUBNET_MASK), Some(MASK));
    assert!(
        !offer.has_option(code::ROUTER),
        "no router unless configured"
    );
    assert_eq!(offer.client_mac(), Some(m));
    // Broadcast flag clear, MAC known: unicast to yiaddr at the client's MAC.
    assert_eq!(t.dst, SocketAddrV4::new(offer.yiaddr, 68));
    assert_eq!(t.l2, L2Dest::Unicast(m));
    assert_eq!(t.src, SocketAddrV4::new(SERVER, 67));
    let ev = events(&mut s);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, DhcpEventKind::Offer);
    assert_eq!(
        (ev[0].mac, ev[0].xid, ev[0].yiaddr),
        (Some(m), 0xdead_beef, Some(offer.yiaddr))
    );

    let bytes = select(m, 0xdead_beef, SERVER, offer.yiaddr).emit();
    s.handle_datagram(t0(), bcast(&bytes, m));
    let (_, ack) = one_reply(&mut s);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr, offer.yiaddr);
    assert_eq!(ack.xid, 0xdead_beef);
    assert_eq!(u32_opt(&ack, code::LEASE_TIME), Some(3600));
    assert_eq!(s.lease_of(m, t0()), Some(offer.yiaddr));
    assert_eq!(events(&mut s)[0].kind, DhcpEventKind::Ack);
}

#[test]
fn broadcast_flag_gets_a_broadcast_reply() {
    let mut s = server(full_config(DhcpSettings::default()));
    let (t, _) = exchange(&mut s, t0(), &with_broadcast(discover(mac(1), 1)));
    assert_eq!(t.dst, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
    assert_eq!(t.l2, L2Dest::Broadcast);
}

#[test]
fn clients_get_distinct_addresses_and_keep_theirs() {
    let mut s = server(full_config(DhcpSettings::default()));
    let a = dora(&mut s, t0(), mac(1), 1);
    let b = dora(&mut s, t0(), mac(2), 2);
    assert_ne!(a, b);
    // A returning client is offered its previous lease.
    let (_, offer) = exchange(&mut s, t0(), &discover(mac(1), 3));
    assert_eq!(offer.yiaddr, a);
}

#[test]
fn requested_address_is_offered_when_free() {
    let mut s = server(full_config(DhcpSettings::default()));
    let mut d = discover(mac(1), 1);
    d.push_option(code::REQUESTED_IP, [192, 168, 50, 150]);
    let (_, offer) = exchange(&mut s, t0(), &d);
    assert_eq!(offer.yiaddr, Ipv4Addr::new(192, 168, 50, 150));
}

#[test]
fn an_offer_is_held_for_its_client() {
    let mut s = server(full_config(DhcpSettings::default()));
    let (_, o1) = exchange(&mut s, t0(), &discover(mac(1), 1));
    let mut d = discover(mac(2), 2);
    d.push_option(code::REQUESTED_IP, o1.yiaddr.octets());
    let (_, o2) = exchange(&mut s, t0(), &d);
    assert_ne!(
        o1.yiaddr, o2.yiaddr,
        "held offer not given to another client"
    );
    // After the hold time the address is free again (for a client that has no
    // previous address of its own, which it would be offered first).
    let later = t0() + Duration::from_secs(61);
    let mut d = discover(mac(3), 3);
    d.push_option(code::REQUESTED_IP, o1.yiaddr.octets());
    let (_, o3) = exchange(&mut s, later, &d);
    assert_eq!(o3.yiaddr, o1.yiaddr);
}

fn reservation(m: u8, ip: [u8; 4], boot_file: Option<&str>) -> Reservation {
    Reservation {
        mac: mac(m),
        ip: Ipv4Addr::from(ip),
        boot_file: boot_file.map(str::to_string),
    }
}

#[test]
fn reservation_is_honoured_and_kept_from_others() {
    let settings = DhcpSettings {
        reservations: vec![reservation(7, [192, 168, 50, 20], Some("special.kpxe"))],
        ..DhcpSettings::default()
    };
    let mut s = server(full_config(settings));
    let mut d = pxe_discover(mac(7), 1, 0);
    d.push_option(code::REQUESTED_IP, [192, 168, 50, 120]);
    let (_, offer) = exchange(&mut s, t0(), &d);
    assert_eq!(
        offer.yiaddr,
        Ipv4Addr::new(192, 168, 50, 20),
        "reservation wins over option 50"
    );
    assert_eq!(offer.file, b"special.kpxe");
    // Another client asking for the reserved address does not get it.
    let mut other = discover(mac(8), 2);
    other.push_option(code::REQUESTED_IP, [192, 168, 50, 20]);
    let (_, o2) = exchange(&mut s, t0(), &other);
    assert_ne!(o2.yiaddr, Ipv4Addr::new(192, 168, 50, 20));
    let (_, nak) = exchange(
        &mut s,
        t0(),
        &select(mac(8), 2, SERVER, Ipv4Addr::new(192, 168, 50, 20)),
    );
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
}

fn ignored(settings: DhcpSettings, m: u8) -> Option<IgnoreReason> {
    let mut s = server(full_config(settings));
    let bytes = discover(mac(m), 1).emit();
    s.handle_datagram(t0(), bcast(&bytes, mac(m)));
    let sent = replies(&mut s).len();
    match events(&mut s).remove(0).kind {
        DhcpEventKind::Ignored(r) => {
            assert_eq!(sent, 0);
            Some(r)
        }
        _ => {
            assert_eq!(sent, 1);
            None
        }
    }
}

#[test]
fn known_only_allow_and_deny_lists_pick_the_right_clients() {
    let known = DhcpSettings {
        known_clients_only: true,
        reservations: vec![reservation(1, [192, 168, 50, 10], None)],
        ..DhcpSettings::default()
    };
    assert_eq!(ignored(known.clone(), 1), None);
    assert_eq!(ignored(known, 2), Some(IgnoreReason::UnknownClient));

    let deny = DhcpSettings {
        deny: vec![mac(2)],
        ..DhcpSettings::default()
    };
    assert_eq!(ignored(deny.clone(), 1), None);
    assert_eq!(ignored(deny, 2), Some(IgnoreReason::Denied));

    let allow = DhcpSettings {
        allow: vec![mac(1), mac(2)],
        deny: vec![mac(2)],
        ..DhcpSettings::default()
    };
    assert_eq!(ignored(allow.clone(), 1), None);
    assert_eq!(
        ignored(allow.clone(), 2),
        Some(IgnoreReason::Denied),
        "deny wins over allow"
    );
    assert_eq!(ignored(allow, 3), Some(IgnoreReason::NotAllowed));
}

#[test]
fn respond_delay_holds_replies_until_their_instant() {
    let mut s = server(full_config(DhcpSettings {
        respond_delay_ms: 1500,
        ..DhcpSettings::default()
    }));
    let bytes = discover(mac(1), 1).emit();
    s.handle_datagram(t0(), bcast(&bytes, mac(1)));
    assert!(s.poll_transmit().is_none());
    let due = t0() + Duration::from_millis(1500);
    assert_eq!(s.poll_timeout(), Some(due));
    s.handle_timeout(due - Duration::from_millis(1));
    assert!(s.poll_transmit().is_none());
    s.handle_timeout(due);
    let (_, offer) = one_reply(&mut s);
    assert_eq!(offer.message_type(), Some(MessageType::Offer));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn relayed_discover_is_answered_to_the_relay_from_its_subnet_pool() {
    let mut cfg = full_config(DhcpSettings::default());
    let mut relay_pool: PoolConfig = "10.20.0.50-10.20.0.60".parse().unwrap();
    relay_pool.router = Some(Ipv4Addr::new(10, 20, 0, 1));
    cfg.mode = DhcpMode::Full {
        pools: vec![local_pool(), relay_pool],
    };
    let mut s = server(cfg);
    let mut d = discover(mac(1), 9);
    d.giaddr = Ipv4Addr::new(10, 20, 0, 1);
    d.hops = 1;
    let bytes = d.emit();
    let relay = SocketAddrV4::new(Ipv4Addr::new(10, 20, 0, 1), 67);
    s.handle_datagram(t0(), to_server(&bytes, relay, mac(99)));
    let (t, offer) = one_reply(&mut s);
    assert_eq!(t.dst, relay);
    assert_eq!(t.l2, L2Dest::Unicast(mac(99)), "to the relay's MAC");
    assert_eq!(offer.giaddr, Ipv4Addr::new(10, 20, 0, 1));
    let y = u32::from(offer.yiaddr);
    assert!(
        (u32::from(Ipv4Addr::new(10, 20, 0, 50))..=u32::from(Ipv4Addr::new(10, 20, 0, 60)))
            .contains(&y)
    );
    assert_eq!(
        ip_opt(&offer, code::ROUTER),
        Some(Ipv4Addr::new(10, 20, 0, 1))
    );
    events(&mut s); // the OFFER's

    // Real sockets do not tell the relay's MAC: the reply is still a unicast to
    // giaddr (the IP layer resolves the router), never a broadcast to port 67.
    s.handle_datagram(t0(), to_server(&bytes, relay, Mac::ZERO));
    let (t, _) = one_reply(&mut s);
    assert_eq!((t.dst, t.l2), (relay, L2Dest::Unicast(Mac::ZERO)));
    events(&mut s);

    // A relay on a subnet no pool serves gets nothing.
    d.giaddr = Ipv4Addr::new(10, 99, 0, 1);
    let bytes = d.emit();
    s.handle_datagram(t0(), to_server(&bytes, relay, mac(99)));
    assert_eq!(ignore_reasons(&mut s), [IgnoreReason::NoPool]);
}

#[test]
fn release_frees_the_address_and_the_client_gets_it_again() {
    let mut s = server(full_config(DhcpSettings::default()));
    let ip = dora(&mut s, t0(), mac(1), 1);
    let mut rel = client_msg(MessageType::Release, mac(1), 2);
    rel.ciaddr = ip;
    rel.push_option(code::SERVER_ID, SERVER.octets());
    let bytes = rel.emit();
    s.handle_datagram(t0(), to_server(&bytes, SocketAddrV4::new(ip, 68), mac(1)));
    assert!(replies(&mut s).is_empty(), "RELEASE has no reply");
    let ev = events(&mut s);
    assert_eq!(
        (ev[0].kind.clone(), ev[0].yiaddr),
        (DhcpEventKind::Release, Some(ip))
    );
    assert_eq!(s.lease_of(mac(1), t0()), None);
    let (_, offer) = exchange(&mut s, t0(), &discover(mac(1), 3));
    assert_eq!(offer.yiaddr, ip);
}

#[test]
fn declined_address_is_not_offered_again_for_a_while() {
    let mut s = server(full_config(DhcpSettings::default()));
    let ip = dora(&mut s, t0(), mac(1), 1);
    let mut dec = client_msg(MessageType::Decline, mac(1), 2);
    dec.push_option(code::REQUESTED_IP, ip.octets());
    dec.push_option(code::SERVER_ID, SERVER.octets());
    let bytes = dec.emit();
    s.handle_datagram(t0(), bcast(&bytes, mac(1)));
    assert!(replies(&mut s).is_empty());
    assert_eq!(events(&mut s)[0].kind, DhcpEventKind::Decline);
    for (m, xid) in [(1, 3), (2, 4)] {
        let mut d = discover(mac(m), xid);
        d.push_option(code::REQUESTED_IP, ip.octets());
        let (_, offer) = exchange(&mut s, t0(), &d);
        assert_ne!(offer.yiaddr, ip);
    }
    let (_, offer) = exchange(&mut s, t0() + Duration::from_secs(601), &{
        let mut d = discover(mac(3), 5);
        d.push_option(code::REQUESTED_IP, ip.octets());
        d
    });
    assert_eq!(offer.yiaddr, ip, "back in the pool after decline_hold_secs");
}

#[test]
fn inform_gets_configuration_without_an_address() {
    let mut s = server(full_config(DhcpSettings::default()));
    let client = Ipv4Addr::new(192, 168, 50, 7);
    let mut inf = client_msg(MessageType::Inform, mac(1), 5);
    inf.ciaddr = client;
    let bytes = inf.emit();
    s.handle_datagram(
        t0(),
        to_server(&bytes, SocketAddrV4::new(client, 68), mac(1)),
    );
    let (t, ack) = one_reply(&mut s);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert!(!ack.has_option(code::LEASE_TIME));
    assert_eq!(ack.server_id(), Some(SERVER));
    assert_eq!(ip_opt(&ack, code::SUBNET_MASK), Some(MASK));
    assert_eq!(t.dst, SocketAddrV4::new(client, 68));
    assert_eq!(events(&mut s)[0].kind, DhcpEventKind::Inform);
}

#[test]
fn wrong_addresses_get_a_broadcast_nak() {
    let mut s = server(full_config(DhcpSettings::default()));
    let ip = dora(&mut s, t0(), mac(1), 1);
    // INIT-REBOOT on another subnet.
    let mut r = client_msg(MessageType::Request, mac(2), 2);
    r.push_option(code::REQUESTED_IP, [10, 9, 9, 9]);
    let bytes = r.emit();
    s.handle_datagram(t0(), bcast(&bytes, mac(2)));
    assert_eq!(
        events(&mut s)[0].kind,
        DhcpEventKind::Nak(NakReason::WrongSubnet)
    );
    let (t, nak) = one_reply(&mut s);
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    assert_eq!(nak.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert!(!nak.has_option(code::LEASE_TIME));
    assert_eq!(t.dst, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
    // SELECTING an address leased to someone else.
    let bytes = select(mac(2), 3, SERVER, ip).emit();
    s.handle_datagram(t0(), bcast(&bytes, mac(2)));
    assert_eq!(
        events(&mut s)[0].kind,
        DhcpEventKind::Nak(NakReason::AddressTaken)
    );
    let (_, nak) = one_reply(&mut s);
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    assert_eq!(s.lease_of(mac(1), t0()), Some(ip));
}

#[test]
fn init_reboot_and_renewal() {
    let mut s = server(full_config(DhcpSettings::default()));
    let ip = dora(&mut s, t0(), mac(1), 1);
    // INIT-REBOOT with its own address: ACK.
    let mut r = client_msg(MessageType::Request, mac(1), 2);
    r.push_option(code::REQUESTED_IP, ip.octets());
    let (_, ack) = exchange(&mut s, t0(), &r);
    assert_eq!(
        (ack.message_type(), ack.yiaddr),
        (Some(MessageType::Ack), ip)
    );
    // INIT-REBOOT from a client the server never saw, on the right subnet: silence.
    let mut r = client_msg(MessageType::Request, mac(5), 3);
    r.push_option(code::REQUESTED_IP, [192, 168, 50, 180]);
    let bytes = r.emit();
    s.handle_datagram(t0(), bcast(&bytes, mac(5)));
    assert_eq!(ignore_reasons(&mut s), [IgnoreReason::NoRecord]);
    // RENEWING: unicast with ciaddr; ACK goes to ciaddr and extends the lease.
    let later = t0() + Duration::from_secs(1800);
    let mut r = client_msg(MessageType::Request, mac(1), 4);
    r.ciaddr = ip;
    let bytes = r.emit();
    s.handle_datagram(later, to_server(&bytes, SocketAddrV4::new(ip, 68), mac(1)));
    let (t, ack) = one_reply(&mut s);
    assert_eq!(
        (ack.message_type(), ack.yiaddr, ack.ciaddr),
        (Some(MessageType::Ack), ip, ip)
    );
    assert_eq!(t.dst, SocketAddrV4::new(ip, 68));
    assert_eq!(
        s.lease_of(mac(1), t0() + Duration::from_secs(3700)),
        Some(ip)
    );
}

#[test]
fn selecting_another_server_frees_our_offer() {
    let mut s = server(full_config(DhcpSettings::default()));
    let (_, offer) = exchange(&mut s, t0(), &discover(mac(1), 1));
    let bytes = select(
        mac(1),
        1,
        Ipv4Addr::new(192, 168, 50, 254),
        Ipv4Addr::new(192, 168, 50, 77),
    )
    .emit();
    s.handle_datagram(t0(), bcast(&bytes, mac(1)));
    assert_eq!(ignore_reasons(&mut s), [IgnoreReason::OtherServerSelected]);
    let mut d = discover(mac(2), 2);
    d.push_option(code::REQUESTED_IP, offer.yiaddr.octets());
    let (_, o2) = exchange(&mut s, t0(), &d);
    assert_eq!(o2.yiaddr, offer.yiaddr);
}

#[test]
fn pxe_clients_get_boot_information_by_architecture() {
    let mut s = server(full_config(DhcpSettings::default()));
    // BIOS: PXE10 offer, 43.6 = 8 and the file; 67 because 55 asks for it.
    let (_, offer) = exchange(&mut s, t0(), &pxe_discover(mac(1), 1, 0));
    assert_eq!(offer.siaddr, SERVER);
    assert_eq!(offer.file, b"undionly.kpxe");
    assert_eq!(offer.boot_file().as_deref(), Some(&b"undionly.kpxe"[..]));
    assert_pxe10_bios_offer(&offer);
    assert_eq!(events(&mut s).len(), 0, "exchange drained the event");
    // UEFI x64: ipxe.efi, no option 43 (BINL: it may ask on 4011).
    let (_, offer) = exchange(&mut s, t0(), &pxe_discover(mac(2), 2, 7));
    assert_eq!(offer.file, b"ipxe.efi");
    assert!(!offer.has_option(code::VENDOR_SPECIFIC));
    // iPXE: the script, whatever the architecture.
    let mut d = pxe_discover(mac(3), 3, 7);
    make_ipxe(&mut d);
    let (_, offer) = exchange(&mut s, t0(), &d);
    assert_eq!(offer.boot_file().as_deref(), Some(&b"boot.ipxe"[..]));
    // Without 67 in option 55: only the file field.
    let mut d = discover(mac(4), 4);
    d.push_option(code::VENDOR_CLASS, *b"PXEClient:Arch:00000:UNDI:002001");
    let (_, offer) = exchange(&mut s, t0(), &d);
    assert_eq!(offer.file, b"undionly.kpxe");
    assert!(!offer.has_option(code::BOOTFILE_NAME));
    // Non-PXE clients get no boot information.
    let (_, offer) = exchange(&mut s, t0(), &discover(mac(5), 5));
    assert!(offer.file.is_empty() && !offer.has_option(code::VENDOR_CLASS));
    assert_eq!(offer.siaddr, Ipv4Addr::UNSPECIFIED);
}

#[test]
fn reply_respects_the_clients_maximum_size() {
    let mut s = server(full_config(DhcpSettings::default()));
    let mut d = pxe_discover(mac(1), 1, 0);
    d.set_option(code::MAX_MESSAGE_SIZE, 576u16.to_be_bytes());
    let (t, _) = exchange(&mut s, t0(), &d);
    assert!(t.payload.len() <= 576);
}

#[test]
fn garbage_and_server_messages_are_ignored() {
    let mut s = server(full_config(DhcpSettings::default()));
    s.handle_datagram(t0(), bcast(&[1, 2, 3], mac(1)));
    let mut offer = discover(mac(1), 1);
    offer.op = Op::BootReply;
    let bytes = offer.emit();
    s.handle_datagram(t0(), bcast(&bytes, mac(1)));
    let why = ignore_reasons(&mut s);
    assert!(matches!(why[0], IgnoreReason::Malformed(_)), "{why:?}");
    assert_eq!(why[1..], [IgnoreReason::NotAClientRequest]);
}

#[test]
fn full_mode_sends_the_menu_to_pxe_clients_but_not_to_ipxe() {
    use pxelab_reference::pxe::{BootMenu, BootPolicy, MenuItem};
    let mut cfg = full_config(DhcpSettings::default());
    cfg.boot = BootPolicy {
        menu: Some(BootMenu {
            prompt: "F8".into(),
            timeout_secs: 3,
            discovery_control: 3,
            items: vec![MenuItem {
                item_type: 0x8000,
                description: "Install".into(),
                file: Some("install.0".into()),
            }],
        }),
        ..BootPolicy::default()
    };
    let mut s = server(cfg);
    for arch in [0, 7] {
        let (_, offer) = exchange(&mut s, t0(), &pxe_discover(mac(arch as u8 + 1), 1, arch));
        let o43 = offer
            .option(code::VENDOR_SPECIFIC)
            .expect("menu in option 43")
            .into_owned();
        assert_eq!(&o43[..3], &[6, 1, 3], "discovery control first");
        assert!(o43.windows(7).any(|w| w == b"Install"));
    }
    let mut d = pxe_discover(mac(9), 2, 0);
    make_ipxe(&mut d);
    let (_, offer) = exchange(&mut s, t0(), &d);
    assert!(!offer.has_option(code::VENDOR_SPECIFIC));
    // Boot-server discovery broadcast to 67 is answered with the item's file,
    // not treated as a lease request.
    let mut r = client_msg(MessageType::Request, mac(1), 3);
    make_pxe(&mut r, 0);
    r.ciaddr = Ipv4Addr::new(192, 168, 50, 100);
    r.push_option(code::VENDOR_SPECIFIC, [71, 4, 0x80, 0, 0, 0, 255]);
    let (_, ack) = exchange(&mut s, t0(), &r);
    assert_eq!(ack.file, b"install.0");
    assert_eq!(ack.yiaddr, Ipv4Addr::UNSPECIFIED);
}

#[test]
fn http_boot_clients_get_the_url_only_when_configured() {
    let mut cfg = full_config(DhcpSettings::default());
    let mut d = discover(mac(1), 1);
    d.push_option(code::VENDOR_CLASS, *b"HTTPClient:Arch:00016:UNDI:003000");
    d.push_option(code::CLIENT_ARCH, 16u16.to_be_bytes());
    let mut s = server(cfg.clone());
    let (_, offer) = exchange(&mut s, t0(), &d);
    assert!(offer.file.is_empty(), "no URL configured: address only");
    assert_ne!(offer.yiaddr, Ipv4Addr::UNSPECIFIED);
    cfg.boot.http_url = Some("http://192.168.50.1/ipxe.efi".into());
    let mut s = server(cfg);
    let (_, offer) = exchange(&mut s, t0(), &d);
    assert_eq!(offer.file, b"http://192.168.50.1/ipxe.efi");
    assert_eq!(
        offer.option(code::VENDOR_CLASS).as_deref(),
        Some(&b"HTTPClient"[..])
    );
}

#[test]
fn a_nak_through_a_relay_goes_to_the_relay_with_the_broadcast_bit() {
    let mut s = server(full_config(DhcpSettings::default()));
    let mut r = client_msg(MessageType::Request, mac(1), 1);
    r.giaddr = Ipv4Addr::new(192, 168, 50, 254);
    r.push_option(code::REQUESTED_IP, [10, 1, 1, 1]);
    let bytes = r.emit();
    let relay = SocketAddrV4::new(r.giaddr, 67);
    s.handle_datagram(t0(), to_server(&bytes, relay, mac(99)));
    let (t, nak) = one_reply(&mut s);
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    assert_eq!(t.dst, relay);
    assert!(nak.broadcast_flag());
}
