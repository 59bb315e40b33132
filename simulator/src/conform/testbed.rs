//! The in-memory back end: server machines behind a fake L2, in virtual time.
//!
//! Frames from the suite are decoded exactly as a host's stack would (the
//! [`Decoder`]), handed to pxelab's reference machines (DHCP in full or proxy
//! mode, the boot server on 4011, TFTP over a [`MemoryRoot`]) or to the
//! simulator's foreign DHCP server, and their replies are encoded back into
//! frames, ARP included. `cargo test` can so run the whole suite without root,
//! and a [`Tamper`] planted between a server and the wire proves that a check
//! fails when a server misbehaves.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::Duration;

use pxelab_reference::dhcp::{DhcpConfig, DhcpMode, DhcpServer, PoolConfig};
use pxelab_reference::pxe::{BootPolicy, BootServer};
use pxelab_reference::tftp::{Accept, MemoryRoot, TftpServer, TftpServerConfig, TftpSession};
use pxelab_reference::{Datagram, Instant, Mac, Transmit};

use super::frame::{ArpFrame, Decoder, Encoder, Frame, UdpFrame, l2_destination};
use super::link::{Link, LinkError};
use crate::foreign::{ForeignConfig, ForeignKind, ForeignServer};
use crate::world::build::{UNIX_TIME_AT_START, nbp_bytes, reference_machines};

const DHCP_SERVER_PORT: u16 = 67;
const PXE_PORT: u16 = 4011;
const TFTP_PORT: u16 = 69;
/// First server-side TFTP TID (the ephemeral range).
const FIRST_TID: u16 = 49152;

/// A server misbehaving on purpose, between its machines and the wire.
pub trait Tamper {
    /// A datagram reached the server; anything returned is sent as well.
    fn inbound(&mut self, _d: &UdpFrame) -> Vec<Transmit> {
        Vec::new()
    }
    /// The server wants `t` sent; what is returned goes out instead.
    fn outbound(&mut self, t: Transmit) -> Vec<Transmit> {
        vec![t]
    }
}

/// What the DHCP side of a test server is.
pub enum DhcpRole {
    /// pxelab's reference server: full DHCP (with the pool) or ProxyDHCP, and
    /// its boot server on 4011.
    Reference {
        /// `Some` for full DHCP, `None` for ProxyDHCP.
        pool: Option<(Ipv4Addr, Ipv4Addr)>,
        /// Boot files and menu.
        boot: Box<BootPolicy>,
    },
    /// The simulator's plain production DHCP server (no PXE).
    PlainDhcp {
        /// Its pool.
        pool: (Ipv4Addr, Ipv4Addr),
    },
    /// No DHCP at all (a TFTP-only host).
    None,
}

/// One server host on the fake segment.
pub struct ServerSpec {
    /// Its address.
    pub addr: Ipv4Addr,
    /// Its netmask.
    pub netmask: Ipv4Addr,
    /// DHCP side.
    pub dhcp: DhcpRole,
    /// TFTP files (`None`: no TFTP server).
    pub tftp: Option<Vec<(String, Vec<u8>)>>,
    /// Misbehaviour planted in it.
    pub tamper: Option<Box<dyn Tamper>>,
}

impl ServerSpec {
    /// pxelab's reference server in full mode at `addr`/24 leasing
    /// `.100`–`.199`, with the default boot policy and its files.
    pub fn reference_full(addr: Ipv4Addr) -> ServerSpec {
        let o = addr.octets();
        ServerSpec {
            addr,
            netmask: Ipv4Addr::new(255, 255, 255, 0),
            dhcp: DhcpRole::Reference {
                pool: Some((
                    Ipv4Addr::new(o[0], o[1], o[2], 100),
                    Ipv4Addr::new(o[0], o[1], o[2], 199),
                )),
                boot: Box::default(),
            },
            tftp: Some(default_files()),
            tamper: None,
        }
    }

    /// pxelab's reference server in ProxyDHCP mode at `addr`/24.
    pub fn reference_proxy(addr: Ipv4Addr) -> ServerSpec {
        ServerSpec {
            dhcp: DhcpRole::Reference {
                pool: None,
                boot: Box::default(),
            },
            ..Self::reference_full(addr)
        }
    }

    /// A plain DHCP server (no PXE, no TFTP) at `addr`/24 leasing `.10`–`.99`.
    pub fn plain_dhcp(addr: Ipv4Addr) -> ServerSpec {
        let o = addr.octets();
        ServerSpec {
            addr,
            netmask: Ipv4Addr::new(255, 255, 255, 0),
            dhcp: DhcpRole::PlainDhcp {
                pool: (
                    Ipv4Addr::new(o[0], o[1], o[2], 10),
                    Ipv4Addr::new(o[0], o[1], o[2], 99),
                ),
            },
            tftp: None,
            tamper: None,
        }
    }

