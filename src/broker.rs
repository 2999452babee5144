//! `dalal broker …`: managing broker logins in the vault, logging in to a broker, and
//! reading an account's state from it.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context, Result};
use dalal_brokers::angel::model::Tokens;
use dalal_brokers::angel::{AngelClient, AngelError, Identity};
use dalal_brokers::kite::{KiteClient, KiteError};
use dalal_brokers::upstox::{UpstoxClient, UpstoxError};
use dalal_brokers::vault::MASTER_KEY_ENV;
use dalal_brokers::{BrokerErrorKind, BrokerKind, Login, MasterKey, OrderState, Secret, Vault};

use crate::cli::{BrokerCommand, LoginArgs, SnapshotArgs, VaultArgs};

pub fn run(cmd: BrokerCommand) -> Result<()> {
    match cmd {
        BrokerCommand::Keygen { key_file } => {
            MasterKey::create_file(&key_file)?;
            println!("wrote a new master key to {} (mode 0600); keep a copy somewhere safe", key_file.display());
            Ok(())
        }
        BrokerCommand::Add { name, kind, ids, secrets, vault } => add(name, &kind, &ids, &secrets, &vault),
        BrokerCommand::List { json, vault } => list(json, &vault),
        BrokerCommand::Decode { broker, input } => decode(&broker, &input),
        BrokerCommand::Login(args) => login(args),
        BrokerCommand::Snapshot(args) => snapshot(args),
        BrokerCommand::History(args) => crate::history::run(*args),
        BrokerCommand::Reconcile(args) => crate::reconcile::run(args),
        BrokerCommand::Remove { name, vault } => {
            let mut v = open(&vault)?;
            if !v.remove(&name) {
                bail!("no broker login named {name:?} in {}", v.path().display());
            }
            v.save()?;
            println!("removed broker login {name}");
            Ok(())
        }
    }
}

pub(crate) fn open(args: &VaultArgs) -> Result<Vault> {
    let env = std::env::var(MASTER_KEY_ENV).ok();
    let key = MasterKey::load(env.as_deref(), &args.key_file)?;
    Ok(Vault::open(&args.vault, key)?)
}

fn add(name: String, kind: &str, ids: &[String], secret_names: &[String], args: &VaultArgs) -> Result<()> {
    let Some(kind) = BrokerKind::parse(kind) else {
        bail!("--kind {kind:?}: expected kite, angel or upstox");
    };
    let mut id_map = BTreeMap::new();
    for id in ids {
        let Some((k, v)) = id.split_once('=') else { bail!("--id {id:?}: expected FIELD=VALUE") };
        id_map.insert(k.trim().to_string(), v.trim().to_string());
    }
    let mut v = open(args)?;
    let stdin = std::io::stdin();
    let prompt = stdin.is_terminal();
    let mut lines = stdin.lock();
    let mut secrets = BTreeMap::new();
    for field in secret_names {
        if prompt {
            eprint!("{field}: ");
            let _ = std::io::stderr().flush();
        }
        let mut line = zeroize::Zeroizing::new(String::new());
        lines.read_line(&mut line).with_context(|| format!("reading the secret {field} from standard input"))?;
        let value = line.trim_end_matches(['\r', '\n']);
        if value.is_empty() {
            bail!("no value for the secret {field} on standard input (one line per --secret, in order)");
        }
        secrets.insert(field.clone(), Secret::new(value));
    }
    v.add(Login { name: name.clone(), kind, ids: id_map, secrets })?;
    v.save()?;
    println!("added {kind} login {name} to {}", v.path().display());
    Ok(())
}

fn list(json: bool, args: &VaultArgs) -> Result<()> {
    let v = open(args)?;
    let logins = v.list()?;
    if json {
        println!("{}", serde_json::to_string(&logins)?);
        return Ok(());
    }
    if logins.is_empty() {
        println!("no broker logins in {}", v.path().display());
        return Ok(());
    }
    println!("{:<16} {:<8} {:<40} secrets", "name", "broker", "ids");
    for l in logins {
        let ids = l.ids.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
        let secrets = l.secrets.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
        println!("{:<16} {:<8} {:<40} {secrets}", l.name, l.kind, ids);
    }
    Ok(())
}

