//! The crash harness: the service as child processes under a load of enrolments,
//! updates, locks and unlocks, SIGKILLed at random moments (at least 20 times) and
//! restarted after each, then the history checked against what was acknowledged:
//! every acknowledged write present exactly as acknowledged (resent, it is answered as
//! a replay with the same version and reference), every write that was in flight at a
//! kill either wholly applied or absent (resent, it is a replay or applied now, and each
//! resident's versions still run 1, 2, 3 ... without a gap), the final lock, name and
//! fingers of every resident as the acknowledged history says, and `idauth audit
//! verify` clean.
//!
//! The deployment (and through it the storage engine) is a parameter: [`Deployment`]
//! is implemented for `idauth serve` on sled and for shard processes on sled behind a
//! gateway; the RADOS engine adds its own. The seed is printed; `IDAUTH_CRASH_SEED`
//! replays a run, `IDAUTH_CRASH_KILLS` changes the number of kills.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use idauth_core::{ErrorCode, IdentifierType, ResidentId};
use idauth_proto::convert;
use idauth_proto::status::from_status;
use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;
use idauth_proto::v1::enrolment_client::EnrolmentClient;
use idauth_proto::v1::resident_client::ResidentClient;

use crate::common::service::{Authenticated, fresh_txn, idauth, now, scratch, walkthrough_finger};

mod deployments;

use deployments::{Deployment, Serve, ShardProcesses};

/// SplitMix64: a seeded sequence, so that a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One write the load sends, kept whole so it can be resent byte for byte.
#[derive(Clone)]
enum WriteCall {
    Enrol(v1::EnrolRequest),
    Biometrics(v1::UpdateBiometricsRequest),
    Demographics(v1::UpdateDemographicsRequest),
    Lock(v1::LockRequest),
    Unlock(v1::UnlockRequest),
}

/// What the service answered to a write.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ack {
    version: u64,
    reference: String,
    replayed: bool,
}

/// A resident's state as its acknowledged writes leave it.
#[derive(Debug, Clone, Default)]
struct Expected {
    enrolled: bool,
    locked: bool,
    name: String,
    template: &'static str,
}

/// The two templates a resident's fingers alternate between (different people).
const TEMPLATES: [&str; 2] = ["asha-1.iso", "bala-1.iso"];
/// The probe of the same finger as each template.
fn probe_of(template: &str) -> &'static str {
    if template == TEMPLATES[0] {
        "asha-2.iso"
    } else {
        "bala-2.iso"
    }
}

fn identifier(n: usize) -> Option<v1::Identifier> {
    let id = ResidentId::new(IdentifierType::NationalId, &format!("crash-{n}")).unwrap();
    Some(convert::resident_id_to_wire(&id))
}

fn context(request_id: String) -> Option<v1::EnrolmentContext> {
    Some(v1::EnrolmentContext {
        centre_id: "crash-centre".into(),
        request_id,
        timestamp: Some(now()),
        consent: true,
    })
}

impl WriteCall {
    /// The next write for resident `n` in state `state`, and the state it leaves.
    fn next(n: usize, state: &Expected, rng: &mut Rng, serial: u64) -> (Self, Expected) {
        let request_id = format!("crash-{n}-{serial}");
        let resident = identifier(n);
        let mut after = state.clone();
        let write = if !state.enrolled {
            after.enrolled = true;
            after.name = format!("Resident {n} v0");
            after.template = TEMPLATES[n % 2];
            WriteCall::Enrol(v1::EnrolRequest {
                context: context(request_id),
                resident,
                fingers: vec![walkthrough_finger(after.template)],
                demographics: Some(v1::Demographics {
                    name: after.name.clone(),
                    ..v1::Demographics::default()
                }),
                envelope: None,
            })
        } else {
            match rng.below(3) {
                0 => {
                    after.name = format!("Resident {n} v{serial}");
                    WriteCall::Demographics(v1::UpdateDemographicsRequest {
                        context: context(request_id),
                        resident,
                        demographics: Some(v1::Demographics {
                            name: after.name.clone(),
                            ..v1::Demographics::default()
                        }),
                    })
                }
                1 => {
                    after.template = if state.template == TEMPLATES[0] {
                        TEMPLATES[1]
                    } else {
                        TEMPLATES[0]
                    };
                    WriteCall::Biometrics(v1::UpdateBiometricsRequest {
                        context: context(request_id),
                        resident,
                        fingers: vec![walkthrough_finger(after.template)],
                        envelope: None,
                    })
                }
                _ if state.locked => {
                    after.locked = false;
                    WriteCall::Unlock(v1::UnlockRequest {
                        context: context(request_id),
                        resident,
                        unlock_seconds: 0,
                    })
                }
                _ => {
                    after.locked = true;
                    WriteCall::Lock(v1::LockRequest {
                        context: context(request_id),
                        resident,
                    })
                }
            }
        };
        (write, after)
    }

