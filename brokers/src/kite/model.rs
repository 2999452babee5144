//! Kite Connect v3 response objects, as the broker sends them (field names and units are
//! Kite's: prices in rupees as `f64`, quantities as integers, times as IST strings).
//!
//! Every field tolerates `null` and absence (see `kite/de.rs`) and unknown fields are
//! ignored, so a field Kite adds or leaves empty never fails a request. Money stays in rupees
//! here; the `*_paise` helpers convert at the edge and refuse NaN and infinities.

use std::collections::BTreeMap;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::de::{nullable, opt_secret, secret};
use crate::money::{rupees_to_paise, MoneyError};
use crate::order_state::OrderState;
use crate::secret::Secret;

/// Declares a wire struct: every field defaults when absent and when `null`.
macro_rules! wire {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, PartialEq, Deserialize)]
        #[serde(default)]
        pub struct $name {
            $($(#[$fm])* #[serde(deserialize_with = "nullable")] pub $f: $t,)*
        }
    };
}

/// What `POST /session/token` returns. The tokens are [`Secret`]s from the moment they are
/// parsed, so a session can be logged with `{:?}` without leaking them.
#[derive(Clone, Debug, Deserialize)]
pub struct Session {
    #[serde(default, deserialize_with = "nullable")]
    pub user_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub user_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub user_shortname: String,
    #[serde(default, deserialize_with = "nullable")]
    pub email: String,
    #[serde(default, deserialize_with = "nullable")]
    pub user_type: String,
    #[serde(default, deserialize_with = "nullable")]
    pub broker: String,
    #[serde(default, deserialize_with = "nullable")]
    pub exchanges: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub products: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub order_types: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub api_key: String,
    #[serde(deserialize_with = "secret")]
    pub access_token: Secret,
    #[serde(default, deserialize_with = "opt_secret")]
    pub public_token: Option<Secret>,
    #[serde(default, deserialize_with = "opt_secret")]
    pub refresh_token: Option<Secret>,
    #[serde(default, deserialize_with = "opt_secret")]
    pub enctoken: Option<Secret>,
    #[serde(default, deserialize_with = "nullable")]
    pub login_time: String,
}

wire! {
    /// `GET /user/profile`.
    pub struct Profile {
        pub user_id: String,
        pub user_name: String,
        pub user_shortname: String,
        pub user_type: String,
        pub email: String,
        pub broker: String,
        pub exchanges: Vec<String>,
        pub products: Vec<String>,
        pub order_types: Vec<String>,
        pub avatar_url: String,
    }
}

wire! {
    /// `GET /user/margins`: one entry per segment Kite reports.
    pub struct Margins {
        pub equity: Option<SegmentMargins>,
        pub commodity: Option<SegmentMargins>,
    }
}

wire! {
    /// Funds and margin of one segment (`GET /user/margins/{segment}`).
    pub struct SegmentMargins {
        pub enabled: bool,
        /// What may still be used: cash and collateral less what is utilised.
        pub net: f64,
        pub available: AvailableMargins,
        pub utilised: UtilisedMargins,
    }
}

wire! {
    pub struct AvailableMargins {
        pub adhoc_margin: f64,
        pub cash: f64,
        pub opening_balance: f64,
        pub live_balance: f64,
        pub collateral: f64,
        pub intraday_payin: f64,
    }
}

wire! {
    pub struct UtilisedMargins {
        /// Everything blocked or spent: margins, premiums, charges.
        pub debits: f64,
        pub exposure: f64,
        pub m2m_realised: f64,
        pub m2m_unrealised: f64,
        pub option_premium: f64,
        pub payout: f64,
        pub span: f64,
        pub holding_sales: f64,
        pub turnover: f64,
        pub liquid_collateral: f64,
        pub stock_collateral: f64,
        pub delivery: f64,
    }
}

wire! {
    /// An order as `/orders` and `/orders/{id}` report it (the latter: one per state change).
    pub struct Order {
        pub placed_by: String,
        /// Kept as text: 15- and 19-digit ids both occur.
        pub order_id: String,
        pub exchange_order_id: Option<String>,
        pub parent_order_id: Option<String>,
        pub status: String,
        pub status_message: Option<String>,
        pub status_message_raw: Option<String>,
        pub order_timestamp: Option<String>,
        pub exchange_update_timestamp: Option<String>,
        pub exchange_timestamp: Option<String>,
        pub variety: String,
        pub modified: bool,
        pub exchange: String,
        pub tradingsymbol: String,
        pub instrument_token: u64,
        pub order_type: String,
        pub transaction_type: String,
        pub validity: String,
        pub validity_ttl: i64,
        pub product: String,
        pub quantity: i64,
        pub disclosed_quantity: i64,
        pub price: f64,
        pub trigger_price: f64,
        pub average_price: f64,
        pub filled_quantity: i64,
        pub pending_quantity: i64,
        pub cancelled_quantity: i64,
        pub market_protection: f64,
        pub meta: serde_json::Value,
        pub tag: Option<String>,
        pub tags: Vec<String>,
        pub guid: Option<String>,
    }
}

