//! The SQL store through PgBouncer in transaction pooling mode (`?pool_mode=transaction`),
//! against the real PostgreSQL (`DALAL_TEST_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`) and a real PgBouncer started by the test with one
//! server connection, so that every client's statements meet on one server process. Each test
//! has a database of its own (the pooler keeps no per-client `search_path`). Without PostgreSQL
//! or PgBouncer the tests say why and pass, unless `CI` is set, where they fail.

use std::io::Write as _;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use dalal_persistence::store::{MasterRow, PoolMode, Store, StoreOptions, StoreWriter};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;

mod common;
#[path = "common/pgbouncer.rs"]
mod pgbouncer;
use common::*;
use pgbouncer::PgBouncer;

/// A database of its own behind a PgBouncer of its own; dropped at the end.
struct Pooled {
    direct: PgConnectOptions,
    name: String,
    bouncer: PgBouncer,
}

impl Pooled {
    fn create() -> Option<Pooled> {
        let base = std::env::var("DALAL_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string());
        let direct = PgConnectOptions::from_str(&base).expect("DALAL_TEST_PG_URL parses");
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("pgb_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let created = rt().block_on(async {
            let mut c = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(&direct))
                .await
                .map_err(|_| "connect timed out".to_string())?
                .map_err(|e| e.to_string())?;
            sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut c)
                .await
                .map_err(|e| e.to_string())?;
            sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut c).await.map_err(|e| e.to_string())?;
            c.close().await.map_err(|e| e.to_string())
        });
        if let Err(e) = created {
            let addr = format!("{}:{}", direct.get_host(), direct.get_port());
            assert!(!in_ci(), "PostgreSQL not reachable at {addr} ({e}) and CI is set: .ci/run must start it");
            let _ =
                std::io::stderr().write_all(format!("skipped: postgres not reachable at {addr} ({e})\n").as_bytes());
            return None;
        }
        let host = if direct.get_host() == "localhost" { "127.0.0.1" } else { direct.get_host() };
        let upstream = format!("{host}:{}", direct.get_port()).parse().expect("PostgreSQL host is an IP address");
        let bouncer = PgBouncer::start(upstream, direct.get_username())?;
        Some(Pooled { direct, name, bouncer })
    }

    /// The database through the pooler, without the pool mode parameter.
    fn bare_url(&self) -> String {
        format!("postgres://{}@127.0.0.1:{}/{}", self.direct.get_username(), self.bouncer.port(), self.name)
    }

    fn url(&self) -> String {
        format!("{}?pool_mode=transaction", self.bare_url())
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let (opts, name) = (self.direct.clone(), self.name.clone());
        let _ = rt().block_on(async move {
            let mut c = PgConnection::connect_with(&opts).await?;
            sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await?;
            c.close().await
        });
    }
}

/// The pooler really is in transaction mode with one server: a second client preparing the
/// statement name sqlx gives every connection's first statement finds the first client's
/// statement on the server. This is what the store must never do, and why it would fail here.
#[test]
fn named_statements_collide_behind_this_pooler() {
    let Some(db) = Pooled::create() else { return };
    rt().block_on(async {
        let o = PgConnectOptions::from_str(&db.bare_url()).unwrap().extra_float_digits(None);
        let mut a = PgConnection::connect_with(&o).await.unwrap();
        let mut b = PgConnection::connect_with(&o).await.unwrap();
        let (one,): (i32,) = sqlx::query_as("SELECT $1::INT4").bind(1).fetch_one(&mut a).await.unwrap();
        assert_eq!(one, 1);
        let e = sqlx::query_as::<_, (i32,)>("SELECT $1::INT4 + 1").bind(1).fetch_one(&mut b).await.unwrap_err();
        assert!(e.to_string().contains("sqlx_s_1"), "{e}\n{}", db.bouncer.log());
        // And sqlx's default start-up parameters are refused.
        let plain = PgConnectOptions::from_str(&db.bare_url()).unwrap();
        let e = PgConnection::connect_with(&plain).await.unwrap_err().to_string();
        assert!(e.contains("extra_float_digits"), "{e}");
    });
}

fn master_row(i: i64) -> MasterRow {
    MasterRow {
        exchange: "NSE".to_string(),
        symbol: format!("SYM{i}"),
        token: 1000 + i,
        segment: "EQ",
        name: format!("Company {i}"),
        tick_paise: 5,
        lot: 1,
        expiry: None,
        strike_paise: None,
        option_type: None,
    }
}

/// Two engines open the same database at once (migrations under a transaction-level lock,
/// seeding) and both write the same run (COPY and multi-row INSERT batches; the second copy of
/// each row is a no-op), one also importing an instrument master and reading: everything is
/// written once and reads back, with every statement of both sharing one server process.
#[test]
fn the_store_works_through_transaction_pooling() {
    let Some(db) = Pooled::create() else { return };
    let s = setup();
    let url = db.url();
    let events = story(&s, 1500);
    rt().block_on(async {
        let (a, b) = tokio::join!(
            Store::open(&url, &s, StoreOptions::default()),
            Store::open(&url, &s, StoreOptions::default()),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!((a.pool_mode(), b.pool_mode()), (PoolMode::Transaction, PoolMode::Transaction));
        let writes = async {
            store_in_batches(&a, &events).await;
        };
        let other = async {
            store_in_batches(&b, &events).await;
            let rows: Vec<MasterRow> = (0..700).map(master_row).collect();
            for round in 0..5 {
                assert_eq!(b.import_master("kite", &["NSE"], &rows, round).await.unwrap(), 700);
                b.audit_log(10, Some("ops")).await.unwrap();
                b.risk_events(10).await.unwrap();
                b.ping().await.unwrap();
            }
        };
        tokio::join!(writes, other);
        assert_counts(&a, 1500).await;
        assert_queries(&a, &s, 1500).await;
        a.close().await;
        b.close().await;
        let mut c = PgConnection::connect_with(&db.direct.clone().database(&db.name)).await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM instrument_master WHERE broker = 'kite'")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 700);
        c.close().await.unwrap();
    });

    // The same run through the background writer, which keeps its own pool.
    let db2 = Pooled::create().expect("second database");
    let w = StoreWriter::start(&db2.url(), &s, 16_384).unwrap();
    for e in &events {
        assert!(w.submit(e.clone()));
    }
    assert!(w.flush(Duration::from_secs(120)), "{}", db2.bouncer.log());
    let st = w.flush_and_stop();
    assert_eq!(st.written, events.len() as u64);
    assert_eq!((st.dropped, st.rejected, st.abandoned), (0, 0, 0));
    rt().block_on(async {
        let store = Store::open(&db2.url(), &s, StoreOptions::default()).await.unwrap();
        assert_counts(&store, 1500).await;
        store.close().await;
    });
}

/// Big batches go through COPY, small ones through multi-row INSERTs; both again, which
/// writes nothing twice.
async fn store_in_batches(store: &Store, events: &[dalal_persistence::store::StoreEvent]) {
    store.write(events).await.unwrap();
    for chunk in events.chunks(7) {
        store.write(chunk).await.unwrap();
    }
}
