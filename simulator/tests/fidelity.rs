//! Fidelity to real firmware: each simulated profile sends what the real client
//! sent in the captures of `tests/fixtures/firmware/` (see its README.md for
//! how they are re-captured).
//!
//! Two stories per client, the same as `capture.sh` runs them for real:
//! - **silent**: no server answers; the DISCOVERs (options, order, values) and
//!   their retransmission schedule.
//! - **boot**: a DHCP server without PXE (dnsmasq for real, [`Host::plain_dhcp`]
//!   here) next to pxelab's ProxyDHCP + 4011 + TFTP (`pxelab serve --proxy`
//!   for real, the reference machines here); the REQUEST, the 4011 request and
//!   the TFTP RRQs of the firmware's own stage (what the chainloaded program
//!   sends afterwards is not the firmware's).
//!
//! Masked values, per machine or per lab rather than per firmware: option 97
//! (the SMBIOS UUID) and 61 (client identifier, made of the MAC); 50 and 54 and
//! `ciaddr` (the addresses the lab's servers chose); the xid, `secs` and
//! `chaddr` are not compared at all. Codes and order are compared for every
//! option, masked or not.

mod firmware_common;

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use firmware_common::{Direct, Host, Lab, firmware};
use pxelab_reference::Instant;
use pxelab_reference::pxe::BootPolicy;
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::DhcpMessage;
use pxelab_simulator::firmware::Profile;
use serde::Deserialize;

/// Values that belong to the machine or the lab, not to the firmware.
const MASKED: &[u8] = &[50, 54, 61, 97];

/// One client-sent packet as the fixture writes it (and as the simulated one
/// is converted to).
#[derive(Debug, Clone, Deserialize, PartialEq)]
struct Packet {
    /// Seconds since the client's first packet.
    t: f64,
    /// Destination UDP port (67, 4011, 69, or a TFTP server's session port).
    port: u16,
    /// DISCOVER / REQUEST / RRQ / ERROR.
    msg: String,
    #[serde(default)]
    flags: Option<u16>,
    #[serde(default)]
    ciaddr: Option<String>,
    /// DHCP options in wire order: (code, hex value).
    #[serde(default)]
    options: Vec<(u8, String)>,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    tftp_options: Vec<(String, String)>,
    #[serde(default)]
    error_code: Option<u16>,
}

#[derive(Debug, Deserialize)]
struct Scenarios {
    #[serde(default)]
    silent: Vec<Packet>,
    #[serde(default)]
    boot: Vec<Packet>,
}

#[derive(Debug, Deserialize)]
struct Fixture {
    client: String,
    scenarios: Scenarios,
}

fn fixture(client: &str) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/firmware")
        .join(format!("{client}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the fixture {}: {e}", path.display()));
    let f: Fixture = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a firmware fixture: {e}", path.display()));
    assert_eq!(f.client, client, "{} names another client", path.display());
    f
}

// ------------------------------------------------------------ simulated side

fn dhcp_packet(t: f64, port: u16, payload: &[u8]) -> Option<Packet> {
    let m = DhcpMessage::parse(payload, ParseMode::Lax).ok()?;
    let msg = match m.message_type()? {
        pxelab_reference::wire::dhcp::MessageType::Discover => "DISCOVER",
        pxelab_reference::wire::dhcp::MessageType::Request => "REQUEST",
        other => return Some(Packet::other(t, port, format!("{other:?}"))),
    };
    Some(Packet {
        flags: Some(m.flags),
        ciaddr: Some(m.ciaddr.to_string()),
        options: m.options.iter().map(|o| (o.code, hex(&o.data))).collect(),
        ..Packet::other(t, port, msg.into())
    })
}

