//! Kite market data as an engine feed, against the fake Kite server's ticker: what Kite
//! streams arrives as engine inputs (ids, paise, times), subscriptions and modes go out as
//! Kite's JSON requests, and the connection survives what real connections do — damaged
//! frames, drops, half-open sockets, expired tokens — without a panic, a storm of
//! reconnections, or a secret in any log or error.
//!
//! Every wait is for a condition, with a generous deadline; no test relies on a sleep being
//! long enough.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dalal_adapters::feed::FeedSource;
use dalal_brokers::fake::kite::ticker::{full_packet, ltp_packet, quote_packet};
use dalal_brokers::fake::kite::{FakeKite, FakeUser};
use dalal_brokers::kite::feed::{FeedStatus, KiteFeed, KiteFeedConfig, Mode, OrderUpdate, Subscription};
use dalal_brokers::kite::params::{OrderType, PlaceOrder, Product, TransactionType, Validity, Variety};
use dalal_brokers::kite::KiteClient;
use dalal_brokers::Secret;
use dalal_core::model::{Input, InstrumentId, Price, Qty, Quote, Tick, Timestamp};

const API_KEY: &str = "feedapikey4k2m";
const USER: &str = "QF7731";
const INFY: u32 = 408_065;
const RELIANCE: u32 = 738_561;
const SEC: i64 = 1_000_000_000;
const DEADLINE: Duration = Duration::from_secs(20);

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

fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > DEADLINE {
            let logged = String::from_utf8_lossy(&logs().lock().unwrap_or_else(|p| p.into_inner())).to_string();
            let tail: String = logged.lines().rev().take(30).collect::<Vec<_>>().join("\n");
            panic!("timed out waiting for {what}; latest log lines, newest first:\n{tail}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn fake() -> (FakeKite, String) {
    logs();
    let f = FakeKite::start_in_background().expect("fake kite starts");
    f.add_user(FakeUser::new(USER, API_KEY, "feed-api-secret-1a2b3c"));
    let token = f.issue_access_token(API_KEY).expect("token");
    (f, token)
}

fn subs() -> Vec<Subscription> {
    vec![
        Subscription { token: INFY, instrument: InstrumentId(0), mode: Mode::Full },
        Subscription { token: RELIANCE, instrument: InstrumentId(1), mode: Mode::Quote },
    ]
}

fn config(f: &FakeKite, token: &str, subs: Vec<Subscription>) -> KiteFeedConfig {
    let mut cfg = KiteFeedConfig::new(API_KEY, Secret::new(token), subs);
    cfg.ws_root = f.ws_root();
    cfg.backoff_min = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(200);
    cfg.stale_after = Duration::from_secs(3);
    cfg
}

fn expected_subscriptions() -> BTreeMap<u32, String> {
    BTreeMap::from([(INFY, "full".to_string()), (RELIANCE, "quote".to_string())])
}

/// Inputs from the feed until `n` have arrived.
fn take(feed: &mut KiteFeed, n: usize) -> Vec<Input> {
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < n {
        assert!(start.elapsed() < DEADLINE, "timed out with {} of {n} inputs: {got:?}", got.len());
        feed.drain(n - got.len(), Duration::from_millis(20), |i| got.push(i));
    }
    got
}

fn wall_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos() as i64
}

fn trade(instrument: u32, ts_s: i64, paise: i64, qty: u64) -> Input {
    Input::Tick(Tick {
        instrument: InstrumentId(instrument),
        ts: Timestamp(ts_s * SEC),
        price: Price(paise),
        qty: Qty(qty),
    })
}

