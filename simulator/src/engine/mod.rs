//! The discrete-event core: an event queue in virtual time and the seeded
//! random streams every entity draws from.
//!
//! Determinism is the point of the simulator (same scenario + seed ⇒ the same
//! report and pcap, byte for byte, on any machine), so two things here are
//! fixed by construction rather than by luck: events due at the same instant
//! come out in the order they were pushed, and every random stream is derived
//! from the seed by arithmetic of our own (not `std`'s `DefaultHasher`, whose
//! output may change between Rust releases).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::hash::{BuildHasherDefault, Hasher};

use pxelab_reference::Instant;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Width of one wheel slot as a power of two of nanoseconds (1.024 µs): about
/// the spacing of frames in a large storm, so a slot holds a handful of events.
const SLOT_SHIFT: u32 = 10;
/// Slots on the wheel (about 4.2 ms of virtual time): frames in flight (link
/// latency, serialisation) fall within it; timers of seconds wait in `far`.
const WHEEL: usize = 4096;
const WHEEL_WORDS: usize = WHEEL / 64;

/// A pending event with its key. Ordered (for `far`, a max-heap) so that the
/// earliest `(at, seq)` is the greatest; the sequence is unique, so the event
/// never decides.
struct Entry<E> {
    at: Instant,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

fn slot_of(at: Instant) -> u64 {
    at.as_nanos() >> SLOT_SHIFT
}

/// The event queue: events leave by (virtual time, insertion sequence).
///
/// The sequence number makes events due at the same instant leave in the
/// order they were pushed (FIFO), so a run never depends on the queue's
/// internal layout.
///
/// Why not one binary heap: a 100,000-client storm keeps hundreds of
/// thousands of events pending, and every pop of a heap that size walked
/// about twenty cache lines (the heap's pop was the largest item of the
/// profile). Nearly every event is a frame due within a few hundred
/// microseconds, so the queue is a timing wheel of ~1 µs slots: a push
/// appends to its slot's bucket, and when the earliest slot comes up its few
/// events are sorted by `(at, seq)` once. Events beyond the wheel's reach
/// (timers) wait in a heap and move onto the wheel as it turns. The order out
/// is exactly the heap's: the earliest slot holds the earliest events.
pub struct Queue<E> {
    /// The events of slot `cur` (and any pushed for an earlier slot), sorted
    /// latest first: the next event is the last. Never empty while the queue
    /// holds an event.
    current: Vec<Entry<E>>,
    /// The slot `current` holds.
    cur: u64,
    /// Slots `cur + 1 .. cur + WHEEL`, each at index `slot % WHEEL`, unsorted.
    wheel: Vec<Vec<Entry<E>>>,
    /// Which buckets of `wheel` hold events.
    occupied: [u64; WHEEL_WORDS],
    /// Events in `wheel`.
    in_wheel: usize,
    /// Events at slot `cur + WHEEL` or later.
    far: BinaryHeap<Entry<E>>,
    len: usize,
    next_seq: u64,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> std::fmt::Debug for Queue<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.len)
            .field("next", &self.peek_time())
            .finish()
    }
}

