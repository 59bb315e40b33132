//! The quirk catalogue: every real-world deviation of research §3 (Q1–Q33),
//! where the simulator models it, or why it does not.
//!
//! Engineers meet these quirks as "works on one machine, not the other"; the
//! catalogue is the one place that says which of them a scenario can
//! reproduce (and with which knob) and which it cannot. Entries whose knob is a
//! per-fleet `quirks = [...]` id are the [`Quirk`](super::Quirk)s; the others
//! are built into a profile, a server kind or the network, or not modelled.

use serde::Serialize;

/// What a quirk is a property of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Client firmware (a fleet's profile).
    Client,
    /// A server the client meets (foreign or reference).
    Server,
    /// The network between them (switch, relay, ARP).
    Network,
}

impl Scope {
    /// Lower-case name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Client => "client",
            Scope::Server => "server",
            Scope::Network => "network",
        }
    }
}

/// Whether and how a scenario can reproduce a quirk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Status {
    /// Modelled; `knob` says how a scenario switches it on.
    Implemented {
        /// The scenario key, fleet quirk id or built-in profile behaviour.
        knob: &'static str,
    },
    /// Not modelled.
    NotModelled {
        /// Why (what model it would need, or where it belongs instead).
        why: &'static str,
    },
}

impl Status {
    /// Whether the simulator models it.
    pub fn is_implemented(&self) -> bool {
        matches!(self, Status::Implemented { .. })
    }
}

/// Where a scenario lists the id to switch the quirk on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Switch {
    /// `quirks = ["<id>"]` on a `[[fleet]]`.
    FleetQuirk,
    /// `quirks = ["<id>"]` on a foreign `[[server]]` (dhcp, dhcp-pxe, rogue).
    ServerQuirk,
    /// Not by id: built into a profile or server kind, another scenario key,
    /// or not modelled at all (see the status).
    None,
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Kebab-case id (the `quirks = [...]` id when it is a fleet quirk).
    pub id: &'static str,
    /// Row of research §3 (`Q1`…`Q33`).
    pub research: &'static str,
    /// One line: what the real machine does.
    pub description: &'static str,
    /// Where it was seen (research references resolved).
    pub source: &'static str,
    /// What kind of thing has the quirk.
    pub scope: Scope,
    /// Profiles, server kinds or network parts it concerns.
    pub applies_to: &'static str,
    /// Modelled or not.
    #[serde(flatten)]
    pub status: Status,
    /// Where the id is accepted in a scenario.
    pub switch: Switch,
}

const fn fleet(
    id: &'static str,
    research: &'static str,
    description: &'static str,
    source: &'static str,
    applies_to: &'static str,
) -> Entry {
    Entry {
        id,
        research,
        description,
        source,
        scope: Scope::Client,
        applies_to,
        status: Status::Implemented {
            knob: "[[fleet]] quirks = [\"<id>\"]",
        },
        switch: Switch::FleetQuirk,
    }
}

const fn built_in(
    id: &'static str,
    research: &'static str,
    scope: Scope,
    description: &'static str,
    source: &'static str,
    applies_to: &'static str,
    knob: &'static str,
) -> Entry {
    Entry {
        id,
        research,
        description,
        source,
        scope,
        applies_to,
        status: Status::Implemented { knob },
        switch: Switch::None,
    }
}

const fn not_modelled(
    id: &'static str,
    research: &'static str,
    scope: Scope,
    description: &'static str,
    source: &'static str,
    applies_to: &'static str,
    why: &'static str,
) -> Entry {
    Entry {
        id,
        research,
        description,
        source,
        scope,
        applies_to,
        status: Status::NotModelled { why },
        switch: Switch::None,
    }
}

