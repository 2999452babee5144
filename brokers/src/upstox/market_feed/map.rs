//! From Upstox feed messages (protobuf `FeedResponse`s) to engine inputs. Everything here is
//! synchronous and deterministic; the connection (`crate::ws_link`) only feeds it.
//!
//! Choices the engine depends on (the same as SmartStream's and the Kite feed's):
//! * A feed's `ltpc` is a *trade* (a tick at its last price with its last traded quantity,
//!   timed by its last trade time) only when a new trade happened: the quantity is positive
//!   and the trade (last trade time, day volume where the mode carries it, quantity, price)
//!   differs from the last one seen for the key (the first seen counts). Upstox sends a feed
//!   when anything in it changes, repeating the last trade. What was seen survives reconnects,
//!   so the `initial_feed` snapshot after a resubscription does not replay the last trade.
//! * Index feeds (`indexFF`, or any feed of an `…_INDEX` key) are counted and skipped: an
//!   index does not trade, and the engine refuses ticks without a quantity (the Kite feed does
//!   the same).
//! * `marketFF` (`full`, `full_d30`) and `firstLevelWithGreeks` (`option_greeks`) also give the
//!   best bid and offer (the first depth level, both sides with a quantity) and the open
//!   interest, sent when they change, timed by the message's `currentTs`.
//! * Prices are rupees as doubles: they become paise only when finite, positive and a whole
//!   number of paise (to a double's precision); anything else is counted and dropped, never
//!   rounded.
//! * Times: the trade's LTT (epoch ms) for ticks, the message's `currentTs` for quotes and open
//!   interest; the moment of receipt when either is missing.
//! * `market_info` messages (the first of each connection) record each segment's status.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use dalal_core::model::{Input, InstrumentId, Price, Qty, Quote, Tick, Timestamp};
use serde::Serialize;

use crate::upstox::feed::decode;
use crate::upstox::feed::proto::{self, feed::FeedUnion, full_feed::FullFeedUnion, FeedResponse, MarketStatus, Type};
use crate::ws_link::{ConnectionCounters, SocketStats};

