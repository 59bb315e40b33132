//! What machines receive from and hand to the network.
//!
//! A [`Datagram`] is a UDP payload with its L2 and L3 addressing, because PXE is
//! decided there: a client with no address yet sends from `0.0.0.0`, a server must
//! tell a broadcast DISCOVER from a unicast REQUEST, and a reply to an address-less
//! client goes either to L2 broadcast or to its MAC. A [`Transmit`] carries the same
//! facts outwards; each driver maps them onto what it has (sockets, simulated
//! segments, raw frames).

use std::fmt;
use std::net::SocketAddrV4;
use std::str::FromStr;

/// An Ethernet (EUI-48) address.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    /// `00:00:00:00:00:00`, for "unknown".
    pub const ZERO: Mac = Mac([0; 6]);

    /// The address as bytes.
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A MAC address string that is not six hex pairs separated by `:` or `-`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}: expected six hex pairs such as 52:54:00:12:34:56")]
pub struct ParseMacError(pub String);

impl FromStr for Mac {
    type Err = ParseMacError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseMacError(s.to_string());
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let part = parts.next().ok_or_else(err)?;
            if part.len() != 2 {
                return Err(err());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(Mac(out))
    }
}

/// A UDP datagram as received, with the addressing a PXE machine needs.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// Sender's IPv4 address and port (`0.0.0.0:68` for a client without a lease).
    pub src: SocketAddrV4,
    /// Destination address and port as it was on the wire: `255.255.255.255`
    /// for a broadcast, the receiver's own address for a unicast.
    pub dst: SocketAddrV4,
    /// Sender's MAC address, when the driver knows it ([`Mac::ZERO`] otherwise).
    pub src_mac: Mac,
    /// The UDP payload.
    pub payload: &'a [u8],
}

/// Where a transmitted datagram goes at L2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L2Dest {
    /// `ff:ff:ff:ff:ff:ff`: every host on the segment.
    Broadcast,
    /// One station, even one that has no IP address yet (a DHCP reply to `yiaddr`
    /// with the broadcast flag clear).
    Unicast(Mac),
}

/// A datagram a machine wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Source address and port. An IP of `0.0.0.0` means "the interface's own".
    pub src: SocketAddrV4,
    /// Destination IPv4 address and port.
    pub dst: SocketAddrV4,
    /// L2 destination.
    pub l2: L2Dest,
    /// The UDP payload.
    pub payload: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parses_and_prints() {
        let m: Mac = "52:54:00:AB:cd:01".parse().unwrap();
        assert_eq!(m.to_string(), "52:54:00:ab:cd:01");
        assert_eq!("52-54-00-ab-cd-01".parse::<Mac>().unwrap(), m);
        for bad in [
            "",
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:01:02",
            "5:54:00:ab:cd:01",
            "zz:54:00:ab:cd:01",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
    }
}
