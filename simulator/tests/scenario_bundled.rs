//! Every scenario shipped in the binary reads, and `--list` shows what the file says.

use pxelab_simulator::scenario::{Scenario, bundled, find_bundled};

#[test]
fn every_bundled_scenario_parses() {
    for b in bundled() {
        let s = b
            .scenario()
            .unwrap_or_else(|e| panic!("bundled scenario {} does not parse:\n{e}", b.name));
        assert_eq!(s.name, b.name, "file name and `name` differ");
        assert_eq!(
            s.summary, b.summary,
            "{}: summary read at compile time differs",
            b.name
        );
    }
}

#[test]
fn the_default_scenario_comes_first() {
    assert_eq!(bundled()[0].name, "lab-vs-production");
    assert!(find_bundled("boot-storm-1000").is_some());
    assert!(find_bundled("nope").is_none());
}

#[test]
fn the_six_stories_of_the_issue_are_bundled() {
    let names: Vec<&str> = bundled().iter().map(|b| b.name).collect();
    for want in [
        "lab-vs-production",
        "lab-vs-production-fixed",
        "proxydhcp-bios-uefi",
        "ipxe-chainload-loop",
        "spanning-tree-delay",
        "boot-storm-1000",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
}

#[test]
fn bundled_scenarios_say_what_they_expect() {
    for b in bundled() {
        let s: Scenario = b.scenario().unwrap();
        assert!(!s.expects.is_empty(), "{} asserts nothing", b.name);
        assert!(
            !s.description.trim().is_empty(),
            "{} tells no story",
            b.name
        );
    }
}

/// A scenario file added to scenarios/ but not to `bundled()` would be missing
/// from `pxelab run --list` and from the binary.
#[test]
fn every_file_in_scenarios_is_bundled() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .expect("scenarios/ exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".toml").map(str::to_string))
        .collect();
    on_disk.sort();
    let mut shipped: Vec<String> = bundled().iter().map(|b| b.name.to_string()).collect();
    shipped.sort();
    assert_eq!(on_disk, shipped);
}
