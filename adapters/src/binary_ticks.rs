//! Tick files in a compact binary form, for replay at memory speed.
//!
//! CSV is the exchange format people read and tools write; parsing it costs far more than
//! reading a trade print should. A binary tick file holds the same ticks as fixed-size
//! little-endian records behind a self-describing header, so a replay maps the file and reads
//! each record with a handful of loads: no text parsing, no allocation per record.
//!
//! # Layout (version 1, all integers little-endian)
//!
//! Header:
//!
//! | offset        | size | field          | meaning                                               |
//! |---------------|------|----------------|-------------------------------------------------------|
//! | 0             | 8    | magic          | `b"DALALTK1"`                                         |
//! | 8             | 4    | version: u32   | format version, `1`                                   |
//! | 12            | 4    | record_size: u32 | bytes per record, `32`                              |
//! | 16            | 8    | count: u64     | number of records                                     |
//! | 24            | 4    | symbols: u32   | number of symbol-table entries                        |
//! | 28            | …    | symbol table   | `symbols` entries, each: id u32, len u16, `len` bytes of UTF-8 |
//! | …             | …    | padding        | zero bytes up to the next multiple of 64              |
//! | data_offset   | 32 × count | records  | see below; the file ends right after the last one    |
//!
//! The symbol table makes a file self-describing: record ids are the *file's* ids, which are
//! resolved by name against the engine's [`SymbolTable`] at load, so a file stays valid when
//! the instrument universe is renumbered. Ids and names are unique within a file. The writer
//! lists only the symbols its ticks use, with the engine ids current at write time. A name
//! is non-empty UTF-8 without commas or control characters, so it always fits a CSV field.
//!
//! Record (32 bytes, [`RawRecord`], `#[repr(C)]` with no padding):
//!
//! | offset | size | field              | meaning                                           |
//! |--------|------|--------------------|---------------------------------------------------|
//! | 0      | 8    | ts_ns: i64         | nanoseconds since the Unix epoch                  |
//! | 8      | 8    | price_paise: i64   | trade price in paise                              |
//! | 16     | 8    | qty: u64           | traded quantity                                   |
//! | 24     | 4    | symbol_id: u32     | id from the file's symbol table                   |
//! | 28     | 4    | seq: u32           | sequence number, 1, 2, 3 … within the file        |
//!
//! The sequence number lets a reader detect a record that was copied twice (a number not
//! above the previous one: dropped and counted as a duplicate) and records that went missing
//! (a jump: counted as a gap, the record itself is kept).
//!
//! # Trust
//!
//! A file is input like any other: [`BinTickFile::open`] validates the whole header before
//! reading anything and refuses a file whose header is wrong with a precise [`BinError`]; a
//! bad *record* (unknown symbol, non-positive price, zero quantity) is counted and skipped as
//! a [`TickReject`], exactly as a bad CSV line is. Nothing here panics on any input bytes.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use dalal_core::model::{InstrumentId, Price, Qty, Timestamp};
use dalal_core::model::{Tick, TickReject};

use crate::csv_ticks::{load_ticks, FeedError, LoadedTicks, RejectCounts, HEADER, SAMPLE_LIMIT};
use crate::symbols::SymbolTable;

/// First eight bytes of every binary tick file.
pub const MAGIC: [u8; 8] = *b"DALALTK1";
/// The only format version this reader understands.
pub const VERSION: u32 = 1;
/// Bytes per record in version 1.
pub const RECORD_SIZE: usize = 32;
/// Bytes of the header before the symbol table (magic, version, record size, count, symbols).
pub const FIXED_HEADER_LEN: usize = 28;
/// Records start at a multiple of this, so a mapped file's records are cache-line aligned.
pub const DATA_ALIGN: usize = 64;
/// Bytes of one symbol-table entry besides the name (id u32, length u16).
const SYMBOL_ENTRY_FIXED: usize = 6;

