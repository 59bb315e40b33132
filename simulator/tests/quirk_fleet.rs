//! Every per-fleet quirk of the catalogue, run with and without it: the outcome
//! must differ the way its source describes (research §3).

mod world_common;

use world_common::*;

fn fleet_toml(name: &str, profile: &str, count: u32, quirk: Option<&str>) -> String {
    let quirks = quirk.map(|q| format!("\"{q}\"")).unwrap_or_default();
    format!(
        r#"
[[fleet]]
name = "{name}"
segment = "lan"
count = {count}
profile = "{profile}"
quirks = [{quirks}]
"#
    )
}

/// Two fleets of `profile` behind `servers`: `quirky` with `quirk`, `plain` without.
fn with_and_without(servers: &str, profile: &str, quirk: &str) -> pxelab_simulator::report::Report {
    let src = format!(
        "{HEADER}{servers}{}{}",
        fleet_toml("quirky", profile, 2, Some(quirk)),
        fleet_toml("plain", profile, 2, None)
    );
    run_toml(&src)
}

#[test]
fn rejects_proxy_pxe10_needs_the_binl_dialect() {
    // Q1: pxelab answers a BIOS-arch client with a ProxyPxe10 offer (43.6 = 8
    // and a file); a ROM that ignores those is left with corp's plain offer.
    let r = with_and_without(
        &format!("{CORP_DHCP}{PXELAB_PROXY}"),
        "pxe21-bios",
        "rejects-proxy-pxe10",
    );
    assert_all_booted_from(&r, "plain", "pxelab");
    assert_eq!(fleet(&r, "quirky").booted, 0, "{}", text(&r));
}

#[test]
fn edk2_bz469_fails_behind_a_pxe10_proxy_with_e53() {
    // Q2, the issue's own example: the ProxyPxe10 offer is never cached.
    let r = with_and_without(
        &format!("{CORP_DHCP}{PXELAB_PROXY}"),
        "pxe21-bios",
        "edk2-bz469",
    );
    assert_all_booted_from(&r, "plain", "pxelab");
    assert_all_failed_with(&r, "quirky", "PXE-E53");
}

#[test]
fn no_proxy_merge_never_asks_the_proxy_on_4011() {
    // Q3 (bootimus #77): EDK2 normally merges corp's address with pxelab's
    // proxy offer and asks pxelab on 4011; without the merge there is no 4011
    // traffic at all and no boot file.
    let src = format!(
        "{HEADER}{CORP_DHCP}{PXELAB_PROXY}{}",
        fleet_toml("quirky", "edk2-uefi", 2, Some("no-proxy-merge"))
    );
    let with = run_toml(&src);
    assert_eq!(fleet(&with, "quirky").booted, 0, "{}", text(&with));
    assert_eq!(answers(&with, "pxelab", "boot-ack"), 0, "{}", text(&with));
    let src = format!(
        "{HEADER}{CORP_DHCP}{PXELAB_PROXY}{}",
        fleet_toml("plain", "edk2-uefi", 2, None)
    );
    let without = run_toml(&src);
    assert_all_booted_from(&without, "plain", "pxelab");
    assert!(
        answers(&without, "pxelab", "boot-ack") >= 2,
        "{}",
        text(&without)
    );
}

#[test]
fn min_reply_latency_loses_instant_replies_and_a_respond_delay_cures_it() {
    // Q13: an instant server is never heard by this firmware…
    let fast = r#"
[[server]]
name = "pxelab"
segment = "lan"
address = "10.4.0.10"
kind = "reference"
pool = "10.4.0.100-10.4.0.150"
"#;
    let r = with_and_without(fast, "pxe21-bios", "min-reply-latency");
    assert_all_booted_from(&r, "plain", "pxelab");
    assert_all_failed_with(&r, "quirky", "PXE-E51");
    // …and dnsmasq's dhcp-reply-delay workaround makes it boot.
    let slow = format!("{fast}respond_delay_ms = 200\n");
    let r = with_and_without(&slow, "pxe21-bios", "min-reply-latency");
    assert_all_booted_from(&r, "quirky", "pxelab");
    assert_all_booted_from(&r, "plain", "pxelab");
}

