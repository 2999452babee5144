//! The console at its edges: an audit log a stranger cannot flood, WebSockets that take only
//! what they should, `/metrics` that names no account to the public, changes the engine would
//! refuse refused at the door, money in rupees, bounded quantities, one winner of a race for a
//! name, TOTP secrets sealed at rest, an admin that cannot remove the last admin, refresh
//! tokens that betray their thief, an admin's kill switch that stays engaged, framework
//! rejections in the API's own JSON, and the headers a browser needs.

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{http, http_raw, login, Console, Ws, METRICS_TOKEN};
use dalal_admin::AdminConfig;
use serde_json::{json, Value};

const ADMIN_PW: &str = "hardening-admin-pw";

/// The console of these tests, with an admin's token and new users at hand.
struct World(Console);

impl std::ops::Deref for World {
    type Target = Console;
    fn deref(&self) -> &Console {
        &self.0
    }
}

impl World {
    fn new(f: impl FnOnce(&mut AdminConfig)) -> World {
        World(Console::new(ADMIN_PW, b"hardening-secret-hardening-secret", f))
    }

    fn admin(&self) -> String {
        login(self.addr, "admin", ADMIN_PW).0
    }

    /// A new user, signed in: its access token.
    fn user(&self, admin: &str, name: &str, role: &str, accounts: &[&str]) -> String {
        self.0.user(admin, name, role, accounts);
        login(self.addr, name, &format!("{name}-password")).0
    }
}

fn error_body(r: &common::Resp, what: &str) -> String {
    assert!(r.head.to_ascii_lowercase().contains("content-type: application/json"), "{what}: JSON: {}", r.head);
    r.body["error"].as_str().unwrap_or_else(|| panic!("{what}: an Error body: {}", r.text)).to_string()
}

