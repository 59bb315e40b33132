//! Several servers answering one segment: which one the clients pick, and the
//! findings that tell a user why their lab clients went elsewhere.

mod world_common;

use world_common::*;

const HEADER: &str = r#"
name = "competing"
summary = "competing"
duration_s = 120

[[segment]]
name = "lan"
subnet = "10.3.0.0/24"
"#;

const BIOS_FLEET: &str = r#"
[[fleet]]
name = "bios"
segment = "lan"
count = 3
profile = "pxe21-bios"
power_on_spread_s = 1.0
"#;

/// A full-mode pxelab server named `name` at `10.3.0.{host}` leasing
/// `10.3.0.{first}-{first+49}`, answering after `delay_ms`.
fn reference(name: &str, host: u8, first: u8, delay_ms: u64) -> String {
    format!(
        r#"
[[server]]
name = "{name}"
segment = "lan"
address = "10.3.0.{host}"
kind = "reference"
pool = "10.3.0.{first}-10.3.0.{last}"
respond_delay_ms = {delay_ms}
boot = {{ boot_bios = "{name}.0" }}

[[server.file]]
name = "{name}.0"
nbp = "loader"
size = 20000
"#,
        last = first + 49
    )
}

fn two_pxe_servers(delay_a: u64, delay_b: u64) -> String {
    format!(
        "{HEADER}{}{}{BIOS_FLEET}",
        reference("lab-a", 2, 100, delay_a),
        reference("lab-b", 3, 150, delay_b)
    )
}

#[test]
fn a_rogue_dhcp_next_to_pxelab_is_a_competing_dhcp_finding() {
    let src = format!(
        r#"{HEADER}{}
[[server]]
name = "rogue"
segment = "lan"
address = "10.3.0.66"
kind = "rogue"
pool = "10.3.0.200-10.3.0.250"
{BIOS_FLEET}"#,
        reference("pxelab", 2, 100, 0)
    );
    let r = run_toml(&src);
    let found = findings(&r, "competing-dhcp-servers");
    assert_eq!(found.len(), 1, "{}", text(&r));
    assert!(
        found[0].message.contains("rogue") && found[0].message.contains("pxelab"),
        "the finding names both servers: {}",
        found[0].message
    );
    assert!(answers(&r, "rogue", "offer") > 0, "{}", text(&r));
    // A PXE 2.1 ROM passes over the rogue's offer: it carries no boot file.
    assert_all_booted_from(&r, "bios", "pxelab");
    // The rogue offers no boot information: only pxelab is a PXE server here.
    assert!(
        findings(&r, "competing-pxe-servers").is_empty(),
        "{}",
        text(&r)
    );
}

#[test]
fn pxelab_alone_is_no_competition() {
    let src = format!("{HEADER}{}{BIOS_FLEET}", reference("pxelab", 2, 100, 0));
    let r = run_toml(&src);
    assert_all_booted_from(&r, "bios", "pxelab");
    assert!(
        findings(&r, "competing-dhcp-servers").is_empty(),
        "{}",
        text(&r)
    );
    assert!(
        findings(&r, "competing-pxe-servers").is_empty(),
        "{}",
        text(&r)
    );
}

#[test]
fn two_full_pxe_servers_are_both_competing_pxe_and_dhcp_servers() {
    let r = run_toml(&two_pxe_servers(0, 0));
    for kind in ["competing-pxe-servers", "competing-dhcp-servers"] {
        let found = findings(&r, kind);
        assert_eq!(found.len(), 1, "{kind}\n{}", text(&r));
        assert!(
            found[0].message.starts_with("2 ")
                && found[0].message.contains("lab-a")
                && found[0].message.contains("lab-b")
                && found[0].message.contains("10.3.0.0/24"),
            "{kind}: {}",
            found[0].message
        );
    }
    assert_eq!(fleet(&r, "bios").booted, 3, "{}", text(&r));
}

#[test]
fn pxe21_boots_from_b_when_a_answers_1500_ms_late() {
    let r = run_toml(&two_pxe_servers(1500, 0));
    assert_all_booted_from(&r, "bios", "lab-b");
    let finding = &findings(&r, "competing-pxe-servers")[0];
    assert!(
        finding.message.contains("3/3 bios clients chose lab-b"),
        "the finding says where the clients went: {}",
        finding.message
    );
}

#[test]
fn pxe21_boots_from_a_when_b_answers_1500_ms_late() {
    let r = run_toml(&two_pxe_servers(0, 1500));
    assert_all_booted_from(&r, "bios", "lab-a");
    assert!(
        findings(&r, "competing-pxe-servers")[0]
            .message
            .contains("3/3 bios clients chose lab-a"),
        "{}",
        text(&r)
    );
}

#[test]
fn every_profile_boots_from_the_faster_of_two_identical_servers() {
    // Two pxelab servers configured alike: their offers are of one class for
    // every profile, so the tie goes to the earlier offer.
    for (delay_a, delay_b, winner) in [(1500, 0, "lab-b"), (0, 1500, "lab-a")] {
        let mut src = format!(
            "{HEADER}{}{}",
            reference("lab-a", 2, 100, delay_a),
            reference("lab-b", 3, 150, delay_b)
        );
        for profile in ["edk2-uefi", "ipxe", "legacy-rom"] {
            src.push_str(&format!(
                "\n[[fleet]]\nname = \"{profile}\"\nsegment = \"lan\"\ncount = 2\nprofile = \"{profile}\"\n"
            ));
        }
        let r = run_toml(&src);
        for profile in ["edk2-uefi", "ipxe", "legacy-rom"] {
            assert_all_booted_from(&r, profile, winner);
        }
    }
}

/// `lab-vs-production` with its lab fleet booting iPXE, the lab's proxy
/// answering `lab_delay_ms` after production, and `extra` added to
/// production's table.
fn ipxe_lab_vs_production(lab_delay_ms: u64, extra: &str) -> String {
    include_str!("../../scenarios/lab-vs-production.toml")
        .replace("profile = \"pxe21-bios\"", "profile = \"ipxe\"")
        .replace(
            "mode = \"proxy\"",
            &format!("mode = \"proxy\"\nrespond_delay_ms = {lab_delay_ms}"),
        )
        .replace(
            "lease_time_s = 86400",
            &format!("lease_time_s = 86400\n{extra}"),
        )
}

#[test]
fn ipxe_takes_the_dhcp_servers_boot_file_over_a_later_proxy_offer() {
    // iPXE leaves discovery on its timer with the lab's proxy offer as its
    // ProxyDHCP, but reads `filename` from the DHCP server's ACK first
    // (settings.c: equal priority, earlier block first): as the real iPXE ROM
    // does against dnsmasq + pxelab (tests/real_peers/fidelity_story.rs).
    for lab_delay_ms in [0, 500] {
        let r = run_toml(&ipxe_lab_vs_production(lab_delay_ms, ""));
        assert_all_booted_from(&r, "lab", "whem-prod");
    }
}

#[test]
fn ipxe_boots_from_the_proxy_when_production_names_no_boot_file_for_it() {
    let r = run_toml(&ipxe_lab_vs_production(
        500,
        "pxe_ignore_fleets = [\"lab\"]",
    ));
    assert_all_booted_from(&r, "lab", "lab-ds");
    assert_all_booted_from(&r, "office", "whem-prod");
}
