//! The foreign servers answer as the deployments they model do.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{DhcpMessage, FLAG_BROADCAST, MessageType, Op, code};
use pxelab_reference::{Datagram, Instant, L2Dest, Mac, Transmit};
use pxelab_simulator::foreign::{
    ForeignConfig, ForeignEventKind, ForeignIgnore, ForeignKind, ForeignServer,
};

const PROD: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 2);
const TFTP: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 3);
const POOL: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(10, 10, 0, 100), Ipv4Addr::new(10, 10, 0, 102));

fn mac(n: u8) -> Mac {
    Mac([0x52, 0x54, 0, 0, 0, n])
}

fn config(kind: ForeignKind) -> ForeignConfig {
    ForeignConfig {
        name: "whem-prod".into(),
        addr: PROD,
        netmask: Ipv4Addr::new(255, 255, 255, 0),
        kind,
        pool: Some(POOL),
        router: Some(Ipv4Addr::new(10, 10, 0, 1)),
        dns: vec![Ipv4Addr::new(10, 10, 0, 53), Ipv4Addr::new(10, 10, 0, 54)],
        lease_time: Duration::from_secs(3600),
        respond_delay: Duration::ZERO,
        ignore: Vec::new(),
        pxe_ignore: Vec::new(),
        stray_option60: false,
    }
}

fn pxe() -> ForeignKind {
    ForeignKind::DhcpPxe {
        next_server: TFTP,
        bios_file: "pxelinux.0".into(),
        efi_file: "grubx64.efi".into(),
        ipxe_file: Some("boot.ipxe".into()),
    }
}

/// What a client sends.
#[derive(Clone, Copy)]
enum Client {
    Plain,
    Bios,
    Efi,
    IpxeUserClass,
    IpxeEncap,
}

fn request(t: MessageType, n: u8, client: Client) -> DhcpMessage {
    let mut m = DhcpMessage {
        xid: 0xabcd_0000 | u32::from(n),
        ..DhcpMessage::default()
    };
    m.chaddr[..6].copy_from_slice(&mac(n).0);
    m.set_message_type(t);
    m.push_option(code::PARAMETER_REQUEST_LIST, [1, 3, 6, 43, 60, 66, 67]);
    let pxe = |m: &mut DhcpMessage, arch: u8| {
        m.push_option(code::CLIENT_ARCH, [0, arch]);
        m.push_option(
            code::VENDOR_CLASS,
            format!("PXEClient:Arch:0000{arch}:UNDI:002001").into_bytes(),
        );
    };
    match client {
        Client::Plain => m.push_option(code::VENDOR_CLASS, &b"MSFT 5.0"[..]),
        Client::Bios => pxe(&mut m, 0),
        Client::Efi => pxe(&mut m, 7),
        Client::IpxeUserClass => {
            pxe(&mut m, 7);
            m.push_option(code::USER_CLASS, &b"iPXE"[..]);
        }
        Client::IpxeEncap => {
            pxe(&mut m, 0);
            m.push_option(code::IPXE_ENCAP, [0xb1, 1, 1]);
        }
    }
    m
}

fn deliver(s: &mut ForeignServer, now: Instant, m: &DhcpMessage) {
    let bytes = m.emit();
    let src_ip = if m.ciaddr.is_unspecified() {
        Ipv4Addr::UNSPECIFIED
    } else {
        m.ciaddr
    };
    s.handle_datagram(
        now,
        Datagram {
            src: SocketAddrV4::new(src_ip, 68),
            dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
            src_mac: Mac(m.chaddr[..6].try_into().unwrap_or([0; 6])),
            payload: &bytes,
        },
    );
}

/// Sends `m` at time zero and returns the reply (parsed) and its Transmit.
fn answer(s: &mut ForeignServer, m: &DhcpMessage) -> Option<(DhcpMessage, Transmit)> {
    deliver(s, Instant::ZERO, m);
    let t = s.poll_transmit()?;
    let r = DhcpMessage::parse(&t.payload, ParseMode::Strict).expect("reply parses strictly");
    assert_eq!(r.op, Op::BootReply);
    assert_eq!(r.xid, m.xid);
    assert_eq!(r.chaddr, m.chaddr);
    Some((r, t))
}

