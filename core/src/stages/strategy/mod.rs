//! The strategy stage. A strategy is a plain struct a quant writes in one file (see
//! [`Strategy`]): it declares the indicators and feeds it reads, sees closed candles of the
//! feeds it subscribed to (and trades if it asks), its positions, working quantities and open
//! orders, and acts through a [`Ctx`]: target a position, send orders, modify or cancel its
//! own orders.
//!
//! The stage computes each distinct indicator once per bar per instrument and timeframe, however
//! many strategies read it, and keeps every strategy's books from the order stage's feedback.
//! Strategies are found by name in a [`StrategyRegistry`]; the stage only ever holds
//! [`StrategyKind`]s and the encoded parameters they read.

mod api;
mod bank;
mod ctx;
mod registry;
pub mod testing;

use crate::model::Tick;
pub use api::{ParamError, Strategy, StrategyEnv, Subscription};
pub use bank::{IndicatorBanks, IndicatorView};
pub use ctx::{Action, Book, Ctx, OpenOrder};
pub use registry::{Idle, Runner, StrategyKind, StrategyRegistry};

use ctx::{FeedView, Lent, Moment};

use crate::model::{
    AccountId, BarSpec, Command, Feedback, InstrumentId, InstrumentSpec, Msg, Price, Qty, Session, Side, Stamp,
    StrategyId, StrategyParams, Timestamp,
};

/// Why the strategy stage's state could not be saved or restored.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("strategy {0} cannot save its state: {1}")]
    Save(usize, postcard::Error),
    #[error("strategy {0} cannot restore its state: {1}")]
    Restore(usize, postcard::Error),
    #[error("saved state holds {found} strategies, the configuration {expected}")]
    Count { found: usize, expected: usize },
}

/// What a snapshot keeps of one strategy slot (its identity comes from the configuration).
#[derive(serde::Serialize, serde::Deserialize)]
struct SlotState {
    params: StrategyParams,
    books: Vec<(InstrumentId, Book)>,
    orders: Vec<OpenOrder>,
    strategy: Vec<u8>,
}

/// What a snapshot keeps of the strategy stage.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct StrategyState {
    banks: IndicatorBanks,
    views: Vec<Vec<FeedView>>,
    enabled: Vec<bool>,
    last_prices: Vec<Price>,
    counters: StrategyCounters,
    slots: Vec<SlotState>,
}

/// One bar or trade stream a strategy reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Feed {
    instrument: InstrumentId,
    timeframe: BarSpec,
    ticks: bool,
}

/// One running strategy instance and its books.
pub struct StrategySlot {
    pub id: StrategyId,
    pub account: AccountId,
    /// Home instrument and bars (feed 0).
    pub instrument: InstrumentId,
    pub timeframe: BarSpec,
    pub kind: StrategyKind,
    /// The parameters it was last built with.
    pub params: StrategyParams,
    /// Per instrument it holds or works orders in, home first.
    pub books: Vec<(InstrumentId, Book)>,
    pub orders: Vec<OpenOrder>,
    strategy: Box<dyn Runner>,
    feeds: Vec<Feed>,
}

impl StrategySlot {
    /// A slot running `strategy`, built by `kind` from `params`.
    pub fn new(
        id: StrategyId,
        account: AccountId,
        (instrument, timeframe): (InstrumentId, BarSpec),
        (kind, params): (StrategyKind, StrategyParams),
        strategy: Box<dyn Runner>,
    ) -> Self {
        let mut slot = StrategySlot {
            id,
            account,
            instrument,
            timeframe,
            kind,
            params,
            books: vec![(instrument, Book::default())],
            orders: Vec::new(),
            strategy,
            feeds: Vec::new(),
        };
        slot.feeds = slot.feeds();
        slot
    }

    /// The position and working quantity in the home instrument.
    pub fn book(&self) -> Book {
        self.books.first().map(|(_, b)| *b).unwrap_or_default()
    }

    fn feeds(&self) -> Vec<Feed> {
        let home = Feed { instrument: self.instrument, timeframe: self.timeframe, ticks: self.strategy.wants_ticks() };
        let extra = self.strategy.subscriptions();
        std::iter::once(home)
            .chain(extra.iter().map(|s| Feed { instrument: s.instrument, timeframe: s.timeframe, ticks: s.ticks }))
            .collect()
    }

