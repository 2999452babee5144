//! SmartAPI order requests (brokers.md §2.6): varieties, order types, products and durations
//! Dalal trades, and the JSON bodies of place, modify and cancel. Numbers go as strings, as
//! Angel's own samples and clients send them.

use serde::Serialize;

macro_rules! wire_names {
    ($t:ident { $($v:ident => $s:literal),* $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        pub enum $t { $(#[serde(rename = $s)] $v),* }

        impl $t {
            /// The value Angel expects on the wire.
            pub const fn as_str(self) -> &'static str {
                match self { $($t::$v => $s),* }
            }

            pub fn parse(s: &str) -> Option<$t> {
                match s { $($s => Some($t::$v),)* _ => None }
            }
        }
    };
}

wire_names!(Variety { Normal => "NORMAL", StopLoss => "STOPLOSS", Amo => "AMO" });
wire_names!(TransactionType { Buy => "BUY", Sell => "SELL" });
wire_names!(OrderType {
    Market => "MARKET",
    Limit => "LIMIT",
    StopLossLimit => "STOPLOSS_LIMIT",
    StopLossMarket => "STOPLOSS_MARKET",
});
wire_names!(Product { Delivery => "DELIVERY", Intraday => "INTRADAY", CarryForward => "CARRYFORWARD", Margin => "MARGIN" });
wire_names!(Duration { Day => "DAY", Ioc => "IOC" });

/// Angel refuses a tag of 20 characters or more (AB4008).
pub const MAX_TAG: usize = 19;

/// `placeOrder`.
#[derive(Clone, Debug, PartialEq)]
pub struct PlaceOrder {
    pub variety: Variety,
    /// `SBIN-EQ` (cash symbols carry the series).
    pub tradingsymbol: String,
    /// The instrument master's token, `3045`.
    pub symboltoken: String,
    pub transactiontype: TransactionType,
    /// `NSE`, `NFO`…
    pub exchange: String,
    pub ordertype: OrderType,
    pub producttype: Product,
    pub duration: Duration,
    /// Rupees; zero for a market order.
    pub price: f64,
    /// Rupees; stop-loss orders only.
    pub triggerprice: f64,
    pub quantity: u64,
    pub ordertag: Option<String>,
}

/// A price as Angel wants it: rupees in the shortest decimal that is the same double
/// (`194.05`, not `194.05000000000001`).
fn rupees(x: f64) -> String {
    format!("{x}")
}

impl PlaceOrder {
    /// What Angel would refuse, refused before sending.
    pub fn validate(&self) -> Result<(), String> {
        if self.quantity == 0 {
            return Err("quantity must be positive".into());
        }
        if self.tradingsymbol.is_empty() || self.symboltoken.is_empty() || self.exchange.is_empty() {
            return Err("tradingsymbol, symboltoken and exchange are required".into());
        }
        if !self.price.is_finite() || !self.triggerprice.is_finite() || self.price < 0.0 || self.triggerprice < 0.0 {
            return Err("prices must be finite and not negative".into());
        }
        let stop = matches!(self.ordertype, OrderType::StopLossLimit | OrderType::StopLossMarket);
        if stop != (self.variety == Variety::StopLoss) {
            return Err("stop-loss order types go with the STOPLOSS variety, and only they".into());
        }
        if stop && self.triggerprice <= 0.0 {
            return Err("a stop-loss order needs a trigger price".into());
        }
        if matches!(self.ordertype, OrderType::Limit | OrderType::StopLossLimit) && self.price <= 0.0 {
            return Err("a limit order needs a price".into());
        }
        if let Some(tag) = &self.ordertag {
            if tag.chars().count() > MAX_TAG || !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!("ordertag {tag:?}: at most {MAX_TAG} letters, digits, '_' or '-'"));
            }
        }
        Ok(())
    }

    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "variety": self.variety.as_str(),
            "tradingsymbol": self.tradingsymbol,
            "symboltoken": self.symboltoken,
            "transactiontype": self.transactiontype.as_str(),
            "exchange": self.exchange,
            "ordertype": self.ordertype.as_str(),
            "producttype": self.producttype.as_str(),
            "duration": self.duration.as_str(),
            "price": rupees(self.price),
            "triggerprice": rupees(self.triggerprice),
            "squareoff": "0",
            "stoploss": "0",
            "quantity": self.quantity.to_string(),
        });
        if let (Some(tag), Some(obj)) = (&self.ordertag, body.as_object_mut()) {
            obj.insert("ordertag".into(), tag.clone().into());
        }
        body
    }
}

/// `modifyOrder`: Angel wants the whole order again, with the new price and quantity.
#[derive(Clone, Debug, PartialEq)]
pub struct ModifyOrder {
    pub orderid: String,
    pub order: PlaceOrder,
}

impl ModifyOrder {
    pub fn validate(&self) -> Result<(), String> {
        if self.orderid.is_empty() {
            return Err("orderid is required".into());
        }
        self.order.validate()
    }

    pub fn body(&self) -> serde_json::Value {
        let o = &self.order;
        serde_json::json!({
            "variety": o.variety.as_str(),
            "orderid": self.orderid,
            "ordertype": o.ordertype.as_str(),
            "producttype": o.producttype.as_str(),
            "duration": o.duration.as_str(),
            "price": rupees(o.price),
            "triggerprice": rupees(o.triggerprice),
            "quantity": o.quantity.to_string(),
            "tradingsymbol": o.tradingsymbol,
            "symboltoken": o.symboltoken,
            "exchange": o.exchange,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit() -> PlaceOrder {
        PlaceOrder {
            variety: Variety::Normal,
            tradingsymbol: "SBIN-EQ".into(),
            symboltoken: "3045".into(),
            transactiontype: TransactionType::Buy,
            exchange: "NSE".into(),
            ordertype: OrderType::Limit,
            producttype: Product::Intraday,
            duration: Duration::Day,
            price: 194.05,
            triggerprice: 0.0,
            quantity: 10,
            ordertag: Some("d42".into()),
        }
    }

    #[test]
    fn a_place_body_is_what_the_docs_show() {
        let b = limit().body();
        assert_eq!(b["price"], "194.05");
        assert_eq!(b["quantity"], "10");
        assert_eq!(b["ordertype"], "LIMIT");
        assert_eq!(b["producttype"], "INTRADAY");
        assert_eq!(b["ordertag"], "d42");
        assert_eq!(limit().validate(), Ok(()));
    }

    #[test]
    fn what_angel_refuses_is_refused_first() {
        let mut o = limit();
        o.ordertag = Some("x".repeat(20));
        assert!(o.validate().is_err(), "AB4008");
        let mut o = limit();
        o.ordertype = OrderType::StopLossLimit;
        assert!(o.validate().is_err(), "needs the STOPLOSS variety");
        o.variety = Variety::StopLoss;
        assert!(o.validate().is_err(), "needs a trigger");
        o.triggerprice = 193.0;
        assert_eq!(o.validate(), Ok(()));
        let mut o = limit();
        o.quantity = 0;
        assert!(o.validate().is_err());
        let mut o = limit();
        o.price = f64::NAN;
        assert!(o.validate().is_err());
    }

    #[test]
    fn wire_names_round_trip() {
        for t in [OrderType::Market, OrderType::Limit, OrderType::StopLossLimit, OrderType::StopLossMarket] {
            assert_eq!(OrderType::parse(t.as_str()), Some(t));
        }
        assert_eq!(Product::parse("CARRYFORWARD"), Some(Product::CarryForward));
        assert_eq!(Variety::parse("ROBO"), None);
    }
}
