//! The agent protocol: framed, versioned messages between the Deployment Server and
//! its agents (AClient in the OS, Bootworks before it) over TCP port [`AGENT_PORT`].
//!
//! The format is ours (Altiris never published theirs); it is designed so that a
//! reader can always tell where a message ends without understanding it, and so that
//! no peer can make the other allocate more than one bounded frame.
//!
//! # Frame
//!
//! ```text
//!  0       1       2         3        4                               8
//! +-------+-------+---------+--------+-------------------------------+----------------+
//! |  'P'  |  'X'  | version |  type  |  body length (u32, big end.)  | body ...       |
//! +-------+-------+---------+--------+-------------------------------+----------------+
//!   magic 0x50 0x58   = 1      see below   <= MAX_BODY_LEN               length bytes
//! ```
//!
//! Every integer is big-endian (network order). The header is [`HEADER_LEN`] bytes;
//! a header announcing a body longer than [`MAX_BODY_LEN`] is refused
//! ([`AgentError::FrameTooLarge`]) as soon as its 8 bytes are in, before any byte of
//! the body is buffered: the length is never used to size an allocation.
//!
//! # Body fields
//!
//! ```text
//! u8 u16 u32 u64     big-endian integers
//! str16              u16 length | UTF-8 bytes          (names, texts)
//! text32             u32 length | UTF-8 bytes          (a script)
//! bytes16            u16 length | bytes                (credentials, secrets)
//! bytes32            u32 length | bytes                (image data)
//! opt<T>             u8 0 (absent) | u8 1, then T      (any other flag is an error)
//! mac                6 bytes;  uuid 16 bytes (SMBIOS byte order, as PXE option 97);
//! ipv4               4 bytes;  sha256 32 bytes
//! ```
//!
//! # Messages (type byte: body)
//!
//! ```text
//! 0x01 Hello         agent u8 | version u8 | mac | opt<uuid> | computer_name str16 | credential bytes16
//! 0x02 Welcome       computer_id u64
//! 0x03 Refused       reason u8 | text str16
//! 0x04 Bye           (empty)
//! 0x05 Error         code u16 | text str16
//! 0x10 CheckIn       computer_id u64
//! 0x11 JobOffer      job_id u64 | kind u8
//!                    | opt<image: name str16 | size u64 | sha256>
//!                    | opt<share: path str16 | user str16 | secret bytes16>
//!                    | opt<post_config: name str16 | opt<address ipv4>>
//!                    | opt<script text32>
//! 0x12 NoJob         (empty)
//! 0x13 JobStatus     job_id u64 | state u8 | progress_bytes u64 | detail str16
//! 0x20 ImageRequest  job_id u64 | offset u64 | len u32
//! 0x21 ImageChunk    job_id u64 | offset u64 | crc32 u32 | data bytes32
//! ```
//!
//! Types are grouped by concern (0x0_ session, 0x1_ jobs, 0x2_ image transfer) so
//! that later versions have room next to their relatives.
//!
//! # Versions
//!
//! The header's version is the version of this whole format; this module speaks
//! [`VERSION`] 1 and refuses any other as a framing error, since a different version
//! may lay out even the header differently. `Hello.version` is the highest version
//! the agent speaks: an agent always opens with a version-1 Hello, so any server can
//! read it and answer in the highest version both sides speak (or with
//! [`RefuseReason::VersionUnsupported`]).
//!
//! # Errors and the stream
//!
//! A *framing* error (wrong magic, unknown version, oversized length) leaves the
//! reader unable to tell where the next frame starts: TCP has no message boundaries
//! and the format has no resynchronisation marker (any byte pattern can occur inside
//! an image chunk, so scanning for "PX" could lock onto data), so the stream is dead
//! and the connection must be closed ([`AgentError::is_fatal`]). A *body* error
//! (unknown type, truncated field, bad enum value, bad UTF-8) spoils one message
//! only: its frame length is still trustworthy, so [`FrameDecoder`] skips the frame
//! and goes on; the peer decides whether to answer with an [`ErrorReport`].
//!
//! In [`ParseMode::Strict`] bytes left in a body after its last field are an error;
//! [`ParseMode::Lax`] ignores them, which is how a version-1 reader would tolerate
//! fields a later minor revision appends.
//!
//! An [`ImageChunk`] carries the CRC-32 (ISO-HDLC, as in Ethernet and zip) of its
//! data. Parsing does not check it: the receiver calls [`ImageChunk::verify`] and
//! decides what a damaged chunk means (re-request the range), so a mismatch is never
//! silently accepted nor conflated with a malformed frame. The whole image is then
//! checked against the SHA-256 of the [`ImageRef`].

use std::fmt;
use std::net::Ipv4Addr;

use super::ParseMode;
use super::field::{FieldReader, Truncated};
use crate::net::Mac;

