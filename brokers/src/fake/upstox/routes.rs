//! The fake's HTTP side: one handler per host that records the request, checks what a
//! gateway in front of Upstox would check, in this order — the route (and that order writes
//! come to the order host and nothing else does), the method, `Accept`, the `Api-Version` of v2
//! calls, the Bearer token, the rate limit, a scripted failure — then dispatches on the path.
//!
//! The fake's own choices, the sources being silent: an unknown path or a non-order path on
//! the order host is 404 UDAPI10000, a wrong method 405 UDAPI10000, an `Accept` that excludes
//! JSON 406 UDAPI10000, a body that is not a JSON object 400 UDAPI100036. v2 calls need
//! `Api-Version: 2.0` where the SDK sends it (every v2 path but the browser dialog and
//! `/v2/order/details`), else 400 UDAPI100015. Candles are public, as the SDK calls them
//! without a token; every other call but the login needs one.

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use super::session::{self, Owner};
use super::{
    feed, lock, market, orders, portfolio, Failure, Host, Malformed, RateClass, RecordedRequest, Shared, State,
};

pub(super) fn router(state: Shared, host: Host) -> Router {
    Router::new().fallback(handle).with_state((state, host))
}

/// An answer before it is garbled (or not) and sent.
pub(super) enum Reply {
    Json(u16, Value),
    Raw(u16, String, Vec<u8>),
    /// HTTP 302 to this URL.
    Redirect(String),
}

pub(super) fn success(data: Value) -> Reply {
    Reply::Json(200, json!({"status": "success", "data": data}))
}

/// A v3 order call's answer, with Upstox's latency (a fixed, made-up number of milliseconds).
pub(super) fn success_v3(data: Value) -> Reply {
    Reply::Json(200, json!({"status": "success", "data": data, "metadata": {"latency": 7}}))
}

/// Upstox's error envelope with one error, in both casings as the docs show it.
pub(super) fn error(
    status: u16,
    code: &str,
    message: &str,
    property_path: Option<&str>,
    invalid_value: Option<&str>,
) -> Reply {
    Reply::Json(
        status,
        json!({"status": "error", "errors": [{
            "errorCode": code, "message": message, "propertyPath": property_path, "invalidValue": invalid_value,
            "error_code": code, "property_path": property_path, "invalid_value": invalid_value,
        }]}),
    )
}

/// A 400 UDAPI100036 naming the field.
pub(super) fn invalid_input(field: &str) -> Reply {
    error(400, "UDAPI100036", "Invalid Input", Some(field), None)
}

pub(super) fn rate_limited() -> Reply {
    error(429, "UDAPI10005", "Too Many Request Sent", None, None)
}

fn unsupported(status: u16) -> Reply {
    error(status, "UDAPI10000", "This request is not supported by Upstox API", None, None)
}

impl Failure {
    fn reply(self) -> Reply {
        match self {
            Failure::Error { status, code, message } => error(status, &code, &message, None, None),
            Failure::RateLimited => rate_limited(),
            Failure::Raw { status, content_type, body } => Reply::Raw(status, content_type, body.into_bytes()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Version {
    V2,
    V3,
}

/// The endpoints the fake serves.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    Dialog,
    Token,
    Logout,
    Profile,
    Funds,
    Place(Version),
    Modify(Version),
    Cancel(Version),
    OrderBook,
    Details,
    History,
    Trades,
    OrderTrades,
    Positions,
    Holdings,
    Ltp(Version),
    Quotes,
    /// The decoded path segments after the prefix.
    Candles(Version, Vec<String>),
    FeedAuthorize,
    FeedRedirect,
    PortfolioAuthorize,
    PortfolioRedirect,
}

/// `%XX` sequences decoded (a path segment as the SDK quotes it); `None` when not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (b, hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

impl Route {
    /// The route at `path` and the method it takes.
    fn of(path: &str) -> Option<(Method, Route)> {
        let (get, post, put, delete) = (Method::GET, Method::POST, Method::PUT, Method::DELETE);
        for (prefix, version) in [("/v2/historical-candle/", Version::V2), ("/v3/historical-candle/", Version::V3)] {
            if let Some(rest) = path.strip_prefix(prefix) {
                let segments = rest.split('/').map(percent_decode).collect::<Option<Vec<_>>>()?;
                return Some((get, Route::Candles(version, segments)));
            }
        }
        Some(match path {
            "/v2/login/authorization/dialog" => (get, Route::Dialog),
            "/v2/login/authorization/token" => (post, Route::Token),
            "/v2/logout" => (delete, Route::Logout),
            "/v2/user/profile" => (get, Route::Profile),
            "/v2/user/get-funds-and-margin" => (get, Route::Funds),
            "/v2/order/place" => (post, Route::Place(Version::V2)),
            "/v3/order/place" => (post, Route::Place(Version::V3)),
            "/v2/order/modify" => (put, Route::Modify(Version::V2)),
            "/v3/order/modify" => (put, Route::Modify(Version::V3)),
            "/v2/order/cancel" => (delete, Route::Cancel(Version::V2)),
            "/v3/order/cancel" => (delete, Route::Cancel(Version::V3)),
            "/v2/order/retrieve-all" => (get, Route::OrderBook),
            "/v2/order/details" => (get, Route::Details),
            "/v2/order/history" => (get, Route::History),
            "/v2/order/trades/get-trades-for-day" => (get, Route::Trades),
            "/v2/order/trades" => (get, Route::OrderTrades),
            "/v2/portfolio/short-term-positions" => (get, Route::Positions),
            "/v2/portfolio/long-term-holdings" => (get, Route::Holdings),
            "/v2/market-quote/ltp" => (get, Route::Ltp(Version::V2)),
            "/v3/market-quote/ltp" => (get, Route::Ltp(Version::V3)),
            "/v2/market-quote/quotes" => (get, Route::Quotes),
            "/v3/feed/market-data-feed/authorize" => (get, Route::FeedAuthorize),
            "/v3/feed/market-data-feed" => (get, Route::FeedRedirect),
            "/v2/feed/portfolio-stream-feed/authorize" => (get, Route::PortfolioAuthorize),
            "/v2/feed/portfolio-stream-feed" => (get, Route::PortfolioRedirect),
            _ => return None,
        })
    }

    /// The endpoint's name, for its rate-limit windows.
    fn name(&self) -> String {
        match self {
            Route::Candles(v, _) => format!("{v:?} candles"),
            other => format!("{other:?}"),
        }
    }

    fn class(&self) -> RateClass {
        match self {
            Route::Token => RateClass::Login,
            Route::Place(_) | Route::Modify(_) | Route::Cancel(_) => RateClass::Orders,
            _ => RateClass::Standard,
        }
    }

    fn on_order_host(&self) -> bool {
        matches!(self, Route::Place(_) | Route::Modify(_) | Route::Cancel(_))
    }

    fn needs_version(&self, path: &str) -> bool {
        path.starts_with("/v2/") && !matches!(self, Route::Dialog | Route::Details)
    }
}

fn respond(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, content_type.to_string())], body).into_response()
}

