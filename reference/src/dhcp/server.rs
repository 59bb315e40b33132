//! The DHCP server machine (RFC 2131 §4.3) and the ProxyDHCP (PXE 2.1).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use super::config::{ClientAccess, ConfigError, DhcpConfig, DhcpMode, Reservation};
use super::event::{DhcpEvent, DhcpEventKind, IgnoreReason, NakReason};
use super::pool::{Bindings, Pool, Snapshot, State};
use super::store::{Lease, LeaseChange, LeaseStore, StoreError};
use crate::outbox::Outbox;
use crate::pxe::reply;
use crate::pxe::{BootDecision, BootRule, ClientFacts};
use crate::wire::ParseMode;
use crate::wire::dhcp::{
    CLIENT_PORT, DhcpMessage, FLAG_BROADCAST, MessageType, Op, SERVER_PORT, code,
};
use crate::{Datagram, Instant, L2Dest, Mac, Transmit};

/// Why a [`DhcpServer`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DhcpServerError {
    /// The configuration is inconsistent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The lease store could not be read.
    #[error("cannot load leases: {0}")]
    Store(StoreError),
}

impl From<StoreError> for DhcpServerError {
    fn from(e: StoreError) -> Self {
        DhcpServerError::Store(e)
    }
}

/// The sans-IO DHCP server for datagrams to UDP 67, in full or proxy mode.
pub struct DhcpServer {
    config: DhcpConfig,
    pools: Vec<Pool>,
    reservations: HashMap<Mac, Reservation>,
    reserved_addrs: HashMap<Ipv4Addr, Mac>,
    bindings: Bindings,
    store: Box<dyn LeaseStore>,
    /// Lease changes not yet applied to `store`, and the DHCPACKs waiting for them.
    unflushed: Unflushed,
    out: Outbox<DhcpEvent>,
    /// Option 43 of the configured menu, built once (and checked) at start.
    menu43: Option<Vec<u8>>,
    access: ClientAccess,
    /// L2 source of the datagram being handled: for a relayed request, the
    /// relay's MAC, where replies to `giaddr` go.
    src_mac: Mac,
    /// Per pool (by its first address), where the search for an untouched
    /// address starts: every pool address below it has been touched. Bindings
    /// are never forgotten, so the mark only moves up, and a storm of new
    /// clients costs O(1) per address instead of a scan from the pool's start
    /// each time (which made a 100,000-client storm quadratic).
    untouched_from: std::cell::RefCell<HashMap<u32, u32>>,
}

impl std::fmt::Debug for DhcpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhcpServer")
            .field("server_addr", &self.config.server_addr)
            .field("mode", &self.config.mode)
            .finish_non_exhaustive()
    }
}

/// The group commit in progress: changes decided since the last transmit was
/// handed out, applied to the store as one batch before any of them is announced.
#[derive(Debug, Default)]
struct Unflushed {
    changes: Vec<LeaseChange>,
    acks: Vec<HeldAck>,
}

/// A DHCPACK decided but not sent: its lease is not durable yet.
#[derive(Debug)]
struct HeldAck {
    transmit: Transmit,
    event: DhcpEvent,
    /// The bindings before the ACK, put back if the batch fails.
    before: Snapshot,
}

/// Reply fields decided per exchange.
struct Decided {
    reply: DhcpMessage,
    yiaddr: Option<Ipv4Addr>,
    boot_file: Option<String>,
}

