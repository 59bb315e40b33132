//! Both agents against the real server side (`deploy::AgentSession` over a
//! `DeploymentServer`), on one machine whose boots follow its MBR: the boot flag
//! sends it to the Bootworks partition, otherwise Windows starts and runs AClient.
//! The seed stories end to end: a deploy that works, the legacy loop, and the
//! reference agents and server bounding it.

mod agent_support;

use std::net::{Ipv4Addr, SocketAddrV4};

use agent_support::{Agent, config, image_bytes, lab_disk};
use pxelab_reference::Instant;
use pxelab_reference::agent::{
    AClient, AgentAction, AgentMode, BootDisk, Bootworks, Delivery, MemoryDisk,
};
use pxelab_reference::deploy::{
    AgentSession, ComputerId, Credential, CredentialKind, DeployConfig, DeploymentServer, Image,
    JobId, JobKind, JobState, MemoryImages, PreOsPath, ServerMode,
};
use pxelab_reference::wire::agent::PostConfig;
use pxelab_reference::wire::mbr::{BootFlag, BootTarget};
use sha2::{Digest, Sha256};

const PEER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 21), 49152);
const IMAGE: &str = "xp-sp2-sysprep";
const IMAGE_LEN: usize = 5000;

struct Lab {
    server: DeploymentServer,
    images: MemoryImages,
    computer: ComputerId,
    data: Vec<u8>,
}

fn lab(mode: ServerMode, share: bool) -> Lab {
    let data = image_bytes(IMAGE_LEN);
    let mut server = DeploymentServer::new(DeployConfig {
        mode,
        max_attempts: 3,
        initial_deployment: None,
    });
    server
        .add_image(Image {
            name: IMAGE.into(),
            size: data.len() as u64,
            sha256: Sha256::digest(&data).into(),
        })
        .expect("empty store");
    let cfg = config(AgentMode::Legacy);
    let computer = server.register(Instant::ZERO, cfg.mac, None, &cfg.computer_name);
    server
        .set_pre_os(computer, PreOsPath::PartitionBootworks)
        .expect("registered");
    let mut secret = [0; 32];
    secret[..cfg.credential.len()].copy_from_slice(&cfg.credential);
    server
        .set_credential(
            computer,
            CredentialKind::Agent,
            Credential::from_bytes(secret),
        )
        .expect("registered");
    if share {
        server
            .set_credential(
                computer,
                CredentialKind::Share,
                Credential::from_bytes([7; 32]),
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

/// The agents' credential must be what the server holds: 32 bytes.
fn agent_config(mode: AgentMode) -> pxelab_reference::agent::AgentConfig {
    let mut cfg = config(mode);
    cfg.credential.resize(32, 0);
    cfg
}

/// Runs one boot of `agent` against a fresh session until the agent's final
/// action; time moves only to the next deadline of either side.
fn boot<A: Agent>(
    agent: &mut A,
    disk: &mut MemoryDisk,
    lab: &mut Lab,
    start: Instant,
) -> (AgentAction, Instant) {
    let mut now = start;
    let mut session: Option<AgentSession> = None;
    agent.boot(now, disk);
    for _ in 0..10_000 {
        let mut moved = false;
        while let Some(action) = agent.poll_action() {
            moved = true;
            match action {
                AgentAction::Connect => {
                    session = Some(AgentSession::new(now, PEER));
                    agent.handle_connected(now);
                }
                done => {
                    // The final frames (report, Bye) still reach the server.
                    if let Some(s) = session.as_mut() {
                        while let Some(bytes) = agent.poll_send() {
                            let mut rest = &bytes[..];
                            while !rest.is_empty() {
                                let taken = s.handle_bytes(now, rest, &mut lab.server, &lab.images);
                                rest = &rest[taken..];
                                while s.poll_send().is_some() {}
                            }
                        }
                    }
                    return (done, now);
                }
            }
        }
        while agent.poll_event().is_some() {}
        let Some(s) = session.as_mut() else {
            panic!("the agent ended its run before connecting");
        };
        while let Some(bytes) = agent.poll_send() {
            moved = true;
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let taken = s.handle_bytes(now, rest, &mut lab.server, &lab.images);
                rest = &rest[taken..];
                while let Some(answer) = s.poll_send() {
                    agent.handle_bytes(now, &answer, disk);
                }
            }
        }
        while let Some(answer) = s.poll_send() {
            moved = true;
            agent.handle_bytes(now, &answer, disk);
        }
        if s.is_closed() {
            agent.handle_closed(now);
            continue;
        }
        if !moved {
            let next = [agent.poll_timeout(), s.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .expect("someone is waiting");
            now = now.max(next);
            agent.handle_timeout(now);
            s.handle_timeout(now);
        }
    }
    panic!("the boot did not end");
}

/// What one machine boot ran, by the MBR's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Windows(AgentAction),
    Bootworks(AgentAction),
}

/// Boots the machine `boots` times from `start`, one minute apart, as its MBR
/// says; AClient persists across boots (it is installed in the OS).
fn machine(
    lab: &mut Lab,
    disk: &mut MemoryDisk,
    mode: AgentMode,
    boots: usize,
) -> (Vec<Stage>, AClient) {
    let mut client = AClient::new(agent_config(mode));
    let mut stages = Vec::new();
    // Leaving Bootworks (Exit) goes on to Windows in the same boot ("If you exit
    // at the error, Windows comes up", seed 000); a reboot asks the MBR again.
    let mut exited_bootworks = false;
    for i in 0..boots {
        let start = Instant::from_secs(60 * i as u64);
        match disk.mbr().expect("mbr").boot_target() {
            BootTarget::Bootworks { .. } if !exited_bootworks => {
                let mut bw =
                    Bootworks::new(agent_config(mode), Delivery::Partition).with_chunk_len(2048);
                let (end, _) = boot(&mut bw, disk, lab, start);
                exited_bootworks = end == AgentAction::Exit;
                stages.push(Stage::Bootworks(end));
            }
            BootTarget::Bootworks { .. } | BootTarget::Active { .. } => {
                exited_bootworks = false;
                let (end, _) = boot(&mut client, disk, lab, start);
                stages.push(Stage::Windows(end));
            }
            BootTarget::NothingToBoot => panic!("the lab disk always has an OS"),
        }
    }
    (stages, client)
}

fn job_state(lab: &Lab, job: JobId) -> JobState {
    lab.server.job(job).expect("job").state().clone()
}

#[test]
fn reference_deploy_image_end_to_end_writes_the_image_and_applies_post_config() {
    let mut lab = lab(ServerMode::Reference, true);
    let job = lab
        .server
        .schedule(
            Instant::ZERO,
            lab.computer,
            JobKind::DeployImage {
                image: IMAGE.into(),
            },
        )
        .expect("a partition Bootworks can image");
    lab.server
        .set_post_config(
            job,
            PostConfig {
                name: "WKS-07".into(),
                address: None,
            },
        )
        .expect("job exists");
    let mut disk = lab_disk();
    let (stages, client) = machine(
        &mut lab,
        &mut disk,
        AgentMode::Reference { max_attempts: 3 },
        4,
    );

    use AgentAction::*;
    assert_eq!(
        stages,
        [
            Stage::Windows(Reboot),   // AClient arms the flag
            Stage::Bootworks(Reboot), // images, clears the flag
            Stage::Windows(Close),    // post-config, job succeeded
            Stage::Windows(Close),    // nothing left to do
        ]
    );
    assert_eq!(job_state(&lab, job), JobState::Succeeded);
    let p = disk.os_partition().unwrap();
    assert_eq!(
        &disk.partition_bytes(p).unwrap()[..IMAGE_LEN],
        &lab.data[..]
    );
    assert_eq!(client.applied().map(|p| p.name.as_str()), Some("WKS-07"));
    assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::CLEAR)));
}