    /// A TFTP-only host at `addr`/24 serving the default files.
    pub fn tftp_only(addr: Ipv4Addr) -> ServerSpec {
        ServerSpec {
            dhcp: DhcpRole::None,
            ..Self::reference_full(addr)
        }
    }

    /// Adds (or replaces) a TFTP file.
    pub fn with_file(mut self, name: &str, contents: Vec<u8>) -> ServerSpec {
        let files = self.tftp.get_or_insert_with(Vec::new);
        files.retain(|(n, _)| n != name);
        files.push((name.to_string(), contents));
        self
    }

    /// Plants a misbehaviour.
    pub fn with_tamper(mut self, t: impl Tamper + 'static) -> ServerSpec {
        self.tamper = Some(Box::new(t));
        self
    }
}

/// The default policy's files, with the simulator's stand-in contents.
pub fn default_files() -> Vec<(String, Vec<u8>)> {
    let policy = BootPolicy::default();
    [
        (policy.boot_bios, 70_000u64),
        (policy.boot_efi, 200_000),
        (policy.boot_ipxe, 300),
    ]
    .into_iter()
    .map(|(n, len)| (n, nbp_bytes(len).to_vec()))
    .collect()
}

struct Host {
    addr: Ipv4Addr,
    mac: Mac,
    dhcp: Option<DhcpServer>,
    boot: Option<BootServer>,
    foreign: Option<ForeignServer>,
    tftp: Option<(TftpServer, MemoryRoot)>,
    sessions: BTreeMap<u16, Box<TftpSession>>,
    next_tid: u16,
    tamper: Option<Box<dyn Tamper>>,
    arp: HashMap<Ipv4Addr, Mac>,
    /// Transmits waiting for an ARP answer.
    pending: Vec<Transmit>,
}

/// Server machines on a fake L2 segment, in virtual time.
pub struct MemoryLink {
    now: Instant,
    hosts: Vec<Host>,
    enc: Encoder,
    dec: Decoder,
    /// Frames on their way to the suite.
    inbox: VecDeque<Vec<u8>>,
}

impl std::fmt::Debug for MemoryLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLink")
            .field("now", &self.now)
            .field("hosts", &self.hosts.len())
            .finish_non_exhaustive()
    }
}

/// A test server the reference machines refuse to run.
#[derive(Debug, thiserror::Error)]
#[error("test server {addr}: {problem}")]
pub struct TestbedError {
    /// Its address.
    pub addr: Ipv4Addr,
    /// What the reference server said.
    pub problem: String,
}

impl MemoryLink {
    /// A segment with these servers on it.
    pub fn new(servers: Vec<ServerSpec>) -> Result<MemoryLink, TestbedError> {
        let mut hosts = Vec::new();
        for (i, spec) in servers.into_iter().enumerate() {
            let mac = Mac([0x02, 0x50, 0x58, 0x00, 0x00, i as u8 + 1]);
            let (mut dhcp, mut boot, mut foreign) = (None, None, None);
            match spec.dhcp {
                DhcpRole::Reference { pool, boot: policy } => {
                    let mode = match pool {
                        Some((first, last)) => DhcpMode::Full {
                            pools: vec![PoolConfig {
                                first,
                                last,
                                netmask: None,
                                router: None,
                                dns: Vec::new(),
                            }],
                        },
                        None => DhcpMode::Proxy,
                    };
                    let config = DhcpConfig {
                        server_addr: spec.addr,
                        netmask: spec.netmask,
                        mode,
                        settings: Default::default(),
                        boot: *policy,
                        unix_time_at_start: UNIX_TIME_AT_START,
                    };
                    let (d, b) = reference_machines(config).map_err(|e| TestbedError {
                        addr: spec.addr,
                        problem: e.to_string(),
                    })?;
                    dhcp = Some(d);
                    boot = Some(b);
                }
                DhcpRole::PlainDhcp { pool } => {
                    foreign = Some(ForeignServer::new(ForeignConfig {
                        name: "plain-dhcp".into(),
                        addr: spec.addr,
                        netmask: spec.netmask,
                        kind: ForeignKind::Dhcp,
                        pool: Some(pool),
                        router: None,
                        dns: Vec::new(),
                        lease_time: Duration::from_secs(3600),
                        respond_delay: Duration::ZERO,
                        ignore: Vec::new(),
                        pxe_ignore: Vec::new(),
                        stray_option60: false,
                    }));
                }
                DhcpRole::None => {}
            }
            let tftp = spec.tftp.map(|files| {
                let mut root = MemoryRoot::new();
                for (name, bytes) in files {
                    root.insert(name, bytes);
                }
                (TftpServer::new(TftpServerConfig::default()), root)
            });
            hosts.push(Host {
                addr: spec.addr,
                mac,
                dhcp,
                boot,
                foreign,
                tftp,
                sessions: BTreeMap::new(),
                next_tid: FIRST_TID,
                tamper: spec.tamper,
                arp: HashMap::new(),
                pending: Vec::new(),
            });
        }
        Ok(MemoryLink {
            now: Instant::ZERO,
            hosts,
            enc: Encoder::new(),
            dec: Decoder::new(),
            inbox: VecDeque::new(),
        })
    }

