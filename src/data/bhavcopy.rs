//! NSE capital-market bhavcopies: the exchange's end-of-day file with one row per security per
//! day (open, high, low, close, traded quantity). NSE has published it in three layouts, and
//! old and new files are both in circulation, so each is recognised by its header and its
//! columns are found by name, never by position:
//!
//! - legacy CM (`cmDDMMMYYYYbhav.csv`, before 2024-07-08): `SYMBOL,SERIES,OPEN,…,TIMESTAMP,…`,
//!   dates like `01-JAN-2024`, a trailing comma on every line;
//! - UDiFF CM (`BhavCopy_NSE_CM_0_0_0_YYYYMMDD_F_0000.csv`, from 2024-07-08): ISO-style names
//!   (`TradDt`, `TckrSymb`, `OpnPric`, …), dates `2024-07-08`, a segment column (`Sgmt`) shared
//!   with the derivatives files;
//! - "full" security-wise (`sec_bhavdata_full_DDMMYYYY.csv`): `SYMBOL, SERIES, DATE1, …` with a
//!   space after every comma, dates like `01-Jan-2024`, delivery columns that may be `-`.
//!
//! NSE writes no quoting, so a line is split on commas and each field trimmed. Prices are parsed
//! exactly into paise (no float round trip): a bar either holds the exchange's own numbers or
//! the row is refused, and every refused row is counted by reason so nothing vanishes silently.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use dalal_core::model::price::parse_rupees_bytes;
use dalal_core::model::{Date, Price};

/// Prices at or above ₹10,000,000,000 (10^12 paise) are taken for corrupt data: far above any
/// listed security, and far below where paise arithmetic could overflow.
const MAX_PAISE: i64 = 1_000_000_000_000;

/// Which of NSE's layouts a file is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Legacy,
    Udiff,
    Full,
}

/// One checked day of one security, prices in paise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyBar {
    pub date: Date,
    pub symbol: String,
    pub series: String,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: u64,
}

/// Why a row was skipped. A row is counted once, under the first reason found, in the order
/// the checks run: columns, symbol, segment, series, date, prices, range, volume, duplicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Skip {
    /// Fewer fields than the columns read, or non-empty fields beyond the header (an unquoted
    /// comma would shift every column after it).
    Columns,
    Date,
    /// Not a rupee amount with at most 2 decimals, not positive, or implausibly large.
    Price,
    HighBelowLow,
    /// Open or close outside the day's low–high range.
    OutsideRange,
    /// Not a whole number, or zero: on a day without trades NSE repeats the previous close as
    /// OHLC, and a day without trades is not a bar.
    Volume,
    /// A UDiFF row whose segment (`Sgmt`) is not `CM`.
    NotCashMarket,
    /// A series not asked for, or an empty or malformed one.
    Series,
    /// Empty, or holding a comma, quote or whitespace.
    Symbol,
    /// The same (date, symbol, series) again; the first row is kept.
    Duplicate,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Columns => "wrong number of fields for the header",
            Skip::Date => "unreadable or impossible date",
            Skip::Price => "price not a positive rupee amount with at most 2 decimals",
            Skip::HighBelowLow => "high below low",
            Skip::OutsideRange => "open or close outside the day's low-high range",
            Skip::Volume => "volume not a positive whole number (a day without trades is not a bar)",
            Skip::NotCashMarket => "not the cash market (segment other than CM)",
            Skip::Series => "series not selected, or empty",
            Skip::Symbol => "empty symbol, or one with a comma, quote or whitespace",
            Skip::Duplicate => "same date, symbol and series as an earlier row",
        }
    }
}

/// A parsed file: its layout, the bars kept (in file order), and per skip reason a count and
/// the first offending line number (1-based, the header being line 1) with the line's text.
/// `rows` counts the non-blank lines after the header.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub layout: Layout,
    pub bars: Vec<DailyBar>,
    pub skipped: BTreeMap<Skip, (u64, usize, String)>,
    pub rows: u64,
}

