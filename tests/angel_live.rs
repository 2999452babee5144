//! A live account trading through the real Angel One gateway against the fake SmartAPI
//! server: orders placed (with Angel's order id attached), filled, rested and cancelled, filled
//! in parts, refused by Angel's RMS after acceptance; a session that Angel stops honouring is
//! started again by the gateway itself with the MPIN and a TOTP code, and trading goes on; every
//! fill booked once; the engine's position equal to Angel's; and the journal replays the session.

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use dalal_brokers::angel::model::Tokens;
use dalal_brokers::angel::{AngelClient, Identity};
use dalal_brokers::fake::angel::{FakeAngel, FakeAngelUser};
use dalal_brokers::gateway::angel::{spawn, AngelCredentials, AngelSymbol};
use dalal_brokers::gateway::broker::GatewayConfig;
use dalal_brokers::gateway::{code, BrokerTap, SessionHealth, WallClock};
use dalal_brokers::{totp, Secret};
use dalal_config::{Config, WaitKind};
use dalal_core::engine::placement::{Launch, PlacementConfig};
use dalal_core::engine::stats::LiveStats;
use dalal_core::engine::Engine;
use dalal_core::model::*;

mod live;
use live::{intent, notices, status, Journal, Watch};

const CONFIG: &str = r#"
[[instruments]]
symbol = "SBIN"
segment = "NSE_EQ"
tick_size = 0.05
lot_size = 1
ref_price = 800.0
tokens = { angel = 3045 }

[risk]
enforce_session = false
mis_square_off = ""

[[brokers]]
name = "angelone"
kind = "angel"
root = "ROOT"

[[accounts]]
name = "bob"
broker = "angelone"
mode = "live"
[accounts.limits]
max_order_qty = 1000
max_order_value = 10000000.0
max_position_qty = 10000
"#;

const API_KEY: &str = "angelkey7Qx2";
const CLIENT: &str = "A123456";
const MPIN: &str = "4321";
const SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

