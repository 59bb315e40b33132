//! The agent conversation, server side: `AgentSession` driven by a scripted agent
//! that speaks through the codec (agent-conversation.md, steps 1, 2, 5 and the
//! server's answers in 3–4).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pxelab_reference::deploy::{
    AgentSession, CloseReason, ComputerId, Credential, CredentialKind, DeployConfig,
    DeploymentServer, Image, JobId, JobKind, JobState, MemoryImages, PreOsPath, ServerMode,
    SessionEventKind,
};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::agent::{
    self as wire, AgentKind, AgentMessage, CheckIn, ErrorCode, FrameDecoder, Hello, ImageRequest,
    JobOffer, JobStatus, MAX_CHUNK_LEN, PostConfig, RefuseReason,
};
use pxelab_reference::{Instant, Mac};

fn at(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

const MAC: Mac = Mac([0x52, 0x54, 0x00, 0x00, 0x00, 0x01]);
const PEER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 21), 49152);
const AGENT_SECRET: [u8; 32] = [0xa1; 32];
const SHARE_SECRET: [u8; 32] = [0x5e; 32];
const IMAGE: &str = "xp-sp2-sysprep";

/// Image bytes: 2.5 chunks, so three requests of MAX_CHUNK_LEN, the last short.
fn image_data() -> Vec<u8> {
    (0..MAX_CHUNK_LEN * 5 / 2)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
        .collect()
}

struct Lab {
    server: DeploymentServer,
    images: MemoryImages,
    computer: ComputerId,
    data: Vec<u8>,
}

/// A server holding the image, and "dell-test" with an agent credential, a share
/// credential (when `share`) and pre-OS path `path`.
fn lab(mode: ServerMode, path: PreOsPath, share: bool) -> Lab {
    let data = image_data();
    let mut server = DeploymentServer::new(DeployConfig {
        mode,
        max_attempts: 3,
        initial_deployment: None,
    });
    server
        .add_image(Image {
            name: IMAGE.into(),
            size: data.len() as u64,
            sha256: [0x42; 32],
        })
        .expect("empty store");
    let computer = server.register(at(0), MAC, None, "dell-test");
    server.set_pre_os(computer, path).expect("registered");
    server
        .set_credential(
            computer,
            CredentialKind::Agent,
            Credential::from_bytes(AGENT_SECRET),
        )
        .expect("registered");
    if share {
        server
            .set_credential(
                computer,
                CredentialKind::Share,
                Credential::from_bytes(SHARE_SECRET),
            )
            .expect("registered");
    }
    let mut images = MemoryImages::new();
    images.insert(IMAGE, data.clone());
    Lab {
        server,
        images,
        computer,
        data,
    }
}

fn deploy() -> JobKind {
    JobKind::DeployImage {
        image: IMAGE.into(),
    }
}

fn hello(agent: AgentKind, mac: Mac, credential: &[u8]) -> AgentMessage {
    AgentMessage::Hello(Hello {
        agent,
        version: 1,
        mac,
        uuid: None,
        computer_name: "dell-test".into(),
        credential: credential.to_vec(),
    })
}

fn status(job: JobId, state: wire::JobState, detail: &str) -> AgentMessage {
    AgentMessage::JobStatus(JobStatus {
        job_id: u64::from(job.0),
        state,
        progress_bytes: 0,
        detail: detail.into(),
    })
}

fn request(job: JobId, offset: u64, len: u32) -> AgentMessage {
    AgentMessage::ImageRequest(ImageRequest {
        job_id: u64::from(job.0),
        offset,
        len,
    })
}

/// One agent connection: the session plus a decoder for what the server says.
struct Conn {
    session: AgentSession,
    from_server: FrameDecoder,
}

impl Conn {
    fn open(now: Instant) -> Self {
        Conn {
            session: AgentSession::new(now, PEER),
            from_server: FrameDecoder::new(ParseMode::Strict),
        }
    }

    /// Feeds raw bytes as the driver would (taking the returned count into
    /// account), and returns every message the server answered.
    fn feed(&mut self, now: Instant, lab: &mut Lab, bytes: &[u8]) -> Vec<AgentMessage> {
        let mut out = Vec::new();
        let mut rest = bytes;
        loop {
            let taken = self
                .session
                .handle_bytes(now, rest, &mut lab.server, &lab.images);
            rest = &rest[taken..];
            let drained = self.drain(&mut out);
            if rest.is_empty() {
                break;
            }
            assert!(taken > 0 || drained, "no progress on {} bytes", rest.len());
        }
        out
    }

    fn drain(&mut self, out: &mut Vec<AgentMessage>) -> bool {
        let mut any = false;
        while let Some(frame) = self.session.poll_send() {
            any = true;
            let mut rest = &frame[..];
            while !rest.is_empty() {
                let n = self.from_server.push(rest);
                rest = &rest[n..];
                while let Some(msg) = self.from_server.next() {
                    out.push(msg.expect("the server sends well-formed frames"));
                }
            }
        }
        any
    }

