//! Every way a boot ends on an error screen, and the boot-menu paths.

mod firmware_common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use firmware_common::craft::{self, dhcp_only, proxy_binl, proxy_pxe10, pxe, pxe10, with_file};
use firmware_common::{Direct, Host, Lab, firmware};
use pxelab_reference::Instant;
use pxelab_reference::pxe::{BootMenu, BootPolicy, MenuItem};
use pxelab_reference::wire::dhcp::{DhcpMessage, code};
use pxelab_reference::wire::pxe::{
    BootServerEntry, DiscoveryControl, MenuItem as WireItem, MenuPrompt, PxeVendorOptions,
};
use pxelab_reference::wire::tftp::TftpPacket;
use pxelab_simulator::firmware::{FirmwareEvent, Profile, PxeError};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const Z: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);
const Y: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn failed(d: &Direct) -> PxeError {
    d.failure()
        .unwrap_or_else(|| panic!("no failure:\n{}", d.transcript()))
        .0
}

/// A legacy/spec ROM bound to Y with a PXE10 DHCP offer from A naming `file`:
/// the TFTP RRQ is out at 4.2 s.
fn downloading(profile: Profile) -> Direct {
    let mut d = Direct::new(profile);
    let x = d.xid();
    let offer = pxe10(dhcp_only(x, A, Y), A, "nbp.0");
    d.reply(ms(100), A, 67, &offer);
    d.advance(ms(4100));
    let ack = pxe10(craft::ack_for(x, A, Y), A, "nbp.0");
    d.reply(ms(4200), A, 67, &ack);
    assert!(
        d.sent
            .iter()
            .any(|(_, t)| t.dst == SocketAddrV4::new(A, 69)),
        "{}",
        d.transcript()
    );
    d
}

fn tftp_port(d: &Direct) -> u16 {
    d.fw.listens_on()[1]
}

#[test]
fn e51_when_nobody_answers() {
    let mut d = Direct::new(Profile::pxe21_bios());
    d.advance(Instant::from_secs(100));
    assert_eq!(failed(&d), PxeError::E51);
}

#[test]
fn e52_when_only_a_proxy_answers() {
    let mut d = Direct::new(Profile::pxe21_bios());
    let x = d.xid();
    d.reply(ms(100), C, 67, &proxy_pxe10(x, C, "lab.0"));
    d.advance(Instant::from_secs(100));
    let (e, detail) = d.failure().unwrap();
    assert_eq!(e, PxeError::E52);
    assert!(detail.contains("ProxyDHCP"), "{detail}");
    assert_eq!(d.events.last().unwrap().0, Instant::from_secs(60));
}

#[test]
fn e53_when_dhcp_offers_name_no_file() {
    let mut d = Direct::new(Profile::edk2_uefi());
    let x = d.xid();
    d.reply(ms(100), A, 67, &dhcp_only(x, A, Y));
    d.advance(Instant::from_secs(100));
    assert_eq!(failed(&d), PxeError::E53);
}

#[test]
fn e55_when_the_4011_server_is_silent() {
    let mut d = Direct::new(Profile::edk2_uefi());
    let x = d.xid();
    d.reply(ms(100), A, 67, &dhcp_only(x, A, Y));
    d.reply(ms(200), C, 67, &proxy_binl(x, C));
    d.advance(ms(4100));
    d.reply(ms(4200), A, 67, &craft::ack_for(x, A, Y));
    d.advance(Instant::from_secs(30));
    let (e, detail) = d.failure().unwrap();
    assert_eq!(e, PxeError::E55);
    assert!(detail.contains("10.0.0.3:4011"), "{detail}");
    assert_eq!(d.events.last().unwrap().0, ms(8200), "1 s x 4 (EDK2)");
}

