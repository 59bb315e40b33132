//! Hand-made exchanges: a DISCOVER with chosen options, a REQUEST, a 4011
//! REQUEST, TFTP read requests with chosen options and injected faults.
//!
//! Each probe is a short, bounded conversation over the [`Bench`]: every
//! wait has a deadline and every loop a count, so a server that never
//! answers (or never stops answering) ends the probe, not the run. A probe
//! records what it saw, with capture indices; the checks judge the record.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pxelab_reference::tftp::Rollover;
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{
    CLIENT_PORT, DhcpMessage, FLAG_BROADCAST, MessageType, Op, PXE_PORT, SERVER_PORT, code,
};
use pxelab_reference::wire::pxe::{ClassKind, ClientNdi, ClientUuid, PxeClientClass, sub};
use pxelab_reference::wire::tftp::{ErrorCode, TftpPacket};
use pxelab_reference::{Instant, L2Dest, Mac, Transmit};

use super::bench::{Bench, Rx};
use super::link::LinkError;
use crate::firmware::Profile;

/// A DHCP message received by a probe.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Where it was in the capture.
    pub rx: Rx,
    /// The message (parsed leniently; strictness is a check of its own).
    pub msg: DhcpMessage,
}

impl Reply {
    /// Option 54, else the sender's address.
    pub fn server(&self) -> Ipv4Addr {
        self.msg.server_id().unwrap_or(*self.rx.udp.src.ip())
    }

    /// Whether option 60 says `PXEClient`.
    pub fn is_pxe(&self) -> bool {
        self.msg
            .option(code::VENDOR_CLASS)
            .is_some_and(|v| v.starts_with(b"PXEClient"))
    }

    /// The boot file: option 67, else `file` (honouring overload).
    pub fn boot_file(&self) -> Option<String> {
        let f = self.msg.boot_file()?;
        let s = String::from_utf8_lossy(&f)
            .trim_end_matches('\0')
            .to_string();
        (!s.is_empty()).then_some(s)
    }

    /// The TFTP server it names: siaddr, else option 66 as an address.
    pub fn tftp_server(&self) -> Option<Ipv4Addr> {
        if !self.msg.siaddr.is_unspecified() {
            return Some(self.msg.siaddr);
        }
        let o = self.msg.option(code::TFTP_SERVER_NAME)?;
        String::from_utf8_lossy(&o)
            .trim_end_matches('\0')
            .parse()
            .ok()
    }
}

/// What a DISCOVER should look like.
#[derive(Debug, Clone)]
pub struct DiscoverSpec {
    /// Whose identity (60, 93, 94, 55, 57, 77, 175) it carries.
    pub profile: Profile,
    /// Send option 60 `PXEClient…` (and 93/94/97); false: a plain DHCP client.
    pub pxe: bool,
    /// The broadcast flag (`None`: as the profile does).
    pub broadcast: Option<bool>,
    /// Option 57 (`None`: the profile's).
    pub max_size: Option<u16>,
}

/// A DHCP message as the client of `spec` would build it.
pub fn client_message(spec: &DiscoverSpec, mac: Mac, xid: u32, kind: MessageType) -> DhcpMessage {
    let p = &spec.profile;
    let mut chaddr = [0u8; 16];
    chaddr[..6].copy_from_slice(&mac.0);
    let mut m = DhcpMessage {
        op: Op::BootRequest,
        htype: 1,
        hlen: 6,
        hops: 0,
        xid,
        secs: 0,
        flags: if spec.broadcast.unwrap_or(p.broadcast_flag) {
            FLAG_BROADCAST
        } else {
            0
        },
        ciaddr: Ipv4Addr::UNSPECIFIED,
        yiaddr: Ipv4Addr::UNSPECIFIED,
        siaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        chaddr,
        sname: Vec::new(),
        file: Vec::new(),
        overload: Default::default(),
        options: Vec::new(),
    };
    m.set_message_type(kind);
    m.push_option(
        code::MAX_MESSAGE_SIZE,
        spec.max_size
            .unwrap_or(p.max_message_size)
            .to_be_bytes()
            .to_vec(),
    );
    m.push_option(
        code::PARAMETER_REQUEST_LIST,
        p.parameter_request_list.clone(),
    );
    if spec.pxe {
        let class = PxeClientClass {
            kind: ClassKind::Pxe,
            arch: p.arch,
            undi_major: u16::from(p.undi.0),
            undi_minor: u16::from(p.undi.1),
        };
        m.push_option(code::VENDOR_CLASS, class.emit());
        m.push_option(code::CLIENT_ARCH, p.arch.0.to_be_bytes().to_vec());
        m.push_option(
            code::CLIENT_NDI,
            ClientNdi {
                kind: 1,
                major: p.undi.0,
                minor: p.undi.1,
            }
            .emit(),
        );
        let mut guid = [0u8; 16];
        guid[10..].copy_from_slice(&mac.0);
        m.push_option(code::CLIENT_UUID, ClientUuid { kind: 0, guid }.emit());
    }
    if let Some(uc) = &p.user_class {
        m.push_option(code::USER_CLASS, uc.clone());
    }
    if let Some(f) = &p.ipxe_features {
        m.push_option(code::IPXE_ENCAP, f.clone());
    }
    m
}

