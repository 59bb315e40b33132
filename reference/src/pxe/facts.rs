//! What a DHCP request tells about the client's firmware (options 60, 93, 77, 175).

use crate::wire::dhcp::{DhcpMessage, code};

/// The vendor class prefix of a PXE client (PXE 2.1; EDK2 compares 9 bytes).
pub const PXE_CLIENT_PREFIX: &[u8] = b"PXEClient";
/// The vendor class prefix of a UEFI HTTP boot client (the UEFI specification's HTTP boot chapter).
pub const HTTP_CLIENT_PREFIX: &[u8] = b"HTTPClient";

/// Client architecture types of option 93 (RFC 4578 §2.1 as corrected by its 2016
/// erratum and the IANA registry: 7 and 9 are both x64 UEFI in practice).
pub mod arch {
    /// x86 BIOS.
    pub const BIOS: u16 = 0;
    /// x86 (IA32) UEFI.
    pub const EFI_IA32: u16 = 6;
    /// x64 UEFI.
    pub const EFI_X64: u16 = 7;
    /// EFI byte code; x64 UEFI firmware that followed the uncorrected RFC text.
    pub const EFI_BC: u16 = 9;
    /// ARM 32-bit UEFI.
    pub const EFI_ARM32: u16 = 10;
    /// ARM 64-bit UEFI.
    pub const EFI_ARM64: u16 = 11;
    /// x64 UEFI HTTP boot.
    pub const EFI_X64_HTTP: u16 = 16;
}

/// The facts about a client that the boot-file policy decides on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientFacts {
    /// Option 60 as sent.
    pub vendor_class: Option<Vec<u8>>,
    /// Architecture: the first type in option 93, else the `Arch:xxxxx` field of
    /// a `PXEClient`/`HTTPClient` option 60. `None` when the client says neither
    /// (or says it malformed).
    pub arch: Option<u16>,
    /// The client is iPXE: option 77 is `iPXE` (iPXE sends it as a plain string,
    /// not RFC 3004 items; an RFC 3004 item `iPXE` counts too) or option 175
    /// (iPXE's encapsulated options) is present.
    pub is_ipxe: bool,
    /// Option 97 as sent (type 0 + 16-byte GUID), to be echoed (PXE 2.1).
    pub uuid_option: Option<Vec<u8>>,
}

impl ClientFacts {
    /// Reads the facts from a request. Never panics; malformed options count as absent.
    pub fn from_message(msg: &DhcpMessage) -> Self {
        let vendor_class = msg.option(code::VENDOR_CLASS).map(|v| v.into_owned());
        let arch = msg
            .client_arches()
            .and_then(Result::ok)
            .and_then(|list| list.first().copied())
            .or_else(|| msg.client_class().and_then(Result::ok).map(|c| c.arch))
            .map(|a| a.0);
        let is_ipxe = msg.is_ipxe() || msg.has_option(code::IPXE_ENCAP);
        let uuid_option = msg.option(code::CLIENT_UUID).map(|v| v.into_owned());
        ClientFacts {
            vendor_class,
            arch,
            is_ipxe,
            uuid_option,
        }
    }

    /// Whether option 60 starts with `PXEClient`.
    pub fn is_pxe_client(&self) -> bool {
        self.vendor_class
            .as_deref()
            .is_some_and(|v| v.starts_with(PXE_CLIENT_PREFIX))
    }

    /// Whether option 60 starts with `HTTPClient`.
    pub fn is_http_client(&self) -> bool {
        self.vendor_class
            .as_deref()
            .is_some_and(|v| v.starts_with(HTTP_CLIENT_PREFIX))
    }

    /// Whether the client runs UEFI firmware (architecture 6 or above).
    pub fn is_uefi(&self) -> bool {
        self.arch.is_some_and(|a| a >= arch::EFI_IA32)
    }
}
