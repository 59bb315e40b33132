//! Simulated imaging of a fleet: the `image-deploy-unicast` and
//! `image-deploy-multicast` scenarios with the fleet size changed to 10, 100 and
//! 1000 machines. Criterion measures the wall time of one whole simulation; the
//! simulated fleet throughput (image bytes written to every disk / simulated
//! seconds from the first transfer's start to the last one's end) is printed once
//! per case, since it is a property of the model, not of the host.
//!
//! In smoke mode (`cargo test --benches`) the image is 64 MiB instead of 2 GiB and
//! the 1000-machine cases are left out; see `common::smoke`.

mod common;

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use pxelab_simulator::report::Report;
use pxelab_simulator::scenario::Scenario;
use pxelab_simulator::world::{self, RunOptions};

/// The bundled imaging scenarios' world, with `count` machines, `transfer`
/// (`unicast` or `multicast`) and an image of `image_mib`.
fn scenario(count: u32, transfer: &str, image_mib: u32) -> Scenario {
    let multicast = if transfer == "multicast" {
        format!("multicast = {{ min_receivers = {count}, max_wait_s = 120 }}")
    } else {
        String::new()
    };
    let toml = format!(
        r#"
name = "fleet-imaging-{transfer}-{count}"
summary = "{count} machines imaged by {transfer}"
seed = 5
duration_s = 86400

[[segment]]
name = "floor"
subnet = "10.62.0.0/21"
link = {{ bandwidth_mbps = 1000 }}

[[server]]
name = "ds"
segment = "floor"
address = "10.62.0.10"
kind = "reference"
mode = "proxy"
allow_fleets = ["floor"]
link = {{ bandwidth_mbps = 1000 }}

[[deployment]]
name = "ds"
server = "ds"
transfer = "{transfer}"
{multicast}

[[deployment.image]]
name = "win-xp-sysprep"
size_mib = {image_mib}

[[deployment.job]]
fleet = "floor"
kind = "deploy-image"
image = "win-xp-sysprep"
post_name = "WKS-{{index}}"

[[fleet]]
name = "floor"
segment = "floor"
count = {count}
profile = "pxe21-bios"
power_on_spread_s = 10
deployment = "ds"
boot_order = "disk"
os = "Windows XP SP2"

[[expect]]
fleet = "floor"
imaged = "all"
jobs_succeeded = "all"
looping = "none"
"#
    );
    Scenario::from_toml(&toml, "fleet_imaging bench").expect("the generated scenario is valid")
}

fn run(s: &Scenario) -> Report {
    let report = world::run(s, RunOptions::default()).expect("the world builds");
    assert!(
        report.passed(),
        "{}: an expectation failed",
        report.scenario
    );
    report
}

fn fleet_imaging(c: &mut Criterion) {
    let smoke = common::smoke();
    let (image_mib, counts): (u32, &[u32]) = if smoke {
        (64, &[10, 100])
    } else {
        (2048, &[10, 100, 1000])
    };
    let mut g = c.benchmark_group("fleet_imaging");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(100));
    for transfer in ["unicast", "multicast"] {
        for &count in counts {
            let s = scenario(count, transfer, image_mib);
            let report = run(&s);
            let imaging = report.deployments[0]
                .imaging
                .as_ref()
                .expect("the deployment imaged the fleet");
            let secs = imaging.fleet_time.0.as_secs_f64();
            println!(
                "fleet_imaging/{transfer}/{count}: {} machines, {} MiB written in {secs:.1} simulated s: \
                 {:.1} MiB/s fleet throughput, {} events",
                imaging.machines,
                imaging.bytes >> 20,
                imaging.bytes as f64 / secs / 1048576.0,
                report.events,
            );
            g.bench_function(BenchmarkId::new(transfer, count), |b| b.iter(|| run(&s)));
        }
    }
    g.finish();
}

criterion_group!(benches, fleet_imaging);
criterion_main!(benches);
