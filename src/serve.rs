//! `pxelab serve`: flags, their checks, and the hand-over to the tokio driver.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, bail};
use clap::Args;

use pxelab_reference::dhcp::{DhcpConfig, DhcpMode, PoolConfig};
use pxelab_reference::driver::Interface;
use pxelab_reference::driver::serve::{self, DhcpSpec, ServeSpec, Server};
use pxelab_reference::tftp::TftpServerConfig;

use crate::config::FileConfig;

/// Default lease store file, relative to the current directory.
pub const DEFAULT_LEASE_STORE: &str = "pxelab-leases.redb";

/// Flags of `pxelab serve`.
#[derive(Debug, Args)]
#[command(after_help = "\
Modes:
  full DHCP (default)  lease addresses from --range and hand PXE clients their boot file
  --proxy              ProxyDHCP (PXE 2.1): another server leases addresses; pxelab answers
                       only PXE clients, with boot information, on UDP 67 and 4011
  --tftp-only          serve files over TFTP and nothing else

Ports: DHCP 67, boot server 4011, TFTP 69 (binding them needs root or CAP_NET_BIND_SERVICE;
ARP-cache injection for unicast replies needs CAP_NET_ADMIN, else replies are broadcast).
Logs go to stderr, one line per DHCP, 4011 and TFTP exchange; filter with RUST_LOG
(default: info). SIGINT or SIGTERM stops the server; leases already acknowledged stay
in the lease store.

Example:
  pxelab serve --interface eth1 --tftp-root /srv/tftp --range 10.0.0.100-10.0.0.199")]
pub struct ServeArgs {
    /// Interface to serve on. The server's own address (DHCP server identifier, boot
    /// server, TFTP server) is this interface's first IPv4 address.
    #[arg(long, value_name = "IFACE")]
    pub interface: String,

    /// Directory served over TFTP; requests cannot leave it.
    #[arg(long, value_name = "DIR")]
    pub tftp_root: PathBuf,

    /// ProxyDHCP mode: assign no addresses, answer only PXE clients (option 60
    /// "PXEClient...") with boot information, on UDP 67 and 4011.
    #[arg(long, conflicts_with = "tftp_only")]
    pub proxy: bool,

    /// Serve TFTP only: no DHCP, no boot server.
    #[arg(long)]
    pub tftp_only: bool,

    /// Addresses to lease, inclusive, e.g. 10.0.0.100-10.0.0.199. Required in full
    /// DHCP mode; must lie in the interface's subnet; ignored (with a warning) with
    /// --proxy or --tftp-only.
    #[arg(long, value_name = "FIRST-LAST")]
    pub range: Option<AddrRange>,

    /// UDP port of the TFTP server.
    #[arg(long, value_name = "N", default_value_t = 69)]
    pub tftp_port: u16,

    /// Boot file for BIOS clients (client architecture 0) [default: undionly.kpxe,
    /// or `boot_bios` in the config file's [boot] table].
    #[arg(long, value_name = "FILE")]
    pub boot_bios: Option<String>,

    /// Boot file for EFI x64 clients (client architectures 7 and 9) [default:
    /// ipxe.efi, or `boot_efi` in [boot]].
    #[arg(long, value_name = "FILE")]
    pub boot_efi: Option<String>,

    /// Boot file (script) for clients whose user class is "iPXE", whatever their
    /// architecture: handing iPXE the iPXE binary again would loop [default:
    /// boot.ipxe, or `boot_ipxe` in [boot]].
    #[arg(long, value_name = "FILE")]
    pub boot_ipxe: Option<String>,

    /// TOML file with everything else: lease time, respond delay, reservations,
    /// allow/deny lists, boot menu, lease store path (default: pxelab-leases.redb
    /// in the current directory). Unknown keys are errors.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Also run the Deployment Server over TCP on the interface's address, with
    /// this deployment config (the format of `pxelab deploy-server --help`). Its
    /// job state is kept in the config's `job_store`, default <config
    /// name>.jobs.redb beside it.
    #[arg(long, value_name = "FILE")]
    pub deploy: Option<PathBuf>,

    /// TCP port of the Deployment Server started by --deploy (0 picks a free one;
    /// the log says which).
    #[arg(long, value_name = "N", default_value_t = pxelab_reference::wire::agent::AGENT_PORT, requires = "deploy")]
    pub deploy_port: u16,
}

/// An inclusive range of IPv4 addresses, `FIRST-LAST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrRange {
    /// First address leased.
    pub first: Ipv4Addr,
    /// Last address leased.
    pub last: Ipv4Addr,
}

impl FromStr for AddrRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("{s:?} is not FIRST-LAST (e.g. 10.0.0.100-10.0.0.199)"))?;
        let first: Ipv4Addr = a
            .trim()
            .parse()
            .map_err(|_| format!("{a:?} is not an IPv4 address"))?;
        let last: Ipv4Addr = b
            .trim()
            .parse()
            .map_err(|_| format!("{b:?} is not an IPv4 address"))?;
        if first > last {
            return Err(format!(
                "range {first}-{last} is empty: the first address is after the last"
            ));
        }
        Ok(AddrRange { first, last })
    }
}

/// Which servers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// DHCP with leases, boot server, TFTP.
    Full(AddrRange),
    /// ProxyDHCP, boot server, TFTP.
    Proxy,
    /// TFTP only.
    TftpOnly,
}

