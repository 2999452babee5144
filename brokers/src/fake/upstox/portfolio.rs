//! The portfolio stream (brokers.md §3.10): a connection opened with a one-time URL (see
//! `feed.rs`) gets, as JSON text, an order update (`update_type: "order"`) for every status
//! change of its user's orders, when it asked for `order` updates (the default). The fake sends
//! no position, holding or GTT updates. Clients need send nothing; what they send is ignored.
//! Tests can push any text or drop the connections.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::broadcast;

use super::{lock, Handshakes, Shared, State};

/// What goes to the open portfolio-stream connections.
#[derive(Clone, Debug)]
pub(super) enum PortfolioPush {
    /// An order update for the connections of this user.
    Order(String, String),
    /// Text for every connection.
    Text(String),
    /// Close the TCP connection without a close frame.
    Drop,
}

#[derive(Debug)]
pub(super) struct PortfolioState {
    pub(super) push: broadcast::Sender<PortfolioPush>,
    pub(super) handshakes: Handshakes,
}

impl PortfolioState {
    pub(super) fn new() -> PortfolioState {
        PortfolioState { push: broadcast::channel(4096).0, handshakes: Handshakes::default() }
    }

    /// Sends to every open connection; how many there were.
    pub(super) fn send(&self, p: PortfolioPush) -> usize {
        self.push.send(p).unwrap_or(0)
    }
}

/// The update types of `update_types=order,position` (`order` when none is given).
pub(super) fn update_types(raw: Option<&str>) -> Vec<String> {
    let kinds: Vec<String> =
        raw.unwrap_or_default().split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_string).collect();
    if kinds.is_empty() {
        vec!["order".to_string()]
    } else {
        kinds
    }
}

/// Accepts a handshake whose one-time URL was for `user_id`'s portfolio stream.
pub(super) fn accept(
    s: &mut State,
    state: &Shared,
    user_id: String,
    kinds: Vec<String>,
    ws: WebSocketUpgrade,
) -> Response {
    s.portfolio.handshakes.accepted += 1;
    s.portfolio.handshakes.open += 1;
    let pushes = s.portfolio.push.subscribe();
    let state = state.clone();
    ws.on_upgrade(move |socket| async move {
        serve(socket, &user_id, kinds.iter().any(|k| k == "order"), pushes).await;
        lock(&state).portfolio.handshakes.open -= 1;
    })
}

async fn serve(mut socket: WebSocket, user_id: &str, orders: bool, mut pushes: broadcast::Receiver<PortfolioPush>) {
    loop {
        tokio::select! {
            m = socket.recv() => match m {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                // Anything else is ignored; control pings are answered by the WebSocket layer.
                Some(Ok(_)) => {}
            },
            p = pushes.recv() => {
                let sent = match p {
                    Ok(PortfolioPush::Order(owner, text)) if orders && owner == user_id => {
                        socket.send(Message::Text(text.into())).await
                    }
                    Ok(PortfolioPush::Order(..)) | Err(broadcast::error::RecvError::Lagged(_)) => Ok(()),
                    Ok(PortfolioPush::Text(t)) => socket.send(Message::Text(t.into())).await,
                    Ok(PortfolioPush::Drop) | Err(broadcast::error::RecvError::Closed) => return,
                };
                if sent.is_err() {
                    return;
                }
            },
        }
    }
}
