//! A scenario after checking: every reference resolved, every address inside its
//! subnet, every kind-specific field on the kind it belongs to. The world builds
//! from these types and never has to re-check the file.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use pxelab_reference::Mac;
use pxelab_reference::dhcp::{DhcpSettings, PoolConfig};
use pxelab_reference::pxe::BootPolicy;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Quirk;

/// One story: segments, the servers on them, the fleets that boot, what goes
/// wrong when, and what the run must show.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// `[a-z0-9-]+`; what `pxelab run NAME` takes for a bundled scenario.
    pub name: String,
    /// One line for `pxelab run --list`.
    pub summary: String,
    /// The story, free text.
    pub description: String,
    /// Seed of every random stream of the run (the CLI's `--seed` overrides it).
    pub seed: u64,
    /// Virtual time limit in seconds, in `(0, 86400]`.
    pub duration_s: f64,
    /// L2 segments, at least one.
    pub segments: Vec<Segment>,
    /// Servers (pxelab's reference server and foreign ones).
    pub servers: Vec<Server>,
    /// Fleets of PXE clients, at least one.
    pub fleets: Vec<Fleet>,
    /// Faults, in file order (not sorted by time).
    pub faults: Vec<Fault>,
    /// Expectations about the outcome, in file order.
    pub expects: Vec<Expect>,
    /// Deployment Servers (`[[deployment]]`), in file order.
    pub deployments: Vec<Deployment>,
}

impl Scenario {
    /// The virtual time limit.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration_s)
    }

    /// The segment named `name` and its index in [`Scenario::segments`].
    pub fn segment(&self, name: &str) -> Option<(usize, &Segment)> {
        self.segments
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
    }

    /// The server named `name` and its index in [`Scenario::servers`].
    pub fn server(&self, name: &str) -> Option<(usize, &Server)> {
        self.servers
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
    }

    /// The fleet named `name` and its ordinal (its index in [`Scenario::fleets`],
    /// which [`Fleet::mac`] takes).
    pub fn fleet(&self, name: &str) -> Option<(usize, &Fleet)> {
        self.fleets.iter().enumerate().find(|(_, f)| f.name == name)
    }

    /// Every MAC of the fleet named `name` (for `ignore_fleets` / `allow_fleets`),
    /// empty when there is no such fleet.
    pub fn fleet_macs(&self, name: &str) -> Vec<Mac> {
        match self.fleet(name) {
            Some((ordinal, f)) => f.macs(ordinal).collect(),
            None => Vec::new(),
        }
    }
}

/// An IPv4 subnet, `10.10.0.0/24`. The address has no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    /// Network address.
    pub addr: Ipv4Addr,
    /// Prefix length, 8..=30 in a scenario.
    pub prefix: u8,
}

impl Subnet {
    /// The netmask (`/24` → `255.255.255.0`).
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(mask_bits(self.prefix))
    }

    /// The directed broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask_bits(self.prefix))
    }

    /// Whether `ip` is in the subnet (network and broadcast addresses included).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask_bits(self.prefix) == u32::from(self.addr)
    }

    /// Whether `ip` may be a host's address: in the subnet, neither the network
    /// nor the broadcast address (RFC 950's all-zeros and all-ones host parts).
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.addr && ip != self.broadcast()
    }
}

pub(super) fn mask_bits(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One L2 broadcast domain.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Unique among segments.
    pub name: String,
    /// Its IPv4 subnet.
    pub subnet: Subnet,
    /// Default link of every port on the segment (each key may be unset: the
    /// network's own default then applies).
    pub link: LinkSpec,
}

/// Link parameters as the file gives them; `None` = not given here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkSpec {
    /// One-way latency in microseconds.
    pub latency_us: Option<f64>,
    /// Extra uniform jitter in microseconds.
    pub jitter_us: Option<f64>,
    /// Frame loss probability, 0.0..=1.0.
    pub loss: Option<f64>,
    /// Bandwidth in Mbit/s, > 0.
    pub bandwidth_mbps: Option<f64>,
    /// How long after link-up the switch port forwards (spanning tree's
    /// listening + learning states, 2 × 15 s forward delay in 802.1D).
    pub link_up_delay_s: Option<DelaySpec>,
}

impl LinkSpec {
    /// `self`'s keys where given, `base`'s elsewhere (a port's override over its
    /// segment's link).
    pub fn merged_over(&self, base: &LinkSpec) -> LinkSpec {
        LinkSpec {
            latency_us: self.latency_us.or(base.latency_us),
            jitter_us: self.jitter_us.or(base.jitter_us),
            loss: self.loss.or(base.loss),
            bandwidth_mbps: self.bandwidth_mbps.or(base.bandwidth_mbps),
            link_up_delay_s: self.link_up_delay_s.or(base.link_up_delay_s),
        }
    }
}

