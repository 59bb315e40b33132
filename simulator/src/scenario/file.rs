//! The scenario file exactly as written: the tables and keys of
//! `/work/sim-scenario.md`, with `deny_unknown_fields` everywhere so a typo is an
//! error, and `toml::Spanned` on every value a later check may refuse, so that
//! refusal can name the line. The JSON Schema is generated from these types,
//! which is why the server table is flat here (its shape in the file) and only
//! becomes [`super::ServerRole`] in `check`.

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv4Addr;

use pxelab_reference::dhcp::DhcpSettings;
use pxelab_reference::pxe::BootPolicy;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;

use super::types::{
    BootOrder, BootworksPath, DeployMode, FaultKind, FindingKind, NbpKind, RefMode, ServerKind,
    UuidMode,
};

/// A pxelab simulator scenario: segments, the servers on them, the fleets that
/// boot, faults, and what the run must show.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "pxelab scenario")]
pub(crate) struct ScenarioFile {
    /// Scenario name, `[a-z0-9-]+`.
    #[schemars(with = "String", pattern(r"^[a-z0-9-]+$"))]
    pub name: Spanned<String>,
    /// One line for `pxelab run --list`.
    #[schemars(with = "String")]
    pub summary: Spanned<String>,
    /// The story, free text.
    #[serde(default)]
    pub description: String,
    /// Seed of every random stream (the CLI's `--seed` overrides it).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Virtual time limit in seconds, > 0 and <= 86400.
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 0, max = 86400), extend("default" = 600))]
    pub duration_s: Option<Spanned<f64>>,
    /// L2 segments (at least one).
    #[serde(default, rename = "segment")]
    pub segments: Vec<SegmentFile>,
    /// Servers on the segments.
    #[serde(default, rename = "server")]
    pub servers: Vec<ServerFile>,
    /// Fleets of PXE clients (at least one).
    #[serde(default, rename = "fleet")]
    pub fleets: Vec<FleetFile>,
    /// Faults injected during the run.
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultFile>,
    /// Expectations about the outcome.
    #[serde(default, rename = "expect")]
    pub expects: Vec<ExpectFile>,
    /// Deployment Servers (agent protocol, TCP 402), each on a server's host.
    #[serde(default, rename = "deployment")]
    pub deployments: Vec<DeploymentFile>,
}

fn default_seed() -> u64 {
    1
}

/// One `[[segment]]`: an L2 broadcast domain.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Segment")]
pub(crate) struct SegmentFile {
    /// Unique segment name.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// IPv4 subnet in CIDR notation, prefix 8..=30, e.g. `10.10.0.0/24`.
    #[schemars(with = "String", pattern(r"^\d+\.\d+\.\d+\.\d+/\d+$"))]
    pub subnet: Spanned<String>,
    /// Default link of every port on the segment.
    #[serde(default)]
    pub link: Option<LinkFile>,
}

/// Link parameters; every key optional.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Link")]
pub(crate) struct LinkFile {
    /// One-way latency in microseconds (default 100).
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 0))]
    pub latency_us: Option<Spanned<f64>>,
    /// Uniform jitter in microseconds (default 0).
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 0))]
    pub jitter_us: Option<Spanned<f64>>,
    /// Frame loss probability, 0.0..=1.0 (default 0).
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 0, max = 1))]
    pub loss: Option<Spanned<f64>>,
    /// Bandwidth in Mbit/s, > 0 (default 1000).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub bandwidth_mbps: Option<Spanned<f64>>,
    /// Seconds a port forwards nothing after link-up (spanning tree): a number,
    /// or `[lo, hi]` drawn per port from the seed (default 0).
    #[serde(default)]
    #[schemars(with = "Option<DelayFile>")]
    pub link_up_delay_s: Option<Spanned<DelayFile>>,
}

/// A number of seconds, or a `[lo, hi]` range drawn per port.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum DelayFile {
    Fixed(f64),
    Range(f64, f64),
}

