//! The boot server on UDP 4011 (PXE 2.1) and the boot-file policy.

mod dhcp_support;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use dhcp_support::*;
use pxelab_reference::Instant;
use pxelab_reference::dhcp::{DhcpEventKind, IgnoreReason};
use pxelab_reference::pxe::{
    ArchOverride, BootDecision, BootMenu, BootPolicy, BootRule, BootServer, BootServerConfig,
    ClientFacts, MenuItem,
};
use pxelab_reference::wire::dhcp::{DhcpMessage, MessageType, code};

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 123);

fn boot_server(policy: BootPolicy) -> BootServer {
    BootServer::new(BootServerConfig {
        server_addr: SERVER,
        policy,
        respond_delay: Duration::ZERO,
        reserved_files: Default::default(),
        access: Default::default(),
    })
}

fn menu_policy() -> BootPolicy {
    BootPolicy {
        menu: Some(BootMenu {
            prompt: "Boot?".into(),
            timeout_secs: 255,
            discovery_control: 3,
            items: vec![
                MenuItem {
                    item_type: 0x8000,
                    description: "Install".into(),
                    file: Some("menu.0".into()),
                },
                MenuItem {
                    item_type: 0x8001,
                    description: "Policy".into(),
                    file: None,
                },
            ],
        }),
        ..BootPolicy::default()
    }
}

fn boot_request(arch: u16, opt43: Option<&[u8]>) -> DhcpMessage {
    let mut r = client_msg(MessageType::Request, mac(1), 42);
    r.ciaddr = CLIENT;
    make_pxe(&mut r, arch);
    if let Some(o) = opt43 {
        r.push_option(code::VENDOR_SPECIFIC, o.to_vec());
    }
    r
}

fn ask(b: &mut BootServer, r: &DhcpMessage, src_port: u16) {
    let bytes = r.emit();
    let src = SocketAddrV4::new(CLIENT, src_port);
    b.handle_datagram(
        Instant::ZERO,
        unicast(&bytes, src, SocketAddrV4::new(SERVER, 4011), mac(1)),
    );
}

