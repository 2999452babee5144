//! What a strategy sees and does during one decision.

use super::bank::IndicatorBanks;
use crate::model::{
    InstrumentId, NetQty, OrderId, OrderIntent, OrderType, Price, Product, Qty, Side, Tag, Timestamp, Validity,
};

/// A strategy's position and working quantity in one instrument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Book {
    /// Filled position.
    pub position: NetQty,
    /// Quantity in buy orders sent and not yet filled or closed.
    pub working_buy: Qty,
    pub working_sell: Qty,
}

impl Book {
    /// Position if every working order filled.
    pub fn projected(&self) -> i64 {
        self.position.0 + self.working_buy.0 as i64 - self.working_sell.0 as i64
    }

    /// Working quantity on one side, as it changes: `removed` leaves (filled, closed, cut by
    /// a modify), `added` joins (a new order, raised by a modify).
    pub(crate) fn rework(&mut self, side: Side, removed: Qty, added: Qty) {
        let w = match side {
            Side::Buy => &mut self.working_buy,
            Side::Sell => &mut self.working_sell,
        };
        // Feedback can describe an order placed in the strategy's name from outside (the
        // console), which its own working count never held: clamp rather than underflow.
        *w = (*w + added).saturating_sub(removed);
    }
}

/// One of the strategy's working orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenOrder {
    pub id: OrderId,
    pub intent: OrderIntent,
    pub remaining: Qty,
}

/// What a decision asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Action {
    Submit(OrderIntent),
    /// New total quantity, limit and trigger; zero keeps the current value.
    Modify {
        order: OrderId,
        qty: Qty,
        price: Price,
        trigger: Price,
    },
    Cancel(OrderId),
}

/// Per feed of a strategy: its indicator bank and, per declared indicator, the bank's index.
pub(crate) type FeedView = (usize, Vec<usize>);

/// The strategy's window on the engine during one decision.
pub struct Ctx<'a> {
    feed: usize,
    home: InstrumentId,
    books: &'a [(InstrumentId, Book)],
    orders: &'a [OpenOrder],
    banks: &'a IndicatorBanks,
    views: &'a [FeedView],
    last_prices: &'a [Price],
    last: Price,
    now: Timestamp,
    actions: &'a mut Vec<Action>,
    product: Product,
    tag: Tag,
}

/// What a decision is about, for [`Ctx`]: which feed, the event's price and time.
#[derive(Clone, Copy)]
pub(crate) struct Moment {
    pub feed: usize,
    pub last: Price,
    pub now: Timestamp,
}