/// One captured feed message as the broker's official client prints it, or why it does not
/// decode; also the number of packets in it the client would skip.
fn decode_message(broker: &str, bytes: &[u8]) -> std::result::Result<(serde_json::Value, usize), String> {
    match broker {
        "angel" => {
            let packet = dalal_brokers::angel::stream::decode_packet(bytes).map_err(|e| e.to_string())?;
            Ok((serde_json::to_value(&packet).map_err(|e| e.to_string())?, 0))
        }
        "upstox" => {
            let msg = dalal_brokers::upstox::feed::decode(bytes).map_err(|e| e.to_string())?;
            Ok((dalal_brokers::upstox::feed::to_json(&msg), 0))
        }
        _ => {
            let frame = dalal_brokers::kite::ticker::decode_frame(bytes).map_err(|e| e.to_string())?;
            Ok((serde_json::to_value(&frame.packets).map_err(|e| e.to_string())?, frame.skipped))
        }
    }
}

/// `dalal broker decode --broker kite|angel|upstox`: one JSON line out per hex line in.
fn decode(broker: &str, input: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut bad, mut skipped) = (0usize, 0usize);
    for (i, line) in text.lines().enumerate() {
        let decoded = dalal_brokers::hex::decode(line.trim())
            .map_err(|e| e.to_string())
            .and_then(|bytes| decode_message(broker, &bytes));
        let value = match decoded {
            Ok((value, n)) => {
                skipped += n;
                value
            }
            Err(e) => {
                bad += 1;
                serde_json::json!({ "error": format!("line {}: {e}", i + 1) })
            }
        };
        writeln!(out, "{value}")?;
    }
    out.flush()?;
    if skipped > 0 {
        eprintln!("{skipped} packet(s) of no known length skipped");
    }
    if bad > 0 {
        bail!("{bad} line(s) of {} did not decode", input.display());
    }
    Ok(())
}

/// A runtime for one command's few requests to a broker.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the I/O runtime")
}

/// A vault login's Kite API key, refusing a login of another broker.
fn kite_api_key(v: &Vault, name: &str) -> Result<String> {
    let kind = v.kind(name)?;
    if kind != BrokerKind::Kite {
        bail!("{name} is a {kind} login; logging in and snapshots speak Kite for now");
    }
    v.id(name, "api_key")?.with_context(|| format!("{name} has no api_key"))
}

/// The one-time code in what the user pasted: the redirect URL (its `param` query parameter:
/// Kite's `request_token`, Upstox's `code`) or the bare code.
fn code_from(line: &str, param: &str) -> Option<Secret> {
    let line = line.trim();
    let key = format!("{param}=");
    let at = line.match_indices(&key).map(|(i, _)| i).find(|&i| i == 0 || line[..i].ends_with(['?', '&']));
    let token = match at {
        Some(at) => line[at + key.len()..].split(['&', '#', ' ']).next().unwrap_or_default(),
        None if !line.contains(['?', '/', '=', ' ']) => line,
        None => "",
    };
    (!token.is_empty()).then(|| Secret::new(token))
}