/// Why a file could not be read as a bhavcopy at all.
#[derive(Debug)]
pub enum BhavcopyError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// NSE serves bhavcopies zipped; the archive itself was given.
    Zip {
        path: PathBuf,
    },
    NotUtf8 {
        path: PathBuf,
        valid_up_to: usize,
    },
    /// No header line.
    Empty,
    /// The first line (cut to 200 characters) matches none of the three layouts.
    UnknownHeader {
        first_line: String,
    },
}

impl fmt::Display for BhavcopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BhavcopyError::Io { path, .. } => write!(f, "reading {}", path.display()),
            BhavcopyError::Zip { path } => write!(
                f,
                "{} is a zip archive (NSE serves bhavcopies zipped): unzip it first and pass the .csv inside",
                path.display()
            ),
            BhavcopyError::NotUtf8 { path, valid_up_to } => write!(
                f,
                "{} is not UTF-8 text (invalid byte at offset {valid_up_to}): expected an NSE bhavcopy CSV",
                path.display()
            ),
            BhavcopyError::Empty => write!(f, "empty file: expected an NSE bhavcopy CSV with a header line"),
            BhavcopyError::UnknownHeader { first_line } => write!(
                f,
                "unrecognised bhavcopy header {first_line:?}: expected one of NSE's CM layouts: legacy \
                 cmDDMMMYYYYbhav.csv (SYMBOL,SERIES,OPEN,HIGH,LOW,CLOSE,…,TOTTRDQTY,…,TIMESTAMP,…), UDiFF \
                 BhavCopy_NSE_CM_0_0_0_YYYYMMDD_F_0000.csv (TradDt,…,Sgmt,…,TckrSymb,SctySrs,…,OpnPric,HghPric,\
                 LwPric,ClsPric,…,TtlTradgVol,…) or full sec_bhavdata_full_DDMMYYYY.csv (SYMBOL, SERIES, DATE1, …, \
                 OPEN_PRICE, HIGH_PRICE, LOW_PRICE, …, CLOSE_PRICE, …, TTL_TRD_QNTY, …)"
            ),
        }
    }
}

impl std::error::Error for BhavcopyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BhavcopyError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Where a layout keeps the columns a bar is made of.
struct Columns {
    layout: Layout,
    date: usize,
    symbol: usize,
    series: usize,
    prices: [usize; 4], // open, high, low, close
    volume: usize,
    segment: Option<usize>,
    /// Named header columns: anything non-empty beyond them is a shifted row.
    width: usize,
    /// Fields a row must have for every column read to exist.
    needed: usize,
}

impl Columns {
    fn of(header: &str) -> Option<Columns> {
        let names: Vec<&str> = header.split(',').map(str::trim).collect();
        let width = names.iter().rposition(|n| !n.is_empty()).map_or(0, |i| i + 1);
        let find = |n: &str| names[..width].iter().position(|h| *h == n);
        let layouts: [(Layout, [&str; 8], Option<&str>); 3] = [
            (
                Layout::Udiff,
                ["TradDt", "TckrSymb", "SctySrs", "OpnPric", "HghPric", "LwPric", "ClsPric", "TtlTradgVol"],
                Some("Sgmt"),
            ),
            (
                Layout::Full,
                ["DATE1", "SYMBOL", "SERIES", "OPEN_PRICE", "HIGH_PRICE", "LOW_PRICE", "CLOSE_PRICE", "TTL_TRD_QNTY"],
                None,
            ),
            (Layout::Legacy, ["TIMESTAMP", "SYMBOL", "SERIES", "OPEN", "HIGH", "LOW", "CLOSE", "TOTTRDQTY"], None),
        ];
        layouts.into_iter().find_map(|(layout, cols, segment)| {
            let [date, symbol, series, open, high, low, close, volume] = cols.map(find);
            let (date, symbol, series, volume) = (date?, symbol?, series?, volume?);
            let prices = [open?, high?, low?, close?];
            let segment = match segment {
                Some(s) => Some(find(s)?),
                None => None,
            };
            let needed = [date, symbol, series, volume, segment.unwrap_or(0)].into_iter().chain(prices).max()? + 1;
            Some(Columns { layout, date, symbol, series, prices, volume, segment, width, needed })
        })
    }

