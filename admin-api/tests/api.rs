//! The admin API over real sockets, against a real engine: every endpoint, the role ×
//! ownership matrix and auth abuse.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{http, login, metric, Ws};
use dalal_admin::auth::{self, Claims};
use dalal_admin::link::MANUAL_STRATEGY;
use dalal_admin::{serve, AdminConfig, AdminHandle};
use dalal_core::engine::placement::{EgressObserver, EgressTap, Launch, PlacementConfig, Running};
use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::stats::LiveStats;
use dalal_core::engine::Engine;
use dalal_core::model::{EgressEvent, IngressEvent, Input, Tick};
use dalal_core::model::{Price, Qty, Timestamp};
use serde_json::{json, Value};

const ADMIN_PW: &str = "admin-pass-123";
const SECRET: &[u8] = b"test-secret-test-secret-32-bytes";
/// 2024-01-02 09:15:00 IST (a Tuesday), ns.
const OPEN_NS: i64 = 1_704_167_100 * 1_000_000_000;

fn setup() -> EngineSetup {
    common::default_setup()
}

pub struct World {
    pub setup: EngineSetup,
    pub running: Option<Running<dalal_admin::ViewObserver>>,
    pub admin: Option<AdminHandle>,
    pub addr: SocketAddr,
    t_ns: i64,
    step: u64,
}

impl World {
    pub fn new(f: impl FnOnce(&mut AdminConfig)) -> World {
        let (setup, running, admin, addr) = common::start_console(ADMIN_PW, |cfg| {
            cfg.jwt_secret = Some(SECRET.to_vec());
            f(cfg);
        });
        let mut w = World { setup, running: Some(running), admin: Some(admin), addr, t_ns: OPEN_NS, step: 0 };
        w.ticks(400);
        w
    }

    /// `n` seconds of ticks on every instrument that has a strategy: a slow sine wave, so the
    /// moving-average strategies cross and trade. Commands the API has accepted go first.
    pub fn ticks(&mut self, n: usize) {
        self.commands_in_ring();
        let traded: Vec<usize> = self.setup.strategies.iter().map(|s| s.instrument.index()).collect();
        let running = self.running.as_mut().unwrap();
        for _ in 0..n {
            self.step += 1;
            self.t_ns += 1_000_000_000;
            for &i in &traded {
                let spec = &self.setup.instruments[i];
                let r = self.setup.ref_prices[i].0 as f64;
                let x = r * (1.0 + 0.004 * ((self.step as f64) / 15.0 + i as f64).sin());
                let tick = spec.tick_size.0.max(1);
                let p = ((x as i64) / tick) * tick;
                let t = Tick { instrument: spec.id, ts: Timestamp(self.t_ns), price: Price(p), qty: Qty(10) };
                running.publish(Input::Tick(t));
            }
        }
        running.wait_idle();
    }

    /// One trade of `symbol` at `paise` for `qty`, a second after the last tick, once the
    /// commands the API has accepted are in the ring; returns when the engine has processed it.
    pub fn trade(&mut self, symbol: &str, paise: i64, qty: u64) {
        self.commands_in_ring();
        self.t_ns += 1_000_000_000;
        let id = self.setup.instrument_by_symbol(symbol).expect("symbol").id;
        let t = Tick { instrument: id, ts: Timestamp(self.t_ns), price: Price(paise), qty: Qty(qty) };
        let running = self.running.as_mut().unwrap();
        running.publish(Input::Tick(t));
        running.wait_idle();
    }

    /// Waits until every command the API has accepted is in the ingress ring and processed.
    pub fn wait_idle(&self) {
        self.commands_in_ring();
        self.running.as_ref().unwrap().wait_idle();
    }

    /// The API answers a command once it is queued for the ring, not in it: waits until its
    /// queue (`dalal_admin_commands_queued`) is empty, so what the test publishes next comes
    /// after those commands.
    fn commands_in_ring(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let m = http(self.addr, "GET", "/metrics", Some(common::METRICS_TOKEN), None).text;
            let queued = metric(&m, "dalal_admin_commands_queued");
            assert!(queued.is_some(), "/metrics has no dalal_admin_commands_queued: {m}");
            if queued == Some(0.0) {
                return;
            }
            assert!(Instant::now() < deadline, "the command queue never drained: {m}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(a) = self.admin.take() {
            a.shutdown();
        }
        if let Some(r) = self.running.take() {
            let _ = r.stop();
        }
    }
}

struct Tokens {
    admin: String,
    alice_t: String,
    bob_t: String,
    alice_v: String,
}

