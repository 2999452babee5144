//! A live account trading through the real Upstox gateway against the fake Upstox server:
//! orders placed on Upstox's order host (with Upstox's order id attached), filled, rested and
//! cancelled, filled in parts, refused by Upstox's RMS after acceptance; a token that expires
//! mid-session refuses orders (and the next one is not sent) until a new login's token comes;
//! every fill booked once; the engine's position equal to Upstox's; the journal replays it.

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use dalal_brokers::fake::upstox::{FakeUpstox, FakeUpstoxUser, Host};
use dalal_brokers::gateway::broker::GatewayConfig;
use dalal_brokers::gateway::upstox::{portfolio_stream, spawn, UpstoxSymbol};
use dalal_brokers::gateway::{code, BrokerTap, SessionHealth, WallClock};
use dalal_brokers::upstox::UpstoxClient;
use dalal_brokers::Secret;
use dalal_config::{Config, WaitKind};
use dalal_core::engine::placement::{Launch, PlacementConfig};
use dalal_core::engine::stats::LiveStats;
use dalal_core::engine::Engine;
use dalal_core::model::*;

mod live;
use live::{intent, notices, status, Journal, Watch};

const KEY: &str = "NSE_EQ|INE002A01018";

const CONFIG: &str = r#"
[[instruments]]
symbol = "RELIANCE"
segment = "NSE_EQ"
tick_size = 0.05
lot_size = 1
ref_price = 1400.0
keys = { upstox = "NSE_EQ|INE002A01018" }

[risk]
enforce_session = false
mis_square_off = ""

[[brokers]]
name = "upstox"
kind = "upstox"
root = "ROOT"
order_root = "HFT"

[[accounts]]
name = "carol"
broker = "upstox"
mode = "live"
[accounts.limits]
max_order_qty = 1000
max_order_value = 10000000.0
max_position_qty = 10000
"#;

#[test]
fn a_live_upstox_account_trades_reconciles_and_replays() {
    let fake = FakeUpstox::start_in_background().expect("fake Upstox starts");
    fake.add_user(FakeUpstoxUser::new("UP1234", "upkey", "upsecret-77", "http://127.0.0.1:5000/cb"));
    fake.set_instrument(KEY, "RELIANCE", 1400.0);
    fake.set_auto_fill(true);
    let token = fake.issue_session("upkey").expect("session").access_token;

    let config: Config =
        toml::from_str(&CONFIG.replace("ROOT", &fake.root()).replace("HFT", &fake.hft_root())).expect("config");
    let setup = config.validate().expect("valid");
    let broker = &config.brokers[0];
    let client = UpstoxClient::new(
        broker.root(),
        broker.order_root(),
        "upkey",
        Some(Secret::new(token.clone())),
        Duration::from_secs(5),
    )
    .expect("client");
    let symbols: Vec<_> =
        config.instruments.iter().map(|i| UpstoxSymbol::of(i.keys.get("upstox").map(String::as_str))).collect();
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
    let (handle, gateway) =
        spawn(gateway_config, client.clone(), symbols, None, reports_tx, Default::default()).expect("gateway");
    let session = handle.session.clone();
    let relogin = handle.clone();
    assert_eq!((session.status().health, session.status().broker), (SessionHealth::Healthy, "upstox"));
    let tap = BrokerTap::new(vec![Some(handle)], reports_rx);

    let watch = Watch::default();
    let journal = Journal::default();
    let cfg = PlacementConfig { wait: WaitKind::Sleep, ..PlacementConfig::default() };
    let mut running =
        Launch::new(Engine::new(&setup, quanta::Clock::new(), 0), &cfg, watch.clone(), Arc::new(LiveStats::new(1)))
            .journal(Box::new(journal.clone()))
            .egress_tap(Box::new(tap))
            .start()
            .expect("engine starts");
    let tick = Tick {
        instrument: InstrumentId(0),
        ts: Timestamp(1_795_146_300_000_000_000),
        price: Price(140_000),
        qty: Qty(5),
    };
    running.publish(Input::Tick(tick));

    // 1. A market buy on the order host: acknowledged with Upstox's id, filled, booked once.
    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 10, OrderType::Market, 0) }));
    watch.until("the market order to fill", |s| s.fills.iter().map(|f| f.qty.0).sum::<u64>() == 10);
    let first = watch.last(1).expect("order 1");
    assert_eq!(first.status, OrderStatus::Filled);
    assert!(!first.venue_order.is_empty(), "Upstox's order id is attached");
    let place = fake.requests().into_iter().find(|r| r.path.ends_with("/order/place")).expect("the place request");
    assert_eq!(place.host, Host::Hft, "orders go to Upstox's order host");
    let body = place.body.expect("json body");
    assert_eq!(
        (body["instrument_token"].as_str(), body["tag"].as_str(), body["slice"].as_bool()),
        (Some(KEY), Some("D1"), Some(false))
    );

    // 2. A limit buy far below the market rests; the cancel comes back from the book.
    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 3, OrderType::Limit, 139_000) }));
    watch.until("the limit order to rest", |s| status(s, 2) == Some(OrderStatus::Open));
    running.publish(Input::Command(Command::Cancel { account: AccountId(0), order: OrderId(2) }));
    watch.until("the cancel", |s| status(s, 2) == Some(OrderStatus::Cancelled));

    // 3. A partial fill, then the rest.
    running.publish(Input::Command(Command::Place { intent: intent(Side::Sell, 4, OrderType::Limit, 141_000) }));
    watch.until("the sell to rest", |s| status(s, 3) == Some(OrderStatus::Open));
    let upstox_id = watch.last(3).map(|o| o.venue_order.to_string()).unwrap_or_default();
    fake.fill(&upstox_id, 1, 1410.0).expect("partial fill");
    watch.until("the partial fill", |s| s.fills.iter().any(|f| f.order == OrderId(3)));
    fake.fill(&upstox_id, 3, 1410.5).expect("the rest");
    watch.until("the sell to complete", |s| status(s, 3) == Some(OrderStatus::Filled));

    // 4. Refused by Upstox's RMS after acceptance.
    fake.reject_next_order("Insufficient funds. Required: 7000.00, available: 10.00");
    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 5, OrderType::Market, 0) }));
    watch.until("the RMS refusal", |s| status(s, 4) == Some(OrderStatus::Rejected));
    watch.until("its notice", |s| s.notices.iter().any(|r| r.order == OrderId(4)));

    // 5. The token expires: refused by Upstox, then refused without being sent.
    assert!(fake.expire_token(&token));
    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 1, OrderType::Market, 0) }));
    watch.until("the refusal of an expired token", |s| status(s, 5) == Some(OrderStatus::Rejected));
    assert_eq!(session.status().health, SessionHealth::Expired);
    let sent_before = fake.requests().len();
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

    // 6. A new login's token: trading goes on.
    let renewed = fake.issue_session("upkey").expect("a new session").access_token;
    assert!(relogin.relogin(Secret::new(renewed.clone())));
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

    let seen = watch.0.lock().unwrap_or_else(|e| e.into_inner());
    let mut ids: Vec<_> = seen.fills.iter().map(|f| (f.order, f.price, f.qty)).collect();
    ids.dedup();
    assert_eq!(ids.len(), seen.fills.len());
    let net: i64 =
        seen.fills.iter().map(|f| if f.side == Side::Buy { f.qty.0 as i64 } else { -(f.qty.0 as i64) }).sum();
    assert_eq!(net, 0, "bought 10, sold 4, sold 6 after the new login");
    let mut reader = client.clone();
    reader.set_access_token(Some(Secret::new(renewed)));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let positions = rt.block_on(reader.positions()).expect("positions");
    let broker_net: i64 = positions.iter().filter(|p| p.instrument_token == KEY).map(|p| p.quantity).sum();
    assert_eq!(broker_net, net, "the engine's position reconciles with Upstox's");

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

