//! The classic PC master boot record (MBR), and the Bootworks boot flag pxelab
//! keeps in its boot code area.
//!
//! Layout of sector 0 (IBM PC/AT convention, as in Ralf Brown's interrupt list,
//! table 00650): 446 bytes of boot code, four 16-byte partition entries at
//! 0x1BE, 0x1CE, 0x1DE, 0x1EE, and the boot signature `55 AA` at 0x1FE. Each
//! entry is: status (0x80 active, 0x00 inactive), start CHS (3 bytes), type,
//! end CHS (3 bytes), first LBA (u32 LE), sector count (u32 LE).
//!
//! CHS fields are not modelled: [`Mbr::parse`] ignores them and [`Mbr::emit`]
//! writes `FE FF FF`, the convention for "address past the CHS limit, use the
//! LBA fields" that every LBA-era partitioner writes. So `parse(emit(x)) == x`
//! holds, but `emit(parse(bytes))` may differ from a real disk's bytes in the
//! CHS fields.
//!
//! **The Bootworks boot flag.** Altiris' patent (US 5,764,593, claim 1) describes
//! a *boot selection flag* read at boot and compared with a known setting to
//! divert the boot into the automation (Bootworks) code; the AClient sets it
//! from Windows. Its on-disk byte layout is not public (research
//! `pxe-anchors.md` §1d: UNVERIFIED). **pxelab's own choice**: a 6-byte block
//! at [`BOOT_FLAG_OFFSET`] (0x1B0) inside the boot code area, just before the
//! NT disk signature at 0x1B8: the magic `PXBW`, a state byte
//! (0 = boot normally, 1 = boot to Bootworks) and an attempt counter. On a
//! real disk these bytes belong to the boot loader, so the flag is only
//! meaningful on pxelab's synthetic disks; nothing here claims to be
//! Altiris' format.

use std::fmt;

/// Bytes in one sector, and so in an MBR.
pub const SECTOR_SIZE: usize = 512;
/// Bytes of boot code before the partition table.
pub const BOOT_CODE_LEN: usize = 446;
/// Partition entries in the table.
pub const PARTITION_SLOTS: usize = 4;
/// Where pxelab keeps the Bootworks boot flag inside the boot code area
/// (pxelab's choice; the Altiris layout is unverified).
pub const BOOT_FLAG_OFFSET: usize = 0x1B0;
/// The magic that says "a pxelab boot flag block lives here".
pub const BOOT_FLAG_MAGIC: [u8; 4] = *b"PXBW";

const TABLE_OFFSET: usize = BOOT_CODE_LEN;
const ENTRY_LEN: usize = 16;
const SIGNATURE_OFFSET: usize = 510;
const SIGNATURE: [u8; 2] = [0x55, 0xAA];
const STATUS_ACTIVE: u8 = 0x80;
const STATUS_INACTIVE: u8 = 0x00;
/// CHS "too large, use LBA": head 254, sector 63, cylinder 1023.
const CHS_LBA: [u8; 3] = [0xFE, 0xFF, 0xFF];
const FLAG_STATE: usize = BOOT_FLAG_OFFSET + 4;
const FLAG_ATTEMPTS: usize = BOOT_FLAG_OFFSET + 5;

/// The partition type byte ("system indicator").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionType(pub u8);

impl PartitionType {
    /// An unused table entry.
    pub const EMPTY: PartitionType = PartitionType(0x00);
    /// NTFS (also HPFS/exFAT): what Windows XP installs to.
    pub const NTFS: PartitionType = PartitionType(0x07);
    /// pxelab's type for a hidden Bootworks partition. 0x12 is the type PC
    /// vendors used for hidden service partitions (Compaq diagnostics and
    /// configuration utility, later OEM rescue partitions): DOS and Windows
    /// do not mount it, which is what "hidden" means here. Which type Altiris
    /// used is not known to this project: this is a choice.
    pub const HIDDEN_BOOTWORKS: PartitionType = PartitionType(0x12);

