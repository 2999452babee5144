//! The strategy stage. A strategy is a plain struct a quant writes in one file: it declares the
//! indicators it reads, sees closed candles of the timeframe it subscribed to (and ticks if it
//! asks), its position, working quantity and open orders, and acts through a [`Ctx`]: target a
//! position, send orders, modify or cancel its own orders.
//!
//! The stage computes each distinct indicator once per bar per instrument and timeframe, however
//! many strategies read it, and keeps every strategy's book from the order stage's feedback.

mod bank;
mod ctx;
mod ema_cross;
mod mean_reversion;

pub use bank::{IndicatorBanks, IndicatorView};
pub use ctx::{Action, Book, Ctx, OpenOrder};
pub use ema_cross::EmaCross;
pub use mean_reversion::BollingerReversion;

use crate::candle::{BarSpec, Candle};
use crate::event::{Command, Feedback, Msg, Tick};
use crate::indicators::IndicatorSpec;
use crate::types::{AccountId, InstrumentId, Session, Side, StrategyId, Timestamp};

/// A trading strategy.
pub trait Strategy: Send {
    /// Indicators read through [`Ctx::indicator`], in this order.
    fn indicators(&self) -> Vec<IndicatorSpec> {
        Vec::new()
    }

    /// Each closed candle of the subscribed instrument and timeframe.
    fn on_candle(&mut self, candle: &Candle, ctx: &mut Ctx<'_>);

    /// Each trade of the subscribed instrument, when [`Strategy::wants_ticks`] is true.
    fn on_tick(&mut self, _tick: &Tick, _ctx: &mut Ctx<'_>) {}

    fn wants_ticks(&self) -> bool {
        false
    }
}

/// One running strategy instance and its book.
pub struct StrategySlot {
    pub id: StrategyId,
    pub account: AccountId,
    pub instrument: InstrumentId,
    pub timeframe: BarSpec,
    pub book: Book,
    pub orders: Vec<OpenOrder>,
    pub strategy: Box<dyn Strategy>,
}

impl StrategySlot {
    pub fn new(
        id: StrategyId,
        account: AccountId,
        instrument: InstrumentId,
        timeframe: BarSpec,
        strategy: Box<dyn Strategy>,
    ) -> Self {
        StrategySlot { id, account, instrument, timeframe, book: Book::default(), orders: Vec::new(), strategy }
    }
}

/// Counters the stage keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StrategyCounters {
    /// Decisions that produced at least one action.
    pub signals: u64,
    pub intents: u64,
    pub modifies: u64,
    pub cancels: u64,
}

/// Hosts every strategy of every account.
pub struct StrategyStage {
    slots: Vec<StrategySlot>,
    /// For each instrument, the slots subscribed to it.
    by_instrument: Vec<Vec<usize>>,
    banks: IndicatorBanks,
    /// Per slot: its bank and, per declared indicator, the bank's indicator index.
    views: Vec<(usize, Vec<usize>)>,
    actions: Vec<Action>,
    session: Session,
    pub counters: StrategyCounters,
}

impl StrategyStage {
    pub fn new(slots: Vec<StrategySlot>, instruments: usize, session: Session) -> Self {
        let mut by_instrument = vec![Vec::new(); instruments];
        let mut banks = IndicatorBanks::new(instruments);
        let mut views = Vec::with_capacity(slots.len());
        for (i, s) in slots.iter().enumerate() {
            if let Some(v) = by_instrument.get_mut(s.instrument.index()) {
                v.push(i);
            }
            views.push(banks.register(s.instrument, s.timeframe, &s.strategy.indicators()));
        }
        StrategyStage {
            slots,
            by_instrument,
            banks,
            views,
            actions: Vec::with_capacity(16),
            session,
            counters: StrategyCounters::default(),
        }
    }

    pub fn slots(&self) -> &[StrategySlot] {
        &self.slots
    }

