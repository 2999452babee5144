//! The SQL store: one schema on SQLite (the embedded default, a file under `data/`) and on
//! PostgreSQL (by URL), written off the hot path by [`writer::StoreWriter`].
//!
//! # Backends and URLs
//!
//! * `sqlite://data/dalal.db?mode=rwc` (the default, [`DEFAULT_SQLITE_URL`]; the parent
//!   directory is created), `sqlite::memory:` for throw-away stores.
//! * `postgres://user@host:5432/db` (or `postgresql://`). A schema other than `public` can be
//!   chosen with the libpq option `?options=-csearch_path%3Dmy_schema`. Behind a
//!   transaction-pooling PgBouncer add `?pool_mode=transaction` (see [`pg`]).
//!
//! Two concrete pools sit behind [`StorePool`] rather than `sqlx::Any`: every statement is
//! typed for its backend, and the PostgreSQL path can use `COPY`.
//!
//! # Schema
//!
//! Migrations live in `persistence/migrations/{sqlite,postgres}/` (`NNNN_name.sql`), are
//! embedded in the binary at compile time and run at start-up, on SQLite with
//! `sqlx::migrate::Migrator`, on PostgreSQL with [`pg::migrate`] (one transaction under a
//! transaction-level lock); both record them in `_sqlx_migrations`, as `sqlx migrate run` would. The two directories
//! describe the same tables, columns and keys:
//!
//! | table | key | written as |
//! |---|---|---|
//! | `users` | `id`, `username` unique | by the admin API (not by the writer) |
//! | `accounts` | `id`, `name` unique | seeded from the engine setup at start-up |
//! | `instruments` | `id`, `symbol` unique | seeded (and tick/lot updated) at start-up |
//! | `orders` | `(run_id, order_id)` | latest state; an older update never overwrites a newer one (`last_seq`) |
//! | `order_events` | `(run_id, order_id, source_seq, status, filled_qty)` | one row per state change |
//! | `fills` | `(run_id, fill_id)` | insert once |
//! | `position_snapshots` | `(run_id, account, symbol, product, ts_ns)` | upsert |
//! | `candles` | `(symbol, spec, start_ns)` | upsert (an amended bar replaces its first issue) |
//! | `risk_events` | `id`; `(run_id, source_seq, sub)` unique | insert once |
//! | `audit_log` | `id`; `(run_id, source_seq, sub)` unique | insert once |
//! | `reports` | `id` | a saved backtest report page (`dalal backtest --save`) |
//! | `history_candles` | `(symbol, timeframe, start_ns)` | upsert by `dalal data import` (bars from a broker or NSE bhavcopy) |
//! | `history_series` | `(symbol, timeframe, source)` | the bar count and span of each imported series, rewritten by every import |
//!
//! Times are nanoseconds since the Unix epoch, prices and money integer paise, quantities
//! units, average prices fractional paise. Accounts and symbols are stored by name, so a
//! database shared by several engines (shards) stays readable; `run_id` names the run or
//! shard that wrote an order, fill, position or event, because order and fill ids are dense
//! per run. A recovered run must keep its `run_id` (derive it from the journal) so that a
//! replay after a crash lands on the same keys.
//!
//! Every write is an `INSERT … ON CONFLICT (key) DO NOTHING / DO UPDATE`, so replaying the same
//! events (from the journal, after an outage) writes nothing twice.
//!
//! # Batches
//!
//! [`Store::write`] writes a slice of [`StoreEvent`]s in one transaction: rows are grouped per
//! table and de-duplicated per key (last wins), then
//! * SQLite: multi-row `INSERT … VALUES (…),(…) … ON CONFLICT`, at most 500 rows per statement;
//! * PostgreSQL: tables with at least [`StoreOptions::pg_copy_threshold`] rows in the batch go
//!   through `COPY … FROM STDIN` (text format). Insert-only tables with dense keys (`fills`,
//!   `order_events`) are copied straight into the table when one index probe shows that none
//!   of the batch's key range is stored yet (the normal forward stream); otherwise (a journal
//!   re-feed, a retry) the rows go into a `TEMP … ON COMMIT DELETE ROWS` staging table and then
//!   `INSERT INTO <table> SELECT … FROM stage_<table> ON CONFLICT …`, as do the upserted
//!   tables. Smaller groups use the multi-row `INSERT`.

