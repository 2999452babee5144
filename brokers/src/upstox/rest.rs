//! The Upstox API v2/v3 REST client (brokers.md §3.1–3.6).
//!
//! One [`UpstoxClient`] per broker login. It talks to two hosts: order writes (place, modify,
//! cancel) go to the order host (`api-hft`), everything else to the API host, as the official
//! SDK routes them; both are configurable so a test server can stand in. Every request sends
//! `Accept: application/json`, calls under `/v2/` also `Api-Version: 2.0` (Upstox answers a
//! missing version with UDAPI100015), and authenticated calls `Authorization: Bearer <token>`.
//! Bodies are JSON, except the token exchange's, which is form-encoded.
//!
//! Orders use v3 (`/v3/order/place|modify|cancel`): v2's are deprecated, v3's answers carry
//! Upstox's own latency, and a v3 place with `slice: false` is still one request, one order,
//! which Dalal's order tracking relies on. Reads stay on the v2 paths the docs list, except
//! the LTP (v3 adds the last quantity, volume and previous close) and candles (v3's intervals).
//!
//! Answers are Upstox's envelope, `{"status":"success","data":…}` (`"partial_success"` for a
//! partly placed sliced order), or `{"status":"error","errors":[…]}`, which becomes
//! [`UpstoxError::Api`]; anything else (an HTML page, cut-off JSON) is
//! [`UpstoxError::Malformed`], never a panic. The token exchange answers flat, without the
//! envelope. Logs carry the method, path, status and time only; the token, the authorization
//! code and the API secret are scrubbed from every text an error keeps.

use std::time::{Duration, Instant};

use dalal_core::model::Timestamp;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::error::{classify, RequestKind, UpstoxError};
use super::model::{
    AuthorizedUri, Candle, Funds, Historical, Holding, Ltp, Order, OrderIdData, OrderIdsData, OrderReply, PlaceReply,
    Position, Profile, Quote, Quotes, Session, Trade,
};
use super::params::{check_instrument_key, check_order_id, CandleInterval, FundsSegment, ModifyOrder, PlaceOrder};
use crate::rest::{error_chain, http_client};
use crate::secret::Secret;

/// Upstox's API host.
pub const DEFAULT_ROOT: &str = "https://api.upstox.com";
/// Upstox's order host: place, modify and cancel (brokers.md §3.1).
pub const DEFAULT_HFT_ROOT: &str = "https://api-hft.upstox.com";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(7);

/// Where a user logs in with a browser, under the API host.
const DIALOG: &str = "/v2/login/authorization/dialog";
const TOKEN: &str = "/v2/login/authorization/token";
const LOGOUT: &str = "/v2/logout";
const PROFILE: &str = "/v2/user/profile";
const FUNDS: &str = "/v2/user/get-funds-and-margin";
const PLACE: &str = "/v3/order/place";
const MODIFY: &str = "/v3/order/modify";
const CANCEL: &str = "/v3/order/cancel";
const ORDER_BOOK: &str = "/v2/order/retrieve-all";
const DETAILS: &str = "/v2/order/details";
const HISTORY: &str = "/v2/order/history";
const TRADES: &str = "/v2/order/trades/get-trades-for-day";
const ORDER_TRADES: &str = "/v2/order/trades";
const POSITIONS: &str = "/v2/portfolio/short-term-positions";
const HOLDINGS: &str = "/v2/portfolio/long-term-holdings";
const LTP: &str = "/v3/market-quote/ltp";
const QUOTES: &str = "/v2/market-quote/quotes";
const CANDLES: &str = "/v3/historical-candle";
const FEED_AUTHORIZE: &str = "/v3/feed/market-data-feed/authorize";
const PORTFOLIO_AUTHORIZE: &str = "/v2/feed/portfolio-stream-feed/authorize";

/// Upstox refuses more instrument keys in one quote call (UDAPI100043).
pub const MAX_QUOTE_KEYS: usize = 500;

/// The browser login page of the app `api_key` on `root` (normally [`DEFAULT_ROOT`]): Upstox
/// redirects from it to `redirect_uri` (the one registered for the app) with a one-time
/// `code` and the `state` given here, which the caller should check on the way back.
pub fn login_url_at(root: &str, api_key: &str, redirect_uri: &str, state: Option<&str>) -> String {
    let mut params = vec![("response_type", "code"), ("client_id", api_key), ("redirect_uri", redirect_uri)];
    if let Some(state) = state {
        params.push(("state", state));
    }
    let query = reqwest::Url::parse_with_params("x:", params)
        .ok()
        .and_then(|u| u.query().map(str::to_string))
        .unwrap_or_default();
    format!("{}{DIALOG}?{query}", root.trim_end_matches('/'))
}

