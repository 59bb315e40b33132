//! The one event loop that runs every sans-IO machine on a socket.
//!
//! DHCP, the boot server and each TFTP session are driven by the same code: feed
//! the machine a datagram or a timeout, then — the single-mutation rule of str0m's
//! `Rtc` and quinn-proto's `Connection` — drain every transmit and every event it
//! queued before reading its next wake-up time. Draining before sleeping is what
//! keeps a reply from waiting for the next datagram, and reading `poll_timeout`
//! only after draining is what keeps the timer in step with the state. Datagrams
//! that are already waiting when one arrives are handled together (up to
//! [`Machine::BURST`]) before the drain, so a machine can batch its work per burst.

use std::io;

use tokio::sync::watch;

use super::clock::Clock;
use super::socket::Endpoint;
use crate::net::{Datagram, Mac, Transmit};
use crate::time::Instant;

/// A sans-IO protocol machine, as the driver sees it.
///
/// Each machine type satisfies this with a thin impl that forwards to its own
/// inherent methods (see the module's impls).
pub trait Machine {
    /// What the machine reports for logs.
    type Event;
    /// How many datagrams already waiting are handled before the machine is
    /// drained. Above 1 for a machine that batches work per burst: the DHCP
    /// server commits the leases of a burst of REQUESTs in one transaction (one
    /// fsync) instead of one each. 1 for a lockstep machine (a TFTP session),
    /// where looking for a second datagram would cost a system call per block
    /// and never find one. The bound keeps one flooding sender from delaying
    /// replies for long.
    const BURST: usize = 1;
    /// A datagram arrived.
    fn handle_datagram(&mut self, now: Instant, dgram: Datagram<'_>);
    /// Time passed to (at least) the last [`Machine::poll_timeout`].
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram to send.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// When the machine next needs [`Machine::handle_timeout`].
    fn poll_timeout(&self) -> Option<Instant>;
    /// The next event to report.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// Whether the machine has nothing more to do (a finished TFTP transfer); the
    /// loop ends once this is true and everything is drained.
    fn is_finished(&self) -> bool {
        false
    }
}

/// A stop signal shared by every task of one server.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// The sending half of a [`Shutdown`].
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

impl Shutdown {
    /// A new signal, not yet triggered.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown(rx))
    }

    /// Resolves once the signal is triggered (or its trigger is dropped).
    pub async fn wait(&mut self) {
        // An error means the trigger is gone: nobody can stop us any more, so stop.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Whether the signal has been triggered.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }
}

impl ShutdownTrigger {
    /// Tells every task holding a [`Shutdown`] to stop.
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

/// Largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;

/// Runs `machine` on `endpoint` until `shutdown` fires or the machine finishes.
///
/// Every event goes to `on_event`. Socket errors on send are logged and the loop
/// goes on (a vanished client must not stop the server); a receive error ends it.
pub async fn drive<M: Machine>(
    machine: &mut M,
    endpoint: &Endpoint,
    clock: Clock,
    mut shutdown: Shutdown,
    mut on_event: impl FnMut(M::Event),
) -> io::Result<()> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    // One timer for the whole loop, moved only when the machine needs waking
    // earlier than it is set for. A lockstep TFTP transfer pushes its deadline
    // later with every block; re-arming for each would cost a timer-wheel update
    // per block, so instead the timer fires at the old deadline, the machine
    // (which ignores a timeout before its deadline) does nothing, and the timer is
    // set again: once per retransmission timeout instead of once per block.
    let timer = tokio::time::sleep_until(clock.deadline(Instant::ZERO));
    tokio::pin!(timer);
    let mut armed: Option<Instant> = None;
    loop {
        drain(machine, endpoint, &mut on_event).await;
        if machine.is_finished() || shutdown.is_triggered() {
            return Ok(());
        }
        if let Some(wake) = machine.poll_timeout()
            && armed.is_none_or(|at| wake < at)
        {
            timer.as_mut().reset(clock.deadline(wake));
            armed = Some(wake);
        }
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            got = endpoint.recv(&mut buf) => {
                let mut got = Some(got?);
                let mut handled = 0;
                while let Some(r) = got {
                    let dgram = Datagram {
                        src: r.src,
                        dst: r.dst,
                        src_mac: Mac::ZERO,
                        payload: &buf[..r.len],
                    };
                    machine.handle_datagram(clock.now(), dgram);
                    handled += 1;
                    got = if handled < M::BURST {
                        endpoint.try_recv(&mut buf)?
                    } else {
                        None
                    };
                }
            }
            _ = &mut timer, if armed.is_some() => {
                armed = None;
                machine.handle_timeout(clock.now());
            }
        }
    }
}

