//! QEMU machines (TCG) boot over PXE and run the `boot.ipxe` script.
//!
//! The script echoes a marker unique to the run; a boot passes when that marker
//! reaches the serial console, and QEMU is killed at once (this iPXE build has no
//! `poweroff`). Success therefore means the whole chain ran: DHCP (or DHCP plus
//! ProxyDHCP and the boot server on 4011), the TFTP download of the boot file, and
//! for UEFI the second round from `ipxe.efi` to `boot.ipxe`.

use std::time::{Duration, Instant};

use super::netns::{Lab, tail};
use super::qemu::{Client, Firmware, IPXE_EFI, QEMU, UNDIONLY, tftp_root};
use super::server::{self, Mode, SERVER};
use super::{heavy, peers_available, report};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dhcp {
    /// The server under test hands out addresses and boot files.
    Full,
    /// dnsmasq hands out addresses only; the server under test is a ProxyDHCP.
    Proxy,
}

fn boot(test: &str, firmware: Firmware, dhcp: Dhcp, limit: Duration) {
    // dnsmasq sends the IPv6 router advertisements, and is the plain DHCP server
    // next to the ProxyDHCP.
    // dumpcap and tshark check that no frame on the segment is malformed.
    let programs = [QEMU, "dnsmasq", "dumpcap", "tshark"];
    if !peers_available(test, &programs, &[UNDIONLY, IPXE_EFI, firmware.file()]) {
        return;
    }
    let _heavy = heavy();
    let mut lab = Lab::new(test);
    let srv = lab.host("srv", Some(1));

    // TFTP root: both iPXE binaries and the script that proves the boot.
    let marker = format!("PXELAB-MARKER-{}-{test}", std::process::id());
    let root = tftp_root(&lab, "tftp", &marker);

    let mode = match dhcp {
        Dhcp::Full => Mode::Full {
            first: lab.addr(100),
            last: lab.addr(120),
        },
        Dhcp::Proxy => {
            let production = lab.host("dhcp", Some(2));
            let (first, last) = (lab.addr(150), lab.addr(170));
            server::start_plain_dhcp(&mut lab, &production, first, last);
            Mode::Proxy
        }
    };
    let capture = lab.capture();
    let which = server::start(&mut lab, &srv, &root, mode);
    lab.start_router_advertisements();

    let started = Instant::now();
    let client = Client::start(&mut lab, firmware, "52:54:00:77:00:10");
    let seen = client.wait_for_any(&mut lab, &[&marker], limit);
    let elapsed = started.elapsed();
    lab.proc("qemu").kill();
    let text = client.console();
    if let Err(why) = seen {
        let production = if dhcp == Dhcp::Proxy {
            format!(
                "\n--- plain DHCP (dnsmasq) ---\n{}",
                lab.proc("dhcp").tail(30)
            )
        } else {
            String::new()
        };
        lab.stop_capture();
        let kept = lab.keep_capture(&capture, test);
        panic!(
            "{test} against {which:?}: {why} (segment capture: {})\n--- console (tail) ---\n{}\n--- qemu ---\n{}\n--- server log ---\n{}{production}",
            kept.display(),
            tail(&text, 40),
            lab.proc("qemu").tail(20),
            lab.proc(SERVER).tail(80)
        );
    }
    if firmware == Firmware::UefiEdk2 {
        // The marker alone would also appear if an iPXE ROM had booted; this proves
        // EDK2's own PXE client did the first stage.
        assert!(
            text.contains("Start PXE over IPv4"),
            "the UEFI boot did not go through EDK2's PXE client:\n{}",
            tail(&text, 40)
        );
    }
    lab.stop_capture();
    // The capture must hold the boot (so an empty capture cannot pass the check),
    // and Wireshark's dissectors must find nothing malformed in it.
    let dhcp_frames = lab.frames(&capture, "dhcp");
    let tftp = lab.frames(&capture, "tftp");
    assert!(
        !dhcp_frames.is_empty() && !tftp.is_empty(),
        "the segment capture holds {} DHCP and {} TFTP frames; expected the boot in it ({})",
        dhcp_frames.len(),
        tftp.len(),
        lab.keep_capture(&capture, test).display()
    );
    let malformed = lab.frames(&capture, "_ws.malformed || _ws.expert.severity == error");
    assert!(
        malformed.is_empty(),
        "tshark found malformed frames on the segment (capture {}):\n{}",
        lab.keep_capture(&capture, test).display(),
        malformed.join("\n")
    );
    // Boot-file policy, as the client saw it: iPXE (user class iPXE) is handed the
    // script and never an iPXE binary again (the chainload loop), and EDK2 (arch 7)
    // is handed ipxe.efi.
    let requested = |lab: &Lab, file: &str| {
        lab.frames(
            &capture,
            &format!("tftp.opcode == 1 && tftp.source_file == \"{file}\""),
        )
        .len()
    };
    assert!(
        requested(&lab, "boot.ipxe") > 0,
        "boot.ipxe was never requested"
    );
    match firmware {
        Firmware::BiosIpxeRom => assert_eq!(
            requested(&lab, "undionly.kpxe"),
            0,
            "the BIOS iPXE ROM was handed undionly.kpxe instead of the script"
        ),
        Firmware::UefiEdk2 => assert!(
            requested(&lab, "ipxe.efi") > 0,
            "EDK2 was not handed ipxe.efi"
        ),
    }
    if dhcp == Dhcp::Proxy {
        // A ProxyDHCP never assigns an address (PXE 2.1): every reply it sends from
        // port 67 has yiaddr 0.0.0.0; the address comes from the plain DHCP server.
        // (A boot server's ACK on 4011 goes to a client that already has one.)
        let server_addr = lab.addr(1);
        let leased_by_proxy = lab.frames(
            &capture,
            &format!("ip.src == {server_addr} && udp.srcport == 67 && dhcp.ip.your != 0.0.0.0"),
        );
        assert!(
            leased_by_proxy.is_empty(),
            "the ProxyDHCP offered addresses:\n{}",
            leased_by_proxy.join("\n")
        );
        if firmware == Firmware::UefiEdk2 {
            // EDK2 gets no boot file in the proxy offer (BINL style) and asks the
            // boot server on UDP 4011, which must answer.
            let boot_server = lab.frames(
                &capture,
                &format!("ip.src == {server_addr} && udp.srcport == 4011 && dhcp"),
            );
            assert!(
                !boot_server.is_empty(),
                "the UEFI client booted without an answer from the boot server on 4011 ({})",
                lab.keep_capture(&capture, test).display()
            );
        }
    }
    report(&format!(
        "real-peer QEMU {firmware:?} {dhcp:?} vs {which:?}: marker after {:.1} s",
        elapsed.as_secs_f64()
    ));
}

#[test]
fn qemu_bios_ipxe_boots_from_full_mode() {
    boot(
        "qemu_bios_ipxe_boots_from_full_mode",
        Firmware::BiosIpxeRom,
        Dhcp::Full,
        Duration::from_secs(90),
    );
}

#[test]
fn qemu_uefi_edk2_pxe_loads_ipxe_efi_then_script() {
    boot(
        "qemu_uefi_edk2_pxe_loads_ipxe_efi_then_script",
        Firmware::UefiEdk2,
        Dhcp::Full,
        Duration::from_secs(150),
    );
}

#[test]
fn qemu_uefi_edk2_pxe_boots_through_proxy_dhcp_and_4011() {
    boot(
        "qemu_uefi_edk2_pxe_boots_through_proxy_dhcp_and_4011",
        Firmware::UefiEdk2,
        Dhcp::Proxy,
        Duration::from_secs(150),
    );
}

#[test]
fn qemu_bios_ipxe_boots_through_proxy_dhcp() {
    boot(
        "qemu_bios_ipxe_boots_through_proxy_dhcp",
        Firmware::BiosIpxeRom,
        Dhcp::Proxy,
        Duration::from_secs(90),
    );
}
