//! Place, modify and cancel (v2 and v3), and an order's history: the bodies checked as Upstox
//! checks them and the walk through Upstox's statuses.
//!
//! The documented codes are used where the docs give one (UDAPI1004/1056 order type,
//! UDAPI1007/1055 validity, UDAPI1009/1011/1087 instrument key, UDAPI1023/1010 order id,
//! UDAPI100010 order not found, UDAPI100040 cancel of a finished order). The fake's own
//! choices: any other bad field is 400 UDAPI100036 naming it in `propertyPath`; a modify of a
//! finished order is 400 UDAPI100041; products other than `I`, `D` and `MTF` (cover and OCO
//! orders) are refused as bad input; a tag is at most 40 characters; a sliced order above 25
//! slices is bad input. Numbers must be JSON numbers, as the SDK sends them.

use serde_json::{json, Value};

use super::book::{
    is_working, round2, FakeOrder, AMO_CANCELLED, AMO_MODIFY, AMO_RECEIVED, CANCELLED, CANCEL_PENDING, MODIFIED,
    MODIFY_PENDING, MODIFY_VALIDATION, OPEN, OPEN_PENDING, PUT_RECEIVED, TRIGGER_PENDING, VALIDATION_PENDING,
};
use super::routes::{error, invalid_input, success, success_v3, Reply, Version};
use super::State;

const PRODUCTS: &[&str] = &["I", "D", "MTF"];
const ORDER_TYPES: &[&str] = &["MARKET", "LIMIT", "SL", "SL-M"];
const VALIDITIES: &[&str] = &["DAY", "IOC"];
/// Upstox places at most this many slices of one order.
const MAX_SLICES: i64 = 25;
const MAX_TAG: usize = 40;

fn is_stop(order_type: &str) -> bool {
    matches!(order_type, "SL" | "SL-M")
}

fn is_market(order_type: &str) -> bool {
    matches!(order_type, "MARKET" | "SL-M")
}

fn text(body: &Value, name: &str) -> Option<String> {
    body.get(name).and_then(Value::as_str).map(str::to_string)
}

/// A number field; absent or `null` is `None`; anything but a finite, non-negative number is
/// bad input.
fn number(body: &Value, name: &str) -> Result<Option<f64>, Reply> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .map(|x| Some(round2(x)))
            .ok_or_else(|| invalid_input(name)),
    }
}

/// A whole, non-negative number field.
fn whole(body: &Value, name: &str) -> Result<Option<i64>, Reply> {
    match number(body, name)? {
        None => Ok(None),
        Some(x) if x.fract() == 0.0 && x < 1e12 => Ok(Some(x as i64)),
        Some(_) => Err(invalid_input(name)),
    }
}

fn flag(body: &Value, name: &str) -> Result<bool, Reply> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid_input(name)),
    }
}

/// `order_type`: UDAPI1004 when missing, UDAPI1056 when not one of Upstox's.
fn order_type(body: &Value) -> Result<String, Reply> {
    match text(body, "order_type") {
        None => Err(error(400, "UDAPI1004", "Valid order type is required", Some("order_type"), None)),
        Some(t) if ORDER_TYPES.contains(&t.as_str()) => Ok(t),
        Some(t) => Err(error(400, "UDAPI1056", "The 'order_type' is invalid", Some("order_type"), Some(&t))),
    }
}

/// `validity`: UDAPI1007 when missing, UDAPI1055 when not DAY or IOC.
fn validity(body: &Value) -> Result<String, Reply> {
    match text(body, "validity") {
        None => Err(error(400, "UDAPI1007", "Validity is required", Some("validity"), None)),
        Some(v) if VALIDITIES.contains(&v.as_str()) => Ok(v),
        Some(v) => Err(error(400, "UDAPI1055", "The 'validity' is invalid", Some("validity"), Some(&v))),
    }
}

