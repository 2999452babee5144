//! `dalal backtest`'s performance files over several generated sessions, `dalal report` on an
//! equity curve, and `dalal backtest --sweep`: run as a user would, then recomputed here from
//! the written files with the analytics functions (so a figure in metrics.json is exactly what
//! the documented formulas give for the written equity.csv) or against plain backtests (so a
//! sweep's row is what a backtest of its parameters gives, on any number of threads).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dalal_analytics::{returns, Metrics};

fn dalal() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dalal"));
    c.env("DALAL_DATABASE_URL", "").env("DALAL_ADMIN_LISTEN", "");
    c
}

fn run(args: &[&str]) -> Output {
    dalal().args(args).output().expect("run dalal")
}

fn run_ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or("")
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("metrics.json")).expect("JSON")
}

fn read_equity(path: &Path) -> (Vec<String>, Vec<f64>) {
    let text = std::fs::read_to_string(path).expect("equity.csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("date,equity"));
    lines
        .map(|l| {
            let (d, e) = l.split_once(',').expect("two fields");
            (d.to_string(), e.parse::<f64>().expect("equity number"))
        })
        .unzip()
}

/// `want` computed here against `got` from metrics.json: equal to 1e-12 relative, and null
/// exactly where the computed value is NaN or infinite.
fn check_value(key: &str, want: f64, got: &serde_json::Value, ctx: &str) {
    if !want.is_finite() {
        assert!(got.is_null(), "{ctx} {key}: want {want} (null), got {got}");
        return;
    }
    let g = got.as_f64().unwrap_or_else(|| panic!("{ctx} {key}: not a number: {got}"));
    assert!((want - g).abs() <= 1e-12 * want.abs().max(g.abs()), "{ctx} {key}: want {want:e}, got {g:e}");
}

/// Every key of `m` (as the library serialises it) against metrics.json.
fn check_metrics(m: &Metrics, file: &serde_json::Value, ctx: &str) {
    let want = serde_json::to_value(m).expect("serialise");
    let want = want.as_object().expect("object");
    let got = file.as_object().expect("metrics.json is an object");
    for (key, w) in want {
        let g = got.get(key).unwrap_or_else(|| panic!("{ctx}: metrics.json lacks {key}"));
        match w.as_f64() {
            Some(x) => check_value(key, x, g, ctx),
            None => assert!(w.is_null() && g.is_null(), "{ctx} {key}: want {w}, got {g}"),
        }
    }
}

fn day_of_week(date: &str) -> u32 {
    // Zeller-style: days since 1970-01-01 (a Thursday) from the civil date.
    let y: i64 = date[0..4].parse().expect("year");
    let m: i64 = date[5..7].parse().expect("month");
    let d: i64 = date[8..10].parse().expect("day");
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days + 3).rem_euclid(7)) as u32 // 0 = Monday
}

/// A generated four-session history backtested with the default config, one account given
/// funds (the others start from the capital their positions needed).
fn backtest(dir: &Path) -> PathBuf {
    backtest_with(dir, &[])
}

