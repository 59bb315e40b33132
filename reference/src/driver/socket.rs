//! UDP endpoints bound to one interface, that know where a datagram was sent.
//!
//! Two facts decide PXE and cannot be had from a plain `recv_from`: whether a
//! datagram was broadcast or sent to us (a DISCOVER is broadcast; a REQUEST that
//! renews a lease is unicast, RFC 2131 §4.3.2), and which interface it came in on.
//! `IP_PKTINFO` gives both, so every endpoint receives through `recvmsg`.
//!
//! Sockets are built with socket2 because `SO_REUSEADDR` must be set before `bind`,
//! and then handed to tokio. `SO_BINDTODEVICE` ties them to the served interface, so
//! that a server on a lab segment never answers a broadcast from another one.

use std::io;
use std::io::IoSliceMut;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::socket::{self, ControlMessageOwned, MsgFlags, SockaddrIn, sockopt};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::arp;
use super::iface::Interface;
use crate::net::{L2Dest, Mac, Transmit};

/// The DHCP client port (RFC 2131 §4.1): replies to clients go here.
const DHCP_CLIENT_PORT: u16 = 68;

/// How an endpoint delivers a [`Transmit`] whose L2 destination is one MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Send to the IP destination and let the kernel resolve it (TFTP: the client
    /// has an address and answers ARP).
    Plain,
    /// DHCP and the boot server: a reply to port 68 of an address in our subnet
    /// may be to a client that owns no address yet, so the kernel is told the MAC
    /// first (see [`arp`]).
    InjectArp,
}

/// The receive buffer every endpoint asks for.
///
/// The kernel default (about 208 KiB, which holds only ~100 full-size datagrams
/// once the kernel's per-packet overhead is counted) overflows in two places
/// pxelab cares about: a TFTP window of large blocks (RFC 7440 windowsize 16 ×
/// blksize 8192 is 128 KiB of payload in one burst), and the DHCP socket while the
/// lease store's fsync runs and a storm of clients keeps sending. What is lost
/// there costs a retransmit timeout of a second or more. Memory is only used
/// while datagrams actually wait.
const RECEIVE_BUFFER: usize = 4 << 20;

/// Asks for [`RECEIVE_BUFFER`]: past `net.core.rmem_max` when privileged
/// (`SO_RCVBUFFORCE`), else as much as the limit allows (`SO_RCVBUF`). Not
/// getting it is not an error: the socket works, only bursts overflow sooner.
fn grow_receive_buffer(sock: &Socket) {
    if socket::setsockopt(sock, sockopt::RcvBufForce, &RECEIVE_BUFFER).is_err()
        && let Err(e) = sock.set_recv_buffer_size(RECEIVE_BUFFER)
    {
        tracing::debug!(error = %e, "could not enlarge the socket receive buffer");
    }
}

/// Whether another socket already holds `addr` on `iface` (or on every
/// interface): a probe bound without SO_REUSEADDR then fails with "in use".
fn port_taken(iface: &Interface, addr: SocketAddrV4) -> bool {
    let Ok(probe) = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)) else {
        return false;
    };
    // Without the privilege to bind to the device, the probe checks every interface.
    let _ = probe.bind_device(Some(iface.name.as_bytes()));
    matches!(
        probe.bind(&std::net::SocketAddr::V4(addr).into()),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse
    )
}

/// A datagram as received: who sent it and to which address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Sender's address and port.
    pub src: SocketAddrV4,
    /// Destination as it was in the IP header (`255.255.255.255` for a broadcast),
    /// with the endpoint's port.
    pub dst: SocketAddrV4,
    /// Payload length in the caller's buffer.
    pub len: usize,
}

/// A UDP socket bound to one interface.
#[derive(Debug)]
pub struct Endpoint {
    sock: UdpSocket,
    iface: Interface,
    delivery: Delivery,
    local: SocketAddrV4,
    /// Whether datagrams are received with IP_PKTINFO (see [`Endpoint::bind`]).
    pktinfo: bool,
    /// Whether the "ARP injection failed, broadcasting instead" warning was given.
    arp_warned: AtomicBool,
}

