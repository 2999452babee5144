//! The tick-to-order path of the lab's `tick_to_order` rows, stage by stage, for an
//! instruction profile:
//!
//!     cargo build --release -p dalal-benches --example flip_point
//!     valgrind --tool=callgrind --toggle-collect='flip_point::path_*' \
//!         target/release/examples/flip_point [TICKS]
//!
//! The lab's workload (`ticks_flipping`: every tick closes a bar and flips an EMA(1)/EMA(2)
//! crossover, so every tick makes an order) stepped breadth first: the candle stage's work on
//! a tick, then the strategy stage's on what it sent, then risk's, each in its own function.
//! Their sum is the work between a tick's arrival and the order stage receiving the approved
//! intent, which is where the engine's tick-to-order latency is measured; the order stage's
//! work and the feedback after it (`rest`) happen after that point, and so does risk's booking
//! of the approved intent (`RiskStage::accept`, called after the intent is handed on: subtract
//! its inclusive count from `path_risk`'s). Callgrind reports each function's count; divide by
//! TICKS.
//!
//! With a second argument `step` the same ticks go through `Engine::step` itself, depth first
//! as the running engine steps them, in `path_step`: everything a tick costs the engine thread,
//! the order stage, the paper fill and the feedback included. Cut at the order stage's latency
//! record, it counts exactly the tick-to-order path, one dump per tick:
//!
//!     valgrind --tool=callgrind --collect-atstart=no \
//!         --toggle-collect='flip_point::path_step' --zero-before='flip_point::path_step' \
//!         --dump-before='hdrhistogram::Histogram<T>::saturating_record' \
//!         target/release/examples/flip_point 600 step
//!
//! Run as it is (no valgrind), `step` mode also times that path: each tick is stamped with
//! the engine's clock just before it is stepped, and the engine's own tick-to-order histogram
//! is printed at the end. That is the engine's part of `tick_to_order/fused` alone, on one
//! thread with warm caches and no ring hop before it:
//!
//!     target/release/examples/flip_point 1000000 step
//!
//! A third argument, in microseconds, waits that long (spinning, as a busy-spin engine thread
//! waits for its ring) before each tick, as the lab's paced rows do: the same work after an
//! idle gap instead of back to back. A fourth argument `shadow` steps a second, identical
//! engine with the same tick at the end of each gap, untimed, just before the timed step: what
//! the path costs when its code and branch history are warm but its own data is not.
//!
//!     target/release/examples/flip_point 200000 step 10
//!     target/release/examples/flip_point 200000 step 10 shadow

use dalal_core::engine::Engine;
use dalal_core::model::{Cause, EgressEvent, Feedback, IngressEvent, Input, Msg, Stamp};
use dalal_core::stages::candle::CandleStage;
use dalal_core::stages::order::OrderStage;
use dalal_core::stages::risk::RiskStage;
use dalal_core::stages::strategy::StrategyStage;

#[inline(never)]
fn path_candle(candle: &mut CandleStage, ev: &IngressEvent, out: &mut Vec<Msg>) {
    candle.on_input(ev, &mut |m| out.push(m));
}

#[inline(never)]
fn path_strategy(strategy: &mut StrategyStage, input: &[Msg], out: &mut Vec<Msg>) {
    for m in input {
        strategy.on_msg(m, &mut |m| out.push(m));
    }
}

#[inline(never)]
fn path_risk(risk: &mut RiskStage, input: &[Msg], out: &mut Vec<Msg>) {
    for m in input {
        risk.on_msg(m, &mut |m| out.push(m));
    }
}

#[inline(never)]
fn rest(e: &mut Engine, input: &[Msg], fb: &mut Vec<Feedback>, orders: &mut u64) {
    let Engine { strategy, risk, order, .. } = e;
    for m in input {
        step_order(order, m, fb, orders);
    }
    for f in fb.drain(..) {
        strategy.on_msg(&Msg::Feedback(f), &mut |m| risk.on_msg(&m, &mut |_| {}));
    }
}

fn step_order(order: &mut OrderStage, m: &Msg, fb: &mut Vec<Feedback>, orders: &mut u64) {
    order.on_msg(
        m,
        &mut |e| {
            if let EgressEvent::Order { .. } = e {
                *orders += 1;
            }
        },
        &mut |f| fb.push(f),
    );
}

#[inline(never)]
fn path_step(e: &mut Engine, ev: &IngressEvent, orders: &mut u64) {
    e.step(ev, &mut |e| {
        if let EgressEvent::Order { .. } = e {
            *orders += 1;
        }
    });
}

fn main() {
    let n = std::env::args().nth(1).and_then(|a| a.parse::<usize>().ok()).unwrap_or(200_000);
    let (setup, ticks) = dalal_benches::ticks_flipping(n);
    let mut e = Engine::new(&setup, quanta::Clock::new(), 0);
    if std::env::args().nth(2).as_deref() == Some("step") {
        let mut orders = 0u64;
        let gap = std::env::args().nth(3).and_then(|a| a.parse::<u64>().ok()).map(std::time::Duration::from_micros);
        let mut shadow = (std::env::args().nth(4).as_deref() == Some("shadow"))
            .then(|| (Engine::new(&setup, quanta::Clock::new(), 0), 0u64));
        for t in &ticks {
            if let Some(gap) = gap {
                dalal_benches::lab::pace(gap, std::time::Instant::now());
                if let Some((twin, twin_orders)) = shadow.as_mut() {
                    let ev = IngressEvent { input: Input::Tick(*t), ingress_raw: 0, source: 0 };
                    path_step(twin, &ev, twin_orders);
                }
            }
            let ev = IngressEvent { input: Input::Tick(*t), ingress_raw: e.clock().raw(), source: 0 };
            path_step(&mut e, &ev, &mut orders);
        }
        let p = e.all_latencies().tick_to_order.percentiles();
        println!(
            "{n} ticks stepped, {orders} order events; tick to the order stage: p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns ({} samples)",
            p.p50_ns, p.p99_ns, p.p999_ns, p.max_ns, p.count
        );
        return;
    }
    let (mut a, mut b, mut c, mut fb) =
        (Vec::with_capacity(64), Vec::with_capacity(64), Vec::with_capacity(64), Vec::new());
    let mut orders = 0u64;
    let mut approved = 0u64;
    for t in &ticks {
        let ev = IngressEvent { input: Input::Tick(*t), ingress_raw: 0, source: 0 };
        a.clear();
        b.clear();
        c.clear();
        path_candle(&mut e.candle, &ev, &mut a);
        path_strategy(&mut e.strategy, &a, &mut b);
        path_risk(&mut e.risk, &b, &mut c);
        approved +=
            c.iter().filter(|m| matches!(m, Msg::Approved { stamp: Stamp { cause: Cause::Tick, .. }, .. })).count()
                as u64;
        rest(&mut e, &c, &mut fb, &mut orders);
    }
    println!("{n} ticks, {approved} intents approved on a tick, {orders} order events");
}
