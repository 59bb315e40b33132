//! Offer selection per profile, with crafted offers (research §2.3).

mod firmware_common;

use std::net::Ipv4Addr;

use firmware_common::Direct;
use firmware_common::craft::{
    self, dhcp_only, priority, proxy_binl, proxy_pxe10, pxe, pxe10, with_file,
};
use pxelab_reference::Instant;
use pxelab_reference::wire::dhcp::DhcpMessage;
use pxelab_simulator::firmware::{FirmwareEvent, Profile, PxeError, Quirk};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const D: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 4);
const Y1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);
const Y2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 60);
const Y3: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 70);

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

type Make = fn(u32) -> DhcpMessage;

/// Offers `(at ms, server, message-builder)` to a fresh `profile`, then lets
/// time run to just past the first 4-s timeout.
fn offered(profile: Profile, offers: Vec<(u64, Ipv4Addr, Make)>) -> Direct {
    let mut d = offered_only(profile, offers);
    d.advance(ms(4050));
    d
}

/// The same without letting time run on.
fn offered_only(profile: Profile, offers: Vec<(u64, Ipv4Addr, Make)>) -> Direct {
    let mut d = Direct::new(profile);
    let xid = d.xid();
    for (at, server, make) in offers {
        d.reply(ms(at), server, 67, &make(xid));
    }
    d
}

/// ACKs the client's REQUEST from `server` (with the offer's boot information
/// repeated by `extra`).
fn ack(
    d: &mut Direct,
    at: Instant,
    server: Ipv4Addr,
    yiaddr: Ipv4Addr,
    extra: fn(DhcpMessage) -> DhcpMessage,
) {
    let m = extra(craft::ack_for(d.xid(), server, yiaddr));
    d.reply(at, server, 67, &m);
}

fn boot_file(d: &Direct) -> Option<(Ipv4Addr, String, Ipv4Addr)> {
    d.events.iter().find_map(|(_, e)| match e {
        FirmwareEvent::BootFile {
            tftp_server,
            file,
            named_by,
        } => Some((*tftp_server, file.clone(), *named_by)),
        _ => None,
    })
}

fn requests_4011(d: &Direct) -> Vec<(Instant, Ipv4Addr)> {
    d.sent
        .iter()
        .filter(|(_, t)| t.dst.port() == 4011)
        .map(|(at, t)| (*at, *t.dst.ip()))
        .collect()
}

// ------------------------------------------------------------------ EDK2

fn dhcp_only_file_a(x: u32) -> DhcpMessage {
    with_file(dhcp_only(x, A, Y1), A, "prod.efi")
}
fn dhcp_only_b(x: u32) -> DhcpMessage {
    dhcp_only(x, B, Y2)
}
fn dhcp_pxe10_c(x: u32) -> DhcpMessage {
    pxe10(dhcp_only(x, C, Y3), C, "pxe10.efi")
}
fn dhcp_binl_a(x: u32) -> DhcpMessage {
    pxe(with_file(dhcp_only(x, A, Y1), A, "binl-offer.efi"))
}
fn proxy_binl_c(x: u32) -> DhcpMessage {
    proxy_binl(x, C)
}
fn proxy_binl_d(x: u32) -> DhcpMessage {
    proxy_binl(x, D)
}
fn proxy_pxe10_c(x: u32) -> DhcpMessage {
    proxy_pxe10(x, C, "proxy-c.efi")
}
fn proxy_pxe10_d(x: u32) -> DhcpMessage {
    proxy_pxe10(x, D, "proxy-d.efi")
}
fn same(m: DhcpMessage) -> DhcpMessage {
    m
}

#[test]
fn edk2_step1_dhcp_pxe10_beats_everything_and_waits_for_the_timeout() {
    let d = offered(
        Profile::edk2_uefi(),
        vec![
            (100, A, dhcp_only_file_a),
            (200, C, proxy_binl_c),
            (300, C, dhcp_pxe10_c),
        ],
    );
    assert_eq!(
        d.selected(),
        Some((Instant::from_secs(4), C, None)),
        "{}",
        d.transcript()
    );
}

#[test]
fn edk2_step3_dhcp_only_plus_proxy_pxe10_beats_a_binl_dhcp_offer() {
    let mut d = offered(
        Profile::edk2_uefi(),
        vec![
            (100, A, dhcp_binl_a),
            (200, B, dhcp_only_b),
            (300, C, proxy_pxe10_c),
        ],
    );
    assert_eq!(d.selected(), Some((Instant::from_secs(4), B, Some(C))));
    ack(&mut d, ms(4100), B, Y2, same);
    assert_eq!(boot_file(&d), Some((C, "proxy-c.efi".into(), C)));
}

#[test]
fn edk2_keeps_only_the_first_proxy_pxe10() {
    let mut d = offered(
        Profile::edk2_uefi(),
        vec![
            (100, B, dhcp_only_b),
            (200, D, proxy_pxe10_d),
            (300, C, proxy_pxe10_c),
        ],
    );
    assert_eq!(d.selected().map(|s| s.2), Some(Some(D)));
    ack(&mut d, ms(4100), B, Y2, same);
    assert_eq!(boot_file(&d).unwrap().1, "proxy-d.efi");
}

