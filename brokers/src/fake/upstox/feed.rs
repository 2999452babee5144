//! The fake's sockets, on a listener of their own: the one-time URLs the `authorize`
//! endpoints (and the 302s of the sockets' documented paths) hand out, and the Market Data
//! Feed v3 behind them (brokers.md §3.9); the portfolio stream's connections are served by
//! `portfolio.rs`.
//!
//! A URL works once: its `code` is spent by the handshake, and a spent or unknown one is
//! refused with HTTP 403 (the fake's choice; Upstox's answer is not documented).
//!
//! The feed sends a `market_info` message first (every segment `NORMAL_OPEN` unless a test
//! set it), then, after each `sub`, an `initial_feed` snapshot of the keys subscribed, built
//! from the fake's instruments in the subscription's mode; `change_mode` answers with a
//! snapshot in the new mode too (the fake's choice), `unsub` with nothing. Requests are JSON
//! in **binary** frames; every frame a client sends is recorded, and a text frame or a request
//! the fake cannot read is recorded with an error and otherwise ignored. Tests push
//! `live_feed` messages (their own protobuf, or [`super::FakeUpstox::feed_tick`] built from an
//! instrument for the connections subscribed to it), raw bytes, text, pings, or drop the
//! connections.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State as AxState};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use prost::Message as _;
use serde_json::Value;
use tokio::sync::broadcast;

use super::book::Instrument;
use super::{lock, portfolio, Handshakes, Shared, State};
use crate::upstox::feed::proto::{
    feed::FeedUnion, full_feed::FullFeedUnion, Feed, FeedResponse, FirstLevelWithGreeks, FullFeed, IndexFullFeed, Ltpc,
    MarketFullFeed, MarketInfo, MarketLevel, MarketOhlc, MarketStatus, Ohlc, OptionGreeks, Quote, RequestMode, Type,
};

/// What a test sends to every open feed connection.
#[derive(Clone, Debug)]
pub(super) enum FeedPush {
    Binary(Vec<u8>),
    Text(String),
    Ping(Vec<u8>),
    /// A `live_feed` of this instrument, for the connections subscribed to it.
    Tick(String),
    /// Close the TCP connection without a close frame.
    Drop,
}

/// One instrument a connection is subscribed to, and in which mode (`ltpc`, `full`,
/// `option_greeks`, `full_d30`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subscription {
    pub instrument_key: String,
    pub mode: String,
}

/// A frame a feed client sent, as received and understood.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedRequest {
    /// Which connection sent it (1 for the first accepted, and so on).
    pub connection: u64,
    /// Whether it came as a binary frame, as the docs require.
    pub binary: bool,
    pub text: String,
    pub guid: Option<String>,
    /// `sub`, `unsub`, `change_mode`; `None` when the fake could not read the request.
    pub method: Option<String>,
    /// As sent (a `sub` without one means `ltpc`).
    pub mode: Option<String>,
    pub instrument_keys: Vec<String>,
    /// Why the fake ignored it, if it did.
    pub error: Option<String>,
}

/// What a one-time URL opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum TicketKind {
    Market,
    /// The portfolio stream, with the update types asked for.
    Portfolio(Vec<String>),
}

#[derive(Clone, Debug)]
struct Ticket {
    user_id: String,
    kind: TicketKind,
}

#[derive(Debug)]
pub(super) struct FeedState {
    push: broadcast::Sender<FeedPush>,
    pub(super) requests: Vec<FeedRequest>,
    /// Per connection, as its requests left them.
    pub(super) subscriptions: BTreeMap<u64, BTreeSet<Subscription>>,
    pub(super) handshakes: Handshakes,
    /// Segment → `MarketStatus` number, over the default `NORMAL_OPEN`.
    pub(super) segment_status: BTreeMap<String, i32>,
    /// Instruments one connection may subscribe.
    pub(super) limit: usize,
    /// Unspent one-time codes.
    tickets: BTreeMap<String, Ticket>,
    issued: u64,
}

const MODES: &[&str] = &["ltpc", "full", "option_greeks", "full_d30"];
const SEGMENTS: &[&str] =
    &["NSE_EQ", "NSE_FO", "NSE_INDEX", "BSE_EQ", "BSE_FO", "BSE_INDEX", "NCD_FO", "BCD_FO", "MCX_FO", "NSE_COM"];

