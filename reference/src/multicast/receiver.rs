//! The receiving side of a multicast imaging session.

use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use super::{block_count, block_len_at, blocks_in_slice, slice_count};
use crate::Instant;
use crate::agent::{BootDisk, DiskError};
use crate::net::{Datagram, L2Dest, Mac, Transmit};
use crate::wire::ParseMode;
use crate::wire::agent::ImageRef;
use crate::wire::multicast::{
    Announce, BlockMap, DEFAULT_DATA_PORT, Data, Message, Nak, Packet, SliceEnd, SliceOk,
};

/// Most blocks a receiver tracks (2^28: a 32 MiB bitmap, 256 GiB of image at
/// the smallest block): an Announce beyond it is refused rather than sizing an
/// allocation from a datagram.
pub const MAX_IMAGE_BLOCKS: u64 = 1 << 28;

/// How a receiver behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// The receiver's own address and port: the source of its Joins and
    /// reports. An IP of `0.0.0.0` means the interface's own.
    pub local: SocketAddrV4,
    /// The image to receive, by name; Announces of other images are ignored.
    pub image: String,
    /// How long to wait for the image to be announced (from creation, and
    /// again after a missed session) before giving up.
    pub announce_timeout: Duration,
    /// How long the sender may stay silent once this receiver has joined.
    /// Longer than the sender's `max_wait` would be safest; a sender announces
    /// every second while it gathers, so any few seconds do.
    pub silence_timeout: Duration,
    /// After the image verified, how long the receiver keeps answering
    /// SliceEnds with Ok (its last Ok may have been lost) while it waits for
    /// Done.
    pub linger: Duration,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            local: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, DEFAULT_DATA_PORT),
            image: String::new(),
            announce_timeout: Duration::from_secs(300),
            silence_timeout: Duration::from_secs(30),
            linger: Duration::from_secs(10),
        }
    }
}

/// What the receiver was waiting for when it gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Waiting {
    /// An Announce of the wanted image.
    Announce,
    /// The session to start (joined; the sender went quiet while gathering).
    Start,
    /// The rest of the image (the sender went quiet mid-session).
    Data,
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Waiting::Announce => "an announce of the image",
            Waiting::Start => "the session to start",
            Waiting::Data => "the rest of the image",
        })
    }
}

/// Why a receiver ended without a verified image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiverFailure {
    /// The announced image does not fit the OS partition (or is beyond
    /// [`MAX_IMAGE_BLOCKS`]); the receiver did not join.
    #[error(
        "image {image:?} of {size} bytes does not fit the {partition_len}-byte OS partition; nothing was written"
    )]
    ImageTooLarge {
        /// The image.
        image: String,
        /// Its size.
        size: u64,
        /// The partition's size.
        partition_len: u64,
    },
    /// Every block arrived but the partition's SHA-256 is not the image's.
    #[error("the written image does not match its SHA-256; the partition must not be booted")]
    ChecksumMismatch {
        /// The digest announced.
        expected: [u8; 32],
        /// The digest of what was written.
        actual: [u8; 32],
    },
    /// The sender finished (Done) while blocks were still missing: this
    /// receiver was dropped (it fell silent or too far behind).
    #[error("the sender finished with {missing} blocks still missing; this receiver was dropped")]
    Incomplete {
        /// Blocks never received.
        missing: u64,
    },
    /// The disk refused a write or the checksum read.
    #[error("disk error: {0}")]
    Disk(DiskError),
}

/// Datagrams a receiver handled and sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Blocks written to the disk.
    pub blocks_written: u64,
    /// Data datagrams for blocks it already had (a repair for someone else).
    pub duplicates: u64,
    /// NAKs sent.
    pub naks: u64,
    /// Oks sent.
    pub oks: u64,
    /// Datagrams not for this receiver, malformed, or inconsistent with the
    /// announced geometry (ignored).
    pub ignored: u64,
}

/// What a receiver reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverEvent {
    /// It heard the image announced and joined the session.
    Joined {
        /// The session.
        session: u32,
        /// The image as announced.
        image: ImageRef,
        /// The sender's control address.
        sender: SocketAddrV4,
    },
    /// The session started without it (it joined too late); it waits for the
    /// next Announce.
    MissedSession {
        /// The session.
        session: u32,
    },
    /// The session started with it.
    Started {
        /// The session.
        session: u32,
    },
    /// Every block is on the disk and the partition's SHA-256 is the image's.
    Verified {
        /// The image.
        image: ImageRef,
        /// The partition written.
        partition: usize,
    },
    /// It ended without a verified image.
    Failed {
        /// Why.
        reason: ReceiverFailure,
    },
    /// A bounded wait ran out.
    TimedOut {
        /// What it was waiting for.
        waiting_for: Waiting,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the wanted image's Announce until the deadline.
    Listening {
        deadline: Instant,
    },
    /// Joined; waiting for Start.
    Joined,
    /// Writing blocks.
    Receiving,
    /// Verified; answering Oks until Done or the deadline.
    Lingering {
        until: Instant,
    },
    Finished,
}