#[test]
fn a_live_angel_account_trades_logs_in_again_by_itself_and_replays() {
    let fake = FakeAngel::start_in_background().expect("fake Angel One starts");
    fake.add_user(FakeAngelUser::new(CLIENT, MPIN, SEED, API_KEY));
    fake.set_instrument("NSE", "SBIN-EQ", "3045", 800.0);
    fake.set_auto_fill(true);

    let config: Config = toml::from_str(&CONFIG.replace("ROOT", &fake.root())).expect("config");
    let setup = config.validate().expect("valid");
    assert_eq!(setup.accounts[0].route, Route::Live(VenueId(0)));
    let broker = &config.brokers[0];
    let mut client =
        AngelClient::new(broker.root(), API_KEY, CLIENT, &Identity::default(), Duration::from_secs(5)).expect("client");
    // Started logged in, as after `dalal broker login`.
    let session_tokens = fake.issue_session(CLIENT).expect("a session");
    client.set_tokens(Some(Tokens {
        jwt: Secret::new(session_tokens.jwt_token.clone()),
        refresh: Secret::new(session_tokens.refresh_token.clone()),
        feed: Secret::new(session_tokens.feed_token.clone()),
        state: String::new(),
    }));
    let symbols: Vec<_> = setup
        .instruments
        .iter()
        .zip(&config.instruments)
        .map(|(s, c)| AngelSymbol::of(s, c.tokens.get("angel").copied()))
        .collect();
    assert_eq!(symbols[0].as_ref().map(|s| s.tradingsymbol.as_str()), Some("SBIN-EQ"));
    let credentials = AngelCredentials { mpin: Secret::new(MPIN), totp_seed: Secret::new(SEED) };
    let (reports_tx, reports_rx) = mpsc::channel();
    let gateway_config = GatewayConfig {
        venue: VenueId(0),
        login: broker.name.clone(),
        orders_per_second: broker.orders_per_second(),
        poll_every: Duration::from_millis(20),
        idle_check: None,
        queue: 64,
        order_updates: false,
        clock: WallClock::system(),
    };
    let (handle, gateway) = spawn(
        gateway_config,
        client.clone(),
        Some(credentials),
        symbols,
        fake.order_ws_root(),
        reports_tx,
        Default::default(),
    )
    .expect("gateway");
    let session = handle.session.clone();
    assert_eq!((session.status().health, session.status().broker), (SessionHealth::Healthy, "angel"));
    let tap = BrokerTap::new(vec![Some(handle)], reports_rx);

    let engine = Engine::new(&setup, quanta::Clock::new(), 0);
    let cfg = PlacementConfig { wait: WaitKind::Sleep, ..PlacementConfig::default() };
    let watch = Watch::default();
    let journal = Journal::default();
    let mut running = Launch::new(engine, &cfg, watch.clone(), Arc::new(LiveStats::new(1)))
        .journal(Box::new(journal.clone()))
        .egress_tap(Box::new(tap))
        .start()
        .expect("engine starts");

    let t0 = 1_795_146_300 * 1_000_000_000i64;
    let tick = Tick { instrument: InstrumentId(0), ts: Timestamp(t0), price: Price(80_000), qty: Qty(5) };
    running.publish(Input::Tick(tick));

    // 1. A market buy: acknowledged with Angel's 15-digit id, filled, booked once.
    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 10, OrderType::Market, 0) }));
    watch.until("the market order to fill", |s| s.fills.iter().map(|f| f.qty.0).sum::<u64>() == 10);
    let first = watch.last(1).expect("order 1");
    assert_eq!((first.status, first.venue_order.to_string().len()), (OrderStatus::Filled, 15));
    let placed = fake.requests().into_iter().find(|r| r.path.ends_with("placeOrder")).and_then(|r| r.body);
    let placed = placed.expect("the place request");
    assert_eq!(
        (placed["tradingsymbol"].as_str(), placed["symboltoken"].as_str(), placed["ordertag"].as_str()),
        (Some("SBIN-EQ"), Some("3045"), Some("D1"))
    );

    // 2. A limit buy far below the market rests; the cancel goes through Angel and comes back
    // from its book.
    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 3, OrderType::Limit, 79_000) }));
    watch.until("the limit order to rest", |s| status(s, 2) == Some(OrderStatus::Open));
    running.publish(Input::Command(Command::Cancel { account: AccountId(0), order: OrderId(2) }));
    watch.until("the cancel", |s| status(s, 2) == Some(OrderStatus::Cancelled));

    // 3. A partial fill, then the rest.
    running.publish(Input::Command(Command::Place { intent: intent(Side::Sell, 4, OrderType::Limit, 81_000) }));
    watch.until("the sell to rest", |s| status(s, 3) == Some(OrderStatus::Open));
    let angel_id = watch.last(3).map(|o| o.venue_order.to_string()).unwrap_or_default();
    fake.fill(&angel_id, 1, 810.0).expect("partial fill");
    watch.until("the partial fill", |s| s.fills.iter().any(|f| f.order == OrderId(3)));
    fake.fill(&angel_id, 3, 810.5).expect("the rest");
    watch.until("the sell to complete", |s| status(s, 3) == Some(OrderStatus::Filled));

    // 4. Refused by Angel's RMS after acceptance: rejected with Angel's own words.
    fake.reject_next_order("RMS:Margin Exceeds,Required:4000.00, Available:10.00");
    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 5, OrderType::Market, 0) }));
    watch.until("the RMS refusal", |s| status(s, 4) == Some(OrderStatus::Rejected));
    let rms = notices(&watch).into_iter().find(|r| r.order == OrderId(4)).expect("its notice");
    match rms.kind {
        ReportKind::Rejected { code: c, reason } => {
            assert_eq!(c, code::of(dalal_brokers::BrokerErrorKind::Order));
            assert!(reason.as_str().contains("Margin Exceeds"), "{}", reason.as_str());
        }
        other => panic!("expected a rejection, got {other:?}"),
    }

    // 5. Angel stops honouring the JWT: the order is refused (AG8002), and the gateway logs in
    // again by itself with the MPIN and a TOTP code; the next order goes through.
    let logins_before = fake.logins();
    assert!(fake.expire_token(&session_tokens.jwt_token));
    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 1, OrderType::Market, 0) }));
    watch.until("the refusal of an expired session", |s| status(s, 5) == Some(OrderStatus::Rejected));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(session.status().health == SessionHealth::Healthy && fake.logins() > logins_before) {
        assert!(Instant::now() < deadline, "the gateway did not log in again: {:?}", session.status());
        std::thread::sleep(Duration::from_millis(5));
    }
    running.publish(Input::Command(Command::Place { intent: intent(Side::Sell, 6, OrderType::Market, 0) }));
    watch.until("the order after the unattended login to fill", |s| status(s, 6) == Some(OrderStatus::Filled));
    let codes: Vec<(u64, u16)> = notices(&watch)
        .iter()
        .filter_map(|r| match r.kind {
            ReportKind::Rejected { code, .. } => Some((r.order.0, code)),
            _ => None,
        })
        .collect();
    assert!(codes.contains(&(5, code::of(dalal_brokers::BrokerErrorKind::SessionExpired))), "{codes:?}");
    let login = fake.requests().into_iter().rev().find(|r| r.path.ends_with("loginByPassword"));
    let login = login.and_then(|r| r.body).expect("the unattended login's body");
    assert_eq!(login["clientcode"], CLIENT);
    let code_sent = login["totp"].as_str().unwrap_or_default().to_string();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    // The code of the moment of the login: within the last two minutes (the test waits 30 s
    // at most for it), by the seed.
    let recent: Vec<String> = (0..=4)
        .map(|k| totp::code_at(&Secret::new(SEED), now.saturating_sub(30 * k)).expect("code").expose().to_string())
        .collect();
    assert!(recent.contains(&code_sent), "{code_sent:?} is not a recent code of the seed");

    let stopped = running.stop();
    drop(stopped.tap);
    gateway.join().expect("gateway thread ends");

    // Every fill booked once, and the engine's position is Angel's.
    let seen = watch.0.lock().unwrap_or_else(|e| e.into_inner());
    let mut ids: Vec<_> = seen.fills.iter().map(|f| (f.order, f.price, f.qty)).collect();
    ids.dedup();
    assert_eq!(ids.len(), seen.fills.len());
    let net: i64 =
        seen.fills.iter().map(|f| if f.side == Side::Buy { f.qty.0 as i64 } else { -(f.qty.0 as i64) }).sum();
    assert_eq!(net, 0, "bought 10, sold 4, sold 6 after the unattended login");
    let fresh = fake.issue_session(CLIENT).expect("a session");
    let mut reader = client.clone();
    reader.set_tokens(Some(Tokens {
        jwt: Secret::new(fresh.jwt_token),
        refresh: Secret::new(fresh.refresh_token),
        feed: Secret::new(fresh.feed_token),
        state: String::new(),
    }));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let positions = rt.block_on(reader.positions()).expect("positions");
    let broker_net: i64 = positions.iter().filter(|p| p.tradingsymbol == "SBIN-EQ").map(|p| p.netqty).sum();
    assert_eq!(broker_net, net, "the engine's position reconciles with Angel's");

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

