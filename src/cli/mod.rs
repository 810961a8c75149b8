//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

mod bench;
pub use bench::{BenchArgs, SynthArgs};

/// The request quota of `keys issue` without `--quota`, per second.
pub const DEFAULT_QUOTA: u32 = 100;

/// idauth: national biometric identity authentication.
#[derive(Debug, Parser)]
#[command(name = "idauth", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole service on this machine: the gateway and in-process shards, data
    /// under ./data (the embedded default).
    Serve(ServeArgs),
    /// Run one shard as its own process (serves the shard API).
    Shard(ShardArgs),
    /// Run a gateway in front of shards running as their own processes.
    Gateway(GatewayArgs),
    /// Enrol a resident (client).
    Enrol(EnrolArgs),
    /// Verify a resident (client).
    Verify(VerifyArgs),
    /// Enrol every finger of a corpus as a resident (client).
    Import(ImportArgs),
    /// A resident's authentication history, newest first (client; needs the
    /// "history" operation).
    History(HistoryArgs),
    /// Enrol a synthetic population through the API (client).
    Synth(SynthArgs),
    /// Load a running gateway with verifies and enrolments and report throughput and
    /// latency, overall and per shard (client).
    Bench(BenchArgs),
    /// Issue, list and revoke caller credentials.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check shards' audit logs.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Measure matcher accuracy on a corpus (manifest.csv + ISO/ANSI records).
    Eval(EvalArgs),
    /// Move residents between storage engines (a build with `--features rados`).
    #[cfg(feature = "rados")]
    #[command(subcommand)]
    Store(StoreCommand),
}

/// `idauth store` subcommands.
#[cfg(feature = "rados")]
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy every shard of a sled data directory (`--data-dir`, service stopped) into
    /// the RADOS pool of the rados_* settings: records, idempotency and replay entries,
    /// the audit chain and its history. Idempotent and resumable: run it again and it
    /// copies only what is missing.
    Copy(StoreCopyArgs),
}

/// Arguments of `idauth store copy`.
#[cfg(feature = "rados")]
#[derive(Debug, clap::Args)]
pub struct StoreCopyArgs {
    /// The source data directory and the pool's settings.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Shards to copy (repeatable); by default every shard in the data directory.
    #[arg(long = "shard")]
    pub shards: Vec<String>,
}

/// `idauth audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk each shard's hash chain and name the first bad entry (run with the shard
    /// stopped: its store is opened directly).
    Verify(AuditVerifyArgs),
}

/// Arguments of `idauth audit verify`.
#[derive(Debug, clap::Args)]
pub struct AuditVerifyArgs {
    /// Where the shards' stores are.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Shards to check (repeatable); by default every shard in the data directory:
    /// those of `idauth serve` (in `shards/`) and those of shard processes (a
    /// `shard-*` folder each).
    #[arg(long = "shard")]
    pub shards: Vec<String>,
}

/// `idauth keys` subcommands. They edit the credential file directly; running gateways
/// pick changes up on their next call.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issue a credential and print its API key (shown once, never stored).
    Issue(KeysIssueArgs),
    /// List credentials (never keys).
    List(KeysListArgs),
    /// Revoke a caller's credential.
    Revoke(KeysRevokeArgs),
}

/// Arguments of `idauth keys issue`.
#[derive(Debug, clap::Args)]
pub struct KeysIssueArgs {
    /// Where the credential file and secrets are.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The caller's id (letters, digits, '-', '.').
    #[arg(long)]
    pub caller: String,
    /// The caller's kind.
    #[arg(long, value_enum)]
    pub kind: CallerKindArg,
    /// Allowed operations, comma separated: enrol, verify, history, operator.
    #[arg(long, value_delimiter = ',', required = true)]
    pub operations: Vec<OperationArg>,
    /// Allowed verify factors, comma separated: fingerprint, name, date-of-birth,
    /// gender, address.
    #[arg(long, value_delimiter = ',', default_value = "fingerprint")]
    pub factors: Vec<FactorArg>,
    /// Requests per second this caller may send, all operations together; more are
    /// refused with QUOTA_EXCEEDED. Raise it for load tests (`synth`, `bench`).
    #[arg(long, default_value_t = DEFAULT_QUOTA)]
    pub quota: u32,
    /// Days until the credential expires; none by default.
    #[arg(long)]
    pub expires_days: Option<u32>,
    /// Allow fingers in clear (default: they must come in an encrypted envelope).
    #[arg(long)]
    pub plain_probes: bool,
    /// Identify the caller by this client certificate (PEM) over mTLS instead of an
    /// API key; no key is issued.
    #[arg(long)]
    pub client_cert: Option<PathBuf>,
    /// Print the credential as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `idauth keys list`.
#[derive(Debug, clap::Args)]
pub struct KeysListArgs {
    /// Where the credential file is.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `idauth keys revoke`.
#[derive(Debug, clap::Args)]
pub struct KeysRevokeArgs {
    /// Where the credential file is.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The caller whose credential is revoked.
    #[arg(long)]
    pub caller: String,
}

/// Caller kinds on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CallerKindArg {
    /// An agency (verifies).
    Agency,
    /// An enrolment centre.
    EnrolmentCentre,
    /// An operator.
    Operator,
}

/// Operations on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OperationArg {
    /// Enrol and update residents.
    Enrol,
    /// Verify residents.
    Verify,
    /// Authentication history and locks.
    History,
    /// Shard status and cluster map.
    Operator,
}

