//! SMBIOS UUIDs (option 97) a server cannot key on: cloned images sharing one,
//! unset ones (all zeros), and firmware that sends zeros whatever SMBIOS says.

mod world_common;

use world_common::*;

/// One full-mode pxelab server and a fleet of three with `fleet_extra` keys.
fn lab(profile: &str, fleet_extra: &str) -> String {
    format!(
        r#"
name = "identity"
summary = "identity"
duration_s = 60

[[segment]]
name = "lan"
subnet = "10.6.0.0/24"

[[server]]
name = "pxelab"
segment = "lan"
address = "10.6.0.2"
kind = "reference"
pool = "10.6.0.100-10.6.0.199"

[[fleet]]
name = "clones"
segment = "lan"
count = 3
profile = "{profile}"
{fleet_extra}
"#
    )
}

#[track_caller]
fn duplicate_uuid_finding(src: &str) -> Option<String> {
    let r = run_toml(src);
    // Whatever the identities, the clients still boot: pxelab keys leases by MAC.
    assert_all_booted_from(&r, "clones", "pxelab");
    let found = findings(&r, "duplicate-uuid");
    assert!(found.len() <= 1, "one finding per UUID\n{}", text(&r));
    found.first().map(|f| f.message.clone())
}

#[test]
fn a_shared_uuid_is_a_duplicate_uuid_finding() {
    let msg = duplicate_uuid_finding(&lab("pxe21-bios", r#"uuid = "shared""#))
        .expect("three clones with one UUID are a finding");
    assert!(
        msg.starts_with("3 clients (clones) share one SMBIOS UUID"),
        "{msg}"
    );
}

#[test]
fn an_all_zero_uuid_is_a_placeholder_finding() {
    let msg = duplicate_uuid_finding(&lab("pxe21-bios", r#"uuid = "zero""#))
        .expect("all-zero UUIDs are a finding");
    assert!(
        msg.contains("placeholder") && msg.contains("00000000-0000-0000-0000-000000000000"),
        "{msg}"
    );
}

#[test]
fn an_all_ff_uuid_is_a_placeholder_finding() {
    let msg = duplicate_uuid_finding(&lab("pxe21-bios", r#"uuid = "ff""#))
        .expect("all-ff UUIDs are a finding");
    assert!(
        msg.contains("placeholder") && msg.contains("ffffffff-ffff-ffff-ffff-ffffffffffff"),
        "{msg}"
    );
}

#[test]
fn random_and_mac_derived_uuids_are_no_finding() {
    for uuid in ["random", "from-mac"] {
        let msg = duplicate_uuid_finding(&lab("pxe21-bios", &format!("uuid = \"{uuid}\"")));
        assert_eq!(msg, None, "uuid = {uuid}");
    }
}

#[test]
fn the_zero_uuid_quirk_is_a_placeholder_finding() {
    // The quirk makes EDK2 send an all-zero GUID whatever SMBIOS holds
    // (research §2.4): on the wire all three clients are one identity.
    let msg = duplicate_uuid_finding(&lab("edk2-uefi", r#"quirks = ["zero-uuid"]"#));
    assert!(msg.is_some_and(|m| m.contains("placeholder")));
}

#[test]
fn edk2_without_an_smbios_uuid_sends_zeros_and_is_a_finding() {
    // uuid = "none": SMBIOS holds no UUID, and EDK2 then sends an all-zero
    // GUID (zero_uuid_when_unknown).
    let msg = duplicate_uuid_finding(&lab("edk2-uefi", r#"uuid = "none""#));
    assert!(msg.is_some_and(|m| m.contains("placeholder")));
}

#[test]
fn a_nic_that_sends_no_uuid_shares_none() {
    // The no-uuid quirk: option 97 is never sent, so no server sees a zero UUID.
    let msg = duplicate_uuid_finding(&lab(
        "pxe21-bios",
        "uuid = \"zero\"\nquirks = [\"no-uuid\"]",
    ));
    assert_eq!(msg, None);
}