impl<'de> Deserialize<'de> for DelayFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DelayFile;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds or a range [lo, hi]")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DelayFile, E> {
                Ok(DelayFile::Fixed(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DelayFile, E> {
                Ok(DelayFile::Fixed(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DelayFile, E> {
                Ok(DelayFile::Fixed(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DelayFile, A::Error> {
                let lo: f64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let hi: f64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                Ok(DelayFile::Range(lo, hi))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for DelayFile {
    fn schema_name() -> Cow<'static, str> {
        "Delay".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Seconds: a number, or [lo, hi] drawn per port from the seed.",
            "oneOf": [
                { "type": "number", "minimum": 0 },
                { "type": "array", "items": { "type": "number", "minimum": 0 },
                  "minItems": 2, "maxItems": 2 }
            ]
        })
    }
}

/// One `[[server]]`. `kind` decides which of the other keys apply: `mode`,
/// `dhcp`, `boot`, `allow_fleets` are for `reference`; `router`, `dns`,
/// `lease_time_s`, `stray_option60` for the foreign kinds; `next_server`,
/// `bios_file`, `efi_file`, `ipxe_file` for `dhcp-pxe`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "Server",
    extend("allOf" = [
        {
            "if": { "properties": { "kind": { "const": "dhcp-pxe" } }, "required": ["kind"] },
            "then": { "required": ["pool", "bios_file", "efi_file"] }
        },
        {
            "if": { "properties": { "kind": { "enum": ["dhcp", "rogue"] } }, "required": ["kind"] },
            "then": { "required": ["pool"] }
        },
        {
            "if": {
                "properties": { "kind": { "const": "reference" }, "mode": { "const": "proxy" } },
                "required": ["kind", "mode"]
            },
            "then": { "not": { "required": ["pool"] } }
        },
        {
            "if": {
                "properties": { "kind": { "const": "reference" } },
                "required": ["kind"],
                "not": { "required": ["mode"], "properties": { "mode": { "const": "proxy" } } }
            },
            "then": { "required": ["pool"] }
        }
    ])
)]
pub(crate) struct ServerFile {
    /// Unique among servers and fleets.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// The segment it is attached to.
    #[schemars(with = "String")]
    pub segment: Spanned<String>,
    /// Its static address, inside the segment's subnet.
    #[schemars(with = "Ipv4Addr")]
    pub address: Spanned<Ipv4Addr>,
    /// `reference` (pxelab's server), `dhcp` (production, no PXE), `dhcp-pxe`
    /// (production with its own boot file) or `rogue`.
    #[schemars(with = "ServerKind")]
    pub kind: Spanned<ServerKind>,
    /// Delay before every reply, in milliseconds (any kind; default 0).
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub respond_delay_ms: Option<Spanned<u64>>,
    /// Per-port override of the segment's link (keys merge over it).
    #[serde(default)]
    pub link: Option<LinkFile>,
    /// reference: `full` (default) or `proxy`.
    #[serde(default)]
    #[schemars(with = "Option<RefMode>")]
    pub mode: Option<Spanned<RefMode>>,
    /// `FIRST-LAST`, inside the subnet: required for full mode and the foreign
    /// kinds, forbidden for proxy mode.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        pattern(r"^\d+\.\d+\.\d+\.\d+-\d+\.\d+\.\d+\.\d+$")
    )]
    pub pool: Option<Spanned<String>>,
    /// reference: the `[dhcp]` table of `pxelab serve --config`.
    #[serde(default)]
    #[schemars(with = "Option<DhcpSettings>")]
    pub dhcp: Option<Spanned<DhcpSettings>>,
    /// reference: the `[boot]` table of `pxelab serve --config`.
    #[serde(default)]
    #[schemars(with = "Option<BootPolicy>")]
    pub boot: Option<Spanned<BootPolicy>>,
    /// Foreign kinds: router (option 3).
    #[serde(default)]
    #[schemars(with = "Option<Ipv4Addr>")]
    pub router: Option<Spanned<Ipv4Addr>>,
    /// Foreign kinds: DNS servers (option 6).
    #[serde(default)]
    #[schemars(with = "Option<Vec<Ipv4Addr>>")]
    pub dns: Option<Spanned<Vec<Ipv4Addr>>>,
    /// Foreign kinds: lease time in seconds (default 3600).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub lease_time_s: Option<Spanned<u32>>,
    /// Foreign kinds: send option 60 "PXEClient" in offers (quirk Q4).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub stray_option60: Option<Spanned<bool>>,
    /// Foreign kinds: server quirk ids from `pxelab quirks` (`stray-option60`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub quirks: Vec<Spanned<String>>,
    /// dhcp-pxe: `siaddr` (default: the server's address).
    #[serde(default)]
    #[schemars(with = "Option<Ipv4Addr>")]
    pub next_server: Option<Spanned<Ipv4Addr>>,
    /// dhcp-pxe (required): boot file for BIOS clients.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub bios_file: Option<Spanned<String>>,
    /// dhcp-pxe (required): boot file for UEFI clients.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub efi_file: Option<Spanned<String>>,
    /// dhcp-pxe: what iPXE clients get; absent = the iPXE binary again
    /// (the chainload loop).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub ipxe_file: Option<Spanned<String>>,
    /// MACs this server never answers.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub ignore: Vec<Spanned<String>>,
    /// Fleets whose every MAC this server never answers.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub ignore_fleets: Vec<Spanned<String>>,
    /// dhcp-pxe: fleets it leases addresses to but gives no boot information
    /// (its PXE service told to leave them alone; its DHCP still serves them).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub pxe_ignore_fleets: Vec<Spanned<String>>,
    /// reference: only these fleets' MACs are answered (sugar for `dhcp.allow`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub allow_fleets: Vec<Spanned<String>>,
    /// Files its TFTP serves (reference and dhcp-pxe).
    #[serde(default, rename = "file")]
    pub files: Vec<FileFile>,
}

/// One `[[server.file]]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "File")]
pub(crate) struct FileFile {
    /// TFTP path.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// `ipxe` (the client restarts as iPXE), `script` or `loader` (booted).
    pub nbp: NbpKind,
    /// Bytes, 1..=268435456.
    #[schemars(with = "u64", range(min = 1, max = 268435456))]
    pub size: Spanned<u64>,
}

/// One `[[fleet]]`: identical PXE clients; with `deployment`, managed
/// computers around them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "Fleet",
    extend("dependentRequired" = {
        "registered": ["deployment"], "share_access": ["deployment"],
        "boot_order": ["deployment"], "bootworks": ["deployment"],
        "disk_gib": ["deployment"], "os": ["deployment"], "os_boot_s": ["deployment"],
        "reboot_s": ["deployment"], "bootworks_boot_s": ["deployment"]
    })
)]
pub(crate) struct FleetFile {
    /// Unique among servers and fleets.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// The segment its clients are on.
    #[schemars(with = "String")]
    pub segment: Spanned<String>,
    /// Number of clients, 1..=1000000.
    #[schemars(with = "u32", range(min = 1, max = 1000000))]
    pub count: Spanned<u32>,
    /// Firmware profile: `pxe21-bios`, `edk2-uefi`, `ipxe`, `legacy-rom`.
    #[schemars(with = "String")]
    pub profile: Spanned<String>,
    /// Extra quirk ids.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub quirks: Vec<Spanned<String>>,
    /// 1 to 4 MAC bytes such as `52:54:00:10`; the rest is the client's index.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        pattern(r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){0,3}$")
    )]
    pub mac_prefix: Option<Spanned<String>>,
    /// How SMBIOS UUIDs are made (default `random`).
    #[serde(default)]
    pub uuid: UuidMode,
    /// First power-on, seconds (default 0).
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 0))]
    pub power_on_s: Option<Spanned<f64>>,
    /// Power-on times spread uniformly over this many seconds (default 0).
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 0))]
    pub power_on_spread_s: Option<Spanned<f64>>,
    /// Seconds from power-on (the NIC's link comes up) to the boot ROM's first
    /// DISCOVER: the machine's POST (default 0).
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 0))]
    pub post_s: Option<Spanned<f64>>,
    /// Per-port override of the segment's link.
    #[serde(default)]
    pub link: Option<LinkFile>,
    /// The `[[deployment]]` whose agents these machines run: makes the fleet
    /// managed computers. `registered`, `share_access`, `boot_order`,
    /// `bootworks`, `disk_gib`, `os`, `os_boot_s`, `reboot_s` and
    /// `bootworks_boot_s` require it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub deployment: Option<Spanned<String>>,
    /// Known to the Deployment Server at the start; false: only initial
    /// deployment can add it.
    #[serde(default)]
    #[schemars(with = "Option<bool>", extend("default" = true))]
    pub registered: Option<Spanned<bool>>,
    /// Its Bootworks may map the image share.
    #[serde(default)]
    #[schemars(with = "Option<bool>", extend("default" = true))]
    pub share_access: Option<Spanned<bool>>,
    /// What the BIOS tries first: `network` (PXE) or `disk` (the MBR).
    #[serde(default)]
    #[schemars(with = "Option<BootOrder>", extend("default" = "network"))]
    pub boot_order: Option<Spanned<BootOrder>>,
    /// How the machine reaches Bootworks: `partition` (hidden, via the MBR boot
    /// flag), `pxe` or `none`.
    #[serde(default)]
    #[schemars(with = "Option<BootworksPath>", extend("default" = "partition"))]
    pub bootworks: Option<Spanned<BootworksPath>>,
    /// Disk size in GiB, > 0 and <= 16384 (16 TiB); may be fractional.
    #[serde(default)]
    #[schemars(
        with = "Option<f64>",
        range(max = 16384),
        extend("exclusiveMinimum" = 0, "default" = 40)
    )]
    pub disk_gib: Option<Spanned<f64>>,
    /// The installed OS, which runs AClient; absent: a blank disk.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub os: Option<Spanned<String>>,
    /// Seconds from the boot loader to AClient's check-in.
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 0), extend("default" = 40))]
    pub os_boot_s: Option<Spanned<f64>>,
    /// Seconds of shutdown and POST before the boot device is tried.
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 0), extend("default" = 30))]
    pub reboot_s: Option<Spanned<f64>>,
    /// Seconds from the partition's boot sector to Bootworks connecting.
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 0), extend("default" = 15))]
    pub bootworks_boot_s: Option<Spanned<f64>>,
}

