//! pxelab's own servers, in memory behind a fake L2, pass every MUST and
//! SHOULD of the conformance suite in full, proxy and TFTP-only mode.

use std::net::Ipv4Addr;

use pxelab_simulator::conform::testbed::{MemoryLink, ServerSpec};
use pxelab_simulator::conform::{self, Mode, Options, Outcome, Report};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PLAIN_DHCP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn assert_outcomes(report: &Report, ids: &[&str], want: Outcome) {
    for id in ids {
        let r = report
            .result(id)
            .unwrap_or_else(|| panic!("{id} did not run\n{}", report.to_text()));
        assert_eq!(r.outcome, want, "{id}: {}\n{}", r.detail, report.to_text());
    }
}

const DHCP_CHECKS: &[&str] = &[
    "dhcp.offer.answers-discover",
    "dhcp.offer.echoes-xid",
    "dhcp.offer.echoes-chaddr",
    "dhcp.offer.message-type",
    "dhcp.offer.server-id",
    "dhcp.offer.lease-time",
    "dhcp.offer.yiaddr",
    "dhcp.offer.well-formed",
    "dhcp.offer.broadcast-when-flagged",
    "dhcp.offer.fits-max-message-size",
    "dhcp.ack.echoes-xid",
    "dhcp.ack.same-address",
    "dhcp.ack.lease-time",
    "dhcp.request.other-server-silent",
    "dhcp.request.wrong-subnet-nak",
];

const PXE_CHECKS: &[&str] = &[
    "pxe.offer.vendor-class",
    "pxe.opt43.present",
    "pxe.opt43.well-formed",
    "pxe.opt43.terminated",
    "pxe.opt43.discovery-control-valid",
    "pxe.offer.next-step",
    "bootsrv.4011.answers",
    "bootsrv.4011.is-ack",
    "bootsrv.4011.echoes-xid",
    "bootsrv.4011.echoes-boot-item",
    "bootsrv.4011.unicast-reply",
    "bootsrv.4011.boot-file",
    "bootfile.bios",
    "bootfile.uefi-x64",
    "bootfile.per-arch",
    "bootfile.ipxe-no-chainload-loop",
    "bootfile.exists",
];

const TFTP_CHECKS: &[&str] = &[
    "tftp.rrq.answers",
    "tftp.rrq.new-tid",
    "tftp.transfer.completes",
    "tftp.file-not-found",
    "tftp.traversal-denied",
    "tftp.wrq-refused",
    "tftp.oack.only-requested",
    "tftp.oack.unknown-option-ignored",
    "tftp.blksize.supported",
    "tftp.blksize.honoured",
    "tftp.tsize.supported",
    "tftp.tsize.accurate",
    "tftp.tsize-probe-abort",
    "tftp.retransmit-on-lost-ack",
    "tftp.no-sorcerers-apprentice",
    "tftp.session-timeout",
    "tftp.unknown-tid",
    "tftp.retransmitted-rrq-one-session",
    "tftp.windowsize.supported",
    "tftp.windowsize.transfer",
    "timing.tftp-first-reply",
];

const BOOT_CHECKS: &[&str] = &[
    "boot.pxe21-bios",
    "boot.edk2-uefi",
    "boot.ipxe",
    "boot.legacy-rom",
    "boot.storm.all-boot",
    "timing.offer-latency",
];

const PROXY_CHECKS: &[&str] = &[
    "proxy.answers-pxe-client",
    "proxy.yiaddr-zero",
    "proxy.echoes-xid",
    "proxy.server-id",
    "proxy.no-lease-options",
    "proxy.ignores-non-pxe",
];

/// A file of 70 000 blocks at 1468 bytes: past the block number wrap.
fn large() -> Vec<u8> {
    (0..70_000usize * 1468).map(|i| (i % 253) as u8).collect()
}

#[test]
fn full_mode_reference_server_passes_every_must_and_should() {
    let server = ServerSpec::reference_full(SERVER).with_file("large.img", large());
    let mut link = MemoryLink::new(vec![server]).unwrap();
    let opts = Options {
        clients: 50,
        large_file: Some("large.img".into()),
        ..Options::default()
    };
    let report = conform::run(&mut link, &opts, None).unwrap();
    assert_eq!(report.mode, Mode::Full);
    assert_eq!(report.server, Some(SERVER));
    for ids in [DHCP_CHECKS, PXE_CHECKS, TFTP_CHECKS, BOOT_CHECKS] {
        assert_outcomes(&report, ids, Outcome::Passed);
    }
    assert_outcomes(
        &report,
        &["boot.storm.unique-addresses", "tftp.rollover"],
        Outcome::Passed,
    );
    // Proxy rules do not apply to a full server: skipped, with the reason.
    assert_outcomes(&report, PROXY_CHECKS, Outcome::Skipped);
    assert!(report.musts_pass());
    let text = report.to_text();
    assert!(text.contains("failed, 0 not supported"), "{text}");
    assert!(text.trim_end().ends_with("skipped"), "{text}");
}

#[test]
fn proxy_mode_next_to_a_plain_dhcp_server() {
    let mut link = MemoryLink::new(vec![
        ServerSpec::plain_dhcp(PLAIN_DHCP),
        ServerSpec::reference_proxy(SERVER),
    ])
    .unwrap();
    let opts = Options {
        clients: 50,
        ..Options::default()
    };
    let report = conform::run(&mut link, &opts, None).unwrap();
    assert_eq!(report.mode, Mode::Proxy, "{}", report.to_text());
    assert_eq!(report.server, Some(SERVER));
    for ids in [PROXY_CHECKS, PXE_CHECKS, TFTP_CHECKS, BOOT_CHECKS] {
        assert_outcomes(&report, ids, Outcome::Passed);
    }
    // DHCP offer rules belong to the other server.
    assert_outcomes(&report, DHCP_CHECKS, Outcome::Skipped);
    assert!(report.musts_pass());
}

