//! The bench: the suite's side of the link. It turns the virtual clients'
//! transmits into frames and frames back into datagrams, answers ARP for the
//! addresses the clients hold (and for nothing else), learns where servers
//! are from the frames they send, and captures every frame in and out, both
//! for the pcap and as the evidence a failed check cites.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{DhcpMessage, code};
use pxelab_reference::wire::tftp::TftpPacket;
use pxelab_reference::{Instant, Mac, Transmit};

use super::frame::{ArpFrame, Decoder, Encoder, Frame, UdpFrame, l2_destination};
use super::link::{Link, LinkError};
use crate::net::pcap::PcapSink;

/// ARP tries before a destination is given up (as PXE ROMs do, 1 s apart).
const ARP_TRIES: u32 = 3;
const ARP_WAIT: Duration = Duration::from_secs(1);
/// Frames kept in the capture: enough for any check's evidence, bounded so
/// a long storm cannot exhaust memory (the pcap still gets every frame).
const MAX_CAPTURE: usize = 2_000_000;

/// One frame as the suite saw it.
#[derive(Debug, Clone)]
pub struct Captured {
    /// When.
    pub at: Instant,
    /// Sent by a virtual client (else received).
    pub outbound: bool,
    /// What it was. The payload of a TFTP DATA packet is cut to its 4-byte
    /// header (a rollover run moves 100 MB; the evidence needs the block
    /// number and length, not the bytes).
    pub frame: Frame,
    /// The UDP payload's length on the wire (0 for ARP).
    pub wire_len: usize,
}

/// A datagram received, with its place in the capture.
#[derive(Debug, Clone)]
pub struct Rx {
    /// Capture index (evidence cites `#idx`, 1-based in print).
    pub idx: usize,
    /// When it arrived.
    pub at: Instant,
    /// The datagram.
    pub udp: UdpFrame,
}

/// The suite's end of the link.
pub struct Bench<'l> {
    link: &'l mut dyn Link,
    enc: Encoder,
    dec: Decoder,
    capture: Vec<Captured>,
    pcap: Option<PcapSink>,
    /// Where stations are, learned from their frames.
    arp: HashMap<Ipv4Addr, Mac>,
    /// Addresses the virtual clients hold: the only ones ARP is answered for.
    owned: HashMap<Ipv4Addr, Mac>,
    /// The virtual clients' MACs.
    macs: HashSet<Mac>,
    /// Datagrams that arrived while an ARP resolution was waiting.
    inbox: VecDeque<Rx>,
    /// The segment under test (network, mask): unicasts elsewhere are never sent.
    segment: Option<(Ipv4Addr, Ipv4Addr)>,
}

impl std::fmt::Debug for Bench<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bench")
            .field("captured", &self.capture.len())
            .finish_non_exhaustive()
    }
}

impl<'l> Bench<'l> {
    /// A bench on `link`, writing every frame to `pcap` when given.
    pub fn new(
        link: &'l mut dyn Link,
        pcap: Option<Box<dyn std::io::Write>>,
    ) -> std::io::Result<Self> {
        let pcap = pcap.map(PcapSink::new).transpose()?;
        Ok(Bench {
            link,
            enc: Encoder::new(),
            dec: Decoder::new(),
            capture: Vec::new(),
            pcap,
            arp: HashMap::new(),
            owned: HashMap::new(),
            macs: HashSet::new(),
            inbox: VecDeque::new(),
            segment: None,
        })
    }

    /// Time since the start of the run.
    pub fn now(&self) -> Instant {
        self.link.now()
    }

    /// The capture so far.
    pub fn capture(&self) -> &[Captured] {
        &self.capture
    }

    /// Flushes the pcap.
    pub fn finish(&mut self) -> std::io::Result<()> {
        match self.pcap.take() {
            Some(p) => p.finish(),
            None => Ok(()),
        }
    }

    /// A virtual client with this MAC exists: frames to it are received.
    pub fn register(&mut self, mac: Mac) {
        self.macs.insert(mac);
    }

    /// The client `mac` holds `ip` (a lease): ARP for it is answered.
    pub fn own(&mut self, ip: Ipv4Addr, mac: Mac) {
        self.owned.insert(ip, mac);
    }

    /// The client no longer holds `ip`.
    pub fn disown(&mut self, ip: Ipv4Addr) {
        self.owned.remove(&ip);
    }

