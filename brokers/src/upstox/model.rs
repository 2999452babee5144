//! Upstox API v2/v3 response objects as the broker sends them (brokers.md §3.6): field names
//! and units are Upstox's — prices in rupees as `f64`, quantities as integers, times as IST
//! strings (`"2023-10-19 13:25:13"`).
//!
//! Every field tolerates `null` and absence and unknown fields are ignored, so a field Upstox
//! adds, drops or leaves `null` never fails a request. Money stays in rupees here: Dalal turns
//! it into paise at the gateway, with [`crate::money`], where a NaN is refused.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::de::{nullable, opt_secret, secret};
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

/// What `POST /v2/login/authorization/token` returns: the user's profile and the tokens, flat
/// (no envelope). The tokens are [`Secret`]s from the moment they are parsed, so a session can
/// be logged with `{:?}` without leaking them.
#[derive(Clone, Debug, Deserialize)]
pub struct Session {
    #[serde(default, deserialize_with = "nullable")]
    pub email: String,
    #[serde(default, deserialize_with = "nullable")]
    pub exchanges: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub products: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub broker: String,
    #[serde(default, deserialize_with = "nullable")]
    pub user_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub user_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub order_types: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub user_type: String,
    #[serde(default, deserialize_with = "nullable")]
    pub poa: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub is_active: bool,
    /// Valid until 03:30 IST ([`super::rest::token_expiry`]).
    #[serde(deserialize_with = "secret")]
    pub access_token: Secret,
    /// Long-lived and read-only: most endpoints refuse it (UDAPI100067).
    #[serde(default, deserialize_with = "opt_secret")]
    pub extended_token: Option<Secret>,
}

wire! {
    /// `GET /v2/user/profile`.
    pub struct Profile {
        pub email: String,
        pub exchanges: Vec<String>,
        pub products: Vec<String>,
        pub broker: String,
        pub user_id: String,
        pub user_name: String,
        pub order_types: Vec<String>,
        pub user_type: String,
        pub poa: bool,
        pub is_active: bool,
    }
}

wire! {
    /// `GET /v2/user/get-funds-and-margin`: one entry per segment Upstox reports (only the
    /// one asked for, when a segment was given).
    pub struct Funds {
        pub equity: Option<SegmentFunds>,
        pub commodity: Option<SegmentFunds>,
    }
}

wire! {
    /// Funds and margin of one segment, rupees.
    pub struct SegmentFunds {
        /// Margin blocked by open orders and positions.
        pub used_margin: f64,
        /// Money added today.
        pub payin_amount: f64,
        pub span_margin: f64,
        pub adhoc_margin: f64,
        pub notional_cash: f64,
        /// What new orders may use.
        pub available_margin: f64,
        pub exposure_margin: f64,
    }
}

wire! {
    /// `data` of v2 place, and of modify and cancel (v2 and v3).
    pub struct OrderIdData {
        pub order_id: String,
    }
}

wire! {
    /// `data` of `POST /v3/order/place`: one id, or several when the order was sliced.
    pub struct OrderIdsData {
        pub order_ids: Vec<String>,
    }
}

/// What a v3 place returns: the order ids, the time Upstox says it took, and whether only some
/// slices were placed (`status: "partial_success"`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlaceReply {
    pub order_ids: Vec<String>,
    pub latency_ms: Option<u64>,
    pub partial: bool,
}

impl PlaceReply {
    /// The order's id (the first slice's, for a sliced order).
    pub fn order_id(&self) -> &str {
        self.order_ids.first().map(String::as_str).unwrap_or_default()
    }
}

/// What a v3 modify or cancel returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderReply {
    pub order_id: String,
    pub latency_ms: Option<u64>,
}

