//! Dalal edges: everything that turns outside data into engine events. Feeds resolve
//! symbols and parse untrusted text here, so the core only ever sees dense ids and exact
//! integer prices, and a bad line is counted at the edge instead of reaching the hot path.

pub mod binary_ticks;
pub mod csv_ticks;
pub mod feed;
pub mod replay;
pub mod rng;
pub mod symbols;
pub mod synthetic;
pub mod tick_files;
pub mod wire;

pub use binary_ticks::{
    convert_bin_to_csv, convert_csv_to_bin, write_ticks_bin, write_ticks_bin_to, BinError, BinLoadStats, BinTickFile,
    BinTickStream, BinTicks, ConvertError, ConvertStats, FileSymbol, RawRecord,
};
pub use csv_ticks::{
    load_ticks, open_ticks, parse_ticks, write_ticks, write_ticks_csv, CsvTickStream, FeedError, LineReject,
    LoadedTicks, RejectCounts,
};
pub use replay::{ReplayClock, ReplaySpeed, SpeedError};
pub use rng::{SplitMix64, Xoshiro256};
pub use symbols::{SymbolError, SymbolTable};
pub use synthetic::{generate_session, Pacer, SyntheticConfig, SyntheticError, SyntheticFeed, SyntheticInstrument};
pub use tick_files::{detect_format, file_symbols, load_any, TickFileError, TickFileFormat};
