//! Users, roles, account ownership, lockout state and the audit trail.
//!
//! The user table is held in memory (every request checks it) and written through to the SQL
//! store when one is configured: `users` (name, argon2id hash, role, TOTP secret) from the
//! persistence schema, plus two side tables this crate creates if missing,
//! `admin_user_accounts (username, account)` for ownership, `admin_user_state (username,
//! disabled)` and `admin_user_security (username, token_gen, totp_step)`: the token generation
//! a password change bumps (every token of an older one is refused, after a restart too) and
//! the last TOTP time step used (a code works once). API keys, refresh tokens (by hash) and
//! locks of names are stored too ([`SessionChange`]). Audit entries go to the store's
//! `audit_log` (and an in-memory ring that serves `/api/audit` when there is no store).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use dalal_persistence::store::{Store, StorePool};

use crate::sealed::SecretKey;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Trader,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Trader => "trader",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "trader" => Some(Role::Trader),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct User {
    pub username: String,
    pub hash: String,
    pub role: Role,
    /// Account names this user may see (viewer) or trade (trader); admins see all.
    pub accounts: Vec<String>,
    pub disabled: bool,
    /// Raw TOTP secret when 2FA is on.
    pub totp: Option<Vec<u8>>,
    /// The last TOTP time step (`t / 30`) a code of this user was accepted for; a code of
    /// that step or an earlier one is refused.
    pub totp_step: i64,
    /// Token generation: every access token, refresh token and API key carries the one it
    /// was issued under, and only the current one is accepted. A password change bumps it.
    pub gen: u64,
    pub created_ns: i64,
}

/// Never the hash or the TOTP secret.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("accounts", &self.accounts)
            .field("disabled", &self.disabled)
            .field("totp_enabled", &self.totp.is_some())
            .field("gen", &self.gen)
            .finish_non_exhaustive()
    }
}

impl User {
    /// A new, enabled user without TOTP.
    pub fn new(username: String, hash: String, role: Role, accounts: Vec<String>) -> User {
        User { username, hash, role, accounts, disabled: false, totp: None, totp_step: 0, gen: 0, created_ns: now_ns() }
    }

