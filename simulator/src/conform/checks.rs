//! The catalog: every check the suite runs, the clause it tests, its level
//! and the client profile that runs it. The evaluation of each lives in its
//! area's module (`dhcp`, `bootsrv`, `tftp`, `fleet`).

use serde::Serialize;

/// How binding the clause is (RFC 2119 words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// Required: a failure makes `pxelab conform` exit 1.
    Must,
    /// Recommended: reported, the exit status is unaffected.
    Should,
    /// Optional: a missing feature reads "not supported".
    May,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        })
    }
}

/// Where a check belongs in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    /// DHCP offer and ACK correctness.
    Dhcp,
    /// ProxyDHCP rules.
    Proxy,
    /// Option 43 structure and discovery control.
    Pxe,
    /// The boot server on UDP 4011.
    BootServer,
    /// The boot file per architecture and user class.
    BootFile,
    /// TFTP.
    Tftp,
    /// Whole boots by firmware models, and many at once.
    Boot,
    /// Reply latency.
    Timing,
}

impl Area {
    /// The heading in the text report.
    pub fn title(self) -> &'static str {
        match self {
            Area::Dhcp => "DHCP offer and ACK",
            Area::Proxy => "ProxyDHCP",
            Area::Pxe => "PXE option 43",
            Area::BootServer => "Boot server (UDP 4011)",
            Area::BootFile => "Boot file per architecture and user class",
            Area::Tftp => "TFTP",
            Area::Boot => "Firmware boots and boot storm",
            Area::Timing => "Timing",
        }
    }
}

/// One check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable id (`area.subject.property`).
    pub id: &'static str,
    /// Report section.
    pub area: Area,
    /// MUST / SHOULD / MAY.
    pub level: Level,
    /// The clause it tests, with its section.
    pub clause: &'static str,
    /// The client profile whose identity runs it (`fleet`: every selected one).
    pub profile: &'static str,
    /// What is expected, in a sentence.
    pub title: &'static str,
}

const fn c(
    id: &'static str,
    area: Area,
    level: Level,
    clause: &'static str,
    profile: &'static str,
    title: &'static str,
) -> Check {
    Check {
        id,
        area,
        level,
        clause,
        profile,
        title,
    }
}

use Area::*;
use Level::*;

const BIOS: &str = "pxe21-bios";
const UEFI: &str = "edk2-uefi";
const IPXE: &str = "ipxe";

