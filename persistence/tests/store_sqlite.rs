//! The SQL store on SQLite (a temporary file): migrations, idempotent writes, the writer's
//! batches and drop accounting, and the admin queries reading back what was written.

use std::time::{Duration, Instant};

use dalal_core::candle::{BarSpec, Candle};
use dalal_core::config::Config;
use dalal_core::event::Fill;
use dalal_core::setup::EngineSetup;
use dalal_core::types::{
    AccountId, FillId, InstrumentId, Money, Order, OrderId, OrderIntent, OrderStatus, Price, Product, Qty,
    RejectReason, Side, StrategyId, Timestamp,
};
use dalal_persistence::store::{
    AuditEntry, Backend, PositionSnapshot, RiskEvent, Store, StoreError, StoreEvent, StoreOptions, StoreWriter, Table,
    DEFAULT_SQLITE_URL,
};

fn setup() -> EngineSetup {
    let c: Config = toml::from_str(include_str!("../../config/default.toml")).expect("default config parses");
    c.validate().expect("default config validates")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// 2026-11-20 09:15 IST.
const T0: i64 = 1_795_146_300_000_000_000;

fn order(id: u64, s: &EngineSetup, status: OrderStatus, filled: u64) -> Order {
    let account = AccountId((id % s.accounts.len() as u64) as u16);
    let inst = InstrumentId((id % s.instruments.len() as u64) as u32);
    let price = Price(100_000 + (id as i64 % 50) * 5);
    let side = if id.is_multiple_of(2) { Side::Buy } else { Side::Sell };
    let intent = OrderIntent::limit(account, StrategyId((id % 3) as u16), inst, side, Qty(10), price);
    Order {
        id: OrderId(id),
        intent,
        status,
        filled: Qty(filled),
        filled_value: filled as i128 * price.0 as i128,
        created: Timestamp(T0 + id as i64 * 1_000_000),
        updated: Timestamp(T0 + id as i64 * 1_000_000 + filled as i64),
        reject: (status == OrderStatus::Rejected).then_some(RejectReason::MaxPosition),
        brokerage: Money(if filled > 0 { 2000 } else { 0 }),
    }
}

/// Five events per order (pending, open, fill, filled, position) plus a bar per order, a risk
/// event per 10 and an audit entry per 100, with increasing journal sequences.
fn story(s: &EngineSetup, orders: u64) -> Vec<StoreEvent> {
    let mut v = Vec::new();
    for id in 1..=orders {
        let seq = id * 10;
        let o = order(id, s, OrderStatus::Pending, 0);
        v.push(StoreEvent::Order { order: o, source_seq: seq });
        v.push(StoreEvent::Order { order: order(id, s, OrderStatus::Open, 0), source_seq: seq + 1 });
        let fill = Fill {
            id: FillId(id),
            order: o.id,
            account: o.intent.account,
            strategy: o.intent.strategy,
            instrument: o.intent.instrument,
            side: o.intent.side,
            qty: Qty(10),
            price: o.intent.price,
            ts: Timestamp(T0 + id as i64 * 1_000_000 + 10),
            product: Product::Mis,
            charges: Money(1234),
        };
        v.push(StoreEvent::Fill { fill, source_seq: seq + 2 });
        v.push(StoreEvent::Order { order: order(id, s, OrderStatus::Filled, 10), source_seq: seq + 2 });
        v.push(StoreEvent::Position(PositionSnapshot {
            source_seq: seq + 2,
            ts: fill.ts,
            account: fill.account,
            instrument: fill.instrument,
            product: Product::Mis,
            net_qty: 10 * fill.side.sign(),
            avg_price: fill.price.0 as f64,
            realized: Money(0),
            unrealized: Money(id as i64),
        }));
        let start = Timestamp(T0 + id as i64 * 60_000_000_000);
        let mut c = Candle::flat(
            o.intent.instrument,
            BarSpec::M1,
            start,
            Timestamp(start.0 + 60_000_000_000),
            o.intent.price,
            0,
        );
        c.high = Price(c.high.0 + 10);
        c.volume = Qty(id);
        c.trades = 3;
        v.push(StoreEvent::Candle { candle: c, source_seq: seq + 3 });
        if id.is_multiple_of(10) {
            v.push(StoreEvent::Risk(RiskEvent {
                source_seq: seq + 4,
                sub: 0,
                ts: Timestamp(T0 + id as i64),
                account: Some(o.intent.account),
                kind: "max_position",
                detail: format!("order {id}: position limit"),
            }));
        }
        if id.is_multiple_of(100) {
            v.push(StoreEvent::Audit(AuditEntry {
                source_seq: seq + 5,
                sub: 0,
                ts: Timestamp(T0 + id as i64),
                actor: "ops".into(),
                action: "kill_switch".into(),
                detail: "tab\there, quote \" and back\\slash".into(),
            }));
        }
    }
    v
}

async fn assert_counts(store: &Store, orders: u64) {
    let n = orders as i64;
    assert_eq!(store.count(Table::Orders).await.unwrap(), n);
    assert_eq!(store.count(Table::OrderEvents).await.unwrap(), 3 * n);
    assert_eq!(store.count(Table::Fills).await.unwrap(), n);
    assert_eq!(store.count(Table::PositionSnapshots).await.unwrap(), n);
    assert_eq!(store.count(Table::Candles).await.unwrap(), n);
    assert_eq!(store.count(Table::RiskEvents).await.unwrap(), n / 10);
    assert_eq!(store.count(Table::AuditLog).await.unwrap(), n / 100);
}

/// Reads back one order's whole story and the latest rows of its account.
async fn assert_queries(store: &Store, s: &EngineSetup, orders: u64) {
    let id = orders - 3;
    let o = store.order(id as i64).await.unwrap().expect("order stored");
    let want = order(id, s, OrderStatus::Filled, 10);
    let account = &s.accounts[want.intent.account.index()].name;
    let symbol = &s.instruments[want.intent.instrument.index()].symbol;
    assert_eq!(o.status, "FILLED");
    assert_eq!(&o.account, account);
    assert_eq!(&o.symbol, symbol);
    assert_eq!(o.filled_qty, 10);
    assert_eq!(o.price_paise, want.intent.price.0);
    assert_eq!(o.avg_price, want.intent.price.0 as f64);
    assert_eq!(o.order_type, "LIMIT");
    assert_eq!(o.reject_reason, None);
    assert_eq!(o.last_seq, id as i64 * 10 + 2);

    let ev = store.order_events(id as i64).await.unwrap();
    let statuses: Vec<&str> = ev.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(statuses, ["PENDING", "OPEN", "FILLED"]);

    let by_account = store.orders_for_account(account, 5).await.unwrap();
    assert_eq!(by_account.len(), 5);
    assert!(by_account.windows(2).all(|w| w[0].updated_ns >= w[1].updated_ns));
    assert!(by_account.iter().all(|r| &r.account == account));
    assert_eq!(
        by_account[0].order_id as u64,
        (1..=orders).filter(|i| i % s.accounts.len() as u64 == id % s.accounts.len() as u64).max().unwrap()
    );

    let fills = store.fills_for_account(account, 1000).await.unwrap();
    let f = fills.iter().find(|f| f.order_id == id as i64).expect("fill stored");
    assert_eq!(
        (f.qty, f.price_paise, f.charges_paise, f.side.as_str(), f.product.as_str()),
        (10, want.intent.price.0, 1234, want.intent.side.as_str(), "MIS")
    );

    let pos = store.positions_for_account(account, 1000).await.unwrap();
    let p = pos.iter().find(|p| &p.symbol == symbol && p.unrealized_paise == id as i64).expect("position stored");
    assert_eq!(p.net_qty, 10 * want.intent.side.sign());

    let start = T0 + id as i64 * 60_000_000_000;
    let bars = store.candles(symbol, "1m", start, start + 1).await.unwrap();
    assert_eq!(bars.len(), 1);
    assert_eq!(
        (bars[0].open_paise, bars[0].high_paise, bars[0].volume, bars[0].trades),
        (want.intent.price.0, want.intent.price.0 + 10, id as i64, 3)
    );

    let risk = store.risk_events(1000).await.unwrap();
    assert_eq!(risk.len() as u64, orders / 10);
    assert!(risk.iter().all(|r| r.kind == "max_position" && r.account.is_some()));
    let audit = store.audit_log(10).await.unwrap();
    if orders >= 100 {
        assert_eq!(audit[0].detail, "tab\there, quote \" and back\\slash");
    }
}

fn temp_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/data/dalal.db?mode=rwc", dir.path().display())
}

