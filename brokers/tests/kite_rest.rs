//! The Kite Connect REST client against the fake Kite server: every request reads as the
//! official client's (fixtures recorded from pykiteconnect by scripts/kite_rest_vectors.py),
//! every response shape parses, every error maps onto its kind, and no secret shows anywhere.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dalal_brokers::fake::kite::{FakeKite, FakeUser, Malformed, RateClass, RecordedRequest};
use dalal_brokers::kite::params::{ModifyOrder, OrderType, PlaceOrder, Product, TransactionType, Validity, Variety};
use dalal_brokers::kite::{KiteClient, KiteError, RequestKind};
use dalal_brokers::{BrokerErrorKind, OrderState, Secret};
use serde_json::Value;

const API_KEY: &str = "kiteapikey7q3x";
const API_SECRET: &str = "kite-api-secret-9f8e7d6c5b4a";
const USER: &str = "ZX4821";

fn client(root: &str, token: Option<&str>) -> KiteClient {
    KiteClient::new(root, API_KEY, token.map(Secret::new), Duration::from_secs(10)).expect("client")
}

/// A fake with one user, three instruments and a holding.
async fn fake() -> FakeKite {
    let f = FakeKite::start().await.expect("fake kite starts");
    f.add_user(FakeUser::new(USER, API_KEY, API_SECRET));
    f.set_instrument("NSE", "INFY", 408_065, 1500.5);
    f.set_instrument("NSE", "SBIN", 779_521, 800.25);
    f.set_instrument("NFO", "NIFTY26JANFUT", 13_238_786, 24_000.0);
    f.add_holding(USER, "NSE", "INFY", 5, 1400.0);
    f
}

async fn logged_in(f: &FakeKite) -> KiteClient {
    let token = f.issue_access_token(API_KEY).expect("token");
    client(&f.root(), Some(&token))
}

fn limit_buy(symbol: &str, qty: u32, price: f64) -> PlaceOrder {
    PlaceOrder {
        variety: Variety::Regular,
        exchange: "NSE".into(),
        tradingsymbol: symbol.into(),
        transaction_type: TransactionType::Buy,
        quantity: qty,
        product: Product::Cnc,
        order_type: OrderType::Limit,
        price: Some(price),
        trigger_price: None,
        validity: Some(Validity::Day),
        disclosed_quantity: None,
        tag: Some("dalal1".into()),
    }
}

// ---------------------------------------------------------------------------------------
// Requests as the official client sends them

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().map(str::to_string).unwrap_or_else(|| v[k].to_string())
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .expect("pairs")
        .iter()
        .map(|p| (p[0].as_str().expect("key").to_string(), p[1].as_str().expect("value").to_string()))
        .collect()
}

fn place_from(args: &Value) -> PlaceOrder {
    let num = |k: &str| args.get(k).and_then(Value::as_f64);
    PlaceOrder {
        variety: Variety::parse(&s(args, "variety")).expect("variety"),
        exchange: s(args, "exchange"),
        tradingsymbol: s(args, "tradingsymbol"),
        transaction_type: TransactionType::parse(&s(args, "transaction_type")).expect("side"),
        quantity: args["quantity"].as_u64().expect("quantity") as u32,
        product: Product::parse(&s(args, "product")).expect("product"),
        order_type: OrderType::parse(&s(args, "order_type")).expect("type"),
        price: num("price"),
        trigger_price: num("trigger_price"),
        validity: args.get("validity").and_then(Value::as_str).and_then(Validity::parse),
        disclosed_quantity: args.get("disclosed_quantity").and_then(Value::as_u64).map(|q| q as u32),
        tag: args.get("tag").and_then(Value::as_str).map(str::to_string),
    }
}

