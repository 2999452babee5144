//! A journaled run's start: open (and lock) the journal, cut a torn tail, rebuild the engine
//! from the newest usable snapshot and the records after it, and start the snapshot writer.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use dalal_config::Config;
use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::Engine;
use dalal_core::model::IngressEvent;
use dalal_persistence::journal::{
    discard_snapshots_ahead, latest_snapshot, FsyncPolicy, JournalConsumer, JournalWriter, SnapshotWriter,
};

use dalal_core::engine::placement::{IngressConsumer, JournalCounts};

use crate::cli::RunArgs;

/// Fault injection for recovery tests: with `DALAL_CRASH_AT_SEQ=N` the process aborts — no
/// flush, no destructors, exactly as if killed — right after the journal takes event `N`, so a
/// test can crash a run at a chosen point of its input instead of at a moment of the clock.
const CRASH_AT_SEQ: &str = "DALAL_CRASH_AT_SEQ";

fn crash_at() -> Result<Option<u64>> {
    match std::env::var(CRASH_AT_SEQ) {
        Err(_) => Ok(None),
        Ok(v) => {
            v.trim().parse().map(Some).with_context(|| format!("{CRASH_AT_SEQ}={v:?}: expected a sequence number"))
        }
    }
}

/// The journal consumer, aborting the process once it has taken sequence `at`.
struct CrashAt {
    inner: JournalConsumer,
    at: u64,
}

impl IngressConsumer for CrashAt {
    fn on_event(&mut self, ev: &IngressEvent) {
        self.inner.on_event(ev);
        if self.inner.writer.stats.last_seq >= self.at {
            std::process::abort();
        }
    }

    fn end_batch(&mut self) {
        self.inner.end_batch();
    }

    fn journal_stats(&self) -> Option<JournalCounts> {
        self.inner.journal_stats()
    }
}

/// What recovery leaves for the run.
pub(super) struct Recovered {
    /// The journal, to consume the ingress ring from here on.
    pub journal: Box<dyn IngressConsumer>,
    pub snapshots: Option<SnapshotWriter>,
    /// Source records already journaled (a replayed file resumes after them).
    pub resume_after: u64,
    /// The journal was empty: this is the run's first start.
    pub fresh: bool,
}

pub(super) fn recover(
    dir: &Path,
    args: &RunArgs,
    config: &Config,
    setup: &EngineSetup,
    engine: &mut Engine,
) -> Result<Recovered> {
    let policy = FsyncPolicy::parse(&args.fsync)
        .with_context(|| format!("--fsync {:?}: expected none, batch or Nms", args.fsync))?;
    let (writer, recovery) =
        JournalWriter::open(dir, policy).with_context(|| format!("opening journal {}", dir.display()))?;
    if let Some(t) = &recovery.truncated {
        println!(
            "journal: cut a torn tail in {} at byte {} ({} bytes, {})",
            t.segment.display(),
            t.offset,
            t.bytes,
            t.reason
        );
    }
    let ahead =
        discard_snapshots_ahead(dir, recovery.last_seq()).context("discarding snapshots ahead of the journal")?;
    for p in &ahead {
        println!("journal: discarded snapshot {}: it covers records the journal lost", p.display());
    }
    let mut resume_after = 0;
    if !recovery.records.is_empty() {
        let t0 = Instant::now();
        let from = restore_latest_snapshot(dir, recovery.last_seq(), engine, setup, config);
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
    let mut snapshots = None;
    if !every.is_zero() {
        snapshots = Some(SnapshotWriter::start(dir, every).context("starting the snapshot writer")?);
    }
    let journal: Box<dyn IngressConsumer> = match crash_at()? {
        Some(at) => Box::new(CrashAt { inner: JournalConsumer::new(writer), at }),
        None => Box::new(JournalConsumer::new(writer)),
    };
    Ok(Recovered { journal, snapshots, resume_after, fresh: recovery.records.is_empty() })
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
    let refused = match engine.restore_snapshot(&found.bytes) {
        // The name it was found by and the state it holds must agree: a snapshot renamed or
        // copied from elsewhere would restore a state the journal does not lead to.
        Ok(h) if h.applied == found.applied => return h.applied,
        Ok(h) => format!("its state covers {} records, its name {}", h.applied, found.applied),
        Err(e) => e.to_string(),
    };
    println!("journal: snapshot {} not used ({refused}); replaying the whole journal", found.path.display());
    *engine = Engine::new(setup, engine.clock().clone(), config.engine.latency_sample_every);
    0
}
