//! Ethernet frames in and out of the segment under test: UDP over IPv4 (with
//! fragment reassembly, since a TFTP block above 1472 bytes arrives in pieces)
//! and ARP. Encoding is the simulator's own [`Framer`] (the pcap's code), so the
//! driver and the captures agree byte for byte.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use pnet_packet::Packet;
use pnet_packet::arp::{ArpOperations, ArpPacket};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::udp::UdpPacket;
use pxelab_reference::{L2Dest, Mac, Transmit};

use crate::net::pcap::Framer;

/// A UDP datagram as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpFrame {
    /// Ethernet source.
    pub src_mac: Mac,
    /// Ethernet destination.
    pub dst_mac: Mac,
    /// IPv4 source and UDP port.
    pub src: SocketAddrV4,
    /// IPv4 destination and UDP port.
    pub dst: SocketAddrV4,
    /// UDP payload (reassembled when it came in fragments).
    pub payload: Vec<u8>,
}

/// An ARP packet for Ethernet/IPv4 (RFC 826).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpFrame {
    /// A request (else a reply).
    pub request: bool,
    /// Ethernet destination of the frame.
    pub dst_mac: Mac,
    /// Who sends it.
    pub sender_mac: Mac,
    /// The sender's address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (zero in a request).
    pub target_mac: Mac,
    /// The address asked about.
    pub target_ip: Ipv4Addr,
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// UDP over IPv4.
    Udp(UdpFrame),
    /// ARP.
    Arp(ArpFrame),
}

impl Frame {
    /// The Ethernet source.
    pub fn src_mac(&self) -> Mac {
        match self {
            Frame::Udp(u) => u.src_mac,
            Frame::Arp(a) => a.sender_mac,
        }
    }
}

/// Largest number of datagrams kept half-reassembled: a bound, so a flood of
/// stray fragments cannot grow memory without limit.
const MAX_PARTIAL: usize = 64;

#[derive(Default)]
struct Partial {
    /// (offset, bytes) of the fragments seen.
    pieces: Vec<(usize, Vec<u8>)>,
    /// Total IP payload length, once the last fragment arrived.
    total: Option<usize>,
}

/// Turns raw frames into [`Frame`]s, reassembling IPv4 fragments (RFC 791).
#[derive(Default)]
pub struct Decoder {
    partial: HashMap<(Ipv4Addr, Ipv4Addr, u16), Partial>,
}

impl Decoder {
    /// A decoder with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// The frame, when it is ARP or a whole UDP datagram; `None` for other
    /// traffic, malformed bytes, or a fragment still waiting for the rest.
    pub fn decode(&mut self, bytes: &[u8]) -> Option<Frame> {
        let eth = EthernetPacket::new(bytes)?;
        let dst_mac = Mac(eth.get_destination().octets());
        let src_mac = Mac(eth.get_source().octets());
        match eth.get_ethertype() {
            EtherTypes::Arp => {
                let arp = ArpPacket::new(eth.payload())?;
                let op = arp.get_operation();
                if op != ArpOperations::Request && op != ArpOperations::Reply {
                    return None;
                }
                Some(Frame::Arp(ArpFrame {
                    request: op == ArpOperations::Request,
                    dst_mac,
                    sender_mac: Mac(arp.get_sender_hw_addr().octets()),
                    sender_ip: arp.get_sender_proto_addr(),
                    target_mac: Mac(arp.get_target_hw_addr().octets()),
                    target_ip: arp.get_target_proto_addr(),
                }))
            }
            EtherTypes::Ipv4 => {
                let ip = Ipv4Packet::new(eth.payload())?;
                if ip.get_next_level_protocol() != IpNextHeaderProtocols::Udp
                    || ip.get_version() != 4
                {
                    return None;
                }
                let header = usize::from(ip.get_header_length()) * 4;
                let total = usize::from(ip.get_total_length());
                let body = eth.payload().get(header..total.max(header))?;
                let more = ip.get_flags() & pnet_packet::ipv4::Ipv4Flags::MoreFragments != 0;
                let offset = usize::from(ip.get_fragment_offset()) * 8;
                let (src_ip, dst_ip) = (ip.get_source(), ip.get_destination());
                let whole;
                let udp_bytes: &[u8] = if !more && offset == 0 {
                    body
                } else {
                    whole =
                        self.fragment(src_ip, dst_ip, ip.get_identification(), offset, more, body)?;
                    &whole
                };
                let udp = UdpPacket::new(udp_bytes)?;
                let len = usize::from(udp.get_length()).clamp(8, udp_bytes.len());
                Some(Frame::Udp(UdpFrame {
                    src_mac,
                    dst_mac,
                    src: SocketAddrV4::new(src_ip, udp.get_source()),
                    dst: SocketAddrV4::new(dst_ip, udp.get_destination()),
                    payload: udp_bytes[8..len].to_vec(),
                }))
            }
            _ => None,
        }
    }

