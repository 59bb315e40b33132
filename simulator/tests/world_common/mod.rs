//! Shared helpers of the `world_*` tests: run an inline scenario and read its
//! report, with the whole text report in every failure message.

// Each `world_*` test binary uses a different subset of these helpers.
#![allow(dead_code)]

use pxelab_simulator::report::{Finding, FleetReport, Report, ServerReport, to_text};
use pxelab_simulator::scenario::Scenario;
use pxelab_simulator::world::{RunOptions, run};

/// Parses `src` (an inline scenario) or panics with the parse error.
pub fn scenario(src: &str) -> Scenario {
    Scenario::from_toml(src, "test.toml")
        .unwrap_or_else(|e| panic!("scenario does not parse:\n{e}"))
}

/// Runs `src` with its own seed.
pub fn run_toml(src: &str) -> Report {
    run_with_seed(src, None)
}

/// Runs `src`, replacing its seed when `seed` is given.
pub fn run_with_seed(src: &str, seed: Option<u64>) -> Report {
    let sc = scenario(src);
    run(
        &sc,
        RunOptions {
            seed,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("world does not build: {e}"))
}

/// The text report, for assertion messages.
pub fn text(r: &Report) -> String {
    to_text(r)
}

/// The fleet named `name`.
pub fn fleet<'a>(r: &'a Report, name: &str) -> &'a FleetReport {
    r.fleets
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fleet {name} in the report:\n{}", to_text(r)))
}

/// The server named `name`.
pub fn server<'a>(r: &'a Report, name: &str) -> &'a ServerReport {
    r.servers
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no server {name} in the report:\n{}", to_text(r)))
}

/// Every finding of `kind`.
pub fn findings<'a>(r: &'a Report, kind: &str) -> Vec<&'a Finding> {
    r.findings.iter().filter(|f| f.kind == kind).collect()
}

/// How many answers of `kind` (`offer`, `proxy-offer`, `boot-ack`, …) `server` sent.
pub fn answers(r: &Report, server_name: &str, kind: &str) -> u64 {
    server(r, server_name)
        .answers
        .get(kind)
        .copied()
        .unwrap_or(0)
}

/// Asserts every client of fleet `name` booted from `from`.
#[track_caller]
pub fn assert_all_booted_from(r: &Report, name: &str, from: &str) {
    let f = fleet(r, name);
    assert!(
        f.booted == f.count && f.booted_from.get(from) == Some(&f.count),
        "fleet {name}: expected all {} clients booted from {from}, got {} booted ({:?})\n{}",
        f.count,
        f.booted,
        f.booted_from,
        to_text(r)
    );
}

/// Asserts every client of fleet `name` failed with `code` (and none booted).
#[track_caller]
pub fn assert_all_failed_with(r: &Report, name: &str, code: &str) {
    let f = fleet(r, name);
    assert!(
        f.booted == 0 && f.errors.get(code) == Some(&f.count),
        "fleet {name}: expected all {} clients to fail with {code}, got booted {} errors {:?} looping {} unfinished {}\n{}",
        f.count,
        f.booted,
        f.errors,
        f.looping,
        f.unfinished,
        to_text(r)
    );
}

/// The LAN most world tests start from (`HEADER`), with a corporate DHCP
/// server without PXE (`CORP_DHCP`) and pxelab as ProxyDHCP (`PXELAB_PROXY`).
pub const HEADER: &str = r#"
name = "lan"
summary = "one LAN, a corporate DHCP server, pxelab as ProxyDHCP"
duration_s = 120

[[segment]]
name = "lan"
subnet = "10.4.0.0/24"
"#;

pub const CORP_DHCP: &str = r#"
[[server]]
name = "corp"
segment = "lan"
address = "10.4.0.3"
kind = "dhcp"
pool = "10.4.0.200-10.4.0.250"
"#;

pub const PXELAB_PROXY: &str = r#"
[[server]]
name = "pxelab"
segment = "lan"
address = "10.4.0.10"
kind = "reference"
mode = "proxy"
"#;
