//! Running the `dalal` binary as an operator does: one-shot commands, and a `dalal run` with
//! its console, talked to over HTTP. Each test binary that includes this module uses a
//! different part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dalal_brokers::fake::kite::FakeKite;
use dalal_brokers::{BrokerKind, Login, MasterKey, Secret, Vault};

/// `dalal ARGS` in `dir` with `stdin` on its standard input, logging everything (so tests can
/// search the logs for secrets), without a master key from the environment.
pub fn dalal(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dalal"))
        .args(args)
        .current_dir(dir)
        .env_remove("DALAL_MASTER_KEY")
        .env("RUST_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dalal starts");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("dalal ends")
}

/// Standard output and standard error, one after the other.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The binary, taking no master key, database or Redis from the test's environment.
pub fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dalal"));
    c.env_remove("DALAL_MASTER_KEY").env_remove("DALAL_DATABASE_URL").env_remove("DALAL_REDIS_URL");
    c
}

/// `dalal replay` of `journal` under `config` into `out`; the summary it wrote, after checking
/// that its orders, fills and accounts equal `run`'s (the run that wrote the journal).
pub fn replay_matches(config: &Path, journal: &Path, out: &Path, run: &serde_json::Value) {
    let r = command()
        .args(["replay", "--config"])
        .arg(config)
        .arg("--journal")
        .arg(journal)
        .arg("--out")
        .arg(out)
        .output()
        .expect("replay");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("replayed summary")).expect("json");
    for key in ["orders", "fills", "orders_rejected", "cancelled", "accounts"] {
        assert_eq!(again[key], run[key], "{key} after replaying the journal");
    }
}

/// Text without terminal colour sequences (`ESC [ … m`).
pub fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// An HTTP answer: its status (0 when the server could not be reached) and body.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The body as JSON (`null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

