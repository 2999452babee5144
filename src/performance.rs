//! Performance files of a backtest and `dalal report`.
//!
//! A backtest writes, beside orders.csv, fills.csv and summary.json:
//!
//! ```text
//! DIR/equity.csv                 the whole run: every account's equity summed
//! DIR/trades.csv                 every account's round trips
//! DIR/metrics.json               the whole run's metrics
//! DIR/weekly.csv                 the weekly evaluation ([evaluation] rules)
//! DIR/accounts/NAME/equity.csv   one account (NAME as configured; characters other than
//! DIR/accounts/NAME/trades.csv   letters, digits, `-`, `_` and `.` become `_`)
//! DIR/accounts/NAME/metrics.json
//! DIR/accounts/NAME/weekly.csv
//! ```
//!
//! With `[evaluation] benchmark` naming an instrument, its buy-and-hold over the same data is
//! the benchmark: bought at its first price in the data, valued at each day's last price (the
//! previous one on a day it did not trade), so its first return, like the curve's, covers day
//! one.
//!
//! A trading day is an IST calendar day with at least one tick in the data. Equity on it is
//! the starting equity plus cash flows of the fills up to that day (net of charges) plus
//! open positions at each instrument's last price in the data that day (or earlier): marked
//! to market at the session close. The starting equity is the account's `funds`; with funds
//! 0 (not checked) it is the largest gross value the account's open positions reached, each
//! instrument at its latest fill price, i.e. the capital its trading needed; with no trade at
//! all it is ₹1,00,000 (a flat curve, whose returns do not depend on it). The whole run
//! starts from the sum of the accounts' starting equities. The first day's return is
//! measured from the starting equity, so day one's trading counts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use dalal_analytics::weekly::{self, DayRecord, TradeRecord, Week, WeeklyRules};
use dalal_analytics::{
    returns, round_trips, trade_metrics, DailySeries, Direction, EquityBook, Execution, Metrics, RoundTrip,
    TradeMetrics,
};
use dalal_config::EvaluationSection;
use dalal_core::engine::setup::EngineSetup;
use dalal_core::model::time::{NANOS_PER_DAY, NANOS_PER_SEC};
use dalal_core::model::{Date, Fill, Money, Price, Product, Tick, Timestamp};

use crate::cli::ReportArgs;

/// Starting equity of an account that never traded and has no funds, paise (₹1,00,000).
const DEFAULT_START: i128 = 100_000 * 100;

/// IST calendar day of `ts`, as days since 1970-01-01.
fn ist_day(ts: Timestamp) -> Option<i64> {
    Date::of_ist(ts).map(Date::days_since_epoch)
}

fn execution(f: &Fill) -> Execution {
    Execution {
        account: f.account.index(),
        instrument: f.instrument.index(),
        product: f.product.index(),
        sign: if f.side.sign() > 0 { 1 } else { -1 },
        qty: f.qty.0,
        price: f.price.0,
        charges: f.charges.0,
        ts: f.ts.0,
    }
}

