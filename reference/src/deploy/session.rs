//! One agent connection, server side: the agent conversation of issue 5 as a
//! sans-IO stream machine over the [`DeploymentServer`] core.
//!
//! The driver owns the TCP socket; [`AgentSession`] only sees bytes and time:
//!
//! ```text
//! handle_bytes(now, bytes, server, images) -> taken   bytes from the agent
//! handle_closed(now)                                   the agent closed or reset
//! handle_timeout(now)                                  time passed
//! poll_send() -> Vec<u8>                               bytes for the agent
//! poll_timeout() -> Instant                            next wake-up
//! poll_event() -> SessionEvent                         what happened (log lines)
//! is_closed()                                          drain poll_send, then close
//! ```
//!
//! # The conversation
//!
//! 1. `Hello`: the machine is matched by MAC ([`DeploymentServer::identify`]) and
//!    its agent credential checked; `Welcome`, or `Refused` and close. A
//!    Bootworks `Hello` from an unknown machine, when the server has an
//!    initial-deployment job configured, is a machine that PXE-booted into the
//!    initial-deployment path: it is registered
//!    ([`DeploymentServer::pxe_boot_unknown`]) and welcomed without a credential
//!    (it has none yet; it was never provisioned).
//! 2. `CheckIn`: `NoJob`, or a `JobOffer` built from the computer's next job.
//! 3. `JobStatus`: `Armed` → [`arm`](DeploymentServer::arm), `Running` →
//!    [`start`](DeploymentServer::start) the first time in the session and a
//!    progress note after (see `AgentSession::running` for PXE-delivered
//!    Bootworks and jobs a lost session left running), `Succeeded`/`Failed` →
//!    [`report_status`](DeploymentServer::report_status). An `Armed` or
//!    `Running` report that ends in the job failing for good (the retry bound)
//!    is answered with an `Error` telling the agent the job will not run again.
//!    A report the job's state table does not allow is answered with
//!    `Error{UnexpectedMessage}` and changes nothing; a job that is not this
//!    computer's with `Error{UnknownJob}`.
//! 4. `ImageRequest`: an `ImageChunk` read from the [`ImageSource`].
//! 5. `Bye`: the session closes.
//!
//! A status report is durable before anything follows it: the core commits
//! each job change to its job store before the call returns, so before this
//! session logs the report, answers it, or reads the agent's next message (see
//! [`DeploymentServer`], "Durable job state"). A report the store could not
//! record is answered with `Error{Internal}` and changes nothing.
//!
//! Anything but `Hello` (or `Bye`) before `Welcome` is answered with
//! `Error{UnexpectedMessage}` and the session closes: an agent that does not
//! introduce itself gets nothing from the server.
//!
//! # Bounds
//!
//! Nothing an agent sends can make the session hold more than one frame of input
//! or about two frames of output, nor keep it open forever:
//!
//! - bytes are handed to the [`FrameDecoder`] one frame at a time, and
//!   [`handle_bytes`](AgentSession::handle_bytes) stops taking bytes (returns how
//!   many it took) while [`MAX_FRAME_LEN`] bytes of answers wait in
//!   [`poll_send`](AgentSession::poll_send): an agent pipelining image requests
//!   without reading the chunks is slowed to the pace it reads at, instead of
//!   making the server queue gigabytes;
//! - the idle timer ([`IDLE_TIMEOUT`]) restarts on each complete frame only, so an
//!   agent that goes silent, or trickles a frame byte by byte, is closed;
//! - a framing error ([`AgentError::is_fatal`]) closes the session: TCP gives no
//!   way to find the next frame (see [`crate::wire::agent`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::SocketAddrV4;
use std::time::Duration;

use crate::Instant;
use crate::wire::agent::{
    self as wire, AgentError, AgentKind, AgentMessage, ErrorCode, ErrorReport, FrameDecoder,
    FrameHeader, HEADER_LEN, Hello, ImageChunk, ImageRef, ImageRequest, JobOffer, JobStatus,
    MAX_CHUNK_LEN, MAX_FRAME_LEN, RefuseReason, Refused, ShareRef, Welcome,
};

