//! What a client's screen shows, by what answers on its segment: nothing,
//! only a ProxyDHCP, only a DHCP server without PXE. Segments are separate
//! broadcast domains: a server on one never hears another's clients.

mod world_common;

use pxelab_simulator::report::EndReason;
use world_common::*;

/// Segment `proxy` has only pxelab's ProxyDHCP, `plain` only a DHCP server
/// without PXE, `empty` nothing; each has the same four fleets (2 clients).
fn three_segments(duration_s: u32) -> String {
    let mut src = format!(
        r#"
name = "segments"
summary = "segments"
duration_s = {duration_s}

[[segment]]
name = "proxy"
subnet = "10.11.1.0/24"

[[segment]]
name = "plain"
subnet = "10.11.2.0/24"

[[segment]]
name = "empty"
subnet = "10.11.3.0/24"

[[server]]
name = "pxelab"
segment = "proxy"
address = "10.11.1.2"
kind = "reference"
mode = "proxy"

[[server]]
name = "corp"
segment = "plain"
address = "10.11.2.2"
kind = "dhcp"
pool = "10.11.2.100-10.11.2.150"
"#
    );
    for segment in ["proxy", "plain", "empty"] {
        for profile in ["pxe21-bios", "edk2-uefi", "ipxe", "legacy-rom"] {
            src.push_str(&format!(
                "\n[[fleet]]\nname = \"{segment}-{profile}\"\nsegment = \"{segment}\"\ncount = 2\nprofile = \"{profile}\"\n"
            ));
        }
    }
    src
}

#[test]
fn each_profile_shows_the_error_of_what_answered_on_its_segment() {
    let r = run_toml(&three_segments(120));
    let want = [
        ("proxy", "pxe21-bios", "PXE-E52"),
        ("proxy", "edk2-uefi", "PXE-E52"),
        ("proxy", "legacy-rom", "PXE-E52"),
        ("proxy", "ipxe", "iPXE-no-config"),
        ("plain", "pxe21-bios", "PXE-E53"),
        ("plain", "edk2-uefi", "PXE-E53"),
        ("plain", "legacy-rom", "PXE-E53"),
        ("plain", "ipxe", "iPXE-nothing-to-boot"),
        ("empty", "pxe21-bios", "PXE-E51"),
        ("empty", "edk2-uefi", "PXE-E51"),
        ("empty", "legacy-rom", "PXE-E51"),
        ("empty", "ipxe", "iPXE-no-config"),
    ];
    for (segment, profile, code) in want {
        assert_all_failed_with(&r, &format!("{segment}-{profile}"), code);
    }
    assert_eq!(r.end, EndReason::AllClientsDone, "{}", text(&r));
}

#[test]
fn a_server_answers_only_its_own_segment() {
    let r = run_toml(&three_segments(120));
    // Only the proxy segment's 8 clients could reach pxelab, only the plain
    // segment's could reach corp: no address from corp on another segment.
    for c in &r.clients {
        for step in &c.path {
            assert!(
                !step.contains("from corp") || c.name.starts_with("plain-"),
                "{} took {step}\n{}",
                c.name,
                text(&r)
            );
        }
    }
    assert_eq!(
        r.clients.iter().filter(|c| !c.path.is_empty()).count(),
        2,
        "only the plain segment's iPXE clients get as far as an address\n{}",
        text(&r)
    );
    assert!(r.findings.is_empty(), "{}", text(&r));
}

#[test]
fn clients_still_trying_when_the_time_runs_out_are_unfinished_not_failed() {
    // At 10 s no ROM has reached the end of its DISCOVER schedule.
    let r = run_toml(&three_segments(10));
    assert_eq!(r.end, EndReason::TimeLimit, "{}", text(&r));
    for profile in ["pxe21-bios", "edk2-uefi", "legacy-rom"] {
        let f = fleet(&r, &format!("empty-{profile}"));
        assert_eq!(
            (f.unfinished, f.errors.len(), f.booted),
            (2, 0, 0),
            "{profile}\n{}",
            text(&r)
        );
    }
}