impl FleetFile {
    /// The managed-machine keys given, with where, in file order (each needs
    /// `deployment`).
    pub fn machine_keys(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        let mut keys: Vec<(&'static str, std::ops::Range<usize>)> = [
            ("registered", self.registered.as_ref().map(Spanned::span)),
            (
                "share_access",
                self.share_access.as_ref().map(Spanned::span),
            ),
            ("boot_order", self.boot_order.as_ref().map(Spanned::span)),
            ("bootworks", self.bootworks.as_ref().map(Spanned::span)),
            ("disk_gib", self.disk_gib.as_ref().map(Spanned::span)),
            ("os", self.os.as_ref().map(Spanned::span)),
            ("os_boot_s", self.os_boot_s.as_ref().map(Spanned::span)),
            ("reboot_s", self.reboot_s.as_ref().map(Spanned::span)),
            (
                "bootworks_boot_s",
                self.bootworks_boot_s.as_ref().map(Spanned::span),
            ),
        ]
        .into_iter()
        .filter_map(|(k, sp)| sp.map(|sp| (k, sp)))
        .collect();
        keys.sort_by_key(|(_, sp)| sp.start);
        keys
    }
}

/// One `[[deployment]]`: a Deployment Server on the host of a `[[server]]`.
/// `trust_uuid` is for `mode = "legacy"` only, `max_attempts` for
/// `"reference"` only, `multicast` for `transfer = "multicast"` only.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "Deployment",
    extend("allOf" = [
        {
            "if": { "properties": { "mode": { "const": "legacy" } }, "required": ["mode"] },
            "then": { "not": { "required": ["max_attempts"] } },
            "else": { "not": { "required": ["trust_uuid"] } }
        },
        {
            "if": { "properties": { "transfer": { "const": "multicast" } }, "required": ["transfer"] },
            "else": { "not": { "required": ["multicast"] } }
        }
    ])
)]
pub(crate) struct DeploymentFile {
    /// Unique among deployments.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// The `[[server]]` whose host (address, switch port) it runs on.
    #[schemars(with = "String")]
    pub server: Spanned<String>,
    /// `reference` (pxelab's) or `legacy` (Deployment Server 6.x as the seeds
    /// tell it).
    #[serde(default)]
    #[schemars(with = "Option<DeployMode>", extend("default" = "reference"))]
    pub mode: Option<Spanned<DeployMode>>,
    /// Legacy only: match computers by SMBIOS UUID before MAC (Altiris).
    #[serde(default)]
    #[schemars(with = "Option<bool>", extend("default" = false))]
    pub trust_uuid: Option<Spanned<bool>>,
    /// Reference only, 1..=100: failed attempts before a job fails for good.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 100), extend("default" = 3))]
    pub max_attempts: Option<Spanned<u32>>,
    /// `unicast` (each Bootworks pulls its image) or `multicast` (one sender).
    #[serde(default)]
    #[schemars(with = "Option<TransferFile>", extend("default" = "unicast"))]
    pub transfer: Option<Spanned<TransferFile>>,
    /// Multicast sessions; only with `transfer = "multicast"`.
    #[serde(default)]
    #[schemars(with = "Option<MulticastFile>")]
    pub multicast: Option<Spanned<MulticastFile>>,
    /// What an unknown machine that PXE-boots into Bootworks gets.
    #[serde(default)]
    #[schemars(with = "Option<InitialDeploymentFile>")]
    pub initial_deployment: Option<Spanned<InitialDeploymentFile>>,
    /// The image store.
    #[serde(default, rename = "image")]
    pub images: Vec<ImageFile>,
    /// Jobs scheduled at the start, one per machine of the fleet.
    #[serde(default, rename = "job")]
    #[schemars(with = "Vec<JobFile>")]
    pub jobs: Vec<Spanned<JobFile>>,
}

