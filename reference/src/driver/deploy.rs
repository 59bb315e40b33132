//! The deployment plane on real TCP: the Deployment Server's listener, and a
//! host for one agent run (issue 5, "Real mode").
//!
//! # Server
//!
//! [`serve_agents`] accepts connections (on [`AGENT_PORT`] by default) and runs
//! one [`AgentSession`] per connection, each in its own task. All sessions share
//! one [`DeploymentServer`] behind a `tokio::sync::Mutex`. A lock rather than a
//! task owning the server with a channel, because every call into the core is
//! short and synchronous (`handle_bytes` decides and answers at once): a session
//! takes the lock, feeds what it read, releases it before it writes a byte to its
//! socket, so a slow agent never holds up the others. Image bytes are read from
//! the [`ImageSource`] under the lock, at most one chunk
//! ([`crate::wire::agent::MAX_CHUNK_LEN`]) per request: the price of the simple
//! design, fine for a lab.
//!
//! A job change is committed to the core's job store (an fsync for a
//! [`RedbJobStore`](crate::deploy::RedbJobStore)) under that lock, inside the
//! call that makes it, so the log line a session prints after it, and anything
//! it sends, comes after the commit. Other sessions wait those few milliseconds:
//! changes are rare (a handful per job, Bootworks' progress note every 20 s),
//! and image chunks, the bulk of the traffic, change nothing.
//!
//! Each session's idle timeout is driven from its `poll_timeout`, so a silent
//! agent is closed by the session's own rule.
//!
//! A machine the initial-deployment path registers (an unknown machine whose
//! PXE-delivered Bootworks says `Hello`) is given a random image-share
//! credential as it is welcomed (see `provision_newcomer`): drawing it needs
//! randomness, which only the driver has.
//!
//! # Agent host
//!
//! [`run_agent`] is the host of one boot of an [`Agent`] (AClient or Bootworks):
//! it carries out the [`AgentAction`]s (`Connect` is a TCP connect bounded by
//! [`CONNECT_TIMEOUT`]), feeds the bytes, sleeps until the agent's `poll_timeout`,
//! and returns the run's final action (`Close`, `Reboot` or `Exit`). The
//! reference agents end every run with one of those, so it always returns.

use std::fs::File;
use std::io::{self, Read};
use std::net::{SocketAddr, SocketAddrV4};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use super::clock::Clock;
use super::machine::Shutdown;
use crate::agent::{AgentAction, AgentEvent, BootDisk, CONNECT_TIMEOUT};
use crate::deploy::{
    AgentSession, CREDENTIAL_LEN, ComputerId, Credential, CredentialKind, DeployEvent,
    DeploymentServer, Image, ImageSource, SessionEvent, SessionEventKind,
};
use crate::time::Instant;

pub use crate::wire::agent::AGENT_PORT;

/// Pause after a failed `accept` (e.g. out of file descriptors) before the next.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// Bytes read from a socket at a time.
const READ_BUF_LEN: usize = 64 * 1024;

/// Images as files in one directory: image `name` is the file `dir/name`.
///
/// A name is a file name, never a path: names with `/`, `\` or `..` are refused,
/// so an agent (or a job) can never read a file outside the image directory.
#[derive(Debug, Clone)]
pub struct DirImages {
    dir: PathBuf,
}

/// Why an image could not be added from the image directory.
#[derive(Debug, thiserror::Error)]
pub enum ImageFileError {
    /// The name would leave the image directory.
    #[error(
        "image name {0:?} is not a plain file name (it contains '/', '\\\\' or '..'); name a file inside the image directory"
    )]
    BadName(String),
    /// The file could not be read.
    #[error("cannot read image file {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: io::Error,
    },
}