wire! {
    /// An order as the order book, `/v2/order/details` and `/v2/order/history` report it (the
    /// latter: one per state the order went through).
    pub struct Order {
        /// `NSE`, `BSE`, `NFO`… (not the segment).
        pub exchange: String,
        /// `I`, `D`, `MTF`, `CO`, `OCO`.
        pub product: String,
        pub price: f64,
        pub quantity: i64,
        /// Lowercase words: `open`, `complete`, `rejected`… (see [`Order::state`]).
        pub status: String,
        pub guid: Option<String>,
        pub tag: Option<String>,
        /// The instrument key, `NSE_EQ|INE848E01016`.
        pub instrument_token: String,
        pub placed_by: String,
        /// Deprecated duplicate of `trading_symbol`.
        pub tradingsymbol: String,
        pub trading_symbol: String,
        pub order_type: String,
        pub validity: String,
        pub trigger_price: f64,
        pub disclosed_quantity: i64,
        pub transaction_type: String,
        pub average_price: f64,
        pub filled_quantity: i64,
        pub pending_quantity: i64,
        /// Why the order was rejected or cancelled, in Upstox's words.
        pub status_message: Option<String>,
        /// The same from the exchange or the RMS, as they put it.
        pub status_message_raw: Option<String>,
        pub exchange_order_id: Option<String>,
        pub parent_order_id: Option<String>,
        pub order_id: String,
        /// `SIMPLE`, …
        pub variety: String,
        /// `YYYY-MM-DD HH:MM:SS`, IST.
        pub order_timestamp: Option<String>,
        pub exchange_timestamp: Option<String>,
        pub is_amo: bool,
        pub order_request_id: Option<String>,
        pub order_ref_id: Option<String>,
    }
}

impl Order {
    /// The order's state in Dalal's words (see [`upstox_order_state`]).
    pub fn state(&self) -> OrderState {
        upstox_order_state(&self.status, self.quantity, self.filled_quantity)
    }

    /// The trading symbol, from whichever of the two duplicates Upstox filled.
    pub fn symbol(&self) -> &str {
        if self.trading_symbol.is_empty() {
            &self.tradingsymbol
        } else {
            &self.trading_symbol
        }
    }
}

/// Upstox's lowercase order statuses (brokers.md §3.6; only `complete` and `rejected` are
/// confirmed by the docs, the rest is the OMS vocabulary Upstox shares with Kite and Angel) in
/// Dalal's vocabulary. A working order keeps `open` while it fills; the quantities tell a
/// partly filled one apart. `modified`, `not modified` and `not cancelled` leave an order
/// working. A word Upstox adds later is [`OrderState::Unknown`]: the filled quantity still
/// tells what happened.
pub fn upstox_order_state(status: &str, quantity: i64, filled: i64) -> OrderState {
    let working = if filled > 0 && filled < quantity { OrderState::PartiallyFilled } else { OrderState::Open };
    match status.trim().to_ascii_lowercase().as_str() {
        "open" | "modified" | "not modified" | "not cancelled" => working,
        "complete" => OrderState::Filled,
        "cancelled" | "cancelled after market order" => OrderState::Cancelled,
        "rejected" => OrderState::Rejected,
        "put order req received" | "validation pending" | "open pending" => OrderState::Pending,
        "trigger pending" => OrderState::TriggerPending,
        "after market order req received" | "modify after market order req received" => OrderState::AmoPending,
        "modify validation pending" | "modify pending" => OrderState::ModifyPending,
        "cancel pending" => OrderState::CancelPending,
        _ => OrderState::Unknown,
    }
}

/// An order update of the portfolio stream (brokers.md §3.10), a JSON text message, also the
/// body of Upstox's order webhook: the order's fields plus who and what it is about.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct OrderUpdate {
    /// `order` (the stream also carries `position`, `holding`, `gtt_order` when asked).
    #[serde(default, deserialize_with = "nullable")]
    pub update_type: String,
    #[serde(default, deserialize_with = "nullable")]
    pub user_id: String,
    /// The instrument key (the order's `instrument_token` is its deprecated duplicate).
    #[serde(default, deserialize_with = "nullable")]
    pub instrument_key: String,
    #[serde(flatten)]
    pub order: Order,
}

impl OrderUpdate {
    pub fn state(&self) -> OrderState {
        self.order.state()
    }
}

