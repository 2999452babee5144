//! Angel One market data as an engine feed: a SmartStream 2.0 WebSocket client
//! ([`SmartStream`]) that is a [`FeedSource`] like the Kite ticker and the UDP and file feeds.
//!
//! The socket lives on a thread of its own with a current-thread tokio runtime, so neither the
//! engine thread nor a feed-driving thread ever runs async code. That thread connects with
//! Angel's handshake headers (`Authorization: Bearer <jwt>`, `x-api-key`, `x-client-code`,
//! `x-feed-token`; brokers.md §2.11.1), sends one subscribe request per mode in use with the
//! tokens grouped by exchange type (§2.11.2), decodes the little-endian packets
//! (`crate::angel::stream`), turns them into engine inputs (`map.rs`: ticks, best bid and
//! offer, open interest) and hands them over through a bounded queue; [`FeedSource::poll`]
//! publishes what is queued, never more than the room it is given. The queue never makes the
//! socket wait: when the engine side is that far behind, inputs are dropped and counted.
//!
//! The connection looks after itself (`link.rs`): it sends the text `ping` every
//! [`SmartStreamConfig::ping_interval`] (Angel wants one at least every 30 s and answers
//! `pong`), treats a socket silent for [`SmartStreamConfig::stale_after`] as dead even if TCP
//! has not noticed, and reconnects with capped, jittered backoff, resubscribing everything. A
//! handshake refused with 401 carries Angel's reason in `x-error-message` ("Invalid Header -
//! Invalid Feed Token", …): it goes into the error text and the health, never a token; after
//! [`SmartStreamConfig::auth_attempts`] refusals in a row the stream waits for new credentials
//! ([`SmartStream::set_credentials`], after a re-login) instead of retrying. Angel's E1001
//! (invalid request) and E1002 (subscription limit) replies are counted and logged. Nothing
//! received is trusted: damaged packets, packets of tokens not subscribed to and stray texts
//! are counted and skipped.
//!
//! Angel's documented limits are checked at start, so a configuration Angel would refuse
//! piecemeal is refused whole: at most 1000 token×mode subscriptions, and Depth-20 for at most
//! 50 tokens, NSE cash only.

pub(crate) mod link;
mod map;

use crate::feed_queue::InputQueue;
use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use dalal_adapters::feed::{FeedPoll, FeedReport, FeedSource};
use dalal_core::engine::placement::IngressPublisher;
use dalal_core::model::{Input, InstrumentId, TickReject, Timestamp};

use crate::angel::stream::{ExchangeType, Mode, StreamRequest};
use crate::secret::Secret;
pub use link::{
    ConnectionCounters, Credentials, CredentialsHandle, SocketHealth, SocketMonitor, SocketStats, SocketStatus,
};
use link::{LinkConfig, LinkState, Protocol, Runner};
pub use map::{SmartStreamCounters, SmartStreamStats};

/// SmartStream's endpoint.
pub const SMART_STREAM_ROOT: &str = "wss://smartapisocket.angelone.in/smart-stream";
/// Token×mode subscriptions Angel allows per session (brokers.md §2.11.1).
pub const MAX_SUBSCRIPTIONS: usize = 1000;
/// Tokens Angel allows in Depth-20 mode (NSE cash only).
pub const MAX_DEPTH20_TOKENS: usize = 50;
/// The length of a packet's token field.
const TOKEN_FIELD: usize = 25;

/// One token to stream: its exchange type and Angel's symbol token, the engine's id for it,
/// and how much to ask for. LTP packets become zero-quantity ticks; Quote and SnapQuote
/// packets trades; SnapQuote also the best bid and offer and open interest; Depth-20 (NSE cash,
/// no last price) the best bid and offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub exchange: ExchangeType,
    pub token: String,
    pub mode: Mode,
    pub instrument: InstrumentId,
}

impl Subscription {
    pub fn new(exchange: ExchangeType, token: impl Into<String>, mode: Mode, instrument: InstrumentId) -> Self {
        Subscription { exchange, token: token.into(), mode, instrument }
    }
}

