//! Engine state snapshots. The engine is a function of its ingress sequence, so its state taken
//! between two events, plus the journal records after them, rebuilds exactly the state a run
//! had: recovery replays the tail instead of the whole day.
//!
//! Layout: [`MAGIC`], a postcard-encoded [`SnapshotHeader`], then the postcard-encoded stage
//! states (candle, strategy, risk, order). Postcard is exact for every value the stages hold
//! (integers and `f64` bit patterns), which is what keeps a restored engine deterministic.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::FeedbackRoute;

/// First bytes of every snapshot; the digit is the layout version.
pub const MAGIC: &[u8; 8] = b"DALSNAP4";

/// What a snapshot covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotHeader {
    /// Ingress events applied: the journal sequence number of the last event in the state.
    pub applied: u64,
    /// Egress events emitted by then, so the store's sequence keys go on where they were.
    pub emitted: u64,
    /// Hash of the engine setup the state belongs to: another config's state is refused.
    pub fingerprint: u64,
    /// How feedback travelled when the state was taken: a replay of the records after it
    /// must treat feedback the same way.
    pub route: FeedbackRoute,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("not an engine snapshot (bad magic)")]
    BadMagic,
    #[error("snapshot belongs to another configuration (fingerprint {found:#x}, this one is {expected:#x})")]
    OtherConfig { found: u64, expected: u64 },
    #[error(transparent)]
    Strategy(#[from] crate::stages::strategy::StateError),
    #[error("snapshot encoding: {0}")]
    Codec(#[from] postcard::Error),
}

/// One snapshot on its way from the engine thread to the file writer.
#[derive(Debug)]
pub struct Snapshot {
    pub header: SnapshotHeader,
    pub bytes: Vec<u8>,
    /// How long the engine thread spent encoding it (the pause it caused).
    pub took: Duration,
}

/// Where the engine sends snapshots, and how often. Sending never blocks: a writer that has not
/// kept up loses that snapshot (the next one covers it). Fused, the engine thread takes one
/// between two batches; pipelined, the first stage starts one with a barrier that each stage
/// thread adds its state to as it passes, and the order thread sends it.
#[derive(Clone, Debug)]
pub struct SnapshotSink {
    pub every: Duration,
    pub tx: crossbeam_channel::Sender<Snapshot>,
}

/// FNV-1a, 64 bits: stable across builds and platforms, unlike `std`'s hasher.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Splits a snapshot into its header and the encoded stage states.
pub fn split(bytes: &[u8]) -> Result<(SnapshotHeader, &[u8]), SnapshotError> {
    let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(SnapshotError::BadMagic)?;
    let (header, rest) = postcard::take_from_bytes::<SnapshotHeader>(rest)?;
    Ok((header, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_bad_magic() {
        let h =
            SnapshotHeader { applied: 12, emitted: 7, fingerprint: fingerprint(b"x"), route: FeedbackRoute::Journaled };
        let mut bytes = MAGIC.to_vec();
        bytes.extend(postcard::to_stdvec(&h).unwrap_or_default());
        bytes.extend([1, 2, 3]);
        let (back, rest) = split(&bytes).expect("valid snapshot");
        assert_eq!(back, h);
        assert_eq!(rest, &[1, 2, 3]);
        assert!(matches!(split(b"DALSNAP0rest"), Err(SnapshotError::BadMagic)));
        assert!(matches!(split(MAGIC.as_slice()), Err(SnapshotError::Codec(_))));
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
    }
}
