//! `dalal candles`: bars and indicators from a tick file, for people who check our numbers
//! against TA-Lib and their broker's charts. It accepts any symbol in the file, whether or not
//! a config knows it, and applies only the checks that need no instrument master (positive
//! price and quantity, time order per symbol).

use std::io::Write;

use anyhow::{bail, Context, Result};
use dalal_adapters::{file_symbols, load_any};
use dalal_core::indicators::{BarInput, Indicator, IndicatorSpec};
use dalal_core::model::Session;
use dalal_core::model::{BarSpec, Candle};
use dalal_core::stages::candle::{CandleBuilder, CandleOptions};

use crate::cli::CandlesArgs;

pub fn candles(args: CandlesArgs) -> Result<()> {
    let spec = BarSpec::parse(&args.timeframe)
        .with_context(|| format!("--timeframe {:?}: expected 1s … 1d, 500t or 10000v", args.timeframe))?;
    let indicators: Vec<IndicatorSpec> = match args.indicators.as_deref() {
        None | Some("") => Vec::new(),
        Some(s) => IndicatorSpec::parse_list(s).map_err(|e| anyhow::anyhow!("--indicators: {e}"))?,
    };
    let symbols = file_symbols(&args.data)?;
    if symbols.is_empty() {
        bail!("{}: no ticks", args.data.display());
    }
    let (loaded, _) = load_any(&args.data, &symbols).with_context(|| format!("loading {}", args.data.display()))?;
    for s in &loaded.samples {
        tracing::warn!("{s}");
    }
    let session = Session::NSE_NORMAL;
    let n = symbols.len();
    let mut builder = CandleBuilder::new(session, &[spec], n, CandleOptions::default());
    let mut state: Vec<Vec<Indicator>> = (0..n).map(|_| indicators.iter().map(|s| s.build()).collect()).collect();
    let width: usize = indicators.iter().map(|s| s.output_names().len()).sum();
    let mut last_ts = vec![i64::MIN; n];
    let mut late = 0u64;
    let mut rows: Vec<(Candle, Vec<Option<f64>>)> = Vec::new();
    let mut scratch = vec![None; width.max(1)];
    let mut on_bar = |c: &Candle, state: &mut Vec<Vec<Indicator>>, rows: &mut Vec<(Candle, Vec<Option<f64>>)>| {
        let bar = BarInput::of(c);
        let mut values = Vec::with_capacity(width);
        if let Some(inds) = state.get_mut(c.instrument.index()) {
            for ind in inds.iter_mut() {
                let k = ind.outputs();
                ind.update(&bar, &mut scratch[..k]);
                values.extend_from_slice(&scratch[..k]);
            }
        }
        rows.push((*c, values));
    };
    for t in &loaded.ticks {
        let i = t.instrument.index();
        if t.ts.0 < last_ts[i] {
            late += 1;
            continue;
        }
        last_ts[i] = t.ts.0;
        let mut closed = Vec::new();
        builder.on_tick(t, |c| closed.push(*c));
        for c in &closed {
            on_bar(c, &mut state, &mut rows);
        }
        // Indicators that read ticks (session VWAP) see this trade only after the bars it
        // closed have been valued.
        if let Some(inds) = state.get_mut(i) {
            for ind in inds.iter_mut() {
                ind.on_tick(t.price.as_f64(), t.qty.0 as f64, t.ts, &session);
            }
        }
    }
    let mut closed = Vec::new();
    builder.flush(|c| closed.push(*c));
    for c in &closed {
        on_bar(c, &mut state, &mut rows);
    }
    rows.sort_by(|a, b| (a.0.start, symbols.symbol(a.0.instrument)).cmp(&(b.0.start, symbols.symbol(b.0.instrument))));

    let file = std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let mut header = String::from("ts_ns,symbol,open,high,low,close,volume");
    for s in &indicators {
        for name in s.output_names() {
            header.push(',');
            header.push_str(&name);
        }
    }
    writeln!(w, "{header}")?;
    for (c, values) in &rows {
        write!(
            w,
            "{},{},{},{},{},{},{}",
            c.start,
            symbols.symbol(c.instrument),
            c.open,
            c.high,
            c.low,
            c.close,
            c.volume
        )?;
        for v in values {
            match v {
                // Display for f64 prints the shortest text that parses back to the same value.
                Some(x) if x.is_finite() => write!(w, ",{x}")?,
                _ => write!(w, ",")?,
            }
        }
        writeln!(w)?;
    }
    w.flush()?;
    println!(
        "wrote {} bars for {} symbols to {} ({} ticks, {} refused, {} out of order)",
        rows.len(),
        n,
        args.out.display(),
        loaded.ticks.len(),
        loaded.rejects.total(),
        late
    );
    Ok(())
}
