//! Bootworks: the pre-OS agent, delivered by PXE or booted from its hidden disk
//! partition through the MBR boot flag.
//!
//! It connects to the Deployment Server, checks in, maps the image share and runs
//! the job: for `deploy-image` it pulls the image chunk by chunk
//! ([`ImageRequest`]/[`ImageChunk`]), checks each chunk's CRC-32 (a damaged one is
//! requested again, at most [`MAX_CHUNK_RETRIES`] times), writes it to the OS
//! partition, checks the whole partition's SHA-256 against the offer's, and only
//! then clears the boot flag and reboots, so that a half-written disk never boots
//! as if imaging had worked.
//!
//! What it prints is kept in [`Bootworks::screen`], with the seed's exact texts:
//! [`SHARE_WARNING`], [`ERR_TCP_SOCKET`], [`ERR_CONNECT_SERVER`].
//!
//! The reference Bootworks reports every outcome to the server before it leaves,
//! whenever the connection is up; [`AgentMode::Legacy`](super::AgentMode::Legacy) exits on any error without
//! a word, which is how the seed's machine went round: the server never learns the
//! job failed, so AClient arms the flag again.

use crate::Instant;
use crate::wire::agent::{
    AgentError, AgentKind, AgentMessage, CheckIn, ImageChunk, ImageRef, ImageRequest, JobKind,
    JobOffer, JobState, MAX_CHUNK_LEN,
};

use super::disk::{BootDisk, DiskError};
use super::link::{Link, feed};
use super::{AgentAction, AgentConfig, AgentEvent, AgentEventKind};

/// The warning Bootworks prints when the image share could not be mapped (seed 000,
/// with the product's own "Bootworks").
pub const SHARE_WARNING: &str =
    "Warning a network drive has not been mapped correctly! Bootworks may not operate as designed.";
/// Printed when the TCP connection to the server cannot be opened (seed 000).
pub const ERR_TCP_SOCKET: &str = "ERROR: Unable to open TCP socket";
/// Printed when the server does not take Bootworks in: connection failed, refused,
/// or no answer (seed 000).
pub const ERR_CONNECT_SERVER: &str = "ERROR: Unable to connect to the deployment server.";
/// Why a partition Bootworks fails a scripted install ("It's an image only
/// solution", seed 000).
pub const IMAGE_ONLY_REASON: &str =
    "scripted install is not possible from a Bootworks partition (image only)";
/// How many times one damaged chunk is requested again before the job fails.
pub const MAX_CHUNK_RETRIES: u8 = 3;
/// The share path Bootworks maps when the offer carries none (Altiris' share was
/// called eXpress).
pub const DEFAULT_SHARE_PATH: &str = r"\\deployment-server\eXpress";

/// How often Bootworks tells the server it is still imaging while the host
/// carries the image: well inside the server's 60 s idle timeout, so a long
/// transfer never looks like a dead agent.
pub const PROGRESS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(20);

/// How the image reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ImageTransport {
    /// Bootworks pulls it chunk by chunk over the agent connection
    /// ([`ImageRequest`]/[`ImageChunk`]), as in real mode.
    #[default]
    Stream,
    /// The host delivers it (a multicast session, or the simulator's
    /// bandwidth-sharing model of a fleet's transfers): Bootworks says what it
    /// wants through [`Bootworks::awaiting_image`] and checks the result when
    /// the host calls [`Bootworks::handle_image_delivered`]. The checks after
    /// the transfer (SHA-256 of the partition, then the flag) are the same.
    Host,
}

/// The image Bootworks waits for the host to write, with
/// [`ImageTransport::Host`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageWanted {
    /// The job.
    pub job_id: u64,
    /// The image as the job offer describes it (name, size, SHA-256).
    pub image: ImageRef,
    /// The partition it goes to (the OS partition).
    pub partition: usize,
}

/// How this Bootworks reached the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// The NBP the PXE server handed out: a full pre-OS environment.
    Pxe,
    /// The hidden disk partition the MBR flag boots: image only.
    Partition,
}

