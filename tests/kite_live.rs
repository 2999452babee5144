//! A live account trading through the real Kite gateway against the fake Kite server: orders
//! placed, filled, rested and cancelled, refused by the broker's risk system, refused after
//! the token expires (and not sent); every fill booked once; the engine's position equal to
//! the broker's; and the session's inputs, as the journal holds them, replayed into a fresh
//! engine give the same orders and fills.

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use dalal_brokers::fake::kite::{FakeKite, FakeUser};
use dalal_brokers::gateway::kite::{spawn, KiteGatewayConfig, KiteSymbol};
use dalal_brokers::gateway::{code, BrokerTap, GatewayHandle, Session, SessionHealth, WallClock};
use dalal_brokers::kite::KiteClient;
use dalal_brokers::Secret;
use dalal_config::{Config, WaitKind};
use dalal_core::engine::placement::{Launch, PlacementConfig};
use dalal_core::engine::stats::LiveStats;
use dalal_core::engine::Engine;
use dalal_core::model::*;

mod live;
use live::{intent, notices, status, Journal, Seen, Watch};

const CONFIG: &str = r#"
[[instruments]]
symbol = "RELIANCE"
segment = "NSE_EQ"
tick_size = 0.05
lot_size = 1
ref_price = 1400.0

[risk]
enforce_session = false
mis_square_off = ""

[[brokers]]
name = "zerodha"
kind = "kite"
root = "ROOT"

[[accounts]]
name = "alice"
broker = "zerodha"
mode = "live"
[accounts.limits]
max_order_qty = 1000
max_order_value = 10000000.0
max_position_qty = 10000
"#;

