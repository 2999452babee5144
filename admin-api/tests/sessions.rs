//! Sessions that end when they should and sign-ins that give nothing away: a password change
//! revokes every token and key of the user (after a restart too), API keys are listed masked
//! and revoked one by one, WebSockets end when their rights change or their token expires,
//! changes of credentials need the current password and never an API key, a TOTP code works
//! once, and throttling is per client address and name with a lock the owner can pass.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::{http, http_from, login, Console, Resp, Ws};
use dalal_admin::auth;
use dalal_admin::AdminConfig;
use serde_json::{json, Value};

const ADMIN_PW: &str = "sessions-admin-pw";
const SECRET: &[u8] = b"sessions-secret-sessions-secret!";

/// The sessions tests' console.
fn console(f: impl FnOnce(&mut AdminConfig)) -> Console {
    Console::new(ADMIN_PW, SECRET, f)
}

fn me(addr: SocketAddr, token: &str) -> u16 {
    http(addr, "GET", "/api/me", Some(token), None).status
}

fn refresh(addr: SocketAddr, token: &str) -> u16 {
    http(addr, "POST", "/api/auth/refresh", None, Some(&json!({"refresh_token": token}))).status
}

fn new_key(addr: SocketAddr, token: &str, user: &str, current: &str) -> String {
    let r = http(
        addr,
        "POST",
        &format!("/api/users/{user}/api-keys"),
        Some(token),
        Some(&json!({"current_password": current})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["api_key"].as_str().expect("api_key").to_string()
}

fn from(last_octet: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last_octet])
}

fn login_from(w: &Console, src: IpAddr, user: &str, password: &str, totp: Option<&str>) -> Resp {
    let mut b = json!({"username": user, "password": password});
    if let Some(c) = totp {
        b["totp"] = json!(c);
    }
    http_from(src, w.addr, "POST", "/api/auth/login", None, Some(&b), Duration::from_secs(60))
}

/// Enrols TOTP for `user` (signed in as `token`, password `pw`) and returns the secret.
fn enrol(addr: SocketAddr, token: &str, user: &str, pw: &str) -> Vec<u8> {
    let r = http(addr, "POST", &format!("/api/users/{user}/totp"), Some(token), Some(&json!({"current_password": pw})));
    assert_eq!(r.status, 200, "{}", r.text);
    auth::base32_decode(r.body["secret_base32"].as_str().expect("secret")).expect("base32")
}

#[test]
fn a_password_change_revokes_every_token_and_key_of_the_user_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("dalal.db").display());
    let (first, newest) = {
        let u = url.clone();
        let w = console(move |c| c.store_url = Some(u));
        let a = w.addr;
        let (admin, _) = login(a, "admin", ADMIN_PW);
        w.user(&admin, "u1", "trader", &["alice"]);
        let (a1, r1) = login(a, "u1", "u1-password");
        let (a2, r2) = login(a, "u1", "u1-password");
        let key1 = new_key(a, &a1, "u1", "u1-password");
        let key2 = new_key(a, &a1, "u1", "u1-password");

        // Keys are listed masked, and revoked one by one.
        let l = http(a, "GET", "/api/users/u1/api-keys", Some(&a1), None);
        assert_eq!(l.status, 200, "{}", l.text);
        let keys = l.body.as_array().expect("a list").clone();
        assert_eq!(keys.len(), 2, "{}", l.text);
        for k in [&key1, &key2] {
            assert!(!l.text.contains(k.as_str()) && !l.text.contains(&k[3..20]), "a key in the list: {}", l.text);
        }
        assert!(keys.iter().all(|k| k["key"].as_str().is_some_and(|s| s.starts_with("dk_") && s.ends_with('…'))));
        let other = http(a, "GET", "/api/users/u1/api-keys", Some(&admin), None);
        assert_eq!(other.body, l.body, "an admin sees the same list");
        w.user(&admin, "u2", "trader", &["bob"]);
        let (b1, _) = login(a, "u2", "u2-password");
        assert_eq!(http(a, "GET", "/api/users/u1/api-keys", Some(&b1), None).status, 404);
        let id2 = keys[0]["id"].as_str().expect("an id").to_string();
        let r = http(a, "DELETE", &format!("/api/users/u1/api-keys/{id2}"), Some(&b1), None);
        assert_eq!(r.status, 404, "another user cannot revoke it");
        let r = http(a, "DELETE", &format!("/api/users/u1/api-keys/{id2}"), Some(&a1), None);
        assert_eq!(r.status, 200, "{}", r.text);
        let gone = [&key1, &key2].iter().filter(|k| me(a, k) == 401).count();
        assert_eq!(gone, 1, "exactly the revoked key stops working");
        let l = http(a, "GET", "/api/users/u1/api-keys", Some(&a1), None);
        assert!(l.body.as_array().unwrap().iter().all(|k| k["id"] != json!(id2)));
        let live_key = if me(a, &key1) == 200 { key1 } else { key2 };

        // A self change: every session's access and refresh tokens and the key stop working.
        let ch = json!({"password": "u1-new-password", "current_password": "u1-password"});
        let r = http(a, "PATCH", "/api/users/u1", Some(&a1), Some(&ch));
        assert_eq!(r.status, 200, "{}", r.text);
        for t in [&a1, &a2, &live_key] {
            assert_eq!(me(a, t), 401, "a token or key from before the change");
        }
        assert_eq!(refresh(a, &r1), 401);
        assert_eq!(refresh(a, &r2), 401);
        let fresh = r.body["tokens"]["access_token"].as_str().expect("the caller's new tokens");
        assert_eq!(me(a, fresh), 200);
        let bad = json!({"username": "u1", "password": "u1-password"});
        assert_eq!(http(a, "POST", "/api/auth/login", None, Some(&bad)).status, 401);

        // An admin's reset does the same.
        let (c1, rc1) = login(a, "u1", "u1-new-password");
        let key3 = new_key(a, &c1, "u1", "u1-new-password");
        let reset = json!({"password": "u1-reset-password", "current_password": ADMIN_PW});
        assert_eq!(http(a, "PATCH", "/api/users/u1", Some(&admin), Some(&reset)).status, 200);
        assert_eq!(me(a, &c1), 401);
        assert_eq!(me(a, &key3), 401);
        assert_eq!(refresh(a, &rc1), 401);
        assert_eq!(me(a, &admin), 200, "the admin's own session goes on");
        let (d1, _) = login(a, "u1", "u1-reset-password");
        (a1, d1)
    };
    // After a restart with the same signing key, the generation is the stored one: a token
    // from before the changes stays refused, the newest still works.
    let w = console(move |c| c.store_url = Some(url));
    assert_eq!(me(w.addr, &first), 401, "a token from before a password change, after a restart");
    assert_eq!(me(w.addr, &newest), 200);
}

