//! One point of the lab's `scale/accounts=N` group, for an instruction profile:
//!
//!     cargo build --release -p dalal-benches --example scale_point
//!     valgrind --tool=callgrind --toggle-collect='scale_point::timed_part*' \
//!         target/release/examples/scale_point ACCOUNTS [trading|no_orders] [TICKS]
//!
//! Builds the point's config and tape as the lab does (N accounts, their strategies spread
//! over the default config's 50 instruments, TICKS ticks of one session, default 400,000),
//! replays the warm-up, engages every kill switch for `no_orders`, and runs the rest in
//! `timed_part` alone, so callgrind's count divided by the timed ticks is the engine's
//! instructions per tick at that point. Prints the timed ticks, nanoseconds per tick, orders
//! and refusals.

use std::process::ExitCode;

use dalal_benches::scale::{config, prepare, strategies_per_account, ticks, warm_up, Mode};
use dalal_core::engine::Engine;
use dalal_core::model::{EgressEvent, IngressEvent, Input, Tick};

#[inline(never)]
fn timed_part(engine: &mut Engine, ticks: &[Tick], sink: &mut impl FnMut(EgressEvent)) {
    for t in ticks {
        engine.step(&IngressEvent { input: Input::Tick(*t), ingress_raw: 0, source: 0 }, sink);
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let accounts = args.first().and_then(|a| a.parse::<usize>().ok()).filter(|&a| (1..=65_535).contains(&a));
    let mode = match args.get(1).map(String::as_str) {
        None | Some("trading") => Some(Mode::Holders),
        Some("no_orders") => Some(Mode::NoOrders),
        Some(_) => None,
    };
    let n = args.get(2).map_or(Some(400_000), |t| t.parse::<usize>().ok());
    let (Some(accounts), Some(mode), Some(n)) = (accounts, mode, n) else {
        eprintln!("usage: scale_point ACCOUNTS (1..65535) [trading|no_orders] [TICKS]");
        return ExitCode::from(2);
    };
    let (first, setup) = match (config(1, 1), config(accounts, strategies_per_account(accounts))) {
        (Ok(f), Ok(s)) => (f, s),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("config: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tape = ticks(&first, n);
    let warm = match warm_up(&first, &tape) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("config: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (warm, timed) = tape.split_at(warm);
    let mut engine = prepare(&setup, warm, mode);
    let sink = &mut |_: EgressEvent| {};
    let c0 = engine.order.counters;
    let t0 = std::time::Instant::now();
    timed_part(&mut engine, timed, sink);
    let secs = t0.elapsed().as_secs_f64();
    let c = engine.order.counters;
    println!(
        "timed {} ticks, {:.1} ns/tick, {} orders, {} refused",
        timed.len(),
        secs * 1e9 / timed.len().max(1) as f64,
        c.orders - c0.orders,
        c.rejected - c0.rejected
    );
    ExitCode::SUCCESS
}
