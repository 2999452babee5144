//! Quantities. An order quantity is a positive count of units (shares, or contracts × lot for
//! derivatives); a position is signed. Keeping them apart stops a sign bug from becoming an
//! order on the wrong side.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::price::{Money, Price};

/// Units of an instrument in an order or fill: always positive where it crosses an API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Qty(pub u64);

impl Qty {
    pub const ZERO: Qty = Qty(0);

    #[inline]
    pub const fn units(self) -> u64 {
        self.0
    }

    #[inline]
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// True when this quantity is a whole number of lots.
    #[inline]
    pub fn is_lot_multiple(self, lot: Qty) -> bool {
        // Lot 1 (every cash-market equity) needs no division.
        lot.0 == 1 || (lot.0 > 0 && self.0.is_multiple_of(lot.0))
    }

    /// Notional value at `price`, saturating rather than wrapping on absurd input.
    #[inline]
    pub fn notional(self, price: Price) -> Money {
        let v = (self.0 as i128) * (price.0 as i128);
        Money(v.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }

    #[inline]
    pub fn min(self, o: Qty) -> Qty {
        Qty(self.0.min(o.0))
    }

    /// `self − o`, or zero: for the places where taking more than there is means "all of it"
    /// (a stop order sweeping a print). Plain `-` is for quantities that must not go below zero.
    #[inline]
    pub fn saturating_sub(self, o: Qty) -> Qty {
        Qty(self.0.saturating_sub(o.0))
    }
}

impl fmt::Display for Qty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Subtractions that would have gone below zero, process-wide: each is a bookkeeping defect
/// somewhere (a quantity is never negative), so it is a panic in debug builds and a counted
/// clamp to zero in release builds, never a silent one. `/metrics` and run summaries show it.
static UNDERFLOWS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Qty {
    /// Subtractions of a larger quantity from a smaller one so far, in this process.
    pub fn underflows() -> u64 {
        UNDERFLOWS.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl std::ops::Sub for Qty {
    type Output = Qty;
    #[inline]
    #[track_caller]
    fn sub(self, o: Qty) -> Qty {
        match self.0.checked_sub(o.0) {
            Some(v) => Qty(v),
            None => {
                debug_assert!(false, "quantity {} minus {} goes below zero", self.0, o.0);
                UNDERFLOWS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Qty::ZERO
            }
        }
    }
}

impl std::ops::Add for Qty {
    type Output = Qty;
    #[inline]
    fn add(self, o: Qty) -> Qty {
        Qty(self.0.saturating_add(o.0))
    }
}

impl std::ops::AddAssign for Qty {
    #[inline]
    fn add_assign(&mut self, o: Qty) {
        self.0 = self.0.saturating_add(o.0);
    }
}

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    /// +1 for buys, −1 for sells: the sign a fill adds to a position.
    #[inline]
    pub const fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }

    #[inline]
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signed holding: positive long, negative short.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NetQty(pub i64);

impl NetQty {
    pub const FLAT: NetQty = NetQty(0);

    /// The holding after a fill of `qty` on `side`.
    #[inline]
    pub fn after(self, side: Side, qty: Qty) -> NetQty {
        NetQty(self.0.saturating_add(side.sign().saturating_mul(qty.0 as i64)))
    }

    #[inline]
    pub fn abs(self) -> Qty {
        Qty(self.0.unsigned_abs())
    }

    #[inline]
    pub fn is_flat(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for NetQty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_qty_moves_by_side() {
        let p = NetQty::FLAT.after(Side::Buy, Qty(10)).after(Side::Sell, Qty(25));
        assert_eq!(p, NetQty(-15));
        assert_eq!(p.abs(), Qty(15));
    }

    #[test]
    fn notional_saturates() {
        assert_eq!(Qty(10).notional(Price(12345)), Money(123450));
        assert_eq!(Qty(u64::MAX).notional(Price(i64::MAX)), Money(i64::MAX));
    }

    #[test]
    fn lots() {
        assert!(Qty(130).is_lot_multiple(Qty(65)));
        assert!(!Qty(100).is_lot_multiple(Qty(65)));
        assert!(!Qty(100).is_lot_multiple(Qty(0)));
    }
}
