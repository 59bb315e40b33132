//! The agent protocol codec (`wire::agent`): every message round-trips, the golden
//! bytes pin the format, the stream decoder survives any input in any pieces, and
//! hostile headers are refused before anything is allocated for them.

use std::net::Ipv4Addr;

use proptest::prelude::*;
use pxelab_reference::Mac;
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::agent::{
    AGENT_PORT, AgentError, AgentKind, AgentMessage, CheckIn, ErrorCode, ErrorReport, FrameDecoder,
    FrameHeader, HEADER_LEN, Hello, ImageChunk, ImageRef, ImageRequest, JobKind, JobOffer,
    JobState, JobStatus, MAX_BODY_LEN, MAX_FRAME_LEN, PostConfig, RefuseReason, Refused, ShareRef,
    Welcome, crc32, msg_type,
};

const MODES: [ParseMode; 2] = [ParseMode::Strict, ParseMode::Lax];

fn frame(m: &AgentMessage) -> Vec<u8> {
    m.to_bytes().expect("message within limits")
}

/// Feeds `bytes` to `dec` in pieces of the given sizes (cycled), draining after
/// every push; returns everything `next` produced.
fn feed(
    dec: &mut FrameDecoder,
    bytes: &[u8],
    sizes: &[usize],
) -> Vec<Result<AgentMessage, AgentError>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut sizes = sizes.iter().copied().cycle();
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
                "decoder made no progress with {} bytes buffered",
                dec.buffered()
            );
        }
    }
    out
}

// ---- golden bytes: one message of each type --------------------------------

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn golden() -> Vec<(AgentMessage, Vec<u8>)> {
    vec![
        (
            AgentMessage::Hello(Hello {
                agent: AgentKind::Bootworks,
                version: 1,
                mac: Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56]),
                uuid: Some([0x11; 16]),
                computer_name: "LAB-01".into(),
                credential: vec![0xde, 0xad],
            }),
            hex("5058 01 01 00000025
                 02 01 525400123456 01 11111111111111111111111111111111
                 0006 4c41422d3031 0002 dead"),
        ),
        (
            AgentMessage::Welcome(Welcome { computer_id: 7 }),
            hex("5058 01 02 00000008 0000000000000007"),
        ),
        (
            AgentMessage::Refused(Refused {
                reason: RefuseReason::BadCredential,
                text: "no".into(),
            }),
            hex("5058 01 03 00000005 01 0002 6e6f"),
        ),
        (AgentMessage::Bye, hex("5058 01 04 00000000")),
        (
            AgentMessage::Error(ErrorReport {
                code: ErrorCode::ShareUnavailable,
                text: "map".into(),
            }),
            hex("5058 01 05 00000007 0005 0003 6d6170"),
        ),
        (
            AgentMessage::CheckIn(CheckIn {
                computer_id: 0x0102_0304_0506_0708,
            }),
            hex("5058 01 10 00000008 0102030405060708"),
        ),
        (
            AgentMessage::JobOffer(JobOffer {
                job_id: 9,
                kind: JobKind::DeployImage,
                image: Some(ImageRef {
                    name: "xp".into(),
                    size: 0x1000,
                    sha256: [0xaa; 32],
                }),
                share: Some(ShareRef {
                    path: "\\\\ds\\img".into(),
                    user: "bw".into(),
                    secret: vec![1, 2],
                }),
                post_config: Some(PostConfig {
                    name: "PC1".into(),
                    address: Some(Ipv4Addr::new(10, 0, 0, 5)),
                }),
                script: None,
            }),
            hex("5058 01 11 00000055
                 0000000000000009 01
                 01 0002 7870 0000000000001000
                    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
                 01 0008 5c5c64735c696d67 0002 6277 0002 0102
                 01 0003 504331 01 0a000005
                 00"),
        ),
        (AgentMessage::NoJob, hex("5058 01 12 00000000")),
        (
            AgentMessage::JobStatus(JobStatus {
                job_id: 9,
                state: JobState::Failed,
                progress_bytes: 512,
                detail: "x".into(),
            }),
            hex("5058 01 13 00000014 0000000000000009 04 0000000000000200 0001 78"),
        ),
        (
            AgentMessage::ImageRequest(ImageRequest {
                job_id: 9,
                offset: 0x10_0000,
                len: 65536,
            }),
            hex("5058 01 20 00000014 0000000000000009 0000000000100000 00010000"),
        ),
        (
            AgentMessage::ImageChunk(ImageChunk::new(9, 0, b"123456789".to_vec())),
            hex(
                "5058 01 21 00000021 0000000000000009 0000000000000000 cbf43926
                 00000009 313233343536373839",
            ),
        ),
    ]
}

