//! The deployment plane in the world: Deployment Servers on server hosts,
//! managed machines going from boot to boot, their agents' TCP conversations,
//! and image transfers.
//!
//! The agents and the server are the reference crate's machines, unchanged;
//! what is modelled here is what lies between them:
//!
//! - **boots**: the boot order picks PXE or the disk, the MBR picks the
//!   Bootworks partition (boot flag armed) or the OS, each agent's final action
//!   says what boots next (close: the machine stays in its OS; reboot; exit:
//!   the next boot device);
//! - **TCP**: a connection is a reliable, ordered byte stream with the two
//!   ports' one-way latency; it opens when the server's port passes traffic and
//!   the two hosts share a segment, and otherwise never answers (the agent's
//!   own connect timeout turns that into `ERROR: Unable to open TCP socket`);
//! - **images**: the bytes are not moved through the agent stream (100
//!   machines × 2 GiB would be hundreds of gigabytes of copying); Bootworks runs
//!   with [`ImageTransport::Host`], the transfer's duration comes from the
//!   bandwidth-sharing model ([`crate::imaging`]: unicast flows share the
//!   server uplink, a multicast session is one stream on it), and on completion
//!   the partition is written with a reference to the image's exact bytes, so
//!   Bootworks' SHA-256 check and the report's byte-for-byte check are real.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pxelab_reference::Instant;
use pxelab_reference::agent::{
    AClient, AgentAction, AgentEvent, AgentEventKind, Bootworks, Delivery, ImageTransport,
};
use pxelab_reference::deploy::{
    AgentSession, DeployEvent, DeploymentServer, ImageSource, SessionEvent, SessionEventKind,
};
use pxelab_reference::wire::mbr::BootTarget;

use super::{Event, Node, World};
use crate::firmware::{Firmware, Identity};
use crate::imaging::{Fabric, FlowId, LinkId, MulticastSessions};
use crate::machine::disk::ImageContent;
use crate::machine::{Outcome, RunningAgent};
use crate::scenario::{BootOrder, DeployMode, TransferSpec};

/// A Deployment Server on a server station.
pub(super) struct DeployStation {
    pub name: String,
    /// Index of the server station it runs on.
    pub station: usize,
    pub mode: DeployMode,
    pub core: DeploymentServer,
    pub images: SimImages,
    pub transfer: TransferSpec,
    pub sessions: Option<MulticastSessions<usize>>,
    /// Its uplink in the bandwidth model.
    pub uplink: LinkId,
    /// Decisions it made, in order (scheduling, refusals, job states).
    pub log: Vec<DeployEvent>,
    /// Transfers it served: (machine, start, end, bytes, multicast).
    pub transfers: Vec<TransferRecord>,
}

/// One image transfer to one machine.
#[derive(Debug, Clone)]
pub(super) struct TransferRecord {
    pub computer: usize,
    /// The flow it was part of (a multicast session serves many machines).
    pub flow: FlowId,
    pub started: Instant,
    pub finished: Instant,
    pub bytes: u64,
    pub multicast: bool,
}

/// The image store's bytes: computed from seeds, never held.
#[derive(Default)]
pub(super) struct SimImages(pub BTreeMap<String, ImageContent>);

impl ImageSource for SimImages {
    fn read(&self, image: &str, offset: u64, buf: &mut [u8]) -> usize {
        self.0.get(image).map_or(0, |i| i.read_at(offset, buf))
    }
}

/// An agent's TCP connection to a Deployment Server.
pub(super) struct Conn {
    pub computer: usize,
    pub deploy: usize,
    pub session: AgentSession,
    /// One-way delay of the path.
    pub delay: Duration,
    /// The agent's side is open (it has not closed it).
    pub agent_open: bool,
    /// The server's side is open.
    pub server_open: bool,
}

/// Something that happens on a connection.
pub(super) enum Tcp {
    /// The handshake completed (the agent learns it).
    Connected,
    /// Bytes reach the server.
    ToServer(Vec<u8>),
    /// Bytes reach the agent.
    ToAgent(Vec<u8>),
    /// The server closed its side (the agent learns it).
    ServerClosed,
    /// The agent closed its side (the server learns it).
    AgentClosed,
}

/// What a machine starts after its boot device is chosen.
#[derive(Debug, Clone, Copy)]
pub(super) enum AgentStart {
    AClient,
    Bootworks(Delivery),
}

