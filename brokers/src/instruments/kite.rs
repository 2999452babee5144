//! Kite Connect's instrument master (`GET /instruments`, a CSV dump made once a day):
//!
//! `instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange`
//!
//! Columns are found by name, so a reordered or widened header still reads. Prices are
//! rupee decimals and are parsed exactly into paise: a tick of `0.05` is 5 paise, never
//! 4.999… A tick that is not a whole number of paise (currency contracts quote in ¼ paise)
//! refuses the row instead of rounding it onto another grid.

use dalal_core::model::{Price, Segment};

use super::csv::{CsvFault, Record, Records};
use super::{BadReason, BadRow, BrokerInstrument, Exchange, Expiry, Master, MasterError, OptionType, OutOfScope};

/// The columns Kite's master has, in its order.
pub const COLUMNS: [&str; 12] = [
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
];

const TOKEN: usize = 0;
const EXCHANGE_TOKEN: usize = 1;
const SYMBOL: usize = 2;
const NAME: usize = 3;
const LAST_PRICE: usize = 4;
const EXPIRY: usize = 5;
const STRIKE: usize = 6;
const TICK: usize = 7;
const LOT: usize = 8;
const TYPE: usize = 9;
const SEGMENT: usize = 10;
const EXCHANGE: usize = 11;

/// Parses a whole master. Fails only when the header is missing or lacks a column; every
/// other fault costs one row, recorded in [`Master::bad`] with its line.
pub fn parse(text: &str) -> Result<Master, MasterError> {
    let mut records = Records::new(text);
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(_)) | None => return Err(MasterError::Empty),
    };
    let mut at = [0usize; COLUMNS.len()];
    let mut missing = Vec::new();
    for (i, col) in COLUMNS.iter().enumerate() {
        match header.fields.iter().position(|f| f.trim() == *col) {
            Some(p) => at[i] = p,
            None => missing.push(*col),
        }
    }
    if !missing.is_empty() {
        return Err(MasterError::MissingColumns(missing));
    }
    let width = header.fields.len();
    let mut m = Master::default();
    for rec in records {
        let rec = match rec {
            Ok(r) if r.fields.len() == 1 && r.fields[0].trim().is_empty() => continue,
            Ok(r) => r,
            Err((line, fault)) => {
                m.rows += 1;
                let detail = match fault {
                    CsvFault::Unterminated => "a quoted field is never closed",
                    CsvFault::StrayQuote => "text after a closing quote",
                };
                m.bad.push(BadRow { line, reason: BadReason::Csv, detail: detail.into() });
                continue;
            }
        };
        m.rows += 1;
        if rec.fields.len() != width {
            m.bad.push(BadRow {
                line: rec.line,
                reason: BadReason::FieldCount,
                detail: format!("{} fields, the header has {width}", rec.fields.len()),
            });
            continue;
        }
        let row = Row { rec: &rec, at: &at };
        match row.read(&mut m) {
            Ok(Some(i)) => m.instruments.push(i),
            Ok(None) => {}
            Err((reason, detail)) => m.bad.push(BadRow { line: rec.line, reason, detail }),
        }
    }
    Ok(m)
}

type Fault = (BadReason, String);

struct Row<'r, 'a> {
    rec: &'r Record<'a>,
    at: &'r [usize; COLUMNS.len()],
}

impl Row<'_, '_> {
    fn get(&self, col: usize) -> &str {
        self.rec.fields.get(self.at[col]).map_or("", |f| f.trim())
    }

    fn required(&self, col: usize) -> Result<&str, Fault> {
        let v = self.get(col);
        if v.is_empty() {
            return Err((BadReason::MissingField, format!("{} is empty", COLUMNS[col])));
        }
        Ok(v)
    }

    fn token(&self, col: usize) -> Result<u64, Fault> {
        let v = self.required(col)?;
        v.parse::<u64>()
            .ok()
            .filter(|&t| t > 0)
            .ok_or_else(|| (BadReason::Token, format!("{} {v:?} is not a positive integer", COLUMNS[col])))
    }

    /// A rupee decimal in paise, exactly; `None` for an empty field.
    fn price(&self, col: usize, reason: BadReason) -> Result<Option<Price>, Fault> {
        let v = self.get(col);
        if v.is_empty() {
            return Ok(None);
        }
        match Price::parse_rupees(v) {
            Ok(p) if p.0 >= 0 => Ok(Some(p)),
            Ok(_) => Err((reason, format!("{} {v:?} is negative", COLUMNS[col]))),
            Err(e) => Err((reason, format!("{}: {e}", COLUMNS[col]))),
        }
    }

