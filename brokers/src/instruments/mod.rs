//! Brokers' instrument masters as Dalal instruments. A broker publishes every contract it
//! can trade once a day (Kite: about 120 000 rows); an operator wants the few hundred a
//! strategy will use, with the exchange's tick and lot sizes and the broker's token for
//! each. [`kite::parse`] reads Kite's CSV, [`angel::parse`] Angel One's JSON scrip master and
//! [`upstox::parse_bytes`] Upstox's gzip JSON into broker-neutral [`BrokerInstrument`]s, each
//! counting rows out of Dalal's scope and refusing malformed rows one by one (never the whole
//! file); [`select`] picks and orders them the way operators need them.

pub mod angel;
mod csv;
pub mod kite;
pub mod nse;
pub mod select;
pub mod upstox;

use std::collections::BTreeMap;
use std::fmt;

use dalal_core::model::{Price, Segment};

pub use select::{select, Dropped, Selection, SelectionRules};

/// The exchanges whose contracts map onto Dalal's segments: cash equity and equity
/// derivatives. Currency (CDS, BCD) and commodities (MCX) have no Dalal segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exchange {
    Nse,
    Nfo,
    Bse,
    Bfo,
}

impl Exchange {
    pub const ALL: [Exchange; 4] = [Exchange::Nse, Exchange::Nfo, Exchange::Bse, Exchange::Bfo];

    pub fn parse(s: &str) -> Option<Exchange> {
        Some(match s {
            "NSE" => Exchange::Nse,
            "NFO" => Exchange::Nfo,
            "BSE" => Exchange::Bse,
            "BFO" => Exchange::Bfo,
            _ => return None,
        })
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Exchange::Nse => "NSE",
            Exchange::Nfo => "NFO",
            Exchange::Bse => "BSE",
            Exchange::Bfo => "BFO",
        }
    }

    /// True for the derivatives exchanges (futures and options).
    pub const fn is_derivatives(self) -> bool {
        matches!(self, Exchange::Nfo | Exchange::Bfo)
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OptionType {
    /// `CE`
    Call,
    /// `PE`
    Put,
}

/// A contract's expiry day. Field order makes the derived ordering chronological.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Expiry {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Expiry {
    /// `YYYY-MM-DD`, a real calendar day.
    pub fn parse(s: &str) -> Option<Expiry> {
        let d = dalal_core::model::Date::parse(s)?;
        Some(Expiry { year: d.year(), month: d.month(), day: d.day() })
    }
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// One tradable contract from a broker's master, in Dalal's terms: prices in paise, parsed
/// exactly from the master's decimal text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerInstrument {
    /// The broker's own numeric id: Kite's `instrument_token` (which its WebSocket speaks),
    /// Angel One's `token` (its `symboltoken`), Upstox's `exchange_token`.
    pub broker_token: u64,
    /// The broker's id where it is not a number: Upstox's `instrument_key`
    /// (`NSE_EQ|INE002A01018`), which its orders and feed speak and which, unlike its
    /// `exchange_token`, is never reused for another contract. `None` for Kite and Angel One.
    pub broker_key: Option<String>,
    pub exchange_token: u64,
    pub exchange: Exchange,
    pub tradingsymbol: String,
    /// The company, or a derivative's underlying (`NIFTY`, `RELIANCE`).
    pub name: String,
    pub segment: Segment,
    pub tick_size: Price,
    pub lot_size: u64,
    /// Futures and options only.
    pub expiry: Option<Expiry>,
    /// Options only.
    pub strike: Option<Price>,
    pub option_type: Option<OptionType>,
    /// The master's last price (not live; Kite's is often absent), `None` when zero.
    pub last_price: Option<Price>,
}

impl BrokerInstrument {
    /// What the instrument is "of", for ranking and `--underlying`: a derivative's
    /// underlying (`name`), an equity's own symbol without an NSE series suffix. Angel One
    /// writes NSE equities with their series (`SBIN-EQ`, `XYZ-BE`) and keeps that symbol for
    /// orders, so the symbol stays whole in the config while `SBIN-EQ` still counts as the
    /// NIFTY 50's `SBIN`. Only the two series the importers take as equity are stripped:
    /// `BAJAJ-AUTO` is a symbol, not a series.
    pub fn underlying(&self) -> &str {
        if self.segment != Segment::Equity {
            return &self.name;
        }
        let s = self.tradingsymbol.as_str();
        s.strip_suffix("-EQ").or_else(|| s.strip_suffix("-BE")).filter(|b| !b.is_empty()).unwrap_or(s)
    }
}

/// Why a row of the master is not an instrument for Dalal although it is well formed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutOfScope {
    /// An index: quoted, not traded (its last price still helps rank options).
    Index,
    /// An exchange without a Dalal segment (MCX, CDS, BCD, …).
    Exchange(String),
    /// A type this exchange lists that Dalal does not trade.
    InstrumentType { exchange: Exchange, instrument_type: String },
}

