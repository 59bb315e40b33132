//! The conformance report: text grouped by area, JSON, JUnit XML.
//!
//! JSON field names are stable (documented on each field): `mode`, `server`,
//! `clients`, `latency`, `summary`, `results[]` with `id`, `area`, `level`,
//! `clause`, `profile`, `title`, `outcome` (`passed`, `failed`,
//! `not-supported`, `skipped`), `detail`, `evidence[]`.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use super::bench::Bench;
use super::checks::{Area, Check, Level};
use super::{Mode, Outcome, Verdict};

/// Reply latency over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    /// DISCOVER to the server's offer, median, milliseconds.
    pub offer_p50_ms: Option<f64>,
    /// The same, 95th percentile.
    pub offer_p95_ms: Option<f64>,
    /// Offers measured.
    pub offers: usize,
    /// RRQ to the first answer, median, milliseconds.
    pub tftp_p50_ms: Option<f64>,
    /// The same, 95th percentile.
    pub tftp_p95_ms: Option<f64>,
    /// Reads measured.
    pub tftp_reads: usize,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// Check id.
    pub id: String,
    /// Report section.
    pub area: Area,
    /// MUST / SHOULD / MAY.
    pub level: Level,
    /// Clause tested.
    pub clause: String,
    /// Client profile that ran it.
    pub profile: String,
    /// What is expected.
    pub title: String,
    /// Passed, failed, not supported, skipped.
    pub outcome: Outcome,
    /// What was seen (a pass's figures, a failure's reason, a skip's reason).
    pub detail: String,
    /// The frames that show a failure, decoded one per line.
    pub evidence: Vec<String>,
}

impl CheckResult {
    pub(crate) fn new(check: &Check, verdict: Verdict, bench: &Bench<'_>) -> CheckResult {
        let (outcome, detail, evidence) = match verdict {
            Verdict::Pass(d) => (Outcome::Passed, d, Vec::new()),
            Verdict::Fail(d, mut ev) => {
                ev.sort_unstable();
                ev.dedup();
                (
                    Outcome::Failed,
                    d,
                    ev.into_iter().map(|i| bench.describe(i)).collect(),
                )
            }
            Verdict::NotSupported(d) => (Outcome::NotSupported, d, Vec::new()),
            Verdict::Skip(d) => (Outcome::Skipped, d, Vec::new()),
        };
        CheckResult {
            id: check.id.into(),
            area: check.area,
            level: check.level,
            clause: check.clause.into(),
            profile: check.profile.into(),
            title: check.title.into(),
            outcome,
            detail,
            evidence,
        }
    }
}

/// Counts by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Not supported.
    pub not_supported: usize,
    /// Skipped.
    pub skipped: usize,
    /// Failed MUST checks.
    pub failed_must: usize,
}

/// What a conformance run found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The mode the run was in (detected or asked for).
    pub mode: Mode,
    /// The server under test.
    pub server: Option<Ipv4Addr>,
    /// Virtual clients in the storm.
    pub clients: usize,
    /// Reply latency percentiles.
    pub latency: Latency,
    /// One per check run, in catalog order.
    pub results: Vec<CheckResult>,
}

impl Report {
    /// The result of check `id`.
    pub fn result(&self, id: &str) -> Option<&CheckResult> {
        self.results.iter().find(|r| r.id == id)
    }

    /// The outcome of check `id`.
    pub fn outcome(&self, id: &str) -> Option<&Outcome> {
        self.result(id).map(|r| &r.outcome)
    }

