//! Appending to the journal.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dalal_core::engine::placement::{IngressConsumer, JournalCounts};
use dalal_core::model::{IngressEvent, Input};

use super::reader::{read_journal, Recovery};
use super::{codec, segment_name, JournalError, BODY_HEAD, SEGMENT_BYTES};

/// When appended records are forced to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Leave it to the OS (survives a process crash, not a power cut).
    Never,
    /// At most this long after a record was written.
    EveryMs(u64),
    /// After every batch the ring hands over.
    EveryBatch,
}

impl FsyncPolicy {
    /// `none`, `batch`, or a number of milliseconds such as `10ms`.
    pub fn parse(s: &str) -> Option<FsyncPolicy> {
        match s {
            "none" | "never" => Some(FsyncPolicy::Never),
            "batch" => Some(FsyncPolicy::EveryBatch),
            _ => s.strip_suffix("ms").and_then(|n| n.parse().ok()).map(FsyncPolicy::EveryMs),
        }
    }
}

/// What the writer has done, for summaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    pub appended: u64,
    pub bytes: u64,
    pub syncs: u64,
    pub errors: u64,
    pub last_seq: u64,
}

pub struct JournalWriter {
    /// The directory's lock, held for as long as this writer lives.
    _lock: File,
    dir: PathBuf,
    path: PathBuf,
    file: BufWriter<File>,
    segment_bytes: u64,
    next_seq: u64,
    policy: FsyncPolicy,
    last_sync: Instant,
    dirty: bool,
    buf: Vec<u8>,
    pub stats: JournalStats,
}

impl JournalWriter {
    /// Opens (creating) a journal directory: reads and repairs what is there, and positions
    /// the writer after the last good record. Returns what was recovered.
    pub fn open(dir: &Path, policy: FsyncPolicy) -> Result<(JournalWriter, Recovery), JournalError> {
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| JournalError::Io { path: p, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock = lock(dir)?;
        let recovery = read_journal(dir, true)?;
        let next_seq = recovery.records.last().map(|r| r.seq + 1).unwrap_or(1);
        let (path, size) = match recovery.last_segment.clone() {
            Some(p) => {
                let size = std::fs::metadata(&p).map_err(io(&p))?.len();
                (p, size)
            }
            None => (dir.join(segment_name(next_seq)), 0),
        };
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
        let w = JournalWriter {
            _lock: lock,
            dir: dir.to_path_buf(),
            path,
            file: BufWriter::with_capacity(1 << 20, file),
            segment_bytes: size,
            next_seq,
            policy,
            last_sync: Instant::now(),
            dirty: false,
            buf: Vec::with_capacity(256),
            stats: JournalStats { last_seq: next_seq - 1, ..Default::default() },
        };
        Ok((w, recovery))
    }

    /// The sequence number the next appended event gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Appends one event; returns its sequence number (None for an empty slot).
    pub fn append(&mut self, source: u64, input: &Input) -> Result<Option<u64>, JournalError> {
        self.buf.clear();
        self.buf.extend_from_slice(&[0u8; 8]);
        self.buf.extend_from_slice(&self.next_seq.to_le_bytes());
        self.buf.extend_from_slice(&source.to_le_bytes());
        if !codec::encode(input, &mut self.buf) {
            return Ok(None);
        }
        let body_len = self.buf.len() - 8;
        debug_assert!(body_len >= BODY_HEAD);
        let crc = crc32fast::hash(&self.buf[8..]);
        self.buf[0..4].copy_from_slice(&(body_len as u32).to_le_bytes());
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
        if self.segment_bytes >= SEGMENT_BYTES {
            self.roll()?;
        }
        let path = self.path.clone();
        self.file.write_all(&self.buf).map_err(|source| JournalError::Io { path, source })?;
        self.segment_bytes += self.buf.len() as u64;
        self.stats.bytes += self.buf.len() as u64;
        self.stats.appended += 1;
        self.stats.last_seq = self.next_seq;
        self.dirty = true;
        self.next_seq += 1;
        Ok(Some(self.next_seq - 1))
    }

    /// Ends a batch: hands the bytes to the OS and syncs as the policy says.
    pub fn end_batch(&mut self) -> Result<(), JournalError> {
        if !self.dirty {
            return Ok(());
        }
        let path = self.path.clone();
        self.file.flush().map_err(|source| JournalError::Io { path: path.clone(), source })?;
        let sync = match self.policy {
            FsyncPolicy::Never => false,
            FsyncPolicy::EveryBatch => true,
            FsyncPolicy::EveryMs(ms) => self.last_sync.elapsed() >= Duration::from_millis(ms),
        };
        if sync {
            self.file.get_ref().sync_data().map_err(|source| JournalError::Io { path, source })?;
            self.last_sync = Instant::now();
            self.stats.syncs += 1;
        }
        self.dirty = false;
        Ok(())
    }

    fn roll(&mut self) -> Result<(), JournalError> {
        let path = self.path.clone();
        self.file.flush().map_err(|source| JournalError::Io { path: path.clone(), source })?;
        self.file.get_ref().sync_data().map_err(|source| JournalError::Io { path, source })?;
        self.path = self.dir.join(segment_name(self.next_seq));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|source| JournalError::Io { path: self.path.clone(), source })?;
        self.file = BufWriter::with_capacity(1 << 20, file);
        self.segment_bytes = 0;
        Ok(())
    }
}

/// Takes the directory's exclusive lock (`DIR/LOCK`, holding the owner's pid), or names the
/// process that has it. The lock is the operating system's (`flock`), so it dies with its
/// process: a lock file left by a killed owner is simply locked again.
fn lock(dir: &Path) -> Result<File, JournalError> {
    let path = dir.join("LOCK");
    let io = |source| JournalError::Io { path: path.clone(), source };
    let mut f = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).map(|p| p.trim().to_string()).unwrap_or_default();
            let pid = if pid.is_empty() { "unknown".into() } else { pid };
            return Err(JournalError::Locked { dir: dir.to_path_buf(), lock: path, pid });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    f.set_len(0).map_err(io)?;
    f.write_all(format!("{}\n", std::process::id()).as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(f)
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        let _ = self.file.flush();
        let _ = self.file.get_ref().sync_data();
    }
}

/// The journal as a consumer of the ingress ring. A write error is logged and counted; the
/// engine keeps trading (the operator sees the error count in the summary and metrics).
pub struct JournalConsumer {
    pub writer: JournalWriter,
    reported: bool,
}

impl JournalConsumer {
    pub fn new(writer: JournalWriter) -> Self {
        JournalConsumer { writer, reported: false }
    }

    fn failed(&mut self, e: JournalError) {
        self.writer.stats.errors += 1;
        if !self.reported {
            self.reported = true;
            tracing::error!(error = %e, "journal write failed; events are no longer being journaled reliably");
        }
    }
}

impl IngressConsumer for JournalConsumer {
    fn on_event(&mut self, ev: &IngressEvent) {
        if let Err(e) = self.writer.append(ev.source, &ev.input) {
            self.failed(e);
        }
    }

    fn end_batch(&mut self) {
        if let Err(e) = self.writer.end_batch() {
            self.failed(e);
        }
    }

    fn journal_stats(&self) -> Option<JournalCounts> {
        let s = self.writer.stats;
        Some(JournalCounts {
            appended: s.appended,
            bytes: s.bytes,
            syncs: s.syncs,
            errors: s.errors,
            last_seq: s.last_seq,
        })
    }
}