#[test]
fn migrations_create_the_schema_and_seed_from_the_setup() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup();
    let url = temp_url(&dir);
    rt().block_on(async {
        let store = Store::open(&url, &s, StoreOptions::default()).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        for t in Table::ALL {
            store.count(t).await.unwrap_or_else(|e| panic!("table {} missing: {e}", t.name()));
        }
        let names: Vec<String> = s.accounts.iter().map(|a| a.name.clone()).collect();
        assert_eq!(store.accounts().await.unwrap(), names);
        let inst = store.instruments().await.unwrap();
        assert_eq!(inst.len(), s.instruments.len());
        let reliance = s.instrument_by_symbol("RELIANCE").expect("RELIANCE in the default config");
        assert!(inst.iter().any(|(sym, seg, tick, lot)| sym == "RELIANCE"
            && seg == "NSE_EQ"
            && *tick == reliance.tick_size.0
            && *lot == reliance.lot_size.0 as i64));
        store.close().await;

        // A second start migrates nothing and seeds nothing twice.
        let store = Store::open(&url, &s, StoreOptions::default()).await.unwrap();
        assert_eq!(store.count(Table::Accounts).await.unwrap(), s.accounts.len() as i64);
        assert_eq!(store.count(Table::Instruments).await.unwrap(), s.instruments.len() as i64);
        store.close().await;
    });
    assert!(dir.path().join("data/dalal.db").exists(), "the database file is created with its directory");
}

