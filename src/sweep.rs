//! `pxelab sweep`: one scenario over many seeds, in parallel, and what the
//! outcomes look like as distributions rather than one run's story.
//!
//! Each seed runs the whole world (`pxelab_simulator::world::run`); only a
//! small per-seed tally is kept (per fleet: booted, per server, per error code,
//! looped, unfinished; per expectation: held or not; finding kinds). Tallies are
//! aggregated in seed order, so the report is the same whatever `--jobs` is.
//! `--format json` prints the tallies themselves, so the shards of a CI matrix
//! (`--shard K/N`) can be combined with `--merge`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use pxelab_simulator::report::Report;
use pxelab_simulator::scenario::Scenario;
use pxelab_simulator::world::{self, RunOptions};

use crate::run::{emit, load};

/// Exit status when an expectation failed in at least one seed.
const EXIT_EXPECTATION_FAILED: u8 = 1;
/// Exit status for bad input: a scenario, range, shard or tally file that
/// cannot be used.
const EXIT_BAD_INPUT: u8 = 2;
/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Flags of `pxelab sweep`.
#[derive(Debug, Args)]
#[command(after_help = "\
Runs SCENARIO (a bundled name or a file, as for `pxelab run`) once per seed and
aggregates the outcomes: per fleet, the share of clients that booted, booted from each
server, failed with each error code, looped or did not finish; per expectation, the
seeds it held in; per finding, the seeds it appeared in. Each share comes with a 95 %
Wilson score interval. For client shares the interval counts every client of every
seed as one trial (clients of one run influence each other, so read it as a guide);
for expectations and findings, one trial per seed.

--seeds A..B is half-open, as in Rust: 1..9 runs seeds 1 to 8. A must be below B.

--shard K/N runs only the K-th of every N seeds of the range (K counts from 1): with
--seeds 0..10, 1/3 runs 0, 3, 6, 9; 2/3 runs 1, 4, 7; 3/3 runs 2, 5, 8. A CI matrix
of N jobs covers the range; each job writes --format json, and
`pxelab sweep --merge FILE...` combines them into one report.

The report is the same whatever --jobs is: seeds are aggregated in seed order. A
progress bar shows on a terminal; nothing but the report is printed otherwise.

Exit status: 0 when every expectation held in every seed, 1 when one failed in some
seed (the report lists the seeds), 2 for bad input (scenario, range, shard, files).

Examples:
  pxelab sweep lab-vs-production --seeds 1..101
  pxelab sweep my-lab.toml --seeds 0..1000 --shard 2/4 --format json > shard2.json
  pxelab sweep --merge shard1.json shard2.json shard3.json shard4.json")]
pub struct SweepArgs {
    /// A bundled scenario's name, or a path to a scenario file.
    #[arg(value_name = "SCENARIO", required_unless_present = "merge")]
    pub scenario: Option<String>,

    /// The seeds to run, A..B: from A up to but not including B.
    #[arg(long, value_name = "A..B", required_unless_present = "merge")]
    pub seeds: Option<String>,

    /// Runs at the same time (default: the host's available parallelism).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Run only the K-th of every N seeds (1 <= K <= N), for a CI matrix.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,

    /// Output format: text for people, json for the per-seed tallies (input of --merge).
    #[arg(long, value_enum, default_value_t = SweepFormat::Text)]
    pub format: SweepFormat,

    /// Combine the --format json outputs of earlier sweeps (shards) into one
    /// report instead of running anything.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["scenario", "seeds", "shard", "jobs"])]
    pub merge: Vec<PathBuf>,
}

/// How a sweep is printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum SweepFormat {
    /// Distributions with 95 % intervals.
    #[default]
    Text,
    /// The per-seed tallies, for `--merge` and for tools.
    Json,
}

/// A half-open range of seeds, `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedRange {
    /// First seed.
    pub start: u64,
    /// One past the last seed.
    pub end: u64,
}

/// Which part of a range a run covers: seeds at index ≡ K-1 (mod N).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 1-based.
    pub index: u64,
    /// Shards in all.
    pub count: u64,
}