/// The bulk transfers under way.
#[derive(Default)]
pub(super) struct Transfers {
    pub fabric: Fabric,
    /// Each flow's receivers, image and deployment.
    pub flows: BTreeMap<FlowId, (Vec<usize>, String, usize, bool)>,
    /// Each machine's access link, made on first use.
    pub access: BTreeMap<usize, LinkId>,
}

impl World {
    /// The machine's boot device: PXE or its disk (after POST or a reboot).
    pub(super) fn boot(&mut self, c: usize) {
        if self.computers[c].outcome.is_some() {
            return;
        }
        let Some(m) = self.computers[c].managed.as_mut() else {
            return self.start(c);
        };
        m.boots += 1;
        m.offered = None;
        m.transferring = false;
        match m.spec.boot_order {
            BootOrder::Network => self.network_boot(c),
            BootOrder::Disk => self.disk_boot(c),
        }
    }

    /// The boot ROM starts afresh (every boot: the ROM keeps nothing).
    fn network_boot(&mut self, c: usize) {
        let now = self.now;
        let seed = self.seed;
        let computer = &mut self.computers[c];
        let Some(m) = computer.managed.as_ref() else {
            return;
        };
        let rng = crate::engine::stream(
            seed,
            &format!("firmware:{}:{}", computer.fleet, computer.index),
            computer.history.len() as u64 + u64::from(m.boots),
        );
        computer.firmware = Firmware::new(
            m.rom.clone(),
            Identity {
                mac: computer.mac,
                uuid: computer.uuid,
            },
            rng,
        );
        let port = computer.port;
        self.net.set_ip(port, None);
        self.timer_clear(Node::Computer(c));
        self.queue.push(now, Event::Start(c));
    }

    /// The BIOS boots the disk: its MBR says where.
    pub(super) fn disk_boot(&mut self, c: usize) {
        let now = self.now;
        let Some(m) = self.computers[c].managed.as_ref() else {
            return;
        };
        match m.disk.boot_target() {
            Ok(BootTarget::Bootworks { .. }) => {
                let after = secs(m.spec.bootworks_boot_s);
                self.queue.push(
                    now + after,
                    Event::AgentStart(c, AgentStart::Bootworks(Delivery::Partition)),
                );
                self.timeline_enter(c, super::timeline::Stage::Bootworks);
            }
            Ok(BootTarget::Active { .. }) if m.os.is_some() => {
                let after = secs(m.spec.os_boot_s);
                self.queue
                    .push(now + after, Event::AgentStart(c, AgentStart::AClient));
                self.timeline_enter(c, super::timeline::Stage::Os);
            }
            Ok(_) => self.stop(c, "Missing operating system".to_string()),
            Err(e) => self.stop(c, format!("the disk cannot be booted: {e}")),
        }
    }

    /// The machine halts with a message on its screen.
    fn stop(&mut self, c: usize, reason: String) {
        let now = self.now;
        self.step(c, format!("halts: {reason}"));
        self.finish(c, Outcome::Halted { reason, at: now });
    }

    /// An agent starts on the machine.
    pub(super) fn agent_start(&mut self, c: usize, start: AgentStart) {
        let now = self.now;
        if self.computers[c].outcome.is_some() {
            return;
        }
        let Some(m) = self.computers[c].managed.as_mut() else {
            return;
        };
        let config = m.config.clone();
        let mut agent = match start {
            AgentStart::AClient => RunningAgent::AClient(AClient::new(config)),
            AgentStart::Bootworks(delivery) => RunningAgent::Bootworks(
                Bootworks::new(config, delivery).with_image_transport(ImageTransport::Host),
            ),
        };
        agent.agent().boot(now, &mut m.disk);
        m.agent = Some(agent);
        self.timeline_agent_start(c, start);
        self.after(Node::Agent(c));
    }

