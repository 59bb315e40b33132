//! A private Ethernet segment built from network namespaces.
//!
//! Each [`Lab`] owns a bridge namespace (a Linux bridge with `ageing_time 0`, so it
//! floods every frame like a hub and a capture on it sees the whole segment) and one
//! namespace per host, joined to the bridge by veth pairs created directly inside
//! their namespaces. QEMU guests attach through a tap device that lives in the bridge
//! namespace (real-peers.md: the tap must sit in the bridge's namespace). Nothing is
//! routed: no namespace has a default route, so test traffic cannot leave the lab.
//!
//! Everything a lab creates is removed in `Drop` (processes killed first, then the
//! namespaces deleted), so a failing or panicking test still cleans up. Namespace
//! names carry the test process id (`pxl-<pid>-<n>-<role>`); namespaces left behind
//! by an earlier run whose process is gone are deleted when the first lab starts.

use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Name of the interface every host namespace gets on the segment.
pub const HOST_IFACE: &str = "pxl0";
/// Name of the bridge inside the bridge namespace.
pub const BRIDGE: &str = "br0";

static NEXT_LAB: AtomicU8 = AtomicU8::new(1);
static STALE_CLEANUP: Once = Once::new();

/// Runs a command to completion and panics with its output if it fails: the
/// harness's own plumbing (`ip ...`) must work, or the test result means nothing.
pub fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}): {}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes `pxl-<pid>-...` namespaces whose creating process no longer exists.
fn delete_stale_namespaces() {
    let Ok(entries) = fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("pxl-") else {
            continue;
        };
        // Only names of this harness's shape (`pxl-<pid>-...`) whose process is gone.
        let Some(Ok(pid)) = rest.split('-').next().map(str::parse::<u32>) else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = Command::new("ip")
                .args(["netns", "del", &name])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A host on the segment: its namespace and its IPv4 address (if static).
#[derive(Debug, Clone)]
pub struct Host {
    /// Namespace name, for `ip netns exec`.
    pub ns: String,
    /// Static address given at creation, or `None` for a host that asks DHCP.
    pub addr: Option<Ipv4Addr>,
}

/// A process started by the lab; killed when dropped.
pub struct Proc {
    /// Short name used in messages.
    pub name: String,
    child: Option<Child>,
    /// Combined stdout/stderr of the process.
    pub log: PathBuf,
}

impl Proc {
    /// Whether the process has exited, and how.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits for the process to exit, at most `limit`; `None` when it is still running.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// The process's output so far.
    pub fn output(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of the process's output, for failure messages.
    pub fn tail(&self, lines: usize) -> String {
        tail(&self.output(), lines)
    }

    /// Asks the process to stop (SIGTERM) and waits at most `limit` for it to exit.
    /// Returns its exit status, or `None` if it was still running (it is then killed).
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let pid = self.child.as_ref()?.id().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stderr(Stdio::null())
            .status();
        let status = self.wait_for_exit(limit);
        self.kill();
        status
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Polls `probe` every 100 ms until it yields a value or `limit` has passed.
pub fn poll<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        sleep(Duration::from_millis(100));
    }
}

/// One isolated segment: a bridge namespace, host namespaces, taps, processes.
pub struct Lab {
    /// Prefix of every namespace this lab creates.
    prefix: String,
    /// Third octet of the lab's 10.213.N.0/24 subnet.
    net: u8,
    bridge_ns: String,
    namespaces: Vec<String>,
    /// Processes, killed (last started first) before the namespaces go.
    procs: Vec<Proc>,
    taps: u32,
    /// Scratch directory for files, logs and consoles.
    pub dir: tempfile::TempDir,
}

impl Lab {
    /// Creates the bridge namespace and the bridge.
    pub fn new(test: &str) -> Lab {
        STALE_CLEANUP.call_once(delete_stale_namespaces);
        let n = NEXT_LAB.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("pxl-{}-{n}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix(&format!("pxelab-{test}-"))
            .tempdir()
            .expect("cannot create a temporary directory");
        let bridge_ns = format!("{prefix}-br");
        let mut lab = Lab {
            prefix,
            net: n,
            bridge_ns: bridge_ns.clone(),
            namespaces: Vec::new(),
            procs: Vec::new(),
            taps: 0,
            dir,
        };
        lab.add_namespace(&bridge_ns);
        run(
            "ip",
            &[
                "-n",
                &bridge_ns,
                "link",
                "add",
                BRIDGE,
                "type",
                "bridge",
                "ageing_time",
                "0",
                "stp_state",
                "0",
                "mcast_snooping",
                "0",
            ],
        );
        run("ip", &["-n", &bridge_ns, "link", "set", BRIDGE, "up"]);
        lab
    }

    fn add_namespace(&mut self, ns: &str) {
        run("ip", &["netns", "add", ns]);
        self.namespaces.push(ns.to_owned());
        run("ip", &["-n", ns, "link", "set", "lo", "up"]);
    }

    /// The address `10.213.N.last` in this lab's subnet.
    pub fn addr(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.net, last)
    }

    /// Scratch directory path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Name of the bridge namespace (where taps and QEMU live).
    pub fn bridge_ns(&self) -> &str {
        &self.bridge_ns
    }

    /// Adds a host namespace `role` joined to the bridge by a veth pair; its end is
    /// named [`HOST_IFACE`]. With `last` it gets `10.213.N.last/24`.
    pub fn host(&mut self, role: &str, last: Option<u8>) -> Host {
        let ns = format!("{}-{role}", self.prefix);
        self.add_namespace(&ns);
        let port = format!("v{role}");
        let port = &port[..port.len().min(15)];
        let br = self.bridge_ns.clone();
        run(
            "ip",
            &[
                "-n", &br, "link", "add", port, "type", "veth", "peer", "name", HOST_IFACE,
                "netns", &ns,
            ],
        );
        run(
            "ip",
            &["-n", &br, "link", "set", port, "master", BRIDGE, "up"],
        );
        let addr = last.map(|l| self.addr(l));
        if let Some(a) = addr {
            run(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{a}/24"),
                    "dev",
                    HOST_IFACE,
                ],
            );
        }
        run("ip", &["-n", &ns, "link", "set", HOST_IFACE, "up"]);
        Host { ns, addr }
    }

    /// Adds a tap device to the bridge (in the bridge namespace) and returns its name.
    pub fn tap(&mut self) -> String {
        let name = format!("tap{}", self.taps);
        self.taps += 1;
        let br = self.bridge_ns.clone();
        run(
            "ip",
            &["-n", &br, "tuntap", "add", "dev", &name, "mode", "tap"],
        );
        run(
            "ip",
            &["-n", &br, "link", "set", &name, "master", BRIDGE, "up"],
        );
        name
    }

    /// Starts `argv` inside namespace `ns` with output going to `<dir>/<name>.log`.
    /// The working directory is the lab's scratch directory, so whatever a process
    /// writes next to itself (a lease store, say) goes with the lab.
    pub fn spawn(
        &mut self,
        name: &str,
        ns: &str,
        argv: &[&str],
        env: &[(&str, &str)],
    ) -> &mut Proc {
        let log = self.path().join(format!("{name}.log"));
        let out = File::create(&log).expect("cannot create a log file");
        let err = out.try_clone().expect("cannot clone a log file handle");
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(argv)
            .envs(env.iter().copied())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", argv[0]));
        self.procs.push(Proc {
            name: name.to_owned(),
            child: Some(child),
            log,
        });
        self.procs.last_mut().expect("just pushed")
    }

    /// Runs `argv` in `ns` to completion, at most `limit`. Returns its exit status
    /// (`None` on timeout, after killing it) and its output.
    pub fn run_in(
        &mut self,
        name: &str,
        ns: &str,
        argv: &[&str],
        limit: Duration,
    ) -> (Option<ExitStatus>, String) {
        let proc = self.spawn(name, ns, argv, &[]);
        let status = proc.wait_for_exit(limit);
        proc.kill();
        let output = proc.output();
        (status, output)
    }

    /// A previously spawned process, by name (the most recent one with that name).
    pub fn proc(&mut self, name: &str) -> &mut Proc {
        self.procs
            .iter_mut()
            .rev()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no process named {name}"))
    }

    /// Sends IPv6 router advertisements with router lifetime 0 on the bridge.
    ///
    /// iPXE waits about 13 s for IPv6 autoconfiguration when no IPv6 router is on the
    /// segment; an RA saying "no default router here" ends that wait at once
    /// (real-peers.md: a BIOS boot goes from 18.6 s to 5.6 s). dnsmasq sends it from
    /// the bridge namespace, which gets a ULA address so the prefix can be built.
    pub fn start_router_advertisements(&mut self) {
        let br = self.bridge_ns.clone();
        let ula = format!("fd21:3:{}::1/64", self.net);
        run(
            "ip",
            &["-n", &br, "addr", "add", &ula, "dev", BRIDGE, "nodad"],
        );
        let pid = self.path().join("ra.pid");
        let pid_arg = format!("--pid-file={}", pid.display());
        let range = format!("--dhcp-range=::,constructor:{BRIDGE},ra-only");
        let param = format!("--ra-param={BRIDGE},60,0");
        let iface = format!("--interface={BRIDGE}");
        self.spawn(
            "ra",
            &br,
            &[
                "dnsmasq",
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0",
                &pid_arg,
                &iface,
                "--bind-interfaces",
                "--enable-ra",
                &range,
                &param,
                "--log-facility=-",
            ],
            &[],
        );
    }
}

