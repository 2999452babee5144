//! The commands: wiring config, feeds, the engine and the reports.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use dalal_adapters::{
    convert_bin_to_csv, convert_csv_to_bin, detect_format, file_symbols, load_any, open_ticks, write_ticks_csv,
    BinTickFile, Pacer, RejectCounts, ReplayClock, ReplaySpeed, SymbolTable, SyntheticConfig, SyntheticFeed,
    SyntheticInstrument, TickFileFormat,
};
use dalal_admin::{AdminConfig, Gauge, ViewObserver};
use dalal_config::{Config, FeedKind};
use dalal_core::engine::backtest::{self, Blotter};
use dalal_core::engine::placement::{EgressObserver, IngressConsumer, PlacementConfig, Running};
use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::stats::LiveStats;
use dalal_core::engine::summary::RunSummary;
use dalal_core::engine::Engine;
use dalal_core::metrics::{LatencyHistogram, Percentiles};
use dalal_core::model::time::{NANOS_PER_DAY, NANOS_PER_SEC};
use dalal_core::model::Timestamp;
use dalal_core::model::{EgressEvent, Input, Tick};
use dalal_core::model::{IngressEvent, TickReject};
use dalal_persistence::journal::{
    latest_snapshot, read_journal, write_snapshot, FsyncPolicy, JournalConsumer, JournalWriter, SnapshotWriter,
};
use dalal_persistence::store::{StoreSender, StoreWriterHandle};
use dalal_persistence::{
    refeed_store, Fanout, PnlSnapshot, RedisEvent, RedisOptions, RedisPublisher, RedisPublisherHandle, StoreOptions,
    StoreWriter,
};

use crate::cli::{BacktestArgs, ConvertArgs, GenArgs, ReplayArgs, RunArgs};

/// Reads and validates a config file; errors name the file and the key.
pub fn load_config(path: &Path) -> Result<(Config, EngineSetup)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config {}", path.display()))?;
    let config: Config = toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
    let setup = config.validate().map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
    Ok((config, setup))
}

fn placement(config: &Config) -> PlacementConfig {
    PlacementConfig {
        placement: config.engine.placement,
        wait: config.engine.wait,
        sleep: Duration::from_micros(config.engine.sleep_us),
        cores: config.engine.cores.clone(),
        ring_size: config.engine.ring_size,
    }
}

/// Watches the egress ring on its own thread: tick-to-order latency for progress lines, and
/// the hand-off to the SQL store and Redis (non-blocking queues; a slow or absent service only
/// costs dropped, counted events, never the hot path's time).
struct RunObserver {
    tick_to_order: LatencyHistogram,
    shared: Arc<Mutex<Percentiles>>,
    last_share: Instant,
    fanout: Fanout,
    live: Arc<LiveStats>,
    last_pnl: Instant,
    /// The admin console's view of orders, fills, positions and candles.
    view: ViewObserver,
}

impl EgressObserver for RunObserver {
    fn on_event(&mut self, ev: &EgressEvent) {
        self.view.on_event(ev);
        if let EgressEvent::Order { tick_to_order_ns, .. } = *ev {
            if tick_to_order_ns > 0 {
                self.tick_to_order.record(tick_to_order_ns);
            }
        }
        self.fanout.on_event(ev);
    }

    fn on_idle(&mut self) {
        self.view.on_idle();
        if self.last_share.elapsed() >= Duration::from_millis(500) {
            self.last_share = Instant::now();
            if let Ok(mut p) = self.shared.lock() {
                *p = self.tick_to_order.percentiles();
            }
        }
        if let Some(r) = &self.fanout.redis {
            if self.last_pnl.elapsed() >= Duration::from_secs(1) {
                self.last_pnl = Instant::now();
                let snap = self.live.snapshot();
                for (a, ((realized, unrealized), charges)) in
                    snap.realized.iter().zip(&snap.unrealized).zip(&snap.charges).enumerate()
                {
                    r.try_publish(RedisEvent::Pnl(PnlSnapshot {
                        ts: Timestamp::now(),
                        account: dalal_core::model::AccountId(a as u16),
                        realized: dalal_core::model::Money(*realized),
                        unrealized: dalal_core::model::Money(*unrealized),
                        charges: dalal_core::model::Money(*charges),
                    }));
                }
            }
        }
    }
}

