//! Brokers' instrument masters as Dalal instruments. A broker publishes every contract it
//! can trade once a day (Kite: about 120 000 rows); an operator wants the few hundred a
//! strategy will use, with the exchange's tick and lot sizes and the broker's token for
//! each. [`kite::parse`] reads Kite's CSV into broker-neutral [`BrokerInstrument`]s,
//! counting rows out of Dalal's scope and refusing malformed rows one by one (never the whole
//! file); [`select`] picks and orders them the way operators need them.

mod csv;
pub mod kite;
pub mod nse;
pub mod select;

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
    /// The broker's own id (Kite's `instrument_token`, which its WebSocket speaks).
    pub broker_token: u64,
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
    FieldCount,
    MissingField,
    Token,
    TickSize,
    LotSize,
    Expiry,
    Strike,
    LastPrice,
}

impl BadReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            BadReason::Csv => "unreadable_csv",
            BadReason::FieldCount => "field_count",
            BadReason::MissingField => "missing_field",
            BadReason::Token => "bad_token",
            BadReason::TickSize => "bad_tick_size",
            BadReason::LotSize => "bad_lot_size",
            BadReason::Expiry => "bad_expiry",
            BadReason::Strike => "bad_strike",
            BadReason::LastPrice => "bad_last_price",
        }
    }
}

/// A row refused, with where it is and what is wrong, for the operator to look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRow {
    /// 1-based line of the file (the header is line 1).
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
    /// Data rows read (the header not counted).
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
}
