//! `pxelab conform`: a conformance suite for PXE servers, over a real
//! interface or (in tests) over pxelab's own servers in memory.
//!
//! A run detects what the server is from its answers (full PXE server,
//! ProxyDHCP next to another DHCP server), or is told (`tftp-only`,
//! `dhcp-only`), then evaluates every check of the [`checks::CHECKS`]
//! catalog: hand-made probes ([`probe`]) for precise exchanges and faults,
//! and the simulator's firmware machines ([`host`]) for whole boots and boot
//! storms. Every frame is captured; a failed check cites the frames that show
//! it, decoded one per line.
//!
//! From a test or another driver:
//!
//! ```no_run
//! use pxelab_simulator::conform::{self, Options, testbed::{MemoryLink, ServerSpec}};
//! let mut link = MemoryLink::new(vec![ServerSpec::reference_full("10.0.0.1".parse().unwrap())]).unwrap();
//! let report = conform::run(&mut link, &Options::default(), None).unwrap();
//! assert!(report.musts_pass());
//! ```

pub mod bench;
pub mod checks;
mod dhcp;
mod fleet;
pub mod frame;
pub mod host;
pub mod link;
pub mod probe;
pub mod report;
pub mod testbed;
mod tftp;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pxelab_reference::Mac;
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{MessageType, code};
use pxelab_reference::wire::pxe::PxeVendorOptions;
use serde::Serialize;

use bench::Bench;
use checks::{CHECKS, Check};
use link::{Link, LinkError};
use probe::{BootServerExchange, DiscoverSpec, Dora, Reply, Transfer};

use crate::firmware::Profile;

pub use link::RawLink;
pub use report::Report;

/// What kind of server is under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// A full PXE server: DHCP with PXE options, maybe 4011, TFTP.
    Full,
    /// A ProxyDHCP next to another DHCP server.
    Proxy,
    /// Only TFTP (`--tftp-only --server IP --file NAME`).
    TftpOnly,
    /// Only DHCP (with or without PXE options); no TFTP.
    DhcpOnly,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Full => "full PXE server",
            Mode::Proxy => "ProxyDHCP",
            Mode::TftpOnly => "TFTP only",
            Mode::DhcpOnly => "DHCP only",
        })
    }
}

/// How to run the suite.
#[derive(Debug, Clone)]
pub struct Options {
    /// `None`: detect full or proxy from the answers.
    pub mode: Option<Mode>,
    /// The server under test (by its address); `None`: the first PXE server
    /// that answers (required for `TftpOnly`).
    pub server: Option<Ipv4Addr>,
    /// Client profiles to run (ids from [`Profile::builtin_ids`]); empty: all.
    pub profiles: Vec<String>,
    /// Globs over check ids; empty: every check.
    pub only: Vec<String>,
    /// Virtual clients in the boot storm.
    pub clients: usize,
    /// The file for TFTP checks (default: the boot file the server names).
    pub file: Option<String>,
    /// A file of more than 65535 blocks for `tftp.rollover`.
    pub large_file: Option<String>,
    /// The probe client's address in TFTP-only mode (default: `.250` of the
    /// server's /24).
    pub client_ip: Option<Ipv4Addr>,
    /// Seed of the virtual clients' xids and ports.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: None,
            server: None,
            profiles: Vec::new(),
            only: Vec::new(),
            clients: 10,
            file: None,
            large_file: None,
            client_ip: None,
            seed: 1,
        }
    }
}

/// Bad input, or a link that failed.
#[derive(Debug, thiserror::Error)]
pub enum ConformError {
    /// `--profile` names no built-in profile.
    #[error("unknown profile {0:?}; the profiles are: {profiles}", profiles = Profile::builtin_ids().join(", "))]
    UnknownProfile(String),
    /// `--only` matches no check.
    #[error(
        "--only {0:?} matches no check; run `pxelab conform --list` for the ids (areas: dhcp, proxy, pxe, bootsrv, bootfile, tftp, boot, timing)"
    )]
    UnknownCheck(String),
    /// TFTP-only needs to know where and what.
    #[error("TFTP-only mode needs --server IP and --file NAME")]
    TftpOnlyNeeds,
    /// The link failed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The pcap cannot be written.
    #[error("cannot write the pcap: {0}")]
    Pcap(std::io::Error),
}

