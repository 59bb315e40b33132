//! The DHCP server: full mode (addresses, leases) and ProxyDHCP mode (PXE 2.1).
//!
//! [`DhcpServer`] is a sans-IO machine for datagrams to UDP 67. Leases are kept
//! in a [`LeaseStore`]; a lease is committed there before its DHCPACK is queued,
//! so an acknowledged address survives a crash. Boot information comes from
//! [`crate::pxe::BootPolicy`]; the boot server for UDP 4011 is
//! [`crate::pxe::BootServer`], which the driver runs next to this machine.

mod config;
mod event;
pub(crate) mod outbox;
mod pool;
mod server;
mod store;

pub use config::{
    ConfigError, DhcpConfig, DhcpMode, DhcpSettings, ParseRangeError, PoolConfig, Reservation,
};
pub use event::{DhcpEvent, DhcpEventKind, IgnoreReason, NakReason};
pub use server::{DhcpServer, DhcpServerError};
pub use store::{Lease, LeaseStore, MemoryStore, RedbStore, StoreError};
