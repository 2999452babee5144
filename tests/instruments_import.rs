//! `dalal instruments import --broker kite` on the committed master fixture
//! (`scripts/kite_instruments_fixture.py`): the file it writes is a config Dalal accepts,
//! in the priority operators need, with every refused row counted; and a master of Kite's
//! real size (120 000 rows) imports whole.

mod cli;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};

use dalal_brokers::instruments::nse::NIFTY_50;
use dalal_config::Config;
use dalal_core::model::Segment;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/brokers/tests/fixtures/kite_instruments.csv");

fn import(dir: &Path, file: &str, extra: &[&str]) -> Output {
    let out = dir.join("instruments.toml");
    Command::new(env!("CARGO_BIN_EXE_dalal"))
        .args(["instruments", "import", "--broker", "kite", "--file", file, "--out"])
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
    use sqlx::{Connection, Row};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let sql = "SELECT exchange, symbol, token, segment, tick_paise, lot, expiry, strike_paise, option_type \
                   FROM instrument_master WHERE broker = 'kite' ORDER BY exchange, symbol";
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