/// The same, with `env` (`DALAL_<SECTION>__<KEY>` overrides) set on the backtest.
fn backtest_with(dir: &Path, env: &[(&str, &str)]) -> PathBuf {
    let config_text = std::fs::read_to_string("config/default.toml").expect("default config").replacen(
        "name = \"alice\"\n",
        "name = \"alice\"\nfunds = 2000000.0\n",
        1,
    );
    assert!(config_text.contains("funds = 2000000.0"), "alice's funds were set");
    let config = dir.join("config.toml");
    std::fs::write(&config, config_text).expect("write config");
    let ticks = history(dir);
    let out = dir.join("out");
    let o = dalal()
        .envs(env.iter().copied())
        .args(["backtest", "--config", s(&config), "--data", s(&ticks), "--out", s(&out), "--risk-free", "0.065"])
        .output()
        .expect("run dalal");
    assert!(o.status.success(), "backtest: {}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn backtest_writes_daily_equity_trades_and_metrics_that_recompute() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = backtest(dir.path());
    let summary = json(&out.join("summary.json"));
    let accounts = summary["accounts"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 3);

    // Thursday 19th, Friday 20th, then Monday and Tuesday: weekends skipped.
    let (dates, total) = read_equity(&out.join("equity.csv"));
    assert_eq!(dates, ["2026-11-19", "2026-11-20", "2026-11-23", "2026-11-24"]);
    assert!(dates.iter().all(|d| day_of_week(d) < 5));

    let mut summed = vec![0.0; dates.len()];
    let mut start_sum = 0.0;
    let mut trades_sum = 0;
    for acct in accounts {
        let name = acct["name"].as_str().expect("name");
        let adir = out.join("accounts").join(name);
        let (adates, equity) = read_equity(&adir.join("equity.csv"));
        assert_eq!(adates, dates, "{name}: one row per trading day");
        let file = json(&adir.join("metrics.json"));
        let start = file["start_equity"].as_f64().expect("start_equity");
        if name == "alice" {
            assert_eq!(start, 2_000_000.0, "funds are the starting equity");
        }
        assert!(start > 0.0, "{name}: start {start}");
        // Marked at the last price and net of charges: the last close is the summary's net P&L.
        let last = equity.last().copied().unwrap_or(start);
        let net = acct["net_pnl"].as_f64().expect("net_pnl");
        assert!((last - start - net).abs() < 0.005, "{name}: {last} - {start} vs net P&L {net}");

        let values: Vec<f64> = std::iter::once(start).chain(equity.iter().copied()).collect();
        let r = returns::simple_returns(&values);
        assert_eq!(r.len(), dates.len(), "{name}: the first day's return is from the starting equity");
        let mut m = Metrics::compute(dates.len(), &r, None, 0.065);
        m.start_equity = Some(start);
        check_metrics(&m, &file, name);
        assert!(file.get("alpha").is_none(), "no benchmark in a backtest yet");

        // Trade statistics agree with trades.csv.
        let trades = std::fs::read_to_string(adir.join("trades.csv")).expect("trades.csv");
        let rows: Vec<Vec<&str>> = trades.lines().skip(1).map(|l| l.split(',').collect()).collect();
        assert_eq!(file["trades"].as_u64(), Some(rows.len() as u64), "{name}");
        assert!(!rows.is_empty(), "{name} traded");
        let nets: Vec<f64> = rows.iter().map(|r| r[13].parse::<f64>().expect("net_pnl")).collect();
        let wins = nets.iter().filter(|x| **x > 0.0).count();
        check_value("win_rate", wins as f64 / nets.len() as f64, &file["win_rate"], name);
        let expectancy = nets.iter().sum::<f64>() / nets.len() as f64;
        assert!((expectancy - file["expectancy"].as_f64().expect("expectancy")).abs() < 1e-6, "{name}");
        for r in &rows {
            assert_eq!(r.len(), 15);
            assert!(r[0] == name && (r[3] == "long" || r[3] == "short"), "{r:?}");
            let (entry, exit): (i64, i64) = (r[6].parse().expect("entry_ns"), r[9].parse().expect("exit_ns"));
            assert!(exit >= entry, "{r:?}");
            let gross: f64 = r[11].parse().expect("gross");
            let charges: f64 = r[12].parse().expect("charges");
            assert!((gross - charges - r[13].parse::<f64>().expect("net")).abs() < 0.005, "{r:?}");
        }
        let exposure = file["exposure"].as_f64().expect("exposure");
        assert!((0.0..=1.0).contains(&exposure) && exposure > 0.0, "{name}: {exposure}");
        check_value("charges", acct["charges"]["total"].as_f64().expect("charges"), &file["charges"], name);

        for (s, e) in summed.iter_mut().zip(&equity) {
            *s += e;
        }
        start_sum += start;
        trades_sum += rows.len();
    }

    // The whole run is the accounts summed.
    for (t, s) in total.iter().zip(&summed) {
        assert!((t - s).abs() < 0.005, "total {t} vs sum {s}");
    }
    let file = json(&out.join("metrics.json"));
    assert_eq!(file["days"].as_u64(), Some(4));
    assert_eq!(file["trades"].as_u64(), Some(trades_sum as u64));
    let start = file["start_equity"].as_f64().expect("start_equity");
    assert!((start - start_sum).abs() < 0.005);
    let values: Vec<f64> = std::iter::once(start).chain(total.iter().copied()).collect();
    let mut m = Metrics::compute(dates.len(), &returns::simple_returns(&values), None, 0.065);
    m.start_equity = Some(start);
    check_metrics(&m, &file, "total");
    let all = std::fs::read_to_string(out.join("trades.csv")).expect("trades.csv");
    assert_eq!(all.lines().count() - 1, trades_sum);
}

#[test]
fn gen_without_days_is_one_session_and_days_extend_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let one = dir.path().join("one.csv");
    let default = dir.path().join("default.csv");
    let three = dir.path().join("three.csv");
    let base = ["gen", "--ticks", "300", "--seed", "3", "--symbols", "RELIANCE,TCS"];
    run_ok(&[&base[..], &["--out", s(&default)]].concat());
    run_ok(&[&base[..], &["--days", "1", "--out", s(&one)]].concat());
    run_ok(&[&base[..], &["--days", "3", "--out", s(&three)]].concat());
    let (a, b, c) = (
        std::fs::read_to_string(&default).expect("default"),
        std::fs::read_to_string(&one).expect("one"),
        std::fs::read_to_string(&three).expect("three"),
    );
    assert_eq!(a, b);
    assert!(c.starts_with(&a), "the first session is the single-day file");
    assert_eq!(c.lines().count(), 1 + 3 * 300);
    // 2026-11-20 is a Friday: the next sessions are Monday and Tuesday.
    let days: std::collections::BTreeSet<i64> = c
        .lines()
        .skip(1)
        .map(|l| {
            (l.split(',').next().and_then(|t| t.parse::<i64>().ok()).expect("ts") + 19_800_000_000_000)
                .div_euclid(86_400_000_000_000)
        })
        .collect();
    let days: Vec<i64> = days.into_iter().collect();
    assert_eq!(days.len(), 3);
    assert_eq!((days[1] - days[0], days[2] - days[1]), (3, 1));
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write fixture");
}

