//! What each stage thread runs. Every thread is the same loop — poll the ring, handle the
//! batch, publish counters now and then, idle by the wait strategy — around a [`Worker`] that
//! says what handling means for its stage.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use disruptor::{
    BusySpin, EventPoller, MultiProducerBarrier, Polling, Producer, SingleConsumerBarrier, SingleProducer,
    SingleProducerBarrier,
};

use super::affinity::pin_current;
use super::{EgressObserver, EgressTap, IngressPublisher, InlineSource, Pinning, Progress, SourcePoll, INLINE_ROOM};
use crate::engine::placement::WaitKind;
use crate::engine::snapshot::{self, Snapshot, SnapshotError, SnapshotHeader, SnapshotSink};
use crate::engine::stats::LiveStats;
use crate::engine::Engine;
use crate::metrics::LatencyHistogram;
use crate::model::{EgressEvent, Feedback, FeedbackRoute, IngressEvent, Input, Msg};
use crate::stages::candle::CandleStage;
use crate::stages::order::OrderStage;
use crate::stages::risk::RiskStage;
use crate::stages::strategy::StrategyStage;

/// Longest an idle observer sleeps between two looks at the egress ring (it backs off to this
/// from the configured sleep while nothing comes).
const OBSERVER_MAX_SLEEP: Duration = Duration::from_millis(2);
/// Live counters are published for watchers at most this often (on a timer, not after every
/// batch: publishing touches every account's counters, which a thread between two ticks should
/// not pay for each tick).
const PUBLISH_PERIOD: Duration = Duration::from_millis(20);
/// Inputs handled before a busy thread publishes (once the period is also up).
const PUBLISH_EVERY: u64 = 1024;
/// Idle polls between two looks at the clock for the publish timer (with a sleeping wait,
/// each poll already takes a sleep, so the timer is still read every few milliseconds).
const IDLE_POLLS_PER_CLOCK: u32 = 64;
/// Stage latency quantiles (which walk histograms) are published at most this often.
const STAGE_PUBLISH_NS: u64 = 250_000_000;

pub(super) type Tx<E> = SingleProducer<E, SingleConsumerBarrier>;
pub(super) type Rx<E> = EventPoller<E, SingleProducerBarrier>;
pub(super) type IngressRx = EventPoller<IngressEvent, MultiProducerBarrier>;

/// A single-producer ring between two threads.
pub(super) fn ring<E: Send + Sync + Default + 'static>(size: usize) -> (Tx<E>, Rx<E>) {
    let (poller, builder) = disruptor::build_single_producer(size, E::default, BusySpin).new_event_poller();
    (builder.build(), poller)
}

/// A slot of the egress ring: the event and its egress sequence number (the engine's count of
/// events emitted, from 1, continuing across restarts), so an observer that lost events to a
/// full ring learns which and how many.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct EgressSlot {
    pub seq: u64,
    pub event: EgressEvent,
}

// Pinned like the other ring slots (see `model::event`).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<EgressSlot>() == 208, "EgressSlot (egress ring slot) changed size");

/// The engine side of the egress ring.
///
/// Lossless (the default) waits for room, so every observer sees every event: backtests,
/// tools and tests rely on that. Lossy never waits: an event that finds the ring full is
/// dropped and counted, and the observer is told of the gap. Venue requests are never
/// dropped: the gateway is the one consumer allowed to hold the engine back.
pub(super) struct EgressOut {
    tx: Tx<EgressSlot>,
    seq: u64,
    lossy: bool,
    published: u64,
    dropped: u64,
}

impl EgressOut {
    pub(super) fn new(tx: Tx<EgressSlot>, emitted_before: u64, lossy: bool) -> Self {
        EgressOut { tx, seq: emitted_before, lossy, published: 0, dropped: 0 }
    }

    #[inline]
    fn send(&mut self, event: EgressEvent) {
        self.seq += 1;
        let slot = EgressSlot { seq: self.seq, event };
        if self.lossy && !matches!(event, EgressEvent::VenueRequest(_)) {
            if self.tx.try_publish(|s| *s = slot).is_err() {
                self.dropped += 1;
                return;
            }
        } else {
            self.tx.publish(|s| *s = slot);
        }
        self.published += 1;
    }

    fn report(&self, progress: &Progress) {
        progress.egress_published.store(self.published, Ordering::Release);
        progress.egress_dropped.store(self.dropped, Ordering::Release);
    }

    /// At the end of a run that dropped events, one marker past the last sequence (waiting
    /// for room), so the observer also learns of drops after the last event it received.
    fn finish(&mut self, progress: &Progress) {
        if self.dropped > 0 {
            let slot = EgressSlot { seq: self.seq + 1, event: EgressEvent::Empty };
            self.tx.publish(|s| *s = slot);
            self.published += 1;
        }
        self.report(progress);
    }
}