    /// Whether this is pxelab's hidden Bootworks partition type.
    pub fn is_bootworks(self) -> bool {
        self == PartitionType::HIDDEN_BOOTWORKS
    }
}

impl fmt::Display for PartitionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#04x}", self.0)
    }
}

/// One used partition table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartitionEntry {
    /// Status 0x80: the partition the standard MBR code boots.
    pub active: bool,
    /// The type byte; never [`PartitionType::EMPTY`] (that marks an unused slot).
    pub kind: PartitionType,
    /// First sector.
    pub lba_start: u32,
    /// Length in sectors; never zero.
    pub sectors: u32,
}

impl PartitionEntry {
    /// One past the last sector.
    pub fn lba_end(&self) -> u64 {
        u64::from(self.lba_start) + u64::from(self.sectors)
    }

    /// Byte offset of the first sector on the disk.
    pub fn byte_offset(&self) -> u64 {
        u64::from(self.lba_start) * SECTOR_SIZE as u64
    }

    /// Length in bytes.
    pub fn byte_len(&self) -> u64 {
        u64::from(self.sectors) * SECTOR_SIZE as u64
    }
}

/// What the boot selection flag asks the next boot to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BootFlagState {
    /// Boot the active partition (state byte 0).
    Normal,
    /// Boot the Bootworks automation environment (state byte 1).
    Bootworks,
}

/// The Bootworks boot selection flag, as pxelab stores it in the MBR.
///
/// `attempts` counts how many times the pre-OS path has been tried for the job
/// that armed the flag, so an agent can bound its retries (issue 5: "after N
/// failed attempts it clears the flag"). The codec only stores it; the agents
/// decide when to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BootFlag {
    /// Where the next boot goes.
    pub state: BootFlagState,
    /// Pre-OS attempts made so far for the current job.
    pub attempts: u8,
}

impl BootFlag {
    /// Boot normally, no attempts counted: what a cleared flag holds.
    pub const CLEAR: BootFlag = BootFlag {
        state: BootFlagState::Normal,
        attempts: 0,
    };

    /// A flag that sends the next boot to Bootworks.
    pub fn armed(attempts: u8) -> BootFlag {
        BootFlag {
            state: BootFlagState::Bootworks,
            attempts,
        }
    }

    /// Whether the next boot goes to Bootworks.
    pub fn is_armed(&self) -> bool {
        self.state == BootFlagState::Bootworks
    }
}

/// Where a BIOS booting this disk goes, per the MBR and its boot flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BootTarget {
    /// The flag is armed and a hidden Bootworks partition exists: boot it.
    Bootworks {
        /// Its slot in the partition table.
        partition: usize,
    },
    /// The active partition (the installed OS).
    Active {
        /// Its slot in the partition table.
        partition: usize,
    },
    /// No active partition and nowhere else to go: the BIOS moves on to the
    /// next boot device (or prints "Missing operating system").
    NothingToBoot,
}