wire! {
    /// A fill (`/v2/order/trades/get-trades-for-day`, `/v2/order/trades?order_id=`).
    pub struct Trade {
        pub exchange: String,
        pub product: String,
        pub tradingsymbol: String,
        pub trading_symbol: String,
        pub instrument_token: String,
        pub order_type: String,
        pub transaction_type: String,
        pub quantity: i64,
        pub exchange_order_id: Option<String>,
        pub order_id: String,
        pub exchange_timestamp: Option<String>,
        /// The fill's price.
        pub average_price: f64,
        pub trade_id: String,
        pub order_ref_id: Option<String>,
        pub order_timestamp: Option<String>,
    }
}

wire! {
    /// A position of `/v2/portfolio/short-term-positions` (one flat list, carried forward and
    /// today's together).
    pub struct Position {
        pub exchange: String,
        pub multiplier: f64,
        pub value: f64,
        pub pnl: f64,
        pub product: String,
        pub instrument_token: String,
        pub average_price: f64,
        pub buy_value: f64,
        pub overnight_quantity: i64,
        pub day_buy_value: f64,
        pub day_buy_price: f64,
        pub overnight_buy_amount: f64,
        pub overnight_buy_quantity: i64,
        pub day_buy_quantity: i64,
        pub day_sell_value: f64,
        pub day_sell_price: f64,
        pub overnight_sell_amount: f64,
        pub overnight_sell_quantity: i64,
        pub day_sell_quantity: i64,
        /// Net, signed: negative when short.
        pub quantity: i64,
        pub last_price: f64,
        pub unrealised: f64,
        pub realised: f64,
        pub sell_value: f64,
        pub tradingsymbol: String,
        pub trading_symbol: String,
        pub close_price: f64,
        pub buy_price: f64,
        pub sell_price: f64,
    }
}

wire! {
    /// A delivery holding of `/v2/portfolio/long-term-holdings`.
    pub struct Holding {
        pub isin: String,
        pub cnc_used_quantity: i64,
        pub collateral_type: Option<String>,
        pub company_name: String,
        pub haircut: f64,
        pub product: String,
        pub quantity: i64,
        pub tradingsymbol: String,
        pub trading_symbol: String,
        pub last_price: f64,
        pub close_price: f64,
        pub pnl: f64,
        pub day_change: f64,
        pub day_change_percentage: f64,
        pub instrument_token: String,
        pub average_price: f64,
        pub collateral_quantity: i64,
        pub collateral_update_quantity: i64,
        pub t1_quantity: i64,
        pub exchange: String,
    }
}

/// Quote answers are keyed `"<SEGMENT>:<trading symbol>"` (`"NSE_EQ:NHPC"`), not by the
/// instrument key asked for; each value carries that key as `instrument_token`
/// (brokers.md §3.6). [`by_instrument_key`] re-keys them. An instrument without data is absent.
pub type Quotes<T> = BTreeMap<String, T>;

/// A quote value that names the instrument key it answers.
pub trait Keyed {
    fn instrument_token(&self) -> &str;
}

/// Quotes keyed by the instrument keys they answer (what a caller asked for), the map's own
/// keys being a symbol Upstox chose.
pub fn by_instrument_key<T: Keyed>(quotes: Quotes<T>) -> BTreeMap<String, T> {
    quotes.into_values().map(|q| (q.instrument_token().to_string(), q)).collect()
}

wire! {
    /// `GET /v3/market-quote/ltp`, per instrument.
    pub struct Ltp {
        pub last_price: f64,
        pub instrument_token: String,
        /// Last traded quantity.
        pub ltq: i64,
        pub volume: i64,
        /// The previous close.
        pub cp: f64,
    }
}

impl Keyed for Ltp {
    fn instrument_token(&self) -> &str {
        &self.instrument_token
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
        pub quantity: i64,
        pub price: f64,
        pub orders: i64,
    }
}

