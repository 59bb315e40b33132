//! Turning what happened into a [`Report`]: counts per fleet and server,
//! findings, and the scenario's expectations checked against them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use pxelab_reference::dhcp::{DhcpEvent, DhcpEventKind};
use pxelab_reference::tftp::TransferSummary;

use super::World;
use crate::firmware::{FirmwareEvent, OfferKind};
use crate::foreign::{ForeignEvent, ForeignEventKind};
use crate::machine::Outcome;
use crate::report::{
    ClientLine, ExpectationResult, Finding, FleetReport, Report, ServerReport, Spread, Time,
};
use crate::scenario::{Count, Expect, Scenario};

/// Runs with at most this many clients list every client's path.
pub(super) const MAX_CLIENT_LINES: usize = 24;

/// What a server did, gathered as it happens.
#[derive(Debug, Default)]
pub(super) struct ServerLog {
    answers: BTreeMap<String, u64>,
    /// Answers that carried boot information (a boot file, a proxy offer, a
    /// boot-server ACK): the server acts as a PXE server.
    pxe_answers: u64,
    /// Offers of an address: the server acts as a DHCP server.
    address_offers: u64,
    ignored: u64,
    latencies: Vec<Duration>,
    tftp: BTreeMap<String, u64>,
    tftp_bytes: u64,
}

impl ServerLog {
    pub(super) fn reference_event(&mut self, e: &DhcpEvent) {
        let kind = match &e.kind {
            DhcpEventKind::Offer => "offer",
            DhcpEventKind::Ack => "ack",
            DhcpEventKind::Nak(_) => "nak",
            DhcpEventKind::Inform => "inform",
            DhcpEventKind::Release => "release",
            DhcpEventKind::Decline => "decline",
            DhcpEventKind::ProxyOffer => "proxy-offer",
            DhcpEventKind::BootAck { .. } => "boot-ack",
            DhcpEventKind::StoreFailed(_) => "store-failed",
            DhcpEventKind::Ignored(_) => {
                self.ignored += 1;
                return;
            }
        };
        if matches!(e.kind, DhcpEventKind::Offer) {
            self.address_offers += 1;
        }
        let pxe = matches!(
            e.kind,
            DhcpEventKind::ProxyOffer | DhcpEventKind::BootAck { .. }
        ) || (matches!(e.kind, DhcpEventKind::Offer) && e.boot_file.is_some());
        if pxe {
            self.pxe_answers += 1;
        }
        *self.answers.entry(kind.to_string()).or_default() += 1;
    }

    pub(super) fn foreign_event(&mut self, e: &ForeignEvent) {
        let kind = match &e.kind {
            ForeignEventKind::Offer => "offer",
            ForeignEventKind::Ack => "ack",
            ForeignEventKind::Nak => "nak",
            ForeignEventKind::Ignored(_) => {
                self.ignored += 1;
                return;
            }
        };
        if matches!(e.kind, ForeignEventKind::Offer) {
            self.address_offers += 1;
            if e.boot_file.is_some() {
                self.pxe_answers += 1;
            }
        }
        *self.answers.entry(kind.to_string()).or_default() += 1;
    }

    pub(super) fn transfer(&mut self, s: &TransferSummary) {
        *self.tftp.entry(s.outcome.to_string()).or_default() += 1;
        self.tftp_bytes += s.bytes_sent;
    }

    pub(super) fn offer_latency(&mut self, d: Duration) {
        self.latencies.push(d);
    }
}

/// The servers one client heard from: the ones that offered it boot
/// information and the ones that offered it an address. Two in either list is
/// a conflict that client lived through.
#[derive(Debug, Clone, Default)]
pub(super) struct Heard {
    pxe: Vec<usize>,
    dhcp: Vec<usize>,
}

impl Heard {
    pub(super) fn offer(&mut self, server: usize, kind: OfferKind) {
        let note = |list: &mut Vec<usize>| {
            if !list.contains(&server) {
                list.push(server);
            }
        };
        if kind.is_dhcp() {
            note(&mut self.dhcp);
        }
        if !matches!(kind, OfferKind::DhcpOnly | OfferKind::Bootp) {
            note(&mut self.pxe);
        }
    }
}

/// One step of a client's path, for the per-client lines of small runs.
pub(super) fn step(event: &FirmwareEvent, name: impl Fn(Ipv4Addr) -> String) -> Option<String> {
    match event {
        FirmwareEvent::Bound { ip, server } => Some(format!("DHCP {ip} from {}", name(*server))),
        FirmwareEvent::BootServerRequest { server, port } => {
            Some(format!("boot server {}:{port}", name(*server)))
        }
        FirmwareEvent::Loaded {
            tftp_server, file, ..
        } => Some(format!("TFTP {file} from {}", name(*tftp_server))),
        _ => None,
    }
}

