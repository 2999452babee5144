//! The analysis commands, run as a user would: `candles`, `charges`, `convert`.

use std::process::Command;

fn dalal() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dalal"));
    // These tests are about the engine; the store has its own.
    c.env("DALAL_DATABASE_URL", "");
    c.env("DALAL_ADMIN_LISTEN", "");
    c
}

fn run_ok(args: &[&str]) -> String {
    let o = dalal().args(args).output().expect("run dalal");
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A small session of two symbols (one unknown to any config) through `dalal gen`-like text.
fn write_ticks(path: &std::path::Path) {
    let open: i64 = 1_795_146_300_000_000_000; // 2026-11-20 09:15 IST
    let mut s = String::from("ts_ns,symbol,price,qty\n");
    for i in 0..600i64 {
        let ts = open + i * 1_000_000_000;
        let p = 10_000 + ((i * 37) % 23) * 5 - 50;
        s.push_str(&format!("{ts},ABC,{}.{:02},{}\n", p / 100, p % 100, 1 + i % 7));
        s.push_str(&format!("{ts},NOTINCONFIG,{}.{:02},2\n", (p + 1000) / 100, (p + 1000) % 100));
    }
    std::fs::write(path, s).expect("write ticks");
}

#[test]
fn candles_writes_the_documented_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ticks, out) = (dir.path().join("t.csv"), dir.path().join("c.csv"));
    write_ticks(&ticks);
    let ind = "sma:3,ema:3,rsi:2,macd:2:3:2,bbands:3:2,atr:2,vwap";
    run_ok(&[
        "candles",
        "--data",
        ticks.to_str().unwrap_or(""),
        "--timeframe",
        "1m",
        "--indicators",
        ind,
        "--out",
        out.to_str().unwrap_or(""),
    ]);
    let text = std::fs::read_to_string(&out).expect("candles");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("ts_ns,symbol,open,high,low,close,volume,sma_3,ema_3,rsi_2,macd_2_3_2,macd_signal_2_3_2,macd_hist_2_3_2,bb_upper_3_2,bb_middle_3_2,bb_lower_3_2,atr_2,vwap")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 600 seconds = 10 one-minute bars per symbol, both symbols kept.
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|r| r.len() == 18));
    let abc: Vec<&Vec<&str>> = rows.iter().filter(|r| r[1] == "ABC").collect();
    // Empty before the first valid value: SMA(3) from the third bar.
    assert!(abc[0][7].is_empty() && abc[1][7].is_empty() && !abc[2][7].is_empty());
    // The hand-computable column: SMA(3) of the first three closes.
    let closes: Vec<f64> = abc.iter().map(|r| r[5].parse().unwrap_or(f64::NAN)).collect();
    let sma: f64 = abc[2][7].parse().unwrap_or(f64::NAN);
    assert!((sma - (closes[0] + closes[1] + closes[2]) / 3.0).abs() < 1e-9);
    // Bars open on minute boundaries from 09:15 IST.
    assert_eq!(abc[1][0].parse::<i64>().ok(), Some(1_795_146_300_000_000_000 + 60_000_000_000));
    // VWAP is valued from the first bar.
    assert!(!abc[0][17].is_empty());
}

#[test]
fn candles_refuses_a_bad_indicator_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ticks = dir.path().join("t.csv");
    write_ticks(&ticks);
    let o = dalal()
        .args(["candles", "--data", ticks.to_str().unwrap_or(""), "--indicators", "sma:0", "--out"])
        .arg(dir.path().join("x.csv"))
        .output()
        .expect("run");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--indicators"));
}

