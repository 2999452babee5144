//! Angel One's two sockets as clients, against the fake Angel server: SmartStream as an engine
//! feed (the handshake headers, Angel's subscribe requests, packets arriving as engine inputs,
//! text ping and pong, refusals in Angel's words, reconnection with resubscription, E1001/E1002
//! replies, damaged and unknown packets) and the order-update socket (orders after the AB00
//! greeting, before and after a reconnect). Dropping either handle ends its thread.
//!
//! Every wait is for a condition, with a generous deadline; no test relies on a sleep being
//! long enough or counts what happened within one.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dalal_adapters::feed::FeedSource;
use dalal_brokers::angel::model::{Order, Tokens};
use dalal_brokers::angel::order_updates::{OrderUpdates, OrderUpdatesConfig};
use dalal_brokers::angel::params::{Duration as Validity, OrderType, PlaceOrder, Product, TransactionType, Variety};
use dalal_brokers::angel::smartstream::{SmartStream, SmartStreamConfig, SmartStreamError, SocketStatus, Subscription};
use dalal_brokers::angel::stream::{ExchangeType, Mode};
use dalal_brokers::angel::{AngelClient, Identity};
use dalal_brokers::fake::angel::packets::{BestFive, QuoteFields, SnapFields, StreamPacket, TickHeader};
use dalal_brokers::fake::angel::{FakeAngel, FakeAngelUser, SessionTokens, Subscription as FakeSub};
use dalal_brokers::Secret;
use dalal_core::model::{Input, InstrumentId, Price, Qty, Quote, Tick, TickReject, Timestamp};

const API_KEY: &str = "sockkey4Wm9q";
const CLIENT: &str = "S778899";
const MPIN: &str = "2468";
const SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const DEADLINE: Duration = Duration::from_secs(20);
const MS: i64 = 1_000_000;
const T0_MS: i64 = 1_700_000_000_123;

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

fn fake() -> (FakeAngel, SessionTokens) {
    logs();
    let f = FakeAngel::start_in_background().expect("fake starts");
    f.add_user(FakeAngelUser::new(CLIENT, MPIN, SEED, API_KEY));
    f.set_instrument("NSE", "SBIN-EQ", "3045", 800.0);
    let t = f.issue_session(CLIENT).expect("session");
    (f, t)
}

const SBIN: InstrumentId = InstrumentId(0);
const RELIANCE: InstrumentId = InstrumentId(1);
const NIFTY_FUT: InstrumentId = InstrumentId(2);
const HDFC: InstrumentId = InstrumentId(3);

fn subs() -> Vec<Subscription> {
    vec![
        Subscription::new(ExchangeType::NseCm, "3045", Mode::SnapQuote, SBIN),
        Subscription::new(ExchangeType::NseCm, "2885", Mode::Quote, RELIANCE),
        Subscription::new(ExchangeType::NseFo, "43919", Mode::Ltp, NIFTY_FUT),
        Subscription::new(ExchangeType::NseCm, "1333", Mode::Ltp, HDFC),
    ]
}

/// What the fake should hold after `subs()` were subscribed.
fn expected() -> BTreeSet<FakeSub> {
    let s = |mode, exchange_type, token: &str| FakeSub { mode, exchange_type, token: token.into() };
    BTreeSet::from([s(3, 1, "3045"), s(2, 1, "2885"), s(1, 2, "43919"), s(1, 1, "1333")])
}

fn stream_config(root: &str, t: &SessionTokens, subs: Vec<Subscription>) -> SmartStreamConfig {
    let mut cfg = SmartStreamConfig::new(
        API_KEY,
        CLIENT,
        Secret::new(t.jwt_token.as_str()),
        Secret::new(t.feed_token.as_str()),
        subs,
    );
    cfg.ws_root = root.to_string();
    cfg.backoff_min = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(200);
    cfg.ping_interval = Duration::from_millis(250);
    cfg.stale_after = Duration::from_secs(5);
    cfg
}