/// A DORA by one probe client, and its 4011 exchange.
#[derive(Debug, Clone)]
pub struct Dora {
    /// The client's MAC.
    pub mac: Mac,
    /// Transaction id of the DISCOVER.
    pub xid: u32,
    /// What was asked.
    pub spec: DiscoverSpec,
    /// Capture index of the DISCOVER.
    pub discover: Option<usize>,
    /// When it went out.
    pub sent_at: Instant,
    /// Every BOOTP reply to this client's MAC during the offer window.
    pub offers: Vec<Reply>,
    /// The REQUEST (capture index), when one was sent.
    pub request: Option<usize>,
    /// The offer requested.
    pub requested: Option<Reply>,
    /// Replies to the REQUEST (ACK or NAK).
    pub acks: Vec<Reply>,
    /// The address leased.
    pub ip: Option<Ipv4Addr>,
}

/// Answers to one 4011 REQUEST.
#[derive(Debug, Clone)]
pub struct BootServerExchange {
    /// The REQUEST (capture index).
    pub request: Option<usize>,
    /// The xid sent.
    pub xid: u32,
    /// The boot item sent in 43.71 (type, layer); `None`: no option 43.
    pub item: Option<(u16, u16)>,
    /// When it went out.
    pub sent_at: Instant,
    /// The client address it came from.
    pub client: SocketAddrV4,
    /// Replies (to port 68 of the client).
    pub replies: Vec<Reply>,
}

/// How long a probe listens for offers after its DISCOVER (PXE 2.1 clients
/// wait 4 s before their second DISCOVER; a server answering later than that
/// loses the first round anyway).
pub const OFFER_WINDOW: Duration = Duration::from_secs(4);
/// How long a probe waits for one answer.
pub const ANSWER_WAIT: Duration = Duration::from_secs(3);

/// Sends a DISCOVER and collects every reply to `mac` until the window ends.
pub fn discover(
    bench: &mut Bench<'_>,
    spec: &DiscoverSpec,
    mac: Mac,
    xid: u32,
    window: Duration,
) -> Result<Dora, LinkError> {
    bench.register(mac);
    let m = client_message(spec, mac, xid, MessageType::Discover);
    let t = Transmit {
        src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT),
        dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
        l2: L2Dest::Broadcast,
        payload: m.emit(),
    };
    let sent_at = bench.now();
    let discover = bench.send(mac, &t)?;
    let offers = collect(bench, mac, None, sent_at + window, usize::MAX)?;
    Ok(Dora {
        mac,
        xid,
        spec: spec.clone(),
        discover,
        sent_at,
        offers,
        request: None,
        requested: None,
        acks: Vec::new(),
        ip: None,
    })
}

/// BOOTP replies to `mac` (from `from` when given) until `until` or `max` replies.
pub fn collect(
    bench: &mut Bench<'_>,
    mac: Mac,
    from: Option<Ipv4Addr>,
    until: Instant,
    max: usize,
) -> Result<Vec<Reply>, LinkError> {
    let mut out = Vec::new();
    // Bounded by the deadline; the count bounds a flood.
    for _ in 0..10_000 {
        if out.len() >= max {
            break;
        }
        let Some(rx) = bench.recv(until)? else { break };
        if rx.udp.dst.port() != CLIENT_PORT {
            continue;
        }
        let Ok(msg) = DhcpMessage::parse(&rx.udp.payload, ParseMode::Lax) else {
            continue;
        };
        if msg.op != Op::BootReply || msg.client_mac() != Some(mac) {
            continue;
        }
        let r = Reply { rx, msg };
        if from.is_some_and(|f| r.server() != f && *r.rx.udp.src.ip() != f) {
            continue;
        }
        out.push(r);
    }
    Ok(out)
}