    /// What responses show: never the hash or the TOTP secret.
    pub fn public(&self) -> Value {
        json!({
            "username": self.username, "role": self.role, "accounts": self.accounts,
            "disabled": self.disabled, "totp_enabled": self.totp.is_some(), "created_ns": self.created_ns,
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct AuditRec {
    pub ts_ns: i64,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// Runs one statement on whichever backend, `?` placeholders numbered for PostgreSQL, where
/// it is unnamed and in a transaction of its own so that it also works behind a
/// transaction-pooling PgBouncer (see `dalal_persistence::store::pg`).
macro_rules! exec {
    ($pool:expr, $sql:expr $(, $b:expr)*) => {{
        match $pool {
            StorePool::Sqlite(p) => sqlx::query($sql)$(.bind($b))*.execute(p).await.map(|_| ()),
            StorePool::Postgres(p) => {
                let sql = numbered($sql);
                async {
                    let mut tx = p.begin().await?;
                    sqlx::query(&sql).persistent(false)$(.bind($b))*.execute(&mut *tx).await?;
                    tx.commit().await
                }
                .await
            }
        }
    }};
}

fn numbered(sql: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// An API key as stored: its hash, never the key.
#[derive(Clone, Debug)]
pub struct KeyRow {
    pub hash: String,
    pub user: String,
    /// The key's first characters and an ellipsis, for lists (`dk_AbCd…`).
    pub shown: String,
    pub created_ns: i64,
    pub gen: u64,
}

/// What [`Users::load_sessions`] reads back.
#[derive(Debug, Default)]
pub struct Sessions {
    pub api_keys: Vec<KeyRow>,
    pub refresh: Vec<RefreshRow>,
    /// (username, locked until, ns since the epoch)
    pub lockouts: Vec<(String, i64)>,
    /// Revoked access tokens (`jti`) and session families (`fam:<id>`), with when the last
    /// token they cover expires (ns since the epoch).
    pub revoked: Vec<(String, i64)>,
}

/// A stored refresh token: its hash, never the token.
#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub hash: String,
    pub user: String,
    pub expires_ns: i64,
    pub gen: u64,
    /// The sign-in it descends from: every refresh rotates within one family.
    pub family: String,
    /// Used once already; presenting it again means it was stolen (the family is revoked).
    pub spent: bool,
}

/// One change to the stored sessions. Hashes only, never a secret.
pub enum SessionChange<'a> {
    ApiKey(&'a KeyRow),
    /// One API key revoked.
    ApiKeyRevoked {
        hash: &'a str,
    },
    Refresh(&'a RefreshRow),
    /// Rotated: kept, marked spent, until it expires.
    RefreshSpent {
        hash: &'a str,
    },
    /// A sign-in's every refresh token, and the access tokens it issued (until `until_ns`).
    FamilyRevoked {
        family: &'a str,
        until_ns: i64,
    },
    /// One access token, until it expires.
    TokenRevoked {
        jti: &'a str,
        until_ns: i64,
    },
    /// Every key and refresh token of a user (disabled, or a password changed).
    RevokeAll {
        user: &'a str,
    },
    /// A lockout until a time, or lifted.
    Lock {
        user: &'a str,
        until_ns: Option<i64>,
    },
}

pub struct Users {
    pub map: Mutex<HashMap<String, User>>,
    pub audit: Mutex<VecDeque<AuditRec>>,
    pub store: Option<Store>,
    /// Seals TOTP secrets in the store; none: TOTP cannot be enrolled.
    pub key: Option<SecretKey>,
    /// Refused sign-ins being counted, by (actor, action, reason), until their window closes.
    refusals: Mutex<HashMap<(String, String, String), Refusals>>,
}

/// Refusals of one kind inside one window: the first is written at once, the rest are
/// counted and written as one entry when the window closes (or the log is read).
#[derive(Clone, Debug)]
struct Refusals {
    opened: std::time::Instant,
    first_ns: i64,
    last_ns: i64,
    /// Counted since the last entry written.
    pending: u64,
    locked: bool,
}

const AUDIT_KEPT: usize = 10_000;
/// How long repeated refusals of one kind are gathered into one audit entry.
pub const REFUSAL_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

impl Users {
    pub fn new(store: Option<Store>, key: Option<SecretKey>) -> Users {
        Users {
            map: Mutex::new(HashMap::new()),
            audit: Mutex::new(VecDeque::new()),
            store,
            key,
            refusals: Mutex::new(HashMap::new()),
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, User>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates the side tables and loads every user from the store.
    pub async fn load(&self) -> Result<(), sqlx::Error> {
        let Some(st) = &self.store else { return Ok(()) };
        let pool = st.pool();
        exec!(pool, "CREATE TABLE IF NOT EXISTS admin_user_accounts (username TEXT NOT NULL, account TEXT NOT NULL, PRIMARY KEY (username, account))")?;
        exec!(
            pool,
            "CREATE TABLE IF NOT EXISTS admin_user_state (username TEXT PRIMARY KEY, disabled INTEGER NOT NULL)"
        )?;
        exec!(pool, "CREATE TABLE IF NOT EXISTS admin_api_keys (key_hash TEXT PRIMARY KEY, username TEXT NOT NULL)")?;
        exec!(
            pool,
            "CREATE TABLE IF NOT EXISTS admin_refresh_tokens (token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, \
             expires_ns BIGINT NOT NULL)"
        )?;
        exec!(pool, "CREATE TABLE IF NOT EXISTS admin_lockouts (username TEXT PRIMARY KEY, until_ns BIGINT NOT NULL)")?;
        exec!(
            pool,
            "CREATE TABLE IF NOT EXISTS admin_user_security (username TEXT PRIMARY KEY, token_gen BIGINT NOT NULL, \
             totp_step BIGINT NOT NULL)"
        )?;
        // Columns later versions added to the session tables (rows from before have generation
        // 0, which is every user's first).
        add_column(pool, "admin_api_keys", "shown TEXT NOT NULL DEFAULT 'dk_…'").await?;
        add_column(pool, "admin_api_keys", "created_ns BIGINT NOT NULL DEFAULT 0").await?;
        add_column(pool, "admin_api_keys", "gen BIGINT NOT NULL DEFAULT 0").await?;
        add_column(pool, "admin_refresh_tokens", "gen BIGINT NOT NULL DEFAULT 0").await?;
        add_column(pool, "admin_refresh_tokens", "family TEXT NOT NULL DEFAULT ''").await?;
        add_column(pool, "admin_refresh_tokens", "spent BIGINT NOT NULL DEFAULT 0").await?;
        exec!(pool, "CREATE TABLE IF NOT EXISTS admin_revoked (id TEXT PRIMARY KEY, until_ns BIGINT NOT NULL)")?;
        type Row = (String, String, String, Option<String>, i64);
        type Loaded = (Vec<Row>, Vec<(String, String)>, Vec<(String, i64)>, Vec<(String, i64, i64)>);
        // The same four reads on either backend; `$state` differs in how `disabled` is typed.
        macro_rules! loaded {
            ($ex:expr, $state:expr) => {
                (
                    sqlx::query_as("SELECT username, password_hash, role, totp_secret, created_at FROM users")
                        .persistent(false)
                        .fetch_all($ex)
                        .await?,
                    sqlx::query_as("SELECT username, account FROM admin_user_accounts")
                        .persistent(false)
                        .fetch_all($ex)
                        .await?,
                    sqlx::query_as($state).persistent(false).fetch_all($ex).await?,
                    sqlx::query_as("SELECT username, token_gen, totp_step FROM admin_user_security")
                        .persistent(false)
                        .fetch_all($ex)
                        .await?,
                )
            };
        }
        let (users, owns, state, security): Loaded = match pool {
            StorePool::Sqlite(p) => loaded!(p, "SELECT username, disabled FROM admin_user_state"),
            StorePool::Postgres(p) => {
                // One transaction: unnamed statements keep one server behind a pooler.
                let mut tx = p.begin().await?;
                let l = loaded!(&mut *tx, "SELECT username, disabled::BIGINT FROM admin_user_state");
                tx.commit().await?;
                l
            }
        };
        let mut clear = Vec::new();
        let mut m = HashMap::new();
        for (username, hash, role, totp, created) in users {
            let accounts = owns.iter().filter(|o| o.0 == username).map(|o| o.1.clone()).collect();
            let disabled = state.iter().any(|s| s.0 == username && s.1 != 0);
            let totp = match totp {
                None => None,
                Some(t) if crate::sealed::is_sealed(&t) => {
                    let key = self.key.as_ref().ok_or_else(|| {
                        sqlx::Error::Protocol(format!(
                            "the TOTP secret of {username} is sealed and no master key was given"
                        ))
                    })?;
                    let plain = key
                        .open(&username, &t)
                        .map_err(|e| sqlx::Error::Protocol(format!("the TOTP secret of {username}: {e}")))?;
                    Some(plain.to_vec())
                }
                // Written in clear by an older version: sealed below, as soon as a key is here.
                Some(t) => {
                    let v = hex_decode(&t);
                    if v.is_some() {
                        clear.push(username.clone());
                    }
                    v
                }
            };
            let role = Role::parse(&role).unwrap_or(Role::Viewer);
            let (gen, totp_step) =
                security.iter().find(|s| s.0 == username).map_or((0, 0), |s| (u64::try_from(s.1).unwrap_or(0), s.2));
            m.insert(
                username.clone(),
                User { username, hash, role, accounts, disabled, totp, totp_step, gen, created_ns: created },
            );
        }
        let reseal: Vec<User> = if self.key.is_some() {
            clear.iter().filter_map(|n| m.get(n).cloned()).collect()
        } else {
            if !clear.is_empty() {
                tracing::warn!(
                    users = clear.len(),
                    "admin: TOTP secrets stored in clear and no master key to seal them"
                );
            }
            Vec::new()
        };
        self.lock().extend(m);
        for u in &reseal {
            self.persist(u).await;
        }
        Ok(())
    }

    /// Writes one user's row and side rows.
    pub async fn persist(&self, u: &User) {
        let Some(st) = &self.store else { return };
        let pool = st.pool();
        // Sealed under the master key; the server refuses to enrol TOTP without one, so a
        // clear value is only ever one loaded from an older version with no key.
        let totp = u.totp.as_ref().map(|t| match &self.key {
            Some(k) => k.seal(&u.username, t),
            None => hex_encode(t),
        });
        let r = async {
            exec!(
                pool,
                "INSERT INTO users (username, password_hash, role, totp_secret, created_at) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role, \
                 totp_secret = excluded.totp_secret",
                u.username.clone(),
                u.hash.clone(),
                u.role.as_str(),
                totp.clone(),
                u.created_ns
            )?;
            exec!(pool, "DELETE FROM admin_user_accounts WHERE username = ?", u.username.clone())?;
            for a in &u.accounts {
                exec!(
                    pool,
                    "INSERT INTO admin_user_accounts (username, account) VALUES (?, ?)",
                    u.username.clone(),
                    a.clone()
                )?;
            }
            exec!(
                pool,
                "INSERT INTO admin_user_state (username, disabled) VALUES (?, ?) \
                 ON CONFLICT (username) DO UPDATE SET disabled = excluded.disabled",
                u.username.clone(),
                u.disabled as i32
            )?;
            exec!(
                pool,
                "INSERT INTO admin_user_security (username, token_gen, totp_step) VALUES (?, ?, ?) \
                 ON CONFLICT (username) DO UPDATE SET token_gen = excluded.token_gen, totp_step = excluded.totp_step",
                u.username.clone(),
                i64::try_from(u.gen).unwrap_or(i64::MAX),
                u.totp_step
            )
        }
        .await;
        if let Err(e) = r {
            tracing::warn!(user = %u.username, error = %e, "admin: could not store user");
        }
    }

    /// API keys, refresh tokens (by their SHA-256: the secrets themselves are never stored) and
    /// lockouts, so programs keep their keys, sessions survive a restart and a restart does not
    /// lift a lockout.
    pub async fn load_sessions(&self) -> Result<Sessions, sqlx::Error> {
        let Some(st) = &self.store else { return Ok(Sessions::default()) };
        macro_rules! sessions {
            ($p:expr) => {
                Sessions {
                    api_keys: {
                        let rows: Vec<(String, String, String, i64, i64)> =
                            sqlx::query_as("SELECT key_hash, username, shown, created_ns, gen FROM admin_api_keys")
                                .persistent(false)
                                .fetch_all($p)
                                .await?;
                        rows.into_iter()
                            .map(|(hash, user, shown, created_ns, gen)| KeyRow {
                                hash,
                                user,
                                shown,
                                created_ns,
                                gen: u64::try_from(gen).unwrap_or(u64::MAX),
                            })
                            .collect()
                    },
                    refresh: {
                        let rows: Vec<(String, String, i64, i64, String, i64)> = sqlx::query_as(
                            "SELECT token_hash, username, expires_ns, gen, family, spent FROM admin_refresh_tokens",
                        )
                        .persistent(false)
                        .fetch_all($p)
                        .await?;
                        rows.into_iter()
                            .map(|(hash, user, expires_ns, g, family, spent)| RefreshRow {
                                hash,
                                user,
                                expires_ns,
                                gen: u64::try_from(g).unwrap_or(u64::MAX),
                                family,
                                spent: spent != 0,
                            })
                            .collect()
                    },
                    lockouts: sqlx::query_as("SELECT username, until_ns FROM admin_lockouts")
                        .persistent(false)
                        .fetch_all($p)
                        .await?,
                    revoked: sqlx::query_as("SELECT id, until_ns FROM admin_revoked")
                        .persistent(false)
                        .fetch_all($p)
                        .await?,
                }
            };
        }
        // The same queries; the pools differ in type.
        Ok(match st.pool() {
            StorePool::Sqlite(p) => sessions!(p),
            StorePool::Postgres(p) => {
                // One transaction: unnamed statements keep one server behind a pooler.
                let mut tx = p.begin().await?;
                let s = sessions!(&mut *tx);
                tx.commit().await?;
                s
            }
        })
    }

    /// Stores one session change; a failure is logged and costs only persistence.
    pub async fn save_session(&self, change: SessionChange<'_>) {
        let Some(st) = &self.store else { return };
        let pool = st.pool();
        let r = match change {
            SessionChange::ApiKey(k) => exec!(
                pool,
                "INSERT INTO admin_api_keys (key_hash, username, shown, created_ns, gen) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (key_hash) DO NOTHING",
                k.hash.clone(),
                k.user.clone(),
                k.shown.clone(),
                k.created_ns,
                i64::try_from(k.gen).unwrap_or(i64::MAX)
            ),
            SessionChange::ApiKeyRevoked { hash } => {
                exec!(pool, "DELETE FROM admin_api_keys WHERE key_hash = ?", hash.to_string())
            }
            SessionChange::Refresh(r) => {
                let _ = exec!(pool, "DELETE FROM admin_refresh_tokens WHERE expires_ns < ?", now_ns());
                let _ = exec!(pool, "DELETE FROM admin_revoked WHERE until_ns < ?", now_ns());
                exec!(
                    pool,
                    "INSERT INTO admin_refresh_tokens (token_hash, username, expires_ns, gen, family, spent) \
                     VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (token_hash) DO NOTHING",
                    r.hash.clone(),
                    r.user.clone(),
                    r.expires_ns,
                    i64::try_from(r.gen).unwrap_or(i64::MAX),
                    r.family.clone()
                )
            }
            SessionChange::RefreshSpent { hash } => {
                exec!(pool, "UPDATE admin_refresh_tokens SET spent = 1 WHERE token_hash = ?", hash.to_string())
            }
            SessionChange::FamilyRevoked { family, until_ns } => {
                let r = exec!(pool, "DELETE FROM admin_refresh_tokens WHERE family = ?", family.to_string());
                r.and(exec!(
                    pool,
                    "INSERT INTO admin_revoked (id, until_ns) VALUES (?, ?) \
                     ON CONFLICT (id) DO UPDATE SET until_ns = excluded.until_ns",
                    format!("fam:{family}"),
                    until_ns
                ))
            }
            SessionChange::TokenRevoked { jti, until_ns } => exec!(
                pool,
                "INSERT INTO admin_revoked (id, until_ns) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                jti.to_string(),
                until_ns
            ),
            SessionChange::RevokeAll { user } => {
                let r = exec!(pool, "DELETE FROM admin_api_keys WHERE username = ?", user.to_string());
                r.and(exec!(pool, "DELETE FROM admin_refresh_tokens WHERE username = ?", user.to_string()))
            }
            SessionChange::Lock { user, until_ns: Some(until) } => exec!(
                pool,
                "INSERT INTO admin_lockouts (username, until_ns) VALUES (?, ?) \
                 ON CONFLICT (username) DO UPDATE SET until_ns = excluded.until_ns",
                user.to_string(),
                until
            ),
            SessionChange::Lock { user, until_ns: None } => {
                exec!(pool, "DELETE FROM admin_lockouts WHERE username = ?", user.to_string())
            }
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, "admin: could not store a session change");
        }
    }

    /// Records who did what. `detail` must never hold a secret.
    pub async fn audit(&self, actor: &str, action: &str, detail: Value) {
        let rec = AuditRec { ts_ns: now_ns(), actor: actor.into(), action: action.into(), detail: detail.to_string() };
        tracing::info!(actor, action, detail = %rec.detail, "audit");
        if let Some(st) = &self.store {
            let r = exec!(
                st.pool(),
                "INSERT INTO audit_log (run_id, source_seq, sub, ts_ns, actor, action, detail) VALUES (?, NULL, 0, ?, ?, ?, ?)",
                st.run_id().to_string(),
                rec.ts_ns,
                rec.actor.clone(),
                rec.action.clone(),
                rec.detail.clone()
            );
            if let Err(e) = r {
                tracing::warn!(error = %e, "admin: could not write audit entry");
            }
        }
        let mut a = self.audit.lock().unwrap_or_else(|e| e.into_inner());
        a.push_back(rec);
        while a.len() > AUDIT_KEPT {
            a.pop_front();
        }
    }

    /// A refused sign-in or re-authentication. Refusals are flooded at will by anyone who can
    /// reach the login form, so they are gathered: per actor (every unknown name is one
    /// actor), action and reason, the first in a [`REFUSAL_WINDOW`] is written at once and
    /// the rest become one entry with their `count` when the window closes. The log grows by
    /// at most two entries per kind per window whatever the rate.
    pub async fn refusal(&self, actor: &str, action: &str, reason: &str, locked: bool) {
        let now = std::time::Instant::now();
        let key = (actor.to_string(), action.to_string(), reason.to_string());
        let (first, closed) = {
            let mut r = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
            let closed = match r.get(&key) {
                Some(w) if now.duration_since(w.opened) >= REFUSAL_WINDOW => r.remove(&key).map(|w| (key.clone(), w)),
                _ => None,
            };
            let ns = now_ns();
            let first = match r.get_mut(&key) {
                Some(w) => {
                    w.pending += 1;
                    w.last_ns = ns;
                    w.locked |= locked;
                    false
                }
                None => {
                    r.insert(
                        key.clone(),
                        Refusals { opened: now, first_ns: ns, last_ns: ns, pending: 0, locked: false },
                    );
                    true
                }
            };
            (first, closed)
        };
        if let Some((k, w)) = closed {
            self.write_refusals(&k, &w).await;
        }
        if first {
            self.audit(actor, action, json!({"reason": reason, "locked": locked, "count": 1})).await;
        }
    }

    async fn write_refusals(&self, k: &(String, String, String), w: &Refusals) {
        if w.pending > 0 {
            let detail = json!({"reason": k.2, "locked": w.locked, "count": w.pending,
                                "first_ns": w.first_ns, "last_ns": w.last_ns, "repeated": true});
            self.audit(&k.0, &k.1, detail).await;
        }
    }

    /// Writes the refusals counted so far: those of closed windows, and (`all`) the pending
    /// counts of open ones, which keep gathering.
    pub async fn flush_refusals(&self, all: bool) {
        let now = std::time::Instant::now();
        let due: Vec<((String, String, String), Refusals)> = {
            let mut r = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
            let closed: Vec<_> = r
                .iter()
                .filter(|(_, w)| now.duration_since(w.opened) >= REFUSAL_WINDOW)
                .map(|(k, _)| k.clone())
                .collect();
            let mut due: Vec<_> = closed.into_iter().filter_map(|k| r.remove_entry(&k)).collect();
            if all {
                for (k, w) in r.iter_mut().filter(|(_, w)| w.pending > 0) {
                    due.push((k.clone(), w.clone()));
                    w.pending = 0;
                    w.locked = false;
                }
            }
            due
        };
        for (k, w) in &due {
            self.write_refusals(k, w).await;
        }
    }

    /// Newest first; only `actor`'s entries when given (filtered before the limit).
    pub async fn audit_log(&self, limit: usize, actor: Option<&str>) -> Vec<AuditRec> {
        self.flush_refusals(true).await;
        if let Some(st) = &self.store {
            if let Ok(rows) = st.audit_log(limit as i64, actor).await {
                return rows
                    .into_iter()
                    .map(|r| AuditRec { ts_ns: r.ts_ns, actor: r.actor, action: r.action, detail: r.detail })
                    .collect();
            }
        }
        let a = self.audit.lock().unwrap_or_else(|e| e.into_inner());
        a.iter().rev().filter(|r| actor.is_none_or(|x| r.actor == x)).take(limit).cloned().collect()
    }
}

/// Adds a column to a table unless it has it (SQLite has no `ADD COLUMN IF NOT EXISTS`: its
/// "duplicate column" refusal is the answer that it does).
async fn add_column(pool: &StorePool, table: &str, column: &str) -> Result<(), sqlx::Error> {
    match pool {
        StorePool::Sqlite(p) => {
            let r = sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN {column}")).execute(p).await;
            match r {
                Err(e) if !e.to_string().contains("duplicate column") => Err(e),
                _ => Ok(()),
            }
        }
        StorePool::Postgres(p) => sqlx::raw_sql(&format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column}"))
            .execute(p)
            .await
            .map(|_| ()),
    }
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}
