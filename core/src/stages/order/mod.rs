//! The order stage: gives every intent an id, runs the order life cycle (this module), sends
//! orders to the paper venue ([`paper`]) through the latency model (`latency`), books fills
//! into the portfolio with their charges (`booking`), and publishes every change on the
//! egress path. It is the single writer of orders, fills and positions.
//!
//! After-market orders wait for the next session open (their instrument's first trade in it).
//!
//! Fills on their way back are real trades: an order cancelled, swept by a kill switch or
//! expired while some of its fills are still in flight stops working at the venue at once,
//! but is closed only after those fills, so they are booked and the order's unfilled quantity
//! is right. An order whose whole quantity has traded cannot be cancelled any more.

mod booking;
mod latency;
mod live;
pub mod paper;
mod working;

use live::LiveOrders;
pub use live::VenueCounters;

use booking::Booking;
use latency::{Delayed, Due, LatencyModel};
use paper::{PaperVenue, Placement, VenueConfig, VenueEvent};
use working::WorkingOrders;

use crate::metrics::LatencyHistogram;
use crate::model::{
    AccountId, InstrumentSpec, Money, Order, OrderId, OrderIntent, OrderStatus, OrderType, Price, Product, Qty,
    RejectReason, RequestKind, Route, Session, StrategyId, Timestamp, Validity, VenueOrderId,
};
use crate::model::{Cause, CloseReason, Command, EgressEvent, Feedback, KillScope, Msg, Tick};
use crate::stages::charges::{ChargeTable, Charges};
use crate::stages::portfolio::Portfolio;

/// Counters the stage keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderCounters {
    /// Orders created (approved or refused).
    pub orders: u64,
    pub rejected: u64,
    pub fills: u64,
    pub cancelled: u64,
    pub expired: u64,
    pub modified: u64,
    /// Cancels and modifies refused (unknown order, another account's, no longer working).
    pub commands_refused: u64,
    /// Transitions the life cycle forbids; refused, never applied.
    pub illegal_transitions: u64,
    /// Requests to and reports from live venues.
    pub venue: VenueCounters,
}

/// Paper-trading behaviour of the order stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PaperConfig {
    pub venue: VenueConfig,
    /// Event-time delay from accepting an order to its arrival at the venue, ns.
    pub ack_delay_ns: i64,
    /// Event-time delay from a match at the venue to the fill reaching us, ns.
    pub fill_delay_ns: i64,
}

/// What an order stage is built from, besides the instruments and the clock.
#[derive(Clone, Debug)]
pub struct OrderSetup {
    pub accounts: usize,
    pub session: Session,
    pub tariffs: ChargeTable,
    pub paper: PaperConfig,
    /// Per account, where its orders go.
    pub routes: Vec<Route>,
    /// Orders that may work at once; a new one beyond is refused (`WorkingOrdersFull`).
    pub max_working: usize,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct OrderStage {
    /// The working orders; finished ones have left on the egress path.
    working: WorkingOrders,
    venue: PaperVenue,
    /// Live accounts' routes and their venues' ids.
    live: LiveOrders,
    latency: LatencyModel,
    booking: Booking,
    session: Session,
    /// Earliest session close among working DAY orders.
    next_expiry: i64,
    /// After-market orders waiting for the next open.
    amo: Vec<OrderId>,
    /// Journaled route only: feedback this stage has sent and not yet seen come back down the
    /// pipeline, oldest first. A snapshot holds it, so feedback in flight when a run stopped
    /// or crashed is sent again on restart instead of being lost.
    unreturned: std::collections::VecDeque<Feedback>,
    now: Timestamp,
    #[serde(skip)]
    clock: quanta::Clock,
    /// Reused for the venue events of one tick, so matching does not allocate.
    #[serde(skip)]
    scratch: Vec<VenueEvent>,
    /// Reused for the ids a sweep (kill switch, expiry) walks.
    #[serde(skip)]
    sweep: Vec<OrderId>,
    pub counters: OrderCounters,
    /// Measurements of this process, not state: a restored stage starts an empty one.
    #[serde(skip)]
    pub tick_to_order: LatencyHistogram,
    /// Orders caused by a bar a timer closed: timer published → order created.
    #[serde(skip)]
    pub timer_to_order: LatencyHistogram,
}

impl OrderStage {
    pub fn new(instruments: &[InstrumentSpec], clock: quanta::Clock, setup: OrderSetup) -> Self {
        let OrderSetup { accounts, session, tariffs, paper, routes, max_working } = setup;
        OrderStage {
            working: WorkingOrders::new(accounts, max_working),
            venue: PaperVenue::new(instruments, paper.venue),
            live: LiveOrders::new(routes),
            latency: LatencyModel::new(paper.ack_delay_ns, paper.fill_delay_ns),
            booking: Booking::new(accounts, instruments, tariffs),
            session,
            next_expiry: i64::MAX,
            amo: Vec::new(),
            unreturned: std::collections::VecDeque::with_capacity(64),
            now: Timestamp(i64::MIN),
            clock,
            scratch: Vec::with_capacity(64),
            sweep: Vec::with_capacity(max_working.min(1 << 16)),
            counters: OrderCounters::default(),
            tick_to_order: LatencyHistogram::new(),
            timer_to_order: LatencyHistogram::new(),
        }
    }