/// TCP port the Deployment Server listens on for agents (Altiris used 402).
pub const AGENT_PORT: u16 = 402;
/// The two magic bytes every frame starts with.
pub const MAGIC: [u8; 2] = *b"PX";
/// The format version this module speaks.
pub const VERSION: u8 = 1;
/// Bytes of the frame header (magic, version, type, length).
pub const HEADER_LEN: usize = 8;
/// Most image data one [`ImageChunk`] is meant to carry (1 MiB); an
/// [`ImageRequest`] asking for more is answered with at most this much.
pub const MAX_CHUNK_LEN: usize = 1 << 20;
/// Largest body a frame may announce: one full chunk plus room for its fields.
pub const MAX_BODY_LEN: usize = MAX_CHUNK_LEN + 1024;
/// Largest frame, header included: the most a [`FrameDecoder`] ever buffers.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_BODY_LEN;

/// Message type codes (the header's type byte).
pub mod msg_type {
    /// [`super::AgentMessage::Hello`].
    pub const HELLO: u8 = 0x01;
    /// [`super::AgentMessage::Welcome`].
    pub const WELCOME: u8 = 0x02;
    /// [`super::AgentMessage::Refused`].
    pub const REFUSED: u8 = 0x03;
    /// [`super::AgentMessage::Bye`].
    pub const BYE: u8 = 0x04;
    /// [`super::AgentMessage::Error`].
    pub const ERROR: u8 = 0x05;
    /// [`super::AgentMessage::CheckIn`].
    pub const CHECK_IN: u8 = 0x10;
    /// [`super::AgentMessage::JobOffer`].
    pub const JOB_OFFER: u8 = 0x11;
    /// [`super::AgentMessage::NoJob`].
    pub const NO_JOB: u8 = 0x12;
    /// [`super::AgentMessage::JobStatus`].
    pub const JOB_STATUS: u8 = 0x13;
    /// [`super::AgentMessage::ImageRequest`].
    pub const IMAGE_REQUEST: u8 = 0x20;
    /// [`super::AgentMessage::ImageChunk`].
    pub const IMAGE_CHUNK: u8 = 0x21;
}

/// Why bytes are not an agent message, or a message cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// (fatal) The frame does not start with "PX": the peer is not an agent (or the
    /// stream lost its place).
    #[error(
        "bad frame magic {0:02x?}: expected \"PX\" (50 58); the peer does not speak the agent protocol"
    )]
    BadMagic([u8; 2]),
    /// (fatal) A frame version this side does not speak.
    #[error("agent protocol version {0} is not supported (this side speaks version 1)")]
    UnsupportedVersion(u8),
    /// (fatal on receive) A frame whose body is longer than [`MAX_BODY_LEN`]; also
    /// returned by `emit` for a message too large to send.
    #[error("frame body of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// The announced (or needed) body length.
        len: u64,
        /// [`MAX_BODY_LEN`].
        max: usize,
    },
    /// [`AgentMessage::parse`] was given fewer bytes than the header announces.
    #[error("frame truncated: {have} bytes, the header announces {need}")]
    TruncatedFrame {
        /// Bytes given.
        have: usize,
        /// Header plus announced body.
        need: usize,
    },
    /// A type byte this version does not know; the frame is skipped.
    #[error("unknown agent message type 0x{0:02x}")]
    UnknownMessageType(u8),
    /// The body ends inside a field.
    #[error("{msg} body ends inside its {field} field")]
    TruncatedBody {
        /// The message being read.
        msg: &'static str,
        /// The field that did not fit.
        field: &'static str,
    },
    /// An enumerated field (agent kind, job kind, job state) with a value this
    /// version does not define.
    #[error("{msg} has an unknown {field} value {value}")]
    UnknownValue {
        /// The message being read.
        msg: &'static str,
        /// The field.
        field: &'static str,
        /// The value as sent.
        value: u8,
    },
    /// An optional field's presence flag is neither 0 nor 1.
    #[error("{msg} has presence flag {value} for {field}: expected 0 or 1")]
    BadFlag {
        /// The message being read.
        msg: &'static str,
        /// The optional field.
        field: &'static str,
        /// The flag as sent.
        value: u8,
    },
    /// A text field that is not UTF-8.
    #[error("{msg} field {field} is not valid UTF-8")]
    NotUtf8 {
        /// The message being read.
        msg: &'static str,
        /// The field.
        field: &'static str,
    },
    /// (strict) Bytes after a body's last field, or after the frame.
    #[error("{count} unexpected bytes after the end of a {msg}")]
    TrailingBytes {
        /// The message read.
        msg: &'static str,
        /// How many bytes were left.
        count: usize,
    },
    /// `emit`: a field longer than its length prefix can say.
    #[error("{field} is {len} bytes, more than its {max}-byte limit")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The most its prefix allows.
        max: usize,
    },
    /// [`ImageChunk::verify`]: the data does not match its CRC-32; re-request the
    /// range.
    #[error(
        "image chunk of job {job_id} at offset {offset} is damaged: CRC-32 {computed:08x}, the sender said {sent:08x}"
    )]
    ChecksumMismatch {
        /// The job.
        job_id: u64,
        /// Offset of the chunk in the image.
        offset: u64,
        /// The checksum in the message.
        sent: u32,
        /// The checksum of the data received.
        computed: u32,
    },
}

impl AgentError {
    /// Whether the byte stream is unusable after this error (a framing error): the
    /// connection must be closed, because TCP gives no way to find the next frame.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            AgentError::BadMagic(_)
                | AgentError::UnsupportedVersion(_)
                | AgentError::FrameTooLarge { .. }
        )
    }
}