async fn replay(c: &mut KiteClient, call: &str, args: &Value) {
    let strs = |k: &str| -> Vec<String> {
        args[k].as_array().expect("list").iter().map(|v| v.as_str().expect("str").to_string()).collect()
    };
    // The fake refuses most of these (unknown token, order, app): only what was sent matters.
    let _ = match call {
        "generate_session" => {
            let r =
                c.generate_session(&Secret::new(s(args, "request_token")), &Secret::new(s(args, "api_secret"))).await;
            c.set_access_token(Some(Secret::new("fake-access-token-0001")));
            r.map(|_| ())
        }
        "place_order" => c.place_order(&place_from(args)).await.map(|_| ()),
        "modify_order" => {
            let change = ModifyOrder {
                quantity: args.get("quantity").and_then(Value::as_u64).map(|q| q as u32),
                price: args.get("price").and_then(Value::as_f64),
                order_type: args.get("order_type").and_then(Value::as_str).and_then(OrderType::parse),
                trigger_price: args.get("trigger_price").and_then(Value::as_f64),
                validity: args.get("validity").and_then(Value::as_str).and_then(Validity::parse),
                disclosed_quantity: None,
            };
            let variety = Variety::parse(&s(args, "variety")).expect("variety");
            c.modify_order(variety, &s(args, "order_id"), &change).await.map(|_| ())
        }
        "cancel_order" => {
            let variety = Variety::parse(&s(args, "variety")).expect("variety");
            c.cancel_order(variety, &s(args, "order_id")).await.map(|_| ())
        }
        "orders" => c.orders().await.map(|_| ()),
        "order_history" => c.order_history(&s(args, "order_id")).await.map(|_| ()),
        "trades" => c.trades().await.map(|_| ()),
        "positions" => c.positions().await.map(|_| ()),
        "holdings" => c.holdings().await.map(|_| ()),
        "profile" => c.profile().await.map(|_| ()),
        "margins" => c.margins().await.map(|_| ()),
        "margins_segment" => c.segment_margins(&s(args, "segment")).await.map(|_| ()),
        "historical_data" => {
            let token = args["instrument_token"].as_u64().expect("token") as u32;
            let (cont, oi) = (args["continuous"].as_bool().expect("bool"), args["oi"].as_bool().expect("bool"));
            c.historical(token, &s(args, "interval"), &s(args, "from_date"), &s(args, "to_date"), cont, oi)
                .await
                .map(|_| ())
        }
        "ltp" => {
            let i = strs("instruments");
            c.ltp(&i.iter().map(String::as_str).collect::<Vec<_>>()).await.map(|_| ())
        }
        "quote" => {
            let i = strs("instruments");
            c.quote(&i.iter().map(String::as_str).collect::<Vec<_>>()).await.map(|_| ())
        }
        "invalidate_access_token" => c.invalidate_session().await.map(|_| ()),
        other => panic!("fixture call {other} has no counterpart"),
    };
}

#[tokio::test]
async fn every_request_reads_as_the_official_clients() {
    let fixture = include_str!("fixtures/kite_rest_requests.jsonl");
    let f = FakeKite::start().await.expect("fake");
    let mut c = KiteClient::new(&f.root(), "fakeapikey0001", None, Duration::from_secs(10)).expect("client");
    let mut calls = std::collections::BTreeSet::new();
    for (n, line) in fixture.lines().enumerate() {
        let want: Value = serde_json::from_str(line).expect("fixture line");
        let call = s(&want, "call");
        let before = f.requests().len();
        replay(&mut c, &call, &want["args"]).await;
        let got: Vec<RecordedRequest> = f.requests();
        assert_eq!(got.len(), before + 1, "line {}: {call} sent one request", n + 1);
        let got = &got[before];
        let at = format!("line {} ({call} {})", n + 1, want["args"]);
        assert_eq!(got.method, s(&want, "method"), "{at}");
        assert_eq!(got.path, s(&want, "path"), "{at}");
        assert_eq!(got.query, pairs(&want["query"]), "{at}: query");
        let (mut ours, mut theirs) = (got.form.clone(), pairs(&want["form"]));
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{at}: form fields");
        for h in ["x-kite-version", "authorization"] {
            assert_eq!(got.headers.get(h).map(String::as_str), want["headers"][h].as_str(), "{at}: {h}");
        }
        let content_type = want["headers"]["content-type"].as_str();
        assert_eq!(got.headers.get("content-type").map(String::as_str), content_type, "{at}: content-type");
        calls.insert(call);
    }
    assert!(fixture.lines().filter(|l| l.contains("\"place_order\"")).count() >= 48, "every combination");
    assert_eq!(calls.len(), 16, "{calls:?}");
}

