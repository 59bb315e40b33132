//! A small in-memory lab for the firmware tests: one firmware and server hosts
//! running the reference machines, datagrams delivered directly after a fixed
//! hop, unicast to an unknown address reported back as an ARP failure.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use pxelab_reference::dhcp::{
    DhcpConfig, DhcpMode, DhcpServer, DhcpSettings, MemoryStore, PoolConfig,
};
use pxelab_reference::pxe::{BootPolicy, BootServer, BootServerConfig};
use pxelab_reference::tftp::{Accept, MemoryRoot, TftpServer, TftpServerConfig, TftpSession};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{DhcpMessage, MessageType, Op, code};
use pxelab_reference::{Datagram, Instant, L2Dest, Mac, Transmit};
use pxelab_simulator::firmware::{Firmware, FirmwareEvent, Identity, Profile};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub const HOP: Duration = Duration::from_micros(300);
pub const CLIENT_MAC: Mac = Mac([0x52, 0x54, 0x00, 0xaa, 0x00, 0x01]);
pub const UUID: [u8; 16] = [
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
];
/// ARP gives up after this long (four tries a second apart, Q33).
pub const ARP_GIVE_UP: Duration = Duration::from_secs(4);

pub fn firmware(profile: Profile) -> Firmware {
    Firmware::new(
        Arc::new(profile),
        Identity {
            mac: CLIENT_MAC,
            uuid: Some(UUID),
        },
        ChaCha8Rng::seed_from_u64(7),
    )
}

/// A DHCP server without PXE: addresses only (production DHCP next to a proxy).
pub struct PlainDhcp {
    pub next: u8,
    pub delay: Duration,
}

/// One server machine: any of the reference DHCP/ProxyDHCP, 4011 and TFTP
/// services, or a plain DHCP server.
pub struct Host {
    pub ip: Ipv4Addr,
    pub mac: Mac,
    pub dhcp: Option<DhcpServer>,
    pub boot: Option<BootServer>,
    pub tftp: Option<(TftpServer, MemoryRoot)>,
    pub sessions: Vec<(u16, Box<TftpSession>)>,
    pub next_port: u16,
    pub plain: Option<PlainDhcp>,
    pub plain_out: Vec<(Instant, Transmit)>,
}

