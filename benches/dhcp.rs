//! DHCP through the sans-IO machines alone (no sockets, no clock): the ceiling the
//! driver can reach, and what the simulator pays per exchange.
//!
//! - `dhcp_codec`: parse and emit of one EDK2-like DISCOVER.
//! - `dhcp/dora_full_memory`: DISCOVER → OFFER → REQUEST → ACK, full mode, leases
//!   in memory.
//! - `dhcp/dora_full_redb`: the same with the redb lease file `pxelab serve` uses,
//!   one client at a time, so every ACK waits for its own commit (fsync).
//! - `dhcp/dora_full_redb_burst64`: the same in bursts of 64 clients, as the
//!   driver hands a storm to the server: one commit per burst (group commit).
//! - `dhcp/proxy_offer`: a ProxyDHCP answer to a PXE DISCOVER on port 67.
//! - `dhcp/proxy_dora`: the whole proxy exchange of a PXE client: DISCOVER →
//!   proxy OFFER on 67, then REQUEST → ACK from the boot server on 4011.
//!
//! Throughput is in exchanges (clients) per second. In smoke mode
//! (`cargo test --benches`) each iteration has 50 clients instead of 1000 (200
//! and 4096 for the redb cases); see `common::smoke`.

mod common;

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pxelab_reference::dhcp::{
    DhcpConfig, DhcpMode, DhcpServer, DhcpSettings, LeaseStore, MemoryStore, PoolConfig, RedbStore,
};
use pxelab_reference::pxe::{BootPolicy, BootServer, BootServerConfig};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{DhcpMessage, MessageType, code};
use pxelab_reference::{Datagram, Instant, Mac};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// A DISCOVER carrying what an EDK2 UEFI client sends (options 53, 57, 55, 97, 94, 93, 60).
fn pxe_discover(mac: Mac, xid: u32, kind: MessageType) -> DhcpMessage {
    let mut m = DhcpMessage {
        xid,
        ..DhcpMessage::default()
    };
    m.chaddr[..6].copy_from_slice(&mac.0);
    m.set_message_type(kind);
    m.push_option(code::MAX_MESSAGE_SIZE, 1472u16.to_be_bytes());
    m.push_option(
        code::PARAMETER_REQUEST_LIST,
        [1, 3, 6, 43, 60, 66, 67, 128, 129, 130],
    );
    m.push_option(code::CLIENT_UUID, [0u8; 17]);
    m.push_option(code::CLIENT_NDI, [1, 3, 0]);
    m.push_option(code::CLIENT_ARCH, [0, 7]);
    m.push_option(code::VENDOR_CLASS, &b"PXEClient:Arch:00007:UNDI:003000"[..]);
    m
}

fn config(mode: DhcpMode) -> DhcpConfig {
    DhcpConfig {
        server_addr: SERVER,
        netmask: Ipv4Addr::new(255, 255, 0, 0),
        mode,
        settings: DhcpSettings::default(),
        boot: BootPolicy::default(),
        unix_time_at_start: 1_800_000_000,
    }
}

fn bcast(payload: &[u8], mac: Mac) -> Datagram<'_> {
    Datagram {
        src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
        dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
        src_mac: mac,
        payload,
    }
}

fn mac_of(i: u32, tag: u8) -> Mac {
    Mac([2, tag, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8])
}

fn clients(full: u32) -> u32 {
    if common::smoke() { 50 } else { full }
}

fn codec(c: &mut Criterion) {
    let bytes = pxe_discover(Mac([2, 0, 0, 0, 0, 1]), 7, MessageType::Discover).emit();
    let msg = DhcpMessage::parse(&bytes, ParseMode::Strict).expect("valid");
    let mut g = c.benchmark_group("dhcp_codec");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| DhcpMessage::parse(black_box(&bytes), ParseMode::Lax))
    });
    g.bench_function("emit", |b| b.iter(|| black_box(&msg).emit()));
    g.finish();
}

