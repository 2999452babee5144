//! Reconciliation: the broker's view of a login (net positions, open orders, funds) beside the
//! engine's positions for the accounts bound to it. Differences are reported, never papered
//! over; orders placed outside Dalal (at the broker's terminal, by another app) are listed and
//! left alone: the engine does not manage what it did not place.

use std::collections::BTreeMap;

use dalal_core::model::{AccountId, Adoption, InstrumentSpec, Price, Product, Qty, Side};
use serde::Serialize;

use super::kite::KiteSymbol;
use crate::angel::model::{Order as AngelOrder, Position as AngelPosition};
use crate::kite::model::{Order as KiteOrder, Position as KitePosition};
use crate::order_state::OrderState;
use crate::upstox::model::{Order as UpstoxOrder, Position as UpstoxPosition};

/// A position by where it trades: exchange, trading symbol and product (`MIS`, `CNC`, `NRML`),
/// in the words of the engine's [`position_key`] whichever broker holds it.
pub type PositionKey = (String, String, String);

/// A broker's net position, in the engine's key: every broker's positions are read into this,
/// so one reconciliation serves them all.
#[derive(Clone, Debug, PartialEq)]
pub struct HeldPosition {
    pub key: PositionKey,
    pub quantity: i64,
    /// Rupees; zero when the broker does not say (a position closed today).
    pub average_price: f64,
    pub last_price: f64,
}

/// A broker's order as reconciliation reads it: whether it still works, and whether it is ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookOrder {
    pub order_id: String,
    pub exchange: String,
    pub symbol: String,
    pub side: String,
    pub quantity: i64,
    pub pending_quantity: i64,
    /// The broker's own status word.
    pub status: String,
    pub state: OrderState,
    /// Every tag the broker shows on it.
    pub tags: Vec<String>,
}

impl From<&KitePosition> for HeldPosition {
    fn from(p: &KitePosition) -> HeldPosition {
        HeldPosition {
            key: (p.exchange.clone(), p.tradingsymbol.clone(), p.product.clone()),
            quantity: p.quantity,
            average_price: p.average_price,
            last_price: p.last_price,
        }
    }
}

impl From<&KiteOrder> for BookOrder {
    fn from(o: &KiteOrder) -> BookOrder {
        BookOrder {
            order_id: o.order_id.clone(),
            exchange: o.exchange.clone(),
            symbol: o.tradingsymbol.clone(),
            side: o.transaction_type.clone(),
            quantity: o.quantity,
            pending_quantity: o.pending_quantity,
            status: o.status.clone(),
            state: o.state(),
            tags: o.tag.iter().chain(&o.tags).cloned().collect(),
        }
    }
}

/// Angel's cash symbols carry the series (`SBIN-EQ`); the engine's key has the bare symbol, as
/// [`super::angel::AngelSymbol::of`] adds it.
fn angel_symbol_key(exchange: &str, symbol: &str) -> String {
    match (exchange, symbol.rsplit_once('-')) {
        ("NSE" | "BSE", Some((bare, "EQ" | "BE"))) => bare.to_string(),
        _ => symbol.to_string(),
    }
}

/// Angel's products in the engine's words (`INTRADAY` → `MIS`, `DELIVERY` → `CNC`,
/// `CARRYFORWARD` and `MARGIN` → `NRML`); others kept, so they show as differences.
fn angel_product_key(product: &str) -> String {
    match product {
        "INTRADAY" => "MIS",
        "DELIVERY" => "CNC",
        "CARRYFORWARD" | "MARGIN" => "NRML",
        other => other,
    }
    .to_string()
}

/// Upstox's products in the engine's words: `I` → `MIS`; `D` → `CNC` on a cash exchange and
/// `NRML` on a derivatives one (Upstox's one letter for both); others kept.
fn upstox_product_key(exchange: &str, product: &str) -> String {
    match (product, exchange) {
        ("I", _) => "MIS",
        ("D", "NFO" | "BFO" | "NSE_FO" | "BSE_FO") => "NRML",
        ("D", _) => "CNC",
        (other, _) => other,
    }
    .to_string()
}

