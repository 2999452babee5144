//! `dalal instruments import`: a broker's instrument master (Kite's `instruments.csv`,
//! Angel One's `OpenAPIScripMaster.json`, Upstox's `complete.json.gz`) as `[[instruments]]`
//! entries for the config, with each instrument's broker token (and Upstox's instrument key),
//! and a report of what was taken, left out and refused, so that the operator can see that a
//! 120 000-row file became the few hundred instruments they meant.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use dalal_brokers::instruments::{self, BrokerInstrument, Dropped, Exchange, Master, Selection, SelectionRules};
use dalal_brokers::BrokerKind;
use dalal_core::model::{Price, Segment, Timestamp};
use dalal_persistence::store::{MasterRow, Names, Store, StoreOptions};
use std::sync::Arc;

use crate::cli::{ImportArgs, InstrumentsCommand};

/// Refused rows listed one by one; the rest are only counted.
const LISTED_BAD_ROWS: usize = 20;

pub fn run(cmd: InstrumentsCommand) -> Result<()> {
    match cmd {
        InstrumentsCommand::Import(args) => import(&args),
    }
}

fn import(args: &ImportArgs) -> Result<()> {
    let rules = rules(args)?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let Some(broker) = BrokerKind::parse(&args.broker) else { bail!("--broker {:?}: not a broker", args.broker) };
    let master = match broker {
        BrokerKind::Kite => instruments::kite::parse(&String::from_utf8_lossy(&bytes)),
        BrokerKind::Angel => instruments::angel::parse(&String::from_utf8_lossy(&bytes)),
        BrokerKind::Upstox => instruments::upstox::parse_bytes(&bytes),
    }
    .with_context(|| format!("reading {} as {}'s instrument master", args.file.display(), vendor(broker)))?;
    let selection = instruments::select(&master, &rules);
    if let Some(out) = &args.out {
        write_atomically(out, &render(&master, &selection, &args.broker, &args.file))?;
    }
    let stored = match &args.store {
        Some(url) => Some(store(url, &args.broker, &rules, &master, &selection)?),
        None => None,
    };
    // A JSON master's refused rows are placed by their position in the array.
    let place = if broker == BrokerKind::Kite { "line" } else { "element" };
    for b in master.bad.iter().take(LISTED_BAD_ROWS) {
        eprintln!("warning: {place} {}: {}: {}", b.line, b.reason.as_str(), b.detail);
    }
    if master.bad.len() > LISTED_BAD_ROWS {
        eprintln!("warning: … and {} more refused rows", master.bad.len() - LISTED_BAD_ROWS);
    }
    print!("{}", report(&master, &selection));
    if let Some(out) = &args.out {
        println!("wrote {} instruments to {}", selection.chosen.len(), out.display());
    }
    if let (Some(url), Some(n)) = (&args.store, stored) {
        println!("stored {n} instruments in {}'s instrument_master", dalal_config::load::redact_url(url));
    }
    Ok(())
}

/// The broker's name as its customers know it, for messages.
fn vendor(b: BrokerKind) -> &'static str {
    match b {
        BrokerKind::Kite => "Kite",
        BrokerKind::Angel => "Angel One",
        BrokerKind::Upstox => "Upstox",
    }
}

/// Keeps the chosen instruments in the store's `instrument_master`, in one transaction.
fn store(url: &str, broker: &str, rules: &SelectionRules, m: &Master, sel: &Selection) -> Result<u64> {
    let rows: Vec<MasterRow> = sel
        .chosen
        .iter()
        .map(|&i| {
            let ins = &m.instruments[i];
            MasterRow {
                exchange: ins.exchange.as_str().to_string(),
                symbol: ins.tradingsymbol.clone(),
                token: i64::try_from(ins.broker_token).unwrap_or(i64::MAX),
                segment: ins.segment.as_str(),
                name: ins.name.clone(),
                tick_paise: ins.tick_size.0,
                lot: i64::try_from(ins.lot_size).unwrap_or(i64::MAX),
                expiry: ins.expiry.map(|e| e.to_string()),
                strike_paise: ins.strike.map(|p| p.0),
                option_type: ins.option_type.map(|t| if t == instruments::OptionType::Call { "CE" } else { "PE" }),
            }
        })
        .collect();
    let exchanges: Vec<&str> = rules.exchanges.iter().map(|e| e.as_str()).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    runtime
        .block_on(async {
            let store = Store::connect_lazy(url, Arc::new(Names::default()), StoreOptions::default())?;
            store.import_master(broker, &exchanges, &rows, Timestamp::now().0).await
        })
        .with_context(|| format!("storing the instruments in {}", dalal_config::load::redact_url(url)))
}

fn rules(args: &ImportArgs) -> Result<SelectionRules> {
    let mut exchanges = Vec::new();
    for e in &args.exchange {
        let e = e.trim().to_ascii_uppercase();
        let Some(x) = Exchange::parse(&e) else {
            let known: Vec<&str> = Exchange::ALL.iter().map(|x| x.as_str()).collect();
            bail!("--exchange {e:?}: Dalal trades {} (currency and commodities have no segment)", known.join(", "));
        };
        if !exchanges.contains(&x) {
            exchanges.push(x);
        }
    }
    let underlyings: BTreeSet<String> =
        args.underlying.iter().map(|u| u.trim().to_ascii_uppercase()).filter(|u| !u.is_empty()).collect();
    Ok(SelectionRules {
        exchanges,
        underlyings: (!underlyings.is_empty()).then_some(underlyings),
        max_equity: (!args.all).then_some(args.max_equity),
        max_derivatives: (!args.all).then_some(args.max_derivatives),
    })
}

