//! `dalal backtest --sweep`: one backtest per point of a parameter grid, run in parallel on
//! every core (`rayon`) with a progress bar (`indicatif`, drawn only on a terminal), ranked
//! into `sweep.csv`.
//!
//! A grid is `AXIS,AXIS,…`, each axis `KEY=LO..HI:STEP` (LO, LO+STEP, … up to HI inclusive),
//! `KEY=A|B|C` or `KEY=V`. `KEY` is a strategy parameter (`fast`, `period`, `qty`, …) and sets it
//! on every configured strategy whose entry sets it; `KIND.KEY` (`ema_cross.fast`) narrows it
//! to one strategy kind. A parameter the file writes as a whole number takes whole numbers.
//!
//! Points are taken in grid order (the last axis fastest) and every point's backtest is the
//! same pure function of the configuration and the data, so the same grid gives the same file
//! whatever the number of threads. A point the strategy refuses (e.g. `fast ≥ slow`) is kept
//! with its reason in `error` and ranked last.
//!
//! With `--train P%` the trading days are split: the first P % are in-sample, the rest
//! out-of-sample; each point runs on both separately, each from flat, and `sweep.csv` shows
//! `is_…` and `oos_…` side by side, ranked by the in-sample figure, so a choice that only fits
//! its sample shows as a collapse out of it.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use dalal_analytics::Metrics;
use dalal_config::Config;
use dalal_core::engine::backtest;
use dalal_core::model::{Date, Tick};
use rayon::prelude::*;

use crate::performance;

/// Most points one sweep may hold.
const MAX_POINTS: usize = 100_000;

/// The metrics written for every point, in this order.
const COLUMNS: &[&str] = &[
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "trades",
    "win_rate",
    "profit_factor",
    "expectancy",
    "charges",
];

/// Metrics where less is better; every other one ranks highest first.
const LOWER_IS_BETTER: &[&str] = &["annual_volatility", "max_drawdown_days", "charges", "turnover"];

/// One axis of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// As written (`fast`, `ema_cross.fast`): the column's name.
    pub name: String,
    pub kind: Option<String>,
    pub key: String,
    pub values: Vec<f64>,
}

fn number(axis: &str, s: &str) -> Result<f64> {
    let v: f64 = s.trim().parse().with_context(|| format!("--sweep {axis}: {s:?} is not a number"))?;
    if !v.is_finite() {
        bail!("--sweep {axis}: {s:?} is not a finite number");
    }
    Ok(v)
}

/// Parses `AXIS,AXIS,…`.
pub fn parse_grid(spec: &str) -> Result<Vec<Axis>> {
    let mut axes: Vec<Axis> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, values)) = part.split_once('=') else {
            bail!("--sweep {part:?}: expected KEY=LO..HI:STEP, KEY=A|B|C or KEY=V");
        };
        let name = name.trim();
        let (kind, key) = match name.split_once('.') {
            Some((k, p)) => (Some(k.to_string()), p.to_string()),
            None => (None, name.to_string()),
        };
        if key.is_empty() || kind.as_deref() == Some("") {
            bail!("--sweep {part:?}: no parameter name");
        }
        if axes.iter().any(|a| a.name == name) {
            bail!("--sweep: {name} is given twice");
        }
        let values = if let Some((range, step)) = values.split_once(':') {
            let Some((lo, hi)) = range.split_once("..") else {
                bail!("--sweep {name}: expected LO..HI:STEP, got {values:?}");
            };
            let (lo, hi, step) = (number(name, lo)?, number(name, hi)?, number(name, step)?);
            if step <= 0.0 {
                bail!("--sweep {name}: the step must be above 0");
            }
            if hi < lo {
                bail!("--sweep {name}: {hi} is below {lo}");
            }
            // Inclusive of HI despite the rounding of repeated additions.
            let n = ((hi - lo) / step + 1e-9).floor() as usize + 1;
            if n > MAX_POINTS {
                bail!("--sweep {name}: {n} values, more than {MAX_POINTS}");
            }
            (0..n).map(|i| lo + step * i as f64).collect()
        } else {
            values.split('|').map(|v| number(name, v)).collect::<Result<Vec<f64>>>()?
        };
        axes.push(Axis { name: name.to_string(), kind, key, values });
    }
    if axes.is_empty() {
        bail!("--sweep: no axis (e.g. \"fast=5..20:5,slow=20..60:10\")");
    }
    let points = axes.iter().try_fold(1usize, |n, a| n.checked_mul(a.values.len()).filter(|n| *n <= MAX_POINTS));
    if points.is_none() {
        bail!("--sweep: more than {MAX_POINTS} points");
    }
    Ok(axes)
}

