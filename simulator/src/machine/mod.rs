//! A computer in the simulated lab: a NIC on a switch port, firmware that
//! network-boots, and what the network bootstrap program (NBP) it loads does next.
//!
//! The firmware model ends when it has loaded an NBP; "executing" it is the
//! machine's business. An iPXE binary starts iPXE, which network-boots again with
//! its own timers and identity (user class `iPXE`, option 175): that second boot
//! is where a server that hands iPXE the iPXE binary again makes the chainload
//! loop (quirk Q8). A script or an OS loader ends the network boot.

pub mod disk;
/// The MBR codec lives with the other wire formats; re-exported where the
/// simulated disk uses it.
pub use pxelab_reference::wire::mbr;

use std::fmt;
use std::net::Ipv4Addr;

use pxelab_reference::{Instant, Mac};

use crate::firmware::{Firmware, PxeError};
use crate::net::PortId;

/// How many times a boot cycle may repeat before the machine is stopped and the
/// loop reported. Real machines loop until someone pulls the plug; a simulation
/// that did so would never end. Three repeats separate a loop from a retry.
pub const LOOP_REPEATS: usize = 3;

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
        }
    }
}

impl fmt::Display for NbpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NbpKind::Ipxe => "iPXE binary",
            NbpKind::Script => "iPXE script",
            NbpKind::Loader => "OS loader",
        })
    }
}

/// One NBP a machine loaded: which server sent it (index into the world's
/// servers), which file, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    /// Index of the server whose TFTP sent it (`None`: an address no server has).
    pub server: Option<usize>,
    /// The file.
    pub file: String,
    /// When it finished loading.
    pub at: Instant,
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
    /// The same NBPs keep loading one another; the machine was stopped after
    /// [`LOOP_REPEATS`] turns.
    Looping {
        /// The loads that repeat, in order.
        cycle: Vec<(Option<usize>, String)>,
        /// Turns seen.
        repeats: usize,
        /// When the cycle first started.
        first_at: Instant,
        /// When the machine was stopped.
        at: Instant,
    },
}

impl Outcome {
    /// When the outcome was reached.
    pub fn at(&self) -> Instant {
        match self {
            Outcome::Booted { at, .. }
            | Outcome::Failed { at, .. }
            | Outcome::Looping { at, .. } => *at,
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
    /// NBPs loaded so far.
    pub loads: Vec<Load>,
    /// The last DHCPDISCOVER sent, to measure how long servers take to answer.
    pub last_discover: Option<Instant>,
    /// Address of the DHCP server whose lease it holds.
    pub leased_from: Option<Ipv4Addr>,
    /// The end of the story, once there is one.
    pub outcome: Option<Outcome>,
}

impl Computer {
    /// Whether the machine still has work to do.
    pub fn is_running(&self) -> bool {
        self.outcome.is_none()
    }

    /// Records a loaded NBP and tells whether the loads now form a loop: the
    /// shortest sequence that repeats back to back at the end of the history,
    /// [`LOOP_REPEATS`] times.
    pub fn record_load(&mut self, load: Load) -> Option<Outcome> {
        let at = load.at;
        self.loads.push(load);
        let keys: Vec<(Option<usize>, &str)> = self
            .loads
            .iter()
            .map(|l| (l.server, l.file.as_str()))
            .collect();
        let (len, repeats) = repeating_tail(&keys)?;
        if repeats < LOOP_REPEATS {
            return None;
        }
        let start = keys.len() - len * repeats;
        Some(Outcome::Looping {
            cycle: self.loads[start..start + len]
                .iter()
                .map(|l| (l.server, l.file.clone()))
                .collect(),
            repeats,
            first_at: self.loads[start].at,
            at,
        })
    }
}

/// The shortest block that repeats back to back at the end of `seq`, with how
/// many times it does (at least twice), or `None`.
pub fn repeating_tail<T: PartialEq>(seq: &[T]) -> Option<(usize, usize)> {
    (1..=seq.len() / 2).find_map(|len| {
        let tail = &seq[seq.len() - len..];
        let repeats = seq
            .rchunks_exact(len)
            .take_while(|chunk| *chunk == tail)
            .count();
        (repeats >= 2).then_some((len, repeats))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeating_tail_is_found_with_its_shortest_period() {
        assert_eq!(repeating_tail(&[1, 1, 1]), Some((1, 3)));
        assert_eq!(repeating_tail(&[0, 1, 2, 1, 2]), Some((2, 2)));
        assert_eq!(repeating_tail(&[1, 2, 3]), None);
        assert_eq!(repeating_tail::<u8>(&[]), None);
        assert_eq!(repeating_tail(&[7]), None);
        // The first load (from the ROM) is not part of the cycle iPXE repeats.
        assert_eq!(repeating_tail(&[9, 1, 2, 1, 2, 1, 2]), Some((2, 3)));
    }

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
