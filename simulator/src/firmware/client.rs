//! The PXE client firmware machine (sans-IO).
//!
//! One machine for every profile: DISCOVER on the profile's schedule, offers
//! collected and chosen by the profile's rule (`offer.rs`), DHCPREQUEST, then
//! the boot file from the chosen offer, from a ProxyDHCP/BINL server on UDP
//! 4011, or from a boot server found by discovery (43.6–10), and finally the
//! NBP over TFTP through the reference [`TftpClient`]. The machine owns no clock
//! and no randomness but the rng handed to [`Firmware::new`] (xid, TFTP port).

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use pxelab_reference::tftp::{ClientEvent, ClientFailure, ClientOptions, TftpClient};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{
    CLIENT_PORT, DhcpMessage, FLAG_BROADCAST, MessageType, Op, PXE_PORT, SERVER_PORT, code,
};
use pxelab_reference::wire::pxe::{
    BootItem, ClassKind, ClientArch, PxeClientClass, PxeVendorOptions,
};
use pxelab_reference::wire::tftp::ErrorCode;
use pxelab_reference::{Datagram, Instant, L2Dest, Mac, Transmit};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::error::PxeError;
use super::offer::{self, BootSource, Decision, Moment, Offer, OfferKind, Plan};
use super::profile::{OfferRule, Profile};
use super::quirk::{MIN_REPLY_LATENCY, Quirk};

const TFTP_PORT: u16 = 69;
/// Restarts of discovery after a DHCPNAK before the client gives up.
const MAX_RESTARTS: u32 = 3;

/// Who the machine is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The NIC's MAC (chaddr).
    pub mac: Mac,
    /// The SMBIOS UUID for option 97 (`None`: unreadable).
    pub uuid: Option<[u8; 16]>,
}

/// What the firmware did, for reports (one line each on the machine's screen).
#[derive(Debug, Clone, PartialEq)]
pub enum FirmwareEvent {
    /// A DHCPDISCOVER went out (`attempt` counts from 1; one xid per round).
    Discover {
        /// Transaction id.
        xid: u32,
        /// 1 for the first DISCOVER of the round.
        attempt: u32,
    },
    /// An offer arrived during discovery.
    Offer {
        /// Option 54, else the sender.
        server: Ipv4Addr,
        /// Offered address (0 for ProxyDHCP).
        yiaddr: Ipv4Addr,
        /// How the firmware classified it.
        kind: OfferKind,
    },
    /// The offer rule chose.
    Selected {
        /// Server id of the DHCP offer taken.
        dhcp: Ipv4Addr,
        /// Server id of the ProxyDHCP offer used with it.
        proxy: Option<Ipv4Addr>,
    },
    /// DHCPACK received: the address is the client's.
    Bound {
        /// Leased address.
        ip: Ipv4Addr,
        /// Server that acknowledged.
        server: Ipv4Addr,
    },
    /// A DHCPREQUEST to a ProxyDHCP/boot server (4011) or a discovery broadcast (67).
    BootServerRequest {
        /// Destination address (a multicast group, 255.255.255.255 or a server).
        server: Ipv4Addr,
        /// Destination port.
        port: u16,
    },
    /// The boot file is known.
    BootFile {
        /// TFTP server.
        tftp_server: Ipv4Addr,
        /// File name.
        file: String,
        /// The server whose packet named it.
        named_by: Ipv4Addr,
    },
    /// The NBP is in memory: the world executes it. The firmware is finished.
    Loaded {
        /// TFTP server.
        tftp_server: Ipv4Addr,
        /// File name.
        file: String,
        /// Size.
        bytes: u64,
    },
    /// The first menu item is local boot (type 0): the firmware hands over to the
    /// next boot device. The firmware is finished.
    LocalBoot {
        /// The menu item's text.
        item: String,
    },
    /// The firmware gave up. The firmware is finished.
    Failed {
        /// What the screen says.
        error: PxeError,
        /// What the client saw, for the report.
        detail: String,
    },
}

impl std::fmt::Display for FirmwareEvent {
    /// One line for a report, in the words of the machine's screen.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FirmwareEvent::Discover { xid, attempt } => {
                write!(f, "DHCPDISCOVER xid {xid:#010x} (try {attempt})")
            }
            FirmwareEvent::Offer {
                server,
                yiaddr,
                kind,
            } => {
                if yiaddr.is_unspecified() {
                    write!(f, "offer from {server}: {kind}")
                } else {
                    write!(f, "offer from {server}: {yiaddr}, {kind}")
                }
            }
            FirmwareEvent::Selected { dhcp, proxy: None } => write!(f, "chose {dhcp}"),
            FirmwareEvent::Selected {
                dhcp,
                proxy: Some(p),
            } => write!(f, "chose {dhcp} with ProxyDHCP {p}"),
            FirmwareEvent::Bound { ip, server } => write!(f, "bound {ip} from {server}"),
            FirmwareEvent::BootServerRequest { server, port } => {
                write!(f, "DHCPREQUEST to {server}:{port}")
            }
            FirmwareEvent::BootFile {
                tftp_server,
                file,
                named_by,
            } => write!(f, "boot file {file} on {tftp_server} (named by {named_by})"),
            FirmwareEvent::Loaded {
                tftp_server,
                file,
                bytes,
            } => write!(f, "loaded {file} from {tftp_server} ({bytes} bytes)"),
            FirmwareEvent::LocalBoot { item } => write!(f, "local boot: {item}"),
            FirmwareEvent::Failed { error, detail } => write!(f, "{error} ({detail})"),
        }
    }
}