//!
//! # Throughput
//!
//! `cargo test --release -p dalal-persistence --test store_postgres -- --ignored --nocapture`
//! writes 200k fills through [`StoreWriter`] into the local PostgreSQL 15 and prints the
//! sustained rate (first `submit` to everything committed). On the 2-core development machine,
//! shared with PostgreSQL and other builds, it measured 142k–215k events/s (8192-event
//! batches, direct COPY path; `submit` 60–140 ns). The server's index maintenance dominates
//! (three B-trees on `fills`); going through the staging table and `ON CONFLICT` instead costs
//! about a third more, which is why the direct path exists.

mod batch;
pub mod fault_proxy;
mod history;
mod master;
mod pages;
pub mod pg;
mod query;
pub mod writer;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use dalal_core::engine::setup::EngineSetup;
use dalal_core::model::Candle;
use dalal_core::model::Fill;
use dalal_core::model::{AccountId, InstrumentId, Money, Order, Product, Timestamp};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use history::{HistoryBar, HistorySeries};
pub use master::MasterRow;
pub use pages::{NewReport, ReportRow};
pub use pg::PoolMode;
pub use query::{AuditRow, CandleRow, FillRow, OrderEventRow, OrderRow, PositionRow, RiskRow, Table};
pub use writer::{StoreSender, StoreStats, StoreWriter, StoreWriterHandle};

/// The embedded default: a SQLite file under `data/`, created on first use.
pub const DEFAULT_SQLITE_URL: &str = "sqlite://data/dalal.db?mode=rwc";

/// What can go wrong opening or writing the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: expected sqlite:… or postgres://…")]
    BadUrl(String),
    #[error("database URL: {0}")]
    BadParam(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("database not ready within {timeout:?}: {last_error}")]
    NotReady { timeout: Duration, last_error: String },
}

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend of a URL, or `None` for anything else.
    pub fn of_url(url: &str) -> Option<Backend> {
        let u = url.trim_start();
        if u.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if u.starts_with("postgres://") || u.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// The connection pool of one of the two backends.
#[derive(Clone, Debug)]
pub enum StorePool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Tuning of a store and its writer. The defaults suit a laptop and CI.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Names this engine run (or shard) in the tables keyed by dense per-run ids.
    pub run_id: String,
    /// Events the writer's queue holds before `submit` starts dropping (and remembering the
    /// lowest dropped journal sequence).
    pub capacity: usize,
    /// Most events written in one transaction.
    pub max_batch: usize,
    /// On PostgreSQL, a table group of at least this many rows in a batch goes through COPY.
    pub pg_copy_threshold: usize,
    /// How long `StoreWriter::start` waits for the database to be reachable and migrated;
    /// zero starts without waiting (the writer keeps trying in the background).
    pub connect_timeout: Duration,
    /// Waiting for a pooled connection (and so for a connect attempt) gives up after this.
    pub acquire_timeout: Duration,
    /// A batch that takes longer than this is abandoned (rolled back) and retried.
    pub write_timeout: Duration,
    /// Retry backoff starts here and doubles up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// `flush_and_stop` gives up writing after this long (what is left is reported by
    /// `first_unwritten_seq`).
    pub stop_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            run_id: "default".to_string(),
            capacity: 65_536,
            max_batch: 8_192,
            pg_copy_threshold: 64,
            connect_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(3),
            write_timeout: Duration::from_secs(30),
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            stop_timeout: Duration::from_secs(10),
        }
    }
}

/// A position as the portfolio reports it at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PositionSnapshot {
    /// The ingress (journal) sequence of the event that produced this snapshot.
    pub source_seq: u64,
    pub ts: Timestamp,
    pub account: AccountId,
    pub instrument: InstrumentId,
    pub product: Product,
    /// Signed: positive long, negative short.
    pub net_qty: i64,
    /// Average entry price, fractional paise; 0 when flat.
    pub avg_price: f64,
    pub realized: Money,
    pub unrealized: Money,
}