#[test]
fn a_live_kite_account_trades_reconciles_and_replays() {
    let fake = FakeKite::start_in_background().expect("fake Kite starts");
    fake.add_user(FakeUser::new("AB1234", "kitekey", "kitesecret"));
    fake.set_instrument("NSE", "RELIANCE", 738_561, 1400.0);
    fake.set_auto_fill(true);
    let token = fake.issue_access_token("kitekey").expect("token");

    let config: Config = toml::from_str(&CONFIG.replace("ROOT", &fake.root())).expect("config");
    let setup = config.validate().expect("valid");
    assert_eq!(setup.accounts[0].route, Route::Live(VenueId(0)));
    let broker = &config.brokers[0];
    let client = KiteClient::new(broker.root(), "kitekey", Some(Secret::new(token.clone())), Duration::from_secs(5))
        .expect("client");
    let symbols = setup.instruments.iter().map(|s| Some(KiteSymbol::of(s))).collect();
    let (reports_tx, reports_rx) = mpsc::channel();
    let gateway_config = KiteGatewayConfig {
        venue: VenueId(0),
        login: broker.name.clone(),
        orders_per_second: broker.orders_per_second(),
        poll_every: Duration::from_millis(20),
        idle_check: None,
        queue: 64,
        order_updates: None,
        clock: WallClock::system(),
    };
    let (handle, gateway) =
        spawn(gateway_config, client.clone(), symbols, reports_tx, Default::default()).expect("gateway");
    let session = handle.session.clone();
    let relogin = handle.clone();
    assert_eq!(session.status().health, SessionHealth::Healthy);
    let tap = BrokerTap::new(vec![Some(handle)], reports_rx);

    let engine = Engine::new(&setup, quanta::Clock::new(), 0);
    let cfg = PlacementConfig { wait: WaitKind::Sleep, ..PlacementConfig::default() };
    let watch = Watch::default();
    let journal = Journal::default();
    let live = Arc::new(LiveStats::new(1));
    let mut running = Launch::new(engine, &cfg, watch.clone(), live)
        .journal(Box::new(journal.clone()))
        .egress_tap(Box::new(tap))
        .start()
        .expect("engine starts");

    let t0 = 1_795_146_300 * 1_000_000_000i64;
    let tick = Tick { instrument: InstrumentId(0), ts: Timestamp(t0), price: Price(140_000), qty: Qty(5) };
    running.publish(Input::Tick(tick));

    // 1. A market buy: acknowledged with Kite's id, filled at the broker's price, booked once.
    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 10, OrderType::Market, 0) }));
    watch.until("the market order to fill", |s| s.fills.iter().map(|f| f.qty.0).sum::<u64>() == 10);
    let first = watch.last(1).expect("order 1");
    assert_eq!(first.status, OrderStatus::Filled);
    assert!(!first.venue_order.is_empty(), "Kite's order id is attached");

    // 2. A limit buy far below the market rests at Kite; the cancel goes through Kite and
    // comes back from its book.
    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 3, OrderType::Limit, 139_000) }));
    watch.until("the limit order to be acknowledged", |s| status(s, 2) == Some(OrderStatus::Open));
    running.publish(Input::Command(Command::Cancel { account: AccountId(0), order: OrderId(2) }));
    watch.until("the cancel", |s| status(s, 2) == Some(OrderStatus::Cancelled));

    // 3. A partial fill by the exchange, then the rest.
    running.publish(Input::Command(Command::Place { intent: intent(Side::Sell, 4, OrderType::Limit, 141_000) }));
    watch.until("the sell to rest", |s| status(s, 3) == Some(OrderStatus::Open));
    let kite_id = watch.last(3).map(|o| o.venue_order.to_string()).unwrap_or_default();
    fake.fill(&kite_id, 1, 1410.0).expect("partial fill");
    watch.until("the partial fill", |s| s.fills.iter().any(|f| f.order == OrderId(3)));
    fake.fill(&kite_id, 3, 1410.5).expect("the rest");
    watch.until("the sell to complete", |s| status(s, 3) == Some(OrderStatus::Filled));

    // 4. Refused by the broker's risk system: rejected with Kite's own words.
    fake.reject_next_order("RMS:Margin Exceeds");
    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 5, OrderType::Market, 0) }));
    watch.until("the RMS refusal", |s| status(s, 4) == Some(OrderStatus::Rejected));
    watch.until("its notice", |s| s.notices.iter().any(|r| r.order == OrderId(4)));

    // 5. The token expires mid-session: the next order is refused by Kite (403) and the
    // session is marked expired; the one after is refused without being sent.
    assert!(fake.expire_token(&token));
    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 1, OrderType::Market, 0) }));
    watch.until("the refusal of an expired token", |s| status(s, 5) == Some(OrderStatus::Rejected));
    assert_eq!(session.status().health, SessionHealth::Expired);
    let sent_before = fake.requests().len();
    // (Another size: risk refuses an exact repeat as a duplicate.)
    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 2, OrderType::Market, 0) }));
    watch.until("the refusal without sending", |s| status(s, 6) == Some(OrderStatus::Rejected));
    assert_eq!(fake.requests().len(), sent_before, "nothing is sent on an expired session");
    let codes: Vec<(u64, u16)> = notices(&watch)
        .iter()
        .filter_map(|r| match r.kind {
            ReportKind::Rejected { code, .. } => Some((r.order.0, code)),
            _ => None,
        })
        .collect();
    assert!(codes.contains(&(5, code::of(dalal_brokers::BrokerErrorKind::SessionExpired))), "{codes:?}");
    assert!(codes.contains(&(6, code::SESSION_EXPIRED_NOT_SENT)), "{codes:?}");

    // 6. A new login: the session is healthy again and orders go through.
    let renewed = fake.issue_access_token("kitekey").expect("a new token");
    assert!(relogin.relogin(Secret::new(renewed)));
    let deadline = Instant::now() + Duration::from_secs(30);
    while session.status().health != SessionHealth::Healthy {
        assert!(Instant::now() < deadline, "the session did not come back");
        std::thread::sleep(Duration::from_millis(5));
    }
    running.publish(Input::Command(Command::Place { intent: intent(Side::Sell, 6, OrderType::Market, 0) }));
    watch.until("the order after the new login to fill", |s| status(s, 7) == Some(OrderStatus::Filled));

    let stopped = running.stop();
    drop(stopped.tap);
    drop(relogin);
    gateway.join().expect("gateway thread ends");

    // Every fill booked once, and the engine's position is the broker's.
    let seen = watch.0.lock().unwrap_or_else(|e| e.into_inner());
    let mut ids: Vec<_> = seen.fills.iter().map(|f| (f.order, f.price, f.qty)).collect();
    ids.dedup();
    assert_eq!(ids.len(), seen.fills.len());
    let net: i64 =
        seen.fills.iter().map(|f| if f.side == Side::Buy { f.qty.0 as i64 } else { -(f.qty.0 as i64) }).sum();
    assert_eq!(net, 0, "bought 10, sold 4, sold 6 after the new login");
    let fresh = fake.issue_access_token("kitekey").expect("token");
    let mut reader = client.clone();
    reader.set_access_token(Some(Secret::new(fresh)));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let positions = rt.block_on(reader.positions()).expect("positions");
    let broker_net: i64 = positions.net.iter().filter(|p| p.tradingsymbol == "RELIANCE").map(|p| p.quantity).sum();
    assert_eq!(broker_net, net, "the engine's position reconciles with the broker's");

    // The journal alone replays the session: same orders, same fills.
    let inputs = journal.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut replay = Engine::new(&setup, quanta::Clock::new(), 0);
    let (mut orders, mut fills) = (Vec::new(), Vec::new());
    for ev in &inputs {
        replay.step(ev, &mut |e| match e {
            EgressEvent::Order { order, .. } => orders.push(order),
            EgressEvent::Fill(f) => fills.push(f),
            _ => {}
        });
    }
    assert_eq!(fills, seen.fills);
    assert_eq!(orders, seen.orders);
}

