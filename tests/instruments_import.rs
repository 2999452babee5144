//! `dalal instruments import --broker kite` on the committed master fixture
//! (`scripts/kite_instruments_fixture.py`): the file it writes is a config Dalal accepts,
//! in the priority operators need, with every refused row counted; and a master of Kite's
//! real size (120 000 rows) imports whole. The same for Angel One's and Upstox's JSON masters
//! (`scripts/angel_instruments_fixture.py`, `scripts/upstox_instruments_fixture.py`), Upstox's
//! also gzip-compressed as it is downloaded.

mod cli;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};

use dalal_brokers::instruments::nse::NIFTY_50;
use dalal_config::Config;
use dalal_core::model::Segment;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/brokers/tests/fixtures/kite_instruments.csv");
const ANGEL_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/brokers/tests/fixtures/angel_instruments.json");
const UPSTOX_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/brokers/tests/fixtures/upstox_instruments.json");

fn import(dir: &Path, file: &str, extra: &[&str]) -> Output {
    import_as("kite", dir, file, extra)
}

fn import_as(broker: &str, dir: &Path, file: &str, extra: &[&str]) -> Output {
    let out = dir.join("instruments.toml");
    Command::new(env!("CARGO_BIN_EXE_dalal"))
        .args(["instruments", "import", "--broker", broker, "--file", file, "--out"])
        .arg(&out)
        .args(extra)
        .output()
        .expect("dalal runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn written(dir: &Path) -> (String, Config) {
    let text = std::fs::read_to_string(dir.join("instruments.toml")).expect("written");
    let config: Config = toml::from_str(&text).expect("the written file is a config");
    (text, config)
}

fn symbols(c: &Config) -> Vec<&str> {
    c.instruments.iter().map(|i| i.symbol.as_str()).collect()
}

#[test]
fn the_fixture_becomes_a_valid_config_in_priority_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = import(dir.path(), FIXTURE, &[]);
    assert!(o.status.success(), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    let (text, config) = written(dir.path());
    let setup = config.validate().expect("the config validates");
    assert_eq!(setup.instruments.len(), 294, "117 NSE equities, 102 futures and 75 options");

    // NIFTY 50 first, then the rest alphabetically.
    let s = symbols(&config);
    let nifty: HashSet<&str> = NIFTY_50.into_iter().collect();
    assert_eq!(s[..50].iter().copied().collect::<HashSet<_>>(), nifty);
    assert_eq!(&s[50..53], ["3MINDIA", "AARTIIND", "ABB"]);
    // Then index futures, nearest expiry first, then stock futures.
    assert_eq!(
        &s[117..122],
        ["NIFTY26DECFUT", "BANKNIFTY26DECFUT", "FINNIFTY26DECFUT", "MIDCPNIFTY26DECFUT", "NIFTY27JANFUT"]
    );
    assert_eq!(s[129], "ADANIENT26DECFUT");
    // Options: nearest expiry, then nearest the index's 26180.35.
    assert_eq!(&s[219..222], ["NIFTY26D0826200CE", "NIFTY26D0826200PE", "NIFTY26D0826150CE"]);
    assert!(!s.iter().any(|s| s.starts_with("SENSEX") || s.starts_with("GOLD") || s.starts_with("USDINR")));

    // The master's sizes and the broker's token, exactly.
    let reliance = config.instruments.iter().find(|i| i.symbol == "RELIANCE").expect("RELIANCE");
    assert_eq!(
        (reliance.segment, reliance.tick_size, reliance.lot_size, reliance.ref_price),
        (Segment::Equity, 0.1, 1, 1542.3)
    );
    assert_eq!(reliance.tokens.get("kite"), Some(&266_497));
    let fut = config.instruments.iter().find(|i| i.symbol == "BANKNIFTY26DECFUT").expect("future");
    assert_eq!((fut.segment, fut.tick_size, fut.lot_size), (Segment::Futures, 0.2, 30));
    let opt = config.instruments.iter().find(|i| i.symbol == "RELIANCE26DEC1502.5CE").expect("option");
    assert_eq!((opt.segment, opt.tick_size, opt.lot_size), (Segment::Options, 0.05, 500));
    assert_eq!((opt.ref_price, opt.band_pct), (0.05, 0.0), "no last price: a one-tick reference and no band");
    assert!(config.instruments.iter().all(|i| i.tokens.get("kite").is_some_and(|&t| t > 0)));
    assert!(text.contains("# NSE POWER GRID CORPORATION, INDIA\n"), "names with commas read whole");

    let report = stdout(&o);
    for line in [
        "rows: 328; instruments: 306; out of scope: 14; refused: 8",
        "NSE      NSE_EQ         117       117         0",
        "BSE      NSE_EQ           7         0         7",
        "skipped exchange_not_selected: 12",
        "out of scope, index (not tradable): 6",
        "out of scope, exchange MCX (no Dalal segment): 5",
        "refused bad_tick_size: 2",
        "refused bad_lot_size: 1",
        "refused missing_field: 1",
        "wrote 294 instruments",
    ] {
        assert!(report.contains(line), "{line:?} missing from\n{report}");
    }
    let warnings = String::from_utf8_lossy(&o.stderr);
    assert!(warnings.contains("line 322: bad_tick_size"), "{warnings}");
    assert!(warnings.contains("line 324: bad_lot_size"), "{warnings}");

    // Usable as the instruments of a fuller config.
    let full = format!("{text}\n[[accounts]]\nname = \"desk\"\n[[accounts.strategies]]\nkind = \"ema_cross\"\ninstrument = \"NIFTY26DECFUT\"\nqty = 65\nfast = 9\nslow = 21\n");
    let c: Config = toml::from_str(&full).expect("parses");
    c.validate().expect("an account trading an imported future validates");
}

#[test]
fn limits_and_filters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = import(dir.path(), FIXTURE, &["--max-equity", "60", "--max-derivatives", "20"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, c) = written(dir.path());
    let s = symbols(&c);
    assert_eq!(s.len(), 80);
    assert_eq!(&s[50..52], ["3MINDIA", "AARTIIND"]);
    assert!(
        s[60..72].iter().all(|s| ["NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY"].iter().any(|u| s.starts_with(u))),
        "{s:?}"
    );
    assert_eq!(s[72], "ADANIENT26DECFUT");
    assert!(stdout(&o).contains("skipped over_limit: 214"), "{}", stdout(&o));

    let o = import(dir.path(), FIXTURE, &["--all", "--exchange", "NFO", "--underlying", "NIFTY"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, c) = written(dir.path());
    assert_eq!(c.instruments.len(), 3 + 48, "NIFTY's futures and weekly options only");
    assert!(c.instruments.iter().all(|i| i.symbol.starts_with("NIFTY") && i.segment != Segment::Equity));

    let o = import(dir.path(), FIXTURE, &["--all", "--exchange", "BSE,BFO,NSE"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, c) = written(dir.path());
    c.validate().expect("valid");
    assert!(stdout(&o).contains("skipped duplicate_symbol: 7"), "{}", stdout(&o));
}

#[test]
fn what_cannot_be_imported_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = import(dir.path(), FIXTURE, &["--exchange", "MCX"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--exchange \"MCX\""));

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "instrument_token,tradingsymbol,name\n1,A,B\n").expect("write");
    let o = import(dir.path(), bad.to_str().expect("utf-8 path"), &[]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("exchange_token") && e.contains("lot_size") && e.contains("exchange"), "{e}");
    assert!(!dir.path().join("instruments.toml").exists(), "nothing written on failure");
}

/// Kite's master is about 120 000 rows: the fixture's rows again and again, each copy's
/// symbols made unique, import whole with `--all`.
#[test]
fn a_master_of_kites_size_imports_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = std::fs::read_to_string(FIXTURE).expect("fixture");
    let mut lines = fixture.lines();
    let header = lines.next().expect("header");
    let rows: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let copies = 120_000 / rows.len() + 1;
    let mut big = String::with_capacity(fixture.len() * copies);
    big.push_str(header);
    big.push('\n');
    for k in 0..copies {
        for row in &rows {
            let f: Vec<&str> = row.splitn(4, ',').collect();
            match (k, f.as_slice()) {
                (1.., [tok, etok, sym, rest]) if !sym.is_empty() => {
                    big.push_str(&format!("{tok},{etok},{sym}-C{k},{rest}"));
                }
                _ => big.push_str(row),
            }
            big.push('\n');
        }
    }
    let file = dir.path().join("big.csv");
    std::fs::write(&file, &big).expect("write");
    let o = import(dir.path(), file.to_str().expect("utf-8 path"), &["--all"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report = stdout(&o);
    let n = rows.len() * copies;
    assert!(n >= 120_000);
    assert!(
        report.contains(&format!(
            "rows: {n}; instruments: {}; out of scope: {}; refused: {}",
            306 * copies,
            14 * copies,
            8 * copies
        )),
        "{report}"
    );
    assert!(report.contains(&format!("wrote {} instruments", 294 * copies)), "{report}");
    let text = std::fs::read_to_string(dir.path().join("instruments.toml")).expect("written");
    let symbols: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("symbol = ")).collect();
    assert_eq!(symbols.len(), 294 * copies);
    assert_eq!(symbols.iter().collect::<HashSet<_>>().len(), symbols.len(), "symbols are unique");
    assert!(symbols[..50].iter().all(|s| NIFTY_50.contains(&s.trim_matches('"'))));
}

/// The store's `instrument_master` after `dalal instruments import --store URL`: (exchange,
/// symbol, token, segment, tick, lot, expiry, strike, option type) ordered by symbol.
type Stored = (String, String, i64, String, i64, i64, Option<String>, Option<i64>, Option<String>);
type MasterRows = Vec<Stored>;

fn master_rows(url: &str) -> MasterRows {
    broker_master_rows(url, "kite")
}

fn broker_master_rows(url: &str, broker: &str) -> MasterRows {
    use sqlx::{Connection, Row};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let sql = format!(
            "SELECT exchange, symbol, token, segment, tick_paise, lot, expiry, strike_paise, option_type \
             FROM instrument_master WHERE broker = '{broker}' ORDER BY exchange, symbol"
        );
        let sql = sql.as_str();
        let rows = if url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(url).await.expect("sqlite");
            sqlx::query(sql).fetch_all(&mut c).await.expect("query").into_iter().map(|r| row(&r)).collect()
        } else {
            let mut c = sqlx::PgConnection::connect(url).await.expect("postgres");
            sqlx::query(sql).fetch_all(&mut c).await.expect("query").into_iter().map(|r| row(&r)).collect()
        };
        fn row<R: Row>(r: &R) -> Stored
        where
            usize: sqlx::ColumnIndex<R>,
            for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        {
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7), r.get(8))
        }
        rows
    })
}

