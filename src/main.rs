//! The `idauth` binary: command-line entry point.

mod audit;
mod bench;
mod cli;
mod client;
mod config;
mod eval_report;
mod keys;
mod metrics_http;
#[cfg(feature = "rados")]
mod rados;
mod secrets;
mod server;
#[cfg(feature = "rados")]
mod store_copy;
mod tls;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let args = cli::Cli::parse();
    // Servers report what they do; client commands speak only when something is wrong.
    let default_filter = match args.command {
        cli::Command::Serve(_) | cli::Command::Shard(_) | cli::Command::Gateway(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IDAUTH_LOG")
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let exit = match args.command {
        cli::Command::Serve(serve) => server::serve(&serve).map(|()| 0)?,
        cli::Command::Shard(shard) => server::shard(&shard).map(|()| 0)?,
        cli::Command::Gateway(gateway) => server::gateway_process(&gateway).map(|()| 0)?,
        cli::Command::Enrol(enrol) => client::enrol(&enrol)?,
        cli::Command::Verify(verify) => client::verify(&verify)?,
        cli::Command::Import(import) => client::import(&import)?,
        cli::Command::History(history) => client::history(&history)?,
        cli::Command::Synth(synth) => bench::synth(&synth)?,
        cli::Command::Bench(args) => bench::bench(&args)?,
        cli::Command::Keys(keys) => keys::run(&keys).map(|()| 0)?,
        cli::Command::Audit(audit) => audit::run(&audit)?,
        cli::Command::Eval(eval) => eval_report::run(&eval).map(|()| 0)?,
        #[cfg(feature = "rados")]
        cli::Command::Store(cli::StoreCommand::Copy(args)) => store_copy::copy(&args)?,
    };
    if exit != 0 {
        std::process::exit(exit);
    }
    Ok(())
}