/// [`login_url_at`] on Upstox itself.
pub fn login_url(api_key: &str, redirect_uri: &str, state: Option<&str>) -> String {
    login_url_at(DEFAULT_ROOT, api_key, redirect_uri, state)
}

/// When an access token issued at `login` stops working: the next 03:30 IST after it
/// (brokers.md §3.2; Upstox: a token made at 20:00 lasts until 03:30 the next morning, one
/// made at 02:30 only until 03:30 the same morning).
pub fn token_expiry(login: Timestamp) -> Timestamp {
    const HALF_PAST_THREE: i64 = (3 * 3600 + 30 * 60) * 1_000_000_000;
    const DAY: i64 = 24 * 3600 * 1_000_000_000;
    let today = login.ist_midnight().0.saturating_add(HALF_PAST_THREE);
    Timestamp(if login.0 < today { today } else { today.saturating_add(DAY) })
}

/// A path segment percent-encoded: every byte but letters, digits and `-._~` (an instrument
/// key's `|` and spaces, a `/` that would change the path), as the SDK quotes path parameters.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Which of the two hosts a request goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Host {
    Api,
    Orders,
}

/// A request's body.
enum Body {
    None,
    Json(String),
    Form(Vec<(&'static str, String)>),
}

/// How an answer is wrapped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `{"status":"success","data":…}`.
    Envelope,
    /// The token exchange's flat object.
    Flat,
}

/// A successful answer: its `data`, and what v3 order calls add.
#[derive(Debug)]
pub struct Answer<T> {
    pub data: T,
    /// `metadata.latency`, ms.
    pub latency_ms: Option<u64>,
    /// `status: "partial_success"`.
    pub partial: bool,
}

type Query = Vec<(&'static str, String)>;

/// An Upstox login's client. Cheap to clone (the connection pools are shared).
#[derive(Clone)]
pub struct UpstoxClient {
    root: String,
    hft_root: String,
    api_key: String,
    access_token: Option<Secret>,
    algo_name: Option<String>,
    timeout: Duration,
    http: reqwest::Client,
    hft_http: reqwest::Client,
}

impl std::fmt::Debug for UpstoxClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstoxClient")
            .field("root", &self.root)
            .field("hft_root", &self.hft_root)
            .field("api_key", &self.api_key)
            .field("access_token", &self.access_token.as_ref().map(|_| "****"))
            .field("algo_name", &self.algo_name)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl UpstoxClient {
    /// A client for the API host `root` and the order host `hft_root` (normally
    /// [`DEFAULT_ROOT`] and [`DEFAULT_HFT_ROOT`]; a test server's addresses otherwise), with
    /// a token kept from an earlier login, if any. Each request fails with a network error
    /// after `timeout`.
    pub fn new(
        root: &str,
        hft_root: &str,
        api_key: &str,
        access_token: Option<Secret>,
        timeout: Duration,
    ) -> Result<UpstoxClient, UpstoxError> {
        let invalid = |detail: String| UpstoxError::Invalid { request: RequestKind::Read, detail };
        if api_key.is_empty() || !api_key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid("api_key must be printable ASCII".into()));
        }
        let headers = || {
            let mut h = HeaderMap::new();
            h.insert(ACCEPT, HeaderValue::from_static("application/json"));
            h
        };
        let (http, root) = http_client(root, timeout, headers()).map_err(invalid)?;
        let (hft_http, hft_root) = http_client(hft_root, timeout, headers()).map_err(invalid)?;
        Ok(UpstoxClient {
            root,
            hft_root,
            api_key: api_key.to_string(),
            access_token,
            algo_name: None,
            timeout,
            http,
            hft_http,
        })
    }

