//! The multicast imaging codec (`wire::multicast`): every message round-trips,
//! golden bytes pin the format, and hostile datagrams (truncated, oversized,
//! bad bitmaps, arbitrary bytes) are errors, never panics.

use proptest::prelude::*;
use pxelab_reference::Mac;
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::multicast::{
    Announce, BlockMap, Data, HEADER_LEN, MAX_BLOCK_LEN, MAX_RECEIVERS, MAX_SLICE_BLOCKS, Message,
    MulticastError, Nak, Packet, SliceEnd, SliceOk,
};

const MODES: [ParseMode; 2] = [ParseMode::Strict, ParseMode::Lax];

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn bytes(p: &Packet) -> Vec<u8> {
    p.to_bytes().expect("packet within limits")
}

const M: Mac = Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56]);

#[test]
fn golden_bytes() {
    let mut missing = BlockMap::new(10).unwrap();
    missing.insert(0).unwrap();
    missing.insert(9).unwrap();
    let cases = [
        (
            Packet::new(
                7,
                Message::Announce(Announce {
                    image_name: "xp".into(),
                    image_size: 0x10_0000,
                    sha256: [0xab; 32],
                    block_len: 1456,
                    slice_blocks: 256,
                }),
            ),
            hex("504d 01 01 00000007 0000000000100000
                 abababababababababababababababababababababababababababababababab
                 05b0 0100 02 7870"),
        ),
        (
            Packet::new(7, Message::Join(M)),
            hex("504d 01 02 00000007 525400123456"),
        ),
        (
            Packet::new(7, Message::Start(vec![M, Mac([1; 6])])),
            hex("504d 01 03 00000007 0002 525400123456 010101010101"),
        ),
        (
            Packet::new(
                7,
                Message::Data(Data {
                    slice: 2,
                    block: 3,
                    payload: vec![0xde, 0xad],
                }),
            ),
            hex("504d 01 04 00000007 00000002 0003 dead"),
        ),
        (
            Packet::new(
                7,
                Message::SliceEnd(SliceEnd {
                    slice: 2,
                    round: 1,
                    blocks: 10,
                }),
            ),
            hex("504d 01 05 00000007 00000002 0001 000a"),
        ),
        (
            Packet::new(
                7,
                Message::Nak(Nak {
                    receiver: M,
                    slice: 2,
                    round: 1,
                    missing,
                }),
            ),
            hex("504d 01 06 00000007 525400123456 00000002 0001 000a 8040"),
        ),
        (
            Packet::new(
                7,
                Message::SliceOk(SliceOk {
                    receiver: M,
                    slice: 2,
                    round: 1,
                }),
            ),
            hex("504d 01 07 00000007 525400123456 00000002 0001"),
        ),
        (Packet::new(7, Message::Done), hex("504d 01 08 00000007")),
    ];
    for (packet, wire) in cases {
        assert_eq!(bytes(&packet), wire, "{packet:?}");
        assert_eq!(packet.encoded_len(), wire.len());
        for mode in MODES {
            assert_eq!(Packet::parse(&wire, mode), Ok(packet.clone()));
        }
    }
}

#[test]
fn header_errors_say_what_is_wrong() {
    assert_eq!(
        Packet::parse(b"PM\x01", ParseMode::Lax),
        Err(MulticastError::ShortHeader(3))
    );
    assert_eq!(
        Packet::parse(b"PX\x01\x08\0\0\0\x07", ParseMode::Lax),
        Err(MulticastError::BadMagic(*b"PX"))
    );
    assert_eq!(
        Packet::parse(b"PM\x02\x08\0\0\0\x07", ParseMode::Lax),
        Err(MulticastError::UnsupportedVersion(2))
    );
    assert_eq!(
        Packet::parse(b"PM\x01\x99\0\0\0\x07", ParseMode::Lax),
        Err(MulticastError::UnknownMessageType(0x99))
    );
}

#[test]
fn trailing_bytes_are_strict_errors_and_lax_ignores_them() {
    let mut wire = bytes(&Packet::new(1, Message::Join(M)));
    wire.push(0);
    assert!(matches!(
        Packet::parse(&wire, ParseMode::Strict),
        Err(MulticastError::TrailingBytes { count: 1, .. })
    ));
    assert_eq!(
        Packet::parse(&wire, ParseMode::Lax),
        Ok(Packet::new(1, Message::Join(M)))
    );
}

#[test]
fn bad_bitmaps_are_refused() {
    let nak = |blocks: u16, bitmap: &[u8]| {
        let mut w = hex("504d 01 06 00000001 525400123456 00000000 0000");
        w.extend_from_slice(&blocks.to_be_bytes());
        w.extend_from_slice(bitmap);
        w
    };
    // No blocks, or more than a slice holds.
    assert_eq!(
        Packet::parse(&nak(0, &[]), ParseMode::Lax),
        Err(MulticastError::BadSliceBlocks(0))
    );
    assert_eq!(
        Packet::parse(&nak(MAX_SLICE_BLOCKS + 1, &[0xff; 129]), ParseMode::Lax),
        Err(MulticastError::BadSliceBlocks(MAX_SLICE_BLOCKS + 1))
    );
    // A bitmap shorter than its block count says.
    assert!(matches!(
        Packet::parse(&nak(10, &[0xff]), ParseMode::Lax),
        Err(MulticastError::Truncated {
            field: "bitmap",
            ..
        })
    ));
    // Padding bits set: strict refuses, lax clears them.
    assert_eq!(
        Packet::parse(&nak(10, &[0x00, 0x01]), ParseMode::Strict),
        Err(MulticastError::PaddingBits { blocks: 10 })
    );
    let Ok(Packet {
        message: Message::Nak(n),
        ..
    }) = Packet::parse(&nak(10, &[0x00, 0x41]), ParseMode::Lax)
    else {
        panic!("lax parses a padded bitmap");
    };
    assert_eq!(n.missing.iter().collect::<Vec<_>>(), vec![9]);
}

#[test]
fn oversized_fields_are_refused_both_ways() {
    let too_many = Packet::new(1, Message::Start(vec![M; MAX_RECEIVERS + 1]));
    assert_eq!(
        too_many.to_bytes(),
        Err(MulticastError::TooManyReceivers(MAX_RECEIVERS + 1))
    );
    let mut wire = hex("504d 01 03 00000001");
    wire.extend_from_slice(&(MAX_RECEIVERS as u16 + 1).to_be_bytes());
    wire.extend(std::iter::repeat_n(0u8, 6 * (MAX_RECEIVERS + 1)));
    assert_eq!(
        Packet::parse(&wire, ParseMode::Lax),
        Err(MulticastError::TooManyReceivers(MAX_RECEIVERS + 1))
    );
    let big = Packet::new(
        1,
        Message::Data(Data {
            slice: 0,
            block: 0,
            payload: vec![0; usize::from(MAX_BLOCK_LEN) + 1],
        }),
    );
    assert!(matches!(
        big.to_bytes(),
        Err(MulticastError::BadPayloadLen(_))
    ));
    let mut wire = hex("504d 01 04 00000001 00000000 0000");
    wire.extend(std::iter::repeat_n(0u8, usize::from(MAX_BLOCK_LEN) + 1));
    assert!(matches!(
        Packet::parse(&wire, ParseMode::Lax),
        Err(MulticastError::BadPayloadLen(_))
    ));
    // An empty Data is not a block.
    assert_eq!(
        Packet::parse(&hex("504d 01 04 00000001 00000000 0000"), ParseMode::Lax),
        Err(MulticastError::BadPayloadLen(0))
    );
    let mut announce = Announce {
        image_name: "x".repeat(256),
        image_size: 1,
        sha256: [0; 32],
        block_len: 1456,
        slice_blocks: 256,
    };
    assert_eq!(
        Packet::new(1, Message::Announce(announce.clone())).to_bytes(),
        Err(MulticastError::BadNameLen(256))
    );
    announce.image_name = "x".into();
    announce.block_len = 512;
    assert_eq!(
        Packet::new(1, Message::Announce(announce)).to_bytes(),
        Err(MulticastError::BadBlockLen(512))
    );
}

fn arb_mac() -> impl Strategy<Value = Mac> {
    any::<[u8; 6]>().prop_map(Mac)
}

fn arb_map() -> impl Strategy<Value = BlockMap> {
    (1..=MAX_SLICE_BLOCKS)
        .prop_flat_map(|n| (Just(n), proptest::collection::vec(0..n, 0..64)))
        .prop_map(|(n, set)| {
            let mut m = BlockMap::new(n).expect("1..=MAX");
            for b in set {
                m.insert(b).expect("in range");
            }
            m
        })
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (
            "[a-z0-9._-]{1,40}",
            any::<u64>(),
            any::<[u8; 32]>(),
            1024u16..=8192,
            1..=MAX_SLICE_BLOCKS
        )
            .prop_map(
                |(image_name, image_size, sha256, block_len, slice_blocks)| {
                    Message::Announce(Announce {
                        image_name,
                        image_size,
                        sha256,
                        block_len,
                        slice_blocks,
                    })
                }
            ),
        arb_mac().prop_map(Message::Join),
        proptest::collection::vec(arb_mac(), 0..20).prop_map(Message::Start),
        (
            any::<u32>(),
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 1..300)
        )
            .prop_map(|(slice, block, payload)| Message::Data(Data {
                slice,
                block,
                payload
            })),
        (any::<u32>(), any::<u16>(), 1..=MAX_SLICE_BLOCKS).prop_map(|(slice, round, blocks)| {
            Message::SliceEnd(SliceEnd {
                slice,
                round,
                blocks,
            })
        }),
        (arb_mac(), any::<u32>(), any::<u16>(), arb_map()).prop_map(
            |(receiver, slice, round, missing)| Message::Nak(Nak {
                receiver,
                slice,
                round,
                missing
            })
        ),
        (arb_mac(), any::<u32>(), any::<u16>()).prop_map(|(receiver, slice, round)| {
            Message::SliceOk(SliceOk {
                receiver,
                slice,
                round,
            })
        }),
        Just(Message::Done),
    ]
}

