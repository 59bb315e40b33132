//! Multicast imaging end to end, in memory: one `MulticastSender`, several
//! `MulticastReceiver`s writing to `MemoryDisk`s, on a simulated channel that
//! loses each datagram to each receiver (and each answer) with a seeded
//! probability. What a user relies on: every receiver ends with the image byte
//! for byte and verified, repairs cost only what was missed, the session
//! gathers as configured, and nobody waits forever on a dead or late machine.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pxelab_reference::agent::{BootDisk, MemoryDisk};
use pxelab_reference::deploy::MemoryImages;
use pxelab_reference::multicast::{
    DropReason, MulticastReceiver, MulticastSender, ReceiverConfig, ReceiverEvent, ReceiverFailure,
    SenderConfig, SenderEvent, SenderFailure, StartTrigger, Waiting,
};
use pxelab_reference::wire::agent::ImageRef;
use pxelab_reference::wire::multicast::DEFAULT_GROUP;
use pxelab_reference::{Datagram, Instant, Mac};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

const IMAGE: &str = "xp-sp2-sysprep";
const SENDER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 9000);
const GROUP: SocketAddrV4 = SocketAddrV4::new(DEFAULT_GROUP, 9001);
/// 1 MiB image: 721 blocks of 1456 bytes.
const IMAGE_LEN: usize = 1 << 20;
/// OS partition sectors: a little more than the image.
const OS_SECTORS: u32 = 2100;

fn image_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random::<u8>()).collect()
}

fn image_ref(data: &[u8]) -> ImageRef {
    ImageRef {
        name: IMAGE.into(),
        size: data.len() as u64,
        sha256: Sha256::digest(data).into(),
    }
}

fn sender_config(min_receivers: usize) -> SenderConfig {
    SenderConfig {
        session: 7,
        control: SENDER,
        group: GROUP,
        min_receivers,
        max_wait: Duration::from_secs(20),
        ..SenderConfig::default()
    }
}

fn receiver_config(i: usize) -> ReceiverConfig {
    ReceiverConfig {
        local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 10 + i as u8), 9001),
        image: IMAGE.into(),
        announce_timeout: Duration::from_secs(60),
        silence_timeout: Duration::from_secs(30),
        linger: Duration::from_secs(5),
    }
}

fn mac(i: usize) -> Mac {
    Mac([0x52, 0x54, 0, 0, 0, 0x10 + i as u8])
}

struct Node {
    rx: MulticastReceiver,
    disk: MemoryDisk,
    mac: Mac,
    addr: SocketAddrV4,
    /// Powered off: hears nothing, says nothing, runs no timers.
    dead: bool,
    /// Everything it sends is lost (its Joins, say).
    mute: bool,
    /// Sender datagrams of these message types never reach it.
    deaf_to: Vec<u8>,
    events: Vec<(Instant, ReceiverEvent)>,
}

/// One sender and its receivers on a lossy multicast segment, in virtual time.
/// Delivery takes no time; each datagram is lost to each receiver (and each
/// answer to the sender) independently with probability `loss`.
struct World {
    now: Instant,
    sender: MulticastSender,
    images: MemoryImages,
    nodes: Vec<Node>,
    rng: ChaCha8Rng,
    loss: f64,
    sender_events: Vec<(Instant, SenderEvent)>,
    /// Data datagrams the sender put on the wire.
    data_sent: u64,
    /// Data datagrams lost on the way to a (live) receiver, one per receiver.
    data_lost: u64,
}

impl World {
    fn new(cfg: SenderConfig, image: &[u8], receivers: usize, loss: f64, seed: u64) -> World {
        let mut images = MemoryImages::new();
        images.insert(IMAGE, image.to_vec());
        let sender =
            MulticastSender::new(cfg, image_ref(image), Instant::ZERO).expect("valid config");
        let mut w = World {
            now: Instant::ZERO,
            sender,
            images,
            nodes: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            loss,
            sender_events: Vec::new(),
            data_sent: 0,
            data_lost: 0,
        };
        for _ in 0..receivers {
            w.add_receiver(OS_SECTORS);
        }
        w
    }