impl<E> Queue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Queue {
            current: Vec::new(),
            cur: 0,
            wheel: (0..WHEEL).map(|_| Vec::new()).collect(),
            occupied: [0; WHEEL_WORDS],
            in_wheel: 0,
            far: BinaryHeap::new(),
            len: 0,
            next_seq: 0,
        }
    }

    /// Schedules `e` at `at`, after every event already queued for `at`.
    pub fn push(&mut self, at: Instant, e: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Entry { at, seq, event: e };
        if self.len == 0 {
            // Nothing pending: the wheel may jump to this event's slot.
            self.cur = slot_of(at);
            self.current.push(entry);
        } else {
            self.place(entry);
        }
        self.len += 1;
    }

    /// Files an entry where it belongs given the current slot.
    fn place(&mut self, entry: Entry<E>) {
        let slot = slot_of(entry.at);
        if slot <= self.cur {
            // Sorted latest first; a new entry's sequence is the highest, so
            // it goes after everything due at its instant or later.
            let i = self.current.partition_point(|e| e.at > entry.at);
            self.current.insert(i, entry);
        } else if slot - self.cur < WHEEL as u64 {
            let b = (slot % WHEEL as u64) as usize;
            self.wheel[b].push(entry);
            self.occupied[b / 64] |= 1 << (b % 64);
            self.in_wheel += 1;
        } else {
            self.far.push(entry);
        }
    }

    /// The earliest event (the first pushed among equal times).
    pub fn pop(&mut self) -> Option<(Instant, E)> {
        let entry = self.current.pop()?;
        self.len -= 1;
        if self.current.is_empty() && self.len > 0 {
            self.advance();
        }
        Some((entry.at, entry.event))
    }

    /// Turns the wheel to the next slot holding events (`current` is empty).
    fn advance(&mut self) {
        if self.in_wheel > 0 {
            let b = self.next_occupied((self.cur + 1) % WHEEL as u64);
            let distance = (b as u64 + WHEEL as u64 - self.cur % WHEEL as u64) % WHEEL as u64;
            self.cur += distance;
            std::mem::swap(&mut self.current, &mut self.wheel[b]);
            self.occupied[b / 64] &= !(1 << (b % 64));
            self.in_wheel -= self.current.len();
        } else if let Some(first) = self.far.peek() {
            self.cur = slot_of(first.at);
        } else {
            return;
        }
        // Events that the turn brought within the wheel's reach.
        while let Some(first) = self.far.peek()
            && slot_of(first.at) - self.cur < WHEEL as u64
        {
            let Some(entry) = self.far.pop() else { break };
            if slot_of(entry.at) == self.cur {
                self.current.push(entry);
            } else {
                self.place(entry);
            }
        }
        self.current
            .sort_unstable_by_key(|e| std::cmp::Reverse((e.at, e.seq)));
    }

    /// The first occupied bucket at or after `from`, going round the wheel.
    /// Only called when one exists.
    fn next_occupied(&self, from: u64) -> usize {
        let from = from as usize;
        let (w, bit) = (from / 64, from % 64);
        let first = self.occupied[w] & (u64::MAX << bit);
        if first != 0 {
            return w * 64 + first.trailing_zeros() as usize;
        }
        for k in 1..=WHEEL_WORDS {
            let i = (w + k) % WHEEL_WORDS;
            let word = if i == w {
                // Back round to the starting word: only the bits before `from`.
                self.occupied[i] & !(u64::MAX << bit)
            } else {
                self.occupied[i]
            };
            if word != 0 {
                return i * 64 + word.trailing_zeros() as usize;
            }
        }
        from
    }

    /// When the earliest event is due.
    pub fn peek_time(&self) -> Option<Instant> {
        self.current.last().map(|e| e.at)
    }

    /// How many events are pending.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A `HashMap` for lookups by small keys (ports, addresses, timers): std's
/// SipHash was a few percent of a storm's profile, spent guarding against
/// hash flooding that a simulation of its own scenario cannot meet. Such maps
/// must never be iterated: their order is not part of any promise.
pub type LookupMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<MixHasher>>;

/// A multiply-and-rotate hasher for [`LookupMap`]: each word is folded in
/// with one multiplication by an odd constant (the 64-bit golden ratio), which
/// spreads consecutive ids and addresses over the table.
#[derive(Default, Clone, Copy)]
pub struct MixHasher(u64);