fn users(w: &World) -> Tokens {
    let (admin, _) = login(w.addr, "admin", ADMIN_PW);
    for (u, role, acc) in [("alice_t", "trader", "alice"), ("bob_t", "trader", "bob"), ("alice_v", "viewer", "alice")] {
        let r = http(
            w.addr,
            "POST",
            "/api/users",
            Some(&admin),
            Some(&json!({"username": u, "password": format!("{u}-password"), "role": role, "accounts": [acc]})),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let t = |u: &str| login(w.addr, u, &format!("{u}-password")).0;
    Tokens { alice_t: t("alice_t"), bob_t: t("bob_t"), alice_v: t("alice_v"), admin }
}

fn first_order_of(w: &World, token: &str, account: &str) -> u64 {
    let r = http(w.addr, "GET", &format!("/api/orders?account={account}"), Some(token), None);
    assert_eq!(r.status, 200, "{}", r.text);
    r.body.as_array().unwrap().first().unwrap_or_else(|| panic!("{account} has orders"))["id"].as_u64().unwrap()
}

#[test]
fn endpoints_and_role_ownership_matrix() {
    let mut w = World::new(|_| {});
    let a = w.addr;
    let t = users(&w);

    // Public endpoints.
    assert_eq!(http(a, "GET", "/health", None, None).status, 200);
    assert_eq!(http(a, "GET", "/ready", None, None).status, 200);
    let m = http(a, "GET", "/metrics", Some(common::METRICS_TOKEN), None);
    assert_eq!(m.status, 200);
    assert!(m.text.contains("dalal_ticks_in_total"), "{}", m.text);
    assert!(m.text.contains("dalal_tick_to_order_seconds{quantile=\"0.99\"}"));
    let page = http(a, "GET", "/", None, None);
    assert_eq!(page.status, 200);
    assert!(page.text.contains("<canvas"));

    // Every /api route needs a token.
    for p in
        ["/api/me", "/api/accounts", "/api/orders", "/api/positions", "/api/risk", "/api/kill-switch", "/api/users"]
    {
        assert_eq!(http(a, "GET", p, None, None).status, 401, "{p}");
        assert_eq!(http(a, "GET", p, Some("garbage"), None).status, 401, "{p}");
    }

    // The engine traded on its own: strategies placed orders for alice and bob.
    let alice_order = first_order_of(&w, &t.admin, "alice");
    let bob_order = first_order_of(&w, &t.admin, "bob");

    // Read-only endpoints every role may call.
    for tok in [&t.admin, &t.alice_t, &t.bob_t, &t.alice_v] {
        for p in [
            "/api/me",
            "/api/accounts",
            "/api/instruments",
            "/api/strategies",
            "/api/orders",
            "/api/orders?status=open",
            "/api/fills",
            "/api/positions",
            "/api/pnl",
            "/api/risk",
            "/api/kill-switch",
            "/api/latency",
            "/api/candles?symbol=RELIANCE&timeframe=1s",
            "/api/audit",
        ] {
            let r = http(a, "GET", p, Some(tok), None);
            assert_eq!(r.status, 200, "{p}: {}", r.text);
        }
    }
    let c = http(a, "GET", "/api/candles?symbol=RELIANCE&timeframe=1s", Some(&t.alice_v), None);
    assert!(c.body.as_array().unwrap().len() > 100, "candles: {}", c.text);
    assert_eq!(http(a, "GET", "/api/candles?symbol=NOPE", Some(&t.alice_v), None).status, 404);
    let lat = http(a, "GET", "/api/latency", Some(&t.admin), None);
    assert!(lat.body["tick_to_order"]["count"].as_u64().unwrap() > 0, "{}", lat.text);

    // Lists are filtered to what the caller owns.
    let accounts_of = |tok: &str, p: &str, key: &str| -> Vec<String> {
        let r = http(a, "GET", p, Some(tok), None);
        let arr = if p == "/api/risk" { r.body["accounts"].clone() } else { r.body.clone() };
        arr.as_array().unwrap().iter().map(|x| x[key].as_str().unwrap().to_string()).collect()
    };
    for p in ["/api/orders", "/api/fills", "/api/positions", "/api/pnl", "/api/risk", "/api/strategies"] {
        let mine = accounts_of(&t.bob_t, p, "account");
        assert!(!mine.is_empty(), "{p}: bob sees his own");
        assert!(mine.iter().all(|x| x == "bob"), "{p}: bob sees only bob: {mine:?}");
        assert!(accounts_of(&t.alice_v, p, "account").iter().all(|x| x == "alice"), "{p}");
        let all = accounts_of(&t.admin, p, "account");
        assert!(all.iter().any(|x| x == "alice") && all.iter().any(|x| x == "bob"), "{p}: admin sees all");
    }
    assert_eq!(accounts_of(&t.bob_t, "/api/accounts", "name"), vec!["bob"]);

    // Single resources: own → 200, other's → 404 (never 403, never the data).
    let cases: Vec<(String, &str)> = vec![
        ("/api/accounts/alice".into(), "alice"),
        (format!("/api/orders/{alice_order}"), "alice"),
        ("/api/positions?account=alice".into(), "alice"),
        ("/api/orders?account=alice".into(), "alice"),
        ("/api/fills?account=alice".into(), "alice"),
        ("/api/risk/alice".into(), "alice"),
        ("/api/accounts/bob".into(), "bob"),
        (format!("/api/orders/{bob_order}"), "bob"),
        ("/api/risk/bob".into(), "bob"),
    ];
    for (p, owner) in &cases {
        for (tok, user_acc) in [(&t.alice_t, "alice"), (&t.alice_v, "alice"), (&t.bob_t, "bob")] {
            let r = http(a, "GET", p, Some(tok), None);
            let want = if *owner == user_acc { 200 } else { 404 };
            assert_eq!(r.status, want, "{p} as owner of {user_acc}: {}", r.text);
            if want == 404 {
                assert!(!r.text.contains(&format!("\"{owner}\"")), "no data leaks: {}", r.text);
            }
        }
        assert_eq!(http(a, "GET", p, Some(&t.admin), None).status, 200, "{p} as admin");
    }
    assert_eq!(http(a, "GET", "/api/accounts/nosuch", Some(&t.admin), None).status, 404);
    assert_eq!(http(a, "GET", "/api/orders/999999999", Some(&t.admin), None).status, 404);

    // Strategies: other's → 404; viewer → 403; owner stops and starts it; parameters → 501.
    let strat =
        |acc: &str| w.setup.strategies.iter().find(|s| w.setup.accounts[s.account.index()].name == acc).unwrap().id.0;
    let sa = strat("alice");
    assert_eq!(http(a, "GET", &format!("/api/strategies/{sa}"), Some(&t.alice_v), None).status, 200);
    assert_eq!(http(a, "GET", &format!("/api/strategies/{sa}"), Some(&t.bob_t), None).status, 404);
    for (m, p) in [("POST", format!("/api/strategies/{sa}/start")), ("POST", format!("/api/strategies/{sa}/stop"))] {
        assert_eq!(http(a, m, &p, Some(&t.bob_t), None).status, 404, "{p}");
        assert_eq!(http(a, m, &p, Some(&t.alice_v), None).status, 403, "{p}");
        let r = http(a, m, &p, Some(&t.alice_t), None);
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.body["running"], json!(p.ends_with("/start")), "{p}");
    }
    let r = http(a, "POST", &format!("/api/strategies/{sa}/stop"), Some(&t.alice_t), None);
    assert_eq!(http(a, "GET", &format!("/api/strategies/{sa}"), Some(&t.alice_v), None).body["running"], json!(false));
    assert_eq!(r.status, 200);
    assert_eq!(http(a, "POST", &format!("/api/strategies/{sa}/start"), Some(&t.admin), None).status, 200);
    // Parameters: validated like the config file; owner or admin; viewer 403, other trader 404.
    let path = format!("/api/strategies/{sa}");
    let kind = http(a, "GET", &path, Some(&t.alice_v), None).body["kind"].clone();
    assert_eq!(kind, json!("ema_cross"), "alice's first strategy in the test config is an EMA cross");
    assert_eq!(http(a, "PATCH", &path, Some(&t.bob_t), Some(&json!({"fast": 4}))).status, 404);
    assert_eq!(http(a, "PATCH", &path, Some(&t.alice_v), Some(&json!({"fast": 4}))).status, 403);
    for (body, why) in [
        (json!({"fast": 50, "slow": 10}), "fast"),
        (json!({"kind": "grid"}), "kind"),
        (json!({"qty": 0}), "qty"),
        (json!({"fsat": 4}), "fsat"),
        (json!([1, 2]), "object"),
    ] {
        let r = http(a, "PATCH", &path, Some(&t.alice_t), Some(&body));
        // A body that is not an object is refused before it is read as parameters.
        assert_eq!(r.status, if why == "object" { 422 } else { 400 }, "{body}: {}", r.text);
        assert!(r.text.contains(why), "{body}: the error names {why:?}: {}", r.text);
    }
    let r = http(a, "PATCH", &path, Some(&t.alice_t), Some(&json!({"fast": 4, "slow": 30})));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.body["params"]["fast"].clone(), r.body["params"]["slow"].clone()), (json!(4), json!(30)));
    let r = http(a, "GET", &path, Some(&t.admin), None);
    assert_eq!(r.body["params"]["slow"], json!(30), "the change is what the API shows from now on");

    // Manual orders: trader of the account or admin; viewer 403; other trader 404.
    let order =
        |acc: &str| json!({"account": acc, "symbol": "RELIANCE", "side": "BUY", "qty": 1, "order_type": "MARKET"});
    assert_eq!(http(a, "POST", "/api/orders", Some(&t.bob_t), Some(&order("alice"))).status, 404);
    assert_eq!(http(a, "POST", "/api/orders", Some(&t.alice_v), Some(&order("alice"))).status, 403);
    let before =
        http(a, "GET", "/api/orders?account=alice&limit=10000", Some(&t.admin), None).body.as_array().unwrap().len();
    let r = http(a, "POST", "/api/orders", Some(&t.alice_t), Some(&order("alice")));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(http(a, "POST", "/api/orders", Some(&t.admin), Some(&order("bob"))).status, 200);
    let bad = json!({"account": "alice", "symbol": "RELIANCE", "side": "BUY", "qty": 1, "order_type": "LIMIT"});
    assert_eq!(http(a, "POST", "/api/orders", Some(&t.alice_t), Some(&bad)).status, 400);
    w.ticks(5);
    let orders = http(a, "GET", "/api/orders?account=alice&limit=10000", Some(&t.alice_t), None);
    let list = orders.body.as_array().unwrap();
    assert!(list.len() > before, "manual order reached the engine");
    let manual = list.iter().find(|o| o["manual"] == json!(true)).expect("a manual order");
    assert_eq!(manual["symbol"], "RELIANCE");

    // A resting limit order to modify and cancel.
    let ref_p = w.setup.ref_prices[w.setup.instrument_by_symbol("RELIANCE").unwrap().id.index()].0 as f64 / 100.0;
    let limit = json!({"account": "alice", "symbol": "RELIANCE", "side": "BUY", "qty": 1, "order_type": "LIMIT",
                       "price": (ref_p * 0.97 * 10.0).round() / 10.0, "product": "MIS"});
    assert_eq!(http(a, "POST", "/api/orders", Some(&t.alice_t), Some(&limit)).status, 200);
    w.ticks(2);
    let open = http(a, "GET", "/api/orders?account=alice&status=open", Some(&t.alice_t), None);
    let working = open.body.as_array().unwrap().iter().find(|o| o["manual"] == json!(true));
    if let Some(o) = working {
        let id = o["id"].as_u64().unwrap();
        let p = format!("/api/orders/{id}");
        assert_eq!(http(a, "PATCH", &p, Some(&t.bob_t), Some(&json!({"qty": 2}))).status, 404);
        assert_eq!(http(a, "PATCH", &p, Some(&t.alice_v), Some(&json!({"qty": 2}))).status, 403);
        assert_eq!(http(a, "PATCH", &p, Some(&t.alice_t), Some(&json!({"qty": 2}))).status, 200);
        assert_eq!(http(a, "DELETE", &p, Some(&t.bob_t), None).status, 404);
        assert_eq!(http(a, "DELETE", &p, Some(&t.alice_v), None).status, 403);
        assert_eq!(http(a, "DELETE", &p, Some(&t.alice_t), None).status, 200);
        w.ticks(2);
        let o = http(a, "GET", &p, Some(&t.alice_t), None);
        assert_eq!(o.body["status"], "CANCELLED", "{}", o.text);
    } else {
        panic!("limit order should rest: {}", open.text);
    }
    // On someone else's order: 404 for modify and cancel.
    let bp = format!("/api/orders/{bob_order}");
    assert_eq!(http(a, "DELETE", &bp, Some(&t.alice_t), None).status, 404);
    assert_eq!(http(a, "PATCH", &bp, Some(&t.alice_t), Some(&json!({"qty": 1}))).status, 404);

    // Risk limits: admin only; other's 404 first.
    let limits = http(a, "GET", "/api/risk/alice", Some(&t.alice_t), None).body["limits"].clone();
    let mut newl = limits.clone();
    newl["max_order_qty"] = json!(7);
    assert_eq!(http(a, "PUT", "/api/risk/alice", Some(&t.bob_t), Some(&newl)).status, 404);
    assert_eq!(http(a, "PUT", "/api/risk/alice", Some(&t.alice_t), Some(&newl)).status, 403);
    assert_eq!(http(a, "PUT", "/api/risk/alice", Some(&t.alice_v), Some(&newl)).status, 403);
    assert_eq!(http(a, "PUT", "/api/risk/alice", Some(&t.admin), Some(&newl)).status, 200);
    assert_eq!(http(a, "GET", "/api/risk/alice", Some(&t.alice_t), None).body["limits"]["max_order_qty"], 7);
    // The engine enforces it: an order above the new limit is refused by risk.
    let big = json!({"account": "alice", "symbol": "RELIANCE", "side": "BUY", "qty": 8});
    assert_eq!(http(a, "POST", "/api/orders", Some(&t.alice_t), Some(&big)).status, 200);
    w.ticks(2);
    let l = http(a, "GET", "/api/orders?account=alice", Some(&t.alice_t), None);
    assert!(
        l.body.as_array().unwrap().iter().any(|o| o["reject"] == "max_order_qty"),
        "SetLimits reached risk: {}",
        l.text
    );

    // Kill switch: own account for traders; global for admins.
    let ks = |tok: &str, scope: &str, on: bool| {
        http(a, "POST", "/api/kill-switch", Some(tok), Some(&json!({"scope": scope, "engaged": on}))).status
    };
    assert_eq!(ks(&t.bob_t, "alice", true), 404);
    assert_eq!(ks(&t.alice_v, "alice", true), 403);
    assert_eq!(ks(&t.alice_t, "global", true), 403);
    assert_eq!(ks(&t.alice_t, "alice", true), 200);
    let k = http(a, "GET", "/api/kill-switch", Some(&t.alice_v), None);
    let only = k.body["accounts"].as_array().unwrap();
    assert_eq!((only.len(), &only[0]["account"], &only[0]["engaged"]), (1, &json!("alice"), &json!(true)));
    assert_eq!(ks(&t.alice_t, "alice", false), 200);
    assert_eq!(ks(&t.admin, "global", true), 200);
    assert_eq!(http(a, "GET", "/api/kill-switch", Some(&t.bob_t), None).body["global"], true);
    assert_eq!(ks(&t.admin, "global", false), 200);

    // Users: admin only; a user may read and change only themself.
    assert_eq!(http(a, "GET", "/api/users", Some(&t.alice_t), None).status, 403);
    assert_eq!(http(a, "GET", "/api/users", Some(&t.alice_v), None).status, 403);
    let ul = http(a, "GET", "/api/users", Some(&t.admin), None);
    assert_eq!(ul.status, 200);
    assert!(!ul.text.contains("argon2") && !ul.text.contains("password"), "no hashes: {}", ul.text);
    let nu = json!({"username": "x1", "password": "longenough", "role": "viewer"});
    assert_eq!(http(a, "POST", "/api/users", Some(&t.alice_t), Some(&nu)).status, 403);
    assert_eq!(http(a, "GET", "/api/users/alice_t", Some(&t.bob_t), None).status, 404);
    assert_eq!(http(a, "GET", "/api/users/alice_t", Some(&t.alice_t), None).status, 200);
    assert_eq!(http(a, "PATCH", "/api/users/alice_t", Some(&t.alice_t), Some(&json!({"role": "admin"}))).status, 403);
    assert_eq!(
        http(a, "PATCH", "/api/users/alice_t", Some(&t.bob_t), Some(&json!({"password": "zzzzzzzzz"}))).status,
        404
    );
    let r = http(a, "PATCH", "/api/users/alice_v", Some(&t.admin), Some(&json!({"disabled": true})));
    assert_eq!(r.status, 200);
    assert_eq!(http(a, "GET", "/api/me", Some(&t.alice_v), None).status, 401, "disabled user's token stops working");
    let r =
        http(a, "POST", "/api/auth/login", None, Some(&json!({"username": "alice_v", "password": "alice_v-password"})));
    assert_eq!(r.status, 403, "a disabled user is told so only with the right password: {}", r.text);

    // API keys are scoped like their user.
    let pw = json!({"current_password": "alice_t-password"});
    let k = http(a, "POST", "/api/users/alice_t/api-keys", Some(&t.alice_t), Some(&pw));
    assert_eq!(k.status, 200);
    let key = k.body["api_key"].as_str().unwrap().to_string();
    assert_eq!(http(a, "GET", "/api/accounts/alice", Some(&key), None).status, 200);
    assert_eq!(http(a, "GET", "/api/accounts/bob", Some(&key), None).status, 404);
    assert_eq!(http(a, "GET", "/api/users", Some(&key), None).status, 403);
    assert_eq!(http(a, "POST", "/api/users/alice_t/api-keys", Some(&t.bob_t), None).status, 404);

    // Audit: every change, who and what; never a secret.
    let au = http(a, "GET", "/api/audit?limit=1000", Some(&t.admin), None);
    let actions: Vec<(String, String)> = au
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["actor"].as_str().unwrap().to_string(), r["action"].as_str().unwrap().to_string()))
        .collect();
    for (who, what) in [
        ("admin", "user.create"),
        ("alice_t", "order.place"),
        ("alice_t", "order.modify"),
        ("alice_t", "order.cancel"),
        ("admin", "risk.set_limits"),
        ("alice_t", "kill_switch.trip"),
        ("alice_t", "kill_switch.reset"),
        ("admin", "kill_switch.trip"),
        ("admin", "user.update"),
        ("alice_t", "user.api_key_create"),
    ] {
        assert!(actions.contains(&(who.to_string(), what.to_string())), "audit has {who} {what}: {actions:?}");
    }
    for secret in [ADMIN_PW, "alice_t-password", &key[3..], "argon2"] {
        assert!(!au.text.contains(secret), "audit leaks a secret");
    }
    let mine = http(a, "GET", "/api/audit", Some(&t.bob_t), None);
    assert!(mine.body.as_array().unwrap().iter().all(|r| r["actor"] == "bob_t"));

    // P&L and positions have numbers.
    let pos = http(a, "GET", "/api/positions", Some(&t.admin), None);
    assert!(pos.body.as_array().unwrap().iter().all(|p| p["avg_price"].is_number() && p["net_qty"].is_i64()));
}

