//! The fake's HTTP side: one handler that records the request, checks Kite's headers and
//! session, applies scripted failures and rate limits, and dispatches on method and path.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::book::{is_working, round2, FakeOrder};
use super::{Malformed, RateClass, RecordedRequest, SessionState, State};

type Shared = Arc<Mutex<State>>;

pub(super) fn router(state: Shared) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// An answer before it is garbled (or not) and sent.
struct Answer {
    status: u16,
    body: Value,
}

fn success(data: Value) -> Answer {
    Answer { status: 200, body: json!({"status": "success", "data": data}) }
}

fn error(status: u16, error_type: &str, message: &str) -> Answer {
    Answer { status, body: json!({"status": "error", "message": message, "error_type": error_type, "data": null}) }
}

fn input(message: &str) -> Answer {
    error(400, "InputException", message)
}

fn token_error(message: &str) -> Answer {
    error(403, "TokenException", message)
}

fn respond(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, content_type.to_string())], body).into_response()
}

fn pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(text).map_err(|e| e.to_string())
}

async fn handle(
    AxState(state): AxState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = std::time::Instant::now();
    let query = pairs(uri.query().unwrap_or_default());
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form = if body.is_empty() { Ok(Vec::new()) } else { pairs(&String::from_utf8_lossy(&body)) };
    let mut recorded = RecordedRequest {
        method: method.as_str().to_string(),
        path: uri.path().to_string(),
        query: query.clone().unwrap_or_default(),
        form: form.clone().unwrap_or_default(),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        received: std::time::Duration::ZERO,
    };
    let mut s = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    recorded.received = arrived.saturating_duration_since(s.started);
    s.requests.push(recorded);
    let answer = match (query, form) {
        (Err(e), _) => input(&format!("Malformed query: {e}")),
        (_, Err(e)) => input(&format!("Malformed form body: {e}")),
        (Ok(_), Ok(_)) if !body.is_empty() && !is_form => {
            input("POST and PUT bodies must be application/x-www-form-urlencoded")
        }
        (Ok(q), Ok(f)) => answer(&mut s, &method, uri.path(), &headers, &q, &f),
    };
    let malformed = s.malformed;
    drop(s);
    let text = answer.body.to_string().into_bytes();
    match malformed {
        Some(how) if answer.status == 200 => match how {
            Malformed::NotJson => respond(200, "text/html", b"<html><body>502 Bad Gateway</body></html>".to_vec()),
            Malformed::Truncated => respond(200, "application/json", text[..text.len() / 2].to_vec()),
            Malformed::WrongShape => {
                respond(200, "application/json", br#"{"status":"success","data":"unexpected"}"#.to_vec())
            }
            Malformed::MissingData => respond(200, "application/json", br#"{"status":"success"}"#.to_vec()),
            Malformed::Empty => respond(200, "application/json", Vec::new()),
        },
        _ => respond(answer.status, "application/json", text),
    }
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn rate_class(method: &Method, path: &str) -> RateClass {
    if path.starts_with("/quote") {
        RateClass::Quote
    } else if path.starts_with("/instruments/historical/") {
        RateClass::Historical
    } else if path.starts_with("/orders/") && *method != Method::GET {
        RateClass::Orders
    } else {
        RateClass::Other
    }
}

/// True when this request is one too many in its one-second window.
fn over_limit(s: &mut State, client: &str, class: RateClass) -> bool {
    let Some(&limit) = s.rate_limits.get(&class) else { return false };
    let now = s.clock.now();
    let window = s.windows.entry((client.to_string(), class)).or_insert((now, 0));
    if now.saturating_sub(window.0).as_secs_f64() >= 1.0 {
        *window = (now, 0);
    }
    window.1 += 1;
    window.1 > limit
}

/// The session a request's `Authorization: token api_key:access_token` names.
fn authenticate(s: &State, headers: &HeaderMap) -> Result<SessionState, Answer> {
    let bad = || token_error("Incorrect `api_key` or `access_token`.");
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(bad)?;
    let (api_key, token) = value.strip_prefix("token ").and_then(|v| v.split_once(':')).ok_or_else(bad)?;
    let session = s.sessions.get(token).filter(|sess| sess.api_key == api_key).ok_or_else(bad)?;
    if session.expired {
        return Err(token_error("Token is invalid or has expired."));
    }
    Ok(session.clone())
}

fn answer(
    s: &mut State,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    query: &[(String, String)],
    form: &[(String, String)],
) -> Answer {
    if headers.get("x-kite-version").and_then(|v| v.to_str().ok()) != Some("3") {
        return input("Invalid or missing `X-Kite-Version` header (expected 3).");
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let login = matches!((method, segments.as_slice()), (&Method::POST, ["session", "token"]));
    let logout = matches!((method, segments.as_slice()), (&Method::DELETE, ["session", "token"]));
    let session = if login || logout {
        None
    } else {
        match authenticate(s, headers) {
            Ok(sess) => Some(sess),
            Err(a) => return a,
        }
    };
    let client = match &session {
        Some(sess) => sess.user_id.clone(),
        None => field(form, "api_key").or(field(query, "api_key")).unwrap_or_default().to_string(),
    };
    if over_limit(s, &client, rate_class(method, path)) {
        return error(429, "NetworkException", "Too many requests");
    }
    if let Some(i) = s
        .fail_next
        .iter()
        .position(|f| f.method.as_deref().is_none_or(|m| m == method.as_str()) && path.starts_with(&f.path_prefix))
    {
        if let Some(f) = s.fail_next.remove(i) {
            return error(f.status, &f.error_type, &f.message);
        }
    }
    let Some(session) = session else {
        return if login { create_session(s, form) } else { delete_session(s, query) };
    };
    let user = session.user_id.as_str();
    match (method, segments.as_slice()) {
        (&Method::GET, ["user", "profile"]) => profile(s, user),
        (&Method::GET, ["user", "margins"]) => success(s.book.margins_json(user)),
        (&Method::GET, ["user", "margins", segment]) => match s.book.margins_json(user).get(*segment) {
            Some(v) => success(v.clone()),
            None => input("Invalid segment."),
        },
        (&Method::POST, ["orders", variety]) => place(s, user, variety, form),
        (&Method::PUT, ["orders", variety, order_id]) => modify(s, user, variety, order_id, form),
        (&Method::DELETE, ["orders", variety, order_id]) => cancel(s, user, variety, order_id),
        (&Method::GET, ["orders"]) => {
            success(Value::Array(s.book.orders.iter().filter(|o| o.user_id == user).map(FakeOrder::to_json).collect()))
        }
        (&Method::GET, ["orders", order_id]) => match own_order(s, user, order_id) {
            Some(i) => success(Value::Array(s.book.orders[i].history.clone())),
            None => error(400, "OrderException", "Couldn't find that `order_id`."),
        },
        (&Method::GET, ["orders", order_id, "trades"]) => success(trades_json(s, user, |t| t.order_id == *order_id)),
        (&Method::GET, ["trades"]) => success(trades_json(s, user, |_| true)),
        (&Method::GET, ["portfolio", "positions"]) => success(s.book.positions_json(user)),
        (&Method::GET, ["portfolio", "holdings"]) => success(s.book.holdings_json(user)),
        (&Method::GET, ["quote", "ltp"]) => {
            quotes(s, query, |i| json!({"instrument_token": i.token, "last_price": i.last_price}))
        }
        (&Method::GET, ["quote", "ohlc"]) => quotes(s, query, |i| {
            json!({"instrument_token": i.token, "last_price": i.last_price,
                   "ohlc": {"open": i.ohlc[0], "high": i.ohlc[1], "low": i.ohlc[2], "close": i.ohlc[3]}})
        }),
        (&Method::GET, ["quote"]) => quotes(s, query, full_quote),
        (&Method::GET, ["instruments", "historical", token, interval]) => historical(s, token, interval, query),
        _ => error(404, "GeneralException", "Route not found"),
    }
}

fn own_order(s: &State, user: &str, order_id: &str) -> Option<usize> {
    s.book.order_index(order_id).filter(|&i| s.book.orders[i].user_id == user)
}

fn trades_json(s: &State, user: &str, keep: impl Fn(&super::book::FakeTrade) -> bool) -> Value {
    Value::Array(s.book.trades.iter().filter(|t| t.user_id == user && keep(t)).map(|t| t.to_json()).collect())
}

fn create_session(s: &mut State, form: &[(String, String)]) -> Answer {
    let (Some(api_key), Some(request_token), Some(checksum)) =
        (field(form, "api_key"), field(form, "request_token"), field(form, "checksum"))
    else {
        return input("Missing `api_key`, `request_token` or `checksum`.");
    };
    let Some(app) = s.apps.get(api_key).cloned() else { return input("Invalid `api_key`.") };
    let mut h = Sha256::new();
    h.update(api_key.as_bytes());
    h.update(request_token.as_bytes());
    h.update(app.api_secret.as_bytes());
    if crate::hex::encode(&h.finalize()) != checksum {
        return token_error("Invalid `checksum`.");
    }
    match s.request_tokens.remove(request_token) {
        Some((key, _)) if key == api_key => {}
        _ => return token_error("Token is invalid or has expired."),
    }
    let access_token = s.new_token("acc");
    let public_token = s.new_token("pub");
    let enctoken = s.new_token("enc");
    s.sessions.insert(
        access_token.clone(),
        SessionState { api_key: api_key.to_string(), user_id: app.user_id.clone(), expired: false },
    );
    let login_time = s.book.tick();
    let Some(mut v) = profile_json(s, &app.user_id) else { return error(500, "GeneralException", "No account") };
    if let Some(o) = v.as_object_mut() {
        for (k, x) in [
            ("api_key", json!(api_key)),
            ("access_token", json!(access_token)),
            ("public_token", json!(public_token)),
            ("enctoken", json!(enctoken)),
            ("refresh_token", json!("")),
            ("silo", json!("")),
            ("login_time", json!(login_time)),
        ] {
            o.insert(k.to_string(), x);
        }
    }
    success(v)
}

fn delete_session(s: &mut State, query: &[(String, String)]) -> Answer {
    let (Some(api_key), Some(token)) = (field(query, "api_key"), field(query, "access_token")) else {
        return input("Missing `api_key` or `access_token`.");
    };
    match s.sessions.get_mut(token) {
        Some(sess) if sess.api_key == api_key && !sess.expired => {
            sess.expired = true;
            success(json!(true))
        }
        _ => token_error("Incorrect `api_key` or `access_token`."),
    }
}

fn profile(s: &State, user: &str) -> Answer {
    match profile_json(s, user) {
        Some(v) => success(v),
        None => error(500, "GeneralException", "No account"),
    }
}

/// The user's profile as `GET /user/profile` gives it; a new session's answer adds its tokens.
fn profile_json(s: &State, user: &str) -> Option<Value> {
    let a = s.book.accounts.get(user)?;
    Some(json!({
        "user_id": a.user_id,
        "user_type": "individual",
        "email": a.email,
        "user_name": a.user_name,
        "user_shortname": a.user_name.split(' ').next_back().unwrap_or_default(),
        "broker": "ZERODHA",
        "exchanges": ["NSE", "BSE", "NFO", "BFO", "CDS", "MCX"],
        "products": ["CNC", "NRML", "MIS", "BO", "CO"],
        "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
        "avatar_url": null,
        "meta": {"demat_consent": "physical"},
    }))
}

/// A decimal form field, or an input error naming it.
fn number<T: std::str::FromStr>(form: &[(String, String)], name: &str) -> Result<Option<T>, Answer> {
    match field(form, name) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| input(&format!("Invalid `{name}`."))),
    }
}

fn price_field(form: &[(String, String)], name: &str) -> Result<Option<f64>, Answer> {
    match number::<f64>(form, name)? {
        Some(p) if !p.is_finite() || p < 0.0 => Err(input(&format!("Invalid `{name}`."))),
        p => Ok(p),
    }
}

fn one_of<'a>(form: &'a [(String, String)], name: &str, allowed: &[&str]) -> Result<&'a str, Answer> {
    match field(form, name) {
        Some(v) if allowed.contains(&v) => Ok(v),
        _ => Err(input(&format!("Invalid `{name}`."))),
    }
}

