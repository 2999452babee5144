//! Placement: the same stages on threads. `fused` runs every stage on one thread as direct
//! calls; `pipelined` gives each stage its own thread with a disruptor ring between
//! neighbours. Either way every input enters through one multi-producer ingress ring and every
//! order change leaves through one egress ring, consumed by an observer thread.
//!
//! Order-stage feedback (fills, closed orders) must reach strategy and risk. Fused, it is
//! applied before the next ingress event. Pipelined, it travels back on an unbounded channel
//! that the first stage drains before each ingress batch and forwards down the chain; the
//! channel never blocks, so the loop cannot deadlock. Under saturation this means a decision
//! may see a fill a few events later than fused would; paced input gives identical results.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use std::sync::Mutex;

use disruptor::{
    BusySpin, EventPoller, MultiProducer, Polling, Producer, SingleConsumerBarrier, SingleProducer,
    SingleProducerBarrier,
};

use crate::config::{PlacementKind, WaitKind};
use crate::engine::Engine;
use crate::event::{EgressEvent, Feedback, IngressEvent, Msg};
use crate::live::LiveStats;
use crate::market::CandleStage;
use crate::metrics::LatencyHistogram;
use crate::orders::OrderStage;
use crate::risk::RiskStage;
use crate::strategy::StrategyStage;

/// The ingress ring's producer handle; clone it for each publishing thread.
pub type IngressProducer = MultiProducer<IngressEvent, SingleConsumerBarrier>;

/// Where and how the stage threads run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementConfig {
    pub placement: PlacementKind,
    pub wait: WaitKind,
    pub sleep: Duration,
    /// Requested cores: fused uses the first; pipelined uses four (candle, strategy, risk, order).
    pub cores: Vec<usize>,
    pub ring_size: usize,
}

impl Default for PlacementConfig {
    fn default() -> Self {
        PlacementConfig {
            placement: PlacementKind::Fused,
            wait: WaitKind::Sleep,
            sleep: Duration::from_micros(50),
            cores: Vec::new(),
            ring_size: 1 << 16,
        }
    }
}

/// What pinning a thread achieved.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Pinning {
    pub thread: String,
    pub requested: Option<usize>,
    pub pinned: bool,
}

/// Consumes the egress ring on its own thread; returned when the pipeline stops.
pub trait EgressObserver: Send + 'static {
    fn on_event(&mut self, ev: &EgressEvent);
    /// Called when the ring is empty, so the observer can do periodic work.
    fn on_idle(&mut self) {}
}

/// Message counts per hop, published by each thread after every batch, so a caller can tell
/// when everything it published has been fully processed.
#[derive(Debug, Default)]
pub struct Progress {
    pub ingress_published: AtomicU64,
    pub ingress_consumed: AtomicU64,
    /// Messages out of / into each inter-stage hop: [candle→strategy, strategy→risk, risk→order].
    pub hop_out: [AtomicU64; 3],
    pub hop_in: [AtomicU64; 3],
    pub feedback_out: AtomicU64,
    pub feedback_in: AtomicU64,
}

impl Progress {
    /// True when every published event and all the feedback it caused has been processed.
    pub fn idle(&self) -> bool {
        let r = |a: &AtomicU64| a.load(Ordering::Acquire);
        r(&self.ingress_consumed) == r(&self.ingress_published)
            && r(&self.feedback_in) == r(&self.feedback_out)
            && (0..3).all(|i| r(&self.hop_in[i]) == r(&self.hop_out[i]))
    }
}

/// The stages after a run, for the final summary.
pub struct Stopped<O> {
    pub engine: Engine,
    pub observer: O,
    pub pinning: Vec<Pinning>,
}

/// A running pipeline.
pub struct Running<O: EgressObserver> {
    producer: Option<IngressProducer>,
    threads: Threads,
    observer: JoinHandle<O>,
    progress: Arc<Progress>,
    pinning: Arc<Mutex<Vec<Pinning>>>,
    stop: Arc<AtomicBool>,
}

