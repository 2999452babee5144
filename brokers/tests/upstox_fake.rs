//! The fake Upstox server, driven as a client would with raw HTTP (reqwest) and WebSockets
//! (tokio-tungstenite): the authorization-code login, the headers and tokens every call needs,
//! the two hosts, an order's life through Upstox's statuses, the books' shapes, rate limits
//! under the manual clock, garbled answers, the Market Data Feed v3 and the portfolio stream.
//!
//! No test depends on wall-clock timing: rate-limit windows move by hand, and socket reads
//! wait for messages (with a generous timeout only so a broken fake fails instead of hanging).

use std::time::Duration;

use dalal_brokers::fake::upstox::{
    Failure, FakeUpstox, FakeUpstoxUser, Host, Malformed, RateClass, RateLimit, SessionTokens, Subscription,
};
use dalal_brokers::upstox::feed::{decode, proto};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const USER: &str = "AB1234";
const API_KEY: &str = "upstox-key-7Qx2";
const SECRET: &str = "upstox-secret-9Zk4";
const REDIRECT: &str = "https://dalal.example/upstox/callback";
const SBIN: &str = "NSE_EQ|INE062A01020";
const INFY: &str = "NSE_EQ|INE009A01021";
const NIFTY: &str = "NSE_INDEX|Nifty 50";

const DIALOG: &str = "/v2/login/authorization/dialog";
const TOKEN: &str = "/v2/login/authorization/token";
const LOGOUT: &str = "/v2/logout";
const PROFILE: &str = "/v2/user/profile";
const FUNDS: &str = "/v2/user/get-funds-and-margin";
const PLACE_V2: &str = "/v2/order/place";
const PLACE: &str = "/v3/order/place";
const MODIFY: &str = "/v3/order/modify";
const CANCEL: &str = "/v3/order/cancel";
const BOOK: &str = "/v2/order/retrieve-all";
const DETAILS: &str = "/v2/order/details";
const HISTORY: &str = "/v2/order/history";
const TRADES: &str = "/v2/order/trades/get-trades-for-day";
const ORDER_TRADES: &str = "/v2/order/trades";
const POSITIONS: &str = "/v2/portfolio/short-term-positions";
const HOLDINGS: &str = "/v2/portfolio/long-term-holdings";

async fn fake() -> FakeUpstox {
    let f = FakeUpstox::start().await.expect("fake upstox starts");
    setup(&f);
    f
}

fn setup(f: &FakeUpstox) {
    f.add_user(FakeUpstoxUser::new(USER, API_KEY, SECRET, REDIRECT));
    f.set_instrument(SBIN, "SBIN", 800.0);
    f.set_instrument(INFY, "INFY", 1500.0);
    f.set_instrument(NIFTY, "Nifty 50", 24_000.0);
    f.add_holding(USER, INFY, 5, 1400.0);
}

struct Answer {
    status: u16,
    location: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

enum Body {
    None,
    Json(Value),
    Form(Vec<(&'static str, String)>),
}

async fn call(root: &str, method: &str, path: &str, hs: &[(&str, String)], body: Body) -> Answer {
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().expect("client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(method, format!("{root}{path}"));
    for (k, v) in hs {
        req = req.header(*k, v);
    }
    req = match body {
        Body::None => req,
        Body::Json(v) => req.header("Content-Type", "application/json").body(v.to_string()),
        Body::Form(f) => req.form(&f),
    };
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    Answer { status, location, text: resp.text().await.expect("body") }
}

/// The headers the SDK sends on a v2 call, with the token if any.
fn headers(token: Option<&str>) -> Vec<(&'static str, String)> {
    let mut h = vec![("Accept", "application/json".to_string()), ("Api-Version", "2.0".to_string())];
    if let Some(t) = token {
        h.push(("Authorization", format!("Bearer {t}")));
    }
    h
}

async fn get(f: &FakeUpstox, path: &str, token: &str) -> Answer {
    call(&f.root(), "GET", path, &headers(Some(token)), Body::None).await
}

async fn send(f: &FakeUpstox, method: &str, path: &str, token: &str, body: Value) -> Answer {
    call(&f.hft_root(), method, path, &headers(Some(token)), Body::Json(body)).await
}

/// The `data` of a success envelope.
fn data(a: &Answer) -> Value {
    let v = a.json();
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(v["status"], "success", "{}", a.text);
    v["data"].clone()
}

/// The status and first code of an error envelope, checking both casings are there.
fn failure(a: &Answer) -> (u16, String) {
    let v = a.json();
    assert_eq!(v["status"], "error", "{}", a.text);
    let e = &v["errors"][0];
    assert_eq!(e["errorCode"], e["error_code"], "both casings: {}", a.text);
    assert!(e.get("propertyPath").is_some() && e.get("invalid_value").is_some(), "{}", a.text);
    (a.status, e["errorCode"].as_str().expect("errorCode").to_string())
}

fn code_of(location: &str) -> String {
    let url = reqwest::Url::parse(location).expect("redirect URL");
    url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).expect("code")
}

fn token_form(code: &str, secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("code", code.to_string()),
        ("client_id", API_KEY.to_string()),
        ("client_secret", secret.to_string()),
        ("redirect_uri", REDIRECT.to_string()),
        ("grant_type", "authorization_code".to_string()),
    ]
}

async fn login(f: &FakeUpstox) -> SessionTokens {
    let code = f.issue_auth_code(API_KEY).expect("code");
    let a = call(&f.root(), "POST", TOKEN, &headers(None), Body::Form(token_form(&code, SECRET))).await;
    let v = a.json();
    assert_eq!(a.status, 200, "{}", a.text);
    SessionTokens {
        access_token: v["access_token"].as_str().expect("access_token").into(),
        extended_token: v["extended_token"].as_str().expect("extended_token").into(),
    }
}

fn limit(side: &str, qty: u32, price: f64) -> Value {
    json!({"quantity": qty, "product": "I", "validity": "DAY", "price": price, "tag": "dalal-1", "slice": false,
        "instrument_token": SBIN, "order_type": "LIMIT", "transaction_type": side, "disclosed_quantity": 0,
        "trigger_price": 0, "is_amo": false})
}

fn market(side: &str, qty: u32) -> Value {
    json!({"quantity": qty, "product": "D", "validity": "DAY", "price": 0, "instrument_token": SBIN,
        "order_type": "MARKET", "transaction_type": side, "disclosed_quantity": 0, "trigger_price": 0, "is_amo": false})
}

async fn place(f: &FakeUpstox, token: &str, body: Value) -> String {
    let d = data(&send(f, "POST", PLACE, token, body).await);
    d["order_ids"][0].as_str().expect("order id").to_string()
}

async fn details(f: &FakeUpstox, token: &str, id: &str) -> Value {
    data(&get(f, &format!("{DETAILS}?order_id={id}"), token).await)
}

// ---------------------------------------------------------------------------------------
// Login and sessions

#[tokio::test]
async fn the_dialog_redirects_with_a_one_time_code_for_a_flat_token_answer() {
    let f = fake().await;
    let dialog = |client_id: &str, redirect: &str| {
        let q = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("state", "s-42"),
        ])
        .expect("query");
        format!("{DIALOG}?{q}")
    };
    let browser = [("Accept", "text/html".to_string())];
    let bad = call(&f.root(), "GET", &dialog(API_KEY, "https://evil.example/cb"), &browser, Body::None).await;
    assert_eq!(failure(&bad), (400, "UDAPI100068".to_string()));
    let a = call(&f.root(), "GET", &dialog(API_KEY, REDIRECT), &browser, Body::None).await;
    assert_eq!(a.status, 302, "{}", a.text);
    let location = a.location.expect("Location");
    assert!(location.starts_with(&format!("{REDIRECT}?code=")), "{location}");
    assert!(location.ends_with("&state=s-42"), "{location}");
    let code = code_of(&location);

