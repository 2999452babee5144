//! Zerodha Kite Connect v3: the REST client ([`rest::KiteClient`]) with its request
//! parameters, response models and errors, and the KiteTicker binary decoder.

mod de;
pub mod error;
pub mod model;
pub mod params;
pub mod rest;
pub mod ticker;

pub use error::{KiteError, RequestKind};
pub use rest::KiteClient;