/// An image transfer under way.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Transfer {
    job_id: u64,
    image: ImageRef,
    partition: usize,
    /// Next byte wanted (everything before it is written).
    offset: u64,
    /// Bytes asked for in the outstanding request.
    requested: u32,
    /// How many times the outstanding chunk has arrived damaged.
    damaged: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Idle,
    Connecting,
    AwaitWelcome,
    AwaitOffer,
    Imaging(Transfer),
    /// The host is delivering the image ([`ImageTransport::Host`]); the next
    /// keepalive progress report is due at the instant.
    AwaitHost(Transfer, Instant),
    Done,
}

/// The pre-OS agent. Drive it with [`boot`](Self::boot) when the machine boots
/// into it, then the usual stream calls.
#[derive(Debug)]
pub struct Bootworks {
    config: AgentConfig,
    delivery: Delivery,
    chunk_len: u32,
    transport: ImageTransport,
    share_path: String,
    link: Link,
    phase: Phase,
    screen: Vec<String>,
}

impl Bootworks {
    /// A Bootworks delivered by `delivery`, identifying itself with `config`.
    pub fn new(config: AgentConfig, delivery: Delivery) -> Self {
        Bootworks {
            config,
            delivery,
            chunk_len: MAX_CHUNK_LEN as u32,
            transport: ImageTransport::Stream,
            share_path: DEFAULT_SHARE_PATH.to_string(),
            link: Link::new(),
            phase: Phase::Idle,
            screen: Vec::new(),
        }
    }

    /// Asks for at most `len` image bytes per request (clamped to
    /// 1..=[`MAX_CHUNK_LEN`]); smaller chunks mean more round trips and less to
    /// fetch again after a damaged one.
    pub fn with_chunk_len(mut self, len: u32) -> Self {
        self.chunk_len = len.clamp(1, MAX_CHUNK_LEN as u32);
        self
    }

    /// Chooses how images reach the disk (default: [`ImageTransport::Stream`]).
    pub fn with_image_transport(mut self, transport: ImageTransport) -> Self {
        self.transport = transport;
        self
    }

    /// With [`ImageTransport::Host`]: the image the host should write now, if
    /// Bootworks is waiting for one.
    pub fn awaiting_image(&self) -> Option<ImageWanted> {
        match &self.phase {
            Phase::AwaitHost(t, _) => Some(ImageWanted {
                job_id: t.job_id,
                image: t.image.clone(),
                partition: t.partition,
            }),
            _ => None,
        }
    }

    /// With [`ImageTransport::Host`]: how far the host's transfer is, for the
    /// next progress report.
    pub fn handle_image_progress(&mut self, bytes: u64) {
        if let Phase::AwaitHost(t, _) = &mut self.phase {
            t.offset = bytes.min(t.image.size);
        }
    }

    /// With [`ImageTransport::Host`]: the host finished writing the image
    /// (`Ok`), or could not (`Err` with why). Bootworks then checks the
    /// partition's SHA-256 exactly as after a streamed transfer.
    pub fn handle_image_delivered(
        &mut self,
        now: Instant,
        result: Result<(), String>,
        disk: &mut dyn BootDisk,
    ) {
        let Phase::AwaitHost(t, _) = &self.phase else {
            return;
        };
        let mut t = t.clone();
        match result {
            Ok(()) => {
                t.offset = t.image.size;
                self.verify_image(now, t, disk);
            }
            Err(why) => self.fail(
                now,
                t.job_id,
                t.offset,
                format!("image transfer failed: {why}"),
            ),
        }
    }

    /// The share Bootworks maps when the offer names none (its boot configuration).
    pub fn with_share_path(mut self, path: impl Into<String>) -> Self {
        self.share_path = path.into();
        self
    }

    /// How it was delivered.
    pub fn delivery(&self) -> Delivery {
        self.delivery
    }

    /// Every line it printed, oldest first.
    pub fn screen(&self) -> &[String] {
        &self.screen
    }