    // A wrong secret spends the code all the same.
    let t = call(&f.root(), "POST", TOKEN, &headers(None), Body::Form(token_form(&code, "wrong"))).await;
    assert_eq!(failure(&t), (401, "UDAPI100016".to_string()));
    let t = call(&f.root(), "POST", TOKEN, &headers(None), Body::Form(token_form(&code, SECRET))).await;
    assert_eq!(failure(&t), (401, "UDAPI100016".to_string()), "spent");
    assert_eq!(f.logins(), 0);

    let code = f.issue_auth_code(API_KEY).expect("code");
    let mut form = token_form(&code, SECRET);
    form[4].1 = "client_credentials".into();
    let t = call(&f.root(), "POST", TOKEN, &headers(None), Body::Form(form)).await;
    assert_eq!(failure(&t), (400, "UDAPI100036".to_string()));
    let code = f.issue_auth_code(API_KEY).expect("code");
    let no_version = [("Accept", "application/json".to_string())];
    let t = call(&f.root(), "POST", TOKEN, &no_version, Body::Form(token_form(&code, SECRET))).await;
    assert_eq!(failure(&t), (400, "UDAPI100015".to_string()), "v2 needs Api-Version");

    let code = f.issue_auth_code(API_KEY).expect("code");
    let t = call(&f.root(), "POST", TOKEN, &headers(None), Body::Form(token_form(&code, SECRET))).await;
    let v = t.json();
    assert_eq!(t.status, 200);
    assert!(v.get("status").is_none() && v.get("data").is_none(), "flat, no envelope: {v}");
    assert_eq!((v["user_id"].as_str(), v["broker"].as_str()), (Some(USER), Some("UPSTOX")));
    let token = v["access_token"].as_str().expect("token");
    assert!(token.starts_with("eyJ") && token.len() > 60, "{token}");
    assert_ne!(v["extended_token"], v["access_token"]);
    assert_eq!(f.logins(), 1);
    assert!(f.token_is_live(token));
    let profile = data(&get(&f, PROFILE, token).await);
    assert_eq!((profile["user_id"].as_str(), profile["is_active"].as_bool()), (Some(USER), Some(true)));

    let recorded = f.requests();
    let exchange = recorded.iter().rev().find(|r| r.path == TOKEN).expect("token request");
    assert!(exchange.form.contains(&("client_secret".into(), SECRET.into())), "a form body");
    assert_eq!(exchange.host, Host::Api);
    assert!(recorded.windows(2).all(|w| w[0].received <= w[1].received));
}

#[tokio::test]
async fn tokens_are_checked_expire_and_log_out() {
    let f = fake().await;
    let t = login(&f).await;
    let none = call(&f.root(), "GET", PROFILE, &headers(None), Body::None).await;
    assert_eq!(failure(&none), (401, "UDAPI100050".to_string()));
    assert_eq!(failure(&get(&f, PROFILE, "eyJnot.a.token").await), (401, "UDAPI100050".to_string()));
    let mut bare = headers(None);
    bare.push(("Authorization", t.access_token.clone()));
    let a = call(&f.root(), "GET", PROFILE, &bare, Body::None).await;
    assert_eq!(failure(&a).1, "UDAPI100050", "needs `Bearer `");

    // The extended token reads, and may not trade.
    data(&get(&f, BOOK, &t.extended_token).await);
    let a = send(&f, "POST", PLACE, &t.extended_token, limit("BUY", 1, 799.0)).await;
    assert_eq!(failure(&a), (401, "UDAPI100067".to_string()));

    assert!(f.expire_token(&t.access_token));
    assert!(!f.token_is_live(&t.access_token));
    assert_eq!(failure(&get(&f, PROFILE, &t.access_token).await), (401, "UDAPI100050".to_string()));
    assert!(!f.expire_token("never-issued"));

    let other = f.issue_session(API_KEY).expect("session");
    assert_eq!(
        data(&call(&f.root(), "DELETE", LOGOUT, &headers(Some(&other.access_token)), Body::None).await),
        json!(true)
    );
    assert_eq!(failure(&get(&f, PROFILE, &other.access_token).await).1, "UDAPI100050");
    assert_eq!(failure(&get(&f, BOOK, &other.extended_token).await).1, "UDAPI100050", "all of the session's tokens");
    let third = f.issue_session(API_KEY).expect("session");
    f.expire_all_tokens();
    assert!(!f.token_is_live(&third.access_token));
}

