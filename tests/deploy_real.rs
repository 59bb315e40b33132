//! The deployment plane for real (issue 5, "Real mode"): `pxelab deploy-server`
//! on loopback TCP and the agents as separate `pxelab agent` processes on a
//! file-backed disk, deploying a 3 MiB image. No root: an ephemeral port on
//! 127.0.0.1. Every wait is bounded, and the server is killed at the end even when
//! an assertion fails.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(90);
const MAC: &str = "02:00:00:00:00:07";
const NAME: &str = "wks-07";
const OS_PARTITION_START: usize = 63 * 512;

/// Kills the child when dropped (a failed assertion must not leave a server).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn credential() -> String {
    "05".repeat(32)
}

/// The image: 3 MiB of bytes that differ from their neighbours and from zero.
fn image_bytes() -> Vec<u8> {
    (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// Runs `pxelab ARGS` to its end within [`BOUND`] (killed past it); returns the
/// exit status and stdout.
fn pxelab_bounded(args: &[&str]) -> (ExitStatus, String) {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_pxelab"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run pxelab"),
    );
    let mut stdout = child.0.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + BOUND;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "pxelab {args:?} did not end");
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, reader.join().expect("reader"))
}

fn agent(which: &str, server: &str, disk: &Path) -> (Option<i32>, String) {
    let cred = credential();
    let disk = disk.to_str().expect("utf-8 path");
    let (status, out) = pxelab_bounded(&[
        "agent",
        which,
        "--server",
        server,
        "--disk",
        disk,
        "--mac",
        MAC,
        "--name",
        NAME,
        "--credential",
        &cred,
    ]);
    (status.code(), out)
}

#[test]
fn deploy_an_image_over_loopback_to_a_file_disk() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("images")).unwrap();
    let image = image_bytes();
    std::fs::write(dir.path().join("images/xp-sp2.img"), &image).unwrap();
    let config = dir.path().join("deploy.toml");
    std::fs::write(
        &config,
        format!(
            r#"
mode = "reference"
image_dir = "images"

[[image]]
name = "xp-sp2"
file = "xp-sp2.img"

[[computer]]
name = "{NAME}"
mac = "{MAC}"
pre_os = "partition"
agent_credential = "{cred}"
share_credential = "{share}"

[[job]]
computer = "{NAME}"
kind = "deploy-image"
image = "xp-sp2"
post_name = "WKS-07"
"#,
            cred = credential(),
            share = "06".repeat(32),
        ),
    )
    .unwrap();

    let (mut server, lines, log, addr) = start_server(&config, &["--until-done"]);

    let disk = dir.path().join("wks.img");
    let (status, out) = pxelab_bounded(&[
        "agent",
        "make-disk",
        "--disk",
        disk.to_str().unwrap(),
        "--os-bytes",
        &(4u64 << 20).to_string(),
        "--bootworks-bytes",
        &(1u64 << 20).to_string(),
    ]);
    assert!(status.success(), "{out}");

    // Windows boots: AClient arms the flag and asks for a reboot.
    let (code, out) = agent("aclient", &addr, &disk);
    assert_eq!(code, Some(10), "{out}");
    assert_eq!(
        &std::fs::read(&disk).unwrap()[0x1B0..0x1B6],
        b"PXBW\x01\x01"
    );

    // The flag sends the boot to Bootworks: it images, verifies, clears the flag.
    let (code, out) = agent("bootworks", &addr, &disk);
    assert_eq!(code, Some(10), "{out}");
    assert!(
        out.contains(&format!("imaged {} bytes, SHA-256 verified", image.len())),
        "{out}"
    );
    let raw = std::fs::read(&disk).unwrap();
    assert_eq!(raw[0x1B4], 0, "the flag is clear after imaging");
    let written = &raw[OS_PARTITION_START..OS_PARTITION_START + image.len()];
    assert!(written == image.as_slice(), "the OS partition is the image");

    // Windows again: AClient applies the post-configuration and the job is done.
    let (code, out) = agent("aclient", &addr, &disk);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("WKS-07"), "{out}");

    // The server exits on its own (--until-done) with every job succeeded.
    let (status, log) = wait_for_exit(&mut server, &lines, log);
    assert!(status.success(), "{log}");
    assert!(log.contains("succeeded"), "{log}");
    assert!(log.contains("final:"), "{log}");
    let image_line = log.lines().find(|l| l.starts_with("image xp-sp2")).unwrap();
    assert!(
        image_line.contains(&format!("{} bytes", image.len())),
        "{log}"
    );
}

