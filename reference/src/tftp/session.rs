//! One read transfer, from the server's side.

use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use super::options::{Negotiated, Rollover};
use super::root::BlockSource;
use super::server::{SessionSlot, TftpServerConfig};
use crate::net::{Datagram, L2Dest, Mac, Transmit};
use crate::time::Instant;
use crate::wire::tftp::{ErrorCode, TftpPacket};

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TftpOutcome {
    /// The client acknowledged the last block.
    Completed,
    /// The client asked for options (normally `tsize`), got the OACK, and ended
    /// the transfer with ERROR 8 or 0 before any data: the size probe EDK2 and
    /// some BIOS ROMs make before asking again (Q10). Normal, not a failure.
    Probed,
    /// No progress within the retry limit or the idle timeout.
    TimedOut,
    /// The client sent an ERROR mid-transfer.
    ClientError {
        /// Its code.
        code: ErrorCode,
        /// Its message.
        message: String,
    },
    /// Reading the file failed (the client was sent ERROR 0).
    ReadError(String),
}

impl TftpOutcome {
    /// Whether this ending is normal operation (completed, or a size probe).
    pub fn is_success(&self) -> bool {
        matches!(self, TftpOutcome::Completed | TftpOutcome::Probed)
    }
}

impl fmt::Display for TftpOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TftpOutcome::Completed => f.write_str("completed"),
            TftpOutcome::Probed => f.write_str("size probe"),
            TftpOutcome::TimedOut => f.write_str("timed out"),
            TftpOutcome::ClientError { code, message } => {
                write!(f, "client error {code}: {message}")
            }
            TftpOutcome::ReadError(e) => write!(f, "read error: {e}"),
        }
    }
}

/// What a log line about a transfer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferSummary {
    /// The client's address and port (its TID).
    pub client: SocketAddrV4,
    /// The file name as requested.
    pub filename: String,
    /// Negotiated block size.
    pub blksize: u16,
    /// Negotiated window size (1 = lockstep).
    pub windowsize: u16,
    /// The size reported in the OACK, when the client asked for `tsize`.
    pub tsize: Option<u64>,
    /// The file's size.
    pub file_size: u64,
    /// File bytes the client acknowledged, each counted once.
    pub bytes_sent: u64,
    /// From the request to the end.
    pub duration: Duration,
    /// DATA and OACK packets sent again after a timeout or a partial window.
    pub retransmits: u64,
    /// How it ended.
    pub outcome: TftpOutcome,
}

impl fmt::Display for TransferSummary {
    /// One log line: `10.0.0.2:1234 "boot/bcd" blksize=1468 windowsize=8
    /// tsize=2000: 2000/2000 bytes in 0.012s, 0 retransmits, completed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?} blksize={} windowsize={}",
            self.client, self.filename, self.blksize, self.windowsize
        )?;
        if let Some(t) = self.tsize {
            write!(f, " tsize={t}")?;
        }
        write!(
            f,
            ": {}/{} bytes in {:.3}s, {} retransmits, {}",
            self.bytes_sent,
            self.file_size,
            self.duration.as_secs_f64(),
            self.retransmits,
            self.outcome
        )
    }
}

/// What a server session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TftpEvent {
    /// The session ended; it is the last event.
    Finished(TransferSummary),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// OACK sent, waiting for ACK 0.
    Oack,
    /// Sending DATA.
    Transfer,
    Done,
}

/// A read transfer from the server's side (quinn's `Connection` to
/// [`TftpServer`](super::TftpServer)'s `Endpoint`).
///
/// It runs on its own UDP port, its TID. Every [`Transmit`] it produces has the
/// source port 0, meaning "this session's own socket" (the driver knows which port
/// it bound; the machine does not need to), and the client's address and port as
/// destination. The source IP is the address the request reached, or `0.0.0.0`
/// (the interface's own) when that was a broadcast.
///
/// Bounded: one block of the file in memory at a time (a window is re-read from
/// the [`BlockSource`] when retransmitted), at most `max_retries` retransmissions
/// without progress, and `idle_timeout` overall without progress.
pub struct TftpSession {
    client: SocketAddrV4,
    client_mac: Mac,
    local_ip: Ipv4Addr,
    filename: String,
    source: Box<dyn BlockSource>,
    file_len: u64,
    neg: Negotiated,
    rollover: Rollover,
    max_retries: u32,
    idle_timeout: Duration,
    last_block: u64,
    state: State,
    oack: Option<Vec<(String, String)>>,
    oack_pending: bool,
    oack_sent: bool,
    /// Highest block the client acknowledged (0 before any).
    acked: u64,
    /// Next block `poll_transmit` sends.
    next: u64,
    /// Last block of the current window.
    window_end: u64,
    /// Highest block ever sent.
    max_sent: u64,
    retries: u32,
    retransmits: u64,
    deadline: Option<Instant>,
    last_progress: Instant,
    started: Instant,
    now: Instant,
    control: VecDeque<Transmit>,
    events: VecDeque<TftpEvent>,
    slot: Option<SessionSlot>,
}

