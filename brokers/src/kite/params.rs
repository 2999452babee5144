//! Kite Connect v3 order requests: the varieties, types, products and validities Dalal
//! trades, and the form fields each request sends (named and ordered as the official client
//! sends them, which also repeats `variety`, and `order_id` on a modify, in the body).

/// Path segment of the order endpoints. Cover, iceberg and auction orders are not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variety {
    Regular,
    /// After-market order, queued for the next session.
    Amo,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransactionType {
    Buy,
    Sell,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderType {
    Market,
    Limit,
    /// Stop-loss limit: `price` and `trigger_price`.
    Sl,
    /// Stop-loss market: `trigger_price` only.
    SlM,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Product {
    /// Delivery.
    Cnc,
    /// Intraday.
    Mis,
    /// F&O carry-forward.
    Nrml,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Validity {
    Day,
    Ioc,
}

macro_rules! wire_names {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            /// The value Kite expects on the wire.
            pub const fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),* }
            }

            pub fn parse(s: &str) -> Option<$t> {
                match s { $($s => Some(<$t>::$v),)* _ => None }
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_names!(Variety { Regular => "regular", Amo => "amo" });
wire_names!(TransactionType { Buy => "BUY", Sell => "SELL" });
wire_names!(OrderType { Market => "MARKET", Limit => "LIMIT", Sl => "SL", SlM => "SL-M" });
wire_names!(Product { Cnc => "CNC", Mis => "MIS", Nrml => "NRML" });
wire_names!(Validity { Day => "DAY", Ioc => "IOC" });

impl OrderType {
    pub const fn needs_price(self) -> bool {
        matches!(self, OrderType::Limit | OrderType::Sl)
    }

    pub const fn needs_trigger(self) -> bool {
        matches!(self, OrderType::Sl | OrderType::SlM)
    }
}

/// `POST /orders/{variety}`. Prices are rupees as Kite takes them; build them from paise with
/// [`crate::money::paise_to_rupees`].
#[derive(Clone, Debug, PartialEq)]
pub struct PlaceOrder {
    pub variety: Variety,
    pub exchange: String,
    pub tradingsymbol: String,
    pub transaction_type: TransactionType,
    pub quantity: u32,
    pub product: Product,
    pub order_type: OrderType,
    pub price: Option<f64>,
    pub trigger_price: Option<f64>,
    pub validity: Option<Validity>,
    pub disclosed_quantity: Option<u32>,
    /// Up to 20 letters and digits; Dalal puts the strategy or order reference here.
    pub tag: Option<String>,
}

/// `PUT /orders/{variety}/{order_id}`: only the fields that change.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModifyOrder {
    pub quantity: Option<u32>,
    pub price: Option<f64>,
    pub order_type: Option<OrderType>,
    pub trigger_price: Option<f64>,
    pub validity: Option<Validity>,
    pub disclosed_quantity: Option<u32>,
}

/// Kite's form value for rupees, as Python's `str(float)` writes it (`1500.5`, `1500.0`),
/// so our requests read the same as the official client's.
pub fn rupees_field(v: f64) -> String {
    let s = format!("{v}");
    if v.is_finite() && !s.contains('.') {
        format!("{s}.0")
    } else {
        s
    }
}

fn check_money(name: &str, v: Option<f64>) -> Result<(), String> {
    match v {
        Some(x) if !x.is_finite() || x < 0.0 => Err(format!("{name} {x} is not a price")),
        _ => Ok(()),
    }
}

fn check_tag(tag: &Option<String>) -> Result<(), String> {
    match tag {
        Some(t) if t.is_empty() || t.len() > 20 || !t.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Err(format!("tag {t:?}: 1 to 20 letters or digits"))
        }
        _ => Ok(()),
    }
}