    fn add_receiver(&mut self, os_sectors: u32) -> usize {
        let i = self.nodes.len();
        let cfg = receiver_config(i);
        self.nodes.push(Node {
            addr: cfg.local,
            rx: MulticastReceiver::new(cfg, mac(i), self.now),
            disk: MemoryDisk::with_layout(os_sectors, None).expect("small disk"),
            mac: mac(i),
            dead: false,
            mute: false,
            deaf_to: Vec::new(),
            events: Vec::new(),
        });
        i
    }

    fn lost(&mut self) -> bool {
        self.loss > 0.0 && self.rng.random::<f64>() < self.loss
    }

    /// Moves every datagram until nobody has anything more to say now.
    fn deliver(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.sender.poll_transmit(&self.images) {
                moved = true;
                let is_data = t.payload.get(3) == Some(&0x04);
                self.data_sent += u64::from(is_data);
                for i in 0..self.nodes.len() {
                    let msg_type = t.payload.get(3).copied().unwrap_or(0);
                    if self.nodes[i].dead || self.nodes[i].deaf_to.contains(&msg_type) {
                        continue;
                    }
                    if self.lost() {
                        self.data_lost += u64::from(is_data);
                        continue;
                    }
                    let n = &mut self.nodes[i];
                    let dgram = Datagram {
                        src: t.src,
                        dst: t.dst,
                        src_mac: Mac([0x52, 0x54, 0, 0, 0, 1]),
                        payload: &t.payload,
                    };
                    n.rx.handle_datagram(self.now, dgram, &mut n.disk);
                }
            }
            for i in 0..self.nodes.len() {
                while let Some(t) = self.nodes[i].rx.poll_transmit() {
                    moved = true;
                    assert_eq!(t.dst, SENDER, "receivers answer the sender's control port");
                    if self.nodes[i].dead || self.nodes[i].mute || self.lost() {
                        continue;
                    }
                    let dgram = Datagram {
                        src: self.nodes[i].addr,
                        dst: t.dst,
                        src_mac: self.nodes[i].mac,
                        payload: &t.payload,
                    };
                    self.sender.handle_datagram(self.now, dgram);
                }
            }
            self.collect_events();
            if !moved {
                return;
            }
        }
    }

    fn collect_events(&mut self) {
        while let Some(e) = self.sender.poll_event() {
            self.sender_events.push((self.now, e));
        }
        for n in &mut self.nodes {
            while let Some(e) = n.rx.poll_event() {
                n.events.push((self.now, e));
            }
        }
    }

    /// Runs until `done` holds or nothing is left to wake up; panics after an
    /// hour of virtual time (a machine that never ends is the bug).
    fn run_until(&mut self, mut done: impl FnMut(&World) -> bool) {
        self.deliver();
        while !done(self) {
            let next = std::iter::once(self.sender.poll_timeout())
                .chain(
                    self.nodes
                        .iter()
                        .filter(|n| !n.dead)
                        .map(|n| n.rx.poll_timeout()),
                )
                .flatten()
                .min();
            let Some(next) = next else {
                return;
            };
            assert!(
                next < Instant::from_secs(3600),
                "still running after an hour of virtual time"
            );
            self.now = self.now.max(next);
            if self.sender.poll_timeout().is_some_and(|t| t <= self.now) {
                self.sender.handle_timeout(self.now);
            }
            for n in self.nodes.iter_mut().filter(|n| !n.dead) {
                if n.rx.poll_timeout().is_some_and(|t| t <= self.now) {
                    n.rx.handle_timeout(self.now);
                }
            }
            self.deliver();
        }
    }

    fn run_to_end(&mut self) {
        self.run_until(|w| {
            w.sender.is_finished() && w.nodes.iter().all(|n| n.dead || n.rx.is_finished())
        });
    }

    fn started(&self) -> Option<(Instant, Vec<Mac>, StartTrigger)> {
        self.sender_events.iter().find_map(|(at, e)| match e {
            SenderEvent::Started { receivers, trigger } => Some((*at, receivers.clone(), *trigger)),
            _ => None,
        })
    }

    fn verified(&self, i: usize) -> bool {
        self.nodes[i]
            .events
            .iter()
            .any(|(_, e)| matches!(e, ReceiverEvent::Verified { .. }))
    }

    fn partition(&self, i: usize) -> &[u8] {
        let disk = &self.nodes[i].disk;
        let p = disk.os_partition().expect("os partition");
        disk.partition_bytes(p).expect("partition")
    }

    fn finished(&self) -> Option<(Vec<Mac>, Vec<Mac>)> {
        self.sender_events.iter().find_map(|(_, e)| match e {
            SenderEvent::Finished {
                receivers, dropped, ..
            } => Some((receivers.clone(), dropped.clone())),
            _ => None,
        })
    }
}

