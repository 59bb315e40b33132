//! Crash safety: a lease is acknowledged only after it is durable, and a restarted
//! server never hands an acknowledged, unexpired address to another client.

mod dhcp_support;

use std::net::Ipv4Addr;

use dhcp_support::*;
use pxelab_reference::Instant;
use pxelab_reference::dhcp::{
    DhcpEventKind, DhcpServer, DhcpSettings, Lease, LeaseChange, LeaseStore, MemoryStore,
    RedbStore, StoreError,
};
use pxelab_reference::wire::dhcp::{MessageType, code};

fn restarted(path: &std::path::Path, unix_time_at_start: u64) -> DhcpServer {
    let mut cfg = full_config(DhcpSettings::default());
    cfg.unix_time_at_start = unix_time_at_start;
    DhcpServer::new(cfg, Box::new(RedbStore::open(path).unwrap()), Instant::ZERO).unwrap()
}

#[test]
fn acknowledged_leases_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.redb");
    let ip = {
        let mut s = DhcpServer::new(
            full_config(DhcpSettings::default()),
            Box::new(RedbStore::open(&path).unwrap()),
            Instant::ZERO,
        )
        .unwrap();
        dora(&mut s, Instant::from_secs(10), mac(1), 1)
        // Dropped without any shutdown step, as a kill -9 would.
    };
    // Restart 20 minutes later (the new run's Instant starts from zero again).
    let mut s = restarted(&path, UNIX_START + 1200);
    assert_eq!(s.lease_of(mac(1), Instant::ZERO), Some(ip));
    let mut d = discover(mac(2), 2);
    d.push_option(code::REQUESTED_IP, ip.octets());
    let (_, offer) = exchange(&mut s, Instant::ZERO, &d);
    assert_ne!(
        offer.yiaddr, ip,
        "another client never gets an acknowledged address"
    );
    let (_, nak) = exchange(&mut s, Instant::ZERO, &select(mac(2), 2, SERVER, ip));
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    // The owner's INIT-REBOOT is acknowledged.
    let mut r = client_msg(MessageType::Request, mac(1), 3);
    r.push_option(code::REQUESTED_IP, ip.octets());
    let (_, ack) = exchange(&mut s, Instant::ZERO, &r);
    assert_eq!(
        (ack.message_type(), ack.yiaddr),
        (Some(MessageType::Ack), ip)
    );
}

#[test]
fn expired_leases_are_free_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.redb");
    let ip = {
        let mut s = restarted(&path, UNIX_START);
        dora(&mut s, Instant::ZERO, mac(1), 1)
    };
    // Two hours later the one-hour lease is over.
    let mut s = restarted(&path, UNIX_START + 7200);
    assert_eq!(s.lease_of(mac(1), Instant::ZERO), None);
    let mut d = discover(mac(2), 2);
    d.push_option(code::REQUESTED_IP, ip.octets());
    let (_, offer) = exchange(&mut s, Instant::ZERO, &d);
    assert_eq!(offer.yiaddr, ip);
}

#[test]
fn lease_expiry_is_stored_as_unix_time() {
    let mut s = DhcpServer::new(
        full_config(DhcpSettings::default()),
        Box::new(SharedStore),
        Instant::ZERO,
    )
    .unwrap();
    let ip = dora(&mut s, Instant::from_millis(100_500), mac(1), 1);
    drop(s);
    let leases = SHARED.with(|l| l.borrow().clone());
    assert_eq!(
        leases,
        vec![Lease {
            addr: ip,
            mac: mac(1),
            // Acknowledged 100.5 s into the run: rounded up, plus the second of
            // margin for the whole-second start time. Erring late is safe.
            expires_unix: UNIX_START + 101 + 3600 + 1
        }]
    );
}

