//! Addresses are finite: a pool smaller than the fleet boots as many clients
//! as it has addresses, and iPXE asking again after the ROM keeps the
//! client's address instead of taking a second one.

mod world_common;

use world_common::*;

/// Six clients (3 BIOS, 3 UEFI) against `server`, whose pool has 4 addresses.
fn small_pool(server: &str) -> String {
    format!(
        r#"
name = "pool"
summary = "pool"
duration_s = 120

[[segment]]
name = "lan"
subnet = "10.5.0.0/24"
{server}
[[fleet]]
name = "bios"
segment = "lan"
count = 3
profile = "pxe21-bios"

[[fleet]]
name = "uefi"
segment = "lan"
count = 3
profile = "edk2-uefi"
power_on_s = 0.5
"#
    )
}

const REFERENCE: &str = r#"
[[server]]
name = "dhcp"
segment = "lan"
address = "10.5.0.2"
kind = "reference"
pool = "10.5.0.100-10.5.0.103"
"#;

const FOREIGN: &str = r#"
[[server]]
name = "dhcp"
segment = "lan"
address = "10.5.0.2"
kind = "dhcp-pxe"
pool = "10.5.0.100-10.5.0.103"
bios_file = "undionly.kpxe"
efi_file = "ipxe.efi"
ipxe_file = "boot.ipxe"
"#;

#[track_caller]
fn four_boot_two_see_e51(server: &str) {
    let r = run_toml(&small_pool(server));
    let booted: u32 = r.fleets.iter().map(|f| f.booted).sum();
    let e51: u32 = r
        .fleets
        .iter()
        .map(|f| f.errors.get("PXE-E51").copied().unwrap_or(0))
        .sum();
    assert_eq!(
        (booted, e51),
        (4, 2),
        "4 addresses, 6 clients\n{}",
        text(&r)
    );
    // Every booted client went ROM → iPXE → script, with one address for both.
    for c in r.clients.iter().filter(|c| c.outcome.starts_with("booted")) {
        let addresses: Vec<&str> = c
            .path
            .iter()
            .filter_map(|step| step.strip_prefix("DHCP "))
            .map(|rest| rest.split(' ').next().unwrap_or(""))
            .collect();
        assert_eq!(addresses.len(), 2, "{}: {:?}", c.name, c.path);
        assert_eq!(
            addresses[0],
            addresses[1],
            "{}: iPXE got another address than the ROM\n{}",
            c.name,
            text(&r)
        );
    }
}

#[test]
fn a_reference_pool_of_four_boots_four_clients() {
    four_boot_two_see_e51(REFERENCE);
}

#[test]
fn a_foreign_pool_of_four_boots_four_clients() {
    four_boot_two_see_e51(FOREIGN);
}
