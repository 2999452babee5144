//! `dalal data`: bars kept for backtests. `import` takes daily bars from NSE bhavcopy files
//! ([`bhavcopy`]) or daily and minute bars from a broker's historical endpoint (Kite, through
//! the same fetch as `dalal broker history`) into the SQL store's `history_candles` and its
//! columnar file cache ([`dalal_persistence::candle_cache`]); `list` shows what is stored; and
//! [`stored_ticks`] turns stored bars into the trades a backtest runs on.
//!
//! # Bar-level simulation: the fill assumptions
//!
//! A backtest on stored bars runs the same engine as on ticks; each bar becomes four trades
//! (`history::bar_ticks`): the open at the bar's start, then the extreme nearer the open, the
//! other extreme, and the close, at a quarter, a half and three quarters of the bar, its
//! volume split between them. So:
//! - a strategy sees a bar once the next bar's first trade arrives, and a MARKET order it sends
//!   then fills at that next bar's open (plus the configured slippage): no trading at a close
//!   the strategy has only just seen;
//! - a LIMIT order fills when a later trade goes through its price (or touches it, as
//!   `[paper] limit_fill` says), at most the quantity of that quarter of the bar's volume;
//!   a stop triggers when a trade crosses it; a price the bar's range did not reach never
//!   fills, and within a bar the assumed path (open, nearer extreme, farther extreme, close)
//!   decides which of a stop and a target is hit first;
//! - event-time delays (`[paper] ack_delay_ms`, `fill_delay_ms`) are measured against those
//!   trades' times, so with day bars a delay of more than a few minutes moves a fill to the
//!   next quarter of the day: keep them at their milliseconds;
//! - day bars carry no intraday times: MIS square-off and DAY expiry act on the next trade
//!   after their time, which is the next session's open.

mod bhavcopy;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Context, Result};
use dalal_adapters::LoadedTicks;
use dalal_config::Config;
use dalal_core::engine::setup::EngineSetup;
use dalal_core::model::time::{IST_OFFSET_NS, NANOS_PER_DAY, NANOS_PER_SEC};
use dalal_core::model::{BarSpec, Date, Price, Session, Tick, Timeframe, Timestamp};
use dalal_persistence::candle_cache::{BarColumns, CandleCache};
use dalal_persistence::store::{HistoryBar, HistorySeries, Store};

use crate::cli::{DataCommand, DataImport, DataStoreArgs};
use crate::history::{bar_ticks, format_local, window, Bar};

pub fn run(c: DataCommand) -> Result<()> {
    match c {
        DataCommand::Import(DataImport::Bhavcopy { files, series, symbols, store }) => {
            import_bhavcopy(&files, &series, &symbols, &store)
        }
        DataCommand::Import(DataImport::Kite(args)) => {
            let target = Target::open(args.query.config.as_deref(), args.data_dir.as_deref())?;
            let fetched = crate::history::fetch(&args.query)?;
            let bars: Vec<HistoryBar> = fetched
                .bars
                .iter()
                .filter_map(|b| {
                    let symbol = fetched.instruments.get(b.symbol as usize)?.0.clone();
                    Some(history_bar(symbol, fetched.timeframe, b))
                })
                .collect();
            println!(
                "fetched {} bars of {} instrument(s) from Kite ({}, {} to {}, {} request(s))",
                bars.len(),
                fetched.instruments.len(),
                fetched.interval,
                fetched.from,
                fetched.to,
                fetched.requests
            );
            target.import("kite", &bars)
        }
        DataCommand::List { store, json } => list(&store, json),
    }
}

/// The store and cache a command works on.
struct Target {
    setup: EngineSetup,
    url: String,
    cache: Option<CandleCache>,
}

impl Target {
    fn open(config: Option<&Path>, data_dir: Option<&Path>) -> Result<Target> {
        let (config, setup) = crate::commands::load_config(config)?;
        Target::new(config, setup, data_dir)
    }

