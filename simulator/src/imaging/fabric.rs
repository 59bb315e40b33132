//! Links, flows and their max-min fair rates.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::Duration;

use pxelab_reference::Instant;

use super::multicast::nak_repair_factor;
use super::{TCP_EFFICIENCY, UDP_EFFICIENCY};

/// A bytes count at or below which a flow is complete: floating-point error
/// in the piecewise-linear progress must never leave a flow a fraction of a
/// byte short, waiting for an event that will not come.
const DONE_BELOW_BYTES: f64 = 0.5;

const NANOS_PER_SEC: f64 = 1e9;

/// One direction of a link: a switch port towards a machine, a server uplink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u32);

/// A bulk transfer in a [`Fabric`]: a unicast image pull or a multicast
/// session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(pub u32);

/// A flow that delivered all its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completed {
    /// The flow.
    pub flow: FlowId,
    /// When it was started.
    pub started: Instant,
    /// When its last byte arrived (at every receiver, for a multicast).
    pub finished: Instant,
    /// Payload bytes delivered (to each receiver, for a multicast).
    pub bytes: u64,
}

#[derive(Debug)]
struct Flow {
    /// Links crossed, sorted and without duplicates: a multicast stream is
    /// one flow on each link however many of its receivers sit behind it.
    links: Vec<u32>,
    started: Instant,
    bytes: u64,
    /// Payload bytes still to deliver as of `since`.
    remaining: f64,
    since: Instant,
    /// Payload bytes per second delivered for each bit per second of wire:
    /// protocol efficiency / 8 / repair factor.
    payload_per_wire_bit: f64,
    /// Current share of the wire, bits per second.
    wire_rate: f64,
    /// Current payload rate, bytes per second.
    goodput: f64,
    /// When the flow completes at the current rates (`None`: stalled on a
    /// link of zero capacity).
    finish_at: Option<Instant>,
    /// For a multicast: who it is sent to, so that receivers can leave.
    session: Option<Session>,
}

/// A multicast flow's sender and receivers as given at its start.
#[derive(Debug)]
struct Session {
    sender: Vec<LinkId>,
    /// Each receiver's links and loss; `None` once it has left.
    receivers: Vec<Option<(Vec<LinkId>, f64)>>,
}

impl Session {
    /// The links the stream crosses and its payload per wire bit (UDP
    /// headers and NAK repair for the receivers still listening).
    fn shape(&self, fabric: &Fabric) -> (Vec<u32>, f64) {
        let listening = || self.receivers.iter().flatten();
        let links = fabric.link_set(
            self.sender
                .iter()
                .chain(listening().flat_map(|(path, _)| path.iter()))
                .copied(),
        );
        let losses: Vec<f64> = listening().map(|&(_, loss)| loss).collect();
        (links, UDP_EFFICIENCY / 8.0 / nak_repair_factor(&losses))
    }
}

impl Flow {
    /// Payload bytes left at `now` (≥ `since`) at the current rate.
    fn remaining_at(&self, now: Instant) -> f64 {
        let elapsed = now.as_nanos().saturating_sub(self.since.as_nanos());
        if elapsed == 0 {
            return self.remaining;
        }
        if self.goodput.is_infinite() {
            return 0.0;
        }
        self.remaining - self.goodput * elapsed as f64 / NANOS_PER_SEC
    }

    /// The completion instant seen from `now`, rounded up to the next
    /// nanosecond so that the flow never completes before its last byte.
    fn finish_from(&self, now: Instant) -> Option<Instant> {
        if self.remaining <= DONE_BELOW_BYTES || self.goodput.is_infinite() {
            return Some(now);
        }
        if self.goodput <= 0.0 || self.goodput.is_nan() {
            return None;
        }
        let nanos = (self.remaining / self.goodput * NANOS_PER_SEC).ceil();
        // Past u64 nanoseconds (585 years) the flow is as good as stalled.
        if nanos >= u64::MAX as f64 {
            return None;
        }
        Some(now + Duration::from_nanos(nanos as u64))
    }
}

