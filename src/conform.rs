//! `pxelab conform`: the conformance suite against a server on a real interface.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use pxelab_simulator::conform::{self, Mode, Options, RawLink};

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Grouped by area, with the evidence of each failure and a summary line.
    Text,
    /// One document with stable field names (see the docs of `conform::report`).
    Json,
    /// JUnit XML: a test case per check.
    Junit,
}

/// Options of `pxelab conform`.
#[derive(Debug, Args)]
#[command(after_help = "\
Runs virtual PXE clients (generated MACs 02:70:78:xx:xx:xx, the simulator's
firmware models) on IFACE and checks the server's answers clause by clause:
DHCP offers and ACKs, ProxyDHCP rules, option 43, the boot server on UDP 4011,
the boot file per architecture and user class, TFTP (options, errors,
retransmission, duplicate ACKs, windowsize, rollover, path confinement), reply
latency and a boot storm. The mode (full PXE server or ProxyDHCP) is detected
from the answers unless --proxy, --tftp-only or --dhcp-only says it.

Raw frames need root or CAP_NET_RAW. The virtual clients only answer ARP for
the addresses they lease and only send on the segment under test.

Exit status: 0 when every MUST check passed, 1 when a MUST failed, 2 for bad
input or an interface that cannot be opened.

Examples:
  pxelab conform --list
  sudo pxelab conform --interface eth1
  sudo pxelab conform --interface eth1 --proxy --server 192.168.1.5
  sudo pxelab conform --interface eth1 --tftp-only --server 192.168.1.5 --file pxelinux.0
  sudo pxelab conform --interface eth1 --only 'tftp.*' --format junit > conform.xml")]
pub struct ConformArgs {
    /// The interface on the segment of the server under test (required unless --list).
    #[arg(
        long,
        short = 'i',
        value_name = "IFACE",
        required_unless_present = "list"
    )]
    pub interface: Option<String>,
    /// The server under test, by address. Default: the first PXE server that answers.
    #[arg(long, value_name = "IP")]
    pub server: Option<Ipv4Addr>,
    /// Client profiles to run (repeat or comma-separate): pxe21-bios, edk2-uefi,
    /// ipxe, legacy-rom. Default: all. Checks of other profiles are skipped.
    #[arg(long = "profile", value_name = "ID", value_delimiter = ',')]
    pub profiles: Vec<String>,
    /// Run only the checks whose id matches (globs, repeat or comma-separate),
    /// e.g. 'tftp.*' or '*xid'.
    #[arg(long, value_name = "GLOB", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Virtual clients in the boot storm (0 skips it).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub clients: usize,
    /// Write every frame sent and received to FILE (pcap, opens in Wireshark).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print every check (id, level, clause) and exit, without touching the network.
    #[arg(long)]
    pub list: bool,
    /// The server is a ProxyDHCP next to another DHCP server.
    #[arg(long, conflicts_with_all = ["tftp_only", "dhcp_only"])]
    pub proxy: bool,
    /// Only a TFTP server: needs --server and --file.
    #[arg(long, requires_all = ["server", "file"], conflicts_with = "dhcp_only")]
    pub tftp_only: bool,
    /// Only a DHCP server (with or without PXE options): no TFTP checks.
    #[arg(long)]
    pub dhcp_only: bool,
    /// The file for TFTP checks. Default: the boot file the server names.
    #[arg(long, value_name = "NAME")]
    pub file: Option<String>,
    /// A file of more than 65535 blocks (over ~96 MB at 1468-byte blocks) for
    /// the rollover check; without it that check is skipped.
    #[arg(long, value_name = "NAME")]
    pub large_file: Option<String>,
    /// The probe client's address in --tftp-only mode. Default: .250 of the
    /// server's /24.
    #[arg(long, value_name = "IP")]
    pub client_ip: Option<Ipv4Addr>,
    /// Put the interface in promiscuous mode (NICs that filter unicast frames
    /// to the virtual clients' MACs).
    #[arg(long)]
    pub promiscuous: bool,
    /// Seed of the virtual clients' transaction ids and ports.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Bad input or an interface that cannot be opened.
const EXIT_USAGE: u8 = 2;

/// Runs `pxelab conform`.
pub fn conform(args: ConformArgs) -> ExitCode {
    if args.list {
        return crate::run::emit(&conform::report::list(), ExitCode::SUCCESS);
    }
    let mode = if args.proxy {
        Some(Mode::Proxy)
    } else if args.tftp_only {
        Some(Mode::TftpOnly)
    } else if args.dhcp_only {
        Some(Mode::DhcpOnly)
    } else {
        None
    };
    let opts = Options {
        mode,
        server: args.server,
        profiles: args.profiles,
        only: args.only,
        clients: args.clients,
        file: args.file,
        large_file: args.large_file,
        client_ip: args.client_ip,
        seed: args.seed,
    };
    if let Err(e) = opts.validate() {
        eprintln!("pxelab conform: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    let iface = args.interface.unwrap_or_default();
    let mut link = match RawLink::open(&iface, args.promiscuous) {
        Ok(l) => l,
        // The privilege error names the command itself.
        Err(e @ conform::link::LinkError::Permission { .. }) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_USAGE);
        }
        Err(e) => {
            eprintln!("pxelab conform: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let pcap = match &args.pcap {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some(Box::new(std::io::BufWriter::new(f)) as Box<dyn std::io::Write>),
            Err(e) => {
                eprintln!("pxelab conform: cannot create {}: {e}", path.display());
                return ExitCode::from(EXIT_USAGE);
            }
        },
        None => None,
    };
    let report = match conform::run(&mut link, &opts, pcap) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pxelab conform: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let text = match args.format {
        Format::Text => report.to_text(),
        Format::Json => report.to_json(),
        Format::Junit => report.to_junit(),
    };
    if args.format != Format::Text {
        eprintln!("{}", report.summary_line());
    }
    let status = if report.musts_pass() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    crate::run::emit(&text, status)
}
