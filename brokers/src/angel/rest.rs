//! The Angel One SmartAPI REST client (brokers.md §2.2–2.8).
//!
//! One [`AngelClient`] per broker login. Every request carries the headers SmartAPI requires
//! (the API key as `X-PrivateKey`, `X-UserType`, `X-SourceID` and the client's IP and MAC
//! addresses, [`Identity`]); calls under `/rest/secure/` add `Authorization: Bearer <jwt>`.
//! Bodies are JSON. A login needs no browser: client code, MPIN and a TOTP code computed from
//! the stored seed ([`crate::totp`]) give a JWT, a refresh token and the feed token.
//!
//! Answers are Angel's envelope, `{"status":true,"data":…}`, or a failure in one of two
//! casings (`status`/`errorcode` from the API, `success`/`errorCode` from its gateway), which
//! become [`AngelError::Api`]; anything else (a WAF's HTML page, cut-off JSON) is
//! [`AngelError::Malformed`], never a panic. Logs carry the method, path, status and time only;
//! the tokens, the MPIN and the TOTP code are scrubbed from every text an error keeps.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::error::{classify, AngelError, RequestKind};
use super::model::{Candle, Holding, Ltp, Order, OrderReply, Position, Profile, Rms, Tokens, Trade};
use super::params::{ModifyOrder, PlaceOrder, Variety};
use crate::rest::{error_chain, http_client, path_segment};
use crate::secret::Secret;
use crate::totp;

/// SmartAPI's REST root.
pub const DEFAULT_ROOT: &str = "https://apiconnect.angelone.in";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(7);

const LOGIN: &str = "/rest/auth/angelbroking/user/v1/loginByPassword";
const REFRESH: &str = "/rest/auth/angelbroking/jwt/v1/generateTokens";
const PROFILE: &str = "/rest/secure/angelbroking/user/v1/getProfile";
const LOGOUT: &str = "/rest/secure/angelbroking/user/v1/logout";
const RMS: &str = "/rest/secure/angelbroking/user/v1/getRMS";
const PLACE: &str = "/rest/secure/angelbroking/order/v1/placeOrder";
const MODIFY: &str = "/rest/secure/angelbroking/order/v1/modifyOrder";
const CANCEL: &str = "/rest/secure/angelbroking/order/v1/cancelOrder";
const ORDER_BOOK: &str = "/rest/secure/angelbroking/order/v1/getOrderBook";
const DETAILS: &str = "/rest/secure/angelbroking/order/v1/details";
const TRADE_BOOK: &str = "/rest/secure/angelbroking/order/v1/getTradeBook";
const POSITIONS: &str = "/rest/secure/angelbroking/order/v1/getPosition";
const HOLDINGS: &str = "/rest/secure/angelbroking/portfolio/v1/getHolding";
const LTP: &str = "/rest/secure/angelbroking/order/v1/getLtpData";
const CANDLES: &str = "/rest/secure/angelbroking/historical/v1/getCandleData";

/// A login started with less than this left of its TOTP code's step waits for the next code,
/// so the code is not stale by the time Angel checks it.
const TOTP_MARGIN_SECS: u64 = 2;

/// Where requests come from, as SmartAPI's headers state it. Orders from an API key with a
/// registered static IP are accepted only from that IP (SEBI), so `public_ip` should be it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub local_ip: String,
    pub public_ip: String,
    pub mac: String,
}

impl Default for Identity {
    fn default() -> Identity {
        Identity { local_ip: "127.0.0.1".into(), public_ip: "127.0.0.1".into(), mac: "00:00:00:00:00:00".into() }
    }
}

/// A SmartAPI session's client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct AngelClient {
    root: String,
    api_key: String,
    client_code: String,
    tokens: Option<Tokens>,
    timeout: Duration,
    http: reqwest::Client,
}

impl std::fmt::Debug for AngelClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AngelClient")
            .field("root", &self.root)
            .field("client_code", &self.client_code)
            .field("tokens", &self.tokens.as_ref().map(|_| "****"))
            .finish()
    }
}

