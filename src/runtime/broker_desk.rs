//! The console's broker desk ([`dalal_admin::BrokerDesk`]): the run's configured broker logins,
//! their ids and secrets in the vault, and their state read live from the broker.
//!
//! * The vault is opened per request (with the run's `--vault` and `--key-file`, or
//!   `DALAL_MASTER_KEY`) and written the way `dalal broker add` writes it; a mutex keeps two
//!   console requests from interleaving their read-modify-write. A new `access_token` reaches
//!   the running gateways through the vault watcher, which notices the file change.
//! * Only logins named by a `[[brokers]]` entry are handled: the console cannot create
//!   logins no configuration uses, and the broker kind must be the configured one.
//! * Broker reads go through a client of their own, outside the gateways, and share the
//!   login's rate budget with them: a login's state is read at most once per
//!   [`REUSE_READ_FOR`], and requests within that window get the same answer, so a console
//!   polling the view cannot starve the gateway's order traffic. Reconciliation reads the
//!   positions, orders and funds the same way (its own read, reused likewise), except when
//!   adopting: what is booked into the engine is read afresh.
//! * Nothing here logs or answers a secret: errors carry the vault's and the broker's texts,
//!   which name fields, never their values.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dalal_admin::{BrokerDesk, DeskError, DeskFuture, DeskLogin, EngineBook, LoginUpdate, Reconciled};
use dalal_brokers::gateway::reconcile::{plan_adoptions, position_key, PositionKey};
use dalal_brokers::kite::KiteClient;
use dalal_brokers::{BrokerErrorKind, BrokerKind, Login, Secret, Vault, VaultError};
use dalal_config::{AccountMode, Config};
use serde_json::{json, Value};

use super::brokers::{BrokerBook, LoginClient, ReadError};
use crate::broker::SnapshotOrders;
use crate::cli::VaultArgs;

/// How long one read of a login's state at the broker answers the console (see the module
/// documentation): five requests per read, against Kite's ten per second per API key.
pub const REUSE_READ_FOR: Duration = Duration::from_secs(1);

/// Per request to the broker, as the gateways allow.
const BROKER_TIMEOUT: Duration = Duration::from_secs(7);

/// The desk of a run.
#[derive(Debug)]
pub struct Desk {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    vault: VaultArgs,
    logins: Vec<Configured>,
    /// Held across each vault read-modify-write.
    writing: Mutex<()>,
    /// The last read of each login's broker state, and when it was made.
    reads: Mutex<HashMap<String, (Instant, Value)>>,
    /// The last read of each login's book for reconciliation, and when it was made.
    books: Mutex<HashMap<String, (Instant, Arc<BrokerBook>)>>,
}

/// A vault login some `[[brokers]]` entry uses.
#[derive(Clone, Debug)]
struct Configured {
    login: String,
    kind: BrokerKind,
    root: String,
    order_root: String,
    accounts: Vec<(String, AccountMode)>,
}

impl Desk {
    /// The desk for a run of `config`; none when it configures no broker login.
    pub fn for_run(config: &Config, vault: &VaultArgs) -> Option<Arc<dyn BrokerDesk>> {
        let mut logins: Vec<Configured> = Vec::new();
        for b in &config.brokers {
            let accounts = config
                .accounts
                .iter()
                .filter(|a| a.broker.as_deref() == Some(b.name.as_str()))
                .map(|a| (a.name.clone(), a.mode));
            match logins.iter_mut().find(|l| l.login == b.login()) {
                // Two entries on one vault login: one login, with the accounts of both.
                Some(l) => l.accounts.extend(accounts),
                None => logins.push(Configured {
                    login: b.login().to_string(),
                    kind: b.kind,
                    root: b.root().to_string(),
                    order_root: b.order_root().to_string(),
                    accounts: accounts.collect(),
                }),
            }
        }
        if logins.is_empty() {
            return None;
        }
        let inner = Inner {
            vault: vault.clone(),
            logins,
            writing: Mutex::new(()),
            reads: Mutex::new(HashMap::new()),
            books: Mutex::new(HashMap::new()),
        };
        Some(Arc::new(Desk { inner: Arc::new(inner) }))
    }
}

impl BrokerDesk for Desk {
    fn logins(&self) -> Vec<DeskLogin> {
        self.inner
            .logins
            .iter()
            .map(|l| DeskLogin {
                name: l.login.clone(),
                kind: l.kind.as_str().to_string(),
                accounts: l.accounts.iter().map(|(a, m)| (a.clone(), m.as_str().to_string())).collect(),
            })
            .collect()
    }

