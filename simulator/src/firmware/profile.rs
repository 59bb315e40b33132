//! Firmware profiles: what a PXE client sends and how it decides, as data.
//!
//! One [`Profile`] type; each built-in profile fills it from the facts of
//! research §2 and the DISCOVER fingerprints at the end of §3. Where real
//! clients differ in *logic* rather than numbers (how offers are chosen), the
//! profile names a rule ([`OfferRule`]) that `offer.rs` implements once.

use std::time::Duration;

use pxelab_reference::tftp::ClientOptions;
use pxelab_reference::wire::dhcp::code;
use pxelab_reference::wire::pxe::ClientArch;

use super::quirk::Quirk;

/// How a client chooses among the offers it collected (research §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferRule {
    /// PXE 2.1 as Intel ROMs implement it: take the earliest complete PXE set
    /// (a DHCP offer with PXE boot information, or a DHCP-only offer plus a
    /// ProxyDHCP offer). `eager`: proceed the moment a set is complete ("first
    /// discovered", older ROMs); otherwise at the end of the current DISCOVER
    /// timeout. Offers without `PXEClient` alone make the client DISCOVER again
    /// through the 4- and 8-s timeouts before it settles for them (§2.2, R37).
    Spec {
        /// Proceed as soon as a complete set exists.
        eager: bool,
    },
    /// EDK2 PxeBcDhcp4.c: classify (PXE10 / WfM11a / BINL / DhcpOnly, proxy or
    /// not), collect until the current timeout ends, then the eight-step priority.
    Edk2,
    /// iPXE dhcp.c: keep the best DHCP offer and the best ProxyDHCP offer
    /// (175.1 priority, ties to the later one); leave discovery with a DHCP offer
    /// and a proxy offer (at once, or at the DISCOVER timer's expiry with
    /// `ipxe_proxy_on_timer`), or once `proxy_wait` has passed since
    /// discovery began.
    Ipxe,
}

/// A PXE client firmware model's data.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Profile id (`pxe21-bios`, `edk2-uefi`, `ipxe`, `legacy-rom`, or derived).
    pub id: String,
    /// One line for reports.
    pub description: String,
    /// Option 93 and the `Arch:` field of option 60.
    pub arch: ClientArch,
    /// UNDI version (major, minor): option 94 and the `UNDI:` field of option 60.
    pub undi: (u8, u8),
    /// Option 55 as sent.
    pub parameter_request_list: Vec<u8>,
    /// Option 57.
    pub max_message_size: u16,
    /// Codes of the client-identity options in the order the firmware writes
    /// them (53 is always first; 50/54 follow it in a REQUEST). Codes from
    /// 53, 57, 55, 60, 61, 93, 94, 97, 77, 175; 77/175 are written only when
    /// `user_class` / `ipxe_features` say so, 97 per the UUID rules, 61 (the
    /// client identifier: type 1 and the MAC) whenever it is listed.
    pub option_order: Vec<u8>,
    /// Option 57 in the DHCPREQUEST to port 67 when it differs from
    /// `max_message_size`: EDK2's Dhcp4 driver writes its own 0xFF00 there
    /// (the DISCOVER carries PxeBc's 1472; tests/fixtures/firmware).
    pub request_max_message_size: Option<u16>,
    /// The option order of a DHCPREQUEST to a boot server (4011 or a 43.71
    /// discovery) when it differs from `option_order`: EDK2 builds those
    /// itself, in ascending code order (tests/fixtures/firmware).
    pub boot_request_order: Option<Vec<u8>>,
    /// Option 77, sent verbatim (iPXE sends the plain string `iPXE`, §2.4).
    pub user_class: Option<Vec<u8>>,
    /// Option 175 payload (iPXE's feature list).
    pub ipxe_features: Option<Vec<u8>>,
    /// Without a readable UUID, send an all-zero GUID (EDK2) instead of no 97.
    pub zero_uuid_when_unknown: bool,
    /// Set the BOOTP broadcast flag: a ROM cannot take unicast before it has an
    /// address (PXE 2.1; EDK2 sets it too, Q21). iPXE leaves it clear.
    pub broadcast_flag: bool,
    /// DISCOVER timeouts: one DISCOVER at the start of each, give up at the end
    /// of the last.
    pub discover_timeouts: Vec<Duration>,
    /// How offers are chosen.
    pub offer_rule: OfferRule,
    /// [`OfferRule::Ipxe`]: how long after discovery began iPXE stops waiting
    /// for a ProxyDHCP offer once it has a DHCP offer.
    pub proxy_wait: Duration,
    /// DHCPREQUEST timeouts (selecting state).
    pub request_timeouts: Vec<Duration>,
    /// [`OfferRule::Ipxe`]: with a DHCP and a ProxyDHCP offer in, wait for the
    /// DISCOVER timer to expire before the REQUEST. The iPXE ROMs did (BIOS
    /// and EFI, both offers in within 1 ms, REQUEST at +0.95 s), the same
    /// build chainloaded as `ipxe.efi` did not (REQUEST 2 ms after the
    /// DISCOVER): tests/fixtures/firmware. iPXE's dhcp.c moves on at the
    /// offer; why the ROMs see it only about a second later is not known.
    pub ipxe_proxy_on_timer: bool,
    /// Timeouts of the DHCPREQUEST to a ProxyDHCP / BINL server on UDP 4011.
    pub proxy_request_timeouts: Vec<Duration>,
    /// Whether a silent 4011 server is survivable: boot from the DHCP ACK's own
    /// information instead of failing with PXE-E55 (iPXE, §2.2).
    pub proxy_request_optional: bool,
    /// Timeouts of a boot-server discovery round (43.71 REQUESTs).
    pub boot_server_timeouts: Vec<Duration>,
    /// What the TFTP client asks for (blksize, tsize, windowsize, size probe).
    pub tftp: ClientOptions,
    /// Largest TFTP DATA payload the ROM accepts: beyond it, PXE-E3F (Q26).
    pub max_block: Option<u16>,
    /// A fixed TFTP client port; `None` draws one from the rng (1024..65535).
    pub tftp_port: Option<u16>,
    /// The firmware re-initialises the NIC when it starts, so a switch port
    /// running spanning tree blocks again (iPXE, Q6): the world calls
    /// `net.link_up` when it powers on.
    pub resets_link: bool,
    /// Delay between power-on and the first DISCOVER. No sourced figure exists
    /// for any built-in profile, so they all use zero.
    pub start_delay: Duration,
    /// Deviations switched on (see [`Quirk`]).
    pub quirks: Vec<Quirk>,
}

