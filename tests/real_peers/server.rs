//! The server under test: `pxelab serve`, or dnsmasq as a stand-in.
//!
//! The stand-in (`PXELAB_PEERS_SERVER=dnsmasq`) runs the same tests against a
//! third-party server configured to the same boot-file policy. It proves the harness
//! itself: a test that fails against dnsmasq is a broken test, not a pxelab bug.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use super::netns::{HOST_IFACE, Host, Lab, poll};

/// What the server is asked to do.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// DHCP with an address pool, PXE boot files, TFTP.
    Full {
        /// First address of the pool.
        first: Ipv4Addr,
        /// Last address of the pool.
        last: Ipv4Addr,
    },
    /// ProxyDHCP (PXE options only, no addresses), boot server on 4011, TFTP.
    Proxy,
    /// TFTP only.
    TftpOnly,
}

/// Which implementation serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    /// `pxelab serve` (the default).
    Pxelab,
    /// dnsmasq configured the same way (harness check).
    Dnsmasq,
}

/// The implementation chosen by `PXELAB_PEERS_SERVER` (`pxelab` unless `dnsmasq`).
pub fn under_test() -> Impl {
    match std::env::var("PXELAB_PEERS_SERVER").as_deref() {
        Ok("dnsmasq") => Impl::Dnsmasq,
        _ => Impl::Pxelab,
    }
}

/// Name of the server process in the lab (for [`Lab::proc`]).
pub const SERVER: &str = "server";

/// Starts the server under test in `host`'s namespace, serving `root`, and waits
/// (bounded) until its sockets are bound. Panics with the server log if it exits
/// or never binds.
pub fn start(lab: &mut Lab, host: &Host, root: &Path, mode: Mode) -> Impl {
    start_with(lab, host, root, mode, under_test(), None)
}

/// [`start`] with the implementation named, and for pxelab a `--config` file.
pub fn start_with(
    lab: &mut Lab,
    host: &Host,
    root: &Path,
    mode: Mode,
    which: Impl,
    config: Option<&Path>,
) -> Impl {
    let root_s = root.display().to_string();
    let argv: Vec<String> = match which {
        Impl::Pxelab => {
            let mut v: Vec<String> = [
                env!("CARGO_BIN_EXE_pxelab"),
                "serve",
                "--interface",
                HOST_IFACE,
                "--tftp-root",
                &root_s,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            match mode {
                Mode::Full { first, last } => {
                    v.push("--range".into());
                    v.push(format!("{first}-{last}"));
                }
                Mode::Proxy => v.push("--proxy".into()),
                Mode::TftpOnly => v.push("--tftp-only".into()),
            }
            if let Some(config) = config {
                v.push("--config".into());
                v.push(config.display().to_string());
            }
            v
        }
        Impl::Dnsmasq => dnsmasq_argv(lab, host, &root_s, mode),
    };
    let argv_ref: Vec<&str> = argv.iter().map(String::as_str).collect();
    let ns = host.ns.clone();
    lab.spawn(SERVER, &ns, &argv_ref, &[("RUST_LOG", "info")]);

    // Ready when the ports this mode serves are bound in the namespace.
    let ports: &[u16] = match mode {
        Mode::Full { .. } => &[67, 69],
        Mode::Proxy => &[67, 4011, 69],
        Mode::TftpOnly => &[69],
    };
    let ports: Vec<u16> = match (which, mode) {
        // dnsmasq answers 4011 on its port-67 socket's sibling only in proxy mode.
        (Impl::Dnsmasq, Mode::Proxy) => vec![67, 69],
        _ => ports.to_vec(),
    };
    let ready = poll(Duration::from_secs(20), || {
        if lab.proc(SERVER).try_status().is_some() {
            return Some(false);
        }
        let bound = udp_ports_bound(&ns);
        ports.iter().all(|p| bound.contains(p)).then_some(true)
    });
    if ready != Some(true) {
        let status = lab.proc(SERVER).try_status();
        let what = match status {
            Some(status) => format!("exited ({status}) before binding"),
            None => "did not bind within 20 s".to_owned(),
        };
        panic!(
            "{which:?} server {what} UDP ports {ports:?}; \
             command: {}\n--- server log ---\n{}",
            argv.join(" "),
            lab.proc(SERVER).tail(60)
        );
    }
    which
}

/// UDP ports bound in namespace `ns`, read from `ss`.
fn udp_ports_bound(ns: &str) -> Vec<u16> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "ss", "-Hulnp"])
        .output();
    let Ok(out) = out else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let local = line.split_whitespace().nth(3)?;
            local.rsplit(':').next()?.parse().ok()
        })
        .collect()
}

