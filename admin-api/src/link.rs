//! The admin side's connection to a running engine, built so the hot path never waits for it.
//!
//! * Reads: the engine threads publish counters into [`LiveStats`] (relaxed atomics); the
//!   egress observer thread ([`ViewObserver`]) folds the egress stream (orders, fills, candles)
//!   into a [`View`] behind an `RwLock` that only the observer writes and only admin handlers
//!   read. No stage thread ever touches that lock.
//! * Writes: operator commands go through the ingress ring, so they are sequenced and
//!   journaled with the market data. A publish waits while that ring is full, so no handler
//!   publishes itself: it hands the command to a [`CommandQueue`] (bounded, `try_send`, never
//!   waits) whose own thread owns the ring's producer and does the waiting. When the queue is
//!   full the handler is refused at once ([`SendError::Full`], HTTP 503) and the refusal is
//!   counted; an async worker thread is never parked behind the engine.
//! * Live updates: the observer sends each change on a `tokio::sync::broadcast` channel (never
//!   blocks; a slow WebSocket subscriber lags and is told how many updates it missed).
//!
//! # P&L convention
//!
//! One model, the engine's: positions are the core's own [`Position`] (average cost, integer
//! paise), fed the same fills in the same order as the engine's portfolio, so net quantity,
//! average price and realized P&L here are the engine's (and the SQL store's and Redis's, which
//! use the same type). Realized and unrealized P&L are **gross, before charges**, exactly as
//! the portfolio and [`LiveStats`] keep them; charges are reported beside them, and
//! `net = realized + unrealized - charges`. Paise become rupees only in the JSON.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use dalal_core::engine::placement::{EgressObserver, IngressPublisher, Progress};
use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::stats::{LiveSnapshot, LiveStats};
use dalal_core::metrics::LatencyHistogram;
use dalal_core::model::RiskLimits;
use dalal_core::model::{BarSpec, Candle};
use dalal_core::model::{Command, EgressEvent, Fill, Input};
use dalal_core::model::{Order, Price, Product, StrategyId};
use dalal_core::stages::portfolio::{Portfolio, Position};
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
/// Operator commands waiting for room in the ingress ring before handlers are refused. Commands
/// come from people and scripts, not feeds: a thousand waiting means the engine is stalled,
/// and an operator is better told so (503) than left hanging.
pub const COMMAND_QUEUE: usize = 1024;

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

/// One position as the console shows it: the core's own [`Position`] (so its average price and
/// realized P&L are the engine's, to the paisa; see the module's P&L convention) and the
/// charges of the fills that made it, which the core keeps per account only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PositionView {
    /// Fed every fill of this (account, instrument, product) in egress order, as the engine's
    /// portfolio was. Its `last` is not kept current here: the JSON marks it at the engine's
    /// published last trade.
    pub pos: Position,
    /// Charges paid on this position's fills, paise (not included in the P&L figures).
    pub charges: i64,
}

impl PositionView {
    /// Books one fill exactly as the engine's portfolio does.
    pub fn apply(&mut self, f: &Fill) {
        self.pos.apply_fill(f.side, f.qty, f.price);
        self.charges += f.charges.0;
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
    /// Egress events the engine dropped before this view saw them (its ring was full; the
    /// engine does not wait for the console). Orders, fills and positions kept here may miss
    /// them; P&L totals come from the engine's published figures and do not.
    pub missed: u64,
}

impl View {
    /// A view of an engine that starts from nothing (a fresh run).
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
            missed: 0,
        }
    }

    /// A view of an engine that already holds positions (recovered from a journal or a
    /// snapshot): starts from the engine's portfolio, as the store's mapper does, so later
    /// fills continue those positions instead of starting new ones. Charges paid before are
    /// not known per position (the engine keeps them per account), so these start at zero.
    pub fn resume(setup: &EngineSetup, portfolio: &Portfolio) -> View {
        let mut v = View::new(setup);
        for a in 0..portfolio.accounts() {
            for i in 0..portfolio.instruments() {
                for (k, product) in Product::ALL.iter().enumerate() {
                    // Only booked slots are positions (each marked as the engine marks it).
                    match portfolio.get(a, i, *product) {
                        Some(pos) if pos.bought + pos.sold > 0 => {
                            v.positions.insert((a as u32, i as u32, k), PositionView { pos, charges: 0 });
                        }
                        _ => {}
                    }
                }
            }
        }
        v
    }
}

