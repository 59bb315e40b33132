//! From a scenario to a world: segments and ports, servers with their files,
//! fleets of computers with their identities and power-on times.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use pxelab_reference::dhcp::{DhcpConfig, DhcpMode, DhcpServer, DhcpServerError, MemoryStore};
use pxelab_reference::pxe::{BootServer, BootServerConfig};
use pxelab_reference::tftp::{MemoryRoot, TftpServer, TftpServerConfig};
use pxelab_reference::{Instant, Mac};

use super::{DhcpSide, EPHEMERAL_FIRST, Event, Server, Station, World, collect::ServerLog};
use crate::engine::{LookupMap, Queue, stream};
use crate::firmware::{Firmware, Identity, Profile};
use crate::foreign::{ForeignConfig, ForeignKind, ForeignServer};
use crate::machine::{Computer, NbpKind};
use crate::net::{LinkParams, Network};
use crate::report::EndReason;
use crate::scenario::{DelaySpec, Fleet, LinkSpec, RefMode, Scenario, ServerRole, UuidMode};

/// Unix time the simulated run starts at (lease times in the store are absolute).
pub(crate) const UNIX_TIME_AT_START: u64 = 1_800_000_000;

/// pxelab's reference DHCP server (full or proxy, per `config`) and its boot
/// server on 4011, as every simulated reference server runs them: lease
/// store in memory, time from zero. The conformance testbed runs the same.
pub(crate) fn reference_machines(
    config: DhcpConfig,
) -> Result<(DhcpServer, BootServer), DhcpServerError> {
    let boot = BootServer::new(BootServerConfig::from_dhcp(&config));
    let dhcp = DhcpServer::new(config, Box::new(MemoryStore::new()), Instant::ZERO)?;
    Ok((dhcp, boot))
}

/// A scenario that parsed but cannot be built, or a pcap that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The reference server refused its configuration.
    #[error("server {server}: {source}")]
    Reference {
        /// Server name.
        server: String,
        /// Why.
        source: DhcpServerError,
    },
    /// A fleet names a profile this build does not have.
    #[error("fleet {fleet}: unknown firmware profile {profile:?}")]
    Profile {
        /// Fleet name.
        fleet: String,
        /// The id.
        profile: String,
    },
    /// Writing the pcap failed.
    #[error("cannot write the pcap: {0}")]
    Pcap(io::Error),
    /// Writing the SVG timeline failed.
    #[error("cannot write the SVG timeline: {0}")]
    Svg(io::Error),
    /// A Deployment Server or one of its machines cannot be set up.
    #[error("deployment {deployment}: {problem}")]
    Deployment {
        /// Deployment name.
        deployment: String,
        /// What is wrong.
        problem: String,
    },
}

