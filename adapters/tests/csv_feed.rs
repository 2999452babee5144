//! Tick files on disk: loading, streaming and writing agree, and bad lines are counted
//! without costing any good ones.

use std::io::{BufReader, Cursor, Write};
use std::sync::Arc;

use dalal_adapters::csv_ticks::{HEADER, MAX_LINE_BYTES, SAMPLE_LIMIT};
use dalal_adapters::{
    generate_session, load_ticks, open_ticks, write_ticks_csv, CsvTickStream, FeedError, LineReject, RejectCounts,
    SymbolTable, SyntheticConfig, Xoshiro256,
};
use dalal_core::model::{InstrumentId, InstrumentSpec, Price, PriceBand, Qty, Segment, Timestamp};
use dalal_core::model::{Tick, TickReject};

fn specs() -> Vec<InstrumentSpec> {
    [("RELIANCE", 5, 1), ("NIFTY25JANFUT", 10, 75), ("TCS", 5, 1)]
        .iter()
        .enumerate()
        .map(|(i, &(symbol, tick, lot))| InstrumentSpec {
            id: InstrumentId(i as u32),
            symbol: symbol.to_string(),
            segment: Segment::Equity,
            tick_size: Price(tick),
            lot_size: Qty(lot),
            band: PriceBand::OPEN,
        })
        .collect()
}

fn table() -> SymbolTable {
    SymbolTable::new(&specs()).unwrap()
}

fn file_with(content: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content).unwrap();
    f.flush().unwrap();
    f
}

/// Streams a file and splits the outcome like `load_ticks` does. Streams it twice: once
/// with all bytes buffered (lines parsed in place) and once through a tiny buffer (every
/// line copied across refills); both must agree.
fn stream(content: &[u8]) -> (Vec<Tick>, Vec<LineReject>) {
    let run = |s: &mut dyn Iterator<Item = Result<Tick, LineReject>>| {
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for r in s {
            match r {
                Ok(t) => ok.push(t),
                Err(e) => bad.push(e),
            }
        }
        (ok, bad)
    };
    let whole = run(&mut CsvTickStream::new(Cursor::new(content.to_vec()), table()).unwrap());
    let tiny = BufReader::with_capacity(13, Cursor::new(content.to_vec()));
    let piecewise = run(&mut CsvTickStream::new(tiny, table()).unwrap());
    assert_eq!(whole, piecewise);
    whole
}

const GOOD: &str = "\
ts_ns,symbol,price,qty
1700000000000000001,RELIANCE,2450.05,10
1700000000000000002,NIFTY25JANFUT,24150.50,75
1700000000000000003,TCS,4120.35,1
";

#[test]
fn good_lines_parse_exactly() {
    let f = file_with(GOOD.as_bytes());
    let got = load_ticks(f.path(), &table()).unwrap();
    assert_eq!(got.lines, 3);
    assert!(got.rejects.is_empty() && got.samples.is_empty());
    assert_eq!(
        got.ticks,
        vec![
            Tick {
                instrument: InstrumentId(0),
                ts: Timestamp(1_700_000_000_000_000_001),
                price: Price(245_005),
                qty: Qty(10)
            },
            Tick {
                instrument: InstrumentId(1),
                ts: Timestamp(1_700_000_000_000_000_002),
                price: Price(2_415_050),
                qty: Qty(75)
            },
            Tick {
                instrument: InstrumentId(2),
                ts: Timestamp(1_700_000_000_000_000_003),
                price: Price(412_035),
                qty: Qty(1)
            },
        ]
    );
    assert_eq!(stream(GOOD.as_bytes()).0, got.ticks);
}

