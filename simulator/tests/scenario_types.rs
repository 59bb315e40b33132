//! What the world reads from a checked scenario: roles, defaults, link merging,
//! MAC generation, counts.

use std::net::Ipv4Addr;

use proptest::prelude::*;
use pxelab_reference::Mac;
use pxelab_simulator::scenario::{
    BootOrder, BootworksPath, Count, DelaySpec, DeployMode, Deployment, Expect, FaultKind,
    FindingKind, ImageSpec, JobKindSpec, JobSpec, LinkSpec, MachineSpec, NbpKind, RefMode,
    Scenario, ServerRole, TransferSpec, UuidMode,
};

const RICH: &str = r#"
name = "rich"
summary = "every kind of table"
seed = 7
duration_s = 120.5

[[segment]]
name = "office"
subnet = "10.10.0.0/24"
link = { latency_us = 150, loss = 0.01, link_up_delay_s = [30, 50] }

[[server]]
name = "lab"
segment = "office"
address = "10.10.0.40"
kind = "reference"
pool = "10.10.0.200-10.10.0.220"
respond_delay_ms = 250
allow_fleets = ["bios"]
dhcp = { lease_time_secs = 600, deny = ["52:54:00:99:00:01"] }
boot = { boot_bios = "pxelinux.0" }
link = { link_up_delay_s = 0 }
[[server.file]]
name = "pxelinux.0"
nbp = "loader"
size = 46000

[[server]]
name = "prod"
segment = "office"
address = "10.10.0.2"
kind = "dhcp-pxe"
pool = "10.10.0.100-10.10.0.199"
router = "10.10.0.1"
dns = ["10.10.0.3", "10.10.0.4"]
lease_time_s = 86400
stray_option60 = true
bios_file = "undionly.kpxe"
efi_file = "ipxe.efi"
ignore = ["52:54:00:99:00:02"]
ignore_fleets = ["bios"]

[[server]]
name = "proxy"
segment = "office"
address = "10.10.0.41"
kind = "reference"
mode = "proxy"

[[server]]
name = "home-router"
segment = "office"
address = "192.168.1.1"
kind = "rogue"
pool = "192.168.1.100-192.168.1.150"

[[fleet]]
name = "bios"
segment = "office"
count = 12
profile = "pxe21-bios"
quirks = ["no-uuid"]
uuid = "shared"
power_on_s = 1.5
power_on_spread_s = 5

[[fleet]]
name = "uefi"
segment = "office"
count = 3
profile = "edk2-uefi"
mac_prefix = "02:aa"

[[fault]]
at_s = 60
kind = "fleet-link-down"
target = "uefi"

[[expect]]
fleet = "bios"
booted = ">=10"
booted_from = "lab"

[[expect]]
finding = "competing-pxe-servers"
present = false
"#;

