//! The gateway's admission bound: at most `limit` requests in flight, and each caller at
//! most its fair share of them (the limit over the callers with requests in flight),
//! so that one agency's burst cannot take the slots another needs. A request over
//! the bound is refused at once with OVERLOADED, before its envelope is opened or its
//! templates decoded: past capacity, a refusal must cost next to nothing, or the
//! refusals themselves eat the capacity (congestion collapse).

use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use crate::error::GatewayError;

/// In-flight requests per gateway, overall and by caller.
#[derive(Debug)]
pub struct InFlight {
    limit: usize,
    total: AtomicUsize,
    by_caller: DashMap<String, usize>,
    /// Callers in `by_caller` (kept apart: `DashMap::len` locks every shard).
    active: AtomicUsize,
}

/// The in-flight requests a gateway holds per CPU core by default: at the ~800
/// verifies/s a core serves, 48 queued ones wait about 60 ms, well inside the 200 ms
/// verify budget.
pub const IN_FLIGHT_PER_CORE: usize = 48;

impl InFlight {
    /// At most `limit` requests at once (at least one).
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            total: AtomicUsize::new(0),
            by_caller: DashMap::new(),
            active: AtomicUsize::new(0),
        }
    }

    /// [`IN_FLIGHT_PER_CORE`] for each core of this machine.
    pub fn per_core() -> Self {
        Self::new(IN_FLIGHT_PER_CORE * std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// The bound.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A slot for one of `caller`'s requests, held until dropped; OVERLOADED when the
    /// gateway is full or the caller holds its share.
    pub fn enter(&self, caller: &str) -> Result<Slot<'_>, GatewayError> {
        let overloaded = || GatewayError::Overloaded {
            in_flight: self.total.load(Ordering::Relaxed),
        };
        let mine = self.by_caller.get(caller).map_or(0, |n| *n);
        // Callers with requests in flight, this one included. Checked before counting
        // in, so concurrent entrants may overshoot a share by their number: the bound
        // on the total is exact.
        let active = self.active.load(Ordering::Relaxed) + usize::from(mine == 0);
        if mine >= (self.limit / active.max(1)).max(1) {
            return Err(overloaded());
        }
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(overloaded());
        }
        match self.by_caller.entry(caller.to_owned()) {
            Entry::Occupied(mut held) => *held.get_mut() += 1,
            Entry::Vacant(first) => {
                first.insert(1);
                self.active.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(Slot {
            gate: self,
            caller: caller.to_owned(),
        })
    }
}

/// One admitted request; its slot is given back when it is dropped.
#[derive(Debug)]
pub struct Slot<'a> {
    gate: &'a InFlight,
    caller: String,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.gate.total.fetch_sub(1, Ordering::AcqRel);
        let last = self.gate.by_caller.remove_if_mut(&self.caller, |_, n| {
            *n -= 1;
            *n == 0
        });
        if last.is_some() {
            self.gate.active.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_holds_and_slots_come_back() {
        let gate = InFlight::new(3);
        let held: Vec<_> = (0..3).map(|_| gate.enter("a").unwrap()).collect();
        assert!(matches!(
            gate.enter("a"),
            Err(GatewayError::Overloaded { in_flight: 3 })
        ));
        drop(held);
        assert!(gate.enter("a").is_ok());
        drop(gate.enter("a").unwrap());
        assert!(gate.by_caller.is_empty(), "idle callers are forgotten");
        assert_eq!(gate.active.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_bursting_caller_cannot_take_another_callers_share() {
        let gate = InFlight::new(8);
        let mut burst: Vec<_> = (0..8).map(|_| gate.enter("burst").unwrap()).collect();
        // Full: the quiet caller is refused now, but the burster may not take back the
        // slots it gives up while someone else is waiting for them...
        assert!(gate.enter("quiet").is_err());
        burst.truncate(4);
        let quiet: Vec<_> = (0..4).map(|_| gate.enter("quiet").unwrap()).collect();
        // ...and with both active each holds at most half.
        assert!(gate.enter("burst").is_err());
        assert!(gate.enter("quiet").is_err());
        drop(quiet);
        assert_eq!(burst.len(), 4);
        assert!(gate.enter("burst").is_ok(), "alone again, it may grow");
    }
}
