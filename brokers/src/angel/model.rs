//! SmartAPI answers as Angel sends them (brokers.md §2.3–2.8).
//!
//! Angel's types are inconsistent: the order book sends `"price":"194.00"`, order details and
//! order updates send `194.0`, and an absent value may be `""`, `null` or missing. Every number
//! is therefore read as "a number or a numeric string", empty meaning zero; anything else is a
//! malformed answer, never a silent zero. Unknown fields are ignored, so fields Angel adds later
//! do not break the client. Rupees stay rupees here; they become paise at the gateway.

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::de::{nullable, secret};
use crate::order_state::OrderState;
use crate::secret::Secret;

/// A number or a numeric string; `null`, `""` or absent → 0.
pub fn flex_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(0.0),
        Some(serde_json::Value::Number(n)) => n.as_f64().ok_or_else(|| de::Error::custom("number out of range")),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(0.0),
        Some(serde_json::Value::String(s)) => {
            s.trim().parse::<f64>().map_err(|_| de::Error::custom(format!("{s:?} is not a number")))
        }
        Some(other) => Err(de::Error::custom(format!("expected a number, got {other}"))),
    }
}

/// A whole number or a string of one (`"10"`, `10`, `10.0`); `null`, `""` or absent → 0.
pub fn flex_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let x = flex_f64(d)?;
    if x.fract() != 0.0 || !(-9.0e15..=9.0e15).contains(&x) {
        return Err(de::Error::custom(format!("{x} is not a whole quantity")));
    }
    // Integral and within the exact range: the cast is exact.
    Ok(x as i64)
}

/// A string, a number or `null` as text (Angel sends ids both ways).
pub fn flex_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(String::new()),
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        Some(serde_json::Value::Bool(b)) => Ok(b.to_string()),
        Some(other) => Err(de::Error::custom(format!("expected text, got {other}"))),
    }
}

/// The tokens of a login (`loginByPassword`) or a refresh (`generateTokens`).
#[derive(Clone, Debug, Deserialize)]
pub struct Tokens {
    #[serde(rename = "jwtToken", deserialize_with = "secret")]
    pub jwt: Secret,
    #[serde(rename = "refreshToken", deserialize_with = "secret")]
    pub refresh: Secret,
    /// The SmartStream socket's credential.
    #[serde(rename = "feedToken", deserialize_with = "secret")]
    pub feed: Secret,
    #[serde(default, deserialize_with = "nullable")]
    pub state: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Profile {
    #[serde(default, deserialize_with = "flex_string")]
    pub clientcode: String,
    #[serde(default, deserialize_with = "flex_string")]
    pub name: String,
    #[serde(default, deserialize_with = "flex_string")]
    pub email: String,
    #[serde(default, deserialize_with = "list")]
    pub exchanges: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    pub products: Vec<String>,
    #[serde(default, deserialize_with = "flex_string")]
    pub lastlogintime: String,
    #[serde(default, deserialize_with = "flex_string")]
    pub brokerid: String,
}

/// A list, or the text of one (`"[NSE, BSE]"`, as some of Angel's answers have it).
fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::Array(items)) => {
            Ok(items.into_iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect())
        }
        Some(serde_json::Value::String(s)) => Ok(s
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|p| p.trim().trim_matches('"').to_string())
            .filter(|p| !p.is_empty())
            .collect()),
        Some(other) => Err(de::Error::custom(format!("expected a list, got {other}"))),
    }
}

/// The answer to a place, modify or cancel.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct OrderReply {
    #[serde(default, deserialize_with = "flex_string")]
    pub script: String,
    #[serde(default, deserialize_with = "flex_string")]
    pub orderid: String,
    #[serde(default, deserialize_with = "flex_string")]
    pub uniqueorderid: String,
}