#[test]
fn golden_bytes_pin_the_format() {
    for (msg, bytes) in golden() {
        assert_eq!(
            frame(&msg),
            bytes,
            "{} no longer encodes as its golden bytes",
            msg.name()
        );
        assert_eq!(msg.encoded_len(), bytes.len());
        for mode in MODES {
            assert_eq!(AgentMessage::parse(&bytes, mode), Ok(msg.clone()));
        }
    }
}

#[test]
fn golden_covers_every_message_type() {
    let mut types: Vec<u8> = golden().iter().map(|(m, _)| m.msg_type()).collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            msg_type::HELLO,
            msg_type::WELCOME,
            msg_type::REFUSED,
            msg_type::BYE,
            msg_type::ERROR,
            msg_type::CHECK_IN,
            msg_type::JOB_OFFER,
            msg_type::NO_JOB,
            msg_type::JOB_STATUS,
            msg_type::IMAGE_REQUEST,
            msg_type::IMAGE_CHUNK,
        ]
    );
    assert_eq!(AGENT_PORT, 402);
}

// ---- framing errors ---------------------------------------------------------

#[test]
fn a_4_gib_frame_is_refused_from_its_header_alone() {
    let header = [b'P', b'X', 1, msg_type::IMAGE_CHUNK, 0xff, 0xff, 0xff, 0xff];
    let err = AgentError::FrameTooLarge {
        len: u64::from(u32::MAX),
        max: MAX_BODY_LEN,
    };
    assert_eq!(FrameHeader::parse(&header), Err(err.clone()));
    assert_eq!(
        AgentMessage::parse(&header, ParseMode::Lax),
        Err(err.clone())
    );

    let mut dec = FrameDecoder::default();
    assert_eq!(dec.push(&header), HEADER_LEN);
    assert_eq!(dec.next(), Some(Err(err.clone())));
    assert!(err.is_fatal());
    assert!(dec.is_dead());
    // Nothing was kept for the announced body, and nothing more is kept.
    assert_eq!(dec.buffered(), 0);
    assert_eq!(dec.push(&[0; 4096]), 4096);
    assert_eq!(dec.buffered(), 0);
    assert_eq!(dec.next(), None);
    assert_eq!(dec.error(), Some(&err));
}

#[test]
fn the_largest_allowed_frame_decodes_and_one_byte_more_does_not() {
    let chunk = ImageChunk::new(1, 0, vec![0x5a; MAX_BODY_LEN - 24]);
    let bytes = frame(&AgentMessage::ImageChunk(chunk.clone()));
    assert_eq!(bytes.len(), MAX_FRAME_LEN);
    let mut dec = FrameDecoder::new(ParseMode::Strict);
    let got = feed(&mut dec, &bytes, &[65536]);
    assert_eq!(got, [Ok(AgentMessage::ImageChunk(chunk))]);

    let too_big = ImageChunk::new(1, 0, vec![0; MAX_BODY_LEN - 23]);
    assert_eq!(
        AgentMessage::ImageChunk(too_big).to_bytes(),
        Err(AgentError::FrameTooLarge {
            len: (MAX_BODY_LEN + 1) as u64,
            max: MAX_BODY_LEN
        })
    );
    let mut header = bytes[..HEADER_LEN].to_vec();
    header[4..8].copy_from_slice(&((MAX_BODY_LEN + 1) as u32).to_be_bytes());
    assert!(matches!(
        FrameHeader::parse(&header),
        Err(AgentError::FrameTooLarge { .. })
    ));
}

#[test]
fn push_never_buffers_more_than_one_frame() {
    // Two maximal frames pushed at once: the decoder takes one frame's worth, and
    // the rest after the first message has been taken.
    let chunk = AgentMessage::ImageChunk(ImageChunk::new(1, 0, vec![1; MAX_BODY_LEN - 24]));
    let mut bytes = frame(&chunk);
    bytes.extend(frame(&chunk));
    let mut dec = FrameDecoder::default();
    let taken = dec.push(&bytes);
    assert_eq!(taken, MAX_FRAME_LEN);
    assert_eq!(dec.room(), 0);
    assert_eq!(dec.push(&bytes[taken..]), 0);
    assert_eq!(dec.next(), Some(Ok(chunk.clone())));
    assert_eq!(dec.next(), None);
    assert_eq!(dec.push(&bytes[taken..]), MAX_FRAME_LEN);
    assert_eq!(dec.next(), Some(Ok(chunk)));
    assert_eq!(dec.buffered(), 0);
}

