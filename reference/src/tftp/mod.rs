//! TFTP server and client sessions (RFC 1350, options per RFC 2347/2348/2349/7440).
//!
//! Split as quinn-proto splits `Endpoint` and `Connection`: [`TftpServer`] sees
//! what reaches port 69 and turns a read request into a [`TftpSession`], which
//! the driver runs on a UDP port of its own (the server's TID, RFC 1350 §4). The
//! driver routes datagrams by that port; the session checks the sender is its
//! client. [`TftpClient`] is the other end, used by the simulator's firmware and
//! the tests. Files come through [`FileRoot`]: a real directory in the driver
//! ([`crate::driver::fs::DirRoot`]), a [`MemoryRoot`] elsewhere.
//!
//! Read-only by design: write requests get ERROR 2 (see [`TftpServer::accept`]).
//!
//! What a driver does:
//!
//! ```text
//! datagram on port 69  -> server.accept(now, dgram, &root)
//!     Session(s)       -> bind a new UDP socket on the same address, port 0 (any);
//!                         run `s` on it with the usual handle_/poll_ calls; its
//!                         transmits have src port 0 = "this socket"
//!     Reply(t)         -> send `t` from a fresh ephemeral socket (src port 0), forget it
//!     Ignore           -> nothing
//! datagram on a session's socket -> session.handle_datagram (any sender: the
//!                         session answers strangers with ERROR 5 itself)
//! session.is_finished() -> drain poll_event (one `Finished` summary), close the socket
//! ```
//!
//! Each session releases its slot in the server's session count as soon as it
//! finishes, so a client that probes the size and asks again at once is served.

mod client;
mod options;
mod path;
mod root;
mod server;
mod session;

pub use client::{ClientEvent, ClientFailure, ClientOptions, TftpClient};
pub use options::{Negotiated, Rollover};
pub use path::{PathError, TftpPath};
pub use root::{BlockSource, FileRoot, MemoryRoot, OpenError};
pub use server::{Accept, TftpServer, TftpServerConfig};
pub use session::{TftpEvent, TftpOutcome, TftpSession, TransferSummary};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_can_move_to_another_thread_or_task() {
        fn send<T: Send>() {}
        send::<TftpSession>();
        send::<TftpClient>();
        send::<TftpServer>();
    }

    #[test]
    fn blksize_follows_the_mtu() {
        assert_eq!(TftpServerConfig::max_blksize_for_mtu(1500), 1468);
        assert_eq!(TftpServerConfig::max_blksize_for_mtu(9000), 8968);
        assert_eq!(TftpServerConfig::max_blksize_for_mtu(0), 8);
        assert_eq!(TftpServerConfig::max_blksize_for_mtu(u32::MAX), 65464);
    }
}
