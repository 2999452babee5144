//! Compiles `proto/MarketDataFeedV3.proto` (Upstox's Market Data Feed v3) into prost types in
//! `OUT_DIR`, which `src/upstox/feed.rs` includes.
//!
//! `protoc` comes from the `protoc-bin-vendored` crate, with the well-known `.proto` files it
//! ships (`google/protobuf/wrappers.proto`): the machines have no system `protoc`, and a fresh
//! clone must build with plain `cargo build`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const PROTO: &str = "proto/MarketDataFeedV3.proto";
    println!("cargo:rerun-if-changed={PROTO}");
    println!("cargo:rerun-if-changed=build.rs");
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;
    prost_build::Config::new()
        .protoc_executable(protoc)
        .compile_protos(&[PROTO], &[PathBuf::from("proto"), well_known])?;
    Ok(())
}
