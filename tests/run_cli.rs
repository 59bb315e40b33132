//! `pxelab run` and `pxelab schema` as a user calls them: exit statuses, formats,
//! the pcap (dissected by tshark when it is installed), and the errors a user
//! gets for a scenario that is wrong.

use std::path::Path;
use std::process::{Command, Output};

fn pxelab(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run pxelab")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A small scenario: one reference server, two BIOS clients.
const SMALL: &str = r#"
name = "small"
summary = "two BIOS clients and the reference server"
duration_s = 120

[[segment]]
name = "lab"
subnet = "10.50.0.0/24"

[[server]]
name = "lab"
segment = "lab"
address = "10.50.0.1"
kind = "reference"
pool = "10.50.0.100-10.50.0.150"

[[fleet]]
name = "pcs"
segment = "lab"
count = 2
profile = "pxe21-bios"

[[expect]]
fleet = "pcs"
booted = "BOOTED"
booted_from = "lab"
"#;

/// Writes SMALL expecting `booted` ("all" holds, "none" fails).
fn write_small(dir: &Path, booted: &str) -> String {
    let path = dir.join("small.toml");
    std::fs::write(&path, SMALL.replace("BOOTED", booted)).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn no_arguments_runs_lab_vs_production_and_says_what_next() {
    let dir = tempfile::tempdir().unwrap();
    let out = pxelab(&[], dir.path());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with("pxelab run lab-vs-production"),
        "{stdout}"
    );
    assert!(stdout.contains("competing-pxe-servers"), "{stdout}");
    assert!(stdout.contains("pxelab run --list"), "{stdout}");
}

#[test]
fn list_names_every_bundled_scenario_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = pxelab(&["run", "--list"], dir.path());
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    for name in pxelab_simulator::scenario::bundled().iter().map(|b| b.name) {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{stdout}"));
        assert!(line.len() > name.len() + 10, "no summary: {line}");
    }
}

#[test]
fn a_scenario_file_runs_and_its_expectations_decide_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_small(dir.path(), "all");
    let out = pxelab(&["run", &good], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("ok   line"),
        "{}",
        text(&out.stdout)
    );

    let bad = write_small(dir.path(), "none");
    let out = pxelab(&["run", &bad], dir.path());
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL line"), "{stdout}");
}

#[test]
fn a_bad_scenario_exits_2_naming_the_field_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, SMALL.replace("count = 2", "cout = 2")).unwrap();
    let out = pxelab(&["run", path.to_str().unwrap()], dir.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cout"), "{stderr}");
    assert!(stderr.contains(":20:1:"), "the line of the typo: {stderr}");

    let out = pxelab(&["run", "no-such-scenario"], dir.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("lab-vs-production"),
        "lists bundled names: {stderr}"
    );
}

#[test]
fn json_and_junit_formats_carry_the_expectations() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_small(dir.path(), "all");
    let out = pxelab(&["run", &good, "--format", "json"], dir.path());
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["scenario"], "small");
    assert_eq!(v["fleets"][0]["booted"], 2);
    assert_eq!(v["expectations"][0]["passed"], true);

    let out = pxelab(&["run", &good, "--format", "junit"], dir.path());
    assert!(out.status.success());
    let xml = text(&out.stdout);
    assert!(xml.contains("<testsuite name=\"pxelab.small\""), "{xml}");
    assert!(xml.contains("fleet pcs"), "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");
}

#[test]
fn schema_prints_a_json_schema_of_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = pxelab(&["schema"], dir.path());
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let props = &v["properties"];
    for key in ["name", "segment", "server", "fleet", "expect"] {
        assert!(props.get(key).is_some(), "no {key} in {props}");
    }
}

/// Whether tshark is here; a missing tshark fails when real peers are required.
fn tshark() -> bool {
    let found = Command::new("tshark").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var("PXELAB_REQUIRE_PEERS").as_deref() != Ok("1"),
            "PXELAB_REQUIRE_PEERS=1 but tshark is not installed"
        );
        eprintln!("skipped: tshark is not installed");
    }
    found
}

#[test]
fn the_pcap_opens_in_tshark_with_dhcp_4011_and_tftp_and_nothing_malformed() {
    if !tshark() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("run.pcap");
    let out = pxelab(
        &[
            "run",
            "proxydhcp-bios-uefi",
            "--pcap",
            pcap.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let read = |filter: &str| {
        let out = Command::new("tshark")
            .args(["-n", "-r", pcap.to_str().unwrap(), "-Y", filter])
            .output()
            .expect("run tshark");
        assert!(out.status.success(), "tshark: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let malformed = read("_ws.malformed || _ws.expert.severity == error");
    assert!(
        malformed.trim().is_empty(),
        "malformed frames:\n{malformed}"
    );
    assert!(read("dhcp.option.dhcp == 1").contains("DHCP Discover"));
    let binl = read("udp.port == 4011");
    assert!(
        binl.contains("DHCP"),
        "the 4011 exchange decodes as DHCP:\n{binl}"
    );
    assert!(read("tftp.opcode == 1").contains("Read Request"));
    assert!(!read("tftp.opcode == 3").trim().is_empty(), "TFTP data");
    assert!(!read("arp").trim().is_empty(), "ARP before unicast");
}

#[test]
fn svg_writes_a_timeline_of_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_small(dir.path(), "all");
    let svg = dir.path().join("run.svg");
    let out = pxelab(
        &["run", &scenario, "--svg", svg.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let drawn = std::fs::read_to_string(&svg).expect("the SVG file exists");
    assert!(
        drawn.starts_with("<?xml"),
        "{}",
        &drawn[..drawn.len().min(200)]
    );
    assert!(drawn.trim_end().ends_with("</svg>"));
    // A row per client, and the report still printed.
    for client in ["pcs#0", "pcs#1"] {
        assert!(drawn.contains(&format!(">{client}</text>")), "{client} row");
    }
    assert!(text(&out.stdout).contains("expectations"));
}

#[test]
fn svg_to_a_path_that_cannot_be_created_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_small(dir.path(), "all");
    let svg = dir.path().join("no-such-dir").join("run.svg");
    let out = pxelab(
        &["run", &scenario, "--svg", svg.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot create") && err.contains("run.svg"),
        "{err}"
    );
}
