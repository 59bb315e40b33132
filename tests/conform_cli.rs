//! `pxelab conform`: the catalog, bad input and an interface that cannot be
//! opened, as a user meets them. (Runs against servers live in the
//! simulator's in-memory tests and the namespace tests.)

use std::process::{Command, Output};

fn pxelab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .args(args)
        .output()
        .expect("run pxelab")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn list_prints_every_check_with_its_level_and_clause_offline() {
    let out = pxelab(&["conform", "--list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    for c in pxelab_simulator::conform::checks::CHECKS {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(c.id))
            .unwrap_or_else(|| panic!("{} not listed", c.id));
        assert!(
            line.contains(&c.level.to_string()) && line.contains(c.clause),
            "{line}"
        );
    }
    insta::assert_snapshot!("conform_list", text);
}

#[test]
fn a_missing_interface_is_exit_2_listing_the_interfaces() {
    let out = pxelab(&["conform", "--interface", "pxcf-no-such-if"]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("no interface named \"pxcf-no-such-if\""), "{e}");
    assert!(
        e.contains("interfaces on this host: ") && e.contains("lo"),
        "{e}"
    );
}

#[test]
fn an_interface_is_required_unless_listing() {
    let out = pxelab(&["conform"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--interface"), "{}", stderr(&out));
}

#[test]
fn unknown_profiles_and_checks_are_exit_2_naming_the_valid_ones() {
    // Checked before the interface is opened: no root needed to be told.
    let out = pxelab(&[
        "conform",
        "--interface",
        "pxcf-no-such-if",
        "--profile",
        "bios",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains("unknown profile \"bios\"") && e.contains("pxe21-bios, edk2-uefi"),
        "{e}"
    );
    let out = pxelab(&[
        "conform",
        "--interface",
        "pxcf-no-such-if",
        "--only",
        "dchp.*",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains("matches no check") && e.contains("--list"),
        "{e}"
    );
}

#[test]
fn bad_flags_are_exit_2_with_a_hint() {
    let out = pxelab(&["conform", "--interface", "x", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains("text") && e.contains("json") && e.contains("junit"),
        "{e}"
    );
    let out = pxelab(&["conform", "--interface", "x", "--tftp-only"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--server"), "{}", stderr(&out));
    let out = pxelab(&["conform", "--interface", "x", "--proxy", "--dhcp-only"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_explains_every_flag() {
    let out = pxelab(&["conform", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--interface",
        "--server",
        "--profile",
        "--only",
        "--clients",
        "--pcap",
        "--format",
        "--list",
        "--proxy",
        "--tftp-only",
        "--dhcp-only",
        "--file",
        "--large-file",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
    assert!(
        text.contains("CAP_NET_RAW") && text.contains("Exit status"),
        "{text}"
    );
}

/// The user id this test runs as.
fn uid() -> Option<u32> {
    let out = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[test]
fn without_root_or_cap_net_raw_the_error_says_so() {
    let bin = env!("CARGO_BIN_EXE_pxelab");
    let args = ["conform", "--interface", "lo"];
    let out = match uid() {
        // As root: drop to nobody, with no capabilities, to see what a user sees.
        Some(0) => match Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
                bin,
            ])
            .args(args)
            .output()
        {
            Ok(o) => o,
            Err(_) => {
                eprintln!("skipped: running as root and setpriv is not installed");
                return;
            }
        },
        Some(_) => Command::new(bin).args(args).output().expect("run pxelab"),
        None => {
            eprintln!("skipped: cannot tell the user id");
            return;
        }
    };
    let e = stderr(&out);
    if e.contains("Permission denied") && !e.contains("CAP_NET_RAW") {
        // The binary itself is not executable by nobody (a private target dir).
        eprintln!("skipped: {e}");
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.starts_with("pxelab conform needs root or CAP_NET_RAW to open lo: "),
        "{e}"
    );
}