/// Prices as the order type wants them: LIMIT and SL a price, SL and SL-M a trigger; a price
/// a MARKET or SL-M order does not use is dropped, as is a trigger a non-stop order does not.
fn prices(order_type: &str, price: Option<f64>, trigger: Option<f64>) -> Result<(f64, f64), Reply> {
    let price = price.unwrap_or(0.0);
    let trigger = trigger.unwrap_or(0.0);
    if !is_market(order_type) && price <= 0.0 {
        return Err(invalid_input("price"));
    }
    if is_stop(order_type) && trigger <= 0.0 {
        return Err(invalid_input("trigger_price"));
    }
    Ok((if is_market(order_type) { 0.0 } else { price }, if is_stop(order_type) { trigger } else { 0.0 }))
}

/// A new order from a place body, and whether it asks to be sliced.
fn parse(s: &mut State, user: &str, body: &Value, version: Version) -> Result<(FakeOrder, bool), Reply> {
    let Some(key) = text(body, "instrument_token").filter(|k| !k.is_empty()) else {
        return Err(error(400, "UDAPI1009", "instrument_key is required", Some("instrument_token"), None));
    };
    if key.split_once('|').is_none_or(|(seg, id)| seg.is_empty() || id.is_empty()) {
        return Err(error(400, "UDAPI1011", "Invalid instrument key format", Some("instrument_token"), Some(&key)));
    }
    let Some(instrument) = s.book.instrument(&key).cloned() else {
        return Err(error(400, "UDAPI1087", "Invalid Instrument key", Some("instrument_token"), Some(&key)));
    };
    let quantity = whole(body, "quantity")?.filter(|q| *q > 0).ok_or_else(|| invalid_input("quantity"))?;
    let product =
        text(body, "product").filter(|p| PRODUCTS.contains(&p.as_str())).ok_or_else(|| invalid_input("product"))?;
    let validity = validity(body)?;
    let order_type = order_type(body)?;
    let side = text(body, "transaction_type")
        .filter(|t| t == "BUY" || t == "SELL")
        .ok_or_else(|| invalid_input("transaction_type"))?;
    if body.get("price").is_none_or(Value::is_null) {
        return Err(invalid_input("price"));
    }
    let (price, trigger_price) = prices(&order_type, number(body, "price")?, number(body, "trigger_price")?)?;
    let disclosed_quantity = whole(body, "disclosed_quantity")?.unwrap_or(0);
    if disclosed_quantity > quantity {
        return Err(invalid_input("disclosed_quantity"));
    }
    let tag = text(body, "tag").filter(|t| !t.is_empty());
    if tag.as_ref().is_some_and(|t| t.chars().count() > MAX_TAG) {
        return Err(invalid_input("tag"));
    }
    let is_amo = flag(body, "is_amo")?;
    let slice = version == Version::V3 && flag(body, "slice")?;
    if version == Version::V3 {
        // A percentage, or -1 for Upstox's automatic protection; otherwise unused here.
        match body.get("market_protection") {
            None | Some(Value::Null) => {}
            Some(v) if v.as_f64().is_some_and(|x| x == -1.0 || (0.0..=100.0).contains(&x)) => {}
            Some(_) => return Err(invalid_input("market_protection")),
        }
    }
    let order = FakeOrder {
        user_id: user.to_string(),
        key,
        exchange: super::book::exchange_of(&instrument.segment).to_string(),
        trading_symbol: instrument.trading_symbol,
        product,
        validity,
        order_type,
        transaction_type: side,
        quantity,
        disclosed_quantity,
        price,
        trigger_price,
        tag,
        is_amo,
        request_id: 1,
        ..FakeOrder::default()
    };
    Ok((order, slice))
}

pub(super) fn place(s: &mut State, user: &str, body: &Value, version: Version) -> Reply {
    let (order, slice) = match parse(s, user, body, version) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let freeze = s.book.instrument(&order.key).and_then(|i| i.freeze_quantity).filter(|f| *f > 0);
    let quantities = match freeze {
        Some(f) if slice && order.quantity > f => {
            let n = (order.quantity + f - 1) / f;
            if n > MAX_SLICES {
                return error(400, "UDAPI100036", "Slicing would need more than 25 orders", Some("quantity"), None);
            }
            (0..n).map(|k| f.min(order.quantity - k * f)).collect()
        }
        _ => vec![order.quantity],
    };
    let mut ids = Vec::new();
    for quantity in quantities {
        let mut o = order.clone();
        o.quantity = quantity;
        o.disclosed_quantity = o.disclosed_quantity.min(quantity);
        ids.push(accept(s, o));
    }
    match version {
        Version::V2 => success(json!({"order_id": ids.first()})),
        Version::V3 => success_v3(json!({"order_ids": ids})),
    }
}