thread_local! {
    static SHARED: std::cell::RefCell<Vec<Lease>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Records commits in a thread-local so the test can look after the server is gone.
#[derive(Default)]
struct SharedStore;

impl LeaseStore for SharedStore {
    fn load(&self) -> Result<Vec<Lease>, StoreError> {
        Ok(Vec::new())
    }
    fn apply(&mut self, changes: &[LeaseChange]) -> Result<(), StoreError> {
        for change in changes {
            if let LeaseChange::Put(lease) = change {
                SHARED.with(|l| l.borrow_mut().push(*lease));
            }
        }
        Ok(())
    }
}

/// A store whose disk is full.
struct FailingStore;

impl LeaseStore for FailingStore {
    fn load(&self) -> Result<Vec<Lease>, StoreError> {
        Ok(Vec::new())
    }
    fn apply(&mut self, _: &[LeaseChange]) -> Result<(), StoreError> {
        Err(StoreError::Other("disk full".into()))
    }
}

#[test]
fn no_ack_when_the_lease_cannot_be_made_durable() {
    let mut s = DhcpServer::new(
        full_config(DhcpSettings::default()),
        Box::new(FailingStore),
        Instant::ZERO,
    )
    .unwrap();
    let t = Instant::from_secs(1);
    let (_, offer) = exchange(&mut s, t, &discover(mac(1), 1));
    let bytes = select(mac(1), 1, SERVER, offer.yiaddr).emit();
    s.handle_datagram(t, bcast(&bytes, mac(1)));
    assert!(
        replies(&mut s).is_empty(),
        "no DHCPACK without a durable lease"
    );
    let ev = events(&mut s);
    assert_eq!(ev.len(), 1);
    match &ev[0].kind {
        DhcpEventKind::StoreFailed(reason) => assert!(reason.contains("disk full"), "{reason}"),
        other => panic!("expected StoreFailed, got {other:?}"),
    }
    assert_eq!(s.lease_of(mac(1), t), None);
}

#[test]
fn a_store_that_cannot_load_stops_the_server() {
    struct Unreadable;
    impl LeaseStore for Unreadable {
        fn load(&self) -> Result<Vec<Lease>, StoreError> {
            Err(StoreError::Other("corrupt".into()))
        }
        fn apply(&mut self, _: &[LeaseChange]) -> Result<(), StoreError> {
            Ok(())
        }
    }
    let err = DhcpServer::new(
        full_config(DhcpSettings::default()),
        Box::new(Unreadable),
        Instant::ZERO,
    )
    .unwrap_err();
    assert!(err.to_string().contains("cannot load leases"), "{err}");
}

#[test]
fn memory_store_round_trips() {
    let mut m = MemoryStore::new();
    let l = Lease {
        addr: Ipv4Addr::new(10, 0, 0, 1),
        mac: mac(1),
        expires_unix: 5,
    };
    m.apply(&[LeaseChange::Put(l)]).unwrap();
    assert_eq!(m.load().unwrap(), vec![l]);
    m.apply(&[LeaseChange::Remove(l.addr)]).unwrap();
    assert!(m.load().unwrap().is_empty());
}

/// Counts batches and what was in them.
struct Batches(std::sync::Arc<std::sync::Mutex<Vec<Vec<LeaseChange>>>>);

impl LeaseStore for Batches {
    fn load(&self) -> Result<Vec<Lease>, StoreError> {
        Ok(Vec::new())
    }
    fn apply(&mut self, changes: &[LeaseChange]) -> Result<(), StoreError> {
        self.0.lock().unwrap().push(changes.to_vec());
        Ok(())
    }
}

/// Clients 1..=`n` each get an OFFER (drained), then `after_offers` runs, then
/// the server handles all their REQUESTs without being drained, as the driver
/// hands it a burst. Returns the offered addresses, client 1's first.
fn offer_then_request_undrained(
    s: &mut DhcpServer,
    t: Instant,
    n: u8,
    after_offers: impl FnOnce(),
) -> Vec<Ipv4Addr> {
    let offered: Vec<_> = (1..=n)
        .map(|c| exchange(s, t, &discover(mac(c), u32::from(c))).1.yiaddr)
        .collect();
    after_offers();
    for (c, &ip) in (1..=n).zip(&offered) {
        let bytes = select(mac(c), u32::from(c), SERVER, ip).emit();
        s.handle_datagram(t, bcast(&bytes, mac(c)));
    }
    offered
}

/// Group commit: the REQUESTs handled before the driver drains share one store
/// transaction, and every DHCPACK leaves only after it.
#[test]
fn requests_handled_together_are_committed_in_one_batch() {
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut s = DhcpServer::new(
        full_config(DhcpSettings::default()),
        Box::new(Batches(log.clone())),
        Instant::ZERO,
    )
    .unwrap();
    let t = Instant::from_secs(1);
    let offered = offer_then_request_undrained(&mut s, t, 3, || {
        assert!(log.lock().unwrap().is_empty(), "offers are not stored")
    });
    assert!(
        log.lock().unwrap().is_empty(),
        "nothing committed before the drain"
    );
    let acks = replies(&mut s);
    assert_eq!(acks.len(), 3);
    assert!(
        acks.iter()
            .all(|(_, m)| m.message_type() == Some(MessageType::Ack))
    );
    let batches = log.lock().unwrap().clone();
    assert_eq!(
        batches.len(),
        1,
        "one transaction for the burst: {batches:?}"
    );
    let stored: Vec<_> = batches[0]
        .iter()
        .map(|c| match c {
            LeaseChange::Put(l) => (l.mac, l.addr),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        stored,
        (1..=3)
            .map(|n| (mac(n), offered[usize::from(n) - 1]))
            .collect::<Vec<_>>()
    );
    let kinds: Vec<_> = events(&mut s).into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![DhcpEventKind::Ack; 3]);
}

/// A batch that cannot be made durable sends none of its DHCPACKs, and the
/// addresses go back to what they were, so each client's retry is answered anew.
#[test]
fn a_failed_batch_acknowledges_nobody_and_undoes_its_bindings() {
    let mut s = DhcpServer::new(
        full_config(DhcpSettings::default()),
        Box::new(FailingStore),
        Instant::ZERO,
    )
    .unwrap();
    let t = Instant::from_secs(1);
    let offered = offer_then_request_undrained(&mut s, t, 2, || {});
    assert!(
        replies(&mut s).is_empty(),
        "no DHCPACK without a durable lease"
    );
    let failed = events(&mut s)
        .into_iter()
        .filter(|e| matches!(e.kind, DhcpEventKind::StoreFailed(_)))
        .count();
    assert_eq!(failed, 2);
    for n in 1..=2 {
        assert_eq!(s.lease_of(mac(n), t), None);
    }
    // The offers still hold: each client's next DISCOVER gets its address again.
    for n in 1..=2 {
        let (_, again) = exchange(&mut s, t, &discover(mac(n), 10 + u32::from(n)));
        assert_eq!(again.yiaddr, offered[usize::from(n) - 1]);
    }
}
