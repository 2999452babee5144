//! How far each thread has got: counts every publisher and consumer keeps, from which a caller
//! tells when everything it published has been processed and how full each ring is. Each
//! counter has one writer (or a few publishers) and sits on its own cache line, so updating
//! one never invalidates a line another thread is writing.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

type Counter = CachePadded<AtomicU64>;

/// Message counts per hop, published by each thread after every batch, so a caller can tell
/// when everything it published has been fully processed.
#[derive(Debug, Default)]
pub struct Progress {
    /// Ingress events published, by every publisher (feeds, timers, console, tools).
    pub ingress_published: Counter,
    pub ingress_consumed: Counter,
    /// Messages out of / into each inter-stage hop: [candle→strategy, strategy→risk, risk→order].
    pub hop_out: [Counter; 3],
    pub hop_in: [Counter; 3],
    pub feedback_out: Counter,
    pub feedback_in: Counter,
    /// Egress ring: events published by the last stage and taken by the observer.
    pub egress_published: Counter,
    pub egress_consumed: Counter,
    /// Egress events a lossy ring had no room for (never venue requests).
    pub egress_dropped: Counter,
    /// Ingress events the branch consumer (journal) has taken.
    pub branch_consumed: Counter,
}

/// How full each ring is: events published and not yet taken by its consumer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingFill {
    pub ingress: u64,
    /// Ingress events the journal branch has not written yet (0 without a journal).
    pub journal: u64,
    /// Pipelined only: candle→strategy, strategy→risk, risk→order.
    pub hops: [u64; 3],
    pub egress: u64,
}

impl Progress {
    pub fn fill(&self, with_branch: bool) -> RingFill {
        let r = |a: &Counter| a.load(Ordering::Acquire);
        let published = r(&self.ingress_published);
        RingFill {
            ingress: published.saturating_sub(r(&self.ingress_consumed)),
            journal: if with_branch { published.saturating_sub(r(&self.branch_consumed)) } else { 0 },
            hops: [0, 1, 2].map(|i| r(&self.hop_out[i]).saturating_sub(r(&self.hop_in[i]))),
            egress: r(&self.egress_published).saturating_sub(r(&self.egress_consumed)),
        }
    }

    /// True when every published event, all the feedback it caused, and every egress event
    /// it caused has been processed (the observer included).
    pub fn idle(&self) -> bool {
        let r = |a: &Counter| a.load(Ordering::Acquire);
        r(&self.ingress_consumed) == r(&self.ingress_published)
            && r(&self.feedback_in) == r(&self.feedback_out)
            && (0..3).all(|i| r(&self.hop_in[i]) == r(&self.hop_out[i]))
            && r(&self.egress_consumed) == r(&self.egress_published)
    }
}
