//! The fake's HTTP side: one handler that records the request, checks SmartAPI's headers and
//! the session's JWT, applies rate limits and scripted failures, and dispatches on the path.
//!
//! The order of checks follows what a gateway in front of the broker would do: the route,
//! the headers and API key, the token, the rate limit, then the endpoint itself. Two answers
//! are the fake's own choice, the sources being silent: a missing or malformed `X-*`,
//! `Accept` or `Content-Type` header gets HTTP 400 in the gateway's casing with code AB2000
//! ("error not specified") naming the header, and an unknown path a plain 404.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use super::session::{self, Owner, TokenState};
use super::{lock, market, orders, Failure, Malformed, RateClass, RecordedRequest, Shared, State};

pub(super) fn router(state: Shared) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// An answer before it is garbled (or not) and sent.
pub(super) enum Reply {
    Json(u16, Value),
    Raw(u16, String, Vec<u8>),
}

pub(super) fn success(data: Value) -> Reply {
    Reply::Json(200, json!({"status": true, "message": "SUCCESS", "errorcode": "", "data": data}))
}

/// A business failure: HTTP 200, `status:false`.
pub(super) fn business(errorcode: &str, message: &str) -> Reply {
    Reply::Json(200, json!({"status": false, "message": message, "errorcode": errorcode, "data": null}))
}

/// A gateway failure, in the gateway's own casing.
pub(super) fn gateway(status: u16, error_code: &str, message: &str) -> Reply {
    Reply::Json(status, json!({"success": false, "message": message, "errorCode": error_code, "data": ""}))
}

/// The rate limiter's answer: HTTP 403 and a sentence, not JSON (smartapi-python then raises
/// "Couldn't parse the JSON response…").
pub(super) fn rate_limited() -> Reply {
    Reply::Raw(403, "text/plain".into(), b"Access denied because of exceeding access rate".to_vec())
}

impl Failure {
    fn reply(self) -> Reply {
        match self {
            Failure::Business { errorcode, message } => business(&errorcode, &message),
            Failure::Gateway { status, error_code, message } => gateway(status, &error_code, &message),
            Failure::RateLimited => rate_limited(),
            Failure::Raw { status, content_type, body } => Reply::Raw(status, content_type, body.into_bytes()),
        }
    }
}

/// A body field as text: strings as they are, numbers as written (clients send both).
pub(super) fn text_field(body: &Value, name: &str) -> Option<String> {
    match body.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A numeric body field sent as a number or a numeric string; `Err` names it.
pub(super) fn number_field(body: &Value, name: &str) -> Result<Option<f64>, String> {
    let bad = || format!("Invalid {name}");
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_f64().filter(|x| x.is_finite()).map(Some).ok_or_else(bad),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()).map(Some).ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

/// The endpoints the fake serves.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    Login,
    GenerateTokens,
    Profile,
    Logout,
    Rms,
    Place,
    Modify,
    Cancel,
    OrderBook,
    Details(String),
    TradeBook,
    Position,
    Holding,
    AllHolding,
    Ltp,
    Quote,
    Candles,
}

impl Route {
    /// The route at `path` and the method it takes.
    fn of(path: &str) -> Option<(Method, Route)> {
        let (get, post) = (Method::GET, Method::POST);
        if let Some(rest) = path.strip_prefix("/rest/auth/angelbroking/") {
            return match rest {
                "user/v1/loginByPassword" => Some((post, Route::Login)),
                "jwt/v1/generateTokens" => Some((post, Route::GenerateTokens)),
                _ => None,
            };
        }
        let rest = path.strip_prefix("/rest/secure/angelbroking/")?;
        if let Some(id) = rest.strip_prefix("order/v1/details/") {
            return (!id.is_empty() && !id.contains('/')).then(|| (get, Route::Details(id.to_string())));
        }
        Some(match rest {
            "user/v1/getProfile" => (get, Route::Profile),
            "user/v1/logout" => (post, Route::Logout),
            "user/v1/getRMS" => (get, Route::Rms),
            "order/v1/placeOrder" => (post, Route::Place),
            "order/v1/modifyOrder" => (post, Route::Modify),
            "order/v1/cancelOrder" => (post, Route::Cancel),
            "order/v1/getOrderBook" => (get, Route::OrderBook),
            "order/v1/getTradeBook" => (get, Route::TradeBook),
            "order/v1/getPosition" => (get, Route::Position),
            "portfolio/v1/getHolding" => (get, Route::Holding),
            "portfolio/v1/getAllHolding" => (get, Route::AllHolding),
            "order/v1/getLtpData" => (post, Route::Ltp),
            "market/v1/quote" => (post, Route::Quote),
            "historical/v1/getCandleData" => (post, Route::Candles),
            _ => return None,
        })
    }