/// Upstox's exchange of a position (`NSE`, or a segment such as `NSE_EQ`, `NSE_FO`) in the
/// engine's words (`NSE`, `NFO`).
fn upstox_exchange_key(exchange: &str) -> String {
    match exchange {
        "NSE_EQ" => "NSE",
        "NSE_FO" => "NFO",
        "BSE_EQ" => "BSE",
        "BSE_FO" => "BFO",
        other => other,
    }
    .to_string()
}

impl From<&UpstoxPosition> for HeldPosition {
    fn from(p: &UpstoxPosition) -> HeldPosition {
        let symbol = if p.trading_symbol.is_empty() { &p.tradingsymbol } else { &p.trading_symbol };
        HeldPosition {
            key: (upstox_exchange_key(&p.exchange), symbol.clone(), upstox_product_key(&p.exchange, &p.product)),
            quantity: p.quantity,
            average_price: p.average_price,
            last_price: p.last_price,
        }
    }
}

impl From<&UpstoxOrder> for BookOrder {
    fn from(o: &UpstoxOrder) -> BookOrder {
        BookOrder {
            order_id: o.order_id.clone(),
            exchange: upstox_exchange_key(&o.exchange),
            symbol: o.symbol().to_string(),
            side: o.transaction_type.clone(),
            quantity: o.quantity,
            pending_quantity: o.pending_quantity,
            status: o.status.clone(),
            state: o.state(),
            tags: o.tag.iter().filter(|t| !t.is_empty()).cloned().collect(),
        }
    }
}

impl From<&AngelPosition> for HeldPosition {
    fn from(p: &AngelPosition) -> HeldPosition {
        HeldPosition {
            key: (
                p.exchange.clone(),
                angel_symbol_key(&p.exchange, &p.tradingsymbol),
                angel_product_key(&p.producttype),
            ),
            quantity: p.netqty,
            average_price: if p.netqty >= 0 { p.buyavgprice } else { p.sellavgprice },
            last_price: p.ltp,
        }
    }
}

impl From<&AngelOrder> for BookOrder {
    fn from(o: &AngelOrder) -> BookOrder {
        BookOrder {
            order_id: o.orderid.clone(),
            exchange: o.exchange.clone(),
            symbol: angel_symbol_key(&o.exchange, &o.tradingsymbol),
            side: o.transactiontype.clone(),
            quantity: o.quantity,
            pending_quantity: o.unfilledshares,
            status: o.status_word(),
            state: o.state(),
            tags: (!o.ordertag.is_empty()).then(|| o.ordertag.clone()).into_iter().collect(),
        }
    }
}

/// One instrument whose quantities differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PositionDiff {
    pub exchange: String,
    pub symbol: String,
    pub product: String,
    pub engine: i64,
    pub broker: i64,
}

/// An order at the broker that Dalal did not place, still working.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutsideOrder {
    pub order_id: String,
    pub exchange: String,
    pub symbol: String,
    pub side: String,
    pub quantity: i64,
    pub pending_quantity: i64,
    pub status: String,
}

/// What reconciliation found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Reconciliation {
    /// Positions whose net quantity differs (an instrument only one side holds included).
    pub differences: Vec<PositionDiff>,
    /// Positions that agree, for the record.
    pub agreeing: usize,
    /// Working orders at the broker that Dalal did not place.
    pub outside_orders: Vec<OutsideOrder>,
    /// Working orders of Dalal's at the broker (tagged with our ids).
    pub own_open_orders: usize,
    /// Cash the broker says is available, rupees.
    pub available_cash: Option<f64>,
}

impl Reconciliation {
    pub fn agrees(&self) -> bool {
        self.differences.is_empty()
    }
}

/// What it takes to make the engine's position the broker's: the quantity to add (signed:
/// positive buys) and the price to book it at, paise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adopt {
    pub key: PositionKey,
    pub qty: i64,
    pub price: i64,
}

