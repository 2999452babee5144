//! Turning a batch of events into rows per table, and writing them: multi-row `INSERT` on
//! both backends, `COPY` into a staging table on PostgreSQL.

use std::collections::HashMap;
use std::io::Write as _;

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

use super::{Backend, Names, StoreEvent};

/// What a conflicting row does.
#[derive(Clone, Copy, Debug)]
enum OnConflict {
    Nothing,
    /// Overwrite every non-key column.
    Update,
    /// Overwrite only when the new row's value of this column is at least the stored one.
    UpdateIfNewer(&'static str),
}

#[derive(Debug)]
pub(super) struct TableDef {
    name: &'static str,
    cols: &'static [&'static str],
    key: &'static [&'static str],
    on_conflict: OnConflict,
    /// May go through COPY on PostgreSQL (no identity column to fill).
    copy: bool,
    /// Is any row of this run in the batch's key ranges? (`$1` run, `$2..$5` the ranges.)
    fresh_sql: Option<&'static str>,
}

impl TableDef {
    fn conflict_clause(&self) -> String {
        let key = self.key.join(", ");
        match self.on_conflict {
            OnConflict::Nothing => format!("ON CONFLICT ({key}) DO NOTHING"),
            OnConflict::Update | OnConflict::UpdateIfNewer(_) => {
                let set: Vec<String> =
                    self.cols.iter().filter(|c| !self.key.contains(c)).map(|c| format!("{c} = excluded.{c}")).collect();
                let mut s = format!("ON CONFLICT ({key}) DO UPDATE SET {}", set.join(", "));
                if let OnConflict::UpdateIfNewer(col) = self.on_conflict {
                    s.push_str(&format!(" WHERE {t}.{col} <= excluded.{col}", t = self.name));
                }
                s
            }
        }
    }

    /// `INSERT INTO t (cols) VALUES (…), … ON CONFLICT …` for `rows` rows.
    fn insert_sql(&self, rows: usize, backend: Backend) -> String {
        let n = self.cols.len();
        let mut s = format!("INSERT INTO {} ({}) VALUES ", self.name, self.cols.join(", "));
        s.reserve(rows * n * 6 + 200);
        let mut p = 0usize;
        for r in 0..rows {
            if r > 0 {
                s.push(',');
            }
            s.push('(');
            for c in 0..n {
                if c > 0 {
                    s.push(',');
                }
                p += 1;
                match backend {
                    Backend::Sqlite => s.push('?'),
                    Backend::Postgres => {
                        s.push('$');
                        s.push_str(&p.to_string());
                    }
                }
            }
            s.push(')');
        }
        s.push(' ');
        s.push_str(&self.conflict_clause());
        s
    }
}

const ORDERS: TableDef = TableDef {
    name: "orders",
    cols: &[
        "run_id",
        "order_id",
        "account",
        "strategy",
        "symbol",
        "side",
        "order_type",
        "product",
        "validity",
        "amo",
        "qty",
        "price_paise",
        "trigger_paise",
        "status",
        "filled_qty",
        "avg_price",
        "reject_reason",
        "tag",
        "brokerage_paise",
        "created_ns",
        "updated_ns",
        "last_seq",
    ],
    key: &["run_id", "order_id"],
    on_conflict: OnConflict::UpdateIfNewer("last_seq"),
    copy: true,
    fresh_sql: None,
};

const ORDER_EVENTS: TableDef = TableDef {
    name: "order_events",
    cols: &["run_id", "order_id", "source_seq", "status", "filled_qty", "qty", "price_paise", "ts_ns"],
    key: &["run_id", "order_id", "source_seq", "status", "filled_qty"],
    on_conflict: OnConflict::Nothing,
    copy: true,
    fresh_sql: Some(
        "SELECT 1 AS x FROM order_events WHERE run_id = $1 AND order_id BETWEEN $2 AND $3 \
         AND source_seq BETWEEN $4 AND $5 LIMIT 1",
    ),
};

