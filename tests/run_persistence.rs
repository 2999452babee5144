//! `dalal run` hands orders, fills and candles to the SQL store and Redis off the hot path:
//! every fill the engine made is in the store afterwards, and an unreachable Redis is an
//! outage in the summary, not a failure.

use std::process::Command;
use std::time::{Duration, Instant};

use dalal_config::Config;
use dalal_persistence::store::fault_proxy::FaultProxy;
use dalal_persistence::store::Table;
use dalal_persistence::{Store, StoreOptions};

fn dalal() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dalal"));
    c.env("DALAL_ADMIN_LISTEN", "");
    c
}

fn config_with(database_url: &str, redis_url: &str, prefix: &str) -> String {
    let base = std::fs::read_to_string("config/default.toml").expect("config");
    base.replace("database_url = \"sqlite://data/dalal.db?mode=rwc\"", &format!("database_url = \"{database_url}\""))
        .replace("redis_url = \"\"", &format!("redis_url = \"{redis_url}\""))
        .replace("redis_prefix = \"dalal\"", &format!("redis_prefix = \"{prefix}\""))
}

/// `HLEN key` over a plain RESP exchange.
fn redis_hlen(key: &str) -> i64 {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect("127.0.0.1:6379").expect("redis");
    let cmd = format!("*2\r\n$4\r\nHLEN\r\n${}\r\n{key}\r\n", key.len());
    c.write_all(cmd.as_bytes()).expect("send");
    let mut buf = [0u8; 64];
    let n = c.read(&mut buf).expect("reply");
    let reply = String::from_utf8_lossy(&buf[..n]);
    reply.trim().strip_prefix(':').and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("HLEN reply {reply:?}"))
}

fn redis_reachable() -> bool {
    std::net::TcpStream::connect_timeout(
        &"127.0.0.1:6379".parse().expect("addr"),
        std::time::Duration::from_millis(300),
    )
    .is_ok()
}

#[test]
fn every_fill_reaches_the_store_and_redis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("t.csv");
    assert!(dalal().args(["gen", "--ticks", "40000", "--out"]).arg(&csv).output().expect("gen").status.success());
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("dalal.db").display());
    let redis_up = redis_reachable();
    if !redis_up && std::env::var_os("CI").is_some() {
        panic!("Redis at 127.0.0.1:6379 does not answer and CI is set: .ci/run must start it");
    }
    let prefix = format!("t{}", std::process::id());
    let redis_url = if redis_up { "redis://127.0.0.1:6379/" } else { "" };
    let cfg_path = dir.path().join("c.toml");
    std::fs::write(&cfg_path, config_with(&db, redis_url, &prefix)).expect("config");
    let json = dir.path().join("s.json");
    let o = dalal()
        .args(["run", "--config"])
        .arg(&cfg_path)
        .args(["--feed", &format!("csv:{}", csv.display()), "--summary-json"])
        .arg(&json)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("summary")).expect("json");
    let fills = s["fills"].as_i64().unwrap_or(0);
    let orders = s["orders"].as_i64().unwrap_or(0);
    assert!(fills > 0);
    assert_eq!(s["persistence"]["store"]["dropped"], 0);

    let text = std::fs::read_to_string(&cfg_path).expect("config");
    let setup = toml::from_str::<Config>(&text).expect("parse").validate().expect("valid");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (f, n, p) = rt.block_on(async {
        let store = Store::open(&db, &setup, StoreOptions::default()).await.expect("open");
        (
            store.count(Table::Fills).await.expect("fills"),
            store.count(Table::Orders).await.expect("orders"),
            store.count(Table::PositionSnapshots).await.expect("positions"),
        )
    });
    assert_eq!(f, fills, "every fill is stored once");
    assert_eq!(n, orders, "every order is stored once");
    // One snapshot per fill, but fills of one account, instrument and product at the same
    // moment leave one (the last).
    assert!(p > 0 && p <= fills, "position snapshots follow fills: {p} for {fills} fills");
    if redis_up {
        assert!(s["persistence"]["redis"]["published"].as_u64().unwrap_or(0) as i64 >= fills);
        // The latest positions are kept as a hash per account, one field per symbol and product.
        let names = dalal_persistence::redis_pub::RedisNames::new(&prefix);
        let fields: i64 = setup.accounts.iter().map(|a| redis_hlen(&names.positions_key(&a.name))).sum();
        assert!(fields > 0, "positions reach Redis as keys");
    } else {
        eprintln!("skipped: Redis checks (127.0.0.1:6379 not reachable)");
    }
}