    /// Confines unicasts to the segment `addr`/`mask` (a boot server or TFTP
    /// server named on another network is not contacted: the suite tests
    /// one segment and sends nothing beyond it).
    pub fn confine(&mut self, addr: Ipv4Addr, mask: Ipv4Addr) {
        let net = u32::from(addr) & u32::from(mask);
        self.segment = Some((Ipv4Addr::from(net), mask));
    }

    /// Whether a unicast to `ip` stays on the segment under test.
    pub fn on_segment(&self, ip: Ipv4Addr) -> bool {
        match self.segment {
            Some((net, mask)) => u32::from(ip) & u32::from(mask) == u32::from(net),
            None => true,
        }
    }

    /// A station's MAC, when known.
    pub fn mac_of(&self, ip: Ipv4Addr) -> Option<Mac> {
        self.arp.get(&ip).copied()
    }

    fn record(&mut self, outbound: bool, mut frame: Frame) -> usize {
        let at = self.link.now();
        let mut wire_len = 0;
        if let Frame::Udp(u) = &mut frame {
            wire_len = u.payload.len();
            let dhcp = [u.src.port(), u.dst.port()]
                .iter()
                .any(|p| [67, 68, 4011].contains(p));
            if !dhcp && u.payload.len() > 4 && u.payload[..2] == [0, 3] {
                u.payload.truncate(4);
            }
        }
        if self.capture.len() < MAX_CAPTURE {
            self.capture.push(Captured {
                at,
                outbound,
                frame,
                wire_len,
            });
        }
        self.capture.len()
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        if let Some(p) = &mut self.pcap {
            p.frame(self.link.now(), bytes);
        }
        self.link.send(bytes)
    }

    /// Sends `t` from the client `from`; the index of its (first) frame in the
    /// capture, or `None` when ARP for the destination got no answer or the
    /// destination is off the segment under test.
    pub fn send(&mut self, from: Mac, t: &Transmit) -> Result<Option<usize>, LinkError> {
        self.macs.insert(from);
        let ip = *t.dst.ip();
        if !(ip.is_broadcast() || ip.is_multicast() || self.on_segment(ip)) {
            return Ok(None);
        }
        let dst_mac = match l2_destination(t).or_else(|| self.arp.get(t.dst.ip()).copied()) {
            Some(m) => m,
            None => match self.resolve(from, *t.src.ip(), *t.dst.ip())? {
                Some(m) => m,
                None => return Ok(None),
            },
        };
        let frames = self.enc.udp(from, dst_mac, t.src, t.dst, &t.payload);
        for f in &frames {
            self.put(f)?;
        }
        let idx = self.record(
            true,
            Frame::Udp(UdpFrame {
                src_mac: from,
                dst_mac,
                src: t.src,
                dst: t.dst,
                payload: t.payload.clone(),
            }),
        );
        Ok(Some(idx))
    }

    /// ARP for `ip` on behalf of `from` (sender address `sender`).
    fn resolve(
        &mut self,
        from: Mac,
        sender: Ipv4Addr,
        ip: Ipv4Addr,
    ) -> Result<Option<Mac>, LinkError> {
        for _ in 0..ARP_TRIES {
            let ask = ArpFrame {
                request: true,
                dst_mac: Mac::BROADCAST,
                sender_mac: from,
                sender_ip: sender,
                target_mac: Mac::ZERO,
                target_ip: ip,
            };
            let bytes = self.enc.arp(&ask);
            self.put(&bytes)?;
            self.record(true, Frame::Arp(ask));
            let until = self.now() + ARP_WAIT;
            while let Some(rx) = self.pump(until)? {
                self.inbox.push_back(rx);
            }
            if let Some(m) = self.arp.get(&ip) {
                return Ok(Some(*m));
            }
        }
        Ok(None)
    }

    /// The next datagram for a virtual client before `deadline`.
    pub fn recv(&mut self, deadline: Instant) -> Result<Option<Rx>, LinkError> {
        if let Some(rx) = self.inbox.pop_front() {
            return Ok(Some(rx));
        }
        self.pump(deadline)
    }

