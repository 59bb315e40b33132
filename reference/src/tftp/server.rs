//! The TFTP endpoint on port 69: turns read requests into sessions.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::options::{Limits, Rollover, negotiate};
use super::path::TftpPath;
use super::root::FileRoot;
use super::session::TftpSession;
use crate::net::{Datagram, L2Dest, Transmit};
use crate::time::Instant;
use crate::wire::tftp::{ErrorCode, MAX_BLKSIZE, MIN_BLKSIZE, Mode, TftpPacket};

/// Server limits and policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TftpServerConfig {
    /// Largest block size granted (RFC 2348 range 8..=65464). The default 1468 is
    /// Ethernet's 1500-byte MTU minus IP, UDP and TFTP headers: larger blocks
    /// fragment, and fragments break many netboot ROMs (Q12, dnsmasq caps the same
    /// way). Legacy BIOS ROMs refuse more than 1456 (PXE-E3F, Q26).
    pub max_blksize: u16,
    /// Retransmission timeout when the client does not negotiate one (RFC 2349).
    pub timeout: Duration,
    /// Retransmissions of the same packet before giving up.
    pub max_retries: u32,
    /// Largest RFC 7440 window granted.
    pub max_windowsize: u16,
    /// Block numbering past 65535.
    pub rollover: Rollover,
    /// Concurrent sessions; requests beyond it are dropped (the client's own
    /// retransmission will try again when a session ends).
    pub max_sessions: usize,
    /// A session with no progress for this long ends, whatever the timeout a
    /// client negotiated (255 s × retries would otherwise hold it for 20 minutes).
    pub idle_timeout: Duration,
}

impl TftpServerConfig {
    /// The largest block that fits an unfragmented datagram on a link with this
    /// MTU: MTU - 20 (IPv4) - 8 (UDP) - 4 (TFTP), within RFC 2348's 8..=65464.
    /// 1500 gives 1468.
    pub fn max_blksize_for_mtu(mtu: u32) -> u16 {
        mtu.saturating_sub(32)
            .clamp(MIN_BLKSIZE as u32, MAX_BLKSIZE as u32) as u16
    }
}

