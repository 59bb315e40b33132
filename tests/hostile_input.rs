//! Hostile input against the real `pxelab` binary (issue 9): DHCP and the 4011
//! boot server, TFTP, and the Deployment Server's agent protocol (TCP), each fed
//! malformed, oversized and malicious input, then asked to serve a normal client.
//!
//! - DHCP runs in a private network namespace the test creates (ports 67/68/4011
//!   on its own `lo`); it needs root and skips with a `SKIP` notice without it
//!   (a failure when `PXELAB_REQUIRE_PEERS=1`).
//! - TFTP and the Deployment Server need no root: an unprivileged port on
//!   127.0.0.1.
//!
//! "No file outside the root was read" is checked three ways: a canary file just
//! outside the TFTP root whose content must never appear in any reply; its atime
//! (set into the past, so any read would move it, checked against a control
//! file to know the file system records atime); and a FIFO outside the root
//! behind a symlink inside it, which would block a server that opened it: the
//! final download proves it did not.

mod hostile_support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use hostile_support::{
    ABORT, KillOnDrop, Log, Rng, free_udp_port, in_private_netns, report, rrq, spawn_serve,
    tftp_download,
};
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::agent::{
    AgentKind, AgentMessage, FrameDecoder, Hello, MAX_BODY_LEN, RefuseReason,
};

#[path = "../reference/tests/loopback_dhcp_client/mod.rs"]
mod loopback_dhcp_client;

const START: Duration = Duration::from_secs(30);

