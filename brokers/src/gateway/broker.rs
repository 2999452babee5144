//! The gateway thread of one broker login, whichever the broker.
//!
//! Requests are handled one at a time, in the order the engine sent them (a cancel never
//! overtakes the place it cancels), under the login's order-rate window. A broker acknowledges a
//! place with its order id; fills, cancellations and refusals after acceptance arrive as order
//! updates on the broker's socket when it has one, and are also found by reading the order book
//! (after each request, and on a timer while orders work) in case an update is lost with a
//! connection. Either way the fills of an order whose filled quantity grew are read from the
//! broker's trades, and each fill is reported once, by the broker's trade id: an update says that
//! something happened, the trade book says exactly what.
//!
//! Retries follow [`BrokerFailure::is_retry_safe`]: a place whose answer was lost is never sent
//! again; the order book is searched for its tag (our order id) instead, and the order is
//! adopted if the broker has it or refused if not.
//!
//! What differs between brokers (the wire format of a request, the book's shape, how a session
//! starts and when it expires) is behind [`BrokerApi`]; the Kite, Angel One and Upstox adapters
//! implement it.

use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use dalal_core::model::{
    AccountId, Order, OrderId, Price, Qty, ReasonText, ReportKind, RequestKind, Timestamp, VenueId, VenueOrderId,
    VenueReport, VenueRequest, VenueTradeId,
};

use super::rate::RateWindow;
use super::session::{Session, SessionHealth, WallClock, EXPIRY_WARNING};
use super::{code, GatewayHandle, InFlight, Job};
use crate::error_kind::BrokerErrorKind;
use crate::kind::BrokerKind;
use crate::order_state::OrderState;
use crate::secret::Secret;

/// How a gateway runs, whatever the broker.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    pub venue: VenueId,
    /// The login's name, for logs and the session status.
    pub login: String,
    pub orders_per_second: u32,
    /// How often the order book is read while orders work.
    pub poll_every: Duration,
    /// With no order working, the book is still read this often, so an outage (the broker
    /// unreachable, the session refused) shows in the session's health before an order finds
    /// it; `None`: only orders find it.
    pub idle_check: Option<Duration>,
    /// Requests waiting for the gateway before the engine waits for it.
    pub queue: usize,
    /// Whether to follow orders on the broker's order-update socket as well as in the book.
    pub order_updates: bool,
    /// The clock token expiry is judged by.
    pub clock: WallClock,
}

/// Order updates waiting for the gateway; beyond that they are dropped and counted (the next
/// read of the order book finds what they said).
const UPDATE_QUEUE: usize = 1024;

/// An unattended login is tried again no sooner than this after a failed one.
const RELOGIN_RETRY: Duration = Duration::from_secs(60);

/// A failed broker request, as the gateway needs to judge it.
pub trait BrokerFailure: std::fmt::Display {
    fn kind(&self) -> BrokerErrorKind;
    /// The broker's own text (or ours, when it said nothing).
    fn message(&self) -> &str;
    /// The broker may have acted on the request although it failed.
    fn outcome_unknown(&self) -> bool;
    fn is_retry_safe(&self) -> bool;
}

/// One of the broker's orders as its book (or an order update) shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct BookLine {
    pub broker_id: String,
    /// The tag we placed it with ([`tag_of`]), if the broker shows one.
    pub tag: Option<String>,
    pub state: OrderState,
    pub filled: i64,
    /// Why it was cancelled or refused, as the broker put it.
    pub message: String,
}

/// One fill of an order, by the broker's trade id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerFill {
    pub trade_id: String,
    /// Paise; `None` when the broker's price has no paise value (refused at the edge).
    pub price: Option<i64>,
    pub qty: i64,
}

/// Where a broker's order updates go: the gateway's queue.
pub type UpdateSink = Box<dyn Fn(BookLine) + Send + Sync>;

/// What a broker's order-update connection is kept alive by: dropping it closes it.
pub type UpdateStream = Box<dyn std::any::Any + Send>;

/// What the gateway needs of a broker: a request in its format, its book and trades, and its
/// session's lifetime. Methods run on the gateway's own current-thread runtime.
#[allow(async_fn_in_trait)]
pub trait BrokerApi {
    /// The broker's place request for one of our orders, kept while the order works (a
    /// modify restates it to brokers that want the whole order again).
    type Placed: Clone + std::fmt::Debug;
    type Error: BrokerFailure;

