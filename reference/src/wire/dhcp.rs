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
    /// (strict) Option 52 has a value other than 1, 2 or 3, or a length other than 1,
    /// or appears inside an overloaded `file`/`sname` field.
    #[error("option 52 (overload) is malformed")]
    BadOverload,
    /// An option's code is the last byte of its area, with no length byte.
    #[error("option {code} at offset {offset} has no length byte")]
    MissingLength {
        /// Option code.
        code: u8,
        /// Offset of the option's code byte in the message.
        offset: usize,
    },
    /// (strict) Bytes other than PAD follow the END option.
    #[error("non-PAD byte at offset {offset}, after the END option")]
    TrailingBytes {
        /// Offset of the first such byte in the message.
        offset: usize,
    },
}

impl From<u8> for Op {
    fn from(value: u8) -> Self {
        match value {
            1 => Op::BootRequest,
            2 => Op::BootReply,
            other => Op::Unknown(other),
        }
    }
}

impl From<Op> for u8 {
    fn from(op: Op) -> u8 {
        match op {
            Op::BootRequest => 1,
            Op::BootReply => 2,
            Op::Unknown(other) => other,
        }
    }
}

impl From<u8> for MessageType {
    fn from(value: u8) -> Self {
        match value {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            other => MessageType::Unknown(other),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        match t {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
            MessageType::Unknown(other) => other,
        }
    }
}

impl Overload {
    /// The option 52 value for this overload, `None` for [`Overload::None`].
    pub fn value(self) -> Option<u8> {
        match self {
            Overload::None => None,
            Overload::File => Some(1),
            Overload::Sname => Some(2),
            Overload::Both => Some(3),
        }
    }

    /// The overload an option 52 value means, when it is 1, 2 or 3.
    pub fn from_value(value: u8) -> Option<Overload> {
        match value {
            1 => Some(Overload::File),
            2 => Some(Overload::Sname),
            3 => Some(Overload::Both),
            _ => None,
        }
    }

    /// Whether `file` carries options.
    pub fn file(self) -> bool {
        matches!(self, Overload::File | Overload::Both)
    }

    /// Whether `sname` carries options.
    pub fn sname(self) -> bool {
        matches!(self, Overload::Sname | Overload::Both)
    }

    fn from_flags(file: bool, sname: bool) -> Overload {
        match (file, sname) {
            (false, false) => Overload::None,
            (true, false) => Overload::File,
            (false, true) => Overload::Sname,
            (true, true) => Overload::Both,
        }
    }
}

/// Offsets of the fixed fields (RFC 2131 §2, figure 1).
const SNAME_AT: usize = 44;
const SNAME_LEN: usize = 64;
const FILE_AT: usize = 108;
const FILE_LEN: usize = 128;
const CHADDR_AT: usize = 28;
const OPTIONS_AT: usize = HEADER_LEN + 4;

/// Which part of the message an options area is (only option 52 cares).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Area {
    Options,
    Overloaded,
}

/// Reads the TLVs of one options area (`area` starts at message offset `base`)
/// and appends them to `out`, skipping PAD and stopping at END.
fn parse_area(
    area: &[u8],
    base: usize,
    kind: Area,
    mode: ParseMode,
    out: &mut Vec<DhcpOption>,
) -> Result<(), DhcpError> {
    let mut i = 0;
    while i < area.len() {
        let code = area[i];
        match code {
            code::PAD => {
                i += 1;
                continue;
            }
            code::END => {
                let trailing = area[i + 1..].iter().position(|&b| b != code::PAD);
                if let (ParseMode::Strict, Some(pos)) = (mode, trailing) {
                    return Err(DhcpError::TrailingBytes {
                        offset: base + i + 1 + pos,
                    });
                }
                return Ok(());
            }
            _ => {}
        }
        let Some(&len) = area.get(i + 1) else {
            return Err(DhcpError::MissingLength {
                code,
                offset: base + i,
            });
        };
        let start = i + 2;
        let end = start + usize::from(len);
        let Some(data) = area.get(start..end) else {
            return Err(DhcpError::OptionOverrun {
                code,
                offset: base + i,
                len,
            });
        };
        // Option 52 only means something in the options field (RFC 2131 §4.1); in
        // an overloaded field it is nonsense, and keeping it would make a re-emit
        // overload twice.
        if code == code::OVERLOAD && kind == Area::Overloaded {
            if mode == ParseMode::Strict {
                return Err(DhcpError::BadOverload);
            }
        } else {
            out.push(DhcpOption {
                code,
                data: data.to_vec(),
            });
        }
        i = end;
    }
    if mode == ParseMode::Strict {
        return Err(DhcpError::MissingEnd);
    }
    Ok(())
}