pub fn nbp(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

pub fn root() -> MemoryRoot {
    MemoryRoot::new()
        .with("undionly.kpxe", nbp(70_000))
        .with("ipxe.efi", nbp(300_000))
        .with("boot.ipxe", &b"#!ipxe\necho hello\n"[..])
}

pub fn reference_config(ip: Ipv4Addr, proxy: bool, boot: BootPolicy) -> DhcpConfig {
    let o = ip.octets();
    let range = format!(
        "{}.{}.{}.100-{}.{}.{}.199",
        o[0], o[1], o[2], o[0], o[1], o[2]
    );
    let pool: PoolConfig = range.parse().expect("range");
    DhcpConfig {
        server_addr: ip,
        netmask: Ipv4Addr::new(255, 255, 255, 0),
        mode: if proxy {
            DhcpMode::Proxy
        } else {
            DhcpMode::Full { pools: vec![pool] }
        },
        settings: DhcpSettings::default(),
        boot,
        unix_time_at_start: 1_800_000_000,
    }
}

impl Host {
    fn empty(ip: Ipv4Addr) -> Host {
        let o = ip.octets();
        Host {
            ip,
            mac: Mac([0x02, 0, o[0], o[1], o[2], o[3]]),
            dhcp: None,
            boot: None,
            tftp: None,
            sessions: Vec::new(),
            next_port: 49152,
            plain: None,
            plain_out: Vec::new(),
        }
    }

    /// The reference server (DHCP full or proxy, 4011, TFTP) at `ip`.
    pub fn reference(ip: Ipv4Addr, proxy: bool, boot: BootPolicy) -> Host {
        let config = reference_config(ip, proxy, boot);
        Self::reference_with(config)
    }

    pub fn reference_with(config: DhcpConfig) -> Host {
        let mut h = Host::empty(config.server_addr);
        h.boot = Some(BootServer::new(BootServerConfig::from_dhcp(&config)));
        h.dhcp = Some(
            DhcpServer::new(config, Box::new(MemoryStore::new()), Instant::ZERO).expect("config"),
        );
        h.tftp = Some((TftpServer::new(TftpServerConfig::default()), root()));
        h
    }

    /// A DHCP server without PXE at `ip`.
    pub fn plain_dhcp(ip: Ipv4Addr, delay: Duration) -> Host {
        let mut h = Host::empty(ip);
        h.plain = Some(PlainDhcp { next: 50, delay });
        h
    }

    /// A TFTP server only.
    pub fn tftp_only(ip: Ipv4Addr, root: MemoryRoot, config: TftpServerConfig) -> Host {
        let mut h = Host::empty(ip);
        h.tftp = Some((TftpServer::new(config), root));
        h
    }

    fn listens(&self, port: u16) -> bool {
        match port {
            67 => self.dhcp.is_some() || self.plain.is_some(),
            4011 => self.boot.is_some(),
            69 => self.tftp.is_some(),
            p => self.sessions.iter().any(|(sp, _)| *sp == p),
        }
    }

    fn plain_reply(&mut self, now: Instant, req: &DhcpMessage) {
        let ip = self.ip;
        let Some(plain) = self.plain.as_mut() else {
            return;
        };
        let Some(t) = req.message_type() else { return };
        let o = ip.octets();
        let yiaddr = Ipv4Addr::new(o[0], o[1], o[2], plain.next);
        let kind = match t {
            MessageType::Discover => MessageType::Offer,
            MessageType::Request if req.server_id() == Some(ip) => MessageType::Ack,
            _ => return,
        };
        let mut r = DhcpMessage::reply_to(req);
        r.op = Op::BootReply;
        r.yiaddr = yiaddr;
        r.set_message_type(kind);
        r.push_option(code::SERVER_ID, ip.octets());
        r.push_option(code::SUBNET_MASK, [255, 255, 255, 0]);
        r.push_option(code::LEASE_TIME, 3600u32.to_be_bytes());
        self.plain_out.push((
            now + plain.delay,
            Transmit {
                src: SocketAddrV4::new(ip, 67),
                dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 68),
                l2: L2Dest::Broadcast,
                payload: r.emit(),
            },
        ));
    }

    fn deliver(&mut self, now: Instant, d: Datagram<'_>) {
        match d.dst.port() {
            67 => {
                if let Some(s) = self.dhcp.as_mut() {
                    s.handle_datagram(now, d);
                }
                if self.plain.is_some()
                    && let Ok(m) = DhcpMessage::parse(d.payload, ParseMode::Lax)
                {
                    self.plain_reply(now, &m);
                }
            }
            4011 => {
                if let Some(b) = self.boot.as_mut() {
                    b.handle_datagram(now, d);
                }
            }
            69 => {
                if let Some((server, root)) = self.tftp.as_mut() {
                    match server.accept(now, d, root) {
                        Accept::Session(s) => {
                            self.sessions.push((self.next_port, s));
                            self.next_port += 1;
                        }
                        Accept::Reply(mut r) => {
                            r.src = SocketAddrV4::new(self.ip, self.next_port);
                            self.next_port += 1;
                            self.plain_out.push((now, r));
                        }
                        Accept::Ignore => {}
                    }
                }
            }
            port => {
                if let Some((_, s)) = self.sessions.iter_mut().find(|(p, _)| *p == port) {
                    s.handle_datagram(now, d);
                }
            }
        }
    }

    fn timeout(&self) -> Option<Instant> {
        let sessions = self.sessions.iter().filter_map(|(_, s)| s.poll_timeout());
        let plain = self.plain_out.iter().map(|(t, _)| *t);
        [
            self.dhcp.as_ref().and_then(|d| d.poll_timeout()),
            self.boot.as_ref().and_then(|b| b.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .chain(sessions)
        .chain(plain)
        .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Some(d) = self.dhcp.as_mut() {
            d.handle_timeout(now);
        }
        if let Some(b) = self.boot.as_mut() {
            b.handle_timeout(now);
        }
        for (_, s) in &mut self.sessions {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
        }
    }

    fn drain(&mut self, now: Instant) -> Vec<Transmit> {
        let mut out = Vec::new();
        if let Some(d) = self.dhcp.as_mut() {
            while let Some(t) = d.poll_transmit() {
                out.push(t);
            }
            while d.poll_event().is_some() {}
        }
        if let Some(b) = self.boot.as_mut() {
            while let Some(t) = b.poll_transmit() {
                out.push(t);
            }
            while b.poll_event().is_some() {}
        }
        for (port, s) in &mut self.sessions {
            while let Some(mut t) = s.poll_transmit() {
                t.src = SocketAddrV4::new(self.ip, *port);
                out.push(t);
            }
            while s.poll_event().is_some() {}
        }
        self.sessions.retain(|(_, s)| !s.is_finished());
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.plain_out)
            .into_iter()
            .partition(|(t, _)| *t <= now);
        self.plain_out = later;
        out.extend(due.into_iter().map(|(_, t)| t));
        out
    }
}

enum From {
    Client,
    Host(usize),
}

/// The lab: one firmware, some hosts, a wire.
pub struct Lab {
    pub now: Instant,
    pub fw: Firmware,
    pub hosts: Vec<Host>,
    wire: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    flights: Vec<Option<(From, Transmit)>>,
    seq: u64,
    /// ARP failures due: (when, ip).
    unreachable: Vec<(Instant, Ipv4Addr)>,
    pub events: Vec<(Instant, FirmwareEvent)>,
    /// Every datagram the client sent.
    pub sent: Vec<(Instant, Transmit)>,
}

impl Lab {
    pub fn new(fw: Firmware, hosts: Vec<Host>) -> Lab {
        Lab {
            now: Instant::ZERO,
            fw,
            hosts,
            wire: BinaryHeap::new(),
            flights: Vec::new(),
            seq: 0,
            unreachable: Vec::new(),
            events: Vec::new(),
            sent: Vec::new(),
        }
    }

    fn send(&mut self, from: From, t: Transmit) {
        self.seq += 1;
        self.flights.push(Some((from, t)));
        self.wire
            .push(Reverse((self.now + HOP, self.seq, self.flights.len() - 1)));
    }

    fn flush(&mut self) {
        while let Some(t) = self.fw.poll_transmit() {
            self.sent.push((self.now, t.clone()));
            let unicast = !t.dst.ip().is_broadcast() && !t.dst.ip().is_multicast();
            if unicast && !self.hosts.iter().any(|h| h.ip == *t.dst.ip()) {
                self.unreachable.push((self.now + ARP_GIVE_UP, *t.dst.ip()));
                continue;
            }
            self.send(From::Client, t);
        }
        while let Some(e) = self.fw.poll_event() {
            self.events.push((self.now, e));
        }
        let now = self.now;
        for i in 0..self.hosts.len() {
            for t in self.hosts[i].drain(now) {
                self.send(From::Host(i), t);
            }
        }
    }

    fn deliver(&mut self, from: From, t: Transmit) {
        let now = self.now;
        match from {
            From::Client => {
                let d = Datagram {
                    src: t.src,
                    dst: t.dst,
                    src_mac: CLIENT_MAC,
                    payload: &t.payload,
                };
                let to_all = t.dst.ip().is_broadcast() || t.dst.ip().is_multicast();
                for h in &mut self.hosts {
                    if (to_all || h.ip == *t.dst.ip()) && h.listens(t.dst.port()) {
                        h.deliver(now, d);
                    }
                }
            }
            From::Host(i) => {
                let for_client = t.dst.ip().is_broadcast()
                    || t.l2 == L2Dest::Unicast(CLIENT_MAC)
                    || self.fw.address() == Some(*t.dst.ip());
                if for_client && self.fw.listens_on().contains(&t.dst.port()) {
                    let d = Datagram {
                        src: t.src,
                        dst: t.dst,
                        src_mac: self.hosts[i].mac,
                        payload: &t.payload,
                    };
                    self.fw.handle_datagram(now, d);
                }
            }
        }
    }

    /// Powers the firmware on at `at` and runs until it is finished or `limit`.
    pub fn run(&mut self, at: Instant, limit: Instant) {
        self.now = at;
        self.fw.power_on(at);
        loop {
            self.flush();
            if self.fw.is_finished() {
                break;
            }
            let next_wire = self.wire.peek().map(|Reverse((t, _, _))| *t);
            let next_unreach = self.unreachable.iter().map(|(t, _)| *t).min();
            let timers = [
                self.fw.poll_timeout(),
                self.hosts.iter().filter_map(Host::timeout).min(),
            ];
            let Some(next) = [next_wire, next_unreach]
                .into_iter()
                .chain(timers)
                .flatten()
                .min()
            else {
                break;
            };
            if next > limit {
                break;
            }
            self.now = self.now.max(next);
            if next_wire == Some(next) {
                let Some(Reverse((_, _, idx))) = self.wire.pop() else {
                    continue;
                };
                if let Some((from, t)) = self.flights[idx].take() {
                    self.deliver(from, t);
                }
            } else if next_unreach == Some(next) {
                let now = self.now;
                let due: Vec<Ipv4Addr> = self
                    .unreachable
                    .iter()
                    .filter(|(t, _)| *t <= now)
                    .map(|(_, ip)| *ip)
                    .collect();
                self.unreachable.retain(|(t, _)| *t > now);
                for ip in due {
                    self.fw.handle_unreachable(now, ip);
                }
            } else {
                let now = self.now;
                if self.fw.poll_timeout().is_some_and(|t| t <= now) {
                    self.fw.handle_timeout(now);
                }
                for h in &mut self.hosts {
                    h.handle_timeout(now);
                }
            }
        }
    }

    /// The final event (Loaded / Failed / LocalBoot).
    pub fn outcome(&self) -> &FirmwareEvent {
        &self.events.last().expect("an event").1
    }

    pub fn loaded(&self) -> Option<(String, u64)> {
        self.events.iter().find_map(|(_, e)| match e {
            FirmwareEvent::Loaded { file, bytes, .. } => Some((file.clone(), *bytes)),
            _ => None,
        })
    }

    pub fn transcript(&self) -> String {
        self.events
            .iter()
            .map(|(t, e)| format!("{t} {e:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Drives one firmware by hand: crafted replies at chosen times, timers fired
/// in between.
pub struct Direct {
    pub fw: Firmware,
    pub now: Instant,
    pub sent: Vec<(Instant, Transmit)>,
    pub events: Vec<(Instant, FirmwareEvent)>,
}

impl Direct {
    pub fn new(profile: Profile) -> Direct {
        Self::with(firmware(profile))
    }

    pub fn with(fw: Firmware) -> Direct {
        let mut d = Direct {
            fw,
            now: Instant::ZERO,
            sent: Vec::new(),
            events: Vec::new(),
        };
        d.fw.power_on(Instant::ZERO);
        d.drain();
        d
    }

    fn drain(&mut self) {
        while let Some(t) = self.fw.poll_transmit() {
            self.sent.push((self.now, t));
        }
        while let Some(e) = self.fw.poll_event() {
            self.events.push((self.now, e));
        }
    }

    /// Fires every timer due up to `t`, then sets the clock to `t`.
    pub fn advance(&mut self, t: Instant) {
        while let Some(due) = self.fw.poll_timeout() {
            if due > t {
                break;
            }
            self.now = self.now.max(due);
            self.fw.handle_timeout(self.now);
            self.drain();
        }
        self.now = self.now.max(t);
    }

    /// Delivers `msg` from `src`:`port` to the client's port 68 at `at`.
    pub fn reply(&mut self, at: Instant, src: Ipv4Addr, port: u16, msg: &DhcpMessage) {
        self.advance(at);
        let payload = msg.emit();
        let d = Datagram {
            src: SocketAddrV4::new(src, port),
            dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 68),
            src_mac: Mac([2, 0, 0, 0, 0, 1]),
            payload: &payload,
        };
        self.fw.handle_datagram(self.now, d);
        self.drain();
    }

    /// Delivers a raw datagram from `src` to the client's `port` at `at`.
    pub fn deliver(&mut self, at: Instant, src: SocketAddrV4, port: u16, payload: &[u8]) {
        self.advance(at);
        let dst_ip = self.fw.address().unwrap_or(Ipv4Addr::BROADCAST);
        let d = Datagram {
            src,
            dst: SocketAddrV4::new(dst_ip, port),
            src_mac: Mac([2, 0, 0, 0, 0, 1]),
            payload,
        };
        self.fw.handle_datagram(self.now, d);
        self.drain();
    }

    /// ARP for `ip` failed.
    pub fn unreachable(&mut self, at: Instant, ip: Ipv4Addr) {
        self.advance(at);
        self.fw.handle_unreachable(self.now, ip);
        self.drain();
    }

    /// The DHCP messages the client sent, parsed.
    pub fn dhcp_sent(&self) -> Vec<(Instant, Transmit, DhcpMessage)> {
        self.sent
            .iter()
            .filter(|(_, t)| t.src.port() == 68)
            .filter_map(|(at, t)| {
                DhcpMessage::parse(&t.payload, ParseMode::Strict)
                    .ok()
                    .map(|m| (*at, t.clone(), m))
            })
            .collect()
    }

    pub fn discovers(&self) -> Vec<(Instant, DhcpMessage)> {
        self.dhcp_sent()
            .into_iter()
            .filter(|(_, _, m)| m.message_type() == Some(MessageType::Discover))
            .map(|(at, _, m)| (at, m))
            .collect()
    }

    pub fn xid(&self) -> u32 {
        self.fw.xid()
    }

    pub fn failure(&self) -> Option<(pxelab_simulator::firmware::PxeError, String)> {
        self.events.iter().find_map(|(_, e)| match e {
            FirmwareEvent::Failed { error, detail } => Some((*error, detail.clone())),
            _ => None,
        })
    }

    pub fn selected(&self) -> Option<(Instant, Ipv4Addr, Option<Ipv4Addr>)> {
        self.events.iter().find_map(|(at, e)| match e {
            FirmwareEvent::Selected { dhcp, proxy } => Some((*at, *dhcp, *proxy)),
            _ => None,
        })
    }

    /// The last DHCPREQUEST's option 54.
    pub fn requested_server(&self) -> Option<Ipv4Addr> {
        self.dhcp_sent()
            .into_iter()
            .rev()
            .find(|(_, _, m)| m.message_type() == Some(MessageType::Request))
            .and_then(|(_, _, m)| m.server_id())
    }

    pub fn transcript(&self) -> String {
        self.events
            .iter()
            .map(|(t, e)| format!("{t} {e:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Crafted server replies.
pub mod craft {
    use super::*;
    use pxelab_reference::wire::pxe::{DiscoveryControl, PxeVendorOptions};

    pub fn reply(
        xid: u32,
        kind: Option<MessageType>,
        server: Ipv4Addr,
        yiaddr: Ipv4Addr,
    ) -> DhcpMessage {
        let mut m = DhcpMessage {
            op: Op::BootReply,
            xid,
            yiaddr,
            ..DhcpMessage::default()
        };
        m.chaddr[..6].copy_from_slice(&CLIENT_MAC.0);
        if let Some(k) = kind {
            m.set_message_type(k);
            m.push_option(code::SERVER_ID, server.octets());
        }
        m
    }

    /// A plain DHCP offer (no PXE).
    pub fn dhcp_only(xid: u32, server: Ipv4Addr, yiaddr: Ipv4Addr) -> DhcpMessage {
        reply(xid, Some(MessageType::Offer), server, yiaddr)
    }

    /// With siaddr + file.
    pub fn with_file(mut m: DhcpMessage, siaddr: Ipv4Addr, file: &str) -> DhcpMessage {
        m.siaddr = siaddr;
        m.file = file.as_bytes().to_vec();
        m
    }

    /// `PXEClient` echoed.
    pub fn pxe(mut m: DhcpMessage) -> DhcpMessage {
        m.push_option(code::VENDOR_CLASS, &b"PXEClient"[..]);
        m
    }

    /// `PXEClient` + 43.6 = 8 + file: the PXE10 "boot this file" dialect.
    pub fn pxe10(m: DhcpMessage, siaddr: Ipv4Addr, file: &str) -> DhcpMessage {
        let mut m = pxe(with_file(m, siaddr, file));
        let o = PxeVendorOptions {
            discovery_control: Some(DiscoveryControl(8)),
            ..PxeVendorOptions::default()
        };
        m.push_option(code::VENDOR_SPECIFIC, o.emit().expect("43"));
        m
    }

    /// A ProxyDHCP offer, PXE10 dialect.
    pub fn proxy_pxe10(xid: u32, server: Ipv4Addr, file: &str) -> DhcpMessage {
        pxe10(
            reply(xid, Some(MessageType::Offer), server, Ipv4Addr::UNSPECIFIED),
            server,
            file,
        )
    }

    /// A ProxyDHCP offer, BINL dialect (no 43, no file).
    pub fn proxy_binl(xid: u32, server: Ipv4Addr) -> DhcpMessage {
        pxe(reply(
            xid,
            Some(MessageType::Offer),
            server,
            Ipv4Addr::UNSPECIFIED,
        ))
    }

    /// Option 175.1 priority.
    pub fn priority(mut m: DhcpMessage, p: i8) -> DhcpMessage {
        m.push_option(code::IPXE_ENCAP, [1, 1, p as u8]);
        m
    }

    pub fn ack_for(req_xid: u32, server: Ipv4Addr, yiaddr: Ipv4Addr) -> DhcpMessage {
        reply(req_xid, Some(MessageType::Ack), server, yiaddr)
    }
}
