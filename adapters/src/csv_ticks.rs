//! Tick files in CSV (`ts_ns,symbol,price,qty`), the replay and backtest input.
//!
//! A feed file is untrusted: a bad line is classified, counted and skipped, never fatal, so
//! one corrupt print cannot cost a day of good ones. Only a wrong header refuses the file,
//! because then every column would be read as the wrong thing.
//!
//! Prices are parsed exactly into paise (never through a float). This layer judges only what
//! the text alone can tell (syntax, symbol, sign, sub-paisa precision); the engine's
//! validator owns the instrument rules (tick grid, band, time order) because it alone knows
//! the tick size and the last accepted time.

use std::borrow::Borrow;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use dalal_core::model::price::{parse_rupees_bytes, ParseFault};
use dalal_core::model::{Price, Qty, Timestamp};
use dalal_core::model::{Tick, TickReject};

use crate::symbols::SymbolTable;

/// The only accepted header. Column order is fixed so the parser needs no lookup per field.
pub const HEADER: &str = "ts_ns,symbol,price,qty";

/// How many reject descriptions a load keeps: enough to diagnose a file, bounded so a
/// wholly corrupt file does not build millions of strings.
pub const SAMPLE_LIMIT: usize = 10;

/// Longest acceptable line (without its `\n`). The streaming reader must bound its line
/// buffer or a file without newlines would swallow memory; the loader refuses the same lines
/// so that both readers always agree on a file.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why a tick file could not be read at all (as opposed to single bad lines).
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("cannot read tick file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{origin}: tick file is empty, expected header {:?}", HEADER)]
    MissingHeader { origin: String },
    #[error("{origin}: bad tick file header {found:?}, expected exactly {:?}", HEADER)]
    BadHeader { origin: String, found: String },
}

/// One refused line, for the streaming reader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {}: {detail}", reason.as_str())]
pub struct LineReject {
    /// 1-based physical line number (the header is line 1).
    pub line: u64,
    pub reason: TickReject,
    pub detail: String,
}

/// Per-reason counters, indexed by `TickReject::index` so counting never hashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RejectCounts([u64; TickReject::ALL.len()]);

impl RejectCounts {
    #[inline]
    pub fn add(&mut self, reason: TickReject) {
        let n = &mut self.0[reason.index()];
        *n = n.saturating_add(1);
    }

    /// Counts `n` refusals for `reason` at once.
    pub fn add_n(&mut self, reason: TickReject, n: u64) {
        let c = &mut self.0[reason.index()];
        *c = c.saturating_add(n);
    }

    #[inline]
    pub fn get(&self, reason: TickReject) -> u64 {
        self.0[reason.index()]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }

    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    pub fn merge(&mut self, other: &RejectCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    /// Reasons with a non-zero count, in `TickReject::ALL` order.
    pub fn iter(&self) -> impl Iterator<Item = (TickReject, u64)> + '_ {
        TickReject::ALL.iter().map(|r| (*r, self.get(*r))).filter(|(_, n)| *n > 0)
    }
}

impl fmt::Display for RejectCounts {
    /// `malformed=2 unknown_symbol=1`, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (r, n) in self.iter() {
            if !first {
                f.write_str(" ")?;
            }
            write!(f, "{}={n}", r.as_str())?;
            first = false;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// A whole file, parsed: the accepted ticks plus an account of everything refused.
#[derive(Clone, Debug, Default)]
pub struct LoadedTicks {
    /// Accepted ticks in file order.
    pub ticks: Vec<Tick>,
    pub rejects: RejectCounts,
    /// The first [`SAMPLE_LIMIT`] rejects as `line N: reason: detail`.
    pub samples: Vec<String>,
    /// Data lines seen (header and blank lines excluded), so
    /// `lines == ticks.len() + rejects.total()`.
    pub lines: u64,
}

/// Reads and parses a whole tick file. Only I/O and header problems are errors; bad lines
/// are counted in the result.
///
/// The file is read in blocks through one reused buffer rather than into one file-sized
/// buffer: freshly allocated memory costs a page fault per 4 KiB on first touch, which
/// measured as a third of the load time, and a block that stays in cache is parsed faster.
pub fn load_ticks(path: impl AsRef<Path>, symbols: &SymbolTable) -> Result<LoadedTicks, FeedError> {
    let path = path.as_ref();
    let origin = || path.display().to_string();
    let io_err = |source| FeedError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io_err)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);

    let mut buf = vec![0u8; BLOCK_BYTES];
    let mut filled = 0;
    let mut eof = false;
    // Fill until the header line is complete.
    let header_end = loop {
        if let Some(i) = find_byte(&buf[..filled], 0, b'\n') {
            break i;
        }
        if eof || filled == buf.len() {
            break filled;
        }
        match read_some(&mut file, &mut buf[filled..]).map_err(io_err)? {
            0 => eof = true,
            n => filled += n,
        }
    };
    let (header, body_start) = split_header(&buf[..filled], header_end);
    let Some(header) = header else {
        return Err(FeedError::MissingHeader { origin: origin() });
    };
    check_header(header, &origin)?;

    let first_block = buf.get(body_start..filled).unwrap_or_default();
    let mut lines = Lines::new(symbols, estimate_lines(first_block, size as usize));
    let mut start = body_start;
    // An over-long line is reported once, then skipped to its end.
    let mut skipping = false;
    loop {
        let block = buf.get(start..filled).unwrap_or_default();
        if eof {
            if skipping {
                lines.overlong();
            } else {
                lines.parse_all(block);
            }
            break;
        }
        let complete = match block.iter().rposition(|&b| b == b'\n') {
            Some(last) => {
                if std::mem::take(&mut skipping) {
                    let first = find_byte(block, 0, b'\n').unwrap_or(last);
                    lines.overlong();
                    lines.parse_all(block.get(first + 1..last + 1).unwrap_or_default());
                } else {
                    lines.parse_all(block.get(..last + 1).unwrap_or_default());
                }
                last + 1
            }
            None if block.len() > MAX_LINE_BYTES || (skipping && !block.is_empty()) => {
                skipping = true;
                block.len()
            }
            None => 0,
        };
        // Keep the unfinished line, move it to the front, and read more behind it.
        let keep = start + complete;
        buf.copy_within(keep..filled, 0);
        filled -= keep;
        start = 0;
        match read_some(&mut file, &mut buf[filled..]).map_err(io_err)? {
            0 => eof = true,
            n => filled += n,
        }
    }
    let loaded = lines.out;
    tracing::debug!(
        path = %path.display(),
        lines = loaded.lines,
        ticks = loaded.ticks.len(),
        rejects = %loaded.rejects,
        "tick file loaded"
    );
    Ok(loaded)
}