    /// The clock a restored stage measures latency with (the running engine's).
    pub fn set_clock(&mut self, clock: quanta::Clock) {
        self.clock = clock;
    }

    /// Journaled route: `f` has been sent back towards the head of the pipeline.
    #[inline]
    pub fn feedback_sent(&mut self, f: Feedback) {
        self.unreturned.push_back(f);
    }

    /// Feedback sent and not yet back down the pipeline, oldest first: what a restarted run
    /// must send again.
    pub fn unreturned_feedback(&self) -> impl Iterator<Item = &Feedback> {
        self.unreturned.iter()
    }

    /// Orders working now.
    pub fn working_count(&self) -> usize {
        self.working.len()
    }

    pub fn portfolio(&self) -> &Portfolio {
        self.booking.portfolio()
    }

    /// See [`Portfolio::set_mark_every`].
    pub fn set_mark_every(&mut self, on: bool) {
        self.booking.portfolio_mut().set_mark_every(on);
    }

    /// Charges an account has paid so far.
    pub fn charges(&self, account: usize) -> Charges {
        self.booking.charges(account)
    }

    pub fn venue(&self) -> &PaperVenue {
        &self.venue
    }

    /// A working order (a finished one has left on the egress path).
    pub fn order(&self, id: OrderId) -> Option<&Order> {
        self.working.get(id)
    }

    fn order_mut(&mut self, id: OrderId) -> Option<&mut Order> {
        self.working.get_mut(id)
    }

    /// A trade: the clock, marking, the paper venue's resting orders, after-market orders
    /// released at the first trade of the session.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick, egress: &mut impl FnMut(EgressEvent), feedback: &mut impl FnMut(Feedback)) {
        self.advance(tick.ts, egress, feedback);
        self.booking.mark(tick.instrument.index(), tick.price);
        let scratch = &mut self.scratch;
        self.venue.on_tick(tick, |e| scratch.push(e));
        if !self.scratch.is_empty() {
            let mut pending = std::mem::take(&mut self.scratch);
            for e in pending.iter() {
                self.match_event(*e, tick.ts, egress, feedback);
            }
            pending.clear();
            self.scratch = pending;
        }
        if !self.amo.is_empty() {
            self.release_amo(tick, egress, feedback);
        }
    }

    #[inline]
    pub fn on_msg(&mut self, msg: &Msg, egress: &mut impl FnMut(EgressEvent), feedback: &mut impl FnMut(Feedback)) {
        match *msg {
            Msg::Tick { tick, .. } => self.on_tick(&tick, egress, feedback),
            Msg::Quote(q) => self.venue.on_quote(q.instrument.index(), q.bid, q.ask),
            Msg::Candle { candle, .. } => egress(EgressEvent::Candle(candle)),
            Msg::Timer(ts) => self.advance(ts, egress, feedback),
            Msg::Approved { intent, ts, stamp } => {
                let latency = if stamp.raw != 0 { self.clock.delta_as_nanos(stamp.raw, self.clock.raw()) } else { 0 };
                // Only an order a tick caused counts as tick to order; one from a bar a timer
                // closed has its own histogram.
                let tick_latency = match stamp.cause {
                    Cause::Tick if latency != 0 => {
                        self.tick_to_order.record(latency);
                        latency
                    }
                    Cause::Timer if latency != 0 => {
                        self.timer_to_order.record(latency);
                        0
                    }
                    _ => 0,
                };
                self.advance(ts, egress, feedback);
                self.accept(intent, ts, tick_latency, egress, feedback);
            }
            Msg::Refused { intent, ts, reason } => self.refused(intent, ts, reason, egress, feedback),
            Msg::Command(cmd) => self.on_command(cmd, egress, feedback),
            Msg::VenueReport(r) => self.on_report(r, egress, feedback),
            // Its own feedback, back from the head of the pipeline. (Risk also passes on
            // refusals of its own, which this stage never sent: they match nothing here.)
            Msg::Feedback(f) if self.unreturned.front() == Some(&f) => {
                self.unreturned.pop_front();
            }
            _ => {}
        }
    }

