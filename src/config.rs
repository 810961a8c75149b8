//! Service configuration: compiled-in defaults, then a TOML file (`--config`), then
//! `IDAUTH_*` environment variables, then command-line flags. Unknown keys are
//! rejected at every layer, so a misspelt setting fails loudly instead of being ignored.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use idauth_gateway::Limits;
use idauth_shard::Threshold;
use idauth_store::Durability;
use serde::{Deserialize, Serialize};

/// Environment variables with the `IDAUTH_` prefix that are not configuration keys.
const NOT_CONFIG: [&str; 20] = [
    "master_keys",
    "kernel",
    "log",
    "shared_data",
    "write_golden",
    "server",
    "config",
    "api_key",
    "api_key_file",
    // Knobs of the crash harness and the soak test (tests/e2e), which start the binary
    // with their own environment.
    "crash_seed",
    "crash_kills",
    "soak_seconds",
    "soak_plot",
    // The Ceph test cluster's script (deploy/ceph/dev-cluster.sh) and the RADOS tests.
    "ceph_conf",
    "ceph_dir",
    "ceph_faults",
    "ceph_keep",
    "ceph_mon_port",
    "ceph_osds",
    "ceph_pool",
];

/// Every setting, with its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where shards keep their stores and the gateway its secret.
    pub data_dir: PathBuf,
    /// Address the public API (serve, gateway) or the shard API (shard) listens on.
    pub listen: String,
    /// In-process shards started by `idauth serve`.
    pub shards: usize,
    /// This shard's id (`idauth shard`).
    pub shard_id: String,
    /// The shard map of `idauth gateway`: `id=http://host:port` entries.
    pub shard_map: Vec<String>,
    /// Where the gateway's secrets live (storage-key secret, credential pepper, the
    /// development credential); kept out of the data directory so that a copy of the
    /// data is useless without them. Default: `$HOME/.config/idauth`.
    pub secrets_dir: Option<PathBuf>,
    /// File holding the 32-byte storage-key secret as hex; created on first start when
    /// absent. Default: `<secrets_dir>/storage-key.hex`.
    pub storage_key_file: Option<PathBuf>,
    /// The master keys for encryption at rest (JSON: current id and keys by id);
    /// created on first start when absent. `IDAUTH_MASTER_KEYS` (the JSON itself)
    /// takes precedence. Default: `<secrets_dir>/master-keys.json`, never the data
    /// directory.
    pub master_key_file: Option<PathBuf>,
    /// Latency budget of a verify, milliseconds.
    pub verify_budget_ms: u64,
    /// Budget of an enrolment-side write, milliseconds.
    pub write_budget_ms: u64,
    /// Largest request accepted, bytes.
    pub max_request_bytes: usize,
    /// Requests the gateway holds in flight before it refuses more with OVERLOADED
    /// (each caller at most its fair share); 0 = 48 per CPU core.
    pub max_in_flight: usize,
    /// How old a request timestamp may be, seconds.
    pub timestamp_past_s: u64,
    /// How far ahead of the service clock a request timestamp may be, seconds.
    pub timestamp_future_s: u64,
    /// Seconds a VerifyBatch stream may send nothing before it is ended (STREAM_IDLE).
    pub batch_idle_s: u64,
    /// Target false-match rate of the decision threshold (0.01 or 0.001).
    pub target_fmr: f64,
    /// `idauth eval --json` output to take the threshold from; built-in FVC2002
    /// figures when unset.
    pub threshold_file: Option<PathBuf>,
    /// How writes become durable: `group-commit` or `flush-each`.
    pub durability: Durability,
    /// Free space kept on the data filesystem, MiB: below it enrolments and updates
    /// are refused with STORAGE_FULL, and verifies below a quarter of it (0: no check).
    pub storage_reserve_mb: u64,
    /// sled's page cache per storage engine, MiB (as stored on disk; it takes several
    /// times that in memory). Resident records have their own cache (`cache_records`).
    pub page_cache_mb: u64,
    /// Biometric mismatches that lock a resident out for a while (0 = no limit).
    pub lockout_failures: usize,
    /// The window those mismatches are counted in, seconds.
    pub lockout_window_s: u64,
    /// How long the lockout lasts after the last mismatch, seconds.
    pub lockout_s: u64,
    /// Decoded records cached per shard.
    pub cache_records: usize,
    /// Built enrolled templates cached per shard (about 9 KB each).
    pub cache_templates: usize,
    /// This process's TLS certificate chain (PEM): the public API of `serve` and
    /// `gateway`, the shard API of `shard`. Plain HTTP/2 when unset.
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM).
    pub tls_key: Option<PathBuf>,
    /// CA (PEM) whose client certificates the listener accepts: a gateway identifies
    /// callers by certificate (an API key still works without one); a shard accepts
    /// no call without one.
    pub tls_client_ca: Option<PathBuf>,
    /// CA (PEM) a gateway checks its shards' certificates against; with it the
    /// gateway calls shards over TLS, presenting `tls_cert` as its client certificate.
    pub shard_tls_ca: Option<PathBuf>,
    /// How long a gateway waits without a health answer from a shard before its
    /// residents get SHARD_UNAVAILABLE at once, milliseconds.
    pub shard_down_after_ms: u64,
    /// Address of the Prometheus endpoint (`GET /metrics`); none when empty.
    pub metrics_listen: String,
    /// Lets `idauth shard` serve its API on a non-loopback address without client
    /// certificates, where anyone who reaches the port can read and write records.
    /// Off by default: such a shard refuses to start. Only for an isolated network.
    pub shard_api_insecure: bool,
    /// Where shards keep residents: `sled` (embedded, in `data_dir`; the default) or
    /// `rados` (a Ceph pool; needs a build with `--features rados`).
    pub store: StoreKind,
    /// The Ceph cluster's configuration file (`store = "rados"`).
    pub rados_conf: PathBuf,
    /// The pool residents are stored in.
    pub rados_pool: String,
    /// The namespace of this deployment's objects in the pool; each shard's objects go
    /// under `<namespace>.<shard id>`.
    pub rados_namespace: String,
    /// How long one RADOS operation may take before the call fails (STORAGE_FAILURE,
    /// retryable), milliseconds: a placement group below `min_size` blocks writes
    /// until then.
    pub rados_op_timeout_ms: u64,
}

