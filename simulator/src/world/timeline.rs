//! What each client did when, for the `--svg` timeline.
//!
//! The world calls one hook per thing that happens (a firmware event, an agent
//! starting or ending, an image transfer, an outcome); each hook returns at
//! once when no timeline was asked for, so a run without `--svg` pays one
//! branch per hook. Small runs keep every client's spans and marks; large runs
//! (more than [`MAX_CLIENT_ROWS`] clients) keep, per fleet, how many clients
//! were in each stage during each time bucket, so a 100,000-client storm costs
//! a few hundred buckets per fleet, not a story per client.

use std::net::Ipv4Addr;
use std::time::Duration;

use pxelab_reference::Instant;

use super::World;
use super::deploy::AgentStart;
use crate::firmware::FirmwareEvent;
use crate::machine::Outcome;

/// How many stages there are.
pub const STAGES: usize = Stage::ALL.len();
/// Runs with more clients than this are drawn one band per fleet.
pub const MAX_CLIENT_ROWS: usize = 50;
/// Buckets per fleet band at most: about one per two pixels of a drawing.
const MAX_BUCKETS: usize = 256;
/// The first bucket width; doubled (and neighbours merged) as the run grows.
const FIRST_BUCKET: Duration = Duration::from_millis(50);

/// A stage of a network boot or of a managed machine's life, in boot order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// From power-on or a reboot to the boot device starting (POST).
    Post,
    /// From the first DHCPDISCOVER to the DHCPACK.
    Dhcp,
    /// A boot server discovery broadcast to port 67 until its answer.
    Proxy,
    /// A request to a boot server on port 4011 until its answer.
    BootServer,
    /// From the boot file being known (the RRQ) to the NBP in memory.
    Tftp,
    /// The NBP runs, until what it starts next.
    Nbp,
    /// Bootworks booting and running (PXE-delivered or from its partition).
    Bootworks,
    /// An image transfer, from waiting for it to the last byte.
    Imaging,
    /// The installed OS booting, then AClient in it.
    Os,
}

impl Stage {
    /// Every stage, in drawing (and stacking) order.
    pub const ALL: [Stage; 9] = [
        Stage::Post,
        Stage::Dhcp,
        Stage::Proxy,
        Stage::BootServer,
        Stage::Tftp,
        Stage::Nbp,
        Stage::Bootworks,
        Stage::Imaging,
        Stage::Os,
    ];

    /// The stage's name in a legend.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Post => "POST / reboot",
            Stage::Dhcp => "DHCP",
            Stage::Proxy => "proxy (67)",
            Stage::BootServer => "boot server (4011)",
            Stage::Tftp => "TFTP",
            Stage::Nbp => "NBP",
            Stage::Bootworks => "Bootworks",
            Stage::Imaging => "imaging",
            Stage::Os => "OS",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A client in one stage from `start` to `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The stage.
    pub stage: Stage,
    /// When it began.
    pub start: Instant,
    /// When it ended (the run's end if it never did).
    pub end: Instant,
    /// What it was about (the file and server, the agent's last words).
    pub detail: String,
}

/// Something that happened to a client at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// When.
    pub at: Instant,
    /// What.
    pub kind: MarkKind,
    /// In words, for a tooltip.
    pub text: String,
}

/// The kinds of instant marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkKind {
    /// A DHCPDISCOVER retransmission.
    Retry,
    /// A server's answer reached the client (index into [`Timeline::servers`],
    /// `None` for a server not in the scenario).
    Answer(Option<usize>),
    /// The firmware gave up with this error code.
    Failure(String),
}

/// How a client's story ended, for its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowOutcome {
    /// When.
    pub at: Instant,
    /// In words (`booted boot.ipxe from pxelab`, `PXE-E53`, …).
    pub text: String,
    /// The repeating stages, for a client stopped in a loop: (first seen,
    /// the cycle, turns).
    pub looping: Option<(Instant, Vec<String>, usize)>,
    /// Whether it ended well (booted, up in its OS).
    pub ok: bool,
}

/// One client's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    /// `fleet#index`.
    pub name: String,
    /// Index of its fleet in [`Timeline::fleets`].
    pub fleet: usize,
    /// Its stages, in time order (imaging overlaps Bootworks).
    pub spans: Vec<Span>,
    /// Its instant marks, in time order.
    pub marks: Vec<Mark>,
    /// How it ended, if it did.
    pub outcome: Option<RowOutcome>,
}

