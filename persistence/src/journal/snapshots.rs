//! Engine snapshots beside the journal, so recovery restores the latest one and replays only
//! the journal records after it.
//!
//! Files: `DIR/snapshots/<applied>.snapshot` (the journal sequence number the state includes,
//! 20 digits), holding the engine's snapshot bytes (`dalal_core::engine::snapshot`) followed by a
//! CRC-32 of them (u32, little-endian). Each is written to a temporary name, synced and renamed,
//! so a crash leaves either the whole file or none; the newest [`KEEP`] are kept.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;
use dalal_core::engine::snapshot::{Snapshot, SnapshotSink};

/// Snapshots kept; older ones are removed after a newer one is safely on disk.
pub const KEEP: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotFileError {
    #[error("snapshot file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotFileError + '_ {
    move |source| SnapshotFileError::Io { path: path.to_path_buf(), source }
}

fn snapshot_dir(journal: &Path) -> PathBuf {
    journal.join("snapshots")
}

/// Writes one snapshot durably and prunes older ones.
pub fn write_snapshot(journal: &Path, applied: u64, bytes: &[u8]) -> Result<PathBuf, SnapshotFileError> {
    let dir = snapshot_dir(journal);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let path = dir.join(format!("{applied:020}.snapshot"));
    let tmp = dir.join(format!("{applied:020}.snapshot.tmp"));
    {
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.write_all(&crc32fast::hash(bytes).to_le_bytes()).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    if let Ok(d) = std::fs::File::open(&dir) {
        // The rename is durable once the directory is synced.
        let _ = d.sync_all();
    }
    let mut all = list(journal);
    all.sort_by_key(|(applied, _)| std::cmp::Reverse(*applied));
    for (_, old) in all.into_iter().skip(KEEP) {
        let _ = std::fs::remove_file(old);
    }
    Ok(path)
}

/// Removes the snapshots that cover more than the journal's `last_seq` records, and names
/// them. Such a snapshot holds events the journal lost in a crash (the engine runs ahead of
/// the journal's writer); the restarted run writes new, different records under those same
/// sequence numbers, so once the journal grows past it the snapshot would look valid and
/// restore a history that never reached the journal. Recovery calls this before anything is
/// appended.
pub fn discard_snapshots_ahead(journal: &Path, last_seq: u64) -> Result<Vec<PathBuf>, SnapshotFileError> {
    let mut gone = Vec::new();
    for (applied, path) in list(journal) {
        if applied > last_seq {
            std::fs::remove_file(&path).map_err(io(&path))?;
            gone.push(path);
        }
    }
    if !gone.is_empty() {
        let dir = snapshot_dir(journal);
        if let Ok(d) = std::fs::File::open(&dir) {
            // The removals are durable before the journal grows past them.
            d.sync_all().map_err(io(&dir))?;
        }
    }
    gone.sort();
    Ok(gone)
}

/// Snapshot files by the sequence number they cover (unsorted).
fn list(journal: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(snapshot_dir(journal)) else { return Vec::new() };
    rd.filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name();
            let applied = name.to_str()?.strip_suffix(".snapshot")?.parse().ok()?;
            Some((applied, e.path()))
        })
        .collect()
}

/// A snapshot read back, checksum verified.
#[derive(Debug)]
pub struct FoundSnapshot {
    pub path: PathBuf,
    pub applied: u64,
    pub bytes: Vec<u8>,
}

/// The newest intact snapshot covering no more than `max_applied` journal records (a snapshot
/// ahead of a journal whose tail was lost is useless). Damaged files are skipped and named in
/// `skipped` with the reason.
pub fn latest_snapshot(journal: &Path, max_applied: u64, skipped: &mut Vec<String>) -> Option<FoundSnapshot> {
    find_snapshot(journal, max_applied, skipped, |_| true)
}

/// Like [`latest_snapshot`], the newest that `accept` also takes.
pub fn find_snapshot(
    journal: &Path,
    max_applied: u64,
    skipped: &mut Vec<String>,
    accept: impl Fn(&FoundSnapshot) -> bool,
) -> Option<FoundSnapshot> {
    let mut all = list(journal);
    all.sort_by_key(|(applied, _)| std::cmp::Reverse(*applied));
    for (applied, path) in all {
        if applied > max_applied {
            skipped.push(format!("{}: ahead of the journal ({applied} > {max_applied})", path.display()));
            continue;
        }
        let mut bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                skipped.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        if bytes.len() < 4 {
            skipped.push(format!("{}: too short", path.display()));
            continue;
        }
        let body = bytes.len() - 4;
        let want = u32::from_le_bytes([bytes[body], bytes[body + 1], bytes[body + 2], bytes[body + 3]]);
        if crc32fast::hash(&bytes[..body]) != want {
            skipped.push(format!("{}: checksum mismatch", path.display()));
            continue;
        }
        bytes.truncate(body);
        let found = FoundSnapshot { path, applied, bytes };
        if accept(&found) {
            return Some(found);
        }
    }
    None
}