/// A delay that is fixed, or drawn per port from the seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DelaySpec {
    /// Always this many seconds.
    Fixed(f64),
    /// Uniform in `[lo, hi]` seconds, `lo <= hi`.
    Range(f64, f64),
}

/// A server on a segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// Unique among servers and fleets.
    pub name: String,
    /// The segment it is attached to.
    pub segment: String,
    /// Its static address, a host address of the segment's subnet.
    pub address: Ipv4Addr,
    /// Delay before every reply, in milliseconds. For a reference server this is
    /// also in `dhcp.respond_delay_ms` (the file may give either, not both).
    pub respond_delay_ms: u64,
    /// Per-port override of the segment's link (merge with
    /// [`LinkSpec::merged_over`]).
    pub link: Option<LinkSpec>,
    /// MACs it never answers.
    pub ignore: Vec<Mac>,
    /// Fleets whose every MAC it never answers (see [`Scenario::fleet_macs`]).
    pub ignore_fleets: Vec<String>,
    /// Reference servers only: when not empty, the fleets whose MACs are the
    /// server's `dhcp.allow` list (added to any MACs listed there).
    pub allow_fleets: Vec<String>,
    /// Files its TFTP server holds, beyond the defaults the world creates.
    pub files: Vec<FileSpec>,
    /// What kind of server it is, with the kind's own settings.
    pub role: ServerRole,
}

/// The kind of server and its kind-specific settings.
// A scenario has a handful of servers: the size of the reference variant costs
// nothing, and unboxed fields keep matching on it plain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ServerRole {
    /// pxelab's own server, configured exactly as `pxelab serve` is.
    Reference {
        /// Full DHCP or ProxyDHCP.
        mode: RefMode,
        /// The pool (`--range`); `Some` exactly in full mode.
        pool: Option<PoolConfig>,
        /// The `[dhcp]` table of serve.toml.
        dhcp: DhcpSettings,
        /// The `[boot]` table of serve.toml.
        boot: BootPolicy,
    },
    /// Production DHCP without PXE.
    Dhcp(ForeignSpec),
    /// Production DHCP with its own PXE boot file.
    DhcpPxe(ForeignSpec, PxeSpec),
    /// A rogue DHCP server.
    Rogue(ForeignSpec),
}

impl ServerRole {
    /// The file's `kind` for this role.
    pub fn kind(&self) -> ServerKind {
        match self {
            ServerRole::Reference { .. } => ServerKind::Reference,
            ServerRole::Dhcp(_) => ServerKind::Dhcp,
            ServerRole::DhcpPxe(..) => ServerKind::DhcpPxe,
            ServerRole::Rogue(_) => ServerKind::Rogue,
        }
    }
}

/// A server's `kind` in the file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ServerKind {
    /// pxelab's reference server.
    Reference,
    /// Production DHCP, no PXE.
    Dhcp,
    /// Production DHCP + PXE with its own boot files.
    DhcpPxe,
    /// A rogue DHCP server.
    Rogue,
}

impl ServerKind {
    /// The id used in the file.
    pub fn id(&self) -> &'static str {
        match self {
            ServerKind::Reference => "reference",
            ServerKind::Dhcp => "dhcp",
            ServerKind::DhcpPxe => "dhcp-pxe",
            ServerKind::Rogue => "rogue",
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The reference server's mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RefMode {
    /// Full DHCP with a pool.
    #[default]
    Full,
    /// PXE 2.1 ProxyDHCP: boot information only.
    Proxy,
}

/// What every foreign DHCP server has.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignSpec {
    /// First and last address it leases (inclusive), inside the subnet.
    pub pool: (Ipv4Addr, Ipv4Addr),
    /// Router (option 3).
    pub router: Option<Ipv4Addr>,
    /// DNS servers (option 6).
    pub dns: Vec<Ipv4Addr>,
    /// Lease time in seconds.
    pub lease_time_s: u32,
    /// Sends option 60 "PXEClient" in its offers (quirk Q4).
    pub stray_option60: bool,
}