    /// Bars some strategy listens to, so the candle stage builds them.
    pub fn timeframes(&self) -> Vec<BarSpec> {
        let mut v: Vec<_> = self.slots.iter().map(|s| s.timeframe).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Distinct indicators computed, across all instruments and timeframes.
    pub fn indicator_count(&self) -> usize {
        self.banks.indicator_count()
    }

    #[inline]
    pub fn on_msg(&mut self, msg: &Msg, out: &mut impl FnMut(Msg)) {
        match *msg {
            Msg::Candle { candle: ref c, ingress_raw } => {
                let Some(bank) = self.banks.on_candle(c) else { return };
                let Some(subs) = self.by_instrument.get(c.instrument.index()) else { return };
                for &i in subs {
                    if self.slots[i].timeframe != c.spec || self.views[i].0 != bank {
                        continue;
                    }
                    let slot = &mut self.slots[i];
                    self.actions.clear();
                    let view = self.banks.view(self.views[i].0, &self.views[i].1);
                    let mut ctx =
                        Ctx::new(slot.instrument, &slot.book, &slot.orders, view, c.close, c.end, &mut self.actions);
                    slot.strategy.on_candle(c, &mut ctx);
                    Self::act(slot, &self.actions, c.end, ingress_raw, &mut self.counters, out);
                }
            }
            Msg::Tick { tick, ingress_raw } => {
                self.banks.on_tick(&tick, &self.session);
                if let Some(subs) = self.by_instrument.get(tick.instrument.index()) {
                    for &i in subs {
                        if !self.slots[i].strategy.wants_ticks() {
                            continue;
                        }
                        let slot = &mut self.slots[i];
                        self.actions.clear();
                        let view = self.banks.view(self.views[i].0, &self.views[i].1);
                        let mut ctx = Ctx::new(
                            slot.instrument,
                            &slot.book,
                            &slot.orders,
                            view,
                            tick.price,
                            tick.ts,
                            &mut self.actions,
                        );
                        slot.strategy.on_tick(&tick, &mut ctx);
                        Self::act(slot, &self.actions, tick.ts, ingress_raw, &mut self.counters, out);
                    }
                }
                out(*msg);
            }
            Msg::Feedback(fb) => {
                self.on_feedback(&fb);
                out(*msg);
            }
            Msg::Empty => {}
            _ => out(*msg),
        }
    }

    fn on_feedback(&mut self, fb: &Feedback) {
        match *fb {
            Feedback::Accepted { order, intent } => {
                if let Some(slot) = self.slots.get_mut(intent.strategy.index()) {
                    slot.orders.push(OpenOrder { id: order, intent, remaining: intent.qty });
                }
            }
            Feedback::Filled { fill: f, done } => {
                if let Some(slot) = self.slots.get_mut(f.strategy.index()) {
                    let b = &mut slot.book;
                    match f.side {
                        Side::Buy => b.working_buy = b.working_buy - f.qty,
                        Side::Sell => b.working_sell = b.working_sell - f.qty,
                    }
                    b.position = b.position.after(f.side, f.qty);
                    if let Some(k) = slot.orders.iter().position(|o| o.id == f.order) {
                        slot.orders[k].remaining = slot.orders[k].remaining - f.qty;
                        if done {
                            slot.orders.remove(k);
                        }
                    }
                }
            }
            Feedback::Closed { order, strategy, side, unfilled, .. } => {
                if let Some(slot) = self.slots.get_mut(strategy.index()) {
                    let b = &mut slot.book;
                    match side {
                        Side::Buy => b.working_buy = b.working_buy - unfilled,
                        Side::Sell => b.working_sell = b.working_sell - unfilled,
                    }
                    slot.orders.retain(|o| o.id != order);
                }
            }
            Feedback::Modified { order, intent, old_remaining, new_remaining } => {
                if let Some(slot) = self.slots.get_mut(intent.strategy.index()) {
                    let b = &mut slot.book;
                    match intent.side {
                        Side::Buy => b.working_buy = b.working_buy - old_remaining + new_remaining,
                        Side::Sell => b.working_sell = b.working_sell - old_remaining + new_remaining,
                    }
                    if let Some(o) = slot.orders.iter_mut().find(|o| o.id == order) {
                        o.intent = intent;
                        o.remaining = new_remaining;
                    }
                }
            }
            Feedback::CommandRefused { .. } => {}
        }
    }

    /// Turns a decision's actions into messages; intents count as working at once, so the
    /// next decision cannot send the same order again.
    fn act(
        slot: &mut StrategySlot,
        actions: &[Action],
        ts: Timestamp,
        ingress_raw: u64,
        c: &mut StrategyCounters,
        out: &mut impl FnMut(Msg),
    ) {
        if actions.is_empty() {
            return;
        }
        c.signals += 1;
        for a in actions {
            match *a {
                Action::Submit(mut intent) => {
                    intent.account = slot.account;
                    intent.strategy = slot.id;
                    match intent.side {
                        Side::Buy => slot.book.working_buy += intent.qty,
                        Side::Sell => slot.book.working_sell += intent.qty,
                    }
                    c.intents += 1;
                    out(Msg::Intent { intent, ts, ingress_raw });
                }
                Action::Modify { order, qty, price, trigger } => {
                    c.modifies += 1;
                    out(Msg::Command(Command::Modify { account: slot.account, order, qty, price, trigger }));
                }
                Action::Cancel(order) => {
                    c.cancels += 1;
                    out(Msg::Command(Command::Cancel { account: slot.account, order }));
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::candle::{BarSpec, Candle};
    use crate::types::{InstrumentId, Price, Qty, Timestamp};

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
    pub fn run_bars(strategy: Box<dyn Strategy>, closes: &[Price]) -> Vec<i64> {
        let slot = StrategySlot::new(StrategyId(0), AccountId(0), InstrumentId(0), BarSpec::M1, strategy);
        let mut stage = StrategyStage::new(vec![slot], 1, Session::NSE_NORMAL);
        let mut positions = Vec::new();
        for (k, p) in closes.iter().enumerate() {
            let mut c = bar(*p);
            c.start = Timestamp(k as i64 * 60_000_000_000);
            c.end = Timestamp((k as i64 + 1) * 60_000_000_000);
            let mut intents = Vec::new();
            stage.on_msg(&Msg::Candle { candle: c, ingress_raw: 0 }, &mut |m| {
                if let Msg::Intent { intent, .. } = m {
                    intents.push(intent)
                }
            });
            for (n, intent) in intents.into_iter().enumerate() {
                let fill = crate::event::Fill {
                    id: crate::types::FillId(k as u64 * 10 + n as u64 + 1),
                    order: crate::types::OrderId(k as u64 * 10 + n as u64 + 1),
                    account: intent.account,
                    strategy: intent.strategy,
                    instrument: intent.instrument,
                    side: intent.side,
                    qty: intent.qty,
                    price: *p,
                    ts: c.end,
                    product: intent.product,
                    charges: crate::types::Money::ZERO,
                };
                stage.on_msg(&Msg::Feedback(Feedback::Filled { fill, done: true }), &mut |_| {});
                positions.push(stage.slots()[0].book.position.0);
            }
        }
        positions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candle::Timeframe;

    fn slot(id: u16, tf: BarSpec, s: Box<dyn Strategy>) -> StrategySlot {
        StrategySlot::new(StrategyId(id), AccountId(id), InstrumentId(0), tf, s)
    }

    #[test]
    fn each_distinct_indicator_is_computed_once_per_bar() {
        let m1 = BarSpec::M1;
        let m5 = BarSpec::Time(Timeframe::parse("5m").unwrap_or(Timeframe::M1));
        let slots = vec![
            slot(0, m1, Box::new(EmaCross::new(5, 13, 1, false))),
            slot(1, m1, Box::new(EmaCross::new(5, 21, 1, false))),
            slot(2, m1, Box::new(EmaCross::new(5, 13, 1, true))),
            slot(3, m5, Box::new(EmaCross::new(5, 13, 1, false))),
        ];
        let stage = StrategyStage::new(slots, 1, Session::NSE_NORMAL);
        // 1m: ema 5, 13, 21 shared by three strategies; 5m: its own ema 5 and 13.
        assert_eq!(stage.indicator_count(), 5);
    }

    #[test]
    fn open_orders_follow_feedback() {
        let mut stage = StrategyStage::new(
            vec![slot(0, BarSpec::M1, Box::new(EmaCross::new(2, 3, 1, false)))],
            1,
            Session::NSE_NORMAL,
        );
        let intent = crate::types::OrderIntent::limit(
            AccountId(0),
            StrategyId(0),
            InstrumentId(0),
            Side::Buy,
            crate::types::Qty(10),
            crate::types::Price(100),
        );
        let order = crate::types::OrderId(7);
        stage.on_msg(&Msg::Feedback(Feedback::Accepted { order, intent }), &mut |_| {});
        assert_eq!(stage.slots()[0].orders.len(), 1);
        let mut modified = intent;
        modified.qty = crate::types::Qty(4);
        let fb = Feedback::Modified { order, intent: modified, old_remaining: intent.qty, new_remaining: modified.qty };
        stage.on_msg(&Msg::Feedback(fb), &mut |_| {});
        assert_eq!(stage.slots()[0].orders[0].remaining, crate::types::Qty(4));
        let closed = Feedback::Closed {
            order,
            account: AccountId(0),
            strategy: StrategyId(0),
            instrument: InstrumentId(0),
            product: crate::types::Product::Mis,
            side: Side::Buy,
            unfilled: crate::types::Qty(4),
            reason: crate::event::CloseReason::Cancelled,
        };
        stage.on_msg(&Msg::Feedback(closed), &mut |_| {});
        assert!(stage.slots()[0].orders.is_empty());
    }
}
