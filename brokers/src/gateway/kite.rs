//! The gateway thread of one Kite Connect login.
//!
//! Requests are handled one at a time, in the order the engine sent them (a cancel never
//! overtakes the place it cancels), under the login's order-rate window. Kite acknowledges a
//! place with its order id; fills, cancellations and refusals after acceptance arrive as order
//! updates on the login's ticker socket (`{"type":"order"}` texts, brokers.md §1.11), and are
//! also found by reading the order book (after each request, and on a timer while orders work)
//! in case an update is lost with a connection. Either way the trades of an order whose filled
//! quantity grew are read from the REST API, and each fill is reported once, by Kite's trade id:
//! an update says that something happened, the trade book says exactly what.
//!
//! Retries follow [`KiteError::is_retry_safe`]: a place whose answer was lost is never sent
//! again; the order book is searched for its tag (our order id) instead, and the order is
//! adopted if Kite has it or refused if not.

use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use dalal_core::model::{
    AccountId, InstrumentSpec, Order, OrderId, OrderType as CoreType, Price, Product as CoreProduct, Qty, ReasonText,
    ReportKind, RequestKind, Segment, Side, Timestamp, Validity as CoreValidity, VenueId, VenueOrderId, VenueReport,
    VenueRequest, VenueTradeId,
};

use super::rate::RateWindow;
use super::session::{kite_token_expiry, Session, SessionHealth, WallClock, EXPIRY_WARNING};
use super::{code, GatewayHandle, InFlight, Job};
use crate::error_kind::BrokerErrorKind;
use crate::kite::error::KiteError;
use crate::kite::feed::{KiteFeed, KiteFeedConfig, OrderUpdate};
use crate::kite::model::Order as KiteOrder;
use crate::kite::params::{ModifyOrder, OrderType, PlaceOrder, Product, TransactionType, Validity, Variety};
use crate::kite::rest::KiteClient;
use crate::money::paise_to_rupees;
use crate::order_state::OrderState;

/// How a Kite gateway runs.
#[derive(Clone, Debug)]
pub struct KiteGatewayConfig {
    pub venue: VenueId,
    /// The login's name, for logs and the session status.
    pub login: String,
    pub orders_per_second: u32,
    /// How often the order book is read while orders work.
    pub poll_every: Duration,
    /// Requests waiting for the gateway before the engine waits for it.
    pub queue: usize,
    /// The ticker root (`wss://ws.kite.trade`) to take order updates from; `None` leaves the
    /// gateway to the order book alone.
    pub order_updates: Option<String>,
    /// The clock token expiry is judged by.
    pub clock: WallClock,
}

/// Order updates waiting for the gateway; beyond that they are dropped and counted (the next
/// read of the order book finds what they said).
const UPDATE_QUEUE: usize = 1024;

/// Where an instrument trades at Kite: its exchange and trading symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KiteSymbol {
    pub exchange: String,
    pub tradingsymbol: String,
}

impl KiteSymbol {
    /// Dalal's instrument under the same symbol at Kite: NSE for cash, NFO for derivatives.
    pub fn of(spec: &InstrumentSpec) -> KiteSymbol {
        let exchange = match spec.segment {
            Segment::Equity => "NSE",
            Segment::Futures | Segment::Options => "NFO",
        };
        KiteSymbol { exchange: exchange.into(), tradingsymbol: spec.symbol.clone() }
    }
}

/// What the gateway follows of one order of ours at Kite.
#[derive(Debug)]
struct Tracked {
    account: AccountId,
    order: OrderId,
    kite_id: String,
    variety: Variety,
    filled: i64,
    state: OrderState,
}