fn assert_imaged(w: &World, i: usize, image: &[u8]) {
    assert!(
        w.verified(i),
        "receiver {i} did not verify: {:?}",
        w.nodes[i].events
    );
    assert!(
        w.partition(i)[..image.len()] == *image,
        "receiver {i}'s partition differs from the image"
    );
}

#[test]
fn lossy_channel_images_every_receiver_and_repairs_only_what_was_missed() {
    let image = image_bytes(IMAGE_LEN, 1);
    let blocks = IMAGE_LEN.div_ceil(1456) as u64;
    let mut w = World::new(sender_config(3), &image, 3, 0.10, 42);
    w.run_to_end();
    for i in 0..3 {
        assert_imaged(&w, i, &image);
    }
    let (receivers, dropped) = w.finished().expect("sender finished");
    assert_eq!(receivers.len(), 3);
    assert!(
        dropped.is_empty(),
        "nobody dropped at 10% loss: {dropped:?}"
    );
    let stats = w.sender.stats();
    assert_eq!(stats.data_packets, w.data_sent);
    assert_eq!(stats.data_packets - stats.repair_packets, blocks);
    assert!(
        stats.data_packets * 2 < blocks * 3,
        "{} Data datagrams for {blocks} blocks: repairs re-sent more than was missed",
        stats.data_packets
    );
    // Every repair answers a loss: a block is re-sent only because a receiver
    // NAKed it, i.e. lost its previous copy.
    assert!(stats.repair_packets <= w.data_lost);
    eprintln!(
        "Data packets: {} for {blocks} blocks at 10% loss, 3 receivers ({} repairs for {} lost deliveries, {} SliceEnds)",
        stats.data_packets, stats.repair_packets, w.data_lost, stats.slice_ends
    );
    // Each receiver wrote each block once: duplicates are counted, not rewritten.
    for n in &w.nodes {
        assert_eq!(n.rx.stats().blocks_written, blocks);
    }
}

#[test]
fn without_loss_every_block_goes_out_exactly_once() {
    let image = image_bytes(IMAGE_LEN, 2);
    let blocks = IMAGE_LEN.div_ceil(1456) as u64;
    let mut w = World::new(sender_config(2), &image, 2, 0.0, 1);
    w.run_to_end();
    for i in 0..2 {
        assert_imaged(&w, i, &image);
    }
    let stats = w.sender.stats();
    assert_eq!(stats.data_packets, blocks);
    assert_eq!(stats.repair_packets, 0);
    // 1 MiB at 256 blocks a slice: 3 slices, one report round each.
    assert_eq!(stats.slice_ends, 3);
}

#[test]
fn session_starts_as_soon_as_min_receivers_joined() {
    let image = image_bytes(4096, 3);
    let mut w = World::new(sender_config(3), &image, 3, 0.0, 1);
    w.run_until(|w| w.started().is_some());
    let (at, receivers, trigger) = w.started().expect("started");
    assert_eq!(trigger, StartTrigger::MinReceivers);
    assert_eq!(receivers, vec![mac(0), mac(1), mac(2)]);
    assert!(
        at < Instant::from_secs(20),
        "started at {at}, before max_wait"
    );
    w.run_to_end();
    for i in 0..3 {
        assert_imaged(&w, i, &image);
    }
}

#[test]
fn session_starts_at_max_wait_with_fewer_receivers() {
    let image = image_bytes(4096, 4);
    let mut w = World::new(sender_config(5), &image, 0, 0.0, 1);
    // Two machines come up 5 s into the announcing; they join at the next
    // Announce (6 s), and max_wait (20 s) counts from that first Join.
    w.run_until(|w| w.now >= Instant::from_secs(5));
    w.add_receiver(OS_SECTORS);
    w.add_receiver(OS_SECTORS);
    w.run_until(|w| w.started().is_some());
    let (at, receivers, trigger) = w.started().expect("started");
    assert_eq!(trigger, StartTrigger::MaxWait);
    assert_eq!(receivers.len(), 2);
    assert_eq!(at, Instant::from_secs(26));
    w.run_to_end();
    for i in 0..2 {
        assert_imaged(&w, i, &image);
    }
}

