//! A scripted fake Deployment Server for the agent tests: it reads what the agent
//! sends (with the real codec) and answers with whatever the test's script says,
//! advancing a virtual clock only when the agent waits.

#![allow(dead_code, unreachable_pub)] // Each test file uses a different part.

use std::time::Duration;

use pxelab_reference::Instant;
use pxelab_reference::Mac;
use pxelab_reference::agent::{
    AgentAction, AgentConfig, AgentEvent, AgentEventKind, AgentMode, BootDisk, MemoryDisk,
};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::agent::{
    AgentMessage, FrameDecoder, ImageRef, JobKind, JobOffer, JobState, JobStatus, PostConfig,
    ShareRef,
};
use sha2::{Digest, Sha256};

pub use pxelab_reference::agent::Agent;

/// What the fake server does in answer to one agent message.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Send this message.
    Msg(AgentMessage),
    /// Send these raw bytes.
    Raw(Vec<u8>),
    /// Close the connection.
    Close,
}

/// How the connection attempt goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectOutcome {
    Accept,
    Fail,
    /// Neither: the agent's connect timeout must end it.
    Hang,
}

/// Everything one boot of an agent did.
#[derive(Debug, Default)]
pub struct Run {
    /// Agent → server messages, in order.
    pub sent: Vec<AgentMessage>,
    /// Every action, in order (`Connect` first).
    pub actions: Vec<AgentAction>,
    pub events: Vec<AgentEvent>,
    /// When the final action came.
    pub ended_at: Option<Instant>,
}

impl Run {
    /// The final action (Close, Exit or Reboot).
    pub fn end(&self) -> AgentAction {
        *self
            .actions
            .last()
            .filter(|a| **a != AgentAction::Connect)
            .expect("the run ended with a final action")
    }