/// Factors on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FactorArg {
    /// Fingerprints.
    Fingerprint,
    /// Name.
    Name,
    /// Date of birth.
    DateOfBirth,
    /// Gender.
    Gender,
    /// Address.
    Address,
}

/// Settings every server command accepts; each overrides the config file and the
/// environment.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// TOML configuration file.
    #[arg(long, env = "IDAUTH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Secrets directory (storage-key secret, credential pepper, development key).
    #[arg(long)]
    pub secrets_dir: Option<PathBuf>,
    /// Address of the Prometheus endpoint (`/metrics`), e.g. 127.0.0.1:9464.
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// Storage engine: sled (embedded, the default) or rados (a Ceph pool; see the
    /// rados_* settings).
    #[arg(long, value_parser = ["sled", "rados"])]
    pub store: Option<String>,
}

impl ServerArgs {
    /// The flags given, as configuration keys.
    pub fn overrides(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        if let Some(listen) = &self.listen {
            map.insert("listen".into(), listen.clone().into());
        }
        if let Some(dir) = &self.data_dir {
            map.insert("data_dir".into(), dir.display().to_string().into());
        }
        if let Some(dir) = &self.secrets_dir {
            map.insert("secrets_dir".into(), dir.display().to_string().into());
        }
        if let Some(address) = &self.metrics_listen {
            map.insert("metrics_listen".into(), address.clone().into());
        }
        if let Some(store) = &self.store {
            map.insert("store".into(), store.clone().into());
        }
        map
    }
}

/// Arguments of `idauth serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Common server settings.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Number of in-process shards.
    #[arg(long)]
    pub shards: Option<usize>,
}

/// Arguments of `idauth shard`.
#[derive(Debug, clap::Args)]
pub struct ShardArgs {
    /// Common server settings.
    #[command(flatten)]
    pub server: ServerArgs,
    /// This shard's id; its store is `<data_dir>/<id>`.
    #[arg(long)]
    pub id: Option<String>,
    /// Serve the shard API on a non-loopback address without client certificates
    /// (anyone who reaches the port can call it); refused without this flag.
    #[arg(long)]
    pub insecure_shard_api: bool,
}

/// Arguments of `idauth gateway`.
#[derive(Debug, clap::Args)]
pub struct GatewayArgs {
    /// Common server settings.
    #[command(flatten)]
    pub server: ServerArgs,
    /// A shard as `id=http://host:port` (repeat for each shard).
    #[arg(long = "shard")]
    pub shards: Vec<String>,
}

/// How a client reaches the service.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// The gateway's address.
    #[arg(long, env = "IDAUTH_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
    /// The API key (prefer `--api-key-file`: a key on the command line shows in `ps`).
    #[arg(long, env = "IDAUTH_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// File holding the API key; default: the development credential `idauth serve`
    /// created (`$HOME/.config/idauth/dev-credential.key`).
    #[arg(long, env = "IDAUTH_API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,
    /// CA certificate (PEM) to check an `https://` server against.
    #[arg(long, env = "IDAUTH_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) that identifies the caller over mTLS (no API key is
    /// needed when a credential names it).
    #[arg(long, env = "IDAUTH_TLS_CERT", requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, env = "IDAUTH_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Identifier types on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IdTypeArg {
    /// National id number.
    National,
    /// Virtual id.
    Virtual,
}