/// A fleet's stages over time, for runs too large for a row per client.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetBand {
    /// Index of the fleet in [`Timeline::fleets`].
    pub fleet: usize,
    /// Per bucket, per stage (in [`Stage::ALL`] order): client-nanoseconds
    /// spent in the stage during the bucket. Divided by the bucket width, the
    /// mean number of clients in the stage.
    pub stage_ns: Vec<[u64; STAGES]>,
    /// Per bucket, per server: answers that reached the fleet's clients.
    pub answers: Vec<Vec<u32>>,
    /// Per bucket: clients that reached an outcome (booted or in their OS,
    /// failed or halted, looping).
    pub done: Vec<[u32; 3]>,
}

/// A fleet as the timeline names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetInfo {
    /// Its name.
    pub name: String,
    /// Its clients.
    pub clients: u32,
}

/// Rows of a timeline: one per client, or one band per fleet.
#[derive(Debug, Clone, PartialEq)]
pub enum Rows {
    /// Small runs: every client.
    Clients(Vec<ClientRow>),
    /// Large runs: per fleet, stage counts per bucket of `bucket` width.
    Fleets {
        /// Width of a bucket.
        bucket: Duration,
        /// One band per fleet, in scenario order.
        bands: Vec<FleetBand>,
    },
}

/// What happened when, for a whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// When the run ended.
    pub end: Instant,
    /// Fleets in scenario order.
    pub fleets: Vec<FleetInfo>,
    /// Server names in scenario order.
    pub servers: Vec<String>,
    /// The rows.
    pub rows: Rows,
}

/// What a client is in now.
#[derive(Debug, Clone, Default)]
struct Current {
    main: Option<(Stage, Instant)>,
    detail: String,
    imaging: Option<Instant>,
}

/// Gathers the timeline while the world runs.
pub(super) struct Recorder {
    fleet_of: Vec<usize>,
    current: Vec<Current>,
    fleets: Vec<FleetInfo>,
    servers: Vec<String>,
    /// Small runs: per client.
    rows: Option<Vec<ClientRow>>,
    /// Large runs: per fleet, with the shared bucket width.
    bands: Vec<FleetBand>,
    bucket_ns: u64,
}

impl Recorder {
    fn new(w: &World) -> Recorder {
        let fleet_of: Vec<usize> = w.computers.iter().map(|c| c.fleet).collect();
        let fleets = w
            .fleet_names
            .iter()
            .zip(&w.fleet_members)
            .map(|(name, m)| FleetInfo {
                name: name.clone(),
                clients: m.len() as u32,
            })
            .collect();
        let rows = (w.computers.len() <= MAX_CLIENT_ROWS).then(|| {
            w.computers
                .iter()
                .map(|c| ClientRow {
                    name: format!("{}#{}", w.fleet_names[c.fleet], c.index),
                    fleet: c.fleet,
                    spans: Vec::new(),
                    marks: Vec::new(),
                    outcome: None,
                })
                .collect()
        });
        let bands = if rows.is_some() {
            Vec::new()
        } else {
            (0..w.fleet_names.len())
                .map(|f| FleetBand {
                    fleet: f,
                    stage_ns: Vec::new(),
                    answers: Vec::new(),
                    done: Vec::new(),
                })
                .collect()
        };
        Recorder {
            current: vec![Current::default(); fleet_of.len()],
            fleet_of,
            fleets,
            servers: w.servers.iter().map(|s| s.name.clone()).collect(),
            rows,
            bands,
            bucket_ns: FIRST_BUCKET.as_nanos() as u64,
        }
    }

