//! What the DHCP server and the boot server report: one event per exchange.

use std::fmt;
use std::net::Ipv4Addr;

use crate::{Instant, Mac};

/// One exchange, for an info log line or a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpEvent {
    /// When the request was handled.
    pub at: Instant,
    /// What happened.
    pub kind: DhcpEventKind,
    /// Client MAC (`chaddr`), when the request had one.
    pub mac: Option<Mac>,
    /// Transaction id of the request.
    pub xid: u32,
    /// Address offered or acknowledged, released or declined.
    pub yiaddr: Option<Ipv4Addr>,
    /// Boot file (or URL) handed out.
    pub boot_file: Option<String>,
}

/// What kind of exchange an event reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhcpEventKind {
    /// DHCPOFFER sent (full mode).
    Offer,
    /// DHCPACK sent after the lease was made durable.
    Ack,
    /// DHCPNAK sent.
    Nak(NakReason),
    /// DHCPACK to a DHCPINFORM (no address, no lease time).
    Inform,
    /// The client released its address.
    Release,
    /// The client declined its address (someone else uses it).
    Decline,
    /// ProxyDHCP offer sent (yiaddr 0, boot information only).
    ProxyOffer,
    /// DHCPACK from the boot server (UDP 4011, or a boot-server discovery
    /// broadcast to 67) with the boot file.
    BootAck {
        /// PXE_BOOT_ITEM (43.71) type and layer, when the client asked for one.
        item: Option<(u16, u16)>,
    },
    /// The request got no answer.
    Ignored(IgnoreReason),
    /// The lease store refused the lease: no DHCPACK was sent, so the client will
    /// retry and no address was promised that a restart could forget.
    StoreFailed(String),
}

/// Why a DHCPNAK was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NakReason {
    /// The requested address is not on the client's subnet.
    WrongSubnet,
    /// The requested address is leased to another client or reserved.
    AddressTaken,
    /// The address was not offered to or leased to this client and is not free.
    NotOffered,
}

impl fmt::Display for NakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NakReason::WrongSubnet => "requested address is not on the client's subnet",
            NakReason::AddressTaken => "requested address belongs to another client",
            NakReason::NotOffered => "requested address was not offered to this client",
        })
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// The bytes are not a DHCP message.
    Malformed(String),
    /// `op` is not BOOTREQUEST, or option 53 is missing or not a client message.
    NotAClientRequest,
    /// No Ethernet `chaddr` (htype 1, hlen 6).
    NoClientMac,
    /// The MAC is on the deny list.
    Denied,
    /// The allow list is not empty and the MAC is not on it.
    NotAllowed,
    /// `known_clients_only` is set and the MAC has no reservation.
    UnknownClient,
    /// ProxyDHCP / boot server: option 60 does not start with `PXEClient`.
    NotPxeClient,
    /// ProxyDHCP: only DISCOVERs (and boot-server discovery) are answered on 67.
    NotForProxy,
    /// The client selected another server's offer.
    OtherServerSelected,
    /// No pool serves the client's subnet (`giaddr`'s for a relayed request).
    NoPool,
    /// Every address of the pool is in use.
    PoolExhausted,
    /// RFC 2131 §4.3.2: a server with no record of the client stays silent.
    NoRecord,
    /// The policy has no boot file for this client.
    NoBootFile(Option<u16>),
    /// No boot menu item of the requested type.
    UnknownBootItem(u16),
    /// 43.71 layer bit 15 asks for BIS credentials, which are not supported
    /// (dnsmasq refuses them too).
    BisRequested,
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IgnoreReason::Malformed(e) => write!(f, "malformed DHCP message: {e}"),
            IgnoreReason::NotAClientRequest => f.write_str("not a DHCP client request"),
            IgnoreReason::NoClientMac => f.write_str("no Ethernet client hardware address"),
            IgnoreReason::Denied => f.write_str("MAC is on the deny list"),
            IgnoreReason::NotAllowed => f.write_str("MAC is not on the allow list"),
            IgnoreReason::UnknownClient => {
                f.write_str("known_clients_only and the MAC has no reservation")
            }
            IgnoreReason::NotPxeClient => f.write_str("vendor class is not PXEClient"),
            IgnoreReason::NotForProxy => f.write_str("ProxyDHCP answers only DISCOVER on port 67"),
            IgnoreReason::OtherServerSelected => f.write_str("client selected another server"),
            IgnoreReason::NoPool => f.write_str("no pool for the client's subnet"),
            IgnoreReason::PoolExhausted => f.write_str("no free address in the pool"),
            IgnoreReason::NoRecord => {
                f.write_str("no record of this client (RFC 2131 4.3.2: stay silent)")
            }
            IgnoreReason::NoBootFile(Some(a)) => {
                write!(f, "no boot file configured for architecture {a}")
            }
            IgnoreReason::NoBootFile(None) => {
                f.write_str("HTTP boot client and no http_url configured")
            }
            IgnoreReason::UnknownBootItem(t) => write!(f, "no boot menu item of type {t}"),
            IgnoreReason::BisRequested => {
                f.write_str("client asked for BIS credentials (layer bit 15), unsupported")
            }
        }
    }
}
