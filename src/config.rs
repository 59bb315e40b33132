//! The `--config FILE` TOML: everything `pxelab serve` does not take as a flag.
//!
//! ```toml
//! lease_store = "/var/lib/pxelab/leases.redb"   # default: ./pxelab-leases.redb
//!
//! [dhcp]                      # pxelab_reference::dhcp::DhcpSettings
//! lease_time_secs = 3600
//! respond_delay_ms = 0
//! deny = ["52:54:00:00:00:01"]
//! [[dhcp.reservations]]
//! mac = "52:54:00:12:34:56"
//! ip = "10.0.0.50"
//!
//! [boot]                      # pxelab_reference::pxe::BootPolicy (menu, arch overrides)
//! [boot.menu]
//! prompt = "Boot from network"
//!
//! [tftp]
//! max_blksize = 1468
//! max_windowsize = 64
//! ```
//!
//! Unknown keys are errors: a misspelt key silently ignored would change what a
//! lab serves without anyone noticing. toml's errors carry the line and column and
//! quote the key, so the user sees exactly where.

use std::path::{Path, PathBuf};

use anyhow::Context;
use pxelab_reference::dhcp::DhcpSettings;
use pxelab_reference::pxe::BootPolicy;
use serde::Deserialize;

/// The whole config file. Every table and key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Where leases are kept (a redb file). Default `pxelab-leases.redb` in the
    /// current directory.
    pub lease_store: Option<PathBuf>,
    /// DHCP behaviour.
    pub dhcp: DhcpSettings,
    /// Boot files, per-architecture overrides, boot menu.
    pub boot: Option<BootPolicy>,
    /// TFTP limits.
    pub tftp: TftpSettings,
}

/// `[tftp]`: limits of the TFTP server.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TftpSettings {
    /// Largest block size granted (RFC 2348). Default: the interface MTU minus 32
    /// (1468 on Ethernet), so that no block is fragmented.
    pub max_blksize: Option<u16>,
    /// Largest window granted (RFC 7440). Default 64.
    pub max_windowsize: Option<u16>,
    /// Concurrent transfers. Default 1024.
    pub max_sessions: Option<usize>,
}

impl FileConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--config {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("--config {}", path.display()))
    }

    /// Parses config text; errors name the key and its line.
    pub fn parse(text: &str) -> anyhow::Result<FileConfig> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example the README points at must stay valid.
    #[test]
    fn the_shipped_example_parses() {
        let c = FileConfig::parse(include_str!("../examples/serve.toml")).unwrap();
        assert_eq!(c.dhcp.reservations.len(), 1);
        let boot = c.boot.expect("[boot]");
        assert_eq!(boot.arch_overrides.len(), 1);
        assert_eq!(boot.menu.expect("[boot.menu]").items.len(), 2);
        assert_eq!(c.tftp.max_sessions, Some(1024));
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let c = FileConfig::parse("").unwrap();
        assert!(c.lease_store.is_none());
        assert_eq!(c.dhcp, DhcpSettings::default());
    }

    #[test]
    fn settings_reach_their_tables() {
        let c = FileConfig::parse(
            "lease_store = \"/tmp/x.redb\"\n[dhcp]\nlease_time_secs = 120\n\
             [[dhcp.reservations]]\nmac = \"52:54:00:12:34:56\"\nip = \"10.0.0.50\"\n\
             [tftp]\nmax_blksize = 512\n",
        )
        .unwrap();
        assert_eq!(c.lease_store.as_deref(), Some(Path::new("/tmp/x.redb")));
        assert_eq!(c.dhcp.lease_time_secs, 120);
        assert_eq!(c.dhcp.reservations.len(), 1);
        assert_eq!(c.tftp.max_blksize, Some(512));
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = FileConfig::parse("[dhcp]\nlease_time_secs = 60\nlease_tme = 5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lease_tme"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn malformed_value_is_named_with_its_line() {
        let err = FileConfig::parse("\n[dhcp]\nrespond_delay_ms = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("respond_delay_ms"), "{err}");
    }
}
