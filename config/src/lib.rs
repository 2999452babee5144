//! Dalal's configuration file: its shape (TOML, every key with a default), and its validation
//! into the [`EngineSetup`] the core builds engines from. This is not hot-path code, so it
//! lives outside the core. Every error names the key at fault, because a trader editing limits
//! at 09:10 needs to know which line.
//!
//! Strategies are read through a [`StrategyRegistry`]: an entry's `kind` names a registered
//! strategy, and every key of the entry besides `kind`, `instrument`, `timeframe`, `qty` and
//! `allow_short` belongs to that strategy's parameter struct.

#![forbid(unsafe_code)]

pub mod load;

use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;

pub use dalal_brokers::BrokerKind;
pub use dalal_core::engine::placement::{PlacementKind, WaitKind};
use dalal_core::engine::setup::{AccountSetup, EngineSetup, StrategySetup};
use dalal_core::model::{
    AccountId, BarSpec, InstrumentId, InstrumentSpec, IstTime, Money, Price, PriceBand, Qty, RiskLimits, Route,
    Segment, Session, StrategyId, StrategyParams, VenueId,
};
use dalal_core::stages::candle::{CandleOptions, EmptyBars, LatePolicy};
use dalal_core::stages::charges::{ChargeSegment, ChargeTable, Ppb, Tariff};
use dalal_core::stages::order::paper::{LimitFill, Slippage, VenueConfig};
use dalal_core::stages::order::PaperConfig;
use dalal_core::stages::risk::{segment_default_margin, MarginRules};
use dalal_core::stages::strategy::{ParamError, StrategyEnv, StrategyKind, StrategyRegistry};

/// A config value that is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config key `{key}`: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

fn err(key: impl Into<String>, message: impl fmt::Display) -> ConfigError {
    ConfigError { key: key.into(), message: message.to_string() }
}

#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSection {
    pub placement: PlacementKind,
    pub wait: WaitKind,
    /// Sleep per idle poll with `wait = "sleep"`, microseconds.
    pub sleep_us: u64,
    /// Cores to pin to: one for fused; candle, strategy, risk, order for pipelined. Empty
    /// means unpinned.
    pub cores: Vec<usize>,
    /// Slots per ring (a power of two).
    pub ring_size: usize,
    /// Time stages on one event in N (0 = off).
    pub latency_sample_every: u32,
    /// Orders that may work at once; the order stage holds them in a slab of this size and
    /// refuses a new one beyond it (`working_orders_full`).
    pub max_working_orders: usize,
    /// Bars to build besides those strategies subscribe to: `1s` … `1d`, `500t`, `10000v`.
    pub timeframes: Vec<String>,
    /// Intervals with no trades: `skip` (no bar) or `flat` (a bar at the previous close).
    pub empty_bars: EmptyBars,
    /// Trades older than the instrument's latest: `drop` (refused, counted) or `amend`.
    pub late_ticks: LatePolicy,
    /// Seconds between progress summaries in `dalal run`.
    pub summary_every_s: u64,
    /// Normal session open and close, IST.
    pub session_open: String,
    pub session_close: String,
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            placement: PlacementKind::Fused,
            wait: WaitKind::Sleep,
            sleep_us: 50,
            cores: Vec::new(),
            ring_size: 1 << 16,
            latency_sample_every: 1,
            max_working_orders: 65_536,
            timeframes: vec!["1s".into(), "1m".into()],
            empty_bars: EmptyBars::Skip,
            late_ticks: LatePolicy::Drop,
            summary_every_s: 5,
            session_open: "09:15".into(),
            session_close: "15:30".into(),
        }
    }
}

/// Where ticks come from in `dalal run`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedKind {
    #[default]
    Synthetic,
    /// A tick file, CSV or binary (`path`), replayed in event time.
    Csv,
    /// Tick datagrams on a UDP socket (`listen`).
    Udp,
    /// Kite's market-data WebSocket through a `[[brokers]]` login (`broker`), for the
    /// instruments with a Kite token (`tokens = { kite = … }`).
    Kite,
    /// Angel One's SmartStream through a `[[brokers]]` login (`broker`), for the instruments
    /// with an Angel One token (`tokens = { angel = … }`).
    Angel,
    /// Upstox's Market Data Feed v3 through a `[[brokers]]` login (`broker`), for the
    /// instruments with an Upstox key (`keys = { upstox = … }`).
    Upstox,
}

/// How much a broker feed asks for per instrument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedMode {
    /// Trades, timed on arrival.
    Quote,
    /// Trades with exchange times, the best bid and offer, open interest.
    #[default]
    Full,
}

