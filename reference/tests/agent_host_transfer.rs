//! Bootworks with [`ImageTransport::Host`]: the conversation is the same, but
//! the image arrives through the host (a multicast session, the simulator's
//! bandwidth model) instead of `ImageRequest`/`ImageChunk`. What Bootworks
//! checks afterwards — the partition's SHA-256, then the flag — must not change.

mod agent_support;

use std::time::Duration;

use agent_support::*;
use pxelab_reference::Instant;
use pxelab_reference::agent::{
    AgentAction, BootDisk, Bootworks, Delivery, ImageTransport, MemoryDisk, PROGRESS_INTERVAL,
};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::agent::{AgentMessage, FrameDecoder, JobKind, JobState, JobStatus};
use pxelab_reference::wire::mbr::BootFlag;

const IMAGE_LEN: usize = 4096;

/// Drives Bootworks against a scripted server until it either ends or waits
/// for the host; returns what it sent.
struct Harness {
    bw: Bootworks,
    disk: MemoryDisk,
    now: Instant,
    sent: Vec<AgentMessage>,
    actions: Vec<AgentAction>,
    decoder: FrameDecoder,
}

impl Harness {
    fn new() -> Harness {
        let mut disk = lab_disk();
        disk.set_boot_flag(BootFlag::armed(1)).unwrap();
        let bw = Bootworks::new(config(REFERENCE), Delivery::Partition)
            .with_image_transport(ImageTransport::Host);
        Harness {
            bw,
            disk,
            now: Instant::ZERO,
            sent: Vec::new(),
            actions: Vec::new(),
            decoder: FrameDecoder::new(ParseMode::Strict),
        }
    }

    /// Plays the conversation (server answers Hello, CheckIn with a deploy
    /// offer for `image`, closes on Bye) until nothing more happens at `now`.
    fn settle(&mut self, image: &[u8]) {
        let offer = AgentMessage::JobOffer(offer(
            JobKind::DeployImage,
            Some(image_ref("xp-sp2", image)),
            Some(share()),
        ));
        let mut server = session(offer, quiet);
        for _ in 0..1000 {
            let mut progressed = false;
            while let Some(a) = self.bw.poll_action() {
                progressed = true;
                self.actions.push(a);
                if a == AgentAction::Connect {
                    self.bw.handle_connected(self.now);
                }
            }
            while let Some(bytes) = self.bw.poll_send() {
                progressed = true;
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let n = self.decoder.push(rest);
                    rest = &rest[n..];
                    while let Some(m) = self.decoder.next() {
                        let m = m.expect("Bootworks sends valid frames");
                        for reply in server(&m) {
                            match reply {
                                Reply::Msg(r) => {
                                    let b = r.to_bytes().unwrap();
                                    self.bw.handle_bytes(self.now, &b, &mut self.disk);
                                }
                                Reply::Raw(b) => self.bw.handle_bytes(self.now, &b, &mut self.disk),
                                Reply::Close => self.bw.handle_closed(self.now),
                            }
                        }
                        self.sent.push(m);
                    }
                }
            }
            if !progressed {
                return;
            }
        }
        panic!("the conversation did not settle");
    }

    fn statuses(&self) -> Vec<JobStatus> {
        self.sent
            .iter()
            .filter_map(|m| match m {
                AgentMessage::JobStatus(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn bootworks_waits_for_the_host_then_verifies_and_clears_the_flag() {
    let image = image_bytes(IMAGE_LEN);
    let mut h = Harness::new();
    h.bw.boot(h.now, &mut h.disk);
    h.settle(&image);

    let wanted =
        h.bw.awaiting_image()
            .expect("waits for the host's transfer");
    assert_eq!(wanted.job_id, JOB);
    assert_eq!(wanted.image.size, IMAGE_LEN as u64);
    assert!(
        !h.sent
            .iter()
            .any(|m| matches!(m, AgentMessage::ImageRequest(_))),
        "the host carries the image, not the agent connection"
    );

    // A long transfer: keepalive progress reports, well inside the server's
    // idle timeout, carrying what the host says it has written.
    h.bw.handle_image_progress(1024);
    let first = h.bw.poll_timeout().expect("a keepalive is due");
    assert_eq!(first, Instant::ZERO + PROGRESS_INTERVAL);
    h.now = first;
    h.bw.handle_timeout(h.now);
    h.settle(&image);
    h.now = h.bw.poll_timeout().unwrap();
    h.bw.handle_timeout(h.now);
    h.settle(&image);
    let keepalives: Vec<_> = h
        .statuses()
        .iter()
        .filter(|s| s.detail == "receiving the image")
        .map(|s| (s.state, s.progress_bytes))
        .collect();
    assert_eq!(
        keepalives,
        [(JobState::Running, 1024), (JobState::Running, 1024)]
    );

    let p = wanted.partition;
    h.disk.write(p, 0, &image).unwrap();
    h.now += Duration::from_secs(1);
    h.bw.handle_image_delivered(h.now, Ok(()), &mut h.disk);
    h.settle(&image);

    assert_eq!(h.disk.boot_flag(), Ok(Some(BootFlag::CLEAR)));
    let last = h.statuses().last().cloned().unwrap();
    assert_eq!(
        (last.state, last.progress_bytes, last.detail.as_str()),
        (JobState::PreOsDone, IMAGE_LEN as u64, "imaged")
    );
    assert_eq!(h.actions.last(), Some(&AgentAction::Reboot));
    assert!(h.bw.awaiting_image().is_none());
}

#[test]
fn a_host_transfer_that_wrote_the_wrong_bytes_fails_the_checksum() {
    let image = image_bytes(IMAGE_LEN);
    let mut h = Harness::new();
    h.bw.boot(h.now, &mut h.disk);
    h.settle(&image);
    let p = h.bw.awaiting_image().unwrap().partition;
    let mut wrong = image.clone();
    wrong[100] ^= 1;
    h.disk.write(p, 0, &wrong).unwrap();
    h.bw.handle_image_delivered(h.now, Ok(()), &mut h.disk);
    h.settle(&image);

    let last = h.statuses().last().cloned().unwrap();
    assert_eq!(last.state, JobState::Failed);
    assert!(
        last.detail.starts_with("checksum mismatch"),
        "{}",
        last.detail
    );
    assert_eq!(
        h.disk.boot_flag(),
        Ok(Some(BootFlag::armed(1))),
        "flag kept"
    );
    assert_eq!(h.actions.last(), Some(&AgentAction::Exit));
}

#[test]
fn a_host_transfer_that_failed_is_reported_with_its_reason() {
    let image = image_bytes(IMAGE_LEN);
    let mut h = Harness::new();
    h.bw.boot(h.now, &mut h.disk);
    h.settle(&image);
    h.bw.handle_image_delivered(
        h.now,
        Err("the multicast session ended".into()),
        &mut h.disk,
    );
    h.settle(&image);

    let last = h.statuses().last().cloned().unwrap();
    assert_eq!(last.state, JobState::Failed);
    assert_eq!(
        last.detail,
        "image transfer failed: the multicast session ended"
    );
    assert_eq!(h.actions.last(), Some(&AgentAction::Exit));
}