/// Why a command was not taken for the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The queue to the ingress ring is full: the ring has had no room for as long as it took
    /// to queue `capacity` commands (the engine is behind or stalled). Nothing was queued.
    #[error(
        "the engine is not taking commands fast enough ({capacity} already waiting); nothing was sent, retry shortly"
    )]
    Full { capacity: usize },
    /// The forwarding thread is gone (it could not be started); nothing was sent.
    #[error("the command path to the engine is closed; nothing was sent")]
    Closed,
}

/// Operator commands on their way into the ingress ring: a bounded queue that handlers fill
/// without ever waiting, and one thread of its own that owns the ring's producer and waits for
/// room in the ring when it must. Commands reach the ring in the order they were accepted, and
/// every accepted command reaches it: the thread drains the queue before it ends, which it does
/// once this queue is dropped (the last [`EngineLink`] clone with it).
pub struct CommandQueue {
    tx: SyncSender<Command>,
    capacity: usize,
    accepted: AtomicU64,
    refused: AtomicU64,
    /// Written by the thread after each hand-on (for the engine: once the command is in the
    /// ring), so `accepted - forwarded` is what still waits.
    forwarded: Arc<AtomicU64>,
}

impl CommandQueue {
    /// Starts the forwarding thread: `sink` gets each accepted command, in order, on that
    /// thread (for the engine, a publish into the ingress ring). At least one command waits.
    pub fn spawn(capacity: usize, mut sink: impl FnMut(Command) + Send + 'static) -> std::io::Result<CommandQueue> {
        let capacity = capacity.max(1);
        let (tx, rx) = sync_channel::<Command>(capacity);
        let forwarded = Arc::new(AtomicU64::new(0));
        let done = forwarded.clone();
        std::thread::Builder::new().name("dalal-admin-cmd".into()).spawn(move || {
            // Ends when the sender is dropped and everything queued has been handed on.
            for cmd in rx {
                sink(cmd);
                done.fetch_add(1, Ordering::Release);
            }
        })?;
        Ok(CommandQueue { tx, capacity, accepted: AtomicU64::new(0), refused: AtomicU64::new(0), forwarded })
    }

    /// A queue whose thread could not be started: every command is refused as
    /// [`SendError::Closed`], so the console still serves reads.
    fn closed() -> CommandQueue {
        let (tx, _) = sync_channel::<Command>(1);
        CommandQueue {
            tx,
            capacity: 1,
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            forwarded: Arc::default(),
        }
    }

