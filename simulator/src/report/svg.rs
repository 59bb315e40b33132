//! The run as a picture: an SVG timeline, for `pxelab run --svg FILE`.
//!
//! Time runs left to right in virtual seconds. A small run gets one row per
//! client (grouped under its fleet): a coloured bar per stage (POST, DHCP,
//! proxy, 4011, TFTP, NBP, Bootworks, imaging, OS), a white tick for every
//! DISCOVER retransmission, a small triangle for every server answer that
//! reached it (the server's name in the tooltip), a red frame around a boot
//! loop with its cycle, a red cross with the error code where the firmware
//! gave up. Every bar and mark has a tooltip with its times and details. A large run gets one band per fleet: how many of its clients were
//! in each stage during each time bucket, a line for the share done, and a
//! strip per server for how many answers reached the fleet.
//!
//! The text is hand-written SVG 1.1 with every string escaped; numbers are
//! printed with fixed precision, so the same run draws the same bytes.

use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use pxelab_reference::Instant;

use super::Report;
use crate::world::timeline::{ClientRow, FleetBand, MarkKind, Rows, Stage, Timeline};

const WIDTH: f64 = 1400.0;
/// Client names or fleet labels.
const LEFT: f64 = 190.0;
/// Outcomes, at the right.
const RIGHT: f64 = 330.0;
const PLOT_X0: f64 = LEFT;
const PLOT_X1: f64 = WIDTH - RIGHT;
const ROW: f64 = 22.0;
const FLEET_HEADER: f64 = 22.0;
const BAND: f64 = 90.0;
const STRIP: f64 = 10.0;
const LOOP_RED: &str = "#d62728";

/// The stage's colour.
fn color(stage: Stage) -> &'static str {
    match stage {
        Stage::Post => "#d4d4d4",
        Stage::Dhcp => "#4e79a7",
        Stage::Proxy => "#76b7b2",
        Stage::BootServer => "#59a14f",
        Stage::Tftp => "#f28e2b",
        Stage::Nbp => "#edc948",
        Stage::Bootworks => "#b07aa1",
        Stage::Imaging => "#9c755f",
        Stage::Os => "#a0cbe8",
    }
}

/// A server's colour for its answer marks (distinct from the stages').
fn server_color(s: usize) -> &'static str {
    const PALETTE: [&str; 8] = [
        "#1f3b73", "#b8006b", "#006d5b", "#7b3f00", "#5a2d82", "#3d3d3d", "#00838f", "#8d6e00",
    ];
    PALETTE[s % PALETTE.len()]
}

/// Writes the timeline of `report`'s run to `sink`.
pub fn write(report: &Report, timeline: &Timeline, mut sink: Box<dyn io::Write>) -> io::Result<()> {
    sink.write_all(to_svg(report, timeline).as_bytes())?;
    sink.flush()
}

