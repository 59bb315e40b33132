//! Bootworks against a scripted server (agent conversation step 4): imaging with
//! per-chunk CRC checks and a final SHA-256, the seed's error texts, and the
//! reference/legacy split on failures (report before leaving / leave silently).

mod agent_support;

use agent_support::*;
use pxelab_reference::Instant;
use pxelab_reference::agent::{
    AgentAction, AgentEventKind, AgentMode, BootDisk, Bootworks, Delivery, MemoryDisk,
};
use pxelab_reference::wire::agent::{
    AgentMessage, ErrorCode, ErrorReport, ImageChunk, ImageRef, JobKind, JobState, RefuseReason,
    Refused,
};
use pxelab_reference::wire::mbr::BootFlag;

const CHUNK: u32 = 1000;
/// Three chunks: 1000 + 1000 + 500.
const IMAGE_LEN: usize = 2500;

/// A disk as AClient leaves it: flag armed for the first attempt.
fn armed_disk() -> MemoryDisk {
    let mut disk = lab_disk();
    disk.set_boot_flag(BootFlag::armed(1)).unwrap();
    disk
}

fn bootworks(mode: AgentMode, delivery: Delivery) -> Bootworks {
    Bootworks::new(config(mode), delivery).with_chunk_len(CHUNK)
}

/// A server that offers `offer` and serves `image`, damaging the chunk at
/// `damaged_offset` the first `damage_times` times it is asked for. Returns the
/// script and records requests in `requests`.
fn image_server<'a>(
    offer_msg: AgentMessage,
    image: &'a [u8],
    damaged_offset: Option<u64>,
    mut damage_times: usize,
    requests: &'a mut Vec<(u64, u32)>,
) -> impl FnMut(&AgentMessage) -> Vec<Reply> + 'a {
    session(offer_msg, move |m| match m {
        AgentMessage::ImageRequest(r) => {
            requests.push((r.offset, r.len));
            let start = r.offset as usize;
            let end = (start + r.len as usize).min(image.len());
            let mut chunk = ImageChunk::new(r.job_id, r.offset, image[start..end].to_vec());
            if Some(r.offset) == damaged_offset && damage_times > 0 {
                damage_times -= 1;
                chunk.data[0] ^= 0xFF; // damaged on the way; the CRC is the sender's
            }
            vec![Reply::Msg(AgentMessage::ImageChunk(chunk))]
        }
        AgentMessage::Bye => vec![Reply::Close],
        _ => vec![],
    })
}

fn deploy(image: &[u8]) -> AgentMessage {
    AgentMessage::JobOffer(offer(
        JobKind::DeployImage,
        Some(image_ref("xp-sp2", image)),
        Some(share()),
    ))
}

fn os_bytes(disk: &MemoryDisk, len: usize) -> Vec<u8> {
    let p = disk.os_partition().unwrap();
    disk.partition_bytes(p).unwrap()[..len].to_vec()
}

#[test]
fn a_three_chunk_image_is_written_verified_and_the_flag_cleared() {
    let image = image_bytes(IMAGE_LEN);
    let mut disk = armed_disk();
    let mut bw = bootworks(REFERENCE, Delivery::Partition);
    let mut requests = Vec::new();
    let r = run(
        &mut bw,
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        image_server(deploy(&image), &image, None, 0, &mut requests),
    );

    assert_eq!(requests, [(0, 1000), (1000, 1000), (2000, 500)]);
    assert_eq!(os_bytes(&disk, IMAGE_LEN), image, "byte for byte");
    assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::CLEAR)));
    let reports: Vec<_> = r
        .statuses()
        .iter()
        .map(|s| (s.state, s.progress_bytes, s.detail.clone()))
        .collect();
    assert_eq!(
        reports,
        [
            (JobState::Running, 0, "started".to_string()),
            (JobState::PreOsDone, IMAGE_LEN as u64, "imaged".to_string()),
        ]
    );
    assert_eq!(r.last_sent(), Some(&AgentMessage::Bye));
    assert_eq!(r.end(), AgentAction::Reboot);
    assert!(r.has_event(|k| matches!(k, AgentEventKind::Imaged { bytes: 2500 })));
}

