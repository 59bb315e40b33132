//! The deployment plane's part of the report: per managed fleet, what became
//! of its jobs and disks; per Deployment Server, its jobs, refusals and
//! imaging times; and the findings only a deployment can produce.

use std::collections::BTreeMap;
use std::time::Duration;

use pxelab_reference::deploy::{DeployEventKind, JobKind, JobState};

use super::World;
use crate::report::{DeploymentReport, Finding, FleetDeployment, ImagingReport, Spread, Time};
use crate::scenario::{DeployMode, Scenario, TransferSpec};

/// Job histories are printed when a deployment has at most this many jobs.
const MAX_HISTORY_JOBS: usize = 6;

impl World {
    /// What happened to fleet `f`'s jobs and disks (`None`: not managed).
    pub(super) fn fleet_deployment(&self, f: usize) -> Option<FleetDeployment> {
        let mut r = FleetDeployment {
            jobs_succeeded: 0,
            jobs_failed: 0,
            jobs_refused: 0,
            imaged: 0,
            registered: 0,
            in_os: 0,
        };
        let mut managed = false;
        for &c in &self.fleet_members[f] {
            let computer = &self.computers[c];
            let Some(m) = computer.managed.as_ref() else {
                continue;
            };
            managed = true;
            let station = &self.deploys[m.deployment];
            let core = &station.core;
            if matches!(computer.outcome, Some(crate::machine::Outcome::InOs { .. })) {
                r.in_os += 1;
            }
            if self.registered_during_run.contains(&c) {
                r.registered += 1;
            }
            let Some(id) = core.computers().by_mac(computer.mac) else {
                continue;
            };
            let jobs: Vec<_> = core.jobs().iter().filter(|j| j.computer == id).collect();
            if !jobs.is_empty() && jobs.iter().all(|j| *j.state() == JobState::Succeeded) {
                r.jobs_succeeded += 1;
            }
            if jobs
                .iter()
                .any(|j| matches!(j.state(), JobState::Failed { .. }))
            {
                r.jobs_failed += 1;
            }
            if station.log.iter().any(
                |e| matches!(&e.kind, DeployEventKind::Refused { computer, .. } if *computer == id),
            ) {
                r.jobs_refused += 1;
            }
            // Byte for byte: the OS partition against the image its own
            // deploy job named.
            let wanted = jobs.iter().rev().find_map(|j| match &j.kind {
                JobKind::DeployImage { image } => Some(image.clone()),
                _ => None,
            });
            if let Some(image) = wanted
                && let Some(content) = station.images.0.get(&image)
                && let Ok(p) = pxelab_reference::agent::BootDisk::os_partition(&m.disk)
                && m.disk.disk().verify_partition_against(p, content).is_ok()
            {
                r.imaged += 1;
            }
        }
        managed.then_some(r)
    }