#[test]
fn an_unreachable_redis_is_an_outage_not_a_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg_path = dir.path().join("c.toml");
    std::fs::write(&cfg_path, config_with("", "redis://127.0.0.1:1/", "x")).expect("config");
    let json = dir.path().join("s.json");
    let o = dalal()
        .args(["run", "--duration", "2s", "--config"])
        .arg(&cfg_path)
        .arg("--summary-json")
        .arg(&json)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("summary")).expect("json");
    assert!(s["ticks_in"].as_u64().unwrap_or(0) > 1000, "the engine kept trading");
    assert!(s["persistence"]["redis"]["outages"].as_u64().unwrap_or(0) >= 1, "{}", s["persistence"]);
    assert_eq!(s["persistence"]["redis"]["published"], 0);
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// A fresh PostgreSQL schema for one run; `None` (after saying why) when PostgreSQL does not
/// answer outside CI.
fn pg_schema(rt: &tokio::runtime::Runtime) -> Option<String> {
    use sqlx::Connection as _;
    let name = format!("run_{}_{}", std::process::id(), dalal_core::model::Timestamp::now().0);
    let created = rt.block_on(async {
        let mut c = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/test").await?;
        sqlx::query(&format!("CREATE SCHEMA {name}")).execute(&mut c).await?;
        c.close().await
    });
    match created {
        Ok(()) => Some(name),
        Err(e) => {
            assert!(
                !in_ci(),
                "PostgreSQL at 127.0.0.1:5432 does not answer ({e}) and CI is set: .ci/run must start it"
            );
            eprintln!("skipped: PostgreSQL at 127.0.0.1:5432 does not answer ({e})");
            None
        }
    }
}

fn pg_url(port: u16, schema: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/test?options=-csearch_path%3D{schema}")
}

/// Rows per table that a run leaves.
fn table_counts(rt: &tokio::runtime::Runtime, url: &str, cfg: &std::path::Path) -> Vec<(Table, i64)> {
    let text = std::fs::read_to_string(cfg).expect("config");
    let setup = toml::from_str::<Config>(&text).expect("parse").validate().expect("valid");
    rt.block_on(async {
        let store = Store::open(url, &setup, StoreOptions::default()).await.expect("open");
        let mut v = Vec::new();
        for t in [Table::Orders, Table::OrderEvents, Table::Fills, Table::PositionSnapshots, Table::Candles] {
            v.push((t, store.count(t).await.expect("count")));
        }
        store.close().await;
        v
    })
}

/// PostgreSQL goes away in the middle of `dalal run` ("wrong port, then back": a proxy that
/// cuts every connection) long enough for the store's queue to overflow; afterwards every
/// table holds exactly what an undisturbed run of the same feed leaves, because the dropped
/// events were re-fed from the journal.
#[test]
fn a_postgres_outage_mid_run_loses_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (Some(reference), Some(disturbed)) = (pg_schema(&rt), pg_schema(&rt)) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("t.csv");
    assert!(dalal().args(["gen", "--ticks", "60000", "--out"]).arg(&csv).output().expect("gen").status.success());
    let feed = format!("csv:{}", csv.display());
    let config = |url: &str, name: &str| {
        let p = dir.path().join(name);
        let text = config_with(url, "", "x").replace("store_queue = 65536", "store_queue = 200");
        std::fs::write(&p, text).expect("config");
        p
    };

    // The undisturbed run.
    let ref_url = pg_url(5432, &reference);
    let ref_cfg = config(&ref_url, "ref.toml");
    let o = dalal()
        .args(["run", "--feed", &feed, "--journal"])
        .arg(dir.path().join("j-ref"))
        .arg("--config")
        .arg(&ref_cfg)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = table_counts(&rt, &ref_url, &ref_cfg);
    assert!(want.iter().all(|(_, n)| *n > 0), "the feed must trade and build bars: {want:?}");

    // The same feed paced over several seconds, with the database gone for a while mid-run.
    let proxy = FaultProxy::start("127.0.0.1:5432".parse().expect("addr")).expect("proxy");
    let cfg = config(&pg_url(proxy.port(), &disturbed), "run.toml");
    let json = dir.path().join("s.json");
    let mut child = dalal()
        .args(["run", "--feed", &feed, "--speed", "3000x", "--journal"])
        .arg(dir.path().join("j"))
        .arg("--config")
        .arg(&cfg)
        .arg("--summary-json")
        .arg(&json)
        // Files, not pipes: a pipe nobody reads until the end would stall a chatty run.
        .stdout(std::fs::File::create(dir.path().join("out.log")).expect("log"))
        .stderr(std::fs::File::create(dir.path().join("err.log")).expect("log"))
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    proxy.set_up(false);
    std::thread::sleep(Duration::from_millis(2500));
    proxy.set_up(true);
    let t0 = Instant::now();
    let log = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        // Generous: a debug build on a loaded machine re-feeds slowly; a hang still fails.
        if t0.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("the run did not end\n{}\n{}", log("out.log"), log("err.log"));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{}", log("err.log"));
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("summary")).expect("json");
    let store = &s["persistence"]["store"];
    assert!(store["dropped"].as_u64().unwrap_or(0) > 0, "the outage must overflow the queue: {store}");
    assert!(store["refed"].as_u64().unwrap_or(0) > 0, "dropped events are re-fed: {store}");
    assert!(store["outage_secs"].as_f64().unwrap_or(0.0) > 1.0, "{store}");
    assert_eq!(store["first_unwritten_seq"], serde_json::Value::Null, "{store}");
    assert_eq!(table_counts(&rt, &pg_url(5432, &disturbed), &cfg), want, "{store}");
}