/// A fair share in the progressive-filling queue (bits per second), totally
/// ordered so that the queue, and the tie-break by link id, are
/// deterministic.
#[derive(Clone, Copy, Debug)]
struct Share(f64);

impl PartialEq for Share {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Share {}

impl PartialOrd for Share {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Share {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Links with capacities and the bulk flows crossing them.
///
/// # Sharing: max-min fairness
///
/// Rates are the max-min fair allocation, computed by progressive filling:
/// every flow's rate rises together until some link is full; the flows
/// crossing that link (the *bottleneck*) are frozen at its fair share, their
/// rates are taken off every other link they cross, and filling continues
/// with the others. The result: no flow can go faster without slowing a flow
/// that is already no faster than it. A Bootworks stuck behind a 100 Mb/s
/// access port therefore takes 100 Mb/s of the server uplink and leaves the
/// rest to the others, which is what competing TCP connections converge to
/// and what a fleet's imaging time depends on. A multicast stream is one flow
/// crossing the sender's links and every receiver's access link, so it runs
/// at the pace of its slowest receiver.
///
/// # Time
///
/// Rates change only when the set of flows changes, so between two such
/// events each flow progresses linearly. At each event the fabric brings
/// every flow's remaining bytes up to date (`remaining -= goodput × elapsed
/// ns / 1e9`), recomputes the rates, and sets each flow whose rate changed to
/// complete at `now + ceil(remaining / goodput × 1e9)` nanoseconds (a flow
/// whose rate did not change keeps its completion instant). A flow with at
/// most half a byte left is complete. Operations that take `now`
/// ([`start_unicast`](Fabric::start_unicast),
/// [`start_multicast`](Fabric::start_multicast), [`cancel`](Fabric::cancel),
/// [`advance`](Fabric::advance)) first play every completion up to `now`,
/// in order; completions found that way are kept and returned by the next
/// `advance`. Time never goes backwards: a `now` earlier than the latest one
/// seen is taken as the latest one.
///
/// # Degenerate inputs
///
/// A capacity that is negative or NaN is taken as zero; flows crossing a
/// zero-capacity link stall (no completion) until cancelled. A flow of zero
/// bytes, or with no links at all (nothing limits it), completes the instant
/// it starts.
#[derive(Debug, Default)]
pub struct Fabric {
    /// Capacity of each link, bits per second, indexed by `LinkId`.
    capacity: Vec<f64>,
    flows: BTreeMap<FlowId, Flow>,
    next_flow: u32,
    /// The latest instant seen.
    clock: Instant,
    /// Completions played by an operation other than `advance`, in order.
    completed: Vec<Completed>,
}

impl Fabric {
    /// An empty fabric at time zero.
    pub fn new() -> Fabric {
        Fabric::default()
    }

    /// A link (a switch port direction, a server uplink) carrying
    /// `bits_per_second` of wire time.
    pub fn add_link(&mut self, bits_per_second: f64) -> LinkId {
        let capacity = if bits_per_second.is_nan() || bits_per_second < 0.0 {
            0.0
        } else {
            bits_per_second
        };
        let id = LinkId(u32::try_from(self.capacity.len()).expect("fewer than 2^32 links"));
        self.capacity.push(capacity);
        id
    }

    /// A link's capacity in bits per second, as the fabric uses it.
    pub fn link_capacity(&self, link: LinkId) -> Option<f64> {
        self.capacity.get(link.0 as usize).copied()
    }

    /// The wire rate, bits per second, that the current flows take on `link`
    /// (at most its capacity, up to floating-point rounding).
    pub fn link_load(&self, link: LinkId) -> Option<f64> {
        self.link_capacity(link)?;
        Some(
            self.flows
                .values()
                .filter(|f| f.links.binary_search(&link.0).is_ok())
                .map(|f| f.wire_rate)
                .sum(),
        )
    }