/// Read block size: a few times [`MAX_LINE_BYTES`], so any acceptable line fits whole, and
/// small enough to stay in L2.
const BLOCK_BYTES: usize = 4 * MAX_LINE_BYTES;

fn read_some(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Splits off the header line (without BOM) ending at `header_end`; `None` when the input
/// holds nothing but a BOM.
fn split_header(data: &[u8], header_end: usize) -> (Option<&[u8]>, usize) {
    let raw = data.get(..header_end).unwrap_or(data);
    let header = raw.strip_prefix(BOM).unwrap_or(raw);
    let terminated = header_end < data.len();
    if header.is_empty() && !terminated {
        return (None, data.len());
    }
    (Some(header), (header_end + 1).min(data.len()))
}

/// [`load_ticks`] over bytes already in memory.
pub fn parse_ticks(data: &[u8], symbols: &SymbolTable) -> Result<LoadedTicks, FeedError> {
    let header_end = find_byte(data, 0, b'\n').unwrap_or(data.len());
    let (header, body_start) = split_header(data, header_end);
    let Some(header) = header else {
        return Err(FeedError::MissingHeader { origin: "<memory>".to_string() });
    };
    check_header(header, &|| "<memory>".to_string())?;
    let body = data.get(body_start..).unwrap_or_default();
    let mut lines = Lines::new(symbols, estimate_lines(body, body.len()));
    lines.parse_all(body);
    Ok(lines.out)
}

/// The data-line loop shared by whole-buffer and block-wise loading.
struct Lines<'s> {
    symbols: &'s SymbolTable,
    out: LoadedTicks,
    /// Physical number of the last line seen (the header is line 1).
    line_no: u64,
}

impl<'s> Lines<'s> {
    fn new(symbols: &'s SymbolTable, capacity: usize) -> Self {
        Lines {
            symbols,
            out: LoadedTicks { ticks: Vec::with_capacity(capacity), ..LoadedTicks::default() },
            line_no: 1,
        }
    }

    /// Parses every line of `data`; the last one may lack its `\n`.
    fn parse_all(&mut self, data: &[u8]) {
        let mut pos = 0;
        while pos < data.len() {
            let (end, commas) = scan_line(data, pos);
            let raw = data.get(pos..end).unwrap_or_default();
            let line = strip_cr(raw);
            pos = end + 1;
            if raw.len() > MAX_LINE_BYTES {
                self.overlong();
                continue;
            }
            self.line_no += 1;
            if line.is_empty() || (commas.is_none() && is_blank(line)) {
                continue;
            }
            self.out.lines += 1;
            let parsed = match commas {
                Some(commas) => parse_fields(line, commas, self.symbols),
                None => Err(field_count_fault(line)),
            };
            match parsed {
                Ok(tick) => self.out.ticks.push(tick),
                Err(fault) => self.reject(fault.reason, || fault.detail(line)),
            }
        }
    }

    /// Counts a line longer than [`MAX_LINE_BYTES`]: refused unparsed, as the streaming
    /// reader must (it cannot buffer it), so both readers agree on every file.
    fn overlong(&mut self) {
        self.line_no += 1;
        self.out.lines += 1;
        self.reject(TickReject::Malformed, || format!("line longer than {MAX_LINE_BYTES} bytes"));
    }

    fn reject(&mut self, reason: TickReject, detail: impl FnOnce() -> String) {
        self.out.rejects.add(reason);
        if self.out.samples.len() < SAMPLE_LIMIT {
            self.out.samples.push(format!("line {}: {}: {}", self.line_no, reason.as_str(), detail()));
        }
    }
}

fn check_header(raw: &[u8], origin: &impl Fn() -> String) -> Result<(), FeedError> {
    let line = strip_cr(raw);
    if line == HEADER.as_bytes() {
        Ok(())
    } else {
        Err(FeedError::BadHeader { origin: origin(), found: shorten(line, 80) })
    }
}

/// Sizes the tick vector from the average line length of a sample, so a big file is not
/// re-grown a dozen times nor over-reserved by a blind bytes-per-line guess.
fn estimate_lines(sample: &[u8], total_bytes: usize) -> usize {
    let sample = sample.get(..64 * 1024).unwrap_or(sample);
    let newlines = sample.iter().filter(|&&b| b == b'\n').count().max(1);
    let avg = (sample.len() / newlines).max(8);
    total_bytes / avg + 16
}

