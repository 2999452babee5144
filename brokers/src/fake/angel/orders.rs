//! `placeOrder`, `modifyOrder` and `cancelOrder`: the bodies checked as Angel checks them
//! (numbers as numbers or numeric strings, the documented varieties, order types, products
//! and durations, `ordertag` under 20 characters) and the walk through Angel's statuses.
//!
//! Input errors without a documented code of their own (a bad side, order type, duration,
//! quantity or price) get AB2000 ("error not specified") with a message naming the field.

use serde_json::{json, Value};

use super::book::{
    is_working, round2, FakeOrder, AMO_MODIFY_RECEIVED, AMO_RECEIVED, MODIFIED, MODIFY_PENDING, OPEN, OPEN_PENDING,
    TRIGGER_PENDING,
};
use super::routes::{business, number_field, success, text_field, Reply};
use super::State;

const EXCHANGES: &[&str] = &["NSE", "BSE", "NFO", "BFO", "MCX", "CDS"];
const ORDER_TYPES: &[&str] = &["MARKET", "LIMIT", "STOPLOSS_LIMIT", "STOPLOSS_MARKET"];
const PRODUCTS: &[&str] = &["DELIVERY", "INTRADAY", "CARRYFORWARD", "MARGIN"];
const DURATIONS: &[&str] = &["DAY", "IOC"];

fn input(message: &str) -> Reply {
    business("AB2000", message)
}

/// A field that must be one of `allowed`; `code` is the error's.
fn one_of(body: &Value, name: &str, allowed: &[&str], code: &str, message: &str) -> Result<String, Reply> {
    match text_field(body, name) {
        Some(v) if allowed.contains(&v.as_str()) => Ok(v),
        _ => Err(business(code, message)),
    }
}

fn price(body: &Value, name: &str) -> Result<Option<f64>, Reply> {
    match number_field(body, name).map_err(|m| input(&m))? {
        Some(p) if p < 0.0 => Err(input(&format!("Invalid {name}"))),
        p => Ok(p.map(round2)),
    }
}

/// A whole, positive quantity.
fn quantity(body: &Value, name: &str) -> Result<Option<i64>, Reply> {
    match number_field(body, name).map_err(|m| input(&m))? {
        None => Ok(None),
        Some(q) if q.fract() == 0.0 && q > 0.0 && q < 1e12 => Ok(Some(q as i64)),
        Some(_) => Err(input(&format!("Invalid {name}"))),
    }
}

fn is_stop(ordertype: &str) -> bool {
    ordertype.starts_with("STOPLOSS_")
}

pub(super) fn place(s: &mut State, user: &str, body: &Value) -> Reply {
    match parse(s, user, body) {
        Ok(order) => accept(s, order),
        Err(r) => r,
    }
}

