//! Placement: the same stages on threads. `fused` runs every stage on one thread as direct
//! calls; `pipelined` gives each stage its own thread with a disruptor ring between
//! neighbours. Either way every input enters through one multi-producer ingress ring and every
//! order change leaves through one egress ring, consumed by an observer thread.
//!
//! Order-stage feedback (fills, closed orders) must reach strategy and risk. Fused, it is
//! applied before the next ingress event. Pipelined, the order thread publishes it into the
//! ingress ring, and the first stage forwards it down the chain where it lands in the
//! sequence. The order thread never waits for that ring (the first stage may be waiting for
//! room in the chain that ends at the order thread): what does not fit waits, in order, in a
//! spill queue pre-sized to the ring, so the loop cannot deadlock and steady state allocates
//! nothing. Under saturation a decision may see a fill a few events later than fused would
//! (paced input gives identical results), and because the feedback is in the ingress
//! sequence, the journal holds exactly when: a replay treats it the same way
//! ([`FeedbackRoute::Journaled`](crate::model::FeedbackRoute)) and reproduces the run.
//!
//! Pipelined snapshots: the first stage sends a barrier down the chain between two batches,
//! each stage thread adds its state as the barrier passes, and the order thread sends the
//! whole, a state exactly after the barrier's ingress sequence.

mod affinity;
mod hooks;
mod progress;
mod publisher;
mod workers;

pub use affinity::{available_cores, pin_current};
pub use hooks::{EgressObserver, EgressTap, IngressConsumer, InlineSource, JournalCounts, SourcePoll};
pub use progress::{Progress, RingFill};
pub use publisher::IngressPublisher;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use disruptor::BusySpin;

use crate::engine::stats::LiveStats;
use crate::engine::{Engine, EngineRest};
use crate::model::{FeedbackRoute, IngressEvent, Input};
use publisher::Producers;
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

/// The stages after a run, for the final summary.
pub struct Stopped<O> {
    pub engine: Engine,
    pub observer: O,
    pub pinning: Vec<Pinning>,
    /// The branch consumer, handed back after it has seen every event.
    pub branch: Option<Box<dyn IngressConsumer>>,
    /// The egress tap, handed back after the engine thread has finished with it.
    pub tap: Option<Box<dyn EgressTap>>,
}

/// Everything a pipeline starts with: the engine, where it runs, who watches it, and what is
/// attached. Built up with its methods, then [`Launch::start`]ed.
pub struct Launch<O: EgressObserver> {
    engine: Engine,
    cfg: PlacementConfig,
    observer: O,
    live: Arc<LiveStats>,
    branch: Option<Box<dyn IngressConsumer>>,
    inline: Vec<Box<dyn InlineSource>>,
    tap: Option<Box<dyn EgressTap>>,
    lossy_egress: bool,
}

impl<O: EgressObserver> Launch<O> {
    pub fn new(engine: Engine, cfg: &PlacementConfig, observer: O, live: Arc<LiveStats>) -> Launch<O> {
        Launch {
            engine,
            cfg: cfg.clone(),
            observer,
            live,
            branch: None,
            inline: Vec::new(),
            tap: None,
            lossy_egress: false,
        }
    }

    /// The engine never waits for the observer: an egress event that finds the ring full is
    /// dropped and counted (`Progress::egress_dropped`), and the observer is told of the gap
    /// ([`EgressObserver::on_gap`]). For a live run, whose console and stores re-sync or
    /// repair from the journal; venue requests still wait for room. Without this, every
    /// event reaches the observer (backtests, tools, tests).
    pub fn lossy_egress(mut self) -> Launch<O> {
        self.lossy_egress = true;
        self
    }

    /// A consumer (the journal) on a branch of the ingress ring, in parallel with the stages.
    pub fn journal(mut self, consumer: Box<dyn IngressConsumer>) -> Launch<O> {
        self.branch = Some(consumer);
        self
    }

    /// A source the fused engine thread polls itself (fused placement only; a pipelined
    /// engine refuses to start with one, see [`LaunchError`]). Several are polled in turn.
    pub fn inline_source(mut self, source: Box<dyn InlineSource>) -> Launch<O> {
        self.inline.push(source);
        self
    }

