//! Which instruments of a master to trade, in the order operators want them when only a
//! few hundred fit: the most liquid first, and a deterministic order for everything else
//! (ties go by tradingsymbol), so the same master always gives the same file.
//!
//! Equity: NIFTY 50 constituents, then the rest, each alphabetically. Derivatives: index
//! futures, then stock futures (NIFTY 50 underlyings first), then options; each nearest
//! expiry first. Options of one expiry go index first, then NIFTY 50 stocks, then other
//! stocks, and within that by the strike's distance from the underlying's last price
//! relative to that price (so NIFTY's and BANKNIFTY's at-the-money strikes come together),
//! or by strike where the master has no price for the underlying.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};

use dalal_core::model::{Price, Segment};

use super::nse::{index_rank, is_nifty_50, INDEX_UNDERLYINGS};
use super::{BrokerInstrument, Exchange, Expiry, Master};

/// What to take from a master.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectionRules {
    /// Exchanges to take instruments from; earlier ones win a tradingsymbol both list.
    pub exchanges: Vec<Exchange>,
    /// Only these underlyings ([`BrokerInstrument::underlying`]): a derivative's `name`, an
    /// equity's symbol (`SBIN-EQ` is `SBIN`'s). `None`: all.
    pub underlyings: Option<BTreeSet<String>>,
    /// At most this many equities (`None`: all).
    pub max_equity: Option<usize>,
    /// At most this many futures and options together (`None`: all).
    pub max_derivatives: Option<usize>,
}

/// Why a well-formed instrument was left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dropped {
    /// Its exchange was not asked for.
    Exchange,
    /// Its underlying was not asked for.
    Underlying,
    /// Beyond `max_equity` or `max_derivatives`.
    Limit,
    /// A tradingsymbol already taken (the same company on two exchanges): symbols must be
    /// unique in a Dalal config.
    DuplicateSymbol,
}

impl Dropped {
    pub const fn as_str(self) -> &'static str {
        match self {
            Dropped::Exchange => "exchange_not_selected",
            Dropped::Underlying => "underlying_not_selected",
            Dropped::Limit => "over_limit",
            Dropped::DuplicateSymbol => "duplicate_symbol",
        }
    }
}

/// Indices into [`Master::instruments`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// In priority order: equities, then derivatives.
    pub chosen: Vec<usize>,
    pub dropped: Vec<(usize, Dropped)>,
}

/// Where a strike stands against its underlying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Moneyness {
    /// Distance from the underlying's price, and that price (paise, both positive).
    Priced { distance: u64, under: u64 },
    /// No price for the underlying: by strike.
    Unpriced { strike: i64 },
}

impl Ord for Moneyness {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            // distance / under, compared without division or floats.
            (Moneyness::Priced { distance: a, under: ua }, Moneyness::Priced { distance: b, under: ub }) => {
                (u128::from(*a) * u128::from(*ub)).cmp(&(u128::from(*b) * u128::from(*ua))).then(ua.cmp(ub))
            }
            (Moneyness::Priced { .. }, Moneyness::Unpriced { .. }) => Ordering::Less,
            (Moneyness::Unpriced { .. }, Moneyness::Priced { .. }) => Ordering::Greater,
            (Moneyness::Unpriced { strike: a }, Moneyness::Unpriced { strike: b }) => a.cmp(b),
        }
    }
}

