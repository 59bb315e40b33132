//! The TFTP root on a real directory.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::tftp::{BlockSource, FileRoot, OpenError, TftpPath};

/// A directory served over TFTP, read-only.
///
/// [`TftpPath`] already refuses `..` and absolute names; this adds the check only
/// the file system can make: the opened path is canonicalised (symlinks
/// resolved) and must still lie inside the canonicalised root, so a symlink in
/// the root pointing at `/etc` is refused with ERROR 2 rather than followed.
/// Symlinks that stay inside the root are served. Lookups are case-sensitive.
///
/// Residual race: a directory component swapped for a symlink between the check
/// and the open is not caught (the last component is, with `O_NOFOLLOW`); whoever
/// can write the root can already replace the boot files, so its writers are
/// trusted.
#[derive(Debug, Clone)]
pub struct DirRoot {
    root: PathBuf,
}

impl DirRoot {
    /// Serves `dir`, which must exist and be a directory.
    pub fn new(dir: impl AsRef<Path>) -> io::Result<DirRoot> {
        let root = dir.as_ref().canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("TFTP root {} is not a directory", root.display()),
            ));
        }
        Ok(DirRoot { root })
    }

    /// The canonical root directory.
    pub fn path(&self) -> &Path {
        &self.root
    }
}

impl FileRoot for DirRoot {
    fn open(&self, path: &TftpPath) -> Result<Box<dyn BlockSource>, OpenError> {
        let mut full = self.root.clone();
        full.extend(path.components());
        let real = match full.canonicalize() {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(OpenError::NotFound),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(OpenError::AccessViolation(format!(
                    "{path}: permission denied"
                )));
            }
            Err(e) => return Err(OpenError::Io(e)),
        };
        if !real.starts_with(&self.root) {
            return Err(OpenError::AccessViolation(format!(
                "{path} resolves outside the TFTP root"
            )));
        }
        // Checked before opening: opening a FIFO or a device could block the
        // driver or have side effects.
        if !std::fs::metadata(&real)?.is_file() {
            return Err(OpenError::AccessViolation(format!(
                "{path} is not a regular file"
            )));
        }
        // O_NOFOLLOW: the canonical path had no symlinks a moment ago; refuse one
        // swapped in as the last component since. O_NONBLOCK: a FIFO swapped in
        // must not block the open.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
            .open(&real)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => OpenError::NotFound,
                io::ErrorKind::PermissionDenied => {
                    OpenError::AccessViolation(format!("{path}: permission denied"))
                }
                _ => OpenError::Io(e),
            })?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(OpenError::AccessViolation(format!(
                "{path} is not a regular file"
            )));
        }
        Ok(Box::new(FileSource {
            file,
            len: meta.len(),
            ahead: Vec::new(),
            ahead_at: 0,
        }))
    }
}

/// Bytes read ahead per transfer.
///
/// A lockstep transfer asks for one block per round trip; reading each from the
/// file costs a system call as large as the rest of the round trip's work (a
/// quarter of the server's system time at blksize 1468). Reading 64 KiB at a time
/// makes that one call per 44 blocks, for 64 KiB of memory per transfer in
/// progress. Blocks of more than half of it are read directly.
const READ_AHEAD: usize = 64 << 10;

struct FileSource {
    file: File,
    len: u64,
    /// File bytes from `ahead_at` on, as last read.
    ahead: Vec<u8>,
    ahead_at: u64,
}

impl BlockSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if buf.len() > READ_AHEAD / 2 {
            return self.file.read_at(buf, offset);
        }
        let cached = offset
            .checked_sub(self.ahead_at)
            .and_then(|skip| usize::try_from(skip).ok())
            .filter(|&skip| skip + buf.len() <= self.ahead.len());
        let skip = match cached {
            Some(skip) => skip,
            None => {
                self.ahead.resize(READ_AHEAD, 0);
                let n = self.file.read_at(&mut self.ahead, offset)?;
                self.ahead.truncate(n);
                self.ahead_at = offset;
                0
            }
        };
        let n = buf.len().min(self.ahead.len() - skip);
        buf[..n].copy_from_slice(&self.ahead[skip..skip + n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the order and size of the reads (a window re-sent from its
    /// start, blocks larger than the read-ahead, the short last block), the
    /// bytes are the file's.
    #[test]
    fn read_ahead_returns_the_file_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 253) as u8).collect();
        std::fs::write(dir.path().join("f"), &data).unwrap();
        let root = DirRoot::new(dir.path()).unwrap();
        let mut f = root.open(&TftpPath::parse("f").unwrap()).unwrap();
        let mut check = |offset: usize, len: usize| {
            let mut buf = vec![0u8; len];
            let n = f.read_at(offset as u64, &mut buf).unwrap();
            let end = data.len().min(offset + len);
            assert_eq!(&buf[..n], &data[offset..end], "{len} bytes at {offset}");
            assert!(n > 0 || offset >= data.len());
        };
        for block in 0..100 {
            check(block * 1468, 1468);
        }
        check(10 * 1468, 1468); // back to a re-sent window's start
        check(0, 65_464); // larger than half the read-ahead
        check(299_000, 1468); // the short last block
        check(300_000, 512); // past the end
    }

    #[test]
    fn serves_inside_and_refuses_escapes() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"no").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("boot")).unwrap();
        std::fs::write(dir.path().join("boot/bcd"), b"hello").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("escape"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("outdir")).unwrap();
        std::os::unix::fs::symlink("boot/bcd", dir.path().join("alias")).unwrap();
        let root = DirRoot::new(dir.path()).unwrap();

        let mut f = root.open(&TftpPath::parse("boot\\bcd").unwrap()).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!((f.len(), f.read_at(1, &mut buf).unwrap()), (5, 4));
        assert_eq!(&buf[..4], b"ello");
        assert_eq!(
            root.open(&TftpPath::parse("alias").unwrap()).unwrap().len(),
            5
        );

        for bad in ["escape", "outdir/secret", "boot"] {
            let e = root.open(&TftpPath::parse(bad).unwrap()).err().unwrap();
            assert!(matches!(e, OpenError::AccessViolation(_)), "{bad}: {e}");
        }
        assert!(matches!(
            root.open(&TftpPath::parse("missing").unwrap()),
            Err(OpenError::NotFound)
        ));
    }
}
