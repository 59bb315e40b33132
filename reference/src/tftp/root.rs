//! Where served files come from.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use super::path::TftpPath;
use crate::wire::tftp::ErrorCode;

/// A tree of files a TFTP server may serve. The server never touches the file
/// system itself: the driver hands it a real directory
/// ([`crate::driver::fs::DirRoot`]), tests and the simulator a [`MemoryRoot`].
pub trait FileRoot {
    /// Opens `path` for reading.
    fn open(&self, path: &TftpPath) -> Result<Box<dyn BlockSource>, OpenError>;
}

/// An opened file, read a block at a time so a session never holds more than a
/// little of it in memory (many concurrent sessions, multi-GiB boot images): a
/// block, plus what the source reads ahead (the driver's files: 64 KiB).
pub trait BlockSource: Send {
    /// The file's size when it was opened; `tsize` reports it and the transfer
    /// ends after it.
    fn len(&self) -> u64;
    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads up to `buf.len()` bytes at `offset`; 0 only at the end.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
}

/// Why a file cannot be opened; maps onto the TFTP error a client sees.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No such file (ERROR 1).
    #[error("file not found")]
    NotFound,
    /// Exists but may not be served: outside the root, not a regular file, no
    /// permission (ERROR 2).
    #[error("access violation: {0}")]
    AccessViolation(String),
    /// Any other I/O failure (ERROR 0 with the text).
    #[error("cannot open: {0}")]
    Io(io::Error),
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        OpenError::Io(e)
    }
}

impl OpenError {
    /// The TFTP error code a client is sent.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            OpenError::NotFound => ErrorCode::FileNotFound,
            OpenError::AccessViolation(_) => ErrorCode::AccessViolation,
            OpenError::Io(_) => ErrorCode::NotDefined,
        }
    }
}

/// Files held in memory, by `/`-separated name (case-sensitive), for tests and the
/// simulator. Cloning shares the contents.
#[derive(Debug, Clone, Default)]
pub struct MemoryRoot {
    files: BTreeMap<String, Arc<[u8]>>,
}

impl MemoryRoot {
    /// An empty root.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a file; `name` uses `/` separators (`boot/bcd`).
    pub fn insert(&mut self, name: impl Into<String>, contents: impl Into<Arc<[u8]>>) {
        self.files.insert(name.into(), contents.into());
    }

    /// Builder form of [`MemoryRoot::insert`].
    pub fn with(mut self, name: impl Into<String>, contents: impl Into<Arc<[u8]>>) -> Self {
        self.insert(name, contents);
        self
    }
}

impl FileRoot for MemoryRoot {
    fn open(&self, path: &TftpPath) -> Result<Box<dyn BlockSource>, OpenError> {
        let data = self
            .files
            .get(&path.as_slash_path())
            .ok_or(OpenError::NotFound)?;
        Ok(Box::new(MemorySource(Arc::clone(data))))
    }
}

struct MemorySource(Arc<[u8]>);

impl BlockSource for MemorySource {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.0.len());
        let n = buf.len().min(self.0.len() - start);
        buf[..n].copy_from_slice(&self.0[start..start + n]);
        Ok(n)
    }
}
