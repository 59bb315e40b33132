//! Fidelity, second half (issue 6): two bundled stories for real and in the
//! simulator, compared by outcome.
//!
//! - `proxydhcp-bios-uefi`: dnsmasq as the production DHCP server (addresses
//!   only, no PXE), `pxelab serve --proxy` next to it.
//! - `lab-vs-production`: two PXE servers on one segment. Production is dnsmasq
//!   with DHCP and PXE in one box (option 60 `PXEClient`, 43.6 = 8, a boot
//!   file: the scenario's `dhcp-pxe` kind); the lab is `pxelab serve --proxy`.
//!   Which one a client boots from depends on its firmware and on who answers
//!   first, so each run sets both servers' respond delays, for real
//!   (`--dhcp-reply-delay`, `respond_delay_ms`) and in the scenario alike.
//!
//! A real QEMU client boots; in the simulator the scenario runs with its
//! fleet's profile set to the real client's. Both give a path (which server
//! leased the address, which boot server answered, which file came from which
//! server, in order); the paths must be equal, and so must the server whose
//! script the real client printed. The BIOS client is QEMU's iPXE ROM (profile
//! `ipxe`); the UEFI client is OVMF's own PxeBcDxe (`edk2-uefi`).

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use pxelab_simulator::scenario::{self, Scenario};
use pxelab_simulator::world::{self, RunOptions};

use super::netns::{Capture, Lab, tail};
use super::qemu::{Client, Firmware, IPXE_EFI, QEMU, UNDIONLY, tftp_root};
use super::server::{self, Impl, Mode};
use super::{heavy, peers_available, report};

/// The real client's MAC.
const MAC: &str = "52:54:00:77:00:20";

