//! Imported bars (`history_candles`): what `dalal data import` took from a broker's historical
//! endpoint or from NSE bhavcopy files, for backtests on stored candles. A bar is keyed by
//! symbol, timeframe and start; importing the same bar again replaces it (a corrected file
//! wins), in one transaction per import, so a reader sees an import whole or not at all. The
//! same transaction rewrites the summary of every series it touched (`history_series`).

use sqlx::{QueryBuilder, Row};

use super::query::{fetch, numbered};
use super::{Store, StoreError, StorePool};

/// One bar as the store keeps it: prices in paise, times in ns since the epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryBar {
    pub symbol: String,
    /// Dalal's name of the bar (`1m`, `5m`, `1h`, `1d`).
    pub timeframe: String,
    /// The bar's start on the session grid (a day bar starts at the session's open).
    pub start_ns: i64,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
    pub volume: i64,
    /// Open interest at the bar's close, where the source gives one.
    pub oi: Option<i64>,
}

/// What the store holds of one symbol and timeframe from one source.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HistorySeries {
    pub symbol: String,
    pub timeframe: String,
    pub source: String,
    pub bars: i64,
    pub first_ns: i64,
    pub last_ns: i64,
    /// When the latest of these bars was imported.
    pub imported_ns: i64,
}

/// Rows per `INSERT`: 11 values each stays far below both backends' limits on bound
/// parameters (32 766 and 65 535).
const ROWS_PER_INSERT: usize = 1000;

impl Store {
    /// Stores `bars` from `source` (e.g. `kite`, `nse-bhavcopy`), replacing bars already kept
    /// under the same key, in one transaction; returns how many rows were written. Runs the
    /// migrations first, so a new database works. A bar listed twice: the last one wins.
    pub async fn import_history(&self, source: &str, bars: &[HistoryBar], imported_ns: i64) -> Result<u64, StoreError> {
        self.prepare().await?;
        let mut last = std::collections::HashMap::with_capacity(bars.len());
        for (i, b) in bars.iter().enumerate() {
            last.insert((b.symbol.as_str(), b.timeframe.as_str(), b.start_ns), i);
        }
        let bars: Vec<&HistoryBar> = bars
            .iter()
            .enumerate()
            .filter(|(i, b)| last.get(&(b.symbol.as_str(), b.timeframe.as_str(), b.start_ns)) == Some(i))
            .map(|(_, b)| b)
            .collect();
        let touched: std::collections::BTreeSet<(&str, &str)> =
            bars.iter().map(|b| (b.symbol.as_str(), b.timeframe.as_str())).collect();
        macro_rules! import {
            ($pool:expr, $db:ty) => {{
                let mut tx = $pool.begin().await?;
                let mut written = 0u64;
                for chunk in bars.chunks(ROWS_PER_INSERT) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO history_candles (symbol, timeframe, start_ns, open_paise, high_paise, \
                         low_paise, close_paise, volume, oi, source, imported_ns) ",
                    );
                    q.push_values(chunk, |mut r, b| {
                        r.push_bind(b.symbol.as_str())
                            .push_bind(b.timeframe.as_str())
                            .push_bind(b.start_ns)
                            .push_bind(b.open)
                            .push_bind(b.high)
                            .push_bind(b.low)
                            .push_bind(b.close)
                            .push_bind(b.volume)
                            .push_bind(b.oi)
                            .push_bind(source)
                            .push_bind(imported_ns);
                    });
                    q.push(
                        " ON CONFLICT (symbol, timeframe, start_ns) DO UPDATE SET open_paise = excluded.open_paise, \
                         high_paise = excluded.high_paise, low_paise = excluded.low_paise, \
                         close_paise = excluded.close_paise, volume = excluded.volume, oi = excluded.oi, \
                         source = excluded.source, imported_ns = excluded.imported_ns",
                    );
                    written += q.build().persistent(false).execute(&mut *tx).await?.rows_affected();
                }
                for (symbol, timeframe) in &touched {
                    let mut q = QueryBuilder::<$db>::new("DELETE FROM history_series WHERE symbol = ");
                    q.push_bind(*symbol).push(" AND timeframe = ").push_bind(*timeframe);
                    q.build().persistent(false).execute(&mut *tx).await?;
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO history_series (symbol, timeframe, source, bars, first_ns, last_ns, imported_ns) \
                         SELECT symbol, timeframe, source, COUNT(*), MIN(start_ns), MAX(start_ns), MAX(imported_ns) \
                         FROM history_candles WHERE symbol = ",
                    );
                    q.push_bind(*symbol).push(" AND timeframe = ").push_bind(*timeframe);
                    q.push(" GROUP BY symbol, timeframe, source");
                    q.build().persistent(false).execute(&mut *tx).await?;
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

    /// The bars of one symbol and timeframe starting in `[from_ns, to_ns]`, in time order. Like
    /// every read, it expects a store [`Store::open`] has migrated; a cache refresh calls it
    /// once per series, so it does not migrate again.
    pub async fn history(
        &self,
        symbol: &str,
        timeframe: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<HistoryBar>, StoreError> {
        Ok(fetch!(
            self,
            "SELECT symbol, timeframe, start_ns, open_paise, high_paise, low_paise, close_paise, volume, oi \
             FROM history_candles WHERE symbol = ? AND timeframe = ? AND start_ns >= ? AND start_ns <= ? \
             ORDER BY start_ns",
            [symbol, timeframe, from_ns, to_ns],
            |r| HistoryBar {
                symbol: r.try_get("symbol")?,
                timeframe: r.try_get("timeframe")?,
                start_ns: r.try_get("start_ns")?,
                open: r.try_get("open_paise")?,
                high: r.try_get("high_paise")?,
                low: r.try_get("low_paise")?,
                close: r.try_get("close_paise")?,
                volume: r.try_get("volume")?,
                oi: r.try_get("oi")?,
            }
        ))
    }

    /// What is stored, per symbol, timeframe and source, ordered by those (from the summary
    /// each import keeps, not by counting the bars).
    pub async fn history_series(&self) -> Result<Vec<HistorySeries>, StoreError> {
        Ok(fetch!(
            self,
            "SELECT symbol, timeframe, source, bars, first_ns, last_ns, imported_ns FROM history_series \
             ORDER BY symbol, timeframe, source",
            [],
            |r| HistorySeries {
                symbol: r.try_get("symbol")?,
                timeframe: r.try_get("timeframe")?,
                source: r.try_get("source")?,
                bars: r.try_get("bars")?,
                first_ns: r.try_get("first_ns")?,
                last_ns: r.try_get("last_ns")?,
                imported_ns: r.try_get("imported_ns")?,
            }
        ))
    }
}