    /// Makes the buckets wide enough that `t` falls in one of them, and
    /// returns its index.
    fn bucket(&mut self, t: Instant) -> usize {
        while t.as_nanos() / self.bucket_ns >= MAX_BUCKETS as u64 {
            self.bucket_ns *= 2;
            for band in &mut self.bands {
                band.stage_ns = merge(&band.stage_ns, |a, b| {
                    std::array::from_fn(|i| a[i].saturating_add(b[i]))
                });
                band.answers = merge(&band.answers, |a, b| {
                    a.iter().zip(b).map(|(x, y)| x + y).collect()
                });
                band.done = merge(&band.done, |a, b| std::array::from_fn(|i| a[i] + b[i]));
            }
        }
        (t.as_nanos() / self.bucket_ns) as usize
    }

    /// A stage ended for client `c`.
    fn span(&mut self, c: usize, stage: Stage, start: Instant, end: Instant, detail: String) {
        if let Some(rows) = &mut self.rows {
            rows[c].spans.push(Span {
                stage,
                start,
                end,
                detail,
            });
            return;
        }
        let last = self.bucket(end);
        let width = self.bucket_ns;
        let band = &mut self.bands[self.fleet_of[c]];
        if band.stage_ns.len() <= last {
            band.stage_ns.resize(last + 1, [0; STAGES]);
        }
        let (s, e) = (start.as_nanos(), end.as_nanos());
        for b in (s / width) as usize..=last {
            let lo = s.max(b as u64 * width);
            let hi = e.min((b as u64 + 1) * width);
            if hi > lo {
                band.stage_ns[b][stage.index()] += hi - lo;
            }
        }
    }

    fn mark(&mut self, c: usize, at: Instant, kind: MarkKind, text: impl FnOnce() -> String) {
        if let Some(rows) = &mut self.rows {
            rows[c].marks.push(Mark {
                at,
                kind,
                text: text(),
            });
            return;
        }
        if let MarkKind::Answer(Some(s)) = kind {
            let b = self.bucket(at);
            let servers = self.servers.len();
            let band = &mut self.bands[self.fleet_of[c]];
            if band.answers.len() <= b {
                band.answers.resize(b + 1, vec![0; servers]);
            }
            band.answers[b][s] += 1;
        }
    }

    /// Client `c` enters `stage` (closing the stage it was in), unless it is
    /// in it already (a retransmission).
    fn enter(&mut self, c: usize, now: Instant, stage: Stage, detail: impl FnOnce() -> String) {
        if matches!(self.current[c].main, Some((s, _)) if s == stage) {
            return;
        }
        self.leave(c, now);
        self.current[c].main = Some((stage, now));
        if self.rows.is_some() {
            self.current[c].detail = detail();
        }
    }

    /// Client `c` leaves the stage it is in.
    fn leave(&mut self, c: usize, now: Instant) {
        if let Some(start) = self.current[c].imaging.take() {
            self.span(c, Stage::Imaging, start, now, String::new());
        }
        if let Some((stage, start)) = self.current[c].main.take() {
            let detail = std::mem::take(&mut self.current[c].detail);
            self.span(c, stage, start, now, detail);
        }
    }

    fn finish(&mut self, c: usize, now: Instant, outcome: &Outcome, text: impl FnOnce() -> String) {
        self.leave(c, now);
        if let Some(rows) = &mut self.rows {
            rows[c].outcome = Some(RowOutcome {
                at: now,
                text: text(),
                looping: match outcome {
                    Outcome::Looping {
                        cycle,
                        repeats,
                        first_at,
                        ..
                    } => Some((*first_at, cycle.clone(), *repeats)),
                    _ => None,
                },
                ok: matches!(outcome, Outcome::Booted { .. } | Outcome::InOs { .. }),
            });
            return;
        }
        let class = match outcome {
            Outcome::Booted { .. } | Outcome::InOs { .. } => 0,
            Outcome::Failed { .. } | Outcome::Halted { .. } => 1,
            Outcome::Looping { .. } => 2,
        };
        let b = self.bucket(now);
        let band = &mut self.bands[self.fleet_of[c]];
        if band.done.len() <= b {
            band.done.resize(b + 1, [0; 3]);
        }
        band.done[b][class] += 1;
    }

