//! The driver's view of the segment under test: send an Ethernet frame,
//! receive frames until a deadline.
//!
//! Two back ends: [`RawLink`], raw frames on a real interface through pnet's
//! datalink channel, and [`super::testbed::MemoryLink`], pxelab's own servers
//! behind a fake L2 for tests. A link also owns the run's clock: the wall
//! clock on a real interface, virtual time in memory (so a check that waits
//! out a server's 60-second session timeout costs no real time in a test).

use std::collections::HashSet;
use std::io;
use std::time::Duration;

use pnet_datalink::{Channel, Config, DataLinkReceiver, DataLinkSender};
use pxelab_reference::{Instant, Mac};

/// A segment the suite can put frames on.
pub trait Link {
    /// Time since the start of the run.
    fn now(&self) -> Instant;
    /// Puts one Ethernet frame on the segment.
    fn send(&mut self, frame: &[u8]) -> Result<(), LinkError>;
    /// The next frame from another station that arrives before `deadline`;
    /// `None` once the deadline has passed with nothing more.
    fn recv(&mut self, deadline: Instant) -> Result<Option<Vec<u8>>, LinkError>;
}

/// Why the link cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Raw sockets need privileges.
    #[error(
        "pxelab conform needs root or CAP_NET_RAW to open {interface}: {source} \
         (run it with sudo, or grant the binary the capability: setcap cap_net_raw+ep $(which pxelab))"
    )]
    Permission {
        /// The interface.
        interface: String,
        /// What the kernel said.
        source: io::Error,
    },
    /// No interface of that name.
    #[error("no interface named {name:?}; interfaces on this host: {}", available.join(", "))]
    NoSuchInterface {
        /// What was asked for.
        name: String,
        /// What exists.
        available: Vec<String>,
    },
    /// The interface cannot carry Ethernet frames, or another I/O failure.
    #[error("interface {interface}: {source}")]
    Io {
        /// The interface.
        interface: String,
        /// What failed.
        source: io::Error,
    },
}

/// How often a blocked read gives up to look at the deadline.
const READ_SLICE: Duration = Duration::from_millis(20);

/// Raw Ethernet on a real interface (Linux AF_PACKET through pnet datalink).
///
/// Not promiscuous unless asked: virtual clients receive broadcasts, and
/// unicasts to their own MACs on links that deliver them (a veth, a bridge
/// port, a switch that floods unknown unicast). Frames this link sent come
/// back on a packet socket; they are recognised by source MAC and dropped.
pub struct RawLink {
    name: String,
    tx: Box<dyn DataLinkSender>,
    rx: Box<dyn DataLinkReceiver>,
    own: HashSet<Mac>,
    start: std::time::Instant,
}

impl std::fmt::Debug for RawLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawLink")
            .field("interface", &self.name)
            .finish_non_exhaustive()
    }
}

impl RawLink {
    /// Opens `interface`. `promiscuous` makes the NIC pass unicasts to the
    /// virtual clients' MACs on hardware that filters them.
    pub fn open(interface: &str, promiscuous: bool) -> Result<RawLink, LinkError> {
        let all = pnet_datalink::interfaces();
        let Some(iface) = all.iter().find(|i| i.name == interface) else {
            return Err(LinkError::NoSuchInterface {
                name: interface.to_string(),
                available: all.iter().map(|i| i.name.clone()).collect(),
            });
        };
        let config = Config {
            read_timeout: Some(READ_SLICE),
            write_timeout: Some(Duration::from_secs(1)),
            read_buffer_size: 65536,
            write_buffer_size: 65536,
            promiscuous,
            ..Config::default()
        };
        let io_err = |source: io::Error| {
            if source.kind() == io::ErrorKind::PermissionDenied || source.raw_os_error() == Some(1)
            {
                LinkError::Permission {
                    interface: interface.to_string(),
                    source,
                }
            } else {
                LinkError::Io {
                    interface: interface.to_string(),
                    source,
                }
            }
        };
        match pnet_datalink::channel(iface, config) {
            Ok(Channel::Ethernet(tx, rx)) => Ok(RawLink {
                name: interface.to_string(),
                tx,
                rx,
                own: HashSet::new(),
                start: std::time::Instant::now(),
            }),
            Ok(_) => Err(io_err(io::Error::other("not an Ethernet channel"))),
            Err(e) => Err(io_err(e)),
        }
    }
}

impl Link for RawLink {
    fn now(&self) -> Instant {
        let d = self.start.elapsed();
        Instant::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    fn send(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        if frame.len() >= 12 {
            let mut m = [0; 6];
            m.copy_from_slice(&frame[6..12]);
            self.own.insert(Mac(m));
        }
        match self.tx.send_to(frame, None) {
            Some(Ok(())) | None => Ok(()),
            Some(Err(source)) => Err(LinkError::Io {
                interface: self.name.clone(),
                source,
            }),
        }
    }

    fn recv(&mut self, deadline: Instant) -> Result<Option<Vec<u8>>, LinkError> {
        while self.now() < deadline {
            match self.rx.next() {
                Ok(frame) => {
                    if frame.len() < 14 {
                        continue;
                    }
                    let mut m = [0; 6];
                    m.copy_from_slice(&frame[6..12]);
                    if self.own.contains(&Mac(m)) {
                        continue;
                    }
                    return Ok(Some(frame.to_vec()));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(source) => {
                    return Err(LinkError::Io {
                        interface: self.name.clone(),
                        source,
                    });
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_to_do() {
        let e = LinkError::Permission {
            interface: "eth1".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        let m = e.to_string();
        assert!(
            m.starts_with("pxelab conform needs root or CAP_NET_RAW to open eth1: "),
            "{m}"
        );
        let e = LinkError::NoSuchInterface {
            name: "eth9".into(),
            available: vec!["lo".into(), "eth0".into()],
        };
        assert_eq!(
            e.to_string(),
            "no interface named \"eth9\"; interfaces on this host: lo, eth0"
        );
    }

    #[test]
    fn opening_an_unknown_interface_lists_the_real_ones() {
        match RawLink::open("pxcf-none", false) {
            Err(LinkError::NoSuchInterface { available, .. }) => {
                assert!(available.iter().any(|i| i == "lo"), "{available:?}")
            }
            other => panic!("{other:?}"),
        }
    }
}
