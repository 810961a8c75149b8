//! The load loops: closed (a fixed number of requests in flight) and open (requests
//! started on a schedule, latency counted from the scheduled start so that a slow
//! server cannot hide its queue), with a live progress line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use idauth_client::{Client, ClientError, ServiceKeys};
use idauth_match::synthetic::SeededRng;
use idauth_match::synthetic::population::Population;
use idauth_proto::status::code_of;
use idauth_proto::v1;
use indicatif::{ProgressBar, ProgressStyle};

use super::report::{Answer, Stats, shard_of};
use super::workload::{self, Fingers, Kind, Probe};

/// What every request of a phase is drawn from.
pub struct Target {
    /// The connection to the gateway.
    pub client: Client,
    /// The service's envelope and receipt keys.
    pub keys: ServiceKeys,
    /// The population `idauth synth` enrolled.
    pub population: Population,
    /// Probes drawn from it before the run (building a synthetic finger costs more
    /// than a verify, and the client shares the machine with the service).
    pub probes: Vec<(Kind, Probe)>,
    /// Fraction of requests that enrol.
    pub enrol_fraction: f64,
    /// Fingers in clear.
    pub plain: bool,
    /// The next population index to enrol.
    pub next_enrol: AtomicU64,
    /// `Some(payload)`: the phase is the echo baseline.
    pub echo: Option<Vec<u8>>,
}

/// When a phase ends.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Closed-loop concurrency.
    pub concurrency: usize,
    /// Open-loop rate, requests per second.
    pub rate: Option<f64>,
    /// Wall-clock limit.
    pub duration: Duration,
    /// Request limit.
    pub requests: Option<u64>,
}

/// `count` probes, a fraction `impostor_fraction` of them by impostors.
pub fn probe_pool(
    population: &Population,
    residents: u64,
    fingers: Fingers,
    impostor_fraction: f64,
    count: usize,
) -> Vec<(Kind, Probe)> {
    let mut rng = SeededRng::new(0x5eed);
    (0..count)
        .map(|_| {
            let impostor = f64::from(rng.unit()) < impostor_fraction;
            let kind = if impostor {
                Kind::Impostor
            } else {
                Kind::Genuine
            };
            (
                kind,
                workload::probe(population, residents, fingers, impostor, &mut rng),
            )
        })
        .collect()
}

fn kind_of(target: &Target, rng: &mut SeededRng) -> Kind {
    if target.echo.is_some() {
        Kind::Echo
    } else if f64::from(rng.unit()) < target.enrol_fraction {
        Kind::Enrol
    } else {
        Kind::Genuine
    }
}

fn refused(error: &ClientError) -> Answer {
    let name = match error {
        ClientError::Throttled { .. } => "THROTTLED_BY_CLIENT",
        _ => error.code().map_or("INTERNAL", |code| code.name()),
    };
    Answer {
        shard: None,
        matched: None,
        error: Some(name),
        retry_hinted: error.retry_after().is_some(),
    }
}

/// Builds and sends one request; returns its kind, answer and time on the wire (from
/// `scheduled` when given, else from the send).
async fn one(
    target: &Target,
    rng: &mut SeededRng,
    scheduled: Option<Instant>,
) -> (Kind, Duration, Answer) {
    let kind = kind_of(target, rng);
    let client = &target.client;
    let build_failed = |error: anyhow::Error| {
        tracing::warn!(%error, "request not built");
        Answer {
            shard: None,
            matched: None,
            error: Some("CLIENT_BUILD_FAILED"),
            retry_hinted: false,
        }
    };
    let (kind, started, answer) = match kind {
        Kind::Echo => {
            let payload = target.echo.clone().unwrap_or_default();
            let started = Instant::now();
            let answer = match client.echo(payload).await {
                Ok(_) => Answer {
                    shard: None,
                    matched: None,
                    error: None,
                    retry_hinted: false,
                },
                Err(error) => refused(&error),
            };
            (kind, started, answer)
        }
        Kind::Enrol => {
            let index = target.next_enrol.fetch_add(1, Ordering::Relaxed);
            match workload::enrol_request(
                &target.population,
                index,
                10,
                "bench",
                &target.keys,
                target.plain,
            ) {
                Err(error) => (kind, Instant::now(), build_failed(error)),
                Ok(request) => {
                    let started = Instant::now();
                    let answer = match client.enrol(request).await {
                        Ok(response) => Answer {
                            shard: shard_of(&response.reference),
                            matched: None,
                            error: None,
                            retry_hinted: false,
                        },
                        Err(error) => refused(&error),
                    };
                    (kind, started, answer)
                }
            }
        }
        Kind::Genuine | Kind::Impostor => {
            let (kind, probe) =
                target.probes[(rng.next_u64() % target.probes.len() as u64) as usize].clone();
            match workload::verify_request(probe, &target.keys, target.plain) {
                Err(error) => (kind, Instant::now(), build_failed(error)),
                Ok(request) => {
                    let started = Instant::now();
                    let answer = match client.verify(request).await {
                        Ok(response) => Answer {
                            shard: shard_of(&response.reference),
                            matched: Some(response.decision == i32::from(v1::Decision::Match)),
                            error: response.error.as_ref().and_then(code_of).map(|c| c.name()),
                            retry_hinted: false,
                        },
                        Err(error) => refused(&error),
                    };
                    (kind, started, answer)
                }
            }
        }
    };
    let from = scheduled.unwrap_or(started);
    (kind, from.elapsed(), answer)
}

