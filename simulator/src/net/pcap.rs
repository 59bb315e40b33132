//! Frames as they would be on the wire, for the pcap and the conformance driver.
//!
//! Inside the simulator only the pcap needs real frames: delivery between
//! machines carries the UDP payload and its addressing, so the bytes below are
//! built (with pnet_packet) only when a capture was asked for. The conformance
//! driver (`crate::conform`) sends the same frames on a real interface, so the
//! [`Framer`] is shared rather than written twice. A datagram larger than one Ethernet
//! frame (a TFTP block of 8192 bytes) is split into IPv4 fragments at the
//! 1500-byte MTU exactly as a host's IP layer would, so Wireshark reassembles
//! it instead of flagging an oversized frame.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, MutableArpPacket};
use pnet_packet::ethernet::{EtherType, EtherTypes, MutableEthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, Ipv4Flags, MutableIpv4Packet};
use pnet_packet::udp::{self, MutableUdpPacket};
use pxelab_reference::{Instant, Mac};

const ETH: usize = 14;
const IP: usize = 20;
const UDP: usize = 8;
const ARP: usize = 28;
/// Largest IPv4 payload per fragment: MTU 1500 minus the header, a multiple of 8
/// (fragment offsets count 8-byte units, RFC 791).
const FRAGMENT: usize = 1480;

/// Builds Ethernet frames, with scratch buffers reused for every frame.
#[derive(Default)]
pub(crate) struct Framer {
    /// IPv4 identification: a counter, so fragments of one datagram share it.
    ident: u16,
    udp: Vec<u8>,
    frame: Vec<u8>,
}

/// The pcap being written.
pub(crate) struct PcapSink {
    writer: PcapWriter<Box<dyn Write>>,
    framer: Framer,
    /// The first write error; reported by `finish` (sending cannot fail).
    error: Option<io::Error>,
}

fn io_error(e: pcap_file::PcapError) -> io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl PcapSink {
    pub(crate) fn new(sink: Box<dyn Write>) -> io::Result<Self> {
        // Fixed little-endian (not the host's order): the same run gives the
        // same file on any machine.
        let header = PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen: 65535,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::Little,
        };
        let writer = PcapWriter::with_header(sink, header).map_err(io_error)?;
        Ok(PcapSink {
            writer,
            framer: Framer::default(),
            error: None,
        })
    }

    pub(crate) fn finish(self) -> io::Result<()> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.writer.into_writer().flush()
    }

    /// Writes one frame as it was sent or received.
    pub(crate) fn frame(&mut self, now: Instant, frame: &[u8]) {
        write_frame(&mut self.writer, &mut self.error, now, frame);
    }

    /// Writes a UDP datagram as Ethernet II + IPv4 (+ fragments) + UDP.
    pub(super) fn udp(
        &mut self,
        now: Instant,
        src_mac: Mac,
        dst_mac: Mac,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        payload: &[u8],
    ) {
        let (writer, error) = (&mut self.writer, &mut self.error);
        self.framer.udp(src_mac, dst_mac, src, dst, payload, |f| {
            write_frame(writer, error, now, f)
        });
    }

    /// Writes an ARP request (`request`) or reply frame (RFC 826).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn arp(
        &mut self,
        now: Instant,
        request: bool,
        sender_mac: Mac,
        eth_dst: Mac,
        sender_ip: Ipv4Addr,
        target_mac: Mac,
        target_ip: Ipv4Addr,
    ) {
        let f = self.framer.arp(
            request, sender_mac, eth_dst, sender_ip, target_mac, target_ip,
        );
        write_frame(&mut self.writer, &mut self.error, now, f);
    }
}

fn write_frame(
    writer: &mut PcapWriter<Box<dyn Write>>,
    error: &mut Option<io::Error>,
    now: Instant,
    frame: &[u8],
) {
    if error.is_some() {
        return;
    }
    let ts = Duration::from_nanos(now.as_nanos());
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    let packet = PcapPacket::new(ts, len, frame);
    if let Err(e) = writer.write_packet(&packet) {
        *error = Some(io_error(e));
    }
}

