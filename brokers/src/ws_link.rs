//! The connection every broker socket keeps (Angel One's SmartStream and order-update socket,
//! Upstox's market data feed and portfolio stream): a keepalive ping on a timer, a connection
//! silent for too long taken for dead, reconnection with capped, jittered backoff, refused
//! credentials reported in the broker's words and, after a few refusals in a row, a wait for
//! new credentials instead of a reconnect storm.
//!
//! How a connection is opened is a broker's [`Dialer`] (Angel: a handshake with its headers;
//! Upstox: an `authorize` call for a one-time URL, then a plain handshake); what a socket does
//! with its messages is its [`Protocol`]. Both run on a thread of their own under a
//! current-thread runtime ([`Runner`]); readers on other threads see its [`LinkState`] through
//! relaxed atomics and a lock held only to swap a string. Credentials never reach an error
//! text (the dialer scrubs every text the lower layers produce) or a log.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use dalal_core::model::Timestamp;

use crate::secret::Secret;
use crate::ws::{OpenError, Tls, Ws};

/// A session that stayed up this long was healthy: the next failure starts the backoff over.
const HEALTHY_SESSION: Duration = Duration::from_secs(30);
/// How long a clean close may take when the socket stops.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Longest refusal reason (a header or a body) kept in an error text.
const MAX_REASON: usize = 200;

/// Where a socket's connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketStatus {
    Connecting,
    Connected,
    /// Waiting before the next attempt.
    Backoff,
    /// The broker refused the credentials (HTTP 401/403) as many times in a row as the socket
    /// allows; nothing is tried until new ones are given.
    SessionExpired,
    Stopped,
}

impl SocketStatus {
    fn from_u8(v: u8) -> SocketStatus {
        match v {
            0 => SocketStatus::Connecting,
            1 => SocketStatus::Connected,
            2 => SocketStatus::Backoff,
            3 => SocketStatus::SessionExpired,
            _ => SocketStatus::Stopped,
        }
    }
}

/// The connection's counters, common to every socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConnectionCounters {
    /// Connections opened (handshake done).
    pub connects: u64,
    /// Connections lost and tried again.
    pub reconnects: u64,
    /// Connections given up because nothing arrived for the stale interval.
    pub stale: u64,
    /// Credentials refused with 401/403 (wrong or expired).
    pub auth_failures: u64,
    /// Connection attempts that failed otherwise (network, TLS, other HTTP statuses, timeout).
    pub connect_failures: u64,
    /// Keepalive pings sent (Angel: the text `ping`; Upstox: WebSocket ping frames).
    pub pings: u64,
    /// Their answers received (the text `pong`, or pong frames).
    pub pongs: u64,
    /// WebSocket ping frames the server sent (each answered with a pong).
    pub server_pings: u64,
}

#[derive(Debug, Default)]
struct LinkStats {
    connects: AtomicU64,
    reconnects: AtomicU64,
    stale: AtomicU64,
    auth_failures: AtomicU64,
    connect_failures: AtomicU64,
    pings: AtomicU64,
    pongs: AtomicU64,
    server_pings: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// What the connection thread and a socket's readers share.
#[derive(Debug, Default)]
pub(crate) struct LinkState {
    status: AtomicU8,
    /// Held only to swap or clone the text, never across an await or a socket call.
    last_error: Mutex<Option<String>>,
    /// Wall-clock ns of the last message of any kind (pongs included); 0 before the first.
    last_frame_ns: AtomicI64,
    stats: LinkStats,
}

impl LinkState {
    fn set_status(&self, s: SocketStatus) {
        self.status.store(s as u8, Ordering::Release);
    }

    pub(crate) fn status(&self) -> SocketStatus {
        SocketStatus::from_u8(self.status.load(Ordering::Acquire))
    }

    /// Records an error text; it must already be free of secrets.
    pub(crate) fn set_error(&self, e: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }

    pub(crate) fn error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn last_frame(&self) -> Option<i64> {
        Some(self.last_frame_ns.load(Ordering::Relaxed)).filter(|ns| *ns > 0)
    }

