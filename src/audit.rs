//! `idauth audit verify`.

use anyhow::Context;

use crate::cli::{AuditCommand, AuditVerifyArgs};
use crate::config::Config;

/// Runs an audit subcommand; the process exit code.
pub fn run(command: &AuditCommand) -> anyhow::Result<i32> {
    match command {
        AuditCommand::Verify(args) => verify(args),
    }
}

fn verify(args: &AuditVerifyArgs) -> anyhow::Result<i32> {
    let config = Config::load(args.server.config.as_deref(), args.server.overrides())?;
    let mut shards = args.shards.clone();
    if shards.is_empty() {
        let entries = std::fs::read_dir(&config.data_dir)
            .with_context(|| format!("reading {}", config.data_dir.display()))?;
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with("shard-") {
                shards.push(name);
            }
        }
        shards.sort();
    }
    anyhow::ensure!(
        !shards.is_empty(),
        "no shard stores in {}",
        config.data_dir.display()
    );
    let mut broken = 0;
    for shard in &shards {
        let dir = config.data_dir.join(shard);
        anyhow::ensure!(dir.is_dir(), "{} is not a shard store", dir.display());
        let db = sled::Config::new().path(&dir).open().with_context(|| {
            format!(
                "opening {} (stop the shard first: its store is locked while it runs)",
                dir.display()
            )
        })?;
        match idauth_store::verify_chain(&db)? {
            Ok(entries) => println!("{shard}: audit chain intact, {entries} entries"),
            Err(chain_break) => {
                broken += 1;
                println!(
                    "{shard}: audit chain BROKEN at entry {}: {}",
                    chain_break.seq, chain_break.reason
                );
            }
        }
    }
    Ok(if broken == 0 { 0 } else { 1 })
}
