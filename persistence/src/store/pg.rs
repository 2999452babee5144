//! What the PostgreSQL path needs to work through a transaction-pooling connection pooler
//! (PgBouncer `pool_mode = transaction`) as well as straight to the server.
//!
//! Such a pooler lends a server connection to a client for one transaction only; between two
//! transactions (or two statements outside one) the client may be talking to another server
//! process, which another client used a moment ago. Three habits of a driver break there:
//!
//! * **Named prepared statements** live in one server process. sqlx names them `sqlx_s_1`,
//!   `sqlx_s_2`, … per client connection, so a second client preparing `sqlx_s_1` on the same
//!   server process fails with "prepared statement already exists", and a cached one is missing
//!   on the next server. Under [`PoolMode::Transaction`] every statement is unnamed
//!   (`persistent(false)`).
//! * **Prepare and execute in two round trips.** Even an unnamed statement is parsed and
//!   described before it is bound and executed, with a `Sync` in between, where the pooler may
//!   switch servers. So every statement the store and the console run goes inside an explicit
//!   transaction, which holds one server for its whole length. This is done on both pool modes
//!   (one code path, tested both ways); the batch writer always wrote in transactions.
//! * **Session state**: sqlx's migrator takes a session advisory lock (`pg_advisory_lock`), which
//!   would be taken on one server and released on another. [`migrate`] instead runs all pending
//!   migrations in one transaction under `pg_advisory_xact_lock`, released by the commit. It
//!   keeps sqlx's bookkeeping table `_sqlx_migrations` (same columns, checksums and lock key),
//!   so databases migrated by earlier versions carry on, and the two migrators exclude each
//!   other.
//!
//! The mode is chosen in the URL: `postgres://…/db?pool_mode=transaction` (the parameter is
//! removed before the URL reaches the driver). PgBouncer 1.18 (Debian 12) also refuses the
//! `extra_float_digits` start-up parameter sqlx sends; in transaction mode it is not sent (the
//! store reads floats in binary, where it has no effect).

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Instant;

use sqlx::migrate::{MigrateError, Migration};
use sqlx::postgres::{PgConnectOptions, PgPool};

use super::StoreError;

/// How the server connections behind a PostgreSQL URL are shared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PoolMode {
    /// Each client connection is one server session (straight to PostgreSQL, or a pooler in
    /// session mode): prepared statements are cached per connection.
    #[default]
    Session,
    /// A pooler hands out server connections per transaction: no named prepared statements,
    /// no session state.
    Transaction,
}

impl PoolMode {
    /// Whether a statement may be prepared once and kept (named) on the connection.
    pub fn keeps_statements(self) -> bool {
        self == PoolMode::Session
    }
}

/// The URL parameter that selects the pool mode.
const POOL_MODE_PARAM: &str = "pool_mode";

/// Splits `pool_mode=…` off a PostgreSQL URL: the mode, and the URL the driver is given.
pub fn split_pool_mode(url: &str) -> Result<(PoolMode, Cow<'_, str>), StoreError> {
    let Some((base, query)) = url.split_once('?') else { return Ok((PoolMode::Session, Cow::Borrowed(url))) };
    let (mut mode, mut kept) = (PoolMode::Session, Vec::new());
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some((POOL_MODE_PARAM, v)) => {
                mode = match v {
                    "session" => PoolMode::Session,
                    "transaction" => PoolMode::Transaction,
                    other => {
                        return Err(StoreError::BadParam(format!(
                    "{POOL_MODE_PARAM}={other}: expected {POOL_MODE_PARAM}=session or {POOL_MODE_PARAM}=transaction"
                )))
                    }
                }
            }
            _ if pair.is_empty() => {}
            _ => kept.push(pair),
        }
    }
    if kept.is_empty() {
        Ok((mode, Cow::Owned(base.to_string())))
    } else {
        Ok((mode, Cow::Owned(format!("{base}?{}", kept.join("&")))))
    }
}

/// Connect options for a URL whose `pool_mode` was already split off.
pub fn connect_options(url: &str, mode: PoolMode) -> Result<PgConnectOptions, sqlx::Error> {
    let o = PgConnectOptions::from_str(url)?;
    Ok(match mode {
        PoolMode::Session => o,
        PoolMode::Transaction => o.extra_float_digits(None).statement_cache_capacity(0),
    })
}