/// Why a binary tick file cannot be read at all. Offsets are byte offsets into the file.
#[derive(Debug, thiserror::Error)]
pub enum BinError {
    #[error("cannot read binary tick file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("file is {len} bytes, shorter than the {FIXED_HEADER_LEN}-byte header")]
    TooShort { len: u64 },
    #[error("not a binary tick file: magic is {found:02x?}, expected {MAGIC:02x?} (\"DALALTK1\")")]
    BadMagic { found: [u8; 8] },
    #[error("unsupported binary tick file version {found}, this reader understands only {VERSION}")]
    UnsupportedVersion { found: u32 },
    #[error("record size is {found} bytes, version {VERSION} records are {RECORD_SIZE}")]
    BadRecordSize { found: u32 },
    #[error("symbol table entry {index} at offset {offset} runs past the end of the file ({file_len} bytes)")]
    SymbolTableOverrun { index: u32, offset: u64, file_len: u64 },
    #[error("symbol table entry {index} (id {id}) has an empty name")]
    EmptySymbol { index: u32, id: u32 },
    #[error("symbol table entry {index} (id {id}) is not UTF-8")]
    SymbolNotUtf8 { index: u32, id: u32 },
    #[error("symbol table entry {index} (id {id}) {symbol:?} contains a comma or a control character")]
    BadSymbolChar { index: u32, id: u32, symbol: String },
    #[error("symbol id {id} is listed twice in the symbol table")]
    DuplicateSymbolId { id: u32 },
    #[error("symbol {symbol:?} is listed twice in the symbol table")]
    DuplicateSymbolName { symbol: String },
    #[error("header padding byte at offset {offset} is not zero")]
    NonZeroPadding { offset: u64 },
    #[error("header promises {count} records ending at byte {expected_len}, but the file is {file_len} bytes")]
    Truncated { count: u64, expected_len: u64, file_len: u64 },
    #[error("{count} records end at byte {expected_len}, but the file goes on to {file_len} bytes")]
    TrailingBytes { count: u64, expected_len: u64, file_len: u64 },
}

/// Why a conversion between CSV and binary tick files failed. Bad lines and records are not
/// errors: they are counted in [`ConvertStats`].
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Csv(#[from] FeedError),
    #[error(transparent)]
    Bin(#[from] BinError),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// One record exactly as stored, before any validation or symbol resolution.
///
/// `#[repr(C)]` with the fields in file order and no padding, so its in-memory layout is the
/// file layout on a little-endian machine. The reader never relies on that (it decodes with
/// `from_le_bytes`, which compiles to plain loads), it only documents the format.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RawRecord {
    pub ts_ns: i64,
    pub price_paise: i64,
    pub qty: u64,
    /// Id from the file's own symbol table, not an engine id.
    pub symbol_id: u32,
    pub seq: u32,
}

const _: () = assert!(std::mem::size_of::<RawRecord>() == RECORD_SIZE);

impl RawRecord {
    /// Decodes one record from exactly [`RECORD_SIZE`] bytes.
    #[inline(always)]
    pub fn decode(b: &[u8; RECORD_SIZE]) -> RawRecord {
        RawRecord {
            ts_ns: i64::from_le_bytes(field(b, 0)),
            price_paise: i64::from_le_bytes(field(b, 8)),
            qty: u64::from_le_bytes(field(b, 16)),
            symbol_id: u32::from_le_bytes(field(b, 24)),
            seq: u32::from_le_bytes(field(b, 28)),
        }
    }

    /// The record's file bytes.
    #[inline]
    pub fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut b = [0u8; RECORD_SIZE];
        b[0..8].copy_from_slice(&self.ts_ns.to_le_bytes());
        b[8..16].copy_from_slice(&self.price_paise.to_le_bytes());
        b[16..24].copy_from_slice(&self.qty.to_le_bytes());
        b[24..28].copy_from_slice(&self.symbol_id.to_le_bytes());
        b[28..32].copy_from_slice(&self.seq.to_le_bytes());
        b
    }
}

/// `N` bytes of a record at a constant offset. The bounds are constants, so after inlining
/// the copy is a single load and the fallback is never taken.
#[inline(always)]
fn field<const N: usize>(b: &[u8; RECORD_SIZE], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = b.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

/// One entry of a file's own symbol table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSymbol {
    /// The id records use for this symbol in this file.
    pub id: u32,
    pub symbol: String,
}

