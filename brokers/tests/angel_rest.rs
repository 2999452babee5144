//! The Angel One SmartAPI client against the fake server: an unattended login with the MPIN
//! and a TOTP code, the headers every call carries, an order's life (accepted, partly filled,
//! modified, cancelled; refused by the RMS after acceptance), the books, and every kind of
//! failure mapped onto the shared error kinds, with no secret in any error or `Debug` text.
//!
//! No test depends on timing: TOTP codes are computed for the instant the fake is pinned to
//! (the one test of the wall-clock login relies only on the fake accepting a step either way),
//! and rate-limit windows move by hand.

use std::time::Duration;

use dalal_brokers::angel::model::Tokens;
use dalal_brokers::angel::params::ModifyOrder;
use dalal_brokers::angel::params::{Duration as Validity, OrderType, PlaceOrder, Product, TransactionType, Variety};
use dalal_brokers::angel::{AngelClient, AngelError, Identity};
use dalal_brokers::fake::angel::{Failure, FakeAngel, FakeAngelUser, Malformed, RateClass, RateLimit};
use dalal_brokers::{totp, BrokerErrorKind, OrderState, Secret};

const API_KEY: &str = "angelkey7Qx2";
const CLIENT: &str = "A123456";
const MPIN: &str = "4321";
/// Base32 of RFC 6238's key.
const SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const T0: u64 = 1_700_000_000;

async fn fake() -> FakeAngel {
    let f = FakeAngel::start().await.expect("fake starts");
    f.add_user(FakeAngelUser::new(CLIENT, MPIN, SEED, API_KEY));
    f.set_instrument("NSE", "SBIN-EQ", "3045", 800.0);
    f.set_totp_time(Some(T0));
    f
}

fn client(f: &FakeAngel) -> AngelClient {
    let id =
        Identity { local_ip: "10.0.0.7".into(), public_ip: "106.193.147.98".into(), mac: "02:42:ac:11:00:02".into() };
    AngelClient::new(&f.root(), API_KEY, CLIENT, &id, Duration::from_secs(5)).expect("client")
}

async fn logged_in(f: &FakeAngel) -> (AngelClient, Tokens) {
    let mut c = client(f);
    let code = totp::code_at(&Secret::new(SEED), T0).expect("code");
    let tokens = c.login_with_code(&Secret::new(MPIN), &code).await.expect("login");
    (c, tokens)
}

fn limit_buy(qty: u64, price: f64) -> PlaceOrder {
    PlaceOrder {
        variety: Variety::Normal,
        tradingsymbol: "SBIN-EQ".into(),
        symboltoken: "3045".into(),
        transactiontype: TransactionType::Buy,
        exchange: "NSE".into(),
        ordertype: OrderType::Limit,
        producttype: Product::Intraday,
        duration: Validity::Day,
        price,
        triggerprice: 0.0,
        quantity: qty,
        ordertag: Some("D42".into()),
    }
}

/// Everything an error or a `Debug` shows, checked for the secrets of the session.
fn assert_no_secret(text: &str, tokens: &Tokens) {
    for s in [MPIN, SEED, tokens.jwt.expose(), tokens.refresh.expose(), tokens.feed.expose()] {
        assert!(!text.contains(s), "a secret in {text:?}");
    }
}

#[tokio::test]
async fn logs_in_with_mpin_and_totp_and_sends_smartapi_headers() {
    let f = fake().await;
    let (c, tokens) = logged_in(&f).await;
    assert!(c.has_session() && !tokens.jwt.is_empty() && !tokens.feed.is_empty());
    let profile = c.profile().await.expect("profile");
    assert_eq!(profile.clientcode, CLIENT);
    assert_no_secret(&format!("{c:?} {tokens:?}"), &tokens);
    let reqs = f.requests();
    let login = reqs.iter().find(|r| r.path.ends_with("loginByPassword")).expect("login request");
    assert!(!login.headers.contains_key("authorization"), "a login carries no token");
    let body = login.body.clone().expect("json body");
    assert_eq!((body["clientcode"].as_str(), body["password"].as_str()), (Some(CLIENT), Some(MPIN)));
    let secure = reqs.iter().find(|r| r.path.ends_with("getProfile")).expect("profile request");
    for (h, want) in [
        ("x-privatekey", API_KEY),
        ("x-usertype", "USER"),
        ("x-sourceid", "WEB"),
        ("x-clientlocalip", "10.0.0.7"),
        ("x-clientpublicip", "106.193.147.98"),
        ("x-macaddress", "02:42:ac:11:00:02"),
        ("accept", "application/json"),
    ] {
        assert_eq!(secure.headers.get(h).map(String::as_str), Some(want), "{h}");
    }
    assert_eq!(secure.headers.get("authorization"), Some(&format!("Bearer {}", tokens.jwt.expose())));
}