    fn class(&self) -> RateClass {
        match self {
            Route::Login => RateClass::Login,
            Route::GenerateTokens => RateClass::GenerateTokens,
            Route::Profile => RateClass::Profile,
            Route::Logout => RateClass::Logout,
            Route::Rms => RateClass::Rms,
            Route::Place => RateClass::PlaceOrder,
            Route::Modify => RateClass::ModifyOrder,
            Route::Cancel => RateClass::CancelOrder,
            Route::OrderBook => RateClass::OrderBook,
            Route::Details(_) => RateClass::OrderDetails,
            Route::TradeBook => RateClass::TradeBook,
            Route::Position => RateClass::Position,
            Route::Holding | Route::AllHolding => RateClass::Holding,
            Route::Ltp => RateClass::LtpData,
            Route::Quote => RateClass::Quote,
            Route::Candles => RateClass::CandleData,
        }
    }
}

fn respond(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, content_type.to_string())], body).into_response()
}

async fn handle(
    AxState(state): AxState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = std::time::Instant::now();
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let mut s = lock(&state);
    let recorded = RecordedRequest {
        method: method.as_str().to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        body: parsed.clone(),
        raw_body: String::from_utf8_lossy(&body).into_owned(),
        received: arrived.saturating_duration_since(s.started),
    };
    s.requests.push(recorded);
    let reply = answer(&mut s, &method, uri.path(), &headers, body.is_empty(), parsed);
    let malformed = s.malformed;
    drop(s);
    render(reply, malformed)
}

