//! Which boot file a client gets, by architecture (option 93) and user class.

use serde::Deserialize;

use super::facts::{ClientFacts, arch};

/// The boot-file policy and the optional PXE boot menu.
///
/// In the `[boot]` table of `pxelab serve --config FILE`; every field has a default.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BootPolicy {
    /// NBP for x86 BIOS clients (arch 0, or no architecture at all, as in ROMs older
    /// than RFC 4578). Default `undionly.kpxe`.
    pub boot_bios: String,
    /// NBP for x64 UEFI clients: arch 7 and arch 9 (both mean x64 in the field after
    /// the RFC 4578 erratum). Default `ipxe.efi`.
    pub boot_efi: String,
    /// NBP for IA32 UEFI clients (arch 6). Unset: such clients get no boot file.
    pub boot_efi_ia32: Option<String>,
    /// NBP for 32-bit ARM UEFI clients (arch 10). Unset: no boot file.
    pub boot_efi_arm32: Option<String>,
    /// NBP for 64-bit ARM UEFI clients (arch 11). Unset: no boot file.
    pub boot_efi_arm64: Option<String>,
    /// What an iPXE client gets (user class `iPXE` or option 175), whatever its
    /// architecture: a script, never the iPXE binary again, which is what breaks the
    /// chainload loop (ipxe #922). Default `boot.ipxe`.
    pub boot_ipxe: String,
    /// URL for UEFI HTTP boot clients (arch 16, vendor class `HTTPClient`). Unset:
    /// such clients get no boot information (a full-mode server still leases them
    /// an address; a ProxyDHCP ignores them, as PXE 2.1 only covers `PXEClient`).
    pub http_url: Option<String>,
    /// Per-architecture overrides, checked before the fields above (but after the
    /// iPXE rule).
    pub arch_overrides: Vec<ArchOverride>,
    /// A PXE boot menu (options 43.6/8/9/10). Unset: no menu is sent, the client
    /// boots the policy's file directly.
    pub menu: Option<BootMenu>,
}

impl Default for BootPolicy {
    fn default() -> Self {
        BootPolicy {
            boot_bios: "undionly.kpxe".into(),
            boot_efi: "ipxe.efi".into(),
            boot_efi_ia32: None,
            boot_efi_arm32: None,
            boot_efi_arm64: None,
            boot_ipxe: "boot.ipxe".into(),
            http_url: None,
            arch_overrides: Vec::new(),
            menu: None,
        }
    }
}

/// One `[[boot.arch_overrides]]` entry.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchOverride {
    /// Option 93 architecture type.
    pub arch: u16,
    /// Boot file for it.
    pub file: String,
}

/// A PXE boot menu (PXE 2.1: 43.9 items, 43.10 prompt, 43.6 discovery
/// control, 43.8 boot servers).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootMenu {
    /// Prompt text shown with the timeout ("Press F8 for boot menu").
    #[serde(default = "default_prompt")]
    pub prompt: String,
    /// Seconds the prompt waits: 0 boots the first item at once, 255 waits forever.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u8,
    /// 43.6 bits. Default 3 (no broadcast, no multicast discovery: the client asks
    /// this server, listed in 43.8 for every item type, on UDP 4011), as dnsmasq
    /// sends when it knows the server of every item.
    #[serde(default = "default_discovery_control")]
    pub discovery_control: u8,
    /// Items, in menu order.
    pub items: Vec<MenuItem>,
}

fn default_prompt() -> String {
    "Press F8 for boot menu".into()
}
fn default_timeout() -> u8 {
    10
}
fn default_discovery_control() -> u8 {
    3
}

/// One `[[boot.menu.items]]` entry.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuItem {
    /// PXE boot server type the client sends back in 43.71 (type 0 is local boot
    /// in PXE 2.1 menus: the client boots its disk and never asks for it).
    #[serde(rename = "type")]
    pub item_type: u16,
    /// Menu text.
    pub description: String,
    /// Boot file for this item. Unset: the policy's file for the client's
    /// architecture.
    pub file: Option<String>,
}

/// Which rule of the policy decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootRule {
    /// iPXE client: the script.
    Ipxe,
    /// An `arch_overrides` entry.
    ArchOverride(u16),
    /// x86 BIOS (or no architecture given).
    Bios,
    /// x64 UEFI (arch 7 or 9).
    EfiX64,
    /// IA32 UEFI (arch 6).
    EfiIa32,
    /// ARM32 UEFI (arch 10).
    EfiArm32,
    /// ARM64 UEFI (arch 11).
    EfiArm64,
    /// UEFI HTTP boot (arch 16).
    Http,
    /// A DHCP reservation's boot file.
    Reservation,
    /// A boot menu item's file.
    MenuItem(u16),
}

/// The policy's answer for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootDecision {
    /// Boot this file (a TFTP path, or a URL for [`BootRule::Http`]).
    Boot {
        /// File name or URL.
        file: String,
        /// The rule that chose it.
        rule: BootRule,
    },
    /// No boot information for this client.
    NoBoot {
        /// Architecture with nothing configured (`None`: the HTTP URL is unset).
        arch: Option<u16>,
    },
}

impl BootDecision {
    /// The file, when there is one.
    pub fn file(&self) -> Option<&str> {
        match self {
            BootDecision::Boot { file, .. } => Some(file),
            BootDecision::NoBoot { .. } => None,
        }
    }
}

impl BootPolicy {
    /// Decides the boot file for `client`.
    pub fn boot_file(&self, client: &ClientFacts) -> BootDecision {
        let boot = |file: &str, rule| BootDecision::Boot {
            file: file.to_string(),
            rule,
        };
        if client.is_ipxe {
            return boot(&self.boot_ipxe, BootRule::Ipxe);
        }
        let a = client.arch.unwrap_or(arch::BIOS);
        if let Some(o) = self.arch_overrides.iter().find(|o| o.arch == a) {
            return boot(&o.file, BootRule::ArchOverride(a));
        }
        let optional = |file: &Option<String>, rule| match file {
            Some(f) => boot(f, rule),
            None => BootDecision::NoBoot { arch: Some(a) },
        };
        match a {
            arch::BIOS => boot(&self.boot_bios, BootRule::Bios),
            arch::EFI_X64 | arch::EFI_BC => boot(&self.boot_efi, BootRule::EfiX64),
            arch::EFI_IA32 => optional(&self.boot_efi_ia32, BootRule::EfiIa32),
            arch::EFI_ARM32 => optional(&self.boot_efi_arm32, BootRule::EfiArm32),
            arch::EFI_ARM64 => optional(&self.boot_efi_arm64, BootRule::EfiArm64),
            arch::EFI_X64_HTTP => match &self.http_url {
                Some(url) => boot(url, BootRule::Http),
                None => BootDecision::NoBoot { arch: None },
            },
            _ => BootDecision::NoBoot { arch: Some(a) },
        }
    }

    /// The file for menu item `item_type`, or `None` when no such item exists.
    /// Without a menu, type 0 (the PXE bootstrap server) is the policy's file.
    pub fn menu_item_file(&self, item_type: u16, client: &ClientFacts) -> Option<BootDecision> {
        match &self.menu {
            Some(menu) => {
                let item = menu.items.iter().find(|i| i.item_type == item_type)?;
                Some(match &item.file {
                    Some(f) if !client.is_ipxe => BootDecision::Boot {
                        file: f.clone(),
                        rule: BootRule::MenuItem(item_type),
                    },
                    _ => self.boot_file(client),
                })
            }
            None => (item_type == 0).then(|| self.boot_file(client)),
        }
    }
}
