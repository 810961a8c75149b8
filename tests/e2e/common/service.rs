//! Starting the service (in this process or as child processes), talking to it, and
//! the decisions the matcher gives directly, to compare the service against.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use idauth_core::{
    ErrorCode, FingerPosition, FingerSample, IdentifierType, ResidentId, TemplateFormat,
};
use idauth_gateway::auth::{CallerKind, CredentialFile, Guard, Operation, Policy};
use idauth_gateway::cluster::local_shard_id;
use idauth_gateway::envelope::EnvelopeKeys;
use idauth_gateway::receipt::ReceiptSigner;
use idauth_gateway::service::PublicApi;
use idauth_gateway::{ClusterBuilder, MasterKeys, RemoteShard, ShardSettings, StorageKeySecret};
use idauth_match::eval::corpus::{Corpus, CorpusEntry};
use idauth_match::fusion::compare_fingers;
use idauth_match::sample::sample_template;
use idauth_match::{Matcher, MccParams};
use idauth_proto::convert;
use idauth_proto::v1;
use idauth_shard::server::ShardService;
use idauth_shard::{CpuPermits, LockoutPolicy, ShardStorage, Threshold};
use idauth_store::EngineOptions;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The binary under test.
pub fn idauth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_idauth"))
}

/// Gateway and four shards in this process, each on its own loopback port, talking
/// real gRPC to each other.
pub struct LoopbackCluster {
    /// The gateway's URL.
    pub url: String,
    /// The API key of a credential allowed everything.
    pub api_key: String,
    /// The gateway's credential file.
    pub credentials: PathBuf,
    guard: Arc<Guard>,
    stops: Vec<oneshot::Sender<()>>,
}

/// The pepper of the loopback cluster's credential hashes.
const PEPPER: [u8; 32] = [7; 32];

impl LoopbackCluster {
    /// Issues a credential with `policy` (the running gateway picks it up) and
    /// returns its API key.
    pub fn issue(&self, caller_id: &str, policy: Policy) -> String {
        let mut file = CredentialFile::load(&self.credentials).unwrap();
        let issued = file
            .issue(&PEPPER, caller_id, CallerKind::Agency, policy, 0)
            .unwrap();
        self.save(&file);
        issued.api_key
    }

    /// Revokes a caller's credential.
    pub fn revoke(&self, caller_id: &str) {
        let mut file = CredentialFile::load(&self.credentials).unwrap();
        file.revoke(caller_id, 1).unwrap();
        self.save(&file);
    }

    /// Saves the credential file and waits until the running gateway has read it.
    fn save(&self, file: &CredentialFile) {
        let seen = self.guard.loads();
        file.save(&self.credentials).unwrap();
        assert!(
            self.guard.wait_for_load(seen, Duration::from_secs(10)),
            "the gateway did not reload its credential file"
        );
    }

    /// A connection presenting `api_key`.
    pub async fn connect_as(&self, api_key: &str) -> Authenticated {
        connect(&self.url, api_key).await
    }

    /// A connection presenting the all-powerful test credential.
    pub async fn connect(&self) -> Authenticated {
        connect(&self.url, &self.api_key).await
    }
}

/// A policy allowing every operation and factor.
pub fn full_policy() -> Policy {
    Policy {
        operations: vec![
            Operation::Enrol,
            Operation::Verify,
            Operation::History,
            Operation::Operator,
        ],
        factors: idauth_core::Factor::ALL.to_vec(),
        quota_per_second: 100_000,
        expires_ms: None,
        plain_probes: true,
    }
}

/// A channel whose calls carry an API key.
pub type Authenticated = idauth_client::Authenticated;

/// Connects to `url`, presenting `api_key` on every call.
pub async fn connect(url: &str, api_key: &str) -> Authenticated {
    let credential = idauth_client::Credential::ApiKey(api_key.to_owned());
    idauth_client::Client::connect(url, &credential, None)
        .await
        .unwrap()
        .channel()
}

/// Whether a verify answer carries a valid receipt by `receipt_key`.
pub fn receipt_checks(receipt_key: &[u8], response: &v1::VerifyResponse) -> bool {
    let bytes = idauth_client::receipt::verify_bytes(response);
    idauth_client::receipt::is_signed(receipt_key, &bytes, &response.receipt)
}

