//! The Deployment Server: computers, jobs, images and the rules between them.
//!
//! It holds state and decides; it does no I/O and reads no clock (every change
//! takes `now`), and reports each decision as a [`DeployEvent`] through
//! [`DeploymentServer::poll_event`]. The agent protocol maps its messages onto
//! these calls: a check-in is [`identify`](DeploymentServer::identify) then
//! [`next_job_for`](DeploymentServer::next_job_for), AClient writing the boot flag
//! is [`arm`](DeploymentServer::arm), Bootworks connecting is
//! [`start`](DeploymentServer::start), its status messages are
//! [`report_status`](DeploymentServer::report_status).
//!
//! # Reference and legacy
//!
//! [`ServerMode::Reference`] refuses at scheduling time a job the computer cannot
//! run, with the reason, and bounds every job's failed attempts
//! ([`DeployConfig::max_attempts`]): after that many, the job is failed and the
//! machine stops being sent to its pre-OS environment. [`ServerMode::Legacy`]
//! reproduces Deployment Server 6.x as the seed tells it: any job is accepted, and
//! a failed attempt (or a pre-OS boot that never reported) leaves the job
//! scheduled, so AClient arms the boot flag again at the next Windows boot,
//! forever. That unbounded re-arming is the "Groundhog Day" loop; it is kept on
//! purpose so a scenario can show the loop and the fix side by side.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use crate::wire::agent::PostConfig;
use crate::{Instant, Mac};

use super::computer::{
    ComputerId, Computers, Identification, PreOsPath, SmbiosUuid, UnknownComputer,
};
use super::credential::{Credential, CredentialKind};
use super::event::{DeployEvent, DeployEventKind};
use super::image::{Image, ImageExists, ImageStore};
use super::job::{Job, JobError, JobId, JobKind, JobState};

/// Which Deployment Server this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerMode {
    /// The careful vendor's server: checks jobs when scheduled, bounds retries,
    /// matches computers by MAC.
    #[default]
    Reference,
    /// Deployment Server 6.x: no scheduling check, no retry bound.
    Legacy {
        /// Match a machine by SMBIOS UUID before its MAC, as Altiris did (so a
        /// duplicate UUID sends a job to the wrong machine).
        trust_uuid: bool,
    },
}

impl ServerMode {
    /// Whether this is [`ServerMode::Legacy`].
    pub fn is_legacy(&self) -> bool {
        matches!(self, ServerMode::Legacy { .. })
    }
}

/// The server's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployConfig {
    /// Reference or legacy behaviour.
    pub mode: ServerMode,
    /// Failed attempts after which a job is failed for good (reference mode; at
    /// least 1, a 0 counts as 1).
    pub max_attempts: u32,
    /// The job scheduled for an unknown computer that PXE-boots (Altiris'
    /// "Initial Deployment" menu entry); `None`: register it and wait.
    pub initial_deployment: Option<JobKind>,
}

impl Default for DeployConfig {
    fn default() -> Self {
        DeployConfig {
            mode: ServerMode::Reference,
            max_attempts: 3,
            initial_deployment: None,
        }
    }
}

/// Why a job was refused at scheduling time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleRefused {
    /// No computer has this id.
    #[error(
        "{0} is not registered; register it (or let it PXE-boot into initial deployment) first"
    )]
    UnknownComputer(ComputerId),
    /// A scripted install for a computer whose pre-OS path is a Bootworks
    /// partition.
    #[error(
        "{computer} reaches its pre-OS environment through a Bootworks partition, which is \
         image only: it cannot run a scripted install of {os}; deploy a sysprepped image \
         instead, or give the computer PXE-delivered Bootworks"
    )]
    ImageOnly {
        /// The computer's name.
        computer: String,
        /// The OS asked for.
        os: String,
    },
    /// A pre-OS job for a computer with no pre-OS path.
    #[error(
        "{computer} has no pre-OS path, so it cannot run {kind}: give it PXE-delivered \
         Bootworks or a Bootworks partition first"
    )]
    NoPreOsPath {
        /// The computer's name.
        computer: String,
        /// The job's name.
        kind: &'static str,
    },
    /// A deployment of an image the store does not hold.
    #[error("image {0:?} is not in the image store; add it (or capture it) before deploying it")]
    ImageNotInStore(String),
    /// A capture to a name the store already holds.
    #[error("{0}")]
    ImageExists(#[from] ImageExists),
}

