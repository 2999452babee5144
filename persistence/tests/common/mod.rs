//! What both SQL backends' tests share: an engine setup, a story of events, and the checks
//! that read it back.
#![allow(dead_code)]

use dalal_config::Config;
use dalal_core::engine::setup::EngineSetup;
use dalal_core::model::Fill;
use dalal_core::model::{
    AccountId, FillId, InstrumentId, Money, Order, OrderId, OrderIntent, OrderStatus, Price, Product, Qty,
    RejectReason, Side, StrategyId, Timestamp,
};
use dalal_core::model::{BarSpec, Candle};
use dalal_persistence::store::{AuditEntry, PositionSnapshot, RiskEvent, Store, StoreEvent, Table};

/// The PostgreSQL the tests use unless `DALAL_TEST_PG_URL` names another.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Under CI a missing service fails the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

pub fn setup() -> EngineSetup {
    let c: Config = toml::from_str(include_str!("../../../config/default.toml")).expect("default config parses");
    c.validate().expect("default config validates")
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// 2026-11-20 09:15 IST.
pub const T0: i64 = 1_795_146_300_000_000_000;

pub fn order(id: u64, s: &EngineSetup, status: OrderStatus, filled: u64) -> Order {
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
        venue_order: Default::default(),
    }
}

/// Five events per order (pending, open, fill, filled, position) plus a bar per order, a risk
/// event per 10 and an audit entry per 100, with increasing journal sequences.
pub fn story(s: &EngineSetup, orders: u64) -> Vec<StoreEvent> {
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

pub async fn assert_counts(store: &Store, orders: u64) {
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
pub async fn assert_queries(store: &Store, s: &EngineSetup, orders: u64) {
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
    let audit = store.audit_log(10, None).await.unwrap();
    if orders >= 100 {
        assert_eq!(audit[0].detail, "tab\there, quote \" and back\\slash");
    }
    // Filtered by actor before the limit: all of "ops", none of anyone else.
    let ops = store.audit_log(1_000_000, Some("ops")).await.unwrap();
    assert_eq!(ops.len() as u64, orders / 100);
    assert!(store.audit_log(1_000_000, Some("nobody")).await.unwrap().is_empty());
}

/// Imported bars on either backend: stored, replaced by a second import of the same key (the
/// corrected bar and its source win, one row per key), read back in time order by range, and
/// summarised per symbol, timeframe and source; more rows than one statement takes.
pub async fn assert_history_round_trip(store: &Store) {
    use dalal_persistence::store::{HistoryBar, HistorySeries};
    const DAY: i64 = 86_400_000_000_000;
    let bar = |symbol: &str, tf: &str, k: i64, close: i64| HistoryBar {
        symbol: symbol.into(),
        timeframe: tf.into(),
        start_ns: 1_767_584_700_000_000_000 + k * DAY,
        open: 100_000 + k,
        high: 101_000 + k,
        low: 99_000,
        close,
        volume: 1_000 * k + 7,
        oi: (k % 3 == 0).then_some(k),
    };
    let first: Vec<HistoryBar> =
        (0..1500).map(|k| bar("TCS", "1d", k, 100_500)).chain([bar("M&M", "1m", 0, 100_000)]).collect();
    assert_eq!(store.import_history("nse-bhavcopy", &first, 10).await.unwrap(), 1501);
    let fix = [bar("TCS", "1d", 7, 100_777), bar("TCS", "1d", 7, 100_778), bar("TCS", "1d", 1500, 100_900)];
    assert!(store.import_history("kite", &fix, 20).await.unwrap() >= 2);
    let all = store.history("TCS", "1d", i64::MIN, i64::MAX).await.unwrap();
    assert_eq!(all.len(), 1501);
    assert!(all.windows(2).all(|w| w[0].start_ns < w[1].start_ns));
    assert_eq!(all[7], bar("TCS", "1d", 7, 100_778), "the last of a key wins");
    assert_eq!(all[3].oi, Some(3));
    assert_eq!(all[4].oi, None);
    let some = store.history("TCS", "1d", all[10].start_ns, all[19].start_ns).await.unwrap();
    assert_eq!(some, all[10..20].to_vec());
    assert!(store.history("TCS", "1m", i64::MIN, i64::MAX).await.unwrap().is_empty());
    let series = store.history_series().await.unwrap();
    let s = |symbol: &str, tf: &str, source: &str, bars: i64, first: i64, last: i64, at: i64| HistorySeries {
        symbol: symbol.into(),
        timeframe: tf.into(),
        source: source.into(),
        bars,
        first_ns: all[first as usize].start_ns,
        last_ns: all[last as usize].start_ns,
        imported_ns: at,
    };
    let mm = HistorySeries {
        first_ns: bar("M&M", "1m", 0, 0).start_ns,
        last_ns: bar("M&M", "1m", 0, 0).start_ns,
        ..s("M&M", "1m", "nse-bhavcopy", 1, 0, 0, 10)
    };
    assert_eq!(series, [mm, s("TCS", "1d", "kite", 2, 7, 1500, 20), s("TCS", "1d", "nse-bhavcopy", 1499, 0, 1499, 10)]);
}