impl Default for TftpServerConfig {
    fn default() -> Self {
        TftpServerConfig {
            max_blksize: Self::max_blksize_for_mtu(1500),
            timeout: Duration::from_secs(1),
            max_retries: 5,
            max_windowsize: 64,
            rollover: Rollover::ToZero,
            max_sessions: 1024,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// What to do with a datagram that reached port 69.
#[derive(Debug)]
pub enum Accept {
    /// A read transfer starts. The driver binds a fresh UDP port for it (the
    /// server's TID, RFC 1350 §4) and from then on routes datagrams from the
    /// client's address and port to that port's session.
    Session(Box<TftpSession>),
    /// Send this ERROR to the client. Its `src` port is 0: send it from a fresh
    /// ephemeral port, as a session would have (RFC 1350 §4), and keep no state.
    Reply(Transmit),
    /// Nothing to send: not TFTP, an ERROR, a retransmitted request for a live
    /// session, or the session limit is reached.
    Ignore,
}

/// The TFTP server endpoint (quinn's `Endpoint` to [`TftpSession`]'s
/// `Connection`): read-only, and it tracks live sessions to enforce
/// `max_sessions` and to recognise a client's retransmitted RRQ.
///
/// Sessions are counted with a slot each session holds: it is released when the
/// session finishes (or is dropped), so the driver only has to drop finished
/// sessions, never report back.
#[derive(Debug)]
pub struct TftpServer {
    config: TftpServerConfig,
    live: Arc<Mutex<HashSet<SocketAddrV4>>>,
}

/// A session's claim on the server's session table; released on drop.
#[derive(Debug)]
pub(crate) struct SessionSlot {
    live: Arc<Mutex<HashSet<SocketAddrV4>>>,
    client: SocketAddrV4,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.client);
    }
}

impl TftpServer {
    /// A server with `config`; `max_blksize` is clamped to 8..=65464.
    pub fn new(mut config: TftpServerConfig) -> Self {
        config.max_blksize = config.max_blksize.clamp(MIN_BLKSIZE, MAX_BLKSIZE);
        config.max_windowsize = config.max_windowsize.max(1);
        TftpServer {
            config,
            live: Arc::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &TftpServerConfig {
        &self.config
    }

    /// Sessions started and not yet finished.
    pub fn active_sessions(&self) -> usize {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Handles a datagram sent to port 69.
    ///
    /// Write requests are refused with ERROR 2: this is a boot server, and a
    /// writable TFTP root lets any host on the segment replace the boot files
    /// every other machine runs.
    pub fn accept(&mut self, now: Instant, dgram: Datagram<'_>, root: &dyn FileRoot) -> Accept {
        let reply =
            |code: ErrorCode, message: &str| Accept::Reply(error_transmit(&dgram, code, message));
        let packet = match TftpPacket::parse(dgram.payload) {
            Ok(p) => p,
            Err(e) => {
                let op = dgram
                    .payload
                    .get(..2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]));
                return match op {
                    Some(1 | 2) => reply(
                        ErrorCode::IllegalOperation,
                        &format!("malformed request: {e}"),
                    ),
                    _ => Accept::Ignore,
                };
            }
        };
        let (filename, mode, options) = match packet {
            TftpPacket::Rrq {
                filename,
                mode,
                options,
            } => (filename, mode, options),
            TftpPacket::Wrq { .. } => {
                return reply(
                    ErrorCode::AccessViolation,
                    "write requests refused: this is a read-only boot server",
                );
            }
            TftpPacket::Error { .. } => return Accept::Ignore,
            TftpPacket::Data { .. } | TftpPacket::Ack { .. } | TftpPacket::Oack { .. } => {
                return reply(
                    ErrorCode::UnknownTid,
                    "no transfer in progress on this port",
                );
            }
        };
        {
            let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
            if live.contains(&dgram.src) || live.len() >= self.config.max_sessions {
                return Accept::Ignore;
            }
        }
        match Mode::from_wire(&mode) {
            Some(Mode::Octet) => {}
            // Converting to netascii would change the size (tsize) and make a block
            // a function of everything before it; boot clients only use octet.
            Some(Mode::Netascii | Mode::Mail) => {
                return reply(
                    ErrorCode::NotDefined,
                    &format!("{mode} mode not supported: request the file in octet mode"),
                );
            }
            None => {
                return reply(
                    ErrorCode::IllegalOperation,
                    &format!("unknown transfer mode {mode:?}"),
                );
            }
        }
        let path = match TftpPath::parse(&filename) {
            Ok(p) => p,
            Err(e) => return reply(ErrorCode::AccessViolation, &e.to_string()),
        };
        let source = match root.open(&path) {
            Ok(s) => s,
            Err(e) => return reply(e.error_code(), &e.to_string()),
        };
        let limits = Limits {
            max_blksize: self.config.max_blksize,
            max_windowsize: self.config.max_windowsize,
            default_timeout: self.config.timeout,
        };
        let (negotiated, oack) = negotiate(&options, &limits, source.len());
        let blocks = source.len() / negotiated.blksize as u64 + 1;
        if self.config.rollover == Rollover::Refuse && blocks > 65535 {
            return reply(
                ErrorCode::DiskFull,
                &format!(
                    "file needs {blocks} blocks of {} bytes and this server does not roll block numbers over: ask for a larger blksize",
                    negotiated.blksize
                ),
            );
        }
        let slot = {
            let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
            live.insert(dgram.src);
            SessionSlot {
                live: Arc::clone(&self.live),
                client: dgram.src,
            }
        };
        Accept::Session(Box::new(TftpSession::new(
            now,
            &dgram,
            local_ip(&dgram),
            filename,
            source,
            negotiated,
            (!oack.is_empty()).then_some(oack),
            &self.config,
            slot,
        )))
    }
}

/// The address to answer from: the one the request reached, unless that was a
/// broadcast (old embedded clients broadcast their RRQ, Q27), in which case the
/// interface's own (`0.0.0.0`).
pub(crate) fn local_ip(dgram: &Datagram<'_>) -> Ipv4Addr {
    let ip = *dgram.dst.ip();
    if ip.is_broadcast() || ip.is_multicast() || ip.is_unspecified() {
        Ipv4Addr::UNSPECIFIED
    } else {
        ip
    }
}

fn error_transmit(dgram: &Datagram<'_>, code: ErrorCode, message: &str) -> Transmit {
    Transmit {
        src: SocketAddrV4::new(local_ip(dgram), 0),
        dst: dgram.src,
        l2: L2Dest::Unicast(dgram.src_mac),
        payload: TftpPacket::Error {
            code,
            message: message.to_string(),
        }
        .to_bytes(),
    }
}