impl Drop for LoopbackCluster {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}

async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Starts four shards with stores under `data` and a gateway in front of them, with
/// the failed-attempt limit off (the decision checks send many mismatching probes).
pub async fn loopback_cluster(data: &Path) -> LoopbackCluster {
    loopback_cluster_with(
        data,
        LockoutPolicy {
            max_failures: 0,
            ..LockoutPolicy::default()
        },
    )
    .await
}

/// Like [`loopback_cluster`], with a failed-attempt limit.
pub async fn loopback_cluster_with(data: &Path, lockout: LockoutPolicy) -> LoopbackCluster {
    let mut stops = Vec::new();
    let settings = ShardSettings {
        cache_records: 1000,
        cache_templates: 1000,
        lockout,
        cpu: CpuPermits::new(2),
        ..ShardSettings::new(Threshold::built_in(0.001).unwrap())
    };
    let master_keys = MasterKeys::from_json(&MasterKeys::generate_json().unwrap()).unwrap();
    let mut cluster = ClusterBuilder::new(StorageKeySecret::new([42; 32]), master_keys)
        // Generous: debug builds on a busy 2-core machine are slow, and this test is
        // about decisions, not latency.
        .verify_budget(Duration::from_secs(20))
        .write_budget(Duration::from_secs(20));
    for i in 0..4 {
        let id = local_shard_id(i);
        let storage = ShardStorage::Own {
            dir: data.join(&id),
            engine: EngineOptions::default(),
        };
        let shard = settings.open(&id, storage).unwrap();
        let (listener, addr) = listener().await;
        let (stop, stopped) = oneshot::channel::<()>();
        stops.push(stop);
        let service = ShardService::new(shard).into_server(4 << 20);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(idauth_gateway::service::incoming(listener), async {
                    let _ = stopped.await;
                }),
        );
        // These tests check decisions, not failure detection (hung_shard.rs does):
        // two cores running the whole suite can leave a healthy shard silent for the
        // 30 ms default.
        let client = RemoteShard::new(
            &format!("http://{addr}"),
            4 << 20,
            None,
            Duration::from_secs(2),
        )
        .unwrap();
        cluster = cluster.shard(id, Arc::new(client));
    }
    let gateway = cluster.gateway();
    let credentials = data.join("gateway").join("credentials.json");
    let mut file = CredentialFile::default();
    let api_key = file
        .issue(&PEPPER, "test-all", CallerKind::Operator, full_policy(), 0)
        .unwrap()
        .api_key;
    file.save(&credentials).unwrap();
    let guard = Arc::new(Guard::new(credentials.clone(), PEPPER).unwrap());
    let envelopes = EnvelopeKeys::from_json(&EnvelopeKeys::generate_json().unwrap()).unwrap();
    let receipts = Arc::new(ReceiptSigner::from_seed(&[3; 32]));
    let api = PublicApi::new(gateway, Arc::clone(&guard), Arc::new(envelopes), receipts);
    let (listener, addr) = listener().await;
    let (stop, stopped) = oneshot::channel::<()>();
    stops.push(stop);
    tokio::spawn(idauth_gateway::service::serve(api, listener, None, async {
        let _ = stopped.await;
    }));
    LoopbackCluster {
        url: format!("http://{addr}"),
        api_key,
        credentials,
        guard,
        stops,
    }
}