/// The bytes of a fixed NUL-padded field, up to the first NUL.
fn field_until_nul(field: &[u8]) -> Vec<u8> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    field[..end].to_vec()
}

fn ipv4_at(bytes: &[u8], at: usize) -> Ipv4Addr {
    let mut a = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        a.copy_from_slice(src);
    }
    Ipv4Addr::from(a)
}

/// Option instances as emitted: each payload split into ≤255-byte pieces (RFC
/// 3396 §5), an empty payload kept as one zero-length instance.
fn instances(options: &[DhcpOption]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    for opt in options {
        if opt.code == code::PAD || opt.code == code::END {
            continue;
        }
        if opt.data.is_empty() {
            out.push((opt.code, &opt.data[..]));
        } else {
            out.extend(opt.data.chunks(255).map(|c| (opt.code, c)));
        }
    }
    out
}

fn put_instance(buf: &mut Vec<u8>, (code, data): (u8, &[u8])) {
    buf.push(code);
    // `instances` guarantees data.len() <= 255.
    buf.push(data.len() as u8);
    buf.extend_from_slice(data);
}

/// Writes a fixed field: its contents (cut at the field size), then NULs.
fn put_field(buf: &mut Vec<u8>, contents: &[u8], size: usize) {
    let n = contents.len().min(size);
    buf.extend_from_slice(&contents[..n]);
    buf.resize(buf.len() + size - n, 0);
}

/// Writes an overloaded field: options, END, then PAD up to the field size.
fn put_option_field(buf: &mut Vec<u8>, opts: &[(u8, &[u8])], size: usize) {
    let start = buf.len();
    for &inst in opts {
        put_instance(buf, inst);
    }
    buf.push(code::END);
    buf.resize(start + size, 0);
}

impl Default for DhcpMessage {
    /// An empty BOOTREQUEST from an Ethernet client (`htype` 1, `hlen` 6), xid 0.
    fn default() -> Self {
        DhcpMessage {
            op: Op::BootRequest,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid: 0,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [0; 16],
            sname: Vec::new(),
            file: Vec::new(),
            overload: Overload::None,
            options: Vec::new(),
        }
    }
}