/// What a load or a stream dropped besides rejects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BinLoadStats {
    /// Records read, duplicates included.
    pub records: u64,
    /// Records whose sequence number was not above the previous record's; dropped.
    pub duplicates: u64,
    /// Sequence numbers skipped between consecutive records (records that went missing
    /// before the file was written); the records around a gap are kept.
    pub gaps: u64,
}

/// Where a validated file's bytes live.
enum Backing {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

/// A validated binary tick file, memory-mapped (or held in memory by
/// [`BinTickFile::from_bytes`]). Records are read in place.
pub struct BinTickFile {
    backing: Backing,
    symbols: Vec<FileSymbol>,
    data_offset: usize,
    count: usize,
}

impl fmt::Debug for BinTickFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BinTickFile")
            .field("mapped", &matches!(self.backing, Backing::Mapped(_)))
            .field("records", &self.count)
            .field("symbols", &self.symbols.len())
            .field("data_offset", &self.data_offset)
            .finish()
    }
}

/// The header fields a validated file yields.
struct Header {
    symbols: Vec<FileSymbol>,
    data_offset: usize,
    count: usize,
}

impl BinTickFile {
    /// Maps `path` and validates its header.
    ///
    /// The mapping is shared with the page cache, so opening is O(header) and a replay reads
    /// straight from the cached pages; the kernel is told the access is sequential so it
    /// reads ahead aggressively.
    pub fn open(path: impl AsRef<Path>) -> Result<BinTickFile, BinError> {
        let path = path.as_ref();
        let io_err = |source| BinError::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        if len < FIXED_HEADER_LEN as u64 {
            // Too short to be anything; also avoids mapping an empty file, which mmap refuses.
            return Err(BinError::TooShort { len });
        }
        // SAFETY: `Mmap::map` is unsafe because the mapped bytes can change (or vanish) if
        // another process writes or truncates the file while it is mapped. Tick files are
        // written once and then only read, and the reader treats every byte as untrusted
        // input (the header is validated, each record is checked), so changed contents can
        // at worst produce rejects, never out-of-bounds access: all indexing is checked
        // against the length validated here. Truncating a mapped file under a running
        // replay raises SIGBUS on access, as with any mapped file; that is an operator
        // error this module cannot detect.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err)?;
        #[cfg(unix)]
        {
            // Only a hint: a kernel that refuses it reads the file just the same.
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        let header = parse_header(&map)?;
        Ok(BinTickFile::with(Backing::Mapped(map), header))
    }

    /// Validates a file image already in memory (tests, fuzzing, files received over the
    /// wire). Runs exactly the checks [`BinTickFile::open`] runs.
    pub fn from_bytes(bytes: &[u8]) -> Result<BinTickFile, BinError> {
        let header = parse_header(bytes)?;
        Ok(BinTickFile::with(Backing::Owned(bytes.to_vec()), header))
    }

    fn with(backing: Backing, h: Header) -> BinTickFile {
        BinTickFile { backing, symbols: h.symbols, data_offset: h.data_offset, count: h.count }
    }

    fn bytes(&self) -> &[u8] {
        match &self.backing {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }

    /// The record bytes (validated to be exactly `len() * RECORD_SIZE` long).
    fn data(&self) -> &[u8] {
        self.bytes().get(self.data_offset..).unwrap_or_default()
    }

    /// Number of records, duplicates included.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The file's own symbol table, in file order.
    pub fn symbols(&self) -> &[FileSymbol] {
        &self.symbols
    }

    /// Byte offset of the first record.
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }

    /// Every record in file order, decoded in place from the mapped bytes.
    pub fn records(&self) -> impl ExactSizeIterator<Item = RawRecord> + '_ {
        self.data().chunks_exact(RECORD_SIZE).map(decode_chunk)
    }

    /// The record at `index`, if there is one.
    pub fn record(&self, index: u64) -> Option<RawRecord> {
        let start = usize::try_from(index).ok()?.checked_mul(RECORD_SIZE)?;
        let chunk = self.data().get(start..start.checked_add(RECORD_SIZE)?)?;
        Some(decode_chunk(chunk))
    }

