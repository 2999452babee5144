//! The configuration file's shape, and its validation into an [`EngineSetup`]. Every error
//! names the key at fault, because a trader editing limits at 09:10 needs to know which line.

use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;

use crate::candle::{BarSpec, CandleOptions, EmptyBars, LatePolicy};
use crate::charges::{ChargeSegment, ChargeTable, Ppb, Tariff};
use crate::orders::PaperConfig;
use crate::risk::RiskLimits;
use crate::risk::{segment_default_margin, MarginRules};
use crate::setup::{AccountSetup, EngineSetup, StrategyKind, StrategyParams, StrategySetup};
use crate::types::{
    AccountId, InstrumentId, InstrumentSpec, IstTime, Money, Price, PriceBand, Qty, Segment, Session, StrategyId,
};
use crate::venue::{LimitFill, Slippage, VenueConfig};

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

/// Where stages run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlacementKind {
    /// All stages on one thread, as direct calls.
    #[default]
    Fused,
    /// One thread per stage, a ring between neighbours.
    Pipelined,
}

/// How an idle stage thread waits for work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitKind {
    /// Spin on the ring: lowest latency, burns a core. Only with a core to spare per thread.
    BusySpin,
    /// Spin, yielding the core to other threads between polls.
    Yield,
    /// Sleep between polls: for laptops and CI.
    #[default]
    Sleep,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedKind {
    #[default]
    Synthetic,
    Csv,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
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
}

impl Default for FeedSection {
    fn default() -> Self {
        FeedSection { kind: FeedKind::Synthetic, rate: 20_000, seed: 42, path: None, timer_hz: 10 }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalRiskSection {
    pub kill_switch: bool,
    /// Refuse regular (non-AMO) orders outside the session.
    pub enforce_session: bool,
    /// Time (IST) at which MIS positions are squared off; "" turns it off.
    pub mis_square_off: String,
    /// MIS margin, percent of order value.
    pub mis_margin_pct: f64,
}

impl Default for GlobalRiskSection {
    fn default() -> Self {
        GlobalRiskSection {
            kill_switch: false,
            enforce_session: true,
            mis_square_off: "15:20".into(),
            mis_margin_pct: 20.0,
        }
    }
}

/// One segment's tariff, in percent of turnover (brokerage cap and flat fee in rupees). Keys
/// left out keep the NSE defaults documented in `core/src/charges.rs`.
#[derive(Clone, Debug, Deserialize, PartialEq, Default)]
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
#[derive(Clone, Debug, Deserialize, PartialEq, Default)]
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
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    /// Address to listen on; "" turns the console off.
    pub listen: String,
    /// Cores for the console's threads, away from the engine's.
    pub cores: Vec<usize>,
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection { listen: "127.0.0.1:8080".into(), cores: Vec::new() }
    }
}

/// Where a run's records go, off the hot path. Core only carries the settings.
#[derive(Clone, Debug, Deserialize, PartialEq)]
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
}

impl Default for PersistenceSection {
    fn default() -> Self {
        PersistenceSection {
            database_url: "sqlite://data/dalal.db?mode=rwc".into(),
            redis_url: String::new(),
            redis_prefix: "dalal".into(),
            snapshot_every_ms: 60_000,
            store_queue: 65_536,
        }
    }
}

/// The paper exchange.
#[derive(Clone, Debug, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PaperSection {
    pub slippage: Slippage,
    pub limit_fill: LimitFill,
    /// Event-time delay before an order reaches the venue, ms.
    pub ack_delay_ms: f64,
    /// Event-time delay before a fill reaches us, ms.
    pub fill_delay_ms: f64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
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
}

fn default_segment() -> Segment {
    Segment::Equity
}

fn default_band() -> f64 {
    20.0
}

/// Per-account limits; zero means no limit. Rupee amounts are rupees.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    pub max_order_qty: u64,
    pub max_order_value: f64,
    pub max_position_qty: u64,
    pub max_position_value: f64,
    pub max_gross_exposure: f64,
    pub max_net_exposure: f64,
    pub max_open_orders: u32,
    /// SEBI's threshold for algos without an exchange-issued id is 10.
    pub max_orders_per_sec: u32,
    pub daily_loss_limit: f64,
    pub square_off_on_loss: bool,
    /// Limit and trigger prices within this percentage of the last trade.
    pub fat_finger_pct: f64,
    pub duplicate_window_ms: u32,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_order_qty: 0,
            max_order_value: 0.0,
            max_position_qty: 0,
            max_position_value: 0.0,
            max_gross_exposure: 0.0,
            max_net_exposure: 0.0,
            max_open_orders: 0,
            max_orders_per_sec: 10,
            daily_loss_limit: 0.0,
            square_off_on_loss: false,
            fat_finger_pct: 5.0,
            duplicate_window_ms: 500,
        }
    }
}

