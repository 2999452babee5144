//! `dalal run` with three live accounts, one on each broker, each broker a fake server of its
//! own: Zerodha Kite, Angel One (also the run's market feed, SmartStream) and Upstox. The
//! accounts trade at once through the console; each account's orders reach only its own
//! broker, and each broker's positions reconcile with its account's. Then the Upstox server is
//! killed: its session turns `error` in `/api/brokers` and `/metrics`, its account's order is
//! refused, and the Kite and Angel One accounts go on trading.

mod cli;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli::{command, http, plain};
use dalal_brokers::fake::angel::packets::{QuoteFields, TickHeader};
use dalal_brokers::fake::angel::{FakeAngel, FakeAngelUser, StreamPacket};
use dalal_brokers::fake::kite::{FakeKite, FakeUser};
use dalal_brokers::fake::upstox::{FakeUpstox, FakeUpstoxUser};
use dalal_brokers::{BrokerKind, Login, MasterKey, Secret, Vault};

const UPSTOX_KEY: &str = "NSE_EQ|INE002A01018";
const ANGEL_TOKEN: &str = "2885";
const ANGEL_MPIN: &str = "5511";
const ANGEL_SEED: &str = "KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TF";
const METRICS_TOKEN: &str = "three-brokers-scrape-token";

fn config(kite: &FakeKite, angel: &FakeAngel, upstox: &FakeUpstox) -> String {
    format!(
        r#"
[[instruments]]
symbol = "RELIANCE"
segment = "NSE_EQ"
tick_size = 0.05
lot_size = 1
ref_price = 1400.0
tokens = {{ kite = 738561, angel = {ANGEL_TOKEN} }}
keys = {{ upstox = "{UPSTOX_KEY}" }}

[feed]
kind = "angel"
broker = "angelone"
mode = "quote"

[risk]
enforce_session = false
mis_square_off = ""

[[brokers]]
name = "zerodha"
kind = "kite"
root = "{kite_root}"
ws_root = "{kite_ws}"
poll_ms = 50

[[brokers]]
name = "angelone"
kind = "angel"
root = "{angel_root}"
ws_root = "{angel_ws}"
order_ws_root = "{angel_order_ws}"
poll_ms = 50

[[brokers]]
name = "upstox"
kind = "upstox"
root = "{upstox_root}"
order_root = "{upstox_hft}"
poll_ms = 50

[[accounts]]
name = "kavya"
broker = "zerodha"
mode = "live"
[accounts.limits]
max_order_qty = 1000
max_order_value = 100000000.0
max_position_qty = 10000

[[accounts]]
name = "arjun"
broker = "angelone"
mode = "live"
[accounts.limits]
max_order_qty = 1000
max_order_value = 100000000.0
max_position_qty = 10000

[[accounts]]
name = "uma"
broker = "upstox"
mode = "live"
[accounts.limits]
max_order_qty = 1000
max_order_value = 100000000.0
max_position_qty = 10000
"#,
        kite_root = kite.root(),
        kite_ws = kite.ws_root(),
        angel_root = angel.root(),
        angel_ws = angel.ws_root(),
        angel_order_ws = angel.order_ws_root(),
        upstox_root = upstox.root(),
        upstox_hft = upstox.hft_root(),
    )
}