    /// A tap called with every egress event, in line, by the thread that emits it: the fused
    /// engine thread, or a pipelined engine's order thread.
    pub fn egress_tap(mut self, tap: Box<dyn EgressTap>) -> Launch<O> {
        self.tap = Some(tap);
        self
    }

    /// Starts the threads.
    pub fn start(self) -> Result<Running<O>, LaunchError> {
        let attached = !self.inline.is_empty() || self.tap.is_some();
        if self.cfg.placement != PlacementKind::Fused && !self.inline.is_empty() {
            return Err(LaunchError::InlineNeedsFused);
        }
        if !self.cfg.ring_size.is_power_of_two() || self.cfg.ring_size < MIN_RING {
            return Err(LaunchError::RingSize { min: MIN_RING, size: self.cfg.ring_size });
        }
        if attached && self.cfg.ring_size < 4 * INLINE_ROOM {
            return Err(LaunchError::RingTooSmall { min: 4 * INLINE_ROOM, size: self.cfg.ring_size });
        }
        Ok(Running::spawn(self))
    }
}

/// Why a pipeline did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    #[error("an inline source runs on the fused engine thread; a pipelined engine has none")]
    InlineNeedsFused,
    #[error("ring_size must be a power of two of at least {min} slots (it is {size})")]
    RingSize { min: usize, size: usize },
    #[error("an inline source or egress tap needs a ring of at least {min} slots (ring_size is {size})")]
    RingTooSmall { min: usize, size: usize },
}

/// The smallest ring: the ingress ring's multi-producer barrier keeps one availability bit per
/// slot in 64-bit words.
pub const MIN_RING: usize = 64;

/// Free ingress slots an inline source may fill in one poll.
pub const INLINE_ROOM: usize = 256;

/// A running pipeline.
pub struct Running<O: EgressObserver> {
    publisher: Option<IngressPublisher>,
    threads: Threads,
    observer: JoinHandle<O>,
    branch: Option<JoinHandle<Box<dyn IngressConsumer>>>,
    progress: Arc<Progress>,
    pinning: Arc<Mutex<Vec<Pinning>>>,
    stop: Arc<AtomicBool>,
}