    /// Streams the records as engine ticks: file symbol ids are resolved by name against
    /// `symbols`, bad records come out as `Err((reason, record index))`, and duplicates are
    /// dropped silently and counted in [`BinTicks::stats`].
    pub fn ticks(&self, symbols: &SymbolTable) -> BinTicks<'_> {
        BinTicks::new(self.data(), self.id_map(symbols))
    }

    /// [`BinTickFile::ticks`], owning the file.
    pub fn into_ticks(self, symbols: &SymbolTable) -> BinTickStream {
        let map = self.id_map(symbols);
        BinTickStream { file: self, cursor: Cursor { map, index: 0, last_seq: 0, stats: BinLoadStats::default() } }
    }

    fn id_map(&self, symbols: &SymbolTable) -> IdMap {
        IdMap::new(self.symbols.iter().map(|s| (s.id, symbols.resolve(&s.symbol))))
    }

    /// Loads every good record as a tick, counting the rest: rejects in the returned
    /// [`LoadedTicks`] (where `lines` counts the records judged, so
    /// `lines == ticks.len() + rejects.total()`), duplicates and gaps in [`BinLoadStats`].
    pub fn load(&self, symbols: &SymbolTable) -> (LoadedTicks, BinLoadStats) {
        let mut out = LoadedTicks { ticks: Vec::with_capacity(self.count), ..LoadedTicks::default() };
        let mut stream = self.ticks(symbols);
        for item in &mut stream {
            match item {
                Ok(tick) => out.ticks.push(tick),
                Err((reason, index)) => {
                    out.rejects.add(reason);
                    if out.samples.len() < SAMPLE_LIMIT {
                        out.samples.push(self.describe_reject(reason, index, Some(symbols)));
                    }
                }
            }
        }
        let stats = stream.stats();
        out.lines = stats.records - stats.duplicates;
        (out, stats)
    }

    /// Writes the good records as CSV in exactly the form
    /// [`write_ticks`](crate::csv_ticks::write_ticks) produces, naming instruments from the
    /// file's own symbol table. Bad records and duplicates are counted, not written.
    pub fn write_csv<W: Write>(&self, w: W) -> io::Result<ConvertStats> {
        let mut w = w;
        // Map file ids to positions in the file's own table, so no engine table is needed.
        let map = IdMap::new(self.symbols.iter().enumerate().map(|(i, s)| (s.id, Some(InstrumentId(i as u32)))));
        let mut stream = BinTicks::new(self.data(), map);
        let mut stats = ConvertStats::default();
        writeln!(w, "{HEADER}")?;
        for item in &mut stream {
            match item {
                Ok(t) => {
                    let symbol = self.symbols.get(t.instrument.index()).map_or("", |s| s.symbol.as_str());
                    writeln!(w, "{},{},{},{}", t.ts.0, symbol, t.price, t.qty.0)?;
                    stats.written += 1;
                }
                Err((reason, index)) => {
                    stats.rejects.add(reason);
                    if stats.samples.len() < SAMPLE_LIMIT {
                        stats.samples.push(self.describe_reject(reason, index, None));
                    }
                }
            }
        }
        let s = stream.stats();
        stats.read = s.records;
        stats.duplicates = s.duplicates;
        stats.gaps = s.gaps;
        Ok(stats)
    }

    /// `record N: reason: detail` for a reject sample (cold: at most [`SAMPLE_LIMIT`] per load).
    #[cold]
    fn describe_reject(&self, reason: TickReject, index: u64, engine: Option<&SymbolTable>) -> String {
        let detail = match self.record(index) {
            None => String::new(),
            Some(r) => match reason {
                TickReject::UnknownSymbol => match self.symbols.iter().find(|s| s.id == r.symbol_id) {
                    Some(s) if engine.is_some() => format!("symbol {:?} is not in the instrument universe", s.symbol),
                    Some(s) => format!("symbol {:?}", s.symbol),
                    None => format!("symbol id {} is not in the file's symbol table", r.symbol_id),
                },
                TickReject::NonPositivePrice => format!("price is not positive: {} paise", r.price_paise),
                TickReject::NonPositiveQty => format!("qty is not positive: {}", r.qty),
                _ => String::new(),
            },
        };
        format!("record {index}: {}: {detail}", reason.as_str())
    }
}