/// Walks a new order through Upstox's statuses: received and validated; then rejected by the
/// RMS (scripted, or for want of funds) with the reason in `status_message`; or received as an
/// AMO; or `open pending` on its way to the exchange, then `trigger pending` for a stop-loss or
/// `open` — where a MARKET or marketable IOC order fills at the last price when auto-fill is
/// on, and an IOC's remainder is cancelled. Its order id.
fn accept(s: &mut State, mut order: FakeOrder) -> String {
    order.order_id = s.book.new_order_id();
    order.order_timestamp = s.book.stamp();
    let id = order.order_id.clone();
    let shortfall = s.book.margin_shortfall(&order);
    let (amo, stop) = (order.is_amo, is_stop(&order.order_type));
    s.book.orders.push(order);
    let i = s.book.orders.len() - 1;
    s.book.record(i, PUT_RECEIVED);
    s.book.record(i, VALIDATION_PENDING);
    let rejection = s.reject_next.pop_front().or_else(|| {
        shortfall.map(|(required, available)| {
            format!(
                "Insufficient funds. Required margin is {required:.2} but available margin is {available:.2}. \
                 Please add funds to proceed."
            )
        })
    });
    if let Some(reason) = rejection {
        let _ = s.book.reject(i, &reason);
        return id;
    }
    if amo {
        s.book.record(i, AMO_RECEIVED);
        return id;
    }
    s.book.record(i, OPEN_PENDING);
    s.book.at_exchange(i);
    if stop {
        s.book.record(i, TRIGGER_PENDING);
        return id;
    }
    s.book.record(i, OPEN);
    fill_if_marketable(s, i);
    id
}

/// Auto-fill: a MARKET order (or a triggered SL-M), or an IOC limit that crosses the last
/// price, fills at once; an IOC's remainder is then cancelled.
pub(super) fn fill_if_marketable(s: &mut State, i: usize) {
    let Some(o) = s.book.orders.get(i).cloned() else { return };
    if o.status != OPEN {
        return;
    }
    let ltp = s.book.instrument(&o.key).map(|x| x.ltp).unwrap_or(0.0);
    let ioc = o.validity == "IOC";
    let crosses = (o.transaction_type == "BUY" && o.price >= ltp) || (o.transaction_type == "SELL" && o.price <= ltp);
    if s.auto_fill && ltp > 0.0 && (is_market(&o.order_type) || (ioc && crosses)) {
        let _ = s.book.fill(i, o.pending(), ltp);
    }
    if ioc && s.book.orders.get(i).is_some_and(|o| is_working(&o.status)) {
        let _ = s.book.cancel(i);
    }
}

/// The caller's order named `order_id`.
pub(super) fn own_order(s: &State, user: &str, order_id: Option<&str>) -> Result<usize, Reply> {
    let Some(id) = order_id.filter(|id| !id.is_empty()) else {
        return Err(error(400, "UDAPI1023", "Order id is required", Some("order_id"), None));
    };
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(error(
            400,
            "UDAPI1010",
            "Order id accepts only alphanumeric characters and '-'.",
            Some("order_id"),
            Some(id),
        ));
    }
    s.book
        .order_index(id)
        .filter(|&i| s.book.orders.get(i).is_some_and(|o| o.user_id == user))
        .ok_or_else(|| error(400, "UDAPI100010", "Order not found", Some("order_id"), Some(id)))
}

fn id_reply(version: Version, order_id: &str) -> Reply {
    match version {
        Version::V2 => success(json!({"order_id": order_id})),
        Version::V3 => success_v3(json!({"order_id": order_id})),
    }
}

