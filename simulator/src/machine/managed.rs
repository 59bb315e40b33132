//! A managed computer: the disk the agents work on, the OS it boots, and the
//! agent running on it now.
//!
//! The world moves such a machine through its boots: the boot order picks PXE
//! or the disk; the disk's MBR picks the Bootworks partition (boot flag armed)
//! or the installed OS; the OS runs AClient; each agent ends its run with an
//! action (close, reboot, exit) that says what boots next. The agents are the
//! reference crate's machines, unchanged; [`MachineDisk`] is the
//! [`BootDisk`] they see, over the simulator's sparse [`Disk`].

use std::collections::BTreeSet;
use std::sync::Arc;

use pxelab_reference::agent::DiskError as AgentDiskError;
use pxelab_reference::agent::{AClient, Agent, AgentConfig, BootDisk, Bootworks};
use pxelab_reference::wire::mbr::{BootFlag, BootTarget};

use super::disk::{Disk, DiskError, ImageContent, PartitionKind, PartitionSpec};
use crate::firmware::Profile;
use crate::scenario::MachineSpec;

/// Size of the hidden Bootworks partition: "a DOS floppy's worth of data"
/// (seed 000) with room to spare.
pub const BOOTWORKS_PARTITION: u64 = 64 << 20;

/// The disk of a managed machine, as the agents see it.
#[derive(Debug, Clone)]
pub struct MachineDisk {
    disk: Disk,
    agent_state: Option<Vec<u8>>,
    image_only: bool,
}

impl MachineDisk {
    /// A disk of `size` bytes: the hidden Bootworks partition first when
    /// `bootworks_partition`, then the OS partition (active) filling the rest
    /// (each on a 1 MiB boundary).
    pub fn new(size: u64, bootworks_partition: bool) -> Result<MachineDisk, DiskError> {
        let mib = 1 << 20;
        let used = mib
            + if bootworks_partition {
                BOOTWORKS_PARTITION
            } else {
                0
            };
        let os = size.saturating_sub(used) / mib * mib;
        let mut specs = Vec::new();
        if bootworks_partition {
            specs.push(PartitionSpec {
                kind: PartitionKind::HiddenBootworks,
                size: BOOTWORKS_PARTITION,
            });
        }
        specs.push(PartitionSpec {
            kind: PartitionKind::Os,
            size: os,
        });
        Ok(MachineDisk {
            disk: Disk::with_layout(size, &specs)?,
            agent_state: None,
            image_only: bootworks_partition,
        })
    }

    /// The disk underneath.
    pub fn disk(&self) -> &Disk {
        &self.disk
    }

    /// Where the BIOS goes when it boots this disk.
    pub fn boot_target(&self) -> Result<BootTarget, DiskError> {
        self.disk.boot_target()
    }

    /// Records that `partition` now holds `image` from its first byte: what a
    /// transfer carried by the host (multicast, the bandwidth model) wrote.
    pub fn write_image(&mut self, partition: usize, image: &ImageContent) -> Result<(), DiskError> {
        self.disk.apply_image(image, partition)
    }
}

fn agent_err(e: DiskError) -> AgentDiskError {
    match e {
        DiskError::NoSuchPartition(p) => AgentDiskError::NoSuchPartition(p),
        other => AgentDiskError::Io(other.to_string()),
    }
}

impl BootDisk for MachineDisk {
    fn boot_flag(&self) -> Result<Option<BootFlag>, AgentDiskError> {
        self.disk.boot_flag().map_err(agent_err)
    }

    fn set_boot_flag(&mut self, flag: BootFlag) -> Result<(), AgentDiskError> {
        self.disk.set_boot_flag(flag).map_err(agent_err)
    }

    fn clear_boot_flag(&mut self) -> Result<(), AgentDiskError> {
        self.disk.clear_boot_flag().map_err(agent_err)
    }

    fn os_partition(&self) -> Result<usize, AgentDiskError> {
        self.disk
            .mbr()
            .map_err(agent_err)?
            .active_partition()
            .ok_or(AgentDiskError::NoOsPartition)
    }

    fn partition_len(&self, partition: usize) -> Result<u64, AgentDiskError> {
        let r = self.disk.partition_range(partition).map_err(agent_err)?;
        Ok(r.end - r.start)
    }

    fn write(&mut self, partition: usize, offset: u64, data: &[u8]) -> Result<(), AgentDiskError> {
        let r = self.disk.partition_range(partition).map_err(agent_err)?;
        let size = r.end - r.start;
        let len = data.len() as u64;
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(AgentDiskError::OutOfRange {
                partition,
                offset,
                len,
                size,
            });
        }
        self.disk.write(r.start + offset, data).map_err(agent_err)
    }

    fn partition_sha256(&self, partition: usize, len: u64) -> Result<[u8; 32], AgentDiskError> {
        self.disk
            .partition_sha256(partition, len)
            .map_err(agent_err)
    }

    fn agent_state(&self) -> Option<Vec<u8>> {
        self.agent_state.clone()
    }

    fn set_agent_state(&mut self, state: Option<&[u8]>) -> Result<(), AgentDiskError> {
        self.agent_state = state.map(<[u8]>::to_vec);
        Ok(())
    }

    fn image_only(&self) -> bool {
        self.image_only
    }
}

/// The agent running on a machine now.
#[derive(Debug)]
pub enum RunningAgent {
    /// AClient, in the installed OS.
    AClient(AClient),
    /// Bootworks, from the partition or PXE.
    Bootworks(Bootworks),
}

impl RunningAgent {
    /// The common stream surface.
    pub fn agent(&mut self) -> &mut dyn Agent {
        match self {
            RunningAgent::AClient(a) => a,
            RunningAgent::Bootworks(b) => b,
        }
    }
}

/// Everything about a managed machine beyond its NIC and firmware.
#[derive(Debug)]
pub struct Managed {
    /// Index of its Deployment Server in the world.
    pub deployment: usize,
    /// Its fleet's machine settings.
    pub spec: Arc<MachineSpec>,
    /// The boot ROM profile, to start it again on every network boot.
    pub rom: Arc<Profile>,
    /// Its disk.
    pub disk: MachineDisk,
    /// What the OS partition holds: the installed OS, or the image deployed
    /// onto it; `None` for a blank disk.
    pub os: Option<String>,
    /// Who its agents say they are.
    pub config: AgentConfig,
    /// The agent running now.
    pub agent: Option<RunningAgent>,
    /// Its current connection to the Deployment Server.
    pub conn: Option<usize>,
    /// The job the current agent run was offered, and its kind's name.
    pub offered: Option<(u64, &'static str)>,
    /// Whether the current Bootworks run's image transfer has started.
    pub transferring: bool,
    /// Job states seen so far (see [`super::history`]: reaching a new one is
    /// progress).
    pub progress_seen: BTreeSet<String>,
    /// Images written and verified on this machine: (image, when).
    pub imaged: Vec<(String, pxelab_reference::Instant)>,
    /// Boots so far.
    pub boots: u32,
}
