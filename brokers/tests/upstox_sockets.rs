//! Upstox's two sockets as clients, against the fake Upstox server: the market data feed as an
//! engine feed (an authorize call for a one-time URL per connection, `sub` requests as binary
//! frames per mode, `market_info` then `initial_feed` then `live_feed` messages arriving as
//! engine inputs, WebSocket pings both ways, a silent connection taken for dead, reconnection
//! with a fresh URL and resubscription, an expired token waited out until a new one comes,
//! damaged messages and unknown keys counted) and the portfolio stream (order updates of
//! orders placed through `UpstoxClient`, before and after a reconnect). Dropping either handle
//! ends its thread.
//!
//! Every wait is for a condition, with a generous deadline; no test relies on a sleep being
//! long enough or counts what happened within one.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dalal_adapters::feed::FeedSource;
use dalal_brokers::fake::upstox::{FakeUpstox, FakeUpstoxUser, Subscription as FakeSub};
use dalal_brokers::order_state::OrderState;
use dalal_brokers::upstox::feed::proto::{self, feed::FeedUnion, full_feed::FullFeedUnion};
use dalal_brokers::upstox::feed::Mode;
use dalal_brokers::upstox::market_feed::{SocketStatus, Subscription, UpstoxFeed, UpstoxFeedConfig, UpstoxFeedError};
use dalal_brokers::upstox::model::Order;
use dalal_brokers::upstox::params::{OrderType, PlaceOrder, Product, TransactionType};
use dalal_brokers::upstox::portfolio::{PortfolioStream, PortfolioStreamConfig, PortfolioStreamError};
use dalal_brokers::upstox::UpstoxClient;
use dalal_brokers::Secret;
use dalal_core::model::{Input, InstrumentId, Price, Qty, Quote, Tick, TickReject, Timestamp};

const USER: &str = "AB1234";
const API_KEY: &str = "upstox-sock-key-3Hn8";
const REDIRECT: &str = "https://dalal.example/upstox/callback";
const SBIN_KEY: &str = "NSE_EQ|INE062A01020";
const INFY_KEY: &str = "NSE_EQ|INE009A01021";
const NIFTY_KEY: &str = "NSE_INDEX|Nifty 50";
const FEED_AUTHORIZE: &str = "/v3/feed/market-data-feed/authorize";
const PORTFOLIO_AUTHORIZE: &str = "/v2/feed/portfolio-stream-feed/authorize";
const DEADLINE: Duration = Duration::from_secs(20);
const MS: i64 = 1_000_000;
const T0_MS: i64 = 1_767_600_000_123;

const SBIN: InstrumentId = InstrumentId(0);
const INFY: InstrumentId = InstrumentId(1);
const NIFTY: InstrumentId = InstrumentId(2);

// ---------------------------------------------------------------------------------------
// Helpers

/// Everything logged by any test of this file, to look for secrets in.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || Capture(writer.clone()))
            .try_init();
        buf
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap_or_else(|p| p.into_inner())).to_string()
}

