//! The text report: what `pxelab run` prints by default.

use std::fmt::Write as _;

use super::{EndReason, Report, Spread};

/// Renders the report for a terminal.
pub fn to_text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "pxelab run {} (seed {})", r.scenario, r.seed);
    let _ = writeln!(out, "{}", r.summary);
    if !r.description.is_empty() {
        out.push('\n');
        for line in r.description.lines() {
            if line.trim().is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, "  {line}");
            }
        }
    }

    out.push_str("\nfleets\n");
    let mut t = Table::new(&[
        "fleet",
        "profile",
        "clients",
        "booted",
        "from",
        "errors",
        "loops",
        "unfinished",
        "boot time p50/p95/max",
    ]);
    for f in &r.fleets {
        let profile = if f.quirks.is_empty() {
            f.profile.clone()
        } else {
            format!("{} +{}", f.profile, f.quirks.join(","))
        };
        t.row(vec![
            f.name.clone(),
            profile,
            f.count.to_string(),
            f.booted.to_string(),
            counts(f.booted_from.iter().map(|(k, v)| (k.as_str(), *v as u64))),
            counts(f.errors.iter().map(|(k, v)| (k.as_str(), *v as u64))),
            f.looping.to_string(),
            f.unfinished.to_string(),
            spread(f.boot_time),
        ]);
    }
    t.write(&mut out);

    out.push_str("\nservers\n");
    let mut t = Table::new(&[
        "server",
        "kind",
        "address",
        "answers",
        "ignored",
        "offer latency p50/p95/max",
        "tftp",
        "booted",
    ]);
    for s in &r.servers {
        t.row(vec![
            s.name.clone(),
            s.kind.clone(),
            s.address.clone(),
            counts(s.answers.iter().map(|(k, v)| (k.as_str(), *v))),
            s.ignored.to_string(),
            spread(s.offer_latency),
            counts(s.tftp.iter().map(|(k, v)| (k.as_str(), *v))),
            s.booted_clients.to_string(),
        ]);
    }
    t.write(&mut out);

    for d in &r.deployments {
        let _ = writeln!(
            out,
            "\ndeployment {} on {} ({}, {})",
            d.name, d.server, d.mode, d.transfer
        );
        let _ = writeln!(
            out,
            "  jobs: {}",
            if d.jobs.is_empty() {
                "none".to_string()
            } else {
                counts(d.jobs.iter().map(|(k, v)| (k.as_str(), *v as u64)))
            }
        );
        for (reason, n) in &d.refused {
            let _ = writeln!(out, "  refused when scheduled ({n}): {reason}");
        }
        for w in &d.identity_warnings {
            let _ = writeln!(out, "  identity: {w}");
        }
        if let Some(i) = &d.imaging {
            let _ = writeln!(
                out,
                "  imaging ({}): {} machines, {} MiB in all, fleet imaged in {} ({} to {}); {:.0} Mb/s delivered, {:.0} Mb/s from the server; per machine p50/p95/max {}",
                if i.multicast { "multicast" } else { "unicast" },
                i.machines,
                i.bytes >> 20,
                i.fleet_time,
                i.first_start,
                i.last_end,
                i.throughput_mbps,
                i.server_mbps,
                spread(i.per_machine),
            );
        }
        for h in &d.history {
            let _ = writeln!(out, "  {h}");
        }
    }

    out.push_str("\nfindings\n");
    if r.findings.is_empty() {
        out.push_str("  none\n");
    }
    for f in &r.findings {
        let _ = writeln!(out, "  {}: {}", f.kind, f.message);
        for d in &f.detail {
            let _ = writeln!(out, "      {d}");
        }
    }

    if !r.clients.is_empty() {
        out.push_str("\nclients\n");
        for c in &r.clients {
            let at = c.at.map(|t| format!(" at {t}")).unwrap_or_default();
            let _ = writeln!(out, "  {} {}  {}{}", c.name, c.mac, c.outcome, at);
            if c.path.len() > 8 {
                // A managed machine's story: one step per line.
                for step in &c.path {
                    let _ = writeln!(out, "      {step}");
                }
            } else if !c.path.is_empty() {
                let _ = writeln!(out, "      {}", c.path.join(" → "));
            }
        }
    }

    out.push_str("\nexpectations\n");
    if r.expectations.is_empty() {
        out.push_str("  none\n");
    }
    for e in &r.expectations {
        let mark = if e.passed { "ok  " } else { "FAIL" };
        let _ = writeln!(
            out,
            "  {mark} line {}: {} ({})",
            e.line, e.expectation, e.observed
        );
    }

    let failed = r.expectations.iter().filter(|e| !e.passed).count();
    let end = match r.end {
        EndReason::AllClientsDone => "every client done",
        EndReason::TimeLimit => "time limit",
        EndReason::Quiet => "nothing left to happen",
    };
    let _ = writeln!(
        out,
        "\nresult: {} of {} expectations held; ended at {} ({end}); {} events, {} frames, {} lost, {} blocked",
        r.expectations.len() - failed,
        r.expectations.len(),
        r.ended_at,
        r.events,
        r.network.frames,
        r.network.lost,
        r.network.blocked,
    );
    out
}

fn spread(s: Option<Spread>) -> String {
    s.map_or_else(
        || "-".to_string(),
        |s| format!("{} / {} / {}", s.p50, s.p95, s.max),
    )
}

fn counts<'a>(items: impl Iterator<Item = (&'a str, u64)>) -> String {
    let parts: Vec<String> = items
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(", ")
    }
}

/// Left-aligned columns, two spaces apart, indented two.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn write(&self, out: &mut String) {
        let columns = self.rows[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &self.rows {
            let mut line = String::from(" ");
            for (c, cell) in row.iter().enumerate() {
                let pad = widths[c] - cell.chars().count();
                line.push(' ');
                line.push_str(cell);
                if c + 1 < columns {
                    line.push_str(&" ".repeat(pad + 1));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}
