//! `dalal broker history`: a broker's historical candles as a file a backtest reads.
//!
//! Kite serves candles per instrument and interval (`GET /instruments/historical/{token}/
//! {interval}`), each request spanning a bounded number of days, the endpoint taking at most
//! three requests a second. A range is cut into pieces within the limit, fetched one after
//! another at that pace, checked row by row, and written in one go: to a temporary file beside
//! the output, renamed over it only once every piece has arrived. A failed piece fails the
//! command and leaves nothing behind, because a file holding part of a history would pass for
//! the whole of it in a backtest.
//!
//! Two outputs:
//! - `ticks` (default): the tick file `dalal backtest --data` and `dalal candles` read
//!   (`ts_ns,symbol,price,qty`), each bar as four trades (see [`bar_ticks`]), so that
//!   `dalal candles` at the broker's interval gives the broker's bars back exactly.
//! - `candles`: `ts,symbol,open,high,low,close,volume,oi`, the bars as the broker sent them
//!   (`ts` is Kite's IST time text, prices in rupees with two decimals, `oi` empty when the
//!   broker sent none).
//!
//! Rows the broker sends that cannot be a bar (unreadable or impossible time, a price that is
//! not positive, out of range or not a whole number of paise, high below low, open or close
//! outside the high–low range, negative volume, a time already seen) are counted, skipped and
//! reported on standard error.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use dalal_adapters::{write_ticks, SymbolTable};
use dalal_brokers::gateway::rate::RateWindow;
use dalal_brokers::kite::model::Candle;
use dalal_brokers::kite::{KiteClient, KiteError};
use dalal_core::model::time::{IST_OFFSET_NS, NANOS_PER_SEC};
use dalal_core::model::{Date, InstrumentId, IstTime, Price, Qty, Session, Tick, Timeframe, Timestamp};

use crate::cli::{HistoryArgs, HistoryQuery};

/// One of Kite's candle intervals: how many days one request may span, and the bar it is in
/// Dalal's terms (`dalal candles --timeframe`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Interval {
    name: &'static str,
    max_days: i64,
    timeframe: Timeframe,
}

const MINUTE: i64 = 60 * NANOS_PER_SEC;

/// Kite's intervals and the days one request may span at each. Our record of the protocol
/// (`../shared/docs/brokers.md`) gives the endpoint and its 3/s rate limit but not these
/// spans; the figures are the ones Kite's forum and third-party clients agree on (minute 60; 3, 5 and 10 minute
/// 100; 15 and 30 minute 200; 60 minute 400; day 2000), unverified against Kite's own pages.
/// They are read conservatively: a piece spans strictly less than that many days (the last
/// second is left out), so it is within the limit whether Kite counts calendar days or
/// elapsed time. A limit smaller than Kite's would only cost requests; a larger one would
/// fail every long download.
const INTERVALS: [Interval; 8] = [
    Interval { name: "minute", max_days: 60, timeframe: Timeframe(MINUTE) },
    Interval { name: "3minute", max_days: 100, timeframe: Timeframe(3 * MINUTE) },
    Interval { name: "5minute", max_days: 100, timeframe: Timeframe(5 * MINUTE) },
    Interval { name: "10minute", max_days: 100, timeframe: Timeframe(10 * MINUTE) },
    Interval { name: "15minute", max_days: 200, timeframe: Timeframe(15 * MINUTE) },
    Interval { name: "30minute", max_days: 200, timeframe: Timeframe(30 * MINUTE) },
    Interval { name: "60minute", max_days: 400, timeframe: Timeframe(60 * MINUTE) },
    Interval { name: "day", max_days: 2000, timeframe: Timeframe::SESSION },
];

/// Kite's documented limit for the historical endpoint (brokers.md §1.9).
const REQUESTS_PER_SECOND: u32 = 3;