impl Framer {
    /// Starts a frame of `len` bytes after the Ethernet header.
    fn ethernet(&mut self, src: Mac, dst: Mac, ethertype: EtherType, len: usize) {
        self.frame.clear();
        self.frame.resize(ETH + len, 0);
        if let Some(mut eth) = MutableEthernetPacket::new(&mut self.frame) {
            eth.set_destination(dst.0.into());
            eth.set_source(src.0.into());
            eth.set_ethertype(ethertype);
        }
    }

    /// A UDP datagram as Ethernet II + IPv4 (+ fragments at the 1500-byte
    /// MTU) + UDP: each frame is handed to `out` in order.
    pub(crate) fn udp(
        &mut self,
        src_mac: Mac,
        dst_mac: Mac,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        payload: &[u8],
        mut out: impl FnMut(&[u8]),
    ) {
        let Ok(udp_len) = u16::try_from(UDP + payload.len()) else {
            // Larger than any UDP datagram: no machine sends one; nothing to show.
            return;
        };
        self.udp.clear();
        self.udp.resize(UDP, 0);
        self.udp.extend_from_slice(payload);
        if let Some(mut u) = MutableUdpPacket::new(&mut self.udp) {
            u.set_source(src.port());
            u.set_destination(dst.port());
            u.set_length(udp_len);
            let sum = udp::ipv4_checksum(&u.to_immutable(), src.ip(), dst.ip());
            // RFC 768: a computed zero is sent as all ones (zero means "none").
            u.set_checksum(if sum == 0 { 0xffff } else { sum });
        }
        let ident = self.ident;
        self.ident = self.ident.wrapping_add(1);
        let total = self.udp.len();
        let mut offset = 0;
        while offset < total {
            let end = (offset + FRAGMENT).min(total);
            let more = end < total;
            self.ethernet(src_mac, dst_mac, EtherTypes::Ipv4, IP + end - offset);
            self.frame[ETH + IP..].copy_from_slice(&self.udp[offset..end]);
            if let Some(mut ip) = MutableIpv4Packet::new(&mut self.frame[ETH..]) {
                ip.set_version(4);
                ip.set_header_length(5);
                // `end - offset + IP` ≤ 1500.
                ip.set_total_length((IP + end - offset) as u16);
                ip.set_identification(ident);
                ip.set_flags(if more { Ipv4Flags::MoreFragments } else { 0 });
                // `offset` < 65536, so offset / 8 fits the 13-bit field.
                ip.set_fragment_offset((offset / 8) as u16);
                ip.set_ttl(64);
                ip.set_next_level_protocol(IpNextHeaderProtocols::Udp);
                ip.set_source(*src.ip());
                ip.set_destination(*dst.ip());
                let sum = ipv4::checksum(&ip.to_immutable());
                ip.set_checksum(sum);
            }
            out(&self.frame);
            offset = end;
        }
    }

    /// An ARP request (`request`) or reply frame (RFC 826).
    pub(crate) fn arp(
        &mut self,
        request: bool,
        sender_mac: Mac,
        eth_dst: Mac,
        sender_ip: Ipv4Addr,
        target_mac: Mac,
        target_ip: Ipv4Addr,
    ) -> &[u8] {
        self.ethernet(sender_mac, eth_dst, EtherTypes::Arp, ARP);
        if let Some(mut arp) = MutableArpPacket::new(&mut self.frame[ETH..]) {
            arp.set_hardware_type(ArpHardwareTypes::Ethernet);
            arp.set_protocol_type(EtherTypes::Ipv4);
            arp.set_hw_addr_len(6);
            arp.set_proto_addr_len(4);
            arp.set_operation(if request {
                ArpOperations::Request
            } else {
                ArpOperations::Reply
            });
            arp.set_sender_hw_addr(sender_mac.0.into());
            arp.set_sender_proto_addr(sender_ip);
            arp.set_target_hw_addr(target_mac.0.into());
            arp.set_target_proto_addr(target_ip);
        }
        &self.frame
    }
}
