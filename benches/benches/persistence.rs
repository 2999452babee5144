//! What persistence costs the hot path, measured in one run: the journal's append rate, and
//! tick-to-order latency with the journal, the SQL store and Redis all on against all off.
//!
//! `cargo bench -p dalal-benches --bench persistence [-- --quick]`. The SQL store is SQLite in
//! a temp directory unless `DALAL_BENCH_DATABASE_URL` names another; Redis is used when it
//! answers at 127.0.0.1:6379.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dalal_benches::{print_row, row_for, ticks_flipping, Row};
use dalal_config::{PlacementKind, WaitKind};
use dalal_core::engine::placement::{EgressObserver, IngressConsumer, PlacementConfig, Running};
use dalal_core::engine::stats::LiveStats;
use dalal_core::engine::Engine;
use dalal_core::metrics::LatencyHistogram;
use dalal_core::model::{EgressEvent, Input};
use dalal_persistence::journal::{FsyncPolicy, JournalConsumer, JournalWriter};
use dalal_persistence::{Fanout, RedisOptions, RedisPublisher, StoreOptions, StoreWriter};

/// Hands egress to the store and Redis, as `dalal run` does.
struct Persist(Fanout);

impl EgressObserver for Persist {
    fn on_event(&mut self, ev: &EgressEvent) {
        self.0.on_event(ev);
    }
}

fn pace(gap: Duration, since: Instant) {
    while since.elapsed() < gap {
        std::hint::spin_loop();
    }
}

fn tick_to_order(n: usize, gap: Duration, on: bool, dir: &std::path::Path) -> LatencyHistogram {
    let (setup, ticks) = ticks_flipping(n);
    let clock = quanta::Clock::new();
    let engine = Engine::new(&setup, clock.clone(), 0);
    let cfg = PlacementConfig {
        placement: PlacementKind::Fused,
        wait: WaitKind::BusySpin,
        sleep: Duration::from_micros(20),
        cores: Vec::new(),
        ring_size: 1 << 14,
    };
    let (branch, store, redis): (Option<Box<dyn IngressConsumer>>, _, _) = if on {
        let (w, _) = JournalWriter::open(&dir.join("journal"), FsyncPolicy::EveryMs(10)).expect("journal");
        let url = std::env::var("DALAL_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()));
        let store =
            StoreWriter::start_with(&url, &setup, StoreOptions { run_id: "bench".into(), ..StoreOptions::default() })
                .expect("store");
        let redis = std::net::TcpStream::connect("127.0.0.1:6379").ok().and_then(|_| {
            let opts = RedisOptions {
                url: "redis://127.0.0.1:6379/".into(),
                prefix: "bench".into(),
                ..RedisOptions::default()
            };
            RedisPublisher::start(opts, &setup).ok()
        });
        (Some(Box::new(JournalConsumer::new(w))), Some(store), redis)
    } else {
        (None, None, None)
    };
    let observer = Persist(Fanout::new(store.as_ref().map(|s| s.sender()), redis.as_ref().map(|r| r.sender())));
    let mut running = Running::start_with(engine, &cfg, observer, Arc::new(LiveStats::new(1)), branch);
    for t in &ticks {
        let start = Instant::now();
        running.publish(Input::Tick(*t));
        pace(gap, start);
    }
    let stopped = running.stop();
    if let Some(s) = store {
        let st = s.flush_and_stop();
        println!("  store: {} written, {} dropped", st.written, st.dropped);
    }
    if let Some(r) = redis {
        let st = r.stop();
        println!("  redis: {} published, {} dropped", st.published, st.dropped);
    }
    stopped.engine.all_latencies().tick_to_order
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dir = tempfile::tempdir().expect("tempdir");

    // Journal append: encode + checksum + buffered write, no fsync per record.
    let n = if quick { 1_000_000 } else { 5_000_000 };
    let (_, ticks) = ticks_flipping(1000);
    let (mut w, _) = JournalWriter::open(&dir.path().join("append"), FsyncPolicy::Never).expect("journal");
    let t0 = Instant::now();
    for i in 0..n {
        let t = ticks[i % ticks.len()];
        let _ = w.append(i as u64 + 1, &Input::Tick(t));
        if i % 4096 == 4095 {
            let _ = w.end_batch();
        }
    }
    let _ = w.end_batch();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "journal append: {n} events in {secs:.3}s = {:.2}M events/s ({} bytes)",
        n as f64 / secs / 1e6,
        w.stats.bytes
    );
    drop(w);

    let samples = if quick { 20_000 } else { 100_000 };
    let gap = Duration::from_micros(20);
    println!("tick_to_order with persistence: {samples} paced samples, one every {gap:?}");
    let off = row_for("tick_to_order/persistence_off", &tick_to_order(samples, gap, false, dir.path()));
    let on = row_for("tick_to_order/persistence_on", &tick_to_order(samples, gap, true, dir.path()));
    let rows: Vec<Row> = vec![off.clone(), on.clone()];
    println!("{:<34} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9}", "name", "count", "p50", "p99", "p99.9", "max", "p50/off");
    for r in &rows {
        print_row(r, off.p50_ns.max(1));
    }
    println!("p99 ratio on/off: {:.2}", on.p99_ns as f64 / off.p99_ns.max(1) as f64);
}