    fn fragment(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ident: u16,
        offset: usize,
        more: bool,
        body: &[u8],
    ) -> Option<Vec<u8>> {
        let key = (src, dst, ident);
        if !self.partial.contains_key(&key) && self.partial.len() >= MAX_PARTIAL {
            self.partial.clear();
        }
        let p = self.partial.entry(key).or_default();
        if !p.pieces.iter().any(|(o, _)| *o == offset) {
            p.pieces.push((offset, body.to_vec()));
        }
        if !more {
            p.total = Some(offset + body.len());
        }
        let total = p.total?;
        p.pieces.sort_by_key(|(o, _)| *o);
        let mut out = Vec::with_capacity(total);
        for (o, b) in &p.pieces {
            if *o != out.len() {
                return None;
            }
            out.extend_from_slice(b);
        }
        if out.len() != total {
            return None;
        }
        self.partial.remove(&key);
        Some(out)
    }
}

/// The Ethernet destination for an IPv4 multicast group (RFC 1112 §6.4).
pub fn multicast_mac(ip: Ipv4Addr) -> Mac {
    let o = ip.octets();
    Mac([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
}

/// Encodes datagrams and ARP packets as frames.
#[derive(Default)]
pub struct Encoder {
    framer: Framer,
}

impl Encoder {
    /// A new encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The frames of a datagram from `src_mac` to `dst_mac` (one, or IPv4
    /// fragments when it is larger than the MTU).
    pub fn udp(
        &mut self,
        src_mac: Mac,
        dst_mac: Mac,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        payload: &[u8],
    ) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.framer.udp(src_mac, dst_mac, src, dst, payload, |f| {
            out.push(f.to_vec())
        });
        out
    }

    /// An ARP frame.
    pub fn arp(&mut self, a: &ArpFrame) -> Vec<u8> {
        self.framer
            .arp(
                a.request,
                a.sender_mac,
                a.dst_mac,
                a.sender_ip,
                a.target_mac,
                a.target_ip,
            )
            .to_vec()
    }
}

/// The Ethernet destination of a transmit whose unicast MAC is known (or
/// `None` when it must be resolved by ARP first).
pub fn l2_destination(t: &Transmit) -> Option<Mac> {
    match t.l2 {
        _ if t.dst.ip().is_multicast() => Some(multicast_mac(*t.dst.ip())),
        L2Dest::Broadcast => Some(Mac::BROADCAST),
        _ if t.dst.ip().is_broadcast() => Some(Mac::BROADCAST),
        L2Dest::Unicast(m) if m != Mac::ZERO => Some(m),
        L2Dest::Unicast(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_datagram_round_trips_through_fragments() {
        let mut enc = Encoder::new();
        let payload: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let src = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 50000);
        let dst = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 2000);
        let a = Mac([2, 0, 0, 0, 0, 1]);
        let b = Mac([2, 0, 0, 0, 0, 2]);
        let frames = enc.udp(a, b, src, dst, &payload);
        assert!(frames.len() > 1);
        let mut dec = Decoder::new();
        let mut got = None;
        // Out of order: the last fragment first.
        for f in frames.iter().rev() {
            if let Some(frame) = dec.decode(f) {
                got = Some(frame);
            }
        }
        let Some(Frame::Udp(u)) = got else {
            panic!("no datagram")
        };
        assert_eq!((u.src, u.dst, u.src_mac, u.dst_mac), (src, dst, a, b));
        assert_eq!(u.payload, payload);
    }

    #[test]
    fn arp_round_trips() {
        let a = ArpFrame {
            request: true,
            dst_mac: Mac::BROADCAST,
            sender_mac: Mac([2, 0, 0, 0, 0, 1]),
            sender_ip: Ipv4Addr::new(10, 0, 0, 5),
            target_mac: Mac::ZERO,
            target_ip: Ipv4Addr::new(10, 0, 0, 1),
        };
        let bytes = Encoder::new().arp(&a);
        assert_eq!(Decoder::new().decode(&bytes), Some(Frame::Arp(a)));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1600)) {
            let _ = Decoder::new().decode(&bytes);
        }
    }
}
