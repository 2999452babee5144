//! Reads for the admin console and the tests. Every query is served by an index of the schema:
//! orders by account and update time, fills by account and time, an order's events by its key,
//! candles by symbol, spec and start, risk events and the audit log by time.

use sqlx::Row;

use super::{Store, StoreError, StorePool};

/// The tables of the schema (for counts and maintenance).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Users,
    Accounts,
    Instruments,
    Orders,
    OrderEvents,
    Fills,
    PositionSnapshots,
    Candles,
    RiskEvents,
    AuditLog,
}

impl Table {
    pub const ALL: [Table; 10] = [
        Table::Users,
        Table::Accounts,
        Table::Instruments,
        Table::Orders,
        Table::OrderEvents,
        Table::Fills,
        Table::PositionSnapshots,
        Table::Candles,
        Table::RiskEvents,
        Table::AuditLog,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Accounts => "accounts",
            Table::Instruments => "instruments",
            Table::Orders => "orders",
            Table::OrderEvents => "order_events",
            Table::Fills => "fills",
            Table::PositionSnapshots => "position_snapshots",
            Table::Candles => "candles",
            Table::RiskEvents => "risk_events",
            Table::AuditLog => "audit_log",
        }
    }
}

/// An order's latest stored state.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderRow {
    pub run_id: String,
    pub order_id: i64,
    pub account: String,
    pub strategy: i64,
    pub symbol: String,
    pub side: String,
    pub order_type: String,
    pub product: String,
    pub validity: String,
    pub qty: i64,
    pub price_paise: i64,
    pub trigger_paise: i64,
    pub status: String,
    pub filled_qty: i64,
    pub avg_price: f64,
    pub reject_reason: Option<String>,
    pub tag: String,
    pub brokerage_paise: i64,
    pub created_ns: i64,
    pub updated_ns: i64,
    pub last_seq: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderEventRow {
    pub order_id: i64,
    pub source_seq: i64,
    pub status: String,
    pub filled_qty: i64,
    pub qty: i64,
    pub price_paise: i64,
    pub ts_ns: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FillRow {
    pub fill_id: i64,
    pub order_id: i64,
    pub account: String,
    pub strategy: i64,
    pub symbol: String,
    pub side: String,
    pub product: String,
    pub qty: i64,
    pub price_paise: i64,
    pub charges_paise: i64,
    pub ts_ns: i64,
    pub source_seq: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PositionRow {
    pub account: String,
    pub symbol: String,
    pub product: String,
    pub ts_ns: i64,
    pub net_qty: i64,
    pub avg_price: f64,
    pub realized_paise: i64,
    pub unrealized_paise: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandleRow {
    pub symbol: String,
    pub spec: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub open_paise: i64,
    pub high_paise: i64,
    pub low_paise: i64,
    pub close_paise: i64,
    pub volume: i64,
    pub trades: i64,
    pub turnover_paise: i64,
    pub oi: i64,
    pub amended: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskRow {
    pub source_seq: i64,
    pub sub: i64,
    pub ts_ns: i64,
    pub account: Option<String>,
    pub kind: String,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub source_seq: Option<i64>,
    pub ts_ns: i64,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// `?` placeholders as written; `$1, $2, …` for PostgreSQL.
pub(super) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

/// Runs `$sql` (with `?` placeholders) on whichever pool, binding `$args`, and maps every row
/// with `$map` (expanded once per backend, so it is typed for each row type). On PostgreSQL the
/// statement is unnamed and inside a transaction, so it works behind a transaction-pooling
/// PgBouncer too (see [`super::pg`]).
macro_rules! fetch {
    ($store:expr, $sql:expr, [$($arg:expr),*], |$r:ident| $map:expr) => {{
        let sql: &str = $sql;
        match &$store.pool {
            StorePool::Sqlite(p) => {
                let rows = sqlx::query(sql)$(.bind($arg))*.fetch_all(p).await?;
                rows.iter().map(|$r| -> Result<_, sqlx::Error> { Ok($map) }).collect::<Result<Vec<_>, _>>()?
            }
            StorePool::Postgres(p) => {
                let sql = numbered(sql);
                let mut tx = p.begin().await?;
                let rows = sqlx::query(&sql).persistent(false)$(.bind($arg))*.fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows.iter().map(|$r| -> Result<_, sqlx::Error> { Ok($map) }).collect::<Result<Vec<_>, _>>()?
            }
        }
    }};
}

pub(super) use fetch;

macro_rules! order_row {
    ($r:ident) => {
        OrderRow {
            run_id: $r.try_get("run_id")?,
            order_id: $r.try_get("order_id")?,
            account: $r.try_get("account")?,
            strategy: $r.try_get("strategy")?,
            symbol: $r.try_get("symbol")?,
            side: $r.try_get("side")?,
            order_type: $r.try_get("order_type")?,
            product: $r.try_get("product")?,
            validity: $r.try_get("validity")?,
            qty: $r.try_get("qty")?,
            price_paise: $r.try_get("price_paise")?,
            trigger_paise: $r.try_get("trigger_paise")?,
            status: $r.try_get("status")?,
            filled_qty: $r.try_get("filled_qty")?,
            avg_price: $r.try_get("avg_price")?,
            reject_reason: $r.try_get("reject_reason")?,
            tag: $r.try_get("tag")?,
            brokerage_paise: $r.try_get("brokerage_paise")?,
            created_ns: $r.try_get("created_ns")?,
            updated_ns: $r.try_get("updated_ns")?,
            last_seq: $r.try_get("last_seq")?,
        }
    };
}

const ORDER_COLS: &str = "run_id, order_id, account, strategy, symbol, side, order_type, product, validity, qty, \
                          price_paise, trigger_paise, status, filled_qty, avg_price, reject_reason, tag, \
                          brokerage_paise, created_ns, updated_ns, last_seq";

impl Store {
    /// Rows in a table, over every run.
    pub async fn count(&self, table: Table) -> Result<i64, StoreError> {
        let sql = format!("SELECT COUNT(*) AS n FROM {}", table.name());
        let v: Vec<i64> = fetch!(self, &sql, [], |r| r.try_get("n")?);
        Ok(v.first().copied().unwrap_or(0))
    }

    /// Account names, in id order.
    pub async fn accounts(&self) -> Result<Vec<String>, StoreError> {
        Ok(fetch!(self, "SELECT name FROM accounts ORDER BY id", [], |r| r.try_get("name")?))
    }

    /// (symbol, segment, tick paise, lot) of every instrument, by symbol.
    pub async fn instruments(&self) -> Result<Vec<(String, String, i64, i64)>, StoreError> {
        Ok(fetch!(self, "SELECT symbol, segment, tick_paise, lot FROM instruments ORDER BY symbol", [], |r| (
            r.try_get("symbol")?,
            r.try_get("segment")?,
            r.try_get("tick_paise")?,
            r.try_get("lot")?
        )))
    }

    /// One order of this run.
    pub async fn order(&self, order_id: i64) -> Result<Option<OrderRow>, StoreError> {
        let sql = format!("SELECT {ORDER_COLS} FROM orders WHERE run_id = ? AND order_id = ?");
        let run = self.run_id();
        let v: Vec<OrderRow> = fetch!(self, &sql, [run, order_id], |r| order_row!(r));
        Ok(v.into_iter().next())
    }

    /// An account's orders of this run, most recently updated first.
    pub async fn orders_for_account(&self, account: &str, limit: i64) -> Result<Vec<OrderRow>, StoreError> {
        let sql = format!(
            "SELECT {ORDER_COLS} FROM orders WHERE account = ? AND run_id = ? \
             ORDER BY updated_ns DESC, order_id DESC LIMIT ?"
        );
        let run = self.run_id();
        Ok(fetch!(self, &sql, [account, run, limit], |r| order_row!(r)))
    }

    /// An order's state changes, oldest first.
    pub async fn order_events(&self, order_id: i64) -> Result<Vec<OrderEventRow>, StoreError> {
        let run = self.run_id();
        Ok(fetch!(
            self,
            "SELECT order_id, source_seq, status, filled_qty, qty, price_paise, ts_ns FROM order_events \
             WHERE run_id = ? AND order_id = ? ORDER BY source_seq, filled_qty",
            [run, order_id],
            |r| OrderEventRow {
                order_id: r.try_get("order_id")?,
                source_seq: r.try_get("source_seq")?,
                status: r.try_get("status")?,
                filled_qty: r.try_get("filled_qty")?,
                qty: r.try_get("qty")?,
                price_paise: r.try_get("price_paise")?,
                ts_ns: r.try_get("ts_ns")?,
            }
        ))
    }

    /// An account's fills (every run), newest first.
    pub async fn fills_for_account(&self, account: &str, limit: i64) -> Result<Vec<FillRow>, StoreError> {
        Ok(fetch!(
            self,
            "SELECT fill_id, order_id, account, strategy, symbol, side, product, qty, price_paise, charges_paise, \
             ts_ns, source_seq FROM fills WHERE account = ? ORDER BY ts_ns DESC, fill_id DESC LIMIT ?",
            [account, limit],
            |r| FillRow {
                fill_id: r.try_get("fill_id")?,
                order_id: r.try_get("order_id")?,
                account: r.try_get("account")?,
                strategy: r.try_get("strategy")?,
                symbol: r.try_get("symbol")?,
                side: r.try_get("side")?,
                product: r.try_get("product")?,
                qty: r.try_get("qty")?,
                price_paise: r.try_get("price_paise")?,
                charges_paise: r.try_get("charges_paise")?,
                ts_ns: r.try_get("ts_ns")?,
                source_seq: r.try_get("source_seq")?,
            }
        ))
    }

    /// An account's position snapshots of this run, newest first.
    pub async fn positions_for_account(&self, account: &str, limit: i64) -> Result<Vec<PositionRow>, StoreError> {
        let run = self.run_id();
        Ok(fetch!(
            self,
            "SELECT account, symbol, product, ts_ns, net_qty, avg_price, realized_paise, unrealized_paise \
             FROM position_snapshots WHERE account = ? AND run_id = ? ORDER BY ts_ns DESC, symbol LIMIT ?",
            [account, run, limit],
            |r| PositionRow {
                account: r.try_get("account")?,
                symbol: r.try_get("symbol")?,
                product: r.try_get("product")?,
                ts_ns: r.try_get("ts_ns")?,
                net_qty: r.try_get("net_qty")?,
                avg_price: r.try_get("avg_price")?,
                realized_paise: r.try_get("realized_paise")?,
                unrealized_paise: r.try_get("unrealized_paise")?,
            }
        ))
    }

    /// Bars of one symbol and spec (`1m`, `500t`, …) starting in `[from_ns, to_ns)`, oldest first.
    pub async fn candles(
        &self,
        symbol: &str,
        spec: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<CandleRow>, StoreError> {
        Ok(fetch!(
            self,
            "SELECT symbol, spec, start_ns, end_ns, open_paise, high_paise, low_paise, close_paise, volume, trades, \
             turnover_paise, oi, amended FROM candles \
             WHERE symbol = ? AND spec = ? AND start_ns >= ? AND start_ns < ? ORDER BY start_ns",
            [symbol, spec, from_ns, to_ns],
            |r| CandleRow {
                symbol: r.try_get("symbol")?,
                spec: r.try_get("spec")?,
                start_ns: r.try_get("start_ns")?,
                end_ns: r.try_get("end_ns")?,
                open_paise: r.try_get("open_paise")?,
                high_paise: r.try_get("high_paise")?,
                low_paise: r.try_get("low_paise")?,
                close_paise: r.try_get("close_paise")?,
                volume: r.try_get("volume")?,
                trades: r.try_get("trades")?,
                turnover_paise: r.try_get("turnover_paise")?,
                oi: r.try_get("oi")?,
                amended: r.try_get::<i64, _>("amended")? != 0,
            }
        ))
    }

    /// Risk events of this run, newest first.
    pub async fn risk_events(&self, limit: i64) -> Result<Vec<RiskRow>, StoreError> {
        let run = self.run_id();
        Ok(fetch!(
            self,
            "SELECT source_seq, sub, ts_ns, account, kind, detail FROM risk_events WHERE run_id = ? \
             ORDER BY ts_ns DESC, id DESC LIMIT ?",
            [run, limit],
            |r| RiskRow {
                source_seq: r.try_get("source_seq")?,
                sub: r.try_get("sub")?,
                ts_ns: r.try_get("ts_ns")?,
                account: r.try_get("account")?,
                kind: r.try_get("kind")?,
                detail: r.try_get("detail")?,
            }
        ))
    }

    /// The audit log (every run), newest first: the newest `limit` entries, only `actor`'s
    /// when given (filtered before the limit, so a quiet actor's entries are found behind
    /// anyone else's).
    pub async fn audit_log(&self, limit: i64, actor: Option<&str>) -> Result<Vec<AuditRow>, StoreError> {
        Ok(fetch!(
            self,
            "SELECT source_seq, ts_ns, actor, action, detail FROM audit_log \
             WHERE (CAST(? AS TEXT) IS NULL OR actor = ?) ORDER BY ts_ns DESC, id DESC LIMIT ?",
            [actor, actor, limit],
            |r| AuditRow {
                source_seq: r.try_get("source_seq")?,
                ts_ns: r.try_get("ts_ns")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                detail: r.try_get("detail")?,
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_placeholders() {
        assert_eq!(super::numbered("a = ? AND b = ? LIMIT ?"), "a = $1 AND b = $2 LIMIT $3");
    }
}