#[tokio::test]
async fn hosts_methods_and_headers_are_checked_like_a_gateway() {
    let f = fake().await;
    let t = login(&f).await.access_token;
    // The order host serves order writes only.
    let a = call(&f.hft_root(), "GET", BOOK, &headers(Some(&t)), Body::None).await;
    assert_eq!(failure(&a), (404, "UDAPI10000".to_string()));
    assert_eq!(failure(&get(&f, "/v2/order/nothing", &t).await), (404, "UDAPI10000".to_string()));
    assert_eq!(failure(&get(&f, PLACE, &t).await), (405, "UDAPI10000".to_string()));
    let html = [
        ("Accept", "text/html".to_string()),
        ("Api-Version", "2.0".to_string()),
        ("Authorization", format!("Bearer {t}")),
    ];
    assert_eq!(failure(&call(&f.root(), "GET", BOOK, &html, Body::None).await), (406, "UDAPI10000".to_string()));
    // v2 calls need Api-Version (but /v2/order/details, which the SDK calls without it); v3 don't.
    let v3_only = [("Accept", "application/json".to_string()), ("Authorization", format!("Bearer {t}"))];
    assert_eq!(failure(&call(&f.root(), "GET", BOOK, &v3_only, Body::None).await), (400, "UDAPI100015".to_string()));
    let id = place(&f, &t, limit("BUY", 1, 790.0)).await;
    let a = call(&f.root(), "GET", &format!("{DETAILS}?order_id={id}"), &v3_only, Body::None).await;
    assert_eq!(data(&a)["order_id"], json!(id));
    let a = call(&f.hft_root(), "POST", PLACE, &v3_only, Body::Json(limit("BUY", 1, 790.0))).await;
    data(&a);
    // A body that is not a JSON object.
    let a = call(&f.hft_root(), "POST", PLACE, &v3_only, Body::Form(vec![("quantity", "1".into())])).await;
    assert_eq!(failure(&a), (400, "UDAPI100036".to_string()));
    // The API host takes order writes too (the sandbox has one host for both).
    let a = call(&f.root(), "POST", PLACE, &v3_only, Body::Json(limit("BUY", 1, 790.0))).await;
    data(&a);
    let hosts: Vec<Host> =
        f.requests().iter().filter(|r| r.path == PLACE && r.method == "POST").map(|r| r.host).collect();
    assert_eq!(hosts, [Host::Hft, Host::Hft, Host::Hft, Host::Api]);
}

// ---------------------------------------------------------------------------------------
// Orders

#[tokio::test]
async fn an_order_walks_upstox_statuses_through_a_partial_fill_a_modify_and_a_cancel() {
    let f = fake().await;
    let t = login(&f).await.access_token;
    let a = send(&f, "POST", PLACE, &t, limit("BUY", 10, 799.5)).await;
    let v = a.json();
    assert_eq!(v["metadata"]["latency"].as_u64(), Some(7), "v3 answers carry a latency");
    let id = data(&a)["order_ids"][0].as_str().expect("id").to_string();
    assert!(id.len() == 15 && id.bytes().all(|b| b.is_ascii_digit()), "{id}");

    let o = details(&f, &t, &id).await;
    assert_eq!(
        (o["status"].as_str(), o["price"].as_f64(), o["quantity"].as_i64()),
        (Some("open"), Some(799.5), Some(10))
    );
    assert_eq!((o["exchange"].as_str(), o["instrument_token"].as_str()), (Some("NSE"), Some(SBIN)));
    assert_eq!((o["trading_symbol"].as_str(), o["tag"].as_str()), (Some("SBIN"), Some("dalal-1")));
    assert_eq!((o["pending_quantity"].as_i64(), o["variety"].as_str()), (Some(10), Some("SIMPLE")));
    assert!(o["exchange_order_id"].as_str().is_some_and(|x| x.len() == 16), "{o}");
    assert!(o["order_timestamp"].as_str().is_some_and(|t| t.starts_with("2026-01-05 09:15:")), "{o}");

    f.fill(&id, 4, 799.5).expect("partial fill");
    let o = details(&f, &t, &id).await;
    assert_eq!(
        (o["status"].as_str(), o["filled_quantity"].as_i64(), o["pending_quantity"].as_i64()),
        (Some("open"), Some(4), Some(6))
    );
    assert_eq!(o["average_price"].as_f64(), Some(799.5));
    let fills = data(&get(&f, &format!("{ORDER_TRADES}?order_id={id}"), &t).await);
    assert_eq!((fills[0]["quantity"].as_i64(), fills[0]["average_price"].as_f64()), (Some(4), Some(799.5)));
    assert!(fills[0]["trade_id"].as_str().is_some_and(|s| !s.is_empty()));

    let change = json!({"order_id": id, "quantity": 8, "validity": "DAY", "price": 801, "order_type": "LIMIT",
        "disclosed_quantity": 0, "trigger_price": 0});
    let a = send(&f, "PUT", MODIFY, &t, change).await;
    assert_eq!(data(&a)["order_id"], json!(id));
    let o = details(&f, &t, &id).await;
    assert_eq!(
        (o["price"].as_f64(), o["quantity"].as_i64(), o["status"].as_str()),
        (Some(801.0), Some(8), Some("open"))
    );
    assert_eq!(o["order_request_id"], "2");

    let a = call(&f.hft_root(), "DELETE", &format!("{CANCEL}?order_id={id}"), &headers(Some(&t)), Body::None).await;
    assert_eq!(data(&a)["order_id"], json!(id));
    assert_eq!(details(&f, &t, &id).await["status"], "cancelled");
    let a = call(&f.hft_root(), "DELETE", &format!("{CANCEL}?order_id={id}"), &headers(Some(&t)), Body::None).await;
    assert_eq!(failure(&a), (400, "UDAPI100040".to_string()));
    let again = json!({"order_id": id, "validity": "DAY", "price": 802, "order_type": "LIMIT"});
    assert_eq!(failure(&send(&f, "PUT", MODIFY, &t, again).await).1, "UDAPI100041");

    let history = data(&get(&f, &format!("{HISTORY}?order_id={id}"), &t).await);
    let statuses: Vec<&str> = history.as_array().expect("list").iter().filter_map(|o| o["status"].as_str()).collect();
    assert_eq!(
        statuses,
        [
            "put order req received",
            "validation pending",
            "open pending",
            "open",
            "open",
            "modify validation pending",
            "modify pending",
            "modified",
            "open",
            "cancel pending",
            "cancelled"
        ]
    );
    let by_tag = data(&get(&f, &format!("{HISTORY}?tag=dalal-1"), &t).await);
    assert_eq!(by_tag.as_array().map(Vec::len), Some(statuses.len()));
    assert_eq!(f.order_updates().len(), statuses.len(), "one update per change");
    assert_eq!(f.order_updates()[0]["update_type"], "order");
}