/// A risk decision worth keeping (a refusal, a kill switch, a square-off).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskEvent {
    pub source_seq: u64,
    /// Position among the risk events the same ingress event produced (0, 1, …): with
    /// `source_seq` it is the idempotency key.
    pub sub: u32,
    pub ts: Timestamp,
    /// `None` for global events (the global kill switch).
    pub account: Option<AccountId>,
    /// Stable code, e.g. a `RejectReason::as_str()` or `kill_switch`.
    pub kind: &'static str,
    pub detail: String,
}

/// An operator action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub source_seq: u64,
    /// Position among the audit entries of the same ingress event.
    pub sub: u32,
    pub ts: Timestamp,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// One thing for the store to keep. Every variant carries the ingress (journal) sequence
/// number of the event that produced it, so what could not be written can be re-read from the
/// journal; sequences must not decrease from one submitted event to the next, except when
/// the caller re-feeds from the journal.
#[derive(Clone, Debug, PartialEq)]
pub enum StoreEvent {
    /// An order was created or changed state.
    Order {
        order: Order,
        source_seq: u64,
    },
    Fill {
        fill: Fill,
        source_seq: u64,
    },
    /// A closed (or amended) bar.
    Candle {
        candle: Candle,
        source_seq: u64,
    },
    Position(PositionSnapshot),
    Risk(RiskEvent),
    Audit(AuditEntry),
}

impl StoreEvent {
    /// The ingress sequence that produced this event.
    pub fn source_seq(&self) -> u64 {
        match self {
            StoreEvent::Order { source_seq, .. }
            | StoreEvent::Fill { source_seq, .. }
            | StoreEvent::Candle { source_seq, .. } => *source_seq,
            StoreEvent::Position(p) => p.source_seq,
            StoreEvent::Risk(r) => r.source_seq,
            StoreEvent::Audit(a) => a.source_seq,
        }
    }
}

/// Dense ids → names, resolved once from the setup so the writer never touches the engine.
#[derive(Clone, Debug, Default)]
pub struct Names {
    pub accounts: Vec<String>,
    pub symbols: Vec<String>,
    /// (symbol, segment, tick paise, lot) per instrument, for seeding `instruments`.
    pub instruments: Vec<(String, &'static str, i64, i64)>,
}

impl Names {
    pub fn from_setup(setup: &EngineSetup) -> Names {
        Names {
            accounts: setup.accounts.iter().map(|a| a.name.clone()).collect(),
            symbols: setup.instruments.iter().map(|i| i.symbol.clone()).collect(),
            instruments: setup
                .instruments
                .iter()
                .map(|i| (i.symbol.clone(), i.segment.as_str(), i.tick_size.paise(), i.lot_size.units() as i64))
                .collect(),
        }
    }

    /// An account's name; `?` for an id the setup does not know (never expected).
    pub fn account(&self, id: AccountId) -> &str {
        self.accounts.get(id.index()).map(String::as_str).unwrap_or("?")
    }

    pub fn symbol(&self, id: InstrumentId) -> &str {
        self.symbols.get(id.index()).map(String::as_str).unwrap_or("?")
    }
}

/// Migrations embedded at compile time, one list per backend.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, "instrument_master", include_str!("../../migrations/sqlite/0002_instrument_master.sql")),
    (3, "reports", include_str!("../../migrations/sqlite/0003_reports.sql")),
    (4, "history_candles", include_str!("../../migrations/sqlite/0004_history_candles.sql")),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/postgres/0001_init.sql")),
    (2, "instrument_master", include_str!("../../migrations/postgres/0002_instrument_master.sql")),
    (3, "reports", include_str!("../../migrations/postgres/0003_reports.sql")),
    (4, "history_candles", include_str!("../../migrations/postgres/0004_history_candles.sql")),
];

