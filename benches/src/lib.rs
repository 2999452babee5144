//! Shared pieces of the latency lab: crafted inputs and the report format.

pub mod alloc;
pub mod lab;
pub mod scale;
pub mod wire;

use dalal_config::Config;
use dalal_core::engine::setup::EngineSetup;
use dalal_core::metrics::LatencyHistogram;
use dalal_core::model::Tick;
use dalal_core::model::{InstrumentId, Price, Qty, Timestamp};

/// One instrument, one EMA(1)/EMA(2) crossover on 1-second bars, no limits, and ticks one
/// second apart that zigzag: every tick closes a bar and flips the signal, so every tick
/// produces an order and every sample is a real tick-to-order path.
pub fn ticks_flipping(n: usize) -> (EngineSetup, Vec<Tick>) {
    flipping(n, "")
}

/// [`ticks_flipping`] with the account trading on a live venue (venue 0, the exchange
/// simulator of the wire-to-wire measurement) instead of the paper exchange.
pub fn ticks_flipping_live(n: usize) -> (EngineSetup, Vec<Tick>) {
    flipping(n, "venue = \"sim\"\n[[venues]]\nname = \"sim\"\nkind = \"wire\"\naddress = \"127.0.0.1:1\"\n")
}

fn flipping(n: usize, venue: &str) -> (EngineSetup, Vec<Tick>) {
    let cfg = r#"
        [engine]
        timeframes = []
        [risk]
        enforce_session = false
        mis_square_off = ""
        [[instruments]]
        symbol = "RELIANCE"
        tick_size = 0.10
        lot_size = 1
        ref_price = 1420.00
        band_pct = 0
        [[accounts]]
        name = "bench"
        VENUE
        [accounts.limits]
        max_orders_per_sec = 0
        duplicate_window_ms = 0
        fat_finger_pct = 0
        [[accounts.strategies]]
        kind = "ema_cross"
        instrument = "RELIANCE"
        timeframe = "1s"
        fast = 1
        slow = 2
        qty = 1
        allow_short = true
    "#;
    // The venue table goes after the account's keys and before its sub-tables.
    let (account, rest) = cfg.split_once("VENUE").unwrap_or((cfg, ""));
    let (venue_key, venue_table) = venue.split_once("\n").unwrap_or(("", ""));
    let cfg = format!("{account}{venue_key}{rest}{venue_table}");
    let setup = toml::from_str::<Config>(&cfg).ok().and_then(|c| c.validate().ok()).unwrap_or_else(|| unreachable!());
    let open = 1_795_146_300_000_000_000i64;
    let ticks = (0..n)
        .map(|i| Tick {
            instrument: InstrumentId(0),
            ts: Timestamp(open + i as i64 * 1_000_000_000),
            price: Price(142_000 + if i % 2 == 0 { 0 } else { 100 }),
            qty: Qty(1),
        })
        .collect();
    (setup, ticks)
}

/// One line of a latency report.
#[derive(Clone, Debug)]
pub struct Row {
    pub name: String,
    pub count: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
}

pub fn row_for(name: &str, h: &LatencyHistogram) -> Row {
    let p = h.percentiles();
    Row { name: name.into(), count: p.count, p50_ns: p.p50_ns, p99_ns: p.p99_ns, p999_ns: p.p999_ns, max_ns: p.max_ns }
}

pub fn print_row(r: &Row, baseline_p50: u64) {
    println!(
        "{:<34} {:>9} {:>8}ns {:>8}ns {:>8}ns {:>9}ns {:>8.2}x",
        r.name,
        r.count,
        r.p50_ns,
        r.p99_ns,
        r.p999_ns,
        r.max_ns,
        r.p50_ns as f64 / baseline_p50 as f64
    );
}

/// One line of a throughput report: `ticks` processed in `seconds` (the median of `samples`,
/// one per repetition).
#[derive(Clone, Debug)]
pub struct ThroughputRow {
    pub name: String,
    pub ticks: u64,
    pub seconds: f64,
    /// Seconds of every repetition, in run order.
    pub samples: Vec<f64>,
}

impl ThroughputRow {
    /// A row from the repetitions' timings; `seconds` is their median.
    pub fn from_samples(name: &str, ticks: u64, samples: Vec<f64>) -> ThroughputRow {
        ThroughputRow { name: name.into(), ticks, seconds: median(&samples), samples }
    }

    pub fn ticks_per_sec(&self) -> f64 {
        self.ticks as f64 / self.seconds.max(1e-12)
    }

    /// Cost per tick relative to `base` (2.0 = twice the baseline's time per tick).
    pub fn cost_vs(&self, base: &ThroughputRow) -> f64 {
        base.ticks_per_sec() / self.ticks_per_sec().max(1e-12)
    }
}

/// Median of `xs` (the mean of the middle two for an even count; 0 for none).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub fn print_throughput_header() {
    println!(
        "{:<34} {:>10} {:>9} {:>10} {:>9} {:>17}",
        "name", "ticks", "seconds", "M ticks/s", "x base", "M ticks/s min-max"
    );
}

/// Prints `r` with its time per tick as a multiple of `base`'s.
pub fn print_throughput_row(r: &ThroughputRow, base: &ThroughputRow) {
    let rates = r.samples.iter().map(|s| r.ticks as f64 / s.max(1e-12) / 1e6);
    let (lo, hi) = rates.fold((f64::INFINITY, 0.0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
    println!(
        "{:<34} {:>10} {:>9.4} {:>10.2} {:>8.2}x {:>8.2}-{:<8.2}",
        r.name,
        r.ticks,
        r.seconds,
        r.ticks_per_sec() / 1e6,
        r.cost_vs(base),
        lo,
        hi
    );
}

/// The rows as JSON: name, ticks, median seconds, ticks/s, cost relative to `base`, and
/// every repetition's seconds.
pub fn throughput_json(bench: &str, rows: &[ThroughputRow], base: &ThroughputRow) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "ticks": r.ticks,
                "seconds": r.seconds,
                "ticks_per_sec": r.ticks_per_sec(),
                "cost_vs_baseline": r.cost_vs(base),
                "samples_seconds": r.samples,
            })
        })
        .collect();
    serde_json::json!({ "bench": bench, "baseline": base.name, "rows": rows })
}