fn select(n: u8, client: Client, server: Ipv4Addr, ip: Ipv4Addr) -> DhcpMessage {
    let mut m = request(MessageType::Request, n, client);
    m.push_option(code::SERVER_ID, server.octets());
    m.push_option(code::REQUESTED_IP, ip.octets());
    m
}

fn last_event_kind(s: &mut ForeignServer) -> Option<ForeignEventKind> {
    std::iter::from_fn(|| s.poll_event()).last().map(|e| e.kind)
}

#[test]
fn dhcp_offers_a_stable_address_with_lease_options_and_no_pxe_fields() {
    let mut s = ForeignServer::new(config(ForeignKind::Dhcp));
    let (offer, t) = answer(&mut s, &request(MessageType::Discover, 1, Client::Bios)).unwrap();
    assert_eq!(offer.message_type(), Some(MessageType::Offer));
    assert_eq!(offer.yiaddr, POOL.0);
    assert_eq!(offer.server_id(), Some(PROD));
    assert_eq!(
        offer.option(code::LEASE_TIME).as_deref(),
        Some(&3600u32.to_be_bytes()[..])
    );
    assert_eq!(
        offer.option(code::SUBNET_MASK).as_deref(),
        Some(&[255, 255, 255, 0][..])
    );
    assert_eq!(
        offer.option(code::ROUTER).as_deref(),
        Some(&[10, 10, 0, 1][..])
    );
    assert_eq!(
        offer.option(code::DNS_SERVERS).as_deref(),
        Some(&[10, 10, 0, 53, 10, 10, 0, 54][..])
    );
    // Never PXE: not even to a PXE client.
    for c in [
        code::VENDOR_CLASS,
        code::VENDOR_SPECIFIC,
        code::TFTP_SERVER_NAME,
        code::BOOTFILE_NAME,
    ] {
        assert!(!offer.has_option(c), "option {c}");
    }
    assert!(offer.siaddr.is_unspecified() && offer.file.is_empty());
    // Broadcast flag clear: unicast to yiaddr at the client's MAC (RFC 2131 §4.1).
    assert_eq!(t.dst, SocketAddrV4::new(POOL.0, 68));
    assert_eq!(t.src, SocketAddrV4::new(PROD, 67));
    assert_eq!(t.l2, L2Dest::Unicast(mac(1)));
    let e = s.poll_event().unwrap();
    assert_eq!(
        (e.kind, e.mac, e.yiaddr),
        (ForeignEventKind::Offer, mac(1), Some(POOL.0))
    );

    // A retransmission gets the same address; another client the next one.
    let (again, _) = answer(&mut s, &request(MessageType::Discover, 1, Client::Bios)).unwrap();
    assert_eq!(again.yiaddr, POOL.0);
    let mut flagged = request(MessageType::Discover, 2, Client::Plain);
    flagged.flags = FLAG_BROADCAST;
    let (other, t) = answer(&mut s, &flagged).unwrap();
    assert_eq!(other.yiaddr, Ipv4Addr::new(10, 10, 0, 101));
    assert_eq!(t.dst, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
    assert_eq!(t.l2, L2Dest::Broadcast);
}

#[test]
fn request_selecting_us_is_acked_and_selecting_another_frees_the_offer() {
    let mut s = ForeignServer::new(config(ForeignKind::Dhcp));
    let (offer, _) = answer(&mut s, &request(MessageType::Discover, 1, Client::Plain)).unwrap();
    let (ack, _) = answer(&mut s, &select(1, Client::Plain, PROD, offer.yiaddr)).unwrap();
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr, offer.yiaddr);
    assert_eq!(s.lease_of(mac(1)), Some(offer.yiaddr));

    // Client 2 is offered .101 but takes the lab's offer: .101 goes to client 3.
    let (offer2, _) = answer(&mut s, &request(MessageType::Discover, 2, Client::Plain)).unwrap();
    assert_eq!(offer2.yiaddr, Ipv4Addr::new(10, 10, 0, 101));
    let lab = Ipv4Addr::new(10, 10, 0, 250);
    assert!(
        answer(
            &mut s,
            &select(2, Client::Plain, lab, Ipv4Addr::new(10, 10, 0, 20))
        )
        .is_none()
    );
    assert_eq!(
        last_event_kind(&mut s),
        Some(ForeignEventKind::Ignored(
            ForeignIgnore::OtherServerSelected
        ))
    );
    let (offer3, _) = answer(&mut s, &request(MessageType::Discover, 3, Client::Plain)).unwrap();
    assert_eq!(offer3.yiaddr, Ipv4Addr::new(10, 10, 0, 101));

    // Selecting us for an address we did not offer this client: NAK, broadcast.
    let (nak, t) = answer(&mut s, &select(3, Client::Plain, PROD, offer.yiaddr)).unwrap();
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    assert_eq!(t.l2, L2Dest::Broadcast);
}