/// The storage engine of the shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// sled, embedded in the data directory.
    #[default]
    Sled,
    /// A Ceph RADOS pool.
    Rados,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            listen: "127.0.0.1:50051".into(),
            shards: 4,
            shard_id: "shard-0".into(),
            shard_map: Vec::new(),
            secrets_dir: None,
            storage_key_file: None,
            master_key_file: None,
            verify_budget_ms: 200,
            write_budget_ms: 5_000,
            max_request_bytes: Limits::default().max_request_bytes,
            max_in_flight: 0,
            timestamp_past_s: 24 * 3600,
            timestamp_future_s: 300,
            batch_idle_s: 30,
            target_fmr: 0.001,
            threshold_file: None,
            durability: Durability::GroupCommit,
            storage_reserve_mb: idauth_store::DEFAULT_RESERVE_BYTES >> 20,
            page_cache_mb: idauth_store::DEFAULT_PAGE_CACHE_BYTES >> 20,
            lockout_failures: 5,
            lockout_window_s: 600,
            lockout_s: 900,
            cache_records: 100_000,
            cache_templates: 100_000,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            shard_tls_ca: None,
            shard_down_after_ms: idauth_gateway::shard_health::DOWN_AFTER.as_millis() as u64,
            metrics_listen: String::new(),
            shard_api_insecure: false,
            store: StoreKind::Sled,
            rados_conf: PathBuf::from("/etc/ceph/ceph.conf"),
            rados_pool: "idauth".into(),
            rados_namespace: "idauth".into(),
            rados_op_timeout_ms: 2_000,
        }
    }
}

impl Config {
    /// Loads the layers; `flags` holds only the settings given on the command line.
    pub fn load(
        file: Option<&Path>,
        flags: serde_json::Map<String, serde_json::Value>,
    ) -> anyhow::Result<Self> {
        let Some(file) = file else {
            return Self::from_layers(None, flags);
        };
        anyhow::ensure!(file.is_file(), "config file {} not found", file.display());
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading config file {}", file.display()))?;
        Self::from_layers(Some(&text), flags)
            .with_context(|| format!("in config file {}", file.display()))
    }