type Ring<E> = (SingleProducer<E, SingleConsumerBarrier>, EventPoller<E, SingleProducerBarrier>);

enum Threads {
    Fused(JoinHandle<Engine>),
    Pipelined {
        rest: Box<EngineRest>,
        candle: JoinHandle<(CandleStage, LatencyHistogram)>,
        strategy: JoinHandle<(StrategyStage, LatencyHistogram)>,
        risk: JoinHandle<(RiskStage, LatencyHistogram)>,
        order: JoinHandle<(OrderStage, LatencyHistogram)>,
    },
}

/// What stays behind when the stages leave for their threads.
pub struct EngineRest {
    pub clock: quanta::Clock,
    pub sample_every: u32,
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

/// Cores this process may run on, read before any thread is pinned (afterwards a pinned thread
/// would see only its own core).
pub fn available_cores() -> Vec<usize> {
    core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect()
}

/// Pins the calling thread if the core exists; otherwise warns and leaves it unpinned. The
/// disruptor crate's own pinning panics on a missing core, which is why the threads are ours.
pub fn pin_current(thread: &str, requested: Option<usize>, available: &[usize]) -> Pinning {
    let pinned = match requested {
        None => false,
        Some(id) if available.contains(&id) => {
            let ok = core_affinity::set_for_current(core_affinity::CoreId { id });
            if !ok {
                tracing::warn!(thread, core = id, "could not pin thread; running unpinned");
            }
            ok
        }
        Some(id) => {
            tracing::warn!(thread, core = id, ?available, "core does not exist or is not allowed; running unpinned");
            false
        }
    };
    Pinning { thread: thread.to_string(), requested, pinned }
}

fn spawn<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    // Thread creation fails only when the OS is out of resources; nothing can run then.
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .unwrap_or_else(|e| panic!("cannot start thread {name}: {e}"))
}

fn ring<E: Send + Sync + Default + 'static>(size: usize) -> Ring<E> {
    let (poller, builder) = disruptor::build_single_producer(size, E::default, BusySpin).new_event_poller();
    (builder.build(), poller)
}

/// Thread context shared by every stage thread.
#[derive(Clone)]
struct Ctx {
    wait: WaitKind,
    sleep: Duration,
    available: Vec<usize>,
    pinning: Arc<Mutex<Vec<Pinning>>>,
    progress: Arc<Progress>,
    live: Arc<LiveStats>,
}

/// Events between two publications of live counters.
const PUBLISH_EVERY: u32 = 1024;

impl Ctx {
    fn pin(&self, thread: &str, core: Option<usize>) {
        let p = pin_current(thread, core, &self.available);
        if let Ok(mut v) = self.pinning.lock() {
            v.push(p);
        }
    }
}

/// A middle stage: one message in, any number out.
trait MidStage: Send + 'static {
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

fn run_mid<S: MidStage>(
    name: &'static str,
    hop: usize,
    core: Option<usize>,
    ctx: Ctx,
    mut stage: S,
    (mut rx, mut tx): (EventPoller<Msg, SingleProducerBarrier>, SingleProducer<Msg, SingleConsumerBarrier>),
) -> JoinHandle<(S, LatencyHistogram)> {
    spawn(&format!("dalal-{name}"), move || {
        ctx.pin(name, core);
        let clk = quanta::Clock::new();
        let mut h = LatencyHistogram::new();
        let mut spins = 0;
        let mut unpublished = 0u32;
        loop {
            match rx.poll() {
                Ok(mut batch) => {
                    spins = 0;
                    let (mut n, mut out) = (0u64, 0u64);
                    for m in &mut batch {
                        let t0 = clk.raw();
                        stage.process(m, &mut |o| {
                            tx.publish(|s| *s = o);
                            out += 1;
                        });
                        h.record(clk.delta_as_nanos(t0, clk.raw()));
                        n += 1;
                    }
                    drop(batch);
                    ctx.progress.hop_out[hop + 1].fetch_add(out, Ordering::Release);
                    ctx.progress.hop_in[hop].fetch_add(n, Ordering::Release);
                    unpublished += n as u32;
                    if unpublished >= PUBLISH_EVERY {
                        stage.publish(&ctx.live);
                        unpublished = 0;
                    }
                }
                Err(Polling::NoEvents) => {
                    if unpublished > 0 {
                        stage.publish(&ctx.live);
                        unpublished = 0;
                    }
                    idle(ctx.wait, ctx.sleep, &mut spins)
                }
                Err(Polling::Shutdown) => break,
            }
        }
        stage.publish(&ctx.live);
        (stage, h)
    })
}