    fn book_mut(&mut self, instrument: InstrumentId) -> &mut Book {
        let k = match self.books.iter().position(|(i, _)| *i == instrument) {
            Some(k) => k,
            None => {
                self.books.push((instrument, Book::default()));
                self.books.len() - 1
            }
        };
        &mut self.books[k].1
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
    /// Parameter changes refused (they do not decode or do not validate for the strategy).
    #[serde(default)]
    pub reconfigure_refused: u64,
}

/// Hosts every strategy of every account.
pub struct StrategyStage {
    slots: Vec<StrategySlot>,
    /// For each instrument, the (slot, feed) pairs that read it, in slot order.
    by_instrument: Vec<Vec<(usize, usize)>>,
    /// The subset of `by_instrument` whose feed reads trades: a trade visits only these, so
    /// its cost does not grow with the strategies that decide on bars of its instrument.
    tick_readers: Vec<Vec<(usize, usize)>>,
    banks: IndicatorBanks,
    /// Per slot, per feed: its bank and indicator indices.
    views: Vec<Vec<FeedView>>,
    actions: Vec<Action>,
    session: Session,
    /// Per slot: running (true) or stopped by command.
    enabled: Vec<bool>,
    /// The instrument table, for rebuilding a strategy with new parameters.
    instruments: Vec<InstrumentSpec>,
    /// Last trade per instrument, for [`Ctx::last_price_of`].
    last_prices: Vec<Price>,
    pub counters: StrategyCounters,
}

impl StrategyStage {
    pub fn new(slots: Vec<StrategySlot>, instruments: Vec<InstrumentSpec>, session: Session) -> Self {
        let n = instruments.len();
        let mut stage = StrategyStage {
            enabled: vec![true; slots.len()],
            slots,
            by_instrument: vec![Vec::new(); n],
            tick_readers: vec![Vec::new(); n],
            banks: IndicatorBanks::new(n),
            views: Vec::new(),
            actions: Vec::with_capacity(16),
            session,
            instruments,
            last_prices: vec![Price::ZERO; n],
            counters: StrategyCounters::default(),
        };
        for i in 0..stage.slots.len() {
            let views = stage.register(i);
            stage.views.push(views);
        }
        stage.route();
        stage
    }

    /// The banks and indicator indices of slot `i`'s feeds (sharing what exists).
    fn register(&mut self, i: usize) -> Vec<FeedView> {
        let slot = &self.slots[i];
        let home = self.banks.register(slot.instrument, slot.timeframe, &slot.strategy.indicators());
        let mut views = vec![home];
        for s in slot.strategy.subscriptions() {
            views.push(self.banks.register(s.instrument, s.timeframe, &s.indicators));
        }
        views
    }

    /// Rebuilds the instrument → (slot, feed) routing table.
    fn route(&mut self) {
        for v in self.by_instrument.iter_mut().chain(&mut self.tick_readers) {
            v.clear();
        }
        for (i, slot) in self.slots.iter().enumerate() {
            for (f, feed) in slot.feeds.iter().enumerate() {
                let list = self.by_instrument.get_mut(feed.instrument.index());
                if let Some(list) = list.filter(|l| !l.contains(&(i, f))) {
                    list.push((i, f));
                    if feed.ticks {
                        if let Some(readers) = self.tick_readers.get_mut(feed.instrument.index()) {
                            readers.push((i, f));
                        }
                    }
                }
            }
        }
    }

    /// Rebuilds one strategy with new parameters of its own kind; parameters that do not
    /// decode or validate change nothing and are counted (the console validates before
    /// sending, so only a forged or stale command is refused here).
    fn reconfigure(&mut self, id: StrategyId, params: &StrategyParams) {
        let i = id.index();
        let Some(slot) = self.slots.get(i) else {
            self.counters.reconfigure_refused += 1;
            return;
        };
        let Some(home) = self.instruments.get(slot.instrument.index()) else {
            self.counters.reconfigure_refused += 1;
            return;
        };
        let env = StrategyEnv {
            instrument: home,
            timeframe: slot.timeframe,
            session: self.session,
            qty: params.qty,
            allow_short: params.allow_short,
            instruments: &self.instruments,
        };
        match slot.kind.build(params, &env) {
            Ok(strategy) => {
                let slot = &mut self.slots[i];
                slot.strategy = strategy;
                slot.params = *params;
                slot.feeds = slot.feeds();
                self.views[i] = self.register(i);
                self.route();
                self.counters.reconfigured += 1;
            }
            Err(e) => {
                tracing::warn!(strategy = i, error = %e, "strategy parameters refused");
                self.counters.reconfigure_refused += 1;
            }
        }
    }

