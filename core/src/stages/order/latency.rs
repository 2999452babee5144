//! The latency model: in event time, an accepted order reaches the venue `ack_delay` later, and
//! news of a match at the venue reaches us `fill_delay` later, so a backtest does not trade at
//! prices a real round trip could not have had. Both queues stay in due order because the
//! delays are constant and events arrive in time order.

use std::collections::VecDeque;

use super::paper::VenueEvent;
use crate::model::{CloseReason, OrderId, OrderStatus, Qty, Timestamp};

/// News from the venue on its way to us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) enum Delayed {
    Venue(VenueEvent),
    /// The confirmation that a working order stopped working, queued behind its fills.
    Close {
        id: OrderId,
        status: OrderStatus,
        why: CloseReason,
    },
}

/// What is due next, in due order across both directions.
pub(super) enum Due {
    /// An order reaches the venue.
    Submit(Timestamp, OrderId),
    /// Venue news reaches us.
    News(Timestamp, Delayed),
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct LatencyModel {
    ack_delay_ns: i64,
    fill_delay_ns: i64,
    /// Orders on their way to the venue.
    to_venue: VecDeque<(i64, OrderId)>,
    /// Matches (and closes queued behind them) on their way back.
    from_venue: VecDeque<(i64, Delayed)>,
}

impl LatencyModel {
    pub(super) fn new(ack_delay_ns: i64, fill_delay_ns: i64) -> LatencyModel {
        LatencyModel {
            ack_delay_ns,
            fill_delay_ns,
            to_venue: VecDeque::with_capacity(64),
            from_venue: VecDeque::with_capacity(64),
        }
    }

    /// Queues an accepted order for the venue; false when there is no delay (send it now).
    pub(super) fn delay_submit(&mut self, id: OrderId, ts: Timestamp) -> bool {
        if self.ack_delay_ns <= 0 {
            return false;
        }
        self.to_venue.push_back((ts.0.saturating_add(self.ack_delay_ns), id));
        true
    }

    /// Queues a venue fill on its way to us; false when there is no delay (apply it now).
    pub(super) fn delay_fill(&mut self, e: VenueEvent, ts: Timestamp) -> bool {
        if self.fill_delay_ns <= 0 || !matches!(e, VenueEvent::Fill { .. }) {
            return false;
        }
        self.from_venue.push_back((ts.0.saturating_add(self.fill_delay_ns), Delayed::Venue(e)));
        true
    }

    /// Queues the close of an order behind the fills of it still on their way.
    pub(super) fn close_after_fills(&mut self, id: OrderId, status: OrderStatus, why: CloseReason, ts: Timestamp) {
        self.from_venue.push_back((ts.0.saturating_add(self.fill_delay_ns), Delayed::Close { id, status, why }));
    }

    /// True while the order is on its way to the venue.
    pub(super) fn submitting(&self, id: OrderId) -> bool {
        self.to_venue.iter().any(|x| x.1 == id)
    }

    /// Takes the order off its way to the venue.
    pub(super) fn withdraw(&mut self, id: OrderId) {
        self.to_venue.retain(|x| x.1 != id);
    }

    /// True when the order stopped working and its close waits behind fills in flight.
    pub(super) fn closing(&self, id: OrderId) -> bool {
        !self.from_venue.is_empty()
            && self.from_venue.iter().any(|(_, d)| matches!(d, Delayed::Close { id: x, .. } if *x == id))
    }

    /// Quantity of the order that traded at the venue and has not reached us yet.
    pub(super) fn matched_in_flight(&self, id: OrderId) -> Qty {
        let mut q = Qty::ZERO;
        for (_, d) in &self.from_venue {
            if let Delayed::Venue(VenueEvent::Fill { id: x, qty, .. }) = d {
                if *x == id {
                    q += *qty;
                }
            }
        }
        q
    }

    /// Whether anything is due by `ts`: the common case on a tick is nothing in flight, and
    /// this answers it without the call and the two-queue comparison of [`Self::next_due`].
    #[inline]
    pub(super) fn any_due(&self, ts: Timestamp) -> bool {
        self.from_venue.front().is_some_and(|x| x.0 <= ts.0) || self.to_venue.front().is_some_and(|x| x.0 <= ts.0)
    }

    /// The earliest thing due by `ts`, if any: news before a submission due at the same time
    /// (a submission can cause a fill that is itself due by `ts`, so the caller loops).
    pub(super) fn next_due(&mut self, ts: Timestamp) -> Option<Due> {
        let news = self.from_venue.front().map(|x| x.0).filter(|d| *d <= ts.0);
        let order = self.to_venue.front().map(|x| x.0).filter(|d| *d <= ts.0);
        match (news, order) {
            (Some(f), o) if o.is_none_or(|o| f <= o) => {
                self.from_venue.pop_front().map(|(due, d)| Due::News(Timestamp(due), d))
            }
            (_, Some(_)) => self.to_venue.pop_front().map(|(due, id)| Due::Submit(Timestamp(due), id)),
            _ => None,
        }
    }
}
