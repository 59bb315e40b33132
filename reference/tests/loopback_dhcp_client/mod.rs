//! A DHCP client on UDP 68 that leases from a server on 127.0.0.1:67, for the
//! tests that run a real server on `lo`: the driver's (reference/tests/driver_dhcp.rs)
//! and the `pxelab` binary's (tests/cli.rs, which includes this file by path).
//!
//! On `lo` a reply "unicast to yiaddr" (broadcast flag clear) goes to
//! 127.0.0.x:68, which a socket on 0.0.0.0:68 receives. Ports 67 and 68 need
//! root: without it [`LoopbackClient::bind_or_skip`] prints a notice and the test
//! passes vacuously (the real-peer tests in namespaces cover the same paths in CI).
#![allow(dead_code, unreachable_pub)]

use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{DhcpMessage, MessageType};

/// Sends per request before giving up; with the read timeout below this also
/// covers a server process that is still starting (15 s).
const TRIES: usize = 50;

/// A DHCP client bound to 0.0.0.0:68.
#[derive(Debug)]
pub struct LoopbackClient {
    sock: UdpSocket,
}

impl LoopbackClient {
    /// Binds 0.0.0.0:68 (needs root).
    pub fn bind() -> io::Result<Self> {
        let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 68))?;
        sock.set_read_timeout(Some(Duration::from_millis(300)))?;
        Ok(LoopbackClient { sock })
    }

    /// [`Self::bind`], or `None` after a SKIP notice naming `test` when UDP 68
    /// cannot be bound (no root).
    pub fn bind_or_skip(test: &str) -> Option<Self> {
        match Self::bind() {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("SKIP {test}: cannot bind UDP 68 ({e}); needs root");
                None
            }
        }
    }

    /// Sends a `ty` from `mac` (asking for `ask` from server 127.0.0.1, for a
    /// REQUEST) until a reply with the same `xid` arrives, and returns it.
    pub fn request(
        &self,
        mac: [u8; 6],
        xid: u32,
        ty: MessageType,
        ask: Option<Ipv4Addr>,
    ) -> DhcpMessage {
        let mut m = DhcpMessage {
            xid,
            ..Default::default()
        };
        m.chaddr[..6].copy_from_slice(&mac);
        m.set_message_type(ty);
        if let Some(ip) = ask {
            m.push_option(50, ip.octets());
            m.push_option(54, Ipv4Addr::LOCALHOST.octets());
        }
        let mut buf = [0u8; 1500];
        for _ in 0..TRIES {
            self.sock
                .send_to(&m.emit(), (Ipv4Addr::LOCALHOST, 67))
                .unwrap();
            while let Ok(n) = self.sock.recv(&mut buf) {
                let reply =
                    DhcpMessage::parse(&buf[..n], ParseMode::Lax).expect("server reply parses");
                if reply.xid == xid {
                    return reply;
                }
            }
        }
        panic!("no reply to {ty:?} xid {xid:#x}");
    }

    /// DISCOVER, then REQUEST what was offered; returns the acknowledged address.
    pub fn lease(&self, mac: [u8; 6], xid: u32) -> Ipv4Addr {
        let offer = self.request(mac, xid, MessageType::Discover, None);
        assert_eq!(offer.message_type(), Some(MessageType::Offer));
        let ack = self.request(mac, xid + 1, MessageType::Request, Some(offer.yiaddr));
        assert_eq!(ack.message_type(), Some(MessageType::Ack), "{ack:?}");
        ack.yiaddr
    }
}
