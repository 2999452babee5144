//! The KiteTicker connection: connect, subscribe, read until the socket dies or goes quiet,
//! back off, reconnect. Runs on the feed's own thread under a current-thread runtime (see
//! `feed.rs` for the behaviour; this file is its mechanics).
//!
//! TCP, TLS and the handshake are opened by the brokers' shared WebSocket code (`crate::ws`),
//! so TLS is the rustls build (ring, webpki roots) the REST client already uses.

use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use dalal_core::model::{Input, Timestamp};

use super::feed::{wall_ns, Control, FeedError, FeedStatus, KiteFeedConfig, Mode, OrderSink, Shared};
use super::feed_map::{KiteFeedStats, Mapper, TextEvent};
use crate::secret::Secret;
pub(crate) use crate::ws::Target;
use crate::ws::{BadRoot, OpenError, Tls, Ws};

/// A session that stayed up this long was healthy: the next failure starts the backoff over.
const HEALTHY_SESSION: Duration = Duration::from_secs(30);
/// How long a clean close may take when the feed stops.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

impl From<BadRoot> for FeedError {
    fn from(e: BadRoot) -> FeedError {
        FeedError::BadRoot(e.0)
    }
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Ltp => "ltp",
        Mode::Quote => "quote",
        Mode::Full => "full",
    }
}

/// Kite's requests for a fresh connection: one `subscribe` with every token, then one `mode`
/// per mode in use (a subscription starts in quote mode; the mode request makes it explicit).
pub(crate) fn subscribe_requests(subs: &[super::feed::Subscription]) -> Vec<String> {
    if subs.is_empty() {
        // A connection for order updates only.
        return Vec::new();
    }
    let tokens: Vec<u32> = subs.iter().map(|s| s.token).collect();
    let mut out = vec![serde_json::json!({"a": "subscribe", "v": tokens}).to_string()];
    for mode in [Mode::Ltp, Mode::Quote, Mode::Full] {
        let group: Vec<u32> = subs.iter().filter(|s| s.mode == mode).map(|s| s.token).collect();
        if !group.is_empty() {
            out.push(serde_json::json!({"a": "mode", "v": [mode_name(mode), group]}).to_string());
        }
    }
    out
}

/// Why a connection attempt failed.
#[derive(Debug)]
enum ConnectError {
    /// 401/403 on the handshake: the token is expired or wrong.
    Refused(u16),
    /// Any other failure, as text already scrubbed of secrets.
    Other(String),
}

/// Why a session ended.
#[derive(Debug)]
enum SessionEnd {
    Stop,
    Closed,
    Stale,
    Failed(String),
}

/// The connection thread's state.
pub(crate) struct Worker {
    cfg: KiteFeedConfig,
    target: Target,
    token: Secret,
    shared: Arc<Shared>,
    stats: Arc<KiteFeedStats>,
    mapper: Mapper,
    tx: SyncSender<Input>,
    on_order: Option<OrderSink>,
    tls: Tls,
}

impl Worker {
    pub(crate) fn new(
        cfg: KiteFeedConfig,
        target: Target,
        shared: Arc<Shared>,
        tx: SyncSender<Input>,
        on_order: Option<OrderSink>,
    ) -> Worker {
        let mapper = Mapper::new(cfg.subscriptions.iter().map(|s| (s.token, s.instrument)));
        let token = cfg.access_token.clone();
        let stats = shared.stats.clone();
        Worker { cfg, target, token, shared, stats, mapper, tx, on_order, tls: Tls::default() }
    }

    /// Error text with the token and key cut out, whatever layer produced it.
    fn scrub(&self, text: &str) -> String {
        let mut t = text.to_string();
        for secret in [self.token.expose(), self.cfg.api_key.as_str()] {
            if !secret.is_empty() {
                t = t.replace(secret, "***");
            }
        }
        t
    }

    fn bump(&self, c: &AtomicU64) {
        KiteFeedStats::add(c, 1);
    }

