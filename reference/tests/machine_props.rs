//! Property tests over the server machines: the DHCP server (full and proxy
//! modes), the boot server on 4011 and TFTP sessions, each driven with random
//! sequences of valid and invalid datagrams and random advances of time.
//!
//! The invariants are checked from what the machines emit (transmits and
//! events) and from their public API, never from their internals: a client on
//! the wire sees no more than that, and an invariant stated that way survives a
//! rewrite of the machine.

mod dhcp_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use dhcp_support::{SERVER, UNIX_START, mac, make_ipxe, make_pxe};
use proptest::prelude::*;
use pxelab_reference::dhcp::{
    ClientAccess, DhcpConfig, DhcpEvent, DhcpEventKind, DhcpMode, DhcpServer, DhcpSettings, Lease,
    LeaseChange, LeaseStore, PoolConfig, Reservation, StoreError,
};
use pxelab_reference::pxe::{BootMenu, BootPolicy, BootServer, BootServerConfig, MenuItem};
use pxelab_reference::tftp::{
    Accept, MemoryRoot, TftpEvent, TftpOutcome, TftpServer, TftpServerConfig, TftpSession,
    TransferSummary,
};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{DhcpMessage, MessageType, Op, code};
use pxelab_reference::wire::tftp::{ErrorCode, TftpPacket};
use pxelab_reference::{Datagram, Instant, L2Dest, Mac};

// ------------------------------------------------------------ heap accounting

/// Counts the heap bytes live on each thread, so a property can check that a
/// machine's memory does not grow with the number of packets it is fed.
/// Per thread because the harness runs tests in parallel; a proptest case runs
/// on the test's own thread.
struct CountingAlloc;

thread_local! {
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: no panic while the thread's locals are being torn down.
    let _ = LIVE_BYTES.try_with(|live| live.set(live.get() + delta));
}

fn live_bytes() -> isize {
    LIVE_BYTES.with(Cell::get)
}

// SAFETY: every call is forwarded to `System` unchanged; only the count is added.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

// ------------------------------------------------------------------ DHCP

/// Four addresses for eight clients, so addresses are contested; .102 is in
/// the range and reserved, .20 is outside the range and reserved.
const POOL: std::ops::RangeInclusive<u8> = 100..=103;
const CLIENTS: [u8; 8] = [1, 2, 3, 4, 5, 6, 8, 9];
const RESERVED: [(u8, u8); 2] = [(8, 102), (9, 20)];

fn lan(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 50, host)
}

fn reservation_of(m: Mac) -> Option<Ipv4Addr> {
    RESERVED
        .iter()
        .find(|(n, _)| mac(*n) == m)
        .map(|(_, h)| lan(*h))
}

fn reserved_for_other(ip: Ipv4Addr, m: Mac) -> bool {
    RESERVED.iter().any(|(n, h)| lan(*h) == ip && mac(*n) != m)
}

/// A lease store whose batches fail on a pattern: the server must then send
/// none of the batch's ACKs and put its bindings back.
struct FlakyStore {
    fails: Vec<bool>,
    batches: usize,
}

impl LeaseStore for FlakyStore {
    fn load(&self) -> Result<Vec<Lease>, StoreError> {
        Ok(Vec::new())
    }
    fn apply(&mut self, _changes: &[LeaseChange]) -> Result<(), StoreError> {
        let fail = !self.fails.is_empty() && self.fails[self.batches % self.fails.len()];
        self.batches += 1;
        if fail {
            Err(StoreError::Other("injected failure".into()))
        } else {
            Ok(())
        }
    }
}

/// Which address a message names.
#[derive(Debug, Clone, Copy)]
enum Addr {
    /// The last address the server offered or acknowledged to this client
    /// (what a real client would ask for).
    Known,
    Pool(u8),
    Reserved(usize),
    /// In the subnet, outside the range.
    Subnet,
    Server,
    Zero,
    OtherSubnet,
}

fn addr() -> impl Strategy<Value = Addr> {
    prop_oneof![
        6 => Just(Addr::Known),
        3 => POOL.prop_map(Addr::Pool),
        1 => (0..RESERVED.len()).prop_map(Addr::Reserved),
        1 => Just(Addr::Subnet),
        1 => Just(Addr::Server),
        1 => Just(Addr::Zero),
        1 => Just(Addr::OtherSubnet),
    ]
}

#[derive(Debug, Clone)]
enum Kind {
    Discover(Option<Addr>),
    /// SELECTING: option 54 ours (or another server's) and option 50.
    Select {
        ours: bool,
        ip: Option<Addr>,
    },
    InitReboot(Addr),
    /// RENEWING (unicast from ciaddr) or REBINDING (broadcast).
    Renew {
        ip: Addr,
        unicast: bool,
    },
    Decline(Addr),
    Release(Addr),
    Inform(Addr),
    /// Boot-server discovery broadcast to 67 (43.71).
    BootItem(u16),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => proptest::option::of(addr()).prop_map(Kind::Discover),
        5 => (prop::bool::weighted(0.9), proptest::option::of(addr()))
            .prop_map(|(ours, ip)| Kind::Select { ours, ip }),
        2 => addr().prop_map(Kind::InitReboot),
        2 => (addr(), any::<bool>()).prop_map(|(ip, unicast)| Kind::Renew { ip, unicast }),
        1 => addr().prop_map(Kind::Decline),
        2 => addr().prop_map(Kind::Release),
        1 => addr().prop_map(Kind::Inform),
        1 => prop_oneof![Just(0x8000u16), any::<u16>()].prop_map(Kind::BootItem),
    ]
}

/// Damage done to a well-formed message after it is emitted. Byte flips stay
/// clear of `xid` and `chaddr`, which the harness uses to tell requests apart.
#[derive(Debug, Clone)]
enum Mangle {
    None,
    Truncate(usize),
    Flip(usize, u8),
}

fn mangle() -> impl Strategy<Value = Mangle> {
    prop_oneof![
        12 => Just(Mangle::None),
        1 => (0usize..400).prop_map(Mangle::Truncate),
        1 => (0usize..400, 1u8..=255).prop_map(|(i, x)| Mangle::Flip(i, x)),
    ]
}

#[derive(Debug, Clone)]
enum DhcpOp {
    Send {
        client: usize,
        xid_hi: u16,
        kind: Kind,
        pxe: Option<u16>,
        ipxe: bool,
        bcast_flag: bool,
        /// 0: none; 1: a relay on the pool's subnet; 2: one on a subnet with no pool.
        relay: u8,
        mangle: Mangle,
    },
    Garbage(Vec<u8>),
    Drain,
    Advance(u64),
}