fn money(paise: i128) -> Money {
    Money(paise.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

fn rupees(paise: i128) -> f64 {
    paise as f64 / 100.0
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in IST.
fn ist_time(ts: i64) -> String {
    let t = Timestamp(ts);
    let Some(date) = Date::of_ist(t) else { return ts.to_string() };
    let ns = t.ist_time_of_day();
    let s = ns / NANOS_PER_SEC;
    let ms = (ns % NANOS_PER_SEC) / 1_000_000;
    format!("{date} {:02}:{:02}:{:02}.{ms:03}", s / 3600, s / 60 % 60, s % 60)
}

/// A directory name for an account: its name with anything outside `[A-Za-z0-9._-]`
/// replaced by `_` (and never `.` or `..`).
fn dir_name(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        format!("_{s}")
    } else {
        s
    }
}

/// One equity curve with what its metrics need.
struct Curve {
    start: i128,
    /// Equity at each day's close, paise.
    equity: Vec<i128>,
}

impl Curve {
    /// Daily simple returns, the first from the starting equity.
    fn returns(&self) -> Vec<f64> {
        let values: Vec<f64> = std::iter::once(self.start).chain(self.equity.iter().copied()).map(rupees).collect();
        returns::simple_returns(&values)
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn equity_csv(dates: &[Date], equity: &[i128]) -> String {
    let mut s = String::from("date,equity\n");
    for (d, e) in dates.iter().zip(equity) {
        let _ = writeln!(s, "{d},{}", money(*e));
    }
    s
}

fn trades_csv(trips: &[RoundTrip], setup: &EngineSetup) -> String {
    let mut s = String::from(
        "account,symbol,product,side,qty,entry_time,entry_ns,entry_price,exit_time,exit_ns,exit_price,gross_pnl,charges,net_pnl,holding_s\n",
    );
    for t in trips {
        let account = setup.accounts.get(t.account).map(|a| a.name.as_str()).unwrap_or("?");
        let symbol = setup.instruments.get(t.instrument).map(|i| i.symbol.as_str()).unwrap_or("?");
        let product = Product::ALL.get(t.product).map(|p| p.as_str()).unwrap_or("?");
        let held = t.holding_ns();
        let _ = writeln!(
            s,
            "{account},{symbol},{product},{},{},{},{},{},{},{},{},{},{},{},{}.{:03}",
            t.direction.as_str(),
            t.qty,
            ist_time(t.entry_ts),
            t.entry_ts,
            Price(t.entry_price),
            ist_time(t.exit_ts),
            t.exit_ts,
            Price(t.exit_price),
            Money(t.gross_pnl),
            Money(t.charges),
            Money(t.net_pnl()),
            held / NANOS_PER_SEC,
            (held % NANOS_PER_SEC) / 1_000_000
        );
    }
    s
}

fn metrics_json(m: &Metrics) -> Result<String> {
    let mut s = serde_json::to_string_pretty(m).context("encoding metrics")?;
    s.push('\n');
    Ok(s)
}

/// The metrics of one curve with its trade statistics.
fn curve_metrics(dates: usize, curve: &Curve, trades: TradeMetrics, bench: Option<&[f64]>, risk_free: f64) -> Metrics {
    let mut m = Metrics::compute(dates, &curve.returns(), bench, risk_free);
    m.start_equity = Some(rupees(curve.start));
    m.trades = Some(trades);
    m
}

/// The rules of the weekly evaluation, from the validated `[evaluation]` section.
fn weekly_rules(e: &EvaluationSection) -> WeeklyRules {
    let judged = |x: f64, off: f64| (x != off).then_some(x);
    WeeklyRules {
        min_sharpe: judged(e.min_weekly_sharpe, f64::NEG_INFINITY),
        max_drawdown: judged(e.max_weekly_drawdown, 1.0),
        max_charges_share: judged(e.max_charges_share, f64::INFINITY),
    }
}

/// A CSV cell for a figure: empty when undefined (NaN, ±∞).
fn cell(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        String::new()
    }
}

fn weekly_csv(weeks: &[Week]) -> String {
    let mut s = String::from(
        "week_start,days,return,sharpe,max_drawdown,trades,win_rate,charges,gross_pnl,charges_share,verdict,reasons\n",
    );
    for w in weeks {
        let start = Date::from_days(w.start_day).map(|d| d.to_string()).unwrap_or_default();
        let reasons = w.failures.join("; ").replace('"', "'");
        let _ = writeln!(
            s,
            "{start},{},{},{},{},{},{},{:.2},{:.2},{},{},\"{reasons}\"",
            w.days,
            cell(w.ret, 8),
            cell(w.sharpe, 4),
            cell(w.max_drawdown, 8),
            w.trades,
            cell(w.win_rate, 4),
            w.charges,
            w.gross_pnl,
            cell(w.charges_share, 4),
            if w.passed() { "pass" } else { "fail" },
        );
    }
    s
}

/// One curve's performance: an account's, or the whole run's.
pub struct CurvePerformance {
    curve: Curve,
    trips: Vec<RoundTrip>,
    pub metrics: Metrics,
    pub weeks: Vec<Week>,
}

impl CurvePerformance {
    pub fn weeks_passed(&self) -> usize {
        self.weeks.iter().filter(|w| w.passed()).count()
    }

    /// Its five files (and the report's charts) in `dir`; returns the page and its metrics.json.
    fn write(
        &self,
        dir: &Path,
        title: &str,
        run: &Performance,
        setup: &EngineSetup,
        ticks: &[Tick],
    ) -> Result<(String, String)> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        write(&dir.join("equity.csv"), &equity_csv(&run.dates, &self.curve.equity))?;
        write(&dir.join("trades.csv"), &trades_csv(&self.trips, setup))?;
        let metrics = metrics_json(&self.metrics)?;
        write(&dir.join("metrics.json"), &metrics)?;
        write(&dir.join("weekly.csv"), &weekly_csv(&self.weeks))?;
        let equity: Vec<f64> = self.curve.equity.iter().map(|e| rupees(*e)).collect();
        let benchmark = run.bench.as_ref().map(|(sym, r)| {
            let mut v = rupees(self.curve.start);
            (
                format!("{sym} buy and hold"),
                r.iter()
                    .map(|x| {
                        v *= 1.0 + x;
                        v
                    })
                    .collect(),
            )
        });
        let (first, last) = (run.dates.first(), run.dates.last());
        let subtitle = match (first, last) {
            (Some(a), Some(b)) => format!(
                "{a} to {b}, {} trading days; starting equity ₹{:.2}; {} round trips",
                run.dates.len(),
                rupees(self.curve.start),
                self.trips.len()
            ),
            _ => "no trading days in the data".to_string(),
        };
        let report = crate::report::Report {
            title: title.to_string(),
            subtitle,
            dates: &run.dates,
            equity: &equity,
            benchmark,
            returns: &self.curve.returns(),
            risk_free: run.risk_free,
            metrics: &self.metrics,
            weeks: Some(&self.weeks),
            trades: trade_chart(&self.trips, setup, ticks, run.dates.first()),
        };
        let (_, html) = crate::report::write(dir, &report)?;
        Ok((html, metrics))
    }
}

/// Round trips shown on one price chart at most (spread evenly over the run beyond that).
const MAX_MARKS: usize = 1500;
/// Price points drawn at most (each the last price of its stretch of ticks).
const MAX_PRICE_POINTS: usize = 1500;

/// The price chart of the instrument with the most round trips, marked with them.
fn trade_chart(
    trips: &[RoundTrip],
    setup: &EngineSetup,
    ticks: &[Tick],
    first: Option<&Date>,
) -> Option<crate::report::TradeChart> {
    let first = first?;
    let mut counts = vec![0usize; setup.instruments.len()];
    for t in trips {
        if let Some(c) = counts.get_mut(t.instrument) {
            *c += 1;
        }
    }
    let (instrument, _) =
        counts.iter().enumerate().filter(|(_, c)| **c > 0).max_by_key(|(i, c)| (**c, usize::MAX - i))?;
    let origin = first.ist_midnight().0;
    let x = |ts: i64| (ts - origin) as f64 / NANOS_PER_DAY as f64;
    let mine: Vec<(f64, f64)> = ticks
        .iter()
        .filter(|t| t.instrument.index() == instrument && t.price.is_positive())
        .map(|t| (x(t.ts.0), t.price.0 as f64 / 100.0))
        .collect();
    let step = mine.len().div_ceil(MAX_PRICE_POINTS).max(1);
    let prices: Vec<(f64, f64)> = mine.chunks(step).filter_map(|c| c.last().copied()).collect();
    let of_instrument: Vec<&RoundTrip> = trips.iter().filter(|t| t.instrument == instrument).collect();
    let every = of_instrument.len().div_ceil(MAX_MARKS).max(1);
    let marks = of_instrument
        .iter()
        .step_by(every)
        .map(|t| crate::report::Mark {
            entry_x: x(t.entry_ts),
            entry_price: t.entry_price as f64 / 100.0,
            exit_x: x(t.exit_ts),
            exit_price: t.exit_price as f64 / 100.0,
            long: t.direction == Direction::Long,
        })
        .collect();
    Some(crate::report::TradeChart {
        symbol: setup.instruments[instrument].symbol.clone(),
        prices,
        marks,
        total: of_instrument.len(),
        origin_day: first.days_since_epoch(),
    })
}

/// A backtest's performance: every account's and the whole run's.
pub struct Performance {
    dates: Vec<Date>,
    /// The benchmark instrument and its daily returns, when `[evaluation] benchmark` names one.
    bench: Option<(String, Vec<f64>)>,
    risk_free: f64,
    /// Each account's directory name and performance, in setup order.
    accounts: Vec<(String, CurvePerformance)>,
    pub total: CurvePerformance,
}

impl Performance {
    /// The whole run's files in `dir`, each account's under `dir/accounts/NAME/`; `ticks` are
    /// the data the run traded (the reports' price charts). Returns the pages written.
    pub fn write(&self, dir: &Path, setup: &EngineSetup, ticks: &[Tick]) -> Result<Vec<WrittenPage>> {
        let mut pages = Vec::new();
        for ((name, p), acct) in self.accounts.iter().zip(&setup.accounts) {
            let title = format!("Backtest: account {}", acct.name);
            let (html, metrics) = p.write(&dir.join("accounts").join(name), &title, self, setup, ticks)?;
            pages.push(WrittenPage { account: Some(acct.name.clone()), title, html, metrics });
        }
        let title = "Backtest: the whole run".to_string();
        let (html, metrics) = self.total.write(dir, &title, self, setup, ticks)?;
        pages.push(WrittenPage { account: None, title, html, metrics });
        Ok(pages)
    }
}

/// A report page a backtest wrote, with its metrics.json.
pub struct WrittenPage {
    /// The account it is about; `None` for the whole run.
    pub account: Option<String>,
    pub title: String,
    pub html: String,
    pub metrics: String,
}

/// Keeps the pages of a backtest in the SQL store at `url`, for the console; returns their ids.
pub fn save_pages(url: &str, setup: &EngineSetup, label: &str, pages: &[WrittenPage]) -> Result<Vec<i64>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("runtime")?;
    let all: Vec<String> = setup.accounts.iter().map(|a| a.name.clone()).collect();
    let created_ns = Timestamp::now().0;
    rt.block_on(async {
        let store = dalal_persistence::store::Store::open(url, setup, Default::default())
            .await
            .with_context(|| format!("opening the store {}", dalal_config::load::redact_url(url)))?;
        let mut ids = Vec::with_capacity(pages.len());
        for p in pages {
            let page = dalal_persistence::store::NewReport {
                created_ns,
                run_label: label.to_string(),
                account: p.account.clone(),
                accounts: p.account.clone().map_or_else(|| all.clone(), |a| vec![a]),
                title: p.title.clone(),
                metrics: p.metrics.clone(),
                html: p.html.clone(),
            };
            ids.push(store.save_report(&page).await.context("saving a report")?);
        }
        store.close().await;
        Ok(ids)
    })
}

/// The weekly evaluation of one curve: its days with their charges, and its round trips.
fn weeks_of(
    dates: &[Date],
    curve: &Curve,
    charges: &[i128],
    trips: &[RoundTrip],
    rf: f64,
    rules: &WeeklyRules,
) -> Vec<Week> {
    let rets = curve.returns();
    let mut prev = curve.start;
    let days: Vec<DayRecord> = dates
        .iter()
        .zip(&curve.equity)
        .zip(rets.iter().zip(charges))
        .map(|((d, e), (r, c))| {
            let net = *e - prev;
            prev = *e;
            DayRecord { day: d.days_since_epoch(), ret: *r, net_pnl: rupees(net), charges: rupees(*c) }
        })
        .collect();
    let trades: Vec<TradeRecord> = trips
        .iter()
        .filter_map(|t| {
            Some(TradeRecord { exit_day: ist_day(Timestamp(t.exit_ts))?, net_pnl: rupees(t.net_pnl().into()) })
        })
        .collect();
    weekly::evaluate(&days, &trades, returns::daily_risk_free(rf), rules)
}

/// Daily returns of buying `instrument` at its first price in `ticks` and holding it: one per
/// trading day in `days` (as days since 1970-01-01), each day valued at its last price.
fn buy_and_hold(ticks: &[Tick], instrument: usize, days: &[i64]) -> Option<Vec<f64>> {
    let mut ticks = ticks.iter().filter(|t| t.instrument.index() == instrument && t.price.is_positive());
    let first = ticks.next()?;
    let mut closes = std::collections::BTreeMap::new();
    for t in std::iter::once(first).chain(ticks) {
        if let Some(d) = ist_day(t.ts) {
            closes.insert(d, t.price.0);
        }
    }
    let mut values = vec![first.price.0 as f64];
    let mut last = first.price.0;
    for d in days {
        if let Some((_, p)) = closes.range(..=d).next_back() {
            last = *p;
        }
        values.push(last as f64);
    }
    Some(returns::simple_returns(&values))
}

/// The performance of a backtest over `ticks` with `fills`, judged by `eval`.
pub fn compute(
    setup: &EngineSetup,
    ticks: &[Tick],
    fills: &[Fill],
    risk_free: f64,
    eval: &EvaluationSection,
) -> Result<Performance> {
    let accounts = setup.accounts.len();
    let instruments = setup.instruments.len();
    // Each day's last price per instrument, in data order, and each day's fills.
    let mut days: std::collections::BTreeMap<i64, (Vec<Option<i64>>, Vec<Execution>)> = Default::default();
    for t in ticks.iter().filter(|t| t.price.is_positive() && t.instrument.index() < instruments) {
        let Some(day) = ist_day(t.ts) else { continue };
        let entry = days.entry(day).or_insert_with(|| (vec![None; instruments], Vec::new()));
        entry.0[t.instrument.index()] = Some(t.price.0);
    }
    let executions: Vec<Execution> = fills.iter().map(execution).collect();
    for e in &executions {
        let Some(day) = ist_day(Timestamp(e.ts)) else { continue };
        days.entry(day).or_insert_with(|| (vec![None; instruments], Vec::new())).1.push(*e);
    }
    let mut book = EquityBook::new(accounts, instruments);
    let mut dates = Vec::with_capacity(days.len());
    let mut gains: Vec<Vec<i128>> = vec![Vec::with_capacity(days.len()); accounts];
    let mut charges: Vec<Vec<i128>> = vec![Vec::with_capacity(days.len()); accounts];
    for (day, (marks, day_fills)) in &days {
        for c in charges.iter_mut() {
            c.push(0);
        }
        for e in day_fills {
            book.fill(e);
            if let Some(c) = charges.get_mut(e.account).and_then(|c| c.last_mut()) {
                *c += i128::from(e.charges);
            }
        }
        for (i, p) in marks.iter().enumerate() {
            if let Some(p) = p {
                book.mark(i, *p);
            }
        }
        for (a, g) in book.close_day().into_iter().enumerate() {
            gains[a].push(g);
        }
        dates.push(Date::from_days(*day).with_context(|| format!("day {day} out of range"))?);
    }
    let trips = round_trips(&executions);
    let bench = match eval.benchmark.as_str() {
        "" => None,
        sym => {
            let i = setup.instruments.iter().position(|i| i.symbol == sym);
            let day_numbers: Vec<i64> = days.keys().copied().collect();
            let r = i.and_then(|i| buy_and_hold(ticks, i, &day_numbers));
            Some(r.with_context(|| format!("[evaluation] benchmark {sym}: no price for it in the data"))?)
        }
    };
    let rules = weekly_rules(eval);
    let mut total = Curve { start: 0, equity: vec![0; dates.len()] };
    let mut per_account = Vec::with_capacity(accounts);
    for (a, acct) in setup.accounts.iter().enumerate() {
        let start = if acct.funds.0 > 0 {
            i128::from(acct.funds.0)
        } else if book.peak_gross(a) > 0 {
            book.peak_gross(a)
        } else {
            DEFAULT_START
        };
        let curve = Curve { start, equity: gains[a].iter().map(|g| start + g).collect() };
        total.start += curve.start;
        for (t, e) in total.equity.iter_mut().zip(&curve.equity) {
            *t += e;
        }
        let mine: Vec<RoundTrip> = trips.iter().filter(|t| t.account == a).copied().collect();
        let execs: Vec<Execution> = executions.iter().filter(|e| e.account == a).copied().collect();
        let tm = trade_metrics(&mine, &execs, book.exposed_days(a), dates.len(), rupees(curve.start));
        let metrics = curve_metrics(dates.len(), &curve, tm, bench.as_deref(), risk_free);
        let weeks = weeks_of(&dates, &curve, &charges[a], &mine, risk_free, &rules);
        per_account.push((dir_name(&acct.name), CurvePerformance { curve, trips: mine, metrics, weeks }));
    }
    let tm = trade_metrics(&trips, &executions, book.any_exposed_days(), dates.len(), rupees(total.start));
    let metrics = curve_metrics(dates.len(), &total, tm, bench.as_deref(), risk_free);
    let all_charges: Vec<i128> = (0..dates.len()).map(|d| charges.iter().map(|c| c[d]).sum()).collect();
    let weeks = weeks_of(&dates, &total, &all_charges, &trips, risk_free, &rules);
    let total = CurvePerformance { curve: total, trips, metrics, weeks };
    let bench = bench.map(|r| (eval.benchmark.clone(), r));
    Ok(Performance { dates, bench, risk_free, accounts: per_account, total })
}

fn read_series(path: &Path, column: &'static str) -> Result<DailySeries> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    dalal_analytics::parse_daily(&text, column).with_context(|| path.display().to_string())
}

/// `dalal report`: the metrics of a daily equity curve, optionally against a benchmark.
pub fn report(args: ReportArgs) -> Result<()> {
    if !args.risk_free.is_finite() || args.risk_free <= -1.0 {
        bail!("--risk-free {}: expected an annual rate such as 0.065", args.risk_free);
    }
    let equity = read_series(&args.equity, "equity")?;
    let returns = returns::simple_returns(&equity.values);
    let mut bench_closes = None;
    let bench_returns = match &args.benchmark {
        None => None,
        Some(path) => {
            let bench = read_series(path, "close")?;
            let mut closes = Vec::with_capacity(equity.dates.len());
            for (i, d) in equity.dates.iter().enumerate() {
                let Some(c) = bench.on(d) else {
                    bail!(
                        "{}: no close on {d}, a date of {} (data row {})",
                        path.display(),
                        args.equity.display(),
                        i + 1
                    );
                };
                closes.push(c);
            }
            let r = returns::simple_returns(&closes);
            bench_closes = Some(closes);
            Some(r)
        }
    };
    let m = Metrics::compute(equity.dates.len(), &returns, bench_returns.as_deref(), args.risk_free);
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let path: PathBuf = args.out.join("metrics.json");
    write(&path, &metrics_json(&m)?)?;
    let dates: Vec<Date> = equity.dates.iter().filter_map(|d| Date::parse(d)).collect();
    let first = equity.values.first().copied().unwrap_or(1.0);
    let benchmark = bench_closes.map(|c| {
        let base = c.first().copied().unwrap_or(1.0);
        let name = args.benchmark.as_deref().and_then(Path::file_stem).map(|s| s.to_string_lossy().into_owned());
        (name.unwrap_or_else(|| "benchmark".into()), c.iter().map(|x| x / base * first).collect())
    });
    let subtitle = format!(
        "{}: {} to {}, {} days",
        args.equity.display(),
        equity.dates.first().map_or("", String::as_str),
        equity.dates.last().map_or("", String::as_str),
        equity.dates.len()
    );
    let (page, _) = crate::report::write(
        &args.out,
        &crate::report::Report {
            title: "Equity curve report".into(),
            subtitle,
            dates: &dates,
            equity: &equity.values,
            benchmark,
            returns: &returns,
            risk_free: args.risk_free,
            metrics: &m,
            weeks: None,
            trades: None,
        },
    )?;
    print!("{}", render(&m));
    println!("wrote {} and {}", path.display(), page.display());
    Ok(())
}

/// A few lines for the console; metrics.json has them all.
pub fn render(m: &Metrics) -> String {
    let pct = |x: f64| if x.is_finite() { format!("{:.2}%", x * 100.0) } else { "n/a".into() };
    let num = |x: f64| if x.is_finite() { format!("{x:.2}") } else { "n/a".into() };
    let r = &m.returns;
    let mut s = format!(
        "{} days: return {} (CAGR {}), volatility {}, Sharpe {}, Sortino {}, max drawdown {} over {} days\n",
        m.days,
        pct(r.total_return),
        pct(r.cagr),
        pct(r.annual_volatility),
        num(r.sharpe),
        num(r.sortino),
        pct(r.max_drawdown),
        r.max_drawdown_days
    );
    if let Some(b) = &m.benchmark {
        let _ = writeln!(
            s,
            "benchmark {}: alpha {}, beta {}, excess {}",
            pct(b.benchmark_return),
            pct(b.alpha),
            num(b.beta),
            pct(b.excess_return)
        );
    }
    if let Some(t) = &m.trades {
        let _ = writeln!(
            s,
            "{} round trips: win rate {}, profit factor {}, expectancy ₹{}, exposure {}, charges ₹{:.2}",
            t.trades,
            pct(t.win_rate),
            num(t.profit_factor),
            num(t.expectancy),
            pct(t.exposure),
            t.charges
        );
    }
    s
}
