//! A pipelined engine's journal is enough to rebuild its run exactly: order-stage feedback
//! travels through the ingress ring, so the journal records where each piece landed in the
//! sequence, and the engine's snapshots are taken by a barrier through the stage threads.
//! Fed in a burst on the smallest rings, feedback lands later than a fused engine would apply
//! it, which is what a replay must reproduce.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dalal_config::{PlacementKind, WaitKind};
use dalal_core::engine::backtest::Blotter;
use dalal_core::engine::placement::{EgressObserver, IngressConsumer, Launch, PlacementConfig, MIN_RING};
use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::snapshot::{Snapshot, SnapshotSink};
use dalal_core::engine::stats::LiveStats;
use dalal_core::engine::Engine;
use dalal_core::model::{EgressEvent, FeedbackRoute, IngressEvent, Input, Tick};

mod common;

use common::{ticks, DEFAULT};

#[derive(Default)]
struct Collect(Blotter);

impl EgressObserver for Collect {
    fn on_event(&mut self, ev: &EgressEvent) {
        self.0.on_event(ev)
    }
}

/// Every ingress event in sequence order, as a journal sees them.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<IngressEvent>>>);

impl IngressConsumer for Capture {
    fn on_event(&mut self, ev: &IngressEvent) {
        if let Ok(mut v) = self.0.lock() {
            v.push(*ev);
        }
    }
    fn end_batch(&mut self) {}
}

struct PipelinedRun {
    blotter: Blotter,
    engine: Engine,
    journal: Vec<IngressEvent>,
    snapshots: Vec<Snapshot>,
}

/// Runs `t` through a pipelined engine on the smallest rings, in one burst, with the journal
/// captured and (when `snapshot_every` is set) snapshots taken.
fn run_pipelined(s: &EngineSetup, t: &[Tick], snapshot_every: Option<Duration>) -> PipelinedRun {
    let (snap_tx, snap_rx) = crossbeam_channel::unbounded();
    let mut engine = Engine::new(s, quanta::Clock::new(), 0);
    if let Some(every) = snapshot_every {
        engine.set_snapshots(SnapshotSink { every, tx: snap_tx });
    }
    let cfg = PlacementConfig {
        placement: PlacementKind::Pipelined,
        wait: WaitKind::Yield,
        sleep: Duration::from_micros(20),
        cores: vec![],
        ring_size: MIN_RING,
    };
    let capture = Capture::default();
    let live = Arc::new(LiveStats::new(s.accounts.len()));
    let mut running = Launch::new(engine, &cfg, Collect::default(), live)
        .journal(Box::new(capture.clone()))
        .start()
        .expect("pipeline starts");
    for tick in t {
        running.publish(Input::Tick(*tick));
    }
    running.wait_idle();
    let stopped = running.stop();
    let journal = capture.0.lock().map(|v| v.clone()).unwrap_or_default();
    PipelinedRun {
        blotter: stopped.observer.0,
        engine: stopped.engine,
        journal,
        snapshots: snap_rx.try_iter().collect(),
    }
}

/// Steps `events` through `engine` as `dalal replay` and recovery do.
fn replay(engine: &mut Engine, events: &[IngressEvent]) -> Blotter {
    let mut b = Blotter::default();
    for ev in events {
        engine.step(&IngressEvent { input: ev.input, ingress_raw: 0, source: ev.source }, &mut |e| b.on_event(&e));
    }
    b
}

fn orders(b: &Blotter) -> Vec<String> {
    b.orders.iter().map(|o| format!("{o:?}")).collect()
}

fn state(e: &Engine) -> Vec<u8> {
    e.save_snapshot().expect("state encodes")
}

#[test]
fn a_pipelined_run_replays_exactly_from_its_journal() {
    let s = common::setup_from(DEFAULT);
    let t = ticks(&s, 30_000, 5);
    let run = run_pipelined(&s, &t, None);
    assert!(run.blotter.fills.len() > 20, "the burst should trade: {} fills", run.blotter.fills.len());
    // The journal holds the route, every tick, and every piece of feedback.
    assert_eq!(run.journal.first().map(|e| e.input), Some(Input::Route(FeedbackRoute::Journaled)));
    let ticks_in = run.journal.iter().filter(|e| matches!(e.input, Input::Tick(_))).count();
    let feedback = run.journal.iter().filter(|e| matches!(e.input, Input::Feedback(_))).count();
    assert_eq!(ticks_in, t.len());
    assert!(feedback >= run.blotter.fills.len(), "{feedback} feedback records for {} fills", run.blotter.fills.len());
    assert_eq!(run.engine.applied(), run.journal.len() as u64, "the engine counts every event it applied");
    assert_eq!(run.engine.order.unreturned_feedback().count(), 0, "a settled run has no feedback in flight");

    let mut again = Engine::new(&s, quanta::Clock::new(), 0);
    let b = replay(&mut again, &run.journal);
    assert_eq!(again.route(), FeedbackRoute::Journaled);
    assert_eq!(orders(&b), orders(&run.blotter), "orders after replaying the journal");
    assert_eq!(b.fills, run.blotter.fills, "fills after replaying the journal");
    assert_eq!(state(&again), state(&run.engine), "every stage's state after replaying the journal");
}

