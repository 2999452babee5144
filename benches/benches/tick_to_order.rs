//! Tick-to-order latency, fused and pipelined, against a raw one-hop disruptor and a
//! crossbeam channel measured in the same run. Every tick is published at a paced interval
//! and stamped when published; latency is read from the engine's own histogram (ingress
//! publish → order intent accepted by the order stage), so the engine is measured the way it
//! measures itself in production.
//!
//! `cargo bench -p dalal-benches --bench tick_to_order [-- --quick]`. The default wait
//! strategy is busy-spin with as many spinning threads as the placement needs; on a machine
//! with fewer free cores than that, pass `--wait yield`.

use std::time::Duration;

use dalal_benches::lab::{hop_crossbeam, hop_disruptor, hop_ingress, tick_to_order as engine_run};
use dalal_benches::{print_row, row_for, Row};
use dalal_config::{PlacementKind, WaitKind};

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
        row_for("hop/ingress", &hop_ingress(n, gap, wait)),
    ];
    rows.push(row_for("tick_to_order/fused", &engine_run(n, gap, PlacementKind::Fused, wait, 0)));
    rows.push(row_for("tick_to_order/fused_stage_timed", &engine_run(n, gap, PlacementKind::Fused, wait, 1)));
    // Four stage threads plus the publisher cannot all spin on a small machine.
    let piped_wait = if dalal_core::engine::placement::available_cores().len() >= 6 { wait } else { WaitKind::Sleep };
    rows.push(row_for("tick_to_order/pipelined", &engine_run(n, gap, PlacementKind::Pipelined, piped_wait, 0)));
    let base = rows[0].p50_ns.max(1);
    println!("{:<34} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9}", "name", "count", "p50", "p99", "p99.9", "max", "p50/hop");
    for r in &rows {
        print_row(r, base);
    }
}
