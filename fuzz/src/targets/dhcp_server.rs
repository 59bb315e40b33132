//! A conversation of arbitrary datagrams with the three DHCP-side machines: a
//! full DHCP server, a ProxyDHCP server and the PXE boot server (UDP 4011), each
//! fed every datagram, with the clock advancing between them.
//!
//! Input: one configuration byte, then records (see `crate::records`).
//! Configuration bits: 0 respond delay 10 ms, 1 a PXE boot menu, 2 a two-address
//! pool plus a reservation with its own boot file, 3 known clients only, 4 a deny
//! list. Record `ctl` bits: 0-1 source address, 2-3 destination, 4 whether the
//! frame's MAC is the payload's `chaddr` (as for a real client) or another one.
//!
//! Checks, beyond "never panics": every transmitted payload is a BOOTREPLY that
//! the strict parser accepts (what the conformance suite would demand of us),
//! and no machine asks to be woken at or before `now` forever.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use crate::{MAX_TIMEOUT_ROUNDS, records, tick_delay};
use pxelab_reference::dhcp::{
    DhcpConfig, DhcpEvent, DhcpMode, DhcpServer, DhcpSettings, MemoryStore, PoolConfig, Reservation,
};
use pxelab_reference::pxe::{BootMenu, BootPolicy, BootServer, BootServerConfig, MenuItem};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{DhcpMessage, Op};
use pxelab_reference::{Datagram, Instant, Mac, Transmit};

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 1);
const MASK: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);
const UNIX_START: u64 = 1_800_000_000;
/// The MACs the seeds use; the reservation and deny list name two of them.
const RESERVED: Mac = Mac([0x52, 0x54, 0x00, 0, 0, 1]);
const DENIED: Mac = Mac([0x52, 0x54, 0x00, 0, 0, 2]);
const OTHER: Mac = Mac([0x02, 0, 0, 0, 0, 0x99]);

fn settings(cfg: u8) -> DhcpSettings {
    let mut s = DhcpSettings::default();
    if cfg & 1 != 0 {
        s.respond_delay_ms = 10;
    }
    if cfg & 4 != 0 {
        s.reservations.push(Reservation {
            mac: RESERVED,
            ip: Ipv4Addr::new(192, 168, 50, 20),
            boot_file: Some("special.efi".into()),
        });
    }
    s.known_clients_only = cfg & 8 != 0;
    if cfg & 16 != 0 {
        s.deny.push(DENIED);
    }
    s
}

fn policy(cfg: u8) -> BootPolicy {
    let mut p = BootPolicy {
        boot_efi_arm64: Some("arm64.efi".into()),
        http_url: Some("http://192.168.50.1/boot.efi".into()),
        ..BootPolicy::default()
    };
    if cfg & 2 != 0 {
        p.menu = Some(BootMenu {
            prompt: "Press F8".into(),
            timeout_secs: 3,
            discovery_control: 3,
            items: vec![
                MenuItem {
                    item_type: 0x8000,
                    description: "Install".into(),
                    file: Some("install.0".into()),
                },
                MenuItem {
                    item_type: 0,
                    description: "Local disk".into(),
                    file: None,
                },
            ],
        });
    }
    p
}

fn config(cfg: u8, mode: DhcpMode) -> DhcpConfig {
    DhcpConfig {
        server_addr: SERVER,
        netmask: MASK,
        mode,
        settings: settings(cfg),
        boot: policy(cfg),
        unix_time_at_start: UNIX_START,
    }
}

fn pool(cfg: u8) -> PoolConfig {
    let range = if cfg & 4 != 0 {
        "192.168.50.100-192.168.50.101"
    } else {
        "192.168.50.100-192.168.50.199"
    };
    range.parse().expect("a valid range")
}

