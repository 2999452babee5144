//! The HTTP/WebSocket server: axum on its own tokio runtime and threads, never the engine's.
//!
//! Authorization, on every route: admins see and do everything; a trader sees and trades only
//! the accounts they own (orders, cancels, modifies, their accounts' kill switches); a viewer
//! only reads their own accounts. Anything of an account the caller does not own answers 404
//! (as if it did not exist), never the data; an action the role may not take at all answers
//! 403.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use dalal_core::model::LimitsInRupees;
use dalal_core::model::StrategyParams;
use dalal_core::model::{
    AccountId, InstrumentId, OrderId, OrderIntent, OrderType, Price, Product, Qty, Side, Tag, Validity,
};
use dalal_core::model::{Command, KillScope};
use dalal_persistence::store::{Store, StoreOptions};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{broadcast, oneshot};

use crate::auth::{self, Claims};
use crate::desk::{BrokerDesk, DeskError, DeskLogin, EngineBook, LoginUpdate};
use crate::extract::{Body, Caller, Client, OptBody, P, Q};
use crate::guard::{AddressBudget, Admit, CheckError, LockoutPolicy, Lockouts, PasswordChecks};
use crate::link::{
    candle_json, fill_json, order_json, pnl_json, position_json, EngineLink, Names, SendError, MANUAL_STRATEGY,
};
use crate::users::{now_ns, KeyRow, Role, SessionChange, User, Users};

/// Server settings.
#[derive(Clone)]
pub struct AdminConfig {
    /// Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Access token lifetime (default 15 min).
    pub token_ttl: Duration,
    /// Refresh token lifetime (default 12 h).
    pub refresh_ttl: Duration,
    /// Failed sign-ins per client address and name before that pair backs off (default 3):
    /// 429 for `lockout_delay`, doubled at each further failure up to `lockout_duration`.
    pub lockout_attempts: u32,
    /// The longest back-off, and how long a locked name stays locked after its last failure
    /// (default 15 min).
    pub lockout_duration: Duration,
    /// The first back-off, and how long each attempt at a locked name is held before its
    /// credentials are checked, one at a time (default 2 s).
    pub lockout_delay: Duration,
    /// Failed sign-ins of a name, from any addresses, before the name is locked (default 10).
    /// A locked name still admits the right password (and TOTP code when enrolled), after
    /// `lockout_delay`: a lock slows guessing without locking the user out.
    pub user_lock_attempts: u32,
    /// Requests to `/api/auth/*` per client address per minute (default 60); 429 beyond.
    pub auth_rate_per_min: u32,
    /// Argon2 password checks at once (default 0: one per core); more wait their turn.
    pub password_checks: usize,
    /// Reverse proxies (nginx) whose `X-Forwarded-For` is believed: for a request from one of
    /// these addresses, the client is the address the proxy appended (the last entry), and
    /// sign-in throttling counts that client rather than the proxy. Empty (the default): the
    /// TCP peer is the client and the header is ignored.
    pub trusted_proxies: Vec<IpAddr>,
    /// Requests per user per minute (default 1200); 429 beyond. WebSocket connections and
    /// the messages a socket sends count too.
    pub rate_limit_per_min: u32,
    /// Open WebSockets per user (default 8); 429 beyond.
    pub ws_per_user: usize,
    /// The token a Prometheus scrape presents (`Authorization: Bearer …`) for the full
    /// `/metrics`, with account and broker login names; without it `/metrics` names neither.
    pub metrics_token: Option<String>,
    /// A second address serving only the full `/metrics` (for a scraper on a private network);
    /// none: no second listener.
    pub metrics_listen: Option<SocketAddr>,
    /// What `/ready` checks besides the console's own store, broker sessions and the feed.
    pub ready_checks: Vec<ReadyCheck>,
    /// The master key that seals broker secrets; it seals TOTP secrets in the store too.
    /// None: TOTP cannot be enrolled (409).
    pub secret_key: Option<crate::sealed::SecretKey>,
    /// Tokio worker threads (default 1: the engine owns the other cores).
    pub workers: usize,
    /// Cores for the server threads (none: unpinned).
    pub cores: Vec<usize>,
    /// Password for the first `admin` user; else `DALAL_ADMIN_PASSWORD`; else random, printed once.
    pub initial_admin_password: Option<String>,
    /// HS256 signing key for access tokens; none: 32 random bytes per start (everyone logs in
    /// again after a restart).
    pub jwt_secret: Option<Vec<u8>>,
    /// SQL store for users and the audit log (`sqlite://…`, `postgres://…`); none: in memory.
    pub store_url: Option<String>,
    /// The engine runs with a journal on a branch of the ingress ring (its fill is reported).
    pub journal: bool,
    /// More gauges for `/metrics`, read at each scrape (persistence lag from the run).
    pub gauges: Vec<Gauge>,
    /// Broker logins of the run's live and shadow accounts, for `/api/brokers` and `/metrics`.
    pub brokers: Vec<BrokerLogin>,
    /// The vault and live broker reads behind `PUT`/`DELETE /api/brokers/{login}` and
    /// `/api/accounts/{name}/broker`; none: the run has no broker logins configured.
    pub broker_desk: Option<Arc<dyn BrokerDesk>>,
    /// The run's market feed, for `GET /api/feed` and `dalal_feed_*` on `/metrics`; none: the
    /// feed reports no health (a file, synthetic or UDP feed).
    pub market_feed: Option<crate::feed::FeedView>,
}

/// A broker login as the console shows it. The session is read at each request (its gateway
/// thread keeps it); it carries health, error counts and token expiry, never a secret.
#[derive(Clone)]
pub struct BrokerLogin {
    pub name: String,
    pub kind: String,
    /// Accounts bound to it and their modes (`paper`, `shadow`, `live`).
    pub accounts: Vec<(String, String)>,
    pub session: Arc<dyn Fn() -> Value + Send + Sync>,
}

impl std::fmt::Debug for BrokerLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerLogin").field("name", &self.name).field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// Something `/ready` looks at, added by the run (the SQL store, Redis): its name and a cheap
/// read of whether it is ready and its state (never a secret or an account's name).
#[derive(Clone)]
pub struct ReadyCheck {
    pub name: &'static str,
    pub read: Arc<dyn Fn() -> (bool, Value) + Send + Sync>,
}

impl ReadyCheck {
    pub fn new(name: &'static str, read: impl Fn() -> (bool, Value) + Send + Sync + 'static) -> ReadyCheck {
        ReadyCheck { name, read: Arc::new(read) }
    }
}

impl std::fmt::Debug for ReadyCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadyCheck").field("name", &self.name).finish_non_exhaustive()
    }
}

/// A value `/metrics` reads at each scrape: `dalal_<name>` with its help text.
#[derive(Clone)]
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub read: Arc<dyn Fn() -> f64 + Send + Sync>,
}

impl Gauge {
    pub fn new(name: &'static str, help: &'static str, read: impl Fn() -> f64 + Send + Sync + 'static) -> Gauge {
        Gauge { name, help, read: Arc::new(read) }
    }
}

impl std::fmt::Debug for Gauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gauge").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Never a password, key or token.
impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: bool| if v { "****" } else { "(none)" };
        f.debug_struct("AdminConfig")
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            // The backend only: a URL may carry a password.
            .field("store", &self.store_url.as_deref().map(dalal_persistence::store::Backend::of_url))
            .field("initial_admin_password", &set(self.initial_admin_password.is_some()))
            .field("jwt_secret", &set(self.jwt_secret.is_some()))
            .field("metrics_token", &set(self.metrics_token.is_some()))
            .field("secret_key", &set(self.secret_key.is_some()))
            .finish_non_exhaustive()
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(12 * 3600),
            lockout_attempts: 3,
            lockout_duration: Duration::from_secs(15 * 60),
            lockout_delay: Duration::from_secs(2),
            user_lock_attempts: 10,
            auth_rate_per_min: 60,
            password_checks: 0,
            rate_limit_per_min: 1200,
            ws_per_user: 8,
            trusted_proxies: Vec::new(),
            metrics_token: None,
            metrics_listen: None,
            secret_key: None,
            ready_checks: Vec::new(),
            workers: 1,
            cores: Vec::new(),
            initial_admin_password: None,
            jwt_secret: None,
            store_url: None,
            journal: false,
            gauges: Vec::new(),
            brokers: Vec::new(),
            broker_desk: None,
            market_feed: None,
        }
    }
}

#[derive(Debug)]
pub struct AdminError(pub String);

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AdminError {}