use super::computer::{ComputerId, SmbiosUuid};
use super::credential::{CREDENTIAL_LEN, Credential, CredentialKind};
use super::job::{Job, JobError, JobId, JobKind, JobState};
use super::server::{DeploymentServer, JobReport};

/// How long a session waits for the agent's next complete frame before it
/// closes. The agents' own reply timeout is 30 s (agent-conversation.md), so a
/// live agent always speaks well within it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Bytes of answers the session lets wait in [`AgentSession::poll_send`] before it
/// stops taking more input: one full frame (an image chunk).
const OUTBOX_LIMIT: usize = MAX_FRAME_LEN;

/// Where the Deployment Server reads image bytes from (the image share's
/// files, or the simulator's synthetic images).
pub trait ImageSource {
    /// Copies bytes of `image` from `offset` into `buf` and returns how many it
    /// copied: fewer than `buf.len()` only at the end of the image, 0 for an
    /// offset at or past the end or an image it does not have.
    fn read(&self, image: &str, offset: u64, buf: &mut [u8]) -> usize;
}

/// Images held in memory, by name (tests and small scenarios).
#[derive(Debug, Clone, Default)]
pub struct MemoryImages {
    images: BTreeMap<String, Vec<u8>>,
}

impl MemoryImages {
    /// No images.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) image `name`.
    pub fn insert(&mut self, name: impl Into<String>, data: Vec<u8>) {
        self.images.insert(name.into(), data);
    }

    /// The bytes of image `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.images.get(name).map(Vec::as_slice)
    }
}

impl ImageSource for MemoryImages {
    fn read(&self, image: &str, offset: u64, buf: &mut [u8]) -> usize {
        let Some(data) = self.images.get(image) else {
            return 0;
        };
        let Some(rest) = usize::try_from(offset).ok().and_then(|o| data.get(o..)) else {
            return 0;
        };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        n
    }
}

/// Why a session closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The agent said `Bye`.
    Bye,
    /// The agent was refused (`Refused` sent).
    Refused(RefuseReason),
    /// The agent sent something other than `Hello` first.
    NoHello,
    /// The byte stream broke (bad magic, unknown version, oversized frame).
    Framing(AgentError),
    /// No complete frame for the idle timeout.
    IdleTimeout,
    /// The agent closed the connection (or it was reset).
    PeerClosed,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Bye => f.write_str("agent said bye"),
            CloseReason::Refused(r) => write!(f, "refused: {r}"),
            CloseReason::NoHello => f.write_str("agent did not start with Hello"),
            CloseReason::Framing(e) => write!(f, "framing error: {e}"),
            CloseReason::IdleTimeout => f.write_str("idle timeout"),
            CloseReason::PeerClosed => f.write_str("agent closed the connection"),
        }
    }
}

/// One thing a session did, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvent {
    /// When.
    pub at: Instant,
    /// The agent's address.
    pub peer: SocketAddrV4,
    /// What.
    pub kind: SessionEventKind,
}

/// What kind of thing a session did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEventKind {
    /// The agent was welcomed as `computer`.
    Welcomed {
        /// Which agent.
        agent: AgentKind,
        /// Its computer.
        computer: ComputerId,
        /// Whether the initial-deployment path registered it just now.
        registered: bool,
    },
    /// The agent was refused.
    Refused {
        /// Why.
        reason: RefuseReason,
        /// The text sent.
        text: String,
    },
    /// A check-in found no job.
    NoJob {
        /// The computer.
        computer: ComputerId,
    },
    /// A check-in was offered a job.
    Offered {
        /// The job.
        job: JobId,
    },
    /// A status report was applied; the job is now in `state`.
    Status {
        /// The job.
        job: JobId,
        /// What the agent reported.
        reported: wire::JobState,
        /// The job's state afterwards.
        state: JobState,
    },
    /// The session answered with an `Error`.
    ErrorSent {
        /// The code sent.
        code: ErrorCode,
        /// The text sent.
        text: String,
    },
    /// The agent sent an `Error`.
    AgentError {
        /// Its code.
        code: ErrorCode,
        /// Its text.
        text: String,
    },
    /// The session closed.
    Closed(CloseReason),
}