// ---------------------------------------------------------------------------------------
// Response shapes, through a whole trading day on the fake

#[tokio::test]
async fn login_then_a_day_of_orders_parses_every_shape() {
    let f = fake().await;
    let mut c = client(&f.root(), None);
    assert!(matches!(c.profile().await, Err(KiteError::NoSession { .. })));

    let request_token = f.issue_request_token(API_KEY).expect("request token");
    let wrong = c.generate_session(&Secret::new(&request_token), &Secret::new("not-the-secret")).await;
    assert_eq!(wrong.expect_err("bad checksum").kind(), BrokerErrorKind::SessionExpired);
    let session = c.generate_session(&Secret::new(&request_token), &Secret::new(API_SECRET)).await.expect("session");
    assert_eq!(session.user_id, USER);
    assert_eq!(session.broker, "ZERODHA");
    assert!(f.token_is_live(session.access_token.expose()));
    assert!(session.public_token.is_some() && session.refresh_token.is_none(), "empty refresh token is none");
    let again = client(&f.root(), None)
        .generate_session(&Secret::new(&request_token), &Secret::new(API_SECRET))
        .await
        .expect_err("a request token is single-use");
    assert_eq!(again.kind(), BrokerErrorKind::SessionExpired);

    let profile = c.profile().await.expect("profile");
    assert_eq!((profile.user_id.as_str(), profile.email.as_str()), (USER, "zx4821@example.com"));
    let margins = c.margins().await.expect("margins");
    let equity = margins.equity.expect("equity");
    assert!(equity.enabled && equity.net == 100_000.0 && equity.available.cash == 100_000.0);
    assert!(!margins.commodity.expect("commodity").enabled);
    assert_eq!(c.segment_margins("equity").await.expect("equity").net, 100_000.0);

    // A limit buy, filled in two parts.
    let id = c.place_order(&limit_buy("INFY", 10, 1500.0)).await.expect("placed");
    let book = c.orders().await.expect("orders");
    assert_eq!(book.len(), 1);
    let o = &book[0];
    assert_eq!((o.order_id.as_str(), o.status.as_str(), o.state()), (id.as_str(), "OPEN", OrderState::Open));
    assert_eq!((o.quantity, o.pending_quantity, o.price_paise()), (10, 10, Ok(150_000)));
    assert_eq!(o.tag.as_deref(), Some("dalal1"));
    assert_eq!(c.segment_margins("equity").await.expect("m").utilised.debits, 15_000.0, "blocked");
    f.fill(&id, 4, 1499.5).expect("fill");
    let o = c.orders().await.expect("orders").remove(0);
    assert_eq!((o.state(), o.filled_quantity, o.pending_quantity), (OrderState::PartiallyFilled, 4, 6));
    f.fill(&id, 6, 1500.0).expect("fill");
    let o = c.orders().await.expect("orders").remove(0);
    assert_eq!((o.state(), o.filled_quantity, o.average_price_paise()), (OrderState::Filled, 10, Ok(149_980)));
    let history: Vec<String> = c.order_history(&id).await.expect("history").into_iter().map(|o| o.status).collect();
    assert_eq!(
        history,
        ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "OPEN", "OPEN", "COMPLETE"],
        "history oldest first"
    );
    let trades = c.trades().await.expect("trades");
    assert_eq!(
        trades.iter().map(|t| (t.quantity, t.price_paise())).collect::<Vec<_>>(),
        [(4, Ok(149_950)), (6, Ok(150_000))]
    );
    assert_eq!(c.order_trades(&id).await.expect("trades").len(), 2);

    // A MARKET sell fills at the last price at once.
    let sell = PlaceOrder {
        tradingsymbol: "SBIN".into(),
        transaction_type: TransactionType::Sell,
        product: Product::Mis,
        order_type: OrderType::Market,
        price: None,
        quantity: 3,
        ..limit_buy("SBIN", 3, 0.0)
    };
    let sid = c.place_order(&sell).await.expect("sell");
    let positions = c.positions().await.expect("positions");
    assert_eq!(positions.net.len(), 2);
    let infy = positions.net.iter().find(|p| p.tradingsymbol == "INFY").expect("INFY");
    assert_eq!((infy.quantity, infy.average_price_paise(), infy.last_price), (10, Ok(149_980), 1500.5));
    assert_eq!(infy.pnl_paise(), Ok(700), "10 × (1500.50 − 1499.80)");
    let sbin = positions.net.iter().find(|p| p.tradingsymbol == "SBIN").expect("SBIN");
    assert_eq!((sbin.quantity, sbin.product.as_str(), sbin.average_price), (-3, "MIS", 800.25));
    assert_eq!(positions.day.len(), 2);
    assert_eq!(c.order_history(&sid).await.expect("h").last().map(|o| o.state()), Some(OrderState::Filled));

    // A stop order waits for its trigger; modified, then cancelled.
    let stop = PlaceOrder {
        order_type: OrderType::SlM,
        price: None,
        trigger_price: Some(1450.0),
        ..limit_buy("INFY", 2, 0.0)
    };
    let stop_id = c.place_order(&stop).await.expect("stop");
    assert_eq!(c.orders().await.expect("o").last().map(|o| o.state()), Some(OrderState::TriggerPending));
    let change = ModifyOrder { trigger_price: Some(1440.0), quantity: Some(3), ..Default::default() };
    assert_eq!(c.modify_order(Variety::Regular, &stop_id, &change).await.expect("modify"), stop_id);
    let modified = c.order_history(&stop_id).await.expect("history");
    let statuses: Vec<_> = modified.iter().map(|o| o.state()).collect();
    assert!(statuses.contains(&OrderState::ModifyPending), "{statuses:?}");
    let last = modified.last().expect("last");
    assert_eq!((last.quantity, last.trigger_price, last.modified), (3, 1440.0, true));
    assert_eq!(c.cancel_order(Variety::Regular, &stop_id).await.expect("cancel"), stop_id);
    let cancelled = c.order_history(&stop_id).await.expect("history");
    assert_eq!(cancelled[cancelled.len() - 2].state(), OrderState::CancelPending);
    assert_eq!(
        (cancelled[cancelled.len() - 1].state(), cancelled[cancelled.len() - 1].cancelled_quantity),
        (OrderState::Cancelled, 3)
    );
    let twice = c.cancel_order(Variety::Regular, &stop_id).await.expect_err("cancelled already");
    assert_eq!((twice.kind(), twice.http_status()), (BrokerErrorKind::Input, Some(400)));

    // An after-market order is queued; a scripted RMS rejection and a margin rejection show in
    // the book with their reasons.
    let amo = c.place_order(&PlaceOrder { variety: Variety::Amo, ..limit_buy("INFY", 1, 1490.0) }).await.expect("amo");
    assert_eq!(
        c.orders().await.expect("o").iter().find(|o| o.order_id == amo).map(|o| o.state()),
        Some(OrderState::AmoPending)
    );
    f.reject_next_order("RMS:Blocked for trading in this scrip");
    let rej = c.place_order(&limit_buy("SBIN", 1, 800.0)).await.expect("accepted, then rejected");
    let rej = c.orders().await.expect("o").into_iter().find(|o| o.order_id == rej).expect("in the book");
    assert_eq!(
        (rej.state(), rej.status_message.as_deref()),
        (OrderState::Rejected, Some("RMS:Blocked for trading in this scrip"))
    );
    let big = c.place_order(&limit_buy("INFY", 1000, 1500.0)).await.expect("accepted, then rejected");
    let big = c.orders().await.expect("o").into_iter().find(|o| o.order_id == big).expect("in the book");
    assert_eq!(big.state(), OrderState::Rejected);
    assert!(big.status_message.as_deref().is_some_and(|m| m.contains("Insufficient funds")), "{big:?}");

    let holdings = c.holdings().await.expect("holdings");
    assert_eq!(holdings.len(), 1);
    assert_eq!(
        (holdings[0].quantity, holdings[0].average_price_paise(), holdings[0].last_price),
        (5, Ok(140_000), 1500.5)
    );

    // Quotes: an unknown instrument is simply absent.
    let ltp = c.ltp(&["NSE:INFY", "NSE:NOPE"]).await.expect("ltp");
    assert_eq!(ltp.len(), 1);
    assert_eq!((ltp["NSE:INFY"].instrument_token, ltp["NSE:INFY"].last_price), (408_065, 1500.5));
    f.set_ltp("NSE", "SBIN", 801.0);
    let q = c.quote(&["NSE:SBIN", "NFO:NIFTY26JANFUT"]).await.expect("quote");
    assert_eq!((q["NSE:SBIN"].last_price, q["NSE:SBIN"].ohlc.high, q["NSE:SBIN"].depth.buy.len()), (801.0, 801.0, 5));
    assert_eq!(q["NFO:NIFTY26JANFUT"].instrument_token, 13_238_786);

    f.set_candles(
        408_065,
        "minute",
        vec![
            ("2026-01-05T09:15:00+0530".into(), [1500.0, 1502.0, 1499.0, 1501.5], 1200, 0),
            ("2026-01-05T09:16:00+0530".into(), [1501.5, 1503.0, 1501.0, 1502.0], 800, 0),
            ("2026-01-05T09:17:00+0530".into(), [1502.0, 1502.5, 1500.0, 1500.5], 950, 7),
        ],
    );
    let h =
        c.historical(408_065, "minute", "2026-01-05 09:16:00", "2026-01-05 09:30:00", false, true).await.expect("h");
    assert_eq!(h.candles.len(), 2);
    assert_eq!((h.candles[1].close, h.candles[1].volume, h.candles[1].oi), (1500.5, 950, Some(7)));
    let h =
        c.historical(408_065, "minute", "2026-01-05 09:15:00", "2026-01-05 09:15:59", false, false).await.expect("h");
    assert_eq!((h.candles.len(), h.candles[0].time.as_str(), h.candles[0].oi), (1, "2026-01-05T09:15:00+0530", None));

    // Every order change went to the update log, in order.
    let updates = f.order_updates();
    assert!(updates.windows(2).all(|w| w[0].0 + 1 == w[1].0));
    assert!(updates.iter().any(|(_, o)| o["order_id"] == id.as_str() && o["status"] == "COMPLETE"));

    let token = session.access_token.expose().to_string();
    assert!(c.invalidate_session().await.expect("logout"));
    assert!(!c.has_session() && !f.token_is_live(&token));
}