/// Which agent is talking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentKind {
    /// 1: AClient, running in the installed OS.
    AClient,
    /// 2: Bootworks, the pre-OS environment (PXE-delivered or from its partition).
    Bootworks,
}

impl AgentKind {
    const fn code(self) -> u8 {
        match self {
            AgentKind::AClient => 1,
            AgentKind::Bootworks => 2,
        }
    }

    const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(AgentKind::AClient),
            2 => Some(AgentKind::Bootworks),
            _ => None,
        }
    }
}

/// Why the server turned a Hello away. Unknown codes are kept ([`RefuseReason::Other`])
/// so an older agent can still report a newer server's refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefuseReason {
    /// 1: the credential is not the one the server holds for this computer.
    BadCredential,
    /// 2: no such computer, and no initial-deployment path for unknown ones.
    UnknownComputer,
    /// 3: the agent's protocol version is not one the server speaks.
    VersionUnsupported,
    /// 4: the server is at its session limit; try again later.
    Busy,
    /// Any other code, kept as sent.
    Other(u8),
}

impl RefuseReason {
    /// The code as it goes on the wire.
    pub const fn code(self) -> u8 {
        match self {
            RefuseReason::BadCredential => 1,
            RefuseReason::UnknownComputer => 2,
            RefuseReason::VersionUnsupported => 3,
            RefuseReason::Busy => 4,
            RefuseReason::Other(c) => c,
        }
    }
}

impl From<u8> for RefuseReason {
    fn from(code: u8) -> Self {
        match code {
            1 => RefuseReason::BadCredential,
            2 => RefuseReason::UnknownComputer,
            3 => RefuseReason::VersionUnsupported,
            4 => RefuseReason::Busy,
            c => RefuseReason::Other(c),
        }
    }
}

impl fmt::Display for RefuseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefuseReason::BadCredential => f.write_str("bad credential"),
            RefuseReason::UnknownComputer => f.write_str("unknown computer"),
            RefuseReason::VersionUnsupported => f.write_str("protocol version unsupported"),
            RefuseReason::Busy => f.write_str("server busy"),
            RefuseReason::Other(c) => write!(f, "reason {c}"),
        }
    }
}

/// What a job does (issue 5's job kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// 1: write an image to the disk (pre-OS).
    DeployImage,
    /// 2: read the disk into a new image (pre-OS).
    CaptureImage,
    /// 3: an unattended OS install (needs a full pre-OS environment, not a
    /// Bootworks partition: "image only").
    ScriptedInstall,
    /// 4: run a script in the OS.
    RunScript,
    /// 5: leave the pre-OS environment and boot the installed OS.
    BootToProduction,
}

impl JobKind {
    const fn code(self) -> u8 {
        match self {
            JobKind::DeployImage => 1,
            JobKind::CaptureImage => 2,
            JobKind::ScriptedInstall => 3,
            JobKind::RunScript => 4,
            JobKind::BootToProduction => 5,
        }
    }

    const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(JobKind::DeployImage),
            2 => Some(JobKind::CaptureImage),
            3 => Some(JobKind::ScriptedInstall),
            4 => Some(JobKind::RunScript),
            5 => Some(JobKind::BootToProduction),
            _ => None,
        }
    }
}

/// A job's state as an agent reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// 1: the boot flag is set; the pre-OS environment will run the job.
    Armed,
    /// 2: under way (`progress_bytes` says how far).
    Running,
    /// 3: done.
    Succeeded,
    /// 4: given up (`detail` says why).
    Failed,
    /// 5: Bootworks' part is done (the image is written and verified, or the
    /// installer has started); AClient in the installed OS completes the job.
    /// A Bootworks that boots again before then is told there is nothing for it
    /// to do, instead of running the pre-OS step a second time.
    PreOsDone,
}

impl JobState {
    const fn code(self) -> u8 {
        match self {
            JobState::Armed => 1,
            JobState::Running => 2,
            JobState::Succeeded => 3,
            JobState::Failed => 4,
            JobState::PreOsDone => 5,
        }
    }

    const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(JobState::Armed),
            2 => Some(JobState::Running),
            3 => Some(JobState::Succeeded),
            4 => Some(JobState::Failed),
            5 => Some(JobState::PreOsDone),
            _ => None,
        }
    }
}

/// What went wrong, in an [`ErrorReport`]. Unknown codes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 1: the peer sent a malformed message.
    Malformed,
    /// 2: a well-formed message that is not allowed now (a CheckIn before Hello).
    UnexpectedMessage,
    /// 3: a job id the receiver does not know.
    UnknownJob,
    /// 4: an image range outside the image.
    BadRange,
    /// 5: the image share could not be mapped (the seed's "a network drive has not
    /// been mapped correctly").
    ShareUnavailable,
    /// 6: writing or reading the disk failed.
    DiskError,
    /// 7: the image's SHA-256 or a chunk's CRC-32 did not match.
    ChecksumMismatch,
    /// 8: the sender's own fault.
    Internal,
    /// Any other code, kept as sent.
    Other(u16),
}

