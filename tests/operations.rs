//! Dalal as an operator runs it: from any directory on the built-in defaults, configured by a
//! file, the environment or a `.env`, data kept private under `./data` or `--data-dir`, logs
//! without colour codes off a terminal or as JSON lines with each request's id, and `/health`
//! and `/ready` that say what is up without naming an account; PostgreSQL through PgBouncer
//! in transaction pooling mode.

mod cli;
#[path = "../persistence/tests/common/pgbouncer.rs"]
mod pgbouncer;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use cli::{command, request, Run};

const PW: &str = "operations-admin-pw";

fn run_in(dir: &Path, f: impl FnOnce(&mut Command)) -> Run {
    let mut cmd = command();
    cmd.current_dir(dir).env_remove("DALAL_CONFIG").env("DALAL_ADMIN_PASSWORD", PW).env("RUST_LOG", "info").args([
        "run",
        "--admin-listen",
        "127.0.0.1:0",
        "--duration",
        "120s",
    ]);
    f(&mut cmd);
    Run::start(cmd)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

#[test]
fn runs_in_an_empty_directory_with_private_data_and_plain_logs() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_in(dir.path(), |_| {});
    let health = request(&run.addr, "GET", "/health", None, "");
    assert_eq!(health.status, 200, "{}", health.body);
    let (status, out) = run.stop();
    assert!(status.success(), "{out}");
    let raw = out.clone();
    assert!(!raw.contains('\u{1b}'), "no colour codes when the output is not a terminal");
    let data = dir.path().join("data");
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("dalal.db")), 0o600);

    // Elsewhere with --data-dir; nothing under ./data.
    let dir = tempfile::tempdir().unwrap();
    let there = dir.path().join("state");
    let run = run_in(dir.path(), |c| {
        c.arg("--data-dir").arg(&there);
    });
    let _ = run.stop();
    assert_eq!(mode(&there.join("dalal.db")), 0o600);
    assert!(!dir.path().join("data").exists());
}