/// What the stage lends a decision of one strategy.
pub(crate) struct Lent<'a> {
    pub home: InstrumentId,
    pub books: &'a [(InstrumentId, Book)],
    pub orders: &'a [OpenOrder],
    pub banks: &'a IndicatorBanks,
    pub views: &'a [FeedView],
    pub last_prices: &'a [Price],
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(lent: Lent<'a>, at: Moment, actions: &'a mut Vec<Action>) -> Self {
        Ctx {
            feed: at.feed,
            home: lent.home,
            books: lent.books,
            orders: lent.orders,
            banks: lent.banks,
            views: lent.views,
            last_prices: lent.last_prices,
            last: at.last,
            now: at.now,
            actions,
            product: Product::Mis,
            tag: Tag::default(),
        }
    }

    /// Which feed this decision is about: 0 the home bars, `k + 1` the strategy's `k`-th
    /// [`Subscription`](super::Subscription).
    pub fn feed(&self) -> usize {
        self.feed
    }

    /// The home instrument.
    pub fn instrument(&self) -> InstrumentId {
        self.home
    }

    /// The position and working quantity in the home instrument.
    pub fn book(&self) -> &Book {
        self.books.first().map(|(_, b)| b).unwrap_or(&EMPTY_BOOK)
    }

    /// The position and working quantity in any instrument (empty if never traded).
    pub fn book_of(&self, instrument: InstrumentId) -> &Book {
        self.books.iter().find(|(i, _)| *i == instrument).map(|(_, b)| b).unwrap_or(&EMPTY_BOOK)
    }

    pub fn position(&self) -> i64 {
        self.book().position.0
    }

    /// Position in the home instrument if every working order filled.
    pub fn projected(&self) -> i64 {
        self.book().projected()
    }

    pub fn open_orders(&self) -> &[OpenOrder] {
        self.orders
    }

    /// The price of this decision's event: the bar's close, or the trade's price.
    pub fn last_price(&self) -> Price {
        self.last
    }

    /// The last trade of any instrument the engine has seen (zero before the first).
    pub fn last_price_of(&self, instrument: InstrumentId) -> Price {
        self.last_prices.get(instrument.index()).copied().unwrap_or(Price::ZERO)
    }

    /// Event time of the decision.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Outputs of the k-th declared indicator of this decision's feed (empty if out of
    /// range); `None` until valid.
    pub fn indicator(&self, k: usize) -> &[Option<f64>] {
        self.indicator_of(self.feed, k)
    }

    /// First output of the k-th declared indicator of this decision's feed.
    pub fn value(&self, k: usize) -> Option<f64> {
        self.value_of(self.feed, k)
    }

    /// Outputs of the k-th indicator declared for `feed` (0 = home).
    pub fn indicator_of(&self, feed: usize, k: usize) -> &[Option<f64>] {
        match self.views.get(feed) {
            Some((bank, map)) => self.banks.view(*bank, map).get(k),
            None => &[],
        }
    }

    /// First output of the k-th indicator declared for `feed` (0 = home).
    pub fn value_of(&self, feed: usize, k: usize) -> Option<f64> {
        let (bank, map) = self.views.get(feed)?;
        self.banks.first_value(*bank, *map.get(k)?)
    }

    /// Product for the orders of this decision (default MIS).
    pub fn with_product(&mut self, product: Product) -> &mut Self {
        self.product = product;
        self
    }

    /// Tag for the orders of this decision.
    pub fn with_tag(&mut self, tag: Tag) -> &mut Self {
        self.tag = tag;
        self
    }

    #[allow(clippy::too_many_arguments)]
    fn intent(
        &self,
        instrument: InstrumentId,
        side: Side,
        qty: Qty,
        order_type: OrderType,
        price: Price,
        trigger: Price,
        validity: Validity,
    ) -> OrderIntent {
        let mut i = OrderIntent::market(Default::default(), Default::default(), instrument, side, qty);
        i.order_type = order_type;
        i.price = price;
        i.trigger = trigger;
        i.validity = validity;
        i.product = self.product;
        i.tag = self.tag;
        i
    }

    /// Sends a market order for the difference between `target` and the projected position
    /// in the home instrument.
    pub fn target(&mut self, target: i64) {
        self.target_of(self.home, target);
    }

    /// [`Ctx::target`] for any instrument (a leg of a pair, say).
    pub fn target_of(&mut self, instrument: InstrumentId, target: i64) {
        let delta = target.saturating_sub(self.book_of(instrument).projected());
        if delta > 0 {
            self.market_of(instrument, Side::Buy, Qty(delta as u64));
        } else if delta < 0 {
            self.market_of(instrument, Side::Sell, Qty(delta.unsigned_abs()));
        }
    }

    pub fn market(&mut self, side: Side, qty: Qty) {
        self.market_of(self.home, side, qty);
    }

    /// A market order in any instrument.
    pub fn market_of(&mut self, instrument: InstrumentId, side: Side, qty: Qty) {
        let i = self.intent(instrument, side, qty, OrderType::Market, Price::ZERO, Price::ZERO, Validity::Day);
        self.actions.push(Action::Submit(i));
    }

    pub fn limit(&mut self, side: Side, qty: Qty, price: Price) {
        let i = self.intent(self.home, side, qty, OrderType::Limit, price, Price::ZERO, Validity::Day);
        self.actions.push(Action::Submit(i));
    }

    /// Stop-market: becomes a market order once the last trade crosses `trigger`.
    pub fn stop(&mut self, side: Side, qty: Qty, trigger: Price) {
        let i = self.intent(self.home, side, qty, OrderType::StopMarket, Price::ZERO, trigger, Validity::Day);
        self.actions.push(Action::Submit(i));
    }

    /// Stop-limit.
    pub fn stop_limit(&mut self, side: Side, qty: Qty, trigger: Price, price: Price) {
        let i = self.intent(self.home, side, qty, OrderType::StopLimit, price, trigger, Validity::Day);
        self.actions.push(Action::Submit(i));
    }

    /// Any order (any instrument); account and strategy are filled in by the stage.
    pub fn submit(&mut self, intent: OrderIntent) {
        self.actions.push(Action::Submit(intent));
    }

    pub fn modify(&mut self, order: OrderId, qty: Qty, price: Price, trigger: Price) {
        self.actions.push(Action::Modify { order, qty, price, trigger });
    }

    pub fn cancel(&mut self, order: OrderId) {
        self.actions.push(Action::Cancel(order));
    }

    pub fn cancel_all(&mut self) {
        for o in self.orders {
            self.actions.push(Action::Cancel(o.id));
        }
    }
}

static EMPTY_BOOK: Book = Book { position: NetQty(0), working_buy: Qty(0), working_sell: Qty(0) };