fn stream_root(f: &FakeAngel) -> String {
    format!("{}/smart-stream", f.ws_root())
}

fn start_stream(f: &FakeAngel, t: &SessionTokens) -> SmartStream {
    let s = SmartStream::start(stream_config(&stream_root(f), t, subs())).expect("stream starts");
    until("the subscriptions", || f.stream_subscriptions() == expected());
    s
}

/// Inputs from the stream until `n` have arrived.
fn take(stream: &mut SmartStream, n: usize) -> Vec<Input> {
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < n {
        assert!(start.elapsed() < DEADLINE, "timed out with {} of {n} inputs: {got:?}", got.len());
        stream.drain(n - got.len(), Duration::from_millis(20), |i| got.push(i));
    }
    got
}

fn header(exchange_type: u8, token: &str, ts_ms: i64, ltp: i64) -> TickHeader {
    TickHeader { exchange_type, token: token.into(), sequence: 7, exchange_timestamp: ts_ms, ltp }
}

fn quote_fields(ltq: i64, volume: i64) -> QuoteFields {
    QuoteFields {
        last_traded_quantity: ltq,
        average_price: 1,
        volume,
        total_buy_quantity: 10.0,
        total_sell_quantity: 20.0,
        open: 1,
        high: 2,
        low: 1,
        close: 1,
    }
}

fn quote(token: &str, ts_ms: i64, ltp: i64, ltq: i64, volume: i64) -> StreamPacket {
    StreamPacket::Quote(header(1, token, ts_ms, ltp), quote_fields(ltq, volume))
}

fn tick(instrument: InstrumentId, ts_ms: i64, paise: i64, qty: u64) -> Input {
    Input::Tick(Tick { instrument, ts: Timestamp(ts_ms * MS), price: Price(paise), qty: Qty(qty) })
}

fn no_secret(text: &str, t: &SessionTokens) {
    for s in [t.jwt_token.as_str(), t.feed_token.as_str(), t.refresh_token.as_str()] {
        assert!(!text.contains(s), "a token in {text:?}");
    }
}

// ---------------------------------------------------------------------------------------
// SmartStream

#[test]
fn subscribe_requests_are_one_per_mode_grouped_by_exchange_as_documented() {
    let (f, t) = fake();
    let stream = start_stream(&f, &t);
    let requests: Vec<_> = f.stream_requests().into_iter().filter(|r| r.text != "ping").collect();
    assert_eq!(requests.len(), 3, "{requests:?}");
    let seen: Vec<_> = requests
        .iter()
        .map(|r| (r.connection, r.action, r.mode, r.correlation_id.clone(), r.tokens.clone(), r.error.clone()))
        .collect();
    let id = |s: &str| Some(s.to_string());
    assert_eq!(
        seen,
        [
            (1, Some(1), Some(1), id("dalal-1"), vec![(2, "43919".to_string()), (1, "1333".to_string())], None),
            (1, Some(1), Some(2), id("dalal-2"), vec![(1, "2885".to_string())], None),
            (1, Some(1), Some(3), id("dalal-3"), vec![(1, "3045".to_string())], None),
        ]
    );
    // The documented JSON, key for key.
    assert_eq!(
        requests[0].text,
        r#"{"correlationID":"dalal-1","action":1,"params":{"mode":1,"tokenList":[{"exchangeType":2,"tokens":["43919"]},{"exchangeType":1,"tokens":["1333"]}]}}"#
    );
    assert_eq!(stream.status(), SocketStatus::Connected);
    let c = stream.counters();
    assert_eq!((c.connection.connects, c.e1001, c.e1002), (1, 0, 0), "{c:?}");
}