impl<O: EgressObserver> Running<O> {
    /// Starts the engine's stages on threads according to `cfg`.
    pub fn start(engine: Engine, cfg: &PlacementConfig, observer: O, live: Arc<LiveStats>) -> Running<O> {
        let ctx = Ctx {
            wait: cfg.wait,
            sleep: cfg.sleep,
            available: available_cores(),
            pinning: Arc::default(),
            progress: Arc::new(Progress::default()),
            live,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (poller, builder) =
            disruptor::build_multi_producer(cfg.ring_size, IngressEvent::default, BusySpin).new_event_poller();
        let producer = builder.build();
        let (egress_tx, egress_rx) = ring::<EgressEvent>(cfg.ring_size);
        let observer = spawn_observer(observer, egress_rx, ctx.clone());
        let core = |i: usize| cfg.cores.get(i).copied();
        let threads = match cfg.placement {
            PlacementKind::Fused => Threads::Fused(run_fused(engine, poller, egress_tx, core(0), ctx.clone())),
            PlacementKind::Pipelined => {
                let (candle, strategy, risk, order, rest) = engine.into_parts();
                let (fb_tx, fb_rx) = crossbeam_channel::unbounded::<Feedback>();
                let (r1_tx, r1_rx) = ring::<Msg>(cfg.ring_size);
                let (r2_tx, r2_rx) = ring::<Msg>(cfg.ring_size);
                let (r3_tx, r3_rx) = ring::<Msg>(cfg.ring_size);
                Threads::Pipelined {
                    rest: Box::new(rest),
                    candle: run_candle(candle, poller, r1_tx, fb_rx, core(0), ctx.clone()),
                    strategy: run_mid("strategy", 0, core(1), ctx.clone(), strategy, (r1_rx, r2_tx)),
                    risk: run_mid("risk", 1, core(2), ctx.clone(), risk, (r2_rx, r3_tx)),
                    order: run_order(order, r3_rx, egress_tx, fb_tx, core(3), ctx.clone()),
                }
            }
        };
        Running { producer: Some(producer), threads, observer, progress: ctx.progress, pinning: ctx.pinning, stop }
    }

    /// A producer handle for a feed, timer or command thread.
    pub fn producer(&self) -> Option<IngressProducer> {
        self.producer.clone()
    }

    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    /// Set when a caller wants publishing threads to stop (Ctrl-C, end of duration).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Publishes one event, counting it for [`Progress`].
    pub fn publish(&mut self, input: crate::event::Input, clock: &quanta::Clock) {
        if let Some(p) = self.producer.as_mut() {
            p.publish(|e| {
                e.input = input;
                e.ingress_raw = clock.raw();
            });
            self.progress.ingress_published.fetch_add(1, Ordering::Release);
        }
    }

    /// Waits until everything published so far has been processed (including feedback).
    pub fn wait_idle(&self) {
        let mut spins = 0u32;
        while !self.progress.idle() {
            if spins < 1000 {
                spins += 1;
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(20));
            }
        }
    }