fn place(s: &mut State, user: &str, variety: &str, form: &[(String, String)]) -> Answer {
    match parse_order(s, user, variety, form) {
        Ok(order) => accept(s, order),
        Err(a) => a,
    }
}

fn parse_order(s: &mut State, user: &str, variety: &str, form: &[(String, String)]) -> Result<FakeOrder, Answer> {
    if !matches!(variety, "regular" | "amo") {
        return Err(input("Invalid `variety`."));
    }
    let exchange = one_of(form, "exchange", &["NSE", "BSE", "NFO", "CDS", "BFO", "MCX", "BCD"])?;
    let tradingsymbol = field(form, "tradingsymbol").unwrap_or_default();
    let instrument = s
        .book
        .instruments
        .get(&(exchange.to_string(), tradingsymbol.to_string()))
        .ok_or_else(|| input("Invalid `tradingsymbol`."))?
        .clone();
    let transaction_type = one_of(form, "transaction_type", &["BUY", "SELL"])?;
    let order_type = one_of(form, "order_type", &["MARKET", "LIMIT", "SL", "SL-M"])?;
    let product = one_of(form, "product", &["CNC", "MIS", "NRML", "MTF"])?;
    let validity = match field(form, "validity") {
        None => "DAY",
        Some(_) => one_of(form, "validity", &["DAY", "IOC", "TTL"])?,
    };
    let quantity: i64 = number(form, "quantity")?.filter(|q| *q > 0).ok_or_else(|| input("Invalid `quantity`."))?;
    let price = price_field(form, "price")?;
    let trigger_price = price_field(form, "trigger_price")?;
    if matches!(order_type, "LIMIT" | "SL") && price.is_none_or(|p| p <= 0.0) {
        return Err(input("Price must be set for LIMIT and SL orders."));
    }
    if matches!(order_type, "SL" | "SL-M") && trigger_price.is_none_or(|p| p <= 0.0) {
        return Err(input("Trigger price must be set for SL and SL-M orders."));
    }
    let tag = field(form, "tag").filter(|t| !t.is_empty());
    if tag.is_some_and(|t| t.len() > 20 || !t.bytes().all(|b| b.is_ascii_alphanumeric())) {
        return Err(input("Invalid `tag`: up to 20 letters and digits."));
    }
    let order_id = s.book.new_order_id();
    let order_timestamp = s.book.tick();
    Ok(FakeOrder {
        user_id: user.to_string(),
        order_id,
        exchange_order_id: None,
        variety: variety.to_string(),
        exchange: exchange.to_string(),
        tradingsymbol: tradingsymbol.to_string(),
        instrument_token: instrument.token,
        transaction_type: transaction_type.to_string(),
        order_type: order_type.to_string(),
        product: product.to_string(),
        validity: validity.to_string(),
        quantity,
        disclosed_quantity: number(form, "disclosed_quantity")?.unwrap_or(0),
        price: if matches!(order_type, "LIMIT" | "SL") { price.unwrap_or(0.0) } else { 0.0 },
        trigger_price: if matches!(order_type, "SL" | "SL-M") { trigger_price.unwrap_or(0.0) } else { 0.0 },
        filled_quantity: 0,
        filled_value: 0.0,
        cancelled_quantity: 0,
        status: String::new(),
        status_message: None,
        tag: tag.map(str::to_string),
        modified: false,
        modifications: 0,
        order_timestamp,
        exchange_timestamp: None,
        history: Vec::new(),
    })
}

