//! Broker logins and their secrets, encrypted at rest.
//!
//! The vault is one JSON file. Identifiers (API keys, client codes) are kept in clear; every
//! secret is sealed on its own with AES-256-GCM under the master key, with a fresh random
//! 96-bit nonce and the login's name and the field's name as associated data, so a sealed value
//! cannot be moved to another login or field without failing to open. A sealed check value
//! tells a wrong key from a damaged file at open time, even in an empty vault.
//!
//! The master key never lives in the vault: it comes from `DALAL_MASTER_KEY` (32 bytes as 64
//! hex digits or base64) or from a key file only its owner may read (mode 0600). The file is
//! written to a temporary name, synced and renamed, with mode 0600.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::kind::BrokerKind;
use crate::secret::Secret;

/// The environment variable that holds the master key.
pub const MASTER_KEY_ENV: &str = "DALAL_MASTER_KEY";
const FORMAT: &str = "dalal-vault";
const VERSION: u32 = 1;
const CHECK_PLAINTEXT: &[u8] = b"dalal-vault-check";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "no master key: set {MASTER_KEY_ENV} (32 bytes as 64 hex digits or base64) or create the key file {} \
         (`dalal broker keygen` writes one with mode 0600)",
        file.display()
    )]
    NoKey { file: PathBuf },
    #[error("master key: {0}")]
    KeyFormat(String),
    #[error("key file {} may be read by others (mode {mode:o}); allow its owner only: chmod 600", file.display())]
    KeyFilePermissions { file: PathBuf, mode: u32 },
    #[error("the master key does not open {} (a different key, or the file was altered)", file.display())]
    WrongKey { file: PathBuf },
    #[error("vault {} is damaged: {reason}", file.display())]
    Corrupt { file: PathBuf, reason: String },
    #[error("{}: {source}", file.display())]
    Io { file: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
    #[error("no broker login named {0:?}")]
    UnknownLogin(String),
    #[error("a broker login named {0:?} exists already (remove it first)")]
    Exists(String),
}

/// The 32-byte key every secret in a vault is sealed with. Zeroed when dropped; never printed.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(****)")
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> MasterKey {
        let key = Aes256Gcm::generate_key(&mut OsRng);
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&key);
        MasterKey(bytes)
    }

    /// 64 hex digits or the base64 of 32 bytes (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<MasterKey, VaultError> {
        let t = text.trim();
        let mut bytes = Zeroizing::new([0u8; 32]);
        if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            for (i, pair) in t.as_bytes().chunks(2).enumerate() {
                let hi = (pair[0] as char).to_digit(16).unwrap_or(0);
                let lo = (pair[1] as char).to_digit(16).unwrap_or(0);
                bytes[i] = (hi * 16 + lo) as u8;
            }
            return Ok(MasterKey(bytes));
        }
        let decoded = Zeroizing::new(
            B64.decode(t).map_err(|_| VaultError::KeyFormat("expected 64 hex digits or base64".into()))?,
        );
        if decoded.len() != 32 {
            return Err(VaultError::KeyFormat(format!("{} bytes; a key is 32", decoded.len())));
        }
        bytes.copy_from_slice(&decoded);
        Ok(MasterKey(bytes))
    }

    /// The key from `env` (the value of [`MASTER_KEY_ENV`], when set and not empty), else from
    /// `file`, which must exist and be readable by its owner only.
    pub fn load(env: Option<&str>, file: &Path) -> Result<MasterKey, VaultError> {
        if let Some(v) = env.filter(|v| !v.trim().is_empty()) {
            return MasterKey::parse(v).map_err(|e| VaultError::KeyFormat(format!("{MASTER_KEY_ENV}: {e}")));
        }
        let meta = match std::fs::metadata(file) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VaultError::NoKey { file: file.to_path_buf() })
            }
            Err(source) => return Err(VaultError::Io { file: file.to_path_buf(), source }),
        };
        check_private(file, &meta)?;
        let text = Zeroizing::new(
            std::fs::read_to_string(file).map_err(|source| VaultError::Io { file: file.to_path_buf(), source })?,
        );
        MasterKey::parse(&text).map_err(|e| VaultError::KeyFormat(format!("{}: {e}", file.display())))
    }

    /// Writes a new random key to `file` (which must not exist), readable by its owner only.
    pub fn create_file(file: &Path) -> Result<MasterKey, VaultError> {
        let key = MasterKey::generate();
        let io = |source| VaultError::Io { file: file.to_path_buf(), source };
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut f = private_options().create_new(true).open(file).map_err(io)?;
        let hex = Zeroizing::new(key.0.iter().map(|b| format!("{b:02x}")).collect::<String>());
        f.write_all(hex.as_bytes()).map_err(io)?;
        f.write_all(b"\n").map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(key)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0[..]))
    }

    /// The key's bytes, for sealing other secrets under the same key (the console's TOTP
    /// seeds). The caller keeps them in zeroizing memory.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

