//! Simulated L2 segments: the wire between the machines.
//!
//! Machines hand the network [`Transmit`]s; the network decides who receives
//! them and when, the way an Ethernet segment with IPv4 hosts would:
//!
//! - **Addressing.** An L2 broadcast (or a datagram to 255.255.255.255)
//!   reaches every other port of the segment that listens on the destination
//!   UDP port; a unicast reaches the port owning the MAC. A unicast to
//!   [`Mac::ZERO`] means "resolve the IP", which costs an ARP request and reply
//!   (real frames, in the pcap) before the datagram leaves — the delay a PXE
//!   client pays before its first 4011 or TFTP packet.
//! - **Timing.** Each port's egress sends one frame at a time at the link's
//!   bandwidth; a frame arrives after both ends' latency plus jitter.
//! - **Faults.** Loss per link, a port held after link-up (spanning tree, the
//!   classic cause of PXE-E51 on managed switches), a port down.
//!
//! Everything is deterministic: randomness comes from the one rng handed to
//! [`Network::new`], ports are visited in [`PortId`] order, and no `HashMap`
//! is ever iterated (maps are used for lookups only).

pub(crate) mod pcap;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use std::time::Duration;

use pxelab_reference::wire::dhcp::CLIENT_PORT;
use pxelab_reference::{Instant, L2Dest, Mac, Transmit};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::engine::{LookupMap, Queue};

/// ARP tries before a destination is declared unreachable: legacy PXE ROMs
/// send four ARP requests one second apart before PXE-E11 ("ARP timeout").
pub const ARP_TRIES: u32 = 4;
/// Time between ARP tries.
pub const ARP_RETRY: Duration = Duration::from_secs(1);

/// Ethernet II header.
const ETH_HEADER: u64 = 14;
/// IPv4 header without options.
const IP_HEADER: u64 = 20;
/// UDP header.
const UDP_HEADER: u64 = 8;
/// An ARP packet for Ethernet/IPv4.
const ARP_LEN: u64 = 28;
/// Ethernet MTU: the largest IPv4 packet in one frame.
const MTU: u64 = 1500;

/// The properties of one port's link to the segment.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkParams {
    /// One-way delay of this end (wire, switch, stack).
    pub latency: Duration,
    /// Extra delay drawn uniformly in `[0, jitter]` per frame (both ends' sum).
    pub jitter: Duration,
    /// Probability that a frame through this end is lost, `0.0..=1.0`.
    pub loss: f64,
    /// Egress speed in bits per second: frames leave one after another.
    pub bandwidth_bps: u64,
    /// Spanning tree: after link-up the switch port forwards nothing for this
    /// long (listening/learning; 30 s with classic STP, 50 s worst case).
    pub link_up_delay: Duration,
}

impl Default for LinkParams {
    /// A quiet gigabit LAN port with PortFast: 100 µs, no jitter, no loss.
    fn default() -> Self {
        LinkParams {
            latency: Duration::from_micros(100),
            jitter: Duration::ZERO,
            loss: 0.0,
            bandwidth_bps: 1_000_000_000,
            link_up_delay: Duration::ZERO,
        }
    }
}

/// A machine's attachment to a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(pub u32);

/// One L2 broadcast domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentId(pub u32);

/// Where the network puts the work it schedules (the world's event queue).
pub trait Schedule {
    /// Asks for `ev` to be handed back to [`Network::handle`] at `at`.
    fn schedule(&mut self, at: Instant, ev: NetEvent);
}

impl Schedule for Queue<NetEvent> {
    fn schedule(&mut self, at: Instant, ev: NetEvent) {
        self.push(at, ev);
    }
}

/// A datagram's UDP payload on its way: the machine's own buffer, moved, when
/// one port receives it (unicast, and the BOOTP reply shortcut), or one copy
/// shared by every receiver of a broadcast.
///
/// Why not always shared: turning each `Vec` into an `Rc<[u8]>` allocated and
/// copied every frame once more, and nearly every frame of a boot storm is a
/// unicast TFTP block with a single receiver.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload(Bytes);

