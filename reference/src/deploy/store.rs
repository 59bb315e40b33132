//! Where job state is kept, so that a restart of the Deployment Server (even
//! after `kill -9`) neither forgets a job an agent was told about nor undoes a
//! state the server acknowledged.
//!
//! The server commits each change of a job to its [`JobStore`] before it lets
//! anything depend on it (see [`DeploymentServer`](super::DeploymentServer),
//! "Durable job state"). The simulator and tests use [`MemoryJobStore`]; the
//! real server a [`RedbJobStore`] file.
//!
//! What is stored is the job's life, not its configuration: its id, what
//! identifies it across restarts ([`JobKey`]), its state, failed attempts, and
//! history. Post-configuration and credentials stay in the config file, which is
//! read again at every start.

use std::collections::BTreeMap;
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::{Instant, Mac};

use super::job::{HistoryEntry, JobId, JobKind, JobState};

/// What makes a job the same job across restarts: the computer's MAC, what the
/// job does, and which of that computer's jobs of that same kind it is (0 for
/// the first, in scheduling order).
///
/// - The MAC, because it is what the registry matches a computer on; its name
///   may be edited and its `ComputerId` is a registration number that follows
///   the order of the config.
/// - The kind with its parameters (image, OS, script), because that is what the
///   job does: a job edited to deploy another image is another job, and starts
///   fresh.
/// - The ordinal, to tell apart the same job scheduled twice for one computer.
///
/// Moving jobs around in the config, or adding jobs for other computers or of
/// other kinds, changes no key. A [`JobId`] is not a key: it is the number the
/// server gave the job when it first scheduled it, stored with it and kept
/// across restarts, so an id an agent holds never comes to mean another job.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobKey {
    /// The computer's MAC.
    pub mac: Mac,
    /// What the job does.
    pub kind: JobKind,
    /// Which of the computer's jobs of this kind (0 for the first).
    pub ordinal: u32,
}

/// A job as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredJob {
    /// Its id.
    pub id: JobId,
    /// What identifies it across restarts.
    pub key: JobKey,
    /// Its state.
    pub state: JobState,
    /// Attempts that failed so far.
    pub failed_attempts: u32,
    /// Whether Bootworks finished its part of the current attempt.
    pub pre_os_done: bool,
    /// Every step, oldest first. Times are since the start of the run that
    /// recorded each step.
    pub history: Vec<HistoryEntry>,
}

/// One change to a stored job: its state now, and the history entries it
/// gained since its last change (history is only ever appended to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobChange {
    /// The job.
    pub id: JobId,
    /// What identifies it across restarts.
    pub key: JobKey,
    /// Its state.
    pub state: JobState,
    /// Attempts that failed so far.
    pub failed_attempts: u32,
    /// Whether Bootworks finished its part of the current attempt.
    pub pre_os_done: bool,
    /// The index in the job's history of the first of `history`: the number
    /// of entries already stored (0 for a job that is new).
    pub history_from: u32,
    /// The entries added.
    pub history: Vec<HistoryEntry>,
}

/// A job store failure.
///
/// As in the rest of this crate, the message carries its cause and is not also
/// chained as a `source`, so a report that prints the chain says each thing once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobStoreError {
    /// The redb database failed (disk full, I/O error, not a redb file, ...).
    #[error("job database: {0}")]
    Database(redb::Error),
    /// Another process holds the file.
    #[error(
        "the job store file is open in another process (another Deployment Server with the \
         same config?): give each Deployment Server its own job store"
    )]
    InUse,
    /// A stored record cannot be read: the file was damaged or written by
    /// something else.
    #[error("job database record of job {id}: {why}")]
    Corrupt {
        /// The job's id as stored.
        id: u32,
        /// What is wrong with it.
        why: String,
    },
    /// A change does not continue the job's stored history (a gap or an
    /// overlap): applying it would lose or duplicate history.
    #[error(
        "{job}: the change starts at history entry {from} but the store holds {stored}; \
         nothing was written"
    )]
    OutOfStep {
        /// The job.
        job: JobId,
        /// Where the change starts.
        from: u32,
        /// How many entries the store holds.
        stored: u32,
    },
    /// Any other backend failure (custom stores, tests).
    #[error("job store: {0}")]
    Other(String),
}