#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FeedSection {
    pub kind: FeedKind,
    /// Ticks per second across all instruments (0 = as fast as possible).
    pub rate: u64,
    pub seed: u64,
    /// CSV file for `kind = "csv"`.
    pub path: Option<String>,
    /// Timer events per second (close quiet candles, expire orders).
    pub timer_hz: u64,
    /// Address the UDP feed listens on for `kind = "udp"`.
    pub listen: String,
    /// The fused engine thread polls the feed itself instead of a feed thread handing ticks
    /// over (the colocated configuration: one pinned thread from socket to order).
    pub inline: bool,
    /// The `[[brokers]]` login whose feed `kind = "kite"` reads.
    pub broker: Option<String>,
    /// What a broker feed asks for: `full` (default) or `quote`.
    pub mode: FeedMode,
}

impl Default for FeedSection {
    fn default() -> Self {
        FeedSection {
            kind: FeedKind::Synthetic,
            rate: 20_000,
            seed: 42,
            path: None,
            timer_hz: 10,
            listen: "127.0.0.1:9000".into(),
            inline: false,
            broker: None,
            mode: FeedMode::Full,
        }
    }
}

#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalRiskSection {
    pub kill_switch: bool,
    /// Refuse regular (non-AMO) orders outside the session.
    pub enforce_session: bool,
    /// Time (IST) at which MIS positions are squared off; "" turns it off.
    pub mis_square_off: String,
    /// MIS margin, percent of order value.
    pub mis_margin_pct: f64,
    /// An order sent outside the session goes as an after-market order, for the next
    /// session's first trade, instead of being refused: what a strategy on day bars needs,
    /// since its bar closes with the session.
    pub after_hours_amo: bool,
}

impl Default for GlobalRiskSection {
    fn default() -> Self {
        GlobalRiskSection {
            kill_switch: false,
            enforce_session: true,
            mis_square_off: "15:20".into(),
            mis_margin_pct: 20.0,
            after_hours_amo: false,
        }
    }
}

/// One segment's tariff, in percent of turnover (brokerage cap and flat fee in rupees). Keys
/// left out keep the NSE defaults documented in `core/src/charges.rs`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TariffSection {
    pub brokerage_pct: Option<f64>,
    /// Per executed order; with `brokerage_pct = 0` a flat fee.
    pub brokerage_cap: Option<f64>,
    pub stt_buy_pct: Option<f64>,
    pub stt_sell_pct: Option<f64>,
    pub exchange_txn_pct: Option<f64>,
    pub sebi_pct: Option<f64>,
    pub stamp_buy_pct: Option<f64>,
    pub gst_pct: Option<f64>,
}

impl TariffSection {
    fn apply(&self, key: &str, t: &mut Tariff) -> Result<(), ConfigError> {
        let pct = |f: &str, v: Option<f64>, into: &mut Ppb| -> Result<(), ConfigError> {
            if let Some(v) = v {
                *into = Ppb::from_percent(v)
                    .ok_or_else(|| err(format!("{key}.{f}"), "must be a percentage between 0 and 100"))?;
            }
            Ok(())
        };
        pct("brokerage_pct", self.brokerage_pct, &mut t.brokerage.rate)?;
        if let Some(c) = self.brokerage_cap {
            t.brokerage.cap = Money(rupees(&format!("{key}.brokerage_cap"), c)?.0);
        }
        pct("stt_buy_pct", self.stt_buy_pct, &mut t.stt_buy)?;
        pct("stt_sell_pct", self.stt_sell_pct, &mut t.stt_sell)?;
        pct("exchange_txn_pct", self.exchange_txn_pct, &mut t.exchange_txn)?;
        pct("sebi_pct", self.sebi_pct, &mut t.sebi)?;
        pct("stamp_buy_pct", self.stamp_buy_pct, &mut t.stamp_buy)?;
        pct("gst_pct", self.gst_pct, &mut t.gst)
    }
}

/// Overrides of the charge tariffs per segment.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ChargesSection {
    pub equity_delivery: TariffSection,
    pub equity_intraday: TariffSection,
    pub futures: TariffSection,
    pub options: TariffSection,
}

impl ChargesSection {
    pub fn to_table(&self) -> Result<ChargeTable, ConfigError> {
        let mut t = ChargeTable::default();
        self.equity_delivery.apply("charges.equity_delivery", &mut t.tariffs[ChargeSegment::EquityDelivery.index()])?;
        self.equity_intraday.apply("charges.equity_intraday", &mut t.tariffs[ChargeSegment::EquityIntraday.index()])?;
        self.futures.apply("charges.futures", &mut t.tariffs[ChargeSegment::Futures.index()])?;
        self.options.apply("charges.options", &mut t.tariffs[ChargeSegment::Options.index()])?;
        Ok(t)
    }
}

