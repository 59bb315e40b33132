//! Arbitrary input never panics the DHCP server, the ProxyDHCP or the boot server.

mod dhcp_support;

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcp_support::*;
use proptest::prelude::*;
use pxelab_reference::dhcp::DhcpSettings;
use pxelab_reference::pxe::{BootMenu, BootPolicy, BootServer, BootServerConfig, MenuItem};
use pxelab_reference::wire::dhcp::{DhcpMessage, DhcpOption, Op};
use pxelab_reference::{Datagram, Instant, Mac};

fn policy() -> BootPolicy {
    BootPolicy {
        menu: Some(BootMenu {
            prompt: "p".into(),
            timeout_secs: 3,
            discovery_control: 3,
            items: vec![MenuItem {
                item_type: 0x8000,
                description: "x".into(),
                file: None,
            }],
        }),
        ..BootPolicy::default()
    }
}

/// The three machines, fed the same datagrams.
struct Rig {
    full: pxelab_reference::dhcp::DhcpServer,
    proxy: pxelab_reference::dhcp::DhcpServer,
    boot: BootServer,
}

impl Rig {
    fn new() -> Self {
        Rig {
            full: server(full_config(DhcpSettings {
                respond_delay_ms: 10,
                ..DhcpSettings::default()
            })),
            proxy: server(proxy_config(policy())),
            boot: BootServer::new(BootServerConfig {
                server_addr: SERVER,
                policy: policy(),
                respond_delay: Default::default(),
                reserved_files: Default::default(),
            }),
        }
    }

    fn feed(&mut self, payload: &[u8], src: SocketAddrV4, now: Instant) {
        let d = Datagram {
            src,
            dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
            src_mac: Mac([2, 0, 0, 0, 0, 1]),
            payload,
        };
        self.full.handle_datagram(now, d);
        self.proxy.handle_datagram(now, d);
        self.boot.handle_datagram(now, d);
        self.full
            .handle_timeout(now + std::time::Duration::from_secs(1));
        for m in [
            &mut self.full as &mut dyn Machine,
            &mut self.proxy,
            &mut self.boot,
        ] {
            while let Some(t) = m.transmit() {
                assert!(DhcpMessage::parse(&t.payload, Default::default()).is_ok());
            }
            while m.event().is_some() {}
        }
    }
}

fn message() -> impl Strategy<Value = DhcpMessage> {
    let option = (1u8..255, prop::collection::vec(any::<u8>(), 0..40))
        .prop_map(|(code, data)| DhcpOption { code, data });
    let interesting = prop_oneof![
        Just(DhcpOption {
            code: 53,
            data: vec![1]
        }),
        Just(DhcpOption {
            code: 53,
            data: vec![3]
        }),
        Just(DhcpOption {
            code: 53,
            data: vec![4]
        }),
        Just(DhcpOption {
            code: 53,
            data: vec![7]
        }),
        Just(DhcpOption {
            code: 53,
            data: vec![8]
        }),
        Just(DhcpOption {
            code: 60,
            data: b"PXEClient:Arch:00007:UNDI:003000".to_vec()
        }),
        Just(DhcpOption {
            code: 54,
            data: vec![192, 168, 50, 1]
        }),
        (0u8..=255).prop_map(|b| DhcpOption {
            code: 50,
            data: vec![192, 168, 50, b]
        }),
        prop::collection::vec(any::<u8>(), 0..12).prop_map(|mut v| {
            v.insert(0, 71);
            DhcpOption { code: 43, data: v }
        }),
    ];
    (
        any::<u32>(),
        any::<u16>(),
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
        prop::collection::vec(prop_oneof![option, interesting], 0..12),
    )
        .prop_map(|(xid, flags, ci, gi, options)| {
            let mut m = DhcpMessage {
                op: Op::BootRequest,
                htype: 1,
                hlen: 6,
                xid,
                flags,
                ciaddr: Ipv4Addr::from(ci),
                giaddr: Ipv4Addr::from(gi),
                options,
                ..DhcpMessage::default()
            };
            m.chaddr[..6].copy_from_slice(&[2, 0, 0, 0, 0, (xid % 4) as u8]);
            m
        })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..700), port in prop_oneof![Just(68u16), Just(4011), any::<u16>()]) {
        Rig::new().feed(&bytes, SocketAddrV4::new(Ipv4Addr::new(192, 168, 50, 9), port), Instant::from_secs(3));
    }

    #[test]
    fn arbitrary_client_messages_never_panic(msgs in prop::collection::vec(message(), 1..6)) {
        // One rig for the whole sequence, so later messages meet the state
        // (offers, leases, declines) earlier ones left.
        let mut rig = Rig::new();
        for (i, m) in msgs.iter().enumerate() {
            rig.feed(&m.emit(), SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68), Instant::from_secs(3 + i as u64 * 30));
        }
    }
}