wire! {
    /// Five levels a side.
    pub struct Depth {
        pub buy: Vec<DepthLevel>,
        pub sell: Vec<DepthLevel>,
    }
}

wire! {
    /// `GET /v2/market-quote/quotes`, per instrument.
    pub struct Quote {
        pub ohlc: Ohlc,
        pub depth: Depth,
        pub timestamp: Option<String>,
        pub instrument_token: String,
        pub symbol: String,
        pub last_price: f64,
        pub volume: i64,
        pub average_price: f64,
        pub oi: f64,
        pub net_change: f64,
        pub total_buy_quantity: f64,
        pub total_sell_quantity: f64,
        pub lower_circuit_limit: f64,
        pub upper_circuit_limit: f64,
        pub last_trade_time: Option<String>,
        pub oi_day_high: f64,
        pub oi_day_low: f64,
    }
}

impl Keyed for Quote {
    fn instrument_token(&self) -> &str {
        &self.instrument_token
    }
}

wire! {
    /// `data` of the historical candle endpoints.
    pub struct Historical {
        pub candles: Vec<Candle>,
    }
}

/// One candle, sent as an array `[time, open, high, low, close, volume, oi]` (`oi` may be
/// missing); Upstox lists the newest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Candle {
    /// As sent, e.g. `2025-01-02T09:15:00+05:30`.
    pub time: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: i64,
    pub oi: i64,
}

/// A whole number sent as a JSON number (`12`, or `12.0` as some serializers write it).
fn whole(v: &serde_json::Value) -> Result<i64, String> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && (-9.0e15..=9.0e15).contains(&x) => Ok(x as i64),
        _ => Err(format!("{v} is not a whole number")),
    }
}

impl<'de> Deserialize<'de> for Candle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Candle, D::Error> {
        let row = Vec::<serde_json::Value>::deserialize(d)?;
        let (time, o, h, l, c, v, oi) = match row.as_slice() {
            [t, o, h, l, c, v] => (t, o, h, l, c, v, None),
            [t, o, h, l, c, v, oi] => (t, o, h, l, c, v, Some(oi)),
            _ => return Err(de::Error::custom(format!("a candle has 6 or 7 values, this one {}", row.len()))),
        };
        let price = |x: &serde_json::Value| x.as_f64().ok_or_else(|| de::Error::custom(format!("{x} is not a price")));
        Ok(Candle {
            time: time.as_str().map(str::to_string).ok_or_else(|| de::Error::custom("a candle's time is text"))?,
            open: price(o)?,
            high: price(h)?,
            low: price(l)?,
            close: price(c)?,
            volume: whole(v).map_err(de::Error::custom)?,
            oi: oi.filter(|x| !x.is_null()).map(whole).transpose().map_err(de::Error::custom)?.unwrap_or(0),
        })
    }
}

