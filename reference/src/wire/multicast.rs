//! The multicast imaging protocol: one sender streams an image to many
//! receivers over IP multicast, and repairs only what receivers report missing.
//!
//! The design follows what udpcast and Altiris multicast do (facts only, no code
//! taken): a rendezvous phase in which the sender announces the image and
//! receivers join, a start decided by a minimum number of receivers or a maximum
//! wait, then the image in *slices* of blocks. After each slice the sender asks
//! every receiver what it lacks; receivers answer with a bitmap of the missing
//! blocks (a NAK) or an Ok, and the sender multicasts again only the union of
//! what was NAKed. One copy of each block serves every receiver that got it, so
//! imaging a fleet costs about what imaging one machine does.
//!
//! # Transport
//!
//! UDP. Everything the sender says (Announce, Start, Data, SliceEnd, Done) goes
//! to one multicast group and port ([`DEFAULT_GROUP`]:[`DEFAULT_DATA_PORT`],
//! both configurable), so a receiver needs only a socket joined to the group.
//! What receivers say (Join, Nak, Ok) goes by unicast to the address the
//! Announce came from: the sender's control port ([`DEFAULT_CONTROL_PORT`],
//! configurable; udpcast uses 9000/9001 the same way). The group is in the
//! administratively scoped range 239.0.0.0/8 (RFC 2365), which routers do not
//! forward out of the site.
//!
//! Each message is exactly one datagram: UDP keeps message boundaries, so there
//! is no length field, and a datagram that ends early is refused.
//!
//! # Header (8 bytes)
//!
//! ```text
//!  0       1       2         3        4                                8
//! +-------+-------+---------+--------+--------------------------------+------
//! |  'P'  |  'M'  | version |  type  |     session (u32, big end.)    | body
//! +-------+-------+---------+--------+--------------------------------+------
//! ```
//!
//! The magic tells this protocol from stray traffic on the port; the version is
//! the version of the whole format ([`VERSION`] 1; any other is refused, since it
//! may lay out even the header differently); the session id, chosen by whoever
//! drives the sender, is in every message so that a receiver never mixes the
//! blocks of two sessions, nor of a sender that restarted, into one image.
//!
//! # Bodies (all integers big-endian)
//!
//! ```text
//! 0x01 Announce  image_size u64 | sha256 [32] | block_len u16 | slice_blocks u16
//!                | name_len u8 | name (UTF-8, 1..=255 bytes)
//! 0x02 Join      receiver mac [6]
//! 0x03 Start     count u16 | count × mac [6]             count <= MAX_RECEIVERS
//! 0x04 Data      slice u32 | block u16 | payload (the rest, 1..=MAX_BLOCK_LEN bytes)
//! 0x05 SliceEnd  slice u32 | round u16 | blocks u16      blocks in 1..=MAX_SLICE_BLOCKS
//! 0x06 Nak       receiver mac [6] | slice u32 | round u16 | blocks u16
//!                | missing bitmap, ceil(blocks / 8) bytes, block i = bit (7 - i % 8) of byte i / 8
//! 0x07 Ok        receiver mac [6] | slice u32 | round u16
//! 0x08 Done      (empty)
//! ```
//!
//! - **Announce** carries everything a receiver must know before it commits a
//!   disk: the image's name (which image this session is), size (does it fit
//!   the partition), SHA-256 (checked once the last block is written), and the
//!   block and slice geometry (so it can place every block without asking).
//! - **Join** names the receiver by its MAC, the identity the Deployment Server
//!   already uses; the sender answers nothing but lists it in Start.
//! - **Start** lists the receivers the sender will wait for. A receiver that
//!   does not find itself there joined too late and waits for a next session,
//!   rather than receiving blocks nobody will repair for it.
//! - **Data**: block `block` of slice `slice` lies at byte
//!   `(slice × slice_blocks + block) × block_len` of the image; only the
//!   image's last block may be shorter than `block_len`.
//! - **SliceEnd** asks for reports on `slice`. `round` counts the repair rounds
//!   of the slice, so a late NAK from an earlier round (already served) is not
//!   served twice; `blocks` is the slice's length (the last slice is short), so
//!   a NAK's bitmap length is known.
//! - **Nak** reports the blocks of the slice still missing, as a bitmap: at most
//!   [`MAX_SLICE_BLOCKS`] / 8 = 128 bytes, whatever the loss, where a list of
//!   ranges grows with the loss pattern. The bitmap's bits past `blocks` are
//!   padding and must be zero ([`ParseMode::Strict`]; lax ignores them).
//! - **Ok**: the receiver has every block of the slice. It is final, so the
//!   sender accepts it from any round.
//! - **Done**: the sender is finished; a receiver still missing blocks knows it
//!   will get no more.
//!
//! # Bounds
//!
//! [`MIN_BLOCK_LEN`]..=[`MAX_BLOCK_LEN`] bytes per block: the default
//! [`DEFAULT_BLOCK_LEN`] (1456) is the largest multiple of 8 for which a Data
//! datagram fits a 1500-byte Ethernet MTU (1500 − 20 IPv4 − 8 UDP − 14 header =
//! 1458); 8192 is for jumbo frames, and below 1024 the per-packet cost
//! dominates. A slice holds at most [`MAX_SLICE_BLOCKS`] blocks so that one
//! NAK's bitmap stays small, and Start lists at most [`MAX_RECEIVERS`] so it
//! fits one 1500-byte datagram.