impl From<redb::Error> for JobStoreError {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::DatabaseAlreadyOpen => JobStoreError::InUse,
            e => JobStoreError::Database(e),
        }
    }
}

/// Durable job storage.
///
/// `apply` must not return `Ok` before every change in the batch survives a
/// crash, and a failed batch must leave none of them applied: the server
/// reports and acts on a change only after `apply` returned `Ok`, and undoes it
/// in memory when it failed.
pub trait JobStore: Send {
    /// Every stored job, by id.
    fn load(&self) -> Result<Vec<StoredJob>, JobStoreError>;
    /// Applies `changes` in order, all or none.
    fn apply(&mut self, changes: &[JobChange]) -> Result<(), JobStoreError>;
}

/// Jobs in memory only: for the simulator, tests, and servers that need no
/// durability. A restart forgets everything, unless the store itself is handed
/// to the next server (see `DeploymentServer::into_store`), which is how tests
/// play a crash.
#[derive(Debug, Default, Clone)]
pub struct MemoryJobStore {
    jobs: BTreeMap<JobId, StoredJob>,
}

impl MemoryJobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl JobStore for MemoryJobStore {
    fn load(&self) -> Result<Vec<StoredJob>, JobStoreError> {
        Ok(self.jobs.values().cloned().collect())
    }

    fn apply(&mut self, changes: &[JobChange]) -> Result<(), JobStoreError> {
        // Check the whole batch first, so a bad change leaves nothing applied.
        let mut lengths: BTreeMap<JobId, u32> = BTreeMap::new();
        for c in changes {
            let stored = *lengths.entry(c.id).or_insert_with(|| {
                self.jobs
                    .get(&c.id)
                    .map_or(0, |j| u32::try_from(j.history.len()).unwrap_or(u32::MAX))
            });
            if c.history_from != stored {
                return Err(JobStoreError::OutOfStep {
                    job: c.id,
                    from: c.history_from,
                    stored,
                });
            }
            lengths.insert(c.id, stored.saturating_add(len_u32(&c.history)));
        }
        for c in changes {
            let job = self.jobs.entry(c.id).or_insert_with(|| StoredJob {
                id: c.id,
                key: c.key.clone(),
                state: c.state.clone(),
                failed_attempts: 0,
                pre_os_done: false,
                history: Vec::new(),
            });
            job.key = c.key.clone();
            job.state = c.state.clone();
            job.failed_attempts = c.failed_attempts;
            job.pre_os_done = c.pre_os_done;
            job.history.extend(c.history.iter().cloned());
        }
        Ok(())
    }
}

fn len_u32<T>(v: &[T]) -> u32 {
    u32::try_from(v.len()).unwrap_or(u32::MAX)
}

/// Job id → the job's record (see [`encode_job`]).
const JOBS: TableDefinition<u32, &[u8]> = TableDefinition::new("jobs");
/// (job id, index) → one history entry (see [`encode_entry`]). Kept apart from
/// the job so that a change writes only the entries it adds, not the whole
/// history again.
const HISTORY: TableDefinition<(u32, u32), &[u8]> = TableDefinition::new("job_history");

/// The record layout's version, first byte of every job record.
const RECORD_VERSION: u8 = 1;

/// Jobs in a redb file. Each batch is one write transaction, committed with
/// redb's default `Durability::Immediate` (fsync before `commit` returns), which
/// is what makes "acknowledged only once durable" true; redb's transactions
/// make a batch all or none.
pub struct RedbJobStore {
    db: Database,
}

impl std::fmt::Debug for RedbJobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbJobStore").finish_non_exhaustive()
    }
}