#[test]
fn each_reject_is_counted_and_good_lines_survive() {
    let bad_lines: [(&[u8], TickReject); 12] = [
        (b"1,RELIANCE,2450.05", TickReject::Malformed),
        (b"1,RELIANCE,2450.05,10,extra", TickReject::Malformed),
        (b"yesterday,RELIANCE,2450.05,10", TickReject::Malformed),
        (b"1,RELIANCE,24x0,10", TickReject::Malformed),
        (b"1,REL\xC3\x28IANCE,2450.05,10", TickReject::Malformed),
        (b"1,RELIANCE,2450.05,2.5", TickReject::Malformed),
        (b"1,INFY,1500.00,10", TickReject::UnknownSymbol),
        (b"1,RELIANCE,nan,10", TickReject::NonPositivePrice),
        (b"1,RELIANCE,-2450.05,10", TickReject::NonPositivePrice),
        (b"1,RELIANCE,0,10", TickReject::NonPositivePrice),
        (b"1,RELIANCE,2450.051,10", TickReject::OffTickGrid),
        (b"1,RELIANCE,2450.05,0", TickReject::NonPositiveQty),
    ];
    let mut content = b"ts_ns,symbol,price,qty\n".to_vec();
    let mut want = RejectCounts::default();
    for (i, (bad, reason)) in bad_lines.iter().enumerate() {
        content.extend_from_slice(format!("{i},TCS,100.{:02},1\n", i).as_bytes());
        content.extend_from_slice(bad);
        content.push(b'\n');
        want.add(*reason);
    }
    content.extend_from_slice(b"99,RELIANCE,-1,-1\n99,TCS,1.00,1\n");
    want.add(TickReject::NonPositivePrice);

    let f = file_with(&content);
    let got = load_ticks(f.path(), &table()).unwrap();
    assert_eq!(got.rejects, want);
    assert_eq!(got.rejects.get(TickReject::Malformed), 6);
    assert_eq!(got.ticks.len(), bad_lines.len() + 1, "every good line loads");
    for (i, t) in got.ticks.iter().take(bad_lines.len()).enumerate() {
        assert_eq!((t.instrument, t.ts, t.price), (InstrumentId(2), Timestamp(i as i64), Price(10_000 + i as i64)));
    }
    assert_eq!(got.lines, got.ticks.len() as u64 + got.rejects.total());
    assert_eq!(got.samples.len(), SAMPLE_LIMIT);
    assert_eq!(got.samples[0], "line 3: malformed: fewer than 4 fields in \"1,RELIANCE,2450.05\"");
    assert!(got.samples[6].starts_with("line 15: unknown_symbol: "), "{}", got.samples[6]);

    // The streaming reader agrees line for line.
    let (ok, bad) = stream(&content);
    assert_eq!(ok, got.ticks);
    let mut counted = RejectCounts::default();
    for r in &bad {
        counted.add(r.reason);
    }
    assert_eq!(counted, want);
    assert_eq!(bad[0].line, 3);
    assert_eq!(bad[0].to_string(), got.samples[0]);
}

#[test]
fn header_errors_name_the_expected_header() {
    for content in [&b"time,sym,px,q\n1,TCS,1,1\n"[..], b"1,TCS,1.00,1\n", b"TS_NS,SYMBOL,PRICE,QTY\n"] {
        let f = file_with(content);
        let e = load_ticks(f.path(), &table()).unwrap_err();
        assert!(matches!(e, FeedError::BadHeader { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains(HEADER) && msg.contains(&f.path().display().to_string()), "{msg}");
        assert!(matches!(CsvTickStream::new(Cursor::new(content), table()), Err(FeedError::BadHeader { .. })));
    }
    let empty = file_with(b"");
    assert!(matches!(load_ticks(empty.path(), &table()), Err(FeedError::MissingHeader { .. })));
    assert!(matches!(open_ticks(empty.path(), table()), Err(FeedError::MissingHeader { .. })));
    let missing = empty.path().with_extension("does-not-exist");
    assert!(matches!(load_ticks(&missing, &table()), Err(FeedError::Io { .. })));
    assert!(matches!(open_ticks(&missing, table()), Err(FeedError::Io { .. })));
}

#[test]
fn crlf_bom_and_trailing_blank_lines() {
    let content = b"\xEF\xBB\xBFts_ns,symbol,price,qty\r\n5,TCS,4120.35,3\r\n6,RELIANCE,2450,1\r\n\r\n\r\n";
    let f = file_with(content);
    let got = load_ticks(f.path(), &table()).unwrap();
    assert!(got.rejects.is_empty(), "{:?}", got.samples);
    assert_eq!(got.lines, 2);
    assert_eq!(got.ticks[0].price, Price(412_035));
    assert_eq!(got.ticks[1].price, Price(245_000));
    let (ok, bad) = stream(content);
    assert_eq!(ok, got.ticks);
    assert!(bad.is_empty());
    // No final newline at all.
    let got = load_ticks(file_with(b"ts_ns,symbol,price,qty\r\n5,TCS,1.5,3").path(), &table()).unwrap();
    assert_eq!(got.ticks.len(), 1);
}

#[test]
fn written_file_loads_back_identical() {
    let (cfg, specs) = SyntheticConfig::demo(11, 25);
    let symbols = SymbolTable::new(&specs).unwrap();
    let ticks = generate_session(&cfg, Timestamp(1_795_146_300_000_000_000), 20_000, 1_000_000).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.csv");
    write_ticks_csv(&path, &ticks, &symbols).unwrap();

    let got = load_ticks(&path, &symbols).unwrap();
    assert!(got.rejects.is_empty(), "{:?}", got.samples);
    assert_eq!(got.ticks, ticks);

    let streamed: Result<Vec<Tick>, LineReject> = open_ticks(&path, Arc::new(symbols.clone())).unwrap().collect();
    assert_eq!(streamed.unwrap(), ticks);

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("ts_ns,symbol,price,qty\n1795146300000000000,"), "{}", &text[..80]);

    // An instrument without a symbol is refused rather than written blank.
    let stray = [Tick { instrument: InstrumentId(999), ts: Timestamp(0), price: Price(100), qty: Qty(1) }];
    let err = write_ticks_csv(dir.path().join("stray.csv"), &stray, &symbols).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn stream_survives_an_overlong_line() {
    let mut content = b"ts_ns,symbol,price,qty\n1,TCS,1.00,1\n".to_vec();
    content.extend(vec![b'9'; MAX_LINE_BYTES * 3]);
    content.extend_from_slice(b"\n2,TCS,2.00,1\n");
    // A small buffer makes the long line span many reads.
    let s = CsvTickStream::new(BufReader::with_capacity(64, Cursor::new(content)), table()).unwrap();
    let all: Vec<_> = s.collect();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].as_ref().unwrap().price, Price(100));
    let e = all[1].as_ref().unwrap_err();
    assert_eq!((e.line, e.reason), (3, TickReject::Malformed));
    assert_eq!(all[2].as_ref().unwrap().price, Price(200));
}