    /// Drains the agent's frames, events and actions; returns its next wake-up.
    pub(super) fn agent_poll(&mut self, c: usize) -> Option<Instant> {
        let now = self.now;
        let mut frames = Vec::new();
        let mut events: Vec<AgentEvent> = Vec::new();
        let mut actions = Vec::new();
        let mut wants_image = None;
        {
            let m = self.computers[c].managed.as_mut()?;
            let agent = m.agent.as_mut()?;
            let a = agent.agent();
            frames.extend(std::iter::from_fn(|| a.poll_send()));
            events.extend(std::iter::from_fn(|| a.poll_event()));
            actions.extend(std::iter::from_fn(|| a.poll_action()));
            if let RunningAgent::Bootworks(bw) = agent
                && !m.transferring
                && let Some(w) = bw.awaiting_image()
            {
                m.transferring = true;
                wants_image = Some(w);
            }
        }
        let conn = self.computers[c].managed.as_ref().and_then(|m| m.conn);
        if let Some(k) = conn {
            let delay = self.conns[k].delay;
            if self.conns[k].agent_open {
                for f in frames {
                    self.queue
                        .push(now + delay, Event::Tcp(k, Tcp::ToServer(f)));
                }
            }
        }
        for e in events {
            self.agent_event(c, e);
        }
        if let Some(w) = wants_image {
            self.start_transfer(c, w.image.name.clone(), w.image.size);
        }
        for action in actions {
            match action {
                AgentAction::Connect => self.connect(c),
                end => {
                    self.agent_end(c, end);
                    return None;
                }
            }
        }
        let m = self.computers[c].managed.as_mut()?;
        m.agent.as_mut()?.agent().poll_timeout()
    }

    fn agent_event(&mut self, c: usize, e: AgentEvent) {
        match &e.kind {
            AgentEventKind::JobOffered { job_id, kind } => {
                if let Some(m) = self.computers[c].managed.as_mut() {
                    m.offered = Some((*job_id, job_kind_name(*kind)));
                }
                self.check_right_computer(c, *job_id);
            }
            AgentEventKind::Printed(line) => {
                let line = line.clone();
                self.step(c, format!("screen: {line}"));
            }
            _ => {}
        }
        if let Some(paths) = &mut self.paths
            && !matches!(e.kind, AgentEventKind::Printed(_))
        {
            paths[c].push(format!(
                "{} {}",
                crate::report::Time(e.at.since_start()),
                e.kind
            ));
        }
    }

    /// A job offered to machine `c` that belongs to another computer (the
    /// legacy server matched it by a duplicate UUID): reported once per job.
    fn check_right_computer(&mut self, c: usize, job_id: u64) {
        let Some(m) = self.computers[c].managed.as_ref() else {
            return;
        };
        let d = m.deployment;
        let mac = self.computers[c].mac;
        let core = &self.deploys[d].core;
        let Some(job) = u32::try_from(job_id)
            .ok()
            .and_then(|id| core.job(pxelab_reference::deploy::JobId(id)))
        else {
            return;
        };
        let Some(owner) = core.computers().get(job.computer) else {
            return;
        };
        if owner.mac != mac {
            let line = (
                c,
                job_id,
                format!("{} ({})", owner.name, owner.mac),
                job.kind.to_string(),
            );
            if !self
                .wrong_computer
                .iter()
                .any(|w| w.0 == c && w.1 == job_id)
            {
                self.wrong_computer.push(line);
            }
        }
    }

    /// A line of the machine's story, for the report of small runs.
    pub(super) fn step(&mut self, c: usize, text: String) {
        if let Some(paths) = &mut self.paths {
            paths[c].push(format!(
                "{} {text}",
                crate::report::Time(self.now.since_start())
            ));
        }
    }

