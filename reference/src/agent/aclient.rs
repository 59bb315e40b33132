//! AClient: the agent in the installed OS.
//!
//! At every OS start it checks in. For a job that needs the pre-OS environment it
//! writes the MBR boot flag and asks for a reboot ("hey man, I got this job to run,
//! so, at next boot, can you please use me?", seed 000); when it finds the flag it
//! armed cleared again, Bootworks has done its part and AClient finishes the job
//! with the post-configuration (name, address) the job carries.
//!
//! The flag's attempt counter is what keeps the reference AClient out of the
//! seed's loop: it is bumped at every arming, and once it reaches
//! `max_attempts` with the flag still armed (Bootworks never finished), AClient
//! clears the flag and reports the job failed. [`AgentMode::Legacy`] has no such
//! bound: it re-arms at every boot, which is the "Groundhog Day" loop.

use crate::Instant;
use crate::wire::agent::{
    AgentError, AgentKind, AgentMessage, CheckIn, JobKind, JobOffer, JobState, PostConfig,
};
use crate::wire::mbr::BootFlag;

use super::disk::BootDisk;
use super::link::{Link, feed};
use super::{AgentAction, AgentConfig, AgentEvent, AgentEventKind, AgentMode};

/// What AClient persists between boots: the job it armed the flag for.
const STATE_PREFIX: &str = "armed job ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not started (or between boots).
    Idle,
    Connecting,
    AwaitWelcome,
    AwaitOffer,
    Done,
}

/// The in-OS agent. Drive it with [`boot`](Self::boot) at every OS start, then
/// the usual stream calls; see the module docs for what it decides.
#[derive(Debug)]
pub struct AClient {
    config: AgentConfig,
    link: Link,
    phase: Phase,
    applied: Option<PostConfig>,
}

impl AClient {
    /// An AClient installed with `config`; it does nothing until [`boot`](Self::boot).
    pub fn new(config: AgentConfig) -> Self {
        AClient {
            config,
            link: Link::new(),
            phase: Phase::Idle,
            applied: None,
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The last post-configuration applied to the OS (the OS's name and address
    /// now), kept across boots.
    pub fn applied(&self) -> Option<&PostConfig> {
        self.applied.as_ref()
    }

    /// Whether the current run has ended (its final action is queued).
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The OS started: AClient asks to connect. The disk is read only once a job
    /// is offered; it is taken here so every run sees the disk it boots from.
    pub fn boot(&mut self, now: Instant, _disk: &mut dyn BootDisk) {
        self.phase = Phase::Connecting;
        self.link.restart(now);
    }

    /// The TCP connection is open: introduce ourselves.
    pub fn handle_connected(&mut self, now: Instant) {
        if self.phase != Phase::Connecting {
            return;
        }
        let hello = self.config.hello(AgentKind::AClient);
        self.link.send(now, &AgentMessage::Hello(hello));
        self.phase = Phase::AwaitWelcome;
        self.link.await_reply(now, "Welcome");
    }

    /// The connection could not be opened: nothing to do until the next boot.
    pub fn handle_connect_failed(&mut self, now: Instant) {
        if self.phase != Phase::Connecting {
            return;
        }
        self.link.event(now, AgentEventKind::ConnectFailed);
        self.finish(now, AgentAction::Close);
    }

    /// Bytes from the server; `disk` is the machine's disk (for the boot flag).
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8], disk: &mut dyn BootDisk) {
        if matches!(self.phase, Phase::Idle | Phase::Connecting | Phase::Done) {
            return;
        }
        feed(
            self,
            bytes,
            |m| &mut m.link,
            |m, msg| m.on_message(now, msg, disk),
        );
    }

    /// The server closed the connection.
    pub fn handle_closed(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Idle | Phase::Done) {
            return;
        }
        self.link.event(now, AgentEventKind::ConnectionClosed);
        self.finish(now, AgentAction::Close);
    }

