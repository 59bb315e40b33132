//! The built-in demo: `pxelab` with no arguments.
//!
//! It runs the reference server's own machines — the DHCP server, the boot server
//! on 4011 and the TFTP server — on one simulated segment in virtual time, and
//! boots three clients through them: a BIOS PXE ROM, an EDK2-style UEFI client
//! (BINL path on 4011, TFTP size probe) and iPXE. The BIOS and UEFI clients load
//! iPXE, which asks again with user class `iPXE` and must get `boot.ipxe` rather
//! than the iPXE binary again: the chainload loop the reference server breaks.
//!
//! The clients here are scripted (one DISCOVER, no retransmission, no offer
//! collection window); the faithful firmware models with their quirks belong to
//! `firmware/`. What is real is every byte the server side emits and parses.
//! Nothing touches the network, nothing reads a clock: the same run prints the
//! same report on any machine.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pxelab_reference::dhcp::{
    DhcpConfig, DhcpMode, DhcpServer, DhcpSettings, MemoryStore, PoolConfig,
};
use pxelab_reference::pxe::{BootPolicy, BootServer, BootServerConfig};
use pxelab_reference::tftp::{
    Accept, ClientEvent, ClientOptions, MemoryRoot, TftpClient, TftpEvent, TftpServer,
    TftpServerConfig, TftpSession,
};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{
    CLIENT_PORT, DhcpMessage, FLAG_BROADCAST, MessageType, Op, PXE_PORT, SERVER_PORT, code,
};
use pxelab_reference::wire::pxe::{ClassKind, ClientArch, PxeClientClass};
use pxelab_reference::{Datagram, Instant, L2Dest, Mac, Transmit};

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const TFTP_PORT: u16 = 69;
/// One-way delay of the segment (wire plus stack), so the timeline reads like a LAN.
const HOP: Duration = Duration::from_micros(300);
/// The demo stops here whatever happens: every loop in pxelab is bounded.
const END: Instant = Instant::from_secs(120);
/// How many NBPs one client may chain before the demo calls it a loop.
const MAX_CHAINS: u32 = 3;

/// Runs the demo and returns its report.
pub fn run() -> String {
    let mut lab = Lab::new();
    lab.add_client("bios", Profile::Bios, Instant::ZERO);
    lab.add_client("uefi", Profile::Uefi, Instant::from_millis(20));
    lab.add_client("ipxe", Profile::Ipxe, Instant::from_millis(40));
    lab.run();
    lab.report()
}

/// What kind of firmware a client runs, as far as the server can tell.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Profile {
    /// A PXE 2.1 BIOS ROM (arch 0).
    Bios,
    /// EDK2's UEFI PXE client (arch 7): TFTP size probe, blksize 1468, window 4.
    Uefi,
    /// iPXE (user class "iPXE", option 175), on whatever arch it was loaded on.
    Ipxe,
}

enum Stage {
    Idle,
    Discovering { xid: u32 },
    Requesting { xid: u32 },
    AskingBootServer { xid: u32 },
    Downloading { file: String, tftp: Box<TftpClient> },
    Done,
}

struct Client {
    name: String,
    mac: Mac,
    arch: ClientArch,
    profile: Profile,
    start: Instant,
    ip: Option<Ipv4Addr>,
    stage: Stage,
    chains: u32,
    outcome: Option<String>,
}

enum Node {
    Dhcp,
    BootServer,
    TftpListener,
    Session(u16),
    Client(usize),
}

struct Lab {
    now: Instant,
    dhcp: DhcpServer,
    boot: BootServer,
    tftp: TftpServer,
    root: MemoryRoot,
    sessions: Vec<(u16, Box<TftpSession>)>,
    next_port: u16,
    clients: Vec<Client>,
    /// Datagrams on the wire: (arrival, sequence, transmit). The sequence keeps
    /// equal-time arrivals in send order.
    wire: BinaryHeap<Reverse<(Instant, u64, Flight)>>,
    seq: u64,
    log: Vec<String>,
}

/// A transmit in flight (ordered only by the heap key before it).
struct Flight(Transmit);

