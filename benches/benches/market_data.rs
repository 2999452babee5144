//! Market-data throughput: candles with indicators, binary and CSV tick replay, and the fused
//! engine in backtest mode, each against a memory-bandwidth floor measured in the same run
//! (a loop that only sums the same ticks' prices).
//!
//! `cargo bench -p dalal-benches --bench market_data [-- --quick] [--reps N] [--ticks N] [--json]`.
//! 10M ticks per row (1M with `--quick`), each row timed `--reps` times (3 by default) and
//! reported by its median. Ticks are synthetic (`generate_session`), on each instrument's
//! tick grid, spread evenly over one trading day's market hours (09:15–15:30 IST). `--json`
//! also writes the rows to `target/market_data.json` (`--json=PATH` to write elsewhere).
//!
//! Rows:
//! - `baseline/sum_prices`: the floor — read every tick in memory and add up its price.
//! - `candles+ind/...`: `CandleBuilder` with 1s, 1m and 5m time bars and five indicators
//!   (`sma:20,ema:20,rsi:14,macd:12:26:9,bbands:20:2`) per instrument and timeframe, each
//!   updated on every closed bar, plus `Indicator::on_tick` for every tick (15 calls per
//!   tick); on 1 and on 50 instruments.
//! - `replay/bin mmap`: `BinTickFile::open` + iterate `ticks()` over a page-cache-hot file,
//!   counting and checksumming. `replay/csv load_ticks`: the same ticks parsed from CSV.
//! - `backtest/ema_cross`: `backtest::run` with `config/backtest.toml` (one EMA 9/21
//!   crossover on 1m bars, one instrument) over the 1-instrument ticks.

use std::error::Error;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dalal_adapters::{
    generate_session, load_ticks, write_ticks_bin, write_ticks_csv, BinTickFile, SymbolTable, SyntheticConfig,
    SyntheticInstrument,
};
use dalal_benches::{print_throughput_header, print_throughput_row, throughput_json, ThroughputRow};
use dalal_config::Config;
use dalal_core::engine::setup::EngineSetup;
use dalal_core::indicators::{BarInput, Indicator, IndicatorSpec};
use dalal_core::model::Tick;
use dalal_core::model::{BarSpec, Candle, Timeframe};
// The NSE trading day's hours (open and close), as core calls them.
use dalal_core::model::{Session as MarketHours, Timestamp};
use dalal_core::stages::candle::{CandleBuilder, CandleOptions};

type Res<T> = Result<T, Box<dyn Error>>;

/// 2026-11-20 (a Friday) 09:15:00 IST.
const OPEN_NS: i64 = 1_795_146_300_000_000_000;
const INDICATORS: &str = "sma:20,ema:20,rsi:14,macd:12:26:9,bbands:20:2";
const TIMEFRAMES: [&str; 3] = ["1s", "1m", "5m"];
/// The configuration the README's backtest figure is measured with.
const BACKTEST_TOML: &str = include_str!("../../config/backtest.toml");

struct Args {
    ticks: usize,
    reps: usize,
    json: Option<PathBuf>,
}

fn args() -> Res<Args> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| -> Res<Option<usize>> {
        match argv.iter().position(|a| a == flag) {
            None => Ok(None),
            Some(i) => {
                let v = argv.get(i + 1).ok_or_else(|| format!("{flag} needs a number"))?;
                Ok(Some(v.replace('_', "").parse().map_err(|_| format!("{flag} {v:?}: not a number"))?))
            }
        }
    };
    let quick = argv.iter().any(|a| a == "--quick");
    let ticks = value("--ticks")?.unwrap_or(if quick { 1_000_000 } else { 10_000_000 }).max(1);
    let reps = value("--reps")?.unwrap_or(3).max(1);
    // The workspace's `target/`, wherever cargo runs the bench from.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let default_json = manifest.parent().unwrap_or(manifest).join("target/market_data.json");
    let json = argv.iter().find_map(|a| match a.strip_prefix("--json") {
        Some("") => Some(default_json.clone()),
        Some(rest) => rest.strip_prefix('=').map(PathBuf::from),
        None => None,
    });
    Ok(Args { ticks, reps, json })
}

/// `n` ticks evenly spaced over market hours, so every one falls inside them.
fn market_hours_ticks(cfg: &SyntheticConfig, hours: &MarketHours, n: usize) -> Res<Vec<Tick>> {
    let spacing = ((hours.close.0 - hours.open.0) / n.max(1) as i64).max(1);
    Ok(generate_session(cfg, Timestamp(OPEN_NS), n, spacing)?)
}

