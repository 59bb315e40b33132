//! A storm of 500 concurrent TFTP downloads from the real `pxelab serve
//! --tftp-only`, inside a private network namespace, plus one client that
//! vanishes mid-transfer.
//!
//! What it shows: every download is the file byte for byte whatever the block
//! and window size; the server's peak memory stays within what its design
//! promises per transfer in progress; a vanished client's session times out
//! within the server's documented retry bound without disturbing the others;
//! and once the storm is over the server holds no more file descriptors than
//! before it (each session closed its file and its socket).

mod hostile_support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use hostile_support::{Rng, free_udp_port, in_private_netns, report, rrq, spawn_serve};

const CLIENTS: usize = 500;
const FILE_LEN: usize = 1 << 20;
const FILE: &str = "storm.bin";

/// Per transfer in progress the server holds: the session task's receive
/// buffer (64 KiB, `driver::machine::drive`), the file's read-ahead (64 KiB,
/// `driver::fs`), one window of DATA packets (8 × 1472 B here) and the task's
/// and socket's bookkeeping (a few KiB): about 140 KiB. 256 KiB leaves room for
/// allocator slack, and is still far below what a leak per session (a file or
/// a window kept per packet) would cost over 500 sessions.
const PER_SESSION: u64 = 256 << 10;

/// `TftpServerConfig::default()`: 1 s retransmission timeout, 5 retries. A
/// session whose client is gone ends after the sixth timeout without progress.
const SESSION_GIVES_UP_AFTER: Duration = Duration::from_secs(6);

/// How long any single download may take, and the whole storm: generous, for
/// a debug build on a loaded machine; the loops stop there whatever happens.
const DOWNLOAD_BOUND: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy)]
enum Style {
    /// RFC 1350: 512-byte blocks, one at a time.
    Lockstep512,
    /// blksize 1468, lockstep.
    Blksize1468,
    /// blksize 1468, windowsize 8 (RFC 7440).
    Window8,
}

impl Style {
    fn options(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Style::Lockstep512 => &[],
            Style::Blksize1468 => &[("blksize", "1468"), ("tsize", "0")],
            Style::Window8 => &[("blksize", "1468"), ("windowsize", "8")],
        }
    }
}

/// Downloads `FILE` from 127.0.0.1:`port` as a careful client does: ACK 0 for
/// an OACK, one ACK per window, the last in-order block again on a gap, the
/// last packet again after a silence. Every loop is bounded by `deadline`.
fn download(port: u16, style: Style, deadline: Instant) -> Result<Vec<u8>, String> {
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    let request = rrq(FILE.as_bytes(), style.options());
    let server = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    sock.send_to(&request, server).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 70_000];
    let mut data = Vec::with_capacity(FILE_LEN);
    let mut peer: Option<SocketAddr> = None;
    let (mut blksize, mut window) = (512usize, 1u16);
    let mut expect: u16 = 1;
    let mut since_ack = 0u16;
    let mut last_sent: Vec<u8> = request.clone();
    let mut gap_acked = false;
    while Instant::now() < deadline {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(got) => got,
            Err(_) => {
                // Silence: say the last thing again (RRQ or ACK).
                since_ack = 0;
                let to = peer.unwrap_or(server);
                let _ = sock.send_to(&last_sent, to);
                continue;
            }
        };
        let pkt = &buf[..n];
        if peer.is_some_and(|p| p != from) || n < 4 {
            continue;
        }
        let ack = |block: u16| {
            let [a, b] = block.to_be_bytes();
            vec![0, 4, a, b]
        };
        match u16::from_be_bytes([pkt[0], pkt[1]]) {
            6 if expect == 1 => {
                peer = Some(from);
                let mut fields = pkt[2..].split(|&b| b == 0);
                while let (Some(k), Some(v)) = (fields.next(), fields.next()) {
                    let v: Option<usize> = std::str::from_utf8(v).ok().and_then(|v| v.parse().ok());
                    match (k, v) {
                        (b"blksize", Some(v)) => blksize = v,
                        (b"windowsize", Some(v)) => window = v as u16,
                        (b"tsize", Some(v)) if v != FILE_LEN => {
                            return Err(format!("tsize {v}, file is {FILE_LEN}"));
                        }
                        _ => {}
                    }
                }
                last_sent = ack(0);
                sock.send_to(&last_sent, from).map_err(|e| e.to_string())?;
            }
            3 => {
                peer = Some(from);
                let block = u16::from_be_bytes([pkt[2], pkt[3]]);
                if block == expect {
                    data.extend_from_slice(&pkt[4..]);
                    expect = expect.wrapping_add(1);
                    since_ack += 1;
                    gap_acked = false;
                    let last = n - 4 < blksize;
                    if last || since_ack >= window {
                        since_ack = 0;
                        last_sent = ack(block);
                        sock.send_to(&last_sent, from).map_err(|e| e.to_string())?;
                    }
                    if last {
                        return Ok(data);
                    }
                } else if !gap_acked {
                    gap_acked = true;
                    since_ack = 0;
                    last_sent = ack(expect.wrapping_sub(1));
                    sock.send_to(&last_sent, from).map_err(|e| e.to_string())?;
                }
            }
            5 => {
                return Err(format!(
                    "server sent ERROR {:?}",
                    String::from_utf8_lossy(pkt)
                ));
            }
            _ => {}
        }
    }
    Err(format!(
        "{style:?} download not finished within {DOWNLOAD_BOUND:?}, {} bytes in",
        data.len()
    ))
}

