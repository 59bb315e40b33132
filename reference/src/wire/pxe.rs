//! Typed views of what PXE adds to DHCP: option 43 sub-options (PXE 2.1), option
//! 60 `PXEClient:Arch:xxxxx:UNDI:yyyzzz`, 93 (RFC 4578 client architectures), 94,
//! 97 (client UUID), 77 user class (iPXE sends a plain string), 175 (iPXE).
//!
//! Each type has a `parse` that never panics and an `emit`; the raw bytes stay in
//! [`DhcpMessage::options`], so a typed view that fails to parse loses nothing.
//! The accessors at the end of this module return `Option<Result<..>>`: `None`
//! when the client did not send the option, `Some(Err(..))` when it sent one that
//! is malformed (a conformance finding, or a reason to ignore the client).

use std::fmt;
use std::net::Ipv4Addr;

use super::ParseMode;
use super::dhcp::{DhcpMessage, code};

/// Why a PXE option could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PxeError {
    /// Option 60 starts with neither `PXEClient:` nor `HTTPClient:` followed by
    /// the `Arch:xxxxx:UNDI:yyyzzz` fields.
    #[error(
        "option 60 {0:?} is not of the form PXEClient:Arch:xxxxx:UNDI:yyyzzz (5 and 3+3 decimal digits)"
    )]
    BadClientClass(String),
    /// A fixed-size option has the wrong length.
    #[error("option {code} is {len} bytes long; it must be {expected}")]
    BadLength {
        /// Option code.
        code: u8,
        /// Length received.
        len: usize,
        /// What the specification requires.
        expected: &'static str,
    },
    /// Option 93 carries an odd number of bytes or none (RFC 4578 §2.1: a
    /// non-empty list of 16-bit types).
    #[error(
        "option 93 is {0} bytes long; it must be a non-empty list of 16-bit architecture types"
    )]
    BadArchList(usize),
    /// An encapsulated sub-option runs past the end of its option.
    #[error(
        "option {option} sub-option {code} at offset {offset} claims {len} bytes, past the end"
    )]
    SubOptionOverrun {
        /// The carrying option (43 or 175).
        option: u8,
        /// Sub-option code.
        code: u8,
        /// Offset of the sub-option's code byte inside the option payload.
        offset: usize,
        /// Claimed length.
        len: u8,
    },
    /// An encapsulated sub-option's code is the last byte of its option.
    #[error("option {option} sub-option {code} at offset {offset} has no length byte")]
    SubOptionMissingLength {
        /// The carrying option (43 or 175).
        option: u8,
        /// Sub-option code.
        code: u8,
        /// Offset of the sub-option's code byte inside the option payload.
        offset: usize,
    },
    /// (strict) A known option 43 sub-option has a payload the PXE 2.1 layout
    /// does not allow.
    #[error("option 43 sub-option {code} is malformed: {reason}")]
    BadSubOption {
        /// Sub-option code.
        code: u8,
        /// What is wrong, in the spec's words.
        reason: &'static str,
    },
    /// (strict) Option 43 is not terminated by END (PXE 2.1 §2.2.6).
    #[error("option 43 PXE sub-options are not terminated by END (255)")]
    MissingEnd,
    /// (strict) Bytes other than PAD follow END.
    #[error("non-PAD byte at offset {0} of option 43, after END")]
    TrailingBytes(usize),
    /// A sub-option (or an item inside one) would need more than the 255 bytes
    /// its length byte can describe; emitting refuses rather than truncating.
    #[error(
        "{what} would be {len} bytes, more than the 255 its length byte allows (dnsmasq keeps PXE menus under 253)"
    )]
    TooLong {
        /// Which field overflowed.
        what: &'static str,
        /// The length it would have had.
        len: usize,
    },
}

// ---------------------------------------------------------------------------
// Option 60

/// Which class-identifier family a client announced in option 60.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClassKind {
    /// `PXEClient`: PXE 2.1 over TFTP.
    Pxe,
    /// `HTTPClient`: UEFI HTTP boot (UEFI 2.5+), which wants a URL as boot file
    /// and `HTTPClient` echoed back in the offer.
    Http,
}

impl ClassKind {
    /// The prefix on the wire.
    pub fn prefix(self) -> &'static str {
        match self {
            ClassKind::Pxe => "PXEClient",
            ClassKind::Http => "HTTPClient",
        }
    }
}

/// Option 60 as a PXE client sends it: `PXEClient:Arch:xxxxx:UNDI:yyyzzz`
/// (PXE 2.1 §2.2.5; xxxxx the decimal option-93 type, yyy/zzz the UNDI major and
/// minor version), or the same with `HTTPClient`.
///
/// Fields above 99999 (`arch`) or 999 (UNDI) do not fit the format: [`Self::emit`]
/// then writes more digits and [`Self::parse`] will not read them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PxeClientClass {
    /// `PXEClient` or `HTTPClient`.
    pub kind: ClassKind,
    /// The architecture type (the same value as option 93).
    pub arch: ClientArch,
    /// UNDI major version (yyy).
    pub undi_major: u16,
    /// UNDI minor version (zzz).
    pub undi_minor: u16,
}

/// Whether option 60 marks a PXE client: it starts with the 9 bytes
/// `PXEClient`, the test EDK2 and dnsmasq apply (a ProxyDHCP server must answer
/// only those clients, PXE 2.1 §2.2.5).
pub fn is_pxe_client(opt60: &[u8]) -> bool {
    opt60.starts_with(b"PXEClient")
}

/// Whether option 60 marks a UEFI HTTP boot client (`HTTPClient` prefix).
pub fn is_http_client(opt60: &[u8]) -> bool {
    opt60.starts_with(b"HTTPClient")
}

fn decimal(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0')),
    )
}