/// The chosen instruments land in the store exactly as in the TOML; a second import for the
/// same exchanges replaces the first (nothing stale is left).
fn store_round_trip(url: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = import(dir.path(), FIXTURE, &["--store", url]);
    assert!(o.status.success(), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("stored 294 instruments"), "{}", stdout(&o));
    let (_, config) = written(dir.path());
    let rows = master_rows(url);
    assert_eq!(rows.len(), config.instruments.len());
    let by_symbol: std::collections::HashMap<&str, _> = rows.iter().map(|r| (r.1.as_str(), r)).collect();
    for i in &config.instruments {
        let r = by_symbol.get(i.symbol.as_str()).unwrap_or_else(|| panic!("{} stored", i.symbol));
        assert_eq!(Some(r.2 as u64), i.tokens.get("kite").copied(), "{}", i.symbol);
        assert_eq!(r.4, (i.tick_size * 100.0).round() as i64, "{}", i.symbol);
        assert_eq!(r.5 as u64, i.lot_size, "{}", i.symbol);
    }
    let option = rows.iter().find(|r| r.8.is_some()).expect("an option");
    assert!(option.7.is_some_and(|k| k > 0) && option.6.as_deref().is_some_and(|e| e.len() == 10), "{option:?}");
    assert!(matches!(option.8.as_deref(), Some("CE" | "PE")));
    let future = rows.iter().find(|r| r.1 == "NIFTY26DECFUT").expect("a future");
    assert_eq!((future.3.as_str(), future.7, future.8.as_deref()), ("NSE_FUT", None, None));

    // Fewer instruments the second time: the store holds exactly the second import.
    let o = import(dir.path(), FIXTURE, &["--store", url, "--max-equity", "5", "--max-derivatives", "3"]);
    assert!(o.status.success(), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert_eq!(master_rows(url).len(), 8);
}

#[test]
fn the_chosen_instruments_are_kept_in_a_sqlite_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("master.db").display());
    store_round_trip(&url);
    // Without --out, only the store is written.
    let o = Command::new(env!("CARGO_BIN_EXE_dalal"))
        .args(["instruments", "import", "--broker", "kite", "--file", FIXTURE, "--store", &url])
        .output()
        .expect("dalal runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let neither = Command::new(env!("CARGO_BIN_EXE_dalal"))
        .args(["instruments", "import", "--broker", "kite", "--file", FIXTURE])
        .output();
    assert!(!neither.expect("dalal runs").status.success(), "--out or --store is needed");
}

