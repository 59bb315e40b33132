//! The built-in demo (`pxelab` with no arguments) as a reviewed snapshot: any change
//! in what the reference server answers, or in its log lines, shows up here.

use std::process::Command;

#[test]
fn demo_report_is_stable() {
    insta::assert_snapshot!(pxelab_simulator::demo::run());
}

#[test]
fn no_arguments_runs_the_demo_and_says_how_to_serve() {
    let out = Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .output()
        .expect("run pxelab");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("pxelab demo:"), "{stdout}");
    assert_eq!(
        stdout.matches("booted boot.ipxe").count(),
        6,
        "log + outcome per client:\n{stdout}"
    );
    assert!(stdout.contains("pxelab serve --interface"), "{stdout}");
}