impl DhcpServer {
    /// A server with `config`, loading acknowledged leases from `store` (expired
    /// ones are skipped).
    pub fn new(
        config: DhcpConfig,
        store: Box<dyn LeaseStore>,
        now: Instant,
    ) -> Result<Self, DhcpServerError> {
        let pools = match &config.mode {
            DhcpMode::Full { pools } if pools.is_empty() => return Err(ConfigError::NoPool.into()),
            DhcpMode::Full { pools } => pools
                .iter()
                .map(|p| Pool::new(p, config.netmask))
                .collect::<Result<Vec<_>, _>>()?,
            DhcpMode::Proxy => Vec::new(),
        };
        let mut reservations = HashMap::new();
        let mut reserved_addrs = HashMap::new();
        for r in &config.settings.reservations {
            if matches!(config.mode, DhcpMode::Full { .. })
                && !pools.iter().any(|p| p.subnet_contains(r.ip))
            {
                return Err(ConfigError::ReservationOutsidePools {
                    mac: r.mac,
                    ip: r.ip,
                }
                .into());
            }
            if reservations.insert(r.mac, r.clone()).is_some() {
                return Err(ConfigError::DuplicateReservation(r.mac.to_string()).into());
            }
            if reserved_addrs.insert(r.ip, r.mac).is_some() {
                return Err(ConfigError::DuplicateReservation(r.ip.to_string()).into());
            }
        }
        let menu43 = reply::menu_option43(&config.boot, config.server_addr)
            .map_err(|e| ConfigError::Menu(e.to_string()))?;
        let mut server = DhcpServer {
            access: ClientAccess::from_settings(&config.settings),
            menu43,
            src_mac: Mac::ZERO,
            untouched_from: Default::default(),
            out: Outbox::new(config.settings.respond_delay()),
            config,
            pools,
            reservations,
            reserved_addrs,
            bindings: Bindings::default(),
            store,
            unflushed: Unflushed::default(),
        };
        for lease in server.store.load()? {
            let expires = server.instant_of(lease.expires_unix);
            if expires > now {
                server.bindings.set(
                    lease.addr,
                    lease.mac,
                    State::Bound {
                        expires,
                        expires_unix: lease.expires_unix,
                    },
                );
            }
        }
        Ok(server)
    }

    /// The run's `Instant` for a Unix time (zero when it is before the run started).
    fn instant_of(&self, unix: u64) -> Instant {
        Instant::from_secs(unix.saturating_sub(self.config.unix_time_at_start))
    }

    /// The stored (Unix) expiry of a lease acknowledged at `now`: rounded up to
    /// the next second, plus one second because `unix_time_at_start` is whole
    /// seconds, so that after a restart the address is never free before the
    /// client believes its lease is over (erring late costs nothing).
    fn unix_expiry(&self, now: Instant, lease_secs: u64) -> u64 {
        let since = now.since_start();
        let secs = since.as_secs() + u64::from(since.subsec_nanos() > 0);
        self.config
            .unix_time_at_start
            .saturating_add(secs)
            .saturating_add(lease_secs)
            .saturating_add(1)
    }

    /// A datagram to UDP 67.
    pub fn handle_datagram(&mut self, now: Instant, dgram: Datagram<'_>) {
        self.out.release_due(now);
        self.src_mac = dgram.src_mac;
        let msg = match DhcpMessage::parse(dgram.payload, ParseMode::Lax) {
            Ok(m) => m,
            Err(e) => return self.ignore(now, None, IgnoreReason::Malformed(e.to_string())),
        };
        let Some(mtype) = msg.message_type().filter(|_| msg.op == Op::BootRequest) else {
            return self.ignore(now, Some(&msg), IgnoreReason::NotAClientRequest);
        };
        let Some(mac) = msg.client_mac() else {
            return self.ignore(now, Some(&msg), IgnoreReason::NoClientMac);
        };
        if let Err(reason) = self.access.admit(mac) {
            return self.ignore(now, Some(&msg), reason);
        }
        let facts = ClientFacts::from_message(&msg);
        let boot_item =
            mtype == MessageType::Request && facts.is_pxe_client() && is_boot_server_request(&msg);
        if boot_item {
            return self.boot_server_request(now, &dgram, &msg, mac, &facts);
        }
        match self.config.mode {
            DhcpMode::Proxy => self.proxy(now, &msg, mtype, &facts),
            DhcpMode::Full { .. } => self.full(now, &msg, mtype, mac, &facts),
        }
    }

    fn ignore(&mut self, now: Instant, msg: Option<&DhcpMessage>, reason: IgnoreReason) {
        self.event(now, msg, DhcpEventKind::Ignored(reason), None, None);
    }

    fn event(
        &mut self,
        now: Instant,
        msg: Option<&DhcpMessage>,
        kind: DhcpEventKind,
        yiaddr: Option<Ipv4Addr>,
        boot_file: Option<String>,
    ) {
        self.out.event(DhcpEvent {
            at: now,
            kind,
            mac: msg.and_then(DhcpMessage::client_mac),
            xid: msg.map_or(0, |m| m.xid),
            yiaddr,
            boot_file,
        });
    }

