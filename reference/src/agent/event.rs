//! What the agents report: one event per thing that happened, one report line each.

use std::fmt;

use crate::Instant;
use crate::wire::agent::{JobKind, JobState, PostConfig, RefuseReason};

use super::AgentAction;

/// One thing an agent did or saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEvent {
    /// When.
    pub at: Instant,
    /// What.
    pub kind: AgentEventKind,
}

/// What kind of thing an [`AgentEvent`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentEventKind {
    /// The agent asked to connect to the Deployment Server.
    Connecting,
    /// The TCP connection could not be opened (or not within the connect timeout).
    ConnectFailed,
    /// The server accepted the Hello.
    Welcomed {
        /// The server's id for this computer.
        computer_id: u64,
    },
    /// The server refused the Hello.
    Refused {
        /// Why.
        reason: RefuseReason,
        /// The server's text.
        text: String,
    },
    /// The server has no job for this computer.
    NoJob,
    /// The server offered a job.
    JobOffered {
        /// The job.
        job_id: u64,
        /// What it does.
        kind: JobKind,
    },
    /// The agent sent a status report.
    Reported {
        /// The job.
        job_id: u64,
        /// The reported state.
        state: JobState,
        /// The report's detail text.
        detail: String,
    },
    /// AClient armed the boot flag for the next boot.
    FlagArmed {
        /// The job it was armed for.
        job_id: u64,
        /// The attempt count written with it.
        attempts: u8,
    },
    /// The boot flag was cleared.
    FlagCleared,
    /// AClient applied a job's post-configuration to the OS.
    PostConfigApplied(PostConfig),
    /// A received image chunk failed its CRC-32 and was requested again.
    ChunkDamaged {
        /// Its offset in the image.
        offset: u64,
        /// How many times this chunk has arrived damaged.
        times: u8,
    },
    /// The whole image is on disk and its SHA-256 matches.
    Imaged {
        /// Bytes written.
        bytes: u64,
    },
    /// Bootworks printed a line on its screen.
    Printed(String),
    /// The server reported an error.
    ServerError(String),
    /// A message could not be read or was not expected now.
    ProtocolError(String),
    /// A disk operation failed.
    DiskFailed(String),
    /// An answer did not come in time.
    TimedOut {
        /// What the agent was waiting for.
        waiting_for: &'static str,
    },
    /// The server closed the connection.
    ConnectionClosed,
    /// The agent finished its run with this action.
    Finished(AgentAction),
}

fn state_name(state: JobState) -> &'static str {
    match state {
        JobState::Armed => "armed",
        JobState::Running => "running",
        JobState::Succeeded => "succeeded",
        JobState::Failed => "failed",
        JobState::PreOsDone => "pre-OS done",
    }
}

fn kind_name(kind: JobKind) -> &'static str {
    match kind {
        JobKind::DeployImage => "deploy-image",
        JobKind::CaptureImage => "capture-image",
        JobKind::ScriptedInstall => "scripted-install",
        JobKind::RunScript => "run-script",
        JobKind::BootToProduction => "boot-to-production",
    }
}

impl fmt::Display for AgentEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use AgentEventKind::*;
        match self {
            Connecting => f.write_str("connecting to the deployment server"),
            ConnectFailed => f.write_str("could not open the TCP connection"),
            Welcomed { computer_id } => write!(f, "welcomed as computer {computer_id}"),
            Refused { reason, text } => write!(f, "refused ({reason}): {text}"),
            NoJob => f.write_str("no job"),
            JobOffered { job_id, kind } => write!(f, "offered job {job_id} ({})", kind_name(*kind)),
            Reported {
                job_id,
                state,
                detail,
            } => write!(f, "reported job {job_id} {}: {detail}", state_name(*state)),
            FlagArmed { job_id, attempts } => {
                write!(f, "boot flag armed for job {job_id} (attempt {attempts})")
            }
            FlagCleared => f.write_str("boot flag cleared"),
            PostConfigApplied(p) => match p.address {
                Some(a) => write!(
                    f,
                    "post-configuration applied: name {}, address {a}",
                    p.name
                ),
                None => write!(f, "post-configuration applied: name {}", p.name),
            },
            ChunkDamaged { offset, times } => {
                write!(
                    f,
                    "image chunk at offset {offset} damaged ({times}x), requested again"
                )
            }
            Imaged { bytes } => write!(f, "imaged {bytes} bytes, SHA-256 verified"),
            Printed(line) => write!(f, "screen: {line}"),
            ServerError(text) => write!(f, "server error: {text}"),
            ProtocolError(text) => write!(f, "protocol error: {text}"),
            DiskFailed(text) => write!(f, "disk error: {text}"),
            TimedOut { waiting_for } => write!(f, "timed out waiting for {waiting_for}"),
            ConnectionClosed => f.write_str("the server closed the connection"),
            Finished(action) => write!(f, "finished: {}", action_name(*action)),
        }
    }
}

fn action_name(action: AgentAction) -> &'static str {
    match action {
        AgentAction::Connect => "connect",
        AgentAction::Close => "close",
        AgentAction::Reboot => "reboot",
        AgentAction::Exit => "exit",
    }
}

impl fmt::Display for AgentEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.at, self.kind)
    }
}