/// Waits until `done`, failing after [`DEADLINE`] with the latest log lines.
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > DEADLINE {
            let text = logged();
            let tail: String = text.lines().rev().take(30).collect::<Vec<_>>().join("\n");
            panic!("timed out waiting for {what}; latest log lines, newest first:\n{tail}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The fake with a user, three instruments, and a live session's access token.
fn fake() -> (FakeUpstox, String) {
    logs();
    let f = FakeUpstox::start_in_background().expect("fake starts");
    f.add_user(FakeUpstoxUser::new(USER, API_KEY, "upstox-sock-secret", REDIRECT));
    f.set_instrument(SBIN_KEY, "SBIN", 800.0);
    f.set_instrument(INFY_KEY, "INFY", 1500.0);
    f.set_instrument(NIFTY_KEY, "Nifty 50", 24_000.0);
    let t = f.issue_session(API_KEY).expect("session").access_token;
    (f, t)
}

fn subs() -> Vec<Subscription> {
    vec![
        Subscription::new(SBIN_KEY, Mode::Full, SBIN),
        Subscription::new(INFY_KEY, Mode::Ltpc, INFY),
        Subscription::new(NIFTY_KEY, Mode::Ltpc, NIFTY),
    ]
}

/// What the fake should hold after `subs()` were subscribed.
fn expected() -> BTreeSet<FakeSub> {
    let s = |key: &str, mode: &str| FakeSub { instrument_key: key.into(), mode: mode.into() };
    BTreeSet::from([s(SBIN_KEY, "full"), s(INFY_KEY, "ltpc"), s(NIFTY_KEY, "ltpc")])
}

fn feed_config(api_root: &str, token: &str, subs: Vec<Subscription>) -> UpstoxFeedConfig {
    let mut cfg = UpstoxFeedConfig::new(API_KEY, Secret::new(token), subs);
    cfg.api_root = api_root.to_string();
    cfg.backoff_min = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(200);
    cfg.ping_interval = Duration::from_millis(250);
    cfg.stale_after = Duration::from_secs(5);
    cfg
}

fn start_feed(f: &FakeUpstox, token: &str) -> UpstoxFeed {
    let feed = UpstoxFeed::start(feed_config(&f.root(), token, subs())).expect("feed starts");
    until("the subscriptions", || f.feed_subscriptions() == expected());
    feed
}

/// Inputs from the feed until `n` have arrived.
fn take(feed: &mut UpstoxFeed, n: usize) -> Vec<Input> {
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < n {
        assert!(start.elapsed() < DEADLINE, "timed out with {} of {n} inputs: {got:?}", got.len());
        feed.drain(n - got.len(), Duration::from_millis(20), |i| got.push(i));
    }
    got
}

fn tick(instrument: InstrumentId, ts_ms: i64, paise: i64, qty: u64) -> Input {
    Input::Tick(Tick { instrument, ts: Timestamp(ts_ms * MS), price: Price(paise), qty: Qty(qty) })
}

fn quote(instrument: InstrumentId, ts_ms: i64, bid: i64, ask: i64) -> Input {
    Input::Quote(Quote { instrument, ts: Timestamp(ts_ms * MS), bid: Price(bid), ask: Price(ask) })
}

fn ltpc(ltp: f64, ltt: i64, ltq: i64) -> proto::Ltpc {
    proto::Ltpc { ltp, ltt, ltq, cp: 0.0, iep: None }
}

fn ltpc_feed(ltp: f64, ltt: i64, ltq: i64) -> proto::Feed {
    proto::Feed { feed_union: Some(FeedUnion::Ltpc(ltpc(ltp, ltt, ltq))), request_mode: 0 }
}

/// A `full` feed: the last trade, the day's volume, one level of depth, open interest.
fn full_feed(l: proto::Ltpc, vtt: i64, (bid, ask): (f64, f64), oi: f64) -> proto::Feed {
    let level = proto::Quote { bid_q: 10, bid_p: bid, ask_q: 5, ask_p: ask };
    let m = proto::MarketFullFeed {
        ltpc: Some(l),
        market_level: Some(proto::MarketLevel { bid_ask_quote: vec![level] }),
        vtt,
        oi,
        ..proto::MarketFullFeed::default()
    };
    proto::Feed {
        feed_union: Some(FeedUnion::FullFeed(proto::FullFeed { full_feed_union: Some(FullFeedUnion::MarketFf(m)) })),
        request_mode: proto::RequestMode::FullD5 as i32,
    }
}

fn live(current_ts: i64, feeds: Vec<(&str, proto::Feed)>) -> proto::FeedResponse {
    proto::FeedResponse {
        r#type: proto::Type::LiveFeed as i32,
        feeds: feeds.into_iter().map(|(k, f)| (k.to_string(), f)).collect(),
        current_ts,
        market_info: None,
    }
}

/// Authorize calls made so far to `path`, with their `Authorization` headers.
fn authorizations(f: &FakeUpstox, path: &str) -> Vec<Option<String>> {
    f.requests().into_iter().filter(|r| r.path == path).map(|r| r.headers.get("authorization").cloned()).collect()
}

fn no_secret(text: &str, tokens: &[&str]) {
    for t in tokens {
        assert!(!text.contains(t), "a token in {text:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The market feed

#[test]
fn sub_requests_are_binary_one_per_mode_with_the_configured_keys() {
    let (f, t) = fake();
    let feed = start_feed(&f, &t);
    let requests = f.feed_requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let seen: Vec<_> = requests
        .iter()
        .map(|r| (r.connection, r.binary, r.method.clone(), r.mode.clone(), r.instrument_keys.clone(), r.error.clone()))
        .collect();
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        seen,
        [
            (1, true, s("sub"), s("ltpc"), vec![INFY_KEY.to_string(), NIFTY_KEY.to_string()], None),
            (1, true, s("sub"), s("full"), vec![SBIN_KEY.to_string()], None),
        ]
    );
    assert_eq!(
        requests[1].text,
        r#"{"guid":"dalal-1-full","method":"sub","data":{"mode":"full","instrumentKeys":["NSE_EQ|INE062A01020"]}}"#
    );
    // One authorize call with the token; the one-time URL needs none.
    assert_eq!(authorizations(&f, FEED_AUTHORIZE), [Some(format!("Bearer {t}"))]);
    assert_eq!(feed.status(), SocketStatus::Connected);
    let c = feed.counters();
    assert_eq!((c.connection.connects, c.connection.auth_failures, c.malformed), (1, 0, 0), "{c:?}");
    assert_eq!(f.feed_handshakes().refused, 0);
}

#[test]
fn market_info_then_snapshots_then_live_feeds_become_inputs() {
    let (f, t) = fake();
    f.feed_set_segment_status("NSE_FO", proto::MarketStatus::PreOpenStart);
    // A trade before the connection: the snapshot carries it.
    assert!(f.set_ltp(SBIN_KEY, 801.5));
    let mut feed = start_feed(&f, &t);

    // The snapshot of SBIN (full): its last trade, then the best bid and offer, both timed by
    // the fake's clock (the trade by its LTT, the quote by the message's time: the same here).
    let got = take(&mut feed, 2);
    let Input::Tick(snap) = got[0] else { panic!("{got:?}") };
    assert_eq!((snap.instrument, snap.price, snap.qty), (SBIN, Price(80_150), Qty(1)));
    assert!(snap.ts.0 > T0_MS * MS - 365 * 86_400_000 * MS, "an epoch time: {:?}", snap.ts);
    assert_eq!(got[1], Input::Quote(Quote { instrument: SBIN, ts: snap.ts, bid: Price(80_145), ask: Price(80_155) }));
    let c = feed.counters();
    assert_eq!((c.market_info, c.initial_feeds), (1, 2), "{c:?}");
    assert_eq!(c.segment_status.get("NSE_FO").map(String::as_str), Some("PRE_OPEN_START"));
    assert_eq!(c.segment_status.get("NSE_EQ").map(String::as_str), Some("NORMAL_OPEN"));
    assert!(c.market_info_ms.is_some());
    assert_eq!(feed.segment_status(), c.segment_status);

    // A live trade from the fake, in each subscription's mode.
    assert_eq!(f.feed_tick(INFY_KEY, 1501.05), 1);
    let got = take(&mut feed, 1);
    let Input::Tick(infy) = got[0] else { panic!("{got:?}") };
    assert_eq!((infy.instrument, infy.price, infy.qty), (INFY, Price(150_105), Qty(1)));
    assert!(infy.ts > snap.ts);

    // Live feeds with times of our own: every key in order, trades at their LTT, the quote
    // and open interest at the message's time.
    let msg = live(
        T0_MS + 50,
        vec![
            (SBIN_KEY, full_feed(ltpc(802.35, T0_MS, 7), 100, (802.3, 802.4), 1500.0)),
            (INFY_KEY, ltpc_feed(1502.1, T0_MS + 1, 3)),
            (NIFTY_KEY, ltpc_feed(24_010.5, T0_MS + 2, 0)),
        ],
    );
    assert_eq!(f.feed_push(&msg), 1);
    assert_eq!(
        take(&mut feed, 4),
        [
            tick(INFY, T0_MS + 1, 150_210, 3),
            tick(SBIN, T0_MS, 80_235, 7),
            quote(SBIN, T0_MS + 50, 80_230, 80_240),
            Input::OpenInterest { instrument: SBIN, ts: Timestamp((T0_MS + 50) * MS), oi: 1500 },
        ]
    );

    // The same message again (Upstox repeats the last trade when something else changes)
    // gives nothing; a new trade does.
    f.feed_push(&msg);
    f.feed_push(&live(T0_MS + 60, vec![(INFY_KEY, ltpc_feed(1502.15, T0_MS + 60, 2))]));
    assert_eq!(take(&mut feed, 1), [tick(INFY, T0_MS + 60, 150_215, 2)]);
    let c = feed.counters();
    assert_eq!((c.ticks, c.quotes, c.open_interest), (5, 2, 1), "{c:?}");
    assert!(c.no_new_trade >= 3 && c.index_feeds >= 3, "{c:?}");
    assert_eq!((c.live_feeds, c.unknown_keys, c.malformed), (4, 0, 0), "{c:?}");
    let r = feed.report();
    assert_eq!((r.name.as_str(), r.received, r.error.clone()), ("upstox:feed", c.messages, None));
}

#[test]
fn unknown_keys_damaged_messages_and_bad_prices_are_counted_and_skipped() {
    let (f, t) = fake();
    let mut feed = start_feed(&f, &t);
    // SBIN's snapshot: its best bid and offer.
    assert!(matches!(take(&mut feed, 1)[0], Input::Quote(q) if q.instrument == SBIN));
    // Not subscribed.
    f.feed_push(&live(T0_MS, vec![("NSE_EQ|INE000X00000", ltpc_feed(10.0, T0_MS, 1))]));
    f.feed_push(&live(T0_MS, vec![("BSE_EQ|INE062A01020", ltpc_feed(10.0, T0_MS, 1))]));
    // Not protobuf (an invalid wire type, a length past the end), and a text frame.
    f.feed_push_raw(vec![0xff, 0x01]);
    f.feed_push_raw(vec![0x12, 0x05, 0x0a]);
    f.feed_push_text(r#"{"type":"hello"}"#);
    // Prices that are not paise: NaN, infinite, below a paisa, zero, negative.
    for (i, ltp) in [f64::NAN, f64::INFINITY, 801.505, 0.0, -5.0].into_iter().enumerate() {
        f.feed_push(&live(T0_MS, vec![(INFY_KEY, ltpc_feed(ltp, T0_MS + i as i64, 1))]));
    }
    // A feed without a last trade.
    let empty = proto::Feed { feed_union: None, request_mode: 0 };
    f.feed_push(&live(T0_MS, vec![(INFY_KEY, empty)]));
    f.feed_push(&live(T0_MS, vec![(INFY_KEY, ltpc_feed(1500.5, T0_MS + 9, 4))]));
    // Inputs come out in order: once this one is out, everything before it was counted.
    assert_eq!(take(&mut feed, 1), [tick(INFY, T0_MS + 9, 150_050, 4)]);
    let c = feed.counters();
    assert_eq!((c.unknown_keys, c.malformed, c.text_messages, c.empty_feeds), (2, 2, 1, 1), "{c:?}");
    assert_eq!((c.non_finite, c.sub_paise, c.bad_prices), (2, 1, 2), "{c:?}");
    let r = feed.report();
    assert_eq!(r.rejects.get(TickReject::Malformed), 3);
    assert_eq!(r.rejects.get(TickReject::UnknownSymbol), 2);
    assert_eq!(r.rejects.get(TickReject::NonPositivePrice), 5);
    assert_eq!((feed.status(), c.connection.reconnects), (SocketStatus::Connected, 0));
}

#[test]
fn a_dropped_connection_reauthorizes_and_resubscribes() {
    let (f, t) = fake();
    let mut feed = start_feed(&f, &t);
    // The first snapshot: SBIN's best bid and offer (nothing has traded; NIFTY is an index);
    // then a trade, which moves them.
    assert_eq!(f.feed_tick(SBIN_KEY, 801.0), 1);
    let got = take(&mut feed, 3);
    assert!(matches!(got[0], Input::Quote(q) if q.instrument == SBIN && q.bid == Price(79_995)), "{got:?}");
    assert!(matches!(got[1], Input::Tick(t) if t.instrument == SBIN && t.price == Price(80_100)), "{got:?}");
    assert!(matches!(got[2], Input::Quote(q) if q.instrument == SBIN && q.ask == Price(80_105)), "{got:?}");

    assert_eq!(f.feed_drop_connections(), 1);
    until("the second connection's subscriptions", || {
        f.feed_handshakes().accepted == 2 && f.feed_subscriptions() == expected()
    });
    // A new authorize call: the first URL was spent (the fake refuses a reused one).
    assert_eq!(authorizations(&f, FEED_AUTHORIZE).len(), 2);
    assert_eq!(f.feed_handshakes().refused, 0);
    let requests = |connection: u64| -> Vec<(Option<String>, Vec<String>, bool)> {
        f.feed_requests()
            .into_iter()
            .filter(|r| r.connection == connection)
            .map(|r| (r.mode, r.instrument_keys, r.binary))
            .collect()
    };
    assert_eq!(requests(1), requests(2));
    assert_eq!(requests(2).len(), 2);
    assert!(f
        .feed_requests()
        .iter()
        .filter(|r| r.connection == 2)
        .all(|r| r.guid.as_deref().is_some_and(|g| g.starts_with("dalal-2-"))));

    // The snapshot after the resubscription repeats SBIN's last trade: not a new one.
    assert_eq!(f.feed_tick(SBIN_KEY, 801.25), 1);
    let got = take(&mut feed, 1);
    assert!(matches!(got[0], Input::Tick(t) if t.instrument == SBIN && t.price == Price(80_125)), "{got:?}");
    let c = feed.counters();
    assert_eq!((c.connection.connects, c.connection.reconnects, c.market_info), (2, 1, 2), "{c:?}");
    assert_eq!(feed.status(), SocketStatus::Connected);
}

#[test]
fn an_expired_token_is_session_expired_until_a_new_one_comes() {
    let (f, t) = fake();
    let feed = start_feed(&f, &t);
    assert!(f.expire_token(&t));
    f.feed_drop_connections();
    until("the feed to give up", || feed.status() == SocketStatus::SessionExpired);
    let e = feed.last_error().expect("an error");
    assert!(e.contains("HTTP 401") && e.contains("UDAPI100050"), "{e}");
    no_secret(&e, &[&t]);
    let c = feed.counters().connection;
    assert_eq!((c.auth_failures, c.connects), (1, 1), "{c:?}");
    let report = feed.report();
    assert!(report.error.as_deref().is_some_and(|e| e.contains("UDAPI100050")), "{report:?}");
    assert!(feed.health().stale);
    // Nothing is tried while waiting: no more authorize calls than the refused one.
    let calls = authorizations(&f, FEED_AUTHORIZE).len();
    assert_eq!(calls, 2);

    let next = f.issue_session(API_KEY).expect("a new session").access_token;
    feed.token_handle().set(Secret::new(next.as_str()));
    until("the new connection's subscriptions", || {
        feed.status() == SocketStatus::Connected
            && f.feed_handshakes().accepted == 2
            && f.feed_subscriptions() == expected()
    });
    assert_eq!(authorizations(&f, FEED_AUTHORIZE).last().cloned().flatten(), Some(format!("Bearer {next}")));

    // A token refused from the start: waiting at once, woken by `set_token`.
    let bogus = UpstoxFeed::start(feed_config(&f.root(), "bogus-token-Zx81", subs())).expect("starts");
    until("the second feed to give up", || bogus.status() == SocketStatus::SessionExpired);
    no_secret(&bogus.last_error().unwrap_or_default(), &["bogus-token-Zx81"]);
    bogus.set_token(Secret::new(next.as_str()));
    until("the second feed to connect", || bogus.status() == SocketStatus::Connected);
    no_secret(&logged(), &[&t, &next, "bogus-token-Zx81"]);
    no_secret(&format!("{feed:?} {:?}", feed.health()), &[&t, &next]);
}

#[test]
fn pings_are_answered_and_a_quiet_connection_stays_up() {
    let (f, t) = fake();
    let mut cfg = feed_config(&f.root(), &t, subs());
    cfg.ping_interval = Duration::from_millis(100);
    cfg.stale_after = Duration::from_secs(3);
    let feed = UpstoxFeed::start(cfg).expect("feed starts");
    // Forty pings take at least four seconds: longer than the stale interval, with nothing but
    // pongs coming back.
    until("forty pings and their pongs", || {
        let c = feed.counters().connection;
        c.pings >= 40 && c.pongs >= 30
    });
    // Upstox's own pings are answered (tungstenite sends the pong); the fake's ping arrives.
    assert_eq!(f.feed_ping(b"idle"), 1);
    until("the server's ping", || feed.counters().connection.server_pings >= 1);
    let c = feed.counters().connection;
    assert_eq!((c.connects, c.reconnects, c.stale), (1, 0, 0), "{c:?}");
    let health = feed.health();
    assert_eq!(health.status, SocketStatus::Connected);
    assert!(!health.stale, "{health:?}");
}

/// Per handshake: the request target (path and query) and the header names.
type Handshakes = Arc<Mutex<Vec<(String, Vec<String>)>>>;

/// An authorize endpoint handing out one-time URLs to a WebSocket server that accepts and then
/// never reads nor writes (so not even a pong comes back): a half-open connection as the
/// client sees it. It records each authorize call's `Authorization` and each handshake's path
/// and headers.
struct Silent {
    api_root: String,
    authorizations: Arc<Mutex<Vec<Option<String>>>>,
    handshakes: Handshakes,
}

fn silent_server() -> Silent {
    use axum::http::HeaderMap;
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

    let api = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let ws = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    for l in [&api, &ws] {
        l.set_nonblocking(true).expect("nonblocking");
    }
    let (api_addr, ws_addr) = (api.local_addr().expect("addr"), ws.local_addr().expect("addr"));
    let authorizations = Arc::new(Mutex::new(Vec::new()));
    let handshakes: Handshakes = Arc::new(Mutex::new(Vec::new()));
    let (a, h) = (authorizations.clone(), handshakes.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let issued = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let authorize = move |headers: HeaderMap| {
                let (a, issued) = (a.clone(), issued.clone());
                async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
                    a.lock().expect("lock").push(auth);
                    let n = issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    let url = format!("ws://{ws_addr}/silent/feeds?requestId=r{n}&code=one-time-code-{n}");
                    axum::Json(serde_json::json!({"status": "success", "data": {"authorized_redirect_uri": url}}))
                }
            };
            let router = axum::Router::new().route(FEED_AUTHORIZE, axum::routing::get(authorize));
            let api = tokio::net::TcpListener::from_std(api).expect("listener");
            tokio::spawn(async move { axum::serve(api, router).await });
            let ws = tokio::net::TcpListener::from_std(ws).expect("listener");
            let mut held = Vec::new();
            loop {
                let Ok((tcp, _)) = ws.accept().await else { return };
                let h = h.clone();
                // Tungstenite's callback type, whose error is an HTTP response.
                #[allow(clippy::result_large_err)]
                let record = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                    let names = req.headers().keys().map(|k| k.as_str().to_string()).collect();
                    let target = req.uri().to_string();
                    h.lock().expect("lock").push((target, names));
                    Ok(resp)
                };
                if let Ok(socket) = tokio_tungstenite::accept_hdr_async(tcp, record).await {
                    held.push(socket);
                }
            }
        });
    });
    Silent { api_root: format!("http://{api_addr}"), authorizations, handshakes }
}

