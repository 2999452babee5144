//! Deserializing helpers that make the wire models tolerant: brokers send `null` for many
//! fields they have no value for (Kite's `exchange_order_id` before the exchange acks, a `tag`
//! never set), and add fields over time. Unknown fields are ignored by serde's default;
//! these turn `null` or an absent field into the type's default instead of an error.

use serde::{Deserialize, Deserializer};

use crate::secret::Secret;

/// `null` or absent → `T::default()`.
pub fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A token the broker hands out, kept as a [`Secret`] from the moment it is parsed.
pub fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    Ok(Secret::new(Option::<String>::deserialize(d)?.unwrap_or_default()))
}

/// An optional token: `null`, absent or empty → `None`.
pub fn opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()).map(Secret::new))
}
