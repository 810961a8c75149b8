//! The `idauth` binary: command-line entry point.

mod cli;
mod eval_report;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IDAUTH_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match args.command {
        cli::Command::Eval(eval) => eval_report::run(&eval),
    }
}
