//! Redis fan-out: live ticks, candles, order updates, fills, positions and P&L for programs
//! that follow the engine, off the hot path.
//!
//! # Names (an interface: change them only with a note to every consumer)
//!
//! `{p}` is the configured prefix ([`RedisOptions::prefix`], default `main`; one per engine
//! or shard, tests use a fresh random one). `{account}` is the account name from the config.
//!
//! | name | type | content |
//! |---|---|---|
//! | `dalal:{p}:ticks` | pub/sub channel | every accepted tick (when `publish_ticks`) |
//! | `dalal:{p}:candles` | pub/sub channel | every closed or amended bar |
//! | `dalal:{p}:orders` | pub/sub channel | every order creation and state change |
//! | `dalal:{p}:fills` | pub/sub channel | every fill |
//! | `dalal:{p}:positions` | pub/sub channel | every position change |
//! | `dalal:{p}:pnl` | pub/sub channel | every account P&L update |
//! | `dalal:{p}:stream:ticks` | stream, `MAXLEN ~ stream_maxlen` | as the channel, field `data` |
//! | `dalal:{p}:stream:candles` | stream | as the channel, field `data` |
//! | `dalal:{p}:stream:orders` | stream | as the channel, field `data` |
//! | `dalal:{p}:stream:fills` | stream | as the channel, field `data` |
//! | `dalal:{p}:stream:positions` | stream | as the channel, field `data` |
//! | `dalal:{p}:pos:{account}` | hash | field `{symbol}:{product}` → latest position JSON |
//! | `dalal:{p}:pnl:{account}` | hash | `realized_paise`, `unrealized_paise`, `charges_paise`, `net_paise`, `ts_ns` |
//!
//! Every message and stream entry is one JSON object (prices and money in integer paise,
//! average prices in fractional paise, times in ns since the Unix epoch):
//!
//! * tick: `{"symbol","ts_ns","price_paise","qty"}`
//! * candle: `{"symbol","spec","start_ns","end_ns","open_paise","high_paise","low_paise",
//!   "close_paise","volume","trades","turnover_paise","oi","amended"}`
//! * order: `{"order_id","account","strategy","symbol","side","type","product","validity",
//!   "qty","price_paise","trigger_paise","status","filled_qty","avg_price_paise",
//!   "reject_reason" (string or null),"tag","created_ns","updated_ns"}`
//! * fill: `{"fill_id","order_id","account","strategy","symbol","side","product","qty",
//!   "price_paise","charges_paise","ts_ns"}`
//! * position: `{"account","symbol","product","net_qty","avg_price_paise","realized_paise",
//!   "unrealized_paise","ts_ns"}`
//! * pnl: `{"account","realized_paise","unrealized_paise","charges_paise","net_paise","ts_ns"}`
//!
//! # Behaviour
//!
//! [`RedisPublisher::start`] spawns one thread (`dalal-redis`) with a blocking connection and a
//! bounded queue; [`RedisSender::try_publish`] is a non-blocking `try_send` of a `Copy` event
//! (`false` and counted when the queue is full). The thread sends whatever is queued as one
//! pipeline. Redis is live fan-out, not a store: while Redis is unreachable the thread keeps
//! draining the queue (so the engine never notices), counts those events as `discarded`,
//! remembers the latest position and P&L per account, and reconnects with exponential backoff
//! (100 ms doubling to `max_backoff`, 5 s by default). On reconnect it rewrites the position and
//! P&L hashes from what it remembered, so the keys are current again at once. Outage time,
//! reconnects and failed attempts are in [`RedisStats`] for the summary and metrics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use dalal_core::engine::setup::EngineSetup;
use dalal_core::model::Candle;
use dalal_core::model::{AccountId, InstrumentId, Money, Order, Product, Timestamp};
use dalal_core::model::{Fill, Tick};
use serde::Serialize;

use crate::store::{Names, PositionSnapshot};

/// An account's P&L at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PnlSnapshot {
    pub ts: Timestamp,
    pub account: AccountId,
    pub realized: Money,
    pub unrealized: Money,
    /// Brokerage and statutory charges so far.
    pub charges: Money,
}

