//! Adaptive throttling in the client (Google SRE book, "Handling Overload"): when the
//! service has been refusing calls as OVERLOADED, the client refuses a share of new
//! calls itself, before they leave the machine.
//!
//! Why: a refusal is cheap for the service but not free (on a two-vCPU machine each
//! costs about 100-190 us of its CPU, mostly kernel wake-ups), so callers that go on
//! sending at three times capacity take a third of its CPU away from the calls it
//! admits. Refusing locally costs the service nothing.
//!
//! Over the last `window`, with `requests` the calls the caller asked for (refused
//! locally or not) and `accepts` those the service did not refuse as OVERLOADED, a new
//! call is refused locally with probability `max(0, (requests - k * accepts) /
//! (requests + 1))`. Under capacity every call is accepted and nothing is refused;
//! past it, about `k` times what the service accepts still reaches it, so the client
//! notices when capacity returns.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Buckets the window is cut into: old counts fall out a tenth of the window at a time.
const BUCKETS: usize = 10;

/// The retry delay a local refusal asks for until the service has sent one.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_millis(100);

/// How eagerly the client refuses calls itself once the service refuses them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleSettings {
    /// Calls sent per call the service accepts before local refusals begin. The SRE
    /// book advises 2; nearer 1 refuses sooner and wastes less of the service's CPU,
    /// but notices returning capacity more slowly. 1.5 by default: the better of the
    /// two in `scripts/overload.sh` runs (docs/reliability.md, "Overload").
    pub k: f64,
    /// How far back the counts reach.
    pub window: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            k: 1.5,
            window: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which tenth of a window since `Throttle::started` these counts belong to.
    slot: u64,
    requests: u64,
    accepts: u64,
}

#[derive(Debug)]
struct Counts {
    buckets: [Bucket; BUCKETS],
    retry_after: Duration,
}

/// The client's running counts and its decision.
#[derive(Debug)]
pub(crate) struct Throttle {
    settings: ThrottleSettings,
    started: Instant,
    counts: Mutex<Counts>,
    draws: AtomicU64,
}

impl Throttle {
    pub(crate) fn new(settings: ThrottleSettings) -> Self {
        Self {
            settings,
            started: Instant::now(),
            counts: Mutex::new(Counts {
                buckets: [Bucket::default(); BUCKETS],
                retry_after: DEFAULT_RETRY_AFTER,
            }),
            draws: AtomicU64::new(0),
        }
    }

    fn slot(&self, now: Instant) -> u64 {
        let tenth = (self.settings.window / BUCKETS as u32).max(Duration::from_millis(1));
        (now.duration_since(self.started).as_nanos() / tenth.as_nanos()) as u64
    }

    /// Decides on a call the caller asks for: `Err(retry_after)` when the client
    /// refuses it itself (counted then as a request not accepted).
    pub(crate) fn admit(&self, now: Instant) -> Result<(), Duration> {
        let slot = self.slot(now);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (requests, accepts) = totals(&counts.buckets, slot);
        let excess = requests as f64 - self.settings.k * accepts as f64;
        let refuse = excess / (requests as f64 + 1.0);
        if refuse > 0.0 && self.draw() < refuse {
            current(&mut counts.buckets, slot).requests += 1;
            Err(counts.retry_after)
        } else {
            Ok(())
        }
    }

    /// Counts the service's answer to an admitted call: `overloaded` with the retry
    /// delay it asked for, if it refused the call as over capacity. Sent calls count
    /// as requests only once answered, so that calls still in flight do not look like
    /// refusals.
    pub(crate) fn record(&self, now: Instant, overloaded: Option<Option<Duration>>) {
        let slot = self.slot(now);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = current(&mut counts.buckets, slot);
        bucket.requests += 1;
        match overloaded {
            None => bucket.accepts += 1,
            Some(Some(hint)) => counts.retry_after = hint,
            Some(None) => {}
        }
    }