impl DhcpMessage {
    /// Parses a message. Never panics, whatever the bytes.
    ///
    /// Options are read from the options field, then `file`, then `sname` when
    /// option 52 says so (RFC 2131 §4.1). Both modes reject a short message, a bad
    /// cookie and an option that runs past the end of its area. Strict mode also
    /// rejects a missing END, non-PAD bytes after END, `hlen` > 16 and a malformed
    /// option 52; lax mode accepts those (a malformed option 52 then stays in
    /// [`Self::options`] as a plain option and nothing is overloaded, so nothing
    /// on the wire is lost).
    pub fn parse(bytes: &[u8], mode: ParseMode) -> Result<Self, DhcpError> {
        if bytes.len() < OPTIONS_AT {
            return Err(DhcpError::Truncated(bytes.len()));
        }
        let cookie = [bytes[236], bytes[237], bytes[238], bytes[239]];
        if cookie != MAGIC_COOKIE {
            return Err(DhcpError::BadCookie(cookie));
        }
        let hlen = bytes[2];
        if mode == ParseMode::Strict && hlen > 16 {
            return Err(DhcpError::BadHlen(hlen));
        }
        let mut chaddr = [0u8; 16];
        chaddr.copy_from_slice(&bytes[CHADDR_AT..CHADDR_AT + 16]);
        let sname_field = &bytes[SNAME_AT..SNAME_AT + SNAME_LEN];
        let file_field = &bytes[FILE_AT..FILE_AT + FILE_LEN];

        let mut options = Vec::new();
        parse_area(
            &bytes[OPTIONS_AT..],
            OPTIONS_AT,
            Area::Options,
            mode,
            &mut options,
        )?;

        // Option 52, joined over its instances as any option is (RFC 3396).
        let mut overload = Overload::None;
        let overload_data: Vec<u8> = options
            .iter()
            .filter(|o| o.code == code::OVERLOAD)
            .flat_map(|o| o.data.iter().copied())
            .collect();
        if options.iter().any(|o| o.code == code::OVERLOAD) {
            match overload_data.as_slice() {
                &[v] if Overload::from_value(v).is_some() => {
                    overload = Overload::from_value(v).unwrap_or_default();
                    options.retain(|o| o.code != code::OVERLOAD);
                }
                _ if mode == ParseMode::Strict => return Err(DhcpError::BadOverload),
                _ => {}
            }
        }

        let mut file = field_until_nul(file_field);
        let mut sname = field_until_nul(sname_field);
        if overload.file() {
            parse_area(file_field, FILE_AT, Area::Overloaded, mode, &mut options)?;
            file.clear();
        }
        if overload.sname() {
            parse_area(sname_field, SNAME_AT, Area::Overloaded, mode, &mut options)?;
            sname.clear();
        }

        Ok(DhcpMessage {
            op: Op::from(bytes[0]),
            htype: bytes[1],
            hlen,
            hops: bytes[3],
            xid: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            secs: u16::from_be_bytes([bytes[8], bytes[9]]),
            flags: u16::from_be_bytes([bytes[10], bytes[11]]),
            ciaddr: ipv4_at(bytes, 12),
            yiaddr: ipv4_at(bytes, 16),
            siaddr: ipv4_at(bytes, 20),
            giaddr: ipv4_at(bytes, 24),
            chaddr,
            sname,
            file,
            overload,
            options,
        })
    }

    /// Emits the message: options in list order, each longer than 255 bytes split
    /// into consecutive instances (RFC 3396), END, then zero padding up to
    /// [`MIN_EMIT_LEN`]. When `overload` is not `None`, options that do not fit in
    /// `max_len` continue in `file`/`sname` behind option 52.
    ///
    /// With no size limit everything fits in the options field, so `emit` only
    /// writes option 52 when [`Self::overload`] asks for it (and the named fields
    /// are empty): the overloaded fields then hold just END. A zero-length option
    /// is emitted as `code 0` (dhcproto drops it). `sname`/`file` longer than
    /// their fields are cut to 64/128 bytes; options with code 0 or 255 are
    /// framing, not options, and are skipped.
    pub fn emit(&self) -> Vec<u8> {
        self.emit_within(usize::MAX)
    }

