//! Multicast imaging: one [`MulticastSender`] streams an image to many
//! [`MulticastReceiver`]s, repairing only the blocks they report missing (issue
//! 5's "one sender, many receivers, NAK-based repair, a session that waits for
//! a minimum number of receivers or a maximum time", as udpcast and Altiris
//! multicast do). The wire format, and why each field is there, is in
//! [`crate::wire::multicast`].
//!
//! # A session
//!
//! ```text
//! sender                                   receivers
//!   Announce ───────── group, every announce_interval ──▶  (the wanted image?)
//!            ◀──────────────────────── Join (unicast) ───  each receiver, per Announce
//!   [min_receivers joined, or max_wait after the first Join]
//!   Start [macs] ─────────────────────────────────────▶  not listed: missed it, wait
//!   Data slice 0, blocks 0..n ────────────────────────▶  written to the disk at once
//!   SliceEnd 0 round 0 ───────────────────────────────▶
//!            ◀─────────────── Nak 0/0 {missing bitmap}   or  Ok 0/0
//!   Data: the union of what was NAKed ───────────────▶
//!   SliceEnd 0 round 1 ───────────────────────────────▶
//!            ◀──────────────────────────────── Ok 0/1
//!   ... slice 1, 2, ... ...
//!   Done ─────────────────────────────────────────────▶  every block here: SHA-256 checked
//! ```
//!
//! # Lost control datagrams
//!
//! - A lost Join: the receiver joins again at every Announce while the sender
//!   gathers. If the session starts without it, the Start it hears does not list
//!   it ([`ReceiverEvent::MissedSession`]) and it listens for a next session.
//! - A lost Start: the first Data or SliceEnd of the session tells a joined
//!   receiver that it started, and it assumes it is a member (if it is not, the
//!   sender ignores its reports and, at Done, it ends
//!   [`ReceiverFailure::Incomplete`] unless it happened to get every block). A
//!   Join that reaches the sender after the start makes it multicast the Start
//!   again (at most once per `report_timeout`), so a receiver whose Join was
//!   late learns that it is not a member instead of guessing.
//! - A lost SliceEnd, Nak or Ok: the receiver is silent for that round; the
//!   sender asks again after `report_timeout` (a new round, re-sending what the
//!   others NAKed meanwhile). Reports carry the round they answer, and a NAK of
//!   an earlier round is not served again (its blocks went out in this round).
//! - A lost last Ok: the verified receiver keeps answering Ok for `linger`.
//! - Lost Done copies: the verified receiver ends after `linger` anyway.
//!
//! # Bounds (no participant waits forever)
//!
//! - The sender gives up announcing `max_wait` after it began when nobody
//!   joined ([`SenderFailure::NoReceivers`]).
//! - A receiver that does not answer a SliceEnd for `max_silent_rounds` rounds
//!   in a row is dropped ([`SenderEvent::ReceiverDropped`]), so one dead machine
//!   never stalls the others; a slice that still has NAKs after `max_rounds`
//!   rounds drops the receivers still missing blocks (a receiver behind a
//!   broken link cannot keep the fleet in repair forever).
//! - A receiver waits `announce_timeout` for its image to be announced and
//!   `silence_timeout` for the sender's next datagram once it has joined, and
//!   after it verified the image it answers Oks for `linger` at most (the
//!   sender may have lost its last Ok), then ends.
//!
//! # Driving
//!
//! Both machines have the project's surface. The sender reads image bytes
//! through [`ImageSource`](crate::deploy::ImageSource) only when a Data
//! datagram is built, in `poll_transmit`, so it never holds more than one
//! block; the receiver writes each block through
//! [`BootDisk`](crate::agent::BootDisk) as it arrives, in `handle_datagram`.
//!
//! ```text
//! sender.handle_datagram(now, dgram)      receiver.handle_datagram(now, dgram, &mut disk)
//! sender.handle_timeout(now)              receiver.handle_timeout(now)
//! sender.poll_transmit(&images)           receiver.poll_transmit()
//! sender.poll_timeout()                   receiver.poll_timeout()
//! sender.poll_event()                     receiver.poll_event()
//! ```
//!
//! Neither draws randomness: the session id is the caller's choice (the
//! Deployment Server numbers its sessions), and pacing is a fixed interval
//! between Data datagrams ([`SenderConfig::packet_interval`]), zero in memory
//! and set from the link rate by a real driver.

mod receiver;
mod sender;

pub use receiver::{
    MAX_IMAGE_BLOCKS, MulticastReceiver, ReceiverConfig, ReceiverEvent, ReceiverFailure,
    ReceiverStats, Waiting,
};
pub use sender::{
    ConfigError, DropReason, MulticastSender, SenderConfig, SenderEvent, SenderFailure,
    SenderStats, StartTrigger, data_frame_bytes, packet_interval_for,
};

/// How many blocks an image of `size` bytes has at `block_len` bytes a block.
pub(crate) fn block_count(size: u64, block_len: u16) -> u64 {
    size.div_ceil(u64::from(block_len.max(1)))
}

/// How many slices `blocks` blocks make at `slice_blocks` a slice.
pub(crate) fn slice_count(blocks: u64, slice_blocks: u16) -> u64 {
    blocks.div_ceil(u64::from(slice_blocks.max(1)))
}

/// Blocks in slice `slice` (the last one may be short), 0 past the end.
pub(crate) fn blocks_in_slice(total_blocks: u64, slice_blocks: u16, slice: u32) -> u16 {
    let first = u64::from(slice) * u64::from(slice_blocks);
    let n = total_blocks
        .saturating_sub(first)
        .min(u64::from(slice_blocks));
    // n <= slice_blocks, a u16.
    n as u16
}

/// Length of image block `index` (the last one may be short), 0 past the end.
pub(crate) fn block_len_at(size: u64, block_len: u16, index: u64) -> usize {
    let start = index.saturating_mul(u64::from(block_len));
    let n = size.saturating_sub(start).min(u64::from(block_len));
    // n <= block_len, a u16.
    n as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_of_a_short_last_slice_and_block() {
        let size = 3 * 1024 + 10;
        let blocks = block_count(size, 1024);
        assert_eq!(blocks, 4);
        assert_eq!(slice_count(blocks, 3), 2);
        assert_eq!(blocks_in_slice(blocks, 3, 0), 3);
        assert_eq!(blocks_in_slice(blocks, 3, 1), 1);
        assert_eq!(blocks_in_slice(blocks, 3, 2), 0);
        assert_eq!(block_len_at(size, 1024, 2), 1024);
        assert_eq!(block_len_at(size, 1024, 3), 10);
        assert_eq!(block_len_at(size, 1024, 4), 0);
        assert_eq!(block_count(0, 1024), 0);
    }

    #[test]
    fn machines_can_move_to_another_thread() {
        fn send<T: Send>() {}
        send::<MulticastSender>();
        send::<MulticastReceiver>();
    }
}