/// Starts `pxelab deploy-server --listen 127.0.0.1:0 --config CONFIG` plus
/// `extra` flags; returns the server, its stdout lines as they come, the lines
/// read so far and the address it listens on.
/// The lines a child writes to `pipe`, as they come.
fn line_channel(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// Reads lines into `log` until `pick` finds what it wants in one (bounded).
fn wait_for_line(
    lines: &mpsc::Receiver<String>,
    log: &mut Vec<String>,
    what: &str,
    pick: impl Fn(&str) -> Option<String>,
) -> String {
    loop {
        let line = lines
            .recv_timeout(BOUND)
            .unwrap_or_else(|_| panic!("the server's log never showed {what}: {log:#?}"));
        log.push(line.clone());
        if let Some(found) = pick(&line) {
            return found;
        }
    }
}

/// Waits (bounded) for a `--until-done` server to exit; returns its status and
/// the whole log, read to the end of its stdout.
fn wait_for_exit(
    server: &mut KillOnDrop,
    lines: &mpsc::Receiver<String>,
    mut log: Vec<String>,
) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + BOUND;
    let status = loop {
        while let Ok(line) = lines.try_recv() {
            log.push(line);
        }
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not finish: {log:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // The reader thread ends with the server's stdout.
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        log.push(line);
    }
    (status, log.join("\n"))
}

fn start_server(
    config: &Path,
    extra: &[&str],
) -> (KillOnDrop, mpsc::Receiver<String>, Vec<String>, String) {
    let mut server = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_pxelab"))
            .args(["deploy-server", "--listen", "127.0.0.1:0"])
            .args(extra)
            .arg("--config")
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run pxelab deploy-server"),
    );
    let lines = line_channel(server.0.stdout.take().expect("piped"));
    let mut log = Vec::new();
    let addr = wait_for_line(&lines, &mut log, "where it listens", |l| {
        l.strip_prefix("listening on ").map(str::to_string)
    });
    (server, lines, log, addr)
}

/// Issue 5's initial-deployment path for real: a server that knows no computer
/// but has an `[initial_deployment]` job; an unknown machine PXE-boots Bootworks,
/// is registered, and gets the image on its disk, checksum verified.
#[test]
fn an_unknown_machine_that_pxe_boots_is_registered_imaged_and_its_job_finished() {
    const NEWCOMER: &str = "02:00:00:00:00:42";
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("images")).unwrap();
    let image = image_bytes();
    std::fs::write(dir.path().join("images/xp-sp2.img"), &image).unwrap();
    let config = dir.path().join("deploy.toml");
    std::fs::write(
        &config,
        r#"
mode = "reference"
image_dir = "images"

[[image]]
name = "xp-sp2"
file = "xp-sp2.img"

[initial_deployment]
kind = "deploy-image"
image = "xp-sp2"
"#,
    )
    .unwrap();
    // --until-done: a server expecting newcomers must not stop for want of jobs.
    let (mut server, lines, mut log, addr) = start_server(&config, &["--until-done"]);
    assert!(
        log.iter()
            .any(|l| l.contains("initial deployment") && l.contains("deploy-image xp-sp2")),
        "{log:#?}"
    );

    // Give --until-done's check (every 100 ms) time to see a server with no job
    // yet: one that stopped then would refuse every connection below. (Only
    // ever a reason to pass wrongly on a very slow machine, never to fail.)
    std::thread::sleep(Duration::from_millis(500));

    // A bare machine: no hidden Bootworks partition, Bootworks comes from PXE.
    let disk = dir.path().join("new.img");
    let (status, out) = pxelab_bounded(&[
        "agent",
        "make-disk",
        "--disk",
        disk.to_str().unwrap(),
        "--os-bytes",
        &(4u64 << 20).to_string(),
    ]);
    assert!(status.success(), "{out}");
    let run = |which: &str, pxe: bool| {
        let cred = credential();
        let mut args = vec![
            "agent",
            which,
            "--server",
            &addr,
            "--disk",
            disk.to_str().unwrap(),
            "--mac",
            NEWCOMER,
            "--name",
            "newcomer",
            "--credential",
            &cred,
        ];
        if pxe {
            args.push("--pxe");
        }
        let (status, out) = pxelab_bounded(&args);
        (status.code(), out)
    };

    // AClient on an unknown machine is not the initial-deployment path.
    let (code, out) = run("aclient", false);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("refused"), "{out}");

    let (code, out) = run("bootworks", true);
    assert_eq!(code, Some(10), "{out}");
    assert!(
        out.contains(&format!("imaged {} bytes, SHA-256 verified", image.len())),
        "{out}"
    );
    let raw = std::fs::read(&disk).unwrap();
    let written = &raw[OS_PARTITION_START..OS_PARTITION_START + image.len()];
    assert!(written == image.as_slice(), "the OS partition is the image");

    // The server registered it and scheduled the initial job for it.
    let deadline = Instant::now() + BOUND;
    let wanted: [&[&str]; 3] = [
        &["welcomed Bootworks", "(registered by initial deployment)"],
        &["registered", "new-020000000042 (02:00:00:00:00:42)"],
        &["scheduled", "deploy-image xp-sp2"],
    ];
    let seen = |log: &[String]| {
        wanted
            .iter()
            .all(|w| log.iter().any(|l| w.iter().all(|part| l.contains(part))))
    };
    while !seen(&log) {
        assert!(Instant::now() < deadline, "{wanted:?} not in {log:#?}");
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            log.push(line);
        }
    }
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "the job is not finished (AClient in the imaged OS is next), so the server runs on: {log:#?}"
    );

    // The imaged OS boots: its AClient presents the credential Bootworks was
    // registered with (trust on first use), finds Bootworks' note that the
    // pre-OS step ran, and finishes the job; the server then has nothing left
    // and ends (--until-done).
    let (code, out) = run("aclient", false);
    assert_eq!(code, Some(0), "{out}");
    let (status, log) = wait_for_exit(&mut server, &lines, log);
    assert!(status.success(), "{log}");
    assert!(log.contains("succeeded"), "{log}");
}