/// The served boot file: 200 KiB, so the final download spans 400 blocks.
fn boot_file() -> Vec<u8> {
    (0..200 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

// ---------------------------------------------------------------- DHCP

/// A BOOTREQUEST: the 236-byte fixed part (RFC 2131 §2) with `mac`, the magic
/// cookie, then `options` as given (no End added).
fn bootp(mac: [u8; 6], xid: u32, options: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = 1; // BOOTREQUEST
    p[1] = 1; // Ethernet
    p[2] = 6;
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[28..34].copy_from_slice(&mac);
    p.extend_from_slice(&[99, 130, 83, 99]);
    p.extend_from_slice(options);
    p
}

/// Option 53 DISCOVER and a PXE option 60, the prefix most cases build on.
fn pxe_discover_opts() -> Vec<u8> {
    let mut o = vec![53, 1, 1];
    let class = b"PXEClient:Arch:00000:UNDI:002001";
    o.push(60);
    o.push(class.len() as u8);
    o.extend_from_slice(class);
    o
}

/// The named hostile DHCP datagrams (sent to 67 and to 4011).
fn hostile_dhcp() -> Vec<(String, Vec<u8>)> {
    let junk = [0x02, 0x66, 0x66, 0, 0, 1];
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, p: Vec<u8>| cases.push((name.to_owned(), p));
    let good = {
        let mut o = pxe_discover_opts();
        o.push(255);
        bootp(junk, 1, &o)
    };
    // Truncated anywhere: empty, inside the fixed part, inside the cookie, inside an option.
    for n in [
        0,
        1,
        4,
        43,
        100,
        235,
        236,
        238,
        239,
        240,
        242,
        250,
        good.len() - 2,
    ] {
        add(&format!("truncated to {n}"), good[..n].to_vec());
    }
    // Oversized: far past 576 and the interface MTU's usual 1500, up to UDP's limit on lo.
    for n in [1500usize, 9000, 65_000] {
        let mut p = good.clone();
        p.pop();
        while p.len() < n - 1 {
            p.push(0); // Pad
        }
        p.push(255);
        add(&format!("oversized {n} bytes"), p);
    }
    let mut big = bootp(junk, 2, &pxe_discover_opts());
    while big.len() < 60_000 {
        big.extend_from_slice(&[224, 255]);
        big.extend(std::iter::repeat_n(0xee, 255));
    }
    big.push(255);
    add("oversized with 230 private options of 255 bytes", big);
    // Bad option lengths.
    let mut o = pxe_discover_opts();
    o.extend_from_slice(&[12, 200, b'x', b'y']);
    add("option length past the end", bootp(junk, 3, &o));
    add("message type of length 0", bootp(junk, 4, &[53, 0, 255]));
    add(
        "message type of length 255",
        bootp(junk, 5, &[[53, 255].as_slice(), &[1; 255], &[255]].concat()),
    );
    add("message type 0", bootp(junk, 6, &[53, 1, 0, 255]));
    add("message type 200", bootp(junk, 7, &[53, 1, 200, 255]));
    add("options without End", bootp(junk, 8, &pxe_discover_opts()));
    add("only Pad", bootp(junk, 9, &[0; 64]));
    add(
        "two message types",
        bootp(junk, 10, &[53, 1, 1, 53, 1, 3, 255]),
    );
    let mut o = pxe_discover_opts();
    o.extend_from_slice(&[57, 2, 0, 0, 255]);
    add("max message size 0", bootp(junk, 11, &o));
    let mut o = pxe_discover_opts();
    o.extend_from_slice(&[57, 1, 9, 255]);
    add("max message size of length 1", bootp(junk, 12, &o));
    let mut o = pxe_discover_opts();
    o.extend_from_slice(&[93, 3, 0, 7, 0, 97, 5, 0, 1, 2, 3, 4, 94, 0, 255]);
    add(
        "odd-length arch list, short UUID, empty NDI",
        bootp(junk, 13, &o),
    );
    let mut o = pxe_discover_opts();
    o.extend_from_slice(&[97, 17, 1]);
    o.extend_from_slice(&[0xff; 16]);
    o.extend_from_slice(&[55, 255]);
    o.extend((0..255).map(|i| i as u8));
    o.push(255);
    add(
        "UUID type 1, request list of every code",
        bootp(junk, 14, &o),
    );
    // Option 52 overload pointing at garbage.
    for (v, label) in [
        (1u8, "file"),
        (2, "sname"),
        (3, "both"),
        (0, "0"),
        (255, "255"),
    ] {
        let mut p = bootp(junk, 20 + u32::from(v), &[53, 1, 1, 52, 1, v, 255]);
        for (i, b) in p[44..236].iter_mut().enumerate() {
            *b = [43, 250, 1, 200, 52, 1, 3, 0xff][i % 8];
        }
        add(&format!("overload {label} into garbage"), p);
    }
    let mut p = bootp(junk, 30, &[53, 1, 1, 52, 1, 3, 255]);
    p[44] = 53;
    p[45] = 200; // runs past sname's 64 bytes
    p[108] = 52;
    p[109] = 1;
    p[110] = 3; // overload again, inside file
    add("overload with nested overload and overrun", p);
    let mut p = bootp(junk, 31, &[52, 1, 1, 255]);
    p[108..236].fill(0); // only Pad, no End, no message type anywhere
    add("overload into an empty file", p);
    // A 255-byte option 43 full of nested junk.
    let mut junk43 = Vec::new();
    let mut r = Rng(0x43);
    while junk43.len() < 255 {
        match r.below(4) {
            0 => junk43.extend_from_slice(&[6, 1, r.below(256) as u8]),
            1 => junk43.extend_from_slice(&[9, 250, 0x80, 0]),
            2 => junk43.extend_from_slice(&[43, 253, 43, 251]),
            _ => junk43.push(r.below(256) as u8),
        }
    }
    junk43.truncate(255);
    let mut o = pxe_discover_opts();
    o.extend_from_slice(&[43, 255]);
    o.extend_from_slice(&junk43);
    o.push(255);
    add("255-byte option 43 of nested junk", bootp(junk, 40, &o));
    let mut o = pxe_discover_opts();
    for _ in 0..40 {
        o.extend_from_slice(&[43, 4, 71, 2, 0x80, 0]);
    }
    o.push(255);
    add("option 43 split 40 times (RFC 3396)", bootp(junk, 41, &o));
    let mut o = vec![53, 1, 3, 50, 4, 127, 0, 0, 100, 54, 4, 127, 0, 0, 1];
    o.extend_from_slice(&pxe_discover_opts()[3..]);
    o.extend_from_slice(&[43, 7, 71, 4, 0x80, 0, 0, 9, 255, 255]);
    add("4011 REQUEST with a boot item overrun", bootp(junk, 42, &o));
    // Header fields no client sends.
    for (what, at, v) in [
        ("hlen 0", 2usize, 0u8),
        ("hlen 17", 2, 17),
        ("hlen 255", 2, 255),
        ("htype 255", 1, 255),
        ("op BOOTREPLY", 0, 2),
        ("op 7", 0, 7),
        ("hops 255", 3, 255),
    ] {
        let mut p = good.clone();
        p[at] = v;
        add(what, p);
    }
    let mut p = good.clone();
    p[236..240].copy_from_slice(b"PXE!");
    add("wrong magic cookie", p);
    // Deterministic mutations of a PXE DISCOVER: flipped bytes, random cuts,
    // random option soup. The MAC is always one of four, so what parses cannot
    // drain the pool (that is starvation, tested on its own).
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..300u32 {
        let mut p = good.clone();
        match i % 3 {
            0 => {
                for _ in 0..1 + r.below(8) {
                    let at = r.below(p.len() as u64) as usize;
                    p[at] = r.next_u64() as u8;
                }
            }
            1 => {
                p.truncate(240);
                let n = r.below(400) as usize;
                let soup = r.bytes(n);
                p.extend_from_slice(&soup);
            }
            _ => {
                let cut = 200 + r.below(p.len() as u64 - 200) as usize;
                p.truncate(cut);
                let n = r.below(40) as usize;
                let soup = r.bytes(n);
                p.extend_from_slice(&soup);
            }
        }
        if p.len() >= 34 {
            p[28..34].copy_from_slice(&[0x02, 0x66, 0x66, 0, 0, (i % 4) as u8]);
        }
        add(&format!("mutation {i}"), p);
    }
    cases
}

#[test]
fn dhcp_and_boot_server_survive_hostile_packets_and_still_lease() {
    in_private_netns(
        "dhcp_and_boot_server_survive_hostile_packets_and_still_lease",
        || {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("root");
            std::fs::create_dir(&root).unwrap();
            std::fs::write(root.join("undionly.kpxe"), boot_file()).unwrap();
            let client =
                loopback_dhcp_client::LoopbackClient::bind().expect("UDP 68 in the namespace");
            let tftp_port = free_udp_port().to_string();
            let (mut server, log) = spawn_serve(
                dir.path(),
                &root,
                &[
                    "--range",
                    "127.0.0.100-127.0.0.200",
                    "--tftp-port",
                    &tftp_port,
                ],
            );
            assert!(
                log.wait_for("pxelab serving", START).is_some(),
                "server did not start: {}",
                log.text()
            );

            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let cases = hostile_dhcp();
            let mut sent = 0;
            for (name, p) in &cases {
                for port in [67u16, 4011] {
                    if let Err(e) = sock.send_to(p, (Ipv4Addr::LOCALHOST, port)) {
                        panic!("cannot send {name:?} ({} bytes): {e}", p.len());
                    }
                    sent += 1;
                }
                // Pace the flood a little: this tests robustness, not socket buffers.
                if sent % 40 == 0 {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            std::thread::sleep(Duration::from_millis(300));
            assert!(
                server.alive(),
                "pxelab serve died on hostile DHCP: {}",
                log.text()
            );

            // A normal client still leases, and keeps its address.
            let mac = [0x52, 0x54, 0, 0x99, 0, 1];
            let first = client.lease(mac, 0x7000);
            let again = client.lease(mac, 0x7100);
            assert_eq!(first, again, "a normal client's lease moved");
            let o = u32::from(first);
            assert!(
                (u32::from(Ipv4Addr::new(127, 0, 0, 100))
                    ..=u32::from(Ipv4Addr::new(127, 0, 0, 200)))
                    .contains(&o),
                "{first} is outside the range"
            );
            // And TFTP on the same server still serves the boot file.
            let got = tftp_download(tftp_port.parse().unwrap(), "undionly.kpxe", START)
                .unwrap_or_else(|e| panic!("TFTP refused after the flood: {e:?}"));
            assert!(got == boot_file(), "boot file differs after the flood");
            assert!(server.alive(), "{}", log.text());
            report(&format!(
                "hostile DHCP: {} datagrams ({} cases x ports 67 and 4011) survived",
                sent,
                cases.len()
            ));
        },
    );
}

// ---------------------------------------------------------------- TFTP

/// The canary outside the root, and what proves it was never read.
struct Outside {
    canary: std::path::PathBuf,
    control: std::path::PathBuf,
    secret: Vec<u8>,
}

/// Creates `base/root` (served) with `boot.ipxe` and hostile links, and beside it
/// the canary, a control file and a FIFO.
fn hostile_tree(base: &Path) -> Outside {
    let root = base.join("root");
    std::fs::create_dir_all(root.join("boot")).unwrap();
    std::fs::write(root.join("undionly.kpxe"), boot_file()).unwrap();
    std::fs::write(root.join("boot/bcd"), b"bcd").unwrap();
    let secret = format!("PXELAB-CANARY-{}-never-served", std::process::id()).into_bytes();
    let canary = base.join("canary");
    let control = base.join("control");
    std::fs::write(&canary, &secret).unwrap();
    std::fs::write(&control, &secret).unwrap();
    let fifo = base.join("fifo");
    let ok = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(ok.success());
    let ok = Command::new("mkfifo")
        .arg(root.join("pipe"))
        .status()
        .unwrap();
    assert!(ok.success());
    use std::os::unix::fs::symlink;
    symlink("../canary", root.join("link-out")).unwrap();
    symlink(&canary, root.join("link-abs")).unwrap();
    symlink("..", root.join("link-dir")).unwrap();
    symlink("../fifo", root.join("link-fifo")).unwrap();
    symlink("/proc/self/cwd/canary", root.join("link-proc")).unwrap();
    symlink("/dev/zero", root.join("link-zero")).unwrap();
    symlink("/etc/passwd", root.join("boot/link-passwd")).unwrap();
    symlink("link-out", root.join("link-chain")).unwrap();
    // atime far in the past (before mtime), so that even relatime records a read.
    for f in [&canary, &control] {
        let ok = Command::new("touch")
            .args(["-a", "-d", "2001-01-01 00:00:00"])
            .arg(f)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    Outside {
        canary,
        control,
        secret,
    }
}

/// The traversal corpus: names that point outside the root, at devices, through
/// symlinks that leave it, or at nothing. Every one must be answered with ERROR.
fn traversal_corpus(base: &Path) -> Vec<Vec<u8>> {
    let abs = base.join("canary").to_string_lossy().into_owned();
    let abs_root_up = base.join("root/../canary").to_string_lossy().into_owned();
    let mut v: Vec<String> = [
        "../canary",
        "..\\canary",
        "./../canary",
        ".\\..\\canary",
        "boot/../../canary",
        "boot\\..\\..\\canary",
        "a/b/../../../canary",
        "../root/../canary",
        "....//canary",
        "..../canary",
        "..%2fcanary",
        "%2e%2e/canary",
        "%2e%2e%2fcanary",
        "%2E%2E%5Ccanary",
        "%252e%252e%252fcanary",
        "..%c0%afcanary",
        "..%ef%bc%8fcanary",
        "..\u{2215}canary",
        "..\u{ff0f}canary",
        "..;/canary",
        "/../canary",
        "//../canary",
        "\\\\..\\canary",
        "/etc/passwd",
        "//etc/passwd",
        "\\etc\\passwd",
        "../../../../../../../../etc/passwd",
        "../../../../../../../../proc/self/environ",
        "/proc/self/environ",
        "/proc/self/cwd/canary",
        "/proc/self/root/etc/passwd",
        "/dev/zero",
        "/dev/urandom",
        "/dev/stdin",
        "C:\\boot.ini",
        "c:/windows/win.ini",
        "\\\\server\\share\\canary",
        "CON",
        "NUL",
        "AUX",
        "PRN",
        "COM1",
        "LPT1",
        "con.txt",
        "nul.kpxe",
        "link-out",
        "link-abs",
        "link-dir/canary",
        "link-dir/root/../canary",
        "link-fifo",
        "link-proc",
        "link-zero",
        "boot/link-passwd",
        "link-chain",
        "pipe",
        "boot",
        ".",
        "..",
        "",
        "/",
        "\\",
        "canary",
        "root/../canary",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    v.push(abs);
    v.push(abs_root_up);
    v.push("a/".repeat(2000) + "canary");
    v.push("../".repeat(500) + "canary");
    v.push("x".repeat(5000));
    let mut names: Vec<Vec<u8>> = v.into_iter().map(String::into_bytes).collect();
    // NUL in the middle: the name ends at the first NUL, the rest is the "mode".
    names.push(b"../canary\0octet".to_vec());
    names.push(b"nothing-here\0../canary".to_vec());
    names.push(b"..\xff/canary".to_vec());
    names.push(b"\xc0\xae\xc0\xae/canary".to_vec());
    names
}

/// Sends `pkt` to 127.0.0.1:`port` from a fresh socket and returns the first reply
/// within `wait`. A reply from another port (a transfer session) is aborted with
/// an ERROR, so no session is left behind.
fn ask(port: u16, pkt: &[u8], wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    sock.send_to(pkt, (Ipv4Addr::LOCALHOST, port)).unwrap();
    let mut buf = vec![0u8; 70_000];
    let (n, from) = sock.recv_from(&mut buf).ok()?;
    if from.port() != port {
        let _ = sock.send_to(&ABORT, from);
    }
    Some((buf[..n].to_vec(), from))
}

fn option_value<'a>(oack: &'a [u8], name: &str) -> Option<&'a str> {
    let fields: Vec<&[u8]> = oack.get(2..)?.split(|b| *b == 0).collect();
    fields
        .chunks(2)
        .find(|kv| kv[0].eq_ignore_ascii_case(name.as_bytes()))
        .and_then(|kv| std::str::from_utf8(kv.get(1)?).ok())
}

fn atime(p: &Path) -> i64 {
    std::fs::metadata(p).unwrap().atime()
}

#[test]
fn tftp_survives_hostile_packets_and_never_reads_outside_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let outside = hostile_tree(dir.path());
    let port = free_udp_port();
    let (mut server, log) = spawn_serve(
        dir.path(),
        Path::new("root"),
        &["--tftp-only", "--tftp-port", &port.to_string()],
    );
    // Ready once a normal request is answered.
    tftp_download(port, "boot/bcd", START).expect("server up");
    let mut replies: Vec<Vec<u8>> = Vec::new();
    let short = Duration::from_millis(60);
    let answer = Duration::from_secs(5);

    // 1. Malformed packets to the listener: no answer needed, no death allowed.
    let mut malformed: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0, 1],
        vec![0, 1, b'a'],
        b"\x00\x01undionly.kpxe".to_vec(),
        b"\x00\x01undionly.kpxe\x00octet".to_vec(),
        b"\x00\x01undionly.kpxe\x00octet\x00blksize".to_vec(),
        b"\x00\x01undionly.kpxe\x00octet\x00blksize\x001024".to_vec(),
        b"\x00\x01undionly.kpxe\x00mail\x00".to_vec(),
        b"\x00\x01undionly.kpxe\x00\xff\xfe\x00".to_vec(),
        b"\x00\x01\x00\x00".to_vec(),
        b"\x00\x02upload.bin\x00octet\x00".to_vec(),
        b"\x00\x02../canary\x00octet\x00".to_vec(),
        vec![0, 3, 0, 1, 1, 2, 3],
        vec![0, 4, 0, 1],
        vec![0, 5, 0, 1, b'x', 0],
        vec![0, 5, 0, 1, b'x'],
        b"\x00\x06blksize\x00512\x00".to_vec(),
        vec![0xff, 0xff, 0, 0],
        vec![0, 0, 1, 2, 3],
    ];
    for op in 7..=40u8 {
        malformed.push(vec![0, op, b'a', 0, b'o', 0]);
    }
    let mut long = rrq(b"undionly.kpxe", &[]);
    long.extend(std::iter::repeat_n(b'z', 60_000));
    malformed.push(long);
    let mut r = Rng(0x7f7f);
    for _ in 0..100 {
        let mut p = vec![0, 1 + r.below(6) as u8];
        let n = r.below(600) as usize;
        p.extend(r.bytes(n));
        malformed.push(p);
    }
    for p in &malformed {
        if let Some((reply, _)) = ask(port, p, short) {
            replies.push(reply);
        }
    }

    // 2. Absurd, repeated and unknown options on a real file.
    let abs_cases: Vec<(&str, Vec<u8>)> = vec![
        ("blksize 0", rrq(b"undionly.kpxe", &[("blksize", "0")])),
        ("blksize 7", rrq(b"undionly.kpxe", &[("blksize", "7")])),
        (
            "blksize 70000",
            rrq(b"undionly.kpxe", &[("blksize", "70000")]),
        ),
        (
            "blksize 2^70",
            rrq(b"undionly.kpxe", &[("blksize", "1180591620717411303424")]),
        ),
        ("blksize -1", rrq(b"undionly.kpxe", &[("blksize", "-1")])),
        ("blksize abc", rrq(b"undionly.kpxe", &[("blksize", "abc")])),
        ("timeout 0", rrq(b"undionly.kpxe", &[("timeout", "0")])),
        ("timeout 256", rrq(b"undionly.kpxe", &[("timeout", "256")])),
        (
            "windowsize 0",
            rrq(b"undionly.kpxe", &[("windowsize", "0")]),
        ),
        (
            "windowsize 65536",
            rrq(b"undionly.kpxe", &[("windowsize", "65536")]),
        ),
        ("tsize junk", rrq(b"undionly.kpxe", &[("tsize", "lots")])),
        (
            "blksize repeated 200 times",
            rrq(
                b"undionly.kpxe",
                &std::iter::repeat_n(("blksize", "65464"), 200).collect::<Vec<_>>(),
            ),
        ),
        (
            "300 unknown options",
            rrq(
                b"undionly.kpxe",
                &std::iter::repeat_n(("x-unknown", "1"), 300).collect::<Vec<_>>(),
            ),
        ),
        (
            "option with a 2000-byte name",
            rrq(b"undionly.kpxe", &[(&"b".repeat(2000), "1")]),
        ),
    ];
    let blksize_of = |reply: &[u8]| -> Option<usize> {
        match reply.get(..2)? {
            [0, 6] => option_value(reply, "blksize").map(|v| v.parse().unwrap()),
            [0, 3] => Some(reply.len() - 4),
            _ => None,
        }
    };
    for (name, p) in &abs_cases {
        let (reply, _) = ask(port, p, answer).unwrap_or_else(|| panic!("{name}: no answer at all"));
        assert!(
            matches!(reply.get(..2), Some([0, 3] | [0, 5] | [0, 6])),
            "{name}: answered {:?}",
            &reply[..reply.len().min(32)]
        );
        if let Some(b) = blksize_of(&reply) {
            assert!(
                (8..=65464).contains(&b),
                "{name}: a block size of {b} is outside RFC 2348's 8..=65464"
            );
            if *name == "blksize 0" || *name == "blksize 7" || name.starts_with("blksize -") {
                assert_eq!(b, 512, "{name}: an invalid blksize must be ignored");
            }
        }
        replies.push(reply);
    }

    // 3. The traversal corpus: every name answered with ERROR, never DATA.
    let corpus = traversal_corpus(dir.path());
    assert!(corpus.len() >= 50, "the corpus has {} paths", corpus.len());
    for name in &corpus {
        let pkt = rrq(name, &[("tsize", "0")]);
        let (reply, _) = ask(port, &pkt, answer)
            .unwrap_or_else(|| panic!("{:?}: no answer", String::from_utf8_lossy(name)));
        assert_eq!(
            reply.get(..2),
            Some(&[0u8, 5][..]),
            "{:?} was not refused: {:?}",
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(&reply[..reply.len().min(64)])
        );
        replies.push(reply);
    }

    // 4. The server still serves a normal client, byte for byte (it would hang
    //    here had it opened the FIFO).
    let got = tftp_download(port, "undionly.kpxe", START)
        .unwrap_or_else(|e| panic!("refused after the suite: {e:?}\n{}", log.text()));
    assert!(got == boot_file(), "the boot file differs after the suite");
    assert!(server.alive(), "{}", log.text());

    // 5. Nothing outside the root was read.
    for r in &replies {
        assert!(
            !r.windows(outside.secret.len()).any(|w| w == outside.secret),
            "the canary's content was served"
        );
    }
    let before = atime(&outside.control);
    let mut f = std::fs::File::open(&outside.control).unwrap();
    let _ = f.read(&mut [0u8; 8]).unwrap();
    drop(f);
    if atime(&outside.control) != before {
        assert_eq!(
            atime(&outside.canary),
            before,
            "the canary outside the TFTP root was read (its atime moved)"
        );
    } else {
        report(
            "NOTE hostile TFTP: this file system does not record atime; canary content and FIFO checks only",
        );
    }
    drop(server);
    report(&format!(
        "hostile TFTP: {} malformed, {} absurd-option, {} traversal requests survived",
        malformed.len(),
        abs_cases.len(),
        corpus.len()
    ));
}

// ---------------------------------------------------------------- agents

const AGENT_MAC: &str = "02:00:00:00:00:09";

fn credential() -> String {
    "5a".repeat(32)
}

fn start_deploy_server(dir: &Path) -> (KillOnDrop, Log, String) {
    std::fs::create_dir(dir.join("images")).unwrap();
    std::fs::write(dir.join("images/base.img"), vec![7u8; 4096]).unwrap();
    let config = dir.join("deploy.toml");
    std::fs::write(
        &config,
        format!(
            "mode = \"reference\"\nimage_dir = \"images\"\n\n[[image]]\nname = \"base\"\n\
             file = \"base.img\"\n\n[[computer]]\nname = \"wks-09\"\nmac = \"{AGENT_MAC}\"\n\
             pre_os = \"partition\"\nagent_credential = \"{}\"\nshare_credential = \"{}\"\n\n\
             [[job]]\ncomputer = \"wks-09\"\nkind = \"deploy-image\"\nimage = \"base\"\n",
            credential(),
            "06".repeat(32)
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .args(["deploy-server", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run pxelab deploy-server");
    let log = Log::collect(child.stdout.take().expect("piped"));
    let server = KillOnDrop(child);
    let line = log
        .wait_for("listening on ", START)
        .unwrap_or_else(|| panic!("deploy-server did not start: {}", log.text()));
    let addr = line["listening on ".len()..].trim().to_owned();
    (server, log, addr)
}

fn hello(mac: [u8; 6], credential: Vec<u8>) -> Vec<u8> {
    let mut buf = Vec::new();
    AgentMessage::Hello(Hello {
        agent: AgentKind::AClient,
        version: 1,
        mac: pxelab_reference::net::Mac(mac),
        uuid: None,
        computer_name: "wks-09".into(),
        credential,
    })
    .emit(&mut buf)
    .unwrap();
    buf
}

/// Sends `bytes` on a fresh connection, reads until the server closes it or goes
/// quiet (bounded), and returns the messages it sent.
fn converse(addr: &str, bytes: &[u8]) -> Vec<AgentMessage> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    // The server may close (or reset) before it has read all of an absurd frame.
    let _ = s.write_all(bytes);
    let mut dec = FrameDecoder::new(ParseMode::Lax);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut at = 0;
                while at < n {
                    at += dec.push(&buf[at..n]);
                    while let Some(m) = dec.next() {
                        if let Ok(m) = m {
                            out.push(m);
                        }
                    }
                    if dec.is_dead() {
                        return out;
                    }
                }
            }
        }
    }
    out
}

fn parse_mac(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

#[test]
fn deployment_server_refuses_absurd_frames_and_bad_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, log, addr) = start_deploy_server(dir.path());
    let mac = parse_mac(AGENT_MAC);
    let good: Vec<u8> = (0..32)
        .map(|_| u8::from_str_radix("5a", 16).unwrap())
        .collect();
    let header = |ty: u8, len: u32| {
        let mut h = b"PX\x01".to_vec();
        h.push(ty);
        h.extend_from_slice(&len.to_be_bytes());
        h
    };
    let mut almost = good.clone();
    almost[31] ^= 1;
    let check_in = {
        let mut b = Vec::new();
        AgentMessage::CheckIn(pxelab_reference::wire::agent::CheckIn { computer_id: 1 })
            .emit(&mut b)
            .unwrap();
        b
    };
    let image_req = {
        let mut b = Vec::new();
        AgentMessage::ImageRequest(pxelab_reference::wire::agent::ImageRequest {
            job_id: 1,
            offset: 0,
            len: 4096,
        })
        .emit(&mut b)
        .unwrap();
        b
    };
    // (what, bytes, must the server answer Refused?)
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("length u32::MAX", header(0x01, u32::MAX), false),
        (
            "length one past the limit",
            header(0x01, MAX_BODY_LEN as u32 + 1),
            false,
        ),
        (
            "1 MiB announced, 10 bytes sent",
            [header(0x01, 1 << 20), vec![0; 10]].concat(),
            false,
        ),
        ("bad magic", b"GET / HTTP/1.0\r\n\r\n".to_vec(), false),
        ("version 200", b"PX\xc8\x01\x00\x00\x00\x00".to_vec(), false),
        ("unknown type", header(0x7f, 0), false),
        ("half a header", b"PX\x01".to_vec(), false),
        ("hello, empty body", header(0x01, 0), false),
        ("wrong credential", hello(mac, vec![0; 32]), true),
        (
            "credential off by one bit",
            hello(mac, almost.clone()),
            true,
        ),
        ("empty credential", hello(mac, Vec::new()), true),
        (
            "credential of 65535 bytes",
            hello(mac, vec![0x5a; 65535]),
            true,
        ),
        (
            "right credential with a byte more",
            hello(mac, [good.clone(), vec![0]].concat()),
            true,
        ),
        (
            "unknown computer",
            hello([2, 0, 0, 0, 0, 0xee], good.clone()),
            true,
        ),
        ("check-in without hello", check_in.clone(), false),
        ("image request without hello", image_req.clone(), false),
        (
            "wrong credential then check-in and image request",
            [hello(mac, vec![1; 32]), check_in, image_req].concat(),
            true,
        ),
    ];
    for (what, bytes, refused) in &cases {
        let msgs = converse(&addr, bytes);
        for m in &msgs {
            assert!(
                !matches!(
                    m,
                    AgentMessage::Welcome(_)
                        | AgentMessage::JobOffer(_)
                        | AgentMessage::ImageChunk(_)
                ),
                "{what}: the server answered {m:?}"
            );
        }
        if *refused {
            assert!(
                msgs.iter().any(|m| matches!(
                    m,
                    AgentMessage::Refused(r) if matches!(r.reason, RefuseReason::BadCredential | RefuseReason::UnknownComputer)
                )),
                "{what}: no clear refusal, got {msgs:?}"
            );
        }
        assert!(server.alive(), "{what} killed the server: {}", log.text());
    }
    // The right credential is still welcomed.
    let msgs = converse(&addr, &hello(mac, good));
    assert!(
        msgs.iter().any(|m| matches!(m, AgentMessage::Welcome(_))),
        "the real agent is not welcomed after the suite: {msgs:?}"
    );
    report(&format!(
        "hostile agent frames: {} connections refused or closed",
        cases.len()
    ));
}