/// The session this receiver joined.
struct Session {
    id: u32,
    announce: Announce,
    sender: SocketAddrV4,
    sender_mac: Mac,
    partition: usize,
    total_blocks: u64,
    slices: u64,
    /// One bit per image block: received.
    received: Vec<u64>,
    have: u64,
    last_heard: Instant,
}

impl Session {
    fn has(&self, index: u64) -> bool {
        let word = usize::try_from(index / 64).unwrap_or(usize::MAX);
        self.received
            .get(word)
            .is_some_and(|w| w & (1 << (index % 64)) != 0)
    }

    fn set(&mut self, index: u64) {
        let word = usize::try_from(index / 64).unwrap_or(usize::MAX);
        if let Some(w) = self.received.get_mut(word) {
            *w |= 1 << (index % 64);
        }
    }

    fn image(&self) -> ImageRef {
        ImageRef {
            name: self.announce.image_name.clone(),
            size: self.announce.image_size,
            sha256: self.announce.sha256,
        }
    }

    fn is_complete(&self) -> bool {
        self.have >= self.total_blocks
    }
}

/// One machine's side of a multicast session: wait for the image's Announce,
/// join, write blocks as they come, report each slice, verify the SHA-256.
/// See the [module docs](super) for the flow and its bounds.
pub struct MulticastReceiver {
    cfg: ReceiverConfig,
    mac: Mac,
    phase: Phase,
    session: Option<Session>,
    queue: VecDeque<Transmit>,
    events: VecDeque<ReceiverEvent>,
    stats: ReceiverStats,
}

impl fmt::Debug for MulticastReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MulticastReceiver")
            .field("mac", &self.mac)
            .field("image", &self.cfg.image)
            .field("phase", &self.phase)
            .field("session", &self.session.as_ref().map(|s| s.id))
            .field("have", &self.session.as_ref().map(|s| s.have))
            .finish_non_exhaustive()
    }
}

impl MulticastReceiver {
    /// A receiver for `cfg.image`, identified by `mac` (the NIC it boots
    /// from), listening from `now`.
    pub fn new(cfg: ReceiverConfig, mac: Mac, now: Instant) -> Self {
        let deadline = now + cfg.announce_timeout;
        MulticastReceiver {
            cfg,
            mac,
            phase: Phase::Listening { deadline },
            session: None,
            queue: VecDeque::new(),
            events: VecDeque::new(),
            stats: ReceiverStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> ReceiverStats {
        self.stats
    }

    /// Whether the receiver is done (verified and released, failed, or timed
    /// out). Drain [`poll_event`](Self::poll_event) first.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// Blocks of the image received so far, and the image's total.
    pub fn progress(&self) -> Option<(u64, u64)> {
        self.session.as_ref().map(|s| (s.have, s.total_blocks))
    }

    /// A datagram from the group (or the sender). Blocks are written to the
    /// OS partition of `disk` as they arrive, so the receiver holds no image
    /// data of its own.
    pub fn handle_datagram(&mut self, now: Instant, dgram: Datagram<'_>, disk: &mut dyn BootDisk) {
        if self.phase == Phase::Finished {
            return;
        }
        let Ok(packet) = Packet::parse(dgram.payload, ParseMode::Lax) else {
            self.stats.ignored += 1;
            return;
        };
        if let Message::Announce(a) = packet.message {
            self.on_announce(now, packet.session, a, dgram, disk);
            return;
        }
        let ours = self
            .session
            .as_ref()
            .is_some_and(|s| s.id == packet.session && s.sender.ip() == dgram.src.ip());
        if !ours {
            self.stats.ignored += 1;
            return;
        }
        if let Some(s) = self.session.as_mut() {
            s.last_heard = now;
        }
        match packet.message {
            Message::Start(receivers) => self.on_start(now, &receivers, disk),
            Message::Data(d) => self.on_data(now, d, disk),
            Message::SliceEnd(e) => self.on_slice_end(now, e, disk),
            Message::Done => self.on_done(),
            _ => self.stats.ignored += 1,
        }
    }

    /// Time passed: one of the bounded waits may have run out.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        match self.phase {
            Phase::Listening { .. } => self.time_out(Waiting::Announce),
            Phase::Joined => self.time_out(Waiting::Start),
            Phase::Receiving => self.time_out(Waiting::Data),
            Phase::Lingering { .. } => self.phase = Phase::Finished,
            Phase::Finished => {}
        }
    }

