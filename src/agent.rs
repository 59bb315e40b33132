//! `pxelab deploy-server` and `pxelab agent`: the deployment plane for real, over
//! TCP, with agents on file-backed disks (issue 5, "Real mode").
//!
//! The Deployment Server runs two ways: beside the PXE server (`pxelab serve
//! --deploy FILE`, [`DeployPlane`]), and on its own (`pxelab deploy-server`),
//! because `serve` needs an interface and privileged UDP ports while the
//! Deployment Server is one TCP listener that runs anywhere (unprivileged on a
//! high port).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use pxelab_reference::Instant;
use pxelab_reference::Mac;
use pxelab_reference::agent::{
    AClient, AgentAction, AgentConfig, AgentEvent, AgentEventKind, AgentMode, Bootworks, Delivery,
};
use pxelab_reference::deploy::{
    CREDENTIAL_LEN, Credential, CredentialKind, DeployConfig, DeploymentServer, JobKind, JobState,
    PreOsPath, RedbJobStore, ServerMode, SmbiosUuid,
};
use pxelab_reference::driver::FileDisk;
use pxelab_reference::driver::deploy::{AGENT_PORT, DirImages, MappedImages, serve_agents};
use pxelab_reference::driver::{Clock, Shutdown};
use pxelab_reference::wire::agent::{JobState as WireJobState, PostConfig};

/// Flags of `pxelab deploy-server`.
#[derive(Debug, Args)]
#[command(after_help = "\
The config file (TOML; unknown keys are errors, reported with their line):

  mode = \"reference\"          # or \"legacy\" (Deployment Server 6.x)
  max_attempts = 3            # failed attempts before a job fails for good
  image_dir = \"images\"        # relative to the config file's directory
  job_store = \"lab.redb\"      # optional, relative to the config file's directory
                              # (default <config name>.jobs.redb beside it)

  [[image]]                   # size and SHA-256 are computed at start
  name = \"xp-sp2\"
  file = \"xp-sp2.img\"         # a file name inside image_dir

  [[computer]]
  name = \"wks-07\"
  mac = \"02:00:00:00:00:07\"
  uuid = \"00112233445566778899aabbccddeeff\"   # optional
  pre_os = \"partition\"        # partition | pxe | none
  agent_credential = \"<64 hex digits>\"
  share_credential = \"<64 hex digits>\"       # optional: without it, no image share

  [[job]]
  computer = \"wks-07\"
  kind = \"deploy-image\"       # deploy-image | capture-image | scripted-install |
                              # run-script | boot-to-production
  image = \"xp-sp2\"            # deploy-image, capture-image
  post_name = \"WKS-07\"        # optional post-configuration AClient applies
  post_address = \"10.0.0.7\"   # optional

  [initial_deployment]        # optional: the job for an unknown computer whose
  kind = \"deploy-image\"       # PXE-delivered Bootworks connects; the [[job]] keys
  image = \"xp-sp2\"            # kind/image/os/script (no computer, no post_*)

