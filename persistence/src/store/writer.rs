//! The store writer: the hot path's side of the SQL store.
//!
//! [`StoreWriter::start`] spawns one thread (`dalal-store`) that owns a current-thread tokio
//! runtime, the connection pool and a bounded queue (a pre-allocated `crossbeam` array channel).
//! [`StoreSender::submit`] is a `try_send`: it never blocks, never allocates for the `Copy`
//! payloads (orders, fills, candles, positions) and returns `false` when the queue is full or
//! the writer is gone. A dropped event is counted, and the lowest journal sequence number ever
//! dropped is kept ([`StoreWriterHandle::first_unwritten_seq`]) so the caller can re-read the
//! journal from there once the database keeps up again; idempotent keys make the re-feed safe.
//!
//! The thread takes whatever is queued (up to `max_batch` events) as one batch, writes it in one
//! transaction and commits, so batches grow with the load. When the database is down or slow
//! (connection errors, timeouts, busy) the same batch is retried with exponential backoff
//! (`min_backoff` doubling to `max_backoff`) and the database is reported unavailable; the
//! backlog is what the queue holds plus the batch in hand, so it is bounded by `capacity +
//! max_batch`, and what does not fit is dropped and remembered as above. A batch the database
//! refuses for good (a constraint or type error) is retried event by event and the refused
//! events are counted as `rejected`.
//!
//! `flush_and_stop` writes everything queued, retrying for at most `stop_timeout`; what is
//! still unwritten then is counted as `abandoned` and lowers `first_unwritten_seq`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use dalal_core::engine::setup::EngineSetup;

use super::{is_transient, Backend, Names, Store, StoreError, StoreEvent, StoreOptions};

const NONE: u64 = u64::MAX;

#[derive(Debug, Default)]
struct Outage {
    /// When the database was first found unavailable, while it still is.
    down_since: Option<Instant>,
    total: Duration,
    recoveries: u64,
    last_error: String,
}

#[derive(Debug)]
struct Shared {
    submitted: AtomicU64,
    dropped: AtomicU64,
    written: AtomicU64,
    rejected: AtomicU64,
    abandoned: AtomicU64,
    batches: AtomicU64,
    db_errors: AtomicU64,
    /// Highest source sequence written, plus one (0: none yet).
    last_written: AtomicU64,
    /// Lowest source sequence dropped or abandoned and not yet taken ([`NONE`]: none).
    first_unwritten: AtomicU64,
    /// Highest source sequence ever dropped or abandoned (0: none): a re-feed that stops short
    /// of it must leave the rest marked.
    last_dropped: AtomicU64,
    db_available: AtomicBool,
    stop: AtomicBool,
    outage: Mutex<Outage>,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            submitted: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            written: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            db_errors: AtomicU64::new(0),
            last_written: AtomicU64::new(0),
            first_unwritten: AtomicU64::new(NONE),
            last_dropped: AtomicU64::new(0),
            db_available: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            outage: Mutex::new(Outage::default()),
        }
    }

    fn mark_up(&self) {
        if !self.db_available.swap(true, Relaxed) {
            let mut o = self.outage.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(t) = o.down_since.take() {
                o.total += t.elapsed();
                o.recoveries += 1;
                tracing::info!(after = ?t.elapsed(), "store: database available again");
            }
        }
    }

    fn mark_down(&self, err: &dyn std::fmt::Display) {
        self.db_errors.fetch_add(1, Relaxed);
        self.db_available.store(false, Relaxed);
        let mut o = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        if o.down_since.is_none() {
            o.down_since = Some(Instant::now());
            tracing::warn!(error = %err, "store: database unavailable, retrying with backoff");
        }
        o.last_error = err.to_string();
    }

    fn unwritten(&self, events: &[StoreEvent]) {
        if let Some(min) = events.iter().map(StoreEvent::source_seq).min() {
            self.first_unwritten.fetch_min(min, Relaxed);
        }
        if let Some(max) = events.iter().map(StoreEvent::source_seq).max() {
            self.last_dropped.fetch_max(max, Relaxed);
        }
    }
}

/// Counters of a store writer, for the run summary and metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreStats {
    /// Events accepted into the queue.
    pub submitted: u64,
    /// Events committed to the database.
    pub written: u64,
    /// Transactions committed.
    pub batches: u64,
    /// Events refused by `submit` (queue full or writer gone).
    pub dropped: u64,
    /// Events the database refused for good (constraint or type errors).
    pub rejected: u64,
    /// Events still unwritten when `flush_and_stop` gave up.
    pub abandoned: u64,
    /// Events queued or in the batch being written: the writer's lag behind `submit`.
    pub lag: u64,
    /// Highest journal sequence written so far.
    pub last_written_seq: Option<u64>,
    /// Lowest journal sequence dropped or abandoned: re-read the journal from here.
    pub first_unwritten_seq: Option<u64>,
    /// Failed attempts (connects, batches, migrations).
    pub db_errors: u64,
    pub db_available: bool,
    /// Times the database came back after being unavailable.
    pub recoveries: u64,
    /// Total time the database was unavailable, including an outage still going on.
    pub outage_secs: f64,
    /// The last error seen, empty if none.
    pub last_error: String,
}