/// What a DHCP+PXE production server hands PXE clients.
#[derive(Debug, Clone, PartialEq)]
pub struct PxeSpec {
    /// `siaddr`; `None` = the server's own address.
    pub next_server: Option<Ipv4Addr>,
    /// Boot file for BIOS clients (option 93 arch 0).
    pub bios_file: String,
    /// Boot file for UEFI clients.
    pub efi_file: String,
    /// What an iPXE client gets; `None` = the iPXE binary again (the chainload
    /// loop of ipxe #922).
    pub ipxe_file: Option<String>,
    /// Fleets it leases addresses to but gives no boot information (its PXE
    /// service told to leave them alone while its DHCP keeps serving them).
    pub pxe_ignore_fleets: Vec<String>,
}

/// A file on a server's TFTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Its TFTP path.
    pub name: String,
    /// What running it does.
    pub nbp: NbpKind,
    /// Size in bytes, 1..=256 MiB.
    pub size: u64,
}

pub use crate::machine::NbpKind;

/// A fleet of identical clients.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// Unique among servers and fleets.
    pub name: String,
    /// The segment its clients are attached to.
    pub segment: String,
    /// How many clients, 1..=1_000_000.
    pub count: u32,
    /// A firmware profile id (`firmware::Profile::builtin_ids()`).
    pub profile: String,
    /// Extra quirks on top of the profile's.
    pub quirks: Vec<Quirk>,
    /// The MAC prefix, 1..=4 bytes; `None` = `52:54:00` + the fleet's ordinal.
    pub mac_prefix: Option<Vec<u8>>,
    /// How SMBIOS UUIDs (option 97) are made.
    pub uuid: UuidMode,
    /// First power-on, in seconds.
    pub power_on_s: f64,
    /// Power-on times are uniform in `[power_on_s, power_on_s + power_on_spread_s]`.
    pub power_on_spread_s: f64,
    /// Seconds from power-on (link up) to the boot ROM's first DISCOVER: the
    /// machine's POST. A switch port's spanning-tree hold starts at link-up, so
    /// a long POST lets a ROM outlast it (research Q6).
    pub post_s: f64,
    /// Per-port override of the segment's link.
    pub link: Option<LinkSpec>,
    /// The managed computer around the NIC, when the fleet names a deployment.
    pub machine: Option<MachineSpec>,
}

/// `52:54:00`, the QEMU/KVM OUI, so fleet MACs read as virtual machines.
pub(super) const DEFAULT_OUI: [u8; 3] = [0x52, 0x54, 0x00];

impl Fleet {
    /// The MAC of client `index` (0-based) of this fleet, the fleet being number
    /// `fleet_ordinal` (0-based) in [`Scenario::fleets`]: the prefix, then the
    /// index big-endian in the remaining bytes. Without a `mac_prefix`, the prefix
    /// is `52:54:00` and the fleet's ordinal byte, leaving 2 bytes of index.
    /// Checking guarantees that `count` fits and that fleets do not overlap.
    pub fn mac(&self, fleet_ordinal: usize, index: u32) -> Mac {
        let prefix = self.prefix_bytes(fleet_ordinal);
        let mut out = [0u8; 6];
        out[..prefix.len()].copy_from_slice(&prefix);
        let idx = u64::from(index).to_be_bytes();
        let rest = 6 - prefix.len();
        out[prefix.len()..].copy_from_slice(&idx[8 - rest..]);
        Mac(out)
    }

    /// Every MAC of the fleet, in index order.
    pub fn macs(&self, fleet_ordinal: usize) -> impl Iterator<Item = Mac> + '_ {
        (0..self.count).map(move |i| self.mac(fleet_ordinal, i))
    }

    /// The prefix bytes in effect (the default prefix takes the ordinal's low byte;
    /// checking refuses more than 256 fleets relying on it).
    pub(super) fn prefix_bytes(&self, fleet_ordinal: usize) -> Vec<u8> {
        match &self.mac_prefix {
            Some(p) => p.clone(),
            None => {
                let mut p = DEFAULT_OUI.to_vec();
                p.push((fleet_ordinal & 0xff) as u8);
                p
            }
        }
    }
}

/// How a fleet's SMBIOS UUIDs (option 97) are made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UuidMode {
    /// Random per client, drawn from the seed.
    #[default]
    Random,
    /// Derived from the MAC (what some OEMs burn in).
    FromMac,
    /// All zeros (quirk: an unset SMBIOS UUID).
    Zero,
    /// All `ff` bytes (another unset SMBIOS UUID seen in the field).
    Ff,
    /// One random UUID shared by every client of the fleet (cloned images).
    Shared,
    /// No option 97 at all.
    None,
}