impl Order {
    /// The order's state in Dalal's words (see [`kite_order_state`]).
    pub fn state(&self) -> OrderState {
        kite_order_state(&self.status, self.quantity, self.filled_quantity)
    }

    pub fn price_paise(&self) -> Result<i64, MoneyError> {
        rupees_to_paise(self.price)
    }

    pub fn trigger_price_paise(&self) -> Result<i64, MoneyError> {
        rupees_to_paise(self.trigger_price)
    }

    pub fn average_price_paise(&self) -> Result<i64, MoneyError> {
        rupees_to_paise(self.average_price)
    }
}

/// Maps every status Kite documents onto [`OrderState`]: the book's `OPEN`, `COMPLETE`,
/// `CANCELLED`, `REJECTED`; the transient states of an order's history; and the postbacks'
/// `CANCEL` and `UPDATE`. Kite keeps a partly filled working order `OPEN`; the quantities tell
/// it apart. Anything else is [`OrderState::Unknown`].
pub fn kite_order_state(status: &str, quantity: i64, filled: i64) -> OrderState {
    let working = if filled > 0 && filled < quantity { OrderState::PartiallyFilled } else { OrderState::Open };
    match status.trim().to_ascii_uppercase().as_str() {
        "OPEN" | "MODIFIED" | "UPDATE" => working,
        "COMPLETE" => OrderState::Filled,
        "CANCELLED" | "CANCEL" => OrderState::Cancelled,
        "REJECTED" => OrderState::Rejected,
        "PUT ORDER REQ RECEIVED" | "VALIDATION PENDING" | "OPEN PENDING" => OrderState::Pending,
        "MODIFY VALIDATION PENDING" | "MODIFY PENDING" => OrderState::ModifyPending,
        "CANCEL PENDING" => OrderState::CancelPending,
        "TRIGGER PENDING" => OrderState::TriggerPending,
        "AMO REQ RECEIVED" => OrderState::AmoPending,
        _ => OrderState::Unknown,
    }
}

wire! {
    /// A fill (`/trades`, `/orders/{id}/trades`).
    pub struct Trade {
        pub trade_id: String,
        pub order_id: String,
        pub exchange_order_id: Option<String>,
        pub exchange: String,
        pub tradingsymbol: String,
        pub instrument_token: u64,
        pub product: String,
        pub transaction_type: String,
        pub average_price: f64,
        pub quantity: i64,
        /// A full IST date-time.
        pub fill_timestamp: Option<String>,
        /// Sometimes only a time of day (`HH:MM:SS`).
        pub order_timestamp: Option<String>,
        pub exchange_timestamp: Option<String>,
    }
}

impl Trade {
    pub fn price_paise(&self) -> Result<i64, MoneyError> {
        rupees_to_paise(self.average_price)
    }
}

wire! {
    /// `GET /portfolio/positions`: `net` is the whole position (overnight and today), `day`
    /// today's trades only.
    pub struct Positions {
        pub net: Vec<Position>,
        pub day: Vec<Position>,
    }
}

wire! {
    pub struct Position {
        pub tradingsymbol: String,
        pub exchange: String,
        pub instrument_token: u64,
        pub product: String,
        /// Signed: negative when short.
        pub quantity: i64,
        pub overnight_quantity: i64,
        pub multiplier: f64,
        pub average_price: f64,
        pub close_price: f64,
        pub last_price: f64,
        pub value: f64,
        pub pnl: f64,
        pub m2m: f64,
        pub unrealised: f64,
        pub realised: f64,
        pub buy_quantity: i64,
        pub buy_price: f64,
        pub buy_value: f64,
        pub buy_m2m: f64,
        pub sell_quantity: i64,
        pub sell_price: f64,
        pub sell_value: f64,
        pub sell_m2m: f64,
        pub day_buy_quantity: i64,
        pub day_buy_price: f64,
        pub day_buy_value: f64,
        pub day_sell_quantity: i64,
        pub day_sell_price: f64,
        pub day_sell_value: f64,
    }
}