const IDS: &[&str] = &["pxe21-bios", "edk2-uefi", "ipxe", "legacy-rom"];

fn secs(list: &[u64]) -> Vec<Duration> {
    list.iter().map(|s| Duration::from_secs(*s)).collect()
}

/// The PXE 2.1 parameter request list of BIOS ROMs: the usual network options,
/// 43 and 60 for PXE, 66/67 for the boot file and 128–135 (PXE 2.1 reserves
/// them for boot-server-specific data; R2, R14).
fn bios_request_list() -> Vec<u8> {
    let mut l = vec![
        1, 2, 3, 5, 6, 11, 12, 13, 15, 16, 17, 18, 43, 54, 60, 66, 67,
    ];
    l.extend(128..=135);
    l
}

/// EDK2's 35-entry list, PxeBcBuildDhcp4Options (R14).
fn edk2_request_list() -> Vec<u8> {
    let mut l = vec![
        1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60,
        66, 67, 97,
    ];
    l.extend(128..=135);
    l
}

/// iPXE's request list exactly as the real iPXE BIOS ROM sent it on this
/// machine (research/real-peers.md, "What the real clients sent"; R65 agrees).
fn ipxe_request_list() -> Vec<u8> {
    let mut l = vec![1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119];
    l.extend(128..=135);
    l.extend([175, 203]);
    l
}

/// iPXE's option 175 as the real BIOS ROM (iPXE 1.0.0+git-20190125, e1000)
/// sent it (tests/fixtures/firmware/ipxe-bios.json): encapsulated options,
/// first the bus id (177: PCI 8086:100e), the version (235: 1.0.0), then
/// one-byte feature flags (iPXE's features.h: 0x17 DNS, 0x22 ELF, 0x13 HTTP,
/// 0x11 iSCSI, 0x27 menu, 0x19 Multiboot, 0x29 NFS, 0x10 PXE extensions = 2,
/// 0x21 PXE, 0x15 TFTP, 0x18 bzImage, 0x12 AoE). The set depends on the build
/// and the platform, so the UEFI build has its own ([`ipxe_efi_features`]).
fn ipxe_features() -> Vec<u8> {
    vec![
        0xb1, 0x05, 0x01, 0x80, 0x86, 0x10, 0x0e, 0xeb, 0x03, 0x01, 0x00, 0x00, 0x17, 0x01, 0x01,
        0x22, 0x01, 0x01, 0x13, 0x01, 0x01, 0x11, 0x01, 0x01, 0x27, 0x01, 0x01, 0x19, 0x01, 0x01,
        0x29, 0x01, 0x01, 0x10, 0x01, 0x02, 0x21, 0x01, 0x01, 0x15, 0x01, 0x01, 0x18, 0x01, 0x01,
        0x12, 0x01, 0x01,
    ]
}