impl LimitsSection {
    /// Validates and converts; `key` prefixes error keys (`accounts[0].limits`).
    pub fn to_limits(&self, key: &str) -> Result<RiskLimits, ConfigError> {
        let money = |f: &str, v: f64| rupees(&format!("{key}.{f}"), v).map(|p| Money(p.0));
        if !(0.0..=100.0).contains(&self.fat_finger_pct) {
            return Err(err(format!("{key}.fat_finger_pct"), "must be between 0 and 100"));
        }
        Ok(RiskLimits {
            max_order_qty: Qty(self.max_order_qty),
            max_order_value: money("max_order_value", self.max_order_value)?,
            max_position_qty: Qty(self.max_position_qty),
            max_position_value: money("max_position_value", self.max_position_value)?,
            max_gross_exposure: money("max_gross_exposure", self.max_gross_exposure)?,
            max_net_exposure: money("max_net_exposure", self.max_net_exposure)?,
            max_open_orders: self.max_open_orders,
            max_orders_per_sec: self.max_orders_per_sec,
            daily_loss_limit: money("daily_loss_limit", self.daily_loss_limit)?,
            square_off_on_loss: self.square_off_on_loss,
            fat_finger_bps: (self.fat_finger_pct * 100.0).round() as u32,
            duplicate_window_ms: self.duplicate_window_ms,
        })
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
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
}

#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StrategySection {
    /// `ema_cross`, `bollinger`, `orb`, `supertrend`, `vwap_reversion` or `grid`.
    pub kind: String,
    pub instrument: String,
    #[serde(default = "default_tf")]
    pub timeframe: String,
    /// Position size in units (whole lots).
    pub qty: u64,
    #[serde(default)]
    pub allow_short: bool,
    pub fast: Option<usize>,
    pub slow: Option<usize>,
    pub period: Option<usize>,
    pub k: Option<f64>,
    /// `orb`: minutes after the session open that form the range (default 15).
    pub range_minutes: Option<u32>,
    /// `orb`, `supertrend`, `vwap_reversion`, `grid`: IST time to be flat by, `HH:MM` (default
    /// "15:15").
    pub exit_time: Option<String>,
    /// `orb`: rest a stop at the other side of the range once in a position (default true).
    pub range_stop: Option<bool>,
    /// `supertrend`: band width in ATRs (default 3; `period` is the ATR period, default 10).
    pub multiplier: Option<f64>,
    /// `vwap_reversion`: distance from the session VWAP that triggers a trade, basis points
    /// (default 50).
    pub band_bps: Option<u32>,
    /// `grid`: orders each side of the reference (default 3).
    pub levels: Option<u32>,
    /// `grid`: distance between levels, basis points of the reference (default 20).
    pub step_bps: Option<u32>,
    /// `grid`: largest position either way, units (default levels × qty).
    pub max_position: Option<u64>,
}

impl StrategySection {
    /// The entry that would configure `params` (so a change can be written as a partial entry
    /// over the current one).
    pub fn from_params(instrument: &str, timeframe: BarSpec, params: &StrategyParams) -> StrategySection {
        let mut s = StrategySection {
            kind: params.kind.name().into(),
            instrument: instrument.into(),
            timeframe: timeframe.to_string(),
            qty: params.qty,
            allow_short: params.allow_short,
            fast: None,
            slow: None,
            period: None,
            k: None,
            range_minutes: None,
            exit_time: None,
            range_stop: None,
            multiplier: None,
            band_bps: None,
            levels: None,
            step_bps: None,
            max_position: None,
        };
        match params.kind {
            StrategyKind::EmaCross { fast, slow } => (s.fast, s.slow) = (Some(fast), Some(slow)),
            StrategyKind::Bollinger { period, k } => (s.period, s.k) = (Some(period), Some(k)),
            StrategyKind::Orb { range_minutes, exit_time, range_stop } => {
                (s.range_minutes, s.exit_time, s.range_stop) =
                    (Some(range_minutes), Some(hhmm(exit_time)), Some(range_stop))
            }
            StrategyKind::Supertrend { period, multiplier, exit_time } => {
                (s.period, s.multiplier, s.exit_time) = (Some(period), Some(multiplier), Some(hhmm(exit_time)))
            }
            StrategyKind::VwapReversion { band_bps, exit_time } => {
                (s.band_bps, s.exit_time) = (Some(band_bps), Some(hhmm(exit_time)))
            }
            StrategyKind::Grid { levels, step_bps, max_position, exit_time } => {
                (s.levels, s.step_bps, s.max_position, s.exit_time) =
                    (Some(levels), Some(step_bps), Some(max_position), Some(hhmm(exit_time)))
            }
        }
        s
    }
}

