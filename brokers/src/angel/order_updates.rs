//! Angel One's order-update WebSocket (brokers.md §2.12) as a client ([`OrderUpdates`]): each
//! status change of the account's orders, handed to a callback as the order object
//! ([`Order`], the order book's shape with numeric prices).
//!
//! It connects to `wss://tns.angelone.in/smart-order-update` with `Authorization: Bearer <jwt>`
//! and, as the official Python client does, `x-api-key`, `x-client-code` and `x-feed-token`,
//! on a thread of its own with a current-thread runtime. There is nothing to subscribe to: the
//! server greets with an AB00 message (whose `orderData` is all blank; counted and ignored),
//! then sends one JSON text per order event, `{"order-status":"AB05","orderData":{…},…}`. It
//! sends the text `ping` every [`OrderUpdatesConfig::ping_interval`] (Angel: every 10 s; the
//! server answers `pong`), takes a socket silent for [`OrderUpdatesConfig::stale_after`] for
//! dead, and reconnects with capped, jittered backoff, as SmartStream does (the connection code
//! is shared, `smartstream/link.rs`); refused handshakes (401 invalid token, 403 expired) are
//! reported with Angel's reason, and after a few in a row it waits for new credentials.
//!
//! Events that happen while the socket is down are not replayed by Angel: after a reconnect,
//! reconcile against the order book. A message that does not parse is counted and logged,
//! never a panic; a callback that panics is counted and the socket goes on. The callback runs
//! on the socket's thread: it should hand the order on (to a channel) rather than work on it.
//! Dropping the handle stops the thread (at once, or when a running callback returns).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::Order;
use super::smartstream::link::{LinkConfig, LinkState, Protocol, Runner};
use super::smartstream::{
    ConnectionCounters, Credentials, CredentialsHandle, SocketHealth, SocketMonitor, SocketStats, SocketStatus,
};
use crate::secret::Secret;
use dalal_core::model::Timestamp;

/// The order-update socket's endpoint.
pub const ORDER_UPDATE_ROOT: &str = "wss://tns.angelone.in/smart-order-update";

/// Where order updates go. It runs on the socket's thread.
pub type OrderCallback = Box<dyn Fn(Order) + Send + Sync>;

/// How to reach the order-update socket.
#[derive(Clone, Debug)]
pub struct OrderUpdatesConfig {
    /// [`ORDER_UPDATE_ROOT`], or a fake server's `ws://127.0.0.1:…/smart-order-update`.
    pub ws_root: String,
    pub api_key: String,
    pub client_code: String,
    pub jwt: Secret,
    pub feed_token: Secret,
    /// How often the text `ping` goes out (Angel: every 10 s).
    pub ping_interval: Duration,
    /// A connection with no message at all (not even a pong) for this long is dead; longer
    /// than the ping interval.
    pub stale_after: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// TCP, TLS and WebSocket handshake together.
    pub connect_timeout: Duration,
    /// Handshakes refused with 401/403 in a row before the socket waits for new credentials.
    pub auth_attempts: u32,
}

impl OrderUpdatesConfig {
    /// Angel's endpoint and the defaults: a ping every 10 s, stale after 30 s, backoff 0.5 s
    /// doubling to 30 s, 10 s to connect, two refused handshakes before waiting.
    pub fn new(api_key: &str, client_code: &str, jwt: Secret, feed_token: Secret) -> OrderUpdatesConfig {
        OrderUpdatesConfig {
            ws_root: ORDER_UPDATE_ROOT.to_string(),
            api_key: api_key.to_string(),
            client_code: client_code.to_string(),
            jwt,
            feed_token,
            ping_interval: Duration::from_secs(10),
            stale_after: Duration::from_secs(30),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            auth_attempts: 2,
        }
    }
}