    /// The agent ended its run: close the connection, record the stage, boot on.
    fn agent_end(&mut self, c: usize, action: AgentAction) {
        let now = self.now;
        let Some(m) = self.computers[c].managed.as_mut() else {
            return;
        };
        let Some(agent) = m.agent.take() else {
            return;
        };
        if let Some(k) = m.conn.take() {
            let conn = &mut self.conns[k];
            if conn.agent_open {
                conn.agent_open = false;
                let delay = conn.delay;
                self.queue
                    .push(now + delay, Event::Tcp(k, Tcp::AgentClosed));
            }
        }
        self.timer_clear(Node::Agent(c));
        let m = self.computers[c].managed.as_mut().expect("checked above");
        let os = m.os.clone().unwrap_or_else(|| "the OS".to_string());
        // Words that are the same on every turn and on every machine of a
        // fleet (no job numbers, no attempt counts), so a loop is one cycle.
        let job = m
            .offered
            .map(|(_, kind)| format!("a {kind} job"))
            .unwrap_or_else(|| "no job".to_string());
        let (label, next) = match (&agent, action) {
            (RunningAgent::AClient(_), AgentAction::Reboot) => (
                format!("{os}: AClient arms the boot flag for {job} and reboots"),
                Next::Reboot,
            ),
            (RunningAgent::AClient(_), _) => (format!("{os}: AClient, {job}"), Next::Settle),
            (RunningAgent::Bootworks(bw), action) => {
                let from = match bw.delivery() {
                    Delivery::Pxe => "Bootworks (PXE)",
                    Delivery::Partition => "Bootworks (partition)",
                };
                let last = bw
                    .screen()
                    .iter()
                    .rev()
                    .find(|l| !l.starts_with("Bootworks started"))
                    .cloned()
                    .unwrap_or_default();
                let next = match (action, bw.delivery()) {
                    (AgentAction::Reboot, _) => Next::Reboot,
                    (_, Delivery::Partition) => Next::Os,
                    (_, Delivery::Pxe) => Next::Disk,
                };
                let verb = match action {
                    AgentAction::Reboot => "reboots",
                    _ => "exits",
                };
                (format!("{from}, {job}: {last}; {verb}"), next)
            }
        };
        self.timeline_agent_end(c, &label);
        self.record_progress(c);
        if let Some(looping) = self.computers[c].record_stage(label.clone(), now) {
            self.step(c, format!("{label} — the same stages again: stopped"));
            return self.finish(c, looping);
        }
        let m = self.computers[c].managed.as_ref().expect("checked above");
        match next {
            Next::Settle => {
                let os = m.os.clone().unwrap_or_default();
                self.finish(c, Outcome::InOs { os, at: now });
            }
            Next::Reboot => {
                let at = now + secs(m.spec.reboot_s);
                self.queue.push(at, Event::Boot(c));
                self.timeline_enter(c, super::timeline::Stage::Post);
            }
            Next::Os => {
                if m.os.is_some() {
                    let at = now + secs(m.spec.os_boot_s);
                    self.queue
                        .push(at, Event::AgentStart(c, AgentStart::AClient));
                    self.timeline_enter(c, super::timeline::Stage::Os);
                } else {
                    self.stop(c, "Missing operating system".to_string());
                }
            }
            Next::Disk => self.disk_boot(c),
        }
    }

    /// Progress for the loop detector: a job of this machine reached a state it
    /// had not reached before (a reference server's failed-attempt count is
    /// part of the state: it runs towards a bound; a legacy server's is not).
    pub(super) fn record_progress(&mut self, c: usize) {
        let Some(m) = self.computers[c].managed.as_ref() else {
            return;
        };
        let d = m.deployment;
        let mac = self.computers[c].mac;
        let station = &self.deploys[d];
        let Some(id) = station.core.computers().by_mac(mac) else {
            return;
        };
        let bounded = station.mode == DeployMode::Reference;
        let mut keys = Vec::new();
        for job in station.core.jobs().iter().filter(|j| j.computer == id) {
            let attempts = if bounded { job.failed_attempts() } else { 0 };
            keys.push(format!(
                "{}:{}:{}:{}",
                job.id,
                job.state().name(),
                attempts,
                job.pre_os_done()
            ));
        }
        let imaged = m.imaged.len();
        keys.push(format!("imaged:{imaged}"));
        let m = self.computers[c].managed.as_mut().expect("checked above");
        let mut moved = false;
        for k in keys {
            moved |= m.progress_seen.insert(k);
        }
        if moved {
            self.computers[c].history.progress();
        }
    }

    /// The agent asks for a TCP connection to its Deployment Server.
    fn connect(&mut self, c: usize) {
        let now = self.now;
        let Some(m) = self.computers[c].managed.as_ref() else {
            return;
        };
        let d = m.deployment;
        let server_port = self.servers[self.deploys[d].station].port;
        let client_port = self.computers[c].port;
        let reachable = self.net.same_segment(server_port, client_port)
            && !self.net.port_blocked(server_port, now)
            && !self.net.port_blocked(client_port, now);
        if !reachable {
            // No SYN-ACK ever comes: the agent's connect timeout decides.
            return;
        }
        let delay =
            self.net.port_link(server_port).latency + self.net.port_link(client_port).latency;
        let ip = self
            .net
            .port_ip(client_port)
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        let k = self.conns.len();
        self.conns.push(Conn {
            computer: c,
            deploy: d,
            session: AgentSession::new(now, SocketAddrV4::new(ip, 1024 + (c % 60000) as u16)),
            delay,
            agent_open: true,
            server_open: true,
        });
        if let Some(m) = self.computers[c].managed.as_mut() {
            m.conn = Some(k);
        }
        self.queue
            .push(now + delay * 2, Event::Tcp(k, Tcp::Connected));
        self.after(Node::AgentSession(k));
    }