impl fmt::Display for SessionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} agent {}: ", self.at, self.peer)?;
        match &self.kind {
            SessionEventKind::Welcomed {
                agent,
                computer,
                registered,
            } => {
                write!(f, "welcomed {agent:?} of {computer}")?;
                if *registered {
                    f.write_str(" (registered by initial deployment)")?;
                }
                Ok(())
            }
            SessionEventKind::Refused { reason, text } => write!(f, "refused ({reason}): {text}"),
            SessionEventKind::NoJob { computer } => write!(f, "no job for {computer}"),
            SessionEventKind::Offered { job } => write!(f, "offered {job}"),
            SessionEventKind::Status {
                job,
                reported,
                state,
            } => write!(f, "{job} reported {reported:?}, now {state}"),
            SessionEventKind::ErrorSent { code, text } => write!(f, "error {code:?} sent: {text}"),
            SessionEventKind::AgentError { code, text } => {
                write!(f, "agent reported error {code:?}: {text}")
            }
            SessionEventKind::Closed(reason) => write!(f, "closed: {reason}"),
        }
    }
}

/// Where the session is in the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for `Hello`.
    AwaitHello,
    /// Welcomed as this computer.
    Welcomed(ComputerId),
    /// Done; nothing more is read.
    Closed,
}

/// Where the input stands relative to frame boundaries, so that the decoder is
/// given one frame at a time (and never holds a second one the session might not
/// be ready to answer).
#[derive(Debug, Clone, Default)]
struct FrameCursor {
    header: [u8; HEADER_LEN],
    /// Header bytes seen of the current frame.
    have: usize,
    /// Body bytes still to come, once the header is complete.
    body_left: usize,
}

impl FrameCursor {
    /// How many of `avail` bytes belong to the current frame.
    fn wants(&self, avail: usize) -> usize {
        if self.have < HEADER_LEN {
            avail.min(HEADER_LEN - self.have)
        } else {
            avail.min(self.body_left)
        }
    }

    /// Records `bytes` handed to the decoder; returns whether the frame is now
    /// complete.
    fn advance(&mut self, bytes: &[u8]) -> bool {
        if self.have < HEADER_LEN {
            let n = bytes.len().min(HEADER_LEN - self.have);
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            if self.have == HEADER_LEN {
                // A bad header is reported by the decoder itself; here it only
                // means "no body to wait for".
                self.body_left = match FrameHeader::parse(&self.header) {
                    Ok(Some(h)) => h.body_len,
                    _ => 0,
                };
            }
        } else {
            self.body_left -= bytes.len().min(self.body_left);
        }
        let done = self.have == HEADER_LEN && self.body_left == 0;
        if done {
            *self = FrameCursor::default();
        }
        done
    }
}

/// The server side of one agent connection.
#[derive(Debug, Clone)]
pub struct AgentSession {
    peer: SocketAddrV4,
    phase: Phase,
    agent: Option<AgentKind>,
    decoder: FrameDecoder,
    cursor: FrameCursor,
    outbox: VecDeque<Vec<u8>>,
    outbox_bytes: usize,
    events: VecDeque<SessionEvent>,
    last_frame: Instant,
    idle_timeout: Duration,
    /// Jobs this session started (a later `Running` is progress).
    started: BTreeSet<JobId>,
}

impl AgentSession {
    /// A session for a connection `peer` opened at `now`.
    pub fn new(now: Instant, peer: SocketAddrV4) -> Self {
        AgentSession {
            peer,
            phase: Phase::AwaitHello,
            agent: None,
            decoder: FrameDecoder::default(),
            cursor: FrameCursor::default(),
            outbox: VecDeque::new(),
            outbox_bytes: 0,
            events: VecDeque::new(),
            last_frame: now,
            idle_timeout: IDLE_TIMEOUT,
            started: BTreeSet::new(),
        }
    }

    /// The same session with another idle timeout (default [`IDLE_TIMEOUT`]).
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The agent's address.
    pub fn peer(&self) -> SocketAddrV4 {
        self.peer
    }

    /// The computer the agent was welcomed as, once it was.
    pub fn computer(&self) -> Option<ComputerId> {
        match self.phase {
            Phase::Welcomed(c) => Some(c),
            _ => None,
        }
    }

    /// Which agent this is, once it said `Hello`.
    pub fn agent(&self) -> Option<AgentKind> {
        self.agent
    }