/// With the portfolio stream, the gateway learns of fills and cancellations as Upstox pushes
/// them: the order book is read only after each request (the timer is an hour).
#[test]
fn order_updates_on_the_portfolio_stream_bring_fills_and_cancels_without_reading_the_book() {
    let fake = FakeUpstox::start_in_background().expect("fake Upstox starts");
    fake.add_user(FakeUpstoxUser::new("UP1234", "upkey", "upsecret-77", "http://127.0.0.1:5000/cb"));
    fake.set_instrument(KEY, "RELIANCE", 1400.0);
    let token = fake.issue_session("upkey").expect("session").access_token;
    let config: Config =
        toml::from_str(&CONFIG.replace("ROOT", &fake.root()).replace("HFT", &fake.hft_root())).expect("config");
    let setup = config.validate().expect("valid");
    let client =
        UpstoxClient::new(&fake.root(), &fake.hft_root(), "upkey", Some(Secret::new(token)), Duration::from_secs(5))
            .expect("client");
    let (reports_tx, reports_rx) = mpsc::channel();
    let gateway_config = GatewayConfig {
        venue: VenueId(0),
        login: "upstox".into(),
        orders_per_second: 10,
        poll_every: Duration::from_secs(3600),
        idle_check: None,
        queue: 64,
        order_updates: true,
        clock: WallClock::system(),
    };
    let symbols = vec![UpstoxSymbol::of(Some(KEY))];
    let (handle, gateway) =
        spawn(gateway_config, client, symbols, Some(portfolio_stream()), reports_tx, Default::default())
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
        price: Price(140_000),
        qty: Qty(5),
    };
    running.publish(Input::Tick(tick));
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.portfolio_handshakes().accepted == 0 {
        assert!(Instant::now() < deadline, "the gateway did not open the portfolio stream");
        std::thread::sleep(Duration::from_millis(5));
    }

    running.publish(Input::Command(Command::Place { intent: intent(Side::Buy, 4, OrderType::Limit, 139_900) }));
    watch.until("the order to rest", |s| status(s, 1) == Some(OrderStatus::Open));
    let upstox_id = watch.last(1).map(|o| o.venue_order.to_string()).unwrap_or_default();
    let book_reads = || fake.requests().iter().filter(|r| r.path.ends_with("/order/retrieve-all")).count();
    // The one read of the book owed after the place request.
    let deadline = Instant::now() + Duration::from_secs(30);
    while book_reads() == 0 {
        assert!(Instant::now() < deadline, "the book was not read after the place");
        std::thread::sleep(Duration::from_millis(5));
    }
    let reads = book_reads();
    fake.fill(&upstox_id, 1, 1399.0).expect("partial fill");
    watch.until("the pushed partial fill", |s| s.fills.iter().any(|f| f.order == OrderId(1)));
    fake.cancel(&upstox_id).expect("an exchange-side cancel");
    watch.until("the pushed cancel", |s| status(s, 1) == Some(OrderStatus::Cancelled));
    assert_eq!(book_reads(), reads, "learnt from the stream, not the book");
    assert!(session.status().order_updates >= 2, "{:?}", session.status());

    drop(running.stop().tap);
    gateway.join().expect("gateway thread ends");
}
