//! Executions.

use super::{AccountId, FillId, InstrumentId, Money, OrderId, Price, Product, Qty, Side, StrategyId, Timestamp};

/// An execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fill {
    pub id: FillId,
    pub order: OrderId,
    pub account: AccountId,
    pub strategy: StrategyId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    pub price: Price,
    pub ts: Timestamp,
    pub product: Product,
    /// Brokerage and statutory charges on this fill, paise.
    pub charges: Money,
}