    /// Queues `cmd` without waiting, or says why not (and counts the refusal).
    pub fn try_send(&self, cmd: Command) -> Result<(), SendError> {
        let e = match self.tx.try_send(cmd) {
            Ok(()) => {
                self.accepted.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(TrySendError::Full(_)) => SendError::Full { capacity: self.capacity },
            Err(TrySendError::Disconnected(_)) => SendError::Closed,
        };
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        // Logarithmically: a stalled engine under a retrying client must not flood the log;
        // `/metrics` has the exact count.
        if n.is_power_of_two() {
            tracing::warn!(refused_total = n, error = %e, "admin command refused");
        }
        Err(e)
    }

    /// Commands queued so far (all of them reach, or have reached, the ingress ring).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Commands accepted and not yet handed on (for the engine: not yet in the ingress ring).
    /// Zero seen after an accepted command means that command is in the ring.
    pub fn queued(&self) -> u64 {
        let forwarded = self.forwarded.load(Ordering::Acquire);
        self.accepted().saturating_sub(forwarded)
    }

    /// Commands refused so far because the queue was full or closed.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// Everything the admin server needs of a running engine.
#[derive(Clone)]
pub struct EngineLink {
    pub setup: EngineSetup,
    pub live: Arc<LiveStats>,
    pub view: Arc<RwLock<View>>,
    /// Commands for the engine; see [`EngineLink::send`].
    pub commands: Arc<CommandQueue>,
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
    /// Commands queue up to [`COMMAND_QUEUE`] deep.
    pub fn connect(self, setup: EngineSetup, live: Arc<LiveStats>, publisher: IngressPublisher) -> EngineLink {
        self.connect_with_queue(setup, live, publisher, COMMAND_QUEUE)
    }

    /// [`LinkParts::connect`] with a command queue `capacity` deep. The forwarding thread owns
    /// `publisher`; if that thread cannot be started the console still serves reads and
    /// refuses commands (logged).
    pub fn connect_with_queue(
        self,
        setup: EngineSetup,
        live: Arc<LiveStats>,
        mut publisher: IngressPublisher,
        capacity: usize,
    ) -> EngineLink {
        let progress = publisher.progress().clone();
        let commands = CommandQueue::spawn(capacity, move |cmd| publisher.publish(Input::Command(cmd), 0))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "admin: cannot start the command thread; commands will be refused");
                CommandQueue::closed()
            });
        self.link(setup, live, progress, commands)
    }

    fn link(
        self,
        setup: EngineSetup,
        live: Arc<LiveStats>,
        progress: Arc<Progress>,
        commands: CommandQueue,
    ) -> EngineLink {
        EngineLink { setup, live, view: self.view, commands: Arc::new(commands), progress, updates: self.updates }
    }
}

/// The observer for `Running::start` and the parts of the link it feeds, for a fresh engine.
pub fn observer(setup: &EngineSetup, live: Arc<LiveStats>) -> (ViewObserver, LinkParts) {
    observer_with(setup, live, View::new(setup))
}

/// [`observer`] for an engine that already holds positions (recovered or restored): the view
/// starts from `portfolio` (the engine's, `engine.order.portfolio()`), so its positions go on
/// agreeing with the engine's P&L. See [`View::resume`].
pub fn observer_resuming(
    setup: &EngineSetup,
    live: Arc<LiveStats>,
    portfolio: &Portfolio,
) -> (ViewObserver, LinkParts) {
    observer_with(setup, live, View::resume(setup, portfolio))
}

fn observer_with(setup: &EngineSetup, live: Arc<LiveStats>, view: View) -> (ViewObserver, LinkParts) {
    let view = Arc::new(RwLock::new(view));
    let (updates, _) = broadcast::channel(4096);
    let obs = ViewObserver::new(view.clone(), live, updates.clone(), Names::from_setup(setup));
    (obs, LinkParts { view, updates })
}