#[inline(always)]
fn decode_chunk(chunk: &[u8]) -> RawRecord {
    match <&[u8; RECORD_SIZE]>::try_from(chunk) {
        Ok(b) => RawRecord::decode(b),
        // `chunks_exact(RECORD_SIZE)` only yields whole records.
        Err(_) => RawRecord::default(),
    }
}

/// Reads a little-endian integer of `N` bytes at `at`, or `None` past the end.
fn read_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// A symbol that can be written to a CSV tick line and to a log as it is: no field
/// separator, no line break, no other control character. Real symbols are far plainer; the
/// rule exists so a hostile file cannot smuggle extra fields or lines into a converted CSV.
fn symbol_is_plain(s: &str) -> bool {
    !s.bytes().any(|b| b == b',' || b.is_ascii_control())
}

/// Validates everything before the records. Every size is checked against the real length
/// before it is used, so no header value can cause an out-of-bounds read or a huge
/// allocation.
fn parse_header(b: &[u8]) -> Result<Header, BinError> {
    let file_len = b.len() as u64;
    if b.len() < FIXED_HEADER_LEN {
        return Err(BinError::TooShort { len: file_len });
    }
    let u32_at = |at| read_at::<4>(b, at).map(u32::from_le_bytes).unwrap_or(0);
    let magic = read_at::<8>(b, 0).unwrap_or_default();
    if magic != MAGIC {
        return Err(BinError::BadMagic { found: magic });
    }
    let version = u32_at(8);
    if version != VERSION {
        return Err(BinError::UnsupportedVersion { found: version });
    }
    let record_size = u32_at(12);
    if record_size as usize != RECORD_SIZE {
        return Err(BinError::BadRecordSize { found: record_size });
    }
    let count = read_at::<8>(b, 16).map(u64::from_le_bytes).unwrap_or(0);
    let n_symbols = u32_at(24);

    // Each entry takes at least 6 bytes, which bounds the allocation by the file size.
    let mut symbols = Vec::with_capacity((n_symbols as usize).min(b.len() / SYMBOL_ENTRY_FIXED));
    let mut ids = HashSet::with_capacity(symbols.capacity());
    let mut names = HashSet::with_capacity(symbols.capacity());
    let mut pos = FIXED_HEADER_LEN;
    for index in 0..n_symbols {
        let overrun = || BinError::SymbolTableOverrun { index, offset: pos as u64, file_len };
        let id = read_at::<4>(b, pos).map(u32::from_le_bytes).ok_or_else(overrun)?;
        let len = read_at::<2>(b, pos + 4).map(u16::from_le_bytes).ok_or_else(overrun)?;
        let start = pos + SYMBOL_ENTRY_FIXED;
        let name = b.get(start..start + len as usize).ok_or_else(overrun)?;
        if name.is_empty() {
            return Err(BinError::EmptySymbol { index, id });
        }
        let name = std::str::from_utf8(name).map_err(|_| BinError::SymbolNotUtf8 { index, id })?;
        if !symbol_is_plain(name) {
            return Err(BinError::BadSymbolChar { index, id, symbol: name.to_string() });
        }
        if !ids.insert(id) {
            return Err(BinError::DuplicateSymbolId { id });
        }
        if !names.insert(name) {
            return Err(BinError::DuplicateSymbolName { symbol: name.to_string() });
        }
        symbols.push(FileSymbol { id, symbol: name.to_string() });
        pos = start + len as usize;
    }

    let data_offset = pos.div_ceil(DATA_ALIGN) * DATA_ALIGN;
    let expected_len = (data_offset as u128).saturating_add(count as u128 * RECORD_SIZE as u128);
    let expected_len = u64::try_from(expected_len).unwrap_or(u64::MAX);
    if expected_len > file_len {
        return Err(BinError::Truncated { count, expected_len, file_len });
    }
    if let Some(at) = b.get(pos..data_offset).and_then(|pad| pad.iter().position(|&x| x != 0)) {
        return Err(BinError::NonZeroPadding { offset: (pos + at) as u64 });
    }
    if expected_len < file_len {
        return Err(BinError::TrailingBytes { count, expected_len, file_len });
    }
    // `expected_len` fits in the file, so the count fits in `usize`.
    let count = usize::try_from(count).map_err(|_| BinError::Truncated { count, expected_len, file_len })?;
    Ok(Header { symbols, data_offset, count })
}