    pub(crate) fn counters(&self) -> ConnectionCounters {
        let s = &self.stats;
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ConnectionCounters {
            connects: l(&s.connects),
            reconnects: l(&s.reconnects),
            stale: l(&s.stale),
            auth_failures: l(&s.auth_failures),
            connect_failures: l(&s.connect_failures),
            pings: l(&s.pings),
            pongs: l(&s.pongs),
            server_pings: l(&s.server_pings),
        }
    }
}

/// Wall-clock nanoseconds since the epoch (0 if the clock is before it).
pub(crate) fn wall_ns() -> i64 {
    let ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    i64::try_from(ns).unwrap_or(i64::MAX)
}

/// A socket's own counters, as its monitor reads them.
pub trait SocketStats: std::fmt::Debug + Send + Sync + 'static {
    type Counters: Clone + std::fmt::Debug + Serialize;
    /// The counters now, with the connection's.
    fn snapshot(&self, connection: ConnectionCounters) -> Self::Counters;
}

/// A socket's health at one moment, as operators see it (no secret: error texts are scrubbed
/// where they are made).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SocketHealth<C> {
    pub status: SocketStatus,
    pub last_error: Option<String>,
    /// Wall-clock ns of the last message received, pongs included; `None` before the first.
    pub last_frame_ns: Option<i64>,
    /// What the socket says cannot be taken as current: it is not connected, or nothing (not
    /// even a pong) arrived for its stale interval.
    pub stale: bool,
    pub counters: C,
}

/// A read-only view of a running socket for monitoring threads (console, metrics), kept once
/// the socket itself has been handed on. Cheap to clone; reading it takes relaxed atomic loads
/// and, for the last error, a lock the connection thread holds only to replace a string. It
/// outlives the socket: after the socket stops it reads `stopped`.
#[derive(Debug)]
pub struct SocketMonitor<S> {
    link: Arc<LinkState>,
    stats: Arc<S>,
    stale_after: Duration,
}

impl<S> Clone for SocketMonitor<S> {
    fn clone(&self) -> Self {
        SocketMonitor { link: self.link.clone(), stats: self.stats.clone(), stale_after: self.stale_after }
    }
}

impl<S: SocketStats> SocketMonitor<S> {
    pub(crate) fn new(link: Arc<LinkState>, stats: Arc<S>, stale_after: Duration) -> SocketMonitor<S> {
        SocketMonitor { link, stats, stale_after }
    }

    pub fn status(&self) -> SocketStatus {
        self.link.status()
    }

    pub fn counters(&self) -> S::Counters {
        self.stats.snapshot(self.link.counters())
    }

    /// The last connection or protocol error, scrubbed of secrets.
    pub fn last_error(&self) -> Option<String> {
        self.link.error()
    }

    /// Wall-clock ns of the last message (pongs included); `None` before the first.
    pub fn last_frame_ns(&self) -> Option<i64> {
        self.link.last_frame()
    }

    /// Everything above, judged stale against the wall clock at `now_ns`.
    pub fn health_at(&self, now_ns: i64) -> SocketHealth<S::Counters> {
        let status = self.status();
        let last_frame_ns = self.last_frame_ns();
        let limit = i64::try_from(self.stale_after.as_nanos()).unwrap_or(i64::MAX);
        // A clock that stepped back makes a negative age: fresh, not stale.
        let fresh = last_frame_ns.is_some_and(|t| now_ns.saturating_sub(t) <= limit);
        SocketHealth {
            status,
            last_error: self.last_error(),
            last_frame_ns,
            stale: status != SocketStatus::Connected || !fresh,
            counters: self.counters(),
        }
    }

    /// [`SocketMonitor::health_at`] now.
    pub fn health(&self) -> SocketHealth<S::Counters> {
        self.health_at(wall_ns())
    }
}

/// Requests to the connection thread.
#[derive(Debug)]
pub(crate) enum Control<C> {
    Credentials(C),
    Stop,
}

/// Gives a running socket whose credentials are one access token (Upstox) a new token from
/// another thread (after a login): it is used from the next connection on, and wakes a socket
/// waiting after refusals. Does nothing once the socket has stopped.
#[derive(Clone)]
pub struct TokenHandle(pub(crate) UnboundedSender<Control<Secret>>);

impl TokenHandle {
    pub fn set(&self, token: Secret) {
        let _ = self.0.send(Control::Credentials(token));
    }
}