    /// A client for Upstox itself.
    pub fn with_defaults(api_key: &str, access_token: Option<Secret>) -> Result<UpstoxClient, UpstoxError> {
        UpstoxClient::new(DEFAULT_ROOT, DEFAULT_HFT_ROOT, api_key, access_token, DEFAULT_TIMEOUT)
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn hft_root(&self) -> &str {
        &self.hft_root
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    pub fn has_session(&self) -> bool {
        self.access_token.is_some()
    }

    /// The session's token, for the feed sockets of the same login (a [`Secret`]: it shows
    /// only through [`Secret::expose`]).
    pub fn access_token(&self) -> Option<&Secret> {
        self.access_token.as_ref()
    }

    /// Uses `token` from now on (a token kept from an earlier login).
    pub fn set_access_token(&mut self, token: Option<Secret>) {
        self.access_token = token;
    }

    /// Names the algorithm in `X-Algo-Name` on order calls (exchange algo identification).
    pub fn set_algo_name(&mut self, name: Option<&str>) -> Result<(), UpstoxError> {
        if let Some(n) = name {
            if n.is_empty() || HeaderValue::from_str(n).is_err() {
                return Err(UpstoxError::Invalid {
                    request: RequestKind::PlaceOrder,
                    detail: format!("algo name {n:?} is not a header value"),
                });
            }
        }
        self.algo_name = name.map(str::to_string);
        Ok(())
    }

    /// This app's browser login page, on this client's API host.
    pub fn login_url(&self, redirect_uri: &str, state: Option<&str>) -> String {
        login_url_at(&self.root, &self.api_key, redirect_uri, state)
    }

    /// Exchanges the one-time authorization `code` the redirect brought for a session, and
    /// keeps its access token. The code is spent even when the exchange fails (Upstox).
    pub async fn generate_session(
        &mut self,
        code: &Secret,
        api_secret: &Secret,
        redirect_uri: &str,
    ) -> Result<Session, UpstoxError> {
        let form = vec![
            ("code", code.expose().to_string()),
            ("client_id", self.api_key.clone()),
            ("client_secret", api_secret.expose().to_string()),
            ("redirect_uri", redirect_uri.to_string()),
            ("grant_type", "authorization_code".to_string()),
        ];
        let extra = [code.expose(), api_secret.expose()];
        let session: Session = self
            .send(RequestKind::Login, Method::POST, Host::Api, TOKEN.into(), Vec::new(), Body::Form(form), &extra)
            .await?
            .data;
        if session.access_token.is_empty() {
            return Err(UpstoxError::Malformed {
                request: RequestKind::Login,
                path: TOKEN.into(),
                status: 200,
                detail: "the session has no access_token".into(),
            });
        }
        self.access_token = Some(session.access_token.clone());
        Ok(session)
    }

    /// Ends the session (`DELETE /v2/logout`) and forgets the token.
    pub async fn logout(&mut self) -> Result<bool, UpstoxError> {
        let done: bool = self
            .send(RequestKind::Logout, Method::DELETE, Host::Api, LOGOUT.into(), Vec::new(), Body::None, &[])
            .await?
            .data;
        self.access_token = None;
        Ok(done)
    }

    pub async fn profile(&self) -> Result<Profile, UpstoxError> {
        self.get(PROFILE, Vec::new()).await
    }

    /// Funds and margin: of every segment, or of one.
    pub async fn funds(&self, segment: Option<FundsSegment>) -> Result<Funds, UpstoxError> {
        self.get(FUNDS, segment.map(|s| vec![("segment", s.as_str().to_string())]).unwrap_or_default()).await
    }

    /// Places an order (v3). An error whose [`UpstoxError::outcome_unknown`] is true means the
    /// order may exist all the same: look for its tag in the order book.
    pub async fn place_order(&self, order: &PlaceOrder) -> Result<PlaceReply, UpstoxError> {
        order.validate().map_err(|detail| UpstoxError::Invalid { request: RequestKind::PlaceOrder, detail })?;
        let body = Body::Json(order.body().to_string());
        let a: Answer<OrderIdsData> =
            self.send(RequestKind::PlaceOrder, Method::POST, Host::Orders, PLACE.into(), Vec::new(), body, &[]).await?;
        if a.data.order_ids.is_empty() {
            return Err(UpstoxError::Malformed {
                request: RequestKind::PlaceOrder,
                path: PLACE.into(),
                status: 200,
                detail: "the place answer has no order id".into(),
            });
        }
        Ok(PlaceReply { order_ids: a.data.order_ids, latency_ms: a.latency_ms, partial: a.partial })
    }

    pub async fn modify_order(&self, change: &ModifyOrder) -> Result<OrderReply, UpstoxError> {
        change.validate().map_err(|detail| UpstoxError::Invalid { request: RequestKind::ModifyOrder, detail })?;
        let body = Body::Json(change.body().to_string());
        let a: Answer<OrderIdData> = self
            .send(RequestKind::ModifyOrder, Method::PUT, Host::Orders, MODIFY.into(), Vec::new(), body, &[])
            .await?;
        Ok(OrderReply { order_id: a.data.order_id, latency_ms: a.latency_ms })
    }

    pub async fn cancel_order(&self, order_id: &str) -> Result<OrderReply, UpstoxError> {
        check_order_id(order_id)
            .map_err(|detail| UpstoxError::Invalid { request: RequestKind::CancelOrder, detail })?;
        let query = vec![("order_id", order_id.to_string())];
        let a: Answer<OrderIdData> = self
            .send(RequestKind::CancelOrder, Method::DELETE, Host::Orders, CANCEL.into(), query, Body::None, &[])
            .await?;
        Ok(OrderReply { order_id: a.data.order_id, latency_ms: a.latency_ms })
    }

    /// Today's orders, the latest state of each.
    pub async fn order_book(&self) -> Result<Vec<Order>, UpstoxError> {
        self.get_list(ORDER_BOOK, Vec::new()).await
    }

    /// One order's latest state.
    pub async fn order_details(&self, order_id: &str) -> Result<Order, UpstoxError> {
        self.get(DETAILS, self.order_query(order_id)?).await
    }

    /// Every state an order went through, oldest first.
    pub async fn order_history(&self, order_id: &str) -> Result<Vec<Order>, UpstoxError> {
        self.get_list(HISTORY, self.order_query(order_id)?).await
    }

    /// Today's fills.
    pub async fn trades(&self) -> Result<Vec<Trade>, UpstoxError> {
        self.get_list(TRADES, Vec::new()).await
    }

    /// The fills of one order.
    pub async fn order_trades(&self, order_id: &str) -> Result<Vec<Trade>, UpstoxError> {
        self.get_list(ORDER_TRADES, self.order_query(order_id)?).await
    }

    pub async fn positions(&self) -> Result<Vec<Position>, UpstoxError> {
        self.get_list(POSITIONS, Vec::new()).await
    }

    pub async fn holdings(&self) -> Result<Vec<Holding>, UpstoxError> {
        self.get_list(HOLDINGS, Vec::new()).await
    }

    /// Last prices of `instrument_keys` (v3), keyed `SEGMENT:symbol`; see
    /// [`super::model::by_instrument_key`].
    pub async fn ltp(&self, instrument_keys: &[&str]) -> Result<Quotes<Ltp>, UpstoxError> {
        self.get(LTP, keys_query(instrument_keys)?).await
    }

    /// Full quotes of `instrument_keys` (v2), keyed `SEGMENT:symbol`.
    pub async fn quotes(&self, instrument_keys: &[&str]) -> Result<Quotes<Quote>, UpstoxError> {
        self.get(QUOTES, keys_query(instrument_keys)?).await
    }

    /// Candles of one instrument from `from` to `to` (IST dates `YYYY-MM-DD`, both included),
    /// newest first as Upstox sends them. Upstox serves them without a token, so this works
    /// before a login too.
    pub async fn candles(
        &self,
        instrument_key: &str,
        interval: CandleInterval,
        from: &str,
        to: &str,
    ) -> Result<Vec<Candle>, UpstoxError> {
        let invalid = |detail: String| UpstoxError::Invalid { request: RequestKind::Read, detail };
        check_instrument_key(instrument_key).map_err(invalid)?;
        interval.validate().map_err(invalid)?;
        for d in [from, to] {
            let ok = d.len() == 10
                && d.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
            if !ok {
                return Err(invalid(format!("date {d:?}: expected YYYY-MM-DD")));
            }
        }
        let path = format!(
            "{CANDLES}/{}/{}/{}/{to}/{from}",
            encode_segment(instrument_key),
            interval.unit.as_str(),
            interval.interval
        );
        let h: Historical = self.get(&path, Vec::new()).await?;
        Ok(h.candles)
    }

    /// The one-time `wss://` URL of the Market Data Feed v3 socket (brokers.md §3.9.1).
    pub async fn feed_url(&self) -> Result<String, UpstoxError> {
        self.authorized_uri(FEED_AUTHORIZE, Vec::new()).await
    }

    /// The one-time `wss://` URL of the portfolio stream for `update_types` (`order`,
    /// `position`, `holding`, `gtt_order`; Upstox sends orders when none is given).
    pub async fn portfolio_stream_url(&self, update_types: &[&str]) -> Result<String, UpstoxError> {
        let query = if update_types.is_empty() { Vec::new() } else { vec![("update_types", update_types.join(","))] };
        self.authorized_uri(PORTFOLIO_AUTHORIZE, query).await
    }

    async fn authorized_uri(&self, path: &str, query: Query) -> Result<String, UpstoxError> {
        let a: AuthorizedUri = self.get(path, query).await?;
        if a.authorized_redirect_uri.is_empty() {
            return Err(UpstoxError::Malformed {
                request: RequestKind::Read,
                path: path.into(),
                status: 200,
                detail: "no authorized_redirect_uri".into(),
            });
        }
        Ok(a.authorized_redirect_uri)
    }

    fn order_query(&self, order_id: &str) -> Result<Query, UpstoxError> {
        check_order_id(order_id).map_err(|detail| UpstoxError::Invalid { request: RequestKind::Read, detail })?;
        Ok(vec![("order_id", order_id.to_string())])
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: Query) -> Result<T, UpstoxError> {
        Ok(self.send(RequestKind::Read, Method::GET, Host::Api, path.to_string(), query, Body::None, &[]).await?.data)
    }

    /// A list Upstox may send as `null` when empty.
    async fn get_list<T: DeserializeOwned>(&self, path: &str, query: Query) -> Result<Vec<T>, UpstoxError> {
        Ok(self.get::<Option<Vec<T>>>(path, query).await?.unwrap_or_default())
    }

    /// Sends one request and reads the answer. `extra_secrets` are scrubbed, with the access
    /// token, from any text an error keeps. Every call but the token exchange and candles
    /// needs a session.
    #[allow(clippy::too_many_arguments)]
    async fn send<T: DeserializeOwned>(
        &self,
        request: RequestKind,
        method: Method,
        host: Host,
        path: String,
        query: Query,
        body: Body,
        extra_secrets: &[&str],
    ) -> Result<Answer<T>, UpstoxError> {
        let (http, root) = match host {
            Host::Api => (&self.http, &self.root),
            Host::Orders => (&self.hft_http, &self.hft_root),
        };
        let url = format!("{root}{path}");
        let mut rb = http.request(method.clone(), &url).timeout(self.timeout);
        let shape = if request == RequestKind::Login { Shape::Flat } else { Shape::Envelope };
        // The token exchange sends none; candles are public (the SDK sends none), so they go
        // with the token when there is one and without when there is not.
        let token = match (&self.access_token, shape) {
            (_, Shape::Flat) => None,
            (None, Shape::Envelope) if path.starts_with(CANDLES) => None,
            (None, Shape::Envelope) => return Err(UpstoxError::NoSession { request, path }),
            (Some(token), Shape::Envelope) => Some(token),
        };
        if let Some(token) = token {
            let value = Zeroizing::new(format!("Bearer {}", token.expose()));
            let mut header = HeaderValue::from_str(&value).map_err(|_| UpstoxError::Invalid {
                request,
                detail: "the access token is not a valid header value".into(),
            })?;
            header.set_sensitive(true);
            rb = rb.header(AUTHORIZATION, header);
        }
        if path.starts_with("/v2/") {
            rb = rb.header("Api-Version", "2.0");
        }
        if let (Host::Orders, Some(name)) = (host, &self.algo_name) {
            rb = rb.header("X-Algo-Name", name.as_str());
        }
        if !query.is_empty() {
            rb = rb.query(&query);
        }
        rb = match body {
            Body::None => rb,
            Body::Json(text) => rb.header(CONTENT_TYPE, "application/json").body(text),
            Body::Form(form) => rb.form(&form),
        };
        let started = Instant::now();
        let scrub = |text: String| self.scrub(text, extra_secrets);
        let response = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                let sent = !e.is_connect() && !e.is_builder();
                let timed_out = e.is_timeout();
                let detail = scrub(error_chain(&e.without_url()));
                tracing::debug!(%method, %path, timed_out, sent, "upstox request failed: {detail}");
                return Err(UpstoxError::Transport { request, path, sent, timed_out, detail });
            }
        };
        let status = response.status().as_u16();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                let timed_out = e.is_timeout();
                let detail = scrub(format!("the answer broke off: {}", error_chain(&e.without_url())));
                tracing::debug!(%method, %path, status, "upstox answer unreadable: {detail}");
                if timed_out {
                    return Err(UpstoxError::Transport { request, path, sent: true, timed_out, detail });
                }
                return Err(UpstoxError::Malformed { request, path, status, detail });
            }
        };
        tracing::debug!(%method, %path, status, bytes = bytes.len(), ms = started.elapsed().as_millis() as u64, "upstox");
        let parsed = match shape {
            Shape::Envelope => parse_envelope(request, &path, status, &bytes),
            Shape::Flat => {
                parse_flat(request, &path, status, &bytes).map(|data| Answer { data, latency_ms: None, partial: false })
            }
        };
        parsed.map_err(|e| match e {
            UpstoxError::Api { request, path, kind, status, code, message } => {
                UpstoxError::Api { request, path, kind, status, code, message: scrub(message) }
            }
            UpstoxError::Malformed { request, path, status, detail } => {
                UpstoxError::Malformed { request, path, status, detail: scrub(detail) }
            }
            other => other,
        })
    }

    /// Replaces every secret the client knows in `text` with `****`.
    fn scrub(&self, text: String, extra: &[&str]) -> String {
        let token = self.access_token.as_ref().map(Secret::expose);
        crate::rest::scrub(text, extra.iter().copied().chain(token))
    }
}