/// With the order-update socket, the gateway learns of fills and cancellations as Angel pushes
/// them: the order book is read only after each request (the timer is an hour), so what
/// happens after that comes from the socket.
#[test]
fn order_updates_on_the_socket_bring_fills_and_cancels_without_reading_the_book() {
    let fake = FakeAngel::start_in_background().expect("fake Angel One starts");
    fake.add_user(FakeAngelUser::new(CLIENT, MPIN, SEED, API_KEY));
    fake.set_instrument("NSE", "SBIN-EQ", "3045", 800.0);
    let config: Config = toml::from_str(&CONFIG.replace("ROOT", &fake.root())).expect("config");
    let setup = config.validate().expect("valid");
    let mut client =
        AngelClient::new(&fake.root(), API_KEY, CLIENT, &Identity::default(), Duration::from_secs(5)).expect("client");
    let t = fake.issue_session(CLIENT).expect("a session");
    client.set_tokens(Some(Tokens {
        jwt: Secret::new(t.jwt_token),
        refresh: Secret::new(t.refresh_token),
        feed: Secret::new(t.feed_token),
        state: String::new(),
    }));
    let symbols = vec![AngelSymbol::of(&setup.instruments[0], Some(3045))];
    let (reports_tx, reports_rx) = mpsc::channel();
    let gateway_config = GatewayConfig {
        venue: VenueId(0),
        login: "angelone".into(),
        orders_per_second: 10,
        poll_every: Duration::from_secs(3600),
        idle_check: None,
        queue: 64,
        order_updates: true,
        clock: WallClock::system(),
    };
    let (handle, gateway) =
        spawn(gateway_config, client, None, symbols, fake.order_ws_root(), reports_tx, Default::default())
            .expect("gateway");
    let session = handle.session.clone();
    let tap = BrokerTap::new(vec![Some(handle)], reports_rx);
    let watch = Watch::default();
    let cfg = PlacementConfig { wait: WaitKind::Sleep, ..PlacementConfig::default() };
    let mut running =
        Launch::new(Engine::new(&setup, quanta::Clock::new(), 0), &cfg, watch.clone(), Arc::new(LiveStats::new(1)))
            .egress_tap(Box::new(tap))
            .start()
            .expect("engine starts");
    let tick = Tick {
        instrument: InstrumentId(0),
        ts: Timestamp(1_795_146_300_000_000_000),
        price: Price(80_000),
        qty: Qty(5),
    };
    running.publish(Input::Tick(tick));
    // The socket is up before the orders, so no update is missed (the greeting counts).
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.order_ws_handshakes().accepted == 0 {
        assert!(Instant::now() < deadline, "the gateway did not open the order-update socket");
        std::thread::sleep(Duration::from_millis(5));
    }

    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 4, OrderType::Limit, 79_900) }));
    watch.until("the order to rest", |s| status(s, 1) == Some(OrderStatus::Open));
    let angel_id = watch.last(1).map(|o| o.venue_order.to_string()).unwrap_or_default();
    let book_reads = || fake.requests().iter().filter(|r| r.path.ends_with("getOrderBook")).count();
    // The one read of the book owed after the place request.
    let deadline = Instant::now() + Duration::from_secs(30);
    while book_reads() == 0 {
        assert!(Instant::now() < deadline, "the book was not read after the place");
        std::thread::sleep(Duration::from_millis(5));
    }
    let reads = book_reads();
    fake.fill(&angel_id, 1, 799.0).expect("partial fill");
    watch.until("the pushed partial fill", |s| s.fills.iter().any(|f| f.order == OrderId(1)));
    fake.cancel(&angel_id).expect("an exchange-side cancel");
    watch.until("the pushed cancel", |s| status(s, 1) == Some(OrderStatus::Cancelled));
    assert_eq!(book_reads(), reads, "learnt from the socket, not the book");
    assert!(session.status().order_updates >= 2, "{:?}", session.status());

    drop(running.stop().tap);
    gateway.join().expect("gateway thread ends");
}

