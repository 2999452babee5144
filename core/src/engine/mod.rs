//! The engine: the four stages stepped as direct calls ([`Engine::step`], which is the `fused`
//! placement and the backtest), their placement on threads ([`placement`]), snapshots of
//! their state, and what a run reports. Stage outputs go through small reused buffers rather
//! than nested calls so each stage's own time can be measured and no event allocates once the
//! buffers have warmed up.

pub mod backtest;
pub mod placement;
pub mod setup;
pub mod snapshot;
pub mod stats;
pub mod summary;

use crate::metrics::StageLatencies;
use crate::model::{Cause, EgressEvent, Feedback, FeedbackRoute, IngressEvent, Input, Msg, Stamp};
use crate::stages::candle::CandleStage;
use crate::stages::order::{OrderSetup, OrderStage};
use crate::stages::risk::RiskStage;
use crate::stages::strategy::{StrategyStage, StrategyState};
use setup::EngineSetup;
use snapshot::{Snapshot, SnapshotError, SnapshotHeader, SnapshotSink};

/// Every stage of one engine, plus the latencies of the stages it runs itself.
pub struct Engine {
    pub candle: CandleStage,
    pub strategy: StrategyStage,
    pub risk: RiskStage,
    pub order: OrderStage,
    pub latencies: StageLatencies,
    clock: quanta::Clock,
    /// Measure stage times on one event in `sample_mask + 1`.
    sample_mask: u64,
    events: u64,
    /// Ingress events applied since the start of the run (across restarts): the journal
    /// sequence number of the last one.
    applied: u64,
    /// Egress events emitted since the start of the run: the store's idempotency keys.
    emitted: u64,
    /// Which configuration this engine was built from, so a snapshot of another is refused.
    fingerprint: u64,
    /// How order-stage feedback reaches strategy and risk (set by [`Input::Route`]).
    route: FeedbackRoute,
    snapshots: Option<Snapshots>,
    a: Vec<Msg>,
    b: Vec<Msg>,
    c: Vec<Msg>,
    fb: Vec<Feedback>,
}

/// What stays behind when the stages leave for their threads.
pub struct EngineRest {
    pub clock: quanta::Clock,
    pub sample_every: u32,
    pub applied: u64,
    pub emitted: u64,
    pub fingerprint: u64,
    pub route: FeedbackRoute,
    /// Where the stage threads send snapshots (pipelined: the first stage starts them).
    pub snapshots: Option<SnapshotSink>,
}

/// Periodic snapshots from the engine thread.
struct Snapshots {
    sink: SnapshotSink,
    every_ns: u64,
    last_raw: u64,
}

impl Engine {
    /// Builds fresh stages from a validated setup. `sample_every` is rounded up to a power of
    /// two; 0 turns stage timing off.
    pub fn new(setup: &EngineSetup, clock: quanta::Clock, sample_every: u32) -> Engine {
        let (slots, failed) = setup.strategy_slots();
        let mut strategy = StrategyStage::new(slots, setup.instruments.clone(), setup.session);
        for (id, e) in failed {
            tracing::error!(strategy = id.0, error = %e, "strategy cannot be built from its setup; it stays stopped");
            strategy.disable(id);
        }
        let mut tfs = setup.timeframes.clone();
        tfs.extend(strategy.timeframes());
        Engine {
            candle: CandleStage::new(setup.instruments.clone(), setup.session, &tfs, setup.candle_options),
            risk: RiskStage::new(
                setup.instruments.clone(),
                setup.account_risk(),
                setup.margins.clone(),
                setup.session_rules(),
            ),
            order: OrderStage::new(
                &setup.instruments,
                clock.clone(),
                OrderSetup {
                    accounts: setup.accounts.len(),
                    session: setup.session,
                    tariffs: setup.charges,
                    paper: setup.paper,
                    routes: setup.routes(),
                    max_working: setup.max_working_orders,
                },
            ),
            strategy,
            latencies: StageLatencies::default(),
            clock,
            sample_mask: if sample_every == 0 { u64::MAX } else { sample_every.next_power_of_two() as u64 - 1 },
            events: 0,
            applied: 0,
            emitted: 0,
            fingerprint: snapshot::fingerprint(format!("{setup:?}").as_bytes()),
            route: FeedbackRoute::Inline,
            snapshots: None,
            a: Vec::with_capacity(64),
            b: Vec::with_capacity(64),
            c: Vec::with_capacity(64),
            fb: Vec::with_capacity(64),
        }
    }

    /// Applies start-of-run commands (kill switches from config).
    pub fn apply_initial(&mut self, setup: &EngineSetup, egress: &mut impl FnMut(EgressEvent)) {
        for cmd in setup.initial_commands() {
            self.step(&IngressEvent { input: crate::model::Input::Command(cmd), ingress_raw: 0, source: 0 }, egress);
        }
    }