fn rich() -> Scenario {
    Scenario::from_toml(RICH, "rich.toml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn top_level_values_and_defaults() {
    let s = rich();
    assert_eq!((s.name.as_str(), s.seed, s.duration_s), ("rich", 7, 120.5));
    assert_eq!(s.description, "");
    let d = Scenario::from_toml(
        "name = \"d\"\nsummary = \"s\"\n[[segment]]\nname = \"n\"\nsubnet = \"10.0.0.0/8\"\n[[fleet]]\nname = \"f\"\nsegment = \"n\"\ncount = 1\nprofile = \"ipxe\"\n",
        "d.toml",
    )
    .unwrap();
    assert_eq!((d.seed, d.duration_s), (1, 600.0));
    let f = &d.fleets[0];
    assert_eq!(
        (f.uuid, f.power_on_s, f.power_on_spread_s),
        (UuidMode::Random, 0.0, 0.0)
    );
    assert!(f.quirks.is_empty() && f.mac_prefix.is_none() && f.link.is_none());
}

#[test]
fn segment_subnet_and_link() {
    let s = rich();
    let seg = &s.segments[0];
    assert_eq!(seg.subnet.to_string(), "10.10.0.0/24");
    assert_eq!(seg.subnet.netmask(), Ipv4Addr::new(255, 255, 255, 0));
    assert_eq!(seg.subnet.broadcast(), Ipv4Addr::new(10, 10, 0, 255));
    assert!(seg.subnet.is_host(Ipv4Addr::new(10, 10, 0, 1)));
    assert!(!seg.subnet.is_host(Ipv4Addr::new(10, 10, 0, 0)));
    assert_eq!(seg.link.latency_us, Some(150.0));
    assert_eq!(seg.link.link_up_delay_s, Some(DelaySpec::Range(30.0, 50.0)));
    assert_eq!(
        seg.link.jitter_us, None,
        "unset keys stay unset: the network's default applies"
    );
}

#[test]
fn port_links_merge_over_the_segment() {
    let s = rich();
    let lab = s.server("lab").unwrap().1;
    let merged = lab.link.as_ref().unwrap().merged_over(&s.segments[0].link);
    assert_eq!(
        merged.link_up_delay_s,
        Some(DelaySpec::Fixed(0.0)),
        "the port's own key wins"
    );
    assert_eq!(merged.latency_us, Some(150.0), "the segment's key fills in");
    assert_eq!(merged.loss, Some(0.01));
    assert_eq!(
        LinkSpec::default().merged_over(&LinkSpec::default()),
        LinkSpec::default()
    );
}

#[test]
fn reference_server_role() {
    let s = rich();
    let lab = s.server("lab").unwrap().1;
    let ServerRole::Reference {
        mode,
        pool,
        dhcp,
        boot,
    } = &lab.role
    else {
        panic!("lab is a reference server: {:?}", lab.role)
    };
    assert_eq!(*mode, RefMode::Full);
    let pool = pool.as_ref().expect("full mode has a pool");
    assert_eq!(
        (pool.first, pool.last),
        (Ipv4Addr::new(10, 10, 0, 200), Ipv4Addr::new(10, 10, 0, 220))
    );
    assert_eq!(
        (pool.netmask, pool.router),
        (None, None),
        "as --range: the interface's mask, no router"
    );
    assert_eq!(dhcp.lease_time_secs, 600);
    assert_eq!(dhcp.deny, vec!["52:54:00:99:00:01".parse::<Mac>().unwrap()]);
    assert_eq!(boot.boot_bios, "pxelinux.0");
    assert_eq!(
        boot.boot_efi, "ipxe.efi",
        "keys not given keep serve.toml's defaults"
    );
    // The server's delay is the DHCP server's delay.
    assert_eq!(lab.respond_delay_ms, 250);
    assert_eq!(dhcp.respond_delay_ms, 250);
    assert_eq!(lab.allow_fleets, ["bios"]);
    assert_eq!(lab.files[0].nbp, NbpKind::Loader);
    assert_eq!(lab.files[0].size, 46000);

    let proxy = s.server("proxy").unwrap().1;
    assert!(matches!(
        proxy.role,
        ServerRole::Reference {
            mode: RefMode::Proxy,
            pool: None,
            ..
        }
    ));
}

#[test]
fn foreign_server_roles() {
    let s = rich();
    let prod = s.server("prod").unwrap().1;
    let ServerRole::DhcpPxe(f, pxe) = &prod.role else {
        panic!("prod is dhcp-pxe: {:?}", prod.role)
    };
    assert_eq!(
        f.pool,
        (Ipv4Addr::new(10, 10, 0, 100), Ipv4Addr::new(10, 10, 0, 199))
    );
    assert_eq!(f.router, Some(Ipv4Addr::new(10, 10, 0, 1)));
    assert_eq!(f.dns.len(), 2);
    assert_eq!(f.lease_time_s, 86400);
    assert!(f.stray_option60);
    assert_eq!(pxe.next_server, None);
    assert_eq!(
        (pxe.bios_file.as_str(), pxe.efi_file.as_str()),
        ("undionly.kpxe", "ipxe.efi")
    );
    assert_eq!(pxe.ipxe_file, None, "absent: iPXE gets the binary again");
    assert_eq!(
        prod.ignore,
        vec!["52:54:00:99:00:02".parse::<Mac>().unwrap()]
    );
    assert_eq!(prod.ignore_fleets, ["bios"]);

    // A rogue brings its own subnet (of the segment's size).
    let rogue = s.server("home-router").unwrap().1;
    let ServerRole::Rogue(f) = &rogue.role else {
        panic!("{:?}", rogue.role)
    };
    assert_eq!(f.lease_time_s, 3600);
    assert_eq!(f.router, None);
}

#[test]
fn fleets_faults_expects() {
    let s = rich();
    let (ordinal, bios) = s.fleet("bios").unwrap();
    assert_eq!(ordinal, 0);
    assert_eq!((bios.count, bios.profile.as_str()), (12, "pxe21-bios"));
    assert_eq!(bios.quirks.len(), 1);
    assert_eq!(
        (bios.uuid, bios.power_on_s, bios.power_on_spread_s),
        (UuidMode::Shared, 1.5, 5.0)
    );
    assert_eq!(s.faults[0].kind, FaultKind::FleetLinkDown);
    assert_eq!(s.faults[0].target, "uefi");
    assert!(!s.faults[0].kind.targets_server());
    assert_eq!(
        s.expects[0],
        Expect::Fleet {
            fleet: "bios".into(),
            booted: Some(Count::AtLeast(10)),
            booted_from: Some("lab".into()),
            error: None,
            jobs_succeeded: None,
            jobs_failed: None,
            jobs_refused: None,
            imaged: None,
            registered: None,
            looping: None,
            line: RICH.lines().position(|l| l == "fleet = \"bios\"").unwrap() + 1,
        }
    );
    assert!(matches!(
        s.expects[1],
        Expect::Finding {
            finding: FindingKind::CompetingPxeServers,
            present: false,
            ..
        }
    ));
    assert_eq!(
        s.expects[1].line(),
        RICH.lines().position(|l| l.starts_with("finding")).unwrap() + 1
    );
}

#[test]
fn default_macs_are_qemu_oui_fleet_ordinal_and_index() {
    let s = rich();
    let (i, bios) = s.fleet("bios").unwrap();
    assert_eq!(bios.mac(i, 0), "52:54:00:00:00:00".parse::<Mac>().unwrap());
    assert_eq!(bios.mac(i, 11), "52:54:00:00:00:0b".parse::<Mac>().unwrap());
    assert_eq!(
        bios.mac(5, 0x1234),
        "52:54:00:05:12:34".parse::<Mac>().unwrap()
    );
}

#[test]
fn prefixed_macs_put_the_index_big_endian_after_the_prefix() {
    let s = rich();
    let (i, uefi) = s.fleet("uefi").unwrap();
    assert_eq!(uefi.mac(i, 0), "02:aa:00:00:00:00".parse::<Mac>().unwrap());
    assert_eq!(
        uefi.mac(i, 0x0102_0304),
        "02:aa:01:02:03:04".parse::<Mac>().unwrap()
    );
    let macs: Vec<Mac> = uefi.macs(i).collect();
    assert_eq!(macs.len(), 3);
    assert_eq!(macs[2], "02:aa:00:00:00:02".parse::<Mac>().unwrap());
    assert_eq!(s.fleet_macs("uefi"), macs);
    assert!(s.fleet_macs("nope").is_empty());
}

#[test]
fn counts_print_as_written() {
    for (text, want) in [
        ("\"all\"", Count::All),
        ("\"none\"", Count::None),
        ("7", Count::Exactly(7)),
        ("\"7\"", Count::Exactly(7)),
        ("\">=3\"", Count::AtLeast(3)),
        ("\"<=3\"", Count::AtMost(3)),
    ] {
        let src = RICH.replace("booted = \">=10\"", &format!("booted = {text}"));
        let s = Scenario::from_toml(&src, "c.toml").unwrap_or_else(|e| panic!("{text}: {e}"));
        let Expect::Fleet {
            booted: Some(c), ..
        } = &s.expects[0]
        else {
            panic!()
        };
        assert_eq!(*c, want);
        assert_eq!(c.to_string(), text.trim_matches('"'));
    }
    assert!(Count::All.holds(12, 12) && !Count::All.holds(11, 12));
    assert!(Count::None.holds(0, 12) && !Count::None.holds(1, 12));
    assert!(Count::AtLeast(10).holds(10, 12) && !Count::AtLeast(10).holds(9, 12));
    assert!(Count::AtMost(2).holds(2, 12) && !Count::AtMost(2).holds(3, 12));
    assert!(Count::Exactly(4).holds(4, 12) && !Count::Exactly(4).holds(5, 12));
}

proptest! {
    /// Whatever the text, reading it returns (an error or a scenario), never panics.
    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,400}") {
        let _ = Scenario::from_toml(&src, "p.toml");
    }

    /// Splicing random text into a valid file reaches the checks, not only the
    /// TOML parser; errors still point inside the file.
    #[test]
    fn mutated_scenarios_never_panic(at in 0usize..RICH.len(), cut in 0usize..20, insert in "[ -~\\n]{0,12}") {
        let mut at = at;
        while !RICH.is_char_boundary(at) { at -= 1; }
        let end = (at + cut).min(RICH.len());
        let src = format!("{}{}{}", &RICH[..at], insert, &RICH[end..]);
        if let Err(e) = Scenario::from_toml(&src, "p.toml") {
            prop_assert!(e.line >= 1 && e.line <= src.lines().count() + 1, "{e}");
            prop_assert!(e.column >= 1);
        }
    }

    /// The same for the deployment plane's tables and checks.
    #[test]
    fn mutated_deployments_never_panic(at in 0usize..DEPLOY.len(), cut in 0usize..20, insert in "[ -~\\n]{0,12}") {
        let mut at = at;
        while !DEPLOY.is_char_boundary(at) { at -= 1; }
        let end = (at + cut).min(DEPLOY.len());
        let src = format!("{}{}{}", &DEPLOY[..at], insert, &DEPLOY[end..]);
        if let Err(e) = Scenario::from_toml(&src, "p.toml") {
            prop_assert!(e.line >= 1 && e.line <= src.lines().count() + 1, "{e}");
            prop_assert!(e.column >= 1);
        }
    }
}

