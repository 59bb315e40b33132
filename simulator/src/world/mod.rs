//! The world a scenario describes, and the discrete-event loop that runs it.
//!
//! Servers (pxelab's reference machines, unchanged, and models of foreign
//! servers) and computers (firmware models) sit on simulated segments. The loop
//! pops the next event by (virtual time, sequence) — a frame reaching a port, a
//! machine's timer, a power-on, a fault — feeds it to its machine, then drains
//! that machine's transmits and events before reading its next wake-up (the
//! single-mutation rule every driver of these machines follows).

pub(crate) mod build;
mod collect;
mod deploy;
mod deploy_report;
pub mod timeline;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use pxelab_reference::dhcp::{DhcpEvent, DhcpServer};
use pxelab_reference::pxe::BootServer;
use pxelab_reference::tftp::{
    Accept, MemoryRoot, TftpEvent, TftpServer, TftpSession, TransferSummary,
};
use pxelab_reference::{Datagram, Instant, Transmit};

use crate::engine::{LookupMap, Queue, stream};
use crate::firmware::{Firmware, FirmwareEvent};
use crate::foreign::{ForeignEvent, ForeignServer};
use crate::machine::{Computer, NbpKind, Outcome};
use crate::net::{Arrival, NetEvent, Network, PortId, Schedule};
use crate::report::Report;
use crate::scenario::Scenario;

pub use build::BuildError;

/// How long iPXE takes from being executed to its first DHCPDISCOVER (driver
/// and link initialisation); a round figure, it only shifts timelines.
const IPXE_START: Duration = Duration::from_secs(1);
/// After the last client's outcome, in-flight frames (the last TFTP ACK, a
/// server's final event) still land before the run ends.
const SETTLE: Duration = Duration::from_secs(2);
const TFTP_PORT: u16 = 69;
const DHCP_SERVER_PORT: u16 = 67;
const PXE_PORT: u16 = 4011;
/// First port of the range server-side TFTP sessions take their TIDs from.
const EPHEMERAL_FIRST: u16 = 49152;

/// What to run and how.
#[derive(Default)]
pub struct RunOptions {
    /// Replaces the scenario's seed.
    pub seed: Option<u64>,
    /// Where to write every frame of the run as a pcap.
    pub pcap: Option<Box<dyn io::Write>>,
    /// Told how far the run is, now and then (a progress bar for long runs).
    /// It only watches: the run is the same with or without it.
    pub progress: Option<Box<dyn FnMut(Progress)>>,
    /// Where to write the run's timeline as SVG (see [`crate::report::svg`]).
    /// Without it nothing is recorded for one.
    pub svg: Option<Box<dyn io::Write>>,
}

/// How far a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Virtual time reached.
    pub now: Instant,
    /// Clients with an outcome.
    pub done: usize,
    /// Clients in the run.
    pub clients: usize,
}

/// Events between two progress reports: rare enough to cost nothing, often
/// enough (a few times a second) for a bar to move.
const PROGRESS_EVERY: u64 = 1 << 16;

/// Builds the world of `scenario` and runs it to the end.
pub fn run(scenario: &Scenario, options: RunOptions) -> Result<Report, BuildError> {
    let seed = options.seed.unwrap_or(scenario.seed);
    let mut world = World::build(scenario, seed)?;
    if let Some(sink) = options.pcap {
        world.net.set_pcap(sink).map_err(BuildError::Pcap)?;
    }
    if options.svg.is_some() {
        world.timeline_start();
    }
    world.run(options.progress);
    world.net.finish().map_err(BuildError::Pcap)?;
    let report = world.report(scenario);
    if let (Some(sink), Some(timeline)) = (options.svg, world.timeline_take()) {
        crate::report::svg::write(&report, &timeline, sink).map_err(BuildError::Svg)?;
    }
    Ok(report)
}

/// Something the loop must do at a given virtual time.
enum Event {
    Net(NetEvent),
    /// A machine's timer; stale if the machine has since asked for another time.
    Wake(Node),
    /// A computer powers on: its NIC's link comes up, its POST runs.
    PowerOn(usize),
    /// A computer's boot ROM starts (after POST), or the iPXE it loaded does.
    Start(usize),
    /// The scenario's `[[fault]]` with this index.
    Fault(usize),
    /// A managed machine chooses its boot device (after POST or a reboot).
    Boot(usize),
    /// A managed machine's agent starts (the OS or Bootworks has booted).
    AgentStart(usize, deploy::AgentStart),
    /// Something happens on an agent's TCP connection.
    Tcp(usize, deploy::Tcp),
}