use std::fmt;
use std::net::Ipv4Addr;

use super::ParseMode;
use super::field::{FieldReader, Truncated};
use crate::net::Mac;

/// The sender's control port, where Joins, NAKs and Oks arrive (configurable).
pub const DEFAULT_CONTROL_PORT: u16 = 9000;
/// The port of the multicast group, where everything the sender says goes
/// (configurable).
pub const DEFAULT_DATA_PORT: u16 = 9001;
/// The default multicast group, in the site-local administratively scoped range
/// (RFC 2365 §6.2, 239.255.0.0/16).
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 80, 88);
/// The two magic bytes every datagram starts with ("PM": pxelab multicast).
pub const MAGIC: [u8; 2] = *b"PM";
/// The format version this module speaks.
pub const VERSION: u8 = 1;
/// Bytes of the header (magic, version, type, session).
pub const HEADER_LEN: usize = 8;
/// Bytes of a Data datagram before its payload (header, slice, block).
pub const DATA_HEADER_LEN: usize = HEADER_LEN + 4 + 2;
/// Smallest block length an Announce may give.
pub const MIN_BLOCK_LEN: u16 = 1024;
/// Largest block length an Announce may give (a jumbo-frame network).
pub const MAX_BLOCK_LEN: u16 = 8192;
/// Default block length: a Data datagram of exactly one 1500-byte MTU, rounded
/// down to a multiple of 8.
pub const DEFAULT_BLOCK_LEN: u16 = 1456;
/// Most blocks in one slice (a NAK bitmap of at most 128 bytes).
pub const MAX_SLICE_BLOCKS: u16 = 1024;
/// Default blocks per slice: about 370 KB at the default block length, enough
/// to keep the link busy between two rounds of reports.
pub const DEFAULT_SLICE_BLOCKS: u16 = 256;
/// Most receivers one Start may list (6 bytes each in one 1500-byte datagram).
pub const MAX_RECEIVERS: usize = 240;
/// Longest image name (its length is one byte).
pub const MAX_NAME_LEN: usize = 255;

/// Message type codes (the header's type byte).
pub mod msg_type {
    /// [`super::Message::Announce`].
    pub const ANNOUNCE: u8 = 0x01;
    /// [`super::Message::Join`].
    pub const JOIN: u8 = 0x02;
    /// [`super::Message::Start`].
    pub const START: u8 = 0x03;
    /// [`super::Message::Data`].
    pub const DATA: u8 = 0x04;
    /// [`super::Message::SliceEnd`].
    pub const SLICE_END: u8 = 0x05;
    /// [`super::Message::Nak`].
    pub const NAK: u8 = 0x06;
    /// [`super::Message::SliceOk`].
    pub const OK: u8 = 0x07;
    /// [`super::Message::Done`].
    pub const DONE: u8 = 0x08;
}