Every job is scheduled (or resumed from the job store) at start; one the server
refuses (reference mode: a job the computer's pre-OS path cannot run) is an error
with the reason. With [initial_deployment], an unknown computer whose
PXE-delivered Bootworks connects is registered (named new-<mac digits>, given a
random image-share credential; the agent credential its Bootworks presents
becomes the computer's, so the AClient of the imaged OS, presenting the same
one, finishes the job) and gets that job; without it, it is refused. The log
(stdout) has one line per connection, session step and job change.

Job state is durable: every job change is committed to the job store (a redb
file, see --job-store) before the server reports or acts on it, so after a crash
(even kill -9) a finished job stays finished and a running one stays running. At
start the configured jobs are matched with the stored ones by computer MAC, job
kind (with its image, OS or script) and ordinal: a stored job resumes its id,
state, failed attempts and history; a new one starts fresh; a stored job no
longer in the config is reported with a warning and not offered. Delete the file
to start every job afresh.

With --until-done the server exits once every job has finished (with
[initial_deployment], once there is at least one): status 0 if all succeeded, 1
if not. SIGINT stops it.

Example:
  pxelab deploy-server --config deploy.toml --listen 0.0.0.0:402")]
pub struct DeployServerArgs {
    /// The deployment config (TOML, see below).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,

    /// Address and TCP port to accept agents on (port 0 picks a free one; the
    /// log's first line says which).
    #[arg(long, value_name = "ADDR:PORT", default_value_t = SocketAddr::from((Ipv4Addr::UNSPECIFIED, AGENT_PORT)))]
    pub listen: SocketAddr,

    /// Exit once every job has succeeded or failed (with [initial_deployment]:
    /// and there is at least one).
    #[arg(long)]
    pub until_done: bool,

    /// The job store, a redb file created if absent, where job state survives
    /// restarts and crashes. Default: the config's `job_store`, or
    /// <config name>.jobs.redb beside the config file. One server per file.
    #[arg(long, value_name = "FILE")]
    pub job_store: Option<PathBuf>,
}

/// `pxelab agent ...`.
#[derive(Debug, Args)]
#[command(after_help = "\
Each run is one boot of the agent. Exit status: 0 the run ended (close), 10 the agent
asked to reboot, 11 Bootworks left the pre-OS environment (exit), 2 the run met a
failure (no connection, refused, timed out, a server, protocol or disk error, or a job
reported failed; the lines above say which), 1 an error before the run (bad flag,
unusable disk).

A deploy by hand (the server has a deploy-image job for this computer):
  pxelab agent make-disk --disk wks.img --os-bytes 8388608 --bootworks-bytes 1048576
  pxelab agent aclient   --server 127.0.0.1:402 --disk wks.img --mac 02:00:00:00:00:07 \\
                         --name wks-07 --credential <hex>      # arms the flag, exit 10
  pxelab agent bootworks ... same flags ...                    # images, clears it, exit 10
  pxelab agent aclient   ... same flags ...                    # post-config, exit 0")]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: AgentCommand,
}

/// Which agent (or disk tool).
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// One boot of AClient (in the installed OS): checks in; arms the MBR boot
    /// flag and asks to reboot for a pre-OS job; applies post-configuration after.
    Aclient(RunArgs),
    /// One boot of Bootworks from the disk's hidden partition (or from PXE with
    /// --pxe): checks in, streams the image to the OS partition, verifies its
    /// SHA-256, clears the flag.
    Bootworks(RunArgs),
    /// Create a blank disk image file: MBR, an active OS partition at sector 63
    /// and optionally a hidden Bootworks partition after it.
    MakeDisk(MakeDiskArgs),
}

/// Flags of one agent run.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The Deployment Server (ADDR:PORT).
    #[arg(long, value_name = "ADDR:PORT")]
    pub server: SocketAddr,
    /// The machine's disk: a raw disk image file with an MBR (see make-disk). The
    /// agent's own state is kept beside it in FILE.agent-state.
    #[arg(long, value_name = "FILE")]
    pub disk: PathBuf,
    /// The machine's MAC (the server's key for it).
    #[arg(long)]
    pub mac: Mac,
    /// The computer's name as the agent knows it.
    #[arg(long)]
    pub name: String,
    /// The per-computer agent credential, 64 hex digits.
    #[arg(long, value_name = "HEX")]
    pub credential: String,
    /// SMBIOS UUID, 32 hex digits (dashes allowed).
    #[arg(long, value_name = "HEX")]
    pub uuid: Option<String>,
    /// Behave like Deployment Server 6.x's agents (no attempt bound, silent exits).
    #[arg(long)]
    pub legacy: bool,
    /// Pre-OS attempts AClient allows a job (reference mode).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_attempts: u8,
    /// Bootworks only: it was delivered by PXE (a full pre-OS environment)
    /// rather than booted from the disk's hidden partition (image only). A
    /// machine the server does not know gets the server's [initial_deployment]
    /// job this way.
    #[arg(long)]
    pub pxe: bool,
}

/// Flags of `pxelab agent make-disk`.
#[derive(Debug, Args)]
pub struct MakeDiskArgs {
    /// The file to create (replaced if it exists).
    #[arg(long, value_name = "FILE")]
    pub disk: PathBuf,
    /// Size of the OS partition in bytes (rounded up to 512-byte sectors).
    #[arg(long, value_name = "N")]
    pub os_bytes: u64,
    /// Size of a hidden Bootworks partition in bytes; none if absent.
    #[arg(long, value_name = "N")]
    pub bootworks_bytes: Option<u64>,
}

/// The deployment config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployFile {
    #[serde(default)]
    mode: Mode,
    #[serde(default = "default_attempts")]
    max_attempts: u32,
    image_dir: PathBuf,
    #[serde(default)]
    job_store: Option<PathBuf>,
    #[serde(default)]
    share_path: Option<String>,
    #[serde(default)]
    image: Vec<ImageEntry>,
    #[serde(default)]
    computer: Vec<ComputerEntry>,
    #[serde(default)]
    job: Vec<JobEntry>,
    #[serde(default)]
    initial_deployment: Option<InitialEntry>,
}