/// Thread context shared by every stage thread.
#[derive(Clone)]
pub(super) struct Ctx {
    pub wait: WaitKind,
    pub sleep: Duration,
    pub available: Vec<usize>,
    pub pinning: Arc<Mutex<Vec<Pinning>>>,
    pub progress: Arc<Progress>,
    pub live: Arc<LiveStats>,
    /// Set when the pipeline is told to stop.
    pub stop: Arc<AtomicBool>,
}

impl Ctx {
    fn pin(&self, thread: &str, core: Option<usize>) {
        let p = pin_current(thread, core, &self.available);
        if let Ok(mut v) = self.pinning.lock() {
            v.push(p);
        }
    }
}

/// Idles between polls according to the wait strategy.
#[inline]
fn idle(wait: WaitKind, sleep: Duration, spins: &mut u32) {
    match wait {
        WaitKind::BusySpin => std::hint::spin_loop(),
        WaitKind::Yield => std::thread::yield_now(),
        WaitKind::Sleep => {
            if *spins < 64 {
                *spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::sleep(sleep);
            }
        }
    }
}

/// A ring a thread reads from. (The disruptor's barrier trait is private, so the two poller
/// kinds are named here.)
trait Source<E> {
    /// Hands every available event to `f`; the slots are released before this returns.
    fn drain(&mut self, f: impl FnMut(&E)) -> Result<u64, Polling>;
}

macro_rules! source {
    ($barrier:ty) => {
        impl<E> Source<E> for EventPoller<E, $barrier> {
            #[inline]
            fn drain(&mut self, mut f: impl FnMut(&E)) -> Result<u64, Polling> {
                let mut batch = self.poll()?;
                let mut n = 0;
                for e in &mut batch {
                    f(e);
                    n += 1;
                }
                Ok(n)
            }
        }
    };
}
source!(SingleProducerBarrier);
source!(MultiProducerBarrier);

/// One stage's share of a thread's work.
trait Worker: Send + 'static {
    type In;
    /// What the thread hands back when it stops. Producing it drops the worker's ring
    /// producers, which is what tells the next stage to stop too.
    type Out: Send + 'static;
    fn finish(self) -> Self::Out;
    /// Work before each poll; true if there was some (then the thread does not idle).
    fn before_poll(&mut self, _progress: &Progress) -> bool {
        false
    }
    fn handle(&mut self, input: &Self::In);
    /// After a batch of `n` inputs, with its ring slots released.
    fn after_batch(&mut self, n: u64, progress: &Progress);
    fn publish(&mut self, live: &LiveStats);
}

fn poll_loop<W: Worker, S: Source<W::In>>(worker: &mut W, rx: &mut S, ctx: &Ctx) {
    let mut spins = 0;
    let mut unpublished = 0u64;
    let mut idle_polls = 0u32;
    let mut last_publish = Instant::now();
    loop {
        let busy = worker.before_poll(&ctx.progress);
        match rx.drain(|e| worker.handle(e)) {
            Ok(n) => {
                spins = 0;
                worker.after_batch(n, &ctx.progress);
                unpublished += n;
                if unpublished >= PUBLISH_EVERY && last_publish.elapsed() >= PUBLISH_PERIOD {
                    worker.publish(&ctx.live);
                    unpublished = 0;
                    last_publish = Instant::now();
                }
            }
            Err(Polling::NoEvents) => {
                // The clock is read once every few idle polls: reading it on every one would
                // make each turn of a spinning wait several times longer, and an event that
                // arrives mid-turn waits for the turn to end.
                idle_polls = idle_polls.wrapping_add(1);
                if unpublished > 0
                    && idle_polls.is_multiple_of(IDLE_POLLS_PER_CLOCK)
                    && last_publish.elapsed() >= PUBLISH_PERIOD
                {
                    worker.publish(&ctx.live);
                    unpublished = 0;
                    last_publish = Instant::now();
                }
                if !busy {
                    idle(ctx.wait, ctx.sleep, &mut spins)
                }
            }
            Err(Polling::Shutdown) => break,
        }
    }
    worker.publish(&ctx.live);
}

fn spawn<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    // Thread creation fails only when the OS is out of resources; nothing can run then.
    std::thread::Builder::new()
        .name(format!("dalal-{name}"))
        .spawn(f)
        .unwrap_or_else(|e| panic!("cannot start thread {name}: {e}"))
}

