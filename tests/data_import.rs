//! `dalal data import bhavcopy`, `dalal data list` and `dalal backtest --stored 1d`, run as a
//! user runs them on NSE's end-of-day files: sixty sessions in both of NSE's layouts (legacy
//! files, then UDiFF), with the rows NSE files really carry besides (other series, the
//! derivatives segment, a security that did not trade) and a damaged row. The backtest's fills
//! are checked against the documented fill assumptions; the cache, the store and a run with
//! the cache off give the same files; a corrected file replaces its day and a damaged cache is
//! rebuilt from the store.

mod cli;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use cli::{dalal, text};
use dalal_core::model::Date;
use dalal_persistence::candle_cache::CandleCache;

const SYMBOLS: [(&str, i64); 3] = [("INFY", 150_000), ("RELIANCE", 142_000), ("TCS", 400_000)];
const DAYS: usize = 60;
/// One generated day of one symbol: open, high, low, close in paise, volume.
type Day = (Date, [i64; 4], u64);

/// The first `DAYS` weekdays from Monday 2026-01-05.
fn dates() -> Vec<Date> {
    let first = Date::parse("2026-01-05").expect("date").days_since_epoch();
    (0..)
        .map(|k| first + k)
        .filter(|d| (d + 3).rem_euclid(7) < 5)
        .take(DAYS)
        .map(|d| Date::from_days(d).expect("date"))
        .collect()
}

/// A seeded walk of daily bars on a 5-paise grid, trending up then down so that an EMA
/// crossover trades both ways.
fn history(base: i64, seed: u64) -> Vec<Day> {
    let mut s = seed;
    let mut next = |n: u64| {
        s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (s >> 33) % n
    };
    let mut close = base;
    dates()
        .into_iter()
        .enumerate()
        .map(|(k, date)| {
            let drift = if (k / 12) % 2 == 0 { 60 } else { -60 };
            let open = close + (next(21) as i64 - 10) * 5;
            close = (open + drift * 5 + (next(41) as i64 - 20) * 5).max(1_000);
            let high = open.max(close) + next(30) as i64 * 5;
            let low = open.min(close) - next(30) as i64 * 5;
            (date, [open, high, low, close], 100_000 + next(900_000))
        })
        .collect()
}

fn rupees(p: i64) -> String {
    format!("{}.{:02}", p / 100, p % 100)
}

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];

/// A legacy CM bhavcopy of day `k`, with a BE-series security, one that did not trade (NSE
/// writes the previous close and no volume) and, on day 3, a row whose price has three decimals.
fn legacy(k: usize, all: &BTreeMap<&str, Vec<Day>>) -> String {
    let date = all["TCS"][k].0;
    let ts = format!("{:02}-{}-{}", date.day(), MONTHS[date.month() as usize - 1], date.year());
    let mut out = String::from(
        "SYMBOL,SERIES,OPEN,HIGH,LOW,CLOSE,LAST,PREVCLOSE,TOTTRDQTY,TOTTRDVAL,TIMESTAMP,TOTALTRADES,ISIN,\n",
    );
    for (sym, days) in all {
        let (_, [o, h, l, c], v) = days[k];
        let p = [o, h, l, c].map(rupees);
        out += &format!(
            "{sym},EQ,{},{},{},{},{},{},{v},1.0,{ts},1234,INE000000001,\n",
            p[0], p[1], p[2], p[3], p[3], p[0]
        );
    }
    out += &format!("SMALLCO,BE,10.00,10.50,9.90,10.20,10.20,10.00,500,5100.0,{ts},12,INE000000002,\n");
    out += &format!("SLEEPY,EQ,55.00,55.00,55.00,55.00,55.00,55.00,0,0.0,{ts},0,INE000000003,\n");
    if k == 3 {
        out += &format!("ODDLOT,EQ,12.345,13.00,12.00,12.50,12.50,12.00,10,125.0,{ts},1,INE000000004,\n");
    }
    out
}

