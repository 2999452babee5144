//! The Redis publisher against the real Redis (`DALAL_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379/`), each test under a fresh key prefix: messages on the documented
//! channels, capped streams, the latest position and P&L as keys, and outages (a wrong port; a
//! connection cut and restored) that the publisher rides out and reports. Without a reachable
//! server the tests print why and pass, unless `CI` is set, where they fail.

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use dalal_config::Config;
use dalal_core::engine::setup::EngineSetup;
use dalal_core::model::{
    AccountId, FillId, InstrumentId, Money, Order, OrderId, OrderIntent, OrderStatus, Price, Product, Qty, Side,
    StrategyId, Timestamp,
};
use dalal_core::model::{BarSpec, Candle};
use dalal_core::model::{Fill, Tick};
use dalal_persistence::redis_pub::{Kind, RedisNames};
use dalal_persistence::store::fault_proxy::FaultProxy;
use dalal_persistence::{PnlSnapshot, PositionSnapshot, RedisEvent, RedisOptions, RedisPublisher};
use redis::Commands;
use serde_json::Value;

const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/";
const T0: i64 = 1_795_146_300_000_000_000;

fn setup() -> EngineSetup {
    let c: Config = toml::from_str(include_str!("../../config/default.toml")).expect("default config parses");
    c.validate().expect("default config validates")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// A fresh prefix on a reachable Redis, its keys deleted at the end; `None` (after saying why)
/// when Redis is not reachable and `CI` is unset.
struct Fresh {
    url: String,
    prefix: String,
    con: redis::Connection,
}

impl Fresh {
    fn new() -> Option<Fresh> {
        let url = std::env::var("DALAL_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_string());
        let attempt = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c).map(|_| c));
        match attempt {
            Ok(con) => {
                static N: AtomicU32 = AtomicU32::new(0);
                let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
                let prefix = format!("t{}_{}_{}", std::process::id(), nanos, N.fetch_add(1, Ordering::Relaxed));
                Some(Fresh { url, prefix, con })
            }
            Err(e) => {
                assert!(!in_ci(), "Redis not reachable at {url} ({e}) and CI is set: .ci/run must start it");
                // Straight to stderr: libtest does not capture it, so the skip shows.
                let msg = format!("skipped: redis not reachable at {url} ({e})\n");
                let _ = std::io::stderr().write_all(msg.as_bytes());
                None
            }
        }
    }

    fn opts(&self) -> RedisOptions {
        RedisOptions { url: self.url.clone(), prefix: self.prefix.clone(), ..RedisOptions::default() }
    }

    fn names(&self) -> RedisNames {
        RedisNames::new(&self.prefix)
    }

    fn port(&self) -> u16 {
        let info = redis::Client::open(self.url.as_str()).unwrap().get_connection_info().clone();
        match info.addr {
            redis::ConnectionAddr::Tcp(_, port) => port,
            _ => panic!("DALAL_TEST_REDIS_URL must be a TCP address"),
        }
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let keys: Vec<String> =
            self.con.scan_match(format!("dalal:{}:*", self.prefix)).map(|it| it.collect()).unwrap_or_default();
        for k in keys {
            let _: Result<(), _> = self.con.del(k);
        }
    }
}

fn order() -> Order {
    let intent = OrderIntent::limit(AccountId(1), StrategyId(2), InstrumentId(3), Side::Buy, Qty(10), Price(150_005));
    Order {
        id: OrderId(7),
        intent,
        status: OrderStatus::PartiallyFilled,
        filled: Qty(4),
        filled_value: 4 * 150_000,
        created: Timestamp(T0),
        updated: Timestamp(T0 + 5),
        reject: None,
        brokerage: Money(2000),
        venue_order: Default::default(),
    }
}

fn fill() -> Fill {
    Fill {
        id: FillId(9),
        order: OrderId(7),
        account: AccountId(1),
        strategy: StrategyId(2),
        instrument: InstrumentId(3),
        side: Side::Buy,
        qty: Qty(4),
        price: Price(150_000),
        ts: Timestamp(T0 + 5),
        product: Product::Mis,
        charges: Money(321),
    }
}

fn position(net: i64, ts: i64) -> PositionSnapshot {
    PositionSnapshot {
        source_seq: ts as u64,
        ts: Timestamp(T0 + ts),
        account: AccountId(1),
        instrument: InstrumentId(3),
        product: Product::Mis,
        net_qty: net,
        avg_price: 150_000.0,
        realized: Money(0),
        unrealized: Money(net * 5),
    }
}