/// A `MigrationSource` over the embedded lists (the `migrate!` macro would need sqlx's
/// compile-time machinery; this keeps the build free of it).
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

type BoxDynError = Box<dyn std::error::Error + Send + Sync>;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(v, d, sql)| {
                    Migration::new(*v, Cow::Borrowed(d), MigrationType::Simple, Cow::Borrowed(sql), false)
                })
                .collect())
        })
    }
}

/// The migrator for a backend. PostgreSQL runs the same migrations through [`pg::migrate`]
/// instead, which also works behind a transaction-pooling PgBouncer.
pub async fn migrator(backend: Backend) -> Result<Migrator, StoreError> {
    let list = match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS,
        Backend::Postgres => POSTGRES_MIGRATIONS,
    };
    Ok(Migrator::new(Embedded(list)).await?)
}

/// A handle on the database: pool, names and run id. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: StorePool,
    /// How PostgreSQL's server connections are shared (always `Session` on SQLite).
    pool_mode: PoolMode,
    names: Arc<Names>,
    opts: Arc<StoreOptions>,
}

/// The database holds users' password hashes, orders and positions: its directory is made
/// for its owner only (0700) when missing, and the file is created, or narrowed, to 0600
/// before SQLite first opens it (its `-wal` and `-shm` files take the same mode).
fn private_file(file: &std::path::Path) -> std::io::Result<()> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir)?;
        }
    }
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(file)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    Ok(())
}

