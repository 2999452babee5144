//! `dalal broker login NAME --listen ADDR`: the browser's way back from a broker's login page.
//! Kite redirects to the app's registered URL with `request_token` in the query, Upstox with
//! `code`; listening there on a loopback address takes the one-time code without anyone
//! copying it. Only loopback: the code would otherwise cross a network in clear. Pasting the
//! redirect stays available.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Html;
use dalal_brokers::Secret;

/// Waits (at most `wait`) for one request at `addr` carrying a successful login's one-time
/// code in the query parameter `param` (`request_token`, `code`) from `broker`'s login page;
/// any other request is answered with why and the wait goes on.
pub fn one_time_code(addr: SocketAddr, wait: Duration, param: &'static str, broker: &'static str) -> Result<Secret> {
    if !addr.ip().is_loopback() {
        bail!("--listen {addr}: only a loopback address (127.0.0.1, ::1) may take the redirect");
    }
    let runtime = crate::broker::runtime()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
        let local = listener.local_addr()?;
        println!("waiting for {broker}'s redirect on http://{local}/ (the app's redirect URL)");
        let _ = std::io::stdout().flush();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Secret>(1);
        let app = axum::Router::new().fallback(move |Query(q): Query<HashMap<String, String>>| {
            let tx = tx.clone();
            async move {
                // Kite adds `status=success`; a missing status is taken as success only with a token.
                let ok = q.get("status").is_none_or(|s| s == "success");
                match q.get(param).filter(|t| ok && !t.is_empty()) {
                    Some(t) => {
                        let _ = tx.try_send(Secret::new(t.as_str()));
                        (StatusCode::OK, Html("<p>Logged in. This window can be closed.</p>"))
                    }
                    None => (
                        StatusCode::BAD_REQUEST,
                        Html("<p>No login code here: the login did not complete. Log in again.</p>"),
                    ),
                }
            }
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            axum::serve(listener, app).with_graceful_shutdown(shutdown).await
        });
        let token = tokio::time::timeout(wait, rx.recv()).await;
        // Stop listening; a graceful stop still finishes the answer to the browser.
        let _ = stop.send(());
        if tokio::time::timeout(Duration::from_secs(2), server).await.is_err() {
            tracing::debug!("the redirect listener did not stop in time");
        }
        match token {
            Ok(Some(t)) => Ok(t),
            Ok(None) => bail!("the redirect listener on {local} stopped"),
            Err(_) => bail!("no redirect with a {param} on {local} within {wait:?}"),
        }
    })
}