    /// One report per Deployment Server.
    pub(super) fn deployment_reports(&self, sc: &Scenario) -> Vec<DeploymentReport> {
        self.deploys
            .iter()
            .zip(&sc.deployments)
            .map(|(d, spec)| {
                let core = &d.core;
                let mut jobs: BTreeMap<String, u32> = BTreeMap::new();
                for j in core.jobs() {
                    *jobs.entry(j.state().name().to_string()).or_default() += 1;
                }
                let mut refused: BTreeMap<String, u32> = BTreeMap::new();
                let mut identity = Vec::new();
                for e in &d.log {
                    match &e.kind {
                        DeployEventKind::Refused { kind, reason, .. } => {
                            let text = refusal(kind, reason);
                            *refused.entry(text).or_default() += 1;
                        }
                        // Deployment Server 6.x did not warn: it trusted the UUID.
                        DeployEventKind::IdentityWarning(w) if spec.mode == DeployMode::Reference => {
                            identity.push(w.to_string())
                        }
                        _ => {}
                    }
                }
                let history = if core.jobs().len() <= MAX_HISTORY_JOBS {
                    core.jobs()
                        .iter()
                        .flat_map(|j| {
                            let who = core
                                .computers()
                                .get(j.computer)
                                .map_or_else(|| j.computer.to_string(), |c| c.name.clone());
                            let head = format!("{} {} for {who}:", j.id, j.kind);
                            std::iter::once(head).chain(j.history().iter().map(|h| {
                                format!("    {} {} — {}", Time(h.at.since_start()), h.state.name(), h.note)
                            }))
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                DeploymentReport {
                    name: d.name.clone(),
                    server: spec.server.clone(),
                    mode: match (spec.mode, spec.trust_uuid) {
                        (DeployMode::Reference, _) => "reference".to_string(),
                        (DeployMode::Legacy, false) => "legacy".to_string(),
                        (DeployMode::Legacy, true) => "legacy, trusts UUIDs".to_string(),
                    },
                    transfer: match spec.transfer {
                        TransferSpec::Unicast => "unicast".to_string(),
                        TransferSpec::Multicast {
                            min_receivers,
                            max_wait_s,
                        } => format!(
                            "multicast, a session starts with {min_receivers} receivers or after {max_wait_s} s"
                        ),
                    },
                    jobs,
                    refused: refused.into_iter().collect(),
                    identity_warnings: identity,
                    imaging: imaging(&d.transfers),
                    history,
                }
            })
            .collect()
    }

    /// Findings of the deployment plane: refusals and jobs run on the wrong
    /// machine.
    pub(super) fn deploy_findings(&self, out: &mut Vec<Finding>) {
        for d in &self.deploys {
            let mut refused: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for e in &d.log {
                if let DeployEventKind::Refused {
                    computer,
                    kind,
                    reason,
                } = &e.kind
                {
                    let who = d
                        .core
                        .computers()
                        .get(*computer)
                        .map_or_else(|| computer.to_string(), |c| c.name.clone());
                    refused.entry(refusal(kind, reason)).or_default().push(who);
                }
            }
            for (why, who) in refused {
                let mut detail = vec![why.clone()];
                detail.push(format!("computers: {}", list(&who)));
                out.push(Finding {
                    kind: "job-refused".to_string(),
                    message: format!(
                        "deployment {} refused {} job(s) when they were scheduled",
                        d.name,
                        who.len()
                    ),
                    detail,
                });
            }
        }
        if !self.wrong_computer.is_empty() {
            let detail = self
                .wrong_computer
                .iter()
                .map(|(c, job, owner, kind)| {
                    format!(
                        "{} ({}) was offered job {job} ({kind}) of {owner}",
                        self.client_name(*c),
                        self.computers[*c].mac
                    )
                })
                .collect();
            out.push(Finding {
                kind: "wrong-computer".to_string(),
                message: format!(
                    "{} job offer(s) went to a machine other than the job's computer",
                    self.wrong_computer.len()
                ),
                detail,
            });
        }
    }
}

/// A refusal in words that do not name the computer, so the same refusal of
/// a whole fleet reads once.
fn refusal(kind: &JobKind, reason: &pxelab_reference::deploy::ScheduleRefused) -> String {
    format!("{kind}: {}", reason.for_any_computer())
}

fn list(names: &[String]) -> String {
    const SHOWN: usize = 6;
    if names.len() <= SHOWN {
        names.join(", ")
    } else {
        format!("{}, … ({} in all)", names[..SHOWN].join(", "), names.len())
    }
}

fn imaging(transfers: &[super::deploy::TransferRecord]) -> Option<ImagingReport> {
    let first = transfers.iter().map(|t| t.started).min()?;
    let last = transfers.iter().map(|t| t.finished).max()?;
    let bytes: u64 = transfers.iter().map(|t| t.bytes).sum();
    let mut flows = std::collections::BTreeMap::new();
    for t in transfers {
        flows.insert(t.flow, t.bytes);
    }
    let sent: u64 = flows.values().sum();
    let mbps = |b: u64, secs: f64| {
        if secs > 0.0 {
            (b as f64 * 8.0 / secs / 1e6 * 10.0).round() / 10.0
        } else {
            0.0
        }
    };
    let fleet_time = last - first;
    let secs = fleet_time.as_secs_f64();
    let per: Vec<Duration> = transfers.iter().map(|t| t.finished - t.started).collect();
    let machines = transfers
        .iter()
        .map(|t| t.computer)
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u32;
    Some(ImagingReport {
        machines,
        bytes,
        first_start: Time(first.since_start()),
        last_end: Time(last.since_start()),
        fleet_time: Time(fleet_time),
        per_machine: Spread::of(per),
        throughput_mbps: mbps(bytes, secs),
        server_mbps: mbps(sent, secs),
        multicast: transfers.iter().any(|t| t.multicast),
    })
}