/// Tries per piece. Only what may help is tried again: a 429 (refused at the door) and a read
/// that got no usable answer; an expired session or bad input fails at once.
const ATTEMPTS: u32 = 3;

const SECS_PER_DAY: i64 = 86_400;

/// What a fetch brought: the instruments asked for, their checked bars (in time order, then
/// by symbol), the interval's bar in Dalal's terms, and the range and requests it took.
pub(crate) struct Fetched {
    pub instruments: Vec<(String, u32)>,
    pub bars: Vec<Bar>,
    pub timeframe: Timeframe,
    pub interval: &'static str,
    pub from: String,
    pub to: String,
    pub requests: u64,
}

/// Fetches the candles a query names from Kite, piece by piece at the endpoint's pace,
/// checking every row; any failed piece fails the whole fetch.
pub(crate) fn fetch(args: &HistoryQuery) -> Result<Fetched> {
    let interval = INTERVALS
        .iter()
        .find(|i| i.name == args.interval)
        .with_context(|| format!("--interval {:?}: not one of Kite's intervals", args.interval))?;
    let from = bound(&args.from, "--from", false)?;
    let to = bound(&args.to, "--to", true)?;
    if from > to {
        bail!("--from {} is after --to {}", format_local(from), format_local(to));
    }
    let instruments = instruments(args)?;
    let pieces = pieces(from, to, interval.max_days);
    let (client, login) = crate::broker::kite_session(&args.session)?;
    let rt = crate::broker::runtime()?;
    let mut fetch = Fetcher { client, rt, pace: RateWindow::new(REQUESTS_PER_SECOND), requests: 0 };

    let mut bars: Vec<Bar> = Vec::new();
    for (i, (symbol, token)) in instruments.iter().enumerate() {
        let mut seen = BTreeSet::new();
        let mut skips = Skips::default();
        let mut rows = 0u64;
        for &(a, b) in &pieces {
            let (a, b) = (format_local(a), format_local(b));
            let candles = fetch
                .candles(*token, interval.name, &a, &b, args.continuous)
                .map_err(|e| crate::broker::kite_failure(e, login.as_deref()))
                .with_context(|| format!("{symbol} (token {token}) {a} to {b}"))?;
            for c in &candles {
                rows += 1;
                match check(c, i as u32) {
                    Ok(bar) if seen.insert(bar.ts) => bars.push(bar),
                    Ok(_) => skips.add(Skip::Duplicate, c),
                    Err(why) => skips.add(why, c),
                }
            }
        }
        if rows == 0 {
            eprintln!("{symbol}: the broker sent no candles for token {token} in that range");
        }
        skips.report(symbol, rows);
    }
    let name = |b: &Bar| instruments.get(b.symbol as usize).map_or("", |(s, _)| s.as_str());
    bars.sort_by(|a, b| (a.ts, name(a)).cmp(&(b.ts, name(b))));
    Ok(Fetched {
        bars,
        timeframe: interval.timeframe,
        interval: interval.name,
        from: format_local(from),
        to: format_local(to),
        requests: fetch.requests,
        instruments,
    })
}

