//! `dalal backtest` writes exactly the pinned `orders.csv`, `fills.csv` and `summary.json` for
//! a generated session of each shipped configuration, which between them run all six built-in
//! strategies (`config/default.toml`: EMA cross and Bollinger reversion for three traders;
//! `config/examples/strategies.toml`: ORB, SuperTrend, VWAP reversion, grid). A change to any
//! stage that alters a single order, fill or summary figure shows here; when the change is
//! meant, regenerate `tests/golden/` with the commands in `record` and say why in the commit.

use std::path::Path;
use std::process::Command;

/// Generates the session and backtests it into `out`.
fn record(config: &str, dir: &Path, out: &Path) {
    let data = dir.join("ticks.csv");
    let dalal = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dalal"));
        c.env("DALAL_DATABASE_URL", "").env("DALAL_ADMIN_LISTEN", "");
        c
    };
    let gen = dalal()
        .args(["gen", "--config", config, "--ticks", "30000", "--seed", "7", "--out"])
        .arg(&data)
        .output()
        .expect("run dalal gen");
    assert!(gen.status.success(), "{}", String::from_utf8_lossy(&gen.stderr));
    let bt = dalal()
        .args(["backtest", "--config", config, "--data"])
        .arg(&data)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run dalal backtest");
    assert!(bt.status.success(), "{}", String::from_utf8_lossy(&bt.stderr));
}

fn check(config: &str, golden: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    record(config, dir.path(), &out);
    for f in ["orders.csv", "fills.csv", "summary.json"] {
        let want = std::fs::read_to_string(Path::new("tests/golden").join(golden).join(f)).expect("golden file");
        let got = std::fs::read_to_string(out.join(f)).expect("output file");
        if let Some((n, (w, g))) = want.lines().zip(got.lines()).enumerate().find(|(_, (w, g))| w != g) {
            panic!("{golden}/{f} line {}: want\n{w}\ngot\n{g}", n + 1);
        }
        assert_eq!(want.lines().count(), got.lines().count(), "{golden}/{f}: line count");
        assert_eq!(want, got, "{golden}/{f}");
    }
}

#[test]
fn default_config_backtest_is_pinned() {
    check("config/default.toml", "default");
}

#[test]
fn strategy_examples_backtest_is_pinned() {
    check("config/examples/strategies.toml", "strategies");
}