impl EngineLink {
    /// Queues a command for the ingress ring without waiting (safe on an async worker). `Ok`
    /// means the command will reach the engine, after those accepted before it; an error means
    /// it will not, and the caller should say so (the server answers 503).
    pub fn send(&self, cmd: Command) -> Result<(), SendError> {
        self.commands.try_send(cmd)
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
        for i in 0..s.realized.len() {
            let mut m = pnl_json(&self.names, i, &s);
            if let Value::Object(fields) = &mut m {
                fields.insert("type".into(), json!("pnl"));
            }
            self.send("pnl", Some(i as u32), None, m);
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

/// One position as the API shows it, the core's figures in rupees; marked at the engine's
/// last published trade of the instrument (at its last fill before one is published).
pub fn position_json(n: &Names, k: PosKey, p: &PositionView, last: &[i64]) -> Value {
    let mut pos = p.pos;
    if let Some(lp) = last.get(k.1 as usize).copied().filter(|lp| *lp > 0) {
        pos.last = Price(lp);
    }
    json!({
        "account": n.account(k.0), "symbol": n.symbol(k.1), "product": Product::ALL.get(k.2).map_or("?", |p| p.as_str()),
        "net_qty": pos.net.0, "avg_price": pos.avg_price() / 100.0, "last_price": pos.last.0 as f64 / 100.0,
        "realized": rupees(pos.realized().0), "unrealized": rupees(pos.unrealized().0), "charges": rupees(p.charges),
    })
}

/// One account's P&L as the engine last published it (see the module's P&L convention:
/// realized and unrealized before charges, `net` after).
pub fn pnl_json(n: &Names, account: usize, s: &LiveSnapshot) -> Value {
    let r = s.realized.get(account).copied().unwrap_or(0);
    let u = s.unrealized.get(account).copied().unwrap_or(0);
    let c = s.charges.get(account).copied().unwrap_or(0);
    json!({"account": n.account(account as u32), "realized": rupees(r), "unrealized": rupees(u),
           "charges": rupees(c), "net": rupees(r.saturating_add(u).saturating_sub(c))})
}

fn rupees(paise: i64) -> f64 {
    paise as f64 / 100.0
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
                    p.apply(f);
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

    fn on_gap(&mut self, _first: u64, missed: u64) {
        self.view.write().unwrap_or_else(|e| e.into_inner()).missed += missed;
    }
}

#[cfg(test)]
mod tests {
    use dalal_core::model::{
        AccountId, Command, Fill, FillId, InstrumentId, KillScope, Money, OrderId, Price, Product, Qty, Side,
        StrategyId, Timestamp,
    };
    use serde_json::json;

    use dalal_core::stages::portfolio::Portfolio;

    use super::{position_json, CommandQueue, Names, PositionView, SendError, View};

    fn fill(side: Side, qty: u64, paise: i64, charges: i64) -> Fill {
        Fill {
            id: FillId(1),
            order: OrderId(1),
            account: AccountId(0),
            strategy: StrategyId(0),
            instrument: InstrumentId(0),
            side,
            qty: Qty(qty),
            price: Price(paise),
            ts: Timestamp(0),
            product: Product::Mis,
            charges: Money(charges),
        }
    }

    /// The figures are the engine's integer average-cost ones, worked by hand here, not a float
    /// re-derivation: a partial close releases `cost * closed / net` paise, truncated, so the
    /// average and realized P&L stay whole paise (a float model says 184.29 paise below).
    #[test]
    fn positions_carry_the_engines_integer_figures() {
        let names = Names { accounts: vec!["alice".into()], symbols: vec!["ITC".into()] };
        let mut p = PositionView::default();
        p.apply(&fill(Side::Buy, 3, 41_005, 7));
        p.apply(&fill(Side::Buy, 4, 41_010, 9));
        assert_eq!((p.pos.net.0, p.pos.cost), (7, 287_055));
        // Sell 2 of 7: releases 287055 * 2 / 7 = 82015 (truncated); 82200 - 82015 = 185.
        p.apply(&fill(Side::Sell, 2, 41_100, 5));
        assert_eq!((p.pos.net.0, p.pos.cost, p.pos.realized), (5, 205_040, 185));
        let j = position_json(&names, (0, 0, Product::Mis.index()), &p, &[41_100]);
        assert_eq!(j["avg_price"], json!(410.08));
        assert_eq!(j["realized"], json!(1.85));
        // Sell 9 through zero: closes 5 (all 205040 of cost) for 204500 - 205040 = -540, and
        // opens 4 short at 409.00.
        p.apply(&fill(Side::Sell, 9, 40_900, 11));
        assert_eq!((p.pos.net.0, p.pos.cost, p.pos.realized), (-4, -163_600, 185 - 540));
        // Buy 1 back: releases -163600 / 4 = -40900 for -41000 + 40900 = -100.
        p.apply(&fill(Side::Buy, 1, 41_000, 3));
        assert_eq!((p.pos.net.0, p.pos.cost, p.pos.realized), (-3, -122_700, -455));
        let j = position_json(&names, (0, 0, Product::Mis.index()), &p, &[41_100]);
        assert_eq!(
            j,
            json!({"account": "alice", "symbol": "ITC", "product": "MIS", "net_qty": -3, "avg_price": 409.0,
                   "last_price": 411.0, "realized": -4.55, "unrealized": -6.0, "charges": 0.35})
        );
        // Before the engine has published a last trade, the position is marked at its own.
        let j = position_json(&names, (0, 0, Product::Mis.index()), &p, &[]);
        assert_eq!((j["last_price"].clone(), j["unrealized"].clone()), (json!(410.05), json!(-3.15)));
    }

    fn kill(account: u16) -> Command {
        Command::KillSwitch { scope: KillScope::Account(AccountId(account)), engaged: true }
    }

    /// The forwarding thread stands for a full ingress ring until the test lets it go (no
    /// sleeps: the handshakes are channel messages).
    #[test]
    fn a_full_command_queue_refuses_at_once_and_loses_nothing_it_took() {
        let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
        let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
        let (out_tx, out_rx) = std::sync::mpsc::channel::<Command>();
        let q = CommandQueue::spawn(2, move |c| {
            let _ = entered_tx.send(());
            // Returns once the gate's sender is dropped.
            let _ = gate_rx.recv();
            let _ = out_tx.send(c);
        })
        .expect("thread");
        assert_eq!(q.try_send(kill(0)), Ok(()));
        // The thread holds command 0 and waits on the "ring": the queue's two slots are free.
        entered_rx.recv().expect("the thread took command 0");
        assert_eq!(q.try_send(kill(1)), Ok(()));
        assert_eq!(q.try_send(kill(2)), Ok(()));
        let refused = q.try_send(kill(3));
        assert_eq!(refused, Err(SendError::Full { capacity: 2 }));
        assert_eq!((q.accepted(), q.refused(), q.queued()), (3, 1, 3));
        drop(gate_tx);
        // Dropping the queue ends the thread once it has handed on everything it took.
        drop(q);
        let out: Vec<Command> = out_rx.iter().collect();
        assert_eq!(out, vec![kill(0), kill(1), kill(2)]);
    }

    /// A recovered engine's view goes on from its book: a fill after the restart continues the
    /// position (here, closes part of it) instead of opening a new one.
    #[test]
    fn a_resumed_view_starts_from_the_engines_book() {
        let cfg: dalal_config::Config =
            toml::from_str(include_str!("../../config/default.toml")).expect("default.toml parses");
        let setup = cfg.validate().expect("valid default.toml");
        let mut book = Portfolio::new(setup.accounts.len(), setup.instruments.len());
        let slot = book.get_mut(1, 2, Product::Cnc).expect("slot");
        slot.apply_fill(Side::Buy, Qty(3), Price(41_005));
        slot.apply_fill(Side::Buy, Qty(4), Price(41_010));
        book.mark(2, Price(41_100));
        let v = View::resume(&setup, &book);
        let key = (1, 2, Product::Cnc.index());
        assert_eq!(v.positions.keys().copied().collect::<Vec<_>>(), vec![key], "only booked positions");
        let mut p = v.positions[&key];
        let mut engine = book.get(1, 2, Product::Cnc).expect("slot");
        let f = Fill {
            account: AccountId(1),
            instrument: InstrumentId(2),
            product: Product::Cnc,
            ..fill(Side::Sell, 2, 41_100, 0)
        };
        p.apply(&f);
        engine.apply_fill(f.side, f.qty, f.price);
        assert_eq!((p.pos, p.pos.realized), (engine, 185));
    }

    #[test]
    fn a_closed_command_queue_refuses_and_counts() {
        let q = CommandQueue::closed();
        assert_eq!(q.try_send(kill(0)), Err(SendError::Closed));
        assert_eq!((q.accepted(), q.refused()), (0, 1));
    }
}