#[tokio::test]
async fn market_orders_fill_into_trades_positions_and_funds() {
    let f = fake().await;
    let t = login(&f).await.access_token;
    let funds = data(&get(&f, FUNDS, &t).await);
    assert_eq!(funds["equity"]["available_margin"].as_f64(), Some(100_000.0));
    assert_eq!(funds["commodity"]["used_margin"].as_f64(), Some(0.0));
    let equity_only = data(&get(&f, &format!("{FUNDS}?segment=SEC"), &t).await);
    assert!(equity_only.get("commodity").is_none());
    assert_eq!(failure(&get(&f, &format!("{FUNDS}?segment=XYZ"), &t).await).1, "UDAPI100036");

    let buy = place(&f, &t, market("BUY", 10)).await;
    assert_eq!(details(&f, &t, &buy).await["status"], "complete");
    f.set_ltp(SBIN, 810.0);
    let sell = place(&f, &t, market("SELL", 4)).await;
    assert_eq!(details(&f, &t, &sell).await["average_price"].as_f64(), Some(810.0));

    let trades = data(&get(&f, TRADES, &t).await);
    assert_eq!(trades.as_array().map(Vec::len), Some(2));
    let positions = data(&get(&f, POSITIONS, &t).await);
    let p = &positions[0];
    assert_eq!(positions.as_array().map(Vec::len), Some(1));
    assert_eq!(
        (p["quantity"].as_i64(), p["day_buy_quantity"].as_i64(), p["day_sell_quantity"].as_i64()),
        (Some(6), Some(10), Some(4))
    );
    assert_eq!(
        (p["buy_price"].as_f64(), p["sell_price"].as_f64(), p["average_price"].as_f64()),
        (Some(800.0), Some(810.0), Some(800.0))
    );
    assert_eq!((p["product"].as_str(), p["instrument_token"].as_str()), (Some("D"), Some(SBIN)));
    assert_eq!(
        (p["realised"].as_f64(), p["unrealised"].as_f64(), p["pnl"].as_f64()),
        (Some(40.0), Some(60.0), Some(100.0))
    );

    let funds = data(&get(&f, FUNDS, &t).await);
    assert_eq!(funds["equity"]["used_margin"].as_f64(), Some(4760.0), "bought 8000, sold 3240");
    assert_eq!(funds["equity"]["available_margin"].as_f64(), Some(95_240.0));

    let holdings = data(&get(&f, HOLDINGS, &t).await);
    let h = &holdings[0];
    assert_eq!(
        (h["trading_symbol"].as_str(), h["isin"].as_str(), h["quantity"].as_i64()),
        (Some("INFY"), Some("INE009A01021"), Some(5))
    );
    assert_eq!((h["average_price"].as_f64(), h["pnl"].as_f64()), (Some(1400.0), Some(500.0)));
}

#[tokio::test]
async fn the_rms_rejects_orders_after_accepting_them() {
    let f = fake().await;
    let t = login(&f).await.access_token;
    f.reject_next_order("RMS:Margin Exceeds, Required:8000.00, Available:0.00");
    let id = place(&f, &t, limit("BUY", 1, 800.0)).await;
    let o = details(&f, &t, &id).await;
    assert_eq!(o["status"], "rejected");
    assert_eq!(o["status_message"], "RMS:Margin Exceeds, Required:8000.00, Available:0.00");
    assert_eq!((o["pending_quantity"].as_i64(), o["exchange_order_id"].as_str()), (Some(0), None));

    // Too little money: accepted, then rejected.
    let id = place(&f, &t, limit("BUY", 1000, 800.0)).await;
    let o = details(&f, &t, &id).await;
    assert_eq!(o["status"], "rejected");
    assert!(o["status_message"].as_str().is_some_and(|m| m.contains("Insufficient funds")), "{o}");
    assert_eq!(f.reject(&id, "again"), Err(format!("order {id} is already rejected")));
    let updates = f.order_updates();
    let last: Vec<&str> = updates.iter().rev().take(3).filter_map(|u| u["status"].as_str()).collect();
    assert_eq!(last, ["rejected", "validation pending", "put order req received"]);
}

#[tokio::test]
async fn bad_orders_get_upstox_error_codes() {
    let f = fake().await;
    let t = login(&f).await.access_token;
    let with = |k: &str, v: Value| {
        let mut b = limit("BUY", 1, 800.0);
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = limit("BUY", 1, 800.0);
        b.as_object_mut().map(|o| o.remove(k));
        b
    };
    for (body, code) in [
        (without("order_type"), "UDAPI1004"),
        (with("order_type", json!("STOP")), "UDAPI1056"),
        (without("validity"), "UDAPI1007"),
        (with("validity", json!("GTC")), "UDAPI1055"),
        (without("instrument_token"), "UDAPI1009"),
        (with("instrument_token", json!("INE062A01020")), "UDAPI1011"),
        (with("instrument_token", json!("NSE_EQ|INE000000000")), "UDAPI1087"),
        (with("product", json!("CO")), "UDAPI100036"),
        (with("quantity", json!(1.5)), "UDAPI100036"),
        (with("quantity", json!("1")), "UDAPI100036"),
        (with("price", json!(0)), "UDAPI100036"),
        (with("transaction_type", json!("HOLD")), "UDAPI100036"),
        (with("tag", json!("x".repeat(41))), "UDAPI100036"),
    ] {
        let a = send(&f, "POST", PLACE, &t, body.clone()).await;
        assert_eq!(failure(&a), (400, code.to_string()), "{body}");
    }
    let cancel = |q: &str| format!("{CANCEL}{q}");
    for (q, code) in [("", "UDAPI1023"), ("?order_id=../x", "UDAPI1010"), ("?order_id=260105999999999", "UDAPI100010")]
    {
        let a = call(&f.hft_root(), "DELETE", &cancel(q), &headers(Some(&t)), Body::None).await;
        assert_eq!(failure(&a), (400, code.to_string()), "{q}");
    }
    // Another user's order is not found either.
    f.add_user(FakeUpstoxUser::new("ZZ9999", "other-key", "other-secret", REDIRECT));
    let other = f.issue_session("other-key").expect("session").access_token;
    let theirs = place(&f, &other, limit("BUY", 1, 790.0)).await;
    assert_eq!(failure(&get(&f, &format!("{DETAILS}?order_id={theirs}"), &t).await).1, "UDAPI100010");
    assert_eq!(data(&get(&f, BOOK, &t).await), json!([]), "each user sees their own book");

    // v2 place answers one order id.
    let a = call(&f.hft_root(), "POST", PLACE_V2, &headers(Some(&t)), Body::Json(limit("BUY", 1, 790.0))).await;
    let d = data(&a);
    assert!(d["order_id"].as_str().is_some() && a.json().get("metadata").is_none(), "{}", a.text);
}