/// One HTTP/1.1 exchange with a JSON body.
pub fn request(addr: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> Reply {
    let Ok(mut c) = std::net::TcpStream::connect(addr) else { return Reply { status: 0, body: String::new() } };
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let _ = write!(
        c,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut text = String::new();
    let _ = c.read_to_string(&mut text);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Reply { status, body }
}

/// One HTTP/1.1 exchange; the response's body (empty when the server cannot be reached).
pub fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> String {
    request(addr, method, path, token, body).body
}

/// A new master key and vault in `dir` holding the Kite login `zerodha` with its key, secret
/// and access token; returns the vault's and the key's paths.
pub fn kite_vault(dir: &Path, api_key: &str, api_secret: &str, token: &str) -> (PathBuf, PathBuf) {
    let key_file = dir.join("master.key");
    let vault_file = dir.join("brokers.vault");
    let mut vault = Vault::open(&vault_file, MasterKey::create_file(&key_file).expect("key")).expect("vault");
    vault
        .add(Login {
            name: "zerodha".into(),
            kind: BrokerKind::Kite,
            ids: BTreeMap::from([("api_key".to_string(), api_key.to_string())]),
            secrets: BTreeMap::from([
                ("api_secret".to_string(), Secret::new(api_secret)),
                ("access_token".to_string(), Secret::new(token)),
            ]),
        })
        .expect("add");
    vault.save().expect("save");
    (vault_file, key_file)
}

/// `config/default.toml` with the fake Kite server as the `zerodha` login: orders at any hour
/// (no session hours, no MIS square-off), no SQL store unless a test sets one, accounts bound
/// to the login as a test asks, and the login's `[[brokers]]` entry with the test's own keys.
pub struct KiteRunConfig {
    text: String,
    broker_keys: String,
}

impl KiteRunConfig {
    pub fn new() -> KiteRunConfig {
        let base = std::fs::read_to_string("config/default.toml").expect("config/default.toml");
        let text = base
            .replace(
                "kill_switch = false          # global kill switch at start\n",
                "kill_switch = false\nenforce_session = false\nmis_square_off = \"\"\n",
            )
            .replace("database_url = \"sqlite://data/dalal.db?mode=rwc\"", "database_url = \"\"");
        KiteRunConfig { text, broker_keys: String::new() }
    }

    /// Binds an account of the default config to the login in `mode` (`live` or `shadow`).
    pub fn account(mut self, name: &str, mode: &str) -> KiteRunConfig {
        let at = format!("name = \"{name}\"\n");
        assert!(self.text.contains(&at), "no account {name} in the default config");
        self.text = self.text.replace(&at, &format!("{at}broker = \"zerodha\"\nmode = \"{mode}\"\n"));
        self
    }

    /// Gives an instrument of the default config a Kite instrument token.
    pub fn kite_token(mut self, symbol: &str, token: impl Into<u64>) -> KiteRunConfig {
        let token: u64 = token.into();
        let at = format!("symbol = \"{symbol}\"\n");
        self.text = self.text.replacen(&at, &format!("{at}tokens = {{ kite = {token} }}\n"), 1);
        self
    }

    /// A SQL store after all.
    pub fn database(mut self, url: &str) -> KiteRunConfig {
        self.text = self.text.replace("database_url = \"\"", &format!("database_url = \"{url}\""));
        self
    }

    /// The stages' placement (`fused`, the default, or `pipelined`).
    pub fn placement(mut self, placement: &str) -> KiteRunConfig {
        let at = "placement = \"fused\"";
        assert!(self.text.contains(at), "no placement in the default config");
        self.text = self.text.replacen(at, &format!("placement = \"{placement}\""), 1);
        self
    }

    /// Another key of the `[[brokers]]` entry (`poll_ms = 50`, `adopt_positions = true`, …).
    pub fn broker_key(mut self, line: &str) -> KiteRunConfig {
        self.broker_keys.push_str(line);
        self.broker_keys.push('\n');
        self
    }

    /// The configuration text, the login pointing at `fake`.
    pub fn text(&self, fake: &FakeKite) -> String {
        format!(
            "{}\n[[brokers]]\nname = \"zerodha\"\nkind = \"kite\"\nroot = \"{}\"\nws_root = \"{}\"\n{}",
            self.text,
            fake.root(),
            fake.ws_root(),
            self.broker_keys
        )
    }

    /// Writes [`KiteRunConfig::text`] to `path`.
    pub fn write(&self, fake: &FakeKite, path: &Path) {
        std::fs::write(path, self.text(fake)).expect("config written");
    }
}

/// A fake Kite with one user (₹1,000,000,000 of funds, orders filled at once) that lists
/// every instrument of the default configuration at its reference price; and that user's
/// access token.
pub fn trading_fake(user: &str, api_key: &str, api_secret: &str) -> (FakeKite, String) {
    let base = std::fs::read_to_string("config/default.toml").expect("config/default.toml");
    let config: dalal_config::Config = toml::from_str(&base).expect("default config");
    let fake = FakeKite::start_in_background().expect("fake Kite");
    fake.add_user(dalal_brokers::fake::kite::FakeUser::new(user, api_key, api_secret));
    fake.set_funds(user, 1e9, 0.0);
    for (k, i) in config.instruments.iter().enumerate() {
        fake.set_instrument("NSE", &i.symbol, 100_000 + k as u64, i.ref_price);
    }
    fake.set_auto_fill(true);
    let token = fake.issue_access_token(api_key).expect("token");
    (fake, token)
}

/// A Kite client of the fake server with a session's token.
pub fn kite_client(fake: &FakeKite, api_key: &str, token: &str) -> dalal_brokers::kite::KiteClient {
    dalal_brokers::kite::KiteClient::new(&fake.root(), api_key, Some(Secret::new(token)), Duration::from_secs(5))
        .expect("client")
}

/// An order placed at the fake Kite as another app would (no tag): a delivery (CNC) buy of
/// `quantity` on NSE, at the market or at `limit` rupees.
pub fn outside_buy(fake: &FakeKite, api_key: &str, token: &str, symbol: &str, quantity: u32, limit: Option<f64>) {
    use dalal_brokers::kite::params::{OrderType, PlaceOrder, Product, TransactionType, Validity, Variety};
    let client = kite_client(fake, api_key, token);
    let order = PlaceOrder {
        variety: Variety::Regular,
        exchange: "NSE".into(),
        tradingsymbol: symbol.into(),
        transaction_type: TransactionType::Buy,
        quantity,
        product: Product::Cnc,
        order_type: if limit.is_some() { OrderType::Limit } else { OrderType::Market },
        price: limit,
        trigger_price: None,
        validity: Some(Validity::Day),
        disclosed_quantity: None,
        tag: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(client.place_order(&order)).expect("an order from outside Dalal");
}

/// Waits until `done`, polling every 20 ms; fails naming `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, done: &mut dyn FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `dalal run` with its console, its standard output and error collected as it goes (so a
/// chatty log never fills a pipe and stalls it).
pub struct Run {
    child: Option<Child>,
    /// The console's address (`127.0.0.1:PORT`).
    pub addr: String,
    out: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Run {
    /// `dalal run` of `config` on the Kite feed with its console on a free port, the vault's
    /// logins, the first admin's password, and `RUST_LOG` at `log`.
    pub fn kite_console(config: &Path, vault: &Path, key_file: &Path, admin_password: &str, log: &str) -> Run {
        let mut cmd = command();
        cmd.env("RUST_LOG", log)
            .env("DALAL_ADMIN_PASSWORD", admin_password)
            .args(["run", "--feed", "kite:zerodha", "--admin-listen", "127.0.0.1:0", "--duration", "600s", "--config"])
            .arg(config)
            .arg("--vault")
            .arg(vault)
            .arg("--key-file")
            .arg(key_file);
        Run::start(cmd)
    }

    /// Starts `cmd` (a `dalal run … --admin-listen 127.0.0.1:0`) and waits for its console.
    pub fn start(mut cmd: Command) -> Run {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("dalal run starts");
        let out = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let mut readers = Vec::new();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for (stream, tx) in [(Box::new(stdout) as Box<dyn Read + Send>, Some(tx)), (Box::new(stderr), None)] {
            let out = out.clone();
            readers.push(std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
                    if let (Some(tx), Some(addr)) = (&tx, line.strip_prefix("admin console on http://")) {
                        let _ = tx.send(addr.trim().to_string());
                    }
                    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                    o.push_str(&line);
                    o.push('\n');
                }
            }));
        }
        let mut run = Run { child: Some(child), addr: String::new(), out, readers };
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => run.addr = addr,
            Err(_) => panic!("the console did not start:\n{}", run.output()),
        }
        run
    }

    /// What the run has printed so far, as it printed it.
    pub fn raw_output(&self) -> String {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What the run has printed so far, without colour sequences.
    pub fn output(&self) -> String {
        plain(&self.out.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Stops the run as Ctrl-C does; its exit status and everything it printed.
    pub fn stop(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        let status = child.wait().expect("the run ends");
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        (status, self.output())
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A schema of its own in the local PostgreSQL (`test` database), dropped when this goes.
pub struct PgTestSchema {
    pub name: String,
}

/// The local PostgreSQL (127.0.0.1:5432, database `test`).
pub const PG_BASE: &str = "postgres://postgres@127.0.0.1:5432/test";

impl PgTestSchema {
    /// A fresh schema named `prefix_<pid>`; `None` (with a note) when PostgreSQL does not
    /// answer outside CI. In CI (`CI` set) a missing PostgreSQL fails the test.
    pub fn create(prefix: &str) -> Option<PgTestSchema> {
        let name = format!("{prefix}_{}", std::process::id());
        let created = Self::sql(&[&format!("DROP SCHEMA IF EXISTS {name} CASCADE"), &format!("CREATE SCHEMA {name}")]);
        if let Err(e) = created {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL at 127.0.0.1:5432 does not answer ({e}) and CI is set"
            );
            eprintln!("skipped: PostgreSQL at 127.0.0.1:5432 does not answer ({e})");
            return None;
        }
        Some(PgTestSchema { name })
    }

    /// A database URL whose tables live in this schema.
    pub fn url(&self) -> String {
        format!("{PG_BASE}?options=-csearch_path%3D{}", self.name)
    }

    fn sql(statements: &[&str]) -> Result<(), sqlx::Error> {
        use sqlx::Connection;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(sqlx::Error::Io)?;
        rt.block_on(async {
            let mut c = sqlx::PgConnection::connect(PG_BASE).await?;
            for s in statements {
                sqlx::query(s).execute(&mut c).await?;
            }
            Ok(())
        })
    }
}

impl Drop for PgTestSchema {
    fn drop(&mut self) {
        let _ = Self::sql(&[&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name)]);
    }
}
