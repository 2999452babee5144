//! The Upstox client against the fake server: the authorization-code login through the
//! dialog's redirect, the headers and hosts every call uses, an order's life (accepted, partly
//! filled, modified, cancelled; refused by the RMS after acceptance), the books, quotes,
//! candles and the feed URLs, and every kind of failure mapped onto the shared error kinds,
//! with no secret in any error or `Debug` text.
//!
//! No test depends on timing: rate-limit windows move by hand.

use std::time::Duration;

use dalal_brokers::fake::upstox::{Failure, FakeUpstox, FakeUpstoxUser, Host, Malformed, RateClass, RateLimit};
use dalal_brokers::upstox::model::{by_instrument_key, Session};
use dalal_brokers::upstox::params::{
    CandleInterval, CandleUnit, FundsSegment, ModifyOrder, OrderType, PlaceOrder, Product, TransactionType, Validity,
};
use dalal_brokers::upstox::{UpstoxClient, UpstoxError};
use dalal_brokers::{BrokerErrorKind, OrderState, Secret};
use futures_util::StreamExt;

const USER: &str = "AB1234";
const API_KEY: &str = "upstox-key-7Qx2";
const SECRET: &str = "upstox-secret-9Zk4";
const REDIRECT: &str = "https://dalal.example/upstox/callback";
const SBIN: &str = "NSE_EQ|INE062A01020";
const INFY: &str = "NSE_EQ|INE009A01021";

async fn fake() -> FakeUpstox {
    let f = FakeUpstox::start().await.expect("fake starts");
    f.add_user(FakeUpstoxUser::new(USER, API_KEY, SECRET, REDIRECT));
    f.set_instrument(SBIN, "SBIN", 800.0);
    f.set_instrument(INFY, "INFY", 1500.0);
    f.add_holding(USER, INFY, 5, 1400.0);
    f
}

fn client(f: &FakeUpstox) -> UpstoxClient {
    UpstoxClient::new(&f.root(), &f.hft_root(), API_KEY, None, Duration::from_secs(5)).expect("client")
}

async fn logged_in(f: &FakeUpstox) -> (UpstoxClient, Session) {
    let mut c = client(f);
    let code = f.issue_auth_code(API_KEY).expect("code");
    let session = c.generate_session(&Secret::new(code), &Secret::new(SECRET), REDIRECT).await.expect("login");
    (c, session)
}

fn limit_buy(qty: u32, price: f64) -> PlaceOrder {
    PlaceOrder {
        tag: Some("D42".into()),
        ..PlaceOrder::new(SBIN, TransactionType::Buy, qty, Product::Intraday, OrderType::Limit, price)
    }
}

/// Everything an error or a `Debug` shows, checked for the secrets of the session.
fn assert_no_secret(text: &str, session: &Session) {
    let extended = session.extended_token.as_ref().map(Secret::expose).unwrap_or("never-matches");
    for s in [SECRET, session.access_token.expose(), extended] {
        assert!(!text.contains(s), "a secret in {text:?}");
    }
}

#[tokio::test]
async fn logs_in_through_the_dialogs_redirect_and_sends_upstoxs_headers() {
    let f = fake().await;
    let mut c = client(&f);
    assert!(!c.has_session());
    // What a browser would do: open the login URL, follow it to the redirect URI.
    let url = c.login_url(REDIRECT, Some("s-42"));
    assert!(url.starts_with(&format!("{}/v2/login/authorization/dialog?response_type=code&client_id=", f.root())));
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().expect("b");
    let resp = browser.get(&url).send().await.expect("dialog");
    assert_eq!(resp.status().as_u16(), 302);
    let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).expect("location").to_string();
    let back = reqwest::Url::parse(&location).expect("url");
    let param = |k: &str| back.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
    assert_eq!(param("state").as_deref(), Some("s-42"));
    let code = Secret::new(param("code").expect("code"));

    let session = c.generate_session(&code, &Secret::new(SECRET), REDIRECT).await.expect("login");
    assert!(c.has_session());
    assert_eq!((session.user_id.as_str(), session.broker.as_str(), session.is_active), (USER, "UPSTOX", true));
    assert!(session.extended_token.is_some());
    assert_eq!(c.access_token().map(Secret::expose), Some(session.access_token.expose()));
    let profile = c.profile().await.expect("profile");
    assert_eq!(profile.user_id, USER);
    assert_no_secret(&format!("{c:?} {session:?}"), &session);

    let reqs = f.requests();
    let token = reqs.iter().find(|r| r.path == "/v2/login/authorization/token").expect("token request");
    assert!(!token.headers.contains_key("authorization"), "the exchange carries no token");
    assert_eq!(token.headers.get("api-version").map(String::as_str), Some("2.0"));
    assert_eq!(token.headers.get("content-type").map(String::as_str), Some("application/x-www-form-urlencoded"));
    let form: Vec<(&str, &str)> = token.form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        form,
        [
            ("code", code.expose()),
            ("client_id", API_KEY),
            ("client_secret", SECRET),
            ("redirect_uri", REDIRECT),
            ("grant_type", "authorization_code")
        ]
    );
    let p = reqs.iter().find(|r| r.path == "/v2/user/profile").expect("profile request");
    assert_eq!(p.headers.get("authorization"), Some(&format!("Bearer {}", session.access_token.expose())));
    assert_eq!(p.headers.get("accept").map(String::as_str), Some("application/json"));
    assert_eq!(p.host, Host::Api);
}