/// The admin console (HTTP + WebSocket), started by `dalal run`. Core only carries settings.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    /// Address to listen on; "" turns the console off.
    pub listen: String,
    /// Cores for the console's threads, away from the engine's.
    pub cores: Vec<usize>,
    /// A second address serving only the full `/metrics` (account and broker login names) for
    /// a scraper on a private network; "" = none. `/metrics` on `listen` names neither unless
    /// the scrape presents `DALAL_METRICS_TOKEN` as a bearer token.
    pub metrics_listen: String,
    /// Reverse proxies whose `X-Forwarded-For` the console believes (their addresses, e.g.
    /// `["127.0.0.1"]` behind a local nginx), so sign-in throttling counts each client rather
    /// than the proxy; empty = none.
    pub trusted_proxies: Vec<String>,
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            listen: "127.0.0.1:8080".into(),
            cores: Vec::new(),
            metrics_listen: String::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// How `dalal backtest` judges a run: the weekly evaluation's rules (see
/// `dalal_analytics::weekly`) and the benchmark its returns are compared with.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationSection {
    /// A week's annualised Sharpe ratio must be at least this (`-inf`: not judged).
    pub min_weekly_sharpe: f64,
    /// A week's drawdown may go at most this deep, a fraction (0.05 = 5 %; 1: not judged).
    pub max_weekly_drawdown: f64,
    /// Charges may take at most this share of a week's gross P&L (`inf`: not judged).
    pub max_charges_share: f64,
    /// A configured instrument whose buy-and-hold over the same data is the benchmark (alpha,
    /// beta, excess return); empty for none.
    pub benchmark: String,
}

impl Default for EvaluationSection {
    fn default() -> Self {
        EvaluationSection {
            min_weekly_sharpe: 0.0,
            max_weekly_drawdown: 0.05,
            max_charges_share: 0.5,
            benchmark: String::new(),
        }
    }
}

impl EvaluationSection {
    fn validate(&self, instruments: &[InstrumentSection]) -> Result<(), ConfigError> {
        if self.min_weekly_sharpe.is_nan() || self.min_weekly_sharpe == f64::INFINITY {
            return Err(err("evaluation.min_weekly_sharpe", "expected a number (or -inf to judge no Sharpe)"));
        }
        if !(self.max_weekly_drawdown > 0.0 && self.max_weekly_drawdown <= 1.0) {
            return Err(err(
                "evaluation.max_weekly_drawdown",
                "expected a fraction above 0 and at most 1 (0.05 = 5 %)",
            ));
        }
        if self.max_charges_share.is_nan() || self.max_charges_share < 0.0 {
            return Err(err(
                "evaluation.max_charges_share",
                "expected a share of at least 0 (0.5 = half; inf: no limit)",
            ));
        }
        if !self.benchmark.is_empty() && !instruments.iter().any(|i| i.symbol == self.benchmark) {
            return Err(err(
                "evaluation.benchmark",
                format!("{:?} is not one of the configured instruments", self.benchmark),
            ));
        }
        Ok(())
    }
}

/// Where a run's records go, off the hot path. Core only carries the settings.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PersistenceSection {
    /// `sqlite://…` (the embedded default, a file under `data/`) or `postgres://…`; "" = off.
    pub database_url: String,
    /// `redis://host:port/` for live fan-out; "" = off.
    pub redis_url: String,
    /// Prefix of every Redis channel, stream and key.
    pub redis_prefix: String,
    /// With a journal: snapshot the engine this often (ms), so recovery replays only the
    /// journal after the latest snapshot; 0 = only at a clean stop.
    pub snapshot_every_ms: u64,
    /// Events the store writer queues before dropping (and later re-feeding from the journal).
    pub store_queue: usize,
    /// Directory of the columnar copy of imported bars (`dalal data import`), which backtests
    /// on stored candles read; "" = off (they then read the SQL store).
    pub candle_cache: String,
}

impl Default for PersistenceSection {
    fn default() -> Self {
        PersistenceSection {
            database_url: "sqlite://data/dalal.db?mode=rwc".into(),
            redis_url: String::new(),
            redis_prefix: "dalal".into(),
            snapshot_every_ms: 60_000,
            store_queue: 65_536,
            candle_cache: "data/candles".into(),
        }
    }
}

