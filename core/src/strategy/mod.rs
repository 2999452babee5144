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
mod grid;
mod mean_reversion;
mod orb;
mod supertrend;
mod vwap_reversion;

pub use bank::{IndicatorBanks, IndicatorView};
pub use ctx::{Action, Book, Ctx, OpenOrder};
pub use ema_cross::EmaCross;
pub use grid::Grid;
pub use mean_reversion::BollingerReversion;
pub use orb::OpeningRangeBreakout;
pub use supertrend::SupertrendFollow;
pub use vwap_reversion::VwapReversion;

use crate::candle::{BarSpec, Candle};
use crate::event::{Command, Feedback, Msg, Tick};
use crate::indicators::IndicatorSpec;
use crate::setup::{build_strategy, StrategyParams};
use crate::snapshot::SnapshotError;
use crate::types::{AccountId, InstrumentId, Price, Qty, Session, Side, StrategyId, Timestamp};

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

    /// The strategy's whole state, parameters included, for engine snapshots; `None` when it
    /// cannot be saved (recovery then replays the journal from the start). Built-in strategies
    /// get both methods from [`crate::strategy_state_by_serde`].
    fn save_state(&self) -> Option<Vec<u8>> {
        None
    }

    /// Puts back what [`Strategy::save_state`] saved.
    fn restore_state(&mut self, _bytes: &[u8]) -> Result<(), postcard::Error> {
        Err(postcard::Error::DeserializeBadEncoding)
    }
}

/// What a snapshot keeps of one strategy slot (its identity comes from the configuration).
#[derive(serde::Serialize, serde::Deserialize)]
struct SlotState {
    book: Book,
    orders: Vec<OpenOrder>,
    strategy: Vec<u8>,
}