impl ScheduleRefused {
    /// The same refusal with the computer's name left out, so that one reason
    /// given to a whole fleet reads once in a report.
    pub fn for_any_computer(&self) -> ScheduleRefused {
        let any = "the computer".to_string();
        match self {
            ScheduleRefused::ImageOnly { os, .. } => ScheduleRefused::ImageOnly {
                computer: any,
                os: os.clone(),
            },
            ScheduleRefused::NoPreOsPath { kind, .. } => ScheduleRefused::NoPreOsPath {
                computer: any,
                kind,
            },
            other => other.clone(),
        }
    }
}

/// What a running job's agent reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobReport {
    /// Still running; the note goes into the history.
    Progress {
        /// What it is doing.
        note: String,
    },
    /// Finished.
    Succeeded {
        /// What it did.
        note: String,
    },
    /// This attempt failed (see [`DeploymentServer::fail`]).
    Failed {
        /// Why, as the agent says it.
        reason: String,
    },
}

/// What [`DeploymentServer::pxe_boot_unknown`] did with a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialDeployment {
    /// The computer (newly registered, or already known).
    pub computer: ComputerId,
    /// Whether it was registered just now.
    pub registered: bool,
    /// The initial-deployment job scheduled for it, if one is configured and
    /// accepted.
    pub job: Option<JobId>,
    /// Why the configured job was refused, if it was.
    pub refused: Option<ScheduleRefused>,
}

/// The Deployment Server.
#[derive(Debug, Clone)]
pub struct DeploymentServer {
    config: DeployConfig,
    computers: Computers,
    images: ImageStore,
    jobs: Vec<Job>,
    events: VecDeque<DeployEvent>,
    /// Where agents map the image share (see [`DeploymentServer::share_path`]).
    share_path: String,
    /// A copy of each computer's share credential, which the job offer hands to
    /// Bootworks; kept here because the registry only verifies credentials and
    /// never lends them out (every change goes through
    /// [`DeploymentServer::set_credential`], so the two cannot disagree).
    share_secrets: BTreeMap<ComputerId, Credential>,
    /// Post-configuration carried by jobs (see
    /// [`DeploymentServer::set_post_config`]).
    post_configs: BTreeMap<JobId, PostConfig>,
}

/// The image share's path when none is configured: Deployment Server's own
/// share was `eXpress` on the server.
pub const DEFAULT_SHARE_PATH: &str = r"\\deployment-server\eXpress";

impl DeploymentServer {
    /// A server with no computers, jobs or images.
    pub fn new(config: DeployConfig) -> Self {
        let trust_uuid = matches!(config.mode, ServerMode::Legacy { trust_uuid: true });
        DeploymentServer {
            config,
            computers: Computers::new(trust_uuid),
            images: ImageStore::new(),
            jobs: Vec::new(),
            events: VecDeque::new(),
            share_path: DEFAULT_SHARE_PATH.to_string(),
            share_secrets: BTreeMap::new(),
            post_configs: BTreeMap::new(),
        }
    }

    /// The path agents map to read images (the job offer's `share.path`).
    pub fn share_path(&self) -> &str {
        &self.share_path
    }

    /// Sets the image share's path (default [`DEFAULT_SHARE_PATH`]).
    pub fn set_share_path(&mut self, path: impl Into<String>) {
        self.share_path = path.into();
    }

    /// Gives `job` the post-configuration (name, address) AClient applies after
    /// the pre-OS step; the job offer carries it. Kept beside the job rather than
    /// in [`JobKind`] so that scheduling (and its refusals) stays about what the
    /// job does, not how the machine is named afterwards.
    pub fn set_post_config(&mut self, job: JobId, post: PostConfig) -> Result<(), JobError> {
        if self.job(job).is_none() {
            return Err(JobError::UnknownJob(job));
        }
        self.post_configs.insert(job, post);
        Ok(())
    }

    /// The post-configuration `job` carries, if any.
    pub fn post_config(&self, job: JobId) -> Option<&PostConfig> {
        self.post_configs.get(&job)
    }

    /// Computer `id`'s image-share credential, to hand to its Bootworks in a job
    /// offer (never to anyone else: crate-private on purpose).
    pub(crate) fn share_secret(&self, id: ComputerId) -> Option<&Credential> {
        self.share_secrets.get(&id)
    }

