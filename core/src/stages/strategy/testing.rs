//! Helpers for testing a strategy without an engine: crafted bars, a one-instrument market to
//! build a strategy in, and a [`Harness`] that drives it through a real strategy stage while
//! playing the order stage (every order accepted, market orders filled at once). They panic on
//! misuse, as test helpers do.
//!
//! ```
//! use dalal_core::model::Price;
//! use dalal_core::stages::strategy::testing::{build, run_bars};
//! use dalal_core::strategies::{EmaCross, EmaCrossParams};
//!
//! let s: EmaCross = build(&EmaCrossParams { fast: 2, slow: 4 }, 10, true);
//! let closes: Vec<Price> = [10, 10, 10, 10, 9, 8, 7, 12, 14].iter().map(|r| Price(r * 100)).collect();
//! assert_eq!(run_bars(s, &closes), vec![10]);
//! ```

use super::OpenOrder;
use super::{Feedback, Msg, Strategy, StrategyEnv, StrategyKind, StrategySlot, StrategyStage};
use crate::model::Stamp;
use crate::model::{
    AccountId, BarSpec, Candle, InstrumentId, InstrumentSpec, Price, PriceBand, Qty, Segment, Session, Side,
    StrategyId, StrategyParams, Tick, Timestamp,
};

/// Instrument 0 of the test market: `TEST`, an NSE equity with this tick size and lot 1.
pub fn instrument(tick: Price) -> InstrumentSpec {
    InstrumentSpec {
        id: InstrumentId(0),
        symbol: "TEST".into(),
        segment: Segment::Equity,
        tick_size: tick,
        lot_size: Qty(1),
        band: PriceBand::OPEN,
    }
}

/// Builds `S` from `params` on the test instrument (₹0.05 tick), one-minute bars, the NSE
/// session; panics with the parameter error if `params` are refused.
pub fn build<S: Strategy>(params: &S::Params, qty: u64, allow_short: bool) -> S {
    build_on(params, qty, allow_short, Price(5))
}

/// [`build`] on a test instrument of another tick size.
pub fn build_on<S: Strategy>(params: &S::Params, qty: u64, allow_short: bool, tick: Price) -> S {
    let instruments = [instrument(tick)];
    let env = StrategyEnv {
        instrument: &instruments[0],
        timeframe: BarSpec::M1,
        session: Session::NSE_NORMAL,
        qty,
        allow_short,
        instruments: &instruments,
    };
    match S::new(params, &env) {
        Ok(s) => s,
        Err(e) => panic!("{} parameters refused: {e}", S::KIND),
    }
}

/// A strategy stage holding `strategy` alone, as strategy 0 of account 0 on instrument 0.
pub fn stage_of<S: Strategy>(strategy: S) -> StrategyStage {
    let home = (InstrumentId(0), BarSpec::M1);
    let slot = StrategySlot::new(
        StrategyId(0),
        AccountId(0),
        home,
        (StrategyKind::of::<S>(), StrategyParams::default()),
        Box::new(strategy),
    );
    StrategyStage::new(vec![slot], vec![instrument(Price(5))], Session::NSE_NORMAL)
}

/// A one-minute bar that opened and closed at `p`.
pub fn bar(p: Price) -> Candle {
    Candle {
        instrument: InstrumentId(0),
        spec: BarSpec::M1,
        start: Timestamp(0),
        end: Timestamp(1),
        open: p,
        high: p,
        low: p,
        close: p,
        volume: Qty(1),
        trades: 1,
        turnover: 0,
        oi: 0,
        amended: false,
    }
}

/// Feeds bars to a strategy through a real stage and returns the position targets implied
/// by its market orders, assuming each fills at once.
pub fn run_bars<S: Strategy>(strategy: S, closes: &[Price]) -> Vec<i64> {
    let mut stage = stage_of(strategy);
    let mut positions = Vec::new();
    for (k, p) in closes.iter().enumerate() {
        let mut c = bar(*p);
        c.start = Timestamp(k as i64 * 60_000_000_000);
        c.end = Timestamp((k as i64 + 1) * 60_000_000_000);
        let mut intents = Vec::new();
        stage.on_msg(&Msg::Candle { candle: c, stamp: Stamp::NONE }, &mut |m| {
            if let Msg::Intent { intent, .. } = m {
                intents.push(intent)
            }
        });
        for (n, intent) in intents.into_iter().enumerate() {
            let fill = crate::model::Fill {
                id: crate::model::FillId(k as u64 * 10 + n as u64 + 1),
                order: crate::model::OrderId(k as u64 * 10 + n as u64 + 1),
                account: intent.account,
                strategy: intent.strategy,
                instrument: intent.instrument,
                side: intent.side,
                qty: intent.qty,
                price: *p,
                ts: c.end,
                product: intent.product,
                charges: crate::model::Money::ZERO,
            };
            stage.on_msg(&Msg::Feedback(Feedback::Filled { fill, done: true }), &mut |_| {});
            positions.push(stage.slots()[0].book().position.0);
        }
    }
    positions
}

/// 2026-11-20 (a Friday) 09:15:00 IST, the session open, in ns since the epoch.
pub const OPEN_NS: i64 = 1_795_146_300 * crate::model::time::NANOS_PER_SEC;

/// `min` minutes after the open of the test day (negative: before it).
pub fn at(min: i64) -> Timestamp {
    Timestamp(OPEN_NS + min * crate::model::time::NANOS_PER_MIN)
}

/// The one-minute bar `k` minutes after the open with this open, high, low and close.
pub fn m1(k: i64, o: i64, h: i64, l: i64, c: i64) -> Candle {
    Candle {
        start: at(k),
        end: at(k + 1),
        open: Price(o),
        high: Price(h),
        low: Price(l),
        close: Price(c),
        ..bar(Price(c))
    }
}