/// The producer side of a store writer; clone it for every thread that submits.
#[derive(Clone, Debug)]
pub struct StoreSender {
    tx: Sender<StoreEvent>,
    shared: Arc<Shared>,
}

impl StoreSender {
    /// Queues an event without ever blocking. `false`: the queue was full (or the writer has
    /// stopped); the event was dropped, counted, and its sequence remembered.
    #[inline]
    pub fn submit(&self, ev: StoreEvent) -> bool {
        let seq = ev.source_seq();
        match self.tx.try_send(ev) {
            Ok(()) => {
                self.shared.submitted.fetch_add(1, Relaxed);
                true
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Relaxed);
                self.shared.first_unwritten.fetch_min(seq, Relaxed);
                self.shared.last_dropped.fetch_max(seq, Relaxed);
                false
            }
        }
    }

    /// Queues an event, waiting up to `timeout` for room: for a re-feed from the journal,
    /// which may wait on the database (never the hot path). On timeout it is a drop, as in
    /// [`StoreSender::submit`].
    pub fn submit_wait(&self, ev: StoreEvent, timeout: Duration) -> bool {
        let seq = ev.source_seq();
        match self.tx.send_timeout(ev, timeout) {
            Ok(()) => {
                self.shared.submitted.fetch_add(1, Relaxed);
                true
            }
            Err(_) => {
                self.shared.dropped.fetch_add(1, Relaxed);
                self.shared.first_unwritten.fetch_min(seq, Relaxed);
                self.shared.last_dropped.fetch_max(seq, Relaxed);
                false
            }
        }
    }

    /// Whether the last attempt to reach the database succeeded.
    pub fn db_available(&self) -> bool {
        self.shared.db_available.load(Relaxed)
    }

    /// Events queued and not yet taken by the writer.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }

    /// The lowest sequence dropped since the last call, and forgets it (the caller re-feeds).
    pub fn take_first_unwritten_seq(&self) -> Option<u64> {
        Some(self.shared.first_unwritten.swap(NONE, Relaxed)).filter(|s| *s != NONE)
    }

    /// The highest sequence ever dropped or abandoned (0: none).
    pub fn last_dropped_seq(&self) -> u64 {
        self.shared.last_dropped.load(Relaxed)
    }

    /// Whether some dropped events wait to be re-fed.
    pub fn has_unwritten(&self) -> bool {
        self.shared.first_unwritten.load(Relaxed) != NONE
    }

    /// Egress events `first..=last` never reached this sender (the observer's ring was full
    /// and they were dropped before it): marked unwritten like the store's own drops, for the
    /// re-feed from the journal to write.
    pub fn mark_lost(&self, first: u64, last: u64) {
        self.shared.first_unwritten.fetch_min(first, Relaxed);
        self.shared.last_dropped.fetch_max(last, Relaxed);
    }

    /// Marks `seq` (and what follows) unwritten again, after a re-feed that did not finish.
    pub fn remember_unwritten(&self, seq: u64) {
        self.shared.first_unwritten.fetch_min(seq, Relaxed);
    }
}

/// Starts store writers.
pub struct StoreWriter;

impl StoreWriter {
    /// Starts a writer for `url` (SQLite or PostgreSQL) with a queue of `capacity` events and
    /// default options; see [`StoreWriter::start_with`].
    pub fn start(url: &str, setup: &EngineSetup, capacity: usize) -> Result<StoreWriterHandle, StoreError> {
        StoreWriter::start_with(url, setup, StoreOptions { capacity, ..StoreOptions::default() })
    }

