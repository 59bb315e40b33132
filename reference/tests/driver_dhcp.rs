//! The DHCP path of the tokio driver on loopback, and what a stop does to leases.
//!
//! Ports 67 and 68 need root: without it the test prints a notice and passes
//! vacuously (the real-peer tests in namespaces cover the same path in CI).
//!
//! On `lo` a reply "unicast to yiaddr" (broadcast flag clear) goes to
//! 127.0.0.x:68, which the test's socket on 0.0.0.0:68 receives: the driver's
//! routing, pktinfo and single-mutation loop are the real ones.

use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use pxelab_reference::dhcp::{DhcpConfig, DhcpMode, DhcpSettings, PoolConfig};
use pxelab_reference::driver::serve::{DhcpSpec, ServeSpec, Server};
use pxelab_reference::driver::{Interface, Shutdown};
use pxelab_reference::pxe::BootPolicy;
use pxelab_reference::tftp::TftpServerConfig;
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{DhcpMessage, MessageType};

const FIRST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 100);
const LAST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 110);

fn spec(tftp_root: &Path, leases: &Path) -> ServeSpec {
    let iface = Interface::lookup("lo").unwrap();
    ServeSpec {
        tftp_root: tftp_root.to_path_buf(),
        tftp_port: 0,
        tftp: TftpServerConfig::default(),
        dhcp: Some(DhcpSpec {
            config: DhcpConfig {
                server_addr: iface.addr,
                netmask: iface.netmask(),
                mode: DhcpMode::Full {
                    pools: vec![PoolConfig {
                        first: FIRST,
                        last: LAST,
                        netmask: None,
                        router: None,
                        dns: vec![],
                    }],
                },
                settings: DhcpSettings::default(),
                boot: BootPolicy::default(),
                unix_time_at_start: 0,
            },
            lease_store: Some(leases.to_path_buf()),
        }),
        iface,
    }
}

struct Client {
    sock: UdpSocket,
}

impl Client {
    fn request(
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
        for _ in 0..20 {
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
    fn lease(&self, mac: [u8; 6], xid: u32) -> Ipv4Addr {
        let offer = self.request(mac, xid, MessageType::Discover, None);
        assert_eq!(offer.message_type(), Some(MessageType::Offer));
        let ack = self.request(mac, xid + 1, MessageType::Request, Some(offer.yiaddr));
        assert_eq!(ack.message_type(), Some(MessageType::Ack), "{ack:?}");
        ack.yiaddr
    }
}

async fn with_server<T: Send + 'static>(
    root: &Path,
    leases: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let server = Server::bind(spec(root, leases)).expect("bind 67/4011 on lo");
    let (trigger, shutdown) = Shutdown::new();
    let task = tokio::spawn(server.run(shutdown));
    let out = tokio::task::spawn_blocking(f).await.unwrap();
    trigger.trigger();
    task.await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_survive_a_stop_and_restart() {
    let sock = match UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 68)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "SKIP leases_survive_a_stop_and_restart: cannot bind UDP 68 ({e}); needs root"
            );
            return;
        }
    };
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("leases.redb");
    let (a, b) = ([0x52, 0x54, 0, 0, 0, 0xa], [0x52, 0x54, 0, 0, 0, 0xb]);

    let client = std::sync::Arc::new(Client { sock });
    let c = client.clone();
    let first = with_server(dir.path(), &leases, move || c.lease(a, 0x1000)).await;
    assert!((FIRST..=LAST).contains(&first), "{first}");

    // A new server process on the same lease file: the address acknowledged to A
    // is neither offered to B nor lost for A.
    let c = client.clone();
    let (for_b, again_a) = with_server(dir.path(), &leases, move || {
        (c.lease(b, 0x2000), c.lease(a, 0x3000))
    })
    .await;
    assert_ne!(
        for_b, first,
        "an acknowledged, unexpired address went to another client after restart"
    );
    assert_eq!(
        again_a, first,
        "the client's own lease was forgotten across the restart"
    );
}
