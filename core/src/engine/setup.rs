//! A validated engine description: what config turns into once every symbol is resolved and
//! every number checked. Engines are built from it, so a backtest, a live run and a benchmark
//! of the same setup run identical stages.

use crate::model::{
    AccountId, BarSpec, Command, InstrumentId, InstrumentSpec, IstTime, KillScope, Money, Price, RiskLimits, Route,
    Session, StrategyId, StrategyParams,
};
use crate::stages::candle::CandleOptions;
use crate::stages::charges::ChargeTable;
use crate::stages::order::PaperConfig;
use crate::stages::risk::{AccountRisk, MarginRules, SessionRules};
use crate::stages::strategy::{Idle, ParamError, Runner, StrategyEnv, StrategyKind, StrategySlot};

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
    /// Where its orders go: the paper exchange, or a live venue of [`EngineSetup::venues`].
    pub route: Route,
}

/// One strategy instance, owned by one account, trading one instrument.
#[derive(Clone, Debug, PartialEq)]
pub struct StrategySetup {
    pub id: StrategyId,
    pub account: AccountId,
    /// Home instrument and bars.
    pub instrument: InstrumentId,
    pub timeframe: BarSpec,
    /// The registered strategy type, and the parameters it validated.
    pub kind: StrategyKind,
    pub params: StrategyParams,
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
    /// Strategies' orders outside the session go as after-market orders (see
    /// [`SessionRules::after_hours_amo`]).
    pub after_hours_amo: bool,
    pub paper: PaperConfig,
    /// Orders that may work at once (the order stage's slab).
    pub max_working_orders: usize,
    /// Live venues by [`VenueId`](crate::model::VenueId) (their names; connection details are the runtime's).
    pub venues: Vec<String>,
}

impl EngineSetup {
    /// Where strategy `s` runs, for building it.
    pub fn strategy_env(&self, s: &StrategySetup) -> Option<StrategyEnv<'_>> {
        Some(StrategyEnv {
            instrument: self.instruments.get(s.instrument.index())?,
            timeframe: s.timeframe,
            session: self.session,
            qty: s.params.qty,
            allow_short: s.params.allow_short,
            instruments: &self.instruments,
        })
    }

    /// Fresh strategy instances (strategies hold state, so each engine gets its own), with
    /// the strategies whose parameters do not build (a setup not made by the configuration
    /// loader, which builds each once) reported by id.
    pub fn strategy_slots(&self) -> (Vec<StrategySlot>, Vec<(StrategyId, ParamError)>) {
        let mut slots = Vec::with_capacity(self.strategies.len());
        let mut failed = Vec::new();
        for s in &self.strategies {
            let built = match self.strategy_env(s) {
                Some(env) => s.kind.build(&s.params, &env),
                None => Err(ParamError::new("instrument", format!("no instrument {}", s.instrument))),
            };
            let runner: Box<dyn Runner> = match built {
                Ok(r) => r,
                Err(e) => {
                    failed.push((s.id, e));
                    Box::new(Idle)
                }
            };
            slots.push(StrategySlot::new(s.id, s.account, (s.instrument, s.timeframe), (s.kind, s.params), runner));
        }
        (slots, failed)
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

    /// Per account, where its orders go.
    pub fn routes(&self) -> Vec<Route> {
        self.accounts.iter().map(|a| a.route).collect()
    }

    /// What the risk stage needs of each account.
    pub fn account_risk(&self) -> Vec<AccountRisk> {
        self.accounts.iter().map(|a| AccountRisk { limits: a.limits, funds: a.funds }).collect()
    }

    pub fn session_rules(&self) -> SessionRules {
        SessionRules {
            session: self.session,
            enforce: self.enforce_session,
            mis_square_off: self.mis_square_off,
            after_hours_amo: self.after_hours_amo,
        }
    }

    pub fn instrument_by_symbol(&self, symbol: &str) -> Option<&InstrumentSpec> {
        self.instruments.iter().find(|i| i.symbol == symbol)
    }
}

impl EngineSetup {
    /// The parameters strategy `s` would have with `changes` applied over `current`: a JSON
    /// object of its own keys and `qty` / `allow_short`, validated exactly as its configuration
    /// entry is (kind, instrument and timeframe cannot change). Errors name the key.
    pub fn strategy_params_with(
        &self,
        s: &StrategySetup,
        current: &StrategyParams,
        changes: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<StrategyParams, ParamError> {
        let mut own = match s.kind.describe(current) {
            Some(serde_json::Value::Object(m)) => m,
            Some(_) | None => serde_json::Map::new(),
        };
        let (mut qty, mut allow_short) = (current.qty, current.allow_short);
        for (k, v) in changes {
            match k.as_str() {
                "kind" | "instrument" | "timeframe" => {
                    return Err(ParamError::new(k.as_str(), "cannot change on a running strategy"))
                }
                "qty" => qty = v.as_u64().ok_or_else(|| ParamError::new("qty", "must be a whole number of units"))?,
                "allow_short" => {
                    allow_short = v.as_bool().ok_or_else(|| ParamError::new("allow_short", "must be true or false"))?
                }
                _ => {
                    own.insert(k.clone(), v.clone());
                }
            }
        }
        let base = self.strategy_env(s).ok_or_else(|| ParamError::new("instrument", "not in the setup"))?;
        let env = StrategyEnv { qty, allow_short, ..base };
        let params = s.kind.parse(&serde_json::Value::Object(own), &env)?;
        // The strategy stage builds the strategy again from the command; what it would refuse
        // is refused here, so the console never shows a change the engine did not take.
        s.kind.build(&params, &env)?;
        Ok(params)
    }
}