    fn boot_server_request(
        &mut self,
        now: Instant,
        dgram: &Datagram<'_>,
        msg: &DhcpMessage,
        mac: Mac,
        facts: &ClientFacts,
    ) {
        let reserved = self
            .reservations
            .get(&mac)
            .and_then(|r| r.boot_file.as_deref());
        match reply::boot_ack(
            &self.config.boot,
            self.config.server_addr,
            reserved,
            msg,
            facts,
        ) {
            Ok(answer) => {
                let payload = answer.reply.emit_within(max_len(msg));
                let t =
                    reply::to_requester(SERVER_PORT, dgram, msg, payload, self.config.server_addr);
                self.out.send(now, t);
                self.event(
                    now,
                    Some(msg),
                    reply::boot_ack_kind(answer.item),
                    None,
                    Some(answer.file),
                );
            }
            Err(reason) => self.ignore(now, Some(msg), reason),
        }
    }

    // ---------------------------------------------------------------- proxy

    /// ProxyDHCP (PXE 2.1): an offer with yiaddr 0 and boot information
    /// only, broadcast as dnsmasq does (the client has no address yet). BIOS
    /// clients get the PXE10 dialect (43.6 = 8 + file); UEFI clients the BINL
    /// dialect (no 43, no file: they ask again on 4011), because many UEFI ROMs
    /// ignore the first kind (research Q1/Q2). iPXE gets its script directly.
    fn proxy(&mut self, now: Instant, msg: &DhcpMessage, mtype: MessageType, facts: &ClientFacts) {
        if !facts.is_pxe_client() {
            return self.ignore(now, Some(msg), IgnoreReason::NotPxeClient);
        }
        if mtype != MessageType::Discover {
            return self.ignore(now, Some(msg), IgnoreReason::NotForProxy);
        }
        let decision = self.decide_boot(msg, facts);
        let file = match decision {
            BootDecision::Boot { file, .. } => file,
            BootDecision::NoBoot { arch } => {
                return self.ignore(now, Some(msg), IgnoreReason::NoBootFile(arch));
            }
        };
        let server = self.config.server_addr;
        let mut r = DhcpMessage::reply_to(msg);
        r.push_option(code::MESSAGE_TYPE, [u8::from(MessageType::Offer)]);
        r.push_option(code::SERVER_ID, server.octets());
        reply::add_pxe_identity(&mut r, facts);
        let mut sent_file = None;
        if facts.is_ipxe {
            reply::add_boot_file(&mut r, msg, server, &file);
            sent_file = Some(file);
        } else if !facts.is_uefi() {
            match self.menu43.clone() {
                Some(menu) => r.push_option(code::VENDOR_SPECIFIC, menu),
                None => {
                    r.push_option(code::VENDOR_SPECIFIC, reply::direct_boot_option43());
                    reply::add_boot_file(&mut r, msg, server, &file);
                    sent_file = Some(file);
                }
            }
        }
        if !msg.giaddr.is_unspecified() {
            // yiaddr is 0, so the relay cannot unicast to the client: ask it
            // to broadcast.
            r.flags |= FLAG_BROADCAST;
        }
        let payload = r.emit_within(max_len(msg));
        let t = if msg.giaddr.is_unspecified() {
            Transmit {
                src: SocketAddrV4::new(server, SERVER_PORT),
                dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
                l2: L2Dest::Broadcast,
                payload,
            }
        } else {
            self.to_relay(msg, payload)
        };
        self.out.send(now, t);
        self.event(now, Some(msg), DhcpEventKind::ProxyOffer, None, sent_file);
    }

    /// A reply to the relay agent at giaddr, port 67 (RFC 2131 §4.1). It is
    /// always unicast: the relay is a router with an address, so when the driver
    /// does not know its MAC (`Mac::ZERO`, real sockets) the IP layer resolves it.
    fn to_relay(&self, msg: &DhcpMessage, payload: Vec<u8>) -> Transmit {
        Transmit {
            src: SocketAddrV4::new(self.config.server_addr, SERVER_PORT),
            dst: SocketAddrV4::new(msg.giaddr, SERVER_PORT),
            l2: L2Dest::Unicast(self.src_mac),
            payload,
        }
    }

