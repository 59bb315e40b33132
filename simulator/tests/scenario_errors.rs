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
            "t.toml:27:22: fleet[0].quirks[1] = \"edk2-bz496\": no such quirk (quirks: edk2-bz469, no-uuid, zero-uuid, rejects-proxy-pxe10, no-proxy-merge, min-reply-latency, hw-client-vendor-class, wrong-arch-option93, no-block-rollover); did you mean \"edk2-bz469\"?",
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

/// A valid scenario with a Deployment Server; the line numbers in the
/// deployment cases refer to it.
const DEPLOY_BASE: &str = r#"name = "d"
summary = "s"

[[segment]]
name = "lab"
subnet = "10.20.0.0/24"

[[server]]
name = "ds-host"
segment = "lab"
address = "10.20.0.5"
kind = "reference"
pool = "10.20.0.100-10.20.0.199"

[[deployment]]
name = "lab-ds"
server = "ds-host"

[[deployment.image]]
name = "xp-sysprep"
size_mib = 2048

[[deployment.job]]
fleet = "wks"
kind = "deploy-image"
image = "xp-sysprep"

[[fleet]]
name = "wks"
segment = "lab"
count = 4
profile = "pxe21-bios"
deployment = "lab-ds"

[[fleet]]
name = "plain"
segment = "lab"
count = 2
profile = "ipxe"
"#;

fn deploy_edit(from: &str, to: &str) -> String {
    assert!(
        DEPLOY_BASE.contains(from),
        "case edits a line the base lacks: {from}"
    );
    DEPLOY_BASE.replacen(from, to, 1)
}

fn deploy_append(more: &str) -> String {
    format!("{DEPLOY_BASE}{more}")
}

