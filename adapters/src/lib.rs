//! Dalal edges: everything that turns outside data into engine events. Feeds resolve
//! symbols and parse untrusted text here, so the core only ever sees dense ids and exact
//! integer prices, and a bad line is counted at the edge instead of reaching the hot path.

pub mod csv_ticks;
pub mod rng;
pub mod symbols;
pub mod synthetic;

pub use csv_ticks::{
    load_ticks, open_ticks, parse_ticks, write_ticks, write_ticks_csv, CsvTickStream, FeedError, LineReject,
    LoadedTicks, RejectCounts,
};
pub use rng::{SplitMix64, Xoshiro256};
pub use symbols::{SymbolError, SymbolTable};
pub use synthetic::{generate_session, Pacer, SyntheticConfig, SyntheticError, SyntheticFeed, SyntheticInstrument};
