//! Per-account risk limits: the values an operator sets and the risk stage enforces.

use serde::{Deserialize, Serialize};

use super::{Money, Price, Qty};

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

    /// Whether any limit on positions or exposure is set (the ones that need an account's
    /// positions added up to check).
    pub fn bounds_exposure(&self) -> bool {
        self.max_position_qty.0 > 0
            || self.max_position_value.0 > 0
            || self.max_gross_exposure.0 > 0
            || self.max_net_exposure.0 > 0
    }
}

/// Risk limits as people write them, in the config file and in the API alike: money in rupees
/// (exact to the paisa), the fat-finger band in percent. Zero means no limit; negative amounts
/// are refused, never read as "off".
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsInRupees {
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

impl Default for LimitsInRupees {
    fn default() -> Self {
        LimitsInRupees {
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

/// A limit refused: which key and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitError {
    pub key: &'static str,
    pub message: String,
}

impl std::fmt::Display for LimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// The largest quantity a limit may name (and an order carry): 10^12 units, far above any
/// exchange's freeze quantity and far below where arithmetic in paise could overflow.
pub const MAX_LIMIT_QTY: u64 = 1_000_000_000_000;

impl LimitsInRupees {
    /// Validates and converts to the engine's integer limits.
    pub fn to_limits(&self) -> Result<RiskLimits, LimitError> {
        let money = |key: &'static str, v: f64| {
            Price::from_rupees_exact(v).filter(|p| p.0 >= 0).map(|p| Money(p.0)).ok_or_else(|| LimitError {
                key,
                message: format!("{v} is not a rupee amount of at least 0 with at most two decimals"),
            })
        };
        let qty = |key: &'static str, v: u64| {
            if v > MAX_LIMIT_QTY {
                return Err(LimitError { key, message: format!("must be at most {MAX_LIMIT_QTY}") });
            }
            Ok(Qty(v))
        };
        if !(0.0..=100.0).contains(&self.fat_finger_pct) {
            return Err(LimitError { key: "fat_finger_pct", message: "must be between 0 and 100".into() });
        }
        let bps = self.fat_finger_pct * 100.0;
        if (bps - bps.round()).abs() > 1e-6 {
            return Err(LimitError { key: "fat_finger_pct", message: "at most two decimals".into() });
        }
        Ok(RiskLimits {
            max_order_qty: qty("max_order_qty", self.max_order_qty)?,
            max_order_value: money("max_order_value", self.max_order_value)?,
            max_position_qty: qty("max_position_qty", self.max_position_qty)?,
            max_position_value: money("max_position_value", self.max_position_value)?,
            max_gross_exposure: money("max_gross_exposure", self.max_gross_exposure)?,
            max_net_exposure: money("max_net_exposure", self.max_net_exposure)?,
            max_open_orders: self.max_open_orders,
            max_orders_per_sec: self.max_orders_per_sec,
            daily_loss_limit: money("daily_loss_limit", self.daily_loss_limit)?,
            square_off_on_loss: self.square_off_on_loss,
            fat_finger_bps: bps.round() as u32,
            duplicate_window_ms: self.duplicate_window_ms,
        })
    }

    /// The engine's limits in these terms (exact: paise become two-decimal rupees).
    pub fn from_limits(l: &RiskLimits) -> LimitsInRupees {
        let r = |m: Money| m.0 as f64 / 100.0;
        LimitsInRupees {
            max_order_qty: l.max_order_qty.0,
            max_order_value: r(l.max_order_value),
            max_position_qty: l.max_position_qty.0,
            max_position_value: r(l.max_position_value),
            max_gross_exposure: r(l.max_gross_exposure),
            max_net_exposure: r(l.max_net_exposure),
            max_open_orders: l.max_open_orders,
            max_orders_per_sec: l.max_orders_per_sec,
            daily_loss_limit: r(l.daily_loss_limit),
            square_off_on_loss: l.square_off_on_loss,
            fat_finger_pct: f64::from(l.fat_finger_bps) / 100.0,
            duplicate_window_ms: l.duplicate_window_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rupees_round_trip_exactly_and_negatives_are_refused() {
        let mut l = LimitsInRupees { max_order_value: 250_000.05, daily_loss_limit: 50_000.0, ..Default::default() };
        let e = l.to_limits().unwrap();
        assert_eq!(e.max_order_value, Money(25_000_005));
        assert_eq!(e.fat_finger_bps, 500);
        assert_eq!(LimitsInRupees::from_limits(&e), l);
        l.daily_loss_limit = -5_000_000.0;
        assert_eq!(l.to_limits().unwrap_err().key, "daily_loss_limit");
        l.daily_loss_limit = 0.001;
        assert_eq!(l.to_limits().unwrap_err().key, "daily_loss_limit", "below a paisa is not exact");
        l.daily_loss_limit = 1.0;
        l.max_order_qty = u64::MAX;
        assert_eq!(l.to_limits().unwrap_err().key, "max_order_qty");
    }
}
