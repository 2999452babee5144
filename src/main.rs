//! `dalal`: the command line that wires the crates together.

mod candles;
mod charges;
mod cli;
mod run;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

/// Errors are for people: one line with its chain of causes, no backtrace.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Run(a) => run::run(a),
        cli::Command::Backtest(a) => run::backtest(a),
        cli::Command::Gen(a) => run::gen(a),
        cli::Command::Bench(a) => bench(a),
        cli::Command::Charges(a) => charges::charges(a),
        cli::Command::Candles(a) => candles::candles(a),
        cli::Command::Convert(a) => run::convert(a),
        cli::Command::Replay(a) => run::replay(a),
        cli::Command::WireFeed(a) => std::process::exit(dalal_benches::wire::feed_main(&a.args)),
        cli::Command::WireExchange(a) => std::process::exit(dalal_benches::wire::exchange_main(&a.args)),
    }
}

/// Runs the latency lab and writes its report.
fn bench(a: cli::BenchArgs) -> Result<()> {
    let wait = match a.wait.as_str() {
        "busy-spin" => dalal_core::engine::placement::WaitKind::BusySpin,
        "yield" => dalal_core::engine::placement::WaitKind::Yield,
        other => anyhow::bail!("--wait {other:?}: expected busy-spin or yield"),
    };
    if a.rates.is_empty() || a.rates.contains(&0) {
        anyhow::bail!("--rates {:?}: expected ticks per second above zero, e.g. 100000,1000000", a.rates);
    }
    let report = dalal_benches::lab::run(a.quick, wait, &a.rates);
    let m = &report.machine;
    println!("{} build on {} ({} cores), {}, wait {}", m.profile, m.cpu, m.cores, m.pinning, m.wait);
    print!("{}", dalal_benches::lab::table(&report));
    dalal_benches::lab::write(&a.out, &report)?;
    println!("wrote {}/bench.json and {}/latency.svg", a.out.display(), a.out.display());
    Ok(())
}