/// `dalal broker login NAME`.
fn login(args: LoginArgs) -> Result<()> {
    let mut v = open(&args.vault)?;
    let name = args.name.as_str();
    match v.kind(name)? {
        BrokerKind::Angel => return angel_login(&mut v, name, &args),
        BrokerKind::Upstox => return upstox_login(&mut v, name, &args),
        BrokerKind::Kite => {}
    }
    let api_key = kite_api_key(&v, name)?;
    let api_secret =
        v.secret(name, "api_secret")?.with_context(|| format!("{name} has no api_secret (dalal broker add)"))?;
    let root = args.root.as_deref().unwrap_or(dalal_brokers::kite::rest::DEFAULT_ROOT);
    let mut client = KiteClient::new(root, &api_key, None, args.timeout)?;
    println!("{}", client.login_url());
    let request_token = match (args.request_token, args.listen) {
        (Some(t), _) => t,
        (None, Some(addr)) => crate::login_redirect::one_time_code(addr, args.wait, "request_token", "Kite")?,
        (None, None) => {
            if std::io::stdin().is_terminal() {
                eprint!("log in at the URL above, then paste the address Kite sends you to (or its request_token): ");
                let _ = std::io::stderr().flush();
            }
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::stdin().lock().read_line(&mut line).context("reading the request token from standard input")?;
            code_from(&line, "request_token")
                .context("no request_token on standard input (the redirect URL or the token)")?
        }
    };
    let session = runtime()?.block_on(client.generate_session(&request_token, &api_secret))?;
    v.set_secret(name, "access_token", &session.access_token)?;
    if !session.user_id.is_empty() {
        v.set_id(name, "user_id", &session.user_id)?;
    }
    v.save()?;
    tracing::info!(login = name, user_id = %session.user_id, "kite session started");
    println!("logged in to kite as {}; access token kept in {}", session.user_id, v.path().display());
    Ok(())
}

/// The Kite session a command reading from the broker names: a vault login's API key and
/// stored access token, or both given directly. Returns the client and the login's name,
/// which [`kite_failure`] uses to say how to renew an expired session.
pub(crate) fn kite_session(args: &SnapshotArgs) -> Result<(KiteClient, Option<String>)> {
    let (api_key, token, login) = match (&args.login, &args.api_key, &args.access_token) {
        (Some(name), _, _) => {
            let v = open(&args.vault)?;
            let api_key = kite_api_key(&v, name)?;
            let token = v
                .secret(name, "access_token")?
                .with_context(|| format!("{name} has no access token: dalal broker login {name}"))?;
            (api_key, token, Some(name.clone()))
        }
        (None, Some(key), Some(token)) => (key.clone(), token.clone(), None),
        _ => bail!("give --login NAME, or --api-key and --access-token"),
    };
    let root = args.root.as_deref().unwrap_or(dalal_brokers::kite::rest::DEFAULT_ROOT);
    Ok((KiteClient::new(root, &api_key, Some(token), args.timeout)?, login))
}

/// A failed Kite request as an error for people; an expired session of a vault login says
/// how to log in again.
pub(crate) fn kite_failure(e: KiteError, login: Option<&str>) -> anyhow::Error {
    let hint = match (login, e.kind()) {
        (Some(name), BrokerErrorKind::SessionExpired) => format!(" (log in again: dalal broker login {name})"),
        _ => String::new(),
    };
    anyhow::anyhow!("{e}{hint}")
}

/// An Angel One login's client: its ids from the vault, and its session's tokens when
/// `with_tokens` (after `dalal broker login`).
pub(crate) fn angel_client(
    v: &Vault,
    name: &str,
    root: Option<&str>,
    timeout: std::time::Duration,
    with_tokens: bool,
) -> Result<AngelClient> {
    let id = |field: &str| v.id(name, field);
    let api_key = id("api_key")?.with_context(|| format!("{name} has no api_key"))?;
    let client_code = id("client_code")?.with_context(|| format!("{name} has no client_code"))?;
    let defaults = Identity::default();
    let identity = Identity {
        local_ip: id("local_ip")?.unwrap_or(defaults.local_ip),
        public_ip: id("public_ip")?.unwrap_or(defaults.public_ip),
        mac: id("mac_address")?.unwrap_or(defaults.mac),
    };
    let root = root.unwrap_or(dalal_brokers::angel::rest::DEFAULT_ROOT);
    let mut client = AngelClient::new(root, &api_key, &client_code, &identity, timeout)?;
    if with_tokens {
        let secret = |field: &str| v.secret(name, field);
        let jwt = secret("jwt_token")?.with_context(|| format!("{name} has no session: dalal broker login {name}"))?;
        client.set_tokens(Some(Tokens {
            jwt,
            refresh: secret("refresh_token")?.unwrap_or_else(|| Secret::new("")),
            feed: secret("feed_token")?.unwrap_or_else(|| Secret::new("")),
            state: String::new(),
        }));
    }
    Ok(client)
}

