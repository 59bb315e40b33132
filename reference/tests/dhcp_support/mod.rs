//! Shared helpers for the DHCP / PXE server tests: client messages built with the
//! project's codec, datagrams, and draining the machines.
#![allow(dead_code, unreachable_pub)]

use std::net::{Ipv4Addr, SocketAddrV4};

use pxelab_reference::dhcp::{
    DhcpConfig, DhcpEvent, DhcpEventKind, DhcpMode, DhcpServer, DhcpSettings, IgnoreReason,
    MemoryStore, PoolConfig,
};
use pxelab_reference::pxe::{BootPolicy, BootServer};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{DhcpMessage, FLAG_BROADCAST, MessageType, Op, code};
use pxelab_reference::{Datagram, Instant, Mac, Transmit};

pub const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 1);
pub const MASK: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);
pub const UNIX_START: u64 = 1_800_000_000;

pub fn mac(n: u8) -> Mac {
    Mac([0x52, 0x54, 0x00, 0, 0, n])
}

pub fn local_pool() -> PoolConfig {
    "192.168.50.100-192.168.50.199".parse().unwrap()
}

pub fn full_config(settings: DhcpSettings) -> DhcpConfig {
    DhcpConfig {
        server_addr: SERVER,
        netmask: MASK,
        mode: DhcpMode::Full {
            pools: vec![local_pool()],
        },
        settings,
        boot: BootPolicy::default(),
        unix_time_at_start: UNIX_START,
    }
}

pub fn proxy_config(boot: BootPolicy) -> DhcpConfig {
    DhcpConfig {
        server_addr: SERVER,
        netmask: MASK,
        mode: DhcpMode::Proxy,
        settings: DhcpSettings::default(),
        boot,
        unix_time_at_start: UNIX_START,
    }
}

pub fn server(config: DhcpConfig) -> DhcpServer {
    DhcpServer::new(config, Box::new(MemoryStore::new()), Instant::ZERO).unwrap()
}

/// A client message of type `t` from `mac`.
pub fn client_msg(t: MessageType, mac: Mac, xid: u32) -> DhcpMessage {
    let mut m = DhcpMessage {
        op: Op::BootRequest,
        htype: 1,
        hlen: 6,
        xid,
        ..DhcpMessage::default()
    };
    m.chaddr[..6].copy_from_slice(&mac.0);
    m.push_option(code::MESSAGE_TYPE, [u8::from(t)]);
    m
}

pub fn discover(mac: Mac, xid: u32) -> DhcpMessage {
    client_msg(MessageType::Discover, mac, xid)
}

/// REQUEST in SELECTING state for `offer`.
pub fn select(mac: Mac, xid: u32, server: Ipv4Addr, ip: Ipv4Addr) -> DhcpMessage {
    let mut m = client_msg(MessageType::Request, mac, xid);
    m.push_option(code::SERVER_ID, server.octets());
    m.push_option(code::REQUESTED_IP, ip.octets());
    m
}

pub const UUID: [u8; 17] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

/// Adds what a PXE ROM of architecture `arch` sends: 55 (with 43, 60, 66, 67),
/// 57, 60, 93, 94, 97.
pub fn make_pxe(m: &mut DhcpMessage, arch: u16) {
    m.push_option(code::PARAMETER_REQUEST_LIST, [1, 3, 43, 60, 66, 67]);
    m.push_option(code::MAX_MESSAGE_SIZE, 1472u16.to_be_bytes());
    m.push_option(
        code::VENDOR_CLASS,
        format!("PXEClient:Arch:{arch:05}:UNDI:003000").into_bytes(),
    );
    m.push_option(code::CLIENT_ARCH, arch.to_be_bytes());
    m.push_option(code::CLIENT_NDI, [1, 3, 0]);
    m.push_option(code::CLIENT_UUID, UUID);
}

pub fn pxe_discover(mac: Mac, xid: u32, arch: u16) -> DhcpMessage {
    let mut m = discover(mac, xid);
    make_pxe(&mut m, arch);
    m
}

pub fn make_ipxe(m: &mut DhcpMessage) {
    m.push_option(code::USER_CLASS, *b"iPXE");
    m.push_option(code::IPXE_ENCAP, [1, 1, 1]);
}

pub fn with_broadcast(mut m: DhcpMessage) -> DhcpMessage {
    m.flags |= FLAG_BROADCAST;
    m
}

/// A client without an address broadcasting to 67.
pub fn bcast(payload: &[u8], from: Mac) -> Datagram<'_> {
    Datagram {
        src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
        dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
        src_mac: from,
        payload,
    }
}

