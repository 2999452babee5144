//! Live orders through broker logins, off the hot path.
//!
//! The engine emits a [`VenueRequest`] for every new, modified or cancelled order of a live
//! account. [`BrokerTap`] sits on the engine thread as its egress tap: it hands each request
//! to its login's gateway thread through a bounded queue (the one place allowed to make the
//! engine wait, when a broker is that far behind) and, once per turn of the engine loop,
//! publishes what the gateways report into the ingress ring as [`VenueReport`]s, where they
//! are sequenced and journaled like ticks. A gateway thread speaks its broker's REST API
//! under the broker's rate limit, maps every refusal to a reason code and the broker's own
//! text, and follows its orders' fills and cancellations in the broker's order book.

pub mod angel;
pub mod broker;
pub mod kite;
pub mod rate;
pub mod reconcile;
pub mod session;
pub mod upstox;

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use dalal_core::engine::placement::{EgressTap, IngressPublisher};
use dalal_core::model::{
    EgressEvent, IngressEvent, Input, Order, OrderId, Price, ReasonText, RejectReason, ReportKind, RequestKind,
    Timestamp, VenueId, VenueReport, VenueRequest,
};

use crate::error_kind::BrokerErrorKind;
pub use session::{Session, SessionHealth, SessionStatus, WallClock};

/// Reason codes of refusals, in [`ReportKind::Rejected`]: a broker error's kind, or the
/// gateway's own reason for not sending at all. Stable numbers: operators filter on them.
pub mod code {
    use super::BrokerErrorKind;

    /// The session expired (or was never logged in): the order was not sent.
    pub const SESSION_EXPIRED_NOT_SENT: u16 = 100;
    /// The broker has no symbol for the instrument (not in the instrument master).
    pub const NO_BROKER_SYMBOL: u16 = 101;
    /// A place whose answer was lost, and the order is not in the broker's book.
    pub const OUTCOME_UNKNOWN_NOT_FOUND: u16 = 102;
    /// The gateway thread is gone.
    pub const GATEWAY_DOWN: u16 = 103;
    /// The order cannot be expressed in the broker's API (quantity too large, say).
    pub const NOT_EXPRESSIBLE: u16 = 104;

    /// A broker error's code: its kind's place in [`BrokerErrorKind`], from 1.
    pub const fn of(kind: BrokerErrorKind) -> u16 {
        match kind {
            BrokerErrorKind::SessionExpired => 1,
            BrokerErrorKind::Input => 2,
            BrokerErrorKind::Order => 3,
            BrokerErrorKind::Margin => 4,
            BrokerErrorKind::Holding => 5,
            BrokerErrorKind::Permission => 6,
            BrokerErrorKind::RateLimited => 7,
            BrokerErrorKind::Network => 8,
            BrokerErrorKind::Data => 9,
            BrokerErrorKind::Malformed => 10,
            BrokerErrorKind::Other => 11,
        }
    }
}

/// What a gateway thread is asked to do.
#[derive(Debug)]
pub enum Job {
    Request(VenueRequest),
    /// A fresh access token after a login: the session is healthy again.
    NewToken(crate::Secret),
    /// The login was removed: the token is dropped and orders are refused until a new one.
    Logout,
    /// What a shadow account's order would have sent: logged and counted, never sent.
    Shadow(VenueRequest),
}

/// Work between the engine and the gateways not finished yet: requests queued or being
/// handled, order-book reads under way, reports not yet in the ingress ring. A run that stops
/// waits for it to reach zero, so no acknowledgement or fill the broker has sent is lost.
#[derive(Clone, Debug, Default)]
pub struct InFlight(Arc<AtomicU64>);

impl InFlight {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn done(&self) {
        let _ = self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| Some(v.saturating_sub(1)));
    }
}

/// The engine side of one gateway thread.
#[derive(Clone, Debug)]
pub struct GatewayHandle {
    pub venue: VenueId,
    jobs: tokio::sync::mpsc::Sender<Job>,
    pub session: Arc<Session>,
    in_flight: InFlight,
}

impl GatewayHandle {
    pub fn new(
        venue: VenueId,
        jobs: tokio::sync::mpsc::Sender<Job>,
        session: Arc<Session>,
        in_flight: InFlight,
    ) -> GatewayHandle {
        GatewayHandle { venue, jobs, session, in_flight }
    }

    /// Hands the gateway a new access token (after `dalal broker login`, say).
    pub fn relogin(&self, token: crate::Secret) -> bool {
        self.jobs.blocking_send(Job::NewToken(token)).is_ok()
    }

    /// Ends the gateway's session (its login was removed from the vault): later orders are
    /// refused, not sent, until [`GatewayHandle::relogin`].
    pub fn logout(&self) -> bool {
        self.jobs.blocking_send(Job::Logout).is_ok()
    }
}

/// Working orders of shadow accounts the tap follows without allocating.
const SHADOW_WORKING: usize = 4096;

/// Counters of the tap, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TapCounters {
    pub requests: u64,
    /// Requests that found their gateway's queue full, so the engine waited.
    pub waited: u64,
    /// Requests for a venue no gateway serves, or whose gateway is gone.
    pub undeliverable: u64,
    pub reports: u64,
    /// New orders of shadow accounts shown to their gateway.
    pub shadow: u64,
}

