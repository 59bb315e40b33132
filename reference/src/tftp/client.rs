//! A TFTP read client, for the simulator's firmware and for tests.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddrV4;
use std::time::Duration;

use super::options::{Rollover, number};
use crate::net::{Datagram, L2Dest, Mac, Transmit};
use crate::time::Instant;
use crate::wire::tftp::{DEFAULT_BLKSIZE, ErrorCode, MIN_BLKSIZE, TftpPacket, find_option};

/// What a client asks for, and how it behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// `blksize` to request (RFC 2348).
    pub blksize: Option<u16>,
    /// Request `tsize` (RFC 2349).
    pub tsize: bool,
    /// `windowsize` to request (RFC 7440).
    pub windowsize: Option<u16>,
    /// `timeout` in seconds to request (RFC 2349).
    pub timeout: Option<u8>,
    /// EDK2's size probe (Q10): the first RRQ carries `tsize`; on the OACK the
    /// client sends ERROR 8, then requests the file again without `tsize`.
    pub probe_then_abort: bool,
    /// Write `tsize` first in the RRQ, before `blksize` and `windowsize`, as
    /// EDK2's PxeBcDxe does; iPXE and most clients write it after `blksize`.
    /// The order means nothing to a server (RFC 2347 options are a set), but
    /// it fingerprints the client, so a faithful one must keep it.
    pub tsize_first: bool,
    /// Block numbering expected past 65535.
    pub rollover: Rollover,
    /// Retransmission timeout when no `timeout` is negotiated.
    pub retransmit: Duration,
    /// Retransmissions of the same packet before giving up.
    pub max_retries: u32,
    /// Keep the received file in memory ([`TftpClient::data`]). A simulated
    /// fleet only needs to know that (and how much) arrived: ten thousand
    /// clients each holding a 1 MB `ipxe.efi` cost gigabytes for nothing.
    pub keep_data: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            blksize: None,
            tsize: false,
            windowsize: None,
            timeout: None,
            probe_then_abort: false,
            tsize_first: false,
            rollover: Rollover::ToZero,
            retransmit: Duration::from_secs(1),
            max_retries: 5,
            keep_data: true,
        }
    }
}

/// Why a client transfer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientFailure {
    /// No answer within the retry limit.
    #[error("timed out")]
    TimedOut,
    /// The server sent an ERROR.
    #[error("server error {code}: {message}")]
    ServerError {
        /// Its code.
        code: ErrorCode,
        /// Its message.
        message: String,
    },
    /// The OACK broke RFC 2347/2348/2349/7440 (an option not requested, a larger
    /// block or window than asked for, a changed timeout); the client sent ERROR 8.
    #[error("bad OACK: {0}")]
    BadOack(String),
    /// A DATA block larger than the negotiated block size.
    #[error("protocol violation: {0}")]
    Protocol(String),
}

/// What a client reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The whole file arrived.
    Completed {
        /// Bytes received.
        bytes: u64,
        /// The size the server announced (from the probe or the OACK).
        tsize: Option<u64>,
        /// Block size in force.
        blksize: u16,
        /// Window size in force.
        windowsize: u16,
        /// Packets (RRQ, ACK) this client sent again.
        retransmits: u64,
        /// From the first RRQ to the last ACK.
        duration: Duration,
    },
    /// The transfer failed.
    Failed {
        /// Why.
        reason: ClientFailure,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// RRQ sent, waiting for the first OACK or DATA.
    Requesting,
    Receiving,
    /// Completed; answers a retransmitted last DATA with the last ACK until the
    /// deadline (RFC 1350 §6: the host sending the final ACK waits a while).
    Dallying,
    Done,
}

