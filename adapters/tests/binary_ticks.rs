//! Binary tick files: CSV and binary convert into each other without loss, a damaged header
//! is refused with the error that names the damage, bad records are counted without costing
//! any good ones, and no byte pattern makes the reader panic.

use std::io::Write;

use dalal_adapters::binary_ticks::{DATA_ALIGN, FIXED_HEADER_LEN, MAGIC, RECORD_SIZE, VERSION};
use dalal_adapters::{
    convert_bin_to_csv, convert_csv_to_bin, generate_session, write_ticks_bin, write_ticks_bin_to, write_ticks_csv,
    BinError, BinTickFile, FileSymbol, RawRecord, SymbolTable, SyntheticConfig, Xoshiro256,
};
use dalal_core::model::{InstrumentId, Price, Qty, Timestamp};
use dalal_core::model::{Tick, TickReject};

const T0: i64 = 1_795_146_300_000_000_000;

fn table() -> SymbolTable {
    SymbolTable::from_pairs([
        ("RELIANCE", InstrumentId(0)),
        ("NIFTY25JANFUT", InstrumentId(1)),
        ("TCS", InstrumentId(2)),
    ])
    .unwrap()
}

fn tick(instrument: u32, i: i64, price: i64, qty: u64) -> Tick {
    Tick { instrument: InstrumentId(instrument), ts: Timestamp(T0 + i * 1_000), price: Price(price), qty: Qty(qty) }
}

fn image(ticks: &[Tick], symbols: &SymbolTable) -> Vec<u8> {
    let mut v = Vec::new();
    write_ticks_bin_to(&mut v, ticks, symbols).unwrap();
    v
}

fn file_with(content: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content).unwrap();
    f.flush().unwrap();
    f
}

/// Validates `bytes` both in memory and through a mapped file; both must agree.
fn open_both(bytes: &[u8]) -> Result<BinTickFile, BinError> {
    let mem = BinTickFile::from_bytes(bytes);
    let f = file_with(bytes);
    let mapped = BinTickFile::open(f.path());
    match (&mem, &mapped) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.len(), b.len());
            assert_eq!(a.symbols(), b.symbols());
            assert!(a.records().eq(b.records()));
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("in-memory {mem:?} and mapped {mapped:?} disagree"),
    }
    mem
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn csv_to_bin_to_ticks_and_back_to_csv() {
    let (cfg, specs) = SyntheticConfig::demo(11, 25);
    let symbols = SymbolTable::new(&specs).unwrap();
    let ticks = generate_session(&cfg, Timestamp(T0), 20_000, 1_000_000).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("session.csv");
    write_ticks_csv(&csv, &ticks, &symbols).unwrap();
    let reference_csv = std::fs::read(&csv).unwrap();

    // Bad lines in the CSV are counted and skipped, never fatal.
    let mut dirty = reference_csv.clone();
    dirty.extend_from_slice(b"garbage\n1,NOSUCH,10.00,1\n1,TCS,-1.00,1\n");
    std::fs::write(&csv, &dirty).unwrap();

    let bin = dir.path().join("session.bin");
    let stats = convert_csv_to_bin(&csv, &bin, &symbols).unwrap();
    assert_eq!(stats.read, ticks.len() as u64 + 3);
    assert_eq!(stats.written, ticks.len() as u64);
    assert_eq!(stats.rejects.get(TickReject::Malformed), 1);
    assert_eq!(stats.rejects.get(TickReject::UnknownSymbol), 1);
    assert_eq!(stats.rejects.get(TickReject::NonPositivePrice), 1);
    assert_eq!(stats.samples.len(), 3);

    let file = BinTickFile::open(&bin).unwrap();
    assert_eq!(file.len(), ticks.len());
    assert_eq!(file.data_offset() % DATA_ALIGN, 0);
    let len = std::fs::metadata(&bin).unwrap().len() as usize;
    assert_eq!(len, file.data_offset() + ticks.len() * RECORD_SIZE);
    // The file's table names exactly the instruments used, under their engine ids.
    for s in file.symbols() {
        assert_eq!(symbols.resolve(&s.symbol), Some(InstrumentId(s.id)));
    }
    let mut used: Vec<u32> = ticks.iter().map(|t| t.instrument.0).collect();
    used.sort_unstable();
    used.dedup();
    assert_eq!(file.symbols().len(), used.len());
    assert!(file.records().map(|r| r.seq).eq(1..=ticks.len() as u32));

    let (loaded, st) = file.load(&symbols);
    assert_eq!(loaded.ticks, ticks);
    assert!(loaded.rejects.is_empty(), "{:?}", loaded.samples);
    assert_eq!(loaded.lines, ticks.len() as u64);
    assert_eq!((st.records, st.duplicates, st.gaps), (ticks.len() as u64, 0, 0));
    let streamed: Vec<Tick> = file.ticks(&symbols).map(|r| r.unwrap()).collect();
    assert_eq!(streamed, ticks);

    let back = dir.path().join("back.csv");
    let stats = convert_bin_to_csv(&bin, &back).unwrap();
    assert_eq!((stats.read, stats.written, stats.duplicates), (ticks.len() as u64, ticks.len() as u64, 0));
    assert!(stats.rejects.is_empty());
    assert!(std::fs::read(&back).unwrap() == reference_csv, "bin → CSV differs from write_ticks_csv");
}