    /// Its settings.
    pub fn config(&self) -> &DeployConfig {
        &self.config
    }

    /// The registry (read-only: changes go through the server so they are
    /// reported).
    pub fn computers(&self) -> &Computers {
        &self.computers
    }

    /// The image store.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// Adds an image to the store.
    pub fn add_image(&mut self, image: Image) -> Result<(), ImageExists> {
        self.images.add(image)
    }

    /// Job `id`.
    pub fn job(&self, id: JobId) -> Option<&Job> {
        let index = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.jobs.get(index)
    }

    /// Every job, in scheduling order.
    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<DeployEvent> {
        self.events.pop_front()
    }

    /// Matches a machine that checks in or PXE-boots (see
    /// [`Computers::identify`]); new UUID warnings become events.
    pub fn identify(&mut self, now: Instant, mac: Mac, uuid: Option<SmbiosUuid>) -> Identification {
        let id = self.computers.identify(now, mac, uuid);
        self.flush_warnings(now);
        id
    }

    /// Registers a machine (see [`Computers::register`]).
    pub fn register(
        &mut self,
        now: Instant,
        mac: Mac,
        uuid: Option<SmbiosUuid>,
        name: &str,
    ) -> ComputerId {
        let known = self.computers.by_mac(mac);
        let id = self.computers.register(now, mac, uuid, name);
        self.flush_warnings(now);
        if known.is_none() {
            self.event(
                now,
                DeployEventKind::Registered {
                    computer: id,
                    mac,
                    name: name.to_string(),
                },
            );
        }
        id
    }

    /// Sets how computer `id` reaches its pre-OS environment.
    pub fn set_pre_os(&mut self, id: ComputerId, path: PreOsPath) -> Result<(), UnknownComputer> {
        self.computers.set_pre_os(id, path)
    }

    /// Sets one of computer `id`'s credentials.
    pub fn set_credential(
        &mut self,
        id: ComputerId,
        kind: CredentialKind,
        credential: Credential,
    ) -> Result<(), UnknownComputer> {
        if kind == CredentialKind::Share {
            self.computers
                .set_credential(id, kind, credential.clone())?;
            self.share_secrets.insert(id, credential);
            Ok(())
        } else {
            self.computers.set_credential(id, kind, credential)
        }
    }

    /// Whether `presented` is computer `id`'s credential (constant time).
    pub fn verify_credential(
        &self,
        id: ComputerId,
        kind: CredentialKind,
        presented: &[u8],
    ) -> bool {
        self.computers.verify(id, kind, presented)
    }

    /// Schedules `kind` for `computer`. The reference server refuses, with the
    /// reason, a job the computer cannot run; the legacy server accepts anything.
    pub fn schedule(
        &mut self,
        now: Instant,
        computer: ComputerId,
        kind: JobKind,
    ) -> Result<JobId, ScheduleRefused> {
        let verdict = if self.config.mode.is_legacy() {
            Ok(())
        } else {
            self.check(computer, &kind)
        };
        if let Err(reason) = verdict {
            self.event(
                now,
                DeployEventKind::Refused {
                    computer,
                    kind,
                    reason: reason.clone(),
                },
            );
            return Err(reason);
        }
        let id = JobId(u32::try_from(self.jobs.len() + 1).unwrap_or(u32::MAX));
        self.jobs.push(Job::new(
            now,
            id,
            computer,
            kind.clone(),
            format!("scheduled {kind}"),
        ));
        self.event(
            now,
            DeployEventKind::Scheduled {
                job: id,
                computer,
                kind,
            },
        );
        Ok(id)
    }

    /// The scheduling check of the reference stance.
    fn check(&self, computer: ComputerId, kind: &JobKind) -> Result<(), ScheduleRefused> {
        let c = self
            .computers
            .get(computer)
            .ok_or(ScheduleRefused::UnknownComputer(computer))?;
        if kind.needs_pre_os() {
            match (c.pre_os, kind) {
                (PreOsPath::None, _) => {
                    return Err(ScheduleRefused::NoPreOsPath {
                        computer: c.name.clone(),
                        kind: kind.name(),
                    });
                }
                (PreOsPath::PartitionBootworks, JobKind::ScriptedInstall { os }) => {
                    return Err(ScheduleRefused::ImageOnly {
                        computer: c.name.clone(),
                        os: os.clone(),
                    });
                }
                _ => {}
            }
        }
        match kind {
            JobKind::DeployImage { image } if self.images.get(image).is_none() => {
                Err(ScheduleRefused::ImageNotInStore(image.clone()))
            }
            JobKind::CaptureImage { image_name } if self.images.get(image_name).is_some() => {
                Err(ImageExists(image_name.clone()).into())
            }
            _ => Ok(()),
        }
    }