impl PxeClientClass {
    /// Parses the full 32-byte (`PXEClient`) or 33-byte (`HTTPClient`) form.
    /// A bare `PXEClient` (what servers echo) is not a client class: test it
    /// with [`is_pxe_client`].
    pub fn parse(data: &[u8]) -> Result<Self, PxeError> {
        let bad = || PxeError::BadClientClass(String::from_utf8_lossy(data).into_owned());
        let (kind, rest) = if let Some(rest) = data.strip_prefix(b"PXEClient") {
            (ClassKind::Pxe, rest)
        } else if let Some(rest) = data.strip_prefix(b"HTTPClient") {
            (ClassKind::Http, rest)
        } else {
            return Err(bad());
        };
        // ":Arch:" 5 digits ":UNDI:" 6 digits
        let rest = rest.strip_prefix(b":Arch:").ok_or_else(bad)?;
        if rest.len() != 5 + 6 + 6 || &rest[5..11] != b":UNDI:" {
            return Err(bad());
        }
        let arch = decimal(&rest[..5])
            .and_then(|a| u16::try_from(a).ok())
            .ok_or_else(bad)?;
        let major = decimal(&rest[11..14]).ok_or_else(bad)?;
        let minor = decimal(&rest[14..17]).ok_or_else(bad)?;
        Ok(PxeClientClass {
            kind,
            arch: ClientArch(arch),
            // Three decimal digits always fit a u16.
            undi_major: major as u16,
            undi_minor: minor as u16,
        })
    }

    /// The option 60 payload.
    pub fn emit(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for PxeClientClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:Arch:{:05}:UNDI:{:03}{:03}",
            self.kind.prefix(),
            self.arch.0,
            self.undi_major,
            self.undi_minor
        )
    }
}

// ---------------------------------------------------------------------------
// Option 93

/// A client system architecture type (option 93, RFC 4578 §2.1, IANA
/// "Processor Architecture Types").
///
/// **7 vs 9**: RFC 4578 as published said 7 = EFI BC and 9 = EFI x86-64, while
/// IANA (and EDK2) had them the other way round; the 2016 erratum adopted IANA's
/// assignment (7 = x64 UEFI). Firmware in the wild sends 7 for x64 UEFI, some
/// older stacks 9, so [`ClientArch::is_efi_x64`] accepts both, as iPXE,
/// dnsmasq ≥ 2.76 and pixiecore do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientArch(pub u16);

#[allow(missing_docs)]
impl ClientArch {
    pub const X86_BIOS: ClientArch = ClientArch(0);
    pub const NEC_PC98: ClientArch = ClientArch(1);
    pub const ITANIUM: ClientArch = ClientArch(2);
    pub const DEC_ALPHA: ClientArch = ClientArch(3);
    pub const ARC_X86: ClientArch = ClientArch(4);
    pub const INTEL_LEAN_CLIENT: ClientArch = ClientArch(5);
    pub const EFI_IA32: ClientArch = ClientArch(6);
    /// x64 UEFI (IANA; see the type's note on 7 vs 9).
    pub const EFI_X64: ClientArch = ClientArch(7);
    pub const EFI_XSCALE: ClientArch = ClientArch(8);
    /// EFI byte code (IANA); RFC 4578 as published called this x86-64.
    pub const EFI_BC: ClientArch = ClientArch(9);
    pub const EFI_ARM32: ClientArch = ClientArch(10);
    pub const EFI_ARM64: ClientArch = ClientArch(11);
    pub const EFI_IA32_HTTP: ClientArch = ClientArch(15);
    pub const EFI_X64_HTTP: ClientArch = ClientArch(16);
    pub const EFI_BC_HTTP: ClientArch = ClientArch(17);
    pub const EFI_ARM32_HTTP: ClientArch = ClientArch(18);
    pub const EFI_ARM64_HTTP: ClientArch = ClientArch(19);
    pub const BIOS_HTTP: ClientArch = ClientArch(20);
    pub const EFI_RISCV32: ClientArch = ClientArch(0x19);
    pub const EFI_RISCV64: ClientArch = ClientArch(0x1b);
    pub const EFI_RISCV128: ClientArch = ClientArch(0x1d);
    pub const EFI_LOONGARCH64: ClientArch = ClientArch(0x27);
}

impl ClientArch {
    /// x64 UEFI: 7, or 9 from firmware that followed the RFC text before the
    /// erratum.
    pub fn is_efi_x64(self) -> bool {
        self == Self::EFI_X64 || self == Self::EFI_BC
    }

    /// Legacy PC BIOS (type 0).
    pub fn is_bios(self) -> bool {
        self == Self::X86_BIOS
    }

    /// A UEFI HTTP boot type (15–20), which expects a URL rather than a TFTP file.
    pub fn is_http(self) -> bool {
        (15..=20).contains(&self.0)
    }

    /// The IANA name, when the type is one this crate names.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "x86 BIOS",
            1 => "NEC/PC98",
            2 => "Itanium",
            3 => "DEC Alpha",
            4 => "Arc x86",
            5 => "Intel Lean Client",
            6 => "x86 UEFI",
            7 => "x64 UEFI",
            8 => "EFI Xscale",
            9 => "EFI BC",
            10 => "ARM 32-bit UEFI",
            11 => "ARM 64-bit UEFI",
            15 => "x86 UEFI HTTP",
            16 => "x64 UEFI HTTP",
            17 => "EBC UEFI HTTP",
            18 => "ARM 32-bit UEFI HTTP",
            19 => "ARM 64-bit UEFI HTTP",
            20 => "x86 BIOS HTTP",
            0x19 => "RISC-V 32-bit UEFI",
            0x1b => "RISC-V 64-bit UEFI",
            0x1d => "RISC-V 128-bit UEFI",
            0x27 => "LoongArch 64-bit UEFI",
            _ => return None,
        })
    }
}

impl fmt::Display for ClientArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Parses option 93: a non-empty list of big-endian 16-bit types (RFC 4578 §2.1;
/// dhcproto reads only the first).
pub fn parse_arch_list(data: &[u8]) -> Result<Vec<ClientArch>, PxeError> {
    if data.is_empty() || !data.len().is_multiple_of(2) {
        return Err(PxeError::BadArchList(data.len()));
    }
    Ok(data
        .chunks_exact(2)
        .map(|c| ClientArch(u16::from_be_bytes([c[0], c[1]])))
        .collect())
}

/// The option 93 payload for `arches`.
pub fn emit_arch_list(arches: &[ClientArch]) -> Vec<u8> {
    arches.iter().flat_map(|a| a.0.to_be_bytes()).collect()
}

// ---------------------------------------------------------------------------
// Option 94

/// Client network interface identifier, option 94 (RFC 4578 §2.2): type 1 is
/// UNDI, with its major and minor version (2.1 for PXE 2.0 16-bit UNDI, 3.0 for
/// 32/64-bit UNDI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientNdi {
    /// Interface type (1 = UNDI).
    pub kind: u8,
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
}

