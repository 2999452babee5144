//! The built-in strategies, each one file: its parameter struct, its constructor, its logic and
//! its tests. [`builtin`] registers them; a strategy of your own is registered the same way
//! (see `examples/custom_strategy.rs` and `docs/strategies.md`).

use crate::model::IstTime;
use crate::stages::strategy::{ParamError, StrategyEnv, StrategyRegistry};

/// Declares each built-in strategy's module, re-exports its type and parameter struct, and
/// registers it: one line per strategy.
macro_rules! builtin_strategies {
    ($($module:ident :: $ty:ident ($params:ident)),* $(,)?) => {
        $(mod $module; pub use $module::{$ty, $params};)*

        /// A registry of every built-in strategy.
        pub fn builtin() -> StrategyRegistry {
            let mut r = StrategyRegistry::new();
            $(r.register::<$ty>();)*
            r
        }
    };
}

builtin_strategies! {
    ema_cross::EmaCross(EmaCrossParams),
    bollinger::BollingerReversion(BollingerParams),
    orb::OpeningRangeBreakout(OrbParams),
    supertrend::SupertrendFollow(SupertrendParams),
    vwap_reversion::VwapReversion(VwapReversionParams),
    grid::Grid(GridParams),
}

/// 15:15 IST: intraday strategies are flat before the broker's MIS square-off.
fn default_exit() -> IstTime {
    IstTime::hm(15, 15)
}

/// An exit time must fall inside the session.
fn exit_inside_session(exit: IstTime, env: &StrategyEnv<'_>) -> Result<(), ParamError> {
    if exit > env.session.open && exit <= env.session.close {
        Ok(())
    } else {
        Err(ParamError::new("exit_time", format!("{exit} is not an HH:MM time inside the session")))
    }
}

/// An indicator period: at least one bar, at most what the indicators support.
fn period(key: &str, p: usize) -> Result<(), ParamError> {
    if p == 0 {
        return Err(ParamError::new(key, "required, at least 1"));
    }
    if p > crate::indicators::MAX_PERIOD {
        return Err(ParamError::new(key, format!("must be at most {}", crate::indicators::MAX_PERIOD)));
    }
    Ok(())
}