#[test]
fn symbols_resolve_by_name_against_the_engine_universe() {
    let ticks = [tick(0, 0, 100, 1), tick(1, 1, 200, 2), tick(2, 2, 300, 3)];
    let bytes = image(&ticks, &table());
    let file = BinTickFile::from_bytes(&bytes).unwrap();
    assert_eq!(
        file.symbols(),
        &[
            FileSymbol { id: 0, symbol: "RELIANCE".into() },
            FileSymbol { id: 1, symbol: "NIFTY25JANFUT".into() },
            FileSymbol { id: 2, symbol: "TCS".into() },
        ]
    );
    // A renumbered universe that lost NIFTY25JANFUT.
    let other = SymbolTable::from_pairs([("TCS", InstrumentId(7)), ("RELIANCE", InstrumentId(3))]).unwrap();
    let (loaded, _) = file.load(&other);
    assert_eq!(loaded.ticks, [tick(3, 0, 100, 1), tick(7, 2, 300, 3)]);
    assert_eq!(loaded.rejects.get(TickReject::UnknownSymbol), 1);
    assert_eq!(
        loaded.samples,
        ["record 1: unknown_symbol: symbol \"NIFTY25JANFUT\" is not in the instrument universe"]
    );
    let got: Vec<_> = file.ticks(&other).collect();
    assert_eq!(got[1], Err((TickReject::UnknownSymbol, 1)));
}

#[test]
fn empty_tick_list_makes_a_valid_empty_file() {
    let bytes = image(&[], &table());
    assert_eq!(bytes.len(), DATA_ALIGN);
    let file = open_both(&bytes).unwrap();
    assert!(file.is_empty());
    assert!(file.symbols().is_empty());
    let (loaded, stats) = file.load(&table());
    assert!(loaded.ticks.is_empty() && loaded.rejects.is_empty());
    assert_eq!(stats.records, 0);
}

#[test]
fn writer_refuses_ticks_it_cannot_describe() {
    let err = write_ticks_bin_to(Vec::new(), &[tick(9, 0, 100, 1)], &table()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("instrument 9"), "{err}");
    // Names a CSV line could not carry are refused rather than written.
    let odd = SymbolTable::from_pairs([("A,B", InstrumentId(0))]).unwrap();
    let err = write_ticks_bin_to(Vec::new(), &[tick(0, 0, 100, 1)], &odd).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

/// A valid two-record image of RELIANCE and TCS, header and table laid out as documented.
fn sample() -> Vec<u8> {
    let b = image(&[tick(0, 0, 100, 1), tick(2, 1, 200, 2)], &table());
    assert_eq!(&b[0..8], b"DALALTK1");
    assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), VERSION);
    assert_eq!(u32::from_le_bytes(b[12..16].try_into().unwrap()), RECORD_SIZE as u32);
    assert_eq!(u64::from_le_bytes(b[16..24].try_into().unwrap()), 2);
    assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), 2);
    // Entry 0: id 0, len 8, "RELIANCE"; entry 1: id 2, len 3, "TCS".
    assert_eq!(&b[28..34], &[0, 0, 0, 0, 8, 0]);
    assert_eq!(&b[34..42], b"RELIANCE");
    assert_eq!(&b[42..48], &[2, 0, 0, 0, 3, 0]);
    assert_eq!(&b[48..51], b"TCS");
    assert_eq!(b.len(), 64 + 2 * RECORD_SIZE);
    b
}