/// A running server.
pub struct AdminHandle {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl AdminHandle {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound address of the metrics listener, when one was asked for.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Stops accepting, closes connections and joins the server thread.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for AdminHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

struct RefreshEntry {
    user: String,
    expires: Instant,
    /// The user's token generation when issued.
    gen: u64,
    /// The sign-in it descends from.
    family: String,
    /// Rotated already: presented again, it revokes its family.
    spent: bool,
}

pub(crate) struct App {
    link: EngineLink,
    names: Names,
    pub(crate) cfg: AdminConfig,
    key: Vec<u8>,
    users: Users,
    refresh: Mutex<HashMap<String, RefreshEntry>>,
    /// Revoked access tokens (`jti`) and sign-ins (`fam:<family>`), with when the last token
    /// they cover expires (s since the epoch).
    revoked: Mutex<HashMap<String, i64>>,
    /// Per account: its kill switch was engaged by an administrator, so only one may release it.
    kill_by_admin: Mutex<Vec<bool>>,
    /// sha256(key) → the key's row.
    api_keys: Mutex<HashMap<String, KeyRow>>,
    rate: Mutex<HashMap<String, (Instant, u32)>>,
    /// Argon2 checks, a few at a time in reused memory.
    checks: PasswordChecks,
    /// `/api/auth/*` requests per client address.
    auth_budget: AddressBudget,
    /// Failed sign-ins per address and name, and locked names.
    lockouts: Lockouts,
    /// Bumped at every change of a user's rights or credentials; open WebSockets re-check
    /// their caller's authorization when it moves.
    perms: tokio::sync::watch::Sender<u64>,
    started: Instant,
    /// Verified against when the user does not exist, so timing does not reveal which do.
    dummy_hash: String,
    /// Running state of each strategy as last commanded (all start running).
    running: Mutex<Vec<bool>>,
    /// Parameters of each strategy as last commanded (all start as configured).
    params: Mutex<Vec<StrategyParams>>,
    /// Adoptions sent per account and not yet seen in the view. Held across an adoption, so
    /// two never interleave (adoptions are rare: one at a time for the whole console is
    /// enough); see [`account_adopt`].
    adopting: tokio::sync::Mutex<HashMap<u32, PendingAdoption>>,
    /// Open WebSockets per user.
    sockets: Mutex<HashMap<String, usize>>,
}

type S = State<Arc<App>>;

/// An error answer: status and `{"error": …}`, with `Retry-After` when it says when to.
pub struct ApiError(StatusCode, String, Option<Duration>);

impl ApiError {
    pub(crate) fn new(code: StatusCode, msg: impl Into<String>) -> ApiError {
        ApiError(code, msg.into(), None)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(json!({"error": self.1}))).into_response();
        if let Some(d) = self.2 {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            if let Ok(v) = header::HeaderValue::from_str(&secs.max(1).to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

fn err(code: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError(code, msg.into(), None)
}

/// 429 with the time to wait.
fn too_many(retry: Duration) -> ApiError {
    ApiError(StatusCode::TOO_MANY_REQUESTS, "too many attempts; try again later".into(), Some(retry))
}

impl From<CheckError> for ApiError {
    fn from(e: CheckError) -> ApiError {
        match e {
            CheckError::Busy => ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string(), Some(Duration::from_secs(1))),
            CheckError::Failed(_) => err(StatusCode::INTERNAL_SERVER_ERROR, "password check failed"),
        }
    }
}

fn not_found() -> ApiError {
    err(StatusCode::NOT_FOUND, "not found")
}

fn forbidden() -> ApiError {
    err(StatusCode::FORBIDDEN, "forbidden for this role")
}

fn bad(msg: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, msg)
}

/// A command the engine's queue would not take: 503, so a client knows nothing was done and
/// may retry (the refusal is counted on `/metrics`).
impl From<SendError> for ApiError {
    fn from(e: SendError) -> ApiError {
        err(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

type R = Result<Json<Value>, ApiError>;

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Principal {
    pub username: String,
    pub role: Role,
    pub accounts: Vec<String>,
    pub via_api_key: bool,
    /// When the access token expires (s since the epoch); none for an API key.
    pub expires_s: Option<i64>,
}

impl Principal {
    fn sees(&self, account: &str) -> bool {
        self.role == Role::Admin || self.accounts.iter().any(|a| a == account)
    }

    fn trades(&self, account: &str) -> bool {
        self.role == Role::Admin || (self.role == Role::Trader && self.accounts.iter().any(|a| a == account))
    }
}

impl App {
    fn account_id(&self, name: &str) -> Option<u32> {
        self.names.accounts.iter().position(|a| a == name).map(|i| i as u32)
    }

    fn instrument_id(&self, sym: &str) -> Option<u32> {
        self.names.symbols.iter().position(|a| a == sym).map(|i| i as u32)
    }

    /// A visible account by name, or 404.
    fn visible_account(&self, p: &Principal, name: &str) -> Result<u32, ApiError> {
        match self.account_id(name) {
            Some(id) if p.sees(name) => Ok(id),
            _ => Err(not_found()),
        }
    }

    fn principal_of(&self, token: &str) -> Result<Principal, ApiError> {
        let unauth = || err(StatusCode::UNAUTHORIZED, "invalid or expired credentials");
        let (username, via_api_key, gen, expires_s) = if token.starts_with("dk_") {
            let h = auth::sha256_hex(token);
            let keys = self.api_keys.lock().unwrap_or_else(|e| e.into_inner());
            let k = keys.get(&h).ok_or_else(unauth)?;
            (k.user.clone(), true, k.gen, None)
        } else {
            let c: Claims = auth::verify(&self.key, token, auth::now_s()).map_err(|_| unauth())?;
            if self.is_revoked(&c) {
                return Err(unauth());
            }
            (c.sub, false, c.gen, Some(c.exp))
        };
        let users = self.users.lock();
        // A token of an older generation was issued before a password change: refused.
        let u = users.get(&username).filter(|u| !u.disabled && u.gen == gen).ok_or_else(unauth)?;
        Ok(Principal { username, role: u.role, accounts: u.accounts.clone(), via_api_key, expires_s })
    }

    /// An access token logged out, or issued in a sign-in whose refresh token was replayed.
    fn is_revoked(&self, c: &Claims) -> bool {
        let r = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
        r.contains_key(&c.jti) || (!c.fam.is_empty() && r.contains_key(&format!("fam:{}", c.fam)))
    }

    /// Ends a sign-in: every refresh token of its family, and every access token it issued.
    async fn revoke_family(&self, family: &str) {
        if family.is_empty() {
            return;
        }
        self.refresh.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, e| e.family != family);
        // Access tokens of the family live at most token_ttl from now.
        let until = auth::now_s() + self.cfg.token_ttl.as_secs() as i64 + 1;
        {
            let mut r = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
            let now = auth::now_s();
            r.retain(|_, t| *t > now);
            r.insert(format!("fam:{family}"), until);
        }
        self.users
            .save_session(SessionChange::FamilyRevoked { family, until_ns: until.saturating_mul(1_000_000_000) })
            .await;
        self.rights_changed();
    }

    /// Tells open WebSockets to re-check their caller's authorization.
    fn rights_changed(&self) {
        self.perms.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Forgets every refresh token and API key of `user` (in memory and in the store).
    async fn revoke_all(&self, user: &str) {
        self.refresh.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, e| e.user != user);
        self.api_keys.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, k| k.user != user);
        self.users.save_session(SessionChange::RevokeAll { user }).await;
    }

    /// Accepts `code` for `user` if it is a current TOTP code of a time step later than the
    /// last one accepted (so each code works once), and records its step. True for a user
    /// without TOTP.
    async fn totp_passes(&self, user: &str, code: Option<&str>) -> bool {
        let updated = {
            let mut users = self.users.lock();
            let Some(u) = users.get_mut(user) else { return false };
            let Some(secret) = &u.totp else { return true };
            let Some(step) = code.and_then(|c| auth::totp_step(secret, c, auth::now_s())) else { return false };
            if step <= u.totp_step {
                return false;
            }
            u.totp_step = step;
            u.clone()
        };
        self.users.persist(&updated).await;
        true
    }

    /// Holds or refuses an attempt at `name` from `ip` as the lockouts say.
    async fn admit(&self, ip: IpAddr, name: &str) -> Result<(), ApiError> {
        match self.lockouts.admit(ip, name, Instant::now()) {
            Admit::Now => Ok(()),
            Admit::After(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Admit::Refuse(d) => Err(too_many(d)),
        }
    }

    /// Counts a failed sign-in (or re-authentication) of `name` from `ip`, storing a lock it
    /// starts on a known user; true when it locked the name.
    async fn failed(&self, ip: IpAddr, name: &str) -> bool {
        let Some(until) = self.lockouts.failed(ip, name, Instant::now()) else { return false };
        if self.users.lock().contains_key(name) {
            let left = until.saturating_duration_since(Instant::now());
            let until_ns = now_ns().saturating_add(left.as_nanos().min(i64::MAX as u128) as i64);
            self.users.save_session(SessionChange::Lock { user: name, until_ns: Some(until_ns) }).await;
        }
        true
    }

    /// The caller proves again who they are before a change of credentials: their current
    /// password, and a fresh TOTP code when enrolled. An API key cannot (it is not a
    /// password). Failures count like failed sign-ins, so a stolen access token cannot be
    /// used to guess the password.
    async fn reauth(
        &self,
        p: &Principal,
        ip: IpAddr,
        password: Option<&str>,
        code: Option<&str>,
    ) -> Result<(), ApiError> {
        if p.via_api_key {
            return Err(err(StatusCode::FORBIDDEN, "an API key cannot change credentials; sign in with the password"));
        }
        let refused = || {
            err(
                StatusCode::FORBIDDEN,
                "the current password (current_password) and, when TOTP is enrolled, a fresh code (current_totp) are required",
            )
        };
        let Some(pw) = password else { return Err(refused()) };
        self.admit(ip, &p.username).await?;
        let hash = self.users.lock().get(&p.username).map(|u| u.hash.clone()).ok_or_else(refused)?;
        let ok = self.checks.verify(pw.to_string(), hash).await? && self.totp_passes(&p.username, code).await;
        if !ok {
            let locked = self.failed(ip, &p.username).await;
            self.users.refusal(&p.username, "auth.reauth_failed", "bad credentials", locked).await;
            return Err(refused());
        }
        self.lockouts.succeeded(ip, &p.username, Instant::now());
        Ok(())
    }

    fn rate_ok(&self, user: &str) -> bool {
        let mut r = self.rate.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let e = r.entry(user.to_string()).or_insert((now, 0));
        if now.duration_since(e.0) >= Duration::from_secs(60) {
            *e = (now, 0);
        }
        e.1 += 1;
        e.1 <= self.cfg.rate_limit_per_min
    }

    /// New access and refresh tokens for `user`; the refresh token is kept (by hash) in memory
    /// and in the store.
    async fn issue(&self, user: &str, family: Option<String>) -> Value {
        let now = auth::now_s();
        let gen = self.users.lock().get(user).map_or(0, |u| u.gen);
        let family = family.unwrap_or_else(|| auth::random_token(12));
        let claims = Claims {
            sub: user.to_string(),
            aud: auth::AUDIENCE.into(),
            iss: auth::ISSUER.into(),
            iat: now,
            exp: now + self.cfg.token_ttl.as_secs().max(1) as i64,
            jti: auth::random_token(12),
            gen,
            fam: family.clone(),
        };
        let access = auth::sign(&self.key, &claims);
        let refresh = auth::random_token(32);
        let hash = auth::sha256_hex(&refresh);
        self.refresh.lock().unwrap_or_else(|e| e.into_inner()).insert(
            hash.clone(),
            RefreshEntry {
                user: user.to_string(),
                expires: Instant::now() + self.cfg.refresh_ttl,
                gen,
                family: family.clone(),
                spent: false,
            },
        );
        let expires_ns = now_ns().saturating_add(self.cfg.refresh_ttl.as_nanos().min(i64::MAX as u128) as i64);
        let row = crate::users::RefreshRow { hash, user: user.to_string(), expires_ns, gen, family, spent: false };
        self.users.save_session(SessionChange::Refresh(&row)).await;
        json!({"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
               "expires_in": self.cfg.token_ttl.as_secs()})
    }
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, the last address
/// of its `X-Forwarded-For` (the one the proxy added; earlier ones are the client's to forge).
pub(crate) fn client_ip(trusted: &[IpAddr], peer: IpAddr, h: &HeaderMap) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    h.get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .next_back()
        .unwrap_or(peer)
}

/// The token of an `Authorization: Bearer …` header (the scheme in any case).
pub(crate) fn bearer(h: &HeaderMap) -> Option<&str> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?.trim_start();
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Authenticates and rate-limits a request.
pub(crate) async fn who(app: &App, h: &HeaderMap) -> Result<Principal, ApiError> {
    let token = bearer(h).ok_or_else(|| err(StatusCode::UNAUTHORIZED, "missing bearer token"))?;
    let p = app.principal_of(token.trim())?;
    if !app.rate_ok(&p.username) {
        return Err(err(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded"));
    }
    Ok(p)
}

fn admin_only(p: &Principal) -> Result<(), ApiError> {
    if p.role == Role::Admin {
        Ok(())
    } else {
        Err(forbidden())
    }
}

/// Starts the server on its own runtime and thread(s). Creates the first admin if none exists.
pub fn serve(link: EngineLink, config: AdminConfig) -> Result<AdminHandle, AdminError> {
    let workers = config.workers.max(1);
    let cores = config.cores.clone();
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("dalal-admin")
        .on_thread_start(move || {
            let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(c) = cores.get(i % cores.len().max(1)) {
                let _ = dalal_core::engine::placement::pin_current(
                    "dalal-admin",
                    Some(*c),
                    &dalal_core::engine::placement::available_cores(),
                );
            }
        })
        .enable_all()
        .build()
        .map_err(|e| AdminError(format!("admin runtime: {e}")))?;
    let names = Names::from_setup(&link.setup);
    let names_accounts = names.accounts.len();
    let (app, (listener, scrape)) = rt.block_on(async {
        let store = match &config.store_url {
            Some(url) => {
                let opts = StoreOptions { run_id: "admin".into(), ..StoreOptions::default() };
                Some(Store::open(url, &link.setup, opts).await.map_err(|e| AdminError(format!("admin store: {e}")))?)
            }
            None => None,
        };
        let users = Users::new(store, config.secret_key.clone());
        users.load().await.map_err(|e| AdminError(format!("admin store: loading users: {e}")))?;
        let sessions =
            users.load_sessions().await.map_err(|e| AdminError(format!("admin store: loading sessions: {e}")))?;
        let (now, now_ns) = (Instant::now(), now_ns());
        let later = |ns: i64| now + Duration::from_nanos(u64::try_from(ns.saturating_sub(now_ns)).unwrap_or(0));
        let lockouts = Lockouts::new(LockoutPolicy {
            attempts: config.lockout_attempts.max(1),
            delay: config.lockout_delay,
            duration: config.lockout_duration,
            name_attempts: config.user_lock_attempts.max(1),
        });
        for (name, until) in &sessions.lockouts {
            if *until > now_ns {
                lockouts.restore(name, later(*until), now);
            }
        }
        let refresh_loaded: HashMap<String, RefreshEntry> = sessions
            .refresh
            .into_iter()
            .filter(|r| r.expires_ns > now_ns)
            .map(|r| {
                let e = RefreshEntry {
                    user: r.user,
                    expires: later(r.expires_ns),
                    gen: r.gen,
                    family: r.family,
                    spent: r.spent,
                };
                (r.hash, e)
            })
            .collect();
        let revoked_loaded: HashMap<String, i64> = sessions
            .revoked
            .into_iter()
            .filter(|r| r.1 > now_ns)
            .map(|(id, until)| (id, until / 1_000_000_000 + 1))
            .collect();
        let keys_loaded: HashMap<String, KeyRow> = sessions.api_keys.into_iter().map(|k| (k.hash.clone(), k)).collect();
        let key = match &config.jwt_secret {
            Some(k) if k.len() >= 16 => k.clone(),
            Some(_) => return Err(AdminError("admin: jwt_secret must be at least 16 bytes".into())),
            None => {
                let mut key = vec![0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
                key
            }
        };
        let link_strategies = link.setup.strategies.len();
        let link_params: Vec<StrategyParams> = link.setup.strategies.iter().map(|s| s.params).collect();
        let app = Arc::new(App {
            link,
            names,
            cfg: config.clone(),
            key,
            users,
            refresh: Mutex::new(refresh_loaded),
            revoked: Mutex::new(revoked_loaded),
            kill_by_admin: Mutex::new(vec![false; names_accounts]),
            api_keys: Mutex::new(keys_loaded),
            rate: Mutex::new(HashMap::new()),
            checks: PasswordChecks::new(config.password_checks),
            auth_budget: AddressBudget::new(config.auth_rate_per_min),
            lockouts,
            perms: tokio::sync::watch::Sender::new(0),
            started: Instant::now(),
            dummy_hash: auth::hash_password(&auth::random_token(16)).map_err(AdminError)?,
            running: Mutex::new(vec![true; link_strategies]),
            params: Mutex::new(link_params),
            adopting: tokio::sync::Mutex::new(HashMap::new()),
            sockets: Mutex::new(HashMap::new()),
        });
        first_admin(&app).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| AdminError(format!("admin: cannot listen on {}: {e}", config.listen)))?;
        let scrape = match config.metrics_listen {
            Some(a) => Some(
                tokio::net::TcpListener::bind(a)
                    .await
                    .map_err(|e| AdminError(format!("admin: cannot listen for metrics on {a}: {e}")))?,
            ),
            None => None,
        };
        Ok::<_, AdminError>((app, (listener, scrape)))
    })?;
    let addr = listener.local_addr().map_err(|e| AdminError(e.to_string()))?;
    let metrics_addr = scrape.as_ref().and_then(|l| l.local_addr().ok());
    let (tx, rx) = oneshot::channel::<()>();
    let scrape_router = scrape.map(|l| {
        let app = app.clone();
        let r = Router::new()
            .route("/metrics", get(|State(app): S| async move { exposition_response(&app, true) }))
            .fallback(|| async { not_found() })
            .layer(axum::middleware::map_response(harden))
            .with_state(app);
        (l, r)
    });
    let flusher = app.clone();
    let router = router(app);
    let thread = std::thread::Builder::new()
        .name("dalal-admin-main".into())
        .spawn(move || {
            rt.block_on(async move {
                let (gtx, mut grx) = tokio::sync::watch::channel(false);
                // Refused sign-ins gathered in closed windows reach the audit log even when
                // nobody reads it.
                tokio::spawn(async move {
                    let mut every = tokio::time::interval(Duration::from_secs(10));
                    loop {
                        every.tick().await;
                        flusher.users.flush_refusals(false).await;
                    }
                });
                if let Some((l, r)) = scrape_router {
                    let mut g = grx.clone();
                    tokio::spawn(async move {
                        let served = axum::serve(l, r).with_graceful_shutdown(async move {
                            let _ = g.wait_for(|v| *v).await;
                        });
                        if let Err(e) = served.await {
                            tracing::error!(error = %e, "metrics listener stopped");
                        }
                    });
                }
                let service = router.into_make_service_with_connect_info::<SocketAddr>();
                let server = axum::serve(listener, service).with_graceful_shutdown(async move {
                    let _ = grx.wait_for(|v| *v).await;
                });
                let stop = async move {
                    let _ = rx.await;
                    let _ = gtx.send(true);
                    // Open WebSockets and keep-alive connections get this long to finish.
                    tokio::time::sleep(Duration::from_secs(3)).await;
                };
                tokio::select! {
                    r = server => {
                        if let Err(e) = r {
                            tracing::error!(error = %e, "admin server stopped");
                        }
                    }
                    _ = stop => tracing::warn!("admin server: connections still open at shutdown were closed"),
                }
            });
            rt.shutdown_timeout(Duration::from_secs(2));
        })
        .map_err(|e| AdminError(format!("admin thread: {e}")))?;
    tracing::info!(%addr, "admin console listening");
    if let Some(m) = metrics_addr {
        tracing::info!(addr = %m, "metrics listening");
    }
    Ok(AdminHandle { addr, metrics_addr, stop: Some(tx), thread: Some(thread) })
}

async fn first_admin(app: &App) -> Result<(), AdminError> {
    if app.users.lock().values().any(|u| u.role == Role::Admin) {
        return Ok(());
    }
    let (pw, generated) =
        match app.cfg.initial_admin_password.clone().or_else(|| std::env::var("DALAL_ADMIN_PASSWORD").ok()) {
            Some(p) if !p.is_empty() => (p, false),
            _ => (auth::random_token(18), true),
        };
    let hash = auth::hash_password(&pw).map_err(AdminError)?;
    let u = User::new("admin".into(), hash, Role::Admin, Vec::new());
    app.users.persist(&u).await;
    app.users.lock().insert("admin".into(), u);
    if generated {
        // Printed once, to the terminal only (never to the log or the audit trail).
        println!("admin console: created user `admin` with password {pw} (shown once; set DALAL_ADMIN_PASSWORD to choose it)");
    }
    app.users.audit("system", "user.create", json!({"username": "admin", "role": "admin"})).await;
    Ok(())
}

/// Counts a request to `/api/auth/*` against its client address's budget, before its body is
/// read.
async fn auth_budget(State(app): S, ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request, next: Next) -> Response {
    let ip = client_ip(&app.cfg.trusted_proxies, peer.ip(), req.headers());
    match app.auth_budget.take(ip, Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(retry) => too_many(retry).into_response(),
    }
}

fn router(app: Arc<App>) -> Router {
    let auth = Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), auth_budget));
    Router::new()
        .route("/", get(page))
        .route("/app.js", get(page_script))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi))
        .merge(auth)
        .route("/api/me", get(me))
        .route("/api/users", get(users_list).post(users_create))
        .route("/api/users/{name}", get(users_get).patch(users_patch))
        .route("/api/users/{name}/totp", post(users_totp))
        .route("/api/users/{name}/api-keys", post(users_api_key).get(users_api_keys))
        .route("/api/users/{name}/api-keys/{id}", delete(users_api_key_revoke))
        .route("/api/accounts", get(accounts_list))
        .route("/api/accounts/{name}", get(accounts_get))
        .route("/api/accounts/{name}/broker", get(account_broker))
        .route("/api/accounts/{name}/reconcile", get(account_reconcile))
        .route("/api/accounts/{name}/reconcile/adopt", post(account_adopt))
        .route("/api/instruments", get(instruments))
        .route("/api/strategies", get(strategies))
        .route("/api/strategies/{id}", get(strategy_get).patch(strategy_params))
        .route("/api/strategies/{id}/start", post(strategy_start))
        .route("/api/strategies/{id}/stop", post(strategy_stop))
        .route("/api/orders", get(orders_list).post(orders_place))
        .route("/api/orders/{id}", get(orders_get).patch(orders_modify).delete(orders_cancel))
        .route("/api/fills", get(fills))
        .route("/api/positions", get(positions))
        .route("/api/pnl", get(pnl))
        .route("/api/risk", get(risk_list))
        .route("/api/risk/{account}", get(risk_get).put(risk_set))
        .route("/api/kill-switch", get(kill_get).post(kill_set))
        .route("/api/latency", get(latency))
        .route("/api/candles", get(candles))
        .route("/api/audit", get(audit))
        .route("/api/reports", get(reports_list))
        .route("/api/reports/{id}", get(reports_get))
        .route("/api/brokers", get(brokers_list))
        .route("/api/brokers/status", get(brokers_status))
        .route("/api/brokers/{login}", put(broker_store).delete(broker_remove))
        .route("/api/feed", get(market_feed))
        .route("/api/ws", get(ws))
        .fallback(|| async { not_found() })
        .method_not_allowed_fallback(|| async { err(StatusCode::METHOD_NOT_ALLOWED, "method not allowed") })
        .layer(axum::middleware::map_response(harden))
        .layer(axum::middleware::from_fn(request_span))
        .with_state(app)
}

/// Every request runs in a span `request` with a `request_id` (the client's `X-Request-Id` when
/// it is a short token, else a new one), so each log line it causes, the audit's included,
/// carries it; the answer carries it back in `X-Request-Id`.
async fn request_span(req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map_or_else(|| auth::random_token(12), str::to_string);
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let mut r = next.run(req).instrument(span).await;
    if let Ok(v) = header::HeaderValue::from_str(&id) {
        r.headers_mut().insert("x-request-id", v);
    }
    r
}

/// The console's Content-Security-Policy: scripts only from this origin (no inline script),
/// never framed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// Headers every answer carries, and the JSON `Error` body for any error the framework
/// answered in plain text (a body too large, a method not allowed).
async fn harden(mut r: Response) -> Response {
    let status = r.status();
    let json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if (status.is_client_error() || status.is_server_error()) && !json {
        let (parts, body) = r.into_parts();
        let text = axum::body::to_bytes(body, 4096).await.map(|b| String::from_utf8_lossy(&b).into_owned());
        let msg = match text {
            Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => status.canonical_reason().unwrap_or("error").to_ascii_lowercase(),
        };
        let mut fresh = (status, Json(json!({"error": msg}))).into_response();
        for (k, v) in parts.headers.iter() {
            if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
                fresh.headers_mut().insert(k.clone(), v.clone());
            }
        }
        r = fresh;
    }
    let h = r.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    h.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static(CSP));
    // Tokens, positions and orders: nothing here belongs in a cache.
    h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    r
}

