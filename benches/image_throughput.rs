//! Image throughput over real loopback UDP sockets: the tokio driver's TFTP server
//! (`driver::serve::Server`, TFTP only, one socket per transfer as `pxelab serve`
//! runs it) serving a 64 MiB file from a directory to the project's `TftpClient`,
//! itself run by the driver's `drive` loop on its own socket, for every blksize ×
//! windowsize pair the issue names.
//!
//! The transfer is timed from the RRQ to the client's `Completed` event (the
//! client's dally after its last ACK, RFC 1350 §6, is not part of the transfer).
//! Every download is checked for length. The client keeps its default 1 s
//! retransmission timeout; each case prints how many retransmits one transfer
//! needed, because windows of 8 KiB+ blocks overflow the client socket's default
//! receive buffer on loopback and then cost whole timeouts (BENCHMARKS.md). With a
//! 200 ms timeout the blksize 8192 × windowsize 16 case does not finish at all:
//! every re-sent window is lost the same way until the client gives up. At
//! 64 MiB those cases (blksize 8192 and 65464 × windowsize 16 and 64) take
//! minutes per transfer; filter them out for a quick read:
//! `cargo bench --bench image_throughput -- 'blksize(512|1468)_|window(1|4)$'`.
//!
//! In smoke mode (`cargo test --benches`, `cargo bench -- --test`) the file is
//! 256 KiB instead of 64 MiB; see `common::smoke`.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pxelab_reference::driver::serve::{ServeSpec, Server};
use pxelab_reference::driver::{Clock, Delivery, Endpoint, Interface, Shutdown, drive};
use pxelab_reference::tftp::{ClientEvent, ClientOptions, TftpClient, TftpServerConfig};

const FULL_LEN: usize = 64 << 20;
const SMOKE_LEN: usize = 256 << 10;

/// Downloads `image.bin` once; returns the number of bytes received and how many
/// times the client had to retransmit.
async fn fetch(server: SocketAddrV4, lo: &Interface, opts: ClientOptions) -> (u64, u64) {
    let ep = Endpoint::bind(
        lo,
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        Delivery::Plain,
    )
    .expect("bind a client socket on lo");
    let clock = Clock::start();
    let mut client = TftpClient::new(clock.now(), server, ep.local_addr(), "image.bin", opts);
    let (stop, shutdown) = Shutdown::new();
    let mut got = None;
    drive(&mut client, &ep, clock, shutdown, |e| match e {
        ClientEvent::Completed {
            bytes, retransmits, ..
        } => {
            got = Some((bytes, retransmits));
            stop.trigger();
        }
        other => panic!("transfer failed: {other:?}"),
    })
    .await
    .expect("client socket");
    got.expect("the transfer completed")
}

fn tftp_loopback(c: &mut Criterion) {
    let smoke = common::smoke();
    let len = if smoke { SMOKE_LEN } else { FULL_LEN };
    let dir = tempfile::tempdir().expect("tempdir");
    let image: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(dir.path().join("image.bin"), &image).expect("write the image");
    drop(image);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let lo = Interface::lookup("lo").expect("loopback interface");
    let (trigger, shutdown) = Shutdown::new();
    let (server_addr, task) = rt.block_on(async {
        let server = Server::bind(ServeSpec {
            iface: lo.clone(),
            tftp_root: dir.path().to_path_buf(),
            tftp_port: 0,
            tftp: TftpServerConfig {
                max_blksize: 65464,
                ..TftpServerConfig::default()
            },
            dhcp: None,
        })
        .expect("bind the TFTP server on lo");
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, server.tftp_addr().port());
        (addr, tokio::spawn(server.run(shutdown)))
    });

    let mut g = c.benchmark_group("image_throughput");
    g.throughput(Throughput::Bytes(len as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(5));
    for blksize in [512u16, 1468, 8192, 65464] {
        for window in [1u16, 4, 16, 64] {
            let case = format!("blksize{blksize}_window{window}");
            let opts = ClientOptions {
                blksize: Some(blksize),
                windowsize: Some(window),
                tsize: true,
                ..ClientOptions::default()
            };
            // Large windows of large blocks overflow a socket's receive buffer on
            // loopback; say how often the first transfer of a case lost data, so a
            // slow case is explained (once per case, inside the case so a filtered
            // run pays nothing for the cases it skips).
            let mut told = false;
            g.bench_function(BenchmarkId::new("tftp_loopback", &case), |b| {
                b.iter(|| {
                    let (bytes, retransmits) = rt.block_on(fetch(server_addr, &lo, opts.clone()));
                    assert_eq!(bytes, len as u64);
                    if !told {
                        println!("image_throughput/tftp_loopback/{case}: {retransmits} retransmits in one transfer");
                        told = true;
                    }
                })
            });
        }
    }
    g.finish();
    trigger.trigger();
    rt.block_on(task).expect("server task");
}

criterion_group!(benches, tftp_loopback);
criterion_main!(benches);