#[test]
fn init_reboot_and_renew_are_acked_for_our_address_only() {
    let mut s = ForeignServer::new(config(ForeignKind::Dhcp));
    let (offer, _) = answer(&mut s, &request(MessageType::Discover, 1, Client::Plain)).unwrap();
    answer(&mut s, &select(1, Client::Plain, PROD, offer.yiaddr)).unwrap();

    let mut reboot = request(MessageType::Request, 1, Client::Plain);
    reboot.push_option(code::REQUESTED_IP, offer.yiaddr.octets());
    let (ack, _) = answer(&mut s, &reboot).unwrap();
    assert_eq!(ack.message_type(), Some(MessageType::Ack));

    let mut renew = request(MessageType::Request, 1, Client::Plain);
    renew.ciaddr = offer.yiaddr;
    let (ack, t) = answer(&mut s, &renew).unwrap();
    assert_eq!(
        (ack.message_type(), ack.ciaddr),
        (Some(MessageType::Ack), offer.yiaddr)
    );
    assert_eq!(t.dst, SocketAddrV4::new(offer.yiaddr, 68));

    // A lease from another network: NAK (RFC 2131 §4.3.2).
    let mut stranger = request(MessageType::Request, 9, Client::Plain);
    stranger.push_option(code::REQUESTED_IP, [192, 168, 1, 50]);
    let (nak, _) = answer(&mut s, &stranger).unwrap();
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    // Our subnet but not our client: silence (not authoritative).
    let mut unknown = request(MessageType::Request, 9, Client::Plain);
    unknown.push_option(code::REQUESTED_IP, [10, 10, 0, 102]);
    assert!(answer(&mut s, &unknown).is_none());
    assert_eq!(
        last_event_kind(&mut s),
        Some(ForeignEventKind::Ignored(ForeignIgnore::NoRecord))
    );
}

#[test]
fn dhcp_pxe_names_its_boot_file_by_architecture_and_for_ipxe() {
    let mut cfg = config(pxe());
    cfg.pool = Some((POOL.0, Ipv4Addr::new(10, 10, 0, 200)));
    let mut s = ForeignServer::new(cfg);
    let cases = [
        (1, Client::Bios, Some("pxelinux.0")),
        (2, Client::Efi, Some("grubx64.efi")),
        (3, Client::IpxeUserClass, Some("boot.ipxe")),
        (4, Client::IpxeEncap, Some("boot.ipxe")),
        (5, Client::Plain, None),
    ];
    for (n, client, want) in cases {
        let (offer, _) = answer(&mut s, &request(MessageType::Discover, n, client)).unwrap();
        let file = offer.boot_file().map(|f| String::from_utf8(f).unwrap());
        assert_eq!(file.as_deref(), want, "client {n}");
        let event = std::iter::from_fn(|| s.poll_event()).last().unwrap();
        assert_eq!(event.boot_file.as_deref(), want);
        match want {
            Some(f) => {
                assert_eq!(offer.siaddr, TFTP);
                assert_eq!(offer.file, f.as_bytes());
                assert_eq!(
                    offer.option(code::BOOTFILE_NAME).as_deref(),
                    Some(f.as_bytes())
                );
                // A complete PXE offer: PXEClient, and 43.6 = 8 (boot this file).
                assert_eq!(
                    offer.option(code::VENDOR_CLASS).as_deref(),
                    Some(&b"PXEClient"[..])
                );
                assert_eq!(
                    offer.option(code::VENDOR_SPECIFIC).as_deref(),
                    Some(&[6, 1, 8, 255][..])
                );
            }
            None => {
                assert!(offer.siaddr.is_unspecified() && offer.file.is_empty());
                assert!(!offer.has_option(code::VENDOR_CLASS));
                assert!(!offer.has_option(code::VENDOR_SPECIFIC));
            }
        }
        // The ACK names the same file.
        let (ack, _) = answer(&mut s, &select(n, client, PROD, offer.yiaddr)).unwrap();
        assert_eq!(ack.boot_file(), offer.boot_file());
    }
}

