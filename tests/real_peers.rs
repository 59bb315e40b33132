//! Real-peer tests: `pxelab serve` against real clients, in network namespaces the
//! tests create and remove themselves.
//!
//! Clients: busybox `udhcpc` and ISC `dhclient` (leases in full mode), `curl` and
//! `atftp` (a 40 MiB TFTP download, byte for byte), and QEMU (TCG) booting over PXE:
//! the BIOS iPXE ROM of an e1000 in full mode and through ProxyDHCP + 4011 next to a
//! plain DHCP server, and OVMF's own EDK2 PXE client on virtio-net loading
//! `ipxe.efi`, which then fetches the `boot.ipxe` script. A QEMU boot passes when the
//! marker printed by that script appears on the serial console. `fidelity_story`
//! boots the same two real clients through dnsmasq + pxelab's ProxyDHCP and
//! compares their path with the `proxydhcp-bios-uefi` scenario's, and through
//! two PXE servers on one segment (dnsmasq as production's DHCP+PXE, pxelab's
//! ProxyDHCP as the lab) against `lab-vs-production`'s prediction (issue 6).
//!
//! # Running
//!
//! They need root (network namespaces, a bridge, a tap device) and the peer
//! programs (Debian packages `dnsmasq-base qemu-system-x86 ipxe-qemu ipxe ovmf busybox
//! curl atftp isc-dhcp-client iproute2`). Where either is missing, each test prints
//! `SKIP real-peer test <name>: <reason>` and passes, so plain `cargo test` works on
//! any machine.
//!
//! Environment variables:
//! - `PXELAB_REQUIRE_PEERS=1` makes a missing peer or missing root a test **failure**
//!   instead of a skip. `.ci/run` sets it, so CI always runs these tests.
//! - `PXELAB_PEERS_SERVER=dnsmasq` runs the same tests against dnsmasq configured
//!   to the same boot-file policy instead of pxelab: a check of the harness itself.
//!
//! The QEMU boots and the 40 MiB downloads are heavy on a small machine, so they run
//! one at a time (a process-wide lock); each test prints its measured duration.

mod real_peers {
    pub mod conform;
    pub mod dhcp_clients;
    pub mod fidelity_story;
    pub mod netns;
    pub mod qemu;
    pub mod qemu_boot;
    pub mod server;
    pub mod tftp_clients;

    use std::io::Write;
    use std::path::Path;
    use std::sync::{Mutex, MutexGuard};

    /// Serializes the tests that load the machine (QEMU TCG, bulk TFTP).
    static HEAVY: Mutex<()> = Mutex::new(());

    /// Takes the heavy-test lock (a panicked holder does not poison the others).
    pub fn heavy() -> MutexGuard<'static, ()> {
        HEAVY
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes a line straight to stderr, past the test harness's output capture,
    /// so skips and measured durations show in a CI log of passing tests.
    pub fn report(line: &str) {
        let _ = writeln!(std::io::stderr(), "{line}");
    }

    fn require_peers() -> bool {
        std::env::var("PXELAB_REQUIRE_PEERS").is_ok_and(|v| v == "1")
    }

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
            })
            .unwrap_or(false)
    }

    fn in_path(program: &str) -> bool {
        if program.contains('/') {
            return Path::new(program).exists();
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<_> = std::env::split_paths(&path).collect();
        // Debian keeps ip, dnsmasq and dhclient in sbin, which a non-login PATH may lack.
        dirs.extend(["/usr/sbin", "/sbin"].map(Into::into));
        dirs.iter().any(|d| d.join(program).is_file())
    }

    /// Decides whether test `name` can run: root, every program in `programs`
    /// (looked up in PATH and sbin) and every file in `files` present. When one is
    /// missing, prints `SKIP real-peer test <name>: <reason>` and returns false, or
    /// panics when `PXELAB_REQUIRE_PEERS=1`.
    pub fn peers_available(name: &str, programs: &[&str], files: &[&str]) -> bool {
        let mut missing = Vec::new();
        if !is_root() {
            missing.push("not running as root (network namespaces need it)".to_owned());
        }
        let mut programs = programs.to_vec();
        programs.extend(["ip", "ss"]);
        if server::under_test() == server::Impl::Dnsmasq {
            programs.push("dnsmasq");
        }
        for p in programs {
            if !in_path(p) {
                missing.push(format!("program `{p}` not found"));
            }
        }
        for f in files {
            if !Path::new(f).exists() {
                missing.push(format!("file {f} not found"));
            }
        }
        if missing.is_empty() {
            return true;
        }
        let reason = missing.join("; ");
        if require_peers() {
            panic!("real-peer test {name} cannot run and PXELAB_REQUIRE_PEERS=1: {reason}");
        }
        report(&format!("SKIP real-peer test {name}: {reason}"));
        false
    }
}