/// How to reach SmartStream and what to ask for.
#[derive(Clone, Debug)]
pub struct SmartStreamConfig {
    /// [`SMART_STREAM_ROOT`], or a fake server's `ws://127.0.0.1:…/smart-stream` in tests.
    pub ws_root: String,
    pub api_key: String,
    pub client_code: String,
    pub jwt: Secret,
    pub feed_token: Secret,
    pub subscriptions: Vec<Subscription>,
    /// Inputs the queue to the engine side holds.
    pub queue: usize,
    /// How often the text `ping` goes out (Angel: at least every 30 s).
    pub ping_interval: Duration,
    /// A connection with no message at all for this long is dead; it must be longer than the
    /// ping interval, since a quiet market sends nothing but the pongs.
    pub stale_after: Duration,
    /// First retry delay after a failure; it doubles per failure up to `backoff_max`, each
    /// delay drawn between half and all of its value.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// TCP, TLS and WebSocket handshake together.
    pub connect_timeout: Duration,
    /// Handshakes refused with 401/403 in a row before the stream waits for new credentials.
    pub auth_attempts: u32,
}

impl SmartStreamConfig {
    /// Angel's endpoint and the defaults: a ping every 25 s, stale after 40 s, backoff 0.5 s
    /// doubling to 30 s, 10 s to connect, two refused handshakes before waiting for new
    /// credentials, a queue of 65536 inputs.
    pub fn new(
        api_key: &str,
        client_code: &str,
        jwt: Secret,
        feed_token: Secret,
        subscriptions: Vec<Subscription>,
    ) -> SmartStreamConfig {
        SmartStreamConfig {
            ws_root: SMART_STREAM_ROOT.to_string(),
            api_key: api_key.to_string(),
            client_code: client_code.to_string(),
            jwt,
            feed_token,
            subscriptions,
            queue: 1 << 16,
            ping_interval: Duration::from_secs(25),
            stale_after: Duration::from_secs(40),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            auth_attempts: 2,
        }
    }
}

/// Why a stream did not start.
#[derive(Debug, thiserror::Error)]
pub enum SmartStreamError {
    #[error("the SmartStream root must be a ws:// or wss:// URL with a host (got {0:?})")]
    BadRoot(String),
    #[error("no token to subscribe to")]
    NothingToSubscribe,
    #[error("{count} token×mode subscriptions: SmartStream allows at most {limit} per session")]
    TooManySubscriptions { count: usize, limit: usize },
    #[error("{count} Depth-20 tokens: SmartStream allows at most {limit}")]
    TooManyDepth20 { count: usize, limit: usize },
    #[error("Depth-20 is for NSE cash (exchange type 1) only; token {token:?} is of exchange type {exchange}")]
    Depth20NotNseCm { token: String, exchange: u8 },
    #[error("token {0:?} is not 1 to 25 ASCII characters without NUL")]
    BadToken(String),
    #[error("token {token:?} of exchange type {exchange} is subscribed twice in mode {mode}")]
    Duplicate { token: String, exchange: u8, mode: u8 },
    #[error("token {token:?} of exchange type {exchange} is given two instruments")]
    ConflictingInstrument { token: String, exchange: u8 },
    #[error("the ping interval ({ping:?}) must be above zero and below stale_after ({stale:?})")]
    Timing { ping: Duration, stale: Duration },
    #[error("could not start the SmartStream thread: {0}")]
    Thread(#[from] std::io::Error),
}

impl From<crate::ws::BadRoot> for SmartStreamError {
    fn from(e: crate::ws::BadRoot) -> SmartStreamError {
        SmartStreamError::BadRoot(e.0)
    }
}

/// Angel's limits and the configuration's own consistency.
fn check(cfg: &SmartStreamConfig) -> Result<(), SmartStreamError> {
    let subs = &cfg.subscriptions;
    if subs.is_empty() {
        return Err(SmartStreamError::NothingToSubscribe);
    }
    if cfg.ping_interval.is_zero() || cfg.stale_after <= cfg.ping_interval {
        return Err(SmartStreamError::Timing { ping: cfg.ping_interval, stale: cfg.stale_after });
    }
    let mut seen = HashSet::new();
    let mut instruments: HashMap<(u8, &str), InstrumentId> = HashMap::new();
    for s in subs {
        let t = &s.token;
        if t.is_empty() || t.len() > TOKEN_FIELD || !t.bytes().all(|b| b.is_ascii() && b != 0) {
            return Err(SmartStreamError::BadToken(t.clone()));
        }
        let exchange = s.exchange.code();
        if !seen.insert((exchange, t.as_str(), s.mode.code())) {
            return Err(SmartStreamError::Duplicate { token: t.clone(), exchange, mode: s.mode.code() });
        }
        if *instruments.entry((exchange, t.as_str())).or_insert(s.instrument) != s.instrument {
            return Err(SmartStreamError::ConflictingInstrument { token: t.clone(), exchange });
        }
        if s.mode == Mode::Depth20 && s.exchange != ExchangeType::NseCm {
            return Err(SmartStreamError::Depth20NotNseCm { token: t.clone(), exchange });
        }
    }
    if subs.len() > MAX_SUBSCRIPTIONS {
        return Err(SmartStreamError::TooManySubscriptions { count: subs.len(), limit: MAX_SUBSCRIPTIONS });
    }
    let depth = subs.iter().filter(|s| s.mode == Mode::Depth20).count();
    if depth > MAX_DEPTH20_TOKENS {
        return Err(SmartStreamError::TooManyDepth20 { count: depth, limit: MAX_DEPTH20_TOKENS });
    }
    Ok(())
}

/// SmartStream's requests for a fresh connection: one subscribe per mode in use (LTP, Quote,
/// SnapQuote, Depth-20), tokens grouped by exchange type in the order given. The correlation
/// id (`dalal-<mode>`) names the mode in Angel's error replies.
pub fn subscribe_requests(subs: &[Subscription]) -> Vec<String> {
    [Mode::Ltp, Mode::Quote, Mode::SnapQuote, Mode::Depth20]
        .into_iter()
        .filter_map(|mode| {
            let tokens: Vec<(ExchangeType, String)> =
                subs.iter().filter(|s| s.mode == mode).map(|s| (s.exchange, s.token.clone())).collect();
            if tokens.is_empty() {
                return None;
            }
            let request = StreamRequest::subscribe(format!("dalal-{}", mode.code()), mode, tokens);
            serde_json::to_string(&request).ok()
        })
        .collect()
}

/// SmartStream's side of the connection.
struct Stream {
    requests: Vec<String>,
    mapper: map::Mapper,
    stats: Arc<SmartStreamStats>,
    tx: SyncSender<Input>,
}

impl Protocol for Stream {
    fn opening(&mut self) -> Vec<String> {
        self.requests.clone()
    }

