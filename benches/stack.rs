//! Throughput of the sans-IO TFTP machines alone: no sockets, no clock, so these
//! numbers are the ceiling the driver can reach and the cost the simulator pays per
//! packet. The DHCP machines are measured in `benches/dhcp.rs`, the same transfers
//! over real loopback sockets in `benches/image_throughput.rs`.
//!
//! `cargo bench --bench stack -- --quick` for a fast read; CI runs the benches once
//! in test mode (`cargo test --benches`) to prove they still work.

use std::net::{Ipv4Addr, SocketAddrV4};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pxelab_reference::tftp::{
    Accept, ClientEvent, ClientOptions, MemoryRoot, TftpClient, TftpServer, TftpServerConfig,
};
use pxelab_reference::{Datagram, Instant, Mac};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn dgram(payload: &[u8], src: SocketAddrV4, dst: SocketAddrV4) -> Datagram<'_> {
    Datagram {
        src,
        dst,
        src_mac: Mac::ZERO,
        payload,
    }
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

criterion_group!(benches, tftp);
criterion_main!(benches);