fn dhcp_op() -> impl Strategy<Value = DhcpOp> {
    let send = (
        0..CLIENTS.len(),
        any::<u16>(),
        kind(),
        proptest::option::weighted(0.4, prop_oneof![Just(0u16), Just(7), Just(9), any::<u16>()]),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.3),
        prop_oneof![10 => Just(0u8), 1 => Just(1), 1 => Just(2)],
        mangle(),
    )
        .prop_map(
            |(client, xid_hi, kind, pxe, ipxe, bcast_flag, relay, mangle)| DhcpOp::Send {
                client,
                xid_hi,
                kind,
                pxe,
                ipxe,
                bcast_flag,
                relay,
                mangle,
            },
        );
    prop_oneof![
        20 => send,
        1 => prop::collection::vec(any::<u8>(), 0..600).prop_map(DhcpOp::Garbage),
        3 => Just(DhcpOp::Drain),
        4 => prop_oneof![0u64..2_000, 0u64..40_000, Just(120_000)].prop_map(DhcpOp::Advance),
    ]
}

#[derive(Debug, Clone)]
struct DhcpTiming {
    lease_secs: u32,
    offer_hold_secs: u32,
    decline_hold_secs: u32,
}

fn dhcp_timing() -> impl Strategy<Value = DhcpTiming> {
    (
        prop_oneof![Just(5u32), Just(30), Just(120)],
        prop_oneof![Just(2u32), Just(10)],
        prop_oneof![Just(3u32), Just(20)],
    )
        .prop_map(
            |(lease_secs, offer_hold_secs, decline_hold_secs)| DhcpTiming {
                lease_secs,
                offer_hold_secs,
                decline_hold_secs,
            },
        )
}

fn dhcp_config(full: bool, t: &DhcpTiming) -> DhcpConfig {
    let pool: PoolConfig = format!("{}-{}", lan(*POOL.start()), lan(*POOL.end()))
        .parse()
        .unwrap();
    DhcpConfig {
        server_addr: SERVER,
        netmask: Ipv4Addr::new(255, 255, 255, 0),
        mode: if full {
            DhcpMode::Full { pools: vec![pool] }
        } else {
            DhcpMode::Proxy
        },
        settings: DhcpSettings {
            lease_time_secs: t.lease_secs,
            offer_hold_secs: t.offer_hold_secs,
            decline_hold_secs: t.decline_hold_secs,
            reservations: RESERVED
                .iter()
                .map(|(n, h)| Reservation {
                    mac: mac(*n),
                    ip: lan(*h),
                    boot_file: Some(format!("reserved-{n}.kpxe")),
                })
                .collect(),
            ..DhcpSettings::default()
        },
        boot: BootPolicy::default(),
        unix_time_at_start: UNIX_START,
    }
}

/// A lease as its client sees it: acknowledged to `mac` at some instant and
/// held until `expires`, unless released or declined first.
#[derive(Debug, Clone, Copy)]
struct Held {
    mac: Mac,
    expires: Instant,
}

/// The clients' side of the run: what each was last offered or acknowledged,
/// which request each event answers, and who holds which address.
struct DhcpWorld {
    full: bool,
    lease: Duration,
    now: Instant,
    seq: u64,
    /// (MAC, xid) of each request handled since the last drain → its order.
    pending: HashMap<(Mac, u32), u64>,
    known: HashMap<Mac, Ipv4Addr>,
    held: HashMap<Ipv4Addr, Held>,
    acks: usize,
}

impl DhcpWorld {
    fn new(full: bool, t: &DhcpTiming) -> Self {
        DhcpWorld {
            full,
            lease: Duration::from_secs(u64::from(t.lease_secs)),
            now: Instant::from_secs(1),
            seq: 0,
            pending: HashMap::new(),
            known: HashMap::new(),
            held: HashMap::new(),
            acks: 0,
        }
    }

    fn resolve(&self, m: Mac, a: Addr) -> Ipv4Addr {
        match a {
            Addr::Known => self.known.get(&m).copied().unwrap_or(lan(*POOL.start())),
            Addr::Pool(h) => lan(h),
            Addr::Reserved(i) => lan(RESERVED[i].1),
            Addr::Subnet => lan(150),
            Addr::Server => SERVER,
            Addr::Zero => Ipv4Addr::UNSPECIFIED,
            Addr::OtherSubnet => Ipv4Addr::new(10, 0, 0, 5),
        }
    }