/// The paper exchange.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PaperSection {
    pub slippage: Slippage,
    pub limit_fill: LimitFill,
    /// Event-time delay before an order reaches the venue, ms.
    pub ack_delay_ms: f64,
    /// Event-time delay before a fill reaches us, ms.
    pub fill_delay_ms: f64,
}

#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstrumentSection {
    pub symbol: String,
    #[serde(default = "default_segment")]
    pub segment: Segment,
    /// Rupees.
    pub tick_size: f64,
    pub lot_size: u64,
    /// Previous close, rupees.
    pub ref_price: f64,
    /// Daily band as ± percent of `ref_price` (0 = no band).
    #[serde(default = "default_band")]
    pub band_pct: f64,
    /// NRML margin, percent of value (F&O exchange margin); default 15 for F&O, 100 for cash.
    pub margin_pct: Option<f64>,
    /// The instrument's id at each broker (`tokens = { kite = 738561 }`), as written by
    /// `dalal instruments import`; kept for the broker adapters, read by nothing else yet.
    #[serde(default)]
    pub tokens: std::collections::BTreeMap<String, u64>,
    /// The instrument's id at brokers whose id is not a number: Upstox's `instrument_key`
    /// (`keys = { upstox = "NSE_EQ|INE002A01018" }`), which its orders and feed speak and
    /// which, unlike its `exchange_token` (kept under `tokens`), is never reused for another
    /// contract. Written by `dalal instruments import`.
    #[serde(default)]
    pub keys: std::collections::BTreeMap<String, String>,
}

fn default_segment() -> Segment {
    Segment::Equity
}

fn default_band() -> f64 {
    20.0
}

/// Per-account limits; zero means no limit. Rupee amounts are rupees, as in the admin API.
pub use dalal_core::model::LimitsInRupees as LimitsSection;

/// Validates an account's limits; `key` prefixes error keys (`accounts[0].limits`).
pub fn account_limits(l: &LimitsSection, key: &str) -> Result<RiskLimits, ConfigError> {
    l.to_limits().map_err(|e| err(format!("{key}.{}", e.key), e.message))
}

#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AccountSection {
    pub name: String,
    #[serde(default)]
    pub kill_switch: bool,
    /// Starting cash in rupees; 0 turns the funds check off.
    #[serde(default)]
    pub funds: f64,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub strategies: Vec<StrategySection>,
    /// Where its orders go: `paper` (the default) or the name of a `[[venues]]` entry.
    #[serde(default = "default_venue")]
    pub venue: String,
    /// The `[[brokers]]` login it trades through (with `mode` shadow or live).
    #[serde(default)]
    pub broker: Option<String>,
    #[serde(default)]
    pub mode: AccountMode,
}

/// How an account bound to a broker login trades.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountMode {
    /// On the in-line paper exchange (the default), whether or not a broker is named.
    #[default]
    Paper,
    /// Against the paper exchange, while every request that live mode would send to the
    /// broker is logged and counted; nothing is sent.
    Shadow,
    /// Through the broker login's gateway.
    Live,
}

impl AccountMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountMode::Paper => "paper",
            AccountMode::Shadow => "shadow",
            AccountMode::Live => "live",
        }
    }
}

/// A broker login: the connection details of one of the logins in the vault (its secrets
/// stay there, keyed by `login`).
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BrokerSection {
    pub name: String,
    pub kind: BrokerKind,
    /// REST base URL; the vendor's by default.
    #[serde(default)]
    pub root: Option<String>,
    /// Where order writes go when the broker takes them on a host of their own (Upstox:
    /// `https://api-hft.upstox.com`); `root` for the others. The vendor's by default.
    #[serde(default)]
    pub order_root: Option<String>,
    /// Market-data WebSocket URL; the vendor's by default.
    #[serde(default)]
    pub ws_root: Option<String>,
    /// Order-update WebSocket URL (Kite: the ticker's; Angel One: `smart-order-update`;
    /// Upstox: the portfolio stream); the vendor's by default.
    #[serde(default)]
    pub order_ws_root: Option<String>,
    /// The vault entry holding its ids and secrets (`dalal broker add`); `name` by default.
    #[serde(default)]
    pub login: Option<String>,
    /// Orders per second the gateway sends at most; the broker's limit (and SEBI's 10/s for
    /// unregistered algorithms) by default, and never more.
    #[serde(default)]
    pub orders_per_second: Option<u32>,
    /// How often the gateway reads the order book while orders work, ms (default 500: two
    /// reads a second, well inside the broker's limit for reads).
    #[serde(default)]
    pub poll_ms: Option<u64>,
    /// At the start, take the broker's net positions as the live account's opening state:
    /// where they differ from the engine's, the difference is booked as an opening fill at the
    /// broker's average price (journaled, so a replay books it again). Needs exactly one live
    /// account on the login, so the positions have one owner.
    #[serde(default)]
    pub adopt_positions: bool,
}

