//! The sending side of a multicast imaging session.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use super::{block_count, block_len_at, blocks_in_slice, slice_count};
use crate::Instant;
use crate::deploy::ImageSource;
use crate::net::{Datagram, L2Dest, Mac, Transmit};
use crate::wire::ParseMode;
use crate::wire::agent::ImageRef;
use crate::wire::multicast::{
    Announce, BlockMap, DATA_HEADER_LEN, DEFAULT_BLOCK_LEN, DEFAULT_CONTROL_PORT,
    DEFAULT_DATA_PORT, DEFAULT_GROUP, DEFAULT_SLICE_BLOCKS, Data, MAX_BLOCK_LEN, MAX_NAME_LEN,
    MAX_RECEIVERS, MAX_SLICE_BLOCKS, MIN_BLOCK_LEN, Message, Nak, Packet, SliceEnd, SliceOk,
    group_mac,
};

/// How a sender runs its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// The session id in every datagram. The caller chooses it (the machine
    /// draws no randomness): a different id per session, so that a receiver of
    /// an earlier or a restarted session never takes these blocks for its own.
    pub session: u32,
    /// The sender's own address and control port ([`DEFAULT_CONTROL_PORT`]):
    /// the source of everything it sends, where receivers answer. An IP of
    /// `0.0.0.0` means the interface's own.
    pub control: SocketAddrV4,
    /// The multicast group and port everything the sender says goes to.
    pub group: SocketAddrV4,
    /// Bytes per block ([`MIN_BLOCK_LEN`]..=[`MAX_BLOCK_LEN`]; default 1456, one
    /// 1500-byte MTU).
    pub block_len: u16,
    /// Blocks per slice (1..=[`MAX_SLICE_BLOCKS`]): how much is sent between
    /// two rounds of reports. Larger slices keep the link busier; smaller ones
    /// bound what a receiver must track and what a repair round re-sends.
    pub slice_blocks: u16,
    /// Start as soon as this many receivers joined (at least 1).
    pub min_receivers: usize,
    /// Start anyway this long after the first Join with whoever joined; a
    /// session nobody joins ends this long after its first Announce.
    pub max_wait: Duration,
    /// Time between two Announces while gathering.
    pub announce_interval: Duration,
    /// How long after a SliceEnd the sender waits for every receiver's report
    /// before it asks again.
    pub report_timeout: Duration,
    /// A receiver silent for this many SliceEnds in a row is dropped.
    pub max_silent_rounds: u32,
    /// Repair rounds one slice may take; receivers still missing blocks after
    /// them are dropped.
    pub max_rounds: u16,
    /// Time between two Data datagrams (zero: as fast as they are polled). A
    /// real driver sets it from the link rate: a switch drops what it cannot
    /// buffer, and every drop costs a repair round.
    pub packet_interval: Duration,
    /// Copies of Done sent at the end (it is not acknowledged; a receiver that
    /// misses every copy still ends by its own timers).
    pub done_copies: u8,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            session: 1,
            control: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, DEFAULT_CONTROL_PORT),
            group: SocketAddrV4::new(DEFAULT_GROUP, DEFAULT_DATA_PORT),
            block_len: DEFAULT_BLOCK_LEN,
            slice_blocks: DEFAULT_SLICE_BLOCKS,
            min_receivers: 1,
            max_wait: Duration::from_secs(60),
            announce_interval: Duration::from_secs(1),
            report_timeout: Duration::from_millis(500),
            max_silent_rounds: 5,
            max_rounds: 100,
            packet_interval: Duration::ZERO,
            done_copies: 3,
        }
    }
}

/// Bytes a Data datagram of `block_len` bytes occupies on Ethernet: the block,
/// the protocol's 14-byte Data header, UDP (8) and IPv4 (20) headers, the
/// Ethernet header and FCS (18), and the preamble and inter-frame gap (20)
/// that also take link time.
pub fn data_frame_bytes(block_len: u16) -> u64 {
    u64::from(block_len) + DATA_HEADER_LEN as u64 + 8 + 20 + 18 + 20
}

