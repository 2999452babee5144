//! Dalal persistence, off the hot path. This crate writes what a run leaves behind: the order
//! and fill blotters and the summary, in formats that diff cleanly so two runs can be compared
//! byte for byte.

pub mod candle_cache;
pub mod fanout;
pub mod journal;
pub mod redis_pub;
pub mod refeed;
pub mod reports;
pub mod store;

pub use fanout::{Fanout, StoreMapper};
pub use redis_pub::{PnlSnapshot, RedisEvent, RedisOptions, RedisPublisher, RedisPublisherHandle, RedisStats};
pub use refeed::{refeed_store, RefeedError, RefeedStats};
pub use reports::{write_fills_csv, write_orders_csv, write_run_files, write_summary_json, ReportError};
pub use store::{
    PositionSnapshot, Store, StoreError, StoreEvent, StoreOptions, StoreStats, StoreWriter, StoreWriterHandle,
};