/// A machine with a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Node {
    Dhcp(usize),
    Boot(usize),
    Foreign(usize),
    Session(usize, u16),
    Computer(usize),
    /// A managed machine's running agent.
    Agent(usize),
    /// The server side of an agent connection.
    AgentSession(usize),
    /// The bandwidth model's next completion.
    Fabric,
    /// A deployment's multicast session gathering.
    Multicast(usize),
}

/// A machine's wake-up: the time it asked for, and the time of the heap entry
/// that will wake it (never later than the one it asked for).
#[derive(Debug, Default, Clone, Copy)]
struct Timer {
    wanted: Option<Instant>,
    queued: Option<Instant>,
}

/// What answers DHCP on a server.
enum DhcpSide {
    Reference {
        dhcp: Box<DhcpServer>,
        boot: Box<BootServer>,
    },
    Foreign(Box<ForeignServer>),
}

/// A server station: a DHCP side and a TFTP server with its files.
struct Server {
    name: String,
    kind: String,
    addr: Ipv4Addr,
    port: PortId,
    dhcp: DhcpSide,
    tftp: TftpServer,
    root: MemoryRoot,
    files: BTreeMap<String, NbpKind>,
    sessions: LookupMap<u16, Box<TftpSession>>,
    next_tid: u16,
    log: collect::ServerLog,
}

/// Which machine sits behind a port.
#[derive(Debug, Clone, Copy)]
enum Station {
    Server(usize),
    Computer(usize),
}

struct World {
    seed: u64,
    now: Instant,
    end: Instant,
    queue: Queue<Event>,
    net: Network,
    servers: Vec<Server>,
    computers: Vec<Computer>,
    stations: Vec<Station>,
    by_addr: HashMap<Ipv4Addr, usize>,
    /// Timers of every machine but the computers' firmware; absent means idle.
    timers: LookupMap<Node, Timer>,
    /// Each computer's firmware timer ([`Node::Computer`]), by index: the
    /// busiest timers of a storm, looked up once per event.
    computer_timers: Vec<Timer>,
    faults: Vec<(crate::scenario::FaultKind, String)>,
    fleet_names: Vec<String>,
    fleet_members: Vec<Vec<usize>>,
    /// Per computer, which servers offered it what.
    heard: Vec<collect::Heard>,
    /// Per computer, its story step by step; kept only for small runs.
    paths: Option<Vec<Vec<String>>>,
    running: usize,
    events: u64,
    end_reason: crate::report::EndReason,
    /// Deployment Servers.
    deploys: Vec<deploy::DeployStation>,
    /// Agent connections, by number (closed ones stay, for their history).
    conns: Vec<deploy::Conn>,
    /// Image transfers under way.
    transfers: deploy::Transfers,
    /// Machines waiting in a multicast session: the image and its size.
    pending_image: BTreeMap<usize, (String, u64)>,
    /// Jobs offered to a machine that is not their computer: (machine, job,
    /// owner, job kind).
    wrong_computer: Vec<(usize, u64, String, String)>,
    /// Machines the Deployment Server registered during the run.
    registered_during_run: Vec<usize>,
    /// What happened when, for `--svg`; `None` when no timeline was asked for.
    timeline: Option<Box<timeline::Recorder>>,
    /// A machine's transmits between draining it and handing them to the
    /// network, kept so that the buffer is not allocated afresh per event.
    outbox: Vec<Transmit>,
}

/// Hands the network's scheduling requests to the world's one queue.
struct Sched<'a>(&'a mut Queue<Event>);

impl Schedule for Sched<'_> {
    fn schedule(&mut self, at: Instant, ev: NetEvent) {
        self.0.push(at, Event::Net(ev));
    }
}

