//! A tick file (CSV or binary) replayed as a live feed, in event time: at full speed, in real
//! time, or at a multiple of it. Timers come from the file's own clock (one per second of
//! trading), never from the wall clock, so a replay gives exactly a backtest's results. After a
//! recovery the records up to the last journaled one are skipped (only their clock is followed).

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dalal_core::engine::placement::IngressPublisher;
use dalal_core::model::time::NANOS_PER_SEC;
use dalal_core::model::{Input, Tick, TickReject, Timestamp};

use super::{pause, FeedPoll, FeedReport, FeedSource};
use crate::binary_ticks::{BinTickFile, BinTickStream};
use crate::csv_ticks::{open_ticks, CsvTickStream, RejectCounts};
use crate::replay::{ReplayClock, ReplaySpeed};
use crate::symbols::SymbolTable;
use crate::tick_files::{detect_format, TickFileError, TickFileFormat};

enum Records {
    Csv(CsvTickStream<BufReader<std::fs::File>, Arc<SymbolTable>>),
    Bin(BinTickStream),
}

/// Refused records logged in detail before only counting them.
const LOGGED_REJECTS: u64 = 10;

pub struct TickFileSource {
    path: PathBuf,
    records: Records,
    replay: ReplayClock,
    /// Records up to this one (1-based) were journaled before a restart: follow, do not publish.
    resume_after: u64,
    /// Records taken from the file so far (1-based position of the last).
    index: u64,
    last_second: i64,
    /// A tick read but not yet due.
    pending: Option<Tick>,
    rejects: RejectCounts,
    published: u64,
    done: bool,
}

impl TickFileSource {
    /// Opens `path` (format from its content) for replay at `speed`, resolving symbols with
    /// `symbols`; records `1..=resume_after` are skipped.
    pub fn open(
        path: &Path,
        symbols: Arc<SymbolTable>,
        speed: ReplaySpeed,
        resume_after: u64,
    ) -> Result<TickFileSource, TickFileError> {
        let records = match detect_format(path)? {
            TickFileFormat::Binary => Records::Bin(BinTickFile::open(path)?.into_ticks(&symbols)),
            TickFileFormat::Csv => Records::Csv(open_ticks(path, symbols)?),
        };
        Ok(TickFileSource {
            path: path.to_path_buf(),
            records,
            replay: ReplayClock::new(speed),
            resume_after,
            index: 0,
            last_second: i64::MIN,
            pending: None,
            rejects: RejectCounts::default(),
            published: 0,
            done: false,
        })
    }

    /// The next good tick, counting refused records on the way; `None` at the end.
    fn next_tick(&mut self) -> Option<Tick> {
        loop {
            let item = match &mut self.records {
                Records::Csv(s) => {
                    s.next().map(|r| r.map_err(|e| (e.reason, format!("line {}: {}", e.line, e.detail))))
                }
                Records::Bin(s) => s.next().map(|r| r.map_err(|(reason, i)| (reason, format!("record {i}")))),
            };
            match item? {
                Ok(t) => return Some(t),
                Err((reason, at)) => {
                    if self.rejects.total() < LOGGED_REJECTS {
                        tracing::warn!(file = %self.path.display(), at, reason = reason.as_str(), "tick refused");
                    }
                    self.rejects.add(reason);
                }
            }
        }
    }

    /// Publishes `t`, preceded by a timer when it opens a new second of file time.
    fn publish(&mut self, t: Tick, out: &mut IngressPublisher) -> usize {
        let second = t.ts.0.div_euclid(NANOS_PER_SEC);
        let mut n = 1;
        if second > self.last_second {
            if self.last_second != i64::MIN {
                out.publish(Input::Timer(Timestamp(second * NANOS_PER_SEC)), 0);
                n += 1;
            }
            self.last_second = second;
        }
        out.publish(Input::Tick(t), self.index);
        n
    }
}

impl FeedSource for TickFileSource {
    fn name(&self) -> String {
        let kind = match self.records {
            Records::Csv(_) => "csv",
            Records::Bin(_) => "bin",
        };
        format!("{kind}:{}", self.path.display())
    }

    fn poll(&mut self, out: &mut IngressPublisher, room: usize, wait: Duration) -> FeedPoll {
        if self.done {
            return FeedPoll::Done;
        }
        let mut n = 0;
        while n + 2 <= room.max(2) {
            let t = match self.pending.take() {
                Some(t) => t,
                None => {
                    let Some(t) = self.next_tick() else {
                        self.done = true;
                        break;
                    };
                    self.index += 1;
                    if self.index <= self.resume_after {
                        self.last_second = t.ts.0.div_euclid(NANOS_PER_SEC);
                        continue;
                    }
                    t
                }
            };
            match self.replay.try_release(t.ts) {
                Ok(_) => n += self.publish(t, out),
                Err(ahead) => {
                    self.pending = Some(t);
                    if n == 0 && !wait.is_zero() {
                        pause(ahead.min(wait));
                        continue;
                    }
                    break;
                }
            }
        }
        self.published += n as u64;
        match (n, self.done) {
            (0, true) => FeedPoll::Done,
            (0, false) => FeedPoll::Idle,
            (n, _) => FeedPoll::Published(n),
        }
    }

    fn report(&self) -> FeedReport {
        let (gaps, duplicates, error) = match &self.records {
            Records::Bin(s) => {
                let st = s.stats();
                (st.gaps, st.duplicates, None)
            }
            Records::Csv(s) => (0, 0, s.io_error().map(|e| e.to_string())),
        };
        let mut rejects = self.rejects;
        // Counted as a backtest counts them, so a replay's summary equals one.
        rejects.add_n(TickReject::DuplicateSequence, duplicates);
        FeedReport {
            name: self.name(),
            published: self.published,
            received: self.index,
            rejects,
            gaps,
            gap_events: 0,
            duplicates,
            last_seq: self.index,
            error,
        }
    }
}
