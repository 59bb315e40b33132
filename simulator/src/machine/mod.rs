//! A computer in the simulated lab: a NIC on a switch port, firmware that
//! network-boots, and what the network bootstrap program (NBP) it loads does next.
//!
//! The firmware model ends when it has loaded an NBP; "executing" it is the
//! machine's business. An iPXE binary starts iPXE, which network-boots again with
//! its own timers and identity (user class `iPXE`, option 175): that second boot
//! is where a server that hands iPXE the iPXE binary again makes the chainload
//! loop (quirk Q8). A script or an OS loader ends the network boot.

pub mod disk;
pub mod history;
pub mod managed;
/// The MBR codec lives with the other wire formats; re-exported where the
/// simulated disk uses it.
pub use pxelab_reference::wire::mbr;

use std::fmt;
use std::net::Ipv4Addr;

use pxelab_reference::{Instant, Mac};

use crate::firmware::{Firmware, PxeError};
use crate::net::PortId;

pub use history::{BootHistory, LOOP_REPEATS, Loop};
pub use managed::{MachineDisk, Managed, RunningAgent};

/// What an NBP does when the firmware hands it control.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum NbpKind {
    /// An iPXE binary (`undionly.kpxe`, `ipxe.efi`, `snponly.efi`): iPXE starts
    /// and network-boots again.
    Ipxe,
    /// An iPXE script: it boots what it names; the network boot is over.
    Script,
    /// An OS loader (pxelinux, `bootmgfw.efi`, `wdsnbp.com`, GRUB): the network
    /// boot is over.
    Loader,
    /// PXE-delivered Bootworks (a DOS boot image with the agent): it connects
    /// to the machine's Deployment Server.
    Bootworks,
}

impl NbpKind {
    /// The kind a file name suggests, for files a scenario names but does not
    /// describe: `*.ipxe` is a script, the usual iPXE binaries are iPXE, anything
    /// else is taken for an OS loader.
    pub fn guess(name: &str) -> NbpKind {
        let lower = name.to_ascii_lowercase();
        let base = lower.rsplit(['/', '\\']).next().unwrap_or(&lower);
        if base.ends_with(".ipxe") {
            NbpKind::Script
        } else if base.ends_with(".kpxe")
            || base.ends_with(".kkpxe")
            || base.ends_with(".pxe")
            || base.contains("ipxe")
            || base.starts_with("snponly")
            || base.starts_with("undionly")
        {
            NbpKind::Ipxe
        } else {
            NbpKind::Loader
        }
    }

    /// A typical size for a file of this kind, when the scenario gives none:
    /// undionly.kpxe is about 70 KB, ipxe.efi about 1 MB, a script a few lines.
    pub fn default_size(self, name: &str) -> u64 {
        match self {
            NbpKind::Script => 64,
            NbpKind::Ipxe if name.to_ascii_lowercase().ends_with(".efi") => 1_000_000,
            NbpKind::Ipxe => 70_000,
            NbpKind::Loader => 300_000,
            NbpKind::Bootworks => 1_474_560,
        }
    }
}

impl fmt::Display for NbpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NbpKind::Ipxe => "iPXE binary",
            NbpKind::Script => "iPXE script",
            NbpKind::Loader => "OS loader",
            NbpKind::Bootworks => "Bootworks",
        })
    }
}

/// How a machine's network boot ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The final NBP (script or loader) is running.
    Booted {
        /// Server that sent it.
        server: Option<usize>,
        /// The file.
        file: String,
        /// When.
        at: Instant,
    },
    /// The firmware gave up with the error on its screen.
    Failed {
        /// The error.
        error: PxeError,
        /// What the client saw.
        detail: String,
        /// When.
        at: Instant,
    },
    /// The machine keeps going through the same stages with no progress (see
    /// [`history`]); it was stopped after [`LOOP_REPEATS`] turns.
    Looping {
        /// The stages that repeat, in order, in words.
        cycle: Vec<String>,
        /// Turns seen.
        repeats: usize,
        /// When the cycle first started.
        first_at: Instant,
        /// When the machine was stopped.
        at: Instant,
    },
    /// A managed machine stopped with a message on its screen (a disk with
    /// nothing to boot: "Missing operating system").
    Halted {
        /// What the screen says.
        reason: String,
        /// When.
        at: Instant,
    },
    /// A managed machine is up in its installed OS and its agent has nothing
    /// left to do.
    InOs {
        /// The OS (or the image it was deployed from).
        os: String,
        /// When AClient finished.
        at: Instant,
    },
}

impl Outcome {
    /// When the outcome was reached.
    pub fn at(&self) -> Instant {
        match self {
            Outcome::Booted { at, .. }
            | Outcome::Failed { at, .. }
            | Outcome::Looping { at, .. }
            | Outcome::Halted { at, .. }
            | Outcome::InOs { at, .. } => *at,
        }
    }
}

/// A simulated computer.
pub struct Computer {
    /// Index of its fleet in the scenario.
    pub fleet: usize,
    /// Index within the fleet.
    pub index: u32,
    /// NIC address.
    pub mac: Mac,
    /// SMBIOS UUID, if the machine has a readable one.
    pub uuid: Option<[u8; 16]>,
    /// What its boot ROM sends in option 97 (the UUID as the firmware's
    /// quirks present it): what a server sees, so what identity findings use.
    pub wire_uuid: Option<[u8; 16]>,
    /// Its switch port.
    pub port: PortId,
    /// The firmware (or iPXE) currently network-booting.
    pub firmware: Firmware,
    /// When it was first powered on.
    pub powered_on: Instant,
    /// Its POST: from power-on to the boot ROM's first DISCOVER.
    pub post: std::time::Duration,
    /// The stages it went through (NBPs loaded, agent runs, OS boots).
    pub history: BootHistory,
    /// The last DHCPDISCOVER sent, to measure how long servers take to answer.
    pub last_discover: Option<Instant>,
    /// Address of the DHCP server whose lease it holds.
    pub leased_from: Option<Ipv4Addr>,
    /// The end of the story, once there is one.
    pub outcome: Option<Outcome>,
    /// The managed computer around the NIC (disk, OS, agents), for fleets
    /// that name a deployment.
    pub managed: Option<Box<Managed>>,
}

impl Computer {
    /// Whether the machine still has work to do.
    pub fn is_running(&self) -> bool {
        self.outcome.is_none()
    }

    /// Records a stage (see [`history`]) and tells whether the machine is now
    /// looping.
    pub fn record_stage(&mut self, label: String, at: Instant) -> Option<Outcome> {
        let l = self.history.push(label, at)?;
        Some(Outcome::Looping {
            cycle: l.cycle,
            repeats: l.repeats,
            first_at: l.first_at,
            at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nbp_kinds_are_guessed_from_the_usual_names() {
        assert_eq!(NbpKind::guess("undionly.kpxe"), NbpKind::Ipxe);
        assert_eq!(NbpKind::guess("ipxe.efi"), NbpKind::Ipxe);
        assert_eq!(NbpKind::guess("efi/snponly.efi"), NbpKind::Ipxe);
        assert_eq!(NbpKind::guess("boot.ipxe"), NbpKind::Script);
        assert_eq!(NbpKind::guess("boot\\x64\\wdsnbp.com"), NbpKind::Loader);
        assert_eq!(NbpKind::guess("pxelinux.0"), NbpKind::Loader);
        assert_eq!(NbpKind::Ipxe.default_size("ipxe.efi"), 1_000_000);
    }
}