/// Starts a pinned stage thread running `worker` over `rx`; the worker comes back at the end.
fn start<W: Worker, S: Source<W::In> + Send + 'static>(
    name: &'static str,
    core: Option<usize>,
    ctx: Ctx,
    mut worker: W,
    mut rx: S,
) -> JoinHandle<W::Out> {
    spawn(name, move || {
        ctx.pin(name, core);
        poll_loop(&mut worker, &mut rx, &ctx);
        worker.finish()
    })
}

/// Measures one handling in a stage's own histogram.
struct Timed {
    clock: quanta::Clock,
    hist: LatencyHistogram,
    last_publish: u64,
}

impl Timed {
    fn new() -> Self {
        Timed { clock: quanta::Clock::new(), hist: LatencyHistogram::new(), last_publish: 0 }
    }

    /// Publishes this stage's quantiles as stage `stage` if the last time was long enough ago;
    /// true if it did.
    fn publish(&mut self, stage: usize, live: &LiveStats) -> bool {
        let now = self.clock.raw();
        if self.clock.delta_as_nanos(self.last_publish, now) < STAGE_PUBLISH_NS {
            return false;
        }
        self.last_publish = now;
        live.publish_stage(stage, &self.hist);
        true
    }

    #[inline]
    fn time<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let t0 = self.clock.raw();
        let r = f();
        self.hist.record(self.clock.delta_as_nanos(t0, self.clock.raw()));
        r
    }
}

// ── fused ────────────────────────────────────────────────────────────────────────────────

pub(super) struct Fused {
    engine: Engine,
    egress: EgressOut,
    last_stage_publish: u64,
    /// Sources this thread polls itself, and the tap it calls with every egress event.
    inline: Vec<Box<dyn InlineSource>>,
    tap: Option<Box<dyn EgressTap>>,
    /// This thread's own publisher and the ring's size, for what it polls; dropped when the
    /// pipeline stops (it would otherwise keep the ring open).
    own: Option<(IngressPublisher, usize)>,
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
}

impl Worker for Fused {
    type In = IngressEvent;
    type Out = (Engine, Option<Box<dyn EgressTap>>);

    fn finish(mut self) -> Self::Out {
        if let Some(t) = self.tap.as_mut() {
            t.finish();
        }
        self.egress.finish(&self.progress);
        (self.engine, self.tap)
    }

    #[inline]
    fn before_poll(&mut self, progress: &Progress) -> bool {
        let Some((publisher, size)) = self.own.as_mut() else { return false };
        if self.stop.load(Ordering::Relaxed) {
            // Sources end with the run; the tap still finishes (in `finish`).
            self.inline.clear();
            self.own = None;
            return false;
        }
        // Only with room to spare: this thread is the ring's consumer, so a publish that had
        // to wait for space would wait for ever.
        let free = (*size as u64).saturating_sub(progress.fill(false).ingress);
        let room = if free >= 2 * INLINE_ROOM as u64 { INLINE_ROOM } else { 0 };
        let mut busy = false;
        if let Some(t) = self.tap.as_mut() {
            busy |= t.poll(publisher, room) > 0;
        }
        if room > 0 {
            let mut k = 0;
            while k < self.inline.len() {
                match self.inline[k].poll(publisher, room) {
                    SourcePoll::Published(n) => {
                        busy |= n > 0;
                        k += 1;
                    }
                    SourcePoll::Done => {
                        self.inline.remove(k);
                    }
                }
            }
        }
        if self.inline.is_empty() && self.tap.is_none() {
            self.own = None;
        }
        busy
    }

    #[inline]
    fn handle(&mut self, ev: &IngressEvent) {
        let Fused { engine, egress, tap, .. } = self;
        match tap {
            Some(tap) => engine.step(ev, &mut |e| {
                tap.on_event(ev, &e);
                egress.send(e);
            }),
            None => engine.step(ev, &mut |e| egress.send(e)),
        }
    }

    fn after_batch(&mut self, n: u64, progress: &Progress) {
        self.egress.report(progress);
        progress.ingress_consumed.fetch_add(n, Ordering::Release);
        self.engine.maybe_snapshot();
    }

    fn publish(&mut self, live: &LiveStats) {
        live.publish_candle(&self.engine.candle);
        live.publish_strategy(&self.engine.strategy);
        live.publish_risk(&self.engine.risk);
        live.publish_order(&self.engine.order);
        let clock = self.engine.clock();
        let now = clock.raw();
        if clock.delta_as_nanos(self.last_stage_publish, now) >= STAGE_PUBLISH_NS {
            self.last_stage_publish = now;
            let l = &self.engine.latencies;
            for (i, h) in [
                &l.candle,
                &l.strategy,
                &l.risk,
                &l.order,
                &self.engine.order.tick_to_order,
                &self.engine.order.timer_to_order,
            ]
            .into_iter()
            .enumerate()
            {
                live.publish_stage(i, h);
            }
        }
    }
}

