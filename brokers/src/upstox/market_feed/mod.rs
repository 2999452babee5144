//! Upstox market data as an engine feed: a Market Data Feed v3 WebSocket client
//! ([`UpstoxFeed`]) that is a [`FeedSource`] like the Kite ticker, SmartStream and the UDP and
//! file feeds.
//!
//! The socket lives on a thread of its own with a current-thread tokio runtime, so neither the
//! engine thread nor a feed-driving thread ever runs async code. For every connection that
//! thread first calls `GET /v3/feed/market-data-feed/authorize` with the access token, which
//! answers with a signed one-time `wss://` URL, and opens it (no header needed; `dial.rs`);
//! then it sends one `sub` request per mode in use, JSON in a **binary** frame as Upstox
//! requires (brokers.md §3.9.2), decodes each binary message as a protobuf `FeedResponse`
//! (`crate::upstox::feed::decode`): a `market_info` first (the segments' statuses, kept in the
//! counters), an `initial_feed` snapshot per subscription, then `live_feed`s. `map.rs` turns
//! the feeds into engine inputs (ticks, best bid and offer, open interest) and hands them over
//! through a bounded queue; [`FeedSource::poll`] publishes what is queued, never more than the
//! room it is given. The queue never makes the socket wait: when the engine side is that far
//! behind, inputs are dropped and counted.
//!
//! The connection looks after itself (`crate::ws_link`): it answers Upstox's WebSocket pings,
//! sends a ping frame of its own every [`UpstoxFeedConfig::ping_interval`], treats a socket
//! silent for [`UpstoxFeedConfig::stale_after`] as dead even if TCP has not noticed, and
//! reconnects with capped, jittered backoff, authorizing a new URL and resubscribing
//! everything. An authorize call refused with 401 (the token expired at 03:30 IST) sets the
//! status to `session_expired` after [`UpstoxFeedConfig::auth_attempts`] refusals in a row,
//! and the feed waits for a new token ([`UpstoxFeed::set_token`], after `dalal broker login`).
//! Nothing received is trusted: damaged messages, feeds of keys not subscribed to, stray texts
//! and prices that are not paise are counted and skipped.
//!
//! Upstox's documented subscription limits are checked at start, so a configuration Upstox
//! would refuse piecemeal is refused whole (brokers.md §3.9.1).

pub(crate) mod dial;
mod map;

use crate::feed_queue::InputQueue;
use std::collections::{BTreeMap, HashSet};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use dalal_adapters::feed::{FeedPoll, FeedReport, FeedSource};
use dalal_core::engine::placement::IngressPublisher;
use dalal_core::model::{Input, InstrumentId, TickReject, Timestamp};
use tokio_tungstenite::tungstenite::Message;

use crate::secret::Secret;
use crate::upstox::feed::{Mode, Request};
use crate::upstox::rest::{UpstoxClient, DEFAULT_ROOT};
pub use crate::ws_link::{ConnectionCounters, SocketHealth, SocketMonitor, SocketStats, SocketStatus, TokenHandle};
use crate::ws_link::{Keepalive, LinkConfig, LinkState, Protocol, Runner};
use dial::{Socket, UpstoxDialer};
pub use map::{UpstoxFeedCounters, UpstoxFeedStats};

/// Every mode, in the order their requests go out.
const MODES: [Mode; 4] = [Mode::Ltpc, Mode::Full, Mode::OptionGreeks, Mode::FullD30];

/// Upstox's name of a mode, as in the requests.
pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Ltpc => "ltpc",
        Mode::Full => "full",
        Mode::OptionGreeks => "option_greeks",
        Mode::FullD30 => "full_d30",
    }
}

/// Instruments Upstox allows per connection in `mode`, alone or with other modes in use
/// (brokers.md §3.9.1).
pub fn subscription_limit(mode: Mode, combined: bool) -> usize {
    match (mode, combined) {
        (Mode::Ltpc, false) => 5000,
        (Mode::Ltpc, true) => 2000,
        (Mode::OptionGreeks, false) => 3000,
        (Mode::OptionGreeks, true) => 2000,
        (Mode::Full, false) => 2000,
        (Mode::Full, true) => 1500,
        (Mode::FullD30, _) => 50,
    }
}

/// One instrument to stream: its Upstox instrument key (`NSE_EQ|INE002A01018`), the engine's
/// id for it, and how much to ask for. `ltpc` gives trades; `full` (five levels) and
/// `full_d30` trades, the best bid and offer and open interest; `option_greeks` the same from
/// the first level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub instrument_key: String,
    pub mode: Mode,
    pub instrument: InstrumentId,
}