// ---------------------------------------------------------------------------------------
// Errors

#[tokio::test]
async fn each_error_type_maps_onto_its_kind_with_the_brokers_message() {
    let f = fake().await;
    let c = logged_in(&f).await;
    let table = [
        (403, "TokenException", BrokerErrorKind::SessionExpired),
        (403, "UserException", BrokerErrorKind::Permission),
        (500, "OrderException", BrokerErrorKind::Order),
        (400, "InputException", BrokerErrorKind::Input),
        (400, "MarginException", BrokerErrorKind::Margin),
        (400, "HoldingException", BrokerErrorKind::Holding),
        (503, "NetworkException", BrokerErrorKind::Network),
        (502, "DataException", BrokerErrorKind::Data),
        (403, "PermissionException", BrokerErrorKind::Permission),
        (500, "GeneralException", BrokerErrorKind::Other),
        (429, "NetworkException", BrokerErrorKind::RateLimited),
        (500, "SomethingNew", BrokerErrorKind::Network),
    ];
    for (status, error_type, kind) in table {
        let message = format!("{error_type} says no");
        f.fail_next(Some("GET"), "/user/profile", status, error_type, &message);
        let e = c.profile().await.expect_err(error_type);
        assert_eq!(e.kind(), kind, "{error_type}");
        assert_eq!((e.http_status(), e.error_type(), e.message()), (Some(status), Some(error_type), message.as_str()));
        assert!(e.to_string().contains(&message) && e.to_string().contains(kind.as_str()), "{e}");
        assert_eq!(e.request(), RequestKind::Read);
    }
    // Placing: a margin refusal is final; a network failure leaves the outcome unknown, so a
    // place is never retried, a read is.
    f.fail_next(Some("POST"), "/orders/", 400, "MarginException", "Insufficient funds");
    let e = c.place_order(&limit_buy("INFY", 1, 1500.0)).await.expect_err("margin");
    assert_eq!((e.kind(), e.is_retry_safe(), e.outcome_unknown()), (BrokerErrorKind::Margin, false, false));
    f.fail_next(Some("POST"), "/orders/", 503, "NetworkException", "OMS unreachable");
    let e = c.place_order(&limit_buy("INFY", 1, 1500.0)).await.expect_err("network");
    assert_eq!((e.kind(), e.is_retry_safe(), e.outcome_unknown()), (BrokerErrorKind::Network, false, true));
    f.fail_next(Some("GET"), "/orders", 503, "NetworkException", "OMS unreachable");
    assert!(c.orders().await.expect_err("network").is_retry_safe());
    assert!(c.orders().await.is_ok(), "a scripted failure happens once");
}

