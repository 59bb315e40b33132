//! Virtual clients: the simulator's own firmware machines on the wall clock.
//!
//! Each client has a generated, locally administered MAC (`02:70:78:…`, "px")
//! and runs [`Firmware`] exactly as inside the simulator: DISCOVER on its
//! profile's schedule, offers chosen by its rule, 4011 and TFTP through the
//! reference client. The fleet multiplexes them over one [`Bench`]: unicast
//! frames go to the client with that MAC, broadcasts to every client
//! listening on the port. A client that loads an iPXE binary restarts as
//! iPXE (as the world does), so a server that hands iPXE the iPXE binary
//! again shows up as a chainload loop.

use std::sync::Arc;
use std::time::Duration;

use pxelab_reference::{Datagram, Instant, Mac};

use super::bench::Bench;
use super::link::LinkError;
use crate::engine::stream;
use crate::firmware::{Firmware, FirmwareEvent, Identity, Profile};
use crate::machine::NbpKind;

/// The first three octets of every virtual client's MAC: locally administered
/// (bit 1 of the first octet), unicast, then "px".
pub const MAC_PREFIX: [u8; 3] = [0x02, 0x70, 0x78];

/// The `n`-th virtual client MAC.
pub fn client_mac(n: u32) -> Mac {
    let b = n.to_be_bytes();
    Mac([
        MAC_PREFIX[0],
        MAC_PREFIX[1],
        MAC_PREFIX[2],
        b[1],
        b[2],
        b[3],
    ])
}

/// How one virtual client's boot ended.
#[derive(Debug, Clone, PartialEq)]
pub enum BootEnd {
    /// The NBP (not an iPXE binary, or iPXE's own script) was loaded.
    Loaded {
        /// TFTP server.
        server: std::net::Ipv4Addr,
        /// The file.
        file: String,
        /// Its size.
        bytes: u64,
    },
    /// The firmware failed (PXE-Exx) or booted locally.
    Failed(String),
    /// iPXE was handed an iPXE binary again: the chainload loop.
    ChainloadLoop(String),
    /// The run's deadline passed first.
    Unfinished,
}

/// One virtual client's boot.
#[derive(Debug, Clone)]
pub struct Boot {
    /// Its MAC.
    pub mac: Mac,
    /// Profile id.
    pub profile: String,
    /// Every firmware event, with its time.
    pub events: Vec<(Instant, FirmwareEvent)>,
    /// How it ended.
    pub end: BootEnd,
    /// Leased address.
    pub ip: Option<std::net::Ipv4Addr>,
    /// DISCOVER to first offer.
    pub offer_latency: Option<Duration>,
    /// The first NBP the firmware loaded (the PXE ROM's own stage, before
    /// any iPXE it chainloads).
    pub first_nbp: Option<String>,
}

struct Client {
    firmware: Firmware,
    profile: Arc<Profile>,
    chained: u32,
    boot: Boot,
    done: bool,
    last_discover: Option<Instant>,
}

/// Boots `profiles` (one client each, in order) concurrently until every
/// client finishes or `limit` passes. `first_mac` numbers the MACs.
pub fn boot_fleet(
    bench: &mut Bench<'_>,
    profiles: &[Profile],
    first_mac: u32,
    seed: u64,
    limit: Duration,
) -> Result<Vec<Boot>, LinkError> {
    let start = bench.now();
    let end = start + limit;
    let mut clients: Vec<Client> = profiles
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mac = client_mac(first_mac + i as u32);
            bench.register(mac);
            let profile = Arc::new(p.clone());
            let mut uuid = [0u8; 16];
            uuid[10..].copy_from_slice(&mac.0);
            let id = Identity {
                mac,
                uuid: Some(uuid),
            };
            let firmware = Firmware::new(
                profile.clone(),
                id,
                stream(seed, "conform-client", u64::from(first_mac) + i as u64),
            );
            Client {
                firmware,
                // An iPXE client handed an iPXE binary is already looping.
                chained: u32::from(p.user_class.as_deref() == Some(b"iPXE".as_slice())),
                profile,
                boot: Boot {
                    mac,
                    profile: p.id.clone(),
                    events: Vec::new(),
                    end: BootEnd::Unfinished,
                    ip: None,
                    offer_latency: None,
                    first_nbp: None,
                },
                done: false,
                last_discover: None,
            }
        })
        .collect();
    let now = bench.now();
    for c in 0..clients.len() {
        clients[c].firmware.power_on(now);
        after(bench, &mut clients, c, seed)?;
    }
    // Bounded by the deadline; the count bounds a server that floods.
    for _ in 0..50_000_000u64 {
        if clients.iter().all(|c| c.done) {
            break;
        }
        let now = bench.now();
        if now >= end {
            break;
        }
        // Timers that are due.
        for c in 0..clients.len() {
            if !clients[c].done && clients[c].firmware.poll_timeout().is_some_and(|t| t <= now) {
                clients[c].firmware.handle_timeout(now);
                after(bench, &mut clients, c, seed)?;
            }
        }
        let next = clients
            .iter()
            .filter(|c| !c.done)
            .filter_map(|c| c.firmware.poll_timeout())
            .min()
            .unwrap_or(end)
            .min(end);
        let Some(rx) = bench.recv(next)? else {
            continue;
        };
        let now = bench.now();
        let d = Datagram {
            src: rx.udp.src,
            dst: rx.udp.dst,
            src_mac: rx.udp.src_mac,
            payload: &rx.udp.payload,
        };
        let unicast = rx.udp.dst_mac.0[0] & 1 == 0;
        for c in 0..clients.len() {
            let cl = &mut clients[c];
            if cl.done || (unicast && cl.boot.mac != rx.udp.dst_mac) {
                continue;
            }
            if !cl.firmware.listens_on().contains(&rx.udp.dst.port()) {
                continue;
            }
            cl.firmware.handle_datagram(now, d);
            after(bench, &mut clients, c, seed)?;
        }
    }
    Ok(clients.into_iter().map(|c| c.boot).collect())
}