/// Streams ticks from a reader one line at a time, for replaying files too big to load.
/// A line is parsed in place in the reader's buffer (or, when it straddles a refill, in one
/// reused line buffer), so an accepted line costs no allocation.
///
/// A read error ends the stream after one final `Malformed` reject describing it; the error
/// itself stays available from [`CsvTickStream::io_error`].
pub struct CsvTickStream<R, S = SymbolTable> {
    reader: R,
    symbols: S,
    buf: Vec<u8>,
    line_no: u64,
    lines: u64,
    /// Whether the last line read ended in `\n` (rather than at end of input).
    terminated: bool,
    done: bool,
    error: Option<io::Error>,
}

/// Opens a tick file for streaming and checks its header.
pub fn open_ticks<S: Borrow<SymbolTable>>(
    path: impl AsRef<Path>,
    symbols: S,
) -> Result<CsvTickStream<BufReader<File>, S>, FeedError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| FeedError::Io { path: path.to_path_buf(), source })?;
    CsvTickStream::with_origin(BufReader::with_capacity(256 * 1024, file), symbols, || path.display().to_string())
}

impl<R: BufRead, S: Borrow<SymbolTable>> CsvTickStream<R, S> {
    /// Wraps a reader positioned at the start of a tick file and checks the header. `symbols`
    /// may be owned, borrowed or an `Arc`, so the stream can move to a replay thread.
    pub fn new(reader: R, symbols: S) -> Result<Self, FeedError> {
        Self::with_origin(reader, symbols, || "<stream>".to_string())
    }

    fn with_origin(reader: R, symbols: S, origin: impl Fn() -> String) -> Result<Self, FeedError> {
        let mut s = CsvTickStream {
            reader,
            symbols,
            buf: Vec::with_capacity(256),
            line_no: 0,
            lines: 0,
            terminated: false,
            done: false,
            error: None,
        };
        let got = s.read_line().map_err(|source| FeedError::Io { path: PathBuf::from(origin()), source })?;
        if got.is_none() {
            return Err(FeedError::MissingHeader { origin: origin() });
        }
        s.line_no = 1;
        let header = s.buf.strip_prefix(BOM).unwrap_or(&s.buf);
        if header.is_empty() && !s.terminated {
            // Nothing but a BOM: as empty as an empty file.
            return Err(FeedError::MissingHeader { origin: origin() });
        }
        check_header(header, &origin)?;
        Ok(s)
    }

    /// Data lines seen so far (header and blank lines excluded).
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Physical line number of the last line read (the header is line 1).
    pub fn line_number(&self) -> u64 {
        self.line_no
    }

    /// The read error that ended the stream, if one did.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// Reads one line (without its `\n`) into `buf`, keeping at most [`MAX_LINE_BYTES`].
    /// `Ok(None)` at end of input, else `Ok(Some(overlong))`.
    fn read_line(&mut self) -> io::Result<Option<bool>> {
        self.buf.clear();
        self.terminated = false;
        let mut overlong = false;
        let mut any = false;
        loop {
            let avail = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok(any.then_some(overlong));
            }
            any = true;
            let (take, found) = match find_byte(avail, 0, b'\n') {
                Some(i) => (i, true),
                None => (avail.len(), false),
            };
            let room = MAX_LINE_BYTES.saturating_sub(self.buf.len());
            if take > room {
                overlong = true;
            }
            self.buf.extend_from_slice(&avail[..take.min(room)]);
            self.reader.consume(if found { take + 1 } else { take });
            if found {
                self.terminated = true;
                return Ok(Some(overlong));
            }
        }
    }
}

impl<R: BufRead, S: Borrow<SymbolTable>> Iterator for CsvTickStream<R, S> {
    type Item = Result<Tick, LineReject>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            // Fast path: the whole line is already in the reader's buffer, so parse it in
            // place without copying it out.
            if let Ok(avail) = self.reader.fill_buf() {
                if let Some(end) = find_byte(avail, 0, b'\n').filter(|&end| end <= MAX_LINE_BYTES) {
                    self.line_no += 1;
                    let line_no = self.line_no;
                    let line = strip_cr(avail.get(..end).unwrap_or_default());
                    let parsed = (!is_blank(line)).then(|| {
                        parse_line(line, self.symbols.borrow()).map_err(|f| LineReject {
                            line: line_no,
                            reason: f.reason,
                            detail: f.detail(line),
                        })
                    });
                    self.reader.consume(end + 1);
                    match parsed {
                        Some(item) => {
                            self.lines += 1;
                            return Some(item);
                        }
                        None => continue,
                    }
                }
            }
            let overlong = match self.read_line() {
                Ok(Some(overlong)) => overlong,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    let reject = LineReject {
                        line: self.line_no + 1,
                        reason: TickReject::Malformed,
                        detail: format!("read failed: {e}"),
                    };
                    self.error = Some(e);
                    return Some(Err(reject));
                }
            };
            self.line_no += 1;
            let line = strip_cr(&self.buf);
            if overlong {
                self.lines += 1;
                return Some(Err(LineReject {
                    line: self.line_no,
                    reason: TickReject::Malformed,
                    detail: format!("line longer than {MAX_LINE_BYTES} bytes"),
                }));
            }
            if is_blank(line) {
                continue;
            }
            self.lines += 1;
            let line_no = self.line_no;
            return Some(parse_line(line, self.symbols.borrow()).map_err(|f| LineReject {
                line: line_no,
                reason: f.reason,
                detail: f.detail(line),
            }));
        }
        None
    }
}

