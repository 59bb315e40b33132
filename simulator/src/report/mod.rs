//! What a run found, in the forms people read: text for a terminal, JSON for
//! tools, JUnit XML for CI systems.
//!
//! A report holds no wall-clock time and no host detail: the same scenario and
//! seed print byte-identical reports on any machine, which is what lets CI keep
//! them as snapshots.

pub(crate) mod junit;
pub mod svg;
mod text;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::net::NetStats;

pub use junit::to_junit;
pub use text::to_text;

/// The whole outcome of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Its one-line summary.
    pub summary: String,
    /// Its story, as the file tells it.
    pub description: String,
    /// The seed the run used.
    pub seed: u64,
    /// Virtual time when the run ended.
    pub ended_at: Time,
    /// Why it ended.
    pub end: EndReason,
    /// Per fleet, in scenario order.
    pub fleets: Vec<FleetReport>,
    /// Per server, in scenario order.
    pub servers: Vec<ServerReport>,
    /// What the run noticed (conflicts, loops, identity problems).
    pub findings: Vec<Finding>,
    /// The scenario's `[[expect]]` entries, checked.
    pub expectations: Vec<ExpectationResult>,
    /// One line per client when the scenario is small enough to read them.
    pub clients: Vec<ClientLine>,
    /// Deployment Servers: jobs, refusals, imaging (absent when the scenario
    /// has none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<DeploymentReport>,
    /// Traffic totals.
    pub network: NetStats,
    /// Simulation events processed.
    pub events: u64,
}

impl Report {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.expectations.iter().all(|e| e.passed)
    }

    /// The report as pretty JSON (field names are stable: see docs/report.md).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// A virtual time, serialised as seconds with microsecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub Duration);

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Whole microseconds keep the JSON free of float noise across platforms.
        s.serialize_f64(self.0.as_micros() as f64 / 1e6)
    }
}

impl std::fmt::Display for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sub-second figures (reply latencies) in milliseconds, so a 0.3 ms
        // answer does not print as 0.000s.
        let us = self.0.as_micros();
        if us < 1_000_000 {
            write!(f, "{}.{}ms", us / 1000, us % 1000 / 100)
        } else {
            let ms = us / 1000;
            write!(f, "{}.{:03}s", ms / 1000, ms % 1000)
        }
    }
}

/// Why the run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndReason {
    /// Every client reached an outcome.
    AllClientsDone,
    /// The scenario's `duration_s` ran out first.
    TimeLimit,
    /// Nothing was left to happen.
    Quiet,
}

/// One fleet's outcomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetReport {
    /// Fleet name.
    pub name: String,
    /// Firmware profile id.
    pub profile: String,
    /// Quirk ids enabled.
    pub quirks: Vec<String>,
    /// Clients in the fleet.
    pub count: u32,
    /// Clients that booted (their final NBP runs).
    pub booted: u32,
    /// Booted clients per server name.
    pub booted_from: BTreeMap<String, u32>,
    /// Booted clients per final file.
    pub booted_files: BTreeMap<String, u32>,
    /// Failed clients per error code (`PXE-E51`, …).
    pub errors: BTreeMap<String, u32>,
    /// Clients stopped in a boot loop.
    pub looping: u32,
    /// Clients with no outcome when the run ended.
    pub unfinished: u32,
    /// Power-on to boot, over booted clients.
    pub boot_time: Option<Spread>,
    /// For managed fleets: what happened to their jobs and disks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<FleetDeployment>,
}

/// A managed fleet's deployment outcome, machine by machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetDeployment {
    /// Machines whose every job succeeded (and that had one).
    pub jobs_succeeded: u32,
    /// Machines with a job failed for good.
    pub jobs_failed: u32,
    /// Machines with a job the server refused when scheduling.
    pub jobs_refused: u32,
    /// Machines whose OS partition holds, byte for byte, the image their own
    /// deploy job named.
    pub imaged: u32,
    /// Machines the server registered during the run (initial deployment).
    pub registered: u32,
    /// Machines up in their OS with nothing left to do.
    pub in_os: u32,
}