/// Every key of the deployment plane, none left at its default.
const DEPLOY: &str = r#"
name = "deploy"
summary = "a Deployment Server, its images and jobs, managed machines"

[[segment]]
name = "lab"
subnet = "10.20.0.0/24"

[[server]]
name = "ds-host"
segment = "lab"
address = "10.20.0.5"
kind = "reference"
pool = "10.20.0.100-10.20.0.199"

[[server]]
name = "old-host"
segment = "lab"
address = "10.20.0.6"
kind = "reference"
mode = "proxy"

[[deployment]]
name = "lab-ds"
server = "ds-host"
mode = "reference"
max_attempts = 5
transfer = "multicast"
multicast = { min_receivers = 4, max_wait_s = 90.5 }
initial_deployment = { kind = "deploy-image", image = "xp-sysprep" }

[[deployment.image]]
name = "xp-sysprep"
size_mib = 2048

[[deployment.image]]
name = "tiny"
size_mib = 0.5

[[deployment.job]]
fleet = "wks"
kind = "deploy-image"
image = "xp-sysprep"
post_name = "WKS-{index}"

[[deployment.job]]
fleet = "wks"
kind = "run-script"
script = "ipconfig /all"

[[deployment.job]]
fleet = "wks"
kind = "capture-image"
image = "wks-golden"

