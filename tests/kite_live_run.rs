//! `dalal run` with one account live and one in shadow through a Kite login, against the fake
//! Kite server: the live account's orders go to the broker and its fills come back and are
//! booked; at the end the engine's positions are the broker's; the shadow account trades on
//! paper while the requests it would have sent are logged, and nothing of it reaches the
//! broker; a position and an order from outside Dalal are reported at the start and left
//! alone; the access token appears in no output.

mod cli;

use std::collections::BTreeMap;
use std::process::Command;

use cli::{command, http, kite_client, kite_vault, outside_buy, plain, trading_fake, KiteRunConfig};
use dalal_brokers::fake::kite::{FakeKite, FakeUser};
use dalal_brokers::{MasterKey, Secret, Vault};

#[test]
fn a_live_and_a_shadow_account_through_kite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fake, token) = trading_fake("ZX9001", "runkey", "runsecret-4f1e");

    // Outside Dalal, before the run: a filled INFY buy (a position the engine does not have)
    // and a working limit order. Reconciliation at the start reports both and touches neither.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = kite_client(&fake, "runkey", &token);
    outside_buy(&fake, "runkey", &token, "INFY", 7, None);
    outside_buy(&fake, "runkey", &token, "INFY", 3, Some(1000.0));

    let (vault_file, key_file) = kite_vault(dir.path(), "runkey", "runsecret-4f1e", &token);

    let cfg_path = dir.path().join("live.toml");
    KiteRunConfig::new()
        .account("alice", "live")
        .account("bob", "shadow")
        .broker_key("poll_ms = 50")
        .write(&fake, &cfg_path);
    let csv = dir.path().join("t.csv");
    assert!(command().args(["gen", "--ticks", "40000", "--out"]).arg(&csv).output().expect("gen").status.success());
    let json = dir.path().join("s.json");
    let o = command()
        .env("RUST_LOG", "info")
        .args(["run", "--admin-listen", "", "--config"])
        .arg(&cfg_path)
        .args(["--feed", &format!("csv:{}", csv.display()), "--summary-json"])
        .arg(&json)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--vault")
        .arg(&vault_file)
        .arg("--key-file")
        .arg(&key_file)
        .output()
        .expect("run");
    let out = plain(&format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)));
    assert!(o.status.success(), "{out}");
    assert!(!out.contains(&token), "the access token leaked into the output");
    assert!(out.contains("shadow: would place"), "shadow requests are logged:\n{out}");
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("summary")).expect("json");
    let account = |name: &str| s["accounts"].as_array().and_then(|a| a.iter().find(|x| x["name"] == name)).cloned();
    let alice = account("alice").expect("alice");
    let engine_net: BTreeMap<String, i64> = alice["positions"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| (p["symbol"].as_str().unwrap_or("").to_string(), p["net_qty"].as_i64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    let bought: i64 =
        alice["positions"].as_array().map(|ps| ps.iter().map(|p| p["bought"].as_i64().unwrap_or(0)).sum()).unwrap_or(0);
    assert!(bought > 0, "the live account traded: {alice}\n{out}");

    assert!(
        out.contains("broker positions differ") && out.contains("INFY") && out.contains("outside_orders=1"),
        "the start's reconciliation reports the outside position and order:\n{out}"
    );

    // The broker's side, read with the client (INFY is the position from outside).
    let positions = rt.block_on(client.positions()).expect("positions");
    let broker_net: BTreeMap<String, i64> = positions
        .net
        .iter()
        .filter(|p| p.quantity != 0 && p.tradingsymbol != "INFY")
        .map(|p| (p.tradingsymbol.clone(), p.quantity))
        .collect();
    let engine_open: BTreeMap<String, i64> = engine_net.into_iter().filter(|(_, q)| *q != 0).collect();
    assert_eq!(engine_open, broker_net, "the engine's positions are the broker's\n{out}");
    let orders = rt.block_on(client.orders()).expect("orders");
    assert!(!orders.is_empty());
    for o in orders.iter().filter(|o| o.tradingsymbol != "INFY") {
        assert!(o.tag.as_deref().is_some_and(|t| t.starts_with('D')), "every order carries our id: {:?}", o.tag);
        assert!(
            o.tradingsymbol == "RELIANCE" || o.tradingsymbol == "TCS",
            "only the live account's instruments reach the broker, not the shadow account's: {}",
            o.tradingsymbol
        );
    }
    let bob = account("bob").expect("bob");
    let bob_bought: i64 =
        bob["positions"].as_array().map(|ps| ps.iter().map(|p| p["bought"].as_i64().unwrap_or(0)).sum()).unwrap_or(0);
    assert!(bob_bought > 0, "the shadow account trades on paper");
}

/// `dalal run --feed kite:zerodha`: the run subscribes the instruments with a Kite token over
/// the fake ticker, and the trades the ticker sends become the engine's ticks. A live account
/// trades through the console; when its broker session expires its orders are refused, and a
/// new token in the vault brings the session back without a restart.
#[test]
fn a_run_on_the_kite_ticker_survives_an_expired_session() {
    use dalal_brokers::fake::kite::ticker::full_packet;
    use std::io::BufRead;

    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeKite::start_in_background().expect("fake Kite");
    fake.add_user(FakeUser::new("ZX9002", "feedkey", "feedsecret-11"));
    let token = fake.issue_access_token("feedkey").expect("token");
    let (vault_file, key_file) = kite_vault(dir.path(), "feedkey", "feedsecret-11", &token);

    let cfg_path = dir.path().join("feed.toml");
    KiteRunConfig::new().kite_token("RELIANCE", 738_561u32).account("alice", "live").write(&fake, &cfg_path);
    let json = dir.path().join("s.json");
    let mut child = command()
        .args(["run", "--feed", "kite:zerodha", "--admin-listen", "127.0.0.1:0", "--duration", "60s", "--config"])
        .arg(&cfg_path)
        .arg("--summary-json")
        .arg(&json)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--vault")
        .arg(&vault_file)
        .arg("--key-file")
        .arg(&key_file)
        .env("DALAL_ADMIN_PASSWORD", "feed-admin-pw-1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    // The console's address, from the run's first lines.
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("admin console on http://") {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    let addr = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the console starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        while !done() {
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let subscribed_after = |first: u64| {
        let open = fake.ticker_open_subscriptions();
        open.keys().all(|c| *c > first) && open.values().any(|subs| subs.contains_key(&738_561))
    };
    // The feed's connection, and the gateway's for order updates.
    wait_for("the subscription", &|| fake.ticker_open_subscriptions().len() == 2 && subscribed_after(0));
    let now = dalal_core::model::Timestamp::now().0 / 1_000_000_000;
    let prices = [1420.0, 1421.5, 1419.9];
    for (k, price) in prices.iter().enumerate() {
        let volume = 1000 + 10 * (k as u32 + 1);
        let p = full_packet(
            738_561,
            *price,
            10,
            volume,
            (now as u32, now as u32),
            &[(5, price - 0.05, 1)],
            &[(5, price + 0.05, 1)],
        );
        // The run's feed takes it, and the gateway's connection for order updates (which
        // subscribed to nothing) ignores it.
        assert_eq!(fake.ticker_push_packets(&[p]), 2, "both connections get it");
    }
    let ticks = || {
        http(&addr, "GET", "/metrics", None, "")
            .lines()
            .find_map(|l| l.strip_prefix("dalal_ticks_in_total ").and_then(|v| v.trim().parse::<u64>().ok()))
            .unwrap_or(0)
    };
    wait_for("three ticks in the engine", &|| ticks() >= 3);
    assert_eq!(ticks(), 3, "each trade once");

    // alice trades live through the console; her broker session expires, and a login during
    // the run (the vault gets a new token) brings it back without a restart.
    fake.set_instrument("NSE", "RELIANCE", 738_561, 1420.0);
    fake.set_funds("ZX9002", 1e8, 0.0);
    fake.set_auto_fill(true);
    let login = http(&addr, "POST", "/api/auth/login", None, r#"{"username":"admin","password":"feed-admin-pw-1"}"#);
    let jwt = serde_json::from_str::<serde_json::Value>(&login)
        .ok()
        .and_then(|v| v["access_token"].as_str().map(String::from));
    let jwt = jwt.unwrap_or_else(|| panic!("admin login: {login}"));
    let buy = |qty: u64| {
        let body = format!(r#"{{"account":"alice","symbol":"RELIANCE","side":"BUY","qty":{qty},"product":"MIS"}}"#);
        let r = http(&addr, "POST", "/api/orders", Some(&jwt), &body);
        assert!(r.contains("\"accepted\":true"), "order accepted by the console: {r}");
    };
    let health = || {
        let r = http(&addr, "GET", "/api/brokers", Some(&jwt), "");
        serde_json::from_str::<serde_json::Value>(&r)
            .ok()
            .and_then(|v| v[0]["session"]["health"].as_str().map(String::from))
    };
    let broker_position = || -> i64 {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let t = fake.issue_access_token("feedkey").expect("token");
        let c = dalal_brokers::kite::KiteClient::new(
            &fake.root(),
            "feedkey",
            Some(Secret::new(t)),
            std::time::Duration::from_secs(5),
        )
        .expect("client");
        rt.block_on(c.positions()).map(|p| p.net.iter().map(|x| x.quantity).sum()).unwrap_or(0)
    };
    assert_eq!(health().as_deref(), Some("healthy"));
    buy(5);
    wait_for("the first live order to fill at the broker", &|| broker_position() == 5);
    assert!(fake.expire_token(&token));
    buy(2);
    wait_for("the session to expire", &|| health().as_deref() == Some("expired"));
    let renewed = fake.issue_access_token("feedkey").expect("token");
    let mut vault = Vault::open(&vault_file, MasterKey::load(None, &key_file).expect("key")).expect("vault");
    vault.set_secret("zerodha", "access_token", &Secret::new(renewed)).expect("set");
    vault.save().expect("save");
    wait_for("the run to take the new token", &|| health().as_deref() == Some("healthy"));
    buy(3);
    wait_for("the order after the new login to fill", &|| broker_position() == 8);

    // The ticker refuses the old token too. Dropped now, both connections come back only
    // because the run handed the feed and the gateway the new token at the login.
    let accepted = fake.ticker_handshakes().accepted;
    let pushed_before = fake.ticker_drop_connections();
    assert!(pushed_before >= 1, "the feed was connected");
    wait_for("both connections back with the new token, the feed subscribed again", &|| {
        fake.ticker_open_subscriptions().len() == 2 && subscribed_after(accepted)
    });
    let p = full_packet(738_561, 1422.0, 10, 1100, (now as u32, now as u32), &[(5, 1421.95, 1)], &[(5, 1422.05, 1)]);
    assert_eq!(fake.ticker_push_packets(&[p]), 2);
    wait_for("the fourth tick, after the new login", &|| ticks() >= 4);

    // What the engine made of the broker's reports: counted, on /metrics and in the status.
    let metric = |line: &str| {
        http(&addr, "GET", "/metrics", None, "")
            .lines()
            .find_map(|l| l.strip_prefix(line).and_then(|v| v.trim().parse::<u64>().ok()))
    };
    // Two filled orders (acknowledged and filled) and one refused by Kite for the expired
    // token: five reports applied at least, none refused.
    assert!(metric("dalal_venue_reports_total{outcome=\"applied\"} ").is_some_and(|n| n >= 5));
    assert_eq!(metric("dalal_venue_reports_total{outcome=\"unknown\"} "), Some(0));
    assert!(metric("dalal_venue_requests_total ").is_some_and(|n| n >= 3));
    let status: serde_json::Value =
        serde_json::from_str(&http(&addr, "GET", "/api/brokers/status", Some(&jwt), "")).unwrap_or_default();
    assert!(status["venue_reports"]["applied"].as_u64().is_some_and(|n| n >= 5), "{status}");
    assert_eq!(status["venue_reports"]["duplicate"], 0, "{status}");

    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let o = child.wait_with_output().expect("run ends");
    let err = plain(&String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{err}");
    assert!(!err.contains(&token), "no token in the logs");
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("summary")).expect("json");
    assert_eq!(s["ticks_in"], 4);
    assert_eq!(s["ticks_accepted"], 4);
    let alice = s["accounts"].as_array().and_then(|a| a.iter().find(|x| x["name"] == "alice")).cloned().expect("alice");
    let net: i64 =
        alice["positions"].as_array().map(|p| p.iter().map(|x| x["net_qty"].as_i64().unwrap_or(0)).sum()).unwrap_or(0);
    assert_eq!(net, 8, "the engine's position is the broker's: {alice}");
}
