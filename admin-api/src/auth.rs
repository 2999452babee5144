//! Credentials: argon2id password hashes, HS256 access tokens, opaque refresh tokens and API
//! keys, TOTP codes.
//!
//! Access tokens are JWTs signed with HMAC-SHA256 under a random per-process key (so a restart
//! logs everyone out). Verification accepts exactly `alg: HS256`, so `none` and any other
//! algorithm are refused before the signature is looked at; the signature is compared in
//! constant time; `aud` must be [`AUDIENCE`] and `exp` in the future. The role is re-read from
//! the user record on every request, so a disabled user or a changed role takes effect before
//! the token expires. Refresh tokens and API keys are 256-bit random strings; only their
//! SHA-256 is kept.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const AUDIENCE: &str = "dalal-admin";
pub const ISSUER: &str = "dalal";

/// Argon2id (the crate's default algorithm) with a random salt, in PHC string form.
pub fn hash_password(pw: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(pw.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

pub fn verify_password(pw: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default().verify_password(pw.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// `n` random bytes, URL-safe base64.
pub fn random_token(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

pub fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    Algorithm,
    Signature,
    Audience,
    Expired,
}

pub fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("hmac takes any key length"))
}

/// Signs claims as an HS256 JWT.
pub fn sign(key: &[u8], claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let input = format!("{header}.{payload}");
    let mut m = mac(key);
    m.update(input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{input}.{sig}")
}

/// Verifies an HS256 JWT: algorithm, signature, audience, expiry.
pub fn verify(key: &[u8], token: &str, now: i64) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|_| TokenError::Malformed)?)
            .map_err(|_| TokenError::Malformed)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(TokenError::Algorithm);
    }
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenError::Signature)?;
    let mut m = mac(key);
    m.update(h.as_bytes());
    m.update(b".");
    m.update(p.as_bytes());
    m.verify_slice(&sig).map_err(|_| TokenError::Signature)?;
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).map_err(|_| TokenError::Malformed)?)
        .map_err(|_| TokenError::Malformed)?;
    if claims.aud != AUDIENCE || claims.iss != ISSUER {
        return Err(TokenError::Audience);
    }
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// RFC 4648 base32 without padding (what authenticator apps read).
pub fn base32(b: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &x in b {
        buf = (buf << 8) | x as u32;
        bits += 8;
        while bits >= 5 {
            out.push(A[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(A[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes RFC 4648 base32 (no padding, case-insensitive).
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let (mut buf, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.trim_end_matches('=').chars() {
        let v = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u32 - 'A' as u32,
            c @ '2'..='7' => c as u32 - '2' as u32 + 26,
            _ => return None,
        };
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

/// RFC 6238 TOTP (HMAC-SHA1, 30 s steps, 6 digits) at step `t / 30`.
pub fn totp(secret: &[u8], unix_s: i64) -> String {
    let step = (unix_s / 30) as u64;
    let mut m = <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("any key length"));
    m.update(&step.to_be_bytes());
    let h = m.finalize().into_bytes();
    let o = (h[19] & 0xf) as usize;
    let code = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]) % 1_000_000;
    format!("{code:06}")
}

/// Accepts the current code and its neighbours (clock drift of one step).
pub fn totp_ok(secret: &[u8], code: &str, unix_s: i64) -> bool {
    [-30, 0, 30].iter().any(|d| totp(secret, unix_s + d) == code.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_round_trip_and_abuse() {
        let key = b"k".repeat(32);
        let c =
            Claims { sub: "alice".into(), aud: AUDIENCE.into(), iss: ISSUER.into(), iat: 0, exp: 100, jti: "j".into() };
        let t = sign(&key, &c);
        assert_eq!(verify(&key, &t, 50), Ok(c.clone()));
        assert_eq!(verify(&key, &t, 100), Err(TokenError::Expired));
        assert_eq!(verify(b"other", &t, 50), Err(TokenError::Signature));
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), t.split('.').nth(1).unwrap());
        assert_eq!(verify(&key, &none, 50), Err(TokenError::Algorithm));
    }

    #[test]
    fn totp_rfc6238_vector() {
        // RFC 6238 appendix B, SHA1, T = 59 s → 94287082 (8 digits); 6 digits → 287082.
        assert_eq!(totp(b"12345678901234567890", 59), "287082");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW6YTBOI").unwrap(), b"foobar");
    }

    #[test]
    fn argon2id_hashes() {
        let h = hash_password("pw").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("pw", &h));
        assert!(!verify_password("px", &h));
    }
}
