//! A scenario a user gets wrong is refused with the file, line and column, the
//! field path, what is wrong and, where there is one, the likely intended value.

use pxelab_simulator::scenario::{Scenario, ScenarioError};

/// A valid scenario; the line numbers in the cases below refer to it.
const BASE: &str = r#"name = "t"
summary = "s"
duration_s = 300

[[segment]]
name = "office"
subnet = "10.10.0.0/24"

[[segment]]
name = "lab"
subnet = "10.20.0.0/24"

[[server]]
name = "prod"
segment = "office"
address = "10.10.0.2"
kind = "dhcp-pxe"
pool = "10.10.0.100-10.10.0.199"
bios_file = "undionly.kpxe"
efi_file = "ipxe.efi"

[[fleet]]
name = "a"
segment = "office"
count = 12
profile = "pxe21-bios"
"#;

fn edit(from: &str, to: &str) -> String {
    assert!(
        BASE.contains(from),
        "case edits a line the base lacks: {from}"
    );
    BASE.replacen(from, to, 1)
}

fn append(more: &str) -> String {
    format!("{BASE}{more}")
}

fn err(src: &str) -> ScenarioError {
    match Scenario::from_toml(src, "t.toml") {
        Ok(_) => panic!("accepted:\n{src}"),
        Err(e) => e,
    }
}

#[test]
fn base_is_valid() {
    let s = Scenario::from_toml(BASE, "t.toml").expect("base parses");
    assert_eq!(s.fleets[0].count, 12);
}

