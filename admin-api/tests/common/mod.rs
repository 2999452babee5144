//! Helpers shared by the integration tests: a plain HTTP/1.1 client, a minimal WebSocket
//! client, and the check that what the console shows of positions and P&L is the engine's own.
// Each test crate uses its own subset.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use std::sync::Arc;

use dalal_admin::{serve, AdminConfig, AdminHandle, ViewObserver};
use dalal_core::engine::placement::{PlacementConfig, Running};
use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::stats::LiveStats;
use dalal_core::engine::Engine;
use dalal_core::model::Input;
use dalal_core::model::Product;
use serde_json::{json, Value};

/// A response: status and parsed JSON body (`Value::Null` when not JSON).
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
    /// The status line and headers.
    pub head: String,
}

pub fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Resp {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    request(s, addr, method, path, token, body)
}

/// As [`http`], from a chosen local address (any of 127.0.0.0/8 reaches a server on
/// 127.0.0.1), so a test can be several clients; waits up to `timeout` for the answer.
pub fn http_from(
    src: std::net::IpAddr,
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    timeout: Duration,
) -> Resp {
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().expect("runtime");
    let s = rt
        .block_on(async {
            let sock = tokio::net::TcpSocket::new_v4()?;
            sock.bind(SocketAddr::new(src, 0))?;
            sock.connect(addr).await?.into_std()
        })
        .expect("connect from the chosen address");
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    request(s, addr, method, path, token, body)
}

/// A request with its head lines (each ending in CRLF) and body as given, for what a
/// well-behaved client would not send.
pub fn http_raw(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    // The server may answer (413) and close before it has read a large body.
    let _ = s.write_all(body);
    read_response(s)
}

fn request(
    mut s: TcpStream,
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Resp {
    let b = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if body.is_some() {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    req.push_str(&b);
    s.write_all(req.as_bytes()).unwrap();
    read_response(s)
}

fn read_response(mut s: TcpStream) -> Resp {
    // Read the head, then Content-Length bytes if given (some servers keep the connection).
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if let Some(len) = len {
                if raw.len() >= end + 4 + len {
                    break;
                }
            }
        }
    }
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status: u16 = head.split(' ').nth(1).and_then(|x| x.parse().ok()).unwrap_or(0);
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let text = if chunked { dechunk(rest) } else { rest.to_string() };
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp { status, body, text, head: head.to_string() }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub fn login(addr: SocketAddr, user: &str, pw: &str) -> (String, String) {
    let r = http(addr, "POST", "/api/auth/login", None, Some(&json!({"username": user, "password": pw})));
    assert_eq!(r.status, 200, "login {user}: {}", r.text);
    (r.body["access_token"].as_str().unwrap().to_string(), r.body["refresh_token"].as_str().unwrap().to_string())
}

/// A minimal WebSocket client: handshake, then read text frames.
pub struct Ws(TcpStream);

impl Ws {
    /// Opens a socket as the console page does: the token as `bearer.<token>` in the
    /// subprotocol list beside `dalal`.
    pub fn open(addr: SocketAddr, path: &str, token: &str) -> Result<Ws, String> {
        Ws::connect_with(addr, path, &format!("Sec-WebSocket-Protocol: dalal, bearer.{token}\r\n"))
    }

    /// Opens a socket with no credentials, or with those already in `path`.
    pub fn connect(addr: SocketAddr, path: &str) -> Result<Ws, String> {
        Ws::connect_with(addr, path, "")
    }

    /// Opens a socket with extra header lines (each ending in CRLF); the error is the head of
    /// the refusal.
    pub fn connect_with(addr: SocketAddr, path: &str, headers: &str) -> Result<Ws, String> {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{headers}\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).unwrap_or(0) == 0 {
                break;
            }
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head).to_string();
        if !head.starts_with("HTTP/1.1 101") {
            return Err(head);
        }
        Ok(Ws(s))
    }

    /// Sends one text frame (masked, as a client must).
    pub fn send_text(&mut self, text: &str) -> std::io::Result<()> {
        let p = text.as_bytes();
        let mut f = vec![0x81u8];
        match p.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        f.extend_from_slice(&mask);
        f.extend(p.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.0.write_all(&f)
    }

    /// One frame from the server: its opcode and payload (server frames are not masked).
    fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut h = [0u8; 2];
        self.0.read_exact(&mut h).ok()?;
        let mut len = (h[1] & 0x7f) as u64;
        if len == 126 {
            let mut e = [0u8; 2];
            self.0.read_exact(&mut e).ok()?;
            len = u16::from_be_bytes(e) as u64;
        } else if len == 127 {
            let mut e = [0u8; 8];
            self.0.read_exact(&mut e).ok()?;
            len = u64::from_be_bytes(e);
        }
        let mut p = vec![0u8; len as usize];
        self.0.read_exact(&mut p).ok()?;
        Some((h[0] & 0x0f, p))
    }

    /// Reads frames until the server closes the socket and returns its close code; `None`
    /// when nothing closes it before `deadline` (or the connection just ends).
    pub fn close_code(&mut self, deadline: std::time::Instant) -> Option<u16> {
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            self.0.set_read_timeout(Some(left.max(Duration::from_millis(1)))).ok()?;
            let (op, p) = self.frame()?;
            if op == 8 {
                return p.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            }
        }
    }

    pub fn next_text(&mut self) -> Option<Value> {
        loop {
            let (op, p) = self.frame()?;
            match op {
                1 => return serde_json::from_slice(&p).ok(),
                8 => return None,
                _ => continue,
            }
        }
    }
}