    /// The job `computer` should run now: its oldest unfinished job. Jobs run one
    /// at a time, in the order they were scheduled.
    pub fn next_job_for(&self, computer: ComputerId) -> Option<&Job> {
        self.jobs
            .iter()
            .find(|j| j.computer == computer && !j.state().is_terminal())
    }

    /// The boot into the pre-OS environment is set up for `job` (AClient wrote the
    /// boot flag, or the PXE server will hand out Bootworks). Arming a job that is
    /// armed or running means the machine is back in its production OS although
    /// the last pre-OS attempt never reported its outcome: that counts as a failed
    /// attempt, so in reference mode a Bootworks that dies silently still cannot
    /// keep a machine looping. Returns the job's state afterwards.
    pub fn arm(&mut self, now: Instant, job: JobId) -> Result<JobState, JobError> {
        let missed = match self.job_mut(job)?.state() {
            JobState::Armed => Some("the pre-OS boot ended without a report from Bootworks"),
            JobState::Running => {
                Some("the pre-OS session ended before Bootworks reported the outcome")
            }
            _ => None,
        };
        if let Some(reason) = missed {
            let state = self.attempt_failed(now, job, reason.to_string())?;
            if state.is_terminal() {
                return Ok(state);
            }
            // Back in Scheduled: arm again below.
        }
        let j = self.job_mut(job)?;
        let attempt = j.failed_attempts().saturating_add(1);
        j.transition(
            now,
            JobState::Armed,
            format!("attempt {attempt}: boot into the pre-OS environment set"),
        )?;
        self.event(now, DeployEventKind::Armed { job, attempt });
        Ok(JobState::Armed)
    }

    /// An agent started `job` (Bootworks connected for a pre-OS job, AClient for
    /// the others).
    pub fn start(&mut self, now: Instant, job: JobId) -> Result<(), JobError> {
        self.job_mut(job)?
            .transition(now, JobState::Running, "agent started the job".into())?;
        self.event(now, DeployEventKind::Started { job });
        Ok(())
    }

    /// What the running job's agent says. A failure is an attempt that failed
    /// (see [`fail`](Self::fail)). Returns the job's state afterwards.
    pub fn report_status(
        &mut self,
        now: Instant,
        job: JobId,
        report: JobReport,
    ) -> Result<JobState, JobError> {
        match report {
            JobReport::Progress { note } => {
                let j = self.job_mut(job)?;
                if *j.state() != JobState::Running {
                    return Err(j.refusal(
                        &JobState::Running,
                        "progress comes from a running job; start it first",
                    ));
                }
                j.transition(now, JobState::Running, note)?;
                Ok(JobState::Running)
            }
            JobReport::Succeeded { note } => {
                self.job_mut(job)?
                    .transition(now, JobState::Succeeded, note)?;
                self.event(now, DeployEventKind::Succeeded { job });
                Ok(JobState::Succeeded)
            }
            JobReport::Failed { reason } => self.fail(now, job, reason),
        }
    }

    /// Bootworks finished its part of the running `job` (image written and
    /// verified, installer started): the job stays running until AClient in the
    /// installed OS completes it, and a Bootworks that boots meanwhile (a
    /// machine that PXE-boots every time) gets no job rather than the same
    /// pre-OS step again.
    pub fn pre_os_done(
        &mut self,
        now: Instant,
        job: JobId,
        note: String,
    ) -> Result<JobState, JobError> {
        let j = self.job_mut(job)?;
        if *j.state() != JobState::Running {
            return Err(j.refusal(
                &JobState::Running,
                "only a running job's pre-OS step can finish; start it first",
            ));
        }
        j.transition(now, JobState::Running, note)?;
        j.set_pre_os_done(true);
        Ok(JobState::Running)
    }