    fn decide_boot(&self, msg: &DhcpMessage, facts: &ClientFacts) -> BootDecision {
        let reserved = msg
            .client_mac()
            .and_then(|m| self.reservations.get(&m))
            .and_then(|r| r.boot_file.clone());
        match reserved {
            Some(file) if !facts.is_ipxe => BootDecision::Boot {
                file,
                rule: BootRule::Reservation,
            },
            _ => self.config.boot.boot_file(facts),
        }
    }

    // ----------------------------------------------------------------- full

    fn full(
        &mut self,
        now: Instant,
        msg: &DhcpMessage,
        mtype: MessageType,
        mac: Mac,
        facts: &ClientFacts,
    ) {
        match mtype {
            MessageType::Discover => self.discover(now, msg, mac, facts),
            MessageType::Request => self.request(now, msg, mac, facts),
            MessageType::Decline => self.decline(now, msg, mac),
            MessageType::Release => self.release(now, msg, mac),
            MessageType::Inform => self.inform(now, msg, facts),
            _ => self.ignore(now, Some(msg), IgnoreReason::NotAClientRequest),
        }
    }

    /// The pool for a request: the one whose subnet holds giaddr when relayed
    /// (RFC 2131 §4.3.1), else the one on the server's own subnet.
    fn pool_for(&self, msg: &DhcpMessage) -> Option<usize> {
        let key = if msg.giaddr.is_unspecified() {
            self.config.server_addr
        } else {
            msg.giaddr
        };
        self.pools.iter().position(|p| p.subnet_contains(key))
    }

    fn reserved_ip(&self, mac: Mac, pool: &Pool) -> Option<Ipv4Addr> {
        self.reservations
            .get(&mac)
            .map(|r| r.ip)
            .filter(|ip| pool.subnet_contains(*ip))
    }

    /// Whether `ip` may go to `mac`: not the server's, not reserved for another,
    /// not held by another client.
    fn usable(&self, ip: Ipv4Addr, mac: Mac, now: Instant) -> bool {
        ip != self.config.server_addr
            && self.reserved_addrs.get(&ip).is_none_or(|m| *m == mac)
            && self.bindings.available_for(ip, mac, now)
    }

    /// RFC 2131 §4.3.1 address choice: reservation, else this client's previous
    /// address, else the requested one, else a free one (never-used first, so a
    /// returning client can find its old address).
    fn choose(&self, now: Instant, msg: &DhcpMessage, mac: Mac, pool: &Pool) -> Option<Ipv4Addr> {
        if let Some(ip) = self.reserved_ip(mac, pool) {
            return self.usable(ip, mac, now).then_some(ip);
        }
        let candidates = [self.bindings.by_mac.get(&mac).copied(), msg.requested_ip()];
        if let Some(ip) = candidates
            .into_iter()
            .flatten()
            .find(|ip| pool.range_contains(*ip) && self.usable(*ip, mac, now))
        {
            return Some(ip);
        }
        self.first_untouched(pool, mac, now)
            .or_else(|| pool.addresses().find(|ip| self.usable(*ip, mac, now)))
    }

    /// The lowest untouched pool address `mac` may have, starting at the
    /// pool's mark (see `untouched_from`) and moving the mark over the
    /// touched addresses it passes.
    fn first_untouched(&self, pool: &Pool, mac: Mac, now: Instant) -> Option<Ipv4Addr> {
        let mut marks = self.untouched_from.borrow_mut();
        let mark = marks.entry(pool.first).or_insert(pool.first);
        let mut prefix = true;
        for v in *mark..=pool.last {
            let ip = Ipv4Addr::from(v);
            if !pool.range_contains(ip) {
                continue;
            }
            if !self.bindings.untouched(ip) {
                if prefix {
                    *mark = v.saturating_add(1).min(pool.last);
                }
                continue;
            }
            prefix = false;
            if self.usable(ip, mac, now) {
                return Some(ip);
            }
        }
        None
    }

