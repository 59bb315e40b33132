//! Servers that break a rule on purpose make the named check fail, with
//! evidence naming the packet that shows it.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use pxelab_reference::Transmit;
use pxelab_reference::pxe::BootPolicy;
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{DhcpMessage, code};
use pxelab_reference::wire::tftp::TftpPacket;
use pxelab_simulator::conform::frame::UdpFrame;
use pxelab_simulator::conform::testbed::{DhcpRole, MemoryLink, ServerSpec, Tamper};
use pxelab_simulator::conform::{self, Options, Outcome, Report};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn run(servers: Vec<ServerSpec>, only: &[&str]) -> Report {
    let mut link = MemoryLink::new(servers).unwrap();
    let opts = Options {
        only: only.iter().map(|s| s.to_string()).collect(),
        clients: 5,
        ..Options::default()
    };
    conform::run(&mut link, &opts, None).unwrap()
}

/// Asserts `id` failed and one evidence line contains every `needle`.
fn assert_failed_with(report: &Report, id: &str, needles: &[&str]) {
    let r = report
        .result(id)
        .unwrap_or_else(|| panic!("{id} did not run"));
    assert_eq!(
        r.outcome,
        Outcome::Failed,
        "{id}: {}\n{}",
        r.detail,
        report.to_text()
    );
    assert!(
        r.evidence
            .iter()
            .any(|e| needles.iter().all(|n| e.contains(n))),
        "{id}: no evidence line with {needles:?}:\n{}",
        r.evidence.join("\n")
    );
    assert!(!report.musts_pass() || r.level != conform::checks::Level::Must);
}

/// Rewrites the DHCP replies of a server.
struct EditDhcp(fn(&mut DhcpMessage));

impl Tamper for EditDhcp {
    fn outbound(&mut self, mut t: Transmit) -> Vec<Transmit> {
        if matches!(t.src.port(), 67 | 4011)
            && let Ok(mut m) = DhcpMessage::parse(&t.payload, ParseMode::Lax)
        {
            (self.0)(&mut m);
            t.payload = m.emit();
        }
        vec![t]
    }
}

#[test]
fn an_offer_with_the_wrong_xid_fails_echoes_xid() {
    let server = ServerSpec::reference_full(SERVER).with_tamper(EditDhcp(|m| m.xid ^= 0x55));
    let report = run(
        vec![server],
        &["dhcp.offer.echoes-xid", "dhcp.ack.echoes-xid"],
    );
    assert_failed_with(
        &report,
        "dhcp.offer.echoes-xid",
        &["10.0.0.1:67 ->", "DHCPOFFER xid="],
    );
    assert!(!report.musts_pass());
    // The DISCOVER is cited too, so the two xids can be compared.
    let r = report.result("dhcp.offer.echoes-xid").unwrap();
    assert!(
        r.evidence.iter().any(|e| e.contains("DHCPDISCOVER")),
        "{:?}",
        r.evidence
    );
}

fn yiaddr_in_proxy_offers(m: &mut DhcpMessage) {
    if m.yiaddr.is_unspecified() && m.has_option(code::VENDOR_CLASS) {
        m.yiaddr = Ipv4Addr::new(10, 0, 0, 77);
    }
}

#[test]
fn a_proxy_that_sets_yiaddr_fails_yiaddr_zero() {
    let servers = || {
        vec![
            ServerSpec::plain_dhcp(Ipv4Addr::new(10, 0, 0, 2)),
            ServerSpec::reference_proxy(SERVER).with_tamper(EditDhcp(yiaddr_in_proxy_offers)),
        ]
    };
    // Left to detect, the suite takes a PXE offer with an address for a full
    // server: `--proxy` is how a user says what the server is meant to be.
    let detected = run(servers(), &["proxy.*"]);
    assert_eq!(detected.mode, conform::Mode::Full);
    let mut link = MemoryLink::new(servers()).unwrap();
    let opts = Options {
        mode: Some(conform::Mode::Proxy),
        server: Some(SERVER),
        only: vec!["proxy.*".into()],
        ..Options::default()
    };
    let told = conform::run(&mut link, &opts, None).unwrap();
    assert_failed_with(
        &told,
        "proxy.yiaddr-zero",
        &["10.0.0.1:67 ->", "yiaddr=10.0.0.77"],
    );
    println!("{}", told.to_text());
}

