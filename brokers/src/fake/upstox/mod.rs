//! A fake Upstox API v2/v3 server for tests, on 127.0.0.1: the API host ([`FakeUpstox::root`]),
//! the order host ([`FakeUpstox::hft_root`], place/modify/cancel only, as `api-hft`) and the
//! sockets the feed `authorize` endpoints hand out ([`FakeUpstox::ws_root`]), each on a port of
//! its own.
//!
//! It speaks Upstox's wire format as the official SDK does (brokers.md §3): the OAuth
//! authorization-code login (a browser dialog that redirects with a one-time code, a
//! form-encoded token exchange answering flat JSON), `Authorization: Bearer` tokens, the
//! `Api-Version: 2.0` header of v2 calls, the `{"status":"success","data":…}` envelope (v3
//! order calls with `metadata.latency`), failures as `{"status":"error","errors":[{errorCode,
//! message, propertyPath, invalidValue} and their snake_case duplicates]}` with `UDAPI` codes,
//! HTTP 429 + UDAPI10005 past a rate limit. Behind it is a small deterministic broker
//! (`book.rs`): users with funds, an order book whose orders walk Upstox's lowercase statuses
//! (every change kept for `/v2/order/history` and sent on the portfolio stream), trades,
//! positions and funds from fills, holdings, prices and candles.
//!
//! Sockets (`feed.rs`, `portfolio.rs`): the Market Data Feed v3 (binary JSON `sub`,
//! `change_mode`, `unsub` requests; protobuf `FeedResponse` frames: `market_info` first, an
//! `initial_feed` after each subscription, then the `live_feed` messages tests push) and the
//! portfolio stream (JSON text order updates with `update_type: "order"`). Both are reached
//! through a one-time URL, from `authorize` or from the 302 of the socket's documented path.
//!
//! Tests script it through [`FakeUpstox`]'s methods: add users and instruments, log a user in
//! as a browser would ([`FakeUpstox::issue_auth_code`]), expire tokens, fill (partly), reject,
//! cancel or trigger an order, have the next order rejected by the RMS, fail the next request
//! with any UDAPI error, limit request rates under a manual clock, garble answers. Every REST
//! request and socket request is recorded. Choices the public sources leave open (codes of
//! errors the docs do not list, the answer to a reused socket URL, what `change_mode` sends)
//! are the fake's own and are documented where they are made; a client's tests should not
//! depend on them.

mod book;
mod feed;
mod market;
mod orders;
mod portfolio;
mod routes;
mod session;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use super::Malformed;
use super::{Clock, Runner};
use crate::secret::Secret;
use crate::upstox::feed::proto;
use book::Book;
use feed::{FeedPush, FeedState};
pub use feed::{FeedRequest, Subscription};
use portfolio::{PortfolioPush, PortfolioState};

/// Which of the fake's two HTTP hosts a request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// `api.upstox.com`: everything.
    Api,
    /// `api-hft.upstox.com`: order place, modify and cancel only.
    Hft,
}

/// What a request was, as the fake received it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    pub host: Host,
    pub method: String,
    /// As sent (percent-encoding kept, e.g. `NSE_EQ%7CINE…` in a candle path).
    pub path: String,
    /// Decoded query pairs in the order sent.
    pub query: Vec<(String, String)>,
    /// Header names lowercased.
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON; `None` when empty or not JSON.
    pub body: Option<Value>,
    /// The body decoded as a form, when it is one (the token exchange).
    pub form: Vec<(String, String)>,
    /// The body as text (lossy UTF-8).
    pub raw_body: String,
    /// When it arrived, since the server started, by the monotonic wall clock (also under
    /// [`FakeUpstox::use_manual_clock`], which moves only the rate-limit windows).
    pub received: Duration,
}

/// Which of Upstox's rate limits a request counts against. Upstox counts per user and per API
/// (brokers.md §3.8), so each endpoint has windows of its own; the class sets their size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RateClass {
    /// The token exchange (counted per API key).
    Login,
    /// Place, modify and cancel, v2 and v3.
    Orders,
    /// Everything else.
    Standard,
}

/// Requests allowed in a second, a minute and half an hour (`None`: no limit in that window).
/// Windows are fixed, starting at the first request, and read the fake's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: Option<u32>,
    pub per_minute: Option<u32>,
    pub per_30_minutes: Option<u32>,
}

impl RateLimit {
    pub fn per_second(n: u32) -> RateLimit {
        RateLimit { per_second: Some(n), ..RateLimit::default() }
    }

