//! Orders of live accounts. The order stage turns a live order's placement, modification and
//! cancellation into [`VenueRequest`]s on the egress path, for the venue's gateway, and applies
//! what the venue reports back — acknowledgement with its own id, refusal with its reason,
//! fills, cancellations (asked for or not), modifications, expiry — as each [`VenueReport`]
//! arrives through the ingress ring. A report is matched to our order by our id when the venue
//! echoes it, or by the venue's id once acknowledged; reports for unknown orders, duplicates
//! (a fill whose trade id was seen) and reports that come too late for the order's state are
//! counted, shown as notices, and change nothing.

use std::collections::VecDeque;

use super::OrderStage;
use crate::model::{
    AccountId, CloseReason, EgressEvent, Feedback, Order, OrderId, OrderStatus, OrderType, Qty, RejectReason,
    ReportKind, RequestKind, Route, VenueId, VenueOrderId, VenueReport, VenueRequest, VenueTradeId,
};
use crate::stages::{Map, Set};

/// Trade ids remembered per stage to recognise a fill reported twice.
const TRADES_KEPT: usize = 1 << 16;

/// What the order stage keeps about live venues.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(super) struct LiveOrders {
    /// Per account, where its orders go.
    routes: Vec<Route>,
    /// Acknowledged working orders by the venue's id.
    by_venue_id: Map<(VenueId, VenueOrderId), OrderId>,
    /// Recent trade ids, to drop a fill reported twice; oldest first in `trade_order`.
    trades: Set<(VenueId, VenueTradeId)>,
    trade_order: VecDeque<(VenueId, VenueTradeId)>,
}

/// Counters of the live venue path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VenueCounters {
    pub requests: u64,
    pub reports: u64,
    /// Reports matching no order of ours (or another venue's or account's).
    pub unknown: u64,
    /// Reports already applied (a second acknowledgement, a fill whose trade id was seen).
    pub duplicate: u64,
    /// Reports the order's state no longer allows (a fill or cancel of a finished order).
    pub out_of_order: u64,
}

impl LiveOrders {
    pub(super) fn new(routes: Vec<Route>) -> LiveOrders {
        LiveOrders { routes, ..LiveOrders::default() }
    }

    pub(super) fn route(&self, account: AccountId) -> Route {
        self.routes.get(account.index()).copied().unwrap_or_default()
    }

    /// The venue of an account's orders, if it is live.
    pub(super) fn venue(&self, account: AccountId) -> Option<VenueId> {
        match self.route(account) {
            Route::Live(v) => Some(v),
            Route::Paper => None,
        }
    }

    /// Forgets a finished order's venue id (it is then found among the finished ones).
    pub(super) fn forget(&mut self, account: AccountId, venue_order: VenueOrderId) {
        if let Some(v) = self.venue(account) {
            self.by_venue_id.remove(&(v, venue_order));
        }
    }

    /// Remembers a trade id; false when it was seen already.
    fn remember(&mut self, venue: VenueId, trade: VenueTradeId) -> bool {
        if trade.is_empty() {
            return true;
        }
        if !self.trades.insert((venue, trade)) {
            return false;
        }
        self.trade_order.push_back((venue, trade));
        if self.trade_order.len() > TRADES_KEPT {
            if let Some(old) = self.trade_order.pop_front() {
                self.trades.remove(&old);
            }
        }
        true
    }
}

impl OrderStage {
    /// Sends a request to `venue`'s gateway.
    pub(super) fn request(&mut self, venue: VenueId, kind: RequestKind, egress: &mut impl FnMut(EgressEvent)) {
        self.counters.venue.requests += 1;
        egress(EgressEvent::VenueRequest(VenueRequest { venue, kind }));
    }

    /// Asks the venue to modify a live order, after the checks the venue cannot be trusted to
    /// make for us; the order changes when the venue reports that it did.
    pub(super) fn request_modify(
        &mut self,
        venue: VenueId,
        o: &Order,
        (qty, price, trigger): (Qty, crate::model::Price, crate::model::Price),
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        let new_qty = if qty.is_zero() { o.intent.qty } else { qty };
        if new_qty <= o.filled || o.intent.order_type == OrderType::Market {
            self.refuse(o.intent.account, o.id, RejectReason::NotModifiable, feedback);
            return;
        }
        let kind = RequestKind::Modify { order: o.id, venue_order: o.venue_order, qty, price, trigger };
        self.request(venue, kind, egress);
    }