    /// Starts the writer thread. It connects, runs the migrations and seeds accounts and
    /// instruments; this call waits up to `opts.connect_timeout` for that (zero: not at all, the
    /// thread keeps trying in the background while events queue up). A database that refuses
    /// the migrations is an error at once.
    pub fn start_with(url: &str, setup: &EngineSetup, opts: StoreOptions) -> Result<StoreWriterHandle, StoreError> {
        if Backend::of_url(url).is_none() {
            return Err(StoreError::BadUrl(url.to_string()));
        }
        let (tx, rx) = crossbeam_channel::bounded(opts.capacity.max(1));
        let shared = Arc::new(Shared::new());
        let names = Arc::new(Names::from_setup(setup));
        let (ready_tx, ready_rx) = mpsc::channel();
        let wait = opts.connect_timeout;
        let thread = {
            let shared = shared.clone();
            let url = url.to_string();
            std::thread::Builder::new()
                .name("dalal-store".into())
                .spawn(move || run(url, names, opts, rx, shared, ready_tx))?
        };
        let handle = StoreWriterHandle { sender: StoreSender { tx, shared }, thread: Some(thread) };
        if wait.is_zero() {
            return Ok(handle);
        }
        match ready_rx.recv_timeout(wait) {
            Ok(Ok(())) => Ok(handle),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                let last_error = handle.stats().last_error;
                drop(handle);
                Err(StoreError::NotReady { timeout: wait, last_error })
            }
        }
    }
}

/// Owns the writer thread; dropping it stops the writer like `flush_and_stop`.
#[derive(Debug)]
pub struct StoreWriterHandle {
    sender: StoreSender,
    thread: Option<JoinHandle<()>>,
}

impl StoreWriterHandle {
    /// See [`StoreSender::submit`].
    #[inline]
    pub fn submit(&self, ev: StoreEvent) -> bool {
        self.sender.submit(ev)
    }

    /// A producer handle for another thread.
    pub fn sender(&self) -> StoreSender {
        self.sender.clone()
    }

    pub fn stats(&self) -> StoreStats {
        let s = &self.sender.shared;
        let written = s.written.load(Relaxed);
        let rejected = s.rejected.load(Relaxed);
        let abandoned = s.abandoned.load(Relaxed);
        let submitted = s.submitted.load(Relaxed);
        let (outage_secs, recoveries, last_error) = {
            let o = s.outage.lock().unwrap_or_else(|p| p.into_inner());
            let now = o.down_since.map(|t| t.elapsed()).unwrap_or_default();
            ((o.total + now).as_secs_f64(), o.recoveries, o.last_error.clone())
        };
        StoreStats {
            submitted,
            written,
            batches: s.batches.load(Relaxed),
            dropped: s.dropped.load(Relaxed),
            rejected,
            abandoned,
            lag: submitted.saturating_sub(written + rejected + abandoned),
            last_written_seq: s.last_written.load(Relaxed).checked_sub(1),
            first_unwritten_seq: self.first_unwritten_seq(),
            db_errors: s.db_errors.load(Relaxed),
            db_available: s.db_available.load(Relaxed),
            recoveries,
            outage_secs,
            last_error,
        }
    }

    /// The lowest journal sequence that was dropped or abandoned, if any: re-read the journal
    /// from there and submit again (duplicates are harmless).
    pub fn first_unwritten_seq(&self) -> Option<u64> {
        Some(self.sender.shared.first_unwritten.load(Relaxed)).filter(|s| *s != NONE)
    }

    /// Like [`first_unwritten_seq`](Self::first_unwritten_seq), and forgets it: call this just
    /// before re-feeding from the journal (a drop during the re-feed sets it again).
    pub fn take_first_unwritten_seq(&self) -> Option<u64> {
        self.sender.take_first_unwritten_seq()
    }