/// dnsmasq in the foreground on the test interface, DNS off, its pid and lease
/// files named `NAME.*` in the lab's directory, logging every DHCP exchange.
fn dnsmasq_base(lab: &Lab, name: &str) -> Vec<String> {
    let dir = lab.path().display().to_string();
    vec![
        "dnsmasq".into(),
        "--no-daemon".into(),
        "--conf-file=/dev/null".into(),
        "--port=0".into(),
        format!("--interface={HOST_IFACE}"),
        "--bind-interfaces".into(),
        format!("--pid-file={dir}/{name}.pid"),
        format!("--dhcp-leasefile={dir}/{name}.leases"),
        "--log-facility=-".into(),
        "--log-dhcp".into(),
    ]
}

fn dnsmasq_argv(lab: &Lab, host: &Host, root: &str, mode: Mode) -> Vec<String> {
    let mut v = dnsmasq_base(lab, "server");
    v.extend([
        "--enable-tftp".into(),
        format!("--tftp-root={root}"),
        "--dhcp-userclass=set:ipxe,iPXE".into(),
        "--dhcp-match=set:efi64,option:client-arch,7".into(),
    ]);
    match mode {
        Mode::Full { first, last } => {
            v.push(format!("--dhcp-range={first},{last},255.255.255.0,1h"));
            v.push("--dhcp-option=3".into());
            // dnsmasq pings a new address for up to 3 s before offering it,
            // one address at a time: in a storm of clients offers come late
            // and serially, and a client may give up (docs/conformance.md).
            v.push("--no-ping".into());
            v.push("--dhcp-boot=tag:ipxe,boot.ipxe".into());
            v.push("--dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi".into());
            v.push("--dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe".into());
        }
        Mode::Proxy => {
            let addr = host.addr.expect("a proxy server needs a static address");
            v.push(format!("--dhcp-range={addr},proxy"));
            v.push("--pxe-service=tag:ipxe,x86PC,pxelab,boot.ipxe".into());
            v.push("--pxe-service=tag:!ipxe,x86PC,pxelab,undionly.kpxe".into());
            v.push("--pxe-service=tag:ipxe,X86-64_EFI,pxelab,boot.ipxe".into());
            v.push("--pxe-service=tag:!ipxe,X86-64_EFI,pxelab,ipxe.efi".into());
        }
        Mode::TftpOnly => {}
    }
    v
}

/// Starts dnsmasq in `host`'s namespace as a plain DHCP server: addresses from
/// `first..=last`, no router, no PXE options at all (the "production DHCP" of a
/// ProxyDHCP setup). The process is named `dhcp`.
pub fn start_plain_dhcp(lab: &mut Lab, host: &Host, first: Ipv4Addr, last: Ipv4Addr) {
    let mut argv = dnsmasq_base(lab, "dhcp");
    argv.extend([
        format!("--dhcp-range={first},{last},255.255.255.0,1h"),
        "--dhcp-option=3".into(),
    ]);
    spawn_serving(lab, host, "dhcp", &argv, &[67]);
}