#[test]
fn e11_when_arp_for_the_4011_server_fails() {
    // Q4: the DHCP server sends PXEClient without 43, so EDK2 asks its siaddr
    // on 4011; nothing owns that address.
    let mut d = Direct::new(Profile::edk2_uefi());
    let x = d.xid();
    d.reply(
        ms(100),
        A,
        67,
        &pxe(with_file(dhcp_only(x, A, Y), Z, "x.efi")),
    );
    d.advance(ms(4100));
    d.reply(ms(4200), A, 67, &craft::ack_for(x, A, Y));
    d.unreachable(ms(4300), C);
    assert!(d.failure().is_none(), "ARP for another address is not ours");
    d.unreachable(ms(5000), Z);
    let (e, detail) = d.failure().unwrap();
    assert_eq!(e, PxeError::E11);
    assert!(detail.contains("10.0.0.9"), "{detail}");
}

#[test]
fn e32_when_the_rrq_gets_no_answer() {
    let mut d = downloading(Profile::pxe21_bios());
    d.advance(Instant::from_secs(30));
    assert_eq!(failed(&d), PxeError::E32);
}

#[test]
fn e35_when_the_transfer_stalls() {
    let mut d = downloading(Profile::pxe21_bios());
    let port = tftp_port(&d);
    let data = TftpPacket::Data {
        block: 1,
        data: vec![7; 512],
    };
    d.deliver(
        ms(4300),
        SocketAddrV4::new(A, 50000),
        port,
        &data.to_bytes(),
    );
    d.advance(Instant::from_secs(30));
    assert_eq!(failed(&d), PxeError::E35);
}

#[test]
fn e3b_when_the_file_is_missing_on_the_reference_server() {
    let policy = BootPolicy {
        boot_bios: "missing.kpxe".into(),
        ..BootPolicy::default()
    };
    let mut lab = Lab::new(
        firmware(Profile::pxe21_bios()),
        vec![Host::reference(A, false, policy)],
    );
    lab.run(Instant::ZERO, Instant::from_secs(100));
    match lab.outcome() {
        FirmwareEvent::Failed { error, detail } => {
            assert_eq!(*error, PxeError::E3B);
            assert!(detail.contains("missing.kpxe"), "{detail}");
        }
        other => panic!("{other:?}\n{}", lab.transcript()),
    }
}

#[test]
fn e3f_when_a_data_block_exceeds_1456_bytes_on_a_legacy_rom() {
    let big = TftpPacket::Data {
        block: 1,
        data: vec![7; 1468],
    };
    let mut legacy = downloading(Profile::legacy_rom());
    let port = tftp_port(&legacy);
    legacy.deliver(ms(4300), SocketAddrV4::new(A, 50000), port, &big.to_bytes());
    let (e, detail) = legacy.failure().unwrap();
    assert_eq!(e, PxeError::E3F);
    assert!(detail.contains("1468"), "{detail}");

    // EDK2 has no such limit: the same block is a protocol error of the
    // transfer (larger than the 512 it fell back to), not E3F.
    let mut uefi = Direct::new(Profile::edk2_uefi());
    let x = uefi.xid();
    uefi.reply(ms(100), A, 67, &with_file(dhcp_only(x, A, Y), A, "x.efi"));
    uefi.advance(ms(4100));
    uefi.reply(
        ms(4200),
        A,
        67,
        &with_file(craft::ack_for(x, A, Y), A, "x.efi"),
    );
    let port = tftp_port(&uefi);
    uefi.deliver(ms(4300), SocketAddrV4::new(A, 50000), port, &big.to_bytes());
    assert_ne!(uefi.failure().map(|f| f.0), Some(PxeError::E3F));
}

// ------------------------------------------------------------------ menus

fn menu_offer(x: u32, vendor: PxeVendorOptions) -> DhcpMessage {
    let mut m = pxe(craft::reply(
        x,
        Some(pxelab_reference::wire::dhcp::MessageType::Offer),
        C,
        Ipv4Addr::UNSPECIFIED,
    ));
    m.push_option(code::VENDOR_SPECIFIC, vendor.emit().unwrap());
    m
}