/// Every check, in report order.
pub const CHECKS: &[Check] = &[
    // DHCP
    c(
        "dhcp.offer.answers-discover",
        Dhcp,
        Must,
        "RFC 2131 §4.3.1",
        BIOS,
        "a DHCPDISCOVER from a PXE client gets a DHCPOFFER",
    ),
    c(
        "dhcp.offer.echoes-xid",
        Dhcp,
        Must,
        "RFC 2131 §4.3.1 (Table 3: xid from the client's message)",
        BIOS,
        "the offer carries the DISCOVER's xid",
    ),
    c(
        "dhcp.offer.echoes-chaddr",
        Dhcp,
        Must,
        "RFC 2131 §4.3.1 (Table 3: chaddr from the client's message)",
        BIOS,
        "the offer carries the client's chaddr, htype 1, hlen 6",
    ),
    c(
        "dhcp.offer.message-type",
        Dhcp,
        Must,
        "RFC 2132 §9.6",
        BIOS,
        "option 53 says DHCPOFFER",
    ),
    c(
        "dhcp.offer.server-id",
        Dhcp,
        Must,
        "RFC 2131 §4.3.1 (Table 3: option 54 MUST)",
        BIOS,
        "the offer names its server (option 54)",
    ),
    c(
        "dhcp.offer.lease-time",
        Dhcp,
        Must,
        "RFC 2131 §4.3.1 (Table 3: option 51 MUST)",
        BIOS,
        "the offer carries a lease time (option 51)",
    ),
    c(
        "dhcp.offer.yiaddr",
        Dhcp,
        Must,
        "RFC 2131 §4.3.1",
        BIOS,
        "the offered address is a usable host address, not the server's own",
    ),
    c(
        "dhcp.offer.well-formed",
        Dhcp,
        Must,
        "RFC 2131 §3 and RFC 2132 §2 (magic cookie, options ending in END)",
        BIOS,
        "the offer parses strictly",
    ),
    c(
        "dhcp.offer.broadcast-when-flagged",
        Dhcp,
        Should,
        "RFC 2131 §4.1",
        UEFI,
        "a DISCOVER with the broadcast flag gets its offer at 255.255.255.255 and L2 broadcast",
    ),
    c(
        "dhcp.offer.fits-max-message-size",
        Dhcp,
        Should,
        "RFC 2132 §9.10",
        BIOS,
        "the offer is no larger than the client's option 57 (576)",
    ),
    c(
        "dhcp.ack.echoes-xid",
        Dhcp,
        Must,
        "RFC 2131 §4.3.1 (Table 3)",
        BIOS,
        "the DHCPACK carries the REQUEST's xid",
    ),
    c(
        "dhcp.ack.same-address",
        Dhcp,
        Must,
        "RFC 2131 §4.3.2",
        BIOS,
        "the DHCPACK leases the address that was offered and requested",
    ),
    c(
        "dhcp.ack.lease-time",
        Dhcp,
        Must,
        "RFC 2131 §4.3.1 (Table 3: option 51 MUST in DHCPACK)",
        BIOS,
        "the DHCPACK carries a lease time",
    ),
    c(
        "dhcp.request.other-server-silent",
        Dhcp,
        Must,
        "RFC 2131 §4.3.2",
        BIOS,
        "a server not named in a REQUEST's option 54 does not ACK it",
    ),
    c(
        "dhcp.request.wrong-subnet-nak",
        Dhcp,
        Should,
        "RFC 2131 §4.3.2 (INIT-REBOOT)",
        BIOS,
        "a REQUEST for an address on another network gets a DHCPNAK",
    ),
    // ProxyDHCP
    c(
        "proxy.answers-pxe-client",
        Proxy,
        Must,
        "PXE 2.1 §2.2.4",
        BIOS,
        "a ProxyDHCP answers a PXE client's DISCOVER",
    ),
    c(
        "proxy.yiaddr-zero",
        Proxy,
        Must,
        "PXE 2.1 §2.2.4",
        BIOS,
        "a ProxyDHCP offer leases nothing: yiaddr is 0.0.0.0",
    ),
    c(
        "proxy.echoes-xid",
        Proxy,
        Must,
        "RFC 2131 §4.3.1 (Table 3)",
        BIOS,
        "the ProxyDHCP offer carries the DISCOVER's xid",
    ),
    c(
        "proxy.server-id",
        Proxy,
        Must,
        "PXE 2.1 §2.2.4",
        BIOS,
        "the ProxyDHCP offer names its server (option 54), where the client sends its 4011 REQUEST",
    ),
    c(
        "proxy.no-lease-options",
        Proxy,
        Should,
        "PXE 2.1 §2.2.4",
        BIOS,
        "the ProxyDHCP offer carries no lease time, router or netmask",
    ),
    c(
        "proxy.ignores-non-pxe",
        Proxy,
        Should,
        "PXE 2.1 §2.2.4",
        BIOS,
        "a ProxyDHCP stays silent to a DISCOVER without option 60 PXEClient",
    ),
    // Option 43
    c(
        "pxe.offer.vendor-class",
        Pxe,
        Must,
        "PXE 2.1 §2.2.4 (option 60 PXEClient in server replies)",
        BIOS,
        "a PXE offer carries option 60 PXEClient (a plain DHCP boot file without it: not supported)",
    ),
    c(
        "pxe.opt43.present",
        Pxe,
        Should,
        "PXE 2.1 §2.2.4 (option 43 in a PXEClient offer)",
        BIOS,
        "the PXE offer carries option 43",
    ),
    c(
        "pxe.opt43.well-formed",
        Pxe,
        Must,
        "RFC 2132 §8.4",
        BIOS,
        "option 43's sub-options parse (code, length, value within the option)",
    ),
    c(
        "pxe.opt43.terminated",
        Pxe,
        Must,
        "RFC 2132 §8.4 and PXE 2.1 §2.2.4 (PXE vendor options end with 255)",
        BIOS,
        "option 43 ends with END (255)",
    ),
    c(
        "pxe.opt43.discovery-control-valid",
        Pxe,
        Must,
        "PXE 2.1 §2.2.4 (PXE_DISCOVERY_CONTROL bits 4-7 must be 0)",
        BIOS,
        "43.6 sets no reserved bit",
    ),
    c(
        "pxe.opt43.servers-when-only-listed",
        Pxe,
        Must,
        "PXE 2.1 §2.2.4 (43.6 bit 2 with 43.8)",
        BIOS,
        "43.6 bit 2 (only listed servers) comes with a non-empty 43.8",
    ),
    c(
        "pxe.opt43.mcast-addr-when-multicast",
        Pxe,
        Should,
        "PXE 2.1 §2.2.4 (43.7 is required unless multicast discovery is disabled)",
        BIOS,
        "multicast discovery in use comes with 43.7",
    ),
    c(
        "pxe.opt43.menu-has-prompt",
        Pxe,
        Should,
        "PXE 2.1 §2.2.4 (43.9 with 43.10)",
        BIOS,
        "a boot menu (43.9) comes with a prompt (43.10)",
    ),
    c(
        "pxe.offer.next-step",
        Pxe,
        Must,
        "PXE 2.1 §2.2.4",
        BIOS,
        "the PXE answer gives a boot file or a way to find one (menu, boot servers)",
    ),
    c(
        "pxe.offer.tftp-server",
        Pxe,
        Must,
        "RFC 2131 §2 (siaddr) and RFC 2132 §9.4",
        BIOS,
        "a boot file comes with its TFTP server (siaddr or option 66)",
    ),
    // Boot server on 4011
    c(
        "bootsrv.4011.answers",
        BootServer,
        Must,
        "PXE 2.1 §2.2.5",
        BIOS,
        "a DHCPREQUEST to UDP 4011 gets an answer (MAY in full mode: the offer may name the file)",
    ),
    c(
        "bootsrv.4011.is-ack",
        BootServer,
        Must,
        "PXE 2.1 §2.2.5",
        BIOS,
        "the 4011 answer is a DHCPACK",
    ),
    c(
        "bootsrv.4011.echoes-xid",
        BootServer,
        Must,
        "RFC 2131 §4.3.1 (Table 3) and PXE 2.1 §2.2.5",
        BIOS,
        "the 4011 ACK carries the REQUEST's xid",
    ),
    c(
        "bootsrv.4011.echoes-boot-item",
        BootServer,
        Must,
        "PXE 2.1 §2.2.5 (43.71 PXE_BOOT_ITEM echoed)",
        BIOS,
        "the 4011 ACK echoes 43.71's type and layer",
    ),
    c(
        "bootsrv.4011.unicast-reply",
        BootServer,
        Should,
        "PXE 2.1 §2.2.5",
        BIOS,
        "the 4011 ACK goes to the client's address and source port",
    ),
    c(
        "bootsrv.4011.boot-file",
        BootServer,
        Must,
        "PXE 2.1 §2.2.5",
        BIOS,
        "the 4011 ACK names a boot file",
    ),
    // Boot file
    c(
        "bootfile.bios",
        BootFile,
        Must,
        "RFC 4578 §2.1 (arch 0)",
        BIOS,
        "a BIOS client (arch 0) is given a boot file",
    ),
    c(
        "bootfile.uefi-x64",
        BootFile,
        Must,
        "RFC 4578 §2.1 (arch 7, x64 UEFI)",
        UEFI,
        "an x64 UEFI client (arch 7) is given a boot file",
    ),
    c(
        "bootfile.per-arch",
        BootFile,
        Should,
        "RFC 4578 §2.1",
        UEFI,
        "BIOS and UEFI clients get different boot files",
    ),
    c(
        "bootfile.ipxe-no-chainload-loop",
        BootFile,
        Should,
        "RFC 3004 §2 (user class iPXE)",
        IPXE,
        "an iPXE client (user class iPXE, option 175) is not handed the iPXE binary again",
    ),
    c(
        "bootfile.exists",
        BootFile,
        Must,
        "RFC 1350 §4",
        BIOS,
        "the boot file the server names can be read over TFTP",
    ),
    // TFTP
    c(
        "tftp.rrq.answers",
        Tftp,
        Must,
        "RFC 1350 §4",
        BIOS,
        "a plain RRQ gets DATA block 1",
    ),
    c(
        "tftp.rrq.new-tid",
        Tftp,
        Must,
        "RFC 1350 §4",
        BIOS,
        "the server answers from a new port (its TID), not 69",
    ),
    c(
        "tftp.transfer.completes",
        Tftp,
        Must,
        "RFC 1350 §6",
        BIOS,
        "a plain transfer ends with a short block and delivers the whole file",
    ),
    c(
        "tftp.file-not-found",
        Tftp,
        Must,
        "RFC 1350 §5",
        BIOS,
        "an RRQ for a missing file gets ERROR 1",
    ),
    c(
        "tftp.traversal-denied",
        Tftp,
        Must,
        "RFC 1350 §5 and RFC 1123 §4.2.3.4",
        BIOS,
        "an RRQ naming ../ or an absolute path outside the root gets an ERROR, never DATA",
    ),
    c(
        "tftp.wrq-refused",
        Tftp,
        Should,
        "RFC 1123 §4.2.3.4",
        BIOS,
        "a boot server refuses writes with an ERROR (or ignores them)",
    ),
    c(
        "tftp.oack.only-requested",
        Tftp,
        Must,
        "RFC 2347 (Negotiation Protocol)",
        BIOS,
        "the OACK names only options the client asked for",
    ),
    c(
        "tftp.oack.unknown-option-ignored",
        Tftp,
        Must,
        "RFC 2347 (Negotiation Protocol)",
        BIOS,
        "an unknown option is left out of the OACK, not answered with an ERROR",
    ),
    c(
        "tftp.blksize.supported",
        Tftp,
        May,
        "RFC 2348",
        BIOS,
        "blksize is negotiated",
    ),
    c(
        "tftp.blksize.honoured",
        Tftp,
        Must,
        "RFC 2348",
        BIOS,
        "the granted blksize is 8..=requested and every DATA but the last is that size",
    ),
    c(
        "tftp.tsize.supported",
        Tftp,
        May,
        "RFC 2349 §5 (Transfer Size Option)",
        BIOS,
        "tsize is answered",
    ),
    c(
        "tftp.tsize.accurate",
        Tftp,
        Must,
        "RFC 2349 §5",
        BIOS,
        "the tsize in the OACK is the size of the file sent",
    ),
    c(
        "tftp.tsize-probe-abort",
        Tftp,
        Must,
        "RFC 2347 (ERROR 8 ends the transfer)",
        UEFI,
        "after a client's ERROR 8 on the OACK the session ends, and the next RRQ is served",
    ),
    c(
        "tftp.retransmit-on-lost-ack",
        Tftp,
        Must,
        "RFC 1350 §2 and RFC 1123 §4.2.3.2",
        BIOS,
        "when an ACK is lost the server sends the DATA again and the transfer completes",
    ),
    c(
        "tftp.no-sorcerers-apprentice",
        Tftp,
        Must,
        "RFC 1123 §4.2.3.1",
        BIOS,
        "a duplicated ACK does not make the server send the next block twice",
    ),
    c(
        "tftp.session-timeout",
        Tftp,
        Must,
        "RFC 1350 §2 and RFC 1123 §4.2.3.2",
        BIOS,
        "when the client vanishes mid-transfer the server gives up",
    ),
    c(
        "tftp.unknown-tid",
        Tftp,
        Should,
        "RFC 1350 §4",
        BIOS,
        "a packet from a wrong port gets ERROR 5 and the transfer carries on",
    ),
    c(
        "tftp.retransmitted-rrq-one-session",
        Tftp,
        May,
        "RFC 1350 §4 (one TID per request; a duplicate RRQ may start a second)",
        BIOS,
        "a retransmitted RRQ does not start a second session",
    ),
    c(
        "tftp.windowsize.supported",
        Tftp,
        May,
        "RFC 7440 §3",
        BIOS,
        "windowsize is negotiated",
    ),
    c(
        "tftp.windowsize.transfer",
        Tftp,
        Must,
        "RFC 7440 §4",
        BIOS,
        "with a negotiated window the file arrives whole",
    ),
    c(
        "tftp.rollover",
        Tftp,
        May,
        "RFC 1350 §6 (block numbers) with --large-file",
        BIOS,
        "a file of more than 65535 blocks transfers whole across the block number wrap",
    ),
    // Firmware boots
    c(
        "boot.pxe21-bios",
        Boot,
        Must,
        "PXE 2.1 §2.2",
        "pxe21-bios",
        "a PXE 2.1 BIOS ROM boots",
    ),
    c(
        "boot.edk2-uefi",
        Boot,
        Must,
        "PXE 2.1 §2.2 and RFC 4578 §2.1",
        "edk2-uefi",
        "an EDK2 UEFI client boots",
    ),
    c(
        "boot.ipxe",
        Boot,
        Should,
        "PXE 2.1 §2.2 and RFC 3004 §2",
        "ipxe",
        "an iPXE client boots without a chainload loop",
    ),
    c(
        "boot.legacy-rom",
        Boot,
        Should,
        "PXE 2.1 §2.2",
        "legacy-rom",
        "an older PXE ROM (blocks of at most 1456 bytes) boots",
    ),
    c(
        "boot.storm.all-boot",
        Boot,
        Must,
        "PXE 2.1 §2.2",
        "fleet",
        "every client of a boot storm (--clients N) boots",
    ),
    c(
        "boot.storm.unique-addresses",
        Boot,
        Must,
        "RFC 2131 §4.3.1",
        "fleet",
        "no two clients of the storm lease the same address",
    ),
    // Timing
    c(
        "timing.offer-latency",
        Timing,
        Should,
        "PXE 2.1 §2.2.1 (first DISCOVER waits 4 s)",
        "fleet",
        "offers arrive well within the client's first 4-second wait (p95 under 1 s)",
    ),
    c(
        "timing.tftp-first-reply",
        Timing,
        Should,
        "RFC 1123 §4.2.3.2",
        BIOS,
        "the first TFTP answer arrives within the client's first retransmission timeout (1 s)",
    ),
];

/// The check with this id.
pub fn find(id: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|c| c.id == id)
}

/// Whether `id` matches a glob (`*` any run of characters, `?` one).
pub fn glob_match(pattern: &str, id: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), id.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_there_are_at_least_forty() {
        let mut ids: Vec<_> = CHECKS.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CHECKS.len());
        assert!(CHECKS.len() >= 40);
    }

    #[test]
    fn globs_match_like_a_shell() {
        assert!(glob_match("tftp.*", "tftp.rollover"));
        assert!(glob_match("*xid", "dhcp.offer.echoes-xid"));
        assert!(!glob_match("dhcp.*", "tftp.rollover"));
        assert!(glob_match("dhcp.offer.echoes-?id", "dhcp.offer.echoes-xid"));
    }
}