#[tokio::test]
async fn the_wall_clock_login_computes_the_code_itself() {
    let f = fake().await;
    f.set_totp_time(None);
    let mut c = client(&f);
    c.login(&Secret::new(MPIN), &Secret::new(SEED)).await.expect("login with the code of now");
    assert!(c.has_session());
    assert_eq!(f.logins(), 1);
}

#[tokio::test]
async fn refused_credentials_are_permission_errors_without_the_secrets() {
    let f = fake().await;
    let mut c = client(&f);
    let wrong = totp::code_at(&Secret::new(SEED), T0 + 3600).expect("code");
    let e = c.login_with_code(&Secret::new(MPIN), &wrong).await.expect_err("a stale code");
    assert_eq!((e.kind(), e.code()), (BrokerErrorKind::Permission, Some("AB1050")), "{e}");
    assert!(!c.has_session());
    let right = totp::code_at(&Secret::new(SEED), T0).expect("code");
    let e = c.login_with_code(&Secret::new("9999"), &right).await.expect_err("a wrong MPIN");
    assert_eq!(e.kind(), BrokerErrorKind::Permission, "{e}");
    assert!(!e.to_string().contains("9999") && !format!("{e:?}").contains(right.expose()));
    let e = client(&f).profile().await.expect_err("no session");
    assert!(matches!(e, AngelError::NoSession { .. }));
}

#[tokio::test]
async fn an_order_is_placed_partly_filled_modified_and_cancelled() {
    let f = fake().await;
    let (c, tokens) = logged_in(&f).await;
    let reply = c.place_order(&limit_buy(10, 799.5)).await.expect("placed");
    assert_eq!(reply.orderid.len(), 15, "Angel's order ids are 15 digits");
    let sent = f.requests().into_iter().find(|r| r.path.ends_with("placeOrder")).and_then(|r| r.body).expect("body");
    assert_eq!((sent["price"].as_str(), sent["quantity"].as_str()), (Some("799.5"), Some("10")));
    assert_eq!(sent["ordertag"], "D42");

    let book = c.order_book().await.expect("book");
    let o = book.iter().find(|o| o.orderid == reply.orderid).expect("in the book");
    assert_eq!((o.state(), o.quantity, o.price, o.ordertag.as_str()), (OrderState::Open, 10, 799.5, "D42"));

    f.fill(&reply.orderid, 4, 799.5).expect("fill");
    let o = c.order_book().await.expect("book").into_iter().find(|o| o.orderid == reply.orderid).expect("order");
    assert_eq!((o.state(), o.filledshares, o.unfilledshares), (OrderState::PartiallyFilled, 4, 6));
    let fills: Vec<_> =
        c.trade_book().await.expect("trades").into_iter().filter(|t| t.orderid == reply.orderid).collect();
    assert_eq!(fills.len(), 1);
    assert_eq!((fills[0].fillsize, fills[0].fillprice), (4, 799.5));
    assert!(!fills[0].fillid.is_empty());
    let details = c.order_details(&reply.uniqueorderid).await.expect("details");
    assert_eq!((details.orderid.as_str(), details.filledshares), (reply.orderid.as_str(), 4));

    let mut changed = limit_buy(10, 799.0);
    changed.ordertag = None;
    c.modify_order(&ModifyOrder { orderid: reply.orderid.clone(), order: changed }).await.expect("modified");
    let o = c.order_book().await.expect("book").into_iter().find(|o| o.orderid == reply.orderid).expect("order");
    assert_eq!(o.price, 799.0);

    c.cancel_order(Variety::Normal, &reply.orderid).await.expect("cancelled");
    let o = c.order_book().await.expect("book").into_iter().find(|o| o.orderid == reply.orderid).expect("order");
    assert_eq!((o.state(), o.filledshares), (OrderState::Cancelled, 4));
    let positions = c.positions().await.expect("positions");
    let p = positions.iter().find(|p| p.tradingsymbol == "SBIN-EQ").expect("a position from the fill");
    assert_eq!((p.netqty, p.producttype.as_str()), (4, "INTRADAY"));
    let rms = c.rms().await.expect("rms");
    assert!(rms.net > 0.0);
    assert_no_secret(&format!("{book:?} {positions:?} {rms:?}"), &tokens);
}