    /// Stops after every published event has been processed. Other producer handles must
    /// have been dropped first, or this waits for them.
    pub fn stop(mut self) -> Stopped<O> {
        self.stop.store(true, Ordering::Release);
        self.producer = None;
        let engine = match self.threads {
            Threads::Fused(h) => join(h),
            Threads::Pipelined { rest, candle, strategy, risk, order } => {
                let (c, hc) = join(candle);
                let (s, hs) = join(strategy);
                let (r, hr) = join(risk);
                let (o, ho) = join(order);
                let mut e = Engine::from_parts(c, s, r, o, *rest);
                e.latencies.candle.merge(&hc);
                e.latencies.strategy.merge(&hs);
                e.latencies.risk.merge(&hr);
                e.latencies.order.merge(&ho);
                e
            }
        };
        let observer = join(self.observer);
        let pinning = self.pinning.lock().map(|v| v.clone()).unwrap_or_default();
        Stopped { engine, observer, pinning }
    }
}

/// A stage thread that panicked has already broken the run; carry the panic to the caller.
fn join<T>(h: JoinHandle<T>) -> T {
    match h.join() {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e),
    }
}

fn spawn_observer<O: EgressObserver>(
    mut observer: O,
    mut rx: EventPoller<EgressEvent, SingleProducerBarrier>,
    ctx: Ctx,
) -> JoinHandle<O> {
    spawn("dalal-observer", move || {
        let mut spins = 0;
        loop {
            match rx.poll() {
                Ok(mut batch) => {
                    spins = 0;
                    for e in &mut batch {
                        observer.on_event(e);
                    }
                }
                Err(Polling::NoEvents) => {
                    observer.on_idle();
                    // The observer is never latency-critical: it sleeps when idle so it never
                    // competes for a core with the stages (yielding does not give the core
                    // away when the scheduler has nothing else queued on it).
                    idle(WaitKind::Sleep, ctx.sleep, &mut spins)
                }
                Err(Polling::Shutdown) => break,
            }
        }
        observer
    })
}

fn run_fused(
    mut engine: Engine,
    mut rx: EventPoller<IngressEvent, disruptor::MultiProducerBarrier>,
    mut egress: SingleProducer<EgressEvent, SingleConsumerBarrier>,
    core: Option<usize>,
    ctx: Ctx,
) -> JoinHandle<Engine> {
    spawn("dalal-engine", move || {
        ctx.pin("engine", core);
        let mut spins = 0;
        let mut unpublished = 0u32;
        let publish = |e: &Engine| {
            ctx.live.publish_candle(&e.candle);
            ctx.live.publish_strategy(&e.strategy);
            ctx.live.publish_risk(&e.risk);
            ctx.live.publish_order(&e.order);
        };
        loop {
            match rx.poll() {
                Ok(mut batch) => {
                    spins = 0;
                    let mut n = 0;
                    for ev in &mut batch {
                        engine.step(ev, &mut |e| egress.publish(|s| *s = e));
                        n += 1;
                    }
                    drop(batch);
                    ctx.progress.ingress_consumed.fetch_add(n, Ordering::Release);
                    unpublished += n as u32;
                    if unpublished >= PUBLISH_EVERY {
                        publish(&engine);
                        unpublished = 0;
                    }
                }
                Err(Polling::NoEvents) => {
                    if unpublished > 0 {
                        publish(&engine);
                        unpublished = 0;
                    }
                    idle(ctx.wait, ctx.sleep, &mut spins)
                }
                Err(Polling::Shutdown) => break,
            }
        }
        publish(&engine);
        engine
    })
}