/// `instrument_key=k1,k2` (comma-separated, as the docs show; the query encoding turns `|`
/// into `%7C`), after checking each key and the count.
fn keys_query(keys: &[&str]) -> Result<Query, UpstoxError> {
    let invalid = |detail: String| UpstoxError::Invalid { request: RequestKind::Read, detail };
    if keys.is_empty() || keys.len() > MAX_QUOTE_KEYS {
        return Err(invalid(format!("1 to {MAX_QUOTE_KEYS} instrument keys per call, not {}", keys.len())));
    }
    for k in keys {
        check_instrument_key(k).map_err(invalid)?;
        if k.contains(',') {
            return Err(invalid(format!("instrument key {k:?} contains a comma")));
        }
    }
    Ok(vec![("instrument_key", keys.join(","))])
}

/// The error an answer states, if it states one: a `status` of `"error"`, an `errors` list,
/// or an error HTTP status. Its code is the first error's (`errorCode`, or the snake_case
/// duplicate); its message joins every error's.
fn stated_error(
    request: RequestKind,
    path: &str,
    status: u16,
    obj: &serde_json::Map<String, serde_json::Value>,
) -> Option<UpstoxError> {
    let ok_status = (200..300).contains(&status);
    let errors = obj.get("errors").and_then(|v| v.as_array());
    let said_error = obj.get("status").and_then(|v| v.as_str()) == Some("error") || errors.is_some();
    if !said_error && ok_status {
        return None;
    }
    let errors = errors.map(Vec::as_slice).unwrap_or_default();
    let text = |e: &serde_json::Value, keys: &[&str]| {
        keys.iter().find_map(|k| e.get(*k).and_then(|v| v.as_str())).filter(|s| !s.is_empty()).map(str::to_string)
    };
    let code = errors.iter().find_map(|e| text(e, &["errorCode", "error_code"]));
    let messages: Vec<String> = errors.iter().filter_map(|e| text(e, &["message"])).collect();
    let message = if messages.is_empty() {
        obj.get("message")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {status} without a message"))
    } else {
        messages.join("; ")
    };
    Some(UpstoxError::Api {
        request,
        path: path.to_string(),
        kind: classify(status, code.as_deref(), &message),
        status,
        code,
        message,
    })
}