fn progress(label: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} {elapsed} {msg}").expect("valid template"),
    );
    bar.set_prefix(label.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Runs one phase; its figures and how long it took.
pub async fn run(target: Arc<Target>, plan: Plan, label: &str) -> (Stats, Duration) {
    let stats = Arc::new(Mutex::new(Stats::default()));
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + plan.duration;
    let bar = progress(label);
    let ticker = {
        let (stats, bar) = (Arc::clone(&stats), bar.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let (done, errors) = {
                    let stats = stats.lock().expect("stats lock poisoned");
                    (stats.count(), stats.error_count())
                };
                let rate = done as f64 / started.elapsed().as_secs_f64();
                bar.set_message(format!("{done} requests  {rate:.0}/s  {errors} errors"));
            }
        })
    };
    // Claims the next request slot; false once the plan is spent.
    let claim = {
        let issued = Arc::clone(&issued);
        move || {
            let n = issued.fetch_add(1, Ordering::Relaxed);
            Instant::now() < deadline && plan.requests.is_none_or(|limit| n < limit)
        }
    };
    let seed = started.elapsed().as_nanos() as u64 ^ std::process::id() as u64;
    match plan.rate {
        None => {
            let workers: Vec<_> = (0..plan.concurrency.max(1))
                .map(|worker| {
                    let (target, stats, claim) =
                        (Arc::clone(&target), Arc::clone(&stats), claim.clone());
                    tokio::spawn(async move {
                        let mut rng = SeededRng::new(
                            seed ^ (worker as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                        );
                        while claim() {
                            let (kind, latency, answer) = one(&target, &mut rng, None).await;
                            stats
                                .lock()
                                .expect("stats lock poisoned")
                                .record(kind, latency, answer);
                        }
                    })
                })
                .collect();
            for worker in workers {
                let _ = worker.await;
            }
        }
        Some(rate) => {
            let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
            // Bounds memory if the server stalls; beyond it requests wait their turn,
            // and that wait counts in their latency.
            let in_flight = Arc::new(tokio::sync::Semaphore::new(16_384));
            let mut tasks = tokio::task::JoinSet::new();
            let mut n: u64 = 0;
            while claim() {
                let scheduled = started + interval.mul_f64(n as f64);
                tokio::time::sleep_until(scheduled.into()).await;
                let permit = Arc::clone(&in_flight)
                    .acquire_owned()
                    .await
                    .expect("semaphore open");
                let (target, stats) = (Arc::clone(&target), Arc::clone(&stats));
                tasks.spawn(async move {
                    let mut rng = SeededRng::new(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                    let (kind, latency, answer) = one(&target, &mut rng, Some(scheduled)).await;
                    stats
                        .lock()
                        .expect("stats lock poisoned")
                        .record(kind, latency, answer);
                    drop(permit);
                });
                n += 1;
            }
            while tasks.join_next().await.is_some() {}
        }
    }
    let elapsed = started.elapsed();
    ticker.abort();
    bar.finish_and_clear();
    let stats = Arc::try_unwrap(stats)
        .map(|m| m.into_inner().expect("stats lock poisoned"))
        .unwrap_or_else(|shared| std::mem::take(&mut *shared.lock().expect("stats lock poisoned")));
    (stats, elapsed)
}
