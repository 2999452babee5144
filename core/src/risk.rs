//! Pre-trade risk. Every intent is checked against the account's limits and the instrument's
//! rules before it can become an order. Exposure counts working orders as if they will fill,
//! so a burst of orders cannot walk past a position limit before the first one fills.

use serde::{Deserialize, Serialize};

use crate::event::{CloseReason, Command, Feedback, KillScope, Msg};
use crate::types::{InstrumentSpec, Money, OrderIntent, OrderType, Price, Qty, RejectReason, Side};

/// Per-account limits. Zero means "no limit" for the numeric ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskLimits {
    /// Largest quantity in one order.
    pub max_order_qty: Qty,
    /// Largest notional of one order (at its limit price, or the last trade for MARKET).
    pub max_order_value: Money,
    /// Largest absolute position per instrument, counting working orders.
    pub max_position_qty: Qty,
}

impl RiskLimits {
    pub const NONE: RiskLimits =
        RiskLimits { max_order_qty: Qty(0), max_order_value: Money(0), max_position_qty: Qty(0) };
}

/// Position and working quantity of one account in one instrument, as risk sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    pub position: i64,
    pub working_buy: u64,
    pub working_sell: u64,
}

/// Counters the stage keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RiskCounters {
    pub checked: u64,
    pub approved: u64,
    pub rejected: [u64; RejectReason::ALL.len()],
}

pub struct RiskStage {
    instruments: Vec<InstrumentSpec>,
    limits: Vec<RiskLimits>,
    account_kill: Vec<bool>,
    global_kill: bool,
    exposure: Vec<Exposure>,
    last_price: Vec<Price>,
    pub counters: RiskCounters,
}

impl RiskStage {
    pub fn new(instruments: Vec<InstrumentSpec>, limits: Vec<RiskLimits>) -> Self {
        let n = instruments.len();
        let a = limits.len();
        RiskStage {
            exposure: vec![Exposure::default(); n * a],
            last_price: vec![Price::ZERO; n],
            account_kill: vec![false; a],
            global_kill: false,
            instruments,
            limits,
            counters: RiskCounters::default(),
        }
    }

    pub fn global_kill(&self) -> bool {
        self.global_kill
    }

    pub fn account_kill(&self, account: usize) -> bool {
        self.account_kill.get(account).copied().unwrap_or(false)
    }

    pub fn exposure(&self, account: usize, instrument: usize) -> Option<&Exposure> {
        self.exposure.get(account * self.instruments.len() + instrument)
    }

    #[inline]
    pub fn on_msg(&mut self, msg: &Msg, out: &mut impl FnMut(Msg)) {
        match *msg {
            Msg::Tick { tick, .. } => {
                if let Some(p) = self.last_price.get_mut(tick.instrument.index()) {
                    *p = tick.price;
                }
                out(*msg);
            }
            Msg::Intent { intent, ts, ingress_raw } => {
                self.counters.checked += 1;
                match self.check(&intent) {
                    Ok(()) => {
                        self.counters.approved += 1;
                        if let Some(e) = self.slot(&intent) {
                            match intent.side {
                                Side::Buy => e.working_buy += intent.qty.0,
                                Side::Sell => e.working_sell += intent.qty.0,
                            }
                        }
                        out(Msg::Approved { intent, ts, ingress_raw });
                    }
                    Err(reason) => {
                        self.counters.rejected[reason.index()] += 1;
                        out(Msg::Refused { intent, ts, reason });
                    }
                }
            }
            Msg::Command(Command::KillSwitch { scope, engaged }) => {
                match scope {
                    KillScope::Global => self.global_kill = engaged,
                    KillScope::Account(a) => {
                        if let Some(k) = self.account_kill.get_mut(a.index()) {
                            *k = engaged;
                        }
                    }
                }
                out(*msg);
            }
            Msg::Feedback(fb) => {
                self.on_feedback(&fb);
                out(*msg);
            }
            Msg::Empty | Msg::Candle { .. } => {}
            _ => out(*msg),
        }
    }

    fn slot(&mut self, intent: &OrderIntent) -> Option<&mut Exposure> {
        let n = self.instruments.len();
        self.exposure.get_mut(intent.account.index() * n + intent.instrument.index())
    }