/// Parses `A..B` (half-open, A < B).
pub fn parse_seeds(s: &str) -> Result<SeedRange, String> {
    let Some((a, b)) = s.split_once("..") else {
        return Err(format!(
            "--seeds {s:?}: expected A..B, e.g. 1..101 (seeds 1 to 100)"
        ));
    };
    if b.starts_with('=') {
        return Err(format!(
            "--seeds {s:?}: the range is half-open, write A..B with B one past the last seed"
        ));
    }
    let num = |v: &str, which: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|e| format!("--seeds {s:?}: {which} {v:?} is not a seed (0 to 2^64-1): {e}"))
    };
    let (start, end) = (num(a, "start")?, num(b, "end")?);
    if start >= end {
        return Err(format!(
            "--seeds {s:?}: empty range; A..B runs A up to but not including B, so A must be below B"
        ));
    }
    Ok(SeedRange { start, end })
}

/// Parses `K/N` (1 <= K <= N).
pub fn parse_shard(s: &str) -> Result<Shard, String> {
    let Some((k, n)) = s.split_once('/') else {
        return Err(format!("--shard {s:?}: expected K/N, e.g. 2/4"));
    };
    let num = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|e| format!("--shard {s:?}: {v:?} is not a number: {e}"))
    };
    let (index, count) = (num(k)?, num(n)?);
    if count == 0 || index == 0 || index > count {
        return Err(format!(
            "--shard {s:?}: K counts from 1 to N (N at least 1), e.g. 1/{n} to {n}/{n}",
            n = count.max(1)
        ));
    }
    Ok(Shard { index, count })
}

impl SeedRange {
    /// The seeds of the range a shard runs, in order.
    pub fn seeds(&self, shard: Option<Shard>) -> Vec<u64> {
        let (skip, step) = match shard {
            None => (0, 1),
            Some(s) => (s.index - 1, s.count),
        };
        let first = self.start.saturating_add(skip);
        (0..)
            .map_while(|i: u64| {
                let seed = first.checked_add(i.checked_mul(step)?)?;
                (seed < self.end).then_some(seed)
            })
            .collect()
    }
}

/// A 95 % Wilson score interval for `k` successes in `n` trials, as
/// (low, high) fractions. Wilson rather than the normal approximation: it stays
/// inside [0, 1] and is honest at 0 % and 100 %, which sweeps hit often.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // At 0 and n the bound is exactly 0 or 1; computed, it misses by an ulp.
    let low = if k == 0.0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let high = if k == n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (low, high)
}

/// One fleet's outcomes in one seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetTally {
    /// Fleet name.
    pub name: String,
    /// Clients.
    pub count: u64,
    /// Booted.
    pub booted: u64,
    /// Booted, per server.
    pub booted_from: BTreeMap<String, u64>,
    /// Failed, per error code.
    pub errors: BTreeMap<String, u64>,
    /// Stopped in a boot loop.
    pub looping: u64,
    /// No outcome when the run ended.
    pub unfinished: u64,
}

/// One seed's run, reduced to what a sweep aggregates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedTally {
    /// The seed.
    pub seed: u64,
    /// Per fleet, in scenario order.
    pub fleets: Vec<FleetTally>,
    /// Per expectation, in scenario order: whether it held.
    pub expectations: Vec<bool>,
    /// Finding kinds seen, with how many findings of each.
    pub findings: BTreeMap<String, u64>,
}

/// An `[[expect]]` of the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectationId {
    /// Its line in the scenario file.
    pub line: usize,
    /// In words.
    pub expectation: String,
}

/// What `--format json` prints and `--merge` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepTallies {
    /// Scenario name.
    pub scenario: String,
    /// The range asked for.
    pub seeds: SeedRange,
    /// The shard run (absent for a whole range or a merge).
    pub shard: Option<Shard>,
    /// The scenario's expectations, in order (indexes of `SeedTally::expectations`).
    pub expectations: Vec<ExpectationId>,
    /// One per seed run, in seed order.
    pub runs: Vec<SeedTally>,
}