/// How a deployment moves images (`transfer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "Transfer")]
pub(crate) enum TransferFile {
    /// Each Bootworks pulls its image from the server over TCP.
    Unicast,
    /// One sender, many receivers (udpcast style).
    Multicast,
}

/// `multicast = { min_receivers, max_wait_s }`: when a multicast session
/// starts sending.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Multicast")]
pub(crate) struct MulticastFile {
    /// A session starts once this many receivers joined, >= 1.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1), extend("default" = 1))]
    pub min_receivers: Option<Spanned<u32>>,
    /// Or, with fewer, this many seconds after the first receiver joined, > 0.
    #[serde(default)]
    #[schemars(with = "Option<f64>", extend("exclusiveMinimum" = 0, "default" = 60))]
    pub max_wait_s: Option<Spanned<f64>>,
}

/// One `[[deployment.image]]`: its bytes come from the seed and the name.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Image")]
pub(crate) struct ImageFile {
    /// Unique within the deployment.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Size in MiB, > 0 and <= 1048576 (1 TiB); may be fractional (0.5).
    #[schemars(with = "f64", range(max = 1048576), extend("exclusiveMinimum" = 0))]
    pub size_mib: Spanned<f64>,
}

/// A job's `kind` as written; its argument is a key of its own (`image`,
/// `os`, `script`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "JobKind")]
pub(crate) enum JobKindFile {
    /// Write an image of the deployment to the disk (`image`).
    DeployImage,
    /// Read the disk into a new image (`image`, a name not in the store).
    CaptureImage,
    /// Install an OS from its setup (`os`).
    ScriptedInstall,
    /// Run a script in the installed OS (`script`).
    RunScript,
    /// Boot the installed OS.
    BootToProduction,
}

