//! Jobs and their life: scheduled, armed, running, then succeeded or failed,
//! every step kept in a history.
//!
//! The states follow what the seed's machine goes through: the job is
//! *scheduled*; AClient sees it and sets the MBR boot flag (*armed*); Bootworks
//! boots, connects and runs it (*running*); it ends *succeeded* or *failed with a
//! reason*. A transition the table below does not allow is an error, never an
//! overwrite: a state machine that silently accepts "succeeded" for a job that
//! never ran is how a Deployment Server ends up reporting work that did not happen.
//!
//! ```text
//! Scheduled ──arm──▶ Armed ──start──▶ Running ──report──▶ Succeeded
//!   │  ▲                 │                 │
//!   │  └── attempt failed (Armed or Running): retry, or Failed { reason }
//!   │                                      │
//!   └──start (jobs with no pre-OS part)────┘
//! ```

use std::fmt;

use crate::Instant;

use super::computer::ComputerId;
use super::store::{JobChange, JobKey, StoredJob};

/// A job's changeable fields at one moment (see [`Job::checkpoint`]).
#[derive(Debug, Clone)]
pub(crate) struct Checkpoint {
    state: JobState,
    history_len: usize,
    failed_attempts: u32,
    pre_os_done: bool,
}

/// A job's number, assigned in scheduling order from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u32);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {}", self.0)
    }
}

/// What a job does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobKind {
    /// Write a stored image to the disk (pre-OS).
    DeployImage {
        /// The image's name in the store.
        image: String,
    },
    /// Read the disk into a new image (pre-OS).
    CaptureImage {
        /// The name the new image will have.
        image_name: String,
    },
    /// Install an OS from its setup files with an answer file (pre-OS, and only
    /// from an automation environment that can start the installer).
    ScriptedInstall {
        /// The OS to install.
        os: String,
    },
    /// Run a script in the production OS (AClient): no pre-OS boot.
    RunScript {
        /// The script.
        script: String,
    },
    /// Return the machine to its installed OS: the boot flag is cleared and the
    /// machine boots from disk; no pre-OS environment is needed to do that.
    BootToProduction,
}

impl JobKind {
    /// Whether the job runs in the pre-OS environment (so the computer must boot
    /// into Bootworks for it, through PXE or the MBR boot flag).
    pub fn needs_pre_os(&self) -> bool {
        matches!(
            self,
            JobKind::DeployImage { .. }
                | JobKind::CaptureImage { .. }
                | JobKind::ScriptedInstall { .. }
        )
    }

    /// The job's name in the issue's words (`deploy-image`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::DeployImage { .. } => "deploy-image",
            JobKind::CaptureImage { .. } => "capture-image",
            JobKind::ScriptedInstall { .. } => "scripted-install",
            JobKind::RunScript { .. } => "run-script",
            JobKind::BootToProduction => "boot-to-production",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobKind::DeployImage { image } => write!(f, "deploy-image {image}"),
            JobKind::CaptureImage { image_name } => write!(f, "capture-image {image_name}"),
            JobKind::ScriptedInstall { os } => write!(f, "scripted-install {os}"),
            JobKind::RunScript { script } => write!(f, "run-script {script}"),
            JobKind::BootToProduction => f.write_str("boot-to-production"),
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for the computer's agent to pick it up.
    Scheduled,
    /// The boot into the pre-OS environment is set up (boot flag written, or the
    /// PXE server told to hand out Bootworks).
    Armed,
    /// An agent is running it.
    Running,
    /// Done.
    Succeeded,
    /// Given up, with the reason a user reads.
    Failed {
        /// Why.
        reason: String,
    },
}

impl JobState {
    /// The state's name (`scheduled`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            JobState::Scheduled => "scheduled",
            JobState::Armed => "armed",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed { .. } => "failed",
        }
    }

    /// Succeeded or failed: nothing follows.
    pub fn is_terminal(&self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed { .. })
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobState::Failed { reason } => write!(f, "failed: {reason}"),
            s => f.write_str(s.name()),
        }
    }
}

/// One step of a job's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// When.
    pub at: Instant,
    /// The state the job was in after the step.
    pub state: JobState,
    /// What happened, in words.
    pub note: String,
}

/// A job refused a change of state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// No job has this id.
    #[error("{0} does not exist")]
    UnknownJob(JobId),
    /// The change is not in the job's state table.
    #[error("{job} ({kind}) cannot go from {from} to {to}: {why}")]
    IllegalTransition {
        /// The job.
        job: JobId,
        /// Its kind's name.
        kind: &'static str,
        /// Its current state's name.
        from: &'static str,
        /// The state asked for.
        to: &'static str,
        /// What to do instead.
        why: &'static str,
    },
    /// The change could not be made durable in the job store, so it was not
    /// made at all (see `DeploymentServer`, "Durable job state").
    #[error(
        "{job}: the change was not recorded, so it was not made (the job stays {state}): {error}"
    )]
    NotRecorded {
        /// The job.
        job: JobId,
        /// Its state, unchanged.
        state: &'static str,
        /// What the store said.
        error: String,
    },
}

/// One job for one computer.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its number.
    pub id: JobId,
    /// The computer it is for.
    pub computer: ComputerId,
    /// What it does.
    pub kind: JobKind,
    state: JobState,
    history: Vec<HistoryEntry>,
    failed_attempts: u32,
    pre_os_done: bool,
}