    /// The write in a few words (its request id names it; templates stay out of logs).
    fn describe(&self) -> String {
        let (name, context) = match self {
            WriteCall::Enrol(r) => ("enrol", &r.context),
            WriteCall::Biometrics(r) => ("update biometrics", &r.context),
            WriteCall::Demographics(r) => ("update demographics", &r.context),
            WriteCall::Lock(r) => ("lock", &r.context),
            WriteCall::Unlock(r) => ("unlock", &r.context),
        };
        let request_id = context.as_ref().map_or("", |c| c.request_id.as_str());
        format!("{name} {request_id}")
    }

    fn kind(&self) -> usize {
        match self {
            WriteCall::Enrol(_) => 0,
            WriteCall::Biometrics(_) => 1,
            WriteCall::Demographics(_) => 2,
            WriteCall::Lock(_) => 3,
            WriteCall::Unlock(_) => 4,
        }
    }

    async fn send(&self, channel: Authenticated) -> Result<Ack, tonic::Status> {
        let deadline = Duration::from_secs(3);
        let mut enrolment = EnrolmentClient::new(channel.clone());
        let mut resident = ResidentClient::new(channel);
        macro_rules! call {
            ($client:expr, $method:ident, $request:expr) => {{
                let mut request = tonic::Request::new($request.clone());
                request.set_timeout(deadline);
                let r = $client.$method(request).await?.into_inner();
                Ack {
                    version: r.version,
                    reference: r.reference,
                    replayed: r.replayed,
                }
            }};
        }
        Ok(match self {
            WriteCall::Enrol(r) => call!(enrolment, enrol, r),
            WriteCall::Biometrics(r) => call!(enrolment, update_biometrics, r),
            WriteCall::Demographics(r) => call!(enrolment, update_demographics, r),
            WriteCall::Lock(r) => call!(resident, lock_biometrics, r),
            WriteCall::Unlock(r) => call!(resident, unlock_biometrics, r),
        })
    }
}

/// Whether a failed call is what a crash causes (the client retries it unchanged).
fn crash_shaped(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable
            | tonic::Code::Cancelled
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Unknown
    ) || from_status(status) == ErrorCode::Overloaded
}

/// `write` resent once the restarted service answers: a crash-shaped answer (a shard
/// process the gateway has not yet seen come back) is retried for up to 10 s, as its
/// hint says; any other failure fails the test.
async fn settled(write: &WriteCall, channel: &Authenticated) -> Ack {
    let mut tries = 0;
    loop {
        match write.send(channel.clone()).await {
            Ok(ack) => return ack,
            Err(status) if crash_shaped(&status) && tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!(
                "{} resent after the last restart: {status:?}",
                write.describe()
            ),
        }
    }
}

/// Where the load finds the service (the URL changes when `serve` restarts).
struct Target {
    url: RwLock<String>,
    api_key: String,
}

impl Target {
    async fn channel(&self) -> Option<Authenticated> {
        let url = self.url.read().unwrap().clone();
        let credential = idauth_client::Credential::ApiKey(self.api_key.clone());
        let client = idauth_client::Client::connect(&url, &credential, None).await;
        client.ok().map(|client| client.channel())
    }
}

/// One worker's acknowledged history: per resident, each write with its answer.
type History = Vec<(usize, WriteCall, Ack)>;

#[derive(Default)]
struct Counts {
    retried: AtomicU64,
    applied_before_ack: AtomicU64,
}

