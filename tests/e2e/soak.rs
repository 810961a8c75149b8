//! The soak: `idauth serve` under a mixed load (enrol, verify, lock and unlock,
//! history, VerifyBatch) for `IDAUTH_SOAK_SECONDS` (60 in CI; 600 for the figures in
//! docs/reliability.md), its resident memory, open files and threads sampled every 10 s
//! from /proc. After a warm-up they must stay flat: no leak of memory, descriptors or
//! threads, and no call failing. `IDAUTH_SOAK_PLOT=path.svg` draws the samples.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use idauth_core::{IdentifierType, ResidentId};
use idauth_proto::convert;
use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;
use idauth_proto::v1::enrolment_client::EnrolmentClient;
use idauth_proto::v1::resident_client::ResidentClient;
use plotters::prelude::*;

use crate::common::service::{
    Authenticated, connect, now, scratch, serve_over, walkthrough_enrolment, walkthrough_verify,
};

const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// One reading of the server process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_s: f64,
    rss_mb: f64,
    open_files: usize,
    threads: usize,
    calls: u64,
}

fn sample(pid: u32, started: Instant, calls: u64) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /proc/{pid}/status"))
    };
    Sample {
        at_s: started.elapsed().as_secs_f64(),
        rss_mb: field("VmRSS:") as f64 / 1024.0,
        open_files: std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count(),
        threads: field("Threads:") as usize,
        calls,
    }
}

/// The server's threads by name, digits dropped ("sled-io-3" counts as "sled-io-"),
/// so a failure says which pool grew.
fn threads_by_name(pid: u32) -> std::collections::BTreeMap<String, usize> {
    let mut names = std::collections::BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let comm = std::fs::read_to_string(task.unwrap().path().join("comm")).unwrap_or_default();
        let name: String = comm
            .trim()
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect();
        *names.entry(name).or_insert(0) += 1;
    }
    names
}

fn resident(n: u64) -> Option<v1::Identifier> {
    let id = ResidentId::new(IdentifierType::NationalId, &format!("soak-{n}")).unwrap();
    Some(convert::resident_id_to_wire(&id))
}

fn context(request_id: String) -> Option<v1::EnrolmentContext> {
    Some(v1::EnrolmentContext {
        centre_id: "soak".into(),
        request_id,
        timestamp: Some(now()),
        consent: true,
    })
}

fn verify(n: u64) -> v1::VerifyRequest {
    walkthrough_verify(resident(n), "soak")
}

/// Residents each worker keeps: the load cycles over them, so the data stops growing
/// once they are all enrolled and memory has nothing legitimate to grow with.
const RESIDENTS_PER_WORKER: u64 = 50;

/// One round of the mix on resident `n`; every call must succeed.
async fn round(channel: &Authenticated, n: u64, serial: u64) -> u64 {
    let mut enrolment = EnrolmentClient::new(channel.clone());
    let mut residents = ResidentClient::new(channel.clone());
    let mut auth = AuthClient::new(channel.clone());
    let mut calls = 0;
    if serial < RESIDENTS_PER_WORKER {
        let context = context(format!("soak-enrol-{n}")).expect("a context");
        enrolment
            .enrol(walkthrough_enrolment(
                resident(n),
                context,
                format!("Soak {n}"),
            ))
            .await
            .unwrap();
        calls += 1;
    }
    for _ in 0..4 {
        let answer = auth.verify(verify(n)).await.unwrap().into_inner();
        assert_eq!(
            answer.decision,
            v1::Decision::Match as i32,
            "{:?}",
            answer.error
        );
        calls += 1;
    }
    residents
        .lock_biometrics(v1::LockRequest {
            context: context(format!("soak-lock-{n}-{serial}")),
            resident: resident(n),
        })
        .await
        .unwrap();
    residents
        .unlock_biometrics(v1::UnlockRequest {
            context: context(format!("soak-unlock-{n}-{serial}")),
            resident: resident(n),
            unlock_seconds: 0,
        })
        .await
        .unwrap();
    residents
        .auth_history(v1::AuthHistoryRequest {
            resident: resident(n),
            page_size: 20,
            page_token: String::new(),
            token: String::new(),
        })
        .await
        .unwrap();
    let batch: Vec<v1::VerifyRequest> = (0..8).map(|_| verify(n)).collect();
    let mut answers = auth
        .verify_batch(tokio_stream::iter(batch))
        .await
        .unwrap()
        .into_inner();
    let mut answered = 0;
    while let Some(answer) = answers.message().await.unwrap() {
        assert_eq!(
            answer.decision,
            v1::Decision::Match as i32,
            "{:?}",
            answer.error
        );
        answered += 1;
    }
    assert_eq!(answered, 8);
    calls + 3 + 8
}

/// One plotted quantity of a sample.
type Reading = Box<dyn Fn(&Sample) -> f64>;