impl World {
    pub(super) fn build(sc: &Scenario, seed: u64) -> Result<World, BuildError> {
        let mut net = Network::new(stream(seed, "network", 0));
        let mut link_rng = stream(seed, "link-up-delay", 0);
        let mut stations = Vec::new();
        let mut queue = Queue::new();

        let segments: Vec<_> = sc
            .segments
            .iter()
            .map(|s| net.add_segment(&s.name))
            .collect();
        let segment_of = |name: &str| {
            sc.segments
                .iter()
                .position(|s| s.name == name)
                .expect("the scenario validated its segment names")
        };

        // Every MAC of every fleet, for the servers' allow and ignore lists.
        let fleet_macs: BTreeMap<&str, Vec<Mac>> = sc
            .fleets
            .iter()
            .enumerate()
            .map(|(f, fleet)| {
                (
                    fleet.name.as_str(),
                    (0..fleet.count).map(|i| fleet.mac(f, i)).collect(),
                )
            })
            .collect();
        let macs_of = |names: &[String]| -> Vec<Mac> {
            names
                .iter()
                .filter_map(|n| fleet_macs.get(n.as_str()))
                .flatten()
                .copied()
                .collect()
        };

        let mut contents: HashMap<u64, Arc<[u8]>> = HashMap::new();
        let mut servers = Vec::new();
        let mut by_addr = HashMap::new();
        for (s, spec) in sc.servers.iter().enumerate() {
            let seg = segment_of(&spec.segment);
            let segment = &sc.segments[seg];
            let netmask = segment.subnet.netmask();
            let link = link_params(
                &spec
                    .link
                    .clone()
                    .unwrap_or_default()
                    .merged_over(&segment.link),
                &mut link_rng,
            );
            let mac = Mac([0x02, 0x50, 0x58, 0x00, (s >> 8) as u8, s as u8]);
            let port = net.attach(segments[seg], mac, Some(spec.address), link);
            net.listen(port, super::DHCP_SERVER_PORT);
            let mut ignore = spec.ignore.clone();
            ignore.extend(macs_of(&spec.ignore_fleets));
            let respond_delay = Duration::from_millis(spec.respond_delay_ms);

            let mut names: Vec<String> = Vec::new();
            let mut pxe_ignore = Vec::new();
            let (dhcp, kind) = match &spec.role {
                ServerRole::Reference {
                    mode,
                    pool,
                    dhcp,
                    boot,
                } => {
                    net.listen(port, super::PXE_PORT);
                    let mut settings = dhcp.clone();
                    if spec.respond_delay_ms > 0 {
                        settings.respond_delay_ms = spec.respond_delay_ms;
                    }
                    settings.deny.extend(ignore);
                    settings.allow.extend(macs_of(&spec.allow_fleets));
                    let (mode, proxy) = match (mode, pool) {
                        (RefMode::Full, Some(pool)) => (
                            DhcpMode::Full {
                                pools: vec![pool.clone()],
                            },
                            false,
                        ),
                        _ => (DhcpMode::Proxy, true),
                    };
                    names.extend([
                        boot.boot_bios.clone(),
                        boot.boot_efi.clone(),
                        boot.boot_ipxe.clone(),
                    ]);
                    names.extend(boot.arch_overrides.iter().map(|o| o.file.clone()));
                    if let Some(menu) = &boot.menu {
                        names.extend(menu.items.iter().filter_map(|i| i.file.clone()));
                    }
                    let config = DhcpConfig {
                        server_addr: spec.address,
                        netmask,
                        mode,
                        settings,
                        boot: boot.clone(),
                        unix_time_at_start: UNIX_TIME_AT_START,
                    };
                    let (dhcp_server, boot_server) =
                        reference_machines(config).map_err(|source| BuildError::Reference {
                            server: spec.name.clone(),
                            source,
                        })?;
                    let kind = if proxy {
                        "reference (proxy)"
                    } else {
                        "reference (full)"
                    };
                    (
                        DhcpSide::Reference {
                            dhcp: Box::new(dhcp_server),
                            boot: Box::new(boot_server),
                        },
                        kind,
                    )
                }
                ServerRole::Dhcp(f) | ServerRole::Rogue(f) | ServerRole::DhcpPxe(f, _) => {
                    let (kind, label) = match &spec.role {
                        ServerRole::DhcpPxe(_, pxe) => {
                            names.extend([pxe.bios_file.clone(), pxe.efi_file.clone()]);
                            names.extend(pxe.ipxe_file.clone());
                            pxe_ignore = macs_of(&pxe.pxe_ignore_fleets);
                            (
                                ForeignKind::DhcpPxe {
                                    next_server: pxe.next_server.unwrap_or(spec.address),
                                    bios_file: pxe.bios_file.clone(),
                                    efi_file: pxe.efi_file.clone(),
                                    ipxe_file: pxe.ipxe_file.clone(),
                                },
                                "dhcp-pxe",
                            )
                        }
                        ServerRole::Rogue(_) => (ForeignKind::Rogue, "rogue"),
                        _ => (ForeignKind::Dhcp, "dhcp"),
                    };
                    let config = ForeignConfig {
                        name: spec.name.clone(),
                        addr: spec.address,
                        netmask,
                        kind,
                        pool: Some(f.pool),
                        router: f.router,
                        dns: f.dns.clone(),
                        lease_time: Duration::from_secs(u64::from(f.lease_time_s)),
                        respond_delay,
                        ignore,
                        pxe_ignore,
                        stray_option60: f.stray_option60,
                    };
                    (
                        DhcpSide::Foreign(Box::new(ForeignServer::new(config))),
                        label,
                    )
                }
            };

            // The files its TFTP serves: the ones the scenario describes, and
            // every file its boot settings name, with a kind guessed from the name.
            let mut files: BTreeMap<String, (NbpKind, u64)> = BTreeMap::new();
            for name in names {
                let kind = NbpKind::guess(&name);
                let size = kind.default_size(&name);
                files.insert(name, (kind, size));
            }
            for f in &spec.files {
                files.insert(f.name.clone(), (f.nbp, f.size));
            }
            let mut root = MemoryRoot::new();
            for (name, (_, size)) in &files {
                let bytes = contents
                    .entry(*size)
                    .or_insert_with(|| nbp_bytes(*size))
                    .clone();
                root.insert(name.clone(), bytes);
            }

            by_addr.insert(spec.address, s);
            stations.push(Station::Server(s));
            servers.push(Server {
                name: spec.name.clone(),
                kind: kind.to_string(),
                addr: spec.address,
                port,
                dhcp,
                tftp: TftpServer::new(TftpServerConfig::default()),
                root,
                files: files.into_iter().map(|(n, (k, _))| (n, k)).collect(),
                sessions: LookupMap::default(),
                next_tid: EPHEMERAL_FIRST,
                log: ServerLog::default(),
            });
        }

        let mut computers = Vec::new();
        let mut fleet_members = Vec::new();
        let mut profiles = Vec::new();
        for (f, fleet) in sc.fleets.iter().enumerate() {
            let seg = segment_of(&fleet.segment);
            let segment = &sc.segments[seg];
            let profile = Profile::builtin(&fleet.profile)
                .ok_or_else(|| BuildError::Profile {
                    fleet: fleet.name.clone(),
                    profile: fleet.profile.clone(),
                })?
                .with_quirks(&fleet.quirks);
            let profile = Arc::new(profile);
            profiles.push(profile.clone());
            let link_spec = fleet
                .link
                .clone()
                .unwrap_or_default()
                .merged_over(&segment.link);
            let mut power_rng = stream(seed, &format!("power-on:{}", fleet.name), 0);
            let mut uuid_rng = stream(seed, &format!("uuid:{}", fleet.name), 0);
            let shared_uuid: [u8; 16] = uuid_rng.random();
            let mut members = Vec::new();
            for i in 0..fleet.count {
                let mac = fleet.mac(f, i);
                let uuid = make_uuid(fleet, mac, shared_uuid, &mut uuid_rng);
                let port = net.attach(
                    segments[seg],
                    mac,
                    None,
                    link_params(&link_spec, &mut link_rng),
                );
                net.listen(port, pxelab_reference::wire::dhcp::CLIENT_PORT);
                let spread = if fleet.power_on_spread_s > 0.0 {
                    power_rng.random::<f64>() * fleet.power_on_spread_s
                } else {
                    0.0
                };
                let at = secs(fleet.power_on_s + spread);
                let c = computers.len();
                let firmware = Firmware::new(
                    profile.clone(),
                    Identity { mac, uuid },
                    stream(seed, &format!("firmware:{f}:{i}"), 0),
                );
                queue.push(at, Event::PowerOn(c));
                stations.push(Station::Computer(c));
                members.push(c);
                computers.push(Computer {
                    fleet: f,
                    index: i,
                    mac,
                    uuid,
                    wire_uuid: firmware.uuid(),
                    port,
                    firmware,
                    powered_on: at,
                    post: Duration::from_secs_f64(fleet.post_s),
                    history: Default::default(),
                    last_discover: None,
                    leased_from: None,
                    outcome: None,
                    managed: None,
                });
            }
            fleet_members.push(members);
        }
        // Ports were attached in this same order: servers, then computers.
        debug_assert!(stations.len() == servers.len() + computers.len());

        let mut faults = Vec::new();
        for (i, fault) in sc.faults.iter().enumerate() {
            queue.push(secs(fault.at_s), Event::Fault(i));
            faults.push((fault.kind, fault.target.clone()));
        }

        let (deploys, transfers) = super::deploy::build(
            sc,
            seed,
            &servers,
            &mut computers,
            &fleet_members,
            &net,
            &profiles,
        )?;

        let running = computers.len();
        let paths = (computers.len() <= super::collect::MAX_CLIENT_LINES)
            .then(|| vec![Vec::new(); computers.len()]);
        Ok(World {
            seed,
            now: Instant::ZERO,
            end: secs(sc.duration_s),
            queue,
            net,
            servers,
            computers,
            stations,
            by_addr,
            timers: LookupMap::default(),
            computer_timers: vec![Default::default(); running],
            faults,
            fleet_names: sc.fleets.iter().map(|f| f.name.clone()).collect(),
            fleet_members,
            heard: vec![Default::default(); running],
            paths,
            running,
            events: 0,
            end_reason: EndReason::Quiet,
            deploys,
            conns: Vec::new(),
            transfers,
            pending_image: BTreeMap::new(),
            wrong_computer: Vec::new(),
            registered_during_run: Vec::new(),
            timeline: None,
            outbox: Vec::new(),
        })
    }
}

