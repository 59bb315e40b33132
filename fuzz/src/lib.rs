//! The fuzz targets ([`targets`]), the mutator the stable smoke run feeds them
//! with ([`mutate`]), and how a fuzz input is cut into a sequence of datagrams
//! for the machine targets (`dhcp_server`, `tftp_session`, `multicast`).
//!
//! A machine is only exercised in depth by a *conversation* (DISCOVER, then
//! REQUEST for the offer; RRQ, then ACKs), so those targets read the input as
//! records rather than as one datagram:
//!
//! ```text
//! record = ctl:u8  tick:u8  len:u16be  payload[len]
//! ```
//!
//! `ctl` picks addressing (each target gives its bits a meaning), `tick` how far
//! the clock moves before the datagram arrives ([`tick_delay`]), and a `len` past
//! the end of the input takes what is left. The layout is fixed-offset and
//! length-prefixed so that libFuzzer's mutations (byte flips, splices, inserting
//! whole records from other inputs) keep most of an input meaningful, and so that
//! seeds can be written by hand ([`record`]).

use std::time::Duration;

pub mod mutate;
pub mod targets;

/// One datagram of a machine target's input.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Addressing bits; the target decides what they mean.
    pub ctl: u8,
    /// Clock advance before delivery, see [`tick_delay`].
    pub tick: u8,
    /// The UDP payload.
    pub payload: &'a [u8],
}

/// Cuts `data` into records; a trailing fragment shorter than a header is dropped.
pub fn records(mut data: &[u8]) -> impl Iterator<Item = Record<'_>> {
    std::iter::from_fn(move || {
        let (&[ctl, tick, hi, lo], rest) = data.split_first_chunk::<4>()?;
        let len = usize::from(u16::from_be_bytes([hi, lo])).min(rest.len());
        let (payload, rest) = rest.split_at(len);
        data = rest;
        Some(Record { ctl, tick, payload })
    })
}

/// Encodes one record (for seeds).
pub fn record(ctl: u8, tick: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let mut out = vec![ctl, tick];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload[..usize::from(len)]);
    out
}

/// How far the clock moves for `tick`: the low 4 bits index a scale from "no
/// time" through the machines' interesting periods (respond delay, TFTP
/// retransmission, offer hold, lease time) to a week, so that a short input can
/// reach expiry paths.
pub fn tick_delay(tick: u8) -> Duration {
    const SCALE: [Duration; 16] = [
        Duration::ZERO,
        Duration::from_millis(1),
        Duration::from_millis(10),
        Duration::from_millis(100),
        Duration::from_millis(500),
        Duration::from_secs(1),
        Duration::from_secs(2),
        Duration::from_secs(5),
        Duration::from_secs(10),
        Duration::from_secs(30),
        Duration::from_secs(61),
        Duration::from_secs(601),
        Duration::from_secs(1800),
        Duration::from_secs(3601),
        Duration::from_secs(86_400),
        Duration::from_secs(7 * 86_400),
    ];
    SCALE[usize::from(tick & 0x0f)]
}

/// Upper bound on `handle_timeout` rounds at one instant. A machine that still
/// asks to be woken at or before `now` after this many rounds would spin its
/// driver; the targets treat that as a bug.
pub const MAX_TIMEOUT_ROUNDS: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_clip() {
        let mut input = record(1, 2, b"abc");
        input.extend(record(3, 4, b""));
        input.extend([5, 6, 0, 9, b'x']);
        let got: Vec<_> = records(&input)
            .map(|r| (r.ctl, r.tick, r.payload.to_vec()))
            .collect();
        assert_eq!(
            got,
            [
                (1, 2, b"abc".to_vec()),
                (3, 4, Vec::new()),
                (5, 6, b"x".to_vec())
            ]
        );
        assert_eq!(records(&[1, 2, 3]).count(), 0);
    }
}