/// The [`SenderConfig::packet_interval`] that sends Data at `bits_per_second`
/// on Ethernet (whole frames counted, see [`data_frame_bytes`]); zero for a
/// zero rate (unpaced). At 1 Gb/s and the default block: 12.288 µs.
pub fn packet_interval_for(bits_per_second: u64, block_len: u16) -> Duration {
    if bits_per_second == 0 {
        return Duration::ZERO;
    }
    let bits = u128::from(data_frame_bytes(block_len)) * 8;
    let nanos = (bits * 1_000_000_000).div_ceil(u128::from(bits_per_second));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// A sender configuration (or image) the protocol cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `block_len` outside [`MIN_BLOCK_LEN`]..=[`MAX_BLOCK_LEN`].
    #[error("block_len {0} is outside the allowed {MIN_BLOCK_LEN}..={MAX_BLOCK_LEN} bytes")]
    BlockLen(u16),
    /// `slice_blocks` outside 1..=[`MAX_SLICE_BLOCKS`].
    #[error("slice_blocks {0} is outside the allowed 1..={MAX_SLICE_BLOCKS}")]
    SliceBlocks(u16),
    /// `min_receivers` outside 1..=[`MAX_RECEIVERS`].
    #[error("min_receivers {0} is outside the allowed 1..={MAX_RECEIVERS}")]
    MinReceivers(usize),
    /// The group is not an IPv4 multicast address.
    #[error("{0} is not a multicast group (224.0.0.0/4); use e.g. 239.255.80.88")]
    NotMulticast(Ipv4Addr),
    /// The image name is empty or longer than 255 bytes.
    #[error("image name of {0} bytes is outside the allowed 1..={MAX_NAME_LEN}")]
    ImageName(usize),
    /// More slices than a u32 numbers: use larger blocks or slices.
    #[error("an image of {size} bytes needs more than 2^32 slices at this geometry")]
    ImageTooLarge {
        /// The image's size.
        size: u64,
    },
    /// A zero timer would make the machine spin.
    #[error("{0} must be longer than zero")]
    ZeroTimer(&'static str),
    /// A round limit of zero would drop every receiver before it could answer.
    #[error("{0} must be at least 1")]
    ZeroLimit(&'static str),
}

/// Why gathering ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StartTrigger {
    /// `min_receivers` joined.
    MinReceivers,
    /// `max_wait` passed since the first Join.
    MaxWait,
    /// [`MAX_RECEIVERS`] joined: one Start cannot list more.
    Full,
}

/// Why a receiver was dropped from the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// It did not answer this many SliceEnds in a row.
    Silent {
        /// Rounds without an answer.
        rounds: u32,
    },
    /// It still missed blocks after the slice's last allowed round.
    TooManyRounds {
        /// Rounds the slice took.
        rounds: u16,
    },
}

/// Why a session ended without imaging anyone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SenderFailure {
    /// Nobody joined within `max_wait` of the first Announce.
    #[error(
        "no receivers joined within max_wait; are the machines booted into the imaging agent, and is the group reachable?"
    )]
    NoReceivers,
    /// Every receiver was dropped.
    #[error("every receiver was dropped; the session has nobody left to send to")]
    AllReceiversLost,
    /// The image source returned fewer bytes than the image's size says.
    #[error(
        "image {image:?} could not be read at offset {offset}: the image store returned fewer bytes than its size"
    )]
    ImageUnreadable {
        /// The image.
        image: String,
        /// Where the read came up short.
        offset: u64,
    },
}

/// Datagrams a sender sent, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// Data datagrams, first passes and repairs together.
    pub data_packets: u64,
    /// Of those, the ones sent in a repair round.
    pub repair_packets: u64,
    /// SliceEnds.
    pub slice_ends: u64,
    /// Announces.
    pub announces: u64,
    /// Datagrams received that were not this session's protocol (ignored).
    pub ignored: u64,
}

