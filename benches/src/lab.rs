//! The latency lab as a library: the measurements `dalal bench` and the bench harnesses share,
//! and the report they write (`bench.json`, a percentile plot in SVG).

use std::io::Write as _;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dalal_core::backtest;
use dalal_core::config::{PlacementKind, WaitKind};
use dalal_core::engine::Engine;
use dalal_core::event::{EgressEvent, Input};
use dalal_core::live::LiveStats;
use dalal_core::metrics::{LatencyHistogram, Percentiles};
use dalal_core::pipeline::{available_cores, EgressObserver, PlacementConfig, Running};
use disruptor::{BusySpin, Polling, Producer};
use serde::Serialize;

use crate::ticks_flipping;

/// What the numbers came from, so results from different machines are never confused.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    /// Cores this process may run on.
    pub cores_available: Vec<usize>,
    /// Stage threads are left unpinned here; the kernel may move them.
    pub pinning: String,
    pub wait: String,
    pub profile: &'static str,
}

impl Machine {
    pub fn read(wait: WaitKind) -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Machine {
            cpu,
            cores,
            cores_available: available_cores(),
            pinning: "none (threads unpinned)".into(),
            wait: format!("{wait:?}"),
            profile: if cfg!(debug_assertions) { "debug" } else { "release" },
        }
    }
}

/// One row of `bench.json`: a latency distribution or a throughput.
#[derive(Clone, Debug, Serialize)]
pub struct LabRow {
    pub name: String,
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p999_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p9999_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticks_per_s: Option<f64>,
}

impl LabRow {
    pub fn latency(name: &str, h: &LatencyHistogram) -> LabRow {
        let p: Percentiles = h.percentiles();
        LabRow {
            name: name.into(),
            count: p.count,
            p50_ns: Some(p.p50_ns),
            p90_ns: Some(p.p90_ns),
            p99_ns: Some(p.p99_ns),
            p999_ns: Some(p.p999_ns),
            p9999_ns: Some(p.p9999_ns),
            max_ns: Some(p.max_ns),
            ticks_per_s: None,
        }
    }