    fn binary(&mut self, bytes: &[u8], received: Timestamp, _link: &LinkState) {
        let (tx, stats) = (&self.tx, &*self.stats);
        self.mapper.binary(bytes, received, stats, &mut |input| match tx.try_send(input) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => SmartStreamStats::add(&stats.overflow, 1),
            // The stream's handle is gone; the thread is about to be told to stop.
            Err(TrySendError::Disconnected(_)) => {}
        });
    }

    fn text(&mut self, text: &str, link: &LinkState) {
        match map::text(text, &self.stats) {
            map::TextEvent::Error(e) => {
                let m = format!(
                    "SmartStream refused a request ({}, correlation id {:?}): {}",
                    e.error_code, e.correlation_id, e.error_message
                );
                tracing::warn!("{m}");
                link.set_error(m);
            }
            map::TextEvent::Malformed => tracing::debug!(bytes = text.len(), "unexpected SmartStream text skipped"),
        }
    }
}

/// A running SmartStream feed. Dropping it closes the socket and joins its thread.
pub struct SmartStream {
    queue: InputQueue,
    link: Arc<LinkState>,
    stats: Arc<SmartStreamStats>,
    runner: Runner,
    stale_after: Duration,
}

impl std::fmt::Debug for SmartStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmartStream")
            .field("status", &self.status())
            .field("published", &self.queue.published())
            .finish()
    }
}

