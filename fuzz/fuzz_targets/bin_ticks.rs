//! Arbitrary bytes as a binary tick file, through the same validation `BinTickFile::open`
//! runs. Every input is tried twice: as it is (header parsing, magic included) and behind a
//! correct fixed prefix (magic, version, record size), so the fuzzer spends most of its time
//! on the count, the symbol table and the records rather than guessing the magic.
//!
//! For every file that opens, the readers must agree with each other and the CSV conversion
//! must load back to exactly the ticks the binary load produced.

#![no_main]

use dalal_adapters::binary_ticks::{MAGIC, RECORD_SIZE, VERSION};
use dalal_adapters::{parse_ticks, BinTickFile, SymbolTable};
use dalal_core::model::InstrumentId;
use libfuzzer_sys::fuzz_target;

fn check(bytes: &[u8]) {
    let Ok(file) = BinTickFile::from_bytes(bytes) else {
        return;
    };
    assert_eq!(file.records().count(), file.len());
    assert_eq!(bytes.len(), file.data_offset() + file.len() * RECORD_SIZE);

    // The file's own universe; only when its ids are small, as a SymbolTable indexes by id.
    let fits = file.symbols().iter().all(|s| s.id < 1 << 16);
    let own =
        fits.then(|| SymbolTable::from_pairs(file.symbols().iter().map(|s| (s.symbol.as_str(), InstrumentId(s.id)))));
    let own = match own {
        Some(Ok(t)) => t,
        Some(Err(e)) => panic!("a validated symbol table was refused by SymbolTable: {e}"),
        None => SymbolTable::from_pairs([("RELIANCE", InstrumentId(0))]).expect("fixed table is valid"),
    };

    let (loaded, stats) = file.load(&own);
    assert_eq!(stats.records, file.len() as u64);
    assert_eq!(loaded.lines + stats.duplicates, stats.records);
    assert_eq!(loaded.lines, loaded.ticks.len() as u64 + loaded.rejects.total());
    let mut stream = file.ticks(&own);
    let streamed: Vec<_> = (&mut stream).filter_map(Result::ok).collect();
    assert_eq!(streamed, loaded.ticks);
    assert_eq!(stream.stats(), stats);

    let mut csv = Vec::new();
    let conv = file.write_csv(&mut csv).expect("writing to a Vec cannot fail");
    assert_eq!((conv.read, conv.duplicates, conv.gaps), (stats.records, stats.duplicates, stats.gaps));
    if fits {
        // Written under the file's own names, read back under the same ids: lossless.
        assert_eq!(conv.written, loaded.ticks.len() as u64);
        let back = parse_ticks(&csv, &own).expect("converted CSV has the right header");
        // `i64::MIN` prints as a timestamp the CSV reader cannot parse back; see README.
        let representable = loaded.ticks.iter().all(|t| t.ts.0 != i64::MIN);
        if representable {
            assert!(back.rejects.is_empty(), "converted CSV has rejects: {:?}", back.samples);
            assert_eq!(back.ticks, loaded.ticks, "bin → CSV → ticks differs from bin → ticks");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut prefixed = Vec::with_capacity(16 + data.len());
    prefixed.extend_from_slice(&MAGIC);
    prefixed.extend_from_slice(&VERSION.to_le_bytes());
    prefixed.extend_from_slice(&(RECORD_SIZE as u32).to_le_bytes());
    prefixed.extend_from_slice(data);
    check(&prefixed);
});
