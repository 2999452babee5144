//! Shared pieces of the latency lab: crafted inputs and the report format.

use dalal_core::config::Config;
use dalal_core::event::Tick;
use dalal_core::metrics::LatencyHistogram;
use dalal_core::setup::EngineSetup;
use dalal_core::types::{InstrumentId, Price, Qty, Timestamp};

/// One instrument, one EMA(1)/EMA(2) crossover on 1-second bars, no limits, and ticks one
/// second apart that zigzag: every tick closes a bar and flips the signal, so every tick
/// produces an order and every sample is a real tick-to-order path.
pub fn ticks_flipping(n: usize) -> (EngineSetup, Vec<Tick>) {
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
    let setup = toml::from_str::<Config>(cfg).ok().and_then(|c| c.validate().ok()).unwrap_or_else(|| unreachable!());
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
