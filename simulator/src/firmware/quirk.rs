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
}

const ALL: &[Quirk] = &[
    Quirk::Edk2Bz469,
    Quirk::NoUuid,
    Quirk::ZeroUuid,
    Quirk::RejectsProxyPxe10,
];

impl Quirk {
    /// The id used in scenario files.
    pub fn id(&self) -> &'static str {
        match self {
            Quirk::Edk2Bz469 => "edk2-bz469",
            Quirk::NoUuid => "no-uuid",
            Quirk::ZeroUuid => "zero-uuid",
            Quirk::RejectsProxyPxe10 => "rejects-proxy-pxe10",
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

    /// One line: what the machine does and where it was seen.
    pub fn description(&self) -> &'static str {
        match self {
            Quirk::Edk2Bz469 => {
                "EDK2 BZ 469: the first ProxyPxe10 offer is never cached, so ProxyDHCP with option 43 fails (Q2)"
            }
            Quirk::NoUuid => "sends no option 97 client UUID (Q5, pixiecore #21)",
            Quirk::ZeroUuid => {
                "sends an all-zero option 97 GUID (EDK2 fallback when SMBIOS is unreadable)"
            }
            Quirk::RejectsProxyPxe10 => {
                "ignores a ProxyDHCP offer with 43.6 = 8 and DISCOVERs again; boots only via BINL/4011 (Q1)"
            }
        }
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