impl World {
    fn run(&mut self, mut progress: Option<Box<dyn FnMut(Progress)>>) {
        self.end_reason = crate::report::EndReason::Quiet;
        let mut report = |w: &World| {
            if let Some(p) = progress.as_mut() {
                p(Progress {
                    now: w.now,
                    done: w.computers.len() - w.running,
                    clients: w.computers.len(),
                });
            }
        };
        while let Some(at) = self.queue.peek_time() {
            if self.events.is_multiple_of(PROGRESS_EVERY) {
                report(self);
            }
            if at > self.end {
                self.end_reason = if self.running == 0 {
                    crate::report::EndReason::AllClientsDone
                } else {
                    crate::report::EndReason::TimeLimit
                };
                break;
            }
            let Some((at, event)) = self.queue.pop() else {
                break;
            };
            self.now = at;
            self.events += 1;
            match event {
                Event::Net(ev) => {
                    if let Some(arrival) = self.net.handle(at, ev, &mut Sched(&mut self.queue)) {
                        self.arrive(arrival);
                    }
                }
                Event::Wake(node) => {
                    let Some(timer) = self.timer_get(node) else {
                        continue;
                    };
                    if timer.queued != Some(at) {
                        continue; // superseded by an earlier wake-up
                    }
                    timer.queued = None;
                    match timer.wanted {
                        Some(w) if w <= at => {
                            self.timer_clear(node);
                            self.wake(node);
                        }
                        Some(w) => {
                            // The machine moved its deadline later meanwhile.
                            timer.queued = Some(w);
                            self.queue.push(w, Event::Wake(node));
                        }
                        None => {
                            self.timer_clear(node);
                        }
                    }
                }
                Event::PowerOn(c) => {
                    let computer = &self.computers[c];
                    self.net.link_up(computer.port, at);
                    let next = if computer.managed.is_some() {
                        Event::Boot(c)
                    } else {
                        Event::Start(c)
                    };
                    self.queue.push(at + computer.post, next);
                    self.timeline_enter(c, timeline::Stage::Post);
                }
                Event::Start(c) => self.start(c),
                Event::Fault(i) => self.fault(i),
                Event::Boot(c) => self.boot(c),
                Event::AgentStart(c, what) => self.agent_start(c, what),
                Event::Tcp(k, what) => self.tcp(k, what),
            }
        }
        if self.running == 0 {
            self.end_reason = crate::report::EndReason::AllClientsDone;
        }
        self.now = self.now.min(self.end);
        report(self);
    }

    fn start(&mut self, c: usize) {
        let now = self.now;
        let computer = &mut self.computers[c];
        if computer.outcome.is_some() {
            return;
        }
        // iPXE opens the NIC afresh, and the switch sees a new link (Q6).
        if computer.firmware.profile().resets_link {
            self.net.link_up(computer.port, now);
        }
        computer.firmware.power_on(now);
        self.after(Node::Computer(c));
    }

    fn fault(&mut self, i: usize) {
        use crate::scenario::FaultKind;
        let (kind, target) = self.faults[i].clone();
        match kind {
            FaultKind::ServerDown | FaultKind::ServerUp => {
                if let Some(s) = self.servers.iter().position(|s| s.name == target) {
                    let port = self.servers[s].port;
                    self.net.set_down(port, kind == FaultKind::ServerDown);
                }
            }
            FaultKind::FleetLinkDown | FaultKind::FleetLinkUp => {
                let down = kind == FaultKind::FleetLinkDown;
                let ports: Vec<PortId> = self
                    .fleet_index(&target)
                    .map(|f| {
                        self.fleet_members[f]
                            .iter()
                            .map(|&c| self.computers[c].port)
                            .collect()
                    })
                    .unwrap_or_default();
                for port in ports {
                    self.net.set_down(port, down);
                    if !down {
                        self.net.link_up(port, self.now);
                    }
                }
            }
        }
    }

    fn fleet_index(&self, name: &str) -> Option<usize> {
        self.fleet_names.iter().position(|n| n == name)
    }

    fn wake(&mut self, node: Node) {
        let now = self.now;
        match node {
            Node::Dhcp(s) => {
                if let DhcpSide::Reference { dhcp, .. } = &mut self.servers[s].dhcp {
                    dhcp.handle_timeout(now);
                }
            }
            Node::Boot(s) => {
                if let DhcpSide::Reference { boot, .. } = &mut self.servers[s].dhcp {
                    boot.handle_timeout(now);
                }
            }
            Node::Foreign(s) => {
                if let DhcpSide::Foreign(f) = &mut self.servers[s].dhcp {
                    f.handle_timeout(now);
                }
            }
            Node::Session(s, tid) => {
                if let Some(session) = self.servers[s].sessions.get_mut(&tid) {
                    session.handle_timeout(now);
                }
            }
            Node::Computer(c) => {
                if self.computers[c].outcome.is_none() {
                    self.computers[c].firmware.handle_timeout(now);
                }
            }
            Node::Agent(c) => {
                if let Some(m) = self.computers[c].managed.as_mut()
                    && let Some(a) = m.agent.as_mut()
                {
                    a.agent().handle_timeout(now);
                }
            }
            Node::AgentSession(k) => self.conns[k].session.handle_timeout(now),
            Node::Fabric => {}
            Node::Multicast(d) => {
                if let Some(s) = self.deploys[d].sessions.as_mut() {
                    s.handle_timeout(now);
                }
            }
        }
        self.after(node);
    }

