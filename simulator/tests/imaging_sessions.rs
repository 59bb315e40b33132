//! Multicast sessions gathering a fleet that boots over time, feeding the
//! fabric: when each session starts and when the fleet is imaged.

use std::time::Duration;

use pxelab_reference::Instant;
use pxelab_simulator::imaging::{
    Completed, Fabric, LinkId, MulticastSessions, SessionConfig, UDP_EFFICIENCY,
};

const IMAGE: u64 = 1 << 31;

/// 100 machines PXE-boot half a second apart and join the multicast;
/// sessions start at `min_receivers` or `max_wait`. Returns each session's
/// start and receivers, and the completions.
fn image_fleet(config: SessionConfig) -> (Vec<(Instant, Vec<usize>)>, Vec<Completed>) {
    let mut fabric = Fabric::new();
    let uplink = fabric.add_link(1e9);
    let access: Vec<LinkId> = (0..100).map(|_| fabric.add_link(1e9)).collect();
    let mut sessions = MulticastSessions::new(config);
    let mut started = Vec::new();
    let mut done = Vec::new();
    let joins = (0..100).map(|m| (Instant::from_millis(500 * m as u64), m));
    let mut joins = joins.peekable();
    loop {
        // The next thing to happen: a join or a session's deadline.
        let next_join = joins.peek().map(|&(at, _)| at);
        let next = match (next_join, sessions.poll_timeout()) {
            (Some(j), Some(t)) => j.min(t),
            (Some(j), None) => j,
            (None, Some(t)) => t,
            (None, None) => break,
        };
        done.extend(fabric.advance(next));
        if next_join == Some(next) {
            let (at, machine) = joins.next().unwrap();
            sessions.join(at, machine);
        } else {
            sessions.handle_timeout(next);
        }
        while let Some(receivers) = sessions.poll_start() {
            let paths: Vec<(Vec<LinkId>, f64)> =
                receivers.iter().map(|&m| (vec![access[m]], 0.0)).collect();
            fabric.start_multicast(next, &[uplink], &paths, IMAGE);
            started.push((next, receivers));
        }
    }
    while let Some(at) = fabric.next_completion() {
        done.extend(fabric.advance(at));
    }
    (started, done)
}

#[test]
fn two_sessions_of_fifty_image_the_fleet_in_two_image_times() {
    let (started, done) = image_fleet(SessionConfig {
        min_receivers: 50,
        max_wait: Duration::from_secs(600),
    });
    // The 50th machine joins at 24.5 s, the 100th at 49.5 s.
    assert_eq!(started.len(), 2);
    assert_eq!(started[0].0, Instant::from_millis(24_500));
    assert_eq!(started[0].1, (0..50).collect::<Vec<_>>());
    assert_eq!(started[1].0, Instant::from_millis(49_500));
    assert_eq!(started[1].1, (50..100).collect::<Vec<_>>());
    // Each session takes one image time from its start: the first is done
    // before the second starts, so they never share the uplink.
    assert_eq!(done.len(), 2);
    let one_image = IMAGE as f64 / (125e6 * UDP_EFFICIENCY) * 1e9;
    for ((start, _), completed) in started.iter().zip(&done) {
        let took = (completed.finished - *start).as_nanos() as f64;
        assert!((took - one_image).abs() <= 1.0, "{took} vs {one_image}");
    }
}

#[test]
fn max_wait_starts_the_session_with_whoever_came() {
    let (started, done) = image_fleet(SessionConfig {
        min_receivers: 1000,
        max_wait: Duration::from_secs(20),
    });
    // Machines 0..40 join before 20 s; the 41st, joining just as the wait
    // runs out at 20 s, is late and opens the next session, which starts
    // 20 s later with the next 40 joiners, and so on.
    let sizes: Vec<usize> = started.iter().map(|(_, r)| r.len()).collect();
    assert_eq!(sizes, vec![40, 40, 20]);
    assert_eq!(started[0].0, Instant::from_secs(20));
    assert_eq!(started[1].0, Instant::from_secs(40));
    assert_eq!(started[1].1[0], 40);
    assert_eq!(started[2].0, Instant::from_secs(60));
    assert_eq!(done.len(), 3);
}

#[test]
fn one_session_for_the_whole_fleet_takes_one_image_time() {
    let (started, done) = image_fleet(SessionConfig {
        min_receivers: 100,
        max_wait: Duration::from_secs(600),
    });
    assert_eq!(started.len(), 1);
    let start = started[0].0;
    assert_eq!(start, Instant::from_millis(49_500));
    let one_image = IMAGE as f64 / (125e6 * UDP_EFFICIENCY);
    let took = (done[0].finished - start).as_secs_f64();
    assert!((took - one_image).abs() < 1e-8, "{took} vs {one_image}");
}
