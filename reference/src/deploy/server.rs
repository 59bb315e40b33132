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
//!
//! # Durable job state
//!
//! Every job lives in a [`JobStore`] as well as in memory (a [`MemoryJobStore`]
//! unless the server is built [`with_store`](DeploymentServer::with_store)). The
//! rule: **a change of a job is committed to the store inside the call that
//! makes it, before the call returns**, and only then reported. So it is durable
//! before anything can depend on it:
//!
//! - before its [`DeployEvent`] (the log line "job 3 succeeded") is queued;
//! - before the agent session answers the report that caused it, logs it, or
//!   reads the agent's next message. A `JobStatus` has no positive answer in
//!   version 1 of the agent protocol; what an agent can observe of a change is
//!   what comes after it: an `Error` refusing a later report, the `NoJob` or
//!   next `JobOffer` at its next check-in, the `ImageChunk`s served only to a
//!   running job. All of that comes after the commit.
//! - A new job is committed when it is scheduled, with its id, so the id a
//!   `JobOffer` carries always names the same job after a restart. Offering
//!   changes nothing (the offer reads the job), so it needs no commit.
//!
//! If the store fails, the change is undone in memory, its events are dropped,
//! a [`DeployEventKind::NotRecorded`] event says what was lost, and the call
//! returns [`JobError::NotRecorded`] (or [`ScheduleRefused::NotRecorded`]): the
//! agent session answers with an `Error`, never with what was not recorded.
//!
//! # Restarts
//!
//! A job is identified across restarts by its [`JobKey`] (computer MAC, kind,
//! ordinal; see there why). [`load_config`](DeploymentServer::load_config)
//! merges the stored jobs with the configured ones:
//!
//! - a configured job the store knows resumes its stored id, state, failed
//!   attempts and history ([`DeployEventKind::Resumed`]); an unfinished one
//!   gets a history note that the server restarted;
//! - a configured job the store does not know starts fresh, with an id after
//!   every stored one (ids are never reused);
//! - a stored job no longer configured is reported
//!   ([`DeployEventKind::NotConfigured`]), kept in the store, and not offered.
//!   If it is scheduled again later (an initial-deployment machine that
//!   PXE-boots again, with the same MAC), it resumes.
//!
//! A job running or armed at the crash stays so: the agent's next report meets
//! the existing rules for a pre-OS attempt that ended without a report (a
//! `Running` from a session that did not start the job, an `Armed` for a job
//! already armed or running: each counts a failed attempt, see
//! [`arm`](DeploymentServer::arm) and `AgentSession`), and the failed-attempt
//! count is stored, so the retry bound holds across crashes too.

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
use super::store::{JobChange, JobKey, JobStore, JobStoreError, MemoryJobStore, StoredJob};

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
    /// The job could not be recorded in the job store, so it was not
    /// scheduled.
    #[error("the job could not be recorded in the job store, so it was not scheduled: {0}")]
    NotRecorded(String),
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
pub struct DeploymentServer {
    config: DeployConfig,
    computers: Computers,
    images: ImageStore,
    /// Every job, in id order (which is scheduling order).
    jobs: Vec<Job>,
    /// Each job's key in the store.
    keys: BTreeMap<JobId, JobKey>,
    /// How many jobs of each (computer MAC, kind) this run has: the next
    /// ordinal of that pair.
    ordinals: BTreeMap<(Mac, JobKind), u32>,
    /// Where jobs are made durable (see "Durable job state").
    store: Box<dyn JobStore>,
    /// Stored jobs not scheduled (again) in this run, by key.
    unclaimed: BTreeMap<JobKey, StoredJob>,
    /// The id the next new job gets: past every stored one.
    next_id: u32,
    /// Changes held back while the config is loaded (see `load_config`).
    held: Option<Vec<JobChange>>,
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

impl fmt::Debug for DeploymentServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeploymentServer")
            .field("config", &self.config)
            .field("computers", &self.computers)
            .field("jobs", &self.jobs)
            .field("unclaimed", &self.unclaimed.len())
            .finish_non_exhaustive()
    }
}

