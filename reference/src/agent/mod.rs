//! The two agents of the deployment plane, as sans-IO stream machines: AClient in
//! the installed OS and Bootworks before it (issue 5, `/work/agent-conversation.md`).
//!
//! Neither agent touches a socket, a clock or a disk of its own. The host (the
//! tokio driver, the simulator's machine model, a test) carries the
//! [`AgentAction`]s out, feeds received bytes with `handle_bytes`, sends what
//! `poll_send` returns and calls `handle_timeout` at `poll_timeout`. The disk is a
//! [`BootDisk`] passed into each call that may touch it.
//!
//! Every wait is bounded ([`CONNECT_TIMEOUT`], [`REPLY_TIMEOUT`]) and every run
//! ends with exactly one of [`AgentAction::Close`], [`AgentAction::Exit`] or
//! [`AgentAction::Reboot`]: no reference agent can wait or loop forever. The loop
//! of the seed story lives in [`AgentMode::Legacy`], on purpose.
//!
//! - [`disk`]: what the agents need from the disk, and [`MemoryDisk`].
//! - [`aclient`]: [`AClient`], which arms the MBR boot flag and finishes jobs.
//! - [`bootworks`]: [`Bootworks`], which runs pre-OS jobs (imaging).

pub mod aclient;
pub mod bootworks;
pub mod disk;
mod event;
mod link;

use std::time::Duration;

pub use aclient::AClient;
pub use bootworks::{Bootworks, Delivery, ImageTransport, ImageWanted, PROGRESS_INTERVAL};
pub use disk::{BootDisk, DiskError, MemoryDisk};
pub use event::{AgentEvent, AgentEventKind};

use crate::{Instant, Mac};

/// How long an agent waits for its TCP connection to the Deployment Server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an agent waits for the server's answer to any message.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// What an agent asks its host to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentAction {
    /// Open the TCP connection to the Deployment Server, then call
    /// `handle_connected` (or `handle_connect_failed`).
    Connect,
    /// Close the connection; the agent is done until the next boot.
    Close,
    /// Close the connection and restart the machine.
    Reboot,
    /// Close the connection and leave the pre-OS environment: the machine goes on
    /// to its next boot device (usually the installed OS).
    Exit,
}

/// Which Deployment Solution the agent behaves like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentMode {
    /// The careful agents: AClient gives up a job after `max_attempts` pre-boot
    /// attempts (clearing the flag and reporting it), Bootworks reports every
    /// outcome before it leaves.
    Reference {
        /// Pre-OS attempts AClient allows one job (issue 5: "after N failed
        /// attempts it clears the flag and reports the failure").
        max_attempts: u8,
    },
    /// Deployment Server 6.x as the seed tells it: AClient re-arms the flag on
    /// every boot with no bound, Bootworks exits on an error without a word.
    Legacy,
}

impl AgentMode {
    /// Whether this is [`AgentMode::Legacy`].
    pub fn is_legacy(&self) -> bool {
        matches!(self, AgentMode::Legacy)
    }
}

/// Who the agent says it is in its `Hello`, and how it behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// The NIC the machine booted from (the server's key for the computer).
    pub mac: Mac,
    /// SMBIOS UUID, when the firmware has one.
    pub uuid: Option<[u8; 16]>,
    /// The computer's name as the agent knows it.
    pub computer_name: String,
    /// The per-computer agent credential.
    pub credential: Vec<u8>,
    /// Reference or legacy behaviour.
    pub mode: AgentMode,
}

impl AgentConfig {
    /// The `Hello` an agent of `kind` opens every connection with.
    pub fn hello(&self, kind: crate::wire::agent::AgentKind) -> crate::wire::agent::Hello {
        crate::wire::agent::Hello {
            agent: kind,
            version: crate::wire::agent::VERSION,
            mac: self.mac,
            uuid: self.uuid,
            computer_name: self.computer_name.clone(),
            credential: self.credential.clone(),
        }
    }
}

/// An agent as its host sees it: AClient and Bootworks have the same stream
/// surface, so one host (the tokio driver's `run_agent`, the simulator, a
/// test's scripted server) drives both.
pub trait Agent {
    /// The machine booted into this agent.
    fn boot(&mut self, now: Instant, disk: &mut dyn BootDisk);
    /// The connection opened.
    fn handle_connected(&mut self, now: Instant);
    /// The connection could not be opened.
    fn handle_connect_failed(&mut self, now: Instant);
    /// Bytes from the server.
    fn handle_bytes(&mut self, now: Instant, bytes: &[u8], disk: &mut dyn BootDisk);
    /// The server closed the connection.
    fn handle_closed(&mut self, now: Instant);
    /// Time passed.
    fn handle_timeout(&mut self, now: Instant);
    /// The next frame to send.
    fn poll_send(&mut self) -> Option<Vec<u8>>;
    /// The next thing to do.
    fn poll_action(&mut self) -> Option<AgentAction>;
    /// The next event.
    fn poll_event(&mut self) -> Option<AgentEvent>;
    /// When to call `handle_timeout`.
    fn poll_timeout(&self) -> Option<Instant>;
}

macro_rules! impl_agent {
    ($t:ty) => {
        impl Agent for $t {
            fn boot(&mut self, now: Instant, disk: &mut dyn BootDisk) {
                <$t>::boot(self, now, disk)
            }
            fn handle_connected(&mut self, now: Instant) {
                <$t>::handle_connected(self, now)
            }
            fn handle_connect_failed(&mut self, now: Instant) {
                <$t>::handle_connect_failed(self, now)
            }
            fn handle_bytes(&mut self, now: Instant, bytes: &[u8], disk: &mut dyn BootDisk) {
                <$t>::handle_bytes(self, now, bytes, disk)
            }
            fn handle_closed(&mut self, now: Instant) {
                <$t>::handle_closed(self, now)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$t>::handle_timeout(self, now)
            }
            fn poll_send(&mut self) -> Option<Vec<u8>> {
                <$t>::poll_send(self)
            }
            fn poll_action(&mut self) -> Option<AgentAction> {
                <$t>::poll_action(self)
            }
            fn poll_event(&mut self) -> Option<AgentEvent> {
                <$t>::poll_event(self)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$t>::poll_timeout(self)
            }
        }
    };
}

impl_agent!(AClient);
impl_agent!(Bootworks);