#[test]
fn auth_abuse() {
    let w = World::new(|c| c.lockout_duration = Duration::from_secs(60));
    let a = w.addr;
    let (admin, refresh) = login(a, "admin", ADMIN_PW);
    let r = http(
        a,
        "POST",
        "/api/users",
        Some(&admin),
        Some(&json!({"username": "t1", "password": "t1-password", "role": "trader", "accounts": ["alice"]})),
    );
    assert_eq!(r.status, 200);

    // Bad password back-off: after 3 failures this address waits before it may try that name
    // again, even with the right password.
    for _ in 0..3 {
        let r = http(a, "POST", "/api/auth/login", None, Some(&json!({"username": "t1", "password": "wrong"})));
        assert_eq!(r.status, 401);
    }
    let r = http(a, "POST", "/api/auth/login", None, Some(&json!({"username": "t1", "password": "t1-password"})));
    assert_eq!(r.status, 429, "{}", r.text);
    // An admin unlocks by re-enabling.
    assert_eq!(http(a, "PATCH", "/api/users/t1", Some(&admin), Some(&json!({"disabled": false}))).status, 200);
    let (t1, _) = login(a, "t1", "t1-password");
    assert_eq!(http(a, "GET", "/api/me", Some(&t1), None).status, 200);
    // Unknown users get the same answer as a wrong password, and the name typed (maybe a
    // password) is not recorded.
    let r = http(a, "POST", "/api/auth/login", None, Some(&json!({"username": "Typed-Pass-123", "password": "x"})));
    assert_eq!(r.status, 401);
    let au = http(a, "GET", "/api/audit?limit=1000", Some(&admin), None);
    assert!(!au.text.contains("Typed-Pass-123") && !au.text.contains("t1-password") && !au.text.contains("wrong"));

    let now = auth::now_s();
    let claims = |sub: &str, aud: &str, exp: i64| Claims {
        sub: sub.into(),
        aud: aud.into(),
        iss: auth::ISSUER.into(),
        iat: now - 10,
        exp,
        jti: "x".into(),
        gen: 0,
        fam: String::new(),
    };
    // A token signed with the right key is accepted (control).
    assert_eq!(
        http(a, "GET", "/api/me", Some(&auth::sign(SECRET, &claims("t1", auth::AUDIENCE, now + 60))), None).status,
        200
    );
    // Expired.
    let expired = auth::sign(SECRET, &claims("admin", auth::AUDIENCE, now - 1));
    assert_eq!(http(a, "GET", "/api/users", Some(&expired), None).status, 401);
    // Wrong audience.
    let wrong_aud = auth::sign(SECRET, &claims("admin", "some-other-service", now + 60));
    assert_eq!(http(a, "GET", "/api/users", Some(&wrong_aud), None).status, 401);
    // Wrong key.
    let forged = auth::sign(b"not-the-server-key-not-the-key!!", &claims("admin", auth::AUDIENCE, now + 60));
    assert_eq!(http(a, "GET", "/api/users", Some(&forged), None).status, 401);
    // Tampered: t1's valid token with the payload changed to admin.
    let parts: Vec<&str> = t1.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["sub"] = json!("admin");
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(payload.to_string()), parts[2]);
    assert_eq!(http(a, "GET", "/api/users", Some(&tampered), None).status, 401);
    // alg: none, with and without a signature.
    let none_h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("admin", auth::AUDIENCE, now + 60)).unwrap());
    assert_eq!(http(a, "GET", "/api/users", Some(&format!("{none_h}.{p}.")), None).status, 401);
    assert_eq!(http(a, "GET", "/api/users", Some(&format!("{none_h}.{p}.{}", parts[2])), None).status, 401);
    // HS512 header (algorithm confusion) is refused too.
    let h512 = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
    assert_eq!(http(a, "GET", "/api/users", Some(&format!("{h512}.{p}.{}", parts[2])), None).status, 401);

    // Refresh rotates; a spent or revoked refresh token is refused.
    let r = http(a, "POST", "/api/auth/refresh", None, Some(&json!({"refresh_token": refresh})));
    assert_eq!(r.status, 200, "{}", r.text);
    let refresh2 = r.body["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(http(a, "GET", "/api/users", r.body["access_token"].as_str(), None).status, 200);
    assert_eq!(http(a, "POST", "/api/auth/refresh", None, Some(&json!({"refresh_token": refresh}))).status, 401);
    assert_eq!(http(a, "POST", "/api/auth/logout", None, Some(&json!({"refresh_token": refresh2}))).status, 200);
    let r = http(a, "POST", "/api/auth/refresh", None, Some(&json!({"refresh_token": refresh2})));
    assert_eq!(r.status, 401, "revoked refresh token");

    // TOTP: once enabled, a login needs the current code.
    let r = http(a, "POST", "/api/users/t1/totp", Some(&t1), Some(&json!({"current_password": "t1-password"})));
    assert_eq!(r.status, 200);
    let secret = auth::base32_decode(r.body["secret_base32"].as_str().unwrap()).unwrap();
    let r = http(a, "POST", "/api/auth/login", None, Some(&json!({"username": "t1", "password": "t1-password"})));
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "invalid credentials");
    let r = http(
        a,
        "POST",
        "/api/auth/login",
        None,
        Some(&json!({"username": "t1", "password": "t1-password", "totp": "000000x"})),
    );
    assert_eq!(r.status, 401);
    let code = auth::totp(&secret, auth::now_s());
    let r = http(
        a,
        "POST",
        "/api/auth/login",
        None,
        Some(&json!({"username": "t1", "password": "t1-password", "totp": code})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let au = http(a, "GET", "/api/audit?limit=1000", Some(&admin), None);
    assert!(!au.text.contains(r.body["access_token"].as_str().unwrap()));
    assert!(!au.text.to_lowercase().contains(&auth::base32(&secret).to_lowercase()));
}

#[test]
fn rate_limit_per_user() {
    let w = World::new(|c| c.rate_limit_per_min = 5);
    let (t, _) = login(w.addr, "admin", ADMIN_PW);
    let codes: Vec<u16> = (0..7).map(|_| http(w.addr, "GET", "/api/me", Some(&t), None).status).collect();
    assert_eq!(&codes[..5], &[200; 5]);
    assert_eq!(codes[6], 429);
}

#[test]
fn openapi_describes_every_route() {
    let w = World::new(|_| {});
    let r = http(w.addr, "GET", "/api/openapi.json", None, None);
    assert_eq!(r.status, 200);
    let paths = r.body["paths"].as_object().unwrap();
    let routes = [
        ("get", "/health"),
        ("get", "/ready"),
        ("get", "/metrics"),
        ("get", "/api/openapi.json"),
        ("get", "/api/brokers"),
        ("get", "/api/brokers/status"),
        ("put", "/api/brokers/{login}"),
        ("delete", "/api/brokers/{login}"),
        ("get", "/api/accounts/{name}/broker"),
        ("get", "/api/accounts/{name}/reconcile"),
        ("post", "/api/accounts/{name}/reconcile/adopt"),
        ("get", "/api/feed"),
        ("post", "/api/auth/login"),
        ("post", "/api/auth/refresh"),
        ("post", "/api/auth/logout"),
        ("get", "/api/me"),
        ("get", "/api/users"),
        ("post", "/api/users"),
        ("get", "/api/users/{name}"),
        ("patch", "/api/users/{name}"),
        ("post", "/api/users/{name}/totp"),
        ("post", "/api/users/{name}/api-keys"),
        ("get", "/api/users/{name}/api-keys"),
        ("delete", "/api/users/{name}/api-keys/{id}"),
        ("get", "/api/accounts"),
        ("get", "/api/accounts/{name}"),
        ("get", "/api/instruments"),
        ("get", "/api/strategies"),
        ("get", "/api/strategies/{id}"),
        ("patch", "/api/strategies/{id}"),
        ("post", "/api/strategies/{id}/start"),
        ("post", "/api/strategies/{id}/stop"),
        ("get", "/api/orders"),
        ("post", "/api/orders"),
        ("get", "/api/orders/{id}"),
        ("patch", "/api/orders/{id}"),
        ("delete", "/api/orders/{id}"),
        ("get", "/api/fills"),
        ("get", "/api/positions"),
        ("get", "/api/pnl"),
        ("get", "/api/risk"),
        ("get", "/api/risk/{account}"),
        ("put", "/api/risk/{account}"),
        ("get", "/api/kill-switch"),
        ("post", "/api/kill-switch"),
        ("get", "/api/latency"),
        ("get", "/api/candles"),
        ("get", "/api/audit"),
        ("get", "/api/reports"),
        ("get", "/api/reports/{id}"),
        ("get", "/api/ws"),
    ];
    for (m, p) in routes {
        assert!(paths.get(p).and_then(|x| x.get(m)).is_some(), "openapi lacks {m} {p}");
        // And the server really serves it (anything but 404/405 for a concrete path).
        let concrete = p
            .replace("{name}", "admin")
            .replace("{id}", "0")
            .replace("{account}", "alice")
            .replace("{login}", "zerodha");
        let empty = json!({});
        let s = http(w.addr, &m.to_uppercase(), &concrete, None, if m == "get" { None } else { Some(&empty) }).status;
        assert!(s != 405 && (s != 404 || concrete.contains("/0")), "{m} {concrete}: {s}");
    }
    let documented: usize = paths.values().map(|v| v.as_object().unwrap().len()).sum();
    assert_eq!(documented, routes.len(), "no undocumented extras either way");
}

#[test]
fn websocket_streams_by_role() {
    let mut w = World::new(|_| {});
    let a = w.addr;
    let t = users(&w);
    assert!(Ws::connect(a, "/api/ws").is_err(), "no token, no socket");
    assert!(Ws::open(a, "/api/ws", "bogus").is_err());
    let mut bob = Ws::open(a, "/api/ws?topics=orders,fills,positions,pnl", &t.bob_t).unwrap();
    let mut admin = Ws::open(a, "/api/ws?topics=candles,orders,latency,ticks&symbols=RELIANCE", &t.admin).unwrap();
    assert_eq!(bob.next_text().unwrap()["type"], "hello");
    assert_eq!(admin.next_text().unwrap()["type"], "hello");
    // Orders for everyone: admin's filtered by symbol, bob's by ownership.
    let r = http(
        a,
        "POST",
        "/api/orders",
        Some(&t.admin),
        Some(&json!({"account": "alice", "symbol": "RELIANCE", "side": "BUY", "qty": 1})),
    );
    assert_eq!(r.status, 200);
    let r = http(
        a,
        "POST",
        "/api/orders",
        Some(&t.admin),
        Some(&json!({"account": "bob", "symbol": "INFY", "side": "BUY", "qty": 1})),
    );
    assert_eq!(r.status, 200);
    w.ticks(120);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut bob_kinds, mut admin_kinds) = (Vec::new(), Vec::new());
    while Instant::now() < deadline && bob_kinds.len() < 40 {
        let Some(m) = bob.next_text() else { break };
        let ty = m["type"].as_str().unwrap_or("").to_string();
        let acc = match ty.as_str() {
            "order" => m["order"]["account"].clone(),
            "fill" => m["fill"]["account"].clone(),
            "position" => m["position"]["account"].clone(),
            "pnl" => m["account"].clone(),
            "lagged" => json!("bob"),
            _ => panic!("bob subscribed to orders/fills/positions/pnl only, got {m}"),
        };
        assert_eq!(acc, "bob", "bob sees only bob: {m}");
        bob_kinds.push(ty);
    }
    while Instant::now() < deadline && admin_kinds.len() < 40 {
        let Some(m) = admin.next_text() else { break };
        let ty = m["type"].as_str().unwrap_or("").to_string();
        match ty.as_str() {
            "order" => assert_eq!(m["order"]["symbol"], "RELIANCE"),
            "candle" => assert_eq!(m["candle"]["symbol"], "RELIANCE"),
            "tick" => assert_eq!(m["symbol"], "RELIANCE"),
            "latency" | "lagged" => {}
            _ => panic!("unexpected {m}"),
        }
        admin_kinds.push(ty);
    }
    assert!(bob_kinds.iter().any(|k| k == "order"), "{bob_kinds:?}");
    assert!(admin_kinds.iter().any(|k| k == "candle"), "{admin_kinds:?}");
}