    /// Whether the session is over: drain [`poll_send`](Self::poll_send) (a
    /// `Refused` or `Error` may be waiting), then close the connection.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Input bytes held in the decoder: at most one frame ([`MAX_FRAME_LEN`]).
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// Bytes of answers waiting in [`poll_send`](Self::poll_send).
    pub fn pending_send(&self) -> usize {
        self.outbox_bytes
    }

    /// Feeds bytes received from the agent and returns how many were taken.
    ///
    /// Fewer than `bytes.len()` are taken only while answers wait in
    /// [`poll_send`](Self::poll_send) (see the module docs, "Bounds"): drain it,
    /// then call again with the rest. With `poll_send` drained, at least one byte
    /// is always taken. A closed session takes (and drops) everything.
    ///
    /// ```text
    /// let mut rest = &bytes_from_socket[..];
    /// loop {
    ///     let taken = session.handle_bytes(now, rest, &mut server, &images);
    ///     rest = &rest[taken..];
    ///     while let Some(frame) = session.poll_send() { socket.write_all(&frame).await?; }
    ///     if rest.is_empty() { break; }
    /// }
    /// if session.is_closed() { close the socket }
    /// ```
    #[must_use = "bytes past the returned count were not taken: drain poll_send() and feed them again"]
    pub fn handle_bytes(
        &mut self,
        now: Instant,
        bytes: &[u8],
        server: &mut DeploymentServer,
        images: &dyn ImageSource,
    ) -> usize {
        let mut taken = 0;
        while taken < bytes.len() {
            if self.phase == Phase::Closed {
                return bytes.len();
            }
            if self.outbox_bytes >= OUTBOX_LIMIT {
                break;
            }
            let rest = &bytes[taken..];
            let want = self.cursor.wants(rest.len());
            let n = self.decoder.push(&rest[..want]);
            taken += n;
            let complete = self.cursor.advance(&rest[..n]);
            // A bad magic or version is reported by the decoder before the header
            // is complete; a finished frame is always there to be read.
            while let Some(next) = self.decoder.next() {
                self.on_frame(now, next, server, images);
                if self.phase == Phase::Closed {
                    return bytes.len();
                }
            }
            if complete {
                self.last_frame = now;
            }
            if n == 0 {
                // Cannot happen (the decoder holds at most the current frame),
                // but never spin on it.
                break;
            }
        }
        taken
    }

    /// The agent closed its side (or the connection was reset).
    pub fn handle_closed(&mut self, now: Instant) {
        self.close(now, CloseReason::PeerClosed);
    }