impl FeedState {
    pub(super) fn new() -> FeedState {
        FeedState {
            push: broadcast::channel(4096).0,
            requests: Vec::new(),
            subscriptions: BTreeMap::new(),
            handshakes: Handshakes::default(),
            segment_status: BTreeMap::new(),
            limit: 5000,
            tickets: BTreeMap::new(),
            issued: 0,
        }
    }

    /// Sends to every open connection; how many there were.
    pub(super) fn send(&self, p: FeedPush) -> usize {
        self.push.send(p).unwrap_or(0)
    }
}

/// A one-time socket URL for `user_id`, as `authorize` returns it.
pub(super) fn ticket(s: &mut State, user_id: &str, kind: TicketKind) -> String {
    let code: [u8; 16] = rand::random();
    let code = crate::hex::encode(&code);
    s.feed.issued += 1;
    let path = match kind {
        TicketKind::Market => "market-data-feeder/v3/upstox-developer-api/feeds",
        TicketKind::Portfolio(_) => "portfolio-stream-feeder/v2/upstox-developer-api/feeds",
    };
    let url = format!("{}/{path}?requestId=fake-{}&code={code}", s.ws_root, s.feed.issued);
    s.feed.tickets.insert(code, Ticket { user_id: user_id.to_string(), kind });
    url
}

pub(super) fn socket_router(state: Shared) -> Router {
    Router::new().fallback(upgrade).with_state(state)
}

async fn upgrade(
    AxState(state): AxState<Shared>,
    uri: Uri,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let code = pairs.iter().find(|(k, _)| k == "code").map(|(_, v)| v.as_str()).unwrap_or_default();
    let mut s = lock(&state);
    let Some(ticket) = s.feed.tickets.remove(code) else {
        if uri.path().starts_with("/portfolio") {
            s.portfolio.handshakes.refused += 1;
        } else {
            s.feed.handshakes.refused += 1;
        }
        return (StatusCode::FORBIDDEN, "Forbidden").into_response();
    };
    match ticket.kind {
        TicketKind::Portfolio(kinds) => portfolio::accept(&mut s, &state, ticket.user_id, kinds, ws),
        TicketKind::Market => {
            s.feed.handshakes.accepted += 1;
            s.feed.handshakes.open += 1;
            let connection = s.feed.handshakes.accepted;
            // Subscribed before the first message goes out: nothing pushed after it is missed.
            let pushes = s.feed.push.subscribe();
            let hello = market_info(&s).encode_to_vec();
            drop(s);
            let state = state.clone();
            ws.on_upgrade(move |socket| async move {
                serve(socket, &state, connection, hello, pushes).await;
                lock(&state).feed.handshakes.open -= 1;
            })
        }
    }
}

async fn serve(
    mut socket: WebSocket,
    state: &Shared,
    connection: u64,
    hello: Vec<u8>,
    mut pushes: broadcast::Receiver<FeedPush>,
) {
    if socket.send(Message::Binary(hello.into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            m = socket.recv() => {
                let replies = match m {
                    Some(Ok(Message::Binary(b))) => receive(&mut lock(state), connection, true, &b),
                    Some(Ok(Message::Text(t))) => receive(&mut lock(state), connection, false, t.as_bytes()),
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                    // Control pings are answered by the WebSocket layer.
                    Some(Ok(_)) => Vec::new(),
                };
                for r in replies {
                    if socket.send(Message::Binary(r.into())).await.is_err() {
                        return;
                    }
                }
            },
            p = pushes.recv() => {
                let sent = match p {
                    Ok(FeedPush::Binary(b)) => socket.send(Message::Binary(b.into())).await,
                    Ok(FeedPush::Text(t)) => socket.send(Message::Text(t.into())).await,
                    Ok(FeedPush::Ping(p)) => socket.send(Message::Ping(p.into())).await,
                    Ok(FeedPush::Tick(key)) => {
                        let frame = live_feed(&lock(state), connection, &key);
                        match frame {
                            Some(frame) => socket.send(Message::Binary(frame.into())).await,
                            None => Ok(()),
                        }
                    }
                    Ok(FeedPush::Drop) | Err(broadcast::error::RecvError::Closed) => return,
                    Err(broadcast::error::RecvError::Lagged(_)) => Ok(()),
                };
                if sent.is_err() {
                    return;
                }
            },
        }
    }
}