impl Position {
    pub fn average_price_paise(&self) -> Result<i64, MoneyError> {
        rupees_to_paise(self.average_price)
    }

    pub fn pnl_paise(&self) -> Result<i64, MoneyError> {
        rupees_to_paise(self.pnl)
    }
}

wire! {
    /// `GET /portfolio/holdings`: delivery holdings in the demat account.
    pub struct Holding {
        pub tradingsymbol: String,
        pub exchange: String,
        pub instrument_token: u64,
        pub isin: String,
        pub product: String,
        pub price: f64,
        pub quantity: i64,
        pub used_quantity: i64,
        pub t1_quantity: i64,
        pub realised_quantity: i64,
        pub authorised_quantity: i64,
        pub opening_quantity: i64,
        pub short_quantity: i64,
        pub collateral_quantity: i64,
        pub collateral_type: Option<String>,
        pub discrepancy: bool,
        pub average_price: f64,
        pub last_price: f64,
        pub close_price: f64,
        pub pnl: f64,
        pub day_change: f64,
        pub day_change_percentage: f64,
    }
}

impl Holding {
    pub fn average_price_paise(&self) -> Result<i64, MoneyError> {
        rupees_to_paise(self.average_price)
    }
}

wire! {
    /// `{"order_id": ...}`: what place, modify and cancel return.
    pub struct OrderIdReply {
        pub order_id: String,
    }
}

wire! {
    /// `GET /quote/ltp`, per instrument.
    pub struct Ltp {
        pub instrument_token: u64,
        pub last_price: f64,
    }
}

wire! {
    pub struct Ohlc {
        pub open: f64,
        pub high: f64,
        pub low: f64,
        pub close: f64,
    }
}

wire! {
    pub struct DepthLevel {
        pub price: f64,
        pub quantity: i64,
        pub orders: i64,
    }
}

wire! {
    pub struct Depth {
        pub buy: Vec<DepthLevel>,
        pub sell: Vec<DepthLevel>,
    }
}

wire! {
    /// `GET /quote`, per instrument.
    pub struct Quote {
        pub instrument_token: u64,
        pub timestamp: Option<String>,
        pub last_trade_time: Option<String>,
        pub last_price: f64,
        pub last_quantity: i64,
        pub buy_quantity: i64,
        pub sell_quantity: i64,
        pub volume: i64,
        pub average_price: f64,
        pub oi: f64,
        pub oi_day_high: f64,
        pub oi_day_low: f64,
        pub net_change: f64,
        pub lower_circuit_limit: f64,
        pub upper_circuit_limit: f64,
        pub ohlc: Ohlc,
        pub depth: Depth,
    }
}

/// Quote replies are keyed by the requested `EXCHANGE:TRADINGSYMBOL`; an instrument without
/// data is simply absent.
pub type Quotes<T> = BTreeMap<String, T>;

wire! {
    /// `GET /instruments/historical/{token}/{interval}`.
    pub struct Historical {
        pub candles: Vec<Candle>,
    }
}

/// One candle. Kite sends it as an array `[time, open, high, low, close, volume, oi?]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Candle {
    /// As sent, e.g. `2024-01-02T09:15:00+0530`.
    pub time: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: i64,
    pub oi: Option<i64>,
}

impl<'de> Deserialize<'de> for Candle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Candle, D::Error> {
        struct CandleVisitor;
        impl<'de> Visitor<'de> for CandleVisitor {
            type Value = Candle;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a candle [time, open, high, low, close, volume] or with a seventh element, oi")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Candle, A::Error> {
                let missing = |i| de::Error::invalid_length(i, &self);
                let time: String = seq.next_element()?.ok_or_else(|| missing(0))?;
                let open = seq.next_element()?.ok_or_else(|| missing(1))?;
                let high = seq.next_element()?.ok_or_else(|| missing(2))?;
                let low = seq.next_element()?.ok_or_else(|| missing(3))?;
                let close = seq.next_element()?.ok_or_else(|| missing(4))?;
                let volume = seq.next_element()?.ok_or_else(|| missing(5))?;
                let oi = seq.next_element::<Option<i64>>()?.flatten();
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(8, &self));
                }
                Ok(Candle { time, open, high, low, close, volume, oi })
            }
        }
        d.deserialize_seq(CandleVisitor)
    }
}