/// With order updates on the ticker socket, the gateway learns of fills and cancellations as
/// Kite pushes them: here the order book is read only once after each request (the timer is an
/// hour), so everything after that comes from the updates. An update for an order placed
/// outside Dalal is counted and changes nothing; one that repeats what is known changes nothing.
/// One live account's engine joined to a real Kite gateway on the fake server.
struct Live {
    running: dalal_core::engine::placement::Running<Watch>,
    watch: Watch,
    session: Arc<Session>,
    handle: GatewayHandle,
    gateway: std::thread::JoinHandle<()>,
    client: KiteClient,
}

impl Live {
    fn start(fake: &FakeKite, api_key: &str, poll_every: Duration, order_updates: bool, clock: WallClock) -> Live {
        let token = fake.issue_access_token(api_key).expect("token");
        let config: Config = toml::from_str(&CONFIG.replace("ROOT", &fake.root())).expect("config");
        let setup = config.validate().expect("valid");
        let client =
            KiteClient::new(&fake.root(), api_key, Some(Secret::new(token)), Duration::from_secs(5)).expect("client");
        let symbols = setup.instruments.iter().map(|s| Some(KiteSymbol::of(s))).collect();
        let (reports_tx, reports_rx) = mpsc::channel();
        let gateway_config = KiteGatewayConfig {
            venue: VenueId(0),
            login: "zerodha".into(),
            orders_per_second: 10,
            poll_every,
            idle_check: None,
            queue: 64,
            order_updates: order_updates.then(|| fake.ws_root()),
            clock,
        };
        let (handle, gateway) =
            spawn(gateway_config, client.clone(), symbols, reports_tx, Default::default()).expect("gateway");
        let session = handle.session.clone();
        let tap = BrokerTap::new(vec![Some(handle.clone())], reports_rx);
        let cfg = PlacementConfig { wait: WaitKind::Sleep, ..PlacementConfig::default() };
        let watch = Watch::default();
        let engine = Engine::new(&setup, quanta::Clock::new(), 0);
        let mut running = Launch::new(engine, &cfg, watch.clone(), Arc::new(LiveStats::new(1)))
            .egress_tap(Box::new(tap))
            .start()
            .expect("engine starts");
        let t0 = 1_795_146_300 * 1_000_000_000i64;
        let tick = Tick { instrument: InstrumentId(0), ts: Timestamp(t0), price: Price(140_000), qty: Qty(5) };
        running.publish(Input::Tick(tick));
        Live { running, watch, session, handle, gateway, client }
    }

