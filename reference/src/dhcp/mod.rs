//! The DHCP server: full mode (addresses, leases) and ProxyDHCP mode (PXE 2.1).
//!
//! [`DhcpServer`] is a sans-IO machine for datagrams to UDP 67. Leases are kept
//! in a [`LeaseStore`]; a lease is committed there before its DHCPACK leaves the
//! machine, so an acknowledged address survives a crash. The commit is a group
//! commit: every lease decided since the machine last handed out a transmit is
//! made durable in one batch (one fsync) on the next `poll_transmit`, so a driver
//! that handles a burst of datagrams before draining pays one fsync per burst. Boot information comes from
//! [`crate::pxe::BootPolicy`]; the boot server for UDP 4011 is
//! [`crate::pxe::BootServer`], which the driver runs next to this machine.
//!
//! The user-facing configuration is [`DhcpSettings`] and
//! [`crate::pxe::BootPolicy`], meant for the `[dhcp]` and `[boot]` tables of
//! `pxelab serve --config FILE` (unknown fields are errors; every field has a
//! default). Where leases are kept is the driver's business (the top-level
//! `lease_store` key of that file); this machine only sees a [`LeaseStore`]:
//!
//! ```toml
//! [dhcp]
//! lease_time_secs = 3600
//! offer_hold_secs = 60
//! decline_hold_secs = 600
//! respond_delay_ms = 0
//! known_clients_only = false
//! allow = []
//! deny = ["52:54:00:00:00:02"]
//!
//! [[dhcp.reservations]]
//! mac = "52:54:00:00:00:01"
//! ip = "192.168.50.10"
//! boot_file = "special.kpxe"
//!
//! [[dhcp.pools]]            # extra pools, e.g. for a relayed subnet
//! first = "10.20.0.50"
//! last = "10.20.0.99"
//! netmask = "255.255.255.0"
//! router = "10.20.0.1"
//! dns = ["10.20.0.1"]
//!
//! [boot]
//! boot_bios = "undionly.kpxe"
//! boot_efi = "ipxe.efi"       # arch 7 and 9
//! boot_ipxe = "boot.ipxe"
//! # boot_efi_ia32, boot_efi_arm32, boot_efi_arm64, http_url: unset by default
//!
//! [[boot.arch_overrides]]
//! arch = 11
//! file = "snponly-arm64.efi"
//!
//! [boot.menu]
//! prompt = "Press F8 for boot menu"
//! timeout_secs = 10
//! discovery_control = 3
//! items = [{ type = 0x8000, description = "Install", file = "install.0" }]
//! ```

mod config;
mod event;
mod pool;
mod server;
mod store;

pub use config::{
    ClientAccess, ConfigError, DhcpConfig, DhcpMode, DhcpSettings, ParseRangeError, PoolConfig,
    Reservation,
};
pub use event::{DhcpEvent, DhcpEventKind, IgnoreReason, NakReason};
pub use server::{DhcpServer, DhcpServerError};
pub use store::{Lease, LeaseChange, LeaseStore, MemoryStore, RedbStore, StoreError};