    fn broker(&self) -> BrokerKind;
    fn has_session(&self) -> bool;
    /// A new session token from a login made elsewhere (`dalal broker login`); `None` ends it.
    fn set_token(&mut self, token: Option<Secret>);
    /// When a session started at `login` stops working.
    fn token_expiry(&self, login: Timestamp) -> Timestamp;
    /// Our order as the broker's request, or why it cannot be sent (a code of [`code`]).
    fn place_request(&self, order: &Order, tag: &str) -> Result<Self::Placed, (u16, String)>;
    /// The request as a log line (it carries no secret): what a shadow account would send.
    fn describe(&self, placed: &Self::Placed) -> String;
    /// Places; the broker's order id.
    async fn place(&self, placed: &Self::Placed) -> Result<String, Self::Error>;
    /// Changes a working order; a zero `qty`, `price` or `trigger` leaves it as it is.
    async fn modify(
        &self,
        broker_id: &str,
        placed: &Self::Placed,
        qty: Qty,
        price: Price,
        trigger: Price,
    ) -> Result<(), Self::Error>;
    async fn cancel(&self, broker_id: &str, placed: &Self::Placed) -> Result<(), Self::Error>;
    /// The day's orders.
    async fn book(&self) -> Result<Vec<BookLine>, Self::Error>;
    /// The fills of one order.
    async fn fills(&self, broker_id: &str) -> Result<Vec<BrokerFill>, Self::Error>;
    /// Opens the broker's order-update socket, each update into `sink`; `None` when the broker
    /// has none or there is no session.
    fn open_updates(&mut self, sink: UpdateSink) -> Option<UpdateStream>;
    /// Logs in again without a person, where the broker allows it (Angel One: MPIN and TOTP).
    /// `None`: this broker needs a person (a browser login).
    async fn relogin(&mut self) -> Option<Result<(), Self::Error>> {
        None
    }
}

/// What the gateway follows of one order of ours at the broker.
#[derive(Debug)]
struct Tracked<P> {
    account: AccountId,
    order: OrderId,
    broker_id: String,
    placed: P,
    filled: i64,
    state: OrderState,
}

/// Starts the gateway thread of a login. Reports go to `reports`; gateways that report to the
/// same tap share `in_flight`.
pub fn spawn<B: BrokerApi + Send + 'static>(
    config: GatewayConfig,
    api: B,
    reports: mpsc::Sender<VenueReport>,
    in_flight: InFlight,
) -> std::io::Result<(GatewayHandle, std::thread::JoinHandle<()>)> {
    let session = Arc::new(Session::new(&config.login, api.broker().as_str()));
    let (tx, rx) = tokio::sync::mpsc::channel(config.queue.max(1));
    let handle = GatewayHandle::new(config.venue, tx, session.clone(), in_flight.clone());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // The session's health is known before the first request: readers never see a stale one.
    start_session(&session, &api, config.clock.now());
    let thread = std::thread::Builder::new().name(format!("gateway-{}", config.login)).spawn(move || {
        let mut g = Gateway {
            window: RateWindow::new(config.orders_per_second),
            config,
            api,
            reports,
            in_flight,
            session,
            tracked: HashMap::new(),
            trades: HashSet::new(),
            updates_stream: None,
            last_relogin: None,
            removed: false,
        };
        runtime.block_on(g.run(rx));
    })?;
    Ok((handle, thread))
}

struct Gateway<B: BrokerApi> {
    config: GatewayConfig,
    api: B,
    reports: mpsc::Sender<VenueReport>,
    in_flight: InFlight,
    session: Arc<Session>,
    window: RateWindow,
    /// Working orders by our id.
    tracked: HashMap<OrderId, Tracked<B::Placed>>,
    /// Broker trade ids already reported.
    trades: HashSet<String>,
    /// The order-update connection, once there is a session.
    updates_stream: Option<UpdateStream>,
    /// When an unattended login was last tried.
    last_relogin: Option<Instant>,
    /// The login was removed from the vault: no unattended login until a new token comes.
    removed: bool,
}