    fn place(&mut self, side: Side, qty: u64, order_type: OrderType, price: i64) {
        self.running.publish(Input::Command(Command::Place { intent: intent(side, qty, order_type, price) }));
    }

    /// Stops the engine, then the gateway (once its queue's last sender is gone).
    fn stop(self) -> Watch {
        let stopped = self.running.stop();
        drop(stopped.tap);
        drop(self.handle);
        self.gateway.join().expect("gateway thread ends");
        self.watch
    }
}

/// Waits (up to a generous deadline) until `done` holds.
fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// With order updates on the ticker socket, the gateway learns of fills and cancellations as
/// Kite pushes them: here the order book is read only once after each request (the timer is an
/// hour), so everything after that comes from the updates. An update for an order placed
/// outside Dalal is counted and changes nothing; one that repeats what is known changes nothing.
#[test]
fn order_updates_on_the_ticker_bring_fills_and_cancels_without_reading_the_book() {
    let fake = FakeKite::start_in_background().expect("fake Kite starts");
    fake.add_user(FakeUser::new("AB1235", "updkey", "updsecret"));
    fake.set_instrument("NSE", "RELIANCE", 738_561, 1400.0);
    let mut live = Live::start(&fake, "updkey", Duration::from_secs(3600), true, WallClock::system());
    until("the gateway's ticker connection", || fake.ticker_handshakes().open == 1);
    assert!(fake.ticker_subscriptions().is_empty(), "a connection for order updates subscribes to nothing");
    let book_reads = || fake.requests().iter().filter(|r| r.method == "GET" && r.path == "/orders").count();

    // Two resting limit orders; the book is read once after each place.
    live.place(Side::Buy, 4, OrderType::Limit, 139_000);
    live.watch.until("the first order to rest", |s| status(s, 1) == Some(OrderStatus::Open));
    until("the book read after the first place", || book_reads() >= 1);
    live.place(Side::Buy, 2, OrderType::Limit, 138_000);
    live.watch.until("the second order to rest", |s| status(s, 2) == Some(OrderStatus::Open));
    until("the book read after the second place", || book_reads() >= 2);
    let reads = book_reads();
    let watch = live.watch.clone();
    let kite = |id: u64| watch.last(id).map(|o| o.venue_order.to_string()).unwrap_or_default();
    fake.ticker_push_order_updates(); // the two placements: nothing new.

    // A partial fill, the rest, and a cancel, each pushed as Kite pushes it.
    fake.fill(&kite(1), 1, 1390.0).expect("partial");
    fake.ticker_push_order_updates();
    watch.until("the partial fill", |s| s.fills.iter().map(|f| f.qty.0).sum::<u64>() == 1);
    fake.fill(&kite(1), 3, 1389.5).expect("the rest");
    fake.ticker_push_order_updates();
    watch.until("the first order to fill", |s| status(s, 1) == Some(OrderStatus::Filled));
    fake.cancel(&kite(2)).expect("exchange cancel");
    fake.ticker_push_order_updates();
    watch.until("the exchange's cancel", |s| status(s, 2) == Some(OrderStatus::Cancelled));
    assert_eq!(book_reads(), reads, "fills and the cancel came from the ticker, not the book");

    // An order placed outside Dalal: its update is counted, not managed.
    use dalal_brokers::kite::params::{OrderType as KOrderType, PlaceOrder, Product, TransactionType, Variety};
    let outside = PlaceOrder {
        variety: Variety::Regular,
        exchange: "NSE".into(),
        tradingsymbol: "RELIANCE".into(),
        transaction_type: TransactionType::Buy,
        quantity: 1,
        product: Product::Cnc,
        order_type: KOrderType::Limit,
        price: Some(1300.0),
        trigger_price: None,
        validity: None,
        disclosed_quantity: None,
        tag: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(live.client.place_order(&outside)).expect("an order from another app");
    let before = live.session.status().order_updates_untracked;
    fake.ticker_push_order_updates();
    until("the outside order's update to be counted", || live.session.status().order_updates_untracked > before);

    let session = live.session.clone();
    let watch = live.stop();
    let seen = watch.0.lock().unwrap_or_else(|e| e.into_inner());
    let filled: Vec<(u64, i64)> = seen.fills.iter().map(|f| (f.qty.0, f.price.0)).collect();
    assert_eq!(filled, vec![(1, 139_000), (3, 138_950)], "each fill once, at Kite's prices");
    assert!(seen.orders.iter().all(|o| o.id.0 <= 2), "the outside order is not Dalal's");
    assert!(session.status().order_updates >= 4);
}

/// Kite's tokens expire at 06:00 IST. On a clock the test sets: healthy at 05:00, warned at
/// 05:45 (`expires_soon`), expired at 06:00 without any request, orders then refused without
/// being sent, and a new login good until the next day's 06:00.
#[test]
fn a_token_expires_at_six_in_the_morning_ist_and_a_new_login_brings_it_back() {
    const HOUR: i64 = 3600 * 1_000_000_000;
    // 2026-12-03 05:00 IST = 2026-12-02 23:30 UTC.
    let five_am = Timestamp(1_796_254_200 * 1_000_000_000);
    let six_am = Timestamp(five_am.0 + HOUR);
    assert_eq!(dalal_brokers::gateway::session::kite_token_expiry(five_am), six_am);
    let fake = FakeKite::start_in_background().expect("fake Kite starts");
    fake.add_user(FakeUser::new("AB1236", "expkey", "expsecret"));
    fake.set_instrument("NSE", "RELIANCE", 738_561, 1400.0);
    fake.set_auto_fill(true);
    let clock = WallClock::manual(five_am);
    let mut live = Live::start(&fake, "expkey", Duration::from_millis(10), false, clock.clone());
    let session = live.session.clone();
    let status = || session.status();
    assert_eq!(status().health, SessionHealth::Healthy);
    assert_eq!(status().token_expiry_ns, six_am.0);
    assert!(!status().expires_soon);

    clock.set(Timestamp(five_am.0 + 3 * HOUR / 4));
    until("the warning before expiry", || status().expires_soon);
    assert_eq!(status().health, SessionHealth::Healthy);
    live.place(Side::Buy, 2, OrderType::Market, 0);
    live.watch.until("an order before expiry to fill", |s| status_of(s, 1) == Some(OrderStatus::Filled));

    clock.set(Timestamp(six_am.0 + 1));
    until("the session to expire by the clock alone", || status().health == SessionHealth::Expired);
    let sent = fake.requests().len();
    live.place(Side::Buy, 3, OrderType::Market, 0);
    live.watch.until("the refusal", |s| status_of(s, 2) == Some(OrderStatus::Rejected));
    assert_eq!(fake.requests().len(), sent, "nothing is sent after expiry");
    let refused = notices(&live.watch).iter().any(|r| {
        r.order == OrderId(2)
            && matches!(r.kind, ReportKind::Rejected { code, .. } if code == code::SESSION_EXPIRED_NOT_SENT)
    });
    assert!(refused, "refused with its own reason");
    assert_eq!(status().refused_expired, 1);

    let renewed = fake.issue_access_token("expkey").expect("a new token");
    assert!(live.handle.relogin(Secret::new(renewed)));
    until("the new login", || status().health == SessionHealth::Healthy);
    assert_eq!(status().token_expiry_ns, six_am.0 + 24 * HOUR, "good until the next day's 06:00");
    live.place(Side::Sell, 2, OrderType::Market, 0);
    live.watch.until("an order after the new login to fill", |s| status_of(s, 3) == Some(OrderStatus::Filled));
    live.stop();
}

fn status_of(s: &Seen, id: u64) -> Option<OrderStatus> {
    status(s, id)
}