impl World {
    pub(super) fn report(&self, sc: &Scenario) -> Report {
        let server_name = |s: Option<usize>| {
            s.map_or_else(
                || "an unknown server".to_string(),
                |s| self.servers[s].name.clone(),
            )
        };
        let mut fleets = Vec::new();
        for (f, spec) in sc.fleets.iter().enumerate() {
            let mut r = FleetReport {
                name: spec.name.clone(),
                profile: spec.profile.clone(),
                quirks: spec.quirks.iter().map(|q| q.id().to_string()).collect(),
                count: spec.count,
                booted: 0,
                booted_from: BTreeMap::new(),
                booted_files: BTreeMap::new(),
                errors: BTreeMap::new(),
                looping: 0,
                unfinished: 0,
                boot_time: None,
                deployment: self.fleet_deployment(f),
            };
            let mut times = Vec::new();
            for &c in &self.fleet_members[f] {
                let computer = &self.computers[c];
                match &computer.outcome {
                    Some(Outcome::Booted { server, file, at }) => {
                        r.booted += 1;
                        *r.booted_from.entry(server_name(*server)).or_default() += 1;
                        *r.booted_files.entry(file.clone()).or_default() += 1;
                        times.push(*at - computer.powered_on);
                    }
                    Some(Outcome::Failed { error, .. }) => {
                        *r.errors.entry(error.code().to_string()).or_default() += 1;
                    }
                    Some(Outcome::Looping { .. }) => r.looping += 1,
                    Some(Outcome::InOs { os, at }) => {
                        r.booted += 1;
                        *r.booted_from.entry("its disk".to_string()).or_default() += 1;
                        *r.booted_files.entry(os.clone()).or_default() += 1;
                        times.push(*at - computer.powered_on);
                    }
                    Some(Outcome::Halted { reason, .. }) => {
                        *r.errors.entry(reason.clone()).or_default() += 1;
                    }
                    None => r.unfinished += 1,
                }
            }
            r.boot_time = Spread::of(times);
            fleets.push(r);
        }

        let servers = self
            .servers
            .iter()
            .enumerate()
            .map(|(s, server)| {
                ServerReport {
                name: server.name.clone(),
                kind: server.kind.clone(),
                address: server.addr.to_string(),
                answers: server.log.answers.clone(),
                ignored: server.log.ignored,
                offer_latency: Spread::of(server.log.latencies.clone()),
                tftp: {
                    // A session still retrying its last DATA when the run
                    // stopped (its final ACK was lost) has no outcome yet.
                    let mut t = server.log.tftp.clone();
                    if !server.sessions.is_empty() {
                        t.insert("still open".to_string(), server.sessions.len() as u64);
                    }
                    t
                },
                tftp_bytes: server.log.tftp_bytes,
                booted_clients: self
                    .computers
                    .iter()
                    .filter(|c| {
                        matches!(c.outcome, Some(Outcome::Booted { server: Some(x), .. }) if x == s)
                    })
                    .count() as u32,
            }
            })
            .collect();

        let mut findings = self.findings(sc, &fleets);
        self.deploy_findings(&mut findings);
        let expectations = sc
            .expects
            .iter()
            .map(|e| check(e, &fleets, &findings))
            .collect();
        let clients = self.client_lines(sc);
        Report {
            scenario: sc.name.clone(),
            summary: sc.summary.clone(),
            description: sc.description.trim().to_string(),
            seed: self.seed,
            ended_at: Time(self.now.since_start()),
            end: self.end_reason,
            fleets,
            servers,
            findings,
            expectations,
            clients,
            deployments: self.deployment_reports(sc),
            network: self.net.stats().clone(),
            events: self.events,
        }
    }

