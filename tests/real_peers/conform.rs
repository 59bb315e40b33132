//! `pxelab conform` over a real interface, against real servers (issue 7).
//!
//! The suite runs in its own namespace on the lab's bridge (raw frames through
//! pnet on `pxl0`, no address of its own), the server under test in another:
//! pxelab in full and in proxy mode (next to a dnsmasq that only leases
//! addresses), dnsmasq in the same two modes, and tftpd-hpa. pxelab must pass
//! every MUST and SHOULD. Every server's outcome per check must be the one
//! `docs/conformance.md` states, so the published table is always what CI saw;
//! a difference fails with the column as it now is.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::netns::{HOST_IFACE, Lab, poll};
use super::qemu::{IPXE_EFI, UNDIONLY, tftp_root};
use super::server::{self, Impl, Mode};
use super::{heavy, peers_available, report};

/// The rollover check's file: more than 65535 blocks of 1468 bytes (sparse, so
/// it costs no disk).
const LARGE_FILE: &str = "large.bin";
const LARGE_SIZE: u64 = 65_600 * 1468;

/// Which column of the table a run fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    PxelabFull,
    PxelabProxy,
    DnsmasqFull,
    DnsmasqProxy,
    TftpdHpa,
}

impl Column {
    /// The column's heading in docs/conformance.md.
    fn heading(self) -> &'static str {
        match self {
            Column::PxelabFull => "pxelab full",
            Column::PxelabProxy => "pxelab proxy",
            Column::DnsmasqFull => "dnsmasq full",
            Column::DnsmasqProxy => "dnsmasq proxy",
            Column::TftpdHpa => "tftpd-hpa",
        }
    }

    fn is_pxelab(self) -> bool {
        matches!(self, Column::PxelabFull | Column::PxelabProxy)
    }
}

/// The table cell for a JSON outcome.
fn cell(outcome: &str) -> &'static str {
    match outcome {
        "passed" => "pass",
        "failed" => "FAIL",
        "not-supported" => "n/s",
        "skipped" => "skip",
        _ => "?",
    }
}

/// The column `heading` of the table in docs/conformance.md: check id → cell.
fn documented(heading: &str) -> BTreeMap<String, String> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/conformance.md");
    let text = fs::read_to_string(&doc).expect("cannot read docs/conformance.md");
    let split = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let mut rows = text.lines().filter(|l| l.trim_start().starts_with('|'));
    let header = split(rows.next().expect("docs/conformance.md has no table"));
    let col = header
        .iter()
        .position(|h| h == heading)
        .unwrap_or_else(|| panic!("docs/conformance.md has no column `{heading}`: {header:?}"));
    rows.map(split)
        .filter(|c| c.first().is_some_and(|id| id.starts_with('`')))
        .map(|c| (c[0].trim_matches('`').to_owned(), c[col].clone()))
        .collect()
}

/// Runs `pxelab conform --format json` with `args` in namespace `ns` (bounded:
/// killed after 10 minutes) and returns its report.
fn conform(lab: &mut Lab, ns: &str, args: &[&str], pcap: &Path) -> Value {
    let pcap_s = pcap.display().to_string();
    let mut argv = vec![
        env!("CARGO_BIN_EXE_pxelab"),
        "conform",
        "--interface",
        HOST_IFACE,
        "--format",
        "json",
        "--pcap",
        &pcap_s,
    ];
    argv.extend(args);
    let out_path = lab.path().join("conform.json");
    let out = fs::File::create(&out_path).expect("cannot create the report file");
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(&argv)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start pxelab conform");
    let status = poll(Duration::from_secs(600), || child.try_wait().ok().flatten());
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("pxelab conform did not finish within 10 minutes: {argv:?}");
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    let text = fs::read_to_string(&out_path).unwrap_or_default();
    // 0: every MUST passed; 1: one failed (a third-party server may). Anything
    // else is the tool failing.
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "pxelab conform failed ({status}): {argv:?}\n--- stderr ---\n{stderr}\n--- stdout ---\n{text}"
    );
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("pxelab conform printed no JSON report ({e}):\n{text}"))
}