impl DeploymentServer {
    /// A server with no computers, jobs or images, keeping its jobs in memory
    /// only (a [`MemoryJobStore`]).
    pub fn new(config: DeployConfig) -> Self {
        let trust_uuid = matches!(config.mode, ServerMode::Legacy { trust_uuid: true });
        DeploymentServer {
            config,
            computers: Computers::new(trust_uuid),
            images: ImageStore::new(),
            jobs: Vec::new(),
            keys: BTreeMap::new(),
            ordinals: BTreeMap::new(),
            store: Box::new(MemoryJobStore::new()),
            unclaimed: BTreeMap::new(),
            next_id: 1,
            held: None,
            events: VecDeque::new(),
            share_path: DEFAULT_SHARE_PATH.to_string(),
            share_secrets: BTreeMap::new(),
            post_configs: BTreeMap::new(),
        }
    }

    /// A server whose jobs live in `store`, which may hold jobs from an earlier
    /// run: they are resumed as they are scheduled again (see "Restarts").
    pub fn with_store(
        config: DeployConfig,
        store: Box<dyn JobStore>,
    ) -> Result<Self, JobStoreError> {
        let stored = store.load()?;
        let mut server = DeploymentServer::new(config);
        server.store = store;
        for job in stored {
            server.next_id = server.next_id.max(job.id.0.saturating_add(1));
            if let Some(twin) = server.unclaimed.insert(job.key.clone(), job) {
                // Two stored jobs with one key: the store was not written by
                // this server (it gives each key one job).
                return Err(JobStoreError::Corrupt {
                    id: twin.id.0,
                    why: "another stored job has the same computer, kind and ordinal".into(),
                });
            }
        }
        Ok(server)
    }

    /// The store, handed over (the server is done): a test plays a crash by
    /// building the next server on it.
    pub fn into_store(self) -> Box<dyn JobStore> {
        self.store
    }

    /// Registers computers and schedules the configured jobs: runs `load`,
    /// which does that on this server, with every job change held back, then
    /// commits them to the store as one batch (one fsync for the whole config)
    /// and reports each stored job `load` did not schedule again
    /// ([`DeployEventKind::NotConfigured`]).
    ///
    /// Holding changes back is safe only because no agent is served yet. If
    /// `load` fails nothing is committed; if the batch fails the server is
    /// dropped and the error returned: either way nothing that was not recorded
    /// is ever acted on.
    pub fn load_config<T, E: From<JobStoreError>>(
        mut self,
        now: Instant,
        load: impl FnOnce(&mut Self) -> Result<T, E>,
    ) -> Result<(Self, T), E> {
        self.held = Some(Vec::new());
        let out = load(&mut self)?;
        let held = self.held.take().unwrap_or_default();
        if !held.is_empty() {
            self.store.apply(&held)?;
        }
        let mut left: Vec<StoredJob> = self.unclaimed.values().cloned().collect();
        left.sort_by_key(|j| j.id);
        for job in left {
            self.event(
                now,
                DeployEventKind::NotConfigured {
                    job: job.id,
                    mac: job.key.mac,
                    kind: job.key.kind,
                    state: job.state,
                },
            );
        }
        Ok((self, out))
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
        let index = self.jobs.binary_search_by_key(&id, |j| j.id).ok()?;
        self.jobs.get(index)
    }