impl Subscription {
    pub fn new(instrument_key: impl Into<String>, mode: Mode, instrument: InstrumentId) -> Self {
        Subscription { instrument_key: instrument_key.into(), mode, instrument }
    }
}

/// How to reach the feed and what to ask for.
#[derive(Clone, Debug)]
pub struct UpstoxFeedConfig {
    /// Where the authorize call goes: [`DEFAULT_ROOT`], or a fake server's
    /// `http://127.0.0.1:…` in tests. The socket's URL is whatever it answers.
    pub api_root: String,
    pub api_key: String,
    pub access_token: Secret,
    pub subscriptions: Vec<Subscription>,
    /// Inputs the queue to the engine side holds.
    pub queue: usize,
    /// How often a WebSocket ping frame goes out (Upstox pings an idle connection too).
    pub ping_interval: Duration,
    /// A connection with no message at all (not even a pong) for this long is dead; longer
    /// than the ping interval.
    pub stale_after: Duration,
    /// First retry delay after a failure; it doubles per failure up to `backoff_max`, each
    /// delay drawn between half and all of its value.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// The authorize call, TCP, TLS and the WebSocket handshake together.
    pub connect_timeout: Duration,
    /// Authorize calls refused with 401/403 in a row before the feed waits for a new token.
    pub auth_attempts: u32,
}

impl UpstoxFeedConfig {
    /// Upstox's API host and the defaults: a ping every 10 s, stale after 30 s, backoff 0.5 s
    /// doubling to 30 s, 15 s to connect, one refused authorize call before waiting for a new
    /// token (a refused token stays refused until 03:30 passes for a new login), a queue of
    /// 65536 inputs.
    pub fn new(api_key: &str, access_token: Secret, subscriptions: Vec<Subscription>) -> UpstoxFeedConfig {
        UpstoxFeedConfig {
            api_root: DEFAULT_ROOT.to_string(),
            api_key: api_key.to_string(),
            access_token,
            subscriptions,
            queue: 1 << 16,
            ping_interval: Duration::from_secs(10),
            stale_after: Duration::from_secs(30),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(15),
            auth_attempts: 1,
        }
    }

    /// [`UpstoxFeedConfig::new`] for the login of `client` (its API root, key and token);
    /// `None` when it has no session.
    pub fn for_client(client: &UpstoxClient, subscriptions: Vec<Subscription>) -> Option<UpstoxFeedConfig> {
        let mut cfg = UpstoxFeedConfig::new(client.api_key(), client.access_token()?.clone(), subscriptions);
        cfg.api_root = client.root().to_string();
        Some(cfg)
    }
}