impl DirImages {
    /// Images in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> DirImages {
        DirImages { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file holding image `name`, if the name is a plain file name.
    pub fn path_of(&self, name: &str) -> Option<PathBuf> {
        let plain = !name.is_empty()
            && !name.contains('/')
            && !name.contains('\\')
            && !name.contains("..")
            && !name.contains('\0');
        plain.then(|| self.dir.join(name))
    }

    /// Reads `file` (a plain file name in the directory) whole, streaming, and
    /// returns the catalogue entry for it: `name`, size and SHA-256 — what the
    /// server tells Bootworks to check the written partition against.
    pub fn catalogue(&self, name: &str, file: &str) -> Result<Image, ImageFileError> {
        let path = self
            .path_of(file)
            .ok_or_else(|| ImageFileError::BadName(file.to_string()))?;
        let io_err = |error| ImageFileError::Io {
            path: path.clone(),
            error,
        };
        let mut f = File::open(&path).map_err(io_err)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(io_err)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        Ok(Image {
            name: name.to_string(),
            size,
            sha256: hasher.finalize().into(),
        })
    }
}

impl ImageSource for DirImages {
    fn read(&self, image: &str, offset: u64, buf: &mut [u8]) -> usize {
        let Some(path) = self.path_of(image) else {
            return 0;
        };
        let Ok(file) = File::open(&path) else {
            return 0;
        };
        let mut done = 0;
        while done < buf.len() {
            match file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A short read: the session answers with what it got; the
                // agent's checksum catches a damaged image.
                Err(_) => break,
            }
        }
        done
    }
}

/// A [`DirImages`] source whose files are addressed by job image name through a
/// name → file map (the config's `[[image]] name/file`).
#[derive(Debug, Clone)]
pub struct MappedImages {
    dir: DirImages,
    files: std::collections::BTreeMap<String, String>,
}

impl MappedImages {
    /// Images in `dir`; none mapped yet.
    pub fn new(dir: DirImages) -> MappedImages {
        MappedImages {
            dir,
            files: Default::default(),
        }
    }

    /// Maps image `name` to the plain file name `file` in the directory.
    pub fn map(&mut self, name: impl Into<String>, file: impl Into<String>) {
        self.files.insert(name.into(), file.into());
    }
}

impl ImageSource for MappedImages {
    fn read(&self, image: &str, offset: u64, buf: &mut [u8]) -> usize {
        match self.files.get(image) {
            Some(file) => self.dir.read(file, offset, buf),
            None => 0,
        }
    }
}

/// One line of the server's log.
#[derive(Debug, Clone)]
pub enum DeployLog {
    /// A connection was accepted.
    Accepted(SocketAddr),
    /// Something happened in one agent session.
    Session(SessionEvent),
    /// Something happened to a computer or job.
    Server(DeployEvent),
    /// Accepting a connection failed (the server goes on).
    AcceptFailed(String),
    /// A machine the initial-deployment path registered could not be given an
    /// image-share credential (its deploy job will fail for want of the share).
    NewcomerWithoutShare {
        /// The computer.
        computer: ComputerId,
        /// Why.
        error: String,
    },
    /// A connection failed at the socket level.
    SocketError {
        /// The peer.
        peer: SocketAddr,
        /// What happened.
        error: String,
    },
}

impl std::fmt::Display for DeployLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeployLog::Accepted(peer) => write!(f, "agent connection from {peer}"),
            DeployLog::Session(e) => write!(f, "{e}"),
            DeployLog::Server(e) => write!(f, "{e}"),
            DeployLog::AcceptFailed(e) => write!(f, "cannot accept a connection: {e}"),
            DeployLog::NewcomerWithoutShare { computer, error } => {
                write!(f, "{computer}: no image-share credential: {error}")
            }
            DeployLog::SocketError { peer, error } => write!(f, "{peer}: socket error: {error}"),
        }
    }
}

/// Where the server's log lines go (shared by every session task).
pub type LogSink = Arc<dyn Fn(DeployLog) + Send + Sync>;

