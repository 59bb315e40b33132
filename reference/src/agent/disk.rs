//! What the agents need from the machine's disk, and a disk in memory that
//! provides it.
//!
//! The agents touch the disk in three ways, all of them in the seed story: AClient
//! writes the boot flag in the MBR ("it gets its fingers in the naughty place") and
//! remembers which job it armed; Bootworks streams an image onto the OS partition,
//! checks its SHA-256 and clears the flag. [`BootDisk`] is exactly that surface, so
//! the same agent code runs on [`MemoryDisk`] (tests, the simulator) and on a
//! file-backed disk in real mode.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::wire::mbr::{
    BootFlag, Mbr, MbrError, PARTITION_SLOTS, PartitionEntry, PartitionType, SECTOR_SIZE,
};

/// Why a disk operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiskError {
    /// Sector 0 is not a usable MBR (or the flag block is unreadable).
    #[error("the disk's MBR is unusable: {0}")]
    Mbr(#[from] MbrError),
    /// The partition slot is unused or does not exist.
    #[error("partition {0} does not exist on this disk")]
    NoSuchPartition(usize),
    /// No partition is marked active, so there is no OS partition to image.
    #[error("no partition is marked active: there is no OS partition to write the image to")]
    NoOsPartition,
    /// A write or read past the end of a partition.
    #[error(
        "{len} bytes at offset {offset} do not fit partition {partition} ({size} bytes): the image is larger than the partition"
    )]
    OutOfRange {
        /// The partition slot.
        partition: usize,
        /// Offset inside the partition.
        offset: u64,
        /// Bytes asked for.
        len: u64,
        /// The partition's size in bytes.
        size: u64,
    },
    /// The disk's backing store failed (a file-backed disk in real mode).
    #[error("disk I/O failed: {0}")]
    Io(String),
    /// The layout asks for more memory than an in-memory disk may hold.
    #[error(
        "an in-memory disk of {bytes} bytes is larger than the {max}-byte limit; use smaller partitions"
    )]
    TooLarge {
        /// Bytes the layout needs.
        bytes: u64,
        /// [`MemoryDisk::MAX_BYTES`].
        max: u64,
    },
}

/// The disk as the agents see it.
///
/// Partitions are MBR slots (0-3). Offsets are bytes from the start of the
/// partition. Every method is fallible where a real disk can fail, so an agent
/// turns a disk fault into a reported job failure instead of a panic.
pub trait BootDisk {
    /// The Bootworks boot flag in the MBR; `Ok(None)` when no agent ever wrote one
    /// (the disk boots normally).
    fn boot_flag(&self) -> Result<Option<BootFlag>, DiskError>;

    /// Writes the flag (AClient arming the next boot into Bootworks).
    fn set_boot_flag(&mut self, flag: BootFlag) -> Result<(), DiskError>;

    /// Resets the flag so the next boot goes to the active partition.
    fn clear_boot_flag(&mut self) -> Result<(), DiskError>;

    /// The partition an image is written to: the active one, where the OS lives.
    fn os_partition(&self) -> Result<usize, DiskError>;

    /// Size of `partition` in bytes (so an image too large for it is refused
    /// before a byte is written).
    fn partition_len(&self, partition: usize) -> Result<u64, DiskError>;

    /// Writes `data` at `offset` inside `partition`.
    fn write(&mut self, partition: usize, offset: u64, data: &[u8]) -> Result<(), DiskError>;

    /// SHA-256 of the first `len` bytes of `partition`: what Bootworks compares
    /// with the image's digest after the last chunk.
    fn partition_sha256(&self, partition: usize, len: u64) -> Result<[u8; 32], DiskError>;

    /// AClient's small persisted state (a file on the OS partition in the real
    /// product), e.g. `armed job 7`; `None` when it has none.
    fn agent_state(&self) -> Option<Vec<u8>>;

    /// Replaces (or with `None` removes) AClient's persisted state.
    fn set_agent_state(&mut self, state: Option<&[u8]>) -> Result<(), DiskError>;

    /// Whether the Bootworks on this disk's hidden partition can only image.
    /// A partition Bootworks is "a DOS floppy's worth of data" (seed 000): it can
    /// stream an image but cannot start an OS installer ("It's an image only
    /// solution").
    fn image_only(&self) -> bool;
}

