//! The live runtime behind `dalal run`. [`Runtime::start`] assembles a run in this order, each
//! step depending only on the ones before it:
//!
//! 1. **configuration**: the file, then the environment (`DALAL_DATABASE_URL`,
//!    `DALAL_REDIS_URL`, `DALAL_ADMIN_LISTEN`), then the flags;
//! 2. **persistence**: the SQL store (schema migrated once, before anything writes) and the
//!    Redis publisher — both queues the engine never waits on;
//! 3. **engine**: built fresh, then, with a journal, rebuilt from the newest usable snapshot and
//!    the journal after it, with periodic snapshots from here on;
//! 4. **placement**: the stage threads, the egress observer, the journal on a branch of the
//!    ingress ring, the market feed in line when configured; then the start-of-run commands;
//! 5. **console**: HTTP and WebSocket on its own runtime and threads, sending commands through
//!    the ingress ring;
//! 6. **feeds**: the market feed and the wall-clock timers, each on a thread of its own
//!    publishing through the ingress ring;
//! 7. **store re-feed**: refills the SQL store from the journal after an outage.
//!
//! [`Runtime::wait`] prints progress until the duration is up, the feed has ended or Ctrl-C;
//! [`Runtime::shutdown`] takes it down in reverse: feeds and console (every publisher gone),
//! the engine once everything published is processed, snapshots, then the store and Redis
//! drained, and reports.

mod broker_desk;
mod brokers;

pub(crate) use brokers::LoginClient;
mod feeds;
mod journal;
mod observer;
mod persist;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use dalal_adapters::{ReplaySpeed, SymbolTable};
use dalal_admin::{AdminConfig, AdminHandle};
use dalal_config::Config;
use dalal_core::engine::placement::{Launch, PlacementConfig, Running};
use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::stats::LiveStats;
use dalal_core::engine::summary::RunSummary;
use dalal_core::engine::Engine;
use dalal_core::metrics::{LatencyHistogram, Percentiles};
use dalal_core::model::Input;
use dalal_persistence::journal::{write_snapshot, SnapshotWriter};
use dalal_persistence::store::StoreWriterHandle;
use dalal_persistence::{Fanout, RedisOptions, RedisPublisher, RedisPublisherHandle, StoreOptions, StoreWriter};

use crate::cli::RunArgs;
use crate::commands::load_config;
use feeds::FeedThreads;
use observer::RunObserver;
use persist::Refeeder;

/// A run in progress.
pub struct Runtime {
    args: RunArgs,
    config: Config,
    setup: EngineSetup,
    live: Arc<LiveStats>,
    shared_latency: Arc<Mutex<Percentiles>>,
    store: Option<StoreWriterHandle>,
    redis: Option<RedisPublisherHandle>,
    snapshots: Option<SnapshotWriter>,
    running: Running<RunObserver>,
    admin: Option<AdminHandle>,
    feeds: FeedThreads,
    refeeder: Option<Refeeder>,
    brokers: Option<brokers::Brokers>,
    vault_watch: Option<brokers::VaultWatch>,
    /// Set by Ctrl-C and at shutdown; feeds stop publishing when they see it.
    stop: Arc<AtomicBool>,
    started: Instant,
}