impl PartialEq for Flight {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Flight {}
impl PartialOrd for Flight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Flight {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl Lab {
    fn new() -> Self {
        let pool: PoolConfig = "10.77.0.100-10.77.0.199"
            .parse()
            .expect("a literal range parses");
        let config = DhcpConfig {
            server_addr: SERVER_IP,
            netmask: Ipv4Addr::new(255, 255, 255, 0),
            mode: DhcpMode::Full { pools: vec![pool] },
            settings: DhcpSettings::default(),
            boot: BootPolicy::default(),
            unix_time_at_start: 1_800_000_000,
        };
        let boot = BootServer::new(BootServerConfig::from_dhcp(&config));
        let dhcp = DhcpServer::new(config, Box::new(MemoryStore::new()), Instant::ZERO)
            .expect("the demo's configuration is valid");
        let root = MemoryRoot::new()
            .with("undionly.kpxe", nbp(70_000))
            .with("ipxe.efi", nbp(1_000_000))
            .with("boot.ipxe", &b"#!ipxe\necho Booted by pxelab\n"[..]);
        Lab {
            now: Instant::ZERO,
            dhcp,
            boot,
            tftp: TftpServer::new(TftpServerConfig::default()),
            root,
            sessions: Vec::new(),
            next_port: 49152,
            clients: Vec::new(),
            wire: BinaryHeap::new(),
            seq: 0,
            log: Vec::new(),
        }
    }

    fn add_client(&mut self, name: &str, profile: Profile, start: Instant) {
        let n = self.clients.len() as u8 + 1;
        let arch = if profile == Profile::Uefi {
            ClientArch::EFI_X64
        } else {
            ClientArch::X86_BIOS
        };
        self.clients.push(Client {
            name: name.to_string(),
            mac: Mac([0x52, 0x54, 0x00, 0x77, 0x00, n]),
            arch,
            profile,
            start,
            ip: None,
            stage: Stage::Idle,
            chains: 0,
            outcome: None,
        });
    }

    fn say(&mut self, who: &str, what: impl AsRef<str>) {
        let line = format!("{:>8}  {:<12} {}", self.now.to_string(), who, what.as_ref());
        self.log.push(line);
    }

    fn send(&mut self, t: Transmit) {
        self.seq += 1;
        self.wire
            .push(Reverse((self.now + HOP, self.seq, Flight(t))));
    }