/// Starts the gateway thread of a Kite login. Reports go to `reports`.
/// Gateways that report to the same tap share `in_flight`.
pub fn spawn(
    config: KiteGatewayConfig,
    client: KiteClient,
    symbols: Vec<Option<KiteSymbol>>,
    reports: mpsc::Sender<VenueReport>,
    in_flight: InFlight,
) -> std::io::Result<(GatewayHandle, std::thread::JoinHandle<()>)> {
    let session = Arc::new(Session::new(&config.login, "kite"));
    let (tx, rx) = tokio::sync::mpsc::channel(config.queue.max(1));
    let handle = GatewayHandle::new(config.venue, tx, session.clone(), in_flight.clone());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // The session's health is known before the first request: readers never see a stale one.
    start_session(&session, client.has_session(), config.clock.now());
    let thread = std::thread::Builder::new().name(format!("gateway-{}", config.login)).spawn(move || {
        let mut g = KiteGateway {
            window: RateWindow::new(config.orders_per_second),
            config,
            client,
            symbols,
            reports,
            in_flight,
            session,
            tracked: HashMap::new(),
            trades: HashSet::new(),
            updates_feed: None,
        };
        runtime.block_on(g.run(rx));
    })?;
    Ok((handle, thread))
}

struct KiteGateway {
    config: KiteGatewayConfig,
    client: KiteClient,
    symbols: Vec<Option<KiteSymbol>>,
    reports: mpsc::Sender<VenueReport>,
    in_flight: InFlight,
    session: Arc<Session>,
    window: RateWindow,
    /// Working orders by our id.
    tracked: HashMap<OrderId, Tracked>,
    /// Kite trade ids already reported.
    trades: HashSet<String>,
    /// The ticker connection order updates come on, once there is a token.
    updates_feed: Option<KiteFeed>,
}

impl KiteGateway {
    async fn run(&mut self, mut jobs: tokio::sync::mpsc::Receiver<Job>) {
        let (updates_tx, mut updates) = tokio::sync::mpsc::channel(UPDATE_QUEUE);
        self.open_updates(&updates_tx);
        let mut next_poll = Instant::now() + self.config.poll_every;
        // A look at the book is owed after a request (and counted in flight until done).
        let mut owed = false;
        loop {
            // The book is read when due, whatever else is queued: a steady stream of
            // requests must not starve it (fills are only found there).
            if Instant::now() >= next_poll {
                // Expiry shows in the session when it comes, not at the next request.
                let usable = self.usable();
                if !self.tracked.is_empty() && usable {
                    self.in_flight.add();
                    self.poll_book().await;
                    self.in_flight.done();
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
                    if let Some(feed) = &self.updates_feed {
                        feed.set_access_token(t.clone());
                    }
                    self.client.set_access_token(Some(t));
                    start_session(&self.session, self.client.has_session(), self.config.clock.now());
                    self.open_updates(&updates_tx);
                    tracing::info!(login = %self.config.login, "broker session renewed");
                }
                Some(Some(Job::Logout)) => {
                    self.client.set_access_token(None);
                    start_session(&self.session, false, self.config.clock.now());
                    self.updates_feed = None;
                    tracing::warn!(login = %self.config.login, "broker login removed; orders are refused until the next login");
                }
                Some(None) => break,
                None => {}
            }
        }
    }

    /// Opens the ticker connection for order updates when there is a root and a token and it
    /// is not open yet. Updates are queued for this thread; a full queue drops and counts them.
    fn open_updates(&mut self, to: &tokio::sync::mpsc::Sender<OrderUpdate>) {
        let (Some(root), Some(token)) = (&self.config.order_updates, self.client.access_token()) else { return };
        if self.updates_feed.is_some() {
            return;
        }
        let mut cfg = KiteFeedConfig::new(self.client.api_key(), token.clone(), Vec::new());
        cfg.ws_root = root.clone();
        // No market data is asked for on this connection: nothing queues for an engine.
        cfg.queue = 1;
        let (tx, session) = (to.clone(), self.session.clone());
        let sink = Box::new(move |u: OrderUpdate| {
            if tx.try_send(u).is_err() {
                session.update(|s| s.order_updates_dropped += 1);
            }
        });
        match KiteFeed::start(cfg, Some(sink)) {
            Ok(feed) => self.updates_feed = Some(feed),
            Err(e) => {
                tracing::warn!(login = %self.config.login, error = %e, "no order updates from the ticker; the order book is read instead")
            }
        }
    }

