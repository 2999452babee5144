//! A live account trading through the real Kite gateway against the fake Kite server: orders
//! placed, filled, rested and cancelled, refused by the broker's risk system, refused after
//! the token expires (and not sent); every fill booked once; the engine's position equal to
//! the broker's; and the session's inputs, as the journal holds them, replayed into a fresh
//! engine give the same orders and fills.

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use dalal_brokers::fake::kite::{FakeKite, FakeUser};
use dalal_brokers::gateway::kite::{spawn, KiteGatewayConfig, KiteSymbol};
use dalal_brokers::gateway::{code, BrokerTap, SessionHealth};
use dalal_brokers::kite::KiteClient;
use dalal_brokers::Secret;
use dalal_config::{Config, WaitKind};
use dalal_core::engine::placement::{EgressObserver, IngressConsumer, Launch, PlacementConfig};
use dalal_core::engine::stats::LiveStats;
use dalal_core::engine::Engine;
use dalal_core::model::*;

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

#[derive(Default)]
struct Seen {
    orders: Vec<Order>,
    fills: Vec<Fill>,
    notices: Vec<VenueReport>,
}

#[derive(Clone, Default)]
struct Watch(Arc<Mutex<Seen>>);

impl EgressObserver for Watch {
    fn on_event(&mut self, ev: &EgressEvent) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match ev {
            EgressEvent::Order { order, .. } => s.orders.push(*order),
            EgressEvent::Fill(f) => s.fills.push(*f),
            EgressEvent::VenueNotice(r) => s.notices.push(*r),
            _ => {}
        }
    }
}

/// The journal's view: every ingress event in the order the engine applied it.
#[derive(Clone, Default)]
struct Journal(Arc<Mutex<Vec<IngressEvent>>>);

impl IngressConsumer for Journal {
    fn on_event(&mut self, ev: &IngressEvent) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(*ev);
    }
    fn end_batch(&mut self) {}
}

impl Watch {
    /// Waits (up to a generous deadline, for a loaded machine) until `done` holds.
    fn until(&self, what: &str, done: impl Fn(&Seen) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if done(&self.0.lock().unwrap_or_else(|e| e.into_inner())) {
                return;
            }
            if Instant::now() >= deadline {
                let s = self.0.lock().unwrap_or_else(|e| e.into_inner());
                let orders: Vec<_> = s.orders.iter().map(|o| (o.id.0, o.status, o.venue_order)).collect();
                panic!("timed out waiting for {what}; orders {orders:?}, notices {:?}", s.notices);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn last(&self, id: u64) -> Option<Order> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).orders.iter().rev().find(|o| o.id.0 == id).copied()
    }
}

fn intent(side: Side, qty: u64, order_type: OrderType, price: i64) -> OrderIntent {
    OrderIntent {
        order_type,
        price: Price(price),
        ..OrderIntent::market(AccountId(0), StrategyId::SYSTEM, InstrumentId(0), side, Qty(qty))
    }
}

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
        queue: 64,
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

fn status(s: &Seen, id: u64) -> Option<OrderStatus> {
    s.orders.iter().rev().find(|o| o.id.0 == id).map(|o| o.status)
}

fn notices(w: &Watch) -> Vec<VenueReport> {
    w.0.lock().unwrap_or_else(|e| e.into_inner()).notices.clone()
}
