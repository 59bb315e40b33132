//! Replies held back by a respond delay, released by time rather than by sleeping.
//!
//! The DHCP server (UDP 67) and the boot server (UDP 4011) may wait before they
//! answer (`DhcpSettings::respond_delay_ms`), for two reasons:
//!
//! - some PXE ROMs fail when the (proxy) reply arrives "instantly", before they
//!   listen for it; dnsmasq grew `dhcp-reply-delay` for them (research quirk Q13);
//! - a lab server sharing a subnet with production must be able to lose the race
//!   for the client's first OFFER on purpose, to reproduce competing-server timing.
//!
//! A sans-IO machine cannot sleep, so it queues each reply here with its release
//! time, asks to be woken at the earliest one (`poll_timeout`) and hands it out from
//! `poll_transmit` once `handle_timeout` (or the next datagram) reaches that time.
//! Both machines share this one queue so that they delay in the same way.

use std::collections::VecDeque;
use std::time::Duration;

use crate::{Instant, Transmit};

/// Transmits and events waiting to leave a machine.
#[derive(Debug)]
pub(crate) struct Outbox<E> {
    delay: Duration,
    /// Held replies in release order (the delay is constant, so arrival order is
    /// release order).
    held: VecDeque<(Instant, Transmit)>,
    ready: VecDeque<Transmit>,
    events: VecDeque<E>,
}

impl<E> Outbox<E> {
    /// An outbox that holds every reply for `delay` (zero: none is held).
    pub(crate) fn new(delay: Duration) -> Self {
        Outbox {
            delay,
            held: VecDeque::new(),
            ready: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Queues `t`, to leave at `now` + the delay.
    pub(crate) fn send(&mut self, now: Instant, t: Transmit) {
        if self.delay.is_zero() {
            self.ready.push_back(t);
        } else {
            self.held.push_back((now + self.delay, t));
        }
    }

    /// Queues an event; events are not delayed (they report what was decided).
    pub(crate) fn event(&mut self, e: E) {
        self.events.push_back(e);
    }

    /// Moves every held reply whose time has come to the ready queue.
    pub(crate) fn release_due(&mut self, now: Instant) {
        while self.held.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, t)) = self.held.pop_front() {
                self.ready.push_back(t);
            }
        }
    }

    /// The next reply that may leave now.
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.ready.pop_front()
    }

    /// The next event to report.
    pub(crate) fn poll_event(&mut self) -> Option<E> {
        self.events.pop_front()
    }

    /// When the earliest held reply is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.held.front().map(|(at, _)| *at)
    }
}
