//! Failed-attempt limit: after `max_failures` biometric mismatches within `window`,
//! a resident's biometrics are refused for `duration` (counting from the last
//! failure). Kept in the shard's memory: a restart forgets recent failures, which
//! costs an attacker at most one more window.

use std::collections::VecDeque;

use dashmap::DashMap;
use idauth_core::StorageKey;

/// The limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures that trigger a lockout (0 disables the limit).
    pub max_failures: usize,
    /// The sliding window failures are counted in, milliseconds.
    pub window_ms: i64,
    /// How long the lockout lasts after the last failure, milliseconds.
    pub duration_ms: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window_ms: 10 * 60 * 1000,
            duration_ms: 15 * 60 * 1000,
        }
    }
}

/// Recent failures per resident.
#[derive(Debug)]
pub(crate) struct Failures {
    policy: LockoutPolicy,
    recent: DashMap<StorageKey, VecDeque<i64>>,
}

impl Failures {
    pub(crate) fn new(policy: LockoutPolicy) -> Self {
        Self {
            policy,
            recent: DashMap::new(),
        }
    }

    /// Whether the resident is locked out at `now_ms`.
    pub(crate) fn locked_out(&self, key: &StorageKey, now_ms: i64) -> bool {
        if self.policy.max_failures == 0 {
            return false;
        }
        let Some(times) = self.recent.get(key) else {
            return false;
        };
        let last = times.back().copied().unwrap_or(i64::MIN);
        let expired = now_ms >= last.saturating_add(self.policy.duration_ms);
        let locked = times.len() >= self.policy.max_failures && !expired;
        drop(times);
        if expired {
            self.recent.remove(key);
        }
        locked
    }

    /// Records a failure at `now_ms`.
    pub(crate) fn fail(&self, key: &StorageKey, now_ms: i64) {
        if self.policy.max_failures == 0 {
            return;
        }
        let mut times = self.recent.entry(*key).or_default();
        while times
            .front()
            .is_some_and(|&t| t <= now_ms - self.policy.window_ms)
        {
            times.pop_front();
        }
        times.push_back(now_ms);
        while times.len() > self.policy.max_failures {
            times.pop_front();
        }
    }

    /// Forgets a resident's failures (after a match).
    pub(crate) fn clear(&self, key: &StorageKey) {
        self.recent.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_n_failures_in_the_window_and_lifts_after_the_duration() {
        let failures = Failures::new(LockoutPolicy {
            max_failures: 3,
            window_ms: 1000,
            duration_ms: 5000,
        });
        let key = StorageKey([1; 32]);
        failures.fail(&key, 0);
        failures.fail(&key, 100);
        assert!(!failures.locked_out(&key, 200));
        // The first failure has left the window: still two.
        failures.fail(&key, 1050);
        assert!(!failures.locked_out(&key, 1060));
        failures.fail(&key, 1080);
        assert!(failures.locked_out(&key, 1200));
        assert!(failures.locked_out(&key, 6079));
        assert!(!failures.locked_out(&key, 6080));
        assert!(
            !failures.locked_out(&key, 6081),
            "counts reset after a lockout"
        );
    }
}
