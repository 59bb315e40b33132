//! Full boots of every profile against the reference server machines, in
//! memory: DHCP full mode, and ProxyDHCP next to a DHCP server without PXE.

mod firmware_common;

use std::net::Ipv4Addr;
use std::time::Duration;

use firmware_common::{Host, Lab, firmware};
use pxelab_reference::Instant;
use pxelab_reference::pxe::BootPolicy;
use pxelab_simulator::firmware::{FirmwareEvent, OfferKind, Profile};

const LAB: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PROD: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn boot(profile: Profile, proxy: bool) -> Lab {
    let mut hosts = vec![Host::reference(LAB, proxy, BootPolicy::default())];
    if proxy {
        hosts.push(Host::plain_dhcp(PROD, Duration::from_millis(5)));
    }
    let mut lab = Lab::new(firmware(profile), hosts);
    lab.run(Instant::ZERO, Instant::from_secs(200));
    lab
}

fn assert_loaded(lab: &Lab, file: &str) {
    assert_eq!(
        lab.loaded().map(|(f, _)| f),
        Some(file.to_string()),
        "{}",
        lab.transcript()
    );
    assert!(lab.fw.is_finished());
}

fn went_to_4011(lab: &Lab) -> bool {
    lab.events
        .iter()
        .any(|(_, e)| matches!(e, FirmwareEvent::BootServerRequest { port: 4011, .. }))
}

#[test]
fn pxe21_bios_boots_undionly_from_the_reference_dhcp_server() {
    let lab = boot(Profile::pxe21_bios(), false);
    assert_loaded(&lab, "undionly.kpxe");
    assert_eq!(lab.loaded().unwrap().1, 70_000);
    // The spec ROM waits out its first 4-s timeout before choosing.
    let selected = lab
        .events
        .iter()
        .find(|(_, e)| matches!(e, FirmwareEvent::Selected { .. }))
        .unwrap()
        .0;
    assert_eq!(selected, Instant::from_secs(4));
    assert!(!went_to_4011(&lab));
}

#[test]
fn legacy_rom_boots_as_soon_as_the_offer_is_in() {
    let lab = boot(Profile::legacy_rom(), false);
    assert_loaded(&lab, "undionly.kpxe");
    let selected = lab
        .events
        .iter()
        .find(|(_, e)| matches!(e, FirmwareEvent::Selected { .. }))
        .unwrap()
        .0;
    assert!(selected < Instant::from_millis(10), "{}", lab.transcript());
}

#[test]
fn edk2_boots_ipxe_efi_through_4011_from_the_reference_dhcp_server() {
    let lab = boot(Profile::edk2_uefi(), false);
    assert_loaded(&lab, "ipxe.efi");
    assert!(lab.events.iter().any(|(_, e)| matches!(
        e,
        FirmwareEvent::Offer {
            kind: OfferKind::DhcpBinl,
            ..
        }
    )));
    assert!(went_to_4011(&lab), "{}", lab.transcript());
}

#[test]
fn ipxe_gets_the_script_from_the_reference_dhcp_server() {
    let lab = boot(Profile::ipxe(), false);
    assert_loaded(&lab, "boot.ipxe");
}

#[test]
fn pxe21_bios_boots_through_proxydhcp() {
    let lab = boot(Profile::pxe21_bios(), true);
    assert_loaded(&lab, "undionly.kpxe");
    assert!(lab.events.iter().any(|(_, e)| *e
        == FirmwareEvent::Selected {
            dhcp: PROD,
            proxy: Some(LAB)
        }));
}

#[test]
fn edk2_boots_ipxe_efi_through_proxydhcp_and_4011() {
    let lab = boot(Profile::edk2_uefi(), true);
    assert_loaded(&lab, "ipxe.efi");
    assert!(went_to_4011(&lab), "{}", lab.transcript());
    // tsize probe, then the real request: two RRQs.
    let rrqs = lab.sent.iter().filter(|(_, t)| t.dst.port() == 69).count();
    assert_eq!(rrqs, 2);
}

#[test]
fn ipxe_boots_the_script_through_proxydhcp() {
    let lab = boot(Profile::ipxe(), true);
    assert_loaded(&lab, "boot.ipxe");
}

#[test]
fn chained_ipxe_on_uefi_gets_the_script() {
    let lab = boot(Profile::edk2_uefi().ipxe_chained(), true);
    assert_loaded(&lab, "boot.ipxe");
}

#[test]
fn legacy_rom_boots_through_proxydhcp() {
    let lab = boot(Profile::legacy_rom(), true);
    assert_loaded(&lab, "undionly.kpxe");
}

#[test]
fn events_print_like_the_screen() {
    let lab = boot(Profile::edk2_uefi(), true);
    let lines: Vec<String> = lab.events.iter().map(|(_, e)| e.to_string()).collect();
    assert!(
        lines.contains(&"offer from 10.0.0.1: Proxy BINL".to_string()),
        "{lines:#?}"
    );
    assert!(lines.contains(&"chose 10.0.0.2 with ProxyDHCP 10.0.0.1".to_string()));
    assert!(lines.contains(&"DHCPREQUEST to 10.0.0.1:4011".to_string()));
    assert!(lines.contains(&"loaded ipxe.efi from 10.0.0.1 (300000 bytes)".to_string()));
    let failed = FirmwareEvent::Failed {
        error: pxelab_simulator::firmware::PxeError::E55,
        detail: "no DHCPACK".into(),
    };
    assert_eq!(
        failed.to_string(),
        "PXE-E55: proxyDHCP service did not reply to request on port 4011. (no DHCPACK)"
    );
}
