//! Arbitrary bytes as a CSV tick file: the whole-buffer loader and the streaming reader
//! (with a large and a tiny read buffer) must never panic and must agree on every file.

#![no_main]

use std::io::{BufReader, Cursor};
use std::sync::OnceLock;

use dalal_adapters::{parse_ticks, CsvTickStream, LineReject, RejectCounts, SymbolTable};
use dalal_core::model::Tick;
use dalal_core::model::InstrumentId;
use libfuzzer_sys::fuzz_target;

fn symbols() -> &'static SymbolTable {
    static TABLE: OnceLock<SymbolTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        SymbolTable::from_pairs([
            ("RELIANCE", InstrumentId(0)),
            ("TCS", InstrumentId(1)),
            ("NIFTY25JANFUT", InstrumentId(2)),
            ("A", InstrumentId(3)),
            ("NIFTY25JAN24000CE", InstrumentId(4)),
        ])
        .expect("fixed table is valid")
    })
}

fn drain(stream: impl Iterator<Item = Result<Tick, LineReject>>) -> (Vec<Tick>, Vec<LineReject>) {
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for item in stream {
        match item {
            Ok(t) => ok.push(t),
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}

fuzz_target!(|data: &[u8]| {
    let symbols = symbols();
    let loaded = parse_ticks(data, symbols);
    let whole = CsvTickStream::new(Cursor::new(data), symbols);
    let tiny = CsvTickStream::new(BufReader::with_capacity(7, data), symbols);
    match (loaded, whole, tiny) {
        (Ok(loaded), Ok(whole), Ok(tiny)) => {
            let (ok, bad) = drain(whole);
            assert_eq!(drain(tiny), (ok.clone(), bad.clone()), "stream depends on the read buffer size");
            assert_eq!(loaded.ticks, ok, "loader and stream accept different ticks");
            let mut counts = RejectCounts::default();
            bad.iter().for_each(|r| counts.add(r.reason));
            assert_eq!(loaded.rejects, counts, "loader and stream reject differently");
            assert_eq!(loaded.lines, (ok.len() + bad.len()) as u64);
            let shown: Vec<String> = bad.iter().take(loaded.samples.len()).map(|r| r.to_string()).collect();
            assert_eq!(loaded.samples, shown, "loader and stream describe rejects differently");
        }
        (Err(_), Err(_), Err(_)) => {}
        (l, w, t) => panic!("header verdicts differ: loader {:?}, stream {:?}, tiny {:?}", l.err(), w.err(), t.err()),
    }
});
