//! Durable job state (issue 9): the Deployment Server commits every job change
//! to its job store before it reports or answers it, and a restart on the same
//! store merges the stored jobs with the configured ones.
//!
//! A restart is played by handing one server's store to the next
//! (`DeploymentServer::into_store`): only what was committed survives, as
//! after `kill -9`.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pxelab_reference::deploy::{
    AgentSession, Credential, CredentialKind, DeployConfig, DeployEventKind, DeploymentServer,
    JobChange, JobError, JobId, JobKind, JobReport, JobState, JobStore, JobStoreError,
    MemoryImages, MemoryJobStore, PreOsPath, ScheduleRefused, ServerMode, StoredJob,
};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::agent::{
    self as wire, AgentKind, AgentMessage, CheckIn, ErrorCode, FrameDecoder, Hello, JobStatus,
};
use pxelab_reference::{Instant, Mac};

const A: Mac = Mac([2, 0, 0, 0, 0, 0xa]);
const B: Mac = Mac([2, 0, 0, 0, 0, 0xb]);
const SECRET: [u8; 32] = [0x11; 32];

fn at(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

fn deploy(image: &str) -> JobKind {
    JobKind::DeployImage {
        image: image.into(),
    }
}

fn script(s: &str) -> JobKind {
    JobKind::RunScript { script: s.into() }
}

fn config(max_attempts: u32) -> DeployConfig {
    DeployConfig {
        mode: ServerMode::Reference,
        max_attempts,
        initial_deployment: None,
    }
}

/// One start of the server on `store`: computers A and B (PXE Bootworks, with
/// credentials), images xp and win7, then `jobs` scheduled in order, as the
/// CLI loads its config. Returns the server and the events of the start.
fn start(
    store: Box<dyn JobStore>,
    max_attempts: u32,
    jobs: &[(Mac, JobKind)],
) -> (DeploymentServer, Vec<DeployEventKind>) {
    let server = DeploymentServer::with_store(config(max_attempts), store).expect("store loads");
    let (mut server, ids) = server
        .load_config(at(0), |s| -> Result<Vec<JobId>, JobStoreError> {
            for image in ["xp", "win7"] {
                s.add_image(pxelab_reference::deploy::Image {
                    name: image.into(),
                    size: 10,
                    sha256: [0; 32],
                })
                .unwrap();
            }
            let mut ids = Vec::new();
            for (name, mac) in [("a", A), ("b", B)] {
                let c = s.register(at(0), mac, None, name);
                s.set_pre_os(c, PreOsPath::PxeBootworks).unwrap();
                s.set_credential(c, CredentialKind::Agent, Credential::from_bytes(SECRET))
                    .unwrap();
            }
            for (mac, kind) in jobs {
                let c = s.computers().by_mac(*mac).unwrap();
                ids.push(s.schedule(at(0), c, kind.clone()).unwrap());
            }
            Ok(ids)
        })
        .expect("the config loads");
    assert_eq!(ids.len(), jobs.len());
    let events = std::iter::from_fn(|| server.poll_event())
        .map(|e| e.kind)
        .collect();
    (server, events)
}

fn job_of(server: &DeploymentServer, mac: Mac, kind: &JobKind) -> JobId {
    let c = server.computers().by_mac(mac).unwrap();
    server
        .jobs()
        .iter()
        .find(|j| j.computer == c && j.kind == *kind)
        .unwrap_or_else(|| panic!("no {kind} for {mac}"))
        .id
}

fn next_for(server: &DeploymentServer, mac: Mac) -> Option<JobId> {
    let c = server.computers().by_mac(mac).unwrap();
    server.next_job_for(c).map(|j| j.id)
}

#[test]
fn a_restart_resumes_each_configured_job_with_its_id_state_attempts_and_history() {
    let jobs = [
        (A, deploy("xp")),
        (A, script("inventory")),
        (B, JobKind::BootToProduction),
    ];
    let (mut s, _) = start(Box::new(MemoryJobStore::new()), 3, &jobs);
    let (dep, inv) = (job_of(&s, A, &jobs[0].1), job_of(&s, A, &jobs[1].1));
    // The deploy: armed, its boot lost (a failed attempt), armed again, running.
    s.arm(at(1), dep).unwrap();
    s.arm(at(2), dep).unwrap();
    s.start(at(3), dep).unwrap();
    // The script: done.
    s.start(at(4), inv).unwrap();
    s.report_status(
        at(5),
        inv,
        JobReport::Succeeded {
            note: "done".into(),
        },
    )
    .unwrap();
    let before: Vec<_> = s.jobs().to_vec();

    let (s2, events) = start(s.into_store(), 3, &jobs);
    assert_eq!(s2.jobs().len(), 3);
    for old in &before {
        let new = s2.job(old.id).expect("same id");
        assert_eq!(new.kind, old.kind);
        assert_eq!(new.state(), old.state(), "{}", old.id);
        assert_eq!(new.failed_attempts(), old.failed_attempts());
        assert_eq!(&new.history()[..old.history().len()], old.history());
        // An unfinished job's history says the server restarted; a finished
        // one's ends where it ended.
        let extra = usize::from(!old.state().is_terminal());
        assert_eq!(new.history().len(), old.history().len() + extra);
    }
    assert_eq!(s2.job(dep).unwrap().failed_attempts(), 1);
    assert!(
        s2.job(dep)
            .unwrap()
            .history()
            .last()
            .unwrap()
            .note
            .contains("restart"),
        "{:?}",
        s2.job(dep).unwrap().history()
    );
    // Every job came back from the store, none was scheduled afresh.
    let resumed = events
        .iter()
        .filter(|e| matches!(e, DeployEventKind::Resumed { .. }))
        .count();
    assert_eq!(resumed, 3, "{events:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, DeployEventKind::Scheduled { .. })),
        "{events:?}"
    );
    // The running deploy is still A's job; the finished script is not offered.
    assert_eq!(next_for(&s2, A), Some(dep));
}

#[test]
fn new_jobs_start_fresh_after_every_stored_id_and_reordering_changes_nothing() {
    let jobs = [(A, deploy("xp")), (B, JobKind::BootToProduction)];
    let (mut s, _) = start(Box::new(MemoryJobStore::new()), 3, &jobs);
    let boot = job_of(&s, B, &JobKind::BootToProduction);
    s.start(at(1), boot).unwrap();

    // The config reordered, with a new job first.
    let edited = [
        (B, script("inventory")),
        (B, JobKind::BootToProduction),
        (A, deploy("xp")),
    ];
    let (s2, events) = start(s.into_store(), 3, &edited);
    let new = job_of(&s2, B, &script("inventory"));
    assert_eq!(new, JobId(3), "a new job's id comes after every stored one");
    assert_eq!(s2.job(new).unwrap().state(), &JobState::Scheduled);
    assert_eq!(job_of(&s2, B, &JobKind::BootToProduction), boot);
    assert_eq!(s2.job(boot).unwrap().state(), &JobState::Running);
    assert_eq!(job_of(&s2, A, &deploy("xp")), JobId(1));
    // Jobs run in the order first scheduled: B's running job before its new one.
    assert_eq!(next_for(&s2, B), Some(boot));
    assert_eq!(
        s2.jobs().iter().map(|j| j.id.0).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(
        events.iter().any(|e| matches!(
            e,
            DeployEventKind::Scheduled { job, .. } if *job == new
        )),
        "{events:?}"
    );
}

#[test]
fn a_stored_job_no_longer_configured_is_reported_kept_and_not_offered() {
    let jobs = [(A, deploy("xp")), (A, script("inventory"))];
    let (mut s, _) = start(Box::new(MemoryJobStore::new()), 3, &jobs);
    let dep = job_of(&s, A, &deploy("xp"));
    s.arm(at(1), dep).unwrap();

    // The deploy was taken out of the config (or edited to another image:
    // another job).
    let (s2, events) = start(
        s.into_store(),
        3,
        &[(A, deploy("win7")), (A, script("inventory"))],
    );
    let warned: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            DeployEventKind::NotConfigured {
                job, mac, state, ..
            } => Some((*job, *mac, state.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(warned, [(dep, A, JobState::Armed)], "{events:?}");
    assert!(s2.job(dep).is_none(), "not in this run's jobs");
    let win7 = job_of(&s2, A, &deploy("win7"));
    assert_eq!(win7, JobId(3));
    // The script (job 2) comes first now: it was scheduled before win7.
    assert_eq!(next_for(&s2, A), Some(JobId(2)));
    assert!(
        s2.next_job_for(s2.computers().by_mac(A).unwrap())
            .unwrap()
            .id
            != dep
    );

    // Kept: configured again, it resumes where it was.
    let (s3, _) = start(s2.into_store(), 3, &jobs);
    assert_eq!(s3.job(dep).unwrap().state(), &JobState::Armed);
    assert_eq!(next_for(&s3, A), Some(dep));
}

#[test]
fn the_same_job_twice_is_told_apart_by_its_ordinal() {
    let jobs = [(A, script("inventory")), (A, script("inventory"))];
    let (mut s, _) = start(Box::new(MemoryJobStore::new()), 3, &jobs);
    let first = next_for(&s, A).unwrap();
    s.start(at(1), first).unwrap();
    s.report_status(
        at(2),
        first,
        JobReport::Succeeded {
            note: "done".into(),
        },
    )
    .unwrap();
    let second = next_for(&s, A).unwrap();
    assert_ne!(first, second);

    let (s2, _) = start(s.into_store(), 3, &jobs);
    assert_eq!(s2.job(first).unwrap().state(), &JobState::Succeeded);
    assert_eq!(s2.job(second).unwrap().state(), &JobState::Scheduled);
    assert_eq!(next_for(&s2, A), Some(second));
}

#[test]
fn the_retry_bound_holds_across_restarts() {
    let jobs = [(A, deploy("xp"))];
    let (mut s, _) = start(Box::new(MemoryJobStore::new()), 2, &jobs);
    let dep = JobId(1);
    s.arm(at(1), dep).unwrap();
    s.start(at(2), dep).unwrap();
    // Crash while Bootworks runs it; after the restart AClient is back in the
    // OS and arms again: the lost attempt counts.
    let (mut s, _) = start(s.into_store(), 2, &jobs);
    assert_eq!(s.arm(at(3), dep).unwrap(), JobState::Armed);
    assert_eq!(s.job(dep).unwrap().failed_attempts(), 1);
    // Again, and the bound of 2 is reached although no run saw two attempts.
    let (mut s, _) = start(s.into_store(), 2, &jobs);
    assert!(matches!(
        s.arm(at(4), dep).unwrap(),
        JobState::Failed { .. }
    ));
    let (s, _) = start(s.into_store(), 2, &jobs);
    assert!(matches!(
        s.job(dep).unwrap().state(),
        JobState::Failed { .. }
    ));
    assert_eq!(next_for(&s, A), None);
}

#[test]
fn an_initial_deployment_machine_gets_its_stored_job_back_when_it_pxe_boots_again() {
    const C: Mac = Mac([2, 0, 0, 0, 0, 0xc]);
    let initial = DeployConfig {
        initial_deployment: Some(deploy("xp")),
        ..config(3)
    };
    let boot = |store| {
        let s = DeploymentServer::with_store(initial.clone(), store).unwrap();
        let (mut s, ()) = s
            .load_config(at(0), |s| -> Result<(), JobStoreError> {
                s.add_image(pxelab_reference::deploy::Image {
                    name: "xp".into(),
                    size: 10,
                    sha256: [0; 32],
                })
                .unwrap();
                Ok(())
            })
            .unwrap();
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event())
            .map(|e| e.kind)
            .collect();
        (s, events)
    };
    let (mut s, _) = boot(Box::new(MemoryJobStore::new()));
    let job = s.pxe_boot_unknown(at(1), C, None).job.unwrap();
    s.arm(at(2), job).unwrap();
    s.start(at(3), job).unwrap();
    s.report_status(
        at(4),
        job,
        JobReport::Succeeded {
            note: "imaged".into(),
        },
    )
    .unwrap();

    // After a restart the machine is unknown again (registrations are not
    // stored); its job waits in the store, reported.
    let (mut s, events) = boot(s.into_store());
    assert!(
        matches!(&events[..], [DeployEventKind::NotConfigured { job: j, mac, state: JobState::Succeeded, .. }] if *j == job && *mac == C),
        "{events:?}"
    );
    // It PXE-boots again: registered again, and its job is the stored one,
    // finished, so it is not imaged a second time.
    let again = s.pxe_boot_unknown(at(5), C, None);
    assert!(again.registered);
    assert_eq!(again.job, Some(job));
    assert_eq!(s.job(job).unwrap().state(), &JobState::Succeeded);
    assert_eq!(s.next_job_for(again.computer).map(|j| j.id), None);
}

// ------------------------------------------------------------ store failures

/// A memory store that fails every `apply` while its switch is on.
struct FlakyStore {
    inner: MemoryJobStore,
    failing: Arc<AtomicBool>,
}

impl JobStore for FlakyStore {
    fn load(&self) -> Result<Vec<StoredJob>, JobStoreError> {
        self.inner.load()
    }
    fn apply(&mut self, changes: &[JobChange]) -> Result<(), JobStoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(JobStoreError::Other("disk full".into()));
        }
        self.inner.apply(changes)
    }
}

fn flaky() -> (Box<dyn JobStore>, Arc<AtomicBool>) {
    let failing = Arc::new(AtomicBool::new(false));
    let store = FlakyStore {
        inner: MemoryJobStore::new(),
        failing: failing.clone(),
    };
    (Box::new(store), failing)
}

/// Feeds `msg` to the session and returns what the server answered.
fn say(
    session: &mut AgentSession,
    server: &mut DeploymentServer,
    now: Instant,
    msg: AgentMessage,
) -> Vec<AgentMessage> {
    let bytes = msg.to_bytes().unwrap();
    let images = MemoryImages::new();
    let mut rest = &bytes[..];
    let mut dec = FrameDecoder::new(ParseMode::Strict);
    let mut out = Vec::new();
    while !rest.is_empty() {
        let taken = session.handle_bytes(now, rest, server, &images);
        rest = &rest[taken..];
        while let Some(frame) = session.poll_send() {
            let mut f = &frame[..];
            while !f.is_empty() {
                let n = dec.push(f);
                f = &f[n..];
            }
            while let Some(m) = dec.next() {
                out.push(m.unwrap());
            }
        }
    }
    out
}

fn status(job: JobId, state: wire::JobState) -> AgentMessage {
    AgentMessage::JobStatus(JobStatus {
        job_id: u64::from(job.0),
        state,
        progress_bytes: 0,
        detail: String::new(),
    })
}

#[test]
fn a_report_the_store_cannot_record_is_not_acknowledged() {
    let (store, failing) = flaky();
    let (mut server, _) = start(store, 3, &[(A, script("inventory"))]);
    let job = JobId(1);
    let computer = server.computers().by_mac(A).unwrap();
    let peer = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 7), 40000);
    let mut session = AgentSession::new(at(1), peer);
    let hello = AgentMessage::Hello(Hello {
        agent: AgentKind::AClient,
        version: 1,
        mac: A,
        uuid: None,
        computer_name: "a".into(),
        credential: SECRET.to_vec(),
    });
    assert!(matches!(
        say(&mut session, &mut server, at(1), hello)[..],
        [AgentMessage::Welcome(_)]
    ));
    let check_in = AgentMessage::CheckIn(CheckIn {
        computer_id: u64::from(computer.0),
    });
    assert!(matches!(
        say(&mut session, &mut server, at(1), check_in.clone())[..],
        [AgentMessage::JobOffer(_)]
    ));
    assert!(
        say(
            &mut session,
            &mut server,
            at(2),
            status(job, wire::JobState::Running)
        )
        .is_empty()
    );
    let history = server.job(job).unwrap().history().len();
    while server.poll_event().is_some() {}
    while session.poll_event().is_some() {}

    // The disk fills up; the agent reports success.
    failing.store(true, Ordering::SeqCst);
    let answer = say(
        &mut session,
        &mut server,
        at(3),
        status(job, wire::JobState::Succeeded),
    );
    let [AgentMessage::Error(e)] = &answer[..] else {
        panic!("expected one Error, got {answer:?}");
    };
    assert_eq!(e.code, ErrorCode::Internal);
    assert!(
        e.text.contains("not recorded") && e.text.contains("disk full"),
        "{}",
        e.text
    );
    // Nothing of the change is left: not in memory, not in the log.
    assert_eq!(server.job(job).unwrap().state(), &JobState::Running);
    assert_eq!(server.job(job).unwrap().history().len(), history);
    let events: Vec<_> = std::iter::from_fn(|| server.poll_event())
        .map(|e| e.kind)
        .collect();
    assert!(
        matches!(&events[..], [DeployEventKind::NotRecorded { job: j, error }] if *j == job && error.contains("disk full")),
        "{events:?}"
    );
    let session_events: Vec<_> = std::iter::from_fn(|| session.poll_event())
        .map(|e| e.kind)
        .collect();
    assert!(
        !session_events
            .iter()
            .any(|e| matches!(e, pxelab_reference::deploy::SessionEventKind::Status { .. })),
        "{session_events:?}"
    );
    // The job is still this agent's to finish: offered again, and the store
    // (after a restart) says running.
    assert!(matches!(
        say(&mut session, &mut server, at(4), check_in)[..],
        [AgentMessage::JobOffer(ref o)] if o.job_id == u64::from(job.0)
    ));
    failing.store(false, Ordering::SeqCst);
    let (again, _) = start(server.into_store(), 3, &[(A, script("inventory"))]);
    assert_eq!(again.job(job).unwrap().state(), &JobState::Running);
}

