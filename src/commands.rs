//! The one-shot commands: backtest, replay, gen and convert, and loading a configuration.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use dalal_adapters::{
    convert_bin_to_csv, convert_csv_to_bin, detect_format, file_symbols, load_any, write_ticks_csv, SymbolTable,
    SyntheticConfig, SyntheticInstrument, TickFileFormat,
};
use dalal_config::Config;
use dalal_core::engine::backtest::{self, Blotter};
use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::summary::RunSummary;
use dalal_core::engine::Engine;
use dalal_core::model::time::{NANOS_PER_DAY, NANOS_PER_SEC};
use dalal_core::model::{Date, IngressEvent, Tick, TickReject, Timestamp};
use dalal_persistence::journal::{read_journal, salvage_journal};

use crate::cli::{BacktestArgs, ConvertArgs, GenArgs, ReplayArgs};

/// Reads and validates a configuration with the built-in strategies: the file (or the
/// built-in defaults), then the environment's `DALAL_…__…` variables. Errors name the file and
/// the key, or the variable.
pub fn load_config(path: Option<&Path>) -> Result<(Config, EngineSetup)> {
    let loaded = dalal_config::load::load(path, std::env::vars())?;
    let origin = path.map_or_else(|| "(built-in defaults)".to_string(), |p| p.display().to_string());
    let setup = loaded.validate().map_err(|e| anyhow::anyhow!("config {origin}: {e}"))?;
    Ok((loaded.config, setup))
}

/// `dalal config show`: the effective configuration, secrets masked, and the variables that
/// set keys.
pub fn config_show(config: Option<&Path>, admin_listen: Option<String>, data_dir: Option<&Path>) -> Result<()> {
    let loaded = dalal_config::load::load(config, std::env::vars())?;
    let mut c = loaded.config.clone();
    loaded.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(a) = admin_listen.or_else(|| std::env::var("DALAL_ADMIN_LISTEN").ok()) {
        c.admin.listen = a;
    }
    if let Some(d) = data_dir {
        crate::runtime::relocate_store(&mut c, d);
    }
    match &loaded.file {
        Some(f) => println!("# from {}", f.display()),
        None => println!("# from the built-in defaults"),
    }
    for (var, key) in &loaded.overrides {
        println!("# {key} set by {var}");
    }
    print!("{}", dalal_config::load::show(&c).map_err(|e| anyhow::anyhow!("config: {e}"))?);
    Ok(())
}