impl JobKindFile {
    /// The id used in the file.
    pub fn id(self) -> &'static str {
        match self {
            JobKindFile::DeployImage => "deploy-image",
            JobKindFile::CaptureImage => "capture-image",
            JobKindFile::ScriptedInstall => "scripted-install",
            JobKindFile::RunScript => "run-script",
            JobKindFile::BootToProduction => "boot-to-production",
        }
    }
}

/// The schema of "kind + argument", shared by jobs and `initial_deployment`.
fn job_kind_rules() -> serde_json::Value {
    serde_json::json!([
        {
            "if": { "properties": { "kind": { "enum": ["deploy-image", "capture-image"] } }, "required": ["kind"] },
            "then": { "required": ["image"] },
            "else": { "not": { "required": ["image"] } }
        },
        {
            "if": { "properties": { "kind": { "const": "scripted-install" } }, "required": ["kind"] },
            "then": { "required": ["os"] },
            "else": { "not": { "required": ["os"] } }
        },
        {
            "if": { "properties": { "kind": { "const": "run-script" } }, "required": ["kind"] },
            "then": { "required": ["script"] },
            "else": { "not": { "required": ["script"] } }
        }
    ])
}

/// A job kind and its argument keys, wherever they were written (a
/// `[[deployment.job]]` or `initial_deployment`): one parser checks both.
pub(crate) struct JobKindKeys<'a> {
    pub kind: &'a Spanned<JobKindFile>,
    pub image: Option<&'a Spanned<String>>,
    pub os: Option<&'a Spanned<String>>,
    pub script: Option<&'a Spanned<String>>,
}

