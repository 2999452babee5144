//! Re-feeding the SQL store from the journal. While the database is down the store writer's
//! bounded queue overflows and drops events, remembering the lowest egress sequence it lost.
//! The engine is a deterministic function of its ingress sequence, so a shadow engine replaying
//! the journal (from the newest snapshot taken before that sequence) emits the very same egress
//! events with the same sequence numbers; those from the first lost one on are submitted again,
//! and the store's idempotent keys make anything written twice harmless.

use std::path::Path;
use std::time::Duration;

use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::Engine;
use dalal_core::model::IngressEvent;

use crate::fanout::StoreMapper;
use crate::journal::{find_snapshot, read_journal, JournalError};
use crate::store::StoreSender;

/// How long one event may wait for room in the store's queue before the re-feed gives up (the
/// database went away again; the sequence stays remembered for the next attempt).
const SUBMIT_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum RefeedError {
    #[error("reading the journal: {0}")]
    Journal(#[from] JournalError),
    #[error("the store stopped taking events at sequence {0}")]
    StoreStalled(u64),
}

/// What one re-feed did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefeedStats {
    pub from_seq: u64,
    /// Journal records the shadow engine started after (0: no snapshot, from the start).
    pub snapshot_applied: u64,
    /// Journal records replayed.
    pub replayed: u64,
    /// Store events submitted again.
    pub resubmitted: u64,
    /// The last egress sequence the journal produced: the journal can end before the live
    /// engine (its writer runs beside the engine), so drops after this are not covered.
    pub last_seq: u64,
}

/// Submits again every store event with egress sequence ≥ `from_seq` that the journal in `dir`
/// produces; anything dropped beyond what the journal holds yet stays marked unwritten.
pub fn refeed_store(
    dir: &Path,
    setup: &EngineSetup,
    from_seq: u64,
    store: &StoreSender,
) -> Result<RefeedStats, RefeedError> {
    let recovery = read_journal(dir, false)?;
    let mut engine = Engine::new(setup, quanta::Clock::new(), 0);
    let mut stats = RefeedStats { from_seq, ..RefeedStats::default() };
    let mut skipped = Vec::new();
    let before_gap = |f: &crate::journal::FoundSnapshot| {
        dalal_core::engine::snapshot::split(&f.bytes).is_ok_and(|(h, _)| h.emitted < from_seq)
    };
    if let Some(found) = find_snapshot(dir, recovery.last_seq(), &mut skipped, before_gap) {
        match engine.restore_snapshot(&found.bytes) {
            Ok(h) => stats.snapshot_applied = h.applied,
            Err(e) => {
                tracing::warn!(error = %e, path = %found.path.display(), "re-feed: snapshot not used");
                engine = Engine::new(setup, quanta::Clock::new(), 0);
            }
        }
    }
    let mut mapper = StoreMapper::resume(&engine);
    let mut stalled = None;
    for r in recovery.records.iter().filter(|r| r.seq > stats.snapshot_applied) {
        let ev = IngressEvent { input: r.input, ingress_raw: 0, source: r.source };
        engine.step(&ev, &mut |e| {
            mapper.map(&e, |stored| {
                let seq = stored.source_seq();
                if seq < from_seq || stalled.is_some() {
                    return;
                }
                if store.submit_wait(stored, SUBMIT_WAIT) {
                    stats.resubmitted += 1;
                } else {
                    stalled = Some(seq);
                }
            })
        });
        stats.replayed += 1;
        if let Some(at) = stalled {
            return Err(RefeedError::StoreStalled(at));
        }
    }
    stats.last_seq = mapper.seq();
    // The live engine runs ahead of the journal writer: events it emitted past the journal's
    // end may have been dropped before this pass took the mark, so they stay marked.
    if store.last_dropped_seq() > stats.last_seq {
        store.remember_unwritten(stats.last_seq + 1);
    }
    Ok(stats)
}