impl SmartStream {
    /// Checks the configuration against Angel's limits and starts the connection thread.
    pub fn start(cfg: SmartStreamConfig) -> Result<SmartStream, SmartStreamError> {
        let target = crate::ws::Target::parse(&cfg.ws_root)?;
        check(&cfg)?;
        let (tx, inputs) = std::sync::mpsc::sync_channel(cfg.queue.max(1));
        let link = Arc::new(LinkState::default());
        let stats = Arc::new(SmartStreamStats::default());
        let stream = Stream {
            requests: subscribe_requests(&cfg.subscriptions),
            mapper: map::Mapper::new(cfg.subscriptions.iter().map(|s| (s.exchange, s.token.clone(), s.instrument))),
            stats: stats.clone(),
            tx,
        };
        let stale_after = cfg.stale_after;
        let link_cfg = LinkConfig {
            name: "SmartStream",
            target,
            api_key: cfg.api_key,
            client_code: cfg.client_code,
            credentials: Credentials { jwt: cfg.jwt, feed_token: cfg.feed_token },
            ping_interval: cfg.ping_interval,
            stale_after,
            backoff_min: cfg.backoff_min,
            backoff_max: cfg.backoff_max,
            connect_timeout: cfg.connect_timeout,
            auth_attempts: cfg.auth_attempts,
        };
        let runner = Runner::start("angel-smartstream", link_cfg, link.clone(), stream)?;
        Ok(SmartStream { queue: InputQueue::new(inputs), link, stats, runner, stale_after })
    }

    /// The counters so far.
    pub fn counters(&self) -> SmartStreamCounters {
        self.stats.snapshot(self.link.counters())
    }

    pub fn status(&self) -> SocketStatus {
        self.link.status()
    }

    /// The last connection or subscription error, scrubbed of secrets.
    pub fn last_error(&self) -> Option<String> {
        self.link.error()
    }

    /// A monitoring handle for other threads, taken before the stream is boxed away into its
    /// feed thread.
    pub fn monitor(&self) -> SocketMonitor<SmartStreamStats> {
        SocketMonitor::new(self.link.clone(), self.stats.clone(), self.stale_after)
    }

    /// The stream's health now (see [`SocketMonitor::health`]).
    pub fn health(&self) -> SocketHealth<SmartStreamCounters> {
        self.monitor().health()
    }

    /// New credentials (after a re-login): used from the next connection on, and wake a stream
    /// that stopped after refused handshakes.
    pub fn set_credentials(&self, jwt: Secret, feed_token: Secret) {
        self.runner.set_credentials(jwt, feed_token);
    }

    /// A handle that gives the stream new credentials from another thread, once the stream
    /// itself has been handed to the engine's side.
    pub fn credentials_handle(&self) -> CredentialsHandle {
        self.runner.credentials_handle()
    }

    /// Hands over up to `room` queued inputs to `f`, waiting up to `wait` for the first one.
    /// Returns how many were handed over.
    pub fn drain(&mut self, room: usize, wait: Duration, f: impl FnMut(Input)) -> usize {
        self.queue.drain(room, wait, f)
    }
}

impl FeedSource for SmartStream {
    fn name(&self) -> String {
        "angel:smartstream".to_string()
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
            SocketStatus::SessionExpired => Some(
                self.last_error().unwrap_or_else(|| "SmartStream refused the credentials: session expired".to_string()),
            ),
            _ => None,
        };
        FeedReport {
            name: self.name(),
            published: self.queue.published(),
            rejects,
            received: c.packets + c.malformed,
            error,
            ..FeedReport::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(exchange: ExchangeType, token: &str, mode: Mode, id: u32) -> Subscription {
        Subscription::new(exchange, token, mode, InstrumentId(id))
    }

    #[test]
    fn one_request_per_mode_with_tokens_grouped_by_exchange() {
        let r = subscribe_requests(&[
            sub(ExchangeType::NseCm, "3045", Mode::SnapQuote, 0),
            sub(ExchangeType::NseFo, "43919", Mode::SnapQuote, 1),
            sub(ExchangeType::NseCm, "2885", Mode::SnapQuote, 2),
            sub(ExchangeType::NseCm, "1594", Mode::Ltp, 3),
        ]);
        assert_eq!(
            r,
            [
                r#"{"correlationID":"dalal-1","action":1,"params":{"mode":1,"tokenList":[{"exchangeType":1,"tokens":["1594"]}]}}"#,
                r#"{"correlationID":"dalal-3","action":1,"params":{"mode":3,"tokenList":[{"exchangeType":1,"tokens":["3045","2885"]},{"exchangeType":2,"tokens":["43919"]}]}}"#,
            ]
        );
    }
}
