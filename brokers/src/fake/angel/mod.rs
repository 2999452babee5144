//! A fake Angel One SmartAPI server for tests, on 127.0.0.1: REST on one port, the SmartStream
//! 2.0 market-data WebSocket ([`FakeAngel::ws_root`], `stream.rs`) on another and the
//! order-update WebSocket ([`FakeAngel::order_ws_root`], `order_updates.rs`) on a third.
//!
//! It speaks SmartAPI's wire format as the official clients do (brokers.md §2): JSON bodies,
//! the eight `X-*`/`Accept`/`Content-Type` headers on every call, the
//! `{"status":true,"message":"SUCCESS","errorcode":"","data":…}` envelope, business failures
//! as HTTP 200 with `status:false` and an `AB…` code, gateway failures with the other casing
//! (`{"success":false,"errorCode":"AG8001",…}`, HTTP 401) and the plain-text HTTP 403 of the
//! rate limiter. Logins check the client code, the MPIN and the TOTP (RFC 6238, via
//! [`crate::totp`]). Behind it is a small deterministic broker (`book.rs`): accounts with
//! funds, an order book whose orders walk Angel's lowercase statuses, trades, positions from
//! fills, holdings, prices and candles.
//!
//! Tests script it through [`FakeAngel`]'s methods: add users and instruments, fill (partly),
//! reject or cancel an order, have the next order rejected by the RMS, fail the next request
//! with any error, limit request rates under a manual clock, garble answers. Every request is
//! recorded. Choices the public sources leave open (the answer to a missing header, the code
//! of an invalid candle interval, the shape of `unfetched` quotes) are the fake's own and are
//! documented where they are made; tests of a client should not depend on them.

mod book;
mod market;
mod order_updates;
mod orders;
pub mod packets;
mod routes;
mod session;
mod stream;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use super::Malformed;
use super::{Clock, Runner};
use crate::secret::Secret;
use book::Book;
use order_updates::{OrderPush, OrderWsState};
pub use packets::StreamPacket;
use stream::{StreamPush, StreamState};
pub use stream::{StreamRequest, Subscription};

/// What a request was, as the fake received it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, if any (smartapi-python JSON-dumps GET parameters into it).
    pub query: Option<String>,
    /// Header names lowercased.
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON; `None` when empty or not JSON.
    pub body: Option<Value>,
    /// The body as text (lossy UTF-8), for bodies that are not JSON.
    pub raw_body: String,
    /// When it arrived, since the server started, by the monotonic wall clock (also under
    /// [`FakeAngel::use_manual_clock`], which moves only the rate-limit windows).
    pub received: Duration,
}

/// Which of Angel's rate limits a request counts against: one class per endpoint, as Angel's
/// table (brokers.md §2.10) lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RateClass {
    Login,
    GenerateTokens,
    Profile,
    Logout,
    Rms,
    PlaceOrder,
    ModifyOrder,
    CancelOrder,
    OrderBook,
    OrderDetails,
    TradeBook,
    Position,
    Holding,
    LtpData,
    Quote,
    CandleData,
}

/// Requests allowed per client code in a second, a minute and an hour (`None`: no limit in
/// that window). Windows are fixed, starting at the first request, and read the fake's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: Option<u32>,
    pub per_minute: Option<u32>,
    pub per_hour: Option<u32>,
}

impl RateLimit {
    pub fn per_second(n: u32) -> RateLimit {
        RateLimit { per_second: Some(n), ..RateLimit::default() }
    }

    /// Angel's documented limits for a class (the current table of brokers.md §2.10).
    pub fn documented(class: RateClass) -> RateLimit {
        let l = |s: u32, m: Option<u32>, h: Option<u32>| RateLimit { per_second: Some(s), per_minute: m, per_hour: h };
        match class {
            RateClass::Login | RateClass::Logout => l(1, None, None),
            RateClass::GenerateTokens => l(1, None, Some(1000)),
            RateClass::Profile => l(3, None, Some(1000)),
            RateClass::Rms => l(2, None, None),
            RateClass::PlaceOrder | RateClass::ModifyOrder | RateClass::CancelOrder => l(9, Some(500), Some(1000)),
            RateClass::OrderBook | RateClass::TradeBook | RateClass::Position | RateClass::Holding => l(1, None, None),
            RateClass::OrderDetails | RateClass::LtpData | RateClass::Quote => l(10, Some(500), Some(5000)),
            RateClass::CandleData => l(3, Some(180), Some(5000)),
        }
    }
}

