//! Scheduling refusals, the job state table and its history, the retry bound of
//! the reference server against the legacy loop, initial deployment, events.

use pxelab_reference::deploy::{
    ComputerId, DeployConfig, DeployEventKind, DeploymentServer, Image, JobError, JobId, JobKind,
    JobReport, JobState, PreOsPath, ScheduleRefused, ServerMode,
};
use pxelab_reference::{Instant, Mac};

fn at(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

fn mac(last: u8) -> Mac {
    Mac([0x52, 0x54, 0x00, 0x00, 0x00, last])
}

fn xp_image() -> Image {
    Image {
        name: "xp-sp2-sysprep".into(),
        size: 2 << 30,
        sha256: [0x5a; 32],
    }
}

fn deploy_xp() -> JobKind {
    JobKind::DeployImage {
        image: "xp-sp2-sysprep".into(),
    }
}

fn scripted_xp() -> JobKind {
    JobKind::ScriptedInstall {
        os: "Windows XP SP2".into(),
    }
}

/// A server with the XP image and one computer on `path`.
fn lab(mode: ServerMode, path: PreOsPath) -> (DeploymentServer, ComputerId) {
    let mut s = DeploymentServer::new(DeployConfig {
        mode,
        max_attempts: 3,
        initial_deployment: None,
    });
    s.add_image(xp_image()).expect("empty store");
    let c = s.register(at(0), mac(1), None, "dell-test");
    s.set_pre_os(c, path).expect("registered");
    (s, c)
}

fn drain(s: &mut DeploymentServer) -> Vec<String> {
    std::iter::from_fn(|| s.poll_event())
        .map(|e| e.to_string())
        .collect()
}

// ---------------------------------------------------------------------------
// Scheduling

#[test]
fn groundhog_day_job_is_refused_at_scheduling_as_image_only() {
    let (mut s, c) = lab(ServerMode::Reference, PreOsPath::PartitionBootworks);
    let refused = s.schedule(at(1), c, scripted_xp()).unwrap_err();
    assert!(matches!(refused, ScheduleRefused::ImageOnly { .. }));
    let text = refused.to_string();
    assert!(text.contains("image only"), "{text}");
    assert!(
        text.contains("dell-test") && text.contains("Windows XP SP2"),
        "{text}"
    );
    assert!(
        text.contains("sysprepped image"),
        "the fix is named: {text}"
    );
    assert!(s.jobs().is_empty(), "a refused job is not stored");
    assert!(s.next_job_for(c).is_none());
    // The same computer may still be imaged: the partition is image only.
    assert!(s.schedule(at(2), c, deploy_xp()).is_ok());
}

#[test]
fn legacy_accepts_the_groundhog_day_job() {
    let (mut s, c) = lab(
        ServerMode::Legacy { trust_uuid: false },
        PreOsPath::PartitionBootworks,
    );
    let job = s
        .schedule(at(1), c, scripted_xp())
        .expect("legacy checks nothing");
    assert_eq!(s.next_job_for(c).map(|j| j.id), Some(job));
}

#[test]
fn pre_os_jobs_need_a_pre_os_path_but_os_jobs_do_not() {
    let (mut s, c) = lab(ServerMode::Reference, PreOsPath::None);
    for kind in [
        deploy_xp(),
        scripted_xp(),
        JobKind::CaptureImage {
            image_name: "golden".into(),
        },
    ] {
        let name = kind.name();
        let err = s.schedule(at(1), c, kind).unwrap_err();
        assert!(
            matches!(err, ScheduleRefused::NoPreOsPath { kind, .. } if kind == name),
            "{err}"
        );
        assert!(err.to_string().contains("no pre-OS path"));
    }
    assert!(
        s.schedule(
            at(1),
            c,
            JobKind::RunScript {
                script: "ipconfig".into()
            }
        )
        .is_ok()
    );
    assert!(s.schedule(at(1), c, JobKind::BootToProduction).is_ok());
}

#[test]
fn pxe_bootworks_can_run_a_scripted_install() {
    let (mut s, c) = lab(ServerMode::Reference, PreOsPath::PxeBootworks);
    assert!(s.schedule(at(1), c, scripted_xp()).is_ok());
}

#[test]
fn images_must_be_in_the_store_and_captures_must_not_overwrite() {
    let (mut s, c) = lab(ServerMode::Reference, PreOsPath::PxeBootworks);
    let err = s
        .schedule(
            at(1),
            c,
            JobKind::DeployImage {
                image: "win7".into(),
            },
        )
        .unwrap_err();
    assert_eq!(err, ScheduleRefused::ImageNotInStore("win7".into()));
    assert!(err.to_string().contains("not in the image store"));
    let err = s
        .schedule(
            at(1),
            c,
            JobKind::CaptureImage {
                image_name: "xp-sp2-sysprep".into(),
            },
        )
        .unwrap_err();
    assert!(matches!(err, ScheduleRefused::ImageExists(_)), "{err}");
    assert!(
        s.schedule(
            at(1),
            c,
            JobKind::CaptureImage {
                image_name: "golden".into()
            }
        )
        .is_ok()
    );
}

#[test]
fn unknown_computers_are_refused_in_reference_and_accepted_in_legacy() {
    let (mut s, _) = lab(ServerMode::Reference, PreOsPath::PxeBootworks);
    let ghost = ComputerId(99);
    assert_eq!(
        s.schedule(at(1), ghost, JobKind::BootToProduction),
        Err(ScheduleRefused::UnknownComputer(ghost))
    );
    let (mut legacy, _) = lab(ServerMode::Legacy { trust_uuid: false }, PreOsPath::None);
    // Legacy keeps a job for a computer that does not exist: it will never run.
    assert!(
        legacy
            .schedule(at(1), ghost, JobKind::BootToProduction)
            .is_ok()
    );
}

#[test]
fn image_store_lookup_and_no_duplicates() {
    let (mut s, _) = lab(ServerMode::Reference, PreOsPath::None);
    assert_eq!(s.images().get("xp-sp2-sysprep"), Some(&xp_image()));
    assert!(
        s.images().get("XP-SP2-SYSPREP").is_none(),
        "names are exact"
    );
    let err = s.add_image(xp_image()).unwrap_err();
    assert!(err.to_string().contains("never overwritten"));
    assert_eq!(s.images().len(), 1);
}

// ---------------------------------------------------------------------------
// Transitions and history

#[test]
fn a_deployment_goes_through_every_state_and_keeps_its_history() {
    let (mut s, c) = lab(ServerMode::Reference, PreOsPath::PxeBootworks);
    let job = s.schedule(at(1), c, deploy_xp()).expect("ok");
    assert_eq!(s.arm(at(2), job), Ok(JobState::Armed));
    s.start(at(30), job).expect("armed job starts");
    let note = "wrote 50%".to_string();
    assert_eq!(
        s.report_status(at(60), job, JobReport::Progress { note }),
        Ok(JobState::Running)
    );
    assert_eq!(
        s.report_status(
            at(90),
            job,
            JobReport::Succeeded {
                note: "checksum verified".into()
            }
        ),
        Ok(JobState::Succeeded)
    );
    let j = s.job(job).expect("exists");
    let steps: Vec<(u64, &str)> = j
        .history()
        .iter()
        .map(|h| (h.at.as_nanos() / 1_000_000_000, h.state.name()))
        .collect();
    assert_eq!(
        steps,
        [
            (1, "scheduled"),
            (2, "armed"),
            (30, "running"),
            (60, "running"),
            (90, "succeeded")
        ]
    );
    assert_eq!(j.history()[3].note, "wrote 50%");
    assert!(s.next_job_for(c).is_none(), "finished jobs are not offered");
}

#[test]
fn illegal_transitions_are_errors_and_change_nothing() {
    let (mut s, c) = lab(ServerMode::Reference, PreOsPath::PxeBootworks);
    let job = s.schedule(at(1), c, deploy_xp()).expect("ok");
    // A pre-OS job cannot start before it is armed.
    let err = s.start(at(2), job).unwrap_err();
    assert!(matches!(
        err,
        JobError::IllegalTransition {
            from: "scheduled",
            to: "running",
            ..
        }
    ));
    assert!(err.to_string().contains("must be armed"), "{err}");
    // Nothing was attempted, so nothing can fail or succeed.
    assert!(s.fail(at(2), job, "x".into()).is_err());
    assert!(
        s.report_status(at(2), job, JobReport::Succeeded { note: "x".into() })
            .is_err()
    );
    assert!(
        s.report_status(at(2), job, JobReport::Progress { note: "x".into() })
            .is_err()
    );
    let j = s.job(job).expect("exists");
    assert_eq!(j.state(), &JobState::Scheduled);
    assert_eq!(j.history().len(), 1);
    assert_eq!(j.failed_attempts(), 0);

    // Armed: cannot succeed without running.
    s.arm(at(3), job).expect("arms");
    assert!(
        s.report_status(at(4), job, JobReport::Succeeded { note: "x".into() })
            .is_err()
    );
    s.start(at(5), job).expect("starts");
    s.report_status(
        at(7),
        job,
        JobReport::Succeeded {
            note: "done".into(),
        },
    )
    .expect("succeeds");
    // Finished: nothing more.
    let err = s.start(at(8), job).unwrap_err();
    assert!(err.to_string().contains("finished"), "{err}");
    assert!(s.arm(at(8), job).is_err());
    assert!(s.fail(at(8), job, "late".into()).is_err());
    assert_eq!(s.job(job).map(|j| j.state()), Some(&JobState::Succeeded));
    assert_eq!(s.job(job).map(|j| j.history().len()), Some(4));
    assert_eq!(s.job(job).map(|j| j.failed_attempts()), Some(0));

    assert_eq!(
        s.start(at(9), JobId(77)),
        Err(JobError::UnknownJob(JobId(77)))
    );
}

#[test]
fn os_jobs_start_without_arming_and_cannot_be_armed() {
    let (mut s, c) = lab(ServerMode::Reference, PreOsPath::None);
    let job = s
        .schedule(
            at(1),
            c,
            JobKind::RunScript {
                script: "inventory.bat".into(),
            },
        )
        .expect("ok");
    assert!(s.arm(at(2), job).is_err());
    s.start(at(2), job).expect("AClient runs it");
    assert_eq!(
        s.report_status(at(3), job, JobReport::Succeeded { note: "ok".into() }),
        Ok(JobState::Succeeded)
    );
}

#[test]
fn jobs_are_offered_one_at_a_time_in_scheduling_order() {
    let (mut s, c) = lab(ServerMode::Reference, PreOsPath::PxeBootworks);
    let first = s.schedule(at(1), c, deploy_xp()).expect("ok");
    let second = s.schedule(at(1), c, JobKind::BootToProduction).expect("ok");
    assert_eq!(s.next_job_for(c).map(|j| j.id), Some(first));
    s.arm(at(2), first).expect("arms");
    s.start(at(3), first).expect("starts");
    s.report_status(at(4), first, JobReport::Succeeded { note: "ok".into() })
        .expect("ok");
    assert_eq!(s.next_job_for(c).map(|j| j.id), Some(second));
}

// ---------------------------------------------------------------------------
// Bounded retries against the legacy loop

/// One boot cycle of the seed: AClient arms the job, Bootworks boots and fails
/// (drive mapping), Windows comes back. Returns the job's state after it.
fn failing_boot(s: &mut DeploymentServer, job: JobId, t: u64) -> Result<JobState, JobError> {
    if let Ok(JobState::Failed { reason }) = s.arm(at(t), job) {
        return Ok(JobState::Failed { reason });
    }
    s.start(at(t + 30), job)?;
    s.report_status(
        at(t + 40),
        job,
        JobReport::Failed {
            reason: "Warning a network drive has not been mapped correctly!".into(),
        },
    )
}

#[test]
fn reference_fails_the_job_after_max_attempts() {
    let (mut s, c) = lab(ServerMode::Reference, PreOsPath::PxeBootworks);
    let job = s.schedule(at(0), c, deploy_xp()).expect("ok");
    assert_eq!(failing_boot(&mut s, job, 100), Ok(JobState::Scheduled));
    assert_eq!(failing_boot(&mut s, job, 200), Ok(JobState::Scheduled));
    let last = failing_boot(&mut s, job, 300).expect("legal");
    let JobState::Failed { reason } = last else {
        panic!("third failure must fail the job, got {last:?}");
    };
    assert!(reason.contains("network drive"), "{reason}");
    assert!(reason.contains("3 attempts"), "{reason}");
    assert_eq!(s.job(job).map(|j| j.failed_attempts()), Some(3));
    assert!(
        s.next_job_for(c).is_none(),
        "the machine is no longer sent to pre-OS"
    );
    assert!(s.arm(at(400), job).is_err());
}

#[test]
fn legacy_keeps_the_job_scheduled_forever() {
    let (mut s, c) = lab(
        ServerMode::Legacy { trust_uuid: false },
        PreOsPath::PartitionBootworks,
    );
    let job = s.schedule(at(0), c, scripted_xp()).expect("legacy accepts");
    for boot in 1..=50 {
        assert_eq!(
            failing_boot(&mut s, job, boot * 100),
            Ok(JobState::Scheduled),
            "boot {boot}"
        );
    }
    assert_eq!(s.job(job).map(|j| j.failed_attempts()), Some(50));
    assert_eq!(s.next_job_for(c).map(|j| j.id), Some(job), "Groundhog Day");
}

#[test]
fn a_pre_os_boot_that_never_reports_counts_as_a_failed_attempt() {
    // Legacy Bootworks exits on error without a word; the reference server still
    // notices when AClient arms the same job again, and stops at the bound.
    let (mut s, c) = lab(ServerMode::Reference, PreOsPath::PxeBootworks);
    let job = s.schedule(at(0), c, deploy_xp()).expect("ok");
    assert_eq!(s.arm(at(10), job), Ok(JobState::Armed));
    assert_eq!(s.arm(at(20), job), Ok(JobState::Armed));
    assert_eq!(s.arm(at(30), job), Ok(JobState::Armed));
    let last = s.arm(at(40), job).expect("legal");
    assert!(matches!(&last, JobState::Failed { reason } if reason.contains("without a report")));
    assert!(s.next_job_for(c).is_none());
    let j = s.job(job).expect("exists");
    let states: Vec<&str> = j.history().iter().map(|h| h.state.name()).collect();
    assert_eq!(
        states,
        [
            "scheduled",
            "armed",
            "scheduled",
            "armed",
            "scheduled",
            "armed",
            "failed"
        ]
    );

    // Bootworks started the job, then the machine came back to Windows with no
    // outcome reported: the same.
    let (mut s, c) = lab(ServerMode::Reference, PreOsPath::PxeBootworks);
    let job = s.schedule(at(0), c, deploy_xp()).expect("ok");
    s.arm(at(10), job).expect("arms");
    s.start(at(20), job).expect("starts");
    assert_eq!(s.arm(at(30), job), Ok(JobState::Armed));
    assert_eq!(s.job(job).map(|j| j.failed_attempts()), Some(1));
    let note = &s.job(job).expect("exists").history()[3].note;
    assert!(note.contains("before Bootworks reported"), "{note}");

    let (mut legacy, c) = lab(
        ServerMode::Legacy { trust_uuid: false },
        PreOsPath::PxeBootworks,
    );
    let job = legacy.schedule(at(0), c, deploy_xp()).expect("ok");
    for t in 1..=20 {
        assert_eq!(legacy.arm(at(t * 10), job), Ok(JobState::Armed));
    }
    assert_eq!(legacy.next_job_for(c).map(|j| j.id), Some(job));
}

#[test]
fn a_zero_attempt_bound_still_allows_one_attempt() {
    let mut s = DeploymentServer::new(DeployConfig {
        max_attempts: 0,
        ..DeployConfig::default()
    });
    s.add_image(xp_image()).expect("empty");
    let c = s.register(at(0), mac(1), None, "pc");
    s.set_pre_os(c, PreOsPath::PxeBootworks).expect("known");
    let job = s.schedule(at(0), c, deploy_xp()).expect("ok");
    s.arm(at(1), job).expect("first attempt is allowed");
    assert!(matches!(
        s.fail(at(2), job, "disk error".into()),
        Ok(JobState::Failed { .. })
    ));
}

// ---------------------------------------------------------------------------
// Initial deployment

#[test]
fn unknown_machines_that_pxe_boot_are_registered_and_get_the_initial_job() {
    let mut s = DeploymentServer::new(DeployConfig {
        initial_deployment: Some(deploy_xp()),
        ..DeployConfig::default()
    });
    s.add_image(xp_image()).expect("empty");
    let first = s.pxe_boot_unknown(at(5), mac(0x10), None);
    assert!(first.registered);
    assert!(first.refused.is_none());
    let job = first.job.expect("initial job scheduled");
    let c = s.computers().get(first.computer).expect("registered");
    assert_eq!(c.name, "new-525400000010");
    assert_eq!(c.pre_os, PreOsPath::PxeBootworks);
    assert_eq!(s.next_job_for(first.computer).map(|j| j.id), Some(job));
    assert_eq!(
        s.job(job).map(|j| &j.kind),
        Some(&deploy_xp()),
        "the configured job"
    );

    // The same machine booting again is known: no second registration or job.
    let again = s.pxe_boot_unknown(at(9), mac(0x10), None);
    assert!(!again.registered);
    assert_eq!(again.computer, first.computer);
    assert_eq!(again.job, None);
    assert_eq!(s.computers().len(), 1);
    assert_eq!(s.jobs().len(), 1);

    let other = s.pxe_boot_unknown(at(9), mac(0x11), None);
    assert!(other.registered && other.job.is_some());
    assert_ne!(other.computer, first.computer);
}

#[test]
fn an_initial_job_the_server_cannot_run_is_refused_with_its_reason() {
    let mut s = DeploymentServer::new(DeployConfig {
        initial_deployment: Some(JobKind::DeployImage {
            image: "missing".into(),
        }),
        ..DeployConfig::default()
    });
    let d = s.pxe_boot_unknown(at(1), mac(1), None);
    assert!(d.registered);
    assert_eq!(d.job, None);
    assert_eq!(
        d.refused,
        Some(ScheduleRefused::ImageNotInStore("missing".into()))
    );
}

#[test]
fn without_an_initial_job_unknown_machines_are_only_registered() {
    let mut s = DeploymentServer::new(DeployConfig::default());
    let d = s.pxe_boot_unknown(at(1), mac(1), None);
    assert!(d.registered && d.job.is_none() && d.refused.is_none());
    assert_eq!(s.computers().by_mac(mac(1)), Some(d.computer));
}

// ---------------------------------------------------------------------------
// Events

#[test]
fn every_decision_is_one_log_line() {
    let mut s = DeploymentServer::new(DeployConfig {
        initial_deployment: Some(deploy_xp()),
        ..DeployConfig::default()
    });
    s.add_image(xp_image()).expect("empty");
    let d = s.pxe_boot_unknown(
        at(1),
        mac(1),
        Some(pxelab_reference::deploy::SmbiosUuid([0; 16])),
    );
    let job = d.job.expect("scheduled");
    let part = s.register(at(2), mac(2), None, "dell-test");
    s.set_pre_os(part, PreOsPath::PartitionBootworks)
        .expect("known");
    assert!(s.schedule(at(3), part, scripted_xp()).is_err());
    s.arm(at(4), job).expect("arms");
    s.start(at(5), job).expect("starts");
    s.fail(at(6), job, "checksum mismatch".into())
        .expect("legal");
    s.arm(at(7), job).expect("arms");
    s.start(at(8), job).expect("starts");
    s.report_status(at(9), job, JobReport::Succeeded { note: "ok".into() })
        .expect("ok");
    let lines = drain(&mut s);
    assert_eq!(
        lines,
        [
            "1.000s identity warning: 52:54:00:00:00:01 sent an all-zero SMBIOS UUID (firmware could not read one): matched by MAC",
            "1.000s registered computer 1 new-525400000001 (52:54:00:00:00:01)",
            "1.000s scheduled job 1 for computer 1: deploy-image xp-sp2-sysprep",
            "2.000s registered computer 2 dell-test (52:54:00:00:00:02)",
            "3.000s refused scripted-install Windows XP SP2 for computer 2: dell-test reaches its pre-OS environment through a Bootworks partition, which is image only: it cannot run a scripted install of Windows XP SP2; deploy a sysprepped image instead, or give the computer PXE-delivered Bootworks",
            "4.000s armed job 1 (attempt 1)",
            "5.000s started job 1",
            "6.000s job 1 attempt 1 of 3 failed: checksum mismatch",
            "7.000s armed job 1 (attempt 2)",
            "8.000s started job 1",
            "9.000s job 1 succeeded",
        ]
    );
    for l in &lines {
        assert!(!l.contains('\n'));
    }
    assert!(s.poll_event().is_none());
}

#[test]
fn legacy_and_final_failure_events_read_as_such() {
    let (mut s, c) = lab(
        ServerMode::Legacy { trust_uuid: false },
        PreOsPath::PxeBootworks,
    );
    let job = s.schedule(at(0), c, deploy_xp()).expect("ok");
    drain(&mut s);
    s.arm(at(1), job).expect("arms");
    s.arm(at(2), job).expect("re-arms");
    let lines = drain(&mut s);
    assert_eq!(
        lines,
        [
            "1.000s armed job 1 (attempt 1)",
            "2.000s job 1 attempt 1 failed, rescheduled: the pre-OS boot ended without a report from Bootworks",
            "2.000s armed job 1 (attempt 2)",
        ]
    );

    let (mut r, c) = lab(ServerMode::Reference, PreOsPath::PxeBootworks);
    let job = r.schedule(at(0), c, deploy_xp()).expect("ok");
    for t in 1..=3 {
        r.arm(at(t * 10), job).expect("arms");
        r.start(at(t * 10 + 1), job).expect("starts");
        r.fail(at(t * 10 + 2), job, "no route to image share".into())
            .expect("legal");
    }
    let failed: Vec<_> = std::iter::from_fn(|| r.poll_event())
        .filter(|e| matches!(e.kind, DeployEventKind::Failed { .. }))
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        failed,
        ["32.000s job 1 failed: no route to image share (gave up after 3 attempts)"]
    );
}

#[test]
fn one_refusal_given_to_two_computers_reads_the_same_without_their_names() {
    use pxelab_reference::deploy::ScheduleRefused;
    let a = ScheduleRefused::ImageOnly {
        computer: "wks-1".into(),
        os: "Windows XP SP2".into(),
    };
    let b = ScheduleRefused::ImageOnly {
        computer: "wks-2".into(),
        os: "Windows XP SP2".into(),
    };
    assert_ne!(a.to_string(), b.to_string());
    assert_eq!(a.for_any_computer(), b.for_any_computer());
    assert!(
        a.for_any_computer()
            .to_string()
            .starts_with("the computer reaches its pre-OS environment"),
        "{}",
        a.for_any_computer()
    );
}