/// Option 175 of the same iPXE build as an EFI driver (the e1000's EFI ROM,
/// tests/fixtures/firmware/ipxe-efi.json): 0x24 EFI instead of the BIOS
/// build's ELF, Multiboot, PXE, PXE extensions and bzImage.
fn ipxe_efi_features() -> Vec<u8> {
    vec![
        0xb1, 0x05, 0x01, 0x80, 0x86, 0x10, 0x0e, 0xeb, 0x03, 0x01, 0x00, 0x00, 0x17, 0x01, 0x01,
        0x24, 0x01, 0x01, 0x13, 0x01, 0x01, 0x11, 0x01, 0x01, 0x27, 0x01, 0x01, 0x29, 0x01, 0x01,
        0x15, 0x01, 0x01, 0x12, 0x01, 0x01,
    ]
}

/// iPXE's order as captured: 53, 57, 93, 94, 60, 77, 55, 175, 61, 97, and
/// in a REQUEST 54 and 50 last.
const IPXE_ORDER: [u8; 12] = [
    code::MESSAGE_TYPE,
    code::MAX_MESSAGE_SIZE,
    code::CLIENT_ARCH,
    code::CLIENT_NDI,
    code::VENDOR_CLASS,
    code::USER_CLASS,
    code::PARAMETER_REQUEST_LIST,
    code::IPXE_ENCAP,
    code::CLIENT_ID,
    code::CLIENT_UUID,
    code::SERVER_ID,
    code::REQUESTED_IP,
];

/// The order of §2.1's list, used where no capture gives the firmware's own.
const SPEC_ORDER: [u8; 9] = [
    code::MESSAGE_TYPE,
    code::MAX_MESSAGE_SIZE,
    code::PARAMETER_REQUEST_LIST,
    code::VENDOR_CLASS,
    code::CLIENT_ARCH,
    code::CLIENT_NDI,
    code::CLIENT_UUID,
    code::USER_CLASS,
    code::IPXE_ENCAP,
];

impl Profile {
    /// A built-in profile by id.
    pub fn builtin(id: &str) -> Option<Profile> {
        match id {
            "pxe21-bios" => Some(Self::pxe21_bios()),
            "edk2-uefi" => Some(Self::edk2_uefi()),
            "ipxe" => Some(Self::ipxe()),
            "legacy-rom" => Some(Self::legacy_rom()),
            _ => None,
        }
    }