/// What the fused thread runs besides the ring.
pub(super) struct Attached {
    pub inline: Vec<Box<dyn InlineSource>>,
    pub tap: Option<Box<dyn EgressTap>>,
    /// Its own publisher, and the ring's size, when it has anything to publish for.
    pub own: Option<(IngressPublisher, usize)>,
}

pub(super) fn run_fused(
    engine: Engine,
    rx: IngressRx,
    egress: EgressOut,
    attached: Attached,
    core: Option<usize>,
    ctx: Ctx,
) -> JoinHandle<(Engine, Option<Box<dyn EgressTap>>)> {
    let stop = ctx.stop.clone();
    let progress = ctx.progress.clone();
    let Attached { inline, tap, own } = attached;
    let worker = Fused { engine, egress, last_stage_publish: 0, inline, tap, own, stop, progress };
    start("engine", core, ctx, worker, rx)
}

// ── pipelined ────────────────────────────────────────────────────────────────────────────

/// A pipelined snapshot on its way down the stage threads: the ingress sequence it covers and
/// the stages' encoded states so far. At most one is in flight.
struct PendingSnapshot {
    applied: u64,
    parts: Vec<u8>,
    /// Time the stage threads spent encoding (each paused its own stage that long).
    took: Duration,
    failed: Option<SnapshotError>,
}

type SnapshotSlot = Arc<Mutex<Option<PendingSnapshot>>>;

/// Adds one stage's state to the snapshot in flight (a stage thread, at the barrier).
fn add_part(slot: &SnapshotSlot, encode: impl FnOnce(&mut Vec<u8>) -> Result<(), SnapshotError>) {
    let Ok(mut guard) = slot.lock() else { return };
    let Some(p) = guard.as_mut() else { return };
    if p.failed.is_none() {
        let t0 = Instant::now();
        if let Err(e) = encode(&mut p.parts) {
            p.failed = Some(e);
        }
        p.took += t0.elapsed();
    }
}

fn encode_into<T: serde::Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), SnapshotError> {
    out.extend(postcard::to_stdvec(value)?);
    Ok(())
}

/// What the first stage needs to start snapshots.
pub(super) struct SnapshotStart {
    every_ns: u64,
    last_raw: u64,
    clock: quanta::Clock,
    slot: SnapshotSlot,
}

/// What the order thread needs to finish and send them.
pub(super) struct SnapshotFinish {
    sink: SnapshotSink,
    fingerprint: u64,
    slot: SnapshotSlot,
}

/// Periodic snapshots of a pipelined engine: the first stage starts one between two batches
/// and sends a barrier down the chain; each stage thread adds its state when the barrier
/// reaches it, which is its state after exactly the events before the barrier, and the order
/// thread sends the whole. No stage waits for another.
fn pipelined_snapshots(
    sink: Option<SnapshotSink>,
    fingerprint: u64,
    clock: &quanta::Clock,
) -> (Option<SnapshotStart>, Option<SnapshotSlot>, Option<SnapshotFinish>) {
    let Some(sink) = sink else { return (None, None, None) };
    let slot: SnapshotSlot = Arc::default();
    let every_ns = u64::try_from(sink.every.as_nanos()).unwrap_or(u64::MAX);
    let start = SnapshotStart { every_ns, last_raw: clock.raw(), clock: clock.clone(), slot: slot.clone() };
    let finish = SnapshotFinish { sink, fingerprint, slot: slot.clone() };
    (Some(start), Some(slot), Some(finish))
}

/// The first stage. Order-stage feedback reaches it through the ingress ring, so it needs no
/// other input.
pub(super) struct Candle {
    stage: CandleStage,
    tx: Tx<Msg>,
    timer: Timed,
    out: u64,
    /// Ingress sequence number of the last event handled (across restarts).
    applied: u64,
    snapshots: Option<SnapshotStart>,
}

impl Candle {
    /// Starts a snapshot if one is due and none is in flight.
    fn maybe_snapshot(&mut self) {
        let Some(s) = &mut self.snapshots else { return };
        let now = s.clock.raw();
        if s.clock.delta_as_nanos(s.last_raw, now) < s.every_ns {
            return;
        }
        let Ok(mut guard) = s.slot.lock() else { return };
        if guard.is_some() {
            return;
        }
        s.last_raw = now;
        let t0 = Instant::now();
        let mut parts = Vec::with_capacity(1 << 16);
        let failed = encode_into(&self.stage, &mut parts).err();
        *guard = Some(PendingSnapshot { applied: self.applied, parts, took: t0.elapsed(), failed });
        drop(guard);
        let applied = self.applied;
        self.tx.publish(|m| *m = Msg::Snapshot { applied });
        self.out += 1;
    }
}