#[test]
fn truncated_frames_wait_for_more_bytes() {
    let bytes = frame(&golden()[6].0);
    let mut dec = FrameDecoder::default();
    for (i, b) in bytes.iter().enumerate() {
        assert_eq!(dec.next(), None, "a message after only {i} bytes");
        assert_eq!(dec.push(&[*b]), 1);
    }
    assert_eq!(dec.next(), Some(Ok(golden()[6].0.clone())));
    assert_eq!(dec.next(), None);
    assert!(!dec.is_dead());

    assert_eq!(
        AgentMessage::parse(&bytes[..bytes.len() - 1], ParseMode::Lax),
        Err(AgentError::TruncatedFrame {
            have: bytes.len() - 1,
            need: bytes.len()
        })
    );
    assert_eq!(
        AgentMessage::parse(&bytes[..5], ParseMode::Lax),
        Err(AgentError::TruncatedFrame {
            have: 5,
            need: HEADER_LEN
        })
    );
}

#[test]
fn wrong_magic_kills_the_stream_at_the_first_byte() {
    // An HTTP client on port 402: refused at "GE", without waiting for 8 bytes.
    let mut dec = FrameDecoder::default();
    assert_eq!(dec.push(b"G"), 1);
    assert_eq!(dec.next(), None);
    assert_eq!(dec.push(b"E"), 1);
    assert_eq!(dec.next(), Some(Err(AgentError::BadMagic(*b"GE"))));
    assert!(dec.is_dead());
    // A valid frame afterwards is not read: there is no resynchronisation.
    assert_eq!(dec.push(&frame(&AgentMessage::Bye)), HEADER_LEN);
    assert_eq!(dec.next(), None);

    assert_eq!(
        AgentMessage::parse(b"PY\x01\x04\0\0\0\0", ParseMode::Lax),
        Err(AgentError::BadMagic(*b"PY"))
    );
}

#[test]
fn wrong_version_is_fatal() {
    let mut bytes = frame(&AgentMessage::Bye);
    bytes[2] = 2;
    let err = AgentError::UnsupportedVersion(2);
    assert_eq!(
        AgentMessage::parse(&bytes, ParseMode::Lax),
        Err(err.clone())
    );
    let mut dec = FrameDecoder::default();
    assert_eq!(dec.push(&bytes[..3]), 3);
    assert_eq!(dec.next(), Some(Err(err.clone())));
    assert!(err.is_fatal());
    assert_eq!(dec.next(), None);
}

#[test]
fn a_bad_body_spoils_one_message_not_the_stream() {
    let mut bytes = hex("5058 01 7f 00000003 010203"); // unknown type 0x7f
    bytes.extend(hex("5058 01 03 00000003 01 0005")); // Refused, text cut short
    bytes.extend(hex(
        "5058 01 13 00000014 0000000000000009 09 0000000000000200 0001 78",
    )); // state 9
    bytes.extend(hex("5058 01 01 0000000b 02 01 525400123456 02 0000")); // uuid flag 2
    bytes.extend(hex("5058 01 03 00000005 01 0002 fffe")); // text not UTF-8
    bytes.extend(frame(&AgentMessage::NoJob));
    let mut dec = FrameDecoder::default();
    let got = feed(&mut dec, &bytes, &[3, 7, 1]);
    assert_eq!(
        got,
        [
            Err(AgentError::UnknownMessageType(0x7f)),
            Err(AgentError::TruncatedBody {
                msg: "Refused",
                field: "text"
            }),
            Err(AgentError::UnknownValue {
                msg: "JobStatus",
                field: "state",
                value: 9
            }),
            Err(AgentError::BadFlag {
                msg: "Hello",
                field: "uuid",
                value: 2
            }),
            Err(AgentError::NotUtf8 {
                msg: "Refused",
                field: "text"
            }),
            Ok(AgentMessage::NoJob),
        ]
    );
    assert!(
        got.iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| !e.is_fatal())
    );
}

#[test]
fn trailing_bytes_strict_refuses_lax_ignores() {
    // A Welcome whose body carries 2 bytes past its computer id (a later revision
    // appending a field).
    let bytes = hex("5058 01 02 0000000a 0000000000000007 abcd");
    assert_eq!(
        AgentMessage::parse(&bytes, ParseMode::Strict),
        Err(AgentError::TrailingBytes {
            msg: "Welcome",
            count: 2
        })
    );
    assert_eq!(
        AgentMessage::parse(&bytes, ParseMode::Lax),
        Ok(AgentMessage::Welcome(Welcome { computer_id: 7 }))
    );
    // Bytes after the frame itself.
    let mut two = frame(&AgentMessage::Bye);
    two.push(0);
    assert!(matches!(
        AgentMessage::parse(&two, ParseMode::Strict),
        Err(AgentError::TrailingBytes { msg: "frame", .. })
    ));
    assert_eq!(
        AgentMessage::parse(&two, ParseMode::Lax),
        Ok(AgentMessage::Bye)
    );
}

