//! The Kite Connect v3 REST client.
//!
//! One [`KiteClient`] per broker login: it holds the API key and, once logged in, the access
//! token, and sends every request with `X-Kite-Version: 3` and `Authorization: token
//! api_key:access_token`. POST and PUT bodies are form-encoded; list parameters are repeated
//! query keys. Answers are Kite's envelope, `{"status":"success","data":…}` or
//! `{"status":"error","message":…,"error_type":…}`; anything else is a [`KiteError`] of kind
//! `malformed`, never a panic.
//!
//! Secrets: the access token lives in a [`Secret`] and goes out only in the `Authorization`
//! header (marked sensitive) or, for logout, in the query of a URL that is never logged or
//! kept in an error. Logs carry the method, path, status and time only.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::Method;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::error::{classify, KiteError, RequestKind};
use super::model::{
    Historical, Holding, Ltp, Margins, Order, OrderIdReply, Positions, Profile, Quote, Quotes, SegmentMargins, Session,
    Trade,
};
use super::params::{ModifyOrder, PlaceOrder, Variety};
use crate::rest::{error_chain, http_client, path_segment};
use crate::secret::Secret;

/// Kite's REST root.
pub const DEFAULT_ROOT: &str = "https://api.kite.trade";
/// Where a user logs in with a browser (not an API endpoint).
pub const LOGIN_URL: &str = "https://kite.zerodha.com/connect/login";
/// The official client's default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(7);

/// The browser login page for an app: Kite redirects from it to the app's redirect URL with
/// a one-time `request_token`.
pub fn login_url(api_key: &str) -> String {
    let query: String = reqwest::Url::parse_with_params("x:", [("v", "3"), ("api_key", api_key)])
        .ok()
        .and_then(|u| u.query().map(str::to_string))
        .unwrap_or_default();
    format!("{LOGIN_URL}?{query}")
}

/// `checksum` of `POST /session/token`: hex SHA-256 of api_key, request_token and api_secret
/// concatenated.
pub fn session_checksum(api_key: &str, request_token: &Secret, api_secret: &Secret) -> String {
    let mut h = Sha256::new();
    h.update(api_key.as_bytes());
    h.update(request_token.expose().as_bytes());
    h.update(api_secret.expose().as_bytes());
    crate::hex::encode(&h.finalize())
}

/// A Kite Connect session's client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct KiteClient {
    root: String,
    api_key: String,
    access_token: Option<Secret>,
    timeout: Duration,
    http: reqwest::Client,
}