#[test]
fn report_round_trips_a_curve_with_a_benchmark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = backtest(dir.path());
    let equity_path = out.join("equity.csv");
    let (dates, equity) = read_equity(&equity_path);
    // A benchmark with extra dates around the curve's, each close a fixed walk.
    let mut bench = String::from("date,close\n2026-11-18,100\n");
    let mut closes = BTreeMap::new();
    for (i, d) in dates.iter().enumerate() {
        let c = 100.0 * (1.0 + 0.01 * ((i as f64 * 1.7).sin()));
        closes.insert(d.clone(), c);
        bench.push_str(&format!("{d},{c}\n"));
    }
    bench.push_str("2026-11-25,99.5\n");
    let bench_path = dir.path().join("nifty.csv");
    write(&bench_path, &bench);
    let rep = dir.path().join("rep");
    let stdout = run_ok(&[
        "report",
        "--equity",
        s(&equity_path),
        "--benchmark",
        s(&bench_path),
        "--risk-free",
        "0.05",
        "--out",
        s(&rep),
    ]);
    assert!(stdout.contains("metrics.json"), "{stdout}");
    let file = json(&rep.join("metrics.json"));
    // The curve's first row is the base: n rows, n − 1 returns.
    let r = returns::simple_returns(&equity);
    let b: Vec<f64> = dates.iter().map(|d| closes[d]).collect();
    let m = Metrics::compute(dates.len(), &r, Some(&returns::simple_returns(&b)), 0.05);
    check_metrics(&m, &file, "report");
    assert_eq!(file["days"].as_u64(), Some(dates.len() as u64));
    assert!(file.get("alpha").is_some() && file.get("beta").is_some());
    assert!(file.get("trades").is_none() && file.get("start_equity").is_none(), "{file}");

    // The page: the curve against the benchmark, no trades or weeks (a curve has none).
    let html = check_page(&rep.join("report.html"), 3);
    assert!(!html.contains("Weekly evaluation") && !html.contains("round trips"), "curve-only report");
    assert!(html.contains("bench"), "the benchmark's legend names its file");

    // Without a benchmark the benchmark keys are absent.
    let rep2 = dir.path().join("rep2");
    run_ok(&["report", "--equity", s(&equity_path), "--out", s(&rep2)]);
    let file = json(&rep2.join("metrics.json"));
    check_metrics(&Metrics::compute(dates.len(), &r, None, 0.0), &file, "report without benchmark");
    assert!(file.get("alpha").is_none());
}