#[test]
fn a_naive_dhcp_pxe_server_hands_ipxe_its_own_binary_again() {
    let mut s = ForeignServer::new(config(ForeignKind::DhcpPxe {
        next_server: TFTP,
        bios_file: "undionly.kpxe".into(),
        efi_file: "ipxe.efi".into(),
        ipxe_file: None,
    }));
    for (n, client, want) in [
        (1, Client::IpxeEncap, "undionly.kpxe"),
        (2, Client::IpxeUserClass, "ipxe.efi"),
    ] {
        let (offer, _) = answer(&mut s, &request(MessageType::Discover, n, client)).unwrap();
        assert_eq!(offer.boot_file(), Some(want.as_bytes().to_vec()));
    }
}

#[test]
fn pxe_ignore_leases_an_address_but_gives_no_boot_information() {
    let mut cfg = config(pxe());
    cfg.pxe_ignore = vec![mac(1)];
    let mut s = ForeignServer::new(cfg);
    let (offer, _) = answer(&mut s, &request(MessageType::Discover, 1, Client::Bios)).unwrap();
    assert_eq!(offer.yiaddr, POOL.0);
    assert!(offer.siaddr.is_unspecified() && offer.file.is_empty());
    assert!(!offer.has_option(code::VENDOR_CLASS));
    assert!(!offer.has_option(code::BOOTFILE_NAME));
    let (offer, _) = answer(&mut s, &request(MessageType::Discover, 2, Client::Bios)).unwrap();
    assert!(
        offer.has_option(code::BOOTFILE_NAME),
        "other clients still boot"
    );
}

#[test]
fn stray_option60_is_sent_when_configured() {
    // A plain DHCP server left with option 60 (Q4): PXEClient but no option 43.
    let mut cfg = config(ForeignKind::Dhcp);
    cfg.stray_option60 = true;
    let mut s = ForeignServer::new(cfg);
    let (offer, _) = answer(&mut s, &request(MessageType::Discover, 1, Client::Efi)).unwrap();
    assert_eq!(
        offer.option(code::VENDOR_CLASS).as_deref(),
        Some(&b"PXEClient"[..])
    );
    assert!(!offer.has_option(code::VENDOR_SPECIFIC));
}

#[test]
fn a_rogue_answers_anyone_in_its_subnet_and_naks_the_rest() {
    let mut cfg = config(ForeignKind::Rogue);
    cfg.addr = Ipv4Addr::new(192, 168, 1, 1);
    cfg.pool = Some((
        Ipv4Addr::new(192, 168, 1, 100),
        Ipv4Addr::new(192, 168, 1, 200),
    ));
    cfg.router = Some(Ipv4Addr::new(192, 168, 1, 1));
    let mut s = ForeignServer::new(cfg);
    let (offer, _) = answer(&mut s, &request(MessageType::Discover, 1, Client::Bios)).unwrap();
    assert_eq!(offer.yiaddr, Ipv4Addr::new(192, 168, 1, 100));
    assert_eq!(
        offer.option(code::ROUTER).as_deref(),
        Some(&[192, 168, 1, 1][..])
    );
    assert!(offer.siaddr.is_unspecified() && offer.boot_file().is_none());
    // A client re-using a lease the rogue never gave: ACKed if free in its subnet...
    let mut reboot = request(MessageType::Request, 2, Client::Plain);
    reboot.push_option(code::REQUESTED_IP, [192, 168, 1, 150]);
    let (ack, _) = answer(&mut s, &reboot).unwrap();
    assert_eq!(
        (ack.message_type(), ack.yiaddr),
        (Some(MessageType::Ack), Ipv4Addr::new(192, 168, 1, 150))
    );
    // ...NAKed when it is a production lease: the rogue breaks renewals.
    let mut prod = request(MessageType::Request, 3, Client::Plain);
    prod.push_option(code::REQUESTED_IP, [10, 10, 0, 100]);
    let (nak, _) = answer(&mut s, &prod).unwrap();
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
}

