//! `idauth store copy`: a sled data directory's shards into the RADOS pool, with a
//! progress bar per shard and a count at the end checked against the source.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use idauth_store::rados::{CopyCounts, copy_shard};
use indicatif::{ProgressBar, ProgressStyle};

use crate::audit::shard_stores;
use crate::cli::StoreCopyArgs;
use crate::config::Config;

/// Copies; exit 0 when every shard's pool holds as many residents as its source.
pub fn copy(args: &StoreCopyArgs) -> anyhow::Result<i32> {
    let config = Config::load(args.server.config.as_deref(), args.server.overrides())?;
    let mut stores = shard_stores(&config.data_dir)?;
    if !args.shards.is_empty() {
        for wanted in &args.shards {
            anyhow::ensure!(
                stores.iter().any(|s| &s.shard == wanted),
                "no store of shard {wanted} in {}",
                config.data_dir.display()
            );
        }
        stores.retain(|s| args.shards.contains(&s.shard));
    }
    anyhow::ensure!(
        !stores.is_empty(),
        "no shard stores in {}",
        config.data_dir.display()
    );
    let cluster = crate::rados::connect(&config)?;
    let timeout = Duration::from_millis(config.rados_op_timeout_ms).max(Duration::from_secs(5));
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    if args.shards.is_empty() {
        // The whole deployment: the pool records its shards (or, copied into before,
        // must already name the same ones), so that `serve` with another number of
        // shards refuses to start rather than miss residents.
        let ids: Vec<String> = stores.iter().map(|s| s.shard.clone()).collect();
        runtime.block_on(crate::rados::check_shards(&config, &cluster, &ids))?;
    }
    let started = Instant::now();
    let (mut total, mut mismatched) = (CopyCounts::default(), 0);
    for store in &stores {
        let namespace = crate::rados::options(&config, &store.shard).namespace;
        let pool = cluster
            .pool(&config.rados_pool, &namespace)
            .with_context(|| format!("opening pool {}", config.rados_pool))?;
        // A copy writes records and the chain: like a service, it takes the shard over
        // and fences whichever process held it (a service left running on the target
        // namespace stops writing there).
        let taken = idauth_store::rados::take_over(&pool, &store.shard)
            .with_context(|| format!("taking shard {} over in the pool", store.shard))?;
        if taken.fenced > 0 {
            eprintln!(
                "{}: fenced {} client(s) that held the shard in the pool",
                store.shard, taken.fenced
            );
        }
        idauth_store::upgrade_store(&store.dir, &store.db, &store.prefix)
            .with_context(|| format!("opening the audit log of shard {}", store.shard))?;
        let items: u64 = ["residents", "requests"]
            .iter()
            .map(|name| {
                store
                    .db
                    .open_tree(format!("{}{name}", store.prefix))
                    .map_or(0, |t| t.len() as u64)
            })
            .sum::<u64>()
            + idauth_store::audit_entries(&store.db, &store.prefix)
                .with_context(|| format!("reading shard {}'s audit log", store.shard))?
            + idauth_store::replay_entries(&store.dir, &store.prefix)
                .with_context(|| format!("reading shard {}'s replay index", store.shard))?;
        let bar = Arc::new(ProgressBar::new(items));
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({eta} left)")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(store.shard.clone());
        let progress = {
            let bar = Arc::clone(&bar);
            move |step: &'static str, done: u64| {
                bar.set_message(step);
                bar.inc(done);
            }
        };
        let counts = runtime
            .block_on(copy_shard(
                &store.dir,
                &store.db,
                &store.prefix,
                &pool,
                &store.shard,
                timeout,
                &progress,
            ))
            .with_context(|| format!("copying shard {}", store.shard))?;
        bar.finish_and_clear();
        let in_pool = pool.list("r.").context("listing the pool's records")?.len() as u64;
        println!(
            "{}: {} residents ({} copied, {} already in the pool), {} of {} idempotency entries, \
             {} of {} replay entries, {} of {} audit entries copied, {} history entries set; \
             the pool holds {in_pool} residents",
            store.shard,
            counts.residents,
            counts.residents_copied,
            counts.residents - counts.residents_copied,
            counts.requests.1,
            counts.requests.0,
            counts.txns.1,
            counts.txns.0,
            counts.audit_entries.1,
            counts.audit_entries.0,
            counts.history,
        );
        if in_pool != counts.residents {
            mismatched += 1;
            println!(
                "{}: the pool holds {in_pool} residents, the source {}",
                store.shard, counts.residents
            );
        }
        total.residents += counts.residents;
        total.residents_copied += counts.residents_copied;
        total.requests.1 += counts.requests.1;
        total.txns.1 += counts.txns.1;
        total.audit_entries.1 += counts.audit_entries.1;
    }
    if total.nothing_copied() {
        println!(
            "nothing to copy: the pool already holds all {} residents of {} and their entries",
            total.residents,
            config.data_dir.display()
        );
    } else {
        println!(
            "copied {} of {} residents in {:.1} s to pool {} (namespace {}.<shard>)",
            total.residents_copied,
            total.residents,
            started.elapsed().as_secs_f64(),
            config.rados_pool,
            config.rados_namespace
        );
    }
    Ok(if mismatched == 0 { 0 } else { 1 })
}