/// Starts a download, takes a few blocks, then goes silent for good. Returns
/// its port (the server's log names the client by it) and how long it was
/// active, from its RRQ to its last ACK.
fn vanish(port: u16) -> (u16, Duration) {
    let start = Instant::now();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let request = rrq(FILE.as_bytes(), &[("blksize", "1468")]);
    let mut buf = vec![0u8; 70_000];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut acked = 0u16;
    sock.send_to(&request, (Ipv4Addr::LOCALHOST, port)).unwrap();
    while acked < 3 {
        assert!(
            Instant::now() < deadline,
            "the vanishing client got no data"
        );
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            if acked == 0 {
                sock.send_to(&request, (Ipv4Addr::LOCALHOST, port)).unwrap();
            }
            continue;
        };
        match buf[..n.max(2)][..2] {
            [0, 6] => {
                sock.send_to(&[0, 4, 0, 0], from).unwrap();
            }
            [0, 3] if n >= 4 && u16::from_be_bytes([buf[2], buf[3]]) == acked + 1 => {
                acked += 1;
                sock.send_to(&[0, 4, buf[2], buf[3]], from).unwrap();
            }
            _ => {}
        }
    }
    // The socket stays open (so the port is not reused) until the test ends.
    let port = sock.local_addr().unwrap().port();
    std::mem::forget(sock);
    (port, start.elapsed())
}