    /// The row as an instrument, `Ok(None)` when it is well formed but out of Dalal's scope
    /// (counted in `m`).
    fn read(&self, m: &mut Master) -> Result<Option<BrokerInstrument>, Fault> {
        let exchange_text = self.required(EXCHANGE)?;
        let Some(exchange) = Exchange::parse(exchange_text) else {
            *m.out_of_scope.entry(OutOfScope::Exchange(exchange_text.to_string())).or_insert(0) += 1;
            return Ok(None);
        };
        if self.get(SEGMENT) == "INDICES" {
            // Only the price matters here, and only when it reads.
            if let (Ok(Some(p)), s) = (self.price(LAST_PRICE, BadReason::LastPrice), self.get(SYMBOL)) {
                if p.is_positive() && !s.is_empty() {
                    m.index_prices.insert(s.to_string(), p);
                }
            }
            *m.out_of_scope.entry(OutOfScope::Index).or_insert(0) += 1;
            return Ok(None);
        }
        let kind = self.required(TYPE)?;
        let (segment, option_type) = match (exchange.is_derivatives(), kind) {
            (false, "EQ") => (Segment::Equity, None),
            (true, "FUT") => (Segment::Futures, None),
            (true, "CE") => (Segment::Options, Some(OptionType::Call)),
            (true, "PE") => (Segment::Options, Some(OptionType::Put)),
            _ => {
                let key = OutOfScope::InstrumentType { exchange, instrument_type: kind.to_string() };
                *m.out_of_scope.entry(key).or_insert(0) += 1;
                return Ok(None);
            }
        };
        let broker_token = self.token(TOKEN)?;
        let exchange_token = self.token(EXCHANGE_TOKEN)?;
        let tradingsymbol = self.required(SYMBOL)?.to_string();
        let tick_size = match self.price(TICK, BadReason::TickSize)? {
            Some(t) if t.is_positive() => t,
            _ => return Err((BadReason::TickSize, format!("tick_size {:?} is not a positive price", self.get(TICK)))),
        };
        let lot_text = self.required(LOT)?;
        let lot_size = lot_text
            .parse::<u64>()
            .ok()
            .filter(|&l| l > 0)
            .ok_or_else(|| (BadReason::LotSize, format!("lot_size {lot_text:?} is not a positive integer")))?;
        let expiry = if segment == Segment::Equity {
            None
        } else {
            let e = self.required(EXPIRY)?;
            Some(Expiry::parse(e).ok_or_else(|| (BadReason::Expiry, format!("expiry {e:?} is not a YYYY-MM-DD day")))?)
        };
        let strike = if segment == Segment::Options {
            match self.price(STRIKE, BadReason::Strike)? {
                Some(s) if s.is_positive() => Some(s),
                _ => return Err((BadReason::Strike, format!("strike {:?} is not a positive price", self.get(STRIKE)))),
            }
        } else {
            None
        };
        let last_price = self.price(LAST_PRICE, BadReason::LastPrice)?.filter(|p| p.is_positive());
        Ok(Some(BrokerInstrument {
            broker_token,
            broker_key: None,
            exchange_token,
            exchange,
            tradingsymbol,
            name: self.get(NAME).to_string(),
            segment,
            tick_size,
            lot_size,
            expiry,
            strike,
            option_type,
            last_price,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n";

    fn one(row: &str) -> Master {
        parse(&format!("{HEADER}{row}\n")).expect("header reads")
    }

    #[test]
    fn equity_future_option_and_index() {
        let m = parse(&format!(
            "{HEADER}738561,2885,RELIANCE,\"RELIANCE INDUSTRIES, LTD\",1402.3,,0,0.1,1,EQ,NSE,NSE\n\
             13238786,51714,NIFTY26DECFUT,\"NIFTY\",26150.5,2026-12-29,0,0.1,65,FUT,NFO-FUT,NFO\n\
             10340098,40391,NIFTY26D0826000PE,NIFTY,0,2026-12-08,26000,0.05,65,PE,NFO-OPT,NFO\n\
             256265,1001,NIFTY 50,NIFTY 50,26100,,0,0,0,EQ,INDICES,NSE\n"
        ))
        .expect("reads");
        assert_eq!(m.rows, 4);
        assert!(m.bad.is_empty(), "{:?}", m.bad);
        let [eq, fut, opt] = &m.instruments[..] else { panic!("{:?}", m.instruments) };
        assert_eq!(eq.name, "RELIANCE INDUSTRIES, LTD");
        assert_eq!(
            (eq.segment, eq.tick_size, eq.lot_size, eq.last_price),
            (Segment::Equity, Price(10), 1, Some(Price(140_230)))
        );
        assert_eq!((eq.broker_token, eq.exchange_token, eq.expiry), (738_561, 2885, None));
        assert_eq!(fut.segment, Segment::Futures);
        assert_eq!(fut.expiry, Some(Expiry { year: 2026, month: 12, day: 29 }));
        assert_eq!(fut.strike, None);
        assert_eq!(
            (opt.segment, opt.option_type, opt.strike),
            (Segment::Options, Some(OptionType::Put), Some(Price(2_600_000)))
        );
        assert_eq!(opt.last_price, None, "a zero last price is no price");
        assert_eq!(m.index_prices.get("NIFTY 50"), Some(&Price(2_610_000)));
        assert_eq!(m.out_of_scope.get(&OutOfScope::Index), Some(&1));
    }

    #[test]
    fn ticks_are_exact_paise() {
        for (text, paise) in [("0.05", 5), ("0.01", 1), ("0.1", 10), ("0.50", 50), ("5", 500), ("0.0500", 5)] {
            let m = one(&format!("1,1,X,X,0,,0,{text},1,EQ,NSE,NSE"));
            assert_eq!(m.instruments[0].tick_size, Price(paise), "{text}");
        }
        for text in ["0.0025", "0", "", "-0.05", "abc", "1e-2"] {
            let m = one(&format!("1,1,X,X,0,,0,{text},1,EQ,NSE,NSE"));
            assert_eq!(m.bad.len(), 1, "{text}");
            assert_eq!((m.bad[0].line, m.bad[0].reason), (2, BadReason::TickSize), "{text}");
        }
    }

    #[test]
    fn bad_rows_are_counted_with_their_line() {
        let m = parse(&format!(
            "{HEADER}1,1,A,A,0,,0,0.05,0,EQ,NSE,NSE\n\
             2,1,,B,0,,0,0.05,1,EQ,NSE,NSE\n\
             3,1,C,C,0,,0,0.05,1,EQ,NSE\n\
             x,1,D,D,0,,0,0.05,1,EQ,NSE,NSE\n\
             5,1,E,E,0,2026-02-30,0,0.05,50,FUT,NFO-FUT,NFO\n\
             6,1,F,F,0,2026-02-26,,0.05,50,CE,NFO-OPT,NFO\n\
             7,1,G,G,lots,,0,0.05,1,EQ,NSE,NSE\n\
             8,1,\"H,\"x,0,,0,0.05,1,EQ,NSE,NSE\n\
             9,1,I,I,0,,0,0.05,1,EQ,NSE,NSE\n"
        ))
        .expect("reads");
        let got: Vec<(usize, BadReason)> = m.bad.iter().map(|b| (b.line, b.reason)).collect();
        assert_eq!(
            got,
            vec![
                (2, BadReason::LotSize),
                (3, BadReason::MissingField),
                (4, BadReason::FieldCount),
                (5, BadReason::Token),
                (6, BadReason::Expiry),
                (7, BadReason::Strike),
                (8, BadReason::LastPrice),
                (9, BadReason::Csv),
            ]
        );
        assert_eq!(m.instruments.len(), 1);
        assert_eq!(m.instruments[0].tradingsymbol, "I");
        assert_eq!(m.rows, 9);
    }

    #[test]
    fn out_of_scope_rows_are_counted_not_refused() {
        let m = parse(&format!(
            "{HEADER}1,1,GOLD26FEBFUT,GOLD,0,2026-02-05,0,1,1,FUT,MCX-FUT,MCX\n\
             2,1,USDINR26JANFUT,USDINR,0,2026-01-28,0,0.0025,1000,FUT,CDS-FUT,CDS\n\
             3,1,RELIANCE,RELIANCE,0,,0,0.05,1,EQ,BSE,BSE\n\
             4,1,XYZ,XYZ,0,,0,0.05,1,FUT,NSE,NSE\n"
        ))
        .expect("reads");
        assert!(m.bad.is_empty(), "{:?}", m.bad);
        assert_eq!(m.instruments.len(), 1, "BSE equity maps onto Dalal's equity segment");
        assert_eq!(m.out_of_scope.get(&OutOfScope::Exchange("MCX".into())), Some(&1));
        assert_eq!(m.out_of_scope.get(&OutOfScope::Exchange("CDS".into())), Some(&1));
        let odd = OutOfScope::InstrumentType { exchange: Exchange::Nse, instrument_type: "FUT".into() };
        assert_eq!(m.out_of_scope.get(&odd), Some(&1));
    }

    #[test]
    fn header_faults_name_the_missing_columns() {
        assert_eq!(parse(""), Err(MasterError::Empty));
        let e = parse(
            "instrument_token,tradingsymbol,name,last_price,expiry,strike,tick_size,instrument_type,segment,exchange\n",
        )
        .expect_err("two columns short");
        assert_eq!(e, MasterError::MissingColumns(vec!["exchange_token", "lot_size"]));
        assert!(e.to_string().contains("exchange_token, lot_size"));
    }

    #[test]
    fn reordered_columns_read() {
        let m = parse("exchange,segment,instrument_type,lot_size,tick_size,strike,expiry,last_price,name,tradingsymbol,exchange_token,instrument_token\nNSE,NSE,EQ,1,0.05,0,,250.5,\"A, B\",AB,7,1793\n").expect("reads");
        assert_eq!(m.instruments[0].tradingsymbol, "AB");
        assert_eq!(m.instruments[0].broker_token, 1793);
        assert_eq!(m.instruments[0].last_price, Some(Price(25_050)));
    }
}