/// Sends `write` until it is answered, through kills; any answer other than a
/// crash-shaped failure fails the test.
async fn until_answered(target: &Target, write: &WriteCall, counts: &Counts) -> Ack {
    let mut retried = false;
    loop {
        if let Some(channel) = target.channel().await {
            match write.send(channel).await {
                Ok(ack) => {
                    if retried {
                        counts.retried.fetch_add(1, Ordering::Relaxed);
                        if ack.replayed {
                            counts.applied_before_ack.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    return ack;
                }
                Err(status) if crash_shaped(&status) => {}
                Err(status) => panic!("{} refused: {status:?}", write.describe()),
            }
        }
        retried = true;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One worker: writes to its own residents, one at a time, until `stop`.
async fn worker(
    target: Arc<Target>,
    residents: Vec<usize>,
    seed: u64,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) -> (History, Vec<(usize, Expected)>) {
    let mut rng = Rng(seed);
    let mut states: Vec<(usize, Expected)> = residents
        .iter()
        .map(|&n| (n, Expected::default()))
        .collect();
    let mut history = History::new();
    let mut serial = 0;
    while !stop.load(Ordering::Relaxed) {
        let slot = rng.below(states.len() as u64) as usize;
        let (n, state) = &states[slot];
        serial += 1;
        let (write, after) = WriteCall::next(*n, state, &mut rng, serial);
        let ack = until_answered(&target, &write, &counts).await;
        history.push((*n, write, ack));
        states[slot].1 = after;
    }
    (history, states)
}

/// What a verify of resident `n` answers: its decision and error code.
async fn verify(
    channel: &Authenticated,
    n: usize,
    probe: Option<&str>,
    name: Option<&str>,
) -> (i32, u32) {
    let request = v1::VerifyRequest {
        txn: fresh_txn(),
        timestamp: Some(now()),
        consent: true,
        resident: identifier(n),
        fingers: probe.map(walkthrough_finger).into_iter().collect(),
        demographics: name.map(|name| v1::DemographicQuery {
            name: name.into(),
            ..v1::DemographicQuery::default()
        }),
        device_id: "crash".into(),
        envelope: None,
    };
    let response = AuthClient::new(channel.clone())
        .verify(request)
        .await
        .unwrap()
        .into_inner();
    (response.decision, response.error.map_or(0, |e| e.code))
}

fn kills_wanted() -> usize {
    std::env::var("IDAUTH_CRASH_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20)
}

fn seed() -> u64 {
    std::env::var("IDAUTH_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// Runs the harness on `deployment`.
fn crash_history(mut deployment: impl Deployment + 'static) {
    let seed = seed();
    let kills = kills_wanted();
    // Written straight to the test's stderr, past libtest's capture: CI's log shows
    // the seed of a failing run and the counts of a passing one.
    let mut log = std::io::stderr();
    writeln!(
        log,
        "crash harness [{}]: seed {seed} (IDAUTH_CRASH_SEED={seed} replays it), {kills} kills",
        deployment.name()
    )
    .unwrap();
    let started = Instant::now();
    let mut rng = Rng(seed);
    let url = deployment.start();
    let target = Arc::new(Target {
        url: RwLock::new(url),
        api_key: deployment.api_key(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    const WORKERS: usize = 6;
    const PER_WORKER: usize = 4;
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            runtime.spawn(worker(
                target.clone(),
                (w * PER_WORKER..(w + 1) * PER_WORKER).collect(),
                rng.next(),
                stop.clone(),
                counts.clone(),
            ))
        })
        .collect();
    for _ in 0..kills {
        std::thread::sleep(Duration::from_millis(100 + rng.below(400)));
        let url = deployment.kill_and_restart(rng.next());
        *target.url.write().unwrap() = url;
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let results: Vec<(History, Vec<(usize, Expected)>)> = runtime.block_on(async {
        let mut results = Vec::new();
        for worker in workers {
            results.push(worker.await.unwrap());
        }
        results
    });
    let history: History = results.iter().flat_map(|(h, _)| h.clone()).collect();
    let states: Vec<(usize, Expected)> = results.into_iter().flat_map(|(_, s)| s).collect();

    // Each resident's acknowledged versions run 1, 2, 3 ...: nothing applied twice,
    // nothing half-applied then applied again.
    for (n, _) in &states {
        let versions: Vec<u64> = history
            .iter()
            .filter(|(m, _, _)| m == n)
            .map(|(_, _, ack)| ack.version)
            .collect();
        let wanted: Vec<u64> = (1..=versions.len() as u64).collect();
        assert_eq!(versions, wanted, "resident {n}: versions out of sequence");
    }

    // Every acknowledged write, resent, is a replay of exactly what was acknowledged.
    let channel = runtime
        .block_on(target.channel())
        .expect("the service is up");
    let mut by_kind = [0usize; 5];
    runtime.block_on(async {
        for (_, write, ack) in &history {
            let again = settled(write, &channel).await;
            assert!(again.replayed, "{} not found again", write.describe());
            assert_eq!(
                (again.version, &again.reference),
                (ack.version, &ack.reference),
                "{} present but not as acknowledged",
                write.describe()
            );
            by_kind[write.kind()] += 1;
        }
        // And each resident is as its last acknowledged write left it.
        for (n, state) in &states {
            if !state.enrolled {
                continue;
            }
            let (decision, code) = verify(&channel, *n, Some(probe_of(state.template)), None).await;
            if state.locked {
                assert_eq!(
                    code,
                    u32::from(ErrorCode::BiometricsLocked.number()),
                    "resident {n}: lock lost"
                );
            } else {
                assert_eq!(
                    (decision, code),
                    (v1::Decision::Match as i32, 0),
                    "resident {n}: fingers not as last acknowledged"
                );
                let other = probe_of(if state.template == TEMPLATES[0] {
                    TEMPLATES[1]
                } else {
                    TEMPLATES[0]
                });
                let (decision, _) = verify(&channel, *n, Some(other), None).await;
                assert_eq!(
                    decision,
                    v1::Decision::NoMatch as i32,
                    "resident {n}: old fingers"
                );
            }
            let (decision, _) = verify(&channel, *n, None, Some(&state.name)).await;
            assert_eq!(
                decision,
                v1::Decision::Match as i32,
                "resident {n}: name not as last acknowledged"
            );
        }
    });
    drop(runtime);

    // The last crash, then the audit chains checked offline.
    deployment.kill_all();
    let output = idauth()
        .args(["audit", "verify", "--data-dir"])
        .arg(deployment.data_dir())
        .envs(deployment.env())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "audit verify after the crashes: {report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let audited: u64 = report
        .lines()
        .filter_map(|line| line.split_once(": audit chain intact, "))
        .filter_map(|(_, rest)| rest.split(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(
        audited >= history.len() as u64,
        "{audited} audit entries for {} acknowledged writes",
        history.len()
    );
    let residents = states.iter().filter(|(_, s)| s.enrolled).count();
    let locked = states.iter().filter(|(_, s)| s.locked).count();
    writeln!(
        log,
        "crash harness [{}]: seed {seed}: kills {kills}, acknowledged writes checked {} \
         (enrol {}, update biometrics {}, update demographics {}, lock {}, unlock {}), \
         in flight at a kill and resent {} (of which already applied {}), residents {residents} \
         ({locked} locked at the end, each checked), audit entries {audited} intact, lost 0, \
         in {:.1} s",
        deployment.name(),
        history.len(),
        by_kind[0],
        by_kind[1],
        by_kind[2],
        by_kind[3],
        by_kind[4],
        counts.retried.load(Ordering::Relaxed),
        counts.applied_before_ack.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    )
    .unwrap();
}

#[test]
fn serve_on_sled_loses_no_acknowledged_write_across_sigkills() {
    let dir = scratch();
    crash_history(Serve::on_sled(dir.path()));
}

/// On the RADOS engine, the kills alternate between the service and one of the
/// cluster's OSDs (restarted after each). It kills OSDs of the test cluster, so it runs
/// with the Ceph fault tests (`IDAUTH_CEPH_FAULTS=1`).
#[cfg(feature = "rados")]
#[test]
fn serve_on_rados_loses_no_acknowledged_write_across_sigkills_of_the_service_and_osds() {
    let Some(conf) = crate::ceph_faults::faults_cluster() else {
        return;
    };
    let dir = scratch();
    crash_history(deployments::ServeOnRados::new(dir.path(), &conf));
}

#[test]
fn shard_processes_on_sled_lose_no_acknowledged_write_across_sigkills() {
    let dir = scratch();
    crash_history(ShardProcesses::new(dir.path()));
}
