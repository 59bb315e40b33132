//! pxelab's reference PXE stack.
//!
//! Every protocol participant here is a sans-IO state machine: it never touches a
//! socket, never reads a clock and never draws randomness of its own. It is driven
//! from outside through the same five calls (see [`DESIGN.md`] and quinn-proto's
//! `Connection` for the model):
//!
//! ```text
//! handle_datagram(now, dgram)   input from the network
//! handle_timeout(now)           time passed
//! poll_transmit() -> Transmit   output to the network
//! poll_timeout() -> Instant     next wake-up
//! poll_event() -> Event         what happened, for logs and reports
//! ```
//!
//! After every `handle_*` the driver drains `poll_transmit` and `poll_event`, then
//! reads `poll_timeout` (the single-mutation rule). Because of this, the same code
//! runs on real sockets ([`driver`]), in the simulator, and as a conformance probe.
//!
//! Only [`driver`] may use tokio, sockets or the wall clock.
//!
//! [`DESIGN.md`]: ../../shared/DESIGN.md

#![warn(missing_docs, unreachable_pub)]

pub mod agent;
pub mod deploy;
pub mod dhcp;
pub mod driver;
pub mod multicast;
pub mod net;
mod outbox;
pub mod pxe;
pub mod tftp;
pub mod time;
pub mod wire;

pub use net::{Datagram, L2Dest, Mac, Transmit};
pub use time::Instant;