    /// An attempt at `job` failed (reported by the agent, or noticed by whoever
    /// drives the server). Reference: after [`DeployConfig::max_attempts`] failed
    /// attempts the job is failed with this reason, before that it is scheduled
    /// again. Legacy: it is always scheduled again (the loop). Returns the job's
    /// state afterwards.
    pub fn fail(&mut self, now: Instant, job: JobId, reason: String) -> Result<JobState, JobError> {
        self.attempt_failed(now, job, reason)
    }

    fn attempt_failed(
        &mut self,
        now: Instant,
        job: JobId,
        reason: String,
    ) -> Result<JobState, JobError> {
        let legacy = self.config.mode.is_legacy();
        let max = self.config.max_attempts.max(1);
        let j = self.job_mut(job)?;
        // Validate before counting, so an illegal call changes nothing.
        if !matches!(j.state(), JobState::Armed | JobState::Running) {
            return Err(j.refusal(
                &JobState::Scheduled,
                "only an armed or running job has an attempt that can fail",
            ));
        }
        let attempt = j.count_failed_attempt();
        if !legacy && attempt >= max {
            let final_reason = format!("{reason} (gave up after {attempt} attempts)");
            j.transition(
                now,
                JobState::Failed {
                    reason: final_reason.clone(),
                },
                format!("attempt {attempt} of {max} failed: {reason}"),
            )?;
            self.event(
                now,
                DeployEventKind::Failed {
                    job,
                    reason: final_reason.clone(),
                },
            );
            return Ok(JobState::Failed {
                reason: final_reason,
            });
        }
        let note = if legacy {
            format!("attempt {attempt} failed, rescheduled: {reason}")
        } else {
            format!("attempt {attempt} of {max} failed, rescheduled: {reason}")
        };
        j.transition(now, JobState::Scheduled, note)?;
        self.event(
            now,
            DeployEventKind::Retrying {
                job,
                attempt,
                max: (!legacy).then_some(max),
                reason,
            },
        );
        Ok(JobState::Scheduled)
    }

    /// An unknown machine PXE-booted: register it (named `new-` and its MAC's
    /// hex digits) with PXE-delivered Bootworks as its pre-OS path (it just
    /// PXE-booted), then schedule the configured initial-deployment job. The
    /// computer exists before its job, so the job cannot be lost (Deployment
    /// Server 7.1 assigned the job before the computer resource existed, and the
    /// job never ran). A machine the server already knows is not registered again
    /// and gets no initial job.
    pub fn pxe_boot_unknown(
        &mut self,
        now: Instant,
        mac: Mac,
        uuid: Option<SmbiosUuid>,
    ) -> InitialDeployment {
        if let Some(computer) = self.identify(now, mac, uuid).computer {
            return InitialDeployment {
                computer,
                registered: false,
                job: None,
                refused: None,
            };
        }
        let hex: String = mac.octets().iter().map(|b| format!("{b:02x}")).collect();
        let computer = self.register(now, mac, uuid, &format!("new-{hex}"));
        // A just-registered id is always in the registry.
        let _ = self.computers.set_pre_os(computer, PreOsPath::PxeBootworks);
        let (job, refused) = match self.config.initial_deployment.clone() {
            None => (None, None),
            Some(kind) => match self.schedule(now, computer, kind) {
                Ok(job) => (Some(job), None),
                Err(reason) => (None, Some(reason)),
            },
        };
        InitialDeployment {
            computer,
            registered: true,
            job,
            refused,
        }
    }

    fn job_mut(&mut self, id: JobId) -> Result<&mut Job, JobError> {
        usize::try_from(id.0)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.jobs.get_mut(i))
            .ok_or(JobError::UnknownJob(id))
    }

    fn event(&mut self, at: Instant, kind: DeployEventKind) {
        self.events.push_back(DeployEvent { at, kind });
    }

    fn flush_warnings(&mut self, now: Instant) {
        for w in self.computers.take_fresh_warnings() {
            self.event(now, DeployEventKind::IdentityWarning(w));
        }
    }
}

impl fmt::Display for ServerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerMode::Reference => f.write_str("reference"),
            ServerMode::Legacy { trust_uuid: false } => f.write_str("legacy"),
            ServerMode::Legacy { trust_uuid: true } => f.write_str("legacy (trusts UUIDs)"),
        }
    }
}
