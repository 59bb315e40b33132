//! The iPXE chainload loop (ipxe #922): a server that hands iPXE the iPXE
//! binary again. Every machine must be stopped as looping within the run,
//! and the finding must show the cycle a user would see in tcpdump.

mod world_common;

use pxelab_simulator::report::EndReason;
use world_common::*;

const DURATION_S: f64 = 300.0;

/// A production DHCP+PXE server handing BIOS clients undionly.kpxe and UEFI
/// clients ipxe.efi; `ipxe_file` is what it hands iPXE itself (absent: the
/// binary again).
fn naive(ipxe_file: &str) -> String {
    format!(
        r#"
name = "loop"
summary = "loop"
duration_s = {DURATION_S}

[[segment]]
name = "lan"
subnet = "10.9.0.0/24"

[[server]]
name = "naive-dhcp"
segment = "lan"
address = "10.9.0.2"
kind = "dhcp-pxe"
pool = "10.9.0.100-10.9.0.199"
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

[[fleet]]
name = "bios"
segment = "lan"
count = 3
profile = "pxe21-bios"
power_on_spread_s = 2.0

[[fleet]]
name = "uefi"
segment = "lan"
count = 2
profile = "edk2-uefi"
power_on_spread_s = 2.0
"#
    )
}

#[test]
fn every_client_of_a_naive_server_is_stopped_as_looping_within_the_run() {
    let r = run_toml(&naive(""));
    for name in ["bios", "uefi"] {
        let f = fleet(&r, name);
        assert_eq!(
            (f.looping, f.booted, f.unfinished),
            (f.count, 0, 0),
            "{name}: every client loops, none boots, none is left running\n{}",
            text(&r)
        );
    }
    assert_eq!(
        r.end,
        EndReason::AllClientsDone,
        "the loop detector ends the run before its {DURATION_S} s limit\n{}",
        text(&r)
    );
}

#[test]
fn the_boot_loop_finding_shows_each_fleets_cycle() {
    let r = run_toml(&naive(""));
    let found = findings(&r, "boot-loop");
    assert_eq!(
        found.len(),
        2,
        "one finding per fleet and cycle\n{}",
        text(&r)
    );
    for (fleet_name, file) in [("bios", "undionly.kpxe"), ("uefi", "ipxe.efi")] {
        let f = found
            .iter()
            .find(|f| f.message.contains(&format!("of fleet {fleet_name} ")))
            .unwrap_or_else(|| panic!("no boot-loop finding for {fleet_name}\n{}", text(&r)));
        let count = fleet(&r, fleet_name).count;
        assert!(
            f.message.starts_with(&format!("{count}/{count} clients")),
            "{}",
            f.message
        );
        assert!(
            f.message.contains(&format!("{file} from naive-dhcp")),
            "the cycle names the file and the server: {}",
            f.message
        );
        assert!(
            f.detail.iter().any(|d| d.starts_with("cycle: ")
                && d.contains(&format!("{file} from naive-dhcp"))
                && d.ends_with("→ (again)")),
            "{:?}",
            f.detail
        );
    }
}

#[test]
fn the_same_fleet_boots_once_the_server_hands_ipxe_a_script() {
    let r = run_toml(&naive(r#"ipxe_file = "boot.ipxe""#));
    for name in ["bios", "uefi"] {
        assert_all_booted_from(&r, name, "naive-dhcp");
        assert_eq!(
            fleet(&r, name).booted_files.get("boot.ipxe"),
            Some(&fleet(&r, name).count),
            "{}",
            text(&r)
        );
    }
    assert!(findings(&r, "boot-loop").is_empty(), "{}", text(&r));
}
