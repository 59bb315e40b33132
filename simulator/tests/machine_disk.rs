//! The simulated disk as the deployment plane uses it: an MBR with a hidden
//! Bootworks partition and the boot flag AClient sets, images streamed into a
//! partition chunk by chunk, and byte-for-byte verification that finds a bad
//! chunk where it is.

use pxelab_simulator::machine::disk::{
    Disk, DiskError, ImageContent, PartitionKind, PartitionSpec, VerifyError,
};
use pxelab_simulator::machine::mbr::{
    BootFlag, BootFlagState, BootTarget, Mbr, MbrError, PartitionEntry, PartitionType,
};
use sha2::{Digest, Sha256};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn lab_disk() -> Disk {
    Disk::with_layout(
        4 * GIB,
        &[
            PartitionSpec {
                kind: PartitionKind::Os,
                size: 3 * GIB,
            },
            PartitionSpec {
                kind: PartitionKind::HiddenBootworks,
                size: 64 * MIB,
            },
        ],
    )
    .unwrap()
}

#[test]
fn os_and_hidden_bootworks_partitions_make_a_valid_mbr() {
    let disk = lab_disk();
    let sector0 = disk.read(0, 512).unwrap();
    assert_eq!(&sector0[510..], &[0x55, 0xAA]);
    let mbr = Mbr::parse(&sector0).unwrap();
    let os = mbr.partition(0).unwrap();
    let bw = mbr.partition(1).unwrap();
    assert_eq!(
        (os.active, os.kind, os.lba_start),
        (true, PartitionType::NTFS, 2048)
    );
    assert_eq!(os.byte_len(), 3 * GIB);
    assert_eq!(
        (bw.active, bw.kind),
        (false, PartitionType::HIDDEN_BOOTWORKS)
    );
    assert!(
        u64::from(bw.lba_start) >= os.lba_end(),
        "partitions overlap"
    );
    assert_eq!(u64::from(bw.lba_start) % 2048, 0, "not 1 MiB aligned");
    assert_eq!(mbr.bootworks_partition(), Some(1));
    assert_eq!(disk.boot_flag(), Ok(None));
    assert_eq!(mbr.boot_target(), BootTarget::Active { partition: 0 });
}

#[test]
fn a_layout_that_does_not_fit_is_refused() {
    let err = Disk::with_layout(
        GIB,
        &[PartitionSpec {
            kind: PartitionKind::Os,
            size: GIB,
        }],
    )
    .unwrap_err();
    assert!(matches!(err, DiskError::LayoutTooLarge { .. }), "{err}");
    let five = [PartitionSpec {
        kind: PartitionKind::Os,
        size: MIB,
    }; 5];
    assert_eq!(
        Disk::with_layout(GIB, &five).unwrap_err(),
        DiskError::TooManyPartitions(5)
    );
}

#[test]
fn the_flag_aclient_sets_sends_the_next_boot_to_bootworks_until_cleared() {
    let mut disk = lab_disk();
    disk.set_boot_flag(BootFlag::armed(1)).unwrap();
    let mbr = Mbr::parse(&disk.read(0, 512).unwrap()).unwrap();
    assert_eq!(
        mbr.boot_flag(),
        Ok(Some(BootFlag {
            state: BootFlagState::Bootworks,
            attempts: 1
        }))
    );
    assert_eq!(mbr.boot_target(), BootTarget::Bootworks { partition: 1 });
    // The table is untouched by the flag.
    assert_eq!(mbr.partitions(), lab_disk().mbr().unwrap().partitions());

    disk.clear_boot_flag().unwrap();
    let back = Mbr::parse(&disk.read(0, 512).unwrap()).unwrap();
    assert_eq!(back.boot_flag(), Ok(Some(BootFlag::CLEAR)));
    assert_eq!(back.partitions(), mbr.partitions());
    assert_eq!(disk.boot_target(), Ok(BootTarget::Active { partition: 0 }));
}

#[test]
fn an_armed_flag_without_a_bootworks_partition_boots_the_os() {
    let mut disk = Disk::with_layout(
        GIB,
        &[PartitionSpec {
            kind: PartitionKind::Os,
            size: 512 * MIB,
        }],
    )
    .unwrap();
    disk.set_boot_flag(BootFlag::armed(0)).unwrap();
    assert_eq!(
        disk.mbr().unwrap().boot_target(),
        BootTarget::Active { partition: 0 }
    );
}