#[test]
fn nobody_joining_ends_the_session_at_max_wait() {
    let image = image_bytes(4096, 5);
    let mut w = World::new(sender_config(1), &image, 0, 0.0, 1);
    w.run_until(|w| w.sender.is_finished());
    assert!(w.sender.is_finished());
    let failed = w.sender_events.iter().find_map(|(at, e)| match e {
        SenderEvent::Failed { reason } => Some((*at, reason.clone())),
        _ => None,
    });
    assert_eq!(
        failed,
        Some((Instant::from_secs(20), SenderFailure::NoReceivers))
    );
    // It kept announcing while it waited, then stopped.
    assert_eq!(w.sender.stats().announces, 20);
    assert_eq!(w.sender.stats().data_packets, 0);
}

#[test]
fn a_receiver_that_dies_mid_session_is_dropped_and_the_others_finish() {
    let image = image_bytes(IMAGE_LEN, 6);
    let mut w = World::new(sender_config(3), &image, 3, 0.05, 7);
    // Power receiver 2 off once it has about half the image.
    w.run_until(|w| w.nodes[2].rx.progress().is_some_and(|(have, _)| have > 300));
    w.nodes[2].dead = true;
    w.run_to_end();
    for i in 0..2 {
        assert_imaged(&w, i, &image);
    }
    let (receivers, dropped) = w.finished().expect("sender finished");
    assert_eq!(receivers, vec![mac(0), mac(1)]);
    assert_eq!(dropped, vec![mac(2)]);
    let drop = w.sender_events.iter().find_map(|(_, e)| match e {
        SenderEvent::ReceiverDropped { mac, reason, .. } => Some((*mac, *reason)),
        _ => None,
    });
    assert_eq!(drop, Some((mac(2), DropReason::Silent { rounds: 5 })));
}

#[test]
fn a_receiver_that_comes_up_after_the_start_times_out_cleanly() {
    let image = image_bytes(IMAGE_LEN, 8);
    let mut w = World::new(sender_config(1), &image, 1, 0.0, 1);
    w.run_until(|w| w.started().is_some());
    let late = w.add_receiver(OS_SECTORS);
    w.run_to_end();
    assert_imaged(&w, 0, &image);
    // The late machine never heard an Announce (they stop at Start): it wrote
    // nothing, ignored the session's Data, and gave up after announce_timeout.
    let events: Vec<_> = w.nodes[late]
        .events
        .iter()
        .map(|(_, e)| e.clone())
        .collect();
    assert_eq!(
        events,
        vec![ReceiverEvent::TimedOut {
            waiting_for: Waiting::Announce
        }]
    );
    assert!(w.nodes[late].rx.is_finished());
    assert_eq!(w.nodes[late].rx.stats().blocks_written, 0);
    assert!(w.partition(late).iter().all(|&b| b == 0));
}

#[test]
fn a_receiver_whose_join_is_lost_learns_it_missed_the_session() {
    let image = image_bytes(8192, 9);
    let mut w = World::new(sender_config(2), &image, 2, 0.0, 1);
    // Receiver 1's Joins never arrive: the session starts at max_wait without it.
    w.nodes[1].mute = true;
    w.run_to_end();
    assert_imaged(&w, 0, &image);
    let (_, receivers, trigger) = w.started().expect("started");
    assert_eq!((receivers, trigger), (vec![mac(0)], StartTrigger::MaxWait));
    let events: Vec<_> = w.nodes[1].events.iter().map(|(_, e)| e.clone()).collect();
    assert!(
        matches!(
            events.as_slice(),
            [
                ReceiverEvent::Joined { session: 7, .. },
                ReceiverEvent::MissedSession { session: 7 },
                ReceiverEvent::TimedOut {
                    waiting_for: Waiting::Announce
                },
            ]
        ),
        "{events:?}"
    );
    assert_eq!(w.nodes[1].rx.stats().blocks_written, 0);
}

