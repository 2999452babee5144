//! Broker logins for a run: one gateway thread per `[[brokers]]` entry that a live or shadow
//! account uses, built from the entry and the login's ids and secrets in the vault, and the
//! tap that joins them to the engine thread.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use dalal_brokers::angel::{AngelClient, AngelError};
use dalal_brokers::gateway::angel::{AngelCredentials, AngelSymbol};
use dalal_brokers::gateway::broker::GatewayConfig;
use dalal_brokers::gateway::kite::{spawn, KiteGatewayConfig, KiteSymbol};
use dalal_brokers::gateway::reconcile::{
    is_dalal_tag, plan_adoptions, position_key, reconcile, BookOrder, HeldPosition, LeftOut, PositionKey,
    Reconciliation,
};
use dalal_brokers::gateway::upstox::{portfolio_stream, UpstoxSymbol};
use dalal_brokers::gateway::{BrokerTap, GatewayHandle, InFlight, Session};
use dalal_brokers::kite::{KiteClient, KiteError};
use dalal_brokers::upstox::{UpstoxClient, UpstoxError};
use dalal_brokers::{BrokerErrorKind, BrokerKind, Vault};
use dalal_config::{AccountMode, Config};
use dalal_core::engine::setup::EngineSetup;
use dalal_core::model::{AccountId, Command, Product, VenueId};
use dalal_core::stages::portfolio::Portfolio;

use crate::broker::{angel_snapshot, kite_snapshot, upstox_snapshot, SnapshotOrders};
use crate::cli::VaultArgs;

/// How often an idle gateway reads its login's order book, so that a broker's outage shows
/// in the session's health (and `/metrics`) before an order finds it.
const IDLE_CHECK: Duration = Duration::from_secs(15);

/// The gateways of a run (their tap goes to the engine thread).
pub struct Brokers {
    pub logins: Vec<LoginView>,
    threads: Vec<JoinHandle<()>>,
    in_flight: InFlight,
    /// Each gateway by its vault login, for the vault watcher.
    gateways: Vec<(String, GatewayHandle)>,
    /// Positions to adopt from the brokers (`adopt_positions`), for the engine to book first.
    pub adoptions: Vec<Command>,
}

/// Takes a login's new access token, or `None` when the login left the vault (a gateway, a
/// market feed).
pub type TokenSink = Box<dyn Fn(Option<dalal_brokers::Secret>) + Send>;

/// A login as the console shows it.
pub struct LoginView {
    pub name: String,
    pub kind: BrokerKind,
    /// Accounts bound to it and their modes.
    pub accounts: Vec<(String, AccountMode)>,
    pub session: Arc<Session>,
    /// What the broker said at the start beside the engine's positions (or why it could not).
    pub reconciliation: Result<Reconciliation, String>,
}

impl Brokers {
    /// The logins as the console shows them: it reads each session when asked.
    pub fn console_logins(&self) -> Vec<dalal_admin::BrokerLogin> {
        self.logins
            .iter()
            .map(|l| {
                let session = l.session.clone();
                let reconciliation = match &l.reconciliation {
                    Ok(r) => serde_json::to_value(r).unwrap_or_default(),
                    Err(e) => serde_json::json!({ "error": e }),
                };
                dalal_admin::BrokerLogin {
                    name: l.name.clone(),
                    kind: l.kind.as_str().to_string(),
                    accounts: l.accounts.iter().map(|(a, m)| (a.clone(), m.as_str().to_string())).collect(),
                    session: Arc::new(move || {
                        let mut v = serde_json::to_value(session.status()).unwrap_or_default();
                        if let Some(o) = v.as_object_mut() {
                            o.insert("reconciliation".into(), reconciliation.clone());
                        }
                        v
                    }),
                }
            })
            .collect()
    }

    /// True when nothing is in flight between the engine and the brokers: every request the
    /// engine has handed a gateway is answered and read back, every report published.
    pub fn quiet(&self) -> bool {
        self.in_flight.get() == 0
    }

