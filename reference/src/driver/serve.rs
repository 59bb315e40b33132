//! The PXE server on real sockets: which machine runs on which port, and how the
//! whole thing stops.
//!
//! One task per machine family: DHCP/ProxyDHCP on UDP 67, the boot server on UDP
//! 4011, the TFTP listener on 69, plus one task per TFTP transfer on a port of its
//! own. Each task owns its machine (no locks), and all of them run the same
//! [`drive`] loop. [`Server::bind`] binds every socket and opens the lease store
//! before anything runs, so a port in use or an unwritable lease file is reported
//! at start, not at the first client.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::runtime::Runtime;
use tokio::task::JoinSet;

use super::clock::Clock;
use super::fs::DirRoot;
use super::iface::Interface;
use super::machine::{Machine, Shutdown, drive, send_logged};
use super::socket::{Delivery, Endpoint};
use crate::dhcp::{
    DhcpConfig, DhcpEvent, DhcpEventKind, DhcpServer, DhcpServerError, LeaseStore, MemoryStore,
    RedbStore, StoreError,
};
use crate::net::{Datagram, Mac, Transmit};
use crate::pxe::{BootServer, BootServerConfig};
use crate::tftp::{
    Accept, ClientEvent, TftpClient, TftpEvent, TftpOutcome, TftpServer, TftpServerConfig,
    TftpSession, TransferSummary,
};
use crate::time::Instant;
use crate::wire::tftp::TftpPacket;

/// UDP port of DHCP servers (RFC 2131 §4.1).
pub const DHCP_PORT: u16 = 67;
/// UDP port of the PXE boot server (PXE 2.1 §2.2.5).
pub const BOOT_SERVER_PORT: u16 = 4011;
/// UDP port of TFTP servers (RFC 1350 §4).
pub const TFTP_PORT: u16 = 69;

/// Everything the driver needs to start serving.
#[derive(Debug, Clone)]
pub struct ServeSpec {
    /// The interface served; its address is the server's.
    pub iface: Interface,
    /// Directory served over TFTP.
    pub tftp_root: PathBuf,
    /// TFTP listening port (69; another for unprivileged tests).
    pub tftp_port: u16,
    /// TFTP limits.
    pub tftp: TftpServerConfig,
    /// DHCP (full or proxy) and the boot server; `None` serves TFTP only.
    pub dhcp: Option<DhcpSpec>,
}

