//! Market data over REST: LTP (v2 and v3), full quotes (v2) and historical candles (v2 and
//! v3). Answers are keyed `SEGMENT:trading_symbol` with the instrument key inside as
//! `instrument_token` (brokers.md §3.6); prices are rupees.
//!
//! Keys come in `instrument_key` (or the deprecated `symbol` the SDK still sends),
//! comma-separated: none is UDAPI1009, one without `SEGMENT|id` UDAPI1011, more than 500
//! UDAPI100043. The fake's own choices: a well-formed key the fake does not know is left out
//! of the answer; a candle interval or date it cannot read is 400 UDAPI100036; an unknown
//! instrument in a candle path UDAPI1087.

use serde_json::{json, Value};

use super::book::{round2, Instrument, START_MS};
use super::routes::{error, invalid_input, success, Reply, Version};
use super::State;

/// At most this many instrument keys in one quote call.
const MAX_KEYS: usize = 500;

fn keys(raw: Option<&str>) -> Result<Vec<String>, Reply> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Err(error(400, "UDAPI1009", "instrument_key is required", Some("instrument_key"), None));
    };
    let keys: Vec<String> = raw.split(',').map(|k| k.trim().to_string()).collect();
    if keys.len() > MAX_KEYS {
        return Err(error(400, "UDAPI100043", "Maximum 500 instrument keys are allowed", Some("instrument_key"), None));
    }
    if let Some(bad) = keys.iter().find(|k| k.split_once('|').is_none_or(|(s, id)| s.is_empty() || id.is_empty())) {
        return Err(error(400, "UDAPI1011", "Invalid instrument key format", Some("instrument_key"), Some(bad)));
    }
    Ok(keys)
}

/// The instruments of `raw`'s keys the fake knows, each once.
fn known<'a>(s: &'a State, raw: Option<&str>) -> Result<Vec<&'a Instrument>, Reply> {
    let mut wanted = keys(raw)?;
    wanted.sort();
    wanted.dedup();
    Ok(wanted.iter().filter_map(|k| s.book.instrument(k)).collect())
}

pub(super) fn ltp(s: &State, raw: Option<&str>, version: Version) -> Reply {
    let instruments = match known(s, raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let data = instruments
        .into_iter()
        .map(|i| {
            let mut v = json!({"last_price": i.ltp, "instrument_token": i.key});
            if let (Version::V3, Some(o)) = (version, v.as_object_mut()) {
                o.insert("ltq".into(), json!(i.last_quantity));
                o.insert("volume".into(), json!(i.volume));
                o.insert("cp".into(), json!(i.close));
            }
            (i.quote_key(), v)
        })
        .collect::<serde_json::Map<_, _>>();
    success(Value::Object(data))
}

/// Five made-up levels a side around the last price, a tick apart (none for an index).
fn depth(i: &Instrument) -> Value {
    let side = |sign: f64| -> Vec<Value> {
        if i.is_index() {
            return Vec::new();
        }
        (1..=5)
            .map(|k| json!({"quantity": 100 * k, "price": round2(i.ltp + sign * 0.05 * k as f64), "orders": k}))
            .collect()
    };
    json!({"buy": side(-1.0), "sell": side(1.0)})
}

pub(super) fn quotes(s: &State, raw: Option<&str>) -> Reply {
    let instruments = match known(s, raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let data = instruments
        .into_iter()
        .map(|i| {
            let q = json!({
                "ohlc": {"open": i.ohlc[0], "high": i.ohlc[1], "low": i.ohlc[2], "close": i.close},
                "depth": depth(i),
                "timestamp": "2026-01-05T09:15:00.000+05:30",
                "instrument_token": i.key,
                "symbol": i.trading_symbol,
                "last_price": i.ltp,
                "volume": i.volume,
                "average_price": i.ltp,
                "oi": 0.0,
                "net_change": round2(i.ltp - i.close),
                "total_buy_quantity": if i.is_index() { 0.0 } else { 1500.0 },
                "total_sell_quantity": if i.is_index() { 0.0 } else { 1500.0 },
                "lower_circuit_limit": round2(i.close * 0.8),
                "upper_circuit_limit": round2(i.close * 1.2),
                "last_trade_time": i.last_trade_ms.max(START_MS).to_string(),
                "oi_day_high": 0.0,
                "oi_day_low": 0.0,
            });
            (i.quote_key(), q)
        })
        .collect::<serde_json::Map<_, _>>();
    success(Value::Object(data))
}

fn is_date(d: &str) -> bool {
    d.len() == 10 && d.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() })
}

/// The interval as the candle store names it, from the path: v3 `unit/interval` (minutes
/// 1–300, hours 1–5, days/weeks/months 1), v2 `1minute`, `30minute`, `day`, `week`, `month`.
fn interval(version: Version, parts: &[String]) -> Option<String> {
    match (version, parts) {
        (Version::V3, [unit, n]) => {
            let n: u32 = n.parse().ok()?;
            let max = match unit.as_str() {
                "minutes" => 300,
                "hours" => 5,
                "days" | "weeks" | "months" => 1,
                _ => return None,
            };
            (1..=max).contains(&n).then(|| format!("{unit}/{n}"))
        }
        (Version::V2, [i]) if ["1minute", "30minute", "day", "week", "month"].contains(&i.as_str()) => Some(i.clone()),
        _ => None,
    }
}

/// `/v{2,3}/historical-candle/{key}/{interval…}/{to}[/{from}]` (no token needed): the
/// stored candles whose date is within `[from, to]`, in the order stored.
pub(super) fn candles(s: &State, version: Version, segments: &[String]) -> Reply {
    let interval_len = if version == Version::V3 { 2 } else { 1 };
    let Some((key, rest)) = segments.split_first() else { return invalid_input("instrument_key") };
    if rest.len() != interval_len + 1 && rest.len() != interval_len + 2 {
        return invalid_input("interval");
    }
    let (interval_parts, dates) = rest.split_at(interval_len);
    let Some(spec) = interval(version, interval_parts) else { return invalid_input("interval") };
    let to = dates.first().map(String::as_str).unwrap_or_default();
    let from = dates.get(1).map(String::as_str);
    if !is_date(to) {
        return invalid_input("to_date");
    }
    if from.is_some_and(|f| !is_date(f) || f > to) {
        return invalid_input("from_date");
    }
    if s.book.instrument(key).is_none() {
        return error(400, "UDAPI1087", "Invalid Instrument key", Some("instrument_key"), Some(key));
    }
    let rows: Vec<Value> = s
        .book
        .candles
        .get(&(key.clone(), spec))
        .map(|rows| {
            rows.iter()
                .filter(|row| {
                    let day = row.get(0).and_then(Value::as_str).and_then(|t| t.get(..10)).unwrap_or_default();
                    day <= to && from.is_none_or(|f| day >= f)
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    success(json!({"candles": rows}))
}
