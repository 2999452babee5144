//! One-time codes for logins that need no browser (Angel One: client code + MPIN + TOTP).
//!
//! The code is RFC 6238 as the brokers' authenticator apps compute it: HMAC-SHA1, 6 digits, a
//! 30-second step, seeded with the base32 secret the broker shows as a QR code when TOTP is
//! enabled. The seed is kept in the vault like any other secret and is read only here.

use crate::secret::Secret;

/// Digits of a code.
pub const DIGITS: usize = 6;
/// Seconds one code is valid for.
pub const STEP_SECS: u64 = 30;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TotpError {
    /// The seed is not base32 (spaces and lowercase are accepted, as authenticator apps do).
    #[error("the TOTP seed is not a base32 secret")]
    NotBase32,
    #[error("the TOTP seed is empty")]
    Empty,
}

/// The seed's bytes: base32 without padding, spaces ignored, case-insensitive.
fn seed_bytes(seed: &Secret) -> Result<Vec<u8>, TotpError> {
    let cleaned: String =
        seed.expose().chars().filter(|c| !c.is_whitespace() && *c != '=').map(|c| c.to_ascii_uppercase()).collect();
    if cleaned.is_empty() {
        return Err(TotpError::Empty);
    }
    totp_rs::Secret::Encoded(cleaned).to_bytes().map_err(|_| TotpError::NotBase32)
}

fn totp(seed: &Secret) -> Result<totp_rs::TOTP, TotpError> {
    // `new_unchecked`: the broker picks the seed's length, and some issue seeds shorter than
    // the 128 bits `TOTP::new` insists on; the code is the same either way.
    Ok(totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, DIGITS, 1, STEP_SECS, seed_bytes(seed)?))
}

/// The code valid at `unix_secs`. A one-time credential, so it is a [`Secret`] too.
pub fn code_at(seed: &Secret, unix_secs: u64) -> Result<Secret, TotpError> {
    Ok(Secret::new(totp(seed)?.generate(unix_secs)))
}

/// Whether `code` is the code of `unix_secs` or of the step before or after it (one step of
/// clock skew either way, as servers allow).
pub fn accepts(seed: &Secret, code: &str, unix_secs: u64) -> Result<bool, TotpError> {
    Ok(totp(seed)?.check(code, unix_secs))
}

/// Seconds left before the code of `unix_secs` expires: a login started with fewer left than
/// the round trip may arrive with a stale code, so the caller can wait for the next one.
pub fn secs_left(unix_secs: u64) -> u64 {
    STEP_SECS - unix_secs % STEP_SECS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows, key "12345678901234567890", truncated to 6 digits.
    #[test]
    fn rfc_6238_vectors() {
        // base32 of "12345678901234567890".
        let seed = Secret::new("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        for (t, want) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code_at(&seed, t).expect("code").expose(), want, "t = {t}");
        }
    }

    #[test]
    fn seeds_as_apps_show_them_are_accepted() {
        let spaced = Secret::new("gezd gnbv gy3t qojq gezd gnbv gy3t qojq");
        assert_eq!(code_at(&spaced, 59).expect("code").expose(), "287082");
        assert!(accepts(&spaced, "287082", 59 + 30).expect("check"), "one step of skew");
        assert!(!accepts(&spaced, "287082", 59 + 90).expect("check"));
    }

    #[test]
    fn bad_seeds_are_errors() {
        assert_eq!(code_at(&Secret::new("not base32 !!"), 0).err(), Some(TotpError::NotBase32));
        assert_eq!(code_at(&Secret::new("  "), 0).err(), Some(TotpError::Empty));
    }

    #[test]
    fn secs_left_counts_down_the_step() {
        assert_eq!(secs_left(0), 30);
        assert_eq!(secs_left(29), 1);
        assert_eq!(secs_left(30), 30);
    }
}