impl ClientNdi {
    /// The only defined interface type.
    pub const UNDI: u8 = 1;

    /// Parses the 3-byte payload.
    pub fn parse(data: &[u8]) -> Result<Self, PxeError> {
        match *data {
            [kind, major, minor] => Ok(ClientNdi { kind, major, minor }),
            _ => Err(PxeError::BadLength {
                code: code::CLIENT_NDI,
                len: data.len(),
                expected: "3 (type, major, minor)",
            }),
        }
    }

    /// The option 94 payload.
    pub fn emit(&self) -> Vec<u8> {
        vec![self.kind, self.major, self.minor]
    }
}

// ---------------------------------------------------------------------------
// Option 97

/// Client machine identifier, option 97 (RFC 4578 §2.3): type 0 then a 16-byte
/// GUID (in practice the SMBIOS UUID; iPXE lays it out the EFI way, first three
/// fields little-endian).
///
/// The GUID is untrusted: EDK2 sends all zeros when it cannot read SMBIOS, and
/// cheap boards ship duplicate or all-FF UUIDs, so never key a machine on it
/// alone. A type other than 0 is kept as sent (RFC 4578 defines only 0;
/// pixiecore rejects others) so that a conformance check can report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientUuid {
    /// Identifier type (0 = GUID).
    pub kind: u8,
    /// The 16 GUID bytes as on the wire.
    pub guid: [u8; 16],
}

impl ClientUuid {
    /// Parses the 17-byte payload.
    pub fn parse(data: &[u8]) -> Result<Self, PxeError> {
        match data.split_first() {
            Some((&kind, guid)) if guid.len() == 16 => {
                let mut g = [0u8; 16];
                g.copy_from_slice(guid);
                Ok(ClientUuid { kind, guid: g })
            }
            _ => Err(PxeError::BadLength {
                code: code::CLIENT_UUID,
                len: data.len(),
                expected: "17 (type 0 and a 16-byte GUID)",
            }),
        }
    }

    /// The option 97 payload.
    pub fn emit(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(17);
        v.push(self.kind);
        v.extend_from_slice(&self.guid);
        v
    }

    /// All-zero GUID: the firmware could not read one (EDK2's fallback).
    pub fn is_all_zero(&self) -> bool {
        self.guid == [0; 16]
    }

    /// All-FF GUID: an unprogrammed SMBIOS field.
    pub fn is_all_ff(&self) -> bool {
        self.guid == [0xff; 16]
    }
}

// ---------------------------------------------------------------------------
// Option 77

/// User class, option 77.
///
/// RFC 3004 defines a list of `len, data` items, but iPXE (like ISC dhcpd's
/// clients) sends the bare string `iPXE`. Both forms exist, so a payload is read
/// as RFC 3004 only when it splits into non-empty items that consume it
/// exactly, and is kept plain otherwise. `iPXE` itself is `69 50 58 45`: the
/// first "length" 0x69 = 105 runs past the 3 remaining bytes, so it is plain.
/// The reading is ambiguous by nature: a plain string that happens to be a
/// valid item list (say `\x01a`) comes back as [`UserClass::Rfc3004`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserClass {
    /// RFC 3004 items.
    Rfc3004(Vec<Vec<u8>>),
    /// A plain string (what iPXE sends), or anything that is not an item list.
    Plain(Vec<u8>),
}

impl UserClass {
    /// Reads an option 77 payload; never fails, since any bytes are a plain string.
    pub fn parse(data: &[u8]) -> UserClass {
        let mut items = Vec::new();
        let mut rest = data;
        while let Some((&len, tail)) = rest.split_first() {
            let len = usize::from(len);
            if len == 0 || len > tail.len() {
                return UserClass::Plain(data.to_vec());
            }
            items.push(tail[..len].to_vec());
            rest = &tail[len..];
        }
        if items.is_empty() {
            UserClass::Plain(Vec::new())
        } else {
            UserClass::Rfc3004(items)
        }
    }

    /// The option 77 payload; an RFC 3004 item longer than 255 bytes is an error.
    pub fn emit(&self) -> Result<Vec<u8>, PxeError> {
        match self {
            UserClass::Plain(s) => Ok(s.clone()),
            UserClass::Rfc3004(items) => {
                let mut v = Vec::new();
                for item in items {
                    let len = u8::try_from(item.len()).map_err(|_| PxeError::TooLong {
                        what: "a user class item",
                        len: item.len(),
                    })?;
                    v.push(len);
                    v.extend_from_slice(item);
                }
                Ok(v)
            }
        }
    }

    /// Whether the client is iPXE: plain `iPXE`, or an RFC 3004 item `iPXE`.
    /// A server uses this to hand iPXE a script rather than iPXE again (the
    /// chainload loop).
    pub fn is_ipxe(&self) -> bool {
        match self {
            UserClass::Plain(s) => s == b"iPXE",
            UserClass::Rfc3004(items) => items.iter().any(|i| i == b"iPXE"),
        }
    }
}

// ---------------------------------------------------------------------------
// Encapsulated sub-options (43, 175)

/// Reads `code, len, data` sub-options of `option`, skipping PAD and stopping at
/// END. Returns the sub-options and the offset just past END (`None` when the
/// payload ran out first).
/// Sub-options as `(code, payload)` in wire order.
type SubOptions = Vec<(u8, Vec<u8>)>;

fn parse_subopts(option: u8, data: &[u8]) -> Result<(SubOptions, Option<usize>), PxeError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let code = data[i];
        if code == code::PAD {
            i += 1;
            continue;
        }
        if code == code::END {
            return Ok((out, Some(i + 1)));
        }
        let &len = data.get(i + 1).ok_or(PxeError::SubOptionMissingLength {
            option,
            code,
            offset: i,
        })?;
        let body = data
            .get(i + 2..i + 2 + usize::from(len))
            .ok_or(PxeError::SubOptionOverrun {
                option,
                code,
                offset: i,
                len,
            })?;
        out.push((code, body.to_vec()));
        i += 2 + usize::from(len);
    }
    Ok((out, None))
}