#[test]
fn option_43_without_end_fails_terminated() {
    let server = ServerSpec::reference_full(SERVER).with_tamper(EditDhcp(|m| {
        if let Some(mut o) = m.option(code::VENDOR_SPECIFIC).map(|o| o.to_vec()) {
            if o.last() == Some(&255) {
                o.pop();
            }
            m.set_option(code::VENDOR_SPECIFIC, o);
        }
    }));
    let report = run(vec![server], &["pxe.opt43.*"]);
    assert_failed_with(&report, "pxe.opt43.terminated", &["DHCPOFFER", "43("]);
}

#[test]
fn handing_ipxe_the_ipxe_binary_fails_the_chainload_checks() {
    let mut spec = ServerSpec::reference_full(SERVER);
    spec.dhcp = DhcpRole::Reference {
        pool: Some((Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 199))),
        boot: Box::new(BootPolicy {
            boot_ipxe: "undionly.kpxe".into(),
            ..BootPolicy::default()
        }),
    };
    let report = run(
        vec![spec],
        &["bootfile.ipxe-no-chainload-loop", "boot.ipxe"],
    );
    assert_failed_with(
        &report,
        "bootfile.ipxe-no-chainload-loop",
        &["DHCPOFFER", "file=\"undionly.kpxe\""],
    );
    let boot = report.result("boot.ipxe").unwrap();
    assert_eq!(boot.outcome, Outcome::Failed);
    assert!(boot.detail.contains("chainload loop"), "{}", boot.detail);
    // The evidence is the client's last frames: iPXE reading the binary again.
    assert!(
        boot.evidence
            .iter()
            .any(|e| e.contains("RRQ \"undionly.kpxe\"")),
        "{:?}",
        boot.evidence
    );
}

/// Answers a duplicated ACK with the next block again: the Sorcerer's
/// Apprentice bug RFC 1123 §4.2.3.1 requires servers to fix.
#[derive(Default)]
struct Apprentice {
    last_ack: HashMap<SocketAddrV4, u16>,
    last_data: HashMap<SocketAddrV4, Transmit>,
}

impl Tamper for Apprentice {
    fn inbound(&mut self, d: &UdpFrame) -> Vec<Transmit> {
        let Ok(TftpPacket::Ack { block }) = TftpPacket::parse(&d.payload) else {
            return Vec::new();
        };
        let dup = self.last_ack.insert(d.src, block) == Some(block);
        match self.last_data.get(&d.src) {
            Some(t) if dup && block > 0 => vec![t.clone()],
            _ => Vec::new(),
        }
    }

    fn outbound(&mut self, t: Transmit) -> Vec<Transmit> {
        if let Ok(TftpPacket::Data { .. }) = TftpPacket::parse(&t.payload) {
            self.last_data.insert(t.dst, t.clone());
        }
        vec![t]
    }
}

#[test]
fn a_server_that_answers_duplicate_acks_fails_sorcerers_apprentice() {
    let server = ServerSpec::reference_full(SERVER).with_tamper(Apprentice::default());
    let report = run(vec![server], &["tftp.no-sorcerers-apprentice"]);
    assert_failed_with(
        &report,
        "tftp.no-sorcerers-apprentice",
        &["10.0.0.1:", "TFTP DATA block=3"],
    );
}

/// Adds an option nobody asked for to every OACK.
struct ExtraOption;

impl Tamper for ExtraOption {
    fn outbound(&mut self, mut t: Transmit) -> Vec<Transmit> {
        if let Ok(TftpPacket::Oack { mut options }) = TftpPacket::parse(&t.payload) {
            options.push(("timeout".into(), "5".into()));
            t.payload = TftpPacket::Oack { options }.to_bytes();
        }
        vec![t]
    }
}

