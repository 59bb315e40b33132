//! Multicast: the cost of NAK-based repair, and gathering receivers into
//! sessions.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use pxelab_reference::Instant;

/// The highest packet loss probability the repair model accepts.
///
/// A receiver that loses every packet would make a NAK-based sender repeat
/// each packet forever (the expected number of transmissions diverges as
/// p → 1). Real senders do not wait forever: udpcast drops a receiver that
/// stops answering. The model keeps the session finite by treating any loss
/// at or above this value as this value: a receiver behind such a link costs
/// the session about a thousand transmissions per packet, which a report
/// shows as a session that takes far too long.
pub const MAX_LOSS: f64 = 0.999;

/// Contributions below this are the end of the repair series.
const SERIES_TOLERANCE: f64 = 1e-12;

/// Terms of the repair series at most (reached only near [`MAX_LOSS`] with
/// millions of receivers).
const SERIES_TERMS: u32 = 1_000_000;

/// The expected number of times a NAK-based multicast sender transmits each
/// packet, given each receiver's packet loss probability.
///
/// The sender sends a packet, collects negative acknowledgements, and sends
/// it again while any receiver still lacks it (udpcast and Altiris multicast
/// repair this way). With independent losses, receiver `i` still lacks the
/// packet after `k` transmissions with probability `p_i^k`, so a `k+1`-th
/// transmission happens with probability `1 − Π_i (1 − p_i^k)`, and the
/// expected number of transmissions is
///
/// ```text
/// E = Σ_{k≥0} (1 − Π_i (1 − p_i^k))
/// ```
///
/// which is 1 without loss, `1/(1−p)` for a single receiver, and grows with
/// the number of lossy receivers (about `log(n)/log(1/p)` for `n` receivers
/// with the same `p`). Each receiver's goodput is the stream's rate divided by
/// `E`. Probabilities are clamped to `0.0..=`[`MAX_LOSS`] (NaN counts as no
/// loss); no receivers at all gives 1.
pub fn nak_repair_factor(losses: &[f64]) -> f64 {
    // Receivers with the same loss contribute (1 − p^k)^count: group them.
    let mut groups: BTreeMap<u64, u32> = BTreeMap::new();
    for &p in losses {
        if p > 0.0 {
            *groups.entry(p.min(MAX_LOSS).to_bits()).or_default() += 1;
        }
    }
    if groups.is_empty() {
        return 1.0;
    }
    let groups: Vec<(f64, f64)> = groups
        .into_iter()
        .map(|(bits, count)| (f64::from_bits(bits), f64::from(count)))
        .collect();
    let mut power: Vec<f64> = vec![1.0; groups.len()];
    // k = 0: every receiver lacks the packet before it is sent.
    let mut expected = 1.0;
    for _ in 0..SERIES_TERMS {
        let mut log_all_have = 0.0;
        let mut tail = 0.0;
        for ((p, count), pk) in groups.iter().zip(power.iter_mut()) {
            *pk *= p;
            log_all_have += count * (-*pk).ln_1p();
            // What receivers of this loss can still add after this term.
            tail += count * *pk * p / (1.0 - p);
        }
        expected += -log_all_have.exp_m1();
        if tail < SERIES_TOLERANCE {
            break;
        }
    }
    expected
}

/// When a multicast session starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Start as soon as this many receivers have joined (udpcast's
    /// `--min-receivers`). 0 and 1 both start a session on its first join.
    pub min_receivers: u32,
    /// Start anyway this long after the first receiver joined, with however
    /// many have joined (udpcast's `--max-wait`).
    pub max_wait: Duration,
}

#[derive(Debug)]
struct Gathering<R> {
    opened: Instant,
    receivers: Vec<R>,
}

/// Receivers gathering into multicast sessions, udpcast style (sans-IO).
///
/// The first join opens a session; it starts when
/// [`min_receivers`](SessionConfig::min_receivers) have joined, or
/// [`max_wait`](SessionConfig::max_wait) after that first join with however
/// many have joined. A receiver that joins after the start waits for the next
/// session, which its join opens; a join at the very instant the wait runs
/// out is such a late join (the waiting session starts first, whether or not
/// the driver has called [`handle_timeout`](Self::handle_timeout) yet).
/// Joining the same gathering session twice counts once.
///
/// Driving: call [`join`](Self::join) as receivers ask, call
/// [`handle_timeout`](Self::handle_timeout) at
/// [`poll_timeout`](Self::poll_timeout), and after each of these drain
/// [`poll_start`](Self::poll_start): each session it returns must start now.
#[derive(Debug)]
pub struct MulticastSessions<R> {
    config: SessionConfig,
    gathering: Option<Gathering<R>>,
    starting: VecDeque<Vec<R>>,
}

impl<R: Clone + Ord> MulticastSessions<R> {
    /// No session open yet.
    pub fn new(config: SessionConfig) -> Self {
        MulticastSessions {
            config,
            gathering: None,
            starting: VecDeque::new(),
        }
    }

    /// `receiver` asks to receive the image at `now`.
    pub fn join(&mut self, now: Instant, receiver: R) {
        // A session whose wait ran out by this join has started already,
        // even if the driver has not called handle_timeout yet.
        self.handle_timeout(now);
        let gathering = self.gathering.get_or_insert_with(|| Gathering {
            opened: now,
            receivers: Vec::new(),
        });
        if !gathering.receivers.contains(&receiver) {
            gathering.receivers.push(receiver);
        }
        let joined = u32::try_from(gathering.receivers.len()).unwrap_or(u32::MAX);
        if joined >= self.config.min_receivers {
            self.start();
        }
    }