    fn say(&mut self, now: Instant, lab: &mut Lab, msg: AgentMessage) -> Vec<AgentMessage> {
        let bytes = msg.to_bytes().expect("encodable");
        self.feed(now, lab, &bytes)
    }

    fn events(&mut self) -> Vec<SessionEventKind> {
        std::iter::from_fn(|| self.session.poll_event())
            .map(|e| e.kind)
            .collect()
    }
}

fn one(mut msgs: Vec<AgentMessage>) -> AgentMessage {
    assert_eq!(msgs.len(), 1, "expected one answer, got {msgs:?}");
    msgs.remove(0)
}

fn error_code(msg: &AgentMessage) -> ErrorCode {
    match msg {
        AgentMessage::Error(e) => e.code,
        other => panic!("expected an Error, got {other:?}"),
    }
}

/// Hello (welcomed) then CheckIn; returns the connection and the offer.
fn check_in(now: Instant, lab: &mut Lab, agent: AgentKind) -> (Conn, Option<JobOffer>) {
    let mut c = Conn::open(now);
    let welcome = one(c.say(now, lab, hello(agent, MAC, &AGENT_SECRET)));
    assert_eq!(
        welcome,
        AgentMessage::Welcome(wire::Welcome {
            computer_id: u64::from(lab.computer.0)
        })
    );
    let answer = one(c.say(
        now,
        lab,
        AgentMessage::CheckIn(CheckIn {
            computer_id: u64::from(lab.computer.0),
        }),
    ));
    match answer {
        AgentMessage::JobOffer(o) => (c, Some(o)),
        AgentMessage::NoJob => (c, None),
        other => panic!("expected JobOffer or NoJob, got {other:?}"),
    }
}

fn state(lab: &Lab, job: JobId) -> JobState {
    lab.server.job(job).expect("job exists").state().clone()
}

// ---------------------------------------------------------------------------
// Hello

#[test]
fn aclient_check_in_gets_the_job_offer_with_image_share_and_post_config() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    lab.server.set_share_path(r"\\ds61\eXpress");
    let job = lab.server.schedule(at(1), lab.computer, deploy()).unwrap();
    let post = PostConfig {
        name: "WHEM-LAB-07".into(),
        address: Some(Ipv4Addr::new(10, 0, 0, 57)),
    };
    lab.server.set_post_config(job, post.clone()).unwrap();

    let (mut c, offer) = check_in(at(2), &mut lab, AgentKind::AClient);
    let offer = offer.expect("a job is scheduled");
    assert_eq!(offer.job_id, u64::from(job.0));
    assert_eq!(offer.kind, wire::JobKind::DeployImage);
    let image = offer.image.expect("a deployment names its image");
    assert_eq!(image.name, IMAGE);
    assert_eq!(image.size, lab.data.len() as u64);
    assert_eq!(image.sha256, [0x42; 32]);
    let share = offer.share.expect("the computer has a share credential");
    assert_eq!(share.path, r"\\ds61\eXpress");
    assert_eq!(share.user, "dell-test");
    assert_eq!(share.secret, SHARE_SECRET.to_vec());
    assert_eq!(offer.post_config, Some(post));
    assert_eq!(offer.script, None);
    assert!(!c.session.is_closed());
    assert_eq!(c.session.computer(), Some(lab.computer));

    let events = c.events();
    assert!(matches!(
        events[0],
        SessionEventKind::Welcomed {
            agent: AgentKind::AClient,
            registered: false,
            ..
        }
    ));
    assert_eq!(events[1], SessionEventKind::Offered { job });

    assert!(c.say(at(3), &mut lab, AgentMessage::Bye).is_empty());
    assert!(c.session.is_closed());
    assert_eq!(c.events(), [SessionEventKind::Closed(CloseReason::Bye)]);
}

#[test]
fn check_in_with_nothing_scheduled_gets_no_job() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let (_, offer) = check_in(at(1), &mut lab, AgentKind::AClient);
    assert_eq!(offer, None);
}

#[test]
fn run_script_offer_carries_the_script_and_no_share() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let job = lab
        .server
        .schedule(
            at(1),
            lab.computer,
            JobKind::RunScript {
                script: "ipconfig /renew".into(),
            },
        )
        .unwrap();
    let (_, offer) = check_in(at(2), &mut lab, AgentKind::AClient);
    let offer = offer.unwrap();
    assert_eq!(offer.job_id, u64::from(job.0));
    assert_eq!(offer.kind, wire::JobKind::RunScript);
    assert_eq!(offer.script.as_deref(), Some("ipconfig /renew"));
    assert_eq!(offer.share, None, "a job in the OS does not map the share");
    assert_eq!(offer.image, None);
}