/// What the snapshot thread did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SnapshotStats {
    pub written: u64,
    pub errors: u64,
    pub last_applied: u64,
    pub last_bytes: u64,
    /// The longest time the engine thread spent encoding a snapshot.
    pub max_pause: Duration,
}

/// The thread that writes the engine's periodic snapshots to disk.
pub struct SnapshotWriter {
    sink: SnapshotSink,
    thread: JoinHandle<SnapshotStats>,
}

impl SnapshotWriter {
    /// Starts the writer for `journal`; give [`SnapshotWriter::sink`] to the engine.
    pub fn start(journal: &Path, every: Duration) -> std::io::Result<SnapshotWriter> {
        // Two in flight at most: a writer behind by more only loses snapshots, never the engine's time.
        let (tx, rx) = crossbeam_channel::bounded::<Snapshot>(2);
        let dir = journal.to_path_buf();
        let thread = std::thread::Builder::new().name("dalal-snapshot".into()).spawn(move || write_all(&dir, rx))?;
        Ok(SnapshotWriter { sink: SnapshotSink { every, tx }, thread })
    }

    pub fn sink(&self) -> SnapshotSink {
        self.sink.clone()
    }

    /// Waits for the snapshots in flight once the engine (the other sender) has stopped.
    pub fn stop(self) -> SnapshotStats {
        drop(self.sink);
        self.thread.join().unwrap_or_default()
    }
}

fn write_all(dir: &Path, rx: Receiver<Snapshot>) -> SnapshotStats {
    let mut stats = SnapshotStats::default();
    for s in rx {
        stats.max_pause = stats.max_pause.max(s.took);
        match write_snapshot(dir, s.header.applied, &s.bytes) {
            Ok(_) => {
                stats.written += 1;
                stats.last_applied = s.header.applied;
                stats.last_bytes = s.bytes.len() as u64;
            }
            Err(e) => {
                stats.errors += 1;
                tracing::warn!(error = %e, "snapshot not written");
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_intact_snapshot_within_the_journal_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = dir.path();
        let mut skipped = Vec::new();
        assert!(latest_snapshot(j, u64::MAX, &mut skipped).is_none());
        write_snapshot(j, 10, b"ten").expect("write");
        write_snapshot(j, 20, b"twenty").expect("write");
        let found = latest_snapshot(j, 100, &mut skipped).expect("found");
        assert_eq!((found.applied, found.bytes.as_slice()), (20, b"twenty".as_slice()));
        // A journal that ends before 20 can only use the older one.
        let found = latest_snapshot(j, 15, &mut skipped).expect("found");
        assert_eq!(found.applied, 10);
        assert_eq!(skipped.len(), 1);

        // A damaged newest file is skipped, with the reason.
        let p = write_snapshot(j, 30, b"thirty").expect("write");
        let mut bytes = std::fs::read(&p).expect("read");
        bytes[0] ^= 0xff;
        std::fs::write(&p, bytes).expect("damage");
        skipped.clear();
        let found = latest_snapshot(j, 100, &mut skipped).expect("found");
        assert_eq!(found.applied, 20);
        assert!(skipped[0].contains("checksum"), "{skipped:?}");
        // Only the newest KEEP files stay.
        assert_eq!(list(j).len(), KEEP);
    }

    #[test]
    fn snapshots_ahead_of_the_journal_are_discarded_and_the_rest_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = dir.path();
        write_snapshot(j, 10, b"ten").expect("write");
        write_snapshot(j, 20, b"twenty").expect("write");
        let gone = discard_snapshots_ahead(j, 15).expect("discard");
        assert_eq!(gone.len(), 1);
        assert!(gone[0].ends_with(format!("{:020}.snapshot", 20)), "{gone:?}");
        let left: Vec<u64> = list(j).into_iter().map(|(a, _)| a).collect();
        assert_eq!(left, vec![10]);
        // Once the journal has grown past 20 again, nothing of the lost history comes back.
        let mut skipped = Vec::new();
        assert_eq!(latest_snapshot(j, 100, &mut skipped).map(|f| f.applied), Some(10));
        assert!(discard_snapshots_ahead(j, 10).expect("discard").is_empty());
        // An empty journal has room for no snapshot; no snapshot directory is no error.
        assert_eq!(discard_snapshots_ahead(j, 0).expect("discard").len(), 1);
        assert!(discard_snapshots_ahead(&j.join("none"), 0).expect("discard").is_empty());
    }
}