/// Wrapping sum of the prices: the checksum every reader of the same ticks must reproduce.
#[inline]
fn add_price(acc: u64, t: &Tick) -> u64 {
    acc.wrapping_add(t.price.0 as u64)
}

/// Runs `f` `reps` times, timing each run, and checks every run returns the same checksum.
fn measure(name: &str, ticks: usize, reps: usize, mut f: impl FnMut() -> Res<u64>) -> Res<(ThroughputRow, u64)> {
    let mut samples = Vec::with_capacity(reps);
    let mut check = None;
    for _ in 0..reps {
        let t = Instant::now();
        let c = black_box(f()?);
        samples.push(t.elapsed().as_secs_f64());
        if *check.get_or_insert(c) != c {
            return Err(format!("{name}: checksum changed between repetitions").into());
        }
    }
    Ok((ThroughputRow::from_samples(name, ticks as u64, samples), check.unwrap_or(0)))
}

/// Bars in three timeframes and five indicators per (instrument, timeframe).
struct CandleLab {
    builder: CandleBuilder,
    specs: Vec<BarSpec>,
    per_bar: usize,
    /// Indexed `((instrument × specs + spec) × per_bar + k)`.
    indicators: Vec<Indicator>,
    hours: MarketHours,
}

/// What the lab produced, folded so nothing is optimised away.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct LabOut {
    bars: u64,
    values: u64,
    sum: f64,
}

impl CandleLab {
    fn new(hours: MarketHours, instruments: usize, wanted: &[IndicatorSpec]) -> Res<CandleLab> {
        let mut tfs = Vec::new();
        for s in TIMEFRAMES {
            tfs.push(BarSpec::Time(Timeframe::parse(s).ok_or_else(|| format!("bad timeframe {s}"))?));
        }
        let builder = CandleBuilder::new(hours, &tfs, instruments, CandleOptions::default());
        let specs = builder.specs().to_vec();
        let indicators = (0..instruments * specs.len()).flat_map(|_| wanted.iter().map(IndicatorSpec::build)).collect();
        Ok(CandleLab { builder, specs, per_bar: wanted.len(), indicators, hours })
    }

    fn run(&mut self, ticks: &[Tick]) -> LabOut {
        let CandleLab { builder, specs, per_bar, indicators, hours } = self;
        let (per_bar, n_specs) = (*per_bar, specs.len());
        let mut out = LabOut::default();
        let mut scratch = [None; 3];
        for t in ticks {
            builder.on_tick(t, |c: &Candle| {
                let Some(s) = specs.iter().position(|s| *s == c.spec) else { return };
                let at = (c.instrument.index() * n_specs + s) * per_bar;
                let Some(inds) = indicators.get_mut(at..at + per_bar) else { return };
                let bar = BarInput::of(c);
                out.bars += 1;
                for ind in inds {
                    let k = ind.outputs();
                    ind.update(&bar, &mut scratch[..k]);
                    for v in scratch[..k].iter().flatten() {
                        out.values += 1;
                        out.sum += v;
                    }
                }
            });
            // Tick-fed indicators (VWAP from the open) see a trade after the bars it closed.
            let at = t.instrument.index() * n_specs * per_bar;
            if let Some(inds) = indicators.get_mut(at..at + n_specs * per_bar) {
                let (price, qty) = (t.price.as_f64(), t.qty.0 as f64);
                for ind in inds {
                    ind.on_tick(price, qty, t.ts, hours);
                }
            }
        }
        out
    }
}

fn candle_row(name: &str, ticks: &[Tick], instruments: usize, reps: usize) -> Res<(ThroughputRow, LabOut)> {
    let wanted = IndicatorSpec::parse_list(INDICATORS)?;
    let mut last = LabOut::default();
    let (row, _) = measure(name, ticks.len(), reps, || {
        // Building the lab allocates; it is cheap next to the run and a real stage does it too.
        let mut lab = CandleLab::new(MarketHours::NSE_NORMAL, instruments, &wanted)?;
        last = lab.run(black_box(ticks));
        Ok(last.bars ^ last.values ^ last.sum.to_bits())
    })?;
    Ok((row, last))
}

fn backtest_setup() -> Res<EngineSetup> {
    let cfg: Config = toml::from_str(BACKTEST_TOML)?;
    Ok(cfg.validate()?)
}