    /// Counts by outcome.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for r in &self.results {
            match r.outcome {
                Outcome::Passed => s.passed += 1,
                Outcome::Failed => {
                    s.failed += 1;
                    if r.level == Level::Must {
                        s.failed_must += 1;
                    }
                }
                Outcome::NotSupported => s.not_supported += 1,
                Outcome::Skipped => s.skipped += 1,
            }
        }
        s
    }

    /// Whether every MUST that ran passed (the exit status is 0).
    pub fn musts_pass(&self) -> bool {
        self.summary().failed_must == 0
    }

    /// `N passed, N failed, N not supported` (and `, N skipped` when any).
    pub fn summary_line(&self) -> String {
        let s = self.summary();
        let mut line = format!(
            "{} passed, {} failed, {} not supported",
            s.passed, s.failed, s.not_supported
        );
        if s.skipped > 0 {
            let _ = write!(line, ", {} skipped", s.skipped);
        }
        line
    }

    /// The text report, grouped by area.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let server = self
            .server
            .map_or("none answered".to_string(), |s| s.to_string());
        let _ = writeln!(out, "pxelab conform: {} at {server}", self.mode);
        let mut area = None;
        for r in &self.results {
            if area != Some(r.area) {
                area = Some(r.area);
                let _ = writeln!(out, "\n{}", r.area.title());
            }
            let mark = match r.outcome {
                Outcome::Passed => "pass",
                Outcome::Failed => "FAIL",
                Outcome::NotSupported => "n/s ",
                Outcome::Skipped => "skip",
            };
            let _ = writeln!(
                out,
                "  {mark} {:<6} {}  [{}; {}]",
                r.level.to_string(),
                r.id,
                r.clause,
                r.profile
            );
            if !r.detail.is_empty() {
                let _ = writeln!(out, "              {}", r.detail);
            }
            for e in &r.evidence {
                let _ = writeln!(out, "                {e}");
            }
        }
        let l = &self.latency;
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} ms"));
        let _ = writeln!(
            out,
            "\nLatency: offer p50 {} p95 {} ({} offers); TFTP first answer p50 {} p95 {} ({} reads)",
            ms(l.offer_p50_ms),
            ms(l.offer_p95_ms),
            l.offers,
            ms(l.tftp_p50_ms),
            ms(l.tftp_p95_ms),
            l.tftp_reads
        );
        let _ = writeln!(out, "\n{}", self.summary_line());
        out
    }

    /// The JSON report (stable field names, see the module docs).
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Doc<'a> {
            mode: Mode,
            server: Option<Ipv4Addr>,
            clients: usize,
            latency: &'a Latency,
            summary: Summary,
            summary_line: String,
            results: &'a [CheckResult],
        }
        let doc = Doc {
            mode: self.mode,
            server: self.server,
            clients: self.clients,
            latency: &self.latency,
            summary: self.summary(),
            summary_line: self.summary_line(),
            results: &self.results,
        };
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
            + "\n"
    }

    /// JUnit XML: one test case per check; failures carry the evidence,
    /// skipped and not-supported checks are skipped cases with the reason.
    pub fn to_junit(&self) -> String {
        let mut suite = TestSuite::new("pxelab.conform");
        for r in &self.results {
            let status = match r.outcome {
                Outcome::Passed => TestCaseStatus::success(),
                Outcome::Failed => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(format!("{} {}: {}", r.level, r.clause, r.detail));
                    s.set_description(r.evidence.join("\n"));
                    s
                }
                Outcome::NotSupported | Outcome::Skipped => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(r.detail.clone());
                    s
                }
            };
            let mut case = TestCase::new(r.id.clone(), status);
            case.set_classname(format!(
                "conform.{}",
                r.id.split('.').next().unwrap_or("check")
            ));
            case.set_system_out(format!(
                "{} {} [{}]: {}",
                r.level, r.clause, r.profile, r.detail
            ));
            suite.add_test_case(case);
        }
        crate::report::junit::document(suite)
    }
}

/// `--list`: every check, one per line: id, level, clause.
pub fn list() -> String {
    let mut out = String::new();
    let mut area = None;
    for c in super::checks::CHECKS {
        if area != Some(c.area) {
            area = Some(c.area);
            let _ = writeln!(out, "{}", c.area.title());
        }
        let _ = writeln!(
            out,
            "  {:<40} {:<6} {}  ({}; profile {})",
            c.id,
            c.level.to_string(),
            c.clause,
            c.title,
            c.profile
        );
    }
    let _ = writeln!(out, "\n{} checks", super::checks::CHECKS.len());
    out
}