#[test]
fn a_bad_credential_is_refused_and_the_session_closes() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let mut c = Conn::open(at(0));
    let answer = one(c.say(at(0), &mut lab, hello(AgentKind::AClient, MAC, &[0; 32])));
    let AgentMessage::Refused(r) = answer else {
        panic!("expected Refused, got {answer:?}");
    };
    assert_eq!(r.reason, RefuseReason::BadCredential);
    assert!(r.text.contains("dell-test"), "{}", r.text);
    assert!(c.session.is_closed());
    assert_eq!(c.session.computer(), None);
    // A closed session takes and ignores whatever follows.
    let check_in = AgentMessage::CheckIn(CheckIn { computer_id: 1 });
    assert!(c.say(at(1), &mut lab, check_in).is_empty());
}

#[test]
fn an_unknown_mac_is_refused_without_initial_deployment() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    for agent in [AgentKind::AClient, AgentKind::Bootworks] {
        let mut c = Conn::open(at(0));
        let stranger = Mac([0x52, 0x54, 0, 0, 0, 0x99]);
        let answer = one(c.say(at(0), &mut lab, hello(agent, stranger, &AGENT_SECRET)));
        let AgentMessage::Refused(r) = answer else {
            panic!("expected Refused, got {answer:?}");
        };
        assert_eq!(r.reason, RefuseReason::UnknownComputer);
        assert!(r.text.contains("52:54:00:00:00:99"), "{}", r.text);
        assert!(c.session.is_closed());
    }
    assert_eq!(lab.server.computers().len(), 1, "nobody was registered");
}

#[test]
fn an_unknown_machine_pxe_booting_bootworks_is_registered_by_initial_deployment() {
    let data = image_data();
    let mut server = DeploymentServer::new(DeployConfig {
        mode: ServerMode::Reference,
        max_attempts: 3,
        initial_deployment: Some(deploy()),
    });
    server
        .add_image(Image {
            name: IMAGE.into(),
            size: data.len() as u64,
            sha256: [0x42; 32],
        })
        .unwrap();
    let mut images = MemoryImages::new();
    images.insert(IMAGE, data.clone());
    let mut lab = Lab {
        server,
        images,
        computer: ComputerId(0),
        data,
    };
    let newcomer = Mac([0x52, 0x54, 0, 0, 0, 0x42]);

    // AClient on an unknown machine is not the initial-deployment path.
    let mut c = Conn::open(at(0));
    let answer = one(c.say(at(0), &mut lab, hello(AgentKind::AClient, newcomer, &[])));
    assert!(
        matches!(answer, AgentMessage::Refused(ref r) if r.reason == RefuseReason::UnknownComputer)
    );
    assert!(lab.server.computers().is_empty());

    // Bootworks from PXE is.
    let mut c = Conn::open(at(1));
    let answer = one(c.say(at(1), &mut lab, hello(AgentKind::Bootworks, newcomer, &[])));
    let AgentMessage::Welcome(w) = answer else {
        panic!("expected Welcome, got {answer:?}");
    };
    let id = lab.server.computers().by_mac(newcomer).expect("registered");
    assert_eq!(w.computer_id, u64::from(id.0));
    let computer = lab.server.computers().get(id).unwrap();
    assert_eq!(computer.name, "new-525400000042");
    assert_eq!(computer.pre_os, PreOsPath::PxeBootworks);
    assert!(matches!(
        c.events()[0],
        SessionEventKind::Welcomed {
            agent: AgentKind::Bootworks,
            registered: true,
            ..
        }
    ));

    let answer = one(c.say(
        at(2),
        &mut lab,
        AgentMessage::CheckIn(CheckIn {
            computer_id: w.computer_id,
        }),
    ));
    let AgentMessage::JobOffer(offer) = answer else {
        panic!("expected the initial-deployment job, got {answer:?}");
    };
    assert_eq!(offer.kind, wire::JobKind::DeployImage);
    assert_eq!(offer.image.map(|i| i.name).as_deref(), Some(IMAGE));
    assert_eq!(
        offer.share, None,
        "a new machine has no share credential yet"
    );
}

// ---------------------------------------------------------------------------
// Image transfer

/// A job armed by AClient and started by Bootworks; returns Bootworks' session.
fn running_deployment(lab: &mut Lab) -> (Conn, JobId, JobOffer) {
    let job = lab.server.schedule(at(1), lab.computer, deploy()).unwrap();
    let (mut aclient, _) = check_in(at(2), lab, AgentKind::AClient);
    assert!(
        aclient
            .say(
                at(2),
                lab,
                status(job, wire::JobState::Armed, "boot flag set, rebooting")
            )
            .is_empty()
    );
    aclient.say(at(2), lab, AgentMessage::Bye);
    let (mut bootworks, offer) = check_in(at(60), lab, AgentKind::Bootworks);
    let offer = offer.expect("the armed job is offered again");
    assert!(
        bootworks
            .say(at(60), lab, status(job, wire::JobState::Running, "started"))
            .is_empty()
    );
    assert_eq!(state(lab, job), JobState::Running);
    (bootworks, job, offer)
}

