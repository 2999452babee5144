//! The order stage: gives every intent an id, runs the order life cycle, sends orders to the
//! paper venue, books fills into the portfolio, and publishes every change on the egress path.
//! It is the single writer of orders, fills and positions.

use crate::charges::{ChargeSegment, ChargeTable, Charges};
use crate::event::{CloseReason, Command, EgressEvent, Feedback, Fill, KillScope, Msg};
use crate::metrics::LatencyHistogram;
use crate::portfolio::Portfolio;
use crate::types::{
    FillId, InstrumentSpec, Money, Order, OrderId, OrderIntent, OrderStatus, Price, Qty, RejectReason, Segment,
    Session, Timestamp, Validity,
};
use crate::venue::{PaperVenue, Placement, VenueEvent};

/// Counters the stage keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderCounters {
    /// Orders created (approved or refused).
    pub orders: u64,
    pub rejected: u64,
    pub fills: u64,
    pub cancelled: u64,
    pub expired: u64,
    /// Transitions the life cycle forbids; refused, never applied.
    pub illegal_transitions: u64,
}

pub struct OrderStage {
    orders: Vec<Order>,
    venue: PaperVenue,
    portfolio: Portfolio,
    segments: Vec<Segment>,
    tariffs: ChargeTable,
    /// Charges paid per account.
    charges: Vec<Charges>,
    session: Session,
    next_fill: u64,
    /// Earliest session close among working DAY orders.
    next_expiry: i64,
    clock: quanta::Clock,
    /// Reused for the venue events of one tick, so matching does not allocate.
    scratch: Vec<VenueEvent>,
    pub counters: OrderCounters,
    pub tick_to_order: LatencyHistogram,
}

impl OrderStage {
    pub fn new(
        accounts: usize,
        instruments: &[InstrumentSpec],
        session: Session,
        clock: quanta::Clock,
        tariffs: ChargeTable,
    ) -> Self {
        OrderStage {
            orders: Vec::with_capacity(1 << 16),
            venue: PaperVenue::new(instruments.len()),
            portfolio: Portfolio::new(accounts, instruments.len()),
            segments: instruments.iter().map(|i| i.segment).collect(),
            tariffs,
            charges: vec![Charges::default(); accounts],
            session,
            next_fill: 1,
            next_expiry: i64::MAX,
            clock,
            scratch: Vec::with_capacity(64),
            counters: OrderCounters::default(),
            tick_to_order: LatencyHistogram::new(),
        }
    }

    pub fn orders(&self) -> &[Order] {
        &self.orders
    }

    pub fn portfolio(&self) -> &Portfolio {
        &self.portfolio
    }

    /// Charges an account has paid so far.
    pub fn charges(&self, account: usize) -> Charges {
        self.charges.get(account).copied().unwrap_or_default()
    }

    pub fn venue(&self) -> &PaperVenue {
        &self.venue
    }

    pub fn order(&self, id: OrderId) -> Option<&Order> {
        self.orders.get((id.0 as usize).wrapping_sub(1))
    }

    #[inline]
    pub fn on_msg(&mut self, msg: &Msg, egress: &mut impl FnMut(EgressEvent), feedback: &mut impl FnMut(Feedback)) {
        match *msg {
            Msg::Tick { tick, .. } => {
                self.expire_until(tick.ts, egress, feedback);
                self.portfolio.mark(tick.instrument.index(), tick.price);
                let mut pending = std::mem::take(&mut self.scratch);
                pending.clear();
                self.venue.on_tick(&tick, |e| pending.push(e));
                for e in pending.iter() {
                    match *e {
                        VenueEvent::Fill { id, price, qty } => self.fill(id, price, qty, tick.ts, egress, feedback),
                        VenueEvent::Triggered { id } => {
                            self.transition(id, OrderStatus::Triggered, tick.ts, egress);
                        }
                    }
                }
                self.scratch = pending;
            }
            Msg::Timer(ts) => self.expire_until(ts, egress, feedback),
            Msg::Approved { intent, ts, ingress_raw } => {
                let latency =
                    if ingress_raw != 0 { self.clock.delta_as_nanos(ingress_raw, self.clock.raw()) } else { 0 };
                if latency != 0 {
                    self.tick_to_order.record(latency);
                }
                self.expire_until(ts, egress, feedback);
                self.place(intent, ts, latency, egress, feedback);
            }
            Msg::Refused { intent, ts, reason } => {
                let id = self.create(intent, ts, OrderStatus::Rejected, Some(reason));
                self.counters.rejected += 1;
                if let Some(o) = self.order(id) {
                    egress(EgressEvent::Order { order: *o, tick_to_order_ns: 0 });
                }
                feedback(closed(&intent, id, intent.qty, CloseReason::Refused));
            }
            Msg::Command(Command::KillSwitch { scope, engaged: true }) => self.cancel_scope(scope, egress, feedback),
            _ => {}
        }
    }

    fn create(
        &mut self,
        intent: OrderIntent,
        ts: Timestamp,
        status: OrderStatus,
        reject: Option<RejectReason>,
    ) -> OrderId {
        let id = OrderId(self.orders.len() as u64 + 1);
        self.orders.push(Order {
            id,
            intent,
            status,
            filled: Qty::ZERO,
            filled_value: 0,
            created: ts,
            updated: ts,
            reject,
            brokerage: Money::ZERO,
        });
        self.counters.orders += 1;
        id
    }