#[test]
fn deploy_base_is_valid() {
    let s = Scenario::from_toml(DEPLOY_BASE, "t.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.deployments[0].jobs.len(), 1);
}

/// Every refusal of the deployment plane, with its key path and line.
#[test]
fn deployment_errors_name_field_line_and_fix() {
    let job =
        "[[deployment.job]]\nfleet = \"wks\"\nkind = \"deploy-image\"\nimage = \"xp-sysprep\"\n";
    let with_job = |j: &str| deploy_edit(job, j);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "typo'd deployment key",
            deploy_edit("server = \"ds-host\"\n", "server = \"ds-host\"\nmode = \"legacy\"\ntrust_uid = true\n"),
            "t.toml:19:1: deployment[0]: unknown field `trust_uid`, expected one of `name`, `server`, `mode`, `trust_uuid`, `max_attempts`, `transfer`, `multicast`, `initial_deployment`, `image`, `job`; did you mean `trust_uuid`?",
        ),
        (
            "wrong type in an image",
            deploy_edit("size_mib = 2048", "size_mib = \"2 GiB\""),
            "t.toml:21:12: deployment[0].image[0].size_mib: invalid type: string \"2 GiB\", expected f64",
        ),
        (
            "bad deployment mode, with suggestion",
            deploy_edit("server = \"ds-host\"\n", "server = \"ds-host\"\nmode = \"legacey\"\n"),
            "t.toml:18:8: deployment[0].mode: unknown variant `legacey`, expected `reference` or `legacy`; did you mean `legacy`?",
        ),
        (
            "duplicate deployment name",
            deploy_append("\n[[deployment]]\nname = \"lab-ds\"\nserver = \"ds-host\"\n"),
            "t.toml:42:8: deployment[1].name = \"lab-ds\": already the name of deployment[0] (line 16)",
        ),
        (
            "unknown server, with suggestion",
            deploy_edit("server = \"ds-host\"", "server = \"ds-hots\""),
            "t.toml:17:10: deployment[0].server = \"ds-hots\": no such server (servers: ds-host); did you mean \"ds-host\"?",
        ),
        (
            "deployment on a fleet",
            deploy_edit("server = \"ds-host\"", "server = \"wks\""),
            "t.toml:17:10: deployment[0].server = \"wks\": no such server (that is a fleet) (servers: ds-host)",
        ),
        (
            "duplicate image",
            deploy_edit(
                "size_mib = 2048\n",
                "size_mib = 2048\n\n[[deployment.image]]\nname = \"xp-sysprep\"\nsize_mib = 1\n",
            ),
            "t.toml:24:8: deployment[0].image[1].name = \"xp-sysprep\": already an image of this deployment (line 20)",
        ),
        (
            "image size zero",
            deploy_edit("size_mib = 2048", "size_mib = 0"),
            "t.toml:21:12: deployment[0].image[0].size_mib = 0: MiB, > 0 and <= 1048576 (1 TiB); fractions are fine (0.5 is 512 KiB)",
        ),
        (
            "image size above 1 TiB",
            deploy_edit("size_mib = 2048", "size_mib = 1048577"),
            "t.toml:21:12: deployment[0].image[0].size_mib = 1048577: MiB, > 0 and <= 1048576 (1 TiB); fractions are fine (0.5 is 512 KiB)",
        ),
        (
            "job on an unknown fleet, with suggestion",
            deploy_edit("fleet = \"wks\"", "fleet = \"wkss\""),
            "t.toml:24:9: deployment[0].job[0].fleet = \"wkss\": no such fleet (fleets: wks, plain); did you mean \"wks\"?",
        ),
        (
            "job on an unmanaged fleet",
            deploy_edit("fleet = \"wks\"", "fleet = \"plain\""),
            "t.toml:24:9: deployment[0].job[0].fleet = \"plain\": that fleet has no deployment key, so it runs no agent; set deployment = \"lab-ds\" on the fleet, or schedule the job on the deployment it uses",
        ),
        (
            "job on a fleet of another deployment",
            deploy_append("\n[[deployment]]\nname = \"other\"\nserver = \"ds-host\"\n[[deployment.job]]\nfleet = \"wks\"\nkind = \"boot-to-production\"\n"),
            "t.toml:45:9: deployment[1].job[0].fleet = \"wks\": that fleet uses deployment \"lab-ds\", so its agents never talk to this one; set deployment = \"other\" on the fleet, or schedule the job on the deployment it uses",
        ),
        (
            "deploy-image without image",
            deploy_edit("image = \"xp-sysprep\"\n\n[[fleet]]", "\n[[fleet]]"),
            "t.toml:25:8: deployment[0].job[0].image: missing: kind = \"deploy-image\" needs image, e.g. image = \"xp-sysprep\"",
        ),
        (
            "deploy-image of an unknown image, with suggestion",
            deploy_edit("image = \"xp-sysprep\"\n\n", "image = \"xp-sysprpe\"\n\n"),
            "t.toml:26:9: deployment[0].job[0].image = \"xp-sysprpe\": no such image in deployment \"lab-ds\" (images: xp-sysprep); did you mean \"xp-sysprep\"?",
        ),
        (
            "capture-image into an existing name",
            with_job("[[deployment.job]]\nfleet = \"wks\"\nkind = \"capture-image\"\nimage = \"xp-sysprep\"\n"),
            "t.toml:26:9: deployment[0].job[0].image = \"xp-sysprep\": already in the store (line 20); a capture makes a new image, give it a name the store lacks",
        ),
        (
            "scripted-install without os",
            with_job("[[deployment.job]]\nfleet = \"wks\"\nkind = \"scripted-install\"\n"),
            "t.toml:25:8: deployment[0].job[0].os: missing: kind = \"scripted-install\" needs os, e.g. os = \"Windows XP SP2\"",
        ),
        (
            "run-script without script",
            with_job("[[deployment.job]]\nfleet = \"wks\"\nkind = \"run-script\"\n"),
            "t.toml:25:8: deployment[0].job[0].script: missing: kind = \"run-script\" needs script, e.g. script = \"ipconfig /all\"",
        ),
        (
            "os on a deploy-image job",
            with_job("[[deployment.job]]\nfleet = \"wks\"\nkind = \"deploy-image\"\nimage = \"xp-sysprep\"\nos = \"Windows XP SP2\"\n"),
            "t.toml:27:6: deployment[0].job[0].os: os applies to kind scripted-install only, and kind = \"deploy-image\" here",
        ),
        (
            "image on a boot-to-production job",
            with_job("[[deployment.job]]\nfleet = \"wks\"\nkind = \"boot-to-production\"\nimage = \"xp-sysprep\"\n"),
            "t.toml:26:9: deployment[0].job[0].image: image applies to kind deploy-image, capture-image only, and kind = \"boot-to-production\" here",
        ),
        (
            "script on a run-script's neighbour kind",
            with_job("[[deployment.job]]\nfleet = \"wks\"\nkind = \"scripted-install\"\nos = \"Windows XP SP2\"\nscript = \"x\"\n"),
            "t.toml:27:10: deployment[0].job[0].script: script applies to kind run-script only, and kind = \"scripted-install\" here",
        ),
        (
            "bad job kind, with suggestion",
            deploy_edit("kind = \"deploy-image\"", "kind = \"deploy_image\""),
            "t.toml:25:8: deployment[0].job[0].kind: unknown variant `deploy_image`, expected one of `deploy-image`, `capture-image`, `scripted-install`, `run-script`, `boot-to-production`; did you mean `deploy-image`?",
        ),
        (
            "initial deployment of an unknown image",
            deploy_edit("server = \"ds-host\"\n", "server = \"ds-host\"\ninitial_deployment = { kind = \"deploy-image\", image = \"xp\" }\n"),
            "t.toml:18:55: deployment[0].initial_deployment.image = \"xp\": no such image in deployment \"lab-ds\" (images: xp-sysprep)",
        ),
        (
            "initial deployment without its argument",
            deploy_edit("server = \"ds-host\"\n", "server = \"ds-host\"\ninitial_deployment = { kind = \"scripted-install\" }\n"),
            "t.toml:18:31: deployment[0].initial_deployment.os: missing: kind = \"scripted-install\" needs os, e.g. os = \"Windows XP SP2\"",
        ),
        (
            "initial deployment with a fleet",
            deploy_edit("server = \"ds-host\"\n", "server = \"ds-host\"\ninitial_deployment = { kind = \"boot-to-production\", fleet = \"wks\" }\n"),
            "t.toml:18:53: deployment[0].initial_deployment: unknown field `fleet`, expected one of `kind`, `image`, `os`, `script`",
        ),
        (
            "initial deployment capturing into an existing name",
            deploy_edit("server = \"ds-host\"\n", "server = \"ds-host\"\ninitial_deployment = { kind = \"capture-image\", image = \"xp-sysprep\" }\n"),
            "t.toml:18:56: deployment[0].initial_deployment.image = \"xp-sysprep\": already in the store (line 21); a capture makes a new image, give it a name the store lacks",
        ),
        (
            "trust_uuid on a reference deployment",
            deploy_edit("server = \"ds-host\"\n", "server = \"ds-host\"\ntrust_uuid = true\n"),
            "t.toml:18:14: deployment[0].trust_uuid: applies to mode = \"legacy\" only (Deployment Server 6.x matched computers by SMBIOS UUID), and this deployment is mode = \"reference\"",
        ),
        (
            "max_attempts on a legacy deployment",
            deploy_edit("server = \"ds-host\"\n", "server = \"ds-host\"\nmode = \"legacy\"\nmax_attempts = 3\n"),
            "t.toml:19:16: deployment[0].max_attempts: applies to mode = \"reference\" only, and this deployment is mode = \"legacy\"",
        ),
        (
            "max_attempts out of range",
            deploy_edit("server = \"ds-host\"\n", "server = \"ds-host\"\nmax_attempts = 0\n"),
            "t.toml:18:16: deployment[0].max_attempts = 0: from 1 to 100",
        ),
        (
            "multicast table with unicast",
            deploy_edit("server = \"ds-host\"\n", "server = \"ds-host\"\nmulticast = { min_receivers = 2 }\n"),
            "t.toml:18:13: deployment[0].multicast: applies to transfer = \"multicast\" only, and this deployment's transfer is \"unicast\"",
        ),
        (
            "multicast with no receivers",
            deploy_edit("server = \"ds-host\"\n", "server = \"ds-host\"\ntransfer = \"multicast\"\nmulticast = { min_receivers = 0 }\n"),
            "t.toml:19:31: deployment[0].multicast.min_receivers = 0: at least 1 receiver",
        ),
        (
            "multicast that never waits",
            deploy_edit("server = \"ds-host\"\n", "server = \"ds-host\"\ntransfer = \"multicast\"\nmulticast = { max_wait_s = 0 }\n"),
            "t.toml:19:28: deployment[0].multicast.max_wait_s = 0: seconds, > 0 and <= 86400",
        ),
        (
            "machine key without deployment",
            deploy_append("os = \"Windows XP SP2\"\nregistered = false\n"),
            "t.toml:40:6: fleet[1].os: describes a managed machine, which needs deployment = \"NAME\" on this fleet (deployments: lab-ds)",
        ),
        (
            "fleet on an unknown deployment, with suggestion",
            deploy_edit("deployment = \"lab-ds\"", "deployment = \"lab-sd\""),
            "t.toml:33:14: fleet[0].deployment = \"lab-sd\": no such deployment (deployments: lab-ds); did you mean \"lab-ds\"?",
        ),
        (
            "disk too large",
            deploy_edit("deployment = \"lab-ds\"", "deployment = \"lab-ds\"\ndisk_gib = 16385"),
            "t.toml:34:12: fleet[0].disk_gib = 16385: GiB, > 0 (at least one 512-byte sector) and <= 16384 (16 TiB)",
        ),
        (
            "image larger than the disk",
            deploy_edit("deployment = \"lab-ds\"", "deployment = \"lab-ds\"\ndisk_gib = 2"),
            "t.toml:26:9: deployment[0].job[0].image = \"xp-sysprep\": the image is 2048 MiB, and fleet \"wks\"'s disk of 2 GiB leaves 1920 MiB for it (128 MiB go to the hidden partition and alignment); give the fleet a larger disk_gib",
        ),
        (
            "initial deployment larger than an unknown machine's disk",
            deploy_edit(
                "server = \"ds-host\"\n",
                "server = \"ds-host\"\ninitial_deployment = { kind = \"deploy-image\", image = \"xp-sysprep\" }\n",
            )
            .replace("deployment = \"lab-ds\"", "deployment = \"lab-ds\"\nregistered = false\ndisk_gib = 2")
            .replace(job, ""),
            "t.toml:18:55: deployment[0].initial_deployment.image = \"xp-sysprep\": the image is 2048 MiB, and fleet \"wks\"'s disk of 2 GiB leaves 1920 MiB for it (128 MiB go to the hidden partition and alignment); give the fleet a larger disk_gib",
        ),
        (
            "negative reboot time",
            deploy_edit("deployment = \"lab-ds\"", "deployment = \"lab-ds\"\nreboot_s = -1"),
            "t.toml:34:12: fleet[0].reboot_s = -1: seconds, >= 0",
        ),
        (
            "bad boot_order, with suggestion",
            deploy_edit("deployment = \"lab-ds\"", "deployment = \"lab-ds\"\nboot_order = \"netwrok\""),
            "t.toml:34:14: fleet[0].boot_order: unknown variant `netwrok`, expected `network` or `disk`; did you mean `network`?",
        ),
        (
            "deployment count on an unmanaged fleet",
            deploy_append("\n[[expect]]\nfleet = \"plain\"\nimaged = \"all\"\n"),
            "t.toml:43:10: expect[0].imaged: counts managed machines, and fleet \"plain\" has no deployment key (it runs no agent)",
        ),
        (
            "deployment count larger than the fleet",
            deploy_append("\n[[expect]]\nfleet = \"wks\"\njobs_succeeded = 5\n"),
            "t.toml:43:18: expect[0].jobs_succeeded = 5: can never hold, fleet \"wks\" has 4 client(s)",
        ),
        (
            "looping larger than the fleet",
            deploy_append("\n[[expect]]\nfleet = \"plain\"\nlooping = \">=3\"\n"),
            "t.toml:43:11: expect[0].looping = \">=3\": can never hold, fleet \"plain\" has 2 client(s)",
        ),
        (
            "deployment count on a finding",
            deploy_append("\n[[expect]]\nfinding = \"job-refused\"\njobs_refused = 1\n"),
            "t.toml:43:16: expect[0].jobs_refused: goes with fleet = \"...\", not with finding",
        ),
        (
            "bad finding, with suggestion",
            deploy_append("\n[[expect]]\nfinding = \"job-refuse\"\n"),
            "t.toml:42:11: expect[0].finding: unknown variant `job-refuse`, expected one of `boot-loop`, `competing-pxe-servers`, `competing-dhcp-servers`, `duplicate-uuid`, `job-refused`, `wrong-computer`; did you mean `job-refused`?",
        ),
    ];
    let mut failures = Vec::new();
    for (what, src, want) in &cases {
        let got = err(src).to_string();
        if &got != want {
            failures.push(format!("{what}:\n  got  {got}\n  want {want}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn deployment_errors_carry_the_field_path() {
    let e = err(&deploy_edit(
        "image = \"xp-sysprep\"\n\n",
        "image = \"xp-sysprpe\"\n\n",
    ));
    assert_eq!(e.field.as_deref(), Some("deployment[0].job[0].image"));
    assert_eq!((e.line, e.column), (26, 9));
    let e = err(&deploy_append("disk_gib = 80\n"));
    assert_eq!(e.field.as_deref(), Some("fleet[1].disk_gib"));
    assert_eq!(e.line, 40);
}

#[test]
fn an_expectation_about_a_managed_fleet_must_expect_something() {
    let e = err(&deploy_append("\n[[expect]]\nfleet = \"wks\"\n"));
    assert_eq!(
        e.to_string(),
        "t.toml:42:9: expect[0]: expects nothing about the fleet; add booted, booted_from, error, looping, jobs_succeeded, jobs_failed, jobs_refused, imaged or registered"
    );
}