#[test]
fn the_environment_and_a_dot_env_set_keys_and_config_show_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "# settings\nDALAL_ENGINE__RING_SIZE=2048\nDALAL_ADMIN__CORES=[0]\n")
        .unwrap();
    let out = command()
        .current_dir(dir.path())
        .env_remove("DALAL_CONFIG")
        .env("DALAL_PERSISTENCE__DATABASE_URL", "postgres://dalal:s3cr3t-pw@127.0.0.1:5432/test")
        .args(["config", "show"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("ring_size = 2048"), "from .env: {text}");
    assert!(text.contains("postgres://dalal:****@127.0.0.1:5432/test") && !text.contains("s3cr3t-pw"), "{text}");
    assert!(text.contains("# persistence.database_url set by DALAL_PERSISTENCE__DATABASE_URL"), "{text}");
    let shown: toml::Value = toml::from_str(&text).expect("config show prints TOML");
    assert_eq!(shown["admin"]["cores"], toml::Value::Array(vec![toml::Value::Integer(0)]));

    let bad = command()
        .current_dir(dir.path())
        .env("DALAL_PERSISTENCE__REDIS_URLL", "redis://x")
        .args(["config", "show"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("DALAL_PERSISTENCE__REDIS_URLL"), "{err}");
    let bad = command()
        .current_dir(dir.path())
        .env("DALAL_ENGINE__RING_SIZE", "100")
        .args(["config", "show"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("set by DALAL_ENGINE__RING_SIZE"), "{err}");
}

#[test]
fn json_logs_carry_each_requests_id() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_in(dir.path(), |c| {
        c.args(["--log-format", "json"]);
    });
    let login = format!(r#"{{"username":"admin","password":"{PW}"}}"#);
    let mut s = std::net::TcpStream::connect(&run.addr).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nX-Request-Id: trace-me-42\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{login}",
        login.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.to_ascii_lowercase().contains("x-request-id: trace-me-42"), "{answer}");
    cli::wait_for("the login's audit line", std::time::Duration::from_secs(30), &mut || {
        run.raw_output().contains("trace-me-42")
    });
    let (_, out) = run.stop();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a JSON line: {l}: {e}")))
        .collect();
    assert!(lines.len() > 3, "{out}");
    let audit = lines
        .iter()
        .find(|l| l["fields"]["message"] == "audit" && l["fields"]["action"] == "auth.login")
        .unwrap_or_else(|| panic!("the login's audit event: {out}"));
    assert_eq!(audit["span"]["request_id"], "trace-me-42", "{audit}");
    assert_eq!(audit["span"]["path"], "/api/auth/login");
}

#[test]
fn ready_says_what_is_up_without_names() {
    let dir = tempfile::tempdir().unwrap();
    // Redis on a port nothing listens on: the run goes on, and /ready says Redis is down.
    let run = run_in(dir.path(), |c| {
        c.env("DALAL_PERSISTENCE__REDIS_URL", "redis://127.0.0.1:9/");
    });
    let r = request(&run.addr, "GET", "/ready", None, "");
    assert_eq!(r.status, 503, "{}", r.body);
    let v = r.json();
    assert_eq!(v["ready"], false);
    assert_eq!(v["checks"]["redis"]["ready"], false, "{v}");
    assert_eq!(v["checks"]["store"]["ready"], true, "{v}");
    assert_eq!(v["checks"]["console_store"]["ready"], true, "{v}");
    for name in ["alice", "bob", "carol"] {
        assert!(!r.body.contains(name), "{}", r.body);
    }
    drop(run);
    let run = run_in(dir.path(), |_| {});
    let r = request(&run.addr, "GET", "/ready", None, "");
    assert_eq!(r.status, 200, "{}", r.body);
}

/// PostgreSQL through a PgBouncer in transaction pooling mode with one server connection
/// (`?pool_mode=transaction`): the console's users, sign-ins, API keys and audit log, a restart
/// that reads them back, and a run whose every order and fill is stored once.
#[test]
fn postgres_through_pgbouncer_in_transaction_mode() {
    use sqlx::Connection as _;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let name = format!("ops_pgb_{}", std::process::id());
    let direct = "postgres://postgres@127.0.0.1:5432/test";
    let sql = |q: String| {
        rt.block_on(async {
            let mut c = sqlx::PgConnection::connect(direct).await?;
            sqlx::raw_sql(&q).execute(&mut c).await?;
            c.close().await
        })
    };
    if let Err(e) = sql(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")) {
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL at 127.0.0.1:5432 does not answer ({e}) and CI is set");
        eprintln!("skipped: PostgreSQL at 127.0.0.1:5432 does not answer ({e})");
        return;
    }
    sql(format!("CREATE DATABASE {name}")).unwrap();
    let Some(bouncer) = pgbouncer::PgBouncer::start("127.0.0.1:5432".parse().unwrap(), "postgres") else { return };
    let url = format!("postgres://postgres@127.0.0.1:{}/{name}?pool_mode=transaction", bouncer.port());
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        run_in(dir.path(), |c| {
            c.env("DALAL_PERSISTENCE__DATABASE_URL", &url);
        })
    };
    let login = |addr: &str, user: &str, pw: &str| {
        let r =
            request(addr, "POST", "/api/auth/login", None, &format!(r#"{{"username":"{user}","password":"{pw}"}}"#));
        assert_eq!(r.status, 200, "{user}: {}\n{}", r.body, bouncer.log());
        r.json()["access_token"].as_str().map(String::from).unwrap_or_default()
    };

    let run = start();
    let ready = request(&run.addr, "GET", "/ready", None, "");
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["checks"]["store"]["ready"], true, "{}", ready.body);
    let admin = login(&run.addr, "admin", PW);
    let body = r#"{"username":"pooled","password":"pooled-pw-1","role":"trader","accounts":["alice"]}"#;
    let r = request(&run.addr, "POST", "/api/users", Some(&admin), body);
    assert_eq!(r.status, 200, "{}", r.body);
    let trader = login(&run.addr, "pooled", "pooled-pw-1");
    let r = request(
        &run.addr,
        "POST",
        "/api/users/pooled/api-keys",
        Some(&trader),
        r#"{"current_password":"pooled-pw-1"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let key = r.json()["api_key"].as_str().map(String::from).expect("an API key");
    let audit = request(&run.addr, "GET", "/api/audit?limit=50", Some(&admin), "");
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert!(audit.body.contains("pooled"), "{}", audit.body);
    let (status, out) = run.stop();
    assert!(status.success(), "{out}");

    // Restarted: the user, the password and the key are read back through the pooler.
    let run = start();
    login(&run.addr, "pooled", "pooled-pw-1");
    let r = request(&run.addr, "GET", "/api/users/pooled", Some(&key), "");
    assert_eq!(r.status, 200, "{}", r.body);
    let (status, out) = run.stop();
    assert!(status.success(), "{out}");

    // A run to its end: every order and fill reaches the database once.
    let csv = dir.path().join("t.csv");
    assert!(command().args(["gen", "--ticks", "40000", "--out"]).arg(&csv).output().unwrap().status.success());
    let json = dir.path().join("s.json");
    let o = command()
        .current_dir(dir.path())
        .env_remove("DALAL_CONFIG")
        .env("DALAL_PERSISTENCE__DATABASE_URL", &url)
        .args(["run", "--feed", &format!("csv:{}", csv.display()), "--summary-json"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(s["persistence"]["store"]["dropped"], 0, "{s}");
    let (fills, orders) = (s["fills"].as_i64().unwrap_or(0), s["orders"].as_i64().unwrap_or(0));
    assert!(fills > 0, "{s}");
    let counted = rt.block_on(async {
        let mut c = sqlx::PgConnection::connect(&format!("postgres://postgres@127.0.0.1:5432/{name}")).await?;
        let n: (i64, i64) = sqlx::query_as("SELECT (SELECT count(*) FROM fills), (SELECT count(*) FROM orders)")
            .fetch_one(&mut c)
            .await?;
        c.close().await?;
        Ok::<_, sqlx::Error>(n)
    });
    assert_eq!(counted.unwrap(), (fills, orders));
    drop(bouncer);
    let _ = sql(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

/// `dalal backtest --save` keeps the report pages in the store; the console lists and serves
/// them by the accounts they cover: an admin reads all, a trader their accounts' pages (not
/// the whole run, which covers others' accounts too), a user of no account none; what one
/// may not read is a 404, like what does not exist.
#[test]
fn saved_backtest_reports_are_listed_and_served_by_ownership() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    let gen = command().args(["gen", "--ticks", "3000", "--days", "2", "--out"]).arg(&csv).output().unwrap();
    assert!(gen.status.success(), "{}", String::from_utf8_lossy(&gen.stderr));
    let bt = command()
        .current_dir(dir.path())
        .env_remove("DALAL_CONFIG")
        .args(["backtest", "--data"])
        .arg(&csv)
        .args(["--out", "bt", "--save", "--label", "nightly"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&bt.stdout);
    assert!(
        bt.status.success() && out.contains("saved 4 report pages as run \"nightly\""),
        "{out}\n{}",
        String::from_utf8_lossy(&bt.stderr)
    );

    let run = run_in(dir.path(), |_| {});
    let login = |user: &str, pw: &str| {
        let r = request(
            &run.addr,
            "POST",
            "/api/auth/login",
            None,
            &format!(r#"{{"username":"{user}","password":"{pw}"}}"#),
        );
        assert_eq!(r.status, 200, "{user}: {}", r.body);
        r.json()["access_token"].as_str().map(String::from).unwrap_or_default()
    };
    let admin = login("admin", PW);
    for body in [
        r#"{"username":"alice_t","password":"alice-pw-1","role":"trader","accounts":["alice"]}"#,
        r#"{"username":"nobody","password":"nobody-pw-1","role":"viewer","accounts":[]}"#,
    ] {
        let r = request(&run.addr, "POST", "/api/users", Some(&admin), body);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let (alice, nobody) = (login("alice_t", "alice-pw-1"), login("nobody", "nobody-pw-1"));
    let list = |token: &str| {
        let r = request(&run.addr, "GET", "/api/reports", Some(token), "");
        assert_eq!(r.status, 200, "{}", r.body);
        r.json().as_array().cloned().unwrap_or_default()
    };
    let all = list(&admin);
    assert_eq!(all.len(), 4, "three accounts and the whole run");
    assert!(all.iter().all(|r| r["run_label"] == "nightly" && r["metrics"]["days"] == 2), "{all:?}");
    let id_of = |account: serde_json::Value| {
        all.iter().find(|r| r["account"] == account).and_then(|r| r["id"].as_i64()).expect("a page")
    };
    let (alice_id, bob_id, run_id) = (id_of("alice".into()), id_of("bob".into()), id_of(serde_json::Value::Null));
    let mine = list(&alice);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["account"], "alice");
    assert!(list(&nobody).is_empty());

    let page = |token: &str, id: i64| request(&run.addr, "GET", &format!("/api/reports/{id}"), Some(token), "");
    let r = page(&alice, alice_id);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<svg") && r.body.contains("Backtest: account alice"), "the page itself");
    for id in [bob_id, run_id, 999_999] {
        assert_eq!(page(&alice, id).status, 404, "report {id}");
    }
    assert_eq!(page(&nobody, alice_id).status, 404);
    let whole = page(&admin, run_id);
    assert!(whole.status == 200 && whole.body.contains("Backtest: the whole run"));
    assert_eq!(request(&run.addr, "GET", "/api/reports/abc", Some(&admin), "").status, 400);
    assert_eq!(request(&run.addr, "GET", "/api/reports", None, "").status, 401);
}
