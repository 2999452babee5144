//! How both Upstox sockets (the market data feed and the portfolio stream) connect: an
//! `authorize` call with the access token (`GET /v3/feed/market-data-feed/authorize` or
//! `/v2/feed/portfolio-stream-feed/authorize`) answers with a signed, one-time `wss://` URL,
//! which is opened without any header (brokers.md §3.9.1, §3.10). Every connection authorizes
//! anew: a URL works once.
//!
//! The authorize call answered 401/403 (`UDAPI100050`: the token expired at 03:30 IST, or was
//! revoked) is a refusal of the credentials: after as many in a row as the socket allows, it
//! waits for a new token. A refused handshake on the one-time URL is not: that URL is spent or
//! expired, and the next attempt authorizes another.
//!
//! The REST client is the socket's own (its connection pool lives on the socket's runtime,
//! never on another thread's). Error texts carry neither the token nor the one-time URL's
//! query (its `code`).

use std::time::Duration;

use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::error_kind::BrokerErrorKind;
use crate::secret::Secret;
use crate::upstox::error::UpstoxError;
use crate::upstox::rest::UpstoxClient;
use crate::ws::{Target, Tls, Ws};
use crate::ws_link::{self, ConnectError, Dialer};

/// Which socket to authorize.
#[derive(Clone, Debug)]
pub(crate) enum Socket {
    MarketFeed,
    /// The portfolio stream, for these update types (`order`, `position`, …).
    Portfolio(Vec<String>),
}

pub(crate) struct UpstoxDialer {
    name: &'static str,
    socket: Socket,
    client: UpstoxClient,
    /// The query of the last one-time URL (it holds the URL's `code`), cut out of errors.
    last_query: Option<String>,
}

impl UpstoxDialer {
    /// A dialer with a REST client of its own for `api_root` (each request bounded by
    /// `timeout`).
    pub(crate) fn new(
        name: &'static str,
        socket: Socket,
        api_root: &str,
        api_key: &str,
        token: Secret,
        timeout: Duration,
    ) -> Result<UpstoxDialer, UpstoxError> {
        // Orders never go through this client: the order host is the API root, unused.
        let client = UpstoxClient::new(api_root, api_root, api_key, Some(token), timeout)?;
        Ok(UpstoxDialer { name, socket, client, last_query: None })
    }

    async fn authorize(&self) -> Result<String, UpstoxError> {
        match &self.socket {
            Socket::MarketFeed => self.client.feed_url().await,
            Socket::Portfolio(types) => {
                let types: Vec<&str> = types.iter().map(String::as_str).collect();
                self.client.portfolio_stream_url(&types).await
            }
        }
    }

    fn authorize_error(&self, e: UpstoxError) -> ConnectError {
        let name = self.name;
        let text = self.scrub(&e.to_string());
        let status = e.http_status().unwrap_or(401);
        let refused = match e.kind() {
            BrokerErrorKind::SessionExpired => true,
            BrokerErrorKind::Permission => matches!(status, 401 | 403),
            _ => false,
        };
        if refused {
            ConnectError::Refused { status, message: format!("Upstox refused the access token for {name}: {text}") }
        } else {
            ConnectError::Other(format!("authorizing {name}: {text}"))
        }
    }
}

impl Dialer for UpstoxDialer {
    type Credentials = Secret;

    fn set_credentials(&mut self, token: Secret) {
        self.client.set_access_token(Some(token));
    }

    async fn dial(&mut self, tls: &mut Tls) -> Result<Ws, ConnectError> {
        let name = self.name;
        let url = self.authorize().await.map_err(|e| self.authorize_error(e))?;
        self.last_query = url.split_once('?').map(|(_, q)| q.to_string()).filter(|q| !q.is_empty());
        let target = Target::parse(&url).map_err(|e| {
            ConnectError::Other(format!("authorizing {name} gave {:?}, not a ws:// or wss:// URL", e.0))
        })?;
        let request = target
            .root
            .as_str()
            .into_client_request()
            .map_err(|_| ConnectError::Other(format!("the one-time URL of {name} does not parse")))?;
        crate::ws::open(&target, request, tls)
            .await
            .map_err(|e| ws_link::open_error(name, &target.host, e, false, |t| self.scrub(t)))
    }

    fn scrub(&self, text: &str) -> String {
        let mut t = text.to_string();
        let token = self.client.access_token().map(Secret::expose).unwrap_or_default();
        for secret in [token, self.last_query.as_deref().unwrap_or_default()] {
            if !secret.is_empty() {
                t = t.replace(secret, "***");
            }
        }
        t
    }
}