fn wait_for(what: &str, done: &dyn Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn three_accounts_on_three_brokers_trade_at_once_and_one_outage_leaves_the_others_trading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kite = FakeKite::start_in_background().expect("fake Kite");
    kite.add_user(FakeUser::new("ZK1001", "kitekey3", "kitesecret-3b"));
    kite.set_instrument("NSE", "RELIANCE", 738_561, 1400.0);
    kite.set_funds("ZK1001", 1e8, 0.0);
    kite.set_auto_fill(true);
    let kite_token = kite.issue_access_token("kitekey3").expect("kite token");

    let angel = FakeAngel::start_in_background().expect("fake Angel One");
    angel.add_user(FakeAngelUser::new("A778899", ANGEL_MPIN, ANGEL_SEED, "angelkey3"));
    angel.set_instrument("NSE", "RELIANCE-EQ", ANGEL_TOKEN, 1400.0);
    angel.set_funds("A778899", 1e8, 0.0);
    angel.set_auto_fill(true);

    let upstox = FakeUpstox::start_in_background().expect("fake Upstox");
    upstox.add_user(FakeUpstoxUser::new("UX5005", "upkey3", "upsecret-3c", "http://127.0.0.1:5000/cb"));
    upstox.set_instrument(UPSTOX_KEY, "RELIANCE", 1400.0);
    upstox.set_funds("UX5005", 1e8, 0.0);
    upstox.set_auto_fill(true);
    let upstox_token = upstox.issue_session("upkey3").expect("upstox session").access_token;

    // The vault: Kite and Upstox logged in; Angel One with its MPIN and TOTP seed only (the
    // run logs in by itself).
    let key_file = dir.path().join("master.key");
    let vault_file = dir.path().join("brokers.vault");
    let mut vault = Vault::open(&vault_file, MasterKey::create_file(&key_file).expect("key")).expect("vault");
    let login = |name: &str, kind, ids: &[(&str, &str)], secrets: &[(&str, &str)]| Login {
        name: name.into(),
        kind,
        ids: ids.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        secrets: secrets.iter().map(|(k, v)| (k.to_string(), Secret::new(*v))).collect(),
    };
    vault
        .add(login(
            "zerodha",
            BrokerKind::Kite,
            &[("api_key", "kitekey3")],
            &[("api_secret", "kitesecret-3b"), ("access_token", &kite_token)],
        ))
        .expect("kite login");
    vault
        .add(login(
            "angelone",
            BrokerKind::Angel,
            &[("api_key", "angelkey3"), ("client_code", "A778899")],
            &[("mpin", ANGEL_MPIN), ("totp_seed", ANGEL_SEED)],
        ))
        .expect("angel login");
    vault
        .add(login(
            "upstox",
            BrokerKind::Upstox,
            &[("api_key", "upkey3"), ("redirect_uri", "http://127.0.0.1:5000/cb")],
            &[("api_secret", "upsecret-3c"), ("access_token", &upstox_token)],
        ))
        .expect("upstox login");
    vault.save().expect("save");

    let cfg_path = dir.path().join("three.toml");
    std::fs::write(&cfg_path, config(&kite, &angel, &upstox)).expect("config");
    let json = dir.path().join("s.json");
    let mut child = command()
        .args(["run", "--admin-listen", "127.0.0.1:0", "--duration", "300s", "--config"])
        .arg(&cfg_path)
        .arg("--summary-json")
        .arg(&json)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--vault")
        .arg(&vault_file)
        .arg("--key-file")
        .arg(&key_file)
        .env("DALAL_ADMIN_PASSWORD", "three-admin-pw-1")
        .env("DALAL_METRICS_TOKEN", METRICS_TOKEN)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("admin console on http://") {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).expect("the console starts");

    // The market: trades on Angel One's SmartStream, which the run subscribed to.
    wait_for("the SmartStream subscription", &|| {
        angel.stream_subscriptions().iter().any(|s| format!("{s:?}").contains(ANGEL_TOKEN))
    });
    let now_ms = dalal_core::model::Timestamp::now().0 / 1_000_000;
    for (k, price) in [140_000i64, 140_050, 139_950].iter().enumerate() {
        let header = TickHeader {
            exchange_type: 1,
            token: ANGEL_TOKEN.into(),
            sequence: k as i64 + 1,
            exchange_timestamp: now_ms,
            ltp: *price,
        };
        let fields =
            QuoteFields { last_traded_quantity: 10, volume: 1000 + 10 * (k as i64 + 1), ..QuoteFields::default() };
        assert!(angel.stream_push_packet(&StreamPacket::Quote(header, fields)) >= 1);
    }
    let metric = |name: &str| -> Option<f64> {
        http(&addr, "GET", "/metrics", Some(METRICS_TOKEN), "")
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok()))
    };
    wait_for("three ticks from SmartStream in the engine", &|| {
        metric("dalal_ticks_in_total ").is_some_and(|n| n >= 3.0)
    });

    let login = http(&addr, "POST", "/api/auth/login", None, r#"{"username":"admin","password":"three-admin-pw-1"}"#);
    let jwt = serde_json::from_str::<serde_json::Value>(&login)
        .ok()
        .and_then(|v| v["access_token"].as_str().map(String::from))
        .unwrap_or_else(|| panic!("admin login: {login}"));
    let buy = |account: &str, qty: u64| -> String {
        let body = format!(r#"{{"account":"{account}","symbol":"RELIANCE","side":"BUY","qty":{qty},"product":"MIS"}}"#);
        http(&addr, "POST", "/api/orders", Some(&jwt), &body)
    };
    let health = |login: &str| -> Option<String> {
        let r = http(&addr, "GET", "/api/brokers", Some(&jwt), "");
        let v: serde_json::Value = serde_json::from_str(&r).ok()?;
        v.as_array()?.iter().find(|l| l["name"] == login)?["session"]["health"].as_str().map(String::from)
    };
    // Each broker's own view of its user's position, read as any client would.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let kite_position = || -> i64 {
        let c = dalal_brokers::kite::KiteClient::new(
            &kite.root(),
            "kitekey3",
            Some(Secret::new(kite_token.clone())),
            Duration::from_secs(5),
        )
        .expect("client");
        rt.block_on(c.positions()).map(|p| p.net.iter().map(|x| x.quantity).sum()).unwrap_or(-1)
    };
    let angel_position = || -> i64 {
        let t = angel.issue_session("A778899").expect("session");
        let mut c = dalal_brokers::angel::AngelClient::new(
            &angel.root(),
            "angelkey3",
            "A778899",
            &dalal_brokers::angel::Identity::default(),
            Duration::from_secs(5),
        )
        .expect("client");
        c.set_tokens(Some(dalal_brokers::angel::model::Tokens {
            jwt: Secret::new(t.jwt_token),
            refresh: Secret::new(t.refresh_token),
            feed: Secret::new(t.feed_token),
            state: String::new(),
        }));
        rt.block_on(c.positions()).map(|p| p.iter().map(|x| x.netqty).sum()).unwrap_or(-1)
    };
    let upstox_client = || {
        dalal_brokers::upstox::UpstoxClient::new(
            &upstox.root(),
            &upstox.hft_root(),
            "upkey3",
            Some(Secret::new(upstox_token.clone())),
            Duration::from_secs(5),
        )
        .expect("client")
    };
    let upstox_position = || -> i64 {
        rt.block_on(upstox_client().positions()).map(|p| p.iter().map(|x| x.quantity).sum()).unwrap_or(-1)
    };

    // The Angel One gateway logged in by itself (and the feed before it).
    wait_for("all three sessions healthy", &|| {
        ["zerodha", "angelone", "upstox"].iter().all(|l| health(l).as_deref() == Some("healthy"))
    });
    for (account, qty) in [("kavya", 5), ("arjun", 7), ("uma", 9)] {
        let r = buy(account, qty);
        assert!(r.contains("\"accepted\":true"), "{account}'s order accepted by the console: {r}");
    }
    wait_for("each broker to fill its own account's order", &|| {
        kite_position() == 5 && angel_position() == 7 && upstox_position() == 9
    });

    // Each account's orders reached only its broker: one order at each, of its size.
    let kite_orders = rt
        .block_on(
            dalal_brokers::kite::KiteClient::new(
                &kite.root(),
                "kitekey3",
                Some(Secret::new(kite_token.clone())),
                Duration::from_secs(5),
            )
            .expect("client")
            .orders(),
        )
        .expect("kite orders");
    assert_eq!(kite_orders.iter().map(|o| o.quantity).collect::<Vec<_>>(), vec![5]);
    let upstox_orders = rt.block_on(upstox_client().order_book()).expect("upstox orders");
    assert_eq!(upstox_orders.iter().map(|o| o.quantity).collect::<Vec<_>>(), vec![9]);
    let angel_places: Vec<i64> = angel
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("placeOrder"))
        .filter_map(|r| r.body.as_ref().and_then(|b| b["quantity"].as_str().and_then(|q| q.parse().ok())))
        .collect();
    assert_eq!(angel_places, vec![7]);

    // Positions reconcile per broker, through the console.
    for account in ["kavya", "arjun", "uma"] {
        let r = http(&addr, "GET", &format!("/api/accounts/{account}/reconcile"), Some(&jwt), "");
        let v: serde_json::Value = serde_json::from_str(&r).unwrap_or_else(|_| panic!("{account}: {r}"));
        assert_eq!(v["agrees"], true, "{account} reconciles with its broker: {r}");
    }

    // Upstox goes down.
    drop(upstox);
    let r = buy("uma", 2);
    assert!(r.contains("\"accepted\":true"), "the console takes it; the broker cannot: {r}");
    wait_for("the Upstox session to show the outage", &|| health("upstox").as_deref() == Some("error"));
    let healthy = |login: &str| metric(&format!("dalal_broker_session_healthy{{login=\"{login}\"}} "));
    assert_eq!(healthy("upstox"), Some(0.0));
    assert_eq!(healthy("zerodha"), Some(1.0));
    assert_eq!(healthy("angelone"), Some(1.0));

    // The other two go on trading.
    for (account, qty) in [("kavya", 2), ("arjun", 3)] {
        let r = buy(account, qty);
        assert!(r.contains("\"accepted\":true"), "{account}: {r}");
    }
    wait_for("Kite and Angel One to fill after the outage", &|| kite_position() == 7 && angel_position() == 10);
    assert_eq!(health("zerodha").as_deref(), Some("healthy"));
    assert_eq!(health("angelone").as_deref(), Some("healthy"));

    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let o = child.wait_with_output().expect("run ends");
    let err = plain(&String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{err}");
    for secret in [kite_token.as_str(), upstox_token.as_str(), ANGEL_SEED, "kitesecret-3b", "upsecret-3c"] {
        assert!(!err.contains(secret), "a secret in the logs");
    }
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("summary")).expect("json");
    let net = |name: &str| -> i64 {
        s["accounts"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == name))
            .and_then(|a| a["positions"].as_array().map(|p| p.iter().map(|x| x["net_qty"].as_i64().unwrap_or(0)).sum()))
            .unwrap_or(i64::MIN)
    };
    assert_eq!((net("kavya"), net("arjun"), net("uma")), (7, 10, 9), "each engine position is its broker's");
}