/// A child process that is killed when dropped.
pub struct Running {
    /// The process.
    pub child: Child,
    /// The address it printed.
    pub addr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `idauth <args>` and waits for its "listening on" line.
pub fn spawn(args: &[&str], dir: &Path) -> Running {
    spawn_with(args, dir, &[])
}

/// [`spawn`] with extra environment variables (`IDAUTH_*` settings).
pub fn spawn_with(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Running {
    let mut child = idauth()
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .env("IDAUTH_LOG", "warn")
        // The decision checks send many mismatching probes per resident.
        .env("IDAUTH_LOCKOUT_FAILURES", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("idauth: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from idauth {args:?}: {line:?}"))
        .to_owned();
    Running { child, addr }
}

/// `idauth serve` on a free loopback port over `data` and `secrets`, with `env` added;
/// started in `dir`.
pub fn serve_over(dir: &Path, data: &Path, secrets: &Path, env: &[(&str, &str)]) -> Running {
    let (data, secrets) = (data.to_str().unwrap(), secrets.to_str().unwrap());
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--secrets-dir",
        secrets,
    ];
    spawn_with(&args, dir, env)
}

/// Runs `idauth import` of impression 1 against `url`; returns its JSON summary.
pub fn import(url: &str, api_key: &str, corpus: &Path, sets: &[&str]) -> serde_json::Value {
    let mut command = idauth();
    command
        .env("IDAUTH_API_KEY", api_key)
        .args(["import", "--json", "--server", url, "--corpus"])
        .arg(corpus);
    for set in sets {
        command.args(["--set", set]);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!(
            "import printed {stdout:?}, stderr {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The resident id `idauth import` gives a corpus finger.
pub fn resident_id(set: &str, finger: &str) -> String {
    format!("{set}-{finger}").replace('_', "-")
}

/// What a verify should answer, or answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Decision MATCH.
    Match,
    /// Decision NO_MATCH with the given error code number.
    NoMatch(u32),
}

/// One probe: a corpus record presented as `claimed`.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The record used as the probe.
    pub entry: CorpusEntry,
    /// The corpus entry (impression 1) of the claimed resident.
    pub claimed: CorpusEntry,
}

impl Probe {
    /// Whether probe and claim are the same finger.
    pub fn genuine(&self) -> bool {
        self.entry.set == self.claimed.set && self.entry.finger == self.claimed.finger
    }
}

/// Every genuine probe (impressions other than 1) of the chosen sets, and `impostors`
/// impostor probes per set (impression 2 of finger f claiming finger f + k).
pub fn probes(corpus: &Corpus, sets: &[&str], impostors: usize) -> Vec<Probe> {
    let mut probes = Vec::new();
    for (set, entries) in &corpus.sets {
        if !sets.is_empty() && !sets.contains(&set.as_str()) {
            continue;
        }
        let enrolled: Vec<&CorpusEntry> = entries.iter().filter(|e| e.impression == "1").collect();
        for entry in entries.iter().filter(|e| e.impression != "1") {
            let claimed = enrolled.iter().find(|e| e.finger == entry.finger).unwrap();
            probes.push(Probe {
                entry: entry.clone(),
                claimed: (*claimed).clone(),
            });
        }
        let seconds: Vec<&CorpusEntry> = entries.iter().filter(|e| e.impression == "2").collect();
        for i in 0..impostors {
            let probe = seconds[i % seconds.len()];
            let claimed = enrolled[(i % seconds.len() + 1 + i / seconds.len()) % enrolled.len()];
            if claimed.finger != probe.finger {
                probes.push(Probe {
                    entry: probe.clone(),
                    claimed: claimed.clone(),
                });
            }
        }
    }
    probes
}

fn sample(entry: &CorpusEntry) -> FingerSample {
    let template = std::fs::read(&entry.path).unwrap();
    let format = idauth_match::parse(&template)
        .map(|r| r.format)
        .unwrap_or(TemplateFormat::Iso19794_2_2005);
    FingerSample {
        position: FingerPosition::RightIndex,
        format,
        template,
    }
}

/// The answer `idauth-match` gives directly, at the service's default threshold.
pub fn expected(probe: &Probe, matcher: &mut Matcher) -> Answer {
    let params = MccParams::default();
    let Ok(enrolled) = sample_template(&sample(&probe.claimed), &params) else {
        // Import refused the enrolment (too sparse): the resident does not exist.
        return Answer::NoMatch(400);
    };
    let probe_template = match sample_template(&sample(&probe.entry), &params) {
        Ok(template) => template,
        Err(error) => return Answer::NoMatch(u32::from(error.code().number())),
    };
    let threshold = Threshold::built_in(0.001).unwrap().score;
    let fused = compare_fingers(matcher, &[probe_template], &[enrolled]).fused;
    if fused >= threshold {
        Answer::Match
    } else {
        Answer::NoMatch(100)
    }
}

/// A verify request for a probe, declared as the right index like import does.
pub fn verify_request(probe: &Probe, txn: &str) -> v1::VerifyRequest {
    let id = ResidentId::new(
        IdentifierType::NationalId,
        &resident_id(&probe.claimed.set, &probe.claimed.finger),
    )
    .unwrap();
    v1::VerifyRequest {
        txn: txn.into(),
        timestamp: Some(now()),
        consent: true,
        resident: Some(convert::resident_id_to_wire(&id)),
        fingers: vec![v1::Finger::from(&sample(&probe.entry))],
        demographics: None,
        device_id: "test".into(),
        envelope: None,
    }
}

/// The request with its fingers moved into an envelope sealed to the service's
/// current key.
pub fn sealed(mut request: v1::VerifyRequest, key: &v1::EnvelopeKey) -> v1::VerifyRequest {
    let timestamp = request.timestamp.unwrap();
    let binding = idauth_client::envelope::Binding::new(&request.txn, &timestamp);
    let fingers = std::mem::take(&mut request.fingers);
    let key = idauth_client::EnvelopeKey::try_from(key).unwrap();
    request.envelope =
        Some(idauth_client::envelope::seal(key.key_id, &key.public, fingers, binding).unwrap());
    request
}

/// The service's current envelope key.
pub async fn envelope_key(url: &str, api_key: &str) -> v1::EnvelopeKey {
    v1::auth_client::AuthClient::new(connect(url, api_key).await)
        .service_keys(v1::ServiceKeysRequest {})
        .await
        .unwrap()
        .into_inner()
        .envelope_keys
        .remove(0)
}

/// One of the walk-through fingers (`testdata/fingers/<name>`) as a right index
/// finger in an ISO record.
pub fn walkthrough_finger(name: &str) -> v1::Finger {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/fingers")
        .join(name);
    v1::Finger {
        position: 2,
        format: v1::TemplateFormat::Iso1979422005.into(),
        template: std::fs::read(path).unwrap(),
    }
}

/// An enrolment of `resident` named `name` with Asha's first walk-through capture, in
/// clear.
pub fn walkthrough_enrolment(
    resident: Option<v1::Identifier>,
    context: v1::EnrolmentContext,
    name: String,
) -> v1::EnrolRequest {
    v1::EnrolRequest {
        context: Some(context),
        resident,
        fingers: vec![walkthrough_finger("asha-1.iso")],
        demographics: Some(v1::Demographics {
            name,
            ..v1::Demographics::default()
        }),
        envelope: None,
    }
}

/// A verify of `resident` with Asha's second walk-through capture (genuine for a
/// resident enrolled by [`walkthrough_enrolment`]), in clear, under a fresh txn.
pub fn walkthrough_verify(resident: Option<v1::Identifier>, device_id: &str) -> v1::VerifyRequest {
    v1::VerifyRequest {
        txn: fresh_txn(),
        timestamp: Some(now()),
        consent: true,
        resident,
        fingers: vec![walkthrough_finger("asha-2.iso")],
        demographics: None,
        device_id: device_id.into(),
        envelope: None,
    }
}

/// A transaction id never used before in this process.
pub fn fresh_txn() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "txn-{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// The current time as a wire timestamp.
pub fn now() -> prost_types::Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    convert::timestamp(ms)
}

/// The answer in a verify response.
pub fn answer(response: &v1::VerifyResponse) -> Answer {
    if response.decision == i32::from(v1::Decision::Match) {
        Answer::Match
    } else {
        Answer::NoMatch(response.error.as_ref().map_or(0, |e| e.code))
    }
}

/// Verifies every probe through the API (genuine ones in one VerifyBatch stream,
/// impostors one call each), all in encrypted envelopes, and checks each answer
/// against the matcher's own.
pub async fn check_decisions(url: &str, api_key: &str, probes: &[Probe]) -> (usize, usize) {
    // Transaction ids must never repeat (the shards refuse replays), also across calls.
    static RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("{stamp:x}-{run}");
    let mut client = v1::auth_client::AuthClient::new(connect(url, api_key).await);
    let mut matcher = Matcher::new(MccParams::default());
    let key = envelope_key(url, api_key).await;
    let receipt_key = v1::auth_client::AuthClient::new(connect(url, api_key).await)
        .service_keys(v1::ServiceKeysRequest {})
        .await
        .unwrap()
        .into_inner()
        .receipt_public_key;
    let (genuine, impostor): (Vec<&Probe>, Vec<&Probe>) = probes.iter().partition(|p| p.genuine());
    let requests: Vec<v1::VerifyRequest> = genuine
        .iter()
        .enumerate()
        .map(|(i, p)| sealed(verify_request(p, &format!("{prefix}-g{i}")), &key))
        .collect();
    let mut stream = client
        .verify_batch(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut index = 0;
    let mut matches = 0;
    while let Some(mut response) = stream.message().await.unwrap() {
        let probe = genuine[index];
        assert_eq!(
            response.txn,
            format!("{prefix}-g{index}"),
            "batch answers out of order"
        );
        if answer(&response) == unavailable() {
            // The batch's own txn reached the gateway: the retry needs a new one.
            let txn = format!("{prefix}-g{index}-again");
            response = verify_retrying(&mut client, probe, &txn, &key).await;
        }
        assert!(
            receipt_checks(&receipt_key, &response),
            "receipt does not check"
        );
        let want = expected(probe, &mut matcher);
        assert_eq!(
            answer(&response),
            want,
            "genuine probe {}",
            probe.entry.name()
        );
        matches += usize::from(want == Answer::Match);
        index += 1;
    }
    assert_eq!(index, genuine.len());
    for (i, probe) in impostor.iter().enumerate() {
        let response = verify_retrying(&mut client, probe, &format!("{prefix}-i{i}"), &key).await;
        assert!(receipt_checks(&receipt_key, &response));
        assert_eq!(
            answer(&response),
            expected(probe, &mut matcher),
            "impostor probe {} claiming {}",
            probe.entry.name(),
            probe.claimed.name()
        );
    }
    (matches, genuine.len())
}

/// A shard's answer that it cannot be reached (700 SHARD_UNAVAILABLE).
fn unavailable() -> Answer {
    Answer::NoMatch(u32::from(ErrorCode::ShardUnavailable.number()))
}

/// A verify of `probe`, sent again after a short wait while it is answered
/// SHARD_UNAVAILABLE, as that code's action hint says. A gateway takes a shard as down
/// after 30 ms without a health answer, which a two-core machine running the whole
/// suite can cause for a healthy shard; the decisions themselves are checked as they
/// come, and a shard that stays unreachable still fails the test.
async fn verify_retrying(
    client: &mut v1::auth_client::AuthClient<Authenticated>,
    probe: &Probe,
    txn: &str,
    key: &v1::EnvelopeKey,
) -> v1::VerifyResponse {
    for attempt in 0..5 {
        // A resent txn would be a replay: each attempt has its own.
        let txn = if attempt == 0 {
            txn.to_owned()
        } else {
            format!("{txn}-r{attempt}")
        };
        let sent = client
            .verify(sealed(verify_request(probe, &txn), key))
            .await;
        let unavailable = match &sent {
            Ok(response) => answer(response.get_ref()) == unavailable(),
            Err(status) => idauth_proto::status::from_status(status) == ErrorCode::ShardUnavailable,
        };
        if !unavailable {
            let response = sent.unwrap().into_inner();
            assert_eq!(response.txn, txn);
            return response;
        }
        eprintln!("note: {txn} answered SHARD_UNAVAILABLE; retrying after 100 ms");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{txn}: the shard stayed unavailable over five attempts");
}

/// Residents per shard, from Operator.ShardStatus.
pub async fn residents_per_shard(url: &str, api_key: &str) -> Vec<u64> {
    let mut operator = v1::operator_client::OperatorClient::new(connect(url, api_key).await);
    let status = operator
        .shard_status(v1::ShardStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    status
        .shards
        .iter()
        .map(|s| {
            assert!(s.reachable, "shard {} unreachable", s.shard_id);
            s.residents
        })
        .collect()
}

/// A scratch folder for a test's data.
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// The path of a corpus.
pub fn open_corpus(path: &Path) -> Corpus {
    Corpus::open(path).unwrap()
}