    /// Takes the stages apart so each can run on its own thread.
    pub fn into_parts(self) -> (CandleStage, StrategyStage, RiskStage, OrderStage, EngineRest) {
        let sample_every = if self.sample_mask == u64::MAX { 0 } else { (self.sample_mask + 1) as u32 };
        let rest = EngineRest {
            clock: self.clock,
            sample_every,
            applied: self.applied,
            emitted: self.emitted,
            fingerprint: self.fingerprint,
            route: self.route,
            snapshots: self.snapshots.map(|s| s.sink),
        };
        (self.candle, self.strategy, self.risk, self.order, rest)
    }

    /// Puts stages back together after a pipelined run.
    pub fn from_parts(
        candle: CandleStage,
        strategy: StrategyStage,
        risk: RiskStage,
        order: OrderStage,
        rest: EngineRest,
    ) -> Engine {
        Engine {
            candle,
            strategy,
            risk,
            order,
            latencies: StageLatencies::default(),
            clock: rest.clock,
            sample_mask: if rest.sample_every == 0 {
                u64::MAX
            } else {
                rest.sample_every.next_power_of_two() as u64 - 1
            },
            events: 0,
            applied: rest.applied,
            emitted: rest.emitted,
            fingerprint: rest.fingerprint,
            route: rest.route,
            snapshots: None,
            a: Vec::with_capacity(64),
            b: Vec::with_capacity(64),
            c: Vec::with_capacity(64),
            fb: Vec::with_capacity(64),
        }
    }

    pub fn clock(&self) -> &quanta::Clock {
        &self.clock
    }

    /// Runs one ingress event through every stage, then the feedback it caused, so the next
    /// event sees positions and working orders as they now are.
    #[inline]
    pub fn step(&mut self, ev: &IngressEvent, egress: &mut impl FnMut(EgressEvent)) {
        if let Input::Route(r) = ev.input {
            self.route = r;
        }
        let route = self.route;
        let Engine { candle, strategy, risk, order, latencies, clock, a, b, c, fb, emitted, .. } = self;
        self.events = self.events.wrapping_add(1);
        self.applied += 1;
        let egress = &mut |e: EgressEvent| {
            *emitted += 1;
            egress(e)
        };
        let sample = self.sample_mask != u64::MAX && self.events & self.sample_mask == 0;
        if !sample {
            // Depth first: each message goes through every stage before the next one starts.
            // Each stage still sees its inputs in the same order as the breadth-first path
            // below (stages only talk downstream within a step; feedback waits for `settle`),
            // so the results are the same, without copying every message through buffers.
            if let Input::Tick(tick) = &ev.input {
                // The commonest input, stage by stage without a message: each stage forwards
                // a tick last, after whatever it caused, so calling each stage's tick work in
                // turn is the same order as passing the message down.
                let stamp = Stamp { raw: ev.ingress_raw, cause: Cause::Tick };
                let goes_on = candle.on_tick(tick, stamp, &mut |m| {
                    strategy
                        .on_msg(&m, &mut |m| risk.on_msg(&m, &mut |m| order.on_msg(&m, egress, &mut |f| fb.push(f))))
                });
                if goes_on {
                    strategy.on_tick(tick, stamp, &mut |m| {
                        risk.on_msg(&m, &mut |m| order.on_msg(&m, egress, &mut |f| fb.push(f)))
                    });
                    risk.on_tick(tick, &mut |m| order.on_msg(&m, egress, &mut |f| fb.push(f)));
                    order.on_tick(tick, egress, &mut |f| fb.push(f));
                }
            } else {
                candle.on_input(ev, &mut |m| {
                    strategy
                        .on_msg(&m, &mut |m| risk.on_msg(&m, &mut |m| order.on_msg(&m, egress, &mut |f| fb.push(f))))
                });
            }
            if !fb.is_empty() {
                Self::settle(route, strategy, risk, order, fb);
            }
            return;
        }
        a.clear();
        b.clear();
        c.clear();
        let t0 = if sample { clock.raw() } else { 0 };
        candle.on_input(ev, &mut |m| a.push(m));
        let t1 = if sample { clock.raw() } else { 0 };
        for m in a.iter() {
            strategy.on_msg(m, &mut |m| b.push(m));
        }
        let t2 = if sample { clock.raw() } else { 0 };
        for m in b.iter() {
            risk.on_msg(m, &mut |m| c.push(m));
        }
        let t3 = if sample { clock.raw() } else { 0 };
        for m in c.iter() {
            order.on_msg(m, egress, &mut |f| fb.push(f));
        }
        if sample {
            let t4 = clock.raw();
            latencies.candle.record(clock.delta_as_nanos(t0, t1));
            latencies.strategy.record(clock.delta_as_nanos(t1, t2));
            latencies.risk.record(clock.delta_as_nanos(t2, t3));
            latencies.order.record(clock.delta_as_nanos(t3, t4));
        }
        if !fb.is_empty() {
            Self::settle(route, strategy, risk, order, fb);
        }
    }

