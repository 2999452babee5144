//! The fake's SmartStream 2.0 side (brokers.md §2.11): a WebSocket endpoint on a listener of
//! its own. The handshake is authenticated by headers (`Authorization` with or without
//! `Bearer `, `x-api-key`, `x-client-code`, `x-feed-token`) or, as browsers do, by the
//! `clientCode`/`feedToken`/`apiKey` query; a failure is HTTP 401 with Angel's
//! `x-error-message` header. Clients' JSON subscribe/unsubscribe requests are checked and
//! recorded (E1001 for an invalid payload, E1002 past the subscription limit), text `ping`
//! gets `pong`, control pings are answered by the WebSocket layer, and tests push packets
//! ([`super::packets`]), raw bytes or text, or drop the connections. Angel's limit of three
//! connections per client code is not enforced.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::session::TokenState;
use super::{lock, Handshakes, Shared, State};

/// What a test sends to every open SmartStream connection.
#[derive(Clone, Debug)]
pub(super) enum StreamPush {
    Binary(Vec<u8>),
    Text(String),
    /// Close the TCP connection without a close frame.
    Drop,
}

/// One token×mode a connection is subscribed to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subscription {
    /// 1 LTP, 2 Quote, 3 SnapQuote, 4 Depth-20.
    pub mode: u8,
    pub exchange_type: u8,
    pub token: String,
}

/// A text message a SmartStream client sent, as received and understood.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamRequest {
    /// Which connection sent it (1 for the first accepted, and so on).
    pub connection: u64,
    pub text: String,
    /// 1 subscribe, 0 unsubscribe; `None` for a ping or an invalid payload.
    pub action: Option<u8>,
    pub mode: Option<u8>,
    pub correlation_id: Option<String>,
    /// `(exchangeType, token)` in the order sent.
    pub tokens: Vec<(u8, String)>,
    /// The error code the fake answered with (`E1001`, `E1002`), if any.
    pub error: Option<String>,
}

#[derive(Debug)]
pub(super) struct StreamState {
    pub(super) push: broadcast::Sender<StreamPush>,
    pub(super) requests: Vec<StreamRequest>,
    /// Per connection, as its requests left them.
    pub(super) subscriptions: BTreeMap<u64, BTreeSet<Subscription>>,
    pub(super) handshakes: Handshakes,
    /// Token×mode subscriptions one connection may hold.
    pub(super) limit: usize,
}

const EXCHANGE_TYPES: &[u64] = &[1, 2, 3, 4, 5, 7, 13];

/// A subscription request, parsed.
struct Parsed {
    action: u8,
    mode: u8,
    tokens: Vec<(u8, String)>,
}

fn parse(v: &Value) -> Option<Parsed> {
    let action = u8::try_from(v.get("action")?.as_u64()?).ok().filter(|a| *a <= 1)?;
    let params = v.get("params")?;
    let mode = u8::try_from(params.get("mode")?.as_u64()?).ok().filter(|m| (1..=4).contains(m))?;
    let mut tokens = Vec::new();
    for group in params.get("tokenList")?.as_array()? {
        let exchange = group.get("exchangeType")?.as_u64().filter(|e| EXCHANGE_TYPES.contains(e))?;
        let list = group.get("tokens")?.as_array().filter(|l| !l.is_empty())?;
        for t in list {
            tokens.push((u8::try_from(exchange).ok()?, t.as_str().filter(|t| !t.is_empty())?.to_string()));
        }
    }
    // Depth-20: NSE cash only, at most 50 tokens.
    if tokens.is_empty() || (mode == 4 && (tokens.len() > 50 || tokens.iter().any(|(e, _)| *e != 1))) {
        return None;
    }
    Some(Parsed { action, mode, tokens })
}

fn error_reply(correlation_id: &str, code: &str, message: &str) -> String {
    json!({"correlationID": correlation_id, "errorCode": code, "errorMessage": message}).to_string()
}

impl StreamState {
    pub(super) fn new() -> StreamState {
        StreamState {
            push: broadcast::channel(4096).0,
            requests: Vec::new(),
            subscriptions: BTreeMap::new(),
            handshakes: Handshakes::default(),
            limit: 1000,
        }
    }

    /// Sends to every open connection; how many there were.
    pub(super) fn send(&self, p: StreamPush) -> usize {
        self.push.send(p).unwrap_or(0)
    }

