//! The fake's KiteTicker side: a WebSocket endpoint on a listener of its own that checks the
//! `api_key`/`access_token` query like Kite (HTTP 403 on a wrong or expired token), records
//! the `subscribe`/`unsubscribe`/`mode` requests it receives, sends a one-byte heartbeat every
//! second like Kite, and sends whatever a test pushes: frames built from packets with the
//! encoder below, raw bytes (damaged frames), text (order updates, errors). A test can also
//! drop every connection, or make them half-open: silent without closing, as a connection
//! whose far end vanished looks to the client.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::State;
use crate::kite::ticker::{divisor, Depth, DepthLevel, Mode, Ohlc, Packet};

type Shared = Arc<Mutex<State>>;

/// What a test sends to every open ticker connection.
#[derive(Clone, Debug)]
pub(super) enum Push {
    Binary(Vec<u8>),
    Text(String),
    /// Close the TCP connection without a close frame.
    Drop,
    /// Stop reading and sending, keep the connection open.
    HalfOpen,
}

/// A request a ticker client sent, as received.
#[derive(Clone, Debug, PartialEq)]
pub struct TickerRequest {
    /// Which connection sent it (1 for the first accepted, and so on).
    pub connection: u64,
    /// `subscribe`, `unsubscribe`, `mode`; `None` for text that is not such a request.
    pub action: Option<String>,
    pub value: Value,
    pub text: String,
}

/// Ticker handshakes so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickerHandshakes {
    pub accepted: u64,
    /// Refused with 403 (a wrong, unknown or expired token).
    pub refused: u64,
    /// Connections open now (half-open ones included).
    pub open: u64,
}

#[derive(Debug)]
pub(super) struct TickerState {
    pub(super) push: broadcast::Sender<Push>,
    pub(super) requests: Vec<TickerRequest>,
    /// Token → mode, per connection, as its requests left them.
    pub(super) subscriptions: BTreeMap<u64, BTreeMap<u32, String>>,
    pub(super) handshakes: TickerHandshakes,
    /// Connections open now, by number.
    pub(super) open: std::collections::BTreeSet<u64>,
    pub(super) heartbeat: Option<Duration>,
    /// How many entries of the order-update log were pushed already.
    pub(super) updates_pushed: usize,
}

impl TickerState {
    pub(super) fn new() -> TickerState {
        TickerState {
            push: broadcast::channel(4096).0,
            requests: Vec::new(),
            subscriptions: BTreeMap::new(),
            handshakes: TickerHandshakes::default(),
            open: std::collections::BTreeSet::new(),
            heartbeat: Some(Duration::from_secs(1)),
            updates_pushed: 0,
        }
    }

    /// Sends to every open connection; how many there were.
    pub(super) fn send(&self, p: Push) -> usize {
        self.push.send(p).unwrap_or(0)
    }

    fn record(&mut self, connection: u64, text: &str) {
        let parsed: Option<Value> = serde_json::from_str(text).ok();
        let action = parsed.as_ref().and_then(|v| v.get("a")).and_then(Value::as_str).map(str::to_string);
        let value = parsed.as_ref().and_then(|v| v.get("v")).cloned().unwrap_or(Value::Null);
        let tokens = |v: &Value| -> Vec<u32> {
            v.as_array()
                .map(|a| a.iter().filter_map(|t| t.as_u64().and_then(|t| u32::try_from(t).ok())).collect())
                .unwrap_or_default()
        };
        let subs = self.subscriptions.entry(connection).or_default();
        match action.as_deref() {
            Some("subscribe") => {
                for t in tokens(&value) {
                    subs.entry(t).or_insert_with(|| "quote".to_string());
                }
            }
            Some("unsubscribe") => {
                for t in tokens(&value) {
                    subs.remove(&t);
                }
            }
            Some("mode") => {
                if let (Some(mode), Some(list)) = (value.get(0).and_then(Value::as_str), value.get(1)) {
                    for t in tokens(list) {
                        if let Some(m) = subs.get_mut(&t) {
                            *m = mode.to_string();
                        }
                    }
                }
            }
            _ => {}
        }
        self.requests.push(TickerRequest { connection, action, value, text: text.to_string() });
    }
}