#[test]
fn a_wrong_checksum_fails_every_receiver() {
    let image = image_bytes(4096, 10);
    let mut w = World::new(sender_config(1), &image, 1, 0.0, 1);
    let mut bad = image_ref(&image);
    bad.sha256[0] ^= 1;
    w.sender = MulticastSender::new(sender_config(1), bad, Instant::ZERO).expect("config");
    w.run_to_end();
    let failed = w.nodes[0].events.iter().find_map(|(_, e)| match e {
        ReceiverEvent::Failed { reason } => Some(reason.clone()),
        _ => None,
    });
    assert!(
        matches!(failed, Some(ReceiverFailure::ChecksumMismatch { .. })),
        "{failed:?}"
    );
}

#[test]
fn an_image_larger_than_the_partition_is_refused_before_joining() {
    let image = image_bytes(IMAGE_LEN, 11);
    let mut w = World::new(sender_config(1), &image, 0, 0.0, 1);
    let small = w.add_receiver(1000);
    w.run_until(|w| w.nodes[small].rx.is_finished());
    let events: Vec<_> = w.nodes[small]
        .events
        .iter()
        .map(|(_, e)| e.clone())
        .collect();
    assert!(
        matches!(
            events.as_slice(),
            [ReceiverEvent::Failed {
                reason: ReceiverFailure::ImageTooLarge { size, .. }
            }] if *size == IMAGE_LEN as u64
        ),
        "{events:?}"
    );
    assert!(w.sender.receivers().is_empty(), "it never joined");
}

#[test]
fn a_receiver_whose_sender_goes_silent_times_out() {
    let image = image_bytes(IMAGE_LEN, 12);
    // Paced at 1 ms a block, so the transfer takes virtual time and can be cut.
    let paced = SenderConfig {
        packet_interval: Duration::from_millis(1),
        ..sender_config(1)
    };
    let mut w = World::new(paced, &image, 1, 0.0, 1);
    w.run_until(|w| w.nodes[0].rx.progress().is_some_and(|(have, _)| have > 100));
    // The sender's machine is gone: nothing more from it.
    w.sender = MulticastSender::new(
        SenderConfig {
            session: 99,
            ..sender_config(1)
        },
        ImageRef {
            name: "other".into(),
            size: 0,
            sha256: [0; 32],
        },
        w.now,
    )
    .expect("config");
    w.run_until(|w| w.nodes[0].rx.is_finished());
    let last = w.nodes[0].events.last().map(|(at, e)| (*at, e.clone()));
    let (at, event) = last.expect("an event");
    assert_eq!(
        event,
        ReceiverEvent::TimedOut {
            waiting_for: Waiting::Data
        }
    );
    // Blocks stopped after about 0.1 s; the receiver waited silence_timeout (30 s).
    assert!(
        at >= Instant::from_secs(30) && at < Instant::from_secs(31),
        "{at}"
    );
    assert!(w.nodes[0].rx.stats().blocks_written < 721);
}

/// The sender driven by hand: a NAK is served once, in the next round only;
/// the same NAK arriving late (a duplicate, or from an earlier round) re-sends
/// nothing, and an Ok moves on to the next slice.
#[test]
fn a_nak_is_served_once_and_a_stale_one_not_at_all() {
    use pxelab_reference::wire::ParseMode;
    use pxelab_reference::wire::multicast::{BlockMap, Message, Nak, Packet, SliceOk};

    let image = image_bytes(2 * 4 * 1456, 13);
    let mut images = MemoryImages::new();
    images.insert(IMAGE, image.clone());
    let cfg = SenderConfig {
        slice_blocks: 4,
        ..sender_config(1)
    };
    let mut s = MulticastSender::new(cfg, image_ref(&image), Instant::ZERO).expect("config");
    let from = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 10), 9001);
    let send = |s: &mut MulticastSender, m: Message| {
        let payload = Packet::new(7, m).to_bytes().expect("packet");
        let dgram = Datagram {
            src: from,
            dst: SENDER,
            src_mac: mac(0),
            payload: &payload,
        };
        s.handle_datagram(Instant::ZERO, dgram);
        let mut out = Vec::new();
        while let Some(t) = s.poll_transmit(&images) {
            out.push(
                Packet::parse(&t.payload, ParseMode::Strict)
                    .expect("valid")
                    .message,
            );
        }
        out
    };
    let names = |ms: &[Message]| ms.iter().map(Message::name).collect::<Vec<_>>();

    let first = send(&mut s, Message::Join(mac(0)));
    assert_eq!(
        names(&first),
        [
            "Announce", "Start", "Data", "Data", "Data", "Data", "SliceEnd"
        ]
    );
    let mut missing = BlockMap::new(4).expect("map");
    missing.insert(2).expect("in range");
    let nak = Message::Nak(Nak {
        receiver: mac(0),
        slice: 0,
        round: 0,
        missing,
    });
    let repair = send(&mut s, nak.clone());
    assert_eq!(names(&repair), ["Data", "SliceEnd"]);
    assert!(matches!(&repair[0], Message::Data(d) if d.slice == 0 && d.block == 2));
    // The same report again: round 0 is over, nothing is re-sent.
    assert!(send(&mut s, nak).is_empty());
    let ok = Message::SliceOk(SliceOk {
        receiver: mac(0),
        slice: 0,
        round: 1,
    });
    let next = send(&mut s, ok);
    assert_eq!(names(&next), ["Data", "Data", "Data", "Data", "SliceEnd"]);
    assert_eq!(s.stats().repair_packets, 1);
}

