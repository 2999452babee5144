//! What a caller attaches to a running engine: consumers of the ingress and egress rings on
//! their own threads, and, for the colocated configuration, a source and a tap the fused
//! engine thread runs itself.

use super::IngressPublisher;
use crate::model::{EgressEvent, IngressEvent};

/// A consumer on its own branch of the ingress ring, in parallel with the stages: sees every
/// event in sequence order. The journal is one.
pub trait IngressConsumer: Send + 'static {
    fn on_event(&mut self, ev: &IngressEvent);
    /// After each batch (a natural point to flush or sync).
    fn end_batch(&mut self);
    /// For journals: what was written, for the run summary.
    fn journal_stats(&self) -> Option<JournalCounts> {
        None
    }
}

/// What a journal consumer reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalCounts {
    pub appended: u64,
    pub bytes: u64,
    pub syncs: u64,
    pub errors: u64,
    pub last_seq: u64,
}

/// Consumes the egress ring on its own thread; returned when the pipeline stops.
pub trait EgressObserver: Send + 'static {
    fn on_event(&mut self, ev: &EgressEvent);
    /// Called when the ring is empty, so the observer can do periodic work.
    fn on_idle(&mut self) {}
    /// Egress sequence numbers `first .. first + missed` were dropped (a lossy egress ring was
    /// full, see [`Launch::lossy_egress`](super::Launch::lossy_egress)); called before the next
    /// event received. Whatever the observer keeps from the stream is now incomplete: it
    /// should re-sync from published state or mark the range for repair.
    fn on_gap(&mut self, _first: u64, _missed: u64) {}
}

/// What an [`InlineSource`] poll did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourcePoll {
    /// Published this many events (0: nothing was ready).
    Published(usize),
    /// The source has ended; it is not polled again.
    Done,
}

/// A source the fused engine thread polls itself, between two polls of the ingress ring: the
/// colocated configuration, where one pinned thread reads the feed socket and runs every stage
/// with no hand-off between threads. What it reads still goes through the ingress ring (the
/// thread publishes into the ring it then drains), so it is sequenced and journaled exactly
/// like input from any other thread.
pub trait InlineSource: Send + 'static {
    /// Publishes what is ready now, at most `room` events (the ring has at least that much
    /// free space; publishing more could wait for space only this thread can make).
    fn poll(&mut self, out: &mut IngressPublisher, room: usize) -> SourcePoll;
}

/// Sees every egress event on the fused engine thread, in line, before it goes on the egress
/// ring: an order gateway that must hear of a new order at once. It is the one consumer that
/// may apply back-pressure to the engine (by taking its time); observers never can.
pub trait EgressTap: Send + 'static {
    /// `ev`, which the engine emitted while applying `cause`.
    fn on_event(&mut self, cause: &IngressEvent, ev: &EgressEvent);
    /// Once per turn of the engine thread's loop, busy or idle: write what was queued, read
    /// replies, and publish what they report into the ingress ring (at most `room` events;
    /// see [`InlineSource::poll`]). Returns how many it published.
    fn poll(&mut self, _out: &mut IngressPublisher, _room: usize) -> usize {
        0
    }
    /// When the engine thread stops, after the last event.
    fn finish(&mut self) {}
}