impl BrokerSection {
    pub fn root(&self) -> &str {
        self.root.as_deref().unwrap_or(self.kind.default_root())
    }

    pub fn ws_root(&self) -> &str {
        self.ws_root.as_deref().unwrap_or(self.kind.default_ws_root())
    }

    /// Upstox places, modifies and cancels on its own host; the others on `root`.
    pub fn order_root(&self) -> &str {
        match (&self.order_root, self.kind) {
            (Some(r), _) => r,
            (None, BrokerKind::Upstox) => "https://api-hft.upstox.com",
            (None, _) => self.root(),
        }
    }

    /// Kite's order updates come on its ticker socket, so its default is `ws_root`.
    pub fn order_ws_root(&self) -> &str {
        match (&self.order_ws_root, self.kind) {
            (Some(r), _) => r,
            (None, BrokerKind::Kite) => self.ws_root(),
            (None, kind) => kind.default_order_ws_root(),
        }
    }

    pub fn login(&self) -> &str {
        self.login.as_deref().unwrap_or(&self.name)
    }

    pub fn orders_per_second(&self) -> u32 {
        self.orders_per_second.unwrap_or(u32::MAX).min(self.kind.max_orders_per_second())
    }
}

fn default_venue() -> String {
    "paper".into()
}

/// What kind of live venue an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VenueKind {
    /// The exchange simulator's TCP order protocol (`adapters/src/wire/order_protocol.rs`).
    Wire,
}

/// A live venue: orders of the accounts bound to it go out through its gateway, and what it
/// reports comes back through the ingress ring.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VenueSection {
    pub name: String,
    pub kind: VenueKind,
    /// `host:port` of the venue's order endpoint.
    pub address: String,
}

/// One strategy entry. `kind`, `instrument`, `timeframe`, `qty` and `allow_short` are common to
/// every strategy; all other keys are the strategy's own parameters, read by its registration.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
pub struct StrategySection {
    /// A registered strategy: `ema_cross`, `bollinger`, `orb`, `supertrend`,
    /// `vwap_reversion`, `grid`, or one of your own.
    pub kind: String,
    pub instrument: String,
    #[serde(default = "default_tf")]
    pub timeframe: String,
    /// Position size in units (whole lots).
    pub qty: u64,
    #[serde(default)]
    pub allow_short: bool,
    /// The strategy's own parameters.
    #[serde(flatten)]
    pub params: toml::Table,
}

fn default_tf() -> String {
    "1m".into()
}

/// The whole file.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub engine: EngineSection,
    #[serde(default)]
    pub feed: FeedSection,
    #[serde(default)]
    pub risk: GlobalRiskSection,
    #[serde(default)]
    pub paper: PaperSection,
    #[serde(default)]
    pub charges: ChargesSection,
    #[serde(default)]
    pub persistence: PersistenceSection,
    #[serde(default)]
    pub admin: AdminSection,
    #[serde(default)]
    pub evaluation: EvaluationSection,
    pub instruments: Vec<InstrumentSection>,
    #[serde(default)]
    pub accounts: Vec<AccountSection>,
    #[serde(default)]
    pub venues: Vec<VenueSection>,
    #[serde(default)]
    pub brokers: Vec<BrokerSection>,
}

fn ms_to_ns(key: &str, ms: f64) -> Result<i64, ConfigError> {
    if !(ms.is_finite() && (0.0..=86_400_000.0).contains(&ms)) {
        return Err(err(key, "must be between 0 and 86400000 ms"));
    }
    Ok((ms * 1e6).round() as i64)
}

fn rupees(key: &str, v: f64) -> Result<Price, ConfigError> {
    Price::from_rupees_f64(v).filter(|p| p.0 >= 0).ok_or_else(|| err(key, format!("{v} is not a valid rupee amount")))
}

impl Config {
    /// Validates with the built-in strategies.
    pub fn validate(&self) -> Result<EngineSetup, ConfigError> {
        self.validate_with(&dalal_core::strategies::builtin())
    }