/// Why a sector is not a usable MBR, or why a table is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MbrError {
    /// Fewer than 512 bytes.
    #[error("an MBR is one 512-byte sector, got {0} bytes")]
    Truncated(usize),
    /// Bytes 510..512 are not `55 AA`: the sector holds no partition table.
    #[error(
        "no MBR: the boot signature at offset 510 is {found:02X?}, not [55, AA] (blank or foreign sector 0)"
    )]
    BadSignature {
        /// The two bytes found.
        found: [u8; 2],
    },
    /// A used entry's status byte is neither 0x80 nor 0x00.
    #[error(
        "partition {slot}: status byte {status:#04x} is neither 0x80 (active) nor 0x00 (inactive)"
    )]
    BadStatus {
        /// The table slot (0-3).
        slot: usize,
        /// The byte found.
        status: u8,
    },
    /// A used entry with no sectors.
    #[error("partition {slot} has type {kind} but a length of 0 sectors")]
    ZeroLength {
        /// The table slot (0-3).
        slot: usize,
        /// Its type.
        kind: PartitionType,
    },
    /// An entry typed [`PartitionType::EMPTY`] given as a used partition.
    #[error("partition {slot} has type 0x00, which marks an unused slot; leave the slot empty")]
    EmptyType {
        /// The table slot (0-3).
        slot: usize,
    },
    /// A partition starting at LBA 0 would overwrite the MBR.
    #[error("partition {slot} starts at LBA 0, on top of the MBR itself")]
    OverlapsMbr {
        /// The table slot (0-3).
        slot: usize,
    },
    /// Two partitions share sectors.
    #[error(
        "partitions {first} (LBA {first_start}..{first_end}) and {second} (LBA {second_start}..{second_end}) overlap"
    )]
    Overlap {
        /// The lower slot.
        first: usize,
        /// Its first sector.
        first_start: u64,
        /// One past its last sector.
        first_end: u64,
        /// The higher slot.
        second: usize,
        /// Its first sector.
        second_start: u64,
        /// One past its last sector.
        second_end: u64,
    },
    /// More than one entry has status 0x80.
    #[error(
        "partitions {first} and {second} are both marked active; the standard MBR code boots exactly one"
    )]
    MultipleActive {
        /// The lower slot.
        first: usize,
        /// The higher slot.
        second: usize,
    },
    /// A slot index outside 0-3.
    #[error("there is no partition slot {0}: an MBR has four (0-3)")]
    NoSuchSlot(usize),
    /// The flag block carries a state byte pxelab does not define.
    #[error(
        "the Bootworks boot flag holds state {0}, which is neither 0 (boot normally) nor 1 (boot to Bootworks)"
    )]
    UnknownBootFlagState(u8),
}

/// A master boot record: boot code and a valid partition table.
///
/// The table is validated on every way in ([`Mbr::parse`], [`Mbr::new`],
/// [`Mbr::set_partition`]), so whatever [`Mbr::emit`] writes parses back.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mbr {
    boot_code: [u8; BOOT_CODE_LEN],
    partitions: [Option<PartitionEntry>; PARTITION_SLOTS],
}

impl fmt::Debug for Mbr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mbr")
            .field("boot_flag", &self.boot_flag())
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

impl Default for Mbr {
    fn default() -> Self {
        Mbr {
            boot_code: [0; BOOT_CODE_LEN],
            partitions: [None; PARTITION_SLOTS],
        }
    }
}

impl Mbr {
    /// An MBR with zeroed boot code and the given table, validated.
    pub fn new(partitions: [Option<PartitionEntry>; PARTITION_SLOTS]) -> Result<Mbr, MbrError> {
        validate(&partitions)?;
        Ok(Mbr {
            boot_code: [0; BOOT_CODE_LEN],
            partitions,
        })
    }

    /// Reads the first 512 bytes of `bytes` as an MBR. Never panics.
    ///
    /// Entries of type 0x00 are unused slots whatever their other bytes say.
    pub fn parse(bytes: &[u8]) -> Result<Mbr, MbrError> {
        let sector = bytes
            .get(..SECTOR_SIZE)
            .ok_or(MbrError::Truncated(bytes.len()))?;
        let found = [sector[SIGNATURE_OFFSET], sector[SIGNATURE_OFFSET + 1]];
        if found != SIGNATURE {
            return Err(MbrError::BadSignature { found });
        }
        let mut boot_code = [0; BOOT_CODE_LEN];
        boot_code.copy_from_slice(&sector[..BOOT_CODE_LEN]);
        let mut partitions = [None; PARTITION_SLOTS];
        for (slot, entry) in sector[TABLE_OFFSET..SIGNATURE_OFFSET]
            .chunks_exact(ENTRY_LEN)
            .enumerate()
        {
            let kind = PartitionType(entry[4]);
            if kind == PartitionType::EMPTY {
                continue;
            }
            let active = match entry[0] {
                STATUS_ACTIVE => true,
                STATUS_INACTIVE => false,
                status => return Err(MbrError::BadStatus { slot, status }),
            };
            let lba_start = u32::from_le_bytes([entry[8], entry[9], entry[10], entry[11]]);
            let sectors = u32::from_le_bytes([entry[12], entry[13], entry[14], entry[15]]);
            partitions[slot] = Some(PartitionEntry {
                active,
                kind,
                lba_start,
                sectors,
            });
        }
        validate(&partitions)?;
        Ok(Mbr {
            boot_code,
            partitions,
        })
    }

