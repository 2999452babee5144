//! The console's broker desk over a real `dalal run` with a live and a shadow account on a
//! Kite login, against the fake Kite server: the system status by broker kind and by role;
//! storing a login's ids and secrets (an admin, the owning trader; nobody else) and removing
//! it (an admin only); a new access token stored through the console brings an expired
//! session back; the per-account view is what the broker holds; and no secret's plaintext is
//! in any response, the log, the vault file or the store.

mod cli;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cli::{kite_vault, request, wait_for, KiteRunConfig, Reply, Run};
use dalal_brokers::fake::kite::ticker::full_packet;
use dalal_brokers::fake::kite::{FakeKite, FakeUser};
use dalal_brokers::kite::KiteClient;
use dalal_brokers::{MasterKey, Secret, Vault};
use serde_json::{json, Value};

const ADMIN_PW: &str = "desk-admin-pw-1";
const API_KEY: &str = "deskkey";
const API_SECRET: &str = "desksecret-9f2a7c41";
const ROTATED_SECRET: &str = "desksecret-rotated-5b1c88";
const MALFORMED_SECRET: &str = "s3cret-in-a-malformed-body-77";
const LIMIT: Duration = Duration::from_secs(60);

/// The console, remembering every body it answered (searched for secrets at the end).
struct Console {
    addr: String,
    bodies: RefCell<Vec<String>>,
}

impl Console {
    fn call(&self, method: &str, path: &str, token: &str, body: &Value) -> Reply {
        let body = if body.is_null() { String::new() } else { body.to_string() };
        self.raw(method, path, token, &body)
    }

    fn raw(&self, method: &str, path: &str, token: &str, body: &str) -> Reply {
        let r = request(&self.addr, method, path, Some(token), body);
        self.bodies.borrow_mut().push(r.body.clone());
        r
    }

    fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, token, &Value::Null)
    }

    fn login(&self, user: &str, password: &str) -> String {
        let r = request(
            &self.addr,
            "POST",
            "/api/auth/login",
            None,
            &json!({"username": user, "password": password}).to_string(),
        );
        r.json()["access_token"].as_str().map(String::from).unwrap_or_else(|| panic!("login {user}: {}", r.body))
    }

    fn health(&self, token: &str) -> Option<String> {
        self.get("/api/brokers", token).json()[0]["session"]["health"].as_str().map(String::from)
    }

    fn order(&self, token: &str, account: &str, qty: u64) {
        let body = json!({"account": account, "symbol": "RELIANCE", "side": "BUY", "qty": qty, "product": "MIS"});
        let r = self.call("POST", "/api/orders", token, &body);
        assert_eq!(r.status, 200, "order accepted by the console: {}", r.body);
    }
}

