//! `idauth serve`, `idauth shard` and `idauth gateway`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use idauth_gateway::auth::Guard;
use idauth_gateway::envelope::EnvelopeKeys;
use idauth_gateway::receipt::ReceiptSigner;
use idauth_gateway::service::PublicApi;
use idauth_gateway::service::TRANSPORT_MESSAGE_LIMIT;
use idauth_gateway::{
    ClusterBuilder, Gateway, MasterKeys, RemoteShard, ShardSettings, StorageKeySecret,
};
use idauth_shard::server::ShardService;
use idauth_shard::{Engine, LockoutPolicy, ShardStorage};
use tokio::net::TcpListener;

use crate::cli::{GatewayArgs, ServeArgs, ShardArgs};
use crate::config::{Config, StoreKind};
use crate::metrics_http::Source;
use crate::tls::ClientCerts;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // The blocking pool runs the CPU permits' tasks (one per core), sled calls
        // blocked in place (two per core) and their workers' hand-offs (one per core),
        // and one-off work (a RADOS listing at start). Tokio's default of 512 let the
        // pool keep every thread that ever overlapped another for its 10 s keep-alive,
        // so the thread count crept with load instead of staying flat.
        .max_blocking_threads(4 * cores + 4)
        .thread_name("idauth")
        .build()
        .context("starting the async runtime")
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}

/// What this process opens its shards with, from the configuration.
fn shard_settings(config: &Config) -> anyhow::Result<ShardSettings> {
    Ok(ShardSettings {
        cache_records: config.cache_records,
        cache_templates: config.cache_templates,
        lockout: LockoutPolicy {
            max_failures: config.lockout_failures,
            window_ms: config.lockout_window_s as i64 * 1000,
            duration_ms: config.lockout_s as i64 * 1000,
        },
        ..ShardSettings::new(config.threshold()?)
    })
}

/// The storage engine the in-process shards of `idauth serve` share, in
/// `<data_dir>/shards`, each shard's trees under its id.
fn shared_engine(config: &Config) -> anyhow::Result<Arc<Engine>> {
    let dir = config.data_dir.join(SHARED_ENGINE_DIR);
    // A store per shard folder is how a shard process keeps its data; such folders
    // here mean residents this engine would not see, so refuse rather than serve
    // without them.
    if let Ok(entries) = std::fs::read_dir(&config.data_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            anyhow::ensure!(
                !(name.starts_with("shard-") && entry.path().is_dir()),
                "{} holds a shard store of its own ({name}); `idauth serve` keeps all its \
                 shards in {}: run that shard with `idauth shard`, or use another data directory",
                config.data_dir.display(),
                dir.display()
            );
        }
    }
    Engine::open(&dir, config.engine_options())
        .with_context(|| format!("opening the storage engine in {}", dir.display()))
}

/// The stores of `idauth serve`'s in-process shards: on one shared sled engine, or on
/// the RADOS pool.
async fn shard_storages(config: &Config) -> anyhow::Result<Vec<ShardStorage>> {
    let ids: Vec<String> = (0..config.shards)
        .map(idauth_gateway::local_shard_id)
        .collect();
    match config.store {
        StoreKind::Sled => {
            let engine = shared_engine(config)?;
            Ok(ids
                .iter()
                .map(|_| ShardStorage::Shared(Arc::clone(&engine)))
                .collect())
        }
        StoreKind::Rados => rados_storages(config, &ids, true).await,
    }
}

#[cfg(feature = "rados")]
async fn rados_storages(
    config: &Config,
    ids: &[String],
    whole: bool,
) -> anyhow::Result<Vec<ShardStorage>> {
    crate::rados::storages(config, ids, whole).await
}

#[cfg(not(feature = "rados"))]
async fn rados_storages(_: &Config, _: &[String], _: bool) -> anyhow::Result<Vec<ShardStorage>> {
    // Config::check refuses `store = "rados"` in a build without the engine.
    anyhow::bail!("this build has no RADOS engine (cargo build --features rados)")
}

/// Where the shards' stores are, for messages.
fn store_place(config: &Config) -> String {
    match config.store {
        StoreKind::Sled => format!("sled in {}", config.data_dir.display()),
        StoreKind::Rados => format!(
            "RADOS pool {} via {}, namespace {}",
            config.rados_pool,
            config.rados_conf.display(),
            config.rados_namespace
        ),
    }
}

/// The folder of `idauth serve`'s shared storage engine, inside the data directory.
pub const SHARED_ENGINE_DIR: &str = "shards";

/// The storage-key secret, created on first start.
fn storage_key_secret(config: &Config) -> anyhow::Result<StorageKeySecret> {
    let bytes = crate::secrets::load_or_create(&config.storage_key_path(), "storage-key secret")?;
    Ok(StorageKeySecret::new(bytes))
}

