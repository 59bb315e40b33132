//! Bulk image transfers as fluids: how long it takes to image a fleet.
//!
//! Moving two gigabytes per machine packet by packet through the event queue
//! would make a fleet of a hundred machines cost billions of events. Imaging
//! time is decided by who shares which link, not by individual packets, so
//! image transfers are modelled as *flows* with a rate instead (the fluid, or
//! bandwidth-sharing, model of flow-level network simulators):
//!
//! - **Links** ([`LinkId`]) are one direction of a switch port or a server
//!   uplink, each with a capacity in bits per second.
//! - **Flows** ([`FlowId`]) cross a set of links. Their rates are the
//!   *max-min fair* allocation (progressive filling, see [`Fabric`]): the
//!   steady state that competing TCP connections, and a multicast sender
//!   paced to its slowest receiver, settle into. Rates are recomputed only
//!   when the set of flows changes (a start, a cancel, a completion), and are
//!   constant in between, so a flow's completion instant is known exactly.
//! - **Unicast** ([`Fabric::start_unicast`]): one Bootworks pulling its image
//!   over TCP. Its goodput is its share of the wire times [`TCP_EFFICIENCY`].
//! - **Multicast** ([`Fabric::start_multicast`]): one sender, many receivers,
//!   one stream. On the server uplink it is a single flow whatever the number
//!   of receivers, which is why a multicast deployment of a hundred machines
//!   finishes in about the time of one. NAK-based repair (udpcast, Altiris
//!   multicast) resends a packet until every receiver has it, which costs the
//!   factor [`nak_repair_factor`] of the goodput. A receiver that gives up
//!   leaves the session ([`Fabric::leave_multicast`]); the others go on.
//! - **Sessions** ([`MulticastSessions`]): receivers gather until enough have
//!   joined or the first has waited long enough, as udpcast's
//!   `--min-receivers` / `--max-wait` and Altiris' multicast threshold do.
//!
//! Everything is deterministic: no randomness, no clock (time is the
//! [`Instant`](pxelab_reference::Instant) the caller hands in), flows and
//! links are visited in id order, and ties in the fair-share computation are
//! broken by link id.

mod fabric;
mod multicast;

pub use fabric::{Completed, Fabric, FlowId, LinkId};
pub use multicast::{MAX_LOSS, MulticastSessions, SessionConfig, nak_repair_factor};

/// Payload bytes per wire byte of a full-sized TCP/IPv4 segment on Ethernet.
///
/// A 1500-byte MTU frame carries 1460 bytes of TCP payload (1500 − 20 IPv4 −
/// 20 TCP, no TCP options) and occupies 1538 bytes of wire time: 14 Ethernet
/// header + 4 FCS + 8 preamble/SFD + 12 inter-frame gap around the 1500-byte
/// packet (IEEE 802.3). ACKs travel the other direction and cost nothing here.
pub const TCP_EFFICIENCY: f64 = 1460.0 / 1538.0;

/// Payload bytes per wire byte of a full-sized UDP/IPv4 datagram on Ethernet.
///
/// 1500 − 20 IPv4 − 8 UDP = 1472 payload bytes per 1538 bytes of wire time
/// (see [`TCP_EFFICIENCY`]). The multicast protocol's own per-packet header
/// (udpcast's is a few bytes) is counted as payload.
pub const UDP_EFFICIENCY: f64 = 1472.0 / 1538.0;