impl SeedTally {
    fn of(report: &Report) -> SeedTally {
        let wide = |m: &BTreeMap<String, u32>| -> BTreeMap<String, u64> {
            m.iter().map(|(k, v)| (k.clone(), u64::from(*v))).collect()
        };
        let mut findings = BTreeMap::new();
        for f in &report.findings {
            *findings.entry(f.kind.clone()).or_insert(0) += 1;
        }
        SeedTally {
            seed: report.seed,
            fleets: report
                .fleets
                .iter()
                .map(|f| FleetTally {
                    name: f.name.clone(),
                    count: u64::from(f.count),
                    booted: u64::from(f.booted),
                    booted_from: wide(&f.booted_from),
                    errors: wide(&f.errors),
                    looping: u64::from(f.looping),
                    unfinished: u64::from(f.unfinished),
                })
                .collect(),
            expectations: report.expectations.iter().map(|e| e.passed).collect(),
            findings,
        }
    }
}

/// Runs `pxelab sweep` and returns the process exit status.
pub fn sweep(args: SweepArgs) -> ExitCode {
    let bad = |msg: String| {
        eprintln!("pxelab sweep: {msg}");
        ExitCode::from(EXIT_BAD_INPUT)
    };
    let tallies = if args.merge.is_empty() {
        match run_sweep(&args) {
            Ok(t) => t,
            Err(msg) => return bad(msg),
        }
    } else {
        match merge(&args.merge) {
            Ok(t) => t,
            Err(msg) => return bad(msg),
        }
    };
    let passed = tallies
        .runs
        .iter()
        .all(|r| r.expectations.iter().all(|&held| held));
    let status = if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_EXPECTATION_FAILED)
    };
    let out = match args.format {
        SweepFormat::Text => to_text(&tallies),
        SweepFormat::Json => match serde_json::to_string_pretty(&tallies) {
            Ok(s) => s + "\n",
            Err(e) => return bad(format!("cannot serialise the tallies: {e}")),
        },
    };
    emit(&out, status)
}