/// Something that happens to a server or fleet at a given time.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// When, in seconds, before the scenario's duration.
    pub at_s: f64,
    /// What happens.
    pub kind: FaultKind,
    /// A server (`server-*`) or fleet (`fleet-*`) name.
    pub target: String,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// The server is switched off (its port goes down).
    ServerDown,
    /// The server comes back.
    ServerUp,
    /// Every port of the fleet goes down (cable out, switch reboot).
    FleetLinkDown,
    /// Every port of the fleet comes back up (link-up delay applies).
    FleetLinkUp,
}

impl FaultKind {
    /// Whether the target is a server (else a fleet).
    pub fn targets_server(&self) -> bool {
        matches!(self, FaultKind::ServerDown | FaultKind::ServerUp)
    }

    /// The id used in the file.
    pub fn id(&self) -> &'static str {
        match self {
            FaultKind::ServerDown => "server-down",
            FaultKind::ServerUp => "server-up",
            FaultKind::FleetLinkDown => "fleet-link-down",
            FaultKind::FleetLinkUp => "fleet-link-up",
        }
    }
}

/// One `[[expect]]`: an assertion about the run's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// About one fleet's clients.
    Fleet {
        /// The fleet.
        fleet: String,
        /// How many clients booted.
        booted: Option<Count>,
        /// Every booted client booted from this server.
        booted_from: Option<String>,
        /// Every failed client shows this error code (`PXE-E51`).
        error: Option<String>,
        /// How many machines' jobs succeeded.
        jobs_succeeded: Option<Count>,
        /// How many machines' jobs failed (for good, with a reason).
        jobs_failed: Option<Count>,
        /// How many machines' jobs the server refused when scheduling.
        jobs_refused: Option<Count>,
        /// How many machines hold, byte for byte, the image their job named.
        imaged: Option<Count>,
        /// How many machines the Deployment Server registered during the run
        /// (initial deployment).
        registered: Option<Count>,
        /// How many machines were stopped in a boot loop.
        looping: Option<Count>,
        /// Line of the expectation in the file, for reports.
        line: usize,
    },
    /// About a finding of the run.
    Finding {
        /// The finding kind.
        finding: FindingKind,
        /// `true`: must be reported; `false`: must not be.
        present: bool,
        /// Line of the expectation in the file, for reports.
        line: usize,
    },
}

impl Expect {
    /// Line of the expectation in the file.
    pub fn line(&self) -> usize {
        match self {
            Expect::Fleet { line, .. } | Expect::Finding { line, .. } => *line,
        }
    }
}

/// How many clients of a fleet; Display gives back the file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Count {
    /// Every client.
    All,
    /// No client.
    None,
    /// Exactly N.
    Exactly(u32),
    /// N or more.
    AtLeast(u32),
    /// N or fewer.
    AtMost(u32),
}

impl Count {
    /// Whether `n` clients out of `total` satisfy the count.
    pub fn holds(&self, n: u32, total: u32) -> bool {
        match *self {
            Count::All => n == total,
            Count::None => n == 0,
            Count::Exactly(k) => n == k,
            Count::AtLeast(k) => n >= k,
            Count::AtMost(k) => n <= k,
        }
    }

    /// The smallest N the count needs (to check it against the fleet's size).
    pub(super) fn minimum(&self) -> u32 {
        match *self {
            Count::Exactly(k) | Count::AtLeast(k) => k,
            _ => 0,
        }
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Count::All => f.write_str("all"),
            Count::None => f.write_str("none"),
            Count::Exactly(n) => write!(f, "{n}"),
            Count::AtLeast(n) => write!(f, ">={n}"),
            Count::AtMost(n) => write!(f, "<={n}"),
        }
    }
}

/// A kind of finding the report can show.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A client repeats the same boot cycle with no progress.
    BootLoop,
    /// More than one PXE server answers on a segment.
    CompetingPxeServers,
    /// More than one DHCP server answers on a segment.
    CompetingDhcpServers,
    /// Several clients send the same SMBIOS UUID.
    DuplicateUuid,
    /// A Deployment Server refused a job when it was scheduled.
    JobRefused,
    /// A job ran on a machine other than the computer it was scheduled for.
    WrongComputer,
}