async fn page() -> impl IntoResponse {
    Html(include_str!("page.html"))
}

async fn page_script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("app.js"))
}

async fn health(State(app): S) -> Json<Value> {
    Json(json!({"status": "ok", "uptime_s": app.started.elapsed().as_secs()}))
}

/// Readiness, unauthenticated and cheap: each part with its state, 503 when any is not
/// ready. The console's store (pinged, at most a second), what the run adds (the SQL store's
/// writer, Redis), broker sessions (counted, never named) and the market feed (connected and
/// fresh). No account or login name appears.
async fn ready(State(app): S) -> Response {
    let mut checks = serde_json::Map::new();
    let mut all = true;
    let mut put = |name: &str, ok: bool, state: Value| {
        all &= ok;
        checks.insert(name.to_string(), json!({"ready": ok, "state": state}));
    };
    if let Some(s) = &app.users.store {
        let ok = matches!(tokio::time::timeout(Duration::from_secs(1), s.ping()).await, Ok(Ok(_)));
        put("console_store", ok, json!(if ok { "answering" } else { "not answering" }));
    }
    for c in &app.cfg.ready_checks {
        let (ok, state) = (c.read)();
        put(c.name, ok, state);
    }
    if !app.cfg.brokers.is_empty() {
        let healthy = app.cfg.brokers.iter().filter(|b| session_healthy(&(b.session)())).count();
        let unhealthy = app.cfg.brokers.len() - healthy;
        put("broker_sessions", unhealthy == 0, json!({"healthy": healthy, "unhealthy": unhealthy}));
    }
    if let Some(f) = &app.cfg.market_feed {
        let v = f.to_json(now_ns());
        let ok = v["status"] == "connected" && v["stale"] == false;
        put("feed", ok, json!({"status": v["status"], "stale": v["stale"], "last_frame_age_s": v["last_frame_age_s"]}));
    }
    let code = if all { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(json!({"ready": all, "checks": checks, "engine_events": app.link.read().events}))).into_response()
}

/// A broker session as its gateway reports it can trade.
fn session_healthy(session: &Value) -> bool {
    session.get("health").and_then(Value::as_str) == Some("healthy")
}

/// `/metrics` on the console's address. With the scrape token (`AdminConfig::metrics_token`)
/// it is the full exposition; without it, the public one, which names no account and no
/// broker login (kill switches and broker sessions are counted instead).
async fn metrics(State(app): S, h: HeaderMap) -> Response {
    let full = match (&app.cfg.metrics_token, bearer(&h)) {
        (Some(want), Some(got)) => {
            use crate::auth::CtEq;
            // Digests compared, so the time taken tells nothing of the token's length either.
            if !auth::sha256_hex(got).as_bytes().ct_eq_bytes(auth::sha256_hex(want).as_bytes()) {
                return err(StatusCode::UNAUTHORIZED, "wrong scrape token").into_response();
            }
            true
        }
        _ => false,
    };
    exposition_response(&app, full)
}

fn exposition_response(app: &App, full: bool) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], exposition(app, full)).into_response()
}