/// Who the request is about.
#[derive(Debug, clap::Args)]
pub struct ResidentArgs {
    /// The resident's identifier.
    #[arg(long)]
    pub id: String,
    /// The identifier's type.
    #[arg(long, value_enum, default_value_t = IdTypeArg::National)]
    pub id_type: IdTypeArg,
    /// A finger as POSITION=FILE (ISO/IEC 19794-2 position 1..10, or 0 = unknown in a
    /// verify); the record format is read from the file. Repeatable.
    #[arg(long = "finger")]
    pub fingers: Vec<String>,
}

/// Demographic attributes on the command line.
#[derive(Debug, Default, clap::Args)]
pub struct DemographicArgs {
    /// Full name.
    #[arg(long)]
    pub name: Option<String>,
    /// Date of birth, YYYY-MM-DD.
    #[arg(long)]
    pub dob: Option<String>,
    /// Gender: M, F or T.
    #[arg(long)]
    pub gender: Option<String>,
    /// Address line.
    #[arg(long)]
    pub address_line: Option<String>,
    /// Locality (village, town, city).
    #[arg(long)]
    pub locality: Option<String>,
    /// District.
    #[arg(long)]
    pub district: Option<String>,
    /// State.
    #[arg(long)]
    pub state: Option<String>,
    /// Postal code.
    #[arg(long)]
    pub postal_code: Option<String>,
}

/// Arguments of `idauth enrol`.
#[derive(Debug, clap::Args)]
pub struct EnrolArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientArgs,
    /// The resident and fingers.
    #[command(flatten)]
    pub resident: ResidentArgs,
    /// Demographics (a name is required).
    #[command(flatten)]
    pub demographics: DemographicArgs,
    /// The enrolment centre.
    #[arg(long, default_value = "cli")]
    pub centre: String,
    /// The request id (a resend with the same id is answered without a second write);
    /// generated when absent.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// Name comparison modes on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NameMatchArg {
    /// Byte-for-byte.
    Exact,
    /// Case, spaces and diacritics ignored; every given word in the enrolled name.
    Partial,
}

/// Arguments of `idauth verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientArgs,
    /// The claimed resident and probe fingers.
    #[command(flatten)]
    pub resident: ResidentArgs,
    /// Demographic attributes to check.
    #[command(flatten)]
    pub demographics: DemographicArgs,
    /// How the name is compared.
    #[arg(long, value_enum, default_value_t = NameMatchArg::Exact)]
    pub name_match: NameMatchArg,
    /// Transaction id; generated when absent.
    #[arg(long)]
    pub txn: Option<String>,
}

/// Arguments of `idauth history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientArgs,
    /// The resident's identifier.
    #[arg(long)]
    pub id: String,
    /// The identifier's type.
    #[arg(long, value_enum, default_value_t = IdTypeArg::National)]
    pub id_type: IdTypeArg,
    /// Entries per page (1 to 100; the service's default when absent).
    #[arg(long, default_value_t = 0)]
    pub page_size: u32,
    /// The page after the one that gave this token.
    #[arg(long, default_value = "")]
    pub page_token: String,
    /// Only the entries under this agency token.
    #[arg(long, default_value = "")]
    pub token: String,
    /// Follow the pages to the end instead of printing one.
    #[arg(long)]
    pub all: bool,
}

/// Arguments of `idauth import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Corpus folder laid out like fvc2002-mindtct.
    #[arg(long)]
    pub corpus: PathBuf,
    /// Which impression of each finger to enrol.
    #[arg(long, default_value = "1")]
    pub impression: String,
    /// Only these sets (repeatable); all by default.
    #[arg(long = "set")]
    pub sets: Vec<String>,
    /// Finger position to declare when a record does not name one (1..10).
    #[arg(long, default_value_t = 2)]
    pub position: u8,
    /// Enrolments in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// The enrolment centre.
    #[arg(long, default_value = "import")]
    pub centre: String,
}

/// Arguments of `idauth eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Corpus folder laid out like fvc2002-mindtct (manifest.csv with db, finger,
    /// impression and iso columns).
    #[arg(long)]
    pub corpus: PathBuf,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write every scored pair as CSV (db,a,b,genuine,score) to this file.
    #[arg(long)]
    pub scores: Option<PathBuf>,
    /// Draw the DET curve of every set into this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Consolidation of cylinder similarities into a finger score.
    #[arg(long, value_enum, default_value_t = ConsolidationArg::LssR)]
    pub consolidation: ConsolidationArg,
    /// Only evaluate these sets (repeatable); all sets by default.
    #[arg(long = "set")]
    pub sets: Vec<String>,
}

/// `--consolidation` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConsolidationArg {
    /// Local similarity sort.
    Lss,
    /// Local similarity sort with relaxation.
    LssR,
}