    /// Upstox's documented limits (brokers.md §3.8): 50/500/2000 for standard APIs, and for
    /// order placement the newer table's 10/500/2000 of an unregistered algo.
    pub fn documented(class: RateClass) -> RateLimit {
        let l = |s, m, h| RateLimit { per_second: Some(s), per_minute: Some(m), per_30_minutes: Some(h) };
        match class {
            RateClass::Orders => l(10, 500, 2000),
            RateClass::Login | RateClass::Standard => l(50, 500, 2000),
        }
    }
}

/// What a scripted failure answers (see [`FakeUpstox::fail_next`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Upstox's error envelope with one error.
    Error { status: u16, code: String, message: String },
    /// HTTP 429 with UDAPI10005.
    RateLimited,
    /// Anything else: a WAF page, a 502 from a proxy.
    Raw { status: u16, content_type: String, body: String },
}

impl Failure {
    pub fn error(status: u16, code: &str, message: &str) -> Failure {
        Failure::Error { status, code: code.into(), message: message.into() }
    }

    pub fn raw(status: u16, content_type: &str, body: &str) -> Failure {
        Failure::Raw { status, content_type: content_type.into(), body: body.into() }
    }
}

/// WebSocket handshakes so far, on one of the two sockets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Handshakes {
    pub accepted: u64,
    /// Refused with 403 (an unknown or spent one-time URL).
    pub refused: u64,
    /// Connections open now.
    pub open: u64,
}

/// The tokens of a session, as the token exchange returns them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTokens {
    pub access_token: String,
    pub extended_token: String,
}

/// A user and their app, to create with [`FakeUpstox::add_user`].
#[derive(Clone, Debug)]
pub struct FakeUpstoxUser {
    /// The UCC, e.g. `AB1234`.
    pub user_id: String,
    pub user_name: String,
    pub email: String,
    /// The app's API key (`client_id`).
    pub api_key: String,
    /// The app's API secret (`client_secret`).
    pub api_secret: Secret,
    /// The redirect URI registered for the app.
    pub redirect_uri: String,
    /// Cash at the start of the day, rupees.
    pub cash: f64,
    pub collateral: f64,
}

impl FakeUpstoxUser {
    /// A user with a lakh of rupees and no collateral.
    pub fn new(user_id: &str, api_key: &str, api_secret: &str, redirect_uri: &str) -> FakeUpstoxUser {
        FakeUpstoxUser {
            user_id: user_id.into(),
            user_name: format!("FAKE {user_id}"),
            email: format!("{}@example.com", user_id.to_lowercase()),
            api_key: api_key.into(),
            api_secret: Secret::new(api_secret),
            redirect_uri: redirect_uri.into(),
            cash: 100_000.0,
            collateral: 0.0,
        }
    }
}

/// An error the next matching request gets instead of its answer.
#[derive(Clone, Debug)]
struct ScriptedFailure {
    method: Option<String>,
    path_prefix: String,
    failure: Failure,
}

/// Everything the fake knows, behind one lock.
#[derive(Debug)]
struct State {
    sessions: session::Sessions,
    book: Book,
    reject_next: VecDeque<String>,
    fail_next: VecDeque<ScriptedFailure>,
    malformed: Option<Malformed>,
    auto_fill: bool,
    rate_limits: BTreeMap<RateClass, RateLimit>,
    /// Per (user or API key, endpoint, window length in seconds): start of the window and
    /// its count.
    windows: BTreeMap<(String, String, u64), (Duration, u32)>,
    clock: Clock,
    started: Instant,
    requests: Vec<RecordedRequest>,
    /// `ws://127.0.0.1:port` of the socket listener, for the one-time URLs.
    ws_root: String,
    feed: FeedState,
    portfolio: PortfolioState,
}

impl State {
    fn new() -> State {
        let portfolio = PortfolioState::new();
        State {
            sessions: session::Sessions::default(),
            book: Book::new(portfolio.push.clone()),
            reject_next: VecDeque::new(),
            fail_next: VecDeque::new(),
            malformed: None,
            auto_fill: true,
            rate_limits: BTreeMap::new(),
            windows: BTreeMap::new(),
            clock: Clock::new(),
            started: Instant::now(),
            requests: Vec::new(),
            ws_root: String::new(),
            feed: FeedState::new(),
            portfolio,
        }
    }
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake Upstox server. Stops when dropped.
pub struct FakeUpstox {
    addr: SocketAddr,
    hft_addr: SocketAddr,
    ws_addr: SocketAddr,
    state: Shared,
    runner: Runner,
}

impl std::fmt::Debug for FakeUpstox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeUpstox")
            .field("addr", &self.addr)
            .field("hft_addr", &self.hft_addr)
            .field("ws_addr", &self.ws_addr)
            .finish()
    }
}