    /// The store and cache `config` names, moved under `data_dir` when given.
    fn new(mut config: Config, setup: EngineSetup, data_dir: Option<&Path>) -> Result<Target> {
        if let Some(d) = data_dir {
            crate::runtime::relocate_store(&mut config, d);
        }
        let url = config.persistence.database_url.trim().to_string();
        if url.is_empty() {
            bail!("stored bars live in the SQL store, and [persistence] database_url is off (\"\")");
        }
        let dir = config.persistence.candle_cache.trim();
        let cache = (!dir.is_empty()).then(|| CandleCache::new(dir));
        Ok(Target { setup, url, cache })
    }

    fn redacted(&self) -> String {
        dalal_config::load::redact_url(&self.url)
    }

    fn with_store<T>(&self, f: impl AsyncFnOnce(&Store) -> Result<T>) -> Result<T> {
        let rt = crate::broker::runtime()?;
        rt.block_on(async {
            let store = Store::open(&self.url, &self.setup, Default::default())
                .await
                .with_context(|| format!("opening the store {}", self.redacted()))?;
            let out = f(&store).await;
            store.close().await;
            out
        })
    }

    /// Stores `bars`, then rewrites the cache files of every series they touched from what the
    /// store now holds (the store stays the record; the cache is its copy).
    fn import(&self, source: &str, bars: &[HistoryBar]) -> Result<()> {
        if bars.is_empty() {
            bail!("nothing to store: no bar survived the checks");
        }
        let imported_ns = Timestamp::now().0;
        let touched: BTreeSet<(String, String)> =
            bars.iter().map(|b| (b.symbol.clone(), b.timeframe.clone())).collect();
        let (written, cached) = self.with_store(async |store| {
            let written = store.import_history(source, bars, imported_ns).await.context("storing the bars")?;
            let mut cached = 0;
            if let Some(cache) = &self.cache {
                let series = store.history_series().await.context("reading what is stored")?;
                for (symbol, timeframe) in &touched {
                    refresh(store, cache, &series, symbol, timeframe).await?;
                    cached += 1;
                }
            }
            Ok((written, cached))
        })?;
        let symbols: BTreeSet<&str> = touched.iter().map(|(s, _)| s.as_str()).collect();
        let timeframes: BTreeSet<&str> = touched.iter().map(|(_, t)| t.as_str()).collect();
        println!(
            "stored {written} bar(s) of {} symbol(s) at {} from {source} in {}",
            symbols.len(),
            timeframes.into_iter().collect::<Vec<_>>().join(", "),
            self.redacted()
        );
        match &self.cache {
            Some(c) => println!("cache: {cached} series file(s) under {}", c.dir().display()),
            None => println!("cache: off ([persistence] candle_cache = \"\")"),
        }
        Ok(())
    }
}

/// The count and latest import of one symbol's bars at one timeframe, over all sources.
fn totals(series: &[HistorySeries], symbol: &str, timeframe: &str) -> Option<(i64, i64)> {
    series.iter().filter(|s| s.symbol == symbol && s.timeframe == timeframe).fold(None, |acc, s| {
        let (n, t) = acc.unwrap_or((0, i64::MIN));
        Some((n + s.bars, t.max(s.imported_ns)))
    })
}

/// Rewrites one series' cache file from the store; returns the series.
async fn refresh(
    store: &Store,
    cache: &CandleCache,
    series: &[HistorySeries],
    symbol: &str,
    timeframe: &str,
) -> Result<BarColumns> {
    let bars = store.history(symbol, timeframe, i64::MIN, i64::MAX).await.context("reading stored bars")?;
    let imported = totals(series, symbol, timeframe).map_or(0, |(_, t)| t);
    let columns = BarColumns::from_bars(symbol, timeframe, imported, &bars);
    cache.write(&columns).with_context(|| format!("caching {symbol} {timeframe}"))?;
    Ok(columns)
}