impl std::fmt::Debug for TokenHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHandle")
    }
}

/// How the connection is kept alive and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keepalive {
    /// A text message (Angel: `ping`), answered with a text (`pong`).
    Text { ping: &'static str, pong: &'static str },
    /// WebSocket ping frames, answered with pong frames.
    Frames,
}

/// How one socket keeps its connection; see the sockets' configurations for each field.
#[derive(Clone, Debug)]
pub(crate) struct LinkConfig {
    /// For logs and errors: `SmartStream`, `the Upstox market feed`.
    pub(crate) name: &'static str,
    pub(crate) keepalive: Keepalive,
    pub(crate) ping_interval: Duration,
    pub(crate) stale_after: Duration,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    /// Everything [`Dialer::dial`] does, together.
    pub(crate) connect_timeout: Duration,
    /// Refusals in a row before the socket waits for new credentials.
    pub(crate) auth_attempts: u32,
}

/// Why a connection attempt failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The credentials were refused (HTTP 401/403); the text says so in the broker's words,
    /// scrubbed.
    Refused { status: u16, message: String },
    /// Any other failure, as text already scrubbed of secrets.
    Other(String),
}

/// How a broker's socket is opened with the credentials in hand.
#[allow(async_fn_in_trait)]
pub(crate) trait Dialer: Send + 'static {
    type Credentials: Send + 'static;
    /// New credentials, for the next connection on.
    fn set_credentials(&mut self, credentials: Self::Credentials);
    /// Opens a connection (the link bounds it with the connect timeout).
    async fn dial(&mut self, tls: &mut Tls) -> Result<Ws, ConnectError>;
    /// `text` with every secret the dialer knows cut out.
    fn scrub(&self, text: &str) -> String;
}

/// What a socket does with its connection.
pub(crate) trait Protocol: Send + 'static {
    /// Requests to send on each new connection (subscriptions).
    fn opening(&mut self) -> Vec<Message>;
    /// A binary message.
    fn binary(&mut self, bytes: &[u8], received: Timestamp, link: &LinkState);
    /// A text message other than the keepalive's answer.
    fn text(&mut self, text: &str, link: &LinkState);
}

/// Cuts `text` to at most `max` characters.
pub(crate) fn clip(text: &str, max: usize) -> &str {
    text.char_indices().nth(max).map_or(text, |(i, _)| &text[..i])
}

/// What [`crate::ws::open`] failing means for the link. With `refusals`, a handshake answered
/// 401/403 is a refusal of the credentials (Angel's sockets, whose handshake carries them);
/// without, it is one more failure to retry (Upstox's one-time URLs carry no credentials: a
/// refused one is spent or expired, and the next attempt authorizes a new one). The reason is
/// the `x-error-message` header, else the body, clipped and scrubbed.
pub(crate) fn open_error(
    name: &str,
    host: &str,
    e: OpenError,
    refusals: bool,
    scrub: impl Fn(&str) -> String,
) -> ConnectError {
    match e {
        OpenError::Tcp(e) => ConnectError::Other(scrub(&format!("TCP connect to {host}: {e}"))),
        OpenError::TlsSetup(e) => ConnectError::Other(format!("TLS setup: {e}")),
        OpenError::TlsName => ConnectError::Other(format!("{host:?} is not a valid TLS server name")),
        OpenError::Tls(e) => ConnectError::Other(scrub(&format!("TLS handshake: {e}"))),
        OpenError::Handshake(WsError::Http(response)) => {
            let status = response.status().as_u16();
            let header = response.headers().get("x-error-message").and_then(|v| v.to_str().ok());
            let body = response.body().as_deref().and_then(|b| std::str::from_utf8(b).ok());
            let reason = header.or(body).map(str::trim).filter(|r| !r.is_empty());
            let reason = scrub(clip(reason.unwrap_or("no reason given"), MAX_REASON));
            match status {
                401 | 403 if refusals => ConnectError::Refused {
                    status,
                    message: format!("{name} refused the handshake with HTTP {status}: {reason}"),
                },
                s => ConnectError::Other(format!("the {name} handshake got HTTP {s}: {reason}")),
            }
        }
        // Tungstenite's URL errors may quote the URL.
        OpenError::Handshake(WsError::Url(_)) => ConnectError::Other(format!("the {name} URL was refused")),
        OpenError::Handshake(other) => ConnectError::Other(scrub(&format!("{name} WebSocket handshake: {other}"))),
    }
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
struct Link<D, P> {
    cfg: LinkConfig,
    state: Arc<LinkState>,
    dialer: D,
    protocol: P,
    tls: Tls,
}

/// A socket's connection thread. Dropping it stops the thread and joins it.
pub(crate) struct Runner<C> {
    control: UnboundedSender<Control<C>>,
    thread: Option<JoinHandle<()>>,
}

impl<C: Send + 'static> Runner<C> {
    /// Starts the connection thread, named `thread`.
    pub(crate) fn start<D: Dialer<Credentials = C>, P: Protocol>(
        thread: &str,
        cfg: LinkConfig,
        state: Arc<LinkState>,
        dialer: D,
        protocol: P,
    ) -> std::io::Result<Runner<C>> {
        let (control, control_rx) = tokio::sync::mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let link = Link { cfg, state: state.clone(), dialer, protocol, tls: Tls::default() };
        let thread = std::thread::Builder::new().name(thread.into()).spawn(move || {
            runtime.block_on(link.run(control_rx));
            // The runtime (and with it the socket) goes before the status says so.
            drop(runtime);
            state.set_status(SocketStatus::Stopped);
        })?;
        Ok(Runner { control, thread: Some(thread) })
    }

    pub(crate) fn set_credentials(&self, credentials: C) {
        let _ = self.control.send(Control::Credentials(credentials));
    }

    /// The thread's control channel, for a credentials handle.
    pub(crate) fn control(&self) -> UnboundedSender<Control<C>> {
        self.control.clone()
    }
}