fn menu(control: u8, servers: Option<Vec<Ipv4Addr>>, prompt: Option<u8>) -> PxeVendorOptions {
    PxeVendorOptions {
        discovery_control: Some(DiscoveryControl(control)),
        boot_servers: servers.map(|addrs| {
            vec![BootServerEntry {
                kind: 0x8000,
                addrs,
            }]
        }),
        boot_menu: Some(vec![WireItem {
            kind: 0x8000,
            description: b"Install".to_vec(),
        }]),
        menu_prompt: prompt.map(|timeout| MenuPrompt {
            timeout,
            prompt: b"Press F8".to_vec(),
        }),
        ..PxeVendorOptions::default()
    }
}

/// pxe21-bios bound through A with the proxy menu `vendor` from C (at 4.2 s).
fn with_menu(vendor: PxeVendorOptions) -> Direct {
    let mut d = Direct::new(Profile::pxe21_bios());
    let x = d.xid();
    d.reply(ms(100), A, 67, &dhcp_only(x, A, Y));
    d.reply(ms(200), C, 67, &menu_offer(x, vendor));
    d.advance(ms(4100));
    d.reply(ms(4200), A, 67, &craft::ack_for(x, A, Y));
    d
}

#[test]
fn e74_when_the_menu_has_no_prompt() {
    let d = with_menu(menu(3, Some(vec![C]), None));
    assert_eq!(failed(&d), PxeError::E74);
}

#[test]
fn e77_when_discovery_has_nowhere_to_go() {
    let d = with_menu(menu(3, None, Some(0)));
    assert_eq!(failed(&d), PxeError::E77);
}

#[test]
fn e78_when_no_boot_server_answers_discovery() {
    let mut d = with_menu(menu(3, Some(vec![C]), Some(0)));
    d.advance(Instant::from_secs(60));
    assert_eq!(failed(&d), PxeError::E78);
    let tries: Vec<Instant> = d
        .sent
        .iter()
        .filter(|(_, t)| t.dst.port() == 4011)
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(
        tries,
        vec![ms(4200), ms(5200), ms(7200), ms(10200)],
        "1, 2, 3, 4 s"
    );
    assert_eq!(d.events.last().unwrap().0, ms(14200));
}

#[test]
fn discovery_goes_where_43_6_allows() {
    let mut v = menu(0, Some(vec![C]), Some(0));
    v.discovery_mcast_addr = Some(Ipv4Addr::new(239, 1, 2, 3));
    let d = with_menu(v);
    let targets: Vec<SocketAddrV4> = d
        .sent
        .iter()
        .filter(|(at, t)| *at == ms(4200) && t.src.port() == 68)
        .map(|(_, t)| t.dst)
        .collect();
    assert_eq!(
        targets,
        vec![
            SocketAddrV4::new(Ipv4Addr::new(239, 1, 2, 3), 4011),
            SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
            SocketAddrV4::new(C, 4011),
        ]
    );
    let req = DhcpMessage::parse(
        &d.sent.last().unwrap().1.payload,
        pxelab_reference::wire::ParseMode::Strict,
    )
    .unwrap();
    let item = req
        .pxe_vendor_options(pxelab_reference::wire::ParseMode::Strict)
        .unwrap()
        .unwrap()
        .boot_item
        .unwrap();
    assert_eq!((item.kind, item.layer), (0x8000, 0));
}

#[test]
fn a_late_dhcp_ack_during_boot_server_discovery_is_not_the_boot_servers_answer() {
    // The DHCP server answers a retransmitted REQUEST a second time while the
    // client already waits for the boot server: that ACK echoes no 43.71, so
    // it must not end the boot with "answered without a file" (seen against
    // dnsmasq's proxy in the conformance suite's storm).
    let mut d = with_menu(menu(3, Some(vec![C]), Some(0)));
    let x = d.xid();
    d.reply(ms(4300), A, 67, &craft::ack_for(x, A, Y));
    assert_eq!(d.failure(), None, "{}", d.transcript());
    d.advance(Instant::from_secs(60));
    assert_eq!(
        failed(&d),
        PxeError::E78,
        "without the boot server's answer discovery runs out as before"
    );
}

