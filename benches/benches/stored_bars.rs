//! What reading stored bars costs a backtest, measured in one run: 250 sessions of minute bars
//! for five instruments (468,750 bars) read back from the columnar cache (the baseline) and
//! from the SQL store (SQLite in a temp directory, or `DALAL_BENCH_DATABASE_URL`), and the
//! one-off costs of importing them and writing the cache.
//!
//! `cargo bench -p dalal-benches --bench stored_bars [-- --quick] [-- --keep DIR]`: `--quick`
//! stores 20 sessions; `--keep DIR` leaves the store and cache as `dalal --data-dir DIR`
//! reads them (`DIR/dalal.db`, `DIR/candles/`), for timing `dalal backtest --stored 1m` with
//! `config/stored.toml`.

use std::hint::black_box;
use std::time::Instant;

use dalal_benches::{print_throughput_header, print_throughput_row, ThroughputRow};
use dalal_persistence::candle_cache::{BarColumns, CandleCache};
use dalal_persistence::store::{HistoryBar, Store};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const SYMBOLS: [(&str, i64); 5] =
    [("RELIANCE", 142_000), ("TCS", 400_000), ("HDFCBANK", 165_000), ("INFY", 150_000), ("ICICIBANK", 125_000)];
const MINUTE_NS: i64 = 60_000_000_000;
const DAY_NS: i64 = 86_400_000_000_000;
/// 2026-01-05 09:15 IST, a Monday.
const FIRST_OPEN_NS: i64 = 1_767_584_700_000_000_000;

/// `days` weekday sessions of 375 minute bars on a 5-paise grid, a seeded walk.
fn bars(symbol: &str, base: i64, days: usize, seed: u64) -> Vec<HistoryBar> {
    let mut s = seed;
    let mut next = |n: u64| {
        s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (s >> 33) % n
    };
    let mut close = base;
    let mut out = Vec::with_capacity(days * 375);
    let sessions = (0..).filter(|d: &i64| d % 7 < 5).take(days);
    for d in sessions {
        for k in 0..375 {
            let open = (close + (next(3) as i64 - 1) * 5).max(500);
            close = (open + (next(9) as i64 - 4) * 5).max(500);
            out.push(HistoryBar {
                symbol: symbol.into(),
                timeframe: "1m".into(),
                start_ns: FIRST_OPEN_NS + d * DAY_NS + k * MINUTE_NS,
                open,
                high: open.max(close) + next(4) as i64 * 5,
                low: open.min(close) - next(4) as i64 * 5,
                close,
                volume: 4 + next(5000) as i64,
                oi: None,
            });
        }
    }
    out
}

fn time<T>(reps: usize, mut f: impl FnMut() -> Res<T>) -> Res<Vec<f64>> {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            black_box(f()?);
            Ok(t.elapsed().as_secs_f64())
        })
        .collect()
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let days = if args.iter().any(|a| a == "--quick") { 20 } else { 250 };
    let keep = args.iter().position(|a| a == "--keep").and_then(|i| args.get(i + 1)).map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir()?;
    let dir = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let url = std::env::var("DALAL_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", dir.join("dalal.db").display()));
    let config: dalal_config::Config = toml::from_str(include_str!("../../config/stored.toml"))?;
    let setup = config.validate()?;
    let series: Vec<Vec<HistoryBar>> =
        SYMBOLS.iter().enumerate().map(|(i, (s, base))| bars(s, *base, days, 7 + i as u64)).collect();
    let total: u64 = series.iter().map(|s| s.len() as u64).sum();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let store = rt.block_on(Store::open(&url, &setup, Default::default()))?;
    let cache = CandleCache::new(dir.join("candles"));
    println!(
        "stored_bars bench: {days} sessions x 375 minute bars x {} instruments = {total} bars; store {}",
        SYMBOLS.len(),
        if url.starts_with("sqlite") { "SQLite (temp dir)" } else { "DALAL_BENCH_DATABASE_URL" }
    );

    let t = Instant::now();
    for s in &series {
        rt.block_on(store.import_history("bench", s, 1))?;
    }
    let import_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for s in &series {
        let imported = rt.block_on(store.history(&s[0].symbol, "1m", i64::MIN, i64::MAX))?;
        cache.write(&BarColumns::from_bars(&s[0].symbol, "1m", 1, &imported))?;
    }
    let cache_write_s = t.elapsed().as_secs_f64();
    println!(
        "one-off: import {:.2}s ({:.0}k bars/s), store read + cache write {:.2}s",
        import_s,
        total as f64 / import_s / 1e3,
        cache_write_s
    );

    let reps = 7;
    let cached = ThroughputRow::from_samples(
        "read/cache (baseline)",
        total,
        time(reps, || {
            let mut n = 0;
            for (s, _) in SYMBOLS {
                n += cache.read(s, "1m")?.map_or(0, |c| c.len());
            }
            Ok(n)
        })?,
    );
    let stored = ThroughputRow::from_samples(
        "read/store",
        total,
        time(reps, || {
            let mut n = 0;
            for (s, _) in SYMBOLS {
                n += rt.block_on(store.history(s, "1m", i64::MIN, i64::MAX))?.len();
            }
            Ok(n)
        })?,
    );
    println!("{reps} repetitions per row, median reported; 'ticks' are bars here");
    print_throughput_header();
    print_throughput_row(&cached, &cached);
    print_throughput_row(&stored, &cached);
    rt.block_on(store.close());
    if let Some(k) = keep {
        println!("kept: dalal backtest --config config/stored.toml --stored 1m --data-dir {} --out …", k.display());
    }
    Ok(())
}