impl Runtime {
    /// Assembles and starts a run (see the module documentation for the order).
    pub fn start(mut args: RunArgs) -> Result<Runtime> {
        // 1. Configuration.
        let (mut config, setup) = load_config(args.config.as_deref())?;
        if let Some(dir) = args.data_dir.clone() {
            relocate_store(&mut config, &dir);
            for (path, name) in [(&mut args.vault.vault, "brokers.vault"), (&mut args.vault.key_file, "master.key")] {
                if *path == std::path::Path::new(DATA_DIR).join(name) {
                    *path = dir.join(name);
                }
            }
        }
        feeds::override_feed(&mut config, args.feed.as_deref())?;
        let speed = ReplaySpeed::parse(&args.speed).map_err(|e| anyhow::anyhow!("--speed: {e}"))?;
        if let Ok(url) = std::env::var("DALAL_DATABASE_URL") {
            config.persistence.database_url = url;
        }
        if let Ok(url) = std::env::var("DALAL_REDIS_URL") {
            config.persistence.redis_url = url;
        }
        let symbols = Arc::new(SymbolTable::new(&setup.instruments).context("instrument table")?);
        let clock = quanta::Clock::new();
        let live = Arc::new(LiveStats::with_instruments(setup.accounts.len(), setup.instruments.len()));

        // 2. Persistence.
        let (store, redis) = Self::persistence(&config, &setup, &args)?;

        // 3. Engine, recovered from the journal when there is one.
        let mut engine = Engine::new(&setup, clock.clone(), config.engine.latency_sample_every);
        let recovered = match &args.journal {
            Some(dir) => Some(journal::recover(dir, &args, &config, &setup, &mut engine)?),
            None => None,
        };
        let resume_after = recovered.as_ref().map_or(0, |r| r.resume_after);
        let fresh = recovered.as_ref().is_none_or(|r| r.fresh);
        let snapshots = recovered.as_ref().and_then(|r| r.snapshots.as_ref().map(|w| w.sink()));
        if let Some(sink) = snapshots {
            engine.set_snapshots(sink);
        }

        // 4. Placement: stage threads, observer, journal branch, inline market feed.
        // The console's positions start from the engine's (a recovered run holds some).
        let (view, link_parts) = dalal_admin::observer_resuming(&setup, live.clone(), engine.order.portfolio());
        let shared_latency = Arc::new(Mutex::new(Percentiles::default()));
        let observer = RunObserver {
            tick_to_order: LatencyHistogram::new(),
            shared: shared_latency.clone(),
            last_share: Instant::now(),
            fanout: Fanout::for_engine(store.as_ref().map(|s| s.sender()), redis.as_ref().map(|r| r.sender()), &engine),
            live: live.clone(),
            last_pnl: Instant::now(),
            view,
        };
        let offset_ns = feeds::market_offset(&config, &setup);
        let feeds::MarketFeed { source: market, token: feed_token, health: feed_health } =
            feeds::market_source(&config, &setup, symbols, speed, resume_after, offset_ns, &args.vault)?;
        let place = placement(&config);
        tracing::info!(placement = ?place.placement, wait = ?place.wait, cores = ?place.cores, feed = %market.name(), inline = config.feed.inline, "starting engine");
        // The engine never waits for the observer: what its ring cannot take is counted, the
        // console re-syncs from published state and the store re-feeds from the journal.
        // Broker logins of live and shadow accounts, reconciled with the engine's positions
        // (fresh or recovered) before it starts.
        let brokers = brokers::start(&config, &setup, &args.vault, engine.order.portfolio())?;
        let mut launch = Launch::new(engine, &place, observer, live.clone()).lossy_egress();
        let mut snapshot_writer = None;
        if let Some(r) = recovered {
            launch = launch.journal(r.journal);
            snapshot_writer = r.snapshots;
        }
        // Live and shadow accounts' broker logins: a gateway thread each, joined by its egress
        // tap to the thread that emits orders (the fused engine thread, or the order thread).
        let brokers = match brokers {
            Some((tap, b)) => {
                launch = launch.egress_tap(Box::new(tap));
                Some(b)
            }
            None => None,
        };
        // A login during the run (a new access token in the vault) reaches its gateways and
        // the broker feed.
        let mut token_sinks = brokers.as_ref().map(|b| b.token_sinks()).unwrap_or_default();
        token_sinks.extend(feed_token);
        let vault_watch =
            if token_sinks.is_empty() { None } else { Some(brokers::watch_vault(args.vault.clone(), token_sinks)?) };
        let mut feed_threads = FeedThreads::new();
        let mut market = Some(market);
        if config.feed.inline {
            if let Some(m) = market.take() {
                let (source, slot) = feeds::inline(m);
                launch = launch.inline_source(source);
                feed_threads.inline_market(slot);
            }
        }
        let mut running = launch.start()?;
        if fresh {
            // A recovered run has its start-of-run commands in the journal already.
            for cmd in setup.initial_commands() {
                running.publish(Input::Command(cmd));
            }
        }
        // Broker positions to adopt: reconciled against the engine's state as it starts
        // (fresh or recovered), so a recovered run adopts only what changed since.
        for cmd in brokers.as_ref().map(|b| b.adoptions.clone()).unwrap_or_default() {
            running.publish(Input::Command(cmd));
        }

        // 5. Console.
        let logins = brokers.as_ref().map(|b| b.console_logins()).unwrap_or_default();
        let admin = Self::console(
            &args,
            &config,
            &setup,
            &live,
            &running,
            link_parts,
            store.as_ref(),
            redis.as_ref(),
            logins,
            feed_health,
        )?;

        // 6. Feeds.
        let stop = Arc::new(AtomicBool::new(false));
        {
            let stop = stop.clone();
            ctrlc::set_handler(move || stop.store(true, Ordering::Release)).context("installing Ctrl-C handler")?;
        }
        let publisher = || running.publisher().context("ingress ring closed");
        if let Some(m) = market {
            feed_threads.spawn("feed", m, publisher()?, stop.clone(), true)?;
        }
        if feeds::needs_wall_timers(&config) {
            let timer = dalal_adapters::feed::WallTimer::new(config.feed.timer_hz, offset_ns);
            feed_threads.spawn("timer", Box::new(timer), publisher()?, stop.clone(), false)?;
        }

        // 7. Store re-feed.
        let refeeder = match (&store, &args.journal) {
            (Some(st), Some(dir)) => {
                Some(Refeeder::start(dir, &setup, st.sender(), config.persistence.store_queue.max(1), stop.clone())?)
            }
            _ => None,
        };

        Ok(Runtime {
            args,
            config,
            setup,
            live,
            shared_latency,
            store,
            redis,
            snapshots: snapshot_writer,
            running,
            admin,
            feeds: feed_threads,
            refeeder,
            brokers,
            vault_watch,
            stop,
            started: Instant::now(),
        })
    }