    fn on_command(&mut self, cmd: Command, egress: &mut impl FnMut(EgressEvent), feedback: &mut impl FnMut(Feedback)) {
        let ts = self.now;
        match cmd {
            Command::KillSwitch { scope, engaged: true } => self.cancel_where(scope, None, ts, egress, feedback),
            Command::CancelWorking { scope, product } => self.cancel_where(scope, product, ts, egress, feedback),
            Command::Cancel { account, order } => match self.owned_working(account, order) {
                Ok(o) if self.live.venue(account).is_some() => {
                    if let Some(v) = self.live.venue(account) {
                        self.request(v, RequestKind::Cancel { order, venue_order: o.venue_order }, egress);
                    }
                }
                Ok(o) => {
                    // Not working any more: it traded in full and the fill is on its way.
                    if !self.withdraw(&o, OrderStatus::Cancelled, CloseReason::Cancelled, ts, egress, feedback) {
                        self.refuse(account, order, RejectReason::NotModifiable, feedback);
                    }
                }
                Err(reason) => self.refuse(account, order, reason, feedback),
            },
            Command::Modify { account, order, qty, price, trigger } => match self.owned_working(account, order) {
                Ok(o) => match self.live.venue(account) {
                    Some(v) => self.request_modify(v, &o, (qty, price, trigger), egress, feedback),
                    None => self.modify(o, qty, price, trigger, ts, egress, feedback),
                },
                Err(reason) => self.refuse(account, order, reason, feedback),
            },
            Command::Adopt(a) => match self.booking.adopt(&a, ts) {
                Some(fill) => {
                    self.counters.fills += 1;
                    egress(EgressEvent::Fill(fill));
                    feedback(Feedback::Adopted { fill });
                }
                None => self.refuse(a.account, OrderId(0), RejectReason::UnknownAccount, feedback),
            },
            Command::KillSwitch { .. }
            | Command::SetLimits { .. }
            | Command::Place { .. }
            | Command::StrategyEnabled { .. }
            | Command::SetStrategyParams { .. } => {}
        }
    }

    fn refuse(
        &mut self,
        account: AccountId,
        order: OrderId,
        reason: RejectReason,
        feedback: &mut impl FnMut(Feedback),
    ) {
        self.counters.commands_refused += 1;
        feedback(Feedback::CommandRefused { account, order, reason });
    }

    /// The order if it is the account's and still working; another account's order is
    /// reported exactly like a missing one.
    fn owned_working(&self, account: AccountId, order: OrderId) -> Result<Order, RejectReason> {
        match self.order(order) {
            Some(o) if o.intent.account == account && !self.closing(order) => Ok(*o),
            Some(o) if o.intent.account == account => Err(RejectReason::NotModifiable),
            None if self.working.finished_owner(order) == Some(account) => Err(RejectReason::NotModifiable),
            _ => Err(RejectReason::UnknownOrder),
        }
    }

    /// True when the order stopped working and its close waits behind fills in flight.
    fn closing(&self, id: OrderId) -> bool {
        self.latency.closing(id)
    }