const CATALOG: &[Entry] = &[
    fleet(
        "rejects-proxy-pxe10",
        "Q1",
        "UEFI ROM ignores a ProxyDHCP offer with 43.6 = 8 (PXE10 boot file) and DISCOVERs again; boots only via BINL + 4011",
        "pixiecore README.booting.md and pixiecore/dhcp.go (danderson/netboot); HP DL380 Gen9 UEFI only in legacy mode (danderson/pixiecore #21, danderson/netboot #43); dnsmasq 2.76 CHANGELOG and src/rfc2131.c pxe_uefi_workaround",
        "any profile (seen on UEFI ROMs)",
    ),
    fleet(
        "edk2-bz469",
        "Q2",
        "EDK2 <= ~2017 never caches the first ProxyPxe10 offer (OfferCount > 0 test), so ProxyDHCP with option 43 fails",
        "tianocore/edk2 issue #6944 (Bugzilla 469, Dell T430/T130); NetworkPkg/UefiPxeBcDxe/PxeBcDhcp4.c",
        "any profile (EDK2 releases up to ~2017)",
    ),
    fleet(
        "no-proxy-merge",
        "Q3",
        "UEFI client does not merge a ProxyDHCP offer with the router's DHCP offer: it never REQUESTs the pair and no 4011 traffic follows",
        "garybowers/bootimus issue #77 (HP laptop, arch 7: DISCOVER retried with secs 0/4/12/28, zero 4011 traffic)",
        "any profile (seen on HP UEFI)",
    ),
    Entry {
        id: "stray-option60",
        research: "Q4",
        description: "a DHCP server sends option 60 PXEClient without 43: EDK2 classes the offer BINL and asks siaddr:4011, where nobody listens",
        source: "FOGProject/fog-docs PR #188 (option 060 stops UEFI); Broadcom KB 152549 PXE-E11 cause (option 60 on the DHCP server, proxy elsewhere)",
        scope: Scope::Server,
        applies_to: "server kinds dhcp, dhcp-pxe, rogue",
        status: Status::Implemented {
            knob: "[[server]] quirks = [\"stray-option60\"] (or stray_option60 = true)",
        },
        switch: Switch::ServerQuirk,
    },
    fleet(
        "no-uuid",
        "Q5",
        "the NIC sends no option 97 client GUID although PXE 2.1 says it MUST",
        "danderson/pixiecore issue #21 (\"bad intel cards\"); pixiecore README.booting.md relaxes 97 to SHOULD",
        "any profile",
    ),
    built_in(
        "stp-link-delay",
        "Q6",
        Scope::Network,
        "spanning tree holds a port 30-50 s after link-up; PXE ROMs (60 s budget) survive, iPXE (which resets the link) fails",
        "ipxe/ipxe #1337; docs.mirantis.com \"Troubleshoot iPXE boot issues\"; crowbar/crowbar PR #2332; xcat2/xcat-core #1638; RackHD/RackHD #43; raspberrypi/rpi-eeprom #480",
        "segments (every profile; ipxe re-triggers it)",
        "[[segment]] link_up_delay_s (ipxe profile: resets_link)",
    ),
    built_in(
        "duplicate-uuid",
        "Q7",
        Scope::Client,
        "duplicate or placeholder SMBIOS UUIDs (all FF, shared, MAC-derived) make different machines one identity",
        "FOGProject/fogproject PR #196 and issue #198; metal-stack/metal-hammer #52; SolidRun/lx2160a_uefi #4; Broadcom KB 152283 (duplicate GUID); WDS BannedGuidPolicy (MicrosoftDocs wdsutil-set-server.md)",
        "fleets (any profile)",
        "[[fleet]] uuid = \"zero\" | \"ff\" | \"shared\" | \"from-mac\" | \"none\"",
    ),
    fleet(
        "zero-uuid",
        "Q7",
        "sends an all-zero option 97 GUID (EDK2's fallback when SMBIOS is unreadable)",
        "tianocore/edk2 NetworkPkg/UefiPxeBcDxe PxeBcBuildDhcp4Options (research section 2.4); Broadcom KB 152283 (duplicate GUID)",
        "any profile",
    ),
    built_in(
        "ipxe-chainload-loop",
        "Q8",
        Scope::Server,
        "a server that hands iPXE the iPXE binary again makes it chainload itself forever (repeated RRQ undionly.kpxe)",
        "ipxe/ipxe issue #922; netbootxyz/netboot.xyz #495; https://ipxe.org/cfg/user-class and https://ipxe.org/howto/dhcpd",
        "server kind dhcp-pxe; ipxe NBPs",
        "[[server]] kind = \"dhcp-pxe\" without ipxe_file, serving an nbp = \"ipxe\" file (loop detected by the machine model)",
    ),
    not_modelled(
        "dnsmasq-menu-loop",
        "Q9",
        Scope::Server,
        "dnsmasq proxy with several pxe-service entries: iPXE loads itself in a loop because the menu path ignores dhcp-boot tags",
        "ipxe/ipxe issues #908 and #913",
        "dnsmasq proxy mode",
        "needs a dnsmasq-style menu server; the foreign servers have no boot menus and the reference server's menu does not have the tag bug",
    ),
    built_in(
        "edk2-tsize-probe",
        "Q10",
        Scope::Client,
        "EDK2 asks tsize=0 first, aborts with ERROR 8 after the OACK, then RRQs again without tsize; a server must not count it as failure",
        "pin/tftp issue #125; async-tftp-rs #18; py3tftp PR #9; netbootxyz/netboot.xyz #736, #952, #1632 (dnsmasq \"TFTP Aborted\")",
        "edk2-uefi",
        "edk2-uefi profile (tftp.probe_then_abort)",
    ),
    not_modelled(
        "unrequested-oack-option",
        "Q11",
        Scope::Client,
        "an OACK naming an option the client did not request (e.g. tsize) makes EFI clients error out; RFC 2347 forbids it",
        "gagle/node-tftp issue #13 / PR #14; pypxe/PyPXE PR #125/#128",
        "EFI TFTP clients; TFTP servers",
        "no simulated TFTP server sends an unrequested OACK option (the reference server follows RFC 2347); checking servers for it belongs to the conformance suite (issue 7)",
    ),
    not_modelled(
        "breaks-on-fragments",
        "Q12",
        Scope::Client,
        "ROMs that break on IP fragments or the DF bit when a large blksize is granted",
        "dnsmasq man page tftp-no-blocksize and CHANGELOG 2.51 (MTU cap); dnsmasq-discuss 2009-Q3 \"TFTP Boot update\" (Simon Kelley); tftp-hpa tftpd.8 --refuse",
        "legacy ROMs",
        "the simulated network carries whole datagrams, not IP fragments (no MTU/DF model); the receive-size limit itself is legacy-rom-e3f (Q26)",
    ),
    fleet(
        "min-reply-latency",
        "Q13",
        "firmware fails to take a (proxy) DHCP reply that arrives \"instantly\": replies within 50 ms of the DISCOVER are lost",
        "dnsmasq man page dhcp-reply-delay and CHANGELOG 2.77 (Floris Bos patch: \"some PXE firmware fails if the reply arrives too quickly\")",
        "any profile",
    ),
    not_modelled(
        "broken-uefi-menu",
        "Q14",
        Scope::Client,
        "broken UEFI PXE menus: a menu makes the client fail (PXE-E74), a single item must be sent as a direct file",
        "dnsmasq CHANGELOG 2.76 and src/rfc2131.c; Broadcom KB 152549 (PXE-E74)",
        "UEFI ROMs",
        "which UEFI ROMs break and how is not sourced beyond the dnsmasq workaround; the edk2-uefi profile renders menus as EDK2 does",
    ),
    fleet(
        "hw-client-vendor-class",
        "Q15",
        "the client's option 60 starts with HW-Client instead of PXEClient, so PXE servers that match PXEClient ignore it",
        "dnsmasq man page --dhcp-pxe-vendor",
        "any profile",
    ),
    fleet(
        "wrong-arch-option93",
        "Q16",
        "an x64 UEFI client announces architecture 0 (x86 BIOS) in options 93 and 60 and is handed the BIOS boot file",
        "MicrosoftDocs windowsserverdocs wdsutil-set-server.md (ArchitectureDiscovery: \"x64 clients that do not broadcast their architecture correctly\")",
        "any profile",
    ),
    built_in(
        "ipxe-proxy-race",
        "Q17",
        Scope::Client,
        "iPXE leaves discovery with the DHCP offer when the ProxyDHCP offer comes late, and has no boot instructions",
        "danderson/netboot pixiecore README.md (embedded retry script) and issue #38 (\"No ProxyDHCP response, retrying\"); ipxe/ipxe src/net/udp/dhcp.c",
        "ipxe",
        "ipxe profile (proxy_wait) against a proxy with [[server]] respond_delay_ms",
    ),
    not_modelled(
        "ipxe-plain-offer",
        "Q18",
        Scope::Client,
        "older iPXE takes the plain DHCP offer (no boot file) when two DHCP servers answer, unless the PXE server echoes option 60",
        "warewulf/warewulf3 PR #137",
        "ipxe",
        "the ipxe profile follows current dhcp.c offer priority; the older selection logic warewulf hit is not sourced in enough detail to model",
    ),
    not_modelled(
        "winpe-proxy-tftp",
        "Q19",
        Scope::Client,
        "WinPE uses the TFTP server/file of the ProxyDHCPACK even when there is none (tftp://0.0.0.0/bootmgr.exe)",
        "iPXE commit \"[pxe] If no ProxyDHCPACK exists, use DHCPACK\" (git.rthoni.com mirror)",
        "WinPE NBPs",
        "needs a model of the NBP/OS reading the cached PXE packets; the simulator's NBPs are opaque loaders",
    ),
    not_modelled(
        "proxy-offer-only",
        "Q20",
        Scope::Server,
        "ProxyDHCP servers that expect the client to keep the proxy OFFER's options and never answer a 4011 REQUEST",
        "iPXE/xNBA commit \"Some ProxyDHCP implementations ... retain the ProxyDHCPOFFER\" (git.arif-ali.co.uk mirror); tianocore/edk2 issue #8149",
        "ProxyDHCP servers",
        "no foreign ProxyDHCP kind exists (the foreign servers are DHCP servers; the reference proxy always answers 4011)",
    ),
    not_modelled(
        "relay-broadcast-bit",
        "Q21",
        Scope::Network,
        "relay path: UEFI sets the broadcast bit, the server's reply clears it, the relay unicasts and the client ignores it",
        "pyke369/pdhcp issue #3 (Juniper relay)",
        "DHCP relays",
        "the simulator has no DHCP relay: segments are single broadcast domains",
    ),
    not_modelled(
        "rx-needs-broadcast-kick",
        "Q22",
        Scope::Client,
        "a boot ROM (Raspberry Pi) needs a broadcast packet to wake reception; only 1-3 of 48 boot together",
        "raspberrypi/firmware issues #764, #991, #1120",
        "Raspberry Pi boot ROM",
        "hardware-specific receive bug with no PXE profile in the simulator (not a PXE 2.1 ROM)",
    ),
    not_modelled(
        "ping-check-netbooted-os",
        "Q23",
        Scope::Server,
        "a netbooted Windows answers ping before it has a lease, so a ping-checking server blocks the address it used",
        "dnsmasq CHANGELOG 2.78 (ping-check revert)",
        "DHCP servers with ping check; OS",
        "needs an OS model that answers ICMP and a ping-checking DHCP server; the simulator has neither",
    ),
    built_in(
        "edk2-discards-mtftp",
        "Q24",
        Scope::Client,
        "EDK2 discards MTFTP (WfM11a, 43.1-5) offers outright",
        "tianocore/edk2 NetworkPkg/UefiPxeBcDxe/PxeBcDhcp4.c",
        "edk2-uefi",
        "edk2-uefi profile (offer rule Edk2)",
    ),
    built_in(
        "edk2-ignores-listed-only",
        "Q25",
        Scope::Client,
        "43.6 bit 2 (accept only servers listed in 43.8) is not enforced by EDK2",
        "tianocore/edk2 issue #8558",
        "edk2-uefi",
        "edk2-uefi profile (boot-server discovery accepts any server)",
    ),
    built_in(
        "legacy-rom-e3f",
        "Q26",
        Scope::Client,
        "legacy BIOS ROM fails with PXE-E3F \"TFTP packet size invalid\" on DATA blocks above its buffer",
        "Broadcom KB 152549 \"Complete list of PXE error codes\" (copy: mikolasan/pxe-boot list-of-pxe-error-codes.md)",
        "legacy-rom",
        "legacy-rom profile (max_block)",
    ),
    not_modelled(
        "broadcast-rrq",
        "Q27",
        Scope::Client,
        "old embedded clients send the TFTP RRQ to broadcast and need replies from the same local IP they hit",
        "hpax/tftp-hpa CHANGES 0.43 (\"Bad Sun!\") and 0.15",
        "embedded TFTP clients; multi-homed servers",
        "servers in the simulator are single-homed with one address, so the reply address cannot differ",
    ),
    not_modelled(
        "windows-path-separators",
        "Q28",
        Scope::Client,
        "Windows NBPs ask for paths with backslashes, mixed /boot\\ prefixes and any case",
        "dnsmasq man page (\\ to / conversion, tftp-lowercase); https://ipxe.org/appnote/chainload_wds",
        "wdsnbp.com and other Windows NBPs",
        "file-name normalisation is a TFTP server property: it belongs to the reference server's conformance suite (issue 7)",
    ),
    not_modelled(
        "undi-unloaded-chainload",
        "Q29",
        Scope::Client,
        "chainloading undionly.kpxe from iPXE fails because UNDI is already unloaded; UEFI chainloads lose the DHCP options",
        "danderson/netboot issue #4; ipxe/ipxe issue #187",
        "ipxe NBP chains",
        "needs a model of UNDI/NBP state across chainloads; the machine model only knows iPXE, script and loader NBPs",
    ),
    fleet(
        "no-block-rollover",
        "Q30",
        "16-bit TFTP block counter without rollover: a file of more than 65535 blocks fails",
        "pypxe/PyPXE issue #160; raspberrypi/rpi-eeprom issue #720",
        "any profile",
    ),
    not_modelled(
        "option66-as-name",
        "Q31",
        Scope::Server,
        "a router's DHCP (PAN-OS) treats option 66 as a name and needs option 150 for the next server",
        "FOGProject/fog-docs PR #61",
        "router DHCP servers",
        "the simulated clients take the TFTP server from siaddr/option 54 as PXE ROMs do; no router vendor DHCP profile exists",
    ),
    not_modelled(
        "virtual-nic-no-pxe",
        "Q32",
        Scope::Client,
        "VMware vmxnet3 has no PXE ROM; an e1000 NIC is needed",
        "brainupdaters/drlm #135",
        "virtual machines",
        "a NIC without a PXE ROM never network boots; there is nothing for the simulator to model beyond not adding the fleet",
    ),
    built_in(
        "arp-retries-e11",
        "Q33",
        Scope::Network,
        "legacy ROMs retry ARP 4 times, one second apart, then fail with PXE-E11",
        "Broadcom KB 152549 \"Complete list of PXE error codes\" (Intel/Altiris codes)",
        "every profile; the network's ARP",
        "network ARP (ARP_TRIES = 4, ARP_RETRY = 1 s); a target that never answers ARP: [[fault]] kind = \"server-down\"",
    ),
];

