//! DHCP server configuration. The user-facing part ([`DhcpSettings`], [`PoolConfig`],
//! [`Reservation`]) deserialises from the TOML of `pxelab serve --config FILE`;
//! unknown fields are errors so a typo never silently changes behaviour.

use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::event::IgnoreReason;
use crate::Mac;
use crate::pxe::BootPolicy;

/// Everything a [`super::DhcpServer`] runs with.
#[derive(Debug, Clone)]
pub struct DhcpConfig {
    /// The server's own address on the interface (option 54, `siaddr`), set by the driver.
    pub server_addr: Ipv4Addr,
    /// The interface's netmask, for the local subnet.
    pub netmask: Ipv4Addr,
    /// Full DHCP or ProxyDHCP.
    pub mode: DhcpMode,
    /// Leases, access lists, reservations, delays.
    pub settings: DhcpSettings,
    /// Boot files and menu.
    pub boot: BootPolicy,
    /// Wall-clock time at `Instant::ZERO`, in seconds since the Unix epoch,
    /// supplied by the driver. The machine never reads a clock, and `Instant`
    /// restarts from zero with the process, so lease expiry is stored as absolute
    /// Unix seconds computed from this offset; after a restart the new offset maps
    /// it back onto the new run's `Instant`s. The simulator passes any fixed value.
    pub unix_time_at_start: u64,
}

/// Whether the server hands out addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhcpMode {
    /// A DHCP server with address pools. The driver builds `pools` from `--range`
    /// plus [`DhcpSettings::pools`].
    Full {
        /// Pools; the one for a request is the one whose subnet holds `giaddr`
        /// (relayed) or the server's own address (local).
        pools: Vec<PoolConfig>,
    },
    /// PXE 2.1 ProxyDHCP: boot information only, `yiaddr` always 0.
    Proxy,
}

/// `[dhcp]` in the config file. Every field has a default.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DhcpSettings {
    /// Lease time in seconds (option 51). Default 3600. T1 (58) is half of it and
    /// T2 (59) seven eighths, as RFC 2131 §4.4.5 suggests.
    pub lease_time_secs: u32,
    /// How long an offered address stays reserved for the client that was offered
    /// it, in seconds. Default 60.
    pub offer_hold_secs: u32,
    /// How long a declined address (RFC 2131 §4.3.3: in use by someone else) is
    /// kept out of the pool, in seconds. Default 600.
    pub decline_hold_secs: u32,
    /// Delay before every reply, in milliseconds (quirk Q13: some PXE ROMs miss
    /// replies that come "instantly"; also lets a lab server lose races on
    /// purpose). Default 0.
    pub respond_delay_ms: u64,
    /// Answer only clients with a reservation. Default false.
    pub known_clients_only: bool,
    /// When not empty, only these MACs are answered.
    #[serde(deserialize_with = "macs")]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<String>"))]
    pub allow: Vec<Mac>,
    /// These MACs are never answered (checked before `allow`).
    #[serde(deserialize_with = "macs")]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<String>"))]
    pub deny: Vec<Mac>,
    /// Fixed addresses by MAC.
    pub reservations: Vec<Reservation>,
    /// Extra pools, typically for relayed subnets (`[[dhcp.pools]]`).
    pub pools: Vec<PoolConfig>,
}

impl Default for DhcpSettings {
    fn default() -> Self {
        DhcpSettings {
            lease_time_secs: 3600,
            offer_hold_secs: 60,
            decline_hold_secs: 600,
            respond_delay_ms: 0,
            known_clients_only: false,
            allow: Vec::new(),
            deny: Vec::new(),
            reservations: Vec::new(),
            pools: Vec::new(),
        }
    }
}

impl DhcpSettings {
    /// The respond delay as a `Duration`.
    pub fn respond_delay(&self) -> Duration {
        Duration::from_millis(self.respond_delay_ms)
    }
}

/// Which clients a server answers: the deny list, the allow list and
/// known-clients-only, shared by the DHCP server and the boot server so a client
/// refused on 67 is refused on 4011 too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientAccess {
    /// Never answered (checked first).
    pub deny: Vec<Mac>,
    /// When not empty, only these are answered.
    pub allow: Vec<Mac>,
    /// When set, only these (the MACs with a reservation) are answered.
    pub known_only: Option<Vec<Mac>>,
}