#[test]
fn header_damage_is_named_precisely() {
    let good = sample();
    assert_eq!(open_both(&good).unwrap().len(), 2);

    let mut b = good.clone();
    b[0] = b'X';
    assert!(matches!(open_both(&b), Err(BinError::BadMagic { found }) if &found == b"XALALTK1"));

    let mut b = good.clone();
    put_u32(&mut b, 8, 2);
    assert!(matches!(open_both(&b), Err(BinError::UnsupportedVersion { found: 2 })));

    let mut b = good.clone();
    put_u32(&mut b, 12, 24);
    assert!(matches!(open_both(&b), Err(BinError::BadRecordSize { found: 24 })));

    // Cut inside the fixed header, inside the symbol table, inside the padding, mid-record.
    assert!(matches!(open_both(&good[..20]), Err(BinError::TooShort { len: 20 })));
    assert!(matches!(open_both(&[]), Err(BinError::TooShort { len: 0 })));
    let short = &good[..FIXED_HEADER_LEN - 1];
    assert!(matches!(open_both(short), Err(BinError::TooShort { len: 27 })));
    assert!(matches!(open_both(&good[..40]), Err(BinError::SymbolTableOverrun { index: 0, offset: 28, file_len: 40 })));
    assert!(matches!(open_both(&good[..60]), Err(BinError::Truncated { count: 2, expected_len: 128, file_len: 60 })));
    let cut = good.len() - 5;
    assert!(matches!(open_both(&good[..cut]), Err(BinError::Truncated { count: 2, expected_len: 128, .. })));

    // A count larger than the file, including one whose byte size overflows.
    let mut b = good.clone();
    put_u64(&mut b, 16, 3);
    assert!(matches!(open_both(&b), Err(BinError::Truncated { count: 3, expected_len: 160, file_len: 128 })));
    let mut b = good.clone();
    put_u64(&mut b, 16, u64::MAX);
    assert!(matches!(open_both(&b), Err(BinError::Truncated { count: u64::MAX, expected_len: u64::MAX, .. })));
    // A count smaller than the file.
    let mut b = good.clone();
    put_u64(&mut b, 16, 1);
    assert!(matches!(open_both(&b), Err(BinError::TrailingBytes { count: 1, expected_len: 96, file_len: 128 })));

    // Symbol table overrunning the file: more entries than bytes, or a name past the end.
    let mut b = good[..51].to_vec();
    put_u64(&mut b, 16, 0);
    put_u32(&mut b, 24, 3);
    assert!(matches!(open_both(&b), Err(BinError::SymbolTableOverrun { index: 2, offset: 51, file_len: 51 })));
    let mut b = good.clone();
    b[46..48].copy_from_slice(&u16::MAX.to_le_bytes());
    assert!(matches!(open_both(&b), Err(BinError::SymbolTableOverrun { index: 1, offset: 42, file_len: 128 })));
    // A huge entry count is refused without reserving memory for it.
    let mut b = good.clone();
    put_u32(&mut b, 24, u32::MAX);
    assert!(open_both(&b).is_err());
    // A longer name that still fits swallows the padding and the start of the records.
    let mut b = good.clone();
    b[46] = 20;
    assert!(open_both(&b).is_err());

    let mut b = good.clone();
    b[42] = 0; // entry 1 now also has id 0
    assert!(matches!(open_both(&b), Err(BinError::DuplicateSymbolId { id: 0 })));
    let mut b = good.clone();
    b[48] = 0xFF;
    assert!(matches!(open_both(&b), Err(BinError::SymbolNotUtf8 { index: 1, id: 2 })));
    let mut b = good.clone();
    b[49] = b',';
    assert!(matches!(open_both(&b), Err(BinError::BadSymbolChar { index: 1, id: 2, symbol }) if symbol == "T,S"));
    let mut b = good.clone();
    b[35] = b'\n';
    assert!(matches!(open_both(&b), Err(BinError::BadSymbolChar { index: 0, id: 0, .. })));
    let mut b = good.clone();
    b[46] = 0;
    assert!(matches!(open_both(&b), Err(BinError::EmptySymbol { index: 1, id: 2 })));
    let mut b = good.clone();
    b[60] = 1;
    assert!(matches!(open_both(&b), Err(BinError::NonZeroPadding { offset: 60 })));
    let mut b = good.clone();
    b.push(0);
    assert!(matches!(open_both(&b), Err(BinError::TrailingBytes { count: 2, expected_len: 128, file_len: 129 })));

    // Errors say what is wrong in words.
    let mut b = good;
    b[0] = b'X';
    let msg = BinTickFile::from_bytes(&b).unwrap_err().to_string();
    assert!(msg.contains("not a binary tick file"), "{msg}");
}