fn put_subopt(
    buf: &mut Vec<u8>,
    code: u8,
    data: &[u8],
    what: &'static str,
) -> Result<(), PxeError> {
    let len = u8::try_from(data.len()).map_err(|_| PxeError::TooLong {
        what,
        len: data.len(),
    })?;
    buf.push(code);
    buf.push(len);
    buf.extend_from_slice(data);
    Ok(())
}

/// iPXE's encapsulated options, option 175: a feature list a server matches on
/// (`dhcp-match=…,175` in dnsmasq) and a few settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct IpxeOptions {
    /// Sub-options in wire order.
    pub options: Vec<(u8, Vec<u8>)>,
}

impl IpxeOptions {
    /// 175.1: priority of this DHCP server's offer (signed).
    pub const PRIORITY: u8 = 1;
    /// 175.176: skip ProxyDHCP and PXE boot-server discovery.
    pub const NO_PXEDHCP: u8 = 176;
    /// 175.177: bus id of the booting NIC.
    pub const BUS_ID: u8 = 177;

    /// Parses the encapsulated TLVs (a trailing END, if any, ends the list).
    pub fn parse(data: &[u8]) -> Result<Self, PxeError> {
        let (options, _) = parse_subopts(code::IPXE_ENCAP, data)?;
        Ok(IpxeOptions { options })
    }

    /// The option 175 payload (no END, as iPXE sends it).
    pub fn emit(&self) -> Result<Vec<u8>, PxeError> {
        let mut v = Vec::new();
        for (code, data) in &self.options {
            put_subopt(&mut v, *code, data, "an option 175 sub-option")?;
        }
        Ok(v)
    }

    /// The payload of the first sub-option `code`.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, d)| &d[..])
    }

    /// 175.1, when it is one byte.
    pub fn priority(&self) -> Option<i8> {
        match self.get(Self::PRIORITY)? {
            &[p] => Some(p as i8),
            _ => None,
        }
    }

    /// 175.176 set to a non-zero value: iPXE will not wait for ProxyDHCP.
    pub fn no_pxedhcp(&self) -> bool {
        self.get(Self::NO_PXEDHCP)
            .is_some_and(|v| v.iter().any(|&b| b != 0))
    }
}

/// PXE_DISCOVERY_CONTROL, option 43.6 (PXE 2.1 §2.2.6): how the client finds a
/// boot server. Bits 4–7 are reserved and kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DiscoveryControl(pub u8);

impl DiscoveryControl {
    /// Bit 0: do not discover by broadcast.
    pub const NO_BROADCAST: u8 = 1;
    /// Bit 1: do not discover by multicast.
    pub const NO_MULTICAST: u8 = 2;
    /// Bit 2: only accept replies from servers in 43.8.
    pub const ONLY_LISTED: u8 = 4;
    /// Bit 3: boot `file` from this offer, skipping prompt, menu and discovery
    /// (the PXE10-style ProxyDHCP offer; dnsmasq and pixiecore send 8).
    pub const USE_BOOTFILE: u8 = 8;

    /// Whether broadcast discovery is disabled.
    pub fn no_broadcast(self) -> bool {
        self.0 & Self::NO_BROADCAST != 0
    }
    /// Whether multicast discovery is disabled.
    pub fn no_multicast(self) -> bool {
        self.0 & Self::NO_MULTICAST != 0
    }
    /// Whether only servers listed in 43.8 may answer.
    pub fn only_listed(self) -> bool {
        self.0 & Self::ONLY_LISTED != 0
    }
    /// Whether the client should boot `file` directly.
    pub fn use_bootfile(self) -> bool {
        self.0 & Self::USE_BOOTFILE != 0
    }
}

/// One PXE_BOOT_SERVERS entry, 43.8: servers of a boot server type. An empty
/// `addrs` (count 0) means "any server of this type".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BootServerEntry {
    /// Boot server type (0 = Microsoft WDS/RIS, 32768–65534 vendor, …).
    pub kind: u16,
    /// Server addresses.
    pub addrs: Vec<Ipv4Addr>,
}

/// One PXE_BOOT_MENU item, 43.9 (listed in menu order).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MenuItem {
    /// Boot server type this item selects.
    pub kind: u16,
    /// Text shown to the user.
    pub description: Vec<u8>,
}

/// PXE_MENU_PROMPT, 43.10.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MenuPrompt {
    /// Seconds to wait for F8: 0 boots the first item at once, 255 waits forever.
    pub timeout: u8,
    /// Prompt text.
    pub prompt: Vec<u8>,
}

/// PXE_BOOT_ITEM, 43.71: the boot server type and layer a client asks for in its
/// discovery REQUEST and a boot server echoes in the ACK. Layer bit 15 asks for
/// BIS credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BootItem {
    /// Boot server type.
    pub kind: u16,
    /// Layer (bit 15 = credentials).
    pub layer: u16,
}

