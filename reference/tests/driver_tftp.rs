//! The tokio driver's TFTP path end to end over loopback, with no root: the real
//! `Server` (listener on an ephemeral port, one socket per transfer) against the
//! project's `TftpClient`, itself run by the driver's `drive` loop on a real socket.

use std::net::{Ipv4Addr, SocketAddrV4};

use pxelab_reference::driver::serve::{ServeSpec, Server};
use pxelab_reference::driver::{Clock, Delivery, Endpoint, Interface, Shutdown, drive};
use pxelab_reference::tftp::{
    ClientEvent, ClientFailure, ClientOptions, TftpClient, TftpServerConfig,
};

/// Starts a TFTP-only server on `lo` serving `root`; returns its listener address.
fn start(
    root: &std::path::Path,
    shutdown: Shutdown,
) -> (SocketAddrV4, tokio::task::JoinHandle<()>) {
    let spec = ServeSpec {
        iface: Interface::lookup("lo").expect("lo"),
        tftp_root: root.to_path_buf(),
        tftp_port: 0,
        tftp: TftpServerConfig::default(),
        dhcp: None,
    };
    let server = Server::bind(spec).expect("bind on lo");
    let port = server.tftp_addr().port();
    (
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
        tokio::spawn(server.run(shutdown)),
    )
}

/// Downloads `name` with `opts`; returns the client's final event and the bytes.
async fn fetch(server: SocketAddrV4, name: &str, opts: ClientOptions) -> (ClientEvent, Vec<u8>) {
    let lo = Interface::lookup("lo").unwrap();
    let ep = Endpoint::bind(
        &lo,
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        Delivery::Plain,
    )
    .unwrap();
    let clock = Clock::start();
    let mut client = TftpClient::new(clock.now(), server, ep.local_addr(), name, opts);
    let (_keep, never) = Shutdown::new();
    let mut events = Vec::new();
    drive(&mut client, &ep, clock, never, |e| events.push(e))
        .await
        .unwrap();
    let last = events
        .pop()
        .expect("the client reports how the transfer ended");
    (last, client.into_data())
}

fn file_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_arrive_byte_for_byte_in_lockstep_windowed_and_after_a_tsize_probe() {
    let dir = tempfile::tempdir().unwrap();
    let body = file_of(1_000_000 + 123);
    std::fs::write(dir.path().join("ipxe.efi"), &body).unwrap();
    std::fs::create_dir(dir.path().join("boot")).unwrap();
    std::fs::write(dir.path().join("boot").join("bcd"), b"windows style").unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let (addr, task) = start(dir.path(), shutdown);

    let cases = [
        ClientOptions::default(),
        ClientOptions {
            blksize: Some(1468),
            tsize: true,
            ..Default::default()
        },
        ClientOptions {
            blksize: Some(1468),
            windowsize: Some(8),
            ..Default::default()
        },
        // EDK2's PxeBcDxe: tsize probe, ERROR 8 after the OACK, then the real request.
        ClientOptions {
            blksize: Some(1468),
            windowsize: Some(4),
            tsize: true,
            probe_then_abort: true,
            ..Default::default()
        },
    ];
    for mut opts in cases {
        // The client dallies two retransmission timeouts after its last ACK
        // (RFC 1350 §6); keep that short on loopback.
        // The probe case keeps the default 1 s: its second RRQ must be served at
        // once, not after a retransmission (the driver replays an RRQ that raced
        // the aborted session), which `retransmits == 0` below checks.
        if !opts.probe_then_abort {
            opts.retransmit = std::time::Duration::from_millis(300);
        }
        let (event, data) = fetch(addr, "ipxe.efi", opts.clone()).await;
        match event {
            ClientEvent::Completed {
                bytes, retransmits, ..
            } => {
                assert_eq!(bytes, body.len() as u64, "{opts:?}");
                if opts.probe_then_abort {
                    assert_eq!(
                        retransmits, 0,
                        "the request after the probe was not answered at once"
                    );
                }
            }
            other => panic!("{opts:?}: {other:?}"),
        }
        assert!(
            data == body,
            "{opts:?}: downloaded bytes differ from the file"
        );
    }

    let (event, data) = fetch(addr, "boot\\bcd", ClientOptions::default()).await;
    assert!(matches!(event, ClientEvent::Completed { .. }), "{event:?}");
    assert_eq!(data, b"windows style");

    trigger.trigger();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_escaping_files_get_a_tftp_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(dir.path().join("secret"), b"outside").unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let (addr, task) = start(&root, shutdown);

    for (name, code) in [("nope.bin", 1u16), ("../secret", 2)] {
        let (event, _) = fetch(addr, name, ClientOptions::default()).await;
        match event {
            ClientEvent::Failed {
                reason: ClientFailure::ServerError { code: c, .. },
            } => {
                assert_eq!(c.code(), code, "{name}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    trigger.trigger();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let (_addr, task) = start(dir.path(), shutdown);
    trigger.trigger();
    task.await.unwrap();
}