    /// The discrete-event loop: deliver the next datagram or fire the next timer,
    /// whichever is earlier, until nothing is left or the time limit.
    fn run(&mut self) {
        loop {
            for i in 0..self.clients.len() {
                if matches!(self.clients[i].stage, Stage::Idle) && self.clients[i].start <= self.now
                {
                    self.start_dhcp(i);
                }
            }
            self.flush();
            let next_start = self
                .clients
                .iter()
                .filter(|c| matches!(c.stage, Stage::Idle))
                .map(|c| c.start)
                .min();
            let next_wire = self.wire.peek().map(|Reverse((t, _, _))| *t);
            let next_timer = self.next_timer();
            let Some(next) = [next_start, next_wire, next_timer]
                .into_iter()
                .flatten()
                .min()
            else {
                break;
            };
            if next > END {
                self.now = END;
                self.say("demo", "time limit reached");
                break;
            }
            self.now = self.now.max(next);
            if next_wire == Some(next) {
                let Some(Reverse((_, _, Flight(t)))) = self.wire.pop() else {
                    continue;
                };
                self.deliver(t);
            } else if next_timer == Some(next) {
                self.fire_timers();
            }
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        let sessions = self.sessions.iter().filter_map(|(_, s)| s.poll_timeout());
        let clients = self.clients.iter().filter_map(|c| match &c.stage {
            Stage::Downloading { tftp, .. } => tftp.poll_timeout(),
            _ => None,
        });
        [self.dhcp.poll_timeout(), self.boot.poll_timeout()]
            .into_iter()
            .flatten()
            .chain(sessions)
            .chain(clients)
            .min()
    }

    fn fire_timers(&mut self) {
        let now = self.now;
        self.dhcp.handle_timeout(now);
        self.boot.handle_timeout(now);
        for (_, s) in &mut self.sessions {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
        }
        for c in &mut self.clients {
            if let Stage::Downloading { tftp, .. } = &mut c.stage
                && tftp.poll_timeout().is_some_and(|t| t <= now)
            {
                tftp.handle_timeout(now);
            }
        }
    }

    /// Drains every machine's transmits and events (the single-mutation rule).
    fn flush(&mut self) {
        while let Some(t) = self.dhcp.poll_transmit() {
            self.send(t);
        }
        while let Some(e) = self.dhcp.poll_event() {
            self.say("server :67", e.to_string());
        }
        while let Some(t) = self.boot.poll_transmit() {
            self.send(t);
        }
        while let Some(e) = self.boot.poll_event() {
            self.say("server :4011", e.to_string());
        }
        let mut out = Vec::new();
        let mut events = Vec::new();
        for (port, s) in &mut self.sessions {
            while let Some(mut t) = s.poll_transmit() {
                // Port 0 means "the session's own socket" (its TID).
                t.src = SocketAddrV4::new(SERVER_IP, *port);
                out.push(t);
            }
            while let Some(TftpEvent::Finished(summary)) = s.poll_event() {
                events.push(summary.to_string());
            }
        }
        self.sessions.retain(|(_, s)| !s.is_finished());
        for t in out {
            self.send(t);
        }
        for e in events {
            self.say("server :69", e);
        }
        for i in 0..self.clients.len() {
            let mut out = Vec::new();
            let mut done = None;
            if let Stage::Downloading { tftp, file } = &mut self.clients[i].stage {
                while let Some(t) = tftp.poll_transmit() {
                    out.push(t);
                }
                while let Some(e) = tftp.poll_event() {
                    done = Some((file.clone(), e));
                }
            }
            for t in out {
                self.send(t);
            }
            if let Some((file, event)) = done {
                self.downloaded(i, &file, event);
            }
        }
    }

    fn route(&self, t: &Transmit) -> Vec<Node> {
        if t.dst.ip() == &SERVER_IP || t.dst.ip().is_broadcast() && t.dst.port() != CLIENT_PORT {
            return match t.dst.port() {
                SERVER_PORT => vec![Node::Dhcp],
                PXE_PORT => vec![Node::BootServer],
                TFTP_PORT => vec![Node::TftpListener],
                port => vec![Node::Session(port)],
            };
        }
        match t.l2 {
            L2Dest::Broadcast => (0..self.clients.len()).map(Node::Client).collect(),
            L2Dest::Unicast(mac) => self
                .clients
                .iter()
                .position(|c| c.mac == mac || Some(*t.dst.ip()) == c.ip)
                .map(Node::Client)
                .into_iter()
                .collect(),
        }
    }

    fn deliver(&mut self, t: Transmit) {
        let now = self.now;
        let src_mac = self
            .clients
            .iter()
            .find(|c| c.ip == Some(*t.src.ip()) || t.src.ip().is_unspecified())
            .map_or(Mac::ZERO, |c| c.mac);
        let dgram = Datagram {
            src: t.src,
            dst: t.dst,
            src_mac,
            payload: &t.payload,
        };
        for node in self.route(&t) {
            match node {
                Node::Dhcp => self.dhcp.handle_datagram(now, dgram),
                Node::BootServer => self.boot.handle_datagram(now, dgram),
                Node::TftpListener => match self.tftp.accept(now, dgram, &self.root) {
                    Accept::Session(s) => {
                        self.sessions.push((self.next_port, s));
                        self.next_port += 1;
                    }
                    Accept::Reply(mut r) => {
                        r.src = SocketAddrV4::new(SERVER_IP, self.next_port);
                        self.next_port += 1;
                        self.send(r);
                    }
                    Accept::Ignore => {}
                },
                Node::Session(port) => {
                    if let Some((_, s)) = self.sessions.iter_mut().find(|(p, _)| *p == port) {
                        s.handle_datagram(now, dgram);
                    }
                }
                Node::Client(i) => self.client_receive(i, &t),
            }
        }
    }

    // --- the scripted client -------------------------------------------------

    fn client_message(&self, i: usize, kind: MessageType, xid: u32) -> DhcpMessage {
        let c = &self.clients[i];
        let mut m = DhcpMessage {
            op: Op::BootRequest,
            xid,
            // PXE ROMs set the broadcast flag: they cannot take unicast before a lease.
            flags: if c.profile == Profile::Ipxe {
                0
            } else {
                FLAG_BROADCAST
            },
            ..DhcpMessage::default()
        };
        m.chaddr[..6].copy_from_slice(&c.mac.0);
        m.set_message_type(kind);
        m.push_option(code::MAX_MESSAGE_SIZE, 1472u16.to_be_bytes());
        m.push_option(
            code::PARAMETER_REQUEST_LIST,
            [1, 3, 6, 12, 43, 60, 66, 67, 128, 129, 130, 131],
        );
        m.push_option(code::CLIENT_ARCH, c.arch.0.to_be_bytes());
        m.push_option(code::CLIENT_NDI, [1, 3, 0]);
        let (undi_major, undi_minor) = match c.profile {
            Profile::Uefi => (3, 0),
            _ => (2, 1),
        };
        let class = PxeClientClass {
            kind: ClassKind::Pxe,
            arch: c.arch,
            undi_major,
            undi_minor,
        };
        m.push_option(code::VENDOR_CLASS, class.emit());
        let mut uuid = [0u8; 17];
        uuid[11..].copy_from_slice(&c.mac.0);
        m.push_option(code::CLIENT_UUID, uuid);
        if c.profile == Profile::Ipxe {
            m.push_option(code::USER_CLASS, &b"iPXE"[..]);
            m.push_option(code::IPXE_ENCAP, [0x13, 1, 1]);
        }
        m
    }

    fn xid(&self, i: usize) -> u32 {
        0x7000_0000 | (i as u32) << 8 | self.clients[i].chains
    }

    fn start_dhcp(&mut self, i: usize) {
        let xid = self.xid(i);
        let m = self.client_message(i, MessageType::Discover, xid);
        let c = &self.clients[i];
        let what = format!(
            "DHCPDISCOVER {} xid {xid:#010x} arch {}{}",
            c.mac,
            c.arch,
            if c.profile == Profile::Ipxe {
                ", user class iPXE"
            } else {
                ""
            }
        );
        let name = c.name.clone();
        self.clients[i].stage = Stage::Discovering { xid };
        self.say(&name, what);
        self.send(Transmit {
            src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT),
            dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
            l2: L2Dest::Broadcast,
            payload: m.emit(),
        });
    }

