//! Upstox's portfolio stream (brokers.md §3.10) as a client ([`PortfolioStream`]): each status
//! change of the login's orders, handed to a callback as the order ([`Order`], the order
//! book's shape, from which the gateway reads the id, tag, state, filled quantity and status
//! message).
//!
//! Each connection starts with `GET /v2/feed/portfolio-stream-feed/authorize?update_types=order`
//! and the access token, which answers with a one-time `wss://` URL to open (the market feed
//! connects the same way: `market_feed/dial.rs`), on a thread of its own with a
//! current-thread runtime. Nothing is sent: Upstox sends one JSON text per update, `order`
//! ones with `update_type: "order"` and the order's fields (the webhook's body). Other update
//! types (`position`, `holding`, `gtt_order`, asked for in
//! [`PortfolioStreamConfig::update_types`]) are counted and ignored; a message that does not
//! parse is counted and logged, never a panic; a callback that panics is counted and the
//! stream goes on.
//!
//! The connection is the shared one (`crate::ws_link`): WebSocket pings answered and sent, a
//! connection silent for [`PortfolioStreamConfig::stale_after`] taken for dead, reconnection
//! with capped, jittered backoff and a fresh authorize call, and after refused authorize calls
//! (an expired token) a wait for a new token ([`PortfolioStream::set_token`]). Updates that
//! happen while the stream is down are not replayed by Upstox: after a reconnect, reconcile
//! against the order book. The callback runs on the stream's thread: it should hand the order
//! on (to a channel) rather than work on it. Dropping the handle stops the thread (at once, or
//! when a running callback returns).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::market_feed::dial::{Socket, UpstoxDialer};
use super::model::{Order, OrderUpdate};
use super::rest::{UpstoxClient, DEFAULT_ROOT};
use crate::secret::Secret;
pub use crate::ws_link::{ConnectionCounters, SocketHealth, SocketMonitor, SocketStats, SocketStatus, TokenHandle};
use crate::ws_link::{Keepalive, LinkConfig, LinkState, Protocol, Runner};
use dalal_core::model::Timestamp;

/// Where order updates go. It runs on the stream's thread.
pub type OrderCallback = Box<dyn Fn(Order) + Send + Sync>;

/// How to reach the portfolio stream.
#[derive(Clone, Debug)]
pub struct PortfolioStreamConfig {
    /// Where the authorize call goes: [`DEFAULT_ROOT`], or a fake server's root in tests.
    pub api_root: String,
    pub api_key: String,
    pub access_token: Secret,
    /// The update types to ask for; `order` is the one handed on (and Upstox's default).
    pub update_types: Vec<String>,
    /// How often a WebSocket ping frame goes out.
    pub ping_interval: Duration,
    /// A connection with no message at all (not even a pong) for this long is dead; longer
    /// than the ping interval.
    pub stale_after: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// The authorize call, TCP, TLS and the WebSocket handshake together.
    pub connect_timeout: Duration,
    /// Authorize calls refused with 401/403 in a row before the stream waits for a new token.
    pub auth_attempts: u32,
}

impl PortfolioStreamConfig {
    /// Upstox's API host, order updates only, and the defaults: a ping every 10 s, stale after
    /// 30 s, backoff 0.5 s doubling to 30 s, 15 s to connect, one refused authorize call
    /// before waiting for a new token.
    pub fn new(api_key: &str, access_token: Secret) -> PortfolioStreamConfig {
        PortfolioStreamConfig {
            api_root: DEFAULT_ROOT.to_string(),
            api_key: api_key.to_string(),
            access_token,
            update_types: vec!["order".to_string()],
            ping_interval: Duration::from_secs(10),
            stale_after: Duration::from_secs(30),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(15),
            auth_attempts: 1,
        }
    }

    /// [`PortfolioStreamConfig::new`] for the login of `client` (its API root, key and token);
    /// `None` when it has no session.
    pub fn for_client(client: &UpstoxClient) -> Option<PortfolioStreamConfig> {
        let mut cfg = PortfolioStreamConfig::new(client.api_key(), client.access_token()?.clone());
        cfg.api_root = client.root().to_string();
        Some(cfg)
    }
}