/// Runs `n` full-mode DORA exchanges for distinct clients through a fresh server
/// over `store`, `burst` clients at a time as the driver hands the server a burst
/// of waiting datagrams: their DISCOVERs, then their REQUESTs, each followed by
/// one drain (so one lease commit per burst). Returns how many were ACKed.
fn dora_full(n: u32, burst: u32, store: Box<dyn LeaseStore>) -> u32 {
    let pool: PoolConfig = "10.0.1.0-10.0.255.255".parse().expect("range");
    let mode = DhcpMode::Full { pools: vec![pool] };
    let mut s = DhcpServer::new(config(mode), store, Instant::ZERO).expect("config");
    let mut acks = 0;
    for first in (0..n).step_by(burst as usize) {
        let group: Vec<u32> = (first..n.min(first + burst)).collect();
        for &i in &group {
            let mac = mac_of(i, 0);
            let d = pxe_discover(mac, i, MessageType::Discover).emit();
            s.handle_datagram(Instant::ZERO, bcast(&d, mac));
        }
        let mut requests = Vec::with_capacity(group.len());
        for &i in &group {
            let offer = s.poll_transmit().expect("offer");
            let offer = DhcpMessage::parse(&offer.payload, ParseMode::Lax).expect("valid");
            let mac = mac_of(i, 0);
            let mut r = pxe_discover(mac, i, MessageType::Request);
            r.push_option(code::REQUESTED_IP, offer.yiaddr.octets());
            r.push_option(code::SERVER_ID, SERVER.octets());
            requests.push((mac, r.emit()));
        }
        for (mac, r) in &requests {
            s.handle_datagram(Instant::ZERO, bcast(r, *mac));
        }
        while s.poll_transmit().is_some() {
            acks += 1;
        }
        while s.poll_event().is_some() {}
    }
    acks
}

fn dora(c: &mut Criterion) {
    let mut g = c.benchmark_group("dhcp");

    let n = clients(1000);
    g.throughput(Throughput::Elements(u64::from(n)));
    g.bench_function("dora_full_memory", |b| {
        b.iter(|| assert_eq!(dora_full(n, 1, Box::new(MemoryStore::new())), n))
    });

    // Every ACK waits for its lease's fsync: far fewer per iteration. One client
    // at a time (one fsync each), then in bursts of 64 as the driver batches a
    // storm (one fsync per burst).
    for (name, burst, clients_full) in [
        ("dora_full_redb", 1, 200),
        ("dora_full_redb_burst64", 64, 4096),
    ] {
        let n = clients(clients_full);
        g.throughput(Throughput::Elements(u64::from(n)));
        g.sample_size(10);
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let store =
                        RedbStore::open(dir.path().join("leases.redb")).expect("lease file");
                    (dir, store)
                },
                |(dir, store)| {
                    assert_eq!(dora_full(n, burst, Box::new(store)), n);
                    drop(dir);
                },
                criterion::BatchSize::PerIteration,
            )
        });
    }

    let n = clients(1000);
    g.throughput(Throughput::Elements(u64::from(n)));
    g.sample_size(100);
    let discovers: Vec<(Mac, Vec<u8>)> = (0..n)
        .map(|i| {
            let mac = mac_of(i, 1);
            (mac, pxe_discover(mac, i, MessageType::Discover).emit())
        })
        .collect();
    g.bench_function("proxy_offer", |b| {
        let mut s = DhcpServer::new(
            config(DhcpMode::Proxy),
            Box::new(MemoryStore::new()),
            Instant::ZERO,
        )
        .expect("config");
        b.iter(|| {
            for (mac, d) in &discovers {
                s.handle_datagram(Instant::ZERO, bcast(d, *mac));
                black_box(s.poll_transmit().expect("proxy offer"));
                while s.poll_event().is_some() {}
            }
        })
    });

    // The client got its address from another server (10.0.x.y); it asks the
    // boot server on 4011 from that address, as PXE 2.1 §2.2.5 has it.
    let requests: Vec<(Mac, SocketAddrV4, Vec<u8>)> = (0..n)
        .map(|i| {
            let mac = mac_of(i, 2);
            let addr = Ipv4Addr::new(10, 0, 2 + (i >> 8) as u8, i as u8);
            let mut r = pxe_discover(mac, i, MessageType::Request);
            r.ciaddr = addr;
            (mac, SocketAddrV4::new(addr, 68), r.emit())
        })
        .collect();
    g.bench_function("proxy_dora", |b| {
        let cfg = config(DhcpMode::Proxy);
        let mut boot = BootServer::new(BootServerConfig::from_dhcp(&cfg));
        let mut s =
            DhcpServer::new(cfg, Box::new(MemoryStore::new()), Instant::ZERO).expect("config");
        b.iter(|| {
            for ((mac, d), (_, from, r)) in discovers.iter().zip(&requests) {
                s.handle_datagram(Instant::ZERO, bcast(d, *mac));
                black_box(s.poll_transmit().expect("proxy offer"));
                while s.poll_event().is_some() {}
                boot.handle_datagram(
                    Instant::ZERO,
                    Datagram {
                        src: *from,
                        dst: SocketAddrV4::new(SERVER, 4011),
                        src_mac: *mac,
                        payload: r,
                    },
                );
                black_box(boot.poll_transmit().expect("boot server ACK"));
                while boot.poll_event().is_some() {}
            }
        })
    });
    g.finish();
}

criterion_group!(benches, codec, dora);
criterion_main!(benches);