    /// Time passed: a wait that reached its deadline ends the run.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(waiting_for) = self.link.expired(now) else {
            return;
        };
        self.link
            .event(now, AgentEventKind::TimedOut { waiting_for });
        if self.phase == Phase::Connecting {
            self.link.event(now, AgentEventKind::ConnectFailed);
        }
        self.finish(now, AgentAction::Close);
    }

    /// The next frame to send to the server.
    pub fn poll_send(&mut self) -> Option<Vec<u8>> {
        self.link.poll_send()
    }

    /// The next thing the host must do.
    pub fn poll_action(&mut self) -> Option<AgentAction> {
        self.link.poll_action()
    }

    /// The next event for reports.
    pub fn poll_event(&mut self) -> Option<AgentEvent> {
        self.link.poll_event()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.link.poll_timeout()
    }

    fn finish(&mut self, now: Instant, action: AgentAction) {
        self.phase = Phase::Done;
        self.link.finish(now, action);
    }

    /// Says goodbye and ends the run with `action`.
    fn bye(&mut self, now: Instant, action: AgentAction) {
        self.link.send(now, &AgentMessage::Bye);
        self.finish(now, action);
    }

    fn on_message(
        &mut self,
        now: Instant,
        msg: Result<AgentMessage, AgentError>,
        disk: &mut dyn BootDisk,
    ) {
        let msg = match msg {
            Ok(msg) => msg,
            Err(e) => {
                self.link
                    .event(now, AgentEventKind::ProtocolError(e.to_string()));
                return self.finish(now, AgentAction::Close);
            }
        };
        match (self.phase, msg) {
            (Phase::AwaitWelcome, AgentMessage::Welcome(w)) => {
                self.link.event(
                    now,
                    AgentEventKind::Welcomed {
                        computer_id: w.computer_id,
                    },
                );
                self.link.send(
                    now,
                    &AgentMessage::CheckIn(CheckIn {
                        computer_id: w.computer_id,
                    }),
                );
                self.phase = Phase::AwaitOffer;
                self.link.await_reply(now, "a job offer");
            }
            (Phase::AwaitWelcome, AgentMessage::Refused(r)) => {
                self.link.event(
                    now,
                    AgentEventKind::Refused {
                        reason: r.reason,
                        text: r.text,
                    },
                );
                self.finish(now, AgentAction::Close);
            }
            (Phase::AwaitOffer, AgentMessage::NoJob) => {
                self.link.event(now, AgentEventKind::NoJob);
                self.on_no_job(now, disk);
                self.bye(now, AgentAction::Close);
            }
            (Phase::AwaitOffer, AgentMessage::JobOffer(offer)) => {
                self.link.event(
                    now,
                    AgentEventKind::JobOffered {
                        job_id: offer.job_id,
                        kind: offer.kind,
                    },
                );
                self.on_offer(now, offer, disk);
            }
            (_, AgentMessage::Error(e)) => {
                self.link.event(now, AgentEventKind::ServerError(e.text));
                self.bye(now, AgentAction::Close);
            }
            (_, AgentMessage::Bye) => {
                self.link.event(now, AgentEventKind::ConnectionClosed);
                self.finish(now, AgentAction::Close);
            }
            (_, other) => {
                self.link.event(
                    now,
                    AgentEventKind::ProtocolError(format!(
                        "unexpected {} from the server",
                        other.name()
                    )),
                );
                self.bye(now, AgentAction::Close);
            }
        }
    }

    /// No job: in reference mode, a flag AClient armed for a job the server no
    /// longer offers (failed or removed there) is cleared, so the machine does not
    /// keep booting into Bootworks for nothing.
    fn on_no_job(&mut self, now: Instant, disk: &mut dyn BootDisk) {
        if self.config.mode.is_legacy() || armed_job(disk).is_none() {
            return;
        }
        if matches!(disk.boot_flag(), Ok(Some(f)) if f.is_armed()) {
            match disk.clear_boot_flag() {
                Ok(()) => self.link.event(now, AgentEventKind::FlagCleared),
                Err(e) => self
                    .link
                    .event(now, AgentEventKind::DiskFailed(e.to_string())),
            }
        }
        self.forget(now, disk);
    }

    fn on_offer(&mut self, now: Instant, offer: JobOffer, disk: &mut dyn BootDisk) {
        let job = offer.job_id;
        match offer.kind {
            JobKind::DeployImage | JobKind::CaptureImage | JobKind::ScriptedInstall => {
                self.on_pre_os_offer(now, offer, disk)
            }
            JobKind::RunScript => {
                self.link.report(now, job, JobState::Running, 0, "started");
                self.link
                    .report(now, job, JobState::Succeeded, 0, "script finished");
                self.bye(now, AgentAction::Close);
            }
            JobKind::BootToProduction => {
                self.link.report(now, job, JobState::Running, 0, "started");
                if matches!(disk.boot_flag(), Ok(Some(f)) if f.is_armed()) {
                    if let Err(e) = disk.clear_boot_flag() {
                        return self.disk_failed(now, job, "cannot clear the boot flag", e);
                    }
                    self.link.event(now, AgentEventKind::FlagCleared);
                }
                self.forget(now, disk);
                self.link
                    .report(now, job, JobState::Succeeded, 0, "booted to production");
                self.bye(now, AgentAction::Close);
            }
        }
    }

    fn on_pre_os_offer(&mut self, now: Instant, offer: JobOffer, disk: &mut dyn BootDisk) {
        let job = offer.job_id;
        let flag = match disk.boot_flag() {
            Ok(flag) => flag.filter(BootFlag::is_armed),
            Err(e) => return self.disk_failed(now, job, "cannot read the boot flag", e),
        };
        let mine = armed_job(disk) == Some(job);
        if mine && flag.is_none() {
            // Armed by us, cleared by Bootworks: the pre-OS step is done.
            let detail = match &offer.post_config {
                Some(p) => {
                    self.applied = Some(p.clone());
                    self.link
                        .event(now, AgentEventKind::PostConfigApplied(p.clone()));
                    match p.address {
                        Some(a) => {
                            format!("post-configuration applied: name {}, address {a}", p.name)
                        }
                        None => format!("post-configuration applied: name {}", p.name),
                    }
                }
                None => "pre-OS step finished; the job carries no post-configuration".to_string(),
            };
            self.forget(now, disk);
            self.link.report(now, job, JobState::Succeeded, 0, detail);
            return self.bye(now, AgentAction::Close);
        }
        let attempts = match flag {
            Some(f) if mine => f.attempts,
            _ => 0,
        };
        if let AgentMode::Reference { max_attempts } = self.config.mode
            && mine
            && flag.is_some()
            && attempts >= max_attempts
        {
            if let Err(e) = disk.clear_boot_flag() {
                return self.disk_failed(now, job, "cannot clear the boot flag", e);
            }
            self.link.event(now, AgentEventKind::FlagCleared);
            self.forget(now, disk);
            self.link.report(
                now,
                job,
                JobState::Failed,
                0,
                format!("gave up after {attempts} pre-boot attempts"),
            );
            return self.bye(now, AgentAction::Close);
        }
        let attempts = attempts.saturating_add(1);
        if let Err(e) = disk.set_boot_flag(BootFlag::armed(attempts)) {
            return self.disk_failed(now, job, "cannot write the boot flag", e);
        }
        let state = format!("{STATE_PREFIX}{job}");
        if let Err(e) = disk.set_agent_state(Some(state.as_bytes())) {
            return self.disk_failed(now, job, "cannot save AClient's state", e);
        }
        self.link.event(
            now,
            AgentEventKind::FlagArmed {
                job_id: job,
                attempts,
            },
        );
        self.link
            .report(now, job, JobState::Armed, 0, "boot flag set, rebooting");
        self.bye(now, AgentAction::Reboot);
    }

    /// Forgets the armed job (its pre-OS part is over, one way or the other).
    fn forget(&mut self, now: Instant, disk: &mut dyn BootDisk) {
        if let Err(e) = disk.set_agent_state(None) {
            self.link
                .event(now, AgentEventKind::DiskFailed(e.to_string()));
        }
    }

    fn disk_failed(&mut self, now: Instant, job: u64, what: &str, e: super::DiskError) {
        let detail = format!("{what}: {e}");
        self.link
            .event(now, AgentEventKind::DiskFailed(detail.clone()));
        self.link.report(now, job, JobState::Failed, 0, detail);
        self.bye(now, AgentAction::Close);
    }
}

/// Leaves AClient the note that job `job`'s pre-OS step ran (what AClient
/// itself writes when it arms the flag). Bootworks writes it when its part is
/// done, so that AClient in the OS finishes the job even when it never armed
/// it: a machine that PXE-booted into Bootworks (initial deployment, or a
/// PXE-first boot order).
pub(super) fn note_pre_os_step(disk: &mut dyn BootDisk, job: u64) -> Result<(), super::DiskError> {
    let state = format!("{STATE_PREFIX}{job}");
    disk.set_agent_state(Some(state.as_bytes()))
}

/// The job AClient's persisted state says it armed the flag for.
fn armed_job(disk: &dyn BootDisk) -> Option<u64> {
    let state = disk.agent_state()?;
    std::str::from_utf8(&state)
        .ok()?
        .strip_prefix(STATE_PREFIX)?
        .parse()
        .ok()
}
