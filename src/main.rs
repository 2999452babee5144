//! `dalal`: parses the command line and hands each command to the module that does it: the
//! live runtime (`runtime`), the one-shot commands (`commands`), the broker commands
//! (`broker`, `history`, `instruments`, and `reconcile`, a client of a running engine's
//! console), and two small tools.

mod broker;
mod candles;
mod charges;
mod cli;
mod commands;
mod data;
mod history;
mod instruments;
mod login_redirect;
mod performance;
mod reconcile;
mod report;
mod runtime;
mod sweep;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

/// Errors are for people: one line with its chain of causes, no backtrace.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast::<Exit>() {
            Ok(exit) => {
                if let Some(e) = exit.error {
                    eprintln!("error: {e:#}");
                }
                ExitCode::from(exit.code)
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// An ending other than plain success or failure, for commands whose exit status says more
/// (`dalal broker reconcile`: 1 when positions differ, 2 on errors): the status, and the error
/// to print, if any (none when the command has said all there is).
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub error: Option<anyhow::Error>,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            Some(e) => write!(f, "{e:#}"),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

impl std::error::Error for Exit {}

fn run() -> Result<()> {
    // A `.env` next to the process sets variables not already set (before the command line is
    // read: `DALAL_CONFIG` and `DALAL_LOG_FORMAT` may come from it).
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        Err(e) => anyhow::bail!(".env: {e}"),
    }
    let cli = cli::Cli::parse();
    let _logs = logs(&cli.log_format);
    match cli.command {
        cli::Command::Run(a) => runtime::run(a),
        cli::Command::Backtest(a) => commands::backtest(a),
        cli::Command::Gen(a) => commands::gen(a),
        cli::Command::Charges(a) => charges::charges(a),
        cli::Command::Candles(a) => candles::candles(a),
        cli::Command::Convert(a) => commands::convert(a),
        cli::Command::Replay(a) => commands::replay(a),
        cli::Command::Report(a) => performance::report(a),
        cli::Command::Broker(c) => broker::run(c),
        cli::Command::Instruments(c) => instruments::run(c),
        cli::Command::Data(c) => data::run(c),
        cli::Command::Config(cli::ConfigCommand::Show { config, admin_listen, data_dir }) => {
            commands::config_show(config.as_deref(), admin_listen, data_dir.as_deref())
        }
    }
}

/// Logs to standard error through a bounded queue and a thread of their own, so logging never
/// blocks a thread that logs (past the queue's 128k lines, lines are dropped, not waited for).
/// `text`: colours only when standard error is a terminal; `json`: one object per line with
/// the event's fields and its spans (an API request's span carries its `request_id`).
fn logs(format: &str) -> tracing_appender::non_blocking::WorkerGuard {
    use std::io::IsTerminal;
    let (writer, guard) =
        tracing_appender::non_blocking::NonBlockingBuilder::default().lossy(true).finish(std::io::stderr());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    if format == "json" {
        builder.json().with_current_span(true).with_span_list(true).init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
    guard
}