#[test]
fn configurations_the_protocol_cannot_carry_are_refused_with_the_reason() {
    use pxelab_reference::multicast::ConfigError;
    let image = image_ref(b"x");
    let try_cfg = |cfg: SenderConfig| MulticastSender::new(cfg, image.clone(), Instant::ZERO).err();
    let unicast = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 9001);
    assert_eq!(
        try_cfg(SenderConfig {
            group: unicast,
            ..sender_config(1)
        }),
        Some(ConfigError::NotMulticast(*unicast.ip()))
    );
    assert_eq!(
        try_cfg(SenderConfig {
            block_len: 9000,
            ..sender_config(1)
        }),
        Some(ConfigError::BlockLen(9000))
    );
    assert_eq!(
        try_cfg(sender_config(0)),
        Some(ConfigError::MinReceivers(0))
    );
    assert_eq!(
        try_cfg(SenderConfig {
            report_timeout: Duration::ZERO,
            ..sender_config(1)
        }),
        Some(ConfigError::ZeroTimer("report_timeout"))
    );
    assert_eq!(
        try_cfg(SenderConfig {
            max_rounds: 0,
            ..sender_config(1)
        }),
        Some(ConfigError::ZeroLimit("max_rounds"))
    );
    let msg = try_cfg(SenderConfig {
        group: unicast,
        ..sender_config(1)
    })
    .map(|e| e.to_string());
    assert_eq!(
        msg.as_deref(),
        Some("10.0.0.1 is not a multicast group (224.0.0.0/4); use e.g. 239.255.80.88")
    );
}

#[test]
fn a_receiver_that_misses_the_start_still_takes_part() {
    let image = image_bytes(IMAGE_LEN, 14);
    let mut w = World::new(sender_config(2), &image, 2, 0.05, 3);
    // Receiver 1 never hears Start (type 0x03): the first Data tells it.
    w.nodes[1].deaf_to = vec![0x03];
    w.run_to_end();
    for i in 0..2 {
        assert_imaged(&w, i, &image);
    }
    assert!(
        w.nodes[1]
            .events
            .iter()
            .any(|(_, e)| matches!(e, ReceiverEvent::Started { session: 7 }))
    );
}