    /// The timeline, with every open stage closed at `end`.
    fn into_timeline(mut self, end: Instant) -> Timeline {
        for c in 0..self.current.len() {
            self.leave(c, end);
        }
        let last = self.bucket(end);
        let rows = match self.rows {
            Some(mut rows) => {
                for row in &mut rows {
                    row.spans.sort_by_key(|s| (s.start, s.stage));
                }
                Rows::Clients(rows)
            }
            None => {
                let servers = self.servers.len();
                for band in &mut self.bands {
                    band.stage_ns.resize(last + 1, [0; STAGES]);
                    band.answers.resize(last + 1, vec![0; servers]);
                    band.done.resize(last + 1, [0; 3]);
                }
                Rows::Fleets {
                    bucket: Duration::from_nanos(self.bucket_ns),
                    bands: self.bands,
                }
            }
        };
        Timeline {
            end,
            fleets: self.fleets,
            servers: self.servers,
            rows,
        }
    }
}

/// Pairs of neighbouring buckets merged into one.
fn merge<T: Clone>(v: &[T], add: impl Fn(&T, &T) -> T) -> Vec<T> {
    v.chunks(2)
        .map(|p| match p {
            [a, b] => add(a, b),
            [a] => a.clone(),
            _ => unreachable!("chunks(2) yields one or two"),
        })
        .collect()
}

impl World {
    /// Starts recording (before the run).
    pub(super) fn timeline_start(&mut self) {
        self.timeline = Some(Box::new(Recorder::new(self)));
    }

    /// The timeline recorded, if one was started.
    pub(super) fn timeline_take(&mut self) -> Option<Timeline> {
        let end = self.now;
        self.timeline.take().map(|r| r.into_timeline(end))
    }

    /// Hook: the firmware of computer `c` reported `event`.
    pub(super) fn timeline_firmware(&mut self, c: usize, event: &FirmwareEvent) {
        if self.timeline.is_none() {
            return;
        }
        let now = self.now;
        let server_index = |w: &World, ip: &Ipv4Addr| w.by_addr.get(ip).copied();
        let server_of = server_index(
            self,
            match event {
                FirmwareEvent::Offer { server, .. } => server,
                FirmwareEvent::BootFile { tftp_server, .. } => tftp_server,
                FirmwareEvent::Loaded { tftp_server, .. } => tftp_server,
                _ => &Ipv4Addr::UNSPECIFIED,
            },
        );
        let name = server_of.map_or_else(String::new, |s| self.servers[s].name.clone());
        let Some(t) = self.timeline.as_mut() else {
            return;
        };
        match event {
            FirmwareEvent::Discover { attempt, .. } => {
                t.enter(c, now, Stage::Dhcp, String::new);
                if *attempt > 1 {
                    t.mark(c, now, MarkKind::Retry, || {
                        format!("DHCPDISCOVER retransmitted (try {attempt})")
                    });
                }
            }
            FirmwareEvent::Offer {
                server,
                yiaddr,
                kind,
            } => {
                t.mark(c, now, MarkKind::Answer(server_of), || {
                    let who = if name.is_empty() {
                        server.to_string()
                    } else {
                        name.clone()
                    };
                    if yiaddr.is_unspecified() {
                        format!("offer from {who}: {kind}")
                    } else {
                        format!("offer from {who}: {yiaddr}, {kind}")
                    }
                });
            }
            FirmwareEvent::Bound { .. } => t.leave(c, now),
            FirmwareEvent::BootServerRequest { server, port } => {
                let stage = if *port == super::PXE_PORT {
                    Stage::BootServer
                } else {
                    Stage::Proxy
                };
                t.enter(c, now, stage, || format!("DHCPREQUEST to {server}:{port}"));
            }
            FirmwareEvent::BootFile {
                tftp_server, file, ..
            } => {
                t.enter(c, now, Stage::Tftp, || {
                    let who = if name.is_empty() {
                        tftp_server.to_string()
                    } else {
                        name.clone()
                    };
                    format!("{file} from {who}")
                });
            }
            FirmwareEvent::Loaded { file, bytes, .. } => {
                t.enter(c, now, Stage::Nbp, || {
                    format!("{file} ({bytes} bytes) from {name}")
                });
            }
            FirmwareEvent::LocalBoot { .. } => t.leave(c, now),
            FirmwareEvent::Failed { error, detail } => {
                t.leave(c, now);
                t.mark(c, now, MarkKind::Failure(error.code().to_string()), || {
                    format!("{}: {detail}", error.code())
                });
            }
            FirmwareEvent::Selected { .. } => {}
        }
    }

