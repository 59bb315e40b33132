//! The fluid model of image transfers: the imaging times a fleet report
//! gives must follow from link capacities, sharing and protocol overhead.

use std::time::Duration;

use pxelab_reference::Instant;
use pxelab_simulator::imaging::{
    Completed, Fabric, FlowId, LinkId, TCP_EFFICIENCY, UDP_EFFICIENCY, nak_repair_factor,
};

const GBIT: f64 = 1e9;
const IMAGE: u64 = 1 << 31; // 2 GiB

/// `bytes` at `bytes_per_sec`, rounded up to the nanosecond as the fabric
/// does.
fn transfer_nanos(bytes: f64, bytes_per_sec: f64) -> u64 {
    (bytes / bytes_per_sec * 1e9).ceil() as u64
}

/// The imaging topology: one server uplink and `machines` access
/// links, all 1 Gb/s.
fn fleet(machines: usize) -> (Fabric, LinkId, Vec<LinkId>) {
    let mut fabric = Fabric::new();
    let uplink = fabric.add_link(GBIT);
    let access = (0..machines).map(|_| fabric.add_link(GBIT)).collect();
    (fabric, uplink, access)
}

fn run_to_end(fabric: &mut Fabric) -> Vec<Completed> {
    let mut all = Vec::new();
    while let Some(at) = fabric.next_completion() {
        let done = fabric.advance(at);
        assert!(!done.is_empty(), "next_completion {at:?} completed nothing");
        all.extend(done);
    }
    all
}

#[test]
fn one_flow_alone_takes_image_size_over_tcp_goodput() {
    let (mut fabric, uplink, access) = fleet(1);
    let flow = fabric.start_unicast(Instant::ZERO, &[uplink, access[0]], IMAGE);
    let goodput = 125e6 * TCP_EFFICIENCY;
    assert_eq!(fabric.rate(flow), Some(goodput));
    let expected = Instant::from_nanos(transfer_nanos(IMAGE as f64, goodput));
    // About 18.1 s: what a user expects of 2 GiB over gigabit TCP.
    assert!((18.0..18.2).contains(&expected.since_start().as_secs_f64()));
    assert_eq!(fabric.next_completion(), Some(expected));

    assert!(
        fabric
            .advance(expected - Duration::from_nanos(1))
            .is_empty()
    );
    assert_eq!(fabric.remaining(flow), Some(1));
    assert_eq!(
        fabric.advance(expected),
        vec![Completed {
            flow,
            started: Instant::ZERO,
            finished: expected,
            bytes: IMAGE,
        }]
    );
    assert_eq!(fabric.next_completion(), None);
    assert_eq!(fabric.rate(flow), None);
}

#[test]
fn two_flows_share_the_uplink_then_the_survivor_speeds_up() {
    let (mut fabric, uplink, access) = fleet(2);
    let small = fabric.start_unicast(Instant::ZERO, &[uplink, access[0]], 100_000_000);
    let large = fabric.start_unicast(Instant::ZERO, &[uplink, access[1]], 300_000_000);
    let half = 62.5e6 * TCP_EFFICIENCY;
    let full = 125e6 * TCP_EFFICIENCY;
    assert_eq!(fabric.rate(small), Some(half));
    assert_eq!(fabric.rate(large), Some(half));

    let t1 = transfer_nanos(1e8, half);
    let first = fabric.advance(Instant::from_nanos(t1));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].flow, small);
    assert_eq!(first[0].finished, Instant::from_nanos(t1));
    assert_eq!(fabric.rate(large), Some(full));

    // The documented rule: progress at the old rate up to t1, then the rest
    // at the new rate, rounded up to the nanosecond.
    let left = 3e8 - half * t1 as f64 / 1e9;
    let t2 = t1 + transfer_nanos(left, full);
    assert_eq!(fabric.next_completion(), Some(Instant::from_nanos(t2)));
    // And that is the ideal fluid answer (400 MB through one gigabit
    // uplink) to within the rounding of the two events.
    let ideal = 4e8 / full * 1e9;
    assert!((t2 as f64 - ideal).abs() <= 2.0, "{t2} vs {ideal}");
    let second = fabric.advance(Instant::from_secs(3600));
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].flow, large);
    assert_eq!(second[0].finished, Instant::from_nanos(t2));
}

