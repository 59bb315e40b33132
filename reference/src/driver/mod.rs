//! The tokio driver: the only place in this crate with sockets and a clock.
//!
//! It runs the sans-IO machines on real UDP sockets bound to one interface:
//! DHCP/ProxyDHCP on 67, the boot server on 4011, TFTP on 69 with one socket per
//! transfer (RFC 1350 §4: each transfer gets its own TID, i.e. port). One generic
//! loop, [`machine::drive`], runs every machine; the pieces it stands on are
//! the interface facts ([`iface`]), sockets that see where a datagram was sent
//! ([`socket`]), ARP-cache injection for unicast replies to clients without an
//! address ([`arp`]), and the mapping from the wall clock to [`crate::Instant`]
//! ([`clock`]).

pub mod arp;
pub mod clock;
pub mod deploy;
pub mod file_disk;
pub mod fs;
pub mod iface;
pub mod machine;
pub mod serve;
pub mod socket;

pub use clock::Clock;
pub use file_disk::FileDisk;
pub use iface::{Interface, InterfaceError};
pub use machine::{Machine, Shutdown, ShutdownTrigger, drive};
pub use socket::{Delivery, Endpoint, Received};