/// Why bytes are not a multicast message, or a message cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MulticastError {
    /// Fewer bytes than a header: not a message of this protocol.
    #[error("datagram of {0} bytes is shorter than the 8-byte multicast header")]
    ShortHeader(usize),
    /// The datagram does not start with "PM".
    #[error(
        "bad magic {0:02x?}: expected \"PM\" (50 4d); the sender does not speak pxelab multicast"
    )]
    BadMagic([u8; 2]),
    /// A version this side does not speak.
    #[error("multicast protocol version {0} is not supported (this side speaks version 1)")]
    UnsupportedVersion(u8),
    /// A type byte this version does not know.
    #[error("unknown multicast message type 0x{0:02x}")]
    UnknownMessageType(u8),
    /// The datagram ends inside a field.
    #[error("{msg} ends inside its {field} field")]
    Truncated {
        /// The message being read.
        msg: &'static str,
        /// The field that did not fit.
        field: &'static str,
    },
    /// (strict) Bytes after the last field.
    #[error("{count} unexpected bytes after the end of a {msg}")]
    TrailingBytes {
        /// The message read.
        msg: &'static str,
        /// How many bytes were left.
        count: usize,
    },
    /// A block length outside [`MIN_BLOCK_LEN`]..=[`MAX_BLOCK_LEN`].
    #[error("block length {0} is outside the allowed {MIN_BLOCK_LEN}..={MAX_BLOCK_LEN} bytes")]
    BadBlockLen(u16),
    /// A slice length (or a NAK's block count) outside 1..=[`MAX_SLICE_BLOCKS`].
    #[error("a slice of {0} blocks is outside the allowed 1..={MAX_SLICE_BLOCKS}")]
    BadSliceBlocks(u16),
    /// A Start listing more than [`MAX_RECEIVERS`].
    #[error("Start lists {0} receivers, more than the {MAX_RECEIVERS} one datagram holds")]
    TooManyReceivers(usize),
    /// A Data payload that is empty or longer than [`MAX_BLOCK_LEN`].
    #[error("Data payload of {0} bytes is outside the allowed 1..={MAX_BLOCK_LEN}")]
    BadPayloadLen(usize),
    /// An image name that is empty or longer than [`MAX_NAME_LEN`] bytes.
    #[error("image name of {0} bytes is outside the allowed 1..={MAX_NAME_LEN}")]
    BadNameLen(usize),
    /// An image name that is not UTF-8.
    #[error("Announce image name is not valid UTF-8")]
    NameNotUtf8,
    /// (strict) A NAK bitmap with a bit set past its block count.
    #[error("Nak bitmap has padding bits set past block {blocks}")]
    PaddingBits {
        /// The NAK's block count.
        blocks: u16,
    },
    /// A block index at or past the end of its map.
    #[error("block {index} is outside a slice of {blocks} blocks")]
    BlockOutOfRange {
        /// The index.
        index: u16,
        /// The map's length.
        blocks: u16,
    },
}

/// A set of blocks of one slice, as a bitmap of fixed length: what a NAK
/// carries and what a receiver tracks. Bits past the length are always zero,
/// so two maps with the same blocks are equal and emit the same bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BlockMap {
    blocks: u16,
    bits: Vec<u8>,
}

impl BlockMap {
    /// A map of `blocks` blocks (1..=[`MAX_SLICE_BLOCKS`]), none set.
    pub fn new(blocks: u16) -> Result<BlockMap, MulticastError> {
        if blocks == 0 || blocks > MAX_SLICE_BLOCKS {
            return Err(MulticastError::BadSliceBlocks(blocks));
        }
        Ok(BlockMap {
            blocks,
            bits: vec![0; usize::from(blocks).div_ceil(8)],
        })
    }

    /// A map of `blocks` blocks, all set.
    pub fn full(blocks: u16) -> Result<BlockMap, MulticastError> {
        let mut m = BlockMap::new(blocks)?;
        m.bits.fill(0xff);
        m.clear_padding();
        Ok(m)
    }

    /// How many blocks the map covers.
    pub fn len(&self) -> u16 {
        self.blocks
    }

    /// Whether the map covers no block (never true: a map covers at least one).
    pub fn is_empty(&self) -> bool {
        self.blocks == 0
    }

    /// Whether block `index` is set (false past the end).
    pub fn contains(&self, index: u16) -> bool {
        index < self.blocks
            && self
                .bits
                .get(usize::from(index / 8))
                .is_some_and(|b| b & (0x80 >> (index % 8)) != 0)
    }