    /// Time passed: closes the session when no complete frame came for the idle
    /// timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase != Phase::Closed && now >= self.last_frame + self.idle_timeout {
            self.close(now, CloseReason::IdleTimeout);
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout); `None` once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.phase != Phase::Closed).then(|| self.last_frame + self.idle_timeout)
    }

    /// The next frame to write to the agent.
    pub fn poll_send(&mut self) -> Option<Vec<u8>> {
        let frame = self.outbox.pop_front()?;
        self.outbox_bytes -= frame.len();
        Some(frame)
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    fn on_frame(
        &mut self,
        now: Instant,
        frame: Result<AgentMessage, AgentError>,
        server: &mut DeploymentServer,
        images: &dyn ImageSource,
    ) {
        let msg = match frame {
            Ok(msg) => msg,
            Err(e) if e.is_fatal() => {
                self.send_error(now, ErrorCode::Malformed, e.to_string());
                self.close(now, CloseReason::Framing(e));
                return;
            }
            Err(e) => {
                let text = format!("malformed message skipped: {e}");
                self.send_error(now, ErrorCode::Malformed, text);
                if self.phase == Phase::AwaitHello {
                    self.close(now, CloseReason::NoHello);
                }
                return;
            }
        };
        match (self.phase, msg) {
            (Phase::Closed, _) => {}
            (_, AgentMessage::Bye) => self.close(now, CloseReason::Bye),
            (_, AgentMessage::Error(e)) if self.phase != Phase::AwaitHello => {
                self.event(
                    now,
                    SessionEventKind::AgentError {
                        code: e.code,
                        text: e.text,
                    },
                );
            }
            (Phase::AwaitHello, AgentMessage::Hello(h)) => self.on_hello(now, h, server),
            (Phase::AwaitHello, other) => {
                let text = format!(
                    "{} before Hello: an agent introduces itself with Hello first",
                    other.name()
                );
                self.send_error(now, ErrorCode::UnexpectedMessage, text);
                self.close(now, CloseReason::NoHello);
            }
            (Phase::Welcomed(c), AgentMessage::Hello(_)) => {
                let text = format!("Hello again: this session is already welcomed as {c}");
                self.send_error(now, ErrorCode::UnexpectedMessage, text);
            }
            (Phase::Welcomed(c), AgentMessage::CheckIn(m)) => {
                if m.computer_id == u64::from(c.0) {
                    self.offer(now, c, server);
                } else {
                    let text = format!(
                        "CheckIn for computer {} on a session welcomed as {c}: check in with the id from Welcome",
                        m.computer_id
                    );
                    self.send_error(now, ErrorCode::UnexpectedMessage, text);
                }
            }
            (Phase::Welcomed(c), AgentMessage::JobStatus(s)) => self.on_status(now, c, s, server),
            (Phase::Welcomed(c), AgentMessage::ImageRequest(r)) => {
                self.on_image_request(now, c, r, server, images);
            }
            (Phase::Welcomed(_), other) => {
                let text = format!("{} is sent by the server, not by an agent", other.name());
                self.send_error(now, ErrorCode::UnexpectedMessage, text);
            }
        }
    }

    fn on_hello(&mut self, now: Instant, h: Hello, server: &mut DeploymentServer) {
        self.agent = Some(h.agent);
        if h.version < 1 {
            let text = format!(
                "agent protocol version {} is not supported: this server speaks version {}",
                h.version,
                wire::VERSION
            );
            return self.refuse(now, RefuseReason::VersionUnsupported, text);
        }
        let uuid = h.uuid.map(SmbiosUuid);
        let known = server.identify(now, h.mac, uuid).computer;
        let (computer, registered) = match known {
            Some(c) => (c, false),
            None if h.agent == AgentKind::Bootworks
                && server.config().initial_deployment.is_some() =>
            {
                // Bootworks on an unknown machine came from PXE (a partition is
                // installed by the server, on known machines only): the
                // initial-deployment path.
                let init = server.pxe_boot_unknown(now, h.mac, uuid);
                if init.registered
                    && let Ok(bytes) = <[u8; CREDENTIAL_LEN]>::try_from(h.credential.as_slice())
                {
                    // Trust on first use: the credential this never-provisioned
                    // machine presents is the one its agents must present from
                    // now on (its AClient, once the image is on the disk).
                    let _ = server.set_credential(
                        init.computer,
                        CredentialKind::Agent,
                        Credential::from_bytes(bytes),
                    );
                }
                (init.computer, init.registered)
            }
            None => {
                let text = format!(
                    "no computer with MAC {} is registered (and no initial-deployment job is \
                     configured for unknown machines): register it on the Deployment Server",
                    h.mac
                );
                return self.refuse(now, RefuseReason::UnknownComputer, text);
            }
        };
        // A machine registered just now has no credential yet: the
        // initial-deployment path is how it gets to the server at all.
        // Deployment Server 6.x's agents did not authenticate at all: the
        // legacy server takes whoever says Hello, which is how a machine that
        // a duplicate UUID matched to another computer got that computer's
        // jobs.
        let legacy = server.config().mode.is_legacy();
        if !registered
            && !legacy
            && !server.verify_credential(computer, CredentialKind::Agent, &h.credential)
        {
            let name = server
                .computers()
                .get(computer)
                .map_or_else(|| computer.to_string(), |c| c.name.clone());
            let text = format!(
                "the agent credential presented for {name} is not the one the server holds \
                 (or none is provisioned): reprovision the agent"
            );
            return self.refuse(now, RefuseReason::BadCredential, text);
        }
        self.phase = Phase::Welcomed(computer);
        self.send(
            now,
            AgentMessage::Welcome(Welcome {
                computer_id: u64::from(computer.0),
            }),
        );
        self.event(
            now,
            SessionEventKind::Welcomed {
                agent: h.agent,
                computer,
                registered,
            },
        );
    }

    fn refuse(&mut self, now: Instant, reason: RefuseReason, mut text: String) {
        truncate_utf8(&mut text, usize::from(u16::MAX));
        self.send(
            now,
            AgentMessage::Refused(Refused {
                reason,
                text: text.clone(),
            }),
        );
        self.event(now, SessionEventKind::Refused { reason, text });
        self.close(now, CloseReason::Refused(reason));
    }

    fn offer(&mut self, now: Instant, computer: ComputerId, server: &DeploymentServer) {
        let next = server.next_job_for(computer);
        // Bootworks' part of the job is done; AClient in the OS finishes it.
        let next = next.filter(|j| !(self.agent == Some(AgentKind::Bootworks) && j.pre_os_done()));
        let Some(job) = next else {
            self.send(now, AgentMessage::NoJob);
            self.event(now, SessionEventKind::NoJob { computer });
            return;
        };
        let offer = job_offer(server, job);
        let id = job.id;
        match AgentMessage::JobOffer(offer).to_bytes() {
            Ok(frame) => {
                self.push_frame(frame);
                self.event(now, SessionEventKind::Offered { job: id });
            }
            Err(e) => {
                let text = format!("{id} cannot be offered: {e}; fix the job on the server");
                self.send_error(now, ErrorCode::Internal, text);
            }
        }
    }

    fn on_status(
        &mut self,
        now: Instant,
        computer: ComputerId,
        s: JobStatus,
        server: &mut DeploymentServer,
    ) {
        let job = match own_job(computer, s.job_id, server) {
            Ok(job) => job.id,
            Err(text) => return self.send_error(now, ErrorCode::UnknownJob, text),
        };
        let result = match s.state {
            wire::JobState::Armed => server.arm(now, job),
            wire::JobState::Running => self.running(now, job, &s, server),
            wire::JobState::PreOsDone => {
                let note = match (s.detail.is_empty(), s.progress_bytes) {
                    (true, _) => "pre-OS step done".to_string(),
                    (false, 0) => format!("pre-OS step done: {}", s.detail),
                    (false, bytes) => format!("pre-OS step done: {} ({bytes} bytes)", s.detail),
                };
                server.pre_os_done(now, job, note)
            }
            wire::JobState::Succeeded => {
                let note = if s.detail.is_empty() {
                    "agent reported success".to_string()
                } else {
                    s.detail.clone()
                };
                server.report_status(now, job, JobReport::Succeeded { note })
            }
            wire::JobState::Failed => {
                let reason = if s.detail.is_empty() {
                    "agent reported a failure without a reason".to_string()
                } else {
                    s.detail.clone()
                };
                server.report_status(now, job, JobReport::Failed { reason })
            }
        };
        match result {
            Ok(state) => {
                if let JobState::Failed { reason } = &state
                    && matches!(s.state, wire::JobState::Armed | wire::JobState::Running)
                {
                    // The report was the attempt that went over the bound: tell
                    // the agent not to go on with it.
                    let text =
                        format!("{job} has failed for good ({reason}): it will not run again");
                    self.send_error(now, ErrorCode::UnexpectedMessage, text);
                }
                self.event(
                    now,
                    SessionEventKind::Status {
                        job,
                        reported: s.state,
                        state,
                    },
                );
            }
            Err(e @ JobError::UnknownJob(_)) => {
                self.send_error(now, ErrorCode::UnknownJob, e.to_string());
            }
            // The store failed: the change was undone and is not acknowledged.
            // The agent is told so, not left to think it was recorded.
            Err(e @ JobError::NotRecorded { .. }) => {
                self.send_error(now, ErrorCode::Internal, e.to_string());
            }
            Err(e) => self.send_error(now, ErrorCode::UnexpectedMessage, e.to_string()),
        }
    }

    /// A `Running` report: the job starts, or (once this session started it) a
    /// progress note.
    ///
    /// Two starts need more than [`DeploymentServer::start`]:
    /// - Bootworks reporting a pre-OS job that nobody armed was delivered by PXE
    ///   (an initial deployment, or a machine that boots from the network
    ///   first): that boot was the arming, so the job is armed, then started.
    /// - A job already running that this session did not start was left so by
    ///   an earlier session that never reported the outcome (Bootworks crashed or
    ///   lost power): that is a failed attempt, counted before the job starts
    ///   again, so a machine that PXE-boots a crashing Bootworks is bounded like
    ///   one whose AClient re-arms the boot flag (see [`DeploymentServer::arm`]).
    ///
    /// Nothing changes when the report is illegal (checked before any step).
    fn running(
        &mut self,
        now: Instant,
        job: JobId,
        s: &JobStatus,
        server: &mut DeploymentServer,
    ) -> Result<JobState, JobError> {
        let Some(j) = server.job(job) else {
            return Err(JobError::UnknownJob(job));
        };
        let (state, pre_os) = (j.state().clone(), j.kind.needs_pre_os());
        let bootworks = self.agent == Some(AgentKind::Bootworks);
        let progress =
            state == JobState::Running && (self.started.contains(&job) || (pre_os && !bootworks));
        if progress {
            let note = match (s.detail.is_empty(), s.progress_bytes) {
                (true, bytes) => format!("{bytes} bytes done"),
                (false, 0) => s.detail.clone(),
                (false, bytes) => format!("{} ({bytes} bytes)", s.detail),
            };
            return server.report_status(now, job, JobReport::Progress { note });
        }
        let mut state = state;
        if state == JobState::Running {
            state = server.fail(
                now,
                job,
                "the previous session ended before the agent reported the outcome".into(),
            )?;
            if state.is_terminal() {
                return Ok(state);
            }
        }
        if state == JobState::Scheduled && pre_os && bootworks {
            server.arm(now, job)?;
        }
        server.start(now, job)?;
        self.started.insert(job);
        Ok(JobState::Running)
    }

    fn on_image_request(
        &mut self,
        now: Instant,
        computer: ComputerId,
        r: ImageRequest,
        server: &DeploymentServer,
        images: &dyn ImageSource,
    ) {
        match image_chunk(computer, r, server, images) {
            Ok(chunk) => self.send(now, AgentMessage::ImageChunk(chunk)),
            Err((code, text)) => self.send_error(now, code, text),
        }
    }

    fn send(&mut self, now: Instant, msg: AgentMessage) {
        match msg.to_bytes() {
            Ok(frame) => self.push_frame(frame),
            Err(e) => {
                // Only offers carry caller-sized fields, and they are checked in
                // `offer`; a text too long to send is cut rather than lost.
                let text = format!("{} could not be encoded: {e}", msg.name());
                self.send_error(now, ErrorCode::Internal, text);
            }
        }
    }

    fn send_error(&mut self, now: Instant, code: ErrorCode, mut text: String) {
        truncate_utf8(&mut text, usize::from(u16::MAX));
        let msg = AgentMessage::Error(ErrorReport {
            code,
            text: text.clone(),
        });
        if let Ok(frame) = msg.to_bytes() {
            self.push_frame(frame);
        }
        self.event(now, SessionEventKind::ErrorSent { code, text });
    }

    fn push_frame(&mut self, frame: Vec<u8>) {
        self.outbox_bytes += frame.len();
        self.outbox.push_back(frame);
    }

    fn close(&mut self, now: Instant, reason: CloseReason) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        self.event(now, SessionEventKind::Closed(reason));
    }

    fn event(&mut self, at: Instant, kind: SessionEventKind) {
        self.events.push_back(SessionEvent {
            at,
            peer: self.peer,
            kind,
        });
    }
}