#[derive(Clone, PartialEq, Eq)]
enum Bytes {
    Owned(Vec<u8>),
    Shared(Rc<[u8]>),
}

impl Payload {
    /// One copy that every receiver of a broadcast can hold.
    fn share(self) -> Payload {
        match self.0 {
            Bytes::Owned(v) => Payload(Bytes::Shared(v.into())),
            shared @ Bytes::Shared(_) => Payload(shared),
        }
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Payload(Bytes::Owned(v))
    }
}

impl std::ops::Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Bytes::Owned(v) => v,
            Bytes::Shared(r) => r,
        }
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({} bytes)", self.len())
    }
}

/// Something the network scheduled: a frame reaching a port, an ARP retry.
/// Opaque: hand it back to [`Network::handle`] when it is due.
#[derive(Debug, Clone)]
pub struct NetEvent(Ev);

#[derive(Debug, Clone)]
enum Ev {
    /// A UDP datagram's frame reaches `to`.
    Deliver {
        to: PortId,
        from: PortId,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        payload: Payload,
    },
    /// `from`'s ARP request for `ip` reaches `to`, the owner of `ip`.
    ArpRequest {
        to: PortId,
        from: PortId,
        sender_ip: Ipv4Addr,
        ip: Ipv4Addr,
    },
    /// `from`'s ARP reply (it owns `ip`) reaches `to`.
    ArpReply {
        to: PortId,
        from: PortId,
        ip: Ipv4Addr,
    },
    /// One second after an ARP try of `port` for `ip` (attempt `id`).
    ArpTimer { port: PortId, ip: Ipv4Addr, id: u64 },
}

/// What a machine must see of an event that came due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// A UDP datagram reached a machine. `src_mac` is the sending port's MAC.
    Datagram {
        /// The receiving port.
        to: PortId,
        /// Source address as on the wire.
        src: SocketAddrV4,
        /// Destination address as on the wire (255.255.255.255 for a broadcast).
        dst: SocketAddrV4,
        /// The sending port's MAC.
        src_mac: Mac,
        /// The UDP payload (shared between the receivers of a broadcast).
        payload: Payload,
    },
    /// ARP for `ip` got no answer after the retries (1 s apart, 4 tries, as
    /// legacy ROMs do before PXE-E11); the datagrams waiting for it were dropped.
    Unreachable {
        /// The port that asked.
        port: PortId,
        /// The address nobody answered for.
        ip: Ipv4Addr,
    },
}

/// Counters over the whole run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct NetStats {
    /// Ethernet frames sent (an IPv4 fragment is a frame; ARP frames count).
    pub frames: u64,
    /// Bytes of those frames (Ethernet header onwards, no preamble or FCS).
    pub bytes: u64,
    /// Frame receptions lost to link loss (a broadcast lost at two receivers counts twice).
    pub lost: u64,
    /// Frame receptions dropped because the sending or receiving port was
    /// held by spanning tree or down.
    pub blocked: u64,
    /// ARP request frames sent (retries included).
    pub arp_requests: u64,
    /// Addresses that ARP gave up on ([`Arrival::Unreachable`]).
    pub arp_failures: u64,
}

/// A port, laid out so that what every frame reads (egress, hold, link
/// figures, the flow memory) sits in its first cache line: in a storm of
/// 100,000 clients each frame meets a port that is not in cache.
#[derive(Debug)]
#[repr(C)]
struct Port {
    /// The egress is busy sending earlier frames until then.
    busy_until: Instant,
    /// Spanning tree: nothing passes before this instant.
    forwarding_from: Instant,
    /// `link.latency` in nanoseconds.
    latency_ns: u64,
    /// `link.jitter` in nanoseconds.
    jitter_ns: u64,
    /// `link.loss` within `0.0..=1.0`.
    loss: f64,
    /// `link.bandwidth_bps`, at least 1.
    bandwidth_bps: u64,
    seg: SegmentId,
    mac: Mac,
    down: bool,
    /// The last arrival scheduled on the flows this port keeps (see [`Flows`]).
    flows: Flows,
    static_ip: Option<Ipv4Addr>,
    /// The address the port answers ARP for: static, else leased.
    ip: Option<Ipv4Addr>,
    link: LinkParams,
    /// UDP ports the machine listens on (few: a short sorted list).
    listening: Vec<u16>,
}