#[tokio::test]
async fn stop_losses_wait_for_their_trigger_and_amos_for_the_session() {
    let f = fake().await;
    let t = login(&f).await.access_token;
    let sl = json!({"quantity": 5, "product": "I", "validity": "DAY", "price": 0, "instrument_token": SBIN,
        "order_type": "SL-M", "transaction_type": "SELL", "disclosed_quantity": 0, "trigger_price": 790, "is_amo": false});
    let id = place(&f, &t, sl).await;
    assert_eq!(details(&f, &t, &id).await["status"], "trigger pending");
    let to_limit = json!({"order_id": id, "validity": "DAY", "price": 789, "order_type": "LIMIT", "trigger_price": 0});
    assert_eq!(failure(&send(&f, "PUT", MODIFY, &t, to_limit).await).1, "UDAPI100036", "a stop stays a stop");
    let lower = json!({"order_id": id, "validity": "DAY", "price": 0, "order_type": "SL-M", "trigger_price": 785});
    data(&send(&f, "PUT", MODIFY, &t, lower).await);
    let o = details(&f, &t, &id).await;
    assert_eq!((o["status"].as_str(), o["trigger_price"].as_f64()), (Some("trigger pending"), Some(785.0)));
    f.trigger(&id).expect("trigger");
    let o = details(&f, &t, &id).await;
    assert_eq!(
        (o["status"].as_str(), o["average_price"].as_f64()),
        (Some("complete"), Some(800.0)),
        "an SL-M fills at market"
    );

    let mut amo = limit("BUY", 2, 780.0);
    amo["is_amo"] = json!(true);
    let id = place(&f, &t, amo).await;
    let o = details(&f, &t, &id).await;
    assert_eq!((o["status"].as_str(), o["is_amo"].as_bool()), (Some("after market order req received"), Some(true)));
    let a = call(&f.hft_root(), "DELETE", &format!("{CANCEL}?order_id={id}"), &headers(Some(&t)), Body::None).await;
    data(&a);
    assert_eq!(details(&f, &t, &id).await["status"], "cancelled after market order");

    // An IOC limit that does not cross is cancelled at once.
    let mut ioc = limit("BUY", 2, 700.0);
    ioc["validity"] = json!("IOC");
    let id = place(&f, &t, ioc).await;
    assert_eq!(details(&f, &t, &id).await["status"], "cancelled");
}

#[tokio::test]
async fn slicing_splits_an_order_above_the_freeze_quantity() {
    let f = fake().await;
    let t = login(&f).await.access_token;
    f.set_funds(USER, 1_000_000.0, 0.0);
    assert!(f.set_freeze_quantity(SBIN, 40));
    let mut big = limit("BUY", 100, 700.0);
    let d = data(&send(&f, "POST", PLACE, &t, big.clone()).await);
    assert_eq!(d["order_ids"].as_array().map(Vec::len), Some(1), "slice is off");
    big["slice"] = json!(true);
    let d = data(&send(&f, "POST", PLACE, &t, big.clone()).await);
    let ids: Vec<&str> = d["order_ids"].as_array().expect("ids").iter().filter_map(Value::as_str).collect();
    assert_eq!(ids.len(), 3);
    let mut quantities = Vec::new();
    for id in ids {
        quantities.push(details(&f, &t, id).await["quantity"].as_i64().unwrap_or_default());
    }
    assert_eq!(quantities, [40, 40, 20]);
    big["quantity"] = json!(40 * 25 + 1);
    assert_eq!(failure(&send(&f, "POST", PLACE, &t, big).await).1, "UDAPI100036", "more than 25 slices");
}

// ---------------------------------------------------------------------------------------
// Market data