/// Every point of the grid as indices into the axes' values, the last axis fastest.
fn points(axes: &[Axis]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for a in axes {
        out = out.into_iter().flat_map(|p| (0..a.values.len()).map(move |i| [p.clone(), vec![i]].concat())).collect();
    }
    out
}

/// Whether strategy entries of `config` take `axis`; an axis nothing takes is refused.
fn check_axis(config: &Config, axis: &Axis) -> Result<()> {
    let mut found = false;
    for s in config.accounts.iter().flat_map(|a| &a.strategies) {
        if axis.kind.as_deref().is_some_and(|k| k != s.kind) {
            continue;
        }
        let whole = match (axis.key.as_str(), s.params.get(&axis.key)) {
            ("qty", _) | (_, Some(toml::Value::Integer(_))) => true,
            (_, Some(toml::Value::Float(_))) => false,
            (_, Some(other)) => bail!("--sweep {}: {} is {other}, not a number", axis.name, axis.key),
            (_, None) => continue,
        };
        found = true;
        if whole && axis.values.iter().any(|v| v.fract() != 0.0) {
            bail!("--sweep {}: {} takes whole numbers", axis.name, axis.key);
        }
    }
    if !found {
        bail!("--sweep {}: no strategy in the configuration sets {}", axis.name, axis.key);
    }
    Ok(())
}

/// `config` with one point's values set.
fn apply(config: &Config, axes: &[Axis], point: &[usize]) -> Config {
    let mut c = config.clone();
    for (axis, &i) in axes.iter().zip(point) {
        let v = axis.values[i];
        for s in c.accounts.iter_mut().flat_map(|a| a.strategies.iter_mut()) {
            if axis.kind.as_deref().is_some_and(|k| k != s.kind) {
                continue;
            }
            if axis.key == "qty" {
                s.qty = v as u64;
                continue;
            }
            match s.params.get_mut(&axis.key) {
                Some(x @ toml::Value::Integer(_)) => *x = toml::Value::Integer(v as i64),
                Some(x @ toml::Value::Float(_)) => *x = toml::Value::Float(v),
                _ => {}
            }
        }
    }
    c
}

/// A metric by its `metrics.json` key in `m` (metrics serialised once): NaN when undefined
/// or absent.
fn metric(m: &serde_json::Value, key: &str) -> f64 {
    m.get(key).and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN)
}

/// Keys `--rank` accepts: every number `metrics.json` holds.
fn rankable() -> Vec<String> {
    let m = Metrics::compute(3, &[0.01, -0.01, 0.02], Some(&[0.0, 0.01, 0.0]), 0.0);
    let mut keys: Vec<String> = match serde_json::to_value(m) {
        Ok(serde_json::Value::Object(o)) => o.keys().cloned().collect(),
        _ => Vec::new(),
    };
    keys.extend(COLUMNS.iter().map(|c| c.to_string()));
    keys.push("weeks_passed".into());
    keys.sort();
    keys.dedup();
    keys.retain(|k| k != "risk_free" && k != "start_equity");
    keys
}

/// What one backtest of a point gave.
#[derive(Clone, Debug)]
struct Outcome {
    values: Vec<f64>,
    weeks_passed: usize,
    weeks: usize,
}

impl Outcome {
    fn get(&self, key: &str, extra: &Option<(String, f64)>) -> f64 {
        if key == "weeks_passed" {
            return self.weeks_passed as f64;
        }
        match COLUMNS.iter().position(|c| *c == key) {
            Some(i) => self.values[i],
            None => extra.as_ref().map_or(f64::NAN, |(_, v)| *v),
        }
    }
}

/// A point's outcomes: in-sample (or the whole data) and, with `--train`, out-of-sample.
#[derive(Clone, Debug)]
struct Sampled {
    is: Outcome,
    oos: Option<Outcome>,
    /// The ranking metric in-sample, when it is not one of [`COLUMNS`].
    extra: Option<(String, f64)>,
}

/// One point and what it gave, or why the strategy refused it.
#[derive(Clone, Debug)]
struct Row {
    point: Vec<usize>,
    result: Result<Sampled, String>,
}