/// Sends every queued transmit and reports every queued event.
///
/// The transmits queued together (a TFTP window) leave in one `sendmmsg` when
/// the socket takes them all at once; whatever it does not take is sent one by
/// one, waiting for room.
pub async fn drain<M: Machine>(
    machine: &mut M,
    endpoint: &Endpoint,
    on_event: &mut impl FnMut(M::Event),
) {
    let mut batch = Vec::new();
    while let Some(t) = machine.poll_transmit() {
        batch.push(t);
    }
    let sent = match batch.len() {
        0 | 1 => 0,
        _ => endpoint.try_send_batch(&batch),
    };
    for t in &batch[sent..] {
        send_logged(endpoint, t).await;
    }
    while let Some(e) = machine.poll_event() {
        on_event(e);
    }
}

/// Sends `t`, logging (not returning) a failure: one unreachable client must not
/// stop a server that serves many.
pub async fn send_logged(endpoint: &Endpoint, t: &Transmit) {
    if let Err(e) = endpoint.send(t).await {
        tracing::warn!(dst = %t.dst, error = %e, "send failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::iface::Interface;
    use crate::driver::socket::Delivery;
    use crate::net::L2Dest;
    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::time::Duration;

    /// Echoes each datagram back, then finishes after `left` echoes.
    struct Echo {
        queued: Vec<Transmit>,
        events: Vec<String>,
        left: usize,
    }

    impl Echo {
        fn new(left: usize) -> Self {
            Echo {
                queued: vec![],
                events: vec![],
                left,
            }
        }
    }

    impl Machine for Echo {
        type Event = String;
        fn handle_datagram(&mut self, _now: Instant, d: Datagram<'_>) {
            self.queued.push(Transmit {
                src: d.dst,
                dst: d.src,
                l2: L2Dest::Unicast(Mac::ZERO),
                payload: d.payload.to_vec(),
            });
            self.events.push(format!("echo {}", d.payload.len()));
            self.left -= 1;
        }
        fn handle_timeout(&mut self, _now: Instant) {}
        fn poll_transmit(&mut self) -> Option<Transmit> {
            self.queued.pop()
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
        fn poll_event(&mut self) -> Option<String> {
            self.events.pop()
        }
        fn is_finished(&self) -> bool {
            self.left == 0
        }
    }

    /// A plain endpoint on 127.0.0.1 at a port of the kernel's choosing.
    fn lo_endpoint() -> Endpoint {
        let lo = Interface::lookup("lo").unwrap();
        Endpoint::bind(
            &lo,
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            Delivery::Plain,
        )
        .unwrap()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn drive_answers_then_stops_when_finished() {
        let ep = lo_endpoint();
        let port = ep.local_addr().port();
        let (_trigger, shutdown) = Shutdown::new();
        let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut m = Echo::new(2);
        let mut seen = Vec::new();
        let run = drive(&mut m, &ep, Clock::start(), shutdown, |e| seen.push(e));
        let talk = async {
            let mut buf = [0u8; 16];
            for msg in [&b"one"[..], b"three"] {
                client.send_to(msg, ("127.0.0.1", port)).await.unwrap();
                let n = client.recv(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], msg);
            }
        };
        let (r, ()) = tokio::join!(run, talk);
        r.unwrap();
        assert_eq!(seen, ["echo 3", "echo 5"]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn drive_stops_on_shutdown() {
        let ep = lo_endpoint();
        let (trigger, shutdown) = Shutdown::new();
        let mut m = Echo::new(1);
        let run = drive(&mut m, &ep, Clock::start(), shutdown, |_| {});
        let stop = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            trigger.trigger();
        };
        let (r, ()) = tokio::join!(run, stop);
        r.unwrap();
        assert_eq!(m.left, 1);
    }
}
