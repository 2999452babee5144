//! The admin side's connection to a running engine, built so the hot path never waits for it.
//!
//! * Reads: the engine threads publish counters into [`LiveStats`] (relaxed atomics); the
//!   egress observer thread ([`ViewObserver`]) folds the egress stream (orders, fills, candles)
//!   into a [`View`] behind an `RwLock` that only the observer writes and only admin handlers
//!   read. No stage thread ever touches that lock.
//! * Writes: operator commands go through a clone of the ingress ring's producer, so they are
//!   sequenced and journaled with the market data. The mutex around it only serializes admin
//!   senders with each other.
//! * Live updates: the observer sends each change on a `tokio::sync::broadcast` channel (never
//!   blocks; a slow WebSocket subscriber lags and is told how many updates it missed).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use dalal_core::engine::placement::{EgressObserver, IngressPublisher, Progress};
use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::stats::LiveStats;
use dalal_core::metrics::LatencyHistogram;
use dalal_core::model::RiskLimits;
use dalal_core::model::{BarSpec, Candle};
use dalal_core::model::{Command, EgressEvent, Fill, Input};
use dalal_core::model::{Order, Product, StrategyId};
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// Strategy id carried by orders placed through the API (no strategy slot has it).
pub const MANUAL_STRATEGY: StrategyId = StrategyId(u16::MAX - 1);

/// Candles kept per instrument and bar spec.
pub const CANDLES_KEPT: usize = 500;
/// Fills kept for `/api/orders` views and the page.
pub const FILLS_KEPT: usize = 2_000;
/// Orders kept (the oldest are dropped beyond this).
pub const ORDERS_KEPT: usize = 100_000;

/// Account names and symbols by dense id, for the JSON views.
#[derive(Clone, Debug, Default)]
pub struct Names {
    pub accounts: Vec<String>,
    pub symbols: Vec<String>,
}

impl Names {
    pub fn from_setup(s: &EngineSetup) -> Names {
        Names {
            accounts: s.accounts.iter().map(|a| a.name.clone()).collect(),
            symbols: s.instruments.iter().map(|i| i.symbol.clone()).collect(),
        }
    }

    pub fn account(&self, i: u32) -> &str {
        self.accounts.get(i as usize).map_or("?", |s| s.as_str())
    }

    pub fn symbol(&self, i: u32) -> &str {
        self.symbols.get(i as usize).map_or("?", |s| s.as_str())
    }
}

/// One update for WebSocket subscribers.
#[derive(Clone, Debug)]
pub struct Update {
    /// `orders`, `fills`, `candles`, `positions`, `pnl`, `latency` or `ticks`.
    pub topic: &'static str,
    /// The account it concerns; `None` for market data and engine-wide data.
    pub account: Option<u32>,
    pub instrument: Option<u32>,
    /// The JSON message as sent (serialized once; cloning shares the bytes).
    pub json: axum::extract::ws::Utf8Bytes,
}

/// A position derived from fills (average-cost method).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PositionView {
    /// Signed quantity: positive long.
    pub net: i64,
    /// Average entry price, paise (fractional).
    pub avg: f64,
    /// Realized P&L, paise (before charges).
    pub realized: f64,
    /// Charges paid, paise.
    pub charges: i64,
}

impl PositionView {
    fn apply(&mut self, sign: i64, qty: i64, price: f64) {
        let q = sign * qty;
        if self.net == 0 || self.net.signum() == sign {
            let n = self.net.abs() as f64;
            self.avg = (self.avg * n + price * qty as f64) / (n + qty as f64);
            self.net += q;
            return;
        }
        let closing = qty.min(self.net.abs());
        self.realized += (price - self.avg) * closing as f64 * self.net.signum() as f64;
        self.net += q;
        if self.net == 0 {
            self.avg = 0.0;
        } else if self.net.signum() == sign {
            self.avg = price;
        }
    }
}

/// (account, instrument, product index into `Product::ALL`).
pub type PosKey = (u32, u32, usize);