    /// A datagram (or an ARP failure) reached a machine.
    fn arrive(&mut self, arrival: Arrival) {
        let now = self.now;
        match arrival {
            Arrival::Unreachable { port, ip } => {
                if let Some(Station::Computer(c)) = self.stations.get(port.0 as usize).copied()
                    && self.computers[c].outcome.is_none()
                {
                    self.computers[c].firmware.handle_unreachable(now, ip);
                    self.after(Node::Computer(c));
                }
            }
            Arrival::Datagram {
                to,
                src,
                dst,
                src_mac,
                payload,
            } => {
                let dgram = Datagram {
                    src,
                    dst,
                    src_mac,
                    payload: &payload,
                };
                match self.stations.get(to.0 as usize).copied() {
                    Some(Station::Computer(c)) if self.computers[c].outcome.is_none() => {
                        self.computers[c].firmware.handle_datagram(now, dgram);
                        self.after(Node::Computer(c));
                    }
                    Some(Station::Server(s)) => self.server_receive(s, dgram),
                    _ => {}
                }
            }
        }
    }

    fn server_receive(&mut self, s: usize, dgram: Datagram<'_>) {
        let now = self.now;
        let server = &mut self.servers[s];
        match (dgram.dst.port(), &mut server.dhcp) {
            (DHCP_SERVER_PORT, DhcpSide::Reference { dhcp, .. }) => {
                dhcp.handle_datagram(now, dgram);
                self.after(Node::Dhcp(s));
            }
            (PXE_PORT, DhcpSide::Reference { boot, .. }) => {
                boot.handle_datagram(now, dgram);
                self.after(Node::Boot(s));
            }
            (DHCP_SERVER_PORT, DhcpSide::Foreign(f)) => {
                f.handle_datagram(now, dgram);
                self.after(Node::Foreign(s));
            }
            (TFTP_PORT, _) => match server.tftp.accept(now, dgram, &server.root) {
                Accept::Session(session) => {
                    let tid = server.allocate_tid();
                    server.sessions.insert(tid, session);
                    self.after(Node::Session(s, tid));
                }
                Accept::Reply(mut t) => {
                    let tid = server.allocate_tid();
                    t.src.set_port(tid);
                    let port = server.port;
                    self.send(port, t);
                }
                Accept::Ignore => {}
            },
            (tid, _) => {
                if let Some(session) = server.sessions.get_mut(&tid) {
                    session.handle_datagram(now, dgram);
                    self.after(Node::Session(s, tid));
                }
            }
        }
    }

    fn send(&mut self, from: PortId, t: Transmit) {
        self.net
            .send(self.now, from, t, &mut Sched(&mut self.queue));
    }