#[test]
fn bootworks_downloads_a_three_chunk_image() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let (mut c, job, offer) = running_deployment(&mut lab);
    let size = offer.image.unwrap().size;

    let mut disk = Vec::new();
    let mut lens = Vec::new();
    while (disk.len() as u64) < size {
        let offset = disk.len() as u64;
        // Ask for more than a chunk: the server clamps.
        let answer = one(c.say(at(61), &mut lab, request(job, offset, u32::MAX)));
        let AgentMessage::ImageChunk(chunk) = answer else {
            panic!("expected ImageChunk, got {answer:?}");
        };
        chunk.verify().expect("the chunk's CRC-32 matches its data");
        assert_eq!(chunk.job_id, u64::from(job.0));
        assert_eq!(chunk.offset, offset);
        lens.push(chunk.data.len());
        disk.extend_from_slice(&chunk.data);
    }
    assert_eq!(
        lens,
        [MAX_CHUNK_LEN, MAX_CHUNK_LEN, MAX_CHUNK_LEN / 2],
        "two full chunks and a short last one"
    );
    assert_eq!(disk, lab.data);

    let past = one(c.say(at(62), &mut lab, request(job, size, 512)));
    assert_eq!(error_code(&past), ErrorCode::BadRange);
    let empty = one(c.say(at(62), &mut lab, request(job, 0, 0)));
    assert_eq!(error_code(&empty), ErrorCode::BadRange);
    let mid = one(c.say(at(62), &mut lab, request(job, size - 10, 4096)));
    let AgentMessage::ImageChunk(tail) = mid else {
        panic!("expected ImageChunk, got {mid:?}");
    };
    assert_eq!(tail.data, lab.data[lab.data.len() - 10..]);
    assert!(!c.session.is_closed(), "errors do not end the session");
}

#[test]
fn image_requests_are_answered_only_for_this_computers_running_deployment() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let other = lab
        .server
        .register(at(0), Mac([0x52, 0x54, 0, 0, 0, 2]), None, "other");
    lab.server
        .set_pre_os(other, PreOsPath::PartitionBootworks)
        .unwrap();
    let theirs = lab.server.schedule(at(0), other, deploy()).unwrap();
    let (mut c, job, _) = running_deployment(&mut lab);

    let answer = one(c.say(at(61), &mut lab, request(theirs, 0, 512)));
    assert_eq!(error_code(&answer), ErrorCode::UnknownJob);
    let answer = one(c.say(at(61), &mut lab, request(JobId(77), 0, 512)));
    assert_eq!(error_code(&answer), ErrorCode::UnknownJob);
    let answer = one(c.say(
        at(61),
        &mut lab,
        AgentMessage::ImageRequest(ImageRequest {
            job_id: u64::MAX,
            offset: 0,
            len: 1,
        }),
    ));
    assert_eq!(error_code(&answer), ErrorCode::UnknownJob);

    // Once the job is over, its image is no longer served.
    c.say(
        at(62),
        &mut lab,
        status(job, wire::JobState::Succeeded, "done"),
    );
    let answer = one(c.say(at(62), &mut lab, request(job, 0, 512)));
    assert_eq!(error_code(&answer), ErrorCode::UnexpectedMessage);
}

#[test]
fn without_a_share_credential_the_offer_has_no_share_and_image_requests_fail() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, false);
    let (mut c, job, offer) = running_deployment(&mut lab);
    assert_eq!(offer.share, None);
    assert!(offer.image.is_some());
    let answer = one(c.say(at(61), &mut lab, request(job, 0, 512)));
    let AgentMessage::Error(e) = answer else {
        panic!("expected Error, got {answer:?}");
    };
    assert_eq!(e.code, ErrorCode::ShareUnavailable);
    assert!(e.text.contains("share credential"), "{}", e.text);
    // Bootworks then reports the failure (reference), and the core counts it.
    c.say(
        at(62),
        &mut lab,
        status(
            job,
            wire::JobState::Failed,
            r"network drive not mapped: \\deployment-server\eXpress",
        ),
    );
    assert_eq!(state(&lab, job), JobState::Scheduled);
    assert_eq!(lab.server.job(job).unwrap().failed_attempts(), 1);
}

#[test]
fn pipelined_requests_are_taken_at_the_pace_the_answers_are_drained() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let (mut c, job, _) = running_deployment(&mut lab);
    let mut bytes = Vec::new();
    for i in 0..5u64 {
        request(job, i * 1000, u32::MAX).emit(&mut bytes).unwrap();
    }
    let first = c
        .session
        .handle_bytes(at(61), &bytes, &mut lab.server, &lab.images);
    assert!(first < bytes.len(), "a full chunk waits: the rest is left");
    assert!(c.session.pending_send() <= 2 * wire::MAX_FRAME_LEN);
    let mut answers = Vec::new();
    c.drain(&mut answers);
    answers.extend(c.feed(at(61), &mut lab, &bytes[first..]));
    let offsets: Vec<u64> = answers
        .iter()
        .map(|m| match m {
            AgentMessage::ImageChunk(ch) => ch.offset,
            other => panic!("expected ImageChunk, got {other:?}"),
        })
        .collect();
    assert_eq!(offsets, [0, 1000, 2000, 3000, 4000]);
}

// ---------------------------------------------------------------------------
// Job status