/// Option 43 when it carries PXE sub-options (the offer's option 60 is
/// `PXEClient`), PXE 2.1 §2.2.6.
///
/// A known sub-option that is malformed (lax mode), or a second instance of one,
/// goes to [`Self::other`] so nothing on the wire is lost.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PxeVendorOptions {
    /// 1 PXE_MTFTP_IP: multicast TFTP group.
    pub mtftp_ip: Option<Ipv4Addr>,
    /// 2 PXE_MTFTP_CPORT: MTFTP client port.
    pub mtftp_cport: Option<u16>,
    /// 3 PXE_MTFTP_SPORT: MTFTP server port.
    pub mtftp_sport: Option<u16>,
    /// 4 PXE_MTFTP_TMOUT: seconds to listen before starting MTFTP.
    pub mtftp_tmout: Option<u8>,
    /// 5 PXE_MTFTP_DELAY: seconds to listen before restarting MTFTP.
    pub mtftp_delay: Option<u8>,
    /// 6 PXE_DISCOVERY_CONTROL.
    pub discovery_control: Option<DiscoveryControl>,
    /// 7 DISCOVERY_MCAST_ADDR.
    pub discovery_mcast_addr: Option<Ipv4Addr>,
    /// 8 PXE_BOOT_SERVERS.
    pub boot_servers: Option<Vec<BootServerEntry>>,
    /// 9 PXE_BOOT_MENU.
    pub boot_menu: Option<Vec<MenuItem>>,
    /// 10 PXE_MENU_PROMPT.
    pub menu_prompt: Option<MenuPrompt>,
    /// 71 PXE_BOOT_ITEM.
    pub boot_item: Option<BootItem>,
    /// Other sub-options (and malformed or repeated known ones), in wire order.
    pub other: Vec<(u8, Vec<u8>)>,
    /// Whether the list ended with END (255). Always true after [`Self::emit`].
    pub terminated: bool,
}

/// Sub-option codes of option 43 (PXE 2.1 table 2-1).
pub mod sub {
    #![allow(missing_docs)]
    pub const MTFTP_IP: u8 = 1;
    pub const MTFTP_CPORT: u8 = 2;
    pub const MTFTP_SPORT: u8 = 3;
    pub const MTFTP_TMOUT: u8 = 4;
    pub const MTFTP_DELAY: u8 = 5;
    pub const DISCOVERY_CONTROL: u8 = 6;
    pub const DISCOVERY_MCAST_ADDR: u8 = 7;
    pub const BOOT_SERVERS: u8 = 8;
    pub const BOOT_MENU: u8 = 9;
    pub const MENU_PROMPT: u8 = 10;
    pub const BOOT_ITEM: u8 = 71;
}

fn parse_ipv4(d: &[u8]) -> Result<Ipv4Addr, &'static str> {
    let o: [u8; 4] = d
        .try_into()
        .map_err(|_| "expected 4 bytes (an IPv4 address)")?;
    Ok(Ipv4Addr::from(o))
}

fn parse_u16(d: &[u8]) -> Result<u16, &'static str> {
    let o: [u8; 2] = d.try_into().map_err(|_| "expected 2 bytes")?;
    Ok(u16::from_be_bytes(o))
}

fn parse_u8(d: &[u8]) -> Result<u8, &'static str> {
    match *d {
        [b] => Ok(b),
        _ => Err("expected 1 byte"),
    }
}

fn parse_boot_servers(mut d: &[u8]) -> Result<Vec<BootServerEntry>, &'static str> {
    let mut out = Vec::new();
    while !d.is_empty() {
        let &[k0, k1, count, ref rest @ ..] = d else {
            return Err("boot server entry shorter than type and count");
        };
        let n = usize::from(count) * 4;
        let addrs = rest.get(..n).ok_or("boot server count runs past the end")?;
        out.push(BootServerEntry {
            kind: u16::from_be_bytes([k0, k1]),
            addrs: addrs
                .chunks_exact(4)
                .map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3]))
                .collect(),
        });
        d = &rest[n..];
    }
    Ok(out)
}

fn parse_boot_menu(mut d: &[u8]) -> Result<Vec<MenuItem>, &'static str> {
    let mut out = Vec::new();
    while !d.is_empty() {
        let &[k0, k1, len, ref rest @ ..] = d else {
            return Err("menu item shorter than type and length");
        };
        let n = usize::from(len);
        let desc = rest.get(..n).ok_or("menu description runs past the end")?;
        out.push(MenuItem {
            kind: u16::from_be_bytes([k0, k1]),
            description: desc.to_vec(),
        });
        d = &rest[n..];
    }
    Ok(out)
}

fn parse_prompt(d: &[u8]) -> Result<MenuPrompt, &'static str> {
    let (&timeout, prompt) = d.split_first().ok_or("expected a timeout byte")?;
    Ok(MenuPrompt {
        timeout,
        prompt: prompt.to_vec(),
    })
}

fn parse_boot_item(d: &[u8]) -> Result<BootItem, &'static str> {
    match *d {
        [a, b, c, e] => Ok(BootItem {
            kind: u16::from_be_bytes([a, b]),
            layer: u16::from_be_bytes([c, e]),
        }),
        _ => Err("expected 4 bytes (type and layer)"),
    }
}

/// Stores `parsed` in `slot` unless the slot is taken (a repeat) or the payload
/// is malformed; those go to `other` in lax mode, malformed ones fail in strict.
fn fill<T>(
    slot: &mut Option<T>,
    parsed: Result<T, &'static str>,
    code: u8,
    data: Vec<u8>,
    mode: ParseMode,
    other: &mut Vec<(u8, Vec<u8>)>,
) -> Result<(), PxeError> {
    match parsed {
        Ok(v) if slot.is_none() => *slot = Some(v),
        Ok(_) => other.push((code, data)),
        Err(reason) if mode == ParseMode::Strict => {
            return Err(PxeError::BadSubOption { code, reason });
        }
        Err(_) => other.push((code, data)),
    }
    Ok(())
}

