//! Command-line shape.

use clap::{Args, Parser, Subcommand};
use dalal_brokers::Secret;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(name = "dalal", version, about = "Low-latency in-memory trading core for NSE")]
pub struct Cli {
    /// Logs: `text` (colours only on a terminal) or `json` (one object per line, with the
    /// event's fields and spans).
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"], env = "DALAL_LOG_FORMAT")]
    pub log_format: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the engine live (synthetic feed and paper exchange by default).
    Run(RunArgs),
    /// Run the same stages over a tick file with a simulated clock, as fast as possible.
    Backtest(BacktestArgs),
    /// Rebuild a run from its journal alone; writes the backtest's files.
    Replay(ReplayArgs),
    /// Bars and indicators from a tick file, one row per bar and symbol.
    Candles(CandlesArgs),
    /// Brokerage and statutory charges on one order, each shown separately.
    Charges(ChargesArgs),
    /// Convert a tick file between CSV and the binary format (direction from the input).
    Convert(ConvertArgs),
    /// Write a synthetic tick file for the config's instruments (for backtests and tests).
    Gen(GenArgs),
    /// Metrics of any daily equity curve (`date,equity`), optionally against a benchmark.
    Report(ReportArgs),
    /// Broker logins and their secrets, kept encrypted in the vault.
    #[command(subcommand)]
    Broker(BrokerCommand),
    /// A broker's instrument master as the config's instruments.
    #[command(subcommand)]
    Instruments(InstrumentsCommand),
    /// Daily and minute bars kept in the SQL store (and its file cache) for backtests.
    #[command(subcommand)]
    Data(DataCommand),
    /// The configuration a run would use.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Stores bars from NSE bhavcopy files or a broker's historical endpoint.
    #[command(subcommand)]
    Import(DataImport),
    /// What the store holds: per symbol, timeframe and source, the bars and their span.
    List {
        #[command(flatten)]
        store: DataStoreArgs,
        /// One JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum DataImport {
    /// NSE capital-market bhavcopy CSV files (the legacy `cm…bhav.csv`, UDiFF
    /// `BhavCopy_NSE_CM_…csv` or `sec_bhavdata_full_…csv`), one daily bar per security and day.
    Bhavcopy {
        /// The files, unzipped.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Series to keep (comma-separated); "" keeps every series.
        #[arg(long, default_value = "EQ", value_delimiter = ',')]
        series: Vec<String>,
        /// Keep only these symbols (repeatable or comma-separated); default every symbol.
        #[arg(long = "symbol", value_delimiter = ',')]
        symbols: Vec<String>,
        #[command(flatten)]
        store: DataStoreArgs,
    },
    /// Kite's historical candles (the same request as `dalal broker history`).
    Kite(Box<KiteImportArgs>),
}

/// `dalal data import kite`.
#[derive(Args, Debug)]
pub struct KiteImportArgs {
    #[command(flatten)]
    pub query: HistoryQuery,
    /// Where the default SQLite store and candle cache live (default `./data`).
    #[arg(long, env = "DALAL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Which store `dalal data` uses.
#[derive(Args, Debug)]
pub struct DataStoreArgs {
    /// The configuration whose `[persistence] database_url` and `candle_cache` are used (else
    /// `DALAL_CONFIG`, else the built-in defaults: SQLite under `data/`).
    #[arg(long, env = "DALAL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the default SQLite store and candle cache live (default `./data`).
    #[arg(long, env = "DALAL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Prints the effective configuration as TOML: the built-in defaults or the file, then the
    /// environment's `DALAL_…__…` variables, then `--admin-listen`/`--data-dir`, with secrets
    /// masked; and which variables applied.
    Show {
        #[arg(long, env = "DALAL_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long)]
        admin_listen: Option<String>,
        #[arg(long, env = "DALAL_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum InstrumentsCommand {
    /// Read a broker's instrument master and write `[[instruments]]` entries (tick and lot
    /// sizes from the master, the broker's token under `tokens`): the most liquid first, up to
    /// `--max-equity` and `--max-derivatives`; prints what was taken, skipped and refused.
    Import(ImportArgs),
}

/// `dalal instruments import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The broker whose master it is: `kite` (the CSV of Kite Connect's `GET /instruments`),
    /// `angel` (Angel One's `OpenAPIScripMaster.json`) or `upstox` (Upstox's
    /// `complete.json.gz`, gzip or decompressed). Its ids go under the broker's name in
    /// `tokens` (and, for Upstox's `instrument_key`, in `keys`).
    #[arg(long, value_parser = ["kite", "angel", "upstox"])]
    pub broker: String,
    /// The instrument master.
    #[arg(long)]
    pub file: PathBuf,
    /// The TOML file to write.
    #[arg(long, required_unless_present = "store")]
    pub out: Option<PathBuf>,
    /// Also (or instead) keep the chosen instruments in this SQL store's `instrument_master`
    /// (`sqlite://…` or `postgres://…`), replacing what the broker's last import held for the
    /// same exchanges.
    #[arg(long)]
    pub store: Option<String>,
    /// At most this many equities: NIFTY 50 constituents, then alphabetical.
    #[arg(long, default_value_t = 200)]
    pub max_equity: usize,
    /// At most this many futures and options: index futures, stock futures, then options
    /// nearest the money, each nearest expiry first.
    #[arg(long, default_value_t = 200)]
    pub max_derivatives: usize,
    /// Take every instrument of the chosen exchanges (no maximums).
    #[arg(long, conflicts_with_all = ["max_equity", "max_derivatives"])]
    pub all: bool,
    /// Exchanges to take (comma-separated): NSE, NFO, BSE, BFO.
    #[arg(long, value_delimiter = ',', default_value = "NSE,NFO")]
    pub exchange: Vec<String>,
    /// Only these underlyings (comma-separated): derivatives by underlying, equities by symbol.
    #[arg(long, value_delimiter = ',')]
    pub underlying: Vec<String>,
}

/// Where the vault and its master key are.
#[derive(Args, Clone, Debug)]
pub struct VaultArgs {
    /// The vault file.
    #[arg(long, default_value = "data/brokers.vault")]
    pub vault: PathBuf,
    /// The master key file (mode 0600), used when DALAL_MASTER_KEY is not set.
    #[arg(long, default_value = "data/master.key")]
    pub key_file: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum BrokerCommand {
    /// Write a new random master key to the key file (readable by its owner only).
    Keygen {
        #[arg(long, default_value = "data/master.key")]
        key_file: PathBuf,
    },
    /// Add a broker login. Secret values are read from standard input, one line per
    /// `--secret` in the order given (never from the command line, which shells keep).
    Add {
        /// The login's name, by which accounts refer to it.
        name: String,
        /// `kite`, `angel` or `upstox`.
        #[arg(long)]
        kind: String,
        /// An identifier, `FIELD=VALUE` (e.g. `api_key=…`, `client_code=…`); repeatable.
        #[arg(long = "id")]
        ids: Vec<String>,
        /// The name of a secret to read from standard input (e.g. `api_secret`); repeatable.
        #[arg(long = "secret")]
        secrets: Vec<String>,
        #[command(flatten)]
        vault: VaultArgs,
    },
    /// List broker logins: identifiers in full, secrets masked.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        vault: VaultArgs,
    },
    /// Decode captured binary feed messages: FILE holds one message per line as hex; prints
    /// one JSON value per line with the keys, nesting and units of the broker's official client
    /// (times as integer epoch seconds). A line that does not decode prints
    /// `{"error": "..."}` in its place, and the command then fails.
    Decode {
        /// The broker whose feed the messages come from: `kite` (a KiteTicker frame per line),
        /// `angel` (a SmartStream packet per line), `upstox` (a Market Data Feed v3 protobuf
        /// `FeedResponse` per line).
        #[arg(long, value_parser = ["kite", "angel", "upstox"])]
        broker: String,
        #[arg(long = "in")]
        input: PathBuf,
    },
    /// Log in to the broker of a vault login: prints the browser login URL, takes the
    /// request token the broker redirects back with (`--request-token`, or a line on standard
    /// input: the pasted redirect URL or the bare token), exchanges it with the login's API
    /// secret, and keeps the access token (and user id) in the vault.
    Login(LoginArgs),
    /// One JSON object with the account's user id, funds, net positions, today's orders and
    /// holdings, as the broker reports them now (rupees as numbers, Dalal's order states).
    Snapshot(SnapshotArgs),
    /// Historical candles from the broker, written as a tick file `dalal backtest --data`
    /// reads (each bar as four trades: open, then high and low in the order the bar more
    /// likely took them, then close) or as the candles themselves. Long ranges are fetched in
    /// pieces within the broker's per-request limits, paced to its rate limit.
    History(Box<HistoryArgs>),
    /// A live account's positions in the running engine beside its broker's, asked of the
    /// engine's console with the API key in DALAL_API_KEY (`dk_…`); prints the console's JSON.
    /// With `--adopt`, books the broker's positions into the engine where they differ. Exits 0
    /// when the positions agree (with `--adopt`: when every difference was adopted), 1 when
    /// they differ (or a difference was left out), 2 on errors.
    Reconcile(ReconcileArgs),
    /// Remove a broker login and its secrets.
    Remove {
        name: String,
        #[command(flatten)]
        vault: VaultArgs,
    },
}

/// `dalal broker login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The vault login: a `kite` login (`api_key`, `api_secret`) or an `upstox` login
    /// (`api_key`, `redirect_uri`, `api_secret`) logs in through the browser; an `angel` login
    /// (`api_key`, `client_code`; secrets `mpin`, `totp_seed`) logs in at once with a TOTP code
    /// computed from the seed.
    pub name: String,
    /// The one-time code from the redirect after the browser login (Kite's `request_token`,
    /// Upstox's `code`); read from standard input when absent (unless `--listen`).
    #[arg(long, value_parser = secret_arg, conflicts_with = "listen")]
    pub request_token: Option<Secret>,
    /// Take the redirect itself: listen on this loopback address (the Kite app's redirect URL,
    /// e.g. `127.0.0.1:5000`; port 0 picks one and prints it) for the browser Kite sends back.
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// With `--listen`: give up waiting for the redirect after this long.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    pub wait: Duration,
    /// The broker's API root (a test server's, say); by default the login's broker's own.
    #[arg(long)]
    pub root: Option<String>,
    /// Give up on the broker after this long.
    #[arg(long, value_parser = parse_duration, default_value = "7s")]
    pub timeout: Duration,
    #[command(flatten)]
    pub vault: VaultArgs,
}

/// `dalal broker snapshot`.
#[derive(Args, Debug)]
pub struct SnapshotArgs {
    /// The broker (`kite`, `angel`, `upstox`). An `angel` or `upstox` snapshot needs `--login`.
    #[arg(long, value_parser = ["kite", "angel", "upstox"], default_value = "kite")]
    pub broker: String,
    /// The broker's API root (a test server's, say); by default the broker's own.
    #[arg(long)]
    pub root: Option<String>,
    /// Take the API key and access token from this vault login (see `dalal broker login`).
    #[arg(long, conflicts_with_all = ["api_key", "access_token"], required_unless_present = "api_key")]
    pub login: Option<String>,
    /// The API key, with `--access-token`, instead of `--login`.
    #[arg(long, requires = "access_token")]
    pub api_key: Option<String>,
    /// The session's access token. Prefer `--login`: shells keep command lines.
    #[arg(long, requires = "api_key", value_parser = secret_arg)]
    pub access_token: Option<Secret>,
    /// Give up on the broker after this long (per request).
    #[arg(long, value_parser = parse_duration, default_value = "7s")]
    pub timeout: Duration,
    #[command(flatten)]
    pub vault: VaultArgs,
}

/// `dalal broker reconcile`.
#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// The live account.
    #[arg(long)]
    pub account: String,
    /// The running engine's console.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub console: String,
    /// Adopt the broker's positions where they differ (the key's user must be an admin or a
    /// trader of the account).
    #[arg(long)]
    pub adopt: bool,
    /// Give up on the console after this long (it reads the broker before it answers).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,
}