/// What a sender reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderEvent {
    /// A receiver joined.
    Joined {
        /// Its MAC.
        mac: Mac,
        /// Where its Join came from.
        from: SocketAddrV4,
    },
    /// A receiver asked to join after the start; the Start was sent again so
    /// it learns it is not part of this session.
    LateJoin {
        /// Its MAC.
        mac: Mac,
    },
    /// Gathering is over; these receivers are the session.
    Started {
        /// The receivers the sender waits for.
        receivers: Vec<Mac>,
        /// Why it started now.
        trigger: StartTrigger,
    },
    /// Every remaining receiver has a slice.
    SliceCompleted {
        /// The slice.
        slice: u32,
        /// Rounds it took (1: no repair).
        rounds: u16,
    },
    /// A receiver no longer holds up the session.
    ReceiverDropped {
        /// Its MAC.
        mac: Mac,
        /// The slice in progress.
        slice: u32,
        /// Why.
        reason: DropReason,
    },
    /// The whole image went out and every remaining receiver has it; Done sent.
    Finished {
        /// Receivers that confirmed every slice.
        receivers: Vec<Mac>,
        /// Receivers dropped on the way.
        dropped: Vec<Mac>,
        /// Datagrams sent.
        stats: SenderStats,
        /// From Start to Done.
        duration: Duration,
    },
    /// The session ended without imaging anyone.
    Failed {
        /// Why.
        reason: SenderFailure,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Gathering,
    Sending,
    Finished,
}

#[derive(Debug)]
struct Member {
    addr: SocketAddrV4,
    silent_rounds: u32,
}

/// Where the current slice stands.
#[derive(Debug)]
struct SliceState {
    slice: u32,
    blocks: u16,
    round: u16,
    /// Blocks still to send this round.
    to_send: VecDeque<u16>,
    /// The SliceEnd that closes this round is still to send.
    end_pending: bool,
    /// When the reports for this round are due (set once SliceEnd is out).
    reports_due: Option<Instant>,
    /// Receivers that have the whole slice.
    ok: BTreeSet<Mac>,
    /// Receivers that NAKed this round.
    naked: BTreeSet<Mac>,
    /// The union of their NAKs: next round's blocks.
    missing: BlockMap,
}

/// One multicast session, sender side: announce, gather, send slice by slice,
/// repair the union of what was NAKed, end with Done. See the [module
/// docs](super) for the flow and its bounds.
pub struct MulticastSender {
    cfg: SenderConfig,
    image: ImageRef,
    total_blocks: u64,
    slices: u32,
    phase: Phase,
    now: Instant,
    created: Instant,
    first_join: Option<Instant>,
    next_announce: Instant,
    started: Option<Instant>,
    /// Start was last re-sent for a late joiner at (rate limit).
    last_start_resend: Option<Instant>,
    members: BTreeMap<Mac, Member>,
    dropped: Vec<Mac>,
    slice: Option<SliceState>,
    next_data_at: Instant,
    control: VecDeque<Transmit>,
    events: VecDeque<SenderEvent>,
    stats: SenderStats,
}

impl fmt::Debug for MulticastSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MulticastSender")
            .field("session", &self.cfg.session)
            .field("image", &self.image.name)
            .field("phase", &self.phase)
            .field("members", &self.members.len())
            .field("slice", &self.slice.as_ref().map(|s| (s.slice, s.round)))
            .finish_non_exhaustive()
    }
}