impl<B: BrokerApi> Gateway<B> {
    async fn run(&mut self, mut jobs: tokio::sync::mpsc::Receiver<Job>) {
        let (updates_tx, mut updates) = tokio::sync::mpsc::channel(UPDATE_QUEUE);
        self.open_updates(&updates_tx);
        let mut next_poll = Instant::now() + self.config.poll_every;
        let mut last_read = Instant::now();
        // A look at the book is owed after a request (and counted in flight until done).
        let mut owed = false;
        loop {
            // The book is read when due, whatever else is queued: a steady stream of
            // requests must not starve it (fills are only found there).
            if Instant::now() >= next_poll {
                // Expiry shows in the session when it comes, not at the next request.
                let usable = self.usable().await;
                if usable {
                    self.open_updates(&updates_tx);
                }
                if !self.tracked.is_empty() && usable {
                    self.in_flight.add();
                    self.poll_book().await;
                    self.in_flight.done();
                    last_read = Instant::now();
                } else if self.config.idle_check.is_some_and(|every| last_read.elapsed() >= every)
                    && self.api.has_session()
                {
                    // Read even when the session looks broken: the answer tells whether the
                    // broker is back.
                    let book = self.api.book().await;
                    self.answered(book.as_ref().map(|_| ()));
                    last_read = Instant::now();
                }
                if std::mem::take(&mut owed) {
                    self.in_flight.done();
                }
                next_poll = Instant::now() + self.config.poll_every;
            }
            let wait = next_poll.saturating_duration_since(Instant::now());
            let job = tokio::select! {
                biased;
                job = jobs.recv() => Some(job),
                Some(update) = updates.recv() => {
                    self.in_flight.add();
                    self.on_update(update).await;
                    self.in_flight.done();
                    continue;
                }
                _ = tokio::time::sleep(wait) => None,
            };
            match job {
                Some(Some(Job::Request(r))) => {
                    self.handle(r).await;
                    // Whatever the request changed shows in the book soon: look once the
                    // queue is empty. Until then the request's outcome is still in flight.
                    if !owed {
                        owed = true;
                        self.in_flight.add();
                    }
                    self.in_flight.done();
                    if jobs.is_empty() {
                        next_poll = Instant::now();
                    }
                }
                Some(Some(Job::Shadow(r))) => self.shadow(r),
                Some(Some(Job::NewToken(t))) => {
                    self.removed = false;
                    self.api.set_token(Some(t));
                    // The old connection spoke for the old token.
                    self.updates_stream = None;
                    start_session(&self.session, &self.api, self.config.clock.now());
                    self.open_updates(&updates_tx);
                    tracing::info!(login = %self.config.login, "broker session renewed");
                }
                Some(Some(Job::Logout)) => {
                    self.removed = true;
                    self.api.set_token(None);
                    start_session(&self.session, &self.api, self.config.clock.now());
                    self.updates_stream = None;
                    tracing::warn!(login = %self.config.login, "broker login removed; orders are refused until the next login");
                }
                Some(None) => break,
                None => {}
            }
        }
    }

    /// Opens the order-update connection when asked for, there is a session, and it is not
    /// open yet. Updates are queued for this thread; a full queue drops and counts them.
    fn open_updates(&mut self, to: &tokio::sync::mpsc::Sender<BookLine>) {
        if !self.config.order_updates || self.updates_stream.is_some() || !self.api.has_session() {
            return;
        }
        let (tx, session) = (to.clone(), self.session.clone());
        let sink: UpdateSink = Box::new(move |u: BookLine| {
            if tx.try_send(u).is_err() {
                session.update(|s| s.order_updates_dropped += 1);
            }
        });
        self.updates_stream = self.api.open_updates(sink);
    }

    /// An order update: applied like the order book's line for that order.
    async fn on_update(&mut self, update: BookLine) {
        self.session.update(|s| s.order_updates += 1);
        let Some(id) = self.tracked.values().find(|t| t.broker_id == update.broker_id).map(|t| t.order) else {
            // Placed outside Dalal (shown by reconciliation, not managed), or already finished.
            self.session.update(|s| s.order_updates_untracked += 1);
            tracing::debug!(login = %self.config.login, "order update for an order not followed");
            return;
        };
        self.apply(id, &update).await;
    }