    /// Counts a report about an order that has already finished: a fill already booked, or
    /// an acknowledgement, is a duplicate; anything else (a new fill, a cancel) came out of
    /// order. Neither changes the order.
    fn count_late(&mut self, r: &VenueReport) {
        match r.kind {
            ReportKind::Fill { trade, .. } if !self.live.remember(r.venue, trade) => self.counters.venue.duplicate += 1,
            ReportKind::Accepted => self.counters.venue.duplicate += 1,
            _ => self.counters.venue.out_of_order += 1,
        }
    }

    /// Whether a report is about a recently finished order of that account at that venue.
    fn finished_at(&self, r: &VenueReport) -> bool {
        let (id, owner) = if r.order.0 != 0 {
            match self.working.finished_owner(r.order) {
                Some(owner) => (r.order, owner),
                None => return false,
            }
        } else {
            match self.working.finished_by_venue_id(&r.venue_order) {
                Some(found) => found,
                None => return false,
            }
        };
        id.0 != 0 && owner == r.account && self.live.venue(owner) == Some(r.venue)
    }

    /// The order a report is about, if it is one of ours at that venue for that account.
    fn match_report(&self, r: &VenueReport) -> Option<OrderId> {
        let id = if r.order.0 != 0 { r.order } else { *self.live.by_venue_id.get(&(r.venue, r.venue_order))? };
        let o = self.order(id)?;
        let ours = o.intent.account == r.account && self.live.venue(o.intent.account) == Some(r.venue);
        ours.then_some(id)
    }

    /// Applies one venue report.
    pub(super) fn on_report(
        &mut self,
        r: VenueReport,
        egress: &mut impl FnMut(EgressEvent),
        feedback: &mut impl FnMut(Feedback),
    ) {
        self.counters.venue.reports += 1;
        let Some(o) = self.match_report(&r).and_then(|id| self.order(id).copied()) else {
            if self.finished_at(&r) {
                // About an order that has finished (and left the working set): late news.
                self.count_late(&r);
                return;
            }
            self.counters.venue.unknown += 1;
            egress(EgressEvent::VenueNotice(r));
            return;
        };
        let ts = r.ts.max(o.updated);
        if o.status.is_terminal() {
            self.count_late(&r);
            return;
        }
        if !r.venue_order.is_empty() && o.venue_order.is_empty() {
            self.live.by_venue_id.insert((r.venue, r.venue_order), o.id);
            if let Some(m) = self.order_mut(o.id) {
                m.venue_order = r.venue_order;
            }
        }
        match r.kind {
            ReportKind::Accepted => {
                if o.status == OrderStatus::Pending {
                    self.transition(o.id, OrderStatus::Open, ts, egress);
                } else {
                    self.counters.venue.duplicate += 1;
                }
            }
            ReportKind::Rejected { .. } => {
                if let Some(m) = self.order_mut(o.id) {
                    m.reject = Some(RejectReason::VenueRejected);
                }
                self.counters.rejected += 1;
                egress(EgressEvent::VenueNotice(r));
                self.close(o.id, OrderStatus::Rejected, CloseReason::VenueRejected, ts, egress, feedback);
            }
            ReportKind::Fill { trade, price, qty } => {
                if self.live.remember(r.venue, trade) {
                    self.fill(o.id, price, qty, ts, egress, feedback);
                } else {
                    self.counters.venue.duplicate += 1;
                }
            }
            ReportKind::Cancelled { reason } => {
                if !reason.is_empty() {
                    egress(EgressEvent::VenueNotice(r));
                }
                self.close(o.id, OrderStatus::Cancelled, CloseReason::Cancelled, ts, egress, feedback);
            }
            ReportKind::Expired => self.close(o.id, OrderStatus::Expired, CloseReason::Expired, ts, egress, feedback),
            ReportKind::Triggered => {
                if !self.transition(o.id, OrderStatus::Triggered, ts, egress) {
                    self.counters.venue.out_of_order += 1;
                }
            }
            ReportKind::Modified { qty, price, trigger } => {
                let mut next = o.intent;
                if !qty.is_zero() {
                    next.qty = qty.max(o.filled);
                }
                if price.is_positive() {
                    next.price = price;
                }
                if trigger.is_positive() {
                    next.trigger = trigger;
                }
                self.apply_modify(&o, next, ts, egress, feedback);
            }
        }
    }
}