#[tokio::test]
async fn an_expired_session_is_403_token_exception_from_then_on() {
    let f = fake().await;
    let token = f.issue_access_token(API_KEY).expect("token");
    let c = client(&f.root(), Some(&token));
    assert!(c.orders().await.is_ok());
    assert!(f.expire_token(&token));
    for _ in 0..2 {
        let e = c.orders().await.expect_err("expired");
        assert_eq!(
            (e.kind(), e.http_status(), e.error_type()),
            (BrokerErrorKind::SessionExpired, Some(403), Some("TokenException"))
        );
        assert!(!e.is_retry_safe());
    }
    let stranger = client(&f.root(), Some("not-a-token-of-this-app"));
    assert_eq!(stranger.profile().await.expect_err("unknown").kind(), BrokerErrorKind::SessionExpired);
}

#[tokio::test]
async fn requests_over_the_rate_limit_get_429_and_may_be_retried_after_the_window() {
    let f = fake().await;
    let c = logged_in(&f).await;
    f.use_manual_clock();
    f.set_rate_limit(RateClass::Quote, Some(1));
    f.set_rate_limit(RateClass::Orders, Some(2));
    assert!(c.ltp(&["NSE:INFY"]).await.is_ok());
    let e = c.ltp(&["NSE:INFY"]).await.expect_err("second quote in the same second");
    assert_eq!(
        (e.kind(), e.http_status(), e.error_type()),
        (BrokerErrorKind::RateLimited, Some(429), Some("NetworkException"))
    );
    assert!(e.is_retry_safe());
    assert!(c.orders().await.is_ok(), "other endpoints have their own limit");
    for _ in 0..2 {
        c.place_order(&limit_buy("INFY", 1, 1500.0)).await.expect("within the order limit");
    }
    let e = c.place_order(&limit_buy("INFY", 1, 1500.0)).await.expect_err("third order");
    assert_eq!(e.kind(), BrokerErrorKind::RateLimited);
    assert!(e.is_retry_safe() && !e.outcome_unknown(), "refused at the door: the order does not exist");
    assert_eq!(c.orders().await.expect("orders").len(), 2);
    f.advance_clock(Duration::from_secs(1));
    assert!(c.ltp(&["NSE:INFY"]).await.is_ok());
    assert!(c.place_order(&limit_buy("INFY", 1, 1500.0)).await.is_ok());
}

