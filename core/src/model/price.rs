//! Fixed-point money. Orders never carry floats: a price is an integer count of paise, so
//! tick-grid checks, P&L and charges are exact and deterministic across machines.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Paise per rupee.
pub const PAISE_PER_RUPEE: i64 = 100;

/// A price in paise (₹1 = 100). NSE's finest tick is ₹0.01, so paise are exact for every
/// instrument it lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Price(pub i64);

/// Why a textual or floating price could not become a [`Price`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceParseError {
    #[error("empty price")]
    Empty,
    #[error("not a decimal number: {0:?}")]
    NotANumber(String),
    #[error("more than 2 decimal places: {0:?}")]
    TooPrecise(String),
    #[error("price out of range: {0:?}")]
    OutOfRange(String),
}

impl Price {
    pub const ZERO: Price = Price(0);

    #[inline]
    pub const fn from_paise(paise: i64) -> Self {
        Price(paise)
    }

    #[inline]
    pub const fn paise(self) -> i64 {
        self.0
    }

    /// Rupees as a float, for display and indicator input only.
    #[inline]
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / PAISE_PER_RUPEE as f64
    }

    /// Rounds a rupee amount to the nearest paisa; `None` for NaN, infinities and values that
    /// do not fit. Used for config values, never for feed data (which is parsed exactly).
    pub fn from_rupees_f64(rupees: f64) -> Option<Self> {
        if !rupees.is_finite() {
            return None;
        }
        let p = (rupees * PAISE_PER_RUPEE as f64).round();
        if p.abs() >= 9.0e15 {
            return None;
        }
        Some(Price(p as i64))
    }

    /// A rupee amount that lands on a paisa (`2450.05`, not `0.001`), to within the precision
    /// of an f64: JSON and TOML numbers arrive as binary floats, so `0.07` may be
    /// `0.07000000000000001`, which is a paisa; `100.001` is a tenth of one off, and refused.
    pub fn from_rupees_exact(rupees: f64) -> Option<Self> {
        let p = Self::from_rupees_f64(rupees)?;
        let off = (rupees * PAISE_PER_RUPEE as f64 - p.0 as f64).abs();
        (off <= 1e-6 + (p.0 as f64).abs() * 1e-12).then_some(p)
    }

    /// Parses a rupee decimal such as `2450.05` exactly (no float round trip), so a feed
    /// price either lands on a paisa or is refused.
    pub fn parse_rupees(s: &str) -> Result<Self, PriceParseError> {
        parse_rupees_bytes(s.as_bytes()).map_err(|e| match e {
            ParseFault::Empty => PriceParseError::Empty,
            ParseFault::Syntax => PriceParseError::NotANumber(s.to_string()),
            ParseFault::Precision => PriceParseError::TooPrecise(s.to_string()),
            ParseFault::Range => PriceParseError::OutOfRange(s.to_string()),
        })
    }

    #[inline]
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// True when this price is a whole multiple of `tick`.
    #[inline]
    pub fn on_grid(self, tick: Price) -> bool {
        tick.0 > 0 && self.0 % tick.0 == 0
    }

    /// Rounds down to the tick grid (buyers' side of a fat finger).
    #[inline]
    pub fn floor_to(self, tick: Price) -> Price {
        if tick.0 <= 0 {
            return self;
        }
        Price(self.0.div_euclid(tick.0) * tick.0)
    }
}

/// Allocation-free parse fault, for the feed's hot loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ParseFault {
    Empty,
    Syntax,
    Precision,
    Range,
}