/// What the admin side knows of the engine, maintained by [`ViewObserver`].
#[derive(Debug)]
pub struct View {
    /// Latest state of each order, by id.
    pub orders: BTreeMap<u64, Order>,
    pub fills: VecDeque<Fill>,
    /// By (account, instrument, product).
    pub positions: BTreeMap<PosKey, PositionView>,
    /// By (instrument, spec), oldest first.
    pub candles: HashMap<(u32, BarSpec), VecDeque<Candle>>,
    pub tick_to_order: LatencyHistogram,
    /// Tick-to-order samples in log2 buckets: `[k]` counts `2^(k-1) ≤ ns < 2^k`.
    pub t2o_buckets: [u64; 64],
    /// Limits per account as configured or last set through the API.
    pub limits: Vec<RiskLimits>,
    /// Kill switches as configured or last set through the API.
    pub global_kill: bool,
    pub account_kill: Vec<bool>,
    /// Egress events seen.
    pub events: u64,
}

impl View {
    pub fn new(setup: &EngineSetup) -> View {
        View {
            orders: BTreeMap::new(),
            fills: VecDeque::new(),
            positions: BTreeMap::new(),
            candles: HashMap::new(),
            tick_to_order: LatencyHistogram::new(),
            t2o_buckets: [0; 64],
            limits: setup.accounts.iter().map(|a| a.limits).collect(),
            global_kill: setup.global_kill_switch,
            account_kill: setup.accounts.iter().map(|a| a.kill_switch).collect(),
            events: 0,
        }
    }
}

/// Everything the admin server needs of a running engine.
#[derive(Clone)]
pub struct EngineLink {
    pub setup: EngineSetup,
    pub live: Arc<LiveStats>,
    pub view: Arc<RwLock<View>>,
    pub commands: Arc<Mutex<IngressPublisher>>,
    /// The pipeline's counters, for ring fill levels.
    pub progress: Arc<Progress>,
    pub updates: broadcast::Sender<Update>,
}

/// The view and update channel, made before the engine starts (the observer goes into
/// `Running::start`), joined with the ingress producer afterwards by [`LinkParts::connect`].
pub struct LinkParts {
    pub view: Arc<RwLock<View>>,
    pub updates: broadcast::Sender<Update>,
}

impl LinkParts {
    /// The link, once the engine runs: `parts.connect(setup, live, running.publisher()?)`.
    pub fn connect(self, setup: EngineSetup, live: Arc<LiveStats>, publisher: IngressPublisher) -> EngineLink {
        let progress = publisher.progress().clone();
        EngineLink {
            setup,
            live,
            view: self.view,
            commands: Arc::new(Mutex::new(publisher)),
            progress,
            updates: self.updates,
        }
    }
}

/// The observer for `Running::start` and the parts of the link it feeds.
pub fn observer(setup: &EngineSetup, live: Arc<LiveStats>) -> (ViewObserver, LinkParts) {
    let view = Arc::new(RwLock::new(View::new(setup)));
    let (updates, _) = broadcast::channel(4096);
    let obs = ViewObserver::new(view.clone(), live, updates.clone(), Names::from_setup(setup));
    (obs, LinkParts { view, updates })
}