/// The adoptions that bring `engine` to the broker's net positions, each at the broker's
/// average price (its last price when the average is unknown, as for a position closed
/// today). A difference with no usable price is left out and returned second, to be reported.
pub fn adoptions(
    engine: &BTreeMap<PositionKey, i64>,
    broker_positions: &[HeldPosition],
) -> (Vec<Adopt>, Vec<PositionKey>) {
    let mut broker: BTreeMap<PositionKey, (i64, i64)> = BTreeMap::new();
    for p in broker_positions {
        let price = [p.average_price, p.last_price]
            .into_iter()
            .find_map(|r| crate::money::rupees_to_paise(r).ok().filter(|v| *v > 0))
            .unwrap_or(0);
        let e = broker.entry(p.key.clone()).or_default();
        e.0 += p.quantity;
        if e.1 == 0 {
            e.1 = price;
        }
    }
    let (mut out, mut unpriced) = (Vec::new(), Vec::new());
    let keys: std::collections::BTreeSet<&PositionKey> = engine.keys().chain(broker.keys()).collect();
    for key in keys {
        let e = engine.get(key).copied().unwrap_or(0);
        let (b, price) = broker.get(key).copied().unwrap_or((0, 0));
        if e == b {
            continue;
        }
        if price <= 0 {
            unpriced.push(key.clone());
        } else {
            out.push(Adopt { key: key.clone(), qty: b - e, price });
        }
    }
    (out, unpriced)
}

/// Where an engine position is at Kite: its instrument's exchange and trading symbol
/// ([`KiteSymbol::of`]) and its product. Both sides of a reconciliation are keyed this way.
pub fn position_key(spec: &InstrumentSpec, product: Product) -> PositionKey {
    let at = KiteSymbol::of(spec);
    (at.exchange, at.tradingsymbol, product.as_str().to_string())
}

/// The configuration's instrument and Dalal's product at a broker's position key: the inverse
/// of [`position_key`]. `None` when no instrument of `instruments` trades there, or the
/// product is not one Dalal books (a broker's `CO`, `BO`, `MTF`).
pub fn instrument_at<'a>(
    instruments: &'a [InstrumentSpec],
    key: &PositionKey,
) -> Option<(&'a InstrumentSpec, Product)> {
    let (exchange, symbol, product) = key;
    let product = Product::ALL.into_iter().find(|p| p.as_str() == product.as_str())?;
    let spec = instruments.iter().find(|s| {
        let at = KiteSymbol::of(s);
        &at.exchange == exchange && &at.tradingsymbol == symbol
    })?;
    Some((spec, product))
}

/// Why a difference is left for people to settle rather than adopted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftOut {
    /// No instrument of the configuration trades there, or the product is not Dalal's: the
    /// engine has nowhere to book it.
    UnknownInstrument,
    /// The broker gives neither an average nor a last price to book it at.
    NoPrice,
}

/// What adopting a login's positions into one account would do: the commands, each beside
/// the difference it settles, and the differences left out with why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdoptionPlan {
    pub adopt: Vec<(Adopt, Adoption)>,
    pub left_out: Vec<(PositionKey, LeftOut)>,
}

/// The `Command::Adopt`s that make `account`'s positions (`engine`, keyed by
/// [`position_key`]) the broker's, from [`adoptions`]. The start of a run
/// (`adopt_positions`) and the console's adopt both plan through here, so a position is
/// booked the same way whichever asked.
pub fn plan_adoptions(
    instruments: &[InstrumentSpec],
    account: AccountId,
    engine: &BTreeMap<PositionKey, i64>,
    broker_positions: &[HeldPosition],
) -> AdoptionPlan {
    let (found, unpriced) = adoptions(engine, broker_positions);
    let mut plan = AdoptionPlan::default();
    for key in unpriced {
        let why = match instrument_at(instruments, &key) {
            Some(_) => LeftOut::NoPrice,
            None => LeftOut::UnknownInstrument,
        };
        plan.left_out.push((key, why));
    }
    for a in found {
        let Some((spec, product)) = instrument_at(instruments, &a.key) else {
            plan.left_out.push((a.key, LeftOut::UnknownInstrument));
            continue;
        };
        let adoption = Adoption {
            account,
            instrument: spec.id,
            product,
            side: if a.qty > 0 { Side::Buy } else { Side::Sell },
            qty: Qty(a.qty.unsigned_abs()),
            price: Price(a.price),
        };
        plan.adopt.push((a, adoption));
    }
    plan.left_out.sort();
    plan
}