impl ClientAccess {
    /// The access rules of `settings`.
    pub fn from_settings(settings: &DhcpSettings) -> Self {
        ClientAccess {
            deny: settings.deny.clone(),
            allow: settings.allow.clone(),
            known_only: settings
                .known_clients_only
                .then(|| settings.reservations.iter().map(|r| r.mac).collect()),
        }
    }

    /// `Ok` when `mac` may be answered, else why not.
    pub fn admit(&self, mac: Mac) -> Result<(), IgnoreReason> {
        if self.deny.contains(&mac) {
            Err(IgnoreReason::Denied)
        } else if !self.allow.is_empty() && !self.allow.contains(&mac) {
            Err(IgnoreReason::NotAllowed)
        } else if self.known_only.as_ref().is_some_and(|k| !k.contains(&mac)) {
            Err(IgnoreReason::UnknownClient)
        } else {
            Ok(())
        }
    }
}

/// An address pool (`[[dhcp.pools]]`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// First address handed out.
    pub first: Ipv4Addr,
    /// Last address handed out (inclusive).
    pub last: Ipv4Addr,
    /// The pool's subnet mask (option 1). Unset: the interface's netmask.
    #[serde(default)]
    pub netmask: Option<Ipv4Addr>,
    /// Router (option 3). Unset: no router option, so a lab server never steals a
    /// client's default route.
    #[serde(default)]
    pub router: Option<Ipv4Addr>,
    /// DNS servers (option 6). Empty: no option 6.
    #[serde(default)]
    pub dns: Vec<Ipv4Addr>,
}

/// A `--range FIRST-LAST` that is not two IPv4 addresses in ascending order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid range {0:?}: expected FIRST-LAST such as 10.0.0.100-10.0.0.199, first <= last")]
pub struct ParseRangeError(pub String);

impl FromStr for PoolConfig {
    type Err = ParseRangeError;
    /// Parses `--range FIRST-LAST` (netmask from the interface, no router, no DNS).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseRangeError(s.to_string());
        let (a, b) = s.split_once('-').ok_or_else(err)?;
        let first: Ipv4Addr = a.trim().parse().map_err(|_| err())?;
        let last: Ipv4Addr = b.trim().parse().map_err(|_| err())?;
        if first > last {
            return Err(err());
        }
        Ok(PoolConfig {
            first,
            last,
            netmask: None,
            router: None,
            dns: Vec::new(),
        })
    }
}

/// A fixed address for one MAC (`[[dhcp.reservations]]`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservation {
    /// The client's MAC, e.g. `"52:54:00:12:34:56"`.
    #[serde(deserialize_with = "mac")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub mac: Mac,
    /// Its address. Must lie in the subnet of a pool (not necessarily its range).
    pub ip: Ipv4Addr,
    /// Boot file for this client, overriding the policy (not for iPXE clients,
    /// which always get the script).
    #[serde(default)]
    pub boot_file: Option<String>,
}

fn mac<'de, D: Deserializer<'de>>(d: D) -> Result<Mac, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

fn macs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Mac>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    v.iter()
        .map(|s| s.parse().map_err(serde::de::Error::custom))
        .collect()
}

/// A configuration the server cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Full mode without a pool.
    #[error("full DHCP mode needs at least one address pool (--range FIRST-LAST)")]
    NoPool,
    /// A pool whose range is reversed or leaves its subnet.
    #[error("pool {first}-{last} is reversed or not inside one subnet of mask {netmask}")]
    BadPool {
        /// First address.
        first: Ipv4Addr,
        /// Last address.
        last: Ipv4Addr,
        /// Mask in effect.
        netmask: Ipv4Addr,
    },
    /// A reservation outside every pool's subnet.
    #[error("reservation {ip} for {mac} is not in the subnet of any pool")]
    ReservationOutsidePools {
        /// The MAC.
        mac: Mac,
        /// The address.
        ip: Ipv4Addr,
    },
    /// The boot menu does not fit option 43 (a sub-option holds 255 bytes).
    #[error("boot menu does not fit in option 43: {0}")]
    Menu(String),
    /// Two reservations for one address or one MAC.
    #[error("duplicate reservation for {0}")]
    DuplicateReservation(String),
}
