//! The DHCP server: full mode (addresses, leases) and ProxyDHCP mode (PXE 2.1).