#[test]
fn ltp_quote_and_snapquote_packets_arrive_as_ticks() {
    let (f, t) = fake();
    let mut stream = start_stream(&f, &t);

    f.stream_push_packet(&StreamPacket::Ltp(TickHeader {
        exchange_type: 2,
        token: "43919".into(),
        sequence: 1,
        exchange_timestamp: T0_MS,
        ltp: 2_234_550,
    }));
    f.stream_push_packet(&quote("2885", T0_MS + 1, 250_005, 3, 77));
    let level = |quantity, price, orders| BestFive { quantity, price, orders };
    let mut bids = [BestFive::default(); 5];
    let mut asks = [BestFive::default(); 5];
    bids[0] = level(100, 57_210, 2);
    bids[1] = level(50, 57_200, 1);
    asks[0] = level(40, 57_220, 1);
    let snap =
        SnapFields { bids, asks, open_interest: 0, last_traded_timestamp: 1_700_000_000, ..SnapFields::default() };
    f.stream_push_packet(&StreamPacket::SnapQuote(
        header(1, "3045", T0_MS + 2, 57_215),
        quote_fields(10, 123_456),
        Box::new(snap),
    ));
    let got = take(&mut stream, 4);
    assert_eq!(
        got,
        [
            // LTP packets carry no quantity.
            tick(NIFTY_FUT, T0_MS, 2_234_550, 0),
            tick(RELIANCE, T0_MS + 1, 250_005, 3),
            tick(SBIN, T0_MS + 2, 57_215, 10),
            Input::Quote(Quote {
                instrument: SBIN,
                ts: Timestamp((T0_MS + 2) * MS),
                bid: Price(57_210),
                ask: Price(57_220)
            }),
        ]
    );

    // The same trade repeated (a packet for another change) is not a new trade.
    f.stream_push_packet(&quote("2885", T0_MS + 3, 250_005, 3, 77));
    f.stream_push_packet(&quote("2885", T0_MS + 4, 250_010, 1, 78));
    assert_eq!(take(&mut stream, 1), [tick(RELIANCE, T0_MS + 4, 250_010, 1)]);
    let c = stream.counters();
    assert_eq!((c.packets, c.ticks, c.ltp_ticks, c.quotes, c.no_new_trade), (5, 4, 1, 1, 1), "{c:?}");
    assert_eq!(stream.report().name, "angel:smartstream");
    assert_eq!(stream.report().received, 5);
}

#[test]
fn text_pings_get_pongs_and_keep_a_quiet_connection_alive() {
    let (f, t) = fake();
    let mut cfg = stream_config(&stream_root(&f), &t, subs());
    cfg.ping_interval = Duration::from_millis(100);
    cfg.stale_after = Duration::from_secs(3);
    let stream = SmartStream::start(cfg).expect("stream starts");
    // Forty pings take at least four seconds: longer than the stale interval, with nothing but
    // pongs coming back.
    until("forty pings", || f.stream_requests().iter().filter(|r| r.text == "ping").count() >= 40);
    // The client counts a ping once its send returns, which can be after the server has it.
    until("forty pings counted", || stream.counters().connection.pings >= 40);
    until("the pongs counted", || stream.counters().connection.pongs >= 30);
    let c = stream.counters().connection;
    assert_eq!((c.connects, c.reconnects, c.stale), (1, 0, 0), "{c:?}");
    assert!(c.pings >= 40, "{c:?}");
    assert_eq!(f.stream_handshakes().accepted, 1);
    let health = stream.health();
    assert_eq!(health.status, SocketStatus::Connected);
    assert!(!health.stale, "{health:?}");
}

