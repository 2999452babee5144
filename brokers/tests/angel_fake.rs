//! The fake Angel One SmartAPI server, driven as a client would with raw HTTP (reqwest) and
//! WebSockets (tokio-tungstenite): the login with MPIN and TOTP, the headers and tokens every
//! call needs, an order's life through Angel's statuses, the books' shapes, rate limits under
//! the manual clock, garbled answers, SmartStream and the order-update socket.
//!
//! No test depends on wall-clock timing: the TOTP clock is pinned, rate-limit windows move by
//! hand, and socket reads wait for messages (with a generous timeout only so a broken fake
//! fails instead of hanging).

use std::time::Duration;

use dalal_brokers::fake::angel::packets::{
    encode, BestFive, Depth20, Depth20Level, QuoteFields, SnapFields, TickHeader,
};
use dalal_brokers::fake::angel::{
    Failure, FakeAngel, FakeAngelUser, Malformed, RateClass, RateLimit, SessionTokens, StreamPacket, Subscription,
};
use dalal_brokers::{totp, Secret};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const API_KEY: &str = "angelkey7Qx2";
const CLIENT: &str = "A123456";
const MPIN: &str = "4321";
/// Base32 of "12345678901234567890" (RFC 6238's key).
const SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
/// The instant the fake's TOTP check is pinned to.
const T0: u64 = 1_700_000_000;

const LOGIN: &str = "/rest/auth/angelbroking/user/v1/loginByPassword";
const REFRESH: &str = "/rest/auth/angelbroking/jwt/v1/generateTokens";
const PROFILE: &str = "/rest/secure/angelbroking/user/v1/getProfile";
const LOGOUT: &str = "/rest/secure/angelbroking/user/v1/logout";
const RMS: &str = "/rest/secure/angelbroking/user/v1/getRMS";
const PLACE: &str = "/rest/secure/angelbroking/order/v1/placeOrder";
const MODIFY: &str = "/rest/secure/angelbroking/order/v1/modifyOrder";
const CANCEL: &str = "/rest/secure/angelbroking/order/v1/cancelOrder";
const ORDER_BOOK: &str = "/rest/secure/angelbroking/order/v1/getOrderBook";
const DETAILS: &str = "/rest/secure/angelbroking/order/v1/details/";
const TRADE_BOOK: &str = "/rest/secure/angelbroking/order/v1/getTradeBook";
const POSITIONS: &str = "/rest/secure/angelbroking/order/v1/getPosition";
const HOLDING: &str = "/rest/secure/angelbroking/portfolio/v1/getHolding";
const ALL_HOLDING: &str = "/rest/secure/angelbroking/portfolio/v1/getAllHolding";
const LTP: &str = "/rest/secure/angelbroking/order/v1/getLtpData";
const QUOTE: &str = "/rest/secure/angelbroking/market/v1/quote";
const CANDLES: &str = "/rest/secure/angelbroking/historical/v1/getCandleData";

/// A fake with one user, two instruments and a holding, its TOTP clock at [`T0`].
async fn fake() -> FakeAngel {
    let f = FakeAngel::start().await.expect("fake angel starts");
    setup(&f);
    f
}

fn setup(f: &FakeAngel) {
    f.add_user(FakeAngelUser::new(CLIENT, MPIN, SEED, API_KEY));
    f.set_instrument("NSE", "SBIN-EQ", "3045", 800.0);
    f.set_instrument("NSE", "INFY-EQ", "1594", 1500.0);
    f.add_holding(CLIENT, "NSE", "INFY-EQ", 5, 1400.0);
    f.set_totp_time(Some(T0));
}

fn totp_at(t: u64) -> String {
    totp::code_at(&Secret::new(SEED), t).expect("code").expose().to_string()
}

/// The headers smartapi-python sends, and the JWT if any.
fn headers(jwt: Option<&str>) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("Content-Type", "application/json".to_string()),
        ("Accept", "application/json".to_string()),
        ("X-UserType", "USER".to_string()),
        ("X-SourceID", "WEB".to_string()),
        ("X-ClientLocalIP", "127.0.0.1".to_string()),
        ("X-ClientPublicIP", "106.193.147.98".to_string()),
        ("X-MACAddress", "02:00:00:00:00:01".to_string()),
        ("X-PrivateKey", API_KEY.to_string()),
    ];
    if let Some(jwt) = jwt {
        h.push(("Authorization", format!("Bearer {jwt}")));
    }
    h
}