    /// Something happened on connection `k`.
    pub(super) fn tcp(&mut self, k: usize, what: Tcp) {
        let now = self.now;
        let c = self.conns[k].computer;
        let current = self.computers[c]
            .managed
            .as_ref()
            .is_some_and(|m| m.conn == Some(k) && m.agent.is_some());
        match what {
            Tcp::Connected | Tcp::ToAgent(_) | Tcp::ServerClosed => {
                // Only the agent's current connection reaches it.
                if !(current && self.conns[k].agent_open) {
                    return;
                }
                let m = self.computers[c].managed.as_mut().expect("current");
                if let Some(agent) = m.agent.as_mut() {
                    let a = agent.agent();
                    match what {
                        Tcp::Connected => a.handle_connected(now),
                        Tcp::ToAgent(bytes) => a.handle_bytes(now, &bytes, &mut m.disk),
                        _ => a.handle_closed(now),
                    }
                }
                self.after(Node::Agent(c));
            }
            Tcp::ToServer(bytes) => {
                if !self.conns[k].server_open {
                    return;
                }
                let d = self.conns[k].deploy;
                let mut rest = &bytes[..];
                let mut guard = 0;
                while !rest.is_empty() && guard < 1000 {
                    guard += 1;
                    let station = &mut self.deploys[d];
                    let taken = self.conns[k].session.handle_bytes(
                        now,
                        rest,
                        &mut station.core,
                        &station.images,
                    );
                    rest = &rest[taken.min(rest.len())..];
                    self.session_flush(k);
                }
                self.after(Node::AgentSession(k));
            }
            Tcp::AgentClosed => {
                if self.conns[k].server_open {
                    self.conns[k].session.handle_closed(now);
                    self.after(Node::AgentSession(k));
                }
            }
        }
    }

    /// Sends what the session wrote, logs what it and the server decided, and
    /// closes the server's side when the session is over.
    fn session_flush(&mut self, k: usize) {
        let now = self.now;
        let d = self.conns[k].deploy;
        let delay = self.conns[k].delay;
        while let Some(frame) = self.conns[k].session.poll_send() {
            self.queue
                .push(now + delay, Event::Tcp(k, Tcp::ToAgent(frame)));
        }
        let mut session_events: Vec<SessionEvent> = Vec::new();
        while let Some(e) = self.conns[k].session.poll_event() {
            session_events.push(e);
        }
        for e in session_events {
            if let SessionEventKind::Welcomed {
                registered: true,
                computer,
                ..
            } = e.kind
            {
                let c = self.conns[k].computer;
                self.step(
                    c,
                    "registered by the Deployment Server (initial deployment)".into(),
                );
                self.registered_during_run.push(c);
                // The lab gives a newcomer its own image-share account, as
                // `pxelab deploy-server` does (the core draws no randomness).
                let bytes: [u8; 32] = rand::RngExt::random(&mut crate::engine::stream(
                    self.seed,
                    &format!("credential:newcomer-share:{c}"),
                    0,
                ));
                let _ = self.deploys[d].core.set_credential(
                    computer,
                    pxelab_reference::deploy::CredentialKind::Share,
                    pxelab_reference::deploy::Credential::from_bytes(bytes),
                );
            }
        }
        self.drain_deploy_events(d);
        if self.conns[k].server_open && self.conns[k].session.is_closed() {
            self.conns[k].server_open = false;
            self.queue
                .push(now + delay, Event::Tcp(k, Tcp::ServerClosed));
        }
    }

    pub(super) fn drain_deploy_events(&mut self, d: usize) {
        let station = &mut self.deploys[d];
        while let Some(e) = station.core.poll_event() {
            station.log.push(e);
        }
    }

    /// The session's next wake-up (its idle timeout).
    pub(super) fn session_poll(&mut self, k: usize) -> Option<Instant> {
        self.session_flush(k);
        if self.conns[k].server_open {
            self.conns[k].session.poll_timeout()
        } else {
            None
        }
    }

