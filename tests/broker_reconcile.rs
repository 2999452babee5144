//! Reconciliation on demand over a real `dalal run` with a live Kite account, against the fake
//! Kite server: a position bought at the broker outside Dalal while the engine runs shows as a
//! difference (`dalal broker reconcile` exits 1); only the account's admin or trader may adopt
//! it (another trader is told it does not exist, a viewer that the role may not); adopting
//! books it into the engine at the broker's average price, after which the positions agree and
//! a second adoption finds nothing to adopt.

mod cli;

use std::process::Output;
use std::time::Duration;

use cli::{command, kite_client, kite_vault, outside_buy, request, text, wait_for, KiteRunConfig, Reply, Run};
use dalal_brokers::fake::kite::{FakeKite, FakeUser};
use serde_json::{json, Value};

const ADMIN_PW: &str = "reconcile-admin-pw-1";
const API_KEY: &str = "reconkey";
const API_SECRET: &str = "reconsecret-4d1e9b";
const LIMIT: Duration = Duration::from_secs(60);
/// INFY at the fake: what an outside market order fills at.
const INFY_PRICE: f64 = 1523.35;

/// `dalal broker reconcile --account alice` against the console with `key` (none: no
/// `DALAL_API_KEY`), plus `extra` arguments.
fn reconcile(console: &str, key: Option<&str>, extra: &[&str]) -> Output {
    let mut c = command();
    c.env_remove("DALAL_API_KEY").args(["broker", "reconcile", "--account", "alice", "--console", console]).args(extra);
    if let Some(k) = key {
        c.env("DALAL_API_KEY", k);
    }
    c.output().expect("dalal broker reconcile runs")
}

/// The command's standard output as JSON (`null` when it is not).
fn printed(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_default()
}

fn call(addr: &str, method: &str, path: &str, token: &str, body: &Value) -> Reply {
    request(addr, method, path, Some(token), &body.to_string())
}

fn login(addr: &str, user: &str, password: &str) -> String {
    let r =
        request(addr, "POST", "/api/auth/login", None, &json!({"username": user, "password": password}).to_string());
    r.json()["access_token"].as_str().map(String::from).unwrap_or_else(|| panic!("login {user}: {}", r.body))
}