/// `dalal broker history`.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub query: HistoryQuery,
    /// `ticks`: a tick file (`ts_ns,symbol,price,qty`) for `dalal backtest` and `dalal
    /// candles`; `candles`: `ts,symbol,open,high,low,close,volume,oi` as the broker sent them.
    #[arg(long, value_parser = ["ticks", "candles"], default_value = "ticks")]
    pub format: String,
    /// The file to write; written whole or not at all.
    #[arg(long)]
    pub out: PathBuf,
}

/// Which of a broker's historical candles to fetch, and with which session.
#[derive(Args, Debug)]
pub struct HistoryQuery {
    /// The broker session, given as for `dalal broker snapshot`.
    #[command(flatten)]
    pub session: SnapshotArgs,
    /// An instrument of the config, by symbol, fetched by its `tokens.kite`; repeatable.
    #[arg(long = "instrument", value_name = "SYMBOL")]
    pub instruments: Vec<String>,
    /// `SYMBOL=TOKEN`: an instrument by its Kite instrument token, in the config or not;
    /// repeatable.
    #[arg(long = "token", value_name = "SYMBOL=TOKEN")]
    pub tokens: Vec<String>,
    /// Where `--instrument` symbols are looked up (else `DALAL_CONFIG`, else the built-in
    /// defaults).
    #[arg(long, env = "DALAL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Kite's candle interval.
    #[arg(long, value_parser = ["minute", "3minute", "5minute", "10minute", "15minute", "30minute", "60minute", "day"])]
    pub interval: String,
    /// First moment, IST: `YYYY-MM-DD` (from its 00:00:00) or `YYYY-MM-DD HH:MM:SS`.
    #[arg(long)]
    pub from: String,
    /// Last moment, IST, inclusive: `YYYY-MM-DD` (to its 23:59:59) or `YYYY-MM-DD HH:MM:SS`.
    #[arg(long)]
    pub to: String,
    /// Kite's continuous series for a futures token: the expired contracts' candles joined.
    #[arg(long)]
    pub continuous: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The configuration file (else `DALAL_CONFIG`, else the built-in defaults, which are
    /// `config/default.toml` as shipped); `DALAL_<SECTION>__<KEY>` variables override its keys.
    #[arg(long, env = "DALAL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where data goes: the SQLite store, the broker vault and its key file when they are at
    /// their defaults under `data/` (default `./data`).
    #[arg(long, env = "DALAL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Stop after this long (e.g. 30s, 2m); runs until Ctrl-C when absent.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Write the final summary as JSON here.
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
    /// `synthetic`, `csv:PATH`, `bin:PATH`, `udp:ADDR`, `kite:BROKER`, `angel:BROKER` or `upstox:BROKER`; a file replay ends the run when the
    /// file ends. Overrides the config's feed.
    #[arg(long)]
    pub feed: Option<String>,
    /// File replay speed: `max`, `realtime` or a multiple such as `10x`.
    #[arg(long, default_value = "max")]
    pub speed: String,
    /// Journal every ingress event here; on start, rebuild state from what it holds and resume.
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Admin console address (overrides `[admin] listen`); "" turns it off.
    #[arg(long)]
    pub admin_listen: Option<String>,
    /// Journal fsync policy: `none`, `batch`, or at most every `Nms`.
    #[arg(long, default_value = "10ms")]
    pub fsync: String,
    /// With a journal: snapshot engine state this often (overrides
    /// `[persistence] snapshot_every_ms`; `0` = only at a clean stop).
    #[arg(long, value_parser = parse_duration)]
    pub snapshot_every: Option<Duration>,
    /// Where live and shadow accounts' broker logins are kept.
    #[command(flatten)]
    pub vault: VaultArgs,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The configuration file (else `DALAL_CONFIG`, else the built-in defaults, which are
    /// `config/default.toml` as shipped); `DALAL_<SECTION>__<KEY>` variables override its keys.
    #[arg(long, env = "DALAL_CONFIG")]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub journal: PathBuf,
    /// Directory for orders.csv, fills.csv and summary.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Replay what precedes corruption instead of refusing a corrupt journal.
    #[arg(long)]
    pub salvage: bool,
}

#[derive(Args, Debug)]
pub struct BacktestArgs {
    /// The configuration file (else `DALAL_CONFIG`, else the built-in defaults, which are
    /// `config/default.toml` as shipped); `DALAL_<SECTION>__<KEY>` variables override its keys.
    #[arg(long, env = "DALAL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Tick file: CSV with header `ts_ns,symbol,price,qty`, or binary (see `dalal convert`).
    #[arg(long, conflicts_with = "stored")]
    pub data: Option<PathBuf>,
    /// Run on the bars `dalal data import` stored at this timeframe (`1d`, `1m`, `5m`, …) for
    /// the config's instruments, instead of a tick file: a bar-level simulation (each bar
    /// read as four trades; see the README for the fill assumptions).
    #[arg(long, value_name = "TIMEFRAME")]
    pub stored: Option<String>,
    /// With --stored: the first day, YYYY-MM-DD (default: the first stored).
    #[arg(long, requires = "stored")]
    pub from: Option<String>,
    /// With --stored: the last day, YYYY-MM-DD, included (default: the last stored).
    #[arg(long, requires = "stored")]
    pub to: Option<String>,
    /// With --stored: where the default SQLite store and candle cache live (default `./data`).
    #[arg(long, env = "DALAL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Directory for orders.csv, fills.csv, summary.json and the performance files
    /// (equity.csv, trades.csv, metrics.json, and the same per account under accounts/).
    #[arg(long)]
    pub out: PathBuf,
    /// Annual risk-free rate for Sharpe, Sortino and alpha (0.065 = 6.5 %), spread evenly
    /// over 252 trading days.
    #[arg(long, default_value_t = 0.0)]
    pub risk_free: f64,
    /// A parameter grid, e.g. "fast=5..20:5,slow=20..60:10" (`KEY=LO..HI:STEP`, `KEY=A|B|C`,
    /// `KIND.KEY=…` for one strategy kind): one backtest per point, in parallel, ranked into
    /// sweep.csv instead of the single run's files.
    #[arg(long)]
    pub sweep: Option<String>,
    /// The metrics.json key a sweep is ranked by (best first).
    #[arg(long, default_value = "sharpe", requires = "sweep")]
    pub rank: String,
    /// Walk-forward split of a sweep: the first share of the trading days in-sample, the rest
    /// out-of-sample, e.g. 70%.
    #[arg(long, requires = "sweep")]
    pub train: Option<String>,
    /// Threads a sweep uses (default: every core).
    #[arg(long, requires = "sweep")]
    pub threads: Option<usize>,
    /// Keep the report pages in the SQL store (`[persistence] database_url`), where the
    /// console lists them for the accounts' owners.
    #[arg(long, conflicts_with = "sweep")]
    pub save: bool,
    /// The run's name among saved reports (default: the --out directory's name).
    #[arg(long, requires = "save")]
    pub label: Option<String>,
}

/// `dalal report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Daily equity curve: CSV with columns `date` (YYYY-MM-DD, increasing) and `equity`.
    #[arg(long)]
    pub equity: PathBuf,
    /// Benchmark closes: CSV with columns `date` and `close`, one on every date of the curve.
    #[arg(long)]
    pub benchmark: Option<PathBuf>,
    /// Annual risk-free rate (0.065 = 6.5 %), spread evenly over 252 trading days.
    #[arg(long, default_value_t = 0.0)]
    pub risk_free: f64,
    /// Directory for metrics.json.
    #[arg(long, default_value = "report")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct CandlesArgs {
    /// Tick file, CSV or binary; any symbols.
    #[arg(long)]
    pub data: PathBuf,
    /// Bar: 1s, 5s, 15s, 1m, 3m, 5m, 10m, 15m, 30m, 1h, 1d (session-anchored), 500t, 10000v.
    #[arg(long, default_value = "1m")]
    pub timeframe: String,
    /// Comma-separated, e.g. "sma:20,ema:20,rsi:14,macd:12:26:9,bbands:20:2,atr:14,vwap".
    #[arg(long)]
    pub indicators: Option<String>,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct ChargesArgs {
    /// Take the tariffs from this config's `[charges]` section (NSE defaults otherwise).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// equity-intraday | equity-delivery | futures | options
    #[arg(long)]
    pub segment: String,
    /// buy | sell
    #[arg(long)]
    pub side: String,
    /// Price in rupees (the premium, for options).
    #[arg(long)]
    pub price: String,
    #[arg(long)]
    pub qty: u64,
    /// Print a JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    #[arg(long)]
    pub from: PathBuf,
    #[arg(long)]
    pub to: PathBuf,
}

#[derive(Args, Debug)]
pub struct GenArgs {
    /// The configuration file (else `DALAL_CONFIG`, else the built-in defaults, which are
    /// `config/default.toml` as shipped); `DALAL_<SECTION>__<KEY>` variables override its keys.
    #[arg(long, env = "DALAL_CONFIG")]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 100_000)]
    pub ticks: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Only these symbols (comma-separated); all configured instruments when absent.
    #[arg(long)]
    pub symbols: Option<String>,
    /// Trading day, YYYY-MM-DD; ticks start at its 09:15 IST and are spread over the session.
    #[arg(long, default_value = "2026-11-20")]
    pub date: String,
    /// Sessions to generate: `--date` and the weekdays after it, `--ticks` each; every
    /// session opens where the previous one closed and draws from seed + its index.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
}

/// A secret given on the command line, held as a [`Secret`] from the start so that no `Debug`
/// of the arguments shows it.
fn secret_arg(s: &str) -> Result<Secret, String> {
    if s.trim().is_empty() {
        return Err("empty".into());
    }
    Ok(Secret::new(s.trim()))
}

/// Parses `30s`, `2m`, `1h`, `500ms` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration like 30s, 2m, 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{s:?} is not a valid duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}