#[tokio::test]
async fn a_garbled_answer_is_a_malformed_error_never_a_panic() {
    let f = fake().await;
    let c = logged_in(&f).await;
    for how in
        [Malformed::NotJson, Malformed::Truncated, Malformed::WrongShape, Malformed::MissingData, Malformed::Empty]
    {
        f.set_malformed(Some(how));
        for e in [
            c.profile().await.map(|_| ()).expect_err("profile"),
            c.orders().await.map(|_| ()).expect_err("orders"),
            c.positions().await.map(|_| ()).expect_err("positions"),
            c.ltp(&["NSE:INFY"]).await.map(|_| ()).expect_err("ltp"),
        ] {
            assert_eq!((e.kind(), e.http_status()), (BrokerErrorKind::Malformed, Some(200)), "{how:?}: {e}");
            assert!(e.is_retry_safe(), "a read may be repeated");
        }
        let e = c.place_order(&limit_buy("INFY", 1, 1500.0)).await.expect_err("place");
        assert_eq!(e.kind(), BrokerErrorKind::Malformed, "{how:?}");
        assert!(e.outcome_unknown() && !e.is_retry_safe(), "accepted with HTTP 200 but no readable order id");
    }
    f.set_malformed(Some(Malformed::WrongShape));
    let e = c.orders().await.expect_err("wrong shape");
    assert!(e.to_string().contains("invalid type"), "says what was wrong: {e}");
    f.set_malformed(None);
    assert_eq!(c.orders().await.expect("orders").len(), 5, "the placed orders exist");
}