#[test]
fn armed_running_succeeded_reaches_succeeded_with_history() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let (mut bw, job, _) = running_deployment(&mut lab);
    let mut imaged = status(job, wire::JobState::PreOsDone, "imaged");
    if let AgentMessage::JobStatus(s) = &mut imaged {
        s.progress_bytes = lab.data.len() as u64;
    }
    assert!(bw.say(at(90), &mut lab, imaged).is_empty());
    bw.say(at(90), &mut lab, AgentMessage::Bye);

    // A machine that PXE-boots every time is back in Bootworks before its OS
    // runs: Bootworks' part is done, so it is told there is nothing to do.
    let (_, offer) = check_in(at(100), &mut lab, AgentKind::Bootworks);
    assert_eq!(offer, None, "no second imaging of the same attempt");

    let (mut aclient, offer) = check_in(at(120), &mut lab, AgentKind::AClient);
    assert_eq!(offer.map(|o| o.job_id), Some(u64::from(job.0)));
    assert!(
        aclient
            .say(
                at(120),
                &mut lab,
                status(
                    job,
                    wire::JobState::Succeeded,
                    "post-configuration applied: name dell-test"
                ),
            )
            .is_empty()
    );
    assert_eq!(state(&lab, job), JobState::Succeeded);
    let history: Vec<(JobState, String)> = lab
        .server
        .job(job)
        .unwrap()
        .history()
        .iter()
        .map(|h| (h.state.clone(), h.note.clone()))
        .collect();
    let states: Vec<&JobState> = history.iter().map(|(s, _)| s).collect();
    assert_eq!(
        states,
        [
            &JobState::Scheduled,
            &JobState::Armed,
            &JobState::Running,
            &JobState::Running,
            &JobState::Succeeded
        ]
    );
    assert_eq!(
        history[3].1,
        format!("pre-OS step done: imaged ({} bytes)", lab.data.len()),
        "the pre-OS step's end keeps the agent's words"
    );
    assert_eq!(history[4].1, "post-configuration applied: name dell-test");
    assert!(aclient.events().iter().any(|e| matches!(
        e,
        SessionEventKind::Status {
            reported: wire::JobState::Succeeded,
            state: JobState::Succeeded,
            ..
        }
    )));
    // Nothing left to do.
    let (_, offer) = check_in(at(121), &mut lab, AgentKind::AClient);
    assert_eq!(offer, None);
}

#[test]
fn an_illegal_status_is_answered_with_an_error_and_changes_nothing() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let job = lab.server.schedule(at(1), lab.computer, deploy()).unwrap();
    let (mut c, _) = check_in(at(2), &mut lab, AgentKind::AClient);
    let before = lab.server.job(job).unwrap().history().len();

    for (reported, code) in [
        (wire::JobState::Succeeded, ErrorCode::UnexpectedMessage),
        (wire::JobState::Running, ErrorCode::UnexpectedMessage),
        (wire::JobState::Failed, ErrorCode::UnexpectedMessage),
    ] {
        let answer = one(c.say(at(3), &mut lab, status(job, reported, "")));
        assert_eq!(error_code(&answer), code, "{reported:?} on a scheduled job");
    }
    let answer = one(c.say(at(3), &mut lab, status(JobId(9), wire::JobState::Armed, "")));
    assert_eq!(error_code(&answer), ErrorCode::UnknownJob);

    assert_eq!(state(&lab, job), JobState::Scheduled);
    assert_eq!(lab.server.job(job).unwrap().history().len(), before);
    assert_eq!(lab.server.job(job).unwrap().failed_attempts(), 0);
    assert!(!c.session.is_closed());
}

#[test]
fn a_status_for_another_computers_job_is_an_unknown_job() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let other = lab
        .server
        .register(at(0), Mac([0x52, 0x54, 0, 0, 0, 2]), None, "other");
    lab.server
        .set_pre_os(other, PreOsPath::PartitionBootworks)
        .unwrap();
    let theirs = lab.server.schedule(at(0), other, deploy()).unwrap();
    let (mut c, _) = check_in(at(1), &mut lab, AgentKind::AClient);
    let answer = one(c.say(at(1), &mut lab, status(theirs, wire::JobState::Armed, "")));
    assert_eq!(error_code(&answer), ErrorCode::UnknownJob);
    assert_eq!(state(&lab, theirs), JobState::Scheduled);
}

/// AClient arms the job at every Windows boot; Bootworks never reports. Returns
/// the job's state after each boot and the server's answers to the arming.
fn arm_at_each_boot(lab: &mut Lab, job: JobId, boots: u64) -> Vec<(JobState, Vec<AgentMessage>)> {
    (0..boots)
        .map(|boot| {
            let now = at(100 * (boot + 1));
            let (mut c, offer) = check_in(now, lab, AgentKind::AClient);
            let answers = if offer.is_some() {
                c.say(
                    now,
                    lab,
                    status(job, wire::JobState::Armed, "boot flag set, rebooting"),
                )
            } else {
                Vec::new()
            };
            c.say(now, lab, AgentMessage::Bye);
            (state(lab, job), answers)
        })
        .collect()
}

