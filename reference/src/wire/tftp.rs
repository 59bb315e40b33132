//! TFTP packets (RFC 1350, with options per RFC 2347/2348/2349/7440).
