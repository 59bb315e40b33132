//! The network between clients and servers: loss, bandwidth, and the
//! determinism a CI run relies on (same scenario and seed, same report).

mod world_common;

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use pxelab_simulator::world::{RunOptions, run};
use world_common::*;

/// Four BIOS ROMs and a full-mode pxelab server handing them a loader, on a
/// segment whose link is `link`; `fleet_link` overrides the fleet's ports.
fn lan(link: &str, server_link: &str, fleet_link: &str, count: u32, loader_size: u64) -> String {
    format!(
        r#"
name = "network"
summary = "network"
seed = 7
duration_s = 300

[[segment]]
name = "lan"
subnet = "10.2.0.0/24"
link = {{ {link} }}

[[server]]
name = "pxelab"
segment = "lan"
address = "10.2.0.2"
kind = "reference"
pool = "10.2.0.100-10.2.0.199"
boot = {{ boot_bios = "pxelinux.0" }}
link = {{ {server_link} }}

[[server.file]]
name = "pxelinux.0"
nbp = "loader"
size = {loader_size}

[[fleet]]
name = "bios"
segment = "lan"
count = {count}
profile = "pxe21-bios"
power_on_spread_s = 2.0
link = {{ {fleet_link} }}
"#
    )
}

fn lossy() -> String {
    lan(
        "latency_us = 200, jitter_us = 50, loss = 0.05",
        "",
        "",
        4,
        30000,
    )
}

#[test]
fn a_lossy_link_loses_frames_but_every_client_boots() {
    let r = run_toml(&lossy());
    assert!(r.network.lost > 0, "5% loss lost no frame\n{}", text(&r));
    assert_all_booted_from(&r, "bios", "pxelab");
}

#[test]
fn a_link_that_loses_everything_ends_every_rom_with_e51() {
    let r = run_toml(&lan("", "", "loss = 1.0", 3, 30000));
    assert_all_failed_with(&r, "bios", "PXE-E51");
    assert!(r.network.lost > 0, "{}", text(&r));
    assert_eq!(
        server(&r, "pxelab").answers.values().sum::<u64>(),
        0,
        "no DISCOVER got through\n{}",
        text(&r)
    );
}

/// A pcap sink the test can read back after the run consumed the box.
#[derive(Clone, Default)]
struct SharedBuf(Rc<RefCell<Vec<u8>>>);

impl io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn run_capturing(src: &str, seed: u64) -> (String, Vec<u8>) {
    let sc = scenario(src);
    let buf = SharedBuf::default();
    let r = run(
        &sc,
        RunOptions {
            seed: Some(seed),
            pcap: Some(Box::new(buf.clone())),
            progress: None,
            svg: None,
        },
    )
    .expect("world builds");
    let pcap = buf.0.borrow().clone();
    (text(&r), pcap)
}

#[test]
fn the_same_seed_gives_the_same_report_and_pcap() {
    let (a, pcap_a) = run_capturing(&lossy(), 11);
    let (b, pcap_b) = run_capturing(&lossy(), 11);
    assert_eq!(a, b, "two runs with seed 11 differ");
    assert!(pcap_a.len() > 24, "the pcap holds frames");
    assert!(
        pcap_a == pcap_b,
        "two runs with seed 11 wrote different pcaps"
    );
}

#[test]
fn different_seeds_draw_different_losses() {
    let lost: Vec<u64> = (1..=4)
        .map(|seed| run_with_seed(&lossy(), Some(seed)).network.lost)
        .collect();
    assert!(
        lost.iter().any(|&n| n != lost[0]),
        "four seeds lost exactly the same number of frames: {lost:?}"
    );
}

#[test]
fn a_10_mbps_server_port_boots_the_same_fleet_later_than_1_gbps() {
    const SIZE: u64 = 300_000;
    let fast = run_toml(&lan("", "bandwidth_mbps = 1000", "", 6, SIZE));
    let slow = run_toml(&lan("", "bandwidth_mbps = 10", "", 6, SIZE));
    assert_all_booted_from(&fast, "bios", "pxelab");
    assert_all_booted_from(&slow, "bios", "pxelab");
    let p50 = |r| fleet(r, "bios").boot_time.unwrap().p50.0;
    // Pushing one 300 kB file through 10 Mb/s alone takes 240 ms.
    let serialisation = Duration::from_secs_f64(SIZE as f64 * 8.0 / 10e6);
    assert!(
        p50(&slow) >= p50(&fast) + serialisation,
        "p50 boot time at 10 Mb/s {:?} is not at least {serialisation:?} later than at 1 Gb/s {:?}\n{}\n{}",
        p50(&slow),
        p50(&fast),
        text(&fast),
        text(&slow)
    );
}

#[test]
fn writing_a_pcap_does_not_change_the_run() {
    let (with_pcap, _) = run_capturing(&lossy(), 5);
    let without = text(&run_with_seed(&lossy(), Some(5)));
    assert_eq!(with_pcap, without);
}

#[test]
fn the_seed_option_replaces_the_scenario_seed_and_is_reported() {
    let r = run_with_seed(&lossy(), Some(1234));
    assert_eq!(r.seed, 1234);
    assert!(
        text(&r).starts_with("pxelab run network (seed 1234)"),
        "{}",
        text(&r)
    );
    let own = run_toml(&lossy());
    assert_eq!(own.seed, 7, "the scenario's own seed without the option");
}

#[test]
fn a_spanning_tree_hold_range_is_drawn_per_port() {
    // Holds uniform in [0, 56] s: a port released by 28 s lets the ROM's last
    // DISCOVER through, a later one does not. Ten ports see both.
    let src = lan(
        "link_up_delay_s = [0, 56]",
        "link_up_delay_s = 0",
        "",
        10,
        20000,
    );
    for seed in 1..=3 {
        let r = run_with_seed(&src, Some(seed));
        let f = fleet(&r, "bios");
        let e51 = f.errors.get("PXE-E51").copied().unwrap_or(0);
        assert_eq!(f.booted + e51, 10, "{}", text(&r));
        assert!(
            f.booted > 0 && e51 > 0,
            "seed {seed}: every port drew the same side of 28 s\n{}",
            text(&r)
        );
    }
}

#[test]
fn every_transfer_a_server_started_is_in_its_tftp_outcomes() {
    // Each client loads exactly one file (an OS loader) from pxelab, so
    // pxelab started at least one transfer per booted client.
    for seed in 1..=10 {
        let r = run_with_seed(&lossy(), Some(seed));
        let booted = u64::from(fleet(&r, "bios").booted);
        let transfers: u64 = server(&r, "pxelab").tftp.values().sum();
        assert!(
            transfers >= booted,
            "seed {seed}: {booted} clients booted from pxelab but its tftp outcomes count {transfers} transfers\n{}",
            text(&r)
        );
    }
}