    /// The single-mutation rule: drain transmits and events, then re-arm the timer.
    fn after(&mut self, node: Node) {
        let now = self.now;
        let next = match node {
            Node::Dhcp(s) | Node::Boot(s) | Node::Foreign(s) => {
                let port = self.servers[s].port;
                let mut out = Vec::new();
                let mut dhcp_events: Vec<DhcpEvent> = Vec::new();
                let mut foreign_events: Vec<ForeignEvent> = Vec::new();
                let next = match (&mut self.servers[s].dhcp, node) {
                    (DhcpSide::Reference { dhcp, .. }, Node::Dhcp(_)) => {
                        out.extend(std::iter::from_fn(|| dhcp.poll_transmit()));
                        dhcp_events.extend(std::iter::from_fn(|| dhcp.poll_event()));
                        dhcp.poll_timeout()
                    }
                    (DhcpSide::Reference { boot, .. }, Node::Boot(_)) => {
                        out.extend(std::iter::from_fn(|| boot.poll_transmit()));
                        dhcp_events.extend(std::iter::from_fn(|| boot.poll_event()));
                        boot.poll_timeout()
                    }
                    (DhcpSide::Foreign(f), _) => {
                        out.extend(std::iter::from_fn(|| f.poll_transmit()));
                        foreign_events.extend(std::iter::from_fn(|| f.poll_event()));
                        f.poll_timeout()
                    }
                    _ => None,
                };
                for t in out {
                    self.send(port, t);
                }
                let log = &mut self.servers[s].log;
                for e in dhcp_events {
                    log.reference_event(&e);
                }
                for e in foreign_events {
                    log.foreign_event(&e);
                }
                next
            }
            Node::Session(s, tid) => {
                let server = &mut self.servers[s];
                let port = server.port;
                let Some(session) = server.sessions.get_mut(&tid) else {
                    return;
                };
                let mut out = std::mem::take(&mut self.outbox);
                while let Some(mut t) = session.poll_transmit() {
                    // Port 0 is "the session's own socket": its TID.
                    if t.src.port() == 0 {
                        t.src.set_port(tid);
                    }
                    out.push(t);
                }
                let mut finished: Vec<TransferSummary> = Vec::new();
                while let Some(TftpEvent::Finished(summary)) = session.poll_event() {
                    finished.push(summary);
                }
                let next = if session.is_finished() {
                    server.sessions.remove(&tid);
                    None
                } else {
                    session.poll_timeout()
                };
                for summary in &finished {
                    self.servers[s].log.transfer(summary);
                }
                for t in out.drain(..) {
                    self.send(port, t);
                }
                self.outbox = out;
                next
            }
            Node::Agent(c) => self.agent_poll(c),
            Node::AgentSession(k) => self.session_poll(k),
            Node::Fabric => self.fabric_poll(),
            Node::Multicast(d) => self.multicast_poll(d),
            Node::Computer(c) => {
                let port = self.computers[c].port;
                let mut out = std::mem::take(&mut self.outbox);
                let mut events = Vec::new();
                {
                    let fw = &mut self.computers[c].firmware;
                    out.extend(std::iter::from_fn(|| fw.poll_transmit()));
                    events.extend(std::iter::from_fn(|| fw.poll_event()));
                }
                for t in out.drain(..) {
                    self.send(port, t);
                }
                self.outbox = out;
                for e in events {
                    self.firmware_event(c, e);
                }
                if self.computers[c].outcome.is_some() {
                    None
                } else {
                    self.computers[c].firmware.poll_timeout()
                }
            }
        };
        let timer = match node {
            Node::Computer(c) => &mut self.computer_timers[c],
            _ => self.timers.entry(node).or_default(),
        };
        timer.wanted = next.map(|t| t.max(now));
        match (timer.wanted, timer.queued) {
            // Only an earlier deadline needs a new heap entry: a later one is
            // picked up when the queued entry comes due. Retransmission timers
            // move later on every packet, and pushing each move filled the
            // heap with millions of stale entries in a large storm.
            (Some(w), None) => {
                timer.queued = Some(w);
                self.queue.push(w, Event::Wake(node));
            }
            (Some(w), Some(q)) if w < q => {
                timer.queued = Some(w);
                self.queue.push(w, Event::Wake(node));
            }
            (None, None) => self.timer_clear(node),
            _ => {}
        }
    }

    /// The timer of `node`, if it has one set or queued.
    fn timer_get(&mut self, node: Node) -> Option<&mut Timer> {
        match node {
            Node::Computer(c) => self.computer_timers.get_mut(c),
            _ => self.timers.get_mut(&node),
        }
    }

    /// Forgets `node`'s timer: an entry still queued for it finds nothing to wake.
    fn timer_clear(&mut self, node: Node) {
        match node {
            Node::Computer(c) => {
                if let Some(t) = self.computer_timers.get_mut(c) {
                    *t = Timer::default();
                }
            }
            _ => {
                self.timers.remove(&node);
            }
        }
    }