/// Runs `pxelab deploy-server --config CONFIG` until it says where it listens or
/// exits; returns what it printed (stdout and stderr) and whether it started.
fn start_and_stop(config: &Path) -> (bool, String) {
    start_and_stop_with(config, &[])
}

/// [`start_and_stop`] with `extra` flags.
fn start_and_stop_with(config: &Path, extra: &[&str]) -> (bool, String) {
    let mut server = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_pxelab"))
            .args(["deploy-server", "--listen", "127.0.0.1:0"])
            .args(extra)
            .arg("--config")
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run pxelab deploy-server"),
    );
    let (tx, lines) = mpsc::channel();
    for pipe in [
        Box::new(server.0.stdout.take().expect("piped")) as Box<dyn Read + Send>,
        Box::new(server.0.stderr.take().expect("piped")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut out = Vec::new();
    let deadline = Instant::now() + BOUND;
    while Instant::now() < deadline {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let started = line.starts_with("listening on ");
                out.push(line);
                if started {
                    return (true, out.join("\n"));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return (false, out.join("\n")),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    panic!("the server neither started nor stopped: {out:#?}");
}

#[test]
fn the_example_config_starts_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/deploy.toml");
    let config = dir.path().join("deploy.toml");
    std::fs::copy(example, &config).unwrap();
    std::fs::create_dir(dir.path().join("images")).unwrap();
    std::fs::write(dir.path().join("images/xp-sp2.img"), b"not much of an OS").unwrap();
    let (started, out) = start_and_stop(&config);
    assert!(started, "{out}");
    assert!(out.contains("image xp-sp2 (17 bytes"), "{out}");

    // Its commented [initial_deployment] example is valid too.
    let text = std::fs::read_to_string(example).unwrap();
    let uncommented = text
        .replace("# [initial_deployment]", "[initial_deployment]")
        .replace("# kind = \"deploy-image\"", "kind = \"deploy-image\"")
        .replace("# image = \"xp-sp2\"\n", "image = \"xp-sp2\"\n");
    assert_ne!(uncommented, text, "the example has the table, commented");
    std::fs::write(&config, uncommented).unwrap();
    let (started, out) = start_and_stop(&config);
    assert!(started, "{out}");
    assert!(
        out.contains("initial deployment for unknown computers that PXE-boot: deploy-image xp-sp2"),
        "{out}"
    );
}

#[test]
fn config_mistakes_are_refused_with_where_and_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("images")).unwrap();
    let config = dir.path().join("deploy.toml");

    std::fs::write(
        &config,
        "image_dir = \"images\"\nmode = \"reference\"\nmodee = 1\n",
    )
    .unwrap();
    let (started, out) = start_and_stop(&config);
    assert!(!started);
    assert!(out.contains("line 3") && out.contains("modee"), "{out}");

    // The seed story's job: a scripted install for a Bootworks-partition machine.
    std::fs::write(
        &config,
        format!(
            r#"
image_dir = "images"
[[computer]]
name = "{NAME}"
mac = "{MAC}"
pre_os = "partition"
agent_credential = "{cred}"
[[job]]
computer = "{NAME}"
kind = "scripted-install"
os = "xp"
"#,
            cred = credential()
        ),
    )
    .unwrap();
    let (started, out) = start_and_stop(&config);
    assert!(!started);
    assert!(out.contains("refused"), "{out}");

    std::fs::write(
        &config,
        "image_dir = \"images\"\n[[image]]\nname = \"x\"\nfile = \"../../etc/passwd\"\n",
    )
    .unwrap();
    let (started, out) = start_and_stop(&config);
    assert!(!started);
    assert!(out.contains("not a plain file name"), "{out}");
}