impl ErrorCode {
    /// The code as it goes on the wire.
    pub const fn code(self) -> u16 {
        match self {
            ErrorCode::Malformed => 1,
            ErrorCode::UnexpectedMessage => 2,
            ErrorCode::UnknownJob => 3,
            ErrorCode::BadRange => 4,
            ErrorCode::ShareUnavailable => 5,
            ErrorCode::DiskError => 6,
            ErrorCode::ChecksumMismatch => 7,
            ErrorCode::Internal => 8,
            ErrorCode::Other(c) => c,
        }
    }
}

impl From<u16> for ErrorCode {
    fn from(code: u16) -> Self {
        match code {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::UnexpectedMessage,
            3 => ErrorCode::UnknownJob,
            4 => ErrorCode::BadRange,
            5 => ErrorCode::ShareUnavailable,
            6 => ErrorCode::DiskError,
            7 => ErrorCode::ChecksumMismatch,
            8 => ErrorCode::Internal,
            c => ErrorCode::Other(c),
        }
    }
}

/// 0x01, agent → server: who I am. The server matches the computer by MAC and
/// UUID (an untrustworthy UUID falls back to the MAC) and checks the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Which agent.
    pub agent: AgentKind,
    /// Highest protocol version the agent speaks.
    pub version: u8,
    /// The NIC the machine booted from.
    pub mac: Mac,
    /// SMBIOS UUID, when the firmware has one.
    pub uuid: Option<[u8; 16]>,
    /// The computer's name as the agent knows it.
    pub computer_name: String,
    /// The per-computer agent credential (at most 65535 bytes).
    pub credential: Vec<u8>,
}

/// 0x02, server → agent: accepted; the id to check in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Welcome {
    /// The server's id for this computer.
    pub computer_id: u64,
}

/// 0x03, server → agent: not accepted; the server closes after sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Why.
    pub reason: RefuseReason,
    /// What a person should read.
    pub text: String,
}

/// 0x10, agent → server: anything for me?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckIn {
    /// The id from [`Welcome`].
    pub computer_id: u64,
}

/// An image in the server's store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of the whole image, checked after the last byte is written.
    pub sha256: [u8; 32],
}

/// The share an agent maps to read or write images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRef {
    /// UNC-style path of the share.
    pub path: String,
    /// Account to map it with.
    pub user: String,
    /// That account's secret (at most 65535 bytes).
    pub secret: Vec<u8>,
}

/// What AClient configures after imaging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostConfig {
    /// Computer name to set.
    pub name: String,
    /// Static address to set; `None` keeps DHCP.
    pub address: Option<Ipv4Addr>,
}

/// 0x11, server → agent: a job to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOffer {
    /// The server's id for the job.
    pub job_id: u64,
    /// What to do.
    pub kind: JobKind,
    /// The image to deploy or capture into.
    pub image: Option<ImageRef>,
    /// The share holding images.
    pub share: Option<ShareRef>,
    /// Post-configuration after imaging.
    pub post_config: Option<PostConfig>,
    /// A script to run (u32-length text, bounded by the frame size).
    pub script: Option<String>,
}

/// 0x13, agent → server: how a job is going. Agents report every outcome, failure
/// included, before they exit (the reference stance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// The job.
    pub job_id: u64,
    /// Its state.
    pub state: JobState,
    /// Bytes of the image written or read so far.
    pub progress_bytes: u64,
    /// Free text: the reason for a failure.
    pub detail: String,
}

/// 0x20, agent → server: send me this range of the job's image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageRequest {
    /// The job.
    pub job_id: u64,
    /// First byte wanted.
    pub offset: u64,
    /// Bytes wanted; the server answers with at most [`MAX_CHUNK_LEN`].
    pub len: u32,
}

/// 0x21, server → agent: a range of the image with its CRC-32.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageChunk {
    /// The job.
    pub job_id: u64,
    /// Offset of `data` in the image.
    pub offset: u64,
    /// CRC-32/ISO-HDLC of `data` as the sender computed it.
    pub checksum: u32,
    /// The bytes.
    pub data: Vec<u8>,
}

impl ImageChunk {
    /// A chunk with the checksum of `data`.
    pub fn new(job_id: u64, offset: u64, data: Vec<u8>) -> Self {
        ImageChunk {
            job_id,
            offset,
            checksum: crc32(&data),
            data,
        }
    }

    /// Checks the data against its checksum; a mismatch means the bytes were damaged
    /// on the way (or the sender is broken) and must not be written.
    pub fn verify(&self) -> Result<(), AgentError> {
        let computed = crc32(&self.data);
        if computed == self.checksum {
            Ok(())
        } else {
            Err(AgentError::ChecksumMismatch {
                job_id: self.job_id,
                offset: self.offset,
                sent: self.checksum,
                computed,
            })
        }
    }
}

/// 0x05, either way: something went wrong; the connection stays open unless the
/// sender closes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReport {
    /// What kind of failure.
    pub code: ErrorCode,
    /// What a person should read.
    pub text: String,
}

/// One agent protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentMessage {
    /// Agent introduces itself.
    Hello(Hello),
    /// Server accepts it.
    Welcome(Welcome),
    /// Server refuses it.
    Refused(Refused),
    /// Agent asks for work.
    CheckIn(CheckIn),
    /// Server offers a job.
    JobOffer(JobOffer),
    /// Server has nothing to do.
    NoJob,
    /// Agent reports on a job.
    JobStatus(JobStatus),
    /// Agent asks for image bytes.
    ImageRequest(ImageRequest),
    /// Server sends image bytes.
    ImageChunk(ImageChunk),
    /// Either side reports a failure.
    Error(ErrorReport),
    /// Either side ends the session cleanly.
    Bye,
}