/// `dalal broker login NAME` of an Angel One login: client code, MPIN and the TOTP code of
/// the stored seed; the session's tokens are kept in the vault.
fn angel_login(v: &mut Vault, name: &str, args: &LoginArgs) -> Result<()> {
    if args.request_token.is_some() || args.listen.is_some() {
        bail!("{name} is an angel login: it logs in with its MPIN and TOTP seed, not a browser redirect");
    }
    let mut client = angel_client(v, name, args.root.as_deref(), args.timeout, false)?;
    angel_login_into(v, name, &mut client)?;
    tracing::info!(login = name, client_code = client.client_code(), "angel session started");
    println!("logged in to angel as {}; session tokens kept in {}", client.client_code(), v.path().display());
    Ok(())
}

/// An Upstox login's client: its API key from the vault, and its access token when
/// `with_token` (after `dalal broker login`).
pub(crate) fn upstox_client(
    v: &Vault,
    name: &str,
    roots: (Option<&str>, Option<&str>),
    timeout: std::time::Duration,
    with_token: bool,
) -> Result<UpstoxClient> {
    let api_key = v.id(name, "api_key")?.with_context(|| format!("{name} has no api_key"))?;
    let token = match with_token {
        true => Some(
            v.secret(name, "access_token")?
                .with_context(|| format!("{name} has no session: dalal broker login {name}"))?,
        ),
        false => None,
    };
    let root = roots.0.unwrap_or(dalal_brokers::upstox::rest::DEFAULT_ROOT);
    let order_root = roots.1.unwrap_or(dalal_brokers::upstox::rest::DEFAULT_HFT_ROOT);
    Ok(UpstoxClient::new(root, order_root, &api_key, token, timeout)?)
}

/// `dalal broker login NAME` of an Upstox login: the authorization dialog's address, then the
/// one-time `code` Upstox redirects back with (given, taken by `--listen`, or pasted),
/// exchanged with the API secret for the day's access token, kept in the vault.
fn upstox_login(v: &mut Vault, name: &str, args: &LoginArgs) -> Result<()> {
    let redirect_uri = v.id(name, "redirect_uri")?.with_context(|| {
        format!(
            "{name} has no redirect_uri (dalal broker add … --id redirect_uri=…): Upstox sends the login back there"
        )
    })?;
    let api_secret =
        v.secret(name, "api_secret")?.with_context(|| format!("{name} has no api_secret (dalal broker add)"))?;
    let mut client = upstox_client(v, name, (args.root.as_deref(), None), args.timeout, false)?;
    println!("{}", client.login_url(&redirect_uri, Some("dalal")));
    let code = match (&args.request_token, args.listen) {
        (Some(t), _) => t.clone(),
        (None, Some(addr)) => crate::login_redirect::one_time_code(addr, args.wait, "code", "Upstox")?,
        (None, None) => {
            if std::io::stdin().is_terminal() {
                eprint!("log in at the URL above, then paste the address Upstox sends you to (or its code): ");
                let _ = std::io::stderr().flush();
            }
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::stdin().lock().read_line(&mut line).context("reading the code from standard input")?;
            code_from(&line, "code").context("no code on standard input (the redirect URL or the code)")?
        }
    };
    let session = runtime()?.block_on(client.generate_session(&code, &api_secret, &redirect_uri))?;
    v.set_secret(name, "access_token", &session.access_token)?;
    v.save()?;
    tracing::info!(login = name, user_id = %session.user_id, "upstox session started");
    println!("logged in to upstox as {}; access token kept in {}", session.user_id, v.path().display());
    Ok(())
}

