//! `[[expect]]` checked against what happened: a CI run exits 1 exactly when
//! one fails, and the report must say what was observed instead.

mod world_common;

use pxelab_simulator::report::{ExpectationResult, Report};
use world_common::*;

/// Fleet `a` (3 clients) is the only one pxelab answers; fleet `b` (2) ends
/// with PXE-E51. Each `[[expect]]` is a `fleet = ...` or `finding = ...` line
/// tagged with a comment naming it, so the test can find its result by line.
const SRC: &str = r#"
name = "expect"
summary = "expect"
duration_s = 120

[[segment]]
name = "lan"
subnet = "10.10.0.0/24"

[[server]]
name = "pxelab"
segment = "lan"
address = "10.10.0.2"
kind = "reference"
pool = "10.10.0.100-10.10.0.199"
allow_fleets = ["a"]

[[fleet]]
name = "a"
segment = "lan"
count = 3
profile = "pxe21-bios"

[[fleet]]
name = "b"
segment = "lan"
count = 2
profile = "pxe21-bios"

[[expect]]
fleet = "a" # a-at-least-2
booted = ">=2"

[[expect]]
fleet = "a" # a-at-most-1
booted = "<=1"

[[expect]]
fleet = "a" # a-exactly-3-from-pxelab
booted = 3
booted_from = "pxelab"

[[expect]]
fleet = "b" # b-at-most-1
booted = "<=1"

[[expect]]
fleet = "b" # b-at-least-2
booted = ">=2"

[[expect]]
fleet = "b" # b-all
booted = "all"

[[expect]]
fleet = "b" # b-e51
error = "PXE-E51"

[[expect]]
fleet = "b" # b-e53
error = "PXE-E53"

[[expect]]
finding = "competing-pxe-servers" # competing

[[expect]]
finding = "boot-loop" # no-loop
present = false
"#;

/// The result of the expectation whose line carries `# tag`.
fn result<'a>(r: &'a Report, tag: &str) -> &'a ExpectationResult {
    let line = SRC
        .lines()
        .position(|l| l.ends_with(&format!("# {tag}")))
        .unwrap_or_else(|| panic!("no expectation tagged {tag}"))
        + 1;
    r.expectations
        .iter()
        .find(|e| e.line == line)
        .unwrap_or_else(|| panic!("no expectation result at line {line} ({tag})\n{}", text(r)))
}

#[track_caller]
fn assert_result(r: &Report, tag: &str, passed: bool, observed: &str) {
    let e = result(r, tag);
    assert_eq!(
        (e.passed, e.observed.as_str()),
        (passed, observed),
        "{tag}: {}\n{}",
        e.expectation,
        text(r)
    );
}

#[test]
fn at_least_and_at_most_counts_hold_or_fail_on_the_booted_number() {
    let r = run_toml(SRC);
    assert_result(&r, "a-at-least-2", true, "3/3 booted, all from pxelab");
    assert_result(&r, "a-at-most-1", false, "3/3 booted, all from pxelab");
    assert_result(
        &r,
        "a-exactly-3-from-pxelab",
        true,
        "3/3 booted, all from pxelab",
    );
    assert_result(&r, "b-at-most-1", true, "0/2 booted, failed: 2 PXE-E51");
    assert_result(&r, "b-at-least-2", false, "0/2 booted, failed: 2 PXE-E51");
}

#[test]
fn a_failed_expectation_says_what_happened_instead() {
    let r = run_toml(SRC);
    assert_result(&r, "b-all", false, "0/2 booted, failed: 2 PXE-E51");
    assert_result(&r, "b-e51", true, "0/2 booted, failed: 2 PXE-E51");
    assert_result(&r, "b-e53", false, "0/2 booted, failed: 2 PXE-E51");
    assert_result(&r, "competing", false, "0 competing-pxe-servers finding(s)");
    assert_result(&r, "no-loop", true, "0 boot-loop finding(s)");
    assert!(
        result(&r, "b-e53").expectation.contains("PXE-E53"),
        "the expectation is restated: {}",
        result(&r, "b-e53").expectation
    );
}

#[test]
fn one_failed_expectation_fails_the_run_and_the_text_report_marks_it() {
    let r = run_toml(SRC);
    assert_eq!(r.expectations.len(), 10, "{}", text(&r));
    assert!(!r.passed());
    let failed: Vec<usize> = r
        .expectations
        .iter()
        .filter(|e| !e.passed)
        .map(|e| e.line)
        .collect();
    let t = text(&r);
    for line in &failed {
        assert!(
            t.lines()
                .any(|l| l.trim_start().starts_with(&format!("FAIL line {line}:"))),
            "line {line} is not marked FAIL\n{t}"
        );
    }
    assert!(
        t.contains(&format!(
            "result: {} of 10 expectations held",
            10 - failed.len()
        )),
        "{t}"
    );
}

#[test]
fn a_run_whose_expectations_all_hold_passes() {
    // Keep only the expectations that hold.
    let holding: String = SRC
        .split("\n[[expect]]")
        .filter(|chunk| {
            [
                "a-at-least-2",
                "a-exactly-3",
                "b-at-most-1",
                "b-e51",
                "no-loop",
            ]
            .iter()
            .any(|tag| chunk.contains(&format!("# {tag}")))
                || !chunk.contains("# ")
        })
        .collect::<Vec<_>>()
        .join("\n[[expect]]");
    let r = run_toml(&holding);
    assert_eq!(r.expectations.len(), 5, "{}", text(&r));
    assert!(r.passed(), "{}", text(&r));
}

/// The literal text an anchored pattern (`^abc[...]...`) demands at the start
/// of every match; empty when the pattern has an alternation or no anchor.
fn required_prefix(pattern: &str) -> String {
    match pattern.strip_prefix('^') {
        Some(rest) if !pattern.contains('|') => rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect(),
        _ => String::new(),
    }
}

#[test]
fn the_schema_accepts_every_error_code_an_expectation_may_name() {
    use pxelab_simulator::firmware::PxeError;
    use pxelab_simulator::scenario::schema;
    let s = schema();
    let defs = s
        .get("$defs")
        .or_else(|| s.get("definitions"))
        .expect("the schema has definitions");
    let pattern = defs["Expect"]["properties"]["error"]["pattern"]
        .as_str()
        .unwrap_or("");
    let prefix = required_prefix(pattern);
    for e in PxeError::ALL {
        // The checker takes every code (spanning-tree-delay expects
        // iPXE-no-config); the editor's schema must not flag one.
        let src = SRC.replace("error = \"PXE-E53\"", &format!("error = \"{}\"", e.code()));
        scenario(&src);
        assert!(
            e.code().starts_with(&prefix),
            "the schema's pattern {pattern:?} refuses {}",
            e.code()
        );
    }
}