/// Outcome per check id, and the line of each that is not a pass (with its
/// detail and evidence), for failure messages.
fn outcomes(report: &Value) -> (BTreeMap<String, String>, Vec<String>) {
    let mut cells = BTreeMap::new();
    let mut lines = Vec::new();
    for r in report["results"]
        .as_array()
        .expect("results[] in the report")
    {
        let id = r["id"].as_str().unwrap_or("?").to_owned();
        let outcome = r["outcome"].as_str().unwrap_or("?");
        if outcome != "passed" {
            let evidence: Vec<&str> = r["evidence"]
                .as_array()
                .map(|e| e.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            lines.push(format!(
                "{id} [{}] {outcome}: {}{}",
                r["level"].as_str().unwrap_or("?"),
                r["detail"].as_str().unwrap_or(""),
                evidence
                    .iter()
                    .map(|e| format!("\n      {e}"))
                    .collect::<String>()
            ));
        }
        cells.insert(id, cell(outcome).to_owned());
    }
    (cells, lines)
}

fn suite(test: &str, column: Column) {
    let mut programs = vec!["dumpcap"];
    match column {
        Column::PxelabProxy | Column::DnsmasqFull | Column::DnsmasqProxy => {
            programs.push("dnsmasq")
        }
        Column::TftpdHpa => programs.push("in.tftpd"),
        Column::PxelabFull => {}
    }
    if !peers_available(test, &programs, &[UNDIONLY, IPXE_EFI]) {
        return;
    }
    let _heavy = heavy();
    let mut lab = Lab::new(test);
    let srv = lab.host("srv", Some(1));
    let probe = lab.host("probe", None);
    let root = tftp_root(&lab, "tftp", "PXELAB-CONFORM");
    fs::File::create(root.join(LARGE_FILE))
        .and_then(|f| f.set_len(LARGE_SIZE))
        .expect("cannot create the large file");
    let server_ip = lab.addr(1).to_string();
    let mut args: Vec<String> = vec![
        "--server".into(),
        server_ip.clone(),
        "--large-file".into(),
        LARGE_FILE.into(),
    ];
    let full = Mode::Full {
        first: lab.addr(100),
        last: lab.addr(149),
    };
    match column {
        Column::PxelabFull => {
            server::start_with(&mut lab, &srv, &root, full, Impl::Pxelab, None);
        }
        Column::DnsmasqFull => {
            server::start_with(&mut lab, &srv, &root, full, Impl::Dnsmasq, None);
        }
        Column::PxelabProxy | Column::DnsmasqProxy => {
            let corp = lab.host("dhcp", Some(2));
            let (first, last) = (lab.addr(150), lab.addr(199));
            server::start_plain_dhcp(&mut lab, &corp, first, last);
            let which = if column == Column::PxelabProxy {
                Impl::Pxelab
            } else {
                Impl::Dnsmasq
            };
            server::start_with(&mut lab, &srv, &root, Mode::Proxy, which, None);
            args.push("--proxy".into());
        }
        Column::TftpdHpa => {
            server::start_tftpd_hpa(&mut lab, &srv, &root);
            args.extend([
                "--tftp-only".into(),
                "--file".into(),
                "undionly.kpxe".into(),
            ]);
            args.extend(["--client-ip".into(), lab.addr(250).to_string()]);
        }
    }
    let pcap = lab.path().join("conform.pcap");
    let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
    let probe_ns = probe.ns.clone();
    let report_json = conform(&mut lab, &probe_ns, &args_ref, &pcap);
    let (cells, not_passed) = outcomes(&report_json);
    let summary = &report_json["summary"];
    let keep = || {
        let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{test}.pcap"));
        let _ = fs::copy(&pcap, &kept);
        kept.display().to_string()
    };

    if column.is_pxelab() {
        let bad: Vec<&String> = not_passed
            .iter()
            .filter(|l| l.contains("[MUST]") || l.contains("[SHOULD]"))
            .filter(|l| !l.contains("] skipped:"))
            .collect();
        assert!(
            bad.is_empty(),
            "{test}: pxelab must pass every MUST and SHOULD; these did not (pcap {}):\n{}",
            keep(),
            bad.iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let documented = documented(column.heading());
    if documented != cells {
        let column_now: String = cells
            .iter()
            .map(|(id, c)| format!("  `{id}` {c}\n"))
            .collect();
        let differing: Vec<String> = cells
            .iter()
            .filter(|(id, c)| documented.get(*id) != Some(*c))
            .map(|(id, c)| {
                format!(
                    "  {id}: documented {:?}, now {c}",
                    documented
                        .get(id)
                        .map(String::as_str)
                        .unwrap_or("(missing)")
                )
            })
            .chain(
                documented
                    .keys()
                    .filter(|id| !cells.contains_key(*id))
                    .map(|id| format!("  {id}: documented, not run")),
            )
            .collect();
        panic!(
            "{test}: docs/conformance.md's column `{}` is not what the suite saw \
             (pcap {}):\n{}\n--- not passed ---\n{}\n--- the column now ---\n{column_now}",
            column.heading(),
            keep(),
            differing.join("\n"),
            not_passed.join("\n")
        );
    }
    report(&format!(
        "real-peer conform {}: {} passed, {} failed, {} not supported, {} skipped",
        column.heading(),
        summary["passed"],
        summary["failed"],
        summary["not_supported"],
        summary["skipped"]
    ));
}

#[test]
fn conform_pxelab_full_mode() {
    suite("conform_pxelab_full_mode", Column::PxelabFull);
}

#[test]
fn conform_pxelab_proxy_mode() {
    suite("conform_pxelab_proxy_mode", Column::PxelabProxy);
}

#[test]
fn conform_dnsmasq_full_mode() {
    suite("conform_dnsmasq_full_mode", Column::DnsmasqFull);
}

#[test]
fn conform_dnsmasq_proxy_mode() {
    suite("conform_dnsmasq_proxy_mode", Column::DnsmasqProxy);
}

#[test]
fn conform_tftpd_hpa() {
    suite("conform_tftpd_hpa", Column::TftpdHpa);
}
