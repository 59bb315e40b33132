//! Whatever a server (or the wire) sends, neither agent panics, and every run ends
//! with a final action within a bounded time: no reference or legacy agent can
//! wait forever on a broken peer.

mod agent_support;

use std::time::Duration;

use agent_support::*;
use proptest::prelude::*;
use pxelab_reference::Instant;
use pxelab_reference::agent::{AClient, AgentAction, AgentMode, BootDisk, Bootworks, Delivery};
use pxelab_reference::wire::agent::{
    AgentMessage, HEADER_LEN, JobKind, MAGIC, VERSION, Welcome, msg_type,
};

/// A piece of server → agent stream: raw bytes, or a body behind a valid header
/// (so bodies of every message type get parsed, not just rejected magic).
#[derive(Debug, Clone)]
enum Piece {
    Raw(Vec<u8>),
    Framed(u8, Vec<u8>),
}

fn piece() -> impl Strategy<Value = Piece> {
    let types = prop::sample::select(vec![
        msg_type::WELCOME,
        msg_type::REFUSED,
        msg_type::BYE,
        msg_type::ERROR,
        msg_type::JOB_OFFER,
        msg_type::NO_JOB,
        msg_type::IMAGE_CHUNK,
        msg_type::HELLO,
        0x7f,
    ]);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Piece::Raw),
        (types, prop::collection::vec(any::<u8>(), 0..96))
            .prop_map(|(t, body)| Piece::Framed(t, body)),
    ]
}

fn bytes_of(p: &Piece) -> Vec<u8> {
    match p {
        Piece::Raw(b) => b.clone(),
        Piece::Framed(t, body) => {
            let mut out = Vec::with_capacity(HEADER_LEN + body.len());
            out.extend_from_slice(&MAGIC);
            out.push(VERSION);
            out.push(*t);
            out.extend_from_slice(&(body.len() as u32).to_be_bytes());
            out.extend_from_slice(body);
            out
        }
    }
}

/// How far the conversation got with valid frames before the noise starts.
fn prefix(stage: u8) -> Vec<u8> {
    let image = image_bytes(3000);
    let mut msgs = Vec::new();
    if stage >= 1 {
        msgs.push(AgentMessage::Welcome(Welcome {
            computer_id: COMPUTER_ID,
        }));
    }
    if stage >= 2 {
        msgs.push(AgentMessage::JobOffer(offer(
            JobKind::DeployImage,
            Some(image_ref("xp-sp2", &image)),
            Some(share()),
        )));
    }
    msgs.iter()
        .flat_map(|m| m.to_bytes().expect("valid"))
        .collect()
}

/// Boots `agent`, connects, feeds the prefix and the pieces at `start`, then lets
/// time pass; returns the final action and when it came.
fn drive<A: Agent>(agent: &mut A, stage: u8, pieces: &[Piece]) -> (AgentAction, Instant) {
    let start = Instant::from_secs(100);
    let mut disk = lab_disk();
    disk.set_boot_flag(pxelab_reference::wire::mbr::BootFlag::armed(1))
        .expect("flag");
    agent.boot(start, &mut disk);
    assert_eq!(agent.poll_action(), Some(AgentAction::Connect));
    agent.handle_connected(start);
    agent.handle_bytes(start, &prefix(stage), &mut disk);
    for p in pieces {
        agent.handle_bytes(start, &bytes_of(p), &mut disk);
    }
    let mut now = start;
    for _ in 0..4 {
        while agent.poll_send().is_some() {}
        while agent.poll_event().is_some() {}
        let mut last = None;
        while let Some(a) = agent.poll_action() {
            last = Some(a);
        }
        if let Some(a) = last {
            return (a, now);
        }
        now = agent
            .poll_timeout()
            .expect("an unfinished agent always has a deadline");
        agent.handle_timeout(now);
    }
    panic!("the agent did not finish after its deadlines passed");
}

fn mode(legacy: bool) -> AgentMode {
    if legacy { AgentMode::Legacy } else { REFERENCE }
}

/// The longest any run may take here: every wait is at most the reply timeout
/// and all input arrives at once.
const BOUND: Duration = Duration::from_secs(30);

proptest! {
    #[test]
    fn aclient_survives_any_bytes_and_ends(
        legacy in any::<bool>(),
        stage in 0u8..2,
        pieces in prop::collection::vec(piece(), 0..8),
    ) {
        let mut client = AClient::new(config(mode(legacy)));
        let (action, at) = drive(&mut client, stage, &pieces);
        prop_assert!(matches!(action, AgentAction::Close | AgentAction::Reboot), "{action:?}");
        prop_assert!(at <= Instant::from_secs(100) + BOUND);
        prop_assert!(client.is_finished());
    }

    #[test]
    fn bootworks_survives_any_bytes_and_ends(
        legacy in any::<bool>(),
        pxe in any::<bool>(),
        stage in 0u8..3,
        pieces in prop::collection::vec(piece(), 0..8),
    ) {
        let delivery = if pxe { Delivery::Pxe } else { Delivery::Partition };
        let mut bw = Bootworks::new(config(mode(legacy)), delivery).with_chunk_len(1000);
        let (action, at) = drive(&mut bw, stage, &pieces);
        prop_assert!(matches!(action, AgentAction::Exit | AgentAction::Reboot), "{action:?}");
        prop_assert!(at <= Instant::from_secs(100) + BOUND);
        prop_assert!(bw.is_finished());
    }
}
