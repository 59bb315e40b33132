//! A [`BootDisk`] over a regular file: the disk the agents run on in real mode
//! (`pxelab agent ... --disk FILE`).
//!
//! The file is a raw disk image, exactly what `dd` would copy off a drive: sector 0
//! is the MBR (read and written with [`crate::wire::mbr`]), and each partition
//! lives at the sectors its table entry names. Nothing is cached: every call reads
//! the MBR from the file again, so two boots of two agent processes (AClient, then
//! Bootworks, then AClient) see each other's writes as a real disk would.
//!
//! AClient's persisted state is kept in a sidecar file, `<disk>.agent-state`, for
//! the reason [`crate::agent::MemoryDisk`] keeps it beside its bytes: imaging
//! overwrites the OS partition, and the state has to outlive that.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::agent::{BootDisk, DiskError};
use crate::wire::mbr::{
    BootFlag, Mbr, PARTITION_SLOTS, PartitionEntry, PartitionType, SECTOR_SIZE,
};

/// Where [`FileDisk::create`] starts the first partition: sector 63, as the
/// Windows XP installer did (the same layout as `MemoryDisk::with_layout`).
pub const FIRST_LBA: u32 = 63;

/// Bytes read at a time when hashing a partition: hashing streams, so a
/// multi-gigabyte partition never sits in memory.
const HASH_BUF_LEN: usize = 1 << 20;

/// A disk image in a file, with AClient's state in `<file>.agent-state`.
#[derive(Debug)]
pub struct FileDisk {
    path: PathBuf,
    file: File,
}

fn io_err(what: &str, path: &Path, e: io::Error) -> DiskError {
    DiskError::Io(format!("{what} {}: {e}", path.display()))
}

impl FileDisk {
    /// Opens an existing disk image for reading and writing. Its sector 0 must
    /// hold a valid MBR.
    pub fn open(path: impl AsRef<Path>) -> Result<FileDisk, DiskError> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_err("cannot open disk image", &path, e))?;
        let disk = FileDisk { path, file };
        disk.mbr()?;
        Ok(disk)
    }

    /// Makes a fresh, zeroed (sparse) disk image at `path`: an active NTFS OS
    /// partition of at least `os_bytes` at sector 63 (slot 0) and, when asked, a
    /// hidden Bootworks partition of at least `bootworks_bytes` right after it
    /// (slot 1). Sizes round up to whole sectors. An existing file is replaced,
    /// and any stale agent state beside it removed.
    pub fn create(
        path: impl AsRef<Path>,
        os_bytes: u64,
        bootworks_bytes: Option<u64>,
    ) -> Result<FileDisk, DiskError> {
        let path = path.as_ref().to_path_buf();
        let sectors = |bytes: u64| -> Result<u32, DiskError> {
            let n = bytes.div_ceil(SECTOR_SIZE as u64).max(1);
            u32::try_from(n).map_err(|_| {
                DiskError::Io(format!(
                    "a partition of {bytes} bytes is larger than an MBR can describe (2 TiB)"
                ))
            })
        };
        let os = PartitionEntry {
            active: true,
            kind: PartitionType::NTFS,
            lba_start: FIRST_LBA,
            sectors: sectors(os_bytes)?,
        };
        let mut table = [None; PARTITION_SLOTS];
        table[0] = Some(os);
        if let Some(bytes) = bootworks_bytes {
            let lba_start = u32::try_from(os.lba_end()).map_err(|_| {
                DiskError::Io("the OS partition ends past what an MBR can describe".into())
            })?;
            table[1] = Some(PartitionEntry {
                active: false,
                kind: PartitionType::HIDDEN_BOOTWORKS,
                lba_start,
                sectors: sectors(bytes)?,
            });
        }
        let mbr = Mbr::new(table)?;
        let end = table
            .iter()
            .flatten()
            .map(PartitionEntry::lba_end)
            .max()
            .unwrap_or(1);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| io_err("cannot create disk image", &path, e))?;
        file.set_len(end * SECTOR_SIZE as u64)
            .map_err(|e| io_err("cannot size disk image", &path, e))?;
        let disk = FileDisk { path, file };
        disk.write_mbr(&mbr)?;
        match std::fs::remove_file(disk.state_path()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("cannot remove", &disk.state_path(), e)),
        }
        Ok(disk)
    }

    /// The disk image's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where AClient's state is kept: the disk's path with `.agent-state`
    /// appended.
    pub fn state_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".agent-state");
        PathBuf::from(p)
    }

    /// The MBR as sector 0 holds it now.
    pub fn mbr(&self) -> Result<Mbr, DiskError> {
        let mut sector = [0; SECTOR_SIZE];
        self.file
            .read_exact_at(&mut sector, 0)
            .map_err(|e| io_err("cannot read the MBR of", &self.path, e))?;
        Ok(Mbr::parse(&sector)?)
    }

    /// Reads `len` bytes of `partition` from `offset` (checked like a write).
    pub fn read_partition(
        &self,
        partition: usize,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, DiskError> {
        let at = self.locate(partition, offset, len as u64)?;
        let mut buf = vec![0; len];
        self.file
            .read_exact_at(&mut buf, at)
            .map_err(|e| io_err("cannot read", &self.path, e))?;
        Ok(buf)
    }

    fn write_mbr(&self, mbr: &Mbr) -> Result<(), DiskError> {
        self.file
            .write_all_at(&mbr.emit(), 0)
            .map_err(|e| io_err("cannot write the MBR of", &self.path, e))
    }

    /// The file offset of `offset..offset+len` inside `partition`, after checking
    /// that the range lies inside the partition.
    fn locate(&self, partition: usize, offset: u64, len: u64) -> Result<u64, DiskError> {
        let mbr = self.mbr()?;
        let p = mbr
            .partition(partition)
            .ok_or(DiskError::NoSuchPartition(partition))?;
        let size = p.byte_len();
        let out_of_range = DiskError::OutOfRange {
            partition,
            offset,
            len,
            size,
        };
        match offset.checked_add(len) {
            Some(end) if end <= size => Ok(p.byte_offset() + offset),
            _ => Err(out_of_range),
        }
    }
}

