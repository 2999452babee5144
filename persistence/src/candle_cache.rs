//! The columnar file cache of imported bars: one file per symbol and timeframe under the cache
//! directory (`<dir>/<timeframe>/<SYMBOL>.bars`), holding each field of the series as one
//! contiguous column. The SQL store (`history_candles`) is the record; the cache is a copy a
//! backtest reads in one `read` and a few linear passes instead of a query per symbol, written
//! by `dalal data import` after every import and rebuilt from the store whenever it disagrees
//! with it (its bar count and latest import time are in the header).
//!
//! # Layout (version 1, all integers little-endian)
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `DALALBAR` |
//! | 4 | version (1) |
//! | 4 + n | symbol: length `n` (u32), UTF-8 |
//! | 4 + m | timeframe: length `m` (u32), UTF-8 (`1m`, `1d`, …) |
//! | 8 | rows `r` (u64) |
//! | 8 | imported_ns (i64): the store's latest import of these bars when the file was written |
//! | 7 × 8r | columns of i64: start_ns, open, high, low, close (paise), volume, oi (`i64::MIN` = none) |
//! | 4 | CRC-32 of every byte before it |
//!
//! A dependency such as Parquet would bring a large build for seven fixed-width columns; this
//! layout is read with no decoding beyond `from_le_bytes`, and a torn or altered file is caught
//! by its length and checksum and simply rebuilt from the store.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::store::HistoryBar;

const MAGIC: &[u8; 8] = b"DALALBAR";
const VERSION: u32 = 1;
const COLUMNS: usize = 7;
const NO_OI: i64 = i64::MIN;

/// What can go wrong reading or writing the cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a bar cache file ({why}); it is rebuilt from the store")]
    Corrupt { path: PathBuf, why: &'static str },
    #[error("{0:?} cannot name a cache file")]
    BadName(String),
}

/// One symbol's bars of one timeframe, field by field, in time order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BarColumns {
    pub symbol: String,
    pub timeframe: String,
    /// The store's latest import of these bars (to tell a stale copy).
    pub imported_ns: i64,
    pub start_ns: Vec<i64>,
    pub open: Vec<i64>,
    pub high: Vec<i64>,
    pub low: Vec<i64>,
    pub close: Vec<i64>,
    pub volume: Vec<i64>,
    pub oi: Vec<Option<i64>>,
}

