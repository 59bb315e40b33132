//! Models of the DHCP servers a lab shares its segment with.
//!
//! A PXE lab rarely owns its subnet: production DHCP (with or without its own
//! PXE boot file) and sometimes a rogue answer the same broadcast DISCOVERs,
//! and which answer a client takes decides where it boots. These servers are
//! small on purpose — policies, not implementations: an address per MAC from
//! a pool, the options a typical deployment sends, a respond delay, an ignore
//! list. The reference server is what pxelab tests in depth; these are the
//! world it must coexist with.
//!
//! Like the reference machines they are sans-IO (`handle_datagram`,
//! `handle_timeout`, `poll_transmit`, `poll_timeout`, `poll_event`) and hold
//! their respond delay as a timer, never by sleeping.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pxelab_reference::pxe::ClientFacts;
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{CLIENT_PORT, DhcpMessage, MessageType, Op, SERVER_PORT, code};
use pxelab_reference::{Datagram, Instant, L2Dest, Mac, Transmit};

/// A foreign server's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignConfig {
    /// Name in reports (`whem-prod`).
    pub name: String,
    /// Its own address: source of its replies and its server identifier (54).
    pub addr: Ipv4Addr,
    /// The subnet mask it hands out (option 1) and judges addresses by.
    pub netmask: Ipv4Addr,
    /// What it is.
    pub kind: ForeignKind,
    /// Inclusive address range it leases from; `None`: it offers nothing.
    pub pool: Option<(Ipv4Addr, Ipv4Addr)>,
    /// Option 3.
    pub router: Option<Ipv4Addr>,
    /// Option 6.
    pub dns: Vec<Ipv4Addr>,
    /// Option 51 (58 and 59 are half and 7/8 of it, as RFC 2131 §4.4.5 suggests).
    pub lease_time: Duration,
    /// How long it takes to answer (a busy or remote production server loses
    /// the race for the client's first OFFER).
    pub respond_delay: Duration,
    /// Clients it does not answer at all (production told to leave the lab's
    /// MACs alone: ISC `deny`/`ignore`, Windows filters).
    pub ignore: Vec<Mac>,
    /// Clients it leases addresses to but never gives boot information (a
    /// production PXE service told to leave the lab's machines alone while its
    /// DHCP keeps serving them: a WDS exclusion, an ISC class without
    /// `filename`). Only meaningful for [`ForeignKind::DhcpPxe`].
    pub pxe_ignore: Vec<Mac>,
    /// Research Q4: the server sends option 60 `PXEClient` in every reply (a
    /// leftover of "make PXE work with a proxy elsewhere"), which makes UEFI
    /// clients ask siaddr:4011 for a boot file. Applies to any kind.
    pub stray_option60: bool,
}

/// What kind of server it is.
#[derive(Debug, Clone, PartialEq)]
pub enum ForeignKind {
    /// Production DHCP without PXE: addresses, router, DNS; never 60/43/66/67/siaddr.
    Dhcp,
    /// Production DHCP with its PXE service on the same host (WDS or Altiris
    /// next to the DHCP server, with option 60 set: research R34; dnsmasq in
    /// full mode): a PXE client's offer carries option 60 `PXEClient`, option
    /// 43 with discovery control 8 ("boot the file in this offer"), siaddr and
    /// the boot file (`file` and 67), BIOS vs EFI by option 93. Firmware sees a
    /// complete PXE offer in it (EDK2's "PXE10" class, the spec's DHCP offer
    /// with PXE extensions). `ipxe_file`: what an iPXE client (77 "iPXE" or
    /// 175) gets; `None` = the naive server that hands iPXE the iPXE binary
    /// again (chainload loop, Q8).
    DhcpPxe {
        /// siaddr: the TFTP server.
        next_server: Ipv4Addr,
        /// File for architecture 0 (x86 BIOS).
        bios_file: String,
        /// File for every other architecture.
        efi_file: String,
        /// File for iPXE; `None` hands iPXE the BIOS/EFI file again.
        ipxe_file: Option<String>,
    },
    /// A rogue: answers everyone fast, with its own subnet/router; no PXE.
    /// Unlike production it ACKs any address of its subnet a client asks for
    /// and NAKs the rest, so it also breaks clients re-using a lease.
    Rogue,
}

