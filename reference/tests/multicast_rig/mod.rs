//! The driver both hostile-input runs of the multicast protocol use: the
//! `multicast` fuzz target (fuzz/src/targets/multicast.rs, which includes
//! this file; CI runs it briefly through fuzz/examples/smoke.rs) and its
//! proptest twin (reference/tests/multicast_fuzz.rs). One sender and one
//! receiver talk to each other over a perfect link while arbitrary datagrams
//! are thrown at either; see [`drive`].
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pxelab_reference::agent::{BootDisk, MemoryDisk};
use pxelab_reference::deploy::MemoryImages;
use pxelab_reference::multicast::{
    MulticastReceiver, MulticastSender, ReceiverConfig, ReceiverEvent, SenderConfig,
};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::agent::ImageRef;
use pxelab_reference::wire::multicast::Packet;
use pxelab_reference::{Datagram, Instant, Mac, Transmit};

/// Upper bound on wake-ups at one instant: a machine that keeps asking to be
/// woken at or before `now` would spin its driver.
pub const MAX_TIMEOUT_ROUNDS: usize = 1000;

/// A record's `tick` as a step of the clock: from nothing to over an hour.
pub fn tick_delay(tick: u8) -> Duration {
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

pub const SENDER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 9000);
pub const GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 255, 80, 88), 9001);
pub const RECEIVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 10), 9001);
pub const STRANGER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 66), 9000);
pub const RX_MAC: Mac = Mac([0x52, 0x54, 0, 0, 0, 0x10]);
pub const IMAGE: &str = "img";
/// Bytes of the image: three blocks of 1024 (the last one short) in two slices.
pub const IMAGE_LEN: usize = 3000;

pub fn image() -> Vec<u8> {
    (0..IMAGE_LEN).map(|i| (i % 251) as u8).collect()
}

pub struct Rig {
    pub now: Instant,
    pub sender: MulticastSender,
    pub receiver: MulticastReceiver,
    pub disk: MemoryDisk,
    pub images: MemoryImages,
}

impl Rig {
    pub fn new(cfg: u8) -> Rig {
        let data = image();
        let mut images = MemoryImages::new();
        images.insert(IMAGE, data.clone());
        let mut disk = MemoryDisk::with_layout(8, None).expect("small disk");
        // The image's SHA-256, computed by the disk itself: write it, hash it,
        // wipe it.
        disk.write(0, 0, &data).expect("fits");
        let sha256 = disk
            .partition_sha256(0, IMAGE_LEN as u64)
            .expect("readable");
        disk.write(0, 0, &[0; IMAGE_LEN]).expect("fits");
        let image = ImageRef {
            name: IMAGE.into(),
            size: IMAGE_LEN as u64,
            sha256,
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
            disk,
            images,
        }
    }

    pub fn deliver_to_receiver(&mut self, src: SocketAddrV4, payload: &[u8]) {
        let dgram = Datagram {
            src,
            dst: GROUP,
            src_mac: Mac([0x52, 0x54, 0, 0, 0, 1]),
            payload,
        };
        self.receiver
            .handle_datagram(self.now, dgram, &mut self.disk);
    }

    pub fn deliver_to_sender(&mut self, src: SocketAddrV4, payload: &[u8]) {
        let dgram = Datagram {
            src,
            dst: SENDER,
            src_mac: RX_MAC,
            payload,
        };
        self.sender.handle_datagram(self.now, dgram);
    }

    /// Moves datagrams between the two until both are quiet.
    pub fn pump(&mut self) {
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

    /// Runs every timer due at `now`, bounded.
    pub fn timers(&mut self) {
        for _ in 0..MAX_TIMEOUT_ROUNDS {
            let now = self.now;
            let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
            let (s, r) = (self.sender.poll_timeout(), self.receiver.poll_timeout());
            if !due(s) && !due(r) {
                return;
            }
            if due(s) {
                self.sender.handle_timeout(now);
            }
            if due(r) {
                self.receiver.handle_timeout(now);
            }
            self.pump();
        }
        panic!(
            "a machine asks to be woken at or before {} forever",
            self.now
        );
    }

    /// Lets time run until both machines are done; they must be, within a day.
    pub fn finish(&mut self) {
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

pub fn check(t: &Transmit) {
    if let Err(e) = Packet::parse(&t.payload, ParseMode::Strict) {
        panic!("a machine sent a datagram the strict parser refuses: {e}");
    }
}

pub fn round_trip(payload: &[u8]) {
    for mode in [ParseMode::Strict, ParseMode::Lax] {
        if let Ok(p) = Packet::parse(payload, mode) {
            let wire = match p.to_bytes() {
                Ok(w) => w,
                Err(e) => panic!("a parsed packet does not re-emit: {e}"),
            };
            assert_eq!(wire.len(), p.encoded_len());
            let _ = p.message.name();
            assert_eq!(
                Packet::parse(&wire, ParseMode::Strict),
                Ok(p),
                "parse(emit(p)) != p"
            );
        }
    }
}

/// One run: configuration bits (0 two receivers needed, so the sender starts
/// only at `max_wait`; 1 at most two repair rounds per slice; 2 paced Data),
/// then records `(ctl, tick, payload)`: the clock moves by `tick`, the payload
/// goes to the receiver (`ctl` bit 0) or the sender, from a stranger (bit 1)
/// or the peer. Every payload is also round-tripped through the codec.
pub fn drive<'a>(cfg: u8, records: impl IntoIterator<Item = (u8, u8, &'a [u8])>) {
    let mut rig = Rig::new(cfg);
    rig.pump();
    for (ctl, tick, payload) in records {
        round_trip(payload);
        rig.now += tick_delay(tick);
        rig.timers();
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