    /// Validates, reading strategy entries through `registry`.
    pub fn validate_with(&self, registry: &StrategyRegistry) -> Result<EngineSetup, ConfigError> {
        let e = &self.engine;
        if !(1..=1 << 24).contains(&e.max_working_orders) {
            return Err(err("engine.max_working_orders", "must be between 1 and 16777216"));
        }
        let min = dalal_core::engine::placement::MIN_RING;
        if !e.ring_size.is_power_of_two() || e.ring_size < min {
            return Err(err("engine.ring_size", format!("{} is not a power of two ≥ {min}", e.ring_size)));
        }
        if e.placement == PlacementKind::Pipelined && !e.cores.is_empty() && e.cores.len() != 4 {
            return Err(err(
                "engine.cores",
                "pipelined placement takes 4 cores (candle, strategy, risk, order) or none",
            ));
        }
        let open = IstTime::parse(&e.session_open).ok_or_else(|| err("engine.session_open", "expected HH:MM"))?;
        let close = IstTime::parse(&e.session_close).ok_or_else(|| err("engine.session_close", "expected HH:MM"))?;
        if close <= open {
            return Err(err("engine.session_close", "must be after session_open"));
        }
        self.evaluation.validate(&self.instruments)?;
        let mut timeframes = Vec::new();
        for (i, t) in e.timeframes.iter().enumerate() {
            timeframes.push(BarSpec::parse(t).ok_or_else(|| {
                err(format!("engine.timeframes[{i}]"), format!("{t:?} is not a bar like 1s, 1m, 1h, 1d, 500t, 10000v"))
            })?);
        }
        if self.feed.kind == FeedKind::Csv && self.feed.path.is_none() {
            return Err(err("feed.path", "required when feed.kind = \"csv\""));
        }
        if self.feed.kind == FeedKind::Udp && self.feed.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(err("feed.listen", format!("{:?} is not an address like 0.0.0.0:9000", self.feed.listen)));
        }
        if self.feed.inline && e.placement != PlacementKind::Fused {
            return Err(err("feed.inline", "only the fused placement polls its feed on the engine thread"));
        }
        if self.feed.inline && e.ring_size < 4 * dalal_core::engine::placement::INLINE_ROOM {
            return Err(err(
                "feed.inline",
                format!("needs engine.ring_size of at least {}", 4 * dalal_core::engine::placement::INLINE_ROOM),
            ));
        }

        if self.instruments.is_empty() {
            return Err(err("instruments", "at least one instrument is required"));
        }
        let mut seen = HashSet::new();
        let mut nrml_margins = Vec::new();
        let mut instruments = Vec::new();
        let mut ref_prices = Vec::new();
        for (i, s) in self.instruments.iter().enumerate() {
            let k = |f: &str| format!("instruments[{i}].{f}");
            if s.symbol.trim().is_empty() || !seen.insert(s.symbol.clone()) {
                return Err(err(k("symbol"), format!("{:?} is empty or defined twice", s.symbol)));
            }
            let tick = rupees(&k("tick_size"), s.tick_size)?;
            if !tick.is_positive() {
                return Err(err(k("tick_size"), "must be at least ₹0.01"));
            }
            if s.lot_size == 0 {
                return Err(err(k("lot_size"), "must be at least 1"));
            }
            let reference = rupees(&k("ref_price"), s.ref_price)?;
            if !reference.is_positive() || !reference.on_grid(tick) {
                return Err(err(
                    k("ref_price"),
                    format!("{reference} is not a positive price on the {tick} tick grid"),
                ));
            }
            if !(0.0..=100.0).contains(&s.band_pct) {
                return Err(err(k("band_pct"), "must be between 0 and 100"));
            }
            for (broker, token) in &s.tokens {
                if BrokerKind::parse(broker).is_none() {
                    return Err(err(k(&format!("tokens.{broker}")), "not a broker (kite, angel or upstox)"));
                }
                if *token == 0 {
                    return Err(err(k(&format!("tokens.{broker}")), "must be a positive integer"));
                }
            }
            for (broker, key) in &s.keys {
                if BrokerKind::parse(broker).is_none() {
                    return Err(err(k(&format!("keys.{broker}")), "not a broker (kite, angel or upstox)"));
                }
                // Sent to the broker in requests and subscriptions: a blank key or one with a
                // line break would name no instrument, or corrupt the request.
                if key.trim().is_empty() || key.chars().any(char::is_control) {
                    return Err(err(
                        k(&format!("keys.{broker}")),
                        "must be the broker's non-empty instrument key, without control characters",
                    ));
                }
            }
            let band = if s.band_pct == 0.0 { PriceBand::OPEN } else { PriceBand::around(reference, s.band_pct, tick) };
            instruments.push(InstrumentSpec {
                id: InstrumentId(i as u32),
                symbol: s.symbol.clone(),
                segment: s.segment,
                tick_size: tick,
                lot_size: Qty(s.lot_size),
                band,
            });
            ref_prices.push(reference);
            let margin = match s.margin_pct {
                Some(p) => Ppb::from_percent(p).ok_or_else(|| err(k("margin_pct"), "must be between 0 and 100"))?,
                None => segment_default_margin(s.segment),
            };
            nrml_margins.push(margin);
        }