/// A TFTP request as the capture's extractor reads it: RRQ with its options,
/// or the client's ERROR; anything else (ACKs) is `None`.
fn tftp_packet(t: f64, port: u16, b: &[u8]) -> Option<Packet> {
    let op = u16::from_be_bytes([*b.first()?, *b.get(1)?]);
    match op {
        1 if port == 69 => {
            let parts: Vec<String> = b[2..]
                .split(|c| *c == 0)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            let fields = &parts[..parts.len().saturating_sub(1)];
            let tftp_options = fields
                .get(2..)
                .unwrap_or_default()
                .chunks_exact(2)
                .map(|c| (c[0].clone(), c[1].clone()))
                .collect();
            Some(Packet {
                filename: fields.first().cloned(),
                tftp_options,
                ..Packet::other(t, port, "RRQ".into())
            })
        }
        5 => Some(Packet {
            error_code: Some(u16::from_be_bytes([*b.get(2)?, *b.get(3)?])),
            ..Packet::other(t, port, "ERROR".into())
        }),
        _ => None,
    }
}

impl Packet {
    fn other(t: f64, port: u16, msg: String) -> Packet {
        Packet {
            t,
            port,
            msg,
            flags: None,
            ciaddr: None,
            options: Vec::new(),
            filename: None,
            tftp_options: Vec::new(),
            error_code: None,
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn simulated(sent: &[(Instant, pxelab_reference::Transmit)]) -> Vec<Packet> {
    let t0 = sent.first().map(|(t, _)| *t).unwrap_or(Instant::ZERO);
    sent.iter()
        .filter_map(|(t, x)| {
            let secs = (*t - t0).as_secs_f64();
            let port = x.dst.port();
            match port {
                67 | 4011 => dhcp_packet(secs, port, &x.payload),
                _ => tftp_packet(secs, port, &x.payload),
            }
        })
        .collect()
}

/// The silent story: nobody answers.
fn simulate_silent(profile: Profile) -> Vec<Packet> {
    let mut d = Direct::new(profile);
    d.advance(Instant::from_secs(300));
    simulated(&d.sent)
}

/// The boot story: a DHCP server without PXE plus the reference ProxyDHCP.
fn simulate_boot(profile: Profile) -> Vec<Packet> {
    let hosts = vec![
        Host::reference(Ipv4Addr::new(10, 0, 0, 1), true, BootPolicy::default()),
        Host::plain_dhcp(Ipv4Addr::new(10, 0, 0, 2), Duration::from_millis(5)),
    ];
    let mut lab = Lab::new(firmware(profile), hosts);
    lab.run(Instant::ZERO, Instant::from_secs(200));
    simulated(&lab.sent)
}

// ------------------------------------------------------------ comparison

/// The firmware's own stage of a real boot: everything up to the first DHCP
/// packet after a TFTP one (the loaded program starting over).
fn firmware_stage(packets: &[Packet]) -> &[Packet] {
    let mut seen_tftp = false;
    for (i, p) in packets.iter().enumerate() {
        let is_dhcp = p.port == 67 || p.port == 4011;
        if seen_tftp && is_dhcp {
            return &packets[..i];
        }
        seen_tftp |= !is_dhcp;
    }
    packets
}

/// The leading packets that carry the first packet's vendor class (60).
fn own_packets(packets: &[Packet]) -> &[Packet] {
    let class = |p: &Packet| {
        p.options
            .iter()
            .find(|(c, _)| *c == 60)
            .map(|(_, v)| v.clone())
    };
    let first = packets.first().and_then(class);
    let n = packets.iter().take_while(|p| class(p) == first).count();
    &packets[..n]
}

/// Printable ASCII when the whole value is, else hex.
fn show(hexv: &str) -> String {
    let bytes: Vec<u8> = (0..hexv.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hexv[2 * i..2 * i + 2], 16).ok())
        .collect();
    if !bytes.is_empty() && bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        format!("{:?}", String::from_utf8_lossy(&bytes))
    } else {
        hexv.to_owned()
    }
}

fn codes(p: &Packet) -> Vec<u8> {
    p.options.iter().map(|(c, _)| *c).collect()
}

/// Differences between a real and a simulated DHCP packet, one line each.
fn diff_dhcp(what: &str, real: &Packet, sim: &Packet, masked: &[u8], out: &mut Vec<String>) {
    if real.msg != sim.msg {
        out.push(format!("{what}: real {} / sim {}", real.msg, sim.msg));
        return;
    }
    if codes(real) != codes(sim) {
        out.push(format!(
            "{what}: option codes in order\n    real {:?}\n    sim  {:?}",
            codes(real),
            codes(sim)
        ));
    }
    for (code, value) in &real.options {
        if MASKED.contains(code) || masked.contains(code) {
            continue;
        }
        match sim.options.iter().find(|(c, _)| c == code) {
            Some((_, v)) if v == value => {}
            Some((_, v)) => out.push(format!(
                "{what}: option {code}\n    real {}\n    sim  {}",
                show(value),
                show(v)
            )),
            None => {} // reported with the codes
        }
    }
    let bcast = |p: &Packet| p.flags.map(|f| f & 0x8000 != 0);
    if bcast(real) != bcast(sim) {
        out.push(format!(
            "{what}: broadcast flag real {:?} / sim {:?}",
            bcast(real),
            bcast(sim)
        ));
    }
    let has_ciaddr = |p: &Packet| p.ciaddr.as_deref().map(|a| a != "0.0.0.0");
    if has_ciaddr(real) != has_ciaddr(sim) {
        out.push(format!(
            "{what}: ciaddr set real {:?} / sim {:?}",
            has_ciaddr(real),
            has_ciaddr(sim)
        ));
    }
}

fn diff_tftp(what: &str, real: &Packet, sim: &Packet, out: &mut Vec<String>) {
    if real.msg != sim.msg {
        out.push(format!("{what}: real {} / sim {}", real.msg, sim.msg));
    } else if real.msg == "RRQ"
        && (real.filename != sim.filename || real.tftp_options != sim.tftp_options)
    {
        out.push(format!(
            "{what}: RRQ\n    real {:?} {:?}\n    sim  {:?} {:?}",
            real.filename, real.tftp_options, sim.filename, sim.tftp_options
        ));
    } else if real.error_code != sim.error_code {
        out.push(format!(
            "{what}: ERROR code real {:?} / sim {:?}",
            real.error_code, sim.error_code
        ));
    }
}

/// Whether two lists of times match: a real time within 10 % or 0.5 s of the
/// simulated one. Real firmware runs under TCG on a shared machine and iPXE's
/// BIOS timer ticks at 18.2 Hz; neither iPXE's `retry.c` nor EDK2's Dhcp4
/// driver randomises its timeouts the way RFC 2131 §4.1 suggests.
fn close(real: &[f64], sim: &[f64]) -> bool {
    real.len() == sim.len()
        && real
            .iter()
            .zip(sim)
            .all(|(a, b)| (a - b).abs() <= (0.1 * a).max(0.5))
}

/// The retransmission schedule: the times of the DISCOVERs.
fn diff_schedule(real: &[Packet], sim: &[Packet], out: &mut Vec<String>) {
    let times = |ps: &[Packet]| -> Vec<f64> {
        ps.iter()
            .filter(|p| p.msg == "DISCOVER")
            .map(|p| p.t)
            .collect()
    };
    let (r, s) = (times(real), times(sim));
    if !close(&r, &s) {
        out.push(format!(
            "silent: DISCOVER times (s)\n    real {r:?}\n    sim  {s:?}"
        ));
    }
}

/// A boot story's packets compared one by one: the same kinds in the same
/// order, DHCP times, each packet's options (`masked` as well as [`MASKED`]).
fn diff_boot(real: &[Packet], sim: &[Packet], masked: &[u8], out: &mut Vec<String>) {
    let kinds = |ps: &[Packet]| -> Vec<String> {
        ps.iter()
            .map(|p| format!("{}:{}", p.msg, if p.port == 4011 { 4011 } else { 0 }))
            .collect()
    };
    if kinds(real) != kinds(sim) {
        out.push(format!(
            "boot: packet sequence (MSG:4011 for the boot server)\n    real {:?}\n    sim  {:?}",
            kinds(real),
            kinds(sim)
        ));
    }
    let dhcp_times = |ps: &[Packet]| -> Vec<f64> {
        ps.iter()
            .filter(|p| p.port == 67 || p.port == 4011)
            .map(|p| p.t)
            .collect()
    };
    if !close(&dhcp_times(real), &dhcp_times(sim)) {
        out.push(format!(
            "boot: DHCP packet times (s)\n    real {:?}\n    sim  {:?}",
            dhcp_times(real),
            dhcp_times(sim)
        ));
    }
    for (i, (r, s)) in real.iter().zip(sim).enumerate() {
        let what = format!(
            "boot #{} {}{}",
            i + 1,
            r.msg,
            if r.port == 4011 { " to 4011" } else { "" }
        );
        if r.port == 67 || r.port == 4011 {
            diff_dhcp(&what, r, s, masked, out);
        } else {
            diff_tftp(&what, r, s, out);
        }
    }
}

/// Compares one profile with one client's fixture; the readable diff if any.
fn compare(client: &str, profile: Profile) -> Vec<String> {
    let f = fixture(client);
    let mut out = Vec::new();

    // Silent: every DISCOVER's options, and when they went out. Only the
    // client's own: when iPXE's EFI ROM gives up, OVMF's PxeBcDxe tries next
    // on the same NIC (another vendor class).
    let real = own_packets(&f.scenarios.silent);
    let sim = simulate_silent(profile.clone());
    assert!(!real.is_empty(), "{client}: the fixture has no silent run");
    diff_schedule(real, &sim, &mut out);
    for (i, (r, s)) in real.iter().zip(&sim).enumerate() {
        diff_dhcp(&format!("silent #{} {}", i + 1, r.msg), r, s, &[], &mut out);
    }

    // Boot: the firmware's own stage.
    let sim = simulate_boot(profile);
    diff_boot(firmware_stage(&f.scenarios.boot), &sim, &[], &mut out);
    out
}

fn check(client: &str, profile: Profile) {
    let diffs = compare(client, profile);
    if !diffs.is_empty() {
        let mut msg = format!(
            "the simulated profile differs from the real {client} (tests/fixtures/firmware/{client}.json):\n"
        );
        for d in &diffs {
            let _ = writeln!(msg, "  - {d}");
        }
        panic!("{msg}");
    }
}

#[test]
fn ipxe_profile_sends_what_the_ipxe_bios_rom_sends() {
    check("ipxe-bios", Profile::ipxe());
}

#[test]
fn edk2_profile_sends_what_ovmf_pxebcdxe_sends() {
    check("edk2-uefi", Profile::edk2_uefi());
}

/// No built-in profile is iPXE's EFI *ROM*: it is the chainloaded iPXE's
/// data (arch 7, UNDI 3.10, the EFI build's 175) with the ROMs' wait for the
/// DISCOVER timer.
#[test]
fn ipxe_efi_rom_sends_what_the_chained_ipxe_profile_says() {
    let rom = Profile {
        ipxe_proxy_on_timer: true,
        ..Profile::edk2_uefi().ipxe_chained()
    };
    check("ipxe-efi", rom);
}

/// The packets from `from` on, their times counted from the first of them.
fn rebase(packets: &[Packet]) -> Vec<Packet> {
    let t0 = packets.first().map_or(0.0, |p| p.t);
    packets
        .iter()
        .map(|p| Packet {
            t: ((p.t - t0) * 1000.0).round() / 1000.0,
            ..p.clone()
        })
        .collect()
}

/// The edk2-uefi boot goes on after the firmware's stage: `ipxe.efi`, loaded
/// by PxeBcDxe, starts over with DHCP. That is `ipxe@edk2-uefi`. Option 175 is
/// masked here: it names the NIC (bus id 177: this run's virtio-net, where the
/// profile carries the e1000 of the ipxe-efi capture) and the EFI binary's
/// features differ from the EFI ROM's.
#[test]
fn chained_ipxe_sends_what_ipxe_efi_sends_after_edk2_loaded_it() {
    let f = fixture("edk2-uefi");
    let firmware = firmware_stage(&f.scenarios.boot).len();
    let after = rebase(&f.scenarios.boot[firmware..]);
    let real = firmware_stage(&after);
    assert!(
        !real.is_empty(),
        "the edk2-uefi boot never reached ipxe.efi"
    );
    let sim = simulate_boot(Profile::edk2_uefi().ipxe_chained());
    let mut out = Vec::new();
    diff_boot(real, &sim, &[175], &mut out);
    assert!(
        out.is_empty(),
        "the chainloaded iPXE differs from the real one (edk2-uefi.json, after ipxe.efi):\n  - {}",
        out.join("\n  - ")
    );
}
