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
#[derive(Clone, Debug, PartialEq)]
pub enum StrategyKind {
    EmaCross { fast: usize, slow: usize },
    Bollinger { period: usize, k: f64 },
    Orb { range_minutes: u32, exit_time: IstTime, range_stop: bool },
    Supertrend { period: usize, multiplier: f64, exit_time: IstTime },
    VwapReversion { band_bps: u32, exit_time: IstTime },
    Grid { levels: u32, step_bps: u32, max_position: u64, exit_time: IstTime },
}

impl StrategyKind {
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
                let strategy: Box<dyn Strategy> = match s.kind {
                    StrategyKind::EmaCross { fast, slow } => Box::new(EmaCross::new(fast, slow, s.qty, s.allow_short)),
                    StrategyKind::Bollinger { period, k } => {
                        Box::new(BollingerReversion::new(period, k, s.qty, s.allow_short))
                    }
                    StrategyKind::Orb { range_minutes, exit_time, range_stop } => {
                        Box::new(crate::strategy::OpeningRangeBreakout::new(
                            self.session.open,
                            range_minutes,
                            exit_time,
                            s.qty,
                            s.allow_short,
                            range_stop,
                        ))
                    }
                    StrategyKind::Supertrend { period, multiplier, exit_time } => Box::new(
                        crate::strategy::SupertrendFollow::new(period, multiplier, s.qty, s.allow_short, exit_time),
                    ),
                    StrategyKind::VwapReversion { band_bps, exit_time } => {
                        Box::new(crate::strategy::VwapReversion::new(band_bps, s.qty, s.allow_short, exit_time))
                    }
                    StrategyKind::Grid { levels, step_bps, max_position, exit_time } => {
                        let tick = self.instruments.get(s.instrument.index()).map_or(Price(1), |i| i.tick_size);
                        Box::new(crate::strategy::Grid::new(
                            levels,
                            step_bps,
                            s.qty,
                            max_position,
                            s.allow_short,
                            tick,
                            exit_time,
                        ))
                    }
                };
                StrategySlot::new(s.id, s.account, s.instrument, s.timeframe, strategy)
            })
            .collect()
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