#[test]
fn three_silent_re_arms_fail_the_job_in_reference_mode() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let job = lab.server.schedule(at(1), lab.computer, deploy()).unwrap();
    let boots = arm_at_each_boot(&mut lab, job, 6);
    for (state, answers) in &boots[..3] {
        assert_eq!(*state, JobState::Armed);
        assert!(answers.is_empty(), "arming is not answered: {answers:?}");
    }
    let JobState::Failed { reason } = &boots[3].0 else {
        panic!("the fourth arm (third silent re-arm) fails the job: {boots:?}");
    };
    assert!(reason.contains("gave up after 3 attempts"), "{reason}");
    // The agent is told the job is over.
    assert_eq!(boots[3].1.len(), 1);
    assert_eq!(error_code(&boots[3].1[0]), ErrorCode::UnexpectedMessage);
    assert!(
        boots[4..]
            .iter()
            .all(|(s, a)| s == &boots[3].0 && a.is_empty()),
        "no more job offers, nothing re-armed"
    );
    assert_eq!(lab.server.job(job).unwrap().failed_attempts(), 3);
}

#[test]
fn legacy_mode_re_arms_forever() {
    let mut lab = lab(
        ServerMode::Legacy { trust_uuid: false },
        PreOsPath::PartitionBootworks,
        true,
    );
    let job = lab.server.schedule(at(1), lab.computer, deploy()).unwrap();
    let boots = arm_at_each_boot(&mut lab, job, 12);
    assert!(
        boots
            .iter()
            .all(|(s, a)| *s == JobState::Armed && a.is_empty()),
        "{boots:?}"
    );
    assert_eq!(lab.server.job(job).unwrap().failed_attempts(), 11);
}

#[test]
fn a_pxe_bootworks_that_dies_silently_is_bounded_too() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PxeBootworks, true);
    let job = lab.server.schedule(at(1), lab.computer, deploy()).unwrap();
    let mut answers = Vec::new();
    for boot in 0..4u64 {
        let now = at(100 * (boot + 1));
        let (mut c, offer) = check_in(now, &mut lab, AgentKind::Bootworks);
        assert!(offer.is_some());
        // Nobody armed it: the PXE boot was the arming.
        answers.push(c.say(
            now,
            &mut lab,
            status(job, wire::JobState::Running, "started"),
        ));
        // ... and Bootworks dies without a word.
        c.session.handle_closed(now);
    }
    assert!(answers[..3].iter().all(Vec::is_empty), "{answers:?}");
    let JobState::Failed { reason } = state(&lab, job) else {
        panic!("three lost sessions fail the job: {:?}", state(&lab, job));
    };
    assert!(reason.contains("before the agent reported"), "{reason}");
    assert_eq!(error_code(&answers[3][0]), ErrorCode::UnexpectedMessage);
    let states: Vec<&str> = lab
        .server
        .job(job)
        .unwrap()
        .history()
        .iter()
        .map(|h| h.state.name())
        .collect();
    assert_eq!(
        states,
        [
            "scheduled",
            "armed",
            "running", // boot 1
            "scheduled",
            "armed",
            "running", // boot 2: attempt 1 lost
            "scheduled",
            "armed",
            "running", // boot 3: attempt 2 lost
            "failed",  // boot 4: attempt 3 lost
        ]
    );
}

#[test]
fn aclient_cannot_start_a_pre_os_job() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PxeBootworks, true);
    let job = lab.server.schedule(at(1), lab.computer, deploy()).unwrap();
    let (mut c, _) = check_in(at(2), &mut lab, AgentKind::AClient);
    let answer = one(c.say(at(2), &mut lab, status(job, wire::JobState::Running, "")));
    assert_eq!(error_code(&answer), ErrorCode::UnexpectedMessage);
    assert_eq!(state(&lab, job), JobState::Scheduled);
}

// ---------------------------------------------------------------------------
// The session itself

#[test]
fn a_silent_agent_is_closed_after_the_idle_timeout() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let mut c = Conn::open(at(0));
    assert_eq!(c.session.poll_timeout(), Some(at(60)));
    c.session.handle_timeout(at(59));
    assert!(!c.session.is_closed());

    // A complete frame restarts the timer.
    c.say(
        at(30),
        &mut lab,
        hello(AgentKind::AClient, MAC, &AGENT_SECRET),
    );
    assert_eq!(c.session.poll_timeout(), Some(at(90)));

    // Half a frame does not.
    let frame = AgentMessage::CheckIn(CheckIn { computer_id: 1 })
        .to_bytes()
        .unwrap();
    assert!(c.feed(at(50), &mut lab, &frame[..5]).is_empty());
    assert_eq!(c.session.poll_timeout(), Some(at(90)));
    c.session.handle_timeout(at(90));
    assert!(c.session.is_closed());
    assert_eq!(c.session.poll_timeout(), None);
    assert!(
        c.events()
            .contains(&SessionEventKind::Closed(CloseReason::IdleTimeout))
    );
}