fn default_tf() -> String {
    "1m".into()
}

/// The whole file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
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
    pub instruments: Vec<InstrumentSection>,
    #[serde(default)]
    pub accounts: Vec<AccountSection>,
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
    pub fn validate(&self) -> Result<EngineSetup, ConfigError> {
        let e = &self.engine;
        if !e.ring_size.is_power_of_two() || e.ring_size < 2 {
            return Err(err("engine.ring_size", format!("{} is not a power of two ≥ 2", e.ring_size)));
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
        let mut timeframes = Vec::new();
        for (i, t) in e.timeframes.iter().enumerate() {
            timeframes.push(BarSpec::parse(t).ok_or_else(|| {
                err(format!("engine.timeframes[{i}]"), format!("{t:?} is not a bar like 1s, 1m, 1h, 1d, 500t, 10000v"))
            })?);
        }
        if self.feed.kind == FeedKind::Csv && self.feed.path.is_none() {
            return Err(err("feed.path", "required when feed.kind = \"csv\""));
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

        let mut accounts = Vec::new();
        let mut strategies = Vec::new();
        let mut names = HashSet::new();
        for (ai, a) in self.accounts.iter().enumerate() {
            let k = |f: &str| format!("accounts[{ai}].{f}");
            if a.name.trim().is_empty() || !names.insert(a.name.clone()) {
                return Err(err(k("name"), format!("{:?} is empty or defined twice", a.name)));
            }
            let limits = a.limits.to_limits(&k("limits"))?;
            let funds = rupees(&k("funds"), a.funds)?;
            accounts.push(AccountSetup {
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
                let params = strategy_params(s, spec, timeframe, open, close, &k)?;
                strategies.push(StrategySetup {
                    id: StrategyId(strategies.len() as u16),
                    account: AccountId(ai as u16),
                    instrument: spec.id,
                    timeframe,
                    qty: params.qty,
                    allow_short: params.allow_short,
                    kind: params.kind,
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
            mis_square_off: if self.risk.mis_square_off.trim().is_empty() {
                None
            } else {
                Some(
                    IstTime::parse(&self.risk.mis_square_off)
                        .ok_or_else(|| err("risk.mis_square_off", "expected HH:MM"))?,
                )
            },
            paper: PaperConfig {
                venue: VenueConfig { slippage: self.paper.slippage, limit_fill: self.paper.limit_fill },
                ack_delay_ns: ms_to_ns("paper.ack_delay_ms", self.paper.ack_delay_ms)?,
                fill_delay_ns: ms_to_ns("paper.fill_delay_ms", self.paper.fill_delay_ms)?,
            },
        })
    }
}

/// `HH:MM` of a time of day, for messages.
fn hhmm(t: IstTime) -> String {
    let m = t.0 / (60 * crate::types::time::NANOS_PER_SEC);
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// Validates one strategy entry's size and parameters for an instrument, timeframe and
/// session; `k` names the entry's keys in errors. Used for the config file and for parameter
/// changes arriving at run time, so both say the same thing about the same mistake.
pub fn strategy_params(
    s: &StrategySection,
    spec: &InstrumentSpec,
    timeframe: BarSpec,
    open: IstTime,
    close: IstTime,
    k: &dyn Fn(&str) -> String,
) -> Result<StrategyParams, ConfigError> {
    if s.qty == 0 || !s.qty.is_multiple_of(spec.lot_size.0) {
        return Err(err(k("qty"), format!("{} is not a positive multiple of the lot size {}", s.qty, spec.lot_size)));
    }
    let need = |v: Option<usize>, f: &str| -> Result<usize, ConfigError> {
        v.filter(|n| *n >= 1).ok_or_else(|| err(k(f), "required, at least 1"))
    };
    let kind = match s.kind.as_str() {
        "ema_cross" => {
            let fast = need(s.fast, "fast")?;
            let slow = need(s.slow, "slow")?;
            if fast >= slow {
                return Err(err(k("fast"), format!("must be less than slow ({fast} ≥ {slow})")));
            }
            StrategyKind::EmaCross { fast, slow }
        }
        "bollinger" => {
            let period = need(s.period, "period")?;
            let kk = s.k.unwrap_or(2.0);
            if !(kk.is_finite() && kk > 0.0) {
                return Err(err(k("k"), "must be a positive number"));
            }
            StrategyKind::Bollinger { period: period.max(2), k: kk }
        }
        "orb" => {
            let range_minutes = s.range_minutes.unwrap_or(15);
            if range_minutes == 0 {
                return Err(err(k("range_minutes"), "must be at least 1"));
            }
            let window = range_minutes as i64 * 60 * crate::types::time::NANOS_PER_SEC;
            if let BarSpec::Time(tf) = timeframe {
                if window % tf.0 != 0 {
                    return Err(err(
                        k("range_minutes"),
                        format!("{range_minutes} minutes is not a whole number of {tf} bars"),
                    ));
                }
            }
            let exit_text = s.exit_time.as_deref().unwrap_or("15:15");
            let exit_time =
                IstTime::parse(exit_text).filter(|t| t.0 > open.0 + window && *t <= close).ok_or_else(|| {
                    err(
                        k("exit_time"),
                        format!(
                            "{exit_text:?} is not an HH:MM time after the opening range \
                                 ({range_minutes} minutes from {}) and no later than session_close ({})",
                            hhmm(open),
                            hhmm(close)
                        ),
                    )
                })?;
            StrategyKind::Orb { range_minutes, exit_time, range_stop: s.range_stop.unwrap_or(true) }
        }
        "supertrend" => {
            let period = s.period.unwrap_or(10);
            if !(1..=crate::indicators::MAX_PERIOD).contains(&period) {
                return Err(err(k("period"), format!("must be between 1 and {}", crate::indicators::MAX_PERIOD)));
            }
            let multiplier = s.multiplier.unwrap_or(3.0);
            if !(multiplier.is_finite() && multiplier > 0.0) {
                return Err(err(k("multiplier"), "must be a positive number"));
            }
            let exit_text = s.exit_time.as_deref().unwrap_or("15:15");
            let exit_time = IstTime::parse(exit_text)
                .filter(|t| *t > open && *t <= close)
                .ok_or_else(|| err(k("exit_time"), format!("{exit_text:?} is not an HH:MM time inside the session")))?;
            StrategyKind::Supertrend { period, multiplier, exit_time }
        }
        "vwap_reversion" => {
            let band_bps = s.band_bps.unwrap_or(50);
            if !(1..=5_000).contains(&band_bps) {
                return Err(err(k("band_bps"), format!("{band_bps} is not between 1 and 5000")));
            }
            let exit_text = s.exit_time.as_deref().unwrap_or("15:15");
            let exit_time = IstTime::parse(exit_text)
                .filter(|t| *t > open && *t <= close)
                .ok_or_else(|| err(k("exit_time"), format!("{exit_text:?} is not an HH:MM time inside the session")))?;
            StrategyKind::VwapReversion { band_bps, exit_time }
        }
        "grid" => {
            let levels = s.levels.unwrap_or(3);
            if !(1..=50).contains(&levels) {
                return Err(err(k("levels"), format!("{levels} is not between 1 and 50")));
            }
            let step_bps = s.step_bps.unwrap_or(20);
            if step_bps == 0 || levels as u64 * step_bps as u64 >= 10_000 {
                return Err(err(
                    k("step_bps"),
                    format!("must be at least 1 and levels × step_bps under 10000 ({levels} × {step_bps})"),
                ));
            }
            let max_position = s.max_position.unwrap_or((levels as u64).saturating_mul(s.qty));
            if max_position < s.qty {
                return Err(err(k("max_position"), format!("{max_position} is less than one order of qty {}", s.qty)));
            }
            let exit_text = s.exit_time.as_deref().unwrap_or("15:15");
            let exit_time = IstTime::parse(exit_text)
                .filter(|t| *t > open && *t <= close)
                .ok_or_else(|| err(k("exit_time"), format!("{exit_text:?} is not an HH:MM time inside the session")))?;
            StrategyKind::Grid { levels, step_bps, max_position, exit_time }
        }
        other => {
            let known = "ema_cross, bollinger, orb, supertrend, vwap_reversion, grid";
            return Err(err(k("kind"), format!("unknown strategy {other:?} ({known})")));
        }
    };
    Ok(StrategyParams { kind, qty: s.qty, allow_short: s.allow_short })
}
