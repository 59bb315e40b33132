//! What the Deployment Server reports: one event per decision, one log line each.

use std::fmt;

use crate::{Instant, Mac};

use super::computer::{ComputerId, IdentityWarning};
use super::job::{JobId, JobKind, JobState};
use super::server::ScheduleRefused;

/// One decision of the Deployment Server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployEvent {
    /// When it was decided.
    pub at: Instant,
    /// What was decided.
    pub kind: DeployEventKind,
}

/// What kind of decision an event reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeployEventKind {
    /// A computer was added to the registry.
    Registered {
        /// Its id.
        computer: ComputerId,
        /// Its MAC.
        mac: Mac,
        /// Its name.
        name: String,
    },
    /// A UUID was not trusted (reported once per machine and problem).
    IdentityWarning(IdentityWarning),
    /// A job was scheduled.
    Scheduled {
        /// The job.
        job: JobId,
        /// For whom.
        computer: ComputerId,
        /// What it does.
        kind: JobKind,
    },
    /// A job was refused at scheduling time.
    Refused {
        /// For whom.
        computer: ComputerId,
        /// What it would have done.
        kind: JobKind,
        /// Why, in words a user can act on.
        reason: ScheduleRefused,
    },
    /// The boot into the pre-OS environment was set up.
    Armed {
        /// The job.
        job: JobId,
        /// Which attempt this is (1 for the first).
        attempt: u32,
    },
    /// An agent started the job.
    Started {
        /// The job.
        job: JobId,
    },
    /// An attempt failed and the job waits for another one.
    Retrying {
        /// The job.
        job: JobId,
        /// Failed attempts so far.
        attempt: u32,
        /// The bound (`None` in legacy mode: no bound).
        max: Option<u32>,
        /// What went wrong.
        reason: String,
    },
    /// The job succeeded.
    Succeeded {
        /// The job.
        job: JobId,
    },
    /// The job failed for good.
    Failed {
        /// The job.
        job: JobId,
        /// Why.
        reason: String,
    },
    /// A configured job the job store knew from an earlier run was taken
    /// back as it was stored, instead of starting afresh.
    Resumed {
        /// The job (its stored id).
        job: JobId,
        /// For whom.
        computer: ComputerId,
        /// What it does.
        kind: JobKind,
        /// Its stored state.
        state: JobState,
        /// Its stored count of failed attempts.
        failed_attempts: u32,
    },
    /// A job the job store holds from an earlier run is no longer configured:
    /// it stays in the store and is not offered (a warning).
    NotConfigured {
        /// Its stored id.
        job: JobId,
        /// The MAC of the computer it was for.
        mac: Mac,
        /// What it does.
        kind: JobKind,
        /// Its stored state.
        state: JobState,
    },
    /// A change of a job could not be made durable, so it was not made: the
    /// job keeps its state and nothing was acknowledged.
    NotRecorded {
        /// The job.
        job: JobId,
        /// What the job store said.
        error: String,
    },
}

impl fmt::Display for DeployEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.at)?;
        match &self.kind {
            DeployEventKind::Registered {
                computer,
                mac,
                name,
            } => write!(f, "registered {computer} {name} ({mac})"),
            DeployEventKind::IdentityWarning(w) => write!(f, "identity warning: {w}"),
            DeployEventKind::Scheduled {
                job,
                computer,
                kind,
            } => write!(f, "scheduled {job} for {computer}: {kind}"),
            DeployEventKind::Refused {
                computer,
                kind,
                reason,
            } => write!(f, "refused {kind} for {computer}: {reason}"),
            DeployEventKind::Armed { job, attempt } => write!(f, "armed {job} (attempt {attempt})"),
            DeployEventKind::Started { job } => write!(f, "started {job}"),
            DeployEventKind::Retrying {
                job,
                attempt,
                max,
                reason,
            } => match max {
                Some(max) => write!(f, "{job} attempt {attempt} of {max} failed: {reason}"),
                None => write!(f, "{job} attempt {attempt} failed, rescheduled: {reason}"),
            },
            DeployEventKind::Succeeded { job } => write!(f, "{job} succeeded"),
            DeployEventKind::Failed { job, reason } => write!(f, "{job} failed: {reason}"),
            DeployEventKind::Resumed {
                job,
                computer,
                kind,
                state,
                failed_attempts,
            } => write!(
                f,
                "resumed {job} for {computer}: {kind}, {state} \
                 ({failed_attempts} failed attempts), from the job store"
            ),
            DeployEventKind::NotConfigured {
                job,
                mac,
                kind,
                state,
            } => write!(
                f,
                "warning: {job} ({kind} for {mac}, {state}) is in the job store but not \
                 in the config: kept, and not offered unless scheduled again (a machine \
                 registered by initial deployment gets it back if it PXE-boots again)"
            ),
            DeployEventKind::NotRecorded { job, error } => write!(
                f,
                "error: {job}: change not recorded in the job store, so not made and not \
                 acknowledged: {error}"
            ),
        }
    }
}