/// The JSON object of an answer; an error (an error status's non-JSON body becomes an API
/// error of that status, with its first line) or `None` (malformed) otherwise.
fn json_object(
    request: RequestKind,
    path: &str,
    status: u16,
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, UpstoxError> {
    let ok_status = (200..300).contains(&status);
    let malformed = |detail: String| UpstoxError::Malformed { request, path: path.to_string(), status, detail };
    let api = |message: String| UpstoxError::Api {
        request,
        path: path.to_string(),
        kind: classify(status, None, &message),
        status,
        code: None,
        message,
    };
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(obj)) => Ok(obj),
        Ok(_) if ok_status => Err(malformed("not a JSON object".into())),
        Ok(_) => Err(api(format!("HTTP {status} without Upstox's error envelope"))),
        Err(e) if ok_status => Err(malformed(format!("not JSON ({e})"))),
        Err(_) => {
            // Gateways and proxies answer in plain text or HTML; keep a line of it.
            let text = String::from_utf8_lossy(body);
            let line: String =
                text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").chars().take(200).collect();
            Err(api(if line.is_empty() { format!("HTTP {status} without an answer") } else { line }))
        }
    }
}

fn deserialize_at<T: DeserializeOwned>(
    value: serde_json::Value,
    at_root: &str,
    malformed: impl Fn(String) -> UpstoxError,
) -> Result<T, UpstoxError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let at = e.path().to_string();
        malformed(format!("{at_root}{}: {}", if at == "." { String::new() } else { format!(".{at}") }, e.inner()))
    })
}