/// Why the stream did not start.
#[derive(Debug, thiserror::Error)]
pub enum PortfolioStreamError {
    #[error("the Upstox API root or key is unusable: {0}")]
    Client(String),
    #[error("update type {0:?} is not one of order, position, holding, gtt_order")]
    UpdateType(String),
    #[error("the ping interval ({ping:?}) must be above zero and below stale_after ({stale:?})")]
    Timing { ping: Duration, stale: Duration },
    #[error("could not start the portfolio-stream thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The stream's counters, shared between its thread and readers.
#[derive(Debug, Default)]
pub struct PortfolioStats {
    updates: AtomicU64,
    other_updates: AtomicU64,
    malformed: AtomicU64,
    callback_panics: AtomicU64,
}

/// A snapshot of the stream's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PortfolioCounters {
    /// Orders handed to the callback.
    pub updates: u64,
    /// Messages of another update type (`position`, `holding`, `gtt_order`), or of none.
    pub other_updates: u64,
    /// Messages that were not a JSON object, binary ones, or orders that did not parse.
    pub malformed: u64,
    /// Times the callback panicked.
    pub callback_panics: u64,
    pub connection: ConnectionCounters,
}

impl SocketStats for PortfolioStats {
    type Counters = PortfolioCounters;
    fn snapshot(&self, connection: ConnectionCounters) -> PortfolioCounters {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PortfolioCounters {
            updates: l(&self.updates),
            other_updates: l(&self.other_updates),
            malformed: l(&self.malformed),
            callback_panics: l(&self.callback_panics),
            connection,
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// What a text message was.
#[derive(Debug, PartialEq)]
enum Event {
    Order(Box<Order>),
    /// Another update type (or none), by name.
    Other(String),
    Malformed,
}

fn read(text: &str) -> Event {
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(text) else { return Event::Malformed };
    let kind = match obj.get("update_type") {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Null) | None => String::new(),
        Some(_) => return Event::Malformed,
    };
    if kind != "order" {
        return Event::Other(kind);
    }
    match OrderUpdate::deserialize(Value::Object(obj)) {
        Ok(u) if !u.order.order_id.trim().is_empty() => {
            let mut order = u.order;
            // The instrument key comes under its own name; the order's is its deprecated twin.
            if order.instrument_token.is_empty() {
                order.instrument_token = u.instrument_key;
            }
            Event::Order(Box::new(order))
        }
        _ => Event::Malformed,
    }
}

/// The stream's side of the connection.
struct Updates {
    stats: Arc<PortfolioStats>,
    on_order: OrderCallback,
}

impl Protocol for Updates {
    fn opening(&mut self) -> Vec<Message> {
        Vec::new()
    }

    fn binary(&mut self, bytes: &[u8], _received: Timestamp, _link: &LinkState) {
        bump(&self.stats.malformed);
        tracing::debug!(bytes = bytes.len(), "unexpected binary message on the Upstox portfolio stream skipped");
    }

    fn text(&mut self, text: &str, _link: &LinkState) {
        match read(text) {
            Event::Order(order) => {
                // Counted before it is handed on: whoever sees the order sees it counted.
                bump(&self.stats.updates);
                let on_order = &self.on_order;
                if std::panic::catch_unwind(AssertUnwindSafe(|| on_order(*order))).is_err() {
                    bump(&self.stats.callback_panics);
                    tracing::error!("the Upstox order-update callback panicked; the stream goes on");
                }
            }
            Event::Other(kind) => {
                bump(&self.stats.other_updates);
                tracing::debug!(update_type = %kind, "Upstox portfolio update ignored");
            }
            Event::Malformed => {
                bump(&self.stats.malformed);
                tracing::warn!(bytes = text.len(), "malformed Upstox portfolio-stream message skipped");
            }
        }
    }
}

/// A running portfolio stream. Dropping it closes the socket and ends its thread.
pub struct PortfolioStream {
    link: Arc<LinkState>,
    stats: Arc<PortfolioStats>,
    runner: Runner<Secret>,
    stale_after: Duration,
}

impl std::fmt::Debug for PortfolioStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortfolioStream").field("status", &self.status()).finish()
    }
}