#[test]
fn a_job_store_that_cannot_be_used_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("images")).unwrap();
    let config = dir.path().join("lab.toml");
    std::fs::write(&config, "image_dir = \"images\"\n").unwrap();

    // The default store is beside the config, named after it.
    let (started, out) = start_and_stop(&config);
    assert!(started, "{out}");
    let default = dir.path().join("lab.jobs.redb");
    assert!(default.is_file(), "{out}");
    assert!(
        out.contains(&format!("job store {}", default.display())),
        "{out}"
    );

    // A file that is not a job store, by the default path and by --job-store.
    let garbage = dir.path().join("garbage.redb");
    for path in [&default, &garbage] {
        std::fs::write(path, "mode = \"reference\"\n".repeat(100)).unwrap();
    }
    for (path, extra) in [
        (&default, vec![]),
        (&garbage, vec!["--job-store", garbage.to_str().unwrap()]),
    ] {
        let (started, out) = start_and_stop_with(&config, &extra);
        assert!(!started, "{out}");
        assert!(
            out.contains("pxelab deploy-server: error: job store")
                && out.contains(&path.display().to_string())
                && !out.contains("panicked"),
            "{out}"
        );
    }

    // Two servers on one store: the second is refused, with advice.
    let fresh = dir.path().join("fresh.redb");
    let flag = ["--job-store", fresh.to_str().unwrap()];
    let (_first, _lines, _log, _addr) = start_server(&config, &flag);
    let (started, out) = start_and_stop_with(&config, &flag);
    assert!(!started, "{out}");
    assert!(out.contains("open in another process"), "{out}");
}

#[test]
fn an_agent_that_cannot_reach_the_server_says_so_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("wks.img");
    let (status, out) = pxelab_bounded(&[
        "agent",
        "make-disk",
        "--disk",
        disk.to_str().unwrap(),
        "--os-bytes",
        "65536",
        "--bootworks-bytes",
        "4096",
    ]);
    assert!(status.success(), "{out}");
    // A port that was free a moment ago: nothing listens, the connect is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, out) = agent("bootworks", &format!("127.0.0.1:{port}"), &disk);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("ERROR: Unable to open TCP socket"), "{out}");
}

#[test]
fn serve_deploy_runs_the_deployment_server_beside_the_pxe_server() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("images")).unwrap();
    std::fs::create_dir(dir.path().join("tftp")).unwrap();
    std::fs::write(dir.path().join("images/xp-sp2.img"), [9u8; 5000]).unwrap();
    let config = dir.path().join("deploy.toml");
    std::fs::write(
        &config,
        format!(
            "image_dir = \"images\"\n[[image]]\nname = \"xp-sp2\"\nfile = \"xp-sp2.img\"\n\
             [[computer]]\nname = \"{NAME}\"\nmac = \"{MAC}\"\npre_os = \"partition\"\n\
             agent_credential = \"{}\"\nshare_credential = \"{}\"\n\
             [[job]]\ncomputer = \"{NAME}\"\nkind = \"deploy-image\"\nimage = \"xp-sp2\"\n",
            credential(),
            "06".repeat(32)
        ),
    )
    .unwrap();
    let tftp_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut server = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_pxelab"))
            .args([
                "serve",
                "--interface",
                "lo",
                "--tftp-only",
                "--deploy-port",
                "0",
            ])
            .args(["--tftp-port", &tftp_port, "--tftp-root"])
            .arg(dir.path().join("tftp"))
            .arg("--deploy")
            .arg(&config)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run pxelab serve"),
    );
    let lines = line_channel(server.0.stderr.take().expect("piped"));
    let mut log = Vec::new();
    let addr = wait_for_line(&lines, &mut log, "the deployment server", |l| {
        l.split_once("deployment server listening on ")
            .map(|(_, addr)| addr.trim().to_string())
    });
    let disk = dir.path().join("wks.img");
    let (status, out) = pxelab_bounded(&[
        "agent",
        "make-disk",
        "--disk",
        disk.to_str().unwrap(),
        "--os-bytes",
        "65536",
        "--bootworks-bytes",
        "4096",
    ]);
    assert!(status.success(), "{out}");
    let (code, out) = agent("aclient", &addr, &disk);
    assert_eq!(code, Some(10), "AClient armed the flag: {out}");
    let (code, out) = agent("bootworks", &addr, &disk);
    assert_eq!(code, Some(10), "{out}");
    assert!(out.contains("imaged 5000 bytes"), "{out}");
    let (code, out) = agent("aclient", &addr, &disk);
    assert_eq!(code, Some(0), "{out}");
    let deadline = Instant::now() + BOUND;
    loop {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            let done = line.contains("job 1 succeeded");
            log.push(line);
            if done {
                break;
            }
        }
        assert!(Instant::now() < deadline, "no success in the log: {log:#?}");
    }
    // SIGTERM stops both servers, and the process exits cleanly.
    let killed = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + BOUND;
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