const FILLS: TableDef = TableDef {
    name: "fills",
    cols: &[
        "run_id",
        "fill_id",
        "order_id",
        "account",
        "strategy",
        "symbol",
        "side",
        "product",
        "qty",
        "price_paise",
        "charges_paise",
        "ts_ns",
        "source_seq",
    ],
    key: &["run_id", "fill_id"],
    on_conflict: OnConflict::Nothing,
    copy: true,
    fresh_sql: Some("SELECT 1 AS x FROM fills WHERE run_id = $1 AND fill_id BETWEEN $2 AND $3 AND $4 <= $5 LIMIT 1"),
};

const POSITIONS: TableDef = TableDef {
    name: "position_snapshots",
    cols: &[
        "run_id",
        "account",
        "symbol",
        "product",
        "ts_ns",
        "net_qty",
        "avg_price",
        "realized_paise",
        "unrealized_paise",
        "source_seq",
    ],
    key: &["run_id", "account", "symbol", "product", "ts_ns"],
    on_conflict: OnConflict::Update,
    copy: true,
    fresh_sql: None,
};

const CANDLES: TableDef = TableDef {
    name: "candles",
    cols: &[
        "symbol",
        "spec",
        "start_ns",
        "end_ns",
        "open_paise",
        "high_paise",
        "low_paise",
        "close_paise",
        "volume",
        "trades",
        "turnover_paise",
        "oi",
        "amended",
    ],
    key: &["symbol", "spec", "start_ns"],
    on_conflict: OnConflict::Update,
    copy: true,
    fresh_sql: None,
};

const RISK: TableDef = TableDef {
    name: "risk_events",
    cols: &["run_id", "source_seq", "sub", "ts_ns", "account", "kind", "detail"],
    key: &["run_id", "source_seq", "sub"],
    on_conflict: OnConflict::Nothing,
    copy: false,
    fresh_sql: None,
};

const AUDIT: TableDef = TableDef {
    name: "audit_log",
    cols: &["run_id", "source_seq", "sub", "ts_ns", "actor", "action", "detail"],
    key: &["run_id", "source_seq", "sub"],
    on_conflict: OnConflict::Nothing,
    copy: false,
    fresh_sql: None,
};

/// One column value of one row.
#[derive(Debug)]
pub(super) enum Val<'a> {
    I(i64),
    F(f64),
    T(&'a str),
    S(String),
    /// A NULL in a text column.
    NullText,
}

/// The rows of one table in a batch, flattened row after row.
#[derive(Debug)]
pub(super) struct Group<'a> {
    table: &'static TableDef,
    vals: Vec<Val<'a>>,
    /// For insert-only tables with dense keys: the key ranges of the batch, when its keys are
    /// distinct. If the database holds no row in these ranges (one index probe), the rows go
    /// straight into the table by COPY, with no staging table and no conflict handling.
    fresh_probe: Option<[i64; 4]>,
}

impl Group<'_> {
    fn rows(&self) -> usize {
        self.vals.len() / self.table.cols.len()
    }
}

/// Keeps, per key, the event with the highest source sequence (the later one on a tie): a
/// PostgreSQL upsert may not touch the same row twice in one statement.
fn latest<K: std::hash::Hash + Eq>(items: impl Iterator<Item = (K, u64, usize)>) -> Vec<usize> {
    let mut best: HashMap<K, (u64, usize)> = HashMap::new();
    for (k, seq, i) in items {
        match best.get_mut(&k) {
            Some(b) if b.0 > seq => {}
            Some(b) => *b = (seq, i),
            None => {
                best.insert(k, (seq, i));
            }
        }
    }
    let mut v: Vec<usize> = best.into_values().map(|(_, i)| i).collect();
    v.sort_unstable();
    v
}