    /// The bytes and addressing of one `Send` op.
    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        m: Mac,
        xid: u32,
        kind: &Kind,
        pxe: Option<u16>,
        ipxe: bool,
        bcast_flag: bool,
        relay: u8,
        mangle: &Mangle,
    ) -> (Vec<u8>, SocketAddrV4, SocketAddrV4) {
        let t = match kind {
            Kind::Discover(_) => MessageType::Discover,
            Kind::Select { .. } | Kind::InitReboot(_) | Kind::Renew { .. } | Kind::BootItem(_) => {
                MessageType::Request
            }
            Kind::Decline(_) => MessageType::Decline,
            Kind::Release(_) => MessageType::Release,
            Kind::Inform(_) => MessageType::Inform,
        };
        let mut msg = dhcp_support::client_msg(t, m, xid);
        if let Some(arch) = pxe {
            make_pxe(&mut msg, arch);
            if ipxe {
                make_ipxe(&mut msg);
            }
        }
        if bcast_flag {
            msg.flags |= pxelab_reference::wire::dhcp::FLAG_BROADCAST;
        }
        let mut unicast_from = None;
        match kind {
            Kind::Discover(ip) => {
                if let Some(a) = ip {
                    msg.push_option(code::REQUESTED_IP, self.resolve(m, *a).octets());
                }
            }
            Kind::Select { ours, ip } => {
                let sid = if *ours {
                    SERVER
                } else {
                    Ipv4Addr::new(192, 168, 50, 2)
                };
                msg.push_option(code::SERVER_ID, sid.octets());
                if let Some(a) = ip {
                    msg.push_option(code::REQUESTED_IP, self.resolve(m, *a).octets());
                }
            }
            Kind::InitReboot(a) => {
                msg.push_option(code::REQUESTED_IP, self.resolve(m, *a).octets());
            }
            Kind::Renew { ip, unicast } => {
                msg.ciaddr = self.resolve(m, *ip);
                if *unicast {
                    unicast_from = Some(msg.ciaddr);
                }
            }
            Kind::Decline(a) => {
                msg.push_option(code::SERVER_ID, SERVER.octets());
                msg.push_option(code::REQUESTED_IP, self.resolve(m, *a).octets());
            }
            Kind::Release(a) | Kind::Inform(a) => {
                msg.push_option(code::SERVER_ID, SERVER.octets());
                msg.ciaddr = self.resolve(m, *a);
                unicast_from = Some(msg.ciaddr);
            }
            Kind::BootItem(item) => {
                if pxe.is_none() {
                    make_pxe(&mut msg, 0);
                }
                let [a, b] = item.to_be_bytes();
                msg.push_option(code::VENDOR_SPECIFIC, [71, 4, a, b, 0, 0, 255]);
            }
        }
        let relay_addr = match relay {
            1 => Some(lan(254)),
            2 => Some(Ipv4Addr::new(10, 9, 9, 1)),
            _ => None,
        };
        if let Some(g) = relay_addr {
            msg.giaddr = g;
        }
        let mut bytes = msg.emit();
        match mangle {
            Mangle::None => {}
            Mangle::Truncate(n) => bytes.truncate(*n),
            Mangle::Flip(i, x) => {
                // Keep xid (4..8) and chaddr (28..34) intact.
                let i = i % bytes.len();
                if !(4..8).contains(&i) && !(28..34).contains(&i) {
                    bytes[i] ^= x;
                }
            }
        }
        let (src, dst) = match (relay_addr, unicast_from) {
            (Some(g), _) => (SocketAddrV4::new(g, 67), SocketAddrV4::new(SERVER, 67)),
            (None, Some(c)) if !c.is_unspecified() => {
                (SocketAddrV4::new(c, 68), SocketAddrV4::new(SERVER, 67))
            }
            _ => (
                SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
                SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
            ),
        };
        (bytes, src, dst)
    }

    /// Hands one datagram to the server, recording which request it is.
    /// A request that would be indistinguishable from one handled since the
    /// last drain is preceded by a drain (as a driver may drain at any time).
    fn deliver(
        &mut self,
        s: &mut DhcpServer,
        payload: &[u8],
        src: SocketAddrV4,
        dst: SocketAddrV4,
    ) {
        let key = DhcpMessage::parse(payload, ParseMode::Lax)
            .ok()
            .and_then(|m| Some((m.client_mac()?, m.xid)));
        if let Some(k) = key {
            if self.pending.contains_key(&k) {
                self.drain(s);
            }
            self.pending.insert(k, self.seq);
        }
        self.seq += 1;
        let from = key.map_or(Mac::ZERO, |(m, _)| m);
        s.handle_datagram(
            self.now,
            Datagram {
                src,
                dst,
                src_mac: from,
                payload,
            },
        );
    }

    /// Drains the server and checks every invariant on what came out.
    fn drain(&mut self, s: &mut DhcpServer) {
        let mut acked: HashMap<(Mac, u32), Ipv4Addr> = HashMap::new();
        while let Some(t) = s.poll_transmit() {
            let reply = DhcpMessage::parse(&t.payload, ParseMode::Strict)
                .unwrap_or_else(|e| panic!("the server emitted an invalid reply ({e}): {t:?}"));
            assert_eq!(reply.op, Op::BootReply);
            assert_eq!(t.src, SocketAddrV4::new(SERVER, 67));
            let m = reply.client_mac().expect("replies echo an Ethernet chaddr");
            let ty = reply.message_type().expect("replies carry option 53");
            if !self.full {
                assert_eq!(
                    reply.yiaddr,
                    Ipv4Addr::UNSPECIFIED,
                    "a ProxyDHCP or boot server never hands out an address: {reply:?}"
                );
            }
            if reply.yiaddr.is_unspecified() {
                continue;
            }
            let ip = reply.yiaddr;
            assert!(
                POOL.contains(&ip.octets()[3]) && ip.octets()[..3] == [192, 168, 50]
                    || reservation_of(m) == Some(ip),
                "{ty:?} of {ip} to {m}: neither a pool address nor its reservation"
            );
            assert!(
                !reserved_for_other(ip, m),
                "{ty:?} of {ip} to {m}: reserved for another client"
            );
            self.known.insert(m, ip);
            if ty == MessageType::Ack {
                let lease = reply
                    .option(code::LEASE_TIME)
                    .map(|v| u32::from_be_bytes(v.as_ref().try_into().unwrap()));
                assert_eq!(
                    lease.map(u64::from),
                    Some(self.lease.as_secs()),
                    "ACK carries the lease time"
                );
                let dup = acked.insert((m, reply.xid), ip);
                assert!(dup.is_none(), "two ACKs for one request of {m}");
            }
        }
        let mut events: Vec<(u64, DhcpEvent)> = std::iter::from_fn(|| s.poll_event())
            .map(|e| {
                let seq = e
                    .mac
                    .and_then(|m| self.pending.get(&(m, e.xid)))
                    .copied()
                    .unwrap_or(u64::MAX);
                (seq, e)
            })
            .collect();
        // The order the requests were handled in: ACK events come out at the
        // commit, after the events of later requests of the same burst.
        events.sort_by_key(|(seq, _)| *seq);
        for (seq, e) in events {
            let m = e.mac;
            match e.kind {
                DhcpEventKind::Ack => {
                    let m = m.expect("an ACK names its client");
                    assert_ne!(seq, u64::MAX, "ACK event for no request: {e:?}");
                    let ip = acked.remove(&(m, e.xid)).unwrap_or_else(|| {
                        panic!("ACK event without its DHCPACK on the wire: {e:?}")
                    });
                    assert_eq!(e.yiaddr, Some(ip));
                    if let Some(h) = self.held.get(&ip)
                        && h.mac != m
                        && e.at < h.expires
                    {
                        panic!(
                            "{ip} acknowledged to {m} at {:?} while {} holds it until {:?}",
                            e.at, h.mac, h.expires
                        );
                    }
                    self.held.insert(
                        ip,
                        Held {
                            mac: m,
                            expires: e.at + self.lease,
                        },
                    );
                    self.acks += 1;
                }
                DhcpEventKind::Release | DhcpEventKind::Decline => {
                    if let (Some(m), Some(ip)) = (m, e.yiaddr)
                        && self.held.get(&ip).is_some_and(|h| h.mac == m)
                    {
                        self.held.remove(&ip);
                    }
                }
                DhcpEventKind::StoreFailed(_) => {
                    let m = m.expect("a failed ACK names its client");
                    assert!(
                        !acked.contains_key(&(m, e.xid)),
                        "DHCPACK sent although its lease is not durable: {e:?}"
                    );
                }
                _ => {}
            }
        }
        assert!(
            acked.is_empty(),
            "DHCPACKs on the wire without an ACK event: {acked:?}"
        );
        self.pending.clear();
    }
}