/// Walks a new order through Kite's statuses: received, validated, then rejected (scripted
/// or for margin), queued as an AMO, waiting for its trigger, or open — and a MARKET or
/// marketable IOC order fills at the last price when auto-fill is on.
fn accept(s: &mut State, order: FakeOrder) -> Answer {
    let order_id = order.order_id.clone();
    let shortfall = s.book.margin_shortfall(&order);
    let amo = order.variety == "amo";
    s.book.orders.push(order);
    let i = s.book.orders.len() - 1;
    s.book.record(i, "PUT ORDER REQ RECEIVED");
    s.book.record(i, "VALIDATION PENDING");
    let rejection = s.reject_next.pop_front().or_else(|| {
        shortfall.map(|(required, available)| {
            format!("Insufficient funds. Required margin is {required:.2} but available margin is {available:.2}.")
        })
    });
    if let Some(reason) = rejection {
        let _ = s.book.reject(i, &reason);
        return success(json!({"order_id": order_id}));
    }
    if amo {
        s.book.record(i, "AMO REQ RECEIVED");
        return success(json!({"order_id": order_id}));
    }
    s.book.record(i, "OPEN PENDING");
    if let Some(o) = s.book.orders.get_mut(i) {
        o.exchange_order_id = Some(format!("1100000{:012}", i + 1));
    }
    let o = s.book.orders[i].clone();
    if matches!(o.order_type.as_str(), "SL" | "SL-M") {
        s.book.record(i, "TRIGGER PENDING");
        return success(json!({"order_id": order_id}));
    }
    s.book.record(i, "OPEN");
    let ltp = s.book.last_price(&o.exchange, &o.tradingsymbol);
    let marketable = o.order_type == "MARKET"
        || (o.validity == "IOC"
            && ((o.transaction_type == "BUY" && o.price >= ltp) || (o.transaction_type == "SELL" && o.price <= ltp)));
    if s.auto_fill && ltp > 0.0 && marketable {
        let _ = s.book.fill(i, o.quantity, ltp);
    }
    if o.validity == "IOC" && is_working(&s.book.orders[i].status) {
        let _ = s.book.cancel(i, Some("IOC order cancelled: no match."));
    }
    success(json!({"order_id": order_id}))
}