pub fn backtest(args: BacktestArgs) -> Result<()> {
    let (mut config, mut setup) = load_config(args.config.as_deref())?;
    let t0 = Instant::now();
    let (loaded, seq, source) = match (&args.stored, &args.data) {
        (Some(tf), _) => {
            let input = crate::data::stored_ticks(
                &mut config,
                &mut setup,
                tf,
                args.from.as_deref(),
                args.to.as_deref(),
                args.data_dir.as_deref(),
            )?;
            let what = format!(
                "stored {tf} bars ({} series from the cache, {} from the store)",
                input.from_cache, input.from_store
            );
            (input.loaded, None, what)
        }
        (None, Some(data)) => {
            let symbols = SymbolTable::new(&setup.instruments).context("instrument table")?;
            let (loaded, seq) = load_any(data, &symbols).with_context(|| format!("loading {}", data.display()))?;
            if let Some(s) = seq.filter(|s| s.duplicates > 0 || s.gaps > 0) {
                tracing::warn!(duplicates = s.duplicates, gaps = s.gaps, "sequence problems in {}", data.display());
            }
            (loaded, seq, "file load".to_string())
        }
        (None, None) => bail!("give --data FILE (ticks) or --stored TIMEFRAME (bars from dalal data import)"),
    };
    let load_s = t0.elapsed().as_secs_f64();
    if let Some(grid) = &args.sweep {
        let train = args.train.as_deref().map(crate::sweep::parse_train).transpose()?;
        let req = crate::sweep::SweepRequest {
            grid,
            rank: &args.rank,
            train,
            threads: args.threads,
            risk_free: args.risk_free,
            out: &args.out,
        };
        let path = crate::sweep::run(&config, &loaded.ticks, &req)?;
        println!("wrote {}", path.display());
        return Ok(());
    }
    let t1 = Instant::now();
    let (mut engine, mut blotter): (Engine, Blotter) = backtest::start(&setup, 0);
    let t2 = Instant::now();
    backtest::replay(&mut engine, &mut blotter, &loaded.ticks, 0);
    let engine_s = t2.elapsed().as_secs_f64();
    let setup_s = t2.duration_since(t1).as_secs_f64();
    let mut summary = RunSummary::from_engine(&engine, &setup, false);
    summary.add_feed_rejects(loaded.rejects.iter());
    if let Some(s) = seq {
        summary.add_feed_rejects([(TickReject::DuplicateSequence, s.duplicates)]);
    }
    dalal_persistence::write_run_files(&args.out, &blotter, &summary, &setup)?;
    let perf = crate::performance::compute(&setup, &loaded.ticks, &blotter.fills, args.risk_free, &config.evaluation)?;
    let pages = perf.write(&args.out, &setup, &loaded.ticks)?;
    if args.save {
        let url = config.persistence.database_url.trim();
        if url.is_empty() {
            bail!("--save keeps reports in the SQL store, and [persistence] database_url is off (\"\")");
        }
        let label = args.label.clone().unwrap_or_else(|| {
            args.out.file_name().map_or_else(|| args.out.display().to_string(), |n| n.to_string_lossy().into_owned())
        });
        let ids = crate::performance::save_pages(url, &setup, &label, &pages)?;
        println!(
            "saved {} report pages as run {label:?} (ids {}..={})",
            ids.len(),
            ids.first().copied().unwrap_or(0),
            ids.last().copied().unwrap_or(0)
        );
    }
    print!("{}", dalal_admin::render_summary(&summary));
    print!("{}", crate::performance::render(&perf.total.metrics));
    println!(
        "weekly evaluation: {} of {} weeks passed (weekly.csv)",
        perf.total.weeks_passed(),
        perf.total.weeks.len()
    );
    let n = loaded.ticks.len() as f64;
    println!(
        "engine: {} ticks in {:.3}s = {:.2}M ticks/s (start-up {:.1} ms: clock calibration, stages) | {source}: {} records in {:.3}s = {:.2}M records/s",
        loaded.ticks.len(),
        engine_s,
        n / engine_s.max(1e-9) / 1e6,
        setup_s * 1e3,
        loaded.lines,
        load_s,
        loaded.lines as f64 / load_s.max(1e-9) / 1e6
    );
    println!(
        "wrote {}/orders.csv, fills.csv, summary.json, equity.csv, trades.csv, metrics.json, weekly.csv and accounts/",
        args.out.display()
    );
    Ok(())
}