/// Declares the feed's counters twice: as atomics the connection thread bumps, and as the plain
/// snapshot metrics and reports read (with the segment statuses and the connection's counters).
macro_rules! counters {
    ($($(#[$m:meta])* $name:ident,)*) => {
        /// The Upstox feed's counters and segment statuses, shared between its thread and
        /// readers.
        #[derive(Debug, Default)]
        pub struct UpstoxFeedStats {
            $(pub(crate) $name: AtomicU64,)*
            /// Segment → status, as the last `market_info` message gave them.
            segments: Mutex<BTreeMap<String, String>>,
            /// `currentTs` of the last `market_info` message, epoch ms; 0 before the first.
            market_info_ms: AtomicI64,
        }

        /// A snapshot of the Upstox feed's counters, for metrics and reports.
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
        pub struct UpstoxFeedCounters {
            $($(#[$m])* pub $name: u64,)*
            /// Each segment's status (`NSE_EQ` → `NORMAL_OPEN`…) as the last `market_info`
            /// message gave it; a status this schema does not name is its number.
            pub segment_status: BTreeMap<String, String>,
            /// When Upstox sent that message, epoch ms.
            pub market_info_ms: Option<i64>,
            pub connection: ConnectionCounters,
        }

        impl SocketStats for UpstoxFeedStats {
            type Counters = UpstoxFeedCounters;
            fn snapshot(&self, connection: ConnectionCounters) -> UpstoxFeedCounters {
                UpstoxFeedCounters {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                    segment_status: self.segment_status(),
                    market_info_ms: Some(self.market_info_ms.load(Ordering::Relaxed)).filter(|ms| *ms != 0),
                    connection,
                }
            }
        }
    };
}

counters! {
    /// Binary messages decoded as `FeedResponse`s.
    messages,
    /// Binary messages that did not decode.
    malformed,
    /// `market_info` messages (one per connection).
    market_info,
    /// `initial_feed` messages (a snapshot after each subscription).
    initial_feeds,
    /// `live_feed` messages.
    live_feeds,
    /// Messages of a type this schema does not know (their feeds are read all the same).
    unknown_types,
    /// Per-instrument feeds read, of subscribed keys.
    feeds,
    /// Feeds of a key not subscribed to (dropped).
    unknown_keys,
    /// Feeds without a last trade (`ltpc`) to read.
    empty_feeds,
    /// Feeds of indices (no trades: skipped).
    index_feeds,
    /// Ticks sent to the engine.
    ticks,
    /// Feeds that repeat the last trade (or carry no traded quantity).
    no_new_trade,
    /// Best bid and offer changes sent to the engine.
    quotes,
    /// Open interest changes sent to the engine.
    open_interest,
    /// Zero, negative or out-of-range prices (the feed's tick or quote was dropped).
    bad_prices,
    /// NaN or infinite prices or open interest.
    non_finite,
    /// Prices that are not a whole number of paise.
    sub_paise,
    /// Inputs dropped because the engine side was that far behind (the queue was full).
    overflow,
    /// Text messages (the feed sends binary only).
    text_messages,
}

impl UpstoxFeedStats {
    #[inline]
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Each segment's status as the last `market_info` message gave it.
    pub fn segment_status(&self) -> BTreeMap<String, String> {
        self.segments.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record_market_info(&self, info: &proto::MarketInfo, current_ts: i64) {
        let statuses = info
            .segment_status
            .iter()
            .map(|(segment, &v)| {
                let status = MarketStatus::try_from(v).map_or_else(|_| v.to_string(), |s| s.as_str_name().to_string());
                (segment.clone(), status)
            })
            .collect();
        *self.segments.lock().unwrap_or_else(|p| p.into_inner()) = statuses;
        self.market_info_ms.store(current_ts, Ordering::Relaxed);
    }
}

/// Why a price has no paise value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PriceIssue {
    NonFinite,
    NonPositive,
    SubPaise,
}

/// Paise from rupees as Upstox sends them: finite, positive, a whole number of paise.
pub(crate) fn paise(rupees: f64) -> Result<Price, PriceIssue> {
    if !rupees.is_finite() {
        return Err(PriceIssue::NonFinite);
    }
    if rupees <= 0.0 {
        return Err(PriceIssue::NonPositive);
    }
    // `1500.55` is the nearest double, a hair off; times 100 it is within a few units in the
    // last place of the whole number of paise. Farther off, it is not a whole number of paise.
    let scaled = rupees * 100.0;
    if (scaled - scaled.round()).abs() > (scaled.abs() * 4.0 * f64::EPSILON).max(1e-6) {
        return Err(PriceIssue::SubPaise);
    }
    match crate::money::rupees_to_paise(rupees) {
        Ok(p) if p > 0 => Ok(Price(p)),
        _ => Err(PriceIssue::NonPositive),
    }
}

/// Epoch milliseconds as a timestamp, `None` when missing or out of range.
fn epoch_ms(ms: i64) -> Option<Timestamp> {
    (ms > 0).then(|| ms.checked_mul(1_000_000)).flatten().map(Timestamp)
}

/// A trade as far as telling a new one from a repeat goes: LTT, day volume (0 where the mode
/// has none), quantity, price bits.
type TradeKey = (i64, i64, i64, u64);

/// What was last sent for one key.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    trade: Option<TradeKey>,
    top: Option<(Price, Price)>,
    oi: Option<u64>,
}

#[derive(Debug)]
struct Entry {
    instrument: InstrumentId,
    index: bool,
    seen: Seen,
}

/// What one feed carries, whatever its mode.
struct Parts<'a> {
    ltpc: Option<&'a proto::Ltpc>,
    volume: Option<i64>,
    depth: Option<&'a proto::Quote>,
    oi: Option<f64>,
    index: bool,
}

fn parts(feed: &proto::Feed) -> Parts<'_> {
    let none = Parts { ltpc: None, volume: None, depth: None, oi: None, index: false };
    match &feed.feed_union {
        Some(FeedUnion::Ltpc(l)) => Parts { ltpc: Some(l), ..none },
        Some(FeedUnion::FullFeed(full)) => match &full.full_feed_union {
            Some(FullFeedUnion::MarketFf(m)) => Parts {
                ltpc: m.ltpc.as_ref(),
                volume: Some(m.vtt),
                depth: m.market_level.as_ref().and_then(|l| l.bid_ask_quote.first()),
                oi: Some(m.oi),
                index: false,
            },
            Some(FullFeedUnion::IndexFf(i)) => Parts { ltpc: i.ltpc.as_ref(), index: true, ..none },
            None => none,
        },
        Some(FeedUnion::FirstLevelWithGreeks(g)) => Parts {
            ltpc: g.ltpc.as_ref(),
            volume: Some(g.vtt),
            depth: g.first_depth.as_ref(),
            oi: Some(g.oi),
            index: false,
        },
        None => none,
    }
}

/// Turns Upstox feed messages into engine inputs, counting everything it drops.
#[derive(Debug)]
pub(crate) struct Mapper {
    keys: HashMap<String, Entry>,
}

impl Mapper {
    pub(crate) fn new(keys: impl IntoIterator<Item = (String, InstrumentId)>) -> Mapper {
        let keys = keys
            .into_iter()
            .map(|(key, instrument)| {
                let index = key.split_once('|').is_some_and(|(segment, _)| segment.ends_with("_INDEX"));
                (key, Entry { instrument, index, seen: Seen::default() })
            })
            .collect();
        Mapper { keys }
    }

    /// One binary message received at `received` (wall clock): inputs go to `out`.
    pub(crate) fn binary(
        &mut self,
        bytes: &[u8],
        received: Timestamp,
        stats: &UpstoxFeedStats,
        out: &mut impl FnMut(Input),
    ) {
        match decode(bytes) {
            Ok(m) => {
                UpstoxFeedStats::add(&stats.messages, 1);
                self.message(&m, received, stats, out);
            }
            Err(e) => {
                UpstoxFeedStats::add(&stats.malformed, 1);
                tracing::debug!(error = %e, "malformed Upstox feed message skipped");
            }
        }
    }

    fn message(&mut self, m: &FeedResponse, received: Timestamp, stats: &UpstoxFeedStats, out: &mut impl FnMut(Input)) {
        match Type::try_from(m.r#type) {
            Ok(Type::MarketInfo) => {
                UpstoxFeedStats::add(&stats.market_info, 1);
                if let Some(info) = &m.market_info {
                    stats.record_market_info(info, m.current_ts);
                }
            }
            Ok(Type::InitialFeed) => UpstoxFeedStats::add(&stats.initial_feeds, 1),
            Ok(Type::LiveFeed) => UpstoxFeedStats::add(&stats.live_feeds, 1),
            Err(_) => UpstoxFeedStats::add(&stats.unknown_types, 1),
        }
        if m.feeds.is_empty() {
            return;
        }
        // A map on the wire: in key order, so the inputs come out the same way every time.
        let mut feeds: Vec<(&String, &proto::Feed)> = m.feeds.iter().collect();
        feeds.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let sent = epoch_ms(m.current_ts).unwrap_or(received);
        for (key, feed) in feeds {
            self.feed(key, feed, sent, received, stats, out);
        }
    }

    fn feed(
        &mut self,
        key: &str,
        feed: &proto::Feed,
        sent: Timestamp,
        received: Timestamp,
        stats: &UpstoxFeedStats,
        out: &mut impl FnMut(Input),
    ) {
        let Some(entry) = self.keys.get_mut(key) else {
            UpstoxFeedStats::add(&stats.unknown_keys, 1);
            return;
        };
        UpstoxFeedStats::add(&stats.feeds, 1);
        let p = parts(feed);
        if p.index || entry.index {
            UpstoxFeedStats::add(&stats.index_feeds, 1);
            return;
        }
        let instrument = entry.instrument;
        let seen = &mut entry.seen;
        let issue = |i: PriceIssue| {
            let c = match i {
                PriceIssue::NonFinite => &stats.non_finite,
                PriceIssue::NonPositive => &stats.bad_prices,
                PriceIssue::SubPaise => &stats.sub_paise,
            };
            UpstoxFeedStats::add(c, 1);
        };
        match p.ltpc {
            Some(l) => {
                let trade: TradeKey = (l.ltt, p.volume.unwrap_or(0), l.ltq, l.ltp.to_bits());
                if l.ltq > 0 && seen.trade != Some(trade) {
                    seen.trade = Some(trade);
                    match paise(l.ltp) {
                        Ok(price) => {
                            let ts = epoch_ms(l.ltt).unwrap_or(received);
                            // Counted before it is handed on: whoever sees the input sees it counted.
                            UpstoxFeedStats::add(&stats.ticks, 1);
                            out(Input::Tick(Tick { instrument, ts, price, qty: Qty(l.ltq as u64) }));
                        }
                        Err(i) => issue(i),
                    }
                } else {
                    UpstoxFeedStats::add(&stats.no_new_trade, 1);
                }
            }
            None => UpstoxFeedStats::add(&stats.empty_feeds, 1),
        }
        if let Some(q) = p.depth.filter(|q| q.bid_q > 0 && q.ask_q > 0) {
            match (paise(q.bid_p), paise(q.ask_p)) {
                (Ok(bid), Ok(ask)) => {
                    if seen.top != Some((bid, ask)) {
                        seen.top = Some((bid, ask));
                        UpstoxFeedStats::add(&stats.quotes, 1);
                        out(Input::Quote(Quote { instrument, ts: sent, bid, ask }));
                    }
                }
                (Err(i), _) | (_, Err(i)) => issue(i),
            }
        }
        match p.oi {
            Some(oi) if !oi.is_finite() => issue(PriceIssue::NonFinite),
            // Contracts: a whole number; anything else is not open interest.
            Some(oi) if oi >= 1.0 && oi.fract() == 0.0 && oi < 9.0e15 => {
                let oi = oi as u64;
                if seen.oi != Some(oi) {
                    seen.oi = Some(oi);
                    UpstoxFeedStats::add(&stats.open_interest, 1);
                    out(Input::OpenInterest { instrument, ts: sent, oi });
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_become_paise_only_when_whole_finite_and_positive() {
        assert_eq!(paise(1290.5), Ok(Price(129_050)));
        assert_eq!(paise(1500.55), Ok(Price(150_055)));
        assert_eq!(paise(0.05), Ok(Price(5)));
        assert_eq!(paise(98_765_432.15), Ok(Price(9_876_543_215)));
        assert_eq!(paise(1290.505), Err(PriceIssue::SubPaise));
        assert_eq!(paise(0.001), Err(PriceIssue::SubPaise));
        assert_eq!(paise(0.0), Err(PriceIssue::NonPositive));
        assert_eq!(paise(-1.0), Err(PriceIssue::NonPositive));
        assert_eq!(paise(1e300), Err(PriceIssue::NonPositive), "out of range");
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(paise(x), Err(PriceIssue::NonFinite));
        }
    }

    fn ltpc_feed(ltp: f64, ltt: i64, ltq: i64) -> proto::Feed {
        proto::Feed {
            feed_union: Some(FeedUnion::Ltpc(proto::Ltpc { ltp, ltt, ltq, cp: 0.0, iep: None })),
            request_mode: 0,
        }
    }

    #[test]
    fn repeated_trades_and_indices_give_nothing() {
        let stats = UpstoxFeedStats::default();
        let mut m =
            Mapper::new([("NSE_EQ|A".to_string(), InstrumentId(0)), ("NSE_INDEX|N".to_string(), InstrumentId(1))]);
        let mut got = Vec::new();
        let mut msg = FeedResponse { r#type: Type::LiveFeed as i32, current_ts: 5, ..FeedResponse::default() };
        msg.feeds.insert("NSE_EQ|A".into(), ltpc_feed(10.5, 1_000, 2));
        msg.feeds.insert("NSE_INDEX|N".into(), ltpc_feed(22_000.0, 1_000, 0));
        msg.feeds.insert("NSE_EQ|B".into(), ltpc_feed(1.0, 1_000, 1));
        for _ in 0..2 {
            m.message(&msg, Timestamp(7), &stats, &mut |i| got.push(i));
        }
        assert_eq!(
            got,
            [Input::Tick(Tick {
                instrument: InstrumentId(0),
                ts: Timestamp(1_000_000_000),
                price: Price(1050),
                qty: Qty(2)
            })]
        );
        let c = stats.snapshot(ConnectionCounters::default());
        assert_eq!((c.feeds, c.unknown_keys, c.index_feeds, c.ticks, c.no_new_trade), (4, 2, 2, 1, 1), "{c:?}");
    }
}
