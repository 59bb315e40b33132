//! The connection plumbing both agents share: the frame decoder, the queues the
//! host drains, and the one deadline every wait is bounded by.

use std::collections::VecDeque;
use std::time::Duration;

use crate::Instant;
use crate::wire::ParseMode;
use crate::wire::agent::{AgentError, AgentMessage, FrameDecoder, JobState, JobStatus};

use super::{AgentAction, AgentEvent, AgentEventKind, CONNECT_TIMEOUT, REPLY_TIMEOUT};

/// One run's connection state: from `Connect` to the final action.
#[derive(Debug)]
pub(super) struct Link {
    decoder: FrameDecoder,
    out: VecDeque<Vec<u8>>,
    actions: VecDeque<AgentAction>,
    events: VecDeque<AgentEvent>,
    /// When the current wait ends, and what it waits for.
    deadline: Option<(Instant, &'static str)>,
    finished: bool,
}

impl Link {
    pub(super) fn new() -> Self {
        Link {
            // Lax: a later minor revision may append fields to a server message.
            decoder: FrameDecoder::new(ParseMode::Lax),
            out: VecDeque::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            deadline: None,
            finished: false,
        }
    }

    /// Starts a new run (a boot): forgets the previous connection, including
    /// frames the host never sent on it (they belong to that connection), but
    /// keeps undrained actions and events (they are history).
    pub(super) fn restart(&mut self, now: Instant) {
        self.decoder = FrameDecoder::new(ParseMode::Lax);
        self.out.clear();
        self.finished = false;
        self.event(now, AgentEventKind::Connecting);
        self.actions.push_back(AgentAction::Connect);
        self.wait(now, CONNECT_TIMEOUT, "the TCP connection");
    }

    pub(super) fn is_finished(&self) -> bool {
        self.finished
    }

    pub(super) fn event(&mut self, now: Instant, kind: AgentEventKind) {
        self.events.push_back(AgentEvent { at: now, kind });
    }

    /// Queues `msg`. The agents only send small messages, so `emit` cannot
    /// refuse one unless a configured field (a name, a credential) is over its
    /// 64 KiB limit; that is reported rather than sent truncated.
    pub(super) fn send(&mut self, now: Instant, msg: &AgentMessage) {
        match msg.to_bytes() {
            Ok(bytes) => self.out.push_back(bytes),
            Err(e) => self.event(
                now,
                AgentEventKind::ProtocolError(format!("cannot send {}: {e}", msg.name())),
            ),
        }
    }

    /// Sends a `JobStatus` and records it.
    pub(super) fn report(
        &mut self,
        now: Instant,
        job_id: u64,
        state: JobState,
        progress_bytes: u64,
        detail: impl Into<String>,
    ) {
        let detail = detail.into();
        self.send(
            now,
            &AgentMessage::JobStatus(JobStatus {
                job_id,
                state,
                progress_bytes,
                detail: detail.clone(),
            }),
        );
        self.event(
            now,
            AgentEventKind::Reported {
                job_id,
                state,
                detail,
            },
        );
    }

    /// Waits for the server's next answer, at most [`REPLY_TIMEOUT`].
    pub(super) fn await_reply(&mut self, now: Instant, what: &'static str) {
        self.wait(now, REPLY_TIMEOUT, what);
    }

    /// Waits for nothing (the host is busy on the agent's behalf).
    pub(super) fn clear_wait(&mut self) {
        self.deadline = None;
    }

    fn wait(&mut self, now: Instant, timeout: Duration, what: &'static str) {
        self.deadline = Some((now + timeout, what));
    }

    /// Ends the run with `action` (once: later calls are ignored).
    pub(super) fn finish(&mut self, now: Instant, action: AgentAction) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.deadline = None;
        self.actions.push_back(action);
        self.event(now, AgentEventKind::Finished(action));
    }

    /// What the expired wait was for, if the deadline has passed.
    pub(super) fn expired(&self, now: Instant) -> Option<&'static str> {
        match self.deadline {
            Some((at, what)) if !self.finished && now >= at => Some(what),
            _ => None,
        }
    }

    pub(super) fn push(&mut self, bytes: &[u8]) -> usize {
        self.decoder.push(bytes)
    }

    pub(super) fn next_message(&mut self) -> Option<Result<AgentMessage, AgentError>> {
        self.decoder.next()
    }

    pub(super) fn poll_send(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    pub(super) fn poll_action(&mut self) -> Option<AgentAction> {
        self.actions.pop_front()
    }

    pub(super) fn poll_event(&mut self) -> Option<AgentEvent> {
        self.events.pop_front()
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        match self.deadline {
            Some((at, _)) if !self.finished => Some(at),
            _ => None,
        }
    }
}

/// Feeds `bytes` through `link`'s decoder, calling `on_message` for each message
/// until the run finishes (bytes after that are dropped: the agent has closed).
pub(super) fn feed<M>(
    machine: &mut M,
    bytes: &[u8],
    link: impl Fn(&mut M) -> &mut Link,
    mut on_message: impl FnMut(&mut M, Result<AgentMessage, AgentError>),
) {
    let mut rest = bytes;
    loop {
        while let Some(msg) = link(machine).next_message() {
            on_message(machine, msg);
            if link(machine).is_finished() {
                return;
            }
        }
        if rest.is_empty() || link(machine).is_finished() {
            return;
        }
        let taken = link(machine).push(rest);
        rest = &rest[taken..];
    }
}