#[test]
fn report_refuses_bad_curves_naming_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, &str, &str)] = &[
        ("unsorted", "date,equity\n2025-01-02,100\n2025-01-06,101\n2025-01-03,102\n", "line 4"),
        ("duplicate", "date,equity\n2025-01-02,100\n2025-01-02,101\n", "line 3"),
        ("zero", "date,equity\n2025-01-02,100\n2025-01-03,0\n", "line 3"),
        ("negative", "date,equity\n2025-01-02,-5\n", "line 2"),
        ("missing column", "date,value\n2025-01-02,100\n", "no `equity` column"),
        ("bad date", "date,equity\n2025-13-02,100\n", "line 2"),
        ("bad number", "date,equity\n2025-01-02,abc\n", "line 2"),
        ("short row", "date,equity\n2025-01-02\n", "line 2"),
        ("empty", "", "empty"),
    ];
    for (name, text, want) in cases {
        let path = dir.path().join(format!("{}.csv", name.replace(' ', "_")));
        write(&path, text);
        let o = run(&["report", "--equity", s(&path), "--out", s(&dir.path().join("out"))]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{name}: accepted");
        assert!(err.contains(want) && err.contains(s(&path)), "{name}: {err}");
    }
    assert!(!dir.path().join("out").join("metrics.json").exists(), "nothing written on error");

    // A benchmark must have a close on every date of the curve.
    let equity = dir.path().join("equity.csv");
    write(&equity, "date,equity\n2025-01-02,100\n2025-01-03,101\n");
    let bench = dir.path().join("bench.csv");
    write(&bench, "date,close\n2025-01-02,50\n");
    let o = run(&["report", "--equity", s(&equity), "--benchmark", s(&bench), "--out", s(&dir.path().join("o"))]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("no close on 2025-01-03"), "{err}");
    let missing = dir.path().join("bench2.csv");
    write(&missing, "date,price\n2025-01-02,50\n");
    let o = run(&["report", "--equity", s(&equity), "--benchmark", s(&missing), "--out", s(&dir.path().join("o"))]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("no `close` column"), "{err}");
}

/// weekly.csv's rows, as (column → cell) maps.
fn read_weekly(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("weekly.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    assert_eq!(
        header,
        [
            "week_start",
            "days",
            "return",
            "sharpe",
            "max_drawdown",
            "trades",
            "win_rate",
            "charges",
            "gross_pnl",
            "charges_share",
            "verdict",
            "reasons"
        ]
    );
    lines
        .map(|l| {
            // The reasons are the last cell, quoted; the others hold no comma.
            let (head, reasons) = l.split_once(",\"").expect("quoted reasons");
            let mut row: BTreeMap<String, String> =
                header.iter().zip(head.split(',')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
            row.insert("reasons".into(), reasons.trim_end_matches('"').to_string());
            row
        })
        .collect()
}

fn num(row: &BTreeMap<String, String>, key: &str) -> f64 {
    let v = &row[key];
    if v.is_empty() {
        f64::NAN
    } else {
        v.parse().unwrap_or_else(|_| panic!("{key}: {v}"))
    }
}

/// Each ISO week of the run recomputed from equity.csv and trades.csv, and judged by the
/// default rules (Sharpe ≥ 0, drawdown ≤ 5 %, charges ≤ half the gross P&L); the weeks'
/// returns compound to the total return.
#[test]
fn weekly_evaluation_recomputes_and_compounds_to_the_total() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = backtest(dir.path());
    for sub in [out.clone(), out.join("accounts").join("alice")] {
        let file = json(&sub.join("metrics.json"));
        let start = file["start_equity"].as_f64().expect("start_equity");
        let (dates, equity) = read_equity(&sub.join("equity.csv"));
        let values: Vec<f64> = std::iter::once(start).chain(equity.iter().copied()).collect();
        let r = returns::simple_returns(&values);
        let weeks = read_weekly(&sub.join("weekly.csv"));
        let ctx = sub.display().to_string();
        // Thursday and Friday of one week, Monday and Tuesday of the next.
        let starts: Vec<&str> = weeks.iter().map(|w| w["week_start"].as_str()).collect();
        assert_eq!(starts, ["2026-11-16", "2026-11-23"], "{ctx}");
        assert_eq!(dates.len(), 4);
        let rf = returns::daily_risk_free(0.065);
        let mut compounded = 1.0;
        let mut trades = 0;
        for (k, w) in weeks.iter().enumerate() {
            assert_eq!(w["days"], "2", "{ctx}");
            let span = &r[2 * k..2 * k + 2];
            let ret = returns::total_return(span);
            assert!((num(w, "return") - ret).abs() < 1e-8, "{ctx}: {} vs {ret}", w["return"]);
            compounded *= 1.0 + num(w, "return");
            let sharpe = returns::sharpe(span, rf);
            let dd = returns::max_drawdown(span);
            assert!((num(w, "max_drawdown") - dd).abs() < 1e-8, "{ctx}");
            if sharpe.is_finite() {
                assert!((num(w, "sharpe") - sharpe).abs() < 1e-4 * sharpe.abs().max(1.0), "{ctx}");
            }
            let gross = num(w, "gross_pnl");
            let charges = num(w, "charges");
            let net = values[2 * k + 2] - values[2 * k];
            assert!((gross - charges - net).abs() < 0.02, "{ctx}: gross {gross} − charges {charges} vs net {net}");
            let share = num(w, "charges_share");
            let fails_charges = if charges > 0.0 && gross <= 0.0 { true } else { share > 0.5 };
            let fail = (sharpe < 0.0) || dd < -0.05 || fails_charges;
            assert_eq!(w["verdict"], if fail { "fail" } else { "pass" }, "{ctx}: {w:?}");
            assert_eq!(w["reasons"].is_empty(), !fail, "{ctx}: {w:?}");
            trades += w["trades"].parse::<u64>().expect("trades");
        }
        let total = file["total_return"].as_f64().expect("total_return");
        assert!((compounded - 1.0 - total).abs() < 1e-7, "{ctx}: weeks compound to {compounded} − 1, total {total}");
        assert_eq!(Some(trades), file["trades"].as_u64(), "{ctx}: every round trip closes in some week");
    }
}

