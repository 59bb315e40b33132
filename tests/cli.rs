//! `pxelab` as users and outside tests call it. All but one need no root: they run
//! on `lo` with an unprivileged TFTP port, or stop before binding anything. The
//! exception, `restart`, needs ports 67/68 and skips with a notice without root.

#[path = "../reference/tests/loopback_dhcp_client/mod.rs"]
mod loopback_dhcp_client;

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn pxelab(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "info")
        .output()
        .expect("run pxelab")
}

/// `pxelab serve --interface IFACE --tftp-root ROOT FLAGS…`, not yet run, in `cwd`.
fn serve_cmd(cwd: &Path, iface: &str, root: &str, flags: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pxelab"));
    cmd.args(["serve", "--interface", iface, "--tftp-root", root])
        .args(flags)
        .current_dir(cwd);
    cmd
}

/// Runs `pxelab serve --interface IFACE --tftp-root ROOT FLAGS…` in `cwd` to its
/// end (for the refusals that stop before binding anything).
fn serve(cwd: &Path, iface: &str, root: &str, flags: &[&str]) -> Output {
    serve_cmd(cwd, iface, root, flags)
        .env("RUST_LOG", "info")
        .output()
        .expect("run pxelab serve")
}

/// Stops a running `pxelab serve` with SIGTERM; asserts it exits cleanly and
/// returns what it logged.
fn stop(child: Child) -> String {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "exit {:?} after SIGTERM:\n{err}",
        out.status
    );
    err
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failure a user can act on: non-zero exit, the message, and no panic.
fn assert_clear_failure(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected failure, got success; stderr:\n{err}"
    );
    assert!(!err.contains("panicked"), "panicked:\n{err}");
    for n in needles {
        assert!(err.contains(n), "stderr does not mention {n:?}:\n{err}");
    }
}

#[test]
fn serve_help_lists_every_flag_with_its_default() {
    let dir = tempfile::tempdir().unwrap();
    let o = pxelab(&["serve", "--help"], dir.path());
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--interface",
        "--tftp-root",
        "--proxy",
        "--tftp-only",
        "--range",
        "--tftp-port",
        "--boot-bios",
        "--boot-efi",
        "--boot-ipxe",
        "--config",
        "undionly.kpxe",
        "ipxe.efi",
        "boot.ipxe",
        "pxelab-leases.redb",
        "[default: 69]",
    ] {
        assert!(out.contains(flag), "help lacks {flag}:\n{out}");
    }
}

#[test]
fn deploy_server_help_says_where_job_state_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let o = pxelab(&["deploy-server", "--help"], dir.path());
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "--job-store <FILE>",
        "job_store = ",
        "<config name>.jobs.redb",
        "kill -9",
        "not offered",
    ] {
        assert!(out.contains(needle), "help lacks {needle}:\n{out}");
    }
}

#[test]
fn full_mode_without_range_says_range_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let o = serve(dir.path(), "lo", ".", &[]);
    assert_clear_failure(&o, &["--range", "required", "--proxy"]);
}

#[test]
fn proxy_and_tftp_only_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let o = serve(dir.path(), "lo", ".", &["--proxy", "--tftp-only"]);
    assert_clear_failure(&o, &["--proxy", "--tftp-only"]);
}

#[test]
fn malformed_range_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = serve(dir.path(), "lo", ".", &["--range", "10.0.0.9-10.0.0.1"]);
    assert_clear_failure(&o, &["--range", "empty"]);
}

#[test]
fn range_outside_the_interface_subnet_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = serve(dir.path(), "lo", ".", &["--range", "10.0.0.100-10.0.0.199"]);
    assert_clear_failure(&o, &["10.0.0.100", "subnet", "127.0.0.0/8"]);
}

#[test]
fn unknown_interface_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = serve(dir.path(), "nosuchif0", ".", &["--proxy"]);
    assert_clear_failure(&o, &["nosuchif0", "no network interface"]);
}

#[test]
fn config_unknown_key_names_the_key_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pxelab.toml");
    std::fs::write(
        &cfg,
        "[dhcp]\nlease_time_secs = 600\n\nrespond_dealy_ms = 50\n",
    )
    .unwrap();
    let cfg_s = cfg.display().to_string();
    let o = serve(dir.path(), "lo", ".", &["--proxy", "--config", &cfg_s]);
    assert_clear_failure(&o, &["respond_dealy_ms", "line 4", "pxelab.toml"]);
}

#[test]
fn config_malformed_value_names_the_key_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pxelab.toml");
    std::fs::write(&cfg, "lease_store = \"x.redb\"\n[[dhcp.reservations]]\nmac = \"52:54:00:12:34\"\nip = \"10.0.0.5\"\n")
        .unwrap();
    let cfg_s = cfg.display().to_string();
    let o = serve(dir.path(), "lo", ".", &["--proxy", "--config", &cfg_s]);
    assert_clear_failure(&o, &["line 3", "52:54:00:12:34"]);
}