/// Logs `client` in with the login's MPIN and the TOTP code of its seed, and keeps the
/// session's tokens in the vault (saved).
pub(crate) fn angel_login_into(v: &mut Vault, name: &str, client: &mut AngelClient) -> Result<()> {
    let mpin = v.secret(name, "mpin")?.with_context(|| format!("{name} has no mpin (dalal broker add)"))?;
    let seed = v.secret(name, "totp_seed")?.with_context(|| format!("{name} has no totp_seed (dalal broker add)"))?;
    let tokens = runtime()?.block_on(client.login(&mpin, &seed))?;
    v.set_secret(name, "jwt_token", &tokens.jwt)?;
    v.set_secret(name, "refresh_token", &tokens.refresh)?;
    v.set_secret(name, "feed_token", &tokens.feed)?;
    v.save()?;
    Ok(())
}

/// `dalal broker snapshot`: one JSON object, rupees as numbers, quantities as integers.
fn snapshot(args: SnapshotArgs) -> Result<()> {
    if args.broker != "kite" {
        let Some(name) = &args.login else { bail!("an {} snapshot needs --login NAME (a vault login)", args.broker) };
        let v = open(&args.vault)?;
        let kind = v.kind(name)?;
        if kind.as_str() != args.broker {
            bail!("{name} is a {kind} login, not {}", args.broker);
        }
        let client = match kind {
            BrokerKind::Angel => {
                crate::runtime::LoginClient::Angel(angel_client(&v, name, args.root.as_deref(), args.timeout, true)?)
            }
            _ => crate::runtime::LoginClient::Upstox(upstox_client(
                &v,
                name,
                (args.root.as_deref(), None),
                args.timeout,
                true,
            )?),
        };
        let out = runtime()?.block_on(client.snapshot(&args.broker, SnapshotOrders::All)).map_err(|e| {
            let hint = if e.kind == BrokerErrorKind::SessionExpired {
                format!(" (log in again: dalal broker login {name})")
            } else {
                String::new()
            };
            anyhow::anyhow!("{e}{hint}")
        })?;
        println!("{out}");
        return Ok(());
    }
    let (client, login) = kite_session(&args)?;
    let relogin = |e: KiteError| kite_failure(e, login.as_deref());
    let out = runtime()?.block_on(kite_snapshot(&client, &args.broker, SnapshotOrders::All)).map_err(relogin)?;
    println!("{out}");
    Ok(())
}

/// Which of a login's orders a snapshot lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SnapshotOrders {
    /// The whole day's book (`dalal broker snapshot`).
    All,
    /// Only orders still working at the broker (the console's per-account view).
    Open,
}

/// A login's funds in a snapshot, rupees.
struct SnapFunds {
    available_cash: f64,
    used_margin: f64,
    net: f64,
}

/// A net position in a snapshot, in the broker's own words for exchange, symbol and product.
#[derive(serde::Serialize)]
struct SnapPosition<'a> {
    exchange: &'a str,
    symbol: &'a str,
    product: &'a str,
    quantity: i64,
    average_price: f64,
    last_price: f64,
    pnl: f64,
}

/// An order in a snapshot; `status` in Dalal's words.
#[derive(serde::Serialize)]
struct SnapOrder<'a> {
    order_id: &'a str,
    exchange: &'a str,
    symbol: &'a str,
    side: &'a str,
    order_type: &'a str,
    product: &'a str,
    validity: &'a str,
    quantity: i64,
    filled_quantity: i64,
    pending_quantity: i64,
    price: f64,
    trigger_price: f64,
    average_price: f64,
    status: &'static str,
    tag: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct SnapHolding<'a> {
    exchange: &'a str,
    symbol: &'a str,
    quantity: i64,
    average_price: f64,
    last_price: f64,
}

