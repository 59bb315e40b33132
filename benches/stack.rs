//! Throughput of the sans-IO machines alone: no sockets, no clock, so these numbers
//! are the ceiling the drivers can reach and the cost the simulator pays per packet.
//!
//! `cargo bench --bench stack -- --quick` for a fast read; CI runs the benches once
//! in test mode (`cargo test --benches`) to prove they still work.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pxelab_reference::dhcp::{
    DhcpConfig, DhcpMode, DhcpServer, DhcpSettings, MemoryStore, PoolConfig,
};
use pxelab_reference::pxe::BootPolicy;
use pxelab_reference::tftp::{
    Accept, ClientEvent, ClientOptions, MemoryRoot, TftpClient, TftpServer, TftpServerConfig,
};
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

fn dgram(payload: &[u8], src: SocketAddrV4, dst: SocketAddrV4) -> Datagram<'_> {
    Datagram {
        src,
        dst,
        src_mac: Mac::ZERO,
        payload,
    }
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

/// DISCOVER → OFFER → REQUEST → ACK for 1000 distinct clients, per iteration.
fn dora(c: &mut Criterion) {
    const CLIENTS: u32 = 1000;
    let mut g = c.benchmark_group("dhcp_server");
    g.throughput(Throughput::Elements(u64::from(CLIENTS)));
    let pool: PoolConfig = "10.0.1.0-10.0.8.255".parse().expect("range");
    g.bench_function("dora_full", |b| {
        b.iter(|| {
            let mode = DhcpMode::Full {
                pools: vec![pool.clone()],
            };
            let store = Box::new(MemoryStore::new());
            let mut s = DhcpServer::new(config(mode), store, Instant::ZERO).expect("config");
            let mut acks = 0;
            for i in 0..CLIENTS {
                let mac = Mac([2, 0, 0, 0, (i >> 8) as u8, i as u8]);
                let d = pxe_discover(mac, i, MessageType::Discover).emit();
                s.handle_datagram(Instant::ZERO, bcast(&d, mac));
                let offer = s.poll_transmit().expect("offer");
                let offer = DhcpMessage::parse(&offer.payload, ParseMode::Lax).expect("valid");
                let mut r = pxe_discover(mac, i, MessageType::Request);
                r.push_option(code::REQUESTED_IP, offer.yiaddr.octets());
                r.push_option(code::SERVER_ID, SERVER.octets());
                s.handle_datagram(Instant::ZERO, bcast(&r.emit(), mac));
                acks += usize::from(s.poll_transmit().is_some());
                while s.poll_event().is_some() {}
            }
            assert_eq!(acks, CLIENTS as usize);
        })
    });
    g.bench_function("proxy_offer", |b| {
        let mut s = DhcpServer::new(
            config(DhcpMode::Proxy),
            Box::new(MemoryStore::new()),
            Instant::ZERO,
        )
        .expect("config");
        let msgs: Vec<(Mac, Vec<u8>)> = (0..CLIENTS)
            .map(|i| {
                let mac = Mac([2, 0, 0, 1, (i >> 8) as u8, i as u8]);
                (mac, pxe_discover(mac, i, MessageType::Discover).emit())
            })
            .collect();
        b.iter(|| {
            for (mac, d) in &msgs {
                s.handle_datagram(Instant::ZERO, bcast(d, *mac));
                black_box(s.poll_transmit().expect("proxy offer"));
                while s.poll_event().is_some() {}
            }
        })
    });
    g.finish();
}

/// One 8 MiB transfer from a server session to the client machine, in memory.
fn tftp(c: &mut Criterion) {
    const LEN: usize = 8 << 20;
    let image: Vec<u8> = (0..LEN).map(|i| (i * 31 % 251) as u8).collect();
    let root = MemoryRoot::new().with("image.bin", image);
    let server_addr = SocketAddrV4::new(SERVER, 69);
    let session_addr = SocketAddrV4::new(SERVER, 40000);
    let client_addr = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 2000);
    let mut g = c.benchmark_group("tftp_session");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.sample_size(10);
    for (blksize, window) in [(1468u16, 1u16), (1468, 8), (8192, 16)] {
        let id = BenchmarkId::from_parameter(format!("blksize{blksize}_window{window}"));
        g.bench_function(id, |b| {
            b.iter(|| {
                let mut server = TftpServer::new(TftpServerConfig {
                    max_blksize: 65464,
                    ..TftpServerConfig::default()
                });
                let opts = ClientOptions {
                    blksize: Some(blksize),
                    windowsize: Some(window),
                    tsize: true,
                    ..ClientOptions::default()
                };
                let now = Instant::ZERO;
                let mut client = TftpClient::new(now, server_addr, client_addr, "image.bin", opts);
                let rrq = client.poll_transmit().expect("rrq");
                let Accept::Session(mut session) =
                    server.accept(now, dgram(&rrq.payload, client_addr, server_addr), &root)
                else {
                    panic!("file is served");
                };
                // The client dallies after its last ACK (in case it is lost), so the
                // transfer is over at its Completed event, not when it is finished.
                let mut done = false;
                while !done {
                    let mut progressed = false;
                    while let Some(t) = session.poll_transmit() {
                        client.handle_datagram(now, dgram(&t.payload, session_addr, client_addr));
                        progressed = true;
                    }
                    while let Some(t) = client.poll_transmit() {
                        session.handle_datagram(now, dgram(&t.payload, client_addr, session_addr));
                        progressed = true;
                    }
                    while let Some(e) = client.poll_event() {
                        assert!(matches!(e, ClientEvent::Completed { .. }), "{e:?}");
                        done = true;
                    }
                    assert!(progressed || done, "transfer stalled");
                }
                assert_eq!(client.data().len(), LEN);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, codec, dora, tftp);
criterion_main!(benches);
