//! The fuzz smoke run: every fuzz target, on stable Rust and without libFuzzer,
//! for a short time each. CI runs this (`.ci/run`); `cargo +nightly fuzz` is
//! still the tool for long coverage-guided runs. See `USAGE` and fuzz/README.md.
//!
//! For each target: replay every file in `corpus/<target>/` (the committed
//! seeds and whatever libFuzzer added), then feed it mutations of that corpus
//! (`pxelab_fuzz::mutate`) until its time is up. A panic is a failure: the
//! input is written to `artifacts/<target>/smoke-crash-<sha256>` and the run
//! goes on with the next target, then exits 1. An input that runs longer than
//! `--timeout` is written as `smoke-timeout-<sha256>` and ends the run at once
//! (the stuck call cannot be interrupted).

use std::any::Any;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use std::{env, fs, panic, thread};

use pxelab_fuzz::mutate::{Mutator, Rng};
use pxelab_fuzz::targets::{self, Target};
use sha2::{Digest, Sha256};

const USAGE: &str = "\
Fuzz smoke run: every pxelab fuzz target on stable Rust, without libFuzzer.

usage: smoke [OPTIONS] [FILE...]

For each target, replays every file in CORPUS/<target>/, then feeds it seeded
mutations of those files (bit flips, edge bytes, length fields, inserted,
deleted and duplicated ranges, truncation, splices, edge numbers in text) until
its time is up. A panic writes the input to ARTIFACTS/<target>/smoke-crash-<sha256>
and makes the run exit 1; the seed and the input are printed so the failure can
be replayed.

options:
  --seconds N      mutate each target for N seconds after the replay [default: 10]
  --runs N         stop a target after N mutated inputs (whichever comes first)
  --target NAME    only this target; repeat or separate with commas [default: all]
  --seed S         seed of the mutations, decimal or 0x-hex [default: from the clock]
  --timeout N      a single input running longer than N seconds is a failure [default: 30]
  --max-len N      longest input, in bytes [default: the larger of 4096 and the
                   largest corpus file]
  --corpus DIR     [default: the corpus/ beside fuzz/Cargo.toml]
  --artifacts DIR  [default: the artifacts/ beside fuzz/Cargo.toml]
  --list           print the target names and exit
  -h, --help       print this text

FILE...            replay only these files through the one --target given, with
                   Rust's usual panic output (RUST_BACKTRACE=1 for a backtrace);
                   this is how a smoke-crash file is reproduced

The same seed and corpus give the same inputs in the same order: rerun a
failure with --target NAME --seed S (the seed is printed at start).";

/// How to replay a saved input, printed with each crash.
const REPLAY: &str = "cargo run --profile smoke --manifest-path fuzz/Cargo.toml --no-default-features --example smoke --";

struct Options {
    seconds: f64,
    runs: Option<u64>,
    targets: Vec<(&'static str, Target)>,
    seed: u64,
    seed_given: bool,
    timeout: Duration,
    max_len: Option<usize>,
    corpus: PathBuf,
    artifacts: PathBuf,
    files: Vec<PathBuf>,
}

enum Command {
    Run(Options),
    Print(String),
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: {value:?} is not a valid number"))
}

fn parse_seed(value: &str) -> Result<u64, String> {
    let parsed = match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse(),
    };
    parsed.map_err(|_| format!("--seed: {value:?} is not a decimal or 0x-hex u64"))
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut o = Options {
        seconds: 10.0,
        runs: None,
        targets: Vec::new(),
        seed: 0,
        seed_given: false,
        timeout: Duration::from_secs(30),
        max_len: None,
        corpus: here.join("corpus"),
        artifacts: here.join("artifacts"),
        files: Vec::new(),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Print(USAGE.to_string())),
            "--list" => {
                let names: Vec<&str> = targets::ALL.iter().map(|(n, _)| *n).collect();
                return Ok(Command::Print(names.join("\n")));
            }
            "--seconds" => {
                o.seconds = number(&flag, &value()?)?;
                if !(o.seconds.is_finite() && o.seconds >= 0.0) {
                    return Err("--seconds must be a non-negative number".into());
                }
            }
            "--runs" => o.runs = Some(number(&flag, &value()?)?),
            "--target" => {
                for name in value()?.split(',').filter(|n| !n.is_empty()) {
                    let Some(t) = targets::ALL.iter().find(|(n, _)| *n == name) else {
                        return Err(format!("--target: no target {name:?} (see --list)"));
                    };
                    if !o.targets.iter().any(|(n, _)| *n == name) {
                        o.targets.push(*t);
                    }
                }
            }
            "--seed" => {
                o.seed = parse_seed(&value()?)?;
                o.seed_given = true;
            }
            "--timeout" => {
                let secs: f64 = number(&flag, &value()?)?;
                o.timeout = Duration::try_from_secs_f64(secs)
                    .ok()
                    .filter(|t| !t.is_zero())
                    .ok_or("--timeout must be a positive number of seconds")?;
            }
            "--max-len" => o.max_len = Some(number(&flag, &value()?)?),
            "--corpus" => o.corpus = value()?.into(),
            "--artifacts" => o.artifacts = value()?.into(),
            f if f.starts_with('-') && f != "-" => {
                return Err(format!("unknown option {f} (see --help)"));
            }
            _ => o.files.push(arg.into()),
        }
    }
    if !o.files.is_empty() && o.targets.len() != 1 {
        return Err("replaying files needs exactly one --target".into());
    }
    if o.targets.is_empty() {
        o.targets = targets::ALL.to_vec();
    }
    if !o.seed_given {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        o.seed = Rng::new(nanos as u64 ^ u64::from(std::process::id())).next_u64();
    }
    Ok(Command::Run(o))
}