    /// The layers over the defaults: a config file's text, the environment, the flags.
    /// The fuzz target `config` feeds it arbitrary text.
    pub fn from_layers(
        toml: Option<&str>,
        flags: serde_json::Map<String, serde_json::Value>,
    ) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(toml) = toml {
            figment = figment.merge(Toml::string(toml));
        }
        let env =
            Env::prefixed("IDAUTH_").filter(|key| !NOT_CONFIG.iter().any(|skip| key == *skip));
        let config: Config = figment
            .merge(env)
            .merge(Serialized::globals(flags))
            .extract()
            .context("invalid configuration")?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!((1..=64).contains(&self.shards), "shards must be 1 to 64");
        anyhow::ensure!(self.batch_idle_s > 0, "batch_idle_s must be positive");
        anyhow::ensure!(
            self.shard_down_after_ms > 0,
            "shard_down_after_ms must be positive"
        );
        anyhow::ensure!(
            self.rados_op_timeout_ms > 0,
            "rados_op_timeout_ms must be positive"
        );
        anyhow::ensure!(
            self.store != StoreKind::Rados || cfg!(feature = "rados"),
            "store = \"rados\" needs a build with the RADOS engine: cargo build --release --features rados \
             (needs Debian's librados-dev)"
        );
        anyhow::ensure!(
            self.verify_budget_ms > 0,
            "verify_budget_ms must be positive"
        );
        anyhow::ensure!(
            self.target_fmr > 0.0 && self.target_fmr < 1.0,
            "target_fmr must be a rate between 0 and 1"
        );
        Ok(())
    }

    /// How the storage engine is opened.
    pub fn engine_options(&self) -> idauth_store::EngineOptions {
        idauth_store::EngineOptions {
            durability: self.durability,
            reserve_bytes: self.storage_reserve_mb << 20,
            page_cache_bytes: self.page_cache_mb << 20,
        }
    }

    /// The request limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_request_bytes: self.max_request_bytes,
            timestamp_past: Duration::from_secs(self.timestamp_past_s),
            timestamp_future: Duration::from_secs(self.timestamp_future_s),
            batch_idle: Duration::from_secs(self.batch_idle_s),
        }
    }

    /// The decision threshold.
    pub fn threshold(&self) -> anyhow::Result<Threshold> {
        match &self.threshold_file {
            Some(path) => {
                let json = std::fs::read_to_string(path)
                    .with_context(|| format!("reading threshold file {}", path.display()))?;
                Ok(Threshold::from_eval_json(&json, self.target_fmr)?)
            }
            None => Ok(Threshold::built_in(self.target_fmr)?),
        }
    }

    /// The secrets folder.
    pub fn secrets_dir(&self) -> PathBuf {
        self.secrets_dir.clone().unwrap_or_else(default_secrets_dir)
    }

    /// Where the storage-key secret lives.
    pub fn storage_key_path(&self) -> PathBuf {
        self.storage_key_file
            .clone()
            .unwrap_or_else(|| self.secrets_dir().join("storage-key.hex"))
    }

    /// Where the master keys live.
    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.secrets_dir().join("master-keys.json"))
    }

    /// The pepper that keys API-key hashes.
    pub fn pepper_path(&self) -> PathBuf {
        self.secrets_dir().join("credential-pepper.hex")
    }

    /// The credential file (hashes and policies only).
    pub fn credentials_path(&self) -> PathBuf {
        self.data_dir.join("gateway").join("credentials.json")
    }
}

/// `$HOME/.config/idauth`, or `./.idauth-secrets` where there is no home.
pub fn default_secrets_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".config").join("idauth"))
        .unwrap_or_else(|| PathBuf::from(".idauth-secrets"))
}

/// The development credential's key file in a secrets folder.
pub fn dev_credential_path(secrets_dir: &Path) -> PathBuf {
    secrets_dir.join("dev-credential.key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail's closure signature is fixed"
    )]
    fn layers_apply_in_order_and_unknown_keys_fail() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "idauth.toml",
                "shards = 2\nverify_budget_ms = 150\ntarget_fmr = 0.01\n",
            )?;
            jail.set_env("IDAUTH_VERIFY_BUDGET_MS", "120");
            jail.set_env("IDAUTH_KERNEL", "scalar");
            let mut flags = serde_json::Map::new();
            flags.insert("listen".into(), "0.0.0.0:9000".into());
            let config = Config::load(Some(Path::new("idauth.toml")), flags).unwrap();
            assert_eq!(config.shards, 2, "file");
            assert_eq!(config.verify_budget_ms, 120, "env over file");
            assert_eq!(config.listen, "0.0.0.0:9000", "flag");
            assert_eq!(config.target_fmr, 0.01);
            assert_eq!(config.cache_records, 100_000, "default");

            jail.create_file("bad.toml", "shard = 2\n")?;
            let error = Config::load(Some(Path::new("bad.toml")), serde_json::Map::new());
            assert!(format!("{:#}", error.unwrap_err()).contains("shard"));

            jail.set_env("IDAUTH_VERIFY_BUDGET", "5");
            let error = Config::load(None, serde_json::Map::new());
            assert!(error.is_err(), "unknown env key accepted");
            Ok(())
        });
    }
}
