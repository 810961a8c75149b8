//! Gateway and four shards on loopback (separate ports, real gRPC) in this process: a
//! corpus imported through the API, then every genuine probe and a sample of impostor
//! probes verified through the API, each decision checked against the one
//! `idauth-match` gives directly at the same threshold.

use crate::common::corpus::corpus;
use crate::common::service::{
    check_decisions, import, loopback_cluster, open_corpus, probes, residents_per_shard, scratch,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_through_the_api_equals_the_matchers() {
    let dir = scratch();
    let corpus_path = corpus(dir.path());
    let cluster = loopback_cluster(&dir.path().join("data")).await;

    let (url, key) = (cluster.url.clone(), cluster.api_key.clone());
    let path = corpus_path.clone();
    let summary = tokio::task::spawn_blocking(move || import(&url, &key, &path, &[]))
        .await
        .unwrap();
    let corpus = open_corpus(&corpus_path);
    let fingers: usize = corpus
        .sets
        .values()
        .map(|entries| entries.iter().filter(|e| e.impression == "1").count())
        .sum();
    assert_eq!(summary["entries"], fingers, "{summary}");
    for refused in summary["refused"].as_array().unwrap() {
        assert_eq!(refused["error"]["name"], "TEMPLATE_TOO_SPARSE", "{summary}");
    }
    let enrolled = summary["enrolled"].as_u64().unwrap();
    let per_shard = residents_per_shard(&cluster.url, &cluster.api_key).await;
    assert_eq!(per_shard.iter().sum::<u64>(), enrolled);
    assert!(
        per_shard.iter().all(|&n| n > 0),
        "residents per shard {per_shard:?}"
    );

    let probes = probes(&corpus, &[], 30);
    let (matches, genuine) = check_decisions(&cluster.url, &cluster.api_key, &probes).await;
    eprintln!(
        "{} probes checked; {matches} of {genuine} genuine probes matched; residents per shard {per_shard:?}",
        probes.len()
    );
    assert!(
        matches > genuine / 2,
        "the service matched too few genuine probes"
    );
}