/// The order as a modify body changes it (fields it leaves out stay as they are).
fn changed(o: &FakeOrder, body: &Value) -> Result<FakeOrder, Reply> {
    let order_type = order_type(body)?;
    let validity = validity(body)?;
    if body.get("price").is_none_or(Value::is_null) {
        return Err(invalid_input("price"));
    }
    if is_stop(&order_type) != is_stop(&o.order_type) {
        return Err(invalid_input("order_type"));
    }
    let trigger = number(body, "trigger_price")?.or(Some(o.trigger_price)).filter(|t| *t > 0.0);
    let (price, trigger_price) = prices(&order_type, number(body, "price")?, trigger)?;
    let quantity = whole(body, "quantity")?.unwrap_or(o.quantity);
    if quantity <= o.filled || quantity == 0 {
        return Err(invalid_input("quantity"));
    }
    let disclosed_quantity = whole(body, "disclosed_quantity")?.unwrap_or(o.disclosed_quantity);
    if disclosed_quantity > quantity {
        return Err(invalid_input("disclosed_quantity"));
    }
    Ok(FakeOrder {
        order_type,
        validity,
        price,
        trigger_price,
        quantity,
        disclosed_quantity,
        request_id: o.request_id + 1,
        ..o.clone()
    })
}

/// Walks a change through `modify validation pending`, `modify pending` and `modified` back to
/// where the order was (an AMO: `modify after market order req received`, then received
/// again); a MARKET or marketable IOC order may then fill.
pub(super) fn modify(s: &mut State, user: &str, body: &Value, version: Version) -> Reply {
    let i = match own_order(s, user, body.get("order_id").and_then(Value::as_str)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Some(o) = s.book.orders.get(i).cloned() else {
        return error(400, "UDAPI100010", "Order not found", None, None);
    };
    if !is_working(&o.status) {
        return error(
            400,
            "UDAPI100041",
            "Modify of already cancelled/rejected/completed order is not allowed",
            None,
            None,
        );
    }
    let m = match changed(&o, body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let amo = o.status == AMO_RECEIVED;
    if amo {
        s.book.record(i, AMO_MODIFY);
    } else {
        s.book.record(i, MODIFY_VALIDATION);
        s.book.record(i, MODIFY_PENDING);
    }
    if let Some(slot) = s.book.orders.get_mut(i) {
        *slot = FakeOrder { status: slot.status.clone(), exchange_timestamp: slot.exchange_timestamp.clone(), ..m };
    }
    if !amo {
        s.book.record(i, MODIFIED);
    }
    s.book.record(i, &o.status);
    fill_if_marketable(s, i);
    id_reply(version, &o.order_id)
}

/// `cancel pending`, then `cancelled` (`cancelled after market order` for an AMO).
pub(super) fn cancel(s: &mut State, user: &str, order_id: Option<&str>, version: Version) -> Reply {
    let i = match own_order(s, user, order_id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Some(o) = s.book.orders.get(i).cloned() else {
        return error(400, "UDAPI100010", "Order not found", None, None);
    };
    if !is_working(&o.status) {
        return error(
            400,
            "UDAPI100040",
            "Cancel of already cancelled/rejected/completed order is not allowed",
            None,
            None,
        );
    }
    s.book.record(i, CANCEL_PENDING);
    s.book.record(i, if o.status == AMO_RECEIVED { AMO_CANCELLED } else { CANCELLED });
    id_reply(version, &o.order_id)
}

/// `/v2/order/history`: every state of the order named, or of the caller's orders with `tag`,
/// oldest first.
pub(super) fn history(s: &State, user: &str, order_id: Option<&str>, tag: Option<&str>) -> Reply {
    let ids: Vec<String> = match (order_id, tag) {
        (None, Some(tag)) => {
            s.book.orders_of(user).filter(|o| o.tag.as_deref() == Some(tag)).map(|o| o.order_id.clone()).collect()
        }
        _ => match own_order(s, user, order_id) {
            Ok(i) => s.book.orders.get(i).map(|o| vec![o.order_id.clone()]).unwrap_or_default(),
            Err(r) => return r,
        },
    };
    let states = s.book.history.iter().filter(|(id, _)| ids.contains(id)).map(|(_, v)| v.clone()).collect();
    success(Value::Array(states))
}