#[test]
fn replies_wait_for_the_respond_delay() {
    let mut cfg = config(pxe());
    cfg.respond_delay = Duration::from_millis(1500);
    let mut s = ForeignServer::new(cfg);
    let t0 = Instant::from_secs(2);
    deliver(&mut s, t0, &request(MessageType::Discover, 1, Client::Bios));
    // Decided now (the event says so), sent later.
    let e = s.poll_event().unwrap();
    assert_eq!((e.at, e.kind), (t0, ForeignEventKind::Offer));
    assert!(s.poll_transmit().is_none());
    assert_eq!(s.poll_timeout(), Some(Instant::from_millis(3500)));
    s.handle_timeout(Instant::from_millis(3499));
    assert!(s.poll_transmit().is_none());
    s.handle_timeout(Instant::from_millis(3500));
    let t = s.poll_transmit().unwrap();
    assert_eq!(
        DhcpMessage::parse(&t.payload, ParseMode::Strict)
            .unwrap()
            .message_type(),
        Some(MessageType::Offer)
    );
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn ignored_macs_and_garbage_get_no_answer() {
    let mut cfg = config(pxe());
    cfg.ignore = vec![mac(7)];
    let mut s = ForeignServer::new(cfg);
    assert!(answer(&mut s, &request(MessageType::Discover, 7, Client::Bios)).is_none());
    assert!(answer(&mut s, &select(7, Client::Bios, PROD, POOL.0)).is_none());
    let kinds: Vec<_> = std::iter::from_fn(|| s.poll_event())
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![ForeignEventKind::Ignored(ForeignIgnore::IgnoredMac); 2]
    );
    // Others are still served, from the start of the pool.
    let (offer, _) = answer(&mut s, &request(MessageType::Discover, 8, Client::Bios)).unwrap();
    assert_eq!(offer.yiaddr, POOL.0);

    s.handle_datagram(
        Instant::ZERO,
        Datagram {
            src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
            dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
            src_mac: mac(9),
            payload: &[1, 2, 3],
        },
    );
    assert!(s.poll_transmit().is_none());
    assert_eq!(
        last_event_kind(&mut s),
        Some(ForeignEventKind::Ignored(ForeignIgnore::Malformed))
    );
    // A server's own reply seen on the segment is not a request.
    let mut reply = DhcpMessage::reply_to(&request(MessageType::Discover, 8, Client::Bios));
    reply.set_message_type(MessageType::Offer);
    deliver(&mut s, Instant::ZERO, &reply);
    assert!(s.poll_transmit().is_none());
}

#[test]
fn an_exhausted_pool_stays_silent() {
    let mut s = ForeignServer::new(config(ForeignKind::Dhcp));
    for n in 1..=3 {
        assert!(answer(&mut s, &request(MessageType::Discover, n, Client::Plain)).is_some());
    }
    assert!(answer(&mut s, &request(MessageType::Discover, 4, Client::Plain)).is_none());
    assert_eq!(
        last_event_kind(&mut s),
        Some(ForeignEventKind::Ignored(ForeignIgnore::PoolExhausted))
    );
}

proptest::proptest! {
    /// Whatever arrives on UDP 67, a foreign server never panics, and answers
    /// only with messages that parse.
    #[test]
    fn any_bytes_are_handled_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600), cookie in proptest::prelude::any::<bool>()) {
        let mut bytes = bytes;
        if cookie && bytes.len() >= 240 {
            // Make the message reach option parsing most of the time.
            bytes[0] = 1;
            bytes[236..240].copy_from_slice(&[99, 130, 83, 99]);
        }
        for kind in [ForeignKind::Dhcp, pxe(), ForeignKind::Rogue] {
            let mut s = ForeignServer::new(config(kind));
            s.handle_datagram(
                Instant::ZERO,
                Datagram {
                    src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
                    dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
                    src_mac: mac(1),
                    payload: &bytes,
                },
            );
            while let Some(t) = s.poll_transmit() {
                proptest::prop_assert!(DhcpMessage::parse(&t.payload, ParseMode::Lax).is_ok());
            }
            proptest::prop_assert!(s.poll_event().is_some());
        }
    }
}