/// A WebDriver session on chromedriver (W3C protocol over plain HTTP).
struct Driver {
    addr: SocketAddr,
    session: String,
    child: std::process::Child,
}

impl Driver {
    fn start() -> Option<Driver> {
        let exe = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())?;
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(exe)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let t0 = Instant::now();
        while TcpStream::connect(addr).is_err() && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"]}}}});
        // Owned before the session exists, so chromedriver is stopped even if that fails.
        let mut d = Driver { addr, session: String::new(), child };
        let r = http(addr, "POST", "/session", None, Some(&caps));
        d.session = r.body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("webdriver session: {}", r.text))
            .to_string();
        Some(d)
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let p = format!("/session/{}{}", self.session, path);
        let r = http(self.addr, method, &p, None, body.as_ref().or(Some(&json!({}))).filter(|_| method == "POST"));
        assert_eq!(r.status, 200, "webdriver {method} {path}: {}", r.text);
        r.body["value"].clone()
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        v.as_object().and_then(|o| o.values().next()).and_then(|x| x.as_str()).unwrap().to_string()
    }

    fn js(&self, script: &str) -> Value {
        self.cmd("POST", "/execute/sync", Some(json!({"script": script, "args": []})))
    }

    /// Opens the console at `addr` and logs in as `user`.
    fn log_in(&self, addr: SocketAddr, user: &str, password: &str) {
        self.cmd("POST", "/url", Some(json!({"url": format!("http://{addr}/")})));
        let field = self.find("#username");
        self.cmd("POST", &format!("/element/{field}/value"), Some(json!({"text": user})));
        let pw = self.find("#password");
        self.cmd("POST", &format!("/element/{pw}/value"), Some(json!({"text": password})));
        let btn = self.find("#login-btn");
        self.cmd("POST", &format!("/element/{btn}/click"), None);
    }

    fn wait_js(&self, script: &str, what: &str) -> Value {
        let t0 = Instant::now();
        loop {
            let v = self.js(script);
            if !v.is_null() && v != json!(false) {
                return v;
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http(self.addr, "DELETE", &format!("/session/{}", self.session), None, None);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser session, or `None` (the test is skipped) when chromium is not installed; under
/// CI a missing browser fails the test instead.
fn browser() -> Option<Driver> {
    let d = Driver::start();
    if d.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but chromium/chromedriver are not installed");
        }
        println!("skipped: chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)");
    }
    d
}

#[test]
fn browser_login_live_positions_and_kill_switch() {
    let Some(d) = browser() else { return };
    let mut w = World::new(|_| {});
    d.log_in(w.addr, "admin", ADMIN_PW);
    d.wait_js("return document.getElementById('status').textContent === 'live'", "the WebSocket to connect");
    d.wait_js("return Number(document.getElementById('chart').dataset.candles || 0) > 0", "the chart to draw bars");
    let rows0 = d
        .wait_js("return document.querySelectorAll('#positions tbody tr').length || null", "positions")
        .as_u64()
        .unwrap();
    assert!(rows0 > 0);
    let updates0 = d.js("return Number(document.getElementById('positions').dataset.updates)").as_u64().unwrap();
    let bars0 = d.js("return Number(document.getElementById('chart').dataset.candles)").as_u64().unwrap();
    // More market: positions and the chart update live.
    w.ticks(60);
    d.wait_js(
        &format!("return Number(document.getElementById('positions').dataset.updates) > {updates0}"),
        "positions to update",
    );
    d.wait_js(
        &format!("return Number(document.getElementById('chart').dataset.candles) > {bars0} || Number(document.getElementById('chart').dataset.candles) >= 120"),
        "new bars",
    );
    // Trip and reset alice's kill switch (confirmations accepted).
    d.js("window.confirm = () => true; return true");
    // The panel re-renders with every update, so look the button up and click it in one step
    // inside the page (a held element reference can go stale between the two).
    d.js("document.getElementById('kill-alice').click(); return true");
    d.wait_js("return document.getElementById('kill-state-alice').textContent === 'ENGAGED'", "kill switch engaged");
    let (t, _) = login(w.addr, "admin", ADMIN_PW);
    let ks = http(w.addr, "GET", "/api/kill-switch", Some(&t), None);
    assert!(ks.body["accounts"].as_array().unwrap().iter().any(|a| a["account"] == "alice" && a["engaged"] == true));
    d.js("document.getElementById('kill-alice').click(); return true");
    d.wait_js("return document.getElementById('kill-state-alice').textContent === 'off'", "kill switch reset");
    let au = http(w.addr, "GET", "/api/audit", Some(&t), None);
    assert!(au.text.contains("kill_switch.trip") && au.text.contains("kill_switch.reset"));
}

/// The console lists the saved backtest reports a user may read and opens one in a sandboxed
/// frame, charts and all.
#[test]
fn browser_lists_and_opens_saved_reports() {
    let Some(d) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("dalal.db").display());
    let w = World::new({
        let u = url.clone();
        move |c| c.store_url = Some(u)
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let setup = w.setup.clone();
        let store = dalal_persistence::store::Store::open(&url, &setup, Default::default()).await.unwrap();
        let page = dalal_persistence::store::NewReport {
            created_ns: 1_795_146_300_000_000_000,
            run_label: "nightly".into(),
            account: Some("alice".into()),
            accounts: vec!["alice".into()],
            title: "Backtest: account alice".into(),
            metrics: r#"{"days": 5, "total_return": 0.0123, "sharpe": 1.5, "max_drawdown": -0.02, "trades": 7}"#.into(),
            html: "<!DOCTYPE html><html><body><h1 id=\"t\">alice's page</h1><svg width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\"/></svg></body></html>".into(),
        };
        store.save_report(&page).await.unwrap();
        store.close().await;
    });
    d.log_in(w.addr, "admin", ADMIN_PW);
    d.wait_js("return document.querySelectorAll('#reports tbody tr').length === 1 || null", "the saved report listed");
    let row = d.js("return document.querySelector('#reports tbody tr').textContent").as_str().unwrap_or("").to_string();
    assert!(row.contains("nightly") && row.contains("alice") && row.contains("1.23%") && row.contains("1.50"), "{row}");
    d.js("document.querySelector('#reports button[data-report]').click(); return true");
    let html = d.wait_js("return document.getElementById('report-frame').srcdoc || null", "the page opened");
    assert!(html.as_str().unwrap_or("").contains("alice's page"), "{html}");
    assert_eq!(
        d.js("return document.getElementById('report-frame').getAttribute('sandbox')"),
        json!(""),
        "no script runs in it"
    );
}