#[test]
fn a_damaged_chunk_fails_verify() {
    let mut chunk = ImageChunk::new(3, 4096, b"sector data".to_vec());
    assert_eq!(chunk.verify(), Ok(()));
    chunk.data[0] ^= 1;
    let err = chunk.verify().expect_err("flipped bit must be caught");
    assert_eq!(
        err,
        AgentError::ChecksumMismatch {
            job_id: 3,
            offset: 4096,
            sent: crc32(b"sector data"),
            computed: crc32(&chunk.data),
        }
    );
    // Parsing keeps the damaged chunk as sent; only verify() judges it.
    let parsed = AgentMessage::parse(
        &frame(&AgentMessage::ImageChunk(chunk.clone())),
        ParseMode::Strict,
    );
    match parsed {
        Ok(AgentMessage::ImageChunk(c)) => assert!(c.verify().is_err()),
        other => panic!("expected the chunk back, got {other:?}"),
    }
}

#[test]
fn emit_refuses_fields_too_long_and_leaves_the_buffer_alone() {
    let msg = AgentMessage::Refused(Refused {
        reason: RefuseReason::Other(200),
        text: "x".repeat(70_000),
    });
    let mut buf = vec![1, 2, 3];
    assert_eq!(
        msg.emit(&mut buf),
        Err(AgentError::FieldTooLong {
            field: "text",
            len: 70_000,
            max: 65_535
        })
    );
    assert_eq!(buf, [1, 2, 3]);
}

#[test]
fn unknown_reason_and_error_codes_are_kept() {
    for m in [
        AgentMessage::Refused(Refused {
            reason: RefuseReason::Other(99),
            text: String::new(),
        }),
        AgentMessage::Error(ErrorReport {
            code: ErrorCode::Other(0xbeef),
            text: String::new(),
        }),
    ] {
        assert_eq!(AgentMessage::parse(&frame(&m), ParseMode::Strict), Ok(m));
    }
    assert_eq!(RefuseReason::from(3), RefuseReason::VersionUnsupported);
    assert_eq!(ErrorCode::from(5), ErrorCode::ShareUnavailable);
}

// ---- properties ---------------------------------------------------------------

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..=max).prop_map(|c| c.into_iter().collect())
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=max)
}

fn agent_kind() -> impl Strategy<Value = AgentKind> {
    prop_oneof![Just(AgentKind::AClient), Just(AgentKind::Bootworks)]
}

fn job_kind() -> impl Strategy<Value = JobKind> {
    prop_oneof![
        Just(JobKind::DeployImage),
        Just(JobKind::CaptureImage),
        Just(JobKind::ScriptedInstall),
        Just(JobKind::RunScript),
        Just(JobKind::BootToProduction),
    ]
}

fn job_state() -> impl Strategy<Value = JobState> {
    prop_oneof![
        Just(JobState::Armed),
        Just(JobState::Running),
        Just(JobState::Succeeded),
        Just(JobState::Failed),
        Just(JobState::PreOsDone),
    ]
}

prop_compose! {
    fn hello()(
        agent in agent_kind(), version in any::<u8>(), mac in any::<[u8; 6]>(),
        uuid in proptest::option::of(any::<[u8; 16]>()), computer_name in text(20),
        credential in bytes(40),
    ) -> AgentMessage {
        AgentMessage::Hello(Hello { agent, version, mac: Mac(mac), uuid, computer_name, credential })
    }
}

prop_compose! {
    fn job_offer()(
        job_id in any::<u64>(), kind in job_kind(),
        image in proptest::option::of((text(12), any::<u64>(), any::<[u8; 32]>())),
        share in proptest::option::of((text(20), text(8), bytes(16))),
        post_config in proptest::option::of((text(15), proptest::option::of(any::<u32>()))),
        script in proptest::option::of(text(60)),
    ) -> AgentMessage {
        AgentMessage::JobOffer(JobOffer {
            job_id,
            kind,
            image: image.map(|(name, size, sha256)| ImageRef { name, size, sha256 }),
            share: share.map(|(path, user, secret)| ShareRef { path, user, secret }),
            post_config: post_config.map(|(name, a)| PostConfig { name, address: a.map(Ipv4Addr::from) }),
            script,
        })
    }
}