    /// Sets block `index`; returns whether it was newly set.
    pub fn insert(&mut self, index: u16) -> Result<bool, MulticastError> {
        if index >= self.blocks {
            return Err(MulticastError::BlockOutOfRange {
                index,
                blocks: self.blocks,
            });
        }
        let was = self.contains(index);
        self.bits[usize::from(index / 8)] |= 0x80 >> (index % 8);
        Ok(!was)
    }

    /// Unsets every block.
    pub fn clear(&mut self) {
        self.bits.fill(0);
    }

    /// Adds every block of `other` (maps of different lengths: only the blocks
    /// both cover).
    pub fn union_with(&mut self, other: &BlockMap) {
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a |= b;
        }
        self.clear_padding();
    }

    /// How many blocks are set.
    pub fn count(&self) -> u32 {
        self.bits.iter().map(|b| b.count_ones()).sum()
    }

    /// Whether every block is set.
    pub fn is_full(&self) -> bool {
        self.count() == u32::from(self.blocks)
    }

    /// Whether no block is set.
    pub fn is_clear(&self) -> bool {
        self.bits.iter().all(|&b| b == 0)
    }

    /// The set blocks, in order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..self.blocks).filter(|&i| self.contains(i))
    }

    /// The map with every bit flipped: the missing blocks of a "received" map.
    pub fn complement(&self) -> BlockMap {
        let mut m = BlockMap {
            blocks: self.blocks,
            bits: self.bits.iter().map(|b| !b).collect(),
        };
        m.clear_padding();
        m
    }

    /// The bitmap bytes as they go on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bits
    }

    fn clear_padding(&mut self) {
        let rem = self.blocks % 8;
        if rem != 0
            && let Some(last) = self.bits.last_mut()
        {
            *last &= 0xffu8 << (8 - rem);
        }
    }
}

impl fmt::Debug for BlockMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockMap({} of {}: ", self.count(), self.blocks)?;
        f.debug_list().entries(self.iter()).finish()?;
        f.write_str(")")
    }
}

/// 0x01, sender → group: this session carries this image; join it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// The image's name in the store (1..=255 bytes of UTF-8).
    pub image_name: String,
    /// Its size in bytes.
    pub image_size: u64,
    /// SHA-256 of the whole image, checked once the last block is written.
    pub sha256: [u8; 32],
    /// Bytes per block ([`MIN_BLOCK_LEN`]..=[`MAX_BLOCK_LEN`]).
    pub block_len: u16,
    /// Blocks per slice (1..=[`MAX_SLICE_BLOCKS`]).
    pub slice_blocks: u16,
}

/// 0x04, sender → group: one block of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    /// The slice.
    pub slice: u32,
    /// The block's index in its slice.
    pub block: u16,
    /// The block's bytes (1..=[`MAX_BLOCK_LEN`]).
    pub payload: Vec<u8>,
}

/// 0x05, sender → group: the slice has been sent; report what you lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceEnd {
    /// The slice.
    pub slice: u32,
    /// Which request for reports this is (0 after the first pass, then one
    /// more per repair round).
    pub round: u16,
    /// The slice's length in blocks (1..=[`MAX_SLICE_BLOCKS`]).
    pub blocks: u16,
}

/// 0x06, receiver → sender: these blocks of the slice are missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nak {
    /// Who reports.
    pub receiver: Mac,
    /// The slice.
    pub slice: u32,
    /// The round of the SliceEnd answered.
    pub round: u16,
    /// The missing blocks; its length is the slice's.
    pub missing: BlockMap,
}

/// 0x07, receiver → sender: every block of the slice is here (the "Ok").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceOk {
    /// Who reports.
    pub receiver: Mac,
    /// The slice.
    pub slice: u32,
    /// The round of the SliceEnd answered.
    pub round: u16,
}

/// One message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The sender announces the image.
    Announce(Announce),
    /// A receiver joins, naming itself by MAC.
    Join(Mac),
    /// The sender starts, listing the receivers it will wait for.
    Start(Vec<Mac>),
    /// One block.
    Data(Data),
    /// The sender asks for reports on a slice.
    SliceEnd(SliceEnd),
    /// A receiver reports missing blocks.
    Nak(Nak),
    /// A receiver has a whole slice.
    SliceOk(SliceOk),
    /// The sender is finished.
    Done,
}

