//! `pxelab sweep` as a user calls it: the report does not depend on `--jobs`,
//! shards cover the range and merge back into the unsharded sweep, and bad
//! ranges or shards are clear errors with exit status 2.

use std::path::Path;
use std::process::{Command, Output};

fn pxelab(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run pxelab")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", text(&out.stdout), text(&out.stderr)))
}

const SWEEP: [&str; 4] = ["sweep", "lab-vs-production", "--seeds", "1..9"];

#[test]
fn the_report_is_the_same_whatever_the_number_of_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let one = pxelab(&[&SWEEP[..], &["--jobs", "1"]].concat(), dir.path());
    let two = pxelab(&[&SWEEP[..], &["--jobs", "2"]].concat(), dir.path());
    let report = text(&one.stdout);
    assert_eq!(one.status.code(), Some(0), "{report}{}", text(&one.stderr));
    assert_eq!(report, text(&two.stdout));
    assert_eq!(one.status.code(), two.status.code());
    // Not a terminal: the report and nothing else.
    assert!(one.stderr.is_empty(), "{}", text(&one.stderr));
    assert!(
        report.starts_with("pxelab sweep lab-vs-production: seeds 1..9 (8 runs)"),
        "{report}"
    );
    assert!(report.contains("95% interval"), "{report}");
    assert!(report.contains("held in 8 of 8"), "{report}");
    assert!(report.contains("competing-pxe-servers"), "{report}");
}

#[test]
fn shards_cover_the_range_and_their_tallies_add_up_to_the_whole_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let whole = pxelab(&[&SWEEP[..], &["--format", "json"]].concat(), dir.path());
    let whole_json = json(&whole);
    let mut seeds = Vec::new();
    let mut booted = [0u64; 2];
    for k in ["1/2", "2/2"] {
        let out = pxelab(
            &[
                &SWEEP[..],
                &["--shard", k, "--format", "json", "--jobs", "2"],
            ]
            .concat(),
            dir.path(),
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v = json(&out);
        let file = dir.path().join(format!("shard{}.json", &k[..1]));
        std::fs::write(&file, &out.stdout).unwrap();
        for run in v["runs"].as_array().unwrap() {
            seeds.push(run["seed"].as_u64().unwrap());
            for (i, b) in booted.iter_mut().enumerate() {
                *b += run["fleets"][i]["booted"].as_u64().unwrap_or(0);
            }
        }
    }
    seeds.sort_unstable();
    assert_eq!(seeds, (1..9).collect::<Vec<u64>>());
    let runs = whole_json["runs"].as_array().unwrap();
    for (i, b) in booted.iter().enumerate() {
        let whole_booted: u64 = runs
            .iter()
            .map(|r| r["fleets"][i]["booted"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(*b, whole_booted, "fleet {i}");
    }

    // Merged, the shards are the unsharded sweep, in JSON and in text.
    let merge = |format: &str| {
        pxelab(
            &[
                "sweep",
                "--merge",
                "shard2.json",
                "shard1.json",
                "--format",
                format,
            ],
            dir.path(),
        )
    };
    assert_eq!(json(&merge("json")), whole_json);
    let text_whole = pxelab(&SWEEP, dir.path());
    assert_eq!(text(&merge("text").stdout), text(&text_whole.stdout));

    // The same shard twice is refused rather than counted twice.
    let twice = pxelab(
        &["sweep", "--merge", "shard1.json", "shard1.json"],
        dir.path(),
    );
    assert_eq!(twice.status.code(), Some(2));
    assert!(text(&twice.stderr).contains("more than one file"));
}

#[test]
fn a_shard_runs_every_nth_seed_from_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let out = pxelab(
        &[
            "sweep",
            "lab-vs-production",
            "--seeds",
            "0..10",
            "--shard",
            "2/3",
            "--format",
            "json",
        ],
        dir.path(),
    );
    let v = json(&out);
    let seeds: Vec<u64> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, [1, 4, 7]);
}

#[test]
fn bad_ranges_and_shards_are_clear_errors_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (vec!["--seeds", "9..1"], "A must be below B"),
        (vec!["--seeds", "3..3"], "A must be below B"),
        (vec!["--seeds", "1-9"], "expected A..B"),
        (vec!["--seeds", "1..=9"], "half-open"),
        (vec!["--seeds", "x..9"], "is not a seed"),
        (vec!["--seeds", "1..9", "--shard", "0/2"], "K counts from 1"),
        (vec!["--seeds", "1..9", "--shard", "3/2"], "K counts from 1"),
        (vec!["--seeds", "1..9", "--shard", "2"], "expected K/N"),
        (vec!["--seeds", "1..9", "--jobs", "0"], "--jobs 0"),
    ] {
        let out = pxelab(
            &[&["sweep", "lab-vs-production"][..], &args[..]].concat(),
            dir.path(),
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = pxelab(&["sweep", "no-such-lab", "--seeds", "1..3"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bundled"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_expectation_that_fails_in_some_seed_exits_1_and_names_the_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("never.toml");
    std::fs::write(
        &path,
        r#"
name = "never"
summary = "two BIOS clients; the expectation cannot hold"
duration_s = 120

[[segment]]
name = "lab"
subnet = "10.50.0.0/24"

[[server]]
name = "lab"
segment = "lab"
address = "10.50.0.1"
kind = "reference"
pool = "10.50.0.100-10.50.0.150"

[[fleet]]
name = "pcs"
segment = "lab"
count = 2
profile = "pxe21-bios"

[[expect]]
fleet = "pcs"
booted = "none"
"#,
    )
    .unwrap();
    let out = pxelab(
        &["sweep", path.to_str().unwrap(), "--seeds", "5..8"],
        dir.path(),
    );
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}{}", text(&out.stderr));
    assert!(report.contains("held in 0 of 3"), "{report}");
    assert!(report.contains("failed with seed 5, 6, 7"), "{report}");
    let booted = report
        .lines()
        .find(|l| l.trim_start().starts_with("booted "))
        .unwrap_or_else(|| panic!("no booted line: {report}"));
    assert!(
        booted
            .split_whitespace()
            .take(3)
            .eq(["booted", "6", "100.0%"]),
        "{booted}"
    );
}

/// `pxelab run --stats` (issue 6: "memory per idle simulated client is
/// reported by the run"): on stderr only, so the report stays host-independent;
/// without the flag and off a terminal, nothing.
#[test]
fn run_stats_go_to_stderr_and_leave_the_report_alone() {
    let dir = tempfile::tempdir().unwrap();
    let plain = pxelab(&["run", "lab-vs-production"], dir.path());
    let stats = pxelab(&["run", "lab-vs-production", "--stats"], dir.path());
    assert_eq!(plain.stdout, stats.stdout);
    assert!(plain.stderr.is_empty(), "{}", text(&plain.stderr));
    let line = text(&stats.stderr);
    assert!(line.starts_with("stats: 32 clients, "), "{line}");
    if Path::new("/proc/self/status").exists() {
        assert!(line.contains("memory: peak "), "{line}");
        assert!(line.contains(" KiB per client"), "{line}");
    }
}
