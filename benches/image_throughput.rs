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
//! `image_throughput/deploy_stream/unicast_tcp` is the other path an image takes:
//! the Deployment Server streaming a 64 MiB image to Bootworks over loopback TCP
//! (see `deploy_stream`).
//!
//! In smoke mode (`cargo test --benches`, `cargo bench -- --test`) the TFTP file
//! is 256 KiB and the image 1 MiB instead of 64 MiB; see `common::smoke`.

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

/// One computer as `pxelab deploy-server` and `pxelab agent` know it.
const MAC: &str = "02:00:00:00:00:07";
const NAME: &str = "wks-07";

/// Runs `pxelab ARGS` to its end; panics (with its output) unless it exits with
/// one of `codes`.
fn pxelab(args: &[&str], codes: &[i32]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .args(args)
        .output()
        .expect("run pxelab");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.code().is_some_and(|c| codes.contains(&c)),
        "pxelab {args:?}: {:?}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A Deployment Server with one deploy-image job for one computer, whose disk
/// already carries the boot flag AClient set: what Bootworks finds when it starts.
struct Deployment {
    _dir: tempfile::TempDir,
    server: std::process::Child,
    addr: String,
    disk: String,
}

impl Deployment {
    fn new(image: &[u8]) -> Deployment {
        use std::io::BufRead;
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        std::fs::create_dir(p.join("images")).expect("mkdir");
        std::fs::write(p.join("images/os.img"), image).expect("write the image");
        let credential = "05".repeat(32);
        std::fs::write(
            p.join("deploy.toml"),
            format!(
                r#"mode = "reference"
image_dir = "images"

[[image]]
name = "os"
file = "os.img"

[[computer]]
name = "{NAME}"
mac = "{MAC}"
pre_os = "partition"
agent_credential = "{credential}"
share_credential = "{share}"

[[job]]
computer = "{NAME}"
kind = "deploy-image"
image = "os"
"#,
                share = "06".repeat(32),
            ),
        )
        .expect("write the config");
        let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_pxelab"))
            .args(["deploy-server", "--listen", "127.0.0.1:0", "--config"])
            .arg(p.join("deploy.toml"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run pxelab deploy-server");
        // The server logs every exchange to stdout: keep reading it, or its
        // writes would fail once the pipe is full or closed.
        let stdout = server.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server says where it listens");
        let disk = p.join("disk.img").to_str().expect("utf-8").to_string();
        let os_bytes = (image.len() as u64 + (1 << 20)).to_string();
        pxelab(
            &[
                "agent",
                "make-disk",
                "--disk",
                &disk,
                "--os-bytes",
                &os_bytes,
                "--bootworks-bytes",
                "1048576",
            ],
            &[0],
        );
        let d = Deployment {
            _dir: dir,
            server,
            addr,
            disk,
        };
        // Windows boots, AClient arms the flag and asks for a reboot (exit 10).
        d.agent("aclient", &[10]);
        d
    }

    fn agent(&self, which: &str, codes: &[i32]) -> String {
        let credential = "05".repeat(32);
        pxelab(
            &[
                "agent",
                which,
                "--server",
                &self.addr,
                "--disk",
                &self.disk,
                "--mac",
                MAC,
                "--name",
                NAME,
                "--credential",
                &credential,
            ],
            codes,
        )
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The Deployment Server's unicast image stream over loopback TCP: from
/// Bootworks starting (flag set by AClient, as after the reboot) to the image
/// written to the disk file and its SHA-256 verified, with the real processes
/// (`pxelab deploy-server`, `pxelab agent bootworks`). Each sample is a fresh
/// server and disk; only the Bootworks run is timed, so the figure includes one
/// process start (milliseconds) besides the stream.
fn deploy_stream(c: &mut Criterion) {
    let len = if common::smoke() { 1 << 20 } else { FULL_LEN };
    let image: Vec<u8> = (0..len).map(|i| (i * 131 % 241) as u8).collect();
    let mut g = c.benchmark_group("image_throughput");
    g.throughput(Throughput::Bytes(len as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("deploy_stream/unicast_tcp", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let d = Deployment::new(&image);
                let start = std::time::Instant::now();
                let out = d.agent("bootworks", &[10]);
                total += start.elapsed();
                assert!(
                    out.contains(&format!("imaged {len} bytes, SHA-256 verified")),
                    "{out}"
                );
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, tftp_loopback, deploy_stream);
criterion_main!(benches);
