//! The wall clock, seen as the project's [`Instant`].
//!
//! Machines count time from the start of the run; the driver fixes that start once
//! and converts both ways, so a machine's `poll_timeout` becomes a tokio deadline.

use crate::time::Instant;

/// Maps project [`Instant`]s onto tokio's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: tokio::time::Instant,
}

impl Clock {
    /// A clock whose [`Instant::ZERO`] is now.
    pub fn start() -> Clock {
        Clock {
            start: tokio::time::Instant::now(),
        }
    }

    /// The current time since the start.
    pub fn now(&self) -> Instant {
        Instant::ZERO + self.start.elapsed()
    }

    /// The tokio deadline for a machine's wake-up time.
    pub fn deadline(&self, at: Instant) -> tokio::time::Instant {
        self.start + at.since_start()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn deadlines_round_trip() {
        let clock = Clock::start();
        let at = Instant::from_millis(1500);
        assert_eq!(
            clock.deadline(at) - clock.deadline(Instant::ZERO),
            Duration::from_millis(1500)
        );
        assert!(clock.now() >= Instant::ZERO);
    }
}
