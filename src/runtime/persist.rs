//! Off the hot path: the SQL store and its re-feed from the journal after an outage, the Redis
//! publisher, and their gauges for `/metrics`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use dalal_admin::Gauge;
use dalal_core::engine::setup::EngineSetup;
use dalal_core::model::Timestamp;
use dalal_persistence::store::{StoreSender, StoreWriterHandle};
use dalal_persistence::{refeed_store, RedisPublisherHandle, StoreOptions};

/// Brings the database schema up to date once, before the writer and the console (which both
/// use it) start. A database that does not answer is left to the writer's retries.
pub(super) fn migrate(url: &str, setup: &EngineSetup) {
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
pub(super) fn run_id(journal: Option<&Path>) -> Result<String> {
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

/// The store's and Redis publisher's lag and health, for `/metrics`.
pub(super) fn persistence_gauges(
    store: Option<&StoreWriterHandle>,
    redis: Option<&RedisPublisherHandle>,
) -> Vec<Gauge> {
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

/// What `/ready` looks at of the store's writer and the Redis publisher.
pub(super) fn ready_checks(
    store: Option<&StoreWriterHandle>,
    redis: Option<&RedisPublisherHandle>,
) -> Vec<dalal_admin::ReadyCheck> {
    let mut checks = Vec::new();
    if let Some(st) = store {
        let s = st.sender();
        checks.push(dalal_admin::ReadyCheck::new("store", move || {
            let up = s.db_available();
            (
                up,
                serde_json::json!({"database": if up { "answering" } else { "not answering" },
                                    "queued": s.queued(), "unwritten": s.has_unwritten()}),
            )
        }));
    }
    if let Some(r) = redis {
        let r = r.sender();
        checks.push(dalal_admin::ReadyCheck::new("redis", move || {
            let up = r.connected();
            (up, serde_json::json!({"connected": up, "queued": r.queued()}))
        }));
    }
    checks
}

/// Where a stop during a database outage leaves the first egress sequence the store lacks.
const UNWRITTEN_FILE: &str = "store.unwritten";

pub(super) fn note_unwritten(dir: &Path, seq: Option<u64>) {
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
pub(super) struct Refeeder {
    thread: thread::JoinHandle<RefeedTotals>,
    dir: PathBuf,
    setup: EngineSetup,
    capacity: usize,
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RefeedTotals {
    pub resubmitted: u64,
    pub passes: u64,
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
    pub(super) fn start(
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
    pub(super) fn finish(self, store: Option<&StoreWriterHandle>) -> RefeedTotals {
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