/// A packet capture of the whole segment (dumpcap on the bridge).
pub struct Capture {
    /// The pcapng file.
    pub file: PathBuf,
}

impl Lab {
    /// Starts capturing every frame on the bridge (it floods, so this is the whole
    /// segment) and waits until the capture is running.
    pub fn capture(&mut self) -> Capture {
        let file = self.path().join("segment.pcapng");
        let file_s = file.display().to_string();
        let br = self.bridge_ns.clone();
        self.spawn(
            "capture",
            &br,
            &["dumpcap", "-q", "-i", BRIDGE, "-w", &file_s],
            &[],
        );
        let started = poll(Duration::from_secs(15), || {
            let ok = fs::metadata(&file).is_ok_and(|m| m.len() > 0);
            ok.then_some(())
        });
        assert!(
            started.is_some(),
            "dumpcap did not start capturing on the bridge:\n{}",
            self.proc("capture").tail(20)
        );
        Capture { file }
    }

    /// Copies the capture out of the lab's scratch directory (which goes with the
    /// lab) into the target directory, for a failure message to point at.
    pub fn keep_capture(&self, capture: &Capture, test: &str) -> PathBuf {
        let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{test}.pcapng"));
        let _ = fs::copy(&capture.file, &kept);
        kept
    }

    /// Stops the capture. dumpcap drops what the kernel still buffers when it is
    /// told to stop, and reads in intervals of 250 ms, so it gets a second to catch
    /// up with the last frames first.
    pub fn stop_capture(&mut self) {
        sleep(Duration::from_secs(1));
        self.proc("capture").terminate(Duration::from_secs(10));
    }

    /// Frames of the (stopped) capture that match the display `filter`, one line
    /// each: frame number, protocols, summary. UDP 4011 is dissected as DHCP.
    pub fn frames(&self, capture: &Capture, filter: &str) -> Vec<String> {
        let out = Command::new("tshark")
            .args(["-n", "-r"])
            .arg(&capture.file)
            .args(["-d", "udp.port==4011,dhcp", "-Y", filter, "-T", "fields"])
            .args([
                "-e",
                "frame.number",
                "-e",
                "frame.protocols",
                "-e",
                "_ws.col.Info",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("cannot run tshark");
        assert!(
            out.status.success(),
            "tshark could not read the capture: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        while let Some(mut p) = self.procs.pop() {
            p.kill();
        }
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}