/// A fetched bar as the store keeps it; its start on the session grid (Kite stamps a day bar
/// at midnight, the session begins at the open).
fn history_bar(symbol: String, timeframe: Timeframe, b: &Bar) -> HistoryBar {
    HistoryBar {
        symbol,
        timeframe: timeframe.to_string(),
        start_ns: window(b.ts, timeframe, &Session::NSE_NORMAL).0,
        open: b.open.0,
        high: b.high.0,
        low: b.low.0,
        close: b.close.0,
        volume: i64::try_from(b.volume).unwrap_or(i64::MAX),
        oi: b.oi,
    }
}

/// The session open of `date`, where its day bar starts.
fn session_open(date: Date) -> i64 {
    window(date.ist_midnight().0, Timeframe::SESSION, &Session::NSE_NORMAL).0
}

fn import_bhavcopy(
    files: &[std::path::PathBuf],
    series: &[String],
    symbols: &[String],
    store: &DataStoreArgs,
) -> Result<()> {
    let target = Target::open(store.config.as_deref(), store.data_dir.as_deref())?;
    let series: Vec<String> = series.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    let symbols: Vec<String> = symbols.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    let mut bars = Vec::new();
    let mut days = BTreeSet::new();
    for path in files {
        let parsed = bhavcopy::read(path, &series, &symbols).with_context(|| format!("{}", path.display()))?;
        let skipped: u64 = parsed.skipped.values().map(|(n, _, _)| n).sum();
        println!(
            "{}: {:?} layout, {} row(s), kept {}, skipped {skipped}",
            path.display(),
            parsed.layout,
            parsed.rows,
            parsed.bars.len()
        );
        for (why, (n, line, text)) in &parsed.skipped {
            println!("  {n} {}, first at line {line}: {text}", why.as_str());
        }
        // A day file of which nothing survives is the wrong file or the wrong --series; with
        // --symbol, a day on which none of them traded is an ordinary day.
        if parsed.bars.is_empty() && symbols.is_empty() {
            bail!("{}: no row kept (series {:?}); nothing was stored", path.display(), series);
        }
        for b in parsed.bars {
            days.insert(b.date);
            bars.push(HistoryBar {
                start_ns: session_open(b.date),
                symbol: b.symbol,
                timeframe: Timeframe::SESSION.to_string(),
                open: b.open.0,
                high: b.high.0,
                low: b.low.0,
                close: b.close.0,
                volume: i64::try_from(b.volume).unwrap_or(i64::MAX),
                oi: None,
            });
        }
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        println!("{} trading day(s), {first} to {last}", days.len());
    }
    target.import("nse-bhavcopy", &bars)
}

/// A stored bar's start as IST text: the date alone for a day bar.
fn start_text(ns: i64, timeframe: &str) -> String {
    let text = format_local((ns + IST_OFFSET_NS).div_euclid(NANOS_PER_SEC));
    if timeframe == "1d" {
        text.get(..10).unwrap_or(&text).to_string()
    } else {
        text.get(..16).unwrap_or(&text).to_string()
    }
}

