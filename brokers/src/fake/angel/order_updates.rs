//! The fake's order-update WebSocket (brokers.md §2.12), on a listener of its own: the
//! handshake needs `Authorization: Bearer <jwt>` of a live session (the bare JWT is accepted
//! too; HTTP 401 for an unknown or logged-out token, 403 for an expired one). The server
//! greets with an AB00 message whose `orderData` is all empty, then sends one JSON text
//! message per status change of the user's orders (AB01…AB11, `orderData` being the order
//! object with numeric prices), as the book records them. Text `ping` gets
//! `pong`; tests can push any text or drop the connections.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::book::FakeOrder;
use super::session::TokenState;
use super::{lock, Handshakes, Shared};

/// What goes to the open order-update connections.
#[derive(Clone, Debug)]
pub(super) enum OrderPush {
    /// An order event for the connections of this client code.
    Event(String, String),
    /// Text for every connection.
    Text(String),
    /// Close the TCP connection without a close frame.
    Drop,
}

#[derive(Debug)]
pub(super) struct OrderWsState {
    pub(super) push: broadcast::Sender<OrderPush>,
    pub(super) requests: Vec<String>,
    pub(super) handshakes: Handshakes,
}

impl OrderWsState {
    pub(super) fn new() -> OrderWsState {
        OrderWsState { push: broadcast::channel(4096).0, requests: Vec::new(), handshakes: Handshakes::default() }
    }

    /// Sends to every open connection; how many there were.
    pub(super) fn send(&self, p: OrderPush) -> usize {
        self.push.send(p).unwrap_or(0)
    }
}

/// The AB00 message a connection starts with: `orderData` with every field empty or zero.
fn greeting(client_code: &str) -> String {
    let blank = match FakeOrder::default().to_json(true) {
        Value::Object(fields) => Value::Object(
            fields.into_iter().map(|(k, v)| (k, if v.is_number() { json!(0) } else { json!("") })).collect(),
        ),
        other => other,
    };
    json!({
        "user-id": client_code,
        "status-code": "200",
        "order-status": "AB00",
        "error-message": "",
        "orderData": blank,
    })
    .to_string()
}

pub(super) fn router(state: Shared) -> Router {
    Router::new().fallback(upgrade).with_state(state)
}

async fn upgrade(AxState(state): AxState<Shared>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().trim();
    let jwt = auth.strip_prefix("Bearer ").unwrap_or(auth).trim();
    let mut s = lock(&state);
    let refused = match s.sessions.jwt(jwt) {
        Some((owner, TokenState::Live)) => Ok(owner.client_code),
        Some((_, TokenState::Expired)) => Err((StatusCode::FORBIDDEN, "Token expired")),
        _ => Err((StatusCode::UNAUTHORIZED, "Invalid token")),
    };
    let client_code = match refused {
        Ok(c) => c,
        Err((status, message)) => {
            s.order_ws.handshakes.refused += 1;
            return (status, [("x-error-message", message)], message).into_response();
        }
    };
    s.order_ws.handshakes.accepted += 1;
    s.order_ws.handshakes.open += 1;
    // Subscribed before the greeting goes out: a client that has read the greeting misses no
    // event after it.
    let pushes = s.order_ws.push.subscribe();
    drop(s);
    ws.on_upgrade(move |socket| async move {
        serve(socket, &state, &client_code, pushes).await;
        lock(&state).order_ws.handshakes.open -= 1;
    })
}

async fn serve(mut socket: WebSocket, state: &Shared, client_code: &str, mut pushes: broadcast::Receiver<OrderPush>) {
    if socket.send(Message::Text(greeting(client_code).into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) => {
                    lock(state).order_ws.requests.push(t.as_str().to_string());
                    if t.as_str() == "ping" && socket.send(Message::Text("pong".into())).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                // Control pings are answered by the WebSocket layer.
                Some(Ok(_)) => {}
            },
            p = pushes.recv() => {
                let sent = match p {
                    Ok(OrderPush::Event(owner, text)) if owner == client_code => socket.send(Message::Text(text.into())).await,
                    Ok(OrderPush::Event(..)) | Err(broadcast::error::RecvError::Lagged(_)) => Ok(()),
                    Ok(OrderPush::Text(t)) => socket.send(Message::Text(t.into())).await,
                    Ok(OrderPush::Drop) | Err(broadcast::error::RecvError::Closed) => return,
                };
                if sent.is_err() {
                    return;
                }
            },
        }
    }
}