/// The polling surface the three machines share.
trait Machine {
    fn handle_datagram(&mut self, now: Instant, d: Datagram<'_>);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_transmit(&mut self) -> Option<Transmit>;
    fn poll_event(&mut self) -> Option<DhcpEvent>;
}

macro_rules! machine {
    ($t:ty) => {
        impl Machine for $t {
            fn handle_datagram(&mut self, now: Instant, d: Datagram<'_>) {
                <$t>::handle_datagram(self, now, d)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$t>::handle_timeout(self, now)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$t>::poll_timeout(self)
            }
            fn poll_transmit(&mut self) -> Option<Transmit> {
                <$t>::poll_transmit(self)
            }
            fn poll_event(&mut self) -> Option<DhcpEvent> {
                <$t>::poll_event(self)
            }
        }
    };
}
machine!(DhcpServer);
machine!(BootServer);

/// Drains transmits and events, checking every transmit.
fn drain(m: &mut dyn Machine) {
    while let Some(t) = m.poll_transmit() {
        match DhcpMessage::parse(&t.payload, ParseMode::Strict) {
            Ok(reply) => assert_eq!(reply.op, Op::BootReply, "a server sent a BOOTREQUEST"),
            Err(e) => panic!("a server sent a message strict mode rejects: {e}\n{t:?}"),
        }
    }
    while let Some(e) = m.poll_event() {
        let _ = e.to_string();
    }
}

/// Runs every timeout due at `now`, as a driver would.
fn run_timeouts(m: &mut dyn Machine, now: Instant) {
    for _ in 0..MAX_TIMEOUT_ROUNDS {
        match m.poll_timeout() {
            Some(at) if at <= now => {
                m.handle_timeout(now);
                drain(m);
            }
            _ => return,
        }
    }
    panic!("machine still wants a wake-up at or before {now} after {MAX_TIMEOUT_ROUNDS} rounds");
}

fn source(ctl: u8) -> SocketAddrV4 {
    match ctl & 3 {
        0 => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
        1 => SocketAddrV4::new(Ipv4Addr::new(192, 168, 50, 100), 68),
        // A relay agent on another subnet.
        2 => SocketAddrV4::new(Ipv4Addr::new(10, 9, 8, 1), 67),
        _ => SocketAddrV4::new(Ipv4Addr::new(192, 168, 50, 100), 4011),
    }
}

fn destination(ctl: u8) -> SocketAddrV4 {
    match (ctl >> 2) & 3 {
        0 => SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
        1 => SocketAddrV4::new(SERVER, 67),
        2 => SocketAddrV4::new(SERVER, 4011),
        _ => SocketAddrV4::new(Ipv4Addr::BROADCAST, 4011),
    }
}

/// The `dhcp_server` target's body, shared by the libFuzzer binary and the smoke runner.
pub fn dhcp_server(data: &[u8]) {
    let Some((&cfg, data)) = data.split_first() else {
        return;
    };
    let full_config = config(
        cfg,
        DhcpMode::Full {
            pools: vec![pool(cfg)],
        },
    );
    let boot_config = BootServerConfig::from_dhcp(&full_config);
    let Ok(full) = DhcpServer::new(full_config, Box::new(MemoryStore::new()), Instant::ZERO) else {
        panic!("the full-mode configuration is valid");
    };
    let Ok(proxy) = DhcpServer::new(
        config(cfg, DhcpMode::Proxy),
        Box::new(MemoryStore::new()),
        Instant::ZERO,
    ) else {
        panic!("the proxy configuration is valid");
    };
    let mut machines: [Box<dyn Machine>; 3] = [
        Box::new(full),
        Box::new(proxy),
        Box::new(BootServer::new(boot_config)),
    ];

    let mut now = Instant::from_secs(1);
    for r in records(data) {
        now += tick_delay(r.tick);
        let src_mac = match (r.ctl & 0x10, r.payload.get(28..34)) {
            (0, Some(chaddr)) => {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(chaddr);
                Mac(mac)
            }
            _ => OTHER,
        };
        let dgram = Datagram {
            src: source(r.ctl),
            dst: destination(r.ctl),
            src_mac,
            payload: r.payload,
        };
        for m in machines.iter_mut() {
            run_timeouts(m.as_mut(), now);
            m.handle_datagram(now, dgram);
            drain(m.as_mut());
            run_timeouts(m.as_mut(), now);
        }
    }
    // Let every held reply go.
    now += Duration::from_secs(3600);
    for m in machines.iter_mut() {
        run_timeouts(m.as_mut(), now);
        assert!(m.poll_transmit().is_none());
    }
}