    fn persistence(
        config: &Config,
        setup: &EngineSetup,
        args: &RunArgs,
    ) -> Result<(Option<StoreWriterHandle>, Option<RedisPublisherHandle>)> {
        let persist = &config.persistence;
        let store = if persist.database_url.is_empty() {
            None
        } else {
            // A SQLite file's directory is created (0700) by the store itself.
            persist::migrate(&persist.database_url, setup);
            let opts = StoreOptions {
                run_id: persist::run_id(args.journal.as_deref())?,
                connect_timeout: Duration::ZERO,
                capacity: persist.store_queue.max(1),
                ..StoreOptions::default()
            };
            Some(StoreWriter::start_with(&persist.database_url, setup, opts).context("starting the SQL store")?)
        };
        let redis = if persist.redis_url.is_empty() {
            None
        } else {
            let opts = RedisOptions {
                url: persist.redis_url.clone(),
                prefix: persist.redis_prefix.clone(),
                ..RedisOptions::default()
            };
            Some(RedisPublisher::start(opts, setup).context("starting the Redis publisher")?)
        };
        Ok((store, redis))
    }

    /// The console: its own runtime and threads; it reads what the observer publishes and
    /// sends commands through the ingress ring. A busy port costs the console, not the run.
    #[allow(clippy::too_many_arguments)]
    fn console(
        args: &RunArgs,
        config: &Config,
        setup: &EngineSetup,
        live: &Arc<LiveStats>,
        running: &Running<RunObserver>,
        link_parts: dalal_admin::LinkParts,
        store: Option<&StoreWriterHandle>,
        redis: Option<&RedisPublisherHandle>,
        brokers: Vec<dalal_admin::BrokerLogin>,
        market_feed: Option<dalal_admin::FeedView>,
    ) -> Result<Option<AdminHandle>> {
        let listen = args
            .admin_listen
            .clone()
            .or_else(|| std::env::var("DALAL_ADMIN_LISTEN").ok())
            .unwrap_or_else(|| config.admin.listen.clone());
        if listen.is_empty() {
            return Ok(None);
        }
        let addr: std::net::SocketAddr = listen.parse().with_context(|| format!("admin listen address {listen:?}"))?;
        let publisher = running.publisher().context("ingress ring closed")?;
        let link = link_parts.connect(setup.clone(), live.clone(), publisher);
        let store_url = (!config.persistence.database_url.is_empty()).then(|| config.persistence.database_url.clone());
        let cfg = AdminConfig {
            listen: addr,
            cores: config.admin.cores.clone(),
            store_url,
            journal: args.journal.is_some(),
            gauges: {
                let mut g = persist::persistence_gauges(store, redis);
                let progress = running.progress().clone();
                g.push(dalal_admin::Gauge::new(
                    "egress_dropped",
                    "Egress events the observer's ring had no room for (the engine does not wait for it).",
                    move || progress.egress_dropped.load(std::sync::atomic::Ordering::Relaxed) as f64,
                ));
                g
            },
            brokers,
            broker_desk: broker_desk::Desk::for_run(config, &args.vault),
            market_feed,
            metrics_listen: match config.admin.metrics_listen.as_str() {
                "" => None,
                a => Some(a.parse().with_context(|| format!("admin.metrics_listen {a:?}"))?),
            },
            metrics_token: std::env::var("DALAL_METRICS_TOKEN").ok().filter(|t| !t.is_empty()),
            trusted_proxies: config
                .admin
                .trusted_proxies
                .iter()
                .map(|a| a.parse().with_context(|| format!("admin.trusted_proxies: {a:?} is not an IP address")))
                .collect::<Result<_>>()?,
            secret_key: console_key(&args.vault)?,
            ready_checks: persist::ready_checks(store, redis),
            ..AdminConfig::default()
        };
        match dalal_admin::serve(link, cfg) {
            Ok(h) => {
                println!("admin console on http://{}", h.local_addr());
                Ok(Some(h))
            }
            Err(e) => {
                tracing::error!(error = %e, "admin console not started");
                Ok(None)
            }
        }
    }

