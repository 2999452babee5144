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
    /// Later segments discarded (always 0: only the last segment can have a torn tail).
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

/// Reads every record in order. Only the end of the journal may be damaged — the last
/// record of the last segment, torn by a crash (short, zero-filled, or failing its checksum
/// where it ends the file); it ends the journal there and, with `repair`, is cut off so
/// appending can resume. Damage anywhere else, a sequence number out of line, or a missing
/// first segment is corruption: an error naming the segment, the byte offset and the last
/// good sequence number, never a silently shorter history ([`salvage_journal`] reads what
/// precedes it).
pub fn read_journal(dir: &Path, repair: bool) -> Result<Recovery, JournalError> {
    let (rec, corrupt) = scan(dir, repair)?;
    match corrupt {
        Some(c) => Err(c),
        None => Ok(rec),
    }
}

/// Everything before the first damage, whatever it is (read-only): what `dalal replay
/// --salvage` replays. The damage, if any, comes back as the error [`read_journal`] would give.
pub fn salvage_journal(dir: &Path) -> Result<(Recovery, Option<JournalError>), JournalError> {
    scan(dir, false)
}

fn scan(dir: &Path, repair: bool) -> Result<(Recovery, Option<JournalError>), JournalError> {
    let segs = segments(dir)?;
    let mut rec = Recovery { segments: segs.len(), ..Default::default() };
    let mut expect = 1u64;
    for (k, (first, path)) in segs.iter().enumerate() {
        let data = std::fs::read(path).map_err(|source| JournalError::Io { path: path.clone(), source })?;
        let last_segment = k + 1 == segs.len();
        let mut at = 0usize;
        let corrupt = |at: usize, reason: String, last: u64| JournalError::Corrupt {
            segment: path.clone(),
            offset: at as u64,
            last_seq: last,
            reason,
        };
        if *first != expect && !data.is_empty() {
            let reason =
                format!("the segment is named for sequence {first} where {expect} was expected (a segment is missing)");
            return Ok((rec, Some(corrupt(0, reason, expect - 1))));
        }
        while at < data.len() {
            match read_record(&data[at..]) {
                Ok((r, used)) => {
                    if r.seq != expect {
                        let reason = format!("sequence {} where {expect} was expected", r.seq);
                        return Ok((rec, Some(corrupt(at, reason, expect - 1))));
                    }
                    expect += 1;
                    rec.records.push(r);
                    at += used;
                }
                Err(why) if last_segment && torn(&data[at..]) => {
                    let t = Truncation {
                        segment: path.clone(),
                        offset: at as u64,
                        bytes: (data.len() - at) as u64,
                        reason: why,
                        dropped_segments: 0,
                    };
                    tracing::warn!(segment = %t.segment.display(), offset = t.offset, bytes = t.bytes, reason = %t.reason, "journal tail is torn");
                    if repair {
                        let io = |source| JournalError::Io { path: path.clone(), source };
                        let f = std::fs::OpenOptions::new().write(true).open(path).map_err(io)?;
                        f.set_len(at as u64).map_err(|source| JournalError::Io { path: path.clone(), source })?;
                        f.sync_all().map_err(|source| JournalError::Io { path: path.clone(), source })?;
                    }
                    rec.truncated = Some(t);
                    break;
                }
                Err(why) => return Ok((rec, Some(corrupt(at, why, expect - 1)))),
            }
        }
        rec.last_segment = Some(path.clone());
    }
    Ok((rec, None))
}

/// Whether the bytes from a bad record to the end of the last segment look like a write a
/// crash cut short: a header or body that runs past the end, a record that fails its checksum
/// and ends exactly at the end (the last write, half on disk), or nothing but zeros (space a
/// file system extended and never filled).
fn torn(rest: &[u8]) -> bool {
    if rest.iter().all(|b| *b == 0) {
        return true;
    }
    let Some(head) = rest.get(..8) else { return true };
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if !(BODY_HEAD + 1..=MAX_BODY).contains(&len) {
        return false;
    }
    match rest.get(8..8 + len) {
        None => true,
        Some(body) => {
            let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            8 + len == rest.len() && crc32fast::hash(body) != crc
        }
    }
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