/// A rupee figure of the JSON as paise; it must be a whole number of paise (the engine has no
/// fractions of a paisa).
pub fn paise(v: &Value, what: &str) -> i64 {
    let r = v.as_f64().unwrap_or_else(|| panic!("{what}: not a number: {v}"));
    let p = (r * 100.0).round();
    assert!((r * 100.0 - p).abs() < 1e-6, "{what}: {r} rupees is not a whole number of paise");
    p as i64
}

/// A series of `/metrics`, by its full name with labels.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

/// Per account: realized, unrealized and charges of `/api/positions` summed, paise.
pub fn position_sums(positions: &Value) -> BTreeMap<String, [i64; 3]> {
    let mut out: BTreeMap<String, [i64; 3]> = BTreeMap::new();
    for p in positions.as_array().expect("positions: an array") {
        let a = p["account"].as_str().expect("account").to_string();
        let s = out.entry(a).or_default();
        s[0] += paise(&p["realized"], "realized");
        s[1] += paise(&p["unrealized"], "unrealized");
        s[2] += paise(&p["charges"], "charges");
    }
    out
}

/// Per account: realized, unrealized and charges of `/api/pnl`, paise.
pub fn pnl_figures(pnl: &Value) -> BTreeMap<String, [i64; 3]> {
    pnl.as_array()
        .expect("pnl: an array")
        .iter()
        .map(|p| {
            let a = p["account"].as_str().expect("account").to_string();
            let f = [
                paise(&p["realized"], "realized"),
                paise(&p["unrealized"], "unrealized"),
                paise(&p["charges"], "charges"),
            ];
            assert_eq!(paise(&p["net"], "net"), f[0] + f[1] - f[2], "{a}: net is after charges: {p}");
            (a, f)
        })
        .collect()
}

/// True when, for every account `/api/pnl` lists, its realized, unrealized and charges are those
/// of its positions in `/api/positions` summed (an account without positions has zeros).
pub fn pnl_is_sum_of_positions(positions: &Value, pnl: &Value) -> bool {
    let sums = position_sums(positions);
    pnl_figures(pnl).iter().all(|(a, f)| sums.get(a).copied().unwrap_or_default() == *f)
}