    /// Bootworks waits for its image: a unicast flow, or a place in the next
    /// multicast session.
    fn start_transfer(&mut self, c: usize, image: String, size: u64) {
        let now = self.now;
        let Some(m) = self.computers[c].managed.as_mut() else {
            return;
        };
        let d = m.deployment;
        self.timeline_imaging(c, true);
        match self.deploys[d].transfer {
            TransferSpec::Unicast => {
                let path = [self.deploys[d].uplink, self.access_link(c)];
                let flow = self.transfers.fabric.start_unicast(now, &path, size);
                self.transfers
                    .flows
                    .insert(flow, (vec![c], image, d, false));
                self.after(Node::Fabric);
            }
            TransferSpec::Multicast { .. } => {
                if let Some(s) = self.deploys[d].sessions.as_mut() {
                    s.join(now, c);
                }
                self.pending_image.insert(c, (image, size));
                self.after(Node::Multicast(d));
            }
        }
    }

    fn access_link(&mut self, c: usize) -> LinkId {
        if let Some(&l) = self.transfers.access.get(&c) {
            return l;
        }
        let bps = self.net.port_link(self.computers[c].port).bandwidth_bps as f64;
        let l = self.transfers.fabric.add_link(bps);
        self.transfers.access.insert(c, l);
        l
    }

    /// Multicast sessions that must start now.
    pub(super) fn multicast_poll(&mut self, d: usize) -> Option<Instant> {
        let now = self.now;
        while let Some(receivers) = self.deploys[d]
            .sessions
            .as_mut()
            .and_then(|s| s.poll_start())
        {
            // Receivers that stopped meanwhile are not waited for.
            let receivers: Vec<usize> = receivers
                .into_iter()
                .filter(|c| self.pending_image.contains_key(c))
                .collect();
            let Some((image, size)) = receivers
                .first()
                .and_then(|c| self.pending_image.get(c))
                .cloned()
            else {
                continue;
            };
            let mut links = Vec::new();
            for &c in &receivers {
                let loss = self.net.port_link(self.computers[c].port).loss;
                links.push((vec![self.access_link(c)], loss));
                self.pending_image.remove(&c);
            }
            let flow =
                self.transfers
                    .fabric
                    .start_multicast(now, &[self.deploys[d].uplink], &links, size);
            self.transfers
                .flows
                .insert(flow, (receivers, image, d, true));
            self.after(Node::Fabric);
        }
        self.deploys[d]
            .sessions
            .as_ref()
            .and_then(|s| s.poll_timeout())
    }

    /// Transfers that completed: their partitions hold the image now.
    pub(super) fn fabric_poll(&mut self) -> Option<Instant> {
        let now = self.now;
        for done in self.transfers.fabric.advance(now) {
            let Some((receivers, image, d, multicast)) = self.transfers.flows.remove(&done.flow)
            else {
                continue;
            };
            let Some(content) = self.deploys[d].images.0.get(&image).cloned() else {
                continue;
            };
            for c in receivers {
                self.deploys[d].transfers.push(TransferRecord {
                    computer: c,
                    flow: done.flow,
                    started: done.started,
                    finished: done.finished,
                    bytes: done.bytes,
                    multicast,
                });
                self.deliver_image(c, &image, &content);
            }
        }
        self.transfers.fabric.next_completion()
    }

    fn deliver_image(&mut self, c: usize, name: &str, content: &ImageContent) {
        let now = self.now;
        let Some(m) = self.computers[c].managed.as_mut() else {
            return;
        };
        let Some(RunningAgent::Bootworks(bw)) = m.agent.as_mut() else {
            return;
        };
        let Some(w) = bw.awaiting_image() else {
            return;
        };
        let result = m
            .disk
            .write_image(w.partition, content)
            .map_err(|e| e.to_string());
        if result.is_ok() {
            m.os = Some(name.to_string());
            m.imaged.push((name.to_string(), now));
        }
        bw.handle_image_delivered(now, result, &mut m.disk);
        self.timeline_imaging(c, false);
        self.after(Node::Agent(c));
    }