/// A bundled scenario as the real run sets it up.
struct SimStory {
    /// The bundled scenario.
    scenario: &'static str,
    /// Text replacements in its source (the real servers' file names).
    edits: &'static [(&'static str, &'static str)],
    /// One more replacement, made at run time.
    extra_edit: Option<(&'static str, &'static str)>,
    /// The fleet the real client stands for.
    fleet: &'static str,
    /// Respond delays of servers, in milliseconds, by name.
    delays: Vec<(&'static str, u64)>,
}

/// The simulated path of `story`'s first client of its fleet, with `profile`:
/// its "DHCP from S", "boot server S:4011" and "TFTP F from S" steps
/// (addresses left out).
fn simulated_path(story: &SimStory, profile: &str) -> Vec<String> {
    let b = scenario::bundled()
        .iter()
        .find(|b| b.name == story.scenario)
        .unwrap_or_else(|| panic!("no bundled scenario {}", story.scenario));
    let mut source = b.source.to_owned();
    for (from, to) in story.edits.iter().chain(&story.extra_edit) {
        source = source.replace(from, to);
    }
    let mut sc = Scenario::from_toml(&source, &format!("scenarios/{}.toml", story.scenario))
        .unwrap_or_else(|e| panic!("{e}"));
    // One client per fleet, so the report lists every client's path.
    for f in &mut sc.fleets {
        f.count = 1;
        if f.name == story.fleet {
            f.profile = profile.to_owned();
        }
    }
    for (name, ms) in &story.delays {
        let server = sc
            .servers
            .iter_mut()
            .find(|s| s.name == *name)
            .unwrap_or_else(|| panic!("no server {name} in {}", story.scenario));
        server.respond_delay_ms = *ms;
    }
    let r = world::run(&sc, RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let client = r
        .clients
        .iter()
        .find(|c| c.name.starts_with(&format!("{}#", story.fleet)))
        .unwrap_or_else(|| panic!("no client of fleet {} in the report", story.fleet));
    client
        .path
        .iter()
        .map(|step| {
            let mut w = step.split_whitespace();
            match (w.next(), w.next()) {
                // "DHCP <ip> from <server>"
                (Some("DHCP"), _) => format!("DHCP from {}", step.rsplit(' ').next().unwrap_or("")),
                (Some("TFTP"), Some(file)) => {
                    format!("TFTP {file} from {}", step.rsplit(' ').next().unwrap_or(""))
                }
                _ => step.clone(),
            }
        })
        .collect()
}

/// The real path from the segment capture: the DHCPACKs to the client from
/// port 67 and from a boot server on 4011, and its TFTP read requests (EDK2's size probe and its second RRQ for the
/// same file count once), servers named as in the scenario.
fn real_path(capture: &Path, mac: &str, servers: &[(Ipv4Addr, &str)]) -> Vec<String> {
    let name = |ip: &str| -> String {
        servers
            .iter()
            .find(|(a, _)| a.to_string() == ip)
            .map_or_else(|| ip.to_owned(), |(_, n)| (*n).to_owned())
    };
    let filter = format!(
        "((udp.srcport == 67 || udp.srcport == 4011) && dhcp.option.dhcp == 5 \
          && dhcp.hw.mac_addr == {mac}) || (eth.src == {mac} && tftp.opcode == 1)"
    );
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(capture)
        .args([
            "-d",
            "udp.port==4011,dhcp",
            "-Y",
            &filter,
            "-T",
            "fields",
            "-E",
            "separator=,",
        ])
        .args(["-e", "ip.src", "-e", "udp.srcport", "-e", "ip.dst"])
        .args(["-e", "tftp.source_file"])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run tshark");
    let mut path: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split(',').collect();
        let step = match f.as_slice() {
            [src, "4011", _, ""] => format!("boot server {}:4011", name(src)),
            [src, _, _, ""] => format!("DHCP from {}", name(src)),
            [_, _, dst, file] => format!("TFTP {file} from {}", name(dst)),
            _ => continue,
        };
        if path.last() != Some(&step) {
            path.push(step);
        }
    }
    path
}

/// Boots `firmware` for real and returns its path, the index of the marker it
/// printed and the segment capture; panics with the console and capture when it does not boot.
fn boot_for_real(
    lab: &mut Lab,
    test: &str,
    firmware: Firmware,
    markers: &[&str],
    servers: &[(Ipv4Addr, &str)],
) -> (Vec<String>, usize, Capture) {
    let capture = lab.capture();
    lab.start_router_advertisements();
    let client = Client::start(lab, firmware, MAC);
    let seen = client.wait_for_any(lab, markers, firmware.limit());
    lab.stop_capture();
    let which = seen.unwrap_or_else(|why| {
        panic!(
            "{test}: the real client did not boot: {why} (capture {}):\n{}",
            lab.keep_capture(&capture, test).display(),
            tail(&client.console(), 30)
        )
    });
    let path = real_path(&capture.file, MAC, servers);
    (path, which, capture)
}

fn proxydhcp_story(test: &str, firmware: Firmware) {
    let programs = [QEMU, "dnsmasq", "dumpcap", "tshark"];
    if !peers_available(test, &programs, &[firmware.file(), UNDIONLY, IPXE_EFI]) {
        return;
    }
    let _heavy = heavy();
    let mut lab = Lab::new(test);
    let srv = lab.host("srv", Some(1));
    let corp = lab.host("dhcp", Some(2));
    let marker = format!("PXELAB-STORY-{}-{}", std::process::id(), firmware.profile());
    let root = tftp_root(&lab, "tftp", &marker);
    let (first, last) = (lab.addr(150), lab.addr(170));
    server::start_plain_dhcp(&mut lab, &corp, first, last);
    server::start(&mut lab, &srv, &root, Mode::Proxy);
    let servers = [(lab.addr(1), "pxelab"), (lab.addr(2), "corp-dhcp")];
    let (real, _, capture) = boot_for_real(&mut lab, test, firmware, &[&marker], &servers);

    let fleet = match firmware {
        Firmware::BiosIpxeRom => "bios",
        Firmware::UefiEdk2 => "uefi",
    };
    let story = SimStory {
        scenario: "proxydhcp-bios-uefi",
        edits: &[],
        extra_edit: None,
        fleet,
        delays: Vec::new(),
    };
    let fw = firmware.profile();
    let sim = simulated_path(&story, fw);
    assert_eq!(
        real,
        sim,
        "{test}: the real {fw} client's path differs from the simulator's \
         (proxydhcp-bios-uefi, fleet {fleet} as {fw}); capture {}",
        lab.keep_capture(&capture, test).display()
    );
    report(&format!("real-peer story {test}: {}", real.join(" -> ")));
}

#[test]
fn proxydhcp_story_bios_ipxe_rom_matches_the_simulator() {
    proxydhcp_story(
        "proxydhcp_story_bios_ipxe_rom_matches_the_simulator",
        Firmware::BiosIpxeRom,
    );
}

#[test]
fn proxydhcp_story_uefi_edk2_matches_the_simulator() {
    proxydhcp_story(
        "proxydhcp_story_uefi_edk2_matches_the_simulator",
        Firmware::UefiEdk2,
    );
}

/// One run of `lab-vs-production` for real.
struct TwoServers {
    firmware: Firmware,
    /// Production's offer delay (dnsmasq `--dhcp-reply-delay`).
    prod_delay_s: u32,
    /// The lab's respond delay (pxelab `[dhcp] respond_delay_ms`).
    lab_delay_ms: u64,
    /// Production leases the lab machine an address but no boot information
    /// (the scenario's `pxe_ignore_fleets = ["lab"]`).
    production_ignores_lab: bool,
}

/// `lab-vs-production` for real: production (dnsmasq, DHCP + PXE) and the lab
/// (pxelab's ProxyDHCP) on one segment, one real client of the lab fleet.
fn two_server_story(test: &str, run: TwoServers) {
    let TwoServers {
        firmware,
        prod_delay_s,
        lab_delay_ms,
        production_ignores_lab,
    } = run;
    let programs = [QEMU, "dnsmasq", "dumpcap", "tshark"];
    if !peers_available(test, &programs, &[firmware.file(), UNDIONLY, IPXE_EFI]) {
        return;
    }
    let _heavy = heavy();
    let mut lab = Lab::new(test);
    let lab_ds = lab.host("lab", Some(40));
    let prod = lab.host("prod", Some(2));
    // Short markers: the console wraps at 80 columns.
    let id = std::process::id();
    let lab_marker = format!("PXELAB-LAB-DS-{id}-{}", firmware.profile());
    let prod_marker = format!("PXELAB-WHEM-PROD-{id}-{}", firmware.profile());
    let lab_root = tftp_root(&lab, "lab-tftp", &lab_marker);
    let prod_root = tftp_root(&lab, "prod-tftp", &prod_marker);
    let pool = (lab.addr(100), lab.addr(199));
    let ignored: &[&str] = if production_ignores_lab { &[MAC] } else { &[] };
    server::start_production_pxe(&mut lab, &prod, &prod_root, pool, prod_delay_s, ignored);
    let config = lab.path().join("lab-ds.toml");
    std::fs::write(
        &config,
        format!("[dhcp]\nrespond_delay_ms = {lab_delay_ms}\n"),
    )
    .expect("cannot write the lab server's config");
    server::start_with(
        &mut lab,
        &lab_ds,
        &lab_root,
        Mode::Proxy,
        Impl::Pxelab,
        Some(&config),
    );
    let servers = [(lab.addr(40), "lab-ds"), (lab.addr(2), "whem-prod")];
    let (real, which, capture) = boot_for_real(
        &mut lab,
        test,
        firmware,
        &[&lab_marker, &prod_marker],
        &servers,
    );
    let printed_by = ["lab-ds", "whem-prod"][which];

    // The scenario with the real servers' file names, delays and exclusion.
    let ignore = "lease_time_s = 86400\npxe_ignore_fleets = [\"lab\"]";
    let story = SimStory {
        scenario: "lab-vs-production",
        edits: &[
            ("whem/undionly.kpxe", "undionly.kpxe"),
            ("whem/ipxe.efi", "ipxe.efi"),
            ("whem/production.ipxe", "boot.ipxe"),
            ("lab.ipxe", "boot.ipxe"),
        ],
        extra_edit: production_ignores_lab.then_some(("lease_time_s = 86400", ignore)),
        fleet: "lab",
        delays: vec![
            ("whem-prod", u64::from(prod_delay_s) * 1000),
            ("lab-ds", lab_delay_ms),
        ],
    };
    let fw = firmware.profile();
    let sim = simulated_path(&story, fw);
    let predicted = sim
        .last()
        .and_then(|step| step.rsplit(' ').next())
        .unwrap_or("nothing");
    let setup = format!(
        "production +{prod_delay_s} s, lab +{lab_delay_ms} ms{}",
        if production_ignores_lab {
            ", production leaves the lab machine's PXE alone"
        } else {
            ""
        }
    );
    assert_eq!(
        printed_by,
        predicted,
        "{test}: the real {fw} client booted the script of {printed_by}, the simulator \
         predicts {predicted} ({setup})\n\
         real path: {}\nsimulated: {}\ncapture {}\n--- production (dnsmasq) ---\n{}",
        real.join(" -> "),
        sim.join(" -> "),
        lab.keep_capture(&capture, test).display(),
        lab.proc("prod").tail(40)
    );
    assert_eq!(
        real,
        sim,
        "{test}: the real {fw} client's path differs from the simulator's \
         (lab-vs-production, fleet lab as {fw}, {setup}); capture {}",
        lab.keep_capture(&capture, test).display()
    );
    report(&format!(
        "real-peer story {test}: booted from {printed_by}: {}",
        real.join(" -> ")
    ));
}

#[test]
fn lab_vs_production_bios_ipxe_keeps_productions_file_over_a_later_proxy() {
    two_server_story(
        "lab_vs_production_bios_ipxe_keeps_productions_file_over_a_later_proxy",
        TwoServers {
            firmware: Firmware::BiosIpxeRom,
            prod_delay_s: 0,
            lab_delay_ms: 500,
            production_ignores_lab: false,
        },
    );
}

#[test]
fn lab_vs_production_bios_ipxe_boots_from_the_lab_when_production_ignores_it() {
    two_server_story(
        "lab_vs_production_bios_ipxe_boots_from_the_lab_when_production_ignores_it",
        TwoServers {
            firmware: Firmware::BiosIpxeRom,
            prod_delay_s: 1,
            lab_delay_ms: 0,
            production_ignores_lab: true,
        },
    );
}

#[test]
fn lab_vs_production_uefi_edk2_boots_from_production() {
    two_server_story(
        "lab_vs_production_uefi_edk2_boots_from_production",
        TwoServers {
            firmware: Firmware::UefiEdk2,
            prod_delay_s: 0,
            lab_delay_ms: 0,
            production_ignores_lab: false,
        },
    );
}
