//! The DHCP path of the tokio driver on loopback, and what a stop does to leases.
//!
//! Ports 67 and 68 need root: without it the test prints a notice and passes
//! vacuously (the real-peer tests in namespaces cover the same path in CI).
//!
//! On `lo` a reply "unicast to yiaddr" (broadcast flag clear) goes to
//! 127.0.0.x:68, which the test's socket on 0.0.0.0:68 receives: the driver's
//! routing, pktinfo and single-mutation loop are the real ones.

mod loopback_dhcp_client;

use std::net::Ipv4Addr;
use std::path::Path;

use loopback_dhcp_client::LoopbackClient;

use pxelab_reference::dhcp::{DhcpConfig, DhcpMode, DhcpSettings, PoolConfig};
use pxelab_reference::driver::serve::{DhcpSpec, ServeSpec, Server};
use pxelab_reference::driver::{Interface, Shutdown};
use pxelab_reference::pxe::BootPolicy;
use pxelab_reference::tftp::TftpServerConfig;

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
    let Some(client) = LoopbackClient::bind_or_skip("leases_survive_a_stop_and_restart") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("leases.redb");
    let (a, b) = ([0x52, 0x54, 0, 0, 0, 0xa], [0x52, 0x54, 0, 0, 0, 0xb]);

    let client = std::sync::Arc::new(client);
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