        let mut venue_names = HashSet::new();
        for (i, v) in self.venues.iter().enumerate() {
            if v.name.trim().is_empty() || v.name == "paper" || !venue_names.insert(v.name.clone()) {
                return Err(err(
                    format!("venues[{i}].name"),
                    format!("{:?} is empty, \"paper\" or defined twice", v.name),
                ));
            }
            if v.address.parse::<std::net::SocketAddr>().is_err() {
                return Err(err(format!("venues[{i}].address"), format!("{:?} is not host:port", v.address)));
            }
        }
        for (i, b) in self.brokers.iter().enumerate() {
            let k = |f: &str| format!("brokers[{i}].{f}");
            if b.name.trim().is_empty() || b.name == "paper" || !venue_names.insert(b.name.clone()) {
                return Err(err(k("name"), format!("{:?} is empty, \"paper\" or already a venue or broker", b.name)));
            }
            for (key, url, schemes) in [
                ("root", b.root(), ["https://", "http://"]),
                ("order_root", b.order_root(), ["https://", "http://"]),
                ("ws_root", b.ws_root(), ["wss://", "ws://"]),
                ("order_ws_root", b.order_ws_root(), ["wss://", "ws://"]),
            ] {
                let host = schemes.iter().find_map(|s| url.strip_prefix(s)).unwrap_or("");
                if host.is_empty() || url.chars().any(char::is_whitespace) {
                    return Err(err(k(key), format!("{url:?} is not a {} or {} URL", schemes[0], schemes[1])));
                }
            }
            if b.poll_ms.is_some_and(|ms| !(20..=60_000).contains(&ms)) {
                return Err(err(k("poll_ms"), "must be between 20 and 60000"));
            }
            if b.orders_per_second == Some(0) {
                return Err(err(k("orders_per_second"), "must be at least 1"));
            }
        }
        let feed_broker = match self.feed.kind {
            FeedKind::Kite => Some((BrokerKind::Kite, "Kite")),
            FeedKind::Angel => Some((BrokerKind::Angel, "Angel One")),
            FeedKind::Upstox => Some((BrokerKind::Upstox, "Upstox")),
            _ => None,
        };
        if let Some((kind, label)) = feed_broker {
            let name = self.feed.broker.as_deref().unwrap_or("");
            match self.brokers.iter().find(|b| b.name == name) {
                Some(b) if b.kind == kind => {}
                Some(b) => return Err(err("feed.broker", format!("{name:?} is a {} login, not {kind}", b.kind))),
                None => return Err(err("feed.broker", format!("{name:?} is not a [[brokers]] name"))),
            }
            let (has, field) = match kind {
                BrokerKind::Upstox => (self.instruments.iter().any(|i| i.keys.contains_key("upstox")), "keys"),
                _ => (self.instruments.iter().any(|i| i.tokens.contains_key(kind.as_str())), "tokens"),
            };
            if !has {
                return Err(err(
                    "feed.kind",
                    format!("a {label} feed needs instruments with a {label} id ({field} = {{ {kind} = … }})"),
                ));
            }
        }
        let mut accounts = Vec::new();
        let mut strategies = Vec::new();
        let mut names = HashSet::new();
        for (ai, a) in self.accounts.iter().enumerate() {
            let k = |f: &str| format!("accounts[{ai}].{f}");
            if a.name.trim().is_empty() || !names.insert(a.name.clone()) {
                return Err(err(k("name"), format!("{:?} is empty or defined twice", a.name)));
            }
            let limits = account_limits(&a.limits, &k("limits"))?;
            let funds = rupees(&k("funds"), a.funds)?;
            let broker = match &a.broker {
                Some(name) => Some(
                    self.brokers
                        .iter()
                        .position(|b| &b.name == name)
                        .ok_or_else(|| err(k("broker"), format!("{name:?} is not a [[brokers]] name")))?,
                ),
                None => None,
            };
            if broker.is_some() && a.venue != "paper" {
                return Err(err(k("broker"), "an account trades through a broker or a [[venues]] entry, not both"));
            }
            let route = if let Some(b) = broker {
                match a.mode {
                    AccountMode::Live => Route::Live(VenueId((self.venues.len() + b) as u16)),
                    AccountMode::Paper | AccountMode::Shadow => Route::Paper,
                }
            } else if a.mode != AccountMode::Paper {
                return Err(err(k("mode"), format!("{} needs a broker (accounts[].broker)", a.mode.as_str())));
            } else if a.venue == "paper" {
                Route::Paper
            } else {
                let v = self.venues.iter().position(|v| v.name == a.venue).ok_or_else(|| {
                    err(k("venue"), format!("{:?} is neither \"paper\" nor a [[venues]] name", a.venue))
                })?;
                Route::Live(VenueId(v as u16))
            };
            accounts.push(AccountSetup {
                route,
                id: AccountId(ai as u16),
                name: a.name.clone(),
                limits,
                funds: Money(funds.0),
                kill_switch: a.kill_switch,
            });
            for (si, s) in a.strategies.iter().enumerate() {
                let k = |f: &str| format!("accounts[{ai}].strategies[{si}].{f}");
                let spec = instruments
                    .iter()
                    .find(|x| x.symbol == s.instrument)
                    .ok_or_else(|| err(k("instrument"), format!("unknown symbol {:?}", s.instrument)))?;
                let timeframe = BarSpec::parse(&s.timeframe).ok_or_else(|| {
                    err(k("timeframe"), format!("{:?} is not a bar like 1s, 1m, 1h, 500t, 10000v", s.timeframe))
                })?;
                let kind = registry.get(&s.kind).ok_or_else(|| {
                    let known: Vec<_> = registry.names().collect();
                    err(k("kind"), format!("unknown strategy {:?} ({})", s.kind, known.join(", ")))
                })?;
                let env = StrategyEnv {
                    instrument: spec,
                    timeframe,
                    session: Session { open, close },
                    qty: s.qty,
                    allow_short: s.allow_short,
                    instruments: &instruments,
                };
                let params = strategy_params(kind, &s.params, &env).map_err(|e| in_entry(&k, e))?;
                strategies.push(StrategySetup {
                    id: StrategyId(strategies.len() as u16),
                    account: AccountId(ai as u16),
                    instrument: spec.id,
                    timeframe,
                    kind,
                    params,
                });
            }
        }
        if instruments.len() > u32::MAX as usize
            || accounts.len() > u16::MAX as usize
            || strategies.len() > u16::MAX as usize
        {
            return Err(err("accounts", "too many accounts or strategies"));
        }
        Ok(EngineSetup {
            instruments,
            ref_prices,
            accounts,
            strategies,
            timeframes,
            candle_options: CandleOptions { empty: e.empty_bars, late: e.late_ticks },
            session: Session { open, close },
            global_kill_switch: self.risk.kill_switch,
            charges: self.charges.to_table()?,
            margins: MarginRules {
                mis: Ppb::from_percent(self.risk.mis_margin_pct)
                    .ok_or_else(|| err("risk.mis_margin_pct", "must be between 0 and 100"))?,
                nrml: nrml_margins,
            },
            enforce_session: self.risk.enforce_session,
            after_hours_amo: self.risk.after_hours_amo,
            mis_square_off: if self.risk.mis_square_off.trim().is_empty() {
                None
            } else {
                Some(
                    IstTime::parse(&self.risk.mis_square_off)
                        .ok_or_else(|| err("risk.mis_square_off", "expected HH:MM"))?,
                )
            },
            venues: self
                .venues
                .iter()
                .map(|v| v.name.clone())
                .chain(self.brokers.iter().map(|b| b.name.clone()))
                .collect(),
            max_working_orders: e.max_working_orders,
            paper: PaperConfig {
                venue: VenueConfig { slippage: self.paper.slippage, limit_fill: self.paper.limit_fill },
                ack_delay_ns: ms_to_ns("paper.ack_delay_ms", self.paper.ack_delay_ms)?,
                fill_delay_ns: ms_to_ns("paper.fill_delay_ms", self.paper.fill_delay_ms)?,
            },
        })
    }
}

/// A strategy's parameter error, with the entry's path (`k`) in front of its key.
fn in_entry(k: &dyn Fn(&str) -> String, e: ParamError) -> ConfigError {
    let key = if e.key.is_empty() { k("").trim_end_matches('.').to_string() } else { k(&e.key) };
    ConfigError { key, message: e.message }
}

/// Reads one strategy's own keys (a TOML table) for its kind in `env` (which carries the
/// entry's `qty` and `allow_short`). Errors carry the key relative to the entry.
pub fn strategy_params(
    kind: StrategyKind,
    params: &toml::Table,
    env: &StrategyEnv<'_>,
) -> Result<StrategyParams, ParamError> {
    let json = serde_json::to_value(params).map_err(|e| ParamError::new("", e))?;
    kind.parse(&json, env)
}
