//! A fake Kite Connect v3 server for tests, on 127.0.0.1: REST on one port, the KiteTicker
//! WebSocket ([`FakeKite::ws_root`], `ticker.rs`) on another.
//!
//! It speaks Kite's wire format as the official client does (form bodies, repeated `i`
//! query keys, the `{"status":…}` envelope, Kite's `error_type` names and HTTP statuses) and
//! checks what the real API requires of a client: `X-Kite-Version: 3`, `Authorization: token
//! api_key:access_token` with a live token, the session checksum. Behind it is a small
//! deterministic broker (`book.rs`): users with funds, an order book whose orders walk through
//! Kite's statuses, trades, positions derived from fills, holdings and prices.
//!
//! Tests script it through [`FakeKite`]'s methods: issue a request token as if the user had
//! logged in with a browser, fill, reject or cancel an order, expire a session, fail the next
//! request with any error, limit the request rate (429), or garble answers. Every request is
//! recorded for tests that check what a client sent.
//!
//! Order changes are also appended to an update log ([`FakeKite::order_updates`]), in the
//! postback's shape; [`FakeKite::ticker_push_order_updates`] streams them on the ticker socket
//! as Kite does (`{"type":"order","data":…}`).
//!
//! The ticker side checks the token like the REST side, records what clients subscribe to,
//! sends Kite's one-second heartbeats, and sends what tests push: frames built from packets
//! ([`ticker::frame_of`] and the packet constructors), raw bytes, text; it can drop its
//! connections or leave them half-open.

mod book;
mod routes;
pub mod ticker;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use super::Malformed;
use super::{Clock, Runner};

use book::{Book, FakeHolding, Instrument};
use ticker::{Push, TickerState};
pub use ticker::{TickerHandshakes, TickerRequest};

/// What a request was, as the fake received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Decoded query pairs in the order sent.
    pub query: Vec<(String, String)>,
    /// Decoded form fields in the order sent.
    pub form: Vec<(String, String)>,
    /// Header names lowercased.
    pub headers: BTreeMap<String, String>,
    /// When it arrived, since the server started, by the monotonic wall clock (also under
    /// [`FakeKite::use_manual_clock`], which moves only the rate-limit windows): what a test
    /// of a client's pacing measures.
    pub received: Duration,
}

/// Which of Kite's rate limits a request counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RateClass {
    /// `/quote`, `/quote/ltp`, `/quote/ohlc` (Kite: 1 per second).
    Quote,
    /// Historical candles (Kite: 3 per second).
    Historical,
    /// Placing, modifying and cancelling orders (Kite: 10 per second).
    Orders,
    /// Everything else (Kite: 10 per second).
    Other,
}

/// An error the next matching request gets instead of its answer.
#[derive(Clone, Debug)]
struct ScriptedError {
    method: Option<String>,
    path_prefix: String,
    status: u16,
    error_type: String,
    message: String,
}

#[derive(Clone, Debug)]
struct App {
    api_secret: String,
    user_id: String,
}

#[derive(Clone, Debug)]
struct SessionState {
    api_key: String,
    user_id: String,
    expired: bool,
}

/// Everything the fake knows, behind one lock.
#[derive(Debug)]
struct State {
    apps: BTreeMap<String, App>,
    request_tokens: BTreeMap<String, (String, String)>,
    sessions: BTreeMap<String, SessionState>,
    book: Book,
    next_token: u64,
    reject_next: VecDeque<String>,
    fail_next: VecDeque<ScriptedError>,
    malformed: Option<Malformed>,
    auto_fill: bool,
    rate_limits: BTreeMap<RateClass, u32>,
    /// Per (client key, class): start of the current one-second window and its count.
    windows: BTreeMap<(String, RateClass), (Duration, u32)>,
    clock: Clock,
    /// When the server started, for [`RecordedRequest::received`].
    started: Instant,
    requests: Vec<RecordedRequest>,
    ticker: TickerState,
}

impl State {
    fn new() -> State {
        State {
            apps: BTreeMap::new(),
            request_tokens: BTreeMap::new(),
            sessions: BTreeMap::new(),
            book: Book::default(),
            next_token: 0,
            reject_next: VecDeque::new(),
            fail_next: VecDeque::new(),
            malformed: None,
            auto_fill: true,
            rate_limits: BTreeMap::new(),
            windows: BTreeMap::new(),
            clock: Clock::new(),
            started: Instant::now(),
            requests: Vec::new(),
            ticker: TickerState::new(),
        }
    }

    /// A token no test string will contain by accident.
    fn new_token(&mut self, prefix: &str) -> String {
        self.next_token += 1;
        format!(
            "{prefix}{:08}x{:018}",
            self.next_token,
            self.next_token.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 10u64.pow(18)
        )
    }
}