#[test]
fn websockets_end_when_their_rights_change_or_their_token_expires() {
    let w = console(|_| {});
    let a = w.addr;
    let (admin, _) = login(a, "admin", ADMIN_PW);
    let cases: [(&str, &str, &str, Value); 4] = [
        ("ws_disabled", "trader", "alice", json!({"disabled": true})),
        ("ws_accounts", "trader", "bob", json!({"accounts": []})),
        ("ws_role", "trader", "alice", json!({"role": "viewer"})),
        ("ws_password", "viewer", "alice", json!({"password": "another-password", "current_password": ADMIN_PW})),
    ];
    let mut control = {
        let (t, _) = login(a, "admin", ADMIN_PW);
        let mut s = Ws::open(a, "/api/ws?topics=orders", &t).expect("admin socket");
        assert_eq!(s.next_text().expect("hello")["type"], "hello");
        s
    };
    for (name, role, account, change) in cases {
        w.user(&admin, name, role, &[account]);
        let (t, _) = login(a, name, &format!("{name}-password"));
        let mut s = Ws::open(a, "/api/ws?topics=orders,fills,positions,pnl", &t).expect("socket");
        assert_eq!(s.next_text().expect("hello")["type"], "hello");
        let r = http(a, "PATCH", &format!("/api/users/{name}"), Some(&admin), Some(&change));
        assert_eq!(r.status, 200, "{}", r.text);
        let code = s.close_code(Instant::now() + Duration::from_secs(30));
        assert_eq!(code, Some(1008), "{name}: the socket is closed for a policy violation at {change}");
    }
    // The admin's socket, whose rights did not change, is still open: it is not closed
    // before a short deadline.
    assert_eq!(control.close_code(Instant::now() + Duration::from_millis(500)), None);

    // Expiry: tokens of 3 s; the socket closes once its token has expired, whenever that is.
    let w = console(|c| c.token_ttl = Duration::from_secs(3));
    let mut s = (0..10)
        .find_map(|_| {
            let (t, _) = login(w.addr, "admin", ADMIN_PW);
            let mut s = Ws::open(w.addr, "/api/ws?topics=orders", &t).ok()?;
            (s.next_text()?["type"] == "hello").then_some(s)
        })
        .expect("a socket within the token's life");
    assert_eq!(s.close_code(Instant::now() + Duration::from_secs(60)), Some(1008), "closed at token expiry");
}