/// A read transfer from the client's side. It sends from `local` and follows the
/// server's TID (the port of its first answer) after the RRQ; the received file
/// is collected in memory.
pub struct TftpClient {
    server: SocketAddrV4,
    local: SocketAddrV4,
    filename: String,
    opts: ClientOptions,
    tid: Option<SocketAddrV4>,
    /// The TID the size probe was aborted on; its late retransmissions are not
    /// the answer to the second request.
    probe_tid: Option<SocketAddrV4>,
    server_mac: Mac,
    state: State,
    probed: bool,
    blksize: u16,
    windowsize: u16,
    timeout: Duration,
    tsize: Option<u64>,
    expected: u64,
    in_window: u16,
    data: Vec<u8>,
    received: u64,
    last_sent: Option<(SocketAddrV4, Vec<u8>)>,
    queue: VecDeque<Transmit>,
    deadline: Option<Instant>,
    retries: u32,
    retransmits: u64,
    started: Instant,
    events: VecDeque<ClientEvent>,
}

impl fmt::Debug for TftpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TftpClient")
            .field("server", &self.server)
            .field("filename", &self.filename)
            .field("state", &self.state)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl TftpClient {
    /// Starts a download of `filename` from `server` (normally port 69): the RRQ
    /// is ready in [`TftpClient::poll_transmit`].
    pub fn new(
        now: Instant,
        server: SocketAddrV4,
        local: SocketAddrV4,
        filename: impl Into<String>,
        opts: ClientOptions,
    ) -> Self {
        let mut c = TftpClient {
            server,
            local,
            filename: filename.into(),
            timeout: opts.retransmit,
            opts,
            tid: None,
            probe_tid: None,
            server_mac: Mac::ZERO,
            state: State::Requesting,
            probed: false,
            blksize: DEFAULT_BLKSIZE,
            windowsize: 1,
            tsize: None,
            expected: 1,
            in_window: 0,
            data: Vec::new(),
            received: 0,
            last_sent: None,
            queue: VecDeque::new(),
            deadline: None,
            retries: 0,
            retransmits: 0,
            started: now,
            events: VecDeque::new(),
        };
        c.send_request(now);
        c
    }

    fn request_options(&self) -> Vec<(String, String)> {
        let mut o = Vec::new();
        let tsize = self.opts.tsize || (self.opts.probe_then_abort && !self.probed);
        if tsize && self.opts.tsize_first {
            o.push(("tsize".to_string(), "0".to_string()));
        }
        if let Some(b) = self.opts.blksize {
            o.push(("blksize".to_string(), b.to_string()));
        }
        if tsize && !self.opts.tsize_first {
            o.push(("tsize".to_string(), "0".to_string()));
        }
        if let Some(t) = self.opts.timeout {
            o.push(("timeout".to_string(), t.to_string()));
        }
        if let Some(w) = self.opts.windowsize {
            o.push(("windowsize".to_string(), w.to_string()));
        }
        o
    }

    fn send_request(&mut self, now: Instant) {
        let rrq = TftpPacket::Rrq {
            filename: self.filename.clone(),
            mode: "octet".into(),
            options: self.request_options(),
        };
        self.tid = None;
        self.state = State::Requesting;
        self.retries = 0;
        self.send(self.server, rrq.to_bytes());
        self.deadline = Some(now + self.opts.retransmit);
    }

    fn send(&mut self, dst: SocketAddrV4, payload: Vec<u8>) {
        // The copy kept for a retransmission reuses the previous one's buffer:
        // an ACK per DATA block otherwise cost an allocation of its own.
        let mut kept = self.last_sent.take().map(|(_, v)| v).unwrap_or_default();
        kept.clear();
        kept.extend_from_slice(&payload);
        self.last_sent = Some((dst, kept));
        self.queue.push_back(Transmit {
            src: self.local,
            dst,
            l2: L2Dest::Unicast(self.server_mac),
            payload,
        });
    }

    /// Sends without making it the packet a timeout repeats (errors).
    fn send_once(&mut self, dst: SocketAddrV4, packet: TftpPacket) {
        self.queue.push_back(Transmit {
            src: self.local,
            dst,
            l2: L2Dest::Unicast(self.server_mac),
            payload: packet.to_bytes(),
        });
    }

    fn ack(&mut self, dst: SocketAddrV4, abs: u64) {
        let block = self.opts.rollover.wire(abs);
        self.send(dst, TftpPacket::Ack { block }.to_bytes());
    }

    /// Handles a datagram addressed to `local`.
    pub fn handle_datagram(&mut self, now: Instant, dgram: Datagram<'_>) {
        if matches!(self.state, State::Done) || dgram.src.ip() != self.server.ip() {
            return;
        }
        // A DATA block is read in place: parsing it into a `TftpPacket` would
        // copy every block of every download into a fresh `Vec`.
        let (data, packet) = match dgram.payload {
            [0, 3, a, b, data @ ..] => (Some((u16::from_be_bytes([*a, *b]), data)), None),
            _ => match TftpPacket::parse(dgram.payload) {
                Ok(packet) => (None, Some(packet)),
                Err(_) => return,
            },
        };
        if self.tid.is_none() && self.probe_tid == Some(dgram.src) {
            return;
        }
        if let Some(tid) = self.tid
            && dgram.src != tid
        {
            if !matches!(packet, Some(TftpPacket::Error { .. })) {
                let e = TftpPacket::Error {
                    code: ErrorCode::UnknownTid,
                    message: "unknown transfer ID".into(),
                };
                self.send_once(dgram.src, e);
            }
            return;
        }
        if dgram.src_mac != Mac::ZERO {
            self.server_mac = dgram.src_mac;
        }
        let src = dgram.src;
        if let Some((block, data)) = data {
            return self.on_data_packet(now, src, block, data);
        }
        match (self.state, packet) {
            (_, Some(TftpPacket::Error { code, message })) if self.state != State::Dallying => {
                self.fail(ClientFailure::ServerError { code, message });
            }
            (State::Requesting, Some(TftpPacket::Oack { options })) => {
                self.on_oack(now, src, &options)
            }
            _ => {}
        }
    }

    /// A DATA packet from the transfer's server.
    fn on_data_packet(&mut self, now: Instant, src: SocketAddrV4, block: u16, data: &[u8]) {
        match self.state {
            State::Requesting if block == self.opts.rollover.wire(1) => {
                // The server ignored our options: RFC 1350 defaults.
                self.tid = Some(src);
                self.blksize = DEFAULT_BLKSIZE;
                self.windowsize = 1;
                self.timeout = self.opts.retransmit;
                self.state = State::Receiving;
                self.on_data(now, src, block, data);
            }
            State::Receiving => self.on_data(now, src, block, data),
            State::Dallying if block == self.opts.rollover.wire(self.expected - 1) => {
                self.ack(src, self.expected - 1);
            }
            _ => {}
        }
    }

    fn on_oack(&mut self, now: Instant, src: SocketAddrV4, options: &[(String, String)]) {
        match self.check_oack(options) {
            Ok(()) => {}
            Err(why) => {
                let e = TftpPacket::Error {
                    code: ErrorCode::OptionRefused,
                    message: why.clone(),
                };
                self.send_once(src, e);
                self.fail(ClientFailure::BadOack(why));
                return;
            }
        }
        if self.opts.probe_then_abort && !self.probed {
            self.probed = true;
            self.probe_tid = Some(src);
            let e = TftpPacket::Error {
                code: ErrorCode::OptionRefused,
                message: "User aborted the transfer".into(),
            };
            self.send_once(src, e);
            self.send_request(now);
            return;
        }
        self.tid = Some(src);
        self.state = State::Receiving;
        self.retries = 0;
        self.ack(src, 0);
        self.deadline = Some(now + self.timeout);
    }

    fn check_oack(&mut self, options: &[(String, String)]) -> Result<(), String> {
        let requested = self.request_options();
        let mut blksize = DEFAULT_BLKSIZE;
        let mut windowsize = 1;
        let mut timeout = self.opts.retransmit;
        for (name, value) in options {
            let Some(asked) = find_option(&requested, name) else {
                return Err(format!("option {name:?} was not requested"));
            };
            let v = number(value)
                .ok_or_else(|| format!("option {name} has a non-numeric value {value:?}"))?;
            let asked = number(asked).unwrap_or(0);
            match name.to_ascii_lowercase().as_str() {
                "blksize" if (MIN_BLKSIZE as u64..=asked).contains(&v) => blksize = v as u16,
                "windowsize" if (1..=asked).contains(&v) => windowsize = v as u16,
                "timeout" if v == asked => timeout = Duration::from_secs(v),
                "tsize" => self.tsize = Some(v),
                _ => {
                    return Err(format!(
                        "option {name}={value} is outside what was requested ({asked})"
                    ));
                }
            }
        }
        self.blksize = blksize;
        self.windowsize = windowsize;
        self.timeout = timeout;
        Ok(())
    }

    fn on_data(&mut self, now: Instant, src: SocketAddrV4, block: u16, data: &[u8]) {
        if block != self.opts.rollover.wire(self.expected) {
            // Out of order or a repeat: acknowledge the last good block so the
            // server restarts the window from there (RFC 7440 §4); in lockstep
            // this is the ACK whose loss caused the repeat.
            self.in_window = 0;
            self.ack(src, self.expected - 1);
            return;
        }
        if data.len() > self.blksize as usize {
            let why = format!(
                "DATA block {block} has {} bytes, blksize is {}",
                data.len(),
                self.blksize
            );
            self.send_once(
                src,
                TftpPacket::Error {
                    code: ErrorCode::IllegalOperation,
                    message: why.clone(),
                },
            );
            self.fail(ClientFailure::Protocol(why));
            return;
        }
        if self.opts.keep_data {
            self.data.extend_from_slice(data);
        }
        self.received += data.len() as u64;
        let abs = self.expected;
        self.expected += 1;
        self.retries = 0;
        self.deadline = Some(now + self.timeout);
        if data.len() < self.blksize as usize {
            self.ack(src, abs);
            self.state = State::Dallying;
            self.deadline = Some(now + self.timeout * 2);
            self.events.push_back(ClientEvent::Completed {
                bytes: self.received,
                tsize: self.tsize,
                blksize: self.blksize,
                windowsize: self.windowsize,
                retransmits: self.retransmits,
                duration: now - self.started,
            });
            return;
        }
        self.in_window += 1;
        if self.in_window >= self.windowsize {
            self.in_window = 0;
            self.ack(src, abs);
        }
    }

    fn fail(&mut self, reason: ClientFailure) {
        self.state = State::Done;
        self.deadline = None;
        self.events.push_back(ClientEvent::Failed { reason });
    }

    /// Time passed: repeat the last RRQ or ACK, or give up.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.deadline else {
            return;
        };
        if now < deadline {
            return;
        }
        match self.state {
            State::Dallying => {
                self.state = State::Done;
                self.deadline = None;
            }
            State::Requesting | State::Receiving => {
                self.retries += 1;
                if self.retries > self.opts.max_retries {
                    self.fail(ClientFailure::TimedOut);
                    return;
                }
                if let Some((dst, payload)) = self.last_sent.clone() {
                    self.retransmits += 1;
                    self.send(dst, payload);
                }
                self.in_window = 0;
                let t = if self.state == State::Requesting {
                    self.opts.retransmit
                } else {
                    self.timeout
                };
                self.deadline = Some(now + t);
            }
            State::Done => {}
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.queue.pop_front()
    }

    /// When to call [`TftpClient::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Whether the transfer is over (including the final dally) with nothing left
    /// to send.
    pub fn is_finished(&self) -> bool {
        self.state == State::Done && self.queue.is_empty()
    }

    /// The address this client sends from.
    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    /// The file requested.
    pub fn filename(&self) -> &str {
        &self.filename
    }

    /// How many file bytes arrived so far (kept or not).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The bytes received so far (empty unless [`ClientOptions::keep_data`]).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The received bytes, consuming the client.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
}
