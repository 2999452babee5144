//! What a strategy sees and does during one decision.

use crate::strategy::bank::IndicatorView;
use crate::types::{
    InstrumentId, NetQty, OrderId, OrderIntent, OrderType, Price, Product, Qty, Side, Tag, Timestamp, Validity,
};

/// A strategy's position and working quantity in its instrument.
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
        *w = *w - removed + added;
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

/// The strategy's window on the engine during one decision.
pub struct Ctx<'a> {
    instrument: InstrumentId,
    book: &'a Book,
    orders: &'a [OpenOrder],
    indicators: IndicatorView<'a>,
    last: Price,
    now: Timestamp,
    actions: &'a mut Vec<Action>,
    product: Product,
    tag: Tag,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        instrument: InstrumentId,
        book: &'a Book,
        orders: &'a [OpenOrder],
        indicators: IndicatorView<'a>,
        last: Price,
        now: Timestamp,
        actions: &'a mut Vec<Action>,
    ) -> Self {
        Ctx { instrument, book, orders, indicators, last, now, actions, product: Product::Mis, tag: Tag::default() }
    }

    pub fn book(&self) -> &Book {
        self.book
    }

    pub fn position(&self) -> i64 {
        self.book.position.0
    }

    /// Position if every working order filled.
    pub fn projected(&self) -> i64 {
        self.book.projected()
    }

    pub fn open_orders(&self) -> &[OpenOrder] {
        self.orders
    }

    /// The last price seen: the bar's close, or the tick's price.
    pub fn last_price(&self) -> Price {
        self.last
    }

    /// Event time of the decision.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Outputs of the k-th declared indicator (empty if out of range); `None` until valid.
    pub fn indicator(&self, k: usize) -> &[Option<f64>] {
        self.indicators.get(k)
    }

    /// First output of the k-th declared indicator.
    pub fn value(&self, k: usize) -> Option<f64> {
        self.indicators.get(k).first().copied().flatten()
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

    fn intent(
        &self,
        side: Side,
        qty: Qty,
        order_type: OrderType,
        price: Price,
        trigger: Price,
        validity: Validity,
    ) -> OrderIntent {
        let mut i = OrderIntent::market(Default::default(), Default::default(), self.instrument, side, qty);
        i.order_type = order_type;
        i.price = price;
        i.trigger = trigger;
        i.validity = validity;
        i.product = self.product;
        i.tag = self.tag;
        i
    }

    /// Sends a market order for the difference between `target` and the projected position.
    pub fn target(&mut self, target: i64) {
        let delta = target.saturating_sub(self.projected());
        if delta > 0 {
            self.market(Side::Buy, Qty(delta as u64));
        } else if delta < 0 {
            self.market(Side::Sell, Qty(delta.unsigned_abs()));
        }
    }

    pub fn market(&mut self, side: Side, qty: Qty) {
        let i = self.intent(side, qty, OrderType::Market, Price::ZERO, Price::ZERO, Validity::Day);
        self.actions.push(Action::Submit(i));
    }

    pub fn limit(&mut self, side: Side, qty: Qty, price: Price) {
        let i = self.intent(side, qty, OrderType::Limit, price, Price::ZERO, Validity::Day);
        self.actions.push(Action::Submit(i));
    }

    /// Stop-market: becomes a market order once the last trade crosses `trigger`.
    pub fn stop(&mut self, side: Side, qty: Qty, trigger: Price) {
        let i = self.intent(side, qty, OrderType::StopMarket, Price::ZERO, trigger, Validity::Day);
        self.actions.push(Action::Submit(i));
    }

    /// Stop-limit.
    pub fn stop_limit(&mut self, side: Side, qty: Qty, trigger: Price, price: Price) {
        let i = self.intent(side, qty, OrderType::StopLimit, price, trigger, Validity::Day);
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