#[test]
fn the_idle_timeout_can_be_set() {
    let mut s = AgentSession::new(at(10), PEER).with_idle_timeout(Duration::from_secs(5));
    assert_eq!(s.poll_timeout(), Some(at(15)));
    s.handle_timeout(at(15));
    assert!(s.is_closed());
}

#[test]
fn messages_before_hello_are_rejected_and_close_the_session() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let job = lab.server.schedule(at(1), lab.computer, deploy()).unwrap();
    for early in [
        AgentMessage::CheckIn(CheckIn { computer_id: 1 }),
        status(job, wire::JobState::Succeeded, "done"),
        request(job, 0, 512),
        AgentMessage::NoJob,
    ] {
        let mut c = Conn::open(at(2));
        let answer = one(c.say(at(2), &mut lab, early));
        assert_eq!(error_code(&answer), ErrorCode::UnexpectedMessage);
        assert!(c.session.is_closed());
        // A Hello after that is too late.
        assert!(
            c.say(
                at(2),
                &mut lab,
                hello(AgentKind::AClient, MAC, &AGENT_SECRET)
            )
            .is_empty()
        );
    }
    assert_eq!(state(&lab, job), JobState::Scheduled);
}

#[test]
fn a_framing_error_closes_the_session() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let mut c = Conn::open(at(0));
    c.say(
        at(0),
        &mut lab,
        hello(AgentKind::AClient, MAC, &AGENT_SECRET),
    );
    let answers = c.feed(at(1), &mut lab, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(answers.len(), 1);
    assert_eq!(error_code(&answers[0]), ErrorCode::Malformed);
    assert!(c.session.is_closed());
    assert!(
        c.events()
            .iter()
            .any(|e| matches!(e, SessionEventKind::Closed(CloseReason::Framing(_))))
    );
}

#[test]
fn a_malformed_body_after_welcome_is_answered_and_skipped() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let mut c = Conn::open(at(0));
    c.say(
        at(0),
        &mut lab,
        hello(AgentKind::AClient, MAC, &AGENT_SECRET),
    );
    // A frame of unknown type 0x7f with a 2-byte body, then a good CheckIn.
    let mut bytes = vec![b'P', b'X', 1, 0x7f, 0, 0, 0, 2, 0xde, 0xad];
    AgentMessage::CheckIn(CheckIn { computer_id: 1 })
        .emit(&mut bytes)
        .unwrap();
    let answers = c.feed(at(1), &mut lab, &bytes);
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(error_code(&answers[0]), ErrorCode::Malformed);
    assert_eq!(answers[1], AgentMessage::NoJob);
    assert!(!c.session.is_closed());
}

#[test]
fn an_unsupported_protocol_version_is_refused() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let mut c = Conn::open(at(0));
    let mut h = hello(AgentKind::AClient, MAC, &AGENT_SECRET);
    if let AgentMessage::Hello(h) = &mut h {
        h.version = 0;
    }
    let answer = one(c.say(at(0), &mut lab, h));
    assert!(
        matches!(answer, AgentMessage::Refused(ref r) if r.reason == RefuseReason::VersionUnsupported),
        "{answer:?}"
    );
    assert!(c.session.is_closed());
}

#[test]
fn a_malformed_message_before_hello_closes_the_session() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let mut c = Conn::open(at(0));
    let answers = c.feed(at(0), &mut lab, &[b'P', b'X', 1, 0x7f, 0, 0, 0, 0]);
    assert_eq!(answers.len(), 1);
    assert_eq!(error_code(&answers[0]), ErrorCode::Malformed);
    assert!(c.session.is_closed());
}

#[test]
fn welcomed_agents_get_errors_for_out_of_place_messages_and_stay_connected() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let mut c = Conn::open(at(0));
    c.say(
        at(0),
        &mut lab,
        hello(AgentKind::AClient, MAC, &AGENT_SECRET),
    );
    c.events();
    for out_of_place in [
        hello(AgentKind::AClient, MAC, &AGENT_SECRET),
        AgentMessage::CheckIn(CheckIn { computer_id: 2 }),
        AgentMessage::NoJob,
        AgentMessage::Welcome(wire::Welcome { computer_id: 1 }),
    ] {
        let answer = one(c.say(at(1), &mut lab, out_of_place));
        assert_eq!(error_code(&answer), ErrorCode::UnexpectedMessage);
    }
    // An agent's own Error is logged, not answered.
    let report = AgentMessage::Error(wire::ErrorReport {
        code: ErrorCode::DiskError,
        text: "write failed at sector 63".into(),
    });
    assert!(c.say(at(2), &mut lab, report).is_empty());
    assert!(c.events().contains(&SessionEventKind::AgentError {
        code: ErrorCode::DiskError,
        text: "write failed at sector 63".into(),
    }));
    assert!(!c.session.is_closed());
}