/// What a snapshot keeps of the strategy stage.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct StrategyState {
    banks: IndicatorBanks,
    views: Vec<(usize, Vec<usize>)>,
    enabled: Vec<bool>,
    counters: StrategyCounters,
    slots: Vec<SlotState>,
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StrategyCounters {
    /// Decisions that produced at least one action.
    pub signals: u64,
    pub intents: u64,
    pub modifies: u64,
    pub cancels: u64,
    /// Parameter changes applied.
    pub reconfigured: u64,
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
    /// Per slot: running (true) or stopped by command.
    enabled: Vec<bool>,
    /// What rebuilding a strategy with new parameters needs: per instrument its tick size, per
    /// slot the kind it must keep.
    tick_sizes: Vec<Price>,
    kinds: Vec<&'static str>,
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
        let enabled = vec![true; slots.len()];
        StrategyStage {
            slots,
            by_instrument,
            banks,
            views,
            actions: Vec::with_capacity(16),
            session,
            enabled,
            tick_sizes: Vec::new(),
            kinds: Vec::new(),
            counters: StrategyCounters::default(),
        }
    }

    /// Enables [`Command::SetStrategyParams`]: per instrument its tick size, per slot its kind.
    pub fn allow_reconfigure(&mut self, tick_sizes: Vec<Price>, kinds: Vec<&'static str>) {
        self.tick_sizes = tick_sizes;
        self.kinds = kinds;
    }

    /// Rebuilds one strategy with new parameters of the same kind; anything else is ignored
    /// (the API validates before sending, so only a forged command would be).
    fn reconfigure(&mut self, id: StrategyId, params: &StrategyParams) {
        let i = id.index();
        let (Some(slot), Some(kind)) = (self.slots.get_mut(i), self.kinds.get(i)) else { return };
        if params.kind.name() != *kind || params.qty == 0 || !params.kind.is_sane() {
            return;
        }
        let tick = self.tick_sizes.get(slot.instrument.index()).copied().unwrap_or(Price(1));
        let strategy = build_strategy(params, self.session.open, tick);
        self.views[i] = self.banks.register(slot.instrument, slot.timeframe, &strategy.indicators());
        slot.strategy = strategy;
        self.counters.reconfigured += 1;
    }

    /// The stage's state for a snapshot; fails if some strategy cannot save its own.
    pub fn save_state(&self) -> Result<StrategyState, SnapshotError> {
        let mut slots = Vec::with_capacity(self.slots.len());
        for (i, s) in self.slots.iter().enumerate() {
            let strategy = s.strategy.save_state().ok_or(SnapshotError::Unsupported(i))?;
            slots.push(SlotState { book: s.book, orders: s.orders.clone(), strategy });
        }
        Ok(StrategyState {
            banks: self.banks.clone(),
            views: self.views.clone(),
            enabled: self.enabled.clone(),
            counters: self.counters,
            slots,
        })
    }

    /// Puts a snapshot's state into a stage built from the same configuration.
    pub fn restore_state(&mut self, state: StrategyState) -> Result<(), SnapshotError> {
        if state.slots.len() != self.slots.len() {
            return Err(SnapshotError::StrategyCount { found: state.slots.len(), expected: self.slots.len() });
        }
        for (slot, saved) in self.slots.iter_mut().zip(state.slots) {
            slot.strategy.restore_state(&saved.strategy)?;
            slot.book = saved.book;
            slot.orders = saved.orders;
        }
        self.banks = state.banks;
        self.views = state.views;
        self.enabled = state.enabled;
        self.counters = state.counters;
        Ok(())
    }

    pub fn slots(&self) -> &[StrategySlot] {
        &self.slots
    }

    /// Whether a strategy is running (strategies start running).
    pub fn is_enabled(&self, strategy: StrategyId) -> bool {
        self.enabled.get(strategy.index()).copied().unwrap_or(false)
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
                // Decisions first, then the bar itself goes on (observers chart it).
                let bank = self.banks.on_candle(c);
                let subs = self.by_instrument.get(c.instrument.index()).map(Vec::as_slice).unwrap_or(&[]);
                for &i in subs {
                    let Some(bank) = bank else { break };
                    if !self.enabled[i] {
                        continue;
                    }
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
                out(*msg);
            }
            Msg::Tick { tick, ingress_raw } => {
                self.banks.on_tick(&tick, &self.session);
                if let Some(subs) = self.by_instrument.get(tick.instrument.index()) {
                    for &i in subs {
                        if !self.enabled[i] || !self.slots[i].strategy.wants_ticks() {
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
            Msg::Command(Command::SetStrategyParams { strategy, params }) => {
                self.reconfigure(strategy, &params);
                out(*msg);
            }
            Msg::Command(Command::StrategyEnabled { strategy, enabled }) => {
                if let Some(e) = self.enabled.get_mut(strategy.index()) {
                    *e = enabled;
                }
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
            Feedback::Filled { fill: f, .. } if f.strategy == StrategyId::SYSTEM => {
                // An engine square-off flattened the account's position in this instrument and
                // product: the strategies holding it are flat too, or they would trade from a
                // position they no longer have.
                let mut left = f.qty.0;
                for slot in self.slots.iter_mut().filter(|s| s.account == f.account && s.instrument == f.instrument) {
                    let held = slot.book.position.0;
                    let reduces = (f.side == Side::Sell && held > 0) || (f.side == Side::Buy && held < 0);
                    if left == 0 || !reduces {
                        continue;
                    }
                    let q = held.unsigned_abs().min(left);
                    slot.book.position = slot.book.position.after(f.side, Qty(q));
                    left -= q;
                }
            }
            Feedback::Filled { fill: f, done } => {
                if let Some(slot) = self.slots.get_mut(f.strategy.index()) {
                    let b = &mut slot.book;
                    b.rework(f.side, f.qty, Qty::ZERO);
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
                    slot.book.rework(side, unfilled, Qty::ZERO);
                    slot.orders.retain(|o| o.id != order);
                }
            }
            Feedback::Modified { order, intent, old_remaining, new_remaining } => {
                if let Some(slot) = self.slots.get_mut(intent.strategy.index()) {
                    slot.book.rework(intent.side, old_remaining, new_remaining);
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
                    slot.book.rework(intent.side, Qty::ZERO, intent.qty);
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

    /// 2026-11-20 (a Friday) 09:15:00 IST, the session open, in ns since the epoch.
    pub const OPEN_NS: i64 = 1_795_146_300 * crate::types::time::NANOS_PER_SEC;

    /// `min` minutes after the open of the test day (negative: before it).
    pub fn at(min: i64) -> Timestamp {
        Timestamp(OPEN_NS + min * crate::types::time::NANOS_PER_MIN)
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
        Order { id: u64, side: Side, qty: u64, kind: crate::types::OrderType, price: i64, trigger: i64 },
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
        pub fn new(strategy: Box<dyn Strategy>) -> Self {
            let slot = StrategySlot::new(StrategyId(0), AccountId(0), InstrumentId(0), BarSpec::M1, strategy);
            Harness {
                stage: StrategyStage::new(vec![slot], 1, Session::NSE_NORMAL),
                refuse: false,
                next_id: 1,
                next_fill: 1,
            }
        }

        pub fn position(&self) -> i64 {
            self.stage.slots()[0].book.position.0
        }

        pub fn orders(&self) -> &[OpenOrder] {
            &self.stage.slots()[0].orders
        }

        /// A closed bar; returns what the strategy sent.
        pub fn candle(&mut self, c: Candle) -> Vec<Sent> {
            self.event(Msg::Candle { candle: c, ingress_raw: 0 }, c.close, c.end)
        }

        /// A trade of instrument 0; returns what the strategy sent.
        pub fn tick(&mut self, ts: Timestamp, price: i64, qty: u64) -> Vec<Sent> {
            let tick = Tick { instrument: InstrumentId(0), ts, price: Price(price), qty: Qty(qty) };
            self.event(Msg::Tick { tick, ingress_raw: 0 }, Price(price), ts)
        }

        /// Fills `qty` of a working order at `price`, as the order stage reports it.
        pub fn fill(&mut self, id: u64, qty: u64, price: i64) {
            let o = *self.orders().iter().find(|o| o.id.0 == id).expect("fill of a working order");
            let done = qty >= o.remaining.0;
            self.feedback_fill(o.intent, crate::types::OrderId(id), Qty(qty), Price(price), Timestamp(0), done);
        }

        fn feedback_fill(
            &mut self,
            intent: crate::types::OrderIntent,
            order: crate::types::OrderId,
            qty: Qty,
            price: Price,
            ts: Timestamp,
            done: bool,
        ) {
            let fill = crate::event::Fill {
                id: crate::types::FillId(self.next_fill),
                order,
                account: intent.account,
                strategy: intent.strategy,
                instrument: intent.instrument,
                side: intent.side,
                qty,
                price,
                ts,
                product: intent.product,
                charges: crate::types::Money::ZERO,
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
                        let order = crate::types::OrderId(self.next_id);
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
                                reason: crate::event::CloseReason::Refused,
                            };
                            self.stage.on_msg(&Msg::Feedback(closed), &mut |_| {});
                            continue;
                        }
                        self.stage.on_msg(&Msg::Feedback(Feedback::Accepted { order, intent }), &mut |_| {});
                        if intent.order_type == crate::types::OrderType::Market {
                            self.feedback_fill(intent, order, intent.qty, price, ts, true);
                        }
                    }
                    Msg::Command(crate::event::Command::Cancel { order, .. }) => {
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
                                reason: crate::event::CloseReason::Cancelled,
                            };
                            self.stage.on_msg(&Msg::Feedback(closed), &mut |_| {});
                        }
                    }
                    Msg::Command(crate::event::Command::Modify { order, qty, price, trigger, .. }) => {
                        sent.push(Sent::Modify { id: order.0, qty: qty.0, price: price.0, trigger: trigger.0 });
                    }
                    _ => {}
                }
            }
            sent
        }
    }

    /// Feeds full bars through [`Harness`] and returns the position after each market fill.
    pub fn run_candles(strategy: Box<dyn Strategy>, bars: &[Candle]) -> Vec<i64> {
        let mut h = Harness::new(strategy);
        let mut positions = Vec::new();
        for c in bars {
            for s in h.candle(*c) {
                if let Sent::Order { kind: crate::types::OrderType::Market, .. } = s {
                    positions.push(h.position());
                }
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
    fn a_stopped_strategy_makes_no_decisions_until_started() {
        let mut stage = StrategyStage::new(
            vec![slot(0, BarSpec::M1, Box::new(EmaCross::new(1, 2, 1, true)))],
            1,
            Session::NSE_NORMAL,
        );
        let stop = Msg::Command(Command::StrategyEnabled { strategy: StrategyId(0), enabled: false });
        let start = Msg::Command(Command::StrategyEnabled { strategy: StrategyId(0), enabled: true });
        stage.on_msg(&stop, &mut |_| {});
        assert!(!stage.is_enabled(StrategyId(0)));
        let mut intents = 0;
        for (k, p) in [100, 110, 100, 110, 100].iter().enumerate() {
            let mut c = testing::bar(crate::types::Price(*p));
            c.end = crate::types::Timestamp(k as i64 + 1);
            if k == 3 {
                stage.on_msg(&start, &mut |_| {});
            }
            stage.on_msg(&Msg::Candle { candle: c, ingress_raw: 0 }, &mut |m| {
                if let Msg::Intent { .. } = m {
                    intents += 1;
                }
            });
            if k < 3 {
                assert_eq!(intents, 0, "stopped at bar {k}");
            }
        }
        assert!(intents > 0, "it trades again once started");
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