/// Rows per table for a batch, in the order they are written.
pub(super) fn build<'a>(events: &'a [StoreEvent], names: &'a Names, run: &'a str) -> Vec<Group<'a>> {
    use Val::*;
    let mut orders = Group { table: &ORDERS, vals: Vec::new(), fresh_probe: None };
    let mut events_g = Group { table: &ORDER_EVENTS, vals: Vec::new(), fresh_probe: None };
    let mut fills = Group { table: &FILLS, vals: Vec::new(), fresh_probe: None };
    let mut positions = Group { table: &POSITIONS, vals: Vec::new(), fresh_probe: None };
    let mut candles = Group { table: &CANDLES, vals: Vec::new(), fresh_probe: None };
    let mut risk = Group { table: &RISK, vals: Vec::new(), fresh_probe: None };
    let mut audit = Group { table: &AUDIT, vals: Vec::new(), fresh_probe: None };

    let keep_orders = latest(events.iter().enumerate().filter_map(|(i, e)| match e {
        StoreEvent::Order { order, source_seq } => Some((order.id, *source_seq, i)),
        _ => None,
    }));
    let keep_positions = latest(events.iter().enumerate().filter_map(|(i, e)| match e {
        StoreEvent::Position(p) => Some(((p.account, p.instrument, p.product, p.ts), p.source_seq, i)),
        _ => None,
    }));
    let keep_candles = latest(events.iter().enumerate().filter_map(|(i, e)| match e {
        StoreEvent::Candle { candle, source_seq } => {
            Some(((candle.instrument, candle.spec, candle.start), *source_seq, i))
        }
        _ => None,
    }));

    for i in keep_orders {
        let StoreEvent::Order { order: o, source_seq } = &events[i] else { continue };
        let it = &o.intent;
        orders.vals.extend([
            T(run),
            I(o.id.0 as i64),
            T(names.account(it.account)),
            I(it.strategy.0 as i64),
            T(names.symbol(it.instrument)),
            T(it.side.as_str()),
            T(it.order_type.as_str()),
            T(it.product.as_str()),
            T(it.validity.as_str()),
            I(it.amo as i64),
            I(it.qty.0 as i64),
            I(it.price.0),
            I(it.trigger.0),
            T(o.status.as_str()),
            I(o.filled.0 as i64),
            F(o.avg_fill_price()),
            o.reject.map(|r| T(r.as_str())).unwrap_or(NullText),
            T(it.tag.as_str()),
            I(o.brokerage.0),
            I(o.created.0),
            I(o.updated.0),
            I(*source_seq as i64),
        ]);
    }
    for i in keep_positions {
        let StoreEvent::Position(p) = &events[i] else { continue };
        positions.vals.extend([
            T(run),
            T(names.account(p.account)),
            T(names.symbol(p.instrument)),
            T(p.product.as_str()),
            I(p.ts.0),
            I(p.net_qty),
            F(p.avg_price),
            I(p.realized.0),
            I(p.unrealized.0),
            I(p.source_seq as i64),
        ]);
    }
    for i in keep_candles {
        let StoreEvent::Candle { candle: c, .. } = &events[i] else { continue };
        candles.vals.extend([
            T(names.symbol(c.instrument)),
            S(c.spec.to_string()),
            I(c.start.0),
            I(c.end.0),
            I(c.open.0),
            I(c.high.0),
            I(c.low.0),
            I(c.close.0),
            I(c.volume.0 as i64),
            I(c.trades as i64),
            I(c.turnover),
            I(c.oi as i64),
            I(c.amended as i64),
        ]);
    }
    for e in events {
        match e {
            StoreEvent::Order { order: o, source_seq } => events_g.vals.extend([
                T(run),
                I(o.id.0 as i64),
                I(*source_seq as i64),
                T(o.status.as_str()),
                I(o.filled.0 as i64),
                I(o.intent.qty.0 as i64),
                I(o.intent.price.0),
                I(o.updated.0),
            ]),
            StoreEvent::Fill { fill: f, source_seq } => fills.vals.extend([
                T(run),
                I(f.id.0 as i64),
                I(f.order.0 as i64),
                T(names.account(f.account)),
                I(f.strategy.0 as i64),
                T(names.symbol(f.instrument)),
                T(f.side.as_str()),
                T(f.product.as_str()),
                I(f.qty.0 as i64),
                I(f.price.0),
                I(f.charges.0),
                I(f.ts.0),
                I(*source_seq as i64),
            ]),
            StoreEvent::Risk(r) => risk.vals.extend([
                T(run),
                I(r.source_seq as i64),
                I(r.sub as i64),
                I(r.ts.0),
                r.account.map(|a| T(names.account(a))).unwrap_or(NullText),
                T(r.kind),
                T(&r.detail),
            ]),
            StoreEvent::Audit(a) => audit.vals.extend([
                T(run),
                I(a.source_seq as i64),
                I(a.sub as i64),
                I(a.ts.0),
                T(&a.actor),
                T(&a.action),
                T(&a.detail),
            ]),
            StoreEvent::Candle { .. } | StoreEvent::Position(_) => {}
        }
    }
    fills.fresh_probe = probe(events.iter().filter_map(|e| match e {
        StoreEvent::Fill { fill, .. } => Some(((fill.id, 0, 0, 0), fill.id.0 as i64, 0)),
        _ => None,
    }));
    events_g.fresh_probe = probe(events.iter().filter_map(|e| match e {
        StoreEvent::Order { order: o, source_seq } => {
            Some(((o.id, *source_seq, o.status.as_str(), o.filled.0), o.id.0 as i64, *source_seq as i64))
        }
        _ => None,
    }));
    vec![orders, events_g, fills, positions, candles, risk, audit]
}

