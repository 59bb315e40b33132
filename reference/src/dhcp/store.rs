//! Where acknowledged leases are kept so that a restart (even `kill -9`) never
//! hands an acknowledged, unexpired address to another client.
//!
//! Only acknowledged leases are stored. Offers are not: RFC 2131 §3.1 has a
//! client that gets no DHCPACK retransmit its REQUEST and, failing that, start over
//! with DISCOVER, so an offer a crash forgets costs one retry, never a duplicate
//! address.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::Mac;

/// An acknowledged lease as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The address.
    pub addr: Ipv4Addr,
    /// The client it is leased to.
    pub mac: Mac,
    /// Expiry, in seconds since the Unix epoch (see `DhcpConfig::unix_time_at_start`).
    pub expires_unix: u64,
}

/// A lease store failure.
///
/// Like every error in this crate, the message carries its cause and is not also
/// chained as a `source`, so a report that prints the chain says each thing once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The redb database failed (disk full, I/O error, ...).
    #[error("lease database: {0}")]
    Database(redb::Error),
    /// Another process holds the file: two servers must not share leases.
    #[error(
        "the lease file is open in another process (another pxelab serving from the same \
         directory? give each server its own `lease_store` in --config)"
    )]
    InUse,
    /// A stored record has the wrong size: the file was written by something else.
    #[error("lease database record for {addr} is {len} bytes, expected {LEASE_RECORD_LEN}")]
    CorruptRecord {
        /// The record's address.
        addr: Ipv4Addr,
        /// Its length.
        len: usize,
    },
    /// Any other backend failure (custom stores, tests).
    #[error("lease store: {0}")]
    Other(String),
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::DatabaseAlreadyOpen => StoreError::InUse,
            e => StoreError::Database(e),
        }
    }
}

/// One change to the stored leases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseChange {
    /// Store the lease, replacing any lease of the same address (DHCPACK).
    Put(Lease),
    /// Forget the lease of this address (RELEASE, DECLINE); absent is not an error.
    Remove(Ipv4Addr),
}

/// Durable lease storage.
///
/// Changes come in batches: the server collects the leases of every REQUEST it
/// handled since it last sent anything and applies them in one call (group
/// commit), so one fsync covers a burst of clients instead of one each. `apply`
/// must not return `Ok` before every change in the batch survives a crash, and a
/// failed batch must leave none of them applied: the server sends the batch's
/// DHCPACKs only after `apply` returned `Ok`, and none if it failed.
pub trait LeaseStore: Send {
    /// Every stored lease (expired ones included; the server skips them).
    fn load(&self) -> Result<Vec<Lease>, StoreError>;
    /// Applies `changes` in order, all or none.
    fn apply(&mut self, changes: &[LeaseChange]) -> Result<(), StoreError>;
}

/// Leases in memory only: for the simulator and for servers run without a lease
/// file. A restart forgets everything.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    leases: BTreeMap<Ipv4Addr, Lease>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl LeaseStore for MemoryStore {
    fn load(&self) -> Result<Vec<Lease>, StoreError> {
        Ok(self.leases.values().copied().collect())
    }
    fn apply(&mut self, changes: &[LeaseChange]) -> Result<(), StoreError> {
        for change in changes {
            match change {
                LeaseChange::Put(lease) => self.leases.insert(lease.addr, *lease),
                LeaseChange::Remove(addr) => self.leases.remove(addr),
            };
        }
        Ok(())
    }
}

/// Address (u32) → MAC (6 bytes) + expiry (u64 big-endian Unix seconds).
const LEASES: TableDefinition<u32, &[u8]> = TableDefinition::new("leases");
const LEASE_RECORD_LEN: usize = 14;

/// Leases in a redb file. Each batch is one write transaction, committed with
/// redb's default `Durability::Immediate` (fsync before `commit` returns), which is
/// what makes "acknowledged only after durable" true; redb's transactions make a
/// batch all or none.
pub struct RedbStore {
    db: Database,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens the lease file at `path`, creating it when absent.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(redb::Error::from)?;
        let txn = db.begin_write().map_err(redb::Error::from)?;
        txn.open_table(LEASES).map_err(redb::Error::from)?;
        txn.commit().map_err(redb::Error::from)?;
        Ok(RedbStore { db })
    }
}

fn encode(lease: &Lease) -> [u8; LEASE_RECORD_LEN] {
    let mut v = [0u8; LEASE_RECORD_LEN];
    v[..6].copy_from_slice(&lease.mac.0);
    v[6..].copy_from_slice(&lease.expires_unix.to_be_bytes());
    v
}

fn decode(addr: u32, v: &[u8]) -> Result<Lease, StoreError> {
    let addr = Ipv4Addr::from(addr);
    let bad = || StoreError::CorruptRecord { addr, len: v.len() };
    let mac: [u8; 6] = v.get(..6).and_then(|m| m.try_into().ok()).ok_or_else(bad)?;
    let exp: [u8; 8] = v.get(6..).and_then(|e| e.try_into().ok()).ok_or_else(bad)?;
    Ok(Lease {
        addr,
        mac: Mac(mac),
        expires_unix: u64::from_be_bytes(exp),
    })
}

impl LeaseStore for RedbStore {
    fn load(&self) -> Result<Vec<Lease>, StoreError> {
        let txn = self.db.begin_read().map_err(redb::Error::from)?;
        let table = txn.open_table(LEASES).map_err(redb::Error::from)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(redb::Error::from)? {
            let (k, v) = row.map_err(redb::Error::from)?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    fn apply(&mut self, changes: &[LeaseChange]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(redb::Error::from)?;
        {
            let mut table = txn.open_table(LEASES).map_err(redb::Error::from)?;
            for change in changes {
                match change {
                    LeaseChange::Put(lease) => table
                        .insert(u32::from(lease.addr), encode(lease).as_slice())
                        .map(drop),
                    LeaseChange::Remove(addr) => table.remove(u32::from(*addr)).map(drop),
                }
                .map_err(redb::Error::from)?;
            }
        }
        txn.commit().map_err(redb::Error::from)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redb_store_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases.redb");
        let lease = Lease {
            addr: Ipv4Addr::new(10, 0, 0, 5),
            mac: Mac([2, 0, 0, 0, 0, 1]),
            expires_unix: 1_800_000_000,
        };
        {
            let mut s = RedbStore::open(&path).unwrap();
            s.apply(&[LeaseChange::Put(lease)]).unwrap();
            let other = Lease {
                addr: Ipv4Addr::new(10, 0, 0, 6),
                ..lease
            };
            // Applied in order: put then remove leaves nothing of `other`.
            s.apply(&[LeaseChange::Put(other), LeaseChange::Remove(other.addr)])
                .unwrap();
        }
        let s = RedbStore::open(&path).unwrap();
        assert_eq!(s.load().unwrap(), vec![lease]);
    }

    #[test]
    fn a_file_held_by_another_server_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases.redb");
        let _first = RedbStore::open(&path).unwrap();
        let e = RedbStore::open(&path).unwrap_err();
        assert!(matches!(e, StoreError::InUse), "{e:?}");
        assert!(e.to_string().contains("lease_store"), "{e}");
        assert!(
            std::error::Error::source(&e).is_none(),
            "the cause is in the message once"
        );
    }
}