/// What the publisher sends. All `Copy`: queueing one never allocates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RedisEvent {
    Tick(Tick),
    Candle(Candle),
    Order(Order),
    Fill(Fill),
    Position(PositionSnapshot),
    Pnl(PnlSnapshot),
}

/// Settings of the publisher.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// `redis://127.0.0.1:6379/` and the like.
    pub url: String,
    /// The `{p}` in every name; no spaces.
    pub prefix: String,
    /// Events the queue holds before `try_publish` starts dropping.
    pub capacity: usize,
    /// Most events in one pipeline.
    pub max_batch: usize,
    /// Approximate cap of every stream (`XADD … MAXLEN ~ n`).
    pub stream_maxlen: usize,
    /// Ticks are the bulk of the traffic; off, they go neither to the channel nor the stream.
    pub publish_ticks: bool,
    /// Connect, read and write timeout of the connection.
    pub io_timeout: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            url: "redis://127.0.0.1:6379/".to_string(),
            prefix: "main".to_string(),
            capacity: 65_536,
            max_batch: 2_048,
            stream_maxlen: 10_000,
            publish_ticks: true,
            io_timeout: Duration::from_secs(1),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// The documented channel, stream and key names for one prefix.
#[derive(Clone, Debug)]
pub struct RedisNames {
    base: String,
}

/// The kinds of message, each with a channel and (but `Pnl`) a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ticks,
    Candles,
    Orders,
    Fills,
    Positions,
    Pnl,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Ticks => "ticks",
            Kind::Candles => "candles",
            Kind::Orders => "orders",
            Kind::Fills => "fills",
            Kind::Positions => "positions",
            Kind::Pnl => "pnl",
        }
    }
}

impl RedisNames {
    pub fn new(prefix: &str) -> RedisNames {
        RedisNames { base: format!("dalal:{prefix}") }
    }

    /// `dalal:{p}:{kind}`
    pub fn channel(&self, kind: Kind) -> String {
        format!("{}:{}", self.base, kind.as_str())
    }

    /// `dalal:{p}:stream:{kind}`
    pub fn stream(&self, kind: Kind) -> String {
        format!("{}:stream:{}", self.base, kind.as_str())
    }

    /// `dalal:{p}:pos:{account}`
    pub fn positions_key(&self, account: &str) -> String {
        format!("{}:pos:{account}", self.base)
    }

    /// `dalal:{p}:pnl:{account}`
    pub fn pnl_key(&self, account: &str) -> String {
        format!("{}:pnl:{account}", self.base)
    }

