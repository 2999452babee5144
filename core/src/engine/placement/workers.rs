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
use crate::engine::stats::LiveStats;
use crate::engine::Engine;
use crate::metrics::LatencyHistogram;
use crate::model::{EgressEvent, Feedback, IngressEvent, Msg};
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
                if unpublished > 0 && last_publish.elapsed() >= PUBLISH_PERIOD {
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

/// A slot of the feedback ring (the ring needs a default value; no feedback is `None`).
type FeedbackSlot = Option<Feedback>;

/// The first stage. It also forwards order-stage feedback into the chain, before each poll.
pub(super) struct Candle {
    stage: CandleStage,
    tx: Tx<Msg>,
    feedback: Rx<FeedbackSlot>,
    timer: Timed,
    out: u64,
}

impl Worker for Candle {
    type In = IngressEvent;
    type Out = (CandleStage, LatencyHistogram);

    fn finish(self) -> Self::Out {
        (self.stage, self.timer.hist)
    }

    fn before_poll(&mut self, progress: &Progress) -> bool {
        let Candle { tx, feedback, .. } = self;
        // Publishing into the first hop may wait for room; that is safe because the order
        // thread never waits for this ring (it spills instead), so the cycle cannot lock.
        let n = feedback
            .drain(|f| {
                if let Some(f) = *f {
                    tx.publish(|s| *s = Msg::Feedback(f));
                }
            })
            .unwrap_or_default();
        if n > 0 {
            progress.hop_out[0].fetch_add(n, Ordering::Release);
            progress.feedback_in.fetch_add(n, Ordering::Release);
        }
        n > 0
    }

    #[inline]
    fn handle(&mut self, ev: &IngressEvent) {
        let Candle { stage, tx, timer, out, .. } = self;
        timer.time(|| {
            stage.on_input(ev, &mut |m| {
                tx.publish(|s| *s = m);
                *out += 1;
            })
        });
    }

    fn after_batch(&mut self, n: u64, progress: &Progress) {
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
}

impl MidStage for StrategyStage {
    #[inline]
    fn process(&mut self, m: &Msg, out: &mut impl FnMut(Msg)) {
        self.on_msg(m, out)
    }
    fn publish(&self, live: &LiveStats) {
        live.publish_strategy(self)
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
}

pub(super) struct Mid<S> {
    stage: S,
    /// Index of the hop this stage reads from.
    hop: usize,
    tx: Tx<Msg>,
    timer: Timed,
    out: u64,
}

impl<S: MidStage> Worker for Mid<S> {
    type In = Msg;
    type Out = (S, LatencyHistogram);

    fn finish(self) -> Self::Out {
        (self.stage, self.timer.hist)
    }

    #[inline]
    fn handle(&mut self, m: &Msg) {
        let Mid { stage, tx, timer, out, .. } = self;
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

/// The last stage: orders, paper venue, portfolio; publishes egress and sends feedback back.
pub(super) struct Order {
    stage: OrderStage,
    egress: EgressOut,
    feedback: FeedbackOut,
    timer: Timed,
    sent: u64,
    progress: Arc<Progress>,
}

impl Worker for Order {
    type In = Msg;
    type Out = (OrderStage, LatencyHistogram);

    fn finish(mut self) -> Self::Out {
        self.egress.finish(&self.progress);
        (self.stage, self.timer.hist)
    }

    #[inline]
    fn handle(&mut self, m: &Msg) {
        let Order { stage, egress, feedback, timer, sent, .. } = self;
        timer.time(|| {
            let publish = &mut |e| egress.send(e);
            stage.on_msg(m, publish, &mut |f| {
                feedback.send(f);
                *sent += 1;
            })
        });
    }

    fn before_poll(&mut self, _progress: &Progress) -> bool {
        self.feedback.flush()
    }

    fn after_batch(&mut self, n: u64, progress: &Progress) {
        self.egress.report(progress);
        progress.feedback_out.fetch_add(std::mem::take(&mut self.sent), Ordering::Release);
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

/// The order thread's end of the feedback ring. The order thread must never wait for the
/// first stage (which may itself be waiting for room in the chain that ends here), so what
/// does not fit in the ring waits in a spill queue, pre-sized to the ring, and goes first
/// next time: order is kept, nothing is lost, and steady state allocates nothing.
struct FeedbackOut {
    ring: Tx<FeedbackSlot>,
    spill: VecDeque<Feedback>,
}

impl FeedbackOut {
    fn new(ring: Tx<FeedbackSlot>, size: usize) -> Self {
        FeedbackOut { ring, spill: VecDeque::with_capacity(size) }
    }

    #[inline]
    fn send(&mut self, f: Feedback) {
        if !self.spill.is_empty() || self.ring.try_publish(|s| *s = Some(f)).is_err() {
            self.spill.push_back(f);
        }
    }

    /// Moves spilled feedback into the ring while it has room; true if any moved.
    fn flush(&mut self) -> bool {
        let mut moved = false;
        while let Some(&f) = self.spill.front() {
            if self.ring.try_publish(|s| *s = Some(f)).is_err() {
                break;
            }
            self.spill.pop_front();
            moved = true;
        }
        moved
    }
}

fn mid<S: MidStage>(stage: S, hop: usize, tx: Tx<Msg>) -> Mid<S> {
    Mid { stage, hop, tx, timer: Timed::new(), out: 0 }
}

/// Handles of the four stage threads of a pipelined engine.
pub(super) struct PipelinedThreads {
    pub candle: JoinHandle<(CandleStage, LatencyHistogram)>,
    pub strategy: JoinHandle<(StrategyStage, LatencyHistogram)>,
    pub risk: JoinHandle<(RiskStage, LatencyHistogram)>,
    pub order: JoinHandle<(OrderStage, LatencyHistogram)>,
}

pub(super) fn run_pipelined(
    (candle, strategy, risk, order): (CandleStage, StrategyStage, RiskStage, OrderStage),
    ingress: IngressRx,
    egress: EgressOut,
    cores: [Option<usize>; 4],
    ring_size: usize,
    ctx: &Ctx,
) -> PipelinedThreads {
    let (fb_tx, fb_rx) = ring::<FeedbackSlot>(ring_size);
    let (r1_tx, r1_rx) = ring::<Msg>(ring_size);
    let (r2_tx, r2_rx) = ring::<Msg>(ring_size);
    let (r3_tx, r3_rx) = ring::<Msg>(ring_size);
    let candle = Candle { stage: candle, tx: r1_tx, feedback: fb_rx, timer: Timed::new(), out: 0 };
    PipelinedThreads {
        candle: start("candle", cores[0], ctx.clone(), candle, ingress),
        strategy: start("strategy", cores[1], ctx.clone(), mid(strategy, 0, r2_tx), r1_rx),
        risk: start("risk", cores[2], ctx.clone(), mid(risk, 1, r3_tx), r2_rx),
        order: start(
            "order",
            cores[3],
            ctx.clone(),
            Order {
                stage: order,
                egress,
                feedback: FeedbackOut::new(fb_tx, ring_size),
                timer: Timed::new(),
                sent: 0,
                progress: ctx.progress.clone(),
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
    use super::*;
    use crate::model::{AccountId, OrderId, RejectReason};

    fn fb(n: u64) -> Feedback {
        Feedback::CommandRefused { account: AccountId(0), order: OrderId(n), reason: RejectReason::UnknownAccount }
    }

    fn take(rx: &mut Rx<FeedbackSlot>, got: &mut Vec<u64>) {
        let _ = rx.drain(|s| {
            if let Some(Feedback::CommandRefused { order, .. }) = s {
                got.push(order.0)
            }
        });
    }

    #[test]
    fn feedback_that_does_not_fit_waits_in_order_and_is_never_lost() {
        let (tx, mut rx) = ring::<FeedbackSlot>(4);
        let mut out = FeedbackOut::new(tx, 4);
        for n in 1..=10 {
            out.send(fb(n));
        }
        assert_eq!(out.spill.len(), 6, "a full ring spills instead of waiting");
        assert!(!out.flush(), "nothing moves while the ring is full");
        let mut got = vec![];
        take(&mut rx, &mut got);
        // Newer feedback queues behind the spill even when the ring has room.
        out.send(fb(11));
        assert_eq!(out.spill.len(), 7);
        while out.flush() {
            take(&mut rx, &mut got);
        }
        take(&mut rx, &mut got);
        assert_eq!(got, (1..=11).collect::<Vec<_>>());
        assert!(out.spill.is_empty());
        assert!(out.spill.capacity() >= 4, "the spill keeps its room");
    }
}
