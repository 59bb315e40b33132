//! A synthetic but exact disk, and disk images whose bytes are computed.
//!
//! Issue 5 asks that what Bootworks writes be checked byte for byte against
//! the image, for fleets of machines each receiving gigabytes. Holding those
//! bytes is out of the question, so:
//!
//! - an [`ImageContent`] is a seed and a size; its bytes at any offset are
//!   computed from the seed, 4 KiB block by block ([`BLOCK_SIZE`]), so a
//!   2 GiB image costs nothing to hold and any part of it can be produced on
//!   demand;
//! - a [`Disk`] stores only what was written, as extents in a `BTreeMap`:
//!   literal bytes (the MBR, a corrupted byte) or a *reference* to a range of an
//!   image ("these 1 MiB hold image 7's bytes 3 MiB..4 MiB"). Contiguous image
//!   chunks merge, so an image streamed in 2048 chunks ends as one extent.
//!   Sectors never written read as zeros, as a new disk or a sparse file does.
//!
//! Sector 0 is an ordinary sector holding the MBR ([`super::mbr`]); the
//! partition table and the Bootworks boot flag are read from and written to it,
//! so raw writes to sector 0 and MBR edits see each other.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::mbr::{
    BootFlag, BootTarget, Mbr, MbrError, PARTITION_SLOTS, PartitionEntry, PartitionType,
    SECTOR_SIZE,
};

/// The unit image content is generated and compared in.
pub const BLOCK_SIZE: u64 = 4096;
/// Where [`Disk::with_layout`] starts the first partition: LBA 2048 (1 MiB),
/// the alignment partitioners have used since Windows Vista, and the boundary
/// every later partition starts on.
pub const FIRST_PARTITION_LBA: u64 = 2048;
const ALIGN_SECTORS: u64 = FIRST_PARTITION_LBA;
const SECTOR: u64 = SECTOR_SIZE as u64;
/// Adjacent literal extents merge up to this size, so byte-wise writers do not
/// leave thousands of tiny extents, and no merge copies much.
const MAX_MERGED_BYTES: usize = 64 * 1024;
/// The domain string mixed into the ChaCha key, so image content cannot collide
/// with another seeded stream of the simulator that uses the same seed.
const KEY_DOMAIN: &[u8; 24] = b"pxelab image content v1\0";
/// Bytes at the head of every block that name it: the seed and the block index.
const BLOCK_HEADER: usize = 16;
/// The per-image pool of ChaCha8 output the blocks' bodies are drawn from.
const POOL_LEN: usize = 64 * 1024;
const BODY_LEN: usize = BLOCK_SIZE as usize - BLOCK_HEADER;

/// A disk image whose content is derived from a seed.
///
/// Content, block by 4 KiB block: a 16-byte header (the seed and the block
/// index, both u64 little-endian) then 4080 bytes copied from a 64 KiB pool of
/// ChaCha8 output keyed by the seed, from an offset that a hash of (seed,
/// block index) chooses. Why this shape: the bytes must be cheap to produce
/// at any offset, in any build — a keystream per byte costs about 17 ns per
/// byte in an unoptimised test build (28 s to hash a 2 GiB image), a copy from
/// the pool costs next to nothing — and they must catch transfer bugs: the
/// header makes every block of every image distinct, so a block that lands in
/// the wrong place, or comes from another image, never verifies.
///
/// Two images are the same image when seed and size are equal. Clones share
/// the pool and the SHA-256, each computed once on first use.
#[derive(Clone)]
pub struct ImageContent {
    seed: u64,
    size: u64,
    cache: Arc<ImageCache>,
}

#[derive(Default)]
struct ImageCache {
    pool: OnceLock<Box<[u8]>>,
    sha256: OnceLock<[u8; 32]>,
}

impl PartialEq for ImageContent {
    fn eq(&self, other: &Self) -> bool {
        self.seed == other.seed && self.size == other.size
    }
}

impl Eq for ImageContent {}

impl std::hash::Hash for ImageContent {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.seed, self.size).hash(state);
    }
}

impl fmt::Debug for ImageContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageContent")
            .field("seed", &self.seed)
            .field("size", &self.size)
            .finish()
    }
}

impl ImageContent {
    /// The image of `size` bytes derived from `seed`.
    pub fn new(seed: u64, size: u64) -> ImageContent {
        ImageContent {
            seed,
            size,
            cache: Arc::default(),
        }
    }

