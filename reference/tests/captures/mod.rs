//! DHCP messages captured from real clients and servers, shared by the wire,
//! server and real-client tests.
//!
//! All were captured on this project's machine and are stored as the 44 header
//! bytes before `sname` (`sname` and `file` were all zero in every capture), the
//! bytes from the magic cookie through END, and the total length (the rest is zero
//! padding). [`capture`] rebuilds the datagram.
//!
//! - Linux DHCP clients: DISCOVERs taken by a UDP listener on port 67 behind a
//!   veth pair in network namespaces: busybox 1.35.0 `udhcpc -i IF -n -q` and ISC
//!   dhclient 4.4 `dhclient -1 -d`.
//! - iPXE's DISCOVER from QEMU 7.2's e1000 PXE ROM (ipxe-qemu, `-boot n`, frames
//!   taken from a `-netdev socket,udp=` backend), and dnsmasq 2.90's ProxyDHCP
//!   OFFER answering it (`--dhcp-range=NET,proxy
//!   --pxe-service=x86PC,"Network boot",pxelinux --pxe-prompt=PXE,0`).
//! - EDK2's own UEFI PXE client: OVMF (Debian 2022.11, OVMF_CODE_4M.fd, q35) on
//!   virtio-net with no option ROM (`romfile=`).
#![allow(dead_code, unreachable_pub)]

use pxelab_reference::Mac;

/// The MAC of QEMU's first NIC (`52:54:00:12:34:56`), the client in the iPXE and
/// dnsmasq captures.
pub const QEMU_MAC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

/// A captured datagram from its header bytes before `sname` (hex), its bytes from
/// the cookie through END (hex), and its total length.
pub fn capture(head: &str, opts: &str, total: usize) -> Vec<u8> {
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let mut b = hex(head);
    b.resize(236, 0);
    b.extend(hex(opts));
    b.resize(total, 0);
    b
}

/// busybox `udhcpc`'s DISCOVER (300 bytes, MAC 52:54:00:aa:bb:01).
pub fn udhcpc_discover() -> Vec<u8> {
    capture(
        "01010600859008380000000000000000000000000000000000000000525400aabb0100000000000000000000",
        "638253633501013902024037070103060c0f1c2a3c0c756468637020312e33352e303d0701525400aabb01ff",
        300,
    )
}

/// ISC `dhclient`'s DISCOVER (300 bytes, MAC 52:54:00:aa:bb:01).
pub fn dhclient_discover() -> Vec<u8> {
    capture(
        "0101060067905e470000000000000000000000000000000000000000525400aabb0100000000000000000000",
        "638253633501010c02766d370d011c02030f06770c2c2f1a792aff",
        300,
    )
}

/// iPXE's DISCOVER from QEMU's e1000 PXE ROM (400 bytes, xid 0x6674e97f).
pub fn ipxe_discover() -> Vec<u8> {
    capture(
        "010106006674e97f000400000000000000000000000000000000000052540012345600000000000000000000",
        concat!(
            "63825363350101390205c05d0200005e030102013c20505845436c69656e743a417263683a3030303030",
            "3a554e44493a3030323030314d04695058453717010306070c0f111a2b3c4243778081828384858687af",
            "cbaf30b105018086100eeb030100001701012201011301011101012701011901012901011001022101",
            "011501011801011201013d070152540012345661110000000000000000000000000000000000ff",
        ),
        400,
    )
}

/// EDK2 (OVMF) UEFI PXE DISCOVER (347 bytes).
pub fn edk2_discover() -> Vec<u8> {
    capture(
        "01010600bb28dc5d000080000000000000000000000000000000000052540012345700000000000000000000",
        concat!(
            "63825363350101390205c037230102030405060c0d0f111216171c28292a2b3233363a3b3c42436180",
            "81828384858687611100000000000000000000000000000000005e030103005d0200073c2050584543",
            "6c69656e743a417263683a30303030373a554e44493a303033303030ff",
        ),
        347,
    )
}

/// dnsmasq's ProxyDHCP OFFER answering [`ipxe_discover`] (318 bytes).
pub fn dnsmasq_proxy_offer() -> Vec<u8> {
    capture(
        "020106006674e97f000480000000000000000000000000000000000052540012345600000000000000000000",
        concat!(
            "6382536335010236040a6300013c09505845436c69656e7461110000000000000000000000000000",
            "0000002b2406010308078000010a630001090f80000c4e6574776f726b20626f6f740a0400505845ff",
            "ff",
        ),
        318,
    )
}
