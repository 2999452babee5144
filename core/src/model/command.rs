//! Operator, strategy and system commands.

use super::{AccountId, OrderId, OrderIntent, Price, Product, Qty, RiskLimits, StrategyId, StrategyParams};

/// Which accounts a kill switch covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum KillScope {
    Global,
    Account(AccountId),
}

/// Operator, strategy and system commands. Outside ones enter through the ingress ring like
/// ticks, so they are sequenced, journaled and replayed with the market data they interleave
/// with; limits change this way, never by writing to the hot path's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    KillSwitch {
        scope: KillScope,
        engaged: bool,
    },
    /// Replaces an account's limits.
    SetLimits {
        account: AccountId,
        limits: RiskLimits,
    },
    /// An order from outside the strategies (an operator, a program through the API).
    Place {
        intent: OrderIntent,
    },
    Cancel {
        account: AccountId,
        order: OrderId,
    },
    /// New total quantity, limit price and trigger; zero keeps the current value.
    Modify {
        account: AccountId,
        order: OrderId,
        qty: Qty,
        price: Price,
        trigger: Price,
    },
    /// Starts or stops a strategy: a stopped one keeps its book and working orders but makes
    /// no decisions.
    StrategyEnabled {
        strategy: StrategyId,
        enabled: bool,
    },
    /// New parameters for a running strategy: it restarts its decisions with them (fresh
    /// indicator warm-up where periods changed), keeping its book and working orders.
    SetStrategyParams {
        strategy: StrategyId,
        params: StrategyParams,
    },
    /// Cancels every working order in scope, optionally of one product only.
    CancelWorking {
        scope: KillScope,
        product: Option<Product>,
    },
}
