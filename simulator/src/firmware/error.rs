//! The errors a PXE client prints when it gives up, in Intel's words.
//!
//! A report of a failed boot should read like the machine's screen, so each
//! failure is one of the codes of Intel's PXE error list (research §2.3, R32),
//! with the text technicians search for. iPXE is not an Intel ROM and prints its
//! own messages; those get their own variants rather than a borrowed Intel code.

use std::fmt;

/// A failure as the firmware reports it on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum PxeError {
    /// ARP for the boot server (or the 4011 ProxyDHCP) got no answer (Q33).
    E11,
    /// The TFTP read request got no answer.
    E32,
    /// The TFTP transfer stopped answering mid-file.
    E35,
    /// The TFTP server answered ERROR 1 (file not found).
    E3B,
    /// The TFTP server answered another ERROR, or the transfer broke the protocol.
    E36,
    /// A TFTP DATA packet was larger than the ROM's 1456-byte limit (Q26).
    E3F,
    /// No DHCP and no ProxyDHCP offer at all after the whole DISCOVER schedule.
    E51,
    /// Only ProxyDHCP offers: nothing handed out an address.
    E52,
    /// An address was offered but no boot file name came with it or after it.
    E53,
    /// The ProxyDHCP server did not answer the DHCPREQUEST on UDP 4011.
    E55,
    /// Option 43 carried a boot menu without a prompt (or the reverse).
    E74,
    /// Boot server discovery had nowhere to ask: every method disabled by 43.6
    /// and no 43.8 server for the chosen item.
    E77,
    /// Boot server discovery got no answer from any server.
    E78,
    /// iPXE's DHCP gave up ("No configuration methods succeeded"): its 1+2+4+8 s
    /// schedule ended without a usable offer (Q6).
    IpxeNoConfig,
    /// iPXE got an address but no file name from DHCP, ProxyDHCP or 4011.
    IpxeNothingToBoot,
    /// iPXE had a file name but could not fetch it (no ARP answer, no TFTP
    /// answer, file not found): the failure's detail says which.
    IpxeCouldNotBoot,
}

impl PxeError {
    /// Every error, for validating the codes a scenario expects.
    pub const ALL: [PxeError; 16] = [
        PxeError::E11,
        PxeError::E32,
        PxeError::E35,
        PxeError::E3B,
        PxeError::E36,
        PxeError::E3F,
        PxeError::E51,
        PxeError::E52,
        PxeError::E53,
        PxeError::E55,
        PxeError::E74,
        PxeError::E77,
        PxeError::E78,
        PxeError::IpxeNoConfig,
        PxeError::IpxeNothingToBoot,
        PxeError::IpxeCouldNotBoot,
    ];

    /// The error with this code, if any.
    pub fn from_code(code: &str) -> Option<PxeError> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }

    /// The code as printed: `PXE-E51`. iPXE prints no code of its own (its
    /// ipxe.org error numbers change between builds), so its two failures get
    /// stable names: `iPXE-no-config`, `iPXE-nothing-to-boot`.
    pub fn code(&self) -> &'static str {
        match self {
            PxeError::E11 => "PXE-E11",
            PxeError::E32 => "PXE-E32",
            PxeError::E35 => "PXE-E35",
            PxeError::E3B => "PXE-E3B",
            PxeError::E36 => "PXE-E36",
            PxeError::E3F => "PXE-E3F",
            PxeError::E51 => "PXE-E51",
            PxeError::E52 => "PXE-E52",
            PxeError::E53 => "PXE-E53",
            PxeError::E55 => "PXE-E55",
            PxeError::E74 => "PXE-E74",
            PxeError::E77 => "PXE-E77",
            PxeError::E78 => "PXE-E78",
            PxeError::IpxeNoConfig => "iPXE-no-config",
            PxeError::IpxeNothingToBoot => "iPXE-nothing-to-boot",
            PxeError::IpxeCouldNotBoot => "iPXE-could-not-boot",
        }
    }

    /// The screen text (Intel's PXE error list; iPXE's own strings for iPXE).
    pub fn message(&self) -> &'static str {
        match self {
            PxeError::E11 => "ARP timeout",
            PxeError::E32 => "TFTP open timeout",
            PxeError::E35 => "TFTP read timeout",
            PxeError::E3B => "TFTP Error - File Not found",
            PxeError::E36 => "Error received from TFTP server",
            PxeError::E3F => "TFTP packet size is invalid",
            PxeError::E51 => "No DHCP or proxyDHCP offers were received.",
            PxeError::E52 => "proxyDHCP offers were received. No DHCP offers were received.",
            PxeError::E53 => "No boot filename received.",
            PxeError::E55 => "proxyDHCP service did not reply to request on port 4011.",
            PxeError::E74 => "Bad or missing PXE menu and/or prompt information.",
            PxeError::E77 => "Bad or missing discovery server list.",
            PxeError::E78 => "Could not locate boot server.",
            PxeError::IpxeNoConfig => "No configuration methods succeeded",
            PxeError::IpxeNothingToBoot => "Nothing to boot: No such file or directory",
            PxeError::IpxeCouldNotBoot => "Could not boot",
        }
    }
}

impl fmt::Display for PxeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // iPXE's screen has no code: "iPXE" says whose message it is.
            PxeError::IpxeNoConfig | PxeError::IpxeNothingToBoot | PxeError::IpxeCouldNotBoot => {
                write!(f, "iPXE: {}", self.message())
            }
            _ => write!(f, "{}: {}", self.code(), self.message()),
        }
    }
}

impl std::error::Error for PxeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_the_screen() {
        assert_eq!(
            PxeError::E51.to_string(),
            "PXE-E51: No DHCP or proxyDHCP offers were received."
        );
        assert_eq!(
            PxeError::IpxeNoConfig.to_string(),
            "iPXE: No configuration methods succeeded"
        );
    }

    #[test]
    fn every_code_is_distinct_and_found_again() {
        for e in PxeError::ALL {
            assert_eq!(PxeError::from_code(e.code()), Some(e));
        }
        assert_eq!(PxeError::from_code("PXE-E99"), None);
    }
}
