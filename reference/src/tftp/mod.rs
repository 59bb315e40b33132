//! TFTP server and client sessions.