/// Reads Upstox's envelope (brokers.md §3.3). An error envelope or an error status is
/// [`UpstoxError::Api`]; a success status whose body is not the envelope (no `status` of
/// `success`/`partial_success`, no `data`), or whose `data` does not fit `T`, is
/// [`UpstoxError::Malformed`].
pub fn parse_envelope<T: DeserializeOwned>(
    request: RequestKind,
    path: &str,
    status: u16,
    body: &[u8],
) -> Result<Answer<T>, UpstoxError> {
    let malformed = |detail: String| UpstoxError::Malformed { request, path: path.to_string(), status, detail };
    let mut obj = json_object(request, path, status, body)?;
    if let Some(e) = stated_error(request, path, status, &obj) {
        return Err(e);
    }
    let partial = match obj.get("status").and_then(|v| v.as_str()) {
        Some("success") => false,
        Some("partial_success") => true,
        other => return Err(malformed(format!("status {other:?}, not \"success\""))),
    };
    let Some(data) = obj.remove("data") else { return Err(malformed("no \"data\" in a success answer".into())) };
    let latency_ms = obj.get("metadata").and_then(|m| m.get("latency")).and_then(|l| l.as_u64());
    Ok(Answer { data: deserialize_at(data, "data", malformed)?, latency_ms, partial })
}

