//! Upstox's instrument master (`complete.json.gz`, or one exchange's `NSE.json.gz`: a
//! gzip-compressed JSON array made once a day), one object per contract:
//!
//! `{"segment":"NSE_EQ","name":"RELIANCE INDUSTRIES LTD","exchange":"NSE","isin":"INE002A01018","instrument_type":"EQ","instrument_key":"NSE_EQ|INE002A01018","lot_size":1,"exchange_token":"2885","tick_size":10.0,"trading_symbol":"RELIANCE",…}`
//!
//! [`parse_bytes`] takes the file as downloaded (gzip) or already decompressed; [`parse`]
//! the JSON text. Units differ from Kite's and from Upstox's own deprecated CSV:
//! `tick_size` is **paise** (`5.0` is ₹0.05), `strike_price` rupees, `expiry` epoch
//! milliseconds (the day taken in IST). Numbers are read from their decimal text, exactly.
//!
//! What is taken, by `segment`:
//! * `NSE_EQ` with `instrument_type` (NSE's series) `EQ` or `BE`, as Angel One's `-EQ`/`-BE`
//!   symbols: SME, bond and other series are out of scope, counted by series.
//! * `BSE_EQ`, every row: its `instrument_type` is the BSE group (`A`, `B`, `T`, …), and
//!   Kite's master, too, lists every BSE cash row as equity.
//! * `NSE_FO` and `BSE_FO` rows of type `FUT`, `CE` and `PE`.
//! * `NSE_INDEX` and `BSE_INDEX` (or any `INDEX` row) are indices: counted, not traded.
//!   Upstox's master has no prices, so [`Master::index_prices`] stays empty.
//! * Other segments (`MCX_FO`, `NCD_FO`, `BCD_FO`, `NSE_COM`, …) are out of scope.
//!
//! Each instrument keeps Upstox's `trading_symbol` (`RELIANCE`, `NIFTY 26000 CE 08 DEC 26`),
//! its `exchange_token` as the broker token, and its `instrument_key` as
//! [`BrokerInstrument::broker_key`]: Upstox's orders and feed name instruments by the key,
//! and an exchange token may be reused for another contract after expiry. A derivative's
//! `name` is its `underlying_symbol` (`NIFTY`, `IDEA`), since Upstox's `name` is the
//! company's (`VODAFONE IDEA LIMITED`) and the selection ranks derivatives by underlying.

use std::io::Read as _;

use dalal_core::model::Segment;

use super::json::{self, Fault, Fields};
use super::{BadReason, BadRow, BrokerInstrument, Exchange, Master, MasterError, OptionType, OutOfScope};

/// The most a gzip master may decompress to: several times Upstox's complete master, and
/// a bound on what a corrupt or hostile file can make the import allocate.
pub const MAX_DECOMPRESSED: u64 = 1 << 30;

/// Parses the master as downloaded: gzip (by its magic bytes) or plain JSON. Fails when
/// the gzip does not decompress or the JSON is not an array; every other fault costs one
/// element (see [`parse`]).
pub fn parse_bytes(bytes: &[u8]) -> Result<Master, MasterError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return parse(&gunzip(bytes)?);
    }
    parse(&String::from_utf8_lossy(bytes))
}