    fn client_receive(&mut self, i: usize, t: &Transmit) {
        if let Stage::Downloading { tftp, .. } = &mut self.clients[i].stage {
            if t.dst.port() != CLIENT_PORT {
                let dgram = Datagram {
                    src: t.src,
                    dst: t.dst,
                    src_mac: Mac::ZERO,
                    payload: &t.payload,
                };
                tftp.handle_datagram(self.now, dgram);
            }
            return;
        }
        let Ok(reply) = DhcpMessage::parse(&t.payload, ParseMode::Lax) else {
            return;
        };
        if reply.op != Op::BootReply || reply.client_mac() != Some(self.clients[i].mac) {
            return;
        }
        let name = self.clients[i].name.clone();
        match (&self.clients[i].stage, reply.message_type()) {
            (Stage::Discovering { xid }, Some(MessageType::Offer)) if reply.xid == *xid => {
                let xid = *xid;
                let mut m = self.client_message(i, MessageType::Request, xid);
                m.push_option(code::REQUESTED_IP, reply.yiaddr.octets());
                m.push_option(
                    code::SERVER_ID,
                    reply.server_id().unwrap_or(SERVER_IP).octets(),
                );
                self.clients[i].stage = Stage::Requesting { xid };
                self.say(&name, format!("DHCPREQUEST {}", reply.yiaddr));
                self.send(Transmit {
                    src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT),
                    dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
                    l2: L2Dest::Broadcast,
                    payload: m.emit(),
                });
            }
            (Stage::Requesting { xid }, Some(MessageType::Ack)) if reply.xid == *xid => {
                let xid = *xid;
                self.clients[i].ip = Some(reply.yiaddr);
                let file = boot_file(&reply);
                // EDK2 treats a PXEClient offer without option 43 as BINL and asks
                // the boot server on 4011 for the file (PXE 2.1, research Q1).
                let binl = reply.option(code::VENDOR_SPECIFIC).is_none()
                    && self.clients[i].profile == Profile::Uefi;
                match file {
                    Some(file) if !binl => self.start_tftp(i, reply.siaddr, file),
                    _ => self.ask_boot_server(i, xid, reply.yiaddr, &reply),
                }
            }
            (Stage::AskingBootServer { xid }, Some(MessageType::Ack)) if reply.xid == *xid => {
                match boot_file(&reply) {
                    Some(file) => self.start_tftp(i, reply.siaddr, file),
                    None => self.finish(i, "PXE-E53: no boot filename received".into()),
                }
            }
            _ => {}
        }
    }

    fn ask_boot_server(&mut self, i: usize, xid: u32, ip: Ipv4Addr, ack: &DhcpMessage) {
        let server = ack.server_id().unwrap_or(SERVER_IP);
        let mut m = self.client_message(i, MessageType::Request, xid);
        m.ciaddr = ip;
        m.flags = 0;
        let name = self.clients[i].name.clone();
        self.clients[i].stage = Stage::AskingBootServer { xid };
        self.say(
            &name,
            format!("DHCPREQUEST to {server}:4011 (no option 43: BINL path)"),
        );
        self.send(Transmit {
            src: SocketAddrV4::new(ip, CLIENT_PORT),
            dst: SocketAddrV4::new(server, PXE_PORT),
            l2: L2Dest::Broadcast,
            payload: m.emit(),
        });
    }