#[tokio::test]
async fn refused_logins_are_permission_errors_without_the_secrets() {
    let f = fake().await;
    let mut c = client(&f);
    let code = Secret::new(f.issue_auth_code(API_KEY).expect("code"));
    let e = c.generate_session(&code, &Secret::new("wrong-secret-1"), REDIRECT).await.expect_err("wrong secret");
    assert_eq!((e.kind(), e.code(), e.http_status()), (BrokerErrorKind::Permission, Some("UDAPI100016"), Some(401)));
    assert!(!e.is_retry_safe());
    // The code was spent by the failed exchange.
    let e = c.generate_session(&code, &Secret::new(SECRET), REDIRECT).await.expect_err("spent code");
    assert_eq!(e.code(), Some("UDAPI100016"));
    let code = Secret::new(f.issue_auth_code(API_KEY).expect("code"));
    let e = c.generate_session(&code, &Secret::new(SECRET), "https://other.example/cb").await.expect_err("redirect");
    assert_eq!((e.kind(), e.code()), (BrokerErrorKind::Permission, Some("UDAPI100068")));
    let text = format!("{e} {e:?}");
    assert!(!text.contains(SECRET) && !text.contains(code.expose()), "{text}");
    assert!(!c.has_session());
    assert_eq!(f.logins(), 0);
}

#[tokio::test]
async fn an_order_lives_through_a_partial_fill_a_modify_and_a_cancel() {
    let f = fake().await;
    let (c, _) = logged_in(&f).await;
    let placed = c.place_order(&limit_buy(10, 799.5)).await.expect("place");
    assert_eq!((placed.order_ids.len(), placed.latency_ms, placed.partial), (1, Some(7), false));
    let id = placed.order_id().to_string();

    let o = c.order_details(&id).await.expect("details");
    assert_eq!((o.state(), o.quantity, o.price, o.tag.as_deref()), (OrderState::Open, 10, 799.5, Some("D42")));
    assert_eq!((o.instrument_token.as_str(), o.symbol(), o.product.as_str()), (SBIN, "SBIN", "I"));

    f.fill(&id, 4, 799.5).expect("partial fill");
    let o = c.order_details(&id).await.expect("details");
    assert_eq!(
        (o.state(), o.filled_quantity, o.pending_quantity, o.average_price),
        (OrderState::PartiallyFilled, 4, 6, 799.5)
    );
    let fills = c.order_trades(&id).await.expect("order trades");
    assert_eq!((fills.len(), fills[0].quantity, fills[0].average_price), (1, 4, 799.5));

    let change = ModifyOrder {
        order_id: id.clone(),
        order_type: OrderType::Limit,
        validity: Validity::Day,
        price: 801.0,
        trigger_price: 0.0,
        quantity: Some(8),
        disclosed_quantity: None,
        market_protection: None,
    };
    let m = c.modify_order(&change).await.expect("modify");
    assert_eq!((m.order_id.as_str(), m.latency_ms), (id.as_str(), Some(7)));
    let o = c.order_details(&id).await.expect("details");
    assert_eq!((o.price, o.quantity, o.state()), (801.0, 8, OrderState::PartiallyFilled));

    assert_eq!(c.cancel_order(&id).await.expect("cancel").order_id, id);
    let o = c.order_details(&id).await.expect("details");
    assert_eq!(o.state(), OrderState::Cancelled);
    let e = c.cancel_order(&id).await.expect_err("cancelled already");
    assert_eq!((e.kind(), e.code()), (BrokerErrorKind::Order, Some("UDAPI100040")));
    assert!(!e.is_retry_safe() && !e.outcome_unknown());

    let states: Vec<OrderState> = c.order_history(&id).await.expect("history").iter().map(|o| o.state()).collect();
    use OrderState::*;
    assert_eq!(
        states,
        [
            Pending,
            Pending,
            Pending,
            Open,
            PartiallyFilled,
            ModifyPending,
            ModifyPending,
            PartiallyFilled,
            PartiallyFilled,
            CancelPending,
            Cancelled
        ]
    );
    let book = c.order_book().await.expect("book");
    assert_eq!((book.len(), book[0].order_id.as_str()), (1, id.as_str()));
    assert_eq!(c.trades().await.expect("trades").len(), 1);

    // Order writes went to the order host, reads to the API host; v2 calls carry Api-Version.
    for r in f.requests() {
        let write = r.path.starts_with("/v3/order/");
        assert_eq!(r.host, if write { Host::Hft } else { Host::Api }, "{} {}", r.method, r.path);
        let versioned = r.headers.get("api-version").map(String::as_str) == Some("2.0");
        assert_eq!(versioned, r.path.starts_with("/v2/"), "{}", r.path);
    }
    let place = f.requests().into_iter().find(|r| r.path == "/v3/order/place").expect("place request");
    let body = place.body.expect("json");
    assert_eq!(
        (body["slice"].as_bool(), body["product"].as_str(), body["price"].as_f64()),
        (Some(false), Some("I"), Some(799.5))
    );
    assert_eq!(place.headers.get("content-type").map(String::as_str), Some("application/json"));
}