/// What a strategy sent, with the order id the harness gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    Order { id: u64, side: Side, qty: u64, kind: crate::model::OrderType, price: i64, trigger: i64 },
    Cancel(u64),
    Modify { id: u64, qty: u64, price: i64, trigger: i64 },
}

/// Drives one strategy (instrument 0, 1m bars) through a real stage and plays the order
/// stage: every intent is accepted with the next id (1, 2, …), a market order fills at once
/// at the event's price, a cancel closes the order with its remaining quantity. Resting
/// orders fill when the test says so ([`Harness::fill`]). While `refuse` is set, intents
/// are refused (as risk would) instead, still taking an id.
pub struct Harness {
    pub stage: StrategyStage,
    pub refuse: bool,
    next_id: u64,
    next_fill: u64,
}

impl Harness {
    pub fn new<S: Strategy>(strategy: S) -> Self {
        Harness { stage: stage_of(strategy), refuse: false, next_id: 1, next_fill: 1 }
    }

    pub fn position(&self) -> i64 {
        self.stage.slots()[0].book().position.0
    }

    pub fn orders(&self) -> &[OpenOrder] {
        &self.stage.slots()[0].orders
    }

    /// A closed bar; returns what the strategy sent.
    pub fn candle(&mut self, c: Candle) -> Vec<Sent> {
        self.event(Msg::Candle { candle: c, stamp: Stamp::NONE }, c.close, c.end)
    }

    /// A trade of instrument 0; returns what the strategy sent.
    pub fn tick(&mut self, ts: Timestamp, price: i64, qty: u64) -> Vec<Sent> {
        let tick = Tick { instrument: InstrumentId(0), ts, price: Price(price), qty: Qty(qty) };
        self.event(Msg::Tick { tick, stamp: Stamp::NONE }, Price(price), ts)
    }

    /// Fills `qty` of a working order at `price`, as the order stage reports it.
    pub fn fill(&mut self, id: u64, qty: u64, price: i64) {
        let o = *self.orders().iter().find(|o| o.id.0 == id).expect("fill of a working order");
        let done = qty >= o.remaining.0;
        self.feedback_fill(o.intent, crate::model::OrderId(id), Qty(qty), Price(price), Timestamp(0), done);
    }

    fn feedback_fill(
        &mut self,
        intent: crate::model::OrderIntent,
        order: crate::model::OrderId,
        qty: Qty,
        price: Price,
        ts: Timestamp,
        done: bool,
    ) {
        let fill = crate::model::Fill {
            id: crate::model::FillId(self.next_fill),
            order,
            account: intent.account,
            strategy: intent.strategy,
            instrument: intent.instrument,
            side: intent.side,
            qty,
            price,
            ts,
            product: intent.product,
            charges: crate::model::Money::ZERO,
        };
        self.next_fill += 1;
        self.stage.on_msg(&Msg::Feedback(Feedback::Filled { fill, done }), &mut |_| {});
    }

    fn event(&mut self, msg: Msg, price: Price, ts: Timestamp) -> Vec<Sent> {
        let mut out = Vec::new();
        self.stage.on_msg(&msg, &mut |m| out.push(m));
        let mut sent = Vec::new();
        for m in out {
            match m {
                Msg::Intent { intent, .. } => {
                    let order = crate::model::OrderId(self.next_id);
                    self.next_id += 1;
                    sent.push(Sent::Order {
                        id: order.0,
                        side: intent.side,
                        qty: intent.qty.0,
                        kind: intent.order_type,
                        price: intent.price.0,
                        trigger: intent.trigger.0,
                    });
                    if self.refuse {
                        let closed = Feedback::Closed {
                            order,
                            account: intent.account,
                            strategy: intent.strategy,
                            instrument: intent.instrument,
                            product: intent.product,
                            side: intent.side,
                            unfilled: intent.qty,
                            reason: crate::model::CloseReason::Refused,
                        };
                        self.stage.on_msg(&Msg::Feedback(closed), &mut |_| {});
                        continue;
                    }
                    self.stage.on_msg(&Msg::Feedback(Feedback::Accepted { order, intent }), &mut |_| {});
                    if intent.order_type == crate::model::OrderType::Market {
                        self.feedback_fill(intent, order, intent.qty, price, ts, true);
                    }
                }
                Msg::Command(crate::model::Command::Cancel { order, .. }) => {
                    sent.push(Sent::Cancel(order.0));
                    if let Some(o) = self.orders().iter().find(|o| o.id == order).copied() {
                        let closed = Feedback::Closed {
                            order,
                            account: o.intent.account,
                            strategy: o.intent.strategy,
                            instrument: o.intent.instrument,
                            product: o.intent.product,
                            side: o.intent.side,
                            unfilled: o.remaining,
                            reason: crate::model::CloseReason::Cancelled,
                        };
                        self.stage.on_msg(&Msg::Feedback(closed), &mut |_| {});
                    }
                }
                Msg::Command(crate::model::Command::Modify { order, qty, price, trigger, .. }) => {
                    sent.push(Sent::Modify { id: order.0, qty: qty.0, price: price.0, trigger: trigger.0 });
                }
                _ => {}
            }
        }
        sent
    }
}

/// Feeds full bars through [`Harness`] and returns the position after each market fill.
pub fn run_candles<S: Strategy>(strategy: S, bars: &[Candle]) -> Vec<i64> {
    let mut h = Harness::new(strategy);
    let mut positions = Vec::new();
    for c in bars {
        for s in h.candle(*c) {
            if let Sent::Order { kind: crate::model::OrderType::Market, .. } = s {
                positions.push(h.position());
            }
        }
    }
    positions
}