    /// Whether the current run has ended (its final action is queued).
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The machine booted into Bootworks: it asks to connect.
    pub fn boot(&mut self, now: Instant, _disk: &mut dyn BootDisk) {
        let from = match self.delivery {
            Delivery::Pxe => "PXE",
            Delivery::Partition => "the Bootworks partition",
        };
        self.print(now, format!("Bootworks started from {from}"));
        self.phase = Phase::Connecting;
        self.link.restart(now);
    }

    /// The TCP connection is open: introduce ourselves.
    pub fn handle_connected(&mut self, now: Instant) {
        if self.phase != Phase::Connecting {
            return;
        }
        let hello = self.config.hello(AgentKind::Bootworks);
        self.link.send(now, &AgentMessage::Hello(hello));
        self.phase = Phase::AwaitWelcome;
        self.link.await_reply(now, "Welcome");
    }

    /// The connection could not be opened: the seed's two error lines, then exit.
    pub fn handle_connect_failed(&mut self, now: Instant) {
        if self.phase != Phase::Connecting {
            return;
        }
        self.link.event(now, AgentEventKind::ConnectFailed);
        self.print(now, ERR_TCP_SOCKET);
        self.print(now, ERR_CONNECT_SERVER);
        self.finish(now, AgentAction::Exit);
    }

    /// Bytes from the server; `disk` receives the image.
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