// ---------------------------------------------------------------- starvation

mod starvation {
    //! DHCP starvation, sans-IO (the server machine the driver runs, a memory
    //! lease store, a virtual clock): a client cycling 10,000 random MACs, each
    //! taking a full lease (DISCOVER, then REQUEST what was offered).
    //!
    //! The policies that hold: a reserved address ([[dhcp.reservations]]) is never
    //! offered or acknowledged to another MAC, even inside the dynamic range; one
    //! MAC holds one address (its DISCOVERs get the same offer); and
    //! `known_clients_only` answers no MAC without a reservation at all. Clients
    //! without a reservation share the dynamic pool with everyone, so an attacker
    //! can exhaust it: that is what the reservations are for.

    use std::net::{Ipv4Addr, SocketAddrV4};

    use super::hostile_support::Rng;
    use pxelab_reference::dhcp::{
        DhcpConfig, DhcpMode, DhcpServer, DhcpSettings, MemoryStore, PoolConfig, Reservation,
    };
    use pxelab_reference::pxe::BootPolicy;
    use pxelab_reference::wire::ParseMode;
    use pxelab_reference::wire::dhcp::{DhcpMessage, MessageType};
    use pxelab_reference::{Datagram, Instant, Mac};

    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const ATTACKER_MACS: u64 = 10_000;

