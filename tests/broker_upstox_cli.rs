//! An Upstox login as an operator keeps and uses it, against the fake Upstox server: `dalal
//! broker add` with the API secret and redirect URL, `dalal broker login` (the dialog's
//! address printed; the one-time `code` given, or pasted as the redirect URL), and `dalal
//! broker snapshot --broker upstox` printing the same object as for Kite; no secret (API
//! secret, code, access token) shows in an output, the logs (at trace level) or the vault.

mod cli;

use cli::{dalal, text};
use dalal_brokers::fake::upstox::{FakeUpstox, FakeUpstoxUser};
use serde_json::Value;

const API_KEY: &str = "upclikey5";
const API_SECRET: &str = "upstox-cli-secret-91ab";
const USER: &str = "UQ7788";
const REDIRECT: &str = "http://127.0.0.1:5000/upstox/cb";
const KEY: &str = "NSE_EQ|INE467B01029";

#[test]
fn an_upstox_login_takes_the_code_and_snapshots_without_showing_a_secret() {
    let f = FakeUpstox::start_in_background().expect("fake upstox");
    f.add_user(FakeUpstoxUser::new(USER, API_KEY, API_SECRET, REDIRECT));
    f.set_instrument(KEY, "TCS", 4000.0);
    f.add_holding(USER, KEY, 3, 3800.0);
    f.set_auto_fill(true);
    let root = f.root();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut outputs = Vec::new();
    let mut secrets = vec![API_SECRET.to_string()];

    assert!(dalal(d, &["broker", "keygen"], "").status.success());
    let add = dalal(
        d,
        &[
            "broker",
            "add",
            "up",
            "--kind",
            "upstox",
            "--id",
            &format!("api_key={API_KEY}"),
            "--id",
            &format!("redirect_uri={REDIRECT}"),
            "--secret",
            "api_secret",
        ],
        &format!("{API_SECRET}\n"),
    );
    assert!(add.status.success(), "{}", text(&add));
    let early = dalal(d, &["broker", "snapshot", "--broker", "upstox", "--login", "up", "--root", &root], "");
    assert!(!early.status.success() && text(&early).contains("dalal broker login up"), "{}", text(&early));

    // With the code given.
    let code = f.issue_auth_code(API_KEY).expect("code");
    secrets.push(code.clone());
    let login = dalal(d, &["broker", "login", "up", "--root", &root, "--request-token", &code], "");
    assert!(login.status.success(), "{}", text(&login));
    let stdout = String::from_utf8_lossy(&login.stdout).to_string();
    assert!(
        stdout.contains("/v2/login/authorization/dialog") && stdout.contains(API_KEY),
        "prints the dialog: {stdout}"
    );
    assert!(stdout.contains(&format!("logged in to upstox as {USER}")), "{stdout}");
    outputs.push(text(&login));

    // A spent code is refused; pasting a fresh redirect works.
    let again = dalal(d, &["broker", "login", "up", "--root", &root, "--request-token", &code], "");
    assert!(!again.status.success(), "{}", text(&again));
    outputs.push(text(&again));
    let code = f.issue_auth_code(API_KEY).expect("code");
    secrets.push(code.clone());
    let pasted = format!("{REDIRECT}?code={code}&state=dalal\n");
    let login = dalal(d, &["broker", "login", "up", "--root", &root], &pasted);
    assert!(login.status.success(), "{}", text(&login));
    outputs.push(text(&login));

    // A trade at the broker shows in the snapshot.
    // Someone else's session of the same user places it.
    let token = f.issue_session(API_KEY).expect("a session").access_token;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let c = dalal_brokers::upstox::UpstoxClient::new(
        &root,
        &f.hft_root(),
        API_KEY,
        Some(dalal_brokers::Secret::new(token.clone())),
        std::time::Duration::from_secs(10),
    )
    .expect("client");
    use dalal_brokers::upstox::params::*;
    let mut order = PlaceOrder::new(KEY, TransactionType::Buy, 2, Product::Intraday, OrderType::Market, 0.0);
    order.tag = Some("manual2".into());
    let placed = rt.block_on(c.place_order(&order)).expect("placed");

    let snap = dalal(d, &["broker", "snapshot", "--broker", "upstox", "--login", "up", "--root", &root], "");
    assert!(snap.status.success(), "{}", text(&snap));
    outputs.push(text(&snap));
    let v: Value = serde_json::from_slice(&snap.stdout).expect("one JSON object");
    assert_eq!((v["broker"].as_str(), v["user_id"].as_str()), (Some("upstox"), Some(USER)));
    for key in ["available_cash", "used_margin", "net"] {
        assert!(v["funds"][key].is_number(), "funds.{key}: {v}");
    }
    let keys: Vec<&str> = v.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(keys, ["broker", "funds", "holdings", "orders", "positions", "user_id"]);
    let o = v["orders"].as_array().and_then(|o| o.iter().find(|o| o["order_id"] == placed.order_id())).expect("order");
    assert_eq!(
        (o["status"].as_str(), o["filled_quantity"].as_i64(), o["tag"].as_str()),
        (Some("filled"), Some(2), Some("manual2"))
    );
    let p = v["positions"].as_array().and_then(|p| p.iter().find(|p| p["symbol"] == "TCS")).expect("position");
    assert_eq!((p["quantity"].as_i64(), p["product"].as_str()), (Some(2), Some("I")));
    let h = v["holdings"].as_array().and_then(|h| h.first()).expect("holding");
    assert_eq!(h["quantity"].as_i64(), Some(3));

    // The tokens the CLI sent are the vault's; none of the secrets shows anywhere.
    let sent: Vec<String> = f
        .requests()
        .iter()
        .filter_map(|r| r.headers.get("authorization").map(|a| a.trim_start_matches("Bearer ").to_string()))
        .filter(|t| t != &token)
        .collect();
    assert!(!sent.is_empty(), "the snapshot sent the stored token");
    secrets.extend(sent);
    let vault = String::from_utf8_lossy(&std::fs::read(d.join("data/brokers.vault")).expect("vault")).to_string();
    for s in &secrets {
        assert!(!vault.contains(s.as_str()), "a secret in clear in the vault");
        for out in &outputs {
            assert!(!out.contains(s.as_str()), "a secret in an output or log: {out}");
        }
    }
}