/// Writes ticks in the format [`load_ticks`] reads, so generated sessions can be replayed.
pub fn write_ticks_csv(path: impl AsRef<Path>, ticks: &[Tick], symbols: &SymbolTable) -> io::Result<()> {
    let file = File::create(path)?;
    let mut w = BufWriter::with_capacity(256 * 1024, file);
    write_ticks(&mut w, ticks, symbols)?;
    w.flush()
}

/// [`write_ticks_csv`] into any writer. A tick whose instrument has no symbol is an
/// `InvalidInput` error: writing a blank symbol would only turn it into a reject later.
pub fn write_ticks<W: Write>(mut w: W, ticks: &[Tick], symbols: &SymbolTable) -> io::Result<()> {
    writeln!(w, "{HEADER}")?;
    for t in ticks {
        let symbol = symbols.get(t.instrument).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("instrument {} has no symbol", t.instrument))
        })?;
        writeln!(w, "{},{},{},{}", t.ts.0, symbol, t.price, t.qty.0)?;
    }
    Ok(())
}

/// A refused line without any allocation: the reason, a fixed description, and which bytes
/// of the line to quote. The text is only built for the few rejects that are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    pub reason: TickReject,
    pub what: &'static str,
    pub start: usize,
    pub end: usize,
}

impl Fault {
    fn new(reason: TickReject, what: &'static str, (start, end): (usize, usize)) -> Self {
        Fault { reason, what, start, end }
    }

    /// Which of several faults on one line to report: garbage first, then the symbol, then
    /// the price, then the quantity.
    fn rank(&self) -> u8 {
        match self.reason {
            TickReject::Malformed => 0,
            TickReject::UnknownSymbol => 1,
            TickReject::NonPositivePrice => 2,
            TickReject::OffTickGrid => 3,
            TickReject::NonPositiveQty => 4,
            TickReject::OutsideBand => 5,
            TickReject::TimeBackwards => 6,
            TickReject::DuplicateSequence => 7,
        }
    }

    pub fn detail(&self, line: &[u8]) -> String {
        let quoted = line.get(self.start..self.end).unwrap_or_default();
        format!("{} {}", self.what, shorten_quoted(quoted, 60))
    }
}

/// Parses one data line (no `\n`, no trailing `\r`) into a tick.
pub(crate) fn parse_line(line: &[u8], symbols: &SymbolTable) -> Result<Tick, Fault> {
    match split_fields(line) {
        Some(commas) => parse_fields(line, commas, symbols),
        None => Err(field_count_fault(line)),
    }
}

/// Parses a line whose three comma positions are already known.
#[inline(always)]
fn parse_fields(line: &[u8], commas: [usize; 3], symbols: &SymbolTable) -> Result<Tick, Fault> {
    let [c0, c1, c2] = commas;
    let field = |a: usize, b: usize| line.get(a..b).unwrap_or_default();
    let fast = (
        parse_ts(field(0, c0)),
        symbols.resolve(field(c0 + 1, c1)),
        parse_rupees_bytes(field(c1 + 1, c2)),
        parse_digits(field(c2 + 1, line.len())),
    );
    if let (Some(ts), Some(instrument), Ok(price), Ok(qty)) = fast {
        if price.0 > 0 && qty > 0 {
            return Ok(Tick { instrument, ts: Timestamp(ts), price, qty: Qty(qty) });
        }
    }
    classify_fields(line, commas, symbols)
}

/// The careful path for a line the fast path refused: trims padding, and if the line is
/// still bad, says why. Kept out of line so the fast path stays small.
#[cold]
#[inline(never)]
fn classify_fields(line: &[u8], commas: [usize; 3], symbols: &SymbolTable) -> Result<Tick, Fault> {
    if commas[0] >= commas[1] || commas[1] >= commas[2] || commas[2] >= line.len() {
        return Err(field_count_fault(line));
    }
    let f_ts = trim(line, 0, commas[0]);
    let f_sym = trim(line, commas[0] + 1, commas[1]);
    let f_price = trim(line, commas[1] + 1, commas[2]);
    let f_qty = trim(line, commas[2] + 1, line.len());

    let ts = parse_ts(&line[f_ts.0..f_ts.1]).ok_or(Fault::new(TickReject::Malformed, "bad timestamp", f_ts));
    let sym = resolve_symbol(&line[f_sym.0..f_sym.1], symbols, f_sym);
    let price = parse_price(&line[f_price.0..f_price.1], f_price);
    let qty = parse_qty(&line[f_qty.0..f_qty.1], f_qty);

    match (ts, sym, price, qty) {
        (Ok(ts), Ok(instrument), Ok(price), Ok(qty)) => Ok(Tick { instrument, ts: Timestamp(ts), price, qty }),
        (ts, sym, price, qty) => {
            let faults = [ts.err(), sym.err(), price.err(), qty.err()];
            let worst = faults.into_iter().flatten().min_by_key(Fault::rank);
            Err(worst.unwrap_or(Fault::new(TickReject::Malformed, "unparseable line", (0, line.len()))))
        }
    }
}

fn resolve_symbol(
    b: &[u8],
    symbols: &SymbolTable,
    span: (usize, usize),
) -> Result<dalal_core::model::InstrumentId, Fault> {
    if let Some(id) = symbols.resolve(b) {
        return Ok(id);
    }
    if b.is_empty() {
        Err(Fault::new(TickReject::Malformed, "empty symbol", span))
    } else if std::str::from_utf8(b).is_err() {
        Err(Fault::new(TickReject::Malformed, "symbol is not UTF-8:", span))
    } else {
        Err(Fault::new(TickReject::UnknownSymbol, "unknown symbol", span))
    }
}