    /// Waits until everything submitted before this call is written (or refused), up to
    /// `timeout`; `true` if it was.
    pub fn flush(&self, timeout: Duration) -> bool {
        let s = &self.sender.shared;
        let target = s.submitted.load(Relaxed);
        let deadline = Instant::now() + timeout;
        loop {
            let done = s.written.load(Relaxed) + s.rejected.load(Relaxed) + s.abandoned.load(Relaxed);
            if done >= target {
                return true;
            }
            let alive = matches!(&self.thread, Some(t) if !t.is_finished());
            if Instant::now() >= deadline || !alive {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Writes what is queued (retrying for at most `stop_timeout`), stops the thread and
    /// returns the final counters.
    pub fn flush_and_stop(mut self) -> StoreStats {
        self.stop();
        self.stats()
    }

    fn stop(&mut self) {
        self.sender.shared.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for StoreWriterHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    fn step(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    fn reset(&mut self) {
        self.next = self.min;
    }
}

struct Writer {
    rt: tokio::runtime::Runtime,
    store: Store,
    shared: Arc<Shared>,
    opts: StoreOptions,
    prepared: bool,
    backoff: Backoff,
    /// Set when the thread first sees the stop flag.
    stop_deadline: Option<Instant>,
}

impl Writer {
    fn stopping(&mut self) -> bool {
        if self.stop_deadline.is_none() && self.shared.stop.load(Relaxed) {
            self.stop_deadline = Some(Instant::now() + self.opts.stop_timeout);
        }
        self.stop_deadline.is_some()
    }

    fn past_deadline(&mut self) -> bool {
        self.stopping() && self.stop_deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Sleeps for the next backoff step, waking early for a stop deadline.
    fn pause(&mut self) {
        let mut d = self.backoff.step();
        if self.stopping() {
            if let Some(dl) = self.stop_deadline {
                d = d.min(dl.saturating_duration_since(Instant::now()));
            }
        }
        std::thread::sleep(d);
    }

    /// Migrations and seeding, once per writer.
    fn prepare(&mut self) -> Result<(), StoreError> {
        if self.prepared {
            return Ok(());
        }
        let t = self.opts.write_timeout;
        match self.rt.block_on(async { tokio::time::timeout(t, self.store.prepare()).await }) {
            Ok(Ok(())) => {
                self.prepared = true;
                self.shared.mark_up();
                self.backoff.reset();
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::NotReady { timeout: t, last_error: "migrations timed out".into() }),
        }
    }

    /// Writes `events`, retrying transient failures until written or past the stop deadline.
    fn write(&mut self, events: &[StoreEvent]) {
        loop {
            let res = self.prepare().and_then(|()| {
                let t = self.opts.write_timeout;
                match self.rt.block_on(async { tokio::time::timeout(t, self.store.write(events)).await }) {
                    Ok(r) => r,
                    Err(_) => Err(StoreError::NotReady { timeout: t, last_error: "batch write timed out".into() }),
                }
            });
            match res {
                Ok(n) => {
                    let s = &self.shared;
                    s.written.fetch_add(n as u64, Relaxed);
                    s.batches.fetch_add(1, Relaxed);
                    if let Some(max) = events.iter().map(StoreEvent::source_seq).max() {
                        s.last_written.fetch_max(max.saturating_add(1), Relaxed);
                    }
                    s.mark_up();
                    self.backoff.reset();
                    return;
                }
                Err(e) if is_transient(&e) => {
                    self.shared.mark_down(&e);
                }
                Err(e) if !self.prepared => {
                    // The schema cannot be brought up to date (e.g. an edited migration): keep
                    // retrying, it needs an operator, and the queue bounds the backlog.
                    self.shared.mark_down(&e);
                }
                Err(e) => {
                    self.shared.db_errors.fetch_add(1, Relaxed);
                    if events.len() > 1 {
                        tracing::warn!(error = %e, events = events.len(), "store: batch refused, writing it event by event");
                        for ev in events {
                            self.write(std::slice::from_ref(ev));
                        }
                    } else {
                        tracing::error!(error = %e, event = ?events.first(), "store: event refused by the database");
                        self.shared.rejected.fetch_add(events.len() as u64, Relaxed);
                    }
                    return;
                }
            }
            if self.past_deadline() {
                self.shared.abandoned.fetch_add(events.len() as u64, Relaxed);
                self.shared.unwritten(events);
                return;
            }
            self.pause();
        }
    }
}

fn run(
    url: String,
    names: Arc<Names>,
    opts: StoreOptions,
    rx: Receiver<StoreEvent>,
    shared: Arc<Shared>,
    ready: mpsc::Sender<Result<(), StoreError>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return;
        }
    };
    let store = match rt.block_on(async { Store::connect_lazy(&url, names, opts.clone()) }) {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let backoff = Backoff { next: opts.min_backoff, min: opts.min_backoff, max: opts.max_backoff };
    let max_batch = opts.max_batch.max(1);
    let mut w = Writer { rt, store, shared, opts, prepared: false, backoff, stop_deadline: None };

    // Bring the schema up before taking events, so `start` can report a refusal.
    loop {
        match w.prepare() {
            Ok(()) => {
                let _ = ready.send(Ok(()));
                break;
            }
            Err(e) if is_transient(&e) => w.shared.mark_down(&e),
            Err(e) => {
                tracing::error!(error = %e, "store: cannot prepare the database");
                w.shared.mark_down(&e);
                let _ = ready.send(Err(e));
                break;
            }
        }
        if w.stopping() {
            break;
        }
        w.pause();
    }

    let mut batch: Vec<StoreEvent> = Vec::with_capacity(max_batch);
    loop {
        if batch.is_empty() {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(ev) => batch.push(ev),
                Err(RecvTimeoutError::Timeout) => {
                    if w.stopping() {
                        break;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(ev) => batch.push(ev),
                Err(_) => break,
            }
        }
        if w.past_deadline() {
            w.shared.abandoned.fetch_add(batch.len() as u64, Relaxed);
            w.shared.unwritten(&batch);
        } else {
            w.write(&batch);
        }
        batch.clear();
    }
    w.rt.block_on(w.store.close());
}
