//! Angel One SmartAPI's instrument master (`OpenAPIScripMaster.json`, one JSON array made
//! once a day), every value a string:
//!
//! `{"token":"3045","symbol":"SBIN-EQ","name":"SBIN","expiry":"","strike":"-1.000000","lotsize":"1","instrumenttype":"","exch_seg":"NSE","tick_size":"5.000000"}`
//!
//! Units differ from Kite's: `tick_size` and `strike` are **paise** written as decimals
//! (`"5.000000"` is ₹0.05, `"2300000.000000"` is ₹23 000), parsed exactly, never through a
//! float; `expiry` is `DDMonYYYY` in whatever case the row uses. Numbers written as JSON
//! numbers instead of strings read the same.
//!
//! What is taken:
//! * `exch_seg` NSE, NFO, BSE, BFO; other exchanges (MCX, CDS, NCDEX, …) are out of scope.
//! * `instrumenttype` `""` on NSE or BSE is cash. Angel One writes NSE's series into the
//!   symbol, and only `-EQ` (normal rolling settlement) and `-BE` (trade for trade) are the
//!   equities Dalal trades: SME boards, bonds, gold bonds, REITs and the like (`-SM`, `-ST`,
//!   `-N1`, `-GB`, `-RR`, …) are out of scope, counted by their series. Angel's BSE symbols
//!   carry no series (`RELIANCE`), so every BSE cash row is equity, as in Kite's master.
//! * `FUTIDX`/`FUTSTK` are futures, `OPTIDX`/`OPTSTK` options (call or put by the symbol's
//!   `CE`/`PE` ending, Angel One having no field for it) on NFO and BFO.
//! * `AMXIDX` is an index: counted, not traded. Angel One's master has no prices, so
//!   [`Master::index_prices`] stays empty and options rank by strike.
//!
//! The symbol is kept as Angel One writes it (`SBIN-EQ`, `NIFTY29DEC2626000CE`): its
//! orders name the instrument by it and by `token`, which becomes the broker token (the
//! `symboltoken`, which the feed also speaks).

use dalal_core::model::Segment;

use super::json::{self, Fault, Fields};
use super::{BadReason, BadRow, BrokerInstrument, Exchange, Master, MasterError, OptionType, OutOfScope};

/// The series Angel One writes after an NSE equity's symbol that Dalal takes as equity.
pub const EQUITY_SERIES: [&str; 2] = ["EQ", "BE"];