#[test]
fn a_damaged_chunk_is_requested_again_and_the_image_still_verifies() {
    let image = image_bytes(IMAGE_LEN);
    let mut disk = armed_disk();
    let mut bw = bootworks(REFERENCE, Delivery::Pxe);
    let mut requests = Vec::new();
    let r = run(
        &mut bw,
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        image_server(deploy(&image), &image, Some(1000), 2, &mut requests),
    );
    let offsets: Vec<u64> = requests.iter().map(|r| r.0).collect();
    assert_eq!(offsets, [0, 1000, 1000, 1000, 2000]);
    assert_eq!(os_bytes(&disk, IMAGE_LEN), image);
    assert_eq!(r.end(), AgentAction::Reboot);
    assert!(r.has_event(|k| matches!(
        k,
        AgentEventKind::ChunkDamaged {
            offset: 1000,
            times: 2
        }
    )));
    assert_eq!(r.statuses().last().unwrap().detail, "imaged");
}

#[test]
fn three_retries_are_allowed_and_a_fourth_damaged_copy_fails_the_job() {
    let image = image_bytes(IMAGE_LEN);

    // Damaged three times: the fourth copy is good.
    let mut disk = armed_disk();
    let mut requests = Vec::new();
    let r = run(
        &mut bootworks(REFERENCE, Delivery::Partition),
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        image_server(deploy(&image), &image, Some(1000), 3, &mut requests),
    );
    assert_eq!(r.end(), AgentAction::Reboot);

    // Damaged four times: the job fails.
    let mut disk = armed_disk();
    let mut requests = Vec::new();
    let r = run(
        &mut bootworks(REFERENCE, Delivery::Partition),
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        image_server(deploy(&image), &image, Some(1000), 4, &mut requests),
    );
    let at_1000 = requests.iter().filter(|r| r.0 == 1000).count();
    assert_eq!(at_1000, 4, "the first copy and three re-requests");
    let failed = r.statuses_in(JobState::Failed);
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].detail.starts_with("checksum"),
        "{}",
        failed[0].detail
    );
    assert_eq!(failed[0].progress_bytes, 1000);
    assert_eq!(r.end(), AgentAction::Exit);
    assert_eq!(
        disk.boot_flag(),
        Ok(Some(BootFlag::armed(1))),
        "a half-written disk must not boot as if imaging had worked"
    );
}

#[test]
fn a_server_digest_that_does_not_match_the_written_image_fails_the_job() {
    let image = image_bytes(IMAGE_LEN);
    let mut offer_img = image_ref("xp-sp2", &image);
    offer_img.sha256[0] ^= 1;
    let o = AgentMessage::JobOffer(offer(JobKind::DeployImage, Some(offer_img), Some(share())));
    let mut disk = armed_disk();
    let mut requests = Vec::new();
    let r = run(
        &mut bootworks(REFERENCE, Delivery::Partition),
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        image_server(o, &image, None, 0, &mut requests),
    );
    let failed = r.statuses_in(JobState::Failed);
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].detail.starts_with("checksum mismatch"),
        "{}",
        failed[0].detail
    );
    assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::armed(1))));
    assert_eq!(r.end(), AgentAction::Exit);
}

#[test]
fn an_image_larger_than_the_os_partition_is_refused_before_writing() {
    let image = image_bytes(16 * 512 + 1);
    let mut disk = armed_disk();
    let mut requests = Vec::new();
    let r = run(
        &mut Bootworks::new(config(REFERENCE), Delivery::Pxe),
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        image_server(deploy(&image), &image, None, 0, &mut requests),
    );
    let failed = r.statuses_in(JobState::Failed);
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].detail,
        "image xp-sp2 (8193 bytes) does not fit partition 0 (8192 bytes)"
    );
    assert!(requests.is_empty(), "refused before a byte is written");
    assert_eq!(r.end(), AgentAction::Exit);
}