/// Requests `offer` (SELECTING, RFC 2131 §4.3.2) and waits for the ACK; on
/// an ACK the client owns the address (it answers ARP for it).
pub fn request(bench: &mut Bench<'_>, dora: &mut Dora, offer: &Reply) -> Result<(), LinkError> {
    let server = offer.server();
    let mut m = client_message(&dora.spec, dora.mac, dora.xid, MessageType::Request);
    m.push_option(code::REQUESTED_IP, offer.msg.yiaddr.octets().to_vec());
    m.push_option(code::SERVER_ID, server.octets().to_vec());
    let t = Transmit {
        src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT),
        dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
        l2: L2Dest::Broadcast,
        payload: m.emit(),
    };
    dora.requested = Some(offer.clone());
    for _ in 0..2 {
        let idx = bench.send(dora.mac, &t)?;
        dora.request = dora.request.or(idx);
        let until = bench.now() + ANSWER_WAIT;
        let replies = collect(bench, dora.mac, Some(server), until, 1)?;
        let done = !replies.is_empty();
        dora.acks.extend(replies);
        if done {
            break;
        }
    }
    if let Some(ack) = dora
        .acks
        .iter()
        .find(|a| a.msg.message_type() == Some(MessageType::Ack))
    {
        dora.ip = Some(ack.msg.yiaddr);
        bench.own(ack.msg.yiaddr, dora.mac);
    }
    Ok(())
}

/// Sends a DHCPREQUEST to `server`:4011 from the bound client (PXE 2.1
/// §2.2.5 step 6), with 43.71 asking for boot server `item`, or with no
/// option 43 at all (`None`: what EDK2 sends after an offer without a menu).
pub fn boot_server_request(
    bench: &mut Bench<'_>,
    dora: &Dora,
    server: Ipv4Addr,
    xid: u32,
    item: Option<(u16, u16)>,
) -> Result<Option<BootServerExchange>, LinkError> {
    let Some(ip) = dora.ip else { return Ok(None) };
    let mut m = client_message(&dora.spec, dora.mac, xid, MessageType::Request);
    m.ciaddr = ip;
    m.flags = 0;
    if let Some((kind, layer)) = item {
        let mut o43 = vec![sub::BOOT_ITEM, 4];
        o43.extend_from_slice(&kind.to_be_bytes());
        o43.extend_from_slice(&layer.to_be_bytes());
        o43.push(255);
        m.push_option(code::VENDOR_SPECIFIC, o43);
    }
    let client = SocketAddrV4::new(ip, CLIENT_PORT);
    let t = Transmit {
        src: client,
        dst: SocketAddrV4::new(server, PXE_PORT),
        l2: L2Dest::Unicast(bench.mac_of(server).unwrap_or(Mac::ZERO)),
        payload: m.emit(),
    };
    let sent_at = bench.now();
    let request = bench.send(dora.mac, &t)?;
    let mut replies = Vec::new();
    if request.is_some() {
        replies = collect(bench, dora.mac, None, sent_at + ANSWER_WAIT, 1)?;
    }
    Ok(Some(BootServerExchange {
        request,
        xid,
        item,
        sent_at,
        client,
        replies,
    }))
}

// ------------------------------------------------------------------ TFTP

/// A fault the probe injects into a TFTP read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Behave.
    None,
    /// Never send the first ACK of this block (the server must retransmit).
    DropAck(u16),
    /// Send the ACK of this block twice (the server must not send the next
    /// block twice: the Sorcerer's Apprentice).
    DuplicateAck(u16),
    /// After the OACK, send ERROR 8 (EDK2's tsize probe) and watch.
    AbortAfterOack,
    /// After the first DATA, go silent and watch the server give up.
    Vanish,
    /// After the ACK of this block, send an ACK from another port to the
    /// server's TID (it must answer ERROR 5 there and carry on, RFC 1350 §4).
    StrangerAck(u16),
}