    /// The 512-byte sector.
    pub fn emit(&self) -> [u8; SECTOR_SIZE] {
        let mut sector = [0; SECTOR_SIZE];
        sector[..BOOT_CODE_LEN].copy_from_slice(&self.boot_code);
        for (slot, entry) in self.partitions.iter().enumerate() {
            let Some(p) = entry else { continue };
            let at = TABLE_OFFSET + slot * ENTRY_LEN;
            let out = &mut sector[at..at + ENTRY_LEN];
            out[0] = if p.active {
                STATUS_ACTIVE
            } else {
                STATUS_INACTIVE
            };
            out[1..4].copy_from_slice(&CHS_LBA);
            out[4] = p.kind.0;
            out[5..8].copy_from_slice(&CHS_LBA);
            out[8..12].copy_from_slice(&p.lba_start.to_le_bytes());
            out[12..16].copy_from_slice(&p.sectors.to_le_bytes());
        }
        sector[SIGNATURE_OFFSET..].copy_from_slice(&SIGNATURE);
        sector
    }

    /// The table, slot by slot (`None` = unused slot).
    pub fn partitions(&self) -> &[Option<PartitionEntry>; PARTITION_SLOTS] {
        &self.partitions
    }

    /// One slot; `None` for an unused or nonexistent slot.
    pub fn partition(&self, slot: usize) -> Option<&PartitionEntry> {
        self.partitions.get(slot).and_then(Option::as_ref)
    }

    /// Replaces one slot, keeping the table valid (the MBR is unchanged on error).
    pub fn set_partition(
        &mut self,
        slot: usize,
        entry: Option<PartitionEntry>,
    ) -> Result<(), MbrError> {
        let mut table = self.partitions;
        *table.get_mut(slot).ok_or(MbrError::NoSuchSlot(slot))? = entry;
        validate(&table)?;
        self.partitions = table;
        Ok(())
    }

    /// The slot of the first hidden Bootworks partition, if any.
    pub fn bootworks_partition(&self) -> Option<usize> {
        self.partitions
            .iter()
            .position(|p| p.is_some_and(|p| p.kind.is_bootworks()))
    }

    /// The slot of the active partition, if any.
    pub fn active_partition(&self) -> Option<usize> {
        self.partitions
            .iter()
            .position(|p| p.is_some_and(|p| p.active))
    }

    /// The boot code area (446 bytes, the flag block among them).
    pub fn boot_code(&self) -> &[u8; BOOT_CODE_LEN] {
        &self.boot_code
    }

    /// Replaces the boot code area (and with it any flag block).
    pub fn set_boot_code(&mut self, code: [u8; BOOT_CODE_LEN]) {
        self.boot_code = code;
    }

    /// The Bootworks boot flag: `Ok(None)` when the boot code holds no pxelab
    /// flag block (a disk AClient never touched boots normally).
    pub fn boot_flag(&self) -> Result<Option<BootFlag>, MbrError> {
        if self.boot_code[BOOT_FLAG_OFFSET..FLAG_STATE] != BOOT_FLAG_MAGIC {
            return Ok(None);
        }
        let state = match self.boot_code[FLAG_STATE] {
            0 => BootFlagState::Normal,
            1 => BootFlagState::Bootworks,
            other => return Err(MbrError::UnknownBootFlagState(other)),
        };
        Ok(Some(BootFlag {
            state,
            attempts: self.boot_code[FLAG_ATTEMPTS],
        }))
    }

    /// Writes the flag block (magic, state, attempts) into the boot code area.
    pub fn set_boot_flag(&mut self, flag: BootFlag) {
        self.boot_code[BOOT_FLAG_OFFSET..FLAG_STATE].copy_from_slice(&BOOT_FLAG_MAGIC);
        self.boot_code[FLAG_STATE] = match flag.state {
            BootFlagState::Normal => 0,
            BootFlagState::Bootworks => 1,
        };
        self.boot_code[FLAG_ATTEMPTS] = flag.attempts;
    }