#[test]
fn bad_inputs_name_field_line_and_fix() {
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "typo'd field",
            edit("count = 12", "cout = 12"),
            "t.toml:25:1: fleet[0]: unknown field `cout`, expected one of `name`, `segment`, `count`, `profile`, `quirks`, `mac_prefix`, `uuid`, `power_on_s`, `power_on_spread_s`, `post_s`, `link`, `deployment`, `registered`, `share_access`, `boot_order`, `bootworks`, `disk_gib`, `os`, `os_boot_s`, `reboot_s`, `bootworks_boot_s`; did you mean `count`?",
        ),
        (
            "wrong type",
            edit("count = 12", "count = \"twelve\""),
            "t.toml:25:9: fleet[0].count: invalid type: string \"twelve\", expected u32",
        ),
        (
            "bad enum value",
            edit("kind = \"dhcp-pxe\"", "kind = \"dhcp_pxe\""),
            "t.toml:17:8: server[0].kind: unknown variant `dhcp_pxe`, expected one of `reference`, `dhcp`, `dhcp-pxe`, `rogue`; did you mean `dhcp-pxe`?",
        ),
        (
            "missing required field",
            edit("kind = \"dhcp-pxe\"\n", ""),
            "t.toml:13:1: server[0]: missing field `kind`",
        ),
        (
            "unknown segment",
            edit("segment = \"office\"\ncount", "segment = \"ofice\"\ncount"),
            "t.toml:24:11: fleet[0].segment = \"ofice\": no such segment (segments: office, lab); did you mean \"office\"?",
        ),
        (
            "address outside the subnet",
            edit("address = \"10.10.0.2\"", "address = \"10.20.0.2\""),
            "t.toml:16:11: server[0].address = 10.20.0.2: outside the subnet of segment \"office\" (10.10.0.0/24); use a host address such as 10.10.0.2",
        ),
        (
            "broadcast address",
            edit("address = \"10.10.0.2\"", "address = \"10.10.0.255\""),
            "t.toml:16:11: server[0].address = 10.10.0.255: the network or broadcast address of segment \"office\" (10.10.0.0/24); use a host address such as 10.10.0.2",
        ),
        (
            "subnet with host bits",
            edit("subnet = \"10.20.0.0/24\"", "subnet = \"10.20.0.1/24\""),
            "t.toml:11:10: segment[1].subnet = \"10.20.0.1/24\": host bits are set; did you mean \"10.20.0.0/24\"?",
        ),
        (
            "pool outside the subnet",
            edit(
                "pool = \"10.10.0.100-10.10.0.199\"",
                "pool = \"10.10.0.100-10.10.1.20\"",
            ),
            "t.toml:18:8: server[0].pool = \"10.10.0.100-10.10.1.20\": 10.10.1.20 is not a host address of 10.10.0.0/24",
        ),
        (
            "pool over the server's address",
            edit(
                "pool = \"10.10.0.100-10.10.0.199\"",
                "pool = \"10.10.0.1-10.10.0.99\"",
            ),
            "t.toml:18:8: server[0].pool = \"10.10.0.1-10.10.0.99\": contains the server's own address 10.10.0.2; it would lease it to a client",
        ),
        (
            "key of another kind",
            edit("bios_file", "mode = \"proxy\"\nbios_file"),
            "t.toml:19:8: server[0].mode: mode applies to kind reference only, and this server is kind = \"dhcp-pxe\"",
        ),
        (
            "dhcp-pxe without its boot file",
            edit("bios_file = \"undionly.kpxe\"\n", ""),
            "t.toml:17:8: server[0].bios_file: missing: kind = \"dhcp-pxe\" needs bios_file, e.g. bios_file = \"undionly.kpxe\"",
        ),
        (
            "proxy mode with a pool",
            edit(
                "kind = \"dhcp-pxe\"\npool = \"10.10.0.100-10.10.0.199\"\nbios_file = \"undionly.kpxe\"\nefi_file = \"ipxe.efi\"",
                "kind = \"reference\"\nmode = \"proxy\"\npool = \"10.10.0.100-10.10.0.199\"",
            ),
            "t.toml:19:8: server[0].pool: a proxy-mode server leases no addresses (PXE 2.1 ProxyDHCP); remove pool, or set mode = \"full\"",
        ),
        (
            "full mode without a pool",
            edit(
                "kind = \"dhcp-pxe\"\npool = \"10.10.0.100-10.10.0.199\"\nbios_file = \"undionly.kpxe\"\nefi_file = \"ipxe.efi\"",
                "kind = \"reference\"",
            ),
            "t.toml:17:8: server[0].pool: missing: a full-mode reference server needs an address pool, e.g. pool = \"10.10.0.128-10.10.0.254\"",
        ),
        (
            "duplicate name",
            append(
                "\n[[fleet]]\nname = \"prod\"\nsegment = \"lab\"\ncount = 1\nprofile = \"ipxe\"\n",
            ),
            "t.toml:29:8: fleet[1].name = \"prod\": already the name of server[0] (line 14); servers and fleets share one set of names",
        ),
        (
            "duplicate segment",
            edit("name = \"lab\"", "name = \"office\""),
            "t.toml:10:8: segment[1].name = \"office\": already the name of segment[0] (line 6)",
        ),
        (
            "bad profile, with suggestion",
            edit("profile = \"pxe21-bios\"", "profile = \"pxe21bios\""),
            "t.toml:26:11: fleet[0].profile = \"pxe21bios\": no such firmware profile (profiles: pxe21-bios, edk2-uefi, ipxe, legacy-rom); did you mean \"pxe21-bios\"?",
        ),
        (
            "bad quirk, with suggestion",
            append("quirks = [\"no-uuid\", \"edk2-bz496\"]\n"),
            "t.toml:27:22: fleet[0].quirks[1] = \"edk2-bz496\": no such quirk (quirks: edk2-bz469, no-uuid, zero-uuid, rejects-proxy-pxe10); did you mean \"edk2-bz469\"?",
        ),
        (
            "count too large for the mac_prefix",
            edit("count = 12", "count = 70000\nmac_prefix = \"52:54:00:10\""),
            "t.toml:25:9: fleet[0].count = 70000: the MAC prefix 52:54:00:10 leaves 2 byte(s) for the client index, room for 65536 clients; use a shorter mac_prefix",
        ),
        (
            "count too large for the default prefix",
            edit("count = 12", "count = 65537"),
            "t.toml:25:9: fleet[0].count = 65537: the MAC prefix 52:54:00:00 leaves 2 byte(s) for the client index, room for 65536 clients; give a shorter mac_prefix such as \"52:54\"",
        ),
        (
            "multicast mac_prefix",
            append("mac_prefix = \"01:00:5e\"\n"),
            "t.toml:27:14: fleet[0].mac_prefix = \"01:00:5e\": the first byte is odd, which makes every MAC multicast; clients need unicast MACs (e.g. \"52:54:00:10\")",
        ),
        (
            "fleets sharing MACs",
            append(
                "mac_prefix = \"52:54:00:10\"\n\n[[fleet]]\nname = \"b\"\nsegment = \"lab\"\ncount = 1\nprofile = \"ipxe\"\nmac_prefix = \"52:54:00:10\"\n",
            ),
            "t.toml:34:14: fleet[1].mac_prefix: MACs 52:54:00:10:00:00..52:54:00:10:00:00 overlap those of fleet \"a\" (52:54:00:10:00:00..52:54:00:10:00:0b); give one of them another mac_prefix",
        ),
        (
            "fault after the run",
            append("\n[[fault]]\nat_s = 300\nkind = \"server-down\"\ntarget = \"prod\"\n"),
            "t.toml:29:8: fault[0].at_s = 300: not before the end of the run (duration_s = 300); it would never happen",
        ),
        (
            "fault on a fleet where a server is needed",
            append("\n[[fault]]\nat_s = 30\nkind = \"server-down\"\ntarget = \"a\"\n"),
            "t.toml:31:10: fault[0].target = \"a\": no such server (that is a fleet) (servers: prod)",
        ),
        (
            "bad booted count string",
            append("\n[[expect]]\nfleet = \"a\"\nbooted = \"most\"\n"),
            "t.toml:30:10: expect[0].booted = \"most\": expected \"all\", \"none\", a number N, \">=N\" or \"<=N\"",
        ),
        (
            "booted count larger than the fleet",
            append("\n[[expect]]\nfleet = \"a\"\nbooted = \">=13\"\n"),
            "t.toml:30:10: expect[0].booted = \">=13\": can never hold, fleet \"a\" has 12 client(s)",
        ),
        (
            "expect naming an unknown server",
            append("\n[[expect]]\nfleet = \"a\"\nbooted_from = \"prd\"\n"),
            "t.toml:30:15: expect[0].booted_from = \"prd\": no such server (servers: prod); did you mean \"prod\"?",
        ),
        (
            "expect naming an unknown fleet",
            append("\n[[expect]]\nfleet = \"lab\"\nbooted = \"all\"\n"),
            "t.toml:29:9: expect[0].fleet = \"lab\": no such fleet (fleets: a)",
        ),
        (
            "expect about a fleet and a finding",
            append("\n[[expect]]\nfleet = \"a\"\nfinding = \"boot-loop\"\n"),
            "t.toml:30:11: expect[0].finding: an [[expect]] is about a fleet or a finding, not both; split it in two",
        ),
        (
            "bad error code",
            append("\n[[expect]]\nfleet = \"a\"\nerror = \"E51\"\n"),
            "t.toml:30:9: expect[0].error = \"E51\": not an error a client shows (known: PXE-E11, PXE-E32, PXE-E35, PXE-E3B, PXE-E36, PXE-E3F, PXE-E51, PXE-E52, PXE-E53, PXE-E55, PXE-E74, PXE-E77, PXE-E78, iPXE-no-config, iPXE-nothing-to-boot, iPXE-could-not-boot)",
        ),
        (
            "duration out of range",
            edit("duration_s = 300", "duration_s = 0"),
            "t.toml:3:14: duration_s = 0: must be > 0 and <= 86400 (one day)",
        ),
        (
            "loss above 1",
            edit(
                "subnet = \"10.20.0.0/24\"",
                "subnet = \"10.20.0.0/24\"\nlink = { loss = 5 }",
            ),
            "t.toml:12:17: segment[1].link.loss = 5: a probability from 0.0 to 1.0 (0.01 = 1 % of frames lost)",
        ),
        (
            "link delay range backwards",
            edit(
                "subnet = \"10.20.0.0/24\"",
                "subnet = \"10.20.0.0/24\"\nlink = { link_up_delay_s = [50, 30] }",
            ),
            "t.toml:12:28: segment[1].link.link_up_delay_s = [50, 30]: a range [lo, hi] of seconds with 0 <= lo <= hi <= 86400",
        ),
        (
            "bad MAC in ignore",
            edit(
                "efi_file = \"ipxe.efi\"",
                "efi_file = \"ipxe.efi\"\nignore = [\"52:54:00:zz:00:01\"]",
            ),
            "t.toml:21:11: server[0].ignore[0]: invalid MAC address \"52:54:00:zz:00:01\": expected six hex pairs such as 52:54:00:12:34:56",
        ),
        (
            "bad MAC inside the reference server's dhcp table",
            edit(
                "kind = \"dhcp-pxe\"\npool = \"10.10.0.100-10.10.0.199\"\nbios_file = \"undionly.kpxe\"\nefi_file = \"ipxe.efi\"",
                "kind = \"reference\"\npool = \"10.10.0.100-10.10.0.199\"\ndhcp = { deny = [\"52:54\"] }",
            ),
            "t.toml:19:17: server[0].dhcp.deny: invalid MAC address \"52:54\": expected six hex pairs such as 52:54:00:12:34:56",
        ),
        (
            "reservation outside the subnet",
            edit(
                "kind = \"dhcp-pxe\"\npool = \"10.10.0.100-10.10.0.199\"\nbios_file = \"undionly.kpxe\"\nefi_file = \"ipxe.efi\"",
                "kind = \"reference\"\npool = \"10.10.0.100-10.10.0.199\"\n[[server.dhcp.reservations]]\nmac = \"52:54:00:00:00:01\"\nip = \"10.20.0.50\"",
            ),
            "t.toml:19:10: server[0].dhcp.reservations[0].ip = 10.20.0.50: not a host address of 10.10.0.0/24",
        ),
        ("syntax error", edit("count = 12", "count = [12"), ""),
    ];
    let mut failures = Vec::new();
    for (what, src, want) in &cases {
        let got = err(src).to_string();
        if want.is_empty() {
            // Only the position is pinned for syntax errors (the parser's wording may change).
            // The unclosed array is noticed where the next line begins.
            if !got.starts_with("t.toml:26:1: ") {
                failures.push(format!("{what}:\n  got  {got}\n  want t.toml:26:1: ..."));
            }
        } else if &got != want {
            failures.push(format!("{what}:\n  got  {got}\n  want {want}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn semantic_errors_carry_the_field_path() {
    let e = err(&edit(
        "segment = \"office\"\ncount",
        "segment = \"ofice\"\ncount",
    ));
    assert_eq!(e.field.as_deref(), Some("fleet[0].segment"));
    assert_eq!((e.line, e.column), (24, 11));
    assert_eq!(e.origin, "t.toml");
}

#[test]
fn a_scenario_needs_a_segment_and_a_fleet() {
    let e = err("name = \"t\"\nsummary = \"s\"\n");
    assert!(e.message.contains("at least one"), "{e}");
    let only_segment =
        "name = \"t\"\nsummary = \"s\"\n[[segment]]\nname = \"x\"\nsubnet = \"10.0.0.0/24\"\n";
    let e = err(only_segment);
    assert!(e.message.contains("no [[fleet]]"), "{e}");
}
