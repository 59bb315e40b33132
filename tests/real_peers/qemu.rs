//! A real PXE client: QEMU (TCG) booting from the network on the lab's tap.
//!
//! One place for the QEMU command line, so every real-peer boot (the boot tests
//! and the fidelity stories) runs the same two machines the firmware fixtures
//! were captured from (`tests/fixtures/firmware/capture.sh`, research
//! real-peers.md).

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use super::netns::{Lab, poll};

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";
/// iPXE's BIOS chainloader, served by the TFTP servers under test.
pub const UNDIONLY: &str = "/usr/lib/ipxe/undionly.kpxe";
/// iPXE for x86-64 UEFI, served by the TFTP servers under test.
pub const IPXE_EFI: &str = "/usr/lib/ipxe/ipxe.efi";
const E1000_ROM: &str = "/usr/lib/ipxe/qemu/pxe-e1000.rom";
const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

/// Which firmware does the network boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS with the iPXE option ROM of an e1000 (user class iPXE, arch 0).
    BiosIpxeRom,
    /// OVMF on virtio-net with no option ROM: EDK2's PxeBcDxe (arch 7).
    UefiEdk2,
}

impl Firmware {
    /// The file the firmware itself comes from (for `peers_available`).
    pub fn file(self) -> &'static str {
        match self {
            Firmware::BiosIpxeRom => E1000_ROM,
            Firmware::UefiEdk2 => OVMF,
        }
    }

    /// The simulator's profile for this firmware.
    pub fn profile(self) -> &'static str {
        match self {
            Firmware::BiosIpxeRom => "ipxe",
            Firmware::UefiEdk2 => "edk2-uefi",
        }
    }

    /// How long a boot to the script may take under TCG on a busy 2-core
    /// machine (OVMF is slow to reach its PXE client).
    pub fn limit(self) -> Duration {
        Duration::from_secs(match self {
            Firmware::BiosIpxeRom => 90,
            Firmware::UefiEdk2 => 150,
        })
    }
}

/// A TFTP root in the lab's directory with both iPXE binaries and a
/// `boot.ipxe` that echoes `marker` and waits: the marker on the console proves
/// the whole chain ran and names the root it came from.
pub fn tftp_root(lab: &Lab, dir: &str, marker: &str) -> PathBuf {
    let root = lab.path().join(dir);
    fs::create_dir(&root).expect("cannot create the TFTP root");
    fs::copy(UNDIONLY, root.join("undionly.kpxe")).expect("cannot copy undionly.kpxe");
    fs::copy(IPXE_EFI, root.join("ipxe.efi")).expect("cannot copy ipxe.efi");
    fs::write(
        root.join("boot.ipxe"),
        format!("#!ipxe\necho {marker}\nsleep 60\n"),
    )
    .expect("cannot write boot.ipxe");
    root
}

/// A running QEMU client (the lab process `qemu`), its serial console in a file.
pub struct Client {
    console: PathBuf,
}

impl Client {
    /// Starts `firmware` booting from the network with NIC address `mac`, on a
    /// new tap of the lab's bridge. QEMU never reboots (`-no-reboot`).
    pub fn start(lab: &mut Lab, firmware: Firmware, mac: &str) -> Client {
        let tap = lab.tap();
        let console = lab
            .path()
            .join(format!("console-{}.txt", mac.replace(':', "")));
        let netdev = format!("tap,id=n0,ifname={tap},script=no,downscript=no");
        let serial = format!("file:{}", console.display());
        let nic = match firmware {
            Firmware::BiosIpxeRom => {
                format!("e1000,netdev=n0,mac={mac},romfile={E1000_ROM},bootindex=1")
            }
            Firmware::UefiEdk2 => {
                format!("virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex=1")
            }
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
        if firmware == Firmware::UefiEdk2 {
            argv.extend(["-bios", OVMF]);
        }
        let bridge_ns = lab.bridge_ns().to_owned();
        lab.spawn("qemu", &bridge_ns, &argv, &[]);
        Client { console }
    }

    /// The serial console so far.
    pub fn console(&self) -> String {
        fs::read(&self.console)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits up to `limit` for the first of `markers` on the console, then kills
    /// QEMU. `Ok(i)`: `markers[i]` appeared; `Err(why)`: QEMU exited first or
    /// the time ran out.
    pub fn wait_for_any(
        &self,
        lab: &mut Lab,
        markers: &[&str],
        limit: Duration,
    ) -> Result<usize, String> {
        let seen = poll(limit, || {
            let text = self.console();
            if let Some(i) = markers.iter().position(|m| text.contains(m)) {
                return Some(Ok(i));
            }
            lab.proc("qemu")
                .try_status()
                .map(|_| Err("QEMU exited before a marker appeared".to_owned()))
        });
        lab.proc("qemu").kill();
        seen.unwrap_or_else(|| {
            Err(format!(
                "no marker on the console within {} s",
                limit.as_secs()
            ))
        })
    }
}