#[test]
fn charges_prints_the_breakdown() {
    let json = run_ok(&[
        "charges",
        "--segment",
        "equity-intraday",
        "--side",
        "sell",
        "--price",
        "1000",
        "--qty",
        "100",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    // ₹1,00,000 turnover: brokerage min(20, 30) = 20, STT 0.025% = 25, NSE 0.00297% = 2.97,
    // SEBI ₹10/crore = 0.10, no stamp duty on a sale, GST 18% of 23.07 = 4.15.
    for (k, want) in [
        ("brokerage", 20.0),
        ("stt", 25.0),
        ("exchange_txn", 2.97),
        ("sebi", 0.10),
        ("stamp_duty", 0.0),
        ("gst", 4.15),
        ("total", 52.22),
    ] {
        let got = v[k].as_f64().unwrap_or(f64::NAN);
        assert!((got - want).abs() < 1e-9, "{k}: {got} != {want}");
    }
    let table = run_ok(&["charges", "--segment", "options", "--side", "buy", "--price", "120.5", "--qty", "65"]);
    assert!(table.contains("stamp_duty") && table.contains("total"));
    let bad = dalal()
        .args(["charges", "--segment", "crypto", "--side", "buy", "--price", "1", "--qty", "1"])
        .output()
        .expect("run");
    assert!(!bad.status.success());
}

#[test]
fn charges_follow_the_config_tariffs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("c.toml");
    let base = std::fs::read_to_string("config/backtest.toml").expect("config");
    std::fs::write(&cfg, format!("{base}\n[charges.equity_intraday]\nbrokerage_cap = 15.0\nstt_sell_pct = 0.05\n"))
        .expect("write");
    let json = run_ok(&[
        "charges",
        "--config",
        cfg.to_str().unwrap_or(""),
        "--segment",
        "equity-intraday",
        "--side",
        "sell",
        "--price",
        "1000",
        "--qty",
        "100",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    assert_eq!(v["brokerage"].as_f64(), Some(15.0));
    assert_eq!(v["stt"].as_f64(), Some(50.0));
    std::fs::write(&cfg, format!("{base}\n[charges.futures]\nstt_sell_pct = -1\n")).expect("write");
    let o = dalal()
        .args(["charges", "--segment", "futures", "--side", "sell", "--price", "1", "--qty", "1", "--config"])
        .arg(&cfg)
        .output()
        .expect("run");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("charges.futures.stt_sell_pct"));
}

#[test]
fn convert_round_trips_and_backtests_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (csv, bin, back) = (dir.path().join("t.csv"), dir.path().join("t.bin"), dir.path().join("back.csv"));
    let out =
        run_ok(&["gen", "--out", csv.to_str().unwrap_or(""), "--ticks", "20000", "--symbols", "RELIANCE,TCS,INFY"]);
    assert!(out.contains("20000 ticks"));
    run_ok(&["convert", "--from", csv.to_str().unwrap_or(""), "--to", bin.to_str().unwrap_or("")]);
    run_ok(&["convert", "--from", bin.to_str().unwrap_or(""), "--to", back.to_str().unwrap_or("")]);
    assert_eq!(std::fs::read(&csv).ok(), std::fs::read(&back).ok());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run_ok(&["backtest", "--data", csv.to_str().unwrap_or(""), "--out", a.to_str().unwrap_or("")]);
    run_ok(&["backtest", "--data", bin.to_str().unwrap_or(""), "--out", b.to_str().unwrap_or("")]);
    for f in ["orders.csv", "fills.csv", "summary.json"] {
        assert_eq!(std::fs::read(a.join(f)).ok(), std::fs::read(b.join(f)).ok(), "{f}");
    }
}

#[test]
fn file_replay_in_run_matches_the_backtest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("t.csv");
    run_ok(&[
        "gen",
        "--out",
        csv.to_str().unwrap_or(""),
        "--ticks",
        "30000",
        "--symbols",
        "RELIANCE,TCS,INFY,HDFCBANK",
    ]);
    let bt = dir.path().join("bt");
    run_ok(&["backtest", "--data", csv.to_str().unwrap_or(""), "--out", bt.to_str().unwrap_or("")]);
    let json = dir.path().join("run.json");
    let feed = format!("csv:{}", csv.display());
    run_ok(&["run", "--feed", &feed, "--speed", "max", "--summary-json", json.to_str().unwrap_or("")]);
    let a: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bt.join("summary.json")).expect("bt")).expect("json");
    let b: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("run")).expect("json");
    assert!(a["orders"].as_u64().unwrap_or(0) > 0);
    for k in ["ticks_in", "orders", "fills", "signals"] {
        assert_eq!(a[k], b[k], "{k}");
    }
    assert_eq!(a["accounts"], b["accounts"]);
}

#[test]
fn a_duplicated_binary_record_is_counted_in_the_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (csv, bin) = (dir.path().join("t.csv"), dir.path().join("t.bin"));
    run_ok(&["gen", "--out", csv.to_str().unwrap_or(""), "--ticks", "2000", "--symbols", "RELIANCE"]);
    run_ok(&["convert", "--from", csv.to_str().unwrap_or(""), "--to", bin.to_str().unwrap_or("")]);
    let mut b = std::fs::read(&bin).expect("bin");
    // Records are the last 2000 × 32 bytes; give record 11 the sequence number of record 10.
    let start = b.len() - 2000 * 32;
    let (r10, r11) = (start + 9 * 32, start + 10 * 32);
    let seq: Vec<u8> = b[r10 + 28..r10 + 32].to_vec();
    b[r11 + 28..r11 + 32].copy_from_slice(&seq);
    std::fs::write(&bin, b).expect("write");
    let out = dir.path().join("o");
    run_ok(&["backtest", "--data", bin.to_str().unwrap_or(""), "--out", out.to_str().unwrap_or("")]);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary")).expect("json");
    assert_eq!(s["ticks_rejected"]["duplicate_sequence"], 1);
    assert_eq!(s["ticks_in"], 2000);
    assert_eq!(s["ticks_accepted"], 1999);
}