fn run_dhcp(full: bool, timing: &DhcpTiming, fails: Vec<bool>, drain_each: bool, ops: &[DhcpOp]) {
    let t = timing;
    let store = Box::new(FlakyStore { fails, batches: 0 });
    let mut s = DhcpServer::new(dhcp_config(full, t), store, Instant::ZERO).unwrap();
    let mut w = DhcpWorld::new(full, t);
    let bound = POOL.count() + RESERVED.len();
    for op in ops {
        match op {
            DhcpOp::Send {
                client,
                xid_hi,
                kind,
                pxe,
                ipxe,
                bcast_flag,
                relay,
                mangle,
            } => {
                let m = mac(CLIENTS[*client]);
                let xid = u32::from(*xid_hi) << 16 | (w.seq as u32 & 0xffff);
                let (bytes, src, dst) =
                    w.build(m, xid, kind, *pxe, *ipxe, *bcast_flag, *relay, mangle);
                w.deliver(&mut s, &bytes, src, dst);
            }
            DhcpOp::Garbage(bytes) => {
                let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);
                w.deliver(
                    &mut s,
                    bytes,
                    any,
                    SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
                );
            }
            DhcpOp::Drain => w.drain(&mut s),
            DhcpOp::Advance(ms) => {
                w.now += Duration::from_millis(*ms);
                s.handle_timeout(w.now);
            }
        }
        if drain_each {
            w.drain(&mut s);
        }
        if full {
            assert!(
                s.remembered_clients() <= bound,
                "{} clients remembered, more than the {bound} addresses",
                s.remembered_clients()
            );
        } else {
            assert_eq!(s.remembered_clients(), 0, "a ProxyDHCP keeps no bindings");
        }
    }
    w.drain(&mut s);
    if !full {
        assert_eq!(w.acks, 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    /// Full mode: never two clients holding one address, ACKs only from the pool
    /// or the client's reservation, only once durable, bounded memory.
    #[test]
    fn dhcp_full_never_acknowledges_one_address_to_two_clients(
        timing in dhcp_timing(),
        fails in prop::collection::vec(prop::bool::weighted(0.25), 0..4),
        drain_each in any::<bool>(),
        ops in prop::collection::vec(dhcp_op(), 1..160),
    ) {
        run_dhcp(true, &timing, fails, drain_each, &ops);
    }

    /// Proxy mode: no address ever, no binding ever, valid replies only.
    #[test]
    fn dhcp_proxy_hands_out_no_address_and_keeps_no_state(
        timing in dhcp_timing(),
        drain_each in any::<bool>(),
        ops in prop::collection::vec(dhcp_op(), 1..100),
    ) {
        run_dhcp(false, &timing, Vec::new(), drain_each, &ops);
    }
}

// ----------------------------------------------------------- boot server

#[derive(Debug, Clone)]
enum BootOp {
    Request {
        client: usize,
        xid_hi: u16,
        arch: u16,
        ipxe: bool,
        pxe: bool,
        item: Option<(u16, u16)>,
        /// The request came from 0.0.0.0 (no address yet) rather than the client.
        from_zero: bool,
        port: u16,
        ciaddr: bool,
        mangle: Mangle,
    },
    Garbage(Vec<u8>),
    Advance(u64),
}

fn boot_op() -> impl Strategy<Value = BootOp> {
    let request = (
        (
            0..CLIENTS.len(),
            any::<u16>(),
            prop_oneof![Just(0u16), Just(7), Just(9), any::<u16>()],
        ),
        (prop::bool::weighted(0.1), prop::bool::weighted(0.9)),
        proptest::option::of((
            prop_oneof![Just(0x8000u16), Just(0x8001), any::<u16>()],
            prop_oneof![Just(0u16), any::<u16>()],
        )),
        (
            prop::bool::weighted(0.2),
            prop_oneof![Just(68u16), Just(4011), Just(0), any::<u16>()],
            any::<bool>(),
        ),
        mangle(),
    )
        .prop_map(
            |((client, xid_hi, arch), (ipxe, pxe), item, (from_zero, port, ciaddr), mangle)| {
                BootOp::Request {
                    client,
                    xid_hi,
                    arch,
                    ipxe,
                    pxe,
                    item,
                    from_zero,
                    port,
                    ciaddr,
                    mangle,
                }
            },
        );
    prop_oneof![
        10 => request,
        1 => prop::collection::vec(any::<u8>(), 0..600).prop_map(BootOp::Garbage),
        2 => (0u64..3_000).prop_map(BootOp::Advance),
    ]
}

fn menu() -> BootMenu {
    BootMenu {
        prompt: "Boot?".into(),
        timeout_secs: 5,
        discovery_control: 3,
        items: vec![
            MenuItem {
                item_type: 0x8000,
                description: "Install".into(),
                file: Some("install.0".into()),
            },
            MenuItem {
                item_type: 0x8001,
                description: "Policy".into(),
                file: None,
            },
        ],
    }
}

fn run_boot_server(with_menu: bool, delay_ms: u64, ops: &[BootOp]) {
    let mut b = BootServer::new(BootServerConfig {
        server_addr: SERVER,
        policy: BootPolicy {
            menu: with_menu.then(menu),
            ..BootPolicy::default()
        },
        respond_delay: Duration::from_millis(delay_ms),
        reserved_files: [(mac(1), "reserved.kpxe".to_string())].into(),
        access: ClientAccess {
            deny: vec![mac(6)],
            ..ClientAccess::default()
        },
    });
    let mut now = Instant::from_secs(1);
    // xid → (client MAC, where the reply must go); xids are unique per request.
    let mut asked: HashMap<u32, (Mac, SocketAddrV4)> = HashMap::new();
    let mut answered: HashSet<u32> = HashSet::new();
    let mut acks = 0usize;
    let check = |b: &mut BootServer,
                 asked: &HashMap<u32, (Mac, SocketAddrV4)>,
                 answered: &mut HashSet<u32>| {
        while let Some(t) = b.poll_transmit() {
            let reply = DhcpMessage::parse(&t.payload, ParseMode::Strict)
                .unwrap_or_else(|e| panic!("invalid boot ACK ({e}): {t:?}"));
            let (m, dst) = asked
                .get(&reply.xid)
                .unwrap_or_else(|| panic!("reply with an xid no request had: {reply:?}"));
            assert!(answered.insert(reply.xid), "two replies to one request");
            assert_eq!(reply.op, Op::BootReply);
            assert_eq!(reply.message_type(), Some(MessageType::Ack));
            assert_eq!(reply.client_mac(), Some(*m), "chaddr echoed");
            assert_eq!(reply.yiaddr, Ipv4Addr::UNSPECIFIED);
            assert_eq!(t.src, SocketAddrV4::new(SERVER, 4011));
            assert_eq!(t.dst, *dst, "the reply goes back to the requester");
            if !dst.ip().is_broadcast() {
                assert_eq!(t.l2, L2Dest::Unicast(*m));
            }
        }
        let mut n = 0;
        while let Some(e) = b.poll_event() {
            if matches!(e.kind, DhcpEventKind::BootAck { .. }) {
                n += 1;
            }
        }
        n
    };
    for (seq, op) in ops.iter().enumerate() {
        match op {
            BootOp::Request {
                client,
                xid_hi,
                arch,
                ipxe,
                pxe,
                item,
                from_zero,
                port,
                ciaddr,
                mangle,
            } => {
                let m = mac(CLIENTS[*client]);
                let xid = u32::from(*xid_hi) << 16 | (seq as u32 & 0xffff);
                let mut r = dhcp_support::client_msg(MessageType::Request, m, xid);
                let me = Ipv4Addr::new(192, 168, 50, 100 + *client as u8);
                if *ciaddr {
                    r.ciaddr = me;
                }
                if *pxe {
                    make_pxe(&mut r, *arch);
                }
                if *ipxe {
                    make_ipxe(&mut r);
                }
                if let Some((ty, layer)) = item {
                    let [a, b] = ty.to_be_bytes();
                    let [c, d] = layer.to_be_bytes();
                    r.push_option(code::VENDOR_SPECIFIC, [71, 4, a, b, c, d, 255]);
                }
                let mut bytes = r.emit();
                match mangle {
                    Mangle::None => {}
                    Mangle::Truncate(n) => bytes.truncate(*n),
                    Mangle::Flip(i, x) => {
                        let i = i % bytes.len();
                        if !(4..8).contains(&i) && !(28..34).contains(&i) {
                            bytes[i] ^= x;
                        }
                    }
                }
                let src = if *from_zero {
                    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, *port)
                } else {
                    SocketAddrV4::new(me, *port)
                };
                // Where the reply must go, as the parsed request says.
                if let Ok(p) = DhcpMessage::parse(&bytes, ParseMode::Lax)
                    && let Some(pm) = p.client_mac()
                {
                    let dst = if !src.ip().is_unspecified() {
                        src
                    } else if !p.ciaddr.is_unspecified() {
                        SocketAddrV4::new(p.ciaddr, if *port == 0 { 68 } else { *port })
                    } else {
                        SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)
                    };
                    asked.insert(p.xid, (pm, dst));
                }
                b.handle_datagram(
                    now,
                    Datagram {
                        src,
                        dst: SocketAddrV4::new(SERVER, 4011),
                        src_mac: m,
                        payload: &bytes,
                    },
                );
            }
            BootOp::Garbage(bytes) => {
                if let Ok(p) = DhcpMessage::parse(bytes, ParseMode::Lax)
                    && let Some(pm) = p.client_mac()
                {
                    asked.insert(p.xid, (pm, SocketAddrV4::new(lan(77), 68)));
                }
                b.handle_datagram(
                    now,
                    Datagram {
                        src: SocketAddrV4::new(lan(77), 68),
                        dst: SocketAddrV4::new(SERVER, 4011),
                        src_mac: Mac::ZERO,
                        payload: bytes,
                    },
                );
            }
            BootOp::Advance(ms) => {
                now += Duration::from_millis(*ms);
                b.handle_timeout(now);
            }
        }
        acks += check(&mut b, &asked, &mut answered);
    }
    // Every delayed reply leaves once its delay is over, and only then.
    now += Duration::from_millis(delay_ms);
    b.handle_timeout(now);
    acks += check(&mut b, &asked, &mut answered);
    assert_eq!(b.poll_timeout(), None, "nothing left to send");
    assert_eq!(answered.len(), acks, "one reply per boot ACK event");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    /// Random valid and invalid requests on 4011: never a panic, every reply a
    /// valid ACK to the requester that echoes its xid and chaddr, one per
    /// answered request, none unanswered after the respond delay.
    #[test]
    fn boot_server_answers_only_the_requester(
        with_menu in any::<bool>(),
        delay_ms in prop_oneof![Just(0u64), Just(50), Just(1_000)],
        ops in prop::collection::vec(boot_op(), 1..80),
    ) {
        run_boot_server(with_menu, delay_ms, &ops);
    }
}

