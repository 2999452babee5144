//! What a strategy author writes against: the [`Strategy`] trait, the [`StrategyEnv`] a strategy
//! is built in, the [`Subscription`]s it may declare beyond its home bars, and the
//! [`ParamError`] that names the parameter at fault.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Ctx;
use crate::indicators::IndicatorSpec;
use crate::model::{BarSpec, Candle, InstrumentId, InstrumentSpec, Session, Tick};

/// A trading strategy: one struct, its parameter struct and its logic.
///
/// The engine builds it with [`Strategy::new`] from validated parameters, shows it the closed
/// bars (and, if asked, the trades) it subscribed to, and takes its decisions from the [`Ctx`].
/// It must be deterministic: it never reads the wall clock (use [`Ctx::now`]), never does I/O,
/// and draws randomness only from a generator seeded from its parameters. Its whole state is
/// saved in engine snapshots through its serde derive, so a restored engine continues exactly.
///
/// Register it under [`Strategy::KIND`] with
/// [`StrategyRegistry::register`](super::StrategyRegistry::register); configuration files, the
/// console, snapshots and the journal then all know it by that name.
pub trait Strategy: Serialize + DeserializeOwned + Send + 'static {
    /// The name configuration files use (`kind = "..."`) and the console shows.
    const KIND: &'static str;

    /// The strategy's own parameters, as configuration spells them. Use serde attributes for
    /// defaults (`#[serde(default = ...)]`) and `#[serde(deny_unknown_fields)]` so a misspelt
    /// key is an error rather than a silently ignored value.
    type Params: Serialize + DeserializeOwned + Send + 'static;

    /// Validates `params` for this environment and builds a fresh instance. Errors name the
    /// parameter's key ([`ParamError::new`]); configuration and run-time parameter changes
    /// report them with the entry's path in front.
    fn new(params: &Self::Params, env: &StrategyEnv<'_>) -> Result<Self, ParamError>;

    /// Indicators of the home bars, read through [`Ctx::value`] / [`Ctx::indicator`] in this
    /// order. The stage computes each distinct indicator once per bar, however many
    /// strategies declare it.
    fn indicators(&self) -> Vec<IndicatorSpec> {
        Vec::new()
    }

    /// Whether [`Strategy::on_tick`] receives the home instrument's trades.
    fn wants_ticks(&self) -> bool {
        false
    }

    /// Bars (and trades) of other instruments or timeframes this strategy reads besides its
    /// home bars: the legs of a pair, an index for an index-vs-stock rule, a slower timeframe
    /// for a filter. Subscription `k` here is feed `k + 1` in [`Ctx::feed`] (feed 0 is home).
    fn subscriptions(&self) -> Vec<Subscription> {
        Vec::new()
    }

    /// Each closed bar of a subscribed feed ([`Ctx::feed`] says which).
    fn on_candle(&mut self, candle: &Candle, ctx: &mut Ctx<'_>);

    /// Each trade of a feed that asked for trades.
    fn on_tick(&mut self, _tick: &Tick, _ctx: &mut Ctx<'_>) {}
}

/// Where a strategy instance runs: its home instrument and bars, the session, its size, and
/// the instrument table (to resolve the symbols of further legs).
#[derive(Clone, Copy, Debug)]
pub struct StrategyEnv<'a> {
    pub instrument: &'a InstrumentSpec,
    pub timeframe: BarSpec,
    pub session: Session,
    /// Position size in units (a whole number of lots, checked before the strategy sees it).
    pub qty: u64,
    pub allow_short: bool,
    pub instruments: &'a [InstrumentSpec],
}

impl StrategyEnv<'_> {
    /// The instrument of a symbol, for strategies trading more than their home instrument.
    pub fn resolve(&self, symbol: &str) -> Option<&InstrumentSpec> {
        self.instruments.iter().find(|i| i.symbol == symbol)
    }

    /// [`StrategyEnv::resolve`] with the error a parameter `key` naming an unknown symbol gets.
    pub fn instrument_for(&self, key: &str, symbol: &str) -> Result<InstrumentId, ParamError> {
        self.resolve(symbol).map(|i| i.id).ok_or_else(|| ParamError::new(key, format!("unknown symbol {symbol:?}")))
    }
}

/// A feed a strategy reads besides its home bars.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    pub instrument: InstrumentId,
    pub timeframe: BarSpec,
    /// Indicators of these bars, read with [`Ctx::value_of`] / [`Ctx::indicator_of`].
    pub indicators: Vec<IndicatorSpec>,
    /// Also deliver this instrument's trades to [`Strategy::on_tick`].
    pub ticks: bool,
}

impl Subscription {
    /// The closed bars of `instrument` at `timeframe`.
    pub fn bars(instrument: InstrumentId, timeframe: BarSpec) -> Subscription {
        Subscription { instrument, timeframe, indicators: Vec::new(), ticks: false }
    }

    pub fn with_indicators(mut self, indicators: Vec<IndicatorSpec>) -> Subscription {
        self.indicators = indicators;
        self
    }

    pub fn with_ticks(mut self) -> Subscription {
        self.ticks = true;
        self
    }
}

/// A parameter that is wrong, and which. `key` is relative to the strategy's entry (`fast`,
/// `legs[1].symbol`); callers put the entry's own path in front.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ParamError {
    pub key: String,
    pub message: String,
}

impl ParamError {
    pub fn new(key: impl Into<String>, message: impl fmt::Display) -> ParamError {
        ParamError { key: key.into(), message: message.to_string() }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.key, self.message)
        }
    }
}