impl EngineLink {
    /// Publishes a command into the ingress ring (waits only while the ring is full).
    pub fn send(&self, cmd: Command) {
        let mut p = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        p.publish(Input::Command(cmd), 0);
    }

    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.view.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, View> {
        self.view.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Builds a [`View`] from the egress stream on the observer thread.
pub struct ViewObserver {
    view: Arc<RwLock<View>>,
    live: Arc<LiveStats>,
    tx: broadcast::Sender<Update>,
    names: Names,
    last_periodic: Instant,
    period: Duration,
}

impl ViewObserver {
    pub fn new(
        view: Arc<RwLock<View>>,
        live: Arc<LiveStats>,
        tx: broadcast::Sender<Update>,
        names: Names,
    ) -> ViewObserver {
        ViewObserver { view, live, tx, names, last_periodic: Instant::now(), period: Duration::from_millis(500) }
    }

    fn send(&self, topic: &'static str, account: Option<u32>, instrument: Option<u32>, v: Value) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let _ = self.tx.send(Update { topic, account, instrument, json: v.to_string().into() });
    }

    fn periodic(&mut self) {
        if self.last_periodic.elapsed() < self.period {
            return;
        }
        self.last_periodic = Instant::now();
        if self.tx.receiver_count() == 0 {
            return;
        }
        let s = self.live.snapshot();
        for (i, p) in s.last_price.iter().enumerate() {
            if *p > 0 {
                self.send(
                    "ticks",
                    None,
                    Some(i as u32),
                    json!({"type":"tick","symbol":self.names.symbol(i as u32),"price":*p as f64/100.0}),
                );
            }
        }
        for (i, (r, u)) in s.realized.iter().zip(&s.unrealized).enumerate() {
            self.send(
                "pnl",
                Some(i as u32),
                None,
                json!({"type":"pnl","account":self.names.account(i as u32),"realized":*r as f64/100.0,"unrealized":*u as f64/100.0}),
            );
        }
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        let positions: Vec<(u32, Value)> =
            view.positions.iter().map(|(k, p)| (k.0, position_json(&self.names, *k, p, &s.last_price))).collect();
        let lat = view.tick_to_order.percentiles();
        drop(view);
        for (a, p) in positions {
            self.send("positions", Some(a), None, json!({"type":"position","position":p}));
        }
        self.send("latency", None, None, json!({"type":"latency","tick_to_order":lat}));
    }
}

/// One position as the API shows it; marked at the last trade price.
pub fn position_json(n: &Names, k: PosKey, p: &PositionView, last: &[i64]) -> Value {
    let lp = last.get(k.1 as usize).copied().unwrap_or(0) as f64;
    let unreal = if p.net == 0 || lp <= 0.0 { 0.0 } else { (lp - p.avg) * p.net as f64 };
    json!({
        "account": n.account(k.0), "symbol": n.symbol(k.1), "product": Product::ALL.get(k.2).map_or("?", |p| p.as_str()), "net_qty": p.net,
        "avg_price": p.avg / 100.0, "last_price": lp / 100.0,
        "realized": p.realized / 100.0, "unrealized": unreal / 100.0, "charges": p.charges as f64 / 100.0,
    })
}

/// One order as the API shows it.
pub fn order_json(n: &Names, o: &Order) -> Value {
    json!({
        "id": o.id.0, "account": n.account(u32::from(o.intent.account.0)), "strategy": o.intent.strategy.0,
        "manual": o.intent.strategy == MANUAL_STRATEGY, "symbol": n.symbol(o.intent.instrument.0),
        "side": o.intent.side, "qty": o.intent.qty.0, "order_type": o.intent.order_type,
        "price": o.intent.price.0 as f64 / 100.0, "trigger": o.intent.trigger.0 as f64 / 100.0,
        "product": o.intent.product, "validity": o.intent.validity, "status": o.status,
        "filled": o.filled.0, "avg_fill_price": o.avg_fill_price() / 100.0,
        "created_ns": o.created.0, "updated_ns": o.updated.0,
        "reject": o.reject.map(|r| r.as_str()), "tag": o.intent.tag.as_str(),
    })
}

pub fn fill_json(n: &Names, f: &Fill) -> Value {
    json!({
        "id": f.id.0, "order": f.order.0, "account": n.account(u32::from(f.account.0)), "symbol": n.symbol(f.instrument.0),
        "side": f.side, "qty": f.qty.0, "price": f.price.0 as f64 / 100.0, "ts_ns": f.ts.0,
        "product": f.product, "charges": f.charges.0 as f64 / 100.0,
    })
}

pub fn candle_json(n: &Names, c: &Candle) -> Value {
    json!({
        "symbol": n.symbol(c.instrument.0), "timeframe": c.spec.to_string(), "start_ns": c.start.0, "end_ns": c.end.0,
        "open": c.open.0 as f64 / 100.0, "high": c.high.0 as f64 / 100.0, "low": c.low.0 as f64 / 100.0,
        "close": c.close.0 as f64 / 100.0, "volume": c.volume.0, "trades": c.trades, "amended": c.amended,
    })
}

impl EgressObserver for ViewObserver {
    fn on_event(&mut self, ev: &EgressEvent) {
        let mut msg: Option<(&'static str, Option<u32>, Option<u32>, Value)> = None;
        let mut pos_msg = None;
        {
            let mut v = self.view.write().unwrap_or_else(|e| e.into_inner());
            v.events += 1;
            match ev {
                EgressEvent::Empty | EgressEvent::VenueRequest(_) => {}
                EgressEvent::VenueNotice(r) => {
                    // A venue's refusal or cancellation in its own words, for the account's
                    // order stream.
                    msg = Some((
                        "orders",
                        Some(u32::from(r.account.0)),
                        None,
                        json!({"type":"venue_notice","order":r.order.0,"venue_order":r.venue_order.as_str(),
                               "report":r.kind}),
                    ));
                }
                EgressEvent::Order { order, tick_to_order_ns } => {
                    if *tick_to_order_ns > 0 {
                        v.tick_to_order.record(*tick_to_order_ns);
                        let k = (64 - tick_to_order_ns.leading_zeros() as usize).min(63);
                        v.t2o_buckets[k] += 1;
                    }
                    v.orders.insert(order.id.0, *order);
                    while v.orders.len() > ORDERS_KEPT {
                        v.orders.pop_first();
                    }
                    msg = Some((
                        "orders",
                        Some(u32::from(order.intent.account.0)),
                        Some(order.intent.instrument.0),
                        json!({"type":"order","order":order_json(&self.names, order)}),
                    ));
                }
                EgressEvent::Fill(f) => {
                    v.fills.push_back(*f);
                    while v.fills.len() > FILLS_KEPT {
                        v.fills.pop_front();
                    }
                    let k = (u32::from(f.account.0), f.instrument.0, f.product.index());
                    let p = v.positions.entry(k).or_default();
                    p.apply(f.side.sign(), f.qty.0 as i64, f.price.0 as f64);
                    p.charges += f.charges.0;
                    let p = *p;
                    let last: Vec<i64> = self.live.last_price.iter().map(|a| a.load(Ordering::Relaxed)).collect();
                    pos_msg = Some((
                        u32::from(f.account.0),
                        json!({"type":"position","position":position_json(&self.names, k, &p, &last)}),
                    ));
                    msg = Some((
                        "fills",
                        Some(u32::from(f.account.0)),
                        Some(f.instrument.0),
                        json!({"type":"fill","fill":fill_json(&self.names, f)}),
                    ));
                }
                EgressEvent::Candle(c) => {
                    let ring = v.candles.entry((c.instrument.0, c.spec)).or_default();
                    if c.amended && ring.back().is_some_and(|b| b.start == c.start) {
                        ring.pop_back();
                    }
                    ring.push_back(*c);
                    while ring.len() > CANDLES_KEPT {
                        ring.pop_front();
                    }
                    msg = Some((
                        "candles",
                        None,
                        Some(c.instrument.0),
                        json!({"type":"candle","candle":candle_json(&self.names, c)}),
                    ));
                }
            }
        }
        if let Some((t, a, i, m)) = msg {
            self.send(t, a, i, m);
        }
        if let Some((a, m)) = pos_msg {
            self.send("positions", Some(a), None, m);
        }
        self.periodic();
    }

    fn on_idle(&mut self) {
        self.periodic();
    }
}

#[cfg(test)]
mod tests {
    use super::PositionView;

    #[test]
    fn average_cost_positions() {
        let mut p = PositionView::default();
        p.apply(1, 10, 100.0);
        p.apply(1, 10, 110.0);
        assert_eq!(p.net, 20);
        assert!((p.avg - 105.0).abs() < 1e-9);
        p.apply(-1, 5, 115.0);
        assert!((p.realized - 50.0).abs() < 1e-9);
        p.apply(-1, 25, 100.0);
        assert_eq!(p.net, -10);
        assert!((p.avg - 100.0).abs() < 1e-9);
        assert!((p.realized - (50.0 - 75.0)).abs() < 1e-9);
    }
}
