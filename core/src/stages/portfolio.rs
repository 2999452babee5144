//! Positions and P&L per account and instrument, by the average-cost method. Everything is
//! integer paise: cost basis is kept as a signed total so that a position closed in pieces
//! releases exactly the cost it carried, and a flat position carries none.

use crate::model::{Money, NetQty, Price, Product, Qty, Side};

/// One account's holding in one instrument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    pub net: NetQty,
    /// Signed cost of the open quantity (positive long, negative short), paise.
    pub cost: i128,
    pub realized: i64,
    pub last: Price,
    pub bought: u64,
    pub sold: u64,
}

impl Position {
    /// Average entry price in paise, fractional; 0 when flat.
    pub fn avg_price(&self) -> f64 {
        if self.net.0 == 0 {
            0.0
        } else {
            self.cost as f64 / self.net.0 as f64
        }
    }

    /// Mark-to-market gain of the open quantity at the last trade.
    pub fn unrealized(&self) -> Money {
        if self.net.0 == 0 || !self.last.is_positive() {
            return Money::ZERO;
        }
        let v = self.net.0 as i128 * self.last.0 as i128 - self.cost;
        Money(v.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }

    pub fn realized(&self) -> Money {
        Money(self.realized)
    }

    pub fn apply_fill(&mut self, side: Side, qty: Qty, price: Price) {
        let q = side.sign() * qty.0 as i64;
        match side {
            Side::Buy => self.bought += qty.0,
            Side::Sell => self.sold += qty.0,
        }
        let px = price.0 as i128;
        let net = self.net.0;
        if net == 0 || (net > 0) == (q > 0) {
            self.net = NetQty(net + q);
            self.cost += q as i128 * px;
        } else {
            let close = q.unsigned_abs().min(net.unsigned_abs()) as i128;
            let sign = net.signum() as i128;
            let released =
                if close == net.unsigned_abs() as i128 { self.cost } else { self.cost * close / net.abs() as i128 };
            let pnl = sign * close * px - released;
            self.realized = self.realized.saturating_add(pnl.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
            self.cost -= released;
            let opened = q.unsigned_abs() as i128 - close;
            self.net = NetQty(net + q);
            if opened > 0 {
                self.cost = q.signum() as i128 * opened * px;
            }
        }
        if self.last == Price::ZERO {
            self.last = price;
        }
    }
}

const PRODUCTS: usize = 3;

/// Every account's positions, one slot per (account, instrument, product), allocated up front.
///
/// A trade is recorded once, as its instrument's last price, whoever holds it: a slot is
/// marked when it is read ([`Portfolio::get`]) or booked into, so a tick costs the same with
/// one account or a thousand, and every reader sees what marking every slot on every trade
/// would show.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Portfolio {
    instruments: usize,
    /// Each slot's `last` is as of its last fill (or the reference's last mark); readers get
    /// it marked at the instrument's last trade.
    positions: Vec<Position>,
    /// Per instrument, its last trade (zero before the first).
    last: Vec<Price>,
    /// Writes every slot on every trade instead (the reference lazy marking is tested against,
    /// and the baseline the lab measures it by).
    mark_every: bool,
}

/// Totals for one account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccountPnl {
    pub realized: Money,
    pub unrealized: Money,
}

impl Portfolio {
    pub fn new(accounts: usize, instruments: usize) -> Self {
        Portfolio {
            instruments,
            positions: vec![Position::default(); accounts * instruments * PRODUCTS],
            last: vec![Price::ZERO; instruments],
            mark_every: false,
        }
    }

    /// Marks every slot on every trade (see the field); for tests and the lab's baseline.
    pub fn set_mark_every(&mut self, on: bool) {
        self.mark_every = on;
    }

    #[inline]
    fn index(&self, account: usize, instrument: usize, product: Product) -> Option<usize> {
        (instrument < self.instruments).then(|| (account * self.instruments + instrument) * PRODUCTS + product.index())
    }

    /// A slot's position, marked at the instrument's last trade (before any trade, at the
    /// slot's own first fill price).
    #[inline]
    pub fn get(&self, account: usize, instrument: usize, product: Product) -> Option<Position> {
        let p = *self.positions.get(self.index(account, instrument, product)?)?;
        Some(Position { last: self.marked(instrument, p.last), ..p })
    }

    #[inline]
    fn marked(&self, instrument: usize, own: Price) -> Price {
        match self.last.get(instrument) {
            Some(p) if p.is_positive() => *p,
            _ => own,
        }
    }

    /// A slot to change by hand (the engine books through [`Portfolio::apply_fill`]); its
    /// `last` is as stored, not marked.
    #[inline]
    pub fn get_mut(&mut self, account: usize, instrument: usize, product: Product) -> Option<&mut Position> {
        let i = self.index(account, instrument, product)?;
        self.positions.get_mut(i)
    }