    /// Records a client's text message and applies it; the reply to send, if any.
    fn receive(&mut self, connection: u64, text: &str) -> Option<String> {
        let mut request = StreamRequest {
            connection,
            text: text.to_string(),
            action: None,
            mode: None,
            correlation_id: None,
            tokens: Vec::new(),
            error: None,
        };
        if text == "ping" {
            self.requests.push(request);
            return Some("pong".into());
        }
        let value: Option<Value> = serde_json::from_str(text).ok();
        let correlation = value.as_ref().and_then(|v| v.get("correlationID")).and_then(Value::as_str);
        request.correlation_id = correlation.map(str::to_string);
        let correlation = correlation.unwrap_or_default().to_string();
        let parsed = value.as_ref().and_then(parse).filter(|_| correlation.chars().count() <= 10);
        let reply = match parsed {
            None => {
                request.error = Some("E1001".into());
                Some(error_reply(&correlation, "E1001", "Invalid Request Payload."))
            }
            Some(p) => {
                request.action = Some(p.action);
                request.mode = Some(p.mode);
                request.tokens = p.tokens.clone();
                let subs = self.subscriptions.entry(connection).or_default();
                let wanted = p.tokens.into_iter().map(|(exchange_type, token)| Subscription {
                    mode: p.mode,
                    exchange_type,
                    token,
                });
                if p.action == 0 {
                    wanted.for_each(|s| {
                        subs.remove(&s);
                    });
                    None
                } else {
                    let mut next = subs.clone();
                    next.extend(wanted);
                    if next.len() > self.limit {
                        request.error = Some("E1002".into());
                        Some(error_reply(&correlation, "E1002", "Invalid Request. Subscription Limit Exceeded."))
                    } else {
                        *subs = next;
                        None
                    }
                }
            }
        };
        self.requests.push(request);
        reply
    }
}

pub(super) fn router(state: Shared) -> Router {
    Router::new().fallback(upgrade).with_state(state)
}

/// Why a handshake is refused, in the words of Angel's `x-error-message`; `None` when it is
/// accepted.
fn refusal(s: &State, headers: &HeaderMap, query: Option<&str>) -> Option<&'static str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or_default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default()).unwrap_or_default();
    let param = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let (client_code, api_key, feed) = if headers.contains_key("authorization") {
        let auth = header("authorization");
        let jwt = auth.strip_prefix("Bearer ").unwrap_or(auth).trim();
        let Some(owner) = s.sessions.live_jwt(jwt) else { return Some("Invalid Header - Invalid Auth token") };
        if header("x-client-code") != owner.client_code {
            return Some("Invalid Header - Invalid Client Code");
        }
        (owner.client_code, header("x-api-key").to_string(), header("x-feed-token").to_string())
    } else {
        // The browser variant: no JWT, the rest in the query.
        let client_code = param("clientCode");
        if !s.users.contains_key(&client_code) {
            return Some("Invalid Header - Invalid Client Code");
        }
        (client_code, param("apiKey"), param("feedToken"))
    };
    if s.users.get(&client_code).is_none_or(|u| u.api_key != api_key) {
        return Some("Invalid Header - Invalid API Key");
    }
    match s.sessions.feed_token(&feed) {
        Some((owner, TokenState::Live)) if owner.client_code == client_code => None,
        _ => Some("Invalid Header - Invalid Feed Token"),
    }
}

async fn upgrade(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    let mut s = lock(&state);
    if let Some(message) = refusal(&s, &headers, query.as_deref()) {
        s.stream.handshakes.refused += 1;
        return (StatusCode::UNAUTHORIZED, [("x-error-message", message)], message).into_response();
    }
    s.stream.handshakes.accepted += 1;
    s.stream.handshakes.open += 1;
    let connection = s.stream.handshakes.accepted;
    let pushes = s.stream.push.subscribe();
    drop(s);
    ws.on_upgrade(move |socket| async move {
        serve(socket, &state, connection, pushes).await;
        lock(&state).stream.handshakes.open -= 1;
    })
}

async fn serve(mut socket: WebSocket, state: &Shared, connection: u64, mut pushes: broadcast::Receiver<StreamPush>) {
    loop {
        tokio::select! {
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) => {
                    let reply = lock(state).stream.receive(connection, t.as_str());
                    if let Some(reply) = reply {
                        if socket.send(Message::Text(reply.into())).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                // Control pings are answered by the WebSocket layer.
                Some(Ok(_)) => {}
            },
            p = pushes.recv() => {
                let sent = match p {
                    Ok(StreamPush::Binary(b)) => socket.send(Message::Binary(b.into())).await,
                    Ok(StreamPush::Text(t)) => socket.send(Message::Text(t.into())).await,
                    Ok(StreamPush::Drop) | Err(broadcast::error::RecvError::Closed) => return,
                    Err(broadcast::error::RecvError::Lagged(_)) => Ok(()),
                };
                if sent.is_err() {
                    return;
                }
            },
        }
    }
}