/// An order of the order book, of `details/{uniqueorderid}` or of an order update.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Order {
    #[serde(deserialize_with = "flex_string")]
    pub variety: String,
    #[serde(deserialize_with = "flex_string")]
    pub ordertype: String,
    #[serde(deserialize_with = "flex_string")]
    pub producttype: String,
    #[serde(deserialize_with = "flex_string")]
    pub duration: String,
    #[serde(deserialize_with = "flex_f64")]
    pub price: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub triggerprice: f64,
    #[serde(deserialize_with = "flex_i64")]
    pub quantity: i64,
    #[serde(deserialize_with = "flex_i64")]
    pub disclosedquantity: i64,
    #[serde(deserialize_with = "flex_string")]
    pub tradingsymbol: String,
    #[serde(deserialize_with = "flex_string")]
    pub transactiontype: String,
    #[serde(deserialize_with = "flex_string")]
    pub exchange: String,
    #[serde(deserialize_with = "flex_string")]
    pub symboltoken: String,
    #[serde(deserialize_with = "flex_string")]
    pub ordertag: String,
    #[serde(deserialize_with = "flex_i64")]
    pub lotsize: i64,
    #[serde(deserialize_with = "flex_i64")]
    pub cancelsize: i64,
    #[serde(deserialize_with = "flex_f64")]
    pub averageprice: f64,
    #[serde(deserialize_with = "flex_i64")]
    pub filledshares: i64,
    #[serde(deserialize_with = "flex_i64")]
    pub unfilledshares: i64,
    #[serde(deserialize_with = "flex_string")]
    pub orderid: String,
    /// The rejection reason, when rejected.
    #[serde(deserialize_with = "flex_string")]
    pub text: String,
    #[serde(deserialize_with = "flex_string")]
    pub status: String,
    #[serde(deserialize_with = "flex_string")]
    pub orderstatus: String,
    /// `"09-Oct-2023 17:39:28"`.
    #[serde(deserialize_with = "flex_string")]
    pub updatetime: String,
    #[serde(deserialize_with = "flex_string")]
    pub exchtime: String,
    #[serde(deserialize_with = "flex_string")]
    pub exchorderupdatetime: String,
    #[serde(deserialize_with = "flex_string")]
    pub uniqueorderid: String,
    #[serde(deserialize_with = "flex_string")]
    pub exchangeorderid: String,
}

impl Order {
    /// The status word (`status`, or `orderstatus` where only that is filled), lowercase.
    pub fn status_word(&self) -> String {
        let s = if self.status.is_empty() { &self.orderstatus } else { &self.status };
        s.trim().to_ascii_lowercase()
    }

    /// Angel's status words (brokers.md §2.6, the order-update codes of §2.12) in Dalal's
    /// vocabulary. `modified` is an order working again after a change; a word Angel adds
    /// later is [`OrderState::Unknown`], and the filled quantity still tells what happened.
    pub fn state(&self) -> OrderState {
        match self.status_word().as_str() {
            "open" | "modified" if self.filledshares > 0 => OrderState::PartiallyFilled,
            "open" | "modified" => OrderState::Open,
            "open pending" | "validation pending" | "put order req received" | "modify validation pending" => {
                OrderState::Pending
            }
            "trigger pending" => OrderState::TriggerPending,
            "after market order req received" | "modify after market order req received" => OrderState::AmoPending,
            "modify pending" => OrderState::ModifyPending,
            "cancel pending" => OrderState::CancelPending,
            "complete" => OrderState::Filled,
            "cancelled" | "cancelled after market order" => OrderState::Cancelled,
            "rejected" => OrderState::Rejected,
            _ => OrderState::Unknown,
        }
    }
}

/// A fill of the trade book.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Trade {
    #[serde(deserialize_with = "flex_string")]
    pub exchange: String,
    #[serde(deserialize_with = "flex_string")]
    pub producttype: String,
    #[serde(deserialize_with = "flex_string")]
    pub tradingsymbol: String,
    #[serde(deserialize_with = "flex_string")]
    pub transactiontype: String,
    #[serde(deserialize_with = "flex_f64")]
    pub fillprice: f64,
    #[serde(deserialize_with = "flex_i64")]
    pub fillsize: i64,
    #[serde(deserialize_with = "flex_string")]
    pub orderid: String,
    #[serde(deserialize_with = "flex_string")]
    pub fillid: String,
    /// `"HH:MM:SS"`, exchange time of the fill.
    #[serde(deserialize_with = "flex_string")]
    pub filltime: String,
}

/// A position of `getPosition` (one flat list, net of the day and carried forward).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Position {
    #[serde(deserialize_with = "flex_string")]
    pub exchange: String,
    #[serde(deserialize_with = "flex_string")]
    pub symboltoken: String,
    #[serde(deserialize_with = "flex_string")]
    pub producttype: String,
    #[serde(deserialize_with = "flex_string")]
    pub tradingsymbol: String,
    #[serde(deserialize_with = "flex_i64")]
    pub buyqty: i64,
    #[serde(deserialize_with = "flex_i64")]
    pub sellqty: i64,
    #[serde(deserialize_with = "flex_f64")]
    pub buyavgprice: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub sellavgprice: f64,
    #[serde(deserialize_with = "flex_i64")]
    pub netqty: i64,
    #[serde(deserialize_with = "flex_f64")]
    pub netprice: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub ltp: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub pnl: f64,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Holding {
    #[serde(deserialize_with = "flex_string")]
    pub tradingsymbol: String,
    #[serde(deserialize_with = "flex_string")]
    pub exchange: String,
    #[serde(deserialize_with = "flex_string")]
    pub isin: String,
    #[serde(deserialize_with = "flex_string")]
    pub symboltoken: String,
    #[serde(deserialize_with = "flex_i64")]
    pub quantity: i64,
    #[serde(deserialize_with = "flex_i64")]
    pub t1quantity: i64,
    #[serde(deserialize_with = "flex_f64")]
    pub averageprice: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub ltp: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub profitandloss: f64,
}

