//! `pxelab run`: load a scenario (bundled or a file), run it, print the report.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use pxelab_simulator::report::{self, Report};
use pxelab_simulator::scenario::{self, Scenario};
use pxelab_simulator::world::{self, Progress, RunOptions};

/// The scenario `pxelab run` (and `pxelab` alone) runs when none is named.
pub const DEFAULT_SCENARIO: &str = "lab-vs-production";

/// Exit status when an expectation fails.
const EXIT_EXPECTATION_FAILED: u8 = 1;
/// Exit status for a scenario that cannot be read, parsed or built.
const EXIT_BAD_SCENARIO: u8 = 2;

/// Flags of `pxelab run`.
#[derive(Debug, Args, Default)]
#[command(after_help = "\
SCENARIO is the name of a bundled scenario (see --list) or the path of a scenario file
(TOML; `pxelab schema` prints its JSON Schema). Without it, lab-vs-production runs.

Exit status: 0 when every [[expect]] of the scenario holds, 1 when one fails (the report
says which), 2 when the scenario cannot be read, parsed or built.

Runs are deterministic: the same scenario and seed give a byte-identical report and pcap
on any machine.

Examples:
  pxelab run --list
  pxelab run proxydhcp-bios-uefi
  pxelab run ipxe-chainload-loop --pcap loop.pcap
  pxelab run groundhog-day --svg timeline.svg
  pxelab run my-lab.toml --seed 7 --format junit > results.xml")]
pub struct RunArgs {
    /// A bundled scenario's name, or a path to a scenario file.
    #[arg(value_name = "SCENARIO")]
    pub scenario: Option<String>,

    /// List the bundled scenarios, one line each, and exit.
    #[arg(long)]
    pub list: bool,

    /// Seed for every random draw of the run (default: the scenario's `seed`).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write every frame of the run to this pcap file (opens in Wireshark).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,

    /// Write a timeline of the run to this SVG file: a row per client (a band
    /// per fleet for runs of more than 50 clients) with its stages over virtual
    /// time, the servers' answers, failures and boot loops.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Print the host's cost of the run on stderr: wall time and peak memory
    /// (per simulated client). Printed anyway when stderr is a terminal; never
    /// part of the report, which stays host-independent.
    #[arg(long)]
    pub stats: bool,
}

/// How the report is printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: fleets, servers, findings, expectations.
    #[default]
    Text,
    /// The whole report as JSON (stable field names).
    Json,
    /// JUnit XML: one test case per expectation and per finding.
    Junit,
}

/// Runs `pxelab run` and returns the process exit status.
pub fn run(args: RunArgs) -> ExitCode {
    if args.list {
        let list: String = scenario::bundled()
            .iter()
            .map(|b| format!("{:<26} {}\n", b.name, b.summary))
            .collect();
        return emit(&list, ExitCode::SUCCESS);
    }
    let name = args.scenario.as_deref().unwrap_or(DEFAULT_SCENARIO);
    let scenario = match load(name) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pxelab run: {e}");
            return ExitCode::from(EXIT_BAD_SCENARIO);
        }
    };
    let pcap: Option<Box<dyn Write>> = match &args.pcap {
        None => None,
        Some(path) => match File::create(path) {
            Ok(f) => Some(Box::new(BufWriter::new(f))),
            Err(e) => {
                eprintln!("pxelab run: cannot create {}: {e}", path.display());
                return ExitCode::from(EXIT_BAD_SCENARIO);
            }
        },
    };
    let svg: Option<Box<dyn Write>> = match &args.svg {
        None => None,
        Some(path) => match File::create(path) {
            Ok(f) => Some(Box::new(BufWriter::new(f))),
            Err(e) => {
                eprintln!("pxelab run: cannot create {}: {e}", path.display());
                return ExitCode::from(EXIT_BAD_SCENARIO);
            }
        },
    };
    let bar = progress_bar();
    let options = RunOptions {
        seed: args.seed,
        pcap,
        svg,
        progress: Some(Box::new({
            let bar = bar.clone();
            move |p: Progress| {
                bar.set_length(p.clients as u64);
                bar.set_position(p.done as u64);
                bar.set_message(format!("virtual {}", p.now));
            }
        })),
    };
    let started = std::time::Instant::now();
    let baseline = peak_rss_kib();
    let result = world::run(&scenario, options);
    bar.finish_and_clear();
    if (args.stats || std::io::stderr().is_terminal())
        && let Ok(report) = &result
    {
        eprintln!("{}", host_stats(report, started.elapsed(), baseline));
    }
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pxelab run: {}: {e}", scenario.name);
            return ExitCode::from(EXIT_BAD_SCENARIO);
        }
    };
    let status = if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_EXPECTATION_FAILED)
    };
    emit(&render(&report, args.format), status)
}

/// Writes `text` to stdout and returns `status`. A reader that went away
/// (`pxelab run | head`) ends the output quietly rather than with a panic;
/// any other write error is reported.
pub fn emit(text: &str, status: ExitCode) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => status,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => status,
        Err(e) => {
            eprintln!("pxelab: cannot write the report: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A bar of clients done, on stderr. indicatif draws nothing when stderr is
/// not a terminal (CI logs, pipes), and short runs end before it would show.
fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} clients done, {msg} ({elapsed})")
    {
        bar.set_style(style);
    }
    bar
}

/// Peak resident memory of this process so far (`VmHWM` of
/// /proc/self/status, in KiB), where the kernel reports it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One line of what the run cost this host: wall time, peak RSS, and the
/// peak's growth during the run divided by the clients (the memory a
/// simulated client costs: most of a storm's clients sit idle, waiting on
/// their timers, at the peak).
fn host_stats(report: &Report, wall: std::time::Duration, baseline: Option<u64>) -> String {
    let clients: u64 = report.fleets.iter().map(|f| u64::from(f.count)).sum();
    let mut line = format!(
        "stats: {clients} clients, {} events, wall {:.1}s",
        report.events,
        wall.as_secs_f64()
    );
    if let Some(peak) = peak_rss_kib() {
        line += &format!(", memory: peak {} MiB RSS", peak / 1024);
        if clients > 0 {
            let grown = peak.saturating_sub(baseline.unwrap_or(0));
            line += &format!(", {:.1} KiB per client", grown as f64 / clients as f64);
        }
    }
    line
}

/// The report in the requested format.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => report::to_text(report),
        Format::Json => report.to_json() + "\n",
        Format::Junit => report::to_junit(report),
    }
}

/// A bundled scenario by name, else a file by path. A name that is neither gets
/// the list of bundled names.
pub(crate) fn load(name: &str) -> Result<Scenario, String> {
    if let Some(b) = scenario::bundled().iter().find(|b| b.name == name) {
        return Scenario::from_toml(b.source, &format!("scenarios/{}.toml", b.name))
            .map_err(|e| e.to_string());
    }
    let path = PathBuf::from(name);
    match std::fs::read_to_string(&path) {
        Ok(src) => Scenario::from_toml(&src, name).map_err(|e| e.to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let names: Vec<&str> = scenario::bundled().iter().map(|b| b.name).collect();
            Err(format!(
                "{name:?} is neither a bundled scenario nor a file (bundled: {})",
                names.join(", ")
            ))
        }
        Err(e) => Err(format!("cannot read {name}: {e}")),
    }
}