    /// The bar of one row's trimmed fields; `Ok(None)` for a symbol not asked for.
    fn bar(&self, f: &[&str], series: &[String], symbols: &[String]) -> Result<Option<DailyBar>, Skip> {
        if f.len() < self.needed || f.iter().skip(self.width).any(|x| !x.is_empty()) {
            return Err(Skip::Columns);
        }
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        let symbol = get(self.symbol);
        if !symbols.is_empty() && !symbols.iter().any(|s| s == symbol) {
            return Ok(None);
        }
        if !is_code(symbol) {
            return Err(Skip::Symbol);
        }
        if self.segment.is_some_and(|s| get(s) != "CM") {
            return Err(Skip::NotCashMarket);
        }
        let ser = get(self.series);
        if !is_code(ser) || (!series.is_empty() && !series.iter().any(|s| s == ser)) {
            return Err(Skip::Series);
        }
        let date = match self.layout {
            Layout::Udiff => Date::parse(get(self.date)),
            Layout::Legacy | Layout::Full => day_mon_year(get(self.date)),
        }
        .ok_or(Skip::Date)?;
        let [open, high, low, close] = self.prices.map(|i| price(get(i)));
        let (Some(open), Some(high), Some(low), Some(close)) = (open, high, low, close) else {
            return Err(Skip::Price);
        };
        if high < low {
            return Err(Skip::HighBelowLow);
        }
        if !(low..=high).contains(&open) || !(low..=high).contains(&close) {
            return Err(Skip::OutsideRange);
        }
        let volume = whole(get(self.volume)).filter(|&v| v > 0).ok_or(Skip::Volume)?;
        Ok(Some(DailyBar { date, symbol: symbol.to_string(), series: ser.to_string(), open, high, low, close, volume }))
    }
}

/// A symbol or series as NSE writes them (`M&M`, `BAJAJ-AUTO`, `EQ`): non-empty, no comma,
/// quote or whitespace.
fn is_code(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| matches!(c, ',' | '"' | '\'') || c.is_whitespace())
}

/// Rupees to paise exactly, through the feed's own parser (`2913.05` → 291305), then bounded.
fn price(s: &str) -> Option<Price> {
    parse_rupees_bytes(s.as_bytes()).ok().filter(|p| p.0 > 0 && p.0 < MAX_PAISE)
}

/// Digits only: `12345`, not `+12345`, `12345.0` or `-1`.
fn whole(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// `01-JAN-2024` / `01-Jan-2024`, the month in any case; an impossible day is `None`.
fn day_mon_year(s: &str) -> Option<Date> {
    const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
    let mut parts = s.split('-');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if parts.next().is_some() || !(1..=2).contains(&d.len()) || y.len() != 4 || !digits(d) || !digits(y) {
        return None;
    }
    let month = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(m))? + 1;
    Date::new(y.parse().ok()?, u8::try_from(month).ok()?, d.parse().ok()?)
}

/// `series`: keep only rows whose series is in this list (e.g. `["EQ"]`; empty = all series).
/// `symbols`: keep only these symbols (empty = all); a row of another symbol is simply not
/// kept, not counted as skipped. Both compare exactly (NSE writes them upper case).
pub fn parse(text: &str, series: &[String], symbols: &[String]) -> Result<Parsed, BhavcopyError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(BhavcopyError::Empty);
    }
    let mut lines = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
    let header = lines.next().unwrap_or("");
    let cols = Columns::of(header)
        .ok_or_else(|| BhavcopyError::UnknownHeader { first_line: header.chars().take(200).collect() })?;
    let mut parsed = Parsed { layout: cols.layout, bars: Vec::new(), skipped: BTreeMap::new(), rows: 0 };
    let mut seen: HashSet<(Date, String, String)> = HashSet::new();
    let mut fields: Vec<&str> = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        parsed.rows += 1;
        fields.clear();
        fields.extend(line.split(',').map(str::trim));
        let outcome = cols.bar(&fields, series, symbols).and_then(|bar| match bar {
            Some(b) if !seen.insert((b.date, b.symbol.clone(), b.series.clone())) => Err(Skip::Duplicate),
            other => Ok(other),
        });
        match outcome {
            Ok(Some(bar)) => parsed.bars.push(bar),
            Ok(None) => {}
            Err(reason) => parsed.skipped.entry(reason).or_insert_with(|| (0, i + 2, line.to_string())).0 += 1,
        }
    }
    Ok(parsed)
}