impl Worker for Candle {
    type In = IngressEvent;
    type Out = (CandleStage, LatencyHistogram);

    fn finish(self) -> Self::Out {
        (self.stage, self.timer.hist)
    }

    #[inline]
    fn handle(&mut self, ev: &IngressEvent) {
        let Candle { stage, tx, timer, out, .. } = self;
        self.applied += 1;
        timer.time(|| {
            stage.on_input(ev, &mut |m| {
                tx.publish(|s| *s = m);
                *out += 1;
            })
        });
    }

    fn after_batch(&mut self, n: u64, progress: &Progress) {
        self.maybe_snapshot();
        progress.hop_out[0].fetch_add(std::mem::take(&mut self.out), Ordering::Release);
        progress.ingress_consumed.fetch_add(n, Ordering::Release);
    }

    fn publish(&mut self, live: &LiveStats) {
        live.publish_candle(&self.stage);
        self.timer.publish(0, live);
    }
}

/// A middle stage: one message in, any number out.
pub(super) trait MidStage: Send + 'static {
    fn process(&mut self, m: &Msg, out: &mut impl FnMut(Msg));
    fn publish(&self, live: &LiveStats);
    /// Appends this stage's state, as a snapshot holds it.
    fn save(&self, out: &mut Vec<u8>) -> Result<(), SnapshotError>;
}

impl MidStage for StrategyStage {
    #[inline]
    fn process(&mut self, m: &Msg, out: &mut impl FnMut(Msg)) {
        self.on_msg(m, out)
    }
    fn publish(&self, live: &LiveStats) {
        live.publish_strategy(self)
    }
    fn save(&self, out: &mut Vec<u8>) -> Result<(), SnapshotError> {
        encode_into(&self.save_state()?, out)
    }
}

impl MidStage for RiskStage {
    #[inline]
    fn process(&mut self, m: &Msg, out: &mut impl FnMut(Msg)) {
        self.on_msg(m, out)
    }
    fn publish(&self, live: &LiveStats) {
        live.publish_risk(self)
    }
    fn save(&self, out: &mut Vec<u8>) -> Result<(), SnapshotError> {
        encode_into(self, out)
    }
}

pub(super) struct Mid<S> {
    stage: S,
    /// Index of the hop this stage reads from.
    hop: usize,
    tx: Tx<Msg>,
    timer: Timed,
    out: u64,
    snapshots: Option<SnapshotSlot>,
}

impl<S: MidStage> Worker for Mid<S> {
    type In = Msg;
    type Out = (S, LatencyHistogram);

    fn finish(self) -> Self::Out {
        (self.stage, self.timer.hist)
    }

    #[inline]
    fn handle(&mut self, m: &Msg) {
        let Mid { stage, tx, timer, out, snapshots, .. } = self;
        if let Msg::Snapshot { .. } = m {
            if let Some(slot) = snapshots {
                add_part(slot, |parts| stage.save(parts));
            }
            tx.publish(|s| *s = *m);
            *out += 1;
            return;
        }
        timer.time(|| {
            stage.process(m, &mut |o| {
                tx.publish(|s| *s = o);
                *out += 1;
            })
        });
    }

    fn after_batch(&mut self, n: u64, progress: &Progress) {
        progress.hop_out[self.hop + 1].fetch_add(std::mem::take(&mut self.out), Ordering::Release);
        progress.hop_in[self.hop].fetch_add(n, Ordering::Release);
    }

    fn publish(&mut self, live: &LiveStats) {
        self.stage.publish(live);
        self.timer.publish(self.hop + 1, live);
    }
}

/// The order thread's egress tap is told of each event without the ingress event that caused
/// it (that event was handled on the first stage's thread).
const NO_CAUSE: IngressEvent = IngressEvent { input: Input::Empty, ingress_raw: 0, source: 0 };

/// The last stage: orders, paper venue, portfolio; publishes egress, sends feedback back
/// through the ingress ring, and runs the live venue's egress tap.
pub(super) struct Order {
    stage: OrderStage,
    egress: EgressOut,
    feedback: FeedbackOut,
    /// Feedback of the message being handled, sent once the stage is done with it.
    fresh: Vec<Feedback>,
    timer: Timed,
    progress: Arc<Progress>,
    tap: Option<Box<dyn EgressTap>>,
    ring_size: usize,
    stop: Arc<AtomicBool>,
    snapshots: Option<SnapshotFinish>,
}