    /// Feeds order-stage news back to the stages upstream of it: at once (inline), or not
    /// until the journal says it reached the head of the pipeline (journaled: a replay of a
    /// pipelined run, where it arrives as [`Input::Feedback`]).
    fn settle(
        route: FeedbackRoute,
        strategy: &mut StrategyStage,
        risk: &mut RiskStage,
        order: &mut OrderStage,
        fb: &mut Vec<Feedback>,
    ) {
        match route {
            FeedbackRoute::Inline => {
                for f in fb.drain(..) {
                    strategy.on_msg(&Msg::Feedback(f), &mut |m| risk.on_msg(&m, &mut |_| {}));
                }
            }
            FeedbackRoute::Journaled => {
                for f in fb.drain(..) {
                    order.feedback_sent(f);
                }
            }
        }
    }

    /// How feedback travels in this engine now.
    pub fn route(&self) -> FeedbackRoute {
        self.route
    }

    /// Changes the route without a record of it: only for an engine no journal follows.
    pub(crate) fn set_route(&mut self, route: FeedbackRoute) {
        self.route = route;
    }

    /// Ingress events applied since the run began, restarts included.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Egress events emitted since the run began, restarts included.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Marks every account's positions on every trade, as the engine did before it kept an
    /// index of who holds each instrument: the reference that index is tested against, and
    /// the baseline the lab measures it by. Decisions are the same either way.
    pub fn set_mark_every(&mut self, on: bool) {
        self.risk.set_mark_every(on);
        self.order.set_mark_every(on);
    }

    /// Sends a snapshot to `sink` every `sink.every` (checked between batches, fused only).
    pub fn set_snapshots(&mut self, sink: SnapshotSink) {
        let every_ns = u64::try_from(sink.every.as_nanos()).unwrap_or(u64::MAX);
        self.snapshots = Some(Snapshots { sink, every_ns, last_raw: self.clock.raw() });
    }

    /// No more periodic snapshots (lets the snapshot writer finish).
    pub fn stop_snapshots(&mut self) {
        self.snapshots = None;
    }

    /// Takes a snapshot if one is due. Between batches, so the state is that after the last
    /// applied event; the pause is the encoding time, reported with the snapshot.
    #[inline]
    pub fn maybe_snapshot(&mut self) {
        let Some(s) = &mut self.snapshots else { return };
        let now = self.clock.raw();
        if self.clock.delta_as_nanos(s.last_raw, now) < s.every_ns {
            return;
        }
        s.last_raw = now;
        let t0 = std::time::Instant::now();
        match self.save_snapshot() {
            Ok(bytes) => {
                let (header, took) = (self.snapshot_header(), t0.elapsed());
                if let Some(s) = &self.snapshots {
                    let _ = s.sink.tx.try_send(Snapshot { header, bytes, took });
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "engine state cannot be snapshotted; recovery will replay the journal");
                self.snapshots = None;
            }
        }
    }

    pub fn snapshot_header(&self) -> SnapshotHeader {
        SnapshotHeader {
            applied: self.applied,
            emitted: self.emitted,
            fingerprint: self.fingerprint,
            route: self.route,
        }
    }

    /// The whole trading state: bars, indicators, strategies, risk, orders, positions, charges.
    pub fn save_snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        let mut out = snapshot::MAGIC.to_vec();
        out.extend(postcard::to_stdvec(&self.snapshot_header())?);
        let strategy = self.strategy.save_state()?;
        out.extend(postcard::to_stdvec(&(&self.candle, &strategy, &self.risk, &self.order))?);
        Ok(out)
    }

    /// Replaces this engine's state (built from the same configuration) with a snapshot's.
    /// Bytes that do not decode leave the engine unchanged; a strategy refusing its own saved
    /// state can leave it half restored, so on error callers start again from a fresh engine.
    pub fn restore_snapshot(&mut self, bytes: &[u8]) -> Result<SnapshotHeader, SnapshotError> {
        let (header, rest) = snapshot::split(bytes)?;
        if header.fingerprint != self.fingerprint {
            return Err(SnapshotError::OtherConfig { found: header.fingerprint, expected: self.fingerprint });
        }
        let (candle, strategy, risk, mut order): (CandleStage, StrategyState, RiskStage, OrderStage) =
            postcard::from_bytes(rest)?;
        self.strategy.restore_state(strategy)?;
        order.set_clock(self.clock.clone());
        self.candle = candle;
        self.risk = risk;
        self.order = order;
        self.applied = header.applied;
        self.emitted = header.emitted;
        self.route = header.route;
        Ok(header)
    }

    /// Collected latencies, including the order stage's tick-to-order histogram.
    pub fn all_latencies(&self) -> StageLatencies {
        let mut l = self.latencies.clone();
        l.tick_to_order.merge(&self.order.tick_to_order);
        l.timer_to_order.merge(&self.order.timer_to_order);
        l
    }
}