/// Starts dnsmasq in `host`'s namespace as production's DHCP server with its PXE
/// service in the same box (the simulator's `kind = "dhcp-pxe"`): addresses from
/// `first..=last`, and for a PXE client option 60 `PXEClient`, option 43 with
/// discovery control 8 ("boot the file in this offer"), siaddr and the boot file
/// by architecture and user class, served from `root` by its own TFTP server.
/// MACs in `pxe_ignore` get an address and nothing else.
/// `reply_delay_s` delays its offers (`--dhcp-reply-delay`, whole seconds);
/// otherwise it answers at once, as the simulator's server does: `--no-ping`
/// turns off the ICMP probe of a new address, and `--dhcp-broadcast` sends
/// the offer without first resolving the client's new address by ARP (in a
/// namespace dnsmasq's ARP-cache injection does not take, and the offer waits
/// 3 s for a resolution that cannot succeed).
/// The process is named `prod`.
pub fn start_production_pxe(
    lab: &mut Lab,
    host: &Host,
    root: &Path,
    (first, last): (Ipv4Addr, Ipv4Addr),
    reply_delay_s: u32,
    pxe_ignore: &[&str],
) {
    let mut argv = dnsmasq_base(lab, "prod");
    // Machines whose PXE requests production leaves alone: they still get an
    // address, but no 60, 43, boot file (`pxe_ignore_fleets`, a WDS exclusion).
    for mac in pxe_ignore {
        argv.push(format!("--dhcp-host={mac},set:pxeignore"));
    }
    argv.extend([
        format!("--dhcp-range={first},{last},255.255.255.0,1h"),
        "--dhcp-option=3".into(),
        "--no-ping".into(),
        "--dhcp-broadcast".into(),
        "--enable-tftp".into(),
        format!("--tftp-root={}", root.display()),
        "--dhcp-vendorclass=set:pxe,PXEClient".into(),
        "--dhcp-userclass=set:ipxe,iPXE".into(),
        "--dhcp-match=set:efi64,option:client-arch,7".into(),
        "--dhcp-option-force=tag:pxe,tag:!pxeignore,60,PXEClient".into(),
        "--dhcp-option-force=tag:pxe,tag:!pxeignore,43,06:01:08:ff".into(),
        "--dhcp-boot=tag:!pxeignore,tag:ipxe,boot.ipxe".into(),
        "--dhcp-boot=tag:!pxeignore,tag:!ipxe,tag:efi64,ipxe.efi".into(),
        "--dhcp-boot=tag:!pxeignore,tag:!ipxe,tag:!efi64,undionly.kpxe".into(),
    ]);
    if reply_delay_s > 0 {
        argv.push(format!("--dhcp-reply-delay={reply_delay_s}"));
    }
    spawn_serving(lab, host, "prod", &argv, &[67, 69]);
}

/// Spawns `argv` in `host`'s namespace as lab process `name` and waits
/// (bounded) until it has bound the UDP `ports`; panics with its log if it
/// exits or never binds.
fn spawn_serving(lab: &mut Lab, host: &Host, name: &str, argv: &[String], ports: &[u16]) {
    let argv_ref: Vec<&str> = argv.iter().map(String::as_str).collect();
    let ns = host.ns.clone();
    lab.spawn(name, &ns, &argv_ref, &[]);
    let ok = poll(Duration::from_secs(20), || {
        if lab.proc(name).try_status().is_some() {
            return Some(false);
        }
        let bound = udp_ports_bound(&ns);
        ports.iter().all(|p| bound.contains(p)).then_some(true)
    });
    assert_eq!(
        ok,
        Some(true),
        "{} ({name}) did not start:\n{}",
        argv[0],
        lab.proc(name).tail(40)
    );
}

/// Stops the server under test with SIGTERM and asserts that it exits, successfully,
/// within 10 s: `pxelab serve` under a service manager is stopped exactly this way.
pub fn stop_cleanly(lab: &mut Lab) {
    let status = lab.proc(SERVER).terminate(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "the server did not exit cleanly within 10 s of SIGTERM (status {status:?}):\n{}",
        lab.proc(SERVER).tail(20)
    );
}

/// Starts tftpd-hpa (`in.tftpd`) in `host`'s namespace, in the foreground,
/// serving `root` (chrooted: `--secure`) on the host's address, verbose, with
/// RFC 2348 block sizes up to 65464. It runs as root: the lab's scratch
/// directory is private to root. The process is named `tftpd`.
pub fn start_tftpd_hpa(lab: &mut Lab, host: &Host, root: &Path) {
    let addr = host.addr.expect("tftpd-hpa needs the host's address");
    let listen = format!("{addr}:69");
    let root = root.display().to_string();
    let argv = [
        "in.tftpd",
        "--foreground",
        "--address",
        &listen,
        "--secure",
        "--user",
        "root",
        "--verbose",
        "--verbose",
        &root,
    ];
    let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
    spawn_serving(lab, host, "tftpd", &argv, &[69]);
}