#[tokio::test]
async fn quotes_are_keyed_by_symbol_with_the_instrument_key_inside() {
    let f = fake().await;
    let t = login(&f).await.access_token;
    let keys = |ks: &[&str]| serde_urlencoded::to_string([("instrument_key", ks.join(","))]).expect("query");
    let ltp = data(&get(&f, &format!("/v3/market-quote/ltp?{}", keys(&[SBIN, NIFTY, "NSE_EQ|UNKNOWN"])), &t).await);
    assert_eq!(ltp.as_object().map(|o| o.len()), Some(2), "unknown keys are left out: {ltp}");
    assert_eq!(ltp["NSE_EQ:SBIN"]["instrument_token"], SBIN);
    assert_eq!(ltp["NSE_INDEX:Nifty 50"]["last_price"].as_f64(), Some(24_000.0));
    assert_eq!(ltp["NSE_EQ:SBIN"]["cp"].as_f64(), Some(800.0));
    let v2 = data(&get(&f, &format!("/v2/market-quote/ltp?{}", keys(&[SBIN])), &t).await);
    assert!(v2["NSE_EQ:SBIN"].get("cp").is_none(), "v2 has no cp: {v2}");
    // The SDK's deprecated `symbol=` works too.
    let sym = serde_urlencoded::to_string([("symbol", SBIN)]).expect("q");
    let full = data(&get(&f, &format!("/v2/market-quote/quotes?{sym}"), &t).await);
    let q = &full["NSE_EQ:SBIN"];
    assert_eq!((q["symbol"].as_str(), q["depth"]["buy"].as_array().map(Vec::len)), (Some("SBIN"), Some(5)));
    assert_eq!(q["depth"]["sell"][0]["price"].as_f64(), Some(800.05));

    assert_eq!(failure(&get(&f, "/v3/market-quote/ltp", &t).await).1, "UDAPI1009");
    assert_eq!(failure(&get(&f, &format!("/v3/market-quote/ltp?{}", keys(&["SBIN"])), &t).await).1, "UDAPI1011");
    let many: Vec<String> = (0..501).map(|i| format!("NSE_EQ|X{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(failure(&get(&f, &format!("/v3/market-quote/ltp?{}", keys(&many)), &t).await).1, "UDAPI100043");
}

#[tokio::test]
async fn candles_come_from_the_path_newest_first_between_the_dates() {
    let f = fake().await;
    let t = login(&f).await.access_token;
    let c = |day: &str, close: f64| (format!("{day}T09:15:00+05:30"), [800.0, 801.0, 799.0, close], 1200, 0);
    f.set_candles(SBIN, "days/1", vec![c("2026-01-05", 803.0), c("2026-01-02", 802.0), c("2025-12-31", 801.0)]);
    let key = "NSE_EQ%7CINE062A01020";
    let d = data(&get(&f, &format!("/v3/historical-candle/{key}/days/1/2026-01-04/2026-01-01"), &t).await);
    assert_eq!(d["candles"], json!([["2026-01-02T09:15:00+05:30", 800.0, 801.0, 799.0, 802.0, 1200, 0]]));
    let path = format!("/v3/historical-candle/{key}/days/1/2026-01-05");
    let d = data(&call(&f.root(), "GET", &path, &headers(None), Body::None).await);
    assert_eq!(d["candles"].as_array().map(Vec::len), Some(3), "public, and no from date: everything up to `to`");
    for bad in [
        "minutes/301/2026-01-05/2026-01-01",
        "days/1/2026-1-5/2026-01-01",
        "days/1/2026-01-01/2026-01-05",
        "years/1/2026-01-05",
    ] {
        assert_eq!(
            failure(&get(&f, &format!("/v3/historical-candle/{key}/{bad}"), &t).await).1,
            "UDAPI100036",
            "{bad}"
        );
    }
    let unknown = "/v3/historical-candle/NSE_EQ%7CNOPE/days/1/2026-01-05";
    assert_eq!(failure(&get(&f, unknown, &t).await).1, "UDAPI1087");
    let v2 = data(&get(&f, &format!("/v2/historical-candle/{key}/day/2026-01-05/2026-01-01"), &t).await);
    assert_eq!(v2["candles"], json!([]), "v2 intervals are stored apart");
}

// ---------------------------------------------------------------------------------------
// Failures, limits, garbled answers

#[tokio::test]
async fn rate_limits_count_per_user_and_endpoint_under_the_manual_clock() {
    let f = fake().await;
    let t = login(&f).await.access_token;
    f.use_manual_clock();
    f.set_rate_limit(RateClass::Standard, Some(RateLimit::per_second(2)));
    data(&get(&f, BOOK, &t).await);
    data(&get(&f, BOOK, &t).await);
    assert_eq!(failure(&get(&f, BOOK, &t).await), (429, "UDAPI10005".to_string()));
    data(&get(&f, TRADES, &t).await);
    f.advance_clock(Duration::from_secs(1));
    data(&get(&f, BOOK, &t).await);
    f.set_rate_limit(RateClass::Standard, None);
    f.use_documented_rate_limits();
    assert_eq!(RateLimit::documented(RateClass::Orders).per_second, Some(10));
    for _ in 0..10 {
        data(&send(&f, "POST", PLACE, &t, limit("BUY", 1, 700.0)).await);
    }
    assert_eq!(failure(&send(&f, "POST", PLACE, &t, limit("BUY", 1, 700.0)).await).0, 429);
    f.advance_clock(Duration::from_secs(1));
    data(&send(&f, "POST", PLACE, &t, limit("BUY", 1, 700.0)).await);
}

#[tokio::test]
async fn scripted_failures_and_garbled_answers() {
    let f = fake().await;
    let t = login(&f).await.access_token;
    f.fail_next(Some("POST"), PLACE, Failure::error(500, "UDAPI100500", "Something went wrong... please contact us"));
    assert_eq!(failure(&send(&f, "POST", PLACE, &t, limit("BUY", 1, 700.0)).await), (500, "UDAPI100500".to_string()));
    data(&send(&f, "POST", PLACE, &t, limit("BUY", 1, 700.0)).await);
    f.fail_next(None, "/v2/order", Failure::RateLimited);
    assert_eq!(failure(&get(&f, BOOK, &t).await), (429, "UDAPI10005".to_string()));
    f.fail_next(None, BOOK, Failure::raw(502, "text/html", "<html>502 Bad Gateway</html>"));
    let a = get(&f, BOOK, &t).await;
    assert_eq!((a.status, a.text.as_str()), (502, "<html>502 Bad Gateway</html>"));

    f.set_malformed(Some(Malformed::NotJson));
    let a = get(&f, BOOK, &t).await;
    assert!(a.status == 200 && a.text.starts_with("<html>"));
    assert_eq!(failure(&get(&f, "/v2/order/details?order_id=1", &t).await).1, "UDAPI100010", "errors stay errors");
    f.set_malformed(Some(Malformed::Truncated));
    assert!(serde_json::from_str::<Value>(&get(&f, BOOK, &t).await.text).is_err());
    f.set_malformed(Some(Malformed::WrongShape));
    assert_eq!(get(&f, BOOK, &t).await.json()["data"], "unexpected");
    f.set_malformed(Some(Malformed::MissingData));
    assert!(get(&f, BOOK, &t).await.json().get("data").is_none());
    f.set_malformed(Some(Malformed::Empty));
    assert_eq!(get(&f, BOOK, &t).await.text, "");
    f.set_malformed(None);
    data(&get(&f, BOOK, &t).await);
}

#[test]
fn a_background_fake_serves_plain_tests() {
    let f = FakeUpstox::start_in_background().expect("fake starts");
    setup(&f);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let t = login(&f).await;
        data(&get(&f, PROFILE, &t.access_token).await);
    });
    assert_eq!(f.logins(), 1);
}

// ---------------------------------------------------------------------------------------
// Sockets

type Ws = WebSocketStream<TcpStream>;

