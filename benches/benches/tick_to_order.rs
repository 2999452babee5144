//! Tick-to-order latency, fused and pipelined, against a raw one-hop disruptor and a
//! crossbeam channel measured in the same run. Every tick is published at a paced interval
//! and stamped when published; latency is read from the engine's own histogram (ingress
//! publish → order intent accepted by the order stage), so the engine is measured the way it
//! measures itself in production.
//!
//! `cargo bench -p dalal-benches --bench tick_to_order [-- --quick]`. The default wait
//! strategy is busy-spin with as many spinning threads as the placement needs; on a machine
//! with fewer free cores than that, pass `--wait yield`.

use std::time::{Duration, Instant};

use dalal_benches::{print_row, row_for, ticks_flipping, Row};
use dalal_core::config::{PlacementKind, WaitKind};
use dalal_core::engine::Engine;
use dalal_core::event::Input;
use dalal_core::live::LiveStats;
use dalal_core::metrics::LatencyHistogram;
use dalal_core::pipeline::{EgressObserver, PlacementConfig, Running};
use disruptor::{BusySpin, Polling, Producer};

struct Null;
impl EgressObserver for Null {
    fn on_event(&mut self, _: &dalal_core::event::EgressEvent) {}
}

fn pace(gap: Duration, since: Instant) {
    while since.elapsed() < gap {
        std::hint::spin_loop();
    }
}

fn idle(wait: WaitKind) {
    match wait {
        WaitKind::BusySpin => std::hint::spin_loop(),
        _ => std::thread::yield_now(),
    }
}

/// One producer, one consumer thread, the consumer records publish → receive.
fn hop_disruptor(n: usize, gap: Duration, wait: WaitKind) -> LatencyHistogram {
    let clock = quanta::Clock::new();
    let (mut poller, b) = disruptor::build_single_producer(1024, || 0u64, BusySpin).new_event_poller();
    let mut p = b.build();
    let c2 = clock.clone();
    let consumer = std::thread::spawn(move || {
        let mut h = LatencyHistogram::new();
        loop {
            match poller.poll() {
                Ok(mut batch) => {
                    for raw in &mut batch {
                        h.record(c2.delta_as_nanos(*raw, c2.raw()));
                    }
                }
                Err(Polling::NoEvents) => idle(wait),
                Err(Polling::Shutdown) => break,
            }
        }
        h
    });
    for _ in 0..n {
        let t = Instant::now();
        p.publish(|e| *e = clock.raw());
        pace(gap, t);
    }
    drop(p);
    consumer.join().unwrap_or_default()
}

fn hop_crossbeam(n: usize, gap: Duration, wait: WaitKind) -> LatencyHistogram {
    let clock = quanta::Clock::new();
    let (tx, rx) = crossbeam_channel::bounded::<u64>(1024);
    let c2 = clock.clone();
    let consumer = std::thread::spawn(move || {
        let mut h = LatencyHistogram::new();
        loop {
            match rx.try_recv() {
                Ok(raw) => h.record(c2.delta_as_nanos(raw, c2.raw())),
                Err(crossbeam_channel::TryRecvError::Empty) => idle(wait),
                Err(crossbeam_channel::TryRecvError::Disconnected) => break,
            }
        }
        h
    });
    for _ in 0..n {
        let t = Instant::now();
        let _ = tx.send(clock.raw());
        pace(gap, t);
    }
    drop(tx);
    consumer.join().unwrap_or_default()
}

fn engine_run(
    n: usize,
    gap: Duration,
    placement: PlacementKind,
    wait: WaitKind,
    sample_every: u32,
) -> LatencyHistogram {
    let (setup, ticks) = ticks_flipping(n);
    let clock = quanta::Clock::new();
    let engine = Engine::new(&setup, clock.clone(), sample_every);
    let cfg = PlacementConfig { placement, wait, sleep: Duration::from_micros(20), cores: Vec::new(), ring_size: 1024 };
    let mut running = Running::start(engine, &cfg, Null, std::sync::Arc::new(LiveStats::new(1)));
    for t in &ticks {
        let start = Instant::now();
        running.publish(Input::Tick(*t), &clock);
        pace(gap, start);
    }
    let stopped = running.stop();
    stopped.engine.all_latencies().tick_to_order
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let wait = match args.iter().position(|a| a == "--wait").and_then(|i| args.get(i + 1)).map(String::as_str) {
        Some("yield") => WaitKind::Yield,
        _ => WaitKind::BusySpin,
    };
    let n = if quick { 20_000 } else { 200_000 };
    let gap = Duration::from_micros(10);
    println!("tick_to_order bench: {n} samples per row, one every {gap:?}, consumer wait {wait:?}");
    let mut rows: Vec<Row> = vec![
        row_for("hop/disruptor", &hop_disruptor(n, gap, wait)),
        row_for("hop/crossbeam", &hop_crossbeam(n, gap, wait)),
    ];
    rows.push(row_for("tick_to_order/fused", &engine_run(n, gap, PlacementKind::Fused, wait, 0)));
    rows.push(row_for("tick_to_order/fused_stage_timed", &engine_run(n, gap, PlacementKind::Fused, wait, 1)));
    // Four stage threads plus the publisher cannot all spin on a small machine.
    let piped_wait = if dalal_core::pipeline::available_cores().len() >= 6 { wait } else { WaitKind::Sleep };
    rows.push(row_for("tick_to_order/pipelined", &engine_run(n, gap, PlacementKind::Pipelined, piped_wait, 0)));
    let base = rows[0].p50_ns.max(1);
    println!("{:<34} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9}", "name", "count", "p50", "p99", "p99.9", "max", "p50/hop");
    for r in &rows {
        print_row(r, base);
    }
}