impl Port {
    fn blocked(&self, now: Instant) -> bool {
        self.down || now < self.forwarding_from
    }
}

/// With jitter, the last arrival scheduled per (sender, receiver), so that
/// jitter never reorders one flow (a switched path is FIFO; a TFTP window
/// arriving out of order would be an artefact of the model).
///
/// A flow is kept by the higher-numbered of its two ports, keyed by the other
/// port and the direction: clients are attached after the servers they talk
/// to, so a client keeps its two flows with its server inline, where the
/// frame's journey already reads its port, and no port keeps more than it has
/// lower-numbered peers.
#[derive(Debug, Default)]
struct Flows {
    inline: [Option<(FlowKey, Instant)>; 2],
    more: Vec<(FlowKey, Instant)>,
}

/// The other port of a flow, and whether the keeping port sends on it.
type FlowKey = (PortId, bool);

impl Flows {
    fn last(&mut self, key: FlowKey) -> &mut Instant {
        let i = self.inline.iter().position(|e| match e {
            Some((k, _)) => *k == key,
            None => true,
        });
        if let Some(i) = i {
            let e = self.inline[i].get_or_insert((key, Instant::ZERO));
            return &mut e.1;
        }
        let j = match self.more.iter().position(|(k, _)| *k == key) {
            Some(j) => j,
            None => {
                self.more.push((key, Instant::ZERO));
                self.more.len() - 1
            }
        };
        &mut self.more[j].1
    }
}

#[derive(Debug)]
struct Segment {
    name: String,
    /// Per UDP port, the ports listening on it, in PortId order.
    listeners: LookupMap<u16, BTreeSet<PortId>>,
}

/// Datagrams waiting for an ARP answer.
#[derive(Debug)]
struct PendingArp {
    id: u64,
    tries: u32,
    queued: Vec<(SocketAddrV4, SocketAddrV4, Payload)>,
}

/// Who a frame goes to, once the L2 destination is known.
#[derive(Clone, Copy)]
enum Target {
    /// Every listener of the segment (or the chaddr port only, see
    /// [`bootp_reply_target`]).
    Broadcast,
    /// The port with this MAC (if any).
    Mac(Mac),
}

