//! Whatever arrives on the wire, neither multicast machine panics, everything
//! they send parses strictly, neither asks to be woken at `now` forever, and
//! both end within bounded (virtual) time. The same driver runs as the
//! `multicast` fuzz target (fuzz/fuzz_targets/multicast.rs) for coverage-guided
//! runs.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use proptest::prelude::*;
use pxelab_reference::agent::{BootDisk, MemoryDisk};
use pxelab_reference::deploy::MemoryImages;
use pxelab_reference::multicast::{
    MulticastReceiver, MulticastSender, ReceiverConfig, ReceiverEvent, SenderConfig,
};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::agent::ImageRef;
use pxelab_reference::wire::multicast::{Announce, Data, Message, Packet, SliceEnd, SliceOk};
use pxelab_reference::{Datagram, Instant, Mac, Transmit};
use sha2::{Digest, Sha256};

const SENDER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 9000);
const GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 255, 80, 88), 9001);
const RECEIVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 10), 9001);
const STRANGER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 66), 9000);
const RX_MAC: Mac = Mac([0x52, 0x54, 0, 0, 0, 0x10]);
const IMAGE: &str = "img";
/// Upper bound on wake-ups at one instant (as the fuzz targets' MAX_TIMEOUT_ROUNDS).
const MAX_TIMEOUT_ROUNDS: usize = 1000;

fn tick_delay(tick: u8) -> Duration {
    const SCALE: [Duration; 8] = [
        Duration::ZERO,
        Duration::from_millis(1),
        Duration::from_millis(100),
        Duration::from_millis(500),
        Duration::from_secs(1),
        Duration::from_secs(10),
        Duration::from_secs(31),
        Duration::from_secs(3601),
    ];
    SCALE[usize::from(tick & 7)]
}

fn image() -> Vec<u8> {
    (0..3000).map(|i| (i % 251) as u8).collect()
}

struct Rig {
    now: Instant,
    sender: MulticastSender,
    receiver: MulticastReceiver,
    disk: MemoryDisk,
    images: MemoryImages,
}

impl Rig {
    /// Configuration bits: 0 two receivers needed (so the sender starts only
    /// at max_wait), 1 at most two repair rounds, 2 paced Data.
    fn new(cfg: u8) -> Rig {
        let data = image();
        let mut images = MemoryImages::new();
        images.insert(IMAGE, data.clone());
        let image = ImageRef {
            name: IMAGE.into(),
            size: data.len() as u64,
            sha256: Sha256::digest(&data).into(),
        };
        let sender_cfg = SenderConfig {
            session: 7,
            control: SENDER,
            group: GROUP,
            block_len: 1024,
            slice_blocks: 2,
            min_receivers: 1 + usize::from(cfg & 1),
            max_wait: Duration::from_secs(20),
            max_silent_rounds: 3,
            max_rounds: if cfg & 2 != 0 { 2 } else { 100 },
            packet_interval: if cfg & 4 != 0 {
                Duration::from_millis(1)
            } else {
                Duration::ZERO
            },
            ..SenderConfig::default()
        };
        let receiver_cfg = ReceiverConfig {
            local: RECEIVER,
            image: IMAGE.into(),
            ..ReceiverConfig::default()
        };
        Rig {
            now: Instant::ZERO,
            sender: MulticastSender::new(sender_cfg, image, Instant::ZERO).expect("valid config"),
            receiver: MulticastReceiver::new(receiver_cfg, RX_MAC, Instant::ZERO),
            disk: MemoryDisk::with_layout(8, None).expect("small disk"),
            images,
        }
    }

    fn deliver_to_receiver(&mut self, src: SocketAddrV4, payload: &[u8]) {
        let dgram = Datagram {
            src,
            dst: GROUP,
            src_mac: Mac([0x52, 0x54, 0, 0, 0, 1]),
            payload,
        };
        self.receiver
            .handle_datagram(self.now, dgram, &mut self.disk);
    }

