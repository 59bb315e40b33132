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
        // As on port 67: without an Ethernet chaddr there is no MAC to check
        // against the access lists, and the reply would echo a bad hlen.
        let Some(mac) = msg.client_mac() else {
            self.ignore(now, Some(&msg), IgnoreReason::NoClientMac);
            return;
        };
        if let Err(reason) = self.config.access.admit(mac) {
            self.ignore(now, Some(&msg), reason);
            return;
        }
        let facts = ClientFacts::from_message(&msg);
        let reserved = self.config.reserved_files.get(&mac).map(String::as_str);
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddrV4;

    use super::*;
    use crate::wire::dhcp::code;

    /// Found by `fuzz/` (target `dhcp_server`): a REQUEST with `hlen` other than
    /// 6 skipped the deny list, and its `hlen` (113) was echoed in an ACK that a
    /// strict parser rejects.
    #[test]
    fn request_without_ethernet_chaddr_is_ignored_even_when_denied() {
        let denied = Mac([0x52, 0x54, 0, 0, 0, 2]);
        let mut server = BootServer::new(BootServerConfig {
            server_addr: Ipv4Addr::new(192, 168, 50, 1),
            policy: BootPolicy::default(),
            respond_delay: Duration::ZERO,
            reserved_files: HashMap::new(),
            access: ClientAccess {
                deny: vec![denied],
                ..ClientAccess::default()
            },
        });
        for hlen in [6, 7, 113] {
            let mut m = DhcpMessage {
                hlen,
                xid: 1,
                ciaddr: Ipv4Addr::new(192, 168, 50, 100),
                ..DhcpMessage::default()
            };
            m.chaddr[..6].copy_from_slice(&denied.0);
            m.set_message_type(MessageType::Request);
            m.push_option(code::VENDOR_CLASS, *b"PXEClient:Arch:00000:UNDI:002001");
            let bytes = m.emit();
            server.handle_datagram(
                Instant::ZERO,
                Datagram {
                    src: SocketAddrV4::new(m.ciaddr, 68),
                    dst: SocketAddrV4::new(Ipv4Addr::new(192, 168, 50, 1), PXE_PORT),
                    src_mac: denied,
                    payload: &bytes,
                },
            );
            assert_eq!(server.poll_transmit(), None, "hlen {hlen} was answered");
            let expected = if hlen == 6 {
                IgnoreReason::Denied
            } else {
                IgnoreReason::NoClientMac
            };
            let event = server.poll_event().expect("an Ignored event");
            assert_eq!(event.kind, DhcpEventKind::Ignored(expected), "hlen {hlen}");
        }
    }
}