impl PxeVendorOptions {
    /// Parses option 43's PXE sub-options. Strict mode requires END and nothing
    /// but PAD after it, and well-formed known sub-options; lax mode accepts a
    /// missing END and trailing bytes and keeps malformed sub-options in
    /// [`Self::other`]. A sub-option running past the end fails in both.
    pub fn parse(data: &[u8], mode: ParseMode) -> Result<Self, PxeError> {
        let (subs, end) = parse_subopts(code::VENDOR_SPECIFIC, data)?;
        if mode == ParseMode::Strict {
            match end {
                None => return Err(PxeError::MissingEnd),
                Some(at) => {
                    if let Some(pos) = data[at..].iter().position(|&b| b != code::PAD) {
                        return Err(PxeError::TrailingBytes(at + pos));
                    }
                }
            }
        }
        let mut o = PxeVendorOptions {
            terminated: end.is_some(),
            ..Default::default()
        };
        let mut other = Vec::new();
        for (code, data) in subs {
            let d = &data[..];
            match code {
                sub::MTFTP_IP => {
                    fill(&mut o.mtftp_ip, parse_ipv4(d), code, data, mode, &mut other)?
                }
                sub::MTFTP_CPORT => fill(
                    &mut o.mtftp_cport,
                    parse_u16(d),
                    code,
                    data,
                    mode,
                    &mut other,
                )?,
                sub::MTFTP_SPORT => fill(
                    &mut o.mtftp_sport,
                    parse_u16(d),
                    code,
                    data,
                    mode,
                    &mut other,
                )?,
                sub::MTFTP_TMOUT => fill(
                    &mut o.mtftp_tmout,
                    parse_u8(d),
                    code,
                    data,
                    mode,
                    &mut other,
                )?,
                sub::MTFTP_DELAY => fill(
                    &mut o.mtftp_delay,
                    parse_u8(d),
                    code,
                    data,
                    mode,
                    &mut other,
                )?,
                sub::DISCOVERY_CONTROL => fill(
                    &mut o.discovery_control,
                    parse_u8(d).map(DiscoveryControl),
                    code,
                    data,
                    mode,
                    &mut other,
                )?,
                sub::DISCOVERY_MCAST_ADDR => fill(
                    &mut o.discovery_mcast_addr,
                    parse_ipv4(d),
                    code,
                    data,
                    mode,
                    &mut other,
                )?,
                sub::BOOT_SERVERS => fill(
                    &mut o.boot_servers,
                    parse_boot_servers(d),
                    code,
                    data,
                    mode,
                    &mut other,
                )?,
                sub::BOOT_MENU => fill(
                    &mut o.boot_menu,
                    parse_boot_menu(d),
                    code,
                    data,
                    mode,
                    &mut other,
                )?,
                sub::MENU_PROMPT => fill(
                    &mut o.menu_prompt,
                    parse_prompt(d),
                    code,
                    data,
                    mode,
                    &mut other,
                )?,
                sub::BOOT_ITEM => fill(
                    &mut o.boot_item,
                    parse_boot_item(d),
                    code,
                    data,
                    mode,
                    &mut other,
                )?,
                _ => other.push((code, data)),
            }
        }
        o.other = other;
        Ok(o)
    }

    /// The option 43 payload: sub-options in ascending code order (known ones,
    /// then any [`Self::other`] of the same code, in their order), then END.
    /// A sub-option payload, boot server list or menu description that would
    /// exceed 255 bytes is an error: truncating a menu silently would boot the
    /// wrong thing.
    pub fn emit(&self) -> Result<Vec<u8>, PxeError> {
        let mut known: Vec<(u8, Vec<u8>, &'static str)> = Vec::new();
        let mut add = |code, data, what| known.push((code, data, what));
        if let Some(ip) = self.mtftp_ip {
            add(sub::MTFTP_IP, ip.octets().to_vec(), "43.1");
        }
        if let Some(p) = self.mtftp_cport {
            add(sub::MTFTP_CPORT, p.to_be_bytes().to_vec(), "43.2");
        }
        if let Some(p) = self.mtftp_sport {
            add(sub::MTFTP_SPORT, p.to_be_bytes().to_vec(), "43.3");
        }
        if let Some(t) = self.mtftp_tmout {
            add(sub::MTFTP_TMOUT, vec![t], "43.4");
        }
        if let Some(t) = self.mtftp_delay {
            add(sub::MTFTP_DELAY, vec![t], "43.5");
        }
        if let Some(c) = self.discovery_control {
            add(sub::DISCOVERY_CONTROL, vec![c.0], "43.6");
        }
        if let Some(ip) = self.discovery_mcast_addr {
            add(sub::DISCOVERY_MCAST_ADDR, ip.octets().to_vec(), "43.7");
        }
        if let Some(servers) = &self.boot_servers {
            let mut v = Vec::new();
            for s in servers {
                let count = u8::try_from(s.addrs.len()).map_err(|_| PxeError::TooLong {
                    what: "a 43.8 boot server address count",
                    len: s.addrs.len(),
                })?;
                v.extend_from_slice(&s.kind.to_be_bytes());
                v.push(count);
                v.extend(s.addrs.iter().flat_map(|a| a.octets()));
            }
            add(sub::BOOT_SERVERS, v, "43.8 PXE_BOOT_SERVERS");
        }
        if let Some(menu) = &self.boot_menu {
            let mut v = Vec::new();
            for item in menu {
                let len = u8::try_from(item.description.len()).map_err(|_| PxeError::TooLong {
                    what: "a 43.9 menu description",
                    len: item.description.len(),
                })?;
                v.extend_from_slice(&item.kind.to_be_bytes());
                v.push(len);
                v.extend_from_slice(&item.description);
            }
            add(sub::BOOT_MENU, v, "43.9 PXE_BOOT_MENU");
        }
        if let Some(p) = &self.menu_prompt {
            let mut v = vec![p.timeout];
            v.extend_from_slice(&p.prompt);
            add(sub::MENU_PROMPT, v, "43.10 PXE_MENU_PROMPT");
        }
        if let Some(item) = self.boot_item {
            let mut v = item.kind.to_be_bytes().to_vec();
            v.extend_from_slice(&item.layer.to_be_bytes());
            add(sub::BOOT_ITEM, v, "43.71");
        }
        for (code, data) in &self.other {
            known.push((*code, data.clone(), "an option 43 sub-option"));
        }
        // Stable: a known sub-option precedes a repeat of it kept in `other`.
        known.sort_by_key(|(code, _, _)| *code);
        let mut buf = Vec::new();
        for (code, data, what) in &known {
            put_subopt(&mut buf, *code, data, what)?;
        }
        buf.push(code::END);
        Ok(buf)
    }
}

// ---------------------------------------------------------------------------
// Accessors on the message

impl DhcpMessage {
    /// Option 60 as a PXE/HTTP client class.
    pub fn client_class(&self) -> Option<Result<PxeClientClass, PxeError>> {
        self.option(code::VENDOR_CLASS)
            .map(|d| PxeClientClass::parse(&d))
    }

    /// Whether option 60 starts with `PXEClient` (see [`is_pxe_client`]).
    pub fn is_pxe_client(&self) -> bool {
        self.option(code::VENDOR_CLASS)
            .is_some_and(|d| is_pxe_client(&d))
    }