fn default_attempts() -> u32 {
    3
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    #[default]
    Reference,
    Legacy,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageEntry {
    name: String,
    file: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum PreOs {
    Partition,
    Pxe,
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComputerEntry {
    name: String,
    mac: String,
    #[serde(default)]
    uuid: Option<String>,
    pre_os: PreOs,
    agent_credential: String,
    #[serde(default)]
    share_credential: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    DeployImage,
    CaptureImage,
    ScriptedInstall,
    RunScript,
    BootToProduction,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobEntry {
    computer: String,
    kind: Kind,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    script: Option<String>,
    #[serde(default)]
    post_name: Option<String>,
    #[serde(default)]
    post_address: Option<Ipv4Addr>,
}

/// `[initial_deployment]`: the job an unknown computer gets when it PXE-boots
/// into Bootworks. The job keys of [`JobEntry`] without `computer` (there is none
/// yet: the server registers the machine as it boots) and without
/// post-configuration (one name for every newcomer would be wrong).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InitialEntry {
    kind: Kind,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    script: Option<String>,
}

/// The job a `[[job]]` or `[initial_deployment]` entry describes: `kind` and
/// the one key that kind needs (`what` names the entry in the error).
fn job_kind(
    what: &str,
    kind: &Kind,
    image: &Option<String>,
    os: &Option<String>,
    script: &Option<String>,
) -> anyhow::Result<JobKind> {
    let need = |field: &Option<String>, name: &str| {
        field
            .clone()
            .with_context(|| format!("{what}: this kind of job needs `{name}`"))
    };
    Ok(match kind {
        Kind::DeployImage => JobKind::DeployImage {
            image: need(image, "image")?,
        },
        Kind::CaptureImage => JobKind::CaptureImage {
            image_name: need(image, "image")?,
        },
        Kind::ScriptedInstall => JobKind::ScriptedInstall {
            os: need(os, "os")?,
        },
        Kind::RunScript => JobKind::RunScript {
            script: need(script, "script")?,
        },
        Kind::BootToProduction => JobKind::BootToProduction,
    })
}

/// Decodes hex digits (dashes and colons ignored) into exactly `N` bytes.
fn hex_bytes<const N: usize>(what: &str, s: &str) -> anyhow::Result<[u8; N]> {
    let digits: Vec<u8> = s.bytes().filter(|b| *b != b'-' && *b != b':').collect();
    if digits.len() != 2 * N {
        bail!(
            "{what}: expected {} hex digits, got {}",
            2 * N,
            digits.len()
        );
    }
    let mut out = [0; N];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        let text = std::str::from_utf8(pair).unwrap_or("??");
        out[i] = u8::from_str_radix(text, 16)
            .with_context(|| format!("{what}: {text:?} is not a hex byte"))?;
    }
    Ok(out)
}

/// The job store of the config at `config` when neither `--job-store` nor the
/// config's `job_store` names one: beside the config, named after it, so two
/// configs in one directory never share a store.
fn default_job_store(config: &Path) -> PathBuf {
    let stem = config
        .file_stem()
        .map_or_else(|| "deploy".into(), |s| s.to_string_lossy().into_owned());
    config
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!("{stem}.jobs.redb"))
}

/// Builds the server core from the config file: the job store opened (at
/// `job_store`, else the config's `job_store`, else [`default_job_store`]),
/// images catalogued from disk, computers registered with their credentials,
/// jobs scheduled or resumed from the store.
fn load(path: &Path, job_store: Option<&Path>) -> anyhow::Result<(DeploymentServer, MappedImages)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: DeployFile =
        toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let dir = DirImages::new(base.join(&file.image_dir));
    let mode = match file.mode {
        Mode::Reference => ServerMode::Reference,
        Mode::Legacy => ServerMode::Legacy { trust_uuid: true },
    };
    let initial_deployment = match &file.initial_deployment {
        Some(i) => Some(job_kind(
            "[initial_deployment]",
            &i.kind,
            &i.image,
            &i.os,
            &i.script,
        )?),
        None => None,
    };
    let store_path = match (job_store, &file.job_store) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(p)) => base.join(p),
        (None, None) => default_job_store(path),
    };
    let store = RedbJobStore::open(&store_path)
        .with_context(|| format!("job store {}", store_path.display()))?;
    let core = DeploymentServer::with_store(
        DeployConfig {
            mode,
            max_attempts: file.max_attempts,
            initial_deployment: initial_deployment.clone(),
        },
        Box::new(store),
    )
    .with_context(|| format!("job store {}", store_path.display()))?;
    println!("job store {}", store_path.display());
    let (mut core, images) = core
        .load_config(Instant::ZERO, |core| {
            configure(core, file, dir, initial_deployment)
        })
        .with_context(|| format!("in {}", path.display()))?;
    while let Some(e) = core.poll_event() {
        println!("{e}");
    }
    Ok((core, images))
}

