//! AClient against a scripted server (agent conversation step 3): it arms the MBR
//! boot flag and reboots for a pre-OS job, finishes the job with post-config once
//! Bootworks cleared the flag, gives up after `max_attempts` in reference mode and
//! re-arms forever in legacy mode (the seed's loop).

mod agent_support;

use agent_support::*;
use pxelab_reference::Instant;
use pxelab_reference::agent::{
    AClient, AgentAction, AgentEventKind, AgentMode, BootDisk, DiskError,
};
use pxelab_reference::wire::agent::{
    AgentMessage, JobKind, JobState, RefuseReason, Refused, ShareRef,
};
use pxelab_reference::wire::mbr::BootFlag;

fn deploy_offer() -> AgentMessage {
    let image = image_ref("xp-sp2", &image_bytes(100));
    AgentMessage::JobOffer(offer(JobKind::DeployImage, Some(image), Some(share())))
}

/// One OS boot against a server that always offers `answer`.
fn boot_once(
    client: &mut AClient,
    disk: &mut dyn BootDisk,
    at: Instant,
    answer: AgentMessage,
) -> Run {
    run(
        client,
        disk,
        at,
        ConnectOutcome::Accept,
        session(answer, quiet),
    )
}

#[test]
fn a_deploy_offer_arms_the_flag_persists_the_job_and_reboots() {
    let mut disk = lab_disk();
    let mut client = AClient::new(config(REFERENCE));
    let r = boot_once(&mut client, &mut disk, Instant::ZERO, deploy_offer());

    assert!(
        matches!(r.sent[0], AgentMessage::Hello(ref h) if h.mac == MAC && h.computer_name == "LAB-PC-07")
    );
    assert!(matches!(r.sent[1], AgentMessage::CheckIn(c) if c.computer_id == COMPUTER_ID));
    let statuses = r.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].job_id, JOB);
    assert_eq!(statuses[0].state, JobState::Armed);
    assert_eq!(statuses[0].detail, "boot flag set, rebooting");
    assert_eq!(r.last_sent(), Some(&AgentMessage::Bye));
    assert_eq!(r.end(), AgentAction::Reboot);
    assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::armed(1))));
    assert_eq!(disk.agent_state().as_deref(), Some(&b"armed job 7"[..]));
    // The MBR itself carries it: the next boot is diverted to Bootworks.
    assert_eq!(
        disk.mbr().unwrap().boot_target(),
        pxelab_reference::wire::mbr::BootTarget::Bootworks { partition: 1 }
    );
    assert_eq!(client.applied(), None);
}

#[test]
fn once_bootworks_cleared_the_flag_post_config_is_applied_and_the_job_succeeds() {
    let mut disk = lab_disk();
    let mut client = AClient::new(config(REFERENCE));
    boot_once(&mut client, &mut disk, Instant::ZERO, deploy_offer());
    // Bootworks imaged the disk and cleared the flag.
    disk.clear_boot_flag().unwrap();

    let r = boot_once(
        &mut client,
        &mut disk,
        Instant::from_secs(300),
        deploy_offer(),
    );
    let statuses = r.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].state, JobState::Succeeded);
    assert_eq!(
        statuses[0].detail,
        "post-configuration applied: name LAB-PC-07"
    );
    assert_eq!(client.applied(), Some(&post_config()));
    assert!(
        r.has_event(|k| matches!(k, AgentEventKind::PostConfigApplied(p) if p.name == "LAB-PC-07"))
    );
    assert_eq!(
        disk.agent_state(),
        None,
        "the job is finished: nothing armed"
    );
    assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::CLEAR)));
    assert_eq!(r.last_sent(), Some(&AgentMessage::Bye));
    assert_eq!(r.end(), AgentAction::Close, "no reboot after post-config");
}

#[test]
fn post_config_with_an_address_says_so() {
    let mut disk = lab_disk();
    let mut client = AClient::new(config(REFERENCE));
    let mut o = offer(JobKind::DeployImage, None, None);
    o.post_config = Some(pxelab_reference::wire::agent::PostConfig {
        name: "WKS-12".into(),
        address: Some("10.0.0.12".parse().unwrap()),
    });
    boot_once(
        &mut client,
        &mut disk,
        Instant::ZERO,
        AgentMessage::JobOffer(o.clone()),
    );
    disk.clear_boot_flag().unwrap();
    let r = boot_once(
        &mut client,
        &mut disk,
        Instant::ZERO,
        AgentMessage::JobOffer(o),
    );
    assert_eq!(
        r.statuses()[0].detail,
        "post-configuration applied: name WKS-12, address 10.0.0.12"
    );
}

