//! The broker desk: what the console may do with the run's broker logins beyond reading their
//! sessions — keep a login's identifiers and secrets in the vault, remove it, read a login's
//! state at its broker (positions, funds, open orders), and reconcile it with the engine's
//! positions.
//!
//! This crate knows no broker and no vault: the binary implements [`BrokerDesk`] and hands it
//! over in [`crate::AdminConfig::broker_desk`]. The server calls a desk only after it has
//! checked the caller's role and ownership, so an implementation decides nothing about who may
//! ask; it answers what the vault and the broker say, as [`DeskError`]s the server maps onto
//! HTTP statuses.
//!
//! Secrets come in as [`SecretText`]: zeroed when dropped, masked in `Debug`, never
//! serialized. What a desk answers (the masked listing, a broker's state, an error's text)
//! must hold no secret: the server sends it as it is.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use dalal_core::model::{AccountId, Adoption, InstrumentId, InstrumentSpec, Product};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use zeroize::Zeroizing;

/// What a desk's asynchronous methods return: boxed, so the trait stays object-safe and the
/// server can hold any implementation behind an `Arc<dyn BrokerDesk>`; `Send`, because the
/// server's runtime may move a request between its worker threads.
pub type DeskFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, DeskError>> + Send + 'a>>;

/// The run's broker logins as the console's vault and per-account views need them.
///
/// `Debug` is required so [`crate::AdminConfig`] stays printable; an implementation's `Debug`
/// shows no secret (it holds paths and names, and opens the vault per request).
pub trait BrokerDesk: Send + Sync + std::fmt::Debug {
    /// Every configured login (`[[brokers]]` entries, by their vault login name) with its
    /// broker kind and the accounts bound to it. Only these may be stored or removed.
    fn logins(&self) -> Vec<DeskLogin>;

    /// Stores or replaces the identifiers and secrets given (others the login holds are kept)
    /// and answers the login's masked listing. A running gateway of the login takes a new
    /// `access_token` when it sees the vault change.
    fn store(&self, login: &str, update: LoginUpdate) -> DeskFuture<'_, Value>;

    /// Removes the login and its secrets from the vault.
    fn remove(&self, login: &str) -> DeskFuture<'_, ()>;

    /// The login's state, read live from its broker: the JSON object `dalal broker snapshot`
    /// prints (`broker`, `user_id`, `funds`, `positions`, `orders`, `holdings`), with working
    /// orders only.
    fn broker_state(&self, login: &str) -> DeskFuture<'_, Value>;

    /// The login's net positions and working orders at its broker beside `book` (the
    /// engine's positions of the one live account the login trades for), and the
    /// `Command::Adopt`s that would make the engine's positions the broker's. `fresh` reads
    /// the broker now; otherwise a read of the last moment may answer, as for
    /// [`BrokerDesk::broker_state`]. Adopting books what was read, so it asks for a fresh one.
    fn reconcile(&self, login: &str, book: EngineBook, fresh: bool) -> DeskFuture<'_, Reconciled>;
}

/// The engine's side of a reconciliation, as the console's view of the engine holds it.
#[derive(Clone, Debug)]
pub struct EngineBook {
    /// The account adoptions are for.
    pub account: AccountId,
    /// The run's instruments: where each trades at the broker, and which instrument a
    /// broker's position is.
    pub instruments: Vec<InstrumentSpec>,
    /// The account's net quantities (signed, non-zero) by instrument and product.
    pub positions: Vec<(InstrumentId, Product, i64)>,
}

/// What a desk's reconciliation found.
#[derive(Clone, Debug)]
pub struct Reconciled {
    /// The comparison as a JSON object: `differences` (`exchange`, `symbol`, `product`,
    /// `engine`, `broker`), `agreeing`, `outside_orders`, `own_open_orders`, `available_cash`.
    pub report: Value,
    /// Whether every position agrees.
    pub agrees: bool,
    /// The adoptions that settle the differences, each with what the console shows of it
    /// (`exchange`, `symbol`, `product`, `side`, `qty`, `price` in rupees).
    pub adoptions: Vec<(Adoption, Value)>,
    /// Differences no adoption settles (`exchange`, `symbol`, `product`, `reason`).
    pub left_out: Vec<Value>,
}

/// A configured broker login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeskLogin {
    /// The vault's name for it.
    pub name: String,
    /// `kite`, `angel` or `upstox`.
    pub kind: String,
    /// Accounts bound to it and their modes (`paper`, `shadow`, `live`).
    pub accounts: Vec<(String, String)>,
}

/// The body of `PUT /api/brokers/{login}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginUpdate {
    /// Must be the configured login's broker.
    pub kind: String,
    /// Identifiers (not secret: shown in full by the listing).
    #[serde(default)]
    pub ids: BTreeMap<String, String>,
    /// Secrets, by field name (`api_secret`, `access_token`, …).
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretText>,
}

/// A secret on its way from a request to the vault. Its bytes are zeroed when it is dropped,
/// `Debug` prints a mask, and it has neither `Display` nor `Serialize`: the one way to its
/// text is [`SecretText::expose`], called where it is sealed into the vault.
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    pub fn new(value: impl Into<String>) -> SecretText {
        SecretText(Zeroizing::new(value.into()))
    }

    /// The plaintext, for the one place that seals it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(****)")
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SecretText, D::Error> {
        String::deserialize(d).map(SecretText::new)
    }
}

/// Why a desk could not do what was asked. The text is sent to the caller as it is, so it
/// names logins, fields and what the broker said, never a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// No such login (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is wrong: a field the broker does not have, a missing required one (400).
    #[error("{0}")]
    Invalid(String),
    /// It cannot be done in this state: no session, a broker the desk does not read (409).
    #[error("{0}")]
    Conflict(String),
    /// The broker failed or refused; its error text (502).
    #[error("{0}")]
    Broker(String),
    /// The vault cannot be used: no master key, a damaged file (500).
    #[error("{0}")]
    Internal(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_in_an_update_is_masked_in_debug() {
        let u: LoginUpdate = serde_json::from_str(
            r#"{"kind":"kite","ids":{"api_key":"k1"},"secrets":{"api_secret":"very-secret-value-123"}}"#,
        )
        .expect("parses");
        let shown = format!("{u:?}");
        assert!(!shown.contains("very-secret-value-123"), "{shown}");
        assert!(shown.contains("api_secret") && shown.contains("k1"), "{shown}");
        assert_eq!(u.secrets["api_secret"].expose(), "very-secret-value-123");
        assert!(serde_json::from_str::<LoginUpdate>(r#"{"kind":"kite","extra":1}"#).is_err());
    }
}