#[test]
fn missing_tftp_root_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = serve(dir.path(), "lo", "no/such/dir", &["--tftp-only"]);
    assert_clear_failure(&o, &["--tftp-root", "no/such/dir"]);
}

/// One RRQ for a file that fits in one block; returns its bytes once the server
/// answers (retrying while it starts).
fn tftp_get_small(port: u16, name: &str) -> Vec<u8> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut rrq = vec![0, 1];
    rrq.extend_from_slice(name.as_bytes());
    rrq.push(0);
    rrq.extend_from_slice(b"octet\0");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 600];
    while Instant::now() < deadline {
        sock.send_to(&rrq, ("127.0.0.1", port)).unwrap();
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        assert_eq!(
            &buf[..4],
            &[0, 3, 0, 1],
            "expected DATA block 1, got {:?}",
            &buf[..n]
        );
        sock.send_to(&[0, 4, 0, 1], from).unwrap();
        return buf[4..n].to_vec();
    }
    panic!("no TFTP answer on 127.0.0.1:{port}");
}

#[test]
fn tftp_only_on_loopback_serves_a_file_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("boot.ipxe"), b"#!ipxe\necho hello\n").unwrap();
    let port = free_udp_port();
    let child = serve_cmd(
        dir.path(),
        "lo",
        ".",
        &["--tftp-only", "--tftp-port", &port.to_string()],
    )
    .env("RUST_LOG", "info")
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let got = tftp_get_small(port, "boot.ipxe");
    assert_eq!(got, b"#!ipxe\necho hello\n");

    let err = stop(child);
    assert!(
        err.contains("TFTP transfer") && err.contains("boot.ipxe"),
        "no transfer log line:\n{err}"
    );
    assert!(err.contains("SIGTERM"), "{err}");
}

mod restart {
    //! Leases across a SIGTERM and a restart of the real binary. Needs root (ports 67
    //! and 68 on `lo`): without it, it prints a notice and passes vacuously.

    use super::loopback_dhcp_client::LoopbackClient;
    use super::*;

    fn start(dir: &Path, tftp_port: u16) -> Child {
        let port = tftp_port.to_string();
        let flags = ["--range", "127.0.0.100-127.0.0.110", "--tftp-port", &port];
        serve_cmd(dir, "lo", ".", &flags)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    #[test]
    fn leases_survive_sigterm_and_restart() {
        let Some(client) = LoopbackClient::bind_or_skip("leases_survive_sigterm_and_restart")
        else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let tftp_port = free_udp_port();
        let (a, b) = ([0x52, 0x54, 0, 0, 1, 0xa], [0x52, 0x54, 0, 0, 1, 0xb]);

        let server = start(dir.path(), tftp_port);
        let first = client.lease(a, 0x100);
        let log = stop(server);
        assert!(
            log.contains("ACK") && log.contains("52:54:00:00:01:0a"),
            "{log}"
        );
        assert!(
            dir.path().join("pxelab-leases.redb").exists(),
            "default lease store is pxelab-leases.redb in the current directory"
        );

        let server = start(dir.path(), tftp_port);
        let for_b = client.lease(b, 0x200);
        let again_a = client.lease(a, 0x300);
        stop(server);
        assert_ne!(
            for_b, first,
            "an acknowledged lease went to another client after restart"
        );
        assert_eq!(
            again_a, first,
            "the client's lease was forgotten across SIGTERM and restart"
        );
    }

    /// `kill -9` gives the server no chance to flush anything: only what was durable
    /// before each ACK left survives. Every acknowledged, unexpired address must stay
    /// with its client after the restart.
    #[test]
    fn acknowledged_leases_survive_kill_9() {
        let Some(client) = LoopbackClient::bind_or_skip("acknowledged_leases_survive_kill_9")
        else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let tftp_port = free_udp_port();
        let macs: Vec<[u8; 6]> = (0..10).map(|i| [0x52, 0x54, 0, 0, 9, i]).collect();

        let mut server = start(dir.path(), tftp_port);
        let acked: Vec<_> = (0..5u8)
            .map(|i| client.lease(macs[usize::from(i)], 0x900 + u32::from(i)))
            .collect();
        server.kill().unwrap(); // SIGKILL, right after the last ACK
        server.wait().unwrap();

        let server = start(dir.path(), tftp_port);
        let others: Vec<_> = (5..10u8)
            .map(|i| client.lease(macs[usize::from(i)], 0xa00 + u32::from(i)))
            .collect();
        let again = client.lease(macs[0], 0xb00);
        stop(server);
        for addr in &others {
            assert!(
                !acked.contains(addr),
                "{addr} was acknowledged before kill -9 and handed to another client after \
                 restart (before: {acked:?}, after: {others:?})"
            );
        }
        assert_eq!(
            again, acked[0],
            "the first client's lease was lost by kill -9"
        );
    }
}
