//! Kite market data as an engine feed: a KiteTicker WebSocket client ([`KiteFeed`]) that is a
//! [`FeedSource`] like the UDP and file feeds.
//!
//! The socket lives on a thread of its own with a current-thread tokio runtime, so neither the
//! engine thread nor a feed-driving thread ever runs async code. That thread connects to
//! `{ws_root}?api_key=…&access_token=…`, subscribes to the configured instrument tokens and sets
//! their modes with Kite's JSON requests, decodes binary frames (`ticker.rs`), turns packets into
//! engine inputs (`feed_map.rs`: trades, best bid and offer, open interest) and hands them over
//! through a bounded queue; [`FeedSource::poll`] publishes what is queued, never more than the
//! room it is given. The queue never makes the socket wait: when the engine side is that far
//! behind, inputs are dropped and counted (`overflow`), as a full socket buffer would drop them.
//!
//! The connection looks after itself (`feed_ws.rs`): Kite sends a one-byte heartbeat every
//! second, so a socket silent for [`KiteFeedConfig::stale_after`] is treated as dead even if TCP
//! has not noticed (a half-open connection) and replaced; a lost or stale connection is retried
//! with capped, jittered exponential backoff and resubscribed with the same modes. A handshake
//! refused with 401/403 means the access token expired (Kite's daily 06:00 expiry) or is wrong:
//! after [`KiteFeedConfig::auth_attempts`] of them in a row the feed stops connecting and reports
//! [`FeedStatus::SessionExpired`] until [`KiteFeed::set_access_token`] gives it a new token, so an
//! expired session never becomes a reconnect storm.
//!
//! Order updates that arrive on the socket as text (`{"type":"order",…}`) go to the callback
//! given at start ([`OrderUpdate`]); Kite's `error` and `message` texts are logged and counted.
//! Nothing received is trusted: malformed frames and texts are counted and skipped.
//!
//! The access token travels in the URL, so the URL is never logged and never put in an error;
//! error texts that come from the network layer are scrubbed of the token and key as well.
//!
//! Operators watch a running feed through a [`FeedMonitor`] ([`KiteFeed::monitor`]): status,
//! counters, last error and the wall-clock time of the last frame (heartbeats included), read
//! from relaxed atomics and a lock the connection thread holds only to replace the error text,
//! so a console or a metrics scrape never makes the socket wait.

use crate::feed_queue::InputQueue;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dalal_adapters::feed::{FeedPoll, FeedReport, FeedSource};
use dalal_core::engine::placement::IngressPublisher;
use dalal_core::model::{Input, InstrumentId, TickReject};
use serde::Serialize;

pub use super::feed_map::{price_to_paise, KiteFeedCounters, KiteFeedStats, OrderUpdate, PriceIssue};
pub use super::ticker::Mode;
use crate::secret::Secret;

/// Kite's ticker endpoint.
pub const KITE_WS_ROOT: &str = "wss://ws.kite.trade";

/// One instrument to stream: Kite's instrument token, the engine's id for it, and how much to
/// ask for. `Ltp` packets carry no quantity or time and never become ticks; `Quote` gives
/// trades timed at receipt; `Full` gives trades with exchange times, the best bid and offer,
/// and open interest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub token: u32,
    pub instrument: InstrumentId,
    pub mode: Mode,
}

/// How to reach Kite and what to ask for.
#[derive(Clone, Debug)]
pub struct KiteFeedConfig {
    /// `wss://ws.kite.trade`, or a fake server's `ws://127.0.0.1:…` in tests.
    pub ws_root: String,
    pub api_key: String,
    pub access_token: Secret,
    pub subscriptions: Vec<Subscription>,
    /// A connection with no frame at all for this long is dead. Kite sends a heartbeat every
    /// second, so a few seconds tell a dead socket from a quiet market.
    pub stale_after: Duration,
    /// First retry delay after a failure; it doubles per failure up to `backoff_max`, each
    /// delay drawn between half and all of its value so many clients do not retry in step.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// TCP, TLS and WebSocket handshake together.
    pub connect_timeout: Duration,
    /// Handshakes refused with 401/403 in a row before the feed waits for a new token.
    pub auth_attempts: u32,
    /// Inputs the queue to the engine side holds.
    pub queue: usize,
}

impl KiteFeedConfig {
    /// Kite's endpoint and the defaults above: stale after 5 s, backoff 0.5 s doubling to 30 s,
    /// 10 s to connect, two refused handshakes before waiting for a new token.
    pub fn new(api_key: &str, access_token: Secret, subscriptions: Vec<Subscription>) -> KiteFeedConfig {
        KiteFeedConfig {
            ws_root: KITE_WS_ROOT.to_string(),
            api_key: api_key.to_string(),
            access_token,
            subscriptions,
            stale_after: Duration::from_secs(5),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            auth_attempts: 2,
            queue: 1 << 16,
        }
    }
}