impl AngelClient {
    /// A client for `root` (normally [`DEFAULT_ROOT`]). Each request fails with a network
    /// error after `timeout`.
    pub fn new(
        root: &str,
        api_key: &str,
        client_code: &str,
        identity: &Identity,
        timeout: Duration,
    ) -> Result<AngelClient, AngelError> {
        let invalid = |detail: String| AngelError::Invalid { request: RequestKind::Read, detail };
        let header = |name: &str, v: &str| {
            HeaderValue::from_str(v).map_err(|_| invalid(format!("{name} {v:?} is not a valid header value")))
        };
        if api_key.is_empty() || client_code.is_empty() {
            return Err(invalid("api_key and client_code are required".into()));
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert("X-UserType", HeaderValue::from_static("USER"));
        headers.insert("X-SourceID", HeaderValue::from_static("WEB"));
        headers.insert("X-ClientLocalIP", header("local_ip", &identity.local_ip)?);
        headers.insert("X-ClientPublicIP", header("public_ip", &identity.public_ip)?);
        headers.insert("X-MACAddress", header("mac_address", &identity.mac)?);
        headers.insert("X-PrivateKey", header("api_key", api_key)?);
        let (http, root) = http_client(root, timeout, headers).map_err(invalid)?;
        Ok(AngelClient {
            root,
            api_key: api_key.to_string(),
            client_code: client_code.to_string(),
            tokens: None,
            timeout,
            http,
        })
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    pub fn client_code(&self) -> &str {
        &self.client_code
    }

    pub fn has_session(&self) -> bool {
        self.tokens.is_some()
    }

    /// The session's tokens (the feed token opens SmartStream).
    pub fn tokens(&self) -> Option<&Tokens> {
        self.tokens.as_ref()
    }

    /// Uses `tokens` from now on (kept from an earlier login).
    pub fn set_tokens(&mut self, tokens: Option<Tokens>) {
        self.tokens = tokens;
    }

    /// Logs in with the MPIN and the TOTP code of the seed at this moment. A code about to
    /// expire is not used: the login waits for the next one.
    pub async fn login(&mut self, mpin: &Secret, totp_seed: &Secret) -> Result<Tokens, AngelError> {
        let invalid = |detail: String| AngelError::Invalid { request: RequestKind::Login, detail };
        let mut now = unix_now();
        if totp::secs_left(now) <= TOTP_MARGIN_SECS {
            tokio::time::sleep(Duration::from_secs(totp::secs_left(now))).await;
            now = unix_now();
        }
        let code = totp::code_at(totp_seed, now).map_err(|e| invalid(e.to_string()))?;
        self.login_with_code(mpin, &code).await
    }

    /// Logs in with a TOTP code computed elsewhere.
    pub async fn login_with_code(&mut self, mpin: &Secret, code: &Secret) -> Result<Tokens, AngelError> {
        let body = serde_json::json!({
            "clientcode": self.client_code,
            "password": mpin.expose(),
            "totp": code.expose(),
        });
        let body = Zeroizing::new(body.to_string());
        let tokens: Tokens = self
            .send(RequestKind::Login, Method::POST, LOGIN, Some(&body), &[mpin.expose(), code.expose()], false)
            .await?;
        if tokens.jwt.is_empty() {
            return Err(AngelError::Malformed {
                request: RequestKind::Login,
                path: LOGIN.into(),
                status: 200,
                detail: "the login has no jwtToken".into(),
            });
        }
        self.tokens = Some(tokens.clone());
        Ok(tokens)
    }

    /// New tokens from the refresh token (the JWT lasts the day; this renews it without a
    /// TOTP code).
    pub async fn refresh(&mut self) -> Result<Tokens, AngelError> {
        let Some(current) = &self.tokens else {
            return Err(AngelError::NoSession { request: RequestKind::Login, path: REFRESH.into() });
        };
        let body = Zeroizing::new(serde_json::json!({ "refreshToken": current.refresh.expose() }).to_string());
        let mut tokens: Tokens = self.send(RequestKind::Login, Method::POST, REFRESH, Some(&body), &[], true).await?;
        if tokens.jwt.is_empty() {
            return Err(AngelError::Malformed {
                request: RequestKind::Login,
                path: REFRESH.into(),
                status: 200,
                detail: "the refresh has no jwtToken".into(),
            });
        }
        if tokens.refresh.is_empty() {
            tokens.refresh = current.refresh.clone();
        }
        if tokens.feed.is_empty() {
            tokens.feed = current.feed.clone();
        }
        self.tokens = Some(tokens.clone());
        Ok(tokens)
    }

    /// Ends the session and forgets its tokens.
    pub async fn logout(&mut self) -> Result<(), AngelError> {
        let body = serde_json::json!({ "clientcode": self.client_code }).to_string();
        let _: serde_json::Value = self.send(RequestKind::Logout, Method::POST, LOGOUT, Some(&body), &[], true).await?;
        self.tokens = None;
        Ok(())
    }

    pub async fn profile(&self) -> Result<Profile, AngelError> {
        self.get(PROFILE).await
    }

    /// Funds and margins.
    pub async fn rms(&self) -> Result<Rms, AngelError> {
        self.get(RMS).await
    }

    /// Places an order: Angel's order id and unique order id.
    pub async fn place_order(&self, order: &PlaceOrder) -> Result<OrderReply, AngelError> {
        order.validate().map_err(|detail| AngelError::Invalid { request: RequestKind::PlaceOrder, detail })?;
        let body = order.body().to_string();
        self.send(RequestKind::PlaceOrder, Method::POST, PLACE, Some(&body), &[], true).await
    }

    pub async fn modify_order(&self, change: &ModifyOrder) -> Result<OrderReply, AngelError> {
        change.validate().map_err(|detail| AngelError::Invalid { request: RequestKind::ModifyOrder, detail })?;
        let body = change.body().to_string();
        self.send(RequestKind::ModifyOrder, Method::POST, MODIFY, Some(&body), &[], true).await
    }

    pub async fn cancel_order(&self, variety: Variety, order_id: &str) -> Result<OrderReply, AngelError> {
        let body = serde_json::json!({ "variety": variety.as_str(), "orderid": order_id }).to_string();
        self.send(RequestKind::CancelOrder, Method::POST, CANCEL, Some(&body), &[], true).await
    }

    /// The day's orders (Angel sends `null` for none).
    pub async fn order_book(&self) -> Result<Vec<Order>, AngelError> {
        Ok(self.get::<Option<Vec<Order>>>(ORDER_BOOK).await?.unwrap_or_default())
    }

    /// One order's latest state, by its unique order id.
    pub async fn order_details(&self, unique_order_id: &str) -> Result<Order, AngelError> {
        self.get(&format!("{DETAILS}/{}", path_segment(unique_order_id))).await
    }

    /// The day's fills (Angel sends `null` for none).
    pub async fn trade_book(&self) -> Result<Vec<Trade>, AngelError> {
        Ok(self.get::<Option<Vec<Trade>>>(TRADE_BOOK).await?.unwrap_or_default())
    }

    pub async fn positions(&self) -> Result<Vec<Position>, AngelError> {
        Ok(self.get::<Option<Vec<Position>>>(POSITIONS).await?.unwrap_or_default())
    }

    pub async fn holdings(&self) -> Result<Vec<Holding>, AngelError> {
        Ok(self.get::<Option<Vec<Holding>>>(HOLDINGS).await?.unwrap_or_default())
    }

    /// The last price of one instrument.
    pub async fn ltp(&self, exchange: &str, tradingsymbol: &str, symboltoken: &str) -> Result<Ltp, AngelError> {
        let body =
            serde_json::json!({ "exchange": exchange, "tradingsymbol": tradingsymbol, "symboltoken": symboltoken })
                .to_string();
        self.send(RequestKind::Read, Method::POST, LTP, Some(&body), &[], true).await
    }

    /// Candles of `interval` (`ONE_MINUTE`, `FIVE_MINUTE`, … `ONE_DAY`) between `from` and
    /// `to`, both `yyyy-MM-dd HH:mm` in IST.
    pub async fn candles(
        &self,
        exchange: &str,
        symboltoken: &str,
        interval: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<Candle>, AngelError> {
        let body = serde_json::json!({
            "exchange": exchange, "symboltoken": symboltoken, "interval": interval,
            "fromdate": from, "todate": to,
        })
        .to_string();
        Ok(self
            .send::<Option<Vec<Candle>>>(RequestKind::Read, Method::POST, CANDLES, Some(&body), &[], true)
            .await?
            .unwrap_or_default())
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, AngelError> {
        self.send(RequestKind::Read, Method::GET, path, None, &[], true).await
    }

    /// Sends one request and reads Angel's envelope. `extra_secrets` are scrubbed, with the
    /// session's tokens, from any text an error keeps; `authed` requests need a session.
    async fn send<T: DeserializeOwned>(
        &self,
        request: RequestKind,
        method: Method,
        path: &str,
        body: Option<&str>,
        extra_secrets: &[&str],
        authed: bool,
    ) -> Result<T, AngelError> {
        let url = format!("{}{path}", self.root);
        let mut rb = self.http.request(method.clone(), &url).timeout(self.timeout);
        if authed {
            let Some(tokens) = &self.tokens else { return Err(AngelError::NoSession { request, path: path.into() }) };
            let value = Zeroizing::new(format!("Bearer {}", tokens.jwt.expose()));
            let mut header = HeaderValue::from_str(&value)
                .map_err(|_| AngelError::Invalid { request, detail: "the JWT is not a valid header value".into() })?;
            header.set_sensitive(true);
            rb = rb.header(AUTHORIZATION, header);
        }
        if let Some(body) = body {
            rb = rb.body(body.to_string());
        }
        let started = Instant::now();
        let scrub = |text: String| self.scrub(text, extra_secrets);
        let response = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                let sent = !e.is_connect() && !e.is_builder();
                let timed_out = e.is_timeout();
                let detail = scrub(error_chain(&e.without_url()));
                tracing::debug!(%method, path, timed_out, sent, "angel request failed: {detail}");
                return Err(AngelError::Transport { request, path: path.into(), sent, timed_out, detail });
            }
        };
        let status = response.status().as_u16();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                let timed_out = e.is_timeout();
                let detail = scrub(format!("the answer broke off: {}", error_chain(&e.without_url())));
                if timed_out {
                    return Err(AngelError::Transport { request, path: path.into(), sent: true, timed_out, detail });
                }
                return Err(AngelError::Malformed { request, path: path.into(), status, detail });
            }
        };
        tracing::debug!(%method, path, status, bytes = bytes.len(), ms = started.elapsed().as_millis() as u64, "angel");
        parse_envelope(request, path, status, &bytes).map_err(|e| match e {
            AngelError::Api { request, path, kind, status, code, message } => {
                AngelError::Api { request, path, kind, status, code, message: scrub(message) }
            }
            AngelError::Malformed { request, path, status, detail } => {
                AngelError::Malformed { request, path, status, detail: scrub(detail) }
            }
            other => other,
        })
    }