impl PlaceOrder {
    /// Checks what Kite would refuse anyway, before the request spends a rate-limit slot.
    pub fn validate(&self) -> Result<(), String> {
        if self.quantity == 0 {
            return Err("quantity 0".into());
        }
        if self.exchange.is_empty() || self.tradingsymbol.is_empty() {
            return Err("exchange and tradingsymbol are required".into());
        }
        check_money("price", self.price)?;
        check_money("trigger_price", self.trigger_price)?;
        if self.order_type.needs_price() && self.price.is_none() {
            return Err(format!("{} orders need a price", self.order_type));
        }
        if self.order_type.needs_trigger() && self.trigger_price.is_none() {
            return Err(format!("{} orders need a trigger_price", self.order_type));
        }
        check_tag(&self.tag)
    }

    /// The form body, fields in the official client's order.
    pub fn form(&self) -> Vec<(&'static str, String)> {
        let mut f = vec![
            ("variety", self.variety.as_str().to_string()),
            ("exchange", self.exchange.clone()),
            ("tradingsymbol", self.tradingsymbol.clone()),
            ("transaction_type", self.transaction_type.as_str().to_string()),
            ("quantity", self.quantity.to_string()),
            ("product", self.product.as_str().to_string()),
            ("order_type", self.order_type.as_str().to_string()),
        ];
        if let Some(p) = self.price {
            f.push(("price", rupees_field(p)));
        }
        if let Some(v) = self.validity {
            f.push(("validity", v.as_str().to_string()));
        }
        if let Some(q) = self.disclosed_quantity {
            f.push(("disclosed_quantity", q.to_string()));
        }
        if let Some(t) = self.trigger_price {
            f.push(("trigger_price", rupees_field(t)));
        }
        if let Some(t) = &self.tag {
            f.push(("tag", t.clone()));
        }
        f
    }
}

impl ModifyOrder {
    pub fn validate(&self) -> Result<(), String> {
        if self.quantity == Some(0) {
            return Err("quantity 0".into());
        }
        check_money("price", self.price)?;
        check_money("trigger_price", self.trigger_price)
    }

    /// The form body; the official client repeats the path's variety and order id in it.
    pub fn form(&self, variety: Variety, order_id: &str) -> Vec<(&'static str, String)> {
        let mut f = vec![("variety", variety.as_str().to_string()), ("order_id", order_id.to_string())];
        if let Some(q) = self.quantity {
            f.push(("quantity", q.to_string()));
        }
        if let Some(p) = self.price {
            f.push(("price", rupees_field(p)));
        }
        if let Some(t) = self.order_type {
            f.push(("order_type", t.as_str().to_string()));
        }
        if let Some(t) = self.trigger_price {
            f.push(("trigger_price", rupees_field(t)));
        }
        if let Some(v) = self.validity {
            f.push(("validity", v.as_str().to_string()));
        }
        if let Some(q) = self.disclosed_quantity {
            f.push(("disclosed_quantity", q.to_string()));
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rupees_read_like_pythons_floats() {
        assert_eq!(rupees_field(1500.5), "1500.5");
        assert_eq!(rupees_field(1500.0), "1500.0");
        assert_eq!(rupees_field(0.05), "0.05");
        assert_eq!(rupees_field(crate::money::paise_to_rupees(150055)), "1500.55");
    }

    #[test]
    fn orders_kite_would_refuse_are_refused_before_sending() {
        let ok = PlaceOrder {
            variety: Variety::Regular,
            exchange: "NSE".into(),
            tradingsymbol: "INFY".into(),
            transaction_type: TransactionType::Buy,
            quantity: 1,
            product: Product::Cnc,
            order_type: OrderType::Limit,
            price: Some(1500.5),
            trigger_price: None,
            validity: None,
            disclosed_quantity: None,
            tag: Some("t1".into()),
        };
        assert_eq!(ok.validate(), Ok(()));
        assert!(PlaceOrder { price: None, ..ok.clone() }.validate().is_err());
        assert!(PlaceOrder { order_type: OrderType::SlM, ..ok.clone() }.validate().is_err());
        assert!(PlaceOrder { price: Some(f64::NAN), ..ok.clone() }.validate().is_err());
        assert!(PlaceOrder { quantity: 0, ..ok.clone() }.validate().is_err());
        assert!(PlaceOrder { tag: Some("a tag with spaces".into()), ..ok.clone() }.validate().is_err());
        assert!(PlaceOrder { tag: Some("x".repeat(21)), ..ok }.validate().is_err());
    }
}
