//! What each profile puts on the wire when it DISCOVERs, and when.

mod firmware_common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use firmware_common::{CLIENT_MAC, Direct, UUID};
use pxelab_reference::wire::dhcp::{DhcpMessage, FLAG_BROADCAST, code};
use pxelab_reference::{Instant, L2Dest};
use pxelab_simulator::firmware::{Firmware, Identity, Profile, PxeError, Quirk};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn codes(m: &DhcpMessage) -> Vec<u8> {
    m.options.iter().map(|o| o.code).collect()
}

fn opt(m: &DhcpMessage, c: u8) -> Vec<u8> {
    m.option(c).map(|d| d.to_vec()).unwrap_or_default()
}

fn first_discover(profile: Profile) -> DhcpMessage {
    let d = Direct::new(profile);
    let (_, t, m) = d
        .dhcp_sent()
        .into_iter()
        .next()
        .expect("a DISCOVER at power-on");
    assert_eq!(t.src, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68));
    assert_eq!(t.dst, SocketAddrV4::new(Ipv4Addr::BROADCAST, 67));
    assert_eq!(t.l2, L2Dest::Broadcast);
    assert_eq!(m.client_mac(), Some(CLIENT_MAC));
    assert_eq!(m.secs, 0);
    m
}

fn uuid97() -> Vec<u8> {
    let mut v = vec![0];
    v.extend_from_slice(&UUID);
    v
}

#[test]
fn pxe21_bios_discover_carries_the_spec_identity() {
    let m = first_discover(Profile::pxe21_bios());
    assert_eq!(codes(&m), [53, 57, 55, 60, 93, 94, 97]);
    assert_eq!(
        opt(&m, code::VENDOR_CLASS),
        b"PXEClient:Arch:00000:UNDI:002001"
    );
    assert_eq!(opt(&m, code::CLIENT_ARCH), [0, 0]);
    assert_eq!(opt(&m, code::CLIENT_NDI), [1, 2, 1]);
    assert_eq!(opt(&m, code::CLIENT_UUID), uuid97());
    assert_eq!(opt(&m, code::MAX_MESSAGE_SIZE), 1472u16.to_be_bytes());
    let prl = opt(&m, code::PARAMETER_REQUEST_LIST);
    for c in [43, 60, 66, 67, 128, 135] {
        assert!(prl.contains(&c), "55 lacks {c}");
    }
    assert_eq!(m.flags, FLAG_BROADCAST);
}

#[test]
fn edk2_discover_matches_its_fingerprint() {
    let m = first_discover(Profile::edk2_uefi());
    assert_eq!(codes(&m), [53, 57, 55, 97, 94, 93, 60]);
    assert_eq!(
        opt(&m, code::VENDOR_CLASS),
        b"PXEClient:Arch:00007:UNDI:003000"
    );
    assert_eq!(opt(&m, code::CLIENT_ARCH), [0, 7]);
    assert_eq!(opt(&m, code::CLIENT_NDI), [1, 3, 0]);
    assert_eq!(opt(&m, code::CLIENT_UUID), uuid97());
    let prl = opt(&m, code::PARAMETER_REQUEST_LIST);
    assert_eq!(prl.len(), 35);
    assert!(prl.contains(&97));
    assert_eq!(m.flags, FLAG_BROADCAST);
}

#[test]
fn ipxe_discover_says_ipxe_twice() {
    let m = first_discover(Profile::ipxe());
    // The order of the real ROM (tests/fixtures/firmware/ipxe-bios.json).
    assert_eq!(codes(&m), [53, 57, 93, 94, 60, 77, 55, 175, 61, 97]);
    assert_eq!(
        opt(&m, code::VENDOR_CLASS),
        b"PXEClient:Arch:00000:UNDI:002001"
    );
    assert_eq!(opt(&m, code::USER_CLASS), b"iPXE");
    assert!(m.is_ipxe());
    assert!(m.ipxe_options().unwrap().is_ok());
    assert_eq!(opt(&m, code::MAX_MESSAGE_SIZE), 1472u16.to_be_bytes());
    assert_eq!(m.flags, 0);
}

#[test]
fn chained_ipxe_on_uefi_reports_arch_7() {
    let m = first_discover(Profile::edk2_uefi().ipxe_chained());
    assert_eq!(
        opt(&m, code::VENDOR_CLASS),
        b"PXEClient:Arch:00007:UNDI:003010"
    );
    assert_eq!(opt(&m, code::CLIENT_ARCH), [0, 7]);
    assert!(m.is_ipxe());
}