/// One `[[deployment.job]]`: scheduled when the run starts, one job for
/// every machine of `fleet`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Job", extend("allOf" = job_kind_rules()))]
pub(crate) struct JobFile {
    /// A fleet whose `deployment` is this deployment; each machine gets the job.
    #[schemars(with = "String")]
    pub fleet: Spanned<String>,
    /// `deploy-image`, `capture-image`, `scripted-install`, `run-script` or
    /// `boot-to-production`.
    #[schemars(with = "JobKindFile")]
    pub kind: Spanned<JobKindFile>,
    /// deploy-image: an image of this deployment; capture-image: a new name.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub image: Option<Spanned<String>>,
    /// scripted-install (required there): the OS it installs.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub os: Option<Spanned<String>>,
    /// run-script (required there): the script.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub script: Option<Spanned<String>>,
    /// Name AClient applies after imaging; `{index}` is the machine's index in
    /// its fleet.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub post_name: Option<Spanned<String>>,
    /// Only the machine with this index in the fleet (0-based) gets the job;
    /// absent: every machine of the fleet.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub machine: Option<Spanned<u32>>,
}

impl JobFile {
    pub fn kind_keys(&self) -> JobKindKeys<'_> {
        JobKindKeys {
            kind: &self.kind,
            image: self.image.as_ref(),
            os: self.os.as_ref(),
            script: self.script.as_ref(),
        }
    }
}

/// `initial_deployment = { kind = ..., image = ... }`: a job's kind and
/// argument, without a fleet (the machine is unknown until it arrives).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "InitialDeployment", extend("allOf" = job_kind_rules()))]
pub(crate) struct InitialDeploymentFile {
    /// As a job's `kind`.
    #[schemars(with = "JobKindFile")]
    pub kind: Spanned<JobKindFile>,
    /// deploy-image: an image of this deployment; capture-image: a new name.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub image: Option<Spanned<String>>,
    /// scripted-install (required there): the OS it installs.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub os: Option<Spanned<String>>,
    /// run-script (required there): the script.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub script: Option<Spanned<String>>,
}

impl InitialDeploymentFile {
    pub fn kind_keys(&self) -> JobKindKeys<'_> {
        JobKindKeys {
            kind: &self.kind,
            image: self.image.as_ref(),
            os: self.os.as_ref(),
            script: self.script.as_ref(),
        }
    }
}

