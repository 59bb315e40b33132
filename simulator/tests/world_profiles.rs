//! Each firmware profile against the servers it meets, at the world level:
//! which offers it takes, which dialect pxelab answers it in, and how it ends.

mod world_common;

use world_common::*;

const PXELAB_FULL: &str = r#"
[[server]]
name = "pxelab"
segment = "lan"
address = "10.4.0.10"
kind = "reference"
pool = "10.4.0.100-10.4.0.150"
"#;

/// Production DHCP with its own PXE boot files, answering a second late.
const SLOW_PROD_PXE: &str = r#"
[[server]]
name = "prod"
segment = "lan"
address = "10.4.0.2"
kind = "dhcp-pxe"
pool = "10.4.0.160-10.4.0.190"
bios_file = "prod.0"
efi_file = "prod.efi"
respond_delay_ms = 1000

[[server.file]]
name = "prod.0"
nbp = "loader"
size = 20000

[[server.file]]
name = "prod.efi"
nbp = "loader"
size = 20000
"#;

fn fleet_toml(name: &str, profile: &str, count: u32, quirks: &str) -> String {
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

/// The client's path in the report, one string.
fn path(r: &pxelab_simulator::report::Report, client: &str) -> String {
    r.clients
        .iter()
        .find(|c| c.name == client)
        .unwrap_or_else(|| panic!("no client line {client}\n{}", text(r)))
        .path
        .join(" → ")
}

#[test]
fn edk2_boots_through_4011_from_a_proxy_next_to_a_dhcp_without_pxe() {
    let src = format!(
        "{HEADER}{CORP_DHCP}{PXELAB_PROXY}{}",
        fleet_toml("uefi", "edk2-uefi", 3, "")
    );
    let r = run_toml(&src);
    assert_all_booted_from(&r, "uefi", "pxelab");
    // pxelab answers UEFI in the BINL dialect: no boot file in the proxy offer,
    // the file comes from the DHCPACK on UDP 4011.
    assert_eq!(answers(&r, "pxelab", "boot-ack"), 3, "{}", text(&r));
    for i in 0..3 {
        let p = path(&r, &format!("uefi#{i}"));
        assert!(
            p.starts_with("DHCP 10.4.0.2") && p.contains("from corp → boot server pxelab:4011"),
            "uefi#{i}: address from corp, then 4011 to pxelab: {p}"
        );
    }
}

#[test]
fn edk2_bz469_still_boots_from_pxelab_because_uefi_gets_the_binl_dialect() {
    let src = format!(
        "{HEADER}{CORP_DHCP}{PXELAB_PROXY}{}",
        fleet_toml("uefi", "edk2-uefi", 3, "\"edk2-bz469\"")
    );
    let r = run_toml(&src);
    assert_all_booted_from(&r, "uefi", "pxelab");
    assert_eq!(answers(&r, "pxelab", "boot-ack"), 3, "{}", text(&r));
}

#[test]
fn bz469_on_the_proxy_pxe10_path_ends_with_e53() {
    // pxelab answers BIOS clients with a ProxyPxe10 offer (43.6 = 8 and a
    // file): a ROM with the BZ 469 cache bug drops it, is left with corp's
    // plain offer, and prints "No boot filename received".
    let src = format!(
        "{HEADER}{CORP_DHCP}{PXELAB_PROXY}{}{}",
        fleet_toml("buggy", "pxe21-bios", 2, "\"edk2-bz469\""),
        fleet_toml("healthy", "pxe21-bios", 2, "")
    );
    let r = run_toml(&src);
    assert_all_failed_with(&r, "buggy", "PXE-E53");
    assert_all_booted_from(&r, "healthy", "pxelab");
}

#[test]
fn edk2_ranks_a_slow_pxe_offer_above_a_fast_dhcp_plus_proxy_pair_and_pxe21_does_not() {
    // corp (plain DHCP) and pxelab (proxy) answer at once, prod (DHCP with PXE)
    // a second later. EDK2's priority puts a PXE10 DHCP offer first whenever
    // it comes within the collection window; a PXE 2.1 ROM takes the earliest
    // complete set, corp + pxelab.
    let src = format!(
        "{HEADER}{SLOW_PROD_PXE}{CORP_DHCP}{PXELAB_PROXY}{}{}",
        fleet_toml("uefi", "edk2-uefi", 2, ""),
        fleet_toml("bios", "pxe21-bios", 2, "")
    );
    let r = run_toml(&src);
    assert_all_booted_from(&r, "uefi", "prod");
    assert_all_booted_from(&r, "bios", "pxelab");
    for i in 0..2 {
        let p = path(&r, &format!("bios#{i}"));
        assert!(
            p.starts_with("DHCP 10.4.0.2") && p.contains("from corp"),
            "bios#{i}: {p}"
        );
    }
}

#[test]
fn legacy_rom_boots_against_pxelab() {
    let src = format!(
        "{HEADER}{PXELAB_FULL}{}",
        fleet_toml("old", "legacy-rom", 3, "")
    );
    let r = run_toml(&src);
    assert_all_booted_from(&r, "old", "pxelab");
    // The ROM loads iPXE, which asks again and is handed the boot script.
    assert_eq!(
        fleet(&r, "old").booted_files.get("boot.ipxe"),
        Some(&3),
        "{}",
        text(&r)
    );
    assert!(
        path(&r, "old#0").contains("TFTP undionly.kpxe from pxelab"),
        "{}",
        text(&r)
    );
}

#[test]
fn an_ipxe_nic_boots_the_script_directly() {
    let src = format!("{HEADER}{PXELAB_FULL}{}", fleet_toml("nic", "ipxe", 3, ""));
    let r = run_toml(&src);
    assert_all_booted_from(&r, "nic", "pxelab");
    assert_eq!(
        fleet(&r, "nic").booted_files.get("boot.ipxe"),
        Some(&3),
        "{}",
        text(&r)
    );
    for i in 0..3 {
        let p = path(&r, &format!("nic#{i}"));
        assert_eq!(
            p.matches("TFTP ").count(),
            1,
            "nic#{i} loads only the script, never the iPXE binary: {p}"
        );
        assert!(p.ends_with("TFTP boot.ipxe from pxelab"), "nic#{i}: {p}");
    }
    assert_eq!(
        server(&r, "pxelab").tftp.get("completed"),
        Some(&3),
        "{}",
        text(&r)
    );
}

/// Production DHCP+PXE whose `next_server` names a host that does not exist.
const DEAD_NEXT_SERVER: &str = r#"
[[server]]
name = "prod"
segment = "lan"
address = "10.4.0.2"
kind = "dhcp-pxe"
pool = "10.4.0.100-10.4.0.199"
bios_file = "a.0"
efi_file = "a.efi"
ipxe_file = "boot.ipxe"
next_server = "10.4.0.77"
"#;

#[test]
fn a_tftp_server_that_does_not_exist_is_an_arp_timeout() {
    let mut src = format!("{HEADER}{DEAD_NEXT_SERVER}");
    for profile in ["pxe21-bios", "edk2-uefi", "legacy-rom"] {
        src.push_str(&fleet_toml(profile, profile, 2, ""));
    }
    let r = run_toml(&src);
    for profile in ["pxe21-bios", "edk2-uefi", "legacy-rom"] {
        assert_all_failed_with(&r, profile, "PXE-E11");
    }
    assert!(
        r.clients
            .iter()
            .all(|c| c.outcome.contains("no ARP reply from 10.4.0.77")),
        "{}",
        text(&r)
    );
}

#[test]
fn ipxe_reports_its_own_error_for_an_unreachable_tftp_server() {
    // firmware/error.rs: "iPXE is not an Intel ROM and prints its own
    // messages; those get their own variants rather than a borrowed Intel code."
    let src = format!(
        "{HEADER}{DEAD_NEXT_SERVER}{}",
        fleet_toml("nic", "ipxe", 2, "")
    );
    let r = run_toml(&src);
    let f = fleet(&r, "nic");
    assert_eq!(f.booted, 0, "{}", text(&r));
    assert!(
        f.errors.keys().all(|code| code.starts_with("iPXE-")),
        "an iPXE NIC shows iPXE's messages, got {:?}\n{}",
        f.errors,
        text(&r)
    );
}

/// pxelab's ProxyDHCP answering `delay_ms` late, next to corp's plain DHCP.
fn slow_proxy(delay_ms: u64) -> String {
    let mut src = format!("{HEADER}{CORP_DHCP}{PXELAB_PROXY}respond_delay_ms = {delay_ms}\n");
    for profile in ["pxe21-bios", "edk2-uefi", "legacy-rom", "ipxe"] {
        src.push_str(&fleet_toml(profile, profile, 2, ""));
    }
    src
}

#[test]
fn a_proxy_one_second_late_still_boots_every_profile() {
    let r = run_toml(&slow_proxy(1000));
    for profile in ["pxe21-bios", "edk2-uefi", "legacy-rom", "ipxe"] {
        assert_all_booted_from(&r, profile, "pxelab");
    }
}

#[test]
fn a_proxy_slower_than_ipxes_2_s_wait_loses_every_client_at_the_ipxe_stage() {
    // The ROMs wait out their windows and load iPXE from pxelab; iPXE then
    // waits only 2 s for a ProxyDHCP, takes corp's file-less ACK and has
    // nothing to boot.
    let r = run_toml(&slow_proxy(3000));
    for profile in ["pxe21-bios", "edk2-uefi", "legacy-rom", "ipxe"] {
        assert_all_failed_with(&r, profile, "iPXE-nothing-to-boot");
    }
    for c in r.clients.iter().filter(|c| !c.name.starts_with("ipxe#")) {
        assert!(
            c.path
                .iter()
                .any(|s| s.starts_with("TFTP ") && s.ends_with("from pxelab")),
            "{}: the ROM stage still loads iPXE from pxelab: {:?}",
            c.name,
            c.path
        );
    }
}
