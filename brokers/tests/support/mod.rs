//! Shared by the tests that compare Dalal's decoders with the brokers' official clients.

use serde_json::Value;

/// Equal as JSON, numbers compared as numbers: the clients write a zero `change` as the integer
/// 0, and prices are the same IEEE divisions on both sides, so they must be equal exactly.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