fn modify(s: &mut State, user: &str, variety: &str, order_id: &str, form: &[(String, String)]) -> Answer {
    let Some(i) = own_order(s, user, order_id) else {
        return error(400, "OrderException", "Couldn't find that `order_id`.");
    };
    let o = s.book.orders[i].clone();
    if o.variety != variety {
        return input("Invalid `variety` for this order.");
    }
    if !is_working(&o.status) {
        return input(&format!("Order cannot be modified as it is {}.", o.status.to_lowercase()));
    }
    if o.modifications >= 25 {
        return input("Maximum allowed order modifications exceeded.");
    }
    let quantity = match number::<i64>(form, "quantity") {
        Ok(q) => q,
        Err(a) => return a,
    };
    let (price, trigger_price) = match (price_field(form, "price"), price_field(form, "trigger_price")) {
        (Ok(p), Ok(t)) => (p, t),
        (Err(a), _) | (_, Err(a)) => return a,
    };
    let order_type = match field(form, "order_type") {
        None => o.order_type.clone(),
        Some(_) => match one_of(form, "order_type", &["MARKET", "LIMIT", "SL", "SL-M"]) {
            Ok(t) => t.to_string(),
            Err(a) => return a,
        },
    };
    let validity = match field(form, "validity") {
        None => o.validity.clone(),
        Some(_) => match one_of(form, "validity", &["DAY", "IOC", "TTL"]) {
            Ok(v) => v.to_string(),
            Err(a) => return a,
        },
    };
    if quantity.is_some_and(|q| q <= o.filled_quantity) {
        return input("Invalid `quantity`: not above what is filled.");
    }
    s.book.record(i, "MODIFY VALIDATION PENDING");
    s.book.record(i, "MODIFY PENDING");
    if let Some(m) = s.book.orders.get_mut(i) {
        m.quantity = quantity.unwrap_or(m.quantity);
        m.price = price.map(round2).unwrap_or(m.price);
        m.trigger_price = trigger_price.map(round2).unwrap_or(m.trigger_price);
        m.order_type = order_type;
        m.validity = validity;
        m.disclosed_quantity =
            field(form, "disclosed_quantity").and_then(|d| d.parse().ok()).unwrap_or(m.disclosed_quantity);
        m.modified = true;
        m.modifications += 1;
    }
    s.book.record(i, "MODIFIED");
    let back = if o.status == "OPEN" { "OPEN" } else { o.status.as_str() };
    s.book.record(i, back);
    success(json!({"order_id": order_id}))
}