#[tokio::test]
async fn market_orders_fill_into_positions_and_funds_and_the_rms_may_refuse_after_accepting() {
    let f = fake().await;
    let (c, _) = logged_in(&f).await;
    let funds = c.funds(None).await.expect("funds");
    assert_eq!(funds.equity.as_ref().map(|e| e.available_margin), Some(100_000.0));
    assert!(funds.commodity.is_some());
    let equity = c.funds(Some(FundsSegment::Equity)).await.expect("funds");
    assert!(equity.commodity.is_none());

    let buy = PlaceOrder::new(SBIN, TransactionType::Buy, 10, Product::Delivery, OrderType::Market, 0.0);
    let id = c.place_order(&buy).await.expect("buy").order_id().to_string();
    assert_eq!(c.order_details(&id).await.expect("details").state(), OrderState::Filled);
    f.set_ltp(SBIN, 810.0);
    let sell = PlaceOrder { transaction_type: TransactionType::Sell, quantity: 4, ..buy.clone() };
    c.place_order(&sell).await.expect("sell");
    let positions = c.positions().await.expect("positions");
    let p = &positions[0];
    assert_eq!((p.quantity, p.day_buy_quantity, p.day_sell_quantity, p.pnl), (6, 10, 4, 100.0));
    assert_eq!((p.instrument_token.as_str(), p.product.as_str()), (SBIN, "D"));
    let funds = c.funds(Some(FundsSegment::Equity)).await.expect("funds");
    assert_eq!(funds.equity.map(|e| (e.used_margin, e.available_margin)), Some((4760.0, 95_240.0)));
    let holdings = c.holdings().await.expect("holdings");
    assert_eq!(
        (holdings[0].trading_symbol.as_str(), holdings[0].quantity, holdings[0].isin.as_str()),
        ("INFY", 5, "INE009A01021")
    );

    f.reject_next_order("RMS:Blocked for trading");
    let id = c.place_order(&limit_buy(1, 800.0)).await.expect("accepted").order_id().to_string();
    let o = c.order_details(&id).await.expect("details");
    assert_eq!((o.state(), o.status_message.as_deref()), (OrderState::Rejected, Some("RMS:Blocked for trading")));

    // An SL-M waits for its trigger; an AMO for the session.
    let sl = PlaceOrder {
        trigger_price: 790.0,
        ..PlaceOrder::new(SBIN, TransactionType::Sell, 2, Product::Intraday, OrderType::SlM, 0.0)
    };
    let id = c.place_order(&sl).await.expect("sl").order_id().to_string();
    assert_eq!(c.order_details(&id).await.expect("details").state(), OrderState::TriggerPending);
    f.trigger(&id).expect("trigger");
    assert_eq!(c.order_details(&id).await.expect("details").state(), OrderState::Filled);
    let amo = PlaceOrder { is_amo: true, ..limit_buy(1, 790.0) };
    let id = c.place_order(&amo).await.expect("amo").order_id().to_string();
    let o = c.order_details(&id).await.expect("details");
    assert_eq!((o.state(), o.is_amo), (OrderState::AmoPending, true));
}