#[test]
fn a_pipelined_snapshot_and_the_journal_after_it_rebuild_the_run() {
    let s = common::setup_from(DEFAULT);
    let t = ticks(&s, 30_000, 9);
    let run = run_pipelined(&s, &t, Some(Duration::from_micros(200)));
    let total = run.journal.len() as u64;
    assert!(run.snapshots.len() >= 2, "snapshots taken: {}", run.snapshots.len());
    for snap in &run.snapshots {
        assert_eq!(snap.header.route, FeedbackRoute::Journaled);
        assert!(snap.header.applied <= total);
    }
    // Every snapshot, restored, plus the journal after it, ends where the run ended: the
    // barrier caught each stage exactly after the same event.
    for snap in &run.snapshots {
        let mut e = Engine::new(&s, quanta::Clock::new(), 0);
        let h = e.restore_snapshot(&snap.bytes).expect("a pipelined snapshot restores");
        assert_eq!(h, snap.header);
        let tail = &run.journal[h.applied as usize..];
        replay(&mut e, tail);
        assert_eq!(e.applied(), total);
        assert_eq!(state(&e), state(&run.engine), "restored at sequence {} and replayed", h.applied);
    }
}

/// A run that stops with feedback still in flight leaves it in its state, and the next start
/// sends it first, so strategy and risk still learn of every fill.
#[test]
fn feedback_in_flight_at_a_stop_is_sent_on_the_next_start() {
    let s = common::setup_from(DEFAULT);
    let t = ticks(&s, 30_000, 5);
    let full = run_pipelined(&s, &t, None);
    // Replay the journal up to a point right after some feedback was sent but before it
    // came back: the engine holds it as unreturned.
    let mut e = Engine::new(&s, quanta::Clock::new(), 0);
    let mut cut = None;
    for (i, ev) in full.journal.iter().enumerate() {
        replay(&mut e, std::slice::from_ref(ev));
        if e.order.unreturned_feedback().count() > 0 && matches!(ev.input, Input::Tick(_)) {
            cut = Some(i + 1);
            break;
        }
    }
    let cut = cut.expect("some feedback is in flight at some point");
    let pending: Vec<_> = e.order.unreturned_feedback().copied().collect();
    // Start a fused engine from that state: it sends the pending feedback, then the rest of
    // the ticks, and nothing is left in flight.
    let cfg = PlacementConfig { placement: PlacementKind::Fused, ring_size: MIN_RING, ..PlacementConfig::default() };
    let capture = Capture::default();
    let live = Arc::new(LiveStats::new(s.accounts.len()));
    let running =
        Launch::new(e, &cfg, Collect::default(), live).journal(Box::new(capture.clone())).start().expect("starts");
    running.wait_idle();
    let stopped = running.stop();
    let sent = capture.0.lock().map(|v| v.clone()).unwrap_or_default();
    let mut expect = vec![Input::Route(FeedbackRoute::Inline)];
    expect.extend(pending.iter().map(|f| Input::Feedback(*f)));
    assert_eq!(sent.iter().map(|e| e.input).collect::<Vec<_>>(), expect);
    assert_eq!(stopped.engine.order.unreturned_feedback().count(), 0);
    assert_eq!(stopped.engine.route(), FeedbackRoute::Inline);
    assert_eq!(stopped.engine.applied(), (cut + expect.len()) as u64);
}

/// Journaled feedback naming accounts, instruments, strategies or orders the engine does not
/// have (a journal from another configuration slipped past its checks) changes nothing it
/// knows and never panics; the engine then trades as before.
#[test]
fn feedback_about_unknown_ids_is_harmless() {
    use dalal_core::model::{
        AccountId, CloseReason, Feedback, Fill, FillId, InstrumentId, Money, OrderId, OrderIntent, Price, Product, Qty,
        RejectReason, Side, StrategyId, Timestamp,
    };
    let s = common::setup_from(DEFAULT);
    let t = ticks(&s, 5_000, 3);
    let mut reference = Engine::new(&s, quanta::Clock::new(), 0);
    let mut e = Engine::new(&s, quanta::Clock::new(), 0);
    let route = IngressEvent { input: Input::Route(FeedbackRoute::Journaled), ingress_raw: 0, source: 0 };
    replay(&mut reference, &[route]);
    replay(&mut e, &[route]);
    let intent = OrderIntent::limit(AccountId(900), StrategyId(900), InstrumentId(900), Side::Buy, Qty(5), Price(100));
    let fill = Fill {
        id: FillId(1),
        order: OrderId(77_777),
        account: AccountId(900),
        strategy: StrategyId(900),
        instrument: InstrumentId(900),
        side: Side::Sell,
        qty: Qty(5),
        price: Price(100),
        ts: Timestamp(1),
        product: Product::Mis,
        charges: Money(3),
    };
    let system = Fill { strategy: StrategyId::SYSTEM, ..fill };
    let bad = [
        Feedback::Accepted { order: OrderId(77_777), intent },
        Feedback::Filled { fill, done: true },
        Feedback::Filled { fill: system, done: false },
        Feedback::Adopted { fill },
        Feedback::Closed {
            order: OrderId(77_777),
            account: AccountId(900),
            strategy: StrategyId(900),
            instrument: InstrumentId(900),
            product: Product::Nrml,
            side: Side::Buy,
            unfilled: Qty(5),
            reason: CloseReason::Cancelled,
        },
        Feedback::Modified { order: OrderId(77_777), intent, old_remaining: Qty(5), new_remaining: Qty(2) },
        Feedback::CommandRefused { account: AccountId(900), order: OrderId(1), reason: RejectReason::UnknownOrder },
    ];
    let events: Vec<_> =
        bad.iter().map(|f| IngressEvent { input: Input::Feedback(*f), ingress_raw: 0, source: 0 }).collect();
    replay(&mut e, &events);
    let ticks_in: Vec<_> =
        t.iter().map(|x| IngressEvent { input: Input::Tick(*x), ingress_raw: 0, source: 0 }).collect();
    let want = replay(&mut reference, &ticks_in);
    let got = replay(&mut e, &ticks_in);
    assert!(!want.orders.is_empty(), "the input trades");
    assert_eq!(orders(&got), orders(&want), "unknown feedback changed what the engine did");
    assert_eq!(got.fills, want.fills);
}
