//! The deployment plane in the world, built directly from scenario types (the
//! file syntax has its own tests): the seed's boot-flag loop under a legacy
//! server and its absence under the reference one, imaging times of unicast
//! and multicast fleets, and what the report says about them.

use pxelab_simulator::report::{Report, to_text};
use pxelab_simulator::scenario::{
    BootOrder, BootworksPath, DeployMode, Deployment, ImageSpec, JobKindSpec, JobSpec, MachineSpec,
    Scenario, TransferSpec,
};
use pxelab_simulator::world::{RunOptions, run};

const BASE: &str = r#"
name = "deploy-test"
summary = "deployment plane"
seed = 7
duration_s = 86400

[[segment]]
name = "lab"
subnet = "10.40.0.0/24"

[[server]]
name = "lab"
segment = "lab"
address = "10.40.0.2"
kind = "reference"
pool = "10.40.0.100-10.40.0.199"

[[fleet]]
name = "wks"
segment = "lab"
count = 2
profile = "pxe21-bios"
"#;

fn machine(deployment: &str) -> MachineSpec {
    MachineSpec {
        deployment: deployment.to_string(),
        registered: true,
        share_access: true,
        boot_order: BootOrder::Disk,
        bootworks: BootworksPath::Partition,
        disk_size: 40 << 30,
        os: Some("Windows XP SP2".to_string()),
        os_boot_s: 40.0,
        reboot_s: 30.0,
        bootworks_boot_s: 15.0,
    }
}

fn deployment(mode: DeployMode, jobs: Vec<JobSpec>, images: Vec<ImageSpec>) -> Deployment {
    Deployment {
        name: "ds".to_string(),
        server: "lab".to_string(),
        mode,
        trust_uuid: false,
        max_attempts: 3,
        initial_deployment: None,
        transfer: TransferSpec::Unicast,
        images,
        jobs,
    }
}

fn job(kind: JobKindSpec) -> JobSpec {
    JobSpec {
        fleet: "wks".to_string(),
        kind,
        machine: None,
        post_name: Some("WKS-{index}".to_string()),
        line: 1,
    }
}

fn scenario(d: Deployment, count: u32) -> Scenario {
    let mut sc = Scenario::from_toml(BASE, "test").expect("base scenario");
    sc.fleets[0].count = count;
    sc.fleets[0].machine = Some(machine("ds"));
    sc.deployments = vec![d];
    sc
}

fn go(sc: &Scenario) -> Report {
    run(sc, RunOptions::default()).expect("builds")
}

#[test]
fn legacy_scripted_install_on_a_partition_loops_as_the_seed_tells() {
    let sc = scenario(
        deployment(
            DeployMode::Legacy,
            vec![job(JobKindSpec::ScriptedInstall("Windows XP SP2".into()))],
            vec![],
        ),
        1,
    );
    let r = go(&sc);
    let text = to_text(&r);
    println!("{text}");
    assert_eq!(r.fleets[0].looping, 1, "{text}");
    let f = r
        .findings
        .iter()
        .find(|f| f.kind == "boot-loop")
        .expect("a boot-loop finding");
    assert!(
        f.detail[0].contains("Bootworks (partition)"),
        "{:?}",
        f.detail
    );
    assert!(
        f.detail[0].contains("AClient arms the boot flag"),
        "{:?}",
        f.detail
    );
}

#[test]
fn reference_refuses_the_scripted_install_and_nothing_loops() {
    let sc = scenario(
        deployment(
            DeployMode::Reference,
            vec![job(JobKindSpec::ScriptedInstall("Windows XP SP2".into()))],
            vec![],
        ),
        1,
    );
    let r = go(&sc);
    let text = to_text(&r);
    println!("{text}");
    assert_eq!(r.fleets[0].looping, 0, "{text}");
    assert!(r.findings.iter().any(|f| f.kind == "job-refused"), "{text}");
    let d = r.fleets[0].deployment.as_ref().unwrap();
    assert_eq!(d.jobs_refused, 1);
    assert_eq!(d.in_os, 1);
}

#[test]
fn a_unicast_deploy_images_both_machines_byte_for_byte() {
    let sc = scenario(
        deployment(
            DeployMode::Reference,
            vec![job(JobKindSpec::DeployImage("xp".into()))],
            vec![ImageSpec {
                name: "xp".into(),
                size: 64 << 20,
            }],
        ),
        2,
    );
    let r = go(&sc);
    let text = to_text(&r);
    println!("{text}");
    let d = r.fleets[0].deployment.as_ref().unwrap();
    assert_eq!((d.imaged, d.jobs_succeeded), (2, 2), "{text}");
    let i = r.deployments[0].imaging.as_ref().unwrap();
    assert_eq!(i.machines, 2);
}

#[test]
fn a_network_first_machine_whose_pxe_fails_boots_its_disk() {
    // Nobody answers its DHCPDISCOVERs: the ROM gives up (PXE-E51) and the
    // BIOS goes on to the next boot device, where Windows runs AClient.
    let mut sc = scenario(deployment(DeployMode::Reference, vec![], vec![]), 1);
    sc.servers[0].ignore = sc.fleet_macs("wks");
    if let Some(m) = sc.fleets[0].machine.as_mut() {
        m.boot_order = BootOrder::Network;
    }
    let r = go(&sc);
    let text = to_text(&r);
    assert_eq!(r.fleets[0].deployment.as_ref().unwrap().in_os, 1, "{text}");
    let path = &r.clients[0].path;
    let pxe = path.iter().position(|s| s.contains("PXE-E51"));
    let aclient = path
        .iter()
        .position(|s| s.contains("connecting to the deployment server"));
    assert!(
        matches!((pxe, aclient), (Some(p), Some(a)) if p < a),
        "PXE fails first, then AClient runs: {path:#?}"
    );
}