    fn on_feedback(&mut self, fb: &Feedback) {
        let n = self.instruments.len();
        match *fb {
            Feedback::Filled(f) => {
                if let Some(e) = self.exposure.get_mut(f.account.index() * n + f.instrument.index()) {
                    match f.side {
                        Side::Buy => e.working_buy = e.working_buy.saturating_sub(f.qty.0),
                        Side::Sell => e.working_sell = e.working_sell.saturating_sub(f.qty.0),
                    }
                    e.position = e.position.saturating_add(f.side.sign() * f.qty.0 as i64);
                }
            }
            Feedback::Closed { account, instrument, side, unfilled, reason, .. } => {
                if reason == CloseReason::Refused {
                    return;
                }
                if let Some(e) = self.exposure.get_mut(account.index() * n + instrument.index()) {
                    match side {
                        Side::Buy => e.working_buy = e.working_buy.saturating_sub(unfilled.0),
                        Side::Sell => e.working_sell = e.working_sell.saturating_sub(unfilled.0),
                    }
                }
            }
        }
    }

    /// The checks, cheapest and most decisive first.
    pub fn check(&self, o: &OrderIntent) -> Result<(), RejectReason> {
        if self.global_kill {
            return Err(RejectReason::GlobalKillSwitch);
        }
        let a = o.account.index();
        if self.account_kill.get(a).copied().unwrap_or(true) {
            return Err(RejectReason::AccountKillSwitch);
        }
        let (Some(limits), Some(spec)) = (self.limits.get(a), self.instruments.get(o.instrument.index())) else {
            return Err(RejectReason::InvalidPrice);
        };
        if o.qty.is_zero() {
            return Err(RejectReason::ZeroQty);
        }
        if !o.qty.is_lot_multiple(spec.lot_size) {
            return Err(RejectReason::LotSize);
        }
        if limits.max_order_qty.0 > 0 && o.qty > limits.max_order_qty {
            return Err(RejectReason::MaxOrderQty);
        }
        for (has, p) in [(o.order_type.has_limit(), o.price), (o.order_type.has_trigger(), o.trigger)] {
            if has {
                if !p.is_positive() {
                    return Err(RejectReason::InvalidPrice);
                }
                if !p.on_grid(spec.tick_size) {
                    return Err(RejectReason::TickSize);
                }
                if !spec.band.contains(p) {
                    return Err(RejectReason::PriceBand);
                }
            }
        }
        let reference = match o.order_type {
            OrderType::Limit | OrderType::StopLimit => o.price,
            OrderType::Market | OrderType::StopMarket => {
                let last = self.last_price.get(o.instrument.index()).copied().unwrap_or(Price::ZERO);
                if !last.is_positive() {
                    return Err(RejectReason::NoMarketPrice);
                }
                if o.order_type == OrderType::StopMarket {
                    last.max(o.trigger)
                } else {
                    last
                }
            }
        };
        if limits.max_order_value.0 > 0 && o.qty.notional(reference) > limits.max_order_value {
            return Err(RejectReason::MaxOrderValue);
        }
        if limits.max_position_qty.0 > 0 {
            let e = self.exposure.get(a * self.instruments.len() + o.instrument.index()).copied().unwrap_or_default();
            let max = limits.max_position_qty.0 as i64;
            let q = o.qty.0 as i64;
            let worst = match o.side {
                Side::Buy => e.position + e.working_buy as i64 + q,
                Side::Sell => -(e.position - e.working_sell as i64 - q),
            };
            if worst > max {
                return Err(RejectReason::MaxPosition);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Fill, Tick};
    use crate::types::*;

    fn spec() -> InstrumentSpec {
        InstrumentSpec {
            id: InstrumentId(0),
            symbol: "RELIANCE".into(),
            segment: Segment::Equity,
            tick_size: Price(10),
            lot_size: Qty(1),
            band: PriceBand { lower: Price(100_000), upper: Price(150_000) },
        }
    }

    fn stage() -> RiskStage {
        let limits =
            RiskLimits { max_order_qty: Qty(100), max_order_value: Money(10_000_000), max_position_qty: Qty(150) };
        let mut r = RiskStage::new(vec![spec()], vec![limits, limits]);
        let tick = Tick { instrument: InstrumentId(0), ts: Timestamp(0), price: Price(128_540), qty: Qty(1) };
        r.on_msg(&Msg::Tick { tick, ingress_raw: 0 }, &mut |_| {});
        r
    }

    fn mkt(acct: u16, side: Side, q: u64) -> OrderIntent {
        OrderIntent::market(AccountId(acct), StrategyId(0), InstrumentId(0), side, Qty(q))
    }

    fn run(r: &mut RiskStage, o: OrderIntent) -> Result<(), RejectReason> {
        let mut res = Ok(());
        r.on_msg(&Msg::Intent { intent: o, ts: Timestamp(0), ingress_raw: 0 }, &mut |m| {
            if let Msg::Refused { reason, .. } = m {
                res = Err(reason)
            }
        });
        res
    }

    #[test]
    fn table_of_checks() {
        let cases: Vec<(OrderIntent, Result<(), RejectReason>)> = vec![
            (mkt(0, Side::Buy, 10), Ok(())),
            (mkt(0, Side::Buy, 0), Err(RejectReason::ZeroQty)),
            (mkt(0, Side::Buy, 101), Err(RejectReason::MaxOrderQty)),
            (
                OrderIntent::limit(AccountId(0), StrategyId(0), InstrumentId(0), Side::Buy, Qty(10), Price(128_545)),
                Err(RejectReason::TickSize),
            ),
            (
                OrderIntent::limit(AccountId(0), StrategyId(0), InstrumentId(0), Side::Buy, Qty(10), Price(160_000)),
                Err(RejectReason::PriceBand),
            ),
            (
                OrderIntent::limit(AccountId(0), StrategyId(0), InstrumentId(0), Side::Buy, Qty(10), Price(0)),
                Err(RejectReason::InvalidPrice),
            ),
            // 100 × ₹1,285.40 = ₹128,540 > ₹100,000
            (mkt(0, Side::Buy, 100), Err(RejectReason::MaxOrderValue)),
            (mkt(9, Side::Buy, 1), Err(RejectReason::AccountKillSwitch)),
        ];
        for (o, want) in cases {
            let r = stage();
            assert_eq!(r.check(&o), want, "{o:?}");
        }
    }

    #[test]
    fn position_limit_counts_working_orders_and_fills() {
        let mut r = stage();
        assert_eq!(run(&mut r, mkt(0, Side::Buy, 70)), Ok(()));
        assert_eq!(run(&mut r, mkt(0, Side::Buy, 70)), Ok(()));
        // 140 working + 70 > 150
        assert_eq!(run(&mut r, mkt(0, Side::Buy, 70)), Err(RejectReason::MaxPosition));
        let fill = Fill {
            id: FillId(1),
            order: OrderId(1),
            account: AccountId(0),
            strategy: StrategyId(0),
            instrument: InstrumentId(0),
            side: Side::Buy,
            qty: Qty(70),
            price: Price(128_540),
            ts: Timestamp(0),
            charges: Money::ZERO,
        };
        r.on_msg(&Msg::Feedback(Feedback::Filled(fill)), &mut |_| {});
        assert_eq!(r.exposure(0, 0).copied(), Some(Exposure { position: 70, working_buy: 70, working_sell: 0 }));
        // Selling reduces the worst case on the short side only.
        assert_eq!(run(&mut r, mkt(0, Side::Sell, 70)), Ok(()));
        // The other account is untouched.
        assert_eq!(run(&mut r, mkt(1, Side::Sell, 70)), Ok(()));
    }

    #[test]
    fn kill_switches() {
        let mut r = stage();
        r.on_msg(
            &Msg::Command(Command::KillSwitch { scope: KillScope::Account(AccountId(0)), engaged: true }),
            &mut |_| {},
        );
        assert_eq!(run(&mut r, mkt(0, Side::Buy, 1)), Err(RejectReason::AccountKillSwitch));
        assert_eq!(run(&mut r, mkt(1, Side::Buy, 1)), Ok(()));
        r.on_msg(&Msg::Command(Command::KillSwitch { scope: KillScope::Global, engaged: true }), &mut |_| {});
        assert_eq!(run(&mut r, mkt(1, Side::Buy, 1)), Err(RejectReason::GlobalKillSwitch));
        r.on_msg(&Msg::Command(Command::KillSwitch { scope: KillScope::Global, engaged: false }), &mut |_| {});
        assert_eq!(run(&mut r, mkt(1, Side::Buy, 1)), Ok(()));
        assert_eq!(r.counters.rejected[RejectReason::GlobalKillSwitch.index()], 1);
    }
}