/// A TFTP read as the probe saw it.
#[derive(Debug, Clone, Default)]
pub struct Transfer {
    /// The first RRQ (capture index).
    pub rrq: Option<usize>,
    /// When the RRQ went out.
    pub sent_at: Option<Instant>,
    /// When the first answer arrived.
    pub first_answer_at: Option<Instant>,
    /// The server's TID (address and port of its first answer).
    pub tid: Option<SocketAddrV4>,
    /// The OACK, with its capture index.
    pub oack: Option<(usize, Vec<(String, String)>)>,
    /// An ERROR from the server: capture index, code, message.
    pub error: Option<(usize, u16, String)>,
    /// Every DATA received: capture index, time, wire block, length, sender.
    pub data: Vec<(usize, Instant, u16, usize, SocketAddrV4)>,
    /// Block size in force.
    pub blksize: u16,
    /// Window size in force.
    pub windowsize: u16,
    /// Bytes of the file received in order.
    pub bytes: u64,
    /// Blocks received in order.
    pub blocks: u64,
    /// The last (short) block arrived and was acknowledged.
    pub completed: bool,
    /// Why the probe stopped early.
    pub stopped: Option<String>,
    /// Copies of the block after a duplicated ACK that arrived before the
    /// probe acknowledged it (capture indices).
    pub after_duplicate_ack: Vec<usize>,
    /// DATA that arrived after the probe's ERROR 8 or after it vanished.
    pub after_abort: Vec<usize>,
    /// The probe's ERROR (capture index).
    pub abort: Option<usize>,
    /// Time from going silent to the last retransmission, and whether the
    /// server fell silent before the probe stopped watching.
    pub vanish: Option<(Duration, bool)>,
    /// Answer to the stranger's ACK: capture index and error code.
    pub stranger_reply: Option<(usize, u16)>,
    /// The stranger's ACK (capture index), once sent.
    pub stranger_sent: Option<usize>,
    /// Wire block number that followed 65535 (0 or 1), when the file was that long.
    pub rollover_to: Option<u16>,
    /// Answers from a second server TID (a second session for one RRQ).
    pub other_tids: Vec<usize>,
}

/// A TFTP read request to run.
#[derive(Debug, Clone)]
pub struct ReadSpec {
    /// The client's MAC and address.
    pub mac: Mac,
    /// Source address.
    pub local: SocketAddrV4,
    /// The server (port 69).
    pub server: Ipv4Addr,
    /// File name as sent.
    pub file: String,
    /// Options, in order.
    pub options: Vec<(String, String)>,
    /// The fault to inject.
    pub fault: Fault,
    /// Send the RRQ twice back to back (a retransmitted request).
    pub double_rrq: bool,
    /// Stop after this many blocks (a bound for large files).
    pub max_blocks: u64,
}

/// How long the probe waits for the next packet before it re-sends its last
/// ACK (servers retransmit after about a second; RFC 2349 allows up to 255).
const TFTP_WAIT: Duration = Duration::from_secs(3);
/// Re-sends of the last ACK before the probe gives up.
const TFTP_RETRIES: u32 = 4;
/// How long the probe watches after vanishing: longer than any server's
/// retries, bounded so the run ends.
pub const VANISH_WATCH: Duration = Duration::from_secs(90);
/// Silence that counts as "the server gave up".
pub const VANISH_QUIET: Duration = Duration::from_secs(20);

fn tftp_send(
    bench: &mut Bench<'_>,
    mac: Mac,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    p: &TftpPacket,
) -> Result<Option<usize>, LinkError> {
    let l2 = L2Dest::Unicast(bench.mac_of(*dst.ip()).unwrap_or(Mac::ZERO));
    bench.send(
        mac,
        &Transmit {
            src,
            dst,
            l2,
            payload: p.to_bytes(),
        },
    )
}

/// The next TFTP packet to one of `ports` of the client from `server`.
fn tftp_next(
    bench: &mut Bench<'_>,
    local: SocketAddrV4,
    ports: &[u16],
    server: Ipv4Addr,
    until: Instant,
) -> Result<Option<(Rx, TftpPacket)>, LinkError> {
    for _ in 0..100_000 {
        let Some(rx) = bench.recv(until)? else {
            return Ok(None);
        };
        if *rx.udp.src.ip() != server
            || *rx.udp.dst.ip() != *local.ip()
            || !ports.contains(&rx.udp.dst.port())
        {
            continue;
        }
        if let Ok(p) = TftpPacket::parse(&rx.udp.payload) {
            return Ok(Some((rx, p)));
        }
    }
    Ok(None)
}

fn option_u16(options: &[(String, String)], name: &str) -> Option<u16> {
    options
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.parse().ok())
}