/// Why the socket did not start.
#[derive(Debug, thiserror::Error)]
pub enum OrderUpdatesError {
    #[error("the order-update root must be a ws:// or wss:// URL with a host (got {0:?})")]
    BadRoot(String),
    #[error("the ping interval ({ping:?}) must be above zero and below stale_after ({stale:?})")]
    Timing { ping: Duration, stale: Duration },
    #[error("could not start the order-update thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The socket's counters, shared between its thread and readers.
#[derive(Debug, Default)]
pub struct OrderUpdateStats {
    updates: AtomicU64,
    greetings: AtomicU64,
    error_messages: AtomicU64,
    malformed: AtomicU64,
    callback_panics: AtomicU64,
}

/// A snapshot of the socket's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OrderUpdateCounters {
    /// Orders handed to the callback.
    pub updates: u64,
    /// AB00 greetings (one per connection).
    pub greetings: u64,
    /// Messages with an `error-message` and no order.
    pub error_messages: u64,
    /// Messages that were not JSON, binary, or an order that did not parse.
    pub malformed: u64,
    /// Times the callback panicked.
    pub callback_panics: u64,
    pub connection: ConnectionCounters,
}

impl SocketStats for OrderUpdateStats {
    type Counters = OrderUpdateCounters;
    fn snapshot(&self, connection: ConnectionCounters) -> OrderUpdateCounters {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        OrderUpdateCounters {
            updates: l(&self.updates),
            greetings: l(&self.greetings),
            error_messages: l(&self.error_messages),
            malformed: l(&self.malformed),
            callback_panics: l(&self.callback_panics),
            connection,
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// One message of the socket, as far as it is read here.
#[derive(Deserialize)]
struct Message {
    #[serde(rename = "order-status", default)]
    order_status: Option<Value>,
    #[serde(rename = "error-message", default)]
    error_message: Option<Value>,
    #[serde(rename = "orderData", default)]
    order_data: Option<Value>,
}

/// What a text message was.
#[derive(Debug, PartialEq)]
enum Event {
    Greeting,
    Order(Box<Order>),
    Error(String),
    Malformed,
}

fn read(text: &str) -> Event {
    let Ok(m) = serde_json::from_str::<Message>(text) else { return Event::Malformed };
    let word = |v: &Option<Value>| match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    if word(&m.order_status) == "AB00" {
        return Event::Greeting;
    }
    match m.order_data {
        Some(data) if data.is_object() => match Order::deserialize(&data) {
            Ok(order) if !order.orderid.is_empty() => Event::Order(Box::new(order)),
            _ => Event::Malformed,
        },
        _ => match word(&m.error_message) {
            e if !e.is_empty() => Event::Error(e),
            _ => Event::Malformed,
        },
    }
}

/// The order socket's side of the connection.
struct Updates {
    stats: Arc<OrderUpdateStats>,
    on_order: OrderCallback,
}

impl Protocol for Updates {
    fn opening(&mut self) -> Vec<String> {
        Vec::new()
    }

    fn binary(&mut self, bytes: &[u8], _received: Timestamp, _link: &LinkState) {
        bump(&self.stats.malformed);
        tracing::debug!(bytes = bytes.len(), "unexpected binary message on the order-update socket skipped");
    }

    fn text(&mut self, text: &str, link: &LinkState) {
        match read(text) {
            Event::Greeting => bump(&self.stats.greetings),
            Event::Order(order) => {
                // Counted before it is handed on: whoever sees the order sees it counted.
                bump(&self.stats.updates);
                let on_order = &self.on_order;
                if std::panic::catch_unwind(AssertUnwindSafe(|| on_order(*order))).is_err() {
                    bump(&self.stats.callback_panics);
                    tracing::error!("the order-update callback panicked; the socket goes on");
                }
            }
            Event::Error(e) => {
                bump(&self.stats.error_messages);
                let e = format!("the order-update socket sent an error: {e}");
                tracing::warn!("{e}");
                link.set_error(e);
            }
            Event::Malformed => {
                bump(&self.stats.malformed);
                tracing::warn!(bytes = text.len(), "malformed order-update message skipped");
            }
        }
    }
}

/// A running order-update socket. Dropping it closes the socket and ends its thread.
pub struct OrderUpdates {
    link: Arc<LinkState>,
    stats: Arc<OrderUpdateStats>,
    runner: Runner,
    stale_after: Duration,
}

impl std::fmt::Debug for OrderUpdates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderUpdates").field("status", &self.status()).finish()
    }
}

impl OrderUpdates {
    /// Starts the connection thread; every order update goes to `on_order`.
    pub fn start(cfg: OrderUpdatesConfig, on_order: OrderCallback) -> Result<OrderUpdates, OrderUpdatesError> {
        let target = crate::ws::Target::parse(&cfg.ws_root).map_err(|e| OrderUpdatesError::BadRoot(e.0))?;
        if cfg.ping_interval.is_zero() || cfg.stale_after <= cfg.ping_interval {
            return Err(OrderUpdatesError::Timing { ping: cfg.ping_interval, stale: cfg.stale_after });
        }
        let link = Arc::new(LinkState::default());
        let stats = Arc::new(OrderUpdateStats::default());
        let link_cfg = LinkConfig {
            name: "the order-update socket",
            target,
            api_key: cfg.api_key,
            client_code: cfg.client_code,
            credentials: Credentials { jwt: cfg.jwt, feed_token: cfg.feed_token },
            ping_interval: cfg.ping_interval,
            stale_after: cfg.stale_after,
            backoff_min: cfg.backoff_min,
            backoff_max: cfg.backoff_max,
            connect_timeout: cfg.connect_timeout,
            auth_attempts: cfg.auth_attempts,
        };
        let updates = Updates { stats: stats.clone(), on_order };
        let runner = Runner::start("angel-order-updates", link_cfg, link.clone(), updates)?;
        Ok(OrderUpdates { link, stats, runner, stale_after: cfg.stale_after })
    }

