//! Secrets the console keeps in its store (TOTP seeds), sealed with AES-256-GCM under the
//! master key that also seals broker secrets.
//!
//! A sealed value is `sealed:v1:<nonce>:<ciphertext>` (both base64), with a fresh random
//! 96-bit nonce and the owner's name as associated data, so a value copied onto another user
//! does not open.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use zeroize::Zeroizing;

const PREFIX: &str = "sealed:v1:";

/// The 32-byte master key. Zeroed when dropped; never printed.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(****)")
    }
}

/// Why a stored value did not open.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("not a sealed value")]
    NotSealed,
    #[error("does not open with this master key (a different key, or the value was altered)")]
    WrongKey,
}

impl SecretKey {
    pub fn new(bytes: [u8; 32]) -> SecretKey {
        SecretKey(Zeroizing::new(bytes))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0[..]))
    }

    /// Seals `plain` for `owner`.
    pub fn seal(&self, owner: &str, plain: &[u8]) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = aad(owner);
        // Encryption fails only for inputs over 64 GiB; a TOTP seed is 20 bytes.
        let ct = self.cipher().encrypt(&nonce, Payload { msg: plain, aad: aad.as_bytes() }).unwrap_or_default();
        format!("{PREFIX}{}:{}", B64.encode(nonce), B64.encode(ct))
    }

    /// Opens a value [`seal`](Self::seal) made for `owner`.
    pub fn open(&self, owner: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let rest = sealed.strip_prefix(PREFIX).ok_or(SealError::NotSealed)?;
        let (nonce, ct) = rest.split_once(':').ok_or(SealError::NotSealed)?;
        let nonce = B64.decode(nonce).map_err(|_| SealError::NotSealed)?;
        let ct = B64.decode(ct).map_err(|_| SealError::NotSealed)?;
        if nonce.len() != 12 {
            return Err(SealError::NotSealed);
        }
        let aad = aad(owner);
        self.cipher()
            .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ct, aad: aad.as_bytes() })
            .map(Zeroizing::new)
            .map_err(|_| SealError::WrongKey)
    }
}

/// True for a value [`SecretKey::seal`] wrote.
pub fn is_sealed(v: &str) -> bool {
    v.starts_with(PREFIX)
}

fn aad(owner: &str) -> String {
    format!("dalal-totp-v1|{owner}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_per_owner_and_refuses_another_key() {
        let k = SecretKey::new([7; 32]);
        let s = k.seal("alice", b"seed-bytes");
        assert!(is_sealed(&s) && !s.contains("seed"));
        assert_eq!(&k.open("alice", &s).unwrap()[..], b"seed-bytes");
        assert_eq!(k.open("bob", &s).unwrap_err(), SealError::WrongKey);
        assert_eq!(SecretKey::new([8; 32]).open("alice", &s).unwrap_err(), SealError::WrongKey);
        assert_eq!(k.open("alice", "00ff").unwrap_err(), SealError::NotSealed);
        assert_ne!(k.seal("alice", b"x"), k.seal("alice", b"x"), "a fresh nonce each time");
        assert_eq!(format!("{k:?}"), "SecretKey(****)");
    }
}
