//! Per-account risk limits: the values an operator sets and the risk stage enforces.

use serde::{Deserialize, Serialize};

use super::{Money, Qty};

/// Per-account limits. Zero means "no limit" for every numeric one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskLimits {
    /// Largest quantity in one order.
    pub max_order_qty: Qty,
    /// Largest notional of one order (at its limit price, or the last trade for MARKET).
    pub max_order_value: Money,
    /// Largest absolute position per instrument, counting working orders.
    pub max_position_qty: Qty,
    /// Largest absolute position value per instrument, counting working orders.
    pub max_position_value: Money,
    /// Σ |position value| over instruments, counting working orders.
    pub max_gross_exposure: Money,
    /// |Σ signed position value| over instruments, counting working orders.
    pub max_net_exposure: Money,
    pub max_open_orders: u32,
    /// Orders accepted per rolling second (SEBI's threshold for unregistered algos is 10).
    pub max_orders_per_sec: u32,
    /// Net P&L (realized + unrealized − charges) below −this trips the account's kill switch.
    pub daily_loss_limit: Money,
    /// On a loss-limit breach, also flatten every position at market.
    pub square_off_on_loss: bool,
    /// Limit and trigger prices within this many basis points of the last trade.
    pub fat_finger_bps: u32,
    /// Same instrument, side, quantity and price within this window is refused as a duplicate.
    pub duplicate_window_ms: u32,
}

impl RiskLimits {
    pub const NONE: RiskLimits = RiskLimits {
        max_order_qty: Qty(0),
        max_order_value: Money(0),
        max_position_qty: Qty(0),
        max_position_value: Money(0),
        max_gross_exposure: Money(0),
        max_net_exposure: Money(0),
        max_open_orders: 0,
        max_orders_per_sec: 0,
        daily_loss_limit: Money(0),
        square_off_on_loss: false,
        fat_finger_bps: 0,
        duplicate_window_ms: 0,
    };
}