/// Why a feed did not start.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("the ticker root must be a ws:// or wss:// URL with a host (got {0:?})")]
    BadRoot(String),
    #[error("no instrument to subscribe to")]
    NothingToSubscribe,
    #[error("the same instrument token {0} is subscribed twice")]
    DuplicateToken(u32),
    #[error("could not start the feed thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Where the connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedStatus {
    Connecting,
    Connected,
    /// Waiting before the next attempt.
    Backoff,
    /// Kite refused the token; nothing is tried until a new one is given.
    SessionExpired,
    Stopped,
}

impl FeedStatus {
    fn from_u8(v: u8) -> FeedStatus {
        match v {
            0 => FeedStatus::Connecting,
            1 => FeedStatus::Connected,
            2 => FeedStatus::Backoff,
            3 => FeedStatus::SessionExpired,
            _ => FeedStatus::Stopped,
        }
    }
}

/// What the connection thread and the feed's readers share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) stats: Arc<KiteFeedStats>,
    status: AtomicU8,
    /// Held only to swap or clone the text, never across an await or a socket call.
    last_error: Mutex<Option<String>>,
    /// Wall-clock ns of the last frame of any kind (heartbeats included); 0 before the first.
    /// Relaxed: a reader wants a recent value, not an order with anything else.
    last_frame_ns: AtomicI64,
}

impl Shared {
    pub(crate) fn set_status(&self, s: FeedStatus) {
        self.status.store(s as u8, Ordering::Release);
    }

    pub(crate) fn status(&self) -> FeedStatus {
        FeedStatus::from_u8(self.status.load(Ordering::Acquire))
    }

    pub(crate) fn set_error(&self, e: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }

    fn error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_last_frame(&self, ns: i64) {
        self.last_frame_ns.store(ns, Ordering::Relaxed);
    }

    fn last_frame(&self) -> Option<i64> {
        Some(self.last_frame_ns.load(Ordering::Relaxed)).filter(|ns| *ns > 0)
    }
}

/// Wall-clock nanoseconds since the epoch (0 if the clock is before it).
pub(crate) fn wall_ns() -> i64 {
    let ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    i64::try_from(ns).unwrap_or(i64::MAX)
}

/// The feed's health at one moment, as operators see it (no secret: the error text is
/// scrubbed where it is made, and the URL never reaches it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FeedHealth {
    pub status: FeedStatus,
    pub last_error: Option<String>,
    /// Wall-clock ns of the last frame received, heartbeats included; `None` before the first.
    pub last_frame_ns: Option<i64>,
    /// Market data cannot be taken as current: the feed is not connected, or nothing (not even
    /// a heartbeat) arrived for [`KiteFeedConfig::stale_after`].
    pub stale: bool,
    pub counters: KiteFeedCounters,
}

/// A read-only view of a running [`KiteFeed`] for monitoring threads (console, metrics),
/// kept once the feed itself has been handed to the engine's side. Cheap to clone; reading
/// it takes relaxed atomic loads and, for the last error, a lock the connection thread holds
/// only to replace a string. It outlives the feed: after the feed stops it reads `stopped`.
#[derive(Clone, Debug)]
pub struct FeedMonitor {
    shared: Arc<Shared>,
    stale_after: Duration,
}

impl FeedMonitor {
    pub fn status(&self) -> FeedStatus {
        self.shared.status()
    }

    pub fn counters(&self) -> KiteFeedCounters {
        self.shared.stats.snapshot()
    }

    /// The last connection error, scrubbed of secrets.
    pub fn last_error(&self) -> Option<String> {
        self.shared.error()
    }

    /// Wall-clock ns of the last frame (heartbeats included); `None` before the first.
    pub fn last_frame_ns(&self) -> Option<i64> {
        self.shared.last_frame()
    }

    /// Everything above, judged stale against the wall clock at `now_ns`.
    pub fn health_at(&self, now_ns: i64) -> FeedHealth {
        let status = self.status();
        let last_frame_ns = self.last_frame_ns();
        let limit = i64::try_from(self.stale_after.as_nanos()).unwrap_or(i64::MAX);
        // A clock that stepped back makes a negative age: fresh, not stale.
        let fresh = last_frame_ns.is_some_and(|t| now_ns.saturating_sub(t) <= limit);
        FeedHealth {
            status,
            last_error: self.last_error(),
            last_frame_ns,
            stale: status != FeedStatus::Connected || !fresh,
            counters: self.counters(),
        }
    }

    /// [`FeedMonitor::health_at`] now.
    pub fn health(&self) -> FeedHealth {
        self.health_at(wall_ns())
    }
}

/// Where order updates from the socket go. It runs on the feed's thread: hand the update on
/// (to a channel) rather than work on it.
pub type OrderSink = Box<dyn FnMut(OrderUpdate) + Send>;

/// Requests to the connection thread.
#[derive(Debug)]
pub(crate) enum Control {
    Token(Secret),
    Stop,
}