/// Reads the token exchange's flat answer: the session object itself on success, Upstox's
/// error envelope on failure.
pub fn parse_flat<T: DeserializeOwned>(
    request: RequestKind,
    path: &str,
    status: u16,
    body: &[u8],
) -> Result<T, UpstoxError> {
    let malformed = |detail: String| UpstoxError::Malformed { request, path: path.to_string(), status, detail };
    let obj = json_object(request, path, status, body)?;
    if let Some(e) = stated_error(request, path, status, &obj) {
        return Err(e);
    }
    deserialize_at(serde_json::Value::Object(obj), "answer", malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_kind::BrokerErrorKind as K;

    fn parse(status: u16, body: &str) -> Result<Answer<serde_json::Value>, UpstoxError> {
        parse_envelope(RequestKind::Read, "/p", status, body.as_bytes())
    }

    #[test]
    fn error_envelopes_are_api_errors_with_the_first_code() {
        let body = r#"{"status":"error","errors":[{"errorCode":"UDAPI100050","message":"Invalid token used to access API","propertyPath":null,"invalidValue":null,"error_code":"UDAPI100050","property_path":null,"invalid_value":null}]}"#;
        let e = parse(401, body).expect_err("error");
        assert_eq!((e.kind(), e.code(), e.http_status()), (K::SessionExpired, Some("UDAPI100050"), Some(401)));
        assert_eq!(e.message(), "Invalid token used to access API");
        let two = r#"{"status":"error","errors":[{"error_code":"UDAPI1004","message":"a"},{"errorCode":"UDAPI1007","message":"b"}]}"#;
        let e = parse(400, two).expect_err("error");
        assert_eq!((e.code(), e.message(), e.kind()), (Some("UDAPI1004"), "a; b", K::Input));
        let e = parse(200, r#"{"status":"error","errors":[{"errorCode":"UDAPI10005","message":"x"}]}"#).expect_err("e");
        assert_eq!(e.kind(), K::RateLimited, "an error body wins over a 200");
    }

    #[test]
    fn what_is_not_the_envelope_is_malformed_or_a_status_error() {
        let e = parse(200, "<html>Request Rejected</html>").expect_err("waf");
        assert_eq!(e.kind(), K::Malformed);
        assert!(e.outcome_unknown());
        let e = parse(502, "<html>\n<h1>502 Bad Gateway</h1>").expect_err("proxy");
        assert_eq!((e.kind(), e.message()), (K::Network, "<html>"));
        assert_eq!(parse(200, r#"{"status":"success"}"#).expect_err("no data").kind(), K::Malformed);
        assert_eq!(parse(200, r#"{"data":{}}"#).expect_err("no status").kind(), K::Malformed);
        assert_eq!(parse(200, "").expect_err("empty").kind(), K::Malformed);
        let wrong = parse_envelope::<Vec<Order>>(RequestKind::Read, "/p", 200, br#"{"status":"success","data":"x"}"#);
        assert_eq!(wrong.expect_err("shape").kind(), K::Malformed);
    }

    #[test]
    fn success_gives_data_latency_and_partial_success() {
        let a = parse(200, r#"{"status":"success","data":{"order_ids":["1"]},"metadata":{"latency":30}}"#).expect("ok");
        assert_eq!((a.data["order_ids"][0].as_str(), a.latency_ms, a.partial), (Some("1"), Some(30), false));
        let a = parse(200, r#"{"status":"partial_success","data":{"order_ids":["1","2"]}}"#).expect("ok");
        assert!(a.partial);
        let none: Answer<Option<Vec<Order>>> =
            parse_envelope(RequestKind::Read, "/p", 200, br#"{"status":"success","data":null}"#).expect("ok");
        assert!(none.data.is_none());
    }

    #[test]
    fn the_token_answer_is_flat() {
        let s: Session = parse_flat(RequestKind::Login, TOKEN, 200, br#"{"user_id":"AB1","access_token":"tok-123"}"#)
            .expect("session");
        assert_eq!(s.access_token.expose(), "tok-123");
        let e = parse_flat::<Session>(
            RequestKind::Login,
            TOKEN,
            401,
            br#"{"status":"error","errors":[{"errorCode":"UDAPI100016","message":"Invalid Credentials"}]}"#,
        )
        .expect_err("refused");
        assert_eq!(e.kind(), K::Permission);
    }

    #[test]
    fn tokens_expire_at_the_next_half_past_three_ist() {
        const H: i64 = 3600 * 1_000_000_000;
        // 2024-01-02 00:00 IST = 2024-01-01 18:30 UTC.
        let midnight = Timestamp(1_704_133_800 * 1_000_000_000);
        let half_past_three = Timestamp(midnight.0 + 3 * H + H / 2);
        assert_eq!(token_expiry(Timestamp(midnight.0 + 20 * H)), Timestamp(half_past_three.0 + 24 * H), "20:00");
        assert_eq!(token_expiry(Timestamp(midnight.0 + 2 * H + H / 2)), half_past_three, "02:30: the same morning");
        assert_eq!(token_expiry(half_past_three), Timestamp(half_past_three.0 + 24 * H), "03:30 itself: tomorrow");
        assert_eq!(token_expiry(Timestamp(i64::MAX)), Timestamp(i64::MAX));
    }

    #[test]
    fn urls_encode_what_would_change_them() {
        assert_eq!(encode_segment("NSE_EQ|INE848E01016"), "NSE_EQ%7CINE848E01016");
        assert_eq!(encode_segment("NSE_INDEX|Nifty 50/../x"), "NSE_INDEX%7CNifty%2050%2F..%2Fx");
        let u = login_url("key-1", "https://example.com/cb?a=1", Some("s 1"));
        assert_eq!(
            u,
            "https://api.upstox.com/v2/login/authorization/dialog?response_type=code&client_id=key-1\
             &redirect_uri=https%3A%2F%2Fexample.com%2Fcb%3Fa%3D1&state=s+1"
        );
        assert!(keys_query(&[]).is_err());
        assert!(keys_query(&["NSE_EQ|A,B"]).is_err());
        assert_eq!(keys_query(&["NSE_EQ|A", "NSE_FO|1"]).expect("q")[0].1, "NSE_EQ|A,NSE_FO|1");
    }
}