    /// The seed the content derives from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Fills `buf` with the image's bytes from `offset`, stopping at the end of
    /// the image; returns how many bytes were filled.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let available = self.size.saturating_sub(offset);
        let n = usize::try_from(available).map_or(buf.len(), |a| a.min(buf.len()));
        self.fill(offset, &mut buf[..n]);
        n
    }

    /// `len` bytes from `offset` (fewer past the end of the image).
    pub fn bytes(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        let n = self.read_at(offset, &mut buf);
        buf.truncate(n);
        buf
    }

    /// Every byte of the image. Only for small images (tests, file-backed
    /// disks): this is the one call that does hold the whole image, so a
    /// 2 GiB image allocates 2 GiB.
    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes(0, usize::try_from(self.size).unwrap_or(usize::MAX))
    }

    /// SHA-256 of the content, computed block by block on first use and cached.
    pub fn sha256(&self) -> [u8; 32] {
        *self.cache.sha256.get_or_init(|| {
            let mut hasher = Sha256::new();
            let mut block = [0; BLOCK_SIZE as usize];
            let mut offset = 0;
            while offset < self.size {
                let n = (self.size - offset).min(BLOCK_SIZE) as usize;
                self.fill(offset, &mut block[..n]);
                hasher.update(&block[..n]);
                offset += n as u64;
            }
            hasher.finalize().into()
        })
    }

    /// The SHA-256 as lowercase hex, as image stores print it.
    pub fn sha256_hex(&self) -> String {
        self.sha256().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn pool(&self) -> &[u8] {
        self.cache.pool.get_or_init(|| {
            let mut key = [0; 32];
            key[..8].copy_from_slice(&self.seed.to_le_bytes());
            key[8..].copy_from_slice(KEY_DOMAIN);
            let mut pool = vec![0; POOL_LEN].into_boxed_slice();
            ChaCha8Rng::from_seed(key).fill_bytes(&mut pool);
            pool
        })
    }

    /// Content bytes from `offset` on, with no bound on the size: the content
    /// function is defined past the end, `read_at` is what stops there.
    fn fill(&self, offset: u64, buf: &mut [u8]) {
        let pool = self.pool();
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            let block = at / BLOCK_SIZE;
            let within = (at % BLOCK_SIZE) as usize;
            let n = (BLOCK_SIZE as usize - within).min(buf.len() - done);
            let out = &mut buf[done..done + n];
            let mut header = [0; BLOCK_HEADER];
            header[..8].copy_from_slice(&self.seed.to_le_bytes());
            header[8..].copy_from_slice(&block.to_le_bytes());
            let window = (mix(self.seed ^ mix(block)) % (POOL_LEN - BODY_LEN + 1) as u64) as usize;
            let body = &pool[window..window + BODY_LEN];
            // `out` covers block bytes within..within + n: part header, part body.
            let from_header = BLOCK_HEADER.saturating_sub(within).min(n);
            if from_header > 0 {
                out[..from_header].copy_from_slice(&header[within..within + from_header]);
            }
            let body_from = (within + from_header).saturating_sub(BLOCK_HEADER);
            out[from_header..].copy_from_slice(&body[body_from..body_from + n - from_header]);
            done += n;
        }
    }
}

/// SplitMix64's finaliser: spreads a block index over the pool.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What a partition of a [`Disk::with_layout`] disk is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionKind {
    /// The installed OS: type 0x07 (NTFS); the first one is made active.
    Os,
    /// A hidden Bootworks partition: [`PartitionType::HIDDEN_BOOTWORKS`]
    /// (0x12, pxelab's choice).
    HiddenBootworks,
}

impl PartitionKind {
    /// The MBR type byte written for this kind.
    pub fn partition_type(self) -> PartitionType {
        match self {
            PartitionKind::Os => PartitionType::NTFS,
            PartitionKind::HiddenBootworks => PartitionType::HIDDEN_BOOTWORKS,
        }
    }
}

/// One partition asked of [`Disk::with_layout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartitionSpec {
    /// What it is for.
    pub kind: PartitionKind,
    /// Size in bytes, rounded up to whole sectors.
    pub size: u64,
}