/// Runs a TFTP read with `spec`'s options and fault, and records it.
pub fn read(bench: &mut Bench<'_>, spec: &ReadSpec) -> Result<Transfer, LinkError> {
    let mut tr = Transfer {
        blksize: 512,
        windowsize: 1,
        ..Transfer::default()
    };
    bench.register(spec.mac);
    let rrq = TftpPacket::Rrq {
        filename: spec.file.clone(),
        mode: "octet".into(),
        options: spec.options.clone(),
    };
    let to69 = SocketAddrV4::new(spec.server, 69);
    let stranger = SocketAddrV4::new(
        *spec.local.ip(),
        spec.local.port().wrapping_add(1).max(1024),
    );
    let ports = [spec.local.port(), stranger.port()];
    // The first answer, re-sending the RRQ when none comes.
    let mut first = None;
    for attempt in 0..3 {
        let idx = tftp_send(bench, spec.mac, spec.local, to69, &rrq)?;
        if attempt == 0 {
            tr.rrq = idx;
            tr.sent_at = Some(bench.now());
            if spec.double_rrq {
                tftp_send(bench, spec.mac, spec.local, to69, &rrq)?;
            }
        }
        let until = bench.now() + TFTP_WAIT;
        if let Some(got) = tftp_next(bench, spec.local, &ports, spec.server, until)? {
            first = Some(got);
            break;
        }
    }
    let Some((rx, packet)) = first else {
        tr.stopped = Some("no answer to the RRQ (3 tries)".into());
        return Ok(tr);
    };
    tr.first_answer_at = Some(rx.at);
    let tid = rx.udp.src;
    tr.tid = Some(tid);
    let mut pending = Some((rx, packet));
    let mut last_ack: Option<TftpPacket> = None;
    let mut retries = 0;
    let mut dropped = false;
    let mut duplicated = false;
    let mut in_window = 0u16;
    // Bounded by the file: max_blocks, plus retransmissions and waits.
    for _ in 0..(spec.max_blocks.saturating_mul(4).saturating_add(1000)) {
        let (rx, packet) = match pending.take() {
            Some(p) => p,
            None => {
                let until = bench.now() + TFTP_WAIT;
                match tftp_next(bench, spec.local, &ports, spec.server, until)? {
                    Some(p) => p,
                    None => {
                        retries += 1;
                        if retries > TFTP_RETRIES {
                            tr.stopped = Some(format!(
                                "no DATA after block {} ({} re-sent ACKs)",
                                tr.blocks, TFTP_RETRIES
                            ));
                            return Ok(tr);
                        }
                        if let Some(a) = &last_ack {
                            tftp_send(bench, spec.mac, spec.local, tid, a)?;
                        }
                        continue;
                    }
                }
            }
        };
        if rx.udp.src != tid {
            if rx.udp.dst.port() == stranger.port() {
                if let TftpPacket::Error { code, .. } = &packet {
                    tr.stranger_reply = Some((rx.idx, code.code()));
                }
            } else if !matches!(packet, TftpPacket::Error { .. }) {
                tr.other_tids.push(rx.idx);
            }
            continue;
        }
        if rx.udp.dst.port() == stranger.port() {
            if let TftpPacket::Error { code, .. } = &packet {
                tr.stranger_reply = Some((rx.idx, code.code()));
            }
            continue;
        }
        retries = 0;
        match packet {
            TftpPacket::Error { code, message } => {
                tr.error = Some((rx.idx, code.code(), message));
                return Ok(tr);
            }
            TftpPacket::Oack { options } => {
                if tr.oack.is_some() || tr.blocks > 0 {
                    continue;
                }
                tr.blksize = option_u16(&options, "blksize").unwrap_or(512);
                tr.windowsize = option_u16(&options, "windowsize").unwrap_or(1).max(1);
                tr.oack = Some((rx.idx, options));
                if spec.fault == Fault::AbortAfterOack {
                    let err = TftpPacket::Error {
                        code: ErrorCode::OptionRefused,
                        message: "tsize probe".into(),
                    };
                    tr.abort = tftp_send(bench, spec.mac, spec.local, tid, &err)?;
                    watch_after(bench, spec, tid, &ports, &mut tr, Duration::from_secs(5))?;
                    return Ok(tr);
                }
                let ack = TftpPacket::Ack { block: 0 };
                tftp_send(bench, spec.mac, spec.local, tid, &ack)?;
                last_ack = Some(ack);
            }
            TftpPacket::Data { block, data } => {
                tr.data.push((rx.idx, rx.at, block, data.len(), rx.udp.src));
                let expected_abs = tr.blocks + 1;
                let expected = Rollover::ToZero.wire(expected_abs);
                let rolled_to_one = expected_abs == 65536 && block == 1;
                if block != expected && !rolled_to_one {
                    // Duplicate or out of order: the ACK timer recovers.
                    if spec.fault == Fault::DuplicateAck(block.wrapping_sub(1)) && duplicated {
                        tr.after_duplicate_ack.push(rx.idx);
                    }
                    continue;
                }
                if expected_abs == 65536 {
                    tr.rollover_to = Some(block);
                }
                tr.blocks += 1;
                tr.bytes += data.len() as u64;
                in_window += 1;
                let last = data.len() < usize::from(tr.blksize);
                if spec.fault == Fault::Vanish {
                    tr.abort = Some(rx.idx);
                    watch_vanish(bench, spec, tid, &ports, &mut tr)?;
                    return Ok(tr);
                }
                if !(last || in_window >= tr.windowsize) {
                    continue;
                }
                in_window = 0;
                let ack = TftpPacket::Ack { block };
                if spec.fault == Fault::DropAck(block) && !dropped {
                    dropped = true;
                    tr.blocks -= 1;
                    tr.bytes -= data.len() as u64;
                    last_ack = Some(ack);
                    continue;
                }
                tftp_send(bench, spec.mac, spec.local, tid, &ack)?;
                if spec.fault == Fault::DuplicateAck(block) && !duplicated && !last {
                    duplicated = true;
                    tftp_send(bench, spec.mac, spec.local, tid, &ack)?;
                    // Watch a little less than a retransmission timeout: a
                    // second copy of the next block before then answers
                    // the duplicate ACK.
                    let until = bench.now() + Duration::from_millis(700);
                    let mut next = None;
                    while let Some((r, p)) =
                        tftp_next(bench, spec.local, &ports, spec.server, until)?
                    {
                        if let TftpPacket::Data { block: b, .. } = &p
                            && *b == block.wrapping_add(1)
                            && r.udp.src == tid
                        {
                            if next.is_none() {
                                next = Some((r, p));
                            } else {
                                tr.after_duplicate_ack.push(r.idx);
                            }
                        }
                    }
                    pending = next;
                }
                if spec.fault == Fault::StrangerAck(block) && tr.stranger_sent.is_none() {
                    tr.stranger_sent = tftp_send(bench, spec.mac, stranger, tid, &ack)?;
                }
                last_ack = Some(ack);
                if last {
                    tr.completed = true;
                    return Ok(tr);
                }
                if tr.blocks >= spec.max_blocks {
                    tr.stopped = Some(format!("stopped after {} blocks", tr.blocks));
                    let err = TftpPacket::Error {
                        code: ErrorCode::NotDefined,
                        message: "enough".into(),
                    };
                    tftp_send(bench, spec.mac, spec.local, tid, &err)?;
                    return Ok(tr);
                }
            }
            _ => {}
        }
    }
    tr.stopped = Some("packet limit reached".into());
    Ok(tr)
}