impl Options {
    /// Checks the options without touching the network.
    pub fn validate(&self) -> Result<(), ConformError> {
        for p in &self.profiles {
            if Profile::builtin(p).is_none() {
                return Err(ConformError::UnknownProfile(p.clone()));
            }
        }
        for g in &self.only {
            if !CHECKS.iter().any(|c| checks::glob_match(g, c.id)) {
                return Err(ConformError::UnknownCheck(g.clone()));
            }
        }
        if self.mode == Some(Mode::TftpOnly) && (self.server.is_none() || self.file.is_none()) {
            return Err(ConformError::TftpOnlyNeeds);
        }
        Ok(())
    }

    fn selected(&self, check: &Check) -> bool {
        self.only.is_empty() || self.only.iter().any(|g| checks::glob_match(g, check.id))
    }

    fn profile_selected(&self, id: &str) -> bool {
        self.profiles.is_empty() || self.profiles.iter().any(|p| p == id)
    }
}

/// What a check concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The server does what the clause says.
    Passed,
    /// It does not; the evidence shows where.
    Failed,
    /// An optional feature the server does not offer.
    NotSupported,
    /// Not run (mode, profile, or a precondition the server did not meet).
    Skipped,
}

/// A check's verdict, as the area modules return it.
#[derive(Debug, Clone)]
pub(crate) enum Verdict {
    Pass(String),
    /// Why, and the capture indices of the frames that show it.
    Fail(String, Vec<usize>),
    NotSupported(String),
    Skip(String),
}

fn pass(s: impl Into<String>) -> Verdict {
    Verdict::Pass(s.into())
}
fn fail(s: impl Into<String>, evidence: Vec<usize>) -> Verdict {
    Verdict::Fail(s.into(), evidence)
}
fn skip(s: impl Into<String>) -> Verdict {
    Verdict::Skip(s.into())
}

/// Everything the probes found, shared by the checks (each probe runs once).
pub(crate) struct Ctx<'b, 'l> {
    bench: &'b mut Bench<'l>,
    opts: Options,
    mode: Mode,
    server: Option<Ipv4Addr>,
    next_mac: u32,
    next_xid: u32,
    doras: BTreeMap<String, Dora>,
    boot_exchanges: BTreeMap<String, Option<BootServerExchange>>,
    nonpxe: Option<Dora>,
    flagged: Option<Dora>,
    other_server: Option<(Option<usize>, Vec<Reply>)>,
    wrong_subnet: Option<(Option<usize>, Vec<Reply>)>,
    transfers: BTreeMap<&'static str, Transfer>,
    boots: Option<Vec<host::Boot>>,
    storm: Option<Vec<host::Boot>>,
    /// A bound client for TFTP probes: MAC, address.
    tftp_client: Option<(Mac, Ipv4Addr)>,
    next_port: u16,
}

impl<'b, 'l> Ctx<'b, 'l> {
    fn mac(&mut self) -> Mac {
        self.next_mac += 1;
        host::client_mac(0x00_f0_00 + self.next_mac)
    }

    fn xid(&mut self) -> u32 {
        self.next_xid = self
            .next_xid
            .wrapping_mul(1_103_515_245)
            .wrapping_add(12_345);
        self.next_xid
    }

    fn port(&mut self) -> u16 {
        self.next_port = if self.next_port >= 60_000 {
            20_000
        } else {
            self.next_port + 2
        };
        self.next_port
    }

    fn spec(profile: &str) -> DiscoverSpec {
        DiscoverSpec {
            profile: Profile::builtin(profile).unwrap_or_else(Profile::pxe21_bios),
            pxe: true,
            broadcast: None,
            max_size: None,
        }
    }

