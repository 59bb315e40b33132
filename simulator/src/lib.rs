//! pxelab's deterministic simulator: the reference machines in a virtual world.
//!
//! For now it holds the built-in demo; the scenario engine, the firmware models and
//! the competing servers arrive with the simulator issue.

pub mod demo;
