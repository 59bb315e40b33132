//! Catalogue quirks switched on by a server quirk or another scenario key
//! (not a fleet quirk), each run with and without it.

mod world_common;

use world_common::*;

fn header(link: &str) -> String {
    format!(
        r#"
name = "quirk"
summary = "one quirk, with and without"
duration_s = 300

[[segment]]
name = "lan"
subnet = "10.8.0.0/24"
link = {{ {link} }}
"#
    )
}

fn fleet_toml(name: &str, profile: &str, count: u32) -> String {
    format!(
        r#"
[[fleet]]
name = "{name}"
segment = "lan"
count = {count}
profile = "{profile}"
"#
    )
}

const PXELAB_PROXY: &str = r#"
[[server]]
name = "pxelab"
segment = "lan"
address = "10.8.0.10"
kind = "reference"
mode = "proxy"
"#;

#[test]
fn stray_option60_server_quirk_sends_uefi_to_a_silent_4011() {
    // Q4 (FOG docs PR #188): corp's offers carry option 60 PXEClient without
    // 43, so EDK2 classes them BINL and asks corp on 4011, where nobody
    // listens; without the stray option it takes pxelab's proxy path.
    let corp = |quirks: &str| {
        format!(
            r#"
[[server]]
name = "corp"
segment = "lan"
address = "10.8.0.3"
kind = "dhcp"
pool = "10.8.0.200-10.8.0.250"
quirks = [{quirks}]
"#
        )
    };
    let run = |quirks: &str| {
        run_toml(&format!(
            "{}{}{PXELAB_PROXY}{}",
            header(""),
            corp(quirks),
            fleet_toml("uefi", "edk2-uefi", 2)
        ))
    };
    let with = run("\"stray-option60\"");
    assert_eq!(fleet(&with, "uefi").booted, 0, "{}", text(&with));
    let without = run("");
    assert_all_booted_from(&without, "uefi", "pxelab");
}

#[test]
fn stp_link_delay_fails_ipxe_and_not_the_rom() {
    // Q6 (ipxe #1337): a 25-s spanning-tree hold. The PXE ROM's DISCOVER at
    // 28 s gets through; iPXE gives up after 15 s.
    let server = r#"
[[server]]
name = "pxelab"
segment = "lan"
address = "10.8.0.2"
kind = "reference"
pool = "10.8.0.100-10.8.0.199"
link = { link_up_delay_s = 0 }
boot = { boot_bios = "pxelinux.0" }

[[server.file]]
name = "pxelinux.0"
nbp = "loader"
size = 46000
"#;
    let run = |link: &str| {
        run_toml(&format!(
            "{}{server}{}{}",
            header(link),
            fleet_toml("rom", "pxe21-bios", 2),
            fleet_toml("ipxe", "ipxe", 2)
        ))
    };
    let with = run("link_up_delay_s = 25");
    assert_all_booted_from(&with, "rom", "pxelab");
    assert_eq!(fleet(&with, "ipxe").booted, 0, "{}", text(&with));
    let without = run("link_up_delay_s = 0");
    assert_all_booted_from(&without, "rom", "pxelab");
    assert_all_booted_from(&without, "ipxe", "pxelab");
}

#[test]
fn ipxe_chainload_loop_needs_a_server_without_an_ipxe_file() {
    // Q8 (ipxe #922): a dhcp-pxe server that hands iPXE undionly.kpxe again.
    let prod = |ipxe_file: &str| {
        format!(
            r#"
[[server]]
name = "prod"
segment = "lan"
address = "10.8.0.2"
kind = "dhcp-pxe"
pool = "10.8.0.100-10.8.0.199"
bios_file = "undionly.kpxe"
efi_file = "ipxe.efi"
{ipxe_file}

[[server.file]]
name = "undionly.kpxe"
nbp = "ipxe"
size = 70000

[[server.file]]
name = "ipxe.efi"
nbp = "ipxe"
size = 200000

[[server.file]]
name = "boot.ipxe"
nbp = "script"
size = 200
"#
        )
    };
    let run = |ipxe_file: &str| {
        run_toml(&format!(
            "{}{}{}",
            header(""),
            prod(ipxe_file),
            fleet_toml("bios", "pxe21-bios", 2)
        ))
    };
    let with = run("");
    assert_eq!(fleet(&with, "bios").looping, 2, "{}", text(&with));
    assert!(!findings(&with, "boot-loop").is_empty(), "{}", text(&with));
    let without = run("ipxe_file = \"boot.ipxe\"");
    assert_all_booted_from(&without, "bios", "prod");
    assert!(
        findings(&without, "boot-loop").is_empty(),
        "{}",
        text(&without)
    );
}

#[test]
fn ipxe_proxy_race_leaves_ipxe_without_boot_instructions() {
    // Q17 (pixiecore README, netboot #38): iPXE stops waiting for the
    // ProxyDHCP offer once it has a DHCP offer and its proxy wait is over.
    let corp = r#"
[[server]]
name = "corp"
segment = "lan"
address = "10.8.0.3"
kind = "dhcp"
pool = "10.8.0.200-10.8.0.250"
"#;
    let proxy = |delay_ms: u64| format!("{PXELAB_PROXY}respond_delay_ms = {delay_ms}\n");
    let run = |delay_ms: u64| {
        run_toml(&format!(
            "{}{corp}{}{}",
            header(""),
            proxy(delay_ms),
            fleet_toml("ipxe", "ipxe", 2)
        ))
    };
    let late = run(8000);
    assert_eq!(fleet(&late, "ipxe").booted, 0, "{}", text(&late));
    let prompt = run(0);
    assert_all_booted_from(&prompt, "ipxe", "pxelab");
}