    fn known() -> Vec<Reservation> {
        // Four inside the dynamic range (the harder case) and one outside it.
        let ips = [120u8, 121, 122, 149, 50];
        ips.iter()
            .enumerate()
            .map(|(i, &last)| Reservation {
                mac: Mac([0x52, 0x54, 0, 0x4b, 0, i as u8]),
                ip: Ipv4Addr::new(10, 0, 0, last),
                boot_file: None,
            })
            .collect()
    }

    fn server(known_clients_only: bool) -> DhcpServer {
        let config = DhcpConfig {
            server_addr: SERVER,
            netmask: Ipv4Addr::new(255, 255, 255, 0),
            mode: DhcpMode::Full {
                pools: vec![PoolConfig {
                    first: Ipv4Addr::new(10, 0, 0, 100),
                    last: Ipv4Addr::new(10, 0, 0, 149),
                    netmask: None,
                    router: None,
                    dns: vec![],
                }],
            },
            settings: DhcpSettings {
                reservations: known(),
                known_clients_only,
                ..DhcpSettings::default()
            },
            boot: BootPolicy::default(),
            unix_time_at_start: 1_700_000_000,
        };
        DhcpServer::new(config, Box::new(MemoryStore::new()), Instant::ZERO).unwrap()
    }

    /// Sends `m` from `mac` and returns the server's reply, if any, once any
    /// respond delay has run.
    fn exchange(
        s: &mut DhcpServer,
        now: Instant,
        mac: Mac,
        m: &DhcpMessage,
    ) -> Option<DhcpMessage> {
        let bytes = m.emit();
        s.handle_datagram(
            now,
            Datagram {
                src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
                dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
                src_mac: mac,
                payload: &bytes,
            },
        );
        while s.poll_timeout().is_some_and(|t| t <= now) {
            s.handle_timeout(now);
        }
        while s.poll_event().is_some() {}
        let mut reply = None;
        while let Some(t) = s.poll_transmit() {
            let r = DhcpMessage::parse(&t.payload, ParseMode::Strict).expect("reply parses");
            if r.xid == m.xid {
                reply = Some(r);
            }
        }
        reply
    }