#[test]
fn edk2_step5_binl_dhcp_offer_beats_dhcp_only_plus_binl_proxy_and_asks_4011() {
    let mut d = offered(
        Profile::edk2_uefi(),
        vec![
            (100, B, dhcp_only_b),
            (200, C, proxy_binl_c),
            (300, A, dhcp_binl_a),
        ],
    );
    assert_eq!(d.selected(), Some((Instant::from_secs(4), A, None)));
    ack(&mut d, ms(4100), A, Y1, same);
    // The BINL offer's own file is not used: EDK2 asks its server on 4011 (Q4).
    assert_eq!(requests_4011(&d), vec![(ms(4100), A)]);
    assert_eq!(boot_file(&d), None);
}

#[test]
fn edk2_step6_tries_every_binl_proxy_in_order() {
    let mut d = offered(
        Profile::edk2_uefi(),
        vec![
            (100, C, proxy_binl_c),
            (200, B, dhcp_only_b),
            (300, D, proxy_binl_d),
        ],
    );
    assert_eq!(d.selected(), Some((Instant::from_secs(4), B, Some(C))));
    ack(&mut d, ms(4100), B, Y2, same);
    d.advance(ms(8200));
    let asked = requests_4011(&d);
    // 1 s × 4 to C, then D.
    let to_c: Vec<Instant> = asked.iter().filter(|a| a.1 == C).map(|a| a.0).collect();
    assert_eq!(to_c, vec![ms(4100), ms(5100), ms(6100), ms(7100)]);
    assert_eq!(asked.iter().find(|a| a.1 == D).map(|a| a.0), Some(ms(8100)));
    let mut answer = pxe(with_file(
        craft::ack_for(d.xid(), D, Ipv4Addr::UNSPECIFIED),
        D,
        "from-d.efi",
    ));
    answer.yiaddr = Ipv4Addr::UNSPECIFIED;
    d.reply(ms(8150), D, 4011, &answer);
    assert_eq!(boot_file(&d), Some((D, "from-d.efi".into(), D)));
}

#[test]
fn edk2_step7_dhcp_only_with_a_file_when_nothing_pxe_answers() {
    let mut d = offered(
        Profile::edk2_uefi(),
        vec![(100, B, dhcp_only_b), (200, A, dhcp_only_file_a)],
    );
    assert_eq!(d.selected(), Some((Instant::from_secs(4), A, None)));
    ack(&mut d, ms(4100), A, Y1, |m| with_file(m, A, "prod.efi"));
    assert_eq!(boot_file(&d), Some((A, "prod.efi".into(), A)));
}

#[test]
fn edk2_bz469_never_caches_the_proxy_pxe10_offer() {
    let offers = || vec![(100, B, dhcp_only_b as Make), (200, C, proxy_pxe10_c)];
    let fixed = offered(Profile::edk2_uefi(), offers());
    assert_eq!(fixed.selected().map(|s| s.2), Some(Some(C)));

    let mut buggy = offered(
        Profile::edk2_uefi().with_quirks(&[Quirk::Edk2Bz469]),
        offers(),
    );
    buggy.advance(Instant::from_secs(120));
    assert_eq!(buggy.selected(), None);
    assert_eq!(buggy.discovers().len(), 4, "it DISCOVERs again instead");
    let (err, detail) = buggy.failure().unwrap();
    assert_eq!(err, PxeError::E53);
    assert!(detail.contains("BZ 469"), "{detail}");
}

#[test]
fn rejects_proxy_pxe10_boots_only_through_binl() {
    let q = || Profile::edk2_uefi().with_quirks(&[Quirk::RejectsProxyPxe10]);
    let mut pxe10 = offered(q(), vec![(100, B, dhcp_only_b), (200, C, proxy_pxe10_c)]);
    pxe10.advance(Instant::from_secs(120));
    assert_eq!(
        pxe10.failure().map(|f| f.0),
        Some(PxeError::E53),
        "{}",
        pxe10.transcript()
    );

    let binl = offered(q(), vec![(100, B, dhcp_only_b), (200, C, proxy_binl_c)]);
    assert_eq!(binl.selected().map(|s| s.2), Some(Some(C)));
}

// ------------------------------------------------------------------ PXE 2.1

#[test]
fn pxe21_takes_the_earliest_complete_set() {
    // DhcpOnly (0.1 s) + proxy (0.3 s) is complete at 0.3 s, the PXE DHCP
    // offer only at 0.5 s.
    let d = offered(
        Profile::pxe21_bios(),
        vec![
            (100, B, dhcp_only_b),
            (300, C, proxy_pxe10_c),
            (500, A, |x| pxe10(dhcp_only(x, A, Y1), A, "a.0")),
        ],
    );
    assert_eq!(d.selected(), Some((Instant::from_secs(4), B, Some(C))));

    let d = offered(
        Profile::pxe21_bios(),
        vec![
            (100, B, dhcp_only_b),
            (1000, A, |x| pxe10(dhcp_only(x, A, Y1), A, "a.0")),
            (2000, C, proxy_pxe10_c),
        ],
    );
    assert_eq!(d.selected(), Some((Instant::from_secs(4), A, None)));
}