    /// Field of a position in its account's hash: `{symbol}:{product}`.
    pub fn position_field(symbol: &str, product: Product) -> String {
        format!("{symbol}:{}", product.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RedisPubError {
    #[error("bad Redis URL {url:?}: {source}")]
    BadUrl { url: String, source: redis::RedisError },
    #[error("cannot start the Redis publisher: {0}")]
    Io(#[from] std::io::Error),
}

/// Counters of the publisher, for the run summary and metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RedisStats {
    /// Events accepted into the queue.
    pub submitted: u64,
    /// Events sent to Redis.
    pub published: u64,
    /// Events refused by `try_publish` (queue full or publisher stopped).
    pub dropped: u64,
    /// Events taken from the queue while Redis was unreachable, not sent.
    pub discarded: u64,
    pub connected: bool,
    /// Successful connections after the first.
    pub reconnects: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Pipelines that failed (each one also starts an outage).
    pub errors: u64,
    /// Separate outages (Redis unreachable from one success to the next).
    pub outages: u64,
    /// Total time without a working connection, including one going on now (from the first
    /// failure; a publisher that has not tried yet is not in an outage).
    pub outage_secs: f64,
    pub last_error: String,
}

#[derive(Debug, Default)]
struct Outage {
    down_since: Option<Instant>,
    total: Duration,
    outages: u64,
    last_error: String,
}

#[derive(Debug, Default)]
struct Shared {
    submitted: AtomicU64,
    published: AtomicU64,
    dropped: AtomicU64,
    discarded: AtomicU64,
    connected: AtomicBool,
    reconnects: AtomicU64,
    connect_failures: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
    outage: Mutex<Outage>,
}

impl Shared {
    fn up(&self) {
        self.connected.store(true, Relaxed);
        let mut o = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = o.down_since.take() {
            o.total += t.elapsed();
            tracing::info!(after = ?t.elapsed(), "redis: connected again");
        }
    }

    fn down(&self, err: &redis::RedisError) {
        self.connected.store(false, Relaxed);
        let mut o = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        if o.down_since.is_none() {
            o.down_since = Some(Instant::now());
            o.outages += 1;
            tracing::warn!(error = %err, "redis: unreachable, the engine goes on; reconnecting with backoff");
        }
        o.last_error = err.to_string();
    }
}

/// The producer side of the publisher; clone it for every thread that publishes.
#[derive(Clone, Debug)]
pub struct RedisSender {
    tx: Sender<RedisEvent>,
    shared: Arc<Shared>,
}

impl RedisSender {
    /// Queues an event without blocking; `false` (and counted) when the queue is full.
    #[inline]
    pub fn try_publish(&self, ev: RedisEvent) -> bool {
        match self.tx.try_send(ev) {
            Ok(()) => {
                self.shared.submitted.fetch_add(1, Relaxed);
                true
            }
            Err(_) => {
                self.shared.dropped.fetch_add(1, Relaxed);
                false
            }
        }
    }

    /// Events queued and not yet published: the publisher's lag.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }

    /// Whether the publisher is connected to Redis now.
    pub fn connected(&self) -> bool {
        self.shared.connected.load(Relaxed)
    }
}

/// Starts publishers.
pub struct RedisPublisher;

impl RedisPublisher {
    /// Starts the publisher thread. Fails only for a malformed URL: an unreachable Redis is an
    /// outage, reported in the stats, never an error.
    pub fn start(opts: RedisOptions, setup: &EngineSetup) -> Result<RedisPublisherHandle, RedisPubError> {
        let client = redis::Client::open(opts.url.as_str())
            .map_err(|source| RedisPubError::BadUrl { url: opts.url.clone(), source })?;
        let (tx, rx) = crossbeam_channel::bounded(opts.capacity.max(1));
        let shared = Arc::new(Shared::default());
        let names = Names::from_setup(setup);
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new().name("dalal-redis".into()).spawn(move || {
                let mut p = Publisher::new(client, opts, names, shared);
                p.run(rx);
            })?
        };
        Ok(RedisPublisherHandle { sender: RedisSender { tx, shared }, thread: Some(thread) })
    }
}

/// Owns the publisher thread; dropping it stops the publisher.
#[derive(Debug)]
pub struct RedisPublisherHandle {
    sender: RedisSender,
    thread: Option<JoinHandle<()>>,
}

impl RedisPublisherHandle {
    #[inline]
    pub fn try_publish(&self, ev: RedisEvent) -> bool {
        self.sender.try_publish(ev)
    }

    pub fn sender(&self) -> RedisSender {
        self.sender.clone()
    }

    pub fn stats(&self) -> RedisStats {
        let s = &self.sender.shared;
        let (outage_secs, outages, last_error) = {
            let o = s.outage.lock().unwrap_or_else(|p| p.into_inner());
            let now = o.down_since.map(|t| t.elapsed()).unwrap_or_default();
            ((o.total + now).as_secs_f64(), o.outages, o.last_error.clone())
        };
        RedisStats {
            submitted: s.submitted.load(Relaxed),
            published: s.published.load(Relaxed),
            dropped: s.dropped.load(Relaxed),
            discarded: s.discarded.load(Relaxed),
            connected: s.connected.load(Relaxed),
            reconnects: s.reconnects.load(Relaxed),
            connect_failures: s.connect_failures.load(Relaxed),
            errors: s.errors.load(Relaxed),
            outages,
            outage_secs,
            last_error,
        }
    }

    /// Waits until everything queued before this call was sent or discarded, up to `timeout`.
    pub fn flush(&self, timeout: Duration) -> bool {
        let s = &self.sender.shared;
        let target = s.submitted.load(Relaxed);
        let deadline = Instant::now() + timeout;
        while s.published.load(Relaxed) + s.discarded.load(Relaxed) < target {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Sends what is queued (if connected), stops the thread and returns the final counters.
    pub fn stop(mut self) -> RedisStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        self.sender.shared.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RedisPublisherHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[derive(Serialize)]
struct TickMsg<'a> {
    symbol: &'a str,
    ts_ns: i64,
    price_paise: i64,
    qty: u64,
}

#[derive(Serialize)]
struct CandleMsg<'a> {
    symbol: &'a str,
    spec: String,
    start_ns: i64,
    end_ns: i64,
    open_paise: i64,
    high_paise: i64,
    low_paise: i64,
    close_paise: i64,
    volume: u64,
    trades: u32,
    turnover_paise: i64,
    oi: u64,
    amended: bool,
}

#[derive(Serialize)]
struct OrderMsg<'a> {
    order_id: u64,
    account: &'a str,
    strategy: u16,
    symbol: &'a str,
    side: &'static str,
    #[serde(rename = "type")]
    order_type: &'static str,
    product: &'static str,
    validity: &'static str,
    qty: u64,
    price_paise: i64,
    trigger_paise: i64,
    status: &'static str,
    filled_qty: u64,
    avg_price_paise: f64,
    reject_reason: Option<&'static str>,
    tag: &'a str,
    created_ns: i64,
    updated_ns: i64,
}

#[derive(Serialize)]
struct FillMsg<'a> {
    fill_id: u64,
    order_id: u64,
    account: &'a str,
    strategy: u16,
    symbol: &'a str,
    side: &'static str,
    product: &'static str,
    qty: u64,
    price_paise: i64,
    charges_paise: i64,
    ts_ns: i64,
}

#[derive(Serialize)]
struct PositionMsg<'a> {
    account: &'a str,
    symbol: &'a str,
    product: &'static str,
    net_qty: i64,
    avg_price_paise: f64,
    realized_paise: i64,
    unrealized_paise: i64,
    ts_ns: i64,
}

