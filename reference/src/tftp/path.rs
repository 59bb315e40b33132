//! Requested file names, confined to the TFTP root.

use std::fmt;

/// A requested file name made safe to look up under a root: relative, no `..`,
/// no NUL, no empty name.
///
/// `\` is a separator as well as `/`, because Windows boot files ask for
/// `boot\bcd` and `\Boot\x64\wdsmgfw.efi` (WDS, wdsnbp). A request is refused
/// (the server answers ERROR 2, access violation) rather than "cleaned up" when
/// it is absolute (a leading `/` or `\`, or a drive letter such as `C:`) or names a
/// `..` component: such a client is asking for something outside the root, and
/// silently serving a different file would hide a misconfiguration. Empty and `.`
/// components (`a//b`, `./a`) are dropped, as a shell would.
///
/// Case is kept as requested: lookups are case-sensitive wherever the
/// [`FileRoot`](super::FileRoot) is (a Linux directory is). Keep boot files in the
/// case clients ask for, or give clients names in lower case.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TftpPath {
    components: Vec<String>,
}

/// Why a requested name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Nothing left after dropping separators and `.`.
    #[error("empty file name")]
    Empty,
    /// A NUL inside the name.
    #[error("file name contains NUL")]
    Nul,
    /// Starts with `/`, `\` or a drive letter.
    #[error("absolute path {0:?}: names are relative to the TFTP root")]
    Absolute(String),
    /// Has a `..` component.
    #[error("path {0:?} leaves the TFTP root ('..')")]
    Traversal(String),
}

impl TftpPath {
    /// Checks and splits a requested file name.
    pub fn parse(requested: &str) -> Result<TftpPath, PathError> {
        if requested.contains('\0') {
            return Err(PathError::Nul);
        }
        if requested.starts_with(['/', '\\']) || has_drive_letter(requested) {
            return Err(PathError::Absolute(requested.to_string()));
        }
        let mut components = Vec::new();
        for part in requested.split(['/', '\\']) {
            match part {
                "" | "." => {}
                ".." => return Err(PathError::Traversal(requested.to_string())),
                // `./C:/x` is as absolute as `C:/x` once `.` is dropped.
                other if components.is_empty() && has_drive_letter(other) => {
                    return Err(PathError::Absolute(requested.to_string()));
                }
                other => components.push(other.to_string()),
            }
        }
        if components.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(TftpPath { components })
    }

    /// The components, in order (never empty, never `.` or `..`).
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.components.iter().map(String::as_str)
    }

    /// `/`-joined, e.g. `boot/bcd` for a request of `boot\bcd`.
    pub fn as_slash_path(&self) -> String {
        self.components.join("/")
    }
}

fn has_drive_letter(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

impl fmt::Display for TftpPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_slash_path())
    }
}

impl fmt::Debug for TftpPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TftpPath({:?})", self.as_slash_path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_windows_and_unix_separators() {
        assert_eq!(
            TftpPath::parse("boot\\bcd").unwrap().as_slash_path(),
            "boot/bcd"
        );
        assert_eq!(
            TftpPath::parse("pxelinux.cfg/default")
                .unwrap()
                .as_slash_path(),
            "pxelinux.cfg/default"
        );
        assert_eq!(
            TftpPath::parse("./a//b\\.\\c").unwrap().as_slash_path(),
            "a/b/c"
        );
        assert_eq!(
            TftpPath::parse("Boot\\BCD").unwrap().as_slash_path(),
            "Boot/BCD"
        );
    }

    #[test]
    fn refuses_escapes() {
        for bad in [
            "../etc/passwd",
            "a/../../b",
            "a\\..\\b",
            "..",
            "/etc/passwd",
            "\\boot\\bcd",
            "C:\\x",
            "c:x",
        ] {
            assert!(TftpPath::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(TftpPath::parse("a\0b"), Err(PathError::Nul));
        assert_eq!(TftpPath::parse(""), Err(PathError::Empty));
        assert_eq!(TftpPath::parse("./"), Err(PathError::Empty));
        // A name that merely contains dots is fine.
        assert!(TftpPath::parse("a..b/...").is_ok());
    }

    /// Found by `fuzz/` (target `tftp_packet`): a drive letter behind `./` or
    /// `.\` was accepted, and the accepted path's own slash form (`b:/x`) is one
    /// `parse` refuses.
    #[test]
    fn refuses_drive_letter_behind_dot() {
        for bad in ["./b:/x", ".\\C:\\x", ".//c:x"] {
            assert!(
                matches!(TftpPath::parse(bad), Err(PathError::Absolute(_))),
                "{bad}"
            );
        }
        let p = TftpPath::parse("./a/c:x").unwrap();
        assert_eq!(TftpPath::parse(&p.as_slash_path()), Ok(p));
    }
}