    fn msg(mac: Mac, xid: u32, ty: MessageType, ask: Option<Ipv4Addr>) -> DhcpMessage {
        let mut m = DhcpMessage {
            xid,
            ..Default::default()
        };
        m.chaddr[..6].copy_from_slice(&mac.0);
        m.set_message_type(ty);
        if let Some(ip) = ask {
            m.push_option(50, ip.octets());
            m.push_option(54, SERVER.octets());
        }
        m
    }

    /// DISCOVER then REQUEST; the acknowledged address, or what stopped it.
    fn lease(s: &mut DhcpServer, now: Instant, mac: Mac, xid: u32) -> Result<Ipv4Addr, String> {
        let offer =
            exchange(s, now, mac, &msg(mac, xid, MessageType::Discover, None)).ok_or("no offer")?;
        let ack = exchange(
            s,
            now,
            mac,
            &msg(mac, xid + 1, MessageType::Request, Some(offer.yiaddr)),
        )
        .ok_or("no answer to the REQUEST")?;
        match ack.message_type() {
            Some(MessageType::Ack) => Ok(ack.yiaddr),
            other => Err(format!("{other:?}")),
        }
    }

    /// Runs the attack; returns every address acknowledged to the attacker.
    fn attack(s: &mut DhcpServer, seed: u64) -> (Vec<Ipv4Addr>, Instant) {
        let mut rng = Rng(seed);
        let reserved: Vec<Ipv4Addr> = known().iter().map(|r| r.ip).collect();
        let mut won = Vec::new();
        let mut now = Instant::ZERO;
        for i in 0..ATTACKER_MACS {
            // 10 ms apart: 100 s in all, longer than an offer is held (60 s).
            now = Instant::from_millis(i * 10);
            let b = rng.bytes(6);
            let mac = Mac([b[0] & 0xfe | 0x02, b[1], b[2], b[3], b[4], b[5]]);
            let xid = (i as u32) << 1;
            if let Some(offer) = exchange(s, now, mac, &msg(mac, xid, MessageType::Discover, None))
            {
                assert!(
                    !reserved.contains(&offer.yiaddr),
                    "reserved {} offered to attacker MAC {mac}",
                    offer.yiaddr
                );
                if let Ok(ip) = lease(s, now, mac, xid) {
                    assert!(
                        !reserved.contains(&ip),
                        "reserved {ip} acknowledged to {mac}"
                    );
                    won.push(ip);
                }
            }
        }
        (won, now)
    }