/// The DHCP part of a [`ServeSpec`].
#[derive(Debug, Clone)]
pub struct DhcpSpec {
    /// The DHCP server's configuration. `server_addr`, `netmask` and
    /// `unix_time_at_start` are filled in by [`Server::bind`] from the interface and
    /// the wall clock.
    pub config: DhcpConfig,
    /// The redb lease file; `None` keeps leases in memory (lost on restart).
    pub lease_store: Option<PathBuf>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A socket could not be bound.
    #[error("cannot bind UDP {addr} ({what}) on {iface}: {error}{hint}")]
    Bind {
        /// What the socket is for.
        what: &'static str,
        /// The address.
        addr: SocketAddrV4,
        /// Interface name.
        iface: String,
        /// What to do about it.
        hint: &'static str,
        /// The OS error.
        error: io::Error,
    },
    /// The TFTP root cannot be served.
    #[error("TFTP root {path}: {error}")]
    TftpRoot {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// The lease store cannot be opened.
    #[error("lease store {path}: {error}")]
    LeaseStore {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: StoreError,
    },
    /// The runtime for DHCP and the boot server could not be built.
    #[error("cannot start the DHCP runtime: {0}")]
    Runtime(io::Error),
    /// The DHCP configuration is unusable.
    #[error(transparent)]
    Dhcp(#[from] DhcpServerError),
}

/// A server with every socket bound, ready to [`Server::run`].
#[derive(Debug)]
pub struct Server {
    iface: Interface,
    clock: Clock,
    /// The runtime DHCP and the boot server run on, on a thread of their own: a
    /// lease is committed (fsync) before its ACK goes out, and that wait must not
    /// stall TFTP transfers, which are latency-bound in lockstep (one round trip
    /// per block) and run on the caller's runtime.
    control: Option<Runtime>,
    dhcp: Option<(DhcpServer, Endpoint)>,
    boot: Option<(BootServer, Endpoint)>,
    tftp: TftpServer,
    tftp_listener: Endpoint,
    root: Arc<DirRoot>,
}

impl Server {
    /// Binds every socket and opens the lease store. Call inside a tokio runtime.
    pub fn bind(spec: ServeSpec) -> Result<Server, ServeError> {
        let ServeSpec {
            iface,
            tftp_root,
            tftp_port,
            tftp,
            dhcp,
        } = spec;
        let clock = Clock::start();
        let root = DirRoot::new(&tftp_root).map_err(|error| ServeError::TftpRoot {
            path: tftp_root,
            error,
        })?;
        let any = Ipv4Addr::UNSPECIFIED;
        let bind = |what, port, delivery| {
            let addr = SocketAddrV4::new(any, port);
            Endpoint::bind(&iface, addr, delivery).map_err(|error| ServeError::Bind {
                what,
                addr,
                iface: iface.name.clone(),
                hint: bind_hint(&error, port),
                error,
            })
        };
        let (control, dhcp, boot) = match dhcp {
            None => (None, None, None),
            Some(DhcpSpec {
                mut config,
                lease_store,
            }) => {
                config.server_addr = iface.addr;
                config.netmask = iface.netmask();
                config.unix_time_at_start = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or(Duration::ZERO)
                    .as_secs();
                let store: Box<dyn LeaseStore> = match lease_store {
                    Some(path) => Box::new(
                        RedbStore::open(&path)
                            .map_err(|error| ServeError::LeaseStore { path, error })?,
                    ),
                    None => Box::new(MemoryStore::new()),
                };
                let boot = BootServer::new(BootServerConfig::from_dhcp(&config));
                let server = DhcpServer::new(config, store, clock.now())?;
                let control = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(ServeError::Runtime)?;
                // Sockets register with the reactor of the runtime current at
                // creation: these two belong to the control runtime.
                let (dhcp_ep, boot_ep) = {
                    let _entered = control.enter();
                    (
                        bind("DHCP", DHCP_PORT, Delivery::InjectArp)?,
                        bind("PXE boot server", BOOT_SERVER_PORT, Delivery::InjectArp)?,
                    )
                };
                (
                    Some(control),
                    Some((server, dhcp_ep)),
                    Some((boot, boot_ep)),
                )
            }
        };
        let tftp_listener = bind("TFTP", tftp_port, Delivery::Plain)?;
        Ok(Server {
            iface,
            clock,
            control,
            dhcp,
            boot,
            tftp: TftpServer::new(tftp),
            tftp_listener,
            root: Arc::new(root),
        })
    }

    /// The address the TFTP listener is bound to (its port, when 0 was asked for).
    pub fn tftp_addr(&self) -> SocketAddrV4 {
        self.tftp_listener.local_addr()
    }

    /// Serves until `shutdown` fires, then waits for every task to stop. The lease
    /// store is closed when the DHCP task ends; it commits each lease before the
    /// ACK goes out, so whatever moment the stop comes, it is consistent.
    pub async fn run(self, shutdown: Shutdown) {
        let Server {
            iface,
            clock,
            control,
            dhcp,
            boot,
            tftp,
            tftp_listener,
            root,
        } = self;
        tracing::info!(
            interface = %iface.name,
            addr = %iface.addr,
            dhcp = dhcp.is_some(),
            boot_server = boot.is_some(),
            tftp = %tftp_listener.local_addr(),
            "pxelab serving"
        );
        let mut control_tasks = JoinSet::new();
        if let Some((mut machine, ep)) = dhcp {
            let sd = shutdown.clone();
            control_tasks.spawn(async move {
                if let Err(e) = drive(&mut machine, &ep, clock, sd, |e| log_dhcp("dhcp", &e)).await
                {
                    tracing::error!(error = %e, "DHCP socket failed; DHCP stopped");
                }
                // `machine` (and with it the lease store) is dropped here, closing the file.
            });
        }
        if let Some((mut machine, ep)) = boot {
            let sd = shutdown.clone();
            control_tasks.spawn(async move {
                if let Err(e) = drive(&mut machine, &ep, clock, sd, |e| {
                    log_dhcp("boot-server", &e)
                })
                .await
                {
                    tracing::error!(error = %e, "boot server socket failed; boot server stopped");
                }
            });
        }
        let control = control.map(|rt| {
            std::thread::Builder::new()
                .name("pxelab-dhcp".into())
                .spawn(move || rt.block_on(join_all(control_tasks)))
        });
        let mut tasks = JoinSet::new();
        tasks.spawn(run_tftp(tftp, tftp_listener, root, iface, clock, shutdown));
        join_all(tasks).await;
        match control {
            Some(Ok(thread)) => {
                let joined = tokio::task::spawn_blocking(move || thread.join()).await;
                if !matches!(joined, Ok(Ok(()))) {
                    tracing::error!("the DHCP thread panicked");
                }
            }
            Some(Err(e)) => {
                tracing::error!(error = %e, "cannot start the DHCP thread; DHCP not served")
            }
            None => {}
        }
        tracing::info!("pxelab stopped");
    }
}

/// Waits for every task, logging any that panicked.
async fn join_all(mut tasks: JoinSet<()>) {
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "server task panicked");
        }
    }
}