/// Seconds (from a scenario file) as a virtual instant.
fn secs(s: f64) -> Instant {
    Instant::from_nanos((s.max(0.0) * 1e9).round() as u64)
}

fn link_params(spec: &LinkSpec, rng: &mut ChaCha8Rng) -> LinkParams {
    let d = LinkParams::default();
    let us = |v: f64| Duration::from_nanos((v.max(0.0) * 1e3).round() as u64);
    LinkParams {
        latency: spec.latency_us.map_or(d.latency, us),
        jitter: spec.jitter_us.map_or(d.jitter, us),
        loss: spec.loss.unwrap_or(d.loss),
        bandwidth_bps: spec
            .bandwidth_mbps
            .map_or(d.bandwidth_bps, |m| (m * 1e6).round().max(1.0) as u64),
        link_up_delay: match spec.link_up_delay_s {
            None => d.link_up_delay,
            Some(DelaySpec::Fixed(s)) => Duration::from_secs_f64(s.max(0.0)),
            Some(DelaySpec::Range(lo, hi)) => {
                let x: f64 = rng.random();
                Duration::from_secs_f64((lo + (hi - lo).max(0.0) * x).max(0.0))
            }
        },
    }
}

fn make_uuid(fleet: &Fleet, mac: Mac, shared: [u8; 16], rng: &mut ChaCha8Rng) -> Option<[u8; 16]> {
    match fleet.uuid {
        UuidMode::Random => Some(rng.random()),
        UuidMode::FromMac => {
            let mut u = [0u8; 16];
            u[10..].copy_from_slice(&mac.0);
            Some(u)
        }
        UuidMode::Zero => Some([0; 16]),
        UuidMode::Ff => Some([0xff; 16]),
        UuidMode::Shared => Some(shared),
        UuidMode::None => None,
    }
}

/// Stand-in NBP contents: deterministic, and not all zeros so a transfer that
/// shifted a block would be visible in a pcap.
pub(crate) fn nbp_bytes(size: u64) -> Arc<[u8]> {
    (0..size).map(|i| (i % 251) as u8).collect()
}