    /// Every job scheduled in this run (configured, or resumed from the store),
    /// in id order: the order they were first scheduled in.
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
        let key = self.key_for(computer, &kind);
        // A finished job needs nothing of the computer any more: it resumes
        // even if the computer could not run it now.
        let finished = self
            .unclaimed
            .get(&key)
            .is_some_and(|j| j.state.is_terminal());
        if let (Err(reason), false) = (verdict, finished) {
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
        let recorded = match self.unclaimed.remove(&key) {
            Some(stored) => self.resume(now, computer, key, stored),
            None => self.schedule_new(now, computer, key),
        };
        match recorded {
            Ok(id) => Ok(id),
            Err(e) => {
                let reason = ScheduleRefused::NotRecorded(e.to_string());
                self.event(
                    now,
                    DeployEventKind::Refused {
                        computer,
                        kind,
                        reason: reason.clone(),
                    },
                );
                Err(reason)
            }
        }
    }

    /// A job never scheduled before: the next id, committed before it exists.
    fn schedule_new(
        &mut self,
        now: Instant,
        computer: ComputerId,
        key: JobKey,
    ) -> Result<JobId, JobStoreError> {
        let kind = key.kind.clone();
        let id = JobId(self.next_id);
        let job = Job::new(now, id, computer, kind.clone(), format!("scheduled {kind}"));
        self.persist(vec![job.change(key.clone(), 0)])?;
        self.next_id = self.next_id.saturating_add(1);
        // Ids only grow, so pushing keeps `jobs` in id order.
        self.jobs.push(job);
        self.claim(id, key);
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

    /// The key `kind` for `computer` gets: the next ordinal among the
    /// computer's jobs of that kind in this run. A legacy job for a computer
    /// that does not exist (it will never run) is keyed under the all-zero MAC.
    fn key_for(&self, computer: ComputerId, kind: &JobKind) -> JobKey {
        let mac = self.computers.get(computer).map_or(Mac([0; 6]), |c| c.mac);
        let ordinal = self
            .ordinals
            .get(&(mac, kind.clone()))
            .copied()
            .unwrap_or(0);
        JobKey {
            mac,
            kind: kind.clone(),
            ordinal,
        }
    }

    /// Records that job `id` of this run has `key`.
    fn claim(&mut self, id: JobId, key: JobKey) {
        let next = self
            .ordinals
            .entry((key.mac, key.kind.clone()))
            .or_insert(0);
        *next = (*next).max(key.ordinal.saturating_add(1));
        self.keys.insert(id, key);
    }

    /// Takes `stored` back as `computer`'s job, with its id, state and history.
    fn resume(
        &mut self,
        now: Instant,
        computer: ComputerId,
        key: JobKey,
        stored: StoredJob,
    ) -> Result<JobId, JobStoreError> {
        let id = stored.id;
        let history_from = stored.history.len();
        let mut job = Job::from_stored(stored.clone(), computer);
        if !job.state().is_terminal() {
            job.note(
                now,
                format!(
                    "resumed {} from the job store after a restart of the Deployment Server \
                     (times before this are since the previous start)",
                    job.state()
                ),
            );
            if let Err(e) = self.persist(vec![job.change(key.clone(), history_from)]) {
                self.unclaimed.insert(key, stored);
                return Err(e);
            }
        }
        let state = job.state().clone();
        let failed_attempts = job.failed_attempts();
        let kind = job.kind.clone();
        let at = self.jobs.partition_point(|j| j.id < id);
        self.jobs.insert(at, job);
        self.claim(id, key);
        self.event(
            now,
            DeployEventKind::Resumed {
                job: id,
                computer,
                kind,
                state,
                failed_attempts,
            },
        );
        Ok(id)
    }

    /// Commits `changes` (or holds them back while the config is loaded).
    fn persist(&mut self, changes: Vec<JobChange>) -> Result<(), JobStoreError> {
        match &mut self.held {
            Some(held) => {
                held.extend(changes);
                Ok(())
            }
            None => self.store.apply(&changes),
        }
    }

    /// Runs `change` on the server and commits what it did to `job`. If the
    /// store fails, the job is put back as it was, the events `change` queued
    /// are dropped, and a [`DeployEventKind::NotRecorded`] event and
    /// [`JobError::NotRecorded`] say so. What `change` did before an error of
    /// its own is committed too (memory and store never disagree).
    fn committed<T>(
        &mut self,
        now: Instant,
        job: JobId,
        change: impl FnOnce(&mut Self) -> Result<T, JobError>,
    ) -> Result<T, JobError> {
        let index = self
            .jobs
            .binary_search_by_key(&job, |j| j.id)
            .map_err(|_| JobError::UnknownJob(job))?;
        let before = self.jobs[index].checkpoint();
        let history_from = self.jobs[index].history().len();
        let events = self.events.len();
        let result = change(self);
        let j = &self.jobs[index];
        if j.history().len() == history_from {
            // Nothing changed (a refused report): nothing to commit.
            return result;
        }
        let key = self.keys.get(&job).cloned().unwrap_or_else(|| JobKey {
            mac: Mac([0; 6]),
            kind: j.kind.clone(),
            ordinal: 0,
        });
        let record = j.change(key, history_from);
        match self.persist(vec![record]) {
            Ok(()) => result,
            Err(e) => {
                self.jobs[index].restore(before);
                self.events.truncate(events);
                let state = self.jobs[index].state().name();
                let error = e.to_string();
                self.event(
                    now,
                    DeployEventKind::NotRecorded {
                        job,
                        error: error.clone(),
                    },
                );
                Err(JobError::NotRecorded { job, state, error })
            }
        }
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
        self.committed(now, job, |s| s.arm_uncommitted(now, job))
    }

    fn arm_uncommitted(&mut self, now: Instant, job: JobId) -> Result<JobState, JobError> {
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
        self.committed(now, job, |s| s.start_uncommitted(now, job))
    }

    fn start_uncommitted(&mut self, now: Instant, job: JobId) -> Result<(), JobError> {
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
        self.committed(now, job, |s| s.report_uncommitted(now, job, report))
    }

    fn report_uncommitted(
        &mut self,
        now: Instant,
        job: JobId,
        report: JobReport,
    ) -> Result<JobState, JobError> {
        match report {
            JobReport::Progress { note } => {
                self.running_job_mut(job, "progress comes from a running job; start it first")?
                    .transition(now, JobState::Running, note)?;
                Ok(JobState::Running)
            }
            JobReport::Succeeded { note } => {
                self.job_mut(job)?
                    .transition(now, JobState::Succeeded, note)?;
                self.event(now, DeployEventKind::Succeeded { job });
                Ok(JobState::Succeeded)
            }
            JobReport::Failed { reason } => self.attempt_failed(now, job, reason),
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
        self.committed(now, job, |s| {
            let j = s.running_job_mut(
                job,
                "only a running job's pre-OS step can finish; start it first",
            )?;
            j.transition(now, JobState::Running, note)?;
            j.set_pre_os_done(true);
            Ok(JobState::Running)
        })
    }

    /// An attempt at `job` failed (reported by the agent, or noticed by whoever
    /// drives the server). Reference: after [`DeployConfig::max_attempts`] failed
    /// attempts the job is failed with this reason, before that it is scheduled
    /// again. Legacy: it is always scheduled again (the loop). Returns the job's
    /// state afterwards.
    pub fn fail(&mut self, now: Instant, job: JobId, reason: String) -> Result<JobState, JobError> {
        self.committed(now, job, |s| s.attempt_failed(now, job, reason))
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
        self.jobs
            .binary_search_by_key(&id, |j| j.id)
            .ok()
            .and_then(|i| self.jobs.get_mut(i))
            .ok_or(JobError::UnknownJob(id))
    }

    /// `id`, if it is running; else the refusal saying `why` it must be.
    fn running_job_mut(&mut self, id: JobId, why: &'static str) -> Result<&mut Job, JobError> {
        let j = self.job_mut(id)?;
        if *j.state() != JobState::Running {
            return Err(j.refusal(&JobState::Running, why));
        }
        Ok(j)
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