/// File symbol id → target id, without hashing on the per-record path when the file's ids
/// are dense (as the writer makes them: they are engine ids).
enum IdMap {
    Dense(Vec<Option<InstrumentId>>),
    /// Sorted by file id, for files with a few huge ids.
    Sparse(Vec<(u32, InstrumentId)>),
}

impl IdMap {
    fn new(pairs: impl Iterator<Item = (u32, Option<InstrumentId>)>) -> IdMap {
        let pairs: Vec<(u32, InstrumentId)> = pairs.filter_map(|(f, t)| Some((f, t?))).collect();
        let max = pairs.iter().map(|p| p.0 as usize).max();
        // A dense table costs 8 bytes per id up to the largest; allow it while that stays
        // small next to the table itself.
        match max {
            Some(max) if max < (pairs.len() * 16).max(1 << 16) => {
                let mut dense = vec![None; max + 1];
                for (f, t) in pairs {
                    if let Some(slot) = dense.get_mut(f as usize) {
                        *slot = Some(t);
                    }
                }
                IdMap::Dense(dense)
            }
            None => IdMap::Dense(Vec::new()),
            Some(_) => {
                let mut sparse = pairs;
                sparse.sort_unstable_by_key(|p| p.0);
                IdMap::Sparse(sparse)
            }
        }
    }

    #[inline(always)]
    fn get(&self, file_id: u32) -> Option<InstrumentId> {
        match self {
            IdMap::Dense(d) => d.get(file_id as usize).copied().flatten(),
            IdMap::Sparse(s) => s.binary_search_by_key(&file_id, |p| p.0).ok().and_then(|i| s.get(i)).map(|p| p.1),
        }
    }
}

/// Where a stream of a file's records stands: the next record, the symbol map, the sequence
/// check and its counts. Shared by the borrowing [`BinTicks`] and the owning [`BinTickStream`].
struct Cursor {
    map: IdMap,
    index: u64,
    last_seq: u32,
    stats: BinLoadStats,
}

impl Cursor {
    fn stats(&self) -> BinLoadStats {
        BinLoadStats { records: self.index, ..self.stats }
    }

    /// The next tick (or refusal) from `data`, the file's record bytes.
    #[inline]
    fn next(&mut self, data: &[u8]) -> Option<Result<Tick, (TickReject, u64)>> {
        loop {
            let start = usize::try_from(self.index).ok()?.checked_mul(RECORD_SIZE)?;
            let chunk = data.get(start..start.checked_add(RECORD_SIZE)?)?;
            let r = decode_chunk(chunk);
            let index = self.index;
            self.index += 1;
            // A record numbered at or below its predecessor is a copy of something already
            // seen (or garbage): drop it before judging its contents.
            if r.seq <= self.last_seq {
                self.stats.duplicates += 1;
                continue;
            }
            self.stats.gaps += u64::from(r.seq - self.last_seq - 1);
            self.last_seq = r.seq;
            let Some(instrument) = self.map.get(r.symbol_id) else {
                return Some(Err((TickReject::UnknownSymbol, index)));
            };
            if r.price_paise <= 0 {
                return Some(Err((TickReject::NonPositivePrice, index)));
            }
            if r.qty == 0 {
                return Some(Err((TickReject::NonPositiveQty, index)));
            }
            return Some(Ok(Tick { instrument, ts: Timestamp(r.ts_ns), price: Price(r.price_paise), qty: Qty(r.qty) }));
        }
    }

    fn remaining(&self, data: &[u8]) -> usize {
        (data.len() / RECORD_SIZE).saturating_sub(usize::try_from(self.index).unwrap_or(usize::MAX))
    }
}

/// Streaming view of a file's records as ticks; see [`BinTickFile::ticks`].
pub struct BinTicks<'a> {
    data: &'a [u8],
    cursor: Cursor,
}