/// A datagram of the protocol: the session it belongs to and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The session id from the header.
    pub session: u32,
    /// The message.
    pub message: Message,
}

impl Message {
    /// The type byte this message goes out with.
    pub fn msg_type(&self) -> u8 {
        use msg_type::*;
        match self {
            Message::Announce(_) => ANNOUNCE,
            Message::Join(_) => JOIN,
            Message::Start(_) => START,
            Message::Data(_) => DATA,
            Message::SliceEnd(_) => SLICE_END,
            Message::Nak(_) => NAK,
            Message::SliceOk(_) => OK,
            Message::Done => DONE,
        }
    }

    /// The message's name, as errors and logs spell it.
    pub fn name(&self) -> &'static str {
        type_name(self.msg_type()).unwrap_or("message")
    }
}

impl Packet {
    /// A packet of `session` carrying `message`.
    pub fn new(session: u32, message: Message) -> Packet {
        Packet { session, message }
    }

    /// Parses one datagram. In [`ParseMode::Strict`] bytes after the last field
    /// and set padding bits in a NAK bitmap are errors; [`ParseMode::Lax`]
    /// ignores both. Every length is checked before it is used, so no input
    /// panics or makes the parser allocate more than the datagram's size.
    pub fn parse(bytes: &[u8], mode: ParseMode) -> Result<Packet, MulticastError> {
        let Some(&[m0, m1, version, msg_type, s0, s1, s2, s3]) = bytes.first_chunk::<HEADER_LEN>()
        else {
            return Err(MulticastError::ShortHeader(bytes.len()));
        };
        if [m0, m1] != MAGIC {
            return Err(MulticastError::BadMagic([m0, m1]));
        }
        if version != VERSION {
            return Err(MulticastError::UnsupportedVersion(version));
        }
        let session = u32::from_be_bytes([s0, s1, s2, s3]);
        let msg = type_name(msg_type).ok_or(MulticastError::UnknownMessageType(msg_type))?;
        let mut r = Reader::new(&bytes[HEADER_LEN..], msg);
        let message = match msg_type {
            msg_type::ANNOUNCE => {
                let image_size = r.u64("image_size")?;
                let sha256 = r.array("sha256")?;
                let block_len = r.u16("block_len")?;
                if !(MIN_BLOCK_LEN..=MAX_BLOCK_LEN).contains(&block_len) {
                    return Err(MulticastError::BadBlockLen(block_len));
                }
                let slice_blocks = r.u16("slice_blocks")?;
                if slice_blocks == 0 || slice_blocks > MAX_SLICE_BLOCKS {
                    return Err(MulticastError::BadSliceBlocks(slice_blocks));
                }
                let name_len = r.u8("name_len")?;
                if name_len == 0 {
                    return Err(MulticastError::BadNameLen(0));
                }
                let name = r.take(usize::from(name_len), "name")?;
                let image_name = std::str::from_utf8(name)
                    .map_err(|_| MulticastError::NameNotUtf8)?
                    .to_string();
                Message::Announce(Announce {
                    image_name,
                    image_size,
                    sha256,
                    block_len,
                    slice_blocks,
                })
            }
            msg_type::JOIN => Message::Join(Mac(r.array("receiver")?)),
            msg_type::START => {
                let count = usize::from(r.u16("count")?);
                if count > MAX_RECEIVERS {
                    return Err(MulticastError::TooManyReceivers(count));
                }
                let mut macs = Vec::with_capacity(count);
                for _ in 0..count {
                    macs.push(Mac(r.array("receivers")?));
                }
                Message::Start(macs)
            }
            msg_type::DATA => {
                let slice = r.u32("slice")?;
                let block = r.u16("block")?;
                let payload = std::mem::take(&mut r.rest);
                if payload.is_empty() || payload.len() > usize::from(MAX_BLOCK_LEN) {
                    return Err(MulticastError::BadPayloadLen(payload.len()));
                }
                Message::Data(Data {
                    slice,
                    block,
                    payload: payload.to_vec(),
                })
            }
            msg_type::SLICE_END => {
                let slice = r.u32("slice")?;
                let round = r.u16("round")?;
                let blocks = r.u16("blocks")?;
                if blocks == 0 || blocks > MAX_SLICE_BLOCKS {
                    return Err(MulticastError::BadSliceBlocks(blocks));
                }
                Message::SliceEnd(SliceEnd {
                    slice,
                    round,
                    blocks,
                })
            }
            msg_type::NAK => {
                let receiver = Mac(r.array("receiver")?);
                let slice = r.u32("slice")?;
                let round = r.u16("round")?;
                let blocks = r.u16("blocks")?;
                let mut missing = BlockMap::new(blocks)?;
                let bitmap = r.take(missing.bits.len(), "bitmap")?;
                missing.bits.copy_from_slice(bitmap);
                let sent = missing.bits.last().copied();
                missing.clear_padding();
                if mode == ParseMode::Strict && missing.bits.last().copied() != sent {
                    return Err(MulticastError::PaddingBits { blocks });
                }
                Message::Nak(Nak {
                    receiver,
                    slice,
                    round,
                    missing,
                })
            }
            msg_type::OK => Message::SliceOk(SliceOk {
                receiver: Mac(r.array("receiver")?),
                slice: r.u32("slice")?,
                round: r.u16("round")?,
            }),
            _ => Message::Done,
        };
        if mode == ParseMode::Strict && !r.rest.is_empty() {
            return Err(MulticastError::TrailingBytes {
                msg,
                count: r.rest.len(),
            });
        }
        Ok(Packet { session, message })
    }

