//! What both of Angel's sockets (SmartStream and the order-update socket) add to the shared
//! connection ([`crate::ws_link`]): the handshake with Angel's headers (`Authorization: Bearer
//! <jwt>`, `x-api-key`, `x-client-code`, `x-feed-token`), a text `ping` answered by `pong`,
//! and refused handshakes (401/403) reported with Angel's reason (`x-error-message`). The
//! reconnect loop, the stale check, the backoff and the wait for new credentials after
//! refusals are the shared link's.
//!
//! The JWT and the feed token travel in headers marked sensitive; they are cut out of every
//! error text (the lower layers' included) and never logged.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use dalal_core::model::Timestamp;

use crate::secret::Secret;
use crate::ws::{Target, Tls, Ws};
pub(crate) use crate::ws_link::LinkState;
use crate::ws_link::{self, ConnectError, Control, Dialer, Keepalive};
pub use crate::ws_link::{ConnectionCounters, SocketHealth, SocketMonitor, SocketStats, SocketStatus};

/// A session's socket credentials, as a login (`loginByPassword`, `generateTokens`) returns
/// them: the JWT (sent as `Authorization: Bearer …`) and the feed token (`x-feed-token`).
#[derive(Clone, Debug)]
pub struct Credentials {
    pub jwt: Secret,
    pub feed_token: Secret,
}

/// Gives a running socket new credentials from another thread (after a re-login); they are
/// used from the next connection on, and wake a socket waiting after refused handshakes. Does
/// nothing once the socket has stopped.
#[derive(Clone)]
pub struct CredentialsHandle(UnboundedSender<Control<Credentials>>);

impl CredentialsHandle {
    pub fn set(&self, jwt: Secret, feed_token: Secret) {
        let _ = self.0.send(Control::Credentials(Credentials { jwt, feed_token }));
    }
}

impl std::fmt::Debug for CredentialsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialsHandle")
    }
}

/// How one socket connects; see the sockets' configurations for the meaning of each field.
#[derive(Clone, Debug)]
pub(crate) struct LinkConfig {
    /// For logs and errors: `SmartStream`, `the order-update socket`.
    pub(crate) name: &'static str,
    pub(crate) target: Target,
    pub(crate) api_key: String,
    pub(crate) client_code: String,
    pub(crate) credentials: Credentials,
    pub(crate) ping_interval: Duration,
    pub(crate) stale_after: Duration,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) auth_attempts: u32,
}

/// What an Angel socket does with its connection.
pub(crate) trait Protocol: Send + 'static {
    /// Text requests to send on each new connection (SmartStream's subscriptions).
    fn opening(&mut self) -> Vec<String>;
    /// A binary message.
    fn binary(&mut self, bytes: &[u8], received: Timestamp, link: &LinkState);
    /// A text message other than `pong`.
    fn text(&mut self, text: &str, link: &LinkState);
}

/// An Angel protocol as the shared link sees it: its requests go out as text frames.
struct Texts<P>(P);

impl<P: Protocol> ws_link::Protocol for Texts<P> {
    fn opening(&mut self) -> Vec<Message> {
        self.0.opening().into_iter().map(Message::text).collect()
    }

    fn binary(&mut self, bytes: &[u8], received: Timestamp, link: &LinkState) {
        self.0.binary(bytes, received, link);
    }

    fn text(&mut self, text: &str, link: &LinkState) {
        self.0.text(text, link);
    }
}

/// Angel's handshake: the socket's URL with the four headers.
struct AngelDialer {
    name: &'static str,
    target: Target,
    api_key: String,
    client_code: String,
    credentials: Credentials,
}

impl AngelDialer {
    /// The handshake request: the URL and Angel's four headers.
    fn request(&self) -> Result<Request, ConnectError> {
        let mut request = self
            .target
            .root
            .as_str()
            .into_client_request()
            .map_err(|_| ConnectError::Other(format!("the {} URL does not parse", self.name)))?;
        let c = &self.credentials;
        let unfit =
            |what: &str| ConnectError::Other(format!("the {what} holds characters an HTTP header cannot carry"));
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", c.jwt.expose())).map_err(|_| unfit("JWT"))?;
        auth.set_sensitive(true);
        let mut feed = HeaderValue::from_str(c.feed_token.expose()).map_err(|_| unfit("feed token"))?;
        feed.set_sensitive(true);
        let api_key = HeaderValue::from_str(&self.api_key).map_err(|_| unfit("API key"))?;
        let client_code = HeaderValue::from_str(&self.client_code).map_err(|_| unfit("client code"))?;
        let headers = request.headers_mut();
        headers.insert("Authorization", auth);
        headers.insert("x-api-key", api_key);
        headers.insert("x-client-code", client_code);
        headers.insert("x-feed-token", feed);
        Ok(request)
    }
}

impl Dialer for AngelDialer {
    type Credentials = Credentials;

    fn set_credentials(&mut self, credentials: Credentials) {
        self.credentials = credentials;
    }

    async fn dial(&mut self, tls: &mut Tls) -> Result<Ws, ConnectError> {
        let request = self.request()?;
        crate::ws::open(&self.target, request, tls)
            .await
            .map_err(|e| ws_link::open_error(self.name, &self.target.host, e, true, |t| self.scrub(t)))
    }

    /// Error text with the credentials and key cut out, whatever layer produced it.
    fn scrub(&self, text: &str) -> String {
        let c = &self.credentials;
        let mut t = text.to_string();
        for secret in [c.jwt.expose(), c.feed_token.expose(), self.api_key.as_str()] {
            if !secret.is_empty() {
                t = t.replace(secret, "***");
            }
        }
        t
    }
}

/// An Angel socket's connection thread. Dropping it stops the thread and joins it.
pub(crate) struct Runner(ws_link::Runner<Credentials>);

impl Runner {
    /// Starts the connection thread, named `thread`.
    pub(crate) fn start<P: Protocol>(
        thread: &str,
        cfg: LinkConfig,
        state: Arc<LinkState>,
        protocol: P,
    ) -> std::io::Result<Runner> {
        let link = ws_link::LinkConfig {
            name: cfg.name,
            keepalive: Keepalive::Text { ping: "ping", pong: "pong" },
            ping_interval: cfg.ping_interval,
            stale_after: cfg.stale_after,
            backoff_min: cfg.backoff_min,
            backoff_max: cfg.backoff_max,
            connect_timeout: cfg.connect_timeout,
            auth_attempts: cfg.auth_attempts,
        };
        let dialer = AngelDialer {
            name: cfg.name,
            target: cfg.target,
            api_key: cfg.api_key,
            client_code: cfg.client_code,
            credentials: cfg.credentials,
        };
        Ok(Runner(ws_link::Runner::start(thread, link, state, dialer, Texts(protocol))?))
    }

    pub(crate) fn set_credentials(&self, jwt: Secret, feed_token: Secret) {
        self.0.set_credentials(Credentials { jwt, feed_token });
    }

    pub(crate) fn credentials_handle(&self) -> CredentialsHandle {
        CredentialsHandle(self.0.control())
    }
}