impl<C> Drop for Runner<C> {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(t) = self.thread.take() {
            // Dropped on its own thread (from an order callback): it ends when the callback
            // returns; joining would wait for ourselves.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl<D: Dialer, P: Protocol> Link<D, P> {
    async fn run(mut self, mut control: UnboundedReceiver<Control<D::Credentials>>) {
        let name = self.cfg.name;
        let mut attempt: u32 = 0;
        let mut refused: u32 = 0;
        loop {
            self.state.set_status(SocketStatus::Connecting);
            let outcome = tokio::select! {
                biased;
                c = control.recv() => match c {
                    Some(Control::Credentials(c)) => {
                        self.dialer.set_credentials(c);
                        continue;
                    }
                    Some(Control::Stop) | None => return,
                },
                c = tokio::time::timeout(self.cfg.connect_timeout, self.dialer.dial(&mut self.tls)) => {
                    c.unwrap_or_else(|_| Err(ConnectError::Other(format!("timed out connecting to {name}"))))
                }
            };
            match outcome {
                Ok(ws) => {
                    refused = 0;
                    bump(&self.state.stats.connects);
                    self.state.set_status(SocketStatus::Connected);
                    tracing::info!("{name} connected");
                    let started = Instant::now();
                    match self.session(ws, &mut control).await {
                        SessionEnd::Stop => return,
                        SessionEnd::Stale => {
                            bump(&self.state.stats.stale);
                            let e = format!("{name} was silent for {:?}; reconnecting", self.cfg.stale_after);
                            tracing::warn!("{e}");
                            self.state.set_error(e);
                        }
                        SessionEnd::Closed => tracing::warn!("{name} closed the connection; reconnecting"),
                        SessionEnd::Failed(e) => {
                            tracing::warn!(error = %e, "{name} connection failed; reconnecting");
                            self.state.set_error(e);
                        }
                    }
                    bump(&self.state.stats.reconnects);
                    if started.elapsed() >= HEALTHY_SESSION {
                        attempt = 0;
                    }
                }
                Err(ConnectError::Refused { status, message }) => {
                    bump(&self.state.stats.auth_failures);
                    refused += 1;
                    tracing::warn!(status, "{message}");
                    self.state.set_error(message);
                    if refused >= self.cfg.auth_attempts.max(1) {
                        self.state.set_status(SocketStatus::SessionExpired);
                        tracing::error!(status, "{name}: credentials refused; waiting for new ones");
                        match control.recv().await {
                            Some(Control::Credentials(c)) => self.dialer.set_credentials(c),
                            Some(Control::Stop) | None => return,
                        }
                        refused = 0;
                        attempt = 0;
                        continue;
                    }
                }
                Err(ConnectError::Other(e)) => {
                    bump(&self.state.stats.connect_failures);
                    tracing::warn!(error = %e, "{name} connection attempt failed");
                    self.state.set_error(e);
                }
            }
            let delay = crate::ws::backoff(self.cfg.backoff_min, self.cfg.backoff_max, attempt);
            attempt = attempt.saturating_add(1);
            self.state.set_status(SocketStatus::Backoff);
            tokio::select! {
                biased;
                c = control.recv() => match c {
                    // New credentials are worth trying at once.
                    Some(Control::Credentials(c)) => self.dialer.set_credentials(c),
                    Some(Control::Stop) | None => return,
                },
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// One connection: the opening requests, then read (and ping) until it ends.
    async fn session(&mut self, mut ws: Ws, control: &mut UnboundedReceiver<Control<D::Credentials>>) -> SessionEnd {
        let name = self.cfg.name;
        for request in self.protocol.opening() {
            if let Err(e) = ws.send(request).await {
                return SessionEnd::Failed(self.dialer.scrub(&format!("sending a request to {name}: {e}")));
            }
        }
        let keepalive = self.cfg.keepalive;
        let every = self.cfg.ping_interval;
        let mut ping = tokio::time::interval_at(Instant::now() + every, every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut deadline = Instant::now() + self.cfg.stale_after;
        loop {
            tokio::select! {
                biased;
                c = control.recv() => match c {
                    // Used from the next connection on: this one is already authenticated.
                    Some(Control::Credentials(c)) => self.dialer.set_credentials(c),
                    Some(Control::Stop) | None => {
                        let _ = tokio::time::timeout(CLOSE_GRACE, ws.close(None)).await;
                        return SessionEnd::Stop;
                    }
                },
                _ = ping.tick() => {
                    let m = match keepalive {
                        Keepalive::Text { ping, .. } => Message::text(ping),
                        Keepalive::Frames => Message::Ping(Default::default()),
                    };
                    if let Err(e) = ws.send(m).await {
                        return SessionEnd::Failed(self.dialer.scrub(&format!("sending a ping to {name}: {e}")));
                    }
                    bump(&self.state.stats.pings);
                },
                r = tokio::time::timeout_at(deadline, ws.next()) => match r {
                    Err(_) => return SessionEnd::Stale,
                    Ok(None) => return SessionEnd::Closed,
                    Ok(Some(Err(e))) => return SessionEnd::Failed(self.dialer.scrub(&e.to_string())),
                    Ok(Some(Ok(msg))) => {
                        deadline = Instant::now() + self.cfg.stale_after;
                        let received = wall_ns();
                        self.state.last_frame_ns.store(received, Ordering::Relaxed);
                        match msg {
                            Message::Text(t) => match keepalive {
                                Keepalive::Text { pong, .. } if t.as_str().trim() == pong => {
                                    bump(&self.state.stats.pongs)
                                }
                                _ => self.protocol.text(t.as_str(), &self.state),
                            },
                            Message::Binary(b) => self.protocol.binary(&b, Timestamp(received), &self.state),
                            Message::Close(_) => return SessionEnd::Closed,
                            // Tungstenite queues the pong and sends it with the next read or write.
                            Message::Ping(_) => bump(&self.state.stats.server_pings),
                            Message::Pong(_) => {
                                if keepalive == Keepalive::Frames {
                                    bump(&self.state.stats.pongs);
                                }
                            }
                            // Any frame shows the link alive.
                            Message::Frame(_) => {}
                        }
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_clipped_on_character_boundaries() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("héllo", 2), "hé");
    }

    #[test]
    fn statuses_round_trip_through_their_numbers() {
        for s in [
            SocketStatus::Connecting,
            SocketStatus::Connected,
            SocketStatus::Backoff,
            SocketStatus::SessionExpired,
            SocketStatus::Stopped,
        ] {
            assert_eq!(SocketStatus::from_u8(s as u8), s);
        }
    }
}