#[derive(Serialize)]
struct PnlMsg<'a> {
    account: &'a str,
    realized_paise: i64,
    unrealized_paise: i64,
    charges_paise: i64,
    net_paise: i64,
    ts_ns: i64,
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

struct Publisher {
    client: redis::Client,
    opts: RedisOptions,
    names: Names,
    keys: RedisNames,
    /// Channel and stream name per kind, built once.
    channels: [String; 6],
    streams: [String; 6],
    shared: Arc<Shared>,
    con: Option<redis::Connection>,
    ever_connected: bool,
    next_attempt: Instant,
    backoff: Duration,
    positions: HashMap<(AccountId, InstrumentId, Product), PositionSnapshot>,
    pnl: HashMap<AccountId, PnlSnapshot>,
}

const KINDS: [Kind; 6] = [Kind::Ticks, Kind::Candles, Kind::Orders, Kind::Fills, Kind::Positions, Kind::Pnl];

impl Publisher {
    fn new(client: redis::Client, opts: RedisOptions, names: Names, shared: Arc<Shared>) -> Publisher {
        let keys = RedisNames::new(&opts.prefix);
        Publisher {
            client,
            channels: KINDS.map(|k| keys.channel(k)),
            streams: KINDS.map(|k| keys.stream(k)),
            keys,
            backoff: opts.min_backoff,
            opts,
            names,
            shared,
            con: None,
            ever_connected: false,
            next_attempt: Instant::now(),
            positions: HashMap::new(),
            pnl: HashMap::new(),
        }
    }

    fn run(&mut self, rx: Receiver<RedisEvent>) {
        let max_batch = self.opts.max_batch.max(1);
        let mut batch: Vec<RedisEvent> = Vec::with_capacity(max_batch);
        loop {
            if self.con.is_none() && Instant::now() >= self.next_attempt {
                self.connect();
            }
            let stopping = self.shared.stop.load(Relaxed);
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(ev) => batch.push(ev),
                Err(RecvTimeoutError::Timeout) if stopping => break,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while batch.len() < max_batch {
                match rx.try_recv() {
                    Ok(ev) => batch.push(ev),
                    Err(_) => break,
                }
            }
            self.send(&batch);
            batch.clear();
        }
    }