/// What a scripted failure answers (see [`FakeAngel::fail_next`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 200, `{"status":false,"message":…,"errorcode":…,"data":null}`.
    Business { errorcode: String, message: String },
    /// The gateway's casing, `{"success":false,"message":…,"errorCode":…,"data":""}`.
    Gateway { status: u16, error_code: String, message: String },
    /// The rate limiter's HTTP 403 with its plain-text sentence.
    RateLimited,
    /// Anything else: a WAF page, a 502 from a proxy.
    Raw { status: u16, content_type: String, body: String },
}

impl Failure {
    pub fn business(errorcode: &str, message: &str) -> Failure {
        Failure::Business { errorcode: errorcode.into(), message: message.into() }
    }

    pub fn gateway(status: u16, error_code: &str, message: &str) -> Failure {
        Failure::Gateway { status, error_code: error_code.into(), message: message.into() }
    }

    pub fn raw(status: u16, content_type: &str, body: &str) -> Failure {
        Failure::Raw { status, content_type: content_type.into(), body: body.into() }
    }
}

/// WebSocket handshakes so far, on one of the two sockets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Handshakes {
    pub accepted: u64,
    /// Refused with 401/403 (bad headers, unknown or expired tokens).
    pub refused: u64,
    /// Connections open now.
    pub open: u64,
}

/// The tokens of a session, as `loginByPassword` returns them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTokens {
    pub jwt_token: String,
    pub refresh_token: String,
    pub feed_token: String,
}

/// A user to create with [`FakeAngel::add_user`].
#[derive(Clone, Debug)]
pub struct FakeAngelUser {
    pub client_code: String,
    pub name: String,
    pub email: String,
    pub mpin: String,
    /// The base32 TOTP seed the user's authenticator app holds.
    pub totp_seed: Secret,
    pub api_key: String,
    /// Cash at the start of the day, rupees.
    pub cash: f64,
    pub collateral: f64,
}