/// Why a disk operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiskError {
    /// The size is zero or not whole sectors.
    #[error("a disk of {0} bytes is not a whole, non-zero number of 512-byte sectors")]
    BadSize(u64),
    /// A read or write past the end of the disk.
    #[error("{len} bytes at offset {offset} run past the end of the {size}-byte disk")]
    OutOfRange {
        /// Where it started.
        offset: u64,
        /// How long it was.
        len: u64,
        /// The disk's size.
        size: u64,
    },
    /// Sector 0 does not hold a valid MBR.
    #[error("sector 0: {0}")]
    Mbr(#[from] MbrError),
    /// The partition slot is unused (or past slot 3).
    #[error("there is no partition {0} in the MBR")]
    NoSuchPartition(usize),
    /// The table describes a partition past the end of the disk.
    #[error("partition {partition} ends at byte {end}, past the end of the {size}-byte disk")]
    PartitionBeyondDisk {
        /// The slot.
        partition: usize,
        /// One past its last byte.
        end: u64,
        /// The disk's size.
        size: u64,
    },
    /// The image does not fit the partition.
    #[error(
        "an image of {image_size} bytes does not fit partition {partition} ({partition_size} bytes)"
    )]
    ImageTooLarge {
        /// The image's size.
        image_size: u64,
        /// The slot.
        partition: usize,
        /// The partition's size.
        partition_size: u64,
    },
    /// A chunk that is not part of the image.
    #[error("chunk {offset}..{end} lies outside the {image_size}-byte image", end = offset.saturating_add(*len))]
    ChunkOutsideImage {
        /// Where the chunk starts in the image.
        offset: u64,
        /// Its length.
        len: u64,
        /// The image's size.
        image_size: u64,
    },
    /// A chunk that would land past the end of its partition.
    #[error(
        "chunk {offset}..{end} runs past the end of partition {partition} ({partition_size} bytes)",
        end = offset.saturating_add(*len)
    )]
    ChunkOutsidePartition {
        /// Where the chunk starts in the partition.
        offset: u64,
        /// Its length.
        len: u64,
        /// The slot.
        partition: usize,
        /// The partition's size.
        partition_size: u64,
    },
    /// More partitions than an MBR holds.
    #[error("{0} partitions asked for; an MBR holds at most 4")]
    TooManyPartitions(usize),
    /// A partition of size zero.
    #[error("partition {0} is asked with size 0")]
    EmptyPartition(usize),
    /// The layout does not fit the disk, or not in MBR's 32-bit sector fields.
    #[error(
        "the layout needs {needed} bytes (partitions from LBA 2048, 1 MiB aligned) but the disk has {size} and MBR addresses at most 2 TiB"
    )]
    LayoutTooLarge {
        /// Bytes the layout needs.
        needed: u64,
        /// The disk's size.
        size: u64,
    },
}

/// Why a partition does not hold an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A byte differs.
    #[error(
        "partition differs from the image at offset {first_bad_offset}: expected {expected:#04x}, found {found:#04x}"
    )]
    Mismatch {
        /// The first differing byte, counted from the start of the partition
        /// (the same as the offset in the image).
        first_bad_offset: u64,
        /// The image's byte there.
        expected: u8,
        /// The disk's byte there.
        found: u8,
    },
    /// The partition could not be read.
    #[error(transparent)]
    Disk(#[from] DiskError),
}

