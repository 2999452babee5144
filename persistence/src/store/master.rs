//! A broker's instrument master in the store (`instrument_master`): what
//! `dalal instruments import --store` took from the file, replacing what the same broker's
//! earlier import held for the same exchanges, in one transaction: a reader sees the old
//! master or the new one, never half of each.

use std::collections::HashMap;

use sqlx::QueryBuilder;

use super::{Store, StoreError, StorePool};

/// One contract as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterRow {
    pub exchange: String,
    pub symbol: String,
    /// The broker's instrument token (what its market-data socket speaks).
    pub token: i64,
    /// Dalal's segment name (`NSE_EQ`, `NSE_FUT`, `NSE_OPT`).
    pub segment: &'static str,
    pub name: String,
    pub tick_paise: i64,
    pub lot: i64,
    /// `YYYY-MM-DD`.
    pub expiry: Option<String>,
    pub strike_paise: Option<i64>,
    /// `CE` or `PE`.
    pub option_type: Option<&'static str>,
}

/// Rows per `INSERT`: 12 values each keeps a statement under SQLite's and PostgreSQL's limits
/// on bound parameters (32 766 and 65 535).
const ROWS_PER_INSERT: usize = 1000;

impl Store {
    /// Replaces `broker`'s rows for `exchanges` with `rows`, stamped `imported_ns`; returns
    /// how many rows were written. Runs the migrations first, so a new database works.
    pub async fn import_master(
        &self,
        broker: &str,
        exchanges: &[&str],
        rows: &[MasterRow],
        imported_ns: i64,
    ) -> Result<u64, StoreError> {
        self.prepare().await?;
        // A contract listed twice: the last row wins (one statement may not touch a row twice).
        let mut last: HashMap<(&str, &str), usize> = HashMap::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            last.insert((r.exchange.as_str(), r.symbol.as_str()), i);
        }
        let rows: Vec<&MasterRow> = rows
            .iter()
            .enumerate()
            .filter(|(i, r)| last.get(&(r.exchange.as_str(), r.symbol.as_str())) == Some(i))
            .map(|(_, r)| r)
            .collect();
        macro_rules! import {
            ($pool:expr, $db:ty) => {{
                let mut tx = $pool.begin().await?;
                for exchange in exchanges {
                    let mut q = QueryBuilder::<$db>::new("DELETE FROM instrument_master WHERE broker = ");
                    q.push_bind(broker).push(" AND exchange = ").push_bind(*exchange);
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
                let mut written = 0u64;
                for chunk in rows.chunks(ROWS_PER_INSERT) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO instrument_master (broker, exchange, symbol, token, segment, name, tick_paise, \
                         lot, expiry, strike_paise, option_type, imported_ns) ",
                    );
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(broker)
                            .push_bind(r.exchange.as_str())
                            .push_bind(r.symbol.as_str())
                            .push_bind(r.token)
                            .push_bind(r.segment)
                            .push_bind(r.name.as_str())
                            .push_bind(r.tick_paise)
                            .push_bind(r.lot)
                            .push_bind(r.expiry.as_deref())
                            .push_bind(r.strike_paise)
                            .push_bind(r.option_type)
                            .push_bind(imported_ns);
                    });
                    // Rows of an exchange not cleared above replace what was there.
                    q.push(
                        " ON CONFLICT (broker, exchange, symbol) DO UPDATE SET token = excluded.token, \
                         segment = excluded.segment, name = excluded.name, tick_paise = excluded.tick_paise, \
                         lot = excluded.lot, expiry = excluded.expiry, strike_paise = excluded.strike_paise, \
                         option_type = excluded.option_type, imported_ns = excluded.imported_ns",
                    );
                    written += q.build().persistent(false).execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
                written
            }};
        }
        Ok(match self.pool() {
            StorePool::Sqlite(p) => import!(p, sqlx::Sqlite),
            StorePool::Postgres(p) => import!(p, sqlx::Postgres),
        })
    }
}
