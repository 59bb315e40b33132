//! Option negotiation (RFC 2347/2348/2349/7440) and block numbering.

use std::time::Duration;

use crate::wire::tftp::{DEFAULT_BLKSIZE, MAX_BLKSIZE, MIN_BLKSIZE};

/// What comes after block 65535.
///
/// RFC 1350 never says; files over 65535 blocks (32 MiB at 512 B, ~91 MiB at
/// 1468 B) need a policy. Wrapping to 0 is what most servers and clients do
/// (tftp-hpa, iPXE, EDK2); wrapping to 1 is tftp-hpa's `rollover=1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rollover {
    /// 65535 is followed by 0.
    #[default]
    ToZero,
    /// 65535 is followed by 1.
    ToOne,
    /// Files that need more than 65535 blocks are refused, for clients known to
    /// break on a wrap (Q30 in the quirk catalog).
    Refuse,
}

impl Rollover {
    /// The wire number of absolute block `abs` (the first block is 1; 0 is the
    /// OACK's acknowledgement under every policy).
    pub fn wire(self, abs: u64) -> u16 {
        match self {
            Rollover::ToOne if abs == 0 => 0,
            Rollover::ToOne => (((abs - 1) % 65535) + 1) as u16,
            Rollover::ToZero | Rollover::Refuse => (abs % 65536) as u16,
        }
    }

    /// How many absolute blocks pass before wire numbers repeat.
    pub fn period(self) -> u64 {
        match self {
            Rollover::ToOne => 65535,
            Rollover::ToZero | Rollover::Refuse => 65536,
        }
    }

    /// The absolute block in `(after, after + period]` whose wire number is `wire`.
    pub fn resolve(self, after: u64, wire: u16) -> u64 {
        let period = self.period();
        // Offset of `wire` relative to the wire number of `after + 1`.
        let first = self.wire(after + 1) as u64;
        let w = wire as u64;
        let delta = match self {
            Rollover::ToOne if w == 0 => return after + period + 1, // never sent in this policy
            _ => (w + period - first) % period,
        };
        after + 1 + delta
    }
}

/// The transfer parameters a session settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Bytes per DATA block.
    pub blksize: u16,
    /// DATA blocks sent before waiting for an ACK (1 = RFC 1350 lockstep).
    pub windowsize: u16,
    /// Retransmission timeout.
    pub timeout: Duration,
    /// The file size, when the client asked for `tsize`.
    pub tsize: Option<u64>,
}

impl Default for Negotiated {
    fn default() -> Self {
        Negotiated {
            blksize: DEFAULT_BLKSIZE,
            windowsize: 1,
            timeout: Duration::from_secs(1),
            tsize: None,
        }
    }
}

/// Parses an option value as a decimal number; `None` for anything else, so a
/// malformed option is ignored (RFC 2347: the server may ignore options).
pub(crate) fn number(value: &str) -> Option<u64> {
    let v = value.trim();
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// The server's limits, used to answer a request's options.
pub(crate) struct Limits {
    pub max_blksize: u16,
    pub max_windowsize: u16,
    pub default_timeout: Duration,
}

/// Answers a read request's options. Returns the parameters and the OACK
/// options, in the client's order and spelling, holding only options the client
/// sent (RFC 2347: never acknowledge an option not requested; Q11: EFI clients
/// abort on one). Unknown, malformed and repeated options are ignored.
pub(crate) fn negotiate(
    requested: &[(String, String)],
    limits: &Limits,
    file_len: u64,
) -> (Negotiated, Vec<(String, String)>) {
    let mut n = Negotiated {
        timeout: limits.default_timeout,
        ..Negotiated::default()
    };
    let mut oack: Vec<(String, String)> = Vec::new();
    for (name, value) in requested {
        if oack.iter().any(|(seen, _)| seen.eq_ignore_ascii_case(name)) {
            continue;
        }
        let key = name.to_ascii_lowercase();
        let answer = match key.as_str() {
            // RFC 2348: 8..=65464; the server may answer smaller.
            "blksize" => number(value).filter(|&v| v >= MIN_BLKSIZE as u64).map(|v| {
                let b = v.min(limits.max_blksize as u64).min(MAX_BLKSIZE as u64) as u16;
                n.blksize = b;
                b.to_string()
            }),
            // RFC 2349: a read request carries 0; the answer is the size.
            "tsize" => number(value).map(|_| {
                n.tsize = Some(file_len);
                file_len.to_string()
            }),
            // RFC 2349: 1..=255 s, echoed unchanged or not at all.
            "timeout" => number(value).filter(|v| (1..=255).contains(v)).map(|v| {
                n.timeout = Duration::from_secs(v);
                v.to_string()
            }),
            // RFC 7440: 1..=65535; the server may answer smaller.
            "windowsize" => number(value).filter(|v| (1..=65535).contains(v)).map(|v| {
                let w = v.min(limits.max_windowsize.max(1) as u64) as u16;
                n.windowsize = w;
                w.to_string()
            }),
            _ => None,
        };
        if let Some(v) = answer {
            oack.push((name.clone(), v));
        }
    }
    (n, oack)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn oack_holds_only_requested_known_options() {
        let limits = Limits {
            max_blksize: 1468,
            max_windowsize: 8,
            default_timeout: Duration::from_secs(1),
        };
        let (n, oack) = negotiate(
            &opts(&[
                ("BLKSIZE", "9000"),
                ("multicast", ""),
                ("tsize", "0"),
                ("blksize", "512"),
                ("windowsize", "64"),
            ]),
            &limits,
            1234,
        );
        assert_eq!(
            oack,
            opts(&[("BLKSIZE", "1468"), ("tsize", "1234"), ("windowsize", "8")])
        );
        assert_eq!((n.blksize, n.windowsize, n.tsize), (1468, 8, Some(1234)));
        let (n, oack) = negotiate(
            &opts(&[("blksize", "7"), ("timeout", "0"), ("timeout", "300")]),
            &limits,
            0,
        );
        assert!(oack.is_empty());
        assert_eq!(n, Negotiated::default());
        let (n, oack) = negotiate(&opts(&[("timeout", "3")]), &limits, 0);
        assert_eq!(
            (n.timeout, oack),
            (Duration::from_secs(3), opts(&[("timeout", "3")]))
        );
    }

    #[test]
    fn rollover_maps_both_ways() {
        for r in [Rollover::ToZero, Rollover::ToOne] {
            for abs in [1u64, 2, 65534, 65535, 65536, 65537, 131071, 131072, 200000] {
                let w = r.wire(abs);
                for after in [
                    abs.saturating_sub(1),
                    abs.saturating_sub(8),
                    abs.saturating_sub(65000),
                ] {
                    assert_eq!(r.resolve(after, w), abs, "{r:?} abs {abs} after {after}");
                }
            }
        }
        assert_eq!(Rollover::ToZero.wire(65536), 0);
        assert_eq!(Rollover::ToOne.wire(65536), 1);
        assert_eq!(Rollover::ToOne.wire(65535), 65535);
        assert_eq!(Rollover::ToOne.wire(0), 0);
    }
}