/// One `[[fault]]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Fault")]
pub(crate) struct FaultFile {
    /// When, in seconds (< duration_s).
    #[schemars(with = "f64", range(min = 0))]
    pub at_s: Spanned<f64>,
    /// What happens.
    #[schemars(with = "FaultKind")]
    pub kind: Spanned<FaultKind>,
    /// A server (server-*) or a fleet (fleet-*).
    #[schemars(with = "String")]
    pub target: Spanned<String>,
}

/// One `[[expect]]`: either `fleet` (with `booted`, `booted_from`, `error`,
/// `looping` and, for managed fleets, the deployment counts) or `finding`
/// (with `present`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "Expect",
    extend(
        "oneOf" = [{ "required": ["fleet"] }, { "required": ["finding"] }],
        "dependentRequired" = {
            "booted": ["fleet"], "booted_from": ["fleet"], "error": ["fleet"],
            "jobs_succeeded": ["fleet"], "jobs_failed": ["fleet"], "jobs_refused": ["fleet"],
            "imaged": ["fleet"], "registered": ["fleet"], "looping": ["fleet"],
            "present": ["finding"]
        }
    )
)]
pub(crate) struct ExpectFile {
    /// The fleet this expectation is about.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub fleet: Option<Spanned<String>>,
    /// How many of the fleet booted: `all`, `none`, N, `>=N`, `<=N`.
    #[serde(default)]
    #[schemars(with = "Option<CountFile>")]
    pub booted: Option<Spanned<CountFile>>,
    /// Every booted client booted from this server.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub booted_from: Option<Spanned<String>>,
    /// Every failed client shows this PXE error code, e.g. `PXE-E51`.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        pattern(r"^(PXE-E[0-9A-F]{2}|iPXE-no-config|iPXE-nothing-to-boot|iPXE-could-not-boot)$")
    )]
    pub error: Option<Spanned<String>>,
    /// Managed fleets: how many machines' jobs succeeded (a count like `booted`).
    #[serde(default)]
    #[schemars(with = "Option<CountFile>")]
    pub jobs_succeeded: Option<Spanned<CountFile>>,
    /// Managed fleets: how many machines' jobs failed for good.
    #[serde(default)]
    #[schemars(with = "Option<CountFile>")]
    pub jobs_failed: Option<Spanned<CountFile>>,
    /// Managed fleets: how many machines' jobs the server refused when scheduling.
    #[serde(default)]
    #[schemars(with = "Option<CountFile>")]
    pub jobs_refused: Option<Spanned<CountFile>>,
    /// Managed fleets: how many machines hold, byte for byte, their job's image.
    #[serde(default)]
    #[schemars(with = "Option<CountFile>")]
    pub imaged: Option<Spanned<CountFile>>,
    /// Managed fleets: how many machines the Deployment Server registered during
    /// the run (initial deployment).
    #[serde(default)]
    #[schemars(with = "Option<CountFile>")]
    pub registered: Option<Spanned<CountFile>>,
    /// How many machines were stopped in a boot loop (any fleet).
    #[serde(default)]
    #[schemars(with = "Option<CountFile>")]
    pub looping: Option<Spanned<CountFile>>,
    /// A finding kind that must be (or, with present = false, must not be) reported.
    #[serde(default)]
    #[schemars(with = "Option<FindingKind>")]
    pub finding: Option<Spanned<FindingKind>>,
    /// Default true; false = the finding must be absent.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub present: Option<Spanned<bool>>,
}

/// `booted` as written: an integer or a string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CountFile {
    Number(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for CountFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CountFile;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"all\", \"none\", an integer, \">=N\" or \"<=N\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<CountFile, E> {
                Ok(CountFile::Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<CountFile, E> {
                Ok(CountFile::Number(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CountFile, E> {
                Ok(CountFile::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for CountFile {
    fn schema_name() -> Cow<'static, str> {
        "Count".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "\"all\", \"none\", N, \">=N\" or \"<=N\".",
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^(all|none|[0-9]+|>=[0-9]+|<=[0-9]+)$" }
            ]
        })
    }
}
