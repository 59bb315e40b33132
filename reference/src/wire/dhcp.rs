//! DHCPv4 messages (RFC 2131, RFC 2132, RFC 3396).
//!
//! Options are kept as an ordered list of `(code, bytes)` exactly as on the wire:
//! order, duplicates and split long options survive a parse/emit round trip.
//! Typed views of the options PXE cares about live in [`super::pxe`].

use std::net::Ipv4Addr;

use super::ParseMode;

/// UDP port of a DHCP server (and of a relay agent).
pub const SERVER_PORT: u16 = 67;
/// UDP port of a DHCP client.
pub const CLIENT_PORT: u16 = 68;
/// UDP port of a PXE boot server / ProxyDHCP REQUEST (PXE 2.1).
pub const PXE_PORT: u16 = 4011;
/// The magic cookie that starts the options area (RFC 2131 §3).
pub const MAGIC_COOKIE: [u8; 4] = [0x63, 0x82, 0x53, 0x63];
/// Length of the fixed BOOTP header before the cookie.
pub const HEADER_LEN: usize = 236;
/// Smallest message a server emits: the Linux in-kernel client ignores anything
/// shorter (RFC 1542 §2.1 and dnsmasq's `MIN_PACKETSZ`).
pub const MIN_EMIT_LEN: usize = 300;
/// The broadcast bit of `flags` (RFC 2131 §2).
pub const FLAG_BROADCAST: u16 = 0x8000;

/// BOOTP `op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// 1, client to server.
    BootRequest,
    /// 2, server to client.
    BootReply,
    /// Any other value (kept so a lax parse loses nothing).
    Unknown(u8),
}

/// DHCP message type, option 53 (RFC 2132 §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 1
    Discover,
    /// 2
    Offer,
    /// 3
    Request,
    /// 4
    Decline,
    /// 5
    Ack,
    /// 6
    Nak,
    /// 7
    Release,
    /// 8
    Inform,
    /// Any other value.
    Unknown(u8),
}

/// Option codes used by name in this crate (RFC 2132, RFC 4578, PXE 2.1, iPXE).
pub mod code {
    #![allow(missing_docs)]
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS_SERVERS: u8 = 6;
    pub const HOST_NAME: u8 = 12;
    pub const DOMAIN_NAME: u8 = 15;
    pub const BROADCAST_ADDRESS: u8 = 28;
    pub const VENDOR_SPECIFIC: u8 = 43;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    pub const MESSAGE: u8 = 56;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const VENDOR_CLASS: u8 = 60;
    pub const CLIENT_ID: u8 = 61;
    pub const TFTP_SERVER_NAME: u8 = 66;
    pub const BOOTFILE_NAME: u8 = 67;
    pub const USER_CLASS: u8 = 77;
    pub const CLIENT_ARCH: u8 = 93;
    pub const CLIENT_NDI: u8 = 94;
    pub const CLIENT_UUID: u8 = 97;
    pub const IPXE_ENCAP: u8 = 175;
    pub const END: u8 = 255;
}

/// One option as it was on the wire. A long option split across several
/// instances (RFC 3396) stays split here; [`DhcpMessage::option`] joins them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DhcpOption {
    /// Option code (never 0 or 255, which are framing).
    pub code: u8,
    /// Option payload.
    pub data: Vec<u8>,
}

/// Where option 52 put overflow options (RFC 2132 §9.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Overload {
    /// `file` and `sname` are plain fields.
    #[default]
    None,
    /// 1: options continue in `file`.
    File,
    /// 2: options continue in `sname`.
    Sname,
    /// 3: options continue in `file`, then `sname`.
    Both,
}

/// A DHCPv4 message (the BOOTP header plus options).
///
/// `sname` and `file` hold the field contents up to (not including) the first
/// NUL; when [`Self::overload`] says a field carries options it is empty here and
/// its options are appended to [`Self::options`] in RFC 2131 order (options area,
/// then `file`, then `sname`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DhcpMessage {
    /// `op`.
    pub op: Op,
    /// Hardware type (1 = Ethernet).
    pub htype: u8,
    /// Hardware address length as on the wire (may exceed 16 on hostile input;
    /// [`Self::client_mac`] never reads past `chaddr`).
    pub hlen: u8,
    /// Relay hops.
    pub hops: u8,
    /// Transaction id.
    pub xid: u32,
    /// Seconds since the client began (iPXE abuses this for its state).
    pub secs: u16,
    /// Flags; bit 15 is broadcast.
    pub flags: u16,
    /// Client's address when it already has one.
    pub ciaddr: Ipv4Addr,
    /// "Your" address: the one offered or assigned (0 in a ProxyDHCP reply).
    pub yiaddr: Ipv4Addr,
    /// Next server (the TFTP server, in PXE).
    pub siaddr: Ipv4Addr,
    /// Relay agent address.
    pub giaddr: Ipv4Addr,
    /// Client hardware address field, all 16 bytes.
    pub chaddr: [u8; 16],
    /// Server host name field (up to 64 bytes, no NUL).
    pub sname: Vec<u8>,
    /// Boot file name field (up to 128 bytes, no NUL).
    pub file: Vec<u8>,
    /// Where option 52 sent options when this message was parsed, or where
    /// [`DhcpMessage::emit`] may send them.
    pub overload: Overload,
    /// Options in wire order, excluding PAD, END and option 52 itself.
    pub options: Vec<DhcpOption>,
}