    /// The latest instant the fabric has been brought to.
    pub fn now(&self) -> Instant {
        self.clock
    }

    /// A unicast transfer of `bytes` of payload over `path`, starting at
    /// `now`: a Bootworks pulling its image over TCP, whose goodput is its
    /// share of the wire times [`TCP_EFFICIENCY`]. A link listed twice counts
    /// once.
    ///
    /// # Panics
    ///
    /// If a link in `path` was not made by this fabric's
    /// [`add_link`](Fabric::add_link).
    pub fn start_unicast(&mut self, now: Instant, path: &[LinkId], bytes: u64) -> FlowId {
        let links = self.link_set(path.iter().copied());
        self.start(now, links, bytes, TCP_EFFICIENCY / 8.0)
    }

    /// A multicast transfer of `bytes` from one sender to many receivers,
    /// starting at `now`.
    ///
    /// The stream is one flow: it crosses each of `sender_path` (the server
    /// uplink) and each receiver's links once, however many receivers share
    /// a link, and it runs at the one rate every link it crosses allows (the
    /// slowest receiver paces the session, as in udpcast). `receivers` gives
    /// each receiver's links and its packet loss probability. With NAK-based
    /// repair a packet is sent again while any receiver still lacks it, so
    /// each receiver's goodput is the wire rate × [`UDP_EFFICIENCY`] /
    /// [`nak_repair_factor`] of the losses (probabilities are clamped to
    /// `0.0..=`[`MAX_LOSS`](super::MAX_LOSS)). The repair factor assumes
    /// independent losses, and that repairs are multicast to everyone (as
    /// udpcast's are), so they cost wire time on every link of the stream.
    /// A session started with no receivers runs on the sender's links alone.
    ///
    /// # Panics
    ///
    /// If a link was not made by this fabric's [`add_link`](Fabric::add_link).
    pub fn start_multicast(
        &mut self,
        now: Instant,
        sender_path: &[LinkId],
        receivers: &[(Vec<LinkId>, f64)],
        bytes: u64,
    ) -> FlowId {
        let session = Session {
            sender: sender_path.to_vec(),
            receivers: receivers.iter().cloned().map(Some).collect(),
        };
        let (links, per_bit) = session.shape(self);
        let id = self.start(now, links, bytes, per_bit);
        if let Some(f) = self.flows.get_mut(&id) {
            f.session = Some(session);
        }
        id
    }

    /// Receiver number `receiver` (its index in the `receivers` given to
    /// [`start_multicast`](Fabric::start_multicast)) leaves the session at
    /// `now` (it gave up, its machine powered off): the stream no longer
    /// crosses its links nor repairs its losses, and goes on for the others,
    /// as a udpcast sender drops a receiver that stops answering. When the
    /// last receiver leaves, the flow is cancelled: there is nobody to send
    /// to. Returns whether the receiver was in a running session.
    pub fn leave_multicast(&mut self, now: Instant, flow: FlowId, receiver: usize) -> bool {
        self.settle(now);
        let now = self.clock;
        let Some(mut session) = self.flows.get_mut(&flow).and_then(|f| f.session.take()) else {
            return false;
        };
        let left = session
            .receivers
            .get_mut(receiver)
            .and_then(Option::take)
            .is_some();
        if left && session.receivers.iter().all(Option::is_none) {
            self.flows.remove(&flow);
        } else {
            let (links, per_bit) = session.shape(self);
            if let Some(f) = self.flows.get_mut(&flow) {
                f.links = links;
                f.payload_per_wire_bit = per_bit;
                f.session = Some(session);
            }
        }
        if left {
            self.reshare(now);
        }
        left
    }

    /// Stops a flow (its receiver gave up, the machine powered off) at `now`;
    /// the others share what it leaves. For a multicast this ends the whole
    /// session; one receiver leaving is
    /// [`leave_multicast`](Fabric::leave_multicast). Unknown or finished
    /// flows are ignored.
    pub fn cancel(&mut self, now: Instant, flow: FlowId) {
        self.settle(now);
        let now = self.clock;
        if self.flows.remove(&flow).is_some() {
            self.reshare(now);
        }
    }

