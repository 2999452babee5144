//! A validated engine description: what config turns into once every symbol is resolved and
//! every number checked. Engines are built from it, so a backtest, a live run and a benchmark
//! of the same setup run identical stages.

use crate::candle::{BarSpec, CandleOptions};
use crate::charges::ChargeTable;
use crate::event::{Command, KillScope};
use crate::orders::PaperConfig;
use crate::risk::{AccountRisk, MarginRules, RiskLimits, SessionRules};
use crate::strategy::{BollingerReversion, EmaCross, Strategy, StrategySlot};
use crate::types::{AccountId, InstrumentId, InstrumentSpec, IstTime, Money, Price, Session, StrategyId};

/// One trader's account.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountSetup {
    pub id: AccountId,
    pub name: String,
    pub limits: RiskLimits,
    /// Starting cash; zero means funds are not checked.
    pub funds: Money,
    /// Start with this account's kill switch engaged.
    pub kill_switch: bool,
}

/// Which strategy, with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum StrategyKind {
    EmaCross { fast: usize, slow: usize },
    Bollinger { period: usize, k: f64 },
    Orb { range_minutes: u32, exit_time: IstTime, range_stop: bool },
    Supertrend { period: usize, multiplier: f64, exit_time: IstTime },
    VwapReversion { band_bps: u32, exit_time: IstTime },
    Grid { levels: u32, step_bps: u32, max_position: u64, exit_time: IstTime },
}

/// Validated parameters are finite (NaN never passes validation), so equality is reflexive and
/// a command carrying them can be compared like any other.
impl Eq for StrategyKind {}

/// What an operator may change on a running strategy: its parameters, size and shorting (not
/// its kind, instrument or timeframe).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StrategyParams {
    pub kind: StrategyKind,
    pub qty: u64,
    pub allow_short: bool,
}

/// A fresh strategy instance. `session_open` anchors the opening range; `tick` is the
/// instrument's tick size (grid levels sit on it).
pub fn build_strategy(p: &StrategyParams, session_open: IstTime, tick: Price) -> Box<dyn Strategy> {
    let (qty, allow_short) = (p.qty, p.allow_short);
    match p.kind {
        StrategyKind::EmaCross { fast, slow } => Box::new(EmaCross::new(fast, slow, qty, allow_short)),
        StrategyKind::Bollinger { period, k } => Box::new(BollingerReversion::new(period, k, qty, allow_short)),
        StrategyKind::Orb { range_minutes, exit_time, range_stop } => {
            Box::new(crate::strategy::OpeningRangeBreakout::new(
                session_open,
                range_minutes,
                exit_time,
                qty,
                allow_short,
                range_stop,
            ))
        }
        StrategyKind::Supertrend { period, multiplier, exit_time } => {
            Box::new(crate::strategy::SupertrendFollow::new(period, multiplier, qty, allow_short, exit_time))
        }
        StrategyKind::VwapReversion { band_bps, exit_time } => {
            Box::new(crate::strategy::VwapReversion::new(band_bps, qty, allow_short, exit_time))
        }
        StrategyKind::Grid { levels, step_bps, max_position, exit_time } => {
            Box::new(crate::strategy::Grid::new(levels, step_bps, qty, max_position, allow_short, tick, exit_time))
        }
    }
}