    fn findings(&self, sc: &Scenario, fleets: &[FleetReport]) -> Vec<Finding> {
        let mut out = Vec::new();
        // Several servers answering the same clients: the lab-versus-production story.
        for segment in &sc.segments {
            for (kind, what, pick) in [
                (
                    "competing-pxe-servers",
                    "PXE servers",
                    (|h: &Heard| &h.pxe) as fn(&Heard) -> &Vec<usize>,
                ),
                (
                    "competing-dhcp-servers",
                    "DHCP servers",
                    (|h: &Heard| &h.dhcp) as fn(&Heard) -> &Vec<usize>,
                ),
            ] {
                let mut servers = BTreeSet::new();
                let mut contested: BTreeMap<usize, u32> = BTreeMap::new();
                for (c, computer) in self.computers.iter().enumerate() {
                    let heard = pick(&self.heard[c]);
                    if heard.len() >= 2 && sc.fleets[computer.fleet].segment == segment.name {
                        servers.extend(heard.iter().copied());
                        *contested.entry(computer.fleet).or_default() += 1;
                    }
                }
                if servers.is_empty() {
                    continue;
                }
                let names: Vec<&str> = servers
                    .iter()
                    .map(|&s| self.servers[s].name.as_str())
                    .collect();
                let mut message = format!(
                    "{} {what} answer on {} ({})",
                    names.len(),
                    segment.subnet,
                    names.join(", ")
                );
                let choices: Vec<String> = contested
                    .keys()
                    .filter_map(|&f| {
                        let r = &fleets[f];
                        let (server, n) = r.booted_from.iter().max_by_key(|(_, n)| **n)?;
                        Some(format!("{n}/{} {} clients chose {server}", r.count, r.name))
                    })
                    .collect();
                if !choices.is_empty() {
                    let _ = write!(message, " and {}", choices.join(", "));
                }
                let detail = contested
                    .iter()
                    .map(|(&f, n)| {
                        format!(
                            "{n}/{} {} clients were answered by more than one of them",
                            fleets[f].count, fleets[f].name
                        )
                    })
                    .collect();
                out.push(Finding {
                    kind: kind.to_string(),
                    message,
                    detail,
                });
            }
        }

        // Boot loops, one finding per fleet and cycle.
        let mut loops: BTreeMap<(usize, String), Vec<usize>> = BTreeMap::new();
        for (c, computer) in self.computers.iter().enumerate() {
            if let Some(Outcome::Looping { cycle, .. }) = &computer.outcome {
                let text = cycle.join(" → ");
                loops.entry((computer.fleet, text)).or_default().push(c);
            }
        }
        for ((f, cycle), members) in loops {
            let first = members
                .iter()
                .filter_map(|&c| match &self.computers[c].outcome {
                    Some(Outcome::Looping {
                        first_at, repeats, ..
                    }) => Some((*first_at, *repeats, c)),
                    _ => None,
                })
                .min();
            let mut detail = vec![format!("cycle: {cycle} → (again)")];
            if let Some((at, repeats, c)) = first {
                detail.push(format!(
                    "first seen at {} on {}; each machine was stopped after {repeats} turns",
                    Time(at.since_start()),
                    self.client_name(c),
                ));
            }
            out.push(Finding {
                kind: "boot-loop".to_string(),
                message: format!(
                    "{}/{} clients of fleet {} loop: {cycle}",
                    members.len(),
                    sc.fleets[f].count,
                    sc.fleets[f].name
                ),
                detail,
            });
        }

        // Identities a server cannot trust (research Q7).
        let mut by_uuid: BTreeMap<[u8; 16], Vec<usize>> = BTreeMap::new();
        for (c, computer) in self.computers.iter().enumerate() {
            if let Some(u) = computer.wire_uuid {
                by_uuid.entry(u).or_default().push(c);
            }
        }
        for (uuid, members) in by_uuid {
            let placeholder = uuid == [0; 16] || uuid == [0xff; 16];
            if members.len() < 2 && !placeholder {
                continue;
            }
            let fleets: BTreeSet<&str> = members
                .iter()
                .map(|&c| sc.fleets[self.computers[c].fleet].name.as_str())
                .collect();
            let what = if placeholder {
                "a placeholder SMBIOS UUID"
            } else {
                "one SMBIOS UUID"
            };
            out.push(Finding {
                kind: "duplicate-uuid".to_string(),
                message: format!(
                    "{} clients ({}) share {what} {}: a server must match them by MAC",
                    members.len(),
                    fleets.into_iter().collect::<Vec<_>>().join(", "),
                    format_uuid(&uuid)
                ),
                detail: Vec::new(),
            });
        }
        out
    }

    pub(super) fn name_of(&self, s: Option<usize>) -> String {
        s.map_or_else(
            || "an unknown server".to_string(),
            |s| self.servers[s].name.clone(),
        )
    }

    pub(super) fn client_name(&self, c: usize) -> String {
        let computer = &self.computers[c];
        format!("{}#{}", self.fleet_names[computer.fleet], computer.index)
    }

    fn client_lines(&self, _sc: &Scenario) -> Vec<ClientLine> {
        let Some(paths) = &self.paths else {
            return Vec::new();
        };
        self.computers
            .iter()
            .enumerate()
            .map(|(c, computer)| {
                let (outcome, at) = match &computer.outcome {
                    Some(Outcome::Booted { server, file, at }) => (
                        format!("booted {file} from {}", self.name_of(*server)),
                        Some(*at),
                    ),
                    Some(Outcome::Failed { error, detail, at }) => {
                        (format!("{error} ({detail})"), Some(*at))
                    }
                    Some(Outcome::Looping { repeats, at, .. }) => (
                        format!("stopped in a boot loop after {repeats} turns"),
                        Some(*at),
                    ),
                    Some(Outcome::InOs { os, at }) => {
                        (format!("up in {os}, its agent idle"), Some(*at))
                    }
                    Some(Outcome::Halted { reason, at }) => {
                        (format!("halted: {reason}"), Some(*at))
                    }
                    None => ("still booting when the run ended".to_string(), None),
                };
                ClientLine {
                    name: self.client_name(c),
                    mac: computer.mac.to_string(),
                    path: paths[c].clone(),
                    outcome,
                    at: at.map(|t| Time(t.since_start())),
                }
            })
            .collect()
    }
}