#[test]
fn urls_are_checked() {
    assert_eq!(Backend::of_url(DEFAULT_SQLITE_URL), Some(Backend::Sqlite));
    assert_eq!(Backend::of_url("postgres://u@h/db"), Some(Backend::Postgres));
    assert_eq!(Backend::of_url("postgresql://u@h/db"), Some(Backend::Postgres));
    assert!(matches!(StoreWriter::start("mysql://x", &setup(), 10), Err(StoreError::BadUrl(_))));
}

#[test]
fn writing_the_same_events_twice_writes_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup();
    let events = story(&s, 300);
    rt().block_on(async {
        let store = Store::open(&temp_url(&dir), &s, StoreOptions::default()).await.unwrap();
        store.write(&events).await.unwrap();
        assert_counts(&store, 300).await;
        // Replayed as one batch, then in small pieces as a journal re-feed would.
        store.write(&events).await.unwrap();
        for chunk in events.chunks(7) {
            store.write(chunk).await.unwrap();
        }
        assert_counts(&store, 300).await;
        assert_queries(&store, &s, 300).await;

        // An older update re-fed after a newer one does not move an order back.
        store.write(&events[..2]).await.unwrap();
        assert_eq!(store.order(1).await.unwrap().unwrap().status, "FILLED");
        store.close().await;
    });
}

#[test]
fn writer_batches_ten_thousand_events() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup();
    let events = story(&s, 1700);
    assert!(events.len() >= 10_000, "{}", events.len());
    let url = temp_url(&dir);
    let w = StoreWriter::start(&url, &s, 16_384).unwrap();
    let t = Instant::now();
    for e in &events {
        assert!(w.submit(e.clone()), "queue large enough");
    }
    assert!(w.flush(Duration::from_secs(60)), "writer drains");
    let el = t.elapsed();
    let st = w.flush_and_stop();
    println!(
        "sqlite writer: {} events in {:?} ({:.0} events/s, {} batches)",
        st.written,
        el,
        st.written as f64 / el.as_secs_f64(),
        st.batches
    );
    assert_eq!(st.written, events.len() as u64);
    assert_eq!((st.dropped, st.rejected, st.abandoned, st.lag), (0, 0, 0, 0));
    assert_eq!(st.first_unwritten_seq, None);
    assert_eq!(st.last_written_seq, Some(events.iter().map(|e| e.source_seq()).max().unwrap()));
    assert!(st.db_available);
    rt().block_on(async {
        let store = Store::open(&url, &s, StoreOptions::default()).await.unwrap();
        assert_counts(&store, 1700).await;
        assert_queries(&store, &s, 1700).await;
        store.close().await;
    });
}

#[test]
fn a_full_queue_drops_without_blocking_and_the_journal_refeed_fills_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup();
    let events = story(&s, 400);
    let url = temp_url(&dir);
    let w = StoreWriter::start_with(&url, &s, StoreOptions { capacity: 4, max_batch: 4, ..StoreOptions::default() })
        .unwrap();
    let t = Instant::now();
    let (mut accepted, mut first_dropped) = (0, None);
    for e in &events {
        if w.submit(e.clone()) {
            accepted += 1;
        } else {
            first_dropped.get_or_insert(e.source_seq());
        }
    }
    let submit_time = t.elapsed();
    let st = w.stats();
    assert!(st.dropped > 0, "a 4-event queue cannot take {} events at once", events.len());
    assert_eq!(st.dropped as usize + accepted, events.len());
    assert!(submit_time < Duration::from_secs(2), "submit never waits: {submit_time:?}");
    let first = w.take_first_unwritten_seq().expect("the first dropped sequence is kept");
    assert_eq!(Some(first), first_dropped);
    assert!(w.flush(Duration::from_secs(30)));

    // What a journal re-read from `first` would feed, at a pace the writer keeps up with.
    for e in events.iter().filter(|e| e.source_seq() >= first) {
        while !w.submit(e.clone()) {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    assert!(w.flush(Duration::from_secs(30)));
    let st = w.flush_and_stop();
    assert_eq!(st.rejected, 0);
    rt().block_on(async {
        let store = Store::open(&url, &s, StoreOptions::default()).await.unwrap();
        assert_counts(&store, 400).await;
        assert_queries(&store, &s, 400).await;
        store.close().await;
    });
}
