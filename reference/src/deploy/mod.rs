//! The Deployment Server's core: which computer is which, what each may run, and
//! the life of every job, with no networking and no clock.
//!
//! The seed story (seeds/000) is a job the machine could never run: a scripted XP
//! install scheduled for a machine whose pre-OS path was a Bootworks partition.
//! AClient set the MBR boot flag, Bootworks failed, Windows came back, AClient set
//! the flag again: "Groundhog Day". This module is where the reference refuses
//! that job when it is scheduled and bounds every job's attempts, and where the
//! legacy mode keeps the loop reproducible (see [`server`]).
//!
//! - [`computer`]: the registry, MAC-keyed; untrusted UUIDs are warnings.
//! - [`credential`]: per-computer agent and image-share secrets.
//! - [`image`]: the image store catalogue (name, size, SHA-256).
//! - [`job`]: job kinds, states, history and the state table.
//! - [`server`]: [`DeploymentServer`], the rules between them.
//! - [`event`]: what the server reports.
//! - [`session`]: one agent connection, the agent conversation over the core.
//! - [`store`]: where job state is made durable (memory, or a redb file).

pub mod computer;
pub mod credential;
pub mod event;
pub mod image;
pub mod job;
pub mod server;
pub mod session;
pub mod store;

pub use computer::{
    Computer, ComputerId, Computers, Identification, IdentityWarning, PreOsPath, SmbiosUuid,
    UnknownComputer, WarningKind,
};
pub use credential::{CREDENTIAL_LEN, Credential, CredentialKind, constant_time_eq};
pub use event::{DeployEvent, DeployEventKind};
pub use image::{Image, ImageExists, ImageStore};
pub use job::{HistoryEntry, Job, JobError, JobId, JobKind, JobState};
pub use server::{
    DEFAULT_SHARE_PATH, DeployConfig, DeploymentServer, InitialDeployment, JobReport,
    ScheduleRefused, ServerMode,
};
pub use session::{
    AgentSession, CloseReason, IDLE_TIMEOUT, ImageSource, MemoryImages, SessionEvent,
    SessionEventKind,
};
pub use store::{
    JobChange, JobKey, JobStore, JobStoreError, MemoryJobStore, RedbJobStore, StoredJob,
};