    /// The server closed the connection: nothing can be reported any more.
    pub fn handle_closed(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Idle | Phase::Done) {
            return;
        }
        self.link.event(now, AgentEventKind::ConnectionClosed);
        if matches!(self.phase, Phase::Connecting | Phase::AwaitWelcome) {
            self.print(now, ERR_CONNECT_SERVER);
        } else {
            self.print(now, "ERROR: The deployment server closed the connection.");
        }
        self.finish(now, AgentAction::Exit);
    }

    /// Time passed: a wait that reached its deadline ends the run (after
    /// reporting the failure when a job is under way, in reference mode).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Phase::AwaitHost(t, due) = &self.phase {
            if now >= *due {
                let (job, progress) = (t.job_id, t.offset);
                self.link
                    .report(now, job, JobState::Running, progress, "receiving the image");
                if let Phase::AwaitHost(_, due) = &mut self.phase {
                    *due = now + PROGRESS_INTERVAL;
                }
            }
            return;
        }
        let Some(waiting_for) = self.link.expired(now) else {
            return;
        };
        self.link
            .event(now, AgentEventKind::TimedOut { waiting_for });
        match &self.phase {
            Phase::Connecting => {
                self.link.event(now, AgentEventKind::ConnectFailed);
                self.print(now, ERR_TCP_SOCKET);
                self.print(now, ERR_CONNECT_SERVER);
                self.finish(now, AgentAction::Exit);
            }
            Phase::AwaitWelcome | Phase::AwaitOffer => {
                self.print(now, ERR_CONNECT_SERVER);
                self.finish(now, AgentAction::Exit);
            }
            Phase::Imaging(t) => {
                let (job, progress) = (t.job_id, t.offset);
                let detail = format!(
                    "no reply from the deployment server within {} s",
                    super::REPLY_TIMEOUT.as_secs()
                );
                self.fail(now, job, progress, detail);
            }
            Phase::Idle | Phase::Done | Phase::AwaitHost(..) => {}
        }
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
        match &self.phase {
            Phase::AwaitHost(_, due) => Some(*due),
            _ => self.link.poll_timeout(),
        }
    }

    fn print(&mut self, now: Instant, line: impl Into<String>) {
        let line = line.into();
        self.link.event(now, AgentEventKind::Printed(line.clone()));
        self.screen.push(line);
    }

    fn finish(&mut self, now: Instant, action: AgentAction) {
        self.phase = Phase::Done;
        self.link.finish(now, action);
    }

    fn bye(&mut self, now: Instant, action: AgentAction) {
        self.link.send(now, &AgentMessage::Bye);
        self.finish(now, action);
    }

    /// The job failed: print why; the reference reports it and says goodbye, the
    /// legacy one just leaves.
    fn fail(&mut self, now: Instant, job: u64, progress: u64, detail: String) {
        self.print(now, format!("ERROR: {detail}"));
        if self.config.mode.is_legacy() {
            return self.finish(now, AgentAction::Exit);
        }
        self.link
            .report(now, job, JobState::Failed, progress, detail);
        self.bye(now, AgentAction::Exit);
    }

    fn on_message(
        &mut self,
        now: Instant,
        msg: Result<AgentMessage, AgentError>,
        disk: &mut dyn BootDisk,
    ) {
        let msg = match msg {
            Ok(msg) => msg,
            Err(e) => return self.protocol_error(now, e.to_string()),
        };
        match (&self.phase, msg) {
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
                let line = format!("The deployment server refused this computer: {}", r.text);
                self.link.event(
                    now,
                    AgentEventKind::Refused {
                        reason: r.reason,
                        text: r.text,
                    },
                );
                self.print(now, ERR_CONNECT_SERVER);
                self.print(now, line);
                self.finish(now, AgentAction::Exit);
            }
            (Phase::AwaitWelcome, AgentMessage::Error(e)) => {
                self.link.event(now, AgentEventKind::ServerError(e.text));
                self.print(now, ERR_CONNECT_SERVER);
                self.finish(now, AgentAction::Exit);
            }
            (Phase::AwaitOffer, AgentMessage::NoJob) => {
                self.link.event(now, AgentEventKind::NoJob);
                self.print(now, "No job is scheduled for this computer.");
                // Nothing to do here: make sure the next boot goes to the OS.
                self.clear_flag(now, disk);
                self.bye(now, AgentAction::Exit);
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
            (Phase::Imaging(t), AgentMessage::ImageChunk(chunk)) => {
                let t = t.clone();
                self.on_chunk(now, t, chunk, disk);
            }
            (Phase::Imaging(t) | Phase::AwaitHost(t, _), AgentMessage::Error(e)) => {
                let (job, progress) = (t.job_id, t.offset);
                self.link
                    .event(now, AgentEventKind::ServerError(e.text.clone()));
                self.fail(now, job, progress, format!("server error: {}", e.text));
            }
            (Phase::AwaitOffer, AgentMessage::Error(e)) => {
                self.link.event(now, AgentEventKind::ServerError(e.text));
                self.print(now, ERR_CONNECT_SERVER);
                self.bye(now, AgentAction::Exit);
            }
            (_, AgentMessage::Bye) => self.handle_closed(now),
            (_, other) => self.protocol_error(now, format!("unexpected {}", other.name())),
        }
    }

    /// A message that cannot be read or does not belong here: the server is not
    /// following the conversation; report (if a job is known) and leave.
    fn protocol_error(&mut self, now: Instant, text: String) {
        self.link
            .event(now, AgentEventKind::ProtocolError(text.clone()));
        match &self.phase {
            Phase::Imaging(t) | Phase::AwaitHost(t, _) => {
                let (job, progress) = (t.job_id, t.offset);
                self.fail(now, job, progress, format!("protocol error: {text}"));
            }
            _ => {
                self.print(now, ERR_CONNECT_SERVER);
                self.finish(now, AgentAction::Exit);
            }
        }
    }

    fn on_offer(&mut self, now: Instant, offer: JobOffer, disk: &mut dyn BootDisk) {
        let job = offer.job_id;
        self.link.report(now, job, JobState::Running, 0, "started");
        let needs_share = matches!(offer.kind, JobKind::DeployImage | JobKind::CaptureImage);
        match &offer.share {
            Some(share) => {
                let line = format!("Mapped F: to {} as {}", share.path, share.user);
                self.print(now, line);
            }
            None => {
                self.print(now, SHARE_WARNING);
                if needs_share {
                    let detail = format!("network drive not mapped: {}", self.share_path);
                    return self.fail(now, job, 0, detail);
                }
            }
        }
        match offer.kind {
            JobKind::DeployImage => self.start_image(now, job, offer.image, disk),
            JobKind::ScriptedInstall
                if self.delivery == Delivery::Partition && disk.image_only() =>
            {
                self.fail(now, job, 0, IMAGE_ONLY_REASON.to_string());
            }
            JobKind::ScriptedInstall => {
                // The installer takes the machine from here; AClient in the
                // installed OS finishes the job, as after imaging.
                self.print(now, "Starting the scripted OS install");
                if !self.clear_flag(now, disk) {
                    return self.fail(now, job, 0, "cannot clear the boot flag".to_string());
                }
                self.leave_note(now, job, disk);
                self.link
                    .report(now, job, JobState::PreOsDone, 0, "installer started");
                self.bye(now, AgentAction::Reboot);
            }
            JobKind::CaptureImage => {
                // The protocol has no upload message yet (ImageChunk flows
                // server to agent only), so a capture cannot be carried out.
                self.fail(
                    now,
                    job,
                    0,
                    "capture-image is not supported by this Bootworks (no image upload in protocol version 1)"
                        .to_string(),
                );
            }
            JobKind::BootToProduction => {
                // Clearing the flag is the whole job: the next boot is the OS.
                if !self.clear_flag(now, disk) {
                    return self.fail(now, job, 0, "cannot clear the boot flag".to_string());
                }
                self.link
                    .report(now, job, JobState::Succeeded, 0, "booted to production");
                self.bye(now, AgentAction::Reboot);
            }
            JobKind::RunScript => {
                // A job of the installed OS: leave the pre-OS environment so
                // AClient runs (and reports) it.
                self.print(now, "This job runs in the installed OS; rebooting to it");
                if !self.clear_flag(now, disk) {
                    return self.fail(now, job, 0, "cannot clear the boot flag".to_string());
                }
                self.bye(now, AgentAction::Reboot);
            }
        }
    }

    fn start_image(
        &mut self,
        now: Instant,
        job: u64,
        image: Option<ImageRef>,
        disk: &mut dyn BootDisk,
    ) {
        let Some(image) = image else {
            return self.fail(now, job, 0, "the job offer names no image".to_string());
        };
        let partition = match disk.os_partition() {
            Ok(p) => p,
            Err(e) => return self.fail(now, job, 0, format!("disk error: {e}")),
        };
        match disk.partition_len(partition) {
            Ok(len) if len >= image.size => {}
            Ok(len) => {
                let detail = format!(
                    "image {} ({} bytes) does not fit partition {partition} ({len} bytes)",
                    image.name, image.size
                );
                return self.fail(now, job, 0, detail);
            }
            Err(e) => return self.fail(now, job, 0, format!("disk error: {e}")),
        }
        self.print(
            now,
            format!(
                "Imaging {} ({} bytes) to partition {partition}",
                image.name, image.size
            ),
        );
        let t = Transfer {
            job_id: job,
            image,
            partition,
            offset: 0,
            requested: 0,
            damaged: 0,
        };
        match self.transport {
            ImageTransport::Stream => self.request_next(now, t, disk),
            ImageTransport::Host => {
                // No reply is awaited while the host carries the image; the
                // keepalive timer replaces the reply deadline.
                self.link.clear_wait();
                self.phase = Phase::AwaitHost(t, now + PROGRESS_INTERVAL);
            }
        }
    }

    /// Asks for the chunk at `t.offset`, or finishes when the image is all there.
    fn request_next(&mut self, now: Instant, mut t: Transfer, disk: &mut dyn BootDisk) {
        let left = t.image.size - t.offset;
        if left == 0 {
            return self.verify_image(now, t, disk);
        }
        t.requested = u32::try_from(left).map_or(self.chunk_len, |l| l.min(self.chunk_len));
        self.link.send(
            now,
            &AgentMessage::ImageRequest(ImageRequest {
                job_id: t.job_id,
                offset: t.offset,
                len: t.requested,
            }),
        );
        self.phase = Phase::Imaging(t);
        self.link.await_reply(now, "an image chunk");
    }

    fn on_chunk(
        &mut self,
        now: Instant,
        mut t: Transfer,
        chunk: ImageChunk,
        disk: &mut dyn BootDisk,
    ) {
        let len = chunk.data.len();
        if chunk.job_id != t.job_id
            || chunk.offset != t.offset
            || len == 0
            || len > t.requested as usize
        {
            let text = format!(
                "image chunk for job {} at offset {} with {len} bytes; asked for job {} at offset {}, {} bytes",
                chunk.job_id, chunk.offset, t.job_id, t.offset, t.requested
            );
            return self.protocol_error(now, text);
        }
        if chunk.verify().is_err() {
            t.damaged = t.damaged.saturating_add(1);
            self.link.event(
                now,
                AgentEventKind::ChunkDamaged {
                    offset: t.offset,
                    times: t.damaged,
                },
            );
            if t.damaged > MAX_CHUNK_RETRIES {
                let detail = format!(
                    "checksum mismatch: the image chunk at offset {} arrived damaged {} times",
                    t.offset, t.damaged
                );
                return self.fail(now, t.job_id, t.offset, detail);
            }
            return self.request_next(now, t, disk);
        }
        if let Err(e) = disk.write(t.partition, t.offset, &chunk.data) {
            return self.disk_failed(now, t, "disk write failed", e);
        }
        t.offset += len as u64;
        t.damaged = 0;
        self.request_next(now, t, disk);
    }

    fn verify_image(&mut self, now: Instant, t: Transfer, disk: &mut dyn BootDisk) {
        let digest = match disk.partition_sha256(t.partition, t.image.size) {
            Ok(d) => d,
            Err(e) => return self.disk_failed(now, t, "cannot read back the image", e),
        };
        if digest != t.image.sha256 {
            let detail = format!(
                "checksum mismatch: the written image has SHA-256 {}, the server's is {}",
                hex(&digest),
                hex(&t.image.sha256)
            );
            return self.fail(now, t.job_id, t.offset, detail);
        }
        if let Err(e) = disk.clear_boot_flag() {
            return self.disk_failed(now, t, "cannot clear the boot flag", e);
        }
        self.link.event(now, AgentEventKind::FlagCleared);
        self.leave_note(now, t.job_id, disk);
        self.link.event(
            now,
            AgentEventKind::Imaged {
                bytes: t.image.size,
            },
        );
        self.print(now, format!("Image {} written and verified", t.image.name));
        self.link
            .report(now, t.job_id, JobState::PreOsDone, t.image.size, "imaged");
        self.bye(now, AgentAction::Reboot);
    }

    fn disk_failed(&mut self, now: Instant, t: Transfer, what: &str, e: DiskError) {
        let detail = format!("{what}: {e}");
        self.link
            .event(now, AgentEventKind::DiskFailed(detail.clone()));
        self.fail(now, t.job_id, t.offset, detail);
    }

    /// Tells AClient in the OS that this job's pre-OS step ran (see
    /// `aclient::note_pre_os_step`); a disk that refuses is an event, not a
    /// failure of the job, whose image is already verified.
    fn leave_note(&mut self, now: Instant, job: u64, disk: &mut dyn BootDisk) {
        if let Err(e) = super::aclient::note_pre_os_step(disk, job) {
            self.link
                .event(now, AgentEventKind::DiskFailed(e.to_string()));
        }
    }

    /// Clears the flag if it is armed; false when the disk refused.
    fn clear_flag(&mut self, now: Instant, disk: &mut dyn BootDisk) -> bool {
        if !matches!(disk.boot_flag(), Ok(Some(f)) if f.is_armed()) {
            return true;
        }
        match disk.clear_boot_flag() {
            Ok(()) => {
                self.link.event(now, AgentEventKind::FlagCleared);
                true
            }
            Err(e) => {
                self.link
                    .event(now, AgentEventKind::DiskFailed(e.to_string()));
                false
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