    /// The DORA of `profile` (run once): DISCOVER, offers, REQUEST of the
    /// lease offer, and (for the PXE server) a 4011 REQUEST.
    fn dora(&mut self, profile: &str) -> Result<&Dora, LinkError> {
        if !self.doras.contains_key(profile) {
            let spec = Self::spec(profile);
            let (mac, xid) = (self.mac(), self.xid());
            let mut d = probe::discover(self.bench, &spec, mac, xid, probe::OFFER_WINDOW)?;
            if let Some(offer) = self.lease_offer(&d).cloned() {
                probe::request(self.bench, &mut d, &offer)?;
            }
            self.doras.insert(profile.to_string(), d);
        }
        Ok(&self.doras[profile])
    }

    /// The 4011 exchange of `profile`'s client with the server under test.
    fn boot_exchange(&mut self, profile: &str) -> Result<Option<&BootServerExchange>, LinkError> {
        if !self.boot_exchanges.contains_key(profile) {
            self.dora(profile)?;
            let target = self
                .subject(&self.doras[profile])
                .map(|r| r.server())
                .or(self.server);
            let d = self.doras[profile].clone();
            let asked = self.subject(&d).map(menu_item);
            let ex = match target {
                Some(server) => {
                    // The item the offer's menu lists first (PXE 2.1 §2.2.5:
                    // a boot server answers only the types it serves); with
                    // no menu, type 0, then — as EDK2 asks after an offer
                    // without one — no option 43 at all.
                    let first = asked.flatten().unwrap_or((0, 0));
                    let xid = self.xid();
                    let ex = probe::boot_server_request(self.bench, &d, server, xid, Some(first))?;
                    match ex {
                        Some(ex) if ex.replies.is_empty() && asked.flatten().is_none() => {
                            let xid = self.xid();
                            probe::boot_server_request(self.bench, &d, server, xid, None)?
                                .or(Some(ex))
                        }
                        ex => ex,
                    }
                }
                None => None,
            };
            self.boot_exchanges.insert(profile.to_string(), ex);
        }
        Ok(self.boot_exchanges[profile].as_ref())
    }

    /// Whether a reply comes from the server under test.
    fn is_from_subject(&self, r: &Reply) -> bool {
        match self.server {
            Some(s) => r.server() == s || *r.rx.udp.src.ip() == s,
            None => true,
        }
    }