impl PartialOrd for Moneyness {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A derivative's place in line; compared field by field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct DerivKey<'a> {
    /// 0 index futures, 1 stock futures, 2 options.
    group: u8,
    expiry: Option<Expiry>,
    /// Futures: index rank or NIFTY 50 first; options: index, NIFTY 50, other.
    class: (u8, usize),
    moneyness: Moneyness,
    symbol: &'a str,
    exchange: usize,
    token: u64,
}

/// Picks and orders instruments of `m` by `rules`.
pub fn select(m: &Master, rules: &SelectionRules) -> Selection {
    let mut sel = Selection::default();
    let exchange_rank = |e: Exchange| rules.exchanges.iter().position(|x| *x == e);
    let mut equity = Vec::new();
    let mut derivs = Vec::new();
    for (i, ins) in m.instruments.iter().enumerate() {
        let Some(ex) = exchange_rank(ins.exchange) else {
            sel.dropped.push((i, Dropped::Exchange));
            continue;
        };
        if let Some(u) = &rules.underlyings {
            if !u.contains(ins.underlying()) {
                sel.dropped.push((i, Dropped::Underlying));
                continue;
            }
        }
        if ins.segment == Segment::Equity {
            equity.push((i, ex));
        } else {
            derivs.push((i, ex));
        }
    }
    equity.sort_by(|&(a, ea), &(b, eb)| {
        let (a, b) = (&m.instruments[a], &m.instruments[b]);
        (!is_nifty_50(a.underlying()), &a.tradingsymbol, ea, a.broker_token).cmp(&(
            !is_nifty_50(b.underlying()),
            &b.tradingsymbol,
            eb,
            b.broker_token,
        ))
    });
    let prices = underlying_prices(m);
    let mut keyed: Vec<(DerivKey<'_>, usize)> =
        derivs.iter().map(|&(i, ex)| (deriv_key(&m.instruments[i], ex, &prices), i)).collect();
    keyed.sort_unstable();

    let mut symbols = HashSet::new();
    let mut take = |list: &mut dyn Iterator<Item = usize>, max: Option<usize>, sel: &mut Selection| {
        let mut n = 0;
        for i in list {
            if !symbols.insert(m.instruments[i].tradingsymbol.as_str()) {
                sel.dropped.push((i, Dropped::DuplicateSymbol));
            } else if max.is_some_and(|max| n >= max) {
                sel.dropped.push((i, Dropped::Limit));
            } else {
                sel.chosen.push(i);
                n += 1;
            }
        }
    };
    take(&mut equity.iter().map(|&(i, _)| i), rules.max_equity, &mut sel);
    take(&mut keyed.iter().map(|&(_, i)| i), rules.max_derivatives, &mut sel);
    sel
}

/// Each underlying's price from the master: its index row, else its equity, else its
/// nearest future with a price.
fn underlying_prices(m: &Master) -> HashMap<&str, Price> {
    let mut p: HashMap<&str, Price> = HashMap::new();
    for (u, row) in INDEX_UNDERLYINGS {
        if let Some(&price) = m.index_prices.get(row) {
            p.insert(u, price);
        }
    }
    let mut equities: Vec<&BrokerInstrument> = m.instruments.iter().filter(|i| i.segment == Segment::Equity).collect();
    equities.sort_by_key(|i| i.exchange);
    for e in equities {
        if let Some(lp) = e.last_price {
            p.entry(e.underlying()).or_insert(lp);
        }
    }
    let mut futures: Vec<&BrokerInstrument> = m.instruments.iter().filter(|i| i.segment == Segment::Futures).collect();
    futures.sort_by(|a, b| (a.expiry, &a.tradingsymbol).cmp(&(b.expiry, &b.tradingsymbol)));
    for f in futures {
        if let Some(lp) = f.last_price {
            p.entry(f.name.as_str()).or_insert(lp);
        }
    }
    p
}

fn deriv_key<'a>(ins: &'a BrokerInstrument, exchange: usize, prices: &HashMap<&str, Price>) -> DerivKey<'a> {
    let index = index_rank(&ins.name);
    let nifty = is_nifty_50(&ins.name);
    let unpriced = Moneyness::Unpriced { strike: 0 };
    let (group, class, moneyness) = match (ins.segment, index) {
        (Segment::Futures, Some(rank)) => (0, (0, rank), unpriced),
        (Segment::Futures, None) => (1, (u8::from(!nifty), 0), unpriced),
        _ => {
            let class = if index.is_some() {
                0
            } else if nifty {
                1
            } else {
                2
            };
            let strike = ins.strike.unwrap_or_default().0;
            let moneyness = match prices.get(ins.name.as_str()) {
                Some(u) if u.0 > 0 => Moneyness::Priced { distance: strike.abs_diff(u.0), under: u.0.unsigned_abs() },
                _ => Moneyness::Unpriced { strike },
            };
            (2, (class, 0), moneyness)
        }
    };
    DerivKey {
        group,
        expiry: ins.expiry,
        class,
        moneyness,
        symbol: &ins.tradingsymbol,
        exchange,
        token: ins.broker_token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruments::OptionType;

    fn ins(
        ex: Exchange,
        sym: &str,
        name: &str,
        seg: Segment,
        expiry: Option<(u16, u8, u8)>,
        strike: i64,
    ) -> BrokerInstrument {
        BrokerInstrument {
            broker_token: 1,
            broker_key: None,
            exchange_token: 1,
            exchange: ex,
            tradingsymbol: sym.into(),
            name: name.into(),
            segment: seg,
            tick_size: Price(5),
            lot_size: 1,
            expiry: expiry.map(|(year, month, day)| Expiry { year, month, day }),
            strike: (strike > 0).then_some(Price(strike)),
            option_type: (seg == Segment::Options).then_some(OptionType::Call),
            last_price: None,
        }
    }

    fn rules(max_e: Option<usize>, max_d: Option<usize>) -> SelectionRules {
        SelectionRules {
            exchanges: vec![Exchange::Nse, Exchange::Nfo],
            underlyings: None,
            max_equity: max_e,
            max_derivatives: max_d,
        }
    }

    fn symbols(m: &Master, s: &Selection) -> Vec<String> {
        s.chosen.iter().map(|&i| m.instruments[i].tradingsymbol.clone()).collect()
    }

    #[test]
    fn equity_nifty_50_first_then_alphabetical() {
        let mut m = Master::default();
        for s in ["ZEEL", "AARTIIND", "TCS", "RELIANCE", "ABB"] {
            m.instruments.push(ins(Exchange::Nse, s, s, Segment::Equity, None, 0));
        }
        m.instruments.push(ins(Exchange::Bse, "INFY", "INFY", Segment::Equity, None, 0));
        let s = select(&m, &rules(Some(4), None));
        assert_eq!(symbols(&m, &s), ["RELIANCE", "TCS", "AARTIIND", "ABB"]);
        assert!(s.dropped.contains(&(0, Dropped::Limit)));
        assert!(s.dropped.contains(&(5, Dropped::Exchange)));
    }

    #[test]
    fn derivatives_index_futures_then_stock_futures_then_options() {
        let fut = Segment::Futures;
        let opt = Segment::Options;
        let mut m = Master::default();
        let rows = [
            ("ZEEL26DECFUT", "ZEEL", fut, (2026, 12, 29), 0),
            ("RELIANCE27JANFUT", "RELIANCE", fut, (2027, 1, 27), 0),
            ("RELIANCE26DECFUT", "RELIANCE", fut, (2026, 12, 29), 0),
            ("BANKNIFTY26DECFUT", "BANKNIFTY", fut, (2026, 12, 29), 0),
            ("NIFTY27JANFUT", "NIFTY", fut, (2027, 1, 27), 0),
            ("NIFTY26DECFUT", "NIFTY", fut, (2026, 12, 29), 0),
            ("NIFTY26D0826000CE", "NIFTY", opt, (2026, 12, 8), 2_600_000),
            ("NIFTY26D0826200CE", "NIFTY", opt, (2026, 12, 8), 2_620_000),
            ("NIFTY26D0825900CE", "NIFTY", opt, (2026, 12, 8), 2_590_000),
            ("ZEEL26DEC100CE", "ZEEL", opt, (2026, 12, 29), 10_000),
            ("ZEEL26DEC90CE", "ZEEL", opt, (2026, 12, 29), 9_000),
        ];
        for (s, n, seg, e, k) in rows {
            m.instruments.push(ins(Exchange::Nfo, s, n, seg, Some(e), k));
        }
        m.index_prices.insert("NIFTY 50".into(), Price(2_618_000));
        let s = select(&m, &rules(None, None));
        assert_eq!(
            symbols(&m, &s),
            [
                "NIFTY26DECFUT",
                "BANKNIFTY26DECFUT",
                "NIFTY27JANFUT",
                "RELIANCE26DECFUT",
                "ZEEL26DECFUT",
                "RELIANCE27JANFUT",
                "NIFTY26D0826200CE",
                "NIFTY26D0826000CE",
                "NIFTY26D0825900CE",
                "ZEEL26DEC90CE",
                "ZEEL26DEC100CE",
            ]
        );
        let s = select(&m, &rules(None, Some(2)));
        assert_eq!(symbols(&m, &s), ["NIFTY26DECFUT", "BANKNIFTY26DECFUT"]);
        assert_eq!(s.dropped.iter().filter(|d| d.1 == Dropped::Limit).count(), 9);
    }

    #[test]
    fn underlyings_filter_and_duplicates() {
        let mut m = Master::default();
        m.instruments.push(ins(Exchange::Nse, "RELIANCE", "RELIANCE INDUSTRIES", Segment::Equity, None, 0));
        m.instruments.push(ins(Exchange::Bse, "RELIANCE", "RELIANCE INDUSTRIES", Segment::Equity, None, 0));
        m.instruments.push(ins(Exchange::Nse, "TCS", "TCS", Segment::Equity, None, 0));
        m.instruments.push(ins(
            Exchange::Nfo,
            "RELIANCE26DECFUT",
            "RELIANCE",
            Segment::Futures,
            Some((2026, 12, 29)),
            0,
        ));
        let mut r = rules(None, None);
        r.exchanges = vec![Exchange::Bse, Exchange::Nse, Exchange::Nfo];
        r.underlyings = Some(["RELIANCE".to_string()].into());
        let s = select(&m, &r);
        assert_eq!(s.chosen, [1, 3], "BSE was asked first, so its RELIANCE wins");
        assert!(s.dropped.contains(&(0, Dropped::DuplicateSymbol)));
        assert!(s.dropped.contains(&(2, Dropped::Underlying)));
    }

    #[test]
    fn series_suffixed_equities_rank_as_their_company() {
        let mut m = Master::default();
        for s in ["AARTIIND-EQ", "SBIN-EQ", "ZEEL-BE", "BAJAJ-AUTO"] {
            m.instruments.push(ins(Exchange::Nse, s, s, Segment::Equity, None, 0));
        }
        let s = select(&m, &rules(None, None));
        assert_eq!(symbols(&m, &s), ["BAJAJ-AUTO", "SBIN-EQ", "AARTIIND-EQ", "ZEEL-BE"]);
        let mut r = rules(None, None);
        r.underlyings = Some(["SBIN".to_string(), "ZEEL".to_string()].into());
        assert_eq!(select(&m, &r).chosen, [1, 2]);
    }

    #[test]
    fn relative_moneyness_interleaves_underlyings() {
        let a = Moneyness::Priced { distance: 10_000, under: 2_600_000 };
        let b = Moneyness::Priced { distance: 100, under: 10_000 };
        assert!(a < b, "₹100 off NIFTY is nearer than ₹1 off a ₹100 stock");
        assert!(b < Moneyness::Unpriced { strike: 1 });
    }
}