#[test]
fn stream_reports_a_read_error_once_and_stops() {
    struct Failing(Cursor<Vec<u8>>);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(std::io::Error::other("disk on fire")),
                n => Ok(n),
            }
        }
    }
    let reader = BufReader::with_capacity(16, Failing(Cursor::new(b"ts_ns,symbol,price,qty\n1,TCS,1.00,1\n".to_vec())));
    let mut s = CsvTickStream::new(reader, table()).unwrap();
    assert!(s.next().unwrap().is_ok());
    let e = s.next().unwrap().unwrap_err();
    assert_eq!(e.reason, TickReject::Malformed);
    assert!(e.detail.contains("disk on fire"));
    assert!(s.next().is_none());
    assert!(s.io_error().is_some());
    assert_eq!(s.lines(), 1);
}

#[test]
fn random_files_never_panic_and_account_for_every_line() {
    let symbols = table();
    let mut rng = Xoshiro256::new(0xBAD_F11E);
    let pieces: [&[u8]; 14] = [
        b",",
        b"\n",
        b"\r\n",
        b"RELIANCE",
        b"TCS",
        b"1700000000000000000",
        b"2450.05",
        b"-",
        b".",
        b"nan",
        b"0",
        b"\xff",
        b" ",
        b"99999999999999999999",
    ];
    for _ in 0..2_000 {
        let mut content = b"ts_ns,symbol,price,qty\n".to_vec();
        for _ in 0..rng.below(60) {
            if rng.below(4) == 0 {
                content.push(rng.next_u64() as u8);
            } else {
                content.extend_from_slice(pieces[rng.below(pieces.len() as u64) as usize]);
            }
        }
        let got = dalal_adapters::parse_ticks(&content, &symbols).unwrap();
        assert_eq!(got.lines, got.ticks.len() as u64 + got.rejects.total());
        let (ok, bad) = stream(&content);
        assert_eq!(ok, got.ticks);
        assert_eq!(bad.len() as u64, got.rejects.total());
    }
}

