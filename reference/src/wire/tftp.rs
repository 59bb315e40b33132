//! TFTP packets (RFC 1350, with options per RFC 2347/2348/2349/7440).
//!
//! ```text
//! RRQ/WRQ  | 01/02 | filename | 0 | mode | 0 | (name | 0 | value | 0)* |
//! DATA     | 03    | block u16 | 0..=blksize bytes |
//! ACK      | 04    | block u16 |
//! ERROR    | 05    | code u16  | message | 0 |
//! OACK     | 06    | (name | 0 | value | 0)* |
//! ```
//!
//! Strings are kept as sent (option names in the client's spelling and in wire
//! order) so a conformance tool can report exactly what a peer said; lookups are
//! case-insensitive because RFC 2347 makes option names case-insensitive.

use std::fmt;

use super::ParseMode;

/// Largest block size RFC 2348 allows (65535 - 20 IP - 8 UDP - 4 TFTP header, minus
/// room for IP options).
pub const MAX_BLKSIZE: u16 = 65464;
/// Smallest block size RFC 2348 allows.
pub const MIN_BLKSIZE: u16 = 8;
/// RFC 1350's block size, used when no `blksize` option is negotiated.
pub const DEFAULT_BLKSIZE: u16 = 512;

/// A TFTP error code (RFC 1350 §5, plus 8 from RFC 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: not defined, see the message.
    NotDefined,
    /// 1: file not found.
    FileNotFound,
    /// 2: access violation.
    AccessViolation,
    /// 3: disk full or allocation exceeded.
    DiskFull,
    /// 4: illegal TFTP operation.
    IllegalOperation,
    /// 5: unknown transfer ID (a packet from a port that is not the peer's TID).
    UnknownTid,
    /// 6: file already exists.
    FileExists,
    /// 7: no such user.
    NoSuchUser,
    /// 8: option negotiation refused (RFC 2347); also what EDK2 sends to end a
    /// `tsize` probe.
    OptionRefused,
    /// Any other code, kept as sent.
    Other(u16),
}

impl ErrorCode {
    /// The code as it goes on the wire.
    pub const fn code(self) -> u16 {
        match self {
            ErrorCode::NotDefined => 0,
            ErrorCode::FileNotFound => 1,
            ErrorCode::AccessViolation => 2,
            ErrorCode::DiskFull => 3,
            ErrorCode::IllegalOperation => 4,
            ErrorCode::UnknownTid => 5,
            ErrorCode::FileExists => 6,
            ErrorCode::NoSuchUser => 7,
            ErrorCode::OptionRefused => 8,
            ErrorCode::Other(c) => c,
        }
    }
}

impl From<u16> for ErrorCode {
    fn from(code: u16) -> Self {
        match code {
            0 => ErrorCode::NotDefined,
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTid,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionRefused,
            c => ErrorCode::Other(c),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ErrorCode::NotDefined => "not defined",
            ErrorCode::FileNotFound => "file not found",
            ErrorCode::AccessViolation => "access violation",
            ErrorCode::DiskFull => "disk full",
            ErrorCode::IllegalOperation => "illegal operation",
            ErrorCode::UnknownTid => "unknown transfer ID",
            ErrorCode::FileExists => "file exists",
            ErrorCode::NoSuchUser => "no such user",
            ErrorCode::OptionRefused => "option negotiation refused",
            ErrorCode::Other(_) => "unassigned",
        };
        write!(f, "{} ({text})", self.code())
    }
}

/// Transfer mode of a request (RFC 1350 §1; case-insensitive on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `octet`: raw bytes, what every boot client uses.
    Octet,
    /// `netascii`: 8-bit ASCII with CR LF line ends.
    Netascii,
    /// `mail`: obsolete since RFC 1350 itself.
    Mail,
}

impl Mode {
    /// Recognises a mode string, ignoring case.
    pub fn from_wire(mode: &str) -> Option<Mode> {
        if mode.eq_ignore_ascii_case("octet") {
            Some(Mode::Octet)
        } else if mode.eq_ignore_ascii_case("netascii") {
            Some(Mode::Netascii)
        } else if mode.eq_ignore_ascii_case("mail") {
            Some(Mode::Mail)
        } else {
            None
        }
    }

    /// The canonical lower-case spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Octet => "octet",
            Mode::Netascii => "netascii",
            Mode::Mail => "mail",
        }
    }
}

