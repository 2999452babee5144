//! Booking: what a fill costs and where it lands. Each execution is charged by its segment's
//! tariff (brokerage capped per order, statutory charges on turnover), written into the
//! order's filled quantity and value, added to its account's charges, and applied to the
//! portfolio position it changes.

use crate::model::{
    Adoption, Fill, FillId, InstrumentSpec, Money, Order, OrderId, Price, Qty, Segment, StrategyId, Timestamp,
};
use crate::stages::charges::{ChargeSegment, ChargeTable, Charges};
use crate::stages::portfolio::Portfolio;

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Booking {
    portfolio: Portfolio,
    segments: Vec<Segment>,
    tariffs: ChargeTable,
    /// Charges paid per account.
    charges: Vec<Charges>,
    next_fill: u64,
}

impl Booking {
    pub(super) fn new(accounts: usize, instruments: &[InstrumentSpec], tariffs: ChargeTable) -> Booking {
        Booking {
            portfolio: Portfolio::new(accounts, instruments.len()),
            segments: instruments.iter().map(|i| i.segment).collect(),
            tariffs,
            charges: vec![Charges::default(); accounts],
            next_fill: 1,
        }
    }

    pub(super) fn portfolio(&self) -> &Portfolio {
        &self.portfolio
    }

    pub(super) fn portfolio_mut(&mut self) -> &mut Portfolio {
        &mut self.portfolio
    }

    /// Marks positions in `instrument` at its last trade.
    #[inline]
    pub(super) fn mark(&mut self, instrument: usize, price: Price) {
        self.portfolio.mark(instrument, price);
    }

    pub(super) fn charges(&self, account: usize) -> Charges {
        self.charges.get(account).copied().unwrap_or_default()
    }

    /// Books `qty` at `price` on order `o` (whose status the caller has already moved on):
    /// charges it, updates the order's filled quantity, value and brokerage, the account's
    /// charges and the position, and returns the fill.
    pub(super) fn book(&mut self, o: &mut Order, price: Price, qty: Qty, ts: Timestamp) -> Fill {
        let value = qty.notional(price);
        let segment = self.segments.get(o.intent.instrument.index()).copied().unwrap_or(Segment::Equity);
        let before = Money(o.filled_value.clamp(0, i64::MAX as i128) as i64);
        let charges = self.tariffs.on_fill(
            ChargeSegment::of(segment, o.intent.product),
            o.intent.side,
            value,
            before,
            o.brokerage,
        );
        o.brokerage += charges.brokerage;
        o.filled += qty;
        o.filled_value += qty.0 as i128 * price.0 as i128;
        let fill = Fill {
            id: FillId(self.next_fill),
            order: o.id,
            account: o.intent.account,
            strategy: o.intent.strategy,
            instrument: o.intent.instrument,
            side: o.intent.side,
            qty,
            price,
            ts,
            product: o.intent.product,
            charges: charges.total(),
        };
        if let Some(c) = self.charges.get_mut(fill.account.index()) {
            c.add(&charges);
        }
        self.next_fill += 1;
        self.portfolio.apply_fill(fill.account.index(), fill.instrument.index(), fill.product, (fill.side, qty, price));
        fill
    }

    /// Books a position adopted from outside as a fill of no order (`OrderId(0)`) and no
    /// charges; `None` (nothing booked) for an unknown account or instrument, or a zero
    /// quantity or price.
    pub(super) fn adopt(&mut self, a: &Adoption, ts: Timestamp) -> Option<Fill> {
        if a.qty.is_zero() || !a.price.is_positive() {
            return None;
        }
        self.portfolio.apply_fill(a.account.index(), a.instrument.index(), a.product, (a.side, a.qty, a.price))?;
        let fill = Fill {
            id: FillId(self.next_fill),
            order: OrderId(0),
            account: a.account,
            strategy: StrategyId::SYSTEM,
            instrument: a.instrument,
            side: a.side,
            qty: a.qty,
            price: a.price,
            ts,
            product: a.product,
            charges: Money(0),
        };
        self.next_fill += 1;
        Some(fill)
    }
}
