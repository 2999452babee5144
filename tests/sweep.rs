//! `dalal backtest --sweep` as a user runs it over a generated four-session history: every
//! point ranked, each row equal to a plain backtest of the same parameters, the same file
//! whatever the number of threads, a walk-forward split whose out-of-sample columns are a
//! plain backtest of the later days, and refusals that name what is wrong.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dalal() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dalal"));
    c.env_remove("DALAL_CONFIG").env("DALAL_PERSISTENCE__DATABASE_URL", "");
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
