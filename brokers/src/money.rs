//! Rupees as the brokers' REST APIs send them (`f64`) and paise as Dalal counts them (`i64`).
//!
//! The wire models keep a broker's numbers as it sent them, so nothing is lost or rounded
//! on the way in; whatever enters the core goes through [`rupees_to_paise`] once, at the
//! edge, where a NaN or an infinity is refused instead of becoming a price.

/// Why an amount of rupees has no paise value.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum MoneyError {
    #[error("{0} is not a finite amount of rupees")]
    NotFinite(f64),
    #[error("{0} rupees is beyond the range kept exactly in paise")]
    OutOfRange(f64),
}

/// The largest number of paise an `f64` holds exactly (2^53): beyond it, neighbouring paise
/// values are no longer distinct doubles.
const MAX_EXACT_PAISE: f64 = 9_007_199_254_740_992.0;

/// Rupees to the nearest paisa (halves away from zero). A broker's decimal such as
/// `1500.55` arrives as the nearest double, a hair above or below; times 100 it is within one
/// unit in the last place of the intended integer, so rounding recovers the paise exactly.
pub fn rupees_to_paise(rupees: f64) -> Result<i64, MoneyError> {
    if !rupees.is_finite() {
        return Err(MoneyError::NotFinite(rupees));
    }
    let paise = (rupees * 100.0).round();
    if paise.abs() > MAX_EXACT_PAISE {
        return Err(MoneyError::OutOfRange(rupees));
    }
    // In range and integral: the cast is exact.
    Ok(paise as i64)
}

/// Paise to rupees, for a request a broker wants in rupees. The quotient of an integer by 100
/// is correctly rounded, so it prints as the intended decimal (150055 → `1500.55`).
pub fn paise_to_rupees(paise: i64) -> f64 {
    paise as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_the_nearest_paisa_and_refuses_what_is_not_money() {
        assert_eq!(rupees_to_paise(1500.55), Ok(150055));
        assert_eq!(rupees_to_paise(0.1 + 0.2), Ok(30));
        assert_eq!(rupees_to_paise(-12.345), Ok(-1235), "the double below -12.345 times 100 still rounds to it");
        assert_eq!(rupees_to_paise(0.004), Ok(0));
        assert_eq!(rupees_to_paise(0.005), Ok(1), "half a paisa rounds away from zero");
        assert_eq!(rupees_to_paise(-0.0), Ok(0));
        assert!(matches!(rupees_to_paise(f64::NAN), Err(MoneyError::NotFinite(_))));
        assert!(matches!(rupees_to_paise(f64::INFINITY), Err(MoneyError::NotFinite(_))));
        assert!(matches!(rupees_to_paise(1e300), Err(MoneyError::OutOfRange(_))));
        assert_eq!(paise_to_rupees(150055).to_string(), "1500.55");
        for p in [-100_000_007_i64, -1, 0, 1, 5, 99, 150055, 12_345_678_901] {
            assert_eq!(rupees_to_paise(paise_to_rupees(p)), Ok(p));
        }
    }
}