/// A frame header, as read off the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The message type byte.
    pub msg_type: u8,
    /// Body length in bytes (checked against [`MAX_BODY_LEN`]).
    pub body_len: usize,
}

impl FrameHeader {
    /// Reads and checks the header at the start of `bytes` (magic, version, length
    /// limit). Returns `Ok(None)` while fewer bytes than needed to decide are there:
    /// a wrong magic is reported as soon as its two bytes are in and a wrong version
    /// from the third byte, without waiting for the rest of the header.
    pub fn parse(bytes: &[u8]) -> Result<Option<FrameHeader>, AgentError> {
        // Judged once both magic bytes are in, so that the error (which quotes them)
        // does not depend on how the stream happened to be split.
        if let Some(&magic) = bytes.first_chunk::<2>()
            && magic != MAGIC
        {
            return Err(AgentError::BadMagic(magic));
        }
        if let Some(&version) = bytes.get(2)
            && version != VERSION
        {
            return Err(AgentError::UnsupportedVersion(version));
        }
        let Some(&[_, _, _, msg_type, a, b, c, d]) = bytes.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([a, b, c, d]);
        match usize::try_from(len) {
            Ok(body_len) if body_len <= MAX_BODY_LEN => {
                Ok(Some(FrameHeader { msg_type, body_len }))
            }
            _ => Err(AgentError::FrameTooLarge {
                len: u64::from(len),
                max: MAX_BODY_LEN,
            }),
        }
    }
}

impl AgentMessage {
    /// The type byte this message goes out with.
    pub fn msg_type(&self) -> u8 {
        use msg_type::*;
        match self {
            AgentMessage::Hello(_) => HELLO,
            AgentMessage::Welcome(_) => WELCOME,
            AgentMessage::Refused(_) => REFUSED,
            AgentMessage::CheckIn(_) => CHECK_IN,
            AgentMessage::JobOffer(_) => JOB_OFFER,
            AgentMessage::NoJob => NO_JOB,
            AgentMessage::JobStatus(_) => JOB_STATUS,
            AgentMessage::ImageRequest(_) => IMAGE_REQUEST,
            AgentMessage::ImageChunk(_) => IMAGE_CHUNK,
            AgentMessage::Error(_) => ERROR,
            AgentMessage::Bye => BYE,
        }
    }

