//! Dalal operator view, off the hot path. It renders what the engine publishes (live counters
//! and final summaries) for people, and serves the admin console: an HTTP/WebSocket API with
//! users, roles and an audit trail, and a live web page.
//!
//! # Wiring (what `dalal run` does)
//!
//! ```ignore
//! let (observer, parts) = dalal_admin::observer(&setup, live.clone());
//! let running = Running::start(engine, &placement, observer, live.clone());
//! let link = parts.connect(setup.clone(), live.clone(), running.publisher().unwrap());
//! let admin = dalal_admin::serve(link, AdminConfig { listen, store_url, ..Default::default() })?;
//! // on exit: admin.shutdown() (drops the link: its command thread hands on what it queued,
//! // then drops its producer), then running.stop().
//! // A recovered engine: dalal_admin::observer_resuming(&setup, live.clone(), engine.order.portfolio()).
//! ```
//!
//! # Off the hot path
//!
//! * The server runs on its own multi-thread tokio runtime (`AdminConfig::workers`, default 1,
//!   optionally pinned to `AdminConfig::cores`), never on an engine thread.
//! * It reads [`live::LiveStats`] (relaxed atomics the stages publish) and a [`View`] that only
//!   the egress observer thread writes ([`ViewObserver`]); no stage ever takes that lock.
//! * Commands (`Place`, `Modify`, `Cancel`, `SetLimits`, `KillSwitch`) enter through the
//!   ingress ring like every other input, so they are sequenced and journaled. Handlers never
//!   publish themselves (a publish waits while the ring is full): they `try_send` to a bounded
//!   [`CommandQueue`] whose own thread owns the producer; a full queue answers 503 at once and
//!   is counted (`dalal_admin_commands_refused_total` on `/metrics`).
//! * Positions are the core's own average-cost `Position` in integer paise, fed the engine's
//!   fills: `/api/positions` and `/api/pnl` agree with the engine, the store and Redis (P&L
//!   before charges, charges beside it; see [`link`]).
//! * Live updates are serialized once by the observer and fanned out on a bounded
//!   `tokio::sync::broadcast` channel; a subscriber that falls behind gets
//!   `{"type":"lagged","missed":N}` and carries on.
//!
//! # Security
//!
//! * Passwords: argon2id (PHC strings), checked a few at a time (`AdminConfig::password_checks`,
//!   default one per core) in buffers allocated once and reused ([`guard::PasswordChecks`]):
//!   a login flood queues (503 past a bound) instead of taking 19 MiB per attempt. Access
//!   tokens: HS256 JWTs (hand-rolled on `hmac` + `sha2`: exactly `HS256` is accepted, so
//!   `alg: none` and algorithm confusion are refused; constant-time signature check;
//!   `aud`/`iss`/`exp` checked), 15 min by default. Refresh tokens: random, rotated on use,
//!   revoked by logout; only their SHA-256 is kept (in memory and in the store, so sessions
//!   survive a restart). API keys (`dk_…`, likewise stored by hash) act as their user; they are
//!   listed masked and revoked one by one. The role and account list are re-read from the user
//!   table on every request.
//! * Every token and key carries its user's token generation, kept with the user in the store;
//!   a password change (self or an admin's reset) and disabling bump it and delete the user's
//!   refresh tokens and keys, so every session of the user ends at once, after a restart too.
//! * Changing a password, enrolling or replacing TOTP and creating an API key need the caller's
//!   current password (and a fresh TOTP code when enrolled), never an API key; failures count
//!   like failed sign-ins.
//! * WebSockets re-check their caller at every change of rights or credentials and at token
//!   expiry, and close with 1008 (policy violation) when the token no longer passes or the
//!   role or accounts changed.
//! * Sign-in throttling ([`guard`]): `/api/auth/*` requests per client address per minute
//!   (`auth_rate_per_min`, 429); per address and name, `lockout_attempts` failures make that
//!   pair back off (429 with `Retry-After`, doubling up to `lockout_duration`); a name failing
//!   `user_lock_attempts` times from any addresses is locked: each attempt at it is held for
//!   `lockout_delay`, one at a time, and the right password (and TOTP code) still passes.
//!   All of it is keyed by the name typed, so unknown and known names get the same answers
//!   in the same time (an unknown name is checked against a dummy hash); a wrong name,
//!   password or TOTP code, or a missing code, all answer the same 401; a disabled user is
//!   told so only after the right credentials. TOTP: RFC 6238, SHA-1, 6 digits, ±1 step, each
//!   time step accepted once per user. Fixed-window rate limit per user (429).
//! * Refused sign-ins are gathered per actor, action and reason ([`users::Users::refusal`]):
//!   the first of a minute is written at once, the rest as one entry with their count, so a
//!   stranger cannot flood the audit log. A trader's `/api/audit` is filtered before its limit.
//! * Refresh tokens rotate within a sign-in (a family); one presented twice was copied, and
//!   its whole family is revoked, refresh and access tokens alike. Logout revokes the refresh
//!   token's family and the access token presented. Revocations outlive a restart.
//! * TOTP secrets are sealed in the store under the broker vault's master key
//!   ([`sealed`]); without a key TOTP cannot be enrolled. A SQLite store's directory is made
//!   0700 and its file 0600.
//! * The last enabled admin cannot be demoted or disabled. A kill switch an admin engaged
//!   only an admin releases (kept in memory: after a restart any trader of the account may).
//! * Requests: authentication before the query or body is read ([`extract`]); every rejection,
//!   the framework's too, is the JSON `Error`; unknown JSON fields, passwords over 1 KiB,
//!   quantities over 10^9 and prices over ₹1 crore or off the paisa are refused; risk limits
//!   are the config file's `[accounts.limits]` (rupees), validated by the same code.
//! * Responses carry `nosniff`, `Referrer-Policy`, `X-Frame-Options`, a CSP without inline
//!   script and with `frame-ancestors 'none'`, and `Cache-Control: no-store`. The page's
//!   script is `/app.js`.
//! * WebSockets: the token in `Authorization` or as `bearer.<token>` in the subprotocol list
//!   (never the URL); known topics only, errors that never echo the request, 4 KiB messages,
//!   [`AdminConfig::ws_per_user`] sockets, each message counted against the rate limit.
//! * `/metrics` names accounts and broker logins only to the scrape token
//!   ([`AdminConfig::metrics_token`]) or on [`AdminConfig::metrics_listen`].
//! * Ownership: anything of an account the caller does not own answers 404; an action the
//!   role may not take answers 403. Global kill switch, limits and user admin are admin-only.
//! * Every change (logins, user admin, orders, modifies, cancels, limits, kill switches,
//!   strategy requests, adoptions of broker positions) is audited with who, when and what; passwords, hashes, tokens, keys
//!   and TOTP secrets never appear in responses (except a key or TOTP secret shown once to
//!   its creator), logs or the audit log. An unknown login name is not recorded.
//! * Broker logins ([`desk`]): `PUT /api/brokers/{login}` stores a configured login's ids and
//!   secrets in the vault (an admin, or a trader of an account bound to the login),
//!   `DELETE` removes it (admin only), `GET /api/accounts/{name}/broker` reads a live
//!   account's state at its broker, `GET /api/accounts/{name}/reconcile` sets it beside the
//!   engine's positions and `POST /api/accounts/{name}/reconcile/adopt` (an admin or the
//!   account's trader) books the differences into the engine as `Command::Adopt`s. Secrets arrive as [`desk::SecretText`] and leave only
//!   masked; a malformed body is refused naming its line and column, never echoing it; the
//!   audit log records the login, its ids and the names of the secrets set.
//! * First start: with no admin, `admin` is created with `AdminConfig::initial_admin_password`,
//!   else `DALAL_ADMIN_PASSWORD`, else a random password printed once to stdout.
//!
//! # Known limits
//!
//! * Limits shown are those configured or set through this API.
//! * Failed-sign-in counts, back-offs and rate-limit windows are in memory (a restart resets
//!   them); locks of known names, API keys, refresh tokens, token generations and the last
//!   TOTP step used are in the store.
//! * Throttles see the TCP peer's address, or, for a peer in `AdminConfig::trusted_proxies`
//!   (a local nginx), the last address of its `X-Forwarded-For`.

pub mod auth;
pub mod desk;
mod extract;
pub mod feed;
pub mod guard;
pub mod link;
mod openapi;
pub mod report;
pub mod sealed;
pub mod server;
pub mod users;

pub use desk::{BrokerDesk, DeskError, DeskFuture, DeskLogin, EngineBook, LoginUpdate, Reconciled, SecretText};
pub use feed::FeedView;
pub use link::{observer, observer_resuming, CommandQueue, EngineLink, LinkParts, SendError, View, ViewObserver};
pub use report::{render_progress, render_summary};
pub use server::{serve, AdminConfig, AdminError, AdminHandle, BrokerLogin, Gauge, ReadyCheck};
