//! The computers the Deployment Server knows, and how a booting machine is
//! matched to one of them.
//!
//! A machine announces two identifiers: its NIC's MAC and its SMBIOS UUID
//! (PXE option 97, or what the agent reads). The UUID is the weaker of the two in
//! practice: EDK2 sends all zeros when it cannot read SMBIOS, unprogrammed boards
//! report all FF, and cloned or cheap boards share one UUID (research notes §3, and
//! the Deployment Server 7.1 KB in §1d where a machine with a duplicate GUID imaged
//! *instead of* the one the job was for). The reference server therefore keys a
//! computer on its MAC and treats the UUID as evidence only: a zero, FF or shared
//! UUID is reported as an [`IdentityWarning`] and never decides the match.
//!
//! [`Computers::new`] with `trust_uuid` reproduces the legacy behaviour (match by
//! UUID first), so a scenario can show the wrong machine being imaged.

use std::collections::BTreeMap;
use std::fmt;

use crate::{Instant, Mac};

use super::credential::{Credential, CredentialKind};

/// A computer's number in the registry, assigned in registration order from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComputerId(pub u32);

impl fmt::Display for ComputerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "computer {}", self.0)
    }
}

/// An SMBIOS system UUID, as the 16 bytes were sent (no byte-order fix-up: two
/// machines are compared byte for byte, which is all identity needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SmbiosUuid(pub [u8; 16]);

impl SmbiosUuid {
    /// All zeros: the firmware could not read SMBIOS (EDK2's fallback).
    pub fn is_all_zero(&self) -> bool {
        self.0 == [0; 16]
    }

    /// All FF: an unprogrammed SMBIOS field.
    pub fn is_all_ff(&self) -> bool {
        self.0 == [0xff; 16]
    }
}

impl From<crate::wire::pxe::ClientUuid> for SmbiosUuid {
    fn from(u: crate::wire::pxe::ClientUuid) -> Self {
        SmbiosUuid(u.guid)
    }
}

impl fmt::Display for SmbiosUuid {
    /// The usual 8-4-4-4-12 hex grouping of the bytes in wire order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// How a computer reaches its pre-OS (automation) environment, which decides the
/// jobs it can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PreOsPath {
    /// Bootworks delivered by PXE: the boot server hands out the automation image
    /// and whatever the job needs, so it can image and run scripted installs.
    PxeBootworks,
    /// Bootworks on a hidden disk partition, reached through the MBR boot flag:
    /// a DOS floppy's worth of tools that can image but cannot run a scripted OS
    /// install ("It's an image only solution", seed 000).
    PartitionBootworks,
    /// No pre-OS path: only jobs that run in the production OS.
    None,
}

impl fmt::Display for PreOsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PreOsPath::PxeBootworks => "PXE-delivered Bootworks",
            PreOsPath::PartitionBootworks => "Bootworks partition",
            PreOsPath::None => "no pre-OS path",
        })
    }
}

/// One registered computer.
#[derive(Debug, Clone)]
pub struct Computer {
    /// Its number.
    pub id: ComputerId,
    /// The name shown in reports and handed to post-configuration.
    pub name: String,
    /// The MAC it was registered with: the key it is matched on.
    pub mac: Mac,
    /// The UUID it reported at registration, if any.
    pub uuid: Option<SmbiosUuid>,
    /// How it reaches its pre-OS environment.
    pub pre_os: PreOsPath,
    /// When it was registered.
    pub registered_at: Instant,
    agent_credential: Option<Credential>,
    share_credential: Option<Credential>,
}

impl Computer {
    /// Whether a credential of this kind has been set.
    pub fn has_credential(&self, kind: CredentialKind) -> bool {
        self.credential(kind).is_some()
    }

    fn credential(&self, kind: CredentialKind) -> Option<&Credential> {
        match kind {
            CredentialKind::Agent => self.agent_credential.as_ref(),
            CredentialKind::Share => self.share_credential.as_ref(),
        }
    }
}

impl fmt::Display for Computer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.name, self.id, self.mac)
    }
}

/// Why a UUID was not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarningKind {
    /// The UUID is all zeros.
    ZeroUuid,
    /// The UUID is all FF.
    FfUuid,
    /// Another computer (another MAC) already has this UUID.
    SharedUuid {
        /// The computer registered first with it.
        other: ComputerId,
    },
}

/// A UUID the server did not trust, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityWarning {
    /// When it was first seen.
    pub at: Instant,
    /// The MAC of the machine that sent it.
    pub mac: Mac,
    /// The UUID it sent.
    pub uuid: SmbiosUuid,
    /// What is wrong with it.
    pub kind: WarningKind,
}

impl fmt::Display for IdentityWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            WarningKind::ZeroUuid => write!(
                f,
                "{} sent an all-zero SMBIOS UUID (firmware could not read one): matched by MAC",
                self.mac
            ),
            WarningKind::FfUuid => write!(
                f,
                "{} sent an all-FF SMBIOS UUID (unprogrammed): matched by MAC",
                self.mac
            ),
            WarningKind::SharedUuid { other } => write!(
                f,
                "{} sent SMBIOS UUID {} which {} already has: duplicate UUID, matched by MAC",
                self.mac, self.uuid, other
            ),
        }
    }
}

/// The outcome of matching a booting machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// The computer it is, or `None` for an unknown machine (the initial
    /// deployment path).
    pub computer: Option<ComputerId>,
    /// What was wrong with its UUID (every time, not only the first).
    pub warnings: Vec<IdentityWarning>,
}

/// A computer id the registry does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not registered")]
pub struct UnknownComputer(pub ComputerId);