#[test]
fn groundhog_day_legacy_loops_between_windows_and_bootworks() {
    let mut lab = lab(ServerMode::Legacy { trust_uuid: false }, true);
    let job = lab
        .server
        .schedule(
            Instant::ZERO,
            lab.computer,
            JobKind::ScriptedInstall {
                os: "Windows XP SP2".into(),
            },
        )
        .expect("legacy schedules anything");
    let mut disk = lab_disk();
    let (stages, _) = machine(&mut lab, &mut disk, AgentMode::Legacy, 20);

    for pair in stages.chunks(2) {
        assert_eq!(
            pair,
            [
                Stage::Windows(AgentAction::Reboot),
                Stage::Bootworks(AgentAction::Exit)
            ],
            "{stages:?}"
        );
    }
    assert!(
        !job_state(&lab, job).is_terminal(),
        "{:?}",
        job_state(&lab, job)
    );
    assert!(
        disk.boot_flag().unwrap().unwrap().is_armed(),
        "still armed after 20 boots"
    );
}

#[test]
fn reference_agents_stop_the_drive_map_loop_and_the_machine_settles_in_windows() {
    // The Bootworks account lacks rights to the image share (no share credential).
    let mut lab = lab(ServerMode::Reference, false);
    let job = lab
        .server
        .schedule(
            Instant::ZERO,
            lab.computer,
            JobKind::DeployImage {
                image: IMAGE.into(),
            },
        )
        .expect("scheduling does not check share rights");
    let mut disk = lab_disk();
    let (stages, client) = machine(
        &mut lab,
        &mut disk,
        AgentMode::Reference { max_attempts: 3 },
        12,
    );

    assert!(
        matches!(job_state(&lab, job), JobState::Failed { .. }),
        "{:?}",
        job_state(&lab, job)
    );
    // Once the job failed, every boot is Windows and nothing re-arms.
    use AgentAction::*;
    let attempt = [Stage::Windows(Reboot), Stage::Bootworks(Exit)];
    let mut expected = [attempt, attempt, attempt].concat();
    expected.extend([Stage::Windows(Close); 6]);
    assert_eq!(
        stages, expected,
        "three pre-OS attempts, then Windows for good"
    );
    assert!(!disk.boot_flag().unwrap().is_some_and(|f| f.is_armed()));
    assert_eq!(client.applied(), None);
}