#[test]
fn users_and_audit_persist_in_the_sql_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("dalal.db").display());
    {
        let u = url.clone();
        let w = World::new(move |c| {
            c.store_url = Some(u);
            c.user_lock_attempts = 3;
            c.lockout_delay = Duration::from_secs(1);
        });
        let (admin, _) = login(w.addr, "admin", ADMIN_PW);
        let nu = json!({"username": "persisted", "password": "persisted-pw", "role": "trader", "accounts": ["bob"]});
        assert_eq!(http(w.addr, "POST", "/api/users", Some(&admin), Some(&nu)).status, 200);
        assert_eq!(
            http(w.addr, "PATCH", "/api/users/persisted", Some(&admin), Some(&json!({"role": "viewer"}))).status,
            200
        );
        assert_eq!(http(w.addr, "GET", "/ready", None, None).status, 200);
        // Sessions that must outlive the restart: an API key, a refresh token and a lockout;
        // and one that must not: a refresh token spent by logout.
        let pw = json!({"current_password": ADMIN_PW});
        let k = http(w.addr, "POST", "/api/users/persisted/api-keys", Some(&admin), Some(&pw));
        assert_eq!(k.status, 200);
        let key = k.body["api_key"].as_str().unwrap().to_string();
        let (_, refresh) = login(w.addr, "persisted", "persisted-pw");
        let (_, spent) = login(w.addr, "persisted", "persisted-pw");
        let out = http(w.addr, "POST", "/api/auth/logout", None, Some(&json!({"refresh_token": spent})));
        assert_eq!(out.status, 200);
        let lu = json!({"username": "locky", "password": "locky-password", "role": "viewer", "accounts": []});
        assert_eq!(http(w.addr, "POST", "/api/users", Some(&admin), Some(&lu)).status, 200);
        for _ in 0..3 {
            let bad = json!({"username": "locky", "password": "wrong"});
            assert_eq!(http(w.addr, "POST", "/api/auth/login", None, Some(&bad)).status, 401);
        }
        std::fs::write(dir.path().join("session"), format!("{key}\n{refresh}\n{spent}")).unwrap();
    }
    let saved = std::fs::read_to_string(dir.path().join("session")).unwrap();
    let [key, refresh, spent]: [&str; 3] = saved.lines().collect::<Vec<_>>().try_into().unwrap();
    // A restart: same database, a different configured password that must not replace the
    // stored admin.
    let w = World::new(move |c| {
        c.store_url = Some(url);
        c.initial_admin_password = Some("another-password".into());
        c.user_lock_attempts = 3;
        c.lockout_delay = Duration::from_secs(1);
    });
    let (admin, _) = login(w.addr, "admin", ADMIN_PW);
    let (t, _) = login(w.addr, "persisted", "persisted-pw");
    let me = http(w.addr, "GET", "/api/me", Some(&t), None);
    assert_eq!(me.body["role"], "viewer");
    assert_eq!(me.body["accounts"], json!(["bob"]));
    assert_eq!(http(w.addr, "GET", "/api/accounts/alice", Some(&t), None).status, 404);
    let au = http(w.addr, "GET", "/api/audit?limit=100", Some(&admin), None);
    let actions: Vec<&str> = au.body.as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"user.create") && actions.contains(&"user.update"), "{actions:?}");
    assert!(!au.text.contains("persisted-pw"));

    // The key still works, the refresh token still refreshes, the spent one stays spent, and
    // the lock still holds: the right password passes it, but only after the delay.
    assert_eq!(http(w.addr, "GET", "/api/me", Some(key), None).body["username"], "persisted");
    let r = http(w.addr, "POST", "/api/auth/refresh", None, Some(&json!({"refresh_token": refresh})));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = http(w.addr, "POST", "/api/auth/refresh", None, Some(&json!({"refresh_token": spent})));
    assert_eq!(r.status, 401);
    let good = json!({"username": "locky", "password": "locky-password"});
    let t0 = Instant::now();
    assert_eq!(http(w.addr, "POST", "/api/auth/login", None, Some(&good)).status, 200);
    assert!(t0.elapsed() >= Duration::from_secs(1), "a locked name is held for the delay");
    let stored = std::fs::read(dir.path().join("dalal.db")).unwrap();
    for secret in [key, refresh] {
        assert!(!stored.windows(secret.len()).any(|w| w == secret.as_bytes()), "a secret reached the database");
    }
}

/// `/metrics` carries per-stage latency quantiles from the engine's own histograms, ring fill
/// levels and the kill switches as the engine holds them; the kill-switch view says which
/// switches the engine has engaged, so one it trips itself shows too.
#[test]
fn metrics_show_stages_rings_and_the_engines_kill_switches() {
    let mut w = World::new(|_| {});
    let a = w.addr;
    let t = users(&w);
    let value = |text: &str, series: &str| -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = http(a, "GET", "/metrics", Some(common::METRICS_TOKEN), None).text;
        let stage = |s: &str| value(&m, &format!("dalal_stage_latency_seconds{{stage=\"{s}\",quantile=\"0.5\"}} "));
        if ["candle", "strategy", "risk", "order", "tick_to_order"].iter().all(|s| stage(s).is_some_and(|v| v > 0.0)) {
            for ring in ["ingress", "egress", "candle_strategy", "strategy_risk", "risk_order"] {
                assert!(value(&m, &format!("dalal_ring_fill{{ring=\"{ring}\"}} ")).is_some(), "{ring}: {m}");
            }
            assert_eq!(value(&m, "dalal_kill_switch{scope=\"global\"} "), Some(0.0), "{m}");
            break;
        }
        assert!(Instant::now() < deadline, "stage quantiles never appeared: {m}");
        w.ticks(1);
        std::thread::sleep(Duration::from_millis(100));
    }

    let alice_kill = |w: &World| {
        let k = http(w.addr, "GET", "/api/kill-switch", Some(&t.admin), None).body;
        let entry = k["accounts"].as_array().unwrap().iter().find(|x| x["account"] == "alice").unwrap().clone();
        let m = http(w.addr, "GET", "/metrics", Some(common::METRICS_TOKEN), None).text;
        (entry["engaged_by_engine"].clone(), value(&m, "dalal_kill_switch{scope=\"account\",account=\"alice\"} "))
    };
    assert_eq!(alice_kill(&w), (json!(false), Some(0.0)));
    let trip = json!({"scope": "alice", "engaged": true});
    assert_eq!(http(a, "POST", "/api/kill-switch", Some(&t.admin), Some(&trip)).status, 200);
    w.ticks(1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(alice_kill(&w), (json!(true), Some(1.0)), "the engine's own state is what is shown");
    let reset = json!({"scope": "alice", "engaged": false});
    assert_eq!(http(a, "POST", "/api/kill-switch", Some(&t.admin), Some(&reset)).status, 200);
    w.ticks(1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(alice_kill(&w), (json!(false), Some(0.0)));
}

/// One manual MARKET (or LIMIT, with a price) order through the API, for `tok`.
fn order(w: &World, tok: &str, account: &str, symbol: &str, side: &str, qty: u64, limit: Option<f64>) {
    let mut o = json!({"account": account, "symbol": symbol, "side": side, "qty": qty, "product": "MIS"});
    if let Some(p) = limit {
        o["order_type"] = json!("LIMIT");
        o["price"] = json!(p);
    }
    let r = http(w.addr, "POST", "/api/orders", Some(tok), Some(&o));
    assert_eq!(r.status, 200, "{o}: {}", r.text);
}

/// `/api/positions` is the engine's own book and, per account, adds up to `/api/pnl` to the
/// paisa. The strategies of alice, bob and carol trade 400 s of a sine wave (reversing through
/// zero); then manual trades on instruments no strategy touches give fractional average costs,
/// partial closes, reversals through zero (one of them by the partial fills of a resting limit)
/// and a close to flat. Once the engine is idle and has published its counters, every
/// account's realized, unrealized and charges in `/api/pnl` equal its positions' sums, and
/// after a stop every listed position equals the engine's: net, average price, P&L.
#[test]
fn positions_and_pnl_are_the_engines_own_to_the_paisa() {
    let mut w = World::new(|_| {});
    let (t, _) = login(w.addr, "admin", ADMIN_PW);
    // (account, symbol, side, qty, paise): a trade at `paise`, then a market order that fills
    // at it. Over a round trip the average-cost P&L does not depend on how cost is carried;
    // a position left open after a partial close does, so each account ends with one.
    let script = [
        ("alice", "ITC", "BUY", 3, 41_005),
        ("alice", "ITC", "BUY", 4, 41_010),
        ("alice", "ITC", "SELL", 2, 41_100),
        ("alice", "ITC", "SELL", 9, 40_900),
        ("alice", "ITC", "BUY", 1, 41_000),
        ("bob", "LT", "BUY", 7, 390_010),
        ("bob", "LT", "BUY", 2, 390_030),
        ("bob", "LT", "SELL", 4, 390_100),
        ("bob", "ITC", "BUY", 6, 41_000),
        ("bob", "ITC", "SELL", 6, 41_050),
        ("carol", "NTPC", "SELL", 5, 34_005),
        ("carol", "NTPC", "SELL", 1, 34_020),
        ("carol", "NTPC", "BUY", 4, 33_995),
        ("carol", "NTPC", "BUY", 9, 34_000),
        ("carol", "NTPC", "BUY", 2, 34_005),
        ("carol", "NTPC", "SELL", 4, 34_010),
    ];
    let run = |w: &mut World, script: &[(&str, &str, &str, u64, i64)]| {
        for &(account, symbol, side, qty, paise) in script {
            w.trade(symbol, paise, 10);
            order(w, &t, account, symbol, side, qty, None);
            w.wait_idle();
        }
    };
    run(&mut w, &script);
    // Alice is short 3; a buy limit of 5 fills 2 + 2 + 1 on prints through it: short 1, long
    // 1, long 2. Then she adds 1 and sells 1 of the 3.
    order(&w, &t, "alice", "ITC", "BUY", 5, Some(409.50));
    w.wait_idle();
    for paise in [40_940, 40_940, 40_935] {
        w.trade("ITC", paise, 2);
    }
    run(&mut w, &[("alice", "ITC", "BUY", 1, 40_940), ("alice", "ITC", "SELL", 1, 40_960)]);
    w.ticks(30);

    let get = |p: &str| {
        let r = http(w.addr, "GET", p, Some(&t), None);
        assert_eq!(r.status, 200, "{p}: {}", r.text);
        r.body
    };
    let net = |positions: &Value, account: &str, symbol: &str| {
        positions
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["account"] == account && p["symbol"] == symbol)
            .map(|p| p["net_qty"].clone())
    };
    // The engine is idle; it publishes its counters within moments of going idle, field by
    // field, so the two views are read until they agree (the deadline only bounds a failure).
    let deadline = Instant::now() + Duration::from_secs(20);
    let (positions, pnl) = loop {
        let (positions, pnl) = (get("/api/positions"), get("/api/pnl"));
        if common::pnl_is_sum_of_positions(&positions, &pnl) {
            break (positions, pnl);
        }
        assert!(
            Instant::now() < deadline,
            "/api/pnl never equalled the sums of /api/positions [realized, unrealized, charges]: {:?} vs {:?}",
            common::pnl_figures(&pnl),
            common::position_sums(&positions)
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    // The script ran as written (no order refused), and the strategies traded too.
    assert_eq!(net(&positions, "alice", "ITC"), Some(json!(2)), "{positions}");
    assert_eq!(net(&positions, "bob", "LT"), Some(json!(5)), "{positions}");
    assert_eq!(net(&positions, "bob", "ITC"), Some(json!(0)), "{positions}");
    assert_eq!(net(&positions, "carol", "NTPC"), Some(json!(5)), "{positions}");
    let by_strategies = positions
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !["ITC", "LT", "NTPC"].contains(&p["symbol"].as_str().unwrap_or("")))
        .count();
    assert!(by_strategies >= 2, "the strategies filled: {positions}");
    for account in ["alice", "bob", "carol"] {
        let sums = common::position_sums(&positions);
        assert_ne!(sums.get(account).map(|s| s[0]), Some(0), "{account} realized something: {positions}");
    }

    // Stopped, the engine shows its own book: the figures read above are exactly it.
    w.admin.take().expect("server").shutdown();
    let stopped = w.running.take().expect("engine").stop();
    common::assert_console_is_the_engine(&w.setup, &positions, &pnl, &stopped.engine);
}

/// Holds the egress observer, and so (once the egress ring is full) the engine, and so (once
/// the ingress ring is full) the API's command thread, until the test opens the gate.
struct Gated {
    inner: dalal_admin::ViewObserver,
    open: Arc<(Mutex<bool>, Condvar)>,
}

impl EgressObserver for Gated {
    fn on_event(&mut self, ev: &EgressEvent) {
        let (m, cv) = &*self.open;
        let mut open = m.lock().unwrap_or_else(|e| e.into_inner());
        while !*open {
            open = cv.wait(open).unwrap_or_else(|e| e.into_inner());
        }
        drop(open);
        self.inner.on_event(ev);
    }

    fn on_idle(&mut self) {
        self.inner.on_idle();
    }
}

/// Counts, on the engine thread, every egress event the engine emits (before it is sent).
struct Emitted(Arc<std::sync::atomic::AtomicU64>);

impl EgressTap for Emitted {
    fn on_event(&mut self, _: &IngressEvent, _: &EgressEvent) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Release);
    }
}