#[derive(Debug)]
enum Phase {
    Off,
    /// Powered on, waiting for the profile's start delay.
    Starting,
    /// DISCOVER timeout number `window` running.
    Discovering {
        window: usize,
    },
    Requesting {
        attempt: usize,
        plan: Plan,
    },
    /// DHCPREQUEST on 4011 to `servers[index]`.
    ProxyRequest {
        servers: Vec<Ipv4Addr>,
        index: usize,
        attempt: usize,
    },
    /// Waiting out the 43.10 prompt before taking the first menu item.
    Prompt {
        vendor: Box<PxeVendorOptions>,
    },
    /// 43.71 REQUESTs for `item`.
    BootDiscovery {
        item: BootItem,
        targets: Vec<(SocketAddrV4, L2Dest)>,
        listed: Option<Vec<Ipv4Addr>>,
        attempt: usize,
    },
    Tftp {
        client: Box<TftpClient>,
        server: Ipv4Addr,
        file: String,
    },
    Done,
}

/// A PXE client firmware: sans-IO, driven by the world.
#[derive(Debug)]
pub struct Firmware {
    profile: Arc<Profile>,
    id: Identity,
    rng: ChaCha8Rng,
    ports: [u16; 2],
    xid: u32,
    phase: Phase,
    deadline: Option<Instant>,
    /// First DISCOVER of the current round.
    started: Instant,
    /// The latest DISCOVER (Q13: replies too soon after it are lost).
    last_discover: Instant,
    offers: Vec<Offer>,
    /// Offers seen this round: (all, with an address).
    seen: (u32, u32),
    /// Why offers were dropped, for the failure detail.
    notes: Vec<String>,
    ip: Option<Ipv4Addr>,
    ack: Option<DhcpMessage>,
    restarts: u32,
    out: VecDeque<Transmit>,
    events: VecDeque<FirmwareEvent>,
}