impl<'a> BinTicks<'a> {
    fn new(data: &'a [u8], map: IdMap) -> Self {
        BinTicks { data, cursor: Cursor { map, index: 0, last_seq: 0, stats: BinLoadStats::default() } }
    }

    /// Records read so far, duplicates dropped and sequence gaps seen.
    pub fn stats(&self) -> BinLoadStats {
        self.cursor.stats()
    }
}

impl Iterator for BinTicks<'_> {
    type Item = Result<Tick, (TickReject, u64)>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.cursor.next(self.data)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.cursor.remaining(self.data)))
    }
}

/// [`BinTicks`] that owns its file, for a feed that outlives the place it opened the file.
pub struct BinTickStream {
    file: BinTickFile,
    cursor: Cursor,
}

impl BinTickStream {
    /// Records read so far, duplicates dropped and sequence gaps seen.
    pub fn stats(&self) -> BinLoadStats {
        self.cursor.stats()
    }
}

impl Iterator for BinTickStream {
    type Item = Result<Tick, (TickReject, u64)>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.cursor.next(self.file.data())
    }
}

/// Writes `ticks` as a binary tick file, numbering records 1..=n.
///
/// The file's symbol table lists the symbols the ticks use, under their current engine ids.
/// A tick whose instrument has no symbol is an `InvalidInput` error (as in
/// [`write_ticks`](crate::csv_ticks::write_ticks)), and so are more than `u32::MAX` ticks,
/// which the sequence number cannot count.
pub fn write_ticks_bin(path: impl AsRef<Path>, ticks: &[Tick], symbols: &SymbolTable) -> io::Result<()> {
    let file = File::create(path)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    write_ticks_bin_to(&mut w, ticks, symbols)?;
    w.flush()
}

/// [`write_ticks_bin`] into any writer.
pub fn write_ticks_bin_to<W: Write>(mut w: W, ticks: &[Tick], symbols: &SymbolTable) -> io::Result<()> {
    let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
    if u32::try_from(ticks.len()).is_err() {
        return Err(invalid(format!("{} ticks do not fit one file's u32 sequence numbers", ticks.len())));
    }
    let mut used: HashSet<u32> = HashSet::new();
    for t in ticks {
        if used.insert(t.instrument.0) && symbols.get(t.instrument).is_none() {
            return Err(invalid(format!("instrument {} has no symbol", t.instrument)));
        }
    }
    let table: Vec<(&str, InstrumentId)> = symbols.iter().filter(|(_, id)| used.contains(&id.0)).collect();

    let mut header = Vec::with_capacity(FIXED_HEADER_LEN + table.len() * 16 + DATA_ALIGN);
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&(RECORD_SIZE as u32).to_le_bytes());
    header.extend_from_slice(&(ticks.len() as u64).to_le_bytes());
    header.extend_from_slice(&(table.len() as u32).to_le_bytes());
    for (symbol, id) in &table {
        let len = u16::try_from(symbol.len())
            .map_err(|_| invalid(format!("symbol {symbol:?} is longer than {} bytes", u16::MAX)))?;
        if !symbol_is_plain(symbol) {
            return Err(invalid(format!("symbol {symbol:?} contains a comma or a control character")));
        }
        header.extend_from_slice(&id.0.to_le_bytes());
        header.extend_from_slice(&len.to_le_bytes());
        header.extend_from_slice(symbol.as_bytes());
    }
    header.resize(header.len().div_ceil(DATA_ALIGN) * DATA_ALIGN, 0);
    w.write_all(&header)?;

    // Records go out in blocks so the writer is not called per record.
    let mut block = Vec::with_capacity(RECORD_SIZE * 4096);
    for (seq, t) in (1u32..).zip(ticks) {
        let r = RawRecord { ts_ns: t.ts.0, price_paise: t.price.0, qty: t.qty.0, symbol_id: t.instrument.0, seq };
        block.extend_from_slice(&r.encode());
        if block.len() == block.capacity() {
            w.write_all(&block)?;
            block.clear();
        }
    }
    w.write_all(&block)
}