impl Endpoint {
    /// Binds `addr` (use `0.0.0.0` to receive broadcasts) on `iface`.
    ///
    /// Must be called inside a tokio runtime.
    pub fn bind(iface: &Interface, addr: SocketAddrV4, delivery: Delivery) -> io::Result<Endpoint> {
        if addr.port() != 0 && port_taken(iface, addr) {
            tracing::warn!(
                port = addr.port(),
                interface = %iface.name,
                "another socket already listens on this port here (another DHCP/TFTP \
                 server, or a second pxelab?): broadcasts reach both, unicasts only one"
            );
        }
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        // SO_REUSEADDR lets pxelab serve one interface while another DHCP server
        // (dnsmasq, say) holds the same port on others; `port_taken` warns when
        // the port is shared on this one. Never on an ephemeral port (a TFTP
        // transfer's TID): the kernel would then hand the same port to two such
        // sockets, and one transfer's ACKs would reach the other.
        sock.set_reuse_address(addr.port() != 0)?;
        sock.set_broadcast(true)?;
        let bound_to_device = match sock.bind_device(Some(iface.name.as_bytes())) {
            Ok(()) => true,
            // Without CAP_NET_RAW the socket still works; datagrams from other
            // interfaces are then dropped by the ifindex check in `recv`.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                tracing::debug!(interface = %iface.name, "SO_BINDTODEVICE not permitted; filtering by interface index");
                false
            }
            Err(e) => return Err(e),
        };
        // A socket on one address of a device it is bound to (a TFTP transfer's)
        // learns nothing from IP_PKTINFO: every datagram came in on that device
        // to that address. It then receives with a plain `recvfrom`, which spares
        // the kernel and us the control message on every block of a transfer.
        let pktinfo = addr.ip().is_unspecified() || !bound_to_device;
        if pktinfo {
            socket::setsockopt(&sock, sockopt::Ipv4PacketInfo, &true).map_err(io::Error::from)?;
        }
        grow_receive_buffer(&sock);
        sock.set_nonblocking(true)?;
        sock.bind(&std::net::SocketAddr::V4(addr).into())?;
        let sock = UdpSocket::from_std(std::net::UdpSocket::from(sock))?;
        let local = match sock.local_addr()? {
            std::net::SocketAddr::V4(a) => a,
            std::net::SocketAddr::V6(_) => {
                return Err(io::Error::other("an IPv4 socket reported an IPv6 address"));
            }
        };
        Ok(Endpoint {
            sock,
            iface: iface.clone(),
            delivery,
            local,
            pktinfo,
            arp_warned: AtomicBool::new(false),
        })
    }

    /// The bound address (with the port the kernel chose, for port 0).
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    /// The interface this endpoint serves.
    pub fn interface(&self) -> &Interface {
        &self.iface
    }

    /// Receives the next datagram that arrived on the served interface.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        loop {
            let got = self
                .sock
                .async_io(Interest::READABLE, || self.recv_once(buf))
                .await?;
            if let Some(r) = got {
                return Ok(r);
            }
        }
    }

    /// The next datagram already waiting on the served interface, without
    /// waiting: `None` when there is none.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        loop {
            match self.sock.try_io(Interest::READABLE, || self.recv_once(buf)) {
                Ok(Some(r)) => return Ok(Some(r)),
                Ok(None) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// One `recvmsg`; `None` for a datagram from another interface.
    fn recv_once(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        if !self.pktinfo {
            let (len, from) = socket::recvfrom::<SockaddrIn>(self.sock.as_raw_fd(), buf)
                .map_err(io::Error::from)?;
            return Ok(from.map(|from| Received {
                src: SocketAddrV4::new(from.ip(), from.port()),
                dst: self.local,
                len,
            }));
        }
        let mut cmsg = nix::cmsg_space!(nix::libc::in_pktinfo);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = socket::recvmsg::<SockaddrIn>(
            self.sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .map_err(io::Error::from)?;
        let len = msg.bytes;
        let Some(from) = msg.address else {
            return Ok(None);
        };
        let src = SocketAddrV4::new(from.ip(), from.port());
        let mut dst_ip = self.local.ip().to_owned();
        for c in msg.cmsgs().map_err(io::Error::from)? {
            if let ControlMessageOwned::Ipv4PacketInfo(info) = c {
                if info.ipi_ifindex as u32 != self.iface.index {
                    return Ok(None);
                }
                dst_ip = Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr));
            }
        }
        Ok(Some(Received {
            src,
            dst: SocketAddrV4::new(dst_ip, self.local.port()),
            len,
        }))
    }

    /// Sends `t`, mapping its L2 destination onto what a UDP socket can do.
    ///
    /// - [`L2Dest::Broadcast`] (or an IP destination of `0.0.0.0`): to
    ///   `255.255.255.255` on the bound device, which every station receives.
    /// - [`L2Dest::Unicast`] to port 68 of an address in our subnet, with
    ///   [`Delivery::InjectArp`]: the client may not own that address yet (a DHCP
    ///   OFFER/ACK to `yiaddr`), so the `yiaddr → MAC` mapping is injected first;
    ///   if that fails (no `CAP_NET_ADMIN`), the reply is broadcast instead and the
    ///   fallback is logged once.
    /// - Otherwise: plain unicast; the kernel resolves the MAC.
    pub async fn send(&self, t: &Transmit) -> io::Result<()> {
        let dst = self.route(t);
        self.sock.send_to(&t.payload, dst).await.map(|_| ())
    }

    /// Sends as many of `ts` as the socket takes right now, in one `sendmmsg`,
    /// without waiting; returns how many left. Zero is not an error: the caller
    /// sends the rest with [`Endpoint::send`], which waits for room and reports
    /// each failure on its own.
    ///
    /// Not UDP segmentation offload (`UDP_SEGMENT`), though a TFTP window is
    /// exactly what it sends fastest: the kernel hands the unsegmented
    /// super-datagram to every packet socket that listens on the interface and,
    /// over a veth, to the peer namespace as one frame. A raw-socket observer (a
    /// capture, `pxelab conform`'s virtual clients) then sees one 5,884-byte
    /// "DATA block" where the wire carries four, which the conformance suite
    /// reports, rightly, as a protocol violation.
    pub fn try_send_batch(&self, ts: &[Transmit]) -> usize {
        let addrs: Vec<Option<SockaddrIn>> = ts
            .iter()
            .map(|t| Some(SockaddrIn::from(self.route(t))))
            .collect();
        let slices: Vec<[io::IoSlice<'_>; 1]> =
            ts.iter().map(|t| [io::IoSlice::new(&t.payload)]).collect();
        let mut headers = socket::MultiHeaders::<SockaddrIn>::preallocate(ts.len(), None);
        self.sock
            .try_io(Interest::WRITABLE, || {
                socket::sendmmsg(
                    self.sock.as_raw_fd(),
                    &mut headers,
                    &slices,
                    &addrs,
                    [],
                    MsgFlags::empty(),
                )
                .map(|sent| sent.count())
                .map_err(io::Error::from)
            })
            .unwrap_or(0)
    }

    /// Where `t` actually goes.
    fn route(&self, t: &Transmit) -> SocketAddrV4 {
        let broadcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, t.dst.port());
        let ip = *t.dst.ip();
        if ip.is_unspecified() || ip.is_broadcast() {
            return broadcast;
        }
        match t.l2 {
            L2Dest::Broadcast => broadcast,
            L2Dest::Unicast(mac) if needs_injection(&self.iface, self.delivery, t, mac) => {
                match arp::inject(&self.sock, &self.iface.name, ip, mac) {
                    Ok(()) => t.dst,
                    Err(e) => {
                        if !self.arp_warned.swap(true, Ordering::Relaxed) {
                            tracing::warn!(
                                interface = %self.iface.name,
                                error = %e,
                                "ARP-cache injection failed (needs CAP_NET_ADMIN); replies to clients \
                                 without an address will be broadcast instead"
                            );
                        }
                        broadcast
                    }
                }
            }
            L2Dest::Unicast(_) => t.dst,
        }
    }
}