/// A unicast datagram.
pub fn unicast(payload: &[u8], src: SocketAddrV4, dst: SocketAddrV4, from: Mac) -> Datagram<'_> {
    Datagram {
        src,
        dst,
        src_mac: from,
        payload,
    }
}

/// A unicast datagram from `src` to the server's port 67 (a client with an
/// address, or a relay agent).
pub fn to_server(payload: &[u8], src: SocketAddrV4, from: Mac) -> Datagram<'_> {
    unicast(payload, src, SocketAddrV4::new(SERVER, 67), from)
}

/// The machines' common polling surface.
pub trait Machine {
    fn transmit(&mut self) -> Option<Transmit>;
    fn event(&mut self) -> Option<DhcpEvent>;
}

impl Machine for DhcpServer {
    fn transmit(&mut self) -> Option<Transmit> {
        self.poll_transmit()
    }
    fn event(&mut self) -> Option<DhcpEvent> {
        self.poll_event()
    }
}

impl Machine for BootServer {
    fn transmit(&mut self) -> Option<Transmit> {
        self.poll_transmit()
    }
    fn event(&mut self) -> Option<DhcpEvent> {
        self.poll_event()
    }
}

/// Every queued transmit with its parsed payload.
pub fn replies(m: &mut impl Machine) -> Vec<(Transmit, DhcpMessage)> {
    std::iter::from_fn(|| m.transmit())
        .map(|t| {
            let msg =
                DhcpMessage::parse(&t.payload, ParseMode::Strict).expect("server emits valid DHCP");
            (t, msg)
        })
        .collect()
}

/// Exactly one reply.
pub fn one_reply(m: &mut impl Machine) -> (Transmit, DhcpMessage) {
    let mut r = replies(m);
    assert_eq!(r.len(), 1, "expected exactly one reply, got {r:?}");
    r.remove(0)
}

pub fn events(m: &mut impl Machine) -> Vec<DhcpEvent> {
    std::iter::from_fn(|| m.event()).collect()
}

/// The PXE fields of an offer to a BIOS client in the PXE 1.0 dialect: option 60
/// "PXEClient", the client's UUID (97) echoed, and option 43 holding only
/// discovery control 8 (bit 3: boot the file named in this offer, no menu and no
/// boot-server discovery).
pub fn assert_pxe10_bios_offer(offer: &DhcpMessage) {
    assert_eq!(
        offer.option(code::VENDOR_CLASS).as_deref(),
        Some(&b"PXEClient"[..])
    );
    assert_eq!(offer.option(code::CLIENT_UUID).as_deref(), Some(&UUID[..]));
    assert_eq!(
        offer.option(code::VENDOR_SPECIFIC).as_deref(),
        Some(&[6, 1, 8, 255][..])
    );
}

/// Why the machine stayed silent: asserts it queued no reply, and returns the
/// reason of every event, in order (an event that is not `Ignored` fails the test).
pub fn ignore_reasons(m: &mut impl Machine) -> Vec<IgnoreReason> {
    let sent = replies(m);
    assert!(sent.is_empty(), "expected no reply, got {sent:?}");
    events(m)
        .into_iter()
        .map(|e| match e.kind {
            DhcpEventKind::Ignored(r) => r,
            other => panic!("expected an ignored request, got {other:?}"),
        })
        .collect()
}

/// Sends a broadcast message and returns the single reply.
pub fn exchange(s: &mut DhcpServer, now: Instant, msg: &DhcpMessage) -> (Transmit, DhcpMessage) {
    let bytes = msg.emit();
    s.handle_datagram(now, bcast(&bytes, msg.client_mac().unwrap_or(Mac::ZERO)));
    events(s);
    one_reply(s)
}

/// Runs DISCOVER/OFFER/REQUEST/ACK for `mac` and returns the acknowledged address.
pub fn dora(s: &mut DhcpServer, now: Instant, mac: Mac, xid: u32) -> Ipv4Addr {
    let (_, offer) = exchange(s, now, &discover(mac, xid));
    let (_, ack) = exchange(s, now, &select(mac, xid, SERVER, offer.yiaddr));
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    ack.yiaddr
}

pub fn u32_opt(m: &DhcpMessage, c: u8) -> Option<u32> {
    let v = m.option(c)?;
    Some(u32::from_be_bytes(v.as_ref().try_into().ok()?))
}

pub fn ip_opt(m: &DhcpMessage, c: u8) -> Option<Ipv4Addr> {
    let v = m.option(c)?;
    let o: [u8; 4] = v.as_ref().try_into().ok()?;
    Some(Ipv4Addr::from(o))
}