/// The master keys: `IDAUTH_MASTER_KEYS`, else the key file (created on first start).
fn master_keys(config: &Config) -> anyhow::Result<MasterKeys> {
    if let Ok(json) = std::env::var("IDAUTH_MASTER_KEYS") {
        return MasterKeys::from_json(&json)
            .map_err(|e| anyhow::anyhow!("IDAUTH_MASTER_KEYS: {e}"));
    }
    let path = config.master_key_path();
    if !path.exists() {
        let json = MasterKeys::generate_json().map_err(anyhow::Error::msg)?;
        crate::secrets::write_private(&path, &json)?;
        eprintln!(
            "idauth: created master key file {} (keep it safe: records cannot be opened without it)",
            path.display()
        );
    }
    let json =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    MasterKeys::from_json(&json).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The envelope keys (created on first start).
fn envelope_keys(config: &Config) -> anyhow::Result<Arc<EnvelopeKeys>> {
    let path = config.secrets_dir().join("envelope-keys.json");
    if !path.exists() {
        let json = EnvelopeKeys::generate_json().map_err(anyhow::Error::msg)?;
        crate::secrets::write_private(&path, &json)?;
        eprintln!("idauth: created envelope key file {}", path.display());
    }
    let json =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Arc::new(
        EnvelopeKeys::from_json(&json).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
    ))
}

/// The public API over a gateway.
fn public_api(config: &Config, gateway: Arc<Gateway>) -> anyhow::Result<PublicApi> {
    let seed = crate::secrets::load_or_create(
        &config.secrets_dir().join("receipt-key.hex"),
        "receipt signing key",
    )?;
    let receipts = Arc::new(ReceiptSigner::from_seed(&seed));
    let api = PublicApi::new(gateway, guard(config)?, envelope_keys(config)?, receipts);
    Ok(match config.max_in_flight {
        0 => api,
        limit => api.with_in_flight_limit(limit),
    })
}

/// The guard over the credential file.
fn guard(config: &Config) -> anyhow::Result<Arc<Guard>> {
    let pepper = crate::keys::pepper(config)?;
    let path = config.credentials_path();
    Ok(Arc::new(
        Guard::new(path.clone(), pepper).with_context(|| format!("reading {}", path.display()))?,
    ))
}

/// Starts the Prometheus endpoint when `metrics_listen` is set.
async fn metrics(config: &Config, source: Source) -> anyhow::Result<()> {
    if config.metrics_listen.is_empty() {
        return Ok(());
    }
    crate::metrics_http::serve(&config.metrics_listen, source).await
}

async fn bind(address: &str) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("listening on {address}"))?;
    // Tests and scripts read this line to learn the port when 0 was asked for.
    println!("idauth: listening on {}", listener.local_addr()?);
    Ok(listener)
}

/// The cluster's keys and budgets from the configuration, before shards are added.
fn cluster(config: &Config) -> anyhow::Result<ClusterBuilder> {
    Ok(
        ClusterBuilder::new(storage_key_secret(config)?, master_keys(config)?)
            .verify_budget(Duration::from_millis(config.verify_budget_ms))
            .write_budget(Duration::from_millis(config.write_budget_ms))
            .limits(config.limits()),
    )
}

/// `idauth serve`: the gateway and `shards` in-process shards.
pub fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let mut flags = args.server.overrides();
    if let Some(shards) = args.shards {
        flags.insert("shards".into(), shards.into());
    }
    let config = Config::load(args.server.config.as_deref(), flags)?;
    runtime()?.block_on(async {
        let storages = shard_storages(&config).await?;
        let gateway = cluster(&config)?
            .local_shards_on(storages, &shard_settings(&config)?)
            .with_context(|| format!("opening the shards ({})", store_place(&config)))?
            .gateway();
        crate::keys::ensure_dev_credential(&config)?;
        let api = public_api(&config, gateway)?;
        let listener = bind(&config.listen).await?;
        metrics(&config, Source::Gateway(api.clone())).await?;
        eprintln!(
            "idauth: {} shards ({}), kernel {}, threshold {:.4} (target FMR {})",
            config.shards,
            store_place(&config),
            idauth_match::Kernel::active().name(),
            config.threshold()?.score,
            config.target_fmr
        );
        let tls = crate::tls::server(&config, ClientCerts::Optional)?;
        idauth_gateway::service::serve(api, listener, tls, shutdown_signal()).await?;
        Ok(())
    })
}