#[test]
fn pxe21_waits_through_the_4_and_8_s_timeouts_for_a_proxy() {
    let d = offered(Profile::pxe21_bios(), vec![(100, A, dhcp_only_file_a)]);
    let mut d = d;
    d.advance(Instant::from_secs(20));
    assert_eq!(d.discovers().len(), 2);
    assert_eq!(d.selected(), Some((Instant::from_secs(12), A, None)));

    // A proxy answering the second DISCOVER completes the set.
    let mut d = offered(Profile::pxe21_bios(), vec![(100, A, dhcp_only_file_a)]);
    let x = d.xid();
    d.reply(ms(6000), C, 67, &proxy_pxe10(x, C, "lab.0"));
    d.advance(Instant::from_secs(20));
    assert_eq!(d.selected(), Some((Instant::from_secs(12), A, Some(C))));
}

#[test]
fn pxe21_settles_on_dhcp_only_without_a_file_as_e53() {
    let mut d = offered(Profile::pxe21_bios(), vec![(100, B, dhcp_only_b)]);
    d.advance(Instant::from_secs(20));
    let (err, _) = d.failure().unwrap();
    assert_eq!(err, PxeError::E53);
    assert_eq!(d.events.last().unwrap().0, Instant::from_secs(12));
}

#[test]
fn legacy_rom_takes_the_first_complete_set_at_once() {
    let d = offered(
        Profile::legacy_rom(),
        vec![
            (100, B, dhcp_only_b),
            (300, C, proxy_pxe10_c),
            (500, A, |x| pxe10(dhcp_only(x, A, Y1), A, "a.0")),
        ],
    );
    assert_eq!(d.selected(), Some((ms(300), B, Some(C))));

    let d = offered(
        Profile::legacy_rom(),
        vec![
            (100, B, dhcp_only_b),
            (200, A, |x| pxe10(dhcp_only(x, A, Y1), A, "a.0")),
            (300, C, proxy_pxe10_c),
        ],
    );
    assert_eq!(d.selected(), Some((ms(200), A, None)));
}

// ------------------------------------------------------------------ iPXE

#[test]
fn ipxe_prefers_the_highest_175_priority_and_the_later_of_equals() {
    let d = offered(
        Profile::ipxe(),
        vec![
            (100, A, |x| priority(dhcp_only(x, A, Y1), 0)),
            (200, B, |x| priority(dhcp_only(x, B, Y2), 5)),
            (300, C, |x| priority(dhcp_only(x, C, Y3), 5)),
            (400, D, |x| priority(dhcp_only(x, D, Y1), -3)),
        ],
    );
    // No proxy: iPXE leaves once more than 2 s have passed, at a timer expiry
    // (1 s, then 1 + 2 = 3 s).
    assert_eq!(
        d.selected(),
        Some((Instant::from_secs(3), C, None)),
        "{}",
        d.transcript()
    );
    assert_eq!(d.requested_server(), Some(C));
}

#[test]
fn ipxe_without_priorities_takes_the_later_offer() {
    let d = offered(
        Profile::ipxe(),
        vec![(100, A, |x| dhcp_only(x, A, Y1)), (200, B, dhcp_only_b)],
    );
    assert_eq!(d.selected().map(|s| s.1), Some(B));
}

#[test]
fn ipxe_leaves_discovery_as_soon_as_a_proxy_offer_is_in() {
    // iPXE chainloaded (dhcp.c: at the offer)...
    let d = offered(
        Profile::pxe21_bios().ipxe_chained(),
        vec![(100, A, |x| dhcp_only(x, A, Y1)), (500, C, proxy_binl_c)],
    );
    assert_eq!(d.selected(), Some((ms(500), A, Some(C))));
    // ...the ROM at the first DISCOVER timer's expiry (as captured,
    // tests/fixtures/firmware/ipxe-bios.json).
    let d = offered(
        Profile::ipxe(),
        vec![(100, A, |x| dhcp_only(x, A, Y1)), (500, C, proxy_binl_c)],
    );
    assert_eq!(d.selected(), Some((Instant::from_secs(1), A, Some(C))));
}

#[test]
fn ipxe_gives_up_on_a_silent_proxy_after_2_s_and_boots_the_ack() {
    let mut d = offered_only(
        Profile::pxe21_bios().ipxe_chained(),
        vec![(100, A, |x| dhcp_only(x, A, Y1)), (200, C, proxy_binl_c)],
    );
    ack(&mut d, ms(300), A, Y1, |m| with_file(m, A, "fallback.ipxe"));
    assert_eq!(requests_4011(&d).first(), Some(&(ms(300), C)));
    d.advance(Instant::from_secs(10));
    assert_eq!(requests_4011(&d).len(), 2);
    let at = d
        .events
        .iter()
        .find(|(_, e)| matches!(e, FirmwareEvent::BootFile { .. }))
        .unwrap()
        .0;
    assert_eq!(at, ms(3300));
    assert_eq!(boot_file(&d), Some((A, "fallback.ipxe".into(), A)));
}