/// Reads a bhavcopy CSV from disk: refuses the zip NSE serves it in and non-UTF-8 bytes with
/// errors naming the path, then [`parse`]s it.
pub fn read(path: &Path, series: &[String], symbols: &[String]) -> Result<Parsed, BhavcopyError> {
    let bytes = std::fs::read(path).map_err(|source| BhavcopyError::Io { path: path.to_path_buf(), source })?;
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(BhavcopyError::Zip { path: path.to_path_buf() });
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| BhavcopyError::NotUtf8 { path: path.to_path_buf(), valid_up_to: e.valid_up_to() })?;
    parse(text, series, symbols)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEGACY: &str = "\
SYMBOL,SERIES,OPEN,HIGH,LOW,CLOSE,LAST,PREVCLOSE,TOTTRDQTY,TOTTRDVAL,TIMESTAMP,TOTALTRADES,ISIN,
RELIANCE,EQ,2590.00,2611.95,2578.05,2607.05,2606.00,2584.95,3561416,9260347825.65,01-JAN-2024,125371,INE002A01018,
TCS,EQ,3800,3807.05,3772.1,3790.75,3792.00,3793.45,1022338,3875876935.5,01-Jan-2024,88519,INE467B01029,
ZENITHSTL,BE,0.5,0.55,0.5,0.55,0.55,0.5,120455,64843.3,01-JAN-2024,57,INE318D01020,
SILLYMONK,EQ,21.30,21.30,21.30,21.30,21.30,21.30,0,0,01-JAN-2024,0,INE203Y01012,
INFY,EQ,1550.00,1540.00,1560.00,1552.00,1552.00,1551.00,100,155000,01-JAN-2024,10,INE009A01021,
HDFCBANK,EQ,1710.00,1722.345,1705.00,1712.35,1712.00,1709.95,1000,1712350,01-JAN-2024,100,INE040A01034,
WIPRO,EQ,470.00,472.00
RELIANCE,EQ,2591.00,2611.95,2578.05,2607.05,2606.00,2584.95,1,2591,01-JAN-2024,1,INE002A01018,
ITC,EQ,465.00,468.00,462.00,466.00,466.00,464.00,100,46600,31-FEB-2024,10,INE154A01025,
SBIN,EQ,650.00,645.00,640.00,644.00,644.00,642.00,100,64400,01-JAN-2024,10,INE062A01020,
";

    fn first(p: &Parsed, s: Skip) -> Option<(u64, usize)> {
        p.skipped.get(&s).map(|(n, line, _)| (*n, *line))
    }

    #[test]
    fn legacy_rows_are_checked_and_counted() {
        let p = parse(LEGACY, &[], &[]).expect("legacy");
        assert_eq!(p.layout, Layout::Legacy);
        assert_eq!(p.rows, 10);
        let names: Vec<(&str, &str)> = p.bars.iter().map(|b| (b.symbol.as_str(), b.series.as_str())).collect();
        assert_eq!(names, [("RELIANCE", "EQ"), ("TCS", "EQ"), ("ZENITHSTL", "BE")]);
        let r = &p.bars[0];
        assert_eq!(r.date, Date::new(2024, 1, 1).expect("day"));
        assert_eq!(
            (r.open, r.high, r.low, r.close, r.volume),
            (Price(259000), Price(261195), Price(257805), Price(260705), 3_561_416)
        );
        assert_eq!((p.bars[1].open, p.bars[1].low), (Price(380000), Price(377210)));
        assert_eq!((p.bars[2].open, p.bars[2].high), (Price(50), Price(55)));
        assert_eq!(first(&p, Skip::Volume), Some((1, 5)));
        assert_eq!(first(&p, Skip::HighBelowLow), Some((1, 6)));
        assert_eq!(first(&p, Skip::Price), Some((1, 7)));
        assert_eq!(first(&p, Skip::Columns), Some((1, 8)));
        assert_eq!(first(&p, Skip::Duplicate), Some((1, 9)));
        assert_eq!(first(&p, Skip::Date), Some((1, 10)));
        assert_eq!(first(&p, Skip::OutsideRange), Some((1, 11)));
        assert_eq!(p.skipped.len(), 7);
        assert_eq!(p.skipped[&Skip::Columns].2, "WIPRO,EQ,470.00,472.00");
    }

    #[test]
    fn series_are_counted_and_symbols_silently_filtered() {
        let p = parse(LEGACY, &["EQ".to_string()], &[]).expect("legacy");
        assert_eq!(p.bars.len(), 2);
        assert_eq!(first(&p, Skip::Series), Some((1, 4)));
        let p = parse(LEGACY, &[], &["TCS".to_string(), "INFY".to_string()]).expect("legacy");
        assert_eq!(p.bars.iter().map(|b| b.symbol.as_str()).collect::<Vec<_>>(), ["TCS"]);
        // WIPRO's short row is a fault of the file, whoever asked for it.
        let reasons: Vec<Skip> = p.skipped.keys().copied().collect();
        assert_eq!(reasons, [Skip::Columns, Skip::HighBelowLow]);
    }

    const UDIFF: &str = "TradDt,BizDt,Sgmt,Src,FinInstrmTp,FinInstrmId,ISIN,TckrSymb,SctySrs,XpryDt,FininstrmActlXpryDt,StrkPric,OptnTp,FinInstrmNm,OpnPric,HghPric,LwPric,ClsPric,LastPric,PrvsClsgPric,UndrlygPric,SttlmPric,OpnIntrst,ChngInOpnIntrst,TtlTradgVol,TtlTrfVal,TtlNbOfTxsExctd,SsnId,NewBrdLotQty,Rmks,Rsvd1,Rsvd2,Rsvd3,Rsvd4\r
