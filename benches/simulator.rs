//! The simulator's own speed on a boot storm (the `boot-storm-1000` world,
//! generated here with the size as a parameter: 60 % BIOS, 40 % UEFI, all powered
//! on within 2 s against one reference server on a 10 GbE port): events per wall
//! second and complete PXE boots per wall second. Each is its own criterion
//! group so each gets its own `Throughput`; both time the same whole run.
//!
//! The 100,000-client storm is `benches/scenarios/boot-storm-100000.toml`, run
//! once with the release binary (BENCHMARKS.md), not here.
//!
//! In smoke mode (`cargo test --benches`) the storm has 100 clients instead of
//! 1000; see `common::smoke`.

mod common;

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pxelab_simulator::report::Report;
use pxelab_simulator::scenario::Scenario;
use pxelab_simulator::world::{self, RunOptions};

fn storm(clients: u32) -> Scenario {
    let bios = clients * 6 / 10;
    let uefi = clients - bios;
    let toml = format!(
        r#"
name = "boot-storm-{clients}"
summary = "{clients} clients powered on within 2 s against one pxelab server"
seed = 1
duration_s = 600

[[segment]]
name = "row"
subnet = "10.64.0.0/15"
link = {{ latency_us = 50, jitter_us = 20 }}

[[server]]
name = "pxelab"
segment = "row"
address = "10.64.0.2"
kind = "reference"
pool = "10.64.0.10-10.65.255.250"
dhcp = {{ lease_time_secs = 7200 }}
link = {{ bandwidth_mbps = 10000 }}

[[fleet]]
name = "bios"
segment = "row"
count = {bios}
profile = "pxe21-bios"
mac_prefix = "52:54:00:50"
power_on_spread_s = 2.0

[[fleet]]
name = "uefi"
segment = "row"
count = {uefi}
profile = "edk2-uefi"
mac_prefix = "52:54:00:51"
power_on_spread_s = 2.0

[[expect]]
fleet = "bios"
booted = "all"

[[expect]]
fleet = "uefi"
booted = "all"
"#
    );
    Scenario::from_toml(&toml, "simulator bench").expect("the generated scenario is valid")
}

fn run(s: &Scenario) -> Report {
    let report = world::run(s, RunOptions::default()).expect("the world builds");
    assert!(
        report.passed(),
        "{}: a client did not boot",
        report.scenario
    );
    report
}

fn boot_storm(c: &mut Criterion) {
    let clients: u32 = if common::smoke() { 100 } else { 1000 };
    let s = storm(clients);
    let events = run(&s).events;
    println!("simulator/boot_storm/{clients}: {events} events per run");
    let mut g = c.benchmark_group("simulator");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(200));
    g.throughput(Throughput::Elements(events));
    g.bench_function(BenchmarkId::new("boot_storm_events", clients), |b| {
        b.iter(|| run(&s))
    });
    g.throughput(Throughput::Elements(u64::from(clients)));
    g.bench_function(BenchmarkId::new("boot_storm_boots", clients), |b| {
        b.iter(|| run(&s))
    });
    g.finish();
}

criterion_group!(benches, boot_storm);
criterion_main!(benches);
