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