#[test]
fn the_prompt_timeout_is_waited_out_and_255_takes_the_first_item_at_once() {
    let waits = with_menu(menu(3, Some(vec![C]), Some(5)));
    assert!(!waits.sent.iter().any(|(_, t)| t.dst.port() == 4011));
    let mut waits = waits;
    waits.advance(ms(9300));
    let first = waits
        .sent
        .iter()
        .find(|(_, t)| t.dst.port() == 4011)
        .map(|(at, _)| *at);
    assert_eq!(first, Some(ms(9200)));

    let at_once = with_menu(menu(3, Some(vec![C]), Some(255)));
    let first = at_once
        .sent
        .iter()
        .find(|(_, t)| t.dst.port() == 4011)
        .map(|(at, _)| *at);
    assert_eq!(first, Some(ms(4200)));
}

#[test]
fn a_local_boot_first_item_hands_over_to_the_disk() {
    let mut v = menu(3, Some(vec![C]), Some(0));
    v.boot_menu = Some(vec![WireItem {
        kind: 0,
        description: b"Boot from hard disk".to_vec(),
    }]);
    let d = with_menu(v);
    assert!(matches!(
        &d.events.last().unwrap().1,
        FirmwareEvent::LocalBoot { item } if item == "Boot from hard disk"
    ));
    assert!(d.fw.is_finished());
}

#[test]
fn a_bios_rom_boots_the_reference_menu_through_boot_server_discovery() {
    let policy = BootPolicy {
        menu: Some(BootMenu {
            prompt: "Press F8 for boot menu".into(),
            timeout_secs: 2,
            discovery_control: 3,
            items: vec![MenuItem {
                item_type: 0x8000,
                description: "pxelab".into(),
                file: None,
            }],
        }),
        ..BootPolicy::default()
    };
    let mut lab = Lab::new(
        firmware(Profile::pxe21_bios()),
        vec![
            Host::reference(C, true, policy),
            Host::plain_dhcp(A, Duration::from_millis(5)),
        ],
    );
    lab.run(Instant::ZERO, Instant::from_secs(100));
    assert_eq!(
        lab.loaded().map(|l| l.0),
        Some("undionly.kpxe".into()),
        "{}",
        lab.transcript()
    );
    assert!(lab.events.iter().any(|(_, e)| *e
        == FirmwareEvent::BootServerRequest {
            server: C,
            port: 4011
        }));
}

// ------------------------------------------------------------------ iPXE, NAK

#[test]
fn ipxe_with_an_address_and_no_file_has_nothing_to_boot() {
    let mut d = Direct::new(Profile::ipxe());
    let x = d.xid();
    d.reply(ms(100), A, 67, &dhcp_only(x, A, Y));
    d.advance(ms(3100));
    d.reply(ms(3200), A, 67, &craft::ack_for(x, A, Y));
    assert_eq!(failed(&d), PxeError::IpxeNothingToBoot);
    assert_eq!(
        PxeError::IpxeNothingToBoot.to_string(),
        "iPXE: Nothing to boot: No such file or directory"
    );
}

#[test]
fn a_nak_restarts_discovery_with_a_new_xid() {
    let mut d = Direct::new(Profile::legacy_rom());
    let x = d.xid();
    d.reply(ms(100), A, 67, &pxe10(dhcp_only(x, A, Y), A, "nbp.0"));
    let nak = craft::reply(
        x,
        Some(pxelab_reference::wire::dhcp::MessageType::Nak),
        A,
        Ipv4Addr::UNSPECIFIED,
    );
    d.reply(ms(200), A, 67, &nak);
    let discovers = d.discovers();
    assert_eq!(discovers.len(), 2);
    assert_eq!(discovers[1].0, ms(200));
    assert_ne!(discovers[1].1.xid, x);
    assert_eq!(discovers[1].1.secs, 0);
}