fn pnl(realized: i64) -> PnlSnapshot {
    PnlSnapshot {
        ts: Timestamp(T0 + 9),
        account: AccountId(1),
        realized: Money(realized),
        unrealized: Money(50),
        charges: Money(321),
    }
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn subscribers_receive_every_kind_on_its_channel() {
    let Some(fresh) = Fresh::new() else { return };
    let s = setup();
    let names = fresh.names();
    let account = s.accounts[1].name.clone();
    let symbol = s.instruments[3].symbol.clone();

    let mut sub_con = redis::Client::open(fresh.url.as_str()).unwrap().get_connection().unwrap();
    let mut sub = sub_con.as_pubsub();
    for k in [Kind::Ticks, Kind::Candles, Kind::Orders, Kind::Fills, Kind::Positions, Kind::Pnl] {
        sub.subscribe(names.channel(k)).unwrap();
    }
    sub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    let p = RedisPublisher::start(fresh.opts(), &s).unwrap();
    let tick = Tick { instrument: InstrumentId(3), ts: Timestamp(T0), price: Price(150_005), qty: Qty(25) };
    let mut candle =
        Candle::flat(InstrumentId(3), BarSpec::M1, Timestamp(T0), Timestamp(T0 + 60_000_000_000), Price(150_000), 0);
    candle.high = Price(150_100);
    candle.volume = Qty(25);
    candle.trades = 1;
    for ev in [
        RedisEvent::Tick(tick),
        RedisEvent::Candle(candle),
        RedisEvent::Order(order()),
        RedisEvent::Fill(fill()),
        RedisEvent::Position(position(4, 6)),
        RedisEvent::Pnl(pnl(100)),
    ] {
        assert!(p.try_publish(ev));
    }
    let mut got = std::collections::HashMap::new();
    for _ in 0..6 {
        let m = sub.get_message().expect("a message within 5 s");
        let v: Value = serde_json::from_str(&m.get_payload::<String>().unwrap()).unwrap();
        got.insert(m.get_channel_name().to_string(), v);
    }
    let t = &got[&names.channel(Kind::Ticks)];
    assert_eq!(
        (t["symbol"].as_str(), t["price_paise"].as_i64(), t["qty"].as_u64()),
        (Some(symbol.as_str()), Some(150_005), Some(25))
    );
    let c = &got[&names.channel(Kind::Candles)];
    assert_eq!(
        (c["spec"].as_str(), c["high_paise"].as_i64(), c["start_ns"].as_i64()),
        (Some("1m"), Some(150_100), Some(T0))
    );
    let o = &got[&names.channel(Kind::Orders)];
    assert_eq!(o["account"].as_str(), Some(account.as_str()));
    assert_eq!(
        (o["status"].as_str(), o["type"].as_str(), o["filled_qty"].as_u64()),
        (Some("PARTIALLY_FILLED"), Some("LIMIT"), Some(4))
    );
    assert_eq!(o["avg_price_paise"].as_f64(), Some(150_000.0));
    assert!(o["reject_reason"].is_null());
    let f = &got[&names.channel(Kind::Fills)];
    assert_eq!(
        (f["fill_id"].as_u64(), f["charges_paise"].as_i64(), f["side"].as_str()),
        (Some(9), Some(321), Some("BUY"))
    );
    let pos = &got[&names.channel(Kind::Positions)];
    assert_eq!((pos["net_qty"].as_i64(), pos["product"].as_str()), (Some(4), Some("MIS")));
    let pl = &got[&names.channel(Kind::Pnl)];
    assert_eq!(pl["net_paise"].as_i64(), Some(100 + 50 - 321));

    // The same messages are in the streams, under field `data`.
    assert!(p.flush(Duration::from_secs(5)));
    let mut con = redis::Client::open(fresh.url.as_str()).unwrap().get_connection().unwrap();
    for k in [Kind::Ticks, Kind::Candles, Kind::Orders, Kind::Fills, Kind::Positions] {
        let len: usize = redis::cmd("XLEN").arg(names.stream(k)).query(&mut con).unwrap();
        assert_eq!(len, 1, "{}", names.stream(k));
    }
    let st = p.stop();
    assert_eq!((st.submitted, st.published, st.dropped, st.discarded), (6, 6, 0, 0));
    assert!(st.connected && st.outage_secs == 0.0 && st.reconnects == 0, "{st:?}");
}

#[test]
fn streams_are_capped() {
    let Some(fresh) = Fresh::new() else { return };
    let s = setup();
    let p = RedisPublisher::start(RedisOptions { stream_maxlen: 200, ..fresh.opts() }, &s).unwrap();
    for i in 0..5_000 {
        let tick = Tick { instrument: InstrumentId(0), ts: Timestamp(T0 + i), price: Price(100_000 + i), qty: Qty(1) };
        while !p.try_publish(RedisEvent::Tick(tick)) {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    assert!(p.flush(Duration::from_secs(10)));
    let st = p.stop();
    assert_eq!(st.published, 5_000);
    let mut con = redis::Client::open(fresh.url.as_str()).unwrap().get_connection().unwrap();
    let len: usize = redis::cmd("XLEN").arg(fresh.names().stream(Kind::Ticks)).query(&mut con).unwrap();
    // `MAXLEN ~` trims whole radix-tree nodes (100 entries by default), so a little over 200.
    assert!((200..=400).contains(&len), "stream length {len}");
}

#[test]
fn keys_hold_the_latest_position_and_pnl() {
    let Some(fresh) = Fresh::new() else { return };
    let s = setup();
    let names = fresh.names();
    let account = &s.accounts[1].name;
    let field = RedisNames::position_field(&s.instruments[3].symbol, Product::Mis);
    let p = RedisPublisher::start(fresh.opts(), &s).unwrap();
    for (net, ts) in [(4, 1), (10, 2), (-3, 3)] {
        assert!(p.try_publish(RedisEvent::Position(position(net, ts))));
    }
    assert!(p.try_publish(RedisEvent::Pnl(pnl(100))));
    assert!(p.try_publish(RedisEvent::Pnl(pnl(700))));
    assert!(p.flush(Duration::from_secs(5)));
    let mut con = redis::Client::open(fresh.url.as_str()).unwrap().get_connection().unwrap();
    let raw: String = con.hget(names.positions_key(account), &field).unwrap();
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!((v["net_qty"].as_i64(), v["unrealized_paise"].as_i64()), (Some(-3), Some(-15)));
    let realized: i64 = con.hget(names.pnl_key(account), "realized_paise").unwrap();
    let net: i64 = con.hget(names.pnl_key(account), "net_paise").unwrap();
    assert_eq!((realized, net), (700, 700 + 50 - 321));
    p.stop();
}

#[test]
fn wrong_port_the_publisher_goes_on_and_reports_the_outage() {
    let Some(fresh) = Fresh::new() else { return };
    let s = setup();
    // A port nobody listens on, and privileged: never handed out as an ephemeral port, so no
    // other test's server can be there.
    let opts = RedisOptions {
        url: "redis://127.0.0.1:9/".to_string(),
        max_backoff: Duration::from_millis(200),
        ..fresh.opts()
    };
    let p = RedisPublisher::start(opts, &s).unwrap();
    let t = Instant::now();
    for i in 0..10_000 {
        let tick = Tick { instrument: InstrumentId(0), ts: Timestamp(T0 + i), price: Price(100_000), qty: Qty(1) };
        p.try_publish(RedisEvent::Tick(tick));
    }
    assert!(t.elapsed() < Duration::from_secs(2), "publishing never waits for Redis: {:?}", t.elapsed());
    wait_for("a few reconnect attempts", Duration::from_secs(10), || p.stats().connect_failures >= 3);
    let st = p.stop();
    assert!(!st.connected, "{st:?}");
    assert!(st.outage_secs > 0.1 && st.outages == 1, "{st:?}");
    assert_eq!(st.published, 0);
    assert_eq!(st.submitted + st.dropped, 10_000);
    assert_eq!(st.discarded, st.submitted, "drained while down: {st:?}");
    assert!(!st.last_error.is_empty());
}

#[test]
fn redis_outage_mid_run_reconnects_and_restores_the_keys() {
    let Some(fresh) = Fresh::new() else { return };
    let s = setup();
    let names = fresh.names();
    let account = &s.accounts[1].name;
    let field = RedisNames::position_field(&s.instruments[3].symbol, Product::Mis);
    let proxy = FaultProxy::start(format!("127.0.0.1:{}", fresh.port()).parse().unwrap()).unwrap();
    let opts = RedisOptions {
        url: format!("redis://127.0.0.1:{}/", proxy.port()),
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..fresh.opts()
    };
    let p = RedisPublisher::start(opts, &s).unwrap();
    assert!(p.try_publish(RedisEvent::Position(position(4, 1))));
    assert!(p.flush(Duration::from_secs(5)));
    assert!(p.stats().connected);

    proxy.set_up(false);
    // Keep publishing through the outage; the last position must be in Redis afterwards.
    let t = Instant::now();
    let mut n = 0;
    while t.elapsed() < Duration::from_millis(600) {
        n += 1;
        assert!(p.try_publish(RedisEvent::Position(position(n, 1 + n))));
        std::thread::sleep(Duration::from_millis(2));
    }
    let during = p.stats();
    assert!(!during.connected && during.errors + during.connect_failures > 0, "{during:?}");
    assert!(during.discarded > 0, "{during:?}");

    proxy.set_up(true);
    wait_for("the reconnect", Duration::from_secs(10), || p.stats().connected);
    std::thread::sleep(Duration::from_millis(100));
    let mut con = redis::Client::open(fresh.url.as_str()).unwrap().get_connection().unwrap();
    let raw: String = con.hget(names.positions_key(account), &field).unwrap();
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["net_qty"].as_i64(), Some(n), "the key holds the last position published during the outage");
    let st = p.stop();
    assert!(st.reconnects >= 1 && st.outages == 1, "{st:?}");
    assert!(st.outage_secs >= 0.5 && st.outage_secs < 10.0, "{st:?}");
    println!("redis outage: {st:?}");
}
