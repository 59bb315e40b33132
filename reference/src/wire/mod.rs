//! Wire formats, in smoltcp's style: a `Repr` with `parse` and `emit`, parsing that
//! never panics on any input, and a strict and a lax mode.
//!
//! The DHCP codec is our own rather than dhcproto's because a conformance tool must
//! see and reproduce exactly what was on the wire: option order (real firmware is
//! fingerprinted by it), duplicates, RFC 3396 long options, option 52 overload into
//! `file`/`sname`, and padding to 300 bytes. dhcproto stays as the differential
//! oracle in the property tests.

pub mod agent;
pub mod dhcp;
mod field;
pub mod mbr;
pub mod multicast;
pub mod pxe;
pub mod tftp;

/// How forgiving a parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParseMode {
    /// Reject anything the RFCs forbid (what the conformance suite reports on).
    Strict,
    /// Accept what real firmware sends when the meaning is still clear (what a
    /// server runs with): a missing END option, trailing garbage, a bad `hlen`.
    #[default]
    Lax,
}