/// What a foreign server did with a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum ForeignEventKind {
    /// DHCPOFFER sent (after the respond delay).
    Offer,
    /// DHCPACK sent.
    Ack,
    /// DHCPNAK sent.
    Nak,
    /// No answer.
    Ignored(ForeignIgnore),
}

/// Why a foreign server did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ForeignIgnore {
    /// Not a DHCP message.
    Malformed,
    /// A BOOTREPLY, or a message type a server does not answer here.
    NotAClientRequest,
    /// The client's MAC is on the ignore list.
    IgnoredMac,
    /// The client chose another server's offer (ours is forgotten).
    OtherServerSelected,
    /// No address left (or no pool).
    PoolExhausted,
    /// A request for an address in our subnet that we never gave this client
    /// (not authoritative: stay silent, as ISC dhcpd does by default).
    NoRecord,
}

impl fmt::Display for ForeignIgnore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ForeignIgnore::Malformed => "not a DHCP message",
            ForeignIgnore::NotAClientRequest => "not a client request",
            ForeignIgnore::IgnoredMac => "MAC on the ignore list",
            ForeignIgnore::OtherServerSelected => "client selected another server",
            ForeignIgnore::PoolExhausted => "no free address",
            ForeignIgnore::NoRecord => "no record of this client's address",
        })
    }
}

/// One exchange, for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignEvent {
    /// When the request was handled (the reply leaves after the respond delay).
    pub at: Instant,
    /// What was done.
    pub kind: ForeignEventKind,
    /// The client (`Mac::ZERO` for an unparsable message).
    pub mac: Mac,
    /// The address offered or acknowledged.
    pub yiaddr: Option<Ipv4Addr>,
    /// The boot file named in the reply.
    pub boot_file: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Binding {
    Offered(Ipv4Addr),
    Bound(Ipv4Addr),
}

impl Binding {
    fn ip(self) -> Ipv4Addr {
        match self {
            Binding::Offered(ip) | Binding::Bound(ip) => ip,
        }
    }
}

/// A foreign DHCP server (sans-IO).
#[derive(Debug)]
pub struct ForeignServer {
    cfg: ForeignConfig,
    ignore: BTreeSet<Mac>,
    /// Lookups only (never iterated).
    by_mac: HashMap<Mac, Binding>,
    by_ip: HashMap<Ipv4Addr, Mac>,
    /// Addresses given back, reused lowest first.
    released: BTreeSet<u32>,
    /// Next never-used address of the pool.
    cursor: u32,
    held: VecDeque<(Instant, Transmit)>,
    ready: VecDeque<Transmit>,
    events: VecDeque<ForeignEvent>,
}

fn in_subnet(a: Ipv4Addr, b: Ipv4Addr, mask: Ipv4Addr) -> bool {
    u32::from(a) & u32::from(mask) == u32::from(b) & u32::from(mask)
}

