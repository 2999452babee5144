//! Operator, strategy and system commands.

use super::{
    AccountId, InstrumentId, OrderId, OrderIntent, Price, Product, Qty, RiskLimits, Side, StrategyId, StrategyParams,
};

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
    /// Books a position taken outside the engine: see [`Adoption`].
    Adopt(Adoption),
}

/// A position taken outside the engine (at a broker, before the run), booked as an opening
/// fill at its average price: no order, no charges, no risk check (the position exists
/// already). Reconciliation sends the difference between the broker's net position and the
/// engine's, so afterwards they agree. Being a command, it is journaled and replays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Adoption {
    pub account: AccountId,
    pub instrument: InstrumentId,
    pub product: Product,
    pub side: Side,
    pub qty: Qty,
    pub price: Price,
}