/// What the order thread hands back.
pub(super) struct OrderOut {
    pub stage: OrderStage,
    pub hist: LatencyHistogram,
    pub tap: Option<Box<dyn EgressTap>>,
    /// Egress events emitted by the end (across restarts).
    pub emitted: u64,
}

impl Order {
    /// Completes the snapshot whose barrier this is and sends it.
    fn finish_snapshot(&mut self, applied: u64) {
        let Some(f) = &self.snapshots else { return };
        let Some(p) = f.slot.lock().ok().and_then(|mut g| g.take()) else { return };
        let PendingSnapshot { applied: started, parts, mut took, failed } = p;
        if started != applied {
            return;
        }
        let t0 = Instant::now();
        let header = SnapshotHeader {
            applied,
            emitted: self.egress.seq,
            fingerprint: f.fingerprint,
            route: FeedbackRoute::Journaled,
        };
        let mut bytes = snapshot::MAGIC.to_vec();
        let encoded = failed.map_or(Ok(()), Err).and_then(|()| {
            encode_into(&header, &mut bytes)?;
            bytes.extend_from_slice(&parts);
            encode_into(&self.stage, &mut bytes)
        });
        took += t0.elapsed();
        match encoded {
            Ok(()) => {
                let _ = f.sink.tx.try_send(Snapshot { header, bytes, took });
            }
            Err(e) => {
                tracing::warn!(error = %e, "engine state cannot be snapshotted; recovery will replay the journal");
                self.snapshots = None;
            }
        }
    }
}

impl Worker for Order {
    type In = Msg;
    type Out = OrderOut;

    fn finish(mut self) -> Self::Out {
        if let Some(t) = self.tap.as_mut() {
            t.finish();
        }
        self.egress.finish(&self.progress);
        OrderOut { emitted: self.egress.seq, stage: self.stage, hist: self.timer.hist, tap: self.tap }
    }

    #[inline]
    fn handle(&mut self, m: &Msg) {
        if let Msg::Snapshot { applied } = *m {
            self.finish_snapshot(applied);
            return;
        }
        let Order { stage, egress, feedback, fresh, timer, tap, progress, .. } = self;
        timer.time(|| {
            match tap {
                Some(tap) => stage.on_msg(
                    m,
                    &mut |e| {
                        tap.on_event(&NO_CAUSE, &e);
                        egress.send(e);
                    },
                    &mut |f| fresh.push(f),
                ),
                None => stage.on_msg(m, &mut |e| egress.send(e), &mut |f| fresh.push(f)),
            }
            for f in fresh.drain(..) {
                stage.feedback_sent(f);
                feedback.send(f, progress);
            }
        });
    }

    fn before_poll(&mut self, progress: &Progress) -> bool {
        let mut busy = self.feedback.flush(progress);
        if let (Some(tap), Some(out)) = (self.tap.as_mut(), self.feedback.ring.as_mut()) {
            // Only with room to spare: the first stage may be waiting for room in the chain
            // that ends at this thread, so a publish that had to wait could wait for ever.
            let free = (self.ring_size as u64).saturating_sub(progress.fill(false).ingress);
            let room = if free >= 2 * INLINE_ROOM as u64 { INLINE_ROOM } else { 0 };
            busy |= tap.poll(out, room) > 0;
        }
        if !busy && self.feedback.ring.is_some() && self.stop.load(Ordering::Relaxed) && self.feedback.spill.is_empty()
        {
            // Stopping: once everything published has been through, this thread lets go of
            // the ingress ring so the first stage sees it end. Feedback after this stays in
            // the order stage's unreturned list (a snapshot keeps it for the next start).
            let fill = progress.fill(false);
            if fill.ingress == 0 && fill.hops.iter().all(|&h| h == 0) {
                self.feedback.ring = None;
            }
        }
        busy
    }

    fn after_batch(&mut self, n: u64, progress: &Progress) {
        self.egress.report(progress);
        progress.hop_in[2].fetch_add(n, Ordering::Release);
    }

    fn publish(&mut self, live: &LiveStats) {
        live.publish_order(&self.stage);
        if self.timer.publish(3, live) {
            live.publish_stage(4, &self.stage.tick_to_order);
            live.publish_stage(5, &self.stage.timer_to_order);
        }
    }
}

/// The order thread's way back to the head of the pipeline: the ingress ring, so feedback is
/// sequenced and journaled with everything else. The order thread must never wait for the
/// first stage (which may itself be waiting for room in the chain that ends here), so what
/// does not fit waits in a spill queue, pre-sized to the ring, and goes first next time:
/// order is kept, nothing is lost, and steady state allocates nothing.
struct FeedbackOut {
    /// Dropped when the pipeline stops.
    ring: Option<IngressPublisher>,
    spill: VecDeque<Feedback>,
}

