//! Catalogue quirks built into a profile, shown against the profile that does
//! not have them (crafted offers, one firmware).

mod firmware_common;

use std::net::Ipv4Addr;

use firmware_common::Direct;
use firmware_common::craft::{dhcp_only, pxe, with_file};
use pxelab_reference::Instant;
use pxelab_reference::wire::dhcp::{DhcpMessage, code};
use pxelab_reference::wire::pxe::PxeVendorOptions;
use pxelab_simulator::firmware::Profile;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const Y: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);

/// A DHCP offer with `PXEClient`, a boot file and the MTFTP sub-options
/// 43.1–5 (the WfM11a dialect).
fn wfm11a(xid: u32) -> DhcpMessage {
    let mut m = pxe(with_file(dhcp_only(xid, A, Y), A, "boot.0"));
    let o = PxeVendorOptions {
        mtftp_ip: Some(Ipv4Addr::new(224, 1, 1, 1)),
        mtftp_cport: Some(1759),
        mtftp_sport: Some(1758),
        mtftp_tmout: Some(1),
        mtftp_delay: Some(2),
        ..PxeVendorOptions::default()
    };
    m.push_option(code::VENDOR_SPECIFIC, o.emit().expect("43"));
    m
}

fn offered(profile: Profile) -> Direct {
    let mut d = Direct::new(profile);
    let xid = d.xid();
    d.reply(Instant::from_millis(100), A, 67, &wfm11a(xid));
    d.advance(Instant::from_millis(4050));
    d
}

#[test]
fn edk2_discards_an_mtftp_offer_that_a_pxe21_rom_takes() {
    // Q24 (EDK2 PxeBcDhcp4.c): WfM11a offers are discarded outright.
    let rom = offered(Profile::pxe21_bios());
    assert_eq!(
        rom.selected().map(|(_, dhcp, _)| dhcp),
        Some(A),
        "{}",
        rom.transcript()
    );
    let edk2 = offered(Profile::edk2_uefi());
    assert_eq!(edk2.selected(), None, "{}", edk2.transcript());
}
