//! The one way into the ingress ring. Every publisher — feeds, timers, the console, tools —
//! holds an [`IngressPublisher`], which stamps each tick with the clock (the start of its
//! tick-to-order latency) and counts every event it publishes, so the ring's fill level and
//! "everything processed" are true whoever published.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use disruptor::{MultiConsumerBarrier, MultiProducer, Producer, SingleConsumerBarrier};

use super::Progress;
use crate::model::{IngressEvent, Input};

#[derive(Clone)]
pub(super) enum Producers {
    /// The stages are the only consumer.
    One(MultiProducer<IngressEvent, SingleConsumerBarrier>),
    /// The stages and a branch consumer (the journal) read the ring in parallel.
    Two(MultiProducer<IngressEvent, MultiConsumerBarrier>),
}

/// A handle on the ingress ring; clone one for each publishing thread.
#[derive(Clone)]
pub struct IngressPublisher {
    ring: Producers,
    clock: quanta::Clock,
    progress: Arc<Progress>,
}

impl IngressPublisher {
    pub(super) fn new(ring: Producers, clock: quanta::Clock, progress: Arc<Progress>) -> IngressPublisher {
        IngressPublisher { ring, clock, progress }
    }

    /// Publishes one input, waiting while the ring is full. `source` is the input's position
    /// in its source (record number + 1 of a replayed file), 0 when it has none. Ticks and
    /// timers are stamped with the clock: orders they cause report tick-to-order (or
    /// timer-to-order, kept apart) latency from here; commands are not stamped.
    #[inline]
    pub fn publish(&mut self, input: Input, source: u64) {
        let ingress_raw = if matches!(input, Input::Tick(_) | Input::Timer(_)) { self.clock.raw() } else { 0 };
        self.publish_stamped(input, source, ingress_raw);
    }

    /// [`IngressPublisher::publish`] with the caller's own stamp: a load generator stamps a
    /// tick with the time it was due, not sent, so a ring that made it wait shows as latency.
    #[inline]
    pub fn publish_stamped(&mut self, input: Input, source: u64, ingress_raw: u64) {
        let fill = |e: &mut IngressEvent| *e = IngressEvent { input, ingress_raw, source };
        match &mut self.ring {
            Producers::One(p) => p.publish(fill),
            Producers::Two(p) => p.publish(fill),
        }
        self.progress.ingress_published.fetch_add(1, Ordering::Release);
    }

    /// Publishes `input` (unstamped) if the ring has room now; false, and nothing published,
    /// if it is full. For the one publisher that must never wait: the pipeline's own order
    /// thread, sending feedback to the head of the pipeline.
    #[inline]
    pub(super) fn try_publish(&mut self, input: Input) -> bool {
        let fill = |e: &mut IngressEvent| *e = IngressEvent { input, ingress_raw: 0, source: 0 };
        let done = match &mut self.ring {
            Producers::One(p) => p.try_publish(fill).is_ok(),
            Producers::Two(p) => p.try_publish(fill).is_ok(),
        };
        if done {
            self.progress.ingress_published.fetch_add(1, Ordering::Release);
        }
        done
    }

    /// Events published into this ring and not yet taken by the stages.
    pub fn backlog(&self) -> u64 {
        self.progress.fill(false).ingress
    }

    /// The pipeline's counters (ring fill levels for `/metrics`).
    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    pub fn clock(&self) -> &quanta::Clock {
        &self.clock
    }
}