/// The daily schedule: an Angel One session ends at midnight IST by the clock alone, and the
/// gateway, holding the MPIN and TOTP seed, logs in again at once (no person, no request
/// needed), good until the next midnight; an order after midnight goes through.
#[test]
fn at_midnight_ist_the_session_ends_and_the_gateway_logs_in_again_by_itself() {
    const HOUR: i64 = 3600 * 1_000_000_000;
    // 2026-12-03 23:00 IST = 2026-12-03 17:30 UTC; midnight IST is an hour later.
    let eleven_pm = Timestamp(1_796_319_000 * 1_000_000_000);
    let midnight = Timestamp(eleven_pm.0 + HOUR);
    assert_eq!(dalal_brokers::gateway::angel::angel_token_expiry(eleven_pm), midnight);
    let fake = FakeAngel::start_in_background().expect("fake Angel One starts");
    fake.add_user(FakeAngelUser::new(CLIENT, MPIN, SEED, API_KEY));
    fake.set_instrument("NSE", "SBIN-EQ", "3045", 800.0);
    fake.set_auto_fill(true);
    let config: Config = toml::from_str(&CONFIG.replace("ROOT", &fake.root())).expect("config");
    let setup = config.validate().expect("valid");
    let mut client =
        AngelClient::new(&fake.root(), API_KEY, CLIENT, &Identity::default(), Duration::from_secs(5)).expect("client");
    let t = fake.issue_session(CLIENT).expect("a session");
    client.set_tokens(Some(Tokens {
        jwt: Secret::new(t.jwt_token),
        refresh: Secret::new(t.refresh_token),
        feed: Secret::new(t.feed_token),
        state: String::new(),
    }));
    let clock = WallClock::manual(eleven_pm);
    let (reports_tx, reports_rx) = mpsc::channel();
    let gateway_config = GatewayConfig {
        venue: VenueId(0),
        login: "angelone".into(),
        orders_per_second: 10,
        poll_every: Duration::from_millis(10),
        idle_check: None,
        queue: 64,
        order_updates: false,
        clock: clock.clone(),
    };
    let credentials = AngelCredentials { mpin: Secret::new(MPIN), totp_seed: Secret::new(SEED) };
    let symbols = vec![AngelSymbol::of(&setup.instruments[0], Some(3045))];
    let (handle, gateway) =
        spawn(gateway_config, client, Some(credentials), symbols, fake.order_ws_root(), reports_tx, Default::default())
            .expect("gateway");
    let session = handle.session.clone();
    assert_eq!((session.status().health, session.status().token_expiry_ns), (SessionHealth::Healthy, midnight.0));
    let tap = BrokerTap::new(vec![Some(handle)], reports_rx);
    let watch = Watch::default();
    let cfg = PlacementConfig { wait: WaitKind::Sleep, ..PlacementConfig::default() };
    let mut running =
        Launch::new(Engine::new(&setup, quanta::Clock::new(), 0), &cfg, watch.clone(), Arc::new(LiveStats::new(1)))
            .egress_tap(Box::new(tap))
            .start()
            .expect("engine starts");
    let tick = Tick {
        instrument: InstrumentId(0),
        ts: Timestamp(1_795_146_300_000_000_000),
        price: Price(80_000),
        qty: Qty(5),
    };
    running.publish(Input::Tick(tick));
    let logins = fake.logins();

    clock.set(Timestamp(midnight.0 + 1));
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.logins() == logins || session.status().health != SessionHealth::Healthy {
        assert!(Instant::now() < deadline, "no unattended login at midnight: {:?}", session.status());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(session.status().token_expiry_ns, midnight.0 + 24 * HOUR, "good until the next midnight");
    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 2, OrderType::Market, 0) }));
    watch.until("an order after midnight to fill", |s| status(s, 1) == Some(OrderStatus::Filled));
    assert_eq!(session.status().refused_expired, 0, "nothing was refused: the session never lapsed for an order");

    drop(running.stop().tap);
    gateway.join().expect("gateway thread ends");
}