    /// Takes a working order off the venue (or out of the queues) and closes it: at once, or
    /// after the fills it traded that are still on their way. False when it is not working at
    /// the venue or in a queue (it traded in full and the fill is in flight): nothing changes.
    fn withdraw(
        &mut self,
        o: &Order,
        status: OrderStatus,
        why: CloseReason,
        ts: Timestamp,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) -> bool {
        let id = o.id;
        let resting = self.venue.cancel(o.intent.instrument.index(), id);
        let queued = self.amo.contains(&id) || self.latency.submitting(id);
        if !resting && !queued {
            return false;
        }
        self.amo.retain(|x| *x != id);
        self.latency.withdraw(id);
        if self.latency.matched_in_flight(id).is_zero() {
            self.close(id, status, why, ts, egress, feedback);
        } else {
            self.latency.close_after_fills(id, status, why, ts);
        }
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn modify(
        &mut self,
        o: Order,
        qty: Qty,
        price: Price,
        trigger: Price,
        ts: Timestamp,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        let mut next = o.intent;
        if !qty.is_zero() {
            next.qty = qty;
        }
        if price.is_positive() {
            next.price = price;
        }
        if trigger.is_positive() {
            next.trigger = trigger;
        }
        // What traded at the venue but has not reached us yet is not the venue's to fill again.
        let matched = o.filled + self.latency.matched_in_flight(o.id);
        if next.qty <= matched || o.intent.order_type == OrderType::Market {
            self.refuse(o.intent.account, o.id, RejectReason::NotModifiable, feedback);
            return;
        }
        let at_venue = next.qty - matched;
        let i = o.intent.instrument.index();
        let placement = self.venue.modify(i, o.id, at_venue, next.price, next.trigger);
        let queued = self.amo.contains(&o.id) || self.latency.submitting(o.id);
        if placement.is_none() && !queued {
            self.refuse(o.intent.account, o.id, RejectReason::NotModifiable, feedback);
            return;
        }
        self.apply_modify(&o, next, ts, egress, feedback);
        if let Some(Placement::Filled(px)) = placement {
            self.match_event(VenueEvent::Fill { id: o.id, price: px, qty: at_venue }, ts, egress, feedback);
        }
    }

    /// Makes `next` the order's intent (its venue has taken the change), publishes it and tells
    /// the stages upstream how its remaining quantity moved.
    fn apply_modify(
        &mut self,
        o: &Order,
        next: OrderIntent,
        ts: Timestamp,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        let (old_remaining, new_remaining) = (o.remaining(), next.qty - o.filled);
        if let Some(m) = self.order_mut(o.id) {
            m.intent = next;
            m.updated = ts;
            let snapshot = *m;
            egress(EgressEvent::Order { order: snapshot, tick_to_order_ns: 0 });
        }
        self.counters.modified += 1;
        feedback(Feedback::Modified { order: o.id, intent: next, old_remaining, new_remaining });
    }

    /// A new order with the next id (not yet held anywhere).
    fn new_order(&mut self, intent: OrderIntent, ts: Timestamp, status: OrderStatus) -> Order {
        self.counters.orders += 1;
        Order {
            id: self.working.take_id(),
            intent,
            status,
            filled: Qty::ZERO,
            filled_value: 0,
            created: ts,
            updated: ts,
            reject: None,
            brokerage: Money::ZERO,
            venue_order: VenueOrderId::EMPTY,
        }
    }

    /// An intent refused before it could work (by risk, or because the slab is full): it gets
    /// an id and is published, and never held.
    fn refused(
        &mut self,
        intent: OrderIntent,
        ts: Timestamp,
        reason: RejectReason,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        let mut order = self.new_order(intent, ts, OrderStatus::Rejected);
        order.reject = Some(reason);
        self.counters.rejected += 1;
        egress(EgressEvent::Order { order, tick_to_order_ns: 0 });
        feedback(closed(&intent, order.id, intent.qty, CloseReason::Refused));
    }

    fn accept(
        &mut self,
        intent: OrderIntent,
        ts: Timestamp,
        latency: u64,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        if self.working.is_full() {
            self.refused(intent, ts, RejectReason::WorkingOrdersFull, egress, feedback);
            return;
        }
        let order = self.new_order(intent, ts, OrderStatus::Pending);
        let id = order.id;
        self.working.insert(order);
        egress(EgressEvent::Order { order, tick_to_order_ns: latency });
        feedback(Feedback::Accepted { order: id, intent });
        if let Some(v) = self.live.venue(intent.account) {
            // A live venue takes it from here (after-market orders too: the venue queues them).
            if let Some(o) = self.order(id).copied() {
                let reference = self.venue.last_price(intent.instrument.index());
                self.request(v, RequestKind::New { order: o, reference }, egress);
            }
            return;
        }
        if intent.amo && !self.session.contains(ts) {
            self.amo.push(id);
        } else if !self.latency.delay_submit(id, ts) {
            self.submit(id, ts, egress, feedback);
        }
    }

    /// The order reaches the venue.
    fn submit(
        &mut self,
        id: OrderId,
        ts: Timestamp,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        let Some(o) = self.order(id).copied() else { return };
        if o.status != OrderStatus::Pending {
            return;
        }
        let intent = o.intent;
        let i = intent.instrument.index();
        let remaining = o.remaining();
        match self.venue.place(id, i, intent.side, intent.order_type, remaining, intent.price, intent.trigger, ts) {
            Placement::Filled(px) => {
                self.match_event(VenueEvent::Fill { id, price: px, qty: remaining }, ts, egress, feedback)
            }
            Placement::Resting => {
                if intent.validity == Validity::Ioc {
                    self.venue.cancel(i, id);
                    self.close(id, OrderStatus::Cancelled, CloseReason::Cancelled, ts, egress, feedback);
                } else {
                    self.transition(id, OrderStatus::Open, ts, egress);
                    let close = self.session.close_on(ts).0;
                    self.working.set_expiry(id, close);
                    if close < self.next_expiry {
                        self.next_expiry = close;
                    }
                }
            }
            Placement::NoMarket => {
                if let Some(o) = self.order_mut(id) {
                    o.reject = Some(RejectReason::NoMarketPrice);
                }
                self.counters.rejected += 1;
                self.close(id, OrderStatus::Rejected, CloseReason::VenueRejected, ts, egress, feedback);
            }
        }
    }

    /// A venue event now or, with a fill delay, when the news would reach us.
    fn match_event(
        &mut self,
        e: VenueEvent,
        ts: Timestamp,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        if !self.latency.delay_fill(e, ts) {
            self.venue_event(e, ts, egress, feedback);
        }
    }

    /// An execution report from a venue other than the in-line paper one (a broker gateway's
    /// fill or trigger), applied like the paper venue's own: a step the life cycle does not
    /// allow, a fill of an unknown order or one beyond the order's quantity is refused (or cut
    /// to what remains) and counted in `illegal_transitions`.
    pub fn on_venue_event(
        &mut self,
        e: VenueEvent,
        ts: Timestamp,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        self.venue_event(e, ts, egress, feedback);
        let id = match e {
            VenueEvent::Fill { id, .. } | VenueEvent::Triggered { id } => id,
        };
        if let Some(o) = self.order(id).copied() {
            if o.status.is_terminal() {
                // The paper venue must not keep working what another venue says is done.
                self.venue.cancel(o.intent.instrument.index(), id);
            }
        }
    }

    fn venue_event(
        &mut self,
        e: VenueEvent,
        ts: Timestamp,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        match e {
            VenueEvent::Fill { id, price, qty } => self.fill(id, price, qty, ts, egress, feedback),
            VenueEvent::Triggered { id } => {
                self.transition(id, OrderStatus::Triggered, ts, egress);
            }
        }
    }

    /// Moves the stage's clock to `ts`: delivers delayed fills and submissions that are due, in
    /// due order across both queues (a submission can cause a fill that is itself due by `ts`),
    /// and expires DAY orders after the close.
    #[inline]
    fn advance(&mut self, ts: Timestamp, egress: &mut impl FnMut(EgressEvent), feedback: &mut impl FnMut(Feedback)) {
        if ts > self.now {
            self.now = ts;
        }
        // Most events find nothing due and no expiry: two tests in line, the work out of line.
        if self.latency.any_due(ts) || ts.0 >= self.next_expiry {
            self.advance_due(ts, egress, feedback);
        }
    }

    #[inline(never)]
    fn advance_due(
        &mut self,
        ts: Timestamp,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        if self.latency.any_due(ts) {
            while let Some(due) = self.latency.next_due(ts) {
                match due {
                    Due::News(at, Delayed::Venue(e)) => self.venue_event(e, at, egress, feedback),
                    Due::News(at, Delayed::Close { id, status, why }) => {
                        self.close(id, status, why, at, egress, feedback)
                    }
                    Due::Submit(at, id) => self.submit(id, at, egress, feedback),
                }
            }
        }
        if ts.0 >= self.next_expiry {
            self.expire_until(ts, egress, feedback);
        }
    }

    /// Sends an instrument's after-market orders to the venue at its first trade in the
    /// session, after that print: they trade at (or against) the opening price, never at the
    /// previous session's last, which a timer or another instrument's trade at the open would
    /// otherwise give them.
    fn release_amo(&mut self, tick: &Tick, egress: &mut impl FnMut(EgressEvent), feedback: &mut impl FnMut(Feedback)) {
        if self.amo.is_empty() || !self.session.contains(tick.ts) {
            return;
        }
        let mut waiting = std::mem::take(&mut self.amo);
        waiting.retain(|id| {
            let here = self.order(*id).is_some_and(|o| o.intent.instrument == tick.instrument);
            if here {
                self.submit(*id, tick.ts, egress, feedback);
            }
            !here
        });
        self.amo = waiting;
    }

    /// Applies a life-cycle step if it is legal; counts and refuses it otherwise.
    fn transition(
        &mut self,
        id: OrderId,
        next: OrderStatus,
        ts: Timestamp,
        egress: &mut impl FnMut(EgressEvent),
    ) -> bool {
        let Some(o) = self.working.get_mut(id) else {
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
            if status.is_terminal() {
                self.retire(id);
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
        let Some(o) = self.working.get_mut(id) else {
            self.counters.illegal_transitions += 1;
            return;
        };
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
        o.status = next;
        o.updated = ts;
        let fill = self.booking.book(o, price, qty, ts);
        let order = *o;
        self.counters.fills += 1;
        egress(EgressEvent::Fill(fill));
        egress(EgressEvent::Order { order, tick_to_order_ns: 0 });
        feedback(Feedback::Filled { fill, done: next == OrderStatus::Filled });
        if next == OrderStatus::Filled {
            self.retire(id);
        }
    }

    /// A finished order leaves the working set (it has gone out on egress already), and the
    /// paper venue and the queues forget it.
    fn retire(&mut self, id: OrderId) {
        if let Some(o) = self.working.get(id).copied() {
            if !o.venue_order.is_empty() {
                self.live.forget(o.intent.account, o.venue_order);
            }
        }
        self.working.remove(id);
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
        let mut sweep = std::mem::take(&mut self.sweep);
        sweep.clear();
        sweep.extend_from_slice(self.working.ids(None));
        for &id in &sweep {
            let Some(o) = self.order(id).copied() else { continue };
            if o.status == OrderStatus::Pending || o.intent.validity != Validity::Day {
                continue;
            }
            // The close of the day it reached the venue, not of the day it was created: an
            // after-market order created last evening works all of today.
            let close = self.working.expiry(id);
            if close <= now.0 {
                if !self.closing(o.id) {
                    self.withdraw(&o, OrderStatus::Expired, CloseReason::Expired, now, egress, feedback);
                }
            } else if close < next {
                next = close;
            }
        }
        self.sweep = sweep;
        self.next_expiry = next;
    }

    /// Cancels every working order of the scope (and product, if given), except the engine's
    /// own square-off orders ([`StrategyId::SYSTEM`]): they reduce the risk the sweep is about,
    /// and risk sends them right after the kill switch or cancel that would otherwise take them.
    fn cancel_where(
        &mut self,
        scope: KillScope,
        product: Option<Product>,
        ts: Timestamp,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        let account = match scope {
            KillScope::Global => None,
            KillScope::Account(a) => Some(a),
        };
        let mut sweep = std::mem::take(&mut self.sweep);
        sweep.clear();
        sweep.extend_from_slice(self.working.ids(account));
        for &id in &sweep {
            let Some(o) = self.order(id).copied() else { continue };
            if o.intent.strategy == StrategyId::SYSTEM
                || product.is_some_and(|p| p != o.intent.product)
                || self.closing(o.id)
            {
                continue;
            }
            match self.live.venue(o.intent.account) {
                // A live order is cancelled when its venue says it is.
                Some(v) => self.request(v, RequestKind::Cancel { order: o.id, venue_order: o.venue_order }, egress),
                None => {
                    self.withdraw(&o, OrderStatus::Cancelled, CloseReason::Cancelled, ts, egress, feedback);
                }
            }
        }
        self.sweep = sweep;
    }
}

fn closed(intent: &OrderIntent, id: OrderId, unfilled: Qty, reason: CloseReason) -> Feedback {
    Feedback::Closed {
        order: id,
        account: intent.account,
        strategy: intent.strategy,
        instrument: intent.instrument,
        product: intent.product,
        side: intent.side,
        unfilled,
        reason,
    }
}