    /// The next datagram to send (a Join, Nak or Ok, to the sender).
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.queue.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Listening { deadline } => Some(deadline),
            Phase::Joined | Phase::Receiving => self
                .session
                .as_ref()
                .map(|s| s.last_heard + self.cfg.silence_timeout),
            Phase::Lingering { until } => Some(until),
            Phase::Finished => None,
        }
    }

    /// The next event to report.
    pub fn poll_event(&mut self) -> Option<ReceiverEvent> {
        self.events.pop_front()
    }

    fn on_announce(
        &mut self,
        now: Instant,
        session: u32,
        a: Announce,
        dgram: Datagram<'_>,
        disk: &mut dyn BootDisk,
    ) {
        match self.phase {
            Phase::Listening { .. } if a.image_name == self.cfg.image => {}
            Phase::Joined => {
                // Announces repeat while the sender gathers: join again, in
                // case the first Join was lost.
                if let Some(s) = self.session.as_mut()
                    && s.id == session
                    && s.sender.ip() == dgram.src.ip()
                {
                    s.last_heard = now;
                    self.send_to_sender(Message::Join(self.mac));
                }
                return;
            }
            _ => {
                self.stats.ignored += 1;
                return;
            }
        }
        let partition = match disk
            .os_partition()
            .and_then(|p| Ok((p, disk.partition_len(p)?)))
        {
            Ok(p) => p,
            Err(e) => return self.fail(ReceiverFailure::Disk(e)),
        };
        let (partition, partition_len) = partition;
        let total_blocks = block_count(a.image_size, a.block_len);
        if a.image_size > partition_len || total_blocks > MAX_IMAGE_BLOCKS {
            return self.fail(ReceiverFailure::ImageTooLarge {
                image: a.image_name,
                size: a.image_size,
                partition_len,
            });
        }
        // total_blocks <= MAX_IMAGE_BLOCKS, so the bitmap is bounded.
        let words = total_blocks.div_ceil(64) as usize;
        let s = Session {
            id: session,
            slices: slice_count(total_blocks, a.slice_blocks),
            announce: a,
            sender: dgram.src,
            sender_mac: dgram.src_mac,
            partition,
            total_blocks,
            received: vec![0; words],
            have: 0,
            last_heard: now,
        };
        self.events.push_back(ReceiverEvent::Joined {
            session,
            image: s.image(),
            sender: s.sender,
        });
        self.session = Some(s);
        self.phase = Phase::Joined;
        self.send_to_sender(Message::Join(self.mac));
    }

    /// A Start that lists this receiver begins the session for it. One that
    /// does not means it joined too late, or (a Start re-sent while it was
    /// receiving) that it took part on a guess after a lost Start, or was
    /// dropped: either way the sender will repair nothing for it, so it stops
    /// and listens for a next session.
    fn on_start(&mut self, now: Instant, receivers: &[Mac], disk: &mut dyn BootDisk) {
        if !matches!(self.phase, Phase::Joined | Phase::Receiving) {
            return;
        }
        let Some(id) = self.session.as_ref().map(|s| s.id) else {
            return;
        };
        if receivers.contains(&self.mac) {
            if self.phase == Phase::Joined {
                self.begin_receiving(now, disk);
            }
        } else {
            self.events
                .push_back(ReceiverEvent::MissedSession { session: id });
            self.session = None;
            self.phase = Phase::Listening {
                deadline: now + self.cfg.announce_timeout,
            };
        }
    }

    /// The session is under way with this receiver in it (a Start listing it,
    /// or, when the Start was lost, the first Data or SliceEnd).
    fn begin_receiving(&mut self, now: Instant, disk: &mut dyn BootDisk) {
        let Some(s) = self.session.as_ref() else {
            return;
        };
        self.events
            .push_back(ReceiverEvent::Started { session: s.id });
        self.phase = Phase::Receiving;
        if s.is_complete() {
            // An empty image.
            self.verify(now, disk);
        }
    }

    fn on_data(&mut self, now: Instant, d: Data, disk: &mut dyn BootDisk) {
        if self.phase == Phase::Joined {
            self.begin_receiving(now, disk);
        }
        if self.phase != Phase::Receiving {
            self.stats.duplicates += 1;
            return;
        }
        let Some(s) = self.session.as_mut() else {
            return;
        };
        let a = &s.announce;
        let index = u64::from(d.slice) * u64::from(a.slice_blocks) + u64::from(d.block);
        let expected = block_len_at(a.image_size, a.block_len, index);
        if d.block >= a.slice_blocks || index >= s.total_blocks || d.payload.len() != expected {
            self.stats.ignored += 1;
            return;
        }
        if s.has(index) {
            self.stats.duplicates += 1;
            return;
        }
        let offset = index * u64::from(a.block_len);
        if let Err(e) = disk.write(s.partition, offset, &d.payload) {
            return self.fail(ReceiverFailure::Disk(e));
        }
        s.set(index);
        s.have += 1;
        self.stats.blocks_written += 1;
        if s.is_complete() {
            self.verify(now, disk);
        }
    }

    fn on_slice_end(&mut self, now: Instant, e: SliceEnd, disk: &mut dyn BootDisk) {
        if self.phase == Phase::Joined {
            self.begin_receiving(now, disk);
        }
        if !matches!(self.phase, Phase::Receiving | Phase::Lingering { .. }) {
            return;
        }
        let Some(s) = self.session.as_ref() else {
            return;
        };
        let slice_blocks = s.announce.slice_blocks;
        let blocks = blocks_in_slice(s.total_blocks, slice_blocks, e.slice);
        if u64::from(e.slice) >= s.slices || blocks != e.blocks {
            self.stats.ignored += 1;
            return;
        }
        let Ok(mut missing) = BlockMap::new(blocks) else {
            return;
        };
        let first = u64::from(e.slice) * u64::from(slice_blocks);
        for b in 0..blocks {
            if !s.has(first + u64::from(b)) {
                // b < blocks = missing.len().
                let _ = missing.insert(b);
            }
        }
        let reply = if missing.is_clear() {
            self.stats.oks += 1;
            Message::SliceOk(SliceOk {
                receiver: self.mac,
                slice: e.slice,
                round: e.round,
            })
        } else {
            self.stats.naks += 1;
            Message::Nak(Nak {
                receiver: self.mac,
                slice: e.slice,
                round: e.round,
                missing,
            })
        };
        self.send_to_sender(reply);
    }

    fn on_done(&mut self) {
        match self.phase {
            Phase::Lingering { .. } => self.phase = Phase::Finished,
            Phase::Joined | Phase::Receiving => {
                let missing = self
                    .session
                    .as_ref()
                    .map_or(0, |s| s.total_blocks.saturating_sub(s.have));
                self.fail(ReceiverFailure::Incomplete { missing });
            }
            Phase::Listening { .. } | Phase::Finished => {}
        }
    }

    fn verify(&mut self, now: Instant, disk: &mut dyn BootDisk) {
        let Some(s) = self.session.as_ref() else {
            return;
        };
        let expected = s.announce.sha256;
        match disk.partition_sha256(s.partition, s.announce.image_size) {
            Err(e) => self.fail(ReceiverFailure::Disk(e)),
            Ok(actual) if actual != expected => {
                self.fail(ReceiverFailure::ChecksumMismatch { expected, actual })
            }
            Ok(_) => {
                self.events.push_back(ReceiverEvent::Verified {
                    image: s.image(),
                    partition: s.partition,
                });
                self.phase = Phase::Lingering {
                    until: now + self.cfg.linger,
                };
            }
        }
    }

    fn send_to_sender(&mut self, message: Message) {
        let Some(s) = self.session.as_ref() else {
            return;
        };
        let Ok(payload) = Packet::new(s.id, message).to_bytes() else {
            return;
        };
        self.queue.push_back(Transmit {
            src: self.cfg.local,
            dst: s.sender,
            l2: L2Dest::Unicast(s.sender_mac),
            payload,
        });
    }

    fn fail(&mut self, reason: ReceiverFailure) {
        self.events.push_back(ReceiverEvent::Failed { reason });
        self.phase = Phase::Finished;
    }

    fn time_out(&mut self, waiting_for: Waiting) {
        self.events
            .push_back(ReceiverEvent::TimedOut { waiting_for });
        self.phase = Phase::Finished;
    }
}