    /// Whether requests may go: a session whose token has not expired by the broker's clock.
    /// Marks the session expired when the time has come, and logs in again where the broker
    /// allows it without a person.
    async fn usable(&mut self) -> bool {
        if self.usable_now() {
            return true;
        }
        let due = self.last_relogin.is_none_or(|t| t.elapsed() >= RELOGIN_RETRY);
        if !due || self.removed {
            return false;
        }
        self.last_relogin = Some(Instant::now());
        match self.api.relogin().await {
            None => false,
            Some(Ok(())) => {
                self.updates_stream = None;
                start_session(&self.session, &self.api, self.config.clock.now());
                tracing::info!(login = %self.config.login, "broker session started again unattended");
                self.last_relogin = None;
                true
            }
            Some(Err(e)) => {
                let text = e.to_string();
                self.session.update(|s| {
                    s.errors += 1;
                    s.last_error = Some(text);
                });
                tracing::warn!(login = %self.config.login, error = %e, "unattended broker login failed");
                false
            }
        }
    }

    fn usable_now(&self) -> bool {
        let status = self.session.status();
        if status.health == SessionHealth::Expired {
            return false;
        }
        let now = self.config.clock.now().0;
        if status.token_expiry_ns != 0 && now >= status.token_expiry_ns {
            tracing::warn!(login = %self.config.login, "broker session expired; orders are refused until the next login");
            self.session.update(|s| {
                s.health = SessionHealth::Expired;
                s.expires_soon = false;
            });
            return false;
        }
        let soon = status.token_expiry_ns != 0
            && status.token_expiry_ns.saturating_sub(now) < EXPIRY_WARNING.as_nanos() as i64;
        if soon && !status.expires_soon {
            tracing::warn!(login = %self.config.login, "broker session expires within 30 minutes; log in again");
            self.session.update(|s| s.expires_soon = true);
        }
        true
    }

    fn report(&self, account: AccountId, order: OrderId, venue_order: VenueOrderId, kind: ReportKind) {
        let r = VenueReport { venue: self.config.venue, account, order, venue_order, ts: Timestamp::now(), kind };
        tracing::debug!(login = %self.config.login, order = order.0, kind = ?kind, "venue report");
        // Counted until the tap publishes it. If the tap is gone the engine has stopped.
        self.in_flight.add();
        if self.reports.send(r).is_err() {
            self.in_flight.done();
        }
    }

    fn refuse(&self, order: &Order, code: u16, reason: &str) {
        let kind = ReportKind::Rejected { code, reason: ReasonText::lossy(reason) };
        self.report(order.intent.account, order.id, VenueOrderId::EMPTY, kind);
    }

    /// Notes a broker's answer in the session: success, or an error with its kind.
    fn answered(&self, result: Result<(), &B::Error>) {
        let now = self.config.clock.now().0;
        self.session.update(|s| {
            s.requests += 1;
            s.last_activity_ns = now;
            match result {
                Ok(()) => {
                    if s.health == SessionHealth::Error {
                        s.health = SessionHealth::Healthy;
                    }
                }
                Err(e) => {
                    s.errors += 1;
                    s.last_error = Some(e.to_string());
                    s.health = if e.kind() == BrokerErrorKind::SessionExpired {
                        SessionHealth::Expired
                    } else if matches!(e.kind(), BrokerErrorKind::Network | BrokerErrorKind::Malformed) {
                        SessionHealth::Error
                    } else {
                        s.health
                    };
                }
            }
        });
        if let Err(e) = result {
            tracing::warn!(login = %self.config.login, error = %e, "broker request failed");
        }
    }