    fn discover(&mut self, now: Instant, msg: &DhcpMessage, mac: Mac, facts: &ClientFacts) {
        let Some(pi) = self.pool_for(msg) else {
            return self.ignore(now, Some(msg), IgnoreReason::NoPool);
        };
        let pool = self.pools[pi].clone();
        let Some(ip) = self.choose(now, msg, mac, &pool) else {
            return self.ignore(now, Some(msg), IgnoreReason::PoolExhausted);
        };
        let bound_here = matches!(
            self.bindings.by_addr.get(&ip),
            Some(b) if b.mac == mac && matches!(b.state, State::Bound { expires, .. } if expires > now)
        );
        if !bound_here {
            let until = now + Duration::from_secs(u64::from(self.config.settings.offer_hold_secs));
            self.bindings.set(ip, mac, State::Offered { until });
        }
        let d = self.lease_reply(msg, MessageType::Offer, Some(ip), &pool, facts);
        self.send_full(now, msg, d, DhcpEventKind::Offer);
    }

    fn request(&mut self, now: Instant, msg: &DhcpMessage, mac: Mac, facts: &ClientFacts) {
        let Some(pi) = self.pool_for(msg) else {
            return self.ignore(now, Some(msg), IgnoreReason::NoPool);
        };
        let pool = self.pools[pi].clone();
        let reserved = self.reserved_ip(mac, &pool);
        if let Some(sid) = msg.server_id() {
            // SELECTING.
            if sid != self.config.server_addr {
                // The client took another server's offer: free ours at once.
                for b in self.bindings.by_addr.values_mut() {
                    if b.mac == mac && matches!(b.state, State::Offered { .. }) {
                        b.state = State::Free;
                    }
                }
                return self.ignore(now, Some(msg), IgnoreReason::OtherServerSelected);
            }
            let Some(ip) = msg
                .requested_ip()
                .or(Some(msg.ciaddr).filter(|a| !a.is_unspecified()))
            else {
                return self.nak(now, msg, NakReason::NotOffered);
            };
            if !pool.subnet_contains(ip) {
                return self.nak(now, msg, NakReason::WrongSubnet);
            }
            if reserved.is_some_and(|r| r != ip) {
                return self.nak(now, msg, NakReason::NotOffered);
            }
            if !self.usable(ip, mac, now) {
                return self.nak(now, msg, NakReason::AddressTaken);
            }
            if !(pool.range_contains(ip) || reserved == Some(ip)) {
                return self.nak(now, msg, NakReason::NotOffered);
            }
            return self.ack(now, msg, ip, &pool, facts);
        }
        if let Some(ip) = msg.requested_ip().filter(|_| msg.ciaddr.is_unspecified()) {
            // INIT-REBOOT: verify the remembered address.
            if !pool.subnet_contains(ip) {
                return self.nak(now, msg, NakReason::WrongSubnet);
            }
            if reserved.is_some_and(|r| r != ip) {
                return self.nak(now, msg, NakReason::NotOffered);
            }
            if self.bindings.held_by_other(ip, mac, now)
                || self.reserved_addrs.get(&ip).is_some_and(|m| *m != mac)
            {
                return self.nak(now, msg, NakReason::AddressTaken);
            }
            if self.bindings.knows(ip, mac) || reserved == Some(ip) {
                return self.ack(now, msg, ip, &pool, facts);
            }
            return self.ignore(now, Some(msg), IgnoreReason::NoRecord);
        }
        if !msg.ciaddr.is_unspecified() {
            // RENEWING (unicast) or REBINDING (broadcast).
            let ip = msg.ciaddr;
            if self.bindings.held_by_other(ip, mac, now)
                || self.reserved_addrs.get(&ip).is_some_and(|m| *m != mac)
            {
                return self.nak(now, msg, NakReason::AddressTaken);
            }
            if self.bindings.knows(ip, mac) && pool.subnet_contains(ip) {
                return self.ack(now, msg, ip, &pool, facts);
            }
            return self.ignore(now, Some(msg), IgnoreReason::NoRecord);
        }
        self.ignore(now, Some(msg), IgnoreReason::NotAClientRequest)
    }

