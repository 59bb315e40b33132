//! The catalogue of firmware deviations a profile can carry (research §3).
//!
//! Each quirk is a named, sourced departure from the PXE 2.1 behaviour of its
//! profile; a scenario switches them on per fleet with their ids.

/// A named firmware deviation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Quirk {
    /// Q2, EDK2 BZ 469 (releases up to ~2017, Dell T430/T130): the offer cache
    /// test read `OfferCount > 0`, so a ProxyPxe10 offer is never cached and a
    /// ProxyDHCP that sends option 43 cannot boot the machine.
    #[serde(rename = "edk2-bz469")]
    Edk2Bz469,
    /// Q5: the NIC sends no option 97 at all ("bad intel cards", pixiecore #21),
    /// although PXE 2.1 / RFC 4578 say it MUST.
    #[serde(rename = "no-uuid")]
    NoUuid,
    /// EDK2 sends an all-zero GUID in option 97 when it cannot read SMBIOS
    /// (PxeBcBuildDhcp4Options, research §2.4): many machines, one "identity".
    #[serde(rename = "zero-uuid")]
    ZeroUuid,
    /// Q1: UEFI ROMs that ignore a ProxyDHCP offer carrying 43.6 = 8 (PXE10
    /// "boot this file") and DISCOVER again; only the BINL dialect (no option 43,
    /// then a 4011 REQUEST) boots them (HP DL380 Gen9, pixiecore's design).
    #[serde(rename = "rejects-proxy-pxe10")]
    RejectsProxyPxe10,
    /// Q3 (bootimus #77, HP UEFI laptop): a ProxyDHCP offer is never merged
    /// with the router's DHCP offer, so the client acts as if it had none.
    #[serde(rename = "no-proxy-merge")]
    NoProxyMerge,
    /// Q13 (dnsmasq `dhcp-reply-delay`): a DHCP reply arriving within
    /// [`MIN_REPLY_LATENCY`] of the DISCOVER is lost by the firmware.
    #[serde(rename = "min-reply-latency")]
    MinReplyLatency,
    /// Q15 (dnsmasq `--dhcp-pxe-vendor`): option 60 says `HW-Client` where
    /// PXE 2.1 says `PXEClient`.
    #[serde(rename = "hw-client-vendor-class")]
    HwClientVendorClass,
    /// Q16 (WDS `ArchitectureDiscovery`): an x64 client announces
    /// architecture 0 (x86 BIOS) in options 93 and 60.
    #[serde(rename = "wrong-arch-option93")]
    WrongArchOption93,
    /// Q30 (PyPXE #160, rpi-eeprom #720): the TFTP block counter does not
    /// roll over, so a file of more than 65535 blocks stalls at the wrap.
    #[serde(rename = "no-block-rollover")]
    NoBlockRollover,
}

/// Q13: how soon after its DISCOVER a reply is "instant" for a
/// [`Quirk::MinReplyLatency`] client. No source gives a figure (dnsmasq's
/// workaround delays by whole seconds); 50 ms is longer than any simulated
/// LAN round trip and shorter than any configured respond delay of interest.
pub const MIN_REPLY_LATENCY: std::time::Duration = std::time::Duration::from_millis(50);

const ALL: &[Quirk] = &[
    Quirk::Edk2Bz469,
    Quirk::NoUuid,
    Quirk::ZeroUuid,
    Quirk::RejectsProxyPxe10,
    Quirk::NoProxyMerge,
    Quirk::MinReplyLatency,
    Quirk::HwClientVendorClass,
    Quirk::WrongArchOption93,
    Quirk::NoBlockRollover,
];

impl Quirk {
    /// The id used in scenario files.
    pub fn id(&self) -> &'static str {
        match self {
            Quirk::Edk2Bz469 => "edk2-bz469",
            Quirk::NoUuid => "no-uuid",
            Quirk::ZeroUuid => "zero-uuid",
            Quirk::RejectsProxyPxe10 => "rejects-proxy-pxe10",
            Quirk::NoProxyMerge => "no-proxy-merge",
            Quirk::MinReplyLatency => "min-reply-latency",
            Quirk::HwClientVendorClass => "hw-client-vendor-class",
            Quirk::WrongArchOption93 => "wrong-arch-option93",
            Quirk::NoBlockRollover => "no-block-rollover",
        }
    }

    /// The quirk with this id.
    pub fn from_id(s: &str) -> Option<Quirk> {
        ALL.iter().copied().find(|q| q.id() == s)
    }

    /// Every quirk, in catalogue order.
    pub fn all() -> &'static [Quirk] {
        ALL
    }

    /// One line: what the machine does (from the catalogue).
    pub fn description(&self) -> &'static str {
        super::catalog::entry(self.id()).map_or("", |e| e.description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_match_serde() {
        for q in Quirk::all() {
            assert_eq!(Quirk::from_id(q.id()), Some(*q));
            let json = serde_json::to_string(q).unwrap();
            assert_eq!(json, format!("\"{}\"", q.id()));
        }
        assert_eq!(Quirk::from_id("nope"), None);
    }
}
