//! `pxelab`: the command line. Argument parsing and wiring only; everything that
//! speaks a protocol lives in `pxelab-reference`.

mod agent;
mod config;
mod conform;
mod quirks;
mod run;
mod serve;
mod sweep;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A network-boot lab: a reference PXE stack and a deterministic simulator of the
/// world it lives in. With no command, runs the lab-vs-production scenario.
#[derive(Debug, Parser)]
#[command(name = "pxelab", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the reference PXE server (DHCP or ProxyDHCP, boot server on 4011, TFTP)
    /// on a real interface.
    Serve(serve::ServeArgs),
    /// Run a scenario in the simulator and report what happened.
    Run(run::RunArgs),
    /// Run a scenario over many seeds in parallel and report outcome
    /// distributions with 95 % intervals (shardable across CI machines).
    Sweep(sweep::SweepArgs),
    /// Print the JSON Schema of the scenario file format (for editors).
    Schema,
    /// Run the Deployment Server over real TCP (agents connect on port 402).
    DeployServer(agent::DeployServerArgs),
    /// Run one boot of a deployment agent (AClient or Bootworks) against a
    /// Deployment Server, on a file-backed disk.
    Agent(agent::AgentArgs),
    /// List the catalogue of known PXE quirks and how a scenario enables them.
    Quirks(quirks::QuirksArgs),
    /// Check a PXE server on a real interface against the specs, clause by
    /// clause, with virtual PXE clients (needs root or CAP_NET_RAW).
    Conform(conform::ConformArgs),
}

/// What follows the default run when `pxelab` runs with no arguments.
const NEXT_STEPS: &str = "\
That was `pxelab run lab-vs-production`. Next:

    pxelab run --list                       the bundled scenarios, one story each
    pxelab run lab-vs-production-fixed      the same lab, made to work
    pxelab run SCENARIO --pcap run.pcap     every frame, for Wireshark
    pxelab serve --help                     the reference server on a real interface
";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => {
            // A newcomer's first run: the default scenario, then where to go next.
            let status = run::run(run::RunArgs::default());
            run::emit(&format!("\n{NEXT_STEPS}"), status)
        }
        Some(Command::Run(args)) => run::run(args),
        Some(Command::Sweep(args)) => sweep::sweep(args),
        Some(Command::DeployServer(args)) => agent::deploy_server(args),
        Some(Command::Agent(args)) => agent::agent(args),
        Some(Command::Quirks(args)) => quirks::quirks(args),
        Some(Command::Conform(args)) => conform::conform(args),
        Some(Command::Schema) => {
            match serde_json::to_string_pretty(&pxelab_simulator::scenario::schema()) {
                Ok(s) => run::emit(&format!("{s}\n"), ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("pxelab schema: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Serve(args)) => {
            init_logging();
            match serve::run(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pxelab serve: error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`: one line per exchange).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