[[deployment.job]]
fleet = "wks"
kind = "scripted-install"
os = "Windows 2000"

[[deployment.job]]
fleet = "wks"
kind = "boot-to-production"

[[deployment]]
name = "ds6"
server = "old-host"
mode = "legacy"
trust_uuid = true

[[fleet]]
name = "wks"
segment = "lab"
count = 4
profile = "pxe21-bios"
deployment = "lab-ds"
registered = false
share_access = false
boot_order = "disk"
bootworks = "pxe"
disk_gib = 2.3
os = "Windows XP SP2"
os_boot_s = 41.5
reboot_s = 31
bootworks_boot_s = 16

[[fleet]]
name = "old"
segment = "lab"
count = 2
profile = "pxe21-bios"
deployment = "ds6"

[[fleet]]
name = "plain"
segment = "lab"
count = 1
profile = "ipxe"

[[expect]]
fleet = "wks"
jobs_succeeded = "all"
jobs_failed = 0
jobs_refused = "none"
imaged = ">=3"
registered = "<=4"
looping = "none"

[[expect]]
fleet = "plain"
looping = 0

[[expect]]
finding = "job-refused"

[[expect]]
finding = "wrong-computer"
present = false
"#;

fn deploy() -> Scenario {
    Scenario::from_toml(DEPLOY, "deploy.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn line_of(src: &str, needle: &str, nth: usize) -> usize {
    src.lines()
        .enumerate()
        .filter(|(_, l)| *l == needle)
        .nth(nth)
        .map(|(i, _)| i + 1)
        .unwrap_or_else(|| panic!("no {needle:?} #{nth}"))
}

#[test]
fn a_deployment_lands_with_every_key() {
    let s = deploy();
    assert_eq!(s.deployments.len(), 2);
    let job_line = |n| line_of(DEPLOY, "[[deployment.job]]", n);
    assert_eq!(
        s.deployments[0],
        Deployment {
            name: "lab-ds".into(),
            server: "ds-host".into(),
            mode: DeployMode::Reference,
            trust_uuid: false,
            max_attempts: 5,
            initial_deployment: Some(JobKindSpec::DeployImage("xp-sysprep".into())),
            transfer: TransferSpec::Multicast {
                min_receivers: 4,
                max_wait_s: 90.5
            },
            images: vec![
                ImageSpec {
                    name: "xp-sysprep".into(),
                    size: 2048 * 1_048_576
                },
                ImageSpec {
                    name: "tiny".into(),
                    size: 524_288
                },
            ],
            jobs: vec![
                JobSpec {
                    machine: None,
                    fleet: "wks".into(),
                    kind: JobKindSpec::DeployImage("xp-sysprep".into()),
                    post_name: Some("WKS-{index}".into()),
                    line: job_line(0),
                },
                JobSpec {
                    machine: None,
                    fleet: "wks".into(),
                    kind: JobKindSpec::RunScript("ipconfig /all".into()),
                    post_name: None,
                    line: job_line(1),
                },
                JobSpec {
                    machine: None,
                    fleet: "wks".into(),
                    kind: JobKindSpec::CaptureImage("wks-golden".into()),
                    post_name: None,
                    line: job_line(2),
                },
                JobSpec {
                    machine: None,
                    fleet: "wks".into(),
                    kind: JobKindSpec::ScriptedInstall("Windows 2000".into()),
                    post_name: None,
                    line: job_line(3),
                },
                JobSpec {
                    machine: None,
                    fleet: "wks".into(),
                    kind: JobKindSpec::BootToProduction,
                    post_name: None,
                    line: job_line(4),
                },
            ],
        }
    );
    // A legacy deployment: UUID trust on, reference-only keys at their defaults.
    let ds6 = &s.deployments[1];
    assert_eq!(
        (ds6.mode, ds6.trust_uuid, ds6.max_attempts, ds6.transfer),
        (DeployMode::Legacy, true, 3, TransferSpec::Unicast)
    );
    assert!(ds6.images.is_empty() && ds6.jobs.is_empty() && ds6.initial_deployment.is_none());
}

#[test]
fn a_managed_fleet_lands_with_every_key() {
    let s = deploy();
    let wks = s.fleet("wks").unwrap().1;
    assert_eq!(
        wks.machine,
        Some(MachineSpec {
            deployment: "lab-ds".into(),
            registered: false,
            share_access: false,
            boot_order: BootOrder::Disk,
            bootworks: BootworksPath::Pxe,
            // 2.3 GiB = 2469606195.2 bytes, down to whole 512-byte sectors.
            disk_size: 2_469_605_888,
            os: Some("Windows XP SP2".into()),
            os_boot_s: 41.5,
            reboot_s: 31.0,
            bootworks_boot_s: 16.0,
        })
    );
    assert_eq!(s.fleet("plain").unwrap().1.machine, None);
}

#[test]
fn managed_machine_defaults() {
    let s = deploy();
    let old = s.fleet("old").unwrap().1;
    assert_eq!(
        old.machine,
        Some(MachineSpec {
            deployment: "ds6".into(),
            registered: true,
            share_access: true,
            boot_order: BootOrder::Network,
            bootworks: BootworksPath::Partition,
            disk_size: 40 * 1024 * 1024 * 1024,
            os: None,
            os_boot_s: 40.0,
            reboot_s: 30.0,
            bootworks_boot_s: 15.0,
        })
    );
}

#[test]
fn deployment_defaults() {
    let src = DEPLOY.replace(
        "mode = \"reference\"\nmax_attempts = 5\ntransfer = \"multicast\"\nmulticast = { min_receivers = 4, max_wait_s = 90.5 }\ninitial_deployment = { kind = \"deploy-image\", image = \"xp-sysprep\" }\n",
        "",
    );
    assert_ne!(src, DEPLOY);
    let s = Scenario::from_toml(&src, "d.toml").unwrap_or_else(|e| panic!("{e}"));
    let d = &s.deployments[0];
    assert_eq!(
        (
            d.mode,
            d.trust_uuid,
            d.max_attempts,
            d.transfer,
            &d.initial_deployment
        ),
        (
            DeployMode::Reference,
            false,
            3,
            TransferSpec::Unicast,
            &None
        )
    );
    // transfer = "multicast" alone: the session defaults.
    let src = DEPLOY.replace("multicast = { min_receivers = 4, max_wait_s = 90.5 }\n", "");
    let s = Scenario::from_toml(&src, "d.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.deployments[0].transfer,
        TransferSpec::Multicast {
            min_receivers: 1,
            max_wait_s: 60.0
        }
    );
}

#[test]
fn deployment_expectations() {
    let s = deploy();
    let Expect::Fleet {
        jobs_succeeded,
        jobs_failed,
        jobs_refused,
        imaged,
        registered,
        looping,
        booted,
        line,
        ..
    } = &s.expects[0]
    else {
        panic!("{:?}", s.expects[0])
    };
    assert_eq!(
        (
            *jobs_succeeded,
            *jobs_failed,
            *jobs_refused,
            *imaged,
            *registered,
            *looping,
            *booted
        ),
        (
            Some(Count::All),
            Some(Count::Exactly(0)),
            Some(Count::None),
            Some(Count::AtLeast(3)),
            Some(Count::AtMost(4)),
            Some(Count::None),
            None
        )
    );
    assert_eq!(*line, line_of(DEPLOY, "fleet = \"wks\"", 5));
    // `looping` is about any fleet, managed or not.
    assert!(matches!(
        &s.expects[1],
        Expect::Fleet { fleet, looping: Some(Count::Exactly(0)), jobs_succeeded: None, .. } if fleet == "plain"
    ));
    assert!(matches!(
        s.expects[2],
        Expect::Finding {
            finding: FindingKind::JobRefused,
            present: true,
            ..
        }
    ));
    assert!(matches!(
        s.expects[3],
        Expect::Finding {
            finding: FindingKind::WrongComputer,
            present: false,
            ..
        }
    ));
}

/// `size_mib` is rounded to whole bytes; `disk_gib` down to whole sectors;
/// an image fits when it leaves the disk its 128 MiB of hidden partition
/// and alignment, exactly.
#[test]
fn sizes_round_and_images_fit_to_the_byte() {
    let with = |size_mib: &str, disk_gib: &str| {
        let src = DEPLOY
            .replace("size_mib = 2048", &format!("size_mib = {size_mib}"))
            .replace("disk_gib = 2.3", &format!("disk_gib = {disk_gib}"));
        Scenario::from_toml(&src, "s.toml")
    };
    // 2048 MiB + 128 MiB = 2.125 GiB: fits with nothing to spare.
    let s = with("2048", "2.125").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.fleet("wks")
            .unwrap()
            .1
            .machine
            .as_ref()
            .unwrap()
            .disk_size,
        2176 * 1_048_576
    );
    // One byte more (rounded from a fraction of a MiB) does not: the initial
    // deployment of the (unregistered) fleet is checked first, then its job.
    let e = with("2048.000001", "2.125").unwrap_err();
    assert_eq!(
        e.message,
        "deployment[0].initial_deployment.image = \"xp-sysprep\": the image is 2147483649 bytes, and fleet \"wks\"'s disk of 2176 MiB leaves 2048 MiB for it (128 MiB go to the hidden partition and alignment); give the fleet a larger disk_gib"
    );
    let src = DEPLOY
        .replace("size_mib = 2048", "size_mib = 2048.000001")
        .replace("disk_gib = 2.3", "disk_gib = 2.125")
        .replace("registered = false\n", "");
    let e = Scenario::from_toml(&src, "s.toml").unwrap_err();
    assert_eq!(
        e.field.as_deref(),
        Some("deployment[0].job[0].image"),
        "{e}"
    );
    // 1.5e-6 MiB is 1.57 bytes: 2 bytes.
    let src = DEPLOY.replace("size_mib = 0.5", "size_mib = 0.0000015");
    let s = Scenario::from_toml(&src, "s.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.deployments[0].images[1].size, 2);
    // Less than half a byte rounds to nothing: refused.
    let src = DEPLOY.replace("size_mib = 0.5", "size_mib = 0.0000001");
    let e = Scenario::from_toml(&src, "s.toml").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("deployment[0].image[1].size_mib"));
    // A disk smaller than one sector is refused too.
    let e = with("1", "0.0000000001").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("fleet[0].disk_gib"));
}