/// A client request, read.
struct Parsed {
    guid: Option<String>,
    method: String,
    mode: Option<String>,
    keys: Vec<String>,
}

fn parse(v: &Value) -> Result<Parsed, String> {
    let method = v.get("method").and_then(Value::as_str).unwrap_or_default();
    if !["sub", "unsub", "change_mode"].contains(&method) {
        return Err(format!("unknown method {method:?}"));
    }
    let data = v.get("data").ok_or("no data")?;
    let keys = data
        .get("instrumentKeys")
        .and_then(Value::as_array)
        .filter(|k| !k.is_empty())
        .ok_or("no instrumentKeys")?
        .iter()
        .map(|k| k.as_str().filter(|k| k.split_once('|').is_some_and(|(s, id)| !s.is_empty() && !id.is_empty())))
        .map(|k| k.map(str::to_string).ok_or("an instrument key is not SEGMENT|id"))
        .collect::<Result<Vec<_>, _>>()?;
    let mode = data.get("mode").and_then(Value::as_str).map(str::to_string);
    if mode.as_deref().is_some_and(|m| !MODES.contains(&m)) {
        return Err(format!("unknown mode {mode:?}"));
    }
    if method == "change_mode" && mode.is_none() {
        return Err("change_mode without a mode".into());
    }
    Ok(Parsed {
        guid: v.get("guid").and_then(Value::as_str).map(str::to_string),
        method: method.to_string(),
        mode,
        keys,
    })
}