impl BarColumns {
    /// The columns of `bars` (one symbol and timeframe, in time order, as the store returns them).
    pub fn from_bars(symbol: &str, timeframe: &str, imported_ns: i64, bars: &[HistoryBar]) -> BarColumns {
        let col = |f: fn(&HistoryBar) -> i64| bars.iter().map(f).collect::<Vec<_>>();
        BarColumns {
            symbol: symbol.to_string(),
            timeframe: timeframe.to_string(),
            imported_ns,
            start_ns: col(|b| b.start_ns),
            open: col(|b| b.open),
            high: col(|b| b.high),
            low: col(|b| b.low),
            close: col(|b| b.close),
            volume: col(|b| b.volume),
            oi: bars.iter().map(|b| b.oi).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.start_ns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.start_ns.is_empty()
    }

    /// Bar `i` as the store keeps it.
    pub fn bar(&self, i: usize) -> Option<HistoryBar> {
        Some(HistoryBar {
            symbol: self.symbol.clone(),
            timeframe: self.timeframe.clone(),
            start_ns: *self.start_ns.get(i)?,
            open: *self.open.get(i)?,
            high: *self.high.get(i)?,
            low: *self.low.get(i)?,
            close: *self.close.get(i)?,
            volume: *self.volume.get(i)?,
            oi: *self.oi.get(i)?,
        })
    }

    /// The indices of the bars starting in `[from_ns, to_ns]` (the starts are sorted).
    pub fn range(&self, from_ns: i64, to_ns: i64) -> std::ops::Range<usize> {
        let a = self.start_ns.partition_point(|&t| t < from_ns);
        let b = self.start_ns.partition_point(|&t| t <= to_ns);
        a..b.max(a)
    }

    fn encode(&self) -> Vec<u8> {
        let r = self.len();
        let mut out = Vec::with_capacity(48 + self.symbol.len() + self.timeframe.len() + COLUMNS * 8 * r);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        for s in [&self.symbol, &self.timeframe] {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(&(r as u64).to_le_bytes());
        out.extend_from_slice(&self.imported_ns.to_le_bytes());
        for col in [&self.start_ns, &self.open, &self.high, &self.low, &self.close, &self.volume] {
            for v in col {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        for v in &self.oi {
            out.extend_from_slice(&v.unwrap_or(NO_OI).to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<BarColumns, &'static str> {
        let body_len = bytes.len().checked_sub(4).ok_or("too short")?;
        let (body, crc) = bytes.split_at(body_len);
        if body.get(..8) != Some(MAGIC.as_slice()) {
            return Err("no DALALBAR magic");
        }
        let mut at = 8usize;
        let mut take = |n: usize| -> Result<&[u8], &'static str> {
            let s = body.get(at..at.checked_add(n).ok_or("too short")?).ok_or("too short")?;
            at += n;
            Ok(s)
        };
        let u32_at = |s: &[u8]| s.try_into().map(u32::from_le_bytes).map_err(|_| "too short");
        if u32_at(take(4)?)? != VERSION {
            return Err("unknown version");
        }
        let mut text = || -> Result<String, &'static str> {
            let n = u32_at(take(4)?)? as usize;
            String::from_utf8(take(n)?.to_vec()).map_err(|_| "a name that is not UTF-8")
        };
        let symbol = text()?;
        let timeframe = text()?;
        let mut word =
            || -> Result<i64, &'static str> { take(8)?.try_into().map(i64::from_le_bytes).map_err(|_| "too short") };
        let rows = usize::try_from(word()?).map_err(|_| "impossible row count")?;
        let imported_ns = word()?;
        let need = rows.checked_mul(COLUMNS * 8).ok_or("impossible row count")?;
        if body.len() - at != need {
            return Err("length does not match its row count");
        }
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err("checksum mismatch");
        }
        let columns = &body[at..];
        let col = |k: usize| -> Vec<i64> {
            columns[k * rows * 8..(k + 1) * rows * 8]
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect()
        };
        let c = BarColumns {
            symbol,
            timeframe,
            imported_ns,
            start_ns: col(0),
            open: col(1),
            high: col(2),
            low: col(3),
            close: col(4),
            volume: col(5),
            oi: col(6).into_iter().map(|v| (v != NO_OI).then_some(v)).collect(),
        };
        if c.start_ns.windows(2).any(|w| w[0] >= w[1]) {
            return Err("bars out of time order");
        }
        Ok(c)
    }
}

/// The cache directory.
#[derive(Clone, Debug)]
pub struct CandleCache {
    dir: PathBuf,
}

/// A symbol or timeframe as a file name: letters, digits and `-_&` as they are, every other
/// byte as `%XX`, so `M&M`, `BAJAJ-AUTO` and anything a source sends stay one safe name.
fn file_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'&') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl CandleCache {
    pub fn new(dir: impl Into<PathBuf>) -> CandleCache {
        CandleCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the bars of `symbol` at `timeframe` are kept.
    pub fn path(&self, symbol: &str, timeframe: &str) -> Result<PathBuf, CacheError> {
        if symbol.is_empty() || timeframe.is_empty() {
            return Err(CacheError::BadName(format!("{symbol}/{timeframe}")));
        }
        Ok(self.dir.join(file_name(timeframe)).join(format!("{}.bars", file_name(symbol))))
    }

    /// Writes the series whole or not at all: into a temporary file beside it, then renamed over it.
    pub fn write(&self, c: &BarColumns) -> Result<PathBuf, CacheError> {
        let path = self.path(&c.symbol, &c.timeframe)?;
        let io = |source| CacheError::Io { path: path.clone(), source };
        let dir = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        tmp.write_all(&c.encode()).and_then(|()| tmp.as_file().sync_all()).map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(path)
    }

    /// The series, or `None` when it is not cached.
    pub fn read(&self, symbol: &str, timeframe: &str) -> Result<Option<BarColumns>, CacheError> {
        let path = self.path(symbol, timeframe)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CacheError::Io { path, source }),
        };
        let c = BarColumns::decode(&bytes).map_err(|why| CacheError::Corrupt { path: path.clone(), why })?;
        if c.symbol != symbol || c.timeframe != timeframe {
            return Err(CacheError::Corrupt { path, why: "it holds another series" });
        }
        Ok(Some(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(n: usize) -> Vec<HistoryBar> {
        (0..n)
            .map(|i| {
                let i = i as i64;
                HistoryBar {
                    symbol: "M&M".into(),
                    timeframe: "1d".into(),
                    start_ns: 1_767_584_700_000_000_000 + i * 86_400_000_000_000,
                    open: 300_000 + i,
                    high: 301_000 + i,
                    low: 299_000 + i,
                    close: 300_500 + i,
                    volume: 10_000 + i,
                    oi: (i % 2 == 0).then_some(i * 7),
                }
            })
            .collect()
    }

    #[test]
    fn a_series_comes_back_exactly_and_by_range() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = CandleCache::new(dir.path());
        let b = bars(50);
        let c = BarColumns::from_bars("M&M", "1d", 42, &b);
        let path = cache.write(&c).expect("write");
        assert!(path.ends_with("1d/M&M.bars"), "{}", path.display());
        let back = cache.read("M&M", "1d").expect("read").expect("cached");
        assert_eq!(back, c);
        assert_eq!((0..back.len()).filter_map(|i| back.bar(i)).collect::<Vec<_>>(), b);
        assert_eq!(back.range(b[10].start_ns, b[19].start_ns), 10..20);
        assert_eq!(back.range(b[10].start_ns + 1, b[19].start_ns - 1), 11..19);
        assert_eq!(back.range(i64::MIN, i64::MAX), 0..50);
        assert_eq!(back.range(b[49].start_ns + 1, i64::MAX), 50..50);
        assert!(cache.read("TCS", "1d").expect("read").is_none());
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| !e.file_name().to_string_lossy().ends_with(".bars"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn damaged_files_are_refused_not_misread() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = CandleCache::new(dir.path());
        let path = cache.write(&BarColumns::from_bars("TCS", "1m", 7, &bars(8))).expect("write");
        let good = std::fs::read(&path).expect("bytes");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (good[..good.len() - 9].to_vec(), ""),
            (
                {
                    let mut b = good.clone();
                    b[100] ^= 1;
                    b
                },
                "checksum",
            ),
            (b"not a cache file at all".to_vec(), "magic"),
            (Vec::new(), "too short"),
        ];
        for (bytes, why) in cases {
            std::fs::write(&path, &bytes).expect("write");
            let err = cache.read("TCS", "1m").expect_err("refused");
            assert!(matches!(err, CacheError::Corrupt { .. }), "{err}");
            assert!(err.to_string().contains(why), "{err}");
        }
        // A file renamed onto another series' name is not that series.
        std::fs::write(&path, &good).expect("write");
        let other = cache.path("INFY", "1m").expect("path");
        std::fs::copy(&path, &other).expect("copy");
        assert!(cache.read("INFY", "1m").is_err());
    }

    #[test]
    fn names_stay_inside_the_directory() {
        let cache = CandleCache::new("/c");
        assert_eq!(cache.path("BAJAJ-AUTO", "5m").expect("p"), Path::new("/c/5m/BAJAJ-AUTO.bars"));
        assert_eq!(cache.path("../x", "1d").expect("p"), Path::new("/c/1d/%2E%2E%2Fx.bars"));
        assert!(cache.path("", "1d").is_err());
    }
}