    fn start_tftp(&mut self, i: usize, siaddr: Ipv4Addr, file: String) {
        let c = &self.clients[i];
        let Some(ip) = c.ip else { return };
        let server = if siaddr.is_unspecified() {
            SERVER_IP
        } else {
            siaddr
        };
        let opts = match c.profile {
            Profile::Bios => ClientOptions {
                blksize: Some(1456),
                tsize: true,
                ..ClientOptions::default()
            },
            Profile::Uefi => ClientOptions {
                blksize: Some(1468),
                windowsize: Some(4),
                tsize: true,
                probe_then_abort: true,
                ..ClientOptions::default()
            },
            Profile::Ipxe => ClientOptions {
                blksize: Some(1432),
                tsize: true,
                ..ClientOptions::default()
            },
        };
        let local = SocketAddrV4::new(ip, 2070 + c.chains as u16);
        let tftp = TftpClient::new(
            self.now,
            SocketAddrV4::new(server, TFTP_PORT),
            local,
            &file,
            opts,
        );
        let name = c.name.clone();
        self.say(&name, format!("TFTP RRQ {file} from {server}"));
        self.clients[i].stage = Stage::Downloading {
            file,
            tftp: Box::new(tftp),
        };
    }

    /// "Executes" the NBP: an iPXE binary starts iPXE, which asks DHCP again.
    fn downloaded(&mut self, i: usize, file: &str, event: ClientEvent) {
        let bytes = match event {
            ClientEvent::Completed { bytes, .. } => bytes,
            ClientEvent::Failed { reason } => {
                return self.finish(i, format!("PXE-E32: TFTP of {file} failed: {reason:?}"));
            }
        };
        let name = self.clients[i].name.clone();
        self.say(&name, format!("loaded {file} ({bytes} bytes), executing"));
        let is_ipxe_binary = file.ends_with(".kpxe") || file.ends_with(".efi");
        if !is_ipxe_binary {
            return self.finish(i, format!("booted {file}"));
        }
        let c = &mut self.clients[i];
        c.chains += 1;
        if c.chains > MAX_CHAINS {
            let msg = format!("chainload loop: iPXE was handed {file} {} times", c.chains);
            return self.finish(i, msg);
        }
        c.profile = Profile::Ipxe;
        c.ip = None;
        c.stage = Stage::Idle;
        c.start = self.now;
        self.start_dhcp(i);
    }

    fn finish(&mut self, i: usize, outcome: String) {
        let name = self.clients[i].name.clone();
        self.say(&name, &outcome);
        self.clients[i].outcome = Some(outcome);
        self.clients[i].stage = Stage::Done;
    }

    fn report(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "pxelab demo: the reference server's own DHCP server, boot server (4011) and TFTP\n\
             server boot three scripted clients on one simulated segment, in virtual time.\n\
             No network, no clock: the same run prints the same report on any machine.\n\n",
        );
        out.push_str("    time  who          what\n");
        for line in &self.log {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("\noutcome\n");
        for c in &self.clients {
            let outcome = c.outcome.as_deref().unwrap_or("did not finish");
            let _ = writeln!(out, "  {:<6} {}  {}", c.name, c.mac, outcome);
        }
        out
    }
}

/// The boot file of a reply: option 67, else the `file` field.
fn boot_file(reply: &DhcpMessage) -> Option<String> {
    reply
        .boot_file()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .filter(|f| !f.is_empty())
}

/// Stand-in NBP contents of a given size (deterministic).
fn nbp(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_ends_on_the_script_and_none_loops() {
        let report = run();
        let outcome = report.split("\noutcome\n").nth(1).expect("outcome section");
        assert_eq!(
            outcome.matches("booted boot.ipxe").count(),
            3,
            "every client should end on the iPXE script:\n{report}"
        );
        assert!(!report.contains("loop"), "{report}");
        assert!(
            report.contains("BINL path"),
            "the UEFI client goes through 4011:\n{report}"
        );
    }

    #[test]
    fn the_demo_is_deterministic() {
        assert_eq!(run(), run());
    }
}