#[test]
fn reference_gives_up_after_max_attempts_clears_the_flag_and_reports_failure() {
    let mut disk = lab_disk();
    let mut client = AClient::new(config(AgentMode::Reference { max_attempts: 3 }));
    for attempt in 1..=3u8 {
        let r = boot_once(
            &mut client,
            &mut disk,
            Instant::from_secs(u64::from(attempt) * 600),
            deploy_offer(),
        );
        assert_eq!(r.end(), AgentAction::Reboot, "attempt {attempt} arms");
        assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::armed(attempt))));
        // Bootworks fails in between and leaves the flag armed: Windows again.
    }
    let r = boot_once(
        &mut client,
        &mut disk,
        Instant::from_secs(3000),
        deploy_offer(),
    );
    let statuses = r.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].state, JobState::Failed);
    assert_eq!(statuses[0].detail, "gave up after 3 pre-boot attempts");
    assert_eq!(r.end(), AgentAction::Close);
    assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::CLEAR)));
    assert_eq!(
        disk.mbr().unwrap().boot_target(),
        pxelab_reference::wire::mbr::BootTarget::Active { partition: 0 },
        "the machine boots its OS again"
    );
    assert_eq!(disk.agent_state(), None);
    assert_eq!(
        client.applied(),
        None,
        "a failed job applies no post-config"
    );
}

#[test]
fn legacy_re_arms_on_every_boot_and_never_reports_failure() {
    let mut disk = lab_disk();
    let mut client = AClient::new(config(AgentMode::Legacy));
    for boot in 1..=20u8 {
        let r = boot_once(
            &mut client,
            &mut disk,
            Instant::from_secs(u64::from(boot) * 600),
            deploy_offer(),
        );
        assert_eq!(r.end(), AgentAction::Reboot, "boot {boot}: still arming");
        let statuses = r.statuses();
        assert_eq!(statuses.len(), 1);
        assert_eq!(statuses[0].state, JobState::Armed);
        assert!(r.statuses_in(JobState::Failed).is_empty());
        assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::armed(boot))));
        // Bootworks fails in between and leaves the flag armed: Windows again.
    }
}

#[test]
fn no_job_says_bye_and_closes_without_touching_the_disk() {
    let mut disk = lab_disk();
    let before = disk.clone();
    let mut client = AClient::new(config(REFERENCE));
    let r = boot_once(&mut client, &mut disk, Instant::ZERO, AgentMessage::NoJob);
    assert_eq!(r.sent.len(), 3, "Hello, CheckIn, Bye: {:?}", r.sent);
    assert_eq!(r.last_sent(), Some(&AgentMessage::Bye));
    assert_eq!(r.end(), AgentAction::Close);
    assert_eq!(disk, before);
}

#[test]
fn reference_clears_a_flag_it_armed_for_a_job_the_server_dropped() {
    let mut disk = lab_disk();
    let mut client = AClient::new(config(REFERENCE));
    boot_once(&mut client, &mut disk, Instant::ZERO, deploy_offer());
    // The server failed the job meanwhile; Bootworks never ran.
    let r = boot_once(
        &mut client,
        &mut disk,
        Instant::from_secs(600),
        AgentMessage::NoJob,
    );
    assert_eq!(r.end(), AgentAction::Close);
    assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::CLEAR)));
    assert_eq!(disk.agent_state(), None);
}

#[test]
fn refused_closes_without_checking_in() {
    let mut disk = lab_disk();
    let mut client = AClient::new(config(REFERENCE));
    let r = run(
        &mut client,
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Accept,
        |m| match m {
            AgentMessage::Hello(_) => vec![
                Reply::Msg(AgentMessage::Refused(Refused {
                    reason: RefuseReason::BadCredential,
                    text: "wrong agent credential".into(),
                })),
                Reply::Close,
            ],
            _ => vec![],
        },
    );
    assert_eq!(r.sent.len(), 1);
    assert_eq!(r.end(), AgentAction::Close);
    assert!(r.has_event(|k| matches!(
        k,
        AgentEventKind::Refused {
            reason: RefuseReason::BadCredential,
            ..
        }
    )));
}

