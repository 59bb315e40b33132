//! Fidelity, second half (issue 6): the `proxydhcp-bios-uefi` story for real and
//! in the simulator, compared by outcome.
//!
//! For real: dnsmasq as the production DHCP server (addresses only, no PXE),
//! `pxelab serve --proxy` next to it, and a real QEMU client. In the simulator:
//! the bundled scenario, its fleet's profile set to the real client's. Both give
//! a path (which server leased the address, which file came from which server,
//! in order); the paths must be equal. The BIOS client here is QEMU's iPXE ROM,
//! so the BIOS fleet runs the `ipxe` profile; the UEFI client is OVMF's own
//! PxeBcDxe, the scenario's `edk2-uefi`.

use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use pxelab_simulator::scenario::{self, Scenario};
use pxelab_simulator::world::{self, RunOptions};

use super::netns::{Lab, poll, tail};
use super::server::{self, Mode};
use super::{heavy, peers_available, report};

const QEMU: &str = "qemu-system-x86_64";
const E1000_ROM: &str = "/usr/lib/ipxe/qemu/pxe-e1000.rom";
const OVMF: &str = "/usr/share/ovmf/OVMF.fd";
const UNDIONLY: &str = "/usr/lib/ipxe/undionly.kpxe";
const IPXE_EFI: &str = "/usr/lib/ipxe/ipxe.efi";

/// The simulated path of the first client of `fleet`, with `profile`: its
/// "DHCP from S" and "TFTP F from S" steps (addresses left out).
fn simulated_path(fleet: &str, profile: &str) -> Vec<String> {
    let b = scenario::bundled()
        .iter()
        .find(|b| b.name == "proxydhcp-bios-uefi")
        .expect("the bundled proxydhcp-bios-uefi scenario");
    let mut sc = Scenario::from_toml(b.source, "scenarios/proxydhcp-bios-uefi.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    for f in &mut sc.fleets {
        if f.name == fleet {
            f.profile = profile.to_owned();
        }
    }
    let r = world::run(&sc, RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let client = r
        .clients
        .iter()
        .find(|c| c.name.starts_with(&format!("{fleet}#")))
        .unwrap_or_else(|| panic!("no client of fleet {fleet} in the report"));
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
fn real_path(lab: &Lab, capture: &std::path::Path, mac: &str) -> Vec<String> {
    let name = |ip: &str| -> String {
        if ip == lab.addr(1).to_string() {
            "pxelab".into()
        } else if ip == lab.addr(2).to_string() {
            "corp-dhcp".into()
        } else {
            ip.to_owned()
        }
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

fn story(test: &str, uefi: bool) {
    let (fw, firmware_file) = if uefi {
        ("edk2-uefi", OVMF)
    } else {
        ("ipxe", E1000_ROM)
    };
    if !peers_available(
        test,
        &[QEMU, "dnsmasq", "dumpcap", "tshark"],
        &[firmware_file, UNDIONLY, IPXE_EFI],
    ) {
        return;
    }
    let _heavy = heavy();
    let mut lab = Lab::new(test);
    let srv = lab.host("srv", Some(1));
    let corp = lab.host("dhcp", Some(2));
    let root = lab.path().join("tftp");
    fs::create_dir(&root).expect("cannot create the TFTP root");
    fs::copy(UNDIONLY, root.join("undionly.kpxe")).expect("cannot copy undionly.kpxe");
    fs::copy(IPXE_EFI, root.join("ipxe.efi")).expect("cannot copy ipxe.efi");
    let marker = format!("PXELAB-STORY-{}-{test}", std::process::id());
    fs::write(
        root.join("boot.ipxe"),
        format!("#!ipxe\necho {marker}\nsleep 60\n"),
    )
    .expect("cannot write boot.ipxe");
    let (first, last) = (lab.addr(150), lab.addr(170));
    server::start_plain_dhcp(&mut lab, &corp, first, last);
    let capture = lab.capture();
    server::start(&mut lab, &srv, &root, Mode::Proxy);
    lab.start_router_advertisements();

    let tap = lab.tap();
    let console = lab.path().join("console.txt");
    let netdev = format!("tap,id=n0,ifname={tap},script=no,downscript=no");
    let serial = format!("file:{}", console.display());
    let mac = "52:54:00:77:00:20";
    let nic = if uefi {
        format!("virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex=1")
    } else {
        format!("e1000,netdev=n0,mac={mac},romfile={E1000_ROM},bootindex=1")
    };
    let mut argv = vec![
        QEMU,
        "-machine",
        "pc,accel=tcg",
        "-m",
        "256",
        "-nographic",
        "-no-reboot",
        "-netdev",
        &netdev,
        "-device",
        &nic,
        "-boot",
        "n",
        "-serial",
        &serial,
        "-monitor",
        "none",
    ];
    if uefi {
        argv.extend(["-bios", OVMF]);
    }
    let bridge_ns = lab.bridge_ns().to_owned();
    lab.spawn("qemu", &bridge_ns, &argv, &[]);
    let read = || fs::read_to_string(&console).unwrap_or_default();
    let limit = Duration::from_secs(if uefi { 150 } else { 90 });
    let seen = poll(limit, || {
        if read().contains(&marker) {
            return Some(true);
        }
        lab.proc("qemu").try_status().map(|_| false)
    });
    lab.proc("qemu").kill();
    lab.stop_capture();
    assert_eq!(
        seen,
        Some(true),
        "{test}: the real client did not boot (capture {}):\n{}",
        lab.keep_capture(&capture, test).display(),
        tail(&read(), 30)
    );

    let real = real_path(&lab, &capture.file, mac);
    let fleet = if uefi { "uefi" } else { "bios" };
    let sim = simulated_path(fleet, fw);
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
    story("proxydhcp_story_bios_ipxe_rom_matches_the_simulator", false);
}

#[test]
fn proxydhcp_story_uefi_edk2_matches_the_simulator() {
    story("proxydhcp_story_uefi_edk2_matches_the_simulator", true);
}