/// sqlx's advisory lock key for a database, so that this migrator and `sqlx::migrate::Migrator`
/// (used by earlier versions) never migrate the same database at once.
fn lock_id(database: &str) -> i64 {
    0x3d32ad9e * i64::from(crc32fast::hash(database.as_bytes()))
}

const CREATE_BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
)";

/// Applies the migrations the database lacks, all in one transaction under a transaction-level
/// advisory lock: a second engine starting at the same moment waits, then finds nothing to do.
/// Refuses, like sqlx's migrator, a database with a failed migration, one whose applied
/// migration differs from ours (checksum), or one migrated by a newer version.
pub async fn migrate(pool: &PgPool, migrations: &[Migration]) -> Result<(), StoreError> {
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    let (db,): (String,) = sqlx::query_as("SELECT current_database()").persistent(false).fetch_one(&mut *tx).await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").persistent(false).bind(lock_id(&db)).execute(&mut *tx).await?;
    sqlx::raw_sql(CREATE_BOOKKEEPING).execute(&mut *tx).await?;
    let applied: Vec<(i64, bool, Vec<u8>)> =
        sqlx::query_as("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
            .persistent(false)
            .fetch_all(&mut *tx)
            .await?;
    if let Some((v, ..)) = applied.iter().find(|(_, ok, _)| !ok) {
        return Err(MigrateError::Dirty(*v).into());
    }
    let ours: HashMap<i64, &Migration> = migrations.iter().map(|m| (m.version, m)).collect();
    for (v, _, sum) in &applied {
        match ours.get(v) {
            None => return Err(MigrateError::VersionMissing(*v).into()),
            Some(m) if m.checksum.as_ref() != sum.as_slice() => return Err(MigrateError::VersionMismatch(*v).into()),
            Some(_) => {}
        }
    }
    let mut ran = Vec::new();
    for m in migrations.iter().filter(|m| !applied.iter().any(|(v, ..)| *v == m.version)) {
        sqlx::raw_sql(&m.sql).execute(&mut *tx).await.map_err(|e| MigrateError::ExecuteMigration(e, m.version))?;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, $2, TRUE, $3, -1)",
        )
        .persistent(false)
        .bind(m.version)
        .bind(&*m.description)
        .bind(&*m.checksum)
        .execute(&mut *tx)
        .await?;
        ran.push(m.version);
    }
    if !ran.is_empty() {
        // As sqlx records it: the whole transaction's time, in nanoseconds.
        let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        sqlx::query("UPDATE _sqlx_migrations SET execution_time = $1 WHERE version = ANY($2)")
            .persistent(false)
            .bind(nanos)
            .bind(&ran)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    if !ran.is_empty() {
        tracing::info!(versions = ?ran, "database migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_mode_is_split_off_and_the_rest_kept() {
        let (m, u) = split_pool_mode("postgres://u@h:6432/db?pool_mode=transaction").unwrap();
        assert_eq!((m, u.as_ref()), (PoolMode::Transaction, "postgres://u@h:6432/db"));
        let (m, u) =
            split_pool_mode("postgres://u@h/db?sslmode=disable&pool_mode=transaction&application_name=x").unwrap();
        assert_eq!((m, u.as_ref()), (PoolMode::Transaction, "postgres://u@h/db?sslmode=disable&application_name=x"));
        let (m, u) = split_pool_mode("postgres://u@h/db?pool_mode=session").unwrap();
        assert_eq!((m, u.as_ref()), (PoolMode::Session, "postgres://u@h/db"));
        let (m, u) = split_pool_mode("postgres://u@h/db?options=-csearch_path%3Ds").unwrap();
        assert_eq!((m, u.as_ref()), (PoolMode::Session, "postgres://u@h/db?options=-csearch_path%3Ds"));
        let (m, u) = split_pool_mode("postgres://u@h/db").unwrap();
        assert_eq!((m, u.as_ref()), (PoolMode::Session, "postgres://u@h/db"));
        let e = split_pool_mode("postgres://u@h/db?pool_mode=statement").unwrap_err().to_string();
        assert!(e.contains("pool_mode=statement") && e.contains("pool_mode=transaction"), "{e}");
    }

    #[test]
    fn the_lock_key_is_the_one_sqlx_takes() {
        // sqlx 0.8 `generate_lock_id`: 0x3d32ad9e × CRC-32/ISO-HDLC of the database name.
        assert_eq!(crc32fast::hash(b"test"), 0xD87F_7E0C);
        assert_eq!(lock_id("test"), 0x3d32ad9e_i64 * 0xD87F_7E0C_i64);
    }
}