fn list(args: &DataStoreArgs, json: bool) -> Result<()> {
    let target = Target::open(args.config.as_deref(), args.data_dir.as_deref())?;
    let series = target.with_store(async |store| Ok(store.history_series().await.context("reading the store")?))?;
    let cache_state = |s: &HistorySeries| -> String {
        let Some(cache) = &target.cache else { return "off".into() };
        match cache.read(&s.symbol, &s.timeframe) {
            Ok(Some(c)) if Some((c.len() as i64, c.imported_ns)) == totals(&series, &s.symbol, &s.timeframe) => {
                "yes".into()
            }
            Ok(Some(_)) => "stale".into(),
            Ok(None) => "no".into(),
            Err(_) => "damaged".into(),
        }
    };
    if json {
        let rows: Vec<serde_json::Value> = series
            .iter()
            .map(|s| {
                serde_json::json!({
                    "symbol": s.symbol,
                    "timeframe": s.timeframe,
                    "source": s.source,
                    "bars": s.bars,
                    "first": start_text(s.first_ns, &s.timeframe),
                    "last": start_text(s.last_ns, &s.timeframe),
                    "first_ns": s.first_ns,
                    "last_ns": s.last_ns,
                    "imported_ns": s.imported_ns,
                    "cached": cache_state(s),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    if series.is_empty() {
        println!("no stored bars in {} (dalal data import bhavcopy|kite …)", target.redacted());
        return Ok(());
    }
    println!(
        "{:<14} {:<9} {:<13} {:>8}  {:<16}  {:<16}  cached",
        "symbol", "timeframe", "source", "bars", "first", "last"
    );
    for s in &series {
        println!(
            "{:<14} {:<9} {:<13} {:>8}  {:<16}  {:<16}  {}",
            s.symbol,
            s.timeframe,
            s.source,
            s.bars,
            start_text(s.first_ns, &s.timeframe),
            start_text(s.last_ns, &s.timeframe),
            cache_state(s)
        );
    }
    let bars: i64 = series.iter().map(|s| s.bars).sum();
    let symbols: BTreeSet<&str> = series.iter().map(|s| s.symbol.as_str()).collect();
    println!("{bars} bar(s) of {} symbol(s) in {}", symbols.len(), target.redacted());
    Ok(())
}

/// Where a backtest's bars came from, for its closing line.
pub struct StoredInput {
    /// The trades, with `lines` the bars they came from.
    pub loaded: LoadedTicks,
    /// Series read from the cache and from the store.
    pub from_cache: usize,
    pub from_store: usize,
}

/// Refuses strategies whose bars cannot be made of whole stored bars: a strategy's time bars
/// must be the stored timeframe or a multiple of it on the session grid (any intraday bars
/// make day bars); tick and volume bars need trades that bars do not have.
fn check_timeframes(setup: &EngineSetup, stored: Timeframe) -> Result<()> {
    for s in &setup.strategies {
        let ok = match s.timeframe {
            BarSpec::Time(t) if t == Timeframe::SESSION => true,
            BarSpec::Time(t) => stored != Timeframe::SESSION && t.0 % stored.0 == 0,
            BarSpec::Ticks(_) | BarSpec::Volume(_) => false,
        };
        if !ok {
            let account = setup.accounts.get(s.account.index()).map_or("?", |a| a.name.as_str());
            let symbol = setup.instruments.get(s.instrument.index()).map_or("?", |i| i.symbol.as_str());
            bail!(
                "account {account}'s strategy on {symbol} reads {} bars, which cannot be built from stored {stored} \
                 bars: give it timeframe = \"{stored}\" (or a multiple of it), or store finer bars",
                s.timeframe
            );
        }
    }
    Ok(())
}

fn day_bound(s: Option<&str>, flag: &str, end: bool) -> Result<i64> {
    let Some(s) = s else { return Ok(if end { i64::MAX } else { i64::MIN }) };
    let d = Date::parse(s.trim()).with_context(|| format!("{flag} {s:?}: expected a date YYYY-MM-DD"))?;
    let midnight = d.ist_midnight().0;
    Ok(if end { midnight + NANOS_PER_DAY - 1 } else { midnight })
}

/// The trades a backtest on stored bars runs on: the config's instruments' bars at `timeframe`
/// between `from` and `to` (days, IST), each bar as four trades, in time order and, at one
/// instant, by symbol. Each series is read from the cache when the cache agrees with the
/// store (bar count and latest import), else from the store, and the cache is rewritten.
pub fn stored_ticks(
    config: &mut Config,
    setup: &mut EngineSetup,
    timeframe: &str,
    from: Option<&str>,
    to: Option<&str>,
    data_dir: Option<&Path>,
) -> Result<StoredInput> {
    let tf = Timeframe::parse(timeframe).with_context(|| format!("--stored {timeframe:?}: expected 1m … 1h or 1d"))?;
    check_timeframes(setup, tf)?;
    if tf == Timeframe::SESSION {
        if !setup.after_hours_amo {
            // In the config too: a sweep builds each point's setup from it.
            config.risk.after_hours_amo = true;
            setup.after_hours_amo = true;
            eprintln!(
                "day bars close with the session: orders decided on them go as after-market orders for the next \
                 session's open ([risk] after_hours_amo)"
            );
        }
        if let Some(t) = setup.mis_square_off {
            eprintln!(
                "day bars have no intraday trades: the MIS square-off at {t} acts at the next session's open; set \
                 [risk] mis_square_off = \"\" to hold positions from day to day"
            );
        }
    }
    let (from_ns, to_ns) = (day_bound(from, "--from", false)?, day_bound(to, "--to", true)?);
    if from_ns > to_ns {
        bail!("--from is after --to");
    }
    let target = Target::new(config.clone(), setup.clone(), data_dir)?;
    let name = tf.to_string();
    let (columns, from_cache, from_store) = target.with_store(async |store| {
        let series = store.history_series().await.context("reading what is stored")?;
        let (mut out, mut hits, mut misses) = (Vec::new(), 0, 0);
        for spec in &setup.instruments {
            let Some(want) = totals(&series, &spec.symbol, &name) else {
                eprintln!("{}: no stored {name} bars (dalal data list shows what is stored)", spec.symbol);
                continue;
            };
            let cached = match &target.cache {
                Some(cache) => match cache.read(&spec.symbol, &name) {
                    Ok(Some(c)) if (c.len() as i64, c.imported_ns) == want => Some(c),
                    Ok(_) => None,
                    Err(e) => {
                        tracing::warn!("{e}");
                        None
                    }
                },
                None => None,
            };
            let columns = match (cached, &target.cache) {
                (Some(c), _) => {
                    hits += 1;
                    c
                }
                (None, Some(cache)) => {
                    misses += 1;
                    refresh(store, cache, &series, &spec.symbol, &name).await?
                }
                (None, None) => {
                    misses += 1;
                    let bars =
                        store.history(&spec.symbol, &name, from_ns, to_ns).await.context("reading stored bars")?;
                    BarColumns::from_bars(&spec.symbol, &name, want.1, &bars)
                }
            };
            out.push((spec.id, columns));
        }
        Ok((out, hits, misses))
    })?;
    let session = setup.session;
    let mut ticks: Vec<Tick> = Vec::new();
    let mut bars = 0u64;
    let mut skipped = BTreeMap::<&str, u64>::new();
    for (id, c) in &columns {
        for i in c.range(from_ns, to_ns) {
            let prices = [c.open[i], c.high[i], c.low[i], c.close[i]];
            if prices.iter().any(|&p| p <= 0) || c.volume[i] < 0 {
                *skipped.entry(c.symbol.as_str()).or_default() += 1;
                continue;
            }
            let bar = Bar {
                ts: c.start_ns[i],
                time: String::new(),
                symbol: id.0,
                open: Price(prices[0]),
                high: Price(prices[1]),
                low: Price(prices[2]),
                close: Price(prices[3]),
                volume: c.volume[i] as u64,
                oi: c.oi[i],
            };
            ticks.extend(bar_ticks(&bar, tf, &session));
            bars += 1;
        }
    }
    for (symbol, n) in skipped {
        eprintln!("{symbol}: skipped {n} stored bar(s) with a price not positive or a negative volume");
    }
    if ticks.is_empty() {
        bail!("no stored {name} bars of the config's instruments in that range (dalal data list shows what is stored)");
    }
    // In time order and, at one instant, by symbol name (as `dalal broker history` writes
    // them): each instrument's rank among the names, so the sort compares two integers.
    let mut names: Vec<(&str, usize)> = setup.instruments.iter().map(|s| (s.symbol.as_str(), s.id.index())).collect();
    names.sort();
    let mut rank = vec![0u32; setup.instruments.len()];
    for (r, (_, id)) in names.iter().enumerate() {
        if let Some(x) = rank.get_mut(*id) {
            *x = r as u32;
        }
    }
    ticks.sort_by_key(|t| (t.ts, rank.get(t.instrument.index()).copied().unwrap_or(u32::MAX)));
    Ok(StoredInput { loaded: LoadedTicks { ticks, lines: bars, ..Default::default() }, from_cache, from_store })
}