/// `[evaluation] benchmark = "RELIANCE"`: alpha and beta against buying RELIANCE at its first
/// price in the data and holding it, recomputed here from the tick file; with every rule off,
/// every week passes. An instrument that is not configured is refused, naming the key.
#[test]
fn an_instrument_is_the_benchmark_and_rules_can_be_lifted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [
        ("DALAL_EVALUATION__BENCHMARK", "RELIANCE"),
        ("DALAL_EVALUATION__MIN_WEEKLY_SHARPE", "-inf"),
        ("DALAL_EVALUATION__MAX_WEEKLY_DRAWDOWN", "1"),
        ("DALAL_EVALUATION__MAX_CHARGES_SHARE", "inf"),
    ];
    let out = backtest_with(dir.path(), &env);
    let weeks = read_weekly(&out.join("weekly.csv"));
    assert!(weeks.iter().all(|w| w["verdict"] == "pass" && w["reasons"].is_empty()), "{weeks:?}");

    // Buy and hold from the ticks: the first price, then each trading day's last one.
    let ticks = std::fs::read_to_string(dir.path().join("ticks.csv")).expect("ticks");
    let mut first = None;
    let mut closes: BTreeMap<i64, f64> = BTreeMap::new();
    for l in ticks.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        if f[1] != "RELIANCE" {
            continue;
        }
        let (ts, price): (i64, f64) = (f[0].parse().expect("ts"), f[2].parse().expect("price"));
        first.get_or_insert(price);
        closes.insert((ts / 1_000_000_000 + 19_800).div_euclid(86_400), price);
    }
    let (dates, equity) = read_equity(&out.join("equity.csv"));
    assert_eq!(closes.len(), dates.len(), "RELIANCE trades every session");
    let bench: Vec<f64> = std::iter::once(first.expect("RELIANCE ticks")).chain(closes.values().copied()).collect();
    let bench = returns::simple_returns(&bench);
    let file = json(&out.join("metrics.json"));
    let start = file["start_equity"].as_f64().expect("start_equity");
    let values: Vec<f64> = std::iter::once(start).chain(equity.iter().copied()).collect();
    let mut m = Metrics::compute(dates.len(), &returns::simple_returns(&values), Some(&bench), 0.065);
    m.start_equity = Some(start);
    check_metrics(&m, &file, "benchmark");
    assert!(file["beta"].is_number() && file["benchmark_return"].is_number(), "{file}");

    let o = dalal()
        .env("DALAL_EVALUATION__BENCHMARK", "NOPE")
        .args(["backtest", "--data"])
        .arg(dir.path().join("ticks.csv"))
        .arg("--out")
        .arg(dir.path().join("refused"))
        .output()
        .expect("run dalal");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("evaluation.benchmark") && err.contains("NOPE"), "{err}");
}