/// A stalled engine: commands are refused with 503 and a JSON error once the queue in front of
/// the ingress ring is full, reads are still answered (no handler waits on the ring), the
/// refusals are counted on `/metrics`, and once the engine moves again every accepted order
/// reaches it and no refused one does. The queue holds 4.
/// The stall is known complete, not guessed from timing: the engine has emitted one event
/// more than the egress ring holds past the blocked observer (so it waits in that send), the
/// ingress ring is full (so the console's thread waits too), and then a refusal means a full
/// queue that nothing can drain.
#[test]
fn a_stalled_engine_gets_503_for_commands_and_loses_none_it_accepted() {
    const QUEUE: usize = 4;
    let setup = setup();
    let live = Arc::new(LiveStats::with_instruments(setup.accounts.len(), setup.instruments.len()));
    let engine = Engine::new(&setup, quanta::Clock::new(), 1);
    let (observer, parts) = dalal_admin::observer(&setup, live.clone());
    let view = parts.view.clone();
    let open = Arc::new((Mutex::new(true), Condvar::new()));
    // The smallest rings an engine with a tap takes.
    const RING: usize = 1024;
    let placement = PlacementConfig { ring_size: RING, ..PlacementConfig::default() };
    let emitted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut running = Launch::new(engine, &placement, Gated { inner: observer, open: open.clone() }, live.clone())
        .egress_tap(Box::new(Emitted(emitted.clone())))
        .start()
        .expect("start");
    let reliance = setup.instrument_by_symbol("RELIANCE").expect("RELIANCE").id;
    running.publish(Input::Tick(Tick {
        instrument: reliance,
        ts: Timestamp(OPEN_NS),
        price: Price(142_000),
        qty: Qty(10),
    }));
    running.wait_idle();
    *open.0.lock().unwrap() = false;
    let emitted_at_close = emitted.load(std::sync::atomic::Ordering::Acquire);
    let progress = running.progress().clone();
    let stalled = || {
        emitted.load(std::sync::atomic::Ordering::Acquire) > emitted_at_close + RING as u64
            && progress.fill(false).ingress >= RING as u64
    };
    let link = parts.connect_with_queue(setup.clone(), live, running.publisher().expect("publisher"), QUEUE);
    let cfg = AdminConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        initial_admin_password: Some(ADMIN_PW.into()),
        jwt_secret: Some(SECRET.to_vec()),
        rate_limit_per_min: u32::MAX,
        ..AdminConfig::default()
    };
    let admin = serve(link, cfg).expect("serve");
    let a = admin.local_addr();
    let (t, _) = login(a, "admin", ADMIN_PW);

    // Egress ring + what the engine holds + ingress ring + what the thread holds + the queue.
    let bound = 2 * RING + QUEUE + 8;
    let (mut accepted, mut refused, mut refused_stalled) = (BTreeSet::new(), 0, 0);
    let start = Instant::now();
    let mut i = 0;
    while refused_stalled < 3 {
        assert!(start.elapsed() < Duration::from_secs(60), "no full stall after {i} orders");
        // Read before the request: a refusal once stalled is a queue that cannot drain.
        let was_stalled = stalled();
        let tag = format!("q{i}");
        i += 1;
        let o = json!({"account": "alice", "symbol": "RELIANCE", "side": "BUY", "qty": 1, "tag": tag});
        let r = http(a, "POST", "/api/orders", Some(&t), Some(&o));
        match r.status {
            200 => {
                assert!(accepted.len() < bound, "more than {bound} accepted with the engine stalled");
                accepted.insert(tag);
            }
            503 => {
                let e = r.body["error"].as_str().unwrap_or_else(|| panic!("a JSON error: {}", r.text));
                assert!(e.contains("nothing was sent") && e.contains("retry"), "{e}");
                refused += 1;
                if was_stalled {
                    refused_stalled += 1;
                } else {
                    // Not stalled through yet: the console's thread or the engine is still
                    // moving what it accepted.
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            s => panic!("order {i}: {s} {}", r.text),
        }
    }
    // Reads still answered, refusals counted. Commands of other kinds are refused too.
    let kill = json!({"scope": "alice", "engaged": true});
    assert_eq!(http(a, "POST", "/api/kill-switch", Some(&t), Some(&kill)).status, 503);
    assert_eq!(
        http(a, "GET", "/api/kill-switch", Some(&t), None).body["accounts"][0]["engaged"],
        json!(false),
        "a refused switch is not shown as set"
    );
    let m = http(a, "GET", "/metrics", Some(common::METRICS_TOKEN), None).text;
    assert_eq!(metric(&m, "dalal_admin_commands_refused_total"), Some(refused as f64 + 1.0), "{m}");
    assert_eq!(metric(&m, "dalal_admin_commands_accepted_total"), Some(accepted.len() as f64), "{m}");
    assert_eq!(http(a, "GET", "/api/orders?limit=5", Some(&t), None).status, 200);

    // The engine moves again; dropping the link lets its thread hand on all it queued before
    // it lets go of the ring, and the stop processes everything published.
    *open.0.lock().unwrap() = true;
    open.1.notify_all();
    admin.shutdown();
    let stopped = running.stop();
    let v = view.read().unwrap();
    let reached: BTreeSet<String> = v
        .orders
        .values()
        .filter(|o| o.intent.strategy == MANUAL_STRATEGY)
        .map(|o| o.intent.tag.as_str().to_string())
        .collect();
    assert_eq!(reached, accepted, "exactly the accepted orders reached the engine");
    assert!(
        !stopped.engine.risk.global_kill() && !stopped.engine.risk.account_kill(0),
        "the refused kill switch never reached it"
    );
}

/// Broker logins: an admin sees all with every bound account; a trader or viewer sees only
/// the logins their accounts use, listing only their own accounts; nobody sees a secret (the
/// session carries none); `/metrics` shows each login's health and counters.
#[test]
fn broker_sessions_by_role() {
    let session = |health: &str, errors: u64| json!({"health": health, "errors": errors, "requests": 7, "refused_expired": 1, "shadow_requests": 0, "token_expiry_ns": 0});
    let w = World::new(|c| {
        c.brokers = vec![
            broker_login("zerodha", "kite", &[("alice", "live"), ("bob", "shadow")], session("healthy", 0)),
            broker_login("upstox", "upstox", &[("bob", "live")], session("expired", 3)),
        ]
    });
    let t = users(&w);
    let a = w.addr;
    assert_eq!(http(a, "GET", "/api/brokers", None, None).status, 401);
    let names = |tok: &str| -> Vec<(String, Vec<String>)> {
        let r = http(a, "GET", "/api/brokers", Some(tok), None);
        assert_eq!(r.status, 200);
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let accounts =
                    b["accounts"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap().to_string());
                (b["name"].as_str().unwrap().to_string(), accounts.collect())
            })
            .collect()
    };
    assert_eq!(
        names(&t.admin),
        vec![("zerodha".into(), vec!["alice".into(), "bob".into()]), ("upstox".into(), vec!["bob".into()])]
    );
    assert_eq!(names(&t.alice_t), vec![("zerodha".to_string(), vec!["alice".to_string()])]);
    assert_eq!(names(&t.alice_v), vec![("zerodha".to_string(), vec!["alice".to_string()])]);
    assert_eq!(
        names(&t.bob_t),
        vec![("zerodha".to_string(), vec!["bob".to_string()]), ("upstox".to_string(), vec!["bob".to_string()])]
    );
    let r = http(a, "GET", "/api/brokers", Some(&t.admin), None);
    assert_eq!(r.body[1]["session"]["health"], "expired");
    let m = http(a, "GET", "/metrics", Some(common::METRICS_TOKEN), None).text;
    assert_eq!(metric(&m, "dalal_broker_session_healthy{login=\"zerodha\"}"), Some(1.0));
    assert_eq!(metric(&m, "dalal_broker_session_healthy{login=\"upstox\"}"), Some(0.0));
    assert_eq!(metric(&m, "dalal_broker_errors_total{login=\"upstox\"}"), Some(3.0));
}