#[test]
fn hundred_unicast_pulls_take_a_hundred_times_one() {
    let (mut fabric, uplink, access) = fleet(100);
    let flows: Vec<FlowId> = access
        .iter()
        .map(|&a| fabric.start_unicast(Instant::ZERO, &[uplink, a], IMAGE))
        .collect();
    let done = run_to_end(&mut fabric);
    assert_eq!(done.len(), 100);
    // All finish together, reported in FlowId order.
    assert_eq!(done.iter().map(|c| c.flow).collect::<Vec<_>>(), flows);
    let single = transfer_nanos(IMAGE as f64, 125e6 * TCP_EFFICIENCY) as f64;
    let last = done.last().unwrap().finished.as_nanos() as f64;
    assert!(
        (last / (100.0 * single) - 1.0).abs() < 1e-9,
        "{last} vs 100 × {single}"
    );
    // About half an hour for the fleet.
    assert!((1800.0..1820.0).contains(&(last / 1e9)));
}

#[test]
fn staggered_unicast_pulls_keep_the_uplink_busy() {
    // Machines that PXE-boot one second apart: the uplink is never idle, so
    // the fleet completes when all its bytes have crossed the uplink.
    let (mut fabric, uplink, access) = fleet(100);
    let mut done = Vec::new();
    for (i, &a) in access.iter().enumerate() {
        let at = Instant::from_secs(i as u64);
        done.extend(fabric.advance(at));
        fabric.start_unicast(at, &[uplink, a], IMAGE);
    }
    done.extend(run_to_end(&mut fabric));
    assert_eq!(done.len(), 100);
    let ideal = 100.0 * IMAGE as f64 / (125e6 * TCP_EFFICIENCY) * 1e9;
    let last = done.last().unwrap().finished.as_nanos() as f64;
    // One nanosecond of rounding at most per rate change.
    assert!((last - ideal).abs() <= 200.0, "{last} vs {ideal}");
    // Earlier starters finish first: fair sharing is first come, first done.
    assert!(done.windows(2).all(|w| w[0].flow < w[1].flow));
}

#[test]
fn multicast_to_a_hundred_takes_about_the_time_of_one() {
    let (mut fabric, uplink, access) = fleet(100);
    let receivers: Vec<(Vec<LinkId>, f64)> = access.iter().map(|&a| (vec![a], 0.0)).collect();
    let session = fabric.start_multicast(Instant::ZERO, &[uplink], &receivers, IMAGE);
    assert_eq!(fabric.rate(session), Some(125e6 * UDP_EFFICIENCY));
    let done = run_to_end(&mut fabric);
    assert_eq!(done.len(), 1);
    let single_tcp = IMAGE as f64 / (125e6 * TCP_EFFICIENCY) * 1e9;
    let multicast = done[0].finished.as_nanos() as f64;
    // One machine's time, a little less for UDP's smaller headers.
    let expected = single_tcp * TCP_EFFICIENCY / UDP_EFFICIENCY;
    assert!(
        (multicast - expected).abs() <= 1.0,
        "{multicast} vs {expected}"
    );
    assert!(multicast < single_tcp && multicast > 0.98 * single_tcp);
}

#[test]
fn unicast_beside_a_multicast_halves_its_rate() {
    let (mut fabric, uplink, access) = fleet(101);
    let receivers: Vec<(Vec<LinkId>, f64)> =
        access[..100].iter().map(|&a| (vec![a], 0.0)).collect();
    let session = fabric.start_multicast(Instant::ZERO, &[uplink], &receivers, IMAGE);
    let pull = fabric.start_unicast(Instant::ZERO, &[uplink, access[100]], IMAGE);
    // The session is one flow on the uplink, not a hundred.
    assert_eq!(fabric.wire_rate(session), Some(GBIT / 2.0));
    assert_eq!(fabric.wire_rate(pull), Some(GBIT / 2.0));
    assert_eq!(fabric.rate(session), Some(62.5e6 * UDP_EFFICIENCY));
    assert_eq!(fabric.link_load(uplink), Some(GBIT));
    assert_eq!(fabric.link_load(access[0]), Some(GBIT / 2.0));
}

#[test]
fn multicast_is_paced_by_its_slowest_receiver() {
    let mut fabric = Fabric::new();
    let uplink = fabric.add_link(GBIT);
    let fast = fabric.add_link(GBIT);
    let slow = fabric.add_link(100e6);
    let session = fabric.start_multicast(
        Instant::ZERO,
        &[uplink],
        &[(vec![fast], 0.0), (vec![slow], 0.0)],
        IMAGE,
    );
    assert_eq!(fabric.wire_rate(session), Some(100e6));
}