/// Why a DHCP message could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DhcpError {
    /// Shorter than the fixed header plus cookie.
    #[error("message is {0} bytes, shorter than the 240-byte BOOTP header and cookie")]
    Truncated(usize),
    /// The four bytes after the header are not 99.130.83.99.
    #[error("bad magic cookie {0:02x?}")]
    BadCookie([u8; 4]),
    /// An option's length runs past the end of its area.
    #[error("option {code} at offset {offset} claims {len} bytes, past the end of its area")]
    OptionOverrun {
        /// Option code.
        code: u8,
        /// Offset of the option's code byte in the message.
        offset: usize,
        /// Claimed length.
        len: u8,
    },
    /// (strict) The options area has no END option.
    #[error("options area is not terminated by END (255)")]
    MissingEnd,
    /// (strict) `hlen` is larger than the 16-byte `chaddr` field.
    #[error("hlen {0} exceeds the 16-byte chaddr field")]
    BadHlen(u8),
    /// (strict) Option 52 has a value other than 1, 2 or 3, or a length other than 1.
    #[error("option 52 (overload) is malformed")]
    BadOverload,
}

impl DhcpMessage {
    /// Parses a message. Never panics, whatever the bytes.
    pub fn parse(bytes: &[u8], mode: ParseMode) -> Result<Self, DhcpError> {
        let _ = (bytes, mode);
        todo!("wire::dhcp parse")
    }

    /// Emits the message: options in list order, each longer than 255 bytes split
    /// into consecutive instances (RFC 3396), END, then zero padding up to
    /// [`MIN_EMIT_LEN`]. When `overload` is not `None`, options that do not fit in
    /// `max_len` continue in `file`/`sname` behind option 52.
    pub fn emit(&self) -> Vec<u8> {
        todo!("wire::dhcp emit")
    }

    /// Like [`Self::emit`], but keeps the result within `max_len` bytes (the
    /// client's option 57, or 576) by overloading `file` then `sname` when the
    /// options do not fit and those fields are free.
    pub fn emit_within(&self, max_len: usize) -> Vec<u8> {
        let _ = max_len;
        todo!("wire::dhcp emit_within")
    }

    /// A BOOTREPLY skeleton for `request`: `op` 2, and `htype`, `hlen`, `xid`,
    /// `flags`, `giaddr` and `chaddr` copied as RFC 2131 §4.3.1 requires;
    /// everything else zero and no options.
    pub fn reply_to(request: &DhcpMessage) -> DhcpMessage {
        let _ = request;
        todo!("wire::dhcp reply_to")
    }

    /// Option 53.
    pub fn message_type(&self) -> Option<MessageType> {
        todo!()
    }

    /// The payload of option `code`, with every instance joined in order
    /// (RFC 3396), or `None` when absent.
    pub fn option(&self, code: u8) -> Option<std::borrow::Cow<'_, [u8]>> {
        let _ = code;
        todo!()
    }

    /// Appends an option instance (a duplicate stays a duplicate).
    pub fn push_option(&mut self, code: u8, data: impl Into<Vec<u8>>) {
        let _ = (code, data.into());
        todo!()
    }

    /// Replaces every instance of `code` by one instance at the position of the
    /// first (or at the end when absent).
    pub fn set_option(&mut self, code: u8, data: impl Into<Vec<u8>>) {
        let _ = (code, data.into());
        todo!()
    }

    /// The client's Ethernet address, when `htype` is 1 and `hlen` is 6.
    pub fn client_mac(&self) -> Option<crate::Mac> {
        todo!()
    }

    /// Whether the broadcast flag is set.
    pub fn broadcast_flag(&self) -> bool {
        self.flags & FLAG_BROADCAST != 0
    }

    /// Option 50.
    pub fn requested_ip(&self) -> Option<Ipv4Addr> {
        todo!()
    }

    /// Option 54.
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        todo!()
    }

    /// Option 57, when present and at least 576 (RFC 2132 §9.10).
    pub fn max_message_size(&self) -> Option<u16> {
        todo!()
    }

    /// Option 55, joined.
    pub fn parameter_request_list(&self) -> Option<Vec<u8>> {
        todo!()
    }

    /// The boot file: option 67 when present, else the `file` field when it is
    /// not empty (EDK2 and iPXE both prefer 67).
    pub fn boot_file(&self) -> Option<Vec<u8>> {
        todo!()
    }
}
