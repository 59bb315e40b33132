//! Address pools and the state of every address the server has touched.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::config::{ConfigError, PoolConfig};
use crate::{Instant, Mac};

/// A validated pool.
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    pub(crate) first: u32,
    pub(crate) last: u32,
    pub(crate) netmask: Ipv4Addr,
    pub(crate) router: Option<Ipv4Addr>,
    pub(crate) dns: Vec<Ipv4Addr>,
}

impl Pool {
    pub(crate) fn new(c: &PoolConfig, default_mask: Ipv4Addr) -> Result<Self, ConfigError> {
        let netmask = c.netmask.unwrap_or(default_mask);
        let (first, last, mask) = (u32::from(c.first), u32::from(c.last), u32::from(netmask));
        if first > last || first & mask != last & mask {
            return Err(ConfigError::BadPool {
                first: c.first,
                last: c.last,
                netmask,
            });
        }
        Ok(Pool {
            first,
            last,
            netmask,
            router: c.router,
            dns: c.dns.clone(),
        })
    }

    /// Whether `ip` is on this pool's subnet.
    pub(crate) fn subnet_contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::from(self.netmask);
        u32::from(ip) & mask == self.first & mask
    }

    /// Whether `ip` is in the range handed out, and not the subnet's network or
    /// broadcast address.
    pub(crate) fn range_contains(&self, ip: Ipv4Addr) -> bool {
        let v = u32::from(ip);
        let mask = u32::from(self.netmask);
        let host = v & !mask;
        (self.first..=self.last).contains(&v) && (mask == u32::MAX || (host != 0 && host != !mask))
    }

    pub(crate) fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        (self.first..=self.last)
            .map(Ipv4Addr::from)
            .filter(|ip| self.range_contains(*ip))
    }
}

/// What an address is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Offered to `mac` and held for it until then (not durable).
    Offered { until: Instant },
    /// Acknowledged and durable.
    Bound { expires: Instant, expires_unix: u64 },
    /// Declined: someone else uses it; out of the pool until then.
    Declined { until: Instant },
    /// Released; remembered so the same client gets it again.
    Free,
}

/// An address's state and the client it was last associated with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binding {
    pub(crate) mac: Mac,
    pub(crate) state: State,
}

/// The bindings one [`Bindings::set`] touches, as they were before it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snapshot {
    ip: Ipv4Addr,
    mac: Mac,
    addr: Option<Binding>,
    mac_addr: Option<Ipv4Addr>,
    prev_owner: Option<(Mac, Option<Ipv4Addr>)>,
}

/// Every address the server has touched.
#[derive(Debug, Default)]
pub(crate) struct Bindings {
    pub(crate) by_addr: HashMap<Ipv4Addr, Binding>,
    /// The last address of each client, for "previous lease of this client" (RFC 2131 §4.3.1).
    pub(crate) by_mac: HashMap<Mac, Ipv4Addr>,
}

impl Bindings {
    /// Whether `ip` may be given to `mac` now (ignoring reservations).
    pub(crate) fn available_for(&self, ip: Ipv4Addr, mac: Mac, now: Instant) -> bool {
        match self.by_addr.get(&ip) {
            None => true,
            Some(b) => match b.state {
                State::Free => true,
                State::Offered { until } => b.mac == mac || until <= now,
                State::Bound { expires, .. } => b.mac == mac || expires <= now,
                State::Declined { until } => until <= now,
            },
        }
    }

    /// The client holding `ip` other than `mac`, while its hold lasts.
    pub(crate) fn held_by_other(&self, ip: Ipv4Addr, mac: Mac, now: Instant) -> bool {
        !self.available_for(ip, mac, now)
    }

    /// Whether `mac` has a live or lapsed-but-unclaimed association with `ip`.
    pub(crate) fn knows(&self, ip: Ipv4Addr, mac: Mac) -> bool {
        self.by_addr
            .get(&ip)
            .is_some_and(|b| b.mac == mac && !matches!(b.state, State::Declined { .. }))
    }

    /// Records `ip`'s state and that it is now `mac`'s. The client it was
    /// associated with before, if another, forgets it: the address is no longer
    /// its "previous address" (RFC 2131 §4.3.1), and keeping the entry would let
    /// a flood of random MACs grow `by_mac` without bound (one entry per MAC
    /// ever offered an address) instead of at most one per address.
    pub(crate) fn set(&mut self, ip: Ipv4Addr, mac: Mac, state: State) {
        if let Some(old) = self.by_addr.insert(ip, Binding { mac, state })
            && old.mac != mac
            && self.by_mac.get(&old.mac) == Some(&ip)
        {
            self.by_mac.remove(&old.mac);
        }
        self.by_mac.insert(mac, ip);
    }

    /// What [`Bindings::set`] of `ip` for `mac` would change, to undo it with
    /// [`Bindings::restore`] (a group commit that failed).
    pub(crate) fn snapshot(&self, ip: Ipv4Addr, mac: Mac) -> Snapshot {
        let addr = self.by_addr.get(&ip).copied();
        let prev_owner = addr
            .filter(|b| b.mac != mac)
            .map(|b| (b.mac, self.by_mac.get(&b.mac).copied()));
        Snapshot {
            ip,
            mac,
            addr,
            mac_addr: self.by_mac.get(&mac).copied(),
            prev_owner,
        }
    }

    /// Puts back what `snap` recorded. An address that had no binding becomes
    /// `Free` for the client rather than untouched: bindings are never forgotten
    /// (the untouched-address mark relies on it).
    pub(crate) fn restore(&mut self, snap: Snapshot) {
        let binding = snap.addr.unwrap_or(Binding {
            mac: snap.mac,
            state: State::Free,
        });
        // A client that took the address after the snapshot (later in the same
        // batch) forgets it, as `set` would make it: else each failed batch could
        // leave one stale client behind.
        if let Some(later) = self.by_addr.insert(snap.ip, binding)
            && later.mac != binding.mac
            && self.by_mac.get(&later.mac) == Some(&snap.ip)
        {
            self.by_mac.remove(&later.mac);
        }
        let by_addr = &self.by_addr;
        let by_mac = &mut self.by_mac;
        // A client remembers an address only while the address is still its own.
        let mut put = |mac: Mac, ip: Option<Ipv4Addr>| match ip {
            Some(ip) if by_addr.get(&ip).is_some_and(|b| b.mac == mac) => by_mac.insert(mac, ip),
            _ => by_mac.remove(&mac),
        };
        put(snap.mac, snap.mac_addr);
        if let Some((owner, ip)) = snap.prev_owner {
            put(owner, ip);
        }
    }

    /// `ip` is unbound and never used: preferred for new clients so a returning
    /// client finds its old address still free.
    pub(crate) fn untouched(&self, ip: Ipv4Addr) -> bool {
        !self.by_addr.contains_key(&ip)
    }
}