/// Every catalogue entry, in research order.
pub fn catalog() -> &'static [Entry] {
    CATALOG
}

/// Ids a `[[server]]`'s `quirks` accepts.
pub fn server_quirk_ids() -> impl Iterator<Item = &'static str> + Clone {
    CATALOG
        .iter()
        .filter(|e| e.switch == Switch::ServerQuirk)
        .map(|e| e.id)
}

/// The entry with this id.
pub fn entry(id: &str) -> Option<&'static Entry> {
    CATALOG.iter().find(|e| e.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firmware::Quirk;

    #[test]
    fn every_research_row_has_an_entry() {
        for n in 1..=33 {
            let q = format!("Q{n}");
            assert!(
                CATALOG.iter().any(|e| e.research == q),
                "{q} is missing from the catalogue"
            );
        }
    }

    #[test]
    fn fleet_quirks_are_exactly_the_quirk_enum() {
        let fleet: Vec<&str> = CATALOG
            .iter()
            .filter(|e| e.switch == Switch::FleetQuirk)
            .map(|e| e.id)
            .collect();
        let mut enumerated: Vec<&str> = Quirk::all().iter().map(Quirk::id).collect();
        let mut sorted = fleet.clone();
        sorted.sort_unstable();
        enumerated.sort_unstable();
        assert_eq!(sorted, enumerated);
    }
}