    fn store(&self, login: &str, update: LoginUpdate) -> DeskFuture<'_, Value> {
        let (inner, login) = (self.inner.clone(), login.to_string());
        Box::pin(blocking(move || inner.store(&login, update)))
    }

    fn remove(&self, login: &str) -> DeskFuture<'_, ()> {
        let (inner, login) = (self.inner.clone(), login.to_string());
        Box::pin(blocking(move || inner.remove(&login)))
    }

    fn broker_state(&self, login: &str) -> DeskFuture<'_, Value> {
        let (inner, login) = (self.inner.clone(), login.to_string());
        Box::pin(async move {
            if let Some(v) = inner.recent_read(&login) {
                return Ok(v);
            }
            let configured = inner.configured(&login)?.clone();
            let client = {
                let inner = inner.clone();
                let login = login.clone();
                blocking(move || inner.session_client(&login)).await?
            };
            let state = client
                .snapshot(configured.kind.as_str(), SnapshotOrders::Open)
                .await
                .map_err(|e| broker_error(&login, e))?;
            inner.reads.lock().unwrap_or_else(|e| e.into_inner()).insert(login, (Instant::now(), state.clone()));
            Ok(state)
        })
    }

    fn reconcile(&self, login: &str, book: EngineBook, fresh: bool) -> DeskFuture<'_, Reconciled> {
        let (inner, login) = (self.inner.clone(), login.to_string());
        Box::pin(async move {
            let read = match inner.recent_book(&login).filter(|_| !fresh) {
                Some(b) => b,
                None => {
                    let client = {
                        let inner = inner.clone();
                        let login = login.clone();
                        blocking(move || inner.session_client(&login)).await?
                    };
                    let b = Arc::new(BrokerBook::read(&client).await.map_err(|e| broker_error(&login, e))?);
                    inner.books.lock().unwrap_or_else(|e| e.into_inner()).insert(login, (Instant::now(), b.clone()));
                    b
                }
            };
            Ok(reconciled(&book, &read))
        })
    }
}

/// A failed broker read as the console answers it: an expired session is the caller's to
/// renew (409), anything else the broker's failure (502).
fn broker_error(login: &str, e: ReadError) -> DeskError {
    if e.kind == BrokerErrorKind::SessionExpired {
        DeskError::Conflict(format!("{login}: the broker session has expired ({e}); log in again"))
    } else {
        DeskError::Broker(e.to_string())
    }
}

/// The engine's `book` beside the broker's, and the adoptions that settle the differences,
/// planned as the start of a run plans them.
fn reconciled(book: &EngineBook, broker: &BrokerBook) -> Reconciled {
    let mut engine: BTreeMap<PositionKey, i64> = BTreeMap::new();
    for (instrument, product, net) in &book.positions {
        if let Some(spec) = book.instruments.iter().find(|s| s.id == *instrument) {
            *engine.entry(position_key(spec, *product)).or_default() += net;
        }
    }
    let report = broker.reconcile(&engine);
    let plan = plan_adoptions(&book.instruments, book.account, &engine, &broker.positions);
    let place =
        |(exchange, symbol, product): &PositionKey| json!({"exchange": exchange, "symbol": symbol, "product": product});
    let adoptions = plan
        .adopt
        .iter()
        .map(|(a, adoption)| {
            let mut shown = place(&a.key);
            if let Some(o) = shown.as_object_mut() {
                o.insert("side".into(), json!(adoption.side));
                o.insert("qty".into(), json!(adoption.qty.0));
                o.insert("price".into(), json!(adoption.price.0 as f64 / 100.0));
            }
            (*adoption, shown)
        })
        .collect();
    let left_out = plan
        .left_out
        .iter()
        .map(|(key, why)| {
            let mut shown = place(key);
            if let Some(o) = shown.as_object_mut() {
                o.insert("reason".into(), json!(why));
            }
            shown
        })
        .collect();
    Reconciled {
        agrees: report.agrees(),
        report: serde_json::to_value(&report).unwrap_or_default(),
        adoptions,
        left_out,
    }
}

/// Runs vault work (file I/O, AES) on the runtime's blocking threads, off the console's
/// workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DeskError> + Send + 'static,
) -> Result<T, DeskError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| DeskError::Internal(format!("vault task failed: {e}")))?
}

/// A vault error as the console shows it: the caller's mistake, or the server's.
fn vault_error(e: VaultError) -> DeskError {
    match e {
        VaultError::Invalid(m) => DeskError::Invalid(m),
        VaultError::Exists(_) => DeskError::Invalid(e.to_string()),
        VaultError::UnknownLogin(_) => DeskError::NotFound(e.to_string()),
        e => DeskError::Internal(format!("broker vault: {e}")),
    }
}

impl Inner {
    fn configured(&self, login: &str) -> Result<&Configured, DeskError> {
        self.logins
            .iter()
            .find(|l| l.login == login)
            .ok_or_else(|| DeskError::NotFound(format!("no configured broker login {login:?}")))
    }

    fn open(&self) -> Result<Vault, DeskError> {
        crate::broker::open(&self.vault).map_err(|e| DeskError::Internal(format!("broker vault: {e:#}")))
    }

    fn recent_read(&self, login: &str) -> Option<Value> {
        let reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        reads.get(login).filter(|(at, _)| at.elapsed() < REUSE_READ_FOR).map(|(_, v)| v.clone())
    }