/// The Prometheus text exposition; `full` adds the series labelled with account and login
/// names.
fn exposition(app: &App, full: bool) -> String {
    use std::fmt::Write;
    let s = app.link.live.snapshot();
    let mut o = String::new();
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(o, "# HELP dalal_{name} {help}\n# TYPE dalal_{name} counter\ndalal_{name} {v}");
    };
    counter("ticks_in_total", "Ticks received by the engine.", s.ticks_in);
    counter("ticks_accepted_total", "Ticks accepted.", s.ticks_accepted);
    counter("candles_total", "Bars closed.", s.candles);
    counter("signals_total", "Strategy signals.", s.signals);
    counter("orders_total", "Orders created.", s.orders);
    counter("orders_rejected_total", "Orders rejected.", s.orders_rejected);
    counter("fills_total", "Fills.", s.fills);
    counter("venue_requests_total", "Requests sent to live venues (brokers).", s.venue[0]);
    let _ = writeln!(
        o,
        "# HELP dalal_venue_reports_total Reports from live venues: applied, or refused as unknown, duplicate or out of order.\n# TYPE dalal_venue_reports_total counter"
    );
    for (outcome, n) in dalal_core::engine::stats::VENUE_REPORTS.iter().zip(s.venue).skip(1) {
        let _ = writeln!(o, "dalal_venue_reports_total{{outcome=\"{outcome}\"}} {n}");
    }
    let _ = writeln!(
        o,
        "# HELP dalal_ticks_rejected_total Ticks refused, by reason.\n# TYPE dalal_ticks_rejected_total counter"
    );
    for (r, n) in &s.ticks_rejected {
        let _ = writeln!(o, "dalal_ticks_rejected_total{{reason=\"{}\"}} {n}", r.as_str());
    }
    let _ = writeln!(o, "# HELP dalal_risk_rejected_total Intents refused by risk, by reason.\n# TYPE dalal_risk_rejected_total counter");
    for (r, n) in &s.risk_rejected {
        let _ = writeln!(o, "dalal_risk_rejected_total{{reason=\"{}\"}} {n}", r.as_str());
    }
    let v = app.link.read();
    let p = v.tick_to_order.percentiles();
    let (events, missed) = (v.events, v.missed);
    drop(v);
    let _ = writeln!(o, "# HELP dalal_tick_to_order_seconds Tick-to-order latency (sampled).\n# TYPE dalal_tick_to_order_seconds summary");
    for (q, ns) in [("0.5", p.p50_ns), ("0.9", p.p90_ns), ("0.99", p.p99_ns), ("0.999", p.p999_ns)] {
        let _ = writeln!(o, "dalal_tick_to_order_seconds{{quantile=\"{q}\"}} {}", ns as f64 / 1e9);
    }
    let _ = writeln!(o, "dalal_tick_to_order_seconds_count {}", p.count);
    let _ = writeln!(o, "# HELP dalal_admin_egress_events_total Egress events seen by the admin view.\n# TYPE dalal_admin_egress_events_total counter\ndalal_admin_egress_events_total {events}");
    let _ = writeln!(o, "# HELP dalal_admin_egress_missed_total Egress events dropped before the admin view saw them (the engine does not wait for the console).\n# TYPE dalal_admin_egress_missed_total counter\ndalal_admin_egress_missed_total {missed}");
    let _ = writeln!(o, "# HELP dalal_admin_ws_subscribers WebSocket subscribers.\n# TYPE dalal_admin_ws_subscribers gauge\ndalal_admin_ws_subscribers {}", app.link.updates.receiver_count());
    let _ = writeln!(o, "# HELP dalal_admin_commands_accepted_total Operator commands queued for the engine.\n# TYPE dalal_admin_commands_accepted_total counter\ndalal_admin_commands_accepted_total {}", app.link.commands.accepted());
    let _ = writeln!(o, "# HELP dalal_admin_commands_queued Operator commands accepted and not yet in the ingress ring.\n# TYPE dalal_admin_commands_queued gauge\ndalal_admin_commands_queued {}", app.link.commands.queued());
    let _ = writeln!(o, "# HELP dalal_admin_commands_refused_total Operator commands refused with 503 (queue to the engine full or closed).\n# TYPE dalal_admin_commands_refused_total counter\ndalal_admin_commands_refused_total {}", app.link.commands.refused());
    let _ = writeln!(o, "# HELP dalal_stage_latency_seconds Processing time per stage, and tick to order (sampled by the engine).\n# TYPE dalal_stage_latency_seconds summary");
    for (i, stage) in dalal_core::engine::stats::STAGES.iter().enumerate() {
        let q = app.link.live.stage_quantiles(i);
        for (quantile, ns) in dalal_core::engine::stats::STAGE_QUANTILES.iter().zip(q) {
            let _ = writeln!(
                o,
                "dalal_stage_latency_seconds{{stage=\"{stage}\",quantile=\"{quantile}\"}} {}",
                ns as f64 / 1e9
            );
        }
    }
    {
        let f = app.link.progress.fill(app.cfg.journal);
        let _ = writeln!(o, "# HELP dalal_ring_fill Events published into a ring and not yet taken by its consumer.\n# TYPE dalal_ring_fill gauge");
        let mut rings = vec![("ingress", f.ingress), ("egress", f.egress)];
        if app.cfg.journal {
            rings.push(("journal", f.journal));
        }
        rings.extend([("candle_strategy", f.hops[0]), ("strategy_risk", f.hops[1]), ("risk_order", f.hops[2])]);
        for (ring, n) in rings {
            let _ = writeln!(o, "dalal_ring_fill{{ring=\"{ring}\"}} {n}");
        }
    }
    let _ = writeln!(
        o,
        "# HELP dalal_qty_underflows_total Quantity subtractions that would have gone below zero (a bookkeeping defect; clamped).\n# TYPE dalal_qty_underflows_total counter\ndalal_qty_underflows_total {}",
        dalal_core::model::Qty::underflows()
    );
    let _ = writeln!(o, "# HELP dalal_kill_switch Kill switches as the engine holds them (1 = engaged), including those it trips itself.\n# TYPE dalal_kill_switch gauge");
    let _ = writeln!(
        o,
        "dalal_kill_switch{{scope=\"global\"}} {}",
        u8::from(app.link.live.global_kill.load(std::sync::atomic::Ordering::Relaxed))
    );
    let engaged: Vec<bool> = (0..app.names.accounts.len())
        .map(|i| app.link.live.account_kill.get(i).is_some_and(|k| k.load(std::sync::atomic::Ordering::Relaxed)))
        .collect();
    if full {
        for (name, k) in app.names.accounts.iter().zip(&engaged) {
            let _ = writeln!(o, "dalal_kill_switch{{scope=\"account\",account=\"{name}\"}} {}", u8::from(*k));
        }
    }
    let _ = writeln!(
        o,
        "# HELP dalal_kill_switch_accounts_engaged Accounts whose kill switch is engaged.\n# TYPE dalal_kill_switch_accounts_engaged gauge\ndalal_kill_switch_accounts_engaged {}",
        engaged.iter().filter(|k| **k).count()
    );
    // Each session read once per scrape, for the counts and (full) the series by login.
    let sessions: Vec<(&str, Value)> = app.cfg.brokers.iter().map(|b| (b.name.as_str(), (b.session)())).collect();
    if !sessions.is_empty() {
        let healthy = sessions.iter().filter(|(_, v)| session_healthy(v)).count();
        let _ = writeln!(
            o,
            "# HELP dalal_broker_sessions Broker login sessions, by whether they can trade.\n# TYPE dalal_broker_sessions gauge\n\
             dalal_broker_sessions{{state=\"healthy\"}} {healthy}\ndalal_broker_sessions{{state=\"unhealthy\"}} {}",
            sessions.len() - healthy
        );
    }
    if full && !sessions.is_empty() {
        let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let _ = writeln!(o, "# HELP dalal_broker_session_healthy Broker login sessions that can trade (1), expired or erroring (0).\n# TYPE dalal_broker_session_healthy gauge");
        for (name, v) in &sessions {
            let _ = writeln!(o, "dalal_broker_session_healthy{{login=\"{name}\"}} {}", u8::from(session_healthy(v)));
        }
        for (metric, key, help) in [
            ("broker_errors_total", "errors", "Broker requests that failed."),
            ("broker_requests_total", "requests", "Broker requests answered."),
            (
                "broker_refused_expired_total",
                "refused_expired",
                "Orders refused unsent because the broker session had expired.",
            ),
            ("broker_shadow_requests_total", "shadow_requests", "Requests shadow accounts would have sent."),
        ] {
            let _ = writeln!(o, "# HELP dalal_{metric} {help}\n# TYPE dalal_{metric} counter");
            for (name, v) in &sessions {
                let _ = writeln!(o, "dalal_{metric}{{login=\"{name}\"}} {}", num(v, key));
            }
        }
    }
    if let Some(f) = &app.cfg.market_feed {
        f.write_metrics(&mut o, now_ns(), full);
    }
    for g in &app.cfg.gauges {
        let _ = writeln!(
            o,
            "# HELP dalal_{} {}\n# TYPE dalal_{} gauge\ndalal_{} {}",
            g.name,
            g.help,
            g.name,
            g.name,
            (g.read)()
        );
    }
    o
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::DOCUMENT).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginReq {
    username: String,
    password: String,
    totp: Option<String>,
}