/// The engine thread's end of the broker gateways.
pub struct BrokerTap {
    /// By venue id; `None` for venues that are not broker logins.
    gateways: Vec<Option<GatewayHandle>>,
    reports: mpsc::Receiver<VenueReport>,
    /// Refusals the tap makes itself (gateway gone), published with the gateways' reports.
    local: VecDeque<VenueReport>,
    in_flight: InFlight,
    /// By account: the venue a shadow account would trade through.
    shadow: Vec<Option<VenueId>>,
    /// Working orders of shadow accounts already shown to their gateway.
    shadowed: HashSet<OrderId>,
    pub counters: TapCounters,
}

impl BrokerTap {
    /// `gateways` indexed by [`VenueId`]; `reports` is where their threads send reports (each
    /// counted in the gateways' [`InFlight`] until published).
    pub fn new(gateways: Vec<Option<GatewayHandle>>, reports: mpsc::Receiver<VenueReport>) -> BrokerTap {
        let in_flight = gateways.iter().flatten().next().map(|g| g.in_flight.clone()).unwrap_or_default();
        BrokerTap {
            in_flight,
            gateways,
            reports,
            local: VecDeque::new(),
            shadow: Vec::new(),
            shadowed: HashSet::new(),
            counters: TapCounters::default(),
        }
    }

    /// Shadow accounts, by account id: each new order of theirs (which the paper venue
    /// handles) is shown to the gateway of the venue given, which logs and counts the request
    /// live mode would have sent.
    pub fn with_shadow(mut self, shadow: Vec<Option<VenueId>>) -> BrokerTap {
        if shadow.iter().any(Option::is_some) {
            // Sized up front: the tap runs on the engine thread, which should not allocate
            // for a shadow account's ordinary number of working orders.
            self.shadowed.reserve(SHADOW_WORKING);
        }
        self.shadow = shadow;
        self
    }

    fn shadow_order(&mut self, order: &Order) {
        let Some(venue) = self.shadow.get(order.intent.account.index()).copied().flatten() else { return };
        // Shown once, when first seen (an order that fills at once is seen only finished);
        // forgotten when it finishes, so the set holds working orders only.
        let first =
            if order.status.is_terminal() { !self.shadowed.remove(&order.id) } else { self.shadowed.insert(order.id) };
        if !first || order.reject.is_some_and(|r| r != RejectReason::VenueRejected) {
            // Seen already, or refused by risk: live mode would not have sent it either.
            return;
        }
        self.counters.shadow += 1;
        let request = VenueRequest { venue, kind: RequestKind::New { order: *order, reference: Price::ZERO } };
        if let Some(g) = self.gateways.get(venue.0 as usize).and_then(Option::as_ref) {
            // Shadow traffic never makes the engine wait: a full queue loses the log line only.
            let _ = g.jobs.try_send(Job::Shadow(request));
        }
    }

    fn deliver(&mut self, r: VenueRequest) {
        self.counters.requests += 1;
        let Some(g) = self.gateways.get(r.venue.0 as usize).and_then(Option::as_ref) else {
            self.counters.undeliverable += 1;
            self.refuse_locally(&r);
            return;
        };
        g.in_flight.add();
        let sent = match g.jobs.try_send(Job::Request(r)) {
            Ok(()) => true,
            Err(tokio::sync::mpsc::error::TrySendError::Full(job)) => {
                // Back-pressure: the broker is far behind; wait rather than drop an order.
                self.counters.waited += 1;
                g.jobs.blocking_send(job).is_ok()
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => false,
        };
        if !sent {
            g.in_flight.done();
            self.counters.undeliverable += 1;
            tracing::error!(venue = r.venue.0, "broker gateway is gone; refusing the request");
            self.refuse_locally(&r);
        }
    }

    /// A new order that cannot reach its broker is refused, never silently dropped; a
    /// cancel or modify that cannot is only counted (the order's state stays what the broker
    /// last reported).
    fn refuse_locally(&mut self, r: &VenueRequest) {
        if let RequestKind::New { order, .. } = r.kind {
            // In flight like a gateway's report until published.
            self.in_flight.add();
            self.local.push_back(VenueReport {
                venue: r.venue,
                account: order.intent.account,
                order: order.id,
                venue_order: Default::default(),
                ts: Timestamp::now(),
                kind: ReportKind::Rejected {
                    code: code::GATEWAY_DOWN,
                    reason: ReasonText::lossy("no broker gateway for this venue"),
                },
            });
        }
    }
}

impl EgressTap for BrokerTap {
    fn on_event(&mut self, _cause: &IngressEvent, ev: &EgressEvent) {
        match ev {
            EgressEvent::VenueRequest(r) => self.deliver(*r),
            EgressEvent::Order { order, .. } if !self.shadow.is_empty() => self.shadow_order(order),
            _ => {}
        }
    }

    fn poll(&mut self, out: &mut IngressPublisher, room: usize) -> usize {
        let mut n = 0;
        while n < room {
            let next = if let Some(r) = self.local.pop_front() {
                r
            } else {
                match self.reports.try_recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            };
            out.publish(Input::VenueReport(next), 0);
            // Only once it is in the ring: whoever waits for nothing in flight and then for
            // the engine to be idle must find the report counted by one or the other.
            self.in_flight.done();
            self.counters.reports += 1;
            n += 1;
        }
        n
    }
}