// ------------------------------------------------------------------ TFTP

const TFTP_SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 69);
const TFTP_CLIENT: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 2000);
const STRANGER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 2001);
const FILE: &str = "boot/file.bin";

#[derive(Debug, Clone)]
struct TftpSetup {
    config: TftpServerConfig,
    file: Vec<u8>,
    options: Vec<(String, String)>,
}

fn option_pair() -> impl Strategy<Value = (String, String)> {
    let name = prop::sample::select(vec![
        "blksize",
        "BLKSIZE",
        "windowsize",
        "tsize",
        "timeout",
        "TimeOut",
        "multicast",
        "rollover",
    ]);
    let value = prop_oneof![
        prop::sample::select(vec![
            "0",
            "1",
            "2",
            "7",
            "8",
            "16",
            "255",
            "256",
            "512",
            "1468",
            "65464",
            "65465",
            "99999999999999999999999",
            "-1",
            "abc",
            "",
            " 8",
        ])
        .prop_map(str::to_string),
        (1u32..70_000).prop_map(|v| v.to_string()),
    ];
    (name.prop_map(str::to_string), value)
}

fn tftp_setup() -> impl Strategy<Value = TftpSetup> {
    let len = prop_oneof![
        0usize..6_000,
        (0usize..12, 0usize..2).prop_map(|(k, extra)| k * 512 + extra),
    ];
    (
        prop_oneof![Just(8u16), Just(512), Just(1468), Just(65464)],
        1u16..=16,
        1u64..=3,
        0u32..=5,
        prop_oneof![Just(3u64), Just(10), Just(90)],
        len,
        any::<u8>(),
        prop::collection::vec(option_pair(), 0..6),
    )
        .prop_map(
            |(max_blksize, max_windowsize, timeout, max_retries, idle, len, seed, options)| {
                TftpSetup {
                    config: TftpServerConfig {
                        max_blksize,
                        max_windowsize,
                        timeout: Duration::from_secs(timeout),
                        max_retries,
                        idle_timeout: Duration::from_secs(idle),
                        ..TftpServerConfig::default()
                    },
                    file: (0..len)
                        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
                        .collect(),
                    options,
                }
            },
        )
}

fn rrq(options: &[(String, String)]) -> Vec<u8> {
    TftpPacket::Rrq {
        filename: FILE.into(),
        mode: "octet".into(),
        options: options.to_vec(),
    }
    .to_bytes()
}

/// A session for `setup`'s request, and the server it came from (which must
/// outlive the session's slot).
fn open_session(setup: &TftpSetup, now: Instant) -> (TftpServer, TftpSession) {
    let mut server = TftpServer::new(setup.config.clone());
    let root = MemoryRoot::new().with(FILE, setup.file.clone());
    let payload = rrq(&setup.options);
    let accepted = server.accept(
        now,
        Datagram {
            src: TFTP_CLIENT,
            dst: TFTP_SERVER,
            src_mac: mac(2),
            payload: &payload,
        },
        &root,
    );
    match accepted {
        Accept::Session(s) => (server, *s),
        other => panic!("a well-formed RRQ for an existing file opens a session: {other:?}"),
    }
}

/// What the server may do to a client, checked on every transmit.
struct SessionCheck<'a> {
    file: &'a [u8],
    requested: &'a [(String, String)],
    config: &'a TftpServerConfig,
    finished: Option<TransferSummary>,
    highest_data: u16,
}