2024-07-08,2024-07-08,CM,NSE,STK,2885,INE002A01018,RELIANCE,EQ,,,,,RELIANCE INDUSTRIES LTD,3195.00,3219.90,3170.05,3183.35,3183.00,3197.60,,3183.35,,,5371958,17119634449.30,197361,F1,1,,,,,\r
2024-07-08,2024-07-08,CM,NSE,STK,11536,INE467B01029,TCS,EQ,,,,,TATA CONSULTANCY SERV LT,4000.00,4038.00,3985.25,4024.50,4025.00,3994.55,,4024.50,,,1513946,6080330405.05,119853,F1,1,,,,,\r
2024-07-08,2024-07-08,FO,NSE,IDF,35001,,NIFTY,,2024-07-25,2024-07-25,,,NIFTY24JULFUT,24390.00,24443.60,24331.90,24396.10,24396.10,24399.75,24320.55,24396.10,12766075,-193550,180575,440369.33,7223,F1,25,,,,,\r
2024-07-08,2024-07-08,CM,NSE,STK,1594,INE009A01021,INFY,EQ,,,,,INFOSYS LIMITED,1660.00,1668.00,1650.10,1661.45,1661.00,1657.90,,1661.45,,,12a,0,0,F1,1,,,,,\r
";

    #[test]
    fn udiff_keeps_the_cash_market_only() {
        let p = parse(UDIFF, &["EQ".to_string()], &[]).expect("udiff");
        assert_eq!(p.layout, Layout::Udiff);
        assert_eq!(p.rows, 4);
        assert_eq!(p.bars.len(), 2);
        let r = &p.bars[0];
        assert_eq!((r.symbol.as_str(), r.series.as_str()), ("RELIANCE", "EQ"));
        assert_eq!(r.date, Date::parse("2024-07-08").expect("day"));
        assert_eq!(
            (r.open, r.high, r.low, r.close, r.volume),
            (Price(319500), Price(321990), Price(317005), Price(318335), 5_371_958)
        );
        assert_eq!(p.bars[1].close, Price(402450));
        assert_eq!(first(&p, Skip::NotCashMarket), Some((1, 4)));
        assert_eq!(first(&p, Skip::Volume), Some((1, 5)));
        assert!(p.skipped[&Skip::Volume].2.starts_with("2024-07-08,2024-07-08,CM,NSE,STK,1594,"));
        assert!(p.skipped[&Skip::Volume].2.ends_with(",F1,1,,,,,"), "CR stripped");
        let only_tcs = parse(UDIFF, &[], &["TCS".to_string()]).expect("udiff");
        assert_eq!(only_tcs.bars.len(), 1);
        assert!(only_tcs.skipped.is_empty(), "{:?}", only_tcs.skipped);
    }

    #[test]
    fn full_layout_with_bom_spaces_and_dashes() {
        let text = "\u{feff}SYMBOL, SERIES, DATE1, PREV_CLOSE, OPEN_PRICE, HIGH_PRICE, LOW_PRICE, LAST_PRICE, CLOSE_PRICE, AVG_PRICE, TTL_TRD_QNTY, TURNOVER_LACS, NO_OF_TRADES, DELIV_QTY, DELIV_PER
RELIANCE, EQ, 01-Jan-2024, 2584.95, 2590.00, 2611.95, 2578.05, 2606.00, 2607.05, 2600.17, 3561416, 92603.48, 125371, 1792368, 50.33
SGBAUG28V, GB, 01-Jan-2024, 6200.00, 6250.00, 6250.00, 6201.00, 6201.00, 6201.00, 6225.12, 41, 2.55, 9, -, -
TCS, EQ, 01-Jan-2024, 3793.45, 12.345, 3807.05, 3772.10, 3792.00, 3790.75, 3790.11, 1022338, 38758.77, 88519, 561234, 54.90

";
        let p = parse(text, &[], &[]).expect("full");
        assert_eq!(p.layout, Layout::Full);
        assert_eq!(p.rows, 3);
        assert_eq!(p.bars.len(), 2);
        assert_eq!((p.bars[0].open, p.bars[0].close, p.bars[0].volume), (Price(259000), Price(260705), 3_561_416));
        assert_eq!((p.bars[1].series.as_str(), p.bars[1].low), ("GB", Price(620100)));
        assert_eq!(first(&p, Skip::Price), Some((1, 4)));
    }

    #[test]
    fn unknown_header_empty_and_shifted_rows() {
        let e = parse("Date,Open,High,Low,Close\n2024-01-01,1,2,1,2\n", &[], &[]).expect_err("unknown");
        assert!(matches!(&e, BhavcopyError::UnknownHeader { first_line } if first_line == "Date,Open,High,Low,Close"));
        let msg = e.to_string();
        for want in ["\"Date,Open,High,Low,Close\"", "cmDDMMMYYYYbhav.csv", "BhavCopy_NSE_CM", "sec_bhavdata_full"] {
            assert!(msg.contains(want), "{msg}");
        }
        assert!(matches!(parse("", &[], &[]), Err(BhavcopyError::Empty)));
        assert!(matches!(parse("\u{feff}\r\n\n", &[], &[]), Err(BhavcopyError::Empty)));
        let shifted =
            "SYMBOL,SERIES,OPEN,HIGH,LOW,CLOSE,LAST,PREVCLOSE,TOTTRDQTY,TOTTRDVAL,TIMESTAMP,TOTALTRADES,ISIN\n\
                       A,EQ,1,1,1,1,1,1,5,5,01-JAN-2024,1,INE000000000,extra\n";
        assert_eq!(first(&parse(shifted, &[], &[]).expect("legacy"), Skip::Columns), Some((1, 2)));
    }

    #[test]
    fn prices_volumes_and_dates_are_exact() {
        assert_eq!(price("2913.05"), Some(Price(291305)));
        assert_eq!(price("100"), Some(Price(10000)));
        assert_eq!(price("0.5"), Some(Price(50)));
        assert_eq!(price("9999999999.99"), Some(Price(999_999_999_999)));
        for bad in ["12.345", "0", "0.00", "-1", "10000000000", "", "1e3", "NaN", "1,5"] {
            assert_eq!(price(bad), None, "{bad}");
        }
        assert_eq!(whole("12345"), Some(12345));
        for bad in ["12345.0", "+1", "-1", "", "1 2", "99999999999999999999999"] {
            assert_eq!(whole(bad), None, "{bad}");
        }
        assert_eq!(day_mon_year("29-feb-2024"), Date::new(2024, 2, 29));
        assert_eq!(day_mon_year("08-Jul-2024"), Date::parse("2024-07-08"));
        for bad in ["29-FEB-2023", "01-JANUARY-2024", "1-1-2024", "01-JAN-24", "01-JAN-2024-1", "2024-01-01"] {
            assert_eq!(day_mon_year(bad), None, "{bad}");
        }
        assert!(Skip::Volume.as_str().contains("without trades"));
    }

    #[test]
    fn read_refuses_zips_and_binary_with_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zip = dir.path().join("cm01JAN2024bhav.csv.zip");
        std::fs::write(&zip, b"PK\x03\x04\x14\x00\x00\x00\x08\x00").expect("write");
        let e = read(&zip, &[], &[]).expect_err("zip");
        assert!(matches!(e, BhavcopyError::Zip { .. }));
        let msg = e.to_string();
        assert!(
            msg.contains("cm01JAN2024bhav.csv.zip") && msg.contains("zip archive") && msg.contains("unzip"),
            "{msg}"
        );
        let bin = dir.path().join("bin.csv");
        std::fs::write(&bin, b"SYMBOL\xff").expect("write");
        let e = read(&bin, &[], &[]).expect_err("utf8");
        assert!(matches!(e, BhavcopyError::NotUtf8 { valid_up_to: 6, .. }) && e.to_string().contains("bin.csv"));
        let missing = read(&dir.path().join("none.csv"), &[], &[]).expect_err("missing");
        assert!(matches!(missing, BhavcopyError::Io { .. }) && std::error::Error::source(&missing).is_some());
        let ok = dir.path().join("cm01JAN2024bhav.csv");
        std::fs::write(&ok, LEGACY.replace('\n', "\r\n")).expect("write");
        let p = read(&ok, &[], &[]).expect("read");
        assert_eq!((p.bars.len(), p.rows), (3, 10));
        assert_eq!(p.skipped[&Skip::Columns].2, "WIPRO,EQ,470.00,472.00");
    }

    proptest::proptest! {
        /// Any text after a real header, and any damage to a real file, gives counted rows or
        /// an error, never a panic; every row is either kept or counted.
        #[test]
        fn damaged_files_never_panic(
            tail in "[A-Z0-9.,\\-\r\n ]{0,400}",
            cut in 0usize..2000,
            flip in 0usize..2000,
        ) {
            for base in [LEGACY, UDIFF] {
                let header = base.lines().next().unwrap_or_default();
                let text = format!("{header}\n{tail}");
                if let Ok(p) = parse(&text, &[], &[]) {
                    let skipped: u64 = p.skipped.values().map(|(n, _, _)| n).sum();
                    proptest::prop_assert_eq!(p.bars.len() as u64 + skipped, p.rows);
                }
                let mut bytes = base.as_bytes()[..cut.min(base.len())].to_vec();
                if let Some(b) = bytes.get_mut(flip) {
                    *b = b'9';
                }
                let _ = parse(&String::from_utf8_lossy(&bytes), &["EQ".to_string()], &[]);
            }
        }
    }
}