impl Firmware {
    /// A powered-off machine. The TFTP client port is drawn now (unless the
    /// profile fixes it), so [`Firmware::listens_on`] never changes.
    pub fn new(profile: Arc<Profile>, id: Identity, mut rng: ChaCha8Rng) -> Self {
        let tftp_port = profile
            .tftp_port
            .unwrap_or_else(|| 1024 + (rng.next_u32() % (65535 - 1024)) as u16);
        Firmware {
            profile,
            id,
            rng,
            ports: [CLIENT_PORT, tftp_port],
            xid: 0,
            phase: Phase::Off,
            deadline: None,
            started: Instant::ZERO,
            last_discover: Instant::ZERO,
            offers: Vec::new(),
            seen: (0, 0),
            notes: Vec::new(),
            ip: None,
            ack: None,
            restarts: 0,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Power on: the first DISCOVER goes out now, or after the profile's start delay.
    pub fn power_on(&mut self, now: Instant) {
        if !matches!(self.phase, Phase::Off) {
            return;
        }
        if self.profile.start_delay.is_zero() {
            self.start_discovery(now);
        } else {
            self.phase = Phase::Starting;
            self.deadline = Some(now + self.profile.start_delay);
        }
    }

    // ------------------------------------------------------------ messages

    /// The GUID this firmware sends in option 97: the machine's SMBIOS UUID as
    /// the profile and its quirks present it (none, zeros, EDK2's zero
    /// fallback when unknown).
    pub fn uuid(&self) -> Option<[u8; 16]> {
        let p = &self.profile;
        if p.has(Quirk::NoUuid) {
            None
        } else if p.has(Quirk::ZeroUuid) {
            Some([0; 16])
        } else {
            self.id.uuid.or(p.zero_uuid_when_unknown.then_some([0; 16]))
        }
    }

    /// A client message with the profile's identity options in its order;
    /// `extra` (50, 54, 43) follows option 53, except the codes the profile's
    /// order lists itself (iPXE writes 54 and 50 last, after 97).
    fn message(&self, kind: MessageType, extra: Vec<(u8, Vec<u8>)>) -> DhcpMessage {
        self.message_in(kind, extra, &self.profile.option_order)
    }

    /// [`Self::message`] with the options in `order` instead of the profile's.
    fn message_in(
        &self,
        kind: MessageType,
        extra: Vec<(u8, Vec<u8>)>,
        order: &[u8],
    ) -> DhcpMessage {
        let p = &self.profile;
        let mut m = DhcpMessage {
            op: Op::BootRequest,
            xid: self.xid,
            flags: if p.broadcast_flag { FLAG_BROADCAST } else { 0 },
            ..DhcpMessage::default()
        };
        m.chaddr[..6].copy_from_slice(&self.id.mac.0);
        let (mut listed, unlisted): (Vec<_>, Vec<_>) =
            extra.into_iter().partition(|(c, _)| order.contains(c));
        let mut extra = Some(unlisted);
        for &c in order {
            match c {
                code::MESSAGE_TYPE => {
                    m.push_option(code::MESSAGE_TYPE, [u8::from(kind)]);
                    for (c, d) in extra.take().unwrap_or_default() {
                        m.push_option(c, d);
                    }
                }
                code::MAX_MESSAGE_SIZE => {
                    m.push_option(c, p.max_message_size.to_be_bytes());
                }
                code::PARAMETER_REQUEST_LIST => {
                    m.push_option(c, p.parameter_request_list.clone());
                }
                code::VENDOR_CLASS => {
                    let class = PxeClientClass {
                        kind: ClassKind::Pxe,
                        arch: self.announced_arch(),
                        undi_major: u16::from(p.undi.0),
                        undi_minor: u16::from(p.undi.1),
                    };
                    let mut v = class.emit();
                    // Q15: same layout, another vendor prefix.
                    if p.has(Quirk::HwClientVendorClass)
                        && let Some(rest) = v.strip_prefix(b"PXEClient".as_slice())
                    {
                        v = [b"HW-Client".as_slice(), rest].concat();
                    }
                    m.push_option(c, v);
                }
                code::CLIENT_ARCH => m.push_option(c, self.announced_arch().0.to_be_bytes()),
                code::CLIENT_NDI => m.push_option(c, [1, p.undi.0, p.undi.1]),
                code::CLIENT_UUID => {
                    if let Some(g) = self.uuid() {
                        let mut v = vec![0u8];
                        v.extend_from_slice(&g);
                        m.push_option(c, v);
                    }
                }
                code::USER_CLASS => {
                    if let Some(u) = &p.user_class {
                        m.push_option(c, u.clone());
                    }
                }
                code::IPXE_ENCAP => {
                    if let Some(f) = &p.ipxe_features {
                        m.push_option(c, f.clone());
                    }
                }
                // RFC 2132 §9.14 with hardware type 1 (Ethernet) and the MAC,
                // as iPXE writes it (tests/fixtures/firmware).
                code::CLIENT_ID => {
                    let mut v = vec![1u8];
                    v.extend_from_slice(&self.id.mac.0);
                    m.push_option(c, v);
                }
                _ => {
                    if let Some(i) = listed.iter().position(|(x, _)| *x == c) {
                        let (c, d) = listed.remove(i);
                        m.push_option(c, d);
                    }
                }
            }
        }
        for (c, d) in extra.take().unwrap_or_default().into_iter().chain(listed) {
            m.push_option(c, d);
        }
        m
    }

    /// The architecture options 93 and 60 announce: the profile's, or x86
    /// BIOS for a client that misreports it (Q16).
    fn announced_arch(&self) -> ClientArch {
        if self.profile.has(Quirk::WrongArchOption93) {
            ClientArch::X86_BIOS
        } else {
            self.profile.arch
        }
    }

    fn secs(&self, now: Instant) -> u16 {
        u16::try_from((now - self.started).as_secs()).unwrap_or(u16::MAX)
    }

    /// A DHCPREQUEST to a boot server (4011, or a 43.71 discovery), in the
    /// profile's order for those when it has one.
    fn boot_request(&self, extra: Vec<(u8, Vec<u8>)>) -> DhcpMessage {
        let p = &self.profile;
        let order = p.boot_request_order.as_deref().unwrap_or(&p.option_order);
        self.message_in(MessageType::Request, extra, order)
    }

    fn broadcast(&mut self, m: &DhcpMessage) {
        self.out.push_back(Transmit {
            src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT),
            dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
            l2: L2Dest::Broadcast,
            payload: m.emit(),
        });
    }

    fn fail(&mut self, error: PxeError, detail: String) {
        self.phase = Phase::Done;
        self.deadline = None;
        self.events
            .push_back(FirmwareEvent::Failed { error, detail });
    }

    fn is_ipxe(&self) -> bool {
        self.profile.offer_rule == OfferRule::Ipxe
    }

    /// The error for "DHCP got nowhere": iPXE's own text, else `intel`.
    fn dhcp_error(&self, intel: PxeError) -> PxeError {
        if self.is_ipxe() {
            PxeError::IpxeNoConfig
        } else {
            intel
        }
    }

    /// The error for "the boot file did not arrive": iPXE says it could not
    /// boot (the detail gives its reason), a ROM prints `intel`.
    fn download_error(&self, intel: PxeError) -> PxeError {
        if self.is_ipxe() {
            PxeError::IpxeCouldNotBoot
        } else {
            intel
        }
    }

    fn no_file_error(&self) -> PxeError {
        if self.is_ipxe() {
            PxeError::IpxeNothingToBoot
        } else {
            PxeError::E53
        }
    }

    // ------------------------------------------------------------ discovery

    fn start_discovery(&mut self, now: Instant) {
        self.xid = self.rng.next_u32();
        self.started = now;
        self.offers.clear();
        self.seen = (0, 0);
        self.notes.clear();
        self.ip = None;
        self.ack = None;
        self.phase = Phase::Discovering { window: 0 };
        self.send_discover(now, 0);
    }

    fn send_discover(&mut self, now: Instant, window: usize) {
        let mut m = self.message(MessageType::Discover, Vec::new());
        m.secs = self.secs(now);
        self.broadcast(&m);
        self.last_discover = now;
        self.events.push_back(FirmwareEvent::Discover {
            xid: self.xid,
            attempt: window as u32 + 1,
        });
        self.deadline = Some(now + nth(&self.profile.discover_timeouts, window));
    }

    fn on_offer(&mut self, now: Instant, msg: DhcpMessage, src: SocketAddrV4) {
        let Phase::Discovering { window } = self.phase else {
            return;
        };
        if self.profile.has(Quirk::MinReplyLatency) && now - self.last_discover < MIN_REPLY_LATENCY
        {
            self.note(format!(
                "reply from {} lost: it came within {} ms of the DISCOVER (Q13)",
                src.ip(),
                MIN_REPLY_LATENCY.as_millis()
            ));
            return;
        }
        let Some(kind) = offer::classify(&msg) else {
            self.note(format!(
                "reply from {} ignored: no address and no PXEClient",
                src.ip()
            ));
            return;
        };
        let o = Offer::new(msg, kind, *src.ip(), src.port(), now);
        self.seen.0 += 1;
        if kind.is_dhcp() {
            self.seen.1 += 1;
        }
        self.events.push_back(FirmwareEvent::Offer {
            server: o.server,
            yiaddr: o.msg.yiaddr,
            kind,
        });
        match offer::keeps(&self.profile, &self.offers, &o) {
            Ok(()) => self.offers.push(o),
            Err(why) => {
                self.note(format!("{} offer from {}: {why}", kind, o.server));
                return;
            }
        }
        let m = Moment {
            now,
            started: self.started,
            window,
            window_ended: false,
        };
        let d = offer::decide(&self.profile, &self.offers, &m);
        self.apply(now, d);
    }

    /// Remembers why an offer was not used (once per reason: servers answer
    /// every retransmitted DISCOVER again).
    fn note(&mut self, why: String) {
        if !self.notes.contains(&why) {
            self.notes.push(why);
        }
    }

    fn discovery_timeout(&mut self, now: Instant, window: usize) {
        let m = Moment {
            now,
            started: self.started,
            window,
            window_ended: true,
        };
        match offer::decide(&self.profile, &self.offers, &m) {
            Decision::Wait if window + 1 < self.profile.discover_timeouts.len() => {
                self.phase = Phase::Discovering { window: window + 1 };
                self.send_discover(now, window + 1);
            }
            Decision::Wait => self.give_up_discovery(now),
            d => self.apply(now, d),
        }
    }

    fn give_up_discovery(&mut self, now: Instant) {
        let (all, dhcp) = self.seen;
        let waited = now - self.started;
        let tries = self.profile.discover_timeouts.len();
        let notes = if self.notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.notes.join("; "))
        };
        let (error, detail) = if all == 0 {
            (
                PxeError::E51,
                format!(
                    "no offer to {tries} DISCOVERs in {}s{notes}",
                    waited.as_secs()
                ),
            )
        } else if dhcp == 0 {
            (
                PxeError::E52,
                format!(
                    "{all} ProxyDHCP offer(s) and no DHCP offer in {}s{notes}",
                    waited.as_secs()
                ),
            )
        } else {
            (
                PxeError::E53,
                format!("{dhcp} DHCP offer(s), none usable with a boot file{notes}"),
            )
        };
        let error = self.dhcp_error(error);
        self.fail(error, detail);
    }

    fn apply(&mut self, now: Instant, d: Decision) {
        match d {
            Decision::Wait => {}
            Decision::Fail(e, detail) => {
                let e = if e == PxeError::E53 {
                    self.no_file_error()
                } else {
                    e
                };
                self.fail(e, detail)
            }
            Decision::Go(plan) => self.select(now, plan),
        }
    }

    fn select(&mut self, now: Instant, plan: Plan) {
        let chosen = &self.offers[plan.dhcp];
        self.events.push_back(FirmwareEvent::Selected {
            dhcp: chosen.server,
            proxy: plan.proxy.map(|p| self.offers[p].server),
        });
        if chosen.kind == OfferKind::Bootp {
            // BOOTP has no REQUEST: the reply is the lease.
            let ack = chosen.msg.clone();
            let server = chosen.server;
            return self.bound(now, ack, server, plan);
        }
        self.phase = Phase::Requesting { attempt: 0, plan };
        self.send_request(now, 0);
    }

    fn send_request(&mut self, now: Instant, attempt: usize) {
        let Phase::Requesting { plan, .. } = &self.phase else {
            return;
        };
        let chosen = &self.offers[plan.dhcp];
        let extra = vec![
            (code::REQUESTED_IP, chosen.msg.yiaddr.octets().to_vec()),
            (code::SERVER_ID, chosen.server.octets().to_vec()),
        ];
        let mut m = self.message(MessageType::Request, extra);
        if let Some(size) = self.profile.request_max_message_size {
            m.set_option(code::MAX_MESSAGE_SIZE, size.to_be_bytes());
        }
        m.secs = self.secs(now);
        self.broadcast(&m);
        self.deadline = Some(now + nth(&self.profile.request_timeouts, attempt));
    }

    fn on_ack_or_nak(&mut self, now: Instant, msg: DhcpMessage, mtype: MessageType) {
        let Phase::Requesting { plan, .. } = &self.phase else {
            return;
        };
        let plan = plan.clone();
        let chosen = self.offers[plan.dhcp].server;
        if msg.server_id().is_some_and(|s| s != chosen) {
            return;
        }
        if mtype == MessageType::Nak {
            self.restarts += 1;
            if self.restarts > MAX_RESTARTS {
                let e = self.dhcp_error(PxeError::E51);
                return self.fail(
                    e,
                    format!("{chosen} answered DHCPNAK {} times", self.restarts),
                );
            }
            return self.start_discovery(now);
        }
        self.bound(now, msg, chosen, plan);
    }

    fn bound(&mut self, now: Instant, ack: DhcpMessage, server: Ipv4Addr, plan: Plan) {
        let ip = ack.yiaddr;
        self.ip = Some(ip);
        self.events.push_back(FirmwareEvent::Bound { ip, server });
        self.ack = Some(ack);
        match plan.boot {
            BootSource::Offer(i) => {
                // The DHCP server's own PXE information is repeated in its ACK;
                // prefer the ACK's copy when it names a file (RFC 2131 §4.3.1).
                let msg = if i == plan.dhcp {
                    self.ack
                        .clone()
                        .filter(|a| offer::boot_file(a).is_some())
                        .unwrap_or_else(|| self.offers[i].msg.clone())
                } else {
                    self.offers[i].msg.clone()
                };
                self.boot_from(now, &msg, self.offers[i].server);
            }
            BootSource::Binl(servers) => {
                self.phase = Phase::ProxyRequest {
                    servers,
                    index: 0,
                    attempt: 0,
                };
                self.send_proxy_request(now);
            }
            BootSource::Ack => self.boot_from_ack(now),
        }
    }

    fn boot_from_ack(&mut self, now: Instant) {
        match self.ack.clone() {
            Some(a) if offer::boot_file(&a).is_some() => {
                let server = a.server_id().unwrap_or(Ipv4Addr::UNSPECIFIED);
                self.boot_from(now, &a, server);
            }
            _ => {
                let e = self.no_file_error();
                self.fail(
                    e,
                    "the DHCP ACK names no boot file and no ProxyDHCP answered".into(),
                );
            }
        }
    }

    /// PXE boot information of one packet: 43.6 bit 3 + file boots the file;
    /// a menu (43.9 with 43.10) leads to boot server discovery; else its file.
    fn boot_from(&mut self, now: Instant, msg: &DhcpMessage, from: Ipv4Addr) {
        let vendor = offer::vendor_options(msg);
        let file = offer::boot_file(msg);
        let use_file = vendor
            .as_ref()
            .and_then(|v| v.discovery_control)
            .is_some_and(|c| c.use_bootfile());
        if let (true, Some(f)) = (use_file, file.clone()) {
            return self.start_tftp(now, msg, f, from);
        }
        if let Some(v) = vendor.filter(|v| v.boot_menu.is_some()) {
            return self.menu(now, v);
        }
        match file {
            Some(f) => self.start_tftp(now, msg, f, from),
            None => {
                let e = self.no_file_error();
                self.fail(
                    e,
                    format!("the offer from {from} names no boot file and no menu"),
                );
            }
        }
    }

    // ------------------------------------------------------------ 4011

    fn send_proxy_request(&mut self, now: Instant) {
        let Phase::ProxyRequest {
            servers,
            index,
            attempt,
        } = &self.phase
        else {
            return;
        };
        let (server, attempt) = (servers[*index], *attempt);
        let Some(ip) = self.ip else { return };
        let mut m = self.boot_request(Vec::new());
        m.ciaddr = ip;
        m.flags = 0;
        self.out.push_back(Transmit {
            src: SocketAddrV4::new(ip, CLIENT_PORT),
            dst: SocketAddrV4::new(server, PXE_PORT),
            l2: L2Dest::Unicast(Mac::ZERO),
            payload: m.emit(),
        });
        if attempt == 0 {
            self.events.push_back(FirmwareEvent::BootServerRequest {
                server,
                port: PXE_PORT,
            });
        }
        self.deadline = Some(now + nth(&self.profile.proxy_request_timeouts, attempt));
    }

    fn proxy_timeout(&mut self, now: Instant) {
        let Phase::ProxyRequest {
            servers,
            index,
            attempt,
        } = &mut self.phase
        else {
            return;
        };
        *attempt += 1;
        if *attempt < self.profile.proxy_request_timeouts.len() {
            return self.send_proxy_request(now);
        }
        *index += 1;
        *attempt = 0;
        if *index < servers.len() {
            return self.send_proxy_request(now);
        }
        let tried: Vec<String> = servers.iter().map(|s| format!("{s}:4011")).collect();
        let total: std::time::Duration = self.profile.proxy_request_timeouts.iter().sum();
        if self.profile.proxy_request_optional {
            return self.boot_from_ack(now);
        }
        self.fail(
            PxeError::E55,
            format!(
                "no DHCPACK from {} within {}s",
                tried.join(", "),
                total.as_secs_f64()
            ),
        );
    }

    fn on_boot_ack(&mut self, now: Instant, msg: DhcpMessage, src: SocketAddrV4) {
        match &self.phase {
            Phase::ProxyRequest { servers, index, .. } => {
                let expected = servers[*index];
                if *src.ip() != expected && msg.server_id() != Some(expected) {
                    return;
                }
                let from = msg.server_id().unwrap_or(*src.ip());
                self.boot_from(now, &msg, from);
            }
            Phase::BootDiscovery { item, listed, .. } => {
                // The boot server's ACK echoes the item asked for (PXE 2.1
                // §2.2.5, iPXE's dhcp_pxebs_rx). Anything else with this xid
                // is not its answer: a plain DHCP server's late second ACK to
                // a retransmitted REQUEST must not end the boot.
                let echoed = offer::vendor_options(&msg).and_then(|v| v.boot_item);
                if echoed.is_none_or(|e| e.kind != item.kind) {
                    return;
                }
                // 43.6 bit 2: only servers of 43.8 count (EDK2 does not check
                // it, Q25).
                if let Some(list) = listed
                    && self.profile.offer_rule != OfferRule::Edk2
                    && !list.contains(src.ip())
                {
                    return;
                }
                let from = msg.server_id().unwrap_or(*src.ip());
                match offer::boot_file(&msg) {
                    Some(f) => self.start_tftp(now, &msg, f, from),
                    None => {
                        let e = self.no_file_error();
                        self.fail(e, format!("boot server {from} answered without a file"));
                    }
                }
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------ menu

    fn menu(&mut self, now: Instant, v: PxeVendorOptions) {
        let Some(prompt) = v.menu_prompt.clone() else {
            return self.fail(
                PxeError::E74,
                "option 43 has a boot menu (43.9) but no prompt (43.10)".into(),
            );
        };
        if v.boot_menu.as_ref().is_none_or(|m| m.is_empty()) {
            return self.fail(PxeError::E74, "option 43 boot menu (43.9) is empty".into());
        }
        // 0: the first item at once; 255: the menu waits for a key, and no
        // operator sits at a simulated keyboard, so the first item at once;
        // n: "Press F8" for n seconds, then the first item (PXE 2.1, §2.5).
        let wait = match prompt.timeout {
            0 | 255 => std::time::Duration::ZERO,
            n => std::time::Duration::from_secs(u64::from(n)),
        };
        self.phase = Phase::Prompt {
            vendor: Box::new(v),
        };
        if wait.is_zero() {
            self.take_first_item(now);
        } else {
            self.deadline = Some(now + wait);
        }
    }

    fn take_first_item(&mut self, now: Instant) {
        let Phase::Prompt { vendor } = std::mem::replace(&mut self.phase, Phase::Done) else {
            return;
        };
        let Some(first) = vendor.boot_menu.as_ref().and_then(|m| m.first()).cloned() else {
            return self.fail(PxeError::E74, "empty boot menu".into());
        };
        if first.kind == 0 {
            self.deadline = None;
            self.events.push_back(FirmwareEvent::LocalBoot {
                item: String::from_utf8_lossy(&first.description).into_owned(),
            });
            return;
        }
        let control = vendor.discovery_control.unwrap_or_default();
        let mut targets = Vec::new();
        if !control.no_multicast()
            && let Some(group) = vendor.discovery_mcast_addr
        {
            targets.push((SocketAddrV4::new(group, PXE_PORT), L2Dest::Broadcast));
        }
        if !control.no_broadcast() {
            targets.push((
                SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
                L2Dest::Broadcast,
            ));
        }
        let listed: Vec<Ipv4Addr> = vendor
            .boot_servers
            .iter()
            .flatten()
            .filter(|e| e.kind == first.kind)
            .flat_map(|e| e.addrs.iter().copied())
            .collect();
        for a in &listed {
            targets.push((SocketAddrV4::new(*a, PXE_PORT), L2Dest::Unicast(Mac::ZERO)));
        }
        if targets.is_empty() {
            return self.fail(
                PxeError::E77,
                format!(
                    "43.6 = {} forbids broadcast/multicast and 43.8 lists no server of type {}",
                    control.0, first.kind
                ),
            );
        }
        self.phase = Phase::BootDiscovery {
            item: BootItem {
                kind: first.kind,
                layer: 0,
            },
            targets,
            listed: control.only_listed().then_some(listed),
            attempt: 0,
        };
        self.send_discovery(now);
    }

    fn send_discovery(&mut self, now: Instant) {
        let Phase::BootDiscovery {
            item,
            targets,
            attempt,
            ..
        } = &self.phase
        else {
            return;
        };
        let Some(ip) = self.ip else { return };
        let (item, targets, attempt) = (*item, targets.clone(), *attempt);
        let o43 = PxeVendorOptions {
            boot_item: Some(item),
            ..PxeVendorOptions::default()
        };
        // A lone 43.71 is seven bytes: emit cannot fail.
        let extra = o43
            .emit()
            .map(|b| vec![(code::VENDOR_SPECIFIC, b)])
            .unwrap_or_default();
        let mut m = self.boot_request(extra);
        m.ciaddr = ip;
        m.flags = 0;
        let payload = m.emit();
        for (dst, l2) in targets {
            self.out.push_back(Transmit {
                src: SocketAddrV4::new(ip, CLIENT_PORT),
                dst,
                l2,
                payload: payload.clone(),
            });
            if attempt == 0 {
                self.events.push_back(FirmwareEvent::BootServerRequest {
                    server: *dst.ip(),
                    port: dst.port(),
                });
            }
        }
        self.deadline = Some(now + nth(&self.profile.boot_server_timeouts, attempt));
    }

    fn discovery_round_timeout(&mut self, now: Instant) {
        let Phase::BootDiscovery { attempt, item, .. } = &mut self.phase else {
            return;
        };
        *attempt += 1;
        if *attempt < self.profile.boot_server_timeouts.len() {
            return self.send_discovery(now);
        }
        let kind = item.kind;
        self.fail(
            PxeError::E78,
            format!(
                "no boot server of type {kind} answered {} discovery requests",
                self.profile.boot_server_timeouts.len()
            ),
        );
    }

    // ------------------------------------------------------------ TFTP

    /// The TFTP server of a packet: siaddr, else option 66 as an address,
    /// else the server that sent it.
    fn tftp_server(msg: &DhcpMessage, from: Ipv4Addr) -> Ipv4Addr {
        if !msg.siaddr.is_unspecified() {
            return msg.siaddr;
        }
        msg.option(code::TFTP_SERVER_NAME)
            .and_then(|d| {
                let s = String::from_utf8_lossy(&d)
                    .trim_end_matches('\0')
                    .to_string();
                s.parse().ok()
            })
            .unwrap_or(from)
    }

    fn start_tftp(&mut self, now: Instant, msg: &DhcpMessage, file: String, from: Ipv4Addr) {
        let Some(ip) = self.ip else { return };
        let server = Self::tftp_server(msg, from);
        self.events.push_back(FirmwareEvent::BootFile {
            tftp_server: server,
            file: file.clone(),
            named_by: msg.server_id().unwrap_or(from),
        });
        // The model needs how much arrived, not the bytes themselves.
        let opts = ClientOptions {
            keep_data: false,
            ..self.profile.tftp.clone()
        };
        let client = TftpClient::new(
            now,
            SocketAddrV4::new(server, TFTP_PORT),
            SocketAddrV4::new(ip, self.ports[1]),
            file.clone(),
            opts,
        );
        self.deadline = None;
        self.phase = Phase::Tftp {
            client: Box::new(client),
            server,
            file,
        };
        self.drain_tftp();
    }

    fn on_tftp(&mut self, now: Instant, d: Datagram<'_>) {
        let max = self.profile.max_block;
        let Phase::Tftp {
            client,
            server,
            file,
        } = &mut self.phase
        else {
            return;
        };
        // The ROM's own receive buffer, whatever was negotiated (Q26).
        if let (Some(max), [0, 3, _, _, data @ ..]) = (max, d.payload)
            && data.len() > usize::from(max)
            && d.src.ip() == server
        {
            let detail = format!(
                "{server} sent a {}-byte DATA block of {file}; this ROM takes at most {max}",
                data.len()
            );
            return self.fail(PxeError::E3F, detail);
        }
        // Q30: a 16-bit counter that cannot wrap never accepts the block after
        // 65535 (0, or 1 from a server that wraps to one), so the transfer
        // stalls there and times out.
        if self.profile.has(Quirk::NoBlockRollover)
            && let [0, 3, hi, lo, ..] = d.payload
            && d.src.ip() == server
        {
            let block = u16::from_be_bytes([*hi, *lo]);
            let wrapped = block == 0 || (block == 1 && client.received() >= 65535 * 8);
            if wrapped && client.received() > 0 {
                return;
            }
        }
        client.handle_datagram(now, d);
        self.drain_tftp();
    }

    fn drain_tftp(&mut self) {
        let Phase::Tftp {
            client,
            server,
            file,
        } = &mut self.phase
        else {
            return;
        };
        while let Some(t) = client.poll_transmit() {
            self.out.push_back(t);
        }
        let Some(ev) = client.poll_event() else {
            return;
        };
        let (server, file) = (*server, file.clone());
        match ev {
            ClientEvent::Completed { bytes, .. } => {
                self.phase = Phase::Done;
                self.deadline = None;
                self.events.push_back(FirmwareEvent::Loaded {
                    tftp_server: server,
                    file,
                    bytes,
                });
            }
            ClientEvent::Failed { reason } => {
                let got_data = client.received() > 0;
                let (e, detail) = match reason {
                    ClientFailure::TimedOut if got_data => (
                        PxeError::E35,
                        format!(
                            "{server} stopped sending {file} after {} bytes",
                            client.received()
                        ),
                    ),
                    ClientFailure::TimedOut => (
                        PxeError::E32,
                        format!("no answer from {server}:69 to RRQ {file}"),
                    ),
                    ClientFailure::ServerError {
                        code: ErrorCode::FileNotFound,
                        message,
                    } => (
                        PxeError::E3B,
                        format!("{server} has no {file}: ERROR 1 {message:?}"),
                    ),
                    other => (
                        PxeError::E36,
                        format!("TFTP of {file} from {server}: {other}"),
                    ),
                };
                self.fail(self.download_error(e), detail);
            }
        }
    }

    // ------------------------------------------------------------ driving

    /// A datagram for this machine: DHCP/4011 replies on 68, TFTP on its TFTP port.
    pub fn handle_datagram(&mut self, now: Instant, d: Datagram<'_>) {
        if d.dst.port() == self.ports[1] && d.dst.port() != CLIENT_PORT {
            return self.on_tftp(now, d);
        }
        if d.dst.port() != CLIENT_PORT {
            return;
        }
        let Ok(msg) = DhcpMessage::parse(d.payload, ParseMode::Lax) else {
            return;
        };
        if msg.op != Op::BootReply || msg.xid != self.xid || msg.client_mac() != Some(self.id.mac) {
            return;
        }
        match (msg.message_type(), &self.phase) {
            (Some(MessageType::Offer) | None, Phase::Discovering { .. }) => {
                self.on_offer(now, msg, d.src)
            }
            (Some(t @ (MessageType::Ack | MessageType::Nak)), Phase::Requesting { .. }) => {
                self.on_ack_or_nak(now, msg, t)
            }
            (Some(MessageType::Ack), Phase::ProxyRequest { .. } | Phase::BootDiscovery { .. }) => {
                self.on_boot_ack(now, msg, d.src)
            }
            _ => {}
        }
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Phase::Tftp { client, .. } = &mut self.phase {
            if client.poll_timeout().is_some_and(|t| t <= now) {
                client.handle_timeout(now);
                self.drain_tftp();
            }
            return;
        }
        if self.deadline.is_none_or(|d| d > now) {
            return;
        }
        self.deadline = None;
        match &self.phase {
            Phase::Starting => self.start_discovery(now),
            Phase::Discovering { window } => self.discovery_timeout(now, *window),
            Phase::Requesting { attempt, plan } => {
                let next = attempt + 1;
                if next < self.profile.request_timeouts.len() {
                    let plan = plan.clone();
                    self.phase = Phase::Requesting {
                        attempt: next,
                        plan,
                    };
                    self.send_request(now, next);
                } else {
                    let server = self.offers[plan.dhcp].server;
                    let e = self.dhcp_error(PxeError::E51);
                    self.fail(
                        e,
                        format!("no DHCPACK from {server} to {next} DHCPREQUESTs"),
                    );
                }
            }
            Phase::ProxyRequest { .. } => self.proxy_timeout(now),
            Phase::Prompt { .. } => self.take_first_item(now),
            Phase::BootDiscovery { .. } => self.discovery_round_timeout(now),
            Phase::Off | Phase::Tftp { .. } | Phase::Done => {}
        }
    }

    /// ARP for `ip` failed (the network gave up after its retries, Q33).
    pub fn handle_unreachable(&mut self, _now: Instant, ip: Ipv4Addr) {
        let waiting_on = match &self.phase {
            Phase::ProxyRequest { servers, index, .. } => servers[*index] == ip,
            Phase::BootDiscovery { targets, .. } => targets.iter().any(|(t, _)| *t.ip() == ip),
            Phase::Tftp { server, .. } => *server == ip,
            _ => false,
        };
        if waiting_on {
            let what = match self.phase {
                Phase::ProxyRequest { .. } => "the ProxyDHCP/BINL server on 4011",
                Phase::BootDiscovery { .. } => "the boot server",
                _ => "the TFTP server",
            };
            let e = self.download_error(PxeError::E11);
            self.fail(e, format!("no ARP reply from {ip}, {what}"));
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// When [`Firmware::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Tftp { client, .. } => client.poll_timeout(),
            _ => self.deadline,
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<FirmwareEvent> {
        self.events.pop_front()
    }

    /// The leased address once bound (the world tells the network, for ARP).
    pub fn address(&self) -> Option<Ipv4Addr> {
        self.ip
    }

    /// UDP ports the machine receives on: 68 and its TFTP client port.
    pub fn listens_on(&self) -> &[u16] {
        &self.ports
    }

    /// The profile it runs.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The current DHCP transaction id (0 before power-on).
    pub fn xid(&self) -> u32 {
        self.xid
    }

    /// Loaded, local boot or failed, with nothing left to send.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Done) && self.out.is_empty()
    }
}

/// The `i`-th wait of a retransmission schedule (zero past its end: the caller
/// has already decided whether another try exists).
fn nth(schedule: &[std::time::Duration], i: usize) -> std::time::Duration {
    schedule.get(i).copied().unwrap_or_default()
}