#[test]
fn boot_item_is_echoed_with_its_file() {
    let mut b = boot_server(menu_policy());
    ask(
        &mut b,
        &boot_request(0, Some(&[71, 4, 0x80, 0, 0, 0, 255])),
        4011,
    );
    let (t, ack) = one_reply(&mut b);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(
        ack.option(code::VENDOR_SPECIFIC).as_deref(),
        Some(&[71, 4, 0x80, 0, 0, 0, 255][..])
    );
    assert_eq!(ack.file, b"menu.0");
    assert_eq!(ack.siaddr, SERVER);
    assert_eq!(ack.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(
        t.dst,
        SocketAddrV4::new(CLIENT, 4011),
        "answered to the source port"
    );
    assert_eq!(
        events(&mut b)[0].kind,
        DhcpEventKind::BootAck {
            item: Some((0x8000, 0))
        }
    );
    // An item without its own file gets the policy's file for the architecture.
    ask(
        &mut b,
        &boot_request(7, Some(&[71, 4, 0x80, 1, 0, 0, 255])),
        68,
    );
    let (_, ack) = one_reply(&mut b);
    assert_eq!(ack.file, b"ipxe.efi");
}

#[test]
fn unknown_item_and_bis_requests_get_no_reply_with_the_reason() {
    let mut b = boot_server(menu_policy());
    ask(
        &mut b,
        &boot_request(0, Some(&[71, 4, 0x12, 0x34, 0, 0, 255])),
        4011,
    );
    ask(
        &mut b,
        &boot_request(0, Some(&[71, 4, 0x80, 0, 0x80, 0, 255])),
        4011,
    );
    assert_eq!(
        ignore_reasons(&mut b),
        [
            IgnoreReason::UnknownBootItem(0x1234),
            IgnoreReason::BisRequested
        ]
    );
}

#[test]
fn non_pxe_and_non_request_messages_are_ignored() {
    let mut b = boot_server(BootPolicy::default());
    let mut r = client_msg(MessageType::Request, mac(1), 1);
    r.ciaddr = CLIENT;
    ask(&mut b, &r, 68);
    let mut d = boot_request(0, None);
    d.set_option(code::MESSAGE_TYPE, [u8::from(MessageType::Discover)]);
    ask(&mut b, &d, 68);
    assert_eq!(
        ignore_reasons(&mut b),
        [IgnoreReason::NotPxeClient, IgnoreReason::NotAClientRequest]
    );
}

#[test]
fn ipxe_on_4011_gets_the_script() {
    let mut b = boot_server(BootPolicy::default());
    let mut r = boot_request(7, None);
    make_ipxe(&mut r);
    ask(&mut b, &r, 68);
    let (_, ack) = one_reply(&mut b);
    assert_eq!(ack.boot_file().as_deref(), Some(&b"boot.ipxe"[..]));
}

#[test]
fn respond_delay_applies_on_4011_too() {
    let mut b = BootServer::new(BootServerConfig {
        server_addr: SERVER,
        policy: BootPolicy::default(),
        respond_delay: Duration::from_millis(200),
        reserved_files: Default::default(),
        access: Default::default(),
    });
    ask(&mut b, &boot_request(0, None), 68);
    assert!(b.poll_transmit().is_none());
    assert_eq!(b.poll_timeout(), Some(Instant::from_millis(200)));
    b.handle_timeout(Instant::from_millis(200));
    one_reply(&mut b);
}

fn facts(arch: Option<u16>, ipxe: bool) -> ClientFacts {
    ClientFacts {
        vendor_class: Some(b"PXEClient".to_vec()),
        arch,
        is_ipxe: ipxe,
        uuid_option: None,
    }
}

#[test]
fn policy_by_architecture_and_user_class() {
    let p = BootPolicy::default();
    let file = |f: &ClientFacts| p.boot_file(f).file().map(str::to_string);
    assert_eq!(
        file(&facts(Some(0), false)).as_deref(),
        Some("undionly.kpxe")
    );
    assert_eq!(
        file(&facts(None, false)).as_deref(),
        Some("undionly.kpxe"),
        "no arch: a BIOS ROM"
    );
    assert_eq!(file(&facts(Some(7), false)).as_deref(), Some("ipxe.efi"));
    assert_eq!(
        file(&facts(Some(9), false)).as_deref(),
        Some("ipxe.efi"),
        "9 is x64 after the RFC 4578 erratum"
    );
    for arch in [0, 7, 9, 11] {
        assert_eq!(
            p.boot_file(&facts(Some(arch), true)),
            BootDecision::Boot {
                file: "boot.ipxe".into(),
                rule: BootRule::Ipxe
            }
        );
    }
    assert_eq!(
        p.boot_file(&facts(Some(6), false)),
        BootDecision::NoBoot { arch: Some(6) }
    );
    assert_eq!(
        p.boot_file(&facts(Some(11), false)),
        BootDecision::NoBoot { arch: Some(11) }
    );
    assert_eq!(
        p.boot_file(&facts(Some(16), false)),
        BootDecision::NoBoot { arch: None }
    );

    let p = BootPolicy {
        boot_efi_ia32: Some("ipxe32.efi".into()),
        boot_efi_arm64: Some("snp-arm64.efi".into()),
        http_url: Some("http://192.168.50.1/ipxe.efi".into()),
        arch_overrides: vec![ArchOverride {
            arch: 7,
            file: "custom.efi".into(),
        }],
        ..BootPolicy::default()
    };
    let file = |f: &ClientFacts| p.boot_file(f).file().map(str::to_string);
    assert_eq!(file(&facts(Some(6), false)).as_deref(), Some("ipxe32.efi"));
    assert_eq!(
        file(&facts(Some(11), false)).as_deref(),
        Some("snp-arm64.efi")
    );
    assert_eq!(
        file(&facts(Some(16), false)).as_deref(),
        Some("http://192.168.50.1/ipxe.efi")
    );
    assert_eq!(file(&facts(Some(7), false)).as_deref(), Some("custom.efi"));
    assert_eq!(file(&facts(Some(9), false)).as_deref(), Some("ipxe.efi"));
    assert_eq!(
        file(&facts(Some(7), true)).as_deref(),
        Some("boot.ipxe"),
        "iPXE beats overrides"
    );
}

#[test]
fn client_facts_come_from_the_request() {
    let mut r = boot_request(7, None);
    let f = ClientFacts::from_message(&r);
    assert!(f.is_pxe_client() && f.is_uefi() && !f.is_ipxe);
    assert_eq!(f.arch, Some(7));
    // Another user class is not iPXE; the plain string `iPXE` is, and so is 175.
    r.push_option(code::USER_CLASS, *b"gPXE");
    assert!(!ClientFacts::from_message(&r).is_ipxe);
    r.set_option(code::USER_CLASS, *b"iPXE");
    assert!(
        ClientFacts::from_message(&r).is_ipxe,
        "plain iPXE user class"
    );
    r.remove_option(code::USER_CLASS);
    r.push_option(code::IPXE_ENCAP, [1, 1, 1]);
    assert!(
        ClientFacts::from_message(&r).is_ipxe,
        "option 175 marks iPXE"
    );
    // Without 93 the architecture comes from option 60.
    let mut d = discover(mac(1), 1);
    d.push_option(code::VENDOR_CLASS, *b"PXEClient:Arch:00011:UNDI:003016");
    assert_eq!(ClientFacts::from_message(&d).arch, Some(11));
}

#[test]
fn policy_deserialises_from_toml_and_rejects_unknown_fields() {
    let p: BootPolicy = toml::from_str(
        r#"
        boot_bios = "pxelinux.0"
        [[arch_overrides]]
        arch = 11
        file = "grubaa64.efi"
        [menu]
        prompt = "Choose"
        timeout_secs = 5
        items = [{ type = 32768, description = "Install" , file = "install.0" }]
        "#,
    )
    .unwrap();
    assert_eq!(p.boot_bios, "pxelinux.0");
    assert_eq!(p.boot_efi, "ipxe.efi", "defaults fill the rest");
    assert_eq!(p.menu.as_ref().unwrap().discovery_control, 3);
    assert_eq!(p.menu.unwrap().items[0].item_type, 0x8000);
    let err = toml::from_str::<BootPolicy>("boot_bois = \"x\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("boot_bois"), "{err}");
}

#[test]
fn clients_refused_on_67_are_refused_on_4011() {
    use pxelab_reference::dhcp::{ClientAccess, DhcpSettings};
    let settings = DhcpSettings {
        deny: vec![mac(1)],
        ..DhcpSettings::default()
    };
    let mut cfg = full_config(settings);
    cfg.boot = BootPolicy::default();
    let mut b = BootServer::new(BootServerConfig::from_dhcp(&cfg));
    assert_eq!(
        ClientAccess::from_settings(&cfg.settings).deny,
        vec![mac(1)]
    );
    ask(&mut b, &boot_request(0, None), 68);
    assert_eq!(ignore_reasons(&mut b), [IgnoreReason::Denied]);
}