    fn scrub(&self, text: String, extra: &[&str]) -> String {
        let tokens = self.tokens.iter().flat_map(|t| [t.jwt.expose(), t.refresh.expose(), t.feed.expose()]);
        crate::rest::scrub(text, extra.iter().copied().chain(tokens))
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Reads Angel's envelope (brokers.md §2.4). A body with `success`, or without `status`, or
/// with a false `status` (a boolean, or the string the docs sometimes show) is a failure, as
/// the official Java client decides; its code is `errorcode` or `errorCode`. An error status
/// without an envelope is a failure of that status; a success status whose body is not the
/// envelope, or whose `data` does not fit `T`, is malformed.
pub fn parse_envelope<T: DeserializeOwned>(
    request: RequestKind,
    path: &str,
    status: u16,
    body: &[u8],
) -> Result<T, AngelError> {
    let ok_status = (200..300).contains(&status);
    let malformed = |detail: String| AngelError::Malformed { request, path: path.to_string(), status, detail };
    let api = |code: Option<String>, message: String| AngelError::Api {
        request,
        path: path.to_string(),
        kind: classify(if ok_status && code.is_some() { 0 } else { status }, code.as_deref(), &message),
        status,
        code,
        message,
    };
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) if ok_status => return Err(malformed(format!("not JSON ({e})"))),
        Err(_) => {
            // Angel's rate limiter and WAF answer in plain text or HTML; keep a line of it.
            let text = String::from_utf8_lossy(body);
            let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
            let line: String = line.chars().take(200).collect();
            return Err(api(None, if line.is_empty() { format!("HTTP {status} without an answer") } else { line }));
        }
    };
    let Some(obj) = value.as_object() else {
        if ok_status {
            return Err(malformed("not a JSON object".into()));
        }
        return Err(api(None, format!("HTTP {status} without Angel's envelope")));
    };
    let truthy = |v: Option<&serde_json::Value>| match v {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    let failed = obj.contains_key("success") || !truthy(obj.get("status"));
    if failed || !ok_status {
        if !obj.contains_key("success") && !obj.contains_key("status") && ok_status {
            return Err(malformed("no \"status\" in the answer".into()));
        }
        let code = ["errorcode", "errorCode"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(|v| v.as_str()))
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        let message = obj
            .get("message")
            .and_then(|v| v.as_str())
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {status} without a message"));
        return Err(api(code, message));
    }
    let data = obj.get("data").cloned().unwrap_or(serde_json::Value::Null);
    serde_path_to_error::deserialize(data).map_err(|e| {
        let at = e.path().to_string();
        malformed(format!("data{}: {}", if at == "." { String::new() } else { format!(".{at}") }, e.inner()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_kind::BrokerErrorKind as K;

    fn parse(status: u16, body: &str) -> Result<serde_json::Value, AngelError> {
        parse_envelope(RequestKind::Read, "/p", status, body.as_bytes())
    }

    #[test]
    fn both_failure_casings_are_api_errors() {
        let e = parse(200, r#"{"status":false,"message":"Invalid totp","errorcode":"AB1050","data":null}"#)
            .expect_err("failure");
        assert_eq!((e.kind(), e.code(), e.message()), (K::Permission, Some("AB1050"), "Invalid totp"));
        let e = parse(401, r#"{"success":false,"message":"Invalid Token","errorCode":"AG8001","data":""}"#)
            .expect_err("failure");
        assert_eq!((e.kind(), e.code(), e.http_status()), (K::SessionExpired, Some("AG8001"), Some(401)));
        let e = parse(200, r#"{"status":"false","message":"x","errorcode":"AB1013","data":"null"}"#).expect_err("f");
        assert_eq!(e.kind(), K::Order, "the docs' string form");
    }

    #[test]
    fn plain_text_and_html_are_not_answers() {
        let e = parse(403, "Access denied because of exceeding rate limit").expect_err("limited");
        assert_eq!(e.kind(), K::RateLimited);
        let e = parse(200, "<html><body>Request Rejected</body></html>").expect_err("waf");
        assert_eq!(e.kind(), K::Malformed);
        assert!(e.outcome_unknown(), "a 200 whose body is unreadable may have been acted on");
        let e = parse(200, r#"{"message":"SUCCESS"}"#).expect_err("no status");
        assert_eq!(e.kind(), K::Malformed);
    }

    #[test]
    fn success_gives_data_and_null_data_reads_as_none() {
        let v = parse(200, r#"{"status":true,"message":"SUCCESS","errorcode":"","data":{"a":1}}"#).expect("ok");
        assert_eq!(v["a"], 1);
        let none: Option<Vec<Order>> =
            parse_envelope(RequestKind::Read, "/p", 200, br#"{"status":true,"data":null}"#).expect("ok");
        assert!(none.is_none());
        let wrong = parse_envelope::<Vec<Order>>(RequestKind::Read, "/p", 200, br#"{"status":true,"data":"x"}"#);
        assert_eq!(wrong.expect_err("shape").kind(), K::Malformed);
    }
}