    /// Bytes [`emit`](Self::emit) appends.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + match &self.message {
                Message::Announce(a) => 8 + 32 + 2 + 2 + 1 + a.image_name.len(),
                Message::Join(_) => 6,
                Message::Start(macs) => 2usize.saturating_add(macs.len().saturating_mul(6)),
                Message::Data(d) => 4 + 2 + d.payload.len(),
                Message::SliceEnd(_) => 4 + 2 + 2,
                Message::Nak(n) => 6 + 4 + 2 + 2 + n.missing.bits.len(),
                Message::SliceOk(_) => 6 + 4 + 2,
                Message::Done => 0,
            }
    }

    /// Appends the datagram to `buf`. A message that breaks a bound the parser
    /// enforces is refused (and `buf` left as it was), so whatever this emits
    /// parses strictly back to itself.
    pub fn emit(&self, buf: &mut Vec<u8>) -> Result<(), MulticastError> {
        self.check()?;
        buf.reserve(self.encoded_len());
        buf.extend_from_slice(&MAGIC);
        buf.push(VERSION);
        buf.push(self.message.msg_type());
        buf.extend_from_slice(&self.session.to_be_bytes());
        match &self.message {
            Message::Announce(a) => {
                buf.extend_from_slice(&a.image_size.to_be_bytes());
                buf.extend_from_slice(&a.sha256);
                buf.extend_from_slice(&a.block_len.to_be_bytes());
                buf.extend_from_slice(&a.slice_blocks.to_be_bytes());
                // check(): 1..=255 bytes.
                buf.push(a.image_name.len() as u8);
                buf.extend_from_slice(a.image_name.as_bytes());
            }
            Message::Join(mac) => buf.extend_from_slice(&mac.octets()),
            Message::Start(macs) => {
                // check(): at most MAX_RECEIVERS.
                buf.extend_from_slice(&(macs.len() as u16).to_be_bytes());
                for mac in macs {
                    buf.extend_from_slice(&mac.octets());
                }
            }
            Message::Data(d) => {
                buf.extend_from_slice(&d.slice.to_be_bytes());
                buf.extend_from_slice(&d.block.to_be_bytes());
                buf.extend_from_slice(&d.payload);
            }
            Message::SliceEnd(s) => {
                buf.extend_from_slice(&s.slice.to_be_bytes());
                buf.extend_from_slice(&s.round.to_be_bytes());
                buf.extend_from_slice(&s.blocks.to_be_bytes());
            }
            Message::Nak(n) => {
                buf.extend_from_slice(&n.receiver.octets());
                buf.extend_from_slice(&n.slice.to_be_bytes());
                buf.extend_from_slice(&n.round.to_be_bytes());
                buf.extend_from_slice(&n.missing.blocks.to_be_bytes());
                buf.extend_from_slice(&n.missing.bits);
            }
            Message::SliceOk(o) => {
                buf.extend_from_slice(&o.receiver.octets());
                buf.extend_from_slice(&o.slice.to_be_bytes());
                buf.extend_from_slice(&o.round.to_be_bytes());
            }
            Message::Done => {}
        }
        Ok(())
    }

    /// The datagram as a new buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, MulticastError> {
        let mut buf = Vec::new();
        self.emit(&mut buf)?;
        Ok(buf)
    }

    fn check(&self) -> Result<(), MulticastError> {
        match &self.message {
            Message::Announce(a) => {
                if !(MIN_BLOCK_LEN..=MAX_BLOCK_LEN).contains(&a.block_len) {
                    return Err(MulticastError::BadBlockLen(a.block_len));
                }
                if a.slice_blocks == 0 || a.slice_blocks > MAX_SLICE_BLOCKS {
                    return Err(MulticastError::BadSliceBlocks(a.slice_blocks));
                }
                if a.image_name.is_empty() || a.image_name.len() > MAX_NAME_LEN {
                    return Err(MulticastError::BadNameLen(a.image_name.len()));
                }
            }
            Message::Start(macs) if macs.len() > MAX_RECEIVERS => {
                return Err(MulticastError::TooManyReceivers(macs.len()));
            }
            Message::Data(d)
                if d.payload.is_empty() || d.payload.len() > usize::from(MAX_BLOCK_LEN) =>
            {
                return Err(MulticastError::BadPayloadLen(d.payload.len()));
            }
            Message::SliceEnd(s) if s.blocks == 0 || s.blocks > MAX_SLICE_BLOCKS => {
                return Err(MulticastError::BadSliceBlocks(s.blocks));
            }
            _ => {}
        }
        Ok(())
    }
}

