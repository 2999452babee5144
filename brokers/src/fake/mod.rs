//! Fake broker servers for tests (cargo feature `fake`): they speak a broker's real wire
//! format on 127.0.0.1 and keep a small deterministic book that tests script.

pub mod kite;