#[test]
fn a_silent_connection_is_taken_for_dead_and_replaced_with_a_new_url() {
    logs();
    let server = silent_server();
    let token = "silent-token-Qm42";
    let mut cfg = feed_config(&server.api_root, token, subs());
    cfg.ping_interval = Duration::from_millis(100);
    cfg.stale_after = Duration::from_millis(1500);
    let feed = UpstoxFeed::start(cfg).expect("feed starts");
    until("a stale connection replaced", || {
        feed.counters().connection.stale >= 1 && server.handshakes.lock().expect("lock").len() >= 2
    });
    let handshakes = server.handshakes.lock().expect("lock").clone();
    assert_eq!(handshakes[0].0, "/silent/feeds?requestId=r1&code=one-time-code-1");
    assert_eq!(handshakes[1].0, "/silent/feeds?requestId=r2&code=one-time-code-2", "a new URL each time");
    assert!(!handshakes[0].1.iter().any(|h| h == "authorization"), "the one-time URL needs no token: {handshakes:?}");
    let auths = server.authorizations.lock().expect("lock").clone();
    assert!(auths.len() >= 2 && auths.iter().all(|a| a.as_deref() == Some("Bearer silent-token-Qm42")), "{auths:?}");
    let e = feed.last_error().expect("why it reconnected");
    assert!(e.contains("silent"), "{e}");
    let c = feed.counters().connection;
    assert!(c.reconnects >= 1 && c.pings >= 1 && c.pongs == 0, "{c:?}");
    no_secret(&logged(), &["one-time-code-", token]);
}