    /// Connects, reads, and reconnects until told to stop.
    pub(crate) async fn run(mut self, mut control: UnboundedReceiver<Control>) {
        let mut attempt: u32 = 0;
        let mut refused: u32 = 0;
        loop {
            self.shared.set_status(FeedStatus::Connecting);
            let outcome = tokio::select! {
                biased;
                c = control.recv() => match c {
                    Some(Control::Token(t)) => {
                        self.token = t;
                        continue;
                    }
                    Some(Control::Stop) | None => return,
                },
                c = tokio::time::timeout(self.cfg.connect_timeout, self.connect()) => {
                    c.unwrap_or_else(|_| Err(ConnectError::Other("timed out connecting".into())))
                }
            };
            match outcome {
                Ok(conn) => {
                    refused = 0;
                    self.bump(&self.stats.connects);
                    self.shared.set_status(FeedStatus::Connected);
                    tracing::info!(host = %self.target.host, "Kite ticker connected");
                    let started = Instant::now();
                    let end = self.session(conn, &mut control).await;
                    match end {
                        SessionEnd::Stop => return,
                        SessionEnd::Stale => {
                            self.bump(&self.stats.stale);
                            tracing::warn!(after = ?self.cfg.stale_after, "Kite ticker went quiet; reconnecting");
                        }
                        SessionEnd::Closed => tracing::warn!("Kite ticker closed the connection; reconnecting"),
                        SessionEnd::Failed(e) => {
                            tracing::warn!(error = %e, "Kite ticker connection failed; reconnecting");
                            self.shared.set_error(e);
                        }
                    }
                    self.bump(&self.stats.reconnects);
                    if started.elapsed() >= HEALTHY_SESSION {
                        attempt = 0;
                    }
                }
                Err(ConnectError::Refused(status)) => {
                    self.bump(&self.stats.auth_failures);
                    refused += 1;
                    let e = format!(
                        "Kite refused the ticker handshake with HTTP {status}: access token expired or invalid"
                    );
                    self.shared.set_error(e.clone());
                    if refused >= self.cfg.auth_attempts.max(1) {
                        self.shared.set_status(FeedStatus::SessionExpired);
                        tracing::error!(status, "Kite ticker: session expired; waiting for a new access token");
                        match control.recv().await {
                            Some(Control::Token(t)) => self.token = t,
                            Some(Control::Stop) | None => return,
                        }
                        refused = 0;
                        attempt = 0;
                        continue;
                    }
                    tracing::warn!(status, "Kite ticker refused the access token; trying once more");
                }
                Err(ConnectError::Other(e)) => {
                    self.bump(&self.stats.connect_failures);
                    tracing::warn!(error = %e, "Kite ticker connection attempt failed");
                    self.shared.set_error(e);
                }
            }
            let delay = self.backoff(attempt);
            attempt = attempt.saturating_add(1);
            self.shared.set_status(FeedStatus::Backoff);
            tokio::select! {
                biased;
                c = control.recv() => match c {
                    // A new token is worth trying at once.
                    Some(Control::Token(t)) => self.token = t,
                    Some(Control::Stop) | None => return,
                },
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// `backoff_min × 2^attempt`, capped at `backoff_max`, then a random half to all of it.
    fn backoff(&self, attempt: u32) -> Duration {
        crate::ws::backoff(self.cfg.backoff_min, self.cfg.backoff_max, attempt)
    }

    async fn connect(&mut self) -> Result<Ws, ConnectError> {
        let root = &self.target.root;
        let sep = if root.contains('?') { '&' } else { '?' };
        let url =
            format!("{root}{sep}api_key={}&access_token={}", encode(&self.cfg.api_key), encode(self.token.expose()));
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|_| ConnectError::Other("the ticker URL does not parse".into()))?;
        drop(url);
        request.headers_mut().insert("X-Kite-Version", HeaderValue::from_static("3"));
        crate::ws::open(&self.target, request, &mut self.tls).await.map_err(|e| match e {
            OpenError::Tcp(e) => ConnectError::Other(self.scrub(&format!("TCP connect to {}: {e}", self.target.host))),
            OpenError::TlsSetup(e) => ConnectError::Other(format!("TLS setup: {e}")),
            OpenError::TlsName => ConnectError::Other(format!("{:?} is not a valid TLS server name", self.target.host)),
            OpenError::Tls(e) => ConnectError::Other(self.scrub(&format!("TLS handshake: {e}"))),
            OpenError::Handshake(e) => self.handshake_error(e),
        })
    }

    fn handshake_error(&self, e: WsError) -> ConnectError {
        match e {
            WsError::Http(response) => match response.status().as_u16() {
                s @ (401 | 403) => ConnectError::Refused(s),
                s => ConnectError::Other(format!("the ticker handshake got HTTP {s}")),
            },
            // Tungstenite's URL errors may quote the URL, which carries the token.
            WsError::Url(_) => ConnectError::Other("the ticker URL was refused".into()),
            other => ConnectError::Other(self.scrub(&format!("WebSocket handshake: {other}"))),
        }
    }

    /// One connection: subscribe, then read until it ends.
    async fn session<S>(&mut self, mut ws: WebSocketStream<S>, control: &mut UnboundedReceiver<Control>) -> SessionEnd
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        for request in subscribe_requests(&self.cfg.subscriptions) {
            if let Err(e) = futures_util::SinkExt::send(&mut ws, Message::text(request)).await {
                return SessionEnd::Failed(self.scrub(&format!("sending the subscription: {e}")));
            }
        }
        let mut deadline = Instant::now() + self.cfg.stale_after;
        loop {
            tokio::select! {
                biased;
                c = control.recv() => match c {
                    Some(Control::Token(t)) => self.token = t,
                    Some(Control::Stop) | None => {
                        let _ = tokio::time::timeout(CLOSE_GRACE, ws.close(None)).await;
                        return SessionEnd::Stop;
                    }
                },
                r = tokio::time::timeout_at(deadline, ws.next()) => match r {
                    Err(_) => return SessionEnd::Stale,
                    Ok(None) => return SessionEnd::Closed,
                    Ok(Some(Err(e))) => return SessionEnd::Failed(self.scrub(&e.to_string())),
                    Ok(Some(Ok(msg))) => {
                        deadline = Instant::now() + self.cfg.stale_after;
                        let received = now();
                        self.shared.set_last_frame(received.0);
                        if self.message(msg, received) {
                            return SessionEnd::Closed;
                        }
                    }
                },
            }
        }
    }

    /// Handles one message; true when it closes the connection.
    fn message(&mut self, msg: Message, received: Timestamp) -> bool {
        match msg {
            Message::Binary(bytes) => {
                let (tx, stats) = (&self.tx, &*self.stats);
                self.mapper.frame(&bytes, received, stats, &mut |input| match tx.try_send(input) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => KiteFeedStats::add(&stats.overflow, 1),
                    // The feed's handle is gone; the thread is about to be told to stop.
                    Err(TrySendError::Disconnected(_)) => {}
                });
            }
            Message::Text(text) => match self.mapper.text(text.as_str(), &self.stats) {
                TextEvent::Order(update) => {
                    if let Some(sink) = self.on_order.as_mut() {
                        sink(*update);
                    }
                }
                TextEvent::Error(e) => tracing::warn!(text = %e, "Kite ticker error message"),
                TextEvent::Message(m) => tracing::info!(text = %m, "Kite ticker message"),
                TextEvent::Malformed => tracing::debug!(bytes = text.len(), "malformed Kite ticker text skipped"),
            },
            Message::Close(_) => return true,
            // Pings are answered by tungstenite itself; every frame already proved the link alive.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
        false
    }
}

/// Wall-clock time, for packets that carry none.
fn now() -> Timestamp {
    Timestamp(wall_ns())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kite::feed::Subscription;
    use dalal_core::model::InstrumentId;

    #[test]
    fn roots_parse_with_default_ports_and_never_echo_a_query() {
        let t = Target::parse("wss://ws.kite.trade").expect("kite");
        assert_eq!((t.tls, t.host.as_str(), t.port), (true, "ws.kite.trade", 443));
        assert_eq!(t.root, "wss://ws.kite.trade/");
        let t = Target::parse("ws://127.0.0.1:9001").expect("local");
        assert_eq!((t.tls, t.host.as_str(), t.port), (false, "127.0.0.1", 9001));
        assert_eq!(Target::parse("ws://h/feed?x=1").expect("with path").root, "ws://h/feed?x=1");
        assert_eq!(Target::parse("ws://h?x=1").expect("with query").root, "ws://h/?x=1");
        for bad in ["http://x", "ws.kite.trade", "", "wss://"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        let e = Target::parse("ftp://h?access_token=topsecret").expect_err("scheme").to_string();
        assert!(!e.contains("topsecret"), "{e}");
    }

    #[test]
    fn subscription_requests_group_tokens_by_mode() {
        let s = |token, mode| Subscription { token, instrument: InstrumentId(0), mode };
        let r = subscribe_requests(&[s(1, Mode::Full), s(2, Mode::Quote), s(3, Mode::Full), s(4, Mode::Ltp)]);
        assert_eq!(
            r,
            [
                r#"{"a":"subscribe","v":[1,2,3,4]}"#,
                r#"{"a":"mode","v":["ltp",[4]]}"#,
                r#"{"a":"mode","v":["quote",[2]]}"#,
                r#"{"a":"mode","v":["full",[1,3]]}"#,
            ]
        );
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("ab-9_.~"), "ab-9_.~");
        assert_eq!(encode("a b&c=d"), "a%20b%26c%3Dd");
    }
}