/// Item 7: Refused sign-ins are gathered into few audit entries that still count every refusal,
/// and a trader's own entries are found behind everyone else's.
#[test]
fn refused_sign_ins_are_gathered_and_the_audit_log_filters_before_its_limit() {
    let w = World::new(|c| {
        c.auth_rate_per_min = 10_000;
        c.lockout_attempts = 10_000;
        c.user_lock_attempts = 10_000;
    });
    let a = w.addr;
    let admin = w.admin();
    let trader = w.user(&admin, "ann", "trader", &["alice"]);
    let r = http(
        a,
        "POST",
        "/api/orders",
        Some(&trader),
        Some(&json!({"account": "alice", "symbol": "RELIANCE", "side": "BUY", "qty": 1})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    const UNKNOWN: usize = 24;
    const KNOWN: usize = 6;
    for i in 0..UNKNOWN {
        let r = http(
            a,
            "POST",
            "/api/auth/login",
            None,
            Some(&json!({"username": format!("nobody{i}"), "password": "guess-guess"})),
        );
        assert_eq!(r.status, 401);
    }
    for _ in 0..KNOWN {
        let r =
            http(a, "POST", "/api/auth/login", None, Some(&json!({"username": "ann", "password": "wrong-password"})));
        assert_eq!(r.status, 401);
    }
    // Many admin actions: the trader's order is far behind the newest entries.
    for i in 0..40 {
        let r = http(a, "PUT", "/api/risk/bob", Some(&admin), Some(&json!({"max_order_qty": 100 + i})));
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let log = http(a, "GET", "/api/audit?limit=5000", Some(&admin), None).body;
    let refusals: Vec<&Value> =
        log.as_array().expect("entries").iter().filter(|e| e["action"] == "auth.login_failed").collect();
    assert!(refusals.len() <= 4, "gathered, not one entry each: {refusals:?}");
    let count = |actor: &str| -> u64 {
        refusals
            .iter()
            .filter(|e| e["actor"] == actor)
            .map(|e| {
                serde_json::from_str::<Value>(e["detail"].as_str().unwrap_or("{}")).unwrap()["count"].as_u64().unwrap()
            })
            .sum()
    };
    assert_eq!(count("(unknown user)"), UNKNOWN as u64, "every refusal counted: {refusals:?}");
    assert_eq!(count("ann"), KNOWN as u64);
    let mine = http(a, "GET", "/api/audit?limit=3", Some(&trader), None).body;
    let mine = mine.as_array().expect("entries");
    assert!(!mine.is_empty(), "the trader's own entries, found behind the admin's");
    assert!(mine.iter().all(|e| e["actor"] == "ann"), "{mine:?}");
    assert!(mine.iter().any(|e| e["action"] == "order.place"), "{mine:?}");
}

/// Item 8: Subscriptions take only known topics, never echo what was sent, refuse large frames,
/// and count against the user's sockets and requests.
#[test]
fn websocket_subscriptions_are_bounded_and_never_echo() {
    let w = World::new(|c| c.ws_per_user = 2);
    let a = w.addr;
    let admin = w.admin();
    let refused = Ws::open(a, "/api/ws?topics=orders,<script>", &admin).err().expect("unknown topic refused");
    assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
    let many = vec!["orders"; 300].join(",");
    assert!(Ws::open(a, &format!("/api/ws?topics={many}"), &admin)
        .err()
        .expect("too many")
        .starts_with("HTTP/1.1 400"));

    let mut s = Ws::open(a, "/api/ws?topics=orders", &admin).expect("socket");
    assert_eq!(s.next_text().expect("hello")["type"], "hello");
    s.send_text(r#"{"topics": "orders,evil-topic-name"}"#).expect("send");
    let reply = s.next_text().expect("reply");
    assert_eq!(reply["type"], "error", "{reply}");
    assert!(!reply.to_string().contains("evil-topic-name"), "never echoed: {reply}");
    s.send_text(r#"{"topics": "fills"}"#).expect("send");
    assert_eq!(s.next_text().expect("ack"), json!({"type": "subscribed", "topics": ["fills"]}));

    // A second socket fits, a third does not.
    let _second = Ws::open(a, "/api/ws", &admin).expect("second socket");
    let third = Ws::open(a, "/api/ws", &admin).err().expect("over the cap");
    assert!(third.starts_with("HTTP/1.1 429"), "{third}");

    // A frame over 4 KiB ends the socket (1009: message too big).
    s.send_text(&"x".repeat(10_000)).expect("send");
    assert_eq!(s.close_code(Instant::now() + Duration::from_secs(20)), Some(1009));

    // Messages count against the per-user rate limit.
    let w = World::new(|c| c.rate_limit_per_min = 8);
    let t = w.admin();
    let mut s = Ws::open(w.addr, "/api/ws?topics=orders", &t).expect("socket");
    assert_eq!(s.next_text().expect("hello")["type"], "hello");
    for _ in 0..10 {
        if s.send_text(r#"{"topics": "orders"}"#).is_err() {
            break;
        }
    }
    assert_eq!(s.close_code(Instant::now() + Duration::from_secs(20)), Some(1008), "closed past the rate limit");
}

/// Item 9: `/metrics` names accounts and logins only to the scrape token or on its own address.
#[test]
fn metrics_name_no_account_to_the_public() {
    let w = World::new(|c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap()));
    let a = w.addr;
    let public = http(a, "GET", "/metrics", None, None);
    assert_eq!(public.status, 200);
    for name in ["alice", "bob", "carol"] {
        assert!(!public.text.contains(name), "the public /metrics names {name}");
    }
    assert!(public.text.contains("dalal_kill_switch_accounts_engaged 0"), "{}", public.text);
    let full = http(a, "GET", "/metrics", Some(METRICS_TOKEN), None);
    assert!(full.text.contains("dalal_kill_switch{scope=\"account\",account=\"alice\"} 0"), "{}", full.text);
    assert_eq!(http(a, "GET", "/metrics", Some("not-the-token"), None).status, 401);
    let scrape = w.admin.as_ref().and_then(|h| h.metrics_addr()).expect("metrics address");
    assert!(http(scrape, "GET", "/metrics", None, None).text.contains("account=\"bob\""));
    assert_eq!(http(scrape, "GET", "/api/me", None, None).status, 404, "only /metrics there");
}

/// Item 10: A strategy change the engine would refuse is refused with 400 naming the key, and what
/// the API shows is unchanged.
#[test]
fn strategy_changes_the_engine_would_refuse_are_refused() {
    let w = World::new(|_| {});
    let admin = w.admin();
    let list = http(w.addr, "GET", "/api/strategies", Some(&admin), None).body;
    let ema = list.as_array().unwrap().iter().find(|s| s["kind"] == "ema_cross").expect("an ema_cross").clone();
    let path = format!("/api/strategies/{}", ema["id"]);
    for (key, v) in
        [("fast", json!(1_000_000_000_000u64)), ("slow", json!(1_000_000_000_000_000u64)), ("qty", json!(-3))]
    {
        let r = http(w.addr, "PATCH", &path, Some(&admin), Some(&json!({key: v})));
        assert_eq!(r.status, 400, "{key}: {}", r.text);
        assert!(error_body(&r, key).contains(key), "names {key}: {}", r.text);
    }
    assert_eq!(http(w.addr, "GET", &path, Some(&admin), None).body["params"], ema["params"]);
}

/// Item 11: Limits in rupees, exact, nothing negative, no unknown key; the same terms as the file.
#[test]
fn risk_limits_are_rupees_and_never_negative() {
    let w = World::new(|_| {});
    let admin = w.admin();
    let a = w.addr;
    for (key, v) in [("max_order_value", -1.0), ("daily_loss_limit", -5_000_000.0), ("max_gross_exposure", 0.001)] {
        let r = http(a, "PUT", "/api/risk/alice", Some(&admin), Some(&json!({key: v})));
        assert_eq!(r.status, 400, "{key}={v}: {}", r.text);
        assert!(error_body(&r, key).contains(key), "{}", r.text);
    }
    let r = http(a, "PUT", "/api/risk/alice", Some(&admin), Some(&json!({"max_order_valu": 1})));
    assert!(r.status == 400 || r.status == 422, "unknown key: {}", r.text);
    // A block pasted from the config file, in rupees.
    let text = "max_order_value = 250000.55\ndaily_loss_limit = 50000\nfat_finger_pct = 2.5\nmax_order_qty = 500\n";
    let from_file: Value = toml::from_str::<toml::Value>(text).map(|v| serde_json::to_value(v).unwrap()).unwrap();
    let r = http(a, "PUT", "/api/risk/alice", Some(&admin), Some(&from_file));
    assert_eq!(r.status, 200, "{}", r.text);
    let l = http(a, "GET", "/api/risk/alice", Some(&admin), None).body["limits"].clone();
    assert_eq!(l["max_order_value"], json!(250000.55));
    assert_eq!(l["daily_loss_limit"], json!(50000.0));
    assert_eq!(l["fat_finger_pct"], json!(2.5));
    // What GET shows can be PUT back as it is.
    assert_eq!(http(a, "PUT", "/api/risk/alice", Some(&admin), Some(&l)).status, 200);
}

/// Item 12: Quantities and prices are bounded at the door.
#[test]
fn quantities_and_prices_are_bounded() {
    let w = World::new(|_| {});
    let admin = w.admin();
    let order = |qty: Value, price: Option<f64>| {
        let mut o = json!({"account": "alice", "symbol": "RELIANCE", "side": "BUY", "qty": qty});
        if let Some(p) = price {
            o["order_type"] = json!("LIMIT");
            o["price"] = json!(p);
        }
        http(w.addr, "POST", "/api/orders", Some(&admin), Some(&o))
    };
    for q in [json!(1u64 << 63), json!(u64::MAX), json!(0)] {
        let r = order(q.clone(), None);
        assert_eq!(r.status, 400, "qty {q}: {}", r.text);
        assert!(error_body(&r, "qty").contains("qty"));
    }
    let r = order(json!(1e30), None);
    assert_eq!(r.status, 422, "{}", r.text);
    error_body(&r, "a float quantity");
    for p in [1e12, -5.0, 100.001] {
        let r = order(json!(1), Some(p));
        assert_eq!(r.status, 400, "price {p}: {}", r.text);
    }
    assert_eq!(order(json!(1), Some(2450.05)).status, 200);
}

/// Item 13: Of six creations of one name at once, one wins.
#[test]
fn concurrent_creation_of_one_name_has_one_winner() {
    let w = World::new(|_| {});
    let admin = w.admin();
    let go = Arc::new(Barrier::new(6));
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let (go, admin, a) = (go.clone(), admin.clone(), w.addr);
            std::thread::spawn(move || {
                let u = json!({"username": "twin", "password": format!("twin-password-{i}"), "role": "viewer"});
                go.wait();
                http(a, "POST", "/api/users", Some(&admin), Some(&u)).status
            })
        })
        .collect();
    let mut codes: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    codes.sort();
    assert_eq!(codes, vec![200, 409, 409, 409, 409, 409]);
}

/// Item 14: TOTP secrets are sealed in the store, whose file and directory only their owner reads;
/// without the master key TOTP cannot be enrolled.
#[test]
fn totp_secrets_are_sealed_and_the_database_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = format!("sqlite://{}", data.join("console.db").display());
    let secret = {
        let w = World::new(|c| c.store_url = Some(url.clone()));
        let admin = w.admin();
        let r =
            http(w.addr, "POST", "/api/users/admin/totp", Some(&admin), Some(&json!({"current_password": ADMIN_PW})));
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["secret_base32"].as_str().unwrap().to_string()
    };
    let raw = dalal_admin::auth::base32_decode(&secret).unwrap();
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let mut bytes = Vec::new();
    // The main file and whatever -wal or -shm is still there (SQLite removes them on its own
    // time after the last connection closes, its pages then in the main file).
    for f in std::fs::read_dir(&data).unwrap().flatten() {
        bytes.extend(std::fs::read(f.path()).unwrap_or_default());
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(&hex) && !text.contains(&secret), "the TOTP secret is not in the database in clear");
    assert!(text.contains("sealed:v1:"), "it is there, sealed");
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(data.join("console.db")).unwrap().permissions().mode() & 0o777, 0o600);

    // After a restart with the same key, the seed opens: a code from it signs in.
    let w = World::new(|c| c.store_url = Some(url.clone()));
    let code = dalal_admin::auth::totp(&raw, dalal_admin::auth::now_s() + 30);
    let r = http(
        w.addr,
        "POST",
        "/api/auth/login",
        None,
        Some(&json!({"username": "admin", "password": ADMIN_PW, "totp": code})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    drop(w);

    let w = World::new(|c| c.secret_key = None);
    let admin = w.admin();
    let r = http(w.addr, "POST", "/api/users/admin/totp", Some(&admin), Some(&json!({"current_password": ADMIN_PW})));
    assert_eq!(r.status, 409, "{}", r.text);
}

/// Item 15: The last enabled admin cannot be demoted or disabled, by itself or anyone.
#[test]
fn the_last_admin_stays_an_admin() {
    let w = World::new(|_| {});
    let admin = w.admin();
    for change in [json!({"role": "trader"}), json!({"disabled": true})] {
        let r = http(w.addr, "PATCH", "/api/users/admin", Some(&admin), Some(&change));
        assert_eq!(r.status, 409, "{change}: {}", r.text);
    }
    let second = w.user(&admin, "root2", "admin", &[]);
    assert_eq!(http(w.addr, "PATCH", "/api/users/admin", Some(&second), Some(&json!({"role": "viewer"}))).status, 200);
    assert_eq!(http(w.addr, "PATCH", "/api/users/root2", Some(&second), Some(&json!({"disabled": true}))).status, 409);
}

/// Item 16: A refresh token used twice revokes its whole sign-in; logout revokes the access token.
#[test]
fn a_replayed_refresh_token_ends_its_sign_in_and_logout_ends_the_access_token() {
    let w = World::new(|_| {});
    let a = w.addr;
    let (first, r1) = login(a, "admin", ADMIN_PW);
    let (other, _) = login(a, "admin", ADMIN_PW);
    let refresh = |t: &str| http(a, "POST", "/api/auth/refresh", None, Some(&json!({"refresh_token": t})));
    let next = refresh(&r1);
    assert_eq!(next.status, 200);
    let (a2, r2) = (next.body["access_token"].as_str().unwrap(), next.body["refresh_token"].as_str().unwrap());
    assert_eq!(http(a, "GET", "/api/me", Some(a2), None).status, 200);
    assert_eq!(refresh(&r1).status, 401, "spent");
    assert_eq!(refresh(r2).status, 401, "the family is revoked");
    assert_eq!(http(a, "GET", "/api/me", Some(a2), None).status, 401, "its access tokens too");
    assert_eq!(http(a, "GET", "/api/me", Some(&first), None).status, 401);
    assert_eq!(http(a, "GET", "/api/me", Some(&other), None).status, 200, "another sign-in goes on");

    let (t, r) = login(a, "admin", ADMIN_PW);
    let out = http(a, "POST", "/api/auth/logout", Some(&t), Some(&json!({"refresh_token": r})));
    assert_eq!(out.status, 200);
    assert_eq!(http(a, "GET", "/api/me", Some(&t), None).status, 401, "logged out access token");
    assert_eq!(refresh(&r).status, 401);
}

/// Item 17: An admin's kill switch is an admin's to release.
#[test]
fn an_admins_kill_switch_is_released_only_by_an_admin() {
    let w = World::new(|_| {});
    let a = w.addr;
    let admin = w.admin();
    let trader = w.user(&admin, "tess", "trader", &["alice"]);
    let kill = |t: &str, engaged: bool| {
        http(a, "POST", "/api/kill-switch", Some(t), Some(&json!({"scope": "alice", "engaged": engaged})))
    };
    assert_eq!(kill(&trader, true).status, 200);
    assert_eq!(kill(&trader, false).status, 200, "a trader releases their own");
    assert_eq!(kill(&admin, true).status, 200);
    assert_eq!(kill(&trader, false).status, 403);
    assert_eq!(kill(&trader, true).status, 200, "engaging again is fine");
    assert_eq!(kill(&trader, false).status, 403, "still the admin's");
    assert_eq!(kill(&admin, false).status, 200);
    assert_eq!(kill(&trader, true).status, 200);
    assert_eq!(kill(&trader, false).status, 200);
}

/// Item 18: Rejections are the API's JSON, authentication comes before the body, the scheme is
/// case-insensitive, unknown fields and endless passwords are refused.
#[test]
fn rejections_are_json_and_authentication_comes_first() {
    let w = World::new(|_| {});
    let a = w.addr;
    let admin = w.admin();
    let json_ct = "Content-Type: application/json\r\n";
    // No token and a broken body: 401, not a parse error.
    let r = http_raw(a, "POST", "/api/orders", json_ct, b"{not json");
    assert_eq!(r.status, 401, "{}", r.text);
    error_body(&r, "401");
    let r = http_raw(a, "GET", "/api/orders?limit=abc", "", b"");
    assert_eq!(r.status, 401, "{}", r.text);
    let auth = format!("Authorization: Bearer {admin}\r\n");
    let cases: [(&str, &str, String, Vec<u8>, u16); 6] = [
        ("POST", "/api/orders", format!("{auth}{json_ct}"), b"{not json".to_vec(), 400),
        ("POST", "/api/orders", format!("{auth}Content-Type: text/plain\r\n"), b"{}".to_vec(), 415),
        ("POST", "/api/orders", format!("{auth}{json_ct}"), br#"{"account":"alice"}"#.to_vec(), 422),
        ("POST", "/api/orders", format!("{auth}{json_ct}"), vec![b' '; 3 << 20], 413),
        ("GET", "/api/orders/abc", auth.clone(), Vec::new(), 400),
        ("DELETE", "/api/me", auth.clone(), Vec::new(), 405),
    ];
    for (m, p, h, body, want) in cases {
        let r = http_raw(a, m, p, &h, &body);
        assert_eq!(r.status, want, "{m} {p}: {}", r.text);
        error_body(&r, p);
    }
    assert_eq!(http_raw(a, "GET", "/nowhere", "", b"").status, 404);
    let lower = format!("Authorization: bearer {admin}\r\n");
    assert_eq!(http_raw(a, "GET", "/api/me", &lower, b"").status, 200, "the scheme in any case");
    let extra = json!({"account": "alice", "symbol": "RELIANCE", "side": "BUY", "qty": 1, "sneaky": true});
    let r = http(a, "POST", "/api/orders", Some(&admin), Some(&extra));
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(error_body(&r, "unknown field").contains("sneaky"));
    let long = json!({"username": "longpw", "password": "p".repeat(5000), "role": "viewer"});
    assert_eq!(http(a, "POST", "/api/users", Some(&admin), Some(&long)).status, 400);
    let r = http(a, "POST", "/api/auth/login", None, Some(&json!({"username": "admin", "password": "p".repeat(5000)})));
    assert_eq!(r.status, 400);
}

/// Item 19: Headers for a browser, and the WebSocket token never in the URL.
#[test]
fn headers_and_the_websocket_token() {
    let w = World::new(|_| {});
    let a = w.addr;
    let page = http(a, "GET", "/", None, None);
    let head = page.head.to_ascii_lowercase();
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(head.contains("referrer-policy: no-referrer"), "{head}");
    let csp = head.lines().find_map(|l| l.strip_prefix("content-security-policy: ")).expect("a CSP").to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let script = csp.split(';').find(|d| d.trim().starts_with("script-src")).expect("script-src");
    assert!(!script.contains("unsafe-inline"), "{csp}");
    assert!(!page.text.contains("<script>"), "no inline script");
    assert!(http(a, "GET", "/app.js", None, None).head.to_ascii_lowercase().contains("text/javascript"));
    let r = http(a, "POST", "/api/auth/login", None, Some(&json!({"username": "admin", "password": ADMIN_PW})));
    assert!(r.head.to_ascii_lowercase().contains("cache-control: no-store"), "{}", r.head);
    let token = r.body["access_token"].as_str().unwrap().to_string();

    let in_url = Ws::connect(a, &format!("/api/ws?token={token}")).err().expect("a token in the URL is refused");
    assert!(in_url.starts_with("HTTP/1.1 400"), "{in_url}");
    let mut s = Ws::connect_with(a, "/api/ws", &format!("Sec-WebSocket-Protocol: dalal, bearer.{token}\r\n"))
        .expect("a token in the subprotocol list");
    assert_eq!(s.next_text().expect("hello")["type"], "hello");
    let head =
        Ws::connect_with(a, "/api/ws", "Sec-WebSocket-Protocol: dalal, bearer.forged\r\n").err().expect("forged");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
}

/// Item 18: The OpenAPI document: every answer of every operation documented, with its schema.
/// Checked on the document, and on the server: each operation asked without credentials, and
/// with a broken body, answers only codes its entry lists.
#[test]
fn the_openapi_document_describes_every_answer() {
    let w = World::new(|_| {});
    let a = w.addr;
    let doc = http(a, "GET", "/api/openapi.json", None, None).body;
    let schemas = &doc["components"]["schemas"];
    let resolve = |s: &Value| -> Value {
        match s["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
            Some(n) => schemas[n].clone(),
            None => s.clone(),
        }
    };
    let admin = w.admin();
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            let what = format!("{method} {path}");
            let rs = op["responses"].as_object().unwrap_or_else(|| panic!("{what}: responses"));
            let ok = if path == "/api/ws" { "101" } else { "200" };
            assert!(rs.contains_key(ok), "{what}: {ok}");
            if ok == "200" {
                let content = rs["200"]["content"].as_object().unwrap_or_else(|| panic!("{what}: a 200 schema"));
                assert!(content.values().all(|c| c["schema"].is_object()), "{what}");
            }
            for (code, r) in rs {
                if code.starts_with('4') && path != "/ready" {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                        "{what} {code}: the Error body"
                    );
                }
            }
            let authed = op["security"].as_array().is_some_and(|s| s.iter().any(|x| x.get("bearer").is_some()))
                && path != "/metrics";
            if authed {
                for c in ["401", "429"] {
                    assert!(rs.contains_key(c), "{what}: {c}");
                }
            }
            if let Some(body) = op.get("requestBody") {
                for c in ["400", "413", "415", "422"] {
                    assert!(rs.contains_key(c), "{what}: {c}");
                }
                // The request types (components) refuse unknown fields; a strategy's keys are
                // its kind's, refused by name when unknown.
                let raw = &body["content"]["application/json"]["schema"];
                let s = resolve(raw);
                if raw.get("$ref").is_some() && s["type"] == "object" {
                    assert_eq!(s["additionalProperties"], false, "{what}: unknown fields are refused");
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" && p["name"] == "id" && !path.contains("api-keys") {
                    assert_eq!(p["schema"]["type"], "integer", "{what}: ids are integers");
                }
            }
            // The server agrees: without credentials, and with a broken body.
            let concrete = path
                .replace("{name}", "admin")
                .replace("{id}", "1")
                .replace("{account}", "alice")
                .replace("{login}", "zerodha");
            let m = method.to_ascii_uppercase();
            let json_ct = "Content-Type: application/json\r\n";
            let bare = http_raw(a, &m, &concrete, json_ct, b"{}");
            assert!(
                rs.contains_key(&bare.status.to_string()),
                "{what} without credentials: {} {}",
                bare.status,
                bare.text
            );
            if op.get("requestBody").is_some() {
                let h = format!("Authorization: Bearer {admin}\r\n{json_ct}");
                let broken = http_raw(a, &m, &concrete, &h, b"{broken");
                assert!(rs.contains_key(&broken.status.to_string()), "{what} with a broken body: {}", broken.status);
            }
            checked += 1;
        }
    }
    assert!(checked >= 45, "{checked} operations");
}