/// Asserts that `positions` (`/api/positions`) and `pnl` (`/api/pnl`), read while the engine
/// was idle and after it had published its counters, are exactly the engine's own: every
/// position it has booked a fill into, with its net quantity, average price (the core's own
/// figure), realized and unrealized P&L to the paisa; and per account its realized,
/// unrealized and charges totals. `engine` is that engine, stopped afterwards.
pub fn assert_console_is_the_engine(setup: &EngineSetup, positions: &Value, pnl: &Value, engine: &Engine) {
    let book = engine.order.portfolio();
    let list = positions.as_array().expect("positions: an array");
    let mut seen = 0;
    for p in list {
        let a = setup.accounts.iter().position(|x| x.name == p["account"]).unwrap_or_else(|| panic!("account of {p}"));
        let i =
            setup.instrument_by_symbol(p["symbol"].as_str().unwrap_or("")).unwrap_or_else(|| panic!("symbol of {p}"));
        let product =
            *Product::ALL.iter().find(|x| p["product"] == x.as_str()).unwrap_or_else(|| panic!("product of {p}"));
        let core = book.get(a, i.id.index(), product).unwrap_or_else(|| panic!("the engine has no slot for {p}"));
        assert_eq!(p["net_qty"], json!(core.net.0), "net quantity: {p}");
        // The core's own figure; the JSON's decimal round trip may move it by an ulp or so.
        let avg = p["avg_price"].as_f64().unwrap_or(f64::NAN);
        assert!((avg - core.avg_price() / 100.0).abs() < 1e-9, "average price {}: {p}", core.avg_price() / 100.0);
        assert_eq!(paise(&p["realized"], "realized"), core.realized().0, "realized: {p}");
        assert_eq!(paise(&p["unrealized"], "unrealized"), core.unrealized().0, "unrealized: {p}");
        seen += 1;
    }
    let booked = (0..book.accounts())
        .flat_map(|a| (0..book.instruments()).flat_map(move |i| Product::ALL.map(|p| (a, i, p))))
        .filter(|&(a, i, p)| book.get(a, i, p).is_some_and(|x| x.bought + x.sold > 0))
        .count();
    assert_eq!(seen, booked, "every position the engine booked a fill into is listed, once");
    let figures = pnl_figures(pnl);
    assert_eq!(figures.len(), setup.accounts.len(), "every account in /api/pnl");
    for (a, acc) in setup.accounts.iter().enumerate() {
        let t = book.account_pnl(a);
        let want = [t.realized.0, t.unrealized.0, engine.order.charges(a).total().0];
        assert_eq!(
            figures.get(&acc.name),
            Some(&want),
            "{}: /api/pnl is the engine's [realized, unrealized, charges]",
            acc.name
        );
    }
}

/// The scrape token of the test consoles: `/metrics` with it names accounts and logins.
pub const METRICS_TOKEN: &str = "scrape-token-for-tests";

/// The master key the test consoles seal TOTP secrets with.
pub const TEST_MASTER_KEY: [u8; 32] = [0x5c; 32];

/// `config/default.toml`, validated.
pub fn default_setup() -> EngineSetup {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/default.toml");
    let cfg: dalal_config::Config =
        toml::from_str(&std::fs::read_to_string(path).expect("default.toml")).expect("default.toml parses");
    cfg.validate().expect("valid default.toml")
}

/// An engine on the default configuration, running (start-of-run commands applied), with its
/// console on a free loopback port: the first admin's password is `admin_password`, and `f`
/// sets the rest of the console's configuration.
pub fn start_console(
    admin_password: &str,
    f: impl FnOnce(&mut AdminConfig),
) -> (EngineSetup, Running<ViewObserver>, AdminHandle, SocketAddr) {
    let setup = default_setup();
    let live = Arc::new(LiveStats::with_instruments(setup.accounts.len(), setup.instruments.len()));
    let engine = Engine::new(&setup, quanta::Clock::new(), 1);
    let (observer, parts) = dalal_admin::observer(&setup, live.clone());
    let mut running = Running::start(engine, &PlacementConfig::default(), observer, live.clone());
    for c in setup.initial_commands() {
        running.publish(Input::Command(c));
    }
    let link = parts.connect(setup.clone(), live, running.publisher().expect("publisher"));
    let mut cfg = AdminConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        initial_admin_password: Some(admin_password.into()),
        secret_key: Some(dalal_admin::sealed::SecretKey::new(TEST_MASTER_KEY)),
        metrics_token: Some(METRICS_TOKEN.into()),
        ..AdminConfig::default()
    };
    f(&mut cfg);
    let admin = serve(link, cfg).expect("serve");
    let addr = admin.local_addr();
    (setup, running, admin, addr)
}

/// An engine and its console for a test, stopped when dropped: the first admin's password is
/// `admin_password`, tokens are signed with `jwt_secret`, and `f` sets the rest.
pub struct Console {
    running: Option<Running<ViewObserver>>,
    pub admin: Option<AdminHandle>,
    pub addr: SocketAddr,
}

impl Console {
    pub fn new(admin_password: &str, jwt_secret: &[u8], f: impl FnOnce(&mut AdminConfig)) -> Console {
        let (_, running, admin, addr) = start_console(admin_password, |cfg| {
            cfg.jwt_secret = Some(jwt_secret.to_vec());
            f(cfg);
        });
        Console { running: Some(running), admin: Some(admin), addr }
    }

    /// Creates a user whose password is `<name>-password`.
    pub fn user(&self, admin: &str, name: &str, role: &str, accounts: &[&str]) {
        let u = json!({"username": name, "password": format!("{name}-password"), "role": role, "accounts": accounts});
        let r = http(self.addr, "POST", "/api/users", Some(admin), Some(&u));
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Some(a) = self.admin.take() {
            a.shutdown();
        }
        if let Some(r) = self.running.take() {
            let _ = r.stop();
        }
    }
}