#[test]
fn the_chosen_instruments_are_kept_in_a_postgres_store() {
    let Some(schema) = cli::PgTestSchema::create("master") else { return };
    store_round_trip(&schema.url());
}

/// A gzip file of `data` in stored (uncompressed) deflate blocks: what Upstox serves, built
/// without a compression library (the reader does not care how the blocks were made).
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let blocks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(block.len()).expect("a stored block holds at most 65 535 bytes");
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend(crc32(data).to_le_bytes());
    out.extend(u32::try_from(data.len()).expect("small").to_le_bytes());
    out
}

/// The fixture's NIFTY 50 names as Angel One writes them (`SBIN-EQ`).
fn angel_nifty_50() -> HashSet<String> {
    NIFTY_50.iter().map(|s| format!("{s}-EQ")).collect()
}

#[test]
fn angels_master_becomes_a_valid_config_in_priority_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = import_as("angel", dir.path(), ANGEL_FIXTURE, &[]);
    assert!(o.status.success(), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    let (text, config) = written(dir.path());
    let setup = config.validate().expect("the config validates");
    assert_eq!(setup.instruments.len(), 54, "28 NSE equities, 6 futures and 20 options");

    // Angel One's own symbols; its NIFTY 50 names first all the same, then alphabetical.
    let s = symbols(&config);
    let nifty = angel_nifty_50();
    assert_eq!(s[..20].iter().filter(|s| nifty.contains(**s)).count(), 20, "{s:?}");
    assert_eq!(
        &s[20..28],
        ["AARTIIND-EQ", "ABB-EQ", "AFTERBAD-EQ", "IDEA-EQ", "JOCIL-BE", "NIFTYBEES-EQ", "YESBANK-EQ", "ZEEL-EQ"]
    );
    assert_eq!(
        &s[28..34],
        [
            "NIFTY29DEC26FUT",
            "BANKNIFTY29DEC26FUT",
            "NIFTY25JAN27FUT",
            "BANKNIFTY25JAN27FUT",
            "RELIANCE29DEC26FUT",
            "RELIANCE25JAN27FUT"
        ]
    );
    // No prices in Angel One's master: options of an expiry by strike, the weekly first.
    assert_eq!(&s[34..37], ["NIFTY08DEC2625900CE", "NIFTY08DEC2625900PE", "NIFTY08DEC2626000CE"]);
    assert_eq!(s[44], "BANKNIFTY29DEC2659000CE");
    assert_eq!(s[50], "RELIANCE29DEC261500CE");
    assert!(!s.iter().any(|s| s.ends_with("-SM") || s.starts_with("GOLD") || s.starts_with("USDINR")));

    // The master's sizes in paise, exactly, and Angel One's token under `angel`.
    let sbin = config.instruments.iter().find(|i| i.symbol == "SBIN-EQ").expect("SBIN-EQ");
    assert_eq!((sbin.segment, sbin.tick_size, sbin.lot_size), (Segment::Equity, 0.05, 1));
    assert_eq!(sbin.tokens.get("angel"), Some(&3045));
    let bajaj = config.instruments.iter().find(|i| i.symbol == "BAJAJ-AUTO-EQ").expect("a hyphenated symbol");
    assert_eq!((bajaj.tick_size, bajaj.tokens.get("angel")), (0.5, Some(&16_669)));
    let fut = config.instruments.iter().find(|i| i.symbol == "BANKNIFTY29DEC26FUT").expect("future");
    assert_eq!((fut.segment, fut.tick_size, fut.lot_size), (Segment::Futures, 0.2, 30));
    let opt = config.instruments.iter().find(|i| i.symbol == "RELIANCE29DEC261502.5PE").expect("option");
    assert_eq!((opt.segment, opt.tick_size, opt.lot_size, opt.band_pct), (Segment::Options, 0.05, 500, 0.0));
    assert!(text.contains("# NFO RELIANCE 2026-12-29 1502.50 PE\n"), "the strike in rupees: {text}");
    assert!(config.instruments.iter().all(|i| i.tokens.len() == 1 && i.tokens["angel"] > 0 && i.keys.is_empty()));
    assert!(text.contains("tokens = { angel = 3045 }\n") && !text.contains("keys ="), "{text}");

    let report = stdout(&o);
    for line in [
        "rows: 81; instruments: 59; out of scope: 13; refused: 9",
        "NSE      NSE_EQ          28        28         0",
        "BSE      NSE_EQ           3         0         3",
        "skipped exchange_not_selected: 5",
        "out of scope, index (not tradable): 4",
        "out of scope, exchange MCX (no Dalal segment): 2",
        "out of scope, exchange CDS (no Dalal segment): 2",
        "out of scope, exchange NCDEX (no Dalal segment): 1",
        "out of scope, NSE instrument_type \"-SM\" (no Dalal segment): 1",
        "refused not_an_object: 1",
        "refused bad_tick_size: 2",
        "refused bad_option_type: 1",
        "refused bad_strike: 1",
        "wrote 54 instruments",
    ] {
        assert!(report.contains(line), "{line:?} missing from\n{report}");
    }
    let warnings = String::from_utf8_lossy(&o.stderr);
    for w in
        ["element 72: not_an_object", "element 74: bad_token", "element 75: bad_tick_size", "element 80: bad_strike"]
    {
        assert!(warnings.contains(w), "{w:?} missing from\n{warnings}");
    }

    // `--underlying SBIN` finds `SBIN-EQ`; the limits keep the NIFTY 50 first.
    let o = import_as("angel", dir.path(), ANGEL_FIXTURE, &["--all", "--underlying", "SBIN,RELIANCE"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, c) = written(dir.path());
    let s = symbols(&c);
    assert_eq!(s.len(), 2 + 2 + 4, "{s:?}");
    assert_eq!(&s[..2], ["RELIANCE-EQ", "SBIN-EQ"]);
    let o = import_as("angel", dir.path(), ANGEL_FIXTURE, &["--max-equity", "5", "--max-derivatives", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, c) = written(dir.path());
    let s = symbols(&c);
    assert!(s[..5].iter().all(|s| nifty.contains(*s)), "{s:?}");
    assert_eq!(&s[5..], ["NIFTY29DEC26FUT", "BANKNIFTY29DEC26FUT"]);
}

#[test]
fn upstoxs_gzip_master_becomes_a_valid_config_with_instrument_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = std::fs::read(UPSTOX_FIXTURE).expect("fixture");
    let gz = dir.path().join("complete.json.gz");
    std::fs::write(&gz, gzip_stored(&json)).expect("write");
    let o = import_as("upstox", dir.path(), gz.to_str().expect("utf-8 path"), &[]);
    assert!(o.status.success(), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    let (text, config) = written(dir.path());
    let setup = config.validate().expect("the config validates");
    assert_eq!(setup.instruments.len(), 48, "22 NSE equities, 6 futures and 20 options");

    let s = symbols(&config);
    let nifty: HashSet<&str> = NIFTY_50.into_iter().collect();
    assert!(s[..16].iter().all(|s| nifty.contains(s)), "{s:?}");
    assert_eq!(&s[16..22], ["AARTIIND", "ABB", "AFTERBAD", "IDEA", "JOCIL", "ZEEL"]);
    assert_eq!(&s[22..24], ["NIFTY FUT 29 DEC 26", "BANKNIFTY FUT 29 DEC 26"]);
    assert_eq!(s[26], "RELIANCE FUT 29 DEC 26");
    assert_eq!(&s[28..30], ["NIFTY 25900 CE 08 DEC 26", "NIFTY 25900 PE 08 DEC 26"]);

    // The exchange token under `tokens`, the instrument key under `keys`.
    let reliance = config.instruments.iter().find(|i| i.symbol == "RELIANCE").expect("RELIANCE");
    assert_eq!((reliance.segment, reliance.tick_size, reliance.lot_size), (Segment::Equity, 0.1, 1));
    assert_eq!(reliance.tokens.get("upstox"), Some(&2885));
    assert_eq!(reliance.keys.get("upstox").map(String::as_str), Some("NSE_EQ|INE002A01018"));
    assert!(text.contains("tokens = { upstox = 2885 }\nkeys = { upstox = \"NSE_EQ|INE002A01018\" }\n"), "{text}");
    let opt = config.instruments.iter().find(|i| i.symbol == "RELIANCE 1502.5 CE 29 DEC 26").expect("option");
    assert_eq!((opt.segment, opt.tick_size, opt.lot_size), (Segment::Options, 0.05, 500));
    assert!(text.contains("# NFO RELIANCE 2026-12-29 1502.50 CE\n"), "underlying, expiry in IST, strike: {text}");
    let fut = config.instruments.iter().find(|i| i.symbol == "BANKNIFTY FUT 29 DEC 26").expect("future");
    assert_eq!((fut.tick_size, fut.lot_size), (0.2, 30));
    for i in &config.instruments {
        let (token, key) = (i.tokens["upstox"], &i.keys["upstox"]);
        match i.segment {
            Segment::Equity => assert!(key.starts_with("NSE_EQ|INE"), "{}: {key}", i.symbol),
            _ => assert_eq!(key, &format!("NSE_FO|{token}"), "{}", i.symbol),
        }
    }

    let report = stdout(&o);
    for line in [
        "rows: 68; instruments: 52; out of scope: 8; refused: 8",
        "NSE      NSE_EQ          22        22         0",
        "skipped exchange_not_selected: 4",
        "out of scope, index (not tradable): 3",
        "out of scope, exchange NCD_FO (no Dalal segment): 1",
        "out of scope, NSE instrument_type \"SM\" (no Dalal segment): 1",
        "refused bad_instrument_key: 1",
        "refused bad_expiry: 1",
        "wrote 48 instruments",
    ] {
        assert!(report.contains(line), "{line:?} missing from\n{report}");
    }
    let warnings = String::from_utf8_lossy(&o.stderr);
    for w in ["element 60: not_an_object", "element 63: bad_instrument_key", "element 66: bad_expiry"] {
        assert!(warnings.contains(w), "{w:?} missing from\n{warnings}");
    }

    // The decompressed JSON imports to the same instruments.
    let o = import_as("upstox", dir.path(), UPSTOX_FIXTURE, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, plain) = written(dir.path());
    assert_eq!(plain.instruments, config.instruments);
}

#[test]
fn a_json_master_that_is_not_a_json_array_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    for broker in ["angel", "upstox"] {
        let o = import_as(broker, dir.path(), FIXTURE, &[]);
        assert!(!o.status.success(), "{broker}: Kite's CSV is not JSON");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("not a JSON array") && e.contains("kite_instruments.csv"), "{broker}: {e}");
        assert!(!dir.path().join("instruments.toml").exists(), "nothing written on failure");
    }
    let refusal = dir.path().join("refusal.json");
    std::fs::write(&refusal, r#"{"status":"error","message":"Too many requests"}"#).expect("write");
    let o = import_as("angel", dir.path(), refusal.to_str().expect("utf-8 path"), &[]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("Angel One") && e.contains("not a JSON array"), "{e}");

    let torn = dir.path().join("torn.json.gz");
    let mut gz = gzip_stored(&std::fs::read(UPSTOX_FIXTURE).expect("fixture"));
    gz.truncate(gz.len() / 2);
    std::fs::write(&torn, gz).expect("write");
    let o = import_as("upstox", dir.path(), torn.to_str().expect("utf-8 path"), &[]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("Upstox") && e.contains("gzip"), "{e}");
    assert!(!dir.path().join("instruments.toml").exists());

    let o = import_as("zerodha", dir.path(), FIXTURE, &[]);
    assert!(!o.status.success(), "an unknown broker is refused");
}

#[test]
fn angels_instruments_are_kept_in_a_sqlite_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("master.db").display());
    let o = import_as("angel", dir.path(), ANGEL_FIXTURE, &["--store", &url]);
    assert!(o.status.success(), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("stored 54 instruments"), "{}", stdout(&o));
    let (_, config) = written(dir.path());
    let rows = broker_master_rows(&url, "angel");
    assert_eq!(rows.len(), config.instruments.len());
    for i in &config.instruments {
        let r = rows.iter().find(|r| r.1 == i.symbol).unwrap_or_else(|| panic!("{} stored", i.symbol));
        assert_eq!(Some(r.2 as u64), i.tokens.get("angel").copied(), "{}", i.symbol);
    }
    let opt = rows.iter().find(|r| r.1 == "RELIANCE29DEC261502.5CE").expect("option");
    assert_eq!((opt.6.as_deref(), opt.7, opt.8.as_deref()), (Some("2026-12-29"), Some(150_250), Some("CE")));
    assert!(broker_master_rows(&url, "kite").is_empty(), "each broker's import is its own");
}