impl FindingKind {
    /// The id used in the file and in reports.
    pub fn id(&self) -> &'static str {
        match self {
            FindingKind::BootLoop => "boot-loop",
            FindingKind::CompetingPxeServers => "competing-pxe-servers",
            FindingKind::CompetingDhcpServers => "competing-dhcp-servers",
            FindingKind::DuplicateUuid => "duplicate-uuid",
            FindingKind::JobRefused => "job-refused",
            FindingKind::WrongComputer => "wrong-computer",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A Deployment Server (agent protocol on TCP 402) running on a server
/// station's host: `[[deployment]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// Unique among deployments.
    pub name: String,
    /// The `[[server]]` whose host (address, switch port) it runs on.
    pub server: String,
    /// Reference or legacy (Deployment Server 6.x) behaviour, for the server
    /// and for the agents of the machines that use it.
    pub mode: DeployMode,
    /// Legacy only: match computers by SMBIOS UUID before MAC, as Altiris did.
    pub trust_uuid: bool,
    /// Reference only: failed attempts after which a job fails for good
    /// (also AClient's pre-boot attempt bound), 1..=100.
    pub max_attempts: u32,
    /// The job an unknown computer that PXE-boots into Bootworks gets.
    pub initial_deployment: Option<JobKindSpec>,
    /// How images reach the machines.
    pub transfer: TransferSpec,
    /// The image store.
    pub images: Vec<ImageSpec>,
    /// Jobs scheduled when the run starts, in file order.
    pub jobs: Vec<JobSpec>,
}

/// Which Deployment Solution a deployment behaves like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DeployMode {
    /// pxelab's reference server and agents.
    #[default]
    Reference,
    /// Deployment Server 6.x as the seeds tell it.
    Legacy,
}

/// How a deployment moves images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TransferSpec {
    /// Each Bootworks pulls its image from the server over TCP.
    Unicast,
    /// One sender, many receivers (udpcast style).
    Multicast {
        /// The session starts once this many receivers joined...
        min_receivers: u32,
        /// ...or this long after the first joined, with those there are.
        max_wait_s: f64,
    },
}

/// An image in the store: its bytes are derived from the scenario seed and
/// the name, so they are exact without being held.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSpec {
    /// Unique within the deployment.
    pub name: String,
    /// Size in bytes (the file says `size_mib`), > 0.
    pub size: u64,
}

/// One job scheduled at the start for every machine of a fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// The fleet whose machines get it (each machine its own job).
    pub fleet: String,
    /// What the job does.
    pub kind: JobKindSpec,
    /// Only this machine of the fleet (its index), instead of every one.
    pub machine: Option<u32>,
    /// Post-configuration name AClient applies after imaging; `{index}` is
    /// replaced by the machine's index in its fleet.
    pub post_name: Option<String>,
    /// Line of the job in the file, for reports.
    pub line: usize,
}

/// A job kind with its argument, as in the file (`kind` + `image`/`os`/`script`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobKindSpec {
    /// `deploy-image`, `image = NAME` (an image of the deployment).
    DeployImage(String),
    /// `capture-image`, `image = NAME` (a name not yet in the store).
    CaptureImage(String),
    /// `scripted-install`, `os = "Windows XP SP2"`.
    ScriptedInstall(String),
    /// `run-script`, `script = "..."`.
    RunScript(String),
    /// `boot-to-production`.
    BootToProduction,
}

/// The computer a fleet's clients are, beyond their NIC: `[[fleet]]` keys
/// that make a fleet a set of managed machines (present when the fleet names
/// a `deployment`).
#[derive(Debug, Clone, PartialEq)]
pub struct MachineSpec {
    /// The `[[deployment]]` its agents talk to.
    pub deployment: String,
    /// Known to the Deployment Server at the start (with credentials); false:
    /// unknown, it can only arrive through initial deployment.
    pub registered: bool,
    /// Whether its Bootworks may map the image share (has a share credential).
    pub share_access: bool,
    /// What the BIOS tries first.
    pub boot_order: BootOrder,
    /// How the machine reaches Bootworks.
    pub bootworks: BootworksPath,
    /// Disk size in bytes (the file says `disk_gib`).
    pub disk_size: u64,
    /// The installed OS (which runs AClient), `None`: a blank disk.
    pub os: Option<String>,
    /// Seconds from the boot loader to AClient's check-in.
    pub os_boot_s: f64,
    /// Seconds a reboot takes (shutdown and POST), before the boot device.
    pub reboot_s: f64,
    /// Seconds from the partition's boot sector to Bootworks' first
    /// connection attempt (the DOS boot, "a DOS floppy's worth of data").
    pub bootworks_boot_s: f64,
}

/// The first boot device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BootOrder {
    /// PXE first, then the disk (how PXE-delivered Bootworks is reached).
    #[default]
    Network,
    /// The disk first (its MBR decides: the boot flag sends it to the
    /// Bootworks partition).
    Disk,
}

/// How a machine reaches Bootworks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BootworksPath {
    /// The hidden partition the MBR boot flag boots (image only).
    #[default]
    Partition,
    /// The NBP the PXE server hands out.
    Pxe,
    /// None: pre-OS jobs cannot run.
    None,
}