    /// Hook: computer `c` enters `stage` (POST after power-on or a reboot,
    /// the OS or Bootworks booting from the disk).
    pub(super) fn timeline_enter(&mut self, c: usize, stage: Stage) {
        let now = self.now;
        if let Some(t) = self.timeline.as_mut() {
            t.enter(c, now, stage, String::new);
        }
    }

    /// Hook: an agent starts on computer `c`.
    pub(super) fn timeline_agent_start(&mut self, c: usize, start: AgentStart) {
        let now = self.now;
        if let Some(t) = self.timeline.as_mut() {
            let stage = match start {
                AgentStart::AClient => Stage::Os,
                AgentStart::Bootworks(_) => Stage::Bootworks,
            };
            t.enter(c, now, stage, String::new);
        }
    }

    /// Hook: the agent on computer `c` ended its run; `label` says how.
    pub(super) fn timeline_agent_end(&mut self, c: usize, label: &str) {
        let now = self.now;
        if let Some(t) = self.timeline.as_mut() {
            if t.rows.is_some() {
                t.current[c].detail = label.to_string();
            }
            t.leave(c, now);
        }
    }

    /// Hook: computer `c` starts waiting for an image (`true`) or has it.
    pub(super) fn timeline_imaging(&mut self, c: usize, starts: bool) {
        let now = self.now;
        let Some(t) = self.timeline.as_mut() else {
            return;
        };
        if t.rows.is_none() {
            // A band counts each client once: imaging interrupts Bootworks.
            let stage = if starts {
                Stage::Imaging
            } else {
                Stage::Bootworks
            };
            return t.enter(c, now, stage, String::new);
        }
        match (starts, t.current[c].imaging) {
            (true, None) => t.current[c].imaging = Some(now),
            (false, Some(start)) => {
                t.current[c].imaging = None;
                t.span(c, Stage::Imaging, start, now, String::new());
            }
            _ => {}
        }
    }

    /// Hook: computer `c` reached its outcome.
    pub(super) fn timeline_finish(&mut self, c: usize) {
        let now = self.now;
        let (Some(t), Some(outcome)) = (self.timeline.as_mut(), &self.computers[c].outcome) else {
            return;
        };
        let servers = &self.servers;
        t.finish(c, now, outcome, || match outcome {
            Outcome::Booted { server, file, .. } => {
                let from = server.map_or("an unknown server", |s| servers[s].name.as_str());
                format!("booted {file} from {from}")
            }
            Outcome::Failed { error, .. } => format!("failed: {}", error.code()),
            Outcome::Looping { repeats, .. } => format!("boot loop, stopped after {repeats} turns"),
            Outcome::Halted { reason, .. } => format!("halted: {reason}"),
            Outcome::InOs { os, .. } => format!("up in {os}"),
        });
    }
}