#[test]
fn trades_and_quotes_arrive_as_engine_inputs_after_the_subscription() {
    let (f, token) = fake();
    let mut feed = KiteFeed::start(config(&f, &token, subs()), None).expect("feed starts");
    until("the subscription", || f.ticker_subscriptions() == expected_subscriptions());
    let requests: Vec<String> = f.ticker_requests().into_iter().map(|r| r.text).collect();
    assert_eq!(
        requests,
        [
            format!(r#"{{"a":"subscribe","v":[{INFY},{RELIANCE}]}}"#),
            format!(r#"{{"a":"mode","v":["quote",[{RELIANCE}]]}}"#),
            format!(r#"{{"a":"mode","v":["full",[{INFY}]]}}"#),
        ]
    );
    assert_eq!(feed.status(), FeedStatus::Connected);

    let before = wall_ns();
    let infy =
        full_packet(INFY, 1573.15, 25, 10_000, (1_700_000_000, 1_700_000_002), &[(100, 1573.1, 2)], &[(40, 1573.2, 1)]);
    f.ticker_push_packets(&[infy, quote_packet(RELIANCE, 2500.05, 3, 77)]);
    let got = take(&mut feed, 3);
    let after = wall_ns();
    assert_eq!(got[0], trade(0, 1_700_000_000, 157_315, 25));
    assert_eq!(
        got[1],
        Input::Quote(Quote {
            instrument: InstrumentId(0),
            ts: Timestamp(1_700_000_002 * SEC),
            bid: Price(157_310),
            ask: Price(157_320)
        })
    );
    // Quote packets carry no time: the trade is timed when the frame arrived.
    match got[2] {
        Input::Tick(t) => {
            assert_eq!((t.instrument, t.price, t.qty), (InstrumentId(1), Price(250_005), Qty(3)));
            assert!((before..=after).contains(&t.ts.0), "{} not in {before}..={after}", t.ts.0);
        }
        other => panic!("expected a tick, got {other:?}"),
    }

    // The same trade repeated, an LTP packet and an index-length packet: nothing for the engine.
    let again = quote_packet(RELIANCE, 2500.05, 3, 77);
    f.ticker_push_packets(&[again, ltp_packet(INFY, 1573.2)]);
    f.ticker_push_packets(&[quote_packet(RELIANCE, 2500.1, 1, 78)]);
    let got = take(&mut feed, 1);
    assert!(matches!(got[0], Input::Tick(t) if t.price == Price(250_010) && t.qty == Qty(1)), "{got:?}");
    let c = feed.counters();
    assert_eq!((c.ticks, c.quotes, c.no_new_trade, c.ltp_only), (3, 1, 1, 1), "{c:?}");
    let report = feed.report();
    assert_eq!(report.name, "kite:ticker");
}

#[test]
fn damaged_frames_unknown_tokens_and_bad_prices_are_counted_and_the_stream_goes_on() {
    let (f, token) = fake();
    let mut feed = KiteFeed::start(config(&f, &token, subs()), None).expect("feed starts");
    until("the subscription", || f.ticker_subscriptions() == expected_subscriptions());
    // A frame that promises five packets and holds half of one.
    f.ticker_push_raw(vec![0, 5, 0, 8, 0, 6, 0x3a]);
    // A packet longer than its frame.
    f.ticker_push_raw(vec![0, 1, 0, 44, 1, 2, 3]);
    // An instrument nobody subscribed to, and a zero price.
    f.ticker_push_packets(&[quote_packet(256_001, 10.0, 1, 1), quote_packet(INFY, 0.0, 1, 1)]);
    f.ticker_push_text("not json at all");
    f.ticker_push_text(r#"{"type":"error","data":"Too many requests"}"#);
    f.ticker_push_packets(&[quote_packet(INFY, 1500.0, 2, 2)]);
    let got = take(&mut feed, 1);
    assert!(matches!(got[0], Input::Tick(t) if t.price == Price(150_000) && t.qty == Qty(2)), "{got:?}");
    let c = feed.counters();
    assert_eq!((c.malformed, c.unknown_tokens, c.bad_prices), (2, 1, 1), "{c:?}");
    assert_eq!((c.malformed_text, c.text_errors, c.reconnects), (1, 1, 0), "{c:?}");
    let r = feed.report();
    assert_eq!(r.rejects.get(dalal_core::model::TickReject::Malformed), 3);
    assert_eq!(r.rejects.get(dalal_core::model::TickReject::UnknownSymbol), 1);
    assert_eq!(r.rejects.get(dalal_core::model::TickReject::NonPositivePrice), 1);
}

#[test]
fn a_dropped_connection_is_reopened_and_resubscribed_without_replaying_the_last_trade() {
    let (f, token) = fake();
    let mut feed = KiteFeed::start(config(&f, &token, subs()), None).expect("feed starts");
    until("the subscription", || f.ticker_subscriptions() == expected_subscriptions());
    let infy = quote_packet(INFY, 1500.0, 5, 100);
    f.ticker_push_packets(std::slice::from_ref(&infy));
    assert_eq!(take(&mut feed, 1).len(), 1);

    f.ticker_drop_connections();
    until("a second connection", || f.ticker_handshakes().accepted == 2);
    until("the resubscription", || f.ticker_subscriptions() == expected_subscriptions());
    let second: Vec<_> = f.ticker_requests().into_iter().filter(|r| r.connection == 2).collect();
    assert_eq!(second.len(), 3, "{second:?}");
    assert_eq!(second[0].action.as_deref(), Some("subscribe"));
    until("the feed to count the reconnection", || feed.counters().reconnects == 1);

    // Kite's snapshot after subscribing repeats the last trade: not a new one.
    f.ticker_push_packets(&[infy, quote_packet(INFY, 1500.5, 1, 101)]);
    let got = take(&mut feed, 1);
    assert!(matches!(got[0], Input::Tick(t) if t.price == Price(150_050)), "{got:?}");
    let c = feed.counters();
    assert_eq!((c.connects, c.reconnects, c.ticks, c.no_new_trade), (2, 1, 2, 1), "{c:?}");
}

#[test]
fn a_half_open_connection_is_found_stale_and_replaced() {
    let (f, token) = fake();
    f.ticker_set_heartbeat(Some(Duration::from_millis(50)));
    let mut cfg = config(&f, &token, subs());
    cfg.stale_after = Duration::from_millis(1500);
    let mut feed = KiteFeed::start(cfg, None).expect("feed starts");
    until("the subscription", || f.ticker_subscriptions() == expected_subscriptions());
    until("heartbeats", || feed.counters().heartbeats >= 3);
    assert_eq!(feed.counters().stale, 0, "heartbeats keep a quiet connection alive");

    f.ticker_half_open();
    until("the stale connection to be replaced", || f.ticker_handshakes().accepted == 2);
    until("the resubscription", || f.ticker_subscriptions() == expected_subscriptions());
    let c = feed.counters();
    assert_eq!((c.stale, c.reconnects), (1, 1), "{c:?}");
    f.ticker_push_packets(&[quote_packet(INFY, 1501.0, 1, 1)]);
    assert_eq!(take(&mut feed, 1).len(), 1);
}

/// The monitor a run keeps once the feed is handed to its thread: it follows the status, the
/// counters and the time of the last frame from another thread, judges staleness by the
/// configured interval, and reads `stopped` once the feed is gone.
#[test]
fn a_monitor_follows_the_feed_from_another_thread_and_outlives_it() {
    let (f, token) = fake();
    f.ticker_set_heartbeat(Some(Duration::from_millis(50)));
    let feed = KiteFeed::start(config(&f, &token, subs()), None).expect("feed starts");
    let monitor = feed.monitor();
    let from_thread = {
        let m = monitor.clone();
        std::thread::spawn(move || {
            until("a heartbeat seen by the monitor", || m.counters().heartbeats >= 2 && m.last_frame_ns().is_some());
            m.health()
        })
    };
    let h = from_thread.join().expect("monitor thread");
    assert_eq!(h.status, FeedStatus::Connected);
    assert!(!h.stale, "{h:?}");
    let last = h.last_frame_ns.expect("a frame");
    assert!((wall_ns() - last).abs() < 60 * SEC, "the last frame is on the wall clock");
    assert!(monitor.health_at(last + 3 * SEC + 1).stale, "quiet for longer than stale_after");
    assert!(!monitor.health_at(last + 3 * SEC).stale);
    let v = serde_json::to_value(&h).expect("json");
    assert_eq!(v["status"], "connected");
    assert!(v["counters"]["unknown_tokens"].is_u64() && v["counters"]["heartbeats"].as_u64() >= Some(2), "{v}");
    assert!(!v.to_string().contains(&token) && !v.to_string().contains(API_KEY));
    drop(feed);
    assert_eq!(monitor.status(), FeedStatus::Stopped);
    assert!(monitor.health().stale);
}

#[test]
fn an_expired_token_is_a_session_expiry_not_a_reconnect_storm() {
    let (f, token) = fake();
    let mut feed = KiteFeed::start(config(&f, &token, subs()), None).expect("feed starts");
    until("the subscription", || f.ticker_subscriptions() == expected_subscriptions());

    // Kite expires the session and drops the socket: every handshake from now on is refused.
    f.expire_token(&token);
    f.ticker_drop_connections();
    until("the session expiry", || feed.status() == FeedStatus::SessionExpired);
    assert_eq!(f.ticker_handshakes().refused, 2);
    assert_eq!(feed.counters().auth_failures, 2);
    // Many backoff periods later there is still no new attempt.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(f.ticker_handshakes().refused, 2, "no retries on an expired session");
    assert_eq!(feed.status(), FeedStatus::SessionExpired);
    let error = feed.last_error().expect("an error");
    assert!(error.contains("403"), "{error}");
    assert!(feed.report().error.is_some());

    // A new login's token wakes it up.
    let fresh = f.issue_access_token(API_KEY).expect("token");
    feed.set_access_token(Secret::new(fresh.clone()));
    until("a connection with the new token", || f.ticker_handshakes().accepted == 2);
    until("the resubscription", || f.ticker_subscriptions() == expected_subscriptions());
    until("the feed to say so", || feed.status() == FeedStatus::Connected);
    f.ticker_push_packets(&[quote_packet(INFY, 1501.0, 1, 1)]);
    assert_eq!(take(&mut feed, 1).len(), 1);

    // Nothing the feed shows or logs carries a token or the key-and-token query.
    let shown = format!("{feed:?} {:?} {:?} {error}", feed.last_error(), feed.report());
    let logged = String::from_utf8_lossy(&logs().lock().unwrap_or_else(|p| p.into_inner())).to_string();
    for text in [&shown, &logged] {
        for secret in [token.as_str(), fresh.as_str(), "access_token=", "api_key="] {
            assert!(!text.contains(secret), "{secret:?} appears in {text}");
        }
    }
    assert!(logged.contains("session expired"), "the expiry is logged");
}

#[test]
fn a_token_refused_from_the_start_stops_after_the_configured_attempts() {
    let (f, _) = fake();
    let mut cfg = config(&f, "acc-not-a-token", subs());
    cfg.auth_attempts = 3;
    let feed = KiteFeed::start(cfg, None).expect("feed starts");
    until("the session expiry", || feed.status() == FeedStatus::SessionExpired);
    assert_eq!((f.ticker_handshakes().refused, feed.counters().auth_failures), (3, 3));
    assert_eq!(feed.counters().connects, 0);
    // A wrong api key with a live token is refused the same way.
    let token = f.issue_access_token(API_KEY).expect("token");
    let mut cfg = config(&f, &token, subs());
    cfg.api_key = "someoneelse".into();
    cfg.auth_attempts = 1;
    let feed = KiteFeed::start(cfg, None).expect("feed starts");
    until("the session expiry", || feed.status() == FeedStatus::SessionExpired);
    assert_eq!(f.ticker_handshakes().refused, 4);
}

#[test]
fn order_updates_on_the_socket_reach_the_callback() {
    let (f, token) = fake();
    f.set_instrument("NSE", "INFY", INFY as u64, 1500.0);
    let updates: Arc<Mutex<Vec<OrderUpdate>>> = Arc::default();
    let sink = updates.clone();
    let on_order = Box::new(move |u: OrderUpdate| sink.lock().unwrap_or_else(|p| p.into_inner()).push(u));
    let feed = KiteFeed::start(config(&f, &token, subs()), Some(on_order)).expect("feed starts");
    until("the subscription", || f.ticker_subscriptions() == expected_subscriptions());

    // An order placed over REST fills at once in the fake; its changes stream on the ticker.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client =
        KiteClient::new(&f.root(), API_KEY, Some(Secret::new(token.clone())), Duration::from_secs(10)).expect("client");
    let order = PlaceOrder {
        variety: Variety::Regular,
        exchange: "NSE".into(),
        tradingsymbol: "INFY".into(),
        transaction_type: TransactionType::Buy,
        quantity: 3,
        product: Product::Cnc,
        order_type: OrderType::Market,
        price: None,
        trigger_price: None,
        validity: Some(Validity::Day),
        disclosed_quantity: None,
        tag: None,
    };
    let order_id = runtime.block_on(client.place_order(&order)).expect("placed");
    let sent = f.ticker_push_order_updates();
    assert!(sent >= 2, "the fake logged the order's changes ({sent})");
    until("every update", || updates.lock().expect("lock").len() == sent);
    let got = updates.lock().expect("lock").clone();
    assert!(got.iter().all(|u| u.order.order_id == order_id));
    let last = got.last().expect("an update");
    assert_eq!((last.order.status.as_str(), last.order.filled_quantity), ("COMPLETE", 3));
    assert_eq!(last.order.instrument_token, INFY as u64);

    // A postback-shaped message with the extra fields, and one that is not an order.
    f.ticker_push_text(
        r#"{"type":"order","data":{"order_id":"99","status":"REJECTED","quantity":1,"user_id":"QF7731",
        "unfilled_quantity":1,"checksum":"abc","status_message":"RMS: margin"}}"#,
    );
    f.ticker_push_text(r#"{"type":"order","data":"nonsense"}"#);
    f.ticker_push_text(r#"{"type":"message","data":"Markets close early today"}"#);
    until("the postback", || updates.lock().expect("lock").len() == sent + 1);
    until("the message", || feed.counters().text_messages == 1);
    let u = updates.lock().expect("lock").last().cloned().expect("update");
    assert_eq!(u.order.status_message.as_deref(), Some("RMS: margin"));
    assert_eq!((u.user_id.as_deref(), u.unfilled_quantity, u.checksum.as_deref()), (Some(USER), Some(1), Some("abc")));
    let c = feed.counters();
    assert_eq!((c.order_updates, c.malformed_text), (sent as u64 + 1, 1), "{c:?}");
}

#[test]
fn bad_configurations_are_refused_at_start() {
    let cfg = |root: &str, subs: Vec<Subscription>| {
        let mut c = KiteFeedConfig::new(API_KEY, Secret::new("acc-secret-token"), subs);
        c.ws_root = root.to_string();
        c
    };
    for root in ["http://127.0.0.1:1", "127.0.0.1:1", ""] {
        assert!(KiteFeed::start(cfg(root, subs()), None).is_err(), "{root}");
    }
    let e = KiteFeed::start(cfg("ftp://x?access_token=acc-secret-token", subs()), None).expect_err("bad root");
    assert!(!e.to_string().contains("acc-secret-token"), "{e}");
    assert!(KiteFeed::start(cfg("ws://127.0.0.1:1", Vec::new()), None).is_err());
    let mut twice = subs();
    twice.push(twice[0]);
    assert!(KiteFeed::start(cfg("ws://127.0.0.1:1", twice), None).is_err());
}

#[test]
fn a_feed_that_cannot_connect_backs_off_and_stops_when_dropped() {
    // A port nothing listens on: refused at once, so only the backoff paces the attempts. A
    // privileged port, never handed out as an ephemeral one: a port bound and released here
    // could be taken by another test's fake server before the feed dials it.
    let mut cfg = KiteFeedConfig::new(API_KEY, Secret::new("acc-secret-token"), subs());
    cfg.ws_root = "ws://127.0.0.1:9".to_string();
    cfg.backoff_min = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(80);
    let feed = KiteFeed::start(cfg, None).expect("feed starts");
    until("a few failed attempts", || feed.counters().connect_failures >= 3);
    let error = feed.last_error().expect("an error");
    assert!(!error.contains("acc-secret-token") && !error.contains("access_token"), "{error}");
    let started = Instant::now();
    drop(feed);
    assert!(started.elapsed() < Duration::from_secs(5), "stopping is prompt");
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 32, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever arrives as a frame or a text, the client neither panics nor stalls: a
        /// good packet sent after it still arrives.
        #[test]
        fn random_frames_never_stop_the_client(
            frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 1..6),
            text in "\\PC{0,80}",
            framed in any::<bool>(),
        ) {
            static RIG: OnceLock<Mutex<(FakeKite, KiteFeed, u32)>> = OnceLock::new();
            let rig = RIG.get_or_init(|| {
                let (f, token) = fake();
                let mut s = subs();
                s.push(Subscription { token: 2, instrument: InstrumentId(7), mode: Mode::Quote });
                let feed = KiteFeed::start(config(&f, &token, s), None).expect("feed starts");
                until("the subscription", || f.ticker_subscriptions().len() == 3);
                Mutex::new((f, feed, 0))
            });
            let mut guard = rig.lock().unwrap_or_else(|p| p.into_inner());
            let (f, feed, n) = &mut *guard;
            for bytes in frames {
                // Half the cases wrap the bytes in a plausible header, to get past the count.
                let bytes = if framed {
                    let mut b = vec![0, 1];
                    b.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
                    b.extend(bytes);
                    b
                } else {
                    bytes
                };
                f.ticker_push_raw(bytes);
            }
            f.ticker_push_text(&text);
            *n += 1;
            f.ticker_push_packets(&[quote_packet(2, 100.0 + *n as f64, 1, *n)]);
            let want = Price(10_000 + 100 * *n as i64);
            let start = Instant::now();
            let mut seen = false;
            while !seen {
                prop_assert!(start.elapsed() < DEADLINE, "the sentinel trade never arrived");
                feed.drain(64, Duration::from_millis(20), |i| {
                    seen |= matches!(i, Input::Tick(t) if t.instrument == InstrumentId(7) && t.price == want);
                });
            }
            prop_assert_eq!(feed.status(), FeedStatus::Connected);
            prop_assert_eq!(feed.counters().reconnects, 0);
        }
    }
}