#[test]
fn capture_and_scripted_install_offers() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PxeBootworks, true);
    let capture = lab
        .server
        .schedule(
            at(1),
            lab.computer,
            JobKind::CaptureImage {
                image_name: "gold-2026".into(),
            },
        )
        .unwrap();
    let (mut c, offer) = check_in(at(2), &mut lab, AgentKind::Bootworks);
    let offer = offer.unwrap();
    assert_eq!(offer.kind, wire::JobKind::CaptureImage);
    let image = offer.image.unwrap();
    assert_eq!((image.name.as_str(), image.size), ("gold-2026", 0));
    assert!(offer.share.is_some(), "a capture writes to the share");
    // A capture has no image to read.
    c.say(
        at(3),
        &mut lab,
        status(capture, wire::JobState::Running, ""),
    );
    let answer = one(c.say(at(3), &mut lab, request(capture, 0, 512)));
    assert_eq!(error_code(&answer), ErrorCode::UnexpectedMessage);
    c.say(
        at(4),
        &mut lab,
        status(capture, wire::JobState::Succeeded, ""),
    );

    lab.server
        .schedule(
            at(5),
            lab.computer,
            JobKind::ScriptedInstall {
                os: "Windows XP SP2".into(),
            },
        )
        .unwrap();
    let (_, offer) = check_in(at(6), &mut lab, AgentKind::Bootworks);
    let offer = offer.unwrap();
    assert_eq!(offer.kind, wire::JobKind::ScriptedInstall);
    assert_eq!(offer.script.as_deref(), Some("Windows XP SP2"));
}

#[test]
fn the_peer_closing_closes_the_session() {
    let mut s = AgentSession::new(at(0), PEER);
    s.handle_closed(at(1));
    assert!(s.is_closed());
    let kinds: Vec<_> = std::iter::from_fn(|| s.poll_event())
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, [SessionEventKind::Closed(CloseReason::PeerClosed)]);
}

#[test]
fn session_events_read_as_log_lines() {
    let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
    let mut c = Conn::open(at(0));
    c.say(
        at(0),
        &mut lab,
        hello(AgentKind::Bootworks, MAC, &AGENT_SECRET),
    );
    let line = c.session.poll_event().unwrap().to_string();
    assert_eq!(
        line,
        "0.000s agent 10.0.0.21:49152: welcomed Bootworks of computer 1"
    );
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn valid_frame() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(hello(AgentKind::Bootworks, MAC, &AGENT_SECRET)),
            Just(AgentMessage::CheckIn(CheckIn { computer_id: 1 })),
            (0u64..4, 0u64..4_000_000, any::<u32>()).prop_map(|(j, o, l)| {
                AgentMessage::ImageRequest(ImageRequest {
                    job_id: j,
                    offset: o,
                    len: l,
                })
            }),
            (0u64..4, 1u8..5).prop_map(|(j, s)| {
                let state = match s {
                    1 => wire::JobState::Armed,
                    2 => wire::JobState::Running,
                    3 => wire::JobState::Succeeded,
                    _ => wire::JobState::Failed,
                };
                AgentMessage::JobStatus(JobStatus {
                    job_id: j,
                    state,
                    progress_bytes: 0,
                    detail: String::new(),
                })
            }),
        ]
        .prop_map(|m| m.to_bytes().unwrap())
    }

    fn piece() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            3 => valid_frame(),
            1 => proptest::collection::vec(any::<u8>(), 0..64),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Arbitrary bytes (and real frames among them), split anywhere, never
        /// panic; the session holds at most one frame of input and about two
        /// of output, and everything it sends is a well-formed frame.
        #[test]
        fn arbitrary_bytes_in_random_splits_never_panic(
            pieces in proptest::collection::vec(piece(), 0..12),
            cuts in proptest::collection::vec(1usize..300, 1..20),
        ) {
            let mut lab = lab(ServerMode::Reference, PreOsPath::PartitionBootworks, true);
            lab.server.schedule(at(0), lab.computer, deploy()).unwrap();
            let bytes: Vec<u8> = pieces.concat();
            let mut c = Conn::open(at(0));
            let mut rest = &bytes[..];
            let mut cut = cuts.iter().cycle();
            let mut now = 1;
            while !rest.is_empty() {
                let n = (*cut.next().unwrap()).min(rest.len());
                let (piece, tail) = rest.split_at(n);
                rest = tail;
                let mut piece = piece;
                while !piece.is_empty() {
                    let taken = c.session.handle_bytes(at(now), piece, &mut lab.server, &lab.images);
                    prop_assert!(taken <= piece.len());
                    prop_assert!(c.session.buffered() <= wire::MAX_FRAME_LEN);
                    prop_assert!(c.session.pending_send() <= 2 * wire::MAX_FRAME_LEN);
                    piece = &piece[taken..];
                    let mut out = Vec::new();
                    let drained = c.drain(&mut out);
                    prop_assert!(taken > 0 || drained || piece.is_empty());
                }
                now += 1;
                while c.session.poll_event().is_some() {}
            }
            c.session.handle_timeout(at(now + 120));
            prop_assert!(c.session.is_closed());
        }
    }
}
