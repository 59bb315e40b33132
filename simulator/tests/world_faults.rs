//! Faults in a running world: a server switched off, a fleet's cables pulled.
//! A PXE 2.1 ROM DISCOVERs at 0, 4, 12 and 28 s and gives up at 60 s with
//! PXE-E51, so a server or link back by 20 s is still in time.

mod world_common;

use std::time::Duration;

use world_common::*;

/// Three BIOS ROMs powered on together against one full-mode pxelab server
/// that hands them an OS loader directly; `faults` is appended as written.
fn lab(faults: &str) -> String {
    format!(
        r#"
name = "faults"
summary = "faults"
duration_s = 120

[[segment]]
name = "lan"
subnet = "10.1.0.0/24"

[[server]]
name = "pxelab"
segment = "lan"
address = "10.1.0.2"
kind = "reference"
pool = "10.1.0.100-10.1.0.199"
boot = {{ boot_bios = "pxelinux.0" }}

[[server.file]]
name = "pxelinux.0"
nbp = "loader"
size = 20000

[[fleet]]
name = "bios"
segment = "lan"
count = 3
profile = "pxe21-bios"
{faults}
"#
    )
}

#[test]
fn without_faults_the_fleet_boots_at_once() {
    let r = run_toml(&lab(""));
    assert_all_booted_from(&r, "bios", "pxelab");
    let t = fleet(&r, "bios")
        .boot_time
        .expect("booted clients have a boot time");
    assert!(
        t.max.0 < Duration::from_secs(10),
        "a healthy server answers the first DISCOVER's window\n{}",
        text(&r)
    );
}

#[test]
fn a_server_down_from_the_start_ends_every_rom_with_e51() {
    let r = run_toml(&lab(r#"
[[fault]]
at_s = 0
kind = "server-down"
target = "pxelab"
"#));
    assert_all_failed_with(&r, "bios", "PXE-E51");
    assert_eq!(
        server(&r, "pxelab").answers.values().sum::<u64>(),
        0,
        "a switched-off server answers nothing\n{}",
        text(&r)
    );
    assert!(
        r.network.blocked > 0,
        "DISCOVERs to a down port are counted as blocked\n{}",
        text(&r)
    );
}

#[test]
fn a_server_back_at_20_s_is_caught_by_the_28_s_discover() {
    let r = run_toml(&lab(r#"
[[fault]]
at_s = 0
kind = "server-down"
target = "pxelab"

[[fault]]
at_s = 20
kind = "server-up"
target = "pxelab"
"#));
    assert_all_booted_from(&r, "bios", "pxelab");
    let t = fleet(&r, "bios").boot_time.unwrap();
    // The DISCOVERs at 0, 4 and 12 s met a switched-off server; the one at
    // 28 s is the first it hears (the ROM then decides when its 32 s window ends).
    assert!(
        t.p50.0 >= Duration::from_secs(28),
        "the clients boot from the 28 s DISCOVER on\n{}",
        text(&r)
    );
}

#[test]
fn a_fleet_whose_links_stay_down_ends_with_e51() {
    let r = run_toml(&lab(r#"
[[fault]]
at_s = 0
kind = "fleet-link-down"
target = "bios"
"#));
    assert_all_failed_with(&r, "bios", "PXE-E51");
    assert_eq!(
        server(&r, "pxelab").answers.values().sum::<u64>(),
        0,
        "no DISCOVER reached the server\n{}",
        text(&r)
    );
}

#[test]
fn a_fleet_whose_links_come_back_at_20_s_boots() {
    let r = run_toml(&lab(r#"
[[fault]]
at_s = 0
kind = "fleet-link-down"
target = "bios"

[[fault]]
at_s = 20
kind = "fleet-link-up"
target = "bios"
"#));
    assert_all_booted_from(&r, "bios", "pxelab");
    let t = fleet(&r, "bios").boot_time.unwrap();
    assert!(
        t.p50.0 >= Duration::from_secs(28),
        "nothing passes before the links are back: the 28 s DISCOVER is the first heard\n{}",
        text(&r)
    );
}

#[test]
fn a_fleet_link_back_too_late_still_fails() {
    // The last DISCOVER goes out at 28 s and the ROM gives up at 60 s: links
    // back at 61 s are too late.
    let r = run_toml(&lab(r#"
[[fault]]
at_s = 0
kind = "fleet-link-down"
target = "bios"

[[fault]]
at_s = 61
kind = "fleet-link-up"
target = "bios"
"#));
    assert_all_failed_with(&r, "bios", "PXE-E51");
}

/// The lab of [`lab`] with the fleet's ports held `hold_s` by spanning tree
/// after every link-up (power-on included).
fn held(hold_s: u32, faults: &str) -> String {
    lab(&format!(
        "link = {{ link_up_delay_s = {hold_s} }}\n{faults}"
    ))
}

#[test]
fn a_port_held_25_s_at_power_on_lets_the_28_s_discover_through() {
    let r = run_toml(&held(25, ""));
    assert_all_booted_from(&r, "bios", "pxelab");
    assert!(
        r.network.blocked > 0,
        "the early DISCOVERs were held\n{}",
        text(&r)
    );
}

#[test]
fn a_fleet_link_up_restarts_the_spanning_tree_hold() {
    // Down at 1 s, up at 10 s: the 25 s hold now ends at 35 s, after the
    // ROM's last DISCOVER (28 s).
    let r = run_toml(&held(
        25,
        r#"
[[fault]]
at_s = 1
kind = "fleet-link-down"
target = "bios"

[[fault]]
at_s = 10
kind = "fleet-link-up"
target = "bios"
"#,
    ));
    assert_all_failed_with(&r, "bios", "PXE-E51");
}

#[test]
fn a_server_switched_off_mid_download_ends_the_roms_with_e35() {
    // 3 MB through a 10 Mb/s port takes well over 2 s per client: at 6 s
    // every download has started (the ROMs decide at 4 s) and none is done.
    let src = r#"
name = "midway"
summary = "midway"
duration_s = 120

[[segment]]
name = "lan"
subnet = "10.1.0.0/24"

[[server]]
name = "pxelab"
segment = "lan"
address = "10.1.0.2"
kind = "reference"
pool = "10.1.0.100-10.1.0.199"
boot = { boot_bios = "big.0" }
link = { bandwidth_mbps = 10 }

[[server.file]]
name = "big.0"
nbp = "loader"
size = 3000000

[[fleet]]
name = "bios"
segment = "lan"
count = 2
profile = "pxe21-bios"

[[fault]]
at_s = 6
kind = "server-down"
target = "pxelab"
"#;
    let r = run_toml(src);
    assert_all_failed_with(&r, "bios", "PXE-E35");
    assert_eq!(
        server(&r, "pxelab").tftp.get("completed"),
        None,
        "{}",
        text(&r)
    );
    assert!(
        r.clients
            .iter()
            .all(|c| c.outcome.contains("stopped sending big.0")),
        "the screen says which download stopped\n{}",
        text(&r)
    );
}