fn header_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// What the handler read from a request.
struct Incoming {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Option<Value>,
    form: Vec<(String, String)>,
}

impl Incoming {
    fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

async fn handle(
    AxState((state, host)): AxState<(Shared, Host)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = std::time::Instant::now();
    let query: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    let is_form = header_value(&headers, "content-type")
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let form: Vec<(String, String)> =
        if is_form { serde_urlencoded::from_bytes(&body).unwrap_or_default() } else { Vec::new() };
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let mut s = lock(&state);
    let received = arrived.saturating_duration_since(s.started);
    s.requests.push(RecordedRequest {
        host,
        method: method.as_str().to_string(),
        path: uri.path().to_string(),
        query: query.clone(),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        body: parsed.clone(),
        form: form.clone(),
        raw_body: String::from_utf8_lossy(&body).into_owned(),
        received,
    });
    let incoming = Incoming { method, path: uri.path().to_string(), query, headers, body: parsed, form };
    let reply = answer(&mut s, host, &incoming);
    let malformed = s.malformed;
    drop(s);
    render(reply, malformed)
}

/// Sends a reply, garbled as scripted when it is a success.
fn render(reply: Reply, malformed: Option<Malformed>) -> Response {
    let json = "application/json";
    match reply {
        Reply::Raw(status, content_type, body) => respond(status, &content_type, body),
        Reply::Redirect(url) => (StatusCode::FOUND, [(header::LOCATION, url)]).into_response(),
        Reply::Json(status, body) => {
            let text = body.to_string().into_bytes();
            match malformed.filter(|_| status == 200) {
                None => respond(status, json, text),
                Some(Malformed::NotJson) => respond(
                    200,
                    "text/html",
                    b"<html><head><title>Request Rejected</title></head><body>The requested URL was rejected. \
                      Please consult with your administrator.</body></html>"
                        .to_vec(),
                ),
                Some(Malformed::Truncated) => respond(200, json, text[..text.len() / 2].to_vec()),
                Some(Malformed::WrongShape) => {
                    respond(200, json, br#"{"status":"success","data":"unexpected"}"#.to_vec())
                }
                Some(Malformed::MissingData) => respond(200, json, br#"{"status":"success"}"#.to_vec()),
                Some(Malformed::Empty) => respond(200, json, Vec::new()),
            }
        }
    }
}

/// True when this request is one too many in one of its class's windows for `who`.
fn over_limit(s: &mut State, who: &str, route: &Route) -> bool {
    let Some(&limit) = s.rate_limits.get(&route.class()) else { return false };
    let now = s.clock.now();
    let mut over = false;
    for (secs, max) in [(1, limit.per_second), (60, limit.per_minute), (1800, limit.per_30_minutes)] {
        let Some(max) = max else { continue };
        let window = s.windows.entry((who.to_string(), route.name(), secs)).or_insert((now, 0));
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

fn answer(s: &mut State, host: Host, req: &Incoming) -> Reply {
    let Some((expected, route)) = Route::of(&req.path) else { return unsupported(404) };
    if host == Host::Hft && !route.on_order_host() {
        return unsupported(404);
    }
    if req.method != expected {
        return unsupported(405);
    }
    let accept = header_value(&req.headers, "accept");
    if route != Route::Dialog && accept.is_some_and(|a| !a.contains("application/json") && !a.contains("*/*")) {
        return unsupported(406);
    }
    if route.needs_version(&req.path) && header_value(&req.headers, "api-version") != Some("2.0") {
        return error(400, "UDAPI100015", "API Version does not exist", None, None);
    }
    // Candles are public: the SDK sends no token for them (a token sent is not checked).
    let public = matches!(route, Route::Candles(..));
    let owner = match route {
        Route::Dialog | Route::Token | Route::Candles(..) => None,
        _ => match session::authenticate(s, header_value(&req.headers, "authorization"), req.method == Method::GET) {
            Ok(o) => Some(o),
            Err(r) => return r,
        },
    };
    if route == Route::Dialog {
        return session::dialog(s, &req.query);
    }
    let who = match &owner {
        Some(o) => o.user_id.clone(),
        None if public => "public".to_string(),
        None => req.form.iter().find(|(k, _)| k == "client_id").map(|(_, v)| v.clone()).unwrap_or_default(),
    };
    if over_limit(s, &who, &route) {
        return rate_limited();
    }
    if let Some(f) = take_failure(s, &req.method, &req.path) {
        return f.reply();
    }
    if let Route::Candles(version, segments) = &route {
        return market::candles(s, *version, segments);
    }
    let Some(owner) = owner else { return session::token(s, &req.form) };
    dispatch(s, &route, &owner, req)
}

/// The JSON object body of a place or modify.
fn object_body(req: &Incoming) -> Result<&Value, Reply> {
    match &req.body {
        Some(v @ Value::Object(_)) => Ok(v),
        _ => Err(invalid_input("body")),
    }
}

fn dispatch(s: &mut State, route: &Route, owner: &Owner, req: &Incoming) -> Reply {
    let user = owner.user_id.as_str();
    match route {
        Route::Logout => session::logout(s, owner),
        Route::Profile => session::profile(s, owner),
        Route::Funds => match req.param("segment") {
            None => success(s.book.funds_json(user, true, true)),
            Some("SEC") => success(s.book.funds_json(user, true, false)),
            Some("COM") => success(s.book.funds_json(user, false, true)),
            Some(other) => error(400, "UDAPI100036", "Invalid Input", Some("segment"), Some(other)),
        },
        Route::Place(v) => match object_body(req) {
            Ok(body) => orders::place(s, user, body, *v),
            Err(r) => r,
        },
        Route::Modify(v) => match object_body(req) {
            Ok(body) => orders::modify(s, user, body, *v),
            Err(r) => r,
        },
        Route::Cancel(v) => orders::cancel(s, user, req.param("order_id"), *v),
        Route::OrderBook => success(Value::Array(s.book.orders_of(user).map(|o| o.to_json()).collect())),
        Route::Details => match orders::own_order(s, user, req.param("order_id")) {
            Ok(i) => success(s.book.orders.get(i).map(|o| o.to_json()).unwrap_or(Value::Null)),
            Err(r) => r,
        },
        Route::History => orders::history(s, user, req.param("order_id"), req.param("tag")),
        Route::Trades => success(Value::Array(s.book.trades_of(user, None))),
        Route::OrderTrades => match orders::own_order(s, user, req.param("order_id")) {
            Ok(i) => {
                let id = s.book.orders.get(i).map(|o| o.order_id.clone()).unwrap_or_default();
                success(Value::Array(s.book.trades_of(user, Some(&id))))
            }
            Err(r) => r,
        },
        Route::Positions => success(Value::Array(s.book.positions_json(user))),
        Route::Holdings => success(Value::Array(s.book.holdings_json(user))),
        Route::Ltp(v) => market::ltp(s, req.param("instrument_key").or(req.param("symbol")), *v),
        Route::Quotes => market::quotes(s, req.param("instrument_key").or(req.param("symbol"))),
        Route::FeedAuthorize => {
            let url = feed::ticket(s, user, feed::TicketKind::Market);
            success(json!({"authorized_redirect_uri": url, "authorizedRedirectUri": url}))
        }
        Route::FeedRedirect => Reply::Redirect(feed::ticket(s, user, feed::TicketKind::Market)),
        Route::PortfolioAuthorize | Route::PortfolioRedirect => {
            let kinds = portfolio::update_types(req.param("update_types"));
            let url = feed::ticket(s, user, feed::TicketKind::Portfolio(kinds));
            if *route == Route::PortfolioRedirect {
                Reply::Redirect(url)
            } else {
                success(json!({"authorized_redirect_uri": url, "authorizedRedirectUri": url}))
            }
        }
        Route::Dialog | Route::Token | Route::Candles(..) => unsupported(404),
    }
}