impl ForeignServer {
    /// A server with `cfg` and no leases.
    pub fn new(cfg: ForeignConfig) -> Self {
        let cursor = cfg.pool.map_or(1, |(first, _)| u32::from(first));
        ForeignServer {
            ignore: cfg.ignore.iter().copied().collect(),
            cfg,
            by_mac: HashMap::new(),
            by_ip: HashMap::new(),
            released: BTreeSet::new(),
            cursor,
            held: VecDeque::new(),
            ready: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &ForeignConfig {
        &self.cfg
    }

    /// The address acknowledged to `mac`, if any.
    pub fn lease_of(&self, mac: Mac) -> Option<Ipv4Addr> {
        match self.by_mac.get(&mac) {
            Some(Binding::Bound(ip)) => Some(*ip),
            _ => None,
        }
    }

    /// A datagram to UDP 67.
    pub fn handle_datagram(&mut self, now: Instant, d: Datagram<'_>) {
        self.release_due(now);
        let Ok(msg) = DhcpMessage::parse(d.payload, ParseMode::Lax) else {
            return self.ignore(now, Mac::ZERO, ForeignIgnore::Malformed);
        };
        let (Some(mac), Some(mtype), Op::BootRequest) =
            (msg.client_mac(), msg.message_type(), msg.op)
        else {
            let mac = msg.client_mac().unwrap_or(Mac::ZERO);
            return self.ignore(now, mac, ForeignIgnore::NotAClientRequest);
        };
        if self.ignore.contains(&mac) {
            return self.ignore(now, mac, ForeignIgnore::IgnoredMac);
        }
        match mtype {
            MessageType::Discover => self.discover(now, &msg, mac),
            MessageType::Request => self.request(now, &msg, mac),
            MessageType::Release | MessageType::Decline => {
                if self
                    .by_mac
                    .get(&mac)
                    .is_some_and(|b| Some(b.ip()) == msg.requested_ip() || b.ip() == msg.ciaddr)
                {
                    self.forget(mac);
                }
                self.ignore(now, mac, ForeignIgnore::NotAClientRequest);
            }
            _ => self.ignore(now, mac, ForeignIgnore::NotAClientRequest),
        }
    }

    /// Time passed: releases replies whose respond delay is over.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.release_due(now);
    }

    /// The next datagram to send (from `addr`:67).
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.ready.pop_front()
    }