impl fmt::Display for OutOfScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutOfScope::Index => f.write_str("index (not tradable)"),
            OutOfScope::Exchange(e) => write!(f, "exchange {e} (no Dalal segment)"),
            OutOfScope::InstrumentType { exchange, instrument_type } => {
                write!(f, "{exchange} instrument_type {instrument_type:?} (no Dalal segment)")
            }
        }
    }
}

/// What is wrong with a malformed row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BadReason {
    /// Unreadable CSV: an unterminated quote or text after a closing quote.
    Csv,
    /// An element of a JSON master that is not an object.
    NotAnObject,
    FieldCount,
    MissingField,
    Token,
    /// Upstox's `instrument_key` is not `<segment>|<id>` for the row's segment.
    Key,
    TickSize,
    LotSize,
    Expiry,
    Strike,
    /// An option whose call or put cannot be told (Angel One's symbol must end in CE or PE).
    OptionType,
    LastPrice,
}

impl BadReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            BadReason::Csv => "unreadable_csv",
            BadReason::NotAnObject => "not_an_object",
            BadReason::FieldCount => "field_count",
            BadReason::MissingField => "missing_field",
            BadReason::Token => "bad_token",
            BadReason::Key => "bad_instrument_key",
            BadReason::TickSize => "bad_tick_size",
            BadReason::LotSize => "bad_lot_size",
            BadReason::Expiry => "bad_expiry",
            BadReason::Strike => "bad_strike",
            BadReason::OptionType => "bad_option_type",
            BadReason::LastPrice => "bad_last_price",
        }
    }
}

/// A row refused, with where it is and what is wrong, for the operator to look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRow {
    /// Where the row is, 1-based. A CSV master (Kite): the line of the file, the header
    /// being line 1. A JSON master (Angel One, Upstox): the element's position in the array
    /// (its index + 1), since a JSON master may well be written on a single line.
    pub line: usize,
    pub reason: BadReason,
    pub detail: String,
}

/// A parsed master.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Master {
    /// In file order.
    pub instruments: Vec<BrokerInstrument>,
    /// Index rows' last prices by their tradingsymbol (`NIFTY 50`), where the master has one.
    pub index_prices: BTreeMap<String, Price>,
    /// Data rows read (the header not counted); a JSON master's array elements.
    pub rows: usize,
    pub out_of_scope: BTreeMap<OutOfScope, usize>,
    /// In file order.
    pub bad: Vec<BadRow>,
}

impl Master {
    /// Malformed rows counted by reason.
    pub fn bad_counts(&self) -> BTreeMap<BadReason, usize> {
        let mut m = BTreeMap::new();
        for b in &self.bad {
            *m.entry(b.reason).or_insert(0) += 1;
        }
        m
    }
}

/// A master that cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MasterError {
    #[error("the instrument master is empty (no header row)")]
    Empty,
    #[error("the instrument master's header lacks the column(s) {}", .0.join(", "))]
    MissingColumns(Vec<&'static str>),
    /// A JSON master (Angel One, Upstox) that is not one JSON array: another shape (an error
    /// object from the download, say), or text that is not JSON at all, or is cut short. A
    /// syntax error leaves no reliable place to resume, unlike a bad CSV line.
    #[error("the instrument master is not a JSON array: {0}")]
    NotJson(String),
    /// A gzip file (Upstox's `complete.json.gz`) that does not decompress, or decompresses
    /// to more than [`upstox::MAX_DECOMPRESSED`] bytes.
    #[error("the instrument master is gzip-compressed but does not decompress: {0}")]
    Gzip(String),
}

/// The pieces of a JSON master shared by Angel One's and Upstox's parsers: the array read
/// element by element, and fields read as text whether the broker wrote them as strings
/// (Angel One) or numbers (Upstox), so that every price goes through the same exact decimal
/// parser as Kite's CSV text.
mod json {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{Deserializer as _, SeqAccess, Visitor};
    use serde_json::{Map, Number, Value};

    use dalal_core::model::{Date, Price, Timestamp};

    use super::{BadReason, Expiry, MasterError};

    /// A malformed row's reason and detail.
    pub(super) type Fault = (BadReason, String);

