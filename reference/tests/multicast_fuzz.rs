//! Whatever arrives on the wire, neither multicast machine panics, everything
//! they send parses strictly, neither asks to be woken at `now` forever, and
//! both end within bounded (virtual) time. The same driver runs as the
//! `multicast` fuzz target (fuzz/src/targets/multicast.rs) for coverage-guided
//! runs.

mod multicast_rig;

use multicast_rig::{IMAGE, IMAGE_LEN, RX_MAC, Rig, image};
use proptest::prelude::*;
use pxelab_reference::Mac;
use pxelab_reference::agent::BootDisk;
use pxelab_reference::wire::multicast::{Announce, Data, Message, Packet, SliceEnd, SliceOk};
use sha2::{Digest, Sha256};

fn packet_bytes(session: u32, m: Message) -> Vec<u8> {
    Packet::new(session, m).to_bytes().unwrap_or_default()
}

/// Datagrams worth sending: raw bytes, arbitrary bodies behind a valid
/// header, and well-formed messages with small fields (so that they hit this
/// session's slices and blocks).
fn payload() -> impl Strategy<Value = Vec<u8>> {
    let session = prop_oneof![Just(7u32), any::<u32>()];
    let mac = prop_oneof![Just(RX_MAC), any::<[u8; 6]>().prop_map(Mac)];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        (0u8..10, prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(t, body)| {
            let mut p = b"PM\x01".to_vec();
            p.push(t);
            p.extend_from_slice(&7u32.to_be_bytes());
            p.extend_from_slice(&body);
            p
        }),
        (session.clone(), mac.clone()).prop_map(|(s, m)| packet_bytes(s, Message::Join(m))),
        (session.clone(), prop::collection::vec(mac.clone(), 0..3))
            .prop_map(|(s, m)| packet_bytes(s, Message::Start(m))),
        (
            session.clone(),
            0u32..3,
            0u16..3,
            prop::collection::vec(any::<u8>(), 1..1100)
        )
            .prop_map(|(s, slice, block, payload)| packet_bytes(
                s,
                Message::Data(Data {
                    slice,
                    block,
                    payload
                })
            )),
        (session.clone(), 0u32..3, 0u16..3, 1u16..3).prop_map(|(s, slice, round, blocks)| {
            packet_bytes(
                s,
                Message::SliceEnd(SliceEnd {
                    slice,
                    round,
                    blocks,
                }),
            )
        }),
        (session.clone(), mac, 0u32..3, 0u16..3).prop_map(|(s, receiver, slice, round)| {
            packet_bytes(
                s,
                Message::SliceOk(SliceOk {
                    receiver,
                    slice,
                    round,
                }),
            )
        }),
        (session.clone(), 0u64..5000, 1024u16..1100, 1u16..4).prop_map(
            |(s, image_size, block_len, slice_blocks)| packet_bytes(
                s,
                Message::Announce(Announce {
                    image_name: IMAGE.into(),
                    image_size,
                    sha256: [0; 32],
                    block_len,
                    slice_blocks,
                })
            )
        ),
        session.prop_map(|s| packet_bytes(s, Message::Done)),
    ]
}

proptest! {
    #[test]
    fn hostile_datagrams_never_panic_and_both_machines_end(
        cfg in any::<u8>(),
        records in prop::collection::vec((any::<u8>(), any::<u8>(), payload()), 0..24),
    ) {
        multicast_rig::drive(cfg, records.iter().map(|(c, t, p)| (*c, *t, p.as_slice())));
    }
}

#[test]
fn an_undisturbed_session_ends_verified() {
    let mut rig = Rig::new(4);
    rig.pump();
    rig.finish();
    assert_eq!(
        rig.disk.partition_sha256(0, IMAGE_LEN as u64),
        Ok(Sha256::digest(image()).into())
    );
}