impl BootDisk for FileDisk {
    fn boot_flag(&self) -> Result<Option<BootFlag>, DiskError> {
        Ok(self.mbr()?.boot_flag()?)
    }

    fn set_boot_flag(&mut self, flag: BootFlag) -> Result<(), DiskError> {
        let mut mbr = self.mbr()?;
        mbr.set_boot_flag(flag);
        self.write_mbr(&mbr)?;
        self.file
            .sync_data()
            .map_err(|e| io_err("cannot sync", &self.path, e))
    }

    fn clear_boot_flag(&mut self) -> Result<(), DiskError> {
        let mut mbr = self.mbr()?;
        mbr.clear_boot_flag();
        self.write_mbr(&mbr)?;
        self.file
            .sync_data()
            .map_err(|e| io_err("cannot sync", &self.path, e))
    }

    fn os_partition(&self) -> Result<usize, DiskError> {
        self.mbr()?
            .active_partition()
            .ok_or(DiskError::NoOsPartition)
    }

    fn partition_len(&self, partition: usize) -> Result<u64, DiskError> {
        let mbr = self.mbr()?;
        let p = mbr
            .partition(partition)
            .ok_or(DiskError::NoSuchPartition(partition))?;
        Ok(p.byte_len())
    }

    fn write(&mut self, partition: usize, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        let at = self.locate(partition, offset, data.len() as u64)?;
        self.file
            .write_all_at(data, at)
            .map_err(|e| io_err("cannot write", &self.path, e))
    }