    fn fail(&mut self, e: &redis::RedisError) {
        self.con = None;
        self.shared.down(e);
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(self.opts.max_backoff);
    }

    fn connect(&mut self) {
        let t = self.opts.io_timeout;
        let attempt = self.client.get_connection_with_timeout(t).and_then(|mut c| {
            c.set_read_timeout(Some(t))?;
            c.set_write_timeout(Some(t))?;
            redis::cmd("PING").query::<String>(&mut c)?;
            Ok(c)
        });
        match attempt {
            Ok(c) => {
                self.con = Some(c);
                if self.ever_connected {
                    self.shared.reconnects.fetch_add(1, Relaxed);
                }
                self.ever_connected = true;
                self.backoff = self.opts.min_backoff;
                self.shared.up();
                self.resync();
            }
            Err(e) => {
                self.shared.connect_failures.fetch_add(1, Relaxed);
                self.fail(&e);
            }
        }
    }

    /// Rewrites the position and P&L hashes from the latest values seen.
    fn resync(&mut self) {
        if self.positions.is_empty() && self.pnl.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for p in self.positions.values() {
            self.hset_position(&mut pipe, p);
        }
        for p in self.pnl.values() {
            self.hset_pnl(&mut pipe, p);
        }
        if let Some(con) = self.con.as_mut() {
            if let Err(e) = pipe.exec(con) {
                self.shared.errors.fetch_add(1, Relaxed);
                self.fail(&e);
            }
        }
    }

    fn position_json(&self, p: &PositionSnapshot) -> String {
        json(&PositionMsg {
            account: self.names.account(p.account),
            symbol: self.names.symbol(p.instrument),
            product: p.product.as_str(),
            net_qty: p.net_qty,
            avg_price_paise: p.avg_price,
            realized_paise: p.realized.0,
            unrealized_paise: p.unrealized.0,
            ts_ns: p.ts.0,
        })
    }

    fn pnl_json(&self, p: &PnlSnapshot) -> String {
        json(&PnlMsg {
            account: self.names.account(p.account),
            realized_paise: p.realized.0,
            unrealized_paise: p.unrealized.0,
            charges_paise: p.charges.0,
            net_paise: p.realized.0 + p.unrealized.0 - p.charges.0,
            ts_ns: p.ts.0,
        })
    }

    fn hset_position(&self, pipe: &mut redis::Pipeline, p: &PositionSnapshot) {
        let key = self.keys.positions_key(self.names.account(p.account));
        let field = RedisNames::position_field(self.names.symbol(p.instrument), p.product);
        pipe.cmd("HSET").arg(key).arg(field).arg(self.position_json(p)).ignore();
    }

    fn hset_pnl(&self, pipe: &mut redis::Pipeline, p: &PnlSnapshot) {
        let key = self.keys.pnl_key(self.names.account(p.account));
        pipe.cmd("HSET")
            .arg(key)
            .arg("realized_paise")
            .arg(p.realized.0)
            .arg("unrealized_paise")
            .arg(p.unrealized.0)
            .arg("charges_paise")
            .arg(p.charges.0)
            .arg("net_paise")
            .arg(p.realized.0 + p.unrealized.0 - p.charges.0)
            .arg("ts_ns")
            .arg(p.ts.0)
            .ignore();
    }

    fn emit(&self, pipe: &mut redis::Pipeline, kind: Kind, payload: String, stream: bool) {
        let i = kind as usize;
        if stream {
            pipe.cmd("XADD")
                .arg(&self.streams[i])
                .arg("MAXLEN")
                .arg("~")
                .arg(self.opts.stream_maxlen)
                .arg("*")
                .arg("data")
                .arg(&payload)
                .ignore();
        }
        pipe.cmd("PUBLISH").arg(&self.channels[i]).arg(payload).ignore();
    }