/// The `duration=…s` of a transfer log line.
fn logged_duration(line: &str) -> Option<Duration> {
    let rest = &line[line.find("duration=")? + "duration=".len()..];
    let end = rest.find([' ', '\x1b']).unwrap_or(rest.len());
    let v = &rest[..end];
    let secs: f64 = if let Some(ms) = v.strip_suffix("ms") {
        ms.parse::<f64>().ok()? / 1000.0
    } else {
        v.strip_suffix('s')?.parse().ok()?
    };
    Some(Duration::from_secs_f64(secs))
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn five_hundred_concurrent_downloads_are_exact_and_bounded() {
    in_private_netns(
        "five_hundred_concurrent_downloads_are_exact_and_bounded",
        storm,
    );
}

fn storm() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let mut rng = Rng(0x5eed_7f7f_0123_4567);
    let file = Arc::new(rng.bytes(FILE_LEN));
    std::fs::write(root.join(FILE), file.as_slice()).unwrap();
    let port = free_udp_port();
    let (mut server, log) = spawn_serve(
        dir.path(),
        Path::new("root"),
        &["--tftp-only", "--tftp-port", &port.to_string()],
    );
    let pid = server.0.id();

    // Ready, and warmed up: one download of each kind before the baseline.
    let warm_deadline = Instant::now() + Duration::from_secs(60);
    for style in [Style::Lockstep512, Style::Blksize1468, Style::Window8] {
        let got = download(port, style, warm_deadline)
            .unwrap_or_else(|e| panic!("warm-up {style:?}: {e}\n{}", log.text()));
        assert!(got == *file, "warm-up {style:?} download differs");
    }
    std::thread::sleep(Duration::from_millis(200));
    let base_rss = status_kib(pid, "VmHWM:");
    let base_fds = open_fds(pid);

    let started = Instant::now();
    let deadline = started + DOWNLOAD_BOUND;
    let barrier = Arc::new(Barrier::new(CLIENTS + 1));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let style = [Style::Lockstep512, Style::Blksize1468, Style::Window8][i % 3];
            let (barrier, file) = (barrier.clone(), file.clone());
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    barrier.wait();
                    let got = download(port, style, deadline)?;
                    if got.len() != file.len() {
                        return Err(format!(
                            "{style:?}: {} bytes, not {}",
                            got.len(),
                            file.len()
                        ));
                    }
                    match got.iter().zip(file.iter()).position(|(a, b)| a != b) {
                        Some(at) => Err(format!("{style:?}: byte {at} differs")),
                        None => Ok(()),
                    }
                })
                .expect("spawn a client thread")
        })
        .collect();
    barrier.wait();
    // In the middle of the storm, one client walks away mid-transfer.
    let (gone, active) = vanish(port);

    let mut failures = Vec::new();
    for (i, c) in clients.into_iter().enumerate() {
        match c.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("client {i}: {e}")),
            Err(_) => failures.push(format!("client {i} panicked")),
        }
    }
    let wall = started.elapsed();
    assert!(
        failures.is_empty(),
        "{} of {CLIENTS} downloads failed: {:?}\n{}",
        failures.len(),
        &failures[..failures.len().min(10)],
        log.text()
    );
    let peak_rss = status_kib(pid, "VmHWM:");

    // The vanished client's session ends with a timed-out transfer line, and
    // the transfer lasted no longer than the client's activity plus the
    // server's retry bound (plus slack for a loaded machine).
    let needle = format!("127.0.0.1:{gone} ");
    let slack = Duration::from_secs(10);
    let wait_until = Instant::now() + SESSION_GIVES_UP_AFTER + slack;
    let mut line = None;
    while line.is_none() && Instant::now() < wait_until {
        line = log
            .text()
            .lines()
            .find(|l| l.contains(&needle) && l.contains("TFTP transfer"))
            .map(str::to_string);
        std::thread::sleep(Duration::from_millis(50));
    }
    let line = line.unwrap_or_else(|| {
        panic!(
            "no transfer line for the vanished client {needle}:\n{}",
            log.text()
        )
    });
    assert!(
        line.contains("TimedOut") && line.contains("failed"),
        "the vanished client's transfer did not time out: {line}"
    );
    let lasted = logged_duration(&line).expect("a duration in the transfer line");
    let after = lasted.saturating_sub(active);
    assert!(
        after <= SESSION_GIVES_UP_AFTER + slack,
        "the vanished client's session lasted {after:?} past its last ACK: {line}"
    );

    // Every session closed its file and socket: back to the baseline.
    let fd_deadline = Instant::now() + Duration::from_secs(20);
    let mut fds = open_fds(pid);
    while fds > base_fds + 2 && Instant::now() < fd_deadline {
        std::thread::sleep(Duration::from_millis(100));
        fds = open_fds(pid);
    }
    assert!(server.alive(), "the server died: {}", log.text());

    let bound = base_rss + CLIENTS as u64 * PER_SESSION / 1024;
    report(&format!(
        "tftp_storm: {CLIENTS} clients x {} KiB in {:.1} s; server peak RSS (VmHWM) {} KiB \
         (baseline {base_rss} KiB, bound {bound} KiB = baseline + {CLIENTS} x {} KiB); \
         vanished client timed out {:.1} s after its last ACK; fds {base_fds} before, {fds} after",
        FILE_LEN / 1024,
        wall.as_secs_f64(),
        peak_rss,
        PER_SESSION / 1024,
        after.as_secs_f64(),
    ));
    assert!(
        peak_rss <= bound,
        "peak RSS {peak_rss} KiB over the bound {bound} KiB: memory per session blew up"
    );
    assert!(
        fds <= base_fds + 2,
        "{fds} open descriptors after the storm, {base_fds} before: sessions leak files or sockets"
    );
}