/// A whole disk in a `Vec`: a real 512-byte MBR in sector 0 (written with
/// [`crate::wire::mbr`]), then the partitions at the sectors the table says.
///
/// AClient's persisted state is kept beside the bytes rather than inside the OS
/// partition: imaging overwrites that partition, and in the real product the
/// state that tells AClient "the pre-OS step I armed has run" outlives it (the
/// image carries an agent that the server re-identifies). Keeping it aside is a
/// simplification of that, stated here rather than hidden.
#[derive(Clone, PartialEq, Eq)]
pub struct MemoryDisk {
    bytes: Vec<u8>,
    agent_state: Option<Vec<u8>>,
    image_only: bool,
}

impl fmt::Debug for MemoryDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDisk")
            .field("bytes", &self.bytes.len())
            .field("mbr", &Mbr::parse(&self.bytes))
            .field("agent_state", &self.agent_state)
            .field("image_only", &self.image_only)
            .finish()
    }
}

impl MemoryDisk {
    /// The most bytes an in-memory disk may hold (64 MiB): tests and small
    /// simulated disks, not fleets of real-sized ones.
    pub const MAX_BYTES: u64 = 64 << 20;

    /// Where [`MemoryDisk::with_layout`] starts the first partition: sector 63,
    /// as Windows XP's installer did (one "track" after the MBR).
    pub const FIRST_LBA: u32 = 63;

    /// A zeroed disk just large enough for `mbr`'s partitions, with `mbr` in
    /// sector 0. It is image-only when the table holds a hidden Bootworks
    /// partition.
    pub fn new(mbr: &Mbr) -> Result<MemoryDisk, DiskError> {
        let end = mbr
            .partitions()
            .iter()
            .flatten()
            .map(PartitionEntry::lba_end)
            .max()
            .unwrap_or(1)
            .max(1);
        let bytes = end.saturating_mul(SECTOR_SIZE as u64);
        if bytes > Self::MAX_BYTES {
            return Err(DiskError::TooLarge {
                bytes,
                max: Self::MAX_BYTES,
            });
        }
        // bytes <= MAX_BYTES, which fits usize on every supported target.
        let mut disk = vec![0; bytes as usize];
        disk[..SECTOR_SIZE].copy_from_slice(&mbr.emit());
        Ok(MemoryDisk {
            bytes: disk,
            agent_state: None,
            image_only: mbr.bootworks_partition().is_some(),
        })
    }

    /// The usual lab machine: an active NTFS OS partition of `os_sectors` at
    /// sector 63 (slot 0) and, when asked, a hidden Bootworks partition right
    /// after it (slot 1).
    pub fn with_layout(
        os_sectors: u32,
        bootworks_sectors: Option<u32>,
    ) -> Result<MemoryDisk, DiskError> {
        let os = PartitionEntry {
            active: true,
            kind: PartitionType::NTFS,
            lba_start: Self::FIRST_LBA,
            sectors: os_sectors,
        };
        let mut table = [None; PARTITION_SLOTS];
        table[0] = Some(os);
        if let Some(sectors) = bootworks_sectors {
            let lba_start = u32::try_from(os.lba_end()).unwrap_or(u32::MAX);
            table[1] = Some(PartitionEntry {
                active: false,
                kind: PartitionType::HIDDEN_BOOTWORKS,
                lba_start,
                sectors,
            });
        }
        MemoryDisk::new(&Mbr::new(table)?)
    }

    /// The MBR as sector 0 holds it now.
    pub fn mbr(&self) -> Result<Mbr, DiskError> {
        Ok(Mbr::parse(&self.bytes)?)
    }

    /// The whole disk, sector 0 included.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// One partition's bytes.
    pub fn partition_bytes(&self, partition: usize) -> Result<&[u8], DiskError> {
        let (start, size) = self.extent(partition)?;
        Ok(&self.bytes[start..start + size])
    }

    /// Overrides [`BootDisk::image_only`] (a disk whose hidden partition holds a
    /// fuller pre-OS environment).
    pub fn set_image_only(&mut self, image_only: bool) {
        self.image_only = image_only;
    }

    /// Byte start and length of a partition, checked against the buffer.
    fn extent(&self, partition: usize) -> Result<(usize, usize), DiskError> {
        let mbr = self.mbr()?;
        let p = mbr
            .partition(partition)
            .ok_or(DiskError::NoSuchPartition(partition))?;
        let start = usize::try_from(p.byte_offset()).unwrap_or(usize::MAX);
        let size = usize::try_from(p.byte_len()).unwrap_or(usize::MAX);
        // `new` sized the buffer for the table; a table rewritten since may not fit.
        let fits = start
            .checked_add(size)
            .is_some_and(|end| end <= self.bytes.len());
        if !fits {
            return Err(DiskError::OutOfRange {
                partition,
                offset: 0,
                len: p.byte_len(),
                size: self.bytes.len() as u64,
            });
        }
        Ok((start, size))
    }