pub fn run(args: HistoryArgs) -> Result<()> {
    let Fetched { instruments, bars, timeframe, interval, from, to, requests } = fetch(&args.query)?;
    let name = |b: &Bar| instruments.get(b.symbol as usize).map_or("", |(s, _)| s.as_str());
    let what = match args.format.as_str() {
        "candles" => {
            write_whole(&args.out, |w| {
                writeln!(w, "ts,symbol,open,high,low,close,volume,oi")?;
                for b in &bars {
                    let (o, h, l, c, v) = (b.open, b.high, b.low, b.close, b.volume);
                    let oi = b.oi.map(|x| x.to_string()).unwrap_or_default();
                    writeln!(w, "{},{},{o},{h},{l},{c},{v},{oi}", b.time, name(b))?;
                }
                Ok(())
            })?;
            format!("{} candles", bars.len())
        }
        _ => {
            let symbols = SymbolTable::from_pairs(
                instruments.iter().enumerate().map(|(i, (s, _))| (s.as_str(), InstrumentId(i as u32))),
            )
            .context("symbol table")?;
            let session = Session::NSE_NORMAL;
            let mut ticks: Vec<Tick> = bars.iter().flat_map(|b| bar_ticks(b, timeframe, &session)).collect();
            // Stable: a bar's four trades keep their order, and at one instant symbols
            // follow each other by name, as the bars do.
            ticks.sort_by(|a, b| (a.ts, symbols.symbol(a.instrument)).cmp(&(b.ts, symbols.symbol(b.instrument))));
            write_whole(&args.out, |w| write_ticks(w, &ticks, &symbols))?;
            format!("{} ticks from {} bars", ticks.len(), bars.len())
        }
    };
    println!(
        "wrote {what} of {} instrument(s) to {} ({}, {} to {}, {} request(s))",
        instruments.len(),
        args.out.display(),
        interval,
        from,
        to,
        requests
    );
    Ok(())
}

/// The instruments asked for, each with its Kite instrument token: `--instrument` symbols from
/// the config's `tokens.kite`, then `--token SYMBOL=N` as given.
fn instruments(args: &HistoryQuery) -> Result<Vec<(String, u32)>> {
    let mut out: Vec<(String, u32)> = Vec::new();
    if !args.instruments.is_empty() {
        let (config, _) = crate::commands::load_config(args.config.as_deref())?;
        let file =
            args.config.as_deref().map_or_else(|| "(built-in defaults)".to_string(), |p| p.display().to_string());
        for symbol in &args.instruments {
            let spec = config
                .instruments
                .iter()
                .find(|i| i.symbol == *symbol)
                .with_context(|| format!("--instrument {symbol}: not an instrument of {file}"))?;
            let token = spec.tokens.get("kite").with_context(|| {
                format!(
                    "--instrument {symbol}: {file} gives it no Kite token (tokens = {{ kite = … }}, as `dalal instruments \
                     import` writes them), or give one with --token {symbol}=N"
                )
            })?;
            let token = u32::try_from(*token)
                .with_context(|| format!("--instrument {symbol}: {token} in {file} is not a Kite instrument token"))?;
            out.push((symbol.clone(), token));
        }
    }
    for given in &args.tokens {
        let parsed = given.split_once('=').and_then(|(s, t)| Some((s.trim(), t.trim().parse::<u32>().ok()?)));
        let Some((symbol, token)) = parsed.filter(|(s, t)| !s.is_empty() && *t > 0) else {
            bail!("--token {given:?}: expected SYMBOL=N with N a Kite instrument token");
        };
        out.push((symbol.to_string(), token));
    }
    if out.is_empty() {
        bail!("nothing to fetch: give --instrument SYMBOL or --token SYMBOL=N");
    }
    let mut names = BTreeSet::new();
    for (symbol, _) in &out {
        if symbol.contains([',', '"', '\n', '\r']) || symbol.trim() != symbol {
            bail!("{symbol:?} cannot be a symbol in a CSV file");
        }
        if !names.insert(symbol.as_str()) {
            bail!("{symbol} is asked for twice");
        }
    }
    Ok(out)
}

/// Talks to the historical endpoint at its pace.
struct Fetcher {
    client: KiteClient,
    rt: tokio::runtime::Runtime,
    /// When each of the last answers arrived. Pacing from answers rather than from sends is
    /// stricter by the round trip, and it bounds what the broker sees: the broker received
    /// request `k` before its answer arrived here, and request `k + 3` goes out a second or
    /// more after that, so the broker never counts more than three in a second however the
    /// network delays each request.
    pace: RateWindow,
    requests: u64,
}

