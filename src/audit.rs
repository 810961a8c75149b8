//! `idauth audit verify`.

use std::path::Path;

use anyhow::Context;

use crate::cli::{AuditCommand, AuditVerifyArgs};
use crate::config::Config;
use crate::server::SHARED_ENGINE_DIR;

/// Runs an audit subcommand; the process exit code.
pub fn run(command: &AuditCommand) -> anyhow::Result<i32> {
    match command {
        AuditCommand::Verify(args) => verify(args),
    }
}

/// One shard's store: its database (opened once, shared by the shards in it) and
/// tree prefix.
pub(crate) struct ShardStore {
    /// The shard id.
    pub shard: String,
    /// The directory of its engine.
    pub dir: std::path::PathBuf,
    /// Its sled database.
    pub db: sled::Db,
    /// Its trees' name prefix.
    pub prefix: String,
}

fn open(dir: &Path) -> anyhow::Result<sled::Db> {
    sled::Config::new().path(dir).open().with_context(|| {
        format!(
            "opening {} (stop the service first: its store is locked while it runs)",
            dir.display()
        )
    })
}

/// The shard stores in a data directory: those of `idauth serve`'s shared engine and
/// those of shard processes (a `shard-*` folder each).
pub(crate) fn shard_stores(data_dir: &Path) -> anyhow::Result<Vec<ShardStore>> {
    let mut stores = Vec::new();
    let shared = data_dir.join(SHARED_ENGINE_DIR);
    if shared.is_dir() {
        let db = open(&shared)?;
        for name in db.tree_names() {
            let name = String::from_utf8_lossy(&name).into_owned();
            if let Some(prefix) = name.strip_suffix("residents").filter(|p| p.ends_with('/')) {
                stores.push(ShardStore {
                    shard: prefix.trim_end_matches('/').to_owned(),
                    dir: shared.clone(),
                    db: db.clone(),
                    prefix: prefix.to_owned(),
                });
            }
        }
    }
    let entries =
        std::fs::read_dir(data_dir).with_context(|| format!("reading {}", data_dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("shard-") && entry.path().is_dir() {
            stores.push(ShardStore {
                shard: name,
                dir: entry.path(),
                db: open(&entry.path())?,
                prefix: String::new(),
            });
        }
    }
    stores.sort_by(|a, b| a.shard.cmp(&b.shard));
    Ok(stores)
}

fn verify(args: &AuditVerifyArgs) -> anyhow::Result<i32> {
    let config = Config::load(args.server.config.as_deref(), args.server.overrides())?;
    if config.store == crate::config::StoreKind::Rados {
        return verify_rados(&config, &args.shards);
    }
    let mut stores = shard_stores(&config.data_dir)?;
    for wanted in &args.shards {
        anyhow::ensure!(
            stores.iter().any(|store| &store.shard == wanted),
            "no store of shard {wanted} in {}",
            config.data_dir.display()
        );
    }
    if !args.shards.is_empty() {
        stores.retain(|store| args.shards.contains(&store.shard));
    }
    anyhow::ensure!(
        !stores.is_empty(),
        "no shard stores in {}",
        config.data_dir.display()
    );
    let mut broken = 0;
    for store in &stores {
        // Converts a log of earlier versions and recovers an interrupted write; a log
        // that cannot open is still walked, to name where it breaks.
        if let Err(error) = idauth_store::upgrade_store(&store.dir, &store.db, &store.prefix) {
            println!("{}: the audit log does not open: {error}", store.shard);
        }
        match idauth_store::verify_chain(&store.dir, &store.db, &store.prefix)? {
            Ok(entries) => println!("{}: audit chain intact, {entries} entries", store.shard),
            Err(chain_break) => {
                broken += 1;
                println!(
                    "{}: audit chain BROKEN at entry {}: {}",
                    store.shard, chain_break.seq, chain_break.reason
                );
            }
        }
    }
    Ok(if broken == 0 { 0 } else { 1 })
}

/// The chains of the shards on the RADOS pool: those named, else `shard-0` ..
/// `shard-{shards-1}` of the configuration.
#[cfg(feature = "rados")]
fn verify_rados(config: &Config, shards: &[String]) -> anyhow::Result<i32> {
    let ids: Vec<String> = if shards.is_empty() {
        (0..config.shards)
            .map(idauth_gateway::local_shard_id)
            .collect()
    } else {
        shards.to_vec()
    };
    let cluster = crate::rados::connect(config)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let timeout = std::time::Duration::from_millis(config.rados_op_timeout_ms)
        .max(std::time::Duration::from_secs(5));
    let mut broken = 0;
    for id in &ids {
        let namespace = crate::rados::options(config, id).namespace;
        let pool = cluster.pool(&config.rados_pool, &namespace)?;
        match runtime.block_on(idauth_store::rados::verify_chain(&pool, id, timeout))? {
            Ok(entries) => println!("{id}: audit chain intact, {entries} entries (RADOS)"),
            Err(chain_break) => {
                broken += 1;
                println!(
                    "{id}: audit chain BROKEN at entry {}: {}",
                    chain_break.seq, chain_break.reason
                );
            }
        }
    }
    Ok(if broken == 0 { 0 } else { 1 })
}

#[cfg(not(feature = "rados"))]
fn verify_rados(_: &Config, _: &[String]) -> anyhow::Result<i32> {
    // Config::check refuses `store = "rados"` in a build without the engine.
    anyhow::bail!("this build has no RADOS engine (cargo build --features rados)")
}