impl std::fmt::Debug for KiteClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KiteClient")
            .field("root", &self.root)
            .field("api_key", &self.api_key)
            .field("access_token", &self.access_token.as_ref().map(|_| "****"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

type Form = Vec<(&'static str, String)>;
type Query = Vec<(&'static str, String)>;

impl KiteClient {
    /// A client for `root` (normally [`DEFAULT_ROOT`]; a test server's address otherwise).
    /// Each request fails with a network error after `timeout`.
    pub fn new(
        root: &str,
        api_key: &str,
        access_token: Option<Secret>,
        timeout: Duration,
    ) -> Result<KiteClient, KiteError> {
        let invalid = |detail: String| KiteError::Invalid { request: RequestKind::Read, detail };
        if api_key.is_empty() || !api_key.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(invalid("api_key must be printable ASCII without ':'".into()));
        }
        let mut headers = HeaderMap::new();
        headers.insert("X-Kite-Version", HeaderValue::from_static("3"));
        let (http, root) = http_client(root, timeout, headers).map_err(invalid)?;
        Ok(KiteClient { root, api_key: api_key.to_string(), access_token, timeout, http })
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    pub fn has_session(&self) -> bool {
        self.access_token.is_some()
    }

    /// The session's token, for the ticker connection of the same login.
    pub(crate) fn access_token(&self) -> Option<&Secret> {
        self.access_token.as_ref()
    }

    /// Uses `token` from now on (a token kept from an earlier login).
    pub fn set_access_token(&mut self, token: Option<Secret>) {
        self.access_token = token;
    }

    /// This app's browser login page.
    pub fn login_url(&self) -> String {
        login_url(&self.api_key)
    }

    /// Exchanges a request token for a session and keeps its access token.
    pub async fn generate_session(
        &mut self,
        request_token: &Secret,
        api_secret: &Secret,
    ) -> Result<Session, KiteError> {
        let form = vec![
            ("api_key", self.api_key.clone()),
            ("request_token", request_token.expose().to_string()),
            ("checksum", session_checksum(&self.api_key, request_token, api_secret)),
        ];
        let extra = [request_token.expose(), api_secret.expose()];
        let session: Session = self
            .send(RequestKind::Login, Method::POST, "/session/token".into(), Vec::new(), Some(form), &extra, false)
            .await?;
        if session.access_token.is_empty() {
            return Err(KiteError::Malformed {
                request: RequestKind::Login,
                path: "/session/token".into(),
                status: 200,
                detail: "the session has no access_token".into(),
            });
        }
        self.access_token = Some(session.access_token.clone());
        Ok(session)
    }

    /// Ends the session (`DELETE /session/token`) and forgets the token.
    pub async fn invalidate_session(&mut self) -> Result<bool, KiteError> {
        let token = self
            .access_token
            .clone()
            .ok_or_else(|| KiteError::NoSession { request: RequestKind::Logout, path: "/session/token".into() })?;
        let query = vec![("api_key", self.api_key.clone()), ("access_token", token.expose().to_string())];
        let done: bool =
            self.send(RequestKind::Logout, Method::DELETE, "/session/token".into(), query, None, &[], true).await?;
        self.access_token = None;
        Ok(done)
    }

    pub async fn profile(&self) -> Result<Profile, KiteError> {
        self.get("/user/profile".into(), Vec::new()).await
    }

    /// Funds and margins of every segment.
    pub async fn margins(&self) -> Result<Margins, KiteError> {
        self.get("/user/margins".into(), Vec::new()).await
    }

    /// Funds and margins of one segment (`equity` or `commodity`).
    pub async fn segment_margins(&self, segment: &str) -> Result<SegmentMargins, KiteError> {
        self.get(format!("/user/margins/{}", path_segment(segment)), Vec::new()).await
    }

    /// Places an order; Kite's order id on success. An error whose
    /// [`KiteError::outcome_unknown`] is true means the order may exist all the same.
    pub async fn place_order(&self, order: &PlaceOrder) -> Result<String, KiteError> {
        order.validate().map_err(|detail| KiteError::Invalid { request: RequestKind::PlaceOrder, detail })?;
        let path = format!("/orders/{}", order.variety);
        let reply: OrderIdReply =
            self.send(RequestKind::PlaceOrder, Method::POST, path, Vec::new(), Some(order.form()), &[], true).await?;
        Ok(reply.order_id)
    }

    pub async fn modify_order(
        &self,
        variety: Variety,
        order_id: &str,
        change: &ModifyOrder,
    ) -> Result<String, KiteError> {
        change.validate().map_err(|detail| KiteError::Invalid { request: RequestKind::ModifyOrder, detail })?;
        let path = format!("/orders/{variety}/{}", path_segment(order_id));
        let form = change.form(variety, order_id);
        let reply: OrderIdReply =
            self.send(RequestKind::ModifyOrder, Method::PUT, path, Vec::new(), Some(form), &[], true).await?;
        Ok(reply.order_id)
    }

    pub async fn cancel_order(&self, variety: Variety, order_id: &str) -> Result<String, KiteError> {
        let path = format!("/orders/{variety}/{}", path_segment(order_id));
        let reply: OrderIdReply =
            self.send(RequestKind::CancelOrder, Method::DELETE, path, Vec::new(), None, &[], true).await?;
        Ok(reply.order_id)
    }

    /// Today's order book, the latest state of each order.
    pub async fn orders(&self) -> Result<Vec<Order>, KiteError> {
        self.get("/orders".into(), Vec::new()).await
    }

    /// Every state an order went through, oldest first.
    pub async fn order_history(&self, order_id: &str) -> Result<Vec<Order>, KiteError> {
        self.get(format!("/orders/{}", path_segment(order_id)), Vec::new()).await
    }

    pub async fn trades(&self) -> Result<Vec<Trade>, KiteError> {
        self.get("/trades".into(), Vec::new()).await
    }

    pub async fn order_trades(&self, order_id: &str) -> Result<Vec<Trade>, KiteError> {
        self.get(format!("/orders/{}/trades", path_segment(order_id)), Vec::new()).await
    }

    pub async fn positions(&self) -> Result<Positions, KiteError> {
        self.get("/portfolio/positions".into(), Vec::new()).await
    }

    pub async fn holdings(&self) -> Result<Vec<Holding>, KiteError> {
        self.get("/portfolio/holdings".into(), Vec::new()).await
    }

    /// Last prices of `instruments` (`EXCHANGE:TRADINGSYMBOL`), keyed as requested.
    pub async fn ltp(&self, instruments: &[&str]) -> Result<Quotes<Ltp>, KiteError> {
        self.get("/quote/ltp".into(), instruments.iter().map(|i| ("i", i.to_string())).collect()).await
    }

    /// Full quotes of `instruments`, keyed as requested.
    pub async fn quote(&self, instruments: &[&str]) -> Result<Quotes<Quote>, KiteError> {
        self.get("/quote".into(), instruments.iter().map(|i| ("i", i.to_string())).collect()).await
    }

    /// Candles of one instrument between two IST times (`YYYY-MM-DD HH:MM:SS`); `interval` is
    /// Kite's (`minute`, `5minute`, `day`, …).
    pub async fn historical(
        &self,
        instrument_token: u32,
        interval: &str,
        from: &str,
        to: &str,
        continuous: bool,
        oi: bool,
    ) -> Result<Historical, KiteError> {
        let path = format!("/instruments/historical/{instrument_token}/{}", path_segment(interval));
        let query = vec![
            ("from", from.to_string()),
            ("to", to.to_string()),
            ("interval", interval.to_string()),
            ("continuous", u8::from(continuous).to_string()),
            ("oi", u8::from(oi).to_string()),
        ];
        self.get(path, query).await
    }

    async fn get<T: DeserializeOwned>(&self, path: String, query: Query) -> Result<T, KiteError> {
        self.send(RequestKind::Read, Method::GET, path, query, None, &[], true).await
    }

    /// Sends one request and reads Kite's envelope. `extra_secrets` are scrubbed, with the
    /// access token, from any text an error keeps; `authed` requests need a session.
    #[allow(clippy::too_many_arguments)]
    async fn send<T: DeserializeOwned>(
        &self,
        request: RequestKind,
        method: Method,
        path: String,
        query: Query,
        form: Option<Form>,
        extra_secrets: &[&str],
        authed: bool,
    ) -> Result<T, KiteError> {
        let url = format!("{}{path}", self.root);
        let mut rb = self.http.request(method.clone(), &url).timeout(self.timeout);
        if authed {
            let Some(token) = &self.access_token else { return Err(KiteError::NoSession { request, path }) };
            let value = Zeroizing::new(format!("token {}:{}", self.api_key, token.expose()));
            let mut header = HeaderValue::from_str(&value).map_err(|_| KiteError::Invalid {
                request,
                detail: "the access token is not a valid header value".into(),
            })?;
            header.set_sensitive(true);
            rb = rb.header(AUTHORIZATION, header);
        }
        if !query.is_empty() {
            rb = rb.query(&query);
        }
        if let Some(form) = &form {
            rb = rb.form(form);
        }
        let started = Instant::now();
        let scrub = |text: String| self.scrub(text, extra_secrets);
        let response = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                let sent = !e.is_connect() && !e.is_builder();
                let timed_out = e.is_timeout();
                let detail = scrub(error_chain(&e.without_url()));
                tracing::debug!(%method, %path, timed_out, sent, "kite request failed: {detail}");
                return Err(KiteError::Transport { request, path, sent, timed_out, detail });
            }
        };
        let status = response.status().as_u16();
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                let timed_out = e.is_timeout();
                let detail = scrub(format!("the answer broke off: {}", error_chain(&e.without_url())));
                tracing::debug!(%method, %path, status, "kite answer unreadable: {detail}");
                if timed_out {
                    return Err(KiteError::Transport { request, path, sent: true, timed_out: true, detail });
                }
                return Err(KiteError::Malformed { request, path, status, detail });
            }
        };
        tracing::debug!(%method, %path, status, bytes = body.len(), ms = started.elapsed().as_millis() as u64, "kite");
        parse_envelope(request, &path, status, &body).map_err(|e| match e {
            KiteError::Api { request, path, kind, status, code, message } => {
                KiteError::Api { request, path, kind, status, code, message: scrub(message) }
            }
            KiteError::Malformed { request, path, status, detail } => {
                KiteError::Malformed { request, path, status, detail: scrub(detail) }
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

/// Reads Kite's envelope. An error envelope (`status` "error" or an `error_type`, as the
/// official client decides) or an error status is [`KiteError::Api`]; a success status whose
/// body is not the envelope, or whose `data` does not fit `T`, is [`KiteError::Malformed`].
pub fn parse_envelope<T: DeserializeOwned>(
    request: RequestKind,
    path: &str,
    status: u16,
    body: &[u8],
) -> Result<T, KiteError> {
    let ok_status = (200..300).contains(&status);
    let malformed = |detail: String| KiteError::Malformed { request, path: path.to_string(), status, detail };
    let api = |error_type: Option<String>, message: String| KiteError::Api {
        request,
        path: path.to_string(),
        kind: classify(status, error_type.as_deref()),
        status,
        code: error_type,
        message,
    };
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) if ok_status => return Err(malformed(format!("not JSON ({e})"))),
        Err(_) => return Err(api(None, format!("HTTP {status} without Kite's error envelope"))),
    };
    let Some(obj) = value.as_object() else {
        if ok_status {
            return Err(malformed("not a JSON object".into()));
        }
        return Err(api(None, format!("HTTP {status} without Kite's error envelope")));
    };
    let error_type = obj.get("error_type").and_then(|v| v.as_str()).map(str::to_string);
    let said_error = obj.get("status").and_then(|v| v.as_str()) == Some("error") || error_type.is_some();
    if said_error || !ok_status {
        let message = obj
            .get("message")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {status} without a message"));
        // A success status with an error body: the body's error_type alone decides.
        let kind_status = if ok_status { 0 } else { status };
        return Err(KiteError::Api {
            request,
            path: path.to_string(),
            kind: classify(kind_status, error_type.as_deref()),
            status,
            code: error_type,
            message,
        });
    }
    let Some(data) = obj.get("data") else { return Err(malformed("no \"data\" in a success answer".into())) };
    serde_path_to_error::deserialize(data).map_err(|e| {
        let at = e.path().to_string();
        malformed(format!("data{}: {}", if at == "." { String::new() } else { format!(".{at}") }, e.inner()))
    })
}