#[test]
fn refused_credentials_are_reported_in_angels_words_until_new_ones_come() {
    let (f, t) = fake();
    let bogus = SessionTokens { feed_token: "eyJbogus.feed.token".into(), ..t.clone() };
    let stream = SmartStream::start(stream_config(&stream_root(&f), &bogus, subs())).expect("stream starts");
    until("the stream to give up", || stream.status() == SocketStatus::SessionExpired);
    let e = stream.last_error().expect("an error");
    assert!(e.contains("HTTP 401") && e.contains("Invalid Header - Invalid Feed Token"), "{e}");
    no_secret(&e, &t);
    assert!(!e.contains("eyJbogus"), "{e}");
    // Two refusals, then nothing until new credentials come.
    let c = stream.counters().connection;
    assert_eq!((c.auth_failures, c.connects), (2, 0), "{c:?}");
    assert_eq!(f.stream_handshakes().refused, 2);
    let report = stream.report();
    assert!(report.error.as_deref().is_some_and(|e| e.contains("Invalid Feed Token")), "{report:?}");
    assert!(stream.health().stale);

    // A wrong JWT is refused in its own words.
    let wrong_jwt = SessionTokens { jwt_token: "eyJbogus.jwt".into(), ..t.clone() };
    let other = SmartStream::start(stream_config(&stream_root(&f), &wrong_jwt, subs())).expect("starts");
    until("the second stream to give up", || other.status() == SocketStatus::SessionExpired);
    assert!(other.last_error().is_some_and(|e| e.contains("Invalid Header - Invalid Auth token")));
    drop(other);

    stream.set_credentials(Secret::new(t.jwt_token.as_str()), Secret::new(t.feed_token.as_str()));
    until("the connection", || stream.status() == SocketStatus::Connected);
    until("the subscriptions", || f.stream_subscriptions() == expected());
    no_secret(&logged(), &t);
    no_secret(&format!("{stream:?} {:?}", stream.health()), &t);
}

#[test]
fn a_dropped_connection_reconnects_and_resubscribes() {
    let (f, t) = fake();
    let mut stream = start_stream(&f, &t);
    f.stream_push_packet(&quote("2885", T0_MS, 250_000, 5, 10));
    assert_eq!(take(&mut stream, 1), [tick(RELIANCE, T0_MS, 250_000, 5)]);

    assert_eq!(f.stream_drop_connections(), 1);
    until("the second connection's subscriptions", || {
        f.stream_handshakes().accepted == 2 && f.stream_subscriptions() == expected()
    });
    let texts = |connection: u64| -> Vec<String> {
        f.stream_requests()
            .into_iter()
            .filter(|r| r.connection == connection && r.text != "ping")
            .map(|r| r.text)
            .collect()
    };
    assert_eq!(texts(1), texts(2));
    assert_eq!(texts(2).len(), 3);

    // The snapshot Angel sends after a resubscription does not replay the last trade.
    f.stream_push_packet(&quote("2885", T0_MS, 250_000, 5, 10));
    f.stream_push_packet(&quote("2885", T0_MS + 5, 250_100, 2, 12));
    assert_eq!(take(&mut stream, 1), [tick(RELIANCE, T0_MS + 5, 250_100, 2)]);
    let c = stream.counters();
    assert_eq!((c.connection.connects, c.connection.reconnects, c.no_new_trade), (2, 1, 1), "{c:?}");
    assert_eq!(stream.status(), SocketStatus::Connected);
}

#[test]
fn new_credentials_take_effect_at_the_next_connection() {
    let (f, t) = fake();
    let stream = start_stream(&f, &t);
    let next = f.issue_session(CLIENT).expect("a second session");
    stream.credentials_handle().set(Secret::new(next.jwt_token.as_str()), Secret::new(next.feed_token.as_str()));
    // The first session ends; its tokens are refused from now on.
    assert!(f.expire_token(&t.jwt_token) && f.expire_token(&t.feed_token));
    f.stream_drop_connections();
    until("the reconnection", || f.stream_handshakes().accepted == 2 && f.stream_subscriptions() == expected());
    assert_eq!(f.stream_handshakes().refused, 0);
    assert_eq!(stream.status(), SocketStatus::Connected);
}