struct Answer {
    status: u16,
    content_type: String,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

async fn call(f: &FakeAngel, method: &str, path: &str, hs: &[(&str, String)], body: Option<String>) -> Answer {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", f.root());
    let mut req = if method == "GET" { client.get(url) } else { client.post(url) };
    for (k, v) in hs {
        req = req.header(*k, v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let text = resp.text().await.expect("body");
    Answer { status, content_type, text }
}

async fn post(f: &FakeAngel, path: &str, jwt: Option<&str>, body: Value) -> Answer {
    call(f, "POST", path, &headers(jwt), Some(body.to_string())).await
}

async fn get(f: &FakeAngel, path: &str, jwt: Option<&str>) -> Answer {
    call(f, "GET", path, &headers(jwt), None).await
}

/// The `data` of a successful envelope.
fn data(a: &Answer) -> Value {
    let v = a.json();
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(v["status"], json!(true), "{}", a.text);
    assert_eq!(v["message"], "SUCCESS");
    assert_eq!(v["errorcode"], "");
    v["data"].clone()
}

/// The code of a business failure (HTTP 200, `status:false`).
fn business_code(a: &Answer) -> String {
    let v = a.json();
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(v["status"], json!(false), "{}", a.text);
    v["errorcode"].as_str().expect("errorcode").to_string()
}

/// The code of a gateway failure (`success:false`, `errorCode`).
fn gateway_code(a: &Answer, status: u16) -> String {
    let v = a.json();
    assert_eq!(a.status, status, "{}", a.text);
    assert_eq!(v["success"], json!(false), "{}", a.text);
    assert_eq!(v["data"], "");
    v["errorCode"].as_str().expect("errorCode").to_string()
}

async fn login(f: &FakeAngel) -> SessionTokens {
    let body = json!({"clientcode": CLIENT, "password": MPIN, "totp": totp_at(T0)});
    let d = data(&post(f, LOGIN, None, body).await);
    SessionTokens {
        jwt_token: d["jwtToken"].as_str().expect("jwt").into(),
        refresh_token: d["refreshToken"].as_str().expect("refresh").into(),
        feed_token: d["feedToken"].as_str().expect("feed").into(),
    }
}

fn limit_buy(qty: &str, price: &str) -> Value {
    json!({
        "variety": "NORMAL", "tradingsymbol": "SBIN-EQ", "symboltoken": "3045", "transactiontype": "BUY",
        "exchange": "NSE", "ordertype": "LIMIT", "producttype": "INTRADAY", "duration": "DAY",
        "price": price, "squareoff": "0", "stoploss": "0", "quantity": qty, "ordertag": "dalal-1",
    })
}

fn market(side: &str, qty: u32) -> Value {
    // Numbers as JSON numbers this time: Angel takes both.
    json!({
        "variety": "NORMAL", "tradingsymbol": "SBIN-EQ", "symboltoken": "3045", "transactiontype": side,
        "exchange": "NSE", "ordertype": "MARKET", "producttype": "DELIVERY", "duration": "DAY",
        "price": 0, "quantity": qty,
    })
}

async fn place(f: &FakeAngel, jwt: &str, body: Value) -> (String, String) {
    let d = data(&post(f, PLACE, Some(jwt), body).await);
    (d["orderid"].as_str().expect("orderid").into(), d["uniqueorderid"].as_str().expect("unique").into())
}

async fn book_order(f: &FakeAngel, jwt: &str, orderid: &str) -> Value {
    let book = data(&get(f, ORDER_BOOK, Some(jwt)).await);
    book.as_array().expect("list").iter().find(|o| o["orderid"] == orderid).cloned().expect("order in the book")
}

// ---------------------------------------------------------------------------------------
// Login and sessions

#[tokio::test]
async fn login_checks_client_code_mpin_and_totp() {
    let f = fake().await;
    let bad_totp = json!({"clientcode": CLIENT, "password": MPIN, "totp": totp_at(T0 + 3600)});
    assert_eq!(business_code(&post(&f, LOGIN, None, bad_totp).await), "AB1050");
    let bad_mpin = json!({"clientcode": CLIENT, "password": "0000", "totp": totp_at(T0)});
    assert_eq!(business_code(&post(&f, LOGIN, None, bad_mpin).await), "AB1000");
    let stranger = json!({"clientcode": "Z999", "password": MPIN, "totp": totp_at(T0)});
    assert_eq!(business_code(&post(&f, LOGIN, None, stranger).await), "AB1007");
    assert_eq!(f.logins(), 0);

    // The code of the step before is still accepted (one step of skew), and `state` echoes.
    let good = json!({"clientcode": CLIENT, "password": MPIN, "totp": totp_at(T0 - 30), "state": "s-42"});
    let d = data(&post(&f, LOGIN, None, good).await);
    assert_eq!(d["state"], "s-42");
    for k in ["jwtToken", "refreshToken", "feedToken"] {
        assert!(d[k].as_str().is_some_and(|t| t.starts_with("eyJ") && t.len() > 60), "{k}: {d}");
    }
    assert_ne!(d["jwtToken"], d["refreshToken"]);
    assert_eq!(f.logins(), 1);
    let jwt = d["jwtToken"].as_str().expect("jwt");
    assert!(f.token_is_live(jwt));

    let profile = data(&get(&f, PROFILE, Some(jwt)).await);
    assert_eq!(profile["clientcode"], CLIENT);
    assert!(profile["exchanges"].as_array().is_some_and(|e| e.contains(&json!("NSE"))));

    // Another login is another session with other tokens.
    let again = login(&f).await;
    assert_ne!(again.jwt_token, jwt);
    assert_eq!(f.logins(), 2);

    // Every request was recorded, headers lowercased and bodies parsed.
    let recorded = f.requests();
    assert_eq!(recorded.len(), 6);
    let first = &recorded[0];
    assert_eq!((first.method.as_str(), first.path.as_str()), ("POST", LOGIN));
    assert_eq!(first.headers.get("x-privatekey").map(String::as_str), Some(API_KEY));
    assert_eq!(first.body.as_ref().and_then(|b| b.get("clientcode")), Some(&json!(CLIENT)));
    assert!(recorded.windows(2).all(|w| w[0].received <= w[1].received));
}

#[tokio::test]
async fn the_totp_clock_is_the_wall_clock_by_default() {
    let f = fake().await;
    f.set_totp_time(None);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
    // Codes of the current step and its neighbours are all accepted, so the boundary between
    // two steps cannot make this flaky.
    let body = json!({"clientcode": CLIENT, "password": MPIN, "totp": totp_at(now)});
    data(&post(&f, LOGIN, None, body).await);
    let stale = json!({"clientcode": CLIENT, "password": MPIN, "totp": totp_at(now - 600)});
    assert_eq!(business_code(&post(&f, LOGIN, None, stale).await), "AB1050");
}

#[tokio::test]
async fn every_call_needs_smartapi_headers() {
    let f = fake().await;
    let t = login(&f).await;
    for missing in
        ["Content-Type", "Accept", "X-UserType", "X-SourceID", "X-ClientLocalIP", "X-ClientPublicIP", "X-MACAddress"]
    {
        let hs: Vec<_> = headers(Some(&t.jwt_token)).into_iter().filter(|(k, _)| *k != missing).collect();
        let a = call(&f, "GET", RMS, &hs, None).await;
        let v = a.json();
        assert!(v["status"] == json!(false) || v["success"] == json!(false), "without {missing}: {}", a.text);
    }
    // The gateway's answers, in its casing.
    let no_key: Vec<_> = headers(Some(&t.jwt_token)).into_iter().filter(|(k, _)| *k != "X-PrivateKey").collect();
    assert_eq!(gateway_code(&call(&f, "GET", RMS, &no_key, None).await, 401), "AG8004");
    let mut wrong_type = headers(Some(&t.jwt_token));
    wrong_type[0].1 = "text/plain".into();
    assert_eq!(gateway_code(&call(&f, "GET", RMS, &wrong_type, None).await, 400), "AB2000");
    let mut wrong_user = headers(Some(&t.jwt_token));
    wrong_user[2].1 = "ADMIN".into();
    assert_eq!(business_code(&call(&f, "GET", RMS, &wrong_user, None).await), "AB1005");
    let mut bad_ip = headers(Some(&t.jwt_token));
    bad_ip[4].1 = "not-an-ip".into();
    assert_eq!(gateway_code(&call(&f, "GET", RMS, &bad_ip, None).await, 400), "AB2000");
    // POST bodies are JSON.
    let a = call(&f, "POST", PLACE, &headers(Some(&t.jwt_token)), Some("variety=NORMAL".into())).await;
    assert_eq!(gateway_code(&a, 400), "AB2000");
    // With every header, the same call works.
    data(&get(&f, RMS, Some(&t.jwt_token)).await);
    // Unknown paths and wrong methods are the HTTP server's.
    assert_eq!(get(&f, "/rest/secure/angelbroking/order/v1/nothing", Some(&t.jwt_token)).await.status, 404);
    assert_eq!(get(&f, PLACE, Some(&t.jwt_token)).await.status, 405);
}

#[tokio::test]
async fn tokens_are_checked_expire_refresh_and_log_out() {
    let f = fake().await;
    let t = login(&f).await;
    assert_eq!(gateway_code(&get(&f, RMS, None).await, 401), "AG8003");
    assert_eq!(gateway_code(&get(&f, RMS, Some("eyJnot.a.token")).await, 401), "AG8001");
    let mut bare = headers(None);
    bare.push(("Authorization", t.jwt_token.clone()));
    assert_eq!(gateway_code(&call(&f, "GET", RMS, &bare, None).await, 401), "AG8001", "REST needs `Bearer `");

    assert!(f.expire_token(&t.jwt_token));
    assert!(!f.token_is_live(&t.jwt_token));
    let a = get(&f, RMS, Some(&t.jwt_token)).await;
    assert_eq!(gateway_code(&a, 401), "AG8002");
    assert!(a.json().get("status").is_none(), "the gateway's casing: {}", a.text);

    // The refresh token renews the session.
    let d = data(&post(&f, REFRESH, Some(&t.jwt_token), json!({"refreshToken": t.refresh_token})).await);
    let jwt = d["jwtToken"].as_str().expect("jwt").to_string();
    assert_eq!(d["refreshToken"], json!(t.refresh_token));
    assert_ne!(d["feedToken"], json!(t.feed_token));
    data(&get(&f, RMS, Some(&jwt)).await);
    assert_eq!(business_code(&post(&f, REFRESH, None, json!({"refreshToken": "nope"})).await), "AB8050");

    // Logging out ends every token of the session.
    assert_eq!(business_code(&post(&f, LOGOUT, Some(&jwt), json!({"clientcode": "B0"})).await), "AB2000");
    assert_eq!(data(&post(&f, LOGOUT, Some(&jwt), json!({"clientcode": CLIENT})).await), json!(""));
    assert_eq!(gateway_code(&get(&f, RMS, Some(&jwt)).await, 401), "AG8001");
    assert_eq!(business_code(&post(&f, REFRESH, None, json!({"refreshToken": t.refresh_token})).await), "AB8050");

    // An expired refresh token is AB8051.
    let other = f.issue_session(CLIENT).expect("session");
    assert!(f.expire_token(&other.refresh_token));
    let a = post(&f, REFRESH, None, json!({"refreshToken": other.refresh_token})).await;
    assert_eq!(business_code(&a), "AB8051");
    assert!(!f.expire_token("never-issued"));
}

// ---------------------------------------------------------------------------------------
// Orders

#[tokio::test]
async fn an_order_lives_through_a_partial_fill_a_modify_and_a_cancel() {
    let f = fake().await;
    let jwt = login(&f).await.jwt_token;
    let placed = data(&post(&f, PLACE, Some(&jwt), limit_buy("10", "799.5")).await);
    assert_eq!(placed["script"], "SBIN-EQ");
    let orderid = placed["orderid"].as_str().expect("orderid").to_string();
    let unique = placed["uniqueorderid"].as_str().expect("unique").to_string();
    assert!(orderid.len() == 15 && orderid.bytes().all(|b| b.is_ascii_digit()), "{orderid}");
    assert_eq!(unique.len(), 36);
    assert_eq!(unique.matches('-').count(), 4);

    let o = book_order(&f, &jwt, &orderid).await;
    assert_eq!((o["status"].as_str(), o["orderstatus"].as_str()), (Some("open"), Some("open")));
    assert_eq!(o["price"], "799.50", "the order book writes numbers as strings");
    assert_eq!(o["quantity"], "10");
    assert_eq!(o["filledshares"], "0");
    assert_eq!(o["unfilledshares"], "10");
    assert_eq!(o["ordertag"], "dalal-1");
    assert_eq!(o["uniqueorderid"], json!(unique));
    assert!(o["updatetime"].as_str().is_some_and(|t| t.starts_with("05-Jan-2026 09:15:")), "{o}");

    f.fill(&orderid, 4, 799.5).expect("partial fill");
    let o = book_order(&f, &jwt, &orderid).await;
    assert_eq!((o["status"].as_str(), o["filledshares"].as_str()), (Some("open"), Some("4")));
    assert_eq!(o["averageprice"], "799.50");
    let trades = data(&get(&f, TRADE_BOOK, Some(&jwt)).await);
    let fill = &trades[0];
    assert_eq!((fill["fillsize"].as_str(), fill["fillprice"].as_str()), (Some("4"), Some("799.50")));
    assert_eq!(fill["orderid"], json!(orderid));
    assert!(fill["fillid"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(fill["filltime"].as_str().is_some_and(|t| t.len() == 8 && t.as_bytes()[2] == b':'), "{fill}");

    let change = json!({"variety": "NORMAL", "orderid": orderid, "ordertype": "LIMIT", "producttype": "INTRADAY",
        "duration": "DAY", "price": 801, "quantity": "8", "tradingsymbol": "SBIN-EQ", "symboltoken": "3045",
        "exchange": "NSE"});
    let d = data(&post(&f, MODIFY, Some(&jwt), change).await);
    assert_eq!((d["orderid"].as_str(), d["uniqueorderid"].as_str()), (Some(orderid.as_str()), Some(unique.as_str())));
    let o = book_order(&f, &jwt, &orderid).await;
    assert_eq!(
        (o["price"].as_str(), o["quantity"].as_str(), o["status"].as_str()),
        (Some("801.00"), Some("8"), Some("open"))
    );

    let d = data(&post(&f, CANCEL, Some(&jwt), json!({"variety": "NORMAL", "orderid": orderid})).await);
    assert_eq!(d["orderid"], json!(orderid));
    let o = book_order(&f, &jwt, &orderid).await;
    assert_eq!((o["status"].as_str(), o["cancelsize"].as_str()), (Some("cancelled"), Some("4")));
    let a = post(&f, CANCEL, Some(&jwt), json!({"variety": "NORMAL", "orderid": orderid})).await;
    assert_eq!(business_code(&a), "AB2000", "a cancelled order cannot be cancelled again");

    // details/{uniqueorderid}: the same order with numeric prices.
    let d = data(&get(&f, &format!("{DETAILS}{unique}"), Some(&jwt)).await);
    assert_eq!((d["price"].as_f64(), d["averageprice"].as_f64()), (Some(801.0), Some(799.5)));
    assert_eq!(d["quantity"], "8", "quantities stay strings");
    assert_eq!(business_code(&get(&f, &format!("{DETAILS}no-such-id"), Some(&jwt)).await), "AB1013");

    let statuses: Vec<String> = f
        .order_events()
        .iter()
        .filter(|e| e["orderData"]["orderid"] == json!(orderid))
        .map(|e| {
            format!(
                "{} {}",
                e["order-status"].as_str().unwrap_or("?"),
                e["orderData"]["status"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            "AB09 open pending",
            "AB01 open",
            "AB01 open",
            "AB11 modify pending",
            "AB04 modified",
            "AB01 open",
            "AB02 cancelled"
        ]
    );
}

#[tokio::test]
async fn market_orders_fill_into_trades_positions_and_funds() {
    let f = fake().await;
    let jwt = login(&f).await.jwt_token;
    let rms = data(&get(&f, RMS, Some(&jwt)).await);
    assert_eq!((rms["net"].as_str(), rms["availablecash"].as_str()), (Some("100000.00"), Some("100000.00")));
    for k in ["utiliseddebits", "collateral", "m2munrealized", "availablelimitmargin"] {
        assert!(rms[k].as_str().is_some_and(|v| v.parse::<f64>().is_ok()), "{k} is a numeric string: {rms}");
    }

    let (buy, _) = place(&f, &jwt, market("BUY", 10)).await;
    assert_eq!(book_order(&f, &jwt, &buy).await["status"], "complete");
    f.set_ltp("NSE", "3045", 810.0);
    let (sell, _) = place(&f, &jwt, market("SELL", 4)).await;
    assert_eq!(book_order(&f, &jwt, &sell).await["averageprice"], "810.00");

    let trades = data(&get(&f, TRADE_BOOK, Some(&jwt)).await);
    assert_eq!(trades.as_array().map(Vec::len), Some(2));
    let positions = data(&get(&f, POSITIONS, Some(&jwt)).await);
    let p = &positions[0];
    assert_eq!(positions.as_array().map(Vec::len), Some(1), "a flat list");
    assert_eq!((p["netqty"].as_str(), p["buyqty"].as_str(), p["sellqty"].as_str()), (Some("6"), Some("10"), Some("4")));
    assert_eq!((p["buyavgprice"].as_str(), p["sellavgprice"].as_str()), (Some("800.00"), Some("810.00")));
    assert_eq!((p["producttype"].as_str(), p["symboltoken"].as_str()), (Some("DELIVERY"), Some("3045")));
    assert_eq!(p["realised"], "40.00");
    assert_eq!(p["pnl"], "100.00");

    let rms = data(&get(&f, RMS, Some(&jwt)).await);
    assert_eq!(rms["utiliseddebits"], "4760.00", "bought 8000, sold 3240");
    assert_eq!(rms["net"], "95240.00");

    let holdings = data(&get(&f, HOLDING, Some(&jwt)).await);
    assert_eq!(holdings[0]["tradingsymbol"], "INFY-EQ");
    assert_eq!((holdings[0]["quantity"].as_i64(), holdings[0]["averageprice"].as_f64()), (Some(5), Some(1400.0)));
    let all = data(&get(&f, ALL_HOLDING, Some(&jwt)).await);
    assert_eq!(all["totalholding"]["totalholdingvalue"].as_f64(), Some(7500.0));
    assert_eq!(all["totalholding"]["totalprofitandloss"].as_f64(), Some(500.0));
}

#[tokio::test]
async fn the_rms_rejects_orders_after_accepting_them() {
    let f = fake().await;
    let jwt = login(&f).await.jwt_token;
    f.reject_next_order("RMS:Rule: Check circuit limit including square off order exceeds");
    let (orderid, _) = place(&f, &jwt, limit_buy("1", "800")).await;
    let o = book_order(&f, &jwt, &orderid).await;
    assert_eq!(o["status"], "rejected");
    assert_eq!(o["text"], "RMS:Rule: Check circuit limit including square off order exceeds");

    // Too little money: accepted, then rejected with the RMS's sentence.
    let (orderid, _) = place(&f, &jwt, limit_buy("1000", "800")).await;
    let o = book_order(&f, &jwt, &orderid).await;
    assert_eq!(o["status"], "rejected");
    assert!(o["text"].as_str().is_some_and(|t| t.contains("Insufficient Funds")), "{o}");
    assert_eq!(f.reject(&orderid, "again"), Err(format!("order {orderid} is already rejected")));
    let events = f.order_events();
    let codes: Vec<&str> = events.iter().filter_map(|e| e["order-status"].as_str()).collect();
    assert_eq!(codes, ["AB03", "AB03"], "a rejected order goes straight to rejected");
}

#[tokio::test]
async fn bad_orders_get_angel_error_codes() {
    let f = fake().await;
    let jwt = login(&f).await.jwt_token;
    let with = |k: &str, v: Value| {
        let mut b = limit_buy("1", "800");
        b[k] = v;
        b
    };
    for (body, code) in [
        (with("variety", json!("BRACKET")), "AB1008"),
        (with("variety", json!("STOPLOSS")), "AB1008"),
        (with("producttype", json!("CNC")), "AB1012"),
        (with("ordertag", json!("x".repeat(20))), "AB4008"),
        (with("symboltoken", json!("9999")), "AB1009"),
        (with("tradingsymbol", json!("SBIN")), "AB1009"),
        (with("quantity", json!("1.5")), "AB2000"),
        (with("price", json!("abc")), "AB2000"),
        (with("duration", json!("GTC")), "AB2000"),
    ] {
        assert_eq!(business_code(&post(&f, PLACE, Some(&jwt), body.clone()).await), code, "{body}");
    }
    data(&post(&f, PLACE, Some(&jwt), with("ordertag", json!("x".repeat(19)))).await);
    let a = post(&f, CANCEL, Some(&jwt), json!({"variety": "NORMAL", "orderid": "260105999999999"})).await;
    assert_eq!(business_code(&a), "AB1013");

    // A stop-loss waits for its trigger, then is open.
    let sl = json!({"variety": "STOPLOSS", "tradingsymbol": "SBIN-EQ", "symboltoken": "3045", "transactiontype": "SELL",
        "exchange": "NSE", "ordertype": "STOPLOSS_LIMIT", "producttype": "INTRADAY", "duration": "DAY",
        "price": "780", "triggerprice": "785", "quantity": "2"});
    let (orderid, _) = place(&f, &jwt, sl).await;
    assert_eq!(book_order(&f, &jwt, &orderid).await["status"], "trigger pending");
    f.trigger(&orderid).expect("triggered");
    assert_eq!(book_order(&f, &jwt, &orderid).await["status"], "open");
    f.fill(&orderid, 2, 780.0).expect("fills");
    assert_eq!(book_order(&f, &jwt, &orderid).await["status"], "complete");
    assert!(f.fill(&orderid, 1, 780.0).is_err());

    // An AMO waits as such and is cancelled as such.
    let (amo, _) = place(&f, &jwt, with("variety", json!("AMO"))).await;
    assert_eq!(book_order(&f, &jwt, &amo).await["status"], "after market order req received");
    data(&post(&f, CANCEL, Some(&jwt), json!({"variety": "AMO", "orderid": amo})).await);
    assert_eq!(book_order(&f, &jwt, &amo).await["status"], "cancelled after market order");
}

#[tokio::test]
async fn empty_books_are_null() {
    let f = fake().await;
    let jwt = login(&f).await.jwt_token;
    for path in [ORDER_BOOK, TRADE_BOOK, POSITIONS] {
        assert_eq!(data(&get(&f, path, Some(&jwt)).await), Value::Null, "{path}");
    }
}

#[tokio::test]
async fn quotes_ltp_and_candles() {
    let f = fake().await;
    let jwt = login(&f).await.jwt_token;
    let body = json!({"exchange": "NSE", "tradingsymbol": "SBIN-EQ", "symboltoken": "3045"});
    let d = data(&post(&f, LTP, Some(&jwt), body).await);
    assert_eq!((d["ltp"].as_f64(), d["symboltoken"].as_str()), (Some(800.0), Some("3045")));
    let unknown = json!({"exchange": "NSE", "tradingsymbol": "X-EQ", "symboltoken": "1"});
    assert_eq!(business_code(&post(&f, LTP, Some(&jwt), unknown).await), "AB1009");

    let q = json!({"mode": "FULL", "exchangeTokens": {"NSE": ["3045", "1594", "42"]}});
    let d = data(&post(&f, QUOTE, Some(&jwt), q).await);
    assert_eq!(d["fetched"].as_array().map(Vec::len), Some(2));
    assert_eq!(d["unfetched"][0]["symbolToken"], "42");
    let full = &d["fetched"][0];
    for k in ["tradingSymbol", "symbolToken", "ltp", "open", "close", "exchTradeTime", "52WeekHigh", "depth"] {
        assert!(full.get(k).is_some(), "{k} in {full}");
    }
    assert_eq!(full["depth"]["buy"].as_array().map(Vec::len), Some(5));
    let q = json!({"mode": "LTP", "exchangeTokens": {"NSE": ["3045"]}});
    let d = data(&post(&f, QUOTE, Some(&jwt), q).await);
    assert!(d["fetched"][0].get("open").is_none(), "LTP mode has no OHLC");
    assert_eq!(business_code(&post(&f, QUOTE, Some(&jwt), json!({"mode": "BIG"})).await), "AB2000");

    f.set_candles(
        "NSE",
        "3045",
        "ONE_MINUTE",
        vec![
            ("2026-01-05T09:15:00+05:30".into(), [800.0, 801.0, 799.0, 800.5], 1200),
            ("2026-01-05T09:16:00+05:30".into(), [800.5, 802.0, 800.0, 801.5], 900),
            ("2026-01-05T09:17:00+05:30".into(), [801.5, 803.0, 801.0, 802.0], 700),
        ],
    );
    let c = json!({"exchange": "NSE", "symboltoken": "3045", "interval": "ONE_MINUTE",
        "fromdate": "2026-01-05 09:16", "todate": "2026-01-05 09:30"});
    let d = data(&post(&f, CANDLES, Some(&jwt), c).await);
    assert_eq!(
        d,
        json!([
            ["2026-01-05T09:16:00+05:30", 800.5, 802.0, 800.0, 801.5, 900],
            ["2026-01-05T09:17:00+05:30", 801.5, 803.0, 801.0, 802.0, 700],
        ])
    );
    let c = json!({"exchange": "NSE", "symboltoken": "3045", "interval": "ONE_WEEK",
        "fromdate": "2026-01-05 09:16", "todate": "2026-01-05 09:30"});
    assert_eq!(business_code(&post(&f, CANDLES, Some(&jwt), c).await), "AB13000");
}

// ---------------------------------------------------------------------------------------
// Rate limits, scripted failures, garbled answers

#[tokio::test]
async fn rate_limits_answer_403_under_the_manual_clock() {
    let f = fake().await;
    let jwt = login(&f).await.jwt_token;
    f.use_manual_clock();
    f.set_rate_limit(RateClass::OrderBook, Some(RateLimit::per_second(1)));
    assert_eq!(get(&f, ORDER_BOOK, Some(&jwt)).await.status, 200);
    let a = get(&f, ORDER_BOOK, Some(&jwt)).await;
    assert_eq!((a.status, a.text.as_str()), (403, "Access denied because of exceeding access rate"));
    assert!(a.content_type.starts_with("text/plain"));
    // Other endpoints have limits of their own.
    data(&get(&f, RMS, Some(&jwt)).await);
    f.advance_clock(Duration::from_millis(999));
    assert_eq!(get(&f, ORDER_BOOK, Some(&jwt)).await.status, 403);
    f.advance_clock(Duration::from_millis(1));
    assert_eq!(get(&f, ORDER_BOOK, Some(&jwt)).await.status, 200);

    // Per-minute windows too.
    f.set_rate_limit(RateClass::LtpData, Some(RateLimit { per_minute: Some(2), ..RateLimit::default() }));
    let body = json!({"exchange": "NSE", "tradingsymbol": "SBIN-EQ", "symboltoken": "3045"});
    for expected in [200, 200, 403] {
        assert_eq!(post(&f, LTP, Some(&jwt), body.clone()).await.status, expected);
        f.advance_clock(Duration::from_secs(5));
    }
    f.advance_clock(Duration::from_secs(60));
    assert_eq!(post(&f, LTP, Some(&jwt), body.clone()).await.status, 200);

    // Angel's documented table: one login a second per client code.
    f.use_documented_rate_limits();
    let login_body = json!({"clientcode": CLIENT, "password": MPIN, "totp": totp_at(T0)});
    assert_eq!(post(&f, LOGIN, None, login_body.clone()).await.status, 200);
    assert_eq!(post(&f, LOGIN, None, login_body.clone()).await.status, 403);
    f.advance_clock(Duration::from_secs(1));
    assert_eq!(post(&f, LOGIN, None, login_body).await.status, 200);
    f.set_rate_limit(RateClass::Login, None);
}

#[tokio::test]
async fn scripted_failures_and_garbled_answers() {
    let f = fake().await;
    let jwt = login(&f).await.jwt_token;
    f.fail_next(Some("GET"), ORDER_BOOK, Failure::business("AB1004", "Something went wrong, please try later"));
    assert_eq!(business_code(&get(&f, ORDER_BOOK, Some(&jwt)).await), "AB1004");
    data(&get(&f, RMS, Some(&jwt)).await);
    f.fail_next(None, "/rest/secure/", Failure::gateway(401, "AG8002", "Token Expired"));
    assert_eq!(gateway_code(&get(&f, RMS, Some(&jwt)).await, 401), "AG8002");
    f.fail_next(None, PLACE, Failure::raw(502, "text/html", "<html>502 Bad Gateway</html>"));
    let a = post(&f, PLACE, Some(&jwt), limit_buy("1", "800")).await;
    assert_eq!((a.status, a.content_type.as_str()), (502, "text/html"));
    f.fail_next(None, PLACE, Failure::RateLimited);
    assert_eq!(post(&f, PLACE, Some(&jwt), limit_buy("1", "800")).await.status, 403);
    assert!(f.order_events().is_empty(), "failed requests placed nothing");

    f.set_malformed(Some(Malformed::NotJson));
    let a = get(&f, RMS, Some(&jwt)).await;
    assert_eq!((a.status, a.content_type.as_str()), (200, "text/html"));
    assert!(a.text.contains("Request Rejected"));
    f.set_malformed(Some(Malformed::Truncated));
    assert!(serde_json::from_str::<Value>(&get(&f, RMS, Some(&jwt)).await.text).is_err());
    f.set_malformed(Some(Malformed::WrongShape));
    assert_eq!(get(&f, RMS, Some(&jwt)).await.json()["data"], "unexpected");
    f.set_malformed(Some(Malformed::MissingData));
    let v = get(&f, RMS, Some(&jwt)).await.json();
    assert!(v["status"] == json!(true) && v.get("data").is_none());
    f.set_malformed(Some(Malformed::Empty));
    assert_eq!(get(&f, RMS, Some(&jwt)).await.text, "");
    // Failures are sent as they are.
    assert_eq!(gateway_code(&get(&f, RMS, None).await, 401), "AG8003");
    f.set_malformed(None);
    data(&get(&f, RMS, Some(&jwt)).await);
}

#[test]
fn the_fake_also_runs_on_a_thread_of_its_own() {
    let f = FakeAngel::start_in_background().expect("fake starts");
    setup(&f);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let t = login(&f).await;
        data(&get(&f, PROFILE, Some(&t.jwt_token)).await);
    });
    assert_eq!(f.logins(), 1);
}

// ---------------------------------------------------------------------------------------
// SmartStream

type Ws = WebSocketStream<TcpStream>;

async fn ws_connect(url: &str, hs: &[(&str, &str)]) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = url.into_client_request()?;
    for (k, v) in hs {
        req.headers_mut().insert(
            HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_str(v).expect("header value"),
        );
    }
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

async fn next_text(ws: &mut Ws) -> String {
    match next(ws).await {
        Message::Text(t) => t.as_str().to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn stream_headers<'a>(t: &'a SessionTokens, auth: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![("Authorization", auth), ("x-api-key", API_KEY), ("x-client-code", CLIENT), ("x-feed-token", &t.feed_token)]
}

/// The HTTP status and `x-error-message` of a refused handshake.
async fn refused(url: &str, hs: &[(&str, &str)]) -> (u16, String) {
    match ws_connect(url, hs).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => (
            resp.status().as_u16(),
            resp.headers().get("x-error-message").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string(),
        ),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("the handshake was accepted"),
    }
}

#[tokio::test]
async fn smartstream_refuses_bad_credentials_with_401() {
    let f = fake().await;
    let t = login(&f).await;
    let url = format!("{}/smart-stream", f.ws_root());
    let bearer = format!("Bearer {}", t.jwt_token);
    let good = stream_headers(&t, &bearer);
    let with = |k: &'static str, v: &'static str| -> Vec<(&str, &str)> {
        good.iter().map(|&(n, x)| if n == k { (n, v) } else { (n, x) }).collect()
    };
    for (hs, message) in [
        (with("Authorization", "Bearer eyJbogus"), "Invalid Header - Invalid Auth token"),
        (with("x-client-code", "Z999"), "Invalid Header - Invalid Client Code"),
        (with("x-api-key", "otherkey"), "Invalid Header - Invalid API Key"),
        (with("x-feed-token", "eyJbogus"), "Invalid Header - Invalid Feed Token"),
    ] {
        assert_eq!(refused(&url, &hs).await, (401, message.to_string()));
    }
    assert_eq!(f.stream_handshakes().refused, 4);
    // With or without `Bearer `.
    drop(ws_connect(&url, &good).await.expect("accepted with Bearer"));
    drop(ws_connect(&url, &stream_headers(&t, &t.jwt_token)).await.expect("accepted without Bearer"));
    // The browser variant: credentials in the query.
    let query = format!("{}/smart-stream?clientCode={CLIENT}&feedToken={}&apiKey={API_KEY}", f.ws_root(), t.feed_token);
    drop(ws_connect(&query, &[]).await.expect("accepted by query"));
    assert_eq!(f.stream_handshakes().accepted, 3);
    // An expired feed token is refused.
    assert!(f.expire_token(&t.feed_token));
    assert_eq!(refused(&url, &good).await, (401, "Invalid Header - Invalid Feed Token".to_string()));
}

#[tokio::test]
async fn smartstream_subscribes_pongs_and_sends_pushed_packets() {
    let f = fake().await;
    let t = login(&f).await;
    let bearer = format!("Bearer {}", t.jwt_token);
    let mut ws = ws_connect(&format!("{}/smart-stream", f.ws_root()), &stream_headers(&t, &bearer)).await.expect("ws");

    let sub = json!({"correlationID": "abc123", "action": 1, "params": {"mode": 3, "tokenList": [
        {"exchangeType": 1, "tokens": ["3045", "1594"]}, {"exchangeType": 2, "tokens": ["43919"]}]}});
    ws.send(Message::Text(sub.to_string().into())).await.expect("sent");
    // Text ping → pong, which also shows the subscribe was handled first.
    ws.send(Message::Text("ping".into())).await.expect("sent");
    assert_eq!(next_text(&mut ws).await, "pong");
    let subs = f.stream_subscriptions();
    assert_eq!(subs.len(), 3);
    assert!(subs.contains(&Subscription { mode: 3, exchange_type: 2, token: "43919".into() }));
    let recorded = f.stream_requests();
    assert_eq!((recorded[0].action, recorded[0].mode), (Some(1), Some(3)));
    assert_eq!(recorded[0].correlation_id.as_deref(), Some("abc123"));
    assert_eq!(recorded[0].tokens[2], (2, "43919".to_string()));

    // An invalid payload: E1001, echoing the correlation id.
    ws.send(Message::Text(r#"{"correlationID":"bad1","action":7}"#.into())).await.expect("sent");
    let e: Value = serde_json::from_str(&next_text(&mut ws).await).expect("json");
    assert_eq!((e["errorCode"].as_str(), e["correlationID"].as_str()), (Some("E1001"), Some("bad1")));
    // Past the limit: E1002, and the subscriptions stay as they were.
    f.stream_set_subscription_limit(4);
    let more = json!({"action": 1, "params": {"mode": 1, "tokenList": [{"exchangeType": 1, "tokens": ["1", "2"]}]}});
    ws.send(Message::Text(more.to_string().into())).await.expect("sent");
    let e: Value = serde_json::from_str(&next_text(&mut ws).await).expect("json");
    assert_eq!(e["errorCode"], "E1002");
    assert_eq!(f.stream_subscriptions().len(), 3);
    let unsub =
        json!({"action": 0, "params": {"mode": 3, "tokenList": [{"exchangeType": 1, "tokens": ["1594", "777"]}]}});
    ws.send(Message::Text(unsub.to_string().into())).await.expect("sent");

    // A control ping is answered by a pong with its payload.
    ws.send(Message::Ping(b"hb".to_vec().into())).await.expect("sent");
    assert_eq!(next(&mut ws).await, Message::Pong(b"hb".to_vec().into()));
    assert_eq!(f.stream_subscriptions().len(), 2, "1594 unsubscribed, 777 ignored");

    // Pushed packets arrive as one binary message each, exactly as encoded.
    let packet = StreamPacket::ltp(1, "3045", 57_215);
    assert_eq!(f.stream_push_packet(&packet), 1);
    assert_eq!(next(&mut ws).await, Message::Binary(encode(&packet).into()));
    f.stream_push_raw(vec![1, 2, 3]);
    assert_eq!(next(&mut ws).await, Message::Binary(vec![1u8, 2, 3].into()));
    f.stream_push_text("hello");
    assert_eq!(next_text(&mut ws).await, "hello");

    // Dropped: the connection ends without a close frame.
    assert_eq!(f.stream_drop_connections(), 1);
    let end = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("ends");
    assert!(matches!(end, None | Some(Err(_))), "{end:?}");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

#[test]
fn packets_match_the_documented_test_vectors() {
    let header = |sequence, exchange_timestamp| TickHeader {
        exchange_type: 1,
        token: "3045".into(),
        sequence,
        exchange_timestamp,
        ltp: 57_215,
    };
    let ltp = encode(&StreamPacket::Ltp(header(12_345, 1_700_000_000_123)));
    assert_eq!(
        ltp,
        hex("01013330343500000000000000000000000000000000000000000039300000000000007b68e5cf8b0100007fdf000000000000")
    );
    let quote_fields = QuoteFields {
        last_traded_quantity: 10,
        average_price: 57_100,
        volume: 123_456,
        total_buy_quantity: 1000.0,
        total_sell_quantity: 2000.0,
        open: 56_900,
        high: 57_500,
        low: 56_800,
        close: 56_750,
    };
    let quote = encode(&StreamPacket::Quote(header(12_346, 1_700_000_000_456), quote_fields.clone()));
    assert_eq!(
        quote,
        hex("0201333034350000000000000000000000000000000000000000003a30000000000000c869e5cf8b0100007fdf00000000\
             00000a000000000000000cdf00000000000040e20100000000000000000000408f400000000000409f4044de000000000000\
             9ce0000000000000e0dd000000000000aedd000000000000")
    );

    let level = |quantity, price, orders| BestFive { quantity, price, orders };
    let snap = SnapFields {
        bids: [level(100, 57_200, 3); 5],
        asks: [level(200, 57_250, 4); 5],
        upper_circuit: 62_000,
        ..SnapFields::default()
    };
    let snap = encode(&StreamPacket::SnapQuote(header(1, 2), quote_fields, Box::new(snap)));
    assert_eq!(snap.len(), 379);
    assert_eq!(snap[0], 3);
    assert_eq!(&snap[147..149], &[1, 0], "bids first, flag 1");
    assert_eq!(i64::from_le_bytes(snap[157..165].try_into().expect("8 bytes")), 57_200);
    assert_eq!(&snap[247..249], &[0, 0], "then asks, flag 0");
    assert_eq!(i64::from_le_bytes(snap[347..355].try_into().expect("8 bytes")), 62_000);

    let depth = encode(&StreamPacket::Depth20(Depth20 {
        token: "3045".into(),
        bids: vec![Depth20Level { quantity: 5, price: 57_200, orders: 1 }],
        ..Depth20::default()
    }));
    assert_eq!(depth.len(), 443);
    assert_eq!((depth[0], depth[1]), (4, 1));
    assert_eq!(i32::from_le_bytes(depth[47..51].try_into().expect("4 bytes")), 57_200);
}

// ---------------------------------------------------------------------------------------
// The order-update socket

#[tokio::test]
async fn order_updates_greet_then_follow_the_users_orders() {
    let f = fake().await;
    let t = login(&f).await;
    let url = format!("{}/smart-order-update", f.order_ws_root());
    assert_eq!(refused(&url, &[("Authorization", "Bearer eyJbogus")]).await.0, 401);
    let bearer = format!("Bearer {}", t.jwt_token);
    let mut ws = ws_connect(&url, &[("Authorization", &bearer)]).await.expect("ws");

    let hello: Value = serde_json::from_str(&next_text(&mut ws).await).expect("json");
    assert_eq!((hello["order-status"].as_str(), hello["user-id"].as_str()), (Some("AB00"), Some(CLIENT)));
    assert_eq!((hello["orderData"]["orderid"].as_str(), hello["orderData"]["price"].as_i64()), (Some(""), Some(0)));

    // Another user's orders are not this connection's business.
    f.add_user(FakeAngelUser::new("B765432", "1111", SEED, "otherkey"));
    let other = f.issue_session("B765432").expect("session");
    let mut other_headers = headers(Some(&other.jwt_token));
    other_headers[7].1 = "otherkey".into();
    let a = call(&f, "POST", PLACE, &other_headers, Some(limit_buy("1", "800").to_string())).await;
    data(&a);

    let (orderid, _) = place(&f, &t.jwt_token, market("BUY", 3)).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let e: Value = serde_json::from_str(&next_text(&mut ws).await).expect("json");
        assert_eq!(e["orderData"]["orderid"], json!(orderid));
        assert_eq!((e["status-code"].as_str(), e["user-id"].as_str()), (Some("200"), Some(CLIENT)));
        seen.push(format!(
            "{} {}",
            e["order-status"].as_str().unwrap_or("?"),
            e["orderData"]["status"].as_str().unwrap_or("?")
        ));
    }
    assert_eq!(seen, ["AB09 open pending", "AB01 open", "AB05 complete"]);

    ws.send(Message::Text("ping".into())).await.expect("sent");
    assert_eq!(next_text(&mut ws).await, "pong");
    assert_eq!(f.order_ws_requests(), ["ping"]);
    f.order_ws_push_text("custom");
    assert_eq!(next_text(&mut ws).await, "custom");
    assert_eq!(f.order_ws_handshakes().open, 1);

    // An expired token: 403.
    f.expire_token(&t.jwt_token);
    assert_eq!(refused(&url, &[("Authorization", &bearer)]).await.0, 403);
    assert_eq!(f.order_ws_drop_connections(), 1);
    let end = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("ends");
    assert!(matches!(end, None | Some(Err(_))), "{end:?}");
}

// ---------------------------------------------------------------------------------------
// The official client as an oracle (dev-time only)

/// smartapi-python 1.5.5 drives the fake through scripts/angel_fake_check.py: login with a
/// pyotp code, orders, books, funds, quotes, candles, logout, and its SmartStream parser on a
/// packet the fake encoded. Not run by CI (it needs the Python package); run it with
/// `ANGEL_PYTHON=/tmp/angel-venv/bin/python cargo test -p dalal-brokers --features fake
/// --test angel_fake -- --ignored smartapi_python` (the script's doc says how to install).
#[test]
#[ignore = "needs smartapi-python 1.5.5: set ANGEL_PYTHON"]
fn smartapi_python_drives_the_fake() {
    let python = std::env::var("ANGEL_PYTHON").unwrap_or_else(|_| "python3".into());
    let f = FakeAngel::start_in_background().expect("fake starts");
    f.add_user(FakeAngelUser::new(CLIENT, MPIN, SEED, API_KEY));
    f.set_instrument("NSE", "SBIN-EQ", "3045", 800.0);
    f.add_holding(CLIENT, "NSE", "INFY-EQ", 5, 1400.0);
    f.set_candles(
        "NSE",
        "3045",
        "ONE_MINUTE",
        vec![("2026-01-05T09:15:00+05:30".into(), [800.0, 801.0, 799.0, 800.5], 1200)],
    );
    // pyotp computes the code from the wall clock, as the fake does by default.
    let header = TickHeader {
        exchange_type: 1,
        token: "3045".into(),
        sequence: 7,
        exchange_timestamp: 1_700_000_000_123,
        ltp: 57_215,
    };
    let quote = QuoteFields {
        last_traded_quantity: 10,
        average_price: 57_100,
        volume: 123_456,
        total_buy_quantity: 1000.0,
        total_sell_quantity: 2000.0,
        open: 56_900,
        high: 57_500,
        low: 56_800,
        close: 56_750,
    };
    let snap = SnapFields {
        last_traded_timestamp: 1_700_000_000,
        open_interest: 42,
        bids: [BestFive { quantity: 100, price: 57_200, orders: 3 }; 5],
        asks: [BestFive { quantity: 200, price: 57_250, orders: 4 }; 5],
        upper_circuit: 62_000,
        lower_circuit: 51_000,
        high_52_week: 70_000,
        low_52_week: 40_000,
        ..SnapFields::default()
    };
    let packet = encode(&StreamPacket::SnapQuote(header, quote, Box::new(snap)));
    let packet_hex: String = packet.iter().map(|b| format!("{b:02x}")).collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/angel_fake_check.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args(["--root", &f.root(), "--client", CLIENT, "--mpin", MPIN, "--seed", SEED, "--api-key", API_KEY])
        .args(["--snapquote-hex", &packet_hex])
        .output()
        .expect("python runs");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the official client disagrees with the fake");
    assert_eq!(f.logins(), 1);
}