/// The one JSON object every broker's snapshot is: `broker` (the label given), `user_id`,
/// `funds`, `positions`, `orders` (only the working ones for [`SnapshotOrders::Open`]) and
/// `holdings`, rupees as numbers and quantities as integers. `dalal broker snapshot` prints it
/// and the console's per-account broker view answers it, so both show the same shape.
fn snapshot_json<'a>(
    broker: &str,
    user_id: &str,
    funds: SnapFunds,
    positions: impl Iterator<Item = SnapPosition<'a>>,
    orders: impl Iterator<Item = (OrderState, SnapOrder<'a>)>,
    holdings: impl Iterator<Item = SnapHolding<'a>>,
    which: SnapshotOrders,
) -> serde_json::Value {
    let orders: Vec<SnapOrder> =
        orders.filter(|(state, _)| which == SnapshotOrders::All || !state.is_terminal()).map(|(_, o)| o).collect();
    serde_json::json!({
        "broker": broker,
        "user_id": user_id,
        "funds": {
            "available_cash": funds.available_cash,
            "used_margin": funds.used_margin,
            "net": funds.net,
        },
        "positions": positions.collect::<Vec<_>>(),
        "orders": orders,
        "holdings": holdings.collect::<Vec<_>>(),
    })
}

/// A Kite login's state as a snapshot ([`snapshot_json`]); funds from the equity segment.
pub(crate) async fn kite_snapshot(
    client: &KiteClient,
    broker: &str,
    which: SnapshotOrders,
) -> Result<serde_json::Value, KiteError> {
    let profile = client.profile().await?;
    let margins = client.margins().await?;
    let positions = client.positions().await?;
    let orders = client.orders().await?;
    let holdings = client.holdings().await?;
    let equity = margins.equity.unwrap_or_default();
    Ok(snapshot_json(
        broker,
        &profile.user_id,
        SnapFunds { available_cash: equity.available.cash, used_margin: equity.utilised.debits, net: equity.net },
        positions.net.iter().map(|p| SnapPosition {
            exchange: &p.exchange,
            symbol: &p.tradingsymbol,
            product: &p.product,
            quantity: p.quantity,
            average_price: p.average_price,
            last_price: p.last_price,
            pnl: p.pnl,
        }),
        orders.iter().map(|o| {
            (
                o.state(),
                SnapOrder {
                    order_id: &o.order_id,
                    exchange: &o.exchange,
                    symbol: &o.tradingsymbol,
                    side: &o.transaction_type,
                    order_type: &o.order_type,
                    product: &o.product,
                    validity: &o.validity,
                    quantity: o.quantity,
                    filled_quantity: o.filled_quantity,
                    pending_quantity: o.pending_quantity,
                    price: o.price,
                    trigger_price: o.trigger_price,
                    average_price: o.average_price,
                    status: o.state().as_str(),
                    tag: o.tag.as_deref(),
                },
            )
        }),
        holdings.iter().map(|h| SnapHolding {
            exchange: &h.exchange,
            symbol: &h.tradingsymbol,
            quantity: h.quantity,
            average_price: h.average_price,
            last_price: h.last_price,
        }),
        which,
    ))
}

/// An Angel One login's state as a snapshot ([`snapshot_json`]). Angel's positions are one
/// list (net of the day and carried forward), its funds the RMS figures.
pub(crate) async fn angel_snapshot(
    client: &AngelClient,
    broker: &str,
    which: SnapshotOrders,
) -> Result<serde_json::Value, AngelError> {
    let profile = client.profile().await?;
    let rms = client.rms().await?;
    let positions = client.positions().await?;
    let orders = client.order_book().await?;
    let holdings = client.holdings().await?;
    let user_id = if profile.clientcode.is_empty() { client.client_code() } else { &profile.clientcode };
    Ok(snapshot_json(
        broker,
        user_id,
        SnapFunds { available_cash: rms.availablecash, used_margin: rms.utiliseddebits, net: rms.net },
        positions.iter().map(|p| SnapPosition {
            exchange: &p.exchange,
            symbol: &p.tradingsymbol,
            product: &p.producttype,
            quantity: p.netqty,
            average_price: if p.netqty >= 0 { p.buyavgprice } else { p.sellavgprice },
            last_price: p.ltp,
            pnl: p.pnl,
        }),
        orders.iter().map(|o| {
            (
                o.state(),
                SnapOrder {
                    order_id: &o.orderid,
                    exchange: &o.exchange,
                    symbol: &o.tradingsymbol,
                    side: &o.transactiontype,
                    order_type: &o.ordertype,
                    product: &o.producttype,
                    validity: &o.duration,
                    quantity: o.quantity,
                    filled_quantity: o.filledshares,
                    pending_quantity: o.unfilledshares,
                    price: o.price,
                    trigger_price: o.triggerprice,
                    average_price: o.averageprice,
                    status: o.state().as_str(),
                    tag: (!o.ordertag.is_empty()).then_some(o.ordertag.as_str()),
                },
            )
        }),
        holdings.iter().map(|h| SnapHolding {
            exchange: &h.exchange,
            symbol: &h.tradingsymbol,
            quantity: h.quantity,
            average_price: h.averageprice,
            last_price: h.ltp,
        }),
        which,
    ))
}