    /// The MAC of the `i`-th server.
    pub fn server_mac(&self, i: usize) -> Option<Mac> {
        self.hosts.get(i).map(|h| h.mac)
    }

    fn deliver(&mut self, frame: Frame) {
        let now = self.now;
        for h in 0..self.hosts.len() {
            let host = &mut self.hosts[h];
            match &frame {
                Frame::Arp(a) => {
                    if !a.sender_ip.is_unspecified() {
                        host.arp.insert(a.sender_ip, a.sender_mac);
                    }
                    if a.request && a.target_ip == host.addr {
                        let reply = ArpFrame {
                            request: false,
                            dst_mac: a.sender_mac,
                            sender_mac: host.mac,
                            sender_ip: host.addr,
                            target_mac: a.sender_mac,
                            target_ip: a.sender_ip,
                        };
                        self.inbox.push_back(self.enc.arp(&reply));
                    } else if !a.request && a.target_ip == host.addr {
                        let waiting = std::mem::take(&mut host.pending);
                        for t in waiting {
                            self.emit(h, t);
                        }
                    }
                }
                Frame::Udp(u) => {
                    let to_us = u.dst_mac == host.mac
                        || u.dst_mac == Mac::BROADCAST
                        || u.dst_mac.0[0] & 1 == 1;
                    let ip_ok = *u.dst.ip() == host.addr
                        || u.dst.ip().is_broadcast()
                        || u.dst.ip().is_multicast();
                    if !to_us || !ip_ok {
                        continue;
                    }
                    if !u.src.ip().is_unspecified() {
                        host.arp.insert(*u.src.ip(), u.src_mac);
                    }
                    // The tamper's own extras go out as they are; the
                    // machines' replies pass through its `outbound`.
                    let mut extra = Vec::new();
                    let mut out = Vec::new();
                    if let Some(t) = host.tamper.as_mut() {
                        extra.extend(t.inbound(u));
                    }
                    let d = Datagram {
                        src: u.src,
                        dst: u.dst,
                        src_mac: u.src_mac,
                        payload: &u.payload,
                    };
                    match u.dst.port() {
                        DHCP_SERVER_PORT => {
                            if let Some(s) = host.dhcp.as_mut() {
                                s.handle_datagram(now, d);
                            }
                            if let Some(s) = host.foreign.as_mut() {
                                s.handle_datagram(now, d);
                            }
                        }
                        PXE_PORT => {
                            if let Some(s) = host.boot.as_mut() {
                                s.handle_datagram(now, d);
                            }
                        }
                        TFTP_PORT if *u.dst.ip() == host.addr => {
                            if let Some((server, root)) = host.tftp.as_mut() {
                                match server.accept(now, d, root) {
                                    Accept::Session(s) => {
                                        let tid = allocate_tid(&host.sessions, &mut host.next_tid);
                                        host.sessions.insert(tid, s);
                                    }
                                    Accept::Reply(mut t) => {
                                        let tid = allocate_tid(&host.sessions, &mut host.next_tid);
                                        t.src.set_port(tid);
                                        out.push(t);
                                    }
                                    Accept::Ignore => {}
                                }
                            }
                        }
                        tid => {
                            if let Some(s) = host.sessions.get_mut(&tid) {
                                s.handle_datagram(now, d);
                            }
                        }
                    }
                    for t in extra {
                        self.emit_raw(h, t);
                    }
                    for t in out {
                        self.emit(h, t);
                    }
                    self.drain(h);
                }
            }
        }
    }

    /// Fires every machine timer that is due.
    fn fire(&mut self, h: usize) {
        let now = self.now;
        let host = &mut self.hosts[h];
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if let Some(s) = host.dhcp.as_mut()
            && due(s.poll_timeout())
        {
            s.handle_timeout(now);
        }
        if let Some(s) = host.boot.as_mut()
            && due(s.poll_timeout())
        {
            s.handle_timeout(now);
        }
        if let Some(s) = host.foreign.as_mut()
            && due(s.poll_timeout())
        {
            s.handle_timeout(now);
        }
        for s in host.sessions.values_mut() {
            if due(s.poll_timeout()) {
                s.handle_timeout(now);
            }
        }
        self.drain(h);
    }