/// Drains a client's transmits and events (the single-mutation rule).
fn after(
    bench: &mut Bench<'_>,
    clients: &mut [Client],
    c: usize,
    seed: u64,
) -> Result<(), LinkError> {
    let now = bench.now();
    let cl = &mut clients[c];
    let mac = cl.boot.mac;
    let out: Vec<_> = std::iter::from_fn(|| cl.firmware.poll_transmit()).collect();
    let events: Vec<_> = std::iter::from_fn(|| cl.firmware.poll_event()).collect();
    for t in &out {
        bench.send(mac, t)?;
    }
    for e in events {
        match &e {
            FirmwareEvent::Discover { .. } => cl.last_discover = Some(now),
            FirmwareEvent::Offer { .. } => {
                if cl.boot.offer_latency.is_none()
                    && let Some(sent) = cl.last_discover
                {
                    cl.boot.offer_latency = Some(now - sent);
                }
            }
            FirmwareEvent::Bound { ip, .. } => {
                cl.boot.ip = Some(*ip);
                bench.own(*ip, mac);
            }
            FirmwareEvent::Loaded {
                tftp_server,
                file,
                bytes,
            } => {
                if cl.boot.first_nbp.is_none() {
                    cl.boot.first_nbp = Some(file.clone());
                }
                if NbpKind::guess(file) == NbpKind::Ipxe {
                    if cl.chained >= 1 {
                        cl.boot.end = BootEnd::ChainloadLoop(format!(
                            "iPXE (user class iPXE) was handed {file} from {tftp_server}, an iPXE binary, again"
                        ));
                        cl.done = true;
                    } else {
                        // iPXE starts and asks again, without the ROM's lease.
                        cl.chained += 1;
                        if let Some(ip) = cl.boot.ip.take() {
                            bench.disown(ip);
                        }
                        let profile = Arc::new(cl.profile.ipxe_chained());
                        let mut uuid = [0u8; 16];
                        uuid[10..].copy_from_slice(&mac.0);
                        cl.firmware = Firmware::new(
                            profile,
                            Identity {
                                mac,
                                uuid: Some(uuid),
                            },
                            stream(
                                seed,
                                "conform-ipxe",
                                u64::from(mac.0[5]) | (u64::from(mac.0[4]) << 8),
                            ),
                        );
                        cl.firmware.power_on(now);
                        cl.boot.events.push((now, e));
                        return after(bench, clients, c, seed);
                    }
                } else {
                    cl.boot.end = BootEnd::Loaded {
                        server: *tftp_server,
                        file: file.clone(),
                        bytes: *bytes,
                    };
                    cl.done = true;
                }
            }
            FirmwareEvent::Failed { error, detail } => {
                cl.boot.end = BootEnd::Failed(format!("{error}: {detail}"));
                cl.done = true;
            }
            FirmwareEvent::LocalBoot { item } => {
                cl.boot.end =
                    BootEnd::Failed(format!("the menu's first item is local boot ({item})"));
                cl.done = true;
            }
            _ => {}
        }
        cl.boot.events.push((now, e));
    }
    if cl.done
        && let Some(ip) = cl.boot.ip
    {
        bench.disown(ip);
    }
    Ok(())
}
