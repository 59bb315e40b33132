//! The PXE boot server on UDP 4011 (PXE 2.1).
//!
//! Two kinds of DHCPREQUEST arrive here, from client port 68 or 4011:
//! - without 43.71: the ProxyDHCP REQUEST of a client whose proxy offer carried
//!   no boot file (the BINL dialect UEFI firmware needs, research Q1/Q2): the ACK
//!   carries siaddr + file;
//! - with 43.71 PXE_BOOT_ITEM {type, layer}: boot-server discovery after a menu
//!   choice: the ACK echoes 43.71 with the file for that item.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::ClientFacts;
use super::policy::BootPolicy;
use super::reply;
use crate::dhcp::{ClientAccess, DhcpConfig, DhcpEvent, DhcpEventKind, IgnoreReason};
use crate::outbox::Outbox;
use crate::wire::ParseMode;
use crate::wire::dhcp::{DhcpMessage, MessageType, Op, PXE_PORT};
use crate::{Datagram, Instant, Mac, Transmit};

/// What a [`BootServer`] runs with.
#[derive(Debug, Clone)]
pub struct BootServerConfig {
    /// The server's own address (option 54, `siaddr`).
    pub server_addr: Ipv4Addr,
    /// Boot files and menu.
    pub policy: BootPolicy,
    /// Delay before every reply (see `DhcpSettings::respond_delay_ms`).
    pub respond_delay: Duration,
    /// Boot files from DHCP reservations, by MAC.
    pub reserved_files: HashMap<Mac, String>,
    /// Which clients are answered (the DHCP server's deny/allow/known-only).
    pub access: ClientAccess,
}

impl BootServerConfig {
    /// The boot server that goes with a DHCP server configuration.
    pub fn from_dhcp(config: &DhcpConfig) -> Self {
        BootServerConfig {
            server_addr: config.server_addr,
            policy: config.boot.clone(),
            respond_delay: config.settings.respond_delay(),
            access: ClientAccess::from_settings(&config.settings),
            reserved_files: config
                .settings
                .reservations
                .iter()
                .filter_map(|r| r.boot_file.clone().map(|f| (r.mac, f)))
                .collect(),
        }
    }
}

/// The sans-IO boot server for datagrams to UDP 4011.
#[derive(Debug)]
pub struct BootServer {
    config: BootServerConfig,
    out: Outbox<DhcpEvent>,
}

impl BootServer {
    /// A boot server with `config`.
    pub fn new(config: BootServerConfig) -> Self {
        let out = Outbox::new(config.respond_delay);
        BootServer { config, out }
    }

    /// A datagram to UDP 4011.
    pub fn handle_datagram(&mut self, now: Instant, dgram: Datagram<'_>) {
        self.out.release_due(now);
        let msg = match DhcpMessage::parse(dgram.payload, ParseMode::Lax) {
            Ok(m) => m,
            Err(e) => {
                self.ignore(now, None, IgnoreReason::Malformed(e.to_string()));
                return;
            }
        };
        if msg.op != Op::BootRequest || msg.message_type() != Some(MessageType::Request) {
            self.ignore(now, Some(&msg), IgnoreReason::NotAClientRequest);
            return;
        }
        if let Some(Err(reason)) = msg.client_mac().map(|m| self.config.access.admit(m)) {
            self.ignore(now, Some(&msg), reason);
            return;
        }
        let facts = ClientFacts::from_message(&msg);
        let reserved = msg
            .client_mac()
            .and_then(|m| self.config.reserved_files.get(&m))
            .map(String::as_str);
        match reply::boot_ack(
            &self.config.policy,
            self.config.server_addr,
            reserved,
            &msg,
            &facts,
        ) {
            Ok(answer) => {
                let payload = answer
                    .reply
                    .emit_within(usize::from(msg.max_message_size().unwrap_or(576)));
                let t =
                    reply::to_requester(PXE_PORT, &dgram, &msg, payload, self.config.server_addr);
                self.out.send(now, t);
                self.out.event(DhcpEvent {
                    at: now,
                    kind: reply::boot_ack_kind(answer.item),
                    mac: msg.client_mac(),
                    xid: msg.xid,
                    yiaddr: None,
                    boot_file: Some(answer.file),
                });
            }
            Err(reason) => self.ignore(now, Some(&msg), reason),
        }
    }

    fn ignore(&mut self, now: Instant, msg: Option<&DhcpMessage>, reason: IgnoreReason) {
        self.out.event(DhcpEvent {
            at: now,
            kind: DhcpEventKind::Ignored(reason),
            mac: msg.and_then(DhcpMessage::client_mac),
            xid: msg.map_or(0, |m| m.xid),
            yiaddr: None,
            boot_file: None,
        });
    }

    /// Time passed: releases replies whose respond delay is over.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.out.release_due(now);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.poll_transmit()
    }

    /// When [`Self::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.out.poll_timeout()
    }

    /// The next exchange to report.
    pub fn poll_event(&mut self) -> Option<DhcpEvent> {
        self.out.poll_event()
    }
}