    /// Option 93, the client's architectures.
    pub fn client_arches(&self) -> Option<Result<Vec<ClientArch>, PxeError>> {
        self.option(code::CLIENT_ARCH).map(|d| parse_arch_list(&d))
    }

    /// Option 94.
    pub fn client_ndi(&self) -> Option<Result<ClientNdi, PxeError>> {
        self.option(code::CLIENT_NDI).map(|d| ClientNdi::parse(&d))
    }

    /// Option 97.
    pub fn client_uuid(&self) -> Option<Result<ClientUuid, PxeError>> {
        self.option(code::CLIENT_UUID)
            .map(|d| ClientUuid::parse(&d))
    }

    /// Option 77 (never malformed: see [`UserClass`]).
    pub fn user_class(&self) -> Option<UserClass> {
        self.option(code::USER_CLASS).map(|d| UserClass::parse(&d))
    }

    /// Whether the client is iPXE, by its user class (option 77).
    pub fn is_ipxe(&self) -> bool {
        self.user_class().is_some_and(|u| u.is_ipxe())
    }

    /// Option 175.
    pub fn ipxe_options(&self) -> Option<Result<IpxeOptions, PxeError>> {
        self.option(code::IPXE_ENCAP)
            .map(|d| IpxeOptions::parse(&d))
    }