/// Compares `engine` (net quantity by position) with the broker's net positions and open
/// orders. `ours` says whether a broker order's tag is one Dalal gives its orders.
pub fn reconcile(
    engine: &BTreeMap<PositionKey, i64>,
    broker_positions: &[HeldPosition],
    broker_orders: &[BookOrder],
    ours: impl Fn(&str) -> bool,
    available_cash: Option<f64>,
) -> Reconciliation {
    let mut broker: BTreeMap<PositionKey, i64> = BTreeMap::new();
    for p in broker_positions {
        *broker.entry(p.key.clone()).or_default() += p.quantity;
    }
    let mut out = Reconciliation { available_cash, ..Reconciliation::default() };
    let keys: std::collections::BTreeSet<&PositionKey> = engine.keys().chain(broker.keys()).collect();
    for key in keys {
        let e = engine.get(key).copied().unwrap_or(0);
        let b = broker.get(key).copied().unwrap_or(0);
        if e == b {
            if e != 0 {
                out.agreeing += 1;
            }
        } else {
            out.differences.push(PositionDiff {
                exchange: key.0.clone(),
                symbol: key.1.clone(),
                product: key.2.clone(),
                engine: e,
                broker: b,
            });
        }
    }
    for o in broker_orders {
        if o.state.is_terminal() || o.state == OrderState::Unknown {
            continue;
        }
        if o.tags.iter().any(|t| ours(t)) {
            out.own_open_orders += 1;
        } else {
            out.outside_orders.push(OutsideOrder {
                order_id: o.order_id.clone(),
                exchange: o.exchange.clone(),
                symbol: o.symbol.clone(),
                side: o.side.clone(),
                quantity: o.quantity,
                pending_quantity: o.pending_quantity,
                status: o.status.clone(),
            });
        }
    }
    out
}