#[test]
fn mbr_errors_say_what_is_wrong() {
    let p = |active, lba_start, sectors| PartitionEntry {
        active,
        kind: PartitionType::NTFS,
        lba_start,
        sectors,
    };
    let good = Mbr::new([Some(p(true, 2048, 100)), None, None, None])
        .unwrap()
        .emit();

    let mut blank = good;
    blank[510] = 0;
    blank[511] = 0;
    assert_eq!(
        Mbr::parse(&blank),
        Err(MbrError::BadSignature { found: [0, 0] })
    );
    assert_eq!(Mbr::parse(&good[..100]), Err(MbrError::Truncated(100)));

    // A second entry on top of the first one.
    let mut overlap = good;
    overlap.copy_within(0x1BE..0x1CE, 0x1CE);
    overlap[0x1CE] = 0x00;
    overlap[0x1DE - 8..0x1DE - 4].copy_from_slice(&2100u32.to_le_bytes());
    let err = Mbr::parse(&overlap).unwrap_err();
    assert_eq!(
        err,
        MbrError::Overlap {
            first: 0,
            first_start: 2048,
            first_end: 2148,
            second: 1,
            second_start: 2100,
            second_end: 2200
        }
    );
    assert!(err.to_string().contains("overlap"));

    // Two active partitions, disjoint.
    let mut two_active = overlap;
    two_active[0x1CE] = 0x80;
    two_active[0x1DE - 8..0x1DE - 4].copy_from_slice(&4096u32.to_le_bytes());
    assert_eq!(
        Mbr::parse(&two_active),
        Err(MbrError::MultipleActive {
            first: 0,
            second: 1
        })
    );

    let mut bad_status = good;
    bad_status[0x1BE] = 0x81;
    assert_eq!(
        Mbr::parse(&bad_status),
        Err(MbrError::BadStatus {
            slot: 0,
            status: 0x81
        })
    );

    let mut zero_len = good;
    zero_len[0x1CA..0x1CE].fill(0);
    assert!(matches!(
        Mbr::parse(&zero_len),
        Err(MbrError::ZeroLength { slot: 0, .. })
    ));

    let mut at_zero = good;
    at_zero[0x1C6..0x1CA].fill(0);
    assert_eq!(Mbr::parse(&at_zero), Err(MbrError::OverlapsMbr { slot: 0 }));

    let mut disk = lab_disk();
    disk.write(510, &[0, 0]).unwrap();
    assert!(matches!(
        disk.partition_range(0),
        Err(DiskError::Mbr(MbrError::BadSignature { .. }))
    ));
}

#[test]
fn a_2_gib_image_streamed_in_1_mib_chunks_verifies_and_is_held_as_one_extent() {
    let image = ImageContent::new(0x5EED, 2 * GIB);
    let mut disk = lab_disk();
    for chunk in 0..image.size() / MIB {
        disk.write_image_chunk(0, chunk * MIB, MIB, &image).unwrap();
    }
    assert_eq!(disk.verify_partition_against(0, &image), Ok(()));
    // The MBR sector and one extent referring to the image: 2048 contiguous
    // chunks merged, no image byte held in memory.
    assert_eq!(disk.extent_count(), 2);
    assert_eq!(disk.stored_bytes(), 512);
    // What a reader of the disk sees is the image.
    let base = disk.partition_range(0).unwrap().start;
    let probe = GIB + 12_345;
    assert_eq!(disk.read(base + probe, 64).unwrap(), image.bytes(probe, 64));
}

#[test]
fn chunks_arriving_out_of_order_verify_too() {
    let image = ImageContent::new(9, 64 * MIB);
    let mut disk = lab_disk();
    let chunks = image.size() / MIB;
    // Odd chunks first, then even ones, backwards: a multicast receiver
    // repairing what it missed.
    for chunk in (0..chunks).filter(|c| c % 2 == 1) {
        disk.write_image_chunk(0, chunk * MIB, MIB, &image).unwrap();
    }
    assert!(disk.verify_partition_against(0, &image).is_err());
    for chunk in (0..chunks).filter(|c| c % 2 == 0).rev() {
        disk.write_image_chunk(0, chunk * MIB, MIB, &image).unwrap();
    }
    assert_eq!(disk.verify_partition_against(0, &image), Ok(()));
    assert_eq!(disk.extent_count(), 2);
}

#[test]
fn a_corrupted_chunk_is_found_at_its_offset() {
    let image = ImageContent::new(0x5EED, 2 * GIB);
    let mut disk = lab_disk();
    disk.apply_image(&image, 0).unwrap();
    let base = disk.partition_range(0).unwrap().start;
    let bad = 1234 * MIB + 777;
    disk.corrupt(base + bad).unwrap();
    let want = image.bytes(bad, 1)[0];
    assert_eq!(
        disk.verify_partition_against(0, &image),
        Err(VerifyError::Mismatch {
            first_bad_offset: bad,
            expected: want,
            found: !want
        })
    );
    // Rewriting the chunk repairs it.
    disk.write_image_chunk(0, 1234 * MIB, MIB, &image).unwrap();
    assert_eq!(disk.verify_partition_against(0, &image), Ok(()));
    assert_eq!(disk.extent_count(), 2);
}