impl Drop for FakeUpstox {
    fn drop(&mut self) {
        // Socket connections run as tasks of their own: end them with the server.
        let s = self.lock();
        s.feed.send(FeedPush::Drop);
        s.portfolio.send(PortfolioPush::Drop);
        drop(s);
        self.runner.stop();
    }
}

impl FakeUpstox {
    fn routers(state: &Shared) -> [axum::Router; 3] {
        [
            routes::router(state.clone(), Host::Api),
            routes::router(state.clone(), Host::Hft),
            feed::socket_router(state.clone()),
        ]
    }

    fn new(addrs: [SocketAddr; 3], state: Shared, runner: Runner) -> FakeUpstox {
        let [addr, hft_addr, ws_addr] = addrs;
        lock(&state).ws_root = format!("ws://{ws_addr}");
        FakeUpstox { addr, hft_addr, ws_addr, state, runner }
    }

    /// Starts the server on the current tokio runtime.
    pub async fn start() -> std::io::Result<FakeUpstox> {
        let state = Arc::new(Mutex::new(State::new()));
        let (addrs, runner) = Runner::spawn(Self::routers(&state)).await?;
        Ok(FakeUpstox::new(addrs, state, runner))
    }

    /// Starts the server on a thread of its own with its own runtime, for plain `#[test]`s.
    pub fn start_in_background() -> std::io::Result<FakeUpstox> {
        let state = Arc::new(Mutex::new(State::new()));
        let (addrs, runner) = Runner::spawn_in_background("fake-upstox", Self::routers(&state))?;
        Ok(FakeUpstox::new(addrs, state, runner))
    }

