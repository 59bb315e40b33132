//! The multicast imaging protocol (`wire::multicast`, `multicast::*`): every
//! record's payload through `Packet::parse` (strict and lax), and a conversation
//! of arbitrary datagrams with a `MulticastSender` and a `MulticastReceiver`
//! that also talk to each other, with the clock advancing between records.
//!
//! Input: one configuration byte, then records (see `crate::records`).
//! Configuration bits: 0 two receivers needed (the sender starts only at
//! `max_wait`), 1 at most two repair rounds per slice, 2 paced Data (1 ms a
//! block). Record `ctl` bits: 0 to the receiver (else to the sender), 1 from a
//! stranger's address (else from the peer's).
//!
//! Checks, beyond "never panics":
//! - whatever parses re-emits to bytes that parse strictly to the same packet;
//! - every datagram either machine sends parses strictly, and the sender only
//!   sends to its group;
//! - neither machine asks to be woken at or before `now` forever, nor talks
//!   forever without time passing;
//! - after the input, with time running, both machines end within a day;
//! - a receiver that reports Verified holds an image with the SHA-256 it
//!   reported.
//!
//! `reference/tests/multicast_fuzz.rs` runs the same driver under proptest.

use crate::records;

#[path = "../../../reference/tests/multicast_rig/mod.rs"]
mod multicast_rig;

/// The `multicast` target's body, shared by the libFuzzer binary and the smoke runner.
pub fn multicast(data: &[u8]) {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    multicast_rig::drive(cfg, records(rest).map(|r| (r.ctl, r.tick, r.payload)));
}