/// Why a feed did not start.
#[derive(Debug, thiserror::Error)]
pub enum UpstoxFeedError {
    #[error("the Upstox API root or key is unusable: {0}")]
    Client(String),
    #[error("no instrument to subscribe to")]
    NothingToSubscribe,
    #[error("{0}")]
    BadKey(String),
    #[error("instrument key {0:?} is subscribed twice (Upstox keeps one mode per key)")]
    Duplicate(String),
    #[error("{count} instruments in mode {mode}: Upstox allows at most {limit}{}", if *combined { " with other modes in use" } else { "" })]
    TooMany { mode: &'static str, count: usize, limit: usize, combined: bool },
    #[error("the ping interval ({ping:?}) must be above zero and below stale_after ({stale:?})")]
    Timing { ping: Duration, stale: Duration },
    #[error("could not start the Upstox feed thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Upstox's limits and the configuration's own consistency.
fn check(cfg: &UpstoxFeedConfig) -> Result<(), UpstoxFeedError> {
    let subs = &cfg.subscriptions;
    if subs.is_empty() {
        return Err(UpstoxFeedError::NothingToSubscribe);
    }
    if cfg.ping_interval.is_zero() || cfg.stale_after <= cfg.ping_interval {
        return Err(UpstoxFeedError::Timing { ping: cfg.ping_interval, stale: cfg.stale_after });
    }
    let mut seen = HashSet::new();
    for s in subs {
        crate::upstox::params::check_instrument_key(&s.instrument_key).map_err(UpstoxFeedError::BadKey)?;
        if !seen.insert(s.instrument_key.as_str()) {
            return Err(UpstoxFeedError::Duplicate(s.instrument_key.clone()));
        }
    }
    let in_use: Vec<(Mode, usize)> = MODES
        .into_iter()
        .map(|mode| (mode, subs.iter().filter(|s| s.mode == mode).count()))
        .filter(|(_, n)| *n > 0)
        .collect();
    let combined = in_use.len() > 1;
    for (mode, count) in in_use {
        let limit = subscription_limit(mode, combined);
        if count > limit {
            return Err(UpstoxFeedError::TooMany { mode: mode_name(mode), count, limit, combined });
        }
    }
    Ok(())
}

/// The feed's requests for a fresh connection: one `sub` per mode in use, keys in the order
/// given, each JSON to go out as a binary frame. The guid (`dalal-<n>-<mode>`) is unique per
/// connection.
pub fn subscribe_requests(subs: &[Subscription], connection: u64) -> Vec<Vec<u8>> {
    MODES
        .into_iter()
        .filter_map(|mode| {
            let keys: Vec<String> = subs.iter().filter(|s| s.mode == mode).map(|s| s.instrument_key.clone()).collect();
            if keys.is_empty() {
                return None;
            }
            let request = Request::sub(format!("dalal-{connection}-{}", mode_name(mode)), mode, keys);
            serde_json::to_vec(&request).ok()
        })
        .collect()
}

/// The feed's side of the connection.
struct Stream {
    subscriptions: Vec<Subscription>,
    connections: u64,
    mapper: map::Mapper,
    stats: Arc<UpstoxFeedStats>,
    tx: SyncSender<Input>,
}

impl Protocol for Stream {
    fn opening(&mut self) -> Vec<Message> {
        self.connections += 1;
        subscribe_requests(&self.subscriptions, self.connections).into_iter().map(Message::binary).collect()
    }

    fn binary(&mut self, bytes: &[u8], received: Timestamp, _link: &LinkState) {
        let (tx, stats) = (&self.tx, &*self.stats);
        self.mapper.binary(bytes, received, stats, &mut |input| match tx.try_send(input) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => UpstoxFeedStats::add(&stats.overflow, 1),
            // The feed's handle is gone; the thread is about to be told to stop.
            Err(TrySendError::Disconnected(_)) => {}
        });
    }

    fn text(&mut self, text: &str, _link: &LinkState) {
        UpstoxFeedStats::add(&self.stats.text_messages, 1);
        tracing::debug!(bytes = text.len(), "unexpected text on the Upstox feed skipped");
    }
}

/// A running Upstox market feed. Dropping it closes the socket and joins its thread.
pub struct UpstoxFeed {
    queue: InputQueue,
    link: Arc<LinkState>,
    stats: Arc<UpstoxFeedStats>,
    runner: Runner<Secret>,
    stale_after: Duration,
}

impl std::fmt::Debug for UpstoxFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstoxFeed")
            .field("status", &self.status())
            .field("published", &self.queue.published())
            .finish()
    }
}

impl UpstoxFeed {
    /// Checks the configuration against Upstox's limits and starts the connection thread.
    pub fn start(cfg: UpstoxFeedConfig) -> Result<UpstoxFeed, UpstoxFeedError> {
        check(&cfg)?;
        let dialer = UpstoxDialer::new(
            "the Upstox market feed",
            Socket::MarketFeed,
            &cfg.api_root,
            &cfg.api_key,
            cfg.access_token,
            cfg.connect_timeout,
        )
        .map_err(|e| UpstoxFeedError::Client(e.to_string()))?;
        let (tx, inputs) = std::sync::mpsc::sync_channel(cfg.queue.max(1));
        let link = Arc::new(LinkState::default());
        let stats = Arc::new(UpstoxFeedStats::default());
        let stream = Stream {
            mapper: map::Mapper::new(cfg.subscriptions.iter().map(|s| (s.instrument_key.clone(), s.instrument))),
            subscriptions: cfg.subscriptions,
            connections: 0,
            stats: stats.clone(),
            tx,
        };
        let stale_after = cfg.stale_after;
        let link_cfg = LinkConfig {
            name: "the Upstox market feed",
            keepalive: Keepalive::Frames,
            ping_interval: cfg.ping_interval,
            stale_after,
            backoff_min: cfg.backoff_min,
            backoff_max: cfg.backoff_max,
            connect_timeout: cfg.connect_timeout,
            auth_attempts: cfg.auth_attempts,
        };
        let runner = Runner::start("upstox-feed", link_cfg, link.clone(), dialer, stream)?;
        Ok(UpstoxFeed { queue: InputQueue::new(inputs), link, stats, runner, stale_after })
    }

    /// The counters so far, with the segments' statuses.
    pub fn counters(&self) -> UpstoxFeedCounters {
        self.stats.snapshot(self.link.counters())
    }

