//! The `pxelab serve --config FILE` TOML: `FileConfig::parse` (the CLI's own
//! `src/config.rs`, included by path so that exactly the shipped code is fuzzed),
//! then the servers `pxelab serve` builds from it: a full and a ProxyDHCP
//! `DhcpServer`, the `BootServer`, and a `TftpServer` with the file's limits,
//! which is asked for a file with every option at once.
//!
//! Checks, beyond "never panics": a refused file or configuration is an error
//! with a message (the server constructors return `Err`, they do not panic on
//! duplicate reservations, overlapping pools or odd limits), and whatever TFTP
//! limits a file sets, the first answer to an RRQ is a packet strict mode
//! accepts, with a block size inside RFC 2348's range.

use std::net::{Ipv4Addr, SocketAddrV4};

use pxelab_reference::dhcp::{DhcpConfig, DhcpMode, DhcpServer, MemoryStore, PoolConfig};
use pxelab_reference::pxe::{BootServer, BootServerConfig};
use pxelab_reference::tftp::{Accept, MemoryRoot, TftpServer, TftpServerConfig};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::tftp::TftpPacket;
use pxelab_reference::{Datagram, Instant, Mac};

#[allow(dead_code, missing_docs)]
#[path = "../../../src/config.rs"]
mod config;

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn dhcp(file: &config::FileConfig, mode: DhcpMode) {
    let config = DhcpConfig {
        server_addr: SERVER,
        netmask: Ipv4Addr::new(255, 255, 255, 0),
        mode,
        settings: file.dhcp.clone(),
        boot: file.boot.clone().unwrap_or_default(),
        unix_time_at_start: 1_700_000_000,
    };
    let _boot = BootServer::new(BootServerConfig::from_dhcp(&config));
    if let Err(e) = DhcpServer::new(config, Box::new(MemoryStore::new()), Instant::ZERO) {
        assert!(!e.to_string().is_empty());
    }
}

fn tftp(file: &config::FileConfig) {
    let mut c = TftpServerConfig::default();
    if let Some(b) = file.tftp.max_blksize {
        c.max_blksize = b;
    }
    if let Some(w) = file.tftp.max_windowsize {
        c.max_windowsize = w;
    }
    if let Some(n) = file.tftp.max_sessions {
        c.max_sessions = n;
    }
    let mut server = TftpServer::new(c);
    let root = MemoryRoot::new().with("f", vec![7u8; 5000]);
    let rrq = b"\x00\x01f\x00octet\x00blksize\x0065464\x00windowsize\x0065535\x00tsize\x000\x00timeout\x001\x00";
    let dgram = Datagram {
        src: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 100), 2000),
        dst: SocketAddrV4::new(SERVER, 69),
        src_mac: Mac([0x52, 0x54, 0, 0, 0, 1]),
        payload: rrq,
    };
    let t = match server.accept(Instant::ZERO, dgram, &root) {
        Accept::Session(mut s) => match s.poll_transmit() {
            Some(t) => t,
            None => return,
        },
        Accept::Reply(t) => t,
        Accept::Ignore => return,
    };
    let p = TftpPacket::parse_with(&t.payload, ParseMode::Strict)
        .unwrap_or_else(|e| panic!("first answer does not parse strictly: {e}"));
    match &p {
        TftpPacket::Data { data, .. } => assert!(data.len() <= 512, "DATA before an OACK"),
        TftpPacket::Oack { .. } => {
            if let Some(b) = p.option("blksize") {
                let b: u32 = b.parse().expect("numeric blksize");
                assert!((8..=65464).contains(&b), "blksize {b} granted");
            }
        }
        TftpPacket::Error { .. } => {}
        other => panic!("unexpected first answer {other:?}"),
    }
}

/// The `serve_config` target's body, shared by the libFuzzer binary and the smoke runner.
pub fn serve_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = match config::FileConfig::parse(text) {
        Ok(f) => f,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let mut pools = vec![PoolConfig {
        first: Ipv4Addr::new(10, 0, 0, 100),
        last: Ipv4Addr::new(10, 0, 0, 199),
        netmask: None,
        router: None,
        dns: Vec::new(),
    }];
    pools.extend(file.dhcp.pools.iter().cloned());
    dhcp(&file, DhcpMode::Full { pools });
    dhcp(&file, DhcpMode::Proxy);
    tftp(&file);
}