impl Job {
    pub(crate) fn new(
        now: Instant,
        id: JobId,
        computer: ComputerId,
        kind: JobKind,
        note: String,
    ) -> Self {
        Job {
            id,
            computer,
            kind,
            state: JobState::Scheduled,
            history: vec![HistoryEntry {
                at: now,
                state: JobState::Scheduled,
                note,
            }],
            failed_attempts: 0,
            pre_os_done: false,
        }
    }

    /// The job as the store gave it back after a restart, for `computer` (the
    /// registry number it has in this run).
    pub(crate) fn from_stored(stored: StoredJob, computer: ComputerId) -> Self {
        Job {
            id: stored.id,
            computer,
            kind: stored.key.kind,
            state: stored.state,
            history: stored.history,
            failed_attempts: stored.failed_attempts,
            pre_os_done: stored.pre_os_done,
        }
    }

    /// What the job looks like from `history_from` on, as a change for the
    /// store.
    pub(crate) fn change(&self, key: JobKey, history_from: usize) -> JobChange {
        let from = history_from.min(self.history.len());
        JobChange {
            id: self.id,
            key,
            state: self.state.clone(),
            failed_attempts: self.failed_attempts,
            pre_os_done: self.pre_os_done,
            history_from: u32::try_from(from).unwrap_or(u32::MAX),
            history: self.history[from..].to_vec(),
        }
    }

    /// What can be undone if the store refuses a change: the fields that
    /// change, and how long the history was (it is only appended to).
    pub(crate) fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            state: self.state.clone(),
            history_len: self.history.len(),
            failed_attempts: self.failed_attempts,
            pre_os_done: self.pre_os_done,
        }
    }

    /// Puts the job back where `checkpoint` found it.
    pub(crate) fn restore(&mut self, checkpoint: Checkpoint) {
        self.state = checkpoint.state;
        self.history.truncate(checkpoint.history_len);
        self.failed_attempts = checkpoint.failed_attempts;
        self.pre_os_done = checkpoint.pre_os_done;
    }

    /// Adds a note to the history without a change of state (a restart).
    pub(crate) fn note(&mut self, now: Instant, note: String) {
        self.history.push(HistoryEntry {
            at: now,
            state: self.state.clone(),
            note,
        });
    }

    /// Its current state.
    pub fn state(&self) -> &JobState {
        &self.state
    }

    /// Every step so far, oldest first (the first is its scheduling).
    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }

    /// Attempts that failed so far (reported failures and pre-OS boots that
    /// never reported).
    pub fn failed_attempts(&self) -> u32 {
        self.failed_attempts
    }

    /// Whether Bootworks finished its part of this attempt (image written and
    /// verified, installer started): what is left is AClient's, in the OS.
    pub fn pre_os_done(&self) -> bool {
        self.pre_os_done
    }

    pub(crate) fn set_pre_os_done(&mut self, done: bool) {
        self.pre_os_done = done;
    }

    pub(crate) fn count_failed_attempt(&mut self) -> u32 {
        self.failed_attempts = self.failed_attempts.saturating_add(1);
        self.failed_attempts
    }

    /// Checks `to` against the state table; on success moves there and records
    /// the step.
    pub(crate) fn transition(
        &mut self,
        now: Instant,
        to: JobState,
        note: String,
    ) -> Result<(), JobError> {
        self.check(&to)?;
        if matches!(to, JobState::Scheduled | JobState::Armed) {
            // A new attempt: Bootworks has its part to do again.
            self.pre_os_done = false;
        }
        self.state = to.clone();
        self.history.push(HistoryEntry {
            at: now,
            state: to,
            note,
        });
        Ok(())
    }

    /// The error for a move to `to` that is not allowed, and why.
    pub(crate) fn refusal(&self, to: &JobState, why: &'static str) -> JobError {
        JobError::IllegalTransition {
            job: self.id,
            kind: self.kind.name(),
            from: self.state.name(),
            to: to.name(),
            why,
        }
    }

    /// The state table.
    fn check(&self, to: &JobState) -> Result<(), JobError> {
        use JobState::*;
        let pre_os = self.kind.needs_pre_os();
        let refused = |why: &'static str| Err(self.refusal(to, why));
        match (&self.state, to) {
            (Succeeded | Failed { .. }, _) => {
                refused("the job has finished; schedule a new one to run it again")
            }
            (Scheduled, Armed) if pre_os => Ok(()),
            (Scheduled, Armed) => refused("it runs in the production OS, there is nothing to arm"),
            (Scheduled, Running) if !pre_os => Ok(()),
            (Scheduled, Running) => {
                refused("a pre-OS job must be armed (boot into Bootworks set up) before it starts")
            }
            // Arming again goes through a failed attempt (DeploymentServer::arm).
            (Armed, Armed) => refused("it is already armed"),
            (Running, Armed) => refused("it is already running"),
            (Armed, Running) => Ok(()),
            // A failed attempt puts the job back for another try.
            (Armed | Running, Scheduled) => Ok(()),
            (Armed | Running, Failed { .. }) => Ok(()),
            (Running, Succeeded) => Ok(()),
            (Running, Running) => Ok(()), // progress note
            (Scheduled, Scheduled | Succeeded | Failed { .. }) => {
                refused("the job has not been attempted yet")
            }
            (Armed, Succeeded) => refused("the job never started"),
        }
    }
}