    /// Binds the address and holds the DHCPACK until its lease is durable
    /// ([`Self::flush`]). The binding takes effect at once, so that later requests
    /// of the same batch see it exactly as if the commit had already happened.
    fn ack(
        &mut self,
        now: Instant,
        msg: &DhcpMessage,
        ip: Ipv4Addr,
        pool: &Pool,
        facts: &ClientFacts,
    ) {
        let Some(mac) = msg.client_mac() else { return };
        let lease_time = u64::from(self.config.settings.lease_time_secs);
        let lease = Lease {
            addr: ip,
            mac,
            expires_unix: self.unix_expiry(now, lease_time),
        };
        let before = self.bindings.snapshot(ip, mac);
        self.bindings.set(
            ip,
            mac,
            State::Bound {
                expires: now + Duration::from_secs(lease_time),
                expires_unix: lease.expires_unix,
            },
        );
        let mut d = self.lease_reply(msg, MessageType::Ack, Some(ip), pool, facts);
        d.reply.ciaddr = msg.ciaddr;
        let (transmit, event) = self.full_reply(now, msg, d, DhcpEventKind::Ack);
        self.unflushed.changes.push(LeaseChange::Put(lease));
        self.unflushed.acks.push(HeldAck {
            transmit,
            event,
            before,
        });
    }

    /// Applies the unflushed lease changes as one batch, then releases the
    /// DHCPACKs that waited for them. If the store fails, none of the batch's
    /// ACKs is sent: each becomes a `StoreFailed` event and its binding is put
    /// back, so the clients retry and no address was promised that a restart
    /// could forget.
    fn flush(&mut self) {
        if self.unflushed.changes.is_empty() {
            return;
        }
        let Unflushed { changes, acks } = std::mem::take(&mut self.unflushed);
        match self.store.apply(&changes) {
            Ok(()) => {
                for ack in acks {
                    self.out.send(ack.event.at, ack.transmit);
                    self.out.event(ack.event);
                }
            }
            Err(e) => {
                for ack in acks.iter().rev() {
                    self.bindings.restore(ack.before);
                }
                for ack in acks {
                    self.out.event(DhcpEvent {
                        kind: DhcpEventKind::StoreFailed(e.to_string()),
                        boot_file: None,
                        ..ack.event
                    });
                }
            }
        }
    }

    fn nak(&mut self, now: Instant, msg: &DhcpMessage, reason: NakReason) {
        let mut r = DhcpMessage::reply_to(msg);
        r.push_option(code::MESSAGE_TYPE, [u8::from(MessageType::Nak)]);
        r.push_option(code::SERVER_ID, self.config.server_addr.octets());
        let payload = r.emit_within(max_len(msg));
        // RFC 2131 §4.1: without a relay a DHCPNAK is always broadcast; through
        // a relay it goes to the relay with the broadcast bit set.
        let t = if msg.giaddr.is_unspecified() {
            self.broadcast(payload)
        } else {
            let mut r2 = r.clone();
            r2.flags |= FLAG_BROADCAST;
            self.to_relay(msg, r2.emit_within(max_len(msg)))
        };
        self.out.send(now, t);
        self.event(now, Some(msg), DhcpEventKind::Nak(reason), None, None);
    }

    fn broadcast(&self, payload: Vec<u8>) -> Transmit {
        Transmit {
            src: SocketAddrV4::new(self.config.server_addr, SERVER_PORT),
            dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
            l2: L2Dest::Broadcast,
            payload,
        }
    }

    fn decline(&mut self, now: Instant, msg: &DhcpMessage, mac: Mac) {
        let Some(ip) = msg
            .requested_ip()
            .filter(|ip| self.bindings.knows(*ip, mac))
        else {
            return self.ignore(now, Some(msg), IgnoreReason::NoRecord);
        };
        let until = now + Duration::from_secs(u64::from(self.config.settings.decline_hold_secs));
        self.bindings.by_addr.insert(
            ip,
            super::pool::Binding {
                mac,
                state: State::Declined { until },
            },
        );
        self.bindings.by_mac.remove(&mac);
        // Removed with the next batch; a failed removal only keeps the address
        // out of the pool longer after a restart.
        self.unflushed.changes.push(LeaseChange::Remove(ip));
        self.event(now, Some(msg), DhcpEventKind::Decline, Some(ip), None);
    }