/// A UDiFF CM bhavcopy of day `k`, CRLF line ends, with a derivatives row and a BE row.
fn udiff(k: usize, all: &BTreeMap<&str, Vec<Day>>) -> String {
    let date = all["TCS"][k].0;
    let d = format!("{date}");
    let mut out = String::from(
        "TradDt,BizDt,Sgmt,Src,FinInstrmTp,FinInstrmId,ISIN,TckrSymb,SctySrs,XpryDt,FininstrmActlXpryDt,StrkPric,\
         OptnTp,FinInstrmNm,OpnPric,HghPric,LwPric,ClsPric,LastPric,PrvsClsgPric,UndrlygPric,SttlmPric,OpnIntrst,\
         ChngInOpnIntrst,TtlTradgVol,TtlTrfVal,TtlNbOfTxsExctd,SsnId,NewBrdLotQty,Rmks,Rsvd1,Rsvd2,Rsvd3,Rsvd4\r\n",
    );
    for (i, (sym, days)) in all.iter().enumerate() {
        let (_, [o, h, l, c], v) = days[k];
        let p = [o, h, l, c].map(rupees);
        out += &format!(
            "{d},{d},CM,NSE,STK,{},INE00000000{i},{sym},EQ,,,,,{sym} LTD,{},{},{},{},{},{},,{},,,{v},1.0,1234,F1,1,,,,,\r\n",
            1000 + i,
            p[0],
            p[1],
            p[2],
            p[3],
            p[3],
            p[0],
            p[3]
        );
    }
    out += &format!("{d},{d},FO,NSE,STF,35001,INE000000009,TCS,,{d},{d},,,TCS FUT,4000.00,4010.00,3990.00,4005.00,4005.00,4000.00,4001.00,4005.00,100,5,300,1.0,10,F1,175,,,,,\r\n");
    out += &format!("{d},{d},CM,NSE,STK,2001,INE000000002,SMALLCO,BE,,,,,SMALLCO LTD,10.00,10.50,9.90,10.20,10.20,10.00,,10.20,,,500,5100.0,12,F1,1,,,,,\r\n");
    out
}

/// Writes the sixty days: the first thirty as legacy files, the rest as UDiFF; returns them.
fn write_files(dir: &Path, all: &BTreeMap<&str, Vec<Day>>) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir.join("bhav")).expect("dir");
    (0..DAYS)
        .map(|k| {
            let date = all["TCS"][k].0;
            let (name, body) = if k < 30 {
                (
                    format!("cm{:02}{}{}bhav.csv", date.day(), MONTHS[date.month() as usize - 1], date.year()),
                    legacy(k, all),
                )
            } else {
                (format!("BhavCopy_NSE_CM_0_0_0_{}_F_0000.csv", date.to_string().replace('-', "")), udiff(k, all))
            };
            let path = dir.join("bhav").join(name);
            std::fs::write(&path, body).expect("file");
            path
        })
        .collect()
}

/// EMA crossovers on day bars for the three symbols; positions kept from day to day.
fn config(dir: &Path) -> PathBuf {
    let mut text = String::from(
        "[engine]\ntimeframes = []\nlatency_sample_every = 0\n\n[risk]\nmis_square_off = \"\"\n\n[paper]\n\
         ack_delay_ms = 0\nfill_delay_ms = 0\n",
    );
    for (sym, base) in SYMBOLS {
        text += &format!(
            "\n[[instruments]]\nsymbol = \"{sym}\"\nsegment = \"NSE_EQ\"\ntick_size = 0.05\nlot_size = 1\n\
             ref_price = {}\nband_pct = 0\n",
            rupees(base)
        );
    }
    text += "\n[[accounts]]\nname = \"swing\"\n[accounts.limits]\nmax_order_qty = 1000\nmax_order_value = 10000000.0\n\
             max_position_qty = 1000\n";
    for (sym, _) in SYMBOLS {
        text += &format!(
            "[[accounts.strategies]]\nkind = \"ema_cross\"\ninstrument = \"{sym}\"\ntimeframe = \"1d\"\nfast = 3\n\
             slow = 8\nqty = 10\nallow_short = true\n"
        );
    }
    let path = dir.join("swing.toml");
    std::fs::write(&path, text).expect("config");
    path
}

fn run(d: &Path, args: &[&str]) -> Output {
    let out = dalal(d, args, "");
    assert!(out.status.success(), "dalal {args:?}: {}", text(&out));
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn generated() -> BTreeMap<&'static str, Vec<Day>> {
    SYMBOLS.iter().enumerate().map(|(i, (sym, base))| (*sym, history(*base, 11 + i as u64))).collect()
}

