//! Properties of the fluid model over random topologies and flow mixes:
//! every flow completes, in order, having received exactly its bytes at the
//! rates the fabric announced, and no link ever carries more than it can.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use pxelab_reference::Instant;
use pxelab_simulator::imaging::{Completed, Fabric, FlowId, LinkId};

#[derive(Clone, Debug)]
struct FlowPlan {
    start_ms: u64,
    /// Indices into the links (taken modulo their number).
    path: Vec<usize>,
    bytes: u64,
    multicast: bool,
    loss: f64,
    cancel_after_ms: Option<u64>,
    /// For a multicast: when its first receiver leaves.
    leave_after_ms: Option<u64>,
}

fn flow_plan() -> impl Strategy<Value = FlowPlan> {
    (
        0u64..20_000,
        prop::collection::vec(0usize..16, 0..5),
        0u64..2_000_000_000,
        prop::bool::weighted(0.3),
        0.0f64..0.3,
        prop::option::weighted(0.2, 0u64..20_000),
        prop::option::weighted(0.3, 0u64..20_000),
    )
        .prop_map(
            |(start_ms, path, bytes, multicast, loss, cancel_after_ms, leave_after_ms)| FlowPlan {
                start_ms,
                path,
                bytes,
                multicast,
                loss,
                cancel_after_ms,
                leave_after_ms,
            },
        )
}

/// Drives a fabric through a plan while checking every state it passes
/// through.
struct Checker {
    fabric: Fabric,
    capacity: Vec<f64>,
    /// Links each running flow crosses.
    paths: BTreeMap<FlowId, BTreeSet<LinkId>>,
    /// Each running multicast's sender link and its receivers' links (`None`
    /// once left).
    sessions: BTreeMap<FlowId, (LinkId, Vec<Option<LinkId>>)>,
    started: BTreeMap<FlowId, (Instant, u64)>,
    /// Payload delivered so far, integrated from the announced rates.
    delivered: BTreeMap<FlowId, f64>,
    cancelled: BTreeSet<FlowId>,
    completions: Vec<Completed>,
    clock: Instant,
}

impl Checker {
    fn new(capacity: Vec<f64>) -> Checker {
        let mut fabric = Fabric::new();
        for &c in &capacity {
            fabric.add_link(c);
        }
        Checker {
            fabric,
            capacity,
            paths: BTreeMap::new(),
            sessions: BTreeMap::new(),
            started: BTreeMap::new(),
            delivered: BTreeMap::new(),
            cancelled: BTreeSet::new(),
            completions: Vec::new(),
            clock: Instant::ZERO,
        }
    }

    /// Accumulates each running flow's progress at its current rate.
    fn integrate(&mut self, to: Instant) {
        let dt = (to - self.clock).as_nanos() as f64 / 1e9;
        if dt > 0.0 {
            for (&id, delivered) in &mut self.delivered {
                *delivered += self.fabric.rate(id).unwrap() * dt;
            }
        }
        self.clock = to;
    }

    /// Plays every completion up to `now`.
    fn step_to(&mut self, now: Instant) -> Result<(), TestCaseError> {
        while let Some(at) = self.fabric.next_completion().filter(|&at| at <= now) {
            prop_assert!(
                at >= self.clock,
                "completion {at:?} in the past of {:?}",
                self.clock
            );
            self.integrate(at);
            let done = self.fabric.advance(at);
            prop_assert!(!done.is_empty());
            for c in done {
                prop_assert_eq!(c.finished, at);
                let (started, bytes) = self.started[&c.flow];
                prop_assert_eq!((c.started, c.bytes), (started, bytes));
                let delivered = self.delivered.remove(&c.flow).unwrap();
                // Completion instants are rounded up to the nanosecond, once
                // per rate change: a flow gets at most a few bytes extra.
                // A flow crossing no link has no rate limit: it completes the
                // instant it starts, with nothing to integrate.
                let unlimited = self.paths[&c.flow].is_empty();
                let tolerance = 1e-9 * bytes as f64 + 100.0;
                prop_assert!(
                    unlimited || (delivered - bytes as f64).abs() <= tolerance,
                    "{:?}: delivered {delivered} of {bytes}",
                    c.flow
                );
                self.paths.remove(&c.flow);
                if let Some(last) = self.completions.last() {
                    prop_assert!((last.finished, last.flow) < (c.finished, c.flow));
                }
                self.completions.push(c);
            }
            self.check_rates()?;
        }
        self.integrate(now);
        prop_assert!(self.fabric.advance(now).is_empty());
        Ok(())
    }