#[test]
fn duplicate_symbol_names_are_refused() {
    let mut b = Vec::new();
    b.extend_from_slice(&MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&(RECORD_SIZE as u32).to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&2u32.to_le_bytes());
    for id in [1u32, 2] {
        b.extend_from_slice(&id.to_le_bytes());
        b.extend_from_slice(&3u16.to_le_bytes());
        b.extend_from_slice(b"TCS");
    }
    b.resize(64, 0);
    assert!(matches!(open_both(&b), Err(BinError::DuplicateSymbolName { symbol }) if symbol == "TCS"));
}

/// A file image with the sample's header and these raw records.
fn with_records(records: &[RawRecord]) -> Vec<u8> {
    let mut b = sample();
    b.truncate(64);
    put_u64(&mut b, 16, records.len() as u64);
    for r in records {
        b.extend_from_slice(&r.encode());
    }
    b
}

fn raw(symbol_id: u32, seq: u32, price_paise: i64, qty: u64) -> RawRecord {
    RawRecord { ts_ns: T0 + seq as i64, price_paise, qty, symbol_id, seq }
}

#[test]
fn bad_records_are_counted_and_skipped() {
    let records = [
        raw(0, 1, 100, 1),  // ok
        raw(5, 2, 100, 1),  // id not in the file's table
        raw(1, 3, 100, 1),  // id not in the file's table either
        raw(2, 4, 0, 1),    // zero price
        raw(2, 5, -700, 1), // negative price
        raw(2, 6, 100, 0),  // zero qty
        raw(2, 6, 100, 1),  // duplicate sequence number
        raw(0, 2, 100, 1),  // sequence number going back
        raw(2, 7, 250, 4),  // ok
        raw(0, 10, 300, 5), // ok, after a gap of 2 (8 and 9 missing)
        raw(0, 0, 300, 5),  // sequence 0 is never valid
    ];
    let file = open_both(&with_records(&records)).unwrap();
    assert_eq!(file.len(), records.len());
    assert!(file.records().eq(records.iter().copied()));
    assert_eq!(file.record(3), Some(records[3]));
    assert_eq!(file.record(records.len() as u64), None);
    assert_eq!(file.record(u64::MAX), None);

    let (loaded, stats) = file.load(&table());
    let ok = |r: RawRecord, inst: u32| Tick {
        instrument: InstrumentId(inst),
        ts: Timestamp(r.ts_ns),
        price: Price(r.price_paise),
        qty: Qty(r.qty),
    };
    assert_eq!(loaded.ticks, [ok(records[0], 0), ok(records[8], 2), ok(records[9], 0)]);
    assert_eq!(loaded.rejects.get(TickReject::UnknownSymbol), 2);
    assert_eq!(loaded.rejects.get(TickReject::NonPositivePrice), 2);
    assert_eq!(loaded.rejects.get(TickReject::NonPositiveQty), 1);
    assert_eq!(loaded.rejects.get(TickReject::Malformed), 0);
    assert_eq!(loaded.rejects.total(), 5);
    assert_eq!(stats.records, records.len() as u64);
    assert_eq!(stats.duplicates, 3);
    assert_eq!(stats.gaps, 2);
    assert_eq!(loaded.lines, loaded.ticks.len() as u64 + loaded.rejects.total());
    assert_eq!(
        loaded.samples,
        [
            "record 1: unknown_symbol: symbol id 5 is not in the file's symbol table",
            "record 2: unknown_symbol: symbol id 1 is not in the file's symbol table",
            "record 3: non_positive_price: price is not positive: 0 paise",
            "record 4: non_positive_price: price is not positive: -700 paise",
            "record 5: non_positive_qty: qty is not positive: 0",
        ]
    );

    // The stream reports the same, with record indices, and drops the duplicates.
    let mut stream = file.ticks(&table());
    let items: Vec<_> = (&mut stream).collect();
    let errs: Vec<_> = items.iter().filter_map(|r| r.err()).collect();
    assert_eq!(
        errs,
        [
            (TickReject::UnknownSymbol, 1),
            (TickReject::UnknownSymbol, 2),
            (TickReject::NonPositivePrice, 3),
            (TickReject::NonPositivePrice, 4),
            (TickReject::NonPositiveQty, 5),
        ]
    );
    assert_eq!(items.len(), 8);
    assert_eq!(stream.stats(), stats);

    // Conversion to CSV keeps only the good records, named from the file's own table.
    let mut csv = Vec::new();
    let cs = file.write_csv(&mut csv).unwrap();
    assert_eq!((cs.read, cs.written, cs.duplicates, cs.gaps), (11, 3, 3, 2));
    assert_eq!(cs.rejects, loaded.rejects);
    let text = String::from_utf8(csv).unwrap();
    let want = format!(
        "ts_ns,symbol,price,qty\n{},RELIANCE,1.00,1\n{},TCS,2.50,4\n{},RELIANCE,3.00,5\n",
        T0 + 1,
        T0 + 7,
        T0 + 10
    );
    assert_eq!(text, want);
}