    /// Books a fill into its slot, marked at the instrument's last trade first (as marking
    /// every slot on every trade would have left it). `None` for a slot that does not exist.
    pub fn apply_fill(
        &mut self,
        account: usize,
        instrument: usize,
        product: Product,
        fill: (Side, Qty, Price),
    ) -> Option<Position> {
        let i = self.index(account, instrument, product)?;
        let mut p = self.get(account, instrument, product)?;
        p.apply_fill(fill.0, fill.1, fill.2);
        *self.positions.get_mut(i)? = p;
        Some(p)
    }

    /// Net quantity across products.
    pub fn net(&self, account: usize, instrument: usize) -> i64 {
        Product::ALL.iter().filter_map(|p| self.get(account, instrument, *p)).map(|p| p.net.0).sum()
    }

    /// Records a trade in `instrument`: every position in it is marked at `price` from now on.
    #[inline]
    pub fn mark(&mut self, instrument: usize, price: Price) {
        let Some(last) = self.last.get_mut(instrument) else { return };
        *last = price;
        if self.mark_every {
            let stride = self.instruments * PRODUCTS;
            let mut i = instrument * PRODUCTS;
            while i + PRODUCTS <= self.positions.len() {
                for p in &mut self.positions[i..i + PRODUCTS] {
                    p.last = price;
                }
                i += stride;
            }
        }
    }

    pub fn account_pnl(&self, account: usize) -> AccountPnl {
        let width = self.instruments * PRODUCTS;
        let start = account * width;
        let mut t = AccountPnl::default();
        for (k, p) in self.positions.get(start..start + width).unwrap_or(&[]).iter().enumerate() {
            let p = Position { last: self.marked(k / PRODUCTS, p.last), ..*p };
            t.realized += p.realized();
            t.unrealized += p.unrealized();
        }
        t
    }

    pub fn accounts(&self) -> usize {
        self.positions.len().checked_div(self.instruments * PRODUCTS).unwrap_or(0)
    }

    pub fn instruments(&self) -> usize {
        self.instruments
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_round_trip() {
        let mut p = Position::default();
        p.apply_fill(Side::Buy, Qty(10), Price(10_000));
        p.apply_fill(Side::Buy, Qty(10), Price(11_000));
        assert_eq!(p.avg_price(), 10_500.0);
        p.last = Price(12_000);
        assert_eq!(p.unrealized(), Money(30_000));
        p.apply_fill(Side::Sell, Qty(5), Price(12_000));
        assert_eq!(p.realized, 7_500);
        p.apply_fill(Side::Sell, Qty(15), Price(10_000));
        assert_eq!(p.realized, 7_500 - 7_500);
        assert_eq!((p.net, p.cost), (NetQty(0), 0));
    }

    #[test]
    fn short_and_flip() {
        let mut p = Position::default();
        p.apply_fill(Side::Sell, Qty(10), Price(10_000));
        assert_eq!(p.net, NetQty(-10));
        // Buy 15 at 90: close 10 for +100 each, open long 5 at 90.
        p.apply_fill(Side::Buy, Qty(15), Price(9_000));
        assert_eq!(p.realized, 10_000);
        assert_eq!(p.net, NetQty(5));
        assert_eq!(p.cost, 45_000);
        assert_eq!(p.avg_price(), 9_000.0);
    }

    #[test]
    fn piecewise_close_releases_all_cost() {
        let mut p = Position::default();
        p.apply_fill(Side::Buy, Qty(3), Price(101));
        p.apply_fill(Side::Buy, Qty(3), Price(100));
        for _ in 0..6 {
            p.apply_fill(Side::Sell, Qty(1), Price(100));
        }
        assert_eq!(p.cost, 0);
        // Bought for 603, sold for 600.
        assert_eq!(p.realized, -3);
    }

    #[test]
    fn marks_each_account() {
        let mut pf = Portfolio::new(2, 3);
        if let Some(p) = pf.get_mut(1, 2, Product::Mis) {
            p.apply_fill(Side::Buy, Qty(2), Price(100));
        }
        if let Some(p) = pf.get_mut(1, 2, Product::Cnc) {
            p.apply_fill(Side::Buy, Qty(1), Price(100));
        }
        pf.mark(2, Price(150));
        assert_eq!(pf.account_pnl(1).unrealized, Money(150));
        assert_eq!(pf.net(1, 2), 3);
        assert_eq!(pf.account_pnl(0), AccountPnl::default());
        assert_eq!(pf.accounts(), 2);
    }
}