#[tokio::test]
async fn no_answer_is_a_network_error_retried_only_when_safe() {
    // Nothing listens: the connection is refused, so Kite never saw the request.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let c = KiteClient::new(
        &format!("http://127.0.0.1:{port}"),
        API_KEY,
        Some(Secret::new("tok-123456789")),
        Duration::from_secs(5),
    )
    .expect("client");
    let e = c.place_order(&limit_buy("INFY", 1, 1500.0)).await.expect_err("refused");
    assert!(matches!(e, KiteError::Transport { sent: false, .. }), "{e:?}");
    assert_eq!(e.kind(), BrokerErrorKind::Network);
    assert!(e.is_retry_safe(), "never sent");

    // A server that accepts and never answers: the request is out, its fate unknown.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let root = format!("http://{}", silent.local_addr().expect("addr"));
    let c = KiteClient::new(&root, API_KEY, Some(Secret::new("tok-123456789")), Duration::from_millis(300)).expect("c");
    let e = c.place_order(&limit_buy("INFY", 1, 1500.0)).await.expect_err("timeout");
    assert!(matches!(e, KiteError::Transport { sent: true, timed_out: true, .. }), "{e:?}");
    assert!(e.outcome_unknown() && !e.is_retry_safe());
    let e = c.orders().await.expect_err("timeout");
    assert!(e.is_retry_safe(), "a read may be repeated");
    drop(silent);
}

