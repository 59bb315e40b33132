//! `pxelab quirks`: the catalogue as people and scripts read it.

use std::process::{Command, Output};

use pxelab_simulator::firmware::catalog;
use serde_json::Value;

fn pxelab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .args(args)
        .output()
        .expect("run pxelab")
}

#[test]
fn json_lists_every_catalogue_id_with_its_source_and_status() {
    let out = pxelab(&["quirks", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("pxelab quirks --json is JSON");
    let quirks = doc["quirks"].as_array().expect("a quirks array");
    let ids: Vec<&str> = quirks.iter().filter_map(|q| q["id"].as_str()).collect();
    let expected: Vec<&str> = catalog().iter().map(|e| e.id).collect();
    assert_eq!(ids, expected);
    assert_eq!(doc["count"].as_u64(), Some(expected.len() as u64));
    let implemented = doc["implemented"].as_u64().expect("implemented count");
    let not_modelled = doc["not_modelled"].as_u64().expect("not_modelled count");
    assert_eq!(implemented + not_modelled, expected.len() as u64);
    for q in quirks {
        assert!(
            q["source"].as_str().is_some_and(|s| !s.is_empty()),
            "no source: {q}"
        );
        match q["status"].as_str() {
            Some("implemented") => {
                assert!(q["knob"].as_str().is_some_and(|k| !k.is_empty()), "{q}")
            }
            Some("not-modelled") => {
                assert!(q["why"].as_str().is_some_and(|w| !w.is_empty()), "{q}")
            }
            other => panic!("unexpected status {other:?} in {q}"),
        }
    }
}

#[test]
fn the_table_names_every_id_and_the_counts() {
    let out = pxelab(&["quirks"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    for e in catalog() {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{} ", e.id))),
            "{} missing from:\n{text}",
            e.id
        );
    }
    let implemented = catalog()
        .iter()
        .filter(|e| e.status.is_implemented())
        .count();
    assert!(
        text.contains(&format!(
            "{} quirks: {implemented} implemented, {} not modelled",
            catalog().len(),
            catalog().len() - implemented
        )),
        "{text}"
    );
}

#[test]
fn help_says_how_a_scenario_enables_a_quirk() {
    let out = pxelab(&["quirks", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("--json"), "{text}");
    assert!(text.contains("[[fleet]]  quirks"), "{text}");
    assert!(text.contains("[[server]] quirks"), "{text}");
}