    /// The reply of the server under test to a DISCOVER (its PXE offer).
    fn subject<'d>(&self, d: &'d Dora) -> Option<&'d Reply> {
        d.offers.iter().find(|r| self.is_from_subject(r))
    }

    /// The offer a client takes its address from: the subject's in full
    /// mode, another server's next to a ProxyDHCP.
    fn lease_offer<'d>(&self, d: &'d Dora) -> Option<&'d Reply> {
        let leasing = |r: &&Reply| !r.msg.yiaddr.is_unspecified();
        match self.mode {
            Mode::Proxy => d
                .offers
                .iter()
                .filter(leasing)
                .find(|r| !self.is_from_subject(r)),
            _ => d
                .offers
                .iter()
                .filter(leasing)
                .find(|r| self.is_from_subject(r))
                .or_else(|| d.offers.iter().find(leasing)),
        }
    }

    /// The boot answer of `profile`: the file and TFTP server, from the
    /// offer, else from the 4011 ACK. The capture index of the packet.
    fn boot_answer(
        &mut self,
        profile: &str,
    ) -> Result<Option<(String, Ipv4Addr, usize)>, LinkError> {
        self.dora(profile)?;
        let d = self.doras[profile].clone();
        if let Some(r) = self.subject(&d)
            && let Some(f) = r.boot_file()
        {
            return Ok(Some((f, r.tftp_server().unwrap_or(r.server()), r.rx.idx)));
        }
        if let Some(ex) = self.boot_exchange(profile)?
            && let Some(r) = ex.replies.first()
            && let Some(f) = r.boot_file()
        {
            return Ok(Some((f, r.tftp_server().unwrap_or(r.server()), r.rx.idx)));
        }
        Ok(None)
    }

    /// Decides the mode and the server under test from the first DORA.
    fn detect(&mut self) -> Result<(), LinkError> {
        match self.opts.mode {
            Some(Mode::TftpOnly) => {
                self.mode = Mode::TftpOnly;
                if let Some(server) = self.server {
                    self.bench.confine(server, Ipv4Addr::new(255, 255, 255, 0));
                }
                return Ok(());
            }
            Some(m) => self.mode = m,
            None => {}
        }
        let profile = self.base_profile();
        let spec = Self::spec(&profile);
        let (mac, xid) = (self.mac(), self.xid());
        let d = probe::discover(self.bench, &spec, mac, xid, probe::OFFER_WINDOW)?;
        let proxy_like = |r: &Reply| r.msg.yiaddr.is_unspecified() && r.is_pxe();
        let full_like = |r: &Reply| !r.msg.yiaddr.is_unspecified() && r.is_pxe();
        if self.server.is_none() {
            self.server = match self.mode {
                Mode::Proxy => d.offers.iter().find(|r| proxy_like(r)),
                _ => d
                    .offers
                    .iter()
                    .find(|r| full_like(r))
                    .or_else(|| d.offers.iter().find(|r| proxy_like(r)))
                    .or_else(|| d.offers.first()),
            }
            .map(Reply::server);
        }
        if self.opts.mode.is_none() {
            let subject: Vec<&Reply> = d
                .offers
                .iter()
                .filter(|r| self.is_from_subject(r))
                .collect();
            self.mode = if !subject.is_empty() && subject.iter().all(|r| proxy_like(r)) {
                Mode::Proxy
            } else {
                Mode::Full
            };
        }
        // The detection DORA is the base profile's: request now that the
        // lease server is known.
        let mut d = d;
        if let Some(offer) = self.lease_offer(&d).cloned() {
            probe::request(self.bench, &mut d, &offer)?;
        }
        // The segment under test: the leased subnet (option 1 of the ACK),
        // else the server's /24.
        let ack = d
            .acks
            .iter()
            .find(|a| a.msg.message_type() == Some(MessageType::Ack));
        let mask = ack
            .and_then(|a| a.msg.option(code::SUBNET_MASK))
            .and_then(|m| <[u8; 4]>::try_from(&m[..]).ok())
            .map_or(Ipv4Addr::new(255, 255, 255, 0), Ipv4Addr::from);
        if let Some(anchor) = d.ip.or(self.server) {
            self.bench.confine(anchor, mask);
        }
        self.doras.insert(profile, d);
        Ok(())
    }

    fn base_profile(&self) -> String {
        if self.opts.profile_selected("pxe21-bios") {
            "pxe21-bios".into()
        } else {
            self.opts
                .profiles
                .first()
                .cloned()
                .unwrap_or_else(|| "pxe21-bios".into())
        }
    }

    /// A bound client and the TFTP server and file for the TFTP checks.
    fn tftp_target(&mut self) -> Result<Option<(Mac, Ipv4Addr, Ipv4Addr, String)>, LinkError> {
        if self.mode == Mode::TftpOnly {
            let server = self.server.unwrap_or(Ipv4Addr::UNSPECIFIED);
            let ip = self
                .opts
                .client_ip
                .unwrap_or_else(|| testbed::sibling(server, 250));
            let mac = match self.tftp_client {
                Some((m, _)) => m,
                None => {
                    let m = self.mac();
                    self.bench.register(m);
                    self.bench.own(ip, m);
                    self.tftp_client = Some((m, ip));
                    m
                }
            };
            let file = self.opts.file.clone().unwrap_or_default();
            return Ok(Some((mac, ip, server, file)));
        }
        let profile = self.base_profile();
        let answer = self.boot_answer(&profile)?;
        let d = &self.doras[&profile];
        let (Some(ip), Some((file, server, _))) = (d.ip, answer) else {
            return Ok(None);
        };
        let file = self.opts.file.clone().unwrap_or(file);
        Ok(Some((d.mac, ip, server, file)))
    }

    /// A TFTP read of `file` (default: the boot file) with `options` and
    /// `fault`, run once per `key` and kept for every check that judges it.
    fn transfer(
        &mut self,
        key: &'static str,
        file: Option<String>,
        options: &[(&str, &str)],
        fault: probe::Fault,
    ) -> Result<Option<&Transfer>, LinkError> {
        if !self.transfers.contains_key(key) {
            let Some((mac, ip, server, default_file)) = self.tftp_target()? else {
                return Ok(None);
            };
            let port = self.port();
            let spec = probe::ReadSpec {
                mac,
                local: SocketAddrV4::new(ip, port),
                server,
                file: file.unwrap_or(default_file),
                options: options
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                fault,
                double_rrq: key == "double-rrq",
                max_blocks: if key == "large" { 10_000_000 } else { 200_000 },
            };
            let t = probe::read(self.bench, &spec)?;
            self.transfers.insert(key, t);
        }
        Ok(self.transfers.get(key))
    }
}