/// Accepts agent connections on `listener` until `shutdown` fires, one
/// [`AgentSession`] task per connection over the shared `server`. Socket
/// failures (accept, read, write) are logged and the server goes on; it returns
/// once stopped.
///
/// Connections from IPv6 peers are closed at once (the agent protocol and the
/// sessions are IPv4, like the rest of the PXE world). When `shutdown` fires the
/// open sessions stop too.
pub async fn serve_agents(
    listener: TcpListener,
    server: Arc<Mutex<DeploymentServer>>,
    images: Arc<dyn ImageSource + Send + Sync>,
    clock: Clock,
    mut shutdown: Shutdown,
    log: LogSink,
) -> io::Result<()> {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(got) => got,
                    Err(e) => {
                        // Out of descriptors and the like: the listener itself is
                        // fine, so log, give the system a moment, and go on.
                        log(DeployLog::AcceptFailed(e.to_string()));
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                let SocketAddr::V4(peer4) = peer else {
                    continue;
                };
                log(DeployLog::Accepted(peer));
                let server = server.clone();
                let images = images.clone();
                let log = log.clone();
                let shutdown = shutdown.clone();
                tasks.spawn(async move {
                    if let Err(e) =
                        run_session(stream, peer4, &server, &*images, clock, shutdown, &log).await
                    {
                        log(DeployLog::SocketError { peer, error: e.to_string() });
                    }
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.shutdown().await;
    Ok(())
}

/// Logs what the session and the core queued, and gives a machine the
/// initial-deployment path just registered its image-share credential.
fn drain_events(session: &mut AgentSession, server: &mut DeploymentServer, log: &LogSink) {
    while let Some(e) = session.poll_event() {
        if let SessionEventKind::Welcomed {
            computer,
            registered: true,
            ..
        } = e.kind
        {
            provision_newcomer(server, computer, log);
        }
        log(DeployLog::Session(e));
    }
    while let Some(e) = server.poll_event() {
        log(DeployLog::Server(e));
    }
}

/// Gives `computer`, registered just now by the initial-deployment path, a
/// fresh random image-share credential, so its Bootworks can map the share
/// (the job offer hands the secret over) and run the initial deploy-image job.
///
/// The core registers a newcomer without credentials (it was never
/// provisioned, and the core draws no randomness); without a share credential
/// the offer carries no share and every image request is refused. A random one
/// per machine keeps the per-computer property of [`Credential`]. Done before
/// the session answers the machine's check-in: Bootworks waits for `Welcome`
/// (it needs the computer id) before it checks in. If the random source fails
/// the machine stays without one, and its job fails with the share reason.
fn provision_newcomer(server: &mut DeploymentServer, computer: ComputerId, log: &LogSink) {
    if server.share_secret(computer).is_some() {
        return;
    }
    let mut bytes = [0u8; CREDENTIAL_LEN];
    let drawn = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    let result = match drawn {
        Ok(()) => server
            .set_credential(
                computer,
                CredentialKind::Share,
                Credential::from_bytes(bytes),
            )
            .map_err(|e| e.to_string()),
        Err(e) => Err(format!("cannot draw a random credential: {e}")),
    };
    if let Err(error) = result {
        log(DeployLog::NewcomerWithoutShare { computer, error });
    }
}

/// Sleeps until `wake`, or forever when there is none.
async fn sleep_until(clock: &Clock, wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(clock.deadline(at)).await,
        None => std::future::pending().await,
    }
}

/// One connection: the driver loop of [`AgentSession::handle_bytes`]'s docs.
async fn run_session(
    mut stream: TcpStream,
    peer: SocketAddrV4,
    server: &Mutex<DeploymentServer>,
    images: &(dyn ImageSource + Send + Sync),
    clock: Clock,
    mut shutdown: Shutdown,
    log: &LogSink,
) -> io::Result<()> {
    let mut session = AgentSession::new(clock.now(), peer);
    let mut buf = vec![0u8; READ_BUF_LEN];
    loop {
        while let Some(frame) = session.poll_send() {
            stream.write_all(&frame).await?;
        }
        drain_events(&mut session, &mut *server.lock().await, log);
        if session.is_closed() || shutdown.is_triggered() {
            break;
        }
        let wake = session.poll_timeout();
        tokio::select! {
            _ = shutdown.wait() => break,
            read = stream.read(&mut buf) => {
                // A reset is the same as a close to the session.
                let n: usize = read.unwrap_or_default();
                if n == 0 {
                    session.handle_closed(clock.now());
                    continue;
                }
                let mut rest = &buf[..n];
                loop {
                    let taken = {
                        let mut core = server.lock().await;
                        let taken = session.handle_bytes(clock.now(), rest, &mut core, images);
                        drain_events(&mut session, &mut core, log);
                        taken
                    };
                    rest = &rest[taken..];
                    while let Some(frame) = session.poll_send() {
                        stream.write_all(&frame).await?;
                    }
                    if rest.is_empty() {
                        break;
                    }
                }
            }
            _ = sleep_until(&clock, wake) => session.handle_timeout(clock.now()),
        }
    }
    // Best effort: the peer may be gone already.
    let _ = stream.shutdown().await;
    Ok(())
}

pub use crate::agent::Agent;

/// Runs one boot of `agent` against the Deployment Server at `server`, on
/// `disk`, and returns how the run ended (`Close`, `Reboot` or `Exit`). Every
/// event goes to `on_event`.
///
/// Socket failures are the agent's to judge: a refused or timed-out connect is
/// `handle_connect_failed`, a reset or end of stream is `handle_closed`.
pub async fn run_agent<A: Agent + ?Sized>(
    agent: &mut A,
    server: SocketAddr,
    disk: &mut dyn BootDisk,
    clock: Clock,
    mut on_event: impl FnMut(AgentEvent),
) -> AgentAction {
    agent.boot(clock.now(), disk);
    let mut stream: Option<TcpStream> = None;
    let mut buf = vec![0u8; READ_BUF_LEN];
    loop {
        while let Some(action) = agent.poll_action() {
            match action {
                AgentAction::Connect => {
                    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(server)).await {
                        Ok(Ok(s)) => {
                            stream = Some(s);
                            agent.handle_connected(clock.now());
                        }
                        _ => agent.handle_connect_failed(clock.now()),
                    }
                }
                end @ (AgentAction::Close | AgentAction::Reboot | AgentAction::Exit) => {
                    if let Some(mut s) = stream.take() {
                        while let Some(frame) = agent.poll_send() {
                            if s.write_all(&frame).await.is_err() {
                                break;
                            }
                        }
                        let _ = s.shutdown().await;
                    }
                    while let Some(e) = agent.poll_event() {
                        on_event(e);
                    }
                    return end;
                }
            }
        }
        if let Some(s) = stream.as_mut() {
            let mut failed = false;
            while let Some(frame) = agent.poll_send() {
                if s.write_all(&frame).await.is_err() {
                    failed = true;
                    break;
                }
            }
            if failed {
                stream = None;
                agent.handle_closed(clock.now());
                continue;
            }
        }
        while let Some(e) = agent.poll_event() {
            on_event(e);
        }
        let wake = agent.poll_timeout();
        if stream.is_none() && wake.is_none() {
            // Nothing can happen any more: the run is over as far as the host
            // can tell. The reference agents never get here (they always end
            // with an action); stop rather than wait forever.
            return AgentAction::Close;
        }
        let read = async {
            match stream.as_mut() {
                Some(s) => s.read(&mut buf).await,
                None => std::future::pending().await,
            }
        };
        let got = tokio::select! {
            got = read => Some(got),
            _ = sleep_until(&clock, wake) => None,
        };
        match got {
            None => agent.handle_timeout(clock.now()),
            Some(Ok(0) | Err(_)) => {
                stream = None;
                agent.handle_closed(clock.now());
            }
            Some(Ok(n)) => agent.handle_bytes(clock.now(), &buf[..n], disk),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::Mac;
    use crate::agent::{AClient, AgentConfig, AgentMode, Bootworks, Delivery};
    use crate::deploy::{
        Credential, CredentialKind, DeployConfig, JobKind, JobState, PreOsPath, ServerMode,
    };
    use crate::driver::FileDisk;
    use crate::driver::ShutdownTrigger;
    use crate::wire::agent::PostConfig;
    use crate::wire::mbr::BootFlag;

    #[test]
    fn image_names_never_leave_the_directory() {
        let images = DirImages::new("/srv/images");
        assert_eq!(
            images.path_of("xp.img"),
            Some(PathBuf::from("/srv/images/xp.img"))
        );
        for bad in ["", "../etc/passwd", "a/b", "a\\b", "..", "x..y"] {
            assert_eq!(images.path_of(bad), None, "{bad:?}");
            let mut buf = [0; 4];
            assert_eq!(images.read(bad, 0, &mut buf), 0);
        }
        assert!(matches!(
            images.catalogue("x", "../x"),
            Err(ImageFileError::BadName(_))
        ));
    }

    #[test]
    fn images_are_read_by_offset_and_catalogued_with_their_digest() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(dir.path().join("img.bin"), &data).unwrap();
        let images = DirImages::new(dir.path());
        let mut buf = [0; 100];
        assert_eq!(images.read("img.bin", 2950, &mut buf), 50);
        assert_eq!(&buf[..50], &data[2950..]);
        assert_eq!(images.read("img.bin", 5000, &mut buf), 0);
        assert_eq!(images.read("missing.bin", 0, &mut buf), 0);
        let image = images.catalogue("xp", "img.bin").unwrap();
        assert_eq!(image.size, 3000);
        assert_eq!(image.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
    }

    fn agent_config() -> AgentConfig {
        AgentConfig {
            mac: Mac([2, 0, 0, 0, 0, 7]),
            uuid: None,
            computer_name: "wks-07".into(),
            credential: vec![5; 32],
            mode: AgentMode::Reference { max_attempts: 3 },
        }
    }

    /// AClient arms, Bootworks images, AClient finishes: over loopback TCP,
    /// on a file-backed disk.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deploy_runs_over_real_tcp_onto_a_file_disk() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 253) as u8).collect();
        std::fs::write(dir.path().join("xp.img"), &data).unwrap();
        let images = DirImages::new(dir.path());
        let mut mapped = MappedImages::new(images.clone());
        mapped.map("xp", "xp.img");

        let mut core = DeploymentServer::new(DeployConfig {
            mode: ServerMode::Reference,
            max_attempts: 3,
            initial_deployment: None,
        });
        core.add_image(images.catalogue("xp", "xp.img").unwrap())
            .unwrap();
        let cfg = agent_config();
        let pc = core.register(Instant::ZERO, cfg.mac, None, &cfg.computer_name);
        core.set_pre_os(pc, PreOsPath::PartitionBootworks).unwrap();
        core.set_credential(pc, CredentialKind::Agent, Credential::from_bytes([5; 32]))
            .unwrap();
        core.set_credential(pc, CredentialKind::Share, Credential::from_bytes([6; 32]))
            .unwrap();
        let job = core
            .schedule(
                Instant::ZERO,
                pc,
                JobKind::DeployImage { image: "xp".into() },
            )
            .unwrap();
        core.set_post_config(
            job,
            PostConfig {
                name: "WKS-07".into(),
                address: None,
            },
        )
        .unwrap();
        let core = Arc::new(Mutex::new(core));

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (trigger, shutdown): (ShutdownTrigger, Shutdown) = Shutdown::new();
        let clock = Clock::start();
        let server_task = tokio::spawn(serve_agents(
            listener,
            core.clone(),
            Arc::new(mapped),
            clock,
            shutdown,
            Arc::new(|_| {}),
        ));

        let mut disk =
            FileDisk::create(dir.path().join("disk.img"), 256 * 1024, Some(4096)).unwrap();
        let bound = std::time::Duration::from_secs(60);
        let mut aclient = AClient::new(cfg.clone());
        let end = tokio::time::timeout(
            bound,
            run_agent(&mut aclient, addr, &mut disk, clock, |_| {}),
        )
        .await
        .unwrap();
        assert_eq!(end, AgentAction::Reboot);
        assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::armed(1))));

        let mut bootworks = Bootworks::new(cfg.clone(), Delivery::Partition);
        let end = tokio::time::timeout(
            bound,
            run_agent(&mut bootworks, addr, &mut disk, clock, |_| {}),
        )
        .await
        .unwrap();
        assert_eq!(end, AgentAction::Reboot, "{:?}", bootworks.screen());
        assert_eq!(disk.boot_flag(), Ok(Some(BootFlag::CLEAR)));
        assert_eq!(disk.read_partition(0, 0, data.len()).unwrap(), data);

        let mut aclient = AClient::new(cfg);
        let end = tokio::time::timeout(
            bound,
            run_agent(&mut aclient, addr, &mut disk, clock, |_| {}),
        )
        .await
        .unwrap();
        assert_eq!(end, AgentAction::Close);
        assert_eq!(aclient.applied().map(|p| p.name.as_str()), Some("WKS-07"));
        // The server saw the final report before the agent's run ended (the
        // report precedes Bye); give its session task a moment, bounded.
        let mut state = JobState::Scheduled;
        for _ in 0..100 {
            state = core.lock().await.job(job).unwrap().state().clone();
            if state == JobState::Succeeded {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(state, JobState::Succeeded);

        trigger.trigger();
        tokio::time::timeout(bound, server_task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}