/// A user to create with [`FakeKite::add_user`].
#[derive(Clone, Debug)]
pub struct FakeUser {
    pub user_id: String,
    pub user_name: String,
    pub email: String,
    pub api_key: String,
    pub api_secret: String,
    /// Cash at the start of the day, rupees.
    pub opening_balance: f64,
    pub collateral: f64,
}

impl FakeUser {
    /// A user with a lakh of rupees and no collateral.
    pub fn new(user_id: &str, api_key: &str, api_secret: &str) -> FakeUser {
        FakeUser {
            user_id: user_id.into(),
            user_name: format!("Fake {user_id}"),
            email: format!("{}@example.com", user_id.to_lowercase()),
            api_key: api_key.into(),
            api_secret: api_secret.into(),
            opening_balance: 100_000.0,
            collateral: 0.0,
        }
    }
}

/// A running fake Kite server. Stops when dropped.
pub struct FakeKite {
    addr: SocketAddr,
    ws_addr: SocketAddr,
    state: Arc<Mutex<State>>,
    runner: Runner,
}

impl std::fmt::Debug for FakeKite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeKite").field("addr", &self.addr).field("ws_addr", &self.ws_addr).finish()
    }
}

impl Drop for FakeKite {
    fn drop(&mut self) {
        // Ticker connections run as tasks of their own: end them with the server.
        self.lock().ticker.send(Push::Drop);
        self.runner.stop();
    }
}

impl FakeKite {
    /// Starts the server on the current tokio runtime.
    pub async fn start() -> std::io::Result<FakeKite> {
        let state = Arc::new(Mutex::new(State::new()));
        let ([addr, ws_addr], runner) =
            Runner::spawn([routes::router(state.clone()), ticker::router(state.clone())]).await?;
        Ok(FakeKite { addr, ws_addr, state, runner })
    }

    /// Starts the server on a thread of its own with its own runtime: for plain `#[test]`s,
    /// such as those that run the `dalal` binary against it.
    pub fn start_in_background() -> std::io::Result<FakeKite> {
        let state = Arc::new(Mutex::new(State::new()));
        let routers = [routes::router(state.clone()), ticker::router(state.clone())];
        let ([addr, ws_addr], runner) = Runner::spawn_in_background("fake-kite", routers)?;
        Ok(FakeKite { addr, ws_addr, state, runner })
    }

