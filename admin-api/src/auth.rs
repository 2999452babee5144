//! Credentials: argon2id password hashes, HS256 access tokens, opaque refresh tokens and API
//! keys, TOTP codes.
//!
//! Access tokens are JWTs signed with HMAC-SHA256 under a random per-process key (so a restart
//! logs everyone out). Verification accepts exactly `alg: HS256`, so `none` and any other
//! algorithm are refused before the signature is looked at; the signature is compared in
//! constant time; `aud` must be [`AUDIENCE`] and `exp` in the future. The role is re-read from
//! the user record on every request, so a disabled user or a changed role takes effect before
//! the token expires, and each token carries its user's token generation (`gen`), which a
//! password change or a reset bumps, so every token issued before it is refused at once.
//! Refresh tokens and API keys are 256-bit random strings; only their SHA-256 is kept.
//!
//! Argon2 checks run in memory the caller lends ([`verify_password_in`], [`hash_password_in`]):
//! the server keeps one buffer per permitted concurrent check and reuses it, so a flood of
//! logins neither allocates nor keeps 19 MiB per attempt.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const AUDIENCE: &str = "dalal-admin";
pub const ISSUER: &str = "dalal";

/// Most memory one argon2 check may take (blocks of 1 KiB): a stored hash asking for more is
/// refused rather than allowed to make the server allocate it.
const MAX_BLOCKS: usize = 256 * 1024;

/// Argon2id (the crate's default algorithm and parameters) with a random salt, in PHC string
/// form.
pub fn hash_password(pw: &str) -> Result<String, String> {
    hash_password_in(pw, &mut Vec::new())
}

/// As [`hash_password`], computed in `memory` (grown to the size the parameters need and kept
/// by the caller for the next check).
pub fn hash_password_in(pw: &str, memory: &mut Vec<Block>) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    let params = Params::default();
    let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|e| e.to_string())?;
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    a.hash_password_into_with_memory(pw.as_bytes(), salt_bytes, &mut out, &mut memory[..blocks])
        .map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

pub fn verify_password(pw: &str, phc: &str) -> bool {
    verify_password_in(pw, phc, &mut Vec::new())
}

/// Checks `pw` against a PHC string with the parameters it names, computed in `memory` (grown
/// as needed and kept by the caller); the output is compared in constant time.
pub fn verify_password_in(pw: &str, phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(h) = PasswordHash::new(phc) else { return false };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else { return false };
    let (Ok(params), Ok(alg)) = (Params::try_from(&h), Algorithm::try_from(h.algorithm)) else { return false };
    let version = match h.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return false;
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else { return false };
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let a = Argon2::new(alg, version, params);
    if a.hash_password_into_with_memory(pw.as_bytes(), salt_bytes, &mut out, &mut memory[..blocks]).is_err() {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(&out).is_ok_and(|o| o == expected)
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
    /// The user's token generation when issued; a token of an older generation is refused.
    #[serde(default)]
    pub gen: u64,
    /// The sign-in (refresh-token family) it was issued in; revoking the family refuses it.
    #[serde(default)]
    pub fam: String,
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
    totp_step(secret, code, unix_s).is_some()
}

/// The time step (`t / 30`) whose code `code` is, among the current one and its neighbours;
/// the caller refuses a step already used, so a code works once.
pub fn totp_step(secret: &[u8], code: &str, unix_s: i64) -> Option<i64> {
    let code = code.trim();
    let mut hit = None;
    // Every candidate is computed, so the time taken does not depend on which one matched.
    for d in [-30, 0, 30] {
        let t = unix_s + d;
        if totp(secret, t).as_bytes().ct_eq_bytes(code.as_bytes()) {
            hit = Some(t.div_euclid(30));
        }
    }
    hit
}

/// Constant-time equality of byte strings of the same length (a length mismatch is answered
/// at once: the length of a TOTP code is no secret).
pub(crate) trait CtEq {
    fn ct_eq_bytes(&self, other: &[u8]) -> bool;
}

impl CtEq for [u8] {
    fn ct_eq_bytes(&self, other: &[u8]) -> bool {
        self.len() == other.len() && self.iter().zip(other).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_round_trip_and_abuse() {
        let key = b"k".repeat(32);
        let c = Claims {
            sub: "alice".into(),
            aud: AUDIENCE.into(),
            iss: ISSUER.into(),
            iat: 0,
            exp: 100,
            jti: "j".into(),
            gen: 0,
            fam: "f".into(),
        };
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
        // The lent memory is reused, and a hash from the crate's own hasher checks the same.
        let mut mem = Vec::new();
        assert!(verify_password_in("pw", &h, &mut mem));
        let blocks = mem.len();
        assert!(!verify_password_in("px", &h, &mut mem));
        assert_eq!(mem.len(), blocks);
        use argon2::password_hash::PasswordHasher;
        let theirs = Argon2::default().hash_password(b"pw", &SaltString::generate(&mut OsRng)).unwrap().to_string();
        assert!(verify_password_in("pw", &theirs, &mut mem));
        assert!(!verify_password_in("pw", "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaA", &mut mem));
    }

    #[test]
    fn totp_step_names_the_step_used() {
        let s = b"12345678901234567890";
        assert_eq!(totp_step(s, &totp(s, 59), 59), Some(1));
        assert_eq!(totp_step(s, &totp(s, 89), 59), Some(2));
        assert_eq!(totp_step(s, &totp(s, 200), 59), None);
    }
}
