//! The stages an event passes through, in order: candle → strategy → risk → order, with the
//! portfolio and the charge tables the order and risk stages book into. Each stage is a plain
//! struct with an `on_*` method that takes its input and emits outputs through a callback; it
//! knows nothing of threads or rings. Each imports only the model and what is below it here.

pub mod candle;
pub mod charges;
pub mod holders;
pub mod instrument_sets;
pub mod loss_watch;
pub mod order;
pub mod portfolio;
pub mod risk;
pub mod strategy;

/// A hash map with a fixed hasher: the same inserts give the same layout in every process, so
/// a snapshot of a stage holding one encodes the same bytes for the same state. Its keys are
/// our own ids (order ids, venue ids), never chosen by an adversary, so the fast
/// non-cryptographic Fx hash fits: SipHash cost about a thousand instructions per order.
pub(crate) type Map<K, V> = std::collections::HashMap<K, V, rustc_hash::FxBuildHasher>;
/// The set counterpart of [`Map`].
pub(crate) type Set<K> = std::collections::HashSet<K, rustc_hash::FxBuildHasher>;