/// Whether a unicast to `mac` may be to a client that owns no address yet, so the
/// kernel must be told the MAC: DHCP replies to port 68 of an address on our
/// subnet. Relay replies (to a `giaddr`, port 67) and anything the kernel can
/// resolve itself are left alone, and so are links without ARP (loopback).
fn needs_injection(iface: &Interface, delivery: Delivery, t: &Transmit, mac: Mac) -> bool {
    let ip = *t.dst.ip();
    delivery == Delivery::InjectArp
        && t.dst.port() == DHCP_CLIENT_PORT
        && mac != Mac::ZERO
        && mac != Mac::BROADCAST
        && iface.mac != Mac::ZERO
        && ip != iface.addr
        && iface.contains(ip)
        && ip != iface.broadcast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dhcp_replies_to_unconfigured_clients_on_our_subnet_get_an_arp_entry() {
        let eth = Interface {
            name: "eth9".into(),
            index: 9,
            addr: Ipv4Addr::new(10, 0, 0, 1),
            prefix: 24,
            mac: Mac([2, 0, 0, 0, 0, 1]),
            mtu: Some(1500),
        };
        let client = Mac([0x52, 0x54, 0, 0, 0, 7]);
        let inject = Delivery::InjectArp;
        // Whether a reply from port 67 to `ip:port`, for a client at `mac`, needs
        // an ARP entry injected.
        let needs = |iface: &Interface, delivery, ip: [u8; 4], port, mac| {
            let t = Transmit {
                src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 67),
                dst: SocketAddrV4::new(Ipv4Addr::from(ip), port),
                l2: L2Dest::Unicast(mac),
                payload: vec![],
            };
            needs_injection(iface, delivery, &t, mac)
        };
        // A DHCP reply to a client on our subnet that has no address yet.
        assert!(needs(&eth, inject, [10, 0, 0, 50], 68, client));
        // Relay agent (giaddr, port 67): the kernel resolves the relay itself.
        assert!(!needs(&eth, inject, [10, 0, 0, 254], 67, client));
        // Off our subnet, the subnet broadcast, no client MAC, plain delivery.
        assert!(!needs(&eth, inject, [192, 168, 1, 50], 68, client));
        assert!(!needs(&eth, inject, [10, 0, 0, 255], 68, client));
        assert!(!needs(&eth, inject, [10, 0, 0, 50], 68, Mac::ZERO));
        assert!(!needs(&eth, Delivery::Plain, [10, 0, 0, 50], 68, client));
        // A link without ARP (loopback).
        let lo = Interface {
            mac: Mac::ZERO,
            ..eth
        };
        assert!(!needs(&lo, inject, [10, 0, 0, 50], 68, client));
    }

    fn lo() -> Interface {
        Interface::lookup("lo").unwrap()
    }

    /// Found by tests/tftp_storm.rs: with SO_REUSEADDR on every socket, the
    /// kernel handed two TFTP transfers the same ephemeral port, so one
    /// transfer's ACKs reached the other (ERROR 5 to its client) and both timed
    /// out. 800 ports drawn from ~28,000 collide with near certainty if they may.
    #[tokio::test(flavor = "current_thread")]
    async fn ephemeral_ports_are_never_shared() {
        let lo = lo();
        let any = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
        let endpoints: Vec<Endpoint> = (0..800)
            .map(|_| Endpoint::bind(&lo, any, Delivery::Plain).unwrap())
            .collect();
        let ports: std::collections::HashSet<u16> =
            endpoints.iter().map(|e| e.local_addr().port()).collect();
        assert_eq!(ports.len(), endpoints.len(), "two sockets got one port");
    }

    /// A window handed over at once arrives as separate datagrams, in order, with
    /// their own sizes, in one `sendmmsg` or datagram by datagram;
    /// and a batch to several destinations reaches each.
    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_arrives_as_the_datagrams_it_was() {
        let ep = Endpoint::bind(
            &lo(),
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            Delivery::Plain,
        )
        .unwrap();
        let peers: Vec<_> = (0..2)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let to = |peer: &std::net::UdpSocket, payload: Vec<u8>| Transmit {
            src: ep.local_addr(),
            dst: match peer.local_addr().unwrap() {
                std::net::SocketAddr::V4(a) => a,
                std::net::SocketAddr::V6(_) => unreachable!("bound to 127.0.0.1"),
            },
            l2: L2Dest::Unicast(Mac::ZERO),
            payload,
        };
        // A window of 70 blocks whose last block is short, then a batch to two peers.
        let window: Vec<Transmit> = (0..70u8)
            .map(|i| to(&peers[0], vec![i; if i == 69 { 300 } else { 1000 }]))
            .collect();
        let mixed = vec![
            to(&peers[0], b"one".to_vec()),
            to(&peers[1], b"two".to_vec()),
        ];
        for batch in [&window, &mixed] {
            let sent = ep.try_send_batch(batch);
            for t in &batch[sent..] {
                ep.send(t).await.unwrap();
            }
        }
        let mut buf = vec![0u8; 65_536];
        for (i, want) in window.iter().enumerate() {
            let n = peers[0].recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], want.payload.as_slice(), "datagram {i}");
        }
        let n = peers[0].recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one");
        let n = peers[1].recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"two");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn unicast_on_loopback_reports_the_destination_address() {
        let ep = Endpoint::bind(
            &lo(),
            SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            Delivery::Plain,
        )
        .unwrap();
        let port = ep.local_addr().port();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client.send_to(b"hello", ("127.0.0.2", port)).unwrap();
        let mut buf = [0u8; 64];
        let r = ep.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..r.len], b"hello");
        assert_eq!(r.dst, SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), port));
        assert_eq!(r.src.port(), client.local_addr().unwrap().port());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn plain_unicast_goes_where_the_transmit_says() {
        let ep = Endpoint::bind(
            &lo(),
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            Delivery::InjectArp,
        )
        .unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let std::net::SocketAddr::V4(to) = peer.local_addr().unwrap() else {
            unreachable!()
        };
        let t = Transmit {
            src: ep.local_addr(),
            dst: to,
            l2: L2Dest::Unicast(Mac([2, 0, 0, 0, 0, 1])),
            payload: b"x".to_vec(),
        };
        // Loopback has no MAC, so no injection is attempted.
        assert_eq!(ep.route(&t), to);
        ep.send(&t).await.unwrap();
        let mut buf = [0u8; 8];
        let (n, _) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"x");
        let b = Transmit {
            l2: L2Dest::Broadcast,
            ..t
        };
        assert_eq!(
            ep.route(&b),
            SocketAddrV4::new(Ipv4Addr::BROADCAST, to.port())
        );
    }
}