/// A directory with the sixty generated days written as bhavcopy files and the config.
fn fixture() -> (tempfile::TempDir, BTreeMap<&'static str, Vec<Day>>, Vec<PathBuf>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = generated();
    let files = write_files(dir.path(), &all);
    let cfg = config(dir.path()).to_str().expect("path").to_string();
    (dir, all, files, cfg)
}

/// `dalal data import bhavcopy` of `files` into the SQLite store under `d/store`.
fn import(d: &Path, cfg: &str, files: &[PathBuf]) -> Output {
    let mut args = vec!["data", "import", "bhavcopy", "--config", cfg, "--data-dir", "store"];
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    dalal(d, &args, "")
}

fn list(d: &Path, cfg: &str) -> Vec<serde_json::Value> {
    let out = run(d, &["data", "list", "--json", "--config", cfg, "--data-dir", "store"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("JSON").as_array().cloned().unwrap_or_default()
}

#[test]
fn sixty_sessions_of_bhavcopy_are_stored_listed_and_backtested_with_next_open_fills() {
    let (dir, all, files, cfg) = fixture();
    let (d, cfg) = (dir.path(), cfg.as_str());

    let out = import(d, cfg, &files);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("Legacy layout, 5 row(s), kept 3, skipped 2"), "{said}");
    assert!(said.contains("Legacy layout, 6 row(s), kept 3, skipped 3"), "day 3 has the odd row: {said}");
    assert!(said.contains("Udiff layout, 5 row(s), kept 3, skipped 2"), "{said}");
    assert!(said.contains("1 price"), "the three-decimal price is named: {said}");
    assert!(said.contains("60 trading day(s), 2026-01-05 to 2026-03-27"), "{said}");
    assert!(said.contains("stored 180 bar(s) of 3 symbol(s) at 1d from nse-bhavcopy"), "{said}");
    assert!(said.contains("cache: 3 series file(s)"), "{said}");

    let rows = list(d, cfg);
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (row, (sym, _)) in rows.iter().zip(SYMBOLS) {
        assert_eq!(row["symbol"], sym);
        assert_eq!(row["timeframe"], "1d");
        assert_eq!(row["source"], "nse-bhavcopy");
        assert_eq!(row["bars"], 60);
        assert_eq!((row["first"].as_str(), row["last"].as_str()), (Some("2026-01-05"), Some("2026-03-27")));
        assert_eq!(row["cached"], "yes");
    }
    // The cached copy holds the files' numbers exactly.
    let cache = CandleCache::new(d.join("store/candles"));
    let tcs = cache.read("TCS", "1d").expect("readable").expect("cached");
    for (k, (date, [o, h, l, c], v)) in all["TCS"].iter().enumerate() {
        assert_eq!(tcs.start_ns[k], date.ist_midnight().0 + 9 * 3600 * 1_000_000_000 + 15 * 60 * 1_000_000_000);
        assert_eq!([tcs.open[k], tcs.high[k], tcs.low[k], tcs.close[k], tcs.volume[k]], [*o, *h, *l, *c, *v as i64]);
    }
    let table = text(&run(d, &["data", "list", "--config", cfg, "--data-dir", "store"]));
    assert!(table.contains("180 bar(s) of 3 symbol(s)"), "{table}");

    // The backtest on the stored day bars.
    let said = text(&run(d, &["backtest", "--config", cfg, "--stored", "1d", "--data-dir", "store", "--out", "run"]));
    assert!(said.contains("3 series from the cache, 0 from the store"), "{said}");
    let summary: serde_json::Value = serde_json::from_str(&read(&d.join("run/summary.json"))).expect("JSON");
    assert_eq!((summary["ticks_in"].as_u64(), summary["ticks_accepted"].as_u64()), (Some(720), Some(720)));
    // Fill assumption: a strategy acts on a day's bar at the next session's first trade, and
    // a market order fills there, at that day's open.
    let fills = read(&d.join("run/fills.csv"));
    let mut n = 0;
    for line in fills.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (sym, price, ts): (&str, &str, i64) = (f[4], f[7], f[9].parse().expect("ts"));
        let day = all[sym]
            .iter()
            .position(|(date, _, _)| date.ist_midnight().0 + 3_600_000_000_000 * 9 + 900_000_000_000 == ts);
        let k = day.unwrap_or_else(|| panic!("fill at {ts} is not a session open: {line}"));
        assert!(k > 0, "nothing fills on the first day, before any bar closed");
        assert_eq!(price, rupees(all[sym][k].1[0]), "{line}");
        n += 1;
    }
    assert!(n >= 6, "the crossovers traded: {fills}\n{}\n{said}", read(&d.join("run/orders.csv")));
    let equity = read(&d.join("run/equity.csv"));
    let dates: Vec<&str> = equity.lines().skip(1).map(|l| l.split(',').next().unwrap_or_default()).collect();
    assert_eq!(dates.len(), DAYS);
    assert_eq!(dates.first().copied(), Some("2026-01-05"));
    assert!(d.join("run/report.html").is_file() && d.join("run/weekly.csv").is_file());

    // The same files from the store (the cache gone, then rebuilt) and with the cache off.
    std::fs::remove_dir_all(d.join("store/candles")).expect("cache removed");
    let said =
        text(&run(d, &["backtest", "--config", cfg, "--stored", "1d", "--data-dir", "store", "--out", "store-run"]));
    assert!(said.contains("0 series from the cache, 3 from the store"), "{said}");
    assert!(d.join("store/candles/1d/TCS.bars").is_file(), "rewritten");
    let off = cli::command()
        .args(["backtest", "--config", cfg, "--stored", "1d", "--data-dir", "store", "--out", "off-run"])
        .env("DALAL_PERSISTENCE__CANDLE_CACHE", "")
        .current_dir(d)
        .output()
        .expect("dalal runs");
    assert!(off.status.success(), "{}", text(&off));
    for run_dir in ["store-run", "off-run"] {
        for file in ["orders.csv", "fills.csv", "summary.json", "equity.csv", "trades.csv", "metrics.json"] {
            assert_eq!(read(&d.join("run").join(file)), read(&d.join(run_dir).join(file)), "{run_dir}/{file}");
        }
    }

    // A range of days.
    run(
        d,
        &[
            "backtest",
            "--config",
            cfg,
            "--stored",
            "1d",
            "--from",
            "2026-02-02",
            "--to",
            "2026-02-27",
            "--data-dir",
            "store",
            "--out",
            "feb",
        ],
    );
    let summary: serde_json::Value = serde_json::from_str(&read(&d.join("feb/summary.json"))).expect("JSON");
    assert_eq!(summary["ticks_in"], 3 * 20 * 4);
    let equity = read(&d.join("feb/equity.csv"));
    let dates: Vec<&str> = equity.lines().skip(1).map(|l| l.split(',').next().unwrap_or_default()).collect();
    assert_eq!(
        (dates.len(), dates.first().copied(), dates.last().copied()),
        (20, Some("2026-02-02"), Some("2026-02-27"))
    );
}

