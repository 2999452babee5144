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

mod affinity;
mod workers;

pub use affinity::{available_cores, pin_current};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use disruptor::{BusySpin, MultiConsumerBarrier, MultiProducer, Producer, SingleConsumerBarrier};

use crate::engine::stats::LiveStats;
use crate::engine::{Engine, EngineRest};
use crate::model::{EgressEvent, IngressEvent, Input};
use workers::{Ctx, PipelinedThreads};

/// Where stages run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlacementKind {
    /// All stages on one thread, as direct calls.
    #[default]
    Fused,
    /// One thread per stage, a ring between neighbours.
    Pipelined,
}

/// How an idle stage thread waits for work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitKind {
    /// Spin on the ring: lowest latency, burns a core. Only with a core to spare per thread.
    BusySpin,
    /// Spin, yielding the core to other threads between polls.
    Yield,
    /// Sleep between polls: for laptops and CI.
    #[default]
    Sleep,
}

/// The ingress ring's producer handle; clone it for each publishing thread.
#[derive(Clone)]
pub struct IngressProducer(Producers);

#[derive(Clone)]
enum Producers {
    /// The stages are the only consumer.
    One(MultiProducer<IngressEvent, SingleConsumerBarrier>),
    /// The stages and a branch consumer (the journal) read the ring in parallel.
    Two(MultiProducer<IngressEvent, MultiConsumerBarrier>),
}

impl IngressProducer {
    /// Claims the next slot (waiting while the ring is full) and fills it.
    #[inline]
    pub fn publish(&mut self, fill: impl FnOnce(&mut IngressEvent)) {
        match &mut self.0 {
            Producers::One(p) => p.publish(fill),
            Producers::Two(p) => p.publish(fill),
        }
    }
}

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
    /// Egress ring: events published by the last stage and taken by the observer.
    pub egress_published: AtomicU64,
    pub egress_consumed: AtomicU64,
    /// Ingress events the branch consumer (journal) has taken.
    pub branch_consumed: AtomicU64,
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
        let r = |a: &AtomicU64| a.load(Ordering::Acquire);
        let published = r(&self.ingress_published);
        RingFill {
            ingress: published.saturating_sub(r(&self.ingress_consumed)),
            journal: if with_branch { published.saturating_sub(r(&self.branch_consumed)) } else { 0 },
            hops: [0, 1, 2].map(|i| r(&self.hop_out[i]).saturating_sub(r(&self.hop_in[i]))),
            egress: r(&self.egress_published).saturating_sub(r(&self.egress_consumed)),
        }
    }

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
    /// The branch consumer, handed back after it has seen every event.
    pub branch: Option<Box<dyn IngressConsumer>>,
}

/// A running pipeline.
pub struct Running<O: EgressObserver> {
    producer: Option<IngressProducer>,
    threads: Threads,
    observer: JoinHandle<O>,
    branch: Option<JoinHandle<Box<dyn IngressConsumer>>>,
    progress: Arc<Progress>,
    pinning: Arc<Mutex<Vec<Pinning>>>,
    stop: Arc<AtomicBool>,
}

enum Threads {
    Fused(JoinHandle<Engine>),
    Pipelined { rest: Box<EngineRest>, threads: PipelinedThreads },
}

impl<O: EgressObserver> Running<O> {
    /// Starts the engine's stages on threads according to `cfg`.
    pub fn start(engine: Engine, cfg: &PlacementConfig, observer: O, live: Arc<LiveStats>) -> Running<O> {
        Self::start_with(engine, cfg, observer, live, None)
    }

    /// Starts the stages with an extra consumer (the journal) on a branch of the ingress ring.
    pub fn start_with(
        engine: Engine,
        cfg: &PlacementConfig,
        observer: O,
        live: Arc<LiveStats>,
        branch: Option<Box<dyn IngressConsumer>>,
    ) -> Running<O> {
        let ctx = Ctx {
            wait: cfg.wait,
            sleep: cfg.sleep,
            available: available_cores(),
            pinning: Arc::default(),
            progress: Arc::new(Progress::default()),
            live,
        };
        let (poller, builder) =
            disruptor::build_multi_producer(cfg.ring_size, IngressEvent::default, BusySpin).new_event_poller();
        let (producer, branch) = match branch {
            None => (IngressProducer(Producers::One(builder.build())), None),
            Some(consumer) => {
                let (tap, builder) = builder.new_event_poller();
                let handle = workers::run_branch(consumer, tap, ctx.clone());
                (IngressProducer(Producers::Two(builder.build())), Some(handle))
            }
        };
        let (egress_tx, egress_rx) = workers::ring::<EgressEvent>(cfg.ring_size);
        let observer = workers::spawn_observer(observer, egress_rx, ctx.clone());
        let core = |i: usize| cfg.cores.get(i).copied();
        let threads = match cfg.placement {
            PlacementKind::Fused => Threads::Fused(workers::run_fused(engine, poller, egress_tx, core(0), ctx.clone())),
            PlacementKind::Pipelined => {
                let (candle, strategy, risk, order, rest) = engine.into_parts();
                let threads = workers::run_pipelined(
                    (candle, strategy, risk, order),
                    poller,
                    egress_tx,
                    [core(0), core(1), core(2), core(3)],
                    cfg.ring_size,
                    &ctx,
                );
                Threads::Pipelined { rest: Box::new(rest), threads }
            }
        };
        Running {
            producer: Some(producer),
            threads,
            observer,
            branch,
            progress: ctx.progress,
            pinning: ctx.pinning,
            stop: Arc::new(AtomicBool::new(false)),
        }
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
    pub fn publish(&mut self, input: Input, clock: &quanta::Clock) {
        if let Some(p) = self.producer.as_mut() {
            p.publish(|e| {
                e.input = input;
                e.ingress_raw = clock.raw();
                e.source = 0;
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
            Threads::Pipelined { rest, threads } => {
                let (c, hc) = join(threads.candle);
                let (s, hs) = join(threads.strategy);
                let (r, hr) = join(threads.risk);
                let (o, ho) = join(threads.order);
                let mut e = Engine::from_parts(c, s, r, o, *rest);
                e.latencies = crate::metrics::StageLatencies {
                    candle: hc,
                    strategy: hs,
                    risk: hr,
                    order: ho,
                    tick_to_order: Default::default(),
                };
                e
            }
        };
        let observer = join(self.observer);
        let branch = self.branch.map(join);
        let pinning = self.pinning.lock().map(|v| v.clone()).unwrap_or_default();
        Stopped { engine, observer, pinning, branch }
    }
}

/// A stage thread that panicked has already broken the run; carry the panic to the caller.
fn join<T>(h: JoinHandle<T>) -> T {
    match h.join() {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e),
    }
}