fn message() -> impl Strategy<Value = AgentMessage> {
    prop_oneof![
        hello(),
        any::<u64>().prop_map(|computer_id| AgentMessage::Welcome(Welcome { computer_id })),
        (any::<u8>(), text(30)).prop_map(|(r, text)| AgentMessage::Refused(Refused {
            reason: RefuseReason::from(r),
            text
        })),
        any::<u64>().prop_map(|computer_id| AgentMessage::CheckIn(CheckIn { computer_id })),
        job_offer(),
        Just(AgentMessage::NoJob),
        (any::<u64>(), job_state(), any::<u64>(), text(30)).prop_map(
            |(job_id, state, progress_bytes, detail)| AgentMessage::JobStatus(JobStatus {
                job_id,
                state,
                progress_bytes,
                detail
            })
        ),
        (any::<u64>(), any::<u64>(), any::<u32>()).prop_map(|(job_id, offset, len)| {
            AgentMessage::ImageRequest(ImageRequest {
                job_id,
                offset,
                len,
            })
        }),
        (any::<u64>(), any::<u64>(), any::<u32>(), bytes(300)).prop_map(
            |(job_id, offset, checksum, data)| AgentMessage::ImageChunk(ImageChunk {
                job_id,
                offset,
                checksum,
                data
            })
        ),
        (any::<u16>(), text(30)).prop_map(|(c, text)| AgentMessage::Error(ErrorReport {
            code: ErrorCode::from(c),
            text
        })),
        Just(AgentMessage::Bye),
    ]
}

proptest! {
    #[test]
    fn round_trip(m in message()) {
        let bytes = frame(&m);
        prop_assert_eq!(bytes.len(), m.encoded_len());
        for mode in MODES {
            prop_assert_eq!(AgentMessage::parse(&bytes, mode), Ok(m.clone()));
        }
    }

    #[test]
    fn a_stream_of_messages_decodes_whatever_the_split(
        msgs in proptest::collection::vec(message(), 0..8),
        sizes in proptest::collection::vec(1usize..64, 1..8),
    ) {
        let stream: Vec<u8> = msgs.iter().flat_map(frame).collect();
        let mut dec = FrameDecoder::new(ParseMode::Strict);
        let got = feed(&mut dec, &stream, &sizes);
        let want: Vec<_> = msgs.into_iter().map(Ok).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn arbitrary_bytes_in_any_split_never_panic_and_decode_alike(
        data in bytes(600),
        sizes in proptest::collection::vec(1usize..50, 1..8),
        strict in any::<bool>(),
    ) {
        let mode = if strict { ParseMode::Strict } else { ParseMode::Lax };
        let mut dec = FrameDecoder::new(mode);
        let got = feed(&mut dec, &data, &sizes);
        // The same stream in one piece says the same things: what a peer reads
        // does not depend on how TCP segmented it.
        let whole = feed(&mut FrameDecoder::new(mode), &data, &[usize::MAX]);
        prop_assert_eq!(&got, &whole);
        // Once a fatal error is out, nothing follows it.
        if let Some(i) = got.iter().position(|r| r.as_ref().is_err_and(AgentError::is_fatal)) {
            prop_assert_eq!(i, got.len() - 1);
            prop_assert!(dec.is_dead());
        }
        prop_assert!(dec.buffered() <= MAX_FRAME_LEN);
        for mode in MODES {
            let _ = AgentMessage::parse(&data, mode);
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic_and_reparse(t in any::<u8>(), body in bytes(200)) {
        for mode in MODES {
            if let Ok(m) = AgentMessage::parse_body(t, &body, mode) {
                // Whatever parsed re-emits to a frame that parses strictly to itself.
                prop_assert_eq!(AgentMessage::parse(&frame(&m), ParseMode::Strict), Ok(m));
            }
        }
    }

    #[test]
    fn mutated_frames_never_panic(m in message(), idx in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = frame(&m);
        let i = idx.index(bytes.len());
        bytes[i] = byte;
        for mode in MODES {
            let _ = AgentMessage::parse(&bytes, mode);
        }
        let mut dec = FrameDecoder::default();
        let _ = feed(&mut dec, &bytes, &[5]);
    }

    #[test]
    fn chunks_made_with_new_verify(job in any::<u64>(), off in any::<u64>(), data in bytes(300), flip in any::<prop::sample::Index>()) {
        let mut c = ImageChunk::new(job, off, data);
        prop_assert_eq!(c.verify(), Ok(()));
        if !c.data.is_empty() {
            let i = flip.index(c.data.len());
            c.data[i] ^= 0x80;
            prop_assert!(c.verify().is_err());
        }
    }
}
