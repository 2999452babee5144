//! Wire to wire on loopback: a feed process sends UDP tick datagrams on a fixed schedule, the
//! engine (this process, one busy-polling thread) turns each into an order sent over TCP to an
//! exchange-simulator process, which stamps arrival. Latency is tick intended-send time →
//! order arrival, so a stall anywhere shows up (no coordinated omission).
//!
//! `cargo bench -p dalal-benches --bench wire [-- --quick] [--rates 10000,100000,1000000]
//! [--n TICKS] [--spin-ns NS] [--feed-yield] [--realtime]`. `--realtime` runs the engine and
//! both children under `SCHED_FIFO` (see `WireOptions::realtime`). Without `--n`, each rate sends about three
//! seconds of ticks (at most 500,000).

use std::time::Duration;

use dalal_benches::wire::{dispatch_role, wire_to_wire_with, Pacing, WireOptions, WireReport, QUICK_TICKS};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(code) = dispatch_role(&args) {
        std::process::exit(code);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let rates: Vec<u64> = match flag("--rates") {
        Some(r) => match r.split(',').map(|x| x.trim().parse::<u64>()).collect() {
            Ok(v) => v,
            Err(e) => {
                eprintln!("--rates {r:?}: {e}");
                std::process::exit(2);
            }
        },
        None => vec![10_000, 100_000, 1_000_000],
    };
    let n_flag: Option<usize> = flag("--n").and_then(|n| n.parse().ok());
    let realtime = args.iter().any(|a| a == "--realtime");
    let pacing = if args.iter().any(|a| a == "--feed-yield") { Pacing::Yield } else { Pacing::Spin };
    let spin_ns: Option<u64> = flag("--spin-ns").and_then(|n| n.parse().ok());
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot find this executable: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "wire_to_wire: tick datagram intended send -> order read by the exchange, {} build",
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
    println!(
        "{:<26} {:>8} {:>9} {:>9} {:>9} {:>10} {:>11} {:>8} {:>8} {:>6} {:>8} {:>8}",
        "row", "ticks", "p50", "p90", "p99", "p99.9", "max", "sent", "recv", "gaps", "orders", "acked"
    );
    let mut failed = false;
    for rate in rates {
        let n = n_flag.unwrap_or_else(|| (rate as usize * 3).clamp(1_000, 500_000));
        let mut opt = WireOptions::new(if quick { n.min(QUICK_TICKS) } else { n }, rate, exe.clone());
        opt.pacing = pacing;
        opt.realtime = realtime;
        if let Some(s) = spin_ns {
            opt.spin_ns = s;
        }
        // A moment for the previous row's processes and sockets to go.
        std::thread::sleep(Duration::from_millis(200));
        match wire_to_wire_with(&opt) {
            Ok(r) => print_report(&r),
            Err(e) => {
                failed = true;
                eprintln!("wire_to_wire at {rate}/s: {e}");
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}

fn us(ns: u64) -> String {
    format!("{:.1}us", ns as f64 / 1000.0)
}

fn print_report(r: &WireReport) {
    let p = r.percentiles();
    println!(
        "{:<26} {:>8} {:>9} {:>9} {:>9} {:>10} {:>11} {:>8} {:>8} {:>6} {:>8} {:>8}",
        format!("wire_to_wire/{}k_per_s", r.rate / 1000),
        r.n,
        us(p.p50_ns),
        us(p.p90_ns),
        us(p.p99_ns),
        us(p.p999_ns),
        us(p.max_ns),
        r.feed.sent,
        r.feed_stats.received,
        r.feed_stats.missing + r.trailing_missing(),
        r.orders_sent,
        r.orders_acked
    );
    println!(
        "  {}; receive buffer {} KiB; feed max behind schedule {}; exchange p50 {} p99 {} over {} orders; stale {} malformed {} send errors {}",
        r.placement(),
        r.recv_buffer_bytes.unwrap_or(0) / 1024,
        us(r.feed.max_behind_ns),
        us(r.exchange.latency.p50_ns),
        us(r.exchange.latency.p99_ns),
        r.exchange.latency.count,
        r.feed_stats.stale,
        r.feed_stats.malformed,
        r.feed.send_errors
    );
    let (f, o) = (r.feed_leg.percentiles(), r.order_leg.percentiles());
    println!(
        "  legs: datagram intended send -> engine decoded p50 {} p99 {}; order written -> exchange read p50 {} p99 {}",
        us(f.p50_ns),
        us(f.p99_ns),
        us(o.p50_ns),
        us(o.p99_ns)
    );
    let rt = r.round_trip.percentiles();
    println!(
        "  round trip (tick sent -> order at the exchange -> fill booked): p50 {} p99 {} over {} fills",
        us(rt.p50_ns),
        us(rt.p99_ns),
        r.fills_booked
    );
}