/// The config text: one `[[instruments]]` entry per chosen instrument, in priority order,
/// each under a comment naming its contract.
fn render(m: &Master, sel: &Selection, broker: &str, file: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {} instruments from the {broker} instrument master {}, by `dalal instruments import`.",
        sel.chosen.len(),
        comment(&file.display().to_string())
    );
    let _ = writeln!(out, "# Tick and lot sizes are the master's; ref_price is its last price on the tick grid.");
    for &i in &sel.chosen {
        out.push('\n');
        entry(&mut out, &m.instruments[i], broker);
    }
    out
}

fn entry(out: &mut String, ins: &BrokerInstrument, broker: &str) {
    let mut about = format!("{} {}", ins.exchange, comment(&ins.name));
    if let Some(e) = ins.expiry {
        let _ = write!(about, " {e}");
    }
    if let (Some(k), Some(t)) = (ins.strike, ins.option_type) {
        let _ = write!(about, " {k} {}", if t == instruments::OptionType::Call { "CE" } else { "PE" });
    } else if ins.segment == Segment::Futures {
        about.push_str(" FUT");
    }
    let _ = writeln!(out, "# {}", about.trim_end());
    let _ = writeln!(out, "[[instruments]]");
    let _ = writeln!(out, "symbol = {}", toml::Value::String(ins.tradingsymbol.clone()));
    let _ = writeln!(out, "segment = \"{}\"", ins.segment.as_str());
    let _ = writeln!(out, "tick_size = {}", ins.tick_size);
    let _ = writeln!(out, "lot_size = {}", ins.lot_size);
    match ins.last_price {
        Some(p) => {
            let _ = writeln!(out, "ref_price = {}", on_grid(p, ins.tick_size));
        }
        None => {
            // The config needs a reference; without one the only honest band is none.
            let _ = writeln!(out, "ref_price = {} # no last price in the master: one tick, and no band", ins.tick_size);
            let _ = writeln!(out, "band_pct = 0.0");
        }
    }
    let _ = writeln!(out, "tokens = {{ {broker} = {} }}", ins.broker_token);
    if let Some(key) = &ins.broker_key {
        let _ = writeln!(out, "keys = {{ {broker} = {} }}", toml::Value::String(key.clone()));
    }
}

/// The nearest price on the tick grid, at least one tick.
fn on_grid(p: Price, tick: Price) -> Price {
    let t = tick.0.max(1);
    Price((p.0.saturating_add(t / 2) / t * t).max(t))
}

/// Text safe inside a TOML comment.
fn comment(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", Path::new(&tmp).display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Counts by exchange and segment, then the reasons.
fn report(m: &Master, sel: &Selection) -> String {
    #[derive(Default)]
    struct Row {
        parsed: usize,
        selected: usize,
        dropped: usize,
    }
    let mut rows: BTreeMap<(Exchange, &str), Row> = BTreeMap::new();
    let key = |i: usize| (m.instruments[i].exchange, m.instruments[i].segment.as_str());
    for ins in &m.instruments {
        rows.entry((ins.exchange, ins.segment.as_str())).or_default().parsed += 1;
    }
    for &i in &sel.chosen {
        rows.entry(key(i)).or_default().selected += 1;
    }
    let mut dropped: BTreeMap<Dropped, usize> = BTreeMap::new();
    for &(i, why) in &sel.dropped {
        rows.entry(key(i)).or_default().dropped += 1;
        *dropped.entry(why).or_insert(0) += 1;
    }
    let out_of_scope: usize = m.out_of_scope.values().sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rows: {}; instruments: {}; out of scope: {out_of_scope}; refused: {}",
        m.rows,
        m.instruments.len(),
        m.bad.len()
    );
    let _ = writeln!(out, "{:<8} {:<8} {:>9} {:>9} {:>9}", "exchange", "segment", "parsed", "selected", "skipped");
    for ((ex, seg), r) in &rows {
        let _ = writeln!(out, "{:<8} {:<8} {:>9} {:>9} {:>9}", ex.as_str(), seg, r.parsed, r.selected, r.dropped);
    }
    for (why, n) in &dropped {
        let _ = writeln!(out, "skipped {}: {n}", why.as_str());
    }
    for (why, n) in &m.out_of_scope {
        let _ = writeln!(out, "out of scope, {why}: {n}");
    }
    for (why, n) in m.bad_counts() {
        let _ = writeln!(out, "refused {}: {n}", why.as_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_prices_land_on_the_grid() {
        assert_eq!(on_grid(Price(140_233), Price(10)), Price(140_230));
        assert_eq!(on_grid(Price(140_235), Price(10)), Price(140_240));
        assert_eq!(on_grid(Price(2), Price(5)), Price(5));
    }
}