    #[test]
    fn ten_thousand_random_macs_cannot_take_reserved_addresses() {
        let mut s = server(false);
        let (won, now) = attack(&mut s, 0x5eed);
        // The attacker does drain the dynamic pool (50 addresses less the 4
        // reserved inside it): the test would not show anything otherwise.
        assert_eq!(won.len(), 46, "the attacker took {} addresses", won.len());
        let mut distinct = won.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            won.len(),
            "an address was acknowledged twice"
        );
        // Every known client still gets its reserved address.
        for (i, r) in known().iter().enumerate() {
            let got = lease(&mut s, now, r.mac, 0x4000_0000 + 2 * i as u32);
            assert_eq!(got, Ok(r.ip), "known client {} was starved", r.mac);
        }
    }

    #[test]
    fn known_clients_only_answers_no_random_mac_and_every_known_client() {
        let mut s = server(true);
        let (won, now) = attack(&mut s, 0xbad);
        assert!(won.is_empty(), "unknown MACs were leased {won:?}");
        for (i, r) in known().iter().enumerate() {
            let got = lease(&mut s, now, r.mac, 0x4000_0000 + 2 * i as u32);
            assert_eq!(got, Ok(r.ip), "known client {} was starved", r.mac);
        }
    }

    /// A server with the attack's pool and reservations.
    pub(super) fn server_for_flood() -> DhcpServer {
        server(false)
    }

    /// `n` random MACs DISCOVER, 10 s apart (so every offer lapses, 60 s, and its
    /// address goes to a later MAC), and never REQUEST. Returns the offers made
    /// and how many clients the server then remembers.
    pub(super) fn discover_flood(s: &mut DhcpServer, n: u64) -> (usize, usize) {
        let mut rng = Rng(0xf100d);
        let mut offers = 0;
        for i in 0..n {
            let now = Instant::from_secs(i * 10);
            let b = rng.bytes(6);
            let mac = Mac([b[0] & 0xfe | 0x02, b[1], b[2], b[3], b[4], b[5]]);
            if exchange(
                s,
                now,
                mac,
                &msg(mac, i as u32, MessageType::Discover, None),
            )
            .is_some()
            {
                offers += 1;
            }
        }
        (offers, s.remembered_clients())
    }

    /// One MAC cannot collect addresses by changing its transaction id: it is
    /// offered the same address each time (RFC 2131 §4.3.1, "the client's
    /// current or previous address").
    #[test]
    fn one_mac_gets_one_address_however_many_discovers() {
        let mut s = server(false);
        let mac = Mac([0x02, 0xaa, 0, 0, 0, 1]);
        let mut offers = Vec::new();
        for i in 0..100u32 {
            let now = Instant::from_millis(u64::from(i) * 100);
            let o = exchange(&mut s, now, mac, &msg(mac, i, MessageType::Discover, None))
                .expect("offer");
            offers.push(o.yiaddr);
        }
        offers.dedup();
        assert_eq!(offers.len(), 1, "one MAC was offered {offers:?}");
    }
}

mod starvation_memory {
    //! The memory side of starvation: a DISCOVER-only flood of random MACs over
    //! a day of virtual time, so offers keep lapsing and addresses keep being
    //! offered to new MACs.

    use super::starvation::{discover_flood, server_for_flood};

    #[test]
    fn a_flood_of_random_macs_does_not_grow_the_servers_memory() {
        let mut s = server_for_flood();
        let (offers, remembered) = discover_flood(&mut s, 10_000);
        assert!(
            offers > 1000,
            "the flood got only {offers} offers: no churn"
        );
        // 50 pool addresses and 5 reservations: at most one remembered client each.
        assert!(
            remembered <= 55,
            "after {offers} offers to random MACs the server remembers {remembered} clients"
        );
    }
}