    /// Prints progress lines until the duration is up, the market feed has ended, or Ctrl-C.
    pub fn wait(&mut self) {
        let names: Vec<String> = self.setup.accounts.iter().map(|a| a.name.clone()).collect();
        let every = Duration::from_secs(self.config.engine.summary_every_s.max(1));
        let mut next_report = self.started + every;
        loop {
            thread::sleep(Duration::from_millis(50));
            let out_of_time = self.args.duration.is_some_and(|d| self.started.elapsed() >= d);
            let feed_ended = self.feeds.market_done.load(Ordering::Acquire) || self.feeds.inline_done();
            if self.stop.load(Ordering::Acquire) || feed_ended || out_of_time {
                break;
            }
            if Instant::now() >= next_report {
                next_report += every;
                let p = self.shared_latency.lock().map(|p| *p).unwrap_or_default();
                let line = dalal_admin::render_progress(
                    self.started.elapsed().as_secs_f64(),
                    &self.live.snapshot(),
                    &p,
                    &names,
                );
                print!("{line}");
            }
        }
    }

    /// Takes the run down in reverse order and reports.
    pub fn shutdown(self) -> Result<()> {
        let Runtime {
            args,
            config: _,
            setup,
            store,
            redis,
            snapshots,
            running,
            admin,
            feeds,
            refeeder,
            brokers,
            vault_watch,
            stop,
            started,
            ..
        } = self;
        stop.store(true, Ordering::Release);
        if let Some(a) = admin {
            // It holds an ingress publisher; the engine stops once every publisher is gone.
            a.shutdown();
        }
        let market_report = feeds.join();
        if let Some(b) = &brokers {
            // What brokers have answered reaches the engine before it stops, and so does what
            // the engine asks them meanwhile: when the feeds end the engine may still be
            // working through ticks that make new requests, and a report it applies may make
            // another, so the two waits take turns until the engine is idle with nothing in
            // flight.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                running.wait_idle();
                if b.quiet() || !b.settle(deadline.saturating_duration_since(Instant::now())) {
                    break;
                }
            }
        }
        let mut stopped = running.stop();
        // The tap held the gateways' queues: with it gone they finish their last request.
        drop(stopped.tap.take());
        if let Some(w) = vault_watch {
            w.stop();
        }
        if let Some(b) = brokers {
            b.join();
        }
        // An inline feed leaves its report when the engine thread lets it go, at the stop.
        let market_report = market_report.unwrap_or_else(|slot| slot.lock().ok().and_then(|mut r| r.take()));
        let elapsed = started.elapsed();
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
        // A clean stop leaves a snapshot of the final state, so a restart replays nothing.
        if let Some(dir) = &args.journal {
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
        if let Some(r) = &market_report {
            summary.add_feed_rejects(r.rejects.iter());
            if r.gaps > 0 || r.duplicates > 0 {
                tracing::warn!(feed = %r.name, gaps = r.gaps, duplicates = r.duplicates, "sequence problems in feed");
            }
            if let Some(e) = &r.error {
                tracing::error!(feed = %r.name, error = %e, "feed stopped early");
            }
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
                persist::note_unwritten(dir, st.first_unwritten_seq);
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
            write_summary(path, &summary, extra)?;
        }
        Ok(())
    }
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

fn write_summary(
    path: &PathBuf,
    summary: &RunSummary,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    let mut v = serde_json::to_value(summary)?;
    if let (Some(m), false) = (v.as_object_mut(), extra.is_empty()) {
        m.insert("persistence".into(), serde_json::Value::Object(extra));
    }
    std::fs::write(path, serde_json::to_string_pretty(&v)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

/// `dalal run`.
pub fn run(args: RunArgs) -> Result<()> {
    let mut rt = Runtime::start(args)?;
    rt.wait();
    rt.shutdown()
}

/// The master key for the console's TOTP secrets: the vault's own (`DALAL_MASTER_KEY` or the
/// key file). None when neither exists (TOTP enrolment then says how to make one); a key that
/// exists but cannot be read stops the start.
fn console_key(vault: &crate::cli::VaultArgs) -> Result<Option<dalal_admin::sealed::SecretKey>> {
    let env = std::env::var(dalal_brokers::vault::MASTER_KEY_ENV).ok();
    match dalal_brokers::MasterKey::load(env.as_deref(), &vault.key_file) {
        Ok(k) => Ok(Some(dalal_admin::sealed::SecretKey::new(*k.expose()))),
        Err(dalal_brokers::vault::VaultError::NoKey { .. }) => Ok(None),
        Err(e) => Err(e).context("the master key (it seals the console's TOTP secrets)"),
    }
}

/// Where data goes unless told otherwise: `./data`.
pub const DATA_DIR: &str = "data";

/// Moves the SQLite store and the candle cache from their default places under `data/` into
/// `dir` (a store or cache configured elsewhere stays where it is).
pub fn relocate_store(config: &mut Config, dir: &std::path::Path) {
    let default = format!("sqlite://{DATA_DIR}/");
    if let Some(rest) = config.persistence.database_url.strip_prefix(&default) {
        config.persistence.database_url = format!("sqlite://{}/{rest}", dir.display());
    }
    let default = format!("{DATA_DIR}/");
    if let Some(rest) = config.persistence.candle_cache.strip_prefix(&default) {
        config.persistence.candle_cache = dir.join(rest).display().to_string();
    }
}