/// Runs the suite over `link`, writing every frame to `pcap` when given.
pub fn run(
    link: &mut dyn Link,
    opts: &Options,
    pcap: Option<Box<dyn std::io::Write>>,
) -> Result<Report, ConformError> {
    opts.validate()?;
    let mut bench = Bench::new(link, pcap).map_err(ConformError::Pcap)?;
    let mut ctx = Ctx {
        bench: &mut bench,
        opts: opts.clone(),
        mode: opts.mode.unwrap_or(Mode::Full),
        server: opts.server,
        next_mac: 0,
        next_xid: u32::try_from(opts.seed & 0xffff_ffff).unwrap_or(1) | 1,
        doras: BTreeMap::new(),
        boot_exchanges: BTreeMap::new(),
        nonpxe: None,
        flagged: None,
        other_server: None,
        wrong_subnet: None,
        transfers: BTreeMap::new(),
        boots: None,
        storm: None,
        tftp_client: None,
        next_port: 20_000,
    };
    let wanted: Vec<&Check> = CHECKS.iter().filter(|c| opts.selected(c)).collect();
    let needs_network = !wanted.is_empty();
    if needs_network {
        ctx.detect().map_err(ConformError::Link)?;
    }
    let mut results = Vec::new();
    for check in wanted {
        let verdict = if check.profile != "fleet" && !opts.profile_selected(check.profile) {
            skip(format!(
                "profile {} not selected (--profile)",
                check.profile
            ))
        } else {
            match check.area {
                checks::Area::Tftp => {
                    tftp::evaluate(&mut ctx, check).map_err(ConformError::Link)?
                }
                checks::Area::Boot | checks::Area::Timing => {
                    fleet::evaluate(&mut ctx, check).map_err(ConformError::Link)?
                }
                _ => dhcp::evaluate(&mut ctx, check).map_err(ConformError::Link)?,
            }
        };
        results.push(report::CheckResult::new(check, verdict, ctx.bench));
    }
    let latency = fleet::latencies(&ctx);
    let (mode, server) = (ctx.mode, ctx.server);
    drop(ctx);
    bench.finish().map_err(ConformError::Pcap)?;
    Ok(Report {
        mode,
        server,
        clients: opts.clients,
        latency,
        results,
    })
}

/// A check that needs a mode the run is not in.
fn not_in_mode(ctx: &Ctx<'_, '_>, wanted: &[Mode]) -> Option<Verdict> {
    (!wanted.contains(&ctx.mode)).then(|| skip(format!("not applicable to a {} run", ctx.mode)))
}

/// Percentile `p` (0..=100) of `v` (sorted here), nearest rank.
pub(crate) fn percentile(v: &mut [Duration], p: u32) -> Option<Duration> {
    if v.is_empty() {
        return None;
    }
    v.sort();
    let rank = (usize::try_from(p).unwrap_or(100) * v.len())
        .div_ceil(100)
        .max(1);
    v.get(rank - 1).copied()
}

/// The boot item a client picks from `offer`'s menu without a prompt: the
/// first entry of 43.9 (type, layer 0), unless it is type 0 (local boot);
/// `None` without a menu.
fn menu_item(offer: &Reply) -> Option<(u16, u16)> {
    let o43 = offer.msg.option(code::VENDOR_SPECIFIC)?;
    let vendor = PxeVendorOptions::parse(&o43, ParseMode::Lax).ok()?;
    let first = vendor.boot_menu?.into_iter().next()?;
    (first.kind != 0).then_some((first.kind, 0))
}