#[test]
fn every_kind_of_change_is_undone_when_the_store_fails() {
    let (store, failing) = flaky();
    let (mut s, _) = start(store, 1, &[(A, deploy("xp"))]);
    let job = JobId(1);
    let refused = |r: Result<JobState, JobError>| {
        assert!(
            matches!(r, Err(JobError::NotRecorded { job: JobId(1), .. })),
            "{r:?}"
        )
    };
    failing.store(true, Ordering::SeqCst);
    refused(s.arm(at(1), job));
    assert_eq!(s.job(job).unwrap().state(), &JobState::Scheduled);
    failing.store(false, Ordering::SeqCst);
    s.arm(at(1), job).unwrap();
    failing.store(true, Ordering::SeqCst);
    assert!(matches!(
        s.start(at(2), job),
        Err(JobError::NotRecorded { .. })
    ));
    assert_eq!(s.job(job).unwrap().state(), &JobState::Armed);
    // A lost attempt that would fail the job for good (max_attempts = 1) is
    // not counted either.
    refused(s.arm(at(3), job));
    refused(s.fail(at(3), job, "drive mapping failed".into()));
    assert_eq!(s.job(job).unwrap().state(), &JobState::Armed);
    assert_eq!(s.job(job).unwrap().failed_attempts(), 0);
    failing.store(false, Ordering::SeqCst);
    s.start(at(4), job).unwrap();
    failing.store(true, Ordering::SeqCst);
    refused(s.pre_os_done(at(5), job, "imaged".into()));
    assert!(!s.job(job).unwrap().pre_os_done());
    refused(s.report_status(at(5), job, JobReport::Progress { note: "50%".into() }));
    assert_eq!(s.job(job).unwrap().state(), &JobState::Running);
}