    /// No link over capacity, and every flow max-min fair: it crosses a full
    /// link on which no flow goes faster (its bottleneck).
    fn check_rates(&self) -> Result<(), TestCaseError> {
        for (l, &cap) in self.capacity.iter().enumerate() {
            let load = self.fabric.link_load(LinkId(l as u32)).unwrap();
            prop_assert!(load <= cap * (1.0 + 1e-9), "link {l}: {load} > {cap}");
        }
        for (&id, path) in &self.paths {
            if path.is_empty() {
                continue;
            }
            let rate = self.fabric.wire_rate(id).unwrap();
            let bottleneck = path.iter().any(|&l| {
                let cap = self.capacity[l.0 as usize];
                let full = self.fabric.link_load(l).unwrap() >= cap * (1.0 - 1e-9);
                let fastest =
                    self.paths
                        .iter()
                        .filter(|(_, p)| p.contains(&l))
                        .all(|(&other, _)| {
                            self.fabric.wire_rate(other).unwrap() <= rate * (1.0 + 1e-9)
                        });
                full && fastest
            });
            prop_assert!(bottleneck, "{id:?} at {rate} b/s has no bottleneck");
        }
        Ok(())
    }
}

proptest! {
    #[test]
    fn every_flow_completes_with_its_bytes_and_no_link_overflows(
        capacity in prop::collection::vec(1e6f64..1e10, 1..8),
        plans in prop::collection::vec(flow_plan(), 1..30),
    ) {
        let mut checker = Checker::new(capacity.clone());
        // (time, 0 = start / 1 = cancel / 2 = leave, plan index), in time
        // order.
        let mut events: Vec<(Instant, u8, usize)> = Vec::new();
        for (i, p) in plans.iter().enumerate() {
            let start = Instant::from_millis(p.start_ms);
            events.push((start, 0, i));
            if let Some(after) = p.cancel_after_ms {
                events.push((start + Duration::from_millis(after), 1, i));
            }
            if let Some(after) = p.leave_after_ms {
                events.push((start + Duration::from_millis(after), 2, i));
            }
        }
        events.sort();
        let mut ids: BTreeMap<usize, FlowId> = BTreeMap::new();
        for (at, kind, i) in events {
            checker.step_to(at)?;
            let plan = &plans[i];
            let links: Vec<LinkId> =
                plan.path.iter().map(|&l| LinkId((l % capacity.len()) as u32)).collect();
            if kind == 0 {
                let id = if plan.multicast && !links.is_empty() {
                    let receivers: Vec<(Vec<LinkId>, f64)> =
                        links[1..].iter().map(|&l| (vec![l], plan.loss)).collect();
                    let id =
                        checker.fabric.start_multicast(at, &links[..1], &receivers, plan.bytes);
                    let listening = links[1..].iter().copied().map(Some).collect();
                    checker.sessions.insert(id, (links[0], listening));
                    id
                } else {
                    checker.fabric.start_unicast(at, &links, plan.bytes)
                };
                ids.insert(i, id);
                checker.paths.insert(id, links.iter().copied().collect());
                checker.started.insert(id, (at, plan.bytes));
                checker.delivered.insert(id, 0.0);
            } else if kind == 2 {
                let id = ids[&i];
                let left = checker.fabric.leave_multicast(at, id, 0);
                let running = checker.paths.contains_key(&id);
                let listener = checker.sessions.get_mut(&id).and_then(|(_, r)| r.first_mut());
                prop_assert_eq!(left, running && listener.as_ref().is_some_and(|l| l.is_some()));
                if let Some(listener) = listener {
                    *listener = None;
                }
                if left {
                    let (sender, receivers) = &checker.sessions[&id];
                    if receivers.iter().all(Option::is_none) {
                        // Nobody left to send to: the session is over.
                        prop_assert_eq!(checker.fabric.rate(id), None);
                        checker.paths.remove(&id);
                        checker.delivered.remove(&id);
                        checker.cancelled.insert(id);
                    } else {
                        let path = receivers.iter().flatten().copied().chain([*sender]).collect();
                        checker.paths.insert(id, path);
                    }
                }
            } else {
                let id = ids[&i];
                checker.fabric.cancel(at, id);
                if checker.paths.remove(&id).is_some() {
                    checker.delivered.remove(&id);
                    checker.cancelled.insert(id);
                }
                prop_assert_eq!(checker.fabric.rate(id), None);
            }
            checker.check_rates()?;
        }
        checker.step_to(Instant::from_secs(1 << 30))?;
        prop_assert_eq!(checker.fabric.next_completion(), None);
        prop_assert_eq!(checker.fabric.active(), 0);

        // Every flow not cancelled completed exactly once; bytes conserved.
        let completed: BTreeSet<FlowId> = checker.completions.iter().map(|c| c.flow).collect();
        prop_assert_eq!(completed.len(), checker.completions.len());
        let expected: BTreeSet<FlowId> =
            ids.values().copied().filter(|id| !checker.cancelled.contains(id)).collect();
        prop_assert_eq!(&completed, &expected);
        let requested: u64 = expected.iter().map(|id| checker.started[id].1).sum();
        let delivered: u64 = checker.completions.iter().map(|c| c.bytes).sum();
        prop_assert_eq!(requested, delivered);
    }
}