#[test]
fn hw_client_vendor_class_is_not_answered_by_a_pxeclient_proxy() {
    // Q15: option 60 `HW-Client…` is not `PXEClient`, so the ProxyDHCP stays
    // silent and the client only has corp's plain offer.
    let alone = |quirk: Option<&str>| {
        run_toml(&format!(
            "{HEADER}{CORP_DHCP}{PXELAB_PROXY}{}",
            fleet_toml("f", "pxe21-bios", 2, quirk)
        ))
    };
    let with = alone(Some("hw-client-vendor-class"));
    assert_eq!(fleet(&with, "f").booted, 0, "{}", text(&with));
    assert_eq!(
        answers(&with, "pxelab", "proxy-offer"),
        0,
        "{}",
        text(&with)
    );
    let without = alone(None);
    assert_all_booted_from(&without, "f", "pxelab");
    assert!(
        answers(&without, "pxelab", "proxy-offer") > 0,
        "{}",
        text(&without)
    );
}

/// The `duplicate-uuid` finding of a run, if any.
fn uuid_finding(r: &pxelab_simulator::report::Report) -> bool {
    !findings(r, "duplicate-uuid").is_empty()
}

#[test]
fn zero_uuid_makes_every_machine_one_identity() {
    // Q7 / EDK2's SMBIOS fallback: three machines, one all-zero GUID.
    let run = |quirk: Option<&str>| {
        run_toml(&format!(
            "{HEADER}{CORP_DHCP}{PXELAB_PROXY}{}",
            fleet_toml("f", "edk2-uefi", 3, quirk)
        ))
    };
    let with = run(Some("zero-uuid"));
    assert!(uuid_finding(&with), "{}", text(&with));
    let without = run(None);
    assert!(!uuid_finding(&without), "{}", text(&without));
}

#[test]
fn no_uuid_sends_no_option_97_so_no_placeholder_is_seen() {
    // Q5: the placeholder SMBIOS UUID of these boards never reaches a server
    // when the NIC omits option 97.
    let run = |quirk: Option<&str>| {
        run_toml(&format!(
            "{HEADER}{CORP_DHCP}{PXELAB_PROXY}{}uuid = \"zero\"\n",
            fleet_toml("f", "pxe21-bios", 3, quirk)
        ))
    };
    let with = run(Some("no-uuid"));
    assert!(!uuid_finding(&with), "{}", text(&with));
    let without = run(None);
    assert!(uuid_finding(&without), "{}", text(&without));
}

#[test]
fn wrong_arch_option93_gets_the_bios_file() {
    // Q16: a UEFI machine announcing arch 0 is handed the BIOS boot file by a
    // server that picks the file by option 93.
    let prod = r#"
[[server]]
name = "prod"
segment = "lan"
address = "10.4.0.2"
kind = "dhcp-pxe"
pool = "10.4.0.160-10.4.0.190"
bios_file = "prod.0"
efi_file = "prod.efi"

[[server.file]]
name = "prod.0"
nbp = "loader"
size = 20000

[[server.file]]
name = "prod.efi"
nbp = "loader"
size = 20000
"#;
    let r = with_and_without(prod, "edk2-uefi", "wrong-arch-option93");
    assert_eq!(
        fleet(&r, "plain").booted_files.get("prod.efi"),
        Some(&2),
        "{}",
        text(&r)
    );
    assert_eq!(
        fleet(&r, "quirky").booted_files.get("prod.0"),
        Some(&2),
        "{}",
        text(&r)
    );
}

#[test]
fn no_block_rollover_stalls_on_a_file_past_65535_blocks() {
    // Q30: pxe21-bios asks blksize 1456, so this file needs 65,935 blocks:
    // the block after 65535 never counts for a client without rollover.
    let prod = r#"
[[server]]
name = "prod"
segment = "lan"
address = "10.4.0.2"
kind = "dhcp-pxe"
pool = "10.4.0.160-10.4.0.190"
bios_file = "big.0"
efi_file = "big.0"

[[server.file]]
name = "big.0"
nbp = "loader"
size = 96000000
"#;
    let src = format!(
        "{HEADER}{prod}{}{}",
        fleet_toml("quirky", "pxe21-bios", 1, Some("no-block-rollover")),
        fleet_toml("plain", "pxe21-bios", 1, None)
    );
    let r = run_toml(&src);
    assert_all_booted_from(&r, "plain", "prod");
    assert_all_failed_with(&r, "quirky", "PXE-E35");
}