/// Brings the database schema up to date once, before the writer and the console (which both
/// use it) start. A database that does not answer is left to the writer's retries.
fn migrate(url: &str, setup: &EngineSetup) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!(error = %e, "no runtime for migrations");
            return;
        }
    };
    let opts = StoreOptions { connect_timeout: Duration::from_secs(5), ..StoreOptions::default() };
    let result = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), dalal_persistence::Store::open(url, setup, opts)).await
    });
    match result {
        Ok(Ok(store)) => rt.block_on(store.close()),
        Ok(Err(e)) => tracing::warn!(error = %e, "database not ready at start; the writer will keep trying"),
        Err(_) => tracing::warn!("database did not answer within 10 s at start; the writer will keep trying"),
    }
}

/// This run's name in the SQL store: kept in the journal directory, so a recovered run
/// continues the same rows instead of starting new ones.
fn run_id(journal: Option<&Path>) -> Result<String> {
    let fresh = format!("run-{}", Timestamp::now().0);
    let Some(dir) = journal else { return Ok(fresh) };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("run.id");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => {
            std::fs::write(&path, &fresh).with_context(|| format!("writing {}", path.display()))?;
            Ok(fresh)
        }
    }
}

/// Restores the newest usable snapshot into `engine` and returns the journal sequence it
/// covers (0: none, replay everything). A snapshot that cannot be used is reported and skipped;
/// the engine is then rebuilt fresh, since a failed restore may have left it half changed.
fn restore_latest_snapshot(
    dir: &Path,
    last_seq: u64,
    engine: &mut Engine,
    setup: &EngineSetup,
    config: &Config,
) -> u64 {
    let mut skipped = Vec::new();
    let found = latest_snapshot(dir, last_seq, &mut skipped);
    for s in &skipped {
        println!("journal: snapshot skipped: {s}");
    }
    let Some(found) = found else { return 0 };
    match engine.restore_snapshot(&found.bytes) {
        Ok(h) => h.applied,
        Err(e) => {
            println!("journal: snapshot {} not used ({e}); replaying the whole journal", found.path.display());
            *engine = Engine::new(setup, engine.clock().clone(), config.engine.latency_sample_every);
            0
        }
    }
}

/// The store's and Redis publisher's lag and health, for `/metrics`.
fn persistence_gauges(store: Option<&StoreWriterHandle>, redis: Option<&RedisPublisherHandle>) -> Vec<Gauge> {
    let mut gauges = Vec::new();
    if let Some(st) = store {
        let (q, a, u) = (st.sender(), st.sender(), st.sender());
        gauges.extend([
            Gauge::new(
                "store_queue",
                "Events waiting for the SQL store writer: its lag behind the engine.",
                move || q.queued() as f64,
            ),
            Gauge::new("store_db_available", "1 while the SQL database answers.", move || {
                f64::from(u8::from(a.db_available()))
            }),
            Gauge::new(
                "store_unwritten",
                "1 while some dropped events wait to be re-fed from the journal.",
                move || f64::from(u8::from(u.has_unwritten())),
            ),
        ]);
    }
    if let Some(r) = redis {
        let (q, c) = (r.sender(), r.sender());
        gauges.extend([
            Gauge::new(
                "redis_queue",
                "Events waiting for the Redis publisher: its lag behind the engine.",
                move || q.queued() as f64,
            ),
            Gauge::new("redis_connected", "1 while the Redis publisher is connected.", move || {
                f64::from(u8::from(c.connected()))
            }),
        ]);
    }
    gauges
}

/// Where a stop during a database outage leaves the first egress sequence the store lacks.
const UNWRITTEN_FILE: &str = "store.unwritten";

fn note_unwritten(dir: &Path, seq: Option<u64>) {
    let path = dir.join(UNWRITTEN_FILE);
    let result = match seq {
        Some(q) => std::fs::write(&path, q.to_string()),
        None => std::fs::remove_file(&path).or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        }),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, path = %path.display(), "cannot record the store's unwritten tail");
    }
}

/// Re-feeds events the store dropped (its queue overflowed while the database was down) from
/// the journal, once the database is back; and once more at the end of the run.
struct Refeeder {
    thread: thread::JoinHandle<RefeedTotals>,
    dir: PathBuf,
    setup: EngineSetup,
    capacity: usize,
}

#[derive(Clone, Copy, Debug, Default)]
struct RefeedTotals {
    resubmitted: u64,
    passes: u64,
}