fn cancel(s: &mut State, user: &str, variety: &str, order_id: &str) -> Answer {
    let Some(i) = own_order(s, user, order_id) else {
        return error(400, "OrderException", "Couldn't find that `order_id`.");
    };
    if s.book.orders[i].variety != variety {
        return input("Invalid `variety` for this order.");
    }
    match s.book.cancel(i, None) {
        Ok(()) => success(json!({"order_id": order_id})),
        Err(message) => input(&message),
    }
}

fn quotes(s: &State, query: &[(String, String)], render: impl Fn(&super::book::Instrument) -> Value) -> Answer {
    let keys: Vec<&str> = query.iter().filter(|(k, _)| k == "i").map(|(_, v)| v.as_str()).collect();
    if keys.is_empty() {
        return input("No instruments given (`i`).");
    }
    let mut data = serde_json::Map::new();
    for key in keys {
        let Some((exchange, symbol)) = key.split_once(':') else { continue };
        if let Some(i) = s.book.instruments.get(&(exchange.to_string(), symbol.to_string())) {
            data.insert(key.to_string(), render(i));
        }
    }
    success(Value::Object(data))
}

fn full_quote(i: &super::book::Instrument) -> Value {
    let level = |price: f64| json!({"price": price, "quantity": 0, "orders": 0});
    json!({
        "instrument_token": i.token,
        "timestamp": "2026-01-05 09:15:00",
        "last_trade_time": "2026-01-05 09:15:00",
        "last_price": i.last_price,
        "last_quantity": 0,
        "buy_quantity": 0,
        "sell_quantity": 0,
        "volume": i.volume,
        "average_price": i.last_price,
        "oi": 0,
        "oi_day_high": 0,
        "oi_day_low": 0,
        "net_change": round2(i.last_price - i.ohlc[3]),
        "lower_circuit_limit": round2(i.last_price * 0.8),
        "upper_circuit_limit": round2(i.last_price * 1.2),
        "ohlc": {"open": i.ohlc[0], "high": i.ohlc[1], "low": i.ohlc[2], "close": i.ohlc[3]},
        "depth": {
            "buy": (0..5).map(|_| level(0.0)).collect::<Vec<_>>(),
            "sell": (0..5).map(|_| level(0.0)).collect::<Vec<_>>(),
        },
    })
}

/// Candles whose time lies in `[from, to]`; the seventh element (oi) only when `oi=1`.
fn historical(s: &State, token: &str, interval: &str, query: &[(String, String)]) -> Answer {
    let (Some(from), Some(to)) = (field(query, "from"), field(query, "to")) else {
        return input("Missing `from` or `to`.");
    };
    let Ok(token) = token.parse::<u64>() else { return input("Invalid `instrument_token`.") };
    let with_oi = field(query, "oi") == Some("1");
    let key = |t: &str| t.get(..19).unwrap_or(t).replace('T', " ");
    let candles: Vec<Value> = s
        .book
        .candles
        .get(&(token, interval.to_string()))
        .map(|rows| {
            rows.iter()
                .filter(|row| {
                    let t = key(row.get(0).and_then(Value::as_str).unwrap_or_default());
                    t.as_str() >= from && t.as_str() <= to
                })
                .map(|row| match (row.as_array(), with_oi) {
                    (Some(a), false) => Value::Array(a.iter().take(6).cloned().collect()),
                    _ => row.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    success(json!({ "candles": candles }))
}
