//! The event journal: every ingress event, appended by a consumer on its own branch of the
//! ingress ring, in parallel with the stages. Replaying it into a fresh engine rebuilds the
//! exact state, because the engine is a deterministic function of its ingress sequence.
//!
//! # Files
//!
//! A journal is a directory of segment files named by their first sequence number
//! (`00000000000000000001.journal`, …), rolled at [`SEGMENT_BYTES`]. Each record is
//!
//! | field | size | meaning |
//! |---|---|---|
//! | len | u32 | bytes of the body |
//! | crc | u32 | CRC-32 (IEEE) of the body |
//! | seq | u64 | ingress sequence number, from 1, contiguous |
//! | source | u64 | position in the event's source (record number + 1 of a replayed file; 0 if none) |
//! | input | len − 16 | the event (see `codec`) |
//!
//! all little-endian. A crash can leave a torn last record; its checksum (or length) gives it
//! away and recovery cuts it off and reports it. It is never fatal. Damage anywhere else is
//! corruption, an error (see [`read_journal`]). A directory has one owner: the writer holds
//! an exclusive lock on `DIR/LOCK` (which names its pid) while it is open; the operating system
//! releases it when the process ends however it ends, so a killed owner's lock is simply
//! taken over.

pub mod codec;
mod reader;
pub mod snapshots;
mod writer;

pub use codec::{decode, encode, DecodeError};
pub use reader::{read_journal, salvage_journal, Recovery, Truncation};
pub use snapshots::{
    discard_snapshots_ahead, find_snapshot, latest_snapshot, write_snapshot, FoundSnapshot, SnapshotStats,
    SnapshotWriter,
};
pub use writer::{FsyncPolicy, JournalConsumer, JournalStats, JournalWriter};

use dalal_core::model::Input;

/// Segment size at which the writer starts a new file.
pub const SEGMENT_BYTES: u64 = 64 << 20;

/// Bytes before the encoded input: seq and source.
const BODY_HEAD: usize = 16;

/// Largest body accepted when reading (anything longer is corruption).
const MAX_BODY: usize = 4096;

/// One journaled event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalRecord {
    pub seq: u64,
    pub source: u64,
    pub input: Input,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    /// Damage that is not a torn tail: the history cannot be trusted past it.
    #[error(
        "journal segment {segment} is corrupt at byte {offset}, after sequence {last_seq}: {reason} \
         (`dalal replay --salvage` can rebuild what precedes it)"
    )]
    Corrupt { segment: std::path::PathBuf, offset: u64, last_seq: u64, reason: String },
    /// Another live process owns the journal.
    #[error("journal {dir} is in use by process {pid} (its lock file is {lock}); one process owns a journal")]
    Locked { dir: std::path::PathBuf, lock: std::path::PathBuf, pid: String },
}

fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.journal")
}

/// Segment files of a journal directory, in sequence order.
fn segments(dir: &std::path::Path) -> Result<Vec<(u64, std::path::PathBuf)>, JournalError> {
    let io = |source| JournalError::Io { path: dir.to_path_buf(), source };
    let mut v = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
        Err(e) => return Err(io(e)),
    };
    for e in entries {
        let e = e.map_err(io)?;
        let name = e.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".journal")) else { continue };
        if let Ok(first) = stem.parse::<u64>() {
            v.push((first, e.path()));
        }
    }
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests;