/// A body is a JSON object: an array is not read as a struct of defaults.
#[test]
fn a_body_must_be_an_object() {
    let w = World::new(|_| {});
    let admin = w.admin();
    let before = http(w.addr, "GET", "/api/risk/alice", Some(&admin), None).body;
    let r = http(w.addr, "PUT", "/api/risk/alice", Some(&admin), Some(&json!([])));
    assert_eq!(r.status, 422, "{}", r.text);
    error_body(&r, "an array body");
    assert_eq!(http(w.addr, "GET", "/api/risk/alice", Some(&admin), None).body, before, "limits unchanged");
}

/// Behind a trusted proxy, sign-in throttling counts each forwarded client; from anyone else
/// the header is ignored.
#[test]
fn throttling_counts_the_client_behind_a_trusted_proxy() {
    let budget = 4;
    let attempt = |addr, forwarded: &str| {
        let body = br#"{"username":"nobody","password":"guess-guess"}"#;
        let h = format!("Content-Type: application/json\r\nX-Forwarded-For: 203.0.113.9, {forwarded}\r\n");
        http_raw(addr, "POST", "/api/auth/login", &h, body).status
    };
    let w = World::new(|c| {
        c.auth_rate_per_min = budget;
        c.lockout_attempts = 1000;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    });
    for _ in 0..budget {
        assert_eq!(attempt(w.addr, "198.51.100.1"), 401);
    }
    assert_eq!(attempt(w.addr, "198.51.100.1"), 429, "that client's budget is spent");
    assert_eq!(attempt(w.addr, "198.51.100.2"), 401, "another client behind the proxy is not throttled");

    let w = World::new(|c| {
        c.auth_rate_per_min = budget;
        c.lockout_attempts = 1000;
    });
    for i in 0..budget {
        assert_eq!(attempt(w.addr, &format!("198.51.100.{i}")), 401);
    }
    assert_eq!(attempt(w.addr, "198.51.100.99"), 429, "an untrusted peer's header changes nothing");
}