    /// The JobStatus reports, in order.
    pub fn statuses(&self) -> Vec<&JobStatus> {
        self.sent
            .iter()
            .filter_map(|m| match m {
                AgentMessage::JobStatus(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    pub fn statuses_in(&self, state: JobState) -> Vec<&JobStatus> {
        self.statuses()
            .into_iter()
            .filter(|s| s.state == state)
            .collect()
    }

    pub fn last_sent(&self) -> Option<&AgentMessage> {
        self.sent.last()
    }

    pub fn has_event(&self, f: impl Fn(&AgentEventKind) -> bool) -> bool {
        self.events.iter().any(|e| f(&e.kind))
    }
}

fn is_final(a: AgentAction) -> bool {
    matches!(
        a,
        AgentAction::Close | AgentAction::Exit | AgentAction::Reboot
    )
}

/// Boots `agent` at `start` and plays the conversation against `server` until the
/// agent's final action. Time moves only when the agent has nothing to do but
/// wait (to its `poll_timeout`). Panics if the agent neither ends nor asks for a
/// wake-up: that would be an agent waiting forever.
pub fn run<A: Agent>(
    agent: &mut A,
    disk: &mut dyn BootDisk,
    start: Instant,
    connect: ConnectOutcome,
    mut server: impl FnMut(&AgentMessage) -> Vec<Reply>,
) -> Run {
    let mut now = start;
    let mut out = Run::default();
    let mut decoder = FrameDecoder::new(ParseMode::Strict);
    agent.boot(now, disk);
    for _ in 0..100_000 {
        let mut progressed = false;
        while let Some(action) = agent.poll_action() {
            progressed = true;
            out.actions.push(action);
            if action == AgentAction::Connect {
                match connect {
                    ConnectOutcome::Accept => agent.handle_connected(now),
                    ConnectOutcome::Fail => agent.handle_connect_failed(now),
                    ConnectOutcome::Hang => {}
                }
            }
        }
        while let Some(e) = agent.poll_event() {
            out.events.push(e);
        }
        if out.actions.last().is_some_and(|a| is_final(*a)) {
            out.ended_at = Some(now);
            // Whatever was queued before the end still leaves (the final Bye).
            while let Some(bytes) = agent.poll_send() {
                collect(&mut decoder, &bytes, &mut out.sent);
            }
            while let Some(e) = agent.poll_event() {
                out.events.push(e);
            }
            return out;
        }
        while let Some(bytes) = agent.poll_send() {
            progressed = true;
            let mut msgs = Vec::new();
            collect(&mut decoder, &bytes, &mut msgs);
            for msg in msgs {
                out.sent.push(msg.clone());
                for reply in server(&msg) {
                    match reply {
                        Reply::Msg(m) => {
                            let bytes = m.to_bytes().expect("the script sends valid messages");
                            agent.handle_bytes(now, &bytes, disk);
                        }
                        Reply::Raw(bytes) => agent.handle_bytes(now, &bytes, disk),
                        Reply::Close => agent.handle_closed(now),
                    }
                }
            }
        }
        if !progressed {
            let at = agent
                .poll_timeout()
                .expect("an agent that has not finished always has a deadline");
            assert!(at >= now, "deadline in the past");
            now = at;
            agent.handle_timeout(now);
        }
    }
    panic!("the agent did not finish within 100000 steps");
}

fn collect(decoder: &mut FrameDecoder, bytes: &[u8], out: &mut Vec<AgentMessage>) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let taken = decoder.push(rest);
        rest = &rest[taken..];
        while let Some(m) = decoder.next() {
            out.push(m.expect("the agent sends well-formed frames"));
        }
    }
}

pub const MAC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
pub const COMPUTER_ID: u64 = 3;
pub const JOB: u64 = 7;

pub fn config(mode: AgentMode) -> AgentConfig {
    AgentConfig {
        mac: MAC,
        uuid: Some([0x11; 16]),
        computer_name: "LAB-PC-07".to_string(),
        credential: b"agent-secret".to_vec(),
        mode,
    }
}

pub const REFERENCE: AgentMode = AgentMode::Reference { max_attempts: 3 };

/// A lab disk: 16-sector (8 KiB) OS partition, 8-sector Bootworks partition.
pub fn lab_disk() -> MemoryDisk {
    MemoryDisk::with_layout(16, Some(8)).expect("small layout")
}

/// Deterministic image bytes.
pub fn image_bytes(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
        .collect()
}

pub fn image_ref(name: &str, bytes: &[u8]) -> ImageRef {
    ImageRef {
        name: name.to_string(),
        size: bytes.len() as u64,
        sha256: Sha256::digest(bytes).into(),
    }
}

pub fn share() -> ShareRef {
    ShareRef {
        path: r"\\ds61\express".to_string(),
        user: "LAB-PC-07".to_string(),
        secret: b"share-secret".to_vec(),
    }
}

pub fn post_config() -> PostConfig {
    PostConfig {
        name: "LAB-PC-07".to_string(),
        address: None,
    }
}

pub fn offer(kind: JobKind, image: Option<ImageRef>, share: Option<ShareRef>) -> JobOffer {
    JobOffer {
        job_id: JOB,
        kind,
        image,
        share,
        post_config: Some(post_config()),
        script: None,
    }
}

/// Welcome on Hello, `answer` on CheckIn, nothing else (the rest is up to
/// `other`).
pub fn session(
    answer: AgentMessage,
    mut other: impl FnMut(&AgentMessage) -> Vec<Reply>,
) -> impl FnMut(&AgentMessage) -> Vec<Reply> {
    move |m| match m {
        AgentMessage::Hello(_) => vec![Reply::Msg(AgentMessage::Welcome(
            pxelab_reference::wire::agent::Welcome {
                computer_id: COMPUTER_ID,
            },
        ))],
        AgentMessage::CheckIn(_) => vec![Reply::Msg(answer.clone())],
        other_msg => other(other_msg),
    }
}

/// No answer to anything but Hello and CheckIn; closes on Bye.
pub fn quiet(m: &AgentMessage) -> Vec<Reply> {
    match m {
        AgentMessage::Bye => vec![Reply::Close],
        _ => vec![],
    }
}

pub const TEN_S: Duration = Duration::from_secs(10);
pub const THIRTY_S: Duration = Duration::from_secs(30);