#[test]
fn a_corrected_file_replaces_its_day_and_a_damaged_cache_is_rebuilt() {
    let (dir, mut all, files, cfg) = fixture();
    let (d, cfg) = (dir.path(), cfg.as_str());
    assert!(import(d, cfg, &files).status.success());

    // NSE re-issues day 40 with TCS's close corrected.
    let (_, ohlc, _) = &mut all.get_mut("TCS").expect("TCS")[40];
    ohlc[3] = ohlc[2];
    let fixed = d.join("fixed.csv");
    std::fs::write(&fixed, udiff(40, &all)).expect("file");
    let said = text(&import(d, cfg, std::slice::from_ref(&fixed)));
    assert!(said.contains("stored 3 bar(s) of 3 symbol(s)"), "{said}");
    let cache = CandleCache::new(d.join("store/candles"));
    let tcs = cache.read("TCS", "1d").expect("readable").expect("cached");
    assert_eq!((tcs.len(), tcs.close[40]), (60, all["TCS"][40].1[2]), "the day replaced, not added");
    assert!(list(d, cfg).iter().all(|r| r["bars"] == 60 && r["cached"] == "yes"));

    // A damaged cache file is named in the list, read around and rewritten.
    let path = d.join("store/candles/1d/INFY.bars");
    let mut bytes = std::fs::read(&path).expect("bytes");
    bytes[60] ^= 0xff;
    std::fs::write(&path, &bytes).expect("write");
    let rows = list(d, cfg);
    assert_eq!(
        rows.iter().map(|r| r["cached"].as_str().unwrap_or_default()).collect::<Vec<_>>(),
        ["damaged", "yes", "yes"]
    );
    let out = run(d, &["backtest", "--config", cfg, "--stored", "1d", "--data-dir", "store", "--out", "run"]);
    let said = text(&out);
    assert!(said.contains("2 series from the cache, 1 from the store"), "{said}");
    assert!(said.contains("checksum mismatch"), "the damage is reported: {said}");
    assert!(list(d, cfg).iter().all(|r| r["cached"] == "yes"));
}