#[test]
fn sparse_file_ids_resolve() {
    // A hand-made file whose ids are far apart still maps every record.
    let mut b = Vec::new();
    b.extend_from_slice(&MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&(RECORD_SIZE as u32).to_le_bytes());
    b.extend_from_slice(&3u64.to_le_bytes());
    b.extend_from_slice(&2u32.to_le_bytes());
    for (id, name) in [(u32::MAX, "TCS"), (4_000_000_000, "RELIANCE")] {
        b.extend_from_slice(&u32::to_le_bytes(id));
        b.extend_from_slice(&(name.len() as u16).to_le_bytes());
        b.extend_from_slice(name.as_bytes());
    }
    b.resize(64, 0);
    for r in [raw(u32::MAX, 1, 10, 1), raw(4_000_000_000, 2, 20, 2), raw(7, 3, 30, 3)] {
        b.extend_from_slice(&r.encode());
    }
    let file = open_both(&b).unwrap();
    let (loaded, _) = file.load(&table());
    assert_eq!(loaded.ticks.iter().map(|t| t.instrument.0).collect::<Vec<_>>(), [2, 0]);
    assert_eq!(loaded.rejects.get(TickReject::UnknownSymbol), 1);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Xoshiro256::new(0xB1_7E5);
    let valid = image(&(0..20).map(|i| tick((i % 3) as u32, i, 100 + i, 1 + i as u64)).collect::<Vec<_>>(), &table());
    let dir = tempfile::tempdir().unwrap();
    let mut opened = 0;
    for round in 0..3_000 {
        let bytes = match round % 3 {
            // Pure noise.
            0 => {
                let mut b = vec![0u8; rng.below(400) as usize];
                rng.fill_bytes(&mut b);
                b
            }
            // A right fixed header prefix followed by noise, so the table and records get
            // exercised rather than only the magic check.
            1 => {
                let mut b = Vec::new();
                b.extend_from_slice(&MAGIC);
                b.extend_from_slice(&VERSION.to_le_bytes());
                b.extend_from_slice(&(RECORD_SIZE as u32).to_le_bytes());
                let mut tail = vec![0u8; rng.below(400) as usize];
                rng.fill_bytes(&mut tail);
                // Small counts most of the time, so some files are self-consistent.
                if tail.len() >= 12 {
                    tail[0..8].copy_from_slice(&rng.below(4).to_le_bytes());
                    tail[8..12].copy_from_slice(&(rng.below(3) as u32).to_le_bytes());
                }
                b.extend_from_slice(&tail);
                b
            }
            // A valid file with a few bytes flipped or cut.
            _ => {
                let mut b = valid.clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(b.len() as u64) as usize;
                    b[at] ^= 1 << rng.below(8);
                }
                if rng.below(4) == 0 {
                    b.truncate(rng.below(b.len() as u64 + 1) as usize);
                }
                b
            }
        };
        let result = if round % 50 == 0 {
            let path = dir.path().join(format!("r{round}.bin"));
            std::fs::write(&path, &bytes).unwrap();
            BinTickFile::open(&path)
        } else {
            BinTickFile::from_bytes(&bytes)
        };
        if let Ok(file) = result {
            opened += 1;
            let (loaded, stats) = file.load(&table());
            assert_eq!(stats.records, file.len() as u64);
            assert_eq!(loaded.lines + stats.duplicates, stats.records);
            assert_eq!(loaded.lines, loaded.ticks.len() as u64 + loaded.rejects.total());
            let n = file.ticks(&table()).count() as u64;
            assert_eq!(n, loaded.lines);
            let mut csv = Vec::new();
            let cs = file.write_csv(&mut csv).unwrap();
            assert_eq!(cs.read, stats.records);
            assert_eq!(file.records().count(), file.len());
        }
    }
    assert!(opened > 100, "the rounds must reach past the header ({opened})");
}