/// Job `raw` if it exists and belongs to `computer`; the error text otherwise.
fn own_job(computer: ComputerId, raw: u64, server: &DeploymentServer) -> Result<&Job, String> {
    u32::try_from(raw)
        .ok()
        .and_then(|n| server.job(JobId(n)))
        .filter(|j| j.computer == computer)
        .ok_or_else(|| {
            format!("job {raw} is not a job of {computer}; check in for the current job")
        })
}

/// The offer for `job` (see agent-conversation.md, step 2).
///
/// - `image`: for a deployment, the store's name, size and SHA-256 (`None` if a
///   legacy server accepted a job for an image it does not hold); for a capture,
///   the name to capture into with size 0 and a zero digest (unknown until
///   captured).
/// - `share`: the image share, mapped as the computer's own account (user = its
///   name) with its share credential; only for pre-OS jobs, and `None` when the
///   computer has no share credential (Bootworks then reports the drive-mapping
///   failure).
/// - `post_config`: what [`DeploymentServer::set_post_config`] gave the job.
/// - `script`: the script of a run-script job; for a scripted install, the OS to
///   install.
fn job_offer(server: &DeploymentServer, job: &Job) -> JobOffer {
    let (kind, image, script) = match &job.kind {
        JobKind::DeployImage { image } => (
            wire::JobKind::DeployImage,
            server.images().get(image).map(|i| ImageRef {
                name: i.name.clone(),
                size: i.size,
                sha256: i.sha256,
            }),
            None,
        ),
        JobKind::CaptureImage { image_name } => (
            wire::JobKind::CaptureImage,
            Some(ImageRef {
                name: image_name.clone(),
                size: 0,
                sha256: [0; 32],
            }),
            None,
        ),
        JobKind::ScriptedInstall { os } => (wire::JobKind::ScriptedInstall, None, Some(os.clone())),
        JobKind::RunScript { script } => (wire::JobKind::RunScript, None, Some(script.clone())),
        JobKind::BootToProduction => (wire::JobKind::BootToProduction, None, None),
    };
    let share = if job.kind.needs_pre_os() {
        share_ref(server, job.computer)
    } else {
        None
    };
    JobOffer {
        job_id: u64::from(job.id.0),
        kind,
        image,
        share,
        post_config: server.post_config(job.id).cloned(),
        script,
    }
}

