//! From KiteTicker messages to engine inputs: decoded packets become [`Input::Tick`],
//! [`Input::Quote`] and [`Input::OpenInterest`]; text messages become order updates, logged
//! errors and broker messages. Everything here is synchronous and deterministic, so it is
//! tested without a socket; the connection loop (`feed_ws.rs`) only feeds it.
//!
//! Choices the engine depends on:
//! * A tick is a *trade*: Kite repeats the last trade in every quote and full packet, so a
//!   packet is a new trade only when the day's volume moved (the first packet seen of an
//!   instrument counts as one). The volume seen survives reconnects, so the snapshot Kite sends
//!   after a resubscription does not replay the last trade.
//! * LTP packets carry neither a quantity nor a time, and index packets no quantity: neither can
//!   be a trade for the engine (which refuses a zero quantity), so they are counted, not sent.
//!   Subscribe in `quote` or `full` mode for ticks, in `full` for quotes (only full packets carry
//!   depth) and exchange times.
//! * Prices are exact: the wire carries integers (price × the segment's divisor), recovered from
//!   the decoder's `f64` without loss, and become paise only when they are a whole number of
//!   paise (currency derivatives quote in fractions of a paisa, which Dalal's prices cannot
//!   hold; those packets are counted, never rounded).
//! * Times: a trade's `last_trade_time`, else the packet's `exchange_timestamp`, else the
//!   moment the frame was received (quote-mode packets carry no time at all).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use dalal_core::model::time::NANOS_PER_SEC;
use dalal_core::model::{Input, InstrumentId, Price, Qty, Quote, Tick, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::Order;
use super::ticker::{decode_frame, divisor, is_heartbeat, Mode, Packet};

/// Declares the feed's counters twice: as atomics the connection thread bumps, and as the plain
/// snapshot metrics and reports read.
macro_rules! counters {
    ($($(#[$m:meta])* $name:ident,)*) => {
        /// The feed's counters, shared between its thread and readers (see [`KiteFeedCounters`]).
        #[derive(Debug, Default)]
        pub struct KiteFeedStats {
            $(pub(crate) $name: AtomicU64,)*
        }

        /// A snapshot of the feed's counters, for metrics and reports.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
        pub struct KiteFeedCounters {
            $($(#[$m])* pub $name: u64,)*
        }

        impl KiteFeedStats {
            pub fn snapshot(&self) -> KiteFeedCounters {
                KiteFeedCounters { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters! {
    /// Binary frames with packets (heartbeats apart).
    frames,
    /// One-byte keep-alive frames.
    heartbeats,
    /// Packets decoded.
    packets,
    /// Trades sent to the engine.
    ticks,
    /// Best bid and offer changes sent to the engine.
    quotes,
    /// Open interest changes sent to the engine.
    open_interest,
    /// Binary frames that did not decode (truncated, a packet longer than the frame).
    malformed,
    /// Packets of a length no kind has (skipped by the decoder).
    unknown_packets,
    /// Packets of an instrument token not in the feed's map.
    unknown_tokens,
    /// Zero, negative or non-finite prices (the packet's trade or quote was dropped).
    bad_prices,
    /// Prices that are not a whole number of paise (currency segments).
    sub_paise,
    /// Quote and full packets that repeat the last trade.
    no_new_trade,
    /// LTP packets (no quantity or time: never a trade).
    ltp_only,
    /// Index packets (no quantity: never a trade).
    index_packets,
    /// Order updates parsed and handed on.
    order_updates,
    /// `error` text messages from Kite.
    text_errors,
    /// `message` text messages (broker alerts).
    text_messages,
    /// Text messages that were not JSON, of an unknown type, or an order that did not parse.
    malformed_text,
    /// Inputs dropped because the engine side was that far behind (the queue was full).
    overflow,
    /// Connections opened (handshake done).
    connects,
    /// Connections lost and tried again.
    reconnects,
    /// Connections given up because nothing arrived for the stale interval.
    stale,
    /// Handshakes refused with 401/403 (an expired or wrong token).
    auth_failures,
    /// Connection attempts that failed otherwise (network, TLS, other HTTP statuses, timeout).
    connect_failures,
}

impl KiteFeedStats {
    #[inline]
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// An order update from the ticker socket: Kite's order object (as `/orders` has it) plus the
/// postback's extra fields, which Kite sends on the socket in the same shape (brokers.md §1.11).
#[derive(Clone, Debug, PartialEq)]
pub struct OrderUpdate {
    pub order: Order,
    pub user_id: Option<String>,
    pub unfilled_quantity: Option<i64>,
    /// `SHA-256(order_id ‖ order_timestamp ‖ api_secret)` in hex, when Kite sends it.
    pub checksum: Option<String>,
}

impl OrderUpdate {
    /// The `data` of a `{"type":"order"}` message; `None` when it is not an order object.
    pub fn from_data(data: &Value) -> Option<OrderUpdate> {
        if !data.is_object() {
            return None;
        }
        let order = Order::deserialize(data).ok()?;
        if order.order_id.is_empty() {
            return None;
        }
        let text = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_string);
        Some(OrderUpdate {
            order,
            user_id: text("user_id"),
            unfilled_quantity: data.get("unfilled_quantity").and_then(Value::as_i64),
            checksum: text("checksum"),
        })
    }
}

/// Why a decoded price was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceIssue {
    /// Zero, negative, not finite, or beyond what the wire can carry.
    NonPositive,
    /// Not a whole number of paise.
    SubPaise,
}

/// Paise from a price the decoder divided by the token's divisor. The wire's integer is
/// recovered exactly (`price × divisor` is within 2⁻¹⁹ of it for any `u32`), then scaled by
/// `100 / divisor` only when that leaves no fraction.
pub fn price_to_paise(price: f64, token: u32) -> Result<Price, PriceIssue> {
    if !price.is_finite() || price <= 0.0 {
        return Err(PriceIssue::NonPositive);
    }
    let d = divisor(token);
    let raw = (price * d).round();
    if !(1.0..=u32::MAX as f64).contains(&raw) {
        return Err(PriceIssue::NonPositive);
    }
    let (raw, d) = (raw as i64, d as i64);
    let scaled = raw * 100;
    if scaled % d != 0 {
        return Err(PriceIssue::SubPaise);
    }
    Ok(Price(scaled / d))
}

fn epoch(secs: Option<u32>) -> Option<Timestamp> {
    secs.filter(|s| *s > 0).map(|s| Timestamp(s as i64 * NANOS_PER_SEC))
}

/// What was last sent for one instrument.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    volume: Option<u32>,
    top: Option<(Price, Price)>,
    oi: Option<u32>,
}

/// What a text message was.
#[derive(Clone, Debug, PartialEq)]
pub enum TextEvent {
    Order(Box<OrderUpdate>),
    Error(String),
    Message(String),
    Malformed,
}

/// Turns KiteTicker frames into engine inputs, counting everything it drops.
#[derive(Debug)]
pub struct Mapper {
    tokens: HashMap<u32, InstrumentId>,
    seen: HashMap<u32, Seen>,
}

impl Mapper {
    pub fn new(tokens: impl IntoIterator<Item = (u32, InstrumentId)>) -> Mapper {
        let tokens: HashMap<u32, InstrumentId> = tokens.into_iter().collect();
        let seen = HashMap::with_capacity(tokens.len());
        Mapper { tokens, seen }
    }

    /// One binary frame received at `received` (wall clock): inputs go to `out`, counts to
    /// `stats`.
    pub fn frame(&mut self, bytes: &[u8], received: Timestamp, stats: &KiteFeedStats, out: &mut impl FnMut(Input)) {
        if is_heartbeat(bytes) {
            KiteFeedStats::add(&stats.heartbeats, 1);
            return;
        }
        let frame = match decode_frame(bytes) {
            Ok(f) => f,
            Err(e) => {
                KiteFeedStats::add(&stats.malformed, 1);
                tracing::debug!(error = %e, bytes = bytes.len(), "malformed KiteTicker frame skipped");
                return;
            }
        };
        KiteFeedStats::add(&stats.frames, 1);
        KiteFeedStats::add(&stats.unknown_packets, frame.skipped as u64);
        KiteFeedStats::add(&stats.packets, frame.packets.len() as u64);
        for p in &frame.packets {
            self.packet(p, received, stats, out);
        }
    }

    /// One decoded packet.
    pub fn packet(&mut self, p: &Packet, received: Timestamp, stats: &KiteFeedStats, out: &mut impl FnMut(Input)) {
        let Some(&instrument) = self.tokens.get(&p.instrument_token) else {
            KiteFeedStats::add(&stats.unknown_tokens, 1);
            return;
        };
        if !p.tradable {
            KiteFeedStats::add(&stats.index_packets, 1);
            return;
        }
        if p.mode == Mode::Ltp {
            KiteFeedStats::add(&stats.ltp_only, 1);
            return;
        }
        let token = p.instrument_token;
        let seen = self.seen.entry(token).or_default();
        let price_issue = |issue: PriceIssue| match issue {
            PriceIssue::NonPositive => KiteFeedStats::add(&stats.bad_prices, 1),
            PriceIssue::SubPaise => KiteFeedStats::add(&stats.sub_paise, 1),
        };

        let qty = p.last_traded_quantity.unwrap_or(0);
        let new_trade = qty > 0 && p.volume_traded.is_some() && seen.volume != p.volume_traded;
        if new_trade {
            seen.volume = p.volume_traded;
            match price_to_paise(p.last_price, token) {
                Ok(price) => {
                    let ts = epoch(p.last_trade_time).or(epoch(p.exchange_timestamp)).unwrap_or(received);
                    // Counted before it is handed on: whoever sees the input sees it counted.
                    KiteFeedStats::add(&stats.ticks, 1);
                    out(Input::Tick(Tick { instrument, ts, price, qty: Qty(qty as u64) }));
                }
                Err(issue) => price_issue(issue),
            }
        } else {
            KiteFeedStats::add(&stats.no_new_trade, 1);
        }

        let ts = epoch(p.exchange_timestamp).unwrap_or(received);
        if let Some(depth) = &p.depth {
            let best = |side: &[super::ticker::DepthLevel]| side.first().filter(|l| l.quantity > 0).map(|l| l.price);
            if let (Some(bid), Some(ask)) = (best(&depth.buy), best(&depth.sell)) {
                match (price_to_paise(bid, token), price_to_paise(ask, token)) {
                    (Ok(bid), Ok(ask)) => {
                        if seen.top != Some((bid, ask)) {
                            seen.top = Some((bid, ask));
                            KiteFeedStats::add(&stats.quotes, 1);
                            out(Input::Quote(Quote { instrument, ts, bid, ask }));
                        }
                    }
                    (Err(issue), _) | (_, Err(issue)) => price_issue(issue),
                }
            }
        }
        if let Some(oi) = p.oi.filter(|oi| *oi > 0) {
            if seen.oi != Some(oi) {
                seen.oi = Some(oi);
                KiteFeedStats::add(&stats.open_interest, 1);
                out(Input::OpenInterest { instrument, ts, oi: oi as u64 });
            }
        }
    }

    /// One text message, counted; what it carried is returned for the caller to hand on.
    pub fn text(&self, text: &str, stats: &KiteFeedStats) -> TextEvent {
        #[derive(Deserialize)]
        struct Msg {
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            data: Value,
        }
        let describe = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let event = match serde_json::from_str::<Msg>(text) {
            Ok(m) if m.kind == "order" => match OrderUpdate::from_data(&m.data) {
                Some(u) => TextEvent::Order(Box::new(u)),
                None => TextEvent::Malformed,
            },
            Ok(m) if m.kind == "error" => TextEvent::Error(describe(&m.data)),
            Ok(m) if m.kind == "message" => TextEvent::Message(describe(&m.data)),
            _ => TextEvent::Malformed,
        };
        let counter = match &event {
            TextEvent::Order(_) => &stats.order_updates,
            TextEvent::Error(_) => &stats.text_errors,
            TextEvent::Message(_) => &stats.text_messages,
            TextEvent::Malformed => &stats.malformed_text,
        };
        KiteFeedStats::add(counter, 1);
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kite::ticker::{decode_packet, Depth, DepthLevel, Ohlc};

    fn full(token: u32, last: f64, qty: u32, volume: u32, bid: f64, ask: f64) -> Packet {
        let level = |price: f64| DepthLevel { quantity: 10, price, orders: 1 };
        Packet {
            tradable: true,
            mode: Mode::Full,
            instrument_token: token,
            last_price: last,
            last_traded_quantity: Some(qty),
            average_traded_price: Some(last),
            volume_traded: Some(volume),
            total_buy_quantity: Some(0),
            total_sell_quantity: Some(0),
            ohlc: Some(Ohlc { open: last, high: last, low: last, close: last }),
            change: Some(0.0),
            last_trade_time: Some(1_700_000_000),
            oi: Some(0),
            oi_day_high: Some(0),
            oi_day_low: Some(0),
            exchange_timestamp: Some(1_700_000_001),
            depth: Some(Depth { buy: vec![level(bid); 5], sell: vec![level(ask); 5] }),
        }
    }

    fn run(m: &mut Mapper, p: &Packet, stats: &KiteFeedStats) -> Vec<Input> {
        let mut v = Vec::new();
        m.packet(p, Timestamp(5), stats, &mut |i| v.push(i));
        v
    }

    #[test]
    fn paise_are_exact_for_every_divisor() {
        assert_eq!(price_to_paise(1573.15, 408065), Ok(Price(157315)));
        assert_eq!(price_to_paise(0.05, 408065), Ok(Price(5)));
        assert_eq!(price_to_paise(42_949_672.95, 408065), Ok(Price(4_294_967_295)));
        // CDS ÷1e7: 72.755 rupees is 7275.5 paise, not a whole number.
        assert_eq!(price_to_paise(72.755, 412675), Err(PriceIssue::SubPaise));
        assert_eq!(price_to_paise(72.75, 412675), Ok(Price(7275)));
        // BCD ÷1e4.
        assert_eq!(price_to_paise(83.1234, 0x106), Err(PriceIssue::SubPaise));
        assert_eq!(price_to_paise(83.12, 0x106), Ok(Price(8312)));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e12] {
            assert_eq!(price_to_paise(bad, 408065), Err(PriceIssue::NonPositive), "{bad}");
        }
        // Every raw integer of the NSE divisor survives the decoder's division.
        for raw in [1u32, 7, 99, 101, 123_456_789, u32::MAX - 1, u32::MAX] {
            let mut p = vec![0u8; 8];
            p[..4].copy_from_slice(&408065u32.to_be_bytes());
            p[4..].copy_from_slice(&raw.to_be_bytes());
            let pk = decode_packet(&p).expect("ltp");
            assert_eq!(price_to_paise(pk.last_price, 408065), Ok(Price(raw as i64)));
        }
    }

    #[test]
    fn a_trade_is_sent_once_and_quotes_only_when_the_touch_moves() {
        let stats = KiteFeedStats::default();
        let mut m = Mapper::new([(408065, InstrumentId(3))]);
        let p = full(408065, 2500.0, 7, 1000, 2499.95, 2500.05);
        let got = run(&mut m, &p, &stats);
        assert_eq!(
            got,
            vec![
                Input::Tick(Tick {
                    instrument: InstrumentId(3),
                    ts: Timestamp(1_700_000_000 * NANOS_PER_SEC),
                    price: Price(250000),
                    qty: Qty(7)
                }),
                Input::Quote(Quote {
                    instrument: InstrumentId(3),
                    ts: Timestamp(1_700_000_001 * NANOS_PER_SEC),
                    bid: Price(249995),
                    ask: Price(250005)
                }),
            ]
        );
        // The same packet again (a snapshot after a resubscription): nothing new.
        assert!(run(&mut m, &p, &stats).is_empty());
        assert_eq!(stats.snapshot().no_new_trade, 1);
        // The volume moved: a trade; the touch did not: no quote.
        let got = run(&mut m, &full(408065, 2500.05, 3, 1003, 2499.95, 2500.05), &stats);
        assert!(matches!(got.as_slice(), [Input::Tick(t)] if t.price == Price(250005) && t.qty == Qty(3)));
        let c = stats.snapshot();
        assert_eq!((c.ticks, c.quotes), (2, 1));
    }

    #[test]
    fn unknown_tokens_bad_prices_ltp_and_index_packets_are_counted_not_sent() {
        let stats = KiteFeedStats::default();
        let mut m = Mapper::new([(408065, InstrumentId(0)), (256265, InstrumentId(1))]);
        assert!(run(&mut m, &full(738561, 10.0, 1, 1, 9.0, 11.0), &stats).is_empty());
        let got = run(&mut m, &full(408065, 0.0, 1, 1, 9.0, 11.0), &stats);
        assert!(matches!(got.as_slice(), [Input::Quote(_)]), "{got:?}");
        let mut ltp = full(408065, 10.0, 1, 2, 9.0, 11.0);
        ltp.mode = Mode::Ltp;
        assert!(run(&mut m, &ltp, &stats).is_empty());
        let mut index = full(256265, 22000.0, 1, 2, 9.0, 11.0);
        index.tradable = false;
        assert!(run(&mut m, &index, &stats).is_empty());
        let c = stats.snapshot();
        assert_eq!((c.unknown_tokens, c.bad_prices, c.ltp_only, c.index_packets), (1, 1, 1, 1));
    }

    #[test]
    fn quote_mode_packets_are_timed_at_receipt() {
        let stats = KiteFeedStats::default();
        let mut m = Mapper::new([(408065, InstrumentId(0))]);
        let mut p = full(408065, 10.0, 1, 1, 9.0, 11.0);
        p.mode = Mode::Quote;
        p.depth = None;
        p.last_trade_time = None;
        p.exchange_timestamp = None;
        p.oi = None;
        let got = run(&mut m, &p, &stats);
        assert!(matches!(got.as_slice(), [Input::Tick(t)] if t.ts == Timestamp(5)), "{got:?}");
    }

    proptest::proptest! {
        /// Any bytes as a frame, any text as a message: counted somewhere, never a panic, and
        /// every input sent is for a mapped instrument at a positive price.
        #[test]
        fn arbitrary_frames_and_texts_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            text in "\\PC{0,200}",
        ) {
            let stats = KiteFeedStats::default();
            // The wrapped frames' packet starts with the bytes' first four: map that token.
            let token = bytes.get(0..4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            let mut m = Mapper::new([(token, InstrumentId(0))]);
            let mut sent = Vec::new();
            m.frame(&bytes, Timestamp(1), &stats, &mut |i| sent.push(i));
            for (header, body) in [([0u8, 1], &bytes[..]), ([0, 2], &bytes[..bytes.len() / 2])] {
                let mut framed = header.to_vec();
                framed.extend_from_slice(&(body.len() as u16).to_be_bytes());
                framed.extend_from_slice(body);
                m.frame(&framed, Timestamp(1), &stats, &mut |i| sent.push(i));
            }
            let _ = m.text(&text, &stats);
            let _ = m.text(&String::from_utf8_lossy(&bytes), &stats);
            for i in sent {
                match i {
                    Input::Tick(t) => proptest::prop_assert!(t.price.0 > 0 && t.qty.0 > 0),
                    Input::Quote(q) => proptest::prop_assert!(q.bid.0 > 0 && q.ask.0 > 0),
                    Input::OpenInterest { .. } => {}
                    other => proptest::prop_assert!(false, "unexpected input {:?}", other),
                }
            }
        }
    }

    #[test]
    fn text_messages_are_sorted_and_counted() {
        let stats = KiteFeedStats::default();
        let m = Mapper::new([]);
        let order = r#"{"type":"order","data":{"order_id":"2401","status":"COMPLETE","quantity":5,
            "filled_quantity":5,"average_price":101.5,"user_id":"AB1234","unfilled_quantity":0,"checksum":"ab"}}"#;
        match m.text(order, &stats) {
            TextEvent::Order(u) => {
                assert_eq!(u.order.order_id, "2401");
                assert_eq!(u.order.filled_quantity, 5);
                assert_eq!(u.user_id.as_deref(), Some("AB1234"));
                assert_eq!(u.unfilled_quantity, Some(0));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m.text(r#"{"type":"error","data":"bad"}"#, &stats), TextEvent::Error("bad".into()));
        assert_eq!(m.text(r#"{"type":"message","data":"hi"}"#, &stats), TextEvent::Message("hi".into()));
        for bad in ["", "{", "[]", r#"{"type":"order","data":"x"}"#, r#"{"type":"order","data":{}}"#, r#"{"type":"?"}"#]
        {
            assert_eq!(m.text(bad, &stats), TextEvent::Malformed, "{bad}");
        }
        let c = stats.snapshot();
        assert_eq!((c.order_updates, c.text_errors, c.text_messages, c.malformed_text), (1, 1, 1, 6));
    }
}
