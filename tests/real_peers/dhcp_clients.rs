//! Ordinary DHCP clients get a lease from the full-mode server.

use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use super::netns::{HOST_IFACE, Lab, poll};
use super::server::{self, Mode, SERVER};
use super::{peers_available, report};

const FIRST: u8 = 100;
const LAST: u8 = 120;

/// The address a client was leased must come from the server's `--range`.
fn assert_leased_in_range(lab: &Lab, client: &str, addr: Ipv4Addr) {
    let (first, last) = (lab.addr(FIRST), lab.addr(LAST));
    assert!(
        (first..=last).contains(&addr),
        "{client} was leased {addr}, outside the --range {first}-{last}"
    );
}

/// A lab with the server at .1 in full mode (pool .100-.120) and a client without
/// an address.
fn full_mode_lab(test: &str) -> (Lab, String, server::Impl) {
    let mut lab = Lab::new(test);
    let srv = lab.host("srv", Some(1));
    let cli = lab.host("cli", None);
    let root = lab.path().join("tftp");
    fs::create_dir(&root).expect("cannot create the TFTP root");
    let mode = Mode::Full {
        first: lab.addr(FIRST),
        last: lab.addr(LAST),
    };
    let which = server::start(&mut lab, &srv, &root, mode);
    (lab, cli.ns, which)
}

#[test]
fn busybox_udhcpc_gets_a_lease_in_full_mode() {
    let name = "busybox_udhcpc_gets_a_lease_in_full_mode";
    if !peers_available(name, &["busybox"], &[]) {
        return;
    }
    let (mut lab, cli, which) = full_mode_lab("udhcpc");
    // udhcpc hands the lease to a script; ours records the event and the address.
    let out = lab.path().join("udhcpc.out");
    let script = lab.path().join("udhcpc.script");
    fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1 $ip\" >> {}\n", out.display()),
    )
    .expect("cannot write the udhcpc script");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
    let script_s = script.display().to_string();

    let started = Instant::now();
    // -q: quit once bound; -n: fail if no lease; -t 5 -T 2: at most 5 tries, 2 s apart.
    let (status, output) = lab.run_in(
        "udhcpc",
        &cli,
        &[
            "busybox", "udhcpc", "-f", "-q", "-n", "-t", "5", "-T", "2", "-i", HOST_IFACE, "-s",
            &script_s,
        ],
        Duration::from_secs(30),
    );
    let elapsed = started.elapsed();
    let events = fs::read_to_string(&out).unwrap_or_default();
    let leased = events
        .lines()
        .find_map(|l| l.strip_prefix("bound "))
        .and_then(|ip| ip.trim().parse::<Ipv4Addr>().ok());
    let Some(addr) = leased else {
        panic!(
            "udhcpc got no lease (exit {status:?}).\n--- udhcpc ---\n{output}\n--- server log ---\n{}",
            lab.proc(SERVER).tail(60)
        );
    };
    assert_leased_in_range(&lab, "udhcpc", addr);
    assert!(
        status.is_some_and(|s| s.success()),
        "udhcpc exited with {status:?}"
    );
    server::stop_cleanly(&mut lab);
    report(&format!(
        "real-peer busybox udhcpc vs {which:?}: lease {addr} in {:.2} s",
        elapsed.as_secs_f64()
    ));
}

#[test]
fn isc_dhclient_gets_a_lease_in_full_mode() {
    let name = "isc_dhclient_gets_a_lease_in_full_mode";
    if !peers_available(name, &["dhclient"], &[]) {
        return;
    }
    let (mut lab, cli, which) = full_mode_lab("dhclient");
    let dir = lab.path().to_owned();
    let leases = dir.join("dhclient.leases");
    let conf = dir.join("dhclient.conf");
    fs::write(&conf, "").expect("cannot write dhclient.conf");
    let (leases_s, conf_s) = (leases.display().to_string(), conf.display().to_string());
    let pid_s = dir.join("dhclient.pid").display().to_string();

    let started = Instant::now();
    // -d: stay in the foreground (so the lab can kill it); -1: try once; private
    // lease, pid and config files; /bin/true as the script, so the namespace's
    // interface is left alone.
    lab.spawn(
        "dhclient",
        &cli,
        &[
            "dhclient",
            "-d",
            "-1",
            "-v",
            "-lf",
            &leases_s,
            "-pf",
            &pid_s,
            "-cf",
            &conf_s,
            "-sf",
            "/bin/true",
            HOST_IFACE,
        ],
        &[],
    );
    let leased = poll(Duration::from_secs(40), || {
        let text = fs::read_to_string(&leases).ok()?;
        text.lines()
            .find_map(|l| l.trim().strip_prefix("fixed-address "))
            .and_then(|a| a.trim_end_matches(';').parse::<Ipv4Addr>().ok())
    });
    let elapsed = started.elapsed();
    lab.proc("dhclient").kill();
    let Some(addr) = leased else {
        panic!(
            "dhclient got no lease within 40 s.\n--- dhclient ---\n{}\n--- server log ---\n{}",
            lab.proc("dhclient").tail(40),
            lab.proc(SERVER).tail(60)
        );
    };
    assert_leased_in_range(&lab, "dhclient", addr);
    report(&format!(
        "real-peer ISC dhclient vs {which:?}: lease {addr} in {:.2} s",
        elapsed.as_secs_f64()
    ));
}