#[test]
fn a_join_that_arrives_after_the_start_gets_the_start_again_once() {
    use pxelab_reference::wire::ParseMode;
    use pxelab_reference::wire::multicast::{Message, Packet};

    let image = image_bytes(4096, 15);
    let mut images = MemoryImages::new();
    images.insert(IMAGE, image.clone());
    let mut s =
        MulticastSender::new(sender_config(1), image_ref(&image), Instant::ZERO).expect("config");
    let join = |s: &mut MulticastSender, who: usize| {
        let payload = Packet::new(7, Message::Join(mac(who)))
            .to_bytes()
            .expect("packet");
        let dgram = Datagram {
            src: receiver_config(who).local,
            dst: SENDER,
            src_mac: mac(who),
            payload: &payload,
        };
        s.handle_datagram(Instant::ZERO, dgram);
        let mut starts = Vec::new();
        while let Some(t) = s.poll_transmit(&images) {
            if let Ok(Packet {
                message: Message::Start(list),
                ..
            }) = Packet::parse(&t.payload, ParseMode::Strict)
            {
                starts.push(list);
            }
        }
        starts
    };
    assert_eq!(join(&mut s, 0), vec![vec![mac(0)]]);
    // Late: the Start again, still without it, so it knows it missed the session.
    assert_eq!(join(&mut s, 1), vec![vec![mac(0)]]);
    // Repeated at once: not again (one per report_timeout).
    assert_eq!(join(&mut s, 1), Vec::<Vec<Mac>>::new());
    let mut late = Vec::new();
    while let Some(e) = s.poll_event() {
        if let SenderEvent::LateJoin { mac } = e {
            late.push(mac);
        }
    }
    assert_eq!(late, vec![mac(1), mac(1)]);
    assert_eq!(s.receivers(), vec![mac(0)]);
}

/// The receiver driven by hand: it took part on a guess (its Start was lost
/// and Data came), then a Start that does not list it arrives (re-sent for a
/// late joiner): it stops writing and listens for a next session.
#[test]
fn a_guessing_receiver_stops_when_a_start_does_not_list_it() {
    use pxelab_reference::wire::multicast::{Announce, Data, Message, Packet};

    let image = image_bytes(4 * 1456, 16);
    let mut rx = MulticastReceiver::new(receiver_config(0), mac(0), Instant::ZERO);
    let mut disk = MemoryDisk::with_layout(OS_SECTORS, None).expect("disk");
    let mut hear = |rx: &mut MulticastReceiver, m: Message| {
        let payload = Packet::new(7, m).to_bytes().expect("packet");
        let dgram = Datagram {
            src: SENDER,
            dst: GROUP,
            src_mac: Mac([0x52, 0x54, 0, 0, 0, 1]),
            payload: &payload,
        };
        rx.handle_datagram(Instant::from_secs(1), dgram, &mut disk);
        let mut events = Vec::new();
        while let Some(e) = rx.poll_event() {
            events.push(e);
        }
        events
    };
    let announce = Message::Announce(Announce {
        image_name: IMAGE.into(),
        image_size: image.len() as u64,
        sha256: image_ref(&image).sha256,
        block_len: 1456,
        slice_blocks: 256,
    });
    assert!(matches!(
        hear(&mut rx, announce).as_slice(),
        [ReceiverEvent::Joined { session: 7, .. }]
    ));
    let data = Message::Data(Data {
        slice: 0,
        block: 0,
        payload: image[..1456].to_vec(),
    });
    assert_eq!(
        hear(&mut rx, data.clone()),
        vec![ReceiverEvent::Started { session: 7 }]
    );
    assert_eq!(rx.progress(), Some((1, 4)));
    assert_eq!(
        hear(&mut rx, Message::Start(vec![mac(1)])),
        vec![ReceiverEvent::MissedSession { session: 7 }]
    );
    // No longer in the session: its blocks are not taken, Done means nothing.
    assert!(hear(&mut rx, data).is_empty());
    assert!(hear(&mut rx, Message::Done).is_empty());
    assert_eq!(rx.progress(), None);
    assert!(!rx.is_finished());
}

#[test]
fn a_fleet_of_twenty_at_one_percent_loss_is_imaged_in_about_one_pass() {
    let image = image_bytes(IMAGE_LEN, 17);
    let blocks = IMAGE_LEN.div_ceil(1456) as u64;
    let mut w = World::new(sender_config(20), &image, 20, 0.01, 5);
    w.run_to_end();
    for i in 0..20 {
        assert_imaged(&w, i, &image);
    }
    let stats = w.sender.stats();
    assert!(stats.repair_packets <= w.data_lost);
    // One copy serves everyone: far from the 20 × 721 unicast would send.
    assert!(stats.data_packets * 4 < blocks * 5, "{stats:?}");
    eprintln!(
        "Data packets: {} for {blocks} blocks at 1% loss, 20 receivers ({} repairs, {} SliceEnds)",
        stats.data_packets, stats.repair_packets, stats.slice_ends
    );
}