#[test]
fn changes_of_credentials_need_the_current_password_and_never_an_api_key() {
    let w = console(|_| {});
    let a = w.addr;
    let (admin, _) = login(a, "admin", ADMIN_PW);
    w.user(&admin, "c1", "trader", &["alice"]);
    let (t, _) = login(a, "c1", "c1-password");
    let refused = |r: Resp, what: &str| assert_eq!(r.status, 403, "{what}: {}", r.text);
    refused(http(a, "PATCH", "/api/users/c1", Some(&t), Some(&json!({"password": "c1-new-password"}))), "no current");
    let wrong = json!({"password": "c1-new-password", "current_password": "not-it-at-all"});
    refused(http(a, "PATCH", "/api/users/c1", Some(&t), Some(&wrong)), "a wrong current password");
    refused(http(a, "POST", "/api/users/c1/totp", Some(&t), None), "TOTP without the password");
    refused(http(a, "POST", "/api/users/c1/api-keys", Some(&t), None), "a key without the password");
    let reset = json!({"password": "c1-reset-password"});
    refused(
        http(a, "PATCH", "/api/users/c1", Some(&admin), Some(&reset)),
        "an admin reset without the admin's password",
    );

    // An API key cannot, even with the password.
    let key = new_key(a, &t, "c1", "c1-password");
    let current = json!({"current_password": "c1-password"});
    let change = json!({"password": "c1-new-password", "current_password": "c1-password"});
    refused(http(a, "PATCH", "/api/users/c1", Some(&key), Some(&change)), "a password change by key");
    refused(http(a, "POST", "/api/users/c1/totp", Some(&key), Some(&current)), "TOTP by key");
    refused(http(a, "POST", "/api/users/c1/api-keys", Some(&key), Some(&current)), "a key by key");

    // With TOTP enrolled, the code is needed too.
    let secret = enrol(a, &t, "c1", "c1-password");
    refused(http(a, "POST", "/api/users/c1/api-keys", Some(&t), Some(&current)), "a key without the TOTP code");
    let code = auth::totp(&secret, auth::now_s());
    let both = json!({"current_password": "c1-password", "current_totp": code});
    let r = http(a, "POST", "/api/users/c1/api-keys", Some(&t), Some(&both));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = http(a, "PATCH", "/api/users/c1", Some(&t), Some(&change));
    refused(r, "a password change without the TOTP code");
}

#[test]
fn a_totp_code_works_once_and_a_missing_code_says_nothing_of_the_password() {
    let w = console(|_| {});
    let a = w.addr;
    let (admin, _) = login(a, "admin", ADMIN_PW);
    w.user(&admin, "o1", "viewer", &["alice"]);
    let (t, _) = login(a, "o1", "o1-password");
    let secret = enrol(a, &t, "o1", "o1-password");
    let wrong = http(a, "POST", "/api/auth/login", None, Some(&json!({"username": "o1", "password": "not-it"})));
    let missing = http(a, "POST", "/api/auth/login", None, Some(&json!({"username": "o1", "password": "o1-password"})));
    assert_eq!((missing.status, &missing.body), (wrong.status, &wrong.body), "a right password without its code");
    let code = auth::totp(&secret, auth::now_s());
    let with = json!({"username": "o1", "password": "o1-password", "totp": code});
    let r = http(a, "POST", "/api/auth/login", None, Some(&with));
    assert_eq!(r.status, 200, "{}", r.text);
    let again = http(a, "POST", "/api/auth/login", None, Some(&with));
    assert_eq!(again.status, 401, "the same code a second time: {}", again.text);
}

#[test]
fn throttling_is_per_address_and_name_alike_for_unknown_users_and_a_lock_lets_the_owner_in() {
    let w = console(|c| {
        c.user_lock_attempts = 4;
        // Long enough that the attacker's next attempt always comes within the back-off.
        c.lockout_delay = Duration::from_secs(3);
    });
    let a = w.addr;
    let (admin, _) = login(a, "admin", ADMIN_PW);
    w.user(&admin, "v1", "trader", &["alice"]);
    let (t, _) = login(a, "v1", "v1-password");
    let secret = enrol(a, &t, "v1", "v1-password");

    // An attacker at one address: the same answers for a known and an unknown name.
    let attacker = from(2);
    let answers = |name: &str| -> Vec<(u16, Value)> {
        (0..4)
            .map(|_| {
                let r = login_from(&w, attacker, name, "guess-guess", None);
                (r.status, r.body)
            })
            .collect()
    };
    let known = answers("v1");
    assert_eq!(known, answers("nobody-here"), "known and unknown names are answered alike");
    assert_eq!(known.last().map(|k| k.0), Some(429), "the attacker's address backs off: {known:?}");

    // That did not lock the owner out: from another address the right credentials pass.
    let code = auth::totp(&secret, auth::now_s());
    let r = login_from(&w, from(1), "v1", "v1-password", Some(&code));
    assert_eq!(r.status, 200, "{}", r.text);

    // Failures from many addresses lock the name: every attempt at it is then held for the
    // delay, the right password with a fresh code passes, a wrong one does not, and an unknown
    // name is treated the same.
    for name in ["v1", "nobody-here"] {
        for o in 3..7 {
            assert_eq!(login_from(&w, from(o), name, "guess-guess", None).status, 401);
        }
    }
    let held = |name: &str, pw: &str, code: Option<&str>, want: u16| {
        let t0 = Instant::now();
        let r = login_from(&w, from(7), name, pw, code);
        assert_eq!(r.status, want, "{name}: {}", r.text);
        assert!(t0.elapsed() >= Duration::from_secs(3), "{name}: a locked name is held for the delay");
    };
    held("nobody-here", "guess-guess", None, 401);
    held("v1", "guess-guess", None, 401);
    let next = auth::totp(&secret, auth::now_s() + 30);
    held("v1", "v1-password", Some(&next), 200);
}