const SHARE_WARNING: &str =
    "Warning a network drive has not been mapped correctly! Bootworks may not operate as designed.";

#[test]
fn no_share_prints_the_seed_warning_and_reference_reports_the_failure() {
    let image = image_bytes(IMAGE_LEN);
    let o = AgentMessage::JobOffer(offer(
        JobKind::DeployImage,
        Some(image_ref("xp-sp2", &image)),
        None,
    ));
    let mut disk = armed_disk();
    let mut bw = bootworks(REFERENCE, Delivery::Partition).with_share_path(r"\\ds61\express");
    let mut requests = Vec::new();
    let r = run(
        &mut bw,
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        image_server(o, &image, None, 0, &mut requests),
    );
    assert!(
        bw.screen().iter().any(|l| l == SHARE_WARNING),
        "{:#?}",
        bw.screen()
    );
    assert!(requests.is_empty(), "nothing to image without the share");
    let failed = r.statuses_in(JobState::Failed);
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].detail,
        r"network drive not mapped: \\ds61\express"
    );
    assert_eq!(r.last_sent(), Some(&AgentMessage::Bye));
    assert_eq!(r.end(), AgentAction::Exit);
}

#[test]
fn no_share_in_legacy_prints_the_warning_and_exits_without_a_word() {
    let image = image_bytes(IMAGE_LEN);
    let o = AgentMessage::JobOffer(offer(
        JobKind::DeployImage,
        Some(image_ref("xp-sp2", &image)),
        None,
    ));
    let mut disk = armed_disk();
    let mut bw = bootworks(AgentMode::Legacy, Delivery::Partition);
    let mut requests = Vec::new();
    let r = run(
        &mut bw,
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        image_server(o, &image, None, 0, &mut requests),
    );
    assert!(bw.screen().iter().any(|l| l == SHARE_WARNING));
    assert!(r.statuses_in(JobState::Failed).is_empty());
    assert!(!r.sent.contains(&AgentMessage::Bye), "no goodbye either");
    assert_eq!(r.end(), AgentAction::Exit);
    assert_eq!(
        disk.boot_flag(),
        Ok(Some(BootFlag::armed(1))),
        "the loop's fuel"
    );
}

#[test]
fn a_scripted_install_from_the_partition_is_refused_as_image_only() {
    let o = AgentMessage::JobOffer(offer(JobKind::ScriptedInstall, None, Some(share())));
    let mut disk = armed_disk();
    let r = run(
        &mut bootworks(REFERENCE, Delivery::Partition),
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        session(o.clone(), quiet),
    );
    let failed = r.statuses_in(JobState::Failed);
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].detail,
        "scripted install is not possible from a Bootworks partition (image only)"
    );
    assert_eq!(r.end(), AgentAction::Exit);

    // Legacy: the same job, no report: the seed's loop.
    let mut disk = armed_disk();
    let r = run(
        &mut bootworks(AgentMode::Legacy, Delivery::Partition),
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        session(o, quiet),
    );
    assert!(r.statuses_in(JobState::Failed).is_empty());
    assert_eq!(r.end(), AgentAction::Exit);
    assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::armed(1))));
}

#[test]
fn a_pxe_bootworks_hands_a_scripted_install_to_the_installer() {
    let o = AgentMessage::JobOffer(offer(JobKind::ScriptedInstall, None, Some(share())));
    let mut disk = armed_disk();
    let r = run(
        &mut bootworks(REFERENCE, Delivery::Pxe),
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        session(o, quiet),
    );
    assert!(r.statuses_in(JobState::Failed).is_empty());
    assert_eq!(r.end(), AgentAction::Reboot);
    assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::CLEAR)));
}