    /// A machine stopped: its transfers and waits are dropped.
    pub(super) fn forget_transfers(&mut self, c: usize) {
        let now = self.now;
        self.pending_image.remove(&c);
        let flows: Vec<FlowId> = self
            .transfers
            .flows
            .iter()
            .filter(|(_, (r, ..))| r.len() == 1 && r[0] == c)
            .map(|(f, _)| *f)
            .collect();
        for f in flows {
            self.transfers.flows.remove(&f);
            self.transfers.fabric.cancel(now, f);
        }
        if let Some(k) = self.computers[c]
            .managed
            .as_mut()
            .and_then(|m| m.conn.take())
        {
            let conn = &mut self.conns[k];
            if conn.agent_open {
                conn.agent_open = false;
                let delay = conn.delay;
                self.queue
                    .push(now + delay, Event::Tcp(k, Tcp::AgentClosed));
            }
        }
    }
}

/// What boots after an agent's run.
enum Next {
    /// The machine stays in its OS: nothing left to do.
    Settle,
    /// A restart: POST, then the boot order.
    Reboot,
    /// The partition's Bootworks leaves to the installed OS.
    Os,
    /// PXE-delivered Bootworks leaves: the next boot device, the disk.
    Disk,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn job_kind_name(kind: pxelab_reference::wire::agent::JobKind) -> &'static str {
    use pxelab_reference::wire::agent::JobKind;
    match kind {
        JobKind::DeployImage => "deploy-image",
        JobKind::CaptureImage => "capture-image",
        JobKind::ScriptedInstall => "scripted-install",
        JobKind::RunScript => "run-script",
        JobKind::BootToProduction => "boot-to-production",
    }
}