    /// A uniform draw in [0, 1): the decision needs no secrecy, only independence
    /// between calls, so a splitmix64 of a counter is enough and costs no syscall.
    fn draw(&self) -> f64 {
        let mut z = self
            .draws
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The bucket of `slot`, emptied first if it still holds counts of an older window.
fn current(buckets: &mut [Bucket; BUCKETS], slot: u64) -> &mut Bucket {
    let bucket = &mut buckets[(slot % BUCKETS as u64) as usize];
    if bucket.slot != slot {
        *bucket = Bucket {
            slot,
            ..Bucket::default()
        };
    }
    bucket
}

/// Requests and accepts over the window that ends in `slot`.
fn totals(buckets: &[Bucket; BUCKETS], slot: u64) -> (u64, u64) {
    buckets
        .iter()
        .filter(|b| b.slot + BUCKETS as u64 > slot)
        .fold((0, 0), |(r, a), b| (r + b.requests, a + b.accepts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(k: f64) -> ThrottleSettings {
        ThrottleSettings {
            k,
            window: Duration::from_secs(10),
        }
    }

    /// The caller asks for `rate` calls a second for `seconds`, evenly spaced; the
    /// service accepts at most `capacity` a second and refuses the rest as OVERLOADED.
    /// Returns (sent on, accepted).
    fn drive(throttle: &Throttle, rate: u64, capacity: u64, seconds: u64) -> (u64, u64) {
        let start = Instant::now();
        let (mut sent, mut accepted, mut this_second) = (0, 0, (0, 0));
        for i in 0..rate * seconds {
            let now = start + Duration::from_micros(i * 1_000_000 / rate);
            let second = i / rate;
            if this_second.0 != second {
                this_second = (second, 0);
            }
            if throttle.admit(now).is_ok() {
                sent += 1;
                if this_second.1 < capacity {
                    this_second.1 += 1;
                    accepted += 1;
                    throttle.record(now, None);
                } else {
                    throttle.record(now, Some(Some(Duration::from_millis(250))));
                }
            }
        }
        (sent, accepted)
    }

    #[test]
    fn a_service_that_accepts_everything_is_never_throttled() {
        let throttle = Throttle::new(settings(1.1));
        assert_eq!(drive(&throttle, 2_000, 2_000, 10), (20_000, 20_000));
    }

    #[test]
    fn past_capacity_about_k_times_the_accepted_calls_are_sent() {
        for k in [1.1, 2.0] {
            let throttle = Throttle::new(settings(k));
            let (sent, accepted) = drive(&throttle, 3_000, 1_000, 30);
            let ratio = sent as f64 / accepted as f64;
            assert!(
                (k * 0.9..k * 1.1).contains(&ratio),
                "k {k}: sent / accepted {ratio}"
            );
            // The service stays busy: throttling does not starve it.
            assert!(accepted > 29_000, "k {k}: accepted {accepted}");
        }
    }

    #[test]
    fn local_refusals_carry_the_services_last_hint_and_old_counts_expire() {
        let throttle = Throttle::new(settings(1.0));
        let start = Instant::now();
        for i in 0..1000 {
            let now = start + Duration::from_millis(i);
            if throttle.admit(now).is_ok() {
                throttle.record(now, Some(Some(Duration::from_millis(250))));
            }
        }
        let refused = (0..100)
            .filter_map(|i| {
                throttle
                    .admit(start + Duration::from_millis(1000 + i))
                    .err()
            })
            .collect::<Vec<_>>();
        assert!(refused.len() > 90, "{} of 100 refused", refused.len());
        assert!(refused.iter().all(|d| *d == Duration::from_millis(250)));
        // Eleven seconds later the refusals have left the window: calls go through.
        let later = start + Duration::from_secs(12);
        assert!((0..100).all(|i| throttle.admit(later + Duration::from_millis(i)).is_ok()));
    }

    #[test]
    fn draws_are_spread_over_the_unit_interval() {
        let throttle = Throttle::new(settings(2.0));
        let draws: Vec<f64> = (0..10_000).map(|_| throttle.draw()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let below_quarter = draws.iter().filter(|d| **d < 0.25).count();
        assert!((2_200..2_800).contains(&below_quarter), "{below_quarter}");
    }
}