    /// An order update from the ticker: applied like the order book's line for that order.
    async fn on_update(&mut self, update: OrderUpdate) {
        self.session.update(|s| s.order_updates += 1);
        let k = update.order;
        let Some(id) = self.tracked.values().find(|t| t.kite_id == k.order_id).map(|t| t.order) else {
            // Placed outside Dalal (shown by reconciliation, not managed), or already finished.
            self.session.update(|s| s.order_updates_untracked += 1);
            tracing::debug!(login = %self.config.login, "order update for an order not followed");
            return;
        };
        self.apply(id, &k).await;
    }

    /// Whether requests may go: a token that has not expired by Kite's clock (about 06:00 IST
    /// the next day). Marks the session expired when the time has come.
    fn usable(&self) -> bool {
        let status = self.session.status();
        if status.health == SessionHealth::Expired {
            return false;
        }
        let now = self.config.clock.now().0;
        if status.token_expiry_ns != 0 && now >= status.token_expiry_ns {
            tracing::warn!(login = %self.config.login, "broker access token expired; orders are refused until the next login");
            self.session.update(|s| {
                s.health = SessionHealth::Expired;
                s.expires_soon = false;
            });
            return false;
        }
        let soon = status.token_expiry_ns != 0
            && status.token_expiry_ns.saturating_sub(now) < EXPIRY_WARNING.as_nanos() as i64;
        if soon && !status.expires_soon {
            tracing::warn!(login = %self.config.login, "broker access token expires within 30 minutes; log in again");
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
    fn answered(&self, result: Result<(), &KiteError>) {
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
    /// gone (the form carries no secret), and counts it.
    fn shadow(&self, r: VenueRequest) {
        let RequestKind::New { order, .. } = r.kind else { return };
        self.session.update(|s| s.shadow_requests += 1);
        match self.place_request(&order) {
            Ok(p) => tracing::info!(
                login = %self.config.login,
                order = order.id.0,
                variety = %p.variety,
                form = ?p.form(),
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
        if !self.usable() {
            self.session.update(|s| s.refused_expired += 1);
            self.refuse(&order, code::SESSION_EXPIRED_NOT_SENT, "broker session expired; log in again");
            return;
        }
        let request = match self.place_request(&order) {
            Ok(p) => p,
            Err((code, why)) => return self.refuse(&order, code, &why),
        };
        self.paced().await;
        let result = self.client.place_order(&request).await;
        self.answered(result.as_ref().map(|_| ()));
        match result {
            Ok(kite_id) => self.accepted(&order, request.variety, kite_id),
            Err(e) if e.outcome_unknown() => {
                // Never place twice: the book says whether Kite has it.
                let tag = request.tag.clone().unwrap_or_default();
                match self.find_by_tag(&tag).await {
                    Some(found) => {
                        tracing::warn!(order = order.id.0, "place answer lost; the order is in the book and adopted");
                        self.accepted(&order, request.variety, found.order_id);
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

    fn accepted(&mut self, order: &Order, variety: Variety, kite_id: String) {
        let Some(venue_order) = VenueOrderId::new(&kite_id) else {
            tracing::error!(kite_id, "Kite order id does not fit; the order is not followed");
            return self.refuse(order, code::NOT_EXPRESSIBLE, "broker order id too long to follow");
        };
        self.report(order.intent.account, order.id, venue_order, ReportKind::Accepted);
        self.tracked.insert(
            order.id,
            Tracked {
                account: order.intent.account,
                order: order.id,
                kite_id,
                variety,
                filled: 0,
                state: OrderState::Pending,
            },
        );
    }

    fn place_request(&self, order: &Order) -> Result<PlaceOrder, (u16, String)> {
        let i = order.intent;
        let symbol = self
            .symbols
            .get(i.instrument.index())
            .and_then(Option::as_ref)
            .ok_or((code::NO_BROKER_SYMBOL, "no Kite symbol for the instrument".to_string()))?;
        let quantity = u32::try_from(i.qty.0).map_err(|_| (code::NOT_EXPRESSIBLE, "quantity too large".to_string()))?;
        let (order_type, price, trigger) = match i.order_type {
            CoreType::Market => (OrderType::Market, None, None),
            CoreType::Limit => (OrderType::Limit, Some(i.price), None),
            CoreType::StopLimit => (OrderType::Sl, Some(i.price), Some(i.trigger)),
            CoreType::StopMarket => (OrderType::SlM, None, Some(i.trigger)),
        };
        Ok(PlaceOrder {
            variety: if i.amo { Variety::Amo } else { Variety::Regular },
            exchange: symbol.exchange.clone(),
            tradingsymbol: symbol.tradingsymbol.clone(),
            transaction_type: match i.side {
                Side::Buy => TransactionType::Buy,
                Side::Sell => TransactionType::Sell,
            },
            quantity,
            product: match i.product {
                CoreProduct::Cnc => Product::Cnc,
                CoreProduct::Mis => Product::Mis,
                CoreProduct::Nrml => Product::Nrml,
            },
            order_type,
            price: price.map(|p: Price| paise_to_rupees(p.0)),
            trigger_price: trigger.map(|p: Price| paise_to_rupees(p.0)),
            validity: Some(match i.validity {
                CoreValidity::Day => Validity::Day,
                CoreValidity::Ioc => Validity::Ioc,
            }),
            disclosed_quantity: None,
            tag: Some(tag_of(order.id)),
        })
    }

    async fn modify(&mut self, order: OrderId, qty: Qty, price: Price, trigger: Price) {
        let Some(t) = self.tracked.get(&order) else { return };
        let (variety, kite_id, account) = (t.variety, t.kite_id.clone(), t.account);
        if !self.usable() {
            tracing::warn!(order = order.0, "modify not sent: broker session expired");
            return;
        }
        let change = ModifyOrder {
            quantity: (!qty.is_zero()).then(|| u32::try_from(qty.0).unwrap_or(u32::MAX)),
            price: price.is_positive().then(|| paise_to_rupees(price.0)),
            trigger_price: trigger.is_positive().then(|| paise_to_rupees(trigger.0)),
            ..ModifyOrder::default()
        };
        self.paced().await;
        let result = self.client.modify_order(variety, &kite_id, &change).await;
        self.answered(result.as_ref().map(|_| ()));
        match result {
            Ok(_) => {
                let venue_order = VenueOrderId::new(&kite_id).unwrap_or_default();
                self.report(account, order, venue_order, ReportKind::Modified { qty, price, trigger });
            }
            // The order stays as it was at Kite and in the engine; the refusal is counted
            // in the session and logged.
            Err(e) => tracing::warn!(order = order.0, error = %e, "modify refused"),
        }
    }

    async fn cancel(&mut self, order: OrderId) {
        let Some(t) = self.tracked.get(&order) else { return };
        let (variety, kite_id) = (t.variety, t.kite_id.clone());
        if !self.usable() {
            tracing::warn!(order = order.0, "cancel not sent: broker session expired");
            return;
        }
        self.paced().await;
        let mut result = self.client.cancel_order(variety, &kite_id).await;
        if result.as_ref().is_err_and(KiteError::is_retry_safe) {
            self.paced().await;
            result = self.client.cancel_order(variety, &kite_id).await;
        }
        self.answered(result.as_ref().map(|_| ()));
        // The cancellation itself is reported when the book shows it.
    }

    async fn find_by_tag(&mut self, tag: &str) -> Option<KiteOrder> {
        self.paced().await;
        let book = self.client.orders().await;
        self.answered(book.as_ref().map(|_| ()));
        book.ok()?.into_iter().find(|o| o.tag.as_deref() == Some(tag) || o.tags.iter().any(|t| t == tag))
    }

    /// Reads the book and reports what changed for the orders followed.
    async fn poll_book(&mut self) {
        let book = self.client.orders().await;
        self.answered(book.as_ref().map(|_| ()));
        let Ok(book) = book else { return };
        let by_kite: HashMap<&str, &KiteOrder> = book.iter().map(|o| (o.order_id.as_str(), o)).collect();
        let ids: Vec<OrderId> = self.tracked.keys().copied().collect();
        for id in ids {
            let Some(t) = self.tracked.get(&id) else { continue };
            let Some(k) = by_kite.get(t.kite_id.as_str()).copied() else { continue };
            self.apply(id, k).await;
        }
    }

    /// Reports what Kite's view of one followed order (a line of the book, or an update from
    /// the ticker) adds to what was reported: new fills first, then a trigger, a cancellation
    /// or a refusal. A view older than what is known (fewer fills, or back to trigger-pending)
    /// changes nothing, so updates and book reads may arrive in any order.
    async fn apply(&mut self, id: OrderId, k: &KiteOrder) {
        let Some(t) = self.tracked.get(&id) else { return };
        let state = k.state();
        if k.filled_quantity > t.filled {
            self.report_fills(id).await;
        }
        {
            let Some(t) = self.tracked.get_mut(&id) else { return };
            if t.filled < k.filled_quantity {
                // Its trades are not all readable yet: its end is reported after its fills.
                return;
            }
            if k.filled_quantity < t.filled
                || (state == OrderState::TriggerPending
                    && t.state != OrderState::TriggerPending
                    && t.state != OrderState::Pending)
            {
                return;
            }
            let was = std::mem::replace(&mut t.state, state);
            let (account, order, venue_order) = (t.account, t.order, VenueOrderId::new(&t.kite_id).unwrap_or_default());
            if was == OrderState::TriggerPending && state != OrderState::TriggerPending && !state.is_terminal() {
                self.report(account, order, venue_order, ReportKind::Triggered);
            }
            let text = || ReasonText::lossy(k.status_message.as_deref().unwrap_or(""));
            match state {
                OrderState::Cancelled => {
                    self.report(account, order, venue_order, ReportKind::Cancelled { reason: text() });
                }
                OrderState::Rejected => {
                    // A refusal after acceptance (RMS, exchange): Kite's error kind is not in
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
    }

    /// Reports the fills of an order that Kite has and we have not reported, by trade id.
    async fn report_fills(&mut self, id: OrderId) {
        let Some(t) = self.tracked.get(&id) else { return };
        let kite_id = t.kite_id.clone();
        let trades = self.client.order_trades(&kite_id).await;
        self.answered(trades.as_ref().map(|_| ()));
        let Ok(trades) = trades else { return };
        let Some(t) = self.tracked.get_mut(&id) else { return };
        let (account, order) = (t.account, t.order);
        let venue_order = VenueOrderId::new(&kite_id).unwrap_or_default();
        let mut fills = Vec::new();
        for tr in trades {
            if self.trades.contains(&tr.trade_id) {
                continue;
            }
            let (Ok(price), Ok(qty), Some(trade)) =
                (tr.price_paise(), u64::try_from(tr.quantity), VenueTradeId::new(&tr.trade_id))
            else {
                tracing::warn!(order = id.0, trade = %tr.trade_id, "unusable trade from Kite skipped");
                continue;
            };
            if qty == 0 || price <= 0 {
                continue;
            }
            t.filled += tr.quantity;
            self.trades.insert(tr.trade_id.clone());
            fills.push(ReportKind::Fill { trade, price: Price(price), qty: Qty(qty) });
        }
        for kind in fills {
            self.report(account, order, venue_order, kind);
        }
    }
}

/// A session starts healthy with a token (expiring at Kite's next daily expiry), expired
/// without one.
fn start_session(session: &Session, has_token: bool, now: Timestamp) {
    session.update(|s| {
        s.health = if has_token { SessionHealth::Healthy } else { SessionHealth::Expired };
        s.token_expiry_ns = if has_token { kite_token_expiry(now).0 } else { 0 };
        s.expires_soon = false;
    });
}

/// The tag Kite carries for our order: its id, in the letters and digits Kite allows.
pub fn tag_of(order: OrderId) -> String {
    format!("D{}", order.0)
}