impl MixHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(26) ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        // The table takes its bucket from the low bits: fold the high half in.
        self.0 ^ (self.0 >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

/// One step of splitmix64 (Steele, Lea, Flood 2014): a fixed, well-mixed
/// bijection, so nearby seeds and indexes give unrelated streams.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 64-bit FNV-1a of `bytes`: a stable hash of a label.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// One independent, stable random stream per entity, derived from the
/// scenario seed, a label (e.g. `"fleet:lab"`) and an index (the client's
/// number in its fleet).
///
/// Giving each entity its own stream keeps a run stable under edits: adding a
/// server to a scenario does not shift the MACs or power-on times of a fleet.
/// The derivation (FNV-1a of the label, splitmix64 mixing, ChaCha8 keyed with
/// the 32 resulting bytes) is part of the reproducibility promise: changing it
/// changes every recorded run, which the tests catch.
pub fn stream(seed: u64, label: &str, index: u64) -> ChaCha8Rng {
    let mut st = seed;
    let a = splitmix64(&mut st);
    let mut st = a ^ fnv1a(label.as_bytes());
    let b = splitmix64(&mut st);
    let mut st = b ^ index;
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut st).to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngExt};

    #[test]
    fn pops_in_time_order_and_fifo_among_equal_times() {
        let mut q = Queue::new();
        q.push(Instant::from_millis(5), "late");
        q.push(Instant::from_millis(1), "a");
        q.push(Instant::from_millis(1), "b");
        q.push(Instant::ZERO, "first");
        q.push(Instant::from_millis(1), "c");
        assert_eq!(q.len(), 5);
        assert_eq!(q.peek_time(), Some(Instant::ZERO));
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["first", "a", "b", "c", "late"]);
        assert!(q.is_empty());
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn fifo_holds_for_many_equal_times_pushed_interleaved() {
        let mut q = Queue::new();
        for i in 0..1000u32 {
            q.push(Instant::from_nanos(u64::from(i % 3)), i);
        }
        let mut last = (Instant::ZERO, 0u32);
        let mut first = true;
        while let Some((at, i)) = q.pop() {
            if !first && at == last.0 {
                assert!(i > last.1, "{i} after {} at {at}", last.1);
            }
            assert!(first || at >= last.0);
            first = false;
            last = (at, i);
        }
    }

    /// The wheel against the plain definition (sort by time, then by push
    /// order) on a mix of what a run does: bursts at the same instant, frames
    /// microseconds ahead, timers seconds ahead, pushes for instants before
    /// the current slot, and a queue that runs dry and refills.
    #[test]
    fn matches_a_sorted_model_on_mixed_pushes_and_pops() {
        let mut rng = stream(7, "engine:test", 0);
        let mut q = Queue::new();
        let mut model = std::collections::BTreeSet::new();
        let mut now = 0u64;
        let mut pushed = 0u64;
        for round in 0..200_000u32 {
            let pushes = if round % 5000 == 0 {
                40
            } else {
                rng.random_range(0..3)
            };
            for _ in 0..pushes {
                let ahead = match rng.random_range(0..10) {
                    0 => 0,
                    1 => rng.random_range(0..1024),
                    2..=6 => rng.random_range(0..300_000),
                    7 => rng.random_range(0..20_000_000),
                    8 => rng.random_range(0..5_000_000_000),
                    _ => rng.random_range(0..2048) * 1024,
                };
                let at = Instant::from_nanos(now + ahead);
                q.push(at, pushed);
                model.insert((at, pushed));
                pushed += 1;
            }
            if rng.random_range(0..3) != 0 {
                let want = model.pop_first();
                assert_eq!(q.peek_time(), want.map(|(at, _)| at));
                let got = q.pop();
                assert_eq!(got, want, "round {round}");
                if let Some((at, _)) = got {
                    now = at.as_nanos();
                }
            }
            assert_eq!(q.len(), model.len());
        }
        let rest: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(rest, model.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn streams_are_stable_across_releases() {
        // A change of derivation changes every recorded run: this must fail then.
        assert_eq!(stream(1, "fleet:lab", 0).next_u64(), 0xf847_2d0f_7cfc_8830);
    }

    #[test]
    fn splitmix64_matches_the_published_sequence() {
        // First outputs of splitmix64 seeded with 0 (Vigna's reference code).
        let mut st = 0;
        assert_eq!(splitmix64(&mut st), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(&mut st), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn streams_differ_by_seed_label_and_index_and_repeat() {
        let first = |s, l, i| stream(s, l, i).next_u64();
        let base = first(42, "fleet:lab", 7);
        assert_eq!(base, first(42, "fleet:lab", 7));
        assert_ne!(base, first(43, "fleet:lab", 7));
        assert_ne!(base, first(42, "fleet:prod", 7));
        assert_ne!(base, first(42, "fleet:lab", 8));
        assert_ne!(first(0, "", 0), first(0, "", 1));
    }
}