    /// The message's name, as errors and logs spell it.
    pub fn name(&self) -> &'static str {
        type_name(self.msg_type()).unwrap_or("message")
    }

    /// Parses one whole frame (header and body). Bytes after the frame are an error
    /// in strict mode and ignored in lax mode; a short frame is
    /// [`AgentError::TruncatedFrame`] (use [`FrameDecoder`] on a stream).
    pub fn parse(frame: &[u8], mode: ParseMode) -> Result<AgentMessage, AgentError> {
        let header = FrameHeader::parse(frame)?.ok_or(AgentError::TruncatedFrame {
            have: frame.len(),
            need: HEADER_LEN,
        })?;
        let need = HEADER_LEN + header.body_len;
        let body = frame
            .get(HEADER_LEN..need)
            .ok_or(AgentError::TruncatedFrame {
                have: frame.len(),
                need,
            })?;
        let msg = Self::parse_body(header.msg_type, body, mode)?;
        if mode == ParseMode::Strict && frame.len() > need {
            return Err(AgentError::TrailingBytes {
                msg: "frame",
                count: frame.len() - need,
            });
        }
        Ok(msg)
    }

    /// Parses the body of a frame of type `msg_type`.
    pub fn parse_body(msg_type: u8, body: &[u8], mode: ParseMode) -> Result<Self, AgentError> {
        use msg_type::*;
        let msg = type_name(msg_type).ok_or(AgentError::UnknownMessageType(msg_type))?;
        let mut r = Reader(FieldReader::new(body, msg));
        let parsed = match msg_type {
            HELLO => {
                let agent = r.u8("agent")?;
                let agent = AgentKind::from_code(agent).ok_or(r.unknown("agent", agent))?;
                AgentMessage::Hello(Hello {
                    agent,
                    version: r.u8("version")?,
                    mac: Mac(r.array("mac")?),
                    uuid: match r.flag("uuid")? {
                        true => Some(r.array("uuid")?),
                        false => None,
                    },
                    computer_name: r.str16("computer_name")?,
                    credential: r.bytes16("credential")?,
                })
            }
            WELCOME => AgentMessage::Welcome(Welcome {
                computer_id: r.u64("computer_id")?,
            }),
            REFUSED => AgentMessage::Refused(Refused {
                reason: RefuseReason::from(r.u8("reason")?),
                text: r.str16("text")?,
            }),
            CHECK_IN => AgentMessage::CheckIn(CheckIn {
                computer_id: r.u64("computer_id")?,
            }),
            JOB_OFFER => {
                let job_id = r.u64("job_id")?;
                let kind = r.u8("kind")?;
                let kind = JobKind::from_code(kind).ok_or(r.unknown("kind", kind))?;
                let image = match r.flag("image")? {
                    true => Some(ImageRef {
                        name: r.str16("image.name")?,
                        size: r.u64("image.size")?,
                        sha256: r.array("image.sha256")?,
                    }),
                    false => None,
                };
                let share = match r.flag("share")? {
                    true => Some(ShareRef {
                        path: r.str16("share.path")?,
                        user: r.str16("share.user")?,
                        secret: r.bytes16("share.secret")?,
                    }),
                    false => None,
                };
                let post_config = match r.flag("post_config")? {
                    true => Some(PostConfig {
                        name: r.str16("post_config.name")?,
                        address: match r.flag("post_config.address")? {
                            true => Some(Ipv4Addr::from(r.array::<4>("post_config.address")?)),
                            false => None,
                        },
                    }),
                    false => None,
                };
                let script = match r.flag("script")? {
                    true => Some(r.text32("script")?),
                    false => None,
                };
                AgentMessage::JobOffer(JobOffer {
                    job_id,
                    kind,
                    image,
                    share,
                    post_config,
                    script,
                })
            }
            NO_JOB => AgentMessage::NoJob,
            JOB_STATUS => {
                let job_id = r.u64("job_id")?;
                let state = r.u8("state")?;
                let state = JobState::from_code(state).ok_or(r.unknown("state", state))?;
                AgentMessage::JobStatus(JobStatus {
                    job_id,
                    state,
                    progress_bytes: r.u64("progress_bytes")?,
                    detail: r.str16("detail")?,
                })
            }
            IMAGE_REQUEST => AgentMessage::ImageRequest(ImageRequest {
                job_id: r.u64("job_id")?,
                offset: r.u64("offset")?,
                len: r.u32("len")?,
            }),
            IMAGE_CHUNK => AgentMessage::ImageChunk(ImageChunk {
                job_id: r.u64("job_id")?,
                offset: r.u64("offset")?,
                checksum: r.u32("checksum")?,
                data: r.bytes32("data")?,
            }),
            ERROR => AgentMessage::Error(ErrorReport {
                code: ErrorCode::from(r.u16("code")?),
                text: r.str16("text")?,
            }),
            BYE => AgentMessage::Bye,
            other => return Err(AgentError::UnknownMessageType(other)),
        };
        if mode == ParseMode::Strict && !r.rest.is_empty() {
            return Err(AgentError::TrailingBytes {
                msg,
                count: r.rest.len(),
            });
        }
        Ok(parsed)
    }

    /// Length of the whole frame `emit` writes (header included). Saturates rather
    /// than overflows for absurd sizes, which `emit` then refuses.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.body_len())
    }

    fn body_len(&self) -> usize {
        fn opt<T>(v: &Option<T>, f: impl Fn(&T) -> usize) -> usize {
            1 + v.as_ref().map_or(0, f)
        }
        let s16 = |s: &str| 2usize.saturating_add(s.len());
        let s32 = |s: &str| 4usize.saturating_add(s.len());
        match self {
            AgentMessage::Hello(h) => {
                1 + 1
                    + 6
                    + opt(&h.uuid, |_| 16)
                    + s16(&h.computer_name).saturating_add(2 + h.credential.len())
            }
            AgentMessage::Welcome(_) | AgentMessage::CheckIn(_) => 8,
            AgentMessage::Refused(r) => 1usize.saturating_add(s16(&r.text)),
            AgentMessage::JobOffer(j) => [
                8 + 1,
                opt(&j.image, |i| s16(&i.name).saturating_add(8 + 32)),
                opt(&j.share, |s| {
                    s16(&s.path)
                        .saturating_add(s16(&s.user))
                        .saturating_add(2 + s.secret.len())
                }),
                opt(&j.post_config, |p| {
                    s16(&p.name).saturating_add(opt(&p.address, |_| 4))
                }),
                opt(&j.script, |s| s32(s)),
            ]
            .into_iter()
            .fold(0, usize::saturating_add),
            AgentMessage::NoJob | AgentMessage::Bye => 0,
            AgentMessage::JobStatus(s) => (8 + 1 + 8usize).saturating_add(s16(&s.detail)),
            AgentMessage::ImageRequest(_) => 8 + 8 + 4,
            AgentMessage::ImageChunk(c) => (8 + 8 + 4 + 4usize).saturating_add(c.data.len()),
            AgentMessage::Error(e) => 2usize.saturating_add(s16(&e.text)),
        }
    }

    /// Appends the frame to `buf`. A field too long for its length prefix
    /// ([`AgentError::FieldTooLong`]) or a body over [`MAX_BODY_LEN`]
    /// ([`AgentError::FrameTooLarge`]) is refused and `buf` is left as it was.
    pub fn emit(&self, buf: &mut Vec<u8>) -> Result<(), AgentError> {
        let body_len = self.body_len();
        if body_len > MAX_BODY_LEN {
            return Err(AgentError::FrameTooLarge {
                len: u64::try_from(body_len).unwrap_or(u64::MAX),
                max: MAX_BODY_LEN,
            });
        }
        let start = buf.len();
        buf.reserve(HEADER_LEN + body_len);
        buf.extend_from_slice(&MAGIC);
        buf.push(VERSION);
        buf.push(self.msg_type());
        // body_len <= MAX_BODY_LEN, which fits a u32.
        buf.extend_from_slice(&(body_len as u32).to_be_bytes());
        let mut w = Writer { buf };
        if let Err(e) = self.emit_body(&mut w) {
            buf.truncate(start);
            return Err(e);
        }
        debug_assert_eq!(buf.len() - start, HEADER_LEN + body_len);
        Ok(())
    }

    /// The frame as a new buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, AgentError> {
        let mut buf = Vec::new();
        self.emit(&mut buf)?;
        Ok(buf)
    }

    fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), AgentError> {
        match self {
            AgentMessage::Hello(h) => {
                w.u8(h.agent.code());
                w.u8(h.version);
                w.bytes(&h.mac.octets());
                w.flag(h.uuid.is_some());
                if let Some(uuid) = &h.uuid {
                    w.bytes(uuid);
                }
                w.bytes16("computer_name", h.computer_name.as_bytes())?;
                w.bytes16("credential", &h.credential)?;
            }
            AgentMessage::Welcome(m) => w.u64(m.computer_id),
            AgentMessage::Refused(m) => {
                w.u8(m.reason.code());
                w.bytes16("text", m.text.as_bytes())?;
            }
            AgentMessage::CheckIn(m) => w.u64(m.computer_id),
            AgentMessage::JobOffer(j) => {
                w.u64(j.job_id);
                w.u8(j.kind.code());
                w.flag(j.image.is_some());
                if let Some(i) = &j.image {
                    w.bytes16("image.name", i.name.as_bytes())?;
                    w.u64(i.size);
                    w.bytes(&i.sha256);
                }
                w.flag(j.share.is_some());
                if let Some(s) = &j.share {
                    w.bytes16("share.path", s.path.as_bytes())?;
                    w.bytes16("share.user", s.user.as_bytes())?;
                    w.bytes16("share.secret", &s.secret)?;
                }
                w.flag(j.post_config.is_some());
                if let Some(p) = &j.post_config {
                    w.bytes16("post_config.name", p.name.as_bytes())?;
                    w.flag(p.address.is_some());
                    if let Some(a) = p.address {
                        w.bytes(&a.octets());
                    }
                }
                w.flag(j.script.is_some());
                if let Some(s) = &j.script {
                    w.bytes32("script", s.as_bytes())?;
                }
            }
            AgentMessage::NoJob | AgentMessage::Bye => {}
            AgentMessage::JobStatus(s) => {
                w.u64(s.job_id);
                w.u8(s.state.code());
                w.u64(s.progress_bytes);
                w.bytes16("detail", s.detail.as_bytes())?;
            }
            AgentMessage::ImageRequest(r) => {
                w.u64(r.job_id);
                w.u64(r.offset);
                w.u32(r.len);
            }
            AgentMessage::ImageChunk(c) => {
                w.u64(c.job_id);
                w.u64(c.offset);
                w.u32(c.checksum);
                w.bytes32("data", &c.data)?;
            }
            AgentMessage::Error(e) => {
                w.u16(e.code.code());
                w.bytes16("text", e.text.as_bytes())?;
            }
        }
        Ok(())
    }
}