/// Everything of the config but the server's settings, onto `core`.
fn configure(
    core: &mut DeploymentServer,
    file: DeployFile,
    dir: DirImages,
    initial_deployment: Option<JobKind>,
) -> anyhow::Result<MappedImages> {
    if let Some(share) = file.share_path {
        core.set_share_path(share);
    }
    let mut images = MappedImages::new(dir.clone());
    for entry in &file.image {
        let image = dir.catalogue(&entry.name, &entry.file)?;
        println!("image {image}");
        core.add_image(image)?;
        images.map(&entry.name, &entry.file);
    }
    // The initial job is scheduled only when a newcomer boots, long after the
    // config was read: check its image now, so a typo is an error at start
    // rather than a refusal for every machine later (in both modes: there is no
    // legacy behaviour to reproduce in a config mistake).
    if let Some(JobKind::DeployImage { image }) = &initial_deployment
        && core.images().get(image).is_none()
    {
        bail!("[initial_deployment]: image {image:?} is not one of the [[image]] entries");
    }
    if let Some(kind) = &initial_deployment {
        println!("initial deployment for unknown computers that PXE-boot: {kind}");
    }
    let mut by_name = BTreeMap::new();
    for c in &file.computer {
        let mac: Mac = c
            .mac
            .parse()
            .with_context(|| format!("computer {}: mac", c.name))?;
        let uuid = match &c.uuid {
            Some(u) => Some(SmbiosUuid(hex_bytes::<16>(
                &format!("computer {}: uuid", c.name),
                u,
            )?)),
            None => None,
        };
        let id = core.register(Instant::ZERO, mac, uuid, &c.name);
        let pre_os = match c.pre_os {
            PreOs::Partition => PreOsPath::PartitionBootworks,
            PreOs::Pxe => PreOsPath::PxeBootworks,
            PreOs::None => PreOsPath::None,
        };
        core.set_pre_os(id, pre_os)?;
        let agent = hex_bytes::<CREDENTIAL_LEN>(
            &format!("computer {}: agent_credential", c.name),
            &c.agent_credential,
        )?;
        core.set_credential(id, CredentialKind::Agent, Credential::from_bytes(agent))?;
        if let Some(share) = &c.share_credential {
            let share = hex_bytes::<CREDENTIAL_LEN>(
                &format!("computer {}: share_credential", c.name),
                share,
            )?;
            core.set_credential(id, CredentialKind::Share, Credential::from_bytes(share))?;
        }
        if by_name.insert(c.name.clone(), id).is_some() {
            bail!("computer {:?} is listed twice", c.name);
        }
    }
    for (i, j) in file.job.iter().enumerate() {
        let what = format!("job {} ({})", i + 1, j.computer);
        let &id = by_name
            .get(&j.computer)
            .with_context(|| format!("{what}: no [[computer]] is named {:?}", j.computer))?;
        let kind = job_kind(&what, &j.kind, &j.image, &j.os, &j.script)?;
        let job = core
            .schedule(Instant::ZERO, id, kind)
            .map_err(|e| anyhow::anyhow!("{what}: refused: {e}"))?;
        if let Some(name) = &j.post_name {
            core.set_post_config(
                job,
                PostConfig {
                    name: name.clone(),
                    address: j.post_address,
                },
            )?;
        }
    }
    Ok(images)
}

/// The Deployment Server as part of `pxelab serve --deploy`: loaded and bound
/// first, then run on a thread of its own (so image reads never stall a TFTP
/// transfer on the server's runtime), stopping on the server's shutdown.
pub struct DeployPlane {
    core: DeploymentServer,
    images: MappedImages,
    listener: std::net::TcpListener,
}