#[tokio::test]
async fn the_rms_refuses_an_order_after_accepting_it() {
    let f = fake().await;
    let (c, _) = logged_in(&f).await;
    f.reject_next_order("RMS:Margin Exceeds,Required:8000.00, Available:100.00");
    let reply = c.place_order(&limit_buy(10, 800.0)).await.expect("accepted at the door");
    let o = c.order_book().await.expect("book").into_iter().find(|o| o.orderid == reply.orderid).expect("order");
    assert_eq!(o.state(), OrderState::Rejected);
    assert!(o.text.contains("Margin Exceeds"), "{}", o.text);
}

#[tokio::test]
async fn an_expired_token_is_a_session_error_and_a_refresh_renews_it() {
    let f = fake().await;
    let (mut c, tokens) = logged_in(&f).await;
    assert!(f.expire_token(tokens.jwt.expose()));
    let e = c.order_book().await.expect_err("expired");
    assert_eq!(e.kind(), BrokerErrorKind::SessionExpired, "{e}");
    assert_no_secret(&format!("{e} {e:?}"), &tokens);
    let renewed = c.refresh().await.expect("refreshed");
    assert_ne!(renewed.jwt.expose(), tokens.jwt.expose());
    assert!(c.order_book().await.is_ok(), "the new JWT works");
    c.logout().await.expect("logged out");
    assert!(!c.has_session());
}

#[tokio::test]
async fn failures_map_onto_kinds_and_only_safe_ones_are_retried() {
    let f = fake().await;
    let (c, _) = logged_in(&f).await;
    f.use_manual_clock();
    f.set_rate_limit(RateClass::OrderBook, Some(RateLimit::per_second(1)));
    c.order_book().await.expect("first");
    let e = c.order_book().await.expect_err("second in the same second");
    assert_eq!((e.kind(), e.http_status()), (BrokerErrorKind::RateLimited, Some(403)), "{e}");
    assert!(e.is_retry_safe(), "refused at the door");
    f.advance_clock(Duration::from_secs(1));
    c.order_book().await.expect("a second later");

    f.set_malformed(Some(Malformed::NotJson));
    let e = c.place_order(&limit_buy(1, 800.0)).await.expect_err("a WAF page");
    assert_eq!(e.kind(), BrokerErrorKind::Malformed);
    assert!(e.outcome_unknown() && !e.is_retry_safe(), "the order may exist: look, do not resend");
    f.set_malformed(None);

    f.fail_next(None, "/rest/secure/angelbroking/order/v1/placeOrder", Failure::business("AB1009", "Symbol not found"));
    let e = c.place_order(&limit_buy(1, 800.0)).await.expect_err("refused");
    assert_eq!((e.kind(), e.code(), e.message()), (BrokerErrorKind::Order, Some("AB1009"), "Symbol not found"));
    assert!(!e.outcome_unknown());

    let mut bad = limit_buy(1, 800.0);
    bad.ordertag = Some("a-tag-far-too-long-for-angel".into());
    let e = c.place_order(&bad).await.expect_err("refused before sending");
    assert!(matches!(e, AngelError::Invalid { .. }));
}