wire! {
    /// `data` of the feed `authorize` endpoints: the one-time socket URL to connect to.
    pub struct AuthorizedUri {
        pub authorized_redirect_uri: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_docs_order_example_parses_and_maps_its_status() {
        let o: Order = serde_json::from_value(json!({
            "exchange": "NSE", "product": "D", "price": 571.0, "quantity": 1, "status": "complete", "tag": null,
            "instrument_token": "NSE_EQ|INE062A01020", "placed_by": "******", "trading_symbol": "SBIN-EQ",
            "tradingsymbol": "SBIN-EQ", "order_type": "LIMIT", "validity": "DAY", "trigger_price": 0.0,
            "disclosed_quantity": 0, "transaction_type": "BUY", "average_price": 570.95, "filled_quantity": 1,
            "pending_quantity": 0, "status_message": null, "status_message_raw": null,
            "exchange_order_id": "1300000025660919", "parent_order_id": null, "order_id": "231019025562880",
            "variety": "SIMPLE", "order_timestamp": "2023-10-19 13:25:13", "exchange_timestamp": "2023-10-19 13:25:13",
            "is_amo": false, "order_request_id": "1", "order_ref_id": "GTT-C23191000044253", "new_field": [1]
        }))
        .expect("order");
        assert_eq!((o.state(), o.average_price, o.symbol()), (OrderState::Filled, 570.95, "SBIN-EQ"));
        assert_eq!(o.tag, None);
    }

    #[test]
    fn statuses_map_onto_dalals_states() {
        use OrderState as S;
        let table = [
            ("put order req received", 10, 0, S::Pending),
            ("validation pending", 10, 0, S::Pending),
            ("open pending", 10, 0, S::Pending),
            ("open", 10, 0, S::Open),
            ("open", 10, 4, S::PartiallyFilled),
            ("OPEN", 10, 10, S::Open),
            ("modified", 10, 4, S::PartiallyFilled),
            ("not cancelled", 10, 0, S::Open),
            ("trigger pending", 10, 0, S::TriggerPending),
            ("after market order req received", 10, 0, S::AmoPending),
            ("modify validation pending", 10, 0, S::ModifyPending),
            ("modify pending", 10, 0, S::ModifyPending),
            ("cancel pending", 10, 4, S::CancelPending),
            ("complete", 10, 10, S::Filled),
            ("cancelled", 10, 4, S::Cancelled),
            ("cancelled after market order", 10, 0, S::Cancelled),
            (" rejected ", 10, 0, S::Rejected),
            ("something new", 10, 0, S::Unknown),
        ];
        for (status, q, f, want) in table {
            assert_eq!(upstox_order_state(status, q, f), want, "{status}");
        }
    }

    #[test]
    fn quotes_are_rekeyed_by_the_instrument_key_inside() {
        let q: Quotes<Ltp> = serde_json::from_value(json!({
            "NSE_EQ:NHPC": {"last_price": 87.1, "instrument_token": "NSE_EQ|INE848E01016", "ltq": 5, "volume": null, "cp": 86.0}
        }))
        .expect("ltp");
        let by_key = by_instrument_key(q);
        assert_eq!(by_key["NSE_EQ|INE848E01016"].last_price, 87.1);
        assert_eq!(by_key["NSE_EQ|INE848E01016"].volume, 0, "null reads as zero");
    }

    #[test]
    fn candles_have_six_or_seven_values() {
        let h: Historical = serde_json::from_value(json!({"candles": [
            ["2025-01-02T09:15:00+05:30", 1.0, 2.0, 0.5, 1.5, 1200, 7],
            ["2025-01-02T09:16:00+05:30", 1.5, 2.5, 1.0, 2.0, 1300.0]
        ]}))
        .expect("candles");
        assert_eq!((h.candles[0].oi, h.candles[1].volume, h.candles[1].oi), (7, 1300, 0));
        assert!(serde_json::from_value::<Candle>(json!(["t", 1, 2, 3])).is_err());
        assert!(serde_json::from_value::<Candle>(json!(["t", 1, 2, 3, 4, 1.5])).is_err());
    }

    #[test]
    fn a_session_keeps_its_tokens_secret() {
        let s: Session = serde_json::from_value(json!({
            "email": "a@b.c", "user_id": "AB1234", "access_token": "eyJhbGciOi.secret.token",
            "extended_token": null, "poa": false, "is_active": true, "exchanges": ["NSE"]
        }))
        .expect("session");
        assert_eq!(s.access_token.expose(), "eyJhbGciOi.secret.token");
        assert!(s.extended_token.is_none());
        assert!(!format!("{s:?}").contains("secret.token"));
    }

    #[test]
    fn order_updates_carry_the_order_and_who_it_is_for() {
        let u: OrderUpdate = serde_json::from_value(json!({
            "update_type": "order", "user_id": "AB1234", "instrument_key": "NSE_EQ|INE002A01018",
            "status": "open", "quantity": 10, "filled_quantity": 3, "order_id": "260105000000001",
            "price": 1290.5, "userId": "AB1234"
        }))
        .expect("update");
        assert_eq!((u.update_type.as_str(), u.order.order_id.as_str()), ("order", "260105000000001"));
        assert_eq!(u.state(), OrderState::PartiallyFilled);
    }
}