fn main() -> Res<()> {
    let Args { ticks: n, reps, json } = args()?;
    let hours = MarketHours::NSE_NORMAL;

    // One instrument: the backtest config's, so the candle row and the engine row read the
    // same ticks. Fifty instruments: the demo universe.
    let setup = backtest_setup()?;
    let (inst, start) = setup.instruments.first().zip(setup.ref_prices.first()).ok_or("backtest config is empty")?;
    let one_cfg = SyntheticConfig { seed: 7, instruments: vec![SyntheticInstrument::from_spec(inst, *start)] };
    let one = market_hours_ticks(&one_cfg, &setup.session, n)?;
    let (many_cfg, many_specs) = SyntheticConfig::demo(7, 50);
    let many = market_hours_ticks(&many_cfg, &hours, n)?;
    let many_symbols = SymbolTable::new(&many_specs)?;
    let expect_many = many.iter().fold(0, add_price);

    println!(
        "market_data bench: {n} ticks per row ({:.1} µs apart, one trading day), {reps} repetitions per row, median reported",
        (hours.close.0 - hours.open.0) as f64 / n as f64 / 1e3
    );
    let mut rows = Vec::new();

    let (base, _) =
        measure("baseline/sum_prices (in memory)", n, reps, || Ok(black_box(&one).iter().fold(0, add_price)))?;
    let (row, out1) = candle_row("candles+ind/1 instr 3 tf 5 ind", &one, 1, reps)?;
    rows.push(row);
    let (row, out50) = candle_row("candles+ind/50 instr 3 tf 5 ind", &many, 50, reps)?;
    rows.push(row);

    let dir = tempfile::tempdir()?;
    let bin_path = dir.path().join("ticks.bin");
    let csv_path = dir.path().join("ticks.csv");
    write_ticks_bin(&bin_path, &many, &many_symbols)?;
    write_ticks_csv(&csv_path, &many, &many_symbols)?;
    let (bin, bin_sum) = measure("replay/bin mmap open+iterate", n, reps, || {
        let file = BinTickFile::open(&bin_path)?;
        let (mut count, mut sum) = (0usize, 0u64);
        for t in file.ticks(&many_symbols).flatten() {
            count += 1;
            sum = add_price(sum, &t);
        }
        if count != n {
            return Err(format!("binary replay read {count} ticks, wrote {n}").into());
        }
        Ok(sum)
    })?;
    let (csv, csv_sum) = measure("replay/csv load_ticks", n, reps, || {
        let loaded = load_ticks(&csv_path, &many_symbols)?;
        if loaded.ticks.len() != n || loaded.lines != n as u64 {
            return Err(
                format!("CSV load read {} ticks of {} lines, wrote {n}", loaded.ticks.len(), loaded.lines).into()
            );
        }
        Ok(loaded.ticks.iter().fold(0, add_price))
    })?;
    if bin_sum != expect_many || csv_sum != expect_many {
        return Err("replayed prices differ from the ticks written".into());
    }
    let bin_csv = bin.ticks_per_sec() / csv.ticks_per_sec();
    let (bin_mb, csv_mb) = (std::fs::metadata(&bin_path)?.len(), std::fs::metadata(&csv_path)?.len());
    rows.push(bin);
    rows.push(csv);
    drop(dir);

    let mut fills = 0;
    let (row, _) = measure("backtest/ema_cross 1 instr fused", n, reps, || {
        let (_engine, blotter) = dalal_core::engine::backtest::run(&setup, black_box(&one), 0);
        fills = blotter.fills.len();
        Ok(blotter.orders.len() as u64 ^ ((blotter.fills.len() as u64) << 32))
    })?;
    rows.push(row);

    println!();
    print_throughput_header();
    print_throughput_row(&base, &base);
    for r in &rows {
        print_throughput_row(r, &base);
    }
    println!();
    println!(
        "candles: 1 instr {} bars, {} indicator values; 50 instr {} bars, {} values",
        out1.bars, out1.values, out50.bars, out50.values
    );
    println!(
        "replay: bin/CSV {bin_csv:.2}x faster; files {:.0} MB binary, {:.0} MB CSV; backtest fills {fills}",
        bin_mb as f64 / 1e6,
        csv_mb as f64 / 1e6
    );
    let target = |name: &str, want: f64| {
        if let Some(r) = rows.iter().find(|r| r.name.starts_with(name)) {
            let got = r.ticks_per_sec() / 1e6;
            let verdict = if got >= want { "met" } else { "NOT met" };
            println!("target {name} >= {want}M ticks/s: {got:.2}M, {verdict}");
        }
    };
    target("candles+ind/1 instr", 20.0);
    target("replay/bin", 50.0);

    if let Some(path) = json {
        let mut all = vec![base.clone()];
        all.extend(rows.iter().cloned());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, serde_json::to_string_pretty(&throughput_json("market_data", &all, &base))?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