    /// When the next flow completes: the earliest completion not yet returned
    /// by [`advance`](Fabric::advance) (which may be in the past, if an
    /// operation already played it), or `None` when no flow will complete.
    pub fn next_completion(&self) -> Option<Instant> {
        if let Some(done) = self.completed.first() {
            return Some(done.finished);
        }
        self.next_finish()
    }

    /// Advances to `now` and returns every flow that completed at or before
    /// `now` and was not returned before, in (completion time, [`FlowId`])
    /// order.
    pub fn advance(&mut self, now: Instant) -> Vec<Completed> {
        self.settle(now);
        std::mem::take(&mut self.completed)
    }

    /// A running flow's current goodput, payload bytes per second (for a
    /// multicast: what each receiver gets, after repair). Infinite for a flow
    /// that crosses no link.
    pub fn rate(&self, flow: FlowId) -> Option<f64> {
        self.flows.get(&flow).map(|f| f.goodput)
    }

    /// A running flow's current share of the wire, bits per second (its
    /// goodput before protocol headers and repair): what it takes on each
    /// link it crosses.
    pub fn wire_rate(&self, flow: FlowId) -> Option<f64> {
        self.flows.get(&flow).map(|f| f.wire_rate)
    }

    /// A running flow's payload bytes still to deliver as of
    /// [`now`](Fabric::now), rounded up.
    pub fn remaining(&self, flow: FlowId) -> Option<u64> {
        let f = self.flows.get(&flow)?;
        let left = f.remaining_at(self.clock).max(0.0).ceil();
        Some(if left >= f.bytes as f64 {
            f.bytes
        } else {
            left as u64
        })
    }

    /// Running flows (started, neither complete nor cancelled).
    pub fn active(&self) -> usize {
        self.flows.len()
    }

    fn link_set(&self, links: impl Iterator<Item = LinkId>) -> Vec<u32> {
        let set: BTreeSet<u32> = links
            .map(|l| {
                assert!(
                    (l.0 as usize) < self.capacity.len(),
                    "{l:?} is not a link of this fabric"
                );
                l.0
            })
            .collect();
        set.into_iter().collect()
    }

    fn start(&mut self, now: Instant, links: Vec<u32>, bytes: u64, per_bit: f64) -> FlowId {
        self.settle(now);
        let now = self.clock;
        let id = FlowId(self.next_flow);
        self.next_flow = self
            .next_flow
            .checked_add(1)
            .expect("fewer than 2^32 flows per fabric");
        self.flows.insert(
            id,
            Flow {
                links,
                started: now,
                bytes,
                remaining: bytes as f64,
                since: now,
                payload_per_wire_bit: per_bit,
                wire_rate: 0.0,
                goodput: 0.0,
                finish_at: None,
                session: None,
            },
        );
        self.reshare(now);
        id
    }

    fn next_finish(&self) -> Option<Instant> {
        self.flows.values().filter_map(|f| f.finish_at).min()
    }

    /// Plays every completion up to `now`, in order, into `self.completed`.
    fn settle(&mut self, now: Instant) {
        let now = now.max(self.clock);
        while let Some(at) = self.next_finish().filter(|&at| at <= now) {
            let done: Vec<FlowId> = self
                .flows
                .iter()
                .filter(|(_, f)| {
                    f.finish_at.is_some_and(|t| t <= at) || f.remaining_at(at) <= DONE_BELOW_BYTES
                })
                .map(|(&id, _)| id)
                .collect();
            for id in done {
                if let Some(f) = self.flows.remove(&id) {
                    self.completed.push(Completed {
                        flow: id,
                        started: f.started,
                        finished: at,
                        bytes: f.bytes,
                    });
                }
            }
            self.clock = at;
            self.reshare(at);
        }
        self.clock = now;
    }