/// Signed integer nanoseconds.
#[inline]
fn parse_ts(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let v = i64::try_from(parse_digits(digits).ok()?).ok()?;
    Some(if neg { -v } else { v })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DigitsFault {
    NotDigits,
    Overflow,
}

/// An unsigned run of ASCII digits, eight at a time: the 19-digit timestamp on every line
/// is the largest single parsing cost. Up to 19 digits cannot overflow a `u64`, so only
/// longer runs (leading zeros, garbage) take the checked path.
#[inline]
fn parse_digits(d: &[u8]) -> Result<u64, DigitsFault> {
    if d.is_empty() {
        return Err(DigitsFault::NotDigits);
    }
    if d.len() > 19 {
        return parse_digits_checked(d);
    }
    let mut v: u64 = 0;
    let mut chunks = d.chunks_exact(8);
    for c in &mut chunks {
        v = v * 100_000_000 + eight_digits(word(c)).ok_or(DigitsFault::NotDigits)?;
    }
    for &b in chunks.remainder() {
        let x = b.wrapping_sub(b'0');
        if x > 9 {
            return Err(DigitsFault::NotDigits);
        }
        v = v * 10 + x as u64;
    }
    Ok(v)
}

#[cold]
fn parse_digits_checked(d: &[u8]) -> Result<u64, DigitsFault> {
    if !d.iter().all(u8::is_ascii_digit) {
        return Err(DigitsFault::NotDigits);
    }
    d.iter().try_fold(0u64, |v, &b| v.checked_mul(10)?.checked_add((b - b'0') as u64)).ok_or(DigitsFault::Overflow)
}

/// Eight ASCII digits (first digit in the lowest byte) to their value, or `None` if any
/// byte is not a digit. The classic SWAR reduction: pairs, then quads, then the whole.
#[inline]
fn eight_digits(w: u64) -> Option<u64> {
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below '0' sets its high bit in `below`; one above '9' sets it in `above`. The
    // lowest bad byte is always flagged, since no borrow or carry reaches it from below.
    let below = w.wrapping_sub(ZEROS);
    let above = w.wrapping_add(0x4646_4646_4646_4646);
    if (below | above) & HIGH != 0 {
        return None;
    }
    let mut v = below;
    v = v.wrapping_mul(10).wrapping_add(v >> 8);
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    v = ((v & MASK).wrapping_mul(MUL1).wrapping_add(((v >> 16) & MASK).wrapping_mul(MUL2))) >> 32;
    Some(v)
}

#[inline]
fn parse_price(b: &[u8], span: (usize, usize)) -> Result<Price, Fault> {
    match parse_rupees_bytes(b) {
        Ok(p) if p.0 > 0 => Ok(p),
        Ok(_) => Err(Fault::new(TickReject::NonPositivePrice, "price is not positive:", span)),
        Err(e) => Err(classify_price_fault(b, e, span)),
    }
}

#[cold]
fn classify_price_fault(b: &[u8], e: ParseFault, span: (usize, usize)) -> Fault {
    let negative = b.first() == Some(&b'-');
    match e {
        ParseFault::Empty => Fault::new(TickReject::Malformed, "empty price", span),
        ParseFault::Syntax if is_non_finite(b) => {
            Fault::new(TickReject::NonPositivePrice, "price is not a finite number:", span)
        }
        ParseFault::Syntax => Fault::new(TickReject::Malformed, "price is not a number:", span),
        // The core parser stops at the first offending digit; make sure the rest is a number
        // before calling it anything but garbage.
        _ if !is_decimal(b) => Fault::new(TickReject::Malformed, "price is not a number:", span),
        _ if negative => Fault::new(TickReject::NonPositivePrice, "price is not positive:", span),
        ParseFault::Precision => Fault::new(TickReject::OffTickGrid, "price finer than a paisa:", span),
        ParseFault::Range => Fault::new(TickReject::Malformed, "price out of range:", span),
    }
}

/// `[+-]digits[.digits]` with at least one digit.
fn is_decimal(b: &[u8]) -> bool {
    let b = match b.first() {
        Some(b'-' | b'+') => &b[1..],
        _ => b,
    };
    let mut digits = 0;
    let mut dots = 0;
    for &c in b {
        match c {
            b'0'..=b'9' => digits += 1,
            b'.' => dots += 1,
            _ => return false,
        }
    }
    digits > 0 && dots <= 1
}

/// `nan`, `inf`, `infinity`, any case, optionally signed: what float-printing producers
/// emit for missing or broken prices.
fn is_non_finite(b: &[u8]) -> bool {
    let b = match b.first() {
        Some(b'-' | b'+') => &b[1..],
        _ => b,
    };
    b.eq_ignore_ascii_case(b"nan") || b.eq_ignore_ascii_case(b"inf") || b.eq_ignore_ascii_case(b"infinity")
}

#[inline]
fn parse_qty(b: &[u8], span: (usize, usize)) -> Result<Qty, Fault> {
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let v = match parse_digits(digits) {
        Err(DigitsFault::NotDigits) => {
            return Err(Fault::new(TickReject::Malformed, "qty is not a whole number:", span))
        }
        _ if neg => return Err(Fault::new(TickReject::NonPositiveQty, "qty is not positive:", span)),
        Err(DigitsFault::Overflow) => return Err(Fault::new(TickReject::Malformed, "qty out of range:", span)),
        Ok(v) => v,
    };
    if v == 0 {
        return Err(Fault::new(TickReject::NonPositiveQty, "qty is not positive:", span));
    }
    Ok(Qty(v))
}

/// Field bounds without surrounding spaces or tabs.
#[inline]
fn trim(line: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && matches!(line[start], b' ' | b'\t') {
        start += 1;
    }
    while end > start && matches!(line[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    (start, end)
}

#[inline]
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[inline]
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| matches!(b, b' ' | b'\t' | b'\r'))
}

const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// High bit set in exactly the bytes of `w` equal to the byte repeated in `rep` (the exact
/// form of the zero-byte trick: no carries between bytes, so no false positives).
#[inline(always)]
fn byte_mask(w: u64, rep: u64) -> u64 {
    let x = w ^ rep;
    !(((x & LO7).wrapping_add(LO7)) | x | LO7)
}

/// Eight bytes as a little-endian word (first byte lowest). Takes exactly eight bytes so it
/// compiles to one load; [`word_padded`] handles a short tail.
#[inline(always)]
fn word(c: &[u8]) -> u64 {
    <[u8; 8]>::try_from(c).map_or_else(|_| word_padded(c), u64::from_le_bytes)
}

/// Up to eight bytes, zero-padded (a zero byte is neither a digit, a comma nor a newline).
#[inline]
fn word_padded(c: &[u8]) -> u64 {
    c.iter().take(8).enumerate().fold(0u64, |w, (i, &b)| w | (b as u64) << (8 * i))
}

/// Position of the first `needle` at or after `from`, eight bytes per step: the newline
/// scan is a large share of loading a file.
#[inline]
pub(crate) fn find_byte(hay: &[u8], from: usize, needle: u8) -> Option<usize> {
    let rep = 0x0101_0101_0101_0101u64.wrapping_mul(needle as u64);
    let rest = hay.get(from..)?;
    let mut chunks = rest.chunks_exact(8);
    let mut base = from;
    for c in &mut chunks {
        let found = byte_mask(word(c), rep);
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks.remainder().iter().position(|&b| b == needle).map(|i| base + i)
}

const NEWLINES: u64 = 0x0A0A_0A0A_0A0A_0A0A;
const COMMAS: u64 = 0x2C2C_2C2C_2C2C_2C2C;

/// Records the commas flagged in `m` (bit 7 of each matching byte) at `base`; `n` may
/// exceed 3, which means too many fields.
#[inline(always)]
fn take_commas(mut m: u64, base: usize, pos: &mut [usize; 3], n: &mut usize) {
    while m != 0 {
        if let Some(p) = pos.get_mut(*n) {
            *p = base + (m.trailing_zeros() / 8) as usize;
        }
        *n += 1;
        m &= m - 1;
    }
}

/// Positions of the three commas of a four-field line, or `None` if it has any other
/// number of commas. Scans a word at a time.
#[inline]
fn split_fields(line: &[u8]) -> Option<[usize; 3]> {
    let mut pos = [0usize; 3];
    let mut n = 0;
    let mut chunks = line.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        take_commas(byte_mask(word(c), COMMAS), base, &mut pos, &mut n);
        base += 8;
    }
    take_commas(byte_mask(word_padded(chunks.remainder()), COMMAS), base, &mut pos, &mut n);
    (n == 3).then_some(pos)
}

/// One pass over the line starting at `start`: where it ends (the `\n` or the end of
/// data) and where its commas are (relative to `start`), so loading a file reads each
/// byte once instead of once for lines and again for fields.
#[inline]
fn scan_line(data: &[u8], start: usize) -> (usize, Option<[usize; 3]>) {
    let mut pos = [0usize; 3];
    let mut n = 0;
    let mut at = start;
    while let Some(c) = data.get(at..at + 8) {
        let w = word(c);
        let nl = byte_mask(w, NEWLINES);
        let mut commas = byte_mask(w, COMMAS);
        if nl != 0 {
            commas &= (nl & nl.wrapping_neg()) - 1;
            take_commas(commas, at - start, &mut pos, &mut n);
            let end = at + (nl.trailing_zeros() / 8) as usize;
            return (end, (n == 3).then_some(pos));
        }
        take_commas(commas, at - start, &mut pos, &mut n);
        at += 8;
    }
    let tail = data.get(at..).unwrap_or_default();
    let end = tail.iter().position(|&b| b == b'\n').map_or(data.len(), |i| at + i);
    let m = byte_mask(word_padded(&tail[..end - at]), COMMAS);
    take_commas(m, at - start, &mut pos, &mut n);
    (end, (n == 3).then_some(pos))
}

#[cold]
fn field_count_fault(line: &[u8]) -> Fault {
    let commas = line.iter().filter(|&&b| b == b',').count();
    let what = if commas > 3 { "more than 4 fields in" } else { "fewer than 4 fields in" };
    Fault::new(TickReject::Malformed, what, (0, line.len()))
}

fn shorten(b: &[u8], max_chars: usize) -> String {
    let s = String::from_utf8_lossy(b);
    if s.chars().count() <= max_chars {
        s.into_owned()
    } else {
        let mut t: String = s.chars().take(max_chars).collect();
        t.push('…');
        t
    }
}

fn shorten_quoted(b: &[u8], max_chars: usize) -> String {
    format!("{:?}", shorten(b, max_chars))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Xoshiro256;
    use dalal_core::model::InstrumentId;

    fn table() -> SymbolTable {
        SymbolTable::from_pairs([("RELIANCE", InstrumentId(0)), ("TCS", InstrumentId(1))]).unwrap()
    }

    fn reason(line: &str) -> TickReject {
        match parse_line(line.as_bytes(), &table()) {
            Ok(t) => panic!("{line:?} parsed as {t:?}"),
            Err(f) => f.reason,
        }
    }

    #[test]
    fn parses_a_good_line_exactly() {
        let t = parse_line(b"1700000000123456789,RELIANCE,2450.05,10", &table()).unwrap();
        assert_eq!(
            t,
            Tick {
                instrument: InstrumentId(0),
                ts: Timestamp(1_700_000_000_123_456_789),
                price: Price(245_005),
                qty: Qty(10)
            }
        );
        let t = parse_line(b" 5 , TCS ,3800,1 ", &table()).unwrap();
        assert_eq!((t.ts, t.price, t.qty), (Timestamp(5), Price(380_000), Qty(1)));
        assert_eq!(parse_line(b"5,TCS,0.01,1", &table()).unwrap().price, Price(1));
        assert_eq!(parse_line(b"5,TCS,12.500,1", &table()).unwrap().price, Price(1250));
    }

    #[test]
    fn classifies_each_reject() {
        use TickReject::*;
        let cases = [
            ("1,RELIANCE,2450.05", Malformed),
            ("1,RELIANCE,2450.05,10,x", Malformed),
            ("x1,RELIANCE,2450.05,10", Malformed),
            ("99999999999999999999,RELIANCE,2450.05,10", Malformed),
            (",RELIANCE,2450.05,10", Malformed),
            ("1,RELIANCE,24a0.05,10", Malformed),
            ("1,RELIANCE,1.234x,10", Malformed),
            ("1,RELIANCE,,10", Malformed),
            ("1,RELIANCE,99999999999999999999,10", Malformed),
            ("1,RELIANCE,2450.05,1.5", Malformed),
            ("1,RELIANCE,2450.05,", Malformed),
            ("1,RELIANCE,2450.05,99999999999999999999999", Malformed),
            ("1,,2450.05,10", Malformed),
            ("1,INFY,2450.05,10", UnknownSymbol),
            ("1,reliance,2450.05,10", UnknownSymbol),
            ("1,RELIANCE,NaN,10", NonPositivePrice),
            ("1,RELIANCE,inf,10", NonPositivePrice),
            ("1,RELIANCE,-INF,10", NonPositivePrice),
            ("1,RELIANCE,Infinity,10", NonPositivePrice),
            ("1,RELIANCE,0,10", NonPositivePrice),
            ("1,RELIANCE,0.00,10", NonPositivePrice),
            ("1,RELIANCE,-3.10,10", NonPositivePrice),
            ("1,RELIANCE,-1.234,10", NonPositivePrice),
            ("1,RELIANCE,2450.055,10", OffTickGrid),
            ("1,RELIANCE,0.001,10", OffTickGrid),
            ("1,RELIANCE,2450.05,0", NonPositiveQty),
            ("1,RELIANCE,2450.05,-5", NonPositiveQty),
            ("1,RELIANCE,2450.05,-0", NonPositiveQty),
            // Several faults: garbage wins, then symbol, price, qty.
            ("x,INFY,-1,0", Malformed),
            ("1,INFY,-1,0", UnknownSymbol),
            ("1,TCS,-1,0", NonPositivePrice),
            ("1,TCS,1.001,0", OffTickGrid),
            ("1,TCS,-1,abc", Malformed),
        ];
        for (line, want) in cases {
            assert_eq!(reason(line), want, "{line:?}");
        }
        let bad_utf8 = b"1,REL\xffANCE,2450.05,10";
        assert_eq!(parse_line(bad_utf8, &table()).unwrap_err().reason, Malformed);
    }

    #[test]
    fn detail_quotes_the_offending_field() {
        let line = b"1,INFY,2450.05,10";
        let f = parse_line(line, &table()).unwrap_err();
        assert_eq!(f.detail(line), "unknown symbol \"INFY\"");
        let line = b"1,TCS,2450.05,zero";
        assert_eq!(parse_line(line, &table()).unwrap_err().detail(line), "qty is not a whole number: \"zero\"");
    }

    #[test]
    fn in_memory_file_with_bom_crlf_blank_lines() {
        let data =
            b"\xEF\xBB\xBFts_ns,symbol,price,qty\r\n1,RELIANCE,2450.05,10\r\n2,TCS,x,1\r\n3,TCS,3800.10,5\r\n\r\n\n";
        let got = parse_ticks(data, &table()).unwrap();
        assert_eq!(got.ticks.len(), 2);
        assert_eq!(got.lines, 3);
        assert_eq!(got.rejects.get(TickReject::Malformed), 1);
        assert_eq!(got.samples, vec!["line 3: malformed: price is not a number: \"x\"".to_string()]);
        assert_eq!(got.ticks[1].price, Price(380_010));
    }

    #[test]
    fn header_errors() {
        let t = table();
        assert!(matches!(parse_ticks(b"", &t), Err(FeedError::MissingHeader { .. })));
        assert!(matches!(parse_ticks(BOM, &t), Err(FeedError::MissingHeader { .. })));
        for bad in [&b"ts,symbol,price,qty\n"[..], b"1,RELIANCE,2450.05,10\n", b"\n", b"ts_ns,symbol,price,qty,extra"] {
            match parse_ticks(bad, &t) {
                Err(e @ FeedError::BadHeader { .. }) => assert!(e.to_string().contains(HEADER), "{e}"),
                other => panic!("{other:?}"),
            }
        }
        // Header only: an empty but valid file.
        let got = parse_ticks(b"ts_ns,symbol,price,qty", &t).unwrap();
        assert_eq!((got.ticks.len(), got.lines), (0, 0));
    }

    #[test]
    fn samples_are_capped() {
        let mut data = String::from("ts_ns,symbol,price,qty\n");
        for i in 0..50 {
            data.push_str(&format!("{i},NOPE,1,1\n"));
        }
        let got = parse_ticks(data.as_bytes(), &table()).unwrap();
        assert_eq!(got.rejects.get(TickReject::UnknownSymbol), 50);
        assert_eq!(got.samples.len(), SAMPLE_LIMIT);
        assert_eq!(got.samples[0], "line 2: unknown_symbol: unknown symbol \"NOPE\"");
    }

    #[test]
    fn reject_counts() {
        let mut a = RejectCounts::default();
        assert!(a.is_empty());
        assert_eq!(a.to_string(), "none");
        a.add(TickReject::Malformed);
        a.add(TickReject::Malformed);
        a.add(TickReject::OffTickGrid);
        let mut b = RejectCounts::default();
        b.add(TickReject::TimeBackwards);
        b.add(TickReject::Malformed);
        a.merge(&b);
        assert_eq!(a.get(TickReject::Malformed), 3);
        assert_eq!(a.total(), 5);
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            vec![(TickReject::Malformed, 3), (TickReject::OffTickGrid, 1), (TickReject::TimeBackwards, 1)]
        );
        assert_eq!(a.to_string(), "malformed=3 off_tick_grid=1 time_backwards=1");
    }

    #[test]
    fn find_byte_agrees_with_naive_search() {
        let mut rng = Xoshiro256::new(3);
        for len in 0..70 {
            let mut buf = vec![0u8; len];
            rng.fill_bytes(&mut buf);
            for b in buf.iter_mut() {
                *b %= 4;
            }
            for from in 0..=len + 1 {
                let naive = buf.get(from..).and_then(|r| r.iter().position(|&b| b == 2).map(|i| i + from));
                assert_eq!(find_byte(&buf, from, 2), naive, "len {len} from {from}");
            }
        }
    }

    #[test]
    fn word_at_a_time_helpers_agree_with_naive_code() {
        let mut rng = Xoshiro256::new(11);
        let alphabet = b"0123456789,/:a \xff";
        for _ in 0..200_000 {
            let len = rng.below(30) as usize;
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.below(3) == 0 {
                        rng.next_u64() as u8
                    } else {
                        alphabet[rng.below(alphabet.len() as u64) as usize]
                    }
                })
                .collect();
            let naive_digits = if buf.is_empty() || !buf.iter().all(u8::is_ascii_digit) {
                Err(DigitsFault::NotDigits)
            } else {
                std::str::from_utf8(&buf).unwrap().parse::<u64>().map_err(|_| DigitsFault::Overflow)
            };
            assert_eq!(parse_digits(&buf), naive_digits, "{buf:?}");
            let commas: Vec<usize> = buf.iter().enumerate().filter(|(_, &b)| b == b',').map(|(i, _)| i).collect();
            let want = (commas.len() == 3).then(|| [commas[0], commas[1], commas[2]]);
            assert_eq!(split_fields(&buf), want, "{buf:?}");
            let mut with_lines = buf.clone();
            for b in with_lines.iter_mut() {
                if *b == b'/' {
                    *b = b'\n';
                }
            }
            let start = rng.below(len as u64 + 1) as usize;
            let end = find_byte(&with_lines, start, b'\n').unwrap_or(len);
            assert_eq!(scan_line(&with_lines, start), (end, split_fields(&with_lines[start..end])), "{with_lines:?}");
        }
        assert_eq!(parse_digits(b"12345678"), Ok(12_345_678));
        assert_eq!(parse_digits(b"1795146300000000000"), Ok(1_795_146_300_000_000_000));
        assert_eq!(parse_digits(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_digits(b"18446744073709551616"), Err(DigitsFault::Overflow));
        assert_eq!(parse_digits(b"00000000000000000000000000042"), Ok(42));
        assert_eq!(parse_ts(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_ts(b"9223372036854775808"), None);
        assert_eq!(parse_ts(b"-42"), Some(-42));
    }

    #[test]
    fn random_bytes_never_panic() {
        let t = table();
        let mut rng = Xoshiro256::new(0xDA1A1);
        let alphabet = b"0123456789,.-+ \r\nnaifRELIANCETCS\xff\xef\xbb\xbf";
        let mut buf = Vec::new();
        for i in 0..100_000 {
            let len = rng.below(48) as usize;
            buf.clear();
            for _ in 0..len {
                let b =
                    if i % 2 == 0 { alphabet[rng.below(alphabet.len() as u64) as usize] } else { rng.next_u64() as u8 };
                buf.push(b);
            }
            let line = strip_cr(&buf);
            if let Err(f) = parse_line(line, &t) {
                assert!(f.start <= f.end && f.end <= line.len());
                let _ = f.detail(line);
            }
            let mut file = b"ts_ns,symbol,price,qty\n".to_vec();
            file.extend_from_slice(&buf);
            if let Ok(got) = parse_ticks(&file, &t) {
                assert_eq!(got.lines, got.ticks.len() as u64 + got.rejects.total());
            }
        }
    }
}