    /// When [`Self::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.held.front().map(|(at, _)| *at)
    }

    /// The next exchange to report.
    pub fn poll_event(&mut self) -> Option<ForeignEvent> {
        self.events.pop_front()
    }

    fn release_due(&mut self, now: Instant) {
        // The delay is constant, so the held queue is in release order.
        while self.held.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, t)) = self.held.pop_front() {
                self.ready.push_back(t);
            }
        }
    }

    fn send(&mut self, now: Instant, t: Transmit) {
        if self.cfg.respond_delay.is_zero() {
            self.ready.push_back(t);
        } else {
            self.held.push_back((now + self.cfg.respond_delay, t));
        }
    }

    /// Records a request left unanswered, and why.
    fn ignore(&mut self, now: Instant, mac: Mac, why: ForeignIgnore) {
        self.event(now, mac, ForeignEventKind::Ignored(why), None, None);
    }

    fn event(
        &mut self,
        at: Instant,
        mac: Mac,
        kind: ForeignEventKind,
        yiaddr: Option<Ipv4Addr>,
        boot_file: Option<String>,
    ) {
        self.events.push_back(ForeignEvent {
            at,
            kind,
            mac,
            yiaddr,
            boot_file,
        });
    }

    fn in_pool(&self, ip: Ipv4Addr) -> bool {
        self.cfg
            .pool
            .is_some_and(|(a, b)| (u32::from(a)..=u32::from(b)).contains(&u32::from(ip)))
    }

    /// The address for `mac`: the one it already has here (stable across
    /// retransmissions), else the lowest released one, else the next unused.
    fn allocate(&mut self, mac: Mac) -> Option<Ipv4Addr> {
        if let Some(b) = self.by_mac.get(&mac) {
            return Some(b.ip());
        }
        let (_, last) = self.cfg.pool?;
        let ip = loop {
            let candidate = if let Some(ip) = self.released.pop_first() {
                ip
            } else if self.cursor <= u32::from(last) {
                self.cursor += 1;
                self.cursor - 1
            } else {
                return None;
            };
            let ip = Ipv4Addr::from(candidate);
            if ip != self.cfg.addr && !self.by_ip.contains_key(&ip) {
                break ip;
            }
        };
        self.by_mac.insert(mac, Binding::Offered(ip));
        self.by_ip.insert(ip, mac);
        Some(ip)
    }

    /// Gives `mac`'s address back to the pool.
    fn forget(&mut self, mac: Mac) {
        if let Some(b) = self.by_mac.remove(&mac) {
            self.by_ip.remove(&b.ip());
            if self.in_pool(b.ip()) {
                self.released.insert(u32::from(b.ip()));
            }
        }
    }

    fn discover(&mut self, now: Instant, msg: &DhcpMessage, mac: Mac) {
        let Some(ip) = self.allocate(mac) else {
            return self.ignore(now, mac, ForeignIgnore::PoolExhausted);
        };
        self.reply(now, msg, mac, MessageType::Offer, ip);
    }

    fn request(&mut self, now: Instant, msg: &DhcpMessage, mac: Mac) {
        let requested = msg
            .requested_ip()
            .or(Some(msg.ciaddr).filter(|a| !a.is_unspecified()));
        if let Some(sid) = msg.server_id() {
            // SELECTING (RFC 2131 §4.3.2).
            if sid != self.cfg.addr {
                if matches!(self.by_mac.get(&mac), Some(Binding::Offered(_))) {
                    self.forget(mac);
                }
                return self.ignore(now, mac, ForeignIgnore::OtherServerSelected);
            }
            return match (requested, self.by_mac.get(&mac).map(|b| b.ip())) {
                (Some(ip), Some(ours)) if ip == ours => self.ack(now, msg, mac, ip),
                // Our offer was forgotten (or never made) but the address is
                // still free: grant it rather than NAK a client that chose us.
                (Some(ip), None) if self.is_free(ip) => self.ack(now, msg, mac, ip),
                _ => self.nak(now, msg, mac),
            };
        }
        // INIT-REBOOT (requested, no ciaddr), RENEWING/REBINDING (ciaddr).
        let Some(ip) = requested else {
            return self.ignore(now, mac, ForeignIgnore::NotAClientRequest);
        };
        let ours = self.by_mac.get(&mac).map(|b| b.ip());
        if ours == Some(ip) {
            return self.ack(now, msg, mac, ip);
        }
        if !in_subnet(ip, self.cfg.addr, self.cfg.netmask) {
            // RFC 2131 §4.3.2: the address is wrong for this network.
            return self.nak(now, msg, mac);
        }
        if matches!(self.cfg.kind, ForeignKind::Rogue) && self.is_free(ip) {
            // The rogue takes any free address of its subnet on trust.
            self.forget(mac);
            return self.ack(now, msg, mac, ip);
        }
        if matches!(self.cfg.kind, ForeignKind::Rogue) {
            return self.nak(now, msg, mac);
        }
        self.ignore(now, mac, ForeignIgnore::NoRecord)
    }

    /// Whether `ip` is in the pool and nobody holds it.
    fn is_free(&self, ip: Ipv4Addr) -> bool {
        self.in_pool(ip) && !self.by_ip.contains_key(&ip) && ip != self.cfg.addr
    }

    /// Binds `ip` to `mac` and sends the DHCPACK.
    fn ack(&mut self, now: Instant, msg: &DhcpMessage, mac: Mac, ip: Ipv4Addr) {
        self.released.remove(&u32::from(ip));
        self.by_mac.insert(mac, Binding::Bound(ip));
        self.by_ip.insert(ip, mac);
        self.reply(now, msg, mac, MessageType::Ack, ip);
    }

    fn nak(&mut self, now: Instant, msg: &DhcpMessage, mac: Mac) {
        let mut r = DhcpMessage::reply_to(msg);
        r.set_message_type(MessageType::Nak);
        r.push_option(code::SERVER_ID, self.cfg.addr.octets());
        // RFC 2131 §4.1: without a relay a DHCPNAK is always broadcast.
        let t = Transmit {
            src: SocketAddrV4::new(self.cfg.addr, SERVER_PORT),
            dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
            l2: L2Dest::Broadcast,
            payload: r.emit_within(max_len(msg)),
        };
        self.send(now, t);
        self.event(now, mac, ForeignEventKind::Nak, None, None);
    }

    /// An OFFER or ACK of `ip`: lease options, then boot information for a
    /// DhcpPxe server and a PXE client.
    fn reply(
        &mut self,
        now: Instant,
        msg: &DhcpMessage,
        mac: Mac,
        kind: MessageType,
        ip: Ipv4Addr,
    ) {
        let cfg = &self.cfg;
        let mut r = DhcpMessage::reply_to(msg);
        r.set_message_type(kind);
        r.push_option(code::SERVER_ID, cfg.addr.octets());
        r.yiaddr = ip;
        if kind == MessageType::Ack {
            r.ciaddr = msg.ciaddr;
        }
        let lease = u32::try_from(cfg.lease_time.as_secs()).unwrap_or(u32::MAX);
        r.push_option(code::LEASE_TIME, lease.to_be_bytes());
        r.push_option(code::RENEWAL_TIME, (lease / 2).to_be_bytes());
        r.push_option(code::REBINDING_TIME, (lease / 8 * 7).to_be_bytes());
        r.push_option(code::SUBNET_MASK, cfg.netmask.octets());
        if let Some(router) = cfg.router {
            r.push_option(code::ROUTER, router.octets());
        }
        if !cfg.dns.is_empty() {
            let dns: Vec<u8> = cfg.dns.iter().flat_map(|a| a.octets()).collect();
            r.push_option(code::DNS_SERVERS, dns);
        }
        let boot_file = if cfg.pxe_ignore.contains(&mac) {
            None
        } else {
            boot_file(&cfg.kind, &ClientFacts::from_message(msg))
        };
        if cfg.stray_option60 || boot_file.is_some() {
            r.push_option(code::VENDOR_CLASS, &b"PXEClient"[..]);
        }
        if let (Some(file), ForeignKind::DhcpPxe { next_server, .. }) = (&boot_file, &cfg.kind) {
            // 43.6 = 8: use the boot file of this offer, no menu, no discovery.
            r.push_option(code::VENDOR_SPECIFIC, [6, 1, 8, 255]);
            r.siaddr = *next_server;
            r.file = file.as_bytes().to_vec();
            r.push_option(code::BOOTFILE_NAME, file.as_bytes());
        }
        let payload = r.emit_within(max_len(msg));
        // RFC 2131 §4.1: to ciaddr when the client has one; broadcast when it
        // asks; else to yiaddr at its MAC (it cannot answer ARP yet).
        let src = SocketAddrV4::new(cfg.addr, SERVER_PORT);
        let t = if !msg.ciaddr.is_unspecified() {
            Transmit {
                src,
                dst: SocketAddrV4::new(msg.ciaddr, CLIENT_PORT),
                l2: L2Dest::Unicast(mac),
                payload,
            }
        } else if msg.broadcast_flag() {
            Transmit {
                src,
                dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
                l2: L2Dest::Broadcast,
                payload,
            }
        } else {
            Transmit {
                src,
                dst: SocketAddrV4::new(ip, CLIENT_PORT),
                l2: L2Dest::Unicast(mac),
                payload,
            }
        };
        self.send(now, t);
        let kind = if kind == MessageType::Offer {
            ForeignEventKind::Offer
        } else {
            ForeignEventKind::Ack
        };
        self.event(now, mac, kind, Some(ip), boot_file);
    }
}

/// The boot file a DhcpPxe server names for this client: only PXE clients
/// (option 60 `PXEClient`) get one, chosen by option 93 (0 = BIOS, anything
/// else EFI); iPXE gets `ipxe_file`, or — the naive server — the same binary
/// again (the chainload loop of research Q8).
fn boot_file(kind: &ForeignKind, facts: &ClientFacts) -> Option<String> {
    let ForeignKind::DhcpPxe {
        bios_file,
        efi_file,
        ipxe_file,
        ..
    } = kind
    else {
        return None;
    };
    if !facts.is_pxe_client() {
        return None;
    }
    if facts.is_ipxe
        && let Some(f) = ipxe_file
    {
        return Some(f.clone());
    }
    Some(if facts.arch.unwrap_or(0) == 0 {
        bios_file.clone()
    } else {
        efi_file.clone()
    })
}

/// The largest reply the client accepts: option 57, else RFC 2131's 576.
fn max_len(msg: &DhcpMessage) -> usize {
    usize::from(msg.max_message_size().unwrap_or(576))
}