async fn ws_connect(url: &str) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let req = url.into_client_request()?;
    let host = url.trim_start_matches("ws://").split('/').next().expect("host").to_string();
    let tcp = TcpStream::connect(host).await.expect("tcp connects");
    Ok(tokio_tungstenite::client_async(req, tcp).await?.0)
}

async fn next(ws: &mut Ws) -> Message {
    tokio::time::timeout(Duration::from_secs(20), ws.next())
        .await
        .expect("a message comes")
        .expect("the stream is open")
        .expect("a message, not an error")
}

async fn next_feed(ws: &mut Ws) -> proto::FeedResponse {
    match next(ws).await {
        Message::Binary(b) => decode(&b).expect("a FeedResponse"),
        other => panic!("expected a binary frame, got {other:?}"),
    }
}

async fn authorized(f: &FakeUpstox, path: &str, token: &str) -> String {
    data(&get(f, path, token).await)["authorized_redirect_uri"].as_str().expect("uri").to_string()
}

fn request(method: &str, mode: Option<&str>, keys: &[&str]) -> Message {
    let mut data = json!({"instrumentKeys": keys});
    if let Some(m) = mode {
        data["mode"] = json!(m);
    }
    Message::Binary(json!({"guid": "g-1", "method": method, "data": data}).to_string().into_bytes().into())
}

#[tokio::test]
async fn feed_urls_are_one_time_and_the_documented_path_redirects() {
    let f = fake().await;
    let t = login(&f).await.access_token;
    let url = authorized(&f, "/v3/feed/market-data-feed/authorize", &t).await;
    assert!(url.starts_with(&format!("{}/market-data-feeder/v3/", f.ws_root())), "{url}");
    let a = get(&f, "/v3/feed/market-data-feed/authorize", &t).await;
    assert_eq!(a.json()["data"]["authorizedRedirectUri"], a.json()["data"]["authorized_redirect_uri"]);
    drop(ws_connect(&url).await.expect("accepted"));
    match ws_connect(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 403),
        other => panic!("a spent URL is refused: {:?}", other.map(|_| ())),
    }
    let redirect = get(&f, "/v3/feed/market-data-feed", &t).await;
    assert_eq!(redirect.status, 302);
    let location = redirect.location.expect("Location");
    drop(ws_connect(&location).await.expect("the 302's URL works"));
    assert_eq!(failure(&get(&f, "/v3/feed/market-data-feed", "bogus").await).1, "UDAPI100050");
    let h = f.feed_handshakes();
    assert_eq!((h.accepted, h.refused), (2, 1));
}