#[test]
fn legacy_rom_discovers_like_the_spec() {
    let m = first_discover(Profile::legacy_rom());
    assert_eq!(codes(&m), [53, 57, 55, 60, 93, 94, 97]);
}

#[test]
fn no_uuid_quirk_drops_option_97() {
    let m = first_discover(Profile::pxe21_bios().with_quirks(&[Quirk::NoUuid]));
    assert!(!m.has_option(code::CLIENT_UUID));
    assert_eq!(codes(&m), [53, 57, 55, 60, 93, 94]);
}

#[test]
fn zero_uuid_quirk_sends_a_zero_guid() {
    let m = first_discover(Profile::pxe21_bios().with_quirks(&[Quirk::ZeroUuid]));
    assert_eq!(opt(&m, code::CLIENT_UUID), [0u8; 17]);
}

#[test]
fn without_a_uuid_edk2_sends_zeros_and_a_bios_rom_sends_nothing() {
    let no_uuid = |p: Profile| {
        let fw = Firmware::new(
            Arc::new(p),
            Identity {
                mac: CLIENT_MAC,
                uuid: None,
            },
            ChaCha8Rng::seed_from_u64(1),
        );
        let d = Direct::with(fw);
        d.discovers()[0].1.clone()
    };
    assert_eq!(
        opt(&no_uuid(Profile::edk2_uefi()), code::CLIENT_UUID),
        [0u8; 17]
    );
    assert!(!no_uuid(Profile::pxe21_bios()).has_option(code::CLIENT_UUID));
}

/// DISCOVER times, `secs` values and xids with nobody answering, and the end.
fn schedule(profile: Profile) -> (Vec<(Instant, u16, u32)>, Instant, PxeError) {
    let mut d = Direct::new(profile);
    d.advance(Instant::from_secs(300));
    let times = d
        .discovers()
        .into_iter()
        .map(|(at, m)| (at, m.secs, m.xid))
        .collect();
    let end = d.events.last().unwrap().0;
    (times, end, d.failure().unwrap().0)
}

fn at(secs: &[u64]) -> Vec<Instant> {
    secs.iter().map(|s| Instant::from_secs(*s)).collect()
}

#[test]
fn spec_timers_are_4_8_16_32_on_one_xid() {
    for p in [
        Profile::pxe21_bios(),
        Profile::edk2_uefi(),
        Profile::legacy_rom(),
    ] {
        let id = p.id.clone();
        let (sched, end, err) = schedule(p);
        assert_eq!(
            sched.iter().map(|s| s.0).collect::<Vec<_>>(),
            at(&[0, 4, 12, 28]),
            "{id}"
        );
        // secs = time since the first DISCOVER (the HP capture: 0/4/12/28, R44).
        assert_eq!(
            sched.iter().map(|s| s.1).collect::<Vec<_>>(),
            [0, 4, 12, 28],
            "{id}"
        );
        assert!(sched.iter().all(|s| s.2 == sched[0].2), "{id}: one xid");
        assert_eq!(end, Instant::from_secs(60), "{id}");
        assert_eq!(err, PxeError::E51, "{id}");
    }
}

#[test]
fn ipxe_timers_are_1_2_4_8_then_its_own_message() {
    let (sched, end, err) = schedule(Profile::ipxe());
    assert_eq!(
        sched.iter().map(|s| s.0).collect::<Vec<_>>(),
        at(&[0, 1, 3, 7])
    );
    assert_eq!(end, Instant::from_secs(15));
    assert_eq!(err, PxeError::IpxeNoConfig);
    assert_eq!(err.to_string(), "iPXE: No configuration methods succeeded");
}

#[test]
fn xid_and_tftp_port_come_from_the_rng() {
    let make = |seed| {
        Firmware::new(
            Arc::new(Profile::pxe21_bios()),
            Identity {
                mac: CLIENT_MAC,
                uuid: None,
            },
            ChaCha8Rng::seed_from_u64(seed),
        )
    };
    let xid = |seed| Direct::with(make(seed)).xid();
    assert_eq!(xid(3), xid(3));
    assert_ne!(xid(3), xid(4));
    let fw = make(3);
    assert_eq!(fw.listens_on()[0], 68);
    assert!(fw.listens_on()[1] >= 1024);
    assert_eq!(make(3).listens_on(), fw.listens_on());
}