impl Fetcher {
    /// One piece's candles (with open interest, which Kite sends only when asked for).
    fn candles(
        &mut self,
        token: u32,
        interval: &str,
        from: &str,
        to: &str,
        continuous: bool,
    ) -> Result<Vec<Candle>, KiteError> {
        let mut attempt = 1;
        loop {
            loop {
                let wait = self.pace.wait(Instant::now());
                if wait.is_zero() {
                    break;
                }
                std::thread::sleep(wait);
            }
            self.requests += 1;
            let answer = self.rt.block_on(self.client.historical(token, interval, from, to, continuous, true));
            self.pace.record(Instant::now());
            match answer {
                Ok(h) => return Ok(h.candles),
                Err(e) if attempt < ATTEMPTS && e.is_retry_safe() => {
                    tracing::warn!(token, from, to, attempt, "historical candles: {e}; trying again");
                    std::thread::sleep(Duration::from_secs(attempt.into()));
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A checked bar: prices in paise, time in ns since the epoch (and as Kite wrote it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bar {
    pub ts: i64,
    pub time: String,
    /// The instrument's index (in the fetch's instruments, or the backtest's setup).
    pub symbol: u32,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: u64,
    pub oi: Option<i64>,
}

/// Why a row from the broker was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Skip {
    Time,
    NonPositivePrice,
    PriceRange,
    SubPaisa,
    HighBelowLow,
    OutsideRange,
    NegativeVolume,
    Duplicate,
}

impl Skip {
    fn as_str(self) -> &'static str {
        match self {
            Skip::Time => "unreadable time",
            Skip::NonPositivePrice => "price not positive",
            Skip::PriceRange => "price out of range",
            Skip::SubPaisa => "price not a whole number of paise",
            Skip::HighBelowLow => "high below low",
            Skip::OutsideRange => "open or close outside high-low",
            Skip::NegativeVolume => "negative volume",
            Skip::Duplicate => "time already seen",
        }
    }
}

/// One instrument's skipped rows: a count per reason and the first row of each.
#[derive(Default)]
struct Skips(BTreeMap<Skip, (u64, String)>);

impl Skips {
    fn add(&mut self, why: Skip, c: &Candle) {
        let e = self.0.entry(why).or_insert_with(|| {
            (0, format!("[{:?}, {}, {}, {}, {}, {}]", c.time, c.open, c.high, c.low, c.close, c.volume))
        });
        e.0 += 1;
    }

    fn report(&self, symbol: &str, rows: u64) {
        let skipped: u64 = self.0.values().map(|(n, _)| n).sum();
        if skipped == 0 {
            return;
        }
        eprintln!("{symbol}: skipped {skipped} of {rows} row(s) from the broker:");
        for (why, (n, first)) in &self.0 {
            eprintln!("  {n} {}, first {first}", why.as_str());
        }
    }
}

/// Rupees to paise, refusing what a tick file cannot carry.
fn paise(rupees: f64) -> Result<Price, Skip> {
    if rupees.is_nan() || rupees <= 0.0 {
        return Err(Skip::NonPositivePrice);
    }
    let p = Price::from_rupees_f64(rupees).ok_or(Skip::PriceRange)?;
    // Kite's prices are decimals on the tick grid, sent as floats: 1386.4 is 138640 paise
    // give or take the float's last bit; anything further off is a fraction of a paisa.
    if (p.0 as f64 - rupees * 100.0).abs() > 1e-6 {
        return Err(Skip::SubPaisa);
    }
    if p.0 <= 0 {
        return Err(Skip::NonPositivePrice);
    }
    Ok(p)
}

fn check(c: &Candle, symbol: u32) -> Result<Bar, Skip> {
    let ts = parse_candle_time(&c.time).ok_or(Skip::Time)?;
    let (open, high, low, close) = (paise(c.open)?, paise(c.high)?, paise(c.low)?, paise(c.close)?);
    if high < low {
        return Err(Skip::HighBelowLow);
    }
    if !(low..=high).contains(&open) || !(low..=high).contains(&close) {
        return Err(Skip::OutsideRange);
    }
    let volume = u64::try_from(c.volume).map_err(|_| Skip::NegativeVolume)?;
    Ok(Bar { ts, time: c.time.clone(), symbol, open, high, low, close, volume, oi: c.oi })
}

/// The four trades a bar becomes, the usual reading of a bar by bar-driven backtesters: the
/// open first and the close last; between them the high and the low, the nearer extreme to
/// the open first (open, high, low, close when the open is nearer the high; otherwise, ties
/// included, open, low, high, close), since a price that opened near its high more likely
/// went there before falling to its low.
///
/// Times: the bar's window (as `dalal candles` cuts it: anchored at the session's open, the
/// last intraday bar cut at its close, a day bar the whole session) in four equal steps,
/// trades at its start and at one, two and three quarters, so all four fall in the bar.
///
/// Quantities: the bar's volume in four parts that add up to it exactly, the remainder to the
/// first trades (each at least one share when the volume is 4 or more). A tick file refuses a
/// zero quantity, so a bar with less than 4 shares of volume (a zero-volume bar, say) gives
/// four trades of one share, the least the format accepts: its ticks then show a volume of 4.
pub(crate) fn bar_ticks(bar: &Bar, timeframe: Timeframe, session: &Session) -> [Tick; 4] {
    let (start, len) = window(bar.ts, timeframe, session);
    let step = len / 4;
    let prices = if bar.high.0 - bar.open.0 < bar.open.0 - bar.low.0 {
        [bar.open, bar.high, bar.low, bar.close]
    } else {
        [bar.open, bar.low, bar.high, bar.close]
    };
    let qty = split_volume(bar.volume);
    std::array::from_fn(|k| Tick {
        instrument: InstrumentId(bar.symbol),
        ts: Timestamp(start + k as i64 * step),
        price: prices[k],
        qty: Qty(qty[k]),
    })
}

/// `[start, start + len)` of the bar starting at `ts`: a day bar is its date's session; an
/// intraday bar on the session's grid ends where `dalal candles` ends it (at the close for
/// the last one); any other bar (another exchange's hours) has the interval's full length.
pub(crate) fn window(ts: i64, timeframe: Timeframe, session: &Session) -> (i64, i64) {
    let (start, end) = timeframe.bucket(session, Timestamp(ts));
    if timeframe == Timeframe::SESSION || (start.0 == ts && end.0 > ts) {
        (start.0, end.0 - start.0)
    } else {
        (ts, timeframe.0)
    }
}

fn split_volume(v: u64) -> [u64; 4] {
    if v < 4 {
        return [1; 4];
    }
    let (q, r) = (v / 4, v % 4);
    [q + u64::from(r > 0), q + u64::from(r > 1), q + u64::from(r > 2), q]
}

/// Writes `out` whole or not at all: into a temporary file in the same directory, flushed to
/// disk, then renamed over `out` (atomic on one file system). A failure removes the
/// temporary file.
pub(crate) fn write_whole(out: &Path, write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>) -> Result<()> {
    let name = out.file_name().with_context(|| format!("--out {}: not a file name", out.display()))?;
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.partial-{}", name.to_string_lossy(), std::process::id()));
    let written = File::create(&tmp).and_then(|f| {
        let mut w = BufWriter::new(f);
        write(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&tmp, out)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e).with_context(|| format!("writing {}", out.display()))
        }
    }
}

// IST wall time as seconds since 1970-01-01 00:00:00 on the IST calendar: Kite's `from`, `to`
// and candle times are IST, and requests are cut on that calendar.

/// `YYYY-MM-DD`, or `YYYY-MM-DD HH:MM:SS` (`T` also between them), on the calendar; with
/// whether a time of day was given.
fn parse_local(s: &str) -> Option<(i64, bool)> {
    let b = s.as_bytes();
    if !matches!(b.len(), 10 | 19) {
        return None;
    }
    let day = Date::parse(s.get(..10)?)?.days_since_epoch() * SECS_PER_DAY;
    if b.len() == 10 {
        return Some((day, false));
    }
    // Exactly `HH:MM:SS` after the separator.
    let clock = s.get(11..)?;
    let shaped = clock.bytes().enumerate().all(|(i, c)| if i == 2 || i == 5 { c == b':' } else { c.is_ascii_digit() });
    if !matches!(b[10], b' ' | b'T') || !shaped {
        return None;
    }
    Some((day + IstTime::parse(clock)?.0 / NANOS_PER_SEC, true))
}

pub(crate) fn format_local(t: i64) -> String {
    let s = t.rem_euclid(SECS_PER_DAY);
    match Date::from_days(t.div_euclid(SECS_PER_DAY)) {
        Some(d) => format!("{d} {:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
        None => format!("{t} s"),
    }
}

/// A `--from` or `--to`; a bare date is its first second, or its last for `--to`.
pub(crate) fn bound(s: &str, flag: &str, end: bool) -> Result<i64> {
    let (t, timed) = parse_local(s.trim())
        .with_context(|| format!("{flag} {s:?}: expected a date YYYY-MM-DD or YYYY-MM-DD HH:MM:SS (IST)"))?;
    Ok(if end && !timed { t + SECS_PER_DAY - 1 } else { t })
}

/// 2200-01-01 00:00:00 UTC in ns: later candle times are refused, which keeps every sum on a
/// bar's time (its session, its window) far from overflowing.
const LATEST_NS: i64 = 7_258_118_400 * NANOS_PER_SEC;

/// A candle's time as Kite sends it, `2026-01-05T09:15:00+0530`, in ns since the epoch. The
/// offset may also be written `+05:30` or `Z`; without one the time is IST, as all of Kite's
/// are. Times before 1970 or from 2200 on are refused.
fn parse_candle_time(s: &str) -> Option<i64> {
    let (local, zone) = (s.get(..19)?, s.get(19..)?);
    let (t, true) = parse_local(local)? else { return None };
    let offset = match zone.as_bytes() {
        [] => IST_OFFSET_NS / NANOS_PER_SEC,
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let digits: Vec<u8> = match rest {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => vec![*h1, *h2, *m1, *m2],
                _ => return None,
            };
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let v = |i: usize| i64::from(digits[i] - b'0');
            let (h, m) = (v(0) * 10 + v(1), v(2) * 10 + v(3));
            if h > 14 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    (t - offset).checked_mul(NANOS_PER_SEC).filter(|ns| (0..LATEST_NS).contains(ns))
}

/// `[from, to]` (IST seconds, both included, as Kite reads a request) in pieces of less than
/// `max_days` days each, in order, each starting the second after the last one ended.
fn pieces(from: i64, to: i64, max_days: i64) -> Vec<(i64, i64)> {
    let span = max_days * SECS_PER_DAY - 1;
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let end = start.saturating_add(span).min(to);
        out.push((start, end));
        start = end + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(s: &str) -> i64 {
        parse_local(s).map(|(t, _)| t).unwrap_or(i64::MIN)
    }

    #[test]
    fn dates_and_times_are_read_on_the_calendar() {
        assert_eq!(parse_local("1970-01-01"), Some((0, false)));
        assert_eq!(parse_local("1970-01-02 00:00:01"), Some((86_401, true)));
        assert_eq!(parse_local("2024-02-29T09:15:00"), parse_local("2024-02-29 09:15:00"));
        for bad in ["2026-02-29", "2026-13-01", "2026-1-05", "2026-01-05 24:00:00", "2026-01-05 9:15:00", "", "x"] {
            assert_eq!(parse_local(bad), None, "{bad}");
        }
        for t in ["2026-01-05 09:15:00", "2000-02-29 23:59:59", "1999-12-31 00:00:00", "2100-03-01 12:00:00"] {
            assert_eq!(format_local(local(t)), t);
        }
        assert_eq!(bound("2026-01-05", "--to", true).ok().map(format_local).as_deref(), Some("2026-01-05 23:59:59"));
        assert_eq!(bound("2026-01-05", "--from", false).ok().map(format_local).as_deref(), Some("2026-01-05 00:00:00"));
    }

    #[test]
    fn candle_times_are_ist_instants() {
        // 2026-11-20 09:15:00 IST.
        let open = 1_795_146_300 * NANOS_PER_SEC;
        assert_eq!(parse_candle_time("2026-11-20T09:15:00+0530"), Some(open));
        assert_eq!(parse_candle_time("2026-11-20T09:15:00+05:30"), Some(open));
        assert_eq!(parse_candle_time("2026-11-20 09:15:00"), Some(open));
        assert_eq!(parse_candle_time("2026-11-20T03:45:00Z"), Some(open));
        for bad in [
            "2026-11-20",
            "2026-11-20T09:15:00+530",
            "2026-11-20T09:15:00 IST",
            "garbage",
            "2026-11-31T09:15:00+0530",
            "9999-12-31T23:59:59+0530",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_candle_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn ranges_are_cut_within_the_limit_without_gaps_or_overlap() {
        let (from, to) = (local("2026-01-01 00:00:00"), local("2026-07-31 23:59:59"));
        let p = pieces(from, to, 60);
        let text: Vec<(String, String)> = p.iter().map(|&(a, b)| (format_local(a), format_local(b))).collect();
        assert_eq!(
            text,
            [
                ("2026-01-01 00:00:00", "2026-03-01 23:59:59"),
                ("2026-03-02 00:00:00", "2026-04-30 23:59:59"),
                ("2026-05-01 00:00:00", "2026-06-29 23:59:59"),
                ("2026-06-30 00:00:00", "2026-07-31 23:59:59"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        for i in INTERVALS {
            let p = pieces(from, local("2040-12-31 23:59:59"), i.max_days);
            assert_eq!(p.first().map(|x| x.0), Some(from));
            for w in p.windows(2) {
                assert_eq!(w[1].0, w[0].1 + 1);
            }
            assert!(p.iter().all(|(a, b)| b - a < i.max_days * SECS_PER_DAY), "{}", i.name);
        }
        assert_eq!(pieces(from, from, 60), [(from, from)]);
        assert!(pieces(to, from, 60).is_empty());
    }

    #[test]
    fn volume_splits_exactly_and_never_below_one_share() {
        for v in 4..500u64 {
            let q = split_volume(v);
            assert_eq!(q.iter().sum::<u64>(), v);
            assert!(q.iter().all(|&x| x >= 1));
        }
        assert_eq!(split_volume(0), [1; 4]);
        assert_eq!(split_volume(3), [1; 4]);
        assert_eq!(split_volume(7), [2, 2, 2, 1]);
    }

    fn bar(time: &str, o: i64, h: i64, l: i64, c: i64, v: u64) -> Bar {
        Bar {
            ts: parse_candle_time(time).unwrap_or_default(),
            time: time.into(),
            symbol: 0,
            open: Price(o),
            high: Price(h),
            low: Price(l),
            close: Price(c),
            volume: v,
            oi: None,
        }
    }

    #[test]
    fn a_bar_is_four_trades_in_its_window_nearer_extreme_first() {
        let s = Session::NSE_NORMAL;
        let b = bar("2026-11-20T09:15:00+0530", 10_000, 10_100, 9_500, 9_800, 10);
        let t = bar_ticks(&b, Timeframe::M1, &s);
        assert_eq!(t.map(|t| t.price.0), [10_000, 10_100, 9_500, 9_800], "open nearer the high");
        assert_eq!(t.map(|t| t.ts.0 - b.ts), [0, 15, 30, 45].map(|x| x * NANOS_PER_SEC));
        assert_eq!(t.map(|t| t.qty.0), [3, 3, 2, 2]);
        let b = bar("2026-11-20T09:15:00+0530", 9_600, 10_100, 9_500, 9_800, 10);
        assert_eq!(bar_ticks(&b, Timeframe::M1, &s).map(|t| t.price.0), [9_600, 9_500, 10_100, 9_800]);
        let b = bar("2026-11-20T09:15:00+0530", 9_800, 10_100, 9_500, 9_800, 10);
        assert_eq!(bar_ticks(&b, Timeframe::M1, &s).map(|t| t.price.0), [9_800, 9_500, 10_100, 9_800], "a tie");
        // The last hourly bar runs 15:15-15:30; a day bar is the session.
        let b = bar("2026-11-20T15:15:00+0530", 100, 100, 100, 100, 0);
        let t = bar_ticks(&b, Timeframe(60 * MINUTE), &s);
        assert_eq!(t.map(|t| (t.ts.0 - b.ts) / NANOS_PER_SEC), [0, 225, 450, 675]);
        assert_eq!(t.map(|t| t.qty.0), [1; 4], "zero volume: one share each");
        let b = bar("2026-11-20T00:00:00+0530", 100, 100, 100, 100, 8);
        let t = bar_ticks(&b, Timeframe::SESSION, &s);
        let open = parse_candle_time("2026-11-20T09:15:00+0530").unwrap_or_default();
        assert_eq!(t.map(|t| (t.ts.0 - open) / MINUTE), [0, 93, 187, 281]);
        // Off the session's grid: the interval's full length.
        let b = bar("2026-11-20T17:02:00+0530", 100, 100, 100, 100, 8);
        let t = bar_ticks(&b, Timeframe(5 * MINUTE), &s);
        assert_eq!(t.map(|t| t.ts.0 - b.ts), [0, 75, 150, 225].map(|x| x * NANOS_PER_SEC));
    }

    #[test]
    fn rows_that_cannot_be_bars_are_refused_with_a_reason() {
        let c = |time: &str, o: f64, h: f64, l: f64, cl: f64, v: i64| Candle {
            time: time.into(),
            open: o,
            high: h,
            low: l,
            close: cl,
            volume: v,
            oi: None,
        };
        let t = "2026-11-20T09:15:00+0530";
        assert_eq!(check(&c(t, 1386.4, 1388.0, 1381.05, 1385.1, 788), 0).map(|b| b.low), Ok(Price(138_105)));
        assert_eq!(check(&c("9:15", 1.0, 1.0, 1.0, 1.0, 1), 0), Err(Skip::Time));
        assert_eq!(check(&c(t, 0.0, 1.0, 1.0, 1.0, 1), 0), Err(Skip::NonPositivePrice));
        assert_eq!(check(&c(t, 1.0, 1.0, -1.0, 1.0, 1), 0), Err(Skip::NonPositivePrice));
        assert_eq!(check(&c(t, 1.0, 1.0, 1.0, 1.001, 1), 0), Err(Skip::SubPaisa));
        assert_eq!(check(&c(t, 1.0, 1.0, 2.0, 1.0, 1), 0), Err(Skip::HighBelowLow));
        assert_eq!(check(&c(t, 3.0, 2.0, 1.0, 1.5, 1), 0), Err(Skip::OutsideRange));
        assert_eq!(check(&c(t, 1.0, 1.0, 1.0, 1.0, -1), 0), Err(Skip::NegativeVolume));
        assert_eq!(check(&c(t, 1e300, 1e300, 1e300, 1e300, 1), 0), Err(Skip::PriceRange));
        assert_eq!(check(&c(t, 21731.45, 21731.45, 21731.45, 21731.45, 0), 0).map(|b| b.close), Ok(Price(2_173_145)));
    }
}
