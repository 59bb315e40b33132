//! `TftpPacket::parse_with` on arbitrary bytes in both modes, and `TftpPath::parse`
//! on arbitrary file names.
//!
//! Checks, beyond "never panics": a parsed packet re-emits to bytes that parse
//! (same mode) to the same packet, and re-emitting that gives the same bytes; a
//! path that parses is relative, free of `..` and re-parses to itself from its
//! slash form (what the file root is opened with).

use pxelab_reference::tftp::TftpPath;
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::tftp::TftpPacket;

/// The `tftp_packet` target's body, shared by the libFuzzer binary and the smoke runner.
pub fn tftp_packet(data: &[u8]) {
    for mode in [ParseMode::Strict, ParseMode::Lax] {
        let Ok(p1) = TftpPacket::parse_with(data, mode) else {
            continue;
        };
        let _ = (p1.options(), p1.option("blksize"), p1.option("tsize"));
        let e1 = p1.to_bytes();
        let p2 = match TftpPacket::parse_with(&e1, mode) {
            Ok(p2) => p2,
            Err(e) => panic!("emit of a {mode:?}-parsed packet does not re-parse: {e}"),
        };
        assert_eq!(p2, p1, "parse(emit(p)) != p ({mode:?})");
        assert_eq!(p2.to_bytes(), e1, "emit is not a fix point ({mode:?})");
        if let TftpPacket::Rrq { filename, .. } = &p1 {
            path(filename);
        }
    }
    path(&String::from_utf8_lossy(data));
}

fn path(name: &str) {
    let Ok(p) = TftpPath::parse(name) else {
        return;
    };
    let slash = p.as_slash_path();
    assert!(
        !slash.starts_with('/'),
        "absolute path {slash:?} from {name:?}"
    );
    assert!(
        p.components()
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains(['/', '\\', '\0'])),
        "bad component in {p:?} from {name:?}"
    );
    assert_eq!(
        TftpPath::parse(&slash).as_ref(),
        Ok(&p),
        "slash form re-parse"
    );
    let _ = p.to_string();
}