#[test]
fn broker_logins_through_the_console() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeKite::start_in_background().expect("fake Kite");
    fake.add_user(FakeUser::new("ZX9003", API_KEY, API_SECRET));
    fake.set_funds("ZX9003", 5e6, 0.0);
    fake.set_instrument("NSE", "RELIANCE", 738_561, 1420.0);
    fake.set_auto_fill(true);
    let token = fake.issue_access_token(API_KEY).expect("token");
    let (vault_file, key_file) = kite_vault(dir.path(), API_KEY, API_SECRET, &token);
    let db = dir.path().join("dalal.db");

    // alice trades live through the login, bob in shadow; carol on paper, with no broker.
    let cfg_path = dir.path().join("desk.toml");
    KiteRunConfig::new()
        .kite_token("RELIANCE", 738_561u32)
        .account("alice", "live")
        .account("bob", "shadow")
        .database(&format!("sqlite://{}?mode=rwc", db.display()))
        .broker_key("poll_ms = 50")
        .write(&fake, &cfg_path);
    let run = Run::kite_console(&cfg_path, &vault_file, &key_file, ADMIN_PW, "debug");
    let c = Console { addr: run.addr.clone(), bodies: RefCell::new(Vec::new()) };

    let admin = c.login("admin", ADMIN_PW);
    for (user, role, account) in [
        ("alice_t", "trader", "alice"),
        ("alice_v", "viewer", "alice"),
        ("bob_t", "trader", "bob"),
        ("carol_t", "trader", "carol"),
    ] {
        let body =
            json!({"username": user, "password": format!("{user}-password"), "role": role, "accounts": [account]});
        let r = c.call("POST", "/api/users", &admin, &body);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let alice_t = c.login("alice_t", "alice_t-password");
    let alice_v = c.login("alice_v", "alice_v-password");
    let bob_t = c.login("bob_t", "bob_t-password");
    let carol_t = c.login("carol_t", "carol_t-password");

    // Status: one Kite login, healthy, alice live and bob in shadow; each trader counts what
    // they see.
    let status = c.get("/api/brokers/status", &admin);
    assert_eq!(status.status, 200, "{}", status.body);
    let s = status.json();
    assert_eq!(s["kinds"].as_array().map(Vec::len), Some(1), "{s}");
    assert_eq!(s["kinds"][0]["kind"], "kite");
    for t in [&s["kinds"][0], &s["total"]] {
        assert_eq!(
            (t["logins"].as_u64(), t["healthy"].as_u64(), t["expired"].as_u64()),
            (Some(1), Some(1), Some(0)),
            "{s}"
        );
        assert_eq!(t["accounts"], json!({"live": 1, "shadow": 1, "paper": 0}), "{s}");
        assert!(t["requests"].is_u64() && t["errors"].is_u64() && t["shadow_requests"].is_u64(), "{s}");
    }
    let s = c.get("/api/brokers/status", &bob_t).json();
    assert_eq!(s["total"]["logins"], 1);
    assert_eq!(s["total"]["accounts"], json!({"live": 0, "shadow": 1, "paper": 0}), "{s}");
    let s = c.get("/api/brokers/status", &carol_t).json();
    assert_eq!(s["total"]["logins"], 0, "{s}");
    assert_eq!(s["kinds"], json!([]));

    // A trade on the ticker gives the engine a price.
    wait_for("the feed's subscription", LIMIT, &mut || {
        fake.ticker_open_subscriptions().values().any(|subs| subs.contains_key(&738_561))
    });
    let now = dalal_core::model::Timestamp::now().0 / 1_000_000_000;
    let p = full_packet(738_561, 1420.0, 10, 1000, (now as u32, now as u32), &[(5, 1419.95, 1)], &[(5, 1420.05, 1)]);
    assert!(fake.ticker_push_packets(&[p]) >= 1);
    wait_for("the tick in the engine", LIMIT, &mut || {
        let m = request(&c.addr, "GET", "/metrics", None, "").body;
        m.lines().any(|l| l.strip_prefix("dalal_ticks_in_total ").is_some_and(|v| v.trim() != "0"))
    });

    // alice buys through the console; the order fills at the broker. Another order, from
    // outside Dalal, works there unfilled.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = || {
        let t = fake.issue_access_token(API_KEY).expect("token");
        KiteClient::new(&fake.root(), API_KEY, Some(Secret::new(t)), Duration::from_secs(5)).expect("client")
    };
    let broker_net =
        || -> i64 { rt.block_on(client().positions()).map(|p| p.net.iter().map(|x| x.quantity).sum()).unwrap_or(0) };
    c.order(&admin, "alice", 5);
    wait_for("alice's order to fill at the broker", LIMIT, &mut || broker_net() == 5);
    {
        use dalal_brokers::kite::params::*;
        let working = PlaceOrder {
            variety: Variety::Regular,
            exchange: "NSE".into(),
            tradingsymbol: "RELIANCE".into(),
            transaction_type: TransactionType::Buy,
            quantity: 2,
            product: Product::Cnc,
            order_type: OrderType::Limit,
            price: Some(1000.0),
            trigger_price: None,
            validity: Some(Validity::Day),
            disclosed_quantity: None,
            tag: None,
        };
        rt.block_on(client().place_order(&working)).expect("a working order");
    }

    // The per-account view is what the broker holds: positions, funds, working orders only.
    let broker_view = |k: &KiteClient| -> Value {
        let positions = rt.block_on(k.positions()).expect("positions");
        let orders = rt.block_on(k.orders()).expect("orders");
        let margins = rt.block_on(k.margins()).expect("margins");
        json!({
            "positions": positions.net.iter().map(|p| (p.tradingsymbol.clone(), json!(p.product).as_str().unwrap_or("").to_string(), p.quantity)).collect::<BTreeSet<_>>(),
            "orders": orders.iter().filter(|o| !o.state().is_terminal()).map(|o| o.order_id.clone()).collect::<BTreeSet<_>>(),
            "net": margins.equity.unwrap_or_default().net,
        })
    };
    let view_of = |v: &Value| -> Value {
        let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
        json!({
            "positions": list("positions").iter().map(|p| (p["symbol"].as_str().unwrap_or("").to_string(), p["product"].as_str().unwrap_or("").to_string(), p["quantity"].as_i64().unwrap_or(0))).collect::<BTreeSet<_>>(),
            "orders": list("orders").iter().map(|o| o["order_id"].as_str().unwrap_or("").to_string()).collect::<BTreeSet<_>>(),
            "net": v["funds"]["net"].clone(),
        })
    };
    let mut last = Value::Null;
    wait_for("the account view to show what the broker holds", LIMIT, &mut || {
        let r = c.get("/api/accounts/alice/broker", &alice_t);
        assert_eq!(r.status, 200, "{}", r.body);
        last = r.json();
        view_of(&last) == broker_view(&client())
    });
    assert_eq!(
        (last["account"].as_str(), last["login"].as_str(), last["broker"].as_str()),
        (Some("alice"), Some("zerodha"), Some("kite"))
    );
    assert_eq!(last["user_id"], "ZX9003");
    assert_eq!(last["orders"].as_array().map(Vec::len), Some(1), "only the working order: {last}");
    assert!(last["positions"].as_array().is_some_and(|p| p.iter().any(|x| x["quantity"] == 5)), "{last}");
    assert!(last["holdings"].is_array());
    assert_eq!(c.get("/api/accounts/alice/broker", &alice_v).status, 200, "a viewer reads their own account");
    assert_eq!(c.get("/api/accounts/alice/broker", &bob_t).status, 404, "not bob's account");
    assert_eq!(c.get("/api/accounts/alice/broker", &carol_t).status, 404);
    assert_eq!(c.get("/api/accounts/nobody/broker", &admin).status, 404);
    let r = c.get("/api/accounts/bob/broker", &admin);
    assert_eq!(r.status, 409, "a shadow account has nothing at the broker: {}", r.body);
    assert!(r.json()["error"].as_str().is_some_and(|e| e.contains("shadow")), "{}", r.body);
    let r = c.get("/api/accounts/carol/broker", &carol_t);
    assert_eq!(r.status, 409, "a paper account: {}", r.body);
    assert!(r.json()["error"].as_str().is_some_and(|e| e.contains("paper")), "{}", r.body);
    // The broker fails: 502 with its text (once the last read is no longer reused).
    fake.fail_next(Some("GET"), "/portfolio/positions", 500, "GeneralException", "positions are resting");
    wait_for("the broker's failure to reach the view", LIMIT, &mut || {
        let r = c.get("/api/accounts/alice/broker", &alice_t);
        assert!(r.status == 200 || r.status == 502, "{} {}", r.status, r.body);
        r.status == 502 && r.json()["error"].as_str().is_some_and(|e| e.contains("positions are resting"))
    });

    // Storing ids and secrets: an admin, for a configured login of the right kind only.
    let put = |token: &str, body: &Value| c.call("PUT", "/api/brokers/zerodha", token, body);
    let r = put(
        &admin,
        &json!({"kind": "kite", "ids": {"api_key": API_KEY, "user_id": "ZX9003"}, "secrets": {"api_secret": ROTATED_SECRET}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let listing = r.json();
    assert_eq!(listing["name"], "zerodha");
    assert_eq!(listing["ids"], json!({"api_key": API_KEY, "user_id": "ZX9003"}));
    assert_eq!(
        listing["secrets"].as_object().map(|s| s.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["access_token".to_string(), "api_secret".to_string()]),
        "the secrets not given are kept: {listing}"
    );
    assert!(listing["secrets"]["api_secret"].as_str().is_some_and(|m| m.starts_with("****")), "masked: {listing}");
    let r = put(&admin, &json!({"kind": "upstox", "ids": {"api_key": "x"}}));
    assert_eq!(r.status, 400, "the configured kind only: {}", r.body);
    let r = put(&admin, &json!({"kind": "kite", "secrets": {"totp_seed": "JBSWY3DPEHPK3PXP-seed"}}));
    assert_eq!(r.status, 400, "a field Kite logins do not have: {}", r.body);
    let r = c.call("PUT", "/api/brokers/elsewhere", &admin, &json!({"kind": "kite", "ids": {"api_key": "x"}}));
    assert_eq!(r.status, 404, "not a configured login: {}", r.body);
    let r =
        c.raw("PUT", "/api/brokers/zerodha", &admin, &format!(r#"{{"kind":"kite","secrets":"{MALFORMED_SECRET}"}}"#));
    assert_eq!(r.status, 400, "{}", r.body);
    let r = c.raw(
        "PUT",
        "/api/brokers/zerodha",
        &admin,
        &format!(r#"{{"kind":"kite","secrets":{{"api_secret":"{MALFORMED_SECRET}",}}}}"#),
    );
    assert_eq!(r.status, 400, "{}", r.body);

    // Nobody else: a trader of no account on the login does not see it; a viewer may not.
    let renewed = fake.issue_access_token(API_KEY).expect("token");
    let new_token = json!({"kind": "kite", "secrets": {"access_token": renewed}});
    assert_eq!(put(&carol_t, &new_token).status, 404);
    assert_eq!(put(&alice_v, &new_token).status, 403);
    assert_eq!(c.call("PUT", "/api/brokers/zerodha", "not-a-token", &new_token).status, 401);

    // The session expires at the broker; alice's owner stores a new token through the console
    // and the running gateway takes it.
    assert!(fake.expire_token(&token));
    c.order(&admin, "alice", 1);
    wait_for("the session to expire", LIMIT, &mut || c.health(&admin).as_deref() == Some("expired"));
    let s = c.get("/api/brokers/status", &admin).json();
    assert_eq!((s["total"]["healthy"].as_u64(), s["total"]["expired"].as_u64()), (Some(0), Some(1)), "{s}");
    let r = put(&alice_t, &new_token);
    assert_eq!(r.status, 200, "the owning trader stores a token: {}", r.body);
    wait_for("the run to take the new token", LIMIT, &mut || c.health(&alice_t).as_deref() == Some("healthy"));
    c.order(&alice_t, "alice", 2);
    wait_for("an order after the new token to fill", LIMIT, &mut || broker_net() == 7);
    let r = c.get("/api/accounts/alice/broker", &alice_t);
    assert_eq!(r.status, 200, "the view reads with the new token: {}", r.body);

    // The vault holds what was stored, sealed.
    let vault = Vault::open(&vault_file, MasterKey::load(None, &key_file).expect("key")).expect("vault");
    assert_eq!(
        vault.secret("zerodha", "api_secret").expect("read").map(|s| s.expose().to_string()).as_deref(),
        Some(ROTATED_SECRET)
    );
    assert_eq!(
        vault.secret("zerodha", "access_token").expect("read").map(|s| s.expose().to_string()).as_deref(),
        Some(renewed.as_str())
    );
    drop(vault);
    let vault_bytes = std::fs::read(&vault_file).expect("vault file");

    // Removing: an admin only.
    assert_eq!(c.call("DELETE", "/api/brokers/zerodha", &alice_t, &Value::Null).status, 403);
    assert_eq!(c.call("DELETE", "/api/brokers/zerodha", &carol_t, &Value::Null).status, 404);
    let r = c.call("DELETE", "/api/brokers/zerodha", &admin, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    let vault = Vault::open(&vault_file, MasterKey::load(None, &key_file).expect("key")).expect("vault");
    assert!(vault.kind("zerodha").is_err(), "removed from the vault");
    assert_eq!(c.call("DELETE", "/api/brokers/zerodha", &admin, &Value::Null).status, 404);
    let r = c.get("/api/accounts/alice/broker", &alice_t);
    assert_eq!(r.status, 409, "no login, no session: {}", r.body);
    // The running gateway's session ends with the login: orders are refused, not sent.
    wait_for("the gateway's session to end", LIMIT, &mut || c.health(&alice_t).as_deref() == Some("expired"));
    let before = broker_net();
    // (A size not used before: risk refuses an exact repeat as a duplicate.)
    c.order(&alice_t, "alice", 3);
    wait_for("the refusal", LIMIT, &mut || {
        c.get("/api/brokers", &alice_t).json()[0]["session"]["refused_expired"].as_u64().is_some_and(|n| n >= 1)
    });
    assert_eq!(broker_net(), before, "nothing reached the broker");

    // Every change is audited, with who did it and no secret.
    let audit = c.get("/api/audit?limit=1000", &admin).json();
    let rows: Vec<(String, String)> = audit
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (r["actor"].as_str().unwrap_or("").to_string(), r["action"].as_str().unwrap_or("").to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let count = |actor: &str, action: &str| rows.iter().filter(|(a, x)| a == actor && x == action).count();
    assert_eq!(count("admin", "broker.store"), 1, "{audit}");
    assert_eq!(count("alice_t", "broker.store"), 1, "{audit}");
    assert_eq!(count("admin", "broker.remove"), 1, "{audit}");

    let (exit, log) = run.stop();
    assert!(exit.success(), "{log}");
    assert!(log.contains("broker login stored in the vault from the console"), "the desk logs what it does:\n{log}");

    // No secret's plaintext anywhere: responses, the log, the vault file, the store.
    let mut places: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    places.insert("responses".into(), c.bodies.borrow().join("\n").into_bytes());
    places.insert("log".into(), log.into_bytes());
    places.insert("vault (before removal)".into(), vault_bytes);
    places.insert("vault".into(), std::fs::read(&vault_file).unwrap_or_default());
    for entry in std::fs::read_dir(dir.path()).expect("dir").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with("dalal.db") {
            places.insert(name, std::fs::read(entry.path()).unwrap_or_default());
        }
    }
    assert!(places.keys().any(|k| k == "dalal.db"), "the run kept a store: {:?}", places.keys());
    for secret in [API_SECRET, ROTATED_SECRET, MALFORMED_SECRET, token.as_str(), renewed.as_str()] {
        for (place, bytes) in &places {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "a secret ({}…) is in the {place}", &secret[..4]);
        }
    }
}
