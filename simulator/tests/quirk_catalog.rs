//! The quirk catalogue itself, and how a scenario names its quirks.

use pxelab_simulator::firmware::{QuirkStatus, QuirkSwitch, catalog, catalog_entry};
use pxelab_simulator::scenario::Scenario;

fn kebab(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('-')
        && !id.ends_with('-')
        && !id.contains("--")
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[test]
fn ids_are_unique_kebab_case_and_every_research_row_is_covered() {
    let mut seen = std::collections::BTreeSet::new();
    for e in catalog() {
        assert!(kebab(e.id), "{:?} is not kebab-case", e.id);
        assert!(seen.insert(e.id), "{:?} listed twice", e.id);
        assert!(!e.description.is_empty() && !e.source.is_empty(), "{e:?}");
        assert!(!e.applies_to.is_empty(), "{e:?}");
    }
    for n in 1..=33 {
        let q = format!("Q{n}");
        assert!(
            catalog().iter().any(|e| e.research == q),
            "{q} has no entry"
        );
    }
}

#[test]
fn every_status_says_how_or_why() {
    for e in catalog() {
        match e.status {
            QuirkStatus::Implemented { knob } => assert!(!knob.trim().is_empty(), "{e:?}"),
            QuirkStatus::NotModelled { why } => assert!(!why.trim().is_empty(), "{e:?}"),
        }
        if e.switch != QuirkSwitch::None {
            assert!(
                e.status.is_implemented(),
                "a switchable quirk is modelled: {e:?}"
            );
        }
    }
}

#[test]
fn the_four_original_ids_are_kept() {
    for id in ["edk2-bz469", "no-uuid", "zero-uuid", "rejects-proxy-pxe10"] {
        let e = catalog_entry(id).unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(e.switch, QuirkSwitch::FleetQuirk, "{id}");
    }
}

const BASE: &str = r#"
name = "q"
summary = "q"

[[segment]]
name = "lan"
subnet = "10.7.0.0/24"

[[server]]
name = "corp"
segment = "lan"
address = "10.7.0.3"
kind = "dhcp"
pool = "10.7.0.200-10.7.0.250"
"#;

fn error(src: &str) -> String {
    match Scenario::from_toml(src, "q.toml") {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e.to_string(),
    }
}

fn fleet(quirks: &str) -> String {
    format!(
        "{BASE}\n[[fleet]]\nname = \"f\"\nsegment = \"lan\"\ncount = 1\nprofile = \"edk2-uefi\"\nquirks = [{quirks}]\n"
    )
}

#[test]
fn an_unknown_fleet_quirk_suggests_the_nearest_id() {
    let e = error(&fleet("\"edk2-bz496\""));
    assert!(e.contains("no such quirk"), "{e}");
    assert!(e.contains("did you mean \"edk2-bz469\""), "{e}");
    let e = error(&fleet("\"min-reply-latncy\""));
    assert!(e.contains("did you mean \"min-reply-latency\""), "{e}");
}

#[test]
fn a_catalogue_id_that_is_not_a_fleet_quirk_says_how_it_is_switched_on() {
    let e = error(&fleet("\"stray-option60\""));
    assert!(e.contains("not a per-fleet quirk"), "{e}");
    assert!(e.contains("[[server]] quirks"), "{e}");
    let e = error(&fleet("\"relay-broadcast-bit\""));
    assert!(e.contains("not modelled"), "{e}");
}

#[test]
fn server_quirks_are_checked_and_suggested() {
    let server = |quirks: &str, kind: &str| {
        format!(
            "{BASE}\n[[server]]\nname = \"s\"\nsegment = \"lan\"\naddress = \"10.7.0.4\"\nkind = \"{kind}\"\npool = \"10.7.0.100-10.7.0.150\"\nquirks = [{quirks}]\n\n[[fleet]]\nname = \"f\"\nsegment = \"lan\"\ncount = 1\nprofile = \"edk2-uefi\"\n"
        )
    };
    if let Err(e) = Scenario::from_toml(&server("\"stray-option60\"", "dhcp"), "q.toml") {
        panic!("stray-option60 on a dhcp server: {e}");
    }
    let e = error(&server("\"stray-option6\"", "dhcp"));
    assert!(e.contains("did you mean \"stray-option60\""), "{e}");
    let e = error(&server("\"edk2-bz469\"", "dhcp"));
    assert!(e.contains("not a per-server quirk"), "{e}");
    let e = error(&server("\"stray-option60\", \"stray-option60\"", "dhcp"));
    assert!(e.contains("listed twice"), "{e}");
    let e = error(&server("\"stray-option60\"", "reference"));
    assert!(e.contains("quirks"), "{e}");
}