/// The timeline of `report`'s run as an SVG document.
pub fn to_svg(report: &Report, timeline: &Timeline) -> String {
    let scale = Scale::new(timeline.end);
    let mut body = String::new();
    let mut y = 20.0;
    let _ = writeln!(
        body,
        r#"<text x="12" y="{y}" font-size="16" font-weight="bold">pxelab run {} (seed {})</text>"#,
        esc(&report.scenario),
        report.seed
    );
    y += 18.0;
    let _ = writeln!(
        body,
        r##"<text x="12" y="{y}" fill="#555">{}</text>"##,
        esc(&report.summary)
    );
    y += 14.0;
    y = legend(&mut body, timeline, y);
    y += 12.0;
    let top = y;
    y += 8.0;
    y = match &timeline.rows {
        Rows::Clients(rows) => client_rows(&mut body, timeline, rows, &scale, y),
        Rows::Fleets { bucket, bands } => {
            fleet_bands(&mut body, report, timeline, bands, *bucket, &scale, y)
        }
    };
    let bottom = y;
    let mut axes = String::new();
    axis(&mut axes, &scale, top, bottom);
    y += 30.0;
    let ended = format!(
        "virtual seconds; the run ended at {} ({})",
        super::Time(timeline.end.since_start()),
        match report.end {
            super::EndReason::AllClientsDone => "every client done",
            super::EndReason::TimeLimit => "time limit",
            super::EndReason::Quiet => "nothing left to happen",
        }
    );
    let _ = writeln!(
        body,
        r##"<text x="{PLOT_X0}" y="{y}" fill="#555">{}</text>"##,
        esc(&ended)
    );
    y += 14.0;
    if let Rows::Fleets { bucket, .. } = &timeline.rows {
        let note = format!(
            "Each band: the share of the fleet's clients in each stage, per {} bucket; black line: share with an outcome. Strips: answers reaching the fleet, per server.",
            super::Time(*bucket)
        );
        let _ = writeln!(
            body,
            r##"<text x="{PLOT_X0}" y="{y}" fill="#555">{}</text>"##,
            esc(&note)
        );
        y += 14.0;
    }
    let height = (y + 10.0).ceil();
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<title>pxelab run {}: timeline</title>"#,
        esc(&report.scenario)
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    out.push_str(&axes);
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

/// Virtual time to x.
struct Scale {
    end_s: f64,
}

impl Scale {
    fn new(end: Instant) -> Scale {
        Scale {
            end_s: (end.as_nanos() as f64 / 1e9).max(0.001),
        }
    }

    fn x_s(&self, s: f64) -> f64 {
        PLOT_X0 + (s / self.end_s).clamp(0.0, 1.0) * (PLOT_X1 - PLOT_X0)
    }

    fn x(&self, t: Instant) -> f64 {
        self.x_s(t.as_nanos() as f64 / 1e9)
    }
}

/// Tick marks and grid lines, every 1, 2 or 5 × 10^k seconds.
fn axis(out: &mut String, scale: &Scale, top: f64, bottom: f64) {
    let raw = scale.end_s / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    let _ = writeln!(
        out,
        r##"<line x1="{PLOT_X0}" y1="{top}" x2="{PLOT_X1}" y2="{top}" stroke="#333"/>"##
    );
    let _ = writeln!(
        out,
        r##"<line x1="{PLOT_X0}" y1="{bottom}" x2="{PLOT_X1}" y2="{bottom}" stroke="#333"/>"##
    );
    let mut i = 0u32;
    loop {
        let s = f64::from(i) * step;
        if s > scale.end_s + step * 1e-6 {
            break;
        }
        let x = scale.x_s(s);
        let label = format!("{s:.decimals$}s");
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="#e4e4e4"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="10" fill="#333">{label}</text><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="10" fill="#333">{label}</text>"##,
            top - 4.0,
            bottom + 12.0
        );
        i += 1;
    }
}