    /// Brings every flow to `now`, then recomputes the max-min fair rates by
    /// progressive filling and each changed flow's completion instant.
    fn reshare(&mut self, now: Instant) {
        for f in self.flows.values_mut() {
            f.remaining = f.remaining_at(now);
            f.since = now;
        }
        let rates = self.fair_shares();
        for (f, wire_rate) in self.flows.values_mut().zip(rates) {
            let goodput = wire_rate * f.payload_per_wire_bit;
            let changed = goodput.to_bits() != f.goodput.to_bits() || f.finish_at.is_none();
            f.wire_rate = wire_rate;
            f.goodput = goodput;
            if changed || f.remaining <= DONE_BELOW_BYTES {
                f.finish_at = f.finish_from(now);
            }
        }
    }

    /// Wire rates of the flows, in `FlowId` order, by progressive filling.
    ///
    /// Links wait in a min-queue keyed by their fair share of what is left
    /// (spare capacity / unfrozen flows crossing). The smallest is the next
    /// bottleneck: its unfrozen flows are frozen at that share, which is
    /// taken off every link they cross. Shares only grow as flows freeze, so
    /// an outdated queue entry is smaller than the link's current key and is
    /// skipped when it comes out (lazy deletion). Each flow is frozen once;
    /// the work is O(Σ path lengths × log links) per recomputation.
    fn fair_shares(&self) -> Vec<f64> {
        let flows: Vec<&Flow> = self.flows.values().collect();
        let links = self.capacity.len();
        let mut rate = vec![f64::INFINITY; flows.len()];
        let mut frozen = vec![false; flows.len()];
        let mut spare = self.capacity.clone();
        // The flows crossing each link, as one flat array cut by `first`.
        let mut count = vec![0u32; links];
        for f in &flows {
            for &l in &f.links {
                count[l as usize] += 1;
            }
        }
        let mut first = Vec::with_capacity(links + 1);
        let mut total = 0usize;
        for &c in &count {
            first.push(total);
            total += c as usize;
        }
        first.push(total);
        let mut crossing = vec![0usize; total];
        let mut filled = first.clone();
        for (i, f) in flows.iter().enumerate() {
            for &l in &f.links {
                crossing[filled[l as usize]] = i;
                filled[l as usize] += 1;
            }
        }

        let share = |spare: f64, count: u32| Share(spare.max(0.0) / f64::from(count));
        let mut key: Vec<Option<Share>> = vec![None; links];
        let mut queue = BinaryHeap::with_capacity(links);
        for l in 0..links {
            if count[l] > 0 {
                let k = share(spare[l], count[l]);
                key[l] = Some(k);
                queue.push(Reverse((k, l)));
            }
        }
        let mut touched: Vec<usize> = Vec::new();
        let mut is_touched = vec![false; links];
        while let Some(Reverse((k, bottleneck))) = queue.pop() {
            if key[bottleneck] != Some(k) {
                continue;
            }
            key[bottleneck] = None;
            let level = k.0;
            for &i in &crossing[first[bottleneck]..first[bottleneck + 1]] {
                if frozen[i] {
                    continue;
                }
                frozen[i] = true;
                rate[i] = level;
                for &m in &flows[i].links {
                    let m = m as usize;
                    // A flow on links of infinite capacity only takes an
                    // infinite rate; ∞ − ∞ must not poison its links.
                    if level.is_finite() {
                        spare[m] -= level;
                    }
                    count[m] -= 1;
                    if key[m].is_some() && !is_touched[m] {
                        is_touched[m] = true;
                        touched.push(m);
                    }
                }
            }
            for m in touched.drain(..) {
                is_touched[m] = false;
                if count[m] == 0 {
                    key[m] = None;
                } else {
                    let k = share(spare[m], count[m]);
                    if key[m] != Some(k) {
                        key[m] = Some(k);
                        queue.push(Reverse((k, m)));
                    }
                }
            }
        }
        rate
    }
}
