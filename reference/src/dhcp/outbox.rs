//! Replies held back by the respond delay, released by time rather than by sleeping.

use std::collections::VecDeque;
use std::time::Duration;

use super::event::DhcpEvent;
use crate::{Instant, Transmit};

/// Transmits and events waiting to leave a machine.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    delay: Duration,
    /// Held replies in release order (the delay is constant, so arrival order is
    /// release order).
    held: VecDeque<(Instant, Transmit)>,
    ready: VecDeque<Transmit>,
    events: VecDeque<DhcpEvent>,
}

impl Outbox {
    pub(crate) fn new(delay: Duration) -> Self {
        Outbox {
            delay,
            ..Outbox::default()
        }
    }

    pub(crate) fn send(&mut self, now: Instant, t: Transmit) {
        if self.delay.is_zero() {
            self.ready.push_back(t);
        } else {
            self.held.push_back((now + self.delay, t));
        }
    }

    pub(crate) fn event(&mut self, e: DhcpEvent) {
        self.events.push_back(e);
    }

    pub(crate) fn release_due(&mut self, now: Instant) {
        while self.held.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, t)) = self.held.pop_front() {
                self.ready.push_back(t);
            }
        }
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.ready.pop_front()
    }

    pub(crate) fn poll_event(&mut self) -> Option<DhcpEvent> {
        self.events.pop_front()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.held.front().map(|(at, _)| *at)
    }
}