fn format_uuid(u: &[u8; 16]) -> String {
    let hex: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Checks one expectation against the outcomes.
fn check(e: &Expect, fleets: &[FleetReport], findings: &[Finding]) -> ExpectationResult {
    match e {
        Expect::Fleet {
            line,
            fleet,
            booted,
            booted_from,
            error,
            jobs_succeeded,
            jobs_failed,
            jobs_refused,
            imaged,
            registered,
            looping,
        } => {
            let Some(r) = fleets.iter().find(|f| &f.name == fleet) else {
                return ExpectationResult {
                    line: *line,
                    expectation: format!("fleet {fleet}"),
                    passed: false,
                    observed: "no such fleet".to_string(),
                };
            };
            let mut wants = Vec::new();
            let mut passed = true;
            if let Some(count) = booted {
                wants.push(format!("{count} booted"));
                passed &= match count {
                    Count::All => r.booted == r.count,
                    Count::None => r.booted == 0,
                    Count::Exactly(n) => r.booted == *n,
                    Count::AtLeast(n) => r.booted >= *n,
                    Count::AtMost(n) => r.booted <= *n,
                };
            }
            if let Some(server) = booted_from {
                wants.push(format!("booted from {server}"));
                passed &= r.booted > 0 && r.booted_from.get(server) == Some(&r.booted);
            }
            if let Some(code) = error {
                wants.push(format!("failures show {code}"));
                let failed: u32 = r.errors.values().sum();
                passed &= failed > 0 && r.errors.get(code) == Some(&failed);
            }
            if let Some(count) = looping {
                wants.push(format!("{count} looping"));
                passed &= count.holds(r.looping, r.count);
            }
            let d = r.deployment.as_ref();
            for (want, what, value) in [
                (
                    jobs_succeeded,
                    "with their jobs succeeded",
                    d.map(|d| d.jobs_succeeded),
                ),
                (jobs_failed, "with a job failed", d.map(|d| d.jobs_failed)),
                (
                    jobs_refused,
                    "with a job refused",
                    d.map(|d| d.jobs_refused),
                ),
                (imaged, "imaged byte for byte", d.map(|d| d.imaged)),
                (
                    registered,
                    "registered during the run",
                    d.map(|d| d.registered),
                ),
            ] {
                if let Some(count) = want {
                    wants.push(format!("{count} {what}"));
                    passed &= value.is_some_and(|v| count.holds(v, r.count));
                }
            }
            let mut observed = format!("{}/{} booted", r.booted, r.count);
            match r.booted_from.iter().collect::<Vec<_>>().as_slice() {
                [] => {}
                [(server, n)] if **n == r.booted => {
                    let _ = write!(observed, ", all from {server}");
                }
                list => {
                    let list: Vec<String> =
                        list.iter().map(|(s, n)| format!("{n} from {s}")).collect();
                    let _ = write!(observed, ", {}", list.join(", "));
                }
            }
            if !r.errors.is_empty() {
                let list: Vec<String> = r.errors.iter().map(|(c, n)| format!("{n} {c}")).collect();
                let _ = write!(observed, ", failed: {}", list.join(", "));
            }
            if r.looping > 0 {
                let _ = write!(observed, ", {} looping", r.looping);
            }
            if r.unfinished > 0 {
                let _ = write!(observed, ", {} unfinished", r.unfinished);
            }
            if let Some(d) = d {
                let _ = write!(
                    observed,
                    "; jobs: {} succeeded, {} failed, {} refused; {} imaged, {} registered",
                    d.jobs_succeeded, d.jobs_failed, d.jobs_refused, d.imaged, d.registered
                );
            }
            ExpectationResult {
                line: *line,
                expectation: format!("fleet {fleet}: {}", wants.join(", ")),
                passed,
                observed,
            }
        }
        Expect::Finding {
            line,
            finding,
            present,
        } => {
            let kind = finding.to_string();
            let n = findings.iter().filter(|f| f.kind == kind).count();
            ExpectationResult {
                line: *line,
                expectation: if *present {
                    format!("finding {kind} present")
                } else {
                    format!("no finding {kind}")
                },
                passed: (n > 0) == *present,
                observed: format!("{n} {kind} finding(s)"),
            }
        }
    }
}