    /// The API root to give a client (in place of `https://api.upstox.com`), e.g.
    /// `http://127.0.0.1:41234`.
    pub fn root(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The order root (in place of `https://api-hft.upstox.com`): only place, modify and
    /// cancel are served there; anything else is 404 UDAPI10000.
    pub fn hft_root(&self) -> String {
        format!("http://{}", self.hft_addr)
    }

    /// The root of the sockets' one-time URLs, e.g. `ws://127.0.0.1:41236`.
    pub fn ws_root(&self) -> String {
        format!("ws://{}", self.ws_addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    // ---- Users and sessions ----

    /// Creates a user (an account with funds) and their app.
    pub fn add_user(&self, user: FakeUpstoxUser) {
        let mut s = self.lock();
        s.book.add_account(&user.user_id, &user.user_name, &user.email, user.cash, user.collateral);
        s.sessions.add_app(&user.user_id, &user.api_key, user.api_secret, &user.redirect_uri);
    }

    /// A one-time authorization code for the user of app `api_key`, as the dialog's redirect
    /// brings it after the user logged in with a browser. `None` for an unknown key.
    pub fn issue_auth_code(&self, api_key: &str) -> Option<String> {
        self.lock().sessions.issue_code(api_key)
    }

    /// A live session of app `api_key`'s user without the login flow.
    pub fn issue_session(&self, api_key: &str) -> Option<SessionTokens> {
        self.lock().sessions.open(api_key)
    }

    /// Successful token exchanges so far.
    pub fn logins(&self) -> u64 {
        self.lock().sessions.logins
    }

    /// From now on `token` (an access or extended token) is refused with 401 UDAPI100050, as
    /// after 03:30 IST. False when the fake never issued it.
    pub fn expire_token(&self, token: &str) -> bool {
        self.lock().sessions.expire(token)
    }

    /// Every access token issued so far expires (03:30 IST has passed).
    pub fn expire_all_tokens(&self) {
        self.lock().sessions.expire_all();
    }

    /// Whether `token` is an access token that still works.
    pub fn token_is_live(&self, token: &str) -> bool {
        self.lock().sessions.live_access(token).is_some()
    }

    // ---- Instruments and accounts ----

    /// Registers an instrument by its key (`NSE_EQ|INE848E01016`) with its trading symbol
    /// and last price, rupees (also the previous close and the day's open, high and low).
    pub fn set_instrument(&self, instrument_key: &str, trading_symbol: &str, ltp: f64) {
        self.lock().book.set_instrument(instrument_key, trading_symbol, ltp);
    }

    /// Moves an instrument's last price (it must be registered).
    pub fn set_ltp(&self, instrument_key: &str, ltp: f64) -> bool {
        self.lock().book.set_ltp(instrument_key, ltp)
    }

    /// The exchange's freeze quantity: a v3 order with `slice: true` above it is split.
    pub fn set_freeze_quantity(&self, instrument_key: &str, quantity: i64) -> bool {
        let mut s = self.lock();
        s.book.instruments.get_mut(instrument_key).map(|i| i.freeze_quantity = Some(quantity)).is_some()
    }

    /// Candles the historical endpoints answer with for an instrument and interval — v3's
    /// `unit/interval` (`minutes/1`, `days/1`) or v2's (`1minute`, `day`) — each
    /// `(time, [open, high, low, close], volume, oi)` with times like
    /// `2026-01-05T09:15:00+05:30`, in the order given (Upstox sends the newest first).
    pub fn set_candles(&self, instrument_key: &str, interval: &str, candles: Vec<(String, [f64; 4], i64, i64)>) {
        let rows = candles
            .into_iter()
            .map(|(t, [o, h, l, c], v, oi)| serde_json::json!([t, o, h, l, c, v, oi]))
            .collect::<Vec<_>>();
        self.lock().book.candles.insert((instrument_key.into(), interval.into()), rows);
    }

    /// Adds a delivery holding to a user's demat account.
    pub fn add_holding(&self, user_id: &str, instrument_key: &str, quantity: i64, average_price: f64) {
        self.lock().book.add_holding(user_id, instrument_key, quantity, average_price);
    }

    /// Sets a user's cash at the start of the day and collateral, rupees.
    pub fn set_funds(&self, user_id: &str, cash: f64, collateral: f64) {
        if let Some(a) = self.lock().book.accounts.get_mut(user_id) {
            a.cash = cash;
            a.collateral = collateral;
        }
    }

    // ---- Orders ----

    /// Whether MARKET orders (and marketable IOC limits) fill at once at the last price, as
    /// at an exchange in session. On by default.
    pub fn set_auto_fill(&self, on: bool) {
        self.lock().auto_fill = on;
    }

    /// Fills `quantity` of an order at `price`: a trade, the position, the funds, and the
    /// order's status (`complete` when nothing is left, else still `open`).
    pub fn fill(&self, order_id: &str, quantity: i64, price: f64) -> Result<(), String> {
        let mut s = self.lock();
        let i = s.book.order_index(order_id).ok_or_else(|| format!("no order {order_id}"))?;
        s.book.fill(i, quantity, price)
    }

    /// The exchange or the RMS rejects an order that was accepted; `reason` becomes its
    /// `status_message`.
    pub fn reject(&self, order_id: &str, reason: &str) -> Result<(), String> {
        let mut s = self.lock();
        let i = s.book.order_index(order_id).ok_or_else(|| format!("no order {order_id}"))?;
        s.book.reject(i, reason)
    }

    /// The exchange cancels what is left of an order (an IOC's remainder, a session end).
    pub fn cancel(&self, order_id: &str) -> Result<(), String> {
        let mut s = self.lock();
        let i = s.book.order_index(order_id).ok_or_else(|| format!("no order {order_id}"))?;
        s.book.cancel(i)
    }

    /// A stop-loss order's trigger is hit: `trigger pending` → `open` (an SL-M then fills at
    /// the last price when auto-fill is on).
    pub fn trigger(&self, order_id: &str) -> Result<(), String> {
        let mut s = self.lock();
        let i = s.book.order_index(order_id).ok_or_else(|| format!("no order {order_id}"))?;
        s.book.trigger(i)?;
        orders::fill_if_marketable(&mut s, i);
        Ok(())
    }

    /// The next order placed is accepted with an order id and then `rejected` with `reason`
    /// as its `status_message`, as Upstox's RMS rejects orders after accepting them.
    pub fn reject_next_order(&self, reason: &str) {
        self.lock().reject_next.push_back(reason.to_string());
    }

    /// An order as the order book shows it.
    pub fn order(&self, order_id: &str) -> Option<Value> {
        let s = self.lock();
        s.book.order_index(order_id).and_then(|i| s.book.orders.get(i)).map(|o| o.to_json())
    }

    /// Every order update so far (what the portfolio stream sends, one per status change),
    /// oldest first.
    pub fn order_updates(&self) -> Vec<Value> {
        self.lock().book.updates.clone()
    }

    // ---- Failures, limits, records ----

    /// The next request whose method is `method` (any when `None`) and whose path starts with
    /// `path_prefix` gets `failure` instead of its answer (after the header and token checks).
    pub fn fail_next(&self, method: Option<&str>, path_prefix: &str, failure: Failure) {
        self.lock().fail_next.push_back(ScriptedFailure {
            method: method.map(str::to_uppercase),
            path_prefix: path_prefix.to_string(),
            failure,
        });
    }

    /// Limits requests of `class` per user and endpoint (`None`: no limit, the default); more
    /// get HTTP 429 with UDAPI10005.
    pub fn set_rate_limit(&self, class: RateClass, limit: Option<RateLimit>) {
        let mut s = self.lock();
        match limit {
            Some(l) => s.rate_limits.insert(class, l),
            None => s.rate_limits.remove(&class),
        };
        s.windows.clear();
    }

    /// Every class limited as Upstox documents (see [`RateLimit::documented`]).
    pub fn use_documented_rate_limits(&self) {
        for class in [RateClass::Login, RateClass::Orders, RateClass::Standard] {
            self.set_rate_limit(class, Some(RateLimit::documented(class)));
        }
    }

    /// Rate-limit windows move only with [`FakeUpstox::advance_clock`] from now on.
    pub fn use_manual_clock(&self) {
        self.lock().clock.make_manual();
    }

    pub fn advance_clock(&self, by: Duration) {
        self.lock().clock.advance(by);
    }

    /// Garbles every successful answer this way until set back to `None`.
    pub fn set_malformed(&self, how: Option<Malformed>) {
        self.lock().malformed = how;
    }

    /// Every REST request received so far, on either host.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    // ---- Market Data Feed v3 ----

    /// Sends `message` (protobuf-encoded) to every open feed connection as one binary frame;
    /// how many connections there were.
    pub fn feed_push(&self, message: &proto::FeedResponse) -> usize {
        self.lock().feed.send(FeedPush::Binary(prost::Message::encode_to_vec(message)))
    }

    /// Moves an instrument's last price and sends a `live_feed` for it, in each connection's
    /// mode, to the connections subscribed to it; how many connections there are.
    pub fn feed_tick(&self, instrument_key: &str, ltp: f64) -> usize {
        let mut s = self.lock();
        if !s.book.set_ltp(instrument_key, ltp) {
            return 0;
        }
        s.feed.send(FeedPush::Tick(instrument_key.to_string()))
    }

    /// Sends these bytes as one binary frame (a damaged message, say).
    pub fn feed_push_raw(&self, bytes: Vec<u8>) -> usize {
        self.lock().feed.send(FeedPush::Binary(bytes))
    }

    pub fn feed_push_text(&self, text: &str) -> usize {
        self.lock().feed.send(FeedPush::Text(text.to_string()))
    }

    /// Sends a WebSocket ping frame, as Upstox does when the feed is idle.
    pub fn feed_ping(&self, payload: &[u8]) -> usize {
        self.lock().feed.send(FeedPush::Ping(payload.to_vec()))
    }

    /// Closes every open feed connection abruptly (no close frame).
    pub fn feed_drop_connections(&self) -> usize {
        self.lock().feed.send(FeedPush::Drop)
    }

    /// Every frame feed clients sent, in order.
    pub fn feed_requests(&self) -> Vec<FeedRequest> {
        self.lock().feed.requests.clone()
    }

    /// What the latest feed connection is subscribed to.
    pub fn feed_subscriptions(&self) -> std::collections::BTreeSet<Subscription> {
        let s = self.lock();
        s.feed.subscriptions.get(&s.feed.handshakes.accepted).cloned().unwrap_or_default()
    }

    /// A segment's status in the `market_info` message new connections get first
    /// (`proto::MarketStatus`; every segment is `NORMAL_OPEN` until set).
    pub fn feed_set_segment_status(&self, segment: &str, status: proto::MarketStatus) {
        self.lock().feed.segment_status.insert(segment.to_string(), status as i32);
    }

    /// How many instruments one connection may subscribe (Upstox: 5000 in `ltpc`); a `sub`
    /// beyond it is recorded with an error and changes nothing.
    pub fn feed_set_subscription_limit(&self, limit: usize) {
        self.lock().feed.limit = limit;
    }

    pub fn feed_handshakes(&self) -> Handshakes {
        self.lock().feed.handshakes
    }

    // ---- Portfolio stream ----

    /// Sends a text message to every open portfolio-stream connection.
    pub fn portfolio_push_text(&self, text: &str) -> usize {
        self.lock().portfolio.send(PortfolioPush::Text(text.to_string()))
    }

    /// Closes every open portfolio-stream connection abruptly.
    pub fn portfolio_drop_connections(&self) -> usize {
        self.lock().portfolio.send(PortfolioPush::Drop)
    }

    pub fn portfolio_handshakes(&self) -> Handshakes {
        self.lock().portfolio.handshakes
    }
}