    fn send(&mut self, batch: &[RedisEvent]) {
        // The latest positions and P&L are kept whatever the connection, for the resync.
        for ev in batch {
            match ev {
                RedisEvent::Position(p) => {
                    self.positions.insert((p.account, p.instrument, p.product), *p);
                }
                RedisEvent::Pnl(p) => {
                    self.pnl.insert(p.account, *p);
                }
                _ => {}
            }
        }
        if self.con.is_none() {
            self.shared.discarded.fetch_add(batch.len() as u64, Relaxed);
            return;
        }
        let mut pipe = redis::pipe();
        for ev in batch {
            match ev {
                RedisEvent::Tick(t) => {
                    if self.opts.publish_ticks {
                        let m = TickMsg {
                            symbol: self.names.symbol(t.instrument),
                            ts_ns: t.ts.0,
                            price_paise: t.price.0,
                            qty: t.qty.0,
                        };
                        self.emit(&mut pipe, Kind::Ticks, json(&m), true);
                    }
                }
                RedisEvent::Candle(c) => {
                    let m = CandleMsg {
                        symbol: self.names.symbol(c.instrument),
                        spec: c.spec.to_string(),
                        start_ns: c.start.0,
                        end_ns: c.end.0,
                        open_paise: c.open.0,
                        high_paise: c.high.0,
                        low_paise: c.low.0,
                        close_paise: c.close.0,
                        volume: c.volume.0,
                        trades: c.trades,
                        turnover_paise: c.turnover,
                        oi: c.oi,
                        amended: c.amended,
                    };
                    self.emit(&mut pipe, Kind::Candles, json(&m), true);
                }
                RedisEvent::Order(o) => {
                    let i = &o.intent;
                    let m = OrderMsg {
                        order_id: o.id.0,
                        account: self.names.account(i.account),
                        strategy: i.strategy.0,
                        symbol: self.names.symbol(i.instrument),
                        side: i.side.as_str(),
                        order_type: i.order_type.as_str(),
                        product: i.product.as_str(),
                        validity: i.validity.as_str(),
                        qty: i.qty.0,
                        price_paise: i.price.0,
                        trigger_paise: i.trigger.0,
                        status: o.status.as_str(),
                        filled_qty: o.filled.0,
                        avg_price_paise: o.avg_fill_price(),
                        reject_reason: o.reject.map(|r| r.as_str()),
                        tag: i.tag.as_str(),
                        created_ns: o.created.0,
                        updated_ns: o.updated.0,
                    };
                    self.emit(&mut pipe, Kind::Orders, json(&m), true);
                }
                RedisEvent::Fill(f) => {
                    let m = FillMsg {
                        fill_id: f.id.0,
                        order_id: f.order.0,
                        account: self.names.account(f.account),
                        strategy: f.strategy.0,
                        symbol: self.names.symbol(f.instrument),
                        side: f.side.as_str(),
                        product: f.product.as_str(),
                        qty: f.qty.0,
                        price_paise: f.price.0,
                        charges_paise: f.charges.0,
                        ts_ns: f.ts.0,
                    };
                    self.emit(&mut pipe, Kind::Fills, json(&m), true);
                }
                RedisEvent::Position(p) => {
                    self.hset_position(&mut pipe, p);
                    self.emit(&mut pipe, Kind::Positions, self.position_json(p), true);
                }
                RedisEvent::Pnl(p) => {
                    self.hset_pnl(&mut pipe, p);
                    self.emit(&mut pipe, Kind::Pnl, self.pnl_json(p), false);
                }
            }
        }
        let Some(con) = self.con.as_mut() else { return };
        match pipe.exec(con) {
            Ok(()) => {
                self.shared.published.fetch_add(batch.len() as u64, Relaxed);
            }
            Err(e) => {
                self.shared.errors.fetch_add(1, Relaxed);
                self.shared.discarded.fetch_add(batch.len() as u64, Relaxed);
                self.fail(&e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_scheme() {
        let n = RedisNames::new("t1");
        assert_eq!(n.channel(Kind::Fills), "dalal:t1:fills");
        assert_eq!(n.stream(Kind::Ticks), "dalal:t1:stream:ticks");
        assert_eq!(n.positions_key("alice"), "dalal:t1:pos:alice");
        assert_eq!(n.pnl_key("alice"), "dalal:t1:pnl:alice");
        assert_eq!(RedisNames::position_field("INFY", Product::Mis), "INFY:MIS");
    }
}
