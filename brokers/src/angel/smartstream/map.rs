//! From SmartStream messages to engine inputs. Everything here is synchronous and
//! deterministic; the connection (`link.rs`) only feeds it.
//!
//! Choices the engine depends on:
//! * Every LTP packet is a tick at its price with a zero quantity (the packet has none; the
//!   engine's validator refuses zero-quantity ticks, so subscribe in Quote or SnapQuote mode
//!   for trades the engine builds bars from).
//! * A Quote or SnapQuote packet is a *trade* (a tick with its last traded quantity) only when
//!   the day's volume moved since the last one of the token (the first seen counts): Angel sends
//!   a packet when anything in it changes, repeating the last trade. The volume seen survives
//!   reconnects, so the snapshot after a resubscription does not replay the last trade.
//! * SnapQuote packets also give the best bid and offer ([`Input::Quote`]) and the open
//!   interest when they change; Depth-20 packets give the best bid and offer only.
//! * Prices are paise as Angel sends them; currency derivatives (`cde_fo`) are sent in units of
//!   10⁻⁷ rupee and become paise only when they are a whole number of paise (otherwise counted,
//!   never rounded). Zero and negative prices are counted and dropped.
//! * Times: the packet's exchange time (epoch ms); the moment of receipt when it is missing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use dalal_core::model::{Input, InstrumentId, Price, Qty, Quote, Tick, Timestamp};
use serde::Serialize;

use super::link::{ConnectionCounters, SocketStats};
use crate::angel::stream::{decode_packet, ErrorReply, ExchangeType, Mode, SmartPacket};