    /// The stage's state for a snapshot.
    pub fn save_state(&self) -> Result<StrategyState, StateError> {
        let mut slots = Vec::with_capacity(self.slots.len());
        for (i, s) in self.slots.iter().enumerate() {
            let strategy = s.strategy.save().map_err(|e| StateError::Save(i, e))?;
            slots.push(SlotState { params: s.params, books: s.books.clone(), orders: s.orders.clone(), strategy });
        }
        Ok(StrategyState {
            banks: self.banks.clone(),
            views: self.views.clone(),
            enabled: self.enabled.clone(),
            last_prices: self.last_prices.clone(),
            counters: self.counters,
            slots,
        })
    }

    /// Puts a snapshot's state into a stage built from the same configuration. A strategy
    /// whose parameters changed at run time is rebuilt with them before its state goes back.
    pub fn restore_state(&mut self, state: StrategyState) -> Result<(), StateError> {
        if state.slots.len() != self.slots.len() {
            return Err(StateError::Count { found: state.slots.len(), expected: self.slots.len() });
        }
        for (i, saved) in state.slots.into_iter().enumerate() {
            if saved.params != self.slots[i].params {
                self.reconfigure(StrategyId(i as u16), &saved.params);
            }
            let slot = &mut self.slots[i];
            slot.strategy.restore(&saved.strategy).map_err(|e| StateError::Restore(i, e))?;
            slot.feeds = slot.feeds();
            slot.books = saved.books;
            slot.orders = saved.orders;
        }
        self.banks = state.banks;
        self.views = state.views;
        self.enabled = state.enabled;
        self.last_prices = state.last_prices;
        self.counters = state.counters;
        self.route();
        Ok(())
    }

    pub fn slots(&self) -> &[StrategySlot] {
        &self.slots
    }

    /// Whether a strategy is running (strategies start running).
    pub fn is_enabled(&self, strategy: StrategyId) -> bool {
        self.enabled.get(strategy.index()).copied().unwrap_or(false)
    }

    /// Stops a strategy from making decisions (its book and orders stay).
    pub fn disable(&mut self, strategy: StrategyId) {
        if let Some(e) = self.enabled.get_mut(strategy.index()) {
            *e = false;
        }
    }