fn backtest_once(config: &Config, ticks: &[Tick], risk_free: f64, rank: &str) -> Result<(Outcome, f64), String> {
    let setup = config.validate().map_err(|e| e.to_string())?;
    let (_engine, blotter) = backtest::run(&setup, ticks, 0);
    let perf = performance::compute(&setup, ticks, &blotter.fills, risk_free, &config.evaluation)
        .map_err(|e| format!("{e:#}"))?;
    let m = serde_json::to_value(perf.total.metrics).map_err(|e| e.to_string())?;
    let values = COLUMNS.iter().map(|c| metric(&m, c)).collect();
    let o = Outcome { values, weeks_passed: perf.total.weeks_passed(), weeks: perf.total.weeks.len() };
    Ok((o, metric(&m, rank)))
}

/// The index of the first tick of the out-of-sample part: the first `pct` % of the trading
/// days (IST days with ticks) are in-sample, at least one day on each side.
fn split_at(ticks: &[Tick], pct: f64) -> Result<usize> {
    let day = |t: &Tick| Date::of_ist(t.ts).map(Date::days_since_epoch);
    let mut days: Vec<i64> = ticks.iter().filter_map(day).collect();
    days.sort_unstable();
    days.dedup();
    if days.len() < 2 {
        bail!("--train needs at least two trading days in the data, found {}", days.len());
    }
    let train = ((days.len() as f64 * pct / 100.0).round() as usize).clamp(1, days.len() - 1);
    let first_test_day = days[train];
    ticks.iter().position(|t| day(t).is_some_and(|d| d >= first_test_day)).context("no out-of-sample tick")
}

/// Parses `70%` (or `70`) into a percentage strictly between 0 and 100.
pub fn parse_train(s: &str) -> Result<f64> {
    let v: f64 = s.trim().trim_end_matches('%').parse().with_context(|| format!("--train {s:?}: expected e.g. 70%"))?;
    if !(v > 0.0 && v < 100.0) {
        bail!("--train {s:?}: expected a share of the days strictly between 0% and 100%");
    }
    Ok(v)
}

/// What `dalal backtest --sweep` was asked.
pub struct SweepRequest<'a> {
    pub grid: &'a str,
    pub rank: &'a str,
    pub train: Option<f64>,
    pub threads: Option<usize>,
    pub risk_free: f64,
    pub out: &'a Path,
}