fn parse(s: &mut State, user: &str, body: &Value) -> Result<FakeOrder, Reply> {
    let variety = text_field(body, "variety").unwrap_or_default();
    match variety.as_str() {
        "NORMAL" | "STOPLOSS" | "AMO" => {}
        "ROBO" => return Err(business("AB2002", "ROBO order is blocked")),
        _ => return Err(business("AB1008", "Invalid Order Variety")),
    }
    let ordertag = text_field(body, "ordertag").unwrap_or_default();
    if ordertag.chars().count() >= 20 {
        return Err(business("AB4008", "ordertag length should be less than 20 characters"));
    }
    let exchange = one_of(body, "exchange", EXCHANGES, "AB2000", "Invalid exchange")?;
    let tradingsymbol = text_field(body, "tradingsymbol").unwrap_or_default();
    let symboltoken = text_field(body, "symboltoken").unwrap_or_default();
    if s.book.instrument(&exchange, &symboltoken).is_none_or(|i| i.tradingsymbol != tradingsymbol) {
        return Err(business("AB1009", "Symbol not found"));
    }
    let transactiontype = one_of(body, "transactiontype", &["BUY", "SELL"], "AB2000", "Invalid transactiontype")?;
    let ordertype = one_of(body, "ordertype", ORDER_TYPES, "AB2000", "Invalid ordertype")?;
    let producttype = one_of(body, "producttype", PRODUCTS, "AB1012", "Invalid Product Type")?;
    let duration = match body.get("duration") {
        None => "DAY".to_string(),
        Some(_) => one_of(body, "duration", DURATIONS, "AB2000", "Invalid duration")?,
    };
    // Stop-loss orders go with the STOPLOSS variety (or as AMOs), and only they do.
    if (variety == "STOPLOSS") != is_stop(&ordertype) && !(variety == "AMO" && is_stop(&ordertype)) {
        return Err(business("AB1008", "Invalid Order Variety"));
    }
    let qty = quantity(body, "quantity")?.ok_or_else(|| input("Invalid quantity"))?;
    let limit = price(body, "price")?.unwrap_or(0.0);
    let trigger = price(body, "triggerprice")?.unwrap_or(0.0);
    if matches!(ordertype.as_str(), "LIMIT" | "STOPLOSS_LIMIT") && limit <= 0.0 {
        return Err(input("Invalid price"));
    }
    if is_stop(&ordertype) && trigger <= 0.0 {
        return Err(input("Invalid trigger price"));
    }
    let (orderid, uniqueorderid) = s.book.new_order_ids();
    Ok(FakeOrder {
        client_code: user.to_string(),
        orderid,
        uniqueorderid,
        variety,
        price: if matches!(ordertype.as_str(), "LIMIT" | "STOPLOSS_LIMIT") { limit } else { 0.0 },
        triggerprice: if is_stop(&ordertype) { trigger } else { 0.0 },
        ordertype,
        producttype,
        duration,
        exchange,
        tradingsymbol,
        symboltoken,
        transactiontype,
        quantity: qty,
        disclosedquantity: quantity(body, "disclosedquantity")?.unwrap_or(0),
        squareoff: price(body, "squareoff")?.unwrap_or(0.0),
        stoploss: price(body, "stoploss")?.unwrap_or(0.0),
        ordertag,
        ..FakeOrder::default()
    })
}

/// Walks a new order through Angel's statuses: rejected by the RMS (scripted, or for want of
/// margin) with the reason in `text`; received as an AMO; or `open pending` at the exchange,
/// then `trigger pending` for a stop-loss or `open` — where a MARKET or marketable IOC order
/// fills at the last price when auto-fill is on, and an IOC's remainder is cancelled.
fn accept(s: &mut State, order: FakeOrder) -> Reply {
    let data = json!({"script": order.tradingsymbol, "orderid": order.orderid, "uniqueorderid": order.uniqueorderid});
    let shortfall = s.book.margin_shortfall(&order);
    let (amo, stop) = (order.variety == "AMO", is_stop(&order.ordertype));
    s.book.orders.push(order);
    let i = s.book.orders.len() - 1;
    let rejection = s.reject_next.pop_front().or_else(|| {
        shortfall.map(|(required, available)| {
            format!(
                "Your order has been rejected due to Insufficient Funds. Available funds - Rs. {available:.2} . \
                 You require Rs. {required:.2} funds to execute this order."
            )
        })
    });
    if let Some(reason) = rejection {
        let _ = s.book.reject(i, &reason);
        return success(data);
    }
    if amo {
        s.book.record(i, AMO_RECEIVED);
        return success(data);
    }
    s.book.record(i, OPEN_PENDING);
    s.book.at_exchange(i);
    if stop {
        s.book.record(i, TRIGGER_PENDING);
        return success(data);
    }
    s.book.record(i, OPEN);
    fill_if_marketable(s, i);
    success(data)
}

/// Auto-fill: a MARKET order, or an IOC limit that crosses the last price, fills at once; an
/// IOC's remainder is then cancelled.
fn fill_if_marketable(s: &mut State, i: usize) {
    let Some(o) = s.book.orders.get(i).cloned() else { return };
    if o.status != OPEN {
        return;
    }
    let ltp = s.book.instrument(&o.exchange, &o.symboltoken).map(|x| x.ltp).unwrap_or(0.0);
    let ioc = o.duration == "IOC";
    let crosses = (o.transactiontype == "BUY" && o.price >= ltp) || (o.transactiontype == "SELL" && o.price <= ltp);
    if s.auto_fill && ltp > 0.0 && (o.ordertype == "MARKET" || (ioc && crosses)) {
        let _ = s.book.fill(i, o.pending(), ltp);
    }
    if ioc && s.book.orders.get(i).is_some_and(|o| is_working(&o.status)) {
        let _ = s.book.cancel(i);
    }
}

