//! The fuzz targets' bodies. Each `fuzz_targets/<name>.rs` binary hands its
//! input to the function of the same name here, and the stable smoke runner
//! (`examples/smoke.rs`) calls the same functions through [`ALL`], so both
//! check exactly the same properties.

mod agent;
mod dhcp_message;
mod dhcp_server;
mod multicast;
mod pxe_options;
mod scenario_file;
mod serve_config;
mod tftp_packet;
mod tftp_session;

pub use agent::agent;
pub use dhcp_message::dhcp_message;
pub use dhcp_server::dhcp_server;
pub use multicast::multicast;
pub use pxe_options::pxe_options;
pub use scenario_file::scenario_file;
pub use serve_config::serve_config;
pub use tftp_packet::tftp_packet;
pub use tftp_session::tftp_session;

/// A target: it panics on an input that breaks one of its checks.
pub type Target = fn(&[u8]);

/// Every target by its cargo-fuzz name (the `[[bin]]` names in `Cargo.toml` and
/// the `corpus/` directories), in the order the smoke runner takes them.
pub const ALL: [(&str, Target); 9] = [
    ("dhcp_message", dhcp_message),
    ("pxe_options", pxe_options),
    ("tftp_packet", tftp_packet),
    ("dhcp_server", dhcp_server),
    ("tftp_session", tftp_session),
    ("agent", agent),
    ("multicast", multicast),
    ("serve_config", serve_config),
    ("scenario_file", scenario_file),
];