#[test]
fn a_job_the_store_cannot_record_is_not_scheduled() {
    let (store, failing) = flaky();
    let (mut s, _) = start(store, 3, &[]);
    let a = s.computers().by_mac(A).unwrap();
    failing.store(true, Ordering::SeqCst);
    let r = s.schedule(at(1), a, script("inventory"));
    assert!(
        matches!(r, Err(ScheduleRefused::NotRecorded(ref e)) if e.contains("disk full")),
        "{r:?}"
    );
    assert!(s.jobs().is_empty());
    assert_eq!(next_for(&s, A), None);
    failing.store(false, Ordering::SeqCst);
    assert_eq!(s.schedule(at(2), a, script("inventory")), Ok(JobId(1)));
}

#[test]
fn a_config_the_store_cannot_record_does_not_start() {
    let (store, failing) = flaky();
    failing.store(true, Ordering::SeqCst);
    let server = DeploymentServer::with_store(config(3), store).unwrap();
    let r = server.load_config(at(0), |s| -> Result<(), JobStoreError> {
        let a = s.register(at(0), A, None, "a");
        s.set_pre_os(a, PreOsPath::PxeBootworks).unwrap();
        // Held back while loading: scheduling itself succeeds...
        s.schedule(at(0), a, script("inventory")).unwrap();
        Ok(())
    });
    // ...and the whole load fails when the batch is committed.
    let Err(e) = r else {
        panic!("the load should fail");
    };
    assert!(e.to_string().contains("disk full"), "{e}");
}