/// A report page holds `charts` inline SVG charts with PNG copies under `charts/`, nothing it
/// would fetch and no script, and the metrics of metrics.json; returns the page.
fn check_page(page: &Path, charts: usize) -> String {
    let html = std::fs::read_to_string(page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    assert!(html.contains("Content-Security-Policy") && html.contains("default-src 'none'"), "CSP");
    for needle in ["<script", " src=", " href=", "url(", "@import"] {
        assert!(!html.contains(needle), "{}: {needle} in a self-contained page", page.display());
    }
    assert_eq!(html.matches("<figure").count(), charts, "{}", page.display());
    assert_eq!(html.matches("<svg").count(), charts);
    let dir = page.parent().expect("dir").join("charts");
    let mut pngs = 0;
    for e in std::fs::read_dir(&dir).expect("charts/") {
        let path = e.expect("entry").path();
        if path.extension().is_some_and(|x| x == "png") {
            pngs += 1;
            let px = resvg::tiny_skia::Pixmap::load_png(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(px.width(), 960, "{}", path.display());
            let mut colours = std::collections::BTreeSet::new();
            let inked = px.pixels().iter().filter(|p| (p.red(), p.green(), p.blue()) != (255, 255, 255)).count();
            for p in px.pixels().iter().step_by(7) {
                colours.insert((p.red(), p.green(), p.blue()));
            }
            assert!(inked * 100 > px.pixels().len(), "{}: a blank picture", path.display());
            assert!(colours.len() > 3, "{}: {} colours", path.display(), colours.len());
        }
    }
    assert_eq!(pngs, charts, "a PNG per chart");
    let metrics = json(&page.parent().expect("dir").join("metrics.json"));
    for key in ["sharpe", "max_drawdown", "total_return", "days"] {
        assert!(html.contains(&format!("<tr><th>{key}</th>")), "{key} in the table");
        assert!(metrics.get(key).is_some());
    }
    html
}

/// Chromium (headless, as a reader's browser) lays the page out: every chart and table is in
/// the DOM, and a screenshot shows ink. Skipped without Chromium unless `CI` is set.
fn check_in_chromium(page: &Path, charts: usize) {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
    else {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium");
        eprintln!("skipped: no chromium");
        return;
    };
    let url = format!("file://{}", page.display());
    let base = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"];
    let o = Command::new(chromium).args(base).arg("--dump-dom").arg(&url).output().expect("chromium runs");
    let dom = String::from_utf8_lossy(&o.stdout);
    assert_eq!(dom.matches("<svg").count(), charts, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dom.contains("class=\"metrics\""), "the metrics table");
    let shot = page.with_extension("png");
    let o = Command::new(chromium)
        .args(base)
        .arg(format!("--screenshot={}", shot.display()))
        .args(["--window-size=1100,2400", &url])
        .output()
        .expect("chromium runs");
    let px = resvg::tiny_skia::Pixmap::load_png(&shot)
        .unwrap_or_else(|e| panic!("screenshot {}: {e}: {}", shot.display(), String::from_utf8_lossy(&o.stderr)));
    let inked = px.pixels().iter().filter(|p| (p.red(), p.green(), p.blue()) != (255, 255, 255)).count();
    assert!(inked * 50 > px.pixels().len(), "the page shows its charts");
}

/// report.html for the whole run and for each account: equity, drawdown, monthly returns,
/// the round trips on a price chart and the rolling Sharpe ratio, with PNG copies, the metrics
/// and the weekly evaluation; and Chromium shows it.
#[test]
fn backtest_reports_are_self_contained_pages_chromium_shows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = backtest_with(dir.path(), &[("DALAL_EVALUATION__BENCHMARK", "RELIANCE")]);
    let html = check_page(&out.join("report.html"), 4);
    for section in ["id=\"equity\"", "id=\"drawdown\"", "id=\"monthly\"", "id=\"trades\""] {
        assert!(html.contains(section), "{section}");
    }
    assert!(html.contains("RELIANCE buy and hold"), "the benchmark's line");
    assert!(html.contains("Weekly evaluation: ") && html.matches("<tr class=\"").count() == 2, "two weeks");
    // Four days: the rolling window is longer than the run, and the page says so.
    assert!(html.contains("needs 21 trading days; this curve has 4"), "the short run is explained");
    for name in ["alice", "bob", "carol"] {
        let page = out.join("accounts").join(name).join("report.html");
        let html = check_page(&page, 4);
        assert!(html.contains(&format!("account {name}")), "{name}'s title");
    }
    check_in_chromium(&out.join("report.html"), 4);
}

/// Over three months of days the report also draws the 21-day rolling Sharpe ratio.
#[test]
fn a_longer_curve_gets_its_rolling_sharpe_chart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::from("date,equity\n");
    for i in 0..64 {
        // Weekdays from Monday 2026-01-05 (day 20458).
        let d = 20_458 + i + 2 * (i / 5);
        let date = dalal_core::model::Date::from_days(d).expect("a date");
        text.push_str(&format!("{date},{}\n", 1_000_000.0 * (1.0 + 0.002 * i as f64 + 0.01 * (i as f64).sin())));
    }
    let path = dir.path().join("long.csv");
    write(&path, &text);
    let rep = dir.path().join("rep");
    run_ok(&["report", "--equity", s(&path), "--out", s(&rep)]);
    let html = check_page(&rep.join("report.html"), 4);
    assert!(html.contains("id=\"rolling_sharpe\"") && !html.contains("No rolling Sharpe"), "the chart");
    check_in_chromium(&rep.join("report.html"), 4);
}

