//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// Measure matcher accuracy on a corpus (manifest.csv + ISO/ANSI records).
    Eval(EvalArgs),
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
