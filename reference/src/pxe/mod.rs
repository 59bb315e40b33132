//! The PXE boot server on UDP 4011, the boot menu, and the boot-file policy.
//!
//! [`BootPolicy`] decides which file a client boots from what its DHCP request
//! says ([`ClientFacts`]: options 60, 93, 77, 175); [`BootServer`] answers the
//! DHCPREQUESTs PXE clients send to port 4011 (PXE 2.1 §2.2.7 and the BINL path
//! of UEFI firmware); the DHCP server ([`crate::dhcp`]) uses both for the boot
//! information in its offers.

mod boot_server;
mod facts;
mod option43;
mod policy;
pub(crate) mod reply;

pub use boot_server::{BootServer, BootServerConfig};
pub use facts::{ClientFacts, HTTP_CLIENT_PREFIX, PXE_CLIENT_PREFIX, arch};
pub use policy::{ArchOverride, BootDecision, BootMenu, BootPolicy, BootRule, MenuItem};