impl DeployPlane {
    /// Loads `config` and binds TCP `addr`.
    pub fn prepare(config: &Path, addr: SocketAddr) -> anyhow::Result<DeployPlane> {
        let (core, images) = load(config, None)?;
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("--deploy: cannot listen on TCP {addr}"))?;
        listener.set_nonblocking(true)?;
        Ok(DeployPlane {
            core,
            images,
            listener,
        })
    }

    /// Runs it until `shutdown` fires; log lines go to the log at info level.
    pub fn spawn(self, shutdown: Shutdown) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!("deployment server: cannot start its runtime: {e}");
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match TcpListener::from_std(self.listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("deployment server: {e}");
                        return;
                    }
                };
                if let Ok(addr) = listener.local_addr() {
                    tracing::info!("deployment server listening on {addr}");
                }
                let result = serve_agents(
                    listener,
                    Arc::new(Mutex::new(self.core)),
                    Arc::new(self.images),
                    Clock::start(),
                    shutdown,
                    Arc::new(|line| tracing::info!("deploy: {line}")),
                )
                .await;
                if let Err(e) = result {
                    tracing::error!("deployment server stopped: {e}");
                }
            });
        })
    }
}

/// `pxelab deploy-server`.
pub fn deploy_server(args: DeployServerArgs) -> ExitCode {
    match deploy_server_inner(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pxelab deploy-server: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn deploy_server_inner(args: DeployServerArgs) -> anyhow::Result<ExitCode> {
    let (core, images) = load(&args.config, args.job_store.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on TCP {}", args.listen))?;
        println!("listening on {}", listener.local_addr()?);
        let core = Arc::new(Mutex::new(core));
        let (trigger, shutdown) = Shutdown::new();
        let server = tokio::spawn(serve_agents(
            listener,
            core.clone(),
            Arc::new(images),
            Clock::start(),
            shutdown,
            Arc::new(|line| println!("{line}")),
        ));
        let done = async {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let core = core.lock().await;
                // A server waiting for newcomers has work ahead even with no job
                // yet: it is done once their jobs are.
                let waiting = core.config().initial_deployment.is_some() && core.jobs().is_empty();
                if args.until_done
                    && !waiting
                    && core.jobs().iter().all(|j| j.state().is_terminal())
                {
                    return;
                }
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = done => {}
        }
        trigger.trigger();
        server.await??;
        let core = core.lock().await;
        let mut all_ok = true;
        for job in core.jobs() {
            println!("final: {} {}: {}", job.id, job.kind.name(), job.state());
            all_ok &= *job.state() == JobState::Succeeded;
        }
        Ok(if all_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

/// `pxelab agent`.
pub fn agent(args: AgentArgs) -> ExitCode {
    match agent_inner(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pxelab agent: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn agent_inner(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let (run, bootworks) = match args.command {
        AgentCommand::MakeDisk(m) => {
            FileDisk::create(&m.disk, m.os_bytes, m.bootworks_bytes)
                .with_context(|| format!("cannot create {}", m.disk.display()))?;
            println!("created {}", m.disk.display());
            return Ok(ExitCode::SUCCESS);
        }
        AgentCommand::Aclient(run) => (run, false),
        AgentCommand::Bootworks(run) => (run, true),
    };
    if run.pxe && !bootworks {
        bail!("--pxe is for bootworks: AClient runs in the installed OS");
    }
    let credential = hex_bytes::<CREDENTIAL_LEN>("--credential", &run.credential)?;
    let uuid = match &run.uuid {
        Some(u) => Some(hex_bytes::<16>("--uuid", u)?),
        None => None,
    };
    let mut disk =
        FileDisk::open(&run.disk).with_context(|| format!("disk {}", run.disk.display()))?;
    let config = AgentConfig {
        mac: run.mac,
        uuid,
        computer_name: run.name.clone(),
        credential: credential.to_vec(),
        mode: if run.legacy {
            AgentMode::Legacy
        } else {
            AgentMode::Reference {
                max_attempts: run.max_attempts,
            }
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Whether the run met a failure: the exit status says so even when the
    // agent ends its run normally (it reports and closes).
    let mut trouble = false;
    let print = |e: AgentEvent| {
        trouble |= matches!(
            e.kind,
            AgentEventKind::ConnectFailed
                | AgentEventKind::Refused { .. }
                | AgentEventKind::ServerError(_)
                | AgentEventKind::ProtocolError(_)
                | AgentEventKind::DiskFailed(_)
                | AgentEventKind::TimedOut { .. }
                | AgentEventKind::Reported {
                    state: WireJobState::Failed,
                    ..
                }
        );
        println!("{e}");
    };
    let end = runtime.block_on(async {
        let clock = Clock::start();
        if bootworks {
            let delivery = if run.pxe {
                Delivery::Pxe
            } else {
                Delivery::Partition
            };
            let mut agent = Bootworks::new(config, delivery);
            pxelab_reference::driver::deploy::run_agent(
                &mut agent, run.server, &mut disk, clock, print,
            )
            .await
        } else {
            let mut agent = AClient::new(config);
            pxelab_reference::driver::deploy::run_agent(
                &mut agent, run.server, &mut disk, clock, print,
            )
            .await
        }
    });
    let (word, code) = match end {
        AgentAction::Close | AgentAction::Connect => ("close", 0),
        AgentAction::Reboot => ("reboot", 10),
        AgentAction::Exit => ("exit", 11),
    };
    let code = if trouble { 2 } else { code };
    println!(
        "outcome: {word}{}",
        if trouble { " after a failure" } else { "" }
    );
    Ok(ExitCode::from(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_credentials_and_uuids_decode_or_say_why_not() {
        assert_eq!(
            hex_bytes::<4>("x", "0a0B-ff:10").unwrap(),
            [0x0a, 0x0b, 0xff, 0x10]
        );
        let short = hex_bytes::<4>("--credential", "0a0b").unwrap_err();
        assert!(
            short.to_string().contains("expected 8 hex digits, got 4"),
            "{short}"
        );
        let bad = hex_bytes::<2>("--uuid", "0g11").unwrap_err();
        assert!(format!("{bad:#}").contains("\"0g\""), "{bad:#}");
        // Non-ASCII input is an error, never a panic.
        assert!(hex_bytes::<2>("x", "1é1").is_err());
    }

    /// Loads a config made of `body` after an image directory holding image
    /// `xp-sp2`.
    fn load_config(body: &str) -> anyhow::Result<DeploymentServer> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("images"))?;
        std::fs::write(dir.path().join("images/xp.img"), b"an image")?;
        let path = dir.path().join("deploy.toml");
        std::fs::write(
            &path,
            format!(
                "image_dir = \"images\"\n[[image]]\nname = \"xp-sp2\"\nfile = \"xp.img\"\n{body}"
            ),
        )?;
        load(&path, None).map(|(core, _)| core)
    }

    #[test]
    fn the_initial_deployment_table_sets_the_job_for_unknown_computers() {
        let core =
            load_config("[initial_deployment]\nkind = \"deploy-image\"\nimage = \"xp-sp2\"\n")
                .unwrap();
        assert_eq!(
            core.config().initial_deployment,
            Some(JobKind::DeployImage {
                image: "xp-sp2".into()
            })
        );
        let core =
            load_config("[initial_deployment]\nkind = \"run-script\"\nscript = \"inventory\"\n")
                .unwrap();
        assert_eq!(
            core.config().initial_deployment,
            Some(JobKind::RunScript {
                script: "inventory".into()
            })
        );
        // Without the table, unknown computers are refused (no initial job).
        let core = load_config("").unwrap();
        assert_eq!(core.config().initial_deployment, None);
    }

    #[test]
    fn initial_deployment_mistakes_are_refused_with_where_and_why() {
        // An unknown key (here one only [[job]] has) is an error with its line.
        let e = load_config("[initial_deployment]\nkind = \"deploy-image\"\nimage = \"xp-sp2\"\npost_name = \"X\"\n")
            .unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("line 8") && text.contains("post_name"),
            "{text}"
        );

        let e = load_config("[initial_deployment]\nkind = \"deploy-image\"\nimage = \"xp-sp3\"\n")
            .unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("[initial_deployment]")
                && text.contains("\"xp-sp3\" is not one of the [[image]]"),
            "{text}"
        );

        for (kind, key) in [
            ("deploy-image", "image"),
            ("scripted-install", "os"),
            ("run-script", "script"),
        ] {
            let e = load_config(&format!("[initial_deployment]\nkind = \"{kind}\"\n")).unwrap_err();
            let text = format!("{e:#}");
            assert!(
                text.contains("[initial_deployment]") && text.contains(&format!("needs `{key}`")),
                "{kind}: {text}"
            );
        }

        let e = load_config("[initial_deployment]\nkind = \"reimage\"\n").unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("line 6") && text.contains("reimage"),
            "{text}"
        );
    }
}