impl SessionCheck<'_> {
    /// Drains `s`; checks the transmits' shape, number and content. Returns
    /// the packets sent to the client. `strangers`: datagrams from other ports
    /// since the last drain (each may get one ERROR 5).
    fn drain(&mut self, s: &mut TftpSession, strangers: usize) -> Vec<TftpPacket> {
        let neg = s.negotiated();
        // Without a blksize option the block is RFC 1350's 512, whatever the cap.
        assert!(neg.blksize >= 8 && neg.blksize <= self.config.max_blksize.max(512));
        assert!(neg.windowsize >= 1 && neg.windowsize <= self.config.max_windowsize.max(1));
        let mut to_client = Vec::new();
        let (mut data, mut control, mut other) = (0usize, 0usize, 0usize);
        while let Some(t) = s.poll_transmit() {
            let p = TftpPacket::parse(&t.payload)
                .unwrap_or_else(|e| panic!("the session sent an invalid packet ({e}): {t:?}"));
            assert_eq!(t.src, SocketAddrV4::new(*TFTP_SERVER.ip(), 0));
            if t.dst == STRANGER {
                assert!(
                    matches!(
                        p,
                        TftpPacket::Error {
                            code: ErrorCode::UnknownTid,
                            ..
                        }
                    ),
                    "a stranger only ever gets ERROR 5: {p:?}"
                );
                control += 1;
                continue;
            }
            assert_eq!(
                t.dst, TFTP_CLIENT,
                "transmits go to the client or a stranger"
            );
            match &p {
                TftpPacket::Data { block, data: bytes } => {
                    data += 1;
                    let bs = usize::from(neg.blksize);
                    let b = usize::from(*block);
                    assert!(b >= 1, "DATA 0 sent");
                    let start = (b - 1) * bs;
                    assert!(start <= self.file.len(), "DATA {b} is past the end");
                    let end = self.file.len().min(start + bs);
                    assert!(
                        bytes[..] == self.file[start..end],
                        "DATA {b} is not the file's"
                    );
                    self.highest_data = self.highest_data.max(*block);
                }
                TftpPacket::Oack { options } => {
                    other += 1;
                    for (name, _) in options {
                        assert!(
                            self.requested.iter().any(|(r, _)| r == name),
                            "OACK holds {name}, which the client did not ask for"
                        );
                    }
                }
                TftpPacket::Error { .. } => other += 1,
                p => panic!("a server session sent {p:?}"),
            }
            to_client.push(p);
        }
        assert!(
            data <= usize::from(neg.windowsize),
            "{data} DATA queued at once, window {}",
            neg.windowsize
        );
        assert!(other <= 1, "{other} OACK/ERROR queued at once");
        assert!(
            control <= strangers,
            "{control} ERROR 5 for {strangers} strangers"
        );
        while let Some(TftpEvent::Finished(sum)) = s.poll_event() {
            assert!(self.finished.is_none(), "a session finishes once");
            assert!(sum.bytes_sent <= self.file.len() as u64);
            self.finished = Some(sum);
        }
        if self.finished.is_some() {
            assert!(
                s.is_finished(),
                "finished and drained, yet not is_finished()"
            );
            assert_eq!(
                s.poll_timeout(),
                None,
                "a finished session wants no wake-up"
            );
        }
        to_client
    }
}

#[derive(Debug, Clone)]
enum AckOf {
    /// The highest block sent so far (a whole window acknowledged).
    Highest,
    /// `k` blocks after the last ACK (within or beyond the window).
    After(u16),
    /// `k` blocks before the last ACK.
    Stale(u16),
    /// The last ACK again.
    Duplicate,
    Raw(u16),
}

#[derive(Debug, Clone)]
enum TftpOp {
    Ack(AckOf),
    Error(u16),
    Junk(Vec<u8>),
    /// A DATA or OACK from the client: nonsense for a read transfer.
    Stray(Vec<u8>),
    /// An ACK or junk from another port.
    Stranger(Vec<u8>),
    Advance(u64),
    Drain,
}

fn tftp_op() -> impl Strategy<Value = TftpOp> {
    let ack = prop_oneof![
        6 => Just(AckOf::Highest),
        3 => (0u16..20).prop_map(AckOf::After),
        2 => (0u16..20).prop_map(AckOf::Stale),
        2 => Just(AckOf::Duplicate),
        1 => any::<u16>().prop_map(AckOf::Raw),
    ];
    prop_oneof![
        20 => ack.prop_map(TftpOp::Ack),
        1 => prop_oneof![Just(0u16), Just(8), any::<u16>()].prop_map(TftpOp::Error),
        2 => prop::collection::vec(any::<u8>(), 0..40).prop_map(TftpOp::Junk),
        1 => prop_oneof![
            Just(TftpPacket::Data { block: 1, data: vec![1, 2, 3] }.to_bytes()),
            Just(TftpPacket::Oack { options: vec![] }.to_bytes()),
            Just(rrq(&[])),
        ].prop_map(TftpOp::Stray),
        2 => prop_oneof![
            any::<u16>().prop_map(|b| TftpPacket::Ack { block: b }.to_bytes()),
            Just(TftpPacket::Error { code: ErrorCode::UnknownTid, message: "x".into() }.to_bytes()),
            prop::collection::vec(any::<u8>(), 0..20),
        ].prop_map(TftpOp::Stranger),
        4 => prop_oneof![0u64..500, 0u64..5_000, Just(200_000)].prop_map(TftpOp::Advance),
        2 => Just(TftpOp::Drain),
    ]
}

fn from(src: SocketAddrV4, payload: &[u8]) -> Datagram<'_> {
    Datagram {
        src,
        dst: SocketAddrV4::new(*TFTP_SERVER.ip(), 40_000),
        src_mac: mac(2),
        payload,
    }
}

/// A hostile or confused client, then silence: the session never panics,
/// sends only the file's bytes in windows of at most `windowsize`, and ends
/// within its retry bound once the client is gone.
fn run_hostile_session(setup: &TftpSetup, drain_each: bool, ops: &[TftpOp]) {
    let mut now = Instant::from_secs(3);
    let (server, mut s) = open_session(setup, now);
    let mut check = SessionCheck {
        file: &setup.file,
        requested: &setup.options,
        config: &setup.config,
        finished: None,
        highest_data: 0,
    };
    let mut strangers = 0;
    let mut last_ack: u16 = 0;
    check.drain(&mut s, 0);
    for op in ops {
        match op {
            TftpOp::Ack(of) => {
                let block = match of {
                    AckOf::Highest => check.highest_data,
                    AckOf::After(k) => last_ack.wrapping_add(1).wrapping_add(*k),
                    AckOf::Stale(k) => last_ack.wrapping_sub(1).wrapping_sub(*k),
                    AckOf::Duplicate => last_ack,
                    AckOf::Raw(b) => *b,
                };
                last_ack = block;
                let p = TftpPacket::Ack { block }.to_bytes();
                s.handle_datagram(now, from(TFTP_CLIENT, &p));
            }
            TftpOp::Error(c) => {
                let p = [0, 5, (c >> 8) as u8, *c as u8, b'x', 0];
                s.handle_datagram(now, from(TFTP_CLIENT, &p));
            }
            TftpOp::Junk(p) | TftpOp::Stray(p) => s.handle_datagram(now, from(TFTP_CLIENT, p)),
            TftpOp::Stranger(p) => {
                s.handle_datagram(now, from(STRANGER, p));
                strangers += 1;
            }
            TftpOp::Advance(ms) => {
                now += Duration::from_millis(*ms);
                s.handle_timeout(now);
            }
            TftpOp::Drain => {}
        }
        if drain_each || matches!(op, TftpOp::Drain) {
            check.drain(&mut s, strangers);
            strangers = 0;
        }
    }
    check.drain(&mut s, strangers);
    // The client vanishes. Driven as a driver does (handle_timeout at each
    // poll_timeout), the session must end within the bound of its own
    // retransmission policy: at most max_retries + 1 timeouts, at most
    // idle_timeout, from the last thing that happened.
    let vanished = now;
    let neg = s.negotiated();
    let retries = setup.config.max_retries + 1;
    let bound = (neg.timeout * retries).min(setup.config.idle_timeout);
    for _ in 0..=retries + 1 {
        let Some(wake) = s.poll_timeout() else { break };
        now = now.max(wake);
        s.handle_timeout(now);
        check.drain(&mut s, 0);
    }
    assert!(
        s.is_finished(),
        "the session still runs {:?} after its client vanished (bound {bound:?})",
        now - vanished
    );
    assert!(
        now - vanished <= bound,
        "the session ended {:?} after its client vanished, bound {bound:?}",
        now - vanished
    );
    let summary = check.finished.expect("a finished session reports once");
    assert_eq!(summary.client, TFTP_CLIENT);
    assert_eq!(
        server.active_sessions(),
        0,
        "a finished session frees its slot"
    );
}

