//! The tokio driver: the only place in this crate with sockets and a clock.
pub mod fs;