/// The simulated segments and the ports on them.
pub struct Network {
    rng: ChaCha8Rng,
    ports: Vec<Port>,
    segments: Vec<Segment>,
    /// Lookups only (never iterated): the port of a MAC / of an IP on a segment.
    by_mac: LookupMap<(SegmentId, Mac), PortId>,
    by_ip: LookupMap<(SegmentId, Ipv4Addr), PortId>,
    /// Each port's ARP cache.
    arp_cache: LookupMap<(PortId, Ipv4Addr), Mac>,
    arp_pending: LookupMap<(PortId, Ipv4Addr), PendingArp>,
    next_arp_id: u64,
    stats: NetStats,
    pcap: Option<pcap::PcapSink>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("ports", &self.ports.len())
            .field("segments", &self.segments.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Nanoseconds as a `Duration`-compatible count, saturating.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Bytes on the wire for a UDP datagram of `payload` bytes, fragmented at the
/// Ethernet MTU like the IP layer would: `(frames, bytes)`.
fn udp_wire_size(payload: usize) -> (u64, u64) {
    let ip_payload = UDP_HEADER + payload as u64;
    let per_frame = (MTU - IP_HEADER) / 8 * 8;
    let frames = ip_payload.div_ceil(per_frame).max(1);
    (frames, frames * (ETH_HEADER + IP_HEADER) + ip_payload)
}

impl Network {
    /// An empty network drawing all its randomness (loss, jitter) from `rng`.
    pub fn new(rng: ChaCha8Rng) -> Self {
        Network {
            rng,
            ports: Vec::new(),
            segments: Vec::new(),
            by_mac: LookupMap::default(),
            by_ip: LookupMap::default(),
            arp_cache: LookupMap::default(),
            arp_pending: LookupMap::default(),
            next_arp_id: 0,
            stats: NetStats::default(),
            pcap: None,
        }
    }

    /// A new, empty broadcast domain.
    pub fn add_segment(&mut self, name: &str) -> SegmentId {
        let id = SegmentId(u32::try_from(self.segments.len()).unwrap_or(u32::MAX));
        self.segments.push(Segment {
            name: name.to_string(),
            listeners: LookupMap::default(),
        });
        id
    }

    /// Attaches a machine with `mac` to `seg`.
    ///
    /// `ip`: a static address (servers). The port answers ARP for it, and a
    /// Transmit from this port with src IP 0.0.0.0 gets it filled in. Client
    /// ports pass None and use [`Self::set_ip`] after a lease. A second port
    /// with the same MAC on a segment takes unicasts to that MAC from the first.
    ///
    /// # Panics
    /// When `seg` was not returned by [`Self::add_segment`] (a bug in the caller).
    pub fn attach(
        &mut self,
        seg: SegmentId,
        mac: Mac,
        ip: Option<Ipv4Addr>,
        link: LinkParams,
    ) -> PortId {
        assert!(
            (seg.0 as usize) < self.segments.len(),
            "unknown segment {seg:?}"
        );
        let id = PortId(u32::try_from(self.ports.len()).unwrap_or(u32::MAX));
        self.ports.push(Port {
            busy_until: Instant::ZERO,
            forwarding_from: Instant::ZERO,
            latency_ns: nanos(link.latency),
            jitter_ns: nanos(link.jitter),
            loss: link.loss.clamp(0.0, 1.0),
            bandwidth_bps: link.bandwidth_bps.max(1),
            seg,
            mac,
            down: false,
            flows: Flows::default(),
            static_ip: ip,
            ip: None,
            link,
            listening: Vec::new(),
        });
        self.by_mac.insert((seg, mac), id);
        self.set_ip(id, ip);
        id
    }

    fn port(&self, p: PortId) -> &Port {
        &self.ports[p.0 as usize]
    }

    fn port_mut(&mut self, p: PortId) -> &mut Port {
        &mut self.ports[p.0 as usize]
    }

    /// The address `port` answers ARP for: a lease (or `None` when it ends).
    /// A port with a static address keeps answering for it when the lease is `None`.
    pub fn set_ip(&mut self, port: PortId, ip: Option<Ipv4Addr>) {
        let (seg, old, static_ip) = {
            let p = self.port(port);
            (p.seg, p.ip, p.static_ip)
        };
        if let Some(old) = old
            && self.by_ip.get(&(seg, old)) == Some(&port)
        {
            self.by_ip.remove(&(seg, old));
        }
        let new = ip.or(static_ip);
        self.port_mut(port).ip = new;
        if let Some(new) = new {
            self.by_ip.insert((seg, new), port);
        }
    }

    /// The machine behind `port` now receives broadcasts to `udp_port`.
    pub fn listen(&mut self, port: PortId, udp_port: u16) {
        let p = self.port_mut(port);
        if let Err(i) = p.listening.binary_search(&udp_port) {
            p.listening.insert(i, udp_port);
        }
        let seg = p.seg;
        self.segments[seg.0 as usize]
            .listeners
            .entry(udp_port)
            .or_default()
            .insert(port);
    }

    /// The machine behind `port` no longer receives broadcasts to `udp_port`.
    pub fn unlisten(&mut self, port: PortId, udp_port: u16) {
        let p = self.port_mut(port);
        if let Ok(i) = p.listening.binary_search(&udp_port) {
            p.listening.remove(i);
        }
        let seg = p.seg;
        if let Some(set) = self.segments[seg.0 as usize].listeners.get_mut(&udp_port) {
            set.remove(&port);
        }
    }

    /// Link came up (power-on, or a NIC re-init such as iPXE starting): the
    /// port forwards nothing, in or out, until now + link_up_delay. Frames
    /// meeting a blocked port are dropped and counted.
    pub fn link_up(&mut self, port: PortId, now: Instant) {
        let p = self.port_mut(port);
        p.forwarding_from = now + p.link.link_up_delay;
    }

    /// Fault: the host is off or its cable is out. Nothing passes in or out.
    pub fn set_down(&mut self, port: PortId, down: bool) {
        self.port_mut(port).down = down;
    }

    /// The link parameters of `p` (what the bulk-transfer model and the
    /// agents' TCP streams take their speed, delay and loss from).
    pub fn port_link(&self, p: PortId) -> &LinkParams {
        &self.port(p).link
    }

    /// Whether `p` passes nothing at `now` (down, or held by spanning tree).
    pub fn port_blocked(&self, p: PortId, now: Instant) -> bool {
        self.port(p).blocked(now)
    }

    /// Whether `p` and `q` are on the same segment.
    pub fn same_segment(&self, p: PortId, q: PortId) -> bool {
        self.port(p).seg == self.port(q).seg
    }

    /// Counters so far.
    pub fn stats(&self) -> &NetStats {
        &self.stats
    }

    /// The MAC of `p`.
    pub fn port_mac(&self, p: PortId) -> Mac {
        self.port(p).mac
    }

    /// The address `p` answers ARP for (its lease, else its static address).
    pub fn port_ip(&self, p: PortId) -> Option<Ipv4Addr> {
        self.port(p).ip
    }

    /// The name `seg` was created with.
    pub fn segment_name(&self, seg: SegmentId) -> &str {
        &self.segments[seg.0 as usize].name
    }

    /// Starts writing every frame to `sink` as a pcap (Ethernet link type,
    /// microsecond timestamps of virtual time); writes the file header now.
    pub fn set_pcap(&mut self, sink: Box<dyn std::io::Write>) -> std::io::Result<()> {
        self.pcap = Some(pcap::PcapSink::new(sink)?);
        Ok(())
    }

    /// Flushes the pcap and closes it: frames sent afterwards are not written.
    pub fn finish(&mut self) -> std::io::Result<()> {
        match self.pcap.take() {
            Some(sink) => sink.finish(),
            None => Ok(()),
        }
    }

    /// A machine behind `from` transmits. Schedules arrivals (and ARP work) into `sched`.
    pub fn send(&mut self, now: Instant, from: PortId, t: Transmit, sched: &mut impl Schedule) {
        let mut src = t.src;
        if src.ip().is_unspecified()
            && let Some(ip) = self.port(from).static_ip
        {
            src.set_ip(ip);
        }
        let dst = t.dst;
        let target = if dst.ip().is_broadcast() {
            Target::Broadcast
        } else {
            match t.l2 {
                L2Dest::Broadcast => Target::Broadcast,
                L2Dest::Unicast(mac) if mac != Mac::ZERO => Target::Mac(mac),
                L2Dest::Unicast(_) => {
                    let key = (from, *dst.ip());
                    if let Some(&mac) = self.arp_cache.get(&key) {
                        Target::Mac(mac)
                    } else {
                        return self.wait_for_arp(now, from, src, dst, t.payload.into(), sched);
                    }
                }
            }
        };
        self.transmit_udp(now, from, src, dst, target, t.payload.into(), sched);
    }

    /// Queues a datagram until ARP resolves its destination, asking if nobody
    /// has asked yet.
    fn wait_for_arp(
        &mut self,
        now: Instant,
        from: PortId,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        payload: Payload,
        sched: &mut impl Schedule,
    ) {
        let ip = *dst.ip();
        if let Some(p) = self.arp_pending.get_mut(&(from, ip)) {
            p.queued.push((src, dst, payload));
            return;
        }
        let id = self.next_arp_id;
        self.next_arp_id += 1;
        self.arp_pending.insert(
            (from, ip),
            PendingArp {
                id,
                tries: 1,
                queued: vec![(src, dst, payload)],
            },
        );
        self.send_arp_request(now, from, ip, sched);
        sched.schedule(
            now + ARP_RETRY,
            NetEvent(Ev::ArpTimer { port: from, ip, id }),
        );
    }

    /// Claims the sender's egress for a frame of `bytes`: returns when the
    /// frame has left (end of serialisation).
    fn egress(&mut self, now: Instant, from: PortId, frames: u64, bytes: u64) -> Instant {
        self.stats.frames += frames;
        self.stats.bytes += bytes;
        let p = self.port_mut(from);
        let start = now.max(p.busy_until);
        let bps = u128::from(p.bandwidth_bps);
        let ser = u128::from(bytes) * 8 * 1_000_000_000 / bps;
        let end = start + Duration::from_nanos(u64::try_from(ser).unwrap_or(u64::MAX));
        p.busy_until = end;
        end
    }

    /// When a frame that left `from` at `left` reaches `to`, or `None` when it
    /// is lost on the way.
    fn arrival(&mut self, left: Instant, from: PortId, to: PortId) -> Option<Instant> {
        let links = Links {
            rng: &mut self.rng,
            stats: &mut self.stats,
            ports: &mut self.ports,
        };
        arrival(links, left, from, to)
    }

    /// Puts one UDP datagram on the wire towards `target`.
    #[allow(clippy::too_many_arguments)]
    fn transmit_udp(
        &mut self,
        now: Instant,
        from: PortId,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        target: Target,
        payload: Payload,
        sched: &mut impl Schedule,
    ) {
        if self.port(from).down {
            // Host off or cable out: nothing reaches the wire, or the capture.
            self.stats.blocked += 1;
            return;
        }
        let src_mac = self.port(from).mac;
        let dst_mac = match target {
            Target::Broadcast => Mac::BROADCAST,
            Target::Mac(m) => m,
        };
        if let Some(pcap) = &mut self.pcap {
            pcap.udp(now, src_mac, dst_mac, src, dst, &payload);
        }
        let (frames, bytes) = udp_wire_size(payload.len());
        if self.port(from).blocked(now) {
            self.stats.frames += frames;
            self.stats.bytes += bytes;
            self.stats.blocked += 1;
            return;
        }
        let left = self.egress(now, from, frames, bytes);
        let seg = self.port(from).seg;
        let Network {
            rng,
            stats,
            ports,
            segments,
            by_mac,
            ..
        } = self;
        let mut deliver = |ports: &mut [Port], to: PortId, payload: Payload| {
            if to == from {
                return;
            }
            let links = Links { rng, stats, ports };
            if let Some(at) = arrival(links, left, from, to) {
                let ev = Ev::Deliver {
                    to,
                    from,
                    src,
                    dst,
                    payload,
                };
                sched.schedule(at, NetEvent(ev));
            }
        };
        match target {
            Target::Mac(mac) => {
                if let Some(&to) = by_mac.get(&(seg, mac)) {
                    deliver(ports, to, payload);
                }
            }
            Target::Broadcast => {
                if let Some(chaddr) = bootp_reply_target(dst.port(), &payload) {
                    if let Some(&to) = by_mac.get(&(seg, chaddr))
                        && ports[to.0 as usize]
                            .listening
                            .binary_search(&dst.port())
                            .is_ok()
                    {
                        deliver(ports, to, payload);
                    }
                } else if let Some(set) = segments[seg.0 as usize].listeners.get(&dst.port()) {
                    let payload = payload.share();
                    for &to in set {
                        deliver(ports, to, payload.clone());
                    }
                }
            }
        }
    }

    fn send_arp_request(
        &mut self,
        now: Instant,
        from: PortId,
        ip: Ipv4Addr,
        sched: &mut impl Schedule,
    ) {
        if self.port(from).down {
            self.stats.blocked += 1;
            return;
        }
        self.stats.arp_requests += 1;
        let (mac, seg, sender_ip) = {
            let p = self.port(from);
            (p.mac, p.seg, p.ip.unwrap_or(Ipv4Addr::UNSPECIFIED))
        };
        if let Some(pcap) = &mut self.pcap {
            pcap.arp(now, true, mac, Mac::BROADCAST, sender_ip, Mac::ZERO, ip);
        }
        let bytes = ETH_HEADER + ARP_LEN;
        if self.port(from).blocked(now) {
            self.stats.frames += 1;
            self.stats.bytes += bytes;
            self.stats.blocked += 1;
            return;
        }
        let left = self.egress(now, from, 1, bytes);
        // Every station sees the request; only the owner of `ip` reacts, so
        // only it is scheduled (RFC 826: the others just drop it).
        if let Some(&to) = self.by_ip.get(&(seg, ip))
            && to != from
            && let Some(at) = self.arrival(left, from, to)
        {
            let ev = Ev::ArpRequest {
                to,
                from,
                sender_ip,
                ip,
            };
            sched.schedule(at, NetEvent(ev));
        }
    }

    /// An event the network scheduled has come due. Returns what, if anything, a machine must see.
    pub fn handle(
        &mut self,
        now: Instant,
        ev: NetEvent,
        sched: &mut impl Schedule,
    ) -> Option<Arrival> {
        match ev.0 {
            Ev::Deliver {
                to,
                from,
                src,
                dst,
                payload,
            } => {
                if self.port(to).blocked(now) {
                    self.stats.blocked += 1;
                    return None;
                }
                Some(Arrival::Datagram {
                    to,
                    src,
                    dst,
                    src_mac: self.port(from).mac,
                    payload,
                })
            }
            Ev::ArpRequest {
                to,
                from,
                sender_ip,
                ip,
            } => {
                if self.port(to).blocked(now) {
                    self.stats.blocked += 1;
                    return None;
                }
                // The address may have moved since the request left.
                if self.port(to).ip != Some(ip) {
                    return None;
                }
                let requester = self.port(from).mac;
                if !sender_ip.is_unspecified() {
                    self.arp_cache.insert((to, sender_ip), requester);
                }
                let own_mac = self.port(to).mac;
                if let Some(pcap) = &mut self.pcap {
                    pcap.arp(now, false, own_mac, requester, ip, requester, sender_ip);
                }
                let bytes = ETH_HEADER + ARP_LEN;
                let left = self.egress(now, to, 1, bytes);
                if let Some(at) = self.arrival(left, to, from) {
                    sched.schedule(
                        at,
                        NetEvent(Ev::ArpReply {
                            to: from,
                            from: to,
                            ip,
                        }),
                    );
                }
                None
            }
            Ev::ArpReply { to, from, ip } => {
                if self.port(to).blocked(now) {
                    self.stats.blocked += 1;
                    return None;
                }
                let mac = self.port(from).mac;
                self.arp_cache.insert((to, ip), mac);
                if let Some(p) = self.arp_pending.remove(&(to, ip)) {
                    for (src, dst, payload) in p.queued {
                        self.transmit_udp(now, to, src, dst, Target::Mac(mac), payload, sched);
                    }
                }
                None
            }
            Ev::ArpTimer { port, ip, id } => {
                let key = (port, ip);
                let tries = match self.arp_pending.get_mut(&key) {
                    Some(p) if p.id == id => {
                        p.tries += 1;
                        p.tries
                    }
                    // Answered meanwhile (or a newer attempt owns the timer).
                    _ => return None,
                };
                if tries > ARP_TRIES {
                    self.arp_pending.remove(&key);
                    self.stats.arp_failures += 1;
                    return Some(Arrival::Unreachable { port, ip });
                }
                self.send_arp_request(now, port, ip, sched);
                sched.schedule(now + ARP_RETRY, NetEvent(Ev::ArpTimer { port, ip, id }));
                None
            }
        }
    }
}

/// The parts of the network a frame's journey reads and draws from, borrowed
/// apart from the segments so that a broadcast can walk the listeners.
struct Links<'a> {
    rng: &'a mut ChaCha8Rng,
    stats: &'a mut NetStats,
    ports: &'a mut [Port],
}

/// When a frame that left `from` at `left` reaches `to`, or `None` when it is
/// lost on the way (counted).
fn arrival(l: Links<'_>, left: Instant, from: PortId, to: PortId) -> Option<Instant> {
    let Links { rng, stats, ports } = l;
    let (a, b) = (&ports[from.0 as usize], &ports[to.0 as usize]);
    let latency = a.latency_ns.saturating_add(b.latency_ns);
    let jitter = a.jitter_ns.saturating_add(b.jitter_ns);
    let loss = 1.0 - (1.0 - a.loss) * (1.0 - b.loss);
    // Draw only when there is something to draw: a lossless, jitter-free
    // network consumes no randomness, so adding such a link changes nothing else.
    let lost = if loss >= 1.0 {
        true
    } else if loss > 0.0 {
        rng.random::<f64>() < loss
    } else {
        false
    };
    if lost {
        stats.lost += 1;
        return None;
    }
    let extra = if jitter > 0 {
        rng.random_range(0..=jitter)
    } else {
        0
    };
    let mut at = left + Duration::from_nanos(latency.saturating_add(extra));
    if jitter > 0 {
        // Without jitter latency is constant per pair and egress is FIFO, so
        // order holds by itself; with it, keep the flow in order.
        let (keeper, key) = if from > to {
            (from, (to, true))
        } else {
            (to, (from, false))
        };
        let last = ports[keeper.0 as usize].flows.last(key);
        at = at.max(*last);
        *last = at;
    }
    Some(at)
}

/// The fast path for DHCP replies broadcast to clients: `Some(chaddr)` when
/// a datagram to UDP 68 is a BOOTREPLY from an Ethernet server.
///
/// Why delivering it to the `chaddr` port only is exact: every DHCP client
/// discards a reply whose `chaddr`/`xid` is not its own (RFC 2131 §4.1, and
/// every PXE ROM does), so no other machine's state can depend on seeing it.
/// Without this shortcut a boot storm of n clients is O(n²) frames delivered.
/// The frame itself is still one broadcast in the pcap.
fn bootp_reply_target(udp_dst: u16, payload: &[u8]) -> Option<Mac> {
    const OP_BOOTREPLY: u8 = 2;
    const HTYPE_ETHERNET: u8 = 1;
    if udp_dst != CLIENT_PORT || payload.len() < 34 {
        return None;
    }
    if payload[0] != OP_BOOTREPLY || payload[1] != HTYPE_ETHERNET || payload[2] != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&payload[28..34]);
    Some(Mac(mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_size_counts_fragments() {
        // 300-byte DHCP: one frame of 14+20+8+300.
        assert_eq!(udp_wire_size(300), (1, 342));
        // 1472 bytes fill one 1500-byte IP packet exactly.
        assert_eq!(udp_wire_size(1472), (1, 1514));
        assert_eq!(udp_wire_size(1473).0, 2);
        // TFTP blksize 8192 + 4: 8204 bytes of UDP in 1480-byte fragments.
        assert_eq!(udp_wire_size(8196), (6, 6 * 34 + 8204));
    }

    #[test]
    fn bootp_reply_target_needs_a_reply_to_port_68() {
        let mut p = vec![0u8; 300];
        p[0] = 2;
        p[1] = 1;
        p[2] = 6;
        p[28..34].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        assert_eq!(bootp_reply_target(68, &p), Some(Mac([1, 2, 3, 4, 5, 6])));
        assert_eq!(bootp_reply_target(67, &p), None);
        p[0] = 1;
        assert_eq!(bootp_reply_target(68, &p), None);
        assert_eq!(bootp_reply_target(68, &[2, 1, 6]), None);
    }
}