/// A target's own stream of mutations, so that `--target NAME --seed S` alone
/// replays what a run of every target did for NAME.
fn target_seed(seed: u64, name: &str) -> u64 {
    // FNV-1a of the name: stable across Rust versions, unlike `DefaultHasher`.
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    Rng::new(seed ^ h).next_u64()
}

/// The corpus of one target, in file-name order (directory order differs
/// between machines, and the mutations must not).
fn load_corpus(dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, String> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            paths.push(entry.path());
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| match fs::read(&p) {
            Ok(bytes) => Ok((p, bytes)),
            Err(e) => Err(format!("{}: {e}", p.display())),
        })
        .collect()
}

fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data).iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Writes a failing input where libFuzzer would put it, named by content.
fn save(artifacts: &Path, target: &str, kind: &str, data: &[u8]) -> Result<PathBuf, String> {
    let dir = artifacts.join(target);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("smoke-{kind}-{}", hex_sha256(data)));
    fs::write(&path, data).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// The message and place of the last panic, kept by the quiet hook.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn payload_text(payload: &dyn Any) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(a panic payload that is not text)"
    }
}

fn quiet_panics() {
    panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let text = format!("{}{place}", payload_text(info.payload()));
        *LAST_PANIC.lock().unwrap_or_else(PoisonError::into_inner) = Some(text);
    }));
}

/// What the watchdog sees of the input being run.
struct Current {
    target: &'static str,
    started: Option<Instant>,
    input: Vec<u8>,
}

/// Ends the process when one input runs past the timeout: the call cannot be
/// stopped, so the input is saved and the run fails there.
fn watchdog(current: Arc<Mutex<Current>>, timeout: Duration, artifacts: PathBuf, seed: u64) {
    let tick = (timeout / 4).min(Duration::from_secs(1));
    thread::spawn(move || {
        loop {
            thread::sleep(tick);
            let c = current.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(started) = c.started else { continue };
            if started.elapsed() < timeout {
                continue;
            }
            let saved = match save(&artifacts, c.target, "timeout", &c.input) {
                Ok(p) => p.display().to_string(),
                Err(e) => format!("(not saved: {e})"),
            };
            let t = c.target;
            eprintln!(
                "TIMEOUT in target {t}: one input ran longer than {timeout:?} (seed {seed:#x})\n  input:  {saved}\n  replay: {REPLAY} --target {t} {saved}",
            );
            std::process::exit(1);
        }
    });
}

struct Failure {
    target: &'static str,
    message: String,
    /// Where the failing input was saved; `None` when the run could not start
    /// (an unreadable corpus).
    input: Option<String>,
}

struct Tally {
    corpus: usize,
    executed: u64,
    mutation_secs: f64,
    slowest: Duration,
}

/// Runs one input, catching its panic; returns the panic message.
fn execute(f: Target, data: &[u8], current: &Mutex<Current>) -> Result<Duration, String> {
    {
        let mut c = current.lock().unwrap_or_else(PoisonError::into_inner);
        c.input.clear();
        c.input.extend_from_slice(data);
        c.started = Some(Instant::now());
    }
    let t0 = Instant::now();
    let result = panic::catch_unwind(|| f(data));
    let took = t0.elapsed();
    current
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .started = None;
    match result {
        Ok(()) => Ok(took),
        Err(payload) => Err(LAST_PANIC
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_else(|| payload_text(payload.as_ref()).to_string())),
    }
}