/// Runs the seeds of `args` on `--jobs` threads.
fn run_sweep(args: &SweepArgs) -> Result<SweepTallies, String> {
    let name = args.scenario.as_deref().unwrap_or_default();
    let range = parse_seeds(args.seeds.as_deref().unwrap_or_default())?;
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    let jobs = match args.jobs {
        Some(0) => return Err("--jobs 0: at least one job must run".into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let scenario = load(name)?;
    let seeds = range.seeds(shard);
    let results =
        run_seeds(&scenario, &seeds, jobs).map_err(|e| format!("{}: {e}", scenario.name))?;
    let expectations = results
        .first()
        .map(|(r, _)| {
            r.iter()
                .map(|e| ExpectationId {
                    line: e.line,
                    expectation: e.expectation.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(SweepTallies {
        scenario: scenario.name.clone(),
        seeds: range,
        shard,
        expectations,
        runs: results.into_iter().map(|(_, t)| t).collect(),
    })
}

type SeedResult = (Vec<pxelab_simulator::report::ExpectationResult>, SeedTally);

/// Every seed's tally, in the order of `seeds`. Threads take the next seed
/// from a shared counter; each result lands in its seed's slot, so the order
/// (and the report) does not depend on which thread ran what.
fn run_seeds(scenario: &Scenario, seeds: &[u64], jobs: usize) -> Result<Vec<SeedResult>, String> {
    let bar = progress_bar(seeds.len() as u64);
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Result<SeedResult, String>>>> = Mutex::new(vec![None; seeds.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(seeds.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { break };
                    let options = RunOptions {
                        seed: Some(seed),
                        ..RunOptions::default()
                    };
                    let result = world::run(scenario, options)
                        .map(|r| (r.expectations.clone(), SeedTally::of(&r)))
                        .map_err(|e| format!("seed {seed}: {e}"));
                    let failed = result.is_err();
                    if let Ok(mut slots) = slots.lock() {
                        slots[i] = Some(result);
                    }
                    bar.inc(1);
                    if failed {
                        // A world that cannot be built for one seed will not
                        // be for the next either: stop handing out seeds.
                        next.store(seeds.len(), Ordering::Relaxed);
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    let slots = slots
        .into_inner()
        .map_err(|_| "a sweep thread panicked".to_string())?;
    let mut out = Vec::with_capacity(slots.len());
    for (slot, seed) in slots.into_iter().zip(seeds) {
        match slot {
            Some(r) => out.push(r?),
            None => return Err(format!("seed {seed} did not run")),
        }
    }
    Ok(out)
}

/// A bar of seeds done, on stderr; indicatif draws nothing when stderr is not
/// a terminal (as for `pxelab run`).
fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(4));
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds done ({elapsed}, {eta} left)")
    {
        bar.set_style(style);
    }
    bar
}

/// Combines the tallies of several `--format json` sweeps of one scenario.
fn merge(files: &[PathBuf]) -> Result<SweepTallies, String> {
    let mut merged: Option<SweepTallies> = None;
    for path in files {
        let src = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let t: SweepTallies = serde_json::from_str(&src).map_err(|e| {
            format!(
                "{}: not the --format json output of pxelab sweep: {e}",
                path.display()
            )
        })?;
        match &mut merged {
            None => merged = Some(t),
            Some(m) => {
                if t.scenario != m.scenario || t.expectations != m.expectations {
                    return Err(format!(
                        "{}: a sweep of {:?}, not of {:?} with the same expectations; only sweeps of one scenario merge",
                        path.display(),
                        t.scenario,
                        m.scenario
                    ));
                }
                m.seeds.start = m.seeds.start.min(t.seeds.start);
                m.seeds.end = m.seeds.end.max(t.seeds.end);
                m.runs.extend(t.runs);
            }
        }
    }
    let mut m = merged.ok_or("--merge: no files")?;
    m.shard = None;
    m.runs.sort_by_key(|r| r.seed);
    if let Some(w) = m.runs.windows(2).find(|w| w[0].seed == w[1].seed) {
        return Err(format!(
            "seed {} appears in more than one file; merge each shard once",
            w[0].seed
        ));
    }
    Ok(m)
}

/// `k` of `n` as a percentage with its 95 % interval.
fn share(k: u64, n: u64) -> String {
    let (lo, hi) = wilson(k, n);
    let pct = if n == 0 {
        0.0
    } else {
        100.0 * k as f64 / n as f64
    };
    format!(
        "{pct:5.1}%  (95% interval {:.1}–{:.1}%)",
        100.0 * lo,
        100.0 * hi
    )
}

/// The sweep for people: distributions per fleet, expectations, findings, verdict.
pub fn to_text(t: &SweepTallies) -> String {
    let mut o = String::new();
    let runs = t.runs.len() as u64;
    let _ = write!(
        o,
        "pxelab sweep {}: seeds {}..{}",
        t.scenario, t.seeds.start, t.seeds.end
    );
    if let Some(s) = t.shard {
        let _ = write!(o, ", shard {}/{}", s.index, s.count);
    }
    let _ = writeln!(o, " ({runs} runs)");
    let expected = t.seeds.seeds(t.shard).len() as u64;
    if runs != expected {
        let _ = writeln!(
            o,
            "  note: {runs} of the range's {expected} seeds are covered (merge every shard to cover them all)"
        );
    }

    // Fleets, in scenario order (every seed has the same fleets).
    let names: Vec<&str> = t
        .runs
        .first()
        .map(|r| r.fleets.iter().map(|f| f.name.as_str()).collect())
        .unwrap_or_default();
    for (i, name) in names.iter().enumerate() {
        let fleets: Vec<&FleetTally> = t.runs.iter().filter_map(|r| r.fleets.get(i)).collect();
        let n: u64 = fleets.iter().map(|f| f.count).sum();
        let sum = |get: &dyn Fn(&FleetTally) -> u64| fleets.iter().map(|f| get(f)).sum::<u64>();
        let mut from: BTreeMap<&str, u64> = BTreeMap::new();
        let mut errors: BTreeMap<&str, u64> = BTreeMap::new();
        for f in &fleets {
            for (k, v) in &f.booted_from {
                *from.entry(k).or_insert(0) += v;
            }
            for (k, v) in &f.errors {
                *errors.entry(k).or_insert(0) += v;
            }
        }
        let _ = writeln!(o, "\nfleet {name}: {n} client boots over {runs} runs");
        let mut row = |label: String, k: u64| {
            let _ = writeln!(o, "  {label:<24} {k:>8}  {}", share(k, n));
        };
        row("booted".into(), sum(&|f| f.booted));
        for (server, k) in &from {
            row(format!("booted from {server}"), *k);
        }
        for (code, k) in &errors {
            row(format!("failed {code}"), *k);
        }
        let looping = sum(&|f| f.looping);
        if looping > 0 {
            row("looped".into(), looping);
        }
        let unfinished = sum(&|f| f.unfinished);
        if unfinished > 0 {
            row("unfinished".into(), unfinished);
        }
    }

    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &t.runs {
        for k in r.findings.keys() {
            *kinds.entry(k).or_insert(0) += 1;
        }
    }
    if !kinds.is_empty() {
        let _ = writeln!(o, "\nfindings (runs they appeared in)");
        for (kind, k) in &kinds {
            let _ = writeln!(o, "  {kind:<32} {k:>6} of {runs}  {}", share(*k, runs));
        }
    }

    let mut failed_any = false;
    if !t.expectations.is_empty() {
        let _ = writeln!(o, "\nexpectations (runs they held in)");
        for (i, e) in t.expectations.iter().enumerate() {
            let failing: Vec<u64> = t
                .runs
                .iter()
                .filter(|r| !r.expectations.get(i).copied().unwrap_or(false))
                .map(|r| r.seed)
                .collect();
            let held = runs - failing.len() as u64;
            let mark = if failing.is_empty() { "ok  " } else { "FAIL" };
            let _ = writeln!(o, "  {mark} line {}: {}", e.line, e.expectation);
            let _ = writeln!(o, "       held in {held} of {runs}  {}", share(held, runs));
            if !failing.is_empty() {
                failed_any = true;
                let shown: Vec<String> = failing.iter().take(10).map(u64::to_string).collect();
                let more = if failing.len() > 10 {
                    format!(" and {} more", failing.len() - 10)
                } else {
                    String::new()
                };
                let _ = writeln!(o, "       failed with seed {}{more}", shown.join(", "));
            }
        }
    }
    let _ = writeln!(
        o,
        "\n{}",
        if failed_any {
            "verdict: an expectation failed in some runs (exit status 1); `pxelab run SCENARIO --seed N` tells one run's story"
        } else {
            "verdict: every expectation held in every run"
        }
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Newcombe (1998), "Two-sided confidence intervals for the single
    /// proportion", Statistics in Medicine 17:857-872, table I, method 3
    /// (score interval without continuity correction).
    #[test]
    fn wilson_matches_newcombes_published_intervals() {
        for (k, n, lo, hi) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
        ] {
            let (l, h) = wilson(k, n);
            assert!((l - lo).abs() < 5e-5, "{k}/{n}: low {l} != {lo}");
            assert!((h - hi).abs() < 5e-5, "{k}/{n}: high {h} != {hi}");
        }
    }

    #[test]
    fn wilson_is_symmetric_and_closed_at_the_ends() {
        let (l, h) = wilson(10, 10);
        assert_eq!(h, 1.0);
        let (l0, h0) = wilson(0, 10);
        assert_eq!(l0, 0.0);
        assert!((l - (1.0 - h0)).abs() < 1e-12);
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn seed_ranges_are_half_open_and_shards_partition_them() {
        let r = parse_seeds("0..10").unwrap();
        assert_eq!(r.seeds(None), (0..10).collect::<Vec<_>>());
        let s = |k| r.seeds(Some(parse_shard(&format!("{k}/3")).unwrap()));
        assert_eq!(s(1), vec![0, 3, 6, 9]);
        assert_eq!(s(2), vec![1, 4, 7]);
        assert_eq!(s(3), vec![2, 5, 8]);
        let top = parse_seeds("18446744073709551610..18446744073709551615").unwrap();
        assert_eq!(top.seeds(Some(parse_shard("2/2").unwrap())).len(), 2);
    }

    #[test]
    fn bad_ranges_and_shards_say_what_is_expected() {
        for bad in ["5..5", "9..1", "1-9", "a..3", "1..=9", "..4"] {
            assert!(parse_seeds(bad).is_err(), "{bad}");
        }
        for bad in ["0/2", "3/2", "1/0", "2", "x/2"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
