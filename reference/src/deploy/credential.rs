//! Per-computer secrets: one the agents (AClient, Bootworks) present when they
//! connect, one for the image share they map.
//!
//! Altiris Bootworks logged on to the image share with one saved account for every
//! machine; when that account lacked rights, every machine failed the same way
//! ("a network drive has not been mapped correctly", seed 000). A per-computer
//! credential makes a failure belong to one computer and lets the server tell
//! which machine is asking. The bytes come from the caller (the driver, or the
//! simulator's seeded rng), because this crate draws no randomness of its own.

use std::fmt;

/// Length of a credential in bytes (256 bits).
pub const CREDENTIAL_LEN: usize = 32;

/// A secret shared between the Deployment Server and one computer's agents.
///
/// `Debug` does not print the bytes, so a credential never ends up in a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential([u8; CREDENTIAL_LEN]);

impl Credential {
    /// A credential made of `bytes`, which the caller drew from a random source.
    pub const fn from_bytes(bytes: [u8; CREDENTIAL_LEN]) -> Self {
        Credential(bytes)
    }

    /// The bytes, to hand to the agent once (when it is provisioned).
    pub const fn as_bytes(&self) -> &[u8; CREDENTIAL_LEN] {
        &self.0
    }

    /// Whether `presented` is this credential, compared in constant time
    /// (see [`constant_time_eq`]).
    pub fn verify(&self, presented: &[u8]) -> bool {
        constant_time_eq(&self.0, presented)
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(..)")
    }
}

/// Which of a computer's two credentials is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// Presented by AClient and Bootworks when they connect to the server.
    Agent,
    /// Used to map the image share (read-only access to the image store).
    Share,
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialKind::Agent => "agent",
            CredentialKind::Share => "image share",
        })
    }
}

/// `a == b`, taking the same time whatever the position of the first differing
/// byte.
///
/// An early-exit comparison (`==` on slices) returns sooner the earlier the first
/// wrong byte is, which lets a network peer guess a secret byte by byte by timing
/// its attempts. Here every byte pair is XORed and the differences are ORed into
/// one accumulator, with no branch on secret data; the result is read once at the
/// end. The length is not secret (credentials are [`CREDENTIAL_LEN`] bytes), so a
/// length mismatch returns at once. `std::hint::black_box` keeps the optimiser
/// from turning the loop back into an early exit; it is a hint, not a guarantee,
/// which is the usual limit of constant-time code written in plain Rust.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff = std::hint::black_box(diff | (x ^ y));
    }
    diff == 0
}
