//! Market data over REST: `getLtpData`, `market/v1/quote` (LTP/OHLC/FULL, with `fetched` and
//! `unfetched`) and `getCandleData`. Prices are rupees as JSON numbers (brokers.md §2.8).
//!
//! The fake's own choices: an unknown token in a quote lands in `unfetched` as
//! `{exchange, symbolToken, message, errorCode:"AB1009"}`, and an unknown candle interval gets
//! AB13000; the sources do not show either.

use serde_json::{json, Value};

use super::book::{round2, Instrument};
use super::routes::{business, success, text_field, Reply};
use super::State;

const INTERVALS: &[&str] = &[
    "ONE_MINUTE",
    "THREE_MINUTE",
    "FIVE_MINUTE",
    "TEN_MINUTE",
    "FIFTEEN_MINUTE",
    "THIRTY_MINUTE",
    "ONE_HOUR",
    "ONE_DAY",
];

/// At most this many tokens in one quote request (Angel: 50).
const QUOTE_TOKENS: usize = 50;

pub(super) fn ltp(s: &State, body: &Value) -> Reply {
    let exchange = text_field(body, "exchange").unwrap_or_default();
    let token = text_field(body, "symboltoken").unwrap_or_default();
    let symbol = text_field(body, "tradingsymbol").unwrap_or_default();
    match s.book.instrument(&exchange, &token).filter(|i| i.tradingsymbol == symbol) {
        Some(i) => success(json!({
            "exchange": i.exchange,
            "tradingsymbol": i.tradingsymbol,
            "symboltoken": i.token,
            "open": i.ohlc[0],
            "high": i.ohlc[1],
            "low": i.ohlc[2],
            "close": i.ohlc[3],
            "ltp": i.ltp,
        })),
        None => business("AB1009", "Symbol not found"),
    }
}

fn quote_json(i: &Instrument, mode: &str) -> Value {
    let mut q = json!({"exchange": i.exchange, "tradingSymbol": i.tradingsymbol, "symbolToken": i.token, "ltp": i.ltp});
    let Some(o) = q.as_object_mut() else { return q };
    if mode == "LTP" {
        return q;
    }
    for (k, v) in ["open", "high", "low", "close"].into_iter().zip(i.ohlc) {
        o.insert(k.into(), json!(v));
    }
    if mode == "OHLC" {
        return q;
    }
    let level = || json!({"price": 0.0, "quantity": 0, "orders": 0});
    let change = round2(i.ltp - i.ohlc[3]);
    let percent = if i.ohlc[3] > 0.0 { round2(change / i.ohlc[3] * 100.0) } else { 0.0 };
    for (k, v) in [
        ("lastTradeQty", json!(0)),
        ("exchFeedTime", json!("05-Jan-2026 09:15:00")),
        ("exchTradeTime", json!("05-Jan-2026 09:15:00")),
        ("netChange", json!(change)),
        ("percentChange", json!(percent)),
        ("avgPrice", json!(i.ltp)),
        ("tradeVolume", json!(i.volume)),
        ("opnInterest", json!(0)),
        ("lowerCircuit", json!(round2(i.ltp * 0.8))),
        ("upperCircuit", json!(round2(i.ltp * 1.2))),
        ("totBuyQuan", json!(0)),
        ("totSellQuan", json!(0)),
        ("52WeekLow", json!(i.ohlc[2])),
        ("52WeekHigh", json!(i.ohlc[1])),
        (
            "depth",
            json!({"buy": (0..5).map(|_| level()).collect::<Vec<_>>(), "sell": (0..5).map(|_| level()).collect::<Vec<_>>()}),
        ),
    ] {
        o.insert(k.into(), v);
    }
    q
}

pub(super) fn quote(s: &State, body: &Value) -> Reply {
    let mode = text_field(body, "mode").unwrap_or_default();
    if !matches!(mode.as_str(), "LTP" | "OHLC" | "FULL") {
        return business("AB2000", "Invalid mode");
    }
    let Some(tokens) = body.get("exchangeTokens").and_then(Value::as_object) else {
        return business("AB2000", "Invalid exchangeTokens");
    };
    let mut wanted = Vec::new();
    for (exchange, list) in tokens {
        let Some(list) = list.as_array() else { return business("AB2000", "Invalid exchangeTokens") };
        for t in list {
            let token = match t {
                Value::String(t) => t.clone(),
                Value::Number(n) => n.to_string(),
                _ => return business("AB2000", "Invalid exchangeTokens"),
            };
            wanted.push((exchange.clone(), token));
        }
    }
    if wanted.is_empty() || wanted.len() > QUOTE_TOKENS {
        return business("AB2000", "Between 1 and 50 tokens per request");
    }
    let (mut fetched, mut unfetched) = (Vec::new(), Vec::new());
    for (exchange, token) in wanted {
        match s.book.instrument(&exchange, &token) {
            Some(i) => fetched.push(quote_json(i, &mode)),
            None => unfetched.push(json!({
                "exchange": exchange, "symbolToken": token, "message": "Symbol not found", "errorCode": "AB1009",
            })),
        }
    }
    success(json!({"fetched": fetched, "unfetched": unfetched}))
}

/// Candles of the instrument and interval whose time lies in `[fromdate, todate]` (both
/// `yyyy-MM-dd HH:mm`), each `[time, open, high, low, close, volume]`.
pub(super) fn candles(s: &State, body: &Value) -> Reply {
    let exchange = text_field(body, "exchange").unwrap_or_default();
    let token = text_field(body, "symboltoken").unwrap_or_default();
    let interval = text_field(body, "interval").unwrap_or_default();
    if !INTERVALS.contains(&interval.as_str()) {
        return business("AB13000", "Invalid interval");
    }
    let (Some(from), Some(to)) = (text_field(body, "fromdate"), text_field(body, "todate")) else {
        return business("AB2000", "fromdate and todate are required");
    };
    if s.book.instrument(&exchange, &token).is_none() {
        return business("AB1009", "Symbol not found");
    }
    // `2026-01-05T09:15:00+05:30` compares with `2026-01-05 09:15` on its first 16 characters.
    let key = |t: &str| t.get(..16).unwrap_or(t).replace('T', " ");
    let rows: Vec<Value> = s
        .book
        .candles
        .get(&(exchange, token, interval))
        .map(|rows| {
            rows.iter()
                .filter(|row| {
                    let t = key(row.get(0).and_then(Value::as_str).unwrap_or_default());
                    t.as_str() >= from.as_str() && t.as_str() <= to.as_str()
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    success(Value::Array(rows))
}