/// A broker desk in memory: `zerodha` (kite) trades for alice and bob live, `angel1` (angel)
/// for carol in shadow. It records what it was asked and answers a masked listing.
#[derive(Debug, Default)]
struct MemoryDesk {
    /// Login → secret fields stored (their values are dropped at once).
    stored: Mutex<BTreeMap<String, BTreeSet<String>>>,
    removed: Mutex<Vec<String>>,
    /// The broker fails the next read with this text.
    fail_next: Mutex<Option<String>>,
}

impl dalal_admin::BrokerDesk for MemoryDesk {
    fn logins(&self) -> Vec<dalal_admin::DeskLogin> {
        let acc = |a: &str, m: &str| (a.to_string(), m.to_string());
        vec![
            dalal_admin::DeskLogin {
                name: "zerodha".into(),
                kind: "kite".into(),
                accounts: vec![acc("alice", "live"), acc("bob", "live")],
            },
            dalal_admin::DeskLogin {
                name: "angel1".into(),
                kind: "angel".into(),
                accounts: vec![acc("carol", "shadow")],
            },
        ]
    }

    fn store(&self, login: &str, update: dalal_admin::LoginUpdate) -> dalal_admin::DeskFuture<'_, Value> {
        let fields: BTreeSet<String> = update.secrets.keys().cloned().collect();
        self.stored.lock().unwrap().entry(login.to_string()).or_default().extend(fields.iter().cloned());
        let masked: BTreeMap<String, String> = fields.into_iter().map(|f| (f, "****".to_string())).collect();
        let v = json!({"name": login, "kind": update.kind, "ids": update.ids, "secrets": masked});
        Box::pin(async move { Ok(v) })
    }

    fn remove(&self, login: &str) -> dalal_admin::DeskFuture<'_, ()> {
        self.removed.lock().unwrap().push(login.to_string());
        Box::pin(async { Ok(()) })
    }

    fn broker_state(&self, login: &str) -> dalal_admin::DeskFuture<'_, Value> {
        let r = match self.fail_next.lock().unwrap().take() {
            Some(e) => Err(dalal_admin::DeskError::Broker(e)),
            None => Ok(json!({"broker": "kite", "user_id": "ZX1", "funds": {"net": 1.0}, "positions": [],
                              "orders": [], "holdings": [], "read_for": login})),
        };
        Box::pin(async move { r })
    }

    fn reconcile(
        &self,
        _login: &str,
        book: dalal_admin::EngineBook,
        _fresh: bool,
    ) -> dalal_admin::DeskFuture<'_, dalal_admin::Reconciled> {
        let report = json!({"differences": [], "agreeing": book.positions.len(), "outside_orders": [],
                            "own_open_orders": 0, "available_cash": 1.0});
        Box::pin(async move {
            Ok(dalal_admin::Reconciled { report, agrees: true, adoptions: Vec::new(), left_out: Vec::new() })
        })
    }
}

/// The desk's routes by role and ownership: storing a login (an admin, or a trader of an
/// account bound to it; a viewer 403; anyone else 404), removing it (an admin only), the
/// per-account view (live accounts only; a login shared with accounts the caller does not see
/// is not shown), the broker's failure as 502, and no secret in any answer or the audit log.
#[test]
fn broker_desk_by_role() {
    let desk = Arc::new(MemoryDesk::default());
    let w = World::new(|c| c.broker_desk = Some(desk.clone()));
    let t = users(&w);
    let a = w.addr;
    let secret = "a-secret-value-never-shown-42";
    let body = json!({"kind": "kite", "ids": {"api_key": "k1"}, "secrets": {"api_secret": secret}});
    let put = |tok: &str, login: &str, b: &Value| http(a, "PUT", &format!("/api/brokers/{login}"), Some(tok), Some(b));
    let mut answers = Vec::new();

    let r = put(&t.admin, "zerodha", &body);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["secrets"]["api_secret"], "****");
    answers.push(r.text);
    let r = put(&t.alice_t, "zerodha", &body);
    assert_eq!(r.status, 200, "the trader of a bound account: {}", r.text);
    answers.push(r.text);
    for (tok, login, code) in [
        (&t.alice_v, "zerodha", 403),
        (&t.bob_t, "angel1", 404),
        (&t.alice_t, "angel1", 404),
        (&t.admin, "nosuch", 404),
    ] {
        let r = put(tok, login, &body);
        assert_eq!(r.status, code, "PUT {login}: {}", r.text);
        answers.push(r.text);
    }
    assert_eq!(http(a, "PUT", "/api/brokers/zerodha", None, Some(&body)).status, 401);
    let r = put(&t.admin, "angel1", &body);
    assert_eq!(r.status, 400, "the configured kind only: {}", r.text);
    answers.push(r.text);
    let r = put(&t.admin, "zerodha", &json!({"kind": "kite", "secrets": secret}));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("line 1"), "says where: {}", r.text);
    answers.push(r.text);
    let r = put(&t.admin, "zerodha", &json!({"kind": "kite", "secrets": {"api_secret": 42}, "extra": secret}));
    assert_eq!(r.status, 400, "{}", r.text);
    answers.push(r.text);
    assert_eq!(desk.stored.lock().unwrap().get("zerodha").map(|s| s.len()), Some(1));

    for (tok, login, code) in [(&t.alice_t, "zerodha", 403), (&t.bob_t, "angel1", 404), (&t.admin, "angel1", 200)] {
        let r = http(a, "DELETE", &format!("/api/brokers/{login}"), Some(tok), None);
        assert_eq!(r.status, code, "DELETE {login}: {}", r.text);
    }
    assert_eq!(*desk.removed.lock().unwrap(), vec!["angel1".to_string()]);

    let view = |tok: &str, account: &str| http(a, "GET", &format!("/api/accounts/{account}/broker"), Some(tok), None);
    let r = view(&t.alice_v, "alice");
    assert_eq!(r.status, 409, "zerodha also trades for bob, whom alice's viewer does not see: {}", r.text);
    let r = view(&t.admin, "alice");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.body["account"].as_str(), r.body["login"].as_str()), (Some("alice"), Some("zerodha")));
    assert_eq!(r.body["read_for"], "zerodha");
    assert_eq!(view(&t.bob_t, "alice").status, 404);
    assert_eq!(view(&t.admin, "carol").status, 409, "shadow");
    assert_eq!(view(&t.admin, "nobody").status, 404);
    *desk.fail_next.lock().unwrap() = Some("kite read: positions are resting (HTTP 503)".into());
    let r = view(&t.admin, "bob");
    assert_eq!(r.status, 502, "{}", r.text);
    assert_eq!(r.body["error"], "kite read: positions are resting (HTTP 503)");

    let r = http(a, "GET", "/api/audit", Some(&t.admin), None);
    let actions: Vec<(String, String)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["actor"].as_str().unwrap().to_string(), x["action"].as_str().unwrap().to_string()))
        .filter(|(_, act)| act.starts_with("broker."))
        .collect();
    assert_eq!(
        actions.iter().filter(|(_, act)| act == "broker.store").count(),
        2,
        "the two stores, not the refusals: {actions:?}"
    );
    assert!(
        actions.contains(&("alice_t".into(), "broker.store".into()))
            && actions.contains(&("admin".into(), "broker.remove".into()))
    );
    answers.push(r.text);
    for text in &answers {
        assert!(!text.contains(secret), "a secret in an answer: {text}");
    }
}

/// A broker login for the console whose session always reads `session`.
fn broker_login(name: &str, kind: &str, accounts: &[(&str, &str)], session: Value) -> dalal_admin::BrokerLogin {
    dalal_admin::BrokerLogin {
        name: name.into(),
        kind: kind.into(),
        accounts: accounts.iter().map(|(a, m)| (a.to_string(), m.to_string())).collect(),
        session: Arc::new(move || session.clone()),
    }
}