#[test]
fn tftp_only_mode_runs_only_tftp_checks() {
    let mut link = MemoryLink::new(vec![ServerSpec::tftp_only(SERVER)]).unwrap();
    let opts = Options {
        mode: Some(Mode::TftpOnly),
        server: Some(SERVER),
        file: Some("undionly.kpxe".into()),
        ..Options::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conform.pcap");
    let file = std::fs::File::create(&path).unwrap();
    let report = conform::run(&mut link, &opts, Some(Box::new(file))).unwrap();
    assert_outcomes(&report, TFTP_CHECKS, Outcome::Passed);
    // The pcap: the classic little-endian magic, Ethernet link type, and
    // every frame of the run (each transfer's blocks, not just the evidence).
    let pcap = std::fs::read(&path).unwrap();
    assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    assert_eq!(&pcap[20..24], &[1, 0, 0, 0]);
    assert!(pcap.len() > 500_000, "{} bytes", pcap.len());
    let skipped = report.result("dhcp.offer.echoes-xid").unwrap();
    assert_eq!(skipped.outcome, Outcome::Skipped);
    assert!(skipped.detail.contains("TFTP only"), "{}", skipped.detail);
    assert_outcomes(&report, &["tftp.rollover"], Outcome::Skipped);
    assert!(report.musts_pass());
}

#[test]
fn only_and_profile_filters_select_checks() {
    let mut link = MemoryLink::new(vec![ServerSpec::reference_full(SERVER)]).unwrap();
    let opts = Options {
        only: vec!["bootfile.*".into()],
        profiles: vec!["pxe21-bios".into(), "ipxe".into()],
        ..Options::default()
    };
    let report = conform::run(&mut link, &opts, None).unwrap();
    assert!(report.results.iter().all(|r| r.id.starts_with("bootfile.")));
    assert_outcomes(
        &report,
        &["bootfile.bios", "bootfile.ipxe-no-chainload-loop"],
        Outcome::Passed,
    );
    let uefi = report.result("bootfile.uefi-x64").unwrap();
    assert_eq!(uefi.outcome, Outcome::Skipped);
    assert!(
        uefi.detail.contains("edk2-uefi not selected"),
        "{}",
        uefi.detail
    );
}

#[test]
fn bad_options_name_the_valid_ones() {
    let bad = Options {
        profiles: vec!["bios".into()],
        ..Options::default()
    };
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("pxe21-bios") && e.contains("edk2-uefi"), "{e}");
    let bad = Options {
        only: vec!["dchp.*".into()],
        ..Options::default()
    };
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("--list"), "{e}");
}

#[test]
fn dhcp_only_mode_skips_tftp_and_boots() {
    let mut link = MemoryLink::new(vec![ServerSpec::reference_full(SERVER)]).unwrap();
    let opts = Options {
        mode: Some(Mode::DhcpOnly),
        ..Options::default()
    };
    let report = conform::run(&mut link, &opts, None).unwrap();
    assert_eq!(report.mode, Mode::DhcpOnly);
    assert_outcomes(&report, DHCP_CHECKS, Outcome::Passed);
    assert_outcomes(
        &report,
        &["pxe.offer.vendor-class", "pxe.opt43.terminated"],
        Outcome::Passed,
    );
    assert_outcomes(
        &report,
        &["tftp.rrq.answers", "boot.pxe21-bios", "bootfile.bios"],
        Outcome::Skipped,
    );
    assert!(report.musts_pass());
}

#[test]
fn a_silent_segment_fails_fast_and_skips_the_boots() {
    // Nothing answers: the DHCP checks fail with the DISCOVER as evidence;
    // firmware boots are not attempted.
    let mut link = MemoryLink::new(vec![ServerSpec::tftp_only(SERVER)]).unwrap();
    let report = conform::run(&mut link, &Options::default(), None).unwrap();
    let r = report.result("dhcp.offer.answers-discover").unwrap();
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.evidence[0].contains("DHCPDISCOVER"), "{:?}", r.evidence);
    assert_outcomes(
        &report,
        &["boot.pxe21-bios", "boot.storm.all-boot"],
        Outcome::Skipped,
    );
    assert!(!report.musts_pass());
}

#[test]
fn json_and_junit_carry_every_result() {
    let mut link = MemoryLink::new(vec![ServerSpec::reference_full(SERVER)]).unwrap();
    let opts = Options {
        only: vec!["dhcp.offer.*".into(), "proxy.yiaddr-zero".into()],
        ..Options::default()
    };
    let report = conform::run(&mut link, &opts, None).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(doc["mode"], "full");
    assert_eq!(doc["server"], "10.0.0.1");
    assert_eq!(doc["summary_line"], report.summary_line());
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), report.results.len());
    let xid = results
        .iter()
        .find(|r| r["id"] == "dhcp.offer.echoes-xid")
        .unwrap();
    assert_eq!(xid["outcome"], "passed");
    assert_eq!(xid["level"], "MUST");
    assert_eq!(xid["area"], "dhcp");
    assert!(xid["clause"].as_str().unwrap().contains("RFC 2131"));
    let proxy = results
        .iter()
        .find(|r| r["id"] == "proxy.yiaddr-zero")
        .unwrap();
    assert_eq!(proxy["outcome"], "skipped");
    let xml = report.to_junit();
    assert_eq!(
        xml.matches("<testcase ").count(),
        report.results.len(),
        "{xml}"
    );
    assert!(xml.contains("name=\"dhcp.offer.echoes-xid\""), "{xml}");
    assert!(xml.contains("<skipped"), "{xml}");
}