#[tokio::test]
async fn failures_map_onto_the_shared_kinds() {
    let f = fake().await;
    let (c, session) = logged_in(&f).await;

    f.fail_next(Some("POST"), "/v3/order/place", Failure::error(500, "UDAPI100500", "Something went wrong"));
    let e = c.place_order(&limit_buy(1, 799.0)).await.expect_err("500");
    assert_eq!((e.kind(), e.code()), (BrokerErrorKind::Network, Some("UDAPI100500")));
    assert!(e.outcome_unknown() && !e.is_retry_safe(), "the order may exist: look, do not resend");
    f.fail_next(None, "/v2/order/retrieve-all", Failure::error(500, "UDAPI100500", "Something went wrong"));
    assert!(c.order_book().await.expect_err("500").is_retry_safe(), "a read may be repeated");

    let bad = PlaceOrder { instrument_token: "NSE_EQ|NOT_LISTED".into(), ..limit_buy(1, 799.0) };
    let e = c.place_order(&bad).await.expect_err("unknown instrument");
    assert_eq!((e.kind(), e.code()), (BrokerErrorKind::Input, Some("UDAPI1087")));
    let e = c.order_details("260105999999999").await.expect_err("not found");
    assert_eq!((e.kind(), e.code()), (BrokerErrorKind::Order, Some("UDAPI100010")));

    f.use_manual_clock();
    f.set_rate_limit(RateClass::Orders, Some(RateLimit::per_second(1)));
    c.place_order(&limit_buy(1, 790.0)).await.expect("first");
    let e = c.place_order(&limit_buy(1, 790.0)).await.expect_err("second");
    assert_eq!((e.kind(), e.code(), e.http_status()), (BrokerErrorKind::RateLimited, Some("UDAPI10005"), Some(429)));
    assert!(e.is_retry_safe(), "refused at the door");
    f.advance_clock(Duration::from_secs(1));
    c.place_order(&limit_buy(1, 790.0)).await.expect("a new second");
    f.set_rate_limit(RateClass::Orders, None);

    for how in
        [Malformed::NotJson, Malformed::Truncated, Malformed::WrongShape, Malformed::MissingData, Malformed::Empty]
    {
        f.set_malformed(Some(how));
        let e = c.order_book().await.expect_err("garbled");
        assert_eq!(e.kind(), BrokerErrorKind::Malformed, "{how:?}: {e}");
        let e = c.place_order(&limit_buy(1, 790.0)).await.expect_err("garbled");
        assert!(matches!(e, UpstoxError::Malformed { .. }) && e.outcome_unknown() && !e.is_retry_safe(), "{how:?}");
    }
    f.set_malformed(None);
    f.fail_next(None, "/v2/user/profile", Failure::raw(502, "text/html", "<html>\n<h1>502 Bad Gateway</h1></html>"));
    let e = c.profile().await.expect_err("proxy");
    assert_eq!((e.kind(), e.http_status(), e.message()), (BrokerErrorKind::Network, Some(502), "<html>"));

    // A message echoing the token is scrubbed.
    let echo = format!("token {} refused", session.access_token.expose());
    f.fail_next(None, "/v2/user/profile", Failure::error(400, "UDAPI100036", &echo));
    let e = c.profile().await.expect_err("echo");
    assert_eq!(e.message(), "token **** refused");
    assert_no_secret(&format!("{e} {e:?}"), &session);

    // Refused before sending: nothing reaches the broker.
    let before = f.requests().len();
    let e = c.place_order(&limit_buy(0, 790.0)).await.expect_err("quantity 0");
    assert!(matches!(e, UpstoxError::Invalid { .. }) && e.kind() == BrokerErrorKind::Input);
    assert!(c.order_details("../retrieve-all").await.is_err());
    assert!(c.ltp(&[]).await.is_err());
    assert_eq!(f.requests().len(), before);

    assert!(f.expire_token(session.access_token.expose()));
    let e = c.positions().await.expect_err("expired");
    assert_eq!(
        (e.kind(), e.code(), e.http_status()),
        (BrokerErrorKind::SessionExpired, Some("UDAPI100050"), Some(401))
    );
    let e = client(&f).profile().await.expect_err("no token");
    assert!(matches!(e, UpstoxError::NoSession { .. }) && e.kind() == BrokerErrorKind::SessionExpired);
}