#[test]
fn error_replies_are_counted_and_the_stream_goes_on() {
    let (f, t) = fake();
    // Room for the LTP request's two tokens only: Quote and SnapQuote get E1002.
    f.stream_set_subscription_limit(2);
    let mut stream = SmartStream::start(stream_config(&stream_root(&f), &t, subs())).expect("stream starts");
    until("two E1002 replies", || stream.counters().e1002 == 2);
    let e = stream.last_error().expect("the refusal");
    assert!(e.contains("E1002") && e.contains("dalal-"), "{e}");
    f.stream_push_text(r#"{"correlationID":"","errorCode":"E1001","errorMessage":"Invalid Request Payload."}"#);
    until("the E1001 reply", || stream.counters().e1001 == 1);
    f.stream_push_packet(&StreamPacket::ltp(1, "1333", 160_000));
    let got = take(&mut stream, 1);
    assert!(matches!(got[0], Input::Tick(t) if t.instrument == HDFC && t.price == Price(160_000)), "{got:?}");
    assert_eq!(stream.status(), SocketStatus::Connected);
    assert_eq!(stream.counters().connection.reconnects, 0);
}

#[test]
fn unknown_tokens_and_damaged_packets_are_counted_and_skipped() {
    let (f, t) = fake();
    let mut stream = start_stream(&f, &t);
    // Not subscribed: an unknown token, and a known token of another exchange type.
    f.stream_push_packet(&StreamPacket::ltp(1, "99999", 100));
    f.stream_push_packet(&StreamPacket::ltp(2, "3045", 100));
    // Too short, empty, an unknown mode.
    f.stream_push_raw(vec![1, 2, 3]);
    f.stream_push_raw(Vec::new());
    f.stream_push_raw(vec![9; 60]);
    f.stream_push_text("hello");
    // A zero price.
    f.stream_push_packet(&quote("2885", T0_MS, 0, 1, 1));
    f.stream_push_packet(&quote("2885", T0_MS, 250_000, 1, 2));
    assert_eq!(take(&mut stream, 1), [tick(RELIANCE, T0_MS, 250_000, 1)]);
    let c = stream.counters();
    assert_eq!((c.unknown_tokens, c.malformed, c.malformed_text, c.bad_prices), (2, 3, 1, 1), "{c:?}");
    let r = stream.report();
    assert_eq!(r.rejects.get(TickReject::Malformed), 4);
    assert_eq!(r.rejects.get(TickReject::UnknownSymbol), 2);
    assert_eq!(r.rejects.get(TickReject::NonPositivePrice), 1);
    assert_eq!(stream.counters().connection.reconnects, 0);
}

#[test]
fn angels_limits_are_refused_at_start() {
    let t = SessionTokens { jwt_token: "j".into(), refresh_token: "r".into(), feed_token: "f".into() };
    // Nothing listens there: the configurations that pass are dropped while connecting.
    let root = "ws://127.0.0.1:9/smart-stream";
    let start = |subs: Vec<Subscription>| SmartStream::start(stream_config(root, &t, subs));
    let ltp = |n: usize| -> Vec<Subscription> {
        (0..n)
            .map(|i| Subscription::new(ExchangeType::NseCm, i.to_string(), Mode::Ltp, InstrumentId(i as u32)))
            .collect()
    };
    let depth = |n: usize| -> Vec<Subscription> {
        (0..n)
            .map(|i| {
                Subscription::new(ExchangeType::NseCm, (i + 5000).to_string(), Mode::Depth20, InstrumentId(i as u32))
            })
            .collect()
    };
    drop(start(ltp(1000)).expect("1000 subscriptions are allowed"));
    let e = start(ltp(1001)).expect_err("1001");
    assert!(matches!(e, SmartStreamError::TooManySubscriptions { count: 1001, limit: 1000 }), "{e}");
    assert!(e.to_string().contains("at most 1000"), "{e}");
    drop(start(depth(50)).expect("50 depth-20 tokens are allowed"));
    let e = start(depth(51)).expect_err("51");
    assert!(matches!(e, SmartStreamError::TooManyDepth20 { count: 51, limit: 50 }), "{e}");
    let fo = vec![Subscription::new(ExchangeType::NseFo, "43919", Mode::Depth20, InstrumentId(0))];
    assert!(matches!(start(fo), Err(SmartStreamError::Depth20NotNseCm { .. })));
    let mut twice = ltp(2);
    twice.push(Subscription::new(ExchangeType::NseCm, "1", Mode::Ltp, InstrumentId(1)));
    assert!(matches!(start(twice), Err(SmartStreamError::Duplicate { .. })));
    let mut two_ids = ltp(1);
    two_ids.push(Subscription::new(ExchangeType::NseCm, "0", Mode::Quote, InstrumentId(9)));
    assert!(matches!(start(two_ids), Err(SmartStreamError::ConflictingInstrument { .. })));
    for bad in ["", "12345678901234567890123456", "30\u{0}45", "३०४५"] {
        let s = vec![Subscription::new(ExchangeType::NseCm, bad, Mode::Ltp, InstrumentId(0))];
        assert!(matches!(start(s), Err(SmartStreamError::BadToken(_))), "{bad:?}");
    }
    assert!(matches!(start(Vec::new()), Err(SmartStreamError::NothingToSubscribe)));
    let mut cfg = stream_config(root, &t, ltp(1));
    cfg.stale_after = cfg.ping_interval;
    assert!(matches!(SmartStream::start(cfg), Err(SmartStreamError::Timing { .. })));
    let cfg = stream_config("https://example.com/x?feedToken=topsecret", &t, ltp(1));
    let e = SmartStream::start(cfg).expect_err("not a ws root");
    assert!(matches!(e, SmartStreamError::BadRoot(_)) && !e.to_string().contains("topsecret"), "{e}");
}

/// Per handshake: the path and the headers.
type Handshakes = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

/// A WebSocket server that accepts, records the handshake and what it is sent, and never says
/// anything: a half-open connection as the client sees it.
struct Silent {
    addr: std::net::SocketAddr,
    handshakes: Handshakes,
    texts: Arc<Mutex<Vec<String>>>,
}

fn silent_server() -> Silent {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let handshakes: Handshakes = Arc::new(Mutex::new(Vec::new()));
    let texts = Arc::new(Mutex::new(Vec::new()));
    let (h, x) = (handshakes.clone(), texts.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let (h, x) = (h.clone(), x.clone());
                tokio::spawn(async move {
                    // Tungstenite's callback type, whose error is an HTTP response.
                    #[allow(clippy::result_large_err)]
                    let record = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("?").to_string()))
                            .collect();
                        h.lock().expect("lock").push((req.uri().path().to_string(), headers));
                        Ok(resp)
                    };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, record).await else { return };
                    while let Some(Ok(m)) = ws.next().await {
                        if let Ok(t) = m.to_text() {
                            x.lock().expect("lock").push(t.to_string());
                        }
                    }
                });
            }
        });
    });
    Silent { addr, handshakes, texts }
}