#[test]
fn a_failed_connect_prints_unable_to_open_tcp_socket() {
    let mut disk = armed_disk();
    let mut bw = bootworks(REFERENCE, Delivery::Partition);
    let r = run(
        &mut bw,
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Fail,
        quiet,
    );
    assert!(
        bw.screen()
            .iter()
            .any(|l| l == "ERROR: Unable to open TCP socket")
    );
    assert!(
        bw.screen()
            .iter()
            .any(|l| l == "ERROR: Unable to connect to the deployment server.")
    );
    assert!(r.sent.is_empty());
    assert_eq!(r.end(), AgentAction::Exit);
}

#[test]
fn an_unanswered_connect_times_out_after_ten_seconds_with_the_same_texts() {
    let mut disk = armed_disk();
    let mut bw = bootworks(REFERENCE, Delivery::Partition);
    let r = run(
        &mut bw,
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Hang,
        quiet,
    );
    assert!(
        bw.screen()
            .iter()
            .any(|l| l == "ERROR: Unable to open TCP socket")
    );
    assert_eq!(r.ended_at, Some(Instant::ZERO + TEN_S));
    assert_eq!(r.end(), AgentAction::Exit);
}

#[test]
fn refused_prints_unable_to_connect_to_the_deployment_server() {
    let mut disk = armed_disk();
    let mut bw = bootworks(REFERENCE, Delivery::Partition);
    let r = run(
        &mut bw,
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        |m| match m {
            AgentMessage::Hello(_) => vec![
                Reply::Msg(AgentMessage::Refused(Refused {
                    reason: RefuseReason::UnknownComputer,
                    text: "no computer with MAC 52:54:00:12:34:56".into(),
                })),
                Reply::Close,
            ],
            _ => vec![],
        },
    );
    assert!(
        bw.screen()
            .iter()
            .any(|l| l == "ERROR: Unable to connect to the deployment server.")
    );
    assert!(
        !bw.screen()
            .iter()
            .any(|l| l == "ERROR: Unable to open TCP socket")
    );
    assert_eq!(r.end(), AgentAction::Exit);
}

#[test]
fn a_silent_server_mid_image_is_reported_after_the_reply_timeout() {
    let image = image_bytes(IMAGE_LEN);
    let mut disk = armed_disk();
    let mut served = 0;
    let start = Instant::from_secs(42);
    let r = run(
        &mut bootworks(REFERENCE, Delivery::Partition),
        &mut disk,
        start,
        ConnectOutcome::Accept,
        session(deploy(&image), |m| match m {
            // Serves the first chunk, then goes quiet.
            AgentMessage::ImageRequest(req) if served == 0 => {
                served += 1;
                let data = image[..req.len as usize].to_vec();
                vec![Reply::Msg(AgentMessage::ImageChunk(ImageChunk::new(
                    req.job_id, 0, data,
                )))]
            }
            _ => vec![],
        }),
    );
    let failed = r.statuses_in(JobState::Failed);
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].detail,
        "no reply from the deployment server within 30 s"
    );
    assert_eq!(failed[0].progress_bytes, 1000);
    assert_eq!(r.ended_at, Some(start + THIRTY_S));
    assert_eq!(r.end(), AgentAction::Exit);
}

#[test]
fn a_share_error_from_the_server_is_reported_in_reference_mode() {
    let image = image_bytes(IMAGE_LEN);
    let mut disk = armed_disk();
    let r = run(
        &mut bootworks(REFERENCE, Delivery::Partition),
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        session(deploy(&image), |m| match m {
            AgentMessage::ImageRequest(_) => vec![Reply::Msg(AgentMessage::Error(ErrorReport {
                code: ErrorCode::ShareUnavailable,
                text: "no share credential for LAB-PC-07".into(),
            }))],
            _ => vec![],
        }),
    );
    let failed = r.statuses_in(JobState::Failed);
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].detail,
        "server error: no share credential for LAB-PC-07"
    );
    assert_eq!(r.end(), AgentAction::Exit);
}