/// Records a client's frame and applies it; the frames to answer with.
fn receive(s: &mut State, connection: u64, binary: bool, bytes: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let mut request = FeedRequest {
        connection,
        binary,
        text,
        guid: None,
        method: None,
        mode: None,
        instrument_keys: Vec::new(),
        error: None,
    };
    let parsed = if binary {
        serde_json::from_slice::<Value>(bytes).map_err(|e| format!("not JSON: {e}")).and_then(|v| parse(&v))
    } else {
        Err("a text frame: requests are binary frames".to_string())
    };
    let p = match parsed {
        Ok(p) => p,
        Err(e) => {
            request.error = Some(e);
            s.feed.requests.push(request);
            return Vec::new();
        }
    };
    request.guid = p.guid.clone();
    request.method = Some(p.method.clone());
    request.mode = p.mode.clone();
    request.instrument_keys = p.keys.clone();
    let limit = s.feed.limit;
    let subs = s.feed.subscriptions.entry(connection).or_default();
    let mut next = subs.clone();
    next.retain(|sub| !p.keys.contains(&sub.instrument_key));
    let snapshot: Vec<Subscription> = match p.method.as_str() {
        "sub" => {
            let mode = p.mode.unwrap_or_else(|| "ltpc".into());
            p.keys.iter().map(|k| Subscription { instrument_key: k.clone(), mode: mode.clone() }).collect()
        }
        "change_mode" => {
            let mode = p.mode.unwrap_or_default();
            let held: Vec<&String> = subs.iter().map(|s| &s.instrument_key).filter(|k| p.keys.contains(k)).collect();
            held.into_iter().map(|k| Subscription { instrument_key: k.clone(), mode: mode.clone() }).collect()
        }
        _ => Vec::new(),
    };
    next.extend(snapshot.iter().cloned());
    if next.len() > limit {
        request.error = Some(format!("more than {limit} instruments"));
        s.feed.requests.push(request);
        return Vec::new();
    }
    *subs = next;
    s.feed.requests.push(request);
    if snapshot.is_empty() {
        return Vec::new();
    }
    let feeds = snapshot
        .iter()
        .filter_map(|sub| {
            Some((sub.instrument_key.clone(), feed_for(s.book.instrument(&sub.instrument_key)?, &sub.mode)))
        })
        .collect();
    vec![FeedResponse { r#type: Type::InitialFeed as i32, feeds, current_ts: s.book.now_ms(), market_info: None }
        .encode_to_vec()]
}

/// The `live_feed` of `key` for `connection`, if it is subscribed to it.
fn live_feed(s: &State, connection: u64, key: &str) -> Option<Vec<u8>> {
    let sub = s.feed.subscriptions.get(&connection)?.iter().find(|sub| sub.instrument_key == key)?;
    let feed = feed_for(s.book.instrument(key)?, &sub.mode);
    let feeds = [(key.to_string(), feed)].into_iter().collect();
    Some(
        FeedResponse { r#type: Type::LiveFeed as i32, feeds, current_ts: s.book.now_ms(), market_info: None }
            .encode_to_vec(),
    )
}

/// The message every connection starts with: each segment's status.
fn market_info(s: &State) -> FeedResponse {
    let mut segment_status: std::collections::HashMap<String, i32> =
        SEGMENTS.iter().map(|seg| (seg.to_string(), MarketStatus::NormalOpen as i32)).collect();
    segment_status.extend(s.feed.segment_status.iter().map(|(k, v)| (k.clone(), *v)));
    FeedResponse {
        r#type: Type::MarketInfo as i32,
        feeds: Default::default(),
        current_ts: s.book.now_ms(),
        market_info: Some(MarketInfo { segment_status, ..MarketInfo::default() }),
    }
}

fn ltpc(i: &Instrument) -> Ltpc {
    Ltpc { ltp: i.ltp, ltt: i.last_trade_ms, ltq: i.last_quantity, cp: i.close, iep: None }
}

/// Levels of made-up depth a tick apart around the last price, bid `k` paired with ask `k`.
fn levels(i: &Instrument, n: i64) -> Vec<Quote> {
    (1..=n)
        .map(|k| Quote {
            bid_q: 100 * k,
            bid_p: super::book::round2(i.ltp - 0.05 * k as f64),
            ask_q: 100 * k,
            ask_p: super::book::round2(i.ltp + 0.05 * k as f64),
        })
        .collect()
}

fn day_ohlc(i: &Instrument) -> MarketOhlc {
    let [open, high, low] = i.ohlc;
    MarketOhlc {
        ohlc: vec![Ohlc {
            interval: "1d".into(),
            open,
            high,
            low,
            close: i.ltp,
            vol: i.volume,
            ts: super::book::START_MS - 9 * 3_600_000 - 15 * 60_000,
        }],
    }
}

/// An instrument's feed in a subscription's mode.
fn feed_for(i: &Instrument, mode: &str) -> Feed {
    let (request_mode, union) = match mode {
        "full" | "full_d30" => {
            let full = if i.is_index() {
                FullFeedUnion::IndexFf(IndexFullFeed { ltpc: Some(ltpc(i)), market_ohlc: Some(day_ohlc(i)) })
            } else {
                let depth = if mode == "full" { 5 } else { 30 };
                FullFeedUnion::MarketFf(MarketFullFeed {
                    ltpc: Some(ltpc(i)),
                    market_level: Some(MarketLevel { bid_ask_quote: levels(i, depth) }),
                    market_ohlc: Some(day_ohlc(i)),
                    atp: i.ltp,
                    vtt: i.volume,
                    tbq: 1500.0,
                    tsq: 1500.0,
                    ..MarketFullFeed::default()
                })
            };
            let m = if mode == "full" { RequestMode::FullD5 } else { RequestMode::FullD30 };
            (m, FeedUnion::FullFeed(FullFeed { full_feed_union: Some(full) }))
        }
        "option_greeks" => (
            RequestMode::OptionGreeks,
            FeedUnion::FirstLevelWithGreeks(FirstLevelWithGreeks {
                ltpc: Some(ltpc(i)),
                first_depth: levels(i, 1).into_iter().next(),
                option_greeks: Some(OptionGreeks::default()),
                vtt: i.volume,
                oi: 0.0,
                iv: 0.0,
            }),
        ),
        _ => (RequestMode::Ltpc, FeedUnion::Ltpc(ltpc(i))),
    };
    Feed { request_mode: request_mode as i32, feed_union: Some(union) }
}
