//! Facts about the one interface the server is bound to.
//!
//! The server's own address, its subnet and its MAC come from the interface rather
//! than from flags, so that a server cannot announce an address (DHCP option 54,
//! `siaddr`) that is not the one clients can reach it on.

use std::net::Ipv4Addr;

use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;

use crate::net::Mac;

/// What the driver needs to know about the interface it serves on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Kernel name, e.g. `eth0`.
    pub name: String,
    /// Kernel interface index (what `IP_PKTINFO` reports).
    pub index: u32,
    /// The interface's first IPv4 address: the server identifier.
    pub addr: Ipv4Addr,
    /// Prefix length of that address.
    pub prefix: u8,
    /// Hardware address (all zeroes on loopback).
    pub mac: Mac,
    /// Link MTU, when the kernel reports it: the largest TFTP block that needs no
    /// IP fragmentation is this minus 32 (RFC 2348 §1; fragments break many ROMs).
    pub mtu: Option<u32>,
}

/// Why an interface cannot be served on.
#[derive(Debug, thiserror::Error)]
pub enum InterfaceError {
    /// No interface has this name.
    #[error("no network interface named {0:?} (list them with `ip link`)")]
    Missing(String),
    /// The interface exists but is administratively down.
    #[error("network interface {0:?} is down (bring it up with `ip link set {0} up`)")]
    Down(String),
    /// The interface has no IPv4 address to serve from.
    #[error(
        "network interface {0:?} has no IPv4 address; the server's own address comes from the \
         interface (add one with `ip addr add 192.0.2.1/24 dev {0}`)"
    )]
    NoIpv4(String),
    /// The interface list could not be read.
    #[error("cannot list network interfaces: {0}")]
    List(nix::Error),
}

impl Interface {
    /// Looks up `name` and reads its index, first IPv4 address, prefix and MAC.
    pub fn lookup(name: &str) -> Result<Interface, InterfaceError> {
        let mut found = false;
        let mut up = false;
        let mut index = None;
        let mut v4: Option<(Ipv4Addr, u8)> = None;
        let mut mac = Mac::ZERO;
        for ifa in getifaddrs().map_err(InterfaceError::List)? {
            if ifa.interface_name != name {
                continue;
            }
            found = true;
            up |= ifa.flags.contains(InterfaceFlags::IFF_UP);
            let Some(address) = ifa.address else { continue };
            if let Some(link) = address.as_link_addr() {
                index = Some(link.ifindex() as u32);
                if let Some(hw) = link.addr() {
                    mac = Mac(hw);
                }
            } else if let Some(sin) = address.as_sockaddr_in()
                && v4.is_none()
            {
                let prefix = ifa
                    .netmask
                    .as_ref()
                    .and_then(|m| m.as_sockaddr_in())
                    .map(|m| u32::from(m.ip()).leading_ones() as u8)
                    .unwrap_or(32);
                v4 = Some((sin.ip(), prefix));
            }
        }
        if !found {
            return Err(InterfaceError::Missing(name.to_string()));
        }
        if !up {
            return Err(InterfaceError::Down(name.to_string()));
        }
        let Some((addr, prefix)) = v4 else {
            return Err(InterfaceError::NoIpv4(name.to_string()));
        };
        let index = match index {
            Some(i) => i,
            None => nix::net::if_::if_nametoindex(name)
                .map_err(|_| InterfaceError::Missing(name.to_string()))?,
        };
        let mtu = std::fs::read_to_string(format!("/sys/class/net/{name}/mtu"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        Ok(Interface {
            name: name.to_string(),
            index,
            addr,
            prefix,
            mac,
            mtu,
        })
    }

    /// The subnet mask of [`Interface::addr`].
    pub fn netmask(&self) -> Ipv4Addr {
        prefix_mask(self.prefix)
    }

    /// The network address of the interface's subnet.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & u32::from(self.netmask()))
    }

    /// The subnet's directed broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !u32::from(self.netmask()))
    }

    /// The largest TFTP block size that fits one unfragmented IPv4 datagram on this
    /// link: MTU minus 20 (IPv4) minus 8 (UDP) minus 4 (TFTP DATA header), within
    /// RFC 2348's 8..=65464.
    pub fn max_tftp_blksize(&self) -> Option<u16> {
        self.mtu
            .map(|m| m.saturating_sub(32).clamp(8, 65464) as u16)
    }

    /// Whether `ip` lies in the interface's subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & u32::from(self.netmask()) == u32::from(self.network())
    }
}

/// The mask of a prefix length (`24` → `255.255.255.0`).
pub fn prefix_mask(prefix: u8) -> Ipv4Addr {
    match prefix {
        0 => Ipv4Addr::UNSPECIFIED,
        p if p >= 32 => Ipv4Addr::BROADCAST,
        p => Ipv4Addr::from(u32::MAX << (32 - u32::from(p))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_an_address_and_index() {
        let lo = Interface::lookup("lo").expect("every Linux host has lo");
        assert_eq!(lo.addr, Ipv4Addr::LOCALHOST);
        assert_eq!(lo.prefix, 8);
        assert!(lo.index > 0);
        assert!(lo.mtu.is_some_and(|m| m >= 1500), "{:?}", lo.mtu);
        assert!(lo.contains(Ipv4Addr::new(127, 9, 9, 9)));
        assert!(!lo.contains(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(lo.broadcast(), Ipv4Addr::new(127, 255, 255, 255));
    }

    #[test]
    fn a_missing_interface_is_named_in_the_error() {
        let err = Interface::lookup("nosuchif0").unwrap_err();
        assert!(err.to_string().contains("nosuchif0"), "{err}");
        assert!(matches!(err, InterfaceError::Missing(_)));
    }

    #[test]
    fn masks() {
        assert_eq!(prefix_mask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(prefix_mask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(prefix_mask(32), Ipv4Addr::BROADCAST);
        assert_eq!(prefix_mask(20), Ipv4Addr::new(255, 255, 240, 0));
    }
}