    fn deliver_to_sender(&mut self, src: SocketAddrV4, payload: &[u8]) {
        let dgram = Datagram {
            src,
            dst: SENDER,
            src_mac: RX_MAC,
            payload,
        };
        self.sender.handle_datagram(self.now, dgram);
    }

    /// Moves datagrams between the two until both are quiet.
    fn pump(&mut self) {
        for _ in 0..100_000 {
            let mut moved = false;
            while let Some(t) = self.sender.poll_transmit(&self.images) {
                moved = true;
                check(&t);
                assert_eq!(t.dst, GROUP, "the sender only talks to the group");
                self.deliver_to_receiver(t.src, &t.payload);
            }
            while let Some(t) = self.receiver.poll_transmit() {
                moved = true;
                check(&t);
                if t.dst == SENDER {
                    self.deliver_to_sender(RECEIVER, &t.payload);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the machines never stop talking at {}", self.now);
    }

    /// Runs every timer due at `now`, bounded: a machine that keeps asking to
    /// be woken at or before `now` would spin its driver.
    fn timers(&mut self) {
        for _ in 0..MAX_TIMEOUT_ROUNDS {
            let due = |t: Option<Instant>| t.is_some_and(|t| t <= self.now);
            let (s, r) = (self.sender.poll_timeout(), self.receiver.poll_timeout());
            if !due(s) && !due(r) {
                return;
            }
            if due(s) {
                self.sender.handle_timeout(self.now);
            }
            if due(r) {
                self.receiver.handle_timeout(self.now);
            }
            self.pump();
        }
        panic!(
            "a machine asks to be woken at or before {} forever",
            self.now
        );
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.timers();
    }

    /// Lets time run until both machines are done; they must be, within a day.
    fn finish(&mut self) {
        let limit = self.now + Duration::from_secs(86_400);
        while let Some(next) = [self.sender.poll_timeout(), self.receiver.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        {
            assert!(next <= limit, "still waiting a day later");
            self.now = self.now.max(next);
            self.timers();
        }
        assert!(self.sender.is_finished(), "{:?}", self.sender);
        assert!(self.receiver.is_finished(), "{:?}", self.receiver);
        while self.sender.poll_event().is_some() {}
        while let Some(e) = self.receiver.poll_event() {
            if let ReceiverEvent::Verified { image, partition } = e {
                assert_eq!(
                    self.disk.partition_sha256(partition, image.size),
                    Ok(image.sha256),
                    "verified, but the partition is not the image"
                );
            }
        }
    }
}

fn check(t: &Transmit) {
    if let Err(e) = Packet::parse(&t.payload, ParseMode::Strict) {
        panic!("a machine sent a datagram the strict parser refuses: {e}");
    }
}

/// Record `ctl` bits: 0 to the receiver (else to the sender), 1 from a
/// stranger's address (else from the peer's).
fn drive(cfg: u8, records: &[(u8, u8, Vec<u8>)]) {
    let mut rig = Rig::new(cfg);
    rig.pump();
    for (ctl, tick, payload) in records {
        rig.advance(tick_delay(*tick));
        let to_receiver = ctl & 1 != 0;
        let src = match (ctl & 2 != 0, to_receiver) {
            (true, _) => STRANGER,
            (false, true) => SENDER,
            (false, false) => RECEIVER,
        };
        if to_receiver {
            rig.deliver_to_receiver(src, payload);
        } else {
            rig.deliver_to_sender(src, payload);
        }
        rig.pump();
    }
    rig.finish();
}

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
        drive(cfg, &records);
    }
}

#[test]
fn an_undisturbed_session_ends_verified() {
    let mut rig = Rig::new(4);
    rig.pump();
    rig.finish();
    assert_eq!(
        rig.disk.partition_sha256(0, 3000),
        Ok(Sha256::digest(image()).into())
    );
}