/// The Deployment Servers of a scenario, with their images, registered
/// computers and scheduled jobs; the managed machines get their disks and
/// agent identities.
pub(super) fn build(
    sc: &crate::scenario::Scenario,
    seed: u64,
    servers: &[super::Server],
    computers: &mut [crate::machine::Computer],
    fleet_members: &[Vec<usize>],
    net: &crate::net::Network,
    profiles: &[std::sync::Arc<crate::firmware::Profile>],
) -> Result<(Vec<DeployStation>, Transfers), super::BuildError> {
    use std::sync::Arc;

    use pxelab_reference::agent::{AgentConfig, AgentMode};
    use pxelab_reference::deploy::{
        Credential, CredentialKind, DeployConfig, Image, JobKind, PreOsPath, ServerMode, SmbiosUuid,
    };
    use pxelab_reference::wire::agent::PostConfig;
    use rand::RngExt;

    use crate::engine::stream;
    use crate::machine::{MachineDisk, Managed};
    use crate::scenario::{BootworksPath, JobKindSpec};

    let job_kind = |k: &JobKindSpec| match k {
        JobKindSpec::DeployImage(image) => JobKind::DeployImage {
            image: image.clone(),
        },
        JobKindSpec::CaptureImage(image_name) => JobKind::CaptureImage {
            image_name: image_name.clone(),
        },
        JobKindSpec::ScriptedInstall(os) => JobKind::ScriptedInstall { os: os.clone() },
        JobKindSpec::RunScript(script) => JobKind::RunScript {
            script: script.clone(),
        },
        JobKindSpec::BootToProduction => JobKind::BootToProduction,
    };
    let credential = |what: &str, c: usize| {
        let mut rng = stream(seed, &format!("credential:{what}:{c}"), 0);
        let bytes: [u8; 32] = rng.random();
        Credential::from_bytes(bytes)
    };

    let mut transfers = Transfers::default();
    let mut deploys = Vec::new();
    for (d, spec) in sc.deployments.iter().enumerate() {
        let station = servers
            .iter()
            .position(|s| s.name == spec.server)
            .ok_or_else(|| super::BuildError::Deployment {
                deployment: spec.name.clone(),
                problem: format!("its server {:?} does not exist", spec.server),
            })?;
        let mode = match spec.mode {
            DeployMode::Reference => ServerMode::Reference,
            DeployMode::Legacy => ServerMode::Legacy {
                trust_uuid: spec.trust_uuid,
            },
        };
        let mut core = DeploymentServer::new(DeployConfig {
            mode,
            max_attempts: spec.max_attempts,
            initial_deployment: spec.initial_deployment.as_ref().map(job_kind),
        });
        let mut images = SimImages::default();
        for image in &spec.images {
            let content_seed: u64 =
                stream(seed, &format!("image:{}:{}", spec.name, image.name), 0).random();
            let content = ImageContent::new(content_seed, image.size);
            core.add_image(Image {
                name: image.name.clone(),
                size: image.size,
                sha256: content.sha256(),
            })
            .map_err(|e| super::BuildError::Deployment {
                deployment: spec.name.clone(),
                problem: e.to_string(),
            })?;
            images.0.insert(image.name.clone(), content);
        }
        let uplink_bps = net.port_link(servers[station].port).bandwidth_bps as f64;
        let uplink = transfers.fabric.add_link(uplink_bps);
        let sessions = match spec.transfer {
            TransferSpec::Unicast => None,
            TransferSpec::Multicast {
                min_receivers,
                max_wait_s,
            } => Some(MulticastSessions::new(crate::imaging::SessionConfig {
                min_receivers,
                max_wait: secs(max_wait_s),
            })),
        };

        // The managed machines of this deployment.
        for (f, fleet) in sc.fleets.iter().enumerate() {
            let Some(mspec) = fleet.machine.as_ref().filter(|m| m.deployment == spec.name) else {
                continue;
            };
            let mspec = Arc::new(mspec.clone());
            for &c in &fleet_members[f] {
                let computer = &mut computers[c];
                let disk =
                    MachineDisk::new(mspec.disk_size, mspec.bootworks == BootworksPath::Partition)
                        .map_err(|e| super::BuildError::Deployment {
                            deployment: spec.name.clone(),
                            problem: format!("fleet {}: {e}", fleet.name),
                        })?;
                let agent_cred = credential("agent", c);
                let name = format!("{}-{}", fleet.name, computer.index);
                if mspec.registered {
                    let uuid = computer.wire_uuid.map(SmbiosUuid);
                    let id = core.register(Instant::ZERO, computer.mac, uuid, &name);
                    let path = match mspec.bootworks {
                        BootworksPath::Partition => PreOsPath::PartitionBootworks,
                        BootworksPath::Pxe => PreOsPath::PxeBootworks,
                        BootworksPath::None => PreOsPath::None,
                    };
                    let _ = core.set_pre_os(id, path);
                    let _ = core.set_credential(id, CredentialKind::Agent, agent_cred.clone());
                    if mspec.share_access {
                        let _ =
                            core.set_credential(id, CredentialKind::Share, credential("share", c));
                    }
                }
                computer.managed = Some(Box::new(Managed {
                    deployment: d,
                    spec: mspec.clone(),
                    rom: profiles[f].clone(),
                    disk,
                    os: mspec.os.clone(),
                    config: AgentConfig {
                        mac: computer.mac,
                        uuid: computer.wire_uuid,
                        computer_name: name,
                        credential: agent_cred.as_bytes().to_vec(),
                        mode: match spec.mode {
                            DeployMode::Reference => AgentMode::Reference {
                                max_attempts: u8::try_from(spec.max_attempts).unwrap_or(u8::MAX),
                            },
                            DeployMode::Legacy => AgentMode::Legacy,
                        },
                    },
                    agent: None,
                    conn: None,
                    offered: None,
                    transferring: false,
                    progress_seen: Default::default(),
                    imaged: Vec::new(),
                    boots: 0,
                }));
            }
        }

        // Jobs scheduled at the start.
        for job in &spec.jobs {
            let Some(f) = sc.fleets.iter().position(|fl| fl.name == job.fleet) else {
                continue;
            };
            for &c in &fleet_members[f] {
                let computer = &computers[c];
                if job.machine.is_some_and(|i| i != computer.index) {
                    continue;
                }
                let Some(id) = core.computers().by_mac(computer.mac) else {
                    continue;
                };
                if let Ok(j) = core.schedule(Instant::ZERO, id, job_kind(&job.kind))
                    && let Some(name) = &job.post_name
                {
                    let _ = core.set_post_config(
                        j,
                        PostConfig {
                            name: name.replace("{index}", &computer.index.to_string()),
                            address: None,
                        },
                    );
                }
            }
        }
        let mut log = Vec::new();
        while let Some(e) = core.poll_event() {
            log.push(e);
        }
        deploys.push(DeployStation {
            name: spec.name.clone(),
            station,
            mode: spec.mode,
            core,
            images,
            transfer: spec.transfer,
            sessions,
            uplink,
            log,
            transfers: Vec::new(),
        });
    }
    Ok((deploys, transfers))
}