fn run_candle(
    mut stage: CandleStage,
    mut rx: EventPoller<IngressEvent, disruptor::MultiProducerBarrier>,
    mut tx: SingleProducer<Msg, SingleConsumerBarrier>,
    feedback: crossbeam_channel::Receiver<Feedback>,
    core: Option<usize>,
    ctx: Ctx,
) -> JoinHandle<(CandleStage, LatencyHistogram)> {
    spawn("dalal-candle", move || {
        ctx.pin("candle", core);
        let clk = quanta::Clock::new();
        let mut h = LatencyHistogram::new();
        let mut spins = 0;
        let mut unpublished = 0u32;
        loop {
            // Feedback first, so decisions on the next events see it as early as possible.
            let mut fb = 0u64;
            while let Ok(f) = feedback.try_recv() {
                tx.publish(|s| *s = Msg::Feedback(f));
                fb += 1;
            }
            if fb > 0 {
                ctx.progress.hop_out[0].fetch_add(fb, Ordering::Release);
                ctx.progress.feedback_in.fetch_add(fb, Ordering::Release);
            }
            match rx.poll() {
                Ok(mut batch) => {
                    spins = 0;
                    let (mut n, mut out) = (0u64, 0u64);
                    for ev in &mut batch {
                        let t0 = clk.raw();
                        stage.on_input(ev, &mut |m| {
                            tx.publish(|s| *s = m);
                            out += 1;
                        });
                        h.record(clk.delta_as_nanos(t0, clk.raw()));
                        n += 1;
                    }
                    drop(batch);
                    ctx.progress.hop_out[0].fetch_add(out, Ordering::Release);
                    ctx.progress.ingress_consumed.fetch_add(n, Ordering::Release);
                    unpublished += n as u32;
                    if unpublished >= PUBLISH_EVERY {
                        ctx.live.publish_candle(&stage);
                        unpublished = 0;
                    }
                }
                Err(Polling::NoEvents) => {
                    if unpublished > 0 {
                        ctx.live.publish_candle(&stage);
                        unpublished = 0;
                    }
                    if fb == 0 {
                        idle(ctx.wait, ctx.sleep, &mut spins)
                    }
                }
                Err(Polling::Shutdown) => break,
            }
        }
        ctx.live.publish_candle(&stage);
        (stage, h)
    })
}

fn run_order(
    mut stage: OrderStage,
    mut rx: EventPoller<Msg, SingleProducerBarrier>,
    mut egress: SingleProducer<EgressEvent, SingleConsumerBarrier>,
    feedback: crossbeam_channel::Sender<Feedback>,
    core: Option<usize>,
    ctx: Ctx,
) -> JoinHandle<(OrderStage, LatencyHistogram)> {
    spawn("dalal-order", move || {
        ctx.pin("order", core);
        let clk = quanta::Clock::new();
        let mut h = LatencyHistogram::new();
        let mut spins = 0;
        let mut unpublished = 0u32;
        loop {
            match rx.poll() {
                Ok(mut batch) => {
                    spins = 0;
                    let (mut n, mut fb) = (0u64, 0u64);
                    for m in &mut batch {
                        let t0 = clk.raw();
                        stage.on_msg(m, &mut |e| egress.publish(|s| *s = e), &mut |f| {
                            // The receiver lives as long as the candle thread; after it has
                            // stopped, nothing upstream needs the news.
                            if feedback.send(f).is_ok() {
                                fb += 1;
                            }
                        });
                        h.record(clk.delta_as_nanos(t0, clk.raw()));
                        n += 1;
                    }
                    drop(batch);
                    ctx.progress.feedback_out.fetch_add(fb, Ordering::Release);
                    ctx.progress.hop_in[2].fetch_add(n, Ordering::Release);
                    unpublished += n as u32;
                    if unpublished >= PUBLISH_EVERY {
                        ctx.live.publish_order(&stage);
                        unpublished = 0;
                    }
                }
                Err(Polling::NoEvents) => {
                    if unpublished > 0 {
                        ctx.live.publish_order(&stage);
                        unpublished = 0;
                    }
                    idle(ctx.wait, ctx.sleep, &mut spins)
                }
                Err(Polling::Shutdown) => break,
            }
        }
        ctx.live.publish_order(&stage);
        (stage, h)
    })
}