/// A correct RFC 7440 receiver over a channel that loses some of the
/// server's packets: whenever the transfer completes, the client holds exactly
/// the file, and with no loss it always completes.
fn run_correct_client(setup: &TftpSetup, loss: &[bool], dup_acks: bool) {
    let mut now = Instant::from_secs(3);
    let (server, mut s) = open_session(setup, now);
    let mut check = SessionCheck {
        file: &setup.file,
        requested: &setup.options,
        config: &setup.config,
        finished: None,
        highest_data: 0,
    };
    let mut lost = 0usize;
    let mut sent_by_server = 0usize;
    let (mut blksize, mut window) = (512usize, 1u16);
    let mut got = Vec::new();
    let mut next: u16 = 1;
    let mut since_ack = 0u16;
    let mut done = false;
    let mut gap_acked = false;
    for _ in 0..50_000 {
        let packets = check.drain(&mut s, 0);
        if check.finished.is_some() {
            break;
        }
        let mut acks: Vec<u16> = Vec::new();
        let mut heard = false;
        for p in packets {
            let drop = !loss.is_empty() && loss[sent_by_server % loss.len()];
            sent_by_server += 1;
            if drop {
                lost += 1;
                continue;
            }
            heard = true;
            match p {
                TftpPacket::Oack { options } if next == 1 => {
                    for (name, value) in &options {
                        match name.to_ascii_lowercase().as_str() {
                            "blksize" => blksize = value.parse().unwrap(),
                            "windowsize" => window = value.parse().unwrap(),
                            "tsize" => assert_eq!(value, &setup.file.len().to_string()),
                            _ => {}
                        }
                    }
                    acks.push(0);
                }
                TftpPacket::Data { block, data } => {
                    if block == next && !done {
                        got.extend_from_slice(&data);
                        next = next.wrapping_add(1);
                        since_ack += 1;
                        gap_acked = false;
                        if data.len() < blksize {
                            done = true;
                            acks.push(block);
                        } else if since_ack >= window {
                            since_ack = 0;
                            acks.push(block);
                        }
                    } else if done && block == next.wrapping_sub(1) {
                        // Our last ACK was lost: say it again.
                        acks.push(block);
                    } else if !gap_acked {
                        // Out of order: acknowledge what we have (RFC 7440).
                        gap_acked = true;
                        since_ack = 0;
                        acks.push(next.wrapping_sub(1));
                    }
                }
                TftpPacket::Error { .. } => panic!("the server gave up on a correct client"),
                _ => {}
            }
        }
        for block in acks {
            let p = TftpPacket::Ack { block }.to_bytes();
            s.handle_datagram(now, from(TFTP_CLIENT, &p));
            if dup_acks {
                s.handle_datagram(now, from(TFTP_CLIENT, &p));
            }
        }
        if !heard {
            // Nothing arrived: wait for the server's retransmission.
            let wake = s
                .poll_timeout()
                .expect("an unfinished session always has a wake-up");
            now = now.max(wake);
            since_ack = 0;
            s.handle_timeout(now);
        }
    }
    let summary = check.finished.as_ref().expect("the transfer ends");
    match &summary.outcome {
        TftpOutcome::Completed => {
            assert!(
                done,
                "the server completed before the client had the last block"
            );
            assert!(
                got == setup.file,
                "the client holds other bytes than the file"
            );
            assert_eq!(summary.bytes_sent, setup.file.len() as u64);
        }
        TftpOutcome::TimedOut => assert!(lost > 0, "a lossless transfer timed out"),
        other => panic!("a correct client's transfer ended with {other:?}"),
    }
    assert_eq!(server.active_sessions(), 0);
}

/// Heap bytes the session holds after `packets` beyond what it held after the
/// first few: must not grow with the number of packets.
fn session_heap_growth(setup: &TftpSetup, packets: &[(bool, Vec<u8>)]) -> isize {
    let mut now = Instant::from_secs(3);
    let (_server, mut s) = open_session(setup, now);
    let feed = |s: &mut TftpSession, now: Instant, (stranger, p): &(bool, Vec<u8>)| {
        let src = if *stranger { STRANGER } else { TFTP_CLIENT };
        s.handle_datagram(now, from(src, p));
        while s.poll_transmit().is_some() {}
        while s.poll_event().is_some() {}
    };
    let warm = packets.len().min(16);
    for p in &packets[..warm] {
        feed(&mut s, now, p);
    }
    let before = live_bytes();
    for (i, p) in packets[warm..].iter().enumerate() {
        feed(&mut s, now, p);
        if i % 64 == 63 {
            now += Duration::from_millis(300);
            s.handle_timeout(now);
            while s.poll_transmit().is_some() {}
            while s.poll_event().is_some() {}
        }
    }
    live_bytes() - before
}

fn heap_packet() -> impl Strategy<Value = (bool, Vec<u8>)> {
    (
        prop::bool::weighted(0.2),
        prop_oneof![
            4 => any::<u16>().prop_map(|b| TftpPacket::Ack { block: b }.to_bytes()),
            4 => (0u16..8).prop_map(|b| TftpPacket::Ack { block: b }.to_bytes()),
            1 => prop::collection::vec(any::<u8>(), 0..64),
            1 => Just(TftpPacket::Data { block: 1, data: vec![0; 600] }.to_bytes()),
        ],
    )
}