#[test]
fn run_script_runs_in_the_os_without_a_reboot() {
    let mut disk = lab_disk();
    let mut client = AClient::new(config(REFERENCE));
    let mut o = offer(JobKind::RunScript, None, None::<ShareRef>);
    o.script = Some("echo hi".into());
    let r = boot_once(
        &mut client,
        &mut disk,
        Instant::ZERO,
        AgentMessage::JobOffer(o),
    );
    let states: Vec<_> = r.statuses().iter().map(|s| s.state).collect();
    assert_eq!(states, [JobState::Running, JobState::Succeeded]);
    assert_eq!(r.end(), AgentAction::Close);
    assert_eq!(disk.boot_flag(), Ok(None));
}

#[test]
fn a_silent_server_is_given_up_on_after_the_reply_timeout() {
    let mut disk = lab_disk();
    let mut client = AClient::new(config(REFERENCE));
    let start = Instant::from_secs(5);
    let r = run(&mut client, &mut disk, start, ConnectOutcome::Accept, quiet);
    assert_eq!(r.end(), AgentAction::Close);
    assert_eq!(r.ended_at, Some(start + THIRTY_S));
    assert!(r.has_event(|k| matches!(k, AgentEventKind::TimedOut { .. })));
}

#[test]
fn an_unanswered_connect_ends_at_the_connect_timeout() {
    let mut disk = lab_disk();
    let mut client = AClient::new(config(REFERENCE));
    let r = run(
        &mut client,
        &mut disk,
        Instant::ZERO,
        ConnectOutcome::Hang,
        quiet,
    );
    assert_eq!(r.end(), AgentAction::Close);
    assert_eq!(r.ended_at, Some(Instant::ZERO + TEN_S));
    assert!(r.sent.is_empty());
}

#[test]
fn events_read_as_report_lines() {
    let mut disk = lab_disk();
    let mut client = AClient::new(config(REFERENCE));
    let r = boot_once(
        &mut client,
        &mut disk,
        Instant::from_millis(1500),
        deploy_offer(),
    );
    let lines: Vec<String> = r.events.iter().map(ToString::to_string).collect();
    assert!(
        lines.contains(&"1.500s boot flag armed for job 7 (attempt 1)".to_string()),
        "{lines:#?}"
    );
    assert!(lines.contains(&"1.500s reported job 7 armed: boot flag set, rebooting".to_string()));
    assert_eq!(
        lines.last().map(String::as_str),
        Some("1.500s finished: reboot")
    );
}

/// A disk whose MBR cannot be written (a write-protected or failing disk).
struct ReadOnlyMbr(pxelab_reference::agent::MemoryDisk);

impl BootDisk for ReadOnlyMbr {
    fn boot_flag(&self) -> Result<Option<BootFlag>, DiskError> {
        self.0.boot_flag()
    }
    fn set_boot_flag(&mut self, _: BootFlag) -> Result<(), DiskError> {
        Err(DiskError::NoSuchPartition(9))
    }
    fn clear_boot_flag(&mut self) -> Result<(), DiskError> {
        Err(DiskError::NoSuchPartition(9))
    }
    fn os_partition(&self) -> Result<usize, DiskError> {
        self.0.os_partition()
    }
    fn partition_len(&self, partition: usize) -> Result<u64, DiskError> {
        self.0.partition_len(partition)
    }
    fn write(&mut self, partition: usize, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        self.0.write(partition, offset, data)
    }
    fn partition_sha256(&self, partition: usize, len: u64) -> Result<[u8; 32], DiskError> {
        self.0.partition_sha256(partition, len)
    }
    fn agent_state(&self) -> Option<Vec<u8>> {
        self.0.agent_state()
    }
    fn set_agent_state(&mut self, state: Option<&[u8]>) -> Result<(), DiskError> {
        self.0.set_agent_state(state)
    }
    fn image_only(&self) -> bool {
        self.0.image_only()
    }
}

#[test]
fn a_flag_that_cannot_be_written_is_reported_and_the_machine_is_not_rebooted() {
    let mut disk = ReadOnlyMbr(lab_disk());
    let mut client = AClient::new(config(REFERENCE));
    let r = boot_once(&mut client, &mut disk, Instant::ZERO, deploy_offer());
    let failed = r.statuses_in(JobState::Failed);
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].detail.starts_with("cannot write the boot flag: "),
        "{}",
        failed[0].detail
    );
    assert_eq!(r.end(), AgentAction::Close, "a reboot would go nowhere new");
    assert_eq!(disk.agent_state(), None);
}