    /// When the open session starts for lack of further receivers.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.gathering
            .as_ref()
            .map(|g| g.opened + self.config.max_wait)
    }

    /// Time passed: starts the open session if it has waited long enough.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|at| at <= now) {
            self.start();
        }
    }

    /// A session that must start now: its receivers, in join order.
    pub fn poll_start(&mut self) -> Option<Vec<R>> {
        self.starting.pop_front()
    }

    /// Receivers waiting in the open session, in join order.
    pub fn waiting(&self) -> &[R] {
        self.gathering
            .as_ref()
            .map_or(&[], |g| g.receivers.as_slice())
    }

    fn start(&mut self) {
        if let Some(g) = self.gathering.take() {
            self.starting.push_back(g.receivers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(min_receivers: u32, max_wait_secs: u64) -> MulticastSessions<usize> {
        MulticastSessions::new(SessionConfig {
            min_receivers,
            max_wait: Duration::from_secs(max_wait_secs),
        })
    }

    #[test]
    fn no_loss_sends_each_packet_once() {
        assert_eq!(nak_repair_factor(&[]), 1.0);
        assert_eq!(nak_repair_factor(&[0.0; 100]), 1.0);
    }

    #[test]
    fn one_lossy_receiver_costs_one_over_one_minus_p() {
        let factor = nak_repair_factor(&[0.1]);
        assert!((factor - 1.0 / 0.9).abs() < 1e-9, "{factor}");
        // Lossless receivers add nothing to a lossy one.
        let mixed = nak_repair_factor(&[0.0, 0.1, 0.0]);
        assert!((mixed - factor).abs() < 1e-12, "{mixed}");
    }

    #[test]
    fn two_receivers_match_the_closed_form() {
        // Σ_k 1 − (1 − p^k)(1 − q^k) = 1/(1−p) + 1/(1−q) − 1/(1−pq).
        let (p, q) = (0.2, 0.05);
        let closed = 1.0 / (1.0 - p) + 1.0 / (1.0 - q) - 1.0 / (1.0 - p * q);
        let factor = nak_repair_factor(&[p, q]);
        assert!((factor - closed).abs() < 1e-9, "{factor} vs {closed}");
    }

    #[test]
    fn more_lossy_receivers_cost_more_repair() {
        let one = nak_repair_factor(&[0.01]);
        let ten = nak_repair_factor(&[0.01; 10]);
        let hundred = nak_repair_factor(&[0.01; 100]);
        assert!(one < ten && ten < hundred, "{one} {ten} {hundred}");
        // Still far below one repair per receiver.
        assert!(hundred < 2.0, "{hundred}");
    }

    #[test]
    fn total_loss_is_capped_not_endless() {
        let capped = nak_repair_factor(&[MAX_LOSS]);
        assert!((capped - 1.0 / (1.0 - MAX_LOSS)).abs() < 1e-6, "{capped}");
        assert_eq!(nak_repair_factor(&[1.0]), capped);
        assert_eq!(nak_repair_factor(&[7.0]), capped);
        assert!(nak_repair_factor(&[1.0; 1000]).is_finite());
        assert_eq!(nak_repair_factor(&[f64::NAN, -0.5]), 1.0);
    }

    #[test]
    fn session_starts_when_min_receivers_joined() {
        let mut s = sessions(3, 60);
        s.join(Instant::from_secs(1), 10);
        s.join(Instant::from_secs(2), 11);
        assert_eq!(s.poll_start(), None);
        assert_eq!(s.poll_timeout(), Some(Instant::from_secs(61)));
        s.join(Instant::from_secs(3), 12);
        assert_eq!(s.poll_start(), Some(vec![10, 11, 12]));
        assert_eq!(s.poll_start(), None);
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn session_starts_at_max_wait_with_fewer() {
        let mut s = sessions(5, 30);
        s.join(Instant::from_secs(10), 1);
        s.join(Instant::from_secs(20), 2);
        // The wait counts from the first join, not the last.
        assert_eq!(s.poll_timeout(), Some(Instant::from_secs(40)));
        s.handle_timeout(Instant::from_secs(39));
        assert_eq!(s.poll_start(), None);
        s.handle_timeout(Instant::from_secs(40));
        assert_eq!(s.poll_start(), Some(vec![1, 2]));
    }

    #[test]
    fn late_joiner_opens_the_next_session() {
        let mut s = sessions(2, 30);
        s.join(Instant::from_secs(0), 1);
        s.join(Instant::from_secs(1), 2);
        assert_eq!(s.poll_start(), Some(vec![1, 2]));
        s.join(Instant::from_secs(5), 3);
        assert_eq!(s.poll_start(), None);
        assert_eq!(s.waiting(), &[3]);
        assert_eq!(s.poll_timeout(), Some(Instant::from_secs(35)));
        s.handle_timeout(Instant::from_secs(35));
        assert_eq!(s.poll_start(), Some(vec![3]));
    }

    #[test]
    fn a_join_after_the_deadline_does_not_enter_the_expired_session() {
        let mut s = sessions(10, 30);
        s.join(Instant::from_secs(0), 1);
        // The driver was late calling handle_timeout.
        s.join(Instant::from_secs(31), 2);
        assert_eq!(s.poll_start(), Some(vec![1]));
        assert_eq!(s.waiting(), &[2]);
    }

    #[test]
    fn joining_twice_counts_once() {
        let mut s = sessions(2, 30);
        s.join(Instant::from_secs(0), 1);
        s.join(Instant::from_secs(1), 1);
        assert_eq!(s.poll_start(), None);
        assert_eq!(s.waiting(), &[1]);
    }

    #[test]
    fn min_receivers_of_one_starts_on_first_join() {
        let mut s = sessions(1, 30);
        s.join(Instant::from_secs(4), 7);
        assert_eq!(s.poll_start(), Some(vec![7]));
        assert_eq!(s.poll_timeout(), None);
    }
}