/// After an ERROR from the probe: any DATA from the session is a violation.
fn watch_after(
    bench: &mut Bench<'_>,
    spec: &ReadSpec,
    tid: SocketAddrV4,
    ports: &[u16],
    tr: &mut Transfer,
    watch: Duration,
) -> Result<(), LinkError> {
    let until = bench.now() + watch;
    while let Some((rx, p)) = tftp_next(bench, spec.local, ports, spec.server, until)? {
        if rx.udp.src == tid && matches!(p, TftpPacket::Data { .. } | TftpPacket::Oack { .. }) {
            tr.after_abort.push(rx.idx);
        }
    }
    Ok(())
}

/// After going silent: the server should retransmit, then give up.
fn watch_vanish(
    bench: &mut Bench<'_>,
    spec: &ReadSpec,
    tid: SocketAddrV4,
    ports: &[u16],
    tr: &mut Transfer,
) -> Result<(), LinkError> {
    let start = bench.now();
    let end = start + VANISH_WATCH;
    let mut last = start;
    loop {
        let until = (bench.now() + VANISH_QUIET).min(end);
        match tftp_next(bench, spec.local, ports, spec.server, until)? {
            Some((rx, _)) if rx.udp.src == tid => {
                tr.after_abort.push(rx.idx);
                last = rx.at;
            }
            Some(_) => {}
            None => {
                let quiet = bench.now() - last >= VANISH_QUIET;
                tr.vanish = Some((last - start, quiet));
                return Ok(());
            }
        }
        if bench.now() >= end {
            tr.vanish = Some((last - start, false));
            return Ok(());
        }
    }
}