    fn partition_sha256(&self, partition: usize, len: u64) -> Result<[u8; 32], DiskError> {
        let start = self.locate(partition, 0, len)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0; HASH_BUF_LEN];
        let mut done = 0u64;
        while done < len {
            // The rest is below HASH_BUF_LEN here, so it fits usize.
            let n = (len - done).min(HASH_BUF_LEN as u64) as usize;
            self.file
                .read_exact_at(&mut buf[..n], start + done)
                .map_err(|e| io_err("cannot read", &self.path, e))?;
            hasher.update(&buf[..n]);
            done += n as u64;
        }
        Ok(hasher.finalize().into())
    }

    fn agent_state(&self) -> Option<Vec<u8>> {
        // A missing or unreadable sidecar is "no state": AClient then treats the
        // boot as a first one, which is the safe reading (it arms again, bounded).
        std::fs::read(self.state_path()).ok()
    }

    fn set_agent_state(&mut self, state: Option<&[u8]>) -> Result<(), DiskError> {
        let path = self.state_path();
        match state {
            Some(bytes) => {
                std::fs::write(&path, bytes).map_err(|e| io_err("cannot write", &path, e))
            }
            None => match std::fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_err("cannot remove", &path, e)),
            },
        }
    }

    fn image_only(&self) -> bool {
        // The same rule as MemoryDisk: a hidden Bootworks partition can only image.
        self.mbr()
            .map(|m| m.bootworks_partition().is_some())
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_then_open_keeps_the_table_and_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        let mut disk = FileDisk::create(&path, 4096, Some(1024)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), (63 + 8 + 2) * 512);
        assert!(disk.image_only());
        assert_eq!(disk.os_partition(), Ok(0));
        assert_eq!(disk.partition_len(0), Ok(4096));
        assert_eq!(disk.boot_flag(), Ok(None));
        disk.set_boot_flag(BootFlag::armed(1)).unwrap();
        drop(disk);

        let mut disk = FileDisk::open(&path).unwrap();
        assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::armed(1))));
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(&raw[0x1B0..0x1B6], b"PXBW\x01\x01");
        disk.clear_boot_flag().unwrap();
        assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::CLEAR)));
    }

    #[test]
    fn writes_land_in_the_partition_and_stay_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        let mut disk = FileDisk::create(&path, 1024, None).unwrap();
        assert!(!disk.image_only());
        disk.write(0, 1020, &[7; 4]).unwrap();
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(&raw[63 * 512 + 1020..63 * 512 + 1024], &[7; 4]);
        assert_eq!(disk.read_partition(0, 1020, 4).unwrap(), vec![7; 4]);
        assert!(matches!(
            disk.write(0, 1021, &[7; 4]),
            Err(DiskError::OutOfRange { .. })
        ));
        assert!(matches!(
            disk.write(0, u64::MAX, &[7]),
            Err(DiskError::OutOfRange { .. })
        ));
        assert_eq!(disk.write(2, 0, &[1]), Err(DiskError::NoSuchPartition(2)));
        let expected: [u8; 32] = Sha256::digest(&raw[63 * 512..63 * 512 + 1024]).into();
        assert_eq!(disk.partition_sha256(0, 1024), Ok(expected));
        assert!(matches!(
            disk.partition_sha256(0, 1025),
            Err(DiskError::OutOfRange { .. })
        ));
    }

    #[test]
    fn agent_state_lives_in_a_sidecar_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        let mut disk = FileDisk::create(&path, 512, None).unwrap();
        assert_eq!(disk.agent_state(), None);
        disk.set_agent_state(Some(b"armed 7")).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("disk.img.agent-state")).unwrap(),
            b"armed 7"
        );
        let mut disk = FileDisk::open(&path).unwrap();
        assert_eq!(disk.agent_state(), Some(b"armed 7".to_vec()));
        disk.set_agent_state(None).unwrap();
        disk.set_agent_state(None).unwrap();
        assert_eq!(disk.agent_state(), None);
    }

    #[test]
    fn a_file_without_an_mbr_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blank.img");
        std::fs::write(&path, vec![0; 4096]).unwrap();
        assert!(matches!(FileDisk::open(&path), Err(DiskError::Mbr(_))));
        let missing = FileDisk::open(dir.path().join("nope.img")).unwrap_err();
        assert!(missing.to_string().contains("nope.img"), "{missing}");
    }
}