fn smoke_target(
    o: &Options,
    name: &'static str,
    f: Target,
    current: &Mutex<Current>,
) -> Result<Tally, Failure> {
    let corpus = load_corpus(&o.corpus.join(name)).map_err(|message| Failure {
        target: name,
        message,
        input: None,
    })?;
    let seed = target_seed(o.seed, name);
    current
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .target = name;
    let mut tally = Tally {
        corpus: corpus.len(),
        executed: 0,
        mutation_secs: 0.0,
        slowest: Duration::ZERO,
    };
    let crash = |data: &[u8], message: String, what: String| {
        let saved = match save(&o.artifacts, name, "crash", data) {
            Ok(p) => p.display().to_string(),
            Err(e) => format!("(not saved: {e})"),
        };
        Failure {
            target: name,
            message: format!("{message} ({what})"),
            input: Some(saved),
        }
    };

    for (path, data) in &corpus {
        match execute(f, data, current) {
            Ok(took) => tally.slowest = tally.slowest.max(took),
            Err(m) => return Err(crash(data, m, format!("corpus file {}", path.display()))),
        }
        tally.executed += 1;
    }

    let inputs: Vec<Vec<u8>> = corpus.into_iter().map(|(_, d)| d).collect();
    let max_len = o
        .max_len
        .unwrap_or_else(|| inputs.iter().map(Vec::len).max().unwrap_or(0).max(4096));
    let mut mutator = Mutator::new(seed, max_len);
    let mut input = Vec::new();
    let start = Instant::now();
    let budget = Duration::from_secs_f64(o.seconds);
    let mut runs = 0u64;
    while start.elapsed() < budget && o.runs.is_none_or(|max| runs < max) {
        mutator.next_input(&inputs, &mut input);
        runs += 1;
        match execute(f, &input, current) {
            Ok(took) => tally.slowest = tally.slowest.max(took),
            Err(m) => {
                return Err(crash(&input, m, format!("mutated input #{runs}")));
            }
        }
        tally.executed += 1;
    }
    tally.mutation_secs = start.elapsed().as_secs_f64();
    Ok(tally)
}

/// `FILE...` mode: the files through one target with the normal panic output.
fn replay(o: &Options) -> ExitCode {
    let (name, f) = o.targets[0];
    for path in &o.files {
        let data = match fs::read(path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        println!(
            "{name}: replaying {} ({} bytes)",
            path.display(),
            data.len()
        );
        f(&data);
    }
    println!("{name}: {} file(s) ran without a panic", o.files.len());
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let o = match parse_args(env::args().skip(1)) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Print(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("smoke: {e}");
            return ExitCode::from(2);
        }
    };
    if !o.files.is_empty() {
        return replay(&o);
    }

    println!(
        "fuzz smoke: {} target(s), {} s of mutations each{}, seed {:#x}{}",
        o.targets.len(),
        o.seconds,
        o.runs
            .map(|r| format!(" (at most {r} inputs)"))
            .unwrap_or_default(),
        o.seed,
        if o.seed_given {
            ""
        } else {
            " (from the clock)"
        },
    );
    let current = Arc::new(Mutex::new(Current {
        target: "",
        started: None,
        input: Vec::new(),
    }));
    watchdog(Arc::clone(&current), o.timeout, o.artifacts.clone(), o.seed);
    quiet_panics();

    let mut failures = Vec::new();
    for &(name, f) in &o.targets {
        match smoke_target(&o, name, f, &current) {
            Ok(t) => println!(
                "{name:<14} corpus {:>3}  executed {:>9}  mutating {:>5.1} s  {:>8.0}/s  slowest input {:>7.1} ms  ok",
                t.corpus,
                t.executed,
                t.mutation_secs,
                (t.executed - t.corpus as u64) as f64 / t.mutation_secs.max(1e-9),
                t.slowest.as_secs_f64() * 1e3,
            ),
            Err(failure) => {
                println!("{name:<14} FAILED");
                failures.push(failure);
            }
        }
    }
    if failures.is_empty() {
        println!("fuzz smoke: all {} target(s) clean", o.targets.len());
        return ExitCode::SUCCESS;
    }
    for f in &failures {
        let Some(input) = &f.input else {
            eprintln!("\nERROR in target {}: {}", f.target, f.message);
            continue;
        };
        let t = f.target;
        eprintln!(
            "\nCRASH in target {t} (seed {:#x}): {}\n  input:  {input}\n  replay: {REPLAY} --target {t} {input}\n  or:     cargo +nightly fuzz run {t} {input}",
            o.seed, f.message,
        );
    }
    eprintln!(
        "\nfuzz smoke: {} of {} target(s) failed",
        failures.len(),
        o.targets.len()
    );
    ExitCode::FAILURE
}