#[test]
fn block_reader_whole_buffer_and_stream_agree() {
    let symbols = table();
    let mut rng = Xoshiro256::new(77);
    let mut overlong = 0;
    for round in 0..12 {
        let mut content = Vec::new();
        if round % 3 == 0 {
            content.extend_from_slice(b"\xEF\xBB\xBF");
        }
        content.extend_from_slice(if round % 2 == 0 {
            b"ts_ns,symbol,price,qty\n"
        } else {
            b"ts_ns,symbol,price,qty\r\n"
        });
        let target = [1_000, 300_000, 700_000][round % 3];
        let mut i = 0u64;
        while content.len() < target {
            i += 1;
            match rng.below(100) {
                0 => {
                    // Around the line-length limit, with and without a final CR.
                    let len = MAX_LINE_BYTES - 2 + rng.below(5) as usize;
                    content.extend(vec![b'7'; len]);
                    if rng.below(2) == 0 {
                        content.push(b'\r');
                    }
                    content.push(b'\n');
                }
                1 => {
                    content.extend(vec![b'x'; 300_000 + rng.below(10_000) as usize]);
                    content.push(b'\n');
                }
                2..=5 => content.extend_from_slice(b"\n"),
                6..=15 => content.extend_from_slice(format!("{i},INFY,1.00,1\n").as_bytes()),
                16..=20 => content.extend_from_slice(format!("{i},TCS,-{i}.5,1\r\n").as_bytes()),
                _ => {
                    content.extend_from_slice(format!("{i},TCS,{}.{:02},{}\n", i % 5000, i % 100, 1 + i % 9).as_bytes())
                }
            }
        }
        if round % 4 == 1 {
            content.extend_from_slice(b"999999,RELIANCE,1.05,2"); // no final newline
        }
        if round % 4 == 2 {
            content.extend(vec![b'9'; MAX_LINE_BYTES + 10]); // overlong, no final newline
        }

        let whole = dalal_adapters::parse_ticks(&content, &symbols).unwrap();
        let f = file_with(&content);
        let blocks = load_ticks(f.path(), &symbols).unwrap();
        assert_eq!(blocks.ticks, whole.ticks, "round {round}");
        assert_eq!(blocks.rejects, whole.rejects, "round {round}");
        assert_eq!(blocks.samples, whole.samples, "round {round}");
        assert_eq!(blocks.lines, whole.lines, "round {round}");
        assert_eq!(whole.lines, whole.ticks.len() as u64 + whole.rejects.total());

        let (ok, bad) = stream(&content);
        assert_eq!(ok, whole.ticks, "round {round}");
        let mut counted = RejectCounts::default();
        bad.iter().for_each(|r| counted.add(r.reason));
        assert_eq!(counted, whole.rejects, "round {round}");
        let shown: Vec<String> = bad.iter().take(SAMPLE_LIMIT).map(|r| r.to_string()).collect();
        assert_eq!(shown, whole.samples, "round {round}");
        overlong += bad.iter().filter(|r| r.detail.contains("longer than")).count();
    }
    assert!(overlong > 5, "the rounds exercise over-long lines ({overlong})");
}

/// Throughput check: `cargo test --release -p dalal-adapters --test csv_feed -- --ignored --nocapture`.
#[test]
#[ignore]
fn load_throughput() {
    let (cfg, specs) = SyntheticConfig::demo(1, 200);
    let symbols = SymbolTable::new(&specs).unwrap();
    let ticks = generate_session(&cfg, Timestamp(1_795_146_300_000_000_000), 5_000_000, 1_000).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    write_ticks_csv(&path, &ticks, &symbols).unwrap();
    let bytes = std::fs::metadata(&path).unwrap().len();
    let _ = load_ticks(&path, &symbols).unwrap();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t0 = std::time::Instant::now();
        let got = load_ticks(&path, &symbols).unwrap();
        best = best.min(t0.elapsed().as_secs_f64());
        assert_eq!(got.ticks.len(), ticks.len());
    }
    let data = std::fs::read(&path).unwrap();
    let mut best_parse = f64::MAX;
    for _ in 0..5 {
        let t0 = std::time::Instant::now();
        let got = dalal_adapters::parse_ticks(&data, &symbols).unwrap();
        best_parse = best_parse.min(t0.elapsed().as_secs_f64());
        assert_eq!(got.ticks.len(), ticks.len());
    }
    let t0 = std::time::Instant::now();
    let n = open_ticks(&path, &symbols).unwrap().filter(|r| r.is_ok()).count();
    let stream_s = t0.elapsed().as_secs_f64();
    assert_eq!(n, ticks.len());
    let m = ticks.len() as f64 / 1e6;
    println!(
        "{} lines, {:.0} MB: load {:.1} M lines/s, parse only {:.1} M lines/s, stream {:.1} M lines/s",
        ticks.len(),
        bytes as f64 / 1e6,
        m / best,
        m / best_parse,
        m / stream_s
    );
}
