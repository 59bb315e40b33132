//! What a DHCP request tells about the client's firmware (options 60, 93, 77, 175).

use crate::wire::dhcp::{DhcpMessage, code};

/// The vendor class prefix of a PXE client (PXE 2.1 §2.2.5; EDK2 compares 9 bytes).
pub const PXE_CLIENT_PREFIX: &[u8] = b"PXEClient";
/// The vendor class prefix of a UEFI HTTP boot client (UEFI 2.x §24.7).
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
    /// Architecture: the first type in option 93, else the `Arch:xxxxx` field of a
    /// `PXEClient` option 60. `None` when the client says neither.
    pub arch: Option<u16>,
    /// The client is iPXE: option 77 is the plain string `iPXE` (iPXE does not use
    /// RFC 3004 TLVs) or option 175 (iPXE's encapsulated options) is present.
    pub is_ipxe: bool,
    /// Option 97 as sent (type 0 + 16-byte GUID), to be echoed (PXE 2.1 §2.2.5).
    pub uuid_option: Option<Vec<u8>>,
}

impl ClientFacts {
    /// Reads the facts from a request. Never panics; malformed options count as absent.
    pub fn from_message(msg: &DhcpMessage) -> Self {
        let vendor_class = msg.option(code::VENDOR_CLASS).map(|v| v.into_owned());
        let arch = msg
            .option(code::CLIENT_ARCH)
            .and_then(|v| (v.len() >= 2).then(|| u16::from_be_bytes([v[0], v[1]])))
            .or_else(|| vendor_class.as_deref().and_then(arch_from_vendor_class));
        let user_class_ipxe = msg
            .option(code::USER_CLASS)
            .is_some_and(|v| v.as_ref() == b"iPXE");
        let is_ipxe = user_class_ipxe || msg.option(code::IPXE_ENCAP).is_some();
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

/// `PXEClient:Arch:00007:UNDI:003000` → 7.
fn arch_from_vendor_class(vc: &[u8]) -> Option<u16> {
    let rest = vc.strip_prefix(b"PXEClient:Arch:")?;
    let digits = rest.get(..5)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_comes_from_vendor_class_when_93_is_missing() {
        assert_eq!(
            arch_from_vendor_class(b"PXEClient:Arch:00007:UNDI:003000"),
            Some(7)
        );
        assert_eq!(arch_from_vendor_class(b"PXEClient:Arch:0000"), None);
        assert_eq!(arch_from_vendor_class(b"PXEClient"), None);
    }
}