impl Store {
    /// Builds the pool without connecting (connections are made when first needed, and again
    /// after an outage). Must be called inside a tokio runtime.
    pub fn connect_lazy(url: &str, names: Arc<Names>, opts: StoreOptions) -> Result<Store, StoreError> {
        let mut pool_mode = PoolMode::Session;
        let pool = match Backend::of_url(url) {
            Some(Backend::Sqlite) => {
                let o = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5));
                let memory = url.contains(":memory:") || url.contains("mode=memory");
                if !memory {
                    private_file(o.get_filename())?;
                }
                // One connection for an in-memory database: each connection would see its own.
                let max = if memory { 1 } else { 4 };
                StorePool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(max)
                        .min_connections(0)
                        .acquire_timeout(opts.acquire_timeout)
                        .idle_timeout(None)
                        .max_lifetime(None)
                        .connect_lazy_with(o),
                )
            }
            Some(Backend::Postgres) => {
                let (mode, url) = pg::split_pool_mode(url)?;
                pool_mode = mode;
                let o = pg::connect_options(&url, mode)?;
                StorePool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(4)
                        .min_connections(0)
                        .acquire_timeout(opts.acquire_timeout)
                        .connect_lazy_with(o),
                )
            }
            None => return Err(StoreError::BadUrl(url.to_string())),
        };
        Ok(Store { pool, pool_mode, names, opts: Arc::new(opts) })
    }

    /// Connects, migrates and seeds accounts and instruments from the setup.
    pub async fn open(url: &str, setup: &EngineSetup, opts: StoreOptions) -> Result<Store, StoreError> {
        let store = Store::connect_lazy(url, Arc::new(Names::from_setup(setup)), opts)?;
        store.prepare().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            StorePool::Sqlite(_) => Backend::Sqlite,
            StorePool::Postgres(_) => Backend::Postgres,
        }
    }

    pub fn pool(&self) -> &StorePool {
        &self.pool
    }

    /// How the PostgreSQL server connections are shared (`?pool_mode=` in the URL).
    pub fn pool_mode(&self) -> PoolMode {
        self.pool_mode
    }

    pub fn run_id(&self) -> &str {
        &self.opts.run_id
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Runs the migrations and seeds `accounts` and `instruments`. Idempotent.
    pub async fn prepare(&self) -> Result<(), StoreError> {
        match &self.pool {
            StorePool::Sqlite(p) => migrator(Backend::Sqlite).await?.run(p).await?,
            StorePool::Postgres(p) => {
                let list =
                    Embedded(POSTGRES_MIGRATIONS).resolve().await.map_err(sqlx::migrate::MigrateError::Source)?;
                pg::migrate(p, &list).await?
            }
        }
        self.seed().await
    }

    async fn seed(&self) -> Result<(), StoreError> {
        macro_rules! seed {
            ($pool:expr, $acct:expr, $inst:expr) => {{
                let mut tx = $pool.begin().await?;
                for name in &self.names.accounts {
                    sqlx::query($acct).persistent(false).bind(name.as_str()).execute(&mut *tx).await?;
                }
                for (sym, seg, tick, lot) in &self.names.instruments {
                    sqlx::query($inst)
                        .persistent(false)
                        .bind(sym.as_str())
                        .bind(*seg)
                        .bind(*tick)
                        .bind(*lot)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }};
        }
        const INST: &str = "ON CONFLICT (symbol) DO UPDATE SET segment = excluded.segment, \
                            tick_paise = excluded.tick_paise, lot = excluded.lot";
        match &self.pool {
            StorePool::Sqlite(p) => seed!(
                p,
                "INSERT INTO accounts (name) VALUES (?) ON CONFLICT (name) DO NOTHING",
                &format!("INSERT INTO instruments (symbol, segment, tick_paise, lot) VALUES (?, ?, ?, ?) {INST}")
            ),
            StorePool::Postgres(p) => seed!(
                p,
                "INSERT INTO accounts (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                &format!("INSERT INTO instruments (symbol, segment, tick_paise, lot) VALUES ($1, $2, $3, $4) {INST}")
            ),
        }
        Ok(())
    }

    /// Writes a batch in one transaction; returns the number of events in it. On error nothing
    /// of the batch is written.
    pub async fn write(&self, events: &[StoreEvent]) -> Result<usize, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        let groups = batch::build(events, &self.names, &self.opts.run_id);
        match &self.pool {
            StorePool::Sqlite(p) => batch::write_sqlite(p, &groups).await?,
            StorePool::Postgres(p) => {
                let (threshold, run) = (self.opts.pg_copy_threshold, self.opts.run_id.as_str());
                let keep = self.pool_mode.keeps_statements();
                match batch::write_postgres(p, &groups, threshold, true, run, keep).await {
                    Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23505") => {
                        batch::write_postgres(p, &groups, threshold, false, run, keep).await?
                    }
                    r => r?,
                }
            }
        }
        Ok(events.len())
    }

    /// A cheap round trip (`SELECT 1`, a simple query: nothing prepared).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.pool {
            StorePool::Sqlite(p) => {
                sqlx::raw_sql("SELECT 1").execute(p).await?;
            }
            StorePool::Postgres(p) => {
                sqlx::raw_sql("SELECT 1").execute(p).await?;
            }
        }
        Ok(())
    }

    /// Closes the pool's connections.
    pub async fn close(&self) {
        match &self.pool {
            StorePool::Sqlite(p) => p.close().await,
            StorePool::Postgres(p) => p.close().await,
        }
    }
}

/// True for errors that a retry can cure: the database is unreachable, restarting, overloaded
/// or busy. Anything else (a constraint or type error) would fail again.
pub fn is_transient(e: &StoreError) -> bool {
    match e {
        StoreError::Db(e) => is_transient_sqlx(e),
        StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => is_transient_sqlx(e),
        StoreError::Io(_) | StoreError::NotReady { .. } => true,
        _ => false,
    }
}

fn is_transient_sqlx(e: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match e {
        E::Io(_) | E::Tls(_) | E::Protocol(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
        E::Database(d) => {
            let code = d.code();
            let code = code.as_deref().unwrap_or("");
            // PostgreSQL classes: 08 connection, 53 resources, 57 operator intervention
            // (shutdown), 40 serialization / deadlock. SQLite: BUSY (5), LOCKED (6),
            // IOERR (10), FULL (13) and their extended codes.
            if code.len() == 5 {
                ["08", "53", "57", "40"].iter().any(|class| code.starts_with(class))
            } else {
                matches!(code.parse::<i32>().map(|c| c & 0xff), Ok(5) | Ok(6) | Ok(10) | Ok(13))
            }
        }
        _ => false,
    }
}
