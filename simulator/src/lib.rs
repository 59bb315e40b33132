//! pxelab's simulator: the world a PXE deployment stack lives in.
//!
//! The reference stack's own sans-IO machines run here unchanged, next to
//! models of PXE client firmware and of the servers a lab shares a segment
//! with, on simulated L2 segments in virtual time. Randomness comes only from
//! the scenario's seed and time only from the virtual clock, so the same
//! scenario and seed give a byte-identical report and pcap on any machine.

pub mod conform;
pub mod engine;
pub mod firmware;
pub mod foreign;
pub mod imaging;
pub mod machine;
pub mod net;
pub mod report;
pub mod scenario;
pub mod world;