impl RefeedTotals {
    /// One pass from the first unwritten sequence, if there is one and the database answers.
    fn pass(&mut self, dir: &Path, setup: &EngineSetup, sender: &StoreSender, capacity: usize) {
        // While the writer is still catching up, the live stream would only drop again behind
        // the re-feed: wait for the database to answer and the queue to drain first.
        if !sender.db_available() || sender.queued() > capacity / 2 {
            return;
        }
        let Some(from) = sender.take_first_unwritten_seq() else { return };
        match refeed_store(dir, setup, from, sender) {
            Ok(st) => {
                self.passes += 1;
                self.resubmitted += st.resubmitted;
                tracing::info!(from, resubmitted = st.resubmitted, snapshot = st.snapshot_applied, "store re-fed");
            }
            Err(e) => {
                sender.remember_unwritten(from);
                tracing::warn!(error = %e, from, "store re-feed did not finish; will retry");
            }
        }
    }
}

impl Refeeder {
    fn start(
        dir: &Path,
        setup: &EngineSetup,
        sender: StoreSender,
        capacity: usize,
        stop: Arc<AtomicBool>,
    ) -> Result<Refeeder> {
        // A stop during an earlier outage left the store's gap here.
        if let Some(q) = std::fs::read_to_string(dir.join(UNWRITTEN_FILE)).ok().and_then(|t| t.trim().parse().ok()) {
            sender.remember_unwritten(q);
        }
        let (d, s) = (dir.to_path_buf(), setup.clone());
        let thread = thread::Builder::new().name("dalal-refeed".into()).spawn(move || {
            let mut totals = RefeedTotals::default();
            while !stop.load(Ordering::Acquire) {
                thread::sleep(Duration::from_millis(250));
                totals.pass(&d, &s, &sender, capacity);
            }
            totals
        })?;
        Ok(Refeeder { thread, dir: dir.to_path_buf(), setup: setup.clone(), capacity })
    }

    /// After the engine has stopped (the journal is complete): drains the queue and re-feeds
    /// whatever is still missing.
    fn finish(self, store: Option<&StoreWriterHandle>) -> RefeedTotals {
        let mut totals = self.thread.join().unwrap_or_default();
        let Some(store) = store else { return totals };
        for _ in 0..3 {
            store.flush(Duration::from_secs(10));
            if store.first_unwritten_seq().is_none() {
                break;
            }
            totals.pass(&self.dir, &self.setup, &store.sender(), self.capacity);
        }
        totals
    }
}