    fn release(&mut self, now: Instant, msg: &DhcpMessage, mac: Mac) {
        let ip = msg.ciaddr;
        if !self.bindings.knows(ip, mac) {
            return self.ignore(now, Some(msg), IgnoreReason::NoRecord);
        }
        self.bindings.set(ip, mac, State::Free);
        // Removed with the next batch. A failed removal only keeps the address
        // reserved for this client until the stored expiry after a restart:
        // never a duplicate.
        self.unflushed.changes.push(LeaseChange::Remove(ip));
        self.event(now, Some(msg), DhcpEventKind::Release, Some(ip), None);
    }

    /// RFC 2131 §4.3.5: configuration only, no yiaddr and no lease time, sent to ciaddr.
    fn inform(&mut self, now: Instant, msg: &DhcpMessage, facts: &ClientFacts) {
        let pool = self
            .pools
            .iter()
            .find(|p| p.subnet_contains(msg.ciaddr))
            .or_else(|| self.pool_for(msg).map(|i| &self.pools[i]))
            .cloned();
        let Some(pool) = pool else {
            return self.ignore(now, Some(msg), IgnoreReason::NoPool);
        };
        let d = self.lease_reply(msg, MessageType::Inform, None, &pool, facts);
        self.send_full(now, msg, d, DhcpEventKind::Inform);
    }

    /// OFFER/ACK contents: 53, 54, 51, 58, 59 (not for INFORM), 1, 3 and 6 when
    /// configured, then boot information for PXE clients.
    fn lease_reply(
        &self,
        msg: &DhcpMessage,
        kind: MessageType,
        ip: Option<Ipv4Addr>,
        pool: &Pool,
        facts: &ClientFacts,
    ) -> Decided {
        let server = self.config.server_addr;
        let mut r = DhcpMessage::reply_to(msg);
        let wire_type = if kind == MessageType::Inform {
            MessageType::Ack
        } else {
            kind
        };
        r.push_option(code::MESSAGE_TYPE, [u8::from(wire_type)]);
        r.push_option(code::SERVER_ID, server.octets());
        if let Some(ip) = ip {
            r.yiaddr = ip;
            let t = self.config.settings.lease_time_secs;
            r.push_option(code::LEASE_TIME, t.to_be_bytes());
            r.push_option(code::RENEWAL_TIME, (t / 2).to_be_bytes());
            r.push_option(code::REBINDING_TIME, (t / 8 * 7).to_be_bytes());
        }
        r.push_option(code::SUBNET_MASK, pool.netmask.octets());
        if let Some(router) = pool.router {
            r.push_option(code::ROUTER, router.octets());
        }
        if !pool.dns.is_empty() {
            r.push_option(
                code::DNS_SERVERS,
                pool.dns
                    .iter()
                    .flat_map(|a| a.octets())
                    .collect::<Vec<u8>>(),
            );
        }
        let boot_file = self.add_full_boot_info(&mut r, msg, facts);
        Decided {
            reply: r,
            yiaddr: ip,
            boot_file,
        }
    }

    /// Boot information for PXE (and, with `http_url`, HTTP boot) clients: siaddr,
    /// file / 67, 60 echoed, and option 43: the menu when configured, else 43.6 = 8
    /// for BIOS so the offer is a PXE10 "boot this file" offer; UEFI clients
    /// without a menu get no 43 and may ask on 4011 (the driver runs the boot
    /// server there in full mode too, research Q4); iPXE never gets a menu.
    fn add_full_boot_info(
        &self,
        r: &mut DhcpMessage,
        msg: &DhcpMessage,
        facts: &ClientFacts,
    ) -> Option<String> {
        if !facts.is_pxe_client() && !facts.is_http_client() {
            return None;
        }
        let file = self.decide_boot(msg, facts).file()?.to_string();
        let server = self.config.server_addr;
        reply::add_boot_file(r, msg, server, &file);
        reply::add_pxe_identity(r, facts);
        if facts.is_pxe_client() && !facts.is_ipxe {
            match self.menu43.clone() {
                Some(menu) => r.push_option(code::VENDOR_SPECIFIC, menu),
                None if !facts.is_uefi() => {
                    r.push_option(code::VENDOR_SPECIFIC, reply::direct_boot_option43())
                }
                None => {}
            }
        }
        Some(file)
    }

