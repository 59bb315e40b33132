//! Shared by `tests/hostile_input.rs` and `tests/crash_safety.rs`: a private
//! network namespace for the test, a `pxelab serve` child that is killed on drop,
//! a small blocking TFTP client, and a reader for a child's log.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Kills the child when dropped, so a failed assertion never leaves a server.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Whether the child is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }

    /// SIGKILL and reap (`kill -9`: no chance to flush anything).
    pub fn kill_9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// Writes a line straight to stderr, past the harness's capture, so a SKIP shows
/// in the log of a passing run.
pub fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn require_peers() -> bool {
    std::env::var("PXELAB_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

unsafe extern "C" {
    // libc's unshare(2); std links libc already, so no crate is needed for it.
    fn unshare(flags: std::ffi::c_int) -> std::ffi::c_int;
}
const CLONE_NEWNET: std::ffi::c_int = 0x4000_0000;

/// Runs `f` on a thread of its own inside a fresh network namespace with `lo` up,
/// so ports 67/68/4011 on `lo` are the test's alone (other tests, CI runs and
/// other servers on this machine cannot steal or answer its datagrams). Children
/// spawned from that thread inherit the namespace.
///
/// Needs root (CAP_SYS_ADMIN). Without it, prints `SKIP <name>: …` and returns
/// `None`, or panics when `PXELAB_REQUIRE_PEERS=1` (as the real-peer tests do).
pub fn in_private_netns<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let name = name.to_owned();
    let handle = std::thread::spawn(move || {
        // SAFETY: unshare only changes this thread's namespace membership.
        if unsafe { unshare(CLONE_NEWNET) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(format!(
                "cannot create a network namespace ({e}); needs root"
            ));
        }
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status();
        match up {
            Ok(s) if s.success() => Ok(f()),
            other => Err(format!("`ip link set lo up` failed: {other:?}")),
        }
    });
    match handle.join() {
        Ok(Ok(t)) => Some(t),
        Ok(Err(reason)) => {
            if require_peers() {
                panic!("{name} cannot run and PXELAB_REQUIRE_PEERS=1: {reason}");
            }
            report(&format!("SKIP {name}: {reason}"));
            None
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// A child's stderr, collected line by line on a thread (so the pipe never fills).
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// Starts collecting `pipe`.
    pub fn collect(pipe: impl std::io::Read + Send + 'static) -> Log {
        let log = Log::default();
        let lines = log.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        log
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).join("\n")
    }

    /// Waits (at most `bound`) for a line containing `needle`; returns it.
    pub fn wait_for(&self, needle: &str, bound: Duration) -> Option<String> {
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if let Some(l) = self
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|l| l.contains(needle))
            {
                return Some(l.clone());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// `pxelab serve --interface lo --tftp-root ROOT ARGS…` in `cwd`, logging to a
/// collected stderr.
pub fn spawn_serve(cwd: &Path, root: &Path, args: &[&str]) -> (KillOnDrop, Log) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .args(["serve", "--interface", "lo", "--tftp-root"])
        .arg(root)
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pxelab serve");
    let log = Log::collect(child.stderr.take().expect("piped"));
    (KillOnDrop(child), log)
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An RRQ for `name` in octet mode with `options` (name, value) pairs.
pub fn rrq(name: &[u8], options: &[(&str, &str)]) -> Vec<u8> {
    let mut p = vec![0, 1];
    p.extend_from_slice(name);
    p.push(0);
    p.extend_from_slice(b"octet\0");
    for (k, v) in options {
        p.extend_from_slice(k.as_bytes());
        p.push(0);
        p.extend_from_slice(v.as_bytes());
        p.push(0);
    }
    p
}

/// The ERROR a client sends to end a session it does not want.
pub const ABORT: [u8; 5] = [0, 5, 0, 0, 0];

/// A plain RFC 1350 download (512-byte blocks, no options) of `name` from
/// 127.0.0.1:`port`: every DATA acknowledged, retrying the RRQ while the server
/// starts. Returns the file, or the first reply if it was not DATA.
pub fn tftp_download(port: u16, name: &str, bound: Duration) -> Result<Vec<u8>, Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let req = rrq(name.as_bytes(), &[]);
    let deadline = Instant::now() + bound;
    let mut buf = vec![0u8; 70_000];
    let mut data = Vec::new();
    let mut peer: Option<SocketAddr> = None;
    let mut expect: u16 = 1;
    let mut last_ack: Option<Vec<u8>> = None;
    while Instant::now() < deadline {
        match &last_ack {
            None => {
                sock.send_to(&req, (Ipv4Addr::LOCALHOST, port)).unwrap();
            }
            Some(ack) => {
                sock.send_to(ack, peer.expect("peer known once acked"))
                    .unwrap();
            }
        }
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let pkt = &buf[..n];
        if peer.is_none() {
            if pkt.get(..2) != Some(&[0, 3]) {
                return Err(pkt.to_vec());
            }
            peer = Some(from);
        }
        if Some(from) != peer || pkt.get(..2) != Some(&[0, 3]) || n < 4 {
            continue;
        }
        let block = u16::from_be_bytes([pkt[2], pkt[3]]);
        if block == expect {
            data.extend_from_slice(&pkt[4..]);
            last_ack = Some(vec![0, 4, pkt[2], pkt[3]]);
            sock.send_to(last_ack.as_ref().unwrap(), from).unwrap();
            if n - 4 < 512 {
                return Ok(data);
            }
            expect = expect.wrapping_add(1);
        }
    }
    panic!("TFTP download of {name} from port {port} did not finish within {bound:?}");
}

/// Deterministic bytes (xorshift): tests that need "random" input stay
/// reproducible, and the machines stay sans-randomness.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