fn plot(path: &Path, samples: &[Sample]) {
    let root = SVGBackend::new(path, (720, 540)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let panels = root.split_evenly((3, 1));
    let end = samples.last().map_or(1.0, |s| s.at_s).max(1.0);
    let series: [(&str, Reading); 3] = [
        ("resident memory (MB)", Box::new(|s| s.rss_mb)),
        ("open files", Box::new(|s| s.open_files as f64)),
        ("threads", Box::new(|s| s.threads as f64)),
    ];
    for (panel, (name, value)) in panels.iter().zip(series) {
        let top = samples.iter().map(&value).fold(1.0, f64::max) * 1.25;
        let mut chart = ChartBuilder::on(panel)
            .caption(name, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..end, 0.0..top)
            .unwrap();
        chart
            .configure_mesh()
            .x_desc("seconds")
            .x_labels(8)
            .y_labels(4)
            .draw()
            .unwrap();
        chart
            .draw_series(LineSeries::new(
                samples.iter().map(|s| (s.at_s, value(s))),
                BLUE.stroke_width(2),
            ))
            .unwrap();
    }
    root.present().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_load_leaves_memory_files_and_threads_flat() {
    let seconds: u64 = std::env::var("IDAUTH_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let dir = scratch();
    let (data, secrets) = (dir.path().join("data"), dir.path().join("secrets"));
    let server = serve_over(dir.path(), &data, &secrets, &[]);
    let pid = server.child.id();
    let url = format!("http://{}", server.addr);
    let key = std::fs::read_to_string(secrets.join("dev-credential.key")).unwrap();
    let key = key.trim().to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..4u64)
        .map(|worker| {
            let (url, key, stop, calls) = (url.clone(), key.clone(), stop.clone(), calls.clone());
            tokio::spawn(async move {
                let channel = connect(&url, &key).await;
                let mut serial = 0;
                while !stop.load(Ordering::Relaxed) {
                    let n = worker * RESIDENTS_PER_WORKER + serial % RESIDENTS_PER_WORKER;
                    let done = round(&channel, n, serial).await;
                    calls.fetch_add(done, Ordering::Relaxed);
                    serial += 1;
                }
            })
        })
        .collect();

    let mut samples = vec![sample(pid, started, 0)];
    let mut log = std::io::stderr();
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(SAMPLE_EVERY).await;
        let reading = sample(pid, started, calls.load(Ordering::Relaxed));
        // Past libtest's capture, so CI's log shows the samples.
        writeln!(
            log,
            "soak {:>5.0} s: rss {:>6.1} MB, open files {:>3}, threads {:>3}, calls {}",
            reading.at_s, reading.rss_mb, reading.open_files, reading.threads, reading.calls
        )
        .unwrap();
        samples.push(reading);
    }
    let threads_at_end = threads_by_name(pid);
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    if let Ok(path) = std::env::var("IDAUTH_SOAK_PLOT") {
        plot(Path::new(&path), &samples);
    }
    drop(server);
    // What the load stored: sled keeps a page table in memory that grows with it.
    let db = sled::open(data.join("shards")).unwrap();
    let entries: usize = db
        .tree_names()
        .iter()
        .map(|name| db.open_tree(name).unwrap().len())
        .sum();

    // Flat after a warm-up of 20 s: memory within 10 % + 16 MB of its reading then,
    // descriptors and threads within a few of theirs (connections and pool threads
    // come and go).
    let warm = samples
        .iter()
        .find(|s| s.at_s >= 20.0)
        .copied()
        .expect("a sample after the warm-up");
    let last = *samples.last().unwrap();
    let peak_rss = samples
        .iter()
        .filter(|s| s.at_s >= warm.at_s)
        .map(|s| s.rss_mb)
        .fold(0.0, f64::max);
    let rate = last.calls as f64 / last.at_s;
    let calls_after = (last.calls - warm.calls).max(1) as f64;
    let grown_bytes = (last.rss_mb - warm.rss_mb).max(0.0) * 1024.0 * 1024.0;
    let per_call = grown_bytes / calls_after;
    let per_entry = grown_bytes / (entries as f64 * calls_after / last.calls as f64);
    writeln!(
        log,
        "soak: {seconds} s, {} calls ({rate:.0}/s, none failed); after warm-up rss {:.1} -> {:.1} MB \
         (peak {peak_rss:.1}): {per_call:.0} bytes per call, {per_entry:.0} per stored entry \
         ({entries} entries in sled at the end); open files {} -> {}, threads {} -> {}",
        last.calls, warm.rss_mb, last.rss_mb, warm.open_files, last.open_files, warm.threads, last.threads
    )
    .unwrap();
    // Memory is not quite flat on sled: this mix still grows about 40-50 bytes per call
    // once its caches are warm (100 before the audit log and replay index left sled's
    // trees; docs/reliability.md, "Soak"; a verify-only load is flat).
    // Allowed: 16 MiB for caches still filling after the warm-up (sled's page cache,
    // the template cache; a fixed amount, so a short run on a busy machine sees it
    // spread over few calls), then 256 bytes per call. The template cache keyed by
    // record version grew about 1 KB per call; a leak of a request per call is more.
    let allowed = 16.0 * 1024.0 * 1024.0 + 256.0 * calls_after;
    assert!(
        grown_bytes <= allowed,
        "memory grew from {:.1} MB to {peak_rss:.1} MB: {per_call:.0} bytes per call over {calls_after} calls",
        warm.rss_mb
    );
    assert!(
        last.open_files <= warm.open_files + 8,
        "open files grew from {} to {}",
        warm.open_files,
        last.open_files
    );
    assert!(
        last.threads <= warm.threads + 4,
        "threads grew from {} to {}: {threads_at_end:?} at the end",
        warm.threads,
        last.threads
    );
}