/// The caller's order named by the body's `orderid`, whose variety must be the body's.
fn own_order(s: &State, user: &str, body: &Value) -> Result<usize, Reply> {
    let orderid = text_field(body, "orderid").unwrap_or_default();
    let i = s
        .book
        .order_index(&orderid)
        .filter(|&i| s.book.orders.get(i).is_some_and(|o| o.client_code == user))
        .ok_or_else(|| business("AB1013", "Order not found"))?;
    if s.book.orders.get(i).is_none_or(|o| text_field(body, "variety").as_deref() != Some(o.variety.as_str())) {
        return Err(business("AB1008", "Invalid Order Variety"));
    }
    Ok(i)
}

fn ids(o: Option<&FakeOrder>) -> Value {
    o.map_or(Value::Null, |o| json!({"orderid": o.orderid, "uniqueorderid": o.uniqueorderid}))
}

pub(super) fn modify(s: &mut State, user: &str, body: &Value) -> Reply {
    let i = match own_order(s, user, body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Some(o) = s.book.orders.get(i).cloned() else { return business("AB1013", "Order not found") };
    if !is_working(&o.status) {
        return input(&format!("Order cannot be modified as it is {}", o.status));
    }
    let change = (|| -> Result<FakeOrder, Reply> {
        let mut m = o.clone();
        for (field, current) in [("exchange", &o.exchange), ("symboltoken", &o.symboltoken)] {
            if text_field(body, field).is_some_and(|v| v != *current) {
                return Err(business("AB1009", "Symbol not found"));
            }
        }
        if body.get("ordertype").is_some() {
            m.ordertype = one_of(body, "ordertype", ORDER_TYPES, "AB2000", "Invalid ordertype")?;
        }
        if body.get("producttype").is_some() {
            m.producttype = one_of(body, "producttype", PRODUCTS, "AB1012", "Invalid Product Type")?;
        }
        if body.get("duration").is_some() {
            m.duration = one_of(body, "duration", DURATIONS, "AB2000", "Invalid duration")?;
        }
        if is_stop(&m.ordertype) != is_stop(&o.ordertype) {
            return Err(business("AB1008", "Invalid Order Variety"));
        }
        m.quantity = quantity(body, "quantity")?.unwrap_or(o.quantity);
        if m.quantity <= o.filled {
            return Err(input("Invalid quantity: not above what is filled"));
        }
        m.price = price(body, "price")?.unwrap_or(o.price);
        m.triggerprice = price(body, "triggerprice")?.unwrap_or(o.triggerprice);
        if m.ordertype == "MARKET" || m.ordertype == "STOPLOSS_MARKET" {
            m.price = 0.0;
        } else if m.price <= 0.0 {
            return Err(input("Invalid price"));
        }
        Ok(m)
    })();
    let m = match change {
        Ok(m) => m,
        Err(r) => return r,
    };
    let amo = o.status == AMO_RECEIVED;
    s.book.record(i, if amo { AMO_MODIFY_RECEIVED } else { MODIFY_PENDING });
    if let Some(slot) = s.book.orders.get_mut(i) {
        *slot = FakeOrder { status: slot.status.clone(), updatetime: slot.updatetime.clone(), ..m };
    }
    if !amo {
        s.book.record(i, MODIFIED);
    }
    // Back to where it was: waiting as an AMO, for its trigger, or open at the exchange.
    s.book.record(i, &o.status);
    fill_if_marketable(s, i);
    success(ids(s.book.orders.get(i)))
}

pub(super) fn cancel(s: &mut State, user: &str, body: &Value) -> Reply {
    let i = match own_order(s, user, body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match s.book.cancel(i) {
        Ok(()) => success(ids(s.book.orders.get(i))),
        Err(message) => input(&message),
    }
}