#[test]
fn an_oack_with_an_unrequested_option_fails_only_requested() {
    let server = ServerSpec::reference_full(SERVER).with_tamper(ExtraOption);
    let report = run(vec![server], &["tftp.oack.only-requested"]);
    assert_failed_with(
        &report,
        "tftp.oack.only-requested",
        &["TFTP OACK", "timeout=5"],
    );
    assert!(
        report
            .result("tftp.oack.only-requested")
            .unwrap()
            .detail
            .contains("timeout")
    );
}

/// Drops every retransmission: a server that never resends a lost block.
#[derive(Default)]
struct NoRetransmit {
    sent: HashMap<(SocketAddrV4, u16), ()>,
}

impl Tamper for NoRetransmit {
    fn outbound(&mut self, t: Transmit) -> Vec<Transmit> {
        if let Ok(TftpPacket::Data { block, .. }) = TftpPacket::parse(&t.payload)
            && self.sent.insert((t.dst, block), ()).is_some()
        {
            return Vec::new();
        }
        vec![t]
    }
}

#[test]
fn a_server_that_never_retransmits_fails_lost_ack() {
    let server = ServerSpec::reference_full(SERVER).with_tamper(NoRetransmit::default());
    let report = run(vec![server], &["tftp.retransmit-on-lost-ack"]);
    assert_failed_with(
        &report,
        "tftp.retransmit-on-lost-ack",
        &["TFTP DATA block=2"],
    );
}

/// Ignores a client's ERROR: sends its last packet to that client again.
#[derive(Default)]
struct DeafToErrors {
    last: HashMap<SocketAddrV4, Transmit>,
}

impl Tamper for DeafToErrors {
    fn inbound(&mut self, d: &UdpFrame) -> Vec<Transmit> {
        match TftpPacket::parse(&d.payload) {
            Ok(TftpPacket::Error { .. }) => self.last.get(&d.src).cloned().into_iter().collect(),
            _ => Vec::new(),
        }
    }

    fn outbound(&mut self, t: Transmit) -> Vec<Transmit> {
        if t.src.port() != 67 && t.src.port() != 4011 {
            self.last.insert(t.dst, t.clone());
        }
        vec![t]
    }
}

#[test]
fn a_server_that_goes_on_after_error_8_fails_the_tsize_probe_check() {
    let server = ServerSpec::reference_full(SERVER).with_tamper(DeafToErrors::default());
    let report = run(vec![server], &["tftp.tsize-probe-abort"]);
    assert_failed_with(
        &report,
        "tftp.tsize-probe-abort",
        &["10.0.0.1:", "TFTP OACK tsize="],
    );
    let r = report.result("tftp.tsize-probe-abort").unwrap();
    assert!(
        r.evidence.iter().any(|e| e.contains("TFTP ERROR code=8")),
        "{:?}",
        r.evidence
    );
}

/// Accepts writes: answers the refusal of a WRQ with ACK 0 instead.
struct Writable;

impl Tamper for Writable {
    fn outbound(&mut self, mut t: Transmit) -> Vec<Transmit> {
        if let Ok(TftpPacket::Error { code, .. }) = TftpPacket::parse(&t.payload)
            && code.code() == 2
        {
            t.payload = TftpPacket::Ack { block: 0 }.to_bytes();
        }
        vec![t]
    }
}

#[test]
fn a_writable_server_fails_wrq_refused() {
    let server = ServerSpec::reference_full(SERVER).with_tamper(Writable);
    let report = run(vec![server], &["tftp.wrq-refused"]);
    assert_failed_with(&report, "tftp.wrq-refused", &["TFTP ACK block=0"]);
    let r = report.result("tftp.wrq-refused").unwrap();
    assert!(
        r.evidence.iter().any(|e| e.contains("TFTP WRQ")),
        "{:?}",
        r.evidence
    );
}