/// Four sessions (Thursday, Friday, Monday, Tuesday) of six instruments.
fn history(dir: &Path) -> PathBuf {
    let ticks = dir.join("ticks.csv");
    run_ok(&[
        "gen",
        "--ticks",
        "12000",
        "--seed",
        "11",
        "--date",
        "2026-11-19",
        "--days",
        "4",
        "--symbols",
        "RELIANCE,INFY,HDFCBANK,ICICIBANK,SBIN,TCS",
        "--out",
        s(&ticks),
    ]);
    ticks
}

/// sweep.csv as a header and rows of cells (the quoted error cell last, whole).
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).expect("sweep.csv");
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().expect("header").split(',').map(String::from).collect();
    let rows = lines
        .map(|l| {
            let (head, err) = l.split_once(",\"").map_or((l, ""), |(h, e)| (h, e));
            let mut cells: Vec<String> = head.split(',').map(String::from).collect();
            if !err.is_empty() {
                cells.push(err.trim_end_matches('"').to_string());
            }
            cells
        })
        .collect();
    (header, rows)
}

fn col(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

/// The default configuration with `fast` and `slow` set on every strategy that has them (the
/// EMA crosses; the Bollinger bands keep theirs), as the sweep sets them.
fn config_with(dir: &Path, fast: i64, slow: i64) -> PathBuf {
    let mut c: toml::Table = toml::from_str(&std::fs::read_to_string("config/default.toml").expect("default config"))
        .expect("default config parses");
    for a in c["accounts"].as_array_mut().expect("accounts") {
        for st in a["strategies"].as_array_mut().expect("strategies") {
            let t = st.as_table_mut().expect("strategy");
            if t.contains_key("fast") {
                t.insert("fast".into(), fast.into());
                t.insert("slow".into(), slow.into());
            }
        }
    }
    let path = dir.join(format!("c{fast}_{slow}.toml"));
    std::fs::write(&path, toml::to_string(&c).expect("toml")).expect("write config");
    path
}

/// A plain backtest's whole-run metrics.json.
fn plain(dir: &Path, ticks: &Path, fast: i64, slow: i64, name: &str) -> serde_json::Value {
    let out = dir.join(name);
    let cfg = config_with(dir, fast, slow);
    run_ok(&["backtest", "--config", s(&cfg), "--data", s(ticks), "--out", s(&out)]);
    serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).expect("metrics.json")).expect("JSON")
}

fn same(cell: &str, want: &serde_json::Value, what: &str) {
    match want.as_f64() {
        Some(w) => assert_eq!(cell.parse::<f64>().ok(), Some(w), "{what}: sweep {cell}, plain {w}"),
        None => assert!(cell.is_empty(), "{what}: sweep {cell:?}, plain {want}"),
    }
}

#[test]
fn a_sweep_ranks_every_point_like_plain_backtests_whatever_the_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ticks = history(dir.path());
    let sweep = |threads: &str, out: &str| {
        let out = dir.path().join(out);
        let grid = "fast=2..4:1,slow=8|12";
        run_ok(&["backtest", "--data", s(&ticks), "--out", s(&out), "--sweep", grid, "--threads", threads]);
        out.join("sweep.csv")
    };
    let (one, two) = (sweep("1", "one"), sweep("2", "two"));
    assert_eq!(std::fs::read(&one).expect("one"), std::fs::read(&two).expect("two"), "deterministic");

    let (header, rows) = read_csv(&one);
    assert_eq!(rows.len(), 6);
    let (rank, fast, slow, sharpe) =
        (col(&header, "rank"), col(&header, "fast"), col(&header, "slow"), col(&header, "sharpe"));
    let ranks: Vec<&str> = rows.iter().map(|r| r[rank].as_str()).collect();
    assert_eq!(ranks, ["1", "2", "3", "4", "5", "6"]);
    let sharpes: Vec<f64> = rows.iter().map(|r| r[sharpe].parse().expect("sharpe")).collect();
    assert!(sharpes.windows(2).all(|w| w[0] >= w[1]), "best first: {sharpes:?}");
    let mut points: Vec<(String, String)> = rows.iter().map(|r| (r[fast].clone(), r[slow].clone())).collect();
    points.sort();
    let mut want: Vec<(String, String)> =
        [2, 3, 4].iter().flat_map(|f| [8, 12].map(|sl| (f.to_string(), sl.to_string()))).collect();
    want.sort();
    assert_eq!(points, want, "every point once");

    // The best and the worst rows are what a plain backtest of their parameters gives.
    for r in [&rows[0], &rows[5]] {
        let (f, sl): (i64, i64) = (r[fast].parse().expect("fast"), r[slow].parse().expect("slow"));
        let m = plain(dir.path(), &ticks, f, sl, &format!("plain{f}_{sl}"));
        for key in ["total_return", "sharpe", "sortino", "max_drawdown", "trades", "win_rate", "charges"] {
            same(&r[col(&header, key)], &m[key], &format!("fast={f} slow={sl} {key}"));
        }
    }
}