/// The registry of computers.
#[derive(Debug, Clone, Default)]
pub struct Computers {
    list: Vec<Computer>,
    by_mac: BTreeMap<Mac, ComputerId>,
    trust_uuid: bool,
    /// Each distinct (MAC, UUID, kind) once, in the order first seen.
    warnings: Vec<IdentityWarning>,
    /// Warnings recorded since the owner last drained them (for events).
    fresh: Vec<IdentityWarning>,
}

impl Computers {
    /// An empty registry. `trust_uuid` is the legacy behaviour: a machine whose
    /// UUID a computer already has is that computer, whatever its MAC (how
    /// Deployment Server imaged the wrong machine); the reference passes `false`.
    pub fn new(trust_uuid: bool) -> Self {
        Computers {
            trust_uuid,
            ..Self::default()
        }
    }

    /// Matches a booting machine. Reference rule: by MAC only, the UUID giving
    /// warnings; with `trust_uuid`, a UUID some computer has wins over the MAC.
    pub fn identify(&mut self, now: Instant, mac: Mac, uuid: Option<SmbiosUuid>) -> Identification {
        let warnings = self.check_uuid(now, mac, uuid);
        let by_uuid = if self.trust_uuid {
            uuid.and_then(|u| self.list.iter().find(|c| c.uuid == Some(u)).map(|c| c.id))
        } else {
            None
        };
        Identification {
            computer: by_uuid.or_else(|| self.by_mac.get(&mac).copied()),
            warnings,
        }
    }

    /// Registers a machine and returns its id. A MAC identifies one computer:
    /// registering a MAC the registry holds returns that computer unchanged. New
    /// computers start with [`PreOsPath::None`] until told how they boot, so that
    /// no pre-OS job is accepted on a guess.
    pub fn register(
        &mut self,
        now: Instant,
        mac: Mac,
        uuid: Option<SmbiosUuid>,
        name: &str,
    ) -> ComputerId {
        if let Some(&id) = self.by_mac.get(&mac) {
            return id;
        }
        self.check_uuid(now, mac, uuid);
        let id = ComputerId(u32::try_from(self.list.len() + 1).unwrap_or(u32::MAX));
        self.list.push(Computer {
            id,
            name: name.to_string(),
            mac,
            uuid,
            pre_os: PreOsPath::None,
            registered_at: now,
            agent_credential: None,
            share_credential: None,
        });
        self.by_mac.insert(mac, id);
        id
    }

    /// The computer `id`.
    pub fn get(&self, id: ComputerId) -> Option<&Computer> {
        let index = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.list.get(index)
    }

    fn get_mut(&mut self, id: ComputerId) -> Result<&mut Computer, UnknownComputer> {
        usize::try_from(id.0)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.list.get_mut(i))
            .ok_or(UnknownComputer(id))
    }

    /// The computer registered with `mac`.
    pub fn by_mac(&self, mac: Mac) -> Option<ComputerId> {
        self.by_mac.get(&mac).copied()
    }

    /// Every computer, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Computer> {
        self.list.iter()
    }

    /// Number of computers.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether no computer is registered.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Sets how computer `id` reaches its pre-OS environment.
    pub fn set_pre_os(&mut self, id: ComputerId, path: PreOsPath) -> Result<(), UnknownComputer> {
        self.get_mut(id)?.pre_os = path;
        Ok(())
    }

    /// Sets (or replaces) one of computer `id`'s credentials.
    pub fn set_credential(
        &mut self,
        id: ComputerId,
        kind: CredentialKind,
        credential: Credential,
    ) -> Result<(), UnknownComputer> {
        let c = self.get_mut(id)?;
        match kind {
            CredentialKind::Agent => c.agent_credential = Some(credential),
            CredentialKind::Share => c.share_credential = Some(credential),
        }
        Ok(())
    }

    /// Whether `presented` is computer `id`'s credential of this kind (constant
    /// time). An unknown computer or an unset credential never verifies.
    pub fn verify(&self, id: ComputerId, kind: CredentialKind, presented: &[u8]) -> bool {
        self.get(id)
            .and_then(|c| c.credential(kind))
            .is_some_and(|cred| cred.verify(presented))
    }

    /// Every UUID warning so far, each distinct one once, in the order first seen.
    pub fn warnings(&self) -> &[IdentityWarning] {
        &self.warnings
    }

    /// Warnings first recorded since the last call.
    pub(crate) fn take_fresh_warnings(&mut self) -> Vec<IdentityWarning> {
        std::mem::take(&mut self.fresh)
    }

    fn check_uuid(
        &mut self,
        now: Instant,
        mac: Mac,
        uuid: Option<SmbiosUuid>,
    ) -> Vec<IdentityWarning> {
        let Some(uuid) = uuid else {
            return Vec::new();
        };
        let kind = if uuid.is_all_zero() {
            Some(WarningKind::ZeroUuid)
        } else if uuid.is_all_ff() {
            Some(WarningKind::FfUuid)
        } else {
            self.list
                .iter()
                .find(|c| c.uuid == Some(uuid) && c.mac != mac)
                .map(|c| WarningKind::SharedUuid { other: c.id })
        };
        let Some(kind) = kind else {
            return Vec::new();
        };
        let warning = IdentityWarning {
            at: now,
            mac,
            uuid,
            kind,
        };
        let seen = self
            .warnings
            .iter()
            .any(|w| w.mac == mac && w.uuid == uuid && w.kind == kind);
        if !seen {
            self.warnings.push(warning.clone());
            self.fresh.push(warning.clone());
        }
        vec![warning]
    }
}