/// Gives a running [`KiteFeed`] a new access token; does nothing once the feed has stopped.
#[derive(Clone)]
pub struct FeedToken(tokio::sync::mpsc::UnboundedSender<Control>);

impl FeedToken {
    /// See [`KiteFeed::set_access_token`].
    pub fn set(&self, token: Secret) {
        let _ = self.0.send(Control::Token(token));
    }
}

impl std::fmt::Debug for FeedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FeedToken")
    }
}

/// A running Kite market-data feed. Dropping it closes the socket and joins its thread.
pub struct KiteFeed {
    queue: InputQueue,
    shared: Arc<Shared>,
    control: tokio::sync::mpsc::UnboundedSender<Control>,
    thread: Option<JoinHandle<()>>,
    stale_after: Duration,
}

impl std::fmt::Debug for KiteFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KiteFeed").field("status", &self.status()).field("published", &self.queue.published()).finish()
    }
}

impl KiteFeed {
    /// Starts the connection thread; order updates go to `on_order` (dropped when `None`).
    /// A feed for order updates alone (a gateway's) subscribes to nothing.
    pub fn start(cfg: KiteFeedConfig, on_order: Option<OrderSink>) -> Result<KiteFeed, FeedError> {
        let target = super::feed_ws::Target::parse(&cfg.ws_root)?;
        if cfg.subscriptions.is_empty() && on_order.is_none() {
            return Err(FeedError::NothingToSubscribe);
        }
        let mut tokens = std::collections::HashSet::new();
        if let Some(s) = cfg.subscriptions.iter().find(|s| !tokens.insert(s.token)) {
            return Err(FeedError::DuplicateToken(s.token));
        }
        let (tx, inputs) = std::sync::mpsc::sync_channel(cfg.queue.max(1));
        let (control, control_rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let stale_after = cfg.stale_after;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let worker = super::feed_ws::Worker::new(cfg, target, shared.clone(), tx, on_order);
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new().name("kite-feed".into()).spawn(move || {
            runtime.block_on(worker.run(control_rx));
            for_thread.set_status(FeedStatus::Stopped);
        })?;
        Ok(KiteFeed { queue: InputQueue::new(inputs), shared, control, thread: Some(thread), stale_after })
    }

    /// The counters so far.
    pub fn counters(&self) -> KiteFeedCounters {
        self.shared.stats.snapshot()
    }

    /// The live counters, for a metrics reader on another thread.
    pub fn stats(&self) -> Arc<KiteFeedStats> {
        self.shared.stats.clone()
    }

    pub fn status(&self) -> FeedStatus {
        self.shared.status()
    }

    /// A monitoring handle for other threads, taken before the feed is boxed away into its
    /// feed thread (see [`FeedMonitor`]).
    pub fn monitor(&self) -> FeedMonitor {
        FeedMonitor { shared: self.shared.clone(), stale_after: self.stale_after }
    }

    /// The last connection error, scrubbed of secrets.
    pub fn last_error(&self) -> Option<String> {
        self.shared.error()
    }

    /// A fresh access token (after the day's login): used from the next connection on, and
    /// wakes a feed that stopped on an expired session.
    pub fn set_access_token(&self, token: Secret) {
        let _ = self.control.send(Control::Token(token));
    }

    /// A handle that gives the feed new access tokens from another thread (a vault watcher),
    /// once the feed itself has been handed to the engine's side.
    pub fn token_handle(&self) -> FeedToken {
        FeedToken(self.control.clone())
    }

    /// Hands over up to `room` queued inputs to `f`, waiting up to `wait` for the first one.
    /// Returns how many were handed over.
    pub fn drain(&mut self, room: usize, wait: Duration, f: impl FnMut(Input)) -> usize {
        self.queue.drain(room, wait, f)
    }

    fn stop(&mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for KiteFeed {
    fn drop(&mut self) {
        self.stop();
    }
}

impl FeedSource for KiteFeed {
    fn name(&self) -> String {
        "kite:ticker".to_string()
    }

    fn poll(&mut self, out: &mut IngressPublisher, room: usize, wait: Duration) -> FeedPoll {
        self.queue.poll(out, room, wait)
    }

    fn report(&self) -> FeedReport {
        let c = self.counters();
        let mut rejects = dalal_adapters::RejectCounts::default();
        rejects.add_n(TickReject::Malformed, c.malformed + c.malformed_text);
        rejects.add_n(TickReject::UnknownSymbol, c.unknown_tokens);
        rejects.add_n(TickReject::NonPositivePrice, c.bad_prices + c.sub_paise);
        let error = match self.status() {
            FeedStatus::SessionExpired => Some("Kite refused the access token: session expired".to_string()),
            _ => None,
        };
        FeedReport {
            name: self.name(),
            published: self.queue.published(),
            rejects,
            received: c.frames + c.heartbeats + c.malformed,
            error,
            ..FeedReport::default()
        }
    }
}