fn type_name(msg_type: u8) -> Option<&'static str> {
    use msg_type::*;
    Some(match msg_type {
        ANNOUNCE => "Announce",
        JOIN => "Join",
        START => "Start",
        DATA => "Data",
        SLICE_END => "SliceEnd",
        NAK => "Nak",
        OK => "Ok",
        DONE => "Done",
        _ => return None,
    })
}

/// The Ethernet address IPv4 multicast `group` maps to (RFC 1112 §6.4:
/// 01:00:5e followed by the group's low 23 bits): where frames for the group go
/// at L2.
pub fn group_mac(group: Ipv4Addr) -> Mac {
    let o = group.octets();
    Mac([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
}

/// A [`FieldReader`] over one message's body (see [`super::field`]).
type Reader<'a> = FieldReader<'a>;

impl From<Truncated> for MulticastError {
    fn from(t: Truncated) -> Self {
        MulticastError::Truncated {
            msg: t.msg,
            field: t.field,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_block_fills_one_ethernet_mtu() {
        let udp_payload = 1500 - 20 - 8;
        assert!(DATA_HEADER_LEN + usize::from(DEFAULT_BLOCK_LEN) <= udp_payload);
        assert!(DATA_HEADER_LEN + usize::from(DEFAULT_BLOCK_LEN) + 8 > udp_payload);
        assert!(HEADER_LEN + 2 + 6 * MAX_RECEIVERS <= udp_payload);
    }

    #[test]
    fn group_mac_keeps_the_low_23_bits() {
        assert_eq!(
            group_mac(Ipv4Addr::new(239, 255, 80, 88)),
            Mac([0x01, 0x00, 0x5e, 0x7f, 80, 88])
        );
    }

    #[test]
    fn block_map_padding_stays_clear() {
        let m = BlockMap::full(10).unwrap();
        assert_eq!(m.as_bytes(), &[0xff, 0xc0]);
        assert_eq!(m.count(), 10);
        assert!(m.complement().is_clear());
        let mut a = BlockMap::new(10).unwrap();
        a.insert(9).unwrap();
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![9]);
        assert!(a.insert(10).is_err());
        assert!(BlockMap::new(0).is_err());
        assert!(BlockMap::new(MAX_SLICE_BLOCKS + 1).is_err());
    }
}
