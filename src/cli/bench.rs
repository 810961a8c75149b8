//! Arguments of `idauth synth` and `idauth bench`.

use std::path::PathBuf;

use super::ClientArgs;

/// Arguments of `idauth synth`.
#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Residents to enrol (indices `start..start+residents` of the population).
    #[arg(long)]
    pub residents: u64,
    /// First population index.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// The population's seed: the same seed gives the same residents and fingers.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Enrolments in flight at once (the shards' group commit shares one fsync among
    /// them).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Fingers enrolled per resident (1 to 10).
    #[arg(long, default_value_t = 10)]
    pub fingers: usize,
    /// Write the summary as JSON to this file too.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Arguments of `idauth bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Residents already enrolled by `idauth synth` (indices `0..residents`).
    #[arg(long)]
    pub residents: u64,
    /// The population's seed `idauth synth` used.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Closed loop: requests in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Open loop: requests started per second, whatever the answers' pace (latency
    /// counts from each request's scheduled start).
    #[arg(long)]
    pub rate: Option<f64>,
    /// How long to run, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Stop after this many requests instead.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Percent of requests that enrol a new resident (the rest verify).
    #[arg(long, default_value_t = 0.0)]
    pub enrol_percent: f64,
    /// Percent of verifies that claim another resident's identity (impostors).
    #[arg(long, default_value_t = 0.0)]
    pub impostor_percent: f64,
    /// Fingers per verify probe (1 or 2), positions known.
    #[arg(long, default_value_t = 1)]
    pub fingers: usize,
    /// Fingers each resident enrolled (`idauth synth --fingers`, 1 to 10): probes use
    /// only those, the first `--enrolled-fingers` positions.
    #[arg(long, default_value_t = 10)]
    pub enrolled_fingers: usize,
    /// Send fingers in clear instead of encrypted (the caller's policy must allow it).
    #[arg(long)]
    pub plain: bool,
    /// After the encrypted verifies, run the same load with fingers in clear and give
    /// the ratio: what the envelope costs (the policy must allow plain probes).
    #[arg(long, conflicts_with = "plain")]
    pub compare_plain: bool,
    /// First run a bare gRPC echo of the same payload size (Operator.Echo), and give
    /// the ratio verify / echo.
    #[arg(long)]
    pub baseline: bool,
    /// Verifies sent before measuring, not recorded (warms the shards' caches, so
    /// that phases run one after another compare like with like).
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    /// The client SDK's adaptive throttling: once the service refuses calls as
    /// OVERLOADED, at most about K calls are sent per call it accepts; the rest are
    /// refused by the client itself, unsent (reported as THROTTLED_BY_CLIENT).
    #[arg(long, default_value_t = idauth_client::ThrottleSettings::default().k)]
    pub throttle: f64,
    /// Send every call, whatever the service answers (measures the service's own
    /// overload control alone).
    #[arg(long, conflicts_with = "throttle")]
    pub no_throttle: bool,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Draw the latency percentiles to this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}
