//! `dalal broker history` run as an operator runs it, against the fake Kite server: the
//! broker's bars come back exactly from the tick file it writes and a backtest runs on that
//! file; long ranges go out in pieces within Kite's per-request span at no more than three
//! requests a second; a failed piece leaves no file; rows that cannot be bars are skipped and
//! reported; the candles format is checked field by field.

mod cli;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use cli::{dalal, text};
use dalal_brokers::fake::kite::{FakeKite, FakeUser, RecordedRequest};

const API_KEY: &str = "kitehistkey7";
const API_SECRET: &str = "kite-hist-secret-3b9a41";
const USER: &str = "HQ4410";
const INFY: u64 = 408_065;
const SBIN: u64 = 779_521;
/// 2026-01-05 (a Monday) 09:15:00 IST, seconds since the epoch.
const MON_0915: i64 = 1_767_584_700;

type Row = (String, [f64; 4], i64, i64);

/// `dalal broker history` in `d` with an API key and access token for the fake at `root`.
fn history(d: &Path, root: &str, token: &str, args: &[&str]) -> Output {
    let mut all = vec!["broker", "history", "--root", root, "--api-key", API_KEY, "--access-token", token];
    all.extend_from_slice(args);
    dalal(d, &all, "")
}

/// Command-line words.
fn w(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

fn kite() -> (FakeKite, String) {
    let f = FakeKite::start_in_background().expect("fake kite");
    f.add_user(FakeUser::new(USER, API_KEY, API_SECRET));
    let token = f.issue_access_token(API_KEY).expect("token");
    (f, token)
}

/// INFY and SBIN with Kite tokens, TCS without; an EMA crossover on INFY's minute bars.
fn config(dir: &Path) -> PathBuf {
    let path = dir.join("history.toml");
    let text = format!(
        r#"
[engine]
timeframes = []
latency_sample_every = 0

[[instruments]]
symbol = "INFY"
segment = "NSE_EQ"
tick_size = 0.05
lot_size = 1
ref_price = 1500.00
band_pct = 20
tokens = {{ kite = {INFY} }}

[[instruments]]
symbol = "SBIN"
segment = "NSE_EQ"
tick_size = 0.05
lot_size = 1
ref_price = 800.00
band_pct = 20
tokens = {{ kite = {SBIN} }}

[[instruments]]
symbol = "TCS"
segment = "NSE_EQ"
tick_size = 0.10
lot_size = 1
ref_price = 4000.00
band_pct = 20

[[accounts]]
name = "quant"
[accounts.limits]
max_order_qty = 1000
max_order_value = 2000000.0
max_position_qty = 1000
[[accounts.strategies]]
kind = "ema_cross"
instrument = "INFY"
timeframe = "1m"
fast = 5
slow = 13
qty = 10
allow_short = true
"#
    );
    std::fs::write(&path, text).expect("config");
    path
}

/// Kite's time text of minute `k` of the session on day `day` (0 = Monday 2026-01-05).
fn kite_time(day: i64, k: i64) -> String {
    let m = 9 * 60 + 15 + k;
    format!("2026-01-{:02}T{:02}:{:02}:00+0530", 5 + day, m / 60, m % 60)
}

/// Two sessions of minute bars on a 5-paise grid around `base` paise: a seeded walk whose
/// bars open at, above and below the previous close, with the open at the high, at the low
/// and in between, and volumes of at least 4.
fn minute_bars(base: i64, seed: u64) -> Vec<Row> {
    let mut s = seed;
    let mut next = |n: u64| {
        s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (s >> 33) % n
    };
    let mut close = base;
    let mut rows = Vec::new();
    for day in 0..2 {
        for k in 0..375 {
            let open = close + (next(3) as i64 - 1) * 5;
            let high = open + next(4) as i64 * 5;
            let low = open - next(4) as i64 * 5;
            close = low + next(((high - low) / 5 + 1) as u64) as i64 * 5;
            let volume = 4 + next(5000) as i64;
            let r = |p: i64| p as f64 / 100.0;
            rows.push((kite_time(day, k), [r(open), r(high), r(low), r(close)], volume, 0));
        }
    }
    rows
}

fn rupees(paise_text: f64) -> String {
    format!("{paise_text:.2}")
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).expect("output").lines().map(str::to_string).collect()
}