#[test]
fn multicast_loss_costs_the_repair_factor() {
    let (mut fabric, uplink, access) = fleet(10);
    let receivers: Vec<(Vec<LinkId>, f64)> = access
        .iter()
        .enumerate()
        .map(|(i, &a)| (vec![a], if i == 0 { 0.1 } else { 0.0 }))
        .collect();
    let session = fabric.start_multicast(Instant::ZERO, &[uplink], &receivers, IMAGE);
    let factor = nak_repair_factor(&[0.1]);
    assert!((factor - 1.0 / 0.9).abs() < 1e-9);
    let goodput = fabric.rate(session).unwrap();
    assert!(
        (goodput - 125e6 * UDP_EFFICIENCY / factor).abs() < 1e-3,
        "{goodput}"
    );
    // A receiver that hears nothing does not hang the session.
    let dead = fabric.start_multicast(Instant::ZERO, &[], &[(vec![access[0]], 1.0)], 1000);
    assert!(fabric.rate(dead).unwrap() > 0.0);
    assert_eq!(run_to_end(&mut fabric).len(), 2);
}

#[test]
fn a_slow_access_link_leaves_the_rest_of_the_uplink_to_others() {
    let mut fabric = Fabric::new();
    let uplink = fabric.add_link(GBIT);
    let slow_port = fabric.add_link(100e6);
    let fast_ports = [fabric.add_link(GBIT), fabric.add_link(GBIT)];
    let slow = fabric.start_unicast(Instant::ZERO, &[uplink, slow_port], IMAGE);
    let fast: Vec<FlowId> = fast_ports
        .iter()
        .map(|&p| fabric.start_unicast(Instant::ZERO, &[uplink, p], IMAGE))
        .collect();
    assert_eq!(fabric.wire_rate(slow), Some(100e6));
    for f in fast {
        assert_eq!(fabric.wire_rate(f), Some(450e6));
    }
    assert_eq!(fabric.link_load(uplink), Some(GBIT));
}

#[test]
fn max_min_fairness_across_a_chain_of_links() {
    // The textbook case: a long flow crosses two links, each shared with one
    // short flow; link A is the tighter one.
    let mut fabric = Fabric::new();
    let a = fabric.add_link(300e6);
    let b = fabric.add_link(1000e6);
    let long = fabric.start_unicast(Instant::ZERO, &[a, b], IMAGE);
    let short_a = fabric.start_unicast(Instant::ZERO, &[a], IMAGE);
    let short_b = fabric.start_unicast(Instant::ZERO, &[b], IMAGE);
    assert_eq!(fabric.wire_rate(long), Some(150e6));
    assert_eq!(fabric.wire_rate(short_a), Some(150e6));
    assert_eq!(fabric.wire_rate(short_b), Some(850e6));
}

#[test]
fn cancel_gives_the_share_back() {
    let (mut fabric, uplink, access) = fleet(2);
    let kept = fabric.start_unicast(Instant::ZERO, &[uplink, access[0]], IMAGE);
    let dropped = fabric.start_unicast(Instant::ZERO, &[uplink, access[1]], IMAGE);
    let half = 62.5e6 * TCP_EFFICIENCY;
    let full = 125e6 * TCP_EFFICIENCY;
    let cancel_at = Instant::from_secs(5);
    fabric.cancel(cancel_at, dropped);
    assert_eq!(fabric.rate(dropped), None);
    assert_eq!(fabric.rate(kept), Some(full));
    let left = IMAGE as f64 - half * 5e9 / 1e9;
    assert_eq!(fabric.remaining(kept), Some(left.ceil() as u64));
    let expected = cancel_at + Duration::from_nanos(transfer_nanos(left, full));
    let done = run_to_end(&mut fabric);
    assert_eq!(done.len(), 1, "a cancelled flow never completes");
    assert_eq!(done[0].flow, kept);
    assert_eq!(done[0].finished, expected);
    // Cancelling again, or a finished flow, changes nothing.
    fabric.cancel(Instant::from_secs(100), dropped);
    fabric.cancel(Instant::from_secs(100), kept);
    assert_eq!(fabric.next_completion(), None);
}

#[test]
fn advance_with_no_flows_returns_nothing() {
    let mut fabric = Fabric::new();
    assert_eq!(fabric.next_completion(), None);
    assert!(fabric.advance(Instant::from_secs(10)).is_empty());
    let link = fabric.add_link(GBIT);
    assert_eq!(fabric.link_load(link), Some(0.0));
    assert!(fabric.advance(Instant::from_secs(20)).is_empty());
}

#[test]
fn completions_played_by_a_later_start_are_not_lost() {
    // The world may start a flow without advancing first: flows that
    // finished before it still finish at their own time, at their old rate.
    let (mut fabric, uplink, access) = fleet(2);
    let early = fabric.start_unicast(Instant::ZERO, &[uplink, access[0]], 1_000_000);
    let end = Instant::from_nanos(transfer_nanos(1e6, 125e6 * TCP_EFFICIENCY));
    let late = fabric.start_unicast(Instant::from_secs(10), &[uplink, access[1]], 1_000_000);
    assert_eq!(fabric.next_completion(), Some(end));
    assert_eq!(fabric.rate(late), Some(125e6 * TCP_EFFICIENCY));
    let done = fabric.advance(Instant::from_secs(10));
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].flow, done[0].finished), (early, end));
    assert_eq!(fabric.next_completion().map(|t| t > end), Some(true));
}