#[test]
fn a_position_bought_outside_dalal_is_reconciled_and_adopted_while_the_engine_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeKite::start_in_background().expect("fake Kite");
    fake.add_user(FakeUser::new("ZX9004", API_KEY, API_SECRET));
    fake.set_funds("ZX9004", 5e6, 0.0);
    fake.set_instrument("NSE", "RELIANCE", 738_561, 1420.0);
    fake.set_instrument("NSE", "INFY", 408_065, INFY_PRICE);
    fake.set_auto_fill(true);
    let token = fake.issue_access_token(API_KEY).expect("token");
    let (vault_file, key_file) = kite_vault(dir.path(), API_KEY, API_SECRET, &token);

    // alice trades live through the login (no adoption at the start); bob stays on paper.
    let cfg_path = dir.path().join("reconcile.toml");
    KiteRunConfig::new()
        .kite_token("RELIANCE", 738_561u32)
        .account("alice", "live")
        .broker_key("poll_ms = 50")
        .write(&fake, &cfg_path);
    let run = Run::kite_console(&cfg_path, &vault_file, &key_file, ADMIN_PW, "info");
    let addr = run.addr.clone();
    let console = format!("http://{addr}");

    let admin = login(&addr, "admin", ADMIN_PW);
    for (user, role, account) in
        [("alice_t", "trader", "alice"), ("alice_v", "viewer", "alice"), ("bob_t", "trader", "bob")]
    {
        let body =
            json!({"username": user, "password": format!("{user}-password"), "role": role, "accounts": [account]});
        let r = call(&addr, "POST", "/api/users", &admin, &body);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let alice_t = login(&addr, "alice_t", "alice_t-password");
    let alice_v = login(&addr, "alice_v", "alice_v-password");
    let bob_t = login(&addr, "bob_t", "bob_t-password");
    let key_of = |user: &str, token: &str| -> String {
        let body = json!({"current_password": format!("{user}-password")});
        let r = call(&addr, "POST", &format!("/api/users/{user}/api-keys"), token, &body);
        r.json()["api_key"].as_str().map(String::from).unwrap_or_else(|| panic!("api key for {user}: {}", r.body))
    };
    let trader_key = key_of("alice_t", &alice_t);
    let viewer_key = key_of("alice_v", &alice_v);

    // Nothing held on either side yet: the positions agree.
    let o = reconcile(&console, Some(&trader_key), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = printed(&o);
    assert_eq!(
        (r["account"].as_str(), r["login"].as_str(), r["agrees"].as_bool()),
        (Some("alice"), Some("zerodha"), Some(true)),
        "{r}"
    );

    // Outside Dalal, at the broker: 7 INFY bought for delivery.
    outside_buy(&fake, API_KEY, &token, "INFY", 7, None);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = kite_client(&fake, API_KEY, &token);
    let mut broker_average = 0.0;
    wait_for("the outside buy to fill at the broker", LIMIT, &mut || {
        let positions = rt.block_on(client.positions()).map(|p| p.net).unwrap_or_default();
        match positions.iter().find(|p| p.tradingsymbol == "INFY" && p.quantity == 7) {
            Some(p) => {
                broker_average = p.average_price;
                true
            }
            None => false,
        }
    });
    assert!(broker_average > 0.0);

    // The difference is reported, and the command says so with its status.
    let mut last = Value::Null;
    wait_for("the difference to be reported", LIMIT, &mut || {
        let o = reconcile(&console, Some(&viewer_key), &[]);
        assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
        last = printed(&o);
        o.status.code() == Some(1)
    });
    assert_eq!(last["agrees"], false, "{last}");
    assert_eq!(
        last["differences"],
        json!([{"exchange": "NSE", "symbol": "INFY", "product": "CNC", "engine": 0, "broker": 7}]),
        "{last}"
    );

    // Who may: another trader does not see alice; her viewer reads but may not adopt.
    let path = "/api/accounts/alice/reconcile";
    assert_eq!(call(&addr, "GET", path, &bob_t, &Value::Null).status, 404);
    assert_eq!(call(&addr, "POST", &format!("{path}/adopt"), &bob_t, &json!({})).status, 404);
    assert_eq!(call(&addr, "GET", path, &alice_v, &Value::Null).status, 200);
    assert_eq!(call(&addr, "POST", &format!("{path}/adopt"), &alice_v, &json!({})).status, 403);
    let o = reconcile(&console, Some(&viewer_key), &["--adopt"]);
    assert_eq!(o.status.code(), Some(2), "a viewer's key may not adopt: {}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("403"), "{}", text(&o));
    let r = call(&addr, "GET", "/api/accounts/bob/reconcile", &admin, &Value::Null);
    assert_eq!(r.status, 409, "bob trades on paper: {}", r.body);
    // No key, or a wrong one: errors, status 2, the key never echoed.
    let o = reconcile(&console, None, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("DALAL_API_KEY"), "{}", text(&o));
    let wrong = "dk_not-a-key-of-this-console";
    let o = reconcile(&console, Some(wrong), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("401") && !text(&o).contains(wrong), "{}", text(&o));

    // alice's trader adopts the broker's position.
    let o = reconcile(&console, Some(&trader_key), &["--adopt"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let adopted = printed(&o);
    assert_eq!(adopted["left_out"], json!([]), "{adopted}");
    let sent = adopted["adopted"].as_array().cloned().unwrap_or_default();
    assert_eq!(sent.len(), 1, "{adopted}");
    assert_eq!(
        (sent[0]["symbol"].as_str(), sent[0]["product"].as_str(), sent[0]["side"].as_str(), sent[0]["qty"].as_u64()),
        (Some("INFY"), Some("CNC"), Some("BUY"), Some(7)),
        "{adopted}"
    );
    assert!(sent[0]["price"].as_f64().is_some_and(|p| (p - broker_average).abs() < 0.005), "{adopted}");

    // Once the engine has booked it, the positions agree.
    wait_for("the positions to agree", LIMIT, &mut || {
        reconcile(&console, Some(&trader_key), &[]).status.code() == Some(0)
    });
    let positions = call(&addr, "GET", "/api/positions?account=alice", &alice_t, &Value::Null).json();
    let infy = positions
        .as_array()
        .and_then(|p| p.iter().find(|x| x["symbol"] == "INFY" && x["product"] == "CNC"))
        .cloned()
        .unwrap_or_else(|| panic!("INFY in alice's positions: {positions}"));
    assert_eq!(infy["net_qty"], 7, "{infy}");
    assert!(
        infy["avg_price"].as_f64().is_some_and(|p| (p - broker_average).abs() < 0.005),
        "booked at the broker's average price {broker_average}: {infy}"
    );

    // A second adoption finds nothing to adopt.
    let o = reconcile(&console, Some(&trader_key), &["--adopt"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let again = printed(&o);
    assert_eq!((again["adopted"].clone(), again["left_out"].clone()), (json!([]), json!([])), "{again}");
    let positions = call(&addr, "GET", "/api/positions?account=alice", &alice_t, &Value::Null).json();
    let net: i64 = positions
        .as_array()
        .map(|p| p.iter().filter(|x| x["symbol"] == "INFY").map(|x| x["net_qty"].as_i64().unwrap_or(0)).sum())
        .unwrap_or(0);
    assert_eq!(net, 7, "nothing booked twice: {positions}");

    // Both adoptions are audited, by who asked.
    let audit = call(&addr, "GET", "/api/audit?limit=1000", &admin, &Value::Null).json();
    let adoptions: Vec<&Value> =
        audit.as_array().map(|a| a.iter().filter(|r| r["action"] == "broker.adopt").collect()).unwrap_or_default();
    assert_eq!(adoptions.len(), 2, "{audit}");
    assert!(adoptions.iter().all(|r| r["actor"] == "alice_t"), "{audit}");

    let (exit, log) = run.stop();
    assert!(exit.success(), "{log}");
    for secret in [token.as_str(), API_SECRET, trader_key.as_str(), viewer_key.as_str()] {
        assert!(!log.contains(secret), "a secret ({}…) is in the log", &secret[..4]);
    }
}