/// Whether a broker order's tag is one Dalal gives its orders ([`super::broker::tag_of`]).
pub fn is_dalal_tag(tag: &str) -> bool {
    tag.strip_prefix('D').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(symbol: &str, product: &str, qty: i64) -> KitePosition {
        serde_json::from_value(serde_json::json!({
            "tradingsymbol": symbol, "exchange": "NSE", "product": product, "quantity": qty
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn order(id: &str, tag: Option<&str>, status: &str) -> KiteOrder {
        serde_json::from_value(serde_json::json!({
            "order_id": id, "tag": tag, "status": status, "exchange": "NSE", "tradingsymbol": "INFY",
            "transaction_type": "BUY", "quantity": 5, "pending_quantity": 5
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn priced(symbol: &str, product: &str, qty: i64, average: f64, last: f64) -> KitePosition {
        serde_json::from_value(serde_json::json!({
            "tradingsymbol": symbol, "exchange": "NSE", "product": product, "quantity": qty,
            "average_price": average, "last_price": last
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_plan_books_known_instruments_and_reports_the_rest() {
        use dalal_core::model::{InstrumentId, PriceBand, Segment};
        let spec = |id: u32, symbol: &str| InstrumentSpec {
            id: InstrumentId(id),
            symbol: symbol.into(),
            segment: Segment::Equity,
            tick_size: Price(5),
            lot_size: Qty(1),
            band: PriceBand { lower: Price(1), upper: Price(i64::MAX) },
        };
        let instruments = [spec(0, "RELIANCE"), spec(1, "INFY")];
        let key = |s: &str, p: &str| ("NSE".to_string(), s.to_string(), p.to_string());
        assert_eq!(position_key(&instruments[1], Product::Cnc), key("INFY", "CNC"));
        assert_eq!(
            instrument_at(&instruments, &key("INFY", "CNC")).map(|(s, p)| (s.id, p)),
            Some((InstrumentId(1), Product::Cnc))
        );
        assert!(instrument_at(&instruments, &key("INFY", "MTF")).is_none());

        let engine = BTreeMap::from([(key("RELIANCE", "MIS"), 10)]);
        let broker = [
            priced("RELIANCE", "MIS", 4, 1420.5, 1421.0),
            priced("INFY", "CNC", 7, 0.0, 1500.25),
            priced("TATA", "CNC", 3, 900.0, 900.0),
            priced("INFY", "MIS", 2, 0.0, 0.0),
        ];
        let broker: Vec<HeldPosition> = broker.iter().map(HeldPosition::from).collect();
        let plan = plan_adoptions(&instruments, AccountId(3), &engine, &broker);
        let adopted: Vec<Adoption> = plan.adopt.iter().map(|(_, a)| *a).collect();
        assert_eq!(
            adopted,
            vec![
                Adoption {
                    account: AccountId(3),
                    instrument: InstrumentId(1),
                    product: Product::Cnc,
                    side: Side::Buy,
                    qty: Qty(7),
                    price: Price(150_025)
                },
                Adoption {
                    account: AccountId(3),
                    instrument: InstrumentId(0),
                    product: Product::Mis,
                    side: Side::Sell,
                    qty: Qty(6),
                    price: Price(142_050)
                },
            ]
        );
        assert_eq!(
            plan.left_out,
            vec![(key("INFY", "MIS"), LeftOut::NoPrice), (key("TATA", "CNC"), LeftOut::UnknownInstrument)]
        );
    }

    #[test]
    fn differences_both_ways_and_outside_orders() {
        let key = |s: &str, p: &str| ("NSE".to_string(), s.to_string(), p.to_string());
        let engine = BTreeMap::from([(key("RELIANCE", "MIS"), 50), (key("TCS", "MIS"), 20), (key("SBIN", "CNC"), 0)]);
        let broker = [position("RELIANCE", "MIS", 50), position("TCS", "MIS", -20), position("INFY", "CNC", 7)];
        let orders = [
            order("1", Some("D12"), "OPEN"),
            order("2", Some("manual"), "OPEN"),
            order("3", None, "TRIGGER PENDING"),
            order("4", None, "COMPLETE"),
        ];
        let broker: Vec<HeldPosition> = broker.iter().map(HeldPosition::from).collect();
        let orders: Vec<BookOrder> = orders.iter().map(BookOrder::from).collect();
        let r = reconcile(&engine, &broker, &orders, is_dalal_tag, Some(1000.0));
        assert!(!r.agrees());
        assert_eq!(r.agreeing, 1);
        let diffs: Vec<(&str, i64, i64)> =
            r.differences.iter().map(|d| (d.symbol.as_str(), d.engine, d.broker)).collect();
        assert_eq!(diffs, vec![("INFY", 0, 7), ("TCS", 20, -20)]);
        assert_eq!(r.own_open_orders, 1);
        let outside: Vec<&str> = r.outside_orders.iter().map(|o| o.order_id.as_str()).collect();
        assert_eq!(outside, vec!["2", "3"]);
        assert!(is_dalal_tag("D1") && !is_dalal_tag("D") && !is_dalal_tag("Dx1") && !is_dalal_tag("d1"));
    }

    #[test]
    fn angel_positions_and_orders_read_in_the_engines_words() {
        let p: AngelPosition = serde_json::from_value(serde_json::json!({
            "exchange": "NSE", "tradingsymbol": "SBIN-EQ", "producttype": "INTRADAY", "netqty": "-4",
            "buyavgprice": "0", "sellavgprice": "810.25", "ltp": "809"
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let held = HeldPosition::from(&p);
        assert_eq!(held.key, ("NSE".to_string(), "SBIN".to_string(), "MIS".to_string()));
        assert_eq!((held.quantity, held.average_price), (-4, 810.25));
        let fut: AngelPosition = serde_json::from_value(serde_json::json!({
            "exchange": "NFO", "tradingsymbol": "NIFTY26DEC25FUT", "producttype": "CARRYFORWARD", "netqty": 75
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(HeldPosition::from(&fut).key.1, "NIFTY26DEC25FUT", "derivatives keep Angel's symbol");
        assert_eq!(HeldPosition::from(&fut).key.2, "NRML");
        let o: AngelOrder = serde_json::from_value(serde_json::json!({
            "orderid": "250101000000001", "exchange": "NSE", "tradingsymbol": "SBIN-EQ", "status": "open",
            "ordertag": "D7", "quantity": "10", "unfilledshares": "10", "transactiontype": "BUY"
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let b = BookOrder::from(&o);
        assert_eq!(
            (b.symbol.as_str(), b.state, b.tags.as_slice()),
            ("SBIN", OrderState::Open, &["D7".to_string()][..])
        );
    }
}