impl StrategyKind {
    /// The invariants constructors rely on (periods in range, positive finite multipliers),
    /// checked again for parameters that arrive as a command, so no input can make a strategy
    /// panic. Configuration validation is stricter and explains itself.
    pub fn is_sane(&self) -> bool {
        let period = |p: usize| (1..=crate::indicators::MAX_PERIOD).contains(&p);
        let positive = |x: f64| x.is_finite() && x > 0.0;
        match *self {
            StrategyKind::EmaCross { fast, slow } => period(fast) && period(slow) && fast < slow,
            StrategyKind::Bollinger { period: p, k } => period(p) && p >= 2 && positive(k),
            StrategyKind::Orb { range_minutes, .. } => range_minutes >= 1,
            StrategyKind::Supertrend { period: p, multiplier, .. } => period(p) && positive(multiplier),
            StrategyKind::VwapReversion { band_bps, .. } => (1..=5_000).contains(&band_bps),
            StrategyKind::Grid { levels, step_bps, max_position, .. } => {
                (1..=50).contains(&levels)
                    && step_bps >= 1
                    && u64::from(levels) * u64::from(step_bps) < 10_000
                    && max_position >= 1
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            StrategyKind::EmaCross { .. } => "ema_cross",
            StrategyKind::Bollinger { .. } => "bollinger",
            StrategyKind::Orb { .. } => "orb",
            StrategyKind::Supertrend { .. } => "supertrend",
            StrategyKind::VwapReversion { .. } => "vwap_reversion",
            StrategyKind::Grid { .. } => "grid",
        }
    }
}

/// One strategy instance, owned by one account, trading one instrument.
#[derive(Clone, Debug, PartialEq)]
pub struct StrategySetup {
    pub id: StrategyId,
    pub account: AccountId,
    pub instrument: InstrumentId,
    pub timeframe: BarSpec,
    pub qty: u64,
    pub allow_short: bool,
    pub kind: StrategyKind,
}

impl StrategySetup {
    /// Its parameters as configured.
    pub fn params(&self) -> StrategyParams {
        StrategyParams { kind: self.kind, qty: self.qty, allow_short: self.allow_short }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct EngineSetup {
    pub instruments: Vec<InstrumentSpec>,
    /// Reference (previous close) price per instrument: the centre of its band and the
    /// synthetic feed's starting point.
    pub ref_prices: Vec<Price>,
    pub accounts: Vec<AccountSetup>,
    pub strategies: Vec<StrategySetup>,
    /// Timeframes built even if no strategy listens (for observers).
    pub timeframes: Vec<BarSpec>,
    pub candle_options: CandleOptions,
    pub session: Session,
    pub global_kill_switch: bool,
    /// Brokerage and statutory charges per segment.
    pub charges: ChargeTable,
    pub margins: MarginRules,
    /// Refuse regular orders outside the session.
    pub enforce_session: bool,
    pub mis_square_off: Option<IstTime>,
    pub paper: PaperConfig,
}

impl EngineSetup {
    /// Fresh strategy instances (strategies hold state, so each engine gets its own).
    pub fn strategy_slots(&self) -> Vec<StrategySlot> {
        self.strategies
            .iter()
            .map(|s| {
                let strategy = build_strategy(&s.params(), self.session.open, self.tick_size(s.instrument));
                StrategySlot::new(s.id, s.account, s.instrument, s.timeframe, strategy)
            })
            .collect()
    }

    pub fn tick_size(&self, instrument: InstrumentId) -> Price {
        self.instruments.get(instrument.index()).map_or(Price(1), |i| i.tick_size)
    }

    /// Commands that put the engine in its configured starting state.
    pub fn initial_commands(&self) -> Vec<Command> {
        let mut v = Vec::new();
        if self.global_kill_switch {
            v.push(Command::KillSwitch { scope: KillScope::Global, engaged: true });
        }
        for a in &self.accounts {
            if a.kill_switch {
                v.push(Command::KillSwitch { scope: KillScope::Account(a.id), engaged: true });
            }
        }
        v
    }

    /// What the risk stage needs of each account.
    pub fn account_risk(&self) -> Vec<AccountRisk> {
        self.accounts.iter().map(|a| AccountRisk { limits: a.limits, funds: a.funds }).collect()
    }

    pub fn session_rules(&self) -> SessionRules {
        SessionRules { session: self.session, enforce: self.enforce_session, mis_square_off: self.mis_square_off }
    }

    pub fn instrument_by_symbol(&self, symbol: &str) -> Option<&InstrumentSpec> {
        self.instruments.iter().find(|i| i.symbol == symbol)
    }
}