    /// Clears the flag: the next boot goes to the active partition. The block
    /// stays (state 0, no attempts), as a flag that was used and reset.
    pub fn clear_boot_flag(&mut self) {
        self.set_boot_flag(BootFlag::CLEAR);
    }

    /// Where the next boot goes, as the patent's claim 1 describes it: read the
    /// flag, compare with the known setting, divert to the automation code if
    /// set, else boot normally. An armed flag on a disk without a Bootworks
    /// partition (or an unreadable flag) boots normally: there is nothing to
    /// divert to.
    pub fn boot_target(&self) -> BootTarget {
        let armed = matches!(self.boot_flag(), Ok(Some(flag)) if flag.is_armed());
        if armed && let Some(partition) = self.bootworks_partition() {
            return BootTarget::Bootworks { partition };
        }
        match self.active_partition() {
            Some(partition) => BootTarget::Active { partition },
            None => BootTarget::NothingToBoot,
        }
    }
}

fn validate(table: &[Option<PartitionEntry>; PARTITION_SLOTS]) -> Result<(), MbrError> {
    let mut active: Option<usize> = None;
    for (slot, p) in table.iter().enumerate() {
        let Some(p) = p else { continue };
        if p.kind == PartitionType::EMPTY {
            return Err(MbrError::EmptyType { slot });
        }
        if p.sectors == 0 {
            return Err(MbrError::ZeroLength { slot, kind: p.kind });
        }
        if p.lba_start == 0 {
            return Err(MbrError::OverlapsMbr { slot });
        }
        if p.active {
            if let Some(first) = active {
                return Err(MbrError::MultipleActive {
                    first,
                    second: slot,
                });
            }
            active = Some(slot);
        }
    }
    for (first, a) in table.iter().enumerate() {
        let Some(a) = a else { continue };
        for (second, b) in table.iter().enumerate().skip(first + 1) {
            let Some(b) = b else { continue };
            let (a_start, a_end) = (u64::from(a.lba_start), a.lba_end());
            let (b_start, b_end) = (u64::from(b.lba_start), b.lba_end());
            if a_start < b_end && b_start < a_end {
                return Err(MbrError::Overlap {
                    first,
                    first_start: a_start,
                    first_end: a_end,
                    second,
                    second_start: b_start,
                    second_end: b_end,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(active: bool, kind: u8, lba_start: u32, sectors: u32) -> PartitionEntry {
        PartitionEntry {
            active,
            kind: PartitionType(kind),
            lba_start,
            sectors,
        }
    }

    #[test]
    fn emit_places_fields_where_the_pc_convention_puts_them() {
        let mbr = Mbr::new([Some(entry(true, 0x07, 2048, 4096)), None, None, None]).unwrap();
        let s = mbr.emit();
        assert_eq!(&s[510..], &[0x55, 0xAA]);
        assert_eq!(s[0x1BE], 0x80);
        assert_eq!(&s[0x1BF..0x1C2], &[0xFE, 0xFF, 0xFF]);
        assert_eq!(s[0x1C2], 0x07);
        assert_eq!(&s[0x1C3..0x1C6], &[0xFE, 0xFF, 0xFF]);
        assert_eq!(&s[0x1C6..0x1CA], &2048u32.to_le_bytes());
        assert_eq!(&s[0x1CA..0x1CE], &4096u32.to_le_bytes());
        assert!(s[0x1CE..0x1FE].iter().all(|&b| b == 0));
    }

    #[test]
    fn flag_block_sits_before_the_nt_disk_signature() {
        let mut mbr = Mbr::default();
        mbr.set_boot_flag(BootFlag::armed(2));
        let s = mbr.emit();
        assert_eq!(&s[0x1B0..0x1B6], b"PXBW\x01\x02");
        assert!(s[0x1B6..0x1BE].iter().all(|&b| b == 0));
    }

    #[test]
    fn entries_of_type_zero_are_unused_slots_whatever_else_they_hold() {
        let mut s = Mbr::default().emit();
        s[0x1BE] = 0x42; // garbage status in an unused slot
        s[0x1C6] = 9;
        let mbr = Mbr::parse(&s).unwrap();
        assert_eq!(mbr.partitions(), &[None; 4]);
    }

    #[test]
    fn unknown_flag_state_is_an_error_not_a_guess() {
        let mut code = [0; BOOT_CODE_LEN];
        code[0x1B0..0x1B6].copy_from_slice(b"PXBW\x07\x00");
        let mut mbr = Mbr::default();
        mbr.set_boot_code(code);
        assert_eq!(mbr.boot_flag(), Err(MbrError::UnknownBootFlagState(7)));
        assert_eq!(mbr.boot_target(), BootTarget::NothingToBoot);
    }

    #[test]
    fn set_partition_rejects_what_parse_would_reject_and_keeps_the_table() {
        let mut mbr = Mbr::new([Some(entry(true, 0x07, 2048, 100)), None, None, None]).unwrap();
        let before = mbr.clone();
        assert!(matches!(
            mbr.set_partition(1, Some(entry(false, 0x12, 2100, 10))),
            Err(MbrError::Overlap { .. })
        ));
        assert_eq!(
            mbr.set_partition(1, Some(entry(false, 0, 4096, 10))),
            Err(MbrError::EmptyType { slot: 1 })
        );
        assert_eq!(mbr.set_partition(4, None), Err(MbrError::NoSuchSlot(4)));
        assert_eq!(mbr, before);
    }

    /// Valid tables: up to four partitions laid out with gaps, in any slot
    /// order, at most one active.
    fn valid_mbr() -> impl Strategy<Value = Mbr> {
        (
            prop::collection::vec(any::<u8>(), BOOT_CODE_LEN),
            prop::collection::vec(
                (any::<bool>(), 0u32..1_000_000, 1u32..100_000_000, 1u8..=255),
                4,
            ),
            prop::option::of(0usize..4),
            0usize..4,
        )
            .prop_map(|(code, parts, active, rotate)| {
                let mut table = [None; PARTITION_SLOTS];
                let mut next = 1u32;
                for (i, (used, gap, sectors, kind)) in parts.into_iter().enumerate() {
                    let lba_start = next + gap;
                    next = lba_start + sectors;
                    if used {
                        table[(i + rotate) % 4] = Some(entry(false, kind, lba_start, sectors));
                    }
                }
                if let Some(a) = active
                    && let Some(p) = table[a].as_mut()
                {
                    p.active = true;
                }
                let mut mbr = Mbr::new(table).expect("strategy builds valid tables");
                let mut boot_code = [0; BOOT_CODE_LEN];
                boot_code.copy_from_slice(&code);
                mbr.set_boot_code(boot_code);
                mbr
            })
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(mbr in valid_mbr()) {
            prop_assert_eq!(Mbr::parse(&mbr.emit()), Ok(mbr));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(mbr) = Mbr::parse(&bytes) {
                let _ = mbr.boot_flag();
                let _ = mbr.boot_target();
                prop_assert_eq!(Mbr::parse(&mbr.emit()), Ok(mbr));
            }
        }

        #[test]
        fn signed_sectors_with_random_tables_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 512)) {
            bytes[510] = 0x55;
            bytes[511] = 0xAA;
            if let Ok(mbr) = Mbr::parse(&bytes) {
                prop_assert_eq!(Mbr::parse(&mbr.emit()), Ok(mbr));
            }
        }

        #[test]
        fn flag_survives_emit_parse(mbr in valid_mbr(), armed in any::<bool>(), attempts in any::<u8>()) {
            let mut mbr = mbr;
            let flag = if armed { BootFlag::armed(attempts) } else { BootFlag { state: BootFlagState::Normal, attempts } };
            mbr.set_boot_flag(flag);
            let back = Mbr::parse(&mbr.emit()).unwrap();
            prop_assert_eq!(back.boot_flag(), Ok(Some(flag)));
            prop_assert_eq!(back.partitions(), mbr.partitions());
        }
    }
}