    /// Reads frames until a datagram for a client arrives; answers ARP on the way.
    fn pump(&mut self, deadline: Instant) -> Result<Option<Rx>, LinkError> {
        loop {
            let Some(bytes) = self.link.recv(deadline)? else {
                return Ok(None);
            };
            if let Some(p) = &mut self.pcap {
                p.frame(self.link.now(), &bytes);
            }
            let Some(frame) = self.dec.decode(&bytes) else {
                continue;
            };
            match frame {
                Frame::Arp(a) => {
                    if !a.sender_ip.is_unspecified() {
                        self.arp.insert(a.sender_ip, a.sender_mac);
                    }
                    let answer = a
                        .request
                        .then(|| self.owned.get(&a.target_ip).copied())
                        .flatten();
                    self.record(false, Frame::Arp(a));
                    if let Some(mac) = answer {
                        let reply = ArpFrame {
                            request: false,
                            dst_mac: a.sender_mac,
                            sender_mac: mac,
                            sender_ip: a.target_ip,
                            target_mac: a.sender_mac,
                            target_ip: a.sender_ip,
                        };
                        let f = self.enc.arp(&reply);
                        self.put(&f)?;
                        self.record(true, Frame::Arp(reply));
                    }
                }
                Frame::Udp(u) => {
                    if self.macs.contains(&u.src_mac) {
                        continue;
                    }
                    if !u.src.ip().is_unspecified() {
                        self.arp.insert(*u.src.ip(), u.src_mac);
                    }
                    let for_us = self.macs.contains(&u.dst_mac)
                        || u.dst_mac == Mac::BROADCAST
                        || u.dst_mac.0[0] & 1 == 1;
                    if !for_us {
                        continue;
                    }
                    let at = self.link.now();
                    let idx = self.record(false, Frame::Udp(u.clone()));
                    return Ok(Some(Rx { idx, at, udp: u }));
                }
            }
        }
    }

    /// The capture indices of the last `n` frames to or from the client
    /// `mac` (by Ethernet address, or by chaddr for broadcast DHCP replies)
    /// that show its decisions: DHCP, 4011, TFTP requests and errors (not
    /// the DATA and ACK of a transfer), oldest first. The evidence of a
    /// client's failed boot.
    pub fn frames_of(&self, mac: Mac, n: usize) -> Vec<usize> {
        let bulk = |u: &UdpFrame| {
            let dhcp = [u.src.port(), u.dst.port()]
                .iter()
                .any(|p| [67, 68, 4011].contains(p));
            !dhcp && matches!(u.payload.get(..2), Some([0, 3] | [0, 4]))
        };
        let mut out: Vec<usize> = self
            .capture
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, c)| match &c.frame {
                Frame::Udp(u) if bulk(u) => false,
                Frame::Udp(u) if u.src_mac == mac || u.dst_mac == mac => true,
                Frame::Udp(u) if u.dst_mac == Mac::BROADCAST && u.dst.port() == 68 => {
                    DhcpMessage::parse(&u.payload, ParseMode::Lax)
                        .is_ok_and(|m| m.client_mac() == Some(mac))
                }
                Frame::Arp(a) => a.sender_mac == mac,
                _ => false,
            })
            .take(n)
            .map(|(i, _)| i + 1)
            .collect();
        out.reverse();
        out
    }

    /// One line per captured frame `idx` (1-based), decoded.
    pub fn describe(&self, idx: usize) -> String {
        match idx.checked_sub(1).and_then(|i| self.capture.get(i)) {
            Some(c) => format!("#{idx} {}", describe_frame(c)),
            None => format!("#{idx} (not kept in the capture)"),
        }
    }
}

/// A frame in one line: addresses, then what the payload says.
pub fn describe_frame(c: &Captured) -> String {
    let mut s = format!("{} ", c.at);
    match &c.frame {
        Frame::Arp(a) if a.request => {
            let _ = write!(
                s,
                "ARP who-has {} tell {} ({})",
                a.target_ip, a.sender_ip, a.sender_mac
            );
        }
        Frame::Arp(a) => {
            let _ = write!(s, "ARP {} is-at {}", a.sender_ip, a.sender_mac);
        }
        Frame::Udp(u) => {
            let _ = write!(s, "{} -> {} ", u.src, u.dst);
            s.push_str(&describe_payload(u.src, u.dst, &u.payload, c.wire_len));
        }
    }
    s
}

/// What a UDP payload says, by port: DHCP/BOOTP, TFTP, or its length.
/// `wire_len` is the payload's length on the wire (a captured TFTP DATA
/// keeps only its header).
pub fn describe_payload(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
    wire_len: usize,
) -> String {
    let ports = [src.port(), dst.port()];
    if ports.iter().any(|p| [67, 68, 4011].contains(p)) {
        return match DhcpMessage::parse(payload, ParseMode::Lax) {
            Ok(m) => describe_dhcp(&m),
            Err(e) => format!("malformed DHCP ({e}), {} bytes", payload.len()),
        };
    }
    match TftpPacket::parse(payload) {
        Ok(TftpPacket::Data { block, .. }) => {
            format!("TFTP DATA block={block} len={}", wire_len.max(4) - 4)
        }
        Ok(p) => describe_tftp(&p),
        Err(_) => format!("UDP {wire_len} bytes"),
    }
}