    /// The byte range `offset..offset+len` of `partition` in the buffer.
    fn range(
        &self,
        partition: usize,
        offset: u64,
        len: u64,
    ) -> Result<std::ops::Range<usize>, DiskError> {
        let (start, size) = self.extent(partition)?;
        let out_of_range = || DiskError::OutOfRange {
            partition,
            offset,
            len,
            size: size as u64,
        };
        let end = offset.checked_add(len).ok_or_else(out_of_range)?;
        if end > size as u64 {
            return Err(out_of_range());
        }
        // end <= size, a usize.
        Ok(start + offset as usize..start + end as usize)
    }

    fn write_mbr(&mut self, mbr: &Mbr) {
        self.bytes[..SECTOR_SIZE].copy_from_slice(&mbr.emit());
    }
}

impl BootDisk for MemoryDisk {
    fn boot_flag(&self) -> Result<Option<BootFlag>, DiskError> {
        Ok(self.mbr()?.boot_flag()?)
    }

    fn set_boot_flag(&mut self, flag: BootFlag) -> Result<(), DiskError> {
        let mut mbr = self.mbr()?;
        mbr.set_boot_flag(flag);
        self.write_mbr(&mbr);
        Ok(())
    }

    fn clear_boot_flag(&mut self) -> Result<(), DiskError> {
        let mut mbr = self.mbr()?;
        mbr.clear_boot_flag();
        self.write_mbr(&mbr);
        Ok(())
    }

    fn os_partition(&self) -> Result<usize, DiskError> {
        self.mbr()?
            .active_partition()
            .ok_or(DiskError::NoOsPartition)
    }

    fn partition_len(&self, partition: usize) -> Result<u64, DiskError> {
        Ok(self.extent(partition)?.1 as u64)
    }

    fn write(&mut self, partition: usize, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        let range = self.range(partition, offset, data.len() as u64)?;
        self.bytes[range].copy_from_slice(data);
        Ok(())
    }

    fn partition_sha256(&self, partition: usize, len: u64) -> Result<[u8; 32], DiskError> {
        let range = self.range(partition, 0, len)?;
        Ok(Sha256::digest(&self.bytes[range]).into())
    }

    fn agent_state(&self) -> Option<Vec<u8>> {
        self.agent_state.clone()
    }

    fn set_agent_state(&mut self, state: Option<&[u8]>) -> Result<(), DiskError> {
        self.agent_state = state.map(<[u8]>::to_vec);
        Ok(())
    }

    fn image_only(&self) -> bool {
        self.image_only
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_lands_in_sector_zero_and_reads_back() {
        let mut disk = MemoryDisk::with_layout(16, Some(8)).unwrap();
        assert_eq!(disk.boot_flag(), Ok(None));
        disk.set_boot_flag(BootFlag::armed(2)).unwrap();
        assert_eq!(&disk.bytes()[0x1B0..0x1B6], b"PXBW\x01\x02");
        assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::armed(2))));
        disk.clear_boot_flag().unwrap();
        assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::CLEAR)));
        assert!(disk.image_only());
    }

    #[test]
    fn writes_stay_inside_their_partition() {
        let mut disk = MemoryDisk::with_layout(2, None).unwrap();
        assert!(!disk.image_only());
        let p = disk.os_partition().unwrap();
        disk.write(p, 1020, &[7; 4]).unwrap();
        assert_eq!(&disk.partition_bytes(p).unwrap()[1020..], &[7; 4]);
        assert!(matches!(
            disk.write(p, 1021, &[7; 4]),
            Err(DiskError::OutOfRange { .. })
        ));
        assert!(matches!(
            disk.write(p, u64::MAX, &[7]),
            Err(DiskError::OutOfRange { .. })
        ));
        assert_eq!(disk.write(3, 0, &[1]), Err(DiskError::NoSuchPartition(3)));
        let expected: [u8; 32] = Sha256::digest(&disk.partition_bytes(p).unwrap()[..10]).into();
        assert_eq!(disk.partition_sha256(p, 10), Ok(expected));
    }

    #[test]
    fn oversized_layouts_are_refused() {
        assert!(matches!(
            MemoryDisk::with_layout(u32::MAX, None),
            Err(DiskError::TooLarge { .. })
        ));
    }
}
