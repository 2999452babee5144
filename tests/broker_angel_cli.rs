//! An Angel One login as an operator keeps and uses it, against the fake SmartAPI server:
//! `dalal broker add` with the MPIN and TOTP seed, `dalal broker login` (no browser: a TOTP
//! code computed from the seed), and `dalal broker snapshot --broker angel` printing the same
//! object as for Kite; no secret (MPIN, seed, JWT, refresh or feed token) ever shows in an
//! output, the logs (at trace level) or the vault file.

mod cli;

use cli::{dalal, text};
use dalal_brokers::fake::angel::{FakeAngel, FakeAngelUser};
use serde_json::Value;

const API_KEY: &str = "angelclikey9";
const CLIENT: &str = "R445566";
const MPIN: &str = "7391";
const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

#[test]
fn an_angel_login_logs_in_by_totp_and_snapshots_without_showing_a_secret() {
    let f = FakeAngel::start_in_background().expect("fake angel");
    f.add_user(FakeAngelUser::new(CLIENT, MPIN, SEED, API_KEY));
    f.set_instrument("NSE", "SBIN-EQ", "3045", 800.25);
    f.add_holding(CLIENT, "NSE", "SBIN-EQ", 5, 780.0);
    f.set_auto_fill(true);
    let root = f.root();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut outputs = Vec::new();

    let keygen = dalal(d, &["broker", "keygen"], "");
    assert!(keygen.status.success(), "{}", text(&keygen));
    let add = dalal(
        d,
        &[
            "broker",
            "add",
            "angelone",
            "--kind",
            "angel",
            "--id",
            &format!("api_key={API_KEY}"),
            "--id",
            &format!("client_code={CLIENT}"),
            "--id",
            "public_ip=106.193.147.98",
            "--secret",
            "mpin",
            "--secret",
            "totp_seed",
        ],
        &format!("{MPIN}\n{SEED}\n"),
    );
    assert!(add.status.success(), "{}", text(&add));
    outputs.push(text(&add));

    // Before a login there is no session to read.
    let early = dalal(d, &["broker", "snapshot", "--broker", "angel", "--login", "angelone", "--root", &root], "");
    assert!(!early.status.success());
    assert!(text(&early).contains("dalal broker login angelone"), "{}", text(&early));

    let login = dalal(d, &["broker", "login", "angelone", "--root", &root], "");
    assert!(login.status.success(), "{}", text(&login));
    assert!(text(&login).contains(&format!("logged in to angel as {CLIENT}")), "{}", text(&login));
    assert_eq!(f.logins(), 1);
    outputs.push(text(&login));
    let sent = f.requests().into_iter().find(|r| r.path.ends_with("loginByPassword")).expect("login request");
    assert_eq!(sent.headers.get("x-clientpublicip").map(String::as_str), Some("106.193.147.98"));
    let code = sent.body.as_ref().and_then(|b| b["totp"].as_str()).unwrap_or_default().to_string();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "{code:?}");

    // A trade at the broker, made by someone with the session, shows in the snapshot.
    let place = |qty: u64| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let tokens = f.issue_session(CLIENT).expect("session");
            let mut c = dalal_brokers::angel::AngelClient::new(
                &root,
                API_KEY,
                CLIENT,
                &dalal_brokers::angel::Identity::default(),
                std::time::Duration::from_secs(10),
            )
            .expect("client");
            c.set_tokens(Some(dalal_brokers::angel::model::Tokens {
                jwt: dalal_brokers::Secret::new(tokens.jwt_token),
                refresh: dalal_brokers::Secret::new(tokens.refresh_token),
                feed: dalal_brokers::Secret::new(tokens.feed_token),
                state: String::new(),
            }));
            use dalal_brokers::angel::params::*;
            let order = PlaceOrder {
                variety: Variety::Normal,
                tradingsymbol: "SBIN-EQ".into(),
                symboltoken: "3045".into(),
                transactiontype: TransactionType::Buy,
                exchange: "NSE".into(),
                ordertype: OrderType::Market,
                producttype: Product::Intraday,
                duration: Duration::Day,
                price: 0.0,
                triggerprice: 0.0,
                quantity: qty,
                ordertag: Some("manual1".into()),
            };
            c.place_order(&order).await.expect("placed").orderid
        })
    };
    let order_id = place(3);

    let snap = dalal(d, &["broker", "snapshot", "--broker", "angel", "--login", "angelone", "--root", &root], "");
    assert!(snap.status.success(), "{}", text(&snap));
    outputs.push(text(&snap));
    let v: Value = serde_json::from_slice(&snap.stdout).expect("one JSON object");
    assert_eq!(v["broker"], "angel");
    assert_eq!(v["user_id"], CLIENT);
    for key in ["available_cash", "used_margin", "net"] {
        assert!(v["funds"][key].is_number(), "funds.{key}: {v}");
    }
    let positions = v["positions"].as_array().expect("positions");
    let p = positions.iter().find(|p| p["symbol"] == "SBIN-EQ").expect("the SBIN position");
    assert_eq!((p["quantity"].as_i64(), p["product"].as_str()), (Some(3), Some("INTRADAY")));
    let orders = v["orders"].as_array().expect("orders");
    let o = orders.iter().find(|o| o["order_id"] == order_id.as_str()).expect("the order");
    assert_eq!(
        (o["status"].as_str(), o["filled_quantity"].as_i64(), o["tag"].as_str()),
        (Some("filled"), Some(3), Some("manual1"))
    );
    let h = v["holdings"].as_array().and_then(|h| h.first()).expect("a holding");
    assert_eq!((h["symbol"].as_str(), h["quantity"].as_i64()), (Some("SBIN-EQ"), Some(5)));
    // The same keys as a Kite snapshot's.
    let keys: Vec<&str> = v.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(keys, ["broker", "funds", "holdings", "orders", "positions", "user_id"]);

    // The session's tokens are in the vault, encrypted; no secret shows anywhere.
    let list = dalal(d, &["broker", "list", "--json"], "");
    let listed: Value = serde_json::from_slice(&list.stdout).expect("list json");
    let secrets = listed[0]["secrets"].as_object().expect("secrets");
    for s in ["mpin", "totp_seed", "jwt_token", "refresh_token", "feed_token"] {
        assert!(secrets.contains_key(s), "{s} kept: {listed}");
    }
    outputs.push(text(&list));
    let vault = String::from_utf8_lossy(&std::fs::read(d.join("data/brokers.vault")).expect("vault")).to_string();
    let session = f.issue_session(CLIENT).expect("session");
    let jwts: Vec<String> = f
        .requests()
        .iter()
        .filter_map(|r| r.headers.get("authorization").map(|a| a.trim_start_matches("Bearer ").to_string()))
        .collect();
    assert!(!jwts.is_empty());
    for secret in [MPIN.to_string(), SEED.to_string(), code.clone()].iter().chain(&jwts).chain([&session.feed_token]) {
        assert!(!shows(&vault, secret), "a secret in clear in the vault");
        for out in &outputs {
            assert!(!shows(out, secret), "a secret in an output or log: {out}");
        }
    }
}

/// Whether `text` holds `secret`. A short all-digit secret (an MPIN, a TOTP code) counts only
/// as a number of its own, not as digits inside a longer one (a timestamp, a duration).
fn shows(text: &str, secret: &str) -> bool {
    if !secret.bytes().all(|b| b.is_ascii_digit()) {
        return text.contains(secret);
    }
    text.match_indices(secret).any(|(at, _)| {
        let before = text[..at].bytes().next_back().is_some_and(|b| b.is_ascii_digit());
        let after = text[at + secret.len()..].bytes().next().is_some_and(|b| b.is_ascii_digit());
        !before && !after
    })
}