proptest! {
    #[test]
    fn every_message_round_trips(session in any::<u32>(), message in arb_message()) {
        let p = Packet::new(session, message);
        let wire = bytes(&p);
        prop_assert_eq!(wire.len(), p.encoded_len());
        for mode in MODES {
            prop_assert_eq!(Packet::parse(&wire, mode), Ok(p.clone()));
        }
    }

    #[test]
    fn every_truncation_is_an_error(session in any::<u32>(), message in arb_message()) {
        let p = Packet::new(session, message);
        let wire = bytes(&p);
        // Data's payload is "the rest", so cutting into it is a shorter block;
        // every cut into the fixed fields must be refused.
        let fixed = match &p.message {
            Message::Data(_) => HEADER_LEN + 6 + 1,
            _ => wire.len(),
        };
        for cut in 0..fixed {
            for mode in MODES {
                prop_assert!(Packet::parse(&wire[..cut], mode).is_err(), "cut at {}", cut);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for mode in MODES {
            if let Ok(p) = Packet::parse(&data, mode) {
                // Whatever parses re-emits and parses strictly to itself.
                let wire = bytes(&p);
                prop_assert_eq!(Packet::parse(&wire, ParseMode::Strict), Ok(p));
            }
        }
    }

    #[test]
    fn arbitrary_bodies_behind_a_valid_header_never_panic(
        msg_type in 0u8..10,
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut data = hex("504d 01");
        data.push(msg_type);
        data.extend_from_slice(&[0, 0, 0, 1]);
        data.extend_from_slice(&body);
        for mode in MODES {
            if let Ok(p) = Packet::parse(&data, mode) {
                let wire = bytes(&p);
                prop_assert_eq!(Packet::parse(&wire, ParseMode::Strict), Ok(p));
            }
        }
    }
}