/// The legend: stages, server answer marks, loops and failures. Returns the
/// y below it.
fn legend(out: &mut String, timeline: &Timeline, mut y: f64) -> f64 {
    let used: Vec<Stage> = match &timeline.rows {
        Rows::Clients(rows) => Stage::ALL
            .into_iter()
            .filter(|s| rows.iter().any(|r| r.spans.iter().any(|sp| sp.stage == *s)))
            .collect(),
        Rows::Fleets { bands, .. } => Stage::ALL
            .into_iter()
            .filter(|s| {
                bands
                    .iter()
                    .any(|b| b.stage_ns.iter().any(|n| n[*s as usize] > 0))
            })
            .collect(),
    };
    let mut x = 12.0;
    let mut item = |out: &mut String, swatch: String, label: &str, y: &mut f64| {
        let w = 18.0 + label.chars().count() as f64 * 6.6 + 14.0;
        if x + w > WIDTH - 12.0 {
            x = 12.0;
            *y += 16.0;
        }
        let _ = writeln!(
            out,
            r#"<g transform="translate({x:.1},{:.1})">{swatch}<text x="16" y="9">{}</text></g>"#,
            *y,
            esc(label)
        );
        x += w;
    };
    for s in used {
        item(
            out,
            format!(r#"<rect width="12" height="10" fill="{}"/>"#, color(s)),
            s.label(),
            &mut y,
        );
    }
    for (i, name) in timeline.servers.iter().enumerate() {
        let answered = match &timeline.rows {
            Rows::Clients(rows) => rows
                .iter()
                .any(|r| r.marks.iter().any(|m| m.kind == MarkKind::Answer(Some(i)))),
            Rows::Fleets { bands, .. } => bands.iter().any(|b| b.answers.iter().any(|a| a[i] > 0)),
        };
        if !answered {
            continue;
        }
        item(
            out,
            format!(
                r#"<path d="M1 0 L11 0 L6 8 Z" fill="{}"/>"#,
                server_color(i)
            ),
            &format!("answer from {name}"),
            &mut y,
        );
    }
    let marked = |f: fn(&MarkKind) -> bool| match &timeline.rows {
        Rows::Clients(rows) => rows.iter().any(|r| r.marks.iter().any(|m| f(&m.kind))),
        Rows::Fleets { .. } => false,
    };
    if marked(|k| *k == MarkKind::Retry) {
        item(
            out,
            r##"<rect width="12" height="10" fill="#4e79a7"/><line x1="6" y1="0" x2="6" y2="10" stroke="white" stroke-width="1.5"/>"##.to_string(),
            "DISCOVER retry",
            &mut y,
        );
    }
    if marked(|k| matches!(k, MarkKind::Failure(_))) {
        item(
            out,
            format!(r#"<text x="1" y="10" fill="{LOOP_RED}" font-weight="bold">✕</text>"#),
            "firmware error",
            &mut y,
        );
    }
    item(
        out,
        format!(
            r##"<rect x="1" y="0" width="11" height="10" fill="#d6272815" stroke="{LOOP_RED}" stroke-width="2"/>"##
        ),
        "boot loop",
        &mut y,
    );
    y + 16.0
}

fn client_rows(
    out: &mut String,
    timeline: &Timeline,
    rows: &[ClientRow],
    scale: &Scale,
    mut y: f64,
) -> f64 {
    let mut fleet = None;
    for row in rows {
        if fleet != Some(row.fleet) {
            fleet = Some(row.fleet);
            let info = &timeline.fleets[row.fleet];
            let _ = writeln!(
                out,
                r##"<text x="12" y="{:.1}" font-weight="bold">fleet {} ({} client{})</text><line x1="12" y1="{:.1}" x2="{}" y2="{:.1}" stroke="#bbb"/>"##,
                y + 15.0,
                esc(&info.name),
                info.clients,
                if info.clients == 1 { "" } else { "s" },
                y + 19.0,
                WIDTH - 12.0,
                y + 19.0
            );
            y += FLEET_HEADER;
        }
        client_row(out, timeline, row, scale, y);
        y += ROW;
    }
    y
}

fn client_row(out: &mut String, timeline: &Timeline, row: &ClientRow, scale: &Scale, y: f64) {
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
        LEFT - 8.0,
        y + 15.0,
        esc(&shorten(&row.name, 26))
    );
    for span in &row.spans {
        let x0 = scale.x(span.start);
        let w = (scale.x(span.end) - x0).max(1.5);
        let (top, h) = if span.stage == Stage::Imaging {
            (y + 8.0, 6.0)
        } else {
            (y + 5.0, 12.0)
        };
        let mut tip = format!(
            "{}: {} to {}",
            span.stage.label(),
            super::Time(span.start.since_start()),
            super::Time(span.end.since_start())
        );
        if !span.detail.is_empty() {
            let _ = write!(tip, " — {}", span.detail);
        }
        let _ = writeln!(
            out,
            r#"<rect x="{x0:.1}" y="{top:.1}" width="{w:.1}" height="{h}" fill="{}"><title>{}</title></rect>"#,
            color(span.stage),
            esc(&tip)
        );
    }
    let mut last_answer_x = f64::NEG_INFINITY;
    for mark in &row.marks {
        let x = scale.x(mark.at);
        let tip = format!("{} {}", super::Time(mark.at.since_start()), mark.text);
        match &mark.kind {
            MarkKind::Retry => {
                let _ = writeln!(
                    out,
                    r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="white" stroke-width="1.5"><title>{}</title></line>"##,
                    y + 5.0,
                    y + 17.0,
                    esc(&tip)
                );
            }
            MarkKind::Answer(server) => {
                // Answers within a few pixels of each other sit side by side.
                let x = x.max(last_answer_x + 6.0);
                last_answer_x = x;
                let fill = server.map_or("#999", server_color);
                let _ = writeln!(
                    out,
                    r#"<path d="M{:.1} {:.1} L{:.1} {:.1} L{x:.1} {:.1} Z" fill="{fill}" stroke="white" stroke-width="0.5"><title>{}</title></path>"#,
                    x - 3.5,
                    y,
                    x + 3.5,
                    y,
                    y + 6.0,
                    esc(&tip)
                );
            }
            MarkKind::Failure(code) => {
                let _ = writeln!(
                    out,
                    r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="{LOOP_RED}" font-weight="bold" font-size="14">✕<title>{}</title></text><text x="{:.1}" y="{:.1}" fill="{LOOP_RED}" font-size="10">{}</text>"#,
                    y + 16.0,
                    esc(&tip),
                    x + 7.0,
                    y + 15.0,
                    esc(code)
                );
            }
        }
    }
    let text_x = PLOT_X1 + 12.0;
    match &row.outcome {
        Some(o) => {
            if let Some((first, cycle, repeats)) = &o.looping {
                let x0 = scale.x(*first);
                let x1 = scale.x(o.at).max(x0 + 2.0);
                let cycle_text = cycle.join(" → ");
                let tip = format!(
                    "boot loop from {} to {}, {repeats} turns: {cycle_text} → (again)",
                    super::Time(first.since_start()),
                    super::Time(o.at.since_start())
                );
                let _ = writeln!(
                    out,
                    r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#d6272812" stroke="{LOOP_RED}" stroke-width="2" rx="3"><title>{}</title></rect>"##,
                    y + 1.5,
                    x1 - x0,
                    ROW - 3.0,
                    esc(&tip)
                );
                let label = format!("⟳ loop ×{repeats}: {cycle_text}");
                let _ = writeln!(
                    out,
                    r#"<text x="{text_x:.1}" y="{:.1}" fill="{LOOP_RED}" font-weight="bold">{}<title>{}</title></text>"#,
                    y + 15.0,
                    esc(&shorten(&label, 44)),
                    esc(&tip)
                );
            } else {
                let fill = if o.ok { "#1a6b2a" } else { LOOP_RED };
                let label = format!("{} at {}", o.text, super::Time(o.at.since_start()));
                let _ = writeln!(
                    out,
                    r#"<text x="{text_x:.1}" y="{:.1}" fill="{fill}">{}<title>{}</title></text>"#,
                    y + 15.0,
                    esc(&shorten(&label, 44)),
                    esc(&label)
                );
            }
        }
        None => {
            let _ = writeln!(
                out,
                r##"<text x="{text_x:.1}" y="{:.1}" fill="#777">no outcome when the run ended</text>"##,
                y + 15.0
            );
        }
    }
    let _ = timeline;
}

fn fleet_bands(
    out: &mut String,
    report: &Report,
    timeline: &Timeline,
    bands: &[FleetBand],
    bucket: Duration,
    scale: &Scale,
    mut y: f64,
) -> f64 {
    let bucket_ns = bucket.as_nanos() as f64;
    for band in bands {
        let info = &timeline.fleets[band.fleet];
        let fleet_report = report.fleets.iter().find(|f| f.name == info.name);
        let clients = f64::from(info.clients.max(1));
        y += 6.0;
        let top = y;
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" font-weight="bold">{}</text><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{} clients{}</text>"##,
            LEFT - 8.0,
            top + 16.0,
            esc(&shorten(&info.name, 26)),
            LEFT - 8.0,
            top + 30.0,
            info.clients,
            fleet_report.map_or(String::new(), |f| format!(", {}", esc(&f.profile)))
        );
        let _ = writeln!(
            out,
            r##"<rect x="{PLOT_X0}" y="{top:.1}" width="{:.1}" height="{BAND}" fill="#f7f7f7" stroke="#ccc"/>"##,
            PLOT_X1 - PLOT_X0
        );
        // Stacked stages, bucket by bucket.
        for (b, ns) in band.stage_ns.iter().enumerate() {
            let t0 = Instant::from_nanos((b as f64 * bucket_ns) as u64);
            let t1 = Instant::from_nanos(((b + 1) as f64 * bucket_ns) as u64).min(timeline.end);
            // Neighbours share their rounded edge, and overlap a little, so
            // no hairline seam shows between them.
            let (x0, x1) = (round1(scale.x(t0)), round1(scale.x(t1)));
            if x1 <= x0 {
                continue;
            }
            let w = if t1 < timeline.end {
                x1 - x0 + 0.4
            } else {
                x1 - x0
            };
            let mut base = top + BAND;
            for stage in Stage::ALL {
                let share = ns[stage as usize] as f64 / bucket_ns / clients;
                let h = share * BAND;
                if h < 0.05 {
                    continue;
                }
                base -= h;
                let _ = writeln!(
                    out,
                    r#"<rect x="{x0:.1}" y="{base:.2}" width="{w:.1}" height="{h:.2}" fill="{}"><title>{}: {:.1} clients on average, {} to {}</title></rect>"#,
                    color(stage),
                    stage.label(),
                    share * clients,
                    super::Time(t0.since_start()),
                    super::Time(t1.since_start())
                );
            }
        }
        // The share of clients with an outcome.
        let mut done = 0u32;
        let mut points = format!("{PLOT_X0},{:.1}", top + BAND);
        for (b, d) in band.done.iter().enumerate() {
            done += d.iter().sum::<u32>();
            let t1 = Instant::from_nanos(((b + 1) as f64 * bucket_ns) as u64).min(timeline.end);
            let yy = top + BAND - f64::from(done) / clients * BAND;
            let _ = write!(points, " {:.1},{yy:.1}", scale.x(t1));
        }
        let _ = writeln!(
            out,
            r##"<polyline points="{points}" fill="none" stroke="#222" stroke-width="1.5"><title>clients with an outcome</title></polyline>"##
        );
        // Outcome counts.
        let mut lines: Vec<(String, &str)> = Vec::new();
        if let Some(f) = fleet_report {
            let from: Vec<String> = f
                .booted_from
                .iter()
                .map(|(s, n)| format!("{s} {n}"))
                .collect();
            lines.push((
                format!(
                    "booted {}/{}{}",
                    f.booted,
                    f.count,
                    if from.is_empty() {
                        String::new()
                    } else {
                        format!(" (from {})", from.join(", "))
                    }
                ),
                "#1a6b2a",
            ));
            for (code, n) in &f.errors {
                lines.push((format!("✕ {code}: {n}"), LOOP_RED));
            }
            if f.looping > 0 {
                lines.push((format!("⟳ looping: {}", f.looping), LOOP_RED));
            }
            if f.unfinished > 0 {
                lines.push((format!("no outcome: {}", f.unfinished), "#777"));
            }
            if f.looping > 0 {
                let tip = report
                    .findings
                    .iter()
                    .filter(|x| x.kind == "boot-loop")
                    .find(|x| x.message.contains(&format!("fleet {} ", f.name)))
                    .map(|x| format!("{} {}", x.message, x.detail.join("; ")))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    r##"<rect x="{PLOT_X0}" y="{top:.1}" width="{:.1}" height="{BAND}" fill="none" stroke="{LOOP_RED}" stroke-width="2"><title>{}</title></rect>"##,
                    PLOT_X1 - PLOT_X0,
                    esc(&tip)
                );
            }
        }
        for (i, (text, fill)) in lines.iter().enumerate() {
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" fill="{fill}">{}<title>{}</title></text>"#,
                PLOT_X1 + 12.0,
                top + 14.0 + i as f64 * 15.0,
                esc(&shorten(text, 44)),
                esc(text)
            );
        }
        y = top + BAND + 4.0;
        // One strip per server that answered this fleet.
        for (s, name) in timeline.servers.iter().enumerate() {
            let max = band.answers.iter().map(|a| a[s]).max().unwrap_or(0);
            if max == 0 {
                continue;
            }
            let total: u32 = band.answers.iter().map(|a| a[s]).sum();
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="10" fill="#555">answers from {}</text><rect x="{PLOT_X0}" y="{y:.1}" width="{:.1}" height="{STRIP}" fill="none" stroke="#e4e4e4"/>"##,
                LEFT - 8.0,
                y + 9.0,
                esc(name),
                PLOT_X1 - PLOT_X0
            );
            for (b, a) in band.answers.iter().enumerate() {
                if a[s] == 0 {
                    continue;
                }
                let t0 = Instant::from_nanos((b as f64 * bucket_ns) as u64);
                let t1 = Instant::from_nanos(((b + 1) as f64 * bucket_ns) as u64).min(timeline.end);
                let (x0, x1) = (scale.x(t0), scale.x(t1));
                let opacity = 0.2 + 0.8 * f64::from(a[s]) / f64::from(max);
                let _ = writeln!(
                    out,
                    r#"<rect x="{x0:.1}" y="{y:.1}" width="{:.2}" height="{STRIP}" fill="{}" fill-opacity="{opacity:.2}"><title>{} answers from {}, {} to {}</title></rect>"#,
                    (x1 - x0).max(0.5),
                    server_color(s),
                    a[s],
                    esc(name),
                    super::Time(t0.since_start()),
                    super::Time(t1.since_start())
                );
            }
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#555">{total} answers from {}</text>"##,
                PLOT_X1 + 12.0,
                y + 9.0,
                esc(name)
            );
            y += STRIP + 3.0;
        }
        y += 6.0;
    }
    y
}

/// `x` rounded to a tenth, as it is printed.
fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// `s` cut to `max` characters with an ellipsis.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// Text and attribute values escaped for XML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(esc("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot; ");
    }

    #[test]
    fn shortens_on_characters() {
        assert_eq!(shorten("→→→→", 3), "→→…");
        assert_eq!(shorten("abc", 3), "abc");
    }
}
