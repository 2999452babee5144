//! `dalal run --feed kite:zerodha` against the fake Kite ticker, watched as an operator does:
//! `GET /api/feed` counts what the feed skipped by reason (a damaged frame, a packet of an
//! instrument the run does not trade, prices the engine cannot take, a text that is not
//! Kite's), the engine receives only the good trades, `/metrics` carries the same counts, and
//! a dropped connection is counted and comes back connected. Nothing of the login leaks.

mod cli;

use std::time::Duration;

use cli::{command, kite_vault, request, wait_for, KiteRunConfig, Run};
use dalal_brokers::fake::kite::ticker::{frame_of, full_packet};
use dalal_brokers::fake::kite::{FakeKite, FakeUser};
use serde_json::Value;

const RELIANCE: u32 = 738_561;
/// A currency-derivatives token (segment 3: prices in 1e-7 rupees), mapped to TCS here only so
/// a price off the paise grid reaches the decoder.
const CDS: u32 = 412_675;
/// A token the run does not subscribe to.
const UNKNOWN: u32 = 408_065;
const LIMIT: Duration = Duration::from_secs(60);

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn the_feed_counts_what_it_skips_by_reason_and_reconnects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeKite::start_in_background().expect("fake Kite");
    fake.add_user(FakeUser::new("ZX9003", "healthkey", "healthsecret-7c"));
    let token = fake.issue_access_token("healthkey").expect("token");
    let (vault_file, key_file) = kite_vault(dir.path(), "healthkey", "healthsecret-7c", &token);

    let cfg_path = dir.path().join("feed.toml");
    let config = KiteRunConfig::new().kite_token("RELIANCE", RELIANCE).kite_token("TCS", CDS);
    assert!(config.text(&fake).contains(&format!("kite = {CDS}")), "the config names TCS");
    config.write(&fake, &cfg_path);
    let mut cmd = command();
    cmd.args(["run", "--feed", "kite:zerodha", "--admin-listen", "127.0.0.1:0", "--duration", "300s", "--config"])
        .arg(&cfg_path)
        .arg("--vault")
        .arg(&vault_file)
        .arg("--key-file")
        .arg(&key_file)
        .env("RUST_LOG", "debug")
        .env("DALAL_ADMIN_PASSWORD", "health-admin-pw-1");
    let run = Run::start(cmd);
    let addr = run.addr.clone();

    wait_for("the feed's subscription", LIMIT, &mut || {
        fake.ticker_open_subscriptions().values().any(|s| s.contains_key(&RELIANCE) && s.contains_key(&CDS))
    });
    assert_eq!(request(&addr, "GET", "/api/feed", None, "").status, 401, "the feed's health needs a login");
    let login =
        request(&addr, "POST", "/api/auth/login", None, r#"{"username":"admin","password":"health-admin-pw-1"}"#);
    let admin = login.json()["access_token"].as_str().map(String::from);
    let admin = admin.unwrap_or_else(|| panic!("admin login: {}", login.body));
    // Any signed-in user reads it: a viewer of no account at all.
    let r = request(
        &addr,
        "POST",
        "/api/users",
        Some(&admin),
        r#"{"username":"watcher","password":"watcher-pw-1","role":"viewer","accounts":[]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let login = request(&addr, "POST", "/api/auth/login", None, r#"{"username":"watcher","password":"watcher-pw-1"}"#);
    let viewer = login.json()["access_token"].as_str().map(String::from).expect("viewer login");
    let feed = || {
        let r = request(&addr, "GET", "/api/feed", Some(&viewer), "");
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };
    let count = |v: &Value, kind: &str| v["counters"][kind].as_u64().unwrap_or(0);
    wait_for("the feed to say it is connected", LIMIT, &mut || feed()["status"] == "connected");

    let now = (dalal_core::model::Timestamp::now().0 / 1_000_000_000) as u32;
    let trade = |token: u32, price: f64, volume: u32| {
        full_packet(token, price, 10, volume, (now, now), &[(5, price - 0.05, 1)], &[(5, price + 0.05, 1)])
    };
    // Three good trades.
    for (k, price) in [1420.0, 1421.5, 1419.9].iter().enumerate() {
        assert_eq!(fake.ticker_push_packets(&[trade(RELIANCE, *price, 1000 + 10 * (k as u32 + 1))]), 1);
    }
    // A frame cut short: its packet runs past its end.
    let mut cut = frame_of(&[trade(RELIANCE, 1422.0, 1100)]);
    cut.truncate(cut.len() - 10);
    assert_eq!(fake.ticker_push_raw(cut), 1);
    // An instrument the run does not trade.
    assert_eq!(fake.ticker_push_packets(&[trade(UNKNOWN, 1500.0, 77)]), 1);
    // 72.755 rupees is 7275.5 paise: off the grid, never rounded (no depth, so no quote either).
    assert_eq!(fake.ticker_push_packets(&[full_packet(CDS, 72.755, 10, 5, (now, now), &[], &[])]), 1);
    // A trade at a zero price.
    assert_eq!(fake.ticker_push_packets(&[full_packet(RELIANCE, 0.0, 10, 1200, (now, now), &[], &[])]), 1);
    // A text that is not Kite's.
    assert_eq!(fake.ticker_push_text("{not json"), 1);

    let expected =
        [("malformed", 1), ("unknown_tokens", 1), ("sub_paise", 1), ("bad_prices", 1), ("malformed_text", 1)];
    let mut last = Value::Null;
    wait_for("every skip counted", LIMIT, &mut || {
        last = feed();
        expected.iter().all(|(k, n)| count(&last, k) >= *n)
    });
    for (kind, n) in expected {
        assert_eq!(count(&last, kind), n, "{kind}: {last}");
    }
    assert_eq!(count(&last, "ticks"), 3, "only the good trades became ticks: {last}");
    assert_eq!(last["name"], "kite:zerodha");
    assert_eq!(last["stale"], false, "{last}");
    assert!(last["last_frame_ns"].as_i64().is_some_and(|t| t > 0), "{last}");
    assert!(last.get("accounts").is_none());
    let shown = last.to_string();
    assert!(!shown.contains(&token) && !shown.contains("healthkey"), "no secret in the view: {shown}");

    // The engine got the three good trades and nothing else: every skip above was counted
    // after the good frames had been handed on.
    // The public /metrics: the feed labelled by its kind, not its login.
    let metrics = || request(&addr, "GET", "/metrics", None, "").body;
    wait_for("three ticks in the engine", LIMIT, &mut || {
        metric(&metrics(), "dalal_ticks_in_total").unwrap_or(0.0) >= 3.0
    });
    let m = metrics();
    assert_eq!(metric(&m, "dalal_ticks_in_total"), Some(3.0), "{m}");
    assert_eq!(metric(&m, "dalal_feed_connected{feed=\"kite\"}"), Some(1.0), "{m}");
    for (kind, n) in expected.iter().chain(&[("ticks", 3)]) {
        let series = format!("dalal_feed_events_total{{feed=\"kite\",kind=\"{kind}\"}}");
        assert_eq!(metric(&m, &series), Some(*n as f64), "{series}\n{m}");
    }
    let age = metric(&m, "dalal_feed_last_frame_age_seconds{feed=\"kite\"}").expect("the age line");
    assert!((0.0..60.0).contains(&age), "{age}");

    // A dropped connection: counted, and the feed comes back connected and subscribed.
    let accepted = fake.ticker_handshakes().accepted;
    assert_eq!(fake.ticker_drop_connections(), 1);
    wait_for("the reconnection", LIMIT, &mut || {
        last = feed();
        count(&last, "reconnects") >= 1 && count(&last, "connects") >= 2 && last["status"] == "connected"
    });
    assert_eq!(count(&last, "reconnects"), 1, "{last}");
    wait_for("the new connection's subscription", LIMIT, &mut || {
        let open = fake.ticker_open_subscriptions();
        open.iter().any(|(c, s)| *c > accepted && s.contains_key(&RELIANCE))
    });
    let m = metrics();
    assert_eq!(metric(&m, "dalal_feed_events_total{feed=\"kite\",kind=\"reconnects\"}"), Some(1.0), "{m}");
    assert_eq!(metric(&m, "dalal_feed_connected{feed=\"kite\"}"), Some(1.0), "{m}");
    // The stream goes on where it was: the next trade is the fourth tick.
    assert_eq!(fake.ticker_push_packets(&[trade(RELIANCE, 1423.0, 1300)]), 1);
    wait_for("the fourth tick", LIMIT, &mut || metric(&metrics(), "dalal_ticks_in_total").unwrap_or(0.0) >= 4.0);

    let (status, out) = run.stop();
    assert!(status.success(), "{out}");
    assert!(!out.contains(&token), "the access token leaked into the output");
}