pub fn run(args: RunArgs) -> Result<()> {
    let (mut config, setup) = load_config(&args.config)?;
    match args.feed.as_deref() {
        None => {}
        Some("synthetic") => config.feed.kind = FeedKind::Synthetic,
        Some(f) => {
            let (kind, path) =
                f.split_once(':').with_context(|| format!("--feed {f:?}: expected synthetic, csv:PATH or bin:PATH"))?;
            config.feed.kind = match kind {
                "csv" | "bin" => FeedKind::Csv,
                other => bail!("--feed {other:?}: expected synthetic, csv:PATH or bin:PATH"),
            };
            config.feed.path = Some(path.to_string());
        }
    }
    let speed = ReplaySpeed::parse(&args.speed).map_err(|e| anyhow::anyhow!("--speed: {e}"))?;
    let mut initial_done = false;
    let symbols = Arc::new(SymbolTable::new(&setup.instruments).context("instrument table")?);
    let clock = quanta::Clock::new();
    let live = Arc::new(LiveStats::with_instruments(setup.accounts.len(), setup.instruments.len()));
    let shared_latency = Arc::new(Mutex::new(Percentiles::default()));
    // The environment overrides the file, so one config serves several deployments.
    if let Ok(url) = std::env::var("DALAL_DATABASE_URL") {
        config.persistence.database_url = url;
    }
    if let Ok(url) = std::env::var("DALAL_REDIS_URL") {
        config.persistence.redis_url = url;
    }
    let persist = &config.persistence;
    let store = if persist.database_url.is_empty() {
        None
    } else {
        if persist.database_url.starts_with("sqlite://data/") {
            std::fs::create_dir_all("data").context("creating data/")?;
        }
        migrate(&persist.database_url, &setup);
        let opts = StoreOptions {
            run_id: run_id(args.journal.as_deref())?,
            connect_timeout: Duration::ZERO,
            capacity: persist.store_queue.max(1),
            ..StoreOptions::default()
        };
        Some(StoreWriter::start_with(&persist.database_url, &setup, opts).context("starting the SQL store")?)
    };
    let redis = if persist.redis_url.is_empty() {
        None
    } else {
        let opts = RedisOptions {
            url: persist.redis_url.clone(),
            prefix: persist.redis_prefix.clone(),
            ..RedisOptions::default()
        };
        Some(RedisPublisher::start(opts, &setup).context("starting the Redis publisher")?)
    };
    let mut engine = Engine::new(&setup, clock.clone(), config.engine.latency_sample_every);
    // With a journal: rebuild state from it (the engine is a function of its ingress
    // sequence), then journal everything new on a branch of the ingress ring.
    let mut resume_after = 0u64;
    let mut branch: Option<Box<dyn IngressConsumer>> = None;
    let mut snapshots: Option<SnapshotWriter> = None;
    if let Some(dir) = &args.journal {
        let policy = FsyncPolicy::parse(&args.fsync)
            .with_context(|| format!("--fsync {:?}: expected none, batch or Nms", args.fsync))?;
        let (writer, recovery) =
            JournalWriter::open(dir, policy).with_context(|| format!("opening journal {}", dir.display()))?;
        if let Some(t) = &recovery.truncated {
            println!(
                "journal: cut a torn or corrupt tail in {} at byte {} ({} bytes, {}; {} later segments dropped)",
                t.segment.display(),
                t.offset,
                t.bytes,
                t.reason,
                t.dropped_segments
            );
        }
        if !recovery.records.is_empty() {
            let t0 = Instant::now();
            let from = restore_latest_snapshot(dir, recovery.last_seq(), &mut engine, &setup, &config);
            for r in recovery.records.iter().filter(|r| r.seq > from) {
                engine.step(&IngressEvent { input: r.input, ingress_raw: 0, source: r.source }, &mut |_| {});
            }
            resume_after = recovery.last_source();
            println!(
                "journal: recovered {} events (sequence 1..={}) in {:.2}s: {} from a snapshot, {} replayed; \
                 resuming after source record {}",
                recovery.records.len(),
                recovery.last_seq(),
                t0.elapsed().as_secs_f64(),
                from,
                recovery.last_seq() - from,
                resume_after
            );
        }
        let every = args.snapshot_every.unwrap_or_else(|| Duration::from_millis(config.persistence.snapshot_every_ms));
        if config.engine.placement != dalal_core::engine::placement::PlacementKind::Fused {
            tracing::warn!("engine snapshots need the fused placement; recovery will replay the whole journal");
        } else if !every.is_zero() {
            let w = SnapshotWriter::start(dir, every).context("starting the snapshot writer")?;
            engine.set_snapshots(w.sink());
            snapshots = Some(w);
        }
        let fresh = recovery.records.is_empty();
        branch = Some(Box::new(JournalConsumer::new(writer)));
        if !fresh {
            // Start-of-run commands are already in the journal.
            initial_done = true;
        }
    }
    let (view_observer, link_parts) = dalal_admin::observer(&setup, live.clone());
    let observer = RunObserver {
        tick_to_order: LatencyHistogram::new(),
        shared: shared_latency.clone(),
        last_share: Instant::now(),
        fanout: Fanout::for_engine(store.as_ref().map(|s| s.sender()), redis.as_ref().map(|r| r.sender()), &engine),
        live: live.clone(),
        last_pnl: Instant::now(),
        view: view_observer,
    };
    let place = placement(&config);
    tracing::info!(placement = ?place.placement, wait = ?place.wait, cores = ?place.cores, "starting engine");
    let mut running = Running::start_with(engine, &place, observer, live.clone(), branch);
    if !initial_done {
        for cmd in setup.initial_commands() {
            running.publish(Input::Command(cmd), &clock);
        }
    }
    // The console: its own runtime and threads; it reads what the observer publishes and
    // sends commands through the ingress ring. A busy port costs the console, not the run.
    let listen = args
        .admin_listen
        .clone()
        .or_else(|| std::env::var("DALAL_ADMIN_LISTEN").ok())
        .unwrap_or_else(|| config.admin.listen.clone());
    let admin = if listen.is_empty() {
        None
    } else {
        let addr: std::net::SocketAddr = listen.parse().with_context(|| format!("admin listen address {listen:?}"))?;
        let producer = running.producer().context("ingress ring closed")?;
        let link = link_parts.connect(setup.clone(), live.clone(), producer, Some(running.progress().clone()));
        let store_url = (!config.persistence.database_url.is_empty()).then(|| config.persistence.database_url.clone());
        let gauges = persistence_gauges(store.as_ref(), redis.as_ref());
        let cfg = AdminConfig {
            listen: addr,
            cores: config.admin.cores.clone(),
            store_url,
            journal: args.journal.is_some(),
            gauges,
            ..AdminConfig::default()
        };
        match dalal_admin::serve(link, cfg) {
            Ok(h) => {
                println!("admin console on http://{}", h.local_addr());
                Some(h)
            }
            Err(e) => {
                tracing::error!(error = %e, "admin console not started");
                None
            }
        }
    };

    let stop = Arc::new(AtomicBool::new(false));
    let feed_done = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::Release)).context("installing Ctrl-C handler")?;
    }
    // A synthetic market keeps its own clock: outside trading hours it starts at today's open,
    // so sessions, candles and risk behave as they would during the day.
    let offset_ns = match config.feed.kind {
        FeedKind::Synthetic => {
            let now = Timestamp::now();
            if setup.session.contains(now) {
                0
            } else {
                // Today's open, or the last weekday's at weekends.
                let mut open = setup.session.open_on(now);
                while !setup.session.contains(open) {
                    open = Timestamp(open.0 - dalal_core::model::time::NANOS_PER_DAY);
                }
                open.0 - now.0
            }
        }
        FeedKind::Csv => 0,
    };
    let market_now = move || Timestamp(Timestamp::now().0 + offset_ns);
    let mut producer = running.producer().context("ingress ring closed")?;
    let feed_rejects = Arc::new(Mutex::new(RejectCounts::default()));
    let feed_thread = {
        let (stop, done, clock, rejects) = (stop.clone(), feed_done.clone(), clock.clone(), feed_rejects.clone());
        let feed = config.feed.clone();
        let setup = setup.clone();
        let symbols = symbols.clone();
        let mut pacer = Pacer::new(feed.rate);
        match feed.kind {
            FeedKind::Synthetic => {
                let cfg = SyntheticConfig {
                    seed: feed.seed,
                    instruments: setup
                        .instruments
                        .iter()
                        .zip(&setup.ref_prices)
                        .map(|(s, p)| SyntheticInstrument::from_spec(s, *p))
                        .collect(),
                };
                let mut gen = SyntheticFeed::new(&cfg).context("synthetic feed")?;
                thread::Builder::new().name("dalal-feed".into()).spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        pacer.wait_for_next();
                        let t = gen.next(market_now());
                        producer.publish(|e| {
                            e.input = Input::Tick(t);
                            e.ingress_raw = clock.raw();
                            e.source = 0;
                        });
                    }
                    done.store(true, Ordering::Release);
                })?
            }
            FeedKind::Csv => {
                let path = PathBuf::from(feed.path.clone().unwrap_or_default());
                let format = detect_format(&path)?;
                let mut replay = ReplayClock::new(speed);
                let mut last_second = i64::MIN;
                let mut index = 0u64;
                // A replay keeps event time: timers come from the file's clock (one per second
                // of trading), never from the wall clock. After a recovery, records up to the
                // last journaled one are skipped (only their clock is followed).
                let mut publish = move |t: Tick| {
                    index += 1;
                    let second = t.ts.0.div_euclid(NANOS_PER_SEC);
                    if index <= resume_after {
                        last_second = second;
                        return;
                    }
                    replay.wait_for(t.ts);
                    if second > last_second {
                        if last_second != i64::MIN {
                            producer.publish(|e| {
                                e.input = Input::Timer(Timestamp(second * NANOS_PER_SEC));
                                e.ingress_raw = 0;
                                e.source = 0;
                            });
                        }
                        last_second = second;
                    }
                    producer.publish(|e| {
                        e.input = Input::Tick(t);
                        e.ingress_raw = clock.raw();
                        e.source = index;
                    });
                };
                match format {
                    TickFileFormat::Binary => {
                        let file = BinTickFile::open(&path)?;
                        thread::Builder::new().name("dalal-feed".into()).spawn(move || {
                            let mut local = RejectCounts::default();
                            let mut it = file.ticks(&symbols);
                            for item in it.by_ref() {
                                if stop.load(Ordering::Acquire) {
                                    break;
                                }
                                match item {
                                    Ok(t) => publish(t),
                                    Err((reason, _)) => local.add(reason),
                                }
                            }
                            let stats = it.stats();
                            if stats.duplicates > 0 || stats.gaps > 0 {
                                tracing::warn!(
                                    duplicates = stats.duplicates,
                                    gaps = stats.gaps,
                                    "sequence problems in feed"
                                );
                            }
                            if let Ok(mut g) = rejects.lock() {
                                *g = local;
                            }
                            done.store(true, Ordering::Release);
                        })?
                    }
                    TickFileFormat::Csv => {
                        let mut stream =
                            open_ticks(&path, symbols).with_context(|| format!("opening feed {}", path.display()))?;
                        thread::Builder::new().name("dalal-feed".into()).spawn(move || {
                            let mut local = RejectCounts::default();
                            for item in stream.by_ref() {
                                if stop.load(Ordering::Acquire) {
                                    break;
                                }
                                match item {
                                    Ok(t) => publish(t),
                                    Err(r) => {
                                        if local.total() < 10 {
                                            tracing::warn!(line = r.line, reason = r.reason.as_str(), detail = %r.detail, "tick refused");
                                        }
                                        local.add(r.reason);
                                    }
                                }
                            }
                            if let Some(e) = stream.io_error() {
                                tracing::error!(error = %e, "feed read failed");
                            }
                            if let Ok(mut g) = rejects.lock() {
                                *g = local;
                            }
                            done.store(true, Ordering::Release);
                        })?
                    }
                }
            }
        }
    };
    let wall_timers = config.feed.kind == FeedKind::Synthetic;
    let timer_thread = wall_timers.then(|| -> Result<_> {
        let (stop, clock) = (stop.clone(), clock.clone());
        let mut producer = running.producer().context("ingress ring closed")?;
        let period = Duration::from_secs_f64(1.0 / config.feed.timer_hz.max(1) as f64);
        Ok(thread::Builder::new().name("dalal-timer".into()).spawn(move || {
            while !stop.load(Ordering::Acquire) {
                thread::sleep(period);
                producer.publish(|e| {
                    e.input = Input::Timer(market_now());
                    e.ingress_raw = clock.raw();
                    e.source = 0;
                });
            }
        })?)
    });
    let timer_thread = timer_thread.transpose()?;
    let refeeder = match (&store, &args.journal) {
        (Some(st), Some(dir)) => {
            Some(Refeeder::start(dir, &setup, st.sender(), config.persistence.store_queue.max(1), stop.clone())?)
        }
        _ => None,
    };

    let names: Vec<String> = setup.accounts.iter().map(|a| a.name.clone()).collect();
    let start = Instant::now();
    let every = Duration::from_secs(config.engine.summary_every_s.max(1));
    let mut next_report = start + every;
    loop {
        thread::sleep(Duration::from_millis(50));
        let out_of_time = args.duration.is_some_and(|d| start.elapsed() >= d);
        if stop.load(Ordering::Acquire) || feed_done.load(Ordering::Acquire) || out_of_time {
            break;
        }
        if Instant::now() >= next_report {
            next_report += every;
            let p = shared_latency.lock().map(|p| *p).unwrap_or_default();
            print!("{}", dalal_admin::render_progress(start.elapsed().as_secs_f64(), &live.snapshot(), &p, &names));
        }
    }
    stop.store(true, Ordering::Release);
    if let Some(a) = admin {
        // It holds an ingress producer; the engine stops once every producer is gone.
        a.shutdown();
    }
    let _ = feed_thread.join();
    if let Some(t) = timer_thread {
        let _ = t.join();
    }
    let mut stopped = running.stop();
    let elapsed = start.elapsed();
    stopped.engine.stop_snapshots();
    if let Some(w) = snapshots {
        let st = w.stop();
        if st.written + st.errors > 0 {
            println!(
                "snapshots: {} written ({} errors), last at sequence {} ({} bytes), longest engine pause {:.2} ms",
                st.written,
                st.errors,
                st.last_applied,
                st.last_bytes,
                st.max_pause.as_secs_f64() * 1e3
            );
        }
    }
    // A clean stop leaves a snapshot of the final state, so a restart replays nothing. (A
    // pipelined engine's stages do not count applied events, so only a fused one can.)
    if let (Some(dir), dalal_core::engine::placement::PlacementKind::Fused) = (&args.journal, config.engine.placement) {
        match stopped.engine.save_snapshot() {
            Ok(bytes) => {
                if let Err(e) = write_snapshot(dir, stopped.engine.applied(), &bytes) {
                    tracing::warn!(error = %e, "final snapshot not written");
                }
            }
            Err(e) => tracing::warn!(error = %e, "final snapshot not taken"),
        }
    }
    for p in stopped.pinning.iter().filter(|p| p.requested.is_some() && !p.pinned) {
        tracing::warn!(thread = %p.thread, core = ?p.requested, "ran unpinned");
    }
    let mut summary = RunSummary::from_engine(&stopped.engine, &setup, true);
    if let Ok(r) = feed_rejects.lock() {
        summary.add_feed_rejects(r.iter());
    }
    println!("ran {:.1}s", elapsed.as_secs_f64());
    if let Some(j) = stopped.branch.as_ref().and_then(|b| b.journal_stats()) {
        println!(
            "journal: {} events appended ({} bytes, {} syncs, {} errors), last sequence {}",
            j.appended, j.bytes, j.syncs, j.errors, j.last_seq
        );
    }
    print!("{}", dalal_admin::render_summary(&summary));
    let mut extra = serde_json::Map::new();
    let refed = refeeder.map(|r| r.finish(store.as_ref())).unwrap_or_default();
    if let Some(s) = store {
        let st = s.flush_and_stop();
        if let Some(dir) = &args.journal {
            note_unwritten(dir, st.first_unwritten_seq);
        }
        println!(
            "store: {} events written in {} batches, {} dropped, {} re-fed from the journal in {} passes, \
             {} db errors, {:.1}s unavailable{}",
            st.written,
            st.batches,
            st.dropped,
            refed.resubmitted,
            refed.passes,
            st.db_errors,
            st.outage_secs,
            st.first_unwritten_seq
                .map(|q| format!(", unwritten from egress #{q} (re-fed from the journal at the next start)"))
                .unwrap_or_default()
        );
        extra.insert(
            "store".into(),
            serde_json::json!({"written": st.written, "dropped": st.dropped, "refed": refed.resubmitted,
                "refeed_passes": refed.passes, "db_errors": st.db_errors,
                "outage_secs": st.outage_secs, "first_unwritten_seq": st.first_unwritten_seq}),
        );
    }
    if let Some(r) = redis {
        let st = r.stop();
        println!(
            "redis: {} published, {} dropped, {} discarded while down, {} outages ({:.1}s), {} reconnects",
            st.published, st.dropped, st.discarded, st.outages, st.outage_secs, st.reconnects
        );
        extra.insert(
            "redis".into(),
            serde_json::json!({"published": st.published, "dropped": st.dropped, "discarded": st.discarded,
                "outages": st.outages, "outage_secs": st.outage_secs, "reconnects": st.reconnects}),
        );
    }
    if let Some(path) = &args.summary_json {
        let mut v = serde_json::to_value(&summary)?;
        if let (Some(m), false) = (v.as_object_mut(), extra.is_empty()) {
            m.insert("persistence".into(), serde_json::Value::Object(extra));
        }
        std::fs::write(path, serde_json::to_string_pretty(&v)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

pub fn backtest(args: BacktestArgs) -> Result<()> {
    let (_config, setup) = load_config(&args.config)?;
    let symbols = SymbolTable::new(&setup.instruments).context("instrument table")?;
    let t0 = Instant::now();
    let (loaded, seq) = load_any(&args.data, &symbols).with_context(|| format!("loading {}", args.data.display()))?;
    let load_s = t0.elapsed().as_secs_f64();
    if let Some(s) = seq.filter(|s| s.duplicates > 0 || s.gaps > 0) {
        tracing::warn!(duplicates = s.duplicates, gaps = s.gaps, "sequence problems in {}", args.data.display());
    }
    for s in &loaded.samples {
        tracing::warn!("{s}");
    }
    let t1 = Instant::now();
    let (engine, blotter): (Engine, Blotter) = backtest::run(&setup, &loaded.ticks, 0);
    let engine_s = t1.elapsed().as_secs_f64();
    let mut summary = RunSummary::from_engine(&engine, &setup, false);
    summary.add_feed_rejects(loaded.rejects.iter());
    if let Some(s) = seq {
        summary.add_feed_rejects([(TickReject::DuplicateSequence, s.duplicates)]);
    }
    dalal_persistence::write_run_files(&args.out, &blotter, &summary, &setup)?;
    print!("{}", dalal_admin::render_summary(&summary));
    let n = loaded.ticks.len() as f64;
    println!(
        "engine: {} ticks in {:.3}s = {:.2}M ticks/s | file load: {} records in {:.3}s = {:.2}M records/s",
        loaded.ticks.len(),
        engine_s,
        n / engine_s.max(1e-9) / 1e6,
        loaded.lines,
        load_s,
        loaded.lines as f64 / load_s.max(1e-9) / 1e6
    );
    println!("wrote {}/orders.csv, fills.csv, summary.json", args.out.display());
    Ok(())
}

pub fn convert(args: ConvertArgs) -> Result<()> {
    let symbols = file_symbols(&args.from)?;
    let t0 = Instant::now();
    let stats = match detect_format(&args.from)? {
        TickFileFormat::Csv => convert_csv_to_bin(&args.from, &args.to, &symbols)?,
        TickFileFormat::Binary => convert_bin_to_csv(&args.from, &args.to)?,
    };
    for s in &stats.samples {
        tracing::warn!("{s}");
    }
    println!(
        "converted {} → {}: {} read, {} written, {} refused{} in {:.2}s",
        args.from.display(),
        args.to.display(),
        stats.read,
        stats.written,
        stats.rejects.total(),
        if stats.duplicates > 0 { format!(", {} duplicate sequence numbers", stats.duplicates) } else { String::new() },
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Rebuilds a run from its journal alone and writes what a backtest writes.
pub fn replay(args: ReplayArgs) -> Result<()> {
    let (_config, setup) = load_config(&args.config)?;
    let recovery =
        read_journal(&args.journal, false).with_context(|| format!("reading journal {}", args.journal.display()))?;
    if recovery.records.is_empty() {
        bail!("journal {} holds no events", args.journal.display());
    }
    if let Some(t) = &recovery.truncated {
        println!(
            "journal: ignoring a torn or corrupt tail in {} at byte {} ({})",
            t.segment.display(),
            t.offset,
            t.reason
        );
    }
    let t0 = Instant::now();
    let mut engine = Engine::new(&setup, quanta::Clock::new(), 0);
    let mut blotter = Blotter::default();
    for r in &recovery.records {
        engine.step(&IngressEvent { input: r.input, ingress_raw: 0, source: r.source }, &mut |e| blotter.on_event(&e));
    }
    let summary = RunSummary::from_engine(&engine, &setup, false);
    dalal_persistence::write_run_files(&args.out, &blotter, &summary, &setup)?;
    print!("{}", dalal_admin::render_summary(&summary));
    println!(
        "replayed {} events (sequence 1..={}) in {:.2}s; wrote {}/orders.csv, fills.csv, summary.json",
        recovery.records.len(),
        recovery.last_seq(),
        t0.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

/// Midnight IST of a `YYYY-MM-DD` date, in ns since the epoch.
fn ist_midnight(date: &str) -> Result<i64> {
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts.as_slice() else { bail!("--date {date:?}: expected YYYY-MM-DD") };
    let (y, m, d): (i64, i64, i64) = (y.parse()?, m.parse()?, d.parse()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        bail!("--date {date:?}: not a calendar date");
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * NANOS_PER_DAY - dalal_core::model::time::IST_OFFSET_NS)
}

pub fn gen(args: GenArgs) -> Result<()> {
    let (_config, setup) = load_config(&args.config)?;
    let symbols = SymbolTable::new(&setup.instruments).context("instrument table")?;
    let wanted: Option<Vec<String>> =
        args.symbols.as_ref().map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let mut instruments = Vec::new();
    for (spec, p) in setup.instruments.iter().zip(&setup.ref_prices) {
        if wanted.as_ref().is_none_or(|w| w.contains(&spec.symbol)) {
            instruments.push(SyntheticInstrument::from_spec(spec, *p));
        }
    }
    if let Some(w) = &wanted {
        for s in w {
            if symbols.resolve(s).is_none() {
                bail!("--symbols: {s:?} is not in the config");
            }
        }
    }
    let open = ist_midnight(&args.date)? + setup.session.open.0;
    let session_ns = setup.session.close.0 - setup.session.open.0;
    let spacing = (session_ns / args.ticks.max(1) as i64).max(1);
    let cfg = SyntheticConfig { seed: args.seed, instruments };
    let ticks: Vec<Tick> = dalal_adapters::generate_session(&cfg, Timestamp(open), args.ticks, spacing)?;
    write_ticks_csv(&args.out, &ticks, &symbols).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "wrote {} ticks to {} ({} instruments, one every {:.3}s from {} 09:15 IST)",
        ticks.len(),
        args.out.display(),
        cfg.instruments.len(),
        spacing as f64 / NANOS_PER_SEC as f64,
        args.date
    );
    Ok(())
}