#[test]
fn non_envelope_error_answers_map_by_http_status() {
    use dalal_brokers::kite::rest::parse_envelope;
    let e = parse_envelope::<Value>(RequestKind::Read, "/orders", 502, b"<html>Bad Gateway</html>").expect_err("502");
    assert_eq!((e.kind(), e.error_type()), (BrokerErrorKind::Network, None));
    let e = parse_envelope::<Value>(RequestKind::Read, "/orders", 403, b"").expect_err("403");
    assert_eq!(e.kind(), BrokerErrorKind::SessionExpired);
    let e = parse_envelope::<Value>(RequestKind::Read, "/orders", 429, b"slow down").expect_err("429");
    assert_eq!(e.kind(), BrokerErrorKind::RateLimited);
    let e =
        parse_envelope::<Value>(RequestKind::Read, "/orders", 200, br#"{"error_type":"InputException","message":"x"}"#)
            .expect_err("error_type alone marks an error, as in the official client");
    assert_eq!(e.kind(), BrokerErrorKind::Input);
    let ok: Vec<u8> =
        parse_envelope(RequestKind::Read, "/x", 200, br#"{"status":"success","data":[1,2]}"#).expect("ok");
    assert_eq!(ok, [1, 2]);
    let nulls: dalal_brokers::kite::model::Order = parse_envelope(
        RequestKind::Read,
        "/x",
        200,
        br#"{"status":"success","data":{"order_id":"1","status":"OPEN","exchange_order_id":null,"tag":null,"price":null,"quantity":5,"brand_new_field":{"x":1}}}"#,
    )
    .expect("nulls and unknown fields are tolerated");
    assert_eq!((nulls.price, nulls.quantity, nulls.tag), (0.0, 5, None));
}

#[test]
fn every_kite_status_has_a_dalal_state() {
    use dalal_brokers::kite::model::kite_order_state as st;
    let table = [
        ("OPEN", OrderState::Open),
        ("COMPLETE", OrderState::Filled),
        ("CANCELLED", OrderState::Cancelled),
        ("REJECTED", OrderState::Rejected),
        ("PUT ORDER REQ RECEIVED", OrderState::Pending),
        ("VALIDATION PENDING", OrderState::Pending),
        ("OPEN PENDING", OrderState::Pending),
        ("MODIFY VALIDATION PENDING", OrderState::ModifyPending),
        ("MODIFY PENDING", OrderState::ModifyPending),
        ("MODIFIED", OrderState::Open),
        ("TRIGGER PENDING", OrderState::TriggerPending),
        ("CANCEL PENDING", OrderState::CancelPending),
        ("AMO REQ RECEIVED", OrderState::AmoPending),
        ("CANCEL", OrderState::Cancelled),
        ("UPDATE", OrderState::Open),
        ("SOMETHING NEW", OrderState::Unknown),
    ];
    for (status, state) in table {
        assert_eq!(st(status, 10, 0), state, "{status}");
    }
    assert_eq!(st("OPEN", 10, 4), OrderState::PartiallyFilled);
    assert_eq!(st("CANCELLED", 10, 4), OrderState::Cancelled, "a terminal state stays what it is");
}

// ---------------------------------------------------------------------------------------
// Secrets

/// Collects everything `tracing` writes (all levels, all crates) while a test runs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_shows_in_errors_debug_output_or_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let f = fake().await;
    let request_token = f.issue_request_token(API_KEY).expect("request token");
    let mut c = client(&f.root(), None);
    let mut shown = Vec::new();
    let wrong = c.generate_session(&Secret::new(&request_token), &Secret::new(API_SECRET.to_uppercase())).await;
    shown.push(format!(
        "{:?} {}",
        wrong.as_ref().map(|_| ()),
        wrong.as_ref().map(|_| String::new()).unwrap_or_else(|e| e.to_string())
    ));
    let session = c.generate_session(&Secret::new(&request_token), &Secret::new(API_SECRET)).await.expect("session");
    let access = session.access_token.expose().to_string();
    shown.push(format!("{session:?} {c:?}"));
    for e in [
        c.place_order(&limit_buy("INFY", 1, f64::NAN)).await.map(|_| ()).expect_err("invalid"),
        {
            f.fail_next(None, "/orders", 400, "InputException", &format!("echoing {access} back"));
            c.orders().await.map(|_| ()).expect_err("scripted")
        },
        {
            f.expire_token(&access);
            c.orders().await.map(|_| ()).expect_err("expired")
        },
    ] {
        shown.push(format!("{e} {e:?}"));
    }
    let e = c.invalidate_session().await.expect_err("logout of an expired session");
    shown.push(format!("{e} {e:?} {c:?}"));
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut slow = KiteClient::new(
        &format!("http://{}", silent.local_addr().expect("a")),
        API_KEY,
        Some(Secret::new(&access)),
        Duration::from_millis(200),
    )
    .expect("c");
    let e = slow.invalidate_session().await.expect_err("timeout");
    shown.push(format!("{e} {e:?}"));

    let logged = String::from_utf8_lossy(&logs.0.lock().expect("logs")).to_string();
    assert!(logged.contains("kite"), "the client logs its requests: {logged}");
    shown.push(logged);
    let all = shown.join("\n");
    for secret in [API_SECRET, request_token.as_str(), access.as_str()] {
        assert!(!all.contains(secret), "{secret} shows in:\n{all}");
    }
    assert!(all.contains("echoing **** back"), "the broker's message is kept, scrubbed: {all}");
}