#[test]
fn empty_transfers_complete_at_once() {
    let (mut fabric, uplink, _) = fleet(0);
    let at = Instant::from_secs(3);
    let nothing = fabric.start_unicast(at, &[uplink], 0);
    let unlimited = fabric.start_unicast(at, &[], 1 << 20);
    let done = fabric.advance(at);
    assert_eq!(
        done.iter()
            .map(|c| (c.flow, c.finished))
            .collect::<Vec<_>>(),
        vec![(nothing, at), (unlimited, at)]
    );
}

#[test]
fn a_zero_capacity_link_stalls_until_cancelled() {
    let mut fabric = Fabric::new();
    let down = fabric.add_link(0.0);
    let up = fabric.add_link(GBIT);
    let stalled = fabric.start_unicast(Instant::ZERO, &[down], IMAGE);
    let other = fabric.start_unicast(Instant::ZERO, &[up], 1000);
    assert_eq!(fabric.rate(stalled), Some(0.0));
    let done = run_to_end(&mut fabric);
    assert_eq!(done.iter().map(|c| c.flow).collect::<Vec<_>>(), vec![other]);
    assert_eq!(fabric.remaining(stalled), Some(IMAGE));
    fabric.cancel(Instant::from_secs(60), stalled);
    assert_eq!(fabric.active(), 0);
}

#[test]
fn same_calls_give_the_same_completions() {
    fn run() -> Vec<Completed> {
        let (mut fabric, uplink, access) = fleet(30);
        let mut done = Vec::new();
        for (i, &a) in access.iter().enumerate() {
            let at = Instant::from_millis(137 * i as u64);
            done.extend(fabric.advance(at));
            let bytes = IMAGE / (1 + i as u64 % 7);
            if i % 5 == 0 {
                fabric.start_multicast(at, &[uplink], &[(vec![a], 0.01 * i as f64)], bytes);
            } else {
                fabric.start_unicast(at, &[uplink, a], bytes);
            }
            if i % 9 == 8 {
                fabric.cancel(at, FlowId(i as u32 - 3));
            }
        }
        done.extend(run_to_end(&mut fabric));
        done
    }
    let first = run();
    assert!(first.len() > 20);
    assert_eq!(first, run());
}

#[test]
fn a_receiver_leaving_lets_the_session_speed_up() {
    let mut fabric = Fabric::new();
    let uplink = fabric.add_link(GBIT);
    let fast = fabric.add_link(GBIT);
    let slow = fabric.add_link(100e6);
    let receivers = [(vec![fast], 0.0), (vec![slow], 0.1)];
    let session = fabric.start_multicast(Instant::ZERO, &[uplink], &receivers, IMAGE);
    let paced = 12.5e6 * UDP_EFFICIENCY / nak_repair_factor(&[0.1]);
    assert!((fabric.rate(session).unwrap() - paced).abs() < 1e-6);

    // The slow, lossy machine powers off ten seconds in.
    let at = Instant::from_secs(10);
    assert!(fabric.leave_multicast(at, session, 1));
    let full = 125e6 * UDP_EFFICIENCY;
    assert_eq!(fabric.rate(session), Some(full));
    assert_eq!(fabric.link_load(slow), Some(0.0));
    let left = IMAGE as f64 - fabric.remaining(session).unwrap() as f64;
    assert!((left - paced * 10.0).abs() <= 1.0, "{left}");

    assert!(!fabric.leave_multicast(at, session, 1), "it left already");
    assert!(!fabric.leave_multicast(at, session, 7), "no such receiver");
    let done = run_to_end(&mut fabric);
    assert_eq!(done.len(), 1);
    let rest = IMAGE as f64 - paced * 10e9 / 1e9;
    assert_eq!(
        done[0].finished,
        at + Duration::from_nanos(transfer_nanos(rest, full))
    );
}

#[test]
fn a_session_whose_last_receiver_leaves_ends_without_completing() {
    let (mut fabric, uplink, access) = fleet(2);
    let receivers = [(vec![access[0]], 0.0), (vec![access[1]], 0.0)];
    let session = fabric.start_multicast(Instant::ZERO, &[uplink], &receivers, IMAGE);
    assert!(fabric.leave_multicast(Instant::from_secs(1), session, 0));
    assert!(fabric.leave_multicast(Instant::from_secs(2), session, 1));
    assert_eq!(fabric.rate(session), None);
    assert_eq!(fabric.link_load(uplink), Some(0.0));
    assert!(run_to_end(&mut fabric).is_empty());
}