/// `dalal run --feed upstox:upstox`: the run authorizes Upstox's Market Data Feed v3 and
/// subscribes the instruments with an Upstox key; the trades the feed sends become the
/// engine's ticks, and the Upstox account trades on them through the console, its fills
/// coming back (on the portfolio stream as well as the book).
#[test]
fn a_run_on_the_upstox_feed_trades_through_upstox() {
    let dir = tempfile::tempdir().expect("tempdir");
    let upstox = FakeUpstox::start_in_background().expect("fake Upstox");
    upstox.add_user(FakeUpstoxUser::new("UX6006", "upkey6", "upsecret-6d", "http://127.0.0.1:5000/cb"));
    upstox.set_instrument(UPSTOX_KEY, "RELIANCE", 1400.0);
    upstox.set_funds("UX6006", 1e8, 0.0);
    upstox.set_auto_fill(true);
    let token = upstox.issue_session("upkey6").expect("session").access_token;
    let key_file = dir.path().join("master.key");
    let vault_file = dir.path().join("brokers.vault");
    let mut vault = Vault::open(&vault_file, MasterKey::create_file(&key_file).expect("key")).expect("vault");
    vault
        .add(Login {
            name: "upstox".into(),
            kind: BrokerKind::Upstox,
            ids: BTreeMap::from([
                ("api_key".to_string(), "upkey6".to_string()),
                ("redirect_uri".to_string(), "http://127.0.0.1:5000/cb".to_string()),
            ]),
            secrets: BTreeMap::from([
                ("api_secret".to_string(), Secret::new("upsecret-6d")),
                ("access_token".to_string(), Secret::new(token.clone())),
            ]),
        })
        .expect("login");
    vault.save().expect("save");
    let cfg = format!(
        r#"
[[instruments]]
symbol = "RELIANCE"
segment = "NSE_EQ"
tick_size = 0.05
lot_size = 1
ref_price = 1400.0
keys = {{ upstox = "{UPSTOX_KEY}" }}

[risk]
enforce_session = false
mis_square_off = ""

[[brokers]]
name = "upstox"
kind = "upstox"
root = "{root}"
order_root = "{hft}"
poll_ms = 50

[[accounts]]
name = "uma"
broker = "upstox"
mode = "live"
[accounts.limits]
max_order_qty = 1000
max_order_value = 100000000.0
max_position_qty = 10000
"#,
        root = upstox.root(),
        hft = upstox.hft_root(),
    );
    let cfg_path = dir.path().join("upstox.toml");
    std::fs::write(&cfg_path, cfg).expect("config");
    let json = dir.path().join("s.json");
    let mut child = command()
        .args(["run", "--feed", "upstox:upstox", "--admin-listen", "127.0.0.1:0", "--duration", "300s", "--config"])
        .arg(&cfg_path)
        .arg("--summary-json")
        .arg(&json)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--vault")
        .arg(&vault_file)
        .arg("--key-file")
        .arg(&key_file)
        .env("DALAL_ADMIN_PASSWORD", "upstox-admin-pw-1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("admin console on http://") {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).expect("the console starts");
    wait_for("the feed's subscription", &|| {
        upstox.feed_subscriptions().iter().any(|s| format!("{s:?}").contains(UPSTOX_KEY))
    });
    let ticks = || {
        http(&addr, "GET", "/metrics", None, "")
            .lines()
            .find_map(|l| l.strip_prefix("dalal_ticks_in_total ").and_then(|v| v.trim().parse::<u64>().ok()))
            .unwrap_or(0)
    };
    // One trade at a time: the fake builds each message from the book when it sends it, so
    // trades pushed together could arrive as one.
    let before = ticks();
    for (k, price) in [1400.5, 1401.0, 1399.5].into_iter().enumerate() {
        assert!(upstox.feed_tick(UPSTOX_KEY, price) >= 1, "the run's feed is subscribed");
        wait_for("the trade from the Upstox feed in the engine", &|| ticks() > before + k as u64);
    }
    assert_eq!(ticks(), before + 3, "each trade once");

    let login = http(&addr, "POST", "/api/auth/login", None, r#"{"username":"admin","password":"upstox-admin-pw-1"}"#);
    let jwt = serde_json::from_str::<serde_json::Value>(&login)
        .ok()
        .and_then(|v| v["access_token"].as_str().map(String::from))
        .unwrap_or_else(|| panic!("admin login: {login}"));
    let r = http(
        &addr,
        "POST",
        "/api/orders",
        Some(&jwt),
        r#"{"account":"uma","symbol":"RELIANCE","side":"BUY","qty":4,"product":"MIS"}"#,
    );
    assert!(r.contains("\"accepted\":true"), "{r}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = dalal_brokers::upstox::UpstoxClient::new(
        &upstox.root(),
        &upstox.hft_root(),
        "upkey6",
        Some(Secret::new(token.clone())),
        Duration::from_secs(5),
    )
    .expect("client");
    wait_for("the order to fill at Upstox", &|| {
        rt.block_on(client.positions()).map(|p| p.iter().map(|x| x.quantity).sum::<i64>()).unwrap_or(0) == 4
    });
    wait_for("the portfolio stream to be open", &|| upstox.portfolio_handshakes().accepted >= 1);

    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let o = child.wait_with_output().expect("run ends");
    let err = plain(&String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{err}");
    assert!(!err.contains(&token), "no token in the logs");
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("summary")).expect("json");
    let uma = s["accounts"].as_array().and_then(|a| a.iter().find(|x| x["name"] == "uma")).cloned().expect("uma");
    let net: i64 =
        uma["positions"].as_array().map(|p| p.iter().map(|x| x["net_qty"].as_i64().unwrap_or(0)).sum()).unwrap_or(0);
    assert_eq!(net, 4, "the engine's position is Upstox's: {uma}");
}
