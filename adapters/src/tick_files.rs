//! Tick files in either format, chosen by content rather than by name: a binary file starts
//! with its magic, anything else is read as CSV. Tools and backtests take whichever they are
//! given.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use dalal_core::model::InstrumentId;

use crate::binary_ticks::{BinError, BinLoadStats, BinTickFile, MAGIC};
use crate::csv_ticks::{load_ticks, FeedError, LoadedTicks};
use crate::symbols::{SymbolError, SymbolTable};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TickFileFormat {
    Csv,
    Binary,
}

#[derive(Debug, thiserror::Error)]
pub enum TickFileError {
    #[error("cannot read tick file {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Csv(#[from] FeedError),
    #[error(transparent)]
    Bin(#[from] BinError),
    #[error("{}: {source}", path.display())]
    Symbols { path: PathBuf, source: SymbolError },
}

/// Binary if the file starts with the binary magic, CSV otherwise.
pub fn detect_format(path: &Path) -> Result<TickFileFormat, TickFileError> {
    let io = |source| TickFileError::Io { path: path.to_path_buf(), source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut head = [0u8; 8];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]).map_err(io)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(if n == head.len() && head == MAGIC { TickFileFormat::Binary } else { TickFileFormat::Csv })
}

/// Ticks from a file of either format, resolved against `symbols`. Binary files also report
/// duplicate and missing sequence numbers.
pub fn load_any(path: &Path, symbols: &SymbolTable) -> Result<(LoadedTicks, Option<BinLoadStats>), TickFileError> {
    match detect_format(path)? {
        TickFileFormat::Csv => Ok((load_ticks(path, symbols)?, None)),
        TickFileFormat::Binary => {
            let file = BinTickFile::open(path)?;
            let (loaded, stats) = file.load(symbols);
            Ok((loaded, Some(stats)))
        }
    }
}

/// Every symbol a file mentions, in order of first appearance (CSV) or of its symbol table
/// (binary): for tools that accept any symbol, with no instrument master at hand.
pub fn file_symbols(path: &Path) -> Result<SymbolTable, TickFileError> {
    let names: Vec<String> = match detect_format(path)? {
        TickFileFormat::Binary => BinTickFile::open(path)?.symbols().iter().map(|s| s.symbol.clone()).collect(),
        TickFileFormat::Csv => {
            let data = std::fs::read(path).map_err(|source| TickFileError::Io { path: path.to_path_buf(), source })?;
            let mut seen: BTreeMap<&[u8], ()> = BTreeMap::new();
            let mut names = Vec::new();
            for line in data.split(|b| *b == b'\n').skip(1) {
                let mut fields = line.split(|b| *b == b',');
                let (Some(_), Some(sym)) = (fields.next(), fields.next()) else { continue };
                let sym = sym.trim_ascii();
                if sym.is_empty() || seen.insert(sym, ()).is_some() {
                    continue;
                }
                names.push(String::from_utf8_lossy(sym).into_owned());
            }
            names
        }
    };
    SymbolTable::from_pairs(names.iter().enumerate().map(|(i, s)| (s.as_str(), InstrumentId(i as u32))))
        .map_err(|source| TickFileError::Symbols { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{write_ticks_bin, write_ticks_csv};
    use dalal_core::model::Tick;
    use dalal_core::model::{Price, Qty, Timestamp};

    #[test]
    fn either_format_loads_the_same_ticks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let symbols = SymbolTable::from_pairs([("TCS", InstrumentId(0)), ("INFY", InstrumentId(1))]).expect("symbols");
        let ticks: Vec<Tick> = (0..100)
            .map(|i| Tick {
                instrument: InstrumentId((i % 2) as u32),
                ts: Timestamp(1_795_146_300_000_000_000 + i as i64),
                price: Price(300_000 + i as i64 * 5),
                qty: Qty(1 + i as u64),
            })
            .collect();
        let (csv, bin) = (dir.path().join("t.csv"), dir.path().join("t.bin"));
        write_ticks_csv(&csv, &ticks, &symbols).expect("csv");
        write_ticks_bin(&bin, &ticks, &symbols).expect("bin");
        assert_eq!(detect_format(&csv).ok(), Some(TickFileFormat::Csv));
        assert_eq!(detect_format(&bin).ok(), Some(TickFileFormat::Binary));
        let a = load_any(&csv, &symbols).expect("csv load").0;
        let (b, stats) = load_any(&bin, &symbols).expect("bin load");
        assert_eq!(a.ticks, ticks);
        assert_eq!(b.ticks, ticks);
        assert_eq!(stats.map(|s| s.duplicates), Some(0));
        let names: Vec<String> = file_symbols(&csv).expect("symbols").iter().map(|(s, _)| s.to_string()).collect();
        assert_eq!(names.len(), 2);
        assert_eq!(file_symbols(&bin).expect("symbols").len(), 2);
        assert!(matches!(detect_format(&dir.path().join("missing")), Err(TickFileError::Io { .. })));
    }
}