impl FeedbackOut {
    fn new(ring: IngressPublisher, size: usize) -> Self {
        FeedbackOut { ring: Some(ring), spill: VecDeque::with_capacity(size) }
    }

    #[inline]
    fn send(&mut self, f: Feedback, progress: &Progress) {
        let Some(ring) = self.ring.as_mut() else { return };
        progress.feedback_out.fetch_add(1, Ordering::Release);
        if !self.spill.is_empty() || !ring.try_publish(Input::Feedback(f)) {
            self.spill.push_back(f);
        } else {
            progress.feedback_in.fetch_add(1, Ordering::Release);
        }
    }

    /// Moves spilled feedback into the ring while it has room; true if any moved.
    fn flush(&mut self, progress: &Progress) -> bool {
        let Some(ring) = self.ring.as_mut() else { return false };
        let mut moved = 0;
        while let Some(&f) = self.spill.front() {
            if !ring.try_publish(Input::Feedback(f)) {
                break;
            }
            self.spill.pop_front();
            moved += 1;
        }
        if moved > 0 {
            progress.feedback_in.fetch_add(moved, Ordering::Release);
        }
        moved > 0
    }
}

fn mid<S: MidStage>(stage: S, hop: usize, tx: Tx<Msg>, snapshots: Option<SnapshotSlot>) -> Mid<S> {
    Mid { stage, hop, tx, timer: Timed::new(), out: 0, snapshots }
}

/// Handles of the four stage threads of a pipelined engine.
pub(super) struct PipelinedThreads {
    pub candle: JoinHandle<(CandleStage, LatencyHistogram)>,
    pub strategy: JoinHandle<(StrategyStage, LatencyHistogram)>,
    pub risk: JoinHandle<(RiskStage, LatencyHistogram)>,
    pub order: JoinHandle<OrderOut>,
}

/// What a pipelined engine starts from besides its stages and rings.
pub(super) struct PipelinedStart {
    pub feedback: IngressPublisher,
    pub tap: Option<Box<dyn EgressTap>>,
    /// Ingress events applied before this start.
    pub applied: u64,
    pub snapshots: Option<SnapshotSink>,
    pub fingerprint: u64,
}

pub(super) fn run_pipelined(
    (candle, strategy, risk, order): (CandleStage, StrategyStage, RiskStage, OrderStage),
    ingress: IngressRx,
    egress: EgressOut,
    cores: [Option<usize>; 4],
    ring_size: usize,
    start_with: PipelinedStart,
    ctx: &Ctx,
) -> PipelinedThreads {
    let PipelinedStart { feedback, tap, applied, snapshots, fingerprint } = start_with;
    let (r1_tx, r1_rx) = ring::<Msg>(ring_size);
    let (r2_tx, r2_rx) = ring::<Msg>(ring_size);
    let (r3_tx, r3_rx) = ring::<Msg>(ring_size);
    let (snap_start, snap_slot, snap_finish) = pipelined_snapshots(snapshots, fingerprint, feedback.clock());
    let candle = Candle { stage: candle, tx: r1_tx, timer: Timed::new(), out: 0, applied, snapshots: snap_start };
    PipelinedThreads {
        candle: start("candle", cores[0], ctx.clone(), candle, ingress),
        strategy: start("strategy", cores[1], ctx.clone(), mid(strategy, 0, r2_tx, snap_slot.clone()), r1_rx),
        risk: start("risk", cores[2], ctx.clone(), mid(risk, 1, r3_tx, snap_slot), r2_rx),
        order: start(
            "order",
            cores[3],
            ctx.clone(),
            Order {
                stage: order,
                egress,
                feedback: FeedbackOut::new(feedback, ring_size),
                fresh: Vec::with_capacity(64),
                timer: Timed::new(),
                progress: ctx.progress.clone(),
                tap,
                ring_size,
                stop: ctx.stop.clone(),
                snapshots: snap_finish,
            },
            r3_rx,
        ),
    }
}

/// A branch consumer of the ingress ring (the journal).
struct Branch(Box<dyn super::IngressConsumer>);

impl Worker for Branch {
    type In = IngressEvent;
    type Out = Box<dyn super::IngressConsumer>;

    fn finish(self) -> Self::Out {
        self.0
    }

    #[inline]
    fn handle(&mut self, ev: &IngressEvent) {
        self.0.on_event(ev);
    }

    fn after_batch(&mut self, n: u64, progress: &Progress) {
        self.0.end_batch();
        progress.branch_consumed.fetch_add(n, Ordering::Release);
    }