/// What a conversion read, wrote and dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConvertStats {
    /// Data lines (CSV input) or records (binary input) read.
    pub read: u64,
    /// Ticks written.
    pub written: u64,
    /// Lines or records refused, by reason.
    pub rejects: RejectCounts,
    /// The first [`SAMPLE_LIMIT`] rejects, described.
    pub samples: Vec<String>,
    /// Binary input only: records dropped for a repeated sequence number.
    pub duplicates: u64,
    /// Binary input only: sequence numbers missing between records.
    pub gaps: u64,
}

/// Converts a CSV tick file to binary. The CSV is read by [`load_ticks`], so bad lines are
/// counted and skipped exactly as a CSV replay would skip them; only an unreadable file or a
/// wrong CSV header is an error.
pub fn convert_csv_to_bin(
    csv_path: impl AsRef<Path>,
    bin_path: impl AsRef<Path>,
    symbols: &SymbolTable,
) -> Result<ConvertStats, ConvertError> {
    let loaded = load_ticks(csv_path, symbols)?;
    let bin_path = bin_path.as_ref();
    write_ticks_bin(bin_path, &loaded.ticks, symbols)
        .map_err(|source| ConvertError::Write { path: bin_path.to_path_buf(), source })?;
    Ok(ConvertStats {
        read: loaded.lines,
        written: loaded.ticks.len() as u64,
        rejects: loaded.rejects,
        samples: loaded.samples,
        duplicates: 0,
        gaps: 0,
    })
}

/// Converts a binary tick file to CSV, naming instruments from the file's own symbol table
/// (no instrument universe needed). Good records come out byte for byte as
/// [`write_ticks_csv`](crate::csv_ticks::write_ticks_csv) writes them; bad records and
/// duplicates are counted and left out.
pub fn convert_bin_to_csv(
    bin_path: impl AsRef<Path>,
    csv_path: impl AsRef<Path>,
) -> Result<ConvertStats, ConvertError> {
    let file = BinTickFile::open(bin_path)?;
    let csv_path = csv_path.as_ref();
    let write_err = |source| ConvertError::Write { path: csv_path.to_path_buf(), source };
    let out = File::create(csv_path).map_err(write_err)?;
    let mut w = BufWriter::with_capacity(256 * 1024, out);
    let stats = file.write_csv(&mut w).map_err(write_err)?;
    w.flush().map_err(write_err)?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_layout_matches_the_documented_offsets() {
        let r = RawRecord { ts_ns: -2, price_paise: 245_005, qty: 7, symbol_id: 3, seq: 9 };
        let b = r.encode();
        assert_eq!(&b[0..8], &(-2i64).to_le_bytes());
        assert_eq!(&b[8..16], &245_005i64.to_le_bytes());
        assert_eq!(&b[16..24], &7u64.to_le_bytes());
        assert_eq!(&b[24..28], &3u32.to_le_bytes());
        assert_eq!(&b[28..32], &9u32.to_le_bytes());
        assert_eq!(RawRecord::decode(&b), r);
        assert_eq!(std::mem::offset_of!(RawRecord, symbol_id), 24);
        assert_eq!(std::mem::offset_of!(RawRecord, seq), 28);
    }

    #[test]
    fn id_map_dense_and_sparse_agree() {
        let pairs = [(0u32, Some(InstrumentId(5))), (3, Some(InstrumentId(1))), (7, None)];
        let dense = IdMap::new(pairs.into_iter());
        assert!(matches!(dense, IdMap::Dense(_)));
        let sparse_pairs =
            [(0u32, Some(InstrumentId(5))), (3, Some(InstrumentId(1))), (u32::MAX, Some(InstrumentId(2)))];
        let sparse = IdMap::new(sparse_pairs.into_iter());
        assert!(matches!(sparse, IdMap::Sparse(_)));
        for m in [&dense, &sparse] {
            assert_eq!(m.get(0), Some(InstrumentId(5)));
            assert_eq!(m.get(3), Some(InstrumentId(1)));
            assert_eq!(m.get(7), None);
            assert_eq!(m.get(1), None);
        }
        assert_eq!(sparse.get(u32::MAX), Some(InstrumentId(2)));
        assert_eq!(dense.get(u32::MAX), None);
        assert_eq!(IdMap::new(std::iter::empty()).get(0), None);
    }
}