    /// Like [`Self::emit`], but keeps the result within `max_len` bytes (the
    /// client's option 57, or 576) by overloading `file` then `sname` when the
    /// options do not fit and those fields are free.
    ///
    /// Options keep their order across the areas (options field, `file`,
    /// `sname`: the order a client reads them, RFC 2131 §4.1). When even
    /// overloading cannot fit them, all options stay in the options field and
    /// the message exceeds `max_len`: an oversized reply is a visible fault, a
    /// dropped option a silent one. When [`Self::options`] already holds an
    /// option 52 (a malformed one kept by a lax parse), it is written as it is
    /// and nothing is overloaded.
    pub fn emit_within(&self, max_len: usize) -> Vec<u8> {
        let insts = instances(&self.options);
        let raw_52 = self.options.iter().any(|o| o.code == code::OVERLOAD);
        let file_free = self.file.is_empty() && !raw_52;
        let sname_free = self.sname.is_empty() && !raw_52;
        let forced_file = self.overload.file() && file_free;
        let forced_sname = self.overload.sname() && sname_free;

        let size = |inst: &(u8, &[u8])| 2 + inst.1.len();
        let total: usize = insts.iter().map(size).sum();
        let budget = max_len.saturating_sub(OPTIONS_AT);
        let forced = forced_file || forced_sname;

        // Area index of each instance: 0 options field, 1 file, 2 sname.
        let mut placement = vec![0usize; insts.len()];
        let mut use_file = forced_file;
        let mut use_sname = forced_sname;
        let fits_plain = total + 1 + if forced { 3 } else { 0 } <= budget;
        if !fits_plain && (file_free || sname_free) {
            // Capacity of each area for options, keeping room for END (and 52).
            let caps = [
                budget.saturating_sub(3 + 1),
                if file_free { FILE_LEN - 1 } else { 0 },
                if sname_free { SNAME_LEN - 1 } else { 0 },
            ];
            let mut used = [0usize; 3];
            let mut area = 0;
            let mut ok = true;
            for (inst, place) in insts.iter().zip(placement.iter_mut()) {
                while area < 3 && used[area] + size(inst) > caps[area] {
                    area += 1;
                }
                if area == 3 {
                    ok = false;
                    break;
                }
                used[area] += size(inst);
                *place = area;
            }
            if ok {
                use_file |= used[1] > 0;
                use_sname |= used[2] > 0;
            } else {
                placement.iter_mut().for_each(|p| *p = 0);
            }
        }
        let overload = Overload::from_flags(use_file, use_sname);
        let in_area = |a: usize| -> Vec<(u8, &[u8])> {
            insts
                .iter()
                .zip(&placement)
                .filter(|(_, p)| **p == a)
                .map(|(i, _)| *i)
                .collect()
        };

        let mut buf = Vec::with_capacity(MIN_EMIT_LEN.max(OPTIONS_AT + total + 4));
        buf.push(u8::from(self.op));
        buf.push(self.htype);
        buf.push(self.hlen);
        buf.push(self.hops);
        buf.extend_from_slice(&self.xid.to_be_bytes());
        buf.extend_from_slice(&self.secs.to_be_bytes());
        buf.extend_from_slice(&self.flags.to_be_bytes());
        for addr in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            buf.extend_from_slice(&addr.octets());
        }
        buf.extend_from_slice(&self.chaddr);
        if overload.sname() {
            put_option_field(&mut buf, &in_area(2), SNAME_LEN);
        } else {
            put_field(&mut buf, &self.sname, SNAME_LEN);
        }
        if overload.file() {
            put_option_field(&mut buf, &in_area(1), FILE_LEN);
        } else {
            put_field(&mut buf, &self.file, FILE_LEN);
        }
        buf.extend_from_slice(&MAGIC_COOKIE);
        if let Some(v) = overload.value() {
            buf.extend_from_slice(&[code::OVERLOAD, 1, v]);
        }
        for inst in in_area(0) {
            put_instance(&mut buf, inst);
        }
        buf.push(code::END);
        if buf.len() < MIN_EMIT_LEN {
            buf.resize(MIN_EMIT_LEN, 0);
        }
        buf
    }

    /// A BOOTREPLY skeleton for `request`: `op` 2, and `htype`, `hlen`, `xid`,
    /// `flags`, `giaddr` and `chaddr` copied as RFC 2131 §4.3.1 requires;
    /// everything else zero and no options.
    pub fn reply_to(request: &DhcpMessage) -> DhcpMessage {
        DhcpMessage {
            op: Op::BootReply,
            htype: request.htype,
            hlen: request.hlen,
            xid: request.xid,
            flags: request.flags,
            giaddr: request.giaddr,
            chaddr: request.chaddr,
            ..DhcpMessage::default()
        }
    }

    /// Option 53.
    pub fn message_type(&self) -> Option<MessageType> {
        match self.option(code::MESSAGE_TYPE)?.as_ref() {
            &[t] => Some(MessageType::from(t)),
            _ => None,
        }
    }

    /// Replaces option 53 (see [`Self::set_option`]).
    pub fn set_message_type(&mut self, t: MessageType) {
        self.set_option(code::MESSAGE_TYPE, [u8::from(t)]);
    }

    /// The payload of option `code`, with every instance joined in order
    /// (RFC 3396), or `None` when absent.
    pub fn option(&self, code: u8) -> Option<std::borrow::Cow<'_, [u8]>> {
        let mut found = self.options.iter().filter(|o| o.code == code);
        let first = found.next()?;
        match found.next() {
            None => Some(std::borrow::Cow::Borrowed(&first.data[..])),
            Some(second) => {
                let mut joined = first.data.clone();
                joined.extend_from_slice(&second.data);
                for more in found {
                    joined.extend_from_slice(&more.data);
                }
                Some(std::borrow::Cow::Owned(joined))
            }
        }
    }

    /// Whether option `code` is present (possibly with an empty payload).
    pub fn has_option(&self, code: u8) -> bool {
        self.options.iter().any(|o| o.code == code)
    }

    /// Appends an option instance (a duplicate stays a duplicate).
    pub fn push_option(&mut self, code: u8, data: impl Into<Vec<u8>>) {
        self.options.push(DhcpOption {
            code,
            data: data.into(),
        });
    }

    /// Replaces every instance of `code` by one instance at the position of the
    /// first (or at the end when absent).
    pub fn set_option(&mut self, code: u8, data: impl Into<Vec<u8>>) {
        let data = data.into();
        match self.options.iter().position(|o| o.code == code) {
            Some(first) => {
                self.options[first].data = data;
                let mut i = 0;
                self.options.retain(|o| {
                    let keep = o.code != code || i == first;
                    i += 1;
                    keep
                });
            }
            None => self.push_option(code, data),
        }
    }

    /// Removes every instance of `code`; returns whether there was one.
    pub fn remove_option(&mut self, code: u8) -> bool {
        let before = self.options.len();
        self.options.retain(|o| o.code != code);
        self.options.len() != before
    }

    /// The client's Ethernet address, when `htype` is 1 and `hlen` is 6.
    pub fn client_mac(&self) -> Option<crate::Mac> {
        if self.htype != 1 || self.hlen != 6 {
            return None;
        }
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&self.chaddr[..6]);
        Some(crate::Mac(mac))
    }

    /// Whether the broadcast flag is set.
    pub fn broadcast_flag(&self) -> bool {
        self.flags & FLAG_BROADCAST != 0
    }

    fn ipv4_option(&self, code: u8) -> Option<Ipv4Addr> {
        let data = self.option(code)?;
        let octets: [u8; 4] = data.as_ref().try_into().ok()?;
        Some(Ipv4Addr::from(octets))
    }

    /// Option 50.
    pub fn requested_ip(&self) -> Option<Ipv4Addr> {
        self.ipv4_option(code::REQUESTED_IP)
    }

    /// Option 54.
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        self.ipv4_option(code::SERVER_ID)
    }

    /// Option 57, when present and at least 576 (RFC 2132 §9.10).
    pub fn max_message_size(&self) -> Option<u16> {
        let data = self.option(code::MAX_MESSAGE_SIZE)?;
        let bytes: [u8; 2] = data.as_ref().try_into().ok()?;
        let size = u16::from_be_bytes(bytes);
        (size >= 576).then_some(size)
    }

    /// Option 55, joined.
    pub fn parameter_request_list(&self) -> Option<Vec<u8>> {
        self.option(code::PARAMETER_REQUEST_LIST)
            .map(|d| d.into_owned())
    }

    /// The boot file: option 67 when present, else the `file` field when it is
    /// not empty (EDK2 and iPXE both prefer 67).
    ///
    /// Trailing NULs of option 67 are dropped: dnsmasq NUL-terminates it because
    /// some PXE ROMs need that, and the NUL is not part of the name. An option 67
    /// that is empty after that counts as absent.
    pub fn boot_file(&self) -> Option<Vec<u8>> {
        if let Some(name) = self.option(code::BOOTFILE_NAME) {
            let end = name.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            if end > 0 {
                return Some(name[..end].to_vec());
            }
        }
        (!self.file.is_empty()).then(|| self.file.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discover() -> DhcpMessage {
        let mut m = DhcpMessage {
            xid: 0x1234_5678,
            flags: FLAG_BROADCAST,
            ..DhcpMessage::default()
        };
        m.chaddr[..6].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        m.set_message_type(MessageType::Discover);
        m.push_option(code::PARAMETER_REQUEST_LIST, [1, 3, 43, 60, 66, 67]);
        m.push_option(code::VENDOR_CLASS, &b"PXEClient:Arch:00007:UNDI:003016"[..]);
        m
    }

    /// A raw message: header with the given `sname`/`file` fields and options area.
    fn raw(sname: &[u8], file: &[u8], options: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN];
        b[0] = 1;
        b[1] = 1;
        b[2] = 6;
        b[SNAME_AT..SNAME_AT + sname.len()].copy_from_slice(sname);
        b[FILE_AT..FILE_AT + file.len()].copy_from_slice(file);
        b.extend_from_slice(&MAGIC_COOKIE);
        b.extend_from_slice(options);
        b
    }

    #[test]
    fn emit_pads_to_300_and_round_trips() {
        let m = discover();
        let bytes = m.emit();
        assert_eq!(bytes.len(), MIN_EMIT_LEN);
        assert_eq!(&bytes[236..240], &MAGIC_COOKIE);
        assert_eq!(&bytes[240..243], &[53, 1, 1]);
        for mode in [ParseMode::Strict, ParseMode::Lax] {
            assert_eq!(DhcpMessage::parse(&bytes, mode).unwrap(), m);
        }
    }

    #[test]
    fn order_and_duplicates_survive() {
        let bytes = raw(&[], &[], &[60, 1, b'a', 53, 1, 3, 0, 0, 60, 1, b'b', 255]);
        let m = DhcpMessage::parse(&bytes, ParseMode::Strict).unwrap();
        let codes: Vec<u8> = m.options.iter().map(|o| o.code).collect();
        assert_eq!(codes, [60, 53, 60]);
        assert_eq!(m.option(60).unwrap().as_ref(), b"ab");
        assert_eq!(
            &m.emit()[240..250],
            &[60, 1, b'a', 53, 1, 3, 60, 1, b'b', 255]
        );
    }

    #[test]
    fn long_option_is_split_and_joined() {
        let mut m = DhcpMessage::default();
        let long: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
        m.push_option(43, long.clone());
        let bytes = m.emit();
        assert_eq!(bytes[240], 43);
        assert_eq!(bytes[241], 255);
        let parsed = DhcpMessage::parse(&bytes, ParseMode::Strict).unwrap();
        let lens: Vec<usize> = parsed.options.iter().map(|o| o.data.len()).collect();
        assert_eq!(lens, [255, 255, 90]);
        assert_eq!(parsed.option(43).unwrap().as_ref(), &long[..]);
    }

    #[test]
    fn zero_length_option_is_emitted() {
        let mut m = DhcpMessage::default();
        m.push_option(code::USER_CLASS, Vec::new());
        let bytes = m.emit();
        assert_eq!(&bytes[240..243], &[77, 0, 255]);
        let parsed = DhcpMessage::parse(&bytes, ParseMode::Strict).unwrap();
        assert_eq!(parsed.option(77).unwrap().as_ref(), b"");
        assert_eq!(parsed, m);
    }

    #[test]
    fn overload_is_read_options_then_file_then_sname() {
        let sname = [12, 1, b's', 255];
        let file = [12, 1, b'f', 255];
        let bytes = raw(&sname, &file, &[52, 1, 3, 12, 1, b'o', 255]);
        let m = DhcpMessage::parse(&bytes, ParseMode::Strict).unwrap();
        assert_eq!(m.overload, Overload::Both);
        assert_eq!(m.option(12).unwrap().as_ref(), b"ofs");
        assert!(m.file.is_empty() && m.sname.is_empty());
        // A plain (not overloaded) message keeps the fields as names.
        let plain = raw(b"server", b"pxelinux.0", &[255]);
        let m = DhcpMessage::parse(&plain, ParseMode::Strict).unwrap();
        assert_eq!(m.sname, b"server");
        assert_eq!(m.boot_file().unwrap(), b"pxelinux.0");
    }

    #[test]
    fn emit_within_overloads_file_then_sname() {
        let mut m = DhcpMessage::default();
        // 576 - 240 = 336 bytes of options area; nine 52-byte options need 468:
        // six go in the options field, two in `file`, one in `sname`.
        for i in 0..9u8 {
            m.push_option(200 + i, vec![i; 50]);
        }
        let bytes = m.emit_within(576);
        assert!(bytes.len() <= 576, "{} bytes", bytes.len());
        let parsed = DhcpMessage::parse(&bytes, ParseMode::Strict).unwrap();
        assert_eq!(parsed.overload, Overload::Both);
        assert_eq!(&bytes[FILE_AT..FILE_AT + 2], &[206, 50]);
        assert_eq!(&bytes[SNAME_AT..SNAME_AT + 2], &[208, 50]);
        assert_eq!(parsed.options, m.options);
        // Without the limit nothing is overloaded.
        let plain = DhcpMessage::parse(&m.emit(), ParseMode::Strict).unwrap();
        assert_eq!(plain.overload, Overload::None);
        // When even overloading cannot fit them, nothing is dropped.
        m.push_option(250, vec![0; 200]);
        let big = DhcpMessage::parse(&m.emit_within(576), ParseMode::Strict).unwrap();
        assert_eq!(big.options, m.options);
    }

    #[test]
    fn emit_within_leaves_a_used_file_field_alone() {
        let mut m = DhcpMessage {
            file: b"ipxe.efi".to_vec(),
            ..DhcpMessage::default()
        };
        for i in 0..7u8 {
            m.push_option(200 + i, vec![i; 50]);
        }
        let parsed = DhcpMessage::parse(&m.emit_within(576), ParseMode::Strict).unwrap();
        assert_eq!(parsed.file, b"ipxe.efi");
        assert_eq!(parsed.overload, Overload::Sname);
        assert_eq!(parsed.options, m.options);
    }

    #[test]
    fn requested_overload_is_emitted() {
        let mut m = discover();
        m.overload = Overload::Both;
        let parsed = DhcpMessage::parse(&m.emit(), ParseMode::Strict).unwrap();
        assert_eq!(parsed, m);
    }

    #[test]
    fn strict_rejects_what_lax_tolerates() {
        let cases: [(Vec<u8>, DhcpError); 4] = [
            (raw(&[], &[], &[53, 1, 1]), DhcpError::MissingEnd),
            (
                raw(&[], &[], &[53, 1, 1, 255, 0, 7]),
                DhcpError::TrailingBytes { offset: 245 },
            ),
            (raw(&[], &[], &[52, 1, 9, 255]), DhcpError::BadOverload),
            (
                {
                    let mut b = raw(&[], &[], &[255]);
                    b[2] = 20;
                    b
                },
                DhcpError::BadHlen(20),
            ),
        ];
        for (bytes, err) in cases {
            assert_eq!(DhcpMessage::parse(&bytes, ParseMode::Strict), Err(err));
            assert!(DhcpMessage::parse(&bytes, ParseMode::Lax).is_ok());
        }
        // Lax keeps a malformed option 52 as a plain option and overloads nothing.
        let m = DhcpMessage::parse(&raw(&[], &[], &[52, 1, 9, 255]), ParseMode::Lax).unwrap();
        assert_eq!(m.overload, Overload::None);
        assert_eq!(m.option(52).unwrap().as_ref(), &[9]);
    }

    #[test]
    fn malformed_messages_are_errors_in_both_modes() {
        let mut bad_cookie = raw(&[], &[], &[255]);
        bad_cookie[239] = 0;
        let cases: [(Vec<u8>, DhcpError); 4] = [
            (vec![0; 239], DhcpError::Truncated(239)),
            (bad_cookie, DhcpError::BadCookie([0x63, 0x82, 0x53, 0])),
            (
                raw(&[], &[], &[53, 1, 1, 60, 5, b'a']),
                DhcpError::OptionOverrun {
                    code: 60,
                    offset: 243,
                    len: 5,
                },
            ),
            (
                raw(&[], &[], &[53, 1, 1, 60]),
                DhcpError::MissingLength {
                    code: 60,
                    offset: 243,
                },
            ),
        ];
        for (bytes, err) in cases {
            for mode in [ParseMode::Strict, ParseMode::Lax] {
                assert_eq!(DhcpMessage::parse(&bytes, mode), Err(err.clone()));
            }
        }
    }

    #[test]
    fn option_ending_exactly_at_the_end_is_fine_in_lax() {
        let m = DhcpMessage::parse(&raw(&[], &[], &[53, 1, 1, 12, 0]), ParseMode::Lax).unwrap();
        assert_eq!(m.message_type(), Some(MessageType::Discover));
        assert_eq!(m.option(12).unwrap().as_ref(), b"");
    }

    #[test]
    fn client_mac_needs_ethernet_and_hlen_6() {
        let mut m = discover();
        assert_eq!(
            m.client_mac(),
            Some(crate::Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56]))
        );
        m.hlen = 255;
        assert_eq!(m.client_mac(), None);
        m.hlen = 6;
        m.htype = 6;
        assert_eq!(m.client_mac(), None);
    }

    #[test]
    fn reply_to_copies_what_rfc_2131_requires() {
        let mut req = discover();
        req.giaddr = Ipv4Addr::new(10, 0, 0, 1);
        req.secs = 9;
        req.ciaddr = Ipv4Addr::new(10, 0, 0, 7);
        let reply = DhcpMessage::reply_to(&req);
        assert_eq!(reply.op, Op::BootReply);
        assert_eq!(
            (
                reply.xid,
                reply.flags,
                reply.giaddr,
                reply.chaddr,
                reply.hlen
            ),
            (req.xid, req.flags, req.giaddr, req.chaddr, req.hlen)
        );
        assert_eq!((reply.secs, reply.ciaddr), (0, Ipv4Addr::UNSPECIFIED));
        assert!(reply.options.is_empty());
    }

    #[test]
    fn typed_accessors() {
        let mut m = DhcpMessage::default();
        m.push_option(code::REQUESTED_IP, [10, 0, 0, 5]);
        m.push_option(code::SERVER_ID, [10, 0, 0, 1, 0]);
        m.push_option(code::MAX_MESSAGE_SIZE, 1472u16.to_be_bytes());
        m.push_option(code::BOOTFILE_NAME, &b"boot.ipxe\0"[..]);
        assert_eq!(m.requested_ip(), Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(m.server_id(), None, "five bytes is not an address");
        assert_eq!(m.max_message_size(), Some(1472));
        assert_eq!(m.boot_file().unwrap(), b"boot.ipxe");
        m.set_option(code::MAX_MESSAGE_SIZE, 500u16.to_be_bytes());
        assert_eq!(m.max_message_size(), None);
        assert_eq!(m.message_type(), None);
    }

    #[test]
    fn set_option_replaces_every_instance_at_the_first() {
        let mut m = DhcpMessage::default();
        m.push_option(60, &b"a"[..]);
        m.push_option(53, [1]);
        m.push_option(60, &b"b"[..]);
        m.set_option(60, &b"c"[..]);
        let got: Vec<(u8, &[u8])> = m.options.iter().map(|o| (o.code, &o.data[..])).collect();
        assert_eq!(got, [(60, &b"c"[..]), (53, &[1][..])]);
    }
}