#[test]
fn files_that_are_not_bhavcopies_are_refused_and_nothing_is_stored() {
    let (dir, all, files, cfg) = fixture();
    let (d, cfg) = (dir.path(), cfg.as_str());
    let zip = d.join("cm05JAN2026bhav.csv.zip");
    std::fs::write(&zip, b"PK\x03\x04\x14\x00\x00\x00rest of a zip").expect("zip");
    let other = d.join("ticks.csv");
    std::fs::write(&other, "ts_ns,symbol,price,qty\n1,TCS,4000.00,1\n").expect("csv");
    let bad_rows = d.join("bad.csv");
    std::fs::write(&bad_rows, legacy(0, &all).replace(",EQ,", ",XX,")).expect("csv");
    for (file, says) in [
        (&zip, "zip archive"),
        (&other, "ts_ns,symbol,price,qty"),
        (&bad_rows, "no row kept"),
        (&d.join("missing.csv"), "missing.csv"),
    ] {
        let f0 = files[0].display().to_string();
        let f = file.display().to_string();
        let out = dalal(d, &["data", "import", "bhavcopy", "--config", cfg, "--data-dir", "store", &f0, &f], "");
        assert!(!out.status.success(), "{f}");
        assert!(text(&out).contains(says), "{f}: {}", text(&out));
    }
    assert!(list(d, cfg).is_empty(), "a refused import stores nothing, not even the good file before it");
    let out = dalal(d, &["backtest", "--config", cfg, "--stored", "1d", "--data-dir", "store", "--out", "run"], "");
    assert!(!out.status.success());
    assert!(text(&out).contains("no stored 1d bars"), "{}", text(&out));
    let out = dalal(d, &["backtest", "--config", cfg, "--stored", "1w", "--data-dir", "store", "--out", "run"], "");
    assert!(text(&out).contains("--stored \"1w\""), "{}", text(&out));
    let out = dalal(d, &["backtest", "--config", cfg, "--out", "run"], "");
    assert!(text(&out).contains("--stored"), "either input is named: {}", text(&out));
}

/// The same import, list and backtest on PostgreSQL (a schema of its own) give what they give
/// on SQLite: the same series and byte-identical run files.
#[test]
fn postgresql_stores_the_same_bars_and_backtests_the_same() {
    let Some(schema) = cli::PgTestSchema::create("bars") else { return };
    let url = schema.url();
    let (dir, _, files, cfg) = fixture();
    let (d, cfg) = (dir.path(), cfg.as_str());
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    for (store, url) in [("lite", None), ("pg", Some(url.as_str()))] {
        let dalal_on = |args: &[&str]| {
            let mut c = cli::command();
            c.args(args).current_dir(d);
            if let Some(u) = url {
                c.env("DALAL_PERSISTENCE__DATABASE_URL", u);
            }
            let out = c.output().expect("dalal runs");
            assert!(out.status.success(), "{store} {args:?}: {}", text(&out));
            out
        };
        let mut args = vec!["data", "import", "bhavcopy", "--config", cfg, "--data-dir", store];
        args.extend(names.iter().map(String::as_str));
        dalal_on(&args);
        let out = dalal_on(&["data", "list", "--json", "--config", cfg, "--data-dir", store]);
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let rows = rows.as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), 3, "{store}: {rows:?}");
        assert!(rows.iter().all(|r| r["bars"] == 60 && r["cached"] == "yes"), "{store}: {rows:?}");
        let run_dir = format!("run-{store}");
        dalal_on(&["backtest", "--config", cfg, "--stored", "1d", "--data-dir", store, "--out", &run_dir]);
    }
    for file in ["orders.csv", "fills.csv", "summary.json", "equity.csv", "metrics.json"] {
        assert_eq!(read(&d.join("run-lite").join(file)), read(&d.join("run-pg").join(file)), "{file}");
    }
}