fn describe_dhcp(m: &DhcpMessage) -> String {
    let kind = m.message_type().map_or_else(
        || "BOOTP".to_string(),
        |t| format!("DHCP{t:?}").to_uppercase(),
    );
    let mut s = format!("{kind} xid={:#010x}", m.xid);
    for (name, ip) in [
        ("ciaddr", m.ciaddr),
        ("yiaddr", m.yiaddr),
        ("siaddr", m.siaddr),
    ] {
        if !ip.is_unspecified() {
            let _ = write!(s, " {name}={ip}");
        }
    }
    if let Some(mac) = m.client_mac() {
        let _ = write!(s, " chaddr={mac}");
    }
    if m.broadcast_flag() {
        s.push_str(" flags=B");
    }
    let file = String::from_utf8_lossy(&m.file);
    let file = file.trim_end_matches('\0');
    if !file.is_empty() {
        let _ = write!(s, " file={file:?}");
    }
    let codes: Vec<String> = m
        .options
        .iter()
        .map(|o| match o.code {
            code::VENDOR_CLASS | code::BOOTFILE_NAME | code::USER_CLASS => {
                format!("{}({:?})", o.code, String::from_utf8_lossy(&o.data))
            }
            code::VENDOR_SPECIFIC => format!("43({})", hex(&o.data)),
            c => c.to_string(),
        })
        .collect();
    let _ = write!(s, " opts {}", codes.join(","));
    s
}

fn describe_tftp(p: &TftpPacket) -> String {
    let opts = |o: &[(String, String)]| {
        o.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match p {
        TftpPacket::Rrq {
            filename,
            mode,
            options,
        } => format!("TFTP RRQ {filename:?} {mode} {}", opts(options))
            .trim_end()
            .to_string(),
        TftpPacket::Wrq {
            filename,
            mode,
            options,
        } => format!("TFTP WRQ {filename:?} {mode} {}", opts(options))
            .trim_end()
            .to_string(),
        TftpPacket::Data { block, data } => format!("TFTP DATA block={block} len={}", data.len()),
        TftpPacket::Ack { block } => format!("TFTP ACK block={block}"),
        TftpPacket::Error { code, message } => {
            format!("TFTP ERROR code={} {message:?}", code.code())
        }
        TftpPacket::Oack { options } => format!("TFTP OACK {}", opts(options)),
    }
}

/// Bytes as hex, shortened past 32 bytes.
pub fn hex(b: &[u8]) -> String {
    let mut s: String = b.iter().take(32).map(|x| format!("{x:02x}")).collect();
    if b.len() > 32 {
        let _ = write!(s, "…(+{})", b.len() - 32);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::testbed::{MemoryLink, ServerSpec};
    use pxelab_reference::L2Dest;

    #[test]
    fn nothing_is_sent_off_the_segment_under_test() {
        let server = Ipv4Addr::new(10, 0, 0, 1);
        let mut link = MemoryLink::new(vec![ServerSpec::tftp_only(server)]).unwrap();
        let mut bench = Bench::new(&mut link, None).unwrap();
        bench.confine(server, Ipv4Addr::new(255, 255, 255, 0));
        let me = Mac([2, 0x70, 0x78, 0, 0, 1]);
        let to = |ip: Ipv4Addr| Transmit {
            src: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 250), 2000),
            dst: SocketAddrV4::new(ip, 69),
            l2: L2Dest::Unicast(Mac::ZERO),
            payload: TftpPacket::Ack { block: 0 }.to_bytes(),
        };
        assert_eq!(
            bench.send(me, &to(Ipv4Addr::new(192, 0, 2, 9))).unwrap(),
            None
        );
        assert!(bench.capture().is_empty());
        // On the segment: ARP resolves the server, then the datagram goes.
        assert!(bench.send(me, &to(server)).unwrap().is_some());
        assert!(
            bench
                .capture()
                .iter()
                .any(|c| matches!(c.frame, Frame::Arp(ref a) if !a.request))
        );
    }
}
