//! Reading (and repairing) a journal.

use std::path::{Path, PathBuf};

use super::{codec, segments, JournalError, JournalRecord, BODY_HEAD, MAX_BODY};

/// Where and why reading stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    pub segment: PathBuf,
    pub offset: u64,
    /// Bytes after the last good record (cut off when repairing).
    pub bytes: u64,
    pub reason: String,
    /// Later segments that were discarded because they cannot follow a broken one.
    pub dropped_segments: usize,
}

/// Everything a journal holds.
#[derive(Clone, Debug, Default)]
pub struct Recovery {
    pub records: Vec<JournalRecord>,
    pub segments: usize,
    pub truncated: Option<Truncation>,
    /// The segment new records go to.
    pub(crate) last_segment: Option<PathBuf>,
}

impl Recovery {
    pub fn last_seq(&self) -> u64 {
        self.records.last().map(|r| r.seq).unwrap_or(0)
    }

    /// Source position of the last journaled event that has one (a replayed file's record).
    pub fn last_source(&self) -> u64 {
        self.records.iter().rev().find(|r| r.source != 0).map(|r| r.source).unwrap_or(0)
    }
}

/// Reads every record in order. A record that is short, too long, fails its checksum, does
/// not decode, or breaks the sequence ends the journal there; with `repair`, the bad tail is
/// cut off (and later segments removed) so appending can resume.
pub fn read_journal(dir: &Path, repair: bool) -> Result<Recovery, JournalError> {
    let segs = segments(dir)?;
    let mut rec = Recovery { segments: segs.len(), ..Default::default() };
    let mut expect = None::<u64>;
    for (k, (_, path)) in segs.iter().enumerate() {
        let data = std::fs::read(path).map_err(|source| JournalError::Io { path: path.clone(), source })?;
        let mut at = 0usize;
        let mut bad: Option<String> = None;
        while at < data.len() {
            match read_record(&data[at..]) {
                Ok((r, used)) => {
                    if expect.is_some_and(|e| e != r.seq) {
                        bad = Some(format!("sequence {} where {} was expected", r.seq, expect.unwrap_or(0)));
                        break;
                    }
                    expect = Some(r.seq + 1);
                    rec.records.push(r);
                    at += used;
                }
                Err(why) => {
                    bad = Some(why);
                    break;
                }
            }
        }
        rec.last_segment = Some(path.clone());
        if let Some(reason) = bad {
            let dropped = segs.len() - k - 1;
            let t = Truncation {
                segment: path.clone(),
                offset: at as u64,
                bytes: (data.len() - at) as u64,
                reason,
                dropped_segments: dropped,
            };
            tracing::warn!(segment = %t.segment.display(), offset = t.offset, bytes = t.bytes, reason = %t.reason, dropped_segments = dropped, "journal tail is torn or corrupt");
            if repair {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|source| JournalError::Io { path: path.clone(), source })?;
                f.set_len(at as u64).map_err(|source| JournalError::Io { path: path.clone(), source })?;
                f.sync_all().map_err(|source| JournalError::Io { path: path.clone(), source })?;
                for (_, later) in &segs[k + 1..] {
                    std::fs::remove_file(later).map_err(|source| JournalError::Io { path: later.clone(), source })?;
                }
            }
            rec.truncated = Some(t);
            break;
        }
    }
    Ok(rec)
}

/// One record from the start of `b`, and its length.
fn read_record(b: &[u8]) -> Result<(JournalRecord, usize), String> {
    let head = b.get(..8).ok_or("truncated record header")?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if !(BODY_HEAD + 1..=MAX_BODY).contains(&len) {
        return Err(format!("impossible record length {len}"));
    }
    let body = b.get(8..8 + len).ok_or("truncated record body")?;
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch".into());
    }
    let seq = u64::from_le_bytes(body[0..8].try_into().map_err(|_| "seq")?);
    let source = u64::from_le_bytes(body[8..16].try_into().map_err(|_| "source")?);
    let input = codec::decode(&body[BODY_HEAD..]).map_err(|e| format!("undecodable record: {e}"))?;
    Ok((JournalRecord { seq, source, input }, 8 + len))
}