pub(super) fn router(state: Shared) -> Router {
    Router::new().fallback(upgrade).with_state(state)
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn upgrade(AxState(state): AxState<Shared>, RawQuery(query): RawQuery, ws: WebSocketUpgrade) -> Response {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let field = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or_default();
    let (api_key, access_token) = (field("api_key"), field("access_token"));
    let mut s = lock(&state);
    let live = s.sessions.get(access_token).is_some_and(|session| !session.expired && session.api_key == api_key);
    if !live {
        s.ticker.handshakes.refused += 1;
        let body = json!({"status": "error", "error_type": "TokenException",
            "message": "Incorrect `api_key` or `access_token`.", "data": null});
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    s.ticker.handshakes.accepted += 1;
    s.ticker.handshakes.open += 1;
    let connection = s.ticker.handshakes.accepted;
    s.ticker.open.insert(connection);
    let pushes = s.ticker.push.subscribe();
    let heartbeat = s.ticker.heartbeat;
    drop(s);
    ws.on_upgrade(move |socket| async move {
        serve(socket, &state, connection, pushes, heartbeat).await;
        let mut s = lock(&state);
        s.ticker.handshakes.open -= 1;
        s.ticker.open.remove(&connection);
    })
}

async fn serve(
    mut socket: WebSocket,
    state: &Shared,
    connection: u64,
    mut pushes: broadcast::Receiver<Push>,
    heartbeat: Option<Duration>,
) {
    let mut beat = tokio::time::interval(heartbeat.unwrap_or(Duration::from_secs(3600)));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) => lock(state).ticker.record(connection, t.as_str()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                // Pings are answered by the WebSocket layer.
                Some(Ok(_)) => {}
            },
            p = pushes.recv() => {
                let sent = match p {
                    Ok(Push::Binary(b)) => socket.send(Message::Binary(b.into())).await,
                    Ok(Push::Text(t)) => socket.send(Message::Text(t.into())).await,
                    Ok(Push::Drop) | Err(broadcast::error::RecvError::Closed) => return,
                    // Hold the socket, silent, until dropped or the server stops.
                    Ok(Push::HalfOpen) => loop {
                        if let Ok(Push::Drop) | Err(broadcast::error::RecvError::Closed) = pushes.recv().await {
                            return;
                        }
                    },
                    Err(broadcast::error::RecvError::Lagged(_)) => Ok(()),
                };
                if sent.is_err() {
                    return;
                }
            },
            _ = beat.tick(), if heartbeat.is_some() => {
                if socket.send(Message::Binary(vec![0u8].into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

// ---- The packet encoder: the inverse of `kite::ticker::decode_packet`. ----

fn raw(price: f64, token: u32) -> u32 {
    let r = (price * divisor(token)).round();
    if r.is_finite() && r > 0.0 {
        r.min(u32::MAX as f64) as u32
    } else {
        0
    }
}

/// One packet in KiteTicker's binary layout (8, 28, 32, 44 or 184 bytes, by its mode and
/// whether it has the index layout). Prices are multiplied back by the token's divisor and rounded;
/// fields the packet's mode does not carry are left out.
pub fn encode_packet(p: &Packet) -> Vec<u8> {
    let t = p.instrument_token;
    let mut out = Vec::with_capacity(184);
    let mut put = |v: u32| out.extend_from_slice(&v.to_be_bytes());
    put(t);
    put(raw(p.last_price, t));
    if p.mode == Mode::Ltp {
        return out;
    }
    let ohlc = p.ohlc.unwrap_or(Ohlc { open: 0.0, high: 0.0, low: 0.0, close: 0.0 });
    // The layout follows the decoder, which knows a packet by its length alone: the index
    // layout (28/32 bytes) is the one without a traded quantity, whatever the token's segment.
    if p.last_traded_quantity.is_none() {
        for v in [ohlc.high, ohlc.low, ohlc.open, ohlc.close] {
            put(raw(v, t));
        }
        // The change field (the client recomputes it).
        put(0);
        if p.mode == Mode::Full {
            put(p.exchange_timestamp.unwrap_or(0));
        }
        return out;
    }
    put(p.last_traded_quantity.unwrap_or(0));
    put(raw(p.average_traded_price.unwrap_or(0.0), t));
    put(p.volume_traded.unwrap_or(0));
    put(p.total_buy_quantity.unwrap_or(0));
    put(p.total_sell_quantity.unwrap_or(0));
    for v in [ohlc.open, ohlc.high, ohlc.low, ohlc.close] {
        put(raw(v, t));
    }
    if p.mode == Mode::Quote {
        return out;
    }
    for v in [p.last_trade_time, p.oi, p.oi_day_high, p.oi_day_low, p.exchange_timestamp] {
        put(v.unwrap_or(0));
    }
    let empty = DepthLevel { quantity: 0, price: 0.0, orders: 0 };
    let depth = p.depth.clone().unwrap_or(Depth { buy: Vec::new(), sell: Vec::new() });
    for side in [&depth.buy, &depth.sell] {
        for k in 0..5 {
            let l = side.get(k).copied().unwrap_or(empty);
            out.extend_from_slice(&l.quantity.to_be_bytes());
            out.extend_from_slice(&raw(l.price, t).to_be_bytes());
            out.extend_from_slice(&l.orders.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        }
    }
    out
}

/// A frame of already encoded packets: the count, then each packet with its length.
pub fn encode_frame(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + packets.iter().map(|p| p.len() + 2).sum::<usize>());
    out.extend_from_slice(&(packets.len() as u16).to_be_bytes());
    for p in packets {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// A frame of packets.
pub fn frame_of(packets: &[Packet]) -> Vec<u8> {
    encode_frame(&packets.iter().map(encode_packet).collect::<Vec<_>>())
}

fn blank(token: u32, mode: Mode, last_price: f64) -> Packet {
    Packet::bare(token & 0xFF != 9, mode, token, last_price)
}

/// An LTP packet as the decoder returns it.
pub fn ltp_packet(token: u32, last_price: f64) -> Packet {
    blank(token, Mode::Ltp, last_price)
}

/// A quote packet of a tradable instrument: the last trade (`qty` at `last_price`, the day's
/// volume so far) with OHLC all at `last_price`.
pub fn quote_packet(token: u32, last_price: f64, qty: u32, volume: u32) -> Packet {
    let mut p = blank(token, Mode::Quote, last_price);
    p.last_traded_quantity = Some(qty);
    p.average_traded_price = Some(last_price);
    p.volume_traded = Some(volume);
    p.total_buy_quantity = Some(0);
    p.total_sell_quantity = Some(0);
    p.ohlc = Some(Ohlc { open: last_price, high: last_price, low: last_price, close: last_price });
    p.change = Some(0.0);
    p
}

/// A full packet: a quote packet plus trade and exchange times (epoch seconds) and depth
/// (`(quantity, price, orders)`, best first, up to five a side).
pub fn full_packet(
    token: u32,
    last_price: f64,
    qty: u32,
    volume: u32,
    times: (u32, u32),
    bids: &[(u32, f64, u16)],
    asks: &[(u32, f64, u16)],
) -> Packet {
    let mut p = quote_packet(token, last_price, qty, volume);
    p.mode = Mode::Full;
    p.last_trade_time = Some(times.0);
    p.exchange_timestamp = Some(times.1);
    p.oi = Some(0);
    p.oi_day_high = Some(0);
    p.oi_day_low = Some(0);
    let side = |levels: &[(u32, f64, u16)]| -> Vec<DepthLevel> {
        (0..5)
            .map(|k| {
                levels.get(k).map_or(DepthLevel { quantity: 0, price: 0.0, orders: 0 }, |&(quantity, price, orders)| {
                    DepthLevel { quantity, price, orders }
                })
            })
            .collect()
    };
    p.depth = Some(Depth { buy: side(bids), sell: side(asks) });
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kite::ticker::decode_frame;

    #[test]
    fn packets_round_trip_through_the_decoder() {
        let packets = vec![
            ltp_packet(408065, 1573.15),
            ltp_packet(412675, 72.755),
            quote_packet(408065, 1573.15, 1, 1_175_986),
            full_packet(
                738561,
                2500.0,
                10,
                500_000,
                (1_700_000_000, 1_700_000_001),
                &[(100, 2499.95, 2)],
                &[(200, 2500.05, 3), (204, 2500.25, 7)],
            ),
        ];
        let frame = decode_frame(&frame_of(&packets)).expect("decodes");
        assert_eq!(frame.skipped, 0);
        assert_eq!(frame.packets, packets);
        assert_eq!(frame_of(&packets[..1]), dalal_hex("0001000800063a0100026683"));
    }

    #[test]
    fn the_official_clients_frames_re_encode_to_what_they_decode_to() {
        let frames = include_str!("../../../tests/fixtures/kite_ticker_frames.hex");
        let mut n = 0;
        for hex in frames.lines() {
            let Ok(decoded) = decode_frame(&dalal_hex(hex)) else { continue };
            let again = decode_frame(&frame_of(&decoded.packets)).expect("re-encoded frame decodes");
            assert_eq!(again.packets, decoded.packets, "{hex}");
            n += decoded.packets.len();
        }
        assert!(n > 100, "{n} packets compared");
    }

    fn dalal_hex(s: &str) -> Vec<u8> {
        crate::hex::decode(s).expect("hex")
    }
}