    /// Sends a full-mode reply (see [`Self::full_reply`]) at once.
    fn send_full(&mut self, now: Instant, msg: &DhcpMessage, d: Decided, kind: DhcpEventKind) {
        let (t, event) = self.full_reply(now, msg, d, kind);
        self.out.send(now, t);
        self.out.event(event);
    }

    /// A full-mode reply and its event. It goes, per RFC 2131 §4.1: to the relay
    /// when giaddr is set; to ciaddr when the client has an address; broadcast
    /// when it asks (flag) or its MAC is unknown; else unicast to yiaddr at the
    /// client's MAC.
    fn full_reply(
        &self,
        now: Instant,
        msg: &DhcpMessage,
        d: Decided,
        kind: DhcpEventKind,
    ) -> (Transmit, DhcpEvent) {
        let payload = d.reply.emit_within(max_len(msg));
        let src = SocketAddrV4::new(self.config.server_addr, SERVER_PORT);
        let mac = msg.client_mac();
        let t = if !msg.giaddr.is_unspecified() {
            self.to_relay(msg, payload)
        } else if !msg.ciaddr.is_unspecified() {
            Transmit {
                src,
                dst: SocketAddrV4::new(msg.ciaddr, CLIENT_PORT),
                l2: mac.map_or(L2Dest::Broadcast, L2Dest::Unicast),
                payload,
            }
        } else if msg.broadcast_flag() || mac.is_none() || d.yiaddr.is_none() {
            self.broadcast(payload)
        } else {
            Transmit {
                src,
                dst: SocketAddrV4::new(d.yiaddr.unwrap_or(Ipv4Addr::BROADCAST), CLIENT_PORT),
                l2: mac.map_or(L2Dest::Broadcast, L2Dest::Unicast),
                payload,
            }
        };
        let event = DhcpEvent {
            at: now,
            kind,
            mac,
            xid: msg.xid,
            yiaddr: d.yiaddr,
            boot_file: d.boot_file,
        };
        (t, event)
    }

    // ---------------------------------------------------------------- polls

    /// Time passed: releases replies whose respond delay is over.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.out.release_due(now);
    }

    /// The next datagram to send. The first call after a batch of datagrams
    /// commits the batch's leases (one store transaction) before any DHCPACK
    /// leaves: a driver that handles every datagram it has before draining gets
    /// group commit for free.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.flush();
        self.out.poll_transmit()
    }

    /// When [`Self::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.out.poll_timeout()
    }

    /// The next exchange to report (commits a pending batch first, like
    /// [`Self::poll_transmit`], so an ACK is reported only once it was sent).
    pub fn poll_event(&mut self) -> Option<DhcpEvent> {
        self.flush();
        self.out.poll_event()
    }

    /// The configuration the server runs with (the driver builds the 4011
    /// [`crate::pxe::BootServer`] from it with `BootServerConfig::from_dhcp`).
    pub fn config(&self) -> &DhcpConfig {
        &self.config
    }

    /// How many clients the server remembers an address for. Bounded by the
    /// number of addresses it has touched (pools and reservations), whatever the
    /// number of MACs seen: a starvation flood of random MACs must not grow the
    /// server's memory (for tests of that bound).
    pub fn remembered_clients(&self) -> usize {
        self.bindings.by_mac.len()
    }

    /// The acknowledged, unexpired lease of `mac`, if any (for reports and tests).
    pub fn lease_of(&self, mac: Mac, now: Instant) -> Option<Ipv4Addr> {
        let ip = *self.bindings.by_mac.get(&mac)?;
        let b = self.bindings.by_addr.get(&ip)?;
        matches!(b.state, State::Bound { expires, .. } if expires > now && b.mac == mac)
            .then_some(ip)
    }
}

/// The largest reply the client accepts: option 57, else RFC 2131's 576.
fn max_len(msg: &DhcpMessage) -> usize {
    usize::from(msg.max_message_size().unwrap_or(576))
}

/// A REQUEST carrying 43.71 is boot-server discovery by broadcast (PXE 2.1
/// sends it to port 67), not a lease request.
fn is_boot_server_request(msg: &DhcpMessage) -> bool {
    reply::boot_item(msg).is_some()
}