    /// Bars some strategy listens to, so the candle stage builds them.
    pub fn timeframes(&self) -> Vec<BarSpec> {
        let mut v: Vec<_> = self.slots.iter().flat_map(|s| s.feeds.iter().map(|f| f.timeframe)).collect();
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
            Msg::Candle { candle: ref c, stamp } => {
                // Decisions first, then the bar itself goes on (observers chart it).
                let bank = self.banks.on_candle(c);
                let subs = self.by_instrument.get(c.instrument.index()).map(Vec::as_slice).unwrap_or(&[]);
                for &(i, f) in subs {
                    let Some(bank) = bank else { break };
                    let slot = &mut self.slots[i];
                    if !self.enabled[i] || slot.feeds[f].timeframe != c.spec || self.views[i][f].0 != bank {
                        continue;
                    }
                    let at = Moment { feed: f, last: c.close, now: c.end };
                    let shared = (&self.banks, self.views[i].as_slice(), self.last_prices.as_slice());
                    let run = |s: &mut dyn Runner, ctx: &mut Ctx<'_>| s.on_candle(c, ctx);
                    decide(slot, shared, (&mut self.actions, &mut self.counters), (at, stamp), run, out);
                }
                out(*msg);
            }
            Msg::Tick { tick, stamp } => {
                self.on_tick(&tick, stamp, out);
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

    /// A trade: last prices, trade-reading indicators, and the strategies that want ticks
    /// (their intents go to `out`). The tick itself is the caller's to pass on.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick, stamp: Stamp, out: &mut impl FnMut(Msg)) {
        if let Some(p) = self.last_prices.get_mut(tick.instrument.index()) {
            *p = tick.price;
        }
        self.banks.on_tick(tick, &self.session);
        if let Some(subs) = self.tick_readers.get(tick.instrument.index()) {
            for &(i, f) in subs {
                let slot = &mut self.slots[i];
                if !self.enabled[i] {
                    continue;
                }
                let at = Moment { feed: f, last: tick.price, now: tick.ts };
                let shared = (&self.banks, self.views[i].as_slice(), self.last_prices.as_slice());
                let run = |s: &mut dyn Runner, ctx: &mut Ctx<'_>| s.on_tick(tick, ctx);
                decide(slot, shared, (&mut self.actions, &mut self.counters), (at, stamp), run, out);
            }
        }
    }

    fn on_feedback(&mut self, fb: &Feedback) {
        match *fb {
            Feedback::Accepted { order, intent } => {
                if let Some(slot) = self.slots.get_mut(intent.strategy.index()) {
                    slot.orders.push(OpenOrder { id: order, intent, remaining: intent.qty });
                }
            }
            // An engine square-off, or a position adopted from the broker, moved the account's
            // position in this instrument: where it reduces what strategies hold, they hold
            // less too, or they would trade from a position the account no longer has.
            Feedback::Filled { fill: f, .. } | Feedback::Adopted { fill: f } if f.strategy == StrategyId::SYSTEM => {
                let mut left = f.qty.0;
                for slot in self.slots.iter_mut().filter(|s| s.account == f.account) {
                    let Some((_, book)) = slot.books.iter_mut().find(|(i, _)| *i == f.instrument) else { continue };
                    let held = book.position.0;
                    let reduces = (f.side == Side::Sell && held > 0) || (f.side == Side::Buy && held < 0);
                    if left == 0 || !reduces {
                        continue;
                    }
                    let q = held.unsigned_abs().min(left);
                    book.position = book.position.after(f.side, Qty(q));
                    left -= q;
                }
            }
            Feedback::Filled { fill: f, done } => {
                if let Some(slot) = self.slots.get_mut(f.strategy.index()) {
                    let b = slot.book_mut(f.instrument);
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
            Feedback::Closed { order, strategy, instrument, side, unfilled, .. } => {
                if let Some(slot) = self.slots.get_mut(strategy.index()) {
                    slot.book_mut(instrument).rework(side, unfilled, Qty::ZERO);
                    slot.orders.retain(|o| o.id != order);
                }
            }
            Feedback::Modified { order, intent, old_remaining, new_remaining } => {
                if let Some(slot) = self.slots.get_mut(intent.strategy.index()) {
                    slot.book_mut(intent.instrument).rework(intent.side, old_remaining, new_remaining);
                    if let Some(o) = slot.orders.iter_mut().find(|o| o.id == order) {
                        o.intent = intent;
                        o.remaining = new_remaining;
                    }
                }
            }
            Feedback::CommandRefused { .. } | Feedback::Adopted { .. } => {}
        }
    }
}

/// One decision of `slot` on the event `at`: lends it its books, orders, the indicator banks
/// (with its views of them) and the last prices, runs it, and turns what it asked for into
/// messages.
#[inline]
fn decide(
    slot: &mut StrategySlot,
    (banks, views, last_prices): (&IndicatorBanks, &[FeedView], &[Price]),
    (actions, counters): (&mut Vec<Action>, &mut StrategyCounters),
    (at, stamp): (Moment, Stamp),
    run: impl FnOnce(&mut dyn Runner, &mut Ctx<'_>),
    out: &mut impl FnMut(Msg),
) {
    actions.clear();
    let lent = Lent { home: slot.instrument, books: &slot.books, orders: &slot.orders, banks, views, last_prices };
    let mut ctx = Ctx::new(lent, at, actions);
    run(slot.strategy.as_mut(), &mut ctx);
    StrategyStage::act(slot, actions, at.now, stamp, counters, out);
}

impl StrategyStage {
    /// Turns a decision's actions into messages; intents count as working at once, so the
    /// next decision cannot send the same order again.
    fn act(
        slot: &mut StrategySlot,
        actions: &[Action],
        ts: Timestamp,
        stamp: Stamp,
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
                    // Sent before it is booked as working: `out` cannot reach this stage.
                    out(Msg::Intent { intent, ts, stamp });
                    slot.book_mut(intent.instrument).rework(intent.side, Qty::ZERO, intent.qty);
                    c.intents += 1;
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
mod tests {
    use super::*;
    use crate::indicators::IndicatorSpec;
    use crate::model::{Candle, CloseReason, OrderId, OrderIntent, Product, Timeframe};

    /// Long above the average of its two EMAs' last crossing, flat below: enough logic to see
    /// decisions, with the indicators it is given.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Probe {
        emas: Vec<usize>,
        last: i8,
    }

    impl Strategy for Probe {
        const KIND: &'static str = "probe";
        type Params = Vec<usize>;
        fn new(p: &Vec<usize>, _env: &StrategyEnv<'_>) -> Result<Self, ParamError> {
            Ok(Probe { emas: p.clone(), last: 0 })
        }
        fn indicators(&self) -> Vec<IndicatorSpec> {
            self.emas.iter().map(|p| IndicatorSpec::Ema(*p)).collect()
        }
        fn on_candle(&mut self, c: &Candle, ctx: &mut Ctx<'_>) {
            let up = c.close.0 % 2 == 0;
            let sign = if up { 1 } else { -1 };
            if sign != self.last {
                self.last = sign;
                ctx.target(if up { 1 } else { 0 });
            }
        }
    }

    fn slot(id: u16, tf: BarSpec, emas: &[usize]) -> StrategySlot {
        let kind = StrategyKind::of::<Probe>();
        StrategySlot::new(
            StrategyId(id),
            AccountId(id),
            (InstrumentId(0), tf),
            (kind, StrategyParams::default()),
            Box::new(Probe { emas: emas.to_vec(), last: 0 }),
        )
    }

    fn stage(slots: Vec<StrategySlot>) -> StrategyStage {
        StrategyStage::new(slots, vec![testing::instrument(Price(5))], Session::NSE_NORMAL)
    }

    #[test]
    fn each_distinct_indicator_is_computed_once_per_bar() {
        let m1 = BarSpec::M1;
        let m5 = BarSpec::Time(Timeframe::parse("5m").unwrap_or(Timeframe::M1));
        let s = stage(vec![slot(0, m1, &[5, 13]), slot(1, m1, &[5, 21]), slot(2, m1, &[5, 13]), slot(3, m5, &[5, 13])]);
        // 1m: ema 5, 13, 21 shared by three strategies; 5m: its own ema 5 and 13.
        assert_eq!(s.indicator_count(), 5);
        assert_eq!(s.timeframes(), vec![m1, m5]);
    }

    #[test]
    fn a_stopped_strategy_makes_no_decisions_until_started() {
        let mut s = stage(vec![slot(0, BarSpec::M1, &[])]);
        let stop = Msg::Command(Command::StrategyEnabled { strategy: StrategyId(0), enabled: false });
        let start = Msg::Command(Command::StrategyEnabled { strategy: StrategyId(0), enabled: true });
        s.on_msg(&stop, &mut |_| {});
        assert!(!s.is_enabled(StrategyId(0)));
        let mut intents = 0;
        for (k, p) in [100, 110, 101, 110, 101].iter().enumerate() {
            let mut c = testing::bar(Price(*p));
            c.end = Timestamp(k as i64 + 1);
            if k == 3 {
                s.on_msg(&start, &mut |_| {});
            }
            s.on_msg(&Msg::Candle { candle: c, stamp: Stamp::NONE }, &mut |m| {
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
        let mut s = stage(vec![slot(0, BarSpec::M1, &[])]);
        let intent = OrderIntent::limit(AccountId(0), StrategyId(0), InstrumentId(0), Side::Buy, Qty(10), Price(100));
        let order = OrderId(7);
        s.on_msg(&Msg::Feedback(Feedback::Accepted { order, intent }), &mut |_| {});
        assert_eq!(s.slots()[0].orders.len(), 1);
        let mut modified = intent;
        modified.qty = Qty(4);
        let fb = Feedback::Modified { order, intent: modified, old_remaining: intent.qty, new_remaining: modified.qty };
        s.on_msg(&Msg::Feedback(fb), &mut |_| {});
        assert_eq!(s.slots()[0].orders[0].remaining, Qty(4));
        let closed = Feedback::Closed {
            order,
            account: AccountId(0),
            strategy: StrategyId(0),
            instrument: InstrumentId(0),
            product: Product::Mis,
            side: Side::Buy,
            unfilled: Qty(4),
            reason: CloseReason::Cancelled,
        };
        s.on_msg(&Msg::Feedback(closed), &mut |_| {});
        assert!(s.slots()[0].orders.is_empty());
    }

    /// A pair: long the home leg and short the other whenever the other's bar closes above
    /// its previous close; it reads the other leg's EMA through its subscription.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Pair {
        other: InstrumentId,
        prev: i64,
    }

    impl Strategy for Pair {
        const KIND: &'static str = "pair";
        type Params = String;
        fn new(other: &String, env: &StrategyEnv<'_>) -> Result<Self, ParamError> {
            Ok(Pair { other: env.instrument_for("other", other)?, prev: 0 })
        }
        fn subscriptions(&self) -> Vec<Subscription> {
            vec![Subscription::bars(self.other, BarSpec::M1).with_indicators(vec![IndicatorSpec::Ema(1)])]
        }
        fn on_candle(&mut self, c: &Candle, ctx: &mut Ctx<'_>) {
            if ctx.feed() != 1 {
                return;
            }
            assert_eq!(ctx.value(0), Some(c.close.as_f64()));
            if self.prev != 0 && c.close.0 > self.prev {
                ctx.target(10);
                ctx.target_of(self.other, -10);
            }
            self.prev = c.close.0;
        }
    }

    #[test]
    fn a_strategy_reads_and_trades_a_second_instrument() {
        let mut b = testing::instrument(Price(5));
        b.id = InstrumentId(1);
        b.symbol = "OTHER".into();
        let instruments = vec![testing::instrument(Price(5)), b];
        let env = StrategyEnv {
            instrument: &instruments[0],
            timeframe: BarSpec::M1,
            session: Session::NSE_NORMAL,
            qty: 10,
            allow_short: true,
            instruments: &instruments,
        };
        let kind = StrategyKind::of::<Pair>();
        assert_eq!(
            kind.parse(&serde_json::json!("NOPE"), &env).err().map(|e| e.key),
            Some("other".to_string()),
            "an unknown leg names its key"
        );
        let params = kind.parse(&serde_json::json!("OTHER"), &env).expect("valid");
        let runner = kind.build(&params, &env).expect("builds");
        let slot =
            StrategySlot::new(StrategyId(0), AccountId(0), (InstrumentId(0), BarSpec::M1), (kind, params), runner);
        let mut s = StrategyStage::new(vec![slot], instruments.clone(), Session::NSE_NORMAL);
        let mut sent = Vec::new();
        for (k, close) in [100, 90, 95].iter().enumerate() {
            let mut c = testing::bar(Price(*close));
            c.instrument = InstrumentId(1);
            c.end = Timestamp(k as i64 + 1);
            s.on_msg(&Msg::Candle { candle: c, stamp: Stamp::NONE }, &mut |m| {
                if let Msg::Intent { intent, .. } = m {
                    sent.push((intent.instrument, intent.side, intent.qty));
                }
            });
        }
        assert_eq!(sent, vec![(InstrumentId(0), Side::Buy, Qty(10)), (InstrumentId(1), Side::Sell, Qty(10))]);
        let books = &s.slots()[0].books;
        assert_eq!(books.len(), 2);
        assert_eq!(books[1].1.working_sell, Qty(10));
    }

    #[test]
    fn state_survives_save_and_restore() {
        let mut a = stage(vec![slot(0, BarSpec::M1, &[3])]);
        let c = testing::bar(Price(100));
        a.on_msg(&Msg::Candle { candle: c, stamp: Stamp::NONE }, &mut |_| {});
        let saved = postcard::to_stdvec(&a.save_state().expect("save")).expect("encode");
        let mut b = stage(vec![slot(0, BarSpec::M1, &[3])]);
        b.restore_state(postcard::from_bytes(&saved).expect("decode")).expect("restore");
        assert_eq!(b.slots()[0].book(), a.slots()[0].book());
        assert_eq!(b.counters, a.counters);
        let mut two = stage(vec![slot(0, BarSpec::M1, &[3]), slot(1, BarSpec::M1, &[3])]);
        assert!(matches!(
            two.restore_state(postcard::from_bytes(&saved).expect("decode")),
            Err(StateError::Count { found: 1, expected: 2 })
        ));
    }
}