enum Threads {
    Fused(JoinHandle<(Engine, Option<Box<dyn EgressTap>>)>),
    Pipelined { rest: Box<EngineRest>, threads: PipelinedThreads, progress: Arc<Progress> },
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
        let mut l = Launch::new(engine, cfg, observer, live);
        l.branch = branch;
        Running::spawn(l)
    }

    /// Starts the threads of a launch [`Launch::start`] has checked (or one with nothing
    /// attached to the engine thread).
    fn spawn(l: Launch<O>) -> Running<O> {
        let Launch { mut engine, cfg, observer, live, branch, inline, tap, lossy_egress } = l;
        // A configuration error, caught by `Launch::start` and the configuration's validation;
        // reaching here with it is a defect of the caller.
        assert!(
            cfg.ring_size.is_power_of_two() && cfg.ring_size >= MIN_RING,
            "ring_size must be a power of two of at least {MIN_RING} (it is {})",
            cfg.ring_size
        );
        let stop = Arc::new(AtomicBool::new(false));
        let ctx = Ctx {
            wait: cfg.wait,
            sleep: cfg.sleep,
            available: available_cores(),
            pinning: Arc::default(),
            progress: Arc::new(Progress::default()),
            live,
            stop: stop.clone(),
        };
        let clock = engine.clock().clone();
        let journaled = branch.is_some();
        let route = match cfg.placement {
            PlacementKind::Fused => FeedbackRoute::Inline,
            PlacementKind::Pipelined => FeedbackRoute::Journaled,
        };
        // What the ring must carry before anything else: a change of feedback route (for the
        // journal; without one, the engine just takes the new route), then feedback a previous
        // run sent and never saw come back (it stopped or crashed first).
        let mut first = Vec::new();
        if engine.route() != route {
            if journaled {
                first.push(Input::Route(route));
            } else {
                engine.set_route(route);
            }
        }
        first.extend(engine.order.unreturned_feedback().map(|f| Input::Feedback(*f)));
        let (poller, builder) =
            disruptor::build_multi_producer(cfg.ring_size, IngressEvent::default, BusySpin).new_event_poller();
        let (producers, branch) = match branch {
            None => (Producers::One(builder.build()), None),
            Some(consumer) => {
                let (tap, builder) = builder.new_event_poller();
                let handle = workers::run_branch(consumer, tap, ctx.clone());
                (Producers::Two(builder.build()), Some(handle))
            }
        };
        let mut publisher = IngressPublisher::new(producers, clock, ctx.progress.clone());
        let (egress_tx, egress_rx) = workers::ring::<workers::EgressSlot>(cfg.ring_size);
        let emitted_before = engine.emitted();
        let observer = workers::spawn_observer(observer, egress_rx, emitted_before, ctx.clone());
        let egress_tx = workers::EgressOut::new(egress_tx, emitted_before, lossy_egress);
        let core = |i: usize| cfg.cores.get(i).copied();
        let threads = match cfg.placement {
            PlacementKind::Fused => {
                // The engine thread's own publisher, for what it polls itself.
                let own = (!inline.is_empty() || tap.is_some()).then(|| (publisher.clone(), cfg.ring_size));
                let attached = workers::Attached { inline, tap, own };
                Threads::Fused(workers::run_fused(engine, poller, egress_tx, attached, core(0), ctx.clone()))
            }
            PlacementKind::Pipelined => {
                let (candle, strategy, risk, order, mut rest) = engine.into_parts();
                rest.route = FeedbackRoute::Journaled;
                let start = workers::PipelinedStart {
                    feedback: publisher.clone(),
                    tap,
                    applied: rest.applied,
                    snapshots: rest.snapshots.take(),
                    fingerprint: rest.fingerprint,
                };
                let threads = workers::run_pipelined(
                    (candle, strategy, risk, order),
                    poller,
                    egress_tx,
                    [core(0), core(1), core(2), core(3)],
                    cfg.ring_size,
                    start,
                    &ctx,
                );
                Threads::Pipelined { rest: Box::new(rest), threads, progress: ctx.progress.clone() }
            }
        };
        // After the stage threads have started: there may be more than the ring holds.
        for input in first {
            publisher.publish(input, 0);
        }
        Running {
            publisher: Some(publisher),
            threads,
            observer,
            branch,
            progress: ctx.progress,
            pinning: ctx.pinning,
            stop,
        }
    }

    /// A publisher for a feed, timer or command thread.
    pub fn publisher(&self) -> Option<IngressPublisher> {
        self.publisher.clone()
    }

    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    /// Set when a caller wants publishing threads to stop (Ctrl-C, end of duration).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Publishes one input through this pipeline's own publisher.
    pub fn publish(&mut self, input: crate::model::Input) {
        if let Some(p) = self.publisher.as_mut() {
            p.publish(input, 0);
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

    /// Stops after every published event has been processed. Other publishers must have
    /// been dropped first, or this waits for them; an inline source is dropped by its thread
    /// once the stop flag is set.
    pub fn stop(mut self) -> Stopped<O> {
        self.stop.store(true, Ordering::Release);
        self.publisher = None;
        let (engine, tap) = match self.threads {
            Threads::Fused(h) => join(h),
            Threads::Pipelined { mut rest, threads, progress } => {
                let (c, hc) = join(threads.candle);
                let (s, hs) = join(threads.strategy);
                let (r, hr) = join(threads.risk);
                let o = join(threads.order);
                rest.applied += progress.ingress_consumed.load(Ordering::Acquire);
                rest.emitted = o.emitted;
                let mut e = Engine::from_parts(c, s, r, o.stage, *rest);
                e.latencies = crate::metrics::StageLatencies {
                    candle: hc,
                    strategy: hs,
                    risk: hr,
                    order: o.hist,
                    tick_to_order: Default::default(),
                    timer_to_order: Default::default(),
                };
                (e, o.tap)
            }
        };
        let observer = join(self.observer);
        let branch = self.branch.map(join);
        let pinning = self.pinning.lock().map(|v| v.clone()).unwrap_or_default();
        Stopped { engine, observer, pinning, branch, tap }
    }
}

/// A stage thread that panicked has already broken the run; carry the panic to the caller.
fn join<T>(h: JoinHandle<T>) -> T {
    match h.join() {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e),
    }
}