    /// Waits (at most `limit`) until nothing is in flight between the engine and the brokers:
    /// every request answered, the order book read after it, every report published. The
    /// caller then lets the engine apply what was published before it stops.
    pub fn settle(&self, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        while !self.quiet() {
            if std::time::Instant::now() >= deadline {
                tracing::warn!(in_flight = self.in_flight.get(), "stopping with broker work in flight");
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Where each login's new access token goes: its gateway.
    pub fn token_sinks(&self) -> Vec<(String, TokenSink)> {
        self.gateways
            .iter()
            .map(|(login, handle)| {
                let handle = handle.clone();
                let sink: TokenSink = Box::new(move |t| {
                    match t {
                        Some(t) => handle.relogin(t),
                        None => handle.logout(),
                    };
                });
                (login.clone(), sink)
            })
            .collect()
    }

    /// Waits for the gateway threads: call once the engine has stopped, its tap (which holds
    /// their queues) is dropped and the vault watcher (which holds handles) has stopped.
    pub fn join(self) {
        drop(self.gateways);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Starts a gateway for every login a live or shadow account uses; `None` when no account does.
pub fn start(
    config: &Config,
    setup: &EngineSetup,
    vault_args: &VaultArgs,
    portfolio: &Portfolio,
) -> Result<Option<(BrokerTap, Brokers)>> {
    let used: Vec<usize> = (0..config.brokers.len())
        .filter(|b| {
            config
                .accounts
                .iter()
                .any(|a| a.mode != AccountMode::Paper && a.broker.as_deref() == Some(config.brokers[*b].name.as_str()))
        })
        .collect();
    if used.is_empty() {
        return Ok(None);
    }
    let vault = crate::broker::open(vault_args).context("broker logins need the vault (dalal broker add)")?;
    let (reports_tx, reports_rx) = mpsc::channel();
    let in_flight = InFlight::default();
    let mut gateways: Vec<Option<GatewayHandle>> = vec![None; setup.venues.len()];
    let mut logins = Vec::new();
    let mut threads = Vec::new();
    let mut watched = Vec::new();
    let mut adoptions = Vec::new();
    for b in used {
        let entry = &config.brokers[b];
        let venue = VenueId((config.venues.len() + b) as u16);
        let bound: Vec<usize> = config
            .accounts
            .iter()
            .enumerate()
            .filter(|(_, a)| a.mode == AccountMode::Live && a.broker.as_deref() == Some(entry.name.as_str()))
            .map(|(i, _)| i)
            .collect();
        if entry.adopt_positions && bound.len() != 1 {
            bail!(
                "broker {:?}: adopt_positions needs exactly one live account on the login (it has {})",
                entry.name,
                bound.len()
            );
        }
        let opening = engine_positions(setup, portfolio, &bound);
        let wiring = Wiring {
            venue,
            reports: reports_tx.clone(),
            in_flight: in_flight.clone(),
            opening: &opening,
            live: !bound.is_empty(),
            instruments: &config.instruments,
        };
        let Started { handle, thread, reconciliation, broker_positions } = start_login(entry, &vault, setup, wiring)?;
        if let (true, Some(positions), Some(&account)) = (entry.adopt_positions, &broker_positions, bound.first()) {
            adoptions.extend(adopt(&entry.name, setup, AccountId(account as u16), &opening, positions));
        }
        logins.push(LoginView {
            name: entry.name.clone(),
            kind: entry.kind,
            accounts: config
                .accounts
                .iter()
                .filter(|a| a.broker.as_deref() == Some(entry.name.as_str()))
                .map(|a| (a.name.clone(), a.mode))
                .collect(),
            session: handle.session.clone(),
            reconciliation,
        });
        watched.push((entry.login().to_string(), handle.clone()));
        if let Some(slot) = gateways.get_mut(venue.0 as usize) {
            *slot = Some(handle);
        }
        threads.push(thread);
    }
    let shadow = config
        .accounts
        .iter()
        .map(|a| match (a.mode, &a.broker) {
            (AccountMode::Shadow, Some(name)) => {
                config.brokers.iter().position(|b| &b.name == name).map(|b| VenueId((config.venues.len() + b) as u16))
            }
            _ => None,
        })
        .collect();
    let tap = BrokerTap::new(gateways, reports_rx).with_shadow(shadow);
    Ok(Some((tap, Brokers { logins, threads, in_flight, gateways: watched, adoptions })))
}

/// How one login's gateway joins the run.
struct Wiring<'a> {
    venue: VenueId,
    reports: mpsc::Sender<dalal_core::model::VenueReport>,
    in_flight: InFlight,
    /// The engine's positions of the login's live accounts, to reconcile with the broker's.
    opening: &'a BTreeMap<PositionKey, i64>,
    /// Whether a live account trades through it (shadow accounts send nothing).
    live: bool,
    /// The configuration's instruments, in the setup's order: their ids at the brokers
    /// (`tokens = { angel = … }`, `keys = { upstox = … }`).
    instruments: &'a [dalal_config::InstrumentSection],
}

/// A login's gateway, started, and what its broker said at the start.
struct Started {
    handle: GatewayHandle,
    thread: JoinHandle<()>,
    reconciliation: Result<Reconciliation, String>,
    /// The broker's net positions, when they could be read.
    broker_positions: Option<Vec<HeldPosition>>,
}

fn start_login(
    entry: &dalal_config::BrokerSection,
    vault: &Vault,
    setup: &EngineSetup,
    wiring: Wiring<'_>,
) -> Result<Started> {
    let Wiring { venue, reports, in_flight, opening, live, instruments } = wiring;
    let login = entry.login();
    let kind = vault.kind(login).with_context(|| format!("broker {:?}: login {login:?}", entry.name))?;
    if kind != entry.kind {
        bail!(
            "broker {:?}: the vault's login {login:?} is for {kind}, the configuration says {}",
            entry.name,
            entry.kind
        );
    }
    match entry.kind {
        BrokerKind::Kite => {
            let api_key = vault
                .id(login, "api_key")?
                .with_context(|| format!("broker {:?}: login {login:?} has no api_key", entry.name))?;
            let token = vault.secret(login, "access_token")?;
            if token.is_none() {
                tracing::warn!(broker = %entry.name, "no access token yet: orders are refused until `dalal broker login {login}`");
            }
            let client = KiteClient::new(entry.root(), &api_key, token, Duration::from_secs(7))
                .with_context(|| format!("broker {:?}", entry.name))?;
            let (reconciliation, broker_positions) = match client.has_session() {
                true => match reconcile_login(&LoginClient::Kite(client.clone()), opening) {
                    Ok((r, positions)) => (Ok(r), Some(positions)),
                    Err(e) => (Err(e), None),
                },
                false => (Err("no access token".to_string()), None),
            };
            log_reconciliation(&entry.name, &reconciliation);
            let symbols = setup.instruments.iter().map(|s| Some(KiteSymbol::of(s))).collect();
            let cfg = KiteGatewayConfig {
                venue,
                login: entry.name.clone(),
                orders_per_second: entry.orders_per_second(),
                poll_every: Duration::from_millis(entry.poll_ms.unwrap_or(500)),
                idle_check: Some(IDLE_CHECK),
                queue: 1024,
                // Orders of live accounts are followed on the ticker as well as in the book.
                order_updates: live.then(|| entry.ws_root().to_string()),
                clock: dalal_brokers::gateway::WallClock::system(),
            };
            let (handle, thread) =
                spawn(cfg, client, symbols, reports, in_flight).context("starting the broker gateway")?;
            Ok(Started { handle, thread, reconciliation, broker_positions })
        }
        BrokerKind::Angel => {
            let timeout = Duration::from_secs(7);
            let has_session = vault.secret(login, "jwt_token")?.is_some();
            let client = crate::broker::angel_client(vault, login, Some(entry.root()), timeout, has_session)
                .with_context(|| format!("broker {:?}", entry.name))?;
            let credentials = match (vault.secret(login, "mpin")?, vault.secret(login, "totp_seed")?) {
                (Some(mpin), Some(totp_seed)) => Some(AngelCredentials { mpin, totp_seed }),
                _ => None,
            };
            if !has_session {
                match credentials {
                    Some(_) => {
                        tracing::info!(broker = %entry.name, "no Angel One session yet: the gateway logs in with the MPIN and TOTP seed")
                    }
                    None => {
                        tracing::warn!(broker = %entry.name, "no Angel One session and no MPIN or TOTP seed: orders are refused until `dalal broker login {login}`")
                    }
                }
            }
            let symbols = setup
                .instruments
                .iter()
                .zip(instruments)
                .map(|(s, i)| AngelSymbol::of(s, i.tokens.get("angel").copied()))
                .collect();
            // Without a session yet (the gateway logs in by itself), there is no book to read.
            let (reconciliation, broker_positions) = match client.has_session() {
                true => match reconcile_login(&LoginClient::Angel(client.clone()), opening) {
                    Ok((r, positions)) => (Ok(r), Some(positions)),
                    Err(e) => (Err(e), None),
                },
                false => (Err("no session yet".to_string()), None),
            };
            log_reconciliation(&entry.name, &reconciliation);
            let cfg = GatewayConfig {
                venue,
                login: entry.name.clone(),
                orders_per_second: entry.orders_per_second(),
                poll_every: Duration::from_millis(entry.poll_ms.unwrap_or(500)),
                idle_check: Some(IDLE_CHECK),
                queue: 1024,
                order_updates: live,
                clock: dalal_brokers::gateway::WallClock::system(),
            };
            let (handle, thread) = dalal_brokers::gateway::angel::spawn(
                cfg,
                client,
                credentials,
                symbols,
                entry.order_ws_root().to_string(),
                reports,
                in_flight,
            )
            .context("starting the broker gateway")?;
            Ok(Started { handle, thread, reconciliation, broker_positions })
        }
        BrokerKind::Upstox => {
            let timeout = Duration::from_secs(7);
            let has_session = vault.secret(login, "access_token")?.is_some();
            if !has_session {
                tracing::warn!(broker = %entry.name, "no access token yet: orders are refused until `dalal broker login {login}`");
            }
            let client = crate::broker::upstox_client(
                vault,
                login,
                (Some(entry.root()), Some(entry.order_root())),
                timeout,
                has_session,
            )
            .with_context(|| format!("broker {:?}", entry.name))?;
            let (reconciliation, broker_positions) = match client.has_session() {
                true => match reconcile_login(&LoginClient::Upstox(client.clone()), opening) {
                    Ok((r, positions)) => (Ok(r), Some(positions)),
                    Err(e) => (Err(e), None),
                },
                false => (Err("no access token".to_string()), None),
            };
            log_reconciliation(&entry.name, &reconciliation);
            let symbols =
                instruments.iter().map(|i| UpstoxSymbol::of(i.keys.get("upstox").map(String::as_str))).collect();
            let cfg = GatewayConfig {
                venue,
                login: entry.name.clone(),
                orders_per_second: entry.orders_per_second(),
                poll_every: Duration::from_millis(entry.poll_ms.unwrap_or(500)),
                idle_check: Some(IDLE_CHECK),
                queue: 1024,
                order_updates: live,
                clock: dalal_brokers::gateway::WallClock::system(),
            };
            let (handle, thread) = dalal_brokers::gateway::upstox::spawn(
                cfg,
                client,
                symbols,
                Some(portfolio_stream()),
                reports,
                in_flight,
            )
            .context("starting the broker gateway")?;
            Ok(Started { handle, thread, reconciliation, broker_positions })
        }
    }
}

/// The engine's net positions of `accounts`, by where they trade at the broker.
fn engine_positions(setup: &EngineSetup, portfolio: &Portfolio, accounts: &[usize]) -> BTreeMap<PositionKey, i64> {
    let mut out = BTreeMap::new();
    for &a in accounts {
        for spec in &setup.instruments {
            for product in Product::ALL {
                let net = portfolio.get(a, spec.id.index(), product).map_or(0, |p| p.net.0);
                if net != 0 {
                    *out.entry(position_key(spec, product)).or_default() += net;
                }
            }
        }
    }
    out
}

/// A client of one login, whichever its broker: what the start of a run and the console read
/// a login's state with.
#[derive(Clone, Debug)]
pub(crate) enum LoginClient {
    Kite(KiteClient),
    Angel(AngelClient),
    Upstox(UpstoxClient),
}

/// A failed read of a login's state, whichever the broker: its kind (an expired session is the
/// operator's to renew) and the broker's text.
#[derive(Debug)]
pub(crate) struct ReadError {
    pub kind: BrokerErrorKind,
    pub text: String,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<KiteError> for ReadError {
    fn from(e: KiteError) -> ReadError {
        ReadError { kind: e.kind(), text: e.to_string() }
    }
}

impl From<UpstoxError> for ReadError {
    fn from(e: UpstoxError) -> ReadError {
        ReadError { kind: e.kind(), text: e.to_string() }
    }
}

impl From<AngelError> for ReadError {
    fn from(e: AngelError) -> ReadError {
        ReadError { kind: e.kind(), text: e.to_string() }
    }
}

impl LoginClient {
    /// The login's state as `dalal broker snapshot` prints it (the same object for every
    /// broker).
    pub(crate) async fn snapshot(&self, broker: &str, which: SnapshotOrders) -> Result<serde_json::Value, ReadError> {
        Ok(match self {
            LoginClient::Kite(c) => kite_snapshot(c, broker, which).await?,
            LoginClient::Angel(c) => angel_snapshot(c, broker, which).await?,
            LoginClient::Upstox(c) => upstox_snapshot(c, broker, which).await?,
        })
    }
}

/// What reconciliation needs of a login: its net positions and the day's orders in the
/// engine's words, and the cash it has (when the funds can be read: positions are compared
/// without it).
#[derive(Debug)]
pub(crate) struct BrokerBook {
    pub positions: Vec<HeldPosition>,
    pub orders: Vec<BookOrder>,
    pub cash: Option<f64>,
}

impl BrokerBook {
    /// Reads the book: the start of a run and the console's reconciliation read it the same way.
    pub(crate) async fn read(client: &LoginClient) -> Result<BrokerBook, ReadError> {
        Ok(match client {
            LoginClient::Kite(c) => {
                let positions = c.positions().await?;
                let orders = c.orders().await?;
                let cash = c.margins().await.ok().and_then(|m| m.equity).map(|e| e.net);
                BrokerBook {
                    positions: positions.net.iter().map(HeldPosition::from).collect(),
                    orders: orders.iter().map(BookOrder::from).collect(),
                    cash,
                }
            }
            LoginClient::Angel(c) => {
                let positions = c.positions().await?;
                let orders = c.order_book().await?;
                let cash = c.rms().await.ok().map(|r| r.net);
                BrokerBook {
                    positions: positions.iter().map(HeldPosition::from).collect(),
                    orders: orders.iter().map(BookOrder::from).collect(),
                    cash,
                }
            }
            LoginClient::Upstox(c) => {
                let positions = c.positions().await?;
                let orders = c.order_book().await?;
                let cash = c.funds(None).await.ok().and_then(|f| f.equity).map(|e| e.available_margin);
                BrokerBook {
                    positions: positions.iter().map(HeldPosition::from).collect(),
                    orders: orders.iter().map(BookOrder::from).collect(),
                    cash,
                }
            }
        })
    }

    /// This book beside the engine's positions.
    pub(crate) fn reconcile(&self, engine: &BTreeMap<PositionKey, i64>) -> Reconciliation {
        reconcile(engine, &self.positions, &self.orders, is_dalal_tag, self.cash)
    }
}

/// Reads the login's positions, orders and funds and compares them with `opening`; the
/// broker's net positions come back too.
fn reconcile_login(
    client: &LoginClient,
    opening: &BTreeMap<PositionKey, i64>,
) -> Result<(Reconciliation, Vec<HeldPosition>), String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let book = rt.block_on(BrokerBook::read(client)).map_err(|e| e.to_string())?;
    Ok((book.reconcile(opening), book.positions))
}

/// Logs what reconciliation at the start found.
fn log_reconciliation(broker: &str, reconciliation: &Result<Reconciliation, String>) {
    match reconciliation {
        Ok(r) if r.agrees() && r.outside_orders.is_empty() => {
            tracing::info!(broker, positions = r.agreeing, "broker positions agree with the engine's")
        }
        Ok(r) => tracing::warn!(
            broker,
            differences = ?r.differences,
            outside_orders = r.outside_orders.len(),
            "broker positions differ from the engine's, or orders from outside Dalal are working"
        ),
        Err(e) => tracing::warn!(broker, error = %e, "broker positions not reconciled"),
    }
}

/// A login's session token in the vault, under its broker's name for it
/// ([`BrokerKind::session_secret`]).
fn session_token(vault: &Vault, login: &str) -> Option<dalal_brokers::Secret> {
    let kind = vault.kind(login).ok()?;
    vault.secret(login, kind.session_secret()).ok().flatten()
}

/// The thread of [`watch_vault`]; stopping it drops the token sinks it holds.
pub struct VaultWatch {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl VaultWatch {
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}

/// The commands that make `account`'s positions the broker's (see `adopt_positions`); a
/// position in an instrument the configuration does not have, or with no price to book it
/// at, is reported and left out.
fn adopt(
    broker: &str,
    setup: &EngineSetup,
    account: AccountId,
    opening: &BTreeMap<PositionKey, i64>,
    positions: &[HeldPosition],
) -> Vec<Command> {
    let plan = plan_adoptions(&setup.instruments, account, opening, positions);
    for (key, why) in &plan.left_out {
        match why {
            LeftOut::NoPrice => {
                tracing::warn!(broker, position = ?key, "broker position not adopted: no price to book it at")
            }
            LeftOut::UnknownInstrument => tracing::warn!(
                broker,
                position = ?key,
                "broker position not adopted: not an instrument of the configuration"
            ),
        }
    }
    plan.adopt
        .into_iter()
        .map(|(a, adoption)| {
            tracing::info!(broker, account = account.0, position = ?a.key, qty = a.qty, price_paise = a.price, "adopting the broker's position");
            Command::Adopt(adoption)
        })
        .collect()
}

/// Looks at the vault file's time five times a second, reads the vault again when it changed,
/// and hands each sink (gateways, the market feed) whose login has a new access token the new
/// one: a login during the run (`dalal broker login`) brings an expired session back without a
/// restart.
pub fn watch_vault(args: VaultArgs, logins: Vec<(String, TokenSink)>) -> Result<VaultWatch> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // The tokens the gateways have (kept as secrets: zeroed when dropped, never printed).
    let mut seen: BTreeMap<String, Option<dalal_brokers::Secret>> = BTreeMap::new();
    if let Ok(v) = crate::broker::open(&args) {
        for (login, _) in &logins {
            seen.insert(login.clone(), session_token(&v, login));
        }
    }
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut last = modified(&args.vault);
    let thread = std::thread::Builder::new().name("vault-watch".into()).spawn(move || {
        while !flag.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(200));
            let now = modified(&args.vault);
            if now == last {
                continue;
            }
            last = now;
            let vault = match crate::broker::open(&args) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "the vault changed but cannot be read");
                    continue;
                }
            };
            // Per login: a new token, or the token gone (the login removed).
            let mut changes: BTreeMap<&str, Option<dalal_brokers::Secret>> = BTreeMap::new();
            for (login, _) in &logins {
                if changes.contains_key(login.as_str()) {
                    continue;
                }
                let now = session_token(&vault, login);
                match (now, seen.get(login).and_then(Option::as_ref)) {
                    (Some(t), Some(had)) if t.expose() == had.expose() => {}
                    (Some(t), _) => {
                        tracing::info!(login = %login, "new access token in the vault");
                        changes.insert(login, Some(t));
                    }
                    (None, Some(_)) => {
                        tracing::warn!(login = %login, "access token gone from the vault: the login's session ends");
                        changes.insert(login, None);
                    }
                    (None, None) => {}
                }
            }
            for (login, sink) in &logins {
                if let Some(change) = changes.get(login.as_str()) {
                    sink(change.clone());
                }
            }
            for (login, change) in changes {
                seen.insert(login.to_string(), change);
            }
        }
    })?;
    Ok(VaultWatch { stop, thread })
}