fn type_name(msg_type: u8) -> Option<&'static str> {
    use msg_type::*;
    Some(match msg_type {
        HELLO => "Hello",
        WELCOME => "Welcome",
        REFUSED => "Refused",
        BYE => "Bye",
        ERROR => "Error",
        CHECK_IN => "CheckIn",
        JOB_OFFER => "JobOffer",
        NO_JOB => "NoJob",
        JOB_STATUS => "JobStatus",
        IMAGE_REQUEST => "ImageRequest",
        IMAGE_CHUNK => "ImageChunk",
        _ => return None,
    })
}

/// Cuts a TCP byte stream into messages.
///
/// Feed it bytes as they arrive, in any pieces, with [`push`](Self::push); take
/// messages with [`next`](Self::next) until it returns `None`. It buffers at most
/// [`MAX_FRAME_LEN`] bytes: `push` takes only what fits, and a header announcing a
/// body over [`MAX_BODY_LEN`] is an error as soon as it is complete.
///
/// ```text
/// let mut rest = &bytes_from_socket[..];
/// while !rest.is_empty() {
///     let taken = decoder.push(rest);
///     rest = &rest[taken..];
///     while let Some(msg) = decoder.next() { ... }
/// }
/// ```
///
/// That loop always makes progress: when `push` takes nothing, the buffer holds a
/// whole frame (or a bad header), so `next` returns something.
///
/// After a framing error ([`AgentError::is_fatal`]) the decoder is dead: `next`
/// has returned the error once and then only returns `None`, and `push` discards
/// what it is given. There is no resynchronisation on TCP (see the module docs).
/// Errors in one message's body are returned and the decoder goes on with the
/// next frame.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    pos: usize,
    mode: ParseMode,
    dead: Option<AgentError>,
}