    /// Each segment's status (`NSE_EQ` → `NORMAL_OPEN`…) as the last `market_info` gave it.
    pub fn segment_status(&self) -> BTreeMap<String, String> {
        self.stats.segment_status()
    }

    pub fn status(&self) -> SocketStatus {
        self.link.status()
    }

    /// The last connection error, scrubbed of secrets.
    pub fn last_error(&self) -> Option<String> {
        self.link.error()
    }

    /// A monitoring handle for other threads, taken before the feed is boxed away into its
    /// feed thread.
    pub fn monitor(&self) -> SocketMonitor<UpstoxFeedStats> {
        SocketMonitor::new(self.link.clone(), self.stats.clone(), self.stale_after)
    }

    /// The feed's health now (see [`SocketMonitor::health`]).
    pub fn health(&self) -> SocketHealth<UpstoxFeedCounters> {
        self.monitor().health()
    }

    /// A new access token (after a login): used from the next connection on, and wakes a feed
    /// that stopped after a refused authorize call.
    pub fn set_token(&self, token: Secret) {
        self.runner.set_credentials(token);
    }

    /// A handle that gives the feed a new token from another thread, once the feed itself has
    /// been handed to the engine's side.
    pub fn token_handle(&self) -> TokenHandle {
        TokenHandle(self.runner.control())
    }

    /// Hands over up to `room` queued inputs to `f`, waiting up to `wait` for the first one.
    /// Returns how many were handed over.
    pub fn drain(&mut self, room: usize, wait: Duration, f: impl FnMut(Input)) -> usize {
        self.queue.drain(room, wait, f)
    }
}

impl FeedSource for UpstoxFeed {
    fn name(&self) -> String {
        "upstox:feed".to_string()
    }

    fn poll(&mut self, out: &mut IngressPublisher, room: usize, wait: Duration) -> FeedPoll {
        self.queue.poll(out, room, wait)
    }

    fn report(&self) -> FeedReport {
        let c = self.counters();
        let mut rejects = dalal_adapters::RejectCounts::default();
        rejects.add_n(TickReject::Malformed, c.malformed + c.text_messages);
        rejects.add_n(TickReject::UnknownSymbol, c.unknown_keys);
        rejects.add_n(TickReject::NonPositivePrice, c.bad_prices + c.non_finite + c.sub_paise);
        let error = match self.status() {
            SocketStatus::SessionExpired => Some(
                self.last_error().unwrap_or_else(|| "Upstox refused the access token: session expired".to_string()),
            ),
            _ => None,
        };
        FeedReport {
            name: self.name(),
            published: self.queue.published(),
            rejects,
            received: c.messages + c.malformed,
            error,
            ..FeedReport::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(key: &str, mode: Mode, id: u32) -> Subscription {
        Subscription::new(key, mode, InstrumentId(id))
    }

    #[test]
    fn one_binary_request_per_mode_with_keys_in_order() {
        let r = subscribe_requests(
            &[
                sub("NSE_EQ|INE002A01018", Mode::Full, 0),
                sub("NSE_FO|43919", Mode::Ltpc, 1),
                sub("NSE_EQ|INE062A01020", Mode::Full, 2),
            ],
            3,
        );
        let texts: Vec<String> = r.into_iter().map(|b| String::from_utf8(b).expect("utf-8")).collect();
        assert_eq!(
            texts,
            [
                r#"{"guid":"dalal-3-ltpc","method":"sub","data":{"mode":"ltpc","instrumentKeys":["NSE_FO|43919"]}}"#,
                r#"{"guid":"dalal-3-full","method":"sub","data":{"mode":"full","instrumentKeys":["NSE_EQ|INE002A01018","NSE_EQ|INE062A01020"]}}"#,
            ]
        );
    }

    #[test]
    fn limits_tighten_when_modes_are_combined() {
        let cfg = |subs| UpstoxFeedConfig::new("k", Secret::new("t"), subs);
        let many = |n: usize, mode| (0..n).map(|i| sub(&format!("NSE_FO|{i}"), mode, i as u32)).collect::<Vec<_>>();
        assert!(check(&cfg(many(2000, Mode::Full))).is_ok());
        let mut mixed = many(1501, Mode::Full);
        mixed.push(sub("NSE_EQ|X", Mode::Ltpc, 9999));
        let e = check(&cfg(mixed)).expect_err("combined");
        assert!(
            matches!(e, UpstoxFeedError::TooMany { mode: "full", count: 1501, limit: 1500, combined: true }),
            "{e}"
        );
        assert!(matches!(check(&cfg(many(51, Mode::FullD30))), Err(UpstoxFeedError::TooMany { limit: 50, .. })));
    }
}
