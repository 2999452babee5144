//! Tick-to-order counts only orders a tick caused; an order from a bar that a timer closed is
//! measured from the timer, in its own histogram.

use dalal_config::Config;
use dalal_core::engine::Engine;
use dalal_core::model::time::NANOS_PER_SEC;
mod common;

use dalal_core::model::{EgressEvent, IngressEvent, Input, InstrumentId, OrderStatus, Price, Qty, Tick, Timestamp};

#[test]
fn timer_closed_bars_are_measured_apart_from_ticks() {
    let config: Config = toml::from_str(&common::flipping("", "")).expect("config");
    let setup = config.validate().expect("valid");
    let clock = quanta::Clock::new();
    let mut engine = Engine::new(&setup, clock.clone(), 0);
    let t0 = 1_795_146_300 * NANOS_PER_SEC;
    let (mut by_tick, mut by_timer, mut created) = (0, 0, 0);
    for k in 0..40i64 {
        // A trade in the middle of second k, alternating 1400 / 1410: every closed bar flips
        // the one-bar EMA across the two-bar one.
        let price = if k % 2 == 0 { 140_000 } else { 141_000 };
        let tick = Tick {
            instrument: InstrumentId(0),
            ts: Timestamp(t0 + k * NANOS_PER_SEC + NANOS_PER_SEC / 2),
            price: Price(price),
            qty: Qty(1),
        };
        let mut step = |input: Input, counts: &mut i32| {
            let ev = IngressEvent { input, ingress_raw: clock.raw(), source: 0 };
            engine.step(&ev, &mut |e| {
                if let EgressEvent::Order { order, tick_to_order_ns } = e {
                    if order.status == OrderStatus::Pending {
                        created += 1;
                        if tick_to_order_ns > 0 {
                            *counts += 1;
                        }
                    }
                }
            });
        };
        // Odd seconds: a timer at the boundary closes bar k before the next trade; even ones:
        // the next trade closes it.
        step(Input::Tick(tick), &mut by_tick);
        if k % 2 == 1 {
            let mut unused = 0;
            step(Input::Timer(Timestamp(t0 + (k + 1) * NANOS_PER_SEC)), &mut unused);
            by_timer += unused;
        }
    }
    let l = engine.all_latencies();
    assert!(created >= 30, "the strategy trades: {created}");
    assert_eq!(by_timer, 0, "an order a timer caused carries no tick-to-order latency");
    assert_eq!(l.tick_to_order.len(), by_tick as u64);
    assert!(
        l.tick_to_order.len() > 10 && l.timer_to_order.len() > 10,
        "{} / {}",
        l.tick_to_order.len(),
        l.timer_to_order.len()
    );
    assert_eq!(l.tick_to_order.len() + l.timer_to_order.len(), created as u64);
}