/// A TFTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TftpPacket {
    /// Read request (opcode 1).
    Rrq {
        /// The file name as the client wrote it.
        filename: String,
        /// The mode string as sent (see [`Mode::from_wire`]).
        mode: String,
        /// RFC 2347 options `(name, value)` in wire order, names as spelled.
        options: Vec<(String, String)>,
    },
    /// Write request (opcode 2).
    Wrq {
        /// The file name as the client wrote it.
        filename: String,
        /// The mode string as sent.
        mode: String,
        /// RFC 2347 options in wire order.
        options: Vec<(String, String)>,
    },
    /// A data block (opcode 3).
    Data {
        /// Block number (wraps past 65535, see the server's rollover policy).
        block: u16,
        /// The payload; shorter than the block size on the last block.
        data: Vec<u8>,
    },
    /// Acknowledgement (opcode 4); block 0 acknowledges an OACK.
    Ack {
        /// The block acknowledged.
        block: u16,
    },
    /// Error (opcode 5); ends the transfer.
    Error {
        /// The error code.
        code: ErrorCode,
        /// Human-readable text.
        message: String,
    },
    /// Option acknowledgement (opcode 6, RFC 2347).
    Oack {
        /// The options the server accepted, in its order.
        options: Vec<(String, String)>,
    },
}

/// Why bytes are not a TFTP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TftpParseError {
    /// Fewer than the 2 bytes of an opcode, or a DATA/ACK/ERROR without its u16.
    #[error("TFTP packet truncated: {0} bytes is too short for its opcode")]
    Truncated(usize),
    /// An opcode outside 1..=6.
    #[error("unknown TFTP opcode {0}: expected 1 (RRQ) to 6 (OACK)")]
    UnknownOpcode(u16),
    /// A string field ran to the end of the packet without its NUL.
    #[error("TFTP {0} is not NUL-terminated")]
    Unterminated(&'static str),
    /// A string field is not UTF-8 (RFC 1350 strings are netascii).
    #[error("TFTP {0} is not ASCII/UTF-8 text")]
    NotText(&'static str),
    /// A request with an empty file name.
    #[error("TFTP request has an empty file name")]
    EmptyFilename,
    /// An option name without a value.
    #[error("TFTP option {0:?} has no value")]
    OptionWithoutValue(String),
    /// (strict) An option with an empty name: RFC 2347 options are named; lax mode
    /// reads trailing NULs as padding instead.
    #[error("TFTP option with an empty name")]
    EmptyOptionName,
    /// Bytes after a complete ACK or ERROR (strict mode only).
    #[error("{0} bytes after the end of a TFTP packet")]
    TrailingBytes(usize),
}

const RRQ: u16 = 1;
const WRQ: u16 = 2;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;

impl TftpPacket {
    /// Parses in [`ParseMode::Lax`], what a server runs with.
    pub fn parse(bytes: &[u8]) -> Result<TftpPacket, TftpParseError> {
        Self::parse_with(bytes, ParseMode::Lax)
    }

    /// Parses in the given mode. Lax accepts an ERROR message or a final option
    /// value missing its NUL (seen from embedded clients) and ignores bytes after
    /// an ACK; strict rejects both.
    pub fn parse_with(bytes: &[u8], mode: ParseMode) -> Result<TftpPacket, TftpParseError> {
        let lax = mode == ParseMode::Lax;
        let (op, body) = match bytes {
            [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
            _ => return Err(TftpParseError::Truncated(bytes.len())),
        };
        match op {
            RRQ | WRQ => {
                let mut r = Fields { rest: body, lax };
                let filename = r.string("file name", false)?;
                if filename.is_empty() {
                    return Err(TftpParseError::EmptyFilename);
                }
                let mode = r.string("mode", false)?;
                let options = r.options()?;
                Ok(if op == RRQ {
                    TftpPacket::Rrq {
                        filename,
                        mode,
                        options,
                    }
                } else {
                    TftpPacket::Wrq {
                        filename,
                        mode,
                        options,
                    }
                })
            }
            DATA => match body {
                [a, b, data @ ..] => Ok(TftpPacket::Data {
                    block: u16::from_be_bytes([*a, *b]),
                    data: data.to_vec(),
                }),
                _ => Err(TftpParseError::Truncated(bytes.len())),
            },
            ACK => match body {
                [a, b, rest @ ..] => {
                    if !lax && !rest.is_empty() {
                        return Err(TftpParseError::TrailingBytes(rest.len()));
                    }
                    Ok(TftpPacket::Ack {
                        block: u16::from_be_bytes([*a, *b]),
                    })
                }
                _ => Err(TftpParseError::Truncated(bytes.len())),
            },
            ERROR => match body {
                [a, b, rest @ ..] => {
                    let mut r = Fields { rest, lax };
                    let message = r.string("error message", true)?;
                    if !lax && !r.rest.is_empty() {
                        return Err(TftpParseError::TrailingBytes(r.rest.len()));
                    }
                    Ok(TftpPacket::Error {
                        code: ErrorCode::from(u16::from_be_bytes([*a, *b])),
                        message,
                    })
                }
                _ => Err(TftpParseError::Truncated(bytes.len())),
            },
            OACK => {
                let mut r = Fields { rest: body, lax };
                Ok(TftpPacket::Oack {
                    options: r.options()?,
                })
            }
            other => Err(TftpParseError::UnknownOpcode(other)),
        }
    }

    /// Appends the wire form to `buf`. Strings are written as given: a NUL inside
    /// one would end the field early on the wire, which is the caller's problem.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        fn put_str(buf: &mut Vec<u8>, s: &str) {
            buf.extend_from_slice(s.as_bytes());
            buf.push(0);
        }
        fn put_options(buf: &mut Vec<u8>, options: &[(String, String)]) {
            for (name, value) in options {
                put_str(buf, name);
                put_str(buf, value);
            }
        }
        match self {
            TftpPacket::Rrq {
                filename,
                mode,
                options,
            }
            | TftpPacket::Wrq {
                filename,
                mode,
                options,
            } => {
                let op = if matches!(self, TftpPacket::Rrq { .. }) {
                    RRQ
                } else {
                    WRQ
                };
                buf.extend_from_slice(&op.to_be_bytes());
                put_str(buf, filename);
                put_str(buf, mode);
                put_options(buf, options);
            }
            TftpPacket::Data { block, data } => {
                buf.extend_from_slice(&DATA.to_be_bytes());
                buf.extend_from_slice(&block.to_be_bytes());
                buf.extend_from_slice(data);
            }
            TftpPacket::Ack { block } => {
                buf.extend_from_slice(&ACK.to_be_bytes());
                buf.extend_from_slice(&block.to_be_bytes());
            }
            TftpPacket::Error { code, message } => {
                buf.extend_from_slice(&ERROR.to_be_bytes());
                buf.extend_from_slice(&code.code().to_be_bytes());
                put_str(buf, message);
            }
            TftpPacket::Oack { options } => {
                buf.extend_from_slice(&OACK.to_be_bytes());
                put_options(buf, options);
            }
        }
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.emit(&mut buf);
        buf
    }

    /// The options of a request or OACK (empty for other packets).
    pub fn options(&self) -> &[(String, String)] {
        match self {
            TftpPacket::Rrq { options, .. }
            | TftpPacket::Wrq { options, .. }
            | TftpPacket::Oack { options } => options,
            _ => &[],
        }
    }

    /// The value of the first option called `name`, ignoring case (RFC 2347).
    pub fn option(&self, name: &str) -> Option<&str> {
        find_option(self.options(), name)
    }
}