    fn publish(&mut self, _live: &LiveStats) {}
}

/// The branch consumer's thread. It is not latency-critical: it sleeps when idle.
pub(super) fn run_branch(
    consumer: Box<dyn super::IngressConsumer>,
    rx: EventPoller<IngressEvent, MultiProducerBarrier>,
    mut ctx: Ctx,
) -> JoinHandle<Box<dyn super::IngressConsumer>> {
    ctx.wait = WaitKind::Sleep;
    start("journal", None, ctx, Branch(consumer), rx)
}

/// The observer thread: consumes egress. It is never latency-critical, so it sleeps when idle
/// and never competes for a core with the stages (yielding would not give the core away when
/// the scheduler has nothing else queued on it). Sequence numbers it did not receive (a lossy
/// ring was full) reach the observer as gaps, before the next event it does receive.
pub(super) fn spawn_observer<O: EgressObserver>(
    mut observer: O,
    mut rx: Rx<EgressSlot>,
    emitted_before: u64,
    ctx: Ctx,
) -> JoinHandle<O> {
    spawn("observer", move || {
        let mut quiet = 0u32;
        let mut next = emitted_before + 1;
        loop {
            let drained = rx.drain(|slot| {
                if slot.seq > next {
                    observer.on_gap(next, slot.seq - next);
                }
                next = slot.seq + 1;
                // The end-of-run marker carries no event.
                if !matches!(slot.event, EgressEvent::Empty) {
                    observer.on_event(&slot.event);
                }
            });
            match drained {
                Ok(n) => {
                    quiet = 0;
                    ctx.progress.egress_consumed.fetch_add(n, Ordering::Release);
                }
                Err(Polling::NoEvents) => {
                    observer.on_idle();
                    // Backs off while nothing comes: a quiet engine's observer wakes at most
                    // every OBSERVER_MAX_SLEEP, not thousands of times a second on a core the
                    // engine or its peers may need.
                    quiet = quiet.saturating_add(1);
                    let factor = 1u32 << quiet.min(16);
                    std::thread::sleep((ctx.sleep * factor).min(OBSERVER_MAX_SLEEP));
                }
                Err(Polling::Shutdown) => break,
            }
        }
        observer
    })
}

#[cfg(test)]
mod tests {
    use super::super::publisher::Producers;
    use super::*;
    use crate::model::{AccountId, OrderId, RejectReason};

    fn fb(n: u64) -> Feedback {
        Feedback::CommandRefused { account: AccountId(0), order: OrderId(n), reason: RejectReason::UnknownAccount }
    }

    fn take(rx: &mut IngressRx, got: &mut Vec<u64>) {
        let _ = rx.drain(|e| {
            if let Input::Feedback(Feedback::CommandRefused { order, .. }) = e.input {
                got.push(order.0)
            }
        });
    }

    #[test]
    fn feedback_that_does_not_fit_waits_in_order_and_is_never_lost() {
        let size = 64;
        let (mut rx, builder) =
            disruptor::build_multi_producer(size, IngressEvent::default, BusySpin).new_event_poller();
        let progress = Arc::new(Progress::default());
        let publisher = IngressPublisher::new(Producers::One(builder.build()), quanta::Clock::new(), progress.clone());
        let mut out = FeedbackOut::new(publisher, size);
        for n in 1..=100 {
            out.send(fb(n), &progress);
        }
        assert_eq!(out.spill.len(), 36, "a full ring spills instead of waiting");
        assert!(!out.flush(&progress), "nothing moves while the ring is full");
        let mut got = vec![];
        take(&mut rx, &mut got);
        // Newer feedback queues behind the spill even when the ring has room.
        out.send(fb(101), &progress);
        assert_eq!(out.spill.len(), 37);
        while out.flush(&progress) {
            take(&mut rx, &mut got);
        }
        take(&mut rx, &mut got);
        assert_eq!(got, (1..=101).collect::<Vec<_>>());
        assert!(out.spill.is_empty());
        assert!(out.spill.capacity() >= size, "the spill keeps its room");
        let load = |c: &crossbeam_utils::CachePadded<std::sync::atomic::AtomicU64>| c.load(Ordering::Acquire);
        assert_eq!((load(&progress.feedback_out), load(&progress.feedback_in)), (101, 101));
        assert_eq!(load(&progress.ingress_published), 101);
        // Once the pipeline lets go of the ring, feedback is no longer sent (the order stage
        // keeps it as unreturned).
        out.ring = None;
        out.send(fb(102), &progress);
        assert!(out.spill.is_empty());
        assert_eq!(load(&progress.feedback_out), 101);
    }
}
