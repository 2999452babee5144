//! Symbol ↔ instrument-id resolution for the edges. The hot path only ever sees dense
//! `InstrumentId`s; feeds and writers translate here. Lookups take raw bytes so a feed can
//! resolve a field straight out of its read buffer, and the table is a small open-addressing
//! map with a cheap hash because a general-purpose SipHash map would dominate CSV parse time.

use dalal_core::types::{InstrumentId, InstrumentSpec};

/// Why an instrument list cannot become a symbol table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    #[error("instrument {id} has an empty symbol")]
    EmptySymbol { id: InstrumentId },
    #[error("symbol {symbol:?} is listed twice (instruments {first} and {second})")]
    DuplicateSymbol { symbol: String, first: InstrumentId, second: InstrumentId },
    #[error("instrument id {id} is used by both {first:?} and {second:?}")]
    DuplicateId { id: InstrumentId, first: String, second: String },
}

/// Slot marker for an empty open-addressing slot.
const EMPTY: u32 = u32::MAX;

/// Bidirectional symbol map for one instrument universe.
#[derive(Clone, Debug)]
pub struct SymbolTable {
    /// Symbols in insertion order, with their ids.
    entries: Vec<(Box<str>, InstrumentId)>,
    /// Entry index by instrument id (ids are dense engine indices).
    by_id: Vec<u32>,
    /// Open-addressing slots: (hash, entry index), `EMPTY` index when free.
    slots: Vec<(u32, u32)>,
    mask: usize,
}

impl SymbolTable {
    /// Builds the table, refusing empty symbols and duplicate symbols or ids: either would
    /// silently route one instrument's prints to another.
    pub fn new(specs: &[InstrumentSpec]) -> Result<Self, SymbolError> {
        Self::from_pairs(specs.iter().map(|s| (s.symbol.as_str(), s.id)))
    }

    /// Same as [`SymbolTable::new`] for callers that have no full specs (tests, tools).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, InstrumentId)>) -> Result<Self, SymbolError> {
        let pairs: Vec<(&str, InstrumentId)> = pairs.into_iter().collect();
        let cap = (pairs.len() * 2).next_power_of_two().max(16);
        let mut table = SymbolTable {
            entries: Vec::with_capacity(pairs.len()),
            by_id: Vec::new(),
            slots: vec![(0, EMPTY); cap],
            mask: cap - 1,
        };
        for (symbol, id) in pairs {
            if symbol.is_empty() {
                return Err(SymbolError::EmptySymbol { id });
            }
            if let Some(first) = table.resolve(symbol) {
                return Err(SymbolError::DuplicateSymbol { symbol: symbol.to_string(), first, second: id });
            }
            if let Some(first) = table.get(id) {
                return Err(SymbolError::DuplicateId { id, first: first.to_string(), second: symbol.to_string() });
            }
            let entry = table.entries.len() as u32;
            table.entries.push((symbol.into(), id));
            if table.by_id.len() <= id.index() {
                table.by_id.resize(id.index() + 1, EMPTY);
            }
            table.by_id[id.index()] = entry;
            let h = hash(symbol.as_bytes());
            let mut i = h as usize & table.mask;
            while table.slots[i].1 != EMPTY {
                i = (i + 1) & table.mask;
            }
            table.slots[i] = (h as u32, entry);
        }
        Ok(table)
    }

    /// The id for a symbol, exact and case-sensitive, as bytes or text.
    #[inline]
    pub fn resolve(&self, symbol: impl AsRef<[u8]>) -> Option<InstrumentId> {
        let symbol = symbol.as_ref();
        let h = hash(symbol);
        let mut i = h as usize & self.mask;
        loop {
            let (sh, entry) = self.slots[i];
            if entry == EMPTY {
                return None;
            }
            if sh == h as u32 {
                let (s, id) = &self.entries[entry as usize];
                if s.as_bytes() == symbol {
                    return Some(*id);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The symbol of `id`, or `None` if the id is not in this universe.
    #[inline]
    pub fn get(&self, id: InstrumentId) -> Option<&str> {
        let entry = *self.by_id.get(id.index())?;
        self.entries.get(entry as usize).map(|(s, _)| &**s)
    }

    /// The symbol of `id`, or `""` for an id outside this universe (for logs and reports,
    /// where a missing name must not abort anything).
    #[inline]
    pub fn symbol(&self, id: InstrumentId) -> &str {
        self.get(id).unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(symbol, id)` in the order the instruments were given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, InstrumentId)> + '_ {
        self.entries.iter().map(|(s, id)| (&**s, *id))
    }
}

/// Multiply-rotate hash over 8-byte words: a handful of cycles for an NSE symbol. Not
/// DoS-resistant, which is fine: keys come from config, and lookups of hostile input stop at
/// the first empty slot of a table that is at most half full.
#[inline]
fn hash(b: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (b.len() as u64).wrapping_mul(K);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    h ^ (h >> 29)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dalal_core::types::{Price, PriceBand, Qty, Segment};

    fn spec(id: u32, symbol: &str) -> InstrumentSpec {
        InstrumentSpec {
            id: InstrumentId(id),
            symbol: symbol.to_string(),
            segment: Segment::Equity,
            tick_size: Price(5),
            lot_size: Qty(1),
            band: PriceBand::OPEN,
        }
    }

    #[test]
    fn resolves_both_ways() {
        let t = SymbolTable::new(&[spec(0, "RELIANCE"), spec(1, "TCS"), spec(2, "NIFTY24NOV24000CE")]).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.resolve("TCS"), Some(InstrumentId(1)));
        assert_eq!(t.resolve(b"RELIANCE"), Some(InstrumentId(0)));
        assert_eq!(t.resolve(b"NIFTY24NOV24000CE".as_slice()), Some(InstrumentId(2)));
        assert_eq!(t.resolve("tcs"), None);
        assert_eq!(t.resolve(""), None);
        assert_eq!(t.resolve([0xff, 0xfe]), None);
        assert_eq!(t.symbol(InstrumentId(2)), "NIFTY24NOV24000CE");
        assert_eq!(t.symbol(InstrumentId(9)), "");
        assert_eq!(t.get(InstrumentId(9)), None);
    }

    #[test]
    fn many_symbols_all_resolve() {
        let names: Vec<String> = (0..5000).map(|i| format!("SYM{i}")).collect();
        let t = SymbolTable::from_pairs(names.iter().enumerate().map(|(i, s)| (s.as_str(), InstrumentId(i as u32))))
            .unwrap();
        for (i, s) in names.iter().enumerate() {
            assert_eq!(t.resolve(s), Some(InstrumentId(i as u32)));
            assert_eq!(t.symbol(InstrumentId(i as u32)), s);
        }
        assert_eq!(t.resolve("SYM5000"), None);
    }

    #[test]
    fn refuses_ambiguity() {
        assert!(matches!(
            SymbolTable::new(&[spec(0, "A"), spec(1, "A")]),
            Err(SymbolError::DuplicateSymbol { .. })
        ));
        assert!(matches!(SymbolTable::new(&[spec(0, "A"), spec(0, "B")]), Err(SymbolError::DuplicateId { .. })));
        assert!(matches!(SymbolTable::new(&[spec(0, "")]), Err(SymbolError::EmptySymbol { .. })));
        assert!(SymbolTable::new(&[]).unwrap().is_empty());
    }
}