/// The value of the first option called `name` in `options`, ignoring case as
/// RFC 2347 requires.
pub fn find_option<'a>(options: &'a [(String, String)], name: &str) -> Option<&'a str> {
    options
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

struct Fields<'a> {
    rest: &'a [u8],
    lax: bool,
}

impl Fields<'_> {
    /// One NUL-terminated string; `may_end` lets lax mode take the remainder when
    /// the NUL is missing.
    fn string(&mut self, what: &'static str, may_end: bool) -> Result<String, TftpParseError> {
        let (field, rest) = match self.rest.iter().position(|&b| b == 0) {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None if self.lax && may_end => (self.rest, &[][..]),
            None => return Err(TftpParseError::Unterminated(what)),
        };
        self.rest = rest;
        std::str::from_utf8(field)
            .map(str::to_owned)
            .map_err(|_| TftpParseError::NotText(what))
    }

    fn options(&mut self) -> Result<Vec<(String, String)>, TftpParseError> {
        let mut options = Vec::new();
        while !self.rest.is_empty() {
            // Lax: some clients pad requests with NULs after the last option.
            if self.lax && self.rest.iter().all(|&b| b == 0) {
                break;
            }
            let name = self.string("option name", false)?;
            if name.is_empty() && !self.lax {
                return Err(TftpParseError::EmptyOptionName);
            }
            if self.rest.is_empty() {
                return Err(TftpParseError::OptionWithoutValue(name));
            }
            let value = self.string("option value", true)?;
            options.push((name, value));
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strict_refuses_an_empty_option_name_lax_reads_it_as_padding() {
        let bytes = b"\x00\x01boot\x00octet\x00\x00\x00";
        assert_eq!(
            TftpPacket::parse_with(bytes, ParseMode::Strict),
            Err(TftpParseError::EmptyOptionName)
        );
        assert_eq!(TftpPacket::parse(bytes).unwrap().options(), &[]);
    }

    #[test]
    fn parses_rfc7440_example_request() {
        let bytes = b"\x00\x01foobar\x00octet\x00windowsize\x0016\x00";
        let p = TftpPacket::parse(bytes).unwrap();
        assert_eq!(
            p,
            TftpPacket::Rrq {
                filename: "foobar".into(),
                mode: "octet".into(),
                options: vec![("windowsize".into(), "16".into())],
            }
        );
        assert_eq!(p.option("WindowSize"), Some("16"));
        assert_eq!(p.to_bytes(), bytes);
    }

    #[test]
    fn lax_and_strict_differ_on_sloppy_packets() {
        let ack_with_pad = b"\x00\x04\x00\x07\x00";
        assert_eq!(
            TftpPacket::parse(ack_with_pad),
            Ok(TftpPacket::Ack { block: 7 })
        );
        assert_eq!(
            TftpPacket::parse_with(ack_with_pad, ParseMode::Strict),
            Err(TftpParseError::TrailingBytes(1))
        );
        let error_no_nul = b"\x00\x05\x00\x08User aborted";
        assert_eq!(
            TftpPacket::parse(error_no_nul),
            Ok(TftpPacket::Error {
                code: ErrorCode::OptionRefused,
                message: "User aborted".into()
            })
        );
        assert!(TftpPacket::parse_with(error_no_nul, ParseMode::Strict).is_err());
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(TftpPacket::parse(b""), Err(TftpParseError::Truncated(0)));
        assert_eq!(
            TftpPacket::parse(b"\x00\x09"),
            Err(TftpParseError::UnknownOpcode(9))
        );
        assert_eq!(
            TftpPacket::parse(b"\x00\x01\x00octet\x00"),
            Err(TftpParseError::EmptyFilename)
        );
        assert_eq!(
            TftpPacket::parse(b"\x00\x01file"),
            Err(TftpParseError::Unterminated("file name"))
        );
        assert_eq!(
            TftpPacket::parse(b"\x00\x01f\x00octet\x00tsize\x00"),
            Err(TftpParseError::OptionWithoutValue("tsize".into()))
        );
        assert_eq!(
            TftpPacket::parse(b"\x00\x03\x00"),
            Err(TftpParseError::Truncated(3))
        );
    }

    #[test]
    fn error_codes_round_trip() {
        for c in 0..=20u16 {
            assert_eq!(ErrorCode::from(c).code(), c);
        }
        assert_eq!(ErrorCode::from(2), ErrorCode::AccessViolation);
    }

    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9._/\\\\-]{0,16}"
    }

    fn options() -> impl Strategy<Value = Vec<(String, String)>> {
        prop::collection::vec(("[a-zA-Z]{1,10}", "[0-9a-z]{0,6}"), 0..5)
    }

    fn packet() -> impl Strategy<Value = TftpPacket> {
        prop_oneof![
            ("[a-zA-Z0-9._/\\\\-]{1,16}", text(), options()).prop_map(
                |(filename, mode, options)| TftpPacket::Rrq {
                    filename,
                    mode,
                    options
                }
            ),
            ("[a-zA-Z0-9._/\\\\-]{1,16}", text(), options()).prop_map(
                |(filename, mode, options)| TftpPacket::Wrq {
                    filename,
                    mode,
                    options
                }
            ),
            (any::<u16>(), prop::collection::vec(any::<u8>(), 0..600))
                .prop_map(|(block, data)| TftpPacket::Data { block, data }),
            any::<u16>().prop_map(|block| TftpPacket::Ack { block }),
            (any::<u16>(), "[ -~]{0,40}").prop_map(|(c, message)| TftpPacket::Error {
                code: ErrorCode::from(c),
                message: message.replace('\0', ""),
            }),
            options().prop_map(|options| TftpPacket::Oack { options }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(p in packet()) {
            let bytes = p.to_bytes();
            prop_assert_eq!(TftpPacket::parse_with(&bytes, ParseMode::Strict), Ok(p.clone()));
            prop_assert_eq!(TftpPacket::parse(&bytes), Ok(p));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = TftpPacket::parse_with(&bytes, ParseMode::Strict);
            let _ = TftpPacket::parse(&bytes);
        }

        #[test]
        fn mutated_packets_never_panic(p in packet(), idx in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut bytes = p.to_bytes();
            let i = idx.index(bytes.len());
            bytes[i] = byte;
            let _ = TftpPacket::parse(&bytes);
            let _ = TftpPacket::parse_with(&bytes, ParseMode::Strict);
        }
    }
}