pub fn convert(args: ConvertArgs) -> Result<()> {
    let symbols = file_symbols(&args.from)?;
    let t0 = Instant::now();
    let stats = match detect_format(&args.from)? {
        TickFileFormat::Csv => convert_csv_to_bin(&args.from, &args.to, &symbols)?,
        TickFileFormat::Binary => convert_bin_to_csv(&args.from, &args.to)?,
    };
    for s in &stats.samples {
        tracing::warn!("{s}");
    }
    println!(
        "converted {} → {}: {} read, {} written, {} refused{} in {:.2}s",
        args.from.display(),
        args.to.display(),
        stats.read,
        stats.written,
        stats.rejects.total(),
        if stats.duplicates > 0 { format!(", {} duplicate sequence numbers", stats.duplicates) } else { String::new() },
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Rebuilds a run from its journal alone and writes what a backtest writes.
pub fn replay(args: ReplayArgs) -> Result<()> {
    let (_config, setup) = load_config(args.config.as_deref())?;
    let context = || format!("reading journal {}", args.journal.display());
    let recovery = if args.salvage {
        let (recovery, damage) = salvage_journal(&args.journal).with_context(context)?;
        if let Some(d) = damage {
            println!("journal: {d}; salvaging the {} events before it", recovery.records.len());
        }
        recovery
    } else {
        read_journal(&args.journal, false).with_context(context)?
    };
    if recovery.records.is_empty() {
        bail!("journal {} holds no events", args.journal.display());
    }
    if let Some(t) = &recovery.truncated {
        println!("journal: ignoring a torn tail in {} at byte {} ({})", t.segment.display(), t.offset, t.reason);
    }
    let t0 = Instant::now();
    let mut engine = Engine::new(&setup, quanta::Clock::new(), 0);
    let mut blotter = Blotter::default();
    for r in &recovery.records {
        engine.step(&IngressEvent { input: r.input, ingress_raw: 0, source: r.source }, &mut |e| blotter.on_event(&e));
    }
    let summary = RunSummary::from_engine(&engine, &setup, false);
    dalal_persistence::write_run_files(&args.out, &blotter, &summary, &setup)?;
    print!("{}", dalal_admin::render_summary(&summary));
    println!(
        "replayed {} events (sequence 1..={}) in {:.2}s; wrote {}/orders.csv, fills.csv, summary.json",
        recovery.records.len(),
        recovery.last_seq(),
        t0.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

/// Midnight IST of a `YYYY-MM-DD` date, in ns since the epoch.
fn ist_midnight(date: &str) -> Result<i64> {
    let day = Date::parse(date).with_context(|| format!("--date {date:?}: expected a calendar date YYYY-MM-DD"))?;
    Ok(day.ist_midnight().0)
}

pub fn gen(args: GenArgs) -> Result<()> {
    let (_config, setup) = load_config(args.config.as_deref())?;
    let symbols = SymbolTable::new(&setup.instruments).context("instrument table")?;
    let wanted: Option<Vec<String>> =
        args.symbols.as_ref().map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let mut instruments = Vec::new();
    for (spec, p) in setup.instruments.iter().zip(&setup.ref_prices) {
        if wanted.as_ref().is_none_or(|w| w.contains(&spec.symbol)) {
            instruments.push(SyntheticInstrument::from_spec(spec, *p));
        }
    }
    if let Some(w) = &wanted {
        for s in w {
            if symbols.resolve(s).is_none() {
                bail!("--symbols: {s:?} is not in the config");
            }
        }
    }
    let first = ist_midnight(&args.date)?;
    let session_ns = setup.session.close.0 - setup.session.open.0;
    let spacing = (session_ns / args.ticks.max(1) as i64).max(1);
    let mut cfg = SyntheticConfig { seed: args.seed, instruments };
    let mut ticks: Vec<Tick> =
        dalal_adapters::generate_session(&cfg, Timestamp(first + setup.session.open.0), args.ticks, spacing)?;
    let mut midnight = first;
    for day in 1..args.days {
        // The next weekday; each session opens at the previous one's last price.
        midnight += NANOS_PER_DAY;
        while Timestamp(midnight).ist_weekday() >= 5 {
            midnight += NANOS_PER_DAY;
        }
        for inst in &mut cfg.instruments {
            if let Some(last) = ticks.iter().rev().find(|t| t.instrument == inst.id) {
                inst.start = last.price;
            }
        }
        cfg.seed = args.seed.wrapping_add(u64::from(day));
        let open = Timestamp(midnight + setup.session.open.0);
        ticks.extend(dalal_adapters::generate_session(&cfg, open, args.ticks, spacing)?);
    }
    write_ticks_csv(&args.out, &ticks, &symbols).with_context(|| format!("writing {}", args.out.display()))?;
    let sessions = if args.days > 1 { format!(", {} sessions", args.days) } else { String::new() };
    println!(
        "wrote {} ticks to {} ({} instruments, one every {:.3}s from {} 09:15 IST{sessions})",
        ticks.len(),
        args.out.display(),
        cfg.instruments.len(),
        spacing as f64 / NANOS_PER_SEC as f64,
        args.date
    );
    Ok(())
}
