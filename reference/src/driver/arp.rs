//! ARP-cache injection, so a unicast DHCP reply can reach a client with no address.
//!
//! A client without an IP address cannot answer ARP for the address it is being
//! offered, so a plain `sendto(yiaddr)` would stall in the kernel's neighbour
//! resolution and the reply would be lost. RFC 2131 §4.1 says a server that cannot
//! deliver unicast to an unconfigured client should broadcast instead; ISC dhcpd and
//! Kea avoid the question with raw (LPF) sockets. We do what dnsmasq does
//! (`src/dhcp.c`, "ARP-cache injection failed"): write the `yiaddr → chaddr` mapping
//! into the kernel's neighbour table with `SIOCSARP` (`ATF_COM`: complete but not
//! permanent, so it ages out like any learned entry), then send ordinary UDP. This
//! needs `CAP_NET_ADMIN`; without it the caller falls back to broadcast, which every
//! PXE client accepts.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use nix::libc;

use crate::net::Mac;

/// `ATF_COM` from `<linux/if_arp.h>`: the entry is complete (has a hardware
/// address). Not exported by the libc crate.
const ATF_COM: libc::c_int = 0x02;

/// Writes `ip → mac` into the neighbour table of interface `dev`, through the
/// socket `sock` (any AF_INET socket will do).
pub fn inject(sock: &impl AsRawFd, dev: &str, ip: Ipv4Addr, mac: Mac) -> io::Result<()> {
    // SAFETY: arpreq is a plain C struct of integers and byte arrays; all-zero is a
    // valid value for every field.
    let mut req: libc::arpreq = unsafe { std::mem::zeroed() };

    let pa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in (16 bytes) and sockaddr (16 bytes) have the same size on
    // Linux; this is how the kernel ABI expects arp_pa to be filled.
    req.arp_pa = unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(pa) };

    req.arp_ha.sa_family = libc::ARPHRD_ETHER;
    for (dst, src) in req.arp_ha.sa_data.iter_mut().zip(mac.octets()) {
        *dst = src as libc::c_char;
    }
    req.arp_flags = ATF_COM;

    let name = dev.as_bytes();
    if name.len() >= req.arp_dev.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    for (dst, src) in req.arp_dev.iter_mut().zip(name) {
        *dst = *src as libc::c_char;
    }

    // SAFETY: SIOCSARP reads one `struct arpreq`, which `req` is, fully initialised.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSARP as _, &req) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