/// `[min a, max a, min b, max b]` over the items' two range columns, or `None` when a key
/// repeats (or there is nothing).
fn probe<K: std::hash::Hash + Eq>(items: impl Iterator<Item = (K, i64, i64)>) -> Option<[i64; 4]> {
    let mut seen = std::collections::HashSet::new();
    let mut r = [i64::MAX, i64::MIN, i64::MAX, i64::MIN];
    for (k, a, b) in items {
        if !seen.insert(k) {
            return None;
        }
        r = [r[0].min(a), r[1].max(a), r[2].min(b), r[3].max(b)];
    }
    (!seen.is_empty()).then_some(r)
}

/// SQLite's default limit on bound parameters per statement is 32766.
const SQLITE_MAX_PARAMS: usize = 32_000;
/// PostgreSQL's wire protocol limit.
const PG_MAX_PARAMS: usize = 65_535;
const MAX_ROWS_PER_INSERT: usize = 500;

macro_rules! multi_row_insert {
    ($tx:expr, $g:expr, $backend:expr, $max_params:expr, $keep:expr) => {{
        let ncol = $g.table.cols.len();
        let per = ($max_params / ncol).min(MAX_ROWS_PER_INSERT);
        for chunk in $g.vals.chunks(per * ncol) {
            let rows = chunk.len() / ncol;
            let sql = $g.table.insert_sql(rows, $backend);
            // Full-size statements repeat and are worth preparing once per connection, where
            // the connection keeps them (not behind a transaction-pooling PgBouncer).
            let mut q = sqlx::query(&sql).persistent(rows == per && $keep);
            for v in chunk {
                q = match v {
                    Val::I(i) => q.bind(*i),
                    Val::F(f) => q.bind(*f),
                    Val::T(s) => q.bind(*s),
                    Val::S(s) => q.bind(s.as_str()),
                    Val::NullText => q.bind(None::<&str>),
                };
            }
            q.execute(&mut *$tx).await?;
        }
    }};
}

pub(super) async fn write_sqlite(pool: &SqlitePool, groups: &[Group<'_>]) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for g in groups.iter().filter(|g| !g.vals.is_empty()) {
        multi_row_insert!(tx, g, Backend::Sqlite, SQLITE_MAX_PARAMS, true);
    }
    tx.commit().await
}