/// Read rate: `cargo test --release -p dalal-adapters --test binary_ticks -- --ignored --nocapture`.
#[test]
#[ignore]
fn read_throughput() {
    const N: usize = 10_000_000;
    let (cfg, specs) = SyntheticConfig::demo(1, 200);
    let symbols = SymbolTable::new(&specs).unwrap();
    let ticks = generate_session(&cfg, Timestamp(T0), N, 1_000).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    write_ticks_bin(&path, &ticks, &symbols).unwrap();
    let bytes = std::fs::metadata(&path).unwrap().len();
    let mb = bytes as f64 / 1e6;
    drop(ticks);

    let rate = |s: f64| N as f64 / s / 1e6;
    let mut best_stream = f64::MAX;
    let mut best_open_stream = f64::MAX;
    let mut best_records = f64::MAX;
    let mut best_load = f64::MAX;
    let mut first_open_stream = 0.0;
    for round in 0..5 {
        // Open + map + stream every record as a Tick: the replay path, cold mapping included.
        let t0 = std::time::Instant::now();
        let file = BinTickFile::open(&path).unwrap();
        let t1 = std::time::Instant::now();
        let mut sum = 0u64;
        let mut n = 0usize;
        for t in file.ticks(&symbols) {
            let t = t.unwrap();
            sum = sum.wrapping_add(t.price.0 as u64 ^ t.qty.0 ^ t.ts.0 as u64 ^ t.instrument.0 as u64);
            n += 1;
        }
        let end = t0.elapsed().as_secs_f64();
        best_stream = best_stream.min(t1.elapsed().as_secs_f64());
        best_open_stream = best_open_stream.min(end);
        if round == 0 {
            first_open_stream = end;
        }
        assert_eq!(n, N);
        std::hint::black_box(sum);

        let t0 = std::time::Instant::now();
        let s = file.records().fold(0u64, |a, r| a.wrapping_add(r.ts_ns as u64 ^ r.seq as u64));
        best_records = best_records.min(t0.elapsed().as_secs_f64());
        std::hint::black_box(s);

        let t0 = std::time::Instant::now();
        let (loaded, _) = file.load(&symbols);
        best_load = best_load.min(t0.elapsed().as_secs_f64());
        assert_eq!(loaded.ticks.len(), N);
    }
    println!(
        "{N} records, {mb:.0} MB: ticks() {:.1} M/s ({:.2} GB/s), open+map+ticks() {:.1} M/s (first run {:.1} M/s), records() {:.1} M/s, \
         load() into Vec {:.1} M/s",
        rate(best_stream),
        mb / 1e3 / best_stream,
        rate(best_open_stream),
        rate(first_open_stream),
        rate(best_records),
        rate(best_load),
    );
}
