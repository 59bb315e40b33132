//! The agent protocol (`wire::agent`): `FrameDecoder` fed arbitrary bytes in
//! pieces, and `AgentMessage::parse` on the same bytes.
//!
//! Input: one configuration byte, then the stream. Bit 0 picks the parse mode
//! (1 strict); bits 1..=7 pick the piece sizes the stream is pushed in.
//!
//! Checks, beyond "never panics":
//! - the decoder's output does not depend on how the stream was split (pieces vs.
//!   everything at once);
//! - the push/next loop always makes progress and never buffers more than a frame;
//! - a fatal (framing) error is the last thing a decoder says;
//! - every decoded message re-emits to a frame that parses strictly to itself, and
//!   re-emitting is a fix point.

use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::agent::{AgentError, AgentMessage, FrameDecoder, MAX_FRAME_LEN};

/// Piece sizes, cycled; bits 1..=7 of the configuration byte pick where to start.
const SIZES: [usize; 8] = [1, 2, 3, 7, 8, 9, 64, 4096];

fn decode(
    stream: &[u8],
    mode: ParseMode,
    sizes: &mut dyn Iterator<Item = usize>,
) -> Vec<Result<AgentMessage, AgentError>> {
    let mut dec = FrameDecoder::new(mode);
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(1).clamp(1, rest.len());
        let mut piece = &rest[..n];
        rest = &rest[n..];
        while !piece.is_empty() {
            let taken = dec.push(piece);
            piece = &piece[taken..];
            let before = out.len();
            while let Some(r) = dec.next() {
                out.push(r);
            }
            assert!(
                taken > 0 || out.len() > before,
                "push/next made no progress"
            );
            assert!(
                dec.buffered() <= MAX_FRAME_LEN,
                "buffered more than one frame"
            );
        }
    }
    if let Some(i) = out
        .iter()
        .position(|r| r.as_ref().is_err_and(AgentError::is_fatal))
    {
        assert_eq!(i + 1, out.len(), "output after a fatal error");
        assert!(dec.is_dead());
    }
    out
}

fn round_trip(m: &AgentMessage) {
    let e1 = match m.to_bytes() {
        Ok(e) => e,
        Err(e) => panic!("a parsed message does not re-emit: {e}"),
    };
    assert_eq!(e1.len(), m.encoded_len());
    let m2 = match AgentMessage::parse(&e1, ParseMode::Strict) {
        Ok(m2) => m2,
        Err(e) => panic!("emit of a parsed message does not parse strictly: {e}"),
    };
    assert_eq!(&m2, m, "parse(emit(m)) != m");
    assert_eq!(m2.to_bytes().ok(), Some(e1), "emit is not a fix point");
}

/// The `agent` target's body, shared by the libFuzzer binary and the smoke runner.
pub fn agent(data: &[u8]) {
    let Some((&cfg, stream)) = data.split_first() else {
        return;
    };
    let mode = if cfg & 1 == 1 {
        ParseMode::Strict
    } else {
        ParseMode::Lax
    };
    let start = usize::from(cfg >> 1);
    let mut sizes = SIZES.iter().copied().cycle().skip(start % SIZES.len());
    let pieces = decode(stream, mode, &mut sizes);
    let whole = decode(stream, mode, &mut std::iter::repeat(usize::MAX));
    assert_eq!(
        pieces, whole,
        "decoding depends on how the stream was split"
    );
    for m in pieces.iter().flatten() {
        round_trip(m);
        if let AgentMessage::ImageChunk(c) = m {
            let _ = c.verify();
        }
        let _ = (m.name(), m.msg_type());
    }
    for mode in [ParseMode::Strict, ParseMode::Lax] {
        if let Ok(m) = AgentMessage::parse(stream, mode) {
            round_trip(&m);
        }
    }
}