/// Declares the stream's counters twice: as atomics the connection thread bumps, and as the
/// plain snapshot metrics and reports read (with the connection's counters).
macro_rules! counters {
    ($($(#[$m:meta])* $name:ident,)*) => {
        /// SmartStream's counters, shared between its thread and readers.
        #[derive(Debug, Default)]
        pub struct SmartStreamStats {
            $(pub(crate) $name: AtomicU64,)*
        }

        /// A snapshot of SmartStream's counters, for metrics and reports.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
        pub struct SmartStreamCounters {
            $($(#[$m])* pub $name: u64,)*
            pub connection: ConnectionCounters,
        }

        impl SocketStats for SmartStreamStats {
            type Counters = SmartStreamCounters;
            fn snapshot(&self, connection: ConnectionCounters) -> SmartStreamCounters {
                SmartStreamCounters { $($name: self.$name.load(Ordering::Relaxed),)* connection }
            }
        }
    };
}

counters! {
    /// Binary messages decoded as packets.
    packets,
    /// Binary messages that did not decode (empty, too short, unknown mode).
    malformed,
    /// Packets of a token not subscribed to (dropped).
    unknown_tokens,
    /// Ticks sent to the engine (LTP ticks included).
    ticks,
    /// Ticks from LTP packets (zero quantity).
    ltp_ticks,
    /// Quote and SnapQuote packets that repeat the last trade (or carry no traded quantity).
    no_new_trade,
    /// Best bid and offer changes sent to the engine.
    quotes,
    /// Open interest changes sent to the engine.
    open_interest,
    /// Zero or negative prices (the packet's tick or quote was dropped).
    bad_prices,
    /// Prices that are not a whole number of paise (currency derivatives).
    sub_paise,
    /// Inputs dropped because the engine side was that far behind (the queue was full).
    overflow,
    /// E1001 replies: Angel found a request invalid.
    e1001,
    /// E1002 replies: a subscription past Angel's limit.
    e1002,
    /// Error replies with another code.
    other_errors,
    /// Text messages that were neither `pong` nor an error reply.
    malformed_text,
}

impl SmartStreamStats {
    #[inline]
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// What was last sent for one token.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    volume: Option<i64>,
    top: Option<(Price, Price)>,
    oi: Option<i64>,
}

#[derive(Debug)]
struct Entry {
    instrument: InstrumentId,
    seen: Seen,
}

/// Turns SmartStream packets into engine inputs, counting everything it drops.
#[derive(Debug)]
pub(crate) struct Mapper {
    tokens: HashMap<(u8, String), Entry>,
}

/// Paise from a price as Angel sends it for this exchange type.
fn paise(raw: i64, exchange: ExchangeType, stats: &SmartStreamStats) -> Option<Price> {
    if raw <= 0 {
        SmartStreamStats::add(&stats.bad_prices, 1);
        return None;
    }
    if exchange == ExchangeType::CdeFo {
        // 10⁻⁷ rupee units: 100_000 of them make a paisa.
        if raw % 100_000 != 0 {
            SmartStreamStats::add(&stats.sub_paise, 1);
            return None;
        }
        return Some(Price(raw / 100_000));
    }
    Some(Price(raw))
}

/// Epoch milliseconds as a timestamp, `None` when missing or out of range.
fn epoch_ms(ms: i64) -> Option<Timestamp> {
    (ms > 0).then(|| ms.checked_mul(1_000_000)).flatten().map(Timestamp)
}

impl Mapper {
    pub(crate) fn new(tokens: impl IntoIterator<Item = (ExchangeType, String, InstrumentId)>) -> Mapper {
        let tokens = tokens
            .into_iter()
            .map(|(e, t, instrument)| ((e.code(), t), Entry { instrument, seen: Seen::default() }))
            .collect();
        Mapper { tokens }
    }

    /// One binary message received at `received` (wall clock): inputs go to `out`.
    pub(crate) fn binary(
        &mut self,
        bytes: &[u8],
        received: Timestamp,
        stats: &SmartStreamStats,
        out: &mut impl FnMut(Input),
    ) {
        match decode_packet(bytes) {
            Ok(p) => {
                SmartStreamStats::add(&stats.packets, 1);
                self.packet(p, received, stats, out);
            }
            Err(e) => {
                SmartStreamStats::add(&stats.malformed, 1);
                tracing::debug!(error = %e, bytes = bytes.len(), "malformed SmartStream packet skipped");
            }
        }
    }

    fn packet(
        &mut self,
        mut p: SmartPacket,
        received: Timestamp,
        stats: &SmartStreamStats,
        out: &mut impl FnMut(Input),
    ) {
        let key = (p.exchange_type.code(), std::mem::take(&mut p.token));
        let Some(entry) = self.tokens.get_mut(&key) else {
            SmartStreamStats::add(&stats.unknown_tokens, 1);
            return;
        };
        let instrument = entry.instrument;
        let seen = &mut entry.seen;
        let exchange = p.exchange_type;
        let ts = epoch_ms(p.exchange_timestamp).unwrap_or(received);
        match p.mode {
            Mode::Ltp => {
                if let Some(price) = p.last_traded_price.and_then(|raw| paise(raw, exchange, stats)) {
                    // Counted before it is handed on: whoever sees the input sees it counted.
                    SmartStreamStats::add(&stats.ticks, 1);
                    SmartStreamStats::add(&stats.ltp_ticks, 1);
                    out(Input::Tick(Tick { instrument, ts, price, qty: Qty::ZERO }));
                }
            }
            Mode::Quote | Mode::SnapQuote => {
                let (qty, volume) = p.quote.as_ref().map_or((0, 0), |q| (q.last_traded_quantity, q.volume));
                if qty > 0 && seen.volume != Some(volume) {
                    seen.volume = Some(volume);
                    if let Some(price) = p.last_traded_price.and_then(|raw| paise(raw, exchange, stats)) {
                        SmartStreamStats::add(&stats.ticks, 1);
                        out(Input::Tick(Tick { instrument, ts, price, qty: Qty(qty as u64) }));
                    }
                } else {
                    SmartStreamStats::add(&stats.no_new_trade, 1);
                }
                if let Some(sq) = &p.snap_quote {
                    let best = |levels: &[crate::angel::stream::BestFive]| {
                        levels.iter().find(|l| l.quantity > 0).map(|l| l.price)
                    };
                    if let (Some(bid), Some(ask)) = (best(&sq.best_five_buy), best(&sq.best_five_sell)) {
                        Self::top(instrument, ts, (bid, ask), exchange, seen, stats, out);
                    }
                    if sq.open_interest > 0 && seen.oi != Some(sq.open_interest) {
                        seen.oi = Some(sq.open_interest);
                        SmartStreamStats::add(&stats.open_interest, 1);
                        out(Input::OpenInterest { instrument, ts, oi: sq.open_interest as u64 });
                    }
                }
            }
            Mode::Depth20 => {
                // Its times are a sequence and a dummy (brokers.md §2.11.3): timed at receipt.
                if let Some(d) = &p.depth20 {
                    let (bid, ask) = (d.buy[0], d.sell[0]);
                    if bid.quantity > 0 && ask.quantity > 0 {
                        let top = (i64::from(bid.price), i64::from(ask.price));
                        Self::top(instrument, received, top, exchange, seen, stats, out);
                    }
                }
            }
        }
    }

    /// The best bid and offer, sent when they changed.
    fn top(
        instrument: InstrumentId,
        ts: Timestamp,
        (bid, ask): (i64, i64),
        exchange: ExchangeType,
        seen: &mut Seen,
        stats: &SmartStreamStats,
        out: &mut impl FnMut(Input),
    ) {
        let (Some(bid), Some(ask)) = (paise(bid, exchange, stats), paise(ask, exchange, stats)) else {
            return;
        };
        if seen.top != Some((bid, ask)) {
            seen.top = Some((bid, ask));
            SmartStreamStats::add(&stats.quotes, 1);
            out(Input::Quote(Quote { instrument, ts, bid, ask }));
        }
    }
}

/// What a text message was.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TextEvent {
    /// An error reply to a request.
    Error(ErrorReply),
    Malformed,
}

/// One text message (`pong` apart), counted.
pub(crate) fn text(text: &str, stats: &SmartStreamStats) -> TextEvent {
    match serde_json::from_str::<ErrorReply>(text) {
        Ok(e) => {
            let counter = match e.error_code.as_str() {
                "E1001" => &stats.e1001,
                "E1002" => &stats.e1002,
                _ => &stats.other_errors,
            };
            SmartStreamStats::add(counter, 1);
            TextEvent::Error(e)
        }
        Err(_) => {
            SmartStreamStats::add(&stats.malformed_text, 1);
            TextEvent::Malformed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_prices_become_paise_only_when_whole() {
        let stats = SmartStreamStats::default();
        assert_eq!(paise(8_312_500_000, ExchangeType::CdeFo, &stats), Some(Price(83_125)));
        assert_eq!(paise(8_312_512_345, ExchangeType::CdeFo, &stats), None);
        assert_eq!(paise(0, ExchangeType::NseCm, &stats), None);
        assert_eq!(paise(57_215, ExchangeType::NseCm, &stats), Some(Price(57_215)));
        let c = stats.snapshot(ConnectionCounters::default());
        assert_eq!((c.sub_paise, c.bad_prices), (1, 1));
    }

    #[test]
    fn error_replies_are_counted_by_code() {
        let stats = SmartStreamStats::default();
        let e = text(r#"{"correlationID":"x","errorCode":"E1002","errorMessage":"limit"}"#, &stats);
        assert!(matches!(e, TextEvent::Error(r) if r.error_code == "E1002"));
        assert_eq!(text("hello", &stats), TextEvent::Malformed);
        text(r#"{"errorCode":"E1001"}"#, &stats);
        let c = stats.snapshot(ConnectionCounters::default());
        assert_eq!((c.e1001, c.e1002, c.malformed_text), (1, 1, 1));
    }
}