/// Every member of a gzip file (`MultiGzDecoder`: a concatenation is one file to `gzip -d`
/// too), as text; invalid UTF-8 is replaced, as for Kite's CSV, so that only the elements
/// holding it can go wrong.
fn gunzip(bytes: &[u8]) -> Result<String, MasterError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut out)
        .map_err(|e| MasterError::Gzip(e.to_string()))?;
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(MasterError::Gzip(format!("it holds more than {} MiB", MAX_DECOMPRESSED >> 20)));
    }
    Ok(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Parses a whole master's JSON. Fails only when `json` is not a JSON array; every other
/// fault costs one element, recorded in [`Master::bad`] with its 1-based position in the
/// array as its `line`.
pub fn parse(json: &str) -> Result<Master, MasterError> {
    let mut m = Master::default();
    json::for_each(json, |n, v| {
        m.rows += 1;
        match Fields::of(&v).and_then(|f| read(&f, &mut m)) {
            Ok(Some(i)) => m.instruments.push(i),
            Ok(None) => {}
            Err((reason, detail)) => m.bad.push(BadRow { line: n, reason, detail }),
        }
    })?;
    Ok(m)
}

/// Counts a well-formed row that Dalal does not trade.
fn out_of_scope(m: &mut Master, why: OutOfScope) -> Result<Option<BrokerInstrument>, Fault> {
    *m.out_of_scope.entry(why).or_insert(0) += 1;
    Ok(None)
}

/// The element as an instrument, `Ok(None)` when it is well formed but out of Dalal's scope
/// (counted in `m`).
fn read(f: &Fields<'_>, m: &mut Master) -> Result<Option<BrokerInstrument>, Fault> {
    let segment_text = f.required("segment")?;
    let exchange = match segment_text.as_ref() {
        "NSE_EQ" => Exchange::Nse,
        "NSE_FO" => Exchange::Nfo,
        "BSE_EQ" => Exchange::Bse,
        "BSE_FO" => Exchange::Bfo,
        "NSE_INDEX" | "BSE_INDEX" => return out_of_scope(m, OutOfScope::Index),
        _ => return out_of_scope(m, OutOfScope::Exchange(segment_text.into_owned())),
    };
    let kind = f.required("instrument_type")?;
    if kind == "INDEX" {
        return out_of_scope(m, OutOfScope::Index);
    }
    let (segment, option_type) = match (exchange, kind.as_ref()) {
        (Exchange::Nse, "EQ" | "BE") | (Exchange::Bse, _) => (Segment::Equity, None),
        (Exchange::Nfo | Exchange::Bfo, "FUT") => (Segment::Futures, None),
        (Exchange::Nfo | Exchange::Bfo, "CE") => (Segment::Options, Some(OptionType::Call)),
        (Exchange::Nfo | Exchange::Bfo, "PE") => (Segment::Options, Some(OptionType::Put)),
        _ => {
            let why = OutOfScope::InstrumentType { exchange, instrument_type: kind.into_owned() };
            return out_of_scope(m, why);
        }
    };
    let token = f.positive("exchange_token", BadReason::Token)?;
    let key = f.required("instrument_key")?;
    match key.split_once('|') {
        Some((seg, id)) if seg == segment_text && !id.trim().is_empty() && !key.chars().any(char::is_control) => {}
        _ => {
            return Err((BadReason::Key, format!("instrument_key {key:?} is not {segment_text}|<id>")));
        }
    }
    let tradingsymbol = f.required("trading_symbol")?.into_owned();
    let tick_size = f.paise("tick_size", BadReason::TickSize)?;
    let lot_size = f.positive("lot_size", BadReason::LotSize)?;
    let expiry = if segment == Segment::Equity {
        None
    } else {
        let e = f.required("expiry")?;
        let day = e.parse::<i64>().ok().filter(|&ms| ms > 0).and_then(json::ist_day_of_millis);
        Some(day.ok_or_else(|| (BadReason::Expiry, format!("expiry {e:?} is not epoch milliseconds")))?)
    };
    let strike = if segment == Segment::Options { Some(f.rupees("strike_price", BadReason::Strike)?) } else { None };
    let name = match f.text("underlying_symbol", BadReason::MissingField)? {
        u if segment != Segment::Equity && !u.is_empty() => u,
        _ => f.text("name", BadReason::MissingField)?,
    };
    Ok(Some(BrokerInstrument {
        broker_token: token,
        broker_key: Some(key.into_owned()),
        exchange_token: token,
        exchange,
        tradingsymbol,
        name: name.into_owned(),
        segment,
        tick_size,
        lot_size,
        expiry,
        strike,
        option_type,
        last_price: None,
    }))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::instruments::Expiry;
    use dalal_core::model::Price;

    const RELIANCE: &str = r#"{"segment":"NSE_EQ","name":"RELIANCE INDUSTRIES LTD","exchange":"NSE","isin":"INE002A01018","instrument_type":"EQ","instrument_key":"NSE_EQ|INE002A01018","lot_size":1,"freeze_quantity":100000.0,"exchange_token":"2885","tick_size":10.0,"trading_symbol":"RELIANCE","short_name":"Reliance Industries","security_type":"NORMAL"}"#;
    const IDEA_CE: &str = r#"{"weekly":false,"segment":"NSE_FO","name":"VODAFONE IDEA LIMITED","exchange":"NSE","expiry":1706207399000,"instrument_type":"CE","underlying_symbol":"IDEA","instrument_key":"NSE_FO|36708","lot_size":80000,"freeze_quantity":1600000.0,"exchange_token":"36708","minimum_lot":80000,"underlying_key":"NSE_EQ|INE669E01016","tick_size":5.0,"underlying_type":"EQUITY","trading_symbol":"IDEA 22 CE 25 JAN 24","strike_price":22.0}"#;
    const NIFTY_FUT: &str = r#"{"weekly":false,"segment":"NSE_FO","name":"NIFTY","exchange":"NSE","expiry":1798568999000,"instrument_type":"FUT","underlying_symbol":"NIFTY","instrument_key":"NSE_FO|51714","lot_size":65,"exchange_token":"51714","minimum_lot":65,"underlying_key":"NSE_INDEX|Nifty 50","tick_size":10.0,"underlying_type":"INDEX","trading_symbol":"NIFTY FUT 29 DEC 26","strike_price":0.0}"#;
    const NIFTY_50: &str = r#"{"segment":"NSE_INDEX","name":"Nifty 50","exchange":"NSE","instrument_type":"INDEX","instrument_key":"NSE_INDEX|Nifty 50","exchange_token":26000,"trading_symbol":"NIFTY"}"#;

    fn one(element: &str) -> Master {
        parse(&format!("[{element}]")).expect("an array")
    }

    /// RELIANCE with one field replaced (`None`: removed).
    fn reliance_with(key: &str, value: Option<serde_json::Value>) -> String {
        let mut v: serde_json::Value = serde_json::from_str(RELIANCE).expect("json");
        let o = v.as_object_mut().expect("object");
        match value {
            Some(x) => o.insert(key.into(), x),
            None => o.remove(key),
        };
        v.to_string()
    }

    fn idea_with(key: &str, value: serde_json::Value) -> String {
        let mut v: serde_json::Value = serde_json::from_str(IDEA_CE).expect("json");
        v.as_object_mut().expect("object").insert(key.into(), value);
        v.to_string()
    }

    #[test]
    fn equity_future_option_and_index() {
        let m = parse(&format!("[{RELIANCE},\n{NIFTY_FUT},\n{IDEA_CE},\n{NIFTY_50}]")).expect("reads");
        assert_eq!(m.rows, 4);
        assert!(m.bad.is_empty(), "{:?}", m.bad);
        let [eq, fut, opt] = &m.instruments[..] else { panic!("{:?}", m.instruments) };
        assert_eq!(
            (eq.broker_token, eq.broker_key.as_deref(), eq.tradingsymbol.as_str(), eq.name.as_str()),
            (2885, Some("NSE_EQ|INE002A01018"), "RELIANCE", "RELIANCE INDUSTRIES LTD")
        );
        assert_eq!(
            (eq.segment, eq.tick_size, eq.lot_size, eq.expiry, eq.last_price),
            (Segment::Equity, Price(10), 1, None, None)
        );
        assert_eq!(
            (fut.segment, fut.name.as_str(), fut.tick_size, fut.lot_size),
            (Segment::Futures, "NIFTY", Price(10), 65)
        );
        assert_eq!((fut.expiry, fut.strike), (Some(Expiry { year: 2026, month: 12, day: 29 }), None));
        assert_eq!(
            (opt.segment, opt.option_type, opt.strike, opt.name.as_str()),
            (Segment::Options, Some(OptionType::Call), Some(Price(2200)), "IDEA")
        );
        assert_eq!(opt.expiry, Some(Expiry { year: 2024, month: 1, day: 25 }), "23:59:59 IST is still the 25th");
        assert_eq!((opt.broker_token, opt.broker_key.as_deref()), (36708, Some("NSE_FO|36708")));
        assert_eq!(m.out_of_scope.get(&OutOfScope::Index), Some(&1));
    }

    #[test]
    fn gzip_or_plain_read_alike() {
        let text = format!("[{RELIANCE},{NIFTY_FUT},{IDEA_CE},{NIFTY_50}]");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).expect("compress");
        let gz = gz.finish().expect("compress");
        let plain = parse_bytes(text.as_bytes()).expect("plain");
        assert_eq!(plain.instruments.len(), 3);
        assert_eq!(parse_bytes(&gz).expect("gzip"), plain);
        let mut torn = gz.clone();
        torn.truncate(gz.len() / 2);
        let e = parse_bytes(&torn).expect_err("cut short");
        assert!(matches!(e, MasterError::Gzip(_)), "{e:?}");
        let e = parse_bytes(&[0x1f, 0x8b, 1, 2, 3]).expect_err("not gzip after all");
        assert!(e.to_string().contains("gzip"), "{e}");
        assert!(matches!(parse_bytes(b"not json"), Err(MasterError::NotJson(_))));
    }

    #[test]
    fn ticks_strikes_and_expiries_are_exact() {
        for (tick, paise) in [
            (serde_json::json!(5.0), 5),
            (serde_json::json!(1), 1),
            (serde_json::json!(50.0), 50),
            (serde_json::json!("10.0"), 10),
        ] {
            let m = one(&reliance_with("tick_size", Some(tick.clone())));
            assert_eq!(m.instruments[0].tick_size, Price(paise), "{tick}");
        }
        for tick in [
            serde_json::json!(0.25),
            serde_json::json!(0.0),
            serde_json::json!(-5.0),
            serde_json::json!("abc"),
            serde_json::json!([5]),
        ] {
            let m = one(&reliance_with("tick_size", Some(tick.clone())));
            assert_eq!((m.bad.len(), m.bad[0].line, m.bad[0].reason), (1, 1, BadReason::TickSize), "{tick}");
        }
        for (strike, paise) in [
            (serde_json::json!(22.0), 2200),
            (serde_json::json!(1502.5), 150_250),
            (serde_json::json!(26000), 2_600_000),
            (serde_json::json!(0.05), 5),
        ] {
            let m = one(&idea_with("strike_price", strike.clone()));
            assert_eq!(m.instruments[0].strike, Some(Price(paise)), "{strike}");
        }
        for strike in
            [serde_json::json!(0.0), serde_json::json!(1502.555), serde_json::json!(-22.0), serde_json::Value::Null]
        {
            let m = one(&idea_with("strike_price", strike.clone()));
            assert_eq!(m.bad[0].reason, BadReason::Strike, "{strike}");
        }
        for (ms, day) in [(1_706_207_399_000_i64, 25), (1_706_207_400_000, 26), (1_706_121_000_000, 25)] {
            let m = one(&idea_with("expiry", serde_json::json!(ms)));
            assert_eq!(m.instruments[0].expiry, Some(Expiry { year: 2024, month: 1, day }), "{ms}");
        }
        for e in
            [serde_json::json!("2024-01-25"), serde_json::json!(-1), serde_json::json!(1e300), serde_json::json!(1.5)]
        {
            let m = one(&idea_with("expiry", e.clone()));
            assert_eq!(m.bad[0].reason, BadReason::Expiry, "{e}");
        }
    }

    #[test]
    fn bad_elements_are_counted_with_their_position() {
        let m = parse(&format!(
            "[{RELIANCE},\n\"RELIANCE\",\n{},\n{},\n{},\n{},\n{},\n{},\n{}]",
            reliance_with("trading_symbol", None),
            reliance_with("exchange_token", Some(serde_json::json!("x"))),
            reliance_with("instrument_key", Some(serde_json::json!("BSE_EQ|INE002A01018"))),
            reliance_with("instrument_key", Some(serde_json::json!("NSE_EQ|"))),
            reliance_with("lot_size", Some(serde_json::json!(0))),
            idea_with("instrument_key", serde_json::json!("NSE_FO|367\u{7}08")),
            reliance_with("segment", None),
        ))
        .expect("reads");
        let got: Vec<(usize, BadReason)> = m.bad.iter().map(|b| (b.line, b.reason)).collect();
        assert_eq!(
            got,
            vec![
                (2, BadReason::NotAnObject),
                (3, BadReason::MissingField),
                (4, BadReason::Token),
                (5, BadReason::Key),
                (6, BadReason::Key),
                (7, BadReason::LotSize),
                (8, BadReason::Key),
                (9, BadReason::MissingField),
            ]
        );
        assert_eq!((m.rows, m.instruments.len()), (9, 1));
    }

    #[test]
    fn out_of_scope_rows_are_counted_not_refused() {
        let seg = |s: &str, t: &str| {
            let mut v: serde_json::Value = serde_json::from_str(RELIANCE).expect("json");
            let o = v.as_object_mut().expect("object");
            o.insert("segment".into(), serde_json::json!(s));
            o.insert("instrument_type".into(), serde_json::json!(t));
            o.insert("instrument_key".into(), serde_json::json!(format!("{s}|1")));
            v.to_string()
        };
        let m = parse(&format!(
            "[{},{},{},{},{},{},{},{}]",
            seg("MCX_FO", "FUT"),
            seg("NCD_FO", "FUT"),
            seg("NSE_EQ", "SM"),
            seg("NSE_EQ", "BE"),
            seg("BSE_EQ", "A"),
            seg("BSE_INDEX", "INDEX"),
            seg("NSE_FO", "EQ"),
            seg("NSE_EQ", "INDEX"),
        ))
        .expect("reads");
        assert!(m.bad.is_empty(), "{:?}", m.bad);
        let got: Vec<(Exchange, Segment)> = m.instruments.iter().map(|i| (i.exchange, i.segment)).collect();
        assert_eq!(got, [(Exchange::Nse, Segment::Equity), (Exchange::Bse, Segment::Equity)]);
        assert_eq!(m.out_of_scope.get(&OutOfScope::Exchange("MCX_FO".into())), Some(&1));
        assert_eq!(m.out_of_scope.get(&OutOfScope::Exchange("NCD_FO".into())), Some(&1));
        let sm = OutOfScope::InstrumentType { exchange: Exchange::Nse, instrument_type: "SM".into() };
        assert_eq!(m.out_of_scope.get(&sm), Some(&1));
        let eq_on_fo = OutOfScope::InstrumentType { exchange: Exchange::Nfo, instrument_type: "EQ".into() };
        assert_eq!(m.out_of_scope.get(&eq_on_fo), Some(&1));
        assert_eq!(m.out_of_scope.get(&OutOfScope::Index), Some(&2));
    }
}