/// The status by broker kind: an admin counts every login; a trader the logins of their
/// accounts, counting only their own accounts.
#[test]
fn broker_status_totals_by_role() {
    let session = |health: &str, errors: u64| json!({"health": health, "errors": errors, "requests": 10, "refused_expired": 1, "shadow_requests": 2});
    let w = World::new(|c| {
        c.brokers = vec![
            broker_login("zerodha", "kite", &[("alice", "live"), ("bob", "shadow")], session("healthy", 0)),
            broker_login("kite2", "kite", &[("carol", "paper")], session("error", 4)),
            broker_login("upstox", "upstox", &[("bob", "live")], session("expired", 3)),
        ]
    });
    let t = users(&w);
    assert_eq!(http(w.addr, "GET", "/api/brokers/status", None, None).status, 401);
    let r = http(w.addr, "GET", "/api/brokers/status", Some(&t.admin), None);
    assert_eq!(r.status, 200, "{}", r.text);
    let kite = &r.body["kinds"][0];
    assert_eq!(kite["kind"], "kite");
    assert_eq!(
        (kite["logins"].as_u64(), kite["healthy"].as_u64(), kite["error"].as_u64()),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(kite["accounts"], json!({"live": 1, "shadow": 1, "paper": 1}));
    assert_eq!((kite["requests"].as_u64(), kite["errors"].as_u64()), (Some(20), Some(4)));
    assert_eq!(r.body["kinds"][1]["kind"], "upstox");
    let total = &r.body["total"];
    assert_eq!((total["logins"].as_u64(), total["expired"].as_u64()), (Some(3), Some(1)));
    assert_eq!((total["shadow_requests"].as_u64(), total["refused_expired"].as_u64()), (Some(6), Some(3)));
    assert_eq!(total["accounts"], json!({"live": 2, "shadow": 1, "paper": 1}));
    assert!(total.get("kind").is_none());
    let r = http(w.addr, "GET", "/api/brokers/status", Some(&t.alice_v), None);
    assert_eq!(r.body["total"]["logins"], 1, "{}", r.text);
    assert_eq!(r.body["total"]["accounts"], json!({"live": 1, "shadow": 0, "paper": 0}));
    let r = http(w.addr, "GET", "/api/brokers/status", Some(&t.bob_t), None);
    assert_eq!(r.body["total"]["logins"], 2, "{}", r.text);
    assert_eq!(r.body["total"]["accounts"], json!({"live": 1, "shadow": 1, "paper": 0}));
}

/// The console's Brokers panel in a browser: each login with its kind, colour-coded session
/// health, counters and accounts, refreshed as the session changes.
#[test]
fn browser_brokers_panel_shows_session_health() {
    let Some(d) = browser() else { return };
    let health = Arc::new(std::sync::atomic::AtomicU8::new(0));
    let h = health.clone();
    let w = World::new(move |c| {
        c.brokers = vec![dalal_admin::BrokerLogin {
            name: "zerodha".into(),
            kind: "kite".into(),
            accounts: vec![("alice".into(), "live".into()), ("bob".into(), "shadow".into())],
            session: Arc::new(move || {
                let (state, errors) = match h.load(std::sync::atomic::Ordering::Relaxed) {
                    0 => ("healthy", 0),
                    _ => ("expired", 2),
                };
                json!({"health": state, "errors": errors, "requests": 9, "last_activity_ns": 1_704_167_100_000_000_000i64,
                       "token_expiry_ns": 1_704_232_800_000_000_000i64, "last_error": if errors > 0 { "kite: TokenException" } else { "" }})
            }),
        }]
    });
    d.log_in(w.addr, "admin", ADMIN_PW);
    let cell = "document.getElementById('broker-health-zerodha')";
    d.wait_js(&format!("return {cell} && {cell}.textContent === 'healthy'"), "the login's health in the panel");
    let row = d
        .js("return document.querySelector('#brokers tr[data-login=\"zerodha\"]').textContent")
        .as_str()
        .unwrap()
        .to_string();
    assert!(row.contains("kite") && row.contains("alice (live)") && row.contains("bob (shadow)"), "{row}");
    let green = d.js(&format!("return getComputedStyle({cell}).color")).as_str().unwrap().to_string();
    assert_eq!(green, "rgb(38, 166, 154)", "healthy is green");
    health.store(1, std::sync::atomic::Ordering::Relaxed);
    d.wait_js(&format!("return {cell}.textContent === 'expired'"), "the panel to refresh");
    let colour = d.js(&format!("return getComputedStyle({cell}).color")).as_str().unwrap().to_string();
    assert_ne!(colour, green, "expired has its own colour");
    let row = d
        .js("return document.querySelector('#brokers tr[data-login=\"zerodha\"]').textContent")
        .as_str()
        .unwrap()
        .to_string();
    assert!(row.contains("TokenException"), "the last error is shown: {row}");
}

/// A market feed's health as the run reports it: `status` switches with `state`, the last
/// frame is a second before the scrape, and the counters hold a few skips by reason.
fn feed_view(state: Arc<std::sync::atomic::AtomicU8>) -> dalal_admin::FeedView {
    dalal_admin::FeedView::new("kite:zerodha", move || {
        let (status, stale, error) = match state.load(std::sync::atomic::Ordering::Relaxed) {
            0 => ("connected", false, Value::Null),
            _ => ("backoff", true, json!("Kite ticker closed the connection")),
        };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
        json!({"status": status, "stale": stale, "last_error": error, "last_frame_ns": now - 1_000_000_000,
               "counters": {"frames": 12, "ticks": 9, "malformed": 2, "unknown_tokens": 1, "sub_paise": 0,
                            "malformed_text": 3, "reconnects": 1}})
    })
}

/// `GET /api/feed` for every signed-in role (it carries nothing of an account), 401 without a
/// login, 404 when the run's feed reports no health; `/metrics` has the feed's lines.
#[test]
fn market_feed_health_for_every_role_and_on_metrics() {
    let state = Arc::new(std::sync::atomic::AtomicU8::new(0));
    let view = feed_view(state.clone());
    let w = World::new(move |c| c.market_feed = Some(view));
    let t = users(&w);
    assert_eq!(http(w.addr, "GET", "/api/feed", None, None).status, 401);
    for tok in [&t.admin, &t.alice_t, &t.alice_v] {
        let r = http(w.addr, "GET", "/api/feed", Some(tok), None);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["name"], "kite:zerodha");
        assert_eq!((r.body["status"].as_str(), r.body["stale"].as_bool()), (Some("connected"), Some(false)));
        assert_eq!(r.body["counters"]["unknown_tokens"], 1);
        let age = r.body["last_frame_age_s"].as_f64().expect("age");
        assert!((0.5..600.0).contains(&age), "{age}");
    }
    let m = http(w.addr, "GET", "/metrics", Some(common::METRICS_TOKEN), None).text;
    assert_eq!(metric(&m, "dalal_feed_connected{feed=\"kite:zerodha\"}"), Some(1.0));
    assert_eq!(metric(&m, "dalal_feed_events_total{feed=\"kite:zerodha\",kind=\"malformed\"}"), Some(2.0));
    assert_eq!(metric(&m, "dalal_feed_events_total{feed=\"kite:zerodha\",kind=\"sub_paise\"}"), Some(0.0));
    assert!(metric(&m, "dalal_feed_last_frame_age_seconds{feed=\"kite:zerodha\"}").is_some_and(|a| a >= 0.5), "{m}");
    state.store(1, std::sync::atomic::Ordering::Relaxed);
    let r = http(w.addr, "GET", "/api/feed", Some(&t.alice_v), None);
    assert_eq!((r.body["status"].as_str(), r.body["stale"].as_bool()), (Some("backoff"), Some(true)));
    assert_eq!(r.body["last_error"], "Kite ticker closed the connection");
    let m = http(w.addr, "GET", "/metrics", Some(common::METRICS_TOKEN), None).text;
    assert_eq!(metric(&m, "dalal_feed_connected{feed=\"kite:zerodha\"}"), Some(0.0));

    let plain = World::new(|_| {});
    let (admin, _) = login(plain.addr, "admin", ADMIN_PW);
    assert_eq!(http(plain.addr, "GET", "/api/feed", Some(&admin), None).status, 404);
    assert!(!http(plain.addr, "GET", "/metrics", Some(common::METRICS_TOKEN), None).text.contains("dalal_feed_"));
}

/// The console's Market feed panel in a browser: the status, colour-coded, the last frame's
/// age, and only the skip counters that are not zero, refreshed as the feed changes.
#[test]
fn browser_market_feed_panel_shows_status_and_skips() {
    let Some(d) = browser() else { return };
    let state = Arc::new(std::sync::atomic::AtomicU8::new(0));
    let view = feed_view(state.clone());
    let w = World::new(move |c| c.market_feed = Some(view));
    d.log_in(w.addr, "admin", ADMIN_PW);
    let cell = "document.getElementById('feed-status')";
    d.wait_js(&format!("return {cell} && {cell}.textContent === 'connected'"), "the feed's status in the panel");
    assert_eq!(d.js("return document.getElementById('feed-section').classList.contains('hidden')"), json!(false));
    let green = d.js(&format!("return getComputedStyle({cell}).color")).as_str().unwrap().to_string();
    assert_eq!(green, "rgb(38, 166, 154)", "connected is green");
    let age = d.js("return document.getElementById('feed-age').textContent").as_str().unwrap().to_string();
    assert!(age.contains('s'), "the last frame's age: {age}");
    let skips = d.js(
        "return [...document.querySelectorAll('#feed-skips tr[data-kind]')].map((r) => r.dataset.kind + '=' + r.cells[1].textContent)",
    );
    assert_eq!(skips, json!(["malformed=2", "unknown_tokens=1", "malformed_text=3"]), "non-zero skips only");
    let text = d.js("return document.getElementById('feed-section').textContent").as_str().unwrap().to_string();
    assert!(text.contains("kite:zerodha") && text.contains("unknown instrument token"), "{text}");
    state.store(1, std::sync::atomic::Ordering::Relaxed);
    d.wait_js(&format!("return {cell}.textContent === 'backoff'"), "the panel to refresh");
    let colour = d.js(&format!("return getComputedStyle({cell}).color")).as_str().unwrap().to_string();
    assert_ne!(colour, green, "a feed that is not connected has another colour");
    let text = d.js("return document.getElementById('feed-section').textContent").as_str().unwrap().to_string();
    assert!(text.contains("closed the connection"), "the last error is shown: {text}");

    // A run whose feed reports nothing shows no panel.
    let plain = World::new(|_| {});
    d.log_in(plain.addr, "admin", ADMIN_PW);
    d.wait_js("return Number(document.getElementById('brokers').dataset.updates || 0) > 0", "the console to load");
    d.wait_js("return document.getElementById('feed-section').dataset.loaded === '1'", "the feed to be asked for");
    assert_eq!(d.js("return document.getElementById('feed-section').classList.contains('hidden')"), json!(true));
}

/// Reconciliation sets one account beside its login's positions at the broker, which carry no
/// account: a login trading for several live accounts answers 409; adopting is for an admin or
/// the account's trader (a viewer 403, anyone else 404), shadow accounts have nothing to adopt.
#[test]
fn reconcile_by_role_and_login() {
    let desk = Arc::new(MemoryDesk::default());
    let w = World::new(|c| c.broker_desk = Some(desk.clone()));
    let t = users(&w);
    let a = w.addr;
    let get = |tok: &str, account: &str| http(a, "GET", &format!("/api/accounts/{account}/reconcile"), Some(tok), None);
    let adopt = |tok: &str, account: &str| {
        http(a, "POST", &format!("/api/accounts/{account}/reconcile/adopt"), Some(tok), Some(&json!({})))
    };
    for r in [get(&t.admin, "alice"), get(&t.alice_v, "alice"), adopt(&t.admin, "alice"), adopt(&t.alice_t, "alice")] {
        assert_eq!(r.status, 409, "zerodha trades for alice and bob: {}", r.text);
        assert!(r.body["error"].as_str().is_some_and(|e| e.contains("2 live accounts")), "{}", r.text);
    }
    assert_eq!(adopt(&t.alice_v, "alice").status, 403, "a viewer may not adopt");
    assert_eq!(get(&t.bob_t, "alice").status, 404);
    assert_eq!(adopt(&t.bob_t, "alice").status, 404);
    assert_eq!(get(&t.admin, "nobody").status, 404);
    let r = adopt(&t.admin, "carol");
    assert_eq!(r.status, 409, "shadow: {}", r.text);
    assert_eq!(http(a, "GET", "/api/accounts/alice/reconcile", None, None).status, 401);
}