#[cfg(unix)]
fn check_private(file: &Path, meta: &std::fs::Metadata) -> Result<(), VaultError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(VaultError::KeyFilePermissions { file: file.to_path_buf(), mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_file: &Path, _meta: &std::fs::Metadata) -> Result<(), VaultError> {
    Ok(())
}

fn private_options() -> std::fs::OpenOptions {
    let mut o = std::fs::OpenOptions::new();
    o.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// One sealed value: nonce and ciphertext (with its tag), base64.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Sealed {
    nonce: String,
    ct: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredLogin {
    kind: BrokerKind,
    ids: BTreeMap<String, String>,
    secrets: BTreeMap<String, Sealed>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct VaultFile {
    format: String,
    version: u32,
    check: Sealed,
    logins: BTreeMap<String, StoredLogin>,
}

/// A broker login as added: its name, broker, identifiers and secrets.
#[derive(Clone, Debug)]
pub struct Login {
    pub name: String,
    pub kind: BrokerKind,
    pub ids: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, Secret>,
}

/// What may be shown of a login: identifiers in full, secrets masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoginSummary {
    pub name: String,
    pub kind: BrokerKind,
    pub ids: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
}

/// The open vault: its file and the key that opens it.
#[derive(Debug)]
pub struct Vault {
    path: PathBuf,
    key: MasterKey,
    file: VaultFile,
}

impl Vault {
    /// Opens the vault at `path` with `key`; a missing file is an empty vault (written on the
    /// first [`Vault::save`]). A wrong key or a damaged file is an error naming the file.
    pub fn open(path: &Path, key: MasterKey) -> Result<Vault, VaultError> {
        let corrupt = |reason: String| VaultError::Corrupt { file: path.to_path_buf(), reason };
        let file = match std::fs::read(path) {
            Ok(bytes) => {
                let f: VaultFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
                if f.format != FORMAT || f.version != VERSION {
                    return Err(corrupt(format!(
                        "format {:?} version {}; expected {FORMAT:?} {VERSION}",
                        f.format, f.version
                    )));
                }
                let check = open_sealed(&key, &f.check, b"dalal-vault-v1|check")
                    .map_err(|_| VaultError::WrongKey { file: path.to_path_buf() })?;
                if check.as_slice() != CHECK_PLAINTEXT {
                    return Err(VaultError::WrongKey { file: path.to_path_buf() });
                }
                f
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => VaultFile {
                format: FORMAT.into(),
                version: VERSION,
                check: seal(&key, CHECK_PLAINTEXT, b"dalal-vault-v1|check"),
                logins: BTreeMap::new(),
            },
            Err(source) => return Err(VaultError::Io { file: path.to_path_buf(), source }),
        };
        Ok(Vault { path: path.to_path_buf(), key, file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds a login after checking it has what its broker needs and nothing it does not.
    pub fn add(&mut self, login: Login) -> Result<(), VaultError> {
        validate(&login)?;
        if self.file.logins.contains_key(&login.name) {
            return Err(VaultError::Exists(login.name));
        }
        let secrets = login
            .secrets
            .iter()
            .map(|(field, value)| {
                (field.clone(), seal(&self.key, value.expose().as_bytes(), aad(&login.name, field).as_bytes()))
            })
            .collect();
        self.file.logins.insert(login.name, StoredLogin { kind: login.kind, ids: login.ids, secrets });
        Ok(())
    }

    /// Sets (or replaces) one secret of a login: a new session's token, say.
    pub fn set_secret(&mut self, name: &str, field: &str, value: &Secret) -> Result<(), VaultError> {
        let key = &self.key;
        let login = self.file.logins.get_mut(name).ok_or_else(|| VaultError::UnknownLogin(name.into()))?;
        let kind = login.kind;
        if !kind.required_secrets().contains(&field) && !kind.optional_secrets().contains(&field) {
            return Err(VaultError::Invalid(format!(
                "{kind} logins have no secret {field:?} (they have {})",
                [kind.required_secrets(), kind.optional_secrets()].concat().join(", ")
            )));
        }
        login.secrets.insert(field.into(), seal(key, value.expose().as_bytes(), aad(name, field).as_bytes()));
        Ok(())
    }

    /// Sets (or replaces) one identifier of a login: the user id a session reported, say.
    pub fn set_id(&mut self, name: &str, field: &str, value: &str) -> Result<(), VaultError> {
        let login = self.file.logins.get_mut(name).ok_or_else(|| VaultError::UnknownLogin(name.into()))?;
        let kind = login.kind;
        if !kind.required_ids().contains(&field) && !kind.optional_ids().contains(&field) {
            return Err(VaultError::Invalid(format!(
                "{kind} logins have no id {field:?} (they have {})",
                [kind.required_ids(), kind.optional_ids()].concat().join(", ")
            )));
        }
        if value.trim().is_empty() {
            return Err(VaultError::Invalid(format!("{name}.{field}: empty")));
        }
        login.ids.insert(field.into(), value.trim().into());
        Ok(())
    }

    /// The broker a login is for.
    pub fn kind(&self, name: &str) -> Result<BrokerKind, VaultError> {
        self.file.logins.get(name).map(|l| l.kind).ok_or_else(|| VaultError::UnknownLogin(name.into()))
    }

    /// One identifier of a login (`None`: the login has no such field).
    pub fn id(&self, name: &str, field: &str) -> Result<Option<String>, VaultError> {
        let login = self.file.logins.get(name).ok_or_else(|| VaultError::UnknownLogin(name.into()))?;
        Ok(login.ids.get(field).cloned())
    }

    /// Removes a login and its secrets; false if there was none.
    pub fn remove(&mut self, name: &str) -> bool {
        self.file.logins.remove(name).is_some()
    }

    /// One secret of a login, opened (`None`: the login does not hold that field).
    pub fn secret(&self, name: &str, field: &str) -> Result<Option<Secret>, VaultError> {
        let login = self.file.logins.get(name).ok_or_else(|| VaultError::UnknownLogin(name.into()))?;
        let Some(sealed) = login.secrets.get(field) else { return Ok(None) };
        let plain = open_sealed(&self.key, sealed, aad(name, field).as_bytes())
            .map_err(|_| VaultError::WrongKey { file: self.path.clone() })?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| VaultError::Corrupt {
            file: self.path.clone(),
            reason: format!("{name}.{field} is not text"),
        })?;
        Ok(Some(Secret::new(text)))
    }

    /// Every login as it may be shown (secrets masked).
    pub fn list(&self) -> Result<Vec<LoginSummary>, VaultError> {
        self.file
            .logins
            .iter()
            .map(|(name, l)| {
                let mut secrets = BTreeMap::new();
                for field in l.secrets.keys() {
                    let masked = self.secret(name, field)?.map(|s| s.masked()).unwrap_or_default();
                    secrets.insert(field.clone(), masked);
                }
                Ok(LoginSummary { name: name.clone(), kind: l.kind, ids: l.ids.clone(), secrets })
            })
            .collect()
    }

    /// Writes the vault: to a temporary file (mode 0600), synced, then renamed over the old.
    pub fn save(&self) -> Result<(), VaultError> {
        let io = |source| VaultError::Io { file: self.path.clone(), source };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let bytes = serde_json::to_vec_pretty(&self.file)
            .map_err(|e| VaultError::Corrupt { file: self.path.clone(), reason: e.to_string() })?;
        let tmp = self.path.with_extension("tmp");
        let mut f = private_options().create(true).truncate(true).open(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

fn aad(name: &str, field: &str) -> String {
    format!("dalal-vault-v1|{name}|{field}")
}

fn seal(key: &MasterKey, plain: &[u8], aad: &[u8]) -> Sealed {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    // Encryption fails only for inputs over 64 GiB; secrets are a few hundred bytes.
    let ct = key.cipher().encrypt(&nonce, Payload { msg: plain, aad }).unwrap_or_default();
    Sealed { nonce: B64.encode(nonce), ct: B64.encode(ct) }
}

fn open_sealed(key: &MasterKey, s: &Sealed, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, ()> {
    let nonce = B64.decode(&s.nonce).map_err(|_| ())?;
    let ct = B64.decode(&s.ct).map_err(|_| ())?;
    if nonce.len() != 12 {
        return Err(());
    }
    key.cipher().decrypt(Nonce::from_slice(&nonce), Payload { msg: &ct, aad }).map(Zeroizing::new).map_err(|_| ())
}

/// A login's name is how accounts and commands refer to it; its fields must be its broker's.
fn validate(l: &Login) -> Result<(), VaultError> {
    let bad = |m: String| Err(VaultError::Invalid(m));
    if l.name.is_empty()
        || l.name.len() > 64
        || !l.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return bad(format!("login name {:?}: 1–64 letters, digits, '_' or '-'", l.name));
    }
    let k = l.kind;
    for id in k.required_ids() {
        if l.ids.get(*id).is_none_or(|v| v.trim().is_empty()) {
            return bad(format!("{k} login {:?} needs the id {id}", l.name));
        }
    }
    for id in l.ids.keys() {
        if !k.required_ids().contains(&id.as_str()) && !k.optional_ids().contains(&id.as_str()) {
            return bad(format!(
                "{k} logins have no id {id:?} (they have {})",
                [k.required_ids(), k.optional_ids()].concat().join(", ")
            ));
        }
    }
    for s in k.required_secrets() {
        if l.secrets.get(*s).is_none_or(|v| v.is_empty()) {
            return bad(format!("{k} login {:?} needs the secret {s}", l.name));
        }
    }
    for s in l.secrets.keys() {
        if !k.required_secrets().contains(&s.as_str()) && !k.optional_secrets().contains(&s.as_str()) {
            return bad(format!(
                "{k} logins have no secret {s:?} (they have {})",
                [k.required_secrets(), k.optional_secrets()].concat().join(", ")
            ));
        }
    }
    Ok(())
}