    /// The single-mutation rule: drain every machine's transmits and events.
    fn drain(&mut self, h: usize) {
        let host = &mut self.hosts[h];
        let mut out = Vec::new();
        if let Some(s) = host.dhcp.as_mut() {
            out.extend(std::iter::from_fn(|| s.poll_transmit()));
            while s.poll_event().is_some() {}
        }
        if let Some(s) = host.boot.as_mut() {
            out.extend(std::iter::from_fn(|| s.poll_transmit()));
            while s.poll_event().is_some() {}
        }
        if let Some(s) = host.foreign.as_mut() {
            out.extend(std::iter::from_fn(|| s.poll_transmit()));
            while s.poll_event().is_some() {}
        }
        let mut finished = Vec::new();
        for (&tid, s) in host.sessions.iter_mut() {
            while let Some(mut t) = s.poll_transmit() {
                if t.src.port() == 0 {
                    t.src.set_port(tid);
                }
                out.push(t);
            }
            while s.poll_event().is_some() {}
            if s.is_finished() {
                finished.push(tid);
            }
        }
        for tid in finished {
            host.sessions.remove(&tid);
        }
        for t in out {
            self.emit(h, t);
        }
    }

    /// A machine's transmit, through the host's tamper.
    fn emit(&mut self, h: usize, t: Transmit) {
        let out = match self.hosts[h].tamper.as_mut() {
            Some(tamper) => tamper.outbound(t),
            None => vec![t],
        };
        for t in out {
            self.emit_raw(h, t);
        }
    }

    fn emit_raw(&mut self, h: usize, mut t: Transmit) {
        let host = &mut self.hosts[h];
        if t.src.ip().is_unspecified() {
            t.src.set_ip(host.addr);
        }
        let dst_mac = l2_destination(&t).or_else(|| host.arp.get(t.dst.ip()).copied());
        match dst_mac {
            Some(mac) => {
                for f in self.enc.udp(host.mac, mac, t.src, t.dst, &t.payload) {
                    self.inbox.push_back(f);
                }
            }
            None => {
                let ask = ArpFrame {
                    request: true,
                    dst_mac: Mac::BROADCAST,
                    sender_mac: host.mac,
                    sender_ip: host.addr,
                    target_mac: Mac::ZERO,
                    target_ip: *t.dst.ip(),
                };
                host.pending.push(t);
                let f = self.enc.arp(&ask);
                self.inbox.push_back(f);
            }
        }
    }

    fn next_timer(&self) -> Option<(Instant, usize)> {
        let mut best: Option<(Instant, usize)> = None;
        for (i, h) in self.hosts.iter().enumerate() {
            let timers = [
                h.dhcp.as_ref().and_then(|s| s.poll_timeout()),
                h.boot.as_ref().and_then(|s| s.poll_timeout()),
                h.foreign.as_ref().and_then(|s| s.poll_timeout()),
            ];
            let sessions = h.sessions.values().filter_map(|s| s.poll_timeout());
            for t in timers.into_iter().flatten().chain(sessions) {
                if best.is_none_or(|(b, _)| t < b) {
                    best = Some((t, i));
                }
            }
        }
        best
    }
}

fn allocate_tid(sessions: &BTreeMap<u16, Box<TftpSession>>, next: &mut u16) -> u16 {
    loop {
        let tid = *next;
        *next = if tid == u16::MAX { FIRST_TID } else { tid + 1 };
        if !sessions.contains_key(&tid) {
            return tid;
        }
    }
}

impl Link for MemoryLink {
    fn now(&self) -> Instant {
        self.now
    }

    fn send(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        if let Some(f) = self.dec.decode(frame) {
            self.deliver(f);
        }
        Ok(())
    }

    fn recv(&mut self, deadline: Instant) -> Result<Option<Vec<u8>>, LinkError> {
        // A bound on timer firings per call: a machine that keeps asking for
        // a timeout in the past must not spin forever.
        for _ in 0..100_000 {
            if let Some(f) = self.inbox.pop_front() {
                return Ok(Some(f));
            }
            match self.next_timer() {
                Some((t, h)) if t <= deadline => {
                    self.now = self.now.max(t);
                    self.fire(h);
                }
                _ => {
                    self.now = self.now.max(deadline);
                    return Ok(None);
                }
            }
        }
        self.now = self.now.max(deadline);
        Ok(None)
    }
}

/// An address in the same /24 as `addr`, with the last octet `last`.
pub fn sibling(addr: Ipv4Addr, last: u8) -> Ipv4Addr {
    let o = addr.octets();
    Ipv4Addr::new(o[0], o[1], o[2], last)
}