/// Where an extent's bytes come from.
#[derive(Clone, PartialEq, Eq)]
enum Source {
    /// Bytes held literally.
    Bytes(Vec<u8>),
    /// The bytes of `image` from `offset` on.
    Image { image: ImageContent, offset: u64 },
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Source::Image { image, offset } => {
                write!(f, "Image(seed {}, from {offset})", image.seed())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Extent {
    len: u64,
    source: Source,
}

impl Extent {
    /// The part `from..to` (relative to the extent's start).
    fn slice(&self, from: u64, to: u64) -> Extent {
        let source = match &self.source {
            Source::Bytes(b) => Source::Bytes(b[from as usize..to as usize].to_vec()),
            Source::Image { image, offset } => Source::Image {
                image: image.clone(),
                offset: offset + from,
            },
        };
        Extent {
            len: to - from,
            source,
        }
    }

    /// Appends `next` if it continues this extent's source.
    fn try_append(&mut self, next: &Extent) -> bool {
        match (&mut self.source, &next.source) {
            (Source::Bytes(a), Source::Bytes(b)) if a.len() + b.len() <= MAX_MERGED_BYTES => {
                a.extend_from_slice(b);
            }
            (
                Source::Image { image, offset },
                Source::Image {
                    image: i2,
                    offset: o2,
                },
            ) if image == i2 && *offset + self.len == *o2 => {}
            _ => return false,
        }
        self.len += next.len;
        true
    }

    /// Copies the extent's bytes `from..from + out.len()` into `out`.
    fn read(&self, from: u64, out: &mut [u8]) {
        match &self.source {
            Source::Bytes(b) => out.copy_from_slice(&b[from as usize..from as usize + out.len()]),
            Source::Image { image, offset } => image.fill(offset + from, out),
        }
    }
}

/// A simulated disk: sector 0 holds an MBR, the rest is sparse.
#[derive(Debug, Clone)]
pub struct Disk {
    size: u64,
    /// Non-overlapping extents keyed by their first byte on the disk.
    extents: BTreeMap<u64, Extent>,
}

impl Disk {
    /// A blank disk of `size` bytes whose sector 0 holds an empty MBR.
    pub fn new(size: u64) -> Result<Disk, DiskError> {
        if size == 0 || !size.is_multiple_of(SECTOR) {
            return Err(DiskError::BadSize(size));
        }
        let mut disk = Disk {
            size,
            extents: BTreeMap::new(),
        };
        disk.set_mbr(&Mbr::default())?;
        Ok(disk)
    }

    /// A disk with the given partitions, in order, the first from LBA 2048 and
    /// each on a 1 MiB boundary; the first OS partition is active.
    pub fn with_layout(size: u64, specs: &[PartitionSpec]) -> Result<Disk, DiskError> {
        if specs.len() > PARTITION_SLOTS {
            return Err(DiskError::TooManyPartitions(specs.len()));
        }
        let mut disk = Disk::new(size)?;
        let mut table = [None; PARTITION_SLOTS];
        let mut next = FIRST_PARTITION_LBA;
        let mut active_given = false;
        for (slot, spec) in specs.iter().enumerate() {
            if spec.size == 0 {
                return Err(DiskError::EmptyPartition(slot));
            }
            let sectors = spec.size.div_ceil(SECTOR);
            let end = next + sectors;
            let too_large = DiskError::LayoutTooLarge {
                needed: end.saturating_mul(SECTOR),
                size,
            };
            if end.saturating_mul(SECTOR) > size {
                return Err(too_large);
            }
            let (Ok(lba_start), Ok(sectors)) = (u32::try_from(next), u32::try_from(sectors)) else {
                return Err(too_large);
            };
            let active = spec.kind == PartitionKind::Os && !active_given;
            active_given |= active;
            table[slot] = Some(PartitionEntry {
                active,
                kind: spec.kind.partition_type(),
                lba_start,
                sectors,
            });
            next = end.div_ceil(ALIGN_SECTORS) * ALIGN_SECTORS;
        }
        disk.set_mbr(&Mbr::new(table)?)?;
        Ok(disk)
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How many extents the disk stores: what it costs to hold.
    pub fn extent_count(&self) -> usize {
        self.extents.len()
    }

    /// Bytes held literally in memory (image references cost none).
    pub fn stored_bytes(&self) -> u64 {
        self.extents
            .values()
            .map(|e| match &e.source {
                Source::Bytes(b) => b.len() as u64,
                Source::Image { .. } => 0,
            })
            .sum()
    }

    /// The MBR in sector 0.
    pub fn mbr(&self) -> Result<Mbr, DiskError> {
        let sector = self.read(0, SECTOR_SIZE)?;
        Ok(Mbr::parse(&sector)?)
    }

    /// Writes `mbr` to sector 0.
    pub fn set_mbr(&mut self, mbr: &Mbr) -> Result<(), DiskError> {
        self.write(0, &mbr.emit())
    }

    /// The Bootworks boot flag (`None`: never written).
    pub fn boot_flag(&self) -> Result<Option<BootFlag>, DiskError> {
        Ok(self.mbr()?.boot_flag()?)
    }

    /// Writes the Bootworks boot flag into sector 0, as AClient does from Windows.
    pub fn set_boot_flag(&mut self, flag: BootFlag) -> Result<(), DiskError> {
        let mut mbr = self.mbr()?;
        mbr.set_boot_flag(flag);
        self.set_mbr(&mbr)
    }

    /// Clears the Bootworks boot flag, as Bootworks does after a job succeeds.
    pub fn clear_boot_flag(&mut self) -> Result<(), DiskError> {
        self.set_boot_flag(BootFlag::CLEAR)
    }

    /// Where a BIOS booting from this disk goes next (see [`Mbr::boot_target`]).
    pub fn boot_target(&self) -> Result<BootTarget, DiskError> {
        Ok(self.mbr()?.boot_target())
    }

    /// The byte range of partition `partition` on the disk.
    pub fn partition_range(&self, partition: usize) -> Result<Range<u64>, DiskError> {
        let mbr = self.mbr()?;
        let entry = mbr
            .partition(partition)
            .ok_or(DiskError::NoSuchPartition(partition))?;
        let range = entry.byte_offset()..entry.byte_offset() + entry.byte_len();
        if range.end > self.size {
            return Err(DiskError::PartitionBeyondDisk {
                partition,
                end: range.end,
                size: self.size,
            });
        }
        Ok(range)
    }

    /// Writes `data` at `offset`.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        self.check_range(offset, data.len() as u64)?;
        if data.is_empty() {
            return Ok(());
        }
        self.put(
            offset,
            Extent {
                len: data.len() as u64,
                source: Source::Bytes(data.to_vec()),
            },
        );
        Ok(())
    }

    /// `len` bytes from `offset`; never-written bytes read as zeros.
    pub fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, DiskError> {
        let mut buf = vec![0; len];
        self.read_into(offset, &mut buf)?;
        Ok(buf)
    }

    /// Fills `buf` with the bytes from `offset`.
    pub fn read_into(&self, offset: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        self.check_range(offset, buf.len() as u64)?;
        buf.fill(0);
        let end = offset + buf.len() as u64;
        for (&start, extent) in self.overlapping(offset, end) {
            let from = start.max(offset);
            let to = (start + extent.len).min(end);
            extent.read(
                from - start,
                &mut buf[(from - offset) as usize..(to - offset) as usize],
            );
        }
        Ok(())
    }

    /// Records that `partition` holds the whole image from its first byte,
    /// without copying: the extent refers to the image.
    pub fn apply_image(&mut self, image: &ImageContent, partition: usize) -> Result<(), DiskError> {
        let range = self.partition_range(partition)?;
        let partition_size = range.end - range.start;
        if image.size() > partition_size {
            return Err(DiskError::ImageTooLarge {
                image_size: image.size(),
                partition,
                partition_size,
            });
        }
        self.write_image_chunk(partition, 0, image.size(), image)
    }

    /// Records that bytes `offset..offset + len` of the image have been written
    /// at the same offset into `partition`: one chunk of a simulated transfer.
    pub fn write_image_chunk(
        &mut self,
        partition: usize,
        offset: u64,
        len: u64,
        image: &ImageContent,
    ) -> Result<(), DiskError> {
        self.write_image_range(partition, offset, offset, len, image)
    }

    /// Records that bytes `image_offset..image_offset + len` of the image were
    /// written at `offset` into `partition` — a chunk landing somewhere other
    /// than its place in the image (a transfer bug the verification must catch).
    pub fn write_image_range(
        &mut self,
        partition: usize,
        offset: u64,
        image_offset: u64,
        len: u64,
        image: &ImageContent,
    ) -> Result<(), DiskError> {
        if image_offset
            .checked_add(len)
            .is_none_or(|end| end > image.size())
        {
            return Err(DiskError::ChunkOutsideImage {
                offset: image_offset,
                len,
                image_size: image.size(),
            });
        }
        let range = self.partition_range(partition)?;
        let partition_size = range.end - range.start;
        if offset
            .checked_add(len)
            .is_none_or(|end| end > partition_size)
        {
            return Err(DiskError::ChunkOutsidePartition {
                offset,
                len,
                partition,
                partition_size,
            });
        }
        if len > 0 {
            self.put(
                range.start + offset,
                Extent {
                    len,
                    source: Source::Image {
                        image: image.clone(),
                        offset: image_offset,
                    },
                },
            );
        }
        Ok(())
    }

    /// Flips every bit of the byte at `offset` (disk offset): a bad sector or a
    /// transfer that delivered a wrong byte. The byte always changes.
    pub fn corrupt(&mut self, offset: u64) -> Result<(), DiskError> {
        let mut byte = [0];
        self.read_into(offset, &mut byte)?;
        self.write(offset, &[!byte[0]])
    }

    /// SHA-256 of the first `len` bytes of `partition`: the checksum Bootworks
    /// compares with the image store's after a transfer.
    ///
    /// When those bytes are exactly one image (a single extent referring to an
    /// image of `len` bytes from its start), the digest is that image's cached
    /// one; otherwise the bytes are read and hashed block by block.
    pub fn partition_sha256(&self, partition: usize, len: u64) -> Result<[u8; 32], DiskError> {
        let range = self.partition_range(partition)?;
        let partition_size = range.end - range.start;
        if len > partition_size {
            return Err(DiskError::ChunkOutsidePartition {
                offset: 0,
                len,
                partition,
                partition_size,
            });
        }
        let (start, end) = (range.start, range.start + len);
        let mut within = self.overlapping(start, end);
        if let (Some((&e_start, extent)), None) = (within.next(), within.next())
            && let Source::Image { image, offset } = &extent.source
            && image.size() == len
            && e_start <= start
            && e_start + extent.len >= end
            && offset + (start - e_start) == 0
        {
            return Ok(image.sha256());
        }
        let mut hasher = Sha256::new();
        let mut block = [0; BLOCK_SIZE as usize];
        let mut at = start;
        while at < end {
            let n = (end - at).min(BLOCK_SIZE) as usize;
            self.read_into(at, &mut block[..n])?;
            hasher.update(&block[..n]);
            at += n as u64;
        }
        Ok(hasher.finalize().into())
    }

    /// Checks that `partition` begins with the image's bytes, all of them.
    ///
    /// Walks the partition extent by extent, block by block. A range that
    /// refers to this very image at this very offset holds the image's bytes by
    /// definition (its bytes *are* `image` at that offset), so it is not
    /// regenerated twice to be compared with itself; every other range —
    /// literal bytes, another image, the right image at a shifted offset, never
    /// written sectors — is generated and compared byte for byte.
    /// [`Disk::verify_partition_exhaustive`] compares everything, for tests.
    pub fn verify_partition_against(
        &self,
        partition: usize,
        image: &ImageContent,
    ) -> Result<(), VerifyError> {
        self.verify(partition, image, false)
    }

    /// As [`Disk::verify_partition_against`], but materialises and compares
    /// every byte, including ranges that refer to the image itself. Costs two
    /// keystream generations per byte: for small images and cross-checks.
    pub fn verify_partition_exhaustive(
        &self,
        partition: usize,
        image: &ImageContent,
    ) -> Result<(), VerifyError> {
        self.verify(partition, image, true)
    }

    fn verify(
        &self,
        partition: usize,
        image: &ImageContent,
        exhaustive: bool,
    ) -> Result<(), VerifyError> {
        let range = self.partition_range(partition)?;
        let partition_size = range.end - range.start;
        if image.size() > partition_size {
            return Err(DiskError::ImageTooLarge {
                image_size: image.size(),
                partition,
                partition_size,
            }
            .into());
        }
        let (start, end) = (range.start, range.start + image.size());
        let mut pos = start;
        let mut segments: Vec<(u64, u64, Option<&Extent>, u64)> = Vec::new();
        for (&e_start, extent) in self.overlapping(start, end) {
            let from = e_start.max(start);
            let to = (e_start + extent.len).min(end);
            if pos < from {
                segments.push((pos, from, None, 0));
            }
            segments.push((from, to, Some(extent), from - e_start));
            pos = to;
        }
        if pos < end {
            segments.push((pos, end, None, 0));
        }
        let mut expected = [0; BLOCK_SIZE as usize];
        let mut found = [0; BLOCK_SIZE as usize];
        for (from, to, extent, within) in segments {
            if !exhaustive
                && let Some(Extent {
                    source:
                        Source::Image {
                            image: held,
                            offset,
                        },
                    ..
                }) = extent
                && held == image
                && offset + within == from - start
            {
                continue;
            }
            let mut at = from;
            while at < to {
                // Stop at block boundaries of the image so each step is one
                // generated block of the expected content.
                let image_at = at - start;
                let n = (BLOCK_SIZE - image_at % BLOCK_SIZE).min(to - at) as usize;
                image.read_at(image_at, &mut expected[..n]);
                match extent {
                    Some(e) => {
                        let e_start = from - within;
                        e.read(at - e_start, &mut found[..n]);
                    }
                    None => found[..n].fill(0),
                }
                if expected[..n] != found[..n]
                    && let Some(i) = (0..n).find(|&i| expected[i] != found[i])
                {
                    return Err(VerifyError::Mismatch {
                        first_bad_offset: image_at + i as u64,
                        expected: expected[i],
                        found: found[i],
                    });
                }
                at += n as u64;
            }
        }
        Ok(())
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<(), DiskError> {
        if offset.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(DiskError::OutOfRange {
                offset,
                len,
                size: self.size,
            });
        }
        Ok(())
    }

    /// The extents overlapping `start..end`, in disk order.
    fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = (&u64, &Extent)> {
        // The extent that starts before `start` may reach into the range.
        let first = self
            .extents
            .range(..start)
            .next_back()
            .filter(|(s, e)| **s + e.len > start)
            .map(|(s, _)| *s)
            .unwrap_or(start);
        self.extents.range(first..end)
    }

    /// Stores `extent` at `start`, replacing what was there, and merges it with
    /// neighbours that continue it.
    fn put(&mut self, start: u64, extent: Extent) {
        let end = start + extent.len;
        let hit: Vec<u64> = self.overlapping(start, end).map(|(s, _)| *s).collect();
        for s in hit {
            let Some(old) = self.extents.remove(&s) else {
                continue;
            };
            let old_end = s + old.len;
            if s < start {
                self.extents.insert(s, old.slice(0, start - s));
            }
            if old_end > end {
                self.extents.insert(end, old.slice(end - s, old.len));
            }
        }
        let mut start = start;
        let mut extent = extent;
        if let Some((&p_start, prev)) = self.extents.range_mut(..start).next_back()
            && p_start + prev.len == start
            && prev.try_append(&extent)
        {
            // `prev` now covers both; take it out to try the next neighbour.
            start = p_start;
            if let Some(merged) = self.extents.remove(&p_start) {
                extent = merged;
            }
        }
        let end = start + extent.len;
        if let Some(next) = self.extents.get(&end).cloned()
            && extent.try_append(&next)
        {
            self.extents.remove(&end);
        }
        self.extents.insert(start, extent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unaligned_reads_match_the_materialised_image() {
        let image = ImageContent::new(3, 3 * BLOCK_SIZE + 100);
        let all = image.to_vec();
        assert_eq!(all.len() as u64, image.size());
        for (offset, len) in [(0, 10), (4093, 9), (4096, 4096), (8190, 4200), (12380, 50)] {
            let got = image.bytes(offset, len);
            let end = (offset as usize + len).min(all.len());
            assert_eq!(got, all[offset as usize..end], "offset {offset} len {len}");
        }
    }

    #[test]
    fn every_block_of_an_image_is_distinct() {
        let image = ImageContent::new(0, 256 * BLOCK_SIZE);
        let blocks: std::collections::BTreeSet<Vec<u8>> = (0..256)
            .map(|b| image.bytes(b * BLOCK_SIZE, BLOCK_SIZE as usize))
            .collect();
        assert_eq!(blocks.len(), 256);
        // Each block names itself: seed, then block index.
        let head = image.bytes(7 * BLOCK_SIZE, BLOCK_HEADER);
        assert_eq!(head[..8], 0u64.to_le_bytes());
        assert_eq!(head[8..], 7u64.to_le_bytes());
        // Bodies are not just the header with zeros: the pool is keystream.
        let body = &image.bytes(0, BLOCK_SIZE as usize)[BLOCK_HEADER..];
        assert!(body.iter().filter(|&&b| b == 0).count() < 64);
    }

    #[test]
    fn overwrites_split_extents_and_keep_the_rest() {
        let mut disk = Disk::new(1 << 20).unwrap();
        disk.write(1000, &[1; 100]).unwrap();
        disk.write(1050, &[2; 10]).unwrap();
        let got = disk.read(990, 120).unwrap();
        let mut want = vec![0; 10];
        want.extend([1; 50]);
        want.extend([2; 10]);
        want.extend([1; 40]);
        want.extend([0; 10]);
        assert_eq!(got, want);
    }

    #[test]
    fn byte_by_byte_writes_merge_into_bounded_extents() {
        let mut disk = Disk::new(1 << 20).unwrap();
        for i in 0..(100 * 1024u64) {
            disk.write(4096 + i, &[i as u8]).unwrap();
        }
        // The MBR sector, then 100 KiB in extents of at most 64 KiB.
        assert_eq!(disk.extent_count(), 3);
        assert_eq!(disk.stored_bytes(), 512 + 100 * 1024);
        assert_eq!(disk.read(4096 + 70_000, 3).unwrap(), [112, 113, 114]);
    }

    #[test]
    fn out_of_range_access_is_refused() {
        let mut disk = Disk::new(4096).unwrap();
        assert!(matches!(
            disk.write(4090, &[0; 7]),
            Err(DiskError::OutOfRange { .. })
        ));
        assert!(disk.read(u64::MAX, 2).is_err());
        assert_eq!(Disk::new(1000).unwrap_err(), DiskError::BadSize(1000));
    }

    /// A disk whose partition 0 starts at 1 MiB and holds `len` bytes.
    fn one_partition(len: u64) -> Disk {
        Disk::with_layout(
            (1 << 20) + len.next_multiple_of(1 << 20),
            &[PartitionSpec {
                kind: PartitionKind::Os,
                size: len,
            }],
        )
        .unwrap()
    }

    #[derive(Debug, Clone)]
    enum Step {
        Chunk {
            offset: u64,
            len: u64,
        },
        Shifted {
            offset: u64,
            image_offset: u64,
            len: u64,
        },
        OtherImage {
            offset: u64,
            len: u64,
        },
        Corrupt {
            offset: u64,
        },
        Write {
            offset: u64,
            byte: u8,
        },
    }

    fn step(size: u64) -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..size, 1..size).prop_map(move |(o, l)| Step::Chunk { offset: o, len: l.min(size - o) }),
            1 => (0..size, 0..size, 1..size).prop_map(move |(o, i, l)| Step::Shifted {
                offset: o, image_offset: i, len: l.min(size - o).min(size - i) }),
            1 => (0..size, 1..size).prop_map(move |(o, l)| Step::OtherImage { offset: o, len: l.min(size - o) }),
            1 => (0..size).prop_map(|o| Step::Corrupt { offset: o }),
            1 => (0..size, any::<u8>()).prop_map(|(o, b)| Step::Write { offset: o, byte: b }),
        ]
    }

    proptest! {
        /// The fast path (skipping ranges that refer to the image itself)
        /// reaches the same verdict, at the same offset, as comparing every
        /// byte; and reads of image extents equal the materialised image.
        #[test]
        fn fast_verification_agrees_with_exhaustive(
            steps in prop::collection::vec(step(20_000), 0..12),
            full_first in any::<bool>(),
        ) {
            let image = ImageContent::new(11, 20_000);
            let other = ImageContent::new(12, 20_000);
            let mut disk = one_partition(image.size());
            let base = disk.partition_range(0).unwrap().start;
            if full_first {
                disk.apply_image(&image, 0).unwrap();
            }
            let mut shadow = if full_first { image.to_vec() } else { vec![0; 20_000] };
            for s in &steps {
                match *s {
                    Step::Chunk { offset, len } => {
                        disk.write_image_chunk(0, offset, len, &image).unwrap();
                        shadow[offset as usize..(offset + len) as usize]
                            .copy_from_slice(&image.bytes(offset, len as usize));
                    }
                    Step::Shifted { offset, image_offset, len } => {
                        disk.write_image_range(0, offset, image_offset, len, &image).unwrap();
                        shadow[offset as usize..(offset + len) as usize]
                            .copy_from_slice(&image.bytes(image_offset, len as usize));
                    }
                    Step::OtherImage { offset, len } => {
                        disk.write_image_chunk(0, offset, len, &other).unwrap();
                        shadow[offset as usize..(offset + len) as usize]
                            .copy_from_slice(&other.bytes(offset, len as usize));
                    }
                    Step::Corrupt { offset } => {
                        disk.corrupt(base + offset).unwrap();
                        shadow[offset as usize] = !shadow[offset as usize];
                    }
                    Step::Write { offset, byte } => {
                        disk.write(base + offset, &[byte]).unwrap();
                        shadow[offset as usize] = byte;
                    }
                }
            }
            prop_assert_eq!(disk.read(base, 20_000).unwrap(), shadow.clone());
            let digest: [u8; 32] = Sha256::digest(&shadow).into();
            prop_assert_eq!(disk.partition_sha256(0, 20_000), Ok(digest));
            let want = image.to_vec();
            let expected = match (0..want.len()).find(|&i| want[i] != shadow[i]) {
                None => Ok(()),
                Some(i) => Err(VerifyError::Mismatch {
                    first_bad_offset: i as u64,
                    expected: want[i],
                    found: shadow[i],
                }),
            };
            prop_assert_eq!(disk.verify_partition_exhaustive(0, &image), expected.clone());
            prop_assert_eq!(disk.verify_partition_against(0, &image), expected);
        }

        #[test]
        fn image_reads_at_any_offset_match_the_whole(offset in 0u64..9000, len in 0usize..5000) {
            let image = ImageContent::new(5, 9000);
            let all = image.to_vec();
            let end = (offset as usize + len).min(all.len());
            prop_assert_eq!(image.bytes(offset, len), all[offset as usize..end].to_vec());
        }
    }
}
