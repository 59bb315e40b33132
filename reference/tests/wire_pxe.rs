//! Property tests of the PXE option codecs (`wire::pxe`): every codec round-trips
//! and no input makes a parser panic.

mod captures;

use std::net::Ipv4Addr;

use captures::{dnsmasq_proxy_offer, edk2_discover, ipxe_discover};
use proptest::prelude::*;
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{DhcpMessage, code};
use pxelab_reference::wire::pxe::{
    BootItem, BootServerEntry, ClassKind, ClientArch, ClientNdi, ClientUuid, DiscoveryControl,
    IpxeOptions, MenuItem, MenuPrompt, PxeClientClass, PxeVendorOptions, UserClass, emit_arch_list,
    parse_arch_list, sub,
};

const MODES: [ParseMode; 2] = [ParseMode::Strict, ParseMode::Lax];

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=max)
}

fn arb_ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

prop_compose! {
    fn arb_client_class()(
        http in any::<bool>(), arch in any::<u16>(), undi_major in 0u16..=999, undi_minor in 0u16..=999,
    ) -> PxeClientClass {
        let kind = if http { ClassKind::Http } else { ClassKind::Pxe };
        PxeClientClass { kind, arch: ClientArch(arch), undi_major, undi_minor }
    }
}

const KNOWN_43: [u8; 11] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 71];

prop_compose! {
    fn arb_vendor_options()(
        mtftp_ip in proptest::option::of(arb_ipv4()),
        mtftp_cport in proptest::option::of(any::<u16>()),
        mtftp_sport in proptest::option::of(any::<u16>()),
        mtftp_tmout in proptest::option::of(any::<u8>()),
        mtftp_delay in proptest::option::of(any::<u8>()),
        discovery_control in proptest::option::of(any::<u8>().prop_map(DiscoveryControl)),
        discovery_mcast_addr in proptest::option::of(arb_ipv4()),
        boot_servers in proptest::option::of(proptest::collection::vec(
            (any::<u16>(), proptest::collection::vec(arb_ipv4(), 0..5))
                .prop_map(|(kind, addrs)| BootServerEntry { kind, addrs }),
            0..4,
        )),
        boot_menu in proptest::option::of(proptest::collection::vec(
            (any::<u16>(), bytes(40)).prop_map(|(kind, description)| MenuItem { kind, description }),
            0..5,
        )),
        menu_prompt in proptest::option::of(
            (any::<u8>(), bytes(100)).prop_map(|(timeout, prompt)| MenuPrompt { timeout, prompt })),
        boot_item in proptest::option::of(
            (any::<u16>(), any::<u16>()).prop_map(|(kind, layer)| BootItem { kind, layer })),
        other in proptest::collection::vec(
            ((1u8..=254).prop_filter("unknown sub-option", |c| !KNOWN_43.contains(c)), bytes(30)),
            0..4,
        ),
    ) -> PxeVendorOptions {
        // `emit` writes ascending codes, so a parse lists `other` that way.
        let mut other = other;
        other.sort_by_key(|(c, _)| *c);
        PxeVendorOptions {
            mtftp_ip, mtftp_cport, mtftp_sport, mtftp_tmout, mtftp_delay, discovery_control,
            discovery_mcast_addr, boot_servers, boot_menu, menu_prompt, boot_item, other,
            terminated: true,
        }
    }
}