impl MulticastSender {
    /// A session for `image`, announcing from `now`: the first Announce is
    /// ready in [`poll_transmit`](Self::poll_transmit).
    pub fn new(cfg: SenderConfig, image: ImageRef, now: Instant) -> Result<Self, ConfigError> {
        if !(MIN_BLOCK_LEN..=MAX_BLOCK_LEN).contains(&cfg.block_len) {
            return Err(ConfigError::BlockLen(cfg.block_len));
        }
        if cfg.slice_blocks == 0 || cfg.slice_blocks > MAX_SLICE_BLOCKS {
            return Err(ConfigError::SliceBlocks(cfg.slice_blocks));
        }
        if cfg.min_receivers == 0 || cfg.min_receivers > MAX_RECEIVERS {
            return Err(ConfigError::MinReceivers(cfg.min_receivers));
        }
        if !cfg.group.ip().is_multicast() {
            return Err(ConfigError::NotMulticast(*cfg.group.ip()));
        }
        if image.name.is_empty() || image.name.len() > MAX_NAME_LEN {
            return Err(ConfigError::ImageName(image.name.len()));
        }
        for (name, d) in [
            ("announce_interval", cfg.announce_interval),
            ("report_timeout", cfg.report_timeout),
            ("max_wait", cfg.max_wait),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroTimer(name));
            }
        }
        if cfg.max_silent_rounds == 0 {
            return Err(ConfigError::ZeroLimit("max_silent_rounds"));
        }
        if cfg.max_rounds == 0 {
            return Err(ConfigError::ZeroLimit("max_rounds"));
        }
        let total_blocks = block_count(image.size, cfg.block_len);
        let slices = u32::try_from(slice_count(total_blocks, cfg.slice_blocks))
            .map_err(|_| ConfigError::ImageTooLarge { size: image.size })?;
        let mut s = MulticastSender {
            cfg,
            image,
            total_blocks,
            slices,
            phase: Phase::Gathering,
            now,
            created: now,
            first_join: None,
            next_announce: now,
            started: None,
            last_start_resend: None,
            members: BTreeMap::new(),
            dropped: Vec::new(),
            slice: None,
            next_data_at: now,
            control: VecDeque::new(),
            events: VecDeque::new(),
            stats: SenderStats::default(),
        };
        s.announce();
        Ok(s)
    }

    /// The session id.
    pub fn session(&self) -> u32 {
        self.cfg.session
    }

    /// Datagrams sent so far.
    pub fn stats(&self) -> SenderStats {
        self.stats
    }

    /// Receivers in the session now (joined and not dropped).
    pub fn receivers(&self) -> Vec<Mac> {
        self.members.keys().copied().collect()
    }

    /// Whether the session is over (Done sent, or failed). Drain
    /// [`poll_transmit`](Self::poll_transmit) (the Done copies) and
    /// [`poll_event`](Self::poll_event) first.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// A datagram on the control port: a Join, Nak or Ok. Anything else, and
    /// anything of another session, is ignored.
    pub fn handle_datagram(&mut self, now: Instant, dgram: Datagram<'_>) {
        self.advance_clock(now);
        let packet = match Packet::parse(dgram.payload, ParseMode::Lax) {
            Ok(p) if p.session == self.cfg.session => p,
            _ => {
                self.stats.ignored += 1;
                return;
            }
        };
        match packet.message {
            Message::Join(mac) => self.on_join(mac, dgram.src),
            Message::Nak(nak) => self.on_nak(nak),
            Message::SliceOk(ok) => self.on_ok(ok),
            _ => self.stats.ignored += 1,
        }
    }

    /// Time passed: announce, start at `max_wait`, or give up on the reports
    /// of a round.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance_clock(now);
        match self.phase {
            Phase::Gathering => {
                if let Some(first) = self.first_join {
                    if now >= first + self.cfg.max_wait {
                        self.start(StartTrigger::MaxWait);
                        return;
                    }
                } else if now >= self.created + self.cfg.max_wait {
                    self.fail(SenderFailure::NoReceivers);
                    return;
                }
                if now >= self.next_announce {
                    self.announce();
                }
            }
            Phase::Sending => {
                let due = self
                    .slice
                    .as_ref()
                    .and_then(|s| s.reports_due)
                    .is_some_and(|due| now >= due);
                if due {
                    self.reports_timed_out();
                }
            }
            Phase::Finished => {}
        }
    }

    /// The next datagram to send. Data is read from `images` here, one block
    /// at a time; an image that reads short ends the session
    /// ([`SenderFailure::ImageUnreadable`]).
    pub fn poll_transmit(&mut self, images: &dyn ImageSource) -> Option<Transmit> {
        if let Some(t) = self.control.pop_front() {
            return Some(t);
        }
        if self.phase != Phase::Sending {
            return None;
        }
        let pace = self.cfg.packet_interval;
        let s = self.slice.as_mut()?;
        if let Some(&block) = s.to_send.front() {
            if !pace.is_zero() && self.next_data_at > self.now {
                return None;
            }
            s.to_send.pop_front();
            let (slice, round) = (s.slice, s.round);
            let index = u64::from(slice) * u64::from(self.cfg.slice_blocks) + u64::from(block);
            let offset = index * u64::from(self.cfg.block_len);
            let len = block_len_at(self.image.size, self.cfg.block_len, index);
            let mut payload = vec![0; len];
            if images.read(&self.image.name, offset, &mut payload) != len {
                let image = self.image.name.clone();
                self.fail(SenderFailure::ImageUnreadable { image, offset });
                return self.control.pop_front();
            }
            if !pace.is_zero() {
                self.next_data_at = self.next_data_at.max(self.now - pace) + pace;
            }
            self.stats.data_packets += 1;
            if round > 0 {
                self.stats.repair_packets += 1;
            }
            let data = Message::Data(Data {
                slice,
                block,
                payload,
            });
            return self.to_group(data);
        }
        if s.end_pending {
            s.end_pending = false;
            s.reports_due = Some(self.now + self.cfg.report_timeout);
            let end = Message::SliceEnd(SliceEnd {
                slice: s.slice,
                round: s.round,
                blocks: s.blocks,
            });
            self.stats.slice_ends += 1;
            return self.to_group(end);
        }
        None
    }

    /// When [`handle_timeout`](Self::handle_timeout) should run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Gathering => {
                let wait_until = self.first_join.unwrap_or(self.created) + self.cfg.max_wait;
                Some(self.next_announce.min(wait_until))
            }
            Phase::Sending => {
                let s = self.slice.as_ref()?;
                if !s.to_send.is_empty() && !self.cfg.packet_interval.is_zero() {
                    Some(self.next_data_at)
                } else {
                    s.reports_due
                }
            }
            Phase::Finished => None,
        }
    }

    /// The next event to report.
    pub fn poll_event(&mut self) -> Option<SenderEvent> {
        self.events.pop_front()
    }

    fn advance_clock(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    fn to_group(&self, message: Message) -> Option<Transmit> {
        let payload = Packet::new(self.cfg.session, message).to_bytes().ok()?;
        Some(Transmit {
            src: self.cfg.control,
            dst: self.cfg.group,
            l2: L2Dest::Unicast(group_mac(*self.cfg.group.ip())),
            payload,
        })
    }

    fn queue_to_group(&mut self, message: Message) {
        if let Some(t) = self.to_group(message) {
            self.control.push_back(t);
        }
    }

    fn announce(&mut self) {
        let announce = Message::Announce(Announce {
            image_name: self.image.name.clone(),
            image_size: self.image.size,
            sha256: self.image.sha256,
            block_len: self.cfg.block_len,
            slice_blocks: self.cfg.slice_blocks,
        });
        self.queue_to_group(announce);
        self.stats.announces += 1;
        self.next_announce = self.now + self.cfg.announce_interval;
    }

    fn on_join(&mut self, mac: Mac, from: SocketAddrV4) {
        match self.phase {
            Phase::Gathering => {
                if let Some(m) = self.members.get_mut(&mac) {
                    // A Join repeated per Announce; it may come from a new address.
                    m.addr = from;
                    return;
                }
                self.members.insert(
                    mac,
                    Member {
                        addr: from,
                        silent_rounds: 0,
                    },
                );
                self.first_join.get_or_insert(self.now);
                self.events.push_back(SenderEvent::Joined { mac, from });
                if self.members.len() >= MAX_RECEIVERS {
                    self.start(StartTrigger::Full);
                } else if self.members.len() >= self.cfg.min_receivers {
                    self.start(StartTrigger::MinReceivers);
                }
            }
            Phase::Sending => {
                if self.members.contains_key(&mac) {
                    // A member that missed the Start; the first Data tells it.
                    return;
                }
                self.events.push_back(SenderEvent::LateJoin { mac });
                let recent = self
                    .last_start_resend
                    .is_some_and(|at| self.now < at + self.cfg.report_timeout);
                if !recent {
                    self.last_start_resend = Some(self.now);
                    self.queue_to_group(Message::Start(self.receivers()));
                }
            }
            Phase::Finished => {}
        }
    }

    fn on_nak(&mut self, nak: Nak) {
        if self.phase != Phase::Sending || !self.members.contains_key(&nak.receiver) {
            self.stats.ignored += 1;
            return;
        }
        let Some(s) = self.slice.as_mut() else {
            return;
        };
        // Only a report on this round: an older NAK was served by this round's
        // re-sends already.
        let current = nak.slice == s.slice
            && nak.round == s.round
            && s.reports_due.is_some()
            && nak.missing.len() == s.blocks;
        if !current {
            self.stats.ignored += 1;
            return;
        }
        if nak.missing.is_clear() {
            s.ok.insert(nak.receiver);
        } else {
            s.missing.union_with(&nak.missing);
            s.naked.insert(nak.receiver);
        }
        if let Some(m) = self.members.get_mut(&nak.receiver) {
            m.silent_rounds = 0;
        }
        self.maybe_next_round();
    }

    fn on_ok(&mut self, ok: SliceOk) {
        if self.phase != Phase::Sending || !self.members.contains_key(&ok.receiver) {
            self.stats.ignored += 1;
            return;
        }
        let Some(s) = self.slice.as_mut() else {
            return;
        };
        // An Ok is final, so it counts from any round of this slice.
        if ok.slice != s.slice {
            self.stats.ignored += 1;
            return;
        }
        s.ok.insert(ok.receiver);
        s.naked.remove(&ok.receiver);
        if let Some(m) = self.members.get_mut(&ok.receiver) {
            m.silent_rounds = 0;
        }
        self.maybe_next_round();
    }

    /// Moves on once every member has reported on this round.
    fn maybe_next_round(&mut self) {
        let Some(s) = self.slice.as_ref() else {
            return;
        };
        let all_reported = s.reports_due.is_some()
            && self
                .members
                .keys()
                .all(|m| s.ok.contains(m) || s.naked.contains(m));
        if all_reported {
            self.next_round();
        }
    }

    /// The round's reports are overdue: count the silent, drop the hopeless.
    fn reports_timed_out(&mut self) {
        let Some(s) = self.slice.as_ref() else {
            return;
        };
        let slice = s.slice;
        let silent: Vec<Mac> = self
            .members
            .keys()
            .filter(|m| !s.ok.contains(m) && !s.naked.contains(m))
            .copied()
            .collect();
        for mac in silent {
            let Some(m) = self.members.get_mut(&mac) else {
                continue;
            };
            m.silent_rounds += 1;
            if m.silent_rounds >= self.cfg.max_silent_rounds {
                let rounds = m.silent_rounds;
                self.drop_member(mac, slice, DropReason::Silent { rounds });
            }
        }
        self.next_round();
    }

    fn drop_member(&mut self, mac: Mac, slice: u32, reason: DropReason) {
        if self.members.remove(&mac).is_some() {
            self.dropped.push(mac);
            self.events
                .push_back(SenderEvent::ReceiverDropped { mac, slice, reason });
        }
    }

    /// Next round of this slice, or the next slice once everyone has it.
    fn next_round(&mut self) {
        if self.members.is_empty() {
            self.fail(SenderFailure::AllReceiversLost);
            return;
        }
        let Some(s) = self.slice.as_mut() else {
            return;
        };
        let (slice, round) = (s.slice, s.round);
        if round.saturating_add(1) >= self.cfg.max_rounds {
            let behind: Vec<Mac> = self
                .members
                .keys()
                .filter(|m| !s.ok.contains(m))
                .copied()
                .collect();
            for mac in behind {
                let reason = DropReason::TooManyRounds { rounds: round + 1 };
                self.drop_member(mac, slice, reason);
            }
            if self.members.is_empty() {
                self.fail(SenderFailure::AllReceiversLost);
                return;
            }
        }
        let Some(s) = self.slice.as_mut() else {
            return;
        };
        if self.members.keys().all(|m| s.ok.contains(m)) {
            self.events.push_back(SenderEvent::SliceCompleted {
                slice,
                rounds: round + 1,
            });
            self.begin_slice(slice + 1);
            return;
        }
        s.round += 1;
        s.to_send = s.missing.iter().collect();
        s.end_pending = true;
        s.reports_due = None;
        s.naked.clear();
        s.missing.clear();
        if self.next_data_at < self.now {
            self.next_data_at = self.now;
        }
    }

    fn start(&mut self, trigger: StartTrigger) {
        self.phase = Phase::Sending;
        self.started = Some(self.now);
        let receivers = self.receivers();
        self.queue_to_group(Message::Start(receivers.clone()));
        self.events
            .push_back(SenderEvent::Started { receivers, trigger });
        self.next_data_at = self.now;
        self.begin_slice(0);
    }

    fn begin_slice(&mut self, slice: u32) {
        if slice >= self.slices {
            self.finish();
            return;
        }
        let blocks = blocks_in_slice(self.total_blocks, self.cfg.slice_blocks, slice);
        let Ok(missing) = BlockMap::new(blocks) else {
            // Unreachable: slice < slices means 1..=slice_blocks blocks.
            self.finish();
            return;
        };
        self.slice = Some(SliceState {
            slice,
            blocks,
            round: 0,
            to_send: (0..blocks).collect(),
            end_pending: true,
            reports_due: None,
            ok: BTreeSet::new(),
            naked: BTreeSet::new(),
            missing,
        });
        if self.next_data_at < self.now {
            self.next_data_at = self.now;
        }
    }

    fn finish(&mut self) {
        self.slice = None;
        for _ in 0..self.cfg.done_copies.max(1) {
            self.queue_to_group(Message::Done);
        }
        self.phase = Phase::Finished;
        let duration = self.now - self.started.unwrap_or(self.created);
        self.events.push_back(SenderEvent::Finished {
            receivers: self.receivers(),
            dropped: self.dropped.clone(),
            stats: self.stats,
            duration,
        });
    }

    fn fail(&mut self, reason: SenderFailure) {
        self.slice = None;
        self.phase = Phase::Finished;
        self.events.push_back(SenderEvent::Failed { reason });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_follows_the_link_rate() {
        // 1456 + 14 + 8 + 20 + 18 + 20 = 1536 bytes = 12288 bits.
        assert_eq!(data_frame_bytes(DEFAULT_BLOCK_LEN), 1536);
        assert_eq!(
            packet_interval_for(1_000_000_000, DEFAULT_BLOCK_LEN),
            Duration::from_nanos(12_288)
        );
        assert_eq!(
            packet_interval_for(100_000_000, DEFAULT_BLOCK_LEN),
            Duration::from_nanos(122_880)
        );
        assert_eq!(packet_interval_for(0, DEFAULT_BLOCK_LEN), Duration::ZERO);
        assert_eq!(
            packet_interval_for(1, MAX_BLOCK_LEN),
            Duration::from_secs(66_176)
        );
    }
}
