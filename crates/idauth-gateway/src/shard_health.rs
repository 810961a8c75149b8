//! Whether a remote shard answers, watched all the time, so that a dead or hung shard
//! costs its residents a fast retryable SHARD_UNAVAILABLE instead of their whole
//! latency budget, and no one else anything.
//!
//! A probe (the standard gRPC health check) leaves every [`PROBE_EVERY`]; each waits at
//! most [`PROBE_TIMEOUT`], so a hung shard (SIGSTOP, a stuck disk, a partition that
//! drops packets) does not hold probes back. The circuit opens once no probe has been
//! answered for `down_after` ([`DOWN_AFTER`] by default): calls then fail at once, and the calls already waiting
//! on that shard are answered too. It closes on the first answer again. A connection
//! refused is no answer, and a process that answers "unimplemented" is alive (a shard
//! built before the health service).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// How often a probe leaves.
pub const PROBE_EVERY: Duration = Duration::from_millis(10);
/// How long one probe waits for its answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(25);
/// How long without any answer before the shard is taken as down, by default
/// (`shard_down_after_ms`). A host whose CPUs are oversubscribed can leave a healthy
/// shard silent that long; such a deployment (or a test suite sharing two cores)
/// raises it.
pub const DOWN_AFTER: Duration = Duration::from_millis(30);

/// One shard's circuit: closed (calls go through) while it answers probes.
#[derive(Debug)]
pub struct ShardHealth {
    address: String,
    down_after: Duration,
    base: Instant,
    /// Microseconds after `base` of the last answered probe.
    last_answer_us: AtomicU64,
    up: AtomicBool,
    changes: watch::Sender<bool>,
}

impl ShardHealth {
    /// Starts watching the shard behind `channel` (within a Tokio runtime), taking it
    /// as down after `down_after` without an answer. The watch ends by itself once the
    /// returned handle and its clones are dropped.
    pub fn watch(address: &str, channel: Channel, down_after: Duration) -> Arc<Self> {
        let (changes, _) = watch::channel(true);
        let health = Arc::new(Self {
            address: address.to_owned(),
            down_after,
            base: Instant::now(),
            last_answer_us: AtomicU64::new(0),
            up: AtomicBool::new(true),
            changes,
        });
        tokio::spawn(probe_loop(
            Arc::downgrade(&health),
            HealthClient::new(channel),
        ));
        health
    }

    /// Whether calls go through now.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Completes when the shard is taken as down (at once if it is now).
    pub async fn down(&self) {
        let mut changes = self.changes.subscribe();
        let _ = changes.wait_for(|up| !up).await;
    }

    fn now_us(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }

    fn answered(&self) {
        self.last_answer_us.store(self.now_us(), Ordering::Release);
        if !self.up.swap(true, Ordering::AcqRel) {
            self.changes.send_replace(true);
            tracing::info!(shard = %self.address, "shard answers again; calls go through");
        }
    }

    fn judge(&self) {
        let silent = self
            .now_us()
            .saturating_sub(self.last_answer_us.load(Ordering::Acquire));
        if silent > self.down_after.as_micros() as u64 && self.up.swap(false, Ordering::AcqRel) {
            self.changes.send_replace(false);
            tracing::warn!(
                shard = %self.address,
                silent_ms = silent / 1000,
                "shard does not answer health probes; its residents get SHARD_UNAVAILABLE"
            );
        }
    }
}

async fn probe_loop(health: Weak<ShardHealth>, client: HealthClient<Channel>) {
    let mut ticks = tokio::time::interval(PROBE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let Some(health) = health.upgrade() else {
            return;
        };
        let mut client = client.clone();
        let probed = Arc::clone(&health);
        tokio::spawn(async move {
            let mut request = tonic::Request::new(HealthCheckRequest::default());
            request.set_timeout(PROBE_TIMEOUT);
            let answer = tokio::time::timeout(PROBE_TIMEOUT, client.check(request)).await;
            let alive = match answer {
                Ok(Ok(response)) => response.into_inner().status == ServingStatus::Serving as i32,
                Ok(Err(status)) => status.code() == tonic::Code::Unimplemented,
                Err(_) => false,
            };
            if alive {
                probed.answered();
            }
        });
        health.judge();
    }
}