/// `idauth shard`: one shard serving the shard API.
pub fn shard(args: &ShardArgs) -> anyhow::Result<()> {
    let mut flags = args.server.overrides();
    if let Some(id) = &args.id {
        flags.insert("shard_id".into(), id.clone().into());
    }
    if args.insecure_shard_api {
        flags.insert("shard_api_insecure".into(), true.into());
    }
    let config = Config::load(args.server.config.as_deref(), flags)?;
    runtime()?.block_on(async {
        let storage = match config.store {
            StoreKind::Sled => ShardStorage::Own {
                dir: config.data_dir.join(&config.shard_id),
                engine: config.engine_options(),
            },
            StoreKind::Rados => {
                rados_storages(&config, std::slice::from_ref(&config.shard_id), false)
                    .await?
                    .remove(0)
            }
        };
        let shard = shard_settings(&config)?
            .open(&config.shard_id, storage)
            .with_context(|| {
                format!(
                    "opening shard {} in {}",
                    config.shard_id,
                    config.data_dir.display()
                )
            })?;
        check_shard_exposure(&config)?;
        let listener = bind(&config.listen).await?;
        metrics(&config, Source::Shard(Arc::clone(&shard))).await?;
        let service = ShardService::new(shard).into_server(TRANSPORT_MESSAGE_LIMIT);
        // Gateways probe it every few milliseconds to fail calls fast while it is hung.
        let (_health_reporter, health) = tonic_health::server::health_reporter();
        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = crate::tls::server(&config, ClientCerts::Required)? {
            server = server.tls_config(tls)?;
        }
        server
            .add_service(health)
            .add_service(service)
            .serve_with_incoming_shutdown(
                idauth_gateway::service::incoming(listener),
                shutdown_signal(),
            )
            .await?;
        Ok(())
    })
}

/// A shard without client certificates answers whoever reaches its port: allowed on
/// loopback (one machine, the tests), refused elsewhere unless `shard_api_insecure`
/// says the operator means it.
fn check_shard_exposure(config: &Config) -> anyhow::Result<()> {
    if config.tls_client_ca.is_some() {
        return Ok(());
    }
    let addresses: Vec<std::net::SocketAddr> =
        std::net::ToSocketAddrs::to_socket_addrs(config.listen.as_str())
            .with_context(|| format!("resolving the listen address {}", config.listen))?
            .collect();
    let exposed = addresses.is_empty() || addresses.iter().any(|a| !a.ip().is_loopback());
    if !exposed {
        tracing::warn!(
            "the shard API is served without client certificates, on loopback only: any \
             process on this machine can call it"
        );
        return Ok(());
    }
    if !config.shard_api_insecure {
        anyhow::bail!(
            "refusing to serve the shard API on {} without client certificates: anyone who \
             reaches the port could read and change residents' records. Set tls_cert, \
             tls_key and tls_client_ca (mutual TLS with the gateways), listen on a loopback \
             address, or pass --insecure-shard-api on an isolated network",
            config.listen
        );
    }
    tracing::warn!(
        "the shard API is served without client certificates on a non-loopback address \
         (--insecure-shard-api): anyone who reaches this port can call it"
    );
    Ok(())
}

/// `idauth gateway`: the public API in front of remote shards.
pub fn gateway_process(args: &GatewayArgs) -> anyhow::Result<()> {
    let mut flags = args.server.overrides();
    if !args.shards.is_empty() {
        flags.insert("shard_map".into(), args.shards.clone().into());
    }
    let config = Config::load(args.server.config.as_deref(), flags)?;
    anyhow::ensure!(
        !config.shard_map.is_empty(),
        "no shards: give --shard id=http://host:port for each shard (or shard_map in the config)"
    );
    let to_shards = crate::tls::to_shards(&config)?;
    runtime()?.block_on(async {
        let mut shards: Vec<String> = Vec::new();
        let mut cluster = cluster(&config)?;
        for entry in &config.shard_map {
            let (id, address) = entry
                .split_once('=')
                .with_context(|| format!("shard map entry {entry:?} is not id=address"))?;
            anyhow::ensure!(
                !shards.iter().any(|known| known == id),
                "shard id {id} appears twice in the shard map"
            );
            let down_after = Duration::from_millis(config.shard_down_after_ms);
            let client = RemoteShard::new(
                address,
                TRANSPORT_MESSAGE_LIMIT,
                to_shards.clone(),
                down_after,
            )
            .with_context(|| format!("shard address {address:?}"))?;
            shards.push(id.to_owned());
            cluster = cluster.shard(id, Arc::new(client));
        }
        let gateway = cluster.gateway();
        let api = public_api(&config, gateway)?;
        let listener = bind(&config.listen).await?;
        metrics(&config, Source::Gateway(api.clone())).await?;
        let tls = crate::tls::server(&config, ClientCerts::Optional)?;
        idauth_gateway::service::serve(api, listener, tls, shutdown_signal()).await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_refuses_a_data_directory_with_a_shard_store_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        let engine = shared_engine(&config).unwrap();
        drop(engine);
        assert!(dir.path().join(SHARED_ENGINE_DIR).is_dir());
        std::fs::create_dir(dir.path().join("shard-2")).unwrap();
        let error = shared_engine(&config).unwrap_err().to_string();
        assert!(
            error.contains("shard-2") && error.contains("idauth shard"),
            "{error}"
        );
    }
}