impl fmt::Debug for TftpSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TftpSession")
            .field("client", &self.client)
            .field("filename", &self.filename)
            .field("negotiated", &self.neg)
            .field("state", &self.state)
            .field("acked", &self.acked)
            .field("last_block", &self.last_block)
            .finish_non_exhaustive()
    }
}

impl TftpSession {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        now: Instant,
        request: &Datagram<'_>,
        local_ip: Ipv4Addr,
        filename: String,
        source: Box<dyn BlockSource>,
        neg: Negotiated,
        oack: Option<Vec<(String, String)>>,
        config: &TftpServerConfig,
        slot: SessionSlot,
    ) -> Self {
        let file_len = source.len();
        let mut s = TftpSession {
            client: request.src,
            client_mac: request.src_mac,
            local_ip,
            filename,
            source,
            file_len,
            neg,
            rollover: config.rollover,
            max_retries: config.max_retries,
            idle_timeout: config.idle_timeout,
            last_block: file_len / neg.blksize as u64 + 1,
            state: State::Transfer,
            oack_pending: oack.is_some(),
            oack,
            oack_sent: false,
            acked: 0,
            next: 1,
            window_end: 0,
            max_sent: 0,
            retries: 0,
            retransmits: 0,
            deadline: Some(now + neg.timeout),
            last_progress: now,
            started: now,
            now,
            control: VecDeque::new(),
            events: VecDeque::new(),
            slot: Some(slot),
        };
        if s.oack.is_some() {
            s.state = State::Oack;
        } else {
            s.window_end = neg.windowsize as u64;
        }
        s
    }

    /// The client's address and port (its TID).
    pub fn client(&self) -> SocketAddrV4 {
        self.client
    }

    /// The file name as requested.
    pub fn filename(&self) -> &str {
        &self.filename
    }

    /// The negotiated transfer parameters.
    pub fn negotiated(&self) -> Negotiated {
        self.neg
    }

    /// Handles a datagram that reached this session's port.
    ///
    /// A datagram from anything but the client's address and port gets ERROR 5
    /// and leaves the transfer alone (RFC 1350 §4).
    pub fn handle_datagram(&mut self, now: Instant, dgram: Datagram<'_>) {
        self.now = now;
        if self.state == State::Done {
            return;
        }
        let packet = TftpPacket::parse(dgram.payload);
        if dgram.src != self.client {
            if !matches!(packet, Ok(TftpPacket::Error { .. })) {
                self.control.push_back(Transmit {
                    src: SocketAddrV4::new(self.local_ip, 0),
                    dst: dgram.src,
                    l2: L2Dest::Unicast(dgram.src_mac),
                    payload: TftpPacket::Error {
                        code: ErrorCode::UnknownTid,
                        message: "unknown transfer ID".into(),
                    }
                    .to_bytes(),
                });
            }
            return;
        }
        match packet {
            Ok(TftpPacket::Ack { block }) => self.on_ack(now, block),
            Ok(TftpPacket::Error { code, message }) => {
                if self.state == State::Oack
                    && matches!(code, ErrorCode::OptionRefused | ErrorCode::NotDefined)
                {
                    self.finish(TftpOutcome::Probed);
                } else {
                    self.finish(TftpOutcome::ClientError { code, message });
                }
            }
            // Garbage or a stray packet from the client: ignoring it lets a
            // timeout recover, where an error would end a transfer that may
            // still succeed.
            _ => {}
        }
    }

    fn on_ack(&mut self, now: Instant, block: u16) {
        match self.state {
            State::Oack if block == 0 => {
                self.state = State::Transfer;
                self.progress(now, 0);
            }
            State::Transfer => {
                let abs = self.rollover.resolve(self.acked, block);
                // Only an ACK that moves forward acts. A duplicate ACK changes
                // nothing and, above all, sends nothing: answering it is the
                // Sorcerer's Apprentice bug (RFC 1123 §4.2.3.1).
                if abs <= self.max_sent {
                    if abs == self.last_block {
                        self.acked = abs;
                        self.finish(TftpOutcome::Completed);
                    } else {
                        self.progress(now, abs);
                    }
                }
            }
            _ => {}
        }
    }

    /// `acked` is new: the next window starts right after it (RFC 7440: after a
    /// partial window the sender restarts from the acknowledged block).
    fn progress(&mut self, now: Instant, acked: u64) {
        self.acked = acked;
        self.next = acked + 1;
        self.window_end = acked + self.neg.windowsize as u64;
        self.retries = 0;
        self.last_progress = now;
        self.deadline = Some(now + self.neg.timeout);
    }

    /// Time passed: retransmit the OACK or the window, or give up.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.state == State::Done {
            return;
        }
        if now >= self.last_progress + self.idle_timeout {
            self.finish(TftpOutcome::TimedOut);
            return;
        }
        let Some(deadline) = self.deadline else {
            return;
        };
        if now < deadline {
            return;
        }
        self.retries += 1;
        if self.retries > self.max_retries {
            self.finish(TftpOutcome::TimedOut);
            return;
        }
        match self.state {
            State::Oack => self.oack_pending = true,
            State::Transfer => {
                self.next = self.acked + 1;
                self.window_end = self.acked + self.neg.windowsize as u64;
            }
            State::Done => {}
        }
        self.deadline = Some(now + self.neg.timeout);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.control.pop_front() {
            return Some(t);
        }
        match self.state {
            State::Oack if self.oack_pending => {
                self.oack_pending = false;
                if self.oack_sent {
                    self.retransmits += 1;
                }
                self.oack_sent = true;
                let options = self.oack.clone().unwrap_or_default();
                Some(self.to_client(TftpPacket::Oack { options }.to_bytes()))
            }
            State::Transfer if self.next <= self.window_end && self.next <= self.last_block => {
                let block = self.next;
                let payload = match self.data_packet(block) {
                    Ok(p) => p,
                    Err(e) => {
                        self.finish(TftpOutcome::ReadError(e.clone()));
                        let msg = format!("read error: {e}");
                        return Some(
                            self.to_client(
                                TftpPacket::Error {
                                    code: ErrorCode::NotDefined,
                                    message: msg,
                                }
                                .to_bytes(),
                            ),
                        );
                    }
                };
                if block <= self.max_sent {
                    self.retransmits += 1;
                }
                self.max_sent = self.max_sent.max(block);
                self.next += 1;
                Some(self.to_client(payload))
            }
            _ => None,
        }
    }

    /// The DATA packet of block `block` (1-based): the header, then the block
    /// read from the file straight into the packet (no intermediate copy).
    fn data_packet(&mut self, block: u64) -> Result<Vec<u8>, String> {
        let blksize = self.neg.blksize as u64;
        let offset = (block - 1) * blksize;
        let want = blksize.min(self.file_len.saturating_sub(offset)) as usize;
        let mut packet = vec![0u8; 4 + want];
        packet[..2].copy_from_slice(&3u16.to_be_bytes());
        packet[2..4].copy_from_slice(&self.rollover.wire(block).to_be_bytes());
        let mut filled = 0;
        while filled < want {
            match self
                .source
                .read_at(offset + filled as u64, &mut packet[4 + filled..])
            {
                Ok(0) => {
                    return Err(format!(
                        "file shrank below {} bytes while being served",
                        offset + filled as u64
                    ));
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(packet)
    }

    fn to_client(&self, payload: Vec<u8>) -> Transmit {
        Transmit {
            src: SocketAddrV4::new(self.local_ip, 0),
            dst: self.client,
            l2: L2Dest::Unicast(self.client_mac),
            payload,
        }
    }

    /// When to call [`TftpSession::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Done {
            return None;
        }
        let idle = self.last_progress + self.idle_timeout;
        Some(self.deadline.map_or(idle, |d| d.min(idle)))
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<TftpEvent> {
        self.events.pop_front()
    }

    /// Whether the session has ended and has nothing left to send; the driver
    /// drains [`TftpSession::poll_event`], then closes the session's socket.
    pub fn is_finished(&self) -> bool {
        self.state == State::Done && self.control.is_empty()
    }

    fn finish(&mut self, outcome: TftpOutcome) {
        self.state = State::Done;
        self.deadline = None;
        // Free the server's session slot now, not when the driver gets round to
        // dropping us: a probing client asks again at once.
        self.slot = None;
        let bytes_sent = (self.acked * self.neg.blksize as u64).min(self.file_len);
        self.events.push_back(TftpEvent::Finished(TransferSummary {
            client: self.client,
            filename: self.filename.clone(),
            blksize: self.neg.blksize,
            windowsize: self.neg.windowsize,
            tsize: self.neg.tsize,
            file_size: self.file_len,
            bytes_sent,
            duration: self.now - self.started,
            retransmits: self.retransmits,
            outcome,
        }));
    }
}