#[test]
fn a_missing_chunk_or_a_chunk_at_the_wrong_place_fails_verification() {
    let image = ImageContent::new(1, 16 * MIB);
    let mut disk = lab_disk();
    for chunk in (0..16).filter(|&c| c != 5) {
        disk.write_image_chunk(0, chunk * MIB, MIB, &image).unwrap();
    }
    let Err(VerifyError::Mismatch {
        first_bad_offset, ..
    }) = disk.verify_partition_against(0, &image)
    else {
        panic!("a never-written chunk verified");
    };
    assert!((5 * MIB..5 * MIB + 16).contains(&first_bad_offset));

    // Chunk 6's bytes written where chunk 5 belongs.
    disk.write_image_range(0, 5 * MIB, 6 * MIB, MIB, &image)
        .unwrap();
    let Err(VerifyError::Mismatch {
        first_bad_offset, ..
    }) = disk.verify_partition_against(0, &image)
    else {
        panic!("a misplaced chunk verified");
    };
    assert!((5 * MIB..5 * MIB + 16).contains(&first_bad_offset));
}

#[test]
fn another_image_does_not_verify_and_images_of_different_seeds_differ() {
    let a = ImageContent::new(1, 8 * MIB);
    let b = ImageContent::new(2, 8 * MIB);
    assert_ne!(a.bytes(0, 4096), b.bytes(0, 4096));
    assert_ne!(a.sha256(), b.sha256());
    // Same seed, same bytes: content is a function of the seed alone.
    assert_eq!(
        a.bytes(MIB, 4096),
        ImageContent::new(1, 9 * MIB).bytes(MIB, 4096)
    );

    let mut disk = lab_disk();
    disk.apply_image(&b, 0).unwrap();
    assert!(matches!(
        disk.verify_partition_against(0, &a),
        Err(VerifyError::Mismatch {
            first_bad_offset: 0..16,
            ..
        })
    ));
}

#[test]
fn an_image_larger_than_its_partition_is_refused() {
    let mut disk = lab_disk();
    let image = ImageContent::new(1, 65 * MIB);
    assert!(matches!(
        disk.apply_image(&image, 1),
        Err(DiskError::ImageTooLarge { partition: 1, .. })
    ));
    assert_eq!(
        disk.apply_image(&image, 2),
        Err(DiskError::NoSuchPartition(2))
    );
    assert!(matches!(
        disk.write_image_chunk(0, 65 * MIB - 10, 11, &image),
        Err(DiskError::ChunkOutsideImage { .. })
    ));
    assert!(matches!(
        disk.write_image_chunk(1, 64 * MIB - 10, 11, &image),
        Err(DiskError::ChunkOutsidePartition { partition: 1, .. })
    ));
    // Nothing was recorded by the refused writes.
    assert_eq!(disk.extent_count(), 1);
}

#[test]
fn sha256_streams_the_same_digest_as_the_materialised_bytes() {
    for size in [0, 1, 4095, 4096, 4097, 3 * 4096 + 17, 1 << 20] {
        let image = ImageContent::new(42, size);
        let want: [u8; 32] = Sha256::digest(image.to_vec()).into();
        assert_eq!(image.sha256(), want, "size {size}");
        assert_eq!(image.sha256(), want, "cached, size {size}");
        assert_eq!(image.sha256_hex().len(), 64);
    }
}

#[test]
fn the_partition_checksum_is_the_image_checksum_until_a_byte_changes() {
    let image = ImageContent::new(77, 3 * MIB + 100);
    let mut disk = lab_disk();
    for chunk in 0..4 {
        let len = (image.size() - chunk * MIB).min(MIB);
        disk.write_image_chunk(0, chunk * MIB, len, &image).unwrap();
    }
    assert_eq!(disk.partition_sha256(0, image.size()), Ok(image.sha256()));
    // The same digest when computed the long way: a partition holding the
    // image as literal bytes.
    let mut copy = lab_disk();
    let base = copy.partition_range(0).unwrap().start;
    copy.write(base, &image.to_vec()).unwrap();
    assert_eq!(copy.partition_sha256(0, image.size()), Ok(image.sha256()));

    disk.corrupt(base + 2 * MIB).unwrap();
    assert_ne!(disk.partition_sha256(0, image.size()), Ok(image.sha256()));
    // A prefix of the image is not the image.
    let mut short = lab_disk();
    short.apply_image(&image, 0).unwrap();
    assert_ne!(short.partition_sha256(0, MIB), Ok(image.sha256()));
    assert_eq!(
        short.partition_sha256(0, MIB),
        Ok(Sha256::digest(image.bytes(0, MIB as usize)).into())
    );
}