/// One Deployment Server's run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentReport {
    /// Its name.
    pub name: String,
    /// The server host it runs on.
    pub server: String,
    /// `reference`, `legacy` or `legacy (trusts UUIDs)`.
    pub mode: String,
    /// `unicast`, or `multicast` with its session rule.
    pub transfer: String,
    /// Jobs by final state (`succeeded`, `failed`, `running`, …).
    pub jobs: BTreeMap<String, u32>,
    /// Jobs refused when scheduled, grouped by reason: (reason, count).
    pub refused: Vec<(String, u32)>,
    /// Identity warnings (untrusted UUIDs).
    pub identity_warnings: Vec<String>,
    /// Image transfers, when there were any.
    pub imaging: Option<ImagingReport>,
    /// Every job's history, when there are few jobs (as the server logged it).
    pub history: Vec<String>,
}

/// How long imaging a fleet took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImagingReport {
    /// Machines that received an image.
    pub machines: u32,
    /// Image bytes delivered to them (all machines together).
    pub bytes: u64,
    /// First transfer started.
    pub first_start: Time,
    /// Last transfer finished.
    pub last_end: Time,
    /// From the first start to the last end: the time to image the fleet.
    pub fleet_time: Time,
    /// Per machine, from its transfer's start to its end.
    pub per_machine: Option<Spread>,
    /// Image bytes delivered per second of fleet time, all machines
    /// together, in Mb/s (10^6 bits).
    pub throughput_mbps: f64,
    /// Image bytes the server sent (a multicast stream once for all its
    /// receivers), per second of fleet time, in Mb/s.
    pub server_mbps: f64,
    /// Whether the transfers were multicast.
    pub multicast: bool,
}

/// Median, 95th percentile and maximum of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Median.
    pub p50: Time,
    /// 95th percentile (nearest rank).
    pub p95: Time,
    /// Largest.
    pub max: Time,
}

impl Spread {
    /// The spread of `values`, or `None` when there are none.
    pub fn of(mut values: Vec<Duration>) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let rank = |p: usize| values[((values.len() * p).div_ceil(100)).max(1) - 1];
        Some(Spread {
            p50: Time(rank(50)),
            p95: Time(rank(95)),
            max: Time(values[values.len() - 1]),
        })
    }
}

/// What one server did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerReport {
    /// Server name.
    pub name: String,
    /// `reference (full)`, `reference (proxy)`, `dhcp`, `dhcp-pxe`, `rogue`.
    pub kind: String,
    /// Its address.
    pub address: String,
    /// Answers sent, by kind (`offer`, `ack`, `proxy-offer`, `boot-ack`, `nak`).
    pub answers: BTreeMap<String, u64>,
    /// Requests it chose not to answer.
    pub ignored: u64,
    /// Time from a client's DHCPDISCOVER to this server's offer reaching it.
    pub offer_latency: Option<Spread>,
    /// TFTP transfers by outcome (`completed`, `size probe`, `timed out`, …).
    pub tftp: BTreeMap<String, u64>,
    /// File bytes its TFTP sent (retransmissions included).
    pub tftp_bytes: u64,
    /// Clients that booted from it.
    pub booted_clients: u32,
}

/// Something the run noticed that a user should know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable kind id (`boot-loop`, `competing-pxe-servers`, …).
    pub kind: String,
    /// One sentence.
    pub message: String,
    /// Supporting lines (the cycle, the servers, the clients).
    pub detail: Vec<String>,
}

/// One `[[expect]]` of the scenario, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectationResult {
    /// Line of the scenario file it comes from.
    pub line: usize,
    /// The expectation in words.
    pub expectation: String,
    /// Whether it held.
    pub passed: bool,
    /// What was observed.
    pub observed: String,
}

/// One client's story in one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientLine {
    /// `fleet#index`.
    pub name: String,
    /// Its MAC.
    pub mac: String,
    /// The path: servers and files, in order.
    pub path: Vec<String>,
    /// How it ended.
    pub outcome: String,
    /// When.
    pub at: Option<Time>,
}
