//! The OpenAPI document, hand-written (`openapi.json` beside this file). A test checks that
//! every route the router serves is in it.

pub const DOCUMENT: &str = include_str!("openapi.json");