impl ServeArgs {
    /// The mode the flags ask for, or why they do not make sense.
    pub fn mode(&self) -> anyhow::Result<Mode> {
        match (self.proxy, self.tftp_only, self.range) {
            (false, false, Some(r)) => Ok(Mode::Full(r)),
            (false, false, None) => bail!(
                "--range FIRST-LAST is required in full DHCP mode: it gives the addresses to \
                 lease (e.g. --range 10.0.0.100-10.0.0.199). Use --proxy instead when another \
                 DHCP server on the segment hands out addresses, or --tftp-only to serve files only."
            ),
            // A range next to --proxy/--tftp-only is ignored (with a warning in
            // `run`), not refused: scripts that always pass one keep working.
            (true, _, _) => Ok(Mode::Proxy),
            (false, true, _) => Ok(Mode::TftpOnly),
        }
    }
}

/// Checks the flags, reads the config file, and runs the server until a signal.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mode = args.mode()?;
    if let (Some(r), Mode::Proxy | Mode::TftpOnly) = (args.range, mode) {
        tracing::warn!(
            "--range {}-{} ignored: {} leases no addresses",
            r.first,
            r.last,
            if mode == Mode::Proxy {
                "a ProxyDHCP server"
            } else {
                "--tftp-only"
            }
        );
    }
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let meta = std::fs::metadata(&args.tftp_root)
        .with_context(|| format!("--tftp-root {}", args.tftp_root.display()))?;
    if !meta.is_dir() {
        bail!(
            "--tftp-root {} is not a directory",
            args.tftp_root.display()
        );
    }
    let iface = Interface::lookup(&args.interface)
        .with_context(|| format!("--interface {}", args.interface))?;
    if let Mode::Full(r) = mode {
        for ip in [r.first, r.last] {
            if !iface.contains(ip) {
                bail!(
                    "--range {}-{}: {ip} is outside {}'s subnet {}/{} (the server leases only \
                     addresses on the segment it serves)",
                    r.first,
                    r.last,
                    iface.name,
                    iface.network(),
                    iface.prefix
                );
            }
        }
        if (r.first..=r.last).contains(&iface.addr) {
            tracing::warn!(
                "--range {}-{} contains the server's own address {}; it will not be leased",
                r.first,
                r.last,
                iface.addr
            );
        }
    }
    start(args, mode, file, iface)
}

/// Builds the driver's spec and serves until SIGINT or SIGTERM.
fn start(args: ServeArgs, mode: Mode, file: FileConfig, iface: Interface) -> anyhow::Result<()> {
    let mut boot = file.boot.unwrap_or_default();
    if let Some(f) = args.boot_bios {
        boot.boot_bios = f;
    }
    if let Some(f) = args.boot_efi {
        boot.boot_efi = f;
    }
    if let Some(f) = args.boot_ipxe {
        boot.boot_ipxe = f;
    }
    let mut tftp = TftpServerConfig::default();
    // Blocks larger than the link MTU allows would be fragmented, which many
    // netboot ROMs cannot reassemble; the config file can still ask for more.
    match (file.tftp.max_blksize, iface.max_tftp_blksize()) {
        (Some(b), _) => tftp.max_blksize = b,
        (None, Some(b)) => tftp.max_blksize = b,
        (None, None) => {}
    }
    if let Some(w) = file.tftp.max_windowsize {
        tftp.max_windowsize = w;
    }
    if let Some(n) = file.tftp.max_sessions {
        tftp.max_sessions = n;
    }
    let settings = file.dhcp;
    let lease_store = file
        .lease_store
        .unwrap_or_else(|| PathBuf::from(DEFAULT_LEASE_STORE));
    let dhcp_mode = match mode {
        Mode::TftpOnly => None,
        Mode::Proxy => Some(DhcpMode::Proxy),
        Mode::Full(r) => {
            let mut pools = vec![PoolConfig {
                first: r.first,
                last: r.last,
                netmask: None,
                router: None,
                dns: Vec::new(),
            }];
            pools.extend(settings.pools.iter().cloned());
            Some(DhcpMode::Full { pools })
        }
    };
    let dhcp = dhcp_mode.map(|mode| DhcpSpec {
        lease_store: matches!(mode, DhcpMode::Full { .. }).then_some(lease_store),
        config: DhcpConfig {
            // Filled in by the driver from the interface and the clock.
            server_addr: iface.addr,
            netmask: iface.netmask(),
            unix_time_at_start: 0,
            mode,
            settings,
            boot,
        },
    });
    // Loaded and bound before anything runs, so a bad config or a port in use is
    // reported at start.
    let deploy = match &args.deploy {
        Some(path) => Some(crate::agent::DeployPlane::prepare(
            path,
            (iface.addr, args.deploy_port).into(),
        )?),
        None => None,
    };
    let spec = ServeSpec {
        iface,
        tftp_root: args.tftp_root,
        tftp_port: args.tftp_port,
        tftp,
        dhcp,
    };

    // One thread for TFTP: a lockstep transfer is one round trip per block, and a
    // single-threaded runtime answers each ACK without a cross-thread wake-up
    // (measured with benches/compare.sh). DHCP runs on a thread of its own
    // (see `Server`), so lease commits never stall a transfer.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = serve::on_signals().context("cannot install SIGINT/SIGTERM handlers")?;
        let server = Server::bind(spec)?;
        let deploy = deploy.map(|plane| plane.spawn(shutdown.clone()));
        server.run(shutdown).await;
        if let Some(thread) = deploy {
            // It stops on the same signal; a panic there is reported, not hidden.
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("the Deployment Server thread panicked"))?;
        }
        Ok(())
    })
}