#[test]
fn no_job_clears_the_flag_and_leaves() {
    let mut disk = armed_disk();
    let r = run(
        &mut bootworks(REFERENCE, Delivery::Partition),
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        session(AgentMessage::NoJob, quiet),
    );
    assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::CLEAR)));
    assert_eq!(r.last_sent(), Some(&AgentMessage::Bye));
    assert_eq!(r.end(), AgentAction::Exit);
}

#[test]
fn a_chunk_for_another_offset_is_a_reported_protocol_failure() {
    let image = image_bytes(IMAGE_LEN);
    let mut disk = armed_disk();
    let r = run(
        &mut bootworks(REFERENCE, Delivery::Partition),
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        session(deploy(&image), |m| match m {
            AgentMessage::ImageRequest(req) => {
                vec![Reply::Msg(AgentMessage::ImageChunk(ImageChunk::new(
                    req.job_id,
                    req.offset + 1,
                    vec![1, 2, 3],
                )))]
            }
            _ => vec![],
        }),
    );
    let failed = r.statuses_in(JobState::Failed);
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].detail.starts_with("protocol error"),
        "{}",
        failed[0].detail
    );
    assert_eq!(r.end(), AgentAction::Exit);
}

/// The whole cycle on one disk: AClient arms, the machine boots Bootworks from
/// its partition, Bootworks images and clears the flag, Windows comes back and
/// AClient finishes with post-config.
#[test]
fn aclient_bootworks_aclient_deploys_the_image_and_finishes_the_job() {
    use pxelab_reference::agent::AClient;
    use pxelab_reference::wire::mbr::BootTarget;

    let image = image_bytes(IMAGE_LEN);
    let image_offer = deploy(&image);
    let mut disk = lab_disk();
    let mut client = AClient::new(config(REFERENCE));

    let r = run(
        &mut client,
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        session(image_offer.clone(), quiet),
    );
    assert_eq!(r.end(), AgentAction::Reboot);
    let BootTarget::Bootworks { .. } = disk.mbr().unwrap().boot_target() else {
        panic!("the flag must divert the boot to Bootworks");
    };

    let mut requests = Vec::new();
    let r = run(
        &mut bootworks(REFERENCE, Delivery::Partition),
        &mut disk,
        Instant::from_secs(60),
        ConnectOutcome::Accept,
        image_server(image_offer.clone(), &image, None, 0, &mut requests),
    );
    assert_eq!(r.end(), AgentAction::Reboot);
    assert_eq!(
        disk.mbr().unwrap().boot_target(),
        BootTarget::Active { partition: 0 }
    );

    let r = run(
        &mut client,
        &mut disk,
        Instant::from_secs(120),
        ConnectOutcome::Accept,
        session(image_offer, quiet),
    );
    assert_eq!(r.statuses_in(JobState::Succeeded).len(), 1);
    assert_eq!(client.applied(), Some(&post_config()));
    assert_eq!(os_bytes(&disk, IMAGE_LEN), image);
}

#[test]
fn the_image_ref_of_the_offer_is_what_is_checked() {
    // Guard for the fixture itself: the helper's digest is the image's.
    let image = image_bytes(10);
    let r: ImageRef = image_ref("x", &image);
    assert_eq!(r.size, 10);
    let mut disk = MemoryDisk::with_layout(1, None).unwrap();
    disk.write(0, 0, &image).unwrap();
    assert_eq!(disk.partition_sha256(0, 10), Ok(r.sha256));
}

#[test]
fn boot_to_production_clears_the_flag_and_succeeds() {
    let o = AgentMessage::JobOffer(offer(JobKind::BootToProduction, None, Some(share())));
    let mut disk = armed_disk();
    let r = run(
        &mut bootworks(REFERENCE, Delivery::Partition),
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        session(o, quiet),
    );
    let last = r.statuses().last().map(|s| (s.state, s.detail.clone()));
    assert_eq!(
        last,
        Some((JobState::Succeeded, "booted to production".to_string()))
    );
    assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::CLEAR)));
    assert_eq!(r.end(), AgentAction::Reboot);
}