#[test]
fn bad_configurations_are_refused_at_start() {
    // Nothing listens there: the configurations that pass are dropped while connecting.
    let root = "http://127.0.0.1:9";
    let start = |subs: Vec<Subscription>| UpstoxFeed::start(feed_config(root, "t", subs));
    let many = |n: usize, mode: Mode| -> Vec<Subscription> {
        (0..n).map(|i| Subscription::new(format!("NSE_FO|{i}"), mode, InstrumentId(i as u32))).collect()
    };
    drop(start(many(5000, Mode::Ltpc)).expect("5000 ltpc instruments are allowed"));
    let e = start(many(5001, Mode::Ltpc)).expect_err("5001");
    assert!(matches!(e, UpstoxFeedError::TooMany { mode: "ltpc", count: 5001, limit: 5000, combined: false }), "{e}");
    let mut mixed = many(2001, Mode::Ltpc);
    mixed.push(Subscription::new(SBIN_KEY, Mode::Full, InstrumentId(9999)));
    let e = start(mixed).expect_err("combined");
    assert!(e.to_string().contains("at most 2000 with other modes in use"), "{e}");
    assert!(matches!(start(many(51, Mode::FullD30)), Err(UpstoxFeedError::TooMany { limit: 50, .. })));
    assert!(matches!(start(Vec::new()), Err(UpstoxFeedError::NothingToSubscribe)));
    for bad in ["", "INE062A01020", "NSE_EQ|", "nse_eq|X", "NSE_EQ|a|b"] {
        let s = vec![Subscription::new(bad, Mode::Ltpc, InstrumentId(0))];
        assert!(matches!(start(s), Err(UpstoxFeedError::BadKey(_))), "{bad:?}");
    }
    let twice = vec![Subscription::new(SBIN_KEY, Mode::Ltpc, SBIN), Subscription::new(SBIN_KEY, Mode::Full, INFY)];
    assert!(matches!(start(twice), Err(UpstoxFeedError::Duplicate(_))));
    let mut cfg = feed_config(root, "t", subs());
    cfg.stale_after = cfg.ping_interval;
    assert!(matches!(UpstoxFeed::start(cfg), Err(UpstoxFeedError::Timing { .. })));
    let mut cfg = feed_config("ftp://example.com", "t", subs());
    cfg.api_root = "not a url".into();
    assert!(matches!(UpstoxFeed::start(cfg), Err(UpstoxFeedError::Client(_))));

    let mut p = PortfolioStreamConfig::new(API_KEY, Secret::new("t"));
    p.api_root = root.into();
    p.update_types = vec!["order".into(), "trades".into()];
    let (on_order, _rx) = collector();
    assert!(matches!(PortfolioStream::start(p, on_order), Err(PortfolioStreamError::UpdateType(t)) if t == "trades"));
}