fn share_ref(server: &DeploymentServer, computer: ComputerId) -> Option<ShareRef> {
    let secret = server.share_secret(computer)?;
    let name = server.computers().get(computer)?.name.clone();
    Some(ShareRef {
        path: server.share_path().to_string(),
        user: name,
        secret: secret.as_bytes().to_vec(),
    })
}

/// The answer to an image request, or the error code and text.
fn image_chunk(
    computer: ComputerId,
    r: ImageRequest,
    server: &DeploymentServer,
    images: &dyn ImageSource,
) -> Result<ImageChunk, (ErrorCode, String)> {
    let job = own_job(computer, r.job_id, server).map_err(|t| (ErrorCode::UnknownJob, t))?;
    if server.share_secret(computer).is_none() {
        return Err((
            ErrorCode::ShareUnavailable,
            format!(
                "{computer} has no image-share credential, so it may not read images: \
                 set its share credential on the Deployment Server"
            ),
        ));
    }
    let JobKind::DeployImage { image } = &job.kind else {
        return Err((
            ErrorCode::UnexpectedMessage,
            format!(
                "{} is a {}: it has no image to read",
                job.id,
                job.kind.name()
            ),
        ));
    };
    if *job.state() != JobState::Running {
        return Err((
            ErrorCode::UnexpectedMessage,
            format!(
                "{} is {}: report it Running before reading its image",
                job.id,
                job.state()
            ),
        ));
    }
    let Some(stored) = server.images().get(image) else {
        return Err((
            ErrorCode::Internal,
            format!("image {image:?} of {} is not in the image store", job.id),
        ));
    };
    if r.len == 0 || r.offset >= stored.size {
        return Err((
            ErrorCode::BadRange,
            format!(
                "{} bytes at offset {} are outside image {:?} ({} bytes)",
                r.len, r.offset, stored.name, stored.size
            ),
        ));
    }
    let left = stored.size - r.offset;
    let len = usize::try_from(r.len)
        .unwrap_or(MAX_CHUNK_LEN)
        .min(MAX_CHUNK_LEN)
        .min(usize::try_from(left).unwrap_or(usize::MAX));
    let mut buf = vec![0; len];
    let n = images.read(image, r.offset, &mut buf).min(len);
    if n == 0 {
        return Err((
            ErrorCode::Internal,
            format!(
                "image {:?} could not be read at offset {} (the store says {} bytes)",
                stored.name, r.offset, stored.size
            ),
        ));
    }
    buf.truncate(n);
    Ok(ImageChunk::new(r.job_id, r.offset, buf))
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate_utf8(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}