/// Funds and margins (`getRMS`), rupees.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Rms {
    #[serde(deserialize_with = "flex_f64")]
    pub net: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub availablecash: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub availableintradaypayin: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub availablelimitmargin: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub collateral: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub m2munrealized: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub m2mrealized: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub utiliseddebits: f64,
}

/// `getLtpData`, rupees (brokers.md §2.8: the official clients read rupees).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Ltp {
    #[serde(deserialize_with = "flex_string")]
    pub exchange: String,
    #[serde(deserialize_with = "flex_string")]
    pub tradingsymbol: String,
    #[serde(deserialize_with = "flex_string")]
    pub symboltoken: String,
    #[serde(deserialize_with = "flex_f64")]
    pub open: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub high: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub low: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub close: f64,
    #[serde(deserialize_with = "flex_f64")]
    pub ltp: f64,
}

/// One candle of `getCandleData`: `[time, open, high, low, close, volume]`, the time as Angel
/// writes it (`2023-09-06T11:15:00+05:30`).
#[derive(Clone, Debug, PartialEq)]
pub struct Candle {
    pub time: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: i64,
}

impl<'de> Deserialize<'de> for Candle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Candle, D::Error> {
        let row = Vec::<serde_json::Value>::deserialize(d)?;
        let [time, o, h, l, c, v] = row.as_slice() else {
            return Err(de::Error::custom(format!("a candle has 6 values, this one {}", row.len())));
        };
        let num = |v: &serde_json::Value| flex_f64(v.clone()).map_err(de::Error::custom);
        let volume = flex_i64(v.clone()).map_err(de::Error::custom)?;
        Ok(Candle {
            time: time.as_str().map(str::to_string).unwrap_or_else(|| time.to_string()),
            open: num(o)?,
            high: num(h)?,
            low: num(l)?,
            close: num(c)?,
            volume,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_arrive_as_numbers_or_strings() {
        let book: Order = serde_json::from_value(serde_json::json!({
            "price": "194.00", "quantity": "10", "filledshares": "", "averageprice": 0,
            "orderid": 201020000000080_u64, "status": "open", "text": null
        }))
        .expect("order");
        assert_eq!((book.price, book.quantity, book.filledshares), (194.0, 10, 0));
        assert_eq!(book.orderid, "201020000000080");
        let details: Order =
            serde_json::from_value(serde_json::json!({"price": 194.5, "quantity": 10, "orderstatus": "Complete"}))
                .expect("details");
        assert_eq!((details.price, details.state()), (194.5, OrderState::Filled));
        let part: Order =
            serde_json::from_value(serde_json::json!({"status": "open", "filledshares": "3"})).expect("o");
        assert_eq!(part.state(), OrderState::PartiallyFilled);
        let amo: Order =
            serde_json::from_value(serde_json::json!({"status": "after market order req received"})).expect("o");
        assert_eq!(amo.state(), OrderState::AmoPending);
        assert!(serde_json::from_value::<Order>(serde_json::json!({"quantity": "ten"})).is_err());
        assert!(serde_json::from_value::<Order>(serde_json::json!({"quantity": "1.5"})).is_err());
    }

    #[test]
    fn candles_are_rows_of_six() {
        let c: Vec<Candle> =
            serde_json::from_str(r#"[["2023-09-06T11:15:00+05:30",19571.2,19573.35,19565.0,19567.1,0]]"#)
                .expect("candles");
        assert_eq!(c[0].close, 19567.1);
        assert!(serde_json::from_str::<Vec<Candle>>(r#"[["t",1,2,3]]"#).is_err());
    }

    #[test]
    fn profile_lists_may_be_text() {
        let p: Profile = serde_json::from_value(serde_json::json!({"exchanges": "[NSE, BSE]", "products": ["MIS"]}))
            .expect("profile");
        assert_eq!(p.exchanges, ["NSE", "BSE"]);
        assert_eq!(p.products, ["MIS"]);
    }
}