    /// The ids [`Profile::builtin`] knows.
    pub fn builtin_ids() -> &'static [&'static str] {
        IDS
    }

    /// A spec-conformant PXE 2.1 BIOS ROM (Intel lineage): arch 0, UNDI 2.1
    /// (`PXEClient:Arch:00000:UNDI:002001`, the R65 capture), DISCOVER at 4, 8,
    /// 16, 32 s, REQUEST at 1, 2, 3, 4 s, 4011 within 7 s (§2.2, R1/R37).
    /// TFTP blksize 1456: the RFC 7440 Ethernet profile's value and Intel's own
    /// PXE-E3F limit (§2.7, §2.3), plus tsize.
    pub fn pxe21_bios() -> Profile {
        Profile {
            id: "pxe21-bios".into(),
            description: "PXE 2.1 BIOS ROM (spec timers 4/8/16/32 s, earliest complete PXE offer)"
                .into(),
            arch: ClientArch::X86_BIOS,
            undi: (2, 1),
            parameter_request_list: bios_request_list(),
            max_message_size: 1472,
            option_order: SPEC_ORDER.to_vec(),
            request_max_message_size: None,
            boot_request_order: None,
            user_class: None,
            ipxe_features: None,
            zero_uuid_when_unknown: false,
            broadcast_flag: true,
            discover_timeouts: secs(&[4, 8, 16, 32]),
            offer_rule: OfferRule::Spec { eager: false },
            proxy_wait: Duration::ZERO,
            ipxe_proxy_on_timer: false,
            request_timeouts: secs(&[1, 2, 3, 4]),
            proxy_request_timeouts: secs(&[1, 2, 4]),
            proxy_request_optional: false,
            boot_server_timeouts: secs(&[1, 2, 3, 4]),
            tftp: ClientOptions {
                blksize: Some(1456),
                tsize: true,
                ..ClientOptions::default()
            },
            max_block: Some(1456),
            tftp_port: None,
            resets_link: false,
            start_delay: Duration::ZERO,
            quirks: Vec::new(),
        }
    }

    /// EDK2's UefiPxeBcDxe on x64 (arch 7, UNDI 3.0, R14): options in
    /// PxeBcBuildDhcp4Options' order (53, 57, 55, 97, 94, 93, 60; a REQUEST
    /// has 54 and 50 after 53 and the Dhcp4 driver's 57 = 0xFF00, a request to
    /// a boot server ascending codes: all as captured from OVMF), 57 =
    /// 1472 as OVMF 2022.11 sends it (tests/fixtures/firmware), all-zero GUID when SMBIOS is unreadable; DISCOVER at
    /// `mPxeDhcpTimeout` {4, 8, 16, 32} (used for REQUEST too; OVMF collects
    /// offers for about 4 s before its REQUEST, real-peers.md); 4011 at
    /// 1 s × 4 (`PXEBC_BOOT_REQUEST_*`); TFTP size probe then abort (Q10),
    /// blksize 1468, windowsize 4 (both RRQs as measured with OVMF 2022.11).
    pub fn edk2_uefi() -> Profile {
        Profile {
            id: "edk2-uefi".into(),
            description:
                "EDK2 UEFI PxeBcDxe x64 (eight-step offer priority, BINL via 4011, tsize probe)"
                    .into(),
            arch: ClientArch::EFI_X64,
            undi: (3, 0),
            parameter_request_list: edk2_request_list(),
            max_message_size: 1472,
            option_order: vec![
                code::MESSAGE_TYPE,
                code::SERVER_ID,
                code::REQUESTED_IP,
                code::MAX_MESSAGE_SIZE,
                code::PARAMETER_REQUEST_LIST,
                code::CLIENT_UUID,
                code::CLIENT_NDI,
                code::CLIENT_ARCH,
                code::VENDOR_CLASS,
            ],
            request_max_message_size: Some(0xff00),
            boot_request_order: Some(vec![
                code::MESSAGE_TYPE,
                code::PARAMETER_REQUEST_LIST,
                code::MAX_MESSAGE_SIZE,
                code::VENDOR_CLASS,
                code::CLIENT_ARCH,
                code::CLIENT_NDI,
                code::CLIENT_UUID,
            ]),
            user_class: None,
            ipxe_features: None,
            zero_uuid_when_unknown: true,
            broadcast_flag: true,
            discover_timeouts: secs(&[4, 8, 16, 32]),
            offer_rule: OfferRule::Edk2,
            proxy_wait: Duration::ZERO,
            ipxe_proxy_on_timer: false,
            request_timeouts: secs(&[4, 8, 16, 32]),
            proxy_request_timeouts: secs(&[1, 1, 1, 1]),
            proxy_request_optional: false,
            boot_server_timeouts: secs(&[1, 1, 1, 1]),
            tftp: ClientOptions {
                blksize: Some(1468),
                windowsize: Some(4),
                tsize: false,
                probe_then_abort: true,
                tsize_first: true,
                ..ClientOptions::default()
            },
            max_block: None,
            tftp_port: None,
            resets_link: false,
            start_delay: Duration::ZERO,
            quirks: Vec::new(),
        }
    }

    /// iPXE as a BIOS ROM or `undionly.kpxe` (fingerprint R65 and real-peers.md:
    /// 93 = 0, 94 = 1.2.1, `PXEClient:Arch:00000:UNDI:002001`, 57 = 1472, 77 =
    /// `iPXE`, 175): DISCOVER at 1, 2, 4, 8 s (`DHCP_DISC_START/END` 1/10), 2 s
    /// proxy wait checked on each offer and timer expiry (so a plain offer is
    /// REQUESTed at +3 s, as measured in real-peers.md), REQUEST 0.25…8 s, 4011
    /// abandoned after 2 s, TFTP `blksize 1432, tsize 0` (measured); it
    /// re-initialises the NIC (Q6).
    pub fn ipxe() -> Profile {
        Profile {
            id: "ipxe".into(),
            description: "iPXE (1/2/4/8 s, 2 s proxy wait, user class iPXE, option 175)".into(),
            arch: ClientArch::X86_BIOS,
            undi: (2, 1),
            parameter_request_list: ipxe_request_list(),
            max_message_size: 1472,
            option_order: IPXE_ORDER.to_vec(),
            request_max_message_size: None,
            boot_request_order: None,
            user_class: Some(b"iPXE".to_vec()),
            ipxe_features: Some(ipxe_features()),
            zero_uuid_when_unknown: false,
            broadcast_flag: false,
            discover_timeouts: secs(&[1, 2, 4, 8]),
            offer_rule: OfferRule::Ipxe,
            proxy_wait: Duration::from_secs(2),
            ipxe_proxy_on_timer: true,
            request_timeouts: [250, 500, 1000, 2000, 4000, 8000]
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
            proxy_request_timeouts: secs(&[1, 2]),
            proxy_request_optional: true,
            boot_server_timeouts: secs(&[1, 2, 4]),
            tftp: ClientOptions {
                blksize: Some(1432),
                tsize: true,
                ..ClientOptions::default()
            },
            max_block: None,
            tftp_port: None,
            resets_link: true,
            start_delay: Duration::ZERO,
            quirks: Vec::new(),
        }
    }

    /// An older PXE ROM: the spec's timers but "first discovered" selection (it
    /// proceeds as soon as a complete PXE set is in), no TFTP windowsize or tsize,
    /// and Intel's hard 1456-byte DATA limit (PXE-E3F, Q26).
    pub fn legacy_rom() -> Profile {
        Profile {
            id: "legacy-rom".into(),
            description:
                "older PXE ROM (first complete offer wins, PXE-E3F above 1456-byte blocks)".into(),
            offer_rule: OfferRule::Spec { eager: true },
            tftp: ClientOptions {
                blksize: Some(1456),
                ..ClientOptions::default()
            },
            max_block: Some(1456),
            ..Self::pxe21_bios()
        }
    }

    /// iPXE as loaded by firmware of this profile: same architecture, iPXE's
    /// timers, 77/175 and TFTP options; iPXE's UNDI version for the platform
    /// (2.1 on BIOS, 3.10 on UEFI: `UNDI:003010` from iPXE EFI, real-peers.md).
    /// Quirks of the loading firmware do not carry over: iPXE is other code.
    pub fn ipxe_chained(&self) -> Profile {
        let (undi, features) = if self.arch.is_bios() {
            ((2, 1), ipxe_features())
        } else {
            ((3, 10), ipxe_efi_features())
        };
        Profile {
            id: format!("ipxe@{}", self.id),
            description: format!("iPXE chainloaded by {}", self.id),
            arch: self.arch,
            undi,
            ipxe_features: Some(features),
            ipxe_proxy_on_timer: false,
            ..Self::ipxe()
        }
    }

    /// This profile with `q` switched on as well (no duplicates, catalogue order).
    pub fn with_quirks(mut self, q: &[Quirk]) -> Profile {
        self.quirks.extend_from_slice(q);
        self.quirks.sort();
        self.quirks.dedup();
        self
    }

    /// Whether quirk `q` is on.
    pub fn has(&self, q: Quirk) -> bool {
        self.quirks.contains(&q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_id_builds_its_own_profile() {
        for id in Profile::builtin_ids() {
            let p = Profile::builtin(id).unwrap();
            assert_eq!(p.id, *id);
        }
        assert!(Profile::builtin("nope").is_none());
    }

    #[test]
    fn edk2_request_list_has_35_entries() {
        assert_eq!(edk2_request_list().len(), 35);
    }

    #[test]
    fn chained_ipxe_keeps_the_arch() {
        let p = Profile::edk2_uefi().ipxe_chained();
        assert_eq!(p.arch, ClientArch::EFI_X64);
        assert_eq!(p.offer_rule, OfferRule::Ipxe);
        assert_eq!(p.undi, (3, 10));
        let q =
            Profile::edk2_uefi().with_quirks(&[Quirk::ZeroUuid, Quirk::Edk2Bz469, Quirk::ZeroUuid]);
        assert_eq!(q.quirks, vec![Quirk::Edk2Bz469, Quirk::ZeroUuid]);
    }
}