    fn firmware_event(&mut self, c: usize, event: FirmwareEvent) {
        let now = self.now;
        self.timeline_firmware(c, &event);
        match &event {
            FirmwareEvent::Discover { .. } => {
                self.computers[c].last_discover = Some(now);
            }
            FirmwareEvent::Offer { server, kind, .. } => {
                if let Some(&s) = self.by_addr.get(server) {
                    if let Some(sent) = self.computers[c].last_discover {
                        self.servers[s].log.offer_latency(now - sent);
                    }
                    self.heard[c].offer(s, *kind);
                }
            }
            FirmwareEvent::Bound { ip, server } => {
                let port = self.computers[c].port;
                self.net.set_ip(port, Some(*ip));
                self.computers[c].leased_from = Some(*server);
            }
            FirmwareEvent::Loaded {
                tftp_server, file, ..
            } => {
                let server = self.by_addr.get(tftp_server).copied();
                let kind = server
                    .and_then(|s| self.servers[s].files.get(file).copied())
                    .unwrap_or_else(|| NbpKind::guess(file));
                self.execute(c, server, file.clone(), kind);
            }
            FirmwareEvent::Failed { error, detail } if self.computers[c].managed.is_some() => {
                // The BIOS goes on to its next boot device.
                self.step(
                    c,
                    format!("PXE: {error} ({detail}); the BIOS boots the disk"),
                );
                let label = format!("PXE: {error}");
                if let Some(looping) = self.computers[c].record_stage(label, now) {
                    self.finish(c, looping);
                } else {
                    self.disk_boot(c);
                }
            }
            FirmwareEvent::Failed { error, detail } => {
                self.finish(
                    c,
                    Outcome::Failed {
                        error: *error,
                        detail: detail.clone(),
                        at: now,
                    },
                );
            }
            _ => {}
        }
        if self.paths.is_some()
            && let Some(step) = collect::step(&event, |ip| self.server_name(ip))
            && let Some(paths) = &mut self.paths
        {
            paths[c].push(step);
        }
    }

    /// A server's name for an address, or the address itself.
    fn server_name(&self, ip: Ipv4Addr) -> String {
        self.by_addr
            .get(&ip)
            .map_or_else(|| ip.to_string(), |&s| self.servers[s].name.clone())
    }

    /// The firmware hands control to the NBP it loaded.
    fn execute(&mut self, c: usize, server: Option<usize>, file: String, kind: NbpKind) {
        let now = self.now;
        let label = format!("{file} from {}", self.name_of(server));
        if let Some(looping) = self.computers[c].record_stage(label, now) {
            return self.finish(c, looping);
        }
        match kind {
            NbpKind::Bootworks if self.computers[c].managed.is_some() => {
                let after = self.computers[c]
                    .managed
                    .as_ref()
                    .map_or(0.0, |m| m.spec.bootworks_boot_s);
                self.queue.push(
                    now + Duration::from_secs_f64(after.max(0.0)),
                    Event::AgentStart(
                        c,
                        deploy::AgentStart::Bootworks(pxelab_reference::agent::Delivery::Pxe),
                    ),
                );
            }
            NbpKind::Script | NbpKind::Loader | NbpKind::Bootworks => self.finish(
                c,
                Outcome::Booted {
                    server,
                    file,
                    at: now,
                },
            ),
            NbpKind::Ipxe => {
                let computer = &mut self.computers[c];
                let profile = Arc::new(computer.firmware.profile().ipxe_chained());
                let rng = stream(
                    self.seed,
                    &format!("firmware:{}:{}", computer.fleet, computer.index),
                    computer.history.len() as u64,
                );
                computer.firmware = Firmware::new(
                    profile,
                    crate::firmware::Identity {
                        mac: computer.mac,
                        uuid: computer.uuid,
                    },
                    rng,
                );
                // iPXE starts without the ROM's lease: it asks again.
                self.net.set_ip(computer.port, None);
                self.timer_clear(Node::Computer(c));
                self.queue.push(now + IPXE_START, Event::Start(c));
            }
        }
    }

    fn finish(&mut self, c: usize, outcome: Outcome) {
        let computer = &mut self.computers[c];
        if computer.outcome.is_some() {
            return;
        }
        computer.outcome = Some(outcome);
        self.running -= 1;
        if computer.managed.is_some() {
            self.timer_clear(Node::Agent(c));
            self.forget_transfers(c);
        }
        if self.running == 0 {
            self.end = self.end.min(self.now + SETTLE);
        }
        self.timeline_finish(c);
    }
}

impl Server {
    /// A fresh TID for a session, from the ephemeral range, skipping live ones.
    fn allocate_tid(&mut self) -> u16 {
        loop {
            let tid = self.next_tid;
            self.next_tid = if tid == u16::MAX {
                EPHEMERAL_FIRST
            } else {
                tid + 1
            };
            if !self.sessions.contains_key(&tid) {
                return tid;
            }
        }
    }
}