// ---------------------------------------------------------------------------------------
// The portfolio stream

fn portfolio_config(f: &FakeUpstox, token: &str) -> PortfolioStreamConfig {
    let mut cfg = PortfolioStreamConfig::new(API_KEY, Secret::new(token));
    cfg.api_root = f.root();
    cfg.backoff_min = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(200);
    cfg.ping_interval = Duration::from_millis(100);
    cfg.stale_after = Duration::from_secs(5);
    cfg
}

fn collector() -> (Box<dyn Fn(Order) + Send + Sync>, Receiver<Order>) {
    let (tx, rx): (Sender<Order>, Receiver<Order>) = std::sync::mpsc::channel();
    (Box::new(move |o| drop(tx.send(o))), rx)
}

fn next_order(rx: &Receiver<Order>) -> Order {
    rx.recv_timeout(DEADLINE).expect("an order update")
}

/// The REST client of the session, and a runtime to call it on.
fn rest(f: &FakeUpstox, token: &str) -> (UpstoxClient, tokio::runtime::Runtime) {
    let c = UpstoxClient::new(&f.root(), &f.hft_root(), API_KEY, Some(Secret::new(token)), Duration::from_secs(10))
        .expect("client");
    (c, tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"))
}

fn order(order_type: OrderType, qty: u32, price: f64, tag: &str) -> PlaceOrder {
    let mut o = PlaceOrder::new(SBIN_KEY, TransactionType::Buy, qty, Product::Intraday, order_type, price);
    o.tag = Some(tag.to_string());
    o
}

#[test]
fn portfolio_order_updates_arrive_and_survive_a_reconnect() {
    let (f, t) = fake();
    let (client, rt) = rest(&f, &t);
    let (on_order, rx) = collector();
    let cfg = PortfolioStreamConfig::for_client(&client).expect("a session");
    let cfg = PortfolioStreamConfig {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..cfg
    };
    let stream = PortfolioStream::start(cfg, on_order).expect("starts");
    until("the connection", || stream.status() == SocketStatus::Connected);
    let calls: Vec<_> = f.requests().into_iter().filter(|r| r.path == PORTFOLIO_AUTHORIZE).collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].query, [("update_types".to_string(), "order".to_string())]);

    let placed = rt.block_on(client.place_order(&order(OrderType::Market, 3, 0.0, "dalal-t1"))).expect("placed");
    let id = placed.order_id().to_string();
    let updates: Vec<Order> = (0..5).map(|_| next_order(&rx)).collect();
    let statuses: Vec<&str> = updates.iter().map(|o| o.status.as_str()).collect();
    assert_eq!(statuses, ["put order req received", "validation pending", "open pending", "open", "complete"]);
    for o in &updates {
        assert_eq!(
            (o.order_id.as_str(), o.tag.as_deref(), o.instrument_token.as_str()),
            (id.as_str(), Some("dalal-t1"), SBIN_KEY)
        );
    }
    let done = &updates[4];
    assert_eq!((done.state(), done.filled_quantity, done.average_price), (OrderState::Filled, 3, 800.0));

    // Other update types and damaged messages are counted, not fatal.
    f.portfolio_push_text(r#"{"update_type":"position","instrument_token":"NSE_EQ|INE062A01020","quantity":3}"#);
    f.portfolio_push_text("custom");
    f.portfolio_push_text(r#"{"update_type":"order","order_id":"1","quantity":"ten"}"#);
    until("the three messages", || {
        let c = stream.counters();
        c.other_updates == 1 && c.malformed == 2
    });

    // After a reconnect (a new authorize call) the next events still arrive.
    assert_eq!(f.portfolio_drop_connections(), 1);
    until("the second connection", || stream.counters().connection.connects == 2);
    assert_eq!(f.requests().into_iter().filter(|r| r.path == PORTFOLIO_AUTHORIZE).count(), 2);
    let limit = rt.block_on(client.place_order(&order(OrderType::Limit, 5, 790.0, "dalal-t2"))).expect("placed");
    let first = next_order(&rx);
    assert_eq!((first.order_id.as_str(), first.tag.as_deref()), (limit.order_id(), Some("dalal-t2")));
    f.fill(limit.order_id(), 2, 790.0).expect("partly filled");
    let mut last = first;
    until("the partial fill", || {
        while let Ok(o) = rx.try_recv() {
            last = o;
        }
        last.filled_quantity == 2
    });
    assert_eq!(last.state(), OrderState::PartiallyFilled);
    f.cancel(limit.order_id()).expect("cancelled");
    until("the cancellation", || {
        while let Ok(o) = rx.try_recv() {
            last = o;
        }
        last.state() == OrderState::Cancelled
    });
    assert_eq!(last.filled_quantity, 2);
    let c = stream.counters();
    assert_eq!((c.connection.connects, c.connection.reconnects, c.callback_panics), (2, 1, 0), "{c:?}");
    assert!(c.updates >= 8, "{c:?}");
    assert_eq!(stream.status(), SocketStatus::Connected);
}

#[test]
fn the_portfolio_stream_waits_out_an_expired_token() {
    let (f, t) = fake();
    let (on_order, rx) = collector();
    let stream = PortfolioStream::start(portfolio_config(&f, &t), on_order).expect("starts");
    until("the connection", || stream.status() == SocketStatus::Connected);
    assert!(f.expire_token(&t));
    f.portfolio_drop_connections();
    until("the stream to give up", || stream.status() == SocketStatus::SessionExpired);
    let e = stream.last_error().expect("an error");
    assert!(e.contains("HTTP 401") && e.contains("UDAPI100050"), "{e}");
    no_secret(&e, &[&t]);

    let next = f.issue_session(API_KEY).expect("a new session").access_token;
    stream.set_token(Secret::new(next.as_str()));
    until("the new connection", || stream.status() == SocketStatus::Connected && f.portfolio_handshakes().open == 1);
    let (client, rt) = rest(&f, &next);
    let placed = rt.block_on(client.place_order(&order(OrderType::Market, 1, 0.0, "dalal-t3"))).expect("placed");
    assert_eq!(next_order(&rx).order_id, placed.order_id());
    let c = stream.counters().connection;
    assert_eq!((c.connects, c.auth_failures), (2, 1), "{c:?}");
    no_secret(&logged(), &[&t, &next]);
}

// ---------------------------------------------------------------------------------------
// Stopping

#[test]
fn dropping_the_handles_stops_the_threads() {
    let (f, t) = fake();
    let feed = start_feed(&f, &t);
    let (on_order, _rx) = collector();
    let stream = PortfolioStream::start(portfolio_config(&f, &t), on_order).expect("starts");
    until("both connections", || f.feed_handshakes().open == 1 && f.portfolio_handshakes().open == 1);
    let (feed_monitor, stream_monitor) = (feed.monitor(), stream.monitor());

    // Dropping joins the thread: once the drop returns, the thread has ended.
    let started = Instant::now();
    drop(feed);
    drop(stream);
    assert!(started.elapsed() < DEADLINE, "took {:?}", started.elapsed());
    assert_eq!(feed_monitor.status(), SocketStatus::Stopped);
    assert_eq!(stream_monitor.status(), SocketStatus::Stopped);
    assert!(feed_monitor.health().stale);
    until("the fake to see both sockets closed", || {
        f.feed_handshakes().open == 0 && f.portfolio_handshakes().open == 0
    });

    // A socket waiting for a token, or between attempts, stops as well.
    let waiting = UpstoxFeed::start(feed_config(&f.root(), "bogus-token", subs())).expect("starts");
    until("the feed to give up", || waiting.status() == SocketStatus::SessionExpired);
    let monitor = waiting.monitor();
    drop(waiting);
    assert_eq!(monitor.status(), SocketStatus::Stopped);
    let mut cfg = PortfolioStreamConfig::new(API_KEY, Secret::new(t.as_str()));
    cfg.api_root = "http://127.0.0.1:9".into();
    cfg.backoff_min = Duration::from_secs(60);
    cfg.backoff_max = Duration::from_secs(60);
    let (on_order, _rx) = collector();
    let backing_off = PortfolioStream::start(cfg, on_order).expect("starts");
    until("the backoff", || backing_off.status() == SocketStatus::Backoff);
    let monitor = backing_off.monitor();
    let started = Instant::now();
    drop(backing_off);
    assert!(started.elapsed() < DEADLINE, "took {:?}", started.elapsed());
    assert_eq!(monitor.status(), SocketStatus::Stopped);
}
