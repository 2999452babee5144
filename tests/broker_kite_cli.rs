//! `dalal broker login` and `dalal broker snapshot` run as an operator runs them, against the
//! fake Kite server: the snapshot is checked field for field, the login leaves an access
//! token in the vault, and no secret (API secret, request token, access token) ever shows in
//! an output, the logs or the vault file.

mod cli;

use cli::{dalal, text};
use dalal_brokers::fake::kite::{FakeKite, FakeUser};
use serde_json::{json, Value};

const API_KEY: &str = "kiteclikey42";
const API_SECRET: &str = "kite-cli-secret-7c1d9e2f";
const USER: &str = "QK7710";

/// A fake Kite with one user, three instruments and a holding.
fn trading_day() -> FakeKite {
    let f = FakeKite::start_in_background().expect("fake kite");
    f.add_user(FakeUser::new(USER, API_KEY, API_SECRET));
    f.set_instrument("NSE", "INFY", 408_065, 1500.5);
    f.set_instrument("NSE", "SBIN", 779_521, 800.25);
    f.set_instrument("NSE", "TCS", 2_953_217, 4000.0);
    f.add_holding(USER, "NSE", "TCS", 5, 3800.0);
    f
}

/// Places an order at the fake with a token of the user's, as any client would.
fn place(root: &str, token: &str, form: &[(&str, &str)]) -> String {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let c = dalal_brokers::kite::KiteClient::new(
            root,
            API_KEY,
            Some(dalal_brokers::Secret::new(token)),
            std::time::Duration::from_secs(10),
        )
        .expect("client");
        use dalal_brokers::kite::params::*;
        let get = |k: &str| form.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        let order = PlaceOrder {
            variety: Variety::parse(&get("variety").unwrap_or("regular".into())).expect("variety"),
            exchange: "NSE".into(),
            tradingsymbol: get("tradingsymbol").expect("symbol"),
            transaction_type: TransactionType::parse(&get("transaction_type").expect("side")).expect("side"),
            quantity: get("quantity").and_then(|q| q.parse().ok()).expect("qty"),
            product: Product::parse(&get("product").expect("product")).expect("product"),
            order_type: OrderType::parse(&get("order_type").expect("type")).expect("type"),
            price: get("price").and_then(|p| p.parse().ok()),
            trigger_price: get("trigger_price").and_then(|p| p.parse().ok()),
            validity: get("validity").and_then(|v| Validity::parse(&v)),
            disclosed_quantity: None,
            tag: get("tag"),
        };
        c.place_order(&order).await.expect("placed")
    })
}