fn historical(f: &FakeKite) -> Vec<RecordedRequest> {
    f.requests().into_iter().filter(|r| r.path.starts_with("/instruments/historical/")).collect()
}

fn query<'a>(r: &'a RecordedRequest, key: &str) -> &'a str {
    r.query.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str())
}

/// Files in `dir` besides the config: what a command left behind.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n != "history.toml" && n != "data")
        .collect();
    names.sort();
    names
}

#[test]
fn ticks_give_back_the_brokers_bars_and_a_backtest_runs_on_them() {
    let (f, token) = kite();
    let infy = minute_bars(150_000, 7);
    let sbin = minute_bars(80_000, 11);
    f.set_candles(INFY, "minute", infy.clone());
    f.set_candles(SBIN, "minute", sbin.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = config(d);
    let cfg = cfg.to_str().expect("path");
    let args = format!(
        "--config {cfg} --instrument SBIN --instrument INFY --interval minute --from 2026-01-05 --to 2026-01-06 \
         --out ticks.csv"
    );
    let out = history(d, &f.root(), &token, &w(&args));
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(&token), "the access token shows");
    assert!(String::from_utf8_lossy(&out.stdout).contains("6000 ticks from 1500 bars"), "{}", text(&out));
    let requests = historical(&f);
    assert_eq!(requests.len(), 2, "two days of minute bars fit one request per instrument");
    assert_eq!(requests[0].path, format!("/instruments/historical/{SBIN}/minute"));
    let range = (query(&requests[0], "from"), query(&requests[0], "to"));
    assert_eq!(range, ("2026-01-05 00:00:00", "2026-01-06 23:59:59"));
    assert_eq!((query(&requests[0], "oi"), query(&requests[0], "continuous")), ("1", "0"));

    // The tick file: in time order, each bar's four trades inside its minute, adding up to
    // its volume.
    let ticks = lines(&d.join("ticks.csv"));
    assert_eq!(ticks[0], "ts_ns,symbol,price,qty");
    assert_eq!(ticks.len(), 1 + 4 * 1500);
    let parsed: Vec<(i64, String, String, u64)> = ticks[1..]
        .iter()
        .map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            (v[0].parse().expect("ts"), v[1].to_string(), v[2].to_string(), v[3].parse().expect("qty"))
        })
        .collect();
    assert!(parsed.windows(2).all(|w| w[0].0 <= w[1].0), "sorted by time");
    for (symbol, bars) in [("INFY", &infy), ("SBIN", &sbin)] {
        let mine: Vec<&(i64, String, String, u64)> = parsed.iter().filter(|t| t.1 == symbol).collect();
        assert_eq!(mine.len(), 4 * bars.len());
        for (i, (_, [o, h, l, c], v, _)) in bars.iter().enumerate() {
            let four = &mine[4 * i..4 * i + 4];
            let start = (MON_0915 + (i as i64 / 375) * 86_400 + (i as i64 % 375) * 60) * 1_000_000_000;
            assert!(four.iter().all(|t| (start..start + 60_000_000_000).contains(&t.0)), "bar {i} of {symbol}");
            assert_eq!(four.iter().map(|t| t.3).sum::<u64>(), *v as u64);
            let prices: Vec<&str> = four.iter().map(|t| t.2.as_str()).collect();
            let (o, h, l, c) = (rupees(*o), rupees(*h), rupees(*l), rupees(*c));
            assert_eq!((prices[0], prices[3]), (o.as_str(), c.as_str()), "open first, close last");
            let mut mid = [prices[1], prices[2]];
            mid.sort();
            let mut want = [h.as_str(), l.as_str()];
            want.sort();
            assert_eq!(mid, want);
        }
    }

    // `dalal candles` at the broker's interval gives the broker's bars back.
    let out = dalal(d, &["candles", "--data", "ticks.csv", "--timeframe", "1m", "--out", "bars.csv"], "");
    assert!(out.status.success(), "{}", text(&out));
    let got = lines(&d.join("bars.csv"));
    let mut want = vec!["ts_ns,symbol,open,high,low,close,volume".to_string()];
    for i in 0..750usize {
        let start = (MON_0915 + (i as i64 / 375) * 86_400 + (i as i64 % 375) * 60) * 1_000_000_000;
        for (symbol, bars) in [("INFY", &infy), ("SBIN", &sbin)] {
            let (_, [o, h, l, c], v, _) = &bars[i];
            let p = |x: &f64| rupees(*x);
            want.push(format!("{start},{symbol},{},{},{},{},{v}", p(o), p(h), p(l), p(c)));
        }
    }
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }

    // A backtest takes every tick.
    let out = dalal(d, &["backtest", "--config", cfg, "--data", "ticks.csv", "--out", "run"], "");
    assert!(out.status.success(), "{}", text(&out));
    for file in ["orders.csv", "fills.csv", "summary.json"] {
        assert!(d.join("run").join(file).is_file(), "{file}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("run/summary.json")).expect("summary")).expect("JSON");
    assert_eq!(summary["ticks_in"], 6000, "{summary}");
    assert_eq!(summary["ticks_accepted"], 6000, "{summary}");
    assert!(summary["candles"].as_u64().is_some_and(|n| n >= 749), "{summary}");
}

#[test]
fn a_long_range_goes_out_in_pieces_at_most_three_a_second() {
    let (f, token) = kite();
    let row = |t: &str, p: f64| (t.to_string(), [p, p + 1.0, p - 1.0, p], 100, 0);
    f.set_candles(
        INFY,
        "minute",
        vec![
            row("2026-01-01T09:15:00+0530", 1500.0),
            row("2026-03-01T15:29:00+0530", 1501.0),
            row("2026-03-02T09:15:00+0530", 1502.0),
            row("2026-07-31T15:29:00+0530", 1503.0),
            row("2026-08-03T09:15:00+0530", 1504.0),
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let args = format!(
        "--token INFY={INFY} --token SBIN={SBIN} --interval minute --from 2026-01-01 --to 2026-07-31 \
         --format candles --out c.csv"
    );
    let out = history(d, &f.root(), &token, &w(&args));
    assert!(out.status.success(), "{}", text(&out));
    let requests = historical(&f);
    let pieces = [
        ("2026-01-01 00:00:00", "2026-03-01 23:59:59"),
        ("2026-03-02 00:00:00", "2026-04-30 23:59:59"),
        ("2026-05-01 00:00:00", "2026-06-29 23:59:59"),
        ("2026-06-30 00:00:00", "2026-07-31 23:59:59"),
    ];
    let want: Vec<(String, &str, &str)> = [INFY, SBIN]
        .iter()
        .flat_map(|t| pieces.iter().map(move |(a, b)| (format!("/instruments/historical/{t}/minute"), *a, *b)))
        .collect();
    let got: Vec<(String, &str, &str)> =
        requests.iter().map(|r| (r.path.clone(), query(r, "from"), query(r, "to"))).collect();
    assert_eq!(got, want, "each piece under 60 days, end to end without overlap");
    // Kite counts requests as they arrive: any four arrivals span a second or more.
    for w in requests.windows(4) {
        let spread = w[3].received.saturating_sub(w[0].received);
        assert!(spread >= Duration::from_secs(1), "four requests within {spread:?}");
    }
    let got = lines(&d.join("c.csv"));
    assert_eq!(
        got[1..].iter().map(|l| l.split(',').next().unwrap_or_default()).collect::<Vec<_>>(),
        [
            "2026-01-01T09:15:00+0530",
            "2026-03-01T15:29:00+0530",
            "2026-03-02T09:15:00+0530",
            "2026-07-31T15:29:00+0530"
        ],
        "the bars either side of a piece's edge, once each"
    );
}

#[test]
fn a_failed_piece_fails_the_command_and_writes_nothing() {
    let (f, token) = kite();
    f.set_candles(INFY, "minute", minute_bars(150_000, 3));
    f.set_candles(SBIN, "minute", minute_bars(80_000, 5));
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = config(d);
    let cfg = cfg.to_str().expect("path");
    let root = f.root();
    let run = |extra: &[&str], root: &str, token: &str| {
        let mut args = w("--interval minute --from 2026-01-05 --to 2026-01-06 --out ticks.csv --config");
        args.push(cfg);
        args.extend_from_slice(extra);
        history(d, root, token, &args)
    };
    let both = ["--instrument", "INFY", "--instrument", "SBIN"];

    // The session expires between two instruments: the first's bars are not written alone,
    // and a file already there stays as it was.
    std::fs::write(d.join("ticks.csv"), "earlier\n").expect("write");
    f.fail_next(
        Some("GET"),
        &format!("/instruments/historical/{SBIN}/"),
        403,
        "TokenException",
        "Token is invalid or has expired.",
    );
    let out = run(&both, &root, &token);
    assert!(!out.status.success());
    let said = text(&out);
    for part in
        ["session_expired", "SBIN", "2026-01-05 00:00:00 to 2026-01-06 23:59:59", "Token is invalid or has expired."]
    {
        assert!(said.contains(part), "{part:?} missing: {said}");
    }
    assert!(!said.contains(&token), "{said}");
    assert_eq!(std::fs::read_to_string(d.join("ticks.csv")).expect("file"), "earlier\n");
    assert_eq!(leftovers(d), ["ticks.csv"]);
    std::fs::remove_file(d.join("ticks.csv")).expect("rm");

    // Bad input, as Kite reports it.
    f.fail_next(Some("GET"), "/instruments/historical/", 400, "InputException", "invalid from date");
    let out = run(&both, &root, &token);
    assert!(!out.status.success() && text(&out).contains("input") && text(&out).contains("INFY"), "{}", text(&out));
    assert!(text(&out).contains("invalid from date"), "{}", text(&out));
    assert!(leftovers(d).is_empty(), "{:?}", leftovers(d));

    // Nobody answers.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let out = run(&both, &closed, &token);
    assert!(!out.status.success() && text(&out).contains("no answer"), "{}", text(&out));
    assert!(leftovers(d).is_empty(), "{:?}", leftovers(d));

    // What is asked for must resolve before anything is sent.
    let before = historical(&f).len();
    for (extra, says) in [
        (&["--instrument", "TCS"][..], "no Kite token"),
        (&["--instrument", "NOPE"][..], "not an instrument"),
        (&["--token", "INFY=abc"][..], "SYMBOL=N"),
        (&["--instrument", "INFY", "--token", "INFY=1"][..], "twice"),
        (&[][..], "--instrument"),
    ] {
        let out = run(extra, &root, &token);
        assert!(!out.status.success() && text(&out).contains(says), "{extra:?}: {}", text(&out));
    }
    let args = w("--token INFY=1 --interval minute --from 2026-01-06 --to 2026-01-05 --out x.csv");
    let out = history(d, &root, &token, &args);
    assert!(!out.status.success() && text(&out).contains("after --to"), "{}", text(&out));
    let args = w("--token INFY=1 --interval minute --from 2026-02-30 --to 2026-03-05 --out x.csv");
    let out = history(d, &root, &token, &args);
    assert!(!out.status.success() && text(&out).contains("--from \"2026-02-30\""), "{}", text(&out));
    assert_eq!(historical(&f).len(), before, "nothing sent");
    assert!(leftovers(d).is_empty(), "{:?}", leftovers(d));
}

#[test]
fn an_expired_vault_session_says_how_to_log_in_again() {
    let (f, _) = kite();
    f.set_candles(INFY, "day", vec![("2026-01-05T00:00:00+0530".into(), [1500.0, 1510.0, 1490.0, 1505.0], 1000, 0)]);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = config(d);
    let cfg = cfg.to_str().expect("path");
    let root = f.root();
    assert!(dalal(d, &["broker", "keygen"], "").status.success());
    let add = dalal(
        d,
        &["broker", "add", "desk", "--kind", "kite", "--id", &format!("api_key={API_KEY}"), "--secret", "api_secret"],
        &format!("{API_SECRET}\n"),
    );
    assert!(add.status.success(), "{}", text(&add));
    let request_token = f.issue_request_token(API_KEY).expect("request token");
    let login = dalal(d, &["broker", "login", "desk", "--root", &root, "--request-token", &request_token], "");
    assert!(login.status.success(), "{}", text(&login));
    let mut args = w("broker history --login desk --instrument INFY --interval day --from 2026-01-05 --to 2026-01-09");
    args.extend(["--out", "days.csv", "--root", &root, "--config", cfg]);
    let out = dalal(d, &args, "");
    assert!(out.status.success(), "{}", text(&out));
    let ticks = lines(&d.join("days.csv"));
    // The day bar as four trades across the session from 09:15 IST; the open is as far from
    // the high as from the low, so the low comes first.
    let open = MON_0915 * 1_000_000_000;
    let step = 375 * 60 * 1_000_000_000 / 4;
    assert_eq!(
        ticks,
        [
            "ts_ns,symbol,price,qty".to_string(),
            format!("{open},INFY,1500.00,250"),
            format!("{},INFY,1490.00,250", open + step),
            format!("{},INFY,1510.00,250", open + 2 * step),
            format!("{},INFY,1505.00,250", open + 3 * step),
        ]
    );
    std::fs::remove_file(d.join("days.csv")).expect("rm");

    let live = historical(&f)
        .last()
        .and_then(|r| r.headers.get("authorization").cloned())
        .and_then(|a| a.strip_prefix(&format!("token {API_KEY}:")).map(str::to_string))
        .expect("the token sent");
    assert!(f.expire_token(&live));
    let out = dalal(d, &args, "");
    assert!(!out.status.success());
    let said = text(&out);
    for part in ["session_expired", "dalal broker login desk", "INFY", "2026-01-05 00:00:00 to 2026-01-09 23:59:59"] {
        assert!(said.contains(part), "{part:?} missing: {said}");
    }
    assert!(!said.contains(&live), "{said}");
    assert!(leftovers(d).is_empty(), "{:?}", leftovers(d));
}

#[test]
fn rows_that_cannot_be_bars_are_counted_skipped_and_reported() {
    let (f, token) = kite();
    let row = |t: &str, o: f64, h: f64, l: f64, c: f64, v: i64| (t.to_string(), [o, h, l, c], v, 0);
    f.set_candles(
        INFY,
        "minute",
        vec![
            row("2026-01-05T09:15:00+0530", 1500.0, 1501.0, 1499.0, 1500.5, 40),
            row("2026-01-05T09:16:00+0530", 0.0, 1501.0, 1499.0, 1500.5, 40),
            row("2026-01-05T09:17:00+0530", 1500.0, 1501.0, -1499.0, 1500.5, 40),
            row("2026-01-05T09:18:00+0530", 1500.0, 1499.0, 1501.0, 1500.0, 40),
            row("2026-01-05T09:19:00+0530", 1502.0, 1501.0, 1499.0, 1500.5, 40),
            row("2026-01-05T09:20:00+0530", 1500.0, 1501.0, 1499.0, 1500.123, 40),
            row("2026-01-05T09:21:00+0530", 1500.0, 1501.0, 1499.0, 1500.5, -3),
            row("2026-01-05T09:22+0530", 1500.0, 1501.0, 1499.0, 1500.5, 40),
            row("2026-01-05T09:23:00+0530", 1500.5, 1502.0, 1500.0, 1501.0, 8),
            row("2026-01-05T09:23:00+0530", 1600.0, 1602.0, 1600.0, 1601.0, 8),
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let args = format!("--token INFY={INFY} --interval minute --from 2026-01-05 --to 2026-01-05 --out t.csv");
    let out = history(d, &f.root(), &token, &w(&args));
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for part in [
        "INFY: skipped 8 of 10 row(s)",
        "2 price not positive",
        "1 high below low",
        "1 open or close outside high-low",
        "1 price not a whole number of paise",
        "1 negative volume",
        "1 unreadable time, first [\"2026-01-05T09:22+0530\"",
        "1 time already seen",
    ] {
        assert!(stderr.contains(part), "{part:?} missing: {stderr}");
    }
    let ticks = lines(&d.join("t.csv"));
    assert_eq!(ticks.len(), 1 + 8, "two good bars: {ticks:?}");
    assert!(ticks[1].ends_with(",INFY,1500.00,10") && ticks[5].ends_with(",INFY,1500.50,2"), "{ticks:?}");
}

#[test]
fn the_candles_format_is_the_brokers_bars_field_by_field() {
    let (f, token) = kite();
    f.set_candles(
        INFY,
        "5minute",
        vec![
            ("2026-01-05T09:15:00+0530".into(), [1500.05, 1504.0, 1498.1, 1503.25], 12_345, 0),
            ("2026-01-05T09:20:00+0530".into(), [1503.25, 1503.25, 1501.0, 1502.0], 0, 0),
        ],
    );
    f.set_candles(
        SBIN,
        "5minute",
        vec![
            ("2026-01-05T09:15:00+0530".into(), [800.0, 801.5, 799.95, 801.0], 7_000, 0),
            ("2026-01-05T09:25:00+0530".into(), [801.0, 802.0, 800.5, 801.75], 3_100, 0),
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (sbin, infy) = (format!("SBIN={SBIN}"), format!("INFY={INFY}"));
    let mut args = w("--token SBIN --token INFY --interval 5minute --format candles --out c.csv");
    (args[1], args[3]) = (&sbin, &infy);
    args.extend(["--from", "2026-01-05 09:15:00", "--to", "2026-01-05 09:25:00"]);
    let out = history(d, &f.root(), &token, &args);
    assert!(out.status.success(), "{}", text(&out));
    let requests = historical(&f);
    assert_eq!(
        (query(&requests[0], "from"), query(&requests[0], "to"), query(&requests[0], "interval")),
        ("2026-01-05 09:15:00", "2026-01-05 09:25:00", "5minute")
    );
    let got = lines(&d.join("c.csv"));
    let want = [
        "ts,symbol,open,high,low,close,volume,oi",
        "2026-01-05T09:15:00+0530,INFY,1500.05,1504.00,1498.10,1503.25,12345,0",
        "2026-01-05T09:15:00+0530,SBIN,800.00,801.50,799.95,801.00,7000,0",
        "2026-01-05T09:20:00+0530,INFY,1503.25,1503.25,1501.00,1502.00,0,0",
        "2026-01-05T09:25:00+0530,SBIN,801.00,802.00,800.50,801.75,3100,0",
    ];
    assert_eq!(got, want);
    for (line, fields) in got[1..].iter().zip(&want[1..]) {
        let (g, w): (Vec<&str>, Vec<&str>) = (line.split(',').collect(), fields.split(',').collect());
        assert_eq!(g.len(), 8);
        for (i, name) in ["ts", "symbol", "open", "high", "low", "close", "volume", "oi"].iter().enumerate() {
            assert_eq!(g[i], w[i], "{name} of {line}");
        }
    }
}

/// `dalal data import kite` stores what `dalal broker history` would write, and a backtest on
/// the stored bars is the backtest on that tick file, order for order: from the store on the
/// first run (the cache is then written), from the cache on the second. Day bars, stamped at
/// midnight by Kite, are kept from the session's open.
#[test]
fn stored_kite_bars_backtest_like_the_tick_file_of_the_same_bars() {
    let (f, token) = kite();
    let infy = minute_bars(150_000, 7);
    let sbin = minute_bars(80_000, 11);
    f.set_candles(INFY, "minute", infy.clone());
    f.set_candles(SBIN, "minute", sbin.clone());
    f.set_candles(
        INFY,
        "day",
        vec![
            ("2026-01-05T00:00:00+0530".into(), [1500.0, 1512.5, 1490.05, 1503.0], 1_200_000, 0),
            ("2026-01-06T00:00:00+0530".into(), [1503.0, 1520.0, 1499.0, 1518.45], 1_350_000, 0),
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = config(d);
    let cfg = cfg.to_str().expect("path");
    let range = "--interval minute --from 2026-01-05 --to 2026-01-06";
    let args = format!("--config {cfg} --instrument SBIN --instrument INFY {range} --out ticks.csv");
    let out = history(d, &f.root(), &token, &w(&args));
    assert!(out.status.success(), "{}", text(&out));

    let root = f.root();
    let import = |interval: &str| {
        let mut all = vec!["data", "import", "kite", "--root", root.as_str(), "--api-key", API_KEY];
        let words = format!(
            "--access-token {token} --config {cfg} --instrument SBIN --instrument INFY --interval {interval} \
             --from 2026-01-05 --to 2026-01-06 --data-dir store"
        );
        let words: Vec<String> = words.split_whitespace().map(String::from).collect();
        all.extend(words.iter().map(String::as_str));
        dalal(d, &all, "")
    };
    let out = import("minute");
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(&token), "the access token shows");
    let said = text(&out);
    assert!(said.contains("fetched 1500 bars of 2 instrument(s) from Kite"), "{said}");
    assert!(said.contains("stored 1500 bar(s) of 2 symbol(s) at 1m from kite"), "{said}");
    assert!(d.join("store/candles/1m/INFY.bars").is_file() && d.join("store/candles/1m/SBIN.bars").is_file());
    let out = import("day");
    assert!(out.status.success(), "{}", text(&out));

    let out = dalal(d, &["data", "list", "--json", "--config", cfg, "--data-dir", "store"], "");
    assert!(out.status.success(), "{}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let rows: Vec<(String, String, i64, String, String, String)> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("symbol"), s("timeframe"), r["bars"].as_i64().unwrap_or(-1), s("first"), s("last"), s("cached"))
        })
        .collect();
    let row = |sym: &str, tf: &str, n: i64, a: &str, b: &str| {
        (sym.to_string(), tf.to_string(), n, a.to_string(), b.to_string(), "yes".to_string())
    };
    assert_eq!(
        rows,
        [
            row("INFY", "1d", 2, "2026-01-05", "2026-01-06"),
            row("INFY", "1m", 750, "2026-01-05 09:15", "2026-01-06 15:29"),
            row("SBIN", "1m", 750, "2026-01-05 09:15", "2026-01-06 15:29"),
        ]
    );
    assert_eq!(list[0]["first_ns"], (MON_0915 * 1_000_000_000), "a day bar starts at the open");
    assert_eq!(list[0]["source"], "kite");

    let out = dalal(d, &["backtest", "--config", cfg, "--data", "ticks.csv", "--out", "from-file"], "");
    assert!(out.status.success(), "{}", text(&out));
    for (run, read) in [
        ("from-store", "0 series from the cache, 2 from the store"),
        ("from-cache", "2 series from the cache, 0 from the store"),
    ] {
        if run == "from-store" {
            std::fs::remove_dir_all(d.join("store/candles")).expect("cache removed");
        }
        let out = dalal(d, &["backtest", "--config", cfg, "--stored", "1m", "--data-dir", "store", "--out", run], "");
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains(read), "{}", text(&out));
        for file in ["orders.csv", "fills.csv", "summary.json", "equity.csv", "trades.csv"] {
            let a = std::fs::read_to_string(d.join("from-file").join(file)).expect("file run");
            let b = std::fs::read_to_string(d.join(run).join(file)).expect("stored run");
            assert_eq!(a, b, "{run}/{file}");
        }
    }
    let fills = lines(&d.join("from-cache/fills.csv"));
    assert!(fills.len() > 5, "the strategy traded: {fills:?}");

    // Bars the strategy's timeframe cannot be made of are refused before anything runs.
    let out = dalal(d, &["backtest", "--config", cfg, "--stored", "1d", "--data-dir", "store", "--out", "x"], "");
    assert!(!out.status.success());
    assert!(text(&out).contains("reads 1m bars, which cannot be built from stored 1d bars"), "{}", text(&out));
    assert!(!d.join("x").exists());
}