    /// Option 43 read as PXE sub-options. Only meaningful when the message is
    /// PXE (option 60 `PXEClient`): other vendors use 43 for their own data.
    pub fn pxe_vendor_options(
        &self,
        mode: ParseMode,
    ) -> Option<Result<PxeVendorOptions, PxeError>> {
        self.option(code::VENDOR_SPECIFIC)
            .map(|d| PxeVendorOptions::parse(&d, mode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_class_parses_and_formats() {
        let wire = b"PXEClient:Arch:00007:UNDI:003016";
        let c = PxeClientClass::parse(wire).unwrap();
        assert_eq!(c.kind, ClassKind::Pxe);
        assert_eq!(c.arch, ClientArch::EFI_X64);
        assert_eq!((c.undi_major, c.undi_minor), (3, 16));
        assert_eq!(c.emit(), wire);
        let http = PxeClientClass::parse(b"HTTPClient:Arch:00016:UNDI:003001").unwrap();
        assert_eq!(
            (http.kind, http.arch),
            (ClassKind::Http, ClientArch::EFI_X64_HTTP)
        );
        assert_eq!(http.to_string(), "HTTPClient:Arch:00016:UNDI:003001");
        for bad in [
            &b"PXEClient"[..],
            b"PXEClient:Arch:0007:UNDI:003016",
            b"PXEClient:Arch:00007:UNDI:00301",
            b"PXEClient:Arch:0000x:UNDI:003016",
            b"PXEClient:Arch:99999:UNDI:003016",
            b"PXEClient:Arch:00007:UNDI:003016X",
            b"MSFT 5.0",
        ] {
            assert!(PxeClientClass::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pxe_client_detection_is_the_9_byte_prefix() {
        assert!(is_pxe_client(b"PXEClient"));
        assert!(is_pxe_client(b"PXEClient:Arch:00000:UNDI:002001"));
        assert!(!is_pxe_client(b"PXEClien"));
        assert!(!is_pxe_client(b"HTTPClient:Arch:00016"));
        assert!(is_http_client(b"HTTPClient:Arch:00016:UNDI:003001"));
    }

    #[test]
    fn arch_list_is_even_and_non_empty() {
        assert_eq!(
            parse_arch_list(&[0, 7, 0, 9]).unwrap(),
            [ClientArch::EFI_X64, ClientArch::EFI_BC]
        );
        assert_eq!(parse_arch_list(&[]), Err(PxeError::BadArchList(0)));
        assert_eq!(parse_arch_list(&[0, 7, 0]), Err(PxeError::BadArchList(3)));
        assert_eq!(emit_arch_list(&[ClientArch(0x1234)]), [0x12, 0x34]);
        assert!(ClientArch(9).is_efi_x64() && ClientArch(7).is_efi_x64());
        assert!(!ClientArch::EFI_IA32.is_efi_x64());
    }

    #[test]
    fn ndi_and_uuid_need_their_lengths() {
        let ndi = ClientNdi::parse(&[1, 2, 1]).unwrap();
        assert_eq!((ndi.kind, ndi.major, ndi.minor), (ClientNdi::UNDI, 2, 1));
        assert_eq!(ndi.emit(), [1, 2, 1]);
        assert!(ClientNdi::parse(&[1, 2]).is_err());
        let mut wire = vec![0u8];
        wire.extend(1..=16u8);
        let uuid = ClientUuid::parse(&wire).unwrap();
        assert_eq!(uuid.emit(), wire);
        assert!(!uuid.is_all_zero() && !uuid.is_all_ff());
        assert!(ClientUuid::parse(&[0; 17]).unwrap().is_all_zero());
        assert!(ClientUuid::parse(&[0; 16]).is_err());
        assert!(ClientUuid::parse(&[]).is_err());
    }

    #[test]
    fn user_class_plain_ipxe_is_not_read_as_tlv() {
        let plain = UserClass::parse(b"iPXE");
        assert_eq!(plain, UserClass::Plain(b"iPXE".to_vec()));
        assert!(plain.is_ipxe());
        let tlv = UserClass::parse(b"\x04iPXE\x03foo");
        assert_eq!(
            tlv,
            UserClass::Rfc3004(vec![b"iPXE".to_vec(), b"foo".to_vec()])
        );
        assert!(tlv.is_ipxe());
        assert_eq!(tlv.emit().unwrap(), b"\x04iPXE\x03foo");
        assert!(!UserClass::parse(b"gPXE").is_ipxe());
        assert_eq!(UserClass::parse(b""), UserClass::Plain(Vec::new()));
        assert!(UserClass::Rfc3004(vec![vec![0; 256]]).emit().is_err());
    }

    #[test]
    fn ipxe_options_priority_and_no_pxedhcp() {
        let o = IpxeOptions::parse(&[1, 1, 0xfe, 176, 1, 1, 19, 1, 1]).unwrap();
        assert_eq!(o.priority(), Some(-2));
        assert!(o.no_pxedhcp());
        assert_eq!(o.emit().unwrap(), [1, 1, 0xfe, 176, 1, 1, 19, 1, 1]);
        let o = IpxeOptions::parse(&[176, 1, 0]).unwrap();
        assert!(!o.no_pxedhcp());
        assert_eq!(o.priority(), None);
        assert!(IpxeOptions::parse(&[1, 2, 0]).is_err());
    }

    #[test]
    fn dnsmasq_minimal_proxy_option_43() {
        let wire = [0x06, 0x01, 0x08, 0x0A, 0x04, 0x00, 0x50, 0x58, 0x45, 0xFF];
        let o = PxeVendorOptions::parse(&wire, ParseMode::Strict).unwrap();
        let dc = o.discovery_control.unwrap();
        assert!(dc.use_bootfile() && !dc.no_broadcast() && !dc.no_multicast() && !dc.only_listed());
        assert_eq!(
            o.menu_prompt,
            Some(MenuPrompt {
                timeout: 0,
                prompt: b"PXE".to_vec()
            })
        );
        assert!(o.terminated);
        assert_eq!(o.emit().unwrap(), wire);
    }

    #[test]
    fn pixiecore_and_boot_server_ack_option_43() {
        let pixie = [0x06, 0x01, 0x08, 0xFF];
        let o = PxeVendorOptions::parse(&pixie, ParseMode::Strict).unwrap();
        assert_eq!(
            o.discovery_control,
            Some(DiscoveryControl(DiscoveryControl::USE_BOOTFILE))
        );
        assert_eq!(o.emit().unwrap(), pixie);
        let ack = [0x47, 0x04, 0x80, 0x00, 0x00, 0x00, 0xFF];
        let o = PxeVendorOptions::parse(&ack, ParseMode::Strict).unwrap();
        assert_eq!(
            o.boot_item,
            Some(BootItem {
                kind: 0x8000,
                layer: 0
            })
        );
        assert_eq!(o.emit().unwrap(), ack);
    }

    #[test]
    fn option_43_menu_servers_and_ordering() {
        let o = PxeVendorOptions {
            boot_item: Some(BootItem { kind: 1, layer: 0 }),
            boot_menu: Some(vec![MenuItem {
                kind: 0x8001,
                description: b"Linux".to_vec(),
            }]),
            boot_servers: Some(vec![
                BootServerEntry {
                    kind: 0x8001,
                    addrs: vec![Ipv4Addr::new(10, 0, 0, 1)],
                },
                BootServerEntry {
                    kind: 3,
                    addrs: vec![],
                },
            ]),
            discovery_control: Some(DiscoveryControl(3)),
            other: vec![(200, vec![1])],
            terminated: true,
            ..Default::default()
        };
        let wire = o.emit().unwrap();
        let codes: Vec<u8> = parse_subopts(43, &wire)
            .unwrap()
            .0
            .iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(codes, [6, 8, 9, 71, 200]);
        assert_eq!(
            PxeVendorOptions::parse(&wire, ParseMode::Strict).unwrap(),
            o
        );
    }

    #[test]
    fn oversized_menu_is_an_error_not_a_truncation() {
        let o = PxeVendorOptions {
            boot_menu: Some(
                (0..10)
                    .map(|k| MenuItem {
                        kind: k,
                        description: vec![b'x'; 30],
                    })
                    .collect(),
            ),
            ..Default::default()
        };
        assert!(matches!(o.emit(), Err(PxeError::TooLong { len: 330, .. })));
    }

    #[test]
    fn option_43_strict_and_lax() {
        // Missing END.
        assert_eq!(
            PxeVendorOptions::parse(&[6, 1, 8], ParseMode::Strict),
            Err(PxeError::MissingEnd)
        );
        let lax = PxeVendorOptions::parse(&[6, 1, 8], ParseMode::Lax).unwrap();
        assert!(!lax.terminated);
        assert_eq!(lax.emit().unwrap(), [6, 1, 8, 255]);
        // A malformed known sub-option: strict error, lax keeps it raw.
        assert!(matches!(
            PxeVendorOptions::parse(&[6, 2, 8, 0, 255], ParseMode::Strict),
            Err(PxeError::BadSubOption { code: 6, .. })
        ));
        let lax = PxeVendorOptions::parse(&[6, 2, 8, 0, 255], ParseMode::Lax).unwrap();
        assert_eq!(
            (lax.discovery_control, &lax.other[..]),
            (None, &[(6, vec![8, 0])][..])
        );
        // Overrun fails in both modes.
        for mode in [ParseMode::Strict, ParseMode::Lax] {
            assert!(matches!(
                PxeVendorOptions::parse(&[6, 5, 8], mode),
                Err(PxeError::SubOptionOverrun {
                    code: 6,
                    len: 5,
                    ..
                })
            ));
        }
    }

    #[test]
    fn message_accessors_tell_absent_from_malformed() {
        let mut m = DhcpMessage::default();
        assert!(m.client_class().is_none() && m.client_uuid().is_none());
        m.push_option(code::VENDOR_CLASS, &b"PXEClient:Arch:00000:UNDI:002001"[..]);
        m.push_option(code::CLIENT_ARCH, [0, 0]);
        m.push_option(code::CLIENT_UUID, [0; 5]);
        m.push_option(code::USER_CLASS, &b"iPXE"[..]);
        m.push_option(code::VENDOR_SPECIFIC, [6, 1, 8, 255]);
        assert_eq!(
            m.client_class().unwrap().unwrap().arch,
            ClientArch::X86_BIOS
        );
        assert!(m.is_pxe_client());
        assert_eq!(m.client_arches().unwrap().unwrap(), [ClientArch::X86_BIOS]);
        assert!(m.client_uuid().unwrap().is_err());
        assert!(m.is_ipxe());
        assert!(
            m.pxe_vendor_options(ParseMode::Strict)
                .unwrap()
                .unwrap()
                .discovery_control
                .unwrap()
                .use_bootfile()
        );
        assert!(m.ipxe_options().is_none());
    }
}