impl FakeAngelUser {
    /// A user with a lakh of rupees and no collateral.
    pub fn new(client_code: &str, mpin: &str, totp_seed: &str, api_key: &str) -> FakeAngelUser {
        FakeAngelUser {
            client_code: client_code.into(),
            name: format!("FAKE {client_code}"),
            email: format!("{}@example.com", client_code.to_lowercase()),
            mpin: mpin.into(),
            totp_seed: Secret::new(totp_seed),
            api_key: api_key.into(),
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

#[derive(Clone, Debug)]
struct User {
    mpin: String,
    totp_seed: Secret,
    api_key: String,
}

/// Everything the fake knows, behind one lock.
#[derive(Debug)]
struct State {
    users: BTreeMap<String, User>,
    sessions: session::Sessions,
    logins: u64,
    /// Unix seconds the TOTP check uses; `None`: the wall clock.
    totp_time: Option<u64>,
    book: Book,
    reject_next: VecDeque<String>,
    fail_next: VecDeque<ScriptedFailure>,
    malformed: Option<Malformed>,
    auto_fill: bool,
    rate_limits: BTreeMap<RateClass, RateLimit>,
    /// Per (client code, class, window length in seconds): start of the window and its count.
    windows: BTreeMap<(String, RateClass, u64), (Duration, u32)>,
    clock: Clock,
    started: Instant,
    requests: Vec<RecordedRequest>,
    stream: StreamState,
    order_ws: OrderWsState,
}

impl State {
    fn new() -> State {
        let order_ws = OrderWsState::new();
        State {
            users: BTreeMap::new(),
            sessions: session::Sessions::default(),
            logins: 0,
            totp_time: None,
            book: Book::new(order_ws.push.clone()),
            reject_next: VecDeque::new(),
            fail_next: VecDeque::new(),
            malformed: None,
            auto_fill: true,
            rate_limits: BTreeMap::new(),
            windows: BTreeMap::new(),
            clock: Clock::new(),
            started: Instant::now(),
            requests: Vec::new(),
            stream: StreamState::new(),
            order_ws,
        }
    }

    /// The client code an API key belongs to.
    fn client_of_key(&self, api_key: &str) -> Option<&str> {
        self.users.iter().find(|(_, u)| u.api_key == api_key).map(|(c, _)| c.as_str())
    }
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake Angel One server. Stops when dropped.
pub struct FakeAngel {
    addr: SocketAddr,
    ws_addr: SocketAddr,
    order_ws_addr: SocketAddr,
    state: Shared,
    runner: Runner,
}

impl std::fmt::Debug for FakeAngel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAngel")
            .field("addr", &self.addr)
            .field("ws_addr", &self.ws_addr)
            .field("order_ws_addr", &self.order_ws_addr)
            .finish()
    }
}

impl Drop for FakeAngel {
    fn drop(&mut self) {
        // WebSocket connections run as tasks of their own: end them with the server.
        let s = self.lock();
        s.stream.send(StreamPush::Drop);
        s.order_ws.send(OrderPush::Drop);
        drop(s);
        self.runner.stop();
    }
}

impl FakeAngel {
    fn routers(state: &Shared) -> [axum::Router; 3] {
        [routes::router(state.clone()), stream::router(state.clone()), order_updates::router(state.clone())]
    }

    /// Starts the server on the current tokio runtime.
    pub async fn start() -> std::io::Result<FakeAngel> {
        let state = Arc::new(Mutex::new(State::new()));
        let ([addr, ws_addr, order_ws_addr], runner) = Runner::spawn(Self::routers(&state)).await?;
        Ok(FakeAngel { addr, ws_addr, order_ws_addr, state, runner })
    }

    /// Starts the server on a thread of its own with its own runtime, for plain `#[test]`s.
    pub fn start_in_background() -> std::io::Result<FakeAngel> {
        let state = Arc::new(Mutex::new(State::new()));
        let ([addr, ws_addr, order_ws_addr], runner) =
            Runner::spawn_in_background("fake-angel", Self::routers(&state))?;
        Ok(FakeAngel { addr, ws_addr, order_ws_addr, state, runner })
    }

    /// The REST root to give a client (in place of `https://apiconnect.angelone.in`), e.g.
    /// `http://127.0.0.1:41234`.
    pub fn root(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The SmartStream root, e.g. `ws://127.0.0.1:41235`, in place of
    /// `wss://smartapisocket.angelone.in`; every path is served, `/smart-stream` included.
    pub fn ws_root(&self) -> String {
        format!("ws://{}", self.ws_addr)
    }

    /// The order-update socket's root, e.g. `ws://127.0.0.1:41236`, in place of
    /// `wss://tns.angelone.in`; every path is served, `/smart-order-update` included.
    pub fn order_ws_root(&self) -> String {
        format!("ws://{}", self.order_ws_addr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    // ---- Users and sessions ----

    /// Creates a user (an account with funds) whose app has `api_key`.
    pub fn add_user(&self, user: FakeAngelUser) {
        let mut s = self.lock();
        s.users.insert(
            user.client_code.clone(),
            User { mpin: user.mpin, totp_seed: user.totp_seed, api_key: user.api_key },
        );
        s.book.add_account(&user.client_code, &user.name, &user.email, user.cash, user.collateral);
    }

    /// The unix time the TOTP check uses from now on (`None`: the wall clock, the default), so
    /// a test can compute the code of a fixed instant with [`crate::totp::code_at`].
    pub fn set_totp_time(&self, unix_secs: Option<u64>) {
        self.lock().totp_time = unix_secs;
    }

    /// Successful logins so far.
    pub fn logins(&self) -> u64 {
        self.lock().logins
    }

    /// A live session for `client_code` without the login call.
    pub fn issue_session(&self, client_code: &str) -> Option<SessionTokens> {
        let mut s = self.lock();
        let api_key = s.users.get(client_code)?.api_key.clone();
        Some(s.sessions.open(client_code, &api_key))
    }

    /// From now on `token` (a JWT, a refresh token or a feed token) is expired: a JWT gets
    /// AG8002, a refresh token AB8051, a feed token a refused SmartStream handshake, as after
    /// Angel's midnight expiry. False when the fake never issued it.
    pub fn expire_token(&self, token: &str) -> bool {
        self.lock().sessions.expire(token)
    }

    /// Whether `jwt` is a JWT that is still live.
    pub fn token_is_live(&self, jwt: &str) -> bool {
        self.lock().sessions.live_jwt(jwt).is_some()
    }

    // ---- Instruments and accounts ----

    /// Registers an instrument (`exchange` as in orders, e.g. `NSE`; `token` the symbol token)
    /// with its last price, rupees.
    pub fn set_instrument(&self, exchange: &str, tradingsymbol: &str, token: &str, ltp: f64) {
        self.lock().book.set_instrument(exchange, tradingsymbol, token, ltp);
    }

    /// Moves an instrument's last price (it must be registered).
    pub fn set_ltp(&self, exchange: &str, token: &str, ltp: f64) -> bool {
        self.lock().book.set_ltp(exchange, token, ltp)
    }

    /// Candles `getCandleData` answers with for an instrument and interval (`ONE_MINUTE`, …),
    /// each `(time, [open, high, low, close], volume)` with times like
    /// `2026-01-05T09:15:00+05:30`.
    pub fn set_candles(&self, exchange: &str, token: &str, interval: &str, candles: Vec<(String, [f64; 4], i64)>) {
        let rows =
            candles.into_iter().map(|(t, [o, h, l, c], v)| serde_json::json!([t, o, h, l, c, v])).collect::<Vec<_>>();
        self.lock().book.candles.insert((exchange.into(), token.into(), interval.into()), rows);
    }

    /// Adds a delivery holding to a user's demat account.
    pub fn add_holding(
        &self,
        client_code: &str,
        exchange: &str,
        tradingsymbol: &str,
        quantity: i64,
        average_price: f64,
    ) {
        self.lock().book.add_holding(client_code, exchange, tradingsymbol, quantity, average_price);
    }

    /// Sets a user's cash at the start of the day and collateral, rupees.
    pub fn set_funds(&self, client_code: &str, cash: f64, collateral: f64) {
        if let Some(a) = self.lock().book.accounts.get_mut(client_code) {
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
    pub fn fill(&self, orderid: &str, quantity: i64, price: f64) -> Result<(), String> {
        let mut s = self.lock();
        let i = s.book.order_index(orderid).ok_or_else(|| format!("no order {orderid}"))?;
        s.book.fill(i, quantity, price)
    }

    /// The exchange or RMS rejects an order that was accepted; `reason` becomes its `text`.
    pub fn reject(&self, orderid: &str, reason: &str) -> Result<(), String> {
        let mut s = self.lock();
        let i = s.book.order_index(orderid).ok_or_else(|| format!("no order {orderid}"))?;
        s.book.reject(i, reason)
    }

    /// The exchange cancels what is left of an order (an IOC's remainder, a session end).
    pub fn cancel(&self, orderid: &str) -> Result<(), String> {
        let mut s = self.lock();
        let i = s.book.order_index(orderid).ok_or_else(|| format!("no order {orderid}"))?;
        s.book.cancel(i)
    }

    /// A stop-loss order's trigger is hit: `trigger pending` → `open`.
    pub fn trigger(&self, orderid: &str) -> Result<(), String> {
        let mut s = self.lock();
        let i = s.book.order_index(orderid).ok_or_else(|| format!("no order {orderid}"))?;
        s.book.trigger(i)
    }

    /// The next order placed is accepted with an order id and then `rejected` with `reason`
    /// as its `text`, as Angel's RMS rejects orders after accepting them.
    pub fn reject_next_order(&self, reason: &str) {
        self.lock().reject_next.push_back(reason.to_string());
    }

    /// An order as `getOrderBook` shows it (numbers as strings).
    pub fn order(&self, orderid: &str) -> Option<Value> {
        let s = self.lock();
        s.book.order_index(orderid).and_then(|i| s.book.orders.get(i)).map(|o| o.to_json(false))
    }

    /// Every order-update message so far (the AB01…AB11 messages the order socket sends),
    /// oldest first.
    pub fn order_events(&self) -> Vec<Value> {
        self.lock().book.events.clone()
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

    /// Limits requests of `class` per client code (`None`: no limit, the default); more get
    /// HTTP 403 "Access denied because of exceeding access rate".
    pub fn set_rate_limit(&self, class: RateClass, limit: Option<RateLimit>) {
        let mut s = self.lock();
        match limit {
            Some(l) => s.rate_limits.insert(class, l),
            None => s.rate_limits.remove(&class),
        };
        s.windows.clear();
    }

    /// Every class limited as Angel documents (see [`RateLimit::documented`]).
    pub fn use_documented_rate_limits(&self) {
        use RateClass::*;
        for class in [
            Login,
            GenerateTokens,
            Profile,
            Logout,
            Rms,
            PlaceOrder,
            ModifyOrder,
            CancelOrder,
            OrderBook,
            OrderDetails,
            TradeBook,
            Position,
            Holding,
            LtpData,
            Quote,
            CandleData,
        ] {
            self.set_rate_limit(class, Some(RateLimit::documented(class)));
        }
    }

    /// Rate-limit windows move only with [`FakeAngel::advance_clock`] from now on.
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

    /// Every REST request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    // ---- SmartStream ----

    /// Sends one packet (encoded by [`packets::encode`]) to every open SmartStream connection
    /// as one binary message; how many connections there were.
    pub fn stream_push_packet(&self, packet: &StreamPacket) -> usize {
        self.lock().stream.send(StreamPush::Binary(packets::encode(packet)))
    }

    /// Sends these bytes as one binary message (a damaged packet, say).
    pub fn stream_push_raw(&self, bytes: Vec<u8>) -> usize {
        self.lock().stream.send(StreamPush::Binary(bytes))
    }

    /// Sends a text message.
    pub fn stream_push_text(&self, text: &str) -> usize {
        self.lock().stream.send(StreamPush::Text(text.to_string()))
    }

    /// Closes every open SmartStream connection abruptly (no close frame).
    pub fn stream_drop_connections(&self) -> usize {
        self.lock().stream.send(StreamPush::Drop)
    }

    /// Every text message SmartStream clients sent, in order (pings included).
    pub fn stream_requests(&self) -> Vec<StreamRequest> {
        self.lock().stream.requests.clone()
    }

    /// What the latest SmartStream connection is subscribed to.
    pub fn stream_subscriptions(&self) -> std::collections::BTreeSet<Subscription> {
        let s = self.lock();
        s.stream.subscriptions.get(&s.stream.handshakes.accepted).cloned().unwrap_or_default()
    }

    /// How many token×mode subscriptions one connection may hold (Angel: 1000); a subscribe
    /// beyond it gets E1002 and changes nothing.
    pub fn stream_set_subscription_limit(&self, limit: usize) {
        self.lock().stream.limit = limit;
    }

    pub fn stream_handshakes(&self) -> Handshakes {
        self.lock().stream.handshakes
    }

    // ---- Order-update socket ----

    /// Sends a text message to every open order-update connection.
    pub fn order_ws_push_text(&self, text: &str) -> usize {
        self.lock().order_ws.send(OrderPush::Text(text.to_string()))
    }

    /// Closes every open order-update connection abruptly.
    pub fn order_ws_drop_connections(&self) -> usize {
        self.lock().order_ws.send(OrderPush::Drop)
    }

    /// Every text message order-update clients sent, in order.
    pub fn order_ws_requests(&self) -> Vec<String> {
        self.lock().order_ws.requests.clone()
    }

    pub fn order_ws_handshakes(&self) -> Handshakes {
        self.lock().order_ws.handshakes
    }
}