#[tokio::test]
async fn a_server_that_is_not_there_is_a_transport_error_safe_to_retry() {
    // A privileged port nothing listens on (a released ephemeral one could be taken by
    // another test's fake server meanwhile).
    let root = "http://127.0.0.1:9".to_string();
    let c = UpstoxClient::new(&root, &root, API_KEY, Some(Secret::new("t0ken-value")), Duration::from_secs(5))
        .expect("client");
    let e = c.place_order(&limit_buy(1, 790.0)).await.expect_err("nothing listens");
    assert!(matches!(e, UpstoxError::Transport { sent: false, .. }), "{e:?}");
    assert!(e.is_retry_safe() && !e.outcome_unknown());
    assert!(UpstoxClient::new("ftp://x", &root, API_KEY, None, Duration::from_secs(1)).is_err());
    assert!(UpstoxClient::new(&root, &root, "", None, Duration::from_secs(1)).is_err());
    assert!(!format!("{c:?}").contains("t0ken-value"));
}

#[tokio::test]
async fn quotes_are_rekeyed_by_instrument_key_and_candles_come_newest_first() {
    let f = fake().await;
    let (c, _) = logged_in(&f).await;
    let ltp = c.ltp(&[SBIN, INFY, "NSE_EQ|UNKNOWN"]).await.expect("ltp");
    assert_eq!(ltp.keys().map(String::as_str).collect::<Vec<_>>(), ["NSE_EQ:INFY", "NSE_EQ:SBIN"]);
    let by_key = by_instrument_key(ltp);
    assert_eq!((by_key[SBIN].last_price, by_key[SBIN].cp), (800.0, 800.0));
    let quotes = by_instrument_key(c.quotes(&[SBIN]).await.expect("quotes"));
    let q = &quotes[SBIN];
    assert_eq!((q.symbol.as_str(), q.depth.buy.len(), q.depth.sell[0].price), ("SBIN", 5, 800.05));

    let row = |day: &str, close: f64| (format!("{day}T00:00:00+05:30"), [800.0, 805.0, 795.0, close], 1000, 0);
    f.set_candles(SBIN, "days/1", vec![row("2026-01-05", 803.0), row("2026-01-02", 802.0)]);
    let candles =
        c.candles(SBIN, CandleInterval::new(CandleUnit::Days, 1), "2026-01-01", "2026-01-05").await.expect("candles");
    assert_eq!(candles.iter().map(|c| c.close).collect::<Vec<_>>(), [803.0, 802.0]);
    let path = f.requests().into_iter().rev().find(|r| r.path.contains("historical")).expect("request").path;
    assert_eq!(path, "/v3/historical-candle/NSE_EQ%7CINE062A01020/days/1/2026-01-05/2026-01-01");
    let public = client(&f).candles(SBIN, CandleInterval::new(CandleUnit::Days, 1), "2026-01-03", "2026-01-05").await;
    assert_eq!(public.expect("candles need no login").len(), 1);
    assert!(c.candles(SBIN, CandleInterval::new(CandleUnit::Hours, 9), "2026-01-01", "2026-01-05").await.is_err());
    assert!(c.candles(SBIN, CandleInterval::new(CandleUnit::Days, 1), "2026-1-1", "2026-01-05").await.is_err());
}

#[tokio::test]
async fn the_feed_url_opens_the_market_feed_and_logout_ends_the_session() {
    let f = fake().await;
    let (mut c, session) = logged_in(&f).await;
    let url = c.feed_url().await.expect("feed url");
    let host = url.trim_start_matches("ws://").split('/').next().expect("host").to_string();
    let tcp = tokio::net::TcpStream::connect(host).await.expect("tcp connects");
    let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), tcp).await.expect("feed socket");
    let first =
        tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("a frame").expect("open").expect("ok");
    let msg = dalal_brokers::upstox::feed::decode(&first.into_data()).expect("a FeedResponse");
    assert_eq!(msg.r#type, dalal_brokers::upstox::feed::proto::Type::MarketInfo as i32);
    let portfolio = c.portfolio_stream_url(&["order"]).await.expect("portfolio url");
    assert!(portfolio.starts_with(&format!("{}/portfolio-stream-feeder/", f.ws_root())), "{portfolio}");

    assert!(c.logout().await.expect("logout"));
    assert!(!c.has_session());
    assert!(!f.token_is_live(session.access_token.expose()));
    assert!(matches!(c.profile().await, Err(UpstoxError::NoSession { .. })));
}