/// An Upstox login's state as a snapshot ([`snapshot_json`]); funds from the equity segment.
pub(crate) async fn upstox_snapshot(
    client: &UpstoxClient,
    broker: &str,
    which: SnapshotOrders,
) -> Result<serde_json::Value, UpstoxError> {
    let profile = client.profile().await?;
    let funds = client.funds(None).await?;
    let positions = client.positions().await?;
    let orders = client.order_book().await?;
    let holdings = client.holdings().await?;
    let equity = funds.equity.unwrap_or_default();

    Ok(snapshot_json(
        broker,
        &profile.user_id,
        SnapFunds {
            available_cash: equity.available_margin,
            used_margin: equity.used_margin,
            net: equity.available_margin + equity.used_margin,
        },
        positions.iter().map(|p| SnapPosition {
            exchange: &p.exchange,
            symbol: if p.trading_symbol.is_empty() { &p.tradingsymbol } else { &p.trading_symbol },
            product: &p.product,
            quantity: p.quantity,
            average_price: p.average_price,
            last_price: p.last_price,
            pnl: p.pnl,
        }),
        orders.iter().map(|o| {
            (
                o.state(),
                SnapOrder {
                    order_id: &o.order_id,
                    exchange: &o.exchange,
                    symbol: o.symbol(),
                    side: &o.transaction_type,
                    order_type: &o.order_type,
                    product: &o.product,
                    validity: &o.validity,
                    quantity: o.quantity,
                    filled_quantity: o.filled_quantity,
                    pending_quantity: o.pending_quantity,
                    price: o.price,
                    trigger_price: o.trigger_price,
                    average_price: o.average_price,
                    status: o.state().as_str(),
                    tag: o.tag.as_deref(),
                },
            )
        }),
        holdings.iter().map(|h| SnapHolding {
            exchange: &h.exchange,
            symbol: if h.trading_symbol.is_empty() { &h.tradingsymbol } else { &h.trading_symbol },
            quantity: h.quantity,
            average_price: h.average_price,
            last_price: h.last_price,
        }),
        which,
    ))
}

#[cfg(test)]
mod tests {
    use super::code_from;

    #[test]
    fn the_request_token_is_found_in_a_pasted_redirect_or_alone() {
        let t = |s: &str| code_from(s, "request_token").map(|t| t.expose().to_string());
        assert_eq!(
            t("https://app.example/cb?action=login&status=success&request_token=abc123\n"),
            Some("abc123".into())
        );
        assert_eq!(t("https://app.example/cb?request_token=abc123&action=login"), Some("abc123".into()));
        assert_eq!(t("  abc123  "), Some("abc123".into()));
        assert_eq!(t("https://app.example/cb?status=cancelled"), None);
        assert_eq!(t("https://app.example/cb?request_token=&x=1"), None);
        assert_eq!(t(""), None);
        let code = |s: &str| code_from(s, "code").map(|t| t.expose().to_string());
        assert_eq!(code("http://127.0.0.1:5000/cb?code=Xy12z&state=dalal"), Some("Xy12z".into()));
        assert_eq!(code("http://127.0.0.1:5000/cb?error_code=1"), None, "a longer name ending in code");
    }
}