    pub fn counters(&self) -> OrderUpdateCounters {
        self.stats.snapshot(self.link.counters())
    }

    pub fn status(&self) -> SocketStatus {
        self.link.status()
    }

    /// The last connection error or error message, scrubbed of secrets.
    pub fn last_error(&self) -> Option<String> {
        self.link.error()
    }

    /// A monitoring handle for other threads; it outlives the socket.
    pub fn monitor(&self) -> SocketMonitor<OrderUpdateStats> {
        SocketMonitor::new(self.link.clone(), self.stats.clone(), self.stale_after)
    }

    pub fn health(&self) -> SocketHealth<OrderUpdateCounters> {
        self.monitor().health()
    }

    /// New credentials (after a re-login): used from the next connection on, and wake a socket
    /// that stopped after refused handshakes.
    pub fn set_credentials(&self, jwt: Secret, feed_token: Secret) {
        self.runner.set_credentials(jwt, feed_token);
    }

    /// A handle that gives the socket new credentials from another thread.
    pub fn credentials_handle(&self) -> CredentialsHandle {
        self.runner.credentials_handle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_greetings_orders_errors_or_nothing() {
        let hello = r#"{"user-id":"A1","status-code":"200","order-status":"AB00","error-message":"","orderData":{"orderid":"","price":0}}"#;
        assert_eq!(read(hello), Event::Greeting);
        let done = r#"{"order-status":"AB05","orderData":{"orderid":"2401","status":"complete","price":194.5,"filledshares":"3"}}"#;
        match read(done) {
            Event::Order(o) => assert_eq!((o.orderid.as_str(), o.price, o.filledshares), ("2401", 194.5, 3)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            read(r#"{"status-code":"403","error-message":"Token expired"}"#),
            Event::Error("Token expired".into())
        );
        for bad in ["", "pong?", "[1]", r#"{"orderData":{"orderid":"1","quantity":"ten"}}"#, r#"{"orderData":{}}"#] {
            assert_eq!(read(bad), Event::Malformed, "{bad}");
        }
    }
}