    /// Calls `each` with every element of the JSON array `text` and its 1-based position,
    /// one element at a time (a master of 100 000 elements is never held as one tree).
    /// Fails when `text` is not a JSON array.
    pub(super) fn for_each(text: &str, mut each: impl FnMut(usize, Value)) -> Result<(), MasterError> {
        struct Elements<'f, F>(&'f mut F);
        impl<'de, F: FnMut(usize, Value)> Visitor<'de> for Elements<'_, F> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array of instruments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                let mut n = 0;
                while let Some(v) = seq.next_element::<Value>()? {
                    n += 1;
                    (self.0)(n, v);
                }
                Ok(())
            }
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut de = serde_json::Deserializer::from_str(text);
        (&mut de).deserialize_seq(Elements(&mut each)).map_err(|e| MasterError::NotJson(e.to_string()))?;
        de.end().map_err(|e| MasterError::NotJson(e.to_string()))
    }

    /// One element's fields.
    pub(super) struct Fields<'a>(pub &'a Map<String, Value>);

    impl<'a> Fields<'a> {
        /// The element as an object, or the fault of a row that is not one.
        pub fn of(v: &'a Value) -> Result<Fields<'a>, Fault> {
            match v {
                Value::Object(m) => Ok(Fields(m)),
                other => Err((BadReason::NotAnObject, format!("{} is not an object", kind(other)))),
            }
        }

        /// A field as trimmed text: a string, or a number's decimal text; `""` when absent
        /// or null. An array, object or boolean is refused as `reason`.
        pub fn text(&self, key: &str, reason: BadReason) -> Result<Cow<'a, str>, Fault> {
            match self.0.get(key) {
                None | Some(Value::Null) => Ok(Cow::Borrowed("")),
                Some(Value::String(s)) => Ok(Cow::Borrowed(s.trim())),
                Some(Value::Number(n)) => Ok(Cow::Owned(number_text(n))),
                Some(other) => Err((reason, format!("{key} is {}, not text or a number", kind(other)))),
            }
        }

        /// A field that must be present and non-empty.
        pub fn required(&self, key: &str) -> Result<Cow<'a, str>, Fault> {
            let v = self.text(key, BadReason::MissingField)?;
            if v.is_empty() {
                return Err((BadReason::MissingField, format!("{key} is missing or empty")));
            }
            Ok(v)
        }

        /// A positive integer (a token, a lot size), written `"3045"`, `3045` or `3045.0`.
        pub fn positive(&self, key: &str, reason: BadReason) -> Result<u64, Fault> {
            let v = self.text(key, reason)?;
            v.parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| (reason, format!("{key} {v:?} is not a positive integer")))
        }

        /// A positive amount of paise written as a decimal (`"5.000000"`, `5.0`), exactly;
        /// a fraction of a paisa (currency contracts' ¼ paise) is refused, never rounded.
        pub fn paise(&self, key: &str, reason: BadReason) -> Result<Price, Fault> {
            let v = self.text(key, reason)?;
            paise(&v)
                .filter(|p| p.is_positive())
                .ok_or_else(|| (reason, format!("{key} {v:?} is not a positive whole number of paise")))
        }

        /// A positive rupee amount (`22.0`, `1502.5`) in paise, exactly.
        pub fn rupees(&self, key: &str, reason: BadReason) -> Result<Price, Fault> {
            let v = self.text(key, reason)?;
            match Price::parse_rupees(&v) {
                Ok(p) if p.is_positive() => Ok(p),
                Ok(_) => Err((reason, format!("{key} {v:?} is not a positive price"))),
                Err(e) => Err((reason, format!("{key}: {e}"))),
            }
        }
    }

    /// Paise written as a decimal, when it is a whole number of them. Read through the rupee
    /// parser (which is exact to two places) and divided back: `"5.000000"` paise reads as
    /// ₹5.00 = 500, a multiple of 100, so 5 paise; `"0.25"` reads as 25, not one.
    pub(super) fn paise(text: &str) -> Option<Price> {
        let p = Price::parse_rupees(text).ok()?;
        (p.0 % 100 == 0).then_some(Price(p.0 / 100))
    }

    /// A JSON number's decimal text as the file wrote it: integers as integers, others as
    /// the shortest decimal that reads back as the same double (Rust's `Display`, never an
    /// exponent), so `1502.5` stays `1502.5` and `0.05` stays `0.05`.
    fn number_text(n: &Number) -> String {
        if let Some(u) = n.as_u64() {
            u.to_string()
        } else if let Some(i) = n.as_i64() {
            i.to_string()
        } else {
            n.as_f64().map_or_else(|| n.to_string(), |f| format!("{f}"))
        }
    }

    fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    fn expiry(d: Date) -> Expiry {
        Expiry { year: d.year(), month: d.month(), day: d.day() }
    }

    /// The IST day of an instant in epoch milliseconds. Upstox stamps an expiry with the
    /// day's last second in IST (`1706207399000` = 25 Jan 2024 23:59:59 IST); the day is
    /// taken in IST, the exchange's calendar, so a stamp at any hour lands on its Indian date.
    pub(super) fn ist_day_of_millis(ms: i64) -> Option<Expiry> {
        let ns = ms.checked_mul(1_000_000)?;
        Date::of_ist(Timestamp(ns)).map(expiry)
    }

    /// `DDMonYYYY` in any case (`04Apr2024`, `25FEB2021`), a real calendar day.
    pub(super) fn day_month_year(s: &str) -> Option<Expiry> {
        const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=2).contains(&digits) || s.len() != digits + 7 || !s.is_ascii() {
            return None;
        }
        let day: u8 = s[..digits].parse().ok()?;
        let month = s[digits..digits + 3].to_ascii_uppercase();
        let month = u8::try_from(MONTHS.iter().position(|m| *m == month)? + 1).ok()?;
        let year = &s[digits + 3..];
        if !year.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Date::new(year.parse().ok()?, month, day).map(expiry)
    }
}