#[test]
fn snapshot_prints_the_accounts_state_as_one_json_object() {
    let f = trading_day();
    let root = f.root();
    let token = f.issue_access_token(API_KEY).expect("token");
    let limit = |symbol, side, qty, price, tag| {
        vec![
            ("tradingsymbol", symbol),
            ("transaction_type", side),
            ("quantity", qty),
            ("product", "CNC"),
            ("order_type", "LIMIT"),
            ("price", price),
            ("validity", "DAY"),
            ("tag", tag),
        ]
    };
    let filled = place(&root, &token, &limit("INFY", "BUY", "10", "1500", "s1"));
    f.fill(&filled, 10, 1499.5).expect("fill");
    let partial = place(&root, &token, &limit("INFY", "BUY", "4", "1498", "s2"));
    f.fill(&partial, 1, 1498.0).expect("fill");
    let stop = place(
        &root,
        &token,
        &[
            ("tradingsymbol", "SBIN"),
            ("transaction_type", "SELL"),
            ("quantity", "2"),
            ("product", "MIS"),
            ("order_type", "SL-M"),
            ("trigger_price", "790"),
            ("validity", "DAY"),
        ],
    );
    let short = place(
        &root,
        &token,
        &[
            ("tradingsymbol", "SBIN"),
            ("transaction_type", "SELL"),
            ("quantity", "3"),
            ("product", "MIS"),
            ("order_type", "MARKET"),
            ("validity", "DAY"),
        ],
    );
    let cancelled = place(&root, &token, &limit("SBIN", "BUY", "1", "700", "s3"));
    f.cancel(&cancelled).expect("cancel");
    f.reject_next_order("RMS:Blocked");
    let rejected = place(&root, &token, &limit("SBIN", "BUY", "1", "700.05", "s4"));
    f.set_ltp("NSE", "INFY", 1502.25);

    let dir = tempfile::tempdir().expect("tempdir");
    let out = dalal(
        dir.path(),
        &["broker", "snapshot", "--broker", "kite", "--root", &root, "--api-key", API_KEY, "--access-token", &token],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one JSON object on one line: {stdout}");
    let got: Value = serde_json::from_str(&stdout).expect("JSON");
    let order =
        |id: &str, symbol, side, otype, product, qty, filled, pending, price, trigger, avg, status, tag: Value| {
            json!({
                "order_id": id, "exchange": "NSE", "symbol": symbol, "side": side, "order_type": otype,
                "product": product, "validity": "DAY", "quantity": qty, "filled_quantity": filled,
                "pending_quantity": pending, "price": price, "trigger_price": trigger, "average_price": avg,
                "status": status, "tag": tag,
            })
        };
    // A filled buy, a partly filled buy, a stop order waiting, a short sold at the market, a
    // cancelled and a rejected order. Used margin: the partial buy's 3 pending at 1498 block
    // 4494; cash spent is 14995 + 1498 less the short's 2400.75 = 14092.25.
    let want = json!({
        "broker": "kite",
        "user_id": USER,
        "funds": {"available_cash": 100000.0, "used_margin": 18586.25, "net": 81413.75},
        "positions": [
            {"exchange": "NSE", "symbol": "INFY", "product": "CNC", "quantity": 11, "average_price": 1499.36,
             "last_price": 1502.25, "pnl": 31.75},
            {"exchange": "NSE", "symbol": "SBIN", "product": "MIS", "quantity": -3, "average_price": 800.25,
             "last_price": 800.25, "pnl": 0.0},
        ],
        "orders": [
            order(&filled, "INFY", "BUY", "LIMIT", "CNC", 10, 10, 0, 1500.0, 0.0, 1499.5, "filled", json!("s1")),
            order(&partial, "INFY", "BUY", "LIMIT", "CNC", 4, 1, 3, 1498.0, 0.0, 1498.0, "partially_filled", json!("s2")),
            order(&stop, "SBIN", "SELL", "SL-M", "MIS", 2, 0, 2, 0.0, 790.0, 0.0, "trigger_pending", Value::Null),
            order(&short, "SBIN", "SELL", "MARKET", "MIS", 3, 3, 0, 0.0, 0.0, 800.25, "filled", Value::Null),
            order(&cancelled, "SBIN", "BUY", "LIMIT", "CNC", 1, 0, 0, 700.0, 0.0, 0.0, "cancelled", json!("s3")),
            order(&rejected, "SBIN", "BUY", "LIMIT", "CNC", 1, 0, 0, 700.05, 0.0, 0.0, "rejected", json!("s4")),
        ],
        "holdings": [
            {"exchange": "NSE", "symbol": "TCS", "quantity": 5, "average_price": 3800.0, "last_price": 4000.0},
        ],
    });
    assert_eq!(got, want, "got {got:#}");
    assert!(!text(&out).contains(&token), "the access token shows: {}", text(&out));

    // An expired session is an error that says so.
    f.expire_token(&token);
    let out =
        dalal(dir.path(), &["broker", "snapshot", "--root", &root, "--api-key", API_KEY, "--access-token", &token], "");
    assert!(!out.status.success());
    assert!(text(&out).contains("session_expired"), "{}", text(&out));
    assert!(!text(&out).contains(&token), "{}", text(&out));
    let missing = dalal(dir.path(), &["broker", "snapshot", "--root", &root, "--api-key", API_KEY], "");
    assert!(!missing.status.success(), "an API key needs a token");
}

/// The access token the fake issued, read from what the binary sent.
fn token_sent(f: &FakeKite) -> Option<String> {
    f.requests()
        .iter()
        .rev()
        .find_map(|r| r.headers.get("authorization")?.strip_prefix(&format!("token {API_KEY}:")).map(str::to_string))
}

#[test]
fn login_keeps_the_access_token_in_the_vault_and_shows_no_secret() {
    let f = trading_day();
    let root = f.root();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut outputs = Vec::new();
    let mut secrets = vec![API_SECRET.to_string()];

    assert!(dalal(d, &["broker", "keygen"], "").status.success());
    let add = dalal(
        d,
        &["broker", "add", "desk", "--kind", "kite", "--id", &format!("api_key={API_KEY}"), "--secret", "api_secret"],
        &format!("{API_SECRET}\n"),
    );
    assert!(add.status.success(), "{}", text(&add));

    let no_token = dalal(d, &["broker", "snapshot", "--login", "desk", "--root", &root], "");
    assert!(!no_token.status.success() && text(&no_token).contains("dalal broker login desk"), "{}", text(&no_token));

    // With --request-token.
    let request_token = f.issue_request_token(API_KEY).expect("request token");
    secrets.push(request_token.clone());
    let login = dalal(d, &["broker", "login", "desk", "--root", &root, "--request-token", &request_token], "");
    assert!(login.status.success(), "{}", text(&login));
    let stdout = String::from_utf8_lossy(&login.stdout).to_string();
    assert!(
        stdout.contains(&format!("https://kite.zerodha.com/connect/login?v=3&api_key={API_KEY}")),
        "prints the login URL: {stdout}"
    );
    assert!(stdout.contains(USER), "{stdout}");
    outputs.push(text(&login));
    let list = dalal(d, &["broker", "list", "--json"], "");
    let logins: Value = serde_json::from_slice(&list.stdout).expect("list --json");
    assert_eq!(logins[0]["ids"]["user_id"], USER, "{logins}");
    assert!(logins[0]["secrets"]["access_token"].as_str().is_some_and(|m| m.starts_with("****")), "{logins}");
    outputs.push(text(&list));

    let snap = dalal(d, &["broker", "snapshot", "--login", "desk", "--root", &root], "");
    assert!(snap.status.success(), "the stored token works: {}", text(&snap));
    let got: Value = serde_json::from_slice(&snap.stdout).expect("JSON");
    assert_eq!((got["user_id"].as_str(), got["funds"]["net"].as_f64()), (Some(USER), Some(100_000.0)));
    let first = token_sent(&f).expect("the snapshot sent a token");
    assert!(f.token_is_live(&first));
    secrets.push(first.clone());
    outputs.push(text(&snap));

    // A spent request token is refused, and the stored token stays.
    let again = dalal(d, &["broker", "login", "desk", "--root", &root, "--request-token", &request_token], "");
    assert!(!again.status.success() && text(&again).contains("session_expired"), "{}", text(&again));
    outputs.push(text(&again));

    // Pasting the redirect URL on standard input.
    let request_token = f.issue_request_token(API_KEY).expect("request token");
    secrets.push(request_token.clone());
    let pasted = format!(
        "https://desk.example/kite/callback?action=login&type=login&status=success&request_token={request_token}\n"
    );
    let login = dalal(d, &["broker", "login", "desk", "--root", &root], &pasted);
    assert!(login.status.success(), "{}", text(&login));
    outputs.push(text(&login));
    let snap = dalal(d, &["broker", "snapshot", "--login", "desk", "--root", &root], "");
    assert!(snap.status.success(), "{}", text(&snap));
    outputs.push(text(&snap));
    let second = token_sent(&f).expect("token");
    assert_ne!(first, second, "the new session's token replaced the old one");
    secrets.push(second.clone());

    // The session expires: the snapshot says how to log in again.
    f.expire_token(&second);
    let expired = dalal(d, &["broker", "snapshot", "--login", "desk", "--root", &root], "");
    assert!(!expired.status.success() && text(&expired).contains("dalal broker login desk"), "{}", text(&expired));
    outputs.push(text(&expired));

    // The redirect taken by a listener on loopback: a cancelled login is answered and waited
    // past; the successful one ends the login.
    let request_token = f.issue_request_token(API_KEY).expect("request token");
    secrets.push(request_token.clone());
    let mut child = cli::command()
        .current_dir(d)
        .args(["broker", "login", "desk", "--root", &root, "--listen", "127.0.0.1:0", "--wait", "60s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("login");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let addr = loop {
        let mut line = String::new();
        assert!(std::io::BufRead::read_line(&mut stdout, &mut line).expect("read") > 0, "the login ended early");
        if let Some(rest) = line.strip_prefix("waiting for Kite's redirect on http://") {
            break rest.split('/').next().unwrap_or_default().to_string();
        }
    };
    let cancelled = cli::request(&addr, "GET", "/kite/callback?action=login&status=cancelled", None, "");
    assert_eq!(cancelled.status, 400, "{}", cancelled.body);
    let path = format!("/kite/callback?action=login&type=login&status=success&request_token={request_token}");
    let done = cli::request(&addr, "GET", &path, None, "");
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(!done.body.contains(&request_token));
    let out = child.wait_with_output().expect("login ends");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
    let shown = format!("{rest}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains(USER), "{shown}");
    outputs.push(shown);
    let snap = dalal(d, &["broker", "snapshot", "--login", "desk", "--root", &root], "");
    assert!(snap.status.success(), "the token from the redirect works: {}", text(&snap));
    secrets.push(token_sent(&f).expect("token"));
    let remote = dalal(d, &["broker", "login", "desk", "--root", &root, "--listen", "0.0.0.0:0"], "");
    assert!(!remote.status.success() && text(&remote).contains("loopback"), "{}", text(&remote));

    let nothing = dalal(d, &["broker", "login", "desk", "--root", &root], "https://desk.example/cb?status=cancelled\n");
    assert!(!nothing.status.success() && text(&nothing).contains("request_token"), "{}", text(&nothing));

    let vault = String::from_utf8_lossy(&std::fs::read(d.join("data/brokers.vault")).expect("vault")).to_string();
    for secret in &secrets {
        assert!(!vault.contains(secret.as_str()), "{secret} in clear in the vault");
        for o in &outputs {
            assert!(!o.contains(secret.as_str()), "{secret} in a command's output or logs: {o}");
        }
    }
}