/// Signs a user in. Every attempt costs one argon2 check (against a dummy hash for an unknown
/// name) and gets the same answer for any wrong name, password or TOTP code, so neither the
/// status nor the time tells whether the user exists or the password was right; throttling
/// is per client address and name ([`Lockouts`]). A disabled user is told so only after
/// presenting the right credentials.
async fn login(State(app): S, Client(ip): Client, Body(r): Body<LoginReq>) -> R {
    let generic = || err(StatusCode::UNAUTHORIZED, "invalid credentials");
    if r.password.len() > MAX_PASSWORD || r.username.len() > 256 {
        return Err(bad(format!("username: at most 256 bytes; password: at most {MAX_PASSWORD} bytes")));
    }
    app.admit(ip, &r.username).await?;
    let (hash, exists) = match app.users.lock().get(&r.username) {
        Some(u) => (u.hash.clone(), true),
        None => (app.dummy_hash.clone(), false),
    };
    let pw = app.checks.verify(r.password.clone(), hash).await?;
    let totp_ok = exists && pw && app.totp_passes(&r.username, r.totp.as_deref()).await;
    if !totp_ok {
        let locked = app.failed(ip, &r.username).await;
        let why = if !exists {
            "unknown user"
        } else if pw {
            "bad totp"
        } else {
            "bad password"
        };
        // An unknown name is not recorded: people type passwords into the username field.
        let actor = if exists { r.username.as_str() } else { "(unknown user)" };
        app.users.refusal(actor, "auth.login_failed", why, locked).await;
        return Err(generic());
    }
    if app.users.lock().get(&r.username).is_none_or(|u| u.disabled) {
        app.users.audit(&r.username, "auth.login_refused", json!({"reason": "disabled"})).await;
        return Err(err(StatusCode::FORBIDDEN, "account disabled"));
    }
    if app.lockouts.succeeded(ip, &r.username, Instant::now()) {
        app.users.save_session(SessionChange::Lock { user: &r.username, until_ns: None }).await;
    }
    app.users.audit(&r.username, "auth.login", json!({})).await;
    Ok(Json(app.issue(&r.username, None).await))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshReq {
    refresh_token: String,
}

/// Rotates a refresh token: the one presented is spent and a new pair is issued in the same
/// sign-in (family). A spent token presented again was copied: its whole family is revoked,
/// refresh and access tokens alike, so the thief and the user both sign in again.
async fn refresh(State(app): S, Body(r): Body<RefreshReq>) -> R {
    let refused = || err(StatusCode::UNAUTHORIZED, "invalid or revoked refresh token");
    let h = auth::sha256_hex(&r.refresh_token);
    let taken = {
        let mut m = app.refresh.lock().unwrap_or_else(|e| e.into_inner());
        match m.get_mut(&h) {
            None => None,
            Some(e) if e.spent => Some(Err((e.user.clone(), e.family.clone()))),
            Some(e) => {
                e.spent = true;
                Some(Ok((e.user.clone(), e.gen, e.family.clone(), e.expires)))
            }
        }
    };
    let (user, gen, family, expires) = match taken {
        None => return Err(refused()),
        Some(Err((user, family))) => {
            app.revoke_family(&family).await;
            app.users.audit(&user, "auth.refresh_replayed", json!({"sign_in_revoked": true})).await;
            return Err(refused());
        }
        Some(Ok(t)) => t,
    };
    app.users.save_session(SessionChange::RefreshSpent { hash: &h }).await;
    if expires <= Instant::now() || app.users.lock().get(&user).is_none_or(|u| u.disabled || u.gen != gen) {
        return Err(refused());
    }
    Ok(Json(app.issue(&user, Some(family)).await))
}

/// Ends a sign-in: the refresh token's family (every refresh token and access token of that
/// sign-in), and the access token presented, if any.
async fn logout(State(app): S, h: HeaderMap, Body(r): Body<RefreshReq>) -> R {
    let hash = auth::sha256_hex(&r.refresh_token);
    let e =
        app.refresh.lock().unwrap_or_else(|e| e.into_inner()).get(&hash).map(|e| (e.user.clone(), e.family.clone()));
    let mut families = Vec::new();
    if let Some(tok) = bearer(&h) {
        if let Ok(c) = auth::verify(&app.key, tok, auth::now_s()) {
            app.revoked.lock().unwrap_or_else(|e| e.into_inner()).insert(c.jti.clone(), c.exp);
            let until_ns = c.exp.saturating_mul(1_000_000_000);
            app.users.save_session(SessionChange::TokenRevoked { jti: &c.jti, until_ns }).await;
            families.push(c.fam);
        }
    }
    families.extend(e.as_ref().map(|(_, family)| family.clone()));
    families.dedup();
    for family in &families {
        app.revoke_family(family).await;
    }
    if let Some((user, _)) = e {
        app.users.audit(&user, "auth.logout", json!({})).await;
    }
    Ok(Json(json!({"ok": true})))
}

async fn me(State(app): S, Caller(p): Caller) -> R {
    let u = app.users.lock().get(&p.username).map(|u| u.public()).unwrap_or(Value::Null);
    Ok(Json(u))
}

async fn users_list(State(app): S, Caller(p): Caller) -> R {
    admin_only(&p)?;
    let mut v: Vec<Value> = app.users.lock().values().map(|u| u.public()).collect();
    v.sort_by(|a, b| a["username"].as_str().cmp(&b["username"].as_str()));
    Ok(Json(json!(v)))
}

async fn users_get(State(app): S, Caller(p): Caller, P(name): P<String>) -> R {
    if p.role != Role::Admin && p.username != name {
        return Err(not_found());
    }
    app.users.lock().get(&name).map(|u| Json(u.public())).ok_or_else(not_found)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    password: String,
    role: Role,
    #[serde(default)]
    accounts: Vec<String>,
}

/// Passwords: 8 to [`MAX_PASSWORD`] bytes.
fn check_password(pw: &str) -> Result<(), ApiError> {
    if pw.len() < 8 {
        return Err(bad("password: at least 8 characters"));
    }
    if pw.len() > MAX_PASSWORD {
        return Err(bad(format!("password: at most {MAX_PASSWORD} bytes")));
    }
    Ok(())
}

/// The longest password taken (argon2 hashes any length; this bounds the work a request asks).
const MAX_PASSWORD: usize = 1024;

fn check_accounts(app: &App, accounts: &[String]) -> Result<(), ApiError> {
    for a in accounts {
        if app.account_id(a).is_none() {
            return Err(bad(format!("unknown account {a:?}")));
        }
    }
    Ok(())
}

async fn users_create(State(app): S, Caller(p): Caller, Body(r): Body<NewUser>) -> R {
    admin_only(&p)?;
    if r.username.is_empty()
        || r.username.len() > 64
        || !r.username.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err(bad("username: 1-64 of [A-Za-z0-9_.-]"));
    }
    check_password(&r.password)?;
    check_accounts(&app, &r.accounts)?;
    if app.users.lock().contains_key(&r.username) {
        return Err(err(StatusCode::CONFLICT, "user exists"));
    }
    let hash = app.checks.hash(r.password.clone()).await?;
    let u = User::new(r.username.clone(), hash, r.role, r.accounts.clone());
    {
        // Checked again where it is inserted: of several creations of one name racing through
        // the hash, one wins and the rest get 409.
        let mut users = app.users.lock();
        if users.contains_key(&r.username) {
            return Err(err(StatusCode::CONFLICT, "user exists"));
        }
        users.insert(r.username.clone(), u.clone());
    }
    app.users.persist(&u).await;
    let out = u.public();
    app.users
        .audit(&p.username, "user.create", json!({"username": r.username, "role": r.role, "accounts": r.accounts}))
        .await;
    Ok(Json(out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchUser {
    role: Option<Role>,
    accounts: Option<Vec<String>>,
    disabled: Option<bool>,
    password: Option<String>,
    /// The caller's own password, required with `password`.
    current_password: Option<String>,
    /// The caller's TOTP code, required with `password` when the caller has TOTP.
    current_totp: Option<String>,
}

/// Proof of the caller's current credentials for a change of credentials.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Reauth {
    current_password: Option<String>,
    current_totp: Option<String>,
}

/// Changes a user. A new password (the user's own or an administrator's reset) needs the
/// caller's current password (and TOTP code) and bumps the user's token generation: every
/// access token, refresh token and API key the user had stops working at once. Disabling
/// does the same. Open WebSockets re-check their rights on any change.
async fn users_patch(
    State(app): S,
    Client(ip): Client,
    Caller(p): Caller,
    P(name): P<String>,
    Body(r): Body<PatchUser>,
) -> R {
    let is_self = p.username == name;
    if p.role != Role::Admin {
        // Non-admins may only change their own password.
        if !is_self {
            return Err(not_found());
        }
        if r.role.is_some() || r.accounts.is_some() || r.disabled.is_some() {
            return Err(forbidden());
        }
    }
    if let Some(a) = &r.accounts {
        check_accounts(&app, a)?;
    }
    if !app.users.lock().contains_key(&name) {
        return Err(not_found());
    }
    if let Some(pw) = &r.password {
        check_password(pw)?;
    }
    let hash = match &r.password {
        Some(pw) => {
            app.reauth(&p, ip, r.current_password.as_deref(), r.current_totp.as_deref()).await?;
            Some(app.checks.hash(pw.clone()).await?)
        }
        None => None,
    };
    let revoke = hash.is_some() || r.disabled == Some(true);
    let updated = {
        let mut users = app.users.lock();
        let demotes = r.role.is_some_and(|x| x != Role::Admin) || r.disabled == Some(true);
        let target_admin = users.get(&name).is_some_and(|u| u.role == Role::Admin && !u.disabled);
        if demotes
            && target_admin
            && !users.values().any(|u| u.username != name && u.role == Role::Admin && !u.disabled)
        {
            return Err(err(StatusCode::CONFLICT, "the last enabled admin cannot be demoted or disabled"));
        }
        let u = users.get_mut(&name).ok_or_else(not_found)?;
        if let Some(role) = r.role {
            u.role = role;
        }
        if let Some(a) = &r.accounts {
            u.accounts = a.clone();
        }
        if let Some(d) = r.disabled {
            u.disabled = d;
        }
        if let Some(hh) = hash {
            u.hash = hh;
        }
        if revoke {
            u.gen = u.gen.wrapping_add(1);
        }
        u.clone()
    };
    app.users.persist(&updated).await;
    if revoke {
        app.revoke_all(&name).await;
    }
    if r.disabled == Some(false) {
        app.lockouts.lift(&name);
        app.users.save_session(SessionChange::Lock { user: &name, until_ns: None }).await;
    }
    app.rights_changed();
    app.users
        .audit(
            &p.username,
            "user.update",
            json!({"username": name, "role": r.role, "accounts": r.accounts, "disabled": r.disabled,
                   "password_changed": r.password.is_some()}),
        )
        .await;
    let mut out = updated.public();
    if is_self && r.password.is_some() {
        // The caller's own sessions ended with the change; this one goes on with new tokens.
        out["tokens"] = app.issue(&name, None).await;
    }
    Ok(Json(out))
}

/// The caller, acting on the credentials of `name`: an admin or `name` itself (anyone else,
/// and an unknown name, answer 404), re-authenticated with its current password and TOTP.
async fn reauthed_for(
    app: &App,
    p: Principal,
    ip: IpAddr,
    name: &str,
    body: Option<Reauth>,
) -> Result<Principal, ApiError> {
    if p.role != Role::Admin && p.username != name {
        return Err(not_found());
    }
    if !app.users.lock().contains_key(name) {
        return Err(not_found());
    }
    let body = body.unwrap_or_default();
    app.reauth(&p, ip, body.current_password.as_deref(), body.current_totp.as_deref()).await?;
    Ok(p)
}

/// Enrols (or replaces) a TOTP secret. Needs the caller's current password and, when the
/// caller has TOTP, a fresh code; not with an API key.
async fn users_totp(
    State(app): S,
    Client(ip): Client,
    Caller(p): Caller,
    P(name): P<String>,
    OptBody(body): OptBody<Reauth>,
) -> R {
    if app.users.key.is_none() {
        return Err(err(
            StatusCode::CONFLICT,
            "TOTP secrets are sealed with the master key, and this console has none (set DALAL_MASTER_KEY or create the key file)",
        ));
    }
    let p = reauthed_for(&app, p, ip, &name, body).await?;
    let mut secret = vec![0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    let updated = {
        let mut users = app.users.lock();
        let u = users.get_mut(&name).ok_or_else(not_found)?;
        u.totp = Some(secret.clone());
        u.totp_step = 0;
        u.clone()
    };
    app.users.persist(&updated).await;
    app.users.audit(&p.username, "user.totp_enable", json!({"username": name})).await;
    let b32 = auth::base32(&secret);
    // The enrolment secret is shown to the caller once, and never logged or audited.
    Ok(Json(json!({"secret_base32": b32,
        "otpauth_uri": format!("otpauth://totp/Dalal:{name}?secret={b32}&issuer=Dalal")})))
}

/// A key's id in lists and in `DELETE …/api-keys/{id}`: the start of its hash (which does not
/// give the key).
fn key_id(k: &KeyRow) -> &str {
    k.hash.get(..16).unwrap_or(&k.hash)
}

/// Creates an API key for `name`: shown once, stored by hash. Needs the caller's current
/// password (and TOTP code); not with an API key.
async fn users_api_key(
    State(app): S,
    Client(ip): Client,
    Caller(p): Caller,
    P(name): P<String>,
    OptBody(body): OptBody<Reauth>,
) -> R {
    let p = reauthed_for(&app, p, ip, &name, body).await?;
    let Some(gen) = app.users.lock().get(&name).map(|u| u.gen) else { return Err(not_found()) };
    let key = format!("dk_{}", auth::random_token(32));
    let row = KeyRow {
        hash: auth::sha256_hex(&key),
        user: name.clone(),
        shown: format!("{}…", key.get(..7).unwrap_or("dk_")),
        created_ns: now_ns(),
        gen,
    };
    app.users.save_session(SessionChange::ApiKey(&row)).await;
    let id = key_id(&row).to_string();
    app.api_keys.lock().unwrap_or_else(|e| e.into_inner()).insert(row.hash.clone(), row);
    app.users.audit(&p.username, "user.api_key_create", json!({"username": name, "id": id})).await;
    Ok(Json(json!({"api_key": key, "username": name, "id": id})))
}

/// A user's API keys, masked (the key's first characters only), oldest first.
async fn users_api_keys(State(app): S, Caller(p): Caller, P(name): P<String>) -> R {
    if p.role != Role::Admin && p.username != name {
        return Err(not_found());
    }
    if !app.users.lock().contains_key(&name) {
        return Err(not_found());
    }
    let keys = app.api_keys.lock().unwrap_or_else(|e| e.into_inner());
    let mut v: Vec<&KeyRow> = keys.values().filter(|k| k.user == name).collect();
    v.sort_by(|a, b| (a.created_ns, key_id(a)).cmp(&(b.created_ns, key_id(b))));
    let out: Vec<Value> =
        v.into_iter().map(|k| json!({"id": key_id(k), "key": k.shown, "created_ns": k.created_ns})).collect();
    Ok(Json(json!(out)))
}

/// Revokes one API key of `name` (the user or an admin, with a key too: revoking only takes
/// rights away).
async fn users_api_key_revoke(State(app): S, Caller(p): Caller, P((name, id)): P<(String, String)>) -> R {
    if p.role != Role::Admin && p.username != name {
        return Err(not_found());
    }
    let hash = {
        let mut keys = app.api_keys.lock().unwrap_or_else(|e| e.into_inner());
        let hash = keys.values().find(|k| k.user == name && key_id(k) == id).map(|k| k.hash.clone());
        let hash = hash.ok_or_else(not_found)?;
        keys.remove(&hash);
        hash
    };
    app.users.save_session(SessionChange::ApiKeyRevoked { hash: &hash }).await;
    app.rights_changed();
    app.users.audit(&p.username, "user.api_key_revoke", json!({"username": name, "id": id})).await;
    Ok(Json(json!({"revoked": id})))
}

fn account_json(app: &App, i: usize) -> Value {
    let a = &app.link.setup.accounts[i];
    let v = app.link.read();
    let s = &app.link.live;
    let r = s.realized.get(i).map_or(0, |x| x.load(std::sync::atomic::Ordering::Relaxed));
    let u = s.unrealized.get(i).map_or(0, |x| x.load(std::sync::atomic::Ordering::Relaxed));
    let owners: Vec<String> =
        app.users.lock().values().filter(|u| u.accounts.contains(&a.name)).map(|u| u.username.clone()).collect();
    json!({
        "name": a.name, "id": a.id.0, "funds": a.funds.0 as f64 / 100.0,
        "kill_switch": v.account_kill.get(i).copied().unwrap_or(false), "limits": v.limits.get(i).map(LimitsInRupees::from_limits),
        "realized": r as f64 / 100.0, "unrealized": u as f64 / 100.0, "users": owners,
        "strategies": app.link.setup.strategies.iter().filter(|s| s.account == a.id).map(|s| s.id.0).collect::<Vec<_>>(),
    })
}

/// Broker logins and their sessions: an admin sees every login; others see the logins their
/// accounts trade through, listing only their own accounts.
async fn brokers_list(State(app): S, Caller(p): Caller) -> R {
    let v: Vec<Value> = app
        .cfg
        .brokers
        .iter()
        .filter_map(|b| {
            let accounts: Vec<Value> = b
                .accounts
                .iter()
                .filter(|(name, _)| p.sees(name))
                .map(|(name, mode)| json!({"name": name, "mode": mode}))
                .collect();
            (p.role == Role::Admin || !accounts.is_empty())
                .then(|| json!({"name": b.name, "kind": b.kind, "accounts": accounts, "session": (b.session)()}))
        })
        .collect();
    Ok(Json(json!(v)))
}

/// `GET /api/feed`: the market feed's health for any signed-in user (it carries no secret and
/// no account's data); 404 when the run's feed reports none.
async fn market_feed(State(app): S, Caller(_): Caller) -> R {
    let f = app.cfg.market_feed.as_ref().ok_or_else(not_found)?;
    Ok(Json(f.to_json(now_ns())))
}

/// One line of `/api/brokers/status`: logins of a broker kind (or all of them) summed.
#[derive(Serialize)]
struct BrokerTotals {
    #[serde(skip_serializing_if = "String::is_empty")]
    kind: String,
    logins: u64,
    healthy: u64,
    expired: u64,
    error: u64,
    /// Accounts bound to these logins, by mode (`live`, `shadow`, `paper`).
    accounts: BTreeMap<String, u64>,
    requests: u64,
    errors: u64,
    refused_expired: u64,
    shadow_requests: u64,
}

impl BrokerTotals {
    fn new(kind: &str) -> BrokerTotals {
        BrokerTotals {
            kind: kind.to_string(),
            logins: 0,
            healthy: 0,
            expired: 0,
            error: 0,
            accounts: ["live", "shadow", "paper"].into_iter().map(|m| (m.to_string(), 0)).collect(),
            requests: 0,
            errors: 0,
            refused_expired: 0,
            shadow_requests: 0,
        }
    }

    /// Adds one login: its session as its gateway reports it and the accounts counted.
    fn add(&mut self, session: &Value, accounts: &[&(String, String)]) {
        let num = |k: &str| session.get(k).and_then(Value::as_u64).unwrap_or(0);
        self.logins += 1;
        match session.get("health").and_then(Value::as_str) {
            Some("healthy") => self.healthy += 1,
            Some("expired") => self.expired += 1,
            _ => self.error += 1,
        }
        for (_, mode) in accounts {
            *self.accounts.entry(mode.clone()).or_default() += 1;
        }
        self.requests += num("requests");
        self.errors += num("errors");
        self.refused_expired += num("refused_expired");
        self.shadow_requests += num("shadow_requests");
    }
}

/// The broker side of the system at a glance, summed by broker kind and in total: logins and
/// their health, bound accounts by mode, requests and errors. An admin counts every login;
/// others count the logins their accounts use and only their own accounts (a login's
/// counters are its own, whoever's orders they were, as `/api/brokers` shows them).
async fn brokers_status(State(app): S, Caller(p): Caller) -> R {
    let mut kinds: BTreeMap<String, BrokerTotals> = BTreeMap::new();
    let mut total = BrokerTotals::new("");
    for b in &app.cfg.brokers {
        let accounts: Vec<&(String, String)> = b.accounts.iter().filter(|(a, _)| p.sees(a)).collect();
        if p.role != Role::Admin && accounts.is_empty() {
            continue;
        }
        let session = (b.session)();
        kinds.entry(b.kind.clone()).or_insert_with(|| BrokerTotals::new(&b.kind)).add(&session, &accounts);
        total.add(&session, &accounts);
    }
    // What the engine made of the venues' reports (counts only: no account, no order).
    let v = app.link.live.snapshot().venue;
    let reports: serde_json::Map<String, Value> =
        dalal_core::engine::stats::VENUE_REPORTS.iter().zip(v).map(|(k, n)| (k.to_string(), json!(n))).collect();
    Ok(Json(json!({"kinds": kinds.into_values().collect::<Vec<_>>(), "total": total, "venue_reports": reports})))
}

/// A desk's refusal as an API error (its text carries no secret; see [`DeskError`]).
fn desk_err(e: DeskError) -> ApiError {
    let code = match &e {
        DeskError::NotFound(_) => StatusCode::NOT_FOUND,
        DeskError::Invalid(_) => StatusCode::BAD_REQUEST,
        DeskError::Conflict(_) => StatusCode::CONFLICT,
        DeskError::Broker(_) => StatusCode::BAD_GATEWAY,
        DeskError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    err(code, e.to_string())
}

/// The desk and a configured login the caller may see (an admin, or someone who sees an
/// account bound to it); anything else answers 404, as if it did not exist.
fn visible_login(app: &App, p: &Principal, login: &str) -> Result<(Arc<dyn BrokerDesk>, DeskLogin), ApiError> {
    let desk = app.cfg.broker_desk.clone().ok_or_else(not_found)?;
    let entry = desk.logins().into_iter().find(|l| l.name == login).ok_or_else(not_found)?;
    if p.role != Role::Admin && !entry.accounts.iter().any(|(a, _)| p.sees(a)) {
        return Err(not_found());
    }
    Ok((desk, entry))
}

/// `PUT /api/brokers/{login}`: stores a configured login's ids and secrets in the vault (an
/// admin, or a trader of an account bound to the login) and answers its masked listing. The
/// body is parsed here, after the caller is known, rather than by the `Json` extractor: serde
/// quotes the values it rejects, and those may be secrets, so a malformed body is refused
/// naming only where it went wrong.
async fn broker_store(State(app): S, Caller(p): Caller, P(login): P<String>, body: axum::body::Bytes) -> R {
    let (desk, entry) = visible_login(&app, &p, &login)?;
    if p.role != Role::Admin && !entry.accounts.iter().any(|(a, _)| p.trades(a)) {
        return Err(forbidden());
    }
    let update: LoginUpdate = serde_json::from_slice(&body).map_err(|e| {
        bad(format!(
            "body: expected {{\"kind\", \"ids\", \"secrets\"}} with text values (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if update.kind != entry.kind {
        return Err(bad(format!("{login} is a {} login: kind must be {:?}", entry.kind, entry.kind)));
    }
    let ids = update.ids.clone();
    let secrets: Vec<String> = update.secrets.keys().cloned().collect();
    let listing = desk.store(&login, update).await.map_err(desk_err)?;
    app.users
        .audit(&p.username, "broker.store", json!({"login": login, "kind": entry.kind, "ids": ids, "secrets": secrets}))
        .await;
    Ok(Json(listing))
}

/// `DELETE /api/brokers/{login}`: removes a configured login from the vault (admin only). The
/// run's vault watcher then ends the gateway's session: its orders are refused, not sent.
async fn broker_remove(State(app): S, Caller(p): Caller, P(login): P<String>) -> R {
    let (desk, _) = visible_login(&app, &p, &login)?;
    admin_only(&p)?;
    desk.remove(&login).await.map_err(desk_err)?;
    app.users.audit(&p.username, "broker.remove", json!({"login": login})).await;
    Ok(Json(json!({"removed": login})))
}

/// The live account `name` the caller sees, with the desk and the account's login. A paper
/// or shadow account has nothing at a broker (409).
fn live_login(app: &App, p: &Principal, name: &str) -> Result<(u32, Arc<dyn BrokerDesk>, DeskLogin), ApiError> {
    let account = app.visible_account(p, name)?;
    let conflict = |m: String| err(StatusCode::CONFLICT, m);
    let paper = || conflict(format!("{name} is a paper account: it trades with no broker"));
    let desk = app.cfg.broker_desk.clone().ok_or_else(paper)?;
    let logins = desk.logins();
    let Some((login, mode)) =
        logins.iter().find_map(|l| l.accounts.iter().find(|(a, _)| *a == name).map(|(_, m)| (l, m.as_str())))
    else {
        return Err(paper());
    };
    match mode {
        "live" => {}
        "shadow" => {
            return Err(conflict(format!(
                "{name} trades in shadow: its orders never reach the broker, which holds nothing of it"
            )))
        }
        _ => return Err(paper()),
    }
    let login = login.clone();
    Ok((account, desk, login))
}

/// `GET /api/accounts/{name}/broker`: a live account's positions, funds and working orders,
/// read from its broker through its login. A paper or shadow account has nothing at a broker
/// (409). A login is the broker's unit, not Dalal's: when it also trades for live accounts the
/// caller does not see, its state is theirs too and is not shown (409).
async fn account_broker(State(app): S, Caller(p): Caller, P(name): P<String>) -> R {
    let (_, desk, login) = live_login(&app, &p, &name)?;
    if login.accounts.iter().any(|(a, m)| m == "live" && !p.sees(a)) {
        return Err(err(StatusCode::CONFLICT, format!("login {} also trades for accounts you do not see", login.name)));
    }
    let mut state = desk.broker_state(&login.name).await.map_err(desk_err)?;
    if let Some(o) = state.as_object_mut() {
        o.insert("account".into(), json!(name));
        o.insert("login".into(), json!(login.name));
    }
    Ok(Json(state))
}

/// How long an adoption sent to the engine may take to show in the view before the next one
/// for the account goes ahead anyway (the engine refused it, or the position traded on).
const ADOPTION_SETTLES: Duration = Duration::from_secs(10);

/// Adoptions sent for an account, until the view shows them.
struct PendingAdoption {
    /// The net quantity each adopted position has once its adoption is booked.
    expect: Vec<(crate::link::PosKey, i64)>,
    until: Instant,
}

/// The live account `name` and its login, to be set beside the engine's positions. Positions
/// at a broker carry no account, so a login that trades for several live accounts cannot be
/// reconciled with one of them (409, as `adopt_positions` refuses such a login at the start).
fn reconcilable(app: &App, p: &Principal, name: &str) -> Result<(u32, Arc<dyn BrokerDesk>, DeskLogin), ApiError> {
    let (account, desk, login) = live_login(app, p, name)?;
    let live = login.accounts.iter().filter(|(_, m)| m == "live").count();
    if live > 1 {
        return Err(err(
            StatusCode::CONFLICT,
            format!(
                "login {} trades for {live} live accounts: its positions at the broker are not told apart by account",
                login.name
            ),
        ));
    }
    Ok((account, desk, login))
}

/// `account`'s net positions as the view holds them (the console's `/api/positions`), and
/// how many egress events the view has missed (its positions may then not be the engine's).
fn engine_book(app: &App, account: u32) -> (EngineBook, u64) {
    let v = app.link.read();
    let positions = v
        .positions
        .iter()
        .filter(|(k, pv)| k.0 == account && pv.pos.net.0 != 0)
        .filter_map(|(k, pv)| Some((InstrumentId(k.1 as _), *Product::ALL.get(k.2)?, pv.pos.net.0)))
        .collect();
    let book =
        EngineBook { account: AccountId(account as _), instruments: app.link.setup.instruments.clone(), positions };
    (book, v.missed)
}

/// `GET /api/accounts/{name}/reconcile`: a live account's net positions in the engine beside
/// its login's at the broker (read as `/api/accounts/{name}/broker` reads them), the working
/// orders there Dalal did not place, and whether the positions agree.
async fn account_reconcile(State(app): S, Caller(p): Caller, P(name): P<String>) -> R {
    let (account, desk, login) = reconcilable(&app, &p, &name)?;
    let (book, _) = engine_book(&app, account);
    let r = desk.reconcile(&login.name, book, false).await.map_err(desk_err)?;
    let mut out = r.report;
    if let Some(o) = out.as_object_mut() {
        o.insert("account".into(), json!(name));
        o.insert("login".into(), json!(login.name));
        o.insert("agrees".into(), json!(r.agrees));
    }
    Ok(Json(out))
}

/// `POST /api/accounts/{name}/reconcile/adopt` (an admin or the account's trader): books the
/// broker's positions into the engine where they differ, as `Command::Adopt`s through the
/// command queue (each an opening fill at the broker's average price, as `adopt_positions`
/// does at the start), and answers what was sent and what was left out. The broker is read
/// afresh. Refused (409) while the account's last adoption is not in the view yet (planned
/// against positions without it, it would be booked twice) and when the view has missed
/// egress events (its positions may not be the engine's).
async fn account_adopt(State(app): S, Caller(p): Caller, P(name): P<String>) -> R {
    trading_account(&app, &p, &name)?;
    let (account, desk, login) = reconcilable(&app, &p, &name)?;
    let conflict = |m: String| err(StatusCode::CONFLICT, m);
    let mut adopting = app.adopting.lock().await;
    if let Some(last) = adopting.get(&account) {
        let v = app.link.read();
        let booked = last.expect.iter().all(|(k, net)| v.positions.get(k).map_or(0, |pv| pv.pos.net.0) == *net);
        if !booked && Instant::now() < last.until {
            return Err(conflict(format!(
                "the last adoption for {name} is not in the engine's positions yet; adopt again in a moment"
            )));
        }
    }
    adopting.remove(&account);
    let (book, missed) = engine_book(&app, account);
    if missed > 0 {
        return Err(conflict(format!(
            "the console's view missed {missed} engine events: its positions may not be the engine's, so nothing is adopted"
        )));
    }
    let held: HashMap<(InstrumentId, Product), i64> = book.positions.iter().map(|(i, pr, n)| ((*i, *pr), *n)).collect();
    let r = desk.reconcile(&login.name, book, true).await.map_err(desk_err)?;
    let (mut sent, mut expect, mut refused) = (Vec::new(), Vec::new(), None);
    for (a, shown) in &r.adoptions {
        if let Err(e) = app.link.send(Command::Adopt(*a)) {
            refused = Some(e);
            break;
        }
        sent.push(shown.clone());
        let signed = if a.side == Side::Buy { a.qty.0 as i64 } else { -(a.qty.0 as i64) };
        let product = Product::ALL.iter().position(|x| *x == a.product).unwrap_or_default();
        let net = held.get(&(a.instrument, a.product)).copied().unwrap_or(0) + signed;
        expect.push(((account, a.instrument.index() as u32, product), net));
    }
    if !expect.is_empty() {
        adopting.insert(account, PendingAdoption { expect, until: Instant::now() + ADOPTION_SETTLES });
    }
    drop(adopting);
    app.users
        .audit(
            &p.username,
            "broker.adopt",
            json!({"account": name, "login": login.name, "adopted": sent, "left_out": r.left_out}),
        )
        .await;
    if let Some(e) = refused {
        return Err(err(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{e} ({} of {} adoptions were sent; adopt again once they show)", sent.len(), r.adoptions.len()),
        ));
    }
    Ok(Json(json!({"account": name, "login": login.name, "adopted": sent, "left_out": r.left_out})))
}

async fn accounts_list(State(app): S, Caller(p): Caller) -> R {
    let v: Vec<Value> = (0..app.link.setup.accounts.len())
        .filter(|i| p.sees(&app.link.setup.accounts[*i].name))
        .map(|i| account_json(&app, i))
        .collect();
    Ok(Json(json!(v)))
}

async fn accounts_get(State(app): S, Caller(p): Caller, P(name): P<String>) -> R {
    let id = app.visible_account(&p, &name)?;
    Ok(Json(account_json(&app, id as usize)))
}

async fn instruments(State(app): S, Caller(_): Caller) -> R {
    let last = app.link.live.snapshot().last_price;
    let v: Vec<Value> = app
        .link
        .setup
        .instruments
        .iter()
        .map(|i| {
            json!({"symbol": i.symbol, "id": i.id.0, "segment": format!("{:?}", i.segment),
                   "tick_size": i.tick_size.0 as f64 / 100.0, "lot_size": i.lot_size.0,
                   "band": [i.band.lower.0 as f64 / 100.0, i.band.upper.0 as f64 / 100.0],
                   "last_price": last.get(i.id.index()).copied().unwrap_or(0) as f64 / 100.0})
        })
        .collect();
    Ok(Json(json!(v)))
}

fn strategy_json(app: &App, i: usize) -> Value {
    let s = &app.link.setup.strategies[i];
    let p = app.params.lock().ok().and_then(|v| v.get(i).copied()).unwrap_or(s.params);
    let params = s.kind.describe(&p).unwrap_or_else(|| json!({}));
    json!({"id": s.id.0, "account": app.names.account(u32::from(s.account.0)), "symbol": app.names.symbol(s.instrument.0),
           "kind": s.kind.name(), "params": params, "timeframe": s.timeframe.to_string(),
           "qty": p.qty, "allow_short": p.allow_short,
           "running": app.running.lock().map(|r| r.get(i).copied().unwrap_or(true)).unwrap_or(true)})
}

async fn strategies(State(app): S, Caller(p): Caller) -> R {
    let v: Vec<Value> = (0..app.link.setup.strategies.len())
        .filter(|i| p.sees(app.names.account(u32::from(app.link.setup.strategies[*i].account.0))))
        .map(|i| strategy_json(&app, i))
        .collect();
    Ok(Json(json!(v)))
}

fn visible_strategy(app: &App, p: &Principal, id: u32) -> Result<usize, ApiError> {
    let i = app.link.setup.strategies.iter().position(|s| s.id.0 as u32 == id).ok_or_else(not_found)?;
    if !p.sees(app.names.account(u32::from(app.link.setup.strategies[i].account.0))) {
        return Err(not_found());
    }
    Ok(i)
}

async fn strategy_get(State(app): S, Caller(p): Caller, P(id): P<u32>) -> R {
    let i = visible_strategy(&app, &p, id)?;
    Ok(Json(strategy_json(&app, i)))
}

/// Starts or stops a strategy through the ingress ring (a stopped strategy keeps its book and
/// working orders but makes no decisions).
async fn strategy_control(app: &App, p: Principal, id: u32, action: &str) -> Result<Json<Value>, ApiError> {
    let i = visible_strategy(app, &p, id)?;
    if !p.trades(app.names.account(u32::from(app.link.setup.strategies[i].account.0))) {
        return Err(forbidden());
    }
    let enabled = action == "start";
    let strategy = app.link.setup.strategies[i].id;
    app.link.send(Command::StrategyEnabled { strategy, enabled })?;
    if let Ok(mut r) = app.running.lock() {
        if let Some(x) = r.get_mut(i) {
            *x = enabled;
        }
    }
    app.users.audit(&p.username, &format!("strategy.{action}"), json!({"strategy": id})).await;
    Ok(Json(strategy_json(app, i)))
}

async fn strategy_start(State(app): S, Caller(p): Caller, P(id): P<u32>) -> R {
    strategy_control(&app, p, id, "start").await
}

async fn strategy_stop(State(app): S, Caller(p): Caller, P(id): P<u32>) -> R {
    strategy_control(&app, p, id, "stop").await
}

/// Changes a running strategy's parameters: the body is a partial config entry (`{"fast": 5,
/// "slow": 21}`, `{"qty": 20}`), validated exactly as the config file is, then sent through the
/// ingress ring. Kind, instrument and timeframe stay.
async fn strategy_params(State(app): S, Caller(p): Caller, P(id): P<u32>, Body(body): Body<Value>) -> R {
    let i = visible_strategy(&app, &p, id)?;
    let s = &app.link.setup.strategies[i];
    if !p.trades(app.names.account(u32::from(s.account.0))) {
        return Err(forbidden());
    }
    let Value::Object(changes) = body else { return Err(bad("expected a JSON object of parameters")) };
    let before = app.params.lock().ok().and_then(|v| v.get(i).copied()).unwrap_or(s.params);
    let params = app.link.setup.strategy_params_with(s, &before, &changes).map_err(|e| bad(e.to_string()))?;
    app.link.send(Command::SetStrategyParams { strategy: s.id, params })?;
    if let Some(x) = app.params.lock().ok().as_mut().and_then(|v| v.get_mut(i)) {
        *x = params;
    }
    app.users.audit(&p.username, "strategy.params", json!({"strategy": id, "changes": Value::Object(changes)})).await;
    Ok(Json(strategy_json(&app, i)))
}

/// The most a `limit` query parameter may ask (more is a 400; lists are capped lower).
const MAX_LIMIT: usize = 1_000_000;

/// A `limit` query parameter: `default` when absent, at most `cap`, refused past [`MAX_LIMIT`].
fn limit(asked: Option<usize>, default: usize, cap: usize) -> Result<usize, ApiError> {
    match asked {
        None => Ok(default.min(cap)),
        Some(n) if n > MAX_LIMIT => Err(bad(format!("limit: at most {MAX_LIMIT}"))),
        Some(n) => Ok(n.min(cap)),
    }
}

#[derive(Deserialize)]
struct OrdersQuery {
    account: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
}

async fn orders_list(State(app): S, Caller(p): Caller, Q(q): Q<OrdersQuery>) -> R {
    let only = match &q.account {
        Some(a) => Some(app.visible_account(&p, a)?),
        None => None,
    };
    let open = match q.status.as_deref() {
        None | Some("all") => false,
        Some("open") => true,
        Some(_) => return Err(bad("status: open or all")),
    };
    let limit = limit(q.limit, 500, 10_000)?;
    let v = app.link.read();
    let out: Vec<Value> = v
        .orders
        .values()
        .rev()
        .filter(|o| only.is_none_or(|a| a == u32::from(o.intent.account.0)))
        .filter(|o| p.sees(app.names.account(u32::from(o.intent.account.0))))
        .filter(|o| !open || !o.status.is_terminal())
        .take(limit)
        .map(|o| order_json(&app.names, o))
        .collect();
    Ok(Json(json!(out)))
}

async fn orders_get(State(app): S, Caller(p): Caller, P(id): P<u64>) -> R {
    let v = app.link.read();
    let o =
        v.orders.get(&id).filter(|o| p.sees(app.names.account(u32::from(o.intent.account.0)))).ok_or_else(not_found)?;
    Ok(Json(order_json(&app.names, o)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceReq {
    account: String,
    symbol: String,
    side: Side,
    qty: u64,
    #[serde(default = "default_type")]
    order_type: OrderType,
    price: Option<f64>,
    trigger: Option<f64>,
    #[serde(default = "default_product")]
    product: Product,
    #[serde(default = "default_validity")]
    validity: Validity,
    #[serde(default)]
    amo: bool,
    tag: Option<String>,
}

fn default_type() -> OrderType {
    OrderType::Market
}
fn default_product() -> Product {
    Product::Mis
}
fn default_validity() -> Validity {
    Validity::Day
}

/// The largest quantity an order may carry: no NSE order comes near it, and quantity × price
/// in paise stays far inside an i64.
const MAX_ORDER_QTY: u64 = 1_000_000_000;
/// The highest price an order may carry, in rupees (no NSE instrument trades near it).
const MAX_PRICE_RUPEES: f64 = 10_000_000.0;

fn order_qty(q: u64) -> Result<Qty, ApiError> {
    if q == 0 || q > MAX_ORDER_QTY {
        return Err(bad(format!("qty: between 1 and {MAX_ORDER_QTY}")));
    }
    Ok(Qty(q))
}

/// A price in rupees, exact to the paisa, between 0 and [`MAX_PRICE_RUPEES`].
fn rupees(x: Option<f64>, what: &str) -> Result<Price, ApiError> {
    match x {
        None => Ok(Price::ZERO),
        Some(v) if (0.0..=MAX_PRICE_RUPEES).contains(&v) => {
            Price::from_rupees_exact(v).ok_or_else(|| bad(format!("{what}: a rupee amount with at most two decimals")))
        }
        Some(_) => Err(bad(format!("{what}: between 0 and {MAX_PRICE_RUPEES} rupees"))),
    }
}

/// Trader of the account (or admin), else 404 (not visible) or 403 (viewer).
fn trading_account(app: &App, p: &Principal, name: &str) -> Result<u32, ApiError> {
    let id = app.visible_account(p, name)?;
    if !p.trades(name) {
        return Err(forbidden());
    }
    Ok(id)
}

async fn orders_place(State(app): S, Caller(p): Caller, Body(r): Body<PlaceReq>) -> R {
    let account = trading_account(&app, &p, &r.account)?;
    let instrument = app.instrument_id(&r.symbol).ok_or_else(|| bad(format!("unknown symbol {:?}", r.symbol)))?;
    order_qty(r.qty)?;
    let tag = match &r.tag {
        Some(t) => Tag::new(t).ok_or_else(|| bad("tag: at most 20 bytes, no commas, quotes or control characters"))?,
        None => Tag::new("manual").unwrap_or_default(),
    };
    let intent = OrderIntent {
        account: AccountId(account as _),
        strategy: MANUAL_STRATEGY,
        instrument: InstrumentId(instrument as _),
        side: r.side,
        qty: Qty(r.qty),
        order_type: r.order_type,
        price: rupees(r.price, "price")?,
        trigger: rupees(r.trigger, "trigger")?,
        product: r.product,
        validity: r.validity,
        amo: r.amo,
        tag,
    };
    if r.order_type.has_limit() && intent.price.0 == 0 {
        return Err(bad("price required for LIMIT and SL"));
    }
    if r.order_type.has_trigger() && intent.trigger.0 == 0 {
        return Err(bad("trigger required for SL and SL-M"));
    }
    app.link.send(Command::Place { intent })?;
    app.users
        .audit(
            &p.username,
            "order.place",
            json!({"account": r.account, "symbol": r.symbol, "side": r.side, "qty": r.qty,
                   "order_type": r.order_type, "price": r.price, "trigger": r.trigger, "product": r.product}),
        )
        .await;
    Ok(Json(
        json!({"accepted": true, "note": "sent to the engine; the order appears in /api/orders and on the WebSocket"}),
    ))
}

fn own_order(app: &App, p: &Principal, id: u64) -> Result<(u32, String), ApiError> {
    let v = app.link.read();
    let o = v.orders.get(&id).ok_or_else(not_found)?;
    let name = app.names.account(u32::from(o.intent.account.0)).to_string();
    if !p.sees(&name) {
        return Err(not_found());
    }
    if !p.trades(&name) {
        return Err(forbidden());
    }
    Ok((u32::from(o.intent.account.0), name))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModifyReq {
    qty: Option<u64>,
    price: Option<f64>,
    trigger: Option<f64>,
}

async fn orders_modify(State(app): S, Caller(p): Caller, P(id): P<u64>, Body(r): Body<ModifyReq>) -> R {
    let (account, name) = own_order(&app, &p, id)?;
    let qty = match r.qty {
        Some(q) => order_qty(q)?,
        None => Qty(0),
    };
    let cmd = Command::Modify {
        account: AccountId(account as _),
        order: OrderId(id as _),
        qty,
        price: rupees(r.price, "price")?,
        trigger: rupees(r.trigger, "trigger")?,
    };
    app.link.send(cmd)?;
    app.users
        .audit(
            &p.username,
            "order.modify",
            json!({"order": id, "account": name, "qty": r.qty, "price": r.price, "trigger": r.trigger}),
        )
        .await;
    Ok(Json(json!({"accepted": true})))
}

async fn orders_cancel(State(app): S, Caller(p): Caller, P(id): P<u64>) -> R {
    let (account, name) = own_order(&app, &p, id)?;
    app.link.send(Command::Cancel { account: AccountId(account as _), order: OrderId(id as _) })?;
    app.users.audit(&p.username, "order.cancel", json!({"order": id, "account": name})).await;
    Ok(Json(json!({"accepted": true})))
}

#[derive(Deserialize)]
struct AccountQuery {
    account: Option<String>,
    limit: Option<usize>,
}

async fn fills(State(app): S, Caller(p): Caller, Q(q): Q<AccountQuery>) -> R {
    let only = match &q.account {
        Some(a) => Some(app.visible_account(&p, a)?),
        None => None,
    };
    let v = app.link.read();
    let out: Vec<Value> = v
        .fills
        .iter()
        .rev()
        .filter(|f| {
            only.is_none_or(|a| a == u32::from(f.account.0)) && p.sees(app.names.account(u32::from(f.account.0)))
        })
        .take(limit(q.limit, 500, usize::MAX)?)
        .map(|f| fill_json(&app.names, f))
        .collect();
    Ok(Json(json!(out)))
}

async fn positions(State(app): S, Caller(p): Caller, Q(q): Q<AccountQuery>) -> R {
    limit(q.limit, 0, 0)?;
    let only = match &q.account {
        Some(a) => Some(app.visible_account(&p, a)?),
        None => None,
    };
    let last = app.link.live.snapshot().last_price;
    let v = app.link.read();
    let out: Vec<Value> = v
        .positions
        .iter()
        .filter(|(k, _)| only.is_none_or(|a| a == k.0) && p.sees(app.names.account(k.0)))
        .map(|(k, pv)| position_json(&app.names, *k, pv, &last))
        .collect();
    Ok(Json(json!(out)))
}

/// P&L per visible account as the engine last published it: realized and unrealized before
/// charges (the sum of `/api/positions` of the account), charges, and net after charges.
async fn pnl(State(app): S, Caller(p): Caller) -> R {
    let s = app.link.live.snapshot();
    let out: Vec<Value> = app
        .names
        .accounts
        .iter()
        .enumerate()
        .filter(|(_, n)| p.sees(n))
        .map(|(i, _)| pnl_json(&app.names, i, &s))
        .collect();
    Ok(Json(json!(out)))
}

async fn risk_list(State(app): S, Caller(p): Caller) -> R {
    let v = app.link.read();
    let out: Vec<Value> = app
        .names
        .accounts
        .iter()
        .enumerate()
        .filter(|(_, n)| p.sees(n))
        .map(|(i, n)| json!({"account": n, "limits": v.limits.get(i).map(LimitsInRupees::from_limits), "kill_switch": v.account_kill.get(i)}))
        .collect();
    Ok(Json(json!({"global_kill_switch": v.global_kill, "accounts": out})))
}

async fn risk_get(State(app): S, Caller(p): Caller, P(account): P<String>) -> R {
    let i = app.visible_account(&p, &account)? as usize;
    let v = app.link.read();
    Ok(Json(
        json!({"account": account, "limits": v.limits.get(i).map(LimitsInRupees::from_limits), "kill_switch": v.account_kill.get(i)}),
    ))
}

/// Replaces an account's limits. The body is the config file's `[accounts.limits]` in JSON:
/// money in rupees (exact to the paisa), nothing negative, every key known.
async fn risk_set(State(app): S, Caller(p): Caller, P(account): P<String>, Body(body): Body<LimitsInRupees>) -> R {
    let i = app.visible_account(&p, &account)?;
    admin_only(&p)?;
    let limits = body.to_limits().map_err(|e| bad(e.to_string()))?;
    let old = app.link.read().limits.get(i as usize).map(LimitsInRupees::from_limits);
    app.link.send(Command::SetLimits { account: AccountId(i as _), limits })?;
    if let Some(l) = app.link.write().limits.get_mut(i as usize) {
        *l = limits;
    }
    let new = LimitsInRupees::from_limits(&limits);
    app.users.audit(&p.username, "risk.set_limits", json!({"account": account, "old": old, "new": new})).await;
    Ok(Json(json!({"account": account, "limits": new})))
}

async fn kill_get(State(app): S, Caller(p): Caller) -> R {
    let v = app.link.read();
    let accounts: Vec<Value> = app
        .names
        .accounts
        .iter()
        .enumerate()
        .filter(|(_, n)| p.sees(n))
        .map(|(i, n)| {
            // What this API last set, or what the engine holds (it trips switches itself on
            // a daily loss breach): either means engaged.
            let engine =
                app.link.live.account_kill.get(i).is_some_and(|k| k.load(std::sync::atomic::Ordering::Relaxed));
            json!({"account": n, "engaged": v.account_kill.get(i).copied().unwrap_or(false) || engine,
                   "engaged_by_engine": engine})
        })
        .collect();
    let global = v.global_kill || app.link.live.global_kill.load(std::sync::atomic::Ordering::Relaxed);
    Ok(Json(json!({"global": global, "accounts": accounts})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KillReq {
    /// `"global"` or an account name.
    scope: String,
    engaged: bool,
}

async fn kill_set(State(app): S, Caller(p): Caller, Body(r): Body<KillReq>) -> R {
    let scope = if r.scope == "global" {
        admin_only(&p)?;
        KillScope::Global
    } else {
        KillScope::Account(AccountId(trading_account(&app, &p, &r.scope)? as _))
    };
    if let KillScope::Account(a) = scope {
        // An administrator's stop is an administrator's to lift; traders engage and release
        // their own.
        let mut by_admin = app.kill_by_admin.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(flag) = by_admin.get_mut(a.index()) {
            let admin = p.role == Role::Admin;
            if !r.engaged && *flag && !admin {
                return Err(err(
                    StatusCode::FORBIDDEN,
                    "this kill switch was engaged by an administrator; only an administrator can release it",
                ));
            }
            *flag = if r.engaged { *flag || admin } else { false };
        }
    }
    app.link.send(Command::KillSwitch { scope, engaged: r.engaged })?;
    {
        let mut v = app.link.write();
        match scope {
            KillScope::Global => v.global_kill = r.engaged,
            KillScope::Account(a) => {
                if let Some(k) = v.account_kill.get_mut(a.index()) {
                    *k = r.engaged;
                }
            }
        }
    }
    let action = if r.engaged { "kill_switch.trip" } else { "kill_switch.reset" };
    app.users.audit(&p.username, action, json!({"scope": r.scope})).await;
    Ok(Json(json!({"scope": r.scope, "engaged": r.engaged})))
}

async fn latency(State(app): S, Caller(_): Caller) -> R {
    let v = app.link.read();
    let p = v.tick_to_order.percentiles();
    // Log2 buckets: bucket k holds samples in [2^(k-1), 2^k) ns.
    let total: u64 = v.t2o_buckets.iter().sum();
    let buckets: Vec<Value> = v
        .t2o_buckets
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| json!({"le_ns": 1u64 << k, "count": n, "share": *n as f64 / total.max(1) as f64}))
        .collect();
    Ok(Json(json!({"tick_to_order": p, "histogram": buckets,
                   "note": "per-stage latencies are measured inside the stages and reported at the end of a run"})))
}

#[derive(Deserialize)]
struct CandleQuery {
    symbol: String,
    timeframe: Option<String>,
    limit: Option<usize>,
}

async fn candles(State(app): S, Caller(_): Caller, Q(q): Q<CandleQuery>) -> R {
    let want = limit(q.limit, 500, usize::MAX)?;
    let i = app
        .instrument_id(&q.symbol)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, format!("unknown symbol {:?}", q.symbol)))?;
    let tf = q.timeframe.as_deref().unwrap_or("1s");
    let spec = dalal_core::model::BarSpec::parse(tf).ok_or_else(|| bad(format!("bad timeframe {tf:?}")))?;
    let v = app.link.read();
    let out: Vec<Value> = v
        .candles
        .get(&(i, spec))
        .map(|r| {
            let n = want.min(r.len());
            r.iter().skip(r.len() - n).map(|c| candle_json(&app.names, c)).collect()
        })
        .unwrap_or_default();
    Ok(Json(json!(out)))
}

#[derive(Deserialize)]
struct LimitQuery {
    limit: Option<usize>,
}

async fn audit(State(app): S, Caller(p): Caller, Q(q): Q<LimitQuery>) -> R {
    // Others' entries are filtered out before the limit is applied, not after.
    let only = (p.role != Role::Admin).then_some(p.username.as_str());
    let rows = app.users.audit_log(limit(q.limit, 200, 5000)?, only).await;
    Ok(Json(json!(rows)))
}

/// The SQL store saved reports live in, or 503 when the console has none.
fn report_store(app: &App) -> Result<&dalal_persistence::store::Store, ApiError> {
    app.users.store.as_ref().ok_or_else(|| err(StatusCode::SERVICE_UNAVAILABLE, "no SQL store: reports are kept there"))
}

fn store_unavailable(e: dalal_persistence::store::StoreError) -> ApiError {
    tracing::warn!(error = %e, "reading saved reports");
    err(StatusCode::SERVICE_UNAVAILABLE, "the SQL store did not answer")
}

/// Saved backtest reports (`dalal backtest --save`) the caller may read, newest first, without
/// their pages: a page is readable when every account it covers is (an admin reads all).
/// Filtered before the limit.
async fn reports_list(State(app): S, Caller(p): Caller, Q(q): Q<LimitQuery>) -> R {
    let n = limit(q.limit, 100, 1000)?;
    let rows = report_store(&app)?.reports().await.map_err(store_unavailable)?;
    let mine: Vec<_> = rows.into_iter().filter(|r| r.accounts.iter().all(|a| p.sees(a))).take(n).collect();
    Ok(Json(json!(mine)))
}

/// One saved report's page (self-contained HTML), or 404 when there is none the caller may
/// read (the same answer, so ids of others' reports are not confirmed).
async fn reports_get(State(app): S, Caller(p): Caller, P(id): P<i64>) -> Result<Response, ApiError> {
    match report_store(&app)?.report(id).await.map_err(store_unavailable)? {
        Some((row, html)) if row.accounts.iter().all(|a| p.sees(a)) => {
            Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
        }
        _ => Err(not_found()),
    }
}

#[derive(Deserialize)]
struct WsQuery {
    /// Refused: a token in the URL ends up in proxy and server logs.
    token: Option<String>,
    topics: Option<String>,
    accounts: Option<String>,
    symbols: Option<String>,
}

/// The topics a socket may subscribe to (all of them by default).
const TOPICS: [&str; 7] = ["ticks", "candles", "orders", "fills", "positions", "pnl", "latency"];
/// The subprotocol the console speaks; a browser passes its token as a second entry,
/// `bearer.<token>`, since it cannot set an `Authorization` header on a WebSocket.
const WS_PROTOCOL: &str = "dalal";
/// The largest message a client may send (a subscription is a few hundred bytes).
const WS_MAX_MESSAGE: usize = 4096;
/// Most accounts or symbols one subscription may name.
const WS_MAX_NAMES: usize = 256;

struct Sub {
    topics: Vec<&'static str>,
    accounts: Option<Vec<u32>>,
    symbols: Option<Vec<u32>>,
}

impl Sub {
    /// A subscription from comma-separated lists. Only known topics, accounts and symbols are
    /// taken, at most [`WS_MAX_NAMES`] of each; the error never repeats what was sent.
    fn parse(app: &App, topics: Option<&str>, accounts: Option<&str>, symbols: Option<&str>) -> Result<Sub, String> {
        let list = |s: Option<&str>, what: &str| -> Result<Option<Vec<String>>, String> {
            let Some(s) = s else { return Ok(None) };
            let v: Vec<String> = s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
            if v.len() > WS_MAX_NAMES {
                return Err(format!("at most {WS_MAX_NAMES} {what}"));
            }
            Ok(Some(v))
        };
        let topics = match list(topics, "topics")? {
            None => TOPICS.to_vec(),
            Some(v) => {
                let mut out = Vec::new();
                for t in &v {
                    let known = TOPICS
                        .iter()
                        .find(|k| **k == t.as_str())
                        .ok_or_else(|| format!("unknown topic; topics are {}", TOPICS.join(", ")))?;
                    if !out.contains(known) {
                        out.push(*known);
                    }
                }
                out
            }
        };
        let ids = |v: Option<Vec<String>>, find: &dyn Fn(&str) -> Option<u32>, what: &str| {
            v.map(|v| v.iter().map(|x| find(x).ok_or_else(|| format!("unknown {what}"))).collect::<Result<Vec<_>, _>>())
                .transpose()
        };
        Ok(Sub {
            topics,
            accounts: ids(list(accounts, "accounts")?, &|a| app.account_id(a), "account")?,
            symbols: ids(list(symbols, "symbols")?, &|a| app.instrument_id(a), "symbol")?,
        })
    }

    fn wants(&self, app: &App, p: &Principal, u: &crate::link::Update) -> bool {
        if !self.topics.contains(&u.topic) {
            return false;
        }
        if let Some(a) = u.account {
            if !p.sees(app.names.account(a)) || self.accounts.as_ref().is_some_and(|v| !v.contains(&a)) {
                return false;
            }
        }
        if let Some(i) = u.instrument {
            if self.symbols.as_ref().is_some_and(|v| !v.contains(&i)) {
                return false;
            }
        }
        true
    }
}

/// The token of a WebSocket request: `Authorization: Bearer …`, or `bearer.<token>` in the
/// `Sec-WebSocket-Protocol` list beside `dalal` (what a browser can send).
fn ws_token(h: &HeaderMap) -> Option<String> {
    if let Some(t) = bearer(h) {
        return Some(t.to_string());
    }
    let protocols = h.get(header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok()?;
    let mut names = protocols.split(',').map(str::trim);
    if !names.clone().any(|n| n == WS_PROTOCOL) {
        return None;
    }
    names.find_map(|n| n.strip_prefix("bearer.")).filter(|t| !t.is_empty()).map(str::to_string)
}

/// A socket counted against its user's cap; the count drops with it.
struct WsSlot {
    app: Arc<App>,
    user: String,
}

impl Drop for WsSlot {
    fn drop(&mut self) {
        let mut n = self.app.sockets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = n.get_mut(&self.user) {
            *c = c.saturating_sub(1);
            if *c == 0 {
                n.remove(&self.user);
            }
        }
    }
}

async fn ws(State(app): S, h: HeaderMap, Q(q): Q<WsQuery>, up: WebSocketUpgrade) -> Response {
    if q.token.is_some() {
        return bad("pass the token in the Authorization header or as `bearer.<token>` in Sec-WebSocket-Protocol, not in the URL")
            .into_response();
    }
    let Some(token) = ws_token(&h) else {
        return err(StatusCode::UNAUTHORIZED, "missing token").into_response();
    };
    let p = match app.principal_of(&token) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if !app.rate_ok(&p.username) {
        return err(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded").into_response();
    }
    let sub = match Sub::parse(&app, q.topics.as_deref(), q.accounts.as_deref(), q.symbols.as_deref()) {
        Ok(s) => s,
        Err(e) => return bad(e).into_response(),
    };
    {
        let mut n = app.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let c = n.entry(p.username.clone()).or_insert(0);
        if *c >= app.cfg.ws_per_user.max(1) {
            return err(StatusCode::TOO_MANY_REQUESTS, "too many open sockets for this user").into_response();
        }
        *c += 1;
    }
    let slot = WsSlot { app: app.clone(), user: p.username.clone() };
    let rx = app.link.updates.subscribe();
    let up = if h.contains_key(header::SEC_WEBSOCKET_PROTOCOL) { up.protocols([WS_PROTOCOL]) } else { up };
    up.max_message_size(WS_MAX_MESSAGE)
        .max_frame_size(WS_MAX_MESSAGE)
        .on_upgrade(move |sock| ws_loop(app, p, token, sub, rx, sock, slot))
}

/// When the socket's authorization must be looked at again: at the token's expiry (by the
/// wall clock the token is checked against), never for an API key.
fn ws_deadline(p: &Principal) -> Option<tokio::time::Instant> {
    let left = p.expires_s?.saturating_sub(auth::now_s()).max(0);
    Some(tokio::time::Instant::now() + Duration::from_secs(u64::try_from(left).unwrap_or(0)))
}

/// Streams updates to one subscriber. Its authorization is checked again at every change of
/// any user's rights or credentials and when its token expires: a caller whose token no longer
/// passes, or whose role or accounts changed, is disconnected with 1008 (policy violation) and
/// may connect again with what it now has.
async fn ws_loop(
    app: Arc<App>,
    mut p: Principal,
    token: String,
    mut sub: Sub,
    mut rx: broadcast::Receiver<crate::link::Update>,
    mut sock: WebSocket,
    _slot: WsSlot,
) {
    let mut perms = app.perms.subscribe();
    let hello = json!({"type": "hello", "user": p.username, "role": p.role, "topics": sub.topics});
    if sock.send(Message::Text(hello.to_string().into())).await.is_err() {
        return;
    }
    let mut deadline = ws_deadline(&p);
    loop {
        let expiry = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = perms.changed() => {
                if r.is_err() {
                    return;
                }
                match app.principal_of(&token) {
                    Ok(now) if now.role == p.role && now.accounts == p.accounts => p = now,
                    Ok(_) => return ws_close(sock, "permissions changed; connect again").await,
                    Err(_) => return ws_close(sock, "credentials revoked").await,
                }
            }
            _ = expiry => match app.principal_of(&token) {
                // The wall clock has not reached the expiry yet: look again in a second.
                Ok(_) => deadline = Some(tokio::time::Instant::now() + Duration::from_secs(1)),
                Err(_) => return ws_close(sock, "token expired").await,
            },
            m = rx.recv() => match m {
                Ok(u) => {
                    if sub.wants(&app, &p, &u) && sock.send(Message::Text(u.json.clone())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let m = json!({"type": "lagged", "missed": n});
                    if sock.send(Message::Text(m.to_string().into())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            m = sock.recv() => match m {
                Some(Ok(Message::Text(t))) => {
                    // {"topics": "...", "accounts": "...", "symbols": "..."} replaces the
                    // subscription; a message counts against the user's rate limit.
                    if !app.rate_ok(&p.username) {
                        return ws_close(sock, "rate limit exceeded").await;
                    }
                    let reply = match serde_json::from_str::<Value>(&t) {
                        Ok(v) => {
                            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
                            match Sub::parse(&app, s("topics").as_deref(), s("accounts").as_deref(), s("symbols").as_deref()) {
                                Ok(next) => {
                                    sub = next;
                                    json!({"type": "subscribed", "topics": sub.topics})
                                }
                                Err(e) => json!({"type": "error", "error": e}),
                            }
                        }
                        Err(_) => json!({"type": "error", "error": "expected a JSON object {\"topics\": …, \"accounts\": …, \"symbols\": …}"}),
                    };
                    if sock.send(Message::Text(reply.to_string().into())).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    // A message over the size limit is told apart (1009) from a broken frame.
                    let big = e.to_string().contains("too long") || e.to_string().contains("Space limit");
                    let (code, reason) = if big { (close_code::SIZE, "message too big") } else { (close_code::PROTOCOL, "protocol error") };
                    let _ = sock.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    return;
                }
                Some(Ok(Message::Close(_))) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Ends a socket with 1008 (policy violation) and a reason.
async fn ws_close(mut sock: WebSocket, reason: &str) {
    let frame = CloseFrame { code: close_code::POLICY, reason: reason.into() };
    let _ = sock.send(Message::Close(Some(frame))).await;
}