#[tokio::test]
async fn the_feed_sends_market_info_then_snapshots_then_live_feeds() {
    let f = fake().await;
    let t = login(&f).await.access_token;
    f.feed_set_segment_status("NSE_FO", proto::MarketStatus::PreOpenStart);
    let mut ws = ws_connect(&authorized(&f, "/v3/feed/market-data-feed/authorize", &t).await).await.expect("ws");

    let info = next_feed(&mut ws).await;
    assert_eq!(info.r#type, proto::Type::MarketInfo as i32);
    let segments = info.market_info.expect("market info").segment_status;
    assert_eq!(segments.get("NSE_EQ"), Some(&(proto::MarketStatus::NormalOpen as i32)));
    assert_eq!(segments.get("NSE_FO"), Some(&(proto::MarketStatus::PreOpenStart as i32)));

    ws.send(request("sub", Some("full"), &[SBIN, NIFTY])).await.expect("sent");
    let snap = next_feed(&mut ws).await;
    assert_eq!(snap.r#type, proto::Type::InitialFeed as i32);
    let sbin = snap.feeds.get(SBIN).expect("SBIN");
    assert_eq!(sbin.request_mode, proto::RequestMode::FullD5 as i32);
    let Some(proto::feed::FeedUnion::FullFeed(full)) = &sbin.feed_union else { panic!("{sbin:?}") };
    let Some(proto::full_feed::FullFeedUnion::MarketFf(m)) = &full.full_feed_union else { panic!("{full:?}") };
    assert_eq!(m.ltpc.as_ref().map(|l| l.ltp), Some(800.0));
    assert_eq!(m.market_level.as_ref().map(|l| l.bid_ask_quote.len()), Some(5));
    let nifty = snap.feeds.get(NIFTY).expect("NIFTY");
    let Some(proto::feed::FeedUnion::FullFeed(full)) = &nifty.feed_union else { panic!("{nifty:?}") };
    assert!(matches!(full.full_feed_union, Some(proto::full_feed::FullFeedUnion::IndexFf(_))), "an index");

    // A tick reaches the subscribed connection in its mode.
    assert_eq!(f.feed_tick(SBIN, 801.5), 1);
    let live = next_feed(&mut ws).await;
    assert_eq!(live.r#type, proto::Type::LiveFeed as i32);
    assert!(live.current_ts > info.current_ts);

    ws.send(request("change_mode", Some("ltpc"), &[SBIN])).await.expect("sent");
    let snap = next_feed(&mut ws).await;
    let Some(proto::feed::FeedUnion::Ltpc(l)) = &snap.feeds.get(SBIN).expect("SBIN").feed_union else { panic!() };
    assert_eq!((l.ltp, l.cp, l.ltq), (801.5, 800.0, 1));
    ws.send(request("unsub", None, &[NIFTY])).await.expect("sent");
    // Text frames and unreadable requests are recorded and ignored.
    ws.send(Message::Text(r#"{"method":"sub"}"#.into())).await.expect("sent");
    ws.send(request("subscribe", Some("ltpc"), &[SBIN])).await.expect("sent");
    // A ping is answered with a pong, which also shows the frames before it were handled.
    ws.send(Message::Ping(b"hb".to_vec().into())).await.expect("sent");
    assert_eq!(next(&mut ws).await, Message::Pong(b"hb".to_vec().into()));
    assert_eq!(
        f.feed_subscriptions().into_iter().collect::<Vec<_>>(),
        [Subscription { instrument_key: SBIN.into(), mode: "ltpc".into() }]
    );
    let recorded = f.feed_requests();
    let methods: Vec<Option<&str>> = recorded.iter().map(|r| r.method.as_deref()).collect();
    assert_eq!(methods, [Some("sub"), Some("change_mode"), Some("unsub"), None, None]);
    assert!(recorded[0].binary && !recorded[3].binary);
    assert_eq!(recorded[0].instrument_keys, [SBIN, NIFTY]);
    assert!(recorded[4].error.as_deref().is_some_and(|e| e.contains("subscribe")), "{:?}", recorded[4]);

    // Pushed messages, bytes, pings; then the connection is dropped.
    let pushed = proto::FeedResponse { r#type: proto::Type::LiveFeed as i32, current_ts: 42, ..Default::default() };
    assert_eq!(f.feed_push(&pushed), 1);
    assert_eq!(next_feed(&mut ws).await, pushed);
    f.feed_push_raw(vec![0xff, 0x01]);
    assert_eq!(next(&mut ws).await, Message::Binary(vec![0xffu8, 0x01].into()));
    f.feed_ping(b"idle");
    assert_eq!(next(&mut ws).await, Message::Ping(b"idle".to_vec().into()));
    assert_eq!(f.feed_handshakes().open, 1);
    assert_eq!(f.feed_drop_connections(), 1);
    let end = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("ends");
    assert!(matches!(end, None | Some(Err(_)) | Some(Ok(Message::Pong(_)))), "{end:?}");
}

#[tokio::test]
async fn a_sub_defaults_to_ltpc_and_respects_the_limit() {
    let f = fake().await;
    let t = login(&f).await.access_token;
    let mut ws = ws_connect(&authorized(&f, "/v3/feed/market-data-feed/authorize", &t).await).await.expect("ws");
    next_feed(&mut ws).await;
    ws.send(request("sub", None, &[INFY])).await.expect("sent");
    let snap = next_feed(&mut ws).await;
    assert!(matches!(snap.feeds.get(INFY).and_then(|f| f.feed_union.as_ref()), Some(proto::feed::FeedUnion::Ltpc(_))));
    f.feed_set_subscription_limit(2);
    ws.send(request("sub", Some("option_greeks"), &[SBIN, NIFTY])).await.expect("sent");
    ws.send(Message::Ping(b"x".to_vec().into())).await.expect("sent");
    assert_eq!(next(&mut ws).await, Message::Pong(b"x".to_vec().into()), "no snapshot for a refused sub");
    assert_eq!(f.feed_subscriptions().len(), 1);
    assert!(f.feed_requests()[1].error.is_some());
}

#[tokio::test]
async fn the_portfolio_stream_sends_the_users_order_updates() {
    let f = fake().await;
    let t = login(&f).await.access_token;
    let url = data(&get(&f, "/v2/feed/portfolio-stream-feed/authorize?update_types=order%2Cposition", &t).await)
        ["authorized_redirect_uri"]
        .as_str()
        .expect("uri")
        .to_string();
    assert!(url.starts_with(&format!("{}/portfolio-stream-feeder/", f.ws_root())), "{url}");
    let mut ws = ws_connect(&url).await.expect("ws");
    assert!(ws_connect(&url).await.is_err(), "one-time");

    // Another user's orders are not this connection's business.
    f.add_user(FakeUpstoxUser::new("ZZ9999", "other-key", "other-secret", REDIRECT));
    let other = f.issue_session("other-key").expect("session").access_token;
    place(&f, &other, limit("BUY", 1, 790.0)).await;

    let id = place(&f, &t, market("BUY", 3)).await;
    let mut seen = Vec::new();
    for _ in 0..5 {
        let Message::Text(text) = next(&mut ws).await else { panic!("text") };
        let u: Value = serde_json::from_str(text.as_str()).expect("json");
        assert_eq!((u["update_type"].as_str(), u["order_id"].as_str()), (Some("order"), Some(id.as_str())));
        assert_eq!((u["user_id"].as_str(), u["instrument_key"].as_str()), (Some(USER), Some(SBIN)));
        seen.push(u["status"].as_str().unwrap_or("?").to_string());
    }
    assert_eq!(seen, ["put order req received", "validation pending", "open pending", "open", "complete"]);
    f.portfolio_push_text("custom");
    assert_eq!(next(&mut ws).await, Message::Text("custom".into()));
    assert_eq!(f.portfolio_handshakes().open, 1);

    // The documented path redirects to a one-time URL too.
    let r = call(&f.root(), "GET", "/v2/feed/portfolio-stream-feed?update_types=order", &headers(Some(&t)), Body::None)
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(f.portfolio_drop_connections(), 1);
    let end = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("ends");
    assert!(matches!(end, None | Some(Err(_))), "{end:?}");
}

// ---------------------------------------------------------------------------------------
// The official client as an oracle (dev-time only)

/// upstox-python-sdk 2.30.0 drives the fake through scripts/upstox_fake_check.py: the token
/// exchange (`LoginApi.token`), profile and funds (`UserApi`), orders (`OrderApiV3` place,
/// modify, cancel; `OrderApi` book, details, history, trades), positions and holdings
/// (`PortfolioApi`), LTP (`MarketQuoteV3Api`), candles (`HistoryV3Api`), the error envelope
/// as `ApiException`, logout. Not run by CI (it needs the Python package); run it with
/// `UPSTOX_PYTHON=/tmp/venv-upstox/bin/python cargo test -p dalal-brokers --features fake
/// --test upstox_fake -- --ignored upstox_python` (the script's doc says how to install).
#[test]
#[ignore = "needs upstox-python-sdk 2.30.0: set UPSTOX_PYTHON"]
fn upstox_python_sdk_drives_the_fake() {
    let python = std::env::var("UPSTOX_PYTHON").unwrap_or_else(|_| "python3".into());
    let f = FakeUpstox::start_in_background().expect("fake starts");
    setup(&f);
    f.set_candles(SBIN, "minutes/1", vec![("2026-01-05T09:15:00+05:30".into(), [800.0, 801.0, 799.0, 800.5], 1200, 0)]);
    let code = f.issue_auth_code(API_KEY).expect("code");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/upstox_fake_check.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args(["--root", &f.root(), "--hft-root", &f.hft_root(), "--api-key", API_KEY, "--secret", SECRET])
        .args(["--redirect-uri", REDIRECT, "--code", &code, "--user", USER])
        .output()
        .expect("python runs");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the official client disagrees with the fake");
    assert_eq!(f.logins(), 1);
    assert!(f.requests().iter().all(|r| r.host == Host::Api || r.path.contains("/order/")));
}