#[test]
fn the_handshake_carries_angels_headers_and_a_silent_server_is_taken_for_dead() {
    logs();
    let server = silent_server();
    let t = SessionTokens {
        jwt_token: "eyJhbGciOiJIUzUxMiJ9.silent.jwt".into(),
        refresh_token: "r".into(),
        feed_token: "eyJfeed.silent".into(),
    };
    let mut cfg = stream_config(&format!("ws://{}/smart-stream", server.addr), &t, subs());
    cfg.ping_interval = Duration::from_millis(100);
    cfg.stale_after = Duration::from_millis(1500);
    let stream = SmartStream::start(cfg).expect("stream starts");
    until("a stale connection replaced", || {
        stream.counters().connection.stale >= 1 && server.handshakes.lock().expect("lock").len() >= 2
    });
    let (path, headers) = server.handshakes.lock().expect("lock")[0].clone();
    assert_eq!(path, "/smart-stream");
    let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("authorization"), Some("Bearer eyJhbGciOiJIUzUxMiJ9.silent.jwt"));
    assert_eq!(get("x-api-key"), Some(API_KEY));
    assert_eq!(get("x-client-code"), Some(CLIENT));
    assert_eq!(get("x-feed-token"), Some("eyJfeed.silent"));
    let texts = server.texts.lock().expect("lock").clone();
    assert!(texts.iter().any(|t| t == "ping"), "{texts:?}");
    assert!(texts.iter().filter(|t| t.contains(r#""action":1"#)).count() >= 3, "{texts:?}");
    let e = stream.last_error().expect("why it reconnected");
    assert!(e.contains("silent"), "{e}");
    assert!(stream.counters().connection.reconnects >= 1);
}

// ---------------------------------------------------------------------------------------
// The order-update socket

fn order_config(f: &FakeAngel, t: &SessionTokens) -> OrderUpdatesConfig {
    let mut cfg =
        OrderUpdatesConfig::new(API_KEY, CLIENT, Secret::new(t.jwt_token.as_str()), Secret::new(t.feed_token.as_str()));
    cfg.ws_root = format!("{}/smart-order-update", f.order_ws_root());
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

/// The REST client with the fake session's tokens, and a runtime to call it on.
fn rest(f: &FakeAngel, t: &SessionTokens) -> (AngelClient, tokio::runtime::Runtime) {
    let id =
        Identity { local_ip: "10.0.0.7".into(), public_ip: "106.193.147.98".into(), mac: "02:42:ac:11:00:02".into() };
    let mut c = AngelClient::new(&f.root(), API_KEY, CLIENT, &id, Duration::from_secs(10)).expect("client");
    c.set_tokens(Some(Tokens {
        jwt: Secret::new(t.jwt_token.as_str()),
        refresh: Secret::new(t.refresh_token.as_str()),
        feed: Secret::new(t.feed_token.as_str()),
        state: String::new(),
    }));
    (c, tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"))
}

fn order(ordertype: OrderType, qty: u64, price: f64) -> PlaceOrder {
    PlaceOrder {
        variety: Variety::Normal,
        tradingsymbol: "SBIN-EQ".into(),
        symboltoken: "3045".into(),
        transactiontype: TransactionType::Buy,
        exchange: "NSE".into(),
        ordertype,
        producttype: Product::Intraday,
        duration: Validity::Day,
        price,
        triggerprice: 0.0,
        quantity: qty,
        ordertag: None,
    }
}

#[test]
fn order_updates_arrive_after_the_greeting_and_after_a_reconnect() {
    let (f, t) = fake();
    let (on_order, rx) = collector();
    let updates = OrderUpdates::start(order_config(&f, &t), on_order).expect("starts");
    until("the greeting", || updates.counters().greetings == 1);

    let (client, rt) = rest(&f, &t);
    let placed = rt.block_on(client.place_order(&order(OrderType::Market, 3, 0.0))).expect("placed");
    let statuses: Vec<(String, String, i64)> =
        (0..3).map(|_| next_order(&rx)).map(|o| (o.orderid.clone(), o.status.clone(), o.filledshares)).collect();
    let id = placed.orderid.clone();
    assert_eq!(
        statuses,
        [(id.clone(), "open pending".into(), 0), (id.clone(), "open".into(), 0), (id, "complete".into(), 3)]
    );

    // Pings go out and pongs come back.
    until("a ping and its pong", || {
        f.order_ws_requests().iter().any(|r| r == "ping") && updates.counters().connection.pongs >= 1
    });

    // Damaged messages are counted, not fatal.
    f.order_ws_push_text("not json");
    f.order_ws_push_text(r#"{"order-status":"AB01","orderData":{"orderid":"1","quantity":"ten"}}"#);
    until("two malformed messages", || updates.counters().malformed == 2);

    // After a reconnect (a new greeting) the next events still arrive.
    assert_eq!(f.order_ws_drop_connections(), 1);
    until("the second greeting", || updates.counters().greetings == 2);
    let limit = rt.block_on(client.place_order(&order(OrderType::Limit, 5, 790.0))).expect("placed");
    let first = next_order(&rx);
    assert_eq!(first.orderid, limit.orderid);
    f.fill(&limit.orderid, 5, 790.0).expect("filled");
    let mut last = first;
    until("the fill", || {
        while let Ok(o) = rx.try_recv() {
            last = o;
        }
        last.status == "complete"
    });
    assert_eq!((last.orderid.as_str(), last.filledshares, last.averageprice), (limit.orderid.as_str(), 5, 790.0));
    let c = updates.counters();
    assert_eq!((c.connection.connects, c.connection.reconnects, c.callback_panics), (2, 1, 0), "{c:?}");
    assert_eq!(updates.status(), SocketStatus::Connected);
}

#[test]
fn order_updates_report_refused_tokens_with_angels_reason() {
    let (f, t) = fake();
    let bogus = SessionTokens { jwt_token: "eyJbogus.order.jwt".into(), ..t.clone() };
    let (on_order, _rx) = collector();
    let updates = OrderUpdates::start(order_config(&f, &bogus), on_order).expect("starts");
    until("the socket to give up", || updates.status() == SocketStatus::SessionExpired);
    let e = updates.last_error().expect("an error");
    assert!(e.contains("HTTP 401") && e.contains("Invalid token"), "{e}");
    assert_eq!(f.order_ws_handshakes().refused, 2);

    // An expired JWT: 403.
    assert!(f.expire_token(&t.jwt_token));
    let (on_order, _rx2) = collector();
    let expired = OrderUpdates::start(order_config(&f, &t), on_order).expect("starts");
    until("the second socket to give up", || expired.status() == SocketStatus::SessionExpired);
    let e = expired.last_error().expect("an error");
    assert!(e.contains("HTTP 403") && e.contains("Token expired"), "{e}");
    no_secret(&e, &t);

    // A fresh session wakes it.
    let next = f.issue_session(CLIENT).expect("session");
    expired.set_credentials(Secret::new(next.jwt_token.as_str()), Secret::new(next.feed_token.as_str()));
    until("the greeting", || expired.counters().greetings == 1);
    no_secret(&logged(), &t);
}

// ---------------------------------------------------------------------------------------
// Stopping

#[test]
fn dropping_the_handles_stops_the_threads() {
    let (f, t) = fake();
    let stream = start_stream(&f, &t);
    let (on_order, _rx) = collector();
    let updates = OrderUpdates::start(order_config(&f, &t), on_order).expect("starts");
    until("both connections", || f.stream_handshakes().open == 1 && f.order_ws_handshakes().open == 1);
    let (stream_monitor, updates_monitor) = (stream.monitor(), updates.monitor());

    // Dropping joins the thread: once the drop returns, the thread has ended.
    let started = Instant::now();
    drop(stream);
    drop(updates);
    assert!(started.elapsed() < DEADLINE, "took {:?}", started.elapsed());
    assert_eq!(stream_monitor.status(), SocketStatus::Stopped);
    assert_eq!(updates_monitor.status(), SocketStatus::Stopped);
    assert!(stream_monitor.health().stale);
    until("the fake to see both sockets closed", || {
        f.stream_handshakes().open == 0 && f.order_ws_handshakes().open == 0
    });

    // A socket waiting for credentials, or between attempts, stops as well.
    let bogus = SessionTokens { feed_token: "eyJbogus".into(), ..t.clone() };
    let waiting = SmartStream::start(stream_config(&stream_root(&f), &bogus, subs())).expect("starts");
    until("the stream to give up", || waiting.status() == SocketStatus::SessionExpired);
    let monitor = waiting.monitor();
    drop(waiting);
    assert_eq!(monitor.status(), SocketStatus::Stopped);
    let mut cfg = stream_config("ws://127.0.0.1:9/smart-stream", &t, subs());
    cfg.backoff_min = Duration::from_secs(60);
    cfg.backoff_max = Duration::from_secs(60);
    let backing_off = SmartStream::start(cfg).expect("starts");
    until("the backoff", || backing_off.status() == SocketStatus::Backoff);
    let monitor = backing_off.monitor();
    let started = Instant::now();
    drop(backing_off);
    assert!(started.elapsed() < DEADLINE, "took {:?}", started.elapsed());
    assert_eq!(monitor.status(), SocketStatus::Stopped);
}