impl RedbJobStore {
    /// Opens the job file at `path`, creating it when absent.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JobStoreError> {
        let db = Database::create(path).map_err(redb::Error::from)?;
        let txn = db.begin_write().map_err(redb::Error::from)?;
        txn.open_table(JOBS).map_err(redb::Error::from)?;
        txn.open_table(HISTORY).map_err(redb::Error::from)?;
        txn.commit().map_err(redb::Error::from)?;
        Ok(RedbJobStore { db })
    }
}

impl JobStore for RedbJobStore {
    fn load(&self) -> Result<Vec<StoredJob>, JobStoreError> {
        let txn = self.db.begin_read().map_err(redb::Error::from)?;
        let jobs = txn.open_table(JOBS).map_err(redb::Error::from)?;
        let history = txn.open_table(HISTORY).map_err(redb::Error::from)?;
        let mut out = Vec::new();
        for row in jobs.iter().map_err(redb::Error::from)? {
            let (k, v) = row.map_err(redb::Error::from)?;
            let id = k.value();
            let corrupt = |why: String| JobStoreError::Corrupt { id, why };
            let (mut job, len) = decode_job(id, v.value()).map_err(corrupt)?;
            for entry in history
                .range((id, 0)..(id, len))
                .map_err(redb::Error::from)?
            {
                let (k, v) = entry.map_err(redb::Error::from)?;
                let (_, index) = k.value();
                if index != len_u32(&job.history) {
                    return Err(corrupt(format!("history entry {index} is out of order")));
                }
                job.history.push(
                    decode_entry(v.value())
                        .map_err(|why| corrupt(format!("history entry {index}: {why}")))?,
                );
            }
            if len_u32(&job.history) != len {
                return Err(corrupt(format!(
                    "the record says {len} history entries, the store holds {}",
                    job.history.len()
                )));
            }
            out.push(job);
        }
        Ok(out)
    }

    fn apply(&mut self, changes: &[JobChange]) -> Result<(), JobStoreError> {
        let txn = self.db.begin_write().map_err(redb::Error::from)?;
        {
            let mut jobs = txn.open_table(JOBS).map_err(redb::Error::from)?;
            let mut history = txn.open_table(HISTORY).map_err(redb::Error::from)?;
            for c in changes {
                let stored = match jobs.get(c.id.0).map_err(redb::Error::from)? {
                    Some(v) => {
                        decode_job(c.id.0, v.value())
                            .map_err(|why| JobStoreError::Corrupt { id: c.id.0, why })?
                            .1
                    }
                    None => 0,
                };
                if c.history_from != stored {
                    // Dropping the transaction aborts it: nothing is written.
                    return Err(JobStoreError::OutOfStep {
                        job: c.id,
                        from: c.history_from,
                        stored,
                    });
                }
                for (i, entry) in c.history.iter().enumerate() {
                    let index = stored.saturating_add(u32::try_from(i).unwrap_or(u32::MAX));
                    history
                        .insert((c.id.0, index), encode_entry(entry).as_slice())
                        .map_err(redb::Error::from)?;
                }
                let len = stored.saturating_add(len_u32(&c.history));
                jobs.insert(c.id.0, encode_job(c, len).as_slice())
                    .map_err(redb::Error::from)?;
            }
        }
        txn.commit().map_err(redb::Error::from)?;
        Ok(())
    }
}

// ------------------------------------------------------------------- records
//
// Job record:     version u8 = 1 | mac 6 | kind | ordinal u32 | state
//                 | failed_attempts u32 | pre_os_done u8 | history_len u32
// History entry:  at u64 (ns since its run's start) | state | note str
// kind:           u8 1 deploy-image str | 2 capture-image str
//                 | 3 scripted-install str | 4 run-script str | 5 boot-to-production
// state:          u8 1 scheduled | 2 armed | 3 running | 4 succeeded | 5 failed str
// str:            u32 length | UTF-8 bytes
// Integers are big-endian. Bytes left after the last field are an error.