    pub fn throughput(name: &str, count: u64, secs: f64) -> LabRow {
        LabRow {
            name: name.into(),
            count,
            p50_ns: None,
            p90_ns: None,
            p99_ns: None,
            p999_ns: None,
            p9999_ns: None,
            max_ns: None,
            ticks_per_s: Some(count as f64 / secs.max(1e-9)),
        }
    }
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

/// One producer, one consumer thread; the consumer records publish → receive.
pub fn hop_disruptor(n: usize, gap: Duration, wait: WaitKind) -> LatencyHistogram {
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

/// One producer, one consumer thread over a channel given as its send and non-blocking
/// receive halves; the consumer records publish → receive. `try_recv` answers `Ok(Some)` for a
/// stamp, `Ok(None)` when empty, `Err(())` once the sender (owned by `send`) is gone.
fn hop_channel<R: Send + 'static>(
    n: usize,
    gap: Duration,
    wait: WaitKind,
    mut send: impl FnMut(u64),
    rx: R,
    try_recv: fn(&R) -> Result<Option<u64>, ()>,
) -> LatencyHistogram {
    let clock = quanta::Clock::new();
    let c2 = clock.clone();
    let consumer = std::thread::spawn(move || {
        let mut h = LatencyHistogram::new();
        loop {
            match try_recv(&rx) {
                Ok(Some(raw)) => h.record(c2.delta_as_nanos(raw, c2.raw())),
                Ok(None) => idle(wait),
                Err(()) => break,
            }
        }
        h
    });
    for _ in 0..n {
        let t = Instant::now();
        send(clock.raw());
        pace(gap, t);
    }
    drop(send);
    consumer.join().unwrap_or_default()
}

pub fn hop_crossbeam(n: usize, gap: Duration, wait: WaitKind) -> LatencyHistogram {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(1024);
    hop_channel(
        n,
        gap,
        wait,
        move |v| {
            let _ = tx.send(v);
        },
        rx,
        |rx| match rx.try_recv() {
            Ok(v) => Ok(Some(v)),
            Err(crossbeam_channel::TryRecvError::Empty) => Ok(None),
            Err(crossbeam_channel::TryRecvError::Disconnected) => Err(()),
        },
    )
}

pub fn hop_std_mpsc(n: usize, gap: Duration, wait: WaitKind) -> LatencyHistogram {
    let (tx, rx) = mpsc::sync_channel::<u64>(1024);
    hop_channel(
        n,
        gap,
        wait,
        move |v| {
            let _ = tx.send(v);
        },
        rx,
        |rx| match rx.try_recv() {
            Ok(v) => Ok(Some(v)),
            Err(mpsc::TryRecvError::Empty) => Ok(None),
            Err(mpsc::TryRecvError::Disconnected) => Err(()),
        },
    )
}

struct Null;
impl EgressObserver for Null {
    fn on_event(&mut self, _: &EgressEvent) {}
}

/// Paced ticks through a running engine; the engine's own tick-to-order histogram.
pub fn tick_to_order(
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
    let mut running = Running::start(engine, &cfg, Null, Arc::new(LiveStats::new(1)));
    for t in &ticks {
        let start = Instant::now();
        running.publish(Input::Tick(*t), &clock);
        pace(gap, start);
    }
    running.stop().engine.all_latencies().tick_to_order
}

/// One EMA(9/21) crossover on 1-minute bars of one instrument, over a synthetic session: the
/// backtest throughput workload (most ticks update bars; few trade).
pub fn session_workload(n: usize) -> (dalal_core::setup::EngineSetup, Vec<dalal_core::event::Tick>) {
    let cfg = r#"
        [engine]
        timeframes = []
        latency_sample_every = 0
        [risk]
        enforce_session = false
        mis_square_off = ""
        [[instruments]]
        symbol = "RELIANCE"
        tick_size = 0.10
        lot_size = 1
        ref_price = 1420.00
        band_pct = 20
        [[accounts]]
        name = "quant"
        [accounts.limits]
        max_orders_per_sec = 0
        duplicate_window_ms = 0
        [[accounts.strategies]]
        kind = "ema_cross"
        instrument = "RELIANCE"
        timeframe = "1m"
        fast = 9
        slow = 21
        qty = 100
        allow_short = true
    "#;
    let setup = toml::from_str::<dalal_core::config::Config>(cfg)
        .ok()
        .and_then(|c| c.validate().ok())
        .unwrap_or_else(|| unreachable!("the workload config is valid"));
    let spec = &setup.instruments[0];
    let synth = dalal_adapters::SyntheticConfig {
        seed: 7,
        instruments: vec![dalal_adapters::SyntheticInstrument::from_spec(spec, setup.ref_prices[0])],
    };
    // 09:15 IST on 2026-11-20, one tick a millisecond.
    let ticks =
        dalal_adapters::generate_session(&synth, dalal_core::types::Timestamp(1_795_146_300_000_000_000), n, 1_000_000)
            .unwrap_or_default();
    (setup, ticks)
}

/// Ticks through the fused engine, published as fast as the ring takes them; every tick is
/// processed (the run waits until the engine has consumed them all), none is lost.
pub fn pipeline_throughput(n: usize, wait: WaitKind) -> (u64, f64) {
    let (setup, ticks) = session_workload(n);
    let clock = quanta::Clock::new();
    let engine = Engine::new(&setup, clock.clone(), 0);
    let cfg = PlacementConfig {
        placement: PlacementKind::Fused,
        wait,
        sleep: Duration::from_micros(20),
        cores: Vec::new(),
        ring_size: 1 << 16,
    };
    let mut running = Running::start(engine, &cfg, Null, Arc::new(LiveStats::new(1)));
    let t0 = Instant::now();
    for t in &ticks {
        running.publish(Input::Tick(*t), &clock);
    }
    running.wait_idle();
    let secs = t0.elapsed().as_secs_f64();
    let engine = running.stop().engine;
    (engine.candle.counters.ticks_in, secs)
}

pub fn backtest_throughput(n: usize) -> (u64, f64) {
    let (setup, ticks) = session_workload(n);
    let t0 = Instant::now();
    let (engine, _) = backtest::run(&setup, &ticks, 0);
    (engine.candle.counters.ticks_in, t0.elapsed().as_secs_f64())
}

/// Runs the whole lab. `quick` keeps it under a minute.
pub fn run(quick: bool, wait: WaitKind) -> (Machine, Vec<LabRow>) {
    let n = if quick { 20_000 } else { 200_000 };
    let gap = Duration::from_micros(10);
    let mut rows = vec![
        LabRow::latency("hop/disruptor", &hop_disruptor(n, gap, wait)),
        LabRow::latency("hop/crossbeam", &hop_crossbeam(n, gap, wait)),
        LabRow::latency("hop/std_mpsc", &hop_std_mpsc(n, gap, wait)),
        LabRow::latency("tick_to_order/fused", &tick_to_order(n, gap, PlacementKind::Fused, wait, 0)),
    ];
    // Four stage threads plus the publisher cannot all spin on a small machine.
    let piped_wait = if available_cores().len() >= 6 { wait } else { WaitKind::Sleep };
    rows.push(LabRow::latency(
        "tick_to_order/pipelined",
        &tick_to_order(n / 4, gap, PlacementKind::Pipelined, piped_wait, 0),
    ));
    let t = if quick { 1_000_000 } else { 5_000_000 };
    let (c, s) = pipeline_throughput(t, wait);
    rows.push(LabRow::throughput("throughput/pipeline", c, s));
    let (c, s) = backtest_throughput(t);
    rows.push(LabRow::throughput("throughput/backtest", c, s));
    (Machine::read(wait), rows)
}

/// The table printed to the terminal.
pub fn table(rows: &[LabRow]) -> String {
    let base = rows.iter().find(|r| r.name == "hop/disruptor").and_then(|r| r.p50_ns).unwrap_or(1).max(1);
    let mut s = format!(
        "{:<26} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>11} {:>8}\n",
        "name", "count", "p50", "p90", "p99", "p99.9", "p99.99", "max", "p50/hop"
    );
    for r in rows {
        match (r.p50_ns, r.ticks_per_s) {
            (Some(p50), _) => s.push_str(&format!(
                "{:<26} {:>9} {:>7}ns {:>7}ns {:>7}ns {:>7}ns {:>8}ns {:>9}ns {:>7.2}x\n",
                r.name,
                r.count,
                p50,
                r.p90_ns.unwrap_or(0),
                r.p99_ns.unwrap_or(0),
                r.p999_ns.unwrap_or(0),
                r.p9999_ns.unwrap_or(0),
                r.max_ns.unwrap_or(0),
                p50 as f64 / base as f64
            )),
            (None, Some(tps)) => s.push_str(&format!("{:<26} {:>9} {:>10.2}M ticks/s\n", r.name, r.count, tps / 1e6)),
            _ => {}
        }
    }
    s
}

/// Writes `bench.json` and `latency.svg` (percentiles on a log scale, one line per row).
pub fn write(dir: &Path, machine: &Machine, rows: &[LabRow]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::json!({ "machine": machine, "results": rows });
    let mut f = std::fs::File::create(dir.join("bench.json"))?;
    f.write_all(serde_json::to_string_pretty(&json).unwrap_or_default().as_bytes())?;
    f.write_all(b"\n")?;
    std::fs::write(dir.join("latency.svg"), svg(rows))
}

/// A percentile plot people can look at rather than read.
pub fn svg(rows: &[LabRow]) -> String {
    const W: f64 = 900.0;
    const H: f64 = 480.0;
    const L: f64 = 80.0;
    const R: f64 = 220.0;
    const T: f64 = 30.0;
    const B: f64 = 50.0;
    let pts = ["p50", "p90", "p99", "p99.9", "p99.99", "max"];
    let lat: Vec<&LabRow> = rows.iter().filter(|r| r.p50_ns.is_some()).collect();
    let vals = |r: &LabRow| {
        [r.p50_ns, r.p90_ns, r.p99_ns, r.p999_ns, r.p9999_ns, r.max_ns].map(|v| v.unwrap_or(1).max(1) as f64)
    };
    let lo = lat.iter().flat_map(|r| vals(r)).fold(f64::MAX, f64::min).max(1.0).log10().floor();
    let hi = lat.iter().flat_map(|r| vals(r)).fold(1.0f64, f64::max).log10().ceil().max(lo + 1.0);
    let x = |i: usize| L + (W - L - R) * i as f64 / (pts.len() - 1) as f64;
    let y = |v: f64| T + (H - T - B) * (1.0 - (v.log10() - lo) / (hi - lo));
    let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let mut e = lo as i32;
    while e as f64 <= hi {
        let v = 10f64.powi(e);
        let label = if v >= 1e6 {
            format!("{} ms", v / 1e6)
        } else if v >= 1e3 {
            format!("{} µs", v / 1e3)
        } else {
            format!("{v} ns")
        };
        s.push_str(&format!(
            "<line x1=\"{L}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>\n",
            W - R,
            L - 6.0,
            y(v) + 4.0,
            y = y(v)
        ));
        e += 1;
    }
    for (i, p) in pts.iter().enumerate() {
        s.push_str(&format!("<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{p}</text>\n", x(i), H - B + 20.0));
    }
    for (k, r) in lat.iter().enumerate() {
        let c = colors[k % colors.len()];
        let path: Vec<String> = vals(r).iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v))).collect();
        s.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>\n",
            path.join(" ")
        ));
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" fill=\"{c}\">{}</text>\n",
            W - R + 10.0,
            T + 16.0 * k as f64 + 10.0,
            r.name
        ));
    }
    s.push_str(&format!(
        "<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">latency percentiles (log scale)</text>\n</svg>\n",
        W / 2.0
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_has_the_documented_shape() {
        let mut h = LatencyHistogram::new();
        for v in 1..1000 {
            h.record(v * 100);
        }
        let rows = vec![LabRow::latency("hop/disruptor", &h), LabRow::throughput("throughput/backtest", 10, 0.5)];
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), &Machine::read(WaitKind::Sleep), &rows).expect("write");
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("bench.json")).expect("json")).expect("parse");
        for k in ["cpu", "cores", "pinning", "wait", "profile"] {
            assert!(!v["machine"][k].is_null(), "machine.{k}");
        }
        let r0 = &v["results"][0];
        for k in ["name", "count", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "p9999_ns", "max_ns"] {
            assert!(!r0[k].is_null(), "{k}");
        }
        assert_eq!(v["results"][1]["ticks_per_s"], 20.0);
        let svg = std::fs::read_to_string(dir.path().join("latency.svg")).expect("svg");
        assert!(svg.starts_with("<svg") && svg.contains("hop/disruptor") && svg.contains("polyline"));
        assert!(table(&rows).contains("hop/disruptor"));
    }
}
