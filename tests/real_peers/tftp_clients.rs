//! Real TFTP clients download a 40 MiB file, byte for byte.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use super::netns::Lab;
use super::server::{self, Mode, SERVER};
use super::{heavy, peers_available, report};

const SIZE: usize = 40 * 1024 * 1024;
const FILE: &str = "big.bin";

/// 40 MiB of pseudo-random bytes (xorshift64, fixed seed): no run of equal blocks,
/// so a block sent twice or out of order changes the download.
fn test_file() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut data = Vec::with_capacity(SIZE);
    while data.len() < SIZE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    // Not a multiple of any block size, so the last block is short.
    data.truncate(SIZE - 1234);
    data
}

fn assert_same(expected: &[u8], got_path: &Path, client: &str, lab: &mut Lab) {
    let got = fs::read(got_path).unwrap_or_default();
    if got == expected {
        return;
    }
    let first_diff = expected
        .iter()
        .zip(&got)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(got.len()));
    panic!(
        "{client} download differs: {} bytes expected, {} received, first difference at byte {first_diff}\n\
         --- server log ---\n{}",
        expected.len(),
        got.len(),
        lab.proc(SERVER).tail(40)
    );
}

/// Runs one download client against a TFTP-only server and checks the result.
fn download(test: &str, client: &str, argv: impl Fn(&str, &str) -> Vec<String>) {
    let _heavy = heavy();
    let mut lab = Lab::new(test);
    let srv = lab.host("srv", Some(1));
    let cli = lab.host("cli", Some(2));
    let root = lab.path().join("tftp");
    fs::create_dir(&root).expect("cannot create the TFTP root");
    let data = test_file();
    fs::write(root.join(FILE), &data).expect("cannot write the test file");
    let which = server::start(&mut lab, &srv, &root, Mode::TftpOnly);

    let out = lab.path().join("download.bin");
    let server_addr = lab.addr(1).to_string();
    let args = argv(&server_addr, &out.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let (status, output) = lab.run_in(client, &cli.ns, &args, Duration::from_secs(180));
    let secs = started.elapsed().as_secs_f64();
    assert!(
        status.is_some_and(|s| s.success()),
        "{client} failed or timed out after 180 s (exit {status:?}): {output}\n--- server log ---\n{}",
        lab.proc(SERVER).tail(40)
    );
    assert_same(&data, &out, client, &mut lab);
    report(&format!(
        "real-peer {client} vs {which:?}: {} bytes in {secs:.2} s = {:.1} MiB/s",
        data.len(),
        data.len() as f64 / (1024.0 * 1024.0) / secs
    ));
}

#[test]
fn curl_downloads_40_mib_byte_for_byte() {
    let name = "curl_downloads_40_mib_byte_for_byte";
    if !peers_available(name, &["curl"], &[]) {
        return;
    }
    download("curl", "curl", |server, out| {
        [
            "curl",
            "--silent",
            "--show-error",
            "--fail",
            "--max-time",
            "170",
            "--tftp-blksize",
            "1468",
            "--output",
            out,
            &format!("tftp://{server}/{FILE}"),
        ]
        .map(String::from)
        .to_vec()
    });
}

#[test]
fn atftp_downloads_40_mib_byte_for_byte_with_windowsize_8() {
    let name = "atftp_downloads_40_mib_byte_for_byte_with_windowsize_8";
    if !peers_available(name, &["atftp"], &[]) {
        return;
    }
    download("atftp", "atftp", |server, out| {
        [
            "atftp",
            "--option",
            "blksize 1468",
            "--option",
            "windowsize 8",
            "-g",
            "-r",
            FILE,
            "-l",
            out,
            server,
        ]
        .map(String::from)
        .to_vec()
    });
}
