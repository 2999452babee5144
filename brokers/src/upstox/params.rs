//! Upstox order requests (brokers.md §3.5): the sides, order types, products and validities
//! Dalal trades, the JSON bodies of place (v3), modify and the parameters of the candle and
//! funds endpoints. Prices are rupees as JSON numbers, as the official SDK sends them; build
//! them from paise with [`crate::money::paise_to_rupees`].

macro_rules! wire_names {
    ($t:ident { $($(#[$vm:meta])* $v:ident => $s:literal),* $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $t { $($(#[$vm])* $v),* }

        impl $t {
            /// The value Upstox expects on the wire.
            pub const fn as_str(self) -> &'static str {
                match self { $($t::$v => $s),* }
            }

            pub fn parse(s: &str) -> Option<$t> {
                match s { $($s => Some($t::$v),)* _ => None }
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_names!(TransactionType { Buy => "BUY", Sell => "SELL" });
wire_names!(OrderType {
    Market => "MARKET",
    Limit => "LIMIT",
    /// Stop-loss limit: `price` and `trigger_price`.
    Sl => "SL",
    /// Stop-loss market: `trigger_price` only.
    SlM => "SL-M",
});
// v3 place takes only these three; cover orders and OCO are not used.
wire_names!(Product {
    /// Intraday.
    Intraday => "I",
    /// Delivery, and carry-forward for F&O (Upstox has no separate NRML).
    Delivery => "D",
    /// Margin trading facility.
    Mtf => "MTF",
});
wire_names!(Validity { Day => "DAY", Ioc => "IOC" });
wire_names!(FundsSegment {
    /// Equity (`SEC`).
    Equity => "SEC",
    /// Commodity (`COM`).
    Commodity => "COM",
});
wire_names!(CandleUnit { Minutes => "minutes", Hours => "hours", Days => "days", Weeks => "weeks", Months => "months" });

impl OrderType {
    pub const fn needs_price(self) -> bool {
        matches!(self, OrderType::Limit | OrderType::Sl)
    }

    pub const fn needs_trigger(self) -> bool {
        matches!(self, OrderType::Sl | OrderType::SlM)
    }
}

/// Dalal's own limit on a tag (Upstox documents none): 40 letters, digits, `-` or `_`, so a
/// tag is safe in any log and in the order-history query that looks it up.
pub const MAX_TAG: usize = 40;

/// `POST /v3/order/place`.
#[derive(Clone, Debug, PartialEq)]
pub struct PlaceOrder {
    /// The instrument key, `NSE_EQ|INE848E01016`.
    pub instrument_token: String,
    pub transaction_type: TransactionType,
    /// Units (lots for commodities).
    pub quantity: u32,
    pub product: Product,
    pub order_type: OrderType,
    pub validity: Validity,
    /// Rupees; zero for MARKET and SL-M orders.
    pub price: f64,
    /// Rupees; SL and SL-M orders only (zero otherwise).
    pub trigger_price: f64,
    pub disclosed_quantity: u32,
    /// An after-market order, queued for the next session.
    pub is_amo: bool,
    pub tag: Option<String>,
    /// Let Upstox split an order above the exchange's freeze quantity into up to 25 orders.
    /// Off unless asked: one request, one order is what Dalal's order tracking expects.
    pub slice: bool,
    pub market_protection: Option<f64>,
}

impl PlaceOrder {
    /// A DAY order with neither trigger, disclosure, AMO flag, tag, slicing nor protection.
    pub fn new(
        instrument_token: &str,
        transaction_type: TransactionType,
        quantity: u32,
        product: Product,
        order_type: OrderType,
        price: f64,
    ) -> PlaceOrder {
        PlaceOrder {
            instrument_token: instrument_token.to_string(),
            transaction_type,
            quantity,
            product,
            order_type,
            validity: Validity::Day,
            price,
            trigger_price: 0.0,
            disclosed_quantity: 0,
            is_amo: false,
            tag: None,
            slice: false,
            market_protection: None,
        }
    }

    /// Checks what Upstox would refuse anyway, before the request spends a rate-limit slot.
    pub fn validate(&self) -> Result<(), String> {
        if self.quantity == 0 {
            return Err("quantity must be positive".into());
        }
        check_instrument_key(&self.instrument_token)?;
        check_prices(self.order_type, self.price, self.trigger_price)?;
        if self.disclosed_quantity > self.quantity {
            return Err("disclosed_quantity is more than the quantity".into());
        }
        check_protection(self.market_protection)?;
        check_tag(self.tag.as_deref())
    }

    /// The JSON body: `PlaceOrderV3Request`'s fields, `tag` and `market_protection` only when set.
    pub fn body(&self) -> serde_json::Value {
        let mut b = serde_json::Map::new();
        b.insert("quantity".into(), self.quantity.into());
        b.insert("product".into(), self.product.as_str().into());
        b.insert("validity".into(), self.validity.as_str().into());
        b.insert("price".into(), self.price.into());
        if let Some(tag) = &self.tag {
            b.insert("tag".into(), tag.clone().into());
        }
        b.insert("slice".into(), self.slice.into());
        b.insert("instrument_token".into(), self.instrument_token.clone().into());
        b.insert("order_type".into(), self.order_type.as_str().into());
        b.insert("transaction_type".into(), self.transaction_type.as_str().into());
        b.insert("disclosed_quantity".into(), self.disclosed_quantity.into());
        b.insert("trigger_price".into(), self.trigger_price.into());
        b.insert("is_amo".into(), self.is_amo.into());
        if let Some(p) = self.market_protection {
            b.insert("market_protection".into(), p.into());
        }
        serde_json::Value::Object(b)
    }
}

/// `PUT /v3/order/modify`. Upstox requires the order type, validity, price and trigger price
/// every time (the SDK's model refuses to send without them); quantity and disclosed quantity
/// are left as they are when absent.
#[derive(Clone, Debug, PartialEq)]
pub struct ModifyOrder {
    pub order_id: String,
    pub order_type: OrderType,
    pub validity: Validity,
    /// Rupees; zero for MARKET and SL-M.
    pub price: f64,
    /// Rupees; zero unless SL or SL-M.
    pub trigger_price: f64,
    pub quantity: Option<u32>,
    pub disclosed_quantity: Option<u32>,
    pub market_protection: Option<f64>,
}

impl ModifyOrder {
    pub fn validate(&self) -> Result<(), String> {
        check_order_id(&self.order_id)?;
        if self.quantity == Some(0) {
            return Err("quantity must be positive".into());
        }
        if let (Some(d), Some(q)) = (self.disclosed_quantity, self.quantity) {
            if d > q {
                return Err("disclosed_quantity is more than the quantity".into());
            }
        }
        check_prices(self.order_type, self.price, self.trigger_price)?;
        check_protection(self.market_protection)
    }

    /// The JSON body: `ModifyOrderRequest`'s fields, the optional ones only when set.
    pub fn body(&self) -> serde_json::Value {
        let mut b = serde_json::Map::new();
        if let Some(q) = self.quantity {
            b.insert("quantity".into(), q.into());
        }
        b.insert("validity".into(), self.validity.as_str().into());
        b.insert("price".into(), self.price.into());
        b.insert("order_id".into(), self.order_id.clone().into());
        b.insert("order_type".into(), self.order_type.as_str().into());
        if let Some(q) = self.disclosed_quantity {
            b.insert("disclosed_quantity".into(), q.into());
        }
        b.insert("trigger_price".into(), self.trigger_price.into());
        if let Some(p) = self.market_protection {
            b.insert("market_protection".into(), p.into());
        }
        serde_json::Value::Object(b)
    }
}

/// A candle interval of the v3 historical endpoint: `minutes` 1–300, `hours` 1–5, and 1 of
/// `days`, `weeks` or `months`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CandleInterval {
    pub unit: CandleUnit,
    pub interval: u32,
}

impl CandleInterval {
    pub const fn new(unit: CandleUnit, interval: u32) -> CandleInterval {
        CandleInterval { unit, interval }
    }

    pub fn validate(&self) -> Result<(), String> {
        let max = match self.unit {
            CandleUnit::Minutes => 300,
            CandleUnit::Hours => 5,
            CandleUnit::Days | CandleUnit::Weeks | CandleUnit::Months => 1,
        };
        if (1..=max).contains(&self.interval) {
            Ok(())
        } else {
            Err(format!("{} {}: the interval is 1 to {max}", self.interval, self.unit))
        }
    }
}

/// Upstox's order ids: letters, digits and `-` (UDAPI1010).
pub fn check_order_id(id: &str) -> Result<(), String> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(format!("order id {id:?}: letters, digits and '-' only"));
    }
    Ok(())
}

/// An instrument key is `SEGMENT|id`, the segment in capitals and underscores
/// (`NSE_EQ|INE848E01016`, `NSE_INDEX|Nifty 50`).
pub fn check_instrument_key(key: &str) -> Result<(), String> {
    let ok = key.split_once('|').is_some_and(|(segment, id)| {
        !segment.is_empty()
            && segment.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            && !id.trim().is_empty()
            && !id.contains('|')
            && !id.chars().any(char::is_control)
    });
    if ok {
        Ok(())
    } else {
        Err(format!("instrument key {key:?}: expected SEGMENT|id"))
    }
}

/// Prices are finite and not negative; LIMIT and SL need a price, SL and SL-M a trigger, and
/// MARKET and SL-M take none (a price there would be ignored at best).
fn check_prices(order_type: OrderType, price: f64, trigger: f64) -> Result<(), String> {
    if !price.is_finite() || !trigger.is_finite() || price < 0.0 || trigger < 0.0 {
        return Err("prices must be finite and not negative".into());
    }
    if order_type.needs_price() && price <= 0.0 {
        return Err(format!("{order_type} orders need a price"));
    }
    if !order_type.needs_price() && price != 0.0 {
        return Err(format!("{order_type} orders take no price"));
    }
    if order_type.needs_trigger() && trigger <= 0.0 {
        return Err(format!("{order_type} orders need a trigger_price"));
    }
    if !order_type.needs_trigger() && trigger != 0.0 {
        return Err(format!("{order_type} orders take no trigger_price"));
    }
    Ok(())
}

fn check_protection(p: Option<f64>) -> Result<(), String> {
    match p {
        Some(x) if !x.is_finite() => Err(format!("market_protection {x} is not a number")),
        _ => Ok(()),
    }
}

fn check_tag(tag: Option<&str>) -> Result<(), String> {
    match tag {
        Some(t)
            if t.is_empty()
                || t.len() > MAX_TAG
                || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Err(format!("tag {t:?}: 1 to {MAX_TAG} letters, digits, '-' or '_'"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit() -> PlaceOrder {
        PlaceOrder {
            tag: Some("d42".into()),
            ..PlaceOrder::new(
                "NSE_EQ|INE848E01016",
                TransactionType::Buy,
                10,
                Product::Intraday,
                OrderType::Limit,
                87.05,
            )
        }
    }

    #[test]
    fn a_place_body_is_the_sdks() {
        let b = limit().body();
        assert_eq!(
            b,
            serde_json::json!({"quantity": 10, "product": "I", "validity": "DAY", "price": 87.05, "tag": "d42",
                "slice": false, "instrument_token": "NSE_EQ|INE848E01016", "order_type": "LIMIT",
                "transaction_type": "BUY", "disclosed_quantity": 0, "trigger_price": 0.0, "is_amo": false})
        );
        assert_eq!(b["trigger_price"].to_string(), "0.0", "rupees as JSON numbers, floats as the SDK writes them");
        assert_eq!(limit().validate(), Ok(()));
        let m = ModifyOrder {
            order_id: "240108010918222".into(),
            order_type: OrderType::Sl,
            validity: Validity::Day,
            price: 16.8,
            trigger_price: 16.9,
            quantity: Some(2),
            disclosed_quantity: None,
            market_protection: None,
        };
        assert_eq!(m.validate(), Ok(()));
        assert_eq!(
            m.body(),
            serde_json::json!({"quantity": 2, "validity": "DAY", "price": 16.8, "order_id": "240108010918222",
                "order_type": "SL", "trigger_price": 16.9})
        );
    }

    #[test]
    fn what_upstox_would_refuse_is_refused_first() {
        let bad = [
            PlaceOrder { quantity: 0, ..limit() },
            PlaceOrder { price: 0.0, ..limit() },
            PlaceOrder { price: f64::NAN, ..limit() },
            PlaceOrder { trigger_price: 80.0, ..limit() },
            PlaceOrder { order_type: OrderType::Market, ..limit() },
            PlaceOrder { order_type: OrderType::Sl, ..limit() },
            PlaceOrder { instrument_token: "INE848E01016".into(), ..limit() },
            PlaceOrder { instrument_token: "nse_eq|X".into(), ..limit() },
            PlaceOrder { disclosed_quantity: 11, ..limit() },
            PlaceOrder { tag: Some("a tag".into()), ..limit() },
            PlaceOrder { tag: Some("x".repeat(41)), ..limit() },
            PlaceOrder { market_protection: Some(f64::INFINITY), ..limit() },
        ];
        for o in bad {
            assert!(o.validate().is_err(), "{o:?}");
        }
        let sl_m = PlaceOrder { order_type: OrderType::SlM, price: 0.0, trigger_price: 85.0, ..limit() };
        assert_eq!(sl_m.validate(), Ok(()));
        assert_eq!(PlaceOrder { instrument_token: "NSE_INDEX|Nifty 50".into(), ..limit() }.validate(), Ok(()));
        assert!(check_order_id("../x").is_err());
        assert_eq!(check_order_id("GTT-C23191000044253"), Ok(()));
    }

    #[test]
    fn wire_names_and_intervals() {
        for t in [OrderType::Market, OrderType::Limit, OrderType::Sl, OrderType::SlM] {
            assert_eq!(OrderType::parse(t.as_str()), Some(t));
        }
        assert_eq!(Product::parse("MTF"), Some(Product::Mtf));
        assert_eq!(Product::parse("CO"), None);
        assert_eq!(CandleInterval::new(CandleUnit::Minutes, 300).validate(), Ok(()));
        assert!(CandleInterval::new(CandleUnit::Hours, 6).validate().is_err());
        assert!(CandleInterval::new(CandleUnit::Days, 0).validate().is_err());
    }
}
