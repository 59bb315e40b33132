//! `pxelab`: the command line. Argument parsing and wiring only; everything that
//! speaks a protocol lives in `pxelab-reference`.

mod config;
mod serve;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// A network-boot lab: a reference PXE stack and (soon) a deterministic simulator of
/// the world it lives in.
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
    // Later: `run` (a scenario), `sweep` (many), `conform` (probe a vendor's server).
}

/// What follows the demo when `pxelab` runs with no arguments: how to go further.
const NEXT_STEPS: &str = "\
Serve real PXE clients on an interface (as root, for ports 67/69):

    pxelab serve --interface eth1 --tftp-root /srv/tftp --range 10.0.0.100-10.0.0.199

Next to an existing DHCP server, answer only PXE clients:

    pxelab serve --interface eth1 --tftp-root /srv/tftp --proxy

Run `pxelab serve --help` for every flag and its default.
";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => {
            // The built-in demo: the reference machines booting three clients in
            // virtual time, so a newcomer sees the stack work with nothing installed.
            print!("{}", pxelab_simulator::demo::run());
            println!();
            print!("{NEXT_STEPS}");
            println!();
            let mut cmd = Cli::command();
            cmd.build();
            let serve = cmd.find_subcommand_mut("serve").map(|s| s.render_usage());
            if let Some(usage) = serve {
                println!("{usage}");
            }
            ExitCode::SUCCESS
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