impl PortfolioStream {
    /// Starts the connection thread; every order update goes to `on_order`.
    pub fn start(cfg: PortfolioStreamConfig, on_order: OrderCallback) -> Result<PortfolioStream, PortfolioStreamError> {
        if cfg.ping_interval.is_zero() || cfg.stale_after <= cfg.ping_interval {
            return Err(PortfolioStreamError::Timing { ping: cfg.ping_interval, stale: cfg.stale_after });
        }
        let known = ["order", "position", "holding", "gtt_order"];
        if let Some(t) = cfg.update_types.iter().find(|t| !known.contains(&t.as_str())) {
            return Err(PortfolioStreamError::UpdateType(t.clone()));
        }
        let name = "the Upstox portfolio stream";
        let dialer = UpstoxDialer::new(
            name,
            Socket::Portfolio(cfg.update_types),
            &cfg.api_root,
            &cfg.api_key,
            cfg.access_token,
            cfg.connect_timeout,
        )
        .map_err(|e| PortfolioStreamError::Client(e.to_string()))?;
        let link = Arc::new(LinkState::default());
        let stats = Arc::new(PortfolioStats::default());
        let link_cfg = LinkConfig {
            name,
            keepalive: Keepalive::Frames,
            ping_interval: cfg.ping_interval,
            stale_after: cfg.stale_after,
            backoff_min: cfg.backoff_min,
            backoff_max: cfg.backoff_max,
            connect_timeout: cfg.connect_timeout,
            auth_attempts: cfg.auth_attempts,
        };
        let updates = Updates { stats: stats.clone(), on_order };
        let runner = Runner::start("upstox-portfolio", link_cfg, link.clone(), dialer, updates)?;
        Ok(PortfolioStream { link, stats, runner, stale_after: cfg.stale_after })
    }

    pub fn counters(&self) -> PortfolioCounters {
        self.stats.snapshot(self.link.counters())
    }

    pub fn status(&self) -> SocketStatus {
        self.link.status()
    }

    /// The last connection error, scrubbed of secrets.
    pub fn last_error(&self) -> Option<String> {
        self.link.error()
    }

    /// A monitoring handle for other threads; it outlives the stream.
    pub fn monitor(&self) -> SocketMonitor<PortfolioStats> {
        SocketMonitor::new(self.link.clone(), self.stats.clone(), self.stale_after)
    }

    pub fn health(&self) -> SocketHealth<PortfolioCounters> {
        self.monitor().health()
    }

    /// A new access token (after a login): used from the next connection on, and wakes a
    /// stream that stopped after a refused authorize call.
    pub fn set_token(&self, token: Secret) {
        self.runner.set_credentials(token);
    }

    /// A handle that gives the stream a new token from another thread.
    pub fn token_handle(&self) -> TokenHandle {
        TokenHandle(self.runner.control())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order_state::OrderState;

    #[test]
    fn messages_read_as_orders_other_updates_or_nothing() {
        let update = r#"{"update_type":"order","user_id":"AB1","instrument_key":"NSE_EQ|INE002A01018",
            "order_id":"260105000000001","status":"open","quantity":10,"filled_quantity":4,"tag":"d-1",
            "status_message":null,"price":1290.5}"#;
        match read(update) {
            Event::Order(o) => {
                assert_eq!(
                    (o.order_id.as_str(), o.tag.as_deref(), o.filled_quantity),
                    ("260105000000001", Some("d-1"), 4)
                );
                assert_eq!(
                    (o.state(), o.instrument_token.as_str()),
                    (OrderState::PartiallyFilled, "NSE_EQ|INE002A01018")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(read(r#"{"update_type":"position","quantity":3}"#), Event::Other("position".into()));
        assert_eq!(read(r#"{"hello":1}"#), Event::Other(String::new()));
        for bad in [
            "",
            "custom",
            "[1]",
            r#"{"update_type":7}"#,
            r#"{"update_type":"order","order_id":""}"#,
            r#"{"update_type":"order","order_id":"1","quantity":"ten"}"#,
        ] {
            assert_eq!(read(bad), Event::Malformed, "{bad}");
        }
    }
}