/// `fast`: insert-only groups whose key ranges hold nothing yet are copied straight into their
/// table (see [`Group::fresh_probe`]); a concurrent writer of the same run could still make that
/// fail with a unique violation, and the caller then retries with `fast = false`.
/// `keep`: statements may be prepared once per connection (see [`super::PoolMode`]).
pub(super) async fn write_postgres(
    pool: &PgPool,
    groups: &[Group<'_>],
    copy_threshold: usize,
    fast: bool,
    run: &str,
    keep: bool,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for g in groups.iter().filter(|g| !g.vals.is_empty()) {
        if g.table.copy && g.rows() >= copy_threshold.max(1) {
            let t = g.table.name;
            let cols = g.table.cols.join(", ");
            let direct = match (fast, g.table.fresh_sql, g.fresh_probe) {
                (true, Some(sql), Some([a0, a1, b0, b1])) => sqlx::query(sql)
                    .persistent(keep)
                    .bind(run)
                    .bind(a0)
                    .bind(a1)
                    .bind(b0)
                    .bind(b1)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_none(),
                _ => false,
            };
            let mut buf = Vec::with_capacity(g.vals.len() * 10);
            encode_copy_text(&g.vals, g.table.cols.len(), &mut buf);
            if direct {
                let mut copy = tx.copy_in_raw(&format!("COPY {t} ({cols}) FROM STDIN")).await?;
                copy.send(buf).await?;
                copy.finish().await?;
                continue;
            }
            // Once per connection in effect; the staging table empties itself at commit.
            sqlx::query(&format!(
                "CREATE TEMP TABLE IF NOT EXISTS stage_{t} (LIKE {t} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            ))
            .persistent(keep)
            .execute(&mut *tx)
            .await?;
            let mut copy = tx.copy_in_raw(&format!("COPY stage_{t} ({cols}) FROM STDIN")).await?;
            copy.send(buf).await?;
            copy.finish().await?;
            sqlx::query(&format!(
                "INSERT INTO {t} ({cols}) SELECT {cols} FROM stage_{t} {}",
                g.table.conflict_clause()
            ))
            .persistent(keep)
            .execute(&mut *tx)
            .await?;
        } else {
            multi_row_insert!(tx, g, Backend::Postgres, PG_MAX_PARAMS, keep);
        }
    }
    tx.commit().await
}

/// PostgreSQL `COPY … FROM STDIN` text format: tab-separated, `\N` for NULL, backslash escapes.
fn encode_copy_text(vals: &[Val<'_>], ncol: usize, out: &mut Vec<u8>) {
    for row in vals.chunks(ncol) {
        for (c, v) in row.iter().enumerate() {
            if c > 0 {
                out.push(b'\t');
            }
            match v {
                Val::I(i) => {
                    let _ = write!(out, "{i}");
                }
                Val::F(f) if f.is_finite() => {
                    let _ = write!(out, "{f}");
                }
                Val::F(f) if f.is_nan() => out.extend_from_slice(b"NaN"),
                Val::F(f) if *f > 0.0 => out.extend_from_slice(b"Infinity"),
                Val::F(_) => out.extend_from_slice(b"-Infinity"),
                Val::T(s) => escape_copy(s, out),
                Val::S(s) => escape_copy(s, out),
                Val::NullText => out.extend_from_slice(b"\\N"),
            }
        }
        out.push(b'\n');
    }
}

fn escape_copy(s: &str, out: &mut Vec<u8>) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes() {
        let mut out = Vec::new();
        encode_copy_text(
            &[Val::I(-5), Val::F(1.5), Val::T("a\tb\\c\nd"), Val::NullText, Val::F(f64::NAN), Val::S("x".into())],
            3,
            &mut out,
        );
        assert_eq!(String::from_utf8(out).unwrap(), "-5\t1.5\ta\\tb\\\\c\\nd\n\\N\tNaN\tx\n");
    }

    #[test]
    fn insert_sql_shapes() {
        let s = RISK.insert_sql(2, Backend::Postgres);
        assert!(s.starts_with(
            "INSERT INTO risk_events (run_id, source_seq, sub, ts_ns, account, kind, detail) VALUES ($1,$2,"
        ));
        assert!(s.contains("($8,$9,$10,$11,$12,$13,$14)"));
        assert!(s.ends_with("ON CONFLICT (run_id, source_seq, sub) DO NOTHING"));
        let o = ORDERS.conflict_clause();
        assert!(o.contains("DO UPDATE SET account = excluded.account"));
        assert!(!o.contains("order_id = excluded"));
        assert!(o.ends_with("WHERE orders.last_seq <= excluded.last_seq"));
        assert_eq!(CANDLES.insert_sql(1, Backend::Sqlite).matches('?').count(), 13);
    }

    #[test]
    fn latest_keeps_highest_seq_per_key() {
        let keep = latest([("a", 1, 0), ("b", 1, 1), ("a", 3, 2), ("a", 2, 3), ("b", 1, 4)].into_iter());
        assert_eq!(keep, vec![2, 4]);
    }
}