proptest! {
    #[test]
    fn client_class_round_trips(c in arb_client_class()) {
        let wire = c.emit();
        prop_assert_eq!(wire.len(), if c.kind == ClassKind::Pxe { 32 } else { 33 });
        prop_assert_eq!(PxeClientClass::parse(&wire).unwrap(), c);
    }

    #[test]
    fn arch_list_round_trips(list in proptest::collection::vec(any::<u16>().prop_map(ClientArch), 1..10)) {
        prop_assert_eq!(parse_arch_list(&emit_arch_list(&list)).unwrap(), list);
    }

    #[test]
    fn ndi_and_uuid_round_trip(ndi in any::<[u8; 3]>(), kind in any::<u8>(), guid in any::<[u8; 16]>()) {
        let ndi = ClientNdi { kind: ndi[0], major: ndi[1], minor: ndi[2] };
        prop_assert_eq!(ClientNdi::parse(&ndi.emit()).unwrap(), ndi);
        let uuid = ClientUuid { kind, guid };
        prop_assert_eq!(ClientUuid::parse(&uuid.emit()).unwrap(), uuid);
    }

    #[test]
    fn user_class_items_round_trip(items in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 1..40), 1..5)) {
        let uc = UserClass::Rfc3004(items);
        prop_assert_eq!(UserClass::parse(&uc.emit().unwrap()), uc);
    }

    /// Option 77 is read without loss whatever the bytes: plain or items, the
    /// payload comes back unchanged.
    #[test]
    fn user_class_parse_is_lossless(data in bytes(300)) {
        prop_assert_eq!(UserClass::parse(&data).emit().unwrap(), data);
    }

    #[test]
    fn ipxe_options_round_trip(options in proptest::collection::vec((1u8..=254, bytes(20)), 0..8)) {
        let o = IpxeOptions { options };
        prop_assert_eq!(IpxeOptions::parse(&o.emit().unwrap()).unwrap(), o);
    }

    #[test]
    fn vendor_options_round_trip(o in arb_vendor_options()) {
        let wire = o.emit().unwrap();
        prop_assert_eq!(wire.last(), Some(&255));
        for mode in MODES {
            prop_assert_eq!(&PxeVendorOptions::parse(&wire, mode).unwrap(), &o);
        }
    }

    /// A parsed option 43 re-emits to something that reads back the same (with
    /// `other` in ascending order and END added).
    #[test]
    fn vendor_options_emit_of_parse_is_stable(data in arb_subopt_area()) {
        for mode in MODES {
            if let Ok(mut first) = PxeVendorOptions::parse(&data, mode) {
                let wire = first.emit().unwrap();
                let second = PxeVendorOptions::parse(&wire, mode).unwrap();
                first.other.sort_by_key(|(c, _)| *c);
                first.terminated = true;
                prop_assert_eq!(&second, &first);
                prop_assert_eq!(second.emit().unwrap(), wire);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in bytes(300)) {
        let _ = PxeClientClass::parse(&data);
        let _ = parse_arch_list(&data);
        let _ = ClientNdi::parse(&data);
        let _ = ClientUuid::parse(&data);
        let _ = UserClass::parse(&data).is_ipxe();
        if let Ok(o) = IpxeOptions::parse(&data) {
            let _ = (o.priority(), o.no_pxedhcp());
        }
        for mode in MODES {
            let _ = PxeVendorOptions::parse(&data, mode);
        }
    }

    #[test]
    fn structured_sub_options_never_panic(data in arb_subopt_area()) {
        for mode in MODES {
            let _ = PxeVendorOptions::parse(&data, mode);
        }
        let _ = IpxeOptions::parse(&data);
    }
}

/// Sub-option TLVs aimed at the known codes with payloads of any length, plus
/// framing bytes and garbage: what a hostile or broken server sends in 43.
fn arb_subopt_area() -> impl Strategy<Value = Vec<u8>> {
    let code = prop_oneof![3 => prop::sample::select(KNOWN_43.to_vec()), 1 => any::<u8>()];
    let piece = prop_oneof![
        6 => (code, bytes(24)).prop_map(|(c, d)| [&[c, d.len() as u8][..], &d].concat()),
        1 => Just(vec![0u8]),
        1 => Just(vec![255u8]),
        1 => bytes(3),
    ];
    proptest::collection::vec(piece, 0..10).prop_map(|p| p.concat())
}

#[test]
fn accessors_read_a_real_pxe_discover() {
    // An EDK2-style DISCOVER, built as the firmware does.
    let mut m = DhcpMessage::default();
    m.push_option(code::MESSAGE_TYPE, [1]);
    m.push_option(code::MAX_MESSAGE_SIZE, 1472u16.to_be_bytes());
    m.push_option(code::CLIENT_ARCH, [0, 7]);
    m.push_option(code::CLIENT_NDI, [1, 3, 0]);
    m.push_option(code::VENDOR_CLASS, &b"PXEClient:Arch:00007:UNDI:003000"[..]);
    m.push_option(code::CLIENT_UUID, [0u8; 17]);
    let m = DhcpMessage::parse(&m.emit(), ParseMode::Strict).unwrap();
    let class = m.client_class().unwrap().unwrap();
    assert_eq!(class.arch, ClientArch::EFI_X64);
    assert!(m.client_arches().unwrap().unwrap()[0].is_efi_x64());
    assert_eq!(
        m.client_ndi().unwrap().unwrap(),
        ClientNdi {
            kind: ClientNdi::UNDI,
            major: 3,
            minor: 0
        }
    );
    assert!(m.client_uuid().unwrap().unwrap().is_all_zero());
    assert!(m.is_pxe_client() && !m.is_ipxe());
    assert!(m.user_class().is_none() && m.ipxe_options().is_none());
}

#[test]
fn proxy_offer_option_43_survives_the_message_codec() {
    let vendor = PxeVendorOptions {
        discovery_control: Some(DiscoveryControl(DiscoveryControl::USE_BOOTFILE)),
        menu_prompt: Some(MenuPrompt {
            timeout: 0,
            prompt: b"PXE".to_vec(),
        }),
        terminated: true,
        ..Default::default()
    };
    let mut m = DhcpMessage::default();
    m.push_option(code::VENDOR_SPECIFIC, vendor.emit().unwrap());
    let back = DhcpMessage::parse(&m.emit(), ParseMode::Strict).unwrap();
    assert_eq!(
        back.option(code::VENDOR_SPECIFIC).unwrap().as_ref(),
        [0x06, 0x01, 0x08, 0x0A, 0x04, 0x00, 0x50, 0x58, 0x45, 0xFF]
    );
    assert_eq!(
        back.pxe_vendor_options(ParseMode::Strict).unwrap().unwrap(),
        vendor
    );
    assert_eq!(sub::DISCOVERY_CONTROL, 6);
}

// ---------------------------------------------------------------------------
// Real captures (iPXE, EDK2, dnsmasq: see captures/mod.rs for where and how)

#[test]
fn real_ipxe_discover() {
    let bytes = ipxe_discover();
    let m = DhcpMessage::parse(&bytes, ParseMode::Strict).unwrap();
    assert_eq!(m.emit(), bytes, "re-emit must be byte-for-byte");
    let codes: Vec<u8> = m.options.iter().map(|o| o.code).collect();
    assert_eq!(codes, [53, 57, 93, 94, 60, 77, 55, 175, 61, 97]);
    assert_eq!(m.max_message_size(), Some(1472));
    let class = m.client_class().unwrap().unwrap();
    assert_eq!(
        class,
        PxeClientClass {
            kind: ClassKind::Pxe,
            arch: ClientArch::X86_BIOS,
            undi_major: 2,
            undi_minor: 1
        }
    );
    assert_eq!(m.client_arches().unwrap().unwrap(), [ClientArch::X86_BIOS]);
    assert_eq!(
        m.client_ndi().unwrap().unwrap(),
        ClientNdi {
            kind: 1,
            major: 2,
            minor: 1
        }
    );
    // QEMU was given no SMBIOS UUID: the untrusted all-zero case.
    assert!(m.client_uuid().unwrap().unwrap().is_all_zero());
    assert_eq!(m.user_class(), Some(UserClass::Plain(b"iPXE".to_vec())));
    assert!(m.is_ipxe() && m.is_pxe_client());
    let ipxe = m.ipxe_options().unwrap().unwrap();
    assert_eq!(
        ipxe.get(IpxeOptions::BUS_ID),
        Some(&[1, 0x80, 0x86, 0x10, 0x0e][..])
    );
    assert_eq!(ipxe.priority(), None);
    assert!(!ipxe.no_pxedhcp());
    assert_eq!(
        ipxe.emit().unwrap(),
        m.option(code::IPXE_ENCAP).unwrap().as_ref()
    );
}

#[test]
fn real_dnsmasq_proxy_offer() {
    let bytes = dnsmasq_proxy_offer();
    let m = DhcpMessage::parse(&bytes, ParseMode::Strict).unwrap();
    assert_eq!(m.emit(), bytes, "re-emit must be byte-for-byte");
    assert!(m.broadcast_flag());
    assert_eq!(
        m.yiaddr,
        Ipv4Addr::UNSPECIFIED,
        "a ProxyDHCP offer assigns nothing"
    );
    assert_eq!(m.server_id(), Some(Ipv4Addr::new(10, 99, 0, 1)));
    assert!(m.is_pxe_client(), "dnsmasq echoes the bare PXEClient");
    assert!(
        m.client_class().unwrap().is_err(),
        "bare PXEClient is no client class"
    );
    let o = m.pxe_vendor_options(ParseMode::Strict).unwrap().unwrap();
    let expected = PxeVendorOptions {
        discovery_control: Some(DiscoveryControl(
            DiscoveryControl::NO_BROADCAST | DiscoveryControl::NO_MULTICAST,
        )),
        boot_servers: Some(vec![BootServerEntry {
            kind: 0x8000,
            addrs: vec![Ipv4Addr::new(10, 99, 0, 1)],
        }]),
        boot_menu: Some(vec![MenuItem {
            kind: 0x8000,
            description: b"Network boot".to_vec(),
        }]),
        menu_prompt: Some(MenuPrompt {
            timeout: 0,
            prompt: b"PXE".to_vec(),
        }),
        terminated: true,
        ..Default::default()
    };
    assert_eq!(o, expected);
    assert_eq!(
        o.emit().unwrap(),
        m.option(code::VENDOR_SPECIFIC).unwrap().as_ref()
    );
}

#[test]
fn real_edk2_discover() {
    let bytes = edk2_discover();
    let m = DhcpMessage::parse(&bytes, ParseMode::Strict).unwrap();
    assert_eq!(m.emit(), bytes, "re-emit must be byte-for-byte");
    let codes: Vec<u8> = m.options.iter().map(|o| o.code).collect();
    assert_eq!(codes, [53, 57, 55, 97, 94, 93, 60]);
    assert!(m.broadcast_flag(), "EDK2 asks for broadcast replies");
    let class = m.client_class().unwrap().unwrap();
    assert_eq!(
        (class.arch, class.undi_major, class.undi_minor),
        (ClientArch::EFI_X64, 3, 0)
    );
    assert!(m.client_arches().unwrap().unwrap()[0].is_efi_x64());
    assert!(m.client_uuid().unwrap().unwrap().is_all_zero());
    assert!(m.is_pxe_client() && !m.is_ipxe());
    assert!(m.user_class().is_none() && m.ipxe_options().is_none());
}