impl FrameDecoder {
    /// A decoder parsing bodies in `mode`.
    pub fn new(mode: ParseMode) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            pos: 0,
            mode,
            dead: None,
        }
    }

    /// Takes as many of `bytes` as fit in one frame's worth of buffer and returns
    /// how many it took; push the rest after draining [`next`](Self::next). A dead
    /// decoder takes (and drops) everything.
    #[must_use = "bytes past the returned count were not taken: drain next() and push them again"]
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        if self.dead.is_some() {
            return bytes.len();
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let take = bytes.len().min(self.room());
        self.buf.extend_from_slice(&bytes[..take]);
        take
    }

    /// How many bytes [`push`](Self::push) would take now.
    pub fn room(&self) -> usize {
        if self.dead.is_some() {
            return usize::MAX;
        }
        MAX_FRAME_LEN.saturating_sub(self.buffered())
    }

    /// Bytes received but not yet returned as messages.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The framing error that killed the stream, if one did.
    pub fn error(&self) -> Option<&AgentError> {
        self.dead.as_ref()
    }

    /// Whether a framing error killed the stream.
    pub fn is_dead(&self) -> bool {
        self.dead.is_some()
    }

    /// The next complete message, or `None` when more bytes are needed (or the
    /// stream is dead).
    #[allow(clippy::should_implement_trait)] // Not an Iterator: None means "not yet".
    pub fn next(&mut self) -> Option<Result<AgentMessage, AgentError>> {
        if self.dead.is_some() {
            return None;
        }
        let unread = &self.buf[self.pos..];
        let header = match FrameHeader::parse(unread) {
            Ok(Some(h)) => h,
            Ok(None) => return None,
            Err(e) => {
                self.dead = Some(e.clone());
                self.buf = Vec::new();
                self.pos = 0;
                return Some(Err(e));
            }
        };
        let end = HEADER_LEN + header.body_len;
        let body = unread.get(HEADER_LEN..end)?;
        let msg = AgentMessage::parse_body(header.msg_type, body, self.mode);
        self.pos += end;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        Some(msg)
    }
}

impl Default for FrameDecoder {
    /// A lax decoder, what a server runs with.
    fn default() -> Self {
        FrameDecoder::new(ParseMode::Lax)
    }
}

/// CRC-32/ISO-HDLC (the Ethernet/zip CRC: reflected polynomial 0xEDB88320, initial
/// value and final XOR 0xFFFFFFFF; check value 0xCBF43926 for "123456789").
pub fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |crc, &b| {
        CRC_TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8)
    })
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// A [`FieldReader`] over one message's body, with the agent codec's own
/// reads (flags, length-prefixed bytes, UTF-8) on top.
struct Reader<'a>(FieldReader<'a>);

impl<'a> std::ops::Deref for Reader<'a> {
    type Target = FieldReader<'a>;
    fn deref(&self) -> &FieldReader<'a> {
        &self.0
    }
}

impl std::ops::DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl From<Truncated> for AgentError {
    fn from(t: Truncated) -> Self {
        AgentError::TruncatedBody {
            msg: t.msg,
            field: t.field,
        }
    }
}

impl<'a> Reader<'a> {
    fn flag(&mut self, field: &'static str) -> Result<bool, AgentError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(AgentError::BadFlag {
                msg: self.msg,
                field,
                value,
            }),
        }
    }

    fn unknown(&self, field: &'static str, value: u8) -> AgentError {
        AgentError::UnknownValue {
            msg: self.msg,
            field,
            value,
        }
    }

    fn bytes16(&mut self, field: &'static str) -> Result<Vec<u8>, AgentError> {
        let n = self.u16(field)?;
        Ok(self.take(usize::from(n), field)?.to_vec())
    }

    fn bytes32(&mut self, field: &'static str) -> Result<Vec<u8>, AgentError> {
        let n = self.u32(field)?;
        // A length that does not fit usize cannot fit the body either.
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        Ok(self.take(n, field)?.to_vec())
    }

    fn utf8(&self, bytes: Vec<u8>, field: &'static str) -> Result<String, AgentError> {
        String::from_utf8(bytes).map_err(|_| AgentError::NotUtf8 {
            msg: self.msg,
            field,
        })
    }

    fn str16(&mut self, field: &'static str) -> Result<String, AgentError> {
        let bytes = self.bytes16(field)?;
        self.utf8(bytes, field)
    }

    fn text32(&mut self, field: &'static str) -> Result<String, AgentError> {
        let bytes = self.bytes32(field)?;
        self.utf8(bytes, field)
    }
}

struct Writer<'a> {
    buf: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn flag(&mut self, present: bool) {
        self.u8(u8::from(present));
    }

    fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    fn bytes16(&mut self, field: &'static str, v: &[u8]) -> Result<(), AgentError> {
        let len = u16::try_from(v.len()).map_err(|_| AgentError::FieldTooLong {
            field,
            len: v.len(),
            max: usize::from(u16::MAX),
        })?;
        self.u16(len);
        self.bytes(v);
        Ok(())
    }

    fn bytes32(&mut self, field: &'static str, v: &[u8]) -> Result<(), AgentError> {
        // The frame limit already bounds this far below u32::MAX; kept for safety.
        let len = u32::try_from(v.len()).map_err(|_| AgentError::FieldTooLong {
            field,
            len: v.len(),
            max: MAX_BODY_LEN,
        })?;
        self.u32(len);
        self.bytes(v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn max_body_fits_the_length_field() {
        assert!(u32::try_from(MAX_BODY_LEN).is_ok());
    }
}