    fn recent_book(&self, login: &str) -> Option<Arc<BrokerBook>> {
        let books = self.books.lock().unwrap_or_else(|e| e.into_inner());
        books.get(login).filter(|(at, _)| at.elapsed() < REUSE_READ_FOR).map(|(_, b)| b.clone())
    }

    /// Forgets the login's reads: its ids or token changed.
    fn forget_reads(&self, login: &str) {
        self.reads.lock().unwrap_or_else(|e| e.into_inner()).remove(login);
        self.books.lock().unwrap_or_else(|e| e.into_inner()).remove(login);
    }

    /// Sets each id and secret given, keeping the others the login holds. A login the vault
    /// does not hold yet (or holds for another broker) is added anew and must then have
    /// everything its broker requires.
    fn store(&self, login: &str, update: LoginUpdate) -> Result<Value, DeskError> {
        let kind = self.configured(login)?.kind;
        if update.kind != kind.as_str() {
            return Err(DeskError::Invalid(format!("{login} is a {kind} login")));
        }
        if let Some(field) = update.secrets.iter().find(|(_, v)| v.expose().is_empty()).map(|(f, _)| f) {
            return Err(DeskError::Invalid(format!("{login}: the secret {field} is empty")));
        }
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut vault = self.open()?;
        match vault.kind(login) {
            Ok(k) if k == kind => {
                for (field, value) in &update.ids {
                    vault.set_id(login, field, value).map_err(vault_error)?;
                }
                for (field, value) in &update.secrets {
                    vault.set_secret(login, field, &Secret::new(value.expose())).map_err(vault_error)?;
                }
            }
            _ => {
                vault.remove(login);
                let secrets: BTreeMap<String, Secret> =
                    update.secrets.iter().map(|(f, v)| (f.clone(), Secret::new(v.expose()))).collect();
                let ids = update.ids.iter().map(|(f, v)| (f.clone(), v.trim().to_string())).collect();
                vault.add(Login { name: login.to_string(), kind, ids, secrets }).map_err(vault_error)?;
            }
        }
        vault.save().map_err(vault_error)?;
        self.forget_reads(login);
        let ids: Vec<&String> = update.ids.keys().collect();
        let secrets: Vec<&String> = update.secrets.keys().collect();
        tracing::info!(login, ?ids, ?secrets, "broker login stored in the vault from the console");
        let listing = vault.list().map_err(vault_error)?.into_iter().find(|l| l.name == login);
        serde_json::to_value(listing).map_err(|e| DeskError::Internal(e.to_string()))
    }

    fn remove(&self, login: &str) -> Result<(), DeskError> {
        self.configured(login)?;
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut vault = self.open()?;
        if !vault.remove(login) {
            return Err(DeskError::NotFound(format!("the vault holds no login {login:?}")));
        }
        vault.save().map_err(vault_error)?;
        self.forget_reads(login);
        tracing::info!(login, "broker login removed from the vault from the console");
        Ok(())
    }

    /// A client with the login's ids and stored session (Kite's access token, Angel One's
    /// JWT); without a session there is nothing to read (409).
    fn session_client(&self, login: &str) -> Result<LoginClient, DeskError> {
        let configured = self.configured(login)?;
        let vault = self.open()?;
        let no_session = || DeskError::Conflict(format!("{login} has no broker session: dalal broker login {login}"));
        let known = match vault.id(login, "api_key") {
            Ok(Some(_)) => true,
            Ok(None) | Err(VaultError::UnknownLogin(_)) => false,
            Err(e) => return Err(vault_error(e)),
        };
        if !known {
            return Err(no_session());
        }
        match configured.kind {
            BrokerKind::Kite => {
                let api_key = vault.id(login, "api_key").map_err(vault_error)?.ok_or_else(no_session)?;
                let token = vault.secret(login, "access_token").map_err(vault_error)?.ok_or_else(no_session)?;
                KiteClient::new(&configured.root, &api_key, Some(token), BROKER_TIMEOUT)
                    .map(LoginClient::Kite)
                    .map_err(|e| DeskError::Internal(format!("{login}: {e}")))
            }
            BrokerKind::Angel => {
                if vault.secret(login, "jwt_token").map_err(vault_error)?.is_none() {
                    return Err(no_session());
                }
                crate::broker::angel_client(&vault, login, Some(&configured.root), BROKER_TIMEOUT, true)
                    .map(LoginClient::Angel)
                    .map_err(|e| DeskError::Internal(format!("{login}: {e:#}")))
            }
            BrokerKind::Upstox => {
                if vault.secret(login, "access_token").map_err(vault_error)?.is_none() {
                    return Err(no_session());
                }
                crate::broker::upstox_client(
                    &vault,
                    login,
                    (Some(&configured.root), Some(&configured.order_root)),
                    BROKER_TIMEOUT,
                    true,
                )
                .map(LoginClient::Upstox)
                .map_err(|e| DeskError::Internal(format!("{login}: {e:#}")))
            }
        }
    }
}
