//! `pxelab quirks`: the catalogue of real-world firmware, server and network
//! quirks (research §3), and how a scenario reproduces each one.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use pxelab_simulator::firmware::{CatalogEntry, QuirkStatus, QuirkSwitch, catalog};

/// Options of `pxelab quirks`.
#[derive(Debug, Args)]
#[command(after_help = "\
Lists every known PXE quirk (research rows Q1-Q33): real firmware, server and
network behaviour that breaks network boots in the field, with the source it
was seen in and whether the simulator models it.

Implemented quirks are switched on in a scenario file:
  [[fleet]]  quirks = [\"edk2-bz469\", ...]   client (firmware) quirks
  [[server]] quirks = [\"stray-option60\"]    server quirks (dhcp, dhcp-pxe, rogue)
Others are built into a profile or a server kind, or set by another scenario
key; the STATUS column and --json say which. Not-modelled quirks say why.")]
pub struct QuirksArgs {
    /// Print the whole catalogue as JSON: every entry with its source, the knob
    /// that switches it on, or the reason it is not modelled.
    #[arg(long)]
    pub json: bool,
}

/// Where an entry is switched on, for the table.
fn how(e: &CatalogEntry) -> &'static str {
    match (e.switch, e.status) {
        (QuirkSwitch::FleetQuirk, _) => "fleet quirk",
        (QuirkSwitch::ServerQuirk, _) => "server quirk",
        (QuirkSwitch::None, QuirkStatus::Implemented { .. }) => "built in",
        (QuirkSwitch::None, QuirkStatus::NotModelled { .. }) => "not modelled",
    }
}

/// The text table.
fn table(entries: &[CatalogEntry]) -> String {
    let width = entries.iter().map(|e| e.id.len()).max().unwrap_or(2);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:<4}  {:<8}  {:<12}  DESCRIPTION",
        "ID", "Q", "SCOPE", "STATUS"
    );
    for e in entries {
        let _ = writeln!(
            out,
            "{:<width$}  {:<4}  {:<8}  {:<12}  {}",
            e.id,
            e.research,
            e.scope.name(),
            how(e),
            e.description
        );
    }
    let implemented = entries.iter().filter(|e| e.status.is_implemented()).count();
    let _ = writeln!(
        out,
        "\n{} quirks: {implemented} implemented, {} not modelled.\n\
         Enable by id: [[fleet]] quirks = [\"<fleet quirk>\"], [[server]] quirks = [\"<server quirk>\"].\n\
         `pxelab quirks --json` gives each one's source, knob, or why it is not modelled.",
        entries.len(),
        entries.len() - implemented
    );
    out
}

/// Runs `pxelab quirks`.
pub fn quirks(args: QuirksArgs) -> ExitCode {
    let entries = catalog();
    if !args.json {
        return crate::run::emit(&table(entries), ExitCode::SUCCESS);
    }
    let implemented = entries.iter().filter(|e| e.status.is_implemented()).count();
    let doc = serde_json::json!({
        "count": entries.len(),
        "implemented": implemented,
        "not_modelled": entries.len() - implemented,
        "quirks": entries,
    });
    match serde_json::to_string_pretty(&doc) {
        Ok(s) => crate::run::emit(&format!("{s}\n"), ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("pxelab quirks: {e}");
            ExitCode::FAILURE
        }
    }
}