/// Parses `[-]digits[.d[d]]` into paise without allocating.
pub fn parse_rupees_bytes(b: &[u8]) -> Result<Price, ParseFault> {
    if b.is_empty() {
        return Err(ParseFault::Empty);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() {
        return Err(ParseFault::Syntax);
    }
    let mut int: i64 = 0;
    let mut i = 0;
    let mut seen_digit = false;
    while i < digits.len() && digits[i].is_ascii_digit() {
        int = int.checked_mul(10).and_then(|v| v.checked_add((digits[i] - b'0') as i64)).ok_or(ParseFault::Range)?;
        seen_digit = true;
        i += 1;
    }
    let mut frac: i64 = 0;
    if i < digits.len() {
        if digits[i] != b'.' {
            return Err(ParseFault::Syntax);
        }
        i += 1;
        let mut places = 0;
        while i < digits.len() && digits[i].is_ascii_digit() {
            if places == 2 {
                // Trailing zeros beyond paise are harmless ("12.500"); anything else is not.
                if digits[i] != b'0' {
                    return Err(ParseFault::Precision);
                }
            } else {
                frac = frac * 10 + (digits[i] - b'0') as i64;
                places += 1;
            }
            seen_digit = true;
            i += 1;
        }
        if i != digits.len() {
            return Err(ParseFault::Syntax);
        }
        while places < 2 {
            frac *= 10;
            places += 1;
        }
    }
    if !seen_digit {
        return Err(ParseFault::Syntax);
    }
    let paise = int.checked_mul(PAISE_PER_RUPEE).and_then(|v| v.checked_add(frac)).ok_or(ParseFault::Range)?;
    Ok(Price(if neg { -paise } else { paise }))
}

impl fmt::Display for Price {
    /// Rupees with exactly two decimals, so values round-trip through CSV.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", a / 100, a % 100)
    }
}

/// A rupee amount in paise that may exceed any single price: notional, P&L, cash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(pub i64);

impl Money {
    pub const ZERO: Money = Money(0);

    #[inline]
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / PAISE_PER_RUPEE as f64
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    #[inline]
    fn add(self, o: Money) -> Money {
        Money(self.0.saturating_add(o.0))
    }
}

impl std::ops::AddAssign for Money {
    #[inline]
    fn add_assign(&mut self, o: Money) {
        self.0 = self.0.saturating_add(o.0);
    }
}

impl std::ops::Sub for Money {
    type Output = Money;
    #[inline]
    fn sub(self, o: Money) -> Money {
        Money(self.0.saturating_sub(o.0))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Price(self.0), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_rupees() {
        assert_eq!(Price::parse_rupees("2450.05").unwrap(), Price(245005));
        assert_eq!(Price::parse_rupees("12").unwrap(), Price(1200));
        assert_eq!(Price::parse_rupees("12.5").unwrap(), Price(1250));
        assert_eq!(Price::parse_rupees("12.500").unwrap(), Price(1250));
        assert_eq!(Price::parse_rupees("-3.10").unwrap(), Price(-310));
        assert_eq!(Price::parse_rupees(".5").unwrap(), Price(50));
    }

    #[test]
    fn refuses_garbage() {
        assert_eq!(Price::parse_rupees(""), Err(PriceParseError::Empty));
        assert!(matches!(Price::parse_rupees("NaN"), Err(PriceParseError::NotANumber(_))));
        assert!(matches!(Price::parse_rupees("1.2.3"), Err(PriceParseError::NotANumber(_))));
        assert!(matches!(Price::parse_rupees("1.234"), Err(PriceParseError::TooPrecise(_))));
        assert!(matches!(Price::parse_rupees("."), Err(PriceParseError::NotANumber(_))));
        assert!(matches!(Price::parse_rupees("-"), Err(PriceParseError::NotANumber(_))));
        assert!(matches!(Price::parse_rupees("99999999999999999999"), Err(PriceParseError::OutOfRange(_))));
    }

    #[test]
    fn displays_round_trip() {
        for p in [0, 1, 5, 99, 100, 245005, -310] {
            let s = Price(p).to_string();
            assert_eq!(Price::parse_rupees(&s).unwrap(), Price(p), "{s}");
        }
    }

    #[test]
    fn tick_grid() {
        let tick = Price(5);
        assert!(Price(245005).on_grid(tick));
        assert!(!Price(245003).on_grid(tick));
        assert_eq!(Price(245003).floor_to(tick), Price(245000));
        assert!(!Price(100).on_grid(Price(0)));
    }
}