/// Parses a whole master. Fails only when `json` is not a JSON array; every other fault
/// costs one element, recorded in [`Master::bad`] with its 1-based position in the array as
/// its `line`.
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
    let exchange_text = f.required("exch_seg")?;
    let Some(exchange) = Exchange::parse(&exchange_text) else {
        return out_of_scope(m, OutOfScope::Exchange(exchange_text.into_owned()));
    };
    let kind = f.text("instrumenttype", BadReason::MissingField)?;
    if kind == "AMXIDX" {
        return out_of_scope(m, OutOfScope::Index);
    }
    let symbol = f.required("symbol")?;
    let (segment, option_type) = match (exchange.is_derivatives(), kind.as_ref()) {
        (false, "") if exchange == Exchange::Nse => match symbol.rsplit_once('-') {
            Some((base, series)) if !base.is_empty() && EQUITY_SERIES.contains(&series) => (Segment::Equity, None),
            Some((_, series)) => {
                let why = OutOfScope::InstrumentType { exchange, instrument_type: format!("-{series}") };
                return out_of_scope(m, why);
            }
            None => {
                let why = OutOfScope::InstrumentType { exchange, instrument_type: String::new() };
                return out_of_scope(m, why);
            }
        },
        (false, "") => (Segment::Equity, None),
        (true, "FUTIDX" | "FUTSTK") => (Segment::Futures, None),
        (true, "OPTIDX" | "OPTSTK") => {
            let t = if symbol.ends_with("CE") {
                OptionType::Call
            } else if symbol.ends_with("PE") {
                OptionType::Put
            } else {
                return Err((BadReason::OptionType, format!("option symbol {symbol:?} ends in neither CE nor PE")));
            };
            (Segment::Options, Some(t))
        }
        _ => {
            let why = OutOfScope::InstrumentType { exchange, instrument_type: kind.into_owned() };
            return out_of_scope(m, why);
        }
    };
    let token = f.positive("token", BadReason::Token)?;
    let tick_size = f.paise("tick_size", BadReason::TickSize)?;
    let lot_size = f.positive("lotsize", BadReason::LotSize)?;
    let expiry = if segment == Segment::Equity {
        None
    } else {
        let e = f.required("expiry")?;
        Some(
            json::day_month_year(&e)
                .ok_or_else(|| (BadReason::Expiry, format!("expiry {e:?} is not a DDMonYYYY day")))?,
        )
    };
    // `-1`/`0` on everything but options: only an option's strike is read.
    let strike = if segment == Segment::Options { Some(f.paise("strike", BadReason::Strike)?) } else { None };
    Ok(Some(BrokerInstrument {
        broker_token: token,
        broker_key: None,
        exchange_token: token,
        exchange,
        tradingsymbol: symbol.into_owned(),
        name: f.text("name", BadReason::MissingField)?.into_owned(),
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
    use super::*;
    use crate::instruments::Expiry;
    use dalal_core::model::Price;

    fn one(element: &str) -> Master {
        parse(&format!("[{element}]")).expect("an array")
    }

    /// An element from its fields in Angel One's order: token, symbol, name, expiry, strike,
    /// lotsize, instrumenttype, exch_seg, tick_size.
    fn row(f: [&str; 9]) -> String {
        let [token, symbol, name, expiry, strike, lot, kind, exch, tick] = f;
        format!(
            r#"{{"token":"{token}","symbol":"{symbol}","name":"{name}","expiry":"{expiry}","strike":"{strike}","lotsize":"{lot}","instrumenttype":"{kind}","exch_seg":"{exch}","tick_size":"{tick}"}}"#
        )
    }

    #[test]
    fn equity_future_option_and_index() {
        let m = parse(&format!(
            "[{},\n{},\n{},\n{},\n{}]",
            row(["3045", "SBIN-EQ", "SBIN", "", "-1.000000", "1", "", "NSE", "5.000000"]),
            row(["35001", "NIFTY29DEC26FUT", "NIFTY", "29DEC2026", "-1.000000", "65", "FUTIDX", "NFO", "10.000000"]),
            row([
                "45829",
                "NIFTY04APR2423000CE",
                "NIFTY",
                "04Apr2024",
                "2300000.000000",
                "50",
                "OPTIDX",
                "NFO",
                "5.000000"
            ]),
            row(["99926000", "Nifty 50", "NIFTY", "", "0.000000", "1", "AMXIDX", "NSE", "0.000000"]),
            row(["500325", "RELIANCE", "RELIANCE", "", "-1.000000", "1", "", "BSE", "5.000000"]),
        ))
        .expect("reads");
        assert_eq!(m.rows, 5);
        assert!(m.bad.is_empty(), "{:?}", m.bad);
        let [eq, fut, opt, bse] = &m.instruments[..] else { panic!("{:?}", m.instruments) };
        assert_eq!(
            (eq.broker_token, eq.exchange_token, eq.tradingsymbol.as_str(), eq.name.as_str()),
            (3045, 3045, "SBIN-EQ", "SBIN")
        );
        assert_eq!(
            (eq.segment, eq.tick_size, eq.lot_size, eq.expiry, eq.strike),
            (Segment::Equity, Price(5), 1, None, None)
        );
        assert_eq!((eq.broker_key.as_deref(), eq.last_price), (None, None));
        assert_eq!(eq.underlying(), "SBIN", "the series is not part of the company");
        assert_eq!((fut.segment, fut.tick_size, fut.lot_size), (Segment::Futures, Price(10), 65));
        assert_eq!((fut.expiry, fut.strike), (Some(Expiry { year: 2026, month: 12, day: 29 }), None));
        assert_eq!(
            (opt.segment, opt.option_type, opt.strike),
            (Segment::Options, Some(OptionType::Call), Some(Price(2_300_000)))
        );
        assert_eq!(opt.expiry, Some(Expiry { year: 2024, month: 4, day: 4 }));
        assert_eq!(
            (bse.exchange, bse.segment, bse.tradingsymbol.as_str()),
            (Exchange::Bse, Segment::Equity, "RELIANCE")
        );
        assert_eq!(m.out_of_scope.get(&OutOfScope::Index), Some(&1));
        assert!(m.index_prices.is_empty(), "Angel One's master has no prices");
    }

    #[test]
    fn ticks_and_strikes_are_exact_paise() {
        for (text, paise) in [("5.000000", 5), ("1.000000", 1), ("10", 10), ("50.00", 50), ("0005.0", 5)] {
            let m = one(&row(["1", "X-EQ", "X", "", "-1", "1", "", "NSE", text]));
            assert_eq!(m.instruments[0].tick_size, Price(paise), "{text}");
        }
        for text in ["0.250000", "0.000000", "", "-5.000000", "abc", "5e0", "5.0000001"] {
            let m = one(&row(["1", "X-EQ", "X", "", "-1", "1", "", "NSE", text]));
            assert_eq!((m.bad.len(), m.bad[0].line, m.bad[0].reason), (1, 1, BadReason::TickSize), "{text}");
        }
        for (text, paise) in [("2300000.000000", 2_300_000), ("150250.000000", 150_250), ("5", 5)] {
            let m = one(&row([
                "1",
                "RELIANCE29DEC261502.5PE",
                "RELIANCE",
                "29DEC2026",
                text,
                "500",
                "OPTSTK",
                "NFO",
                "5.000000",
            ]));
            assert_eq!(m.instruments[0].strike, Some(Price(paise)), "{text}");
            assert_eq!(m.instruments[0].option_type, Some(OptionType::Put));
        }
        for text in ["-1.000000", "0", "", "2300000.5"] {
            let m =
                one(&row(["1", "NIFTY29DEC2626000CE", "NIFTY", "29DEC2026", text, "65", "OPTIDX", "NFO", "5.000000"]));
            assert_eq!(m.bad[0].reason, BadReason::Strike, "{text}");
        }
    }

    #[test]
    fn expiries_read_in_any_case() {
        for (text, (year, month, day)) in [
            ("04Apr2024", (2024, 4, 4)),
            ("25FEB2021", (2021, 2, 25)),
            ("29dec2026", (2026, 12, 29)),
            ("1Jan2027", (2027, 1, 1)),
        ] {
            let m = one(&row(["1", "NIFTYFUT", "NIFTY", text, "-1", "65", "FUTIDX", "NFO", "10"]));
            assert_eq!(m.instruments[0].expiry, Some(Expiry { year, month, day }), "{text}");
        }
        for text in ["31FEB2026", "2026-12-29", "29DCE2026", "29DEC26", "123JAN2026", "29 DEC 2026"] {
            let m = one(&row(["1", "NIFTYFUT", "NIFTY", text, "-1", "65", "FUTIDX", "NFO", "10"]));
            assert_eq!(m.bad[0].reason, BadReason::Expiry, "{text}");
        }
        let m = one(&row(["1", "NIFTYFUT", "NIFTY", "", "-1", "65", "FUTIDX", "NFO", "10"]));
        assert_eq!(m.bad[0].reason, BadReason::MissingField, "a future needs its expiry");
        let m = one(&row(["1", "NIFTYFUT", "NIFTY", " 29DEC2026 ", "-1", "65", "FUTIDX", "NFO", "10"]));
        assert!(m.bad.is_empty(), "values are trimmed");
    }

    #[test]
    fn bad_elements_are_counted_with_their_position() {
        let m = parse(&format!(
            "[{},\n42,\n{},\n{},\n{},\n{},\n{},\n{},\n{}]",
            row(["1", "A-EQ", "A", "", "-1", "1", "", "NSE", "5"]),
            row(["2", "", "B", "", "-1", "1", "", "NSE", "5"]),
            row(["x", "C-EQ", "C", "", "-1", "1", "", "NSE", "5"]),
            row(["4", "D-EQ", "D", "", "-1", "0", "", "NSE", "5"]),
            row(["5", "NIFTY29DEC2626000XX", "NIFTY", "29DEC2026", "2600000", "65", "OPTIDX", "NFO", "5"]),
            r#"{"token":"6","symbol":["E-EQ"],"exch_seg":"NSE","instrumenttype":"","lotsize":"1","tick_size":"5"}"#,
            r#"{"token":7,"symbol":"F-EQ","name":"F","exch_seg":"NSE","instrumenttype":"","lotsize":1,"tick_size":5.0}"#,
            row(["8", "G-EQ", "G", "", "-1", "1", "", "", "5"]),
        ))
        .expect("reads");
        let got: Vec<(usize, BadReason)> = m.bad.iter().map(|b| (b.line, b.reason)).collect();
        assert_eq!(
            got,
            vec![
                (2, BadReason::NotAnObject),
                (3, BadReason::MissingField),
                (4, BadReason::Token),
                (5, BadReason::LotSize),
                (6, BadReason::OptionType),
                (7, BadReason::MissingField),
                (9, BadReason::MissingField),
            ]
        );
        assert_eq!(m.rows, 9);
        let symbols: Vec<&str> = m.instruments.iter().map(|i| i.tradingsymbol.as_str()).collect();
        assert_eq!(symbols, ["A-EQ", "F-EQ"], "numbers read as their text");
        assert_eq!((m.instruments[1].broker_token, m.instruments[1].tick_size), (7, Price(5)));
    }

    #[test]
    fn out_of_scope_rows_are_counted_not_refused() {
        let m = parse(&format!(
            "[{},{},{},{},{},{},{},{}]",
            row(["1", "GOLD05FEB27FUT", "GOLD", "05FEB2027", "-1", "1", "FUTCOM", "MCX", "100"]),
            row(["2", "USDINR29DEC26FUT", "USDINR", "29DEC2026", "-1", "1", "FUTCUR", "CDS", "0.250000"]),
            row(["3", "XYZ-SM", "XYZ", "", "-1", "1200", "", "NSE", "5"]),
            row(["4", "SGBDEC26-GB", "SGBDEC26", "", "-1", "1", "", "NSE", "1"]),
            row(["5", "NOSERIES", "NOSERIES", "", "-1", "1", "", "NSE", "5"]),
            row(["6", "XYZ-BE", "XYZ", "", "-1", "1", "", "NSE", "1"]),
            row(["7", "NIFTY29DEC26FUT", "NIFTY", "29DEC2026", "-1", "65", "FUTIDX", "NSE", "10"]),
            row(["99919000", "SENSEX", "SENSEX", "", "0", "1", "AMXIDX", "BSE", "0"]),
        ))
        .expect("reads");
        assert!(m.bad.is_empty(), "{:?}", m.bad);
        assert_eq!(m.instruments.len(), 1);
        assert_eq!((m.instruments[0].tradingsymbol.as_str(), m.instruments[0].underlying()), ("XYZ-BE", "XYZ"));
        assert_eq!(m.out_of_scope.get(&OutOfScope::Exchange("MCX".into())), Some(&1));
        assert_eq!(m.out_of_scope.get(&OutOfScope::Exchange("CDS".into())), Some(&1));
        let series = |s: &str| OutOfScope::InstrumentType { exchange: Exchange::Nse, instrument_type: s.into() };
        assert_eq!(m.out_of_scope.get(&series("-SM")), Some(&1));
        assert_eq!(m.out_of_scope.get(&series("-GB")), Some(&1));
        assert_eq!(m.out_of_scope.get(&series("")), Some(&1));
        assert_eq!(m.out_of_scope.get(&series("FUTIDX")), Some(&1), "a future on the cash exchange");
        assert_eq!(m.out_of_scope.get(&OutOfScope::Index), Some(&1));
    }

    #[test]
    fn a_file_that_is_not_an_array_is_refused_whole() {
        for text in ["", "{\"status\":false,\"message\":\"Invalid\"}", "[{\"token\":\"1\"", "<html>", "[] []"] {
            let e = parse(text).expect_err(text);
            assert!(matches!(e, MasterError::NotJson(_)), "{text}: {e:?}");
            assert!(e.to_string().starts_with("the instrument master is not a JSON array"), "{e}");
        }
        assert_eq!(parse("\u{feff}[]").expect("an empty array").rows, 0);
    }
}