fn encode_job(c: &JobChange, history_len: u32) -> Vec<u8> {
    let mut w = Vec::new();
    w.push(RECORD_VERSION);
    w.extend_from_slice(&c.key.mac.0);
    put_kind(&mut w, &c.key.kind);
    w.extend_from_slice(&c.key.ordinal.to_be_bytes());
    put_state(&mut w, &c.state);
    w.extend_from_slice(&c.failed_attempts.to_be_bytes());
    w.push(u8::from(c.pre_os_done));
    w.extend_from_slice(&history_len.to_be_bytes());
    w
}

/// The job (history still empty) and how many history entries it has.
fn decode_job(id: u32, v: &[u8]) -> Result<(StoredJob, u32), String> {
    let mut r = Reader(v);
    let version = r.u8()?;
    if version != RECORD_VERSION {
        return Err(format!(
            "record version {version}, this server reads version {RECORD_VERSION}"
        ));
    }
    let mac = Mac(r.array::<6>()?);
    let kind = r.kind()?;
    let ordinal = r.u32()?;
    let state = r.state()?;
    let failed_attempts = r.u32()?;
    let pre_os_done = match r.u8()? {
        0 => false,
        1 => true,
        b => return Err(format!("pre-OS flag {b} is neither 0 nor 1")),
    };
    let len = r.u32()?;
    r.end()?;
    Ok((
        StoredJob {
            id: JobId(id),
            key: JobKey { mac, kind, ordinal },
            state,
            failed_attempts,
            pre_os_done,
            history: Vec::new(),
        },
        len,
    ))
}

fn encode_entry(e: &HistoryEntry) -> Vec<u8> {
    let mut w = Vec::new();
    w.extend_from_slice(&e.at.as_nanos().to_be_bytes());
    put_state(&mut w, &e.state);
    put_str(&mut w, &e.note);
    w
}