fn bind_hint(e: &io::Error, port: u16) -> &'static str {
    match e.kind() {
        io::ErrorKind::PermissionDenied if port < 1024 => {
            " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        }
        io::ErrorKind::AddrInUse => " (another server, e.g. dnsmasq, already uses this port)",
        _ => "",
    }
}

/// Requests held back because their client still had a live session: at most
/// this many clients at once.
const MAX_DEFERRED: usize = 256;

/// Accepts TFTP requests on the listener and runs each transfer on a fresh port.
///
/// One race needs the driver's help. EDK2's tsize probe (Q10) sends ERROR 8 to
/// the session's port and at once a new RRQ to port 69 from the same client port.
/// The two sockets are served by different tasks, so the RRQ can reach
/// [`TftpServer::accept`] while the aborted session still holds its slot, and is
/// ignored as a retransmission; the client would then wait a whole retransmission
/// timeout. So an ignored RRQ is kept (one per client), and replayed when that
/// client's session ends because the client ended it. A session that ends any
/// other way drops the kept request: it really was a retransmission.
async fn run_tftp(
    mut server: TftpServer,
    listener: Endpoint,
    root: Arc<DirRoot>,
    iface: Interface,
    clock: Clock,
    mut shutdown: Shutdown,
) {
    let mut buf = vec![0u8; 65_507];
    let mut sessions = JoinSet::new();
    let mut deferred: HashMap<SocketAddrV4, (SocketAddrV4, Vec<u8>)> = HashMap::new();
    loop {
        let (src, dst, payload) = tokio::select! {
            _ = shutdown.wait() => break,
            Some(ended) = sessions.join_next(), if !sessions.is_empty() => {
                let Ok((client, by_client)) = ended else { continue };
                match deferred.remove(&client) {
                    Some((dst, payload)) if by_client => (client, dst, payload),
                    _ => continue,
                }
            }
            got = listener.recv(&mut buf) => match got {
                Ok(got) => (got.src, got.dst, buf[..got.len].to_vec()),
                Err(e) => {
                    tracing::error!(error = %e, "TFTP socket failed; TFTP stopped");
                    break;
                }
            },
        };
        let dgram = Datagram {
            src,
            dst,
            src_mac: Mac::ZERO,
            payload: &payload,
        };
        // The transfer answers from the address the request reached (a client
        // that broadcast the RRQ gets the interface's own).
        let local = match *dst.ip() {
            ip if ip.is_broadcast() || ip.is_unspecified() || ip == iface.broadcast() => iface.addr,
            ip => ip,
        };
        match server.accept(clock.now(), dgram, root.as_ref()) {
            Accept::Session(session) => {
                deferred.remove(&src);
                match Endpoint::bind(&iface, SocketAddrV4::new(local, 0), Delivery::Plain) {
                    Ok(ep) => {
                        sessions.spawn(run_session(session, ep, clock, shutdown.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(client = %src, error = %e, "cannot bind a TFTP transfer port")
                    }
                }
            }
            Accept::Reply(t) => {
                log_tftp_refusal(&t);
                reply_once(&iface, local, &t).await
            }
            Accept::Ignore => {
                let is_rrq = payload.starts_with(&[0, 1]);
                if is_rrq && (deferred.len() < MAX_DEFERRED || deferred.contains_key(&src)) {
                    deferred.insert(src, (dst, payload));
                }
            }
        }
    }
    // Sessions see the same shutdown and end at their next turn.
    while sessions.join_next().await.is_some() {}
}

/// Runs one transfer to its end, then drops its socket (releasing its slot).
/// Returns the client and whether the client ended the transfer (aborted after
/// the OACK, as a tsize probe does, or sent an ERROR).
async fn run_session(
    mut session: Box<TftpSession>,
    ep: Endpoint,
    clock: Clock,
    shutdown: Shutdown,
) -> (SocketAddrV4, bool) {
    let client = session.client();
    let mut by_client = false;
    let on_event = |TftpEvent::Finished(s): TftpEvent| {
        by_client = matches!(
            s.outcome,
            TftpOutcome::Probed | TftpOutcome::ClientError { .. }
        );
        log_tftp(&s);
    };
    if let Err(e) = drive(&mut *session, &ep, clock, shutdown, on_event).await {
        tracing::warn!(error = %e, "TFTP transfer socket failed");
    }
    drop(session);
    (client, by_client)
}

/// Sends a stateless ERROR from a fresh port, as a session would (RFC 1350 §4).
async fn reply_once(iface: &Interface, local: Ipv4Addr, t: &Transmit) {
    match Endpoint::bind(iface, SocketAddrV4::new(local, 0), Delivery::Plain) {
        Ok(ep) => send_logged(&ep, t).await,
        Err(e) => tracing::warn!(dst = %t.dst, error = %e, "cannot bind a port for a TFTP error"),
    }
}

fn log_dhcp(server: &'static str, e: &DhcpEvent) {
    let mac = e.mac.map(|m| m.to_string()).unwrap_or_else(|| "-".into());
    let addr = e
        .yiaddr
        .map(|a| a.to_string())
        .unwrap_or_else(|| "-".into());
    let file = e.boot_file.as_deref().unwrap_or("-");
    let xid = format!("{:#010x}", e.xid);
    match &e.kind {
        DhcpEventKind::Ignored(why) => {
            tracing::debug!(server, %mac, %xid, reason = %why, "ignored");
        }
        DhcpEventKind::StoreFailed(why) => {
            tracing::error!(server, %mac, %xid, %addr, error = %why, "lease store failed; no ACK sent");
        }
        DhcpEventKind::Nak(why) => {
            tracing::info!(server, %mac, %xid, %addr, reason = %why, "NAK");
        }
        kind => {
            tracing::info!(server, %mac, %xid, %addr, boot_file = %file, "{}", kind_name(kind));
        }
    }
}

fn kind_name(kind: &DhcpEventKind) -> String {
    match kind {
        DhcpEventKind::Offer => "OFFER".into(),
        DhcpEventKind::Ack => "ACK".into(),
        DhcpEventKind::Inform => "ACK (INFORM)".into(),
        DhcpEventKind::Release => "RELEASE".into(),
        DhcpEventKind::Decline => "DECLINE".into(),
        DhcpEventKind::ProxyOffer => "proxy OFFER".into(),
        DhcpEventKind::BootAck {
            item: Some((ty, layer)),
        } => format!("boot ACK item {ty} layer {layer}"),
        DhcpEventKind::BootAck { item: None } => "boot ACK".into(),
        other => format!("{other:?}"),
    }
}

/// One line for a request answered with an ERROR and no transfer (file not
/// found, outside the root, write request).
fn log_tftp_refusal(t: &Transmit) {
    if let Ok(TftpPacket::Error { code, message }) = TftpPacket::parse(&t.payload) {
        tracing::info!(client = %t.dst, %code, %message, "TFTP request refused");
    }
}

fn log_tftp(s: &TransferSummary) {
    let secs = s.duration.as_secs_f64();
    let mib_s = if secs > 0.0 {
        s.bytes_sent as f64 / secs / (1024.0 * 1024.0)
    } else {
        0.0
    };
    let outcome = format!("{:?}", s.outcome);
    if s.outcome.is_success() {
        tracing::info!(
            client = %s.client,
            file = %s.filename,
            bytes = s.bytes_sent,
            blksize = s.blksize,
            windowsize = s.windowsize,
            duration = ?s.duration,
            throughput = %format!("{mib_s:.1} MiB/s"),
            retransmits = s.retransmits,
            %outcome,
            "TFTP transfer"
        );
    } else {
        tracing::warn!(
            client = %s.client,
            file = %s.filename,
            bytes = s.bytes_sent,
            blksize = s.blksize,
            windowsize = s.windowsize,
            duration = ?s.duration,
            retransmits = s.retransmits,
            %outcome,
            "TFTP transfer failed"
        );
    }
}

/// Forwards [`Machine`] to a machine type's inherent methods of the same names.
macro_rules! machine_impl {
    ($ty:ty, $event:ty $(, $finishes:ident)? $(; burst = $burst:expr)?) => {
        impl Machine for $ty {
            type Event = $event;
            $(const BURST: usize = $burst;)?
            fn handle_datagram(&mut self, now: Instant, dgram: Datagram<'_>) {
                <$ty>::handle_datagram(self, now, dgram)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$ty>::handle_timeout(self, now)
            }
            fn poll_transmit(&mut self) -> Option<Transmit> {
                <$ty>::poll_transmit(self)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$ty>::poll_timeout(self)
            }
            fn poll_event(&mut self) -> Option<$event> {
                <$ty>::poll_event(self)
            }
            $(
                fn is_finished(&self) -> bool {
                    let _ = stringify!($finishes);
                    <$ty>::is_finished(self)
                }
            )?
        }
    };
}

// Group commit: the leases of the REQUESTs handled in one burst share one fsync.
machine_impl!(DhcpServer, DhcpEvent; burst = 64);
machine_impl!(BootServer, DhcpEvent);
machine_impl!(TftpSession, TftpEvent, finishes);
machine_impl!(TftpClient, ClientEvent, finishes);

/// A [`Shutdown`] that fires on the first SIGINT or SIGTERM. Call inside a tokio
/// runtime.
pub fn on_signals() -> io::Result<Shutdown> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let (trigger, shutdown) = Shutdown::new();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        tracing::info!("{name} received; stopping");
        trigger.trigger();
    });
    Ok(shutdown)
}