/// The TFTP endpoint on port 69 with random requests from a few clients:
/// never more sessions than allowed, refusals go back to the sender, and every
/// slot is freed when its session ends.
fn run_endpoint(requests: &[(u8, Vec<u8>)], finish_by_error: &[bool]) {
    let config = TftpServerConfig {
        max_sessions: 3,
        ..TftpServerConfig::default()
    };
    let mut server = TftpServer::new(config);
    let root = MemoryRoot::new()
        .with(FILE, vec![5u8; 3000])
        .with("empty", Vec::<u8>::new());
    let mut sessions: Vec<TftpSession> = Vec::new();
    let now = Instant::from_secs(1);
    for (i, (port, payload)) in requests.iter().enumerate() {
        let src = SocketAddrV4::new(*TFTP_CLIENT.ip(), 3000 + u16::from(*port));
        let live_before = server.active_sessions();
        let had_session = sessions
            .iter()
            .any(|s| s.client() == src && !s.is_finished());
        match server.accept(now, from(src, payload), &root) {
            Accept::Session(s) => {
                assert!(live_before < 3, "a fourth session was opened");
                assert!(!had_session, "two live sessions for one client port");
                assert_eq!(s.client(), src);
                sessions.push(*s);
            }
            Accept::Reply(t) => {
                assert_eq!(t.dst, src, "a refusal goes back to its sender");
                assert_eq!(t.src.port(), 0, "from a fresh port");
                assert!(matches!(
                    TftpPacket::parse(&t.payload),
                    Ok(TftpPacket::Error { .. })
                ));
            }
            Accept::Ignore => {}
        }
        assert!(server.active_sessions() <= 3);
        // Now and then the oldest client aborts its transfer.
        if finish_by_error.get(i).copied().unwrap_or(false)
            && let Some(s) = sessions.iter_mut().find(|s| !s.is_finished())
        {
            let abort = TftpPacket::Error {
                code: ErrorCode::NotDefined,
                message: "bye".into(),
            }
            .to_bytes();
            let client = s.client();
            s.handle_datagram(now, from(client, &abort));
            while s.poll_transmit().is_some() {}
            assert!(s.is_finished());
        }
        let live = sessions.iter().filter(|s| !s.is_finished()).count();
        assert_eq!(server.active_sessions(), live, "slots match live sessions");
    }
    drop(sessions);
    assert_eq!(server.active_sessions(), 0);
}

fn endpoint_request() -> impl Strategy<Value = (u8, Vec<u8>)> {
    let payload = prop_oneof![
        6 => prop::collection::vec(option_pair(), 0..4).prop_map(|o| rrq(&o)),
        1 => Just(TftpPacket::Rrq { filename: "empty".into(), mode: "octet".into(), options: vec![] }.to_bytes()),
        1 => Just(TftpPacket::Rrq { filename: "missing".into(), mode: "octet".into(), options: vec![] }.to_bytes()),
        1 => Just(TftpPacket::Rrq { filename: "../etc/passwd".into(), mode: "octet".into(), options: vec![] }.to_bytes()),
        1 => Just(TftpPacket::Rrq { filename: FILE.into(), mode: "netascii".into(), options: vec![] }.to_bytes()),
        1 => Just(TftpPacket::Wrq { filename: FILE.into(), mode: "octet".into(), options: vec![] }.to_bytes()),
        1 => any::<u16>().prop_map(|b| TftpPacket::Ack { block: b }.to_bytes()),
        2 => prop::collection::vec(any::<u8>(), 0..64),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|mut v| { v.splice(0..0, [0, 1]); v }),
    ];
    (0u8..6, payload)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn tftp_session_survives_any_client_and_ends_within_its_retry_bound(
        setup in tftp_setup(),
        drain_each in any::<bool>(),
        ops in prop::collection::vec(tftp_op(), 0..120),
    ) {
        run_hostile_session(&setup, drain_each, &ops);
    }

    #[test]
    fn tftp_correct_client_receives_exactly_the_file(
        setup in tftp_setup(),
        loss in prop_oneof![
            2 => Just(Vec::new()),
            1 => prop::collection::vec(prop::bool::weighted(0.2), 1..12),
        ],
        dup_acks in prop::bool::weighted(0.2),
    ) {
        run_correct_client(&setup, &loss, dup_acks);
    }

    #[test]
    fn tftp_endpoint_bounds_sessions_and_frees_every_slot(
        requests in prop::collection::vec(endpoint_request(), 1..60),
        finish_by_error in prop::collection::vec(prop::bool::weighted(0.2), 0..60),
    ) {
        run_endpoint(&requests, &finish_by_error);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Stale, duplicate and future ACKs, junk and strangers: the session's heap
    /// does not grow with the number of packets it is fed.
    #[test]
    fn tftp_session_memory_does_not_grow_with_packets(
        setup in tftp_setup(),
        packets in prop::collection::vec(heap_packet(), 16..1_500),
    ) {
        let growth = session_heap_growth(&setup, &packets);
        prop_assert!(
            growth <= 2048,
            "the session's heap grew by {growth} bytes over {} packets",
            packets.len()
        );
    }
}

/// Found while writing these properties: a batch whose commit failed put the
/// ACKed client's binding back, but a client offered the same address later in
/// that batch (after a RELEASE) kept remembering it, one stale entry per failed
/// batch, so a MAC flood during store failures grew the server without bound.
#[test]
fn failed_commits_do_not_leave_stale_clients_behind() {
    let timing = DhcpTiming {
        lease_secs: 30,
        offer_hold_secs: 2,
        decline_hold_secs: 3,
    };
    let store = Box::new(FlakyStore {
        fails: vec![true],
        batches: 0,
    });
    let mut s = DhcpServer::new(dhcp_config(true, &timing), store, Instant::ZERO).unwrap();
    let bound = POOL.count() + RESERVED.len();
    let send = |s: &mut DhcpServer, now: Instant, msg: &DhcpMessage| {
        let bytes = msg.emit();
        s.handle_datagram(now, dhcp_support::bcast(&bytes, msg.client_mac().unwrap()));
    };
    let mut now = Instant::from_secs(1);
    for round in 0..20u8 {
        let (a, b) = (Mac([2, 0, 0, 0, round, 1]), Mac([2, 0, 0, 0, round, 2]));
        let ip = lan(100);
        let mut d = dhcp_support::discover(a, 1);
        d.push_option(code::REQUESTED_IP, ip.octets());
        send(&mut s, now, &d);
        send(&mut s, now, &dhcp_support::select(a, 1, SERVER, ip));
        let mut release = dhcp_support::client_msg(MessageType::Release, a, 2);
        release.ciaddr = ip;
        send(&mut s, now, &release);
        let mut d = dhcp_support::discover(b, 3);
        d.push_option(code::REQUESTED_IP, ip.octets());
        send(&mut s, now, &d);
        while s.poll_transmit().is_some() {}
        while s.poll_event().is_some() {}
        assert!(
            s.remembered_clients() <= bound,
            "round {round}: {} clients remembered, more than the {bound} addresses",
            s.remembered_clients()
        );
        now += Duration::from_secs(5);
    }
}
