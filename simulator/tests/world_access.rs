//! Telling servers whom to answer: `ignore_fleets` (production told to leave
//! the lab alone) and `allow_fleets` (a lab server for known MACs only).

mod world_common;

use world_common::*;

const HEADER: &str = r#"
name = "access"
summary = "access"
duration_s = 120

[[segment]]
name = "lan"
subnet = "10.8.0.0/24"
"#;

const FLEETS: &str = r#"
[[fleet]]
name = "lab"
segment = "lan"
count = 3
profile = "pxe21-bios"
mac_prefix = "52:54:00:10"

[[fleet]]
name = "office"
segment = "lan"
count = 3
profile = "pxe21-bios"
mac_prefix = "52:54:00:20"
"#;

fn pxelab_full(access: &str) -> String {
    format!(
        r#"
[[server]]
name = "pxelab"
segment = "lan"
address = "10.8.0.2"
kind = "reference"
pool = "10.8.0.100-10.8.0.149"
{access}
"#
    )
}

fn prod(access: &str) -> String {
    format!(
        r#"
[[server]]
name = "prod"
segment = "lan"
address = "10.8.0.3"
kind = "dhcp-pxe"
pool = "10.8.0.150-10.8.0.199"
bios_file = "prod.0"
efi_file = "prod.efi"
{access}

[[server.file]]
name = "prod.0"
nbp = "loader"
size = 20000
"#
    )
}

/// Whether any client of fleet `name` took an address or a file from `server`.
fn fleet_used(r: &pxelab_simulator::report::Report, name: &str, server: &str) -> bool {
    r.clients
        .iter()
        .filter(|c| c.name.starts_with(&format!("{name}#")))
        .any(|c| c.path.iter().any(|step| step.contains(server)))
}

#[test]
fn allow_fleets_on_the_only_server_leaves_other_fleets_with_e51() {
    let r = run_toml(&format!(
        "{HEADER}{}{FLEETS}",
        pxelab_full(r#"allow_fleets = ["lab"]"#)
    ));
    assert_all_booted_from(&r, "lab", "pxelab");
    assert_all_failed_with(&r, "office", "PXE-E51");
    assert!(
        server(&r, "pxelab").ignored > 0,
        "the refused DISCOVERs are counted as ignored\n{}",
        text(&r)
    );
}

#[test]
fn ignore_fleets_on_the_reference_server_leaves_that_fleet_unanswered() {
    let r = run_toml(&format!(
        "{HEADER}{}{FLEETS}",
        pxelab_full(r#"ignore_fleets = ["office"]"#)
    ));
    assert_all_booted_from(&r, "lab", "pxelab");
    assert_all_failed_with(&r, "office", "PXE-E51");
}

#[test]
fn ignore_fleets_on_a_foreign_server_leaves_that_fleet_unanswered() {
    let r = run_toml(&format!(
        "{HEADER}{}{FLEETS}",
        prod(r#"ignore_fleets = ["lab"]"#)
    ));
    assert_all_failed_with(&r, "lab", "PXE-E51");
    assert_all_booted_from(&r, "office", "prod");
    assert_eq!(
        answers(&r, "prod", "offer"),
        3,
        "offers to the office only\n{}",
        text(&r)
    );
}

#[test]
fn ignore_fleets_on_production_sends_the_lab_to_pxelab_only() {
    // Both servers answer everyone but production ignores the lab: the lab
    // boots from pxelab and never hears production; the office still hears both.
    let r = run_toml(&format!(
        "{HEADER}{}{}{FLEETS}",
        pxelab_full(r#"allow_fleets = ["lab"]"#),
        prod(r#"ignore_fleets = ["lab"]"#)
    ));
    assert_all_booted_from(&r, "lab", "pxelab");
    assert_all_booted_from(&r, "office", "prod");
    assert!(!fleet_used(&r, "lab", "prod"), "{}", text(&r));
    assert!(server(&r, "prod").ignored >= 3, "{}", text(&r));
    assert!(!fleet_used(&r, "office", "pxelab"), "{}", text(&r));
    assert!(
        findings(&r, "competing-pxe-servers").is_empty()
            && findings(&r, "competing-dhcp-servers").is_empty(),
        "no client was answered by both\n{}",
        text(&r)
    );
}

#[test]
fn without_ignore_fleets_production_also_answers_the_lab() {
    // The control of the test above: the same servers with production
    // answering everyone is a competition the lab clients live through.
    let r = run_toml(&format!(
        "{HEADER}{}{}{FLEETS}",
        pxelab_full(r#"allow_fleets = ["lab"]"#),
        prod("")
    ));
    assert_all_booted_from(&r, "office", "prod");
    let found = findings(&r, "competing-pxe-servers");
    assert_eq!(found.len(), 1, "{}", text(&r));
    assert!(
        found[0]
            .detail
            .iter()
            .any(|d| d.contains("3/3 lab clients")),
        "{:?}",
        found[0]
    );
}