/// Runs the sweep over `ticks` and writes `sweep.csv`; returns its path.
pub fn run(config: &Config, ticks: &[Tick], req: &SweepRequest<'_>) -> Result<std::path::PathBuf> {
    let axes = parse_grid(req.grid)?;
    for a in &axes {
        check_axis(config, a)?;
    }
    let keys = rankable();
    if !keys.iter().any(|k| k == req.rank) {
        bail!("--rank {}: expected one of {}", req.rank, keys.join(", "));
    }
    let (train, test) = match req.train {
        Some(pct) => {
            let at = split_at(ticks, pct)?;
            (&ticks[..at], Some(&ticks[at..]))
        }
        None => (ticks, None),
    };
    let grid = points(&axes);
    let threads = req.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().context("thread pool")?;
    let bar = indicatif::ProgressBar::new(grid.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} points, {per_sec}, ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let t0 = Instant::now();
    let rows: Vec<Row> = pool.install(|| {
        grid.par_iter()
            .map(|point| {
                let c = apply(config, &axes, point);
                let result = backtest_once(&c, train, req.risk_free, req.rank).and_then(|(is, rank_value)| {
                    let oos = match test {
                        Some(t) => Some(backtest_once(&c, t, req.risk_free, req.rank)?.0),
                        None => None,
                    };
                    let extra = (!COLUMNS.contains(&req.rank) && req.rank != "weeks_passed")
                        .then(|| (req.rank.to_string(), rank_value));
                    Ok(Sampled { is, oos, extra })
                });
                bar.inc(1);
                Row { point: point.clone(), result }
            })
            .collect()
    });
    bar.finish_and_clear();
    let elapsed = t0.elapsed();

    let mut order: Vec<usize> = (0..rows.len()).collect();
    let lower = LOWER_IS_BETTER.contains(&req.rank);
    let key = |r: &Row| -> Option<f64> {
        let r = r.result.as_ref().ok()?;
        Some(r.is.get(req.rank, &r.extra)).filter(|v| !v.is_nan())
    };
    // Best first, undefined and refused points last, ties in grid order (a stable sort).
    order.sort_by(|&a, &b| match (key(&rows[a]), key(&rows[b])) {
        (Some(x), Some(y)) if lower => x.total_cmp(&y),
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let csv = sweep_csv(&axes, &rows, &order, req);
    std::fs::create_dir_all(req.out).with_context(|| format!("cannot create {}", req.out.display()))?;
    let path = req.out.join("sweep.csv");
    std::fs::write(&path, &csv).with_context(|| format!("cannot write {}", path.display()))?;
    let mut lines = csv.lines();
    let header = lines.next().unwrap_or_default();
    println!("{header}");
    for l in lines.take(5) {
        println!("{l}");
    }
    let secs = elapsed.as_secs_f64();
    println!(
        "sweep: {} points{} in {secs:.2}s on {threads} threads ({:.1} points/s); ranked by {}{}",
        rows.len(),
        if test.is_some() { " (in- and out-of-sample)" } else { "" },
        rows.len() as f64 / secs.max(1e-9),
        if test.is_some() { "is_" } else { "" },
        req.rank
    );
    Ok(path)
}

/// A figure: shortest text that reads back exactly; empty when undefined.
fn cell(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

fn sweep_csv(axes: &[Axis], rows: &[Row], order: &[usize], req: &SweepRequest<'_>) -> String {
    let mut cols: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
    cols.push("weeks_passed".into());
    cols.push("weeks".into());
    if !cols.iter().any(|c| c == req.rank) {
        cols.push(req.rank.to_string());
    }
    let mut header = vec!["rank".to_string()];
    header.extend(axes.iter().map(|a| a.name.clone()));
    let prefixes: &[&str] = if req.train.is_some() { &["is_", "oos_"] } else { &[""] };
    for p in prefixes {
        header.extend(cols.iter().map(|c| format!("{p}{c}")));
    }
    header.push("error".into());
    let mut s = header.join(",");
    s.push('\n');
    for (rank, &i) in order.iter().enumerate() {
        let row = &rows[i];
        let mut cells = vec![(rank + 1).to_string()];
        cells.extend(axes.iter().zip(&row.point).map(|(a, &k)| cell(a.values[k])));
        match &row.result {
            Ok(Sampled { is, oos, extra }) => {
                let samples = std::iter::once(Some(is)).chain(req.train.map(|_| oos.as_ref()));
                for (n, o) in samples.enumerate() {
                    // The ranking metric outside the usual columns is kept in-sample only.
                    let extra = if n == 0 { extra } else { &None };
                    for c in &cols {
                        cells.push(match (o, c.as_str()) {
                            (None, _) => String::new(),
                            (Some(o), "weeks") => o.weeks.to_string(),
                            (Some(o), "weeks_passed") => o.weeks_passed.to_string(),
                            (Some(o), c) => cell(o.get(c, extra)),
                        });
                    }
                }
                cells.push(String::new());
            }
            Err(e) => {
                cells.extend(std::iter::repeat_n(String::new(), cols.len() * prefixes.len()));
                cells.push(format!("\"{}\"", e.replace('"', "'")));
            }
        }
        let _ = writeln!(s, "{}", cells.join(","));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_parse_and_expand_in_order() {
        let axes = parse_grid("fast=5..20:5, slow=20..60:10").unwrap();
        assert_eq!(axes[0].values, [5.0, 10.0, 15.0, 20.0]);
        assert_eq!(axes[1].values, [20.0, 30.0, 40.0, 50.0, 60.0]);
        let p = points(&axes);
        assert_eq!(p.len(), 20);
        assert_eq!((p[0].clone(), p[1].clone(), p[5].clone()), (vec![0, 0], vec![0, 1], vec![1, 0]));
        // Rounding of repeated steps keeps the end.
        assert_eq!(parse_grid("band=0.1..0.3:0.1").unwrap()[0].values.len(), 3);
        let a = parse_grid("ema_cross.fast=3|5|8,qty=50").unwrap();
        assert_eq!(
            (a[0].kind.as_deref(), a[0].key.as_str(), a[0].values.clone()),
            (Some("ema_cross"), "fast", vec![3.0, 5.0, 8.0])
        );
        assert_eq!(a[1].values, [50.0]);
        for bad in ["", "fast", "fast=20..5:5", "fast=1..5:0", "fast=a..5:1", "fast=1,fast=2", "=3", "fast=1..nan:1"] {
            assert!(parse_grid(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(parse_grid("a=1..1000:1,b=1..1000:1").is_err(), "a million points");
    }

    #[test]
    fn train_shares_are_percentages() {
        assert_eq!(parse_train("70%").unwrap(), 70.0);
        assert_eq!(parse_train("25").unwrap(), 25.0);
        for bad in ["0%", "100%", "-5", "x", "150%"] {
            assert!(parse_train(bad).is_err(), "{bad}");
        }
    }
}
