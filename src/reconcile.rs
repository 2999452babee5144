//! `dalal broker reconcile`: a live account's positions in a running engine beside its
//! broker's, and on request the differences adopted into the engine. Only the running engine
//! knows its current positions, so this is a client of its console
//! (`GET /api/accounts/{name}/reconcile`, `POST …/reconcile/adopt`), which reads the broker
//! through the run's own login; the command touches neither the vault nor the broker.
//!
//! The console key comes from the environment ([`API_KEY_ENV`]), never the command line,
//! which shells keep in their history.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::cli::ReconcileArgs;
use crate::Exit;

/// The environment variable holding a console API key (`dk_…`, made by
/// `POST /api/users/{name}/api-keys`), sent as its bearer token.
pub const API_KEY_ENV: &str = "DALAL_API_KEY";

/// Prints the console's answer as JSON. Succeeds when the positions agree (with `--adopt`:
/// when every difference was sent for adoption); ends with status 1 when they differ (or a
/// difference was left out), 2 when the console could not be asked or refused.
pub fn run(args: ReconcileArgs) -> Result<()> {
    let body = ask(&args).map_err(|e| Exit { code: 2, error: Some(e) })?;
    println!("{}", serde_json::to_string_pretty(&body).unwrap_or_else(|_| body.to_string()));
    let settled = if args.adopt {
        body["left_out"].as_array().is_some_and(|l| l.is_empty())
    } else {
        body["agrees"].as_bool() == Some(true)
    };
    if settled {
        Ok(())
    } else {
        Err(Exit { code: 1, error: None }.into())
    }
}

/// The console's answer, or why there is none.
fn ask(args: &ReconcileArgs) -> Result<Value> {
    let key = std::env::var(API_KEY_ENV).unwrap_or_default();
    let key = key.trim();
    if key.is_empty() {
        bail!("set {API_KEY_ENV} to a console API key (dk_…, from POST /api/users/{{name}}/api-keys)");
    }
    if !key.starts_with("dk_") {
        bail!("{API_KEY_ENV} does not hold a console API key (they start with dk_)");
    }
    let mut url =
        reqwest::Url::parse(&args.console).with_context(|| format!("--console {:?}: not an address", args.console))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("--console {:?}: expected an http:// or https:// address", args.console);
    }
    url.path_segments_mut()
        .map_err(|_| anyhow!("--console {:?}: not an address with a path", args.console))?
        .pop_if_empty()
        .extend(["api", "accounts", args.account.as_str(), "reconcile"]);
    if args.adopt {
        url.path_segments_mut().map_err(|_| anyhow!("--console {:?}", args.console))?.push("adopt");
    }
    let client = reqwest::Client::builder().timeout(args.timeout).build().context("starting the HTTP client")?;
    let request = if args.adopt { client.post(url) } else { client.get(url) }.bearer_auth(key);
    let (status, text) = crate::broker::runtime()?
        .block_on(async {
            let response = request.send().await?;
            let status = response.status();
            Ok::<_, reqwest::Error>((status, response.text().await?))
        })
        .with_context(|| format!("asking the console at {}", args.console))?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        let said = body["error"].as_str().map_or_else(|| text.trim().to_string(), String::from);
        let hint = match status.as_u16() {
            401 => format!(" (check {API_KEY_ENV})"),
            404 => format!(" (no account {:?} that the key's user sees)", args.account),
            _ => String::new(),
        };
        bail!("the console answered {status}: {said}{hint}");
    }
    if !body.is_object() {
        bail!("the console's answer is not a JSON object: {}", text.chars().take(200).collect::<String>());
    }
    Ok(body)
}