fn decode_entry(v: &[u8]) -> Result<HistoryEntry, String> {
    let mut r = Reader(v);
    let at = Instant::from_nanos(r.u64()?);
    let state = r.state()?;
    let note = r.str()?;
    r.end()?;
    Ok(HistoryEntry { at, state, note })
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    // Names, scripts and notes are far below 4 GiB; a longer one is cut at a
    // character boundary rather than written with a wrong length.
    let mut end = s.len().min(u32::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    w.extend_from_slice(&(end as u32).to_be_bytes());
    w.extend_from_slice(&s.as_bytes()[..end]);
}

fn put_kind(w: &mut Vec<u8>, kind: &JobKind) {
    match kind {
        JobKind::DeployImage { image } => {
            w.push(1);
            put_str(w, image);
        }
        JobKind::CaptureImage { image_name } => {
            w.push(2);
            put_str(w, image_name);
        }
        JobKind::ScriptedInstall { os } => {
            w.push(3);
            put_str(w, os);
        }
        JobKind::RunScript { script } => {
            w.push(4);
            put_str(w, script);
        }
        JobKind::BootToProduction => w.push(5),
    }
}

fn put_state(w: &mut Vec<u8>, state: &JobState) {
    match state {
        JobState::Scheduled => w.push(1),
        JobState::Armed => w.push(2),
        JobState::Running => w.push(3),
        JobState::Succeeded => w.push(4),
        JobState::Failed { reason } => {
            w.push(5);
            put_str(w, reason);
        }
    }
}

/// A cursor over a record; every read is checked, nothing panics.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or_else(|| "the record ends early".to_string())?;
        self.0 = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn str(&mut self) -> Result<String, String> {
        let len = usize::try_from(self.u32()?).unwrap_or(usize::MAX);
        if len > self.0.len() {
            return Err(format!(
                "a text of {len} bytes where {} are left",
                self.0.len()
            ));
        }
        let (text, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(text.to_vec()).map_err(|_| "a text that is not UTF-8".to_string())
    }

    fn kind(&mut self) -> Result<JobKind, String> {
        Ok(match self.u8()? {
            1 => JobKind::DeployImage { image: self.str()? },
            2 => JobKind::CaptureImage {
                image_name: self.str()?,
            },
            3 => JobKind::ScriptedInstall { os: self.str()? },
            4 => JobKind::RunScript {
                script: self.str()?,
            },
            5 => JobKind::BootToProduction,
            t => return Err(format!("unknown job kind {t}")),
        })
    }

    fn state(&mut self) -> Result<JobState, String> {
        Ok(match self.u8()? {
            1 => JobState::Scheduled,
            2 => JobState::Armed,
            3 => JobState::Running,
            4 => JobState::Succeeded,
            5 => JobState::Failed {
                reason: self.str()?,
            },
            t => return Err(format!("unknown job state {t}")),
        })
    }

    fn end(&self) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(format!("{} bytes after the last field", self.0.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ordinal: u32) -> JobKey {
        JobKey {
            mac: Mac([2, 0, 0, 0, 0, 7]),
            kind: JobKind::DeployImage {
                image: "xp-sp2".into(),
            },
            ordinal,
        }
    }

    fn entry(secs: u64, state: JobState, note: &str) -> HistoryEntry {
        HistoryEntry {
            at: Instant::from_secs(secs),
            state,
            note: note.into(),
        }
    }

    /// Job 1 scheduled, armed, running, failed once and rescheduled (every
    /// field away from its default), as two changes.
    fn two_changes() -> (Vec<JobChange>, StoredJob) {
        let first = entry(0, JobState::Scheduled, "scheduled deploy-image xp-sp2");
        let more = vec![
            entry(
                5,
                JobState::Armed,
                "attempt 1: boot into the pre-OS environment set",
            ),
            entry(9, JobState::Running, "agent started the job"),
            entry(
                20,
                JobState::Failed {
                    reason: "drive mapping failed — ünïcode".into(),
                },
                "attempt 1 of 1 failed",
            ),
        ];
        let changes = vec![
            JobChange {
                id: JobId(1),
                key: key(0),
                state: JobState::Scheduled,
                failed_attempts: 0,
                pre_os_done: false,
                history_from: 0,
                history: vec![first.clone()],
            },
            JobChange {
                id: JobId(1),
                key: key(0),
                state: JobState::Failed {
                    reason: "drive mapping failed (gave up after 1 attempts)".into(),
                },
                failed_attempts: 1,
                pre_os_done: true,
                history_from: 1,
                history: more.clone(),
            },
        ];
        let mut history = vec![first];
        history.extend(more);
        let expected = StoredJob {
            id: JobId(1),
            key: key(0),
            state: changes[1].state.clone(),
            failed_attempts: 1,
            pre_os_done: true,
            history,
        };
        (changes, expected)
    }

    #[test]
    fn redb_store_round_trips_every_field_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.redb");
        let (changes, expected) = two_changes();
        {
            let mut s = RedbJobStore::open(&path).unwrap();
            s.apply(&changes[..1]).unwrap();
            s.apply(&changes[1..]).unwrap();
            let other = JobChange {
                id: JobId(7),
                key: JobKey {
                    mac: Mac([2, 0, 0, 0, 0, 8]),
                    kind: JobKind::BootToProduction,
                    ordinal: 3,
                },
                ..changes[0].clone()
            };
            s.apply(&[other]).unwrap();
        }
        let s = RedbJobStore::open(&path).unwrap();
        let loaded = s.load().unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0], expected);
        assert_eq!(loaded[1].id, JobId(7));
        assert_eq!(loaded[1].key.ordinal, 3);
        // The memory store keeps the same thing.
        let mut m = MemoryJobStore::new();
        m.apply(&changes).unwrap();
        assert_eq!(m.load().unwrap(), vec![expected]);
    }

    #[test]
    fn a_batch_with_one_bad_change_leaves_nothing_applied() {
        let (changes, _) = two_changes();
        // A good change for job 2, then one for job 1 that skips its first
        // history entry.
        let good = JobChange {
            id: JobId(2),
            key: key(1),
            ..changes[0].clone()
        };
        let batch = [good, changes[1].clone()];
        let dir = tempfile::tempdir().unwrap();
        let mut redb = RedbJobStore::open(dir.path().join("jobs.redb")).unwrap();
        let mut memory = MemoryJobStore::new();
        let stores: [&mut dyn JobStore; 2] = [&mut redb, &mut memory];
        for s in stores {
            let e = s.apply(&batch).unwrap_err();
            assert!(
                matches!(
                    e,
                    JobStoreError::OutOfStep {
                        job: JobId(1),
                        from: 1,
                        stored: 0
                    }
                ),
                "{e:?}"
            );
            assert_eq!(s.load().unwrap(), vec![], "nothing of the batch applied");
            // The same job twice in one batch chains its history.
            s.apply(&changes).unwrap();
            assert_eq!(s.load().unwrap().len(), 1);
        }
    }

    #[test]
    fn a_damaged_record_is_an_error_that_names_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.redb");
        let (changes, _) = two_changes();
        {
            let mut s = RedbJobStore::open(&path).unwrap();
            s.apply(&changes).unwrap();
        }
        for (what, record, why) in [
            ("cut short", vec![1u8, 2, 0], "ends early"),
            (
                "unknown kind",
                [&[1u8][..], &[2, 0, 0, 0, 0, 7], &[9]].concat(),
                "kind 9",
            ),
            ("version 2", vec![2u8; 40], "record version 2"),
        ] {
            {
                let db = Database::create(&path).unwrap();
                let txn = db.begin_write().unwrap();
                txn.open_table(JOBS)
                    .unwrap()
                    .insert(1, record.as_slice())
                    .unwrap();
                txn.commit().unwrap();
            }
            let e = RedbJobStore::open(&path).unwrap().load().unwrap_err();
            let text = e.to_string();
            assert!(
                text.contains("record of job 1") && text.contains(why),
                "{what}: {text}"
            );
        }
    }

    #[test]
    fn a_file_that_is_not_a_job_store_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.redb");
        std::fs::write(&path, b"[[job]]\ncomputer = \"wks-07\"\n").unwrap();
        let e = RedbJobStore::open(&path).unwrap_err();
        assert!(matches!(e, JobStoreError::Database(_)), "{e:?}");
    }

    #[test]
    fn a_file_held_by_another_server_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.redb");
        let _first = RedbJobStore::open(&path).unwrap();
        let e = RedbJobStore::open(&path).unwrap_err();
        assert!(matches!(e, JobStoreError::InUse), "{e:?}");
        assert!(e.to_string().contains("its own job store"), "{e}");
    }

    #[test]
    fn every_truncation_of_a_record_is_an_error() {
        let (changes, _) = two_changes();
        let real = encode_job(&changes[1], 4);
        for cut in 0..real.len() {
            assert!(decode_job(1, &real[..cut]).is_err());
        }
        assert!(decode_job(1, &real).is_ok());
        let entry = encode_entry(&changes[1].history[2]);
        for cut in 0..entry.len() {
            assert!(decode_entry(&entry[..cut]).is_err());
        }
    }

    fn any_state() -> impl proptest::strategy::Strategy<Value = JobState> {
        use proptest::prelude::*;
        prop_oneof![
            Just(JobState::Scheduled),
            Just(JobState::Armed),
            Just(JobState::Running),
            Just(JobState::Succeeded),
            any::<String>().prop_map(|reason| JobState::Failed { reason }),
        ]
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = decode_job(1, &bytes);
            let _ = decode_entry(&bytes);
        }

        #[test]
        fn entries_round_trip(nanos: u64, state in any_state(), note: String) {
            let e = HistoryEntry { at: Instant::from_nanos(nanos), state, note };
            proptest::prop_assert_eq!(decode_entry(&encode_entry(&e)), Ok(e));
        }
    }
}