    /// The root URL to give a client, e.g. `http://127.0.0.1:41234`.
    pub fn root(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The ticker's root URL to give a WebSocket client (in place of `wss://ws.kite.trade`),
    /// e.g. `ws://127.0.0.1:41235`; the client adds `?api_key=…&access_token=…`.
    pub fn ws_root(&self) -> String {
        format!("ws://{}", self.ws_addr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates a user whose app has `api_key` and `api_secret`.
    pub fn add_user(&self, user: FakeUser) {
        let mut s = self.lock();
        s.apps.insert(user.api_key.clone(), App { api_secret: user.api_secret, user_id: user.user_id.clone() });
        s.book.accounts.insert(
            user.user_id.clone(),
            book::Account {
                user_id: user.user_id,
                user_name: user.user_name,
                email: user.email,
                opening_balance: user.opening_balance,
                collateral: user.collateral,
                positions: BTreeMap::new(),
                holdings: Vec::new(),
            },
        );
    }

    /// What Kite appends to the redirect URL after the user of `api_key` logs in with a
    /// browser: a single-use request token.
    pub fn issue_request_token(&self, api_key: &str) -> Option<String> {
        let mut s = self.lock();
        let user_id = s.apps.get(api_key)?.user_id.clone();
        let token = s.new_token("req");
        s.request_tokens.insert(token.clone(), (api_key.to_string(), user_id));
        Some(token)
    }

    /// A live access token for the user of `api_key`, without the login exchange.
    pub fn issue_access_token(&self, api_key: &str) -> Option<String> {
        let mut s = self.lock();
        let user_id = s.apps.get(api_key)?.user_id.clone();
        let token = s.new_token("acc");
        s.sessions.insert(token.clone(), SessionState { api_key: api_key.to_string(), user_id, expired: false });
        Some(token)
    }

    /// From now on requests with `access_token` get 403 `TokenException`, as when Kite expires
    /// a session at 06:00 or the user logs out elsewhere.
    pub fn expire_token(&self, access_token: &str) -> bool {
        match self.lock().sessions.get_mut(access_token) {
            Some(s) => {
                s.expired = true;
                true
            }
            None => false,
        }
    }

    /// Whether `access_token` is a session that is still live.
    pub fn token_is_live(&self, access_token: &str) -> bool {
        self.lock().sessions.get(access_token).is_some_and(|s| !s.expired)
    }

    /// Registers an instrument with its token and last price.
    pub fn set_instrument(&self, exchange: &str, tradingsymbol: &str, instrument_token: u64, last_price: f64) {
        let mut s = self.lock();
        let i = s.book.instruments.entry((exchange.into(), tradingsymbol.into())).or_default();
        i.token = instrument_token;
        i.last_price = last_price;
        i.ohlc = [last_price; 4];
    }

    /// Moves an instrument's last price (it must be registered).
    pub fn set_ltp(&self, exchange: &str, tradingsymbol: &str, last_price: f64) -> bool {
        let mut s = self.lock();
        let Some(i) = s.book.instruments.get_mut(&(exchange.to_string(), tradingsymbol.to_string())) else {
            return false;
        };
        let Instrument { ohlc, .. } = i;
        ohlc[1] = ohlc[1].max(last_price);
        ohlc[2] = ohlc[2].min(last_price);
        i.last_price = last_price;
        i.volume += 1;
        true
    }

    /// Candles `/instruments/historical/{token}/{interval}` answers with, each
    /// `[time, open, high, low, close, volume, oi]` (times like `2026-01-05T09:15:00+0530`).
    pub fn set_candles(&self, instrument_token: u64, interval: &str, candles: Vec<(String, [f64; 4], i64, i64)>) {
        let rows =
            candles.into_iter().map(|(t, [o, h, l, c], v, oi)| serde_json::json!([t, o, h, l, c, v, oi])).collect();
        self.lock().book.candles.insert((instrument_token, interval.to_string()), rows);
    }

    /// Adds a delivery holding to a user's demat account.
    pub fn add_holding(&self, user_id: &str, exchange: &str, tradingsymbol: &str, quantity: i64, average_price: f64) {
        let mut s = self.lock();
        let token = s
            .book
            .instruments
            .get(&(exchange.to_string(), tradingsymbol.to_string()))
            .map(|i| i.token)
            .unwrap_or_default();
        if let Some(a) = s.book.accounts.get_mut(user_id) {
            a.holdings.push(FakeHolding {
                exchange: exchange.into(),
                tradingsymbol: tradingsymbol.into(),
                instrument_token: token,
                isin: format!("INE{:09}", token % 1_000_000_000),
                quantity,
                used_quantity: 0,
                average_price,
            });
        }
    }

    /// Sets a user's cash at the start of the day and collateral.
    pub fn set_funds(&self, user_id: &str, opening_balance: f64, collateral: f64) {
        if let Some(a) = self.lock().book.accounts.get_mut(user_id) {
            a.opening_balance = opening_balance;
            a.collateral = collateral;
        }
    }

    /// Whether MARKET orders (and marketable IOC limits) fill at once at the last price, as
    /// at an exchange in session. On by default.
    pub fn set_auto_fill(&self, on: bool) {
        self.lock().auto_fill = on;
    }

    /// Fills `quantity` of an order at `price`: a trade, the position, the funds, and the
    /// order's state (`COMPLETE` when nothing is left, else still `OPEN`).
    pub fn fill(&self, order_id: &str, quantity: i64, price: f64) -> Result<(), String> {
        let mut s = self.lock();
        let i = s.book.order_index(order_id).ok_or_else(|| format!("no order {order_id}"))?;
        s.book.fill(i, quantity, price)
    }

    /// The exchange or RMS rejects an order that was accepted.
    pub fn reject(&self, order_id: &str, reason: &str) -> Result<(), String> {
        let mut s = self.lock();
        let i = s.book.order_index(order_id).ok_or_else(|| format!("no order {order_id}"))?;
        s.book.reject(i, reason)
    }

    /// The exchange cancels what is left of an order (an IOC's remainder, a session end).
    pub fn cancel(&self, order_id: &str) -> Result<(), String> {
        let mut s = self.lock();
        let i = s.book.order_index(order_id).ok_or_else(|| format!("no order {order_id}"))?;
        s.book.cancel(i, None)
    }

    /// A stop order's trigger is hit: `TRIGGER PENDING` → `OPEN`.
    pub fn trigger(&self, order_id: &str) -> Result<(), String> {
        let mut s = self.lock();
        let i = s.book.order_index(order_id).ok_or_else(|| format!("no order {order_id}"))?;
        if s.book.orders.get(i).is_none_or(|o| o.status != "TRIGGER PENDING") {
            return Err(format!("order {order_id} is not waiting for a trigger"));
        }
        s.book.record(i, "OPEN");
        Ok(())
    }

    /// The next order placed is accepted with an order id and then rejected with `reason`
    /// (an RMS or exchange reason, as Kite reports them in the order book).
    pub fn reject_next_order(&self, reason: &str) {
        self.lock().reject_next.push_back(reason.to_string());
    }

    /// The next request whose method is `method` (any when `None`) and whose path starts with
    /// `path_prefix` gets this error envelope instead of its answer.
    pub fn fail_next(&self, method: Option<&str>, path_prefix: &str, status: u16, error_type: &str, message: &str) {
        self.lock().fail_next.push_back(ScriptedError {
            method: method.map(str::to_uppercase),
            path_prefix: path_prefix.to_string(),
            status,
            error_type: error_type.to_string(),
            message: message.to_string(),
        });
    }

    /// At most `per_second` requests of `class` per client and second (`None`: no limit);
    /// more get HTTP 429 with Kite's `NetworkException` envelope.
    pub fn set_rate_limit(&self, class: RateClass, per_second: Option<u32>) {
        let mut s = self.lock();
        match per_second {
            Some(n) => s.rate_limits.insert(class, n),
            None => s.rate_limits.remove(&class),
        };
        s.windows.clear();
    }

    /// Rate-limit windows move only with [`FakeKite::advance_clock`] from now on.
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

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// An order's current state, as `/orders` shows it.
    pub fn order(&self, order_id: &str) -> Option<Value> {
        let s = self.lock();
        s.book.orders.iter().find(|o| o.order_id == order_id).map(|o| o.to_json())
    }

    /// Every order change so far, `(sequence, order)`, oldest first.
    pub fn order_updates(&self) -> Vec<(u64, Value)> {
        self.lock().book.updates.clone()
    }

    /// Sends a frame of these packets to every open ticker connection; how many there were.
    pub fn ticker_push_packets(&self, packets: &[crate::kite::ticker::Packet]) -> usize {
        self.lock().ticker.send(Push::Binary(ticker::frame_of(packets)))
    }

    /// Sends these bytes as one binary message (a damaged frame, say).
    pub fn ticker_push_raw(&self, bytes: Vec<u8>) -> usize {
        self.lock().ticker.send(Push::Binary(bytes))
    }

    /// Sends a text message (`{"type":"order",…}`, `{"type":"error",…}`, or anything).
    pub fn ticker_push_text(&self, text: &str) -> usize {
        self.lock().ticker.send(Push::Text(text.to_string()))
    }

    /// Sends one heartbeat (a one-byte binary message) now.
    pub fn ticker_push_heartbeat(&self) -> usize {
        self.lock().ticker.send(Push::Binary(vec![0]))
    }

    /// Sends the order changes not sent yet (see [`FakeKite::order_updates`]) as Kite's
    /// `{"type":"order","data":…}` text messages; how many.
    pub fn ticker_push_order_updates(&self) -> usize {
        let mut s = self.lock();
        let fresh: Vec<Value> = s.book.updates.iter().skip(s.ticker.updates_pushed).map(|(_, o)| o.clone()).collect();
        s.ticker.updates_pushed += fresh.len();
        for order in &fresh {
            s.ticker.send(Push::Text(serde_json::json!({"type": "order", "data": order}).to_string()));
        }
        fresh.len()
    }

    /// Closes every open ticker connection abruptly (no close frame).
    pub fn ticker_drop_connections(&self) -> usize {
        self.lock().ticker.send(Push::Drop)
    }

    /// Makes every open ticker connection half-open: no more heartbeats, data or reads, and
    /// no close. Connections opened afterwards behave normally.
    pub fn ticker_half_open(&self) -> usize {
        self.lock().ticker.send(Push::HalfOpen)
    }

    /// How often connections opened from now on get a heartbeat (`None`: never). Kite's
    /// one second by default.
    pub fn ticker_set_heartbeat(&self, every: Option<Duration>) {
        self.lock().ticker.heartbeat = every;
    }

    /// Every text message ticker clients sent, in order.
    pub fn ticker_requests(&self) -> Vec<TickerRequest> {
        self.lock().ticker.requests.clone()
    }

    /// What the latest ticker connection is subscribed to: token → mode.
    pub fn ticker_subscriptions(&self) -> BTreeMap<u32, String> {
        let s = self.lock();
        s.ticker.subscriptions.get(&s.ticker.handshakes.accepted).cloned().unwrap_or_default()
    }

    /// Each open ticker connection's subscriptions (token → mode), by connection number
    /// (numbers grow with each accepted handshake).
    pub fn ticker_open_subscriptions(&self) -> BTreeMap<u64, BTreeMap<u32, String>> {
        let s = self.lock();
        s.ticker.open.iter().map(|c| (*c, s.ticker.subscriptions.get(c).cloned().unwrap_or_default())).collect()
    }

    pub fn ticker_handshakes(&self) -> TickerHandshakes {
        self.lock().ticker.handshakes
    }
}