/// Sends a reply, garbled as scripted when it is a success.
fn render(reply: Reply, malformed: Option<Malformed>) -> Response {
    let json = "application/json";
    match reply {
        Reply::Raw(status, content_type, body) => respond(status, &content_type, body),
        Reply::Json(status, body) => {
            let text = body.to_string().into_bytes();
            let ok = status == 200 && body.get("status") == Some(&Value::Bool(true));
            match malformed.filter(|_| ok) {
                None => respond(status, json, text),
                Some(Malformed::NotJson) => respond(
                    200,
                    "text/html",
                    b"<html><head><title>Request Rejected</title></head><body>The requested URL was rejected. \
                      Please consult with your administrator.</body></html>"
                        .to_vec(),
                ),
                Some(Malformed::Truncated) => respond(200, json, text[..text.len() / 2].to_vec()),
                Some(Malformed::WrongShape) => respond(
                    200,
                    json,
                    br#"{"status":true,"message":"SUCCESS","errorcode":"","data":"unexpected"}"#.to_vec(),
                ),
                Some(Malformed::MissingData) => {
                    respond(200, json, br#"{"status":true,"message":"SUCCESS","errorcode":""}"#.to_vec())
                }
                Some(Malformed::Empty) => respond(200, json, Vec::new()),
            }
        }
    }
}

fn header_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// The headers every SmartAPI call carries (brokers.md §2.2); the client code the API key
/// belongs to.
fn check_headers(s: &State, headers: &HeaderMap) -> Result<String, Reply> {
    let missing = |name: &str| gateway(400, "AB2000", &format!("Invalid Header - {name} is missing or invalid"));
    let is_ip = |v: Option<&str>| v.is_some_and(|v| v.parse::<IpAddr>().is_ok());
    let json_type = |v: Option<&str>| v.is_some_and(|v| v.to_ascii_lowercase().contains("application/json"));
    if !json_type(header_value(headers, "content-type")) {
        return Err(missing("Content-Type"));
    }
    if !json_type(header_value(headers, "accept")) {
        return Err(missing("Accept"));
    }
    if header_value(headers, "x-sourceid") != Some("WEB") {
        return Err(missing("X-SourceID"));
    }
    if !is_ip(header_value(headers, "x-clientlocalip")) {
        return Err(missing("X-ClientLocalIP"));
    }
    if !is_ip(header_value(headers, "x-clientpublicip")) {
        return Err(missing("X-ClientPublicIP"));
    }
    if header_value(headers, "x-macaddress").is_none_or(str::is_empty) {
        return Err(missing("X-MACAddress"));
    }
    let key = header_value(headers, "x-privatekey").unwrap_or_default();
    let Some(client) = s.client_of_key(key) else {
        return Err(gateway(401, "AG8004", "Invalid API Key"));
    };
    if header_value(headers, "x-usertype") != Some("USER") {
        return Err(business("AB1005", "User type must be USER"));
    }
    Ok(client.to_string())
}

/// The session of a secure call's `Authorization: Bearer <jwt>`, which must be of the
/// request's API key.
fn authenticate(s: &State, headers: &HeaderMap, api_key: &str) -> Result<Owner, Reply> {
    let Some(value) = header_value(headers, "authorization").filter(|v| !v.is_empty()) else {
        return Err(gateway(401, "AG8003", "Token missing"));
    };
    let invalid = || gateway(401, "AG8001", "Invalid Token");
    let jwt = value.strip_prefix("Bearer ").ok_or_else(invalid)?.trim();
    let (owner, state) = s.sessions.jwt(jwt).filter(|(o, _)| o.api_key == api_key).ok_or_else(invalid)?;
    match state {
        TokenState::Live => Ok(owner),
        TokenState::Expired => Err(gateway(401, "AG8002", "Token Expired")),
        TokenState::Revoked => Err(invalid()),
    }
}

/// True when this request is one too many in one of its class's windows for `client`.
fn over_limit(s: &mut State, client: &str, class: RateClass) -> bool {
    let Some(&limit) = s.rate_limits.get(&class) else { return false };
    let now = s.clock.now();
    let mut over = false;
    for (secs, max) in [(1, limit.per_second), (60, limit.per_minute), (3600, limit.per_hour)] {
        let Some(max) = max else { continue };
        let window = s.windows.entry((client.to_string(), class, secs)).or_insert((now, 0));
        if now.saturating_sub(window.0).as_secs() >= secs {
            *window = (now, 0);
        }
        window.1 += 1;
        over |= window.1 > max;
    }
    over
}

fn take_failure(s: &mut State, method: &Method, path: &str) -> Option<Failure> {
    let i = s
        .fail_next
        .iter()
        .position(|f| f.method.as_deref().is_none_or(|m| m == method.as_str()) && path.starts_with(&f.path_prefix))?;
    s.fail_next.remove(i).map(|f| f.failure)
}

fn answer(s: &mut State, method: &Method, path: &str, headers: &HeaderMap, empty: bool, body: Option<Value>) -> Reply {
    let Some((expected, route)) = Route::of(path) else {
        return Reply::Raw(404, "text/plain".into(), b"Not Found".to_vec());
    };
    if *method != expected {
        return Reply::Raw(405, "text/plain".into(), b"Method Not Allowed".to_vec());
    }
    let key_owner = match check_headers(s, headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let api_key = header_value(headers, "x-privatekey").unwrap_or_default().to_string();
    // GET parameters travel in the query (and are ignored); POST bodies are JSON objects.
    let body = match (expected == Method::POST, body) {
        (false, _) => Value::Object(Default::default()),
        (true, Some(v @ Value::Object(_))) => v,
        (true, _) if empty => return business("AB2000", "Request body is missing"),
        (true, _) => return gateway(400, "AB2000", "Request body is not a JSON object"),
    };
    let owner = match route {
        Route::Login | Route::GenerateTokens => None,
        _ => match authenticate(s, headers, &api_key) {
            Ok(o) => Some(o),
            Err(r) => return r,
        },
    };
    let client = match &owner {
        Some(o) => o.client_code.clone(),
        None if route == Route::Login => text_field(&body, "clientcode").unwrap_or(key_owner),
        None => key_owner,
    };
    if over_limit(s, &client, route.class()) {
        return rate_limited();
    }
    if let Some(f) = take_failure(s, method, path) {
        return f.reply();
    }
    let Some(owner) = owner else {
        return if route == Route::Login {
            session::login(s, &api_key, &body)
        } else {
            session::generate_tokens(s, &api_key, &body)
        };
    };
    let user = owner.client_code.as_str();
    let listed = |list: Vec<Value>| if list.is_empty() { success(Value::Null) } else { success(Value::Array(list)) };
    match route {
        Route::Profile => session::profile(s, &owner),
        Route::Logout => session::logout(s, &owner, &body),
        Route::Rms => success(s.book.rms_json(user)),
        Route::Place => orders::place(s, user, &body),
        Route::Modify => orders::modify(s, user, &body),
        Route::Cancel => orders::cancel(s, user, &body),
        Route::OrderBook => {
            listed(s.book.orders.iter().filter(|o| o.client_code == user).map(|o| o.to_json(false)).collect())
        }
        Route::Details(id) => match s.book.orders.iter().find(|o| o.client_code == user && o.uniqueorderid == id) {
            Some(o) => success(o.to_json(true)),
            None => business("AB1013", "Order not found"),
        },
        Route::TradeBook => {
            listed(s.book.trades.iter().filter(|t| t.client_code == user).map(|t| t.to_json()).collect())
        }
        Route::Position => listed(s.book.positions_json(user)),
        Route::Holding => success(Value::Array(s.book.holdings_json(user))),
        Route::AllHolding => success(s.book.all_holdings_json(user)),
        Route::Ltp => market::ltp(s, &body),
        Route::Quote => market::quote(s, &body),
        Route::Candles => market::candles(s, &body),
        Route::Login | Route::GenerateTokens => business("AB2001", "Internal error"),
    }
}