    fn place(
        &mut self,
        intent: OrderIntent,
        ts: Timestamp,
        latency: u64,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        let id = self.create(intent, ts, OrderStatus::Pending, None);
        if let Some(o) = self.order(id) {
            egress(EgressEvent::Order { order: *o, tick_to_order_ns: latency });
        }
        let i = intent.instrument.index();
        match self.venue.place(id, i, intent.side, intent.order_type, intent.qty, intent.price, intent.trigger, ts) {
            Placement::Filled(px) => self.fill(id, px, intent.qty, ts, egress, feedback),
            Placement::Resting => {
                if intent.validity == Validity::Ioc {
                    self.venue.cancel(i, id);
                    self.close(id, OrderStatus::Cancelled, CloseReason::Cancelled, ts, egress, feedback);
                } else {
                    self.transition(id, OrderStatus::Open, ts, egress);
                    let close = self.session.close_on(ts).0;
                    if close < self.next_expiry {
                        self.next_expiry = close;
                    }
                }
            }
            Placement::NoMarket => {
                if let Some(o) = self.orders.get_mut(id.0 as usize - 1) {
                    o.reject = Some(RejectReason::NoMarketPrice);
                }
                self.counters.rejected += 1;
                self.close(id, OrderStatus::Rejected, CloseReason::VenueRejected, ts, egress, feedback);
            }
        }
    }

    /// Applies a life-cycle step if it is legal; counts and refuses it otherwise.
    fn transition(
        &mut self,
        id: OrderId,
        next: OrderStatus,
        ts: Timestamp,
        egress: &mut impl FnMut(EgressEvent),
    ) -> bool {
        let Some(o) = self.orders.get_mut((id.0 as usize).wrapping_sub(1)) else {
            self.counters.illegal_transitions += 1;
            return false;
        };
        if !o.status.can_become(next) {
            self.counters.illegal_transitions += 1;
            return false;
        }
        o.status = next;
        o.updated = ts;
        egress(EgressEvent::Order { order: *o, tick_to_order_ns: 0 });
        true
    }

    fn close(
        &mut self,
        id: OrderId,
        status: OrderStatus,
        why: CloseReason,
        ts: Timestamp,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        if self.transition(id, status, ts, egress) {
            if let Some(o) = self.order(id) {
                let fb = closed(&o.intent, id, o.remaining(), why);
                feedback(fb);
            }
            match status {
                OrderStatus::Cancelled => self.counters.cancelled += 1,
                OrderStatus::Expired => self.counters.expired += 1,
                _ => {}
            }
        }
    }

    fn fill(
        &mut self,
        id: OrderId,
        price: Price,
        qty: Qty,
        ts: Timestamp,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        let Some(o) = self.orders.get_mut((id.0 as usize).wrapping_sub(1)) else { return };
        // A venue can never fill more than remains; clamp defensively and count it.
        let qty = if qty > o.remaining() {
            self.counters.illegal_transitions += 1;
            o.remaining()
        } else {
            qty
        };
        if qty.is_zero() {
            return;
        }
        let next = if o.filled + qty == o.intent.qty { OrderStatus::Filled } else { OrderStatus::PartiallyFilled };
        if !o.status.can_become(next) {
            self.counters.illegal_transitions += 1;
            return;
        }
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
        o.status = next;
        o.updated = ts;
        let order = *o;
        let fill = Fill {
            id: FillId(self.next_fill),
            order: id,
            account: order.intent.account,
            strategy: order.intent.strategy,
            instrument: order.intent.instrument,
            side: order.intent.side,
            qty,
            price,
            ts,
            charges: charges.total(),
        };
        if let Some(c) = self.charges.get_mut(fill.account.index()) {
            c.add(&charges);
        }
        self.next_fill += 1;
        self.counters.fills += 1;
        if let Some(p) = self.portfolio.get_mut(fill.account.index(), fill.instrument.index()) {
            p.apply_fill(fill.side, qty, price);
        }
        egress(EgressEvent::Fill(fill));
        egress(EgressEvent::Order { order, tick_to_order_ns: 0 });
        feedback(Feedback::Filled(fill));
    }

    /// Expires DAY orders still working when their session has closed.
    fn expire_until(
        &mut self,
        now: Timestamp,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        if now.0 < self.next_expiry {
            return;
        }
        let mut next = i64::MAX;
        let mut i = 0;
        while i < self.orders.len() {
            let o = self.orders[i];
            i += 1;
            if o.status.is_terminal() || o.status == OrderStatus::Pending || o.intent.validity != Validity::Day {
                continue;
            }
            let close = self.session.close_on(o.created).0;
            if close <= now.0 {
                self.venue.cancel(o.intent.instrument.index(), o.id);
                self.close(o.id, OrderStatus::Expired, CloseReason::Expired, now, egress, feedback);
            } else if close < next {
                next = close;
            }
        }
        self.next_expiry = next;
    }

    fn cancel_scope(
        &mut self,
        scope: KillScope,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        let mut i = 0;
        while i < self.orders.len() {
            let o = self.orders[i];
            i += 1;
            let in_scope = match scope {
                KillScope::Global => true,
                KillScope::Account(a) => o.intent.account == a,
            };
            if in_scope && !o.status.is_terminal() && self.venue.cancel(o.intent.instrument.index(), o.id) {
                self.close(o.id, OrderStatus::Cancelled, CloseReason::Cancelled, o.updated, egress, feedback);
            }
        }
    }
}

fn closed(intent: &OrderIntent, id: OrderId, unfilled: Qty, reason: CloseReason) -> Feedback {
    Feedback::Closed {
        order: id,
        account: intent.account,
        strategy: intent.strategy,
        instrument: intent.instrument,
        side: intent.side,
        unfilled,
        reason,
    }
}