    async fn paced(&mut self) {
        let wait = self.window.wait(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        self.window.record(Instant::now());
    }

    /// Logs the request a shadow account's order would have sent, exactly as it would have
    /// gone (it carries no secret), and counts it.
    fn shadow(&self, r: VenueRequest) {
        let RequestKind::New { order, .. } = r.kind else { return };
        self.session.update(|s| s.shadow_requests += 1);
        match self.api.place_request(&order, &tag_of(order.id)) {
            Ok(p) => tracing::info!(
                login = %self.config.login,
                order = order.id.0,
                request = %self.api.describe(&p),
                "shadow: would place"
            ),
            Err((code, why)) => {
                tracing::info!(login = %self.config.login, order = order.id.0, code, why, "shadow: would refuse")
            }
        }
    }

    async fn handle(&mut self, r: VenueRequest) {
        match r.kind {
            RequestKind::New { order, .. } => self.place(order).await,
            RequestKind::Modify { order, qty, price, trigger, .. } => self.modify(order, qty, price, trigger).await,
            RequestKind::Cancel { order, .. } => self.cancel(order).await,
        }
    }

    async fn place(&mut self, order: Order) {
        if !self.usable().await {
            self.session.update(|s| s.refused_expired += 1);
            self.refuse(&order, code::SESSION_EXPIRED_NOT_SENT, "broker session expired; log in again");
            return;
        }
        let tag = tag_of(order.id);
        let placed = match self.api.place_request(&order, &tag) {
            Ok(p) => p,
            Err((code, why)) => return self.refuse(&order, code, &why),
        };
        self.paced().await;
        let result = self.api.place(&placed).await;
        self.answered(result.as_ref().map(|_| ()));
        match result {
            Ok(broker_id) => self.accepted(&order, placed, broker_id),
            Err(e) if e.outcome_unknown() => {
                // Never place twice: the book says whether the broker has it.
                match self.find_by_tag(&tag).await {
                    Some(found) => {
                        tracing::warn!(order = order.id.0, "place answer lost; the order is in the book and adopted");
                        self.accepted(&order, placed, found.broker_id);
                    }
                    None => self.refuse(
                        &order,
                        code::OUTCOME_UNKNOWN_NOT_FOUND,
                        &format!("{}; not in the order book", e.message()),
                    ),
                }
            }
            Err(e) => self.refuse(&order, code::of(e.kind()), e.message()),
        }
    }

    fn accepted(&mut self, order: &Order, placed: B::Placed, broker_id: String) {
        let Some(venue_order) = VenueOrderId::new(&broker_id) else {
            tracing::error!(broker_id, "broker order id does not fit; the order is not followed");
            return self.refuse(order, code::NOT_EXPRESSIBLE, "broker order id too long to follow");
        };
        self.report(order.intent.account, order.id, venue_order, ReportKind::Accepted);
        self.tracked.insert(
            order.id,
            Tracked {
                account: order.intent.account,
                order: order.id,
                broker_id,
                placed,
                filled: 0,
                state: OrderState::Pending,
            },
        );
    }

    async fn modify(&mut self, order: OrderId, qty: Qty, price: Price, trigger: Price) {
        let Some(t) = self.tracked.get(&order) else { return };
        let (placed, broker_id, account) = (t.placed.clone(), t.broker_id.clone(), t.account);
        if !self.usable().await {
            tracing::warn!(order = order.0, "modify not sent: broker session expired");
            return;
        }
        self.paced().await;
        let result = self.api.modify(&broker_id, &placed, qty, price, trigger).await;
        self.answered(result.as_ref().map(|_| ()));
        match result {
            Ok(()) => {
                let venue_order = VenueOrderId::new(&broker_id).unwrap_or_default();
                self.report(account, order, venue_order, ReportKind::Modified { qty, price, trigger });
            }
            // The order stays as it was at the broker and in the engine; the refusal is
            // counted in the session and logged.
            Err(e) => tracing::warn!(order = order.0, error = %e, "modify refused"),
        }
    }

    async fn cancel(&mut self, order: OrderId) {
        let Some(t) = self.tracked.get(&order) else { return };
        let (placed, broker_id) = (t.placed.clone(), t.broker_id.clone());
        if !self.usable().await {
            tracing::warn!(order = order.0, "cancel not sent: broker session expired");
            return;
        }
        self.paced().await;
        let mut result = self.api.cancel(&broker_id, &placed).await;
        if result.as_ref().is_err_and(|e| e.is_retry_safe()) {
            self.paced().await;
            result = self.api.cancel(&broker_id, &placed).await;
        }
        self.answered(result.as_ref().map(|_| ()));
        // The cancellation itself is reported when the book shows it.
    }

    async fn find_by_tag(&mut self, tag: &str) -> Option<BookLine> {
        self.paced().await;
        let book = self.api.book().await;
        self.answered(book.as_ref().map(|_| ()));
        book.ok()?.into_iter().find(|o| o.tag.as_deref() == Some(tag))
    }

    /// Reads the book and reports what changed for the orders followed.
    async fn poll_book(&mut self) {
        let book = self.api.book().await;
        self.answered(book.as_ref().map(|_| ()));
        let Ok(book) = book else { return };
        let by_id: HashMap<&str, &BookLine> = book.iter().map(|o| (o.broker_id.as_str(), o)).collect();
        let ids: Vec<OrderId> = self.tracked.keys().copied().collect();
        for id in ids {
            let Some(t) = self.tracked.get(&id) else { continue };
            let Some(line) = by_id.get(t.broker_id.as_str()).copied() else { continue };
            self.apply(id, line).await;
        }
    }

    /// Reports what the broker's view of one followed order (a line of the book, or an
    /// update) adds to what was reported: new fills first, then a trigger, a cancellation or
    /// a refusal. A view older than what is known (fewer fills, or back to trigger-pending)
    /// changes nothing, so updates and book reads may arrive in any order.
    async fn apply(&mut self, id: OrderId, line: &BookLine) {
        let Some(t) = self.tracked.get(&id) else { return };
        let state = line.state;
        if line.filled > t.filled {
            self.report_fills(id).await;
        }
        let Some(t) = self.tracked.get_mut(&id) else { return };
        if t.filled < line.filled {
            // Its fills are not all readable yet: its end is reported after its fills.
            return;
        }
        if line.filled < t.filled
            || (state == OrderState::TriggerPending
                && t.state != OrderState::TriggerPending
                && t.state != OrderState::Pending)
        {
            return;
        }
        let was = std::mem::replace(&mut t.state, state);
        let (account, order, venue_order) = (t.account, t.order, VenueOrderId::new(&t.broker_id).unwrap_or_default());
        if was == OrderState::TriggerPending && state != OrderState::TriggerPending && !state.is_terminal() {
            self.report(account, order, venue_order, ReportKind::Triggered);
        }
        let text = || ReasonText::lossy(&line.message);
        match state {
            OrderState::Cancelled => {
                self.report(account, order, venue_order, ReportKind::Cancelled { reason: text() });
            }
            OrderState::Rejected => {
                // A refusal after acceptance (RMS, exchange): the broker's error kind is not in
                // the book, so the code is the order error's.
                let kind = ReportKind::Rejected { code: code::of(BrokerErrorKind::Order), reason: text() };
                self.report(account, order, venue_order, kind);
            }
            _ => {}
        }
        if state.is_terminal() {
            self.tracked.remove(&id);
        }
    }

    /// Reports the fills of an order that the broker has and we have not reported, by trade id.
    async fn report_fills(&mut self, id: OrderId) {
        let Some(t) = self.tracked.get(&id) else { return };
        let broker_id = t.broker_id.clone();
        let fills = self.api.fills(&broker_id).await;
        self.answered(fills.as_ref().map(|_| ()));
        let Ok(fills) = fills else { return };
        let Some(t) = self.tracked.get_mut(&id) else { return };
        let (account, order) = (t.account, t.order);
        let venue_order = VenueOrderId::new(&broker_id).unwrap_or_default();
        let mut reports = Vec::new();
        for f in fills {
            if self.trades.contains(&f.trade_id) {
                continue;
            }
            let (Some(price), Ok(qty), Some(trade)) = (f.price, u64::try_from(f.qty), VenueTradeId::new(&f.trade_id))
            else {
                tracing::warn!(order = id.0, trade = %f.trade_id, "unusable fill from the broker skipped");
                continue;
            };
            if qty == 0 || price <= 0 {
                continue;
            }
            t.filled += f.qty;
            self.trades.insert(f.trade_id.clone());
            reports.push(ReportKind::Fill { trade, price: Price(price), qty: Qty(qty) });
        }
        for kind in reports {
            self.report(account, order, venue_order, kind);
        }
    }
}

/// A session starts healthy with a token (expiring at the broker's next daily expiry),
/// expired without one.
fn start_session<B: BrokerApi>(session: &Session, api: &B, now: Timestamp) {
    let has = api.has_session();
    session.update(|s| {
        s.health = if has { SessionHealth::Healthy } else { SessionHealth::Expired };
        s.token_expiry_ns = if has { api.token_expiry(now).0 } else { 0 };
        s.expires_soon = false;
    });
}

/// The tag the broker carries for our order: its id, in the letters and digits brokers allow.
pub fn tag_of(order: OrderId) -> String {
    format!("D{}", order.0)
}