#[test]
fn walk_forward_shows_in_and_out_of_sample_side_by_side() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ticks = history(dir.path());
    let out = dir.path().join("wf");
    let grid = "fast=2|3,slow=8";
    run_ok(&["backtest", "--data", s(&ticks), "--out", s(&out), "--sweep", grid, "--train", "50%"]);
    let (header, rows) = read_csv(&out.join("sweep.csv"));
    assert_eq!(rows.len(), 2);
    let is_sharpe: Vec<f64> = rows.iter().map(|r| r[col(&header, "is_sharpe")].parse().expect("is_sharpe")).collect();
    assert!(is_sharpe[0] >= is_sharpe[1], "ranked in-sample: {is_sharpe:?}");
    assert!(!header.iter().any(|h| h == "sharpe"), "{header:?}");

    // In-sample is a plain backtest of the first two sessions, out-of-sample of the last two.
    let text = std::fs::read_to_string(&ticks).expect("ticks");
    let ist_day = |l: &str| {
        (l.split(',').next().and_then(|t| t.parse::<i64>().ok()).unwrap_or(0) / 1_000_000_000 + 19_800) / 86_400
    };
    let mut days: Vec<i64> = text.lines().skip(1).map(ist_day).collect();
    days.dedup();
    assert_eq!(days.len(), 4);
    for (name, keep, prefix) in [("head.csv", &days[..2], "is_"), ("tail.csv", &days[2..], "oos_")] {
        let part: String = std::iter::once("ts_ns,symbol,price,qty")
            .chain(text.lines().skip(1).filter(|l| keep.contains(&ist_day(l))))
            .map(|l| format!("{l}\n"))
            .collect();
        let path = dir.path().join(name);
        std::fs::write(&path, part).expect("part");
        for r in &rows {
            let f: i64 = r[col(&header, "fast")].parse().expect("fast");
            let m = plain(dir.path(), &path, f, 8, &format!("{prefix}{f}"));
            for key in ["total_return", "sharpe", "trades", "charges"] {
                same(&r[col(&header, &format!("{prefix}{key}"))], &m[key], &format!("{prefix}{key} fast={f}"));
            }
        }
    }
}

#[test]
fn refused_points_rank_last_and_bad_grids_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ticks = history(dir.path());
    let out = dir.path().join("r");
    run_ok(&["backtest", "--data", s(&ticks), "--out", s(&out), "--sweep", "fast=3|9,slow=8", "--rank", "calmar"]);
    let (header, rows) = read_csv(&out.join("sweep.csv"));
    let last = rows.last().expect("rows");
    assert_eq!(last[col(&header, "fast")], "9");
    assert!(last.last().is_some_and(|e| e.contains("must be less than slow")), "{last:?}");
    assert!(rows[0].last().is_some_and(|e| e.is_empty()), "{:?}", rows[0]);

    for (args, want) in [
        (vec!["--sweep", "nope=1..3:1"], "no strategy in the configuration sets nope"),
        (vec!["--sweep", "fast=2.5..3:0.5"], "fast takes whole numbers"),
        (vec!["--sweep", "fast=5..2:1"], "2 is below 5"),
        (vec!["--sweep", "fast=2..3:1", "--rank", "luck"], "--rank luck: expected one of"),
        (vec!["--sweep", "fast=2..3:1", "--train", "100%"], "--train"),
        (vec!["--rank", "sharpe"], "--sweep"),
    ] {
        let mut a = vec!["backtest", "--data", s(&ticks), "--out", s(&out)];
        a.extend(args.iter().copied());
        let o = run(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{args:?}: {err}");
    }
}
