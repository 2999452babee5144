//! The latency lab: `cargo run --release -p dalal-benches --bin dalal-lab -- [--quick] [--out DIR]
//! [--rates 100000,1000000] [--wait busy-spin|yield] [--only scale]`. Hops, tick-to-order,
//! throughput, wire to wire, cost per tick as accounts grow; writes DIR/bench.json and
//! DIR/latency.svg.

/// Counts allocations, for the lab's `alloc/steady_state` row.
#[global_allocator]
static ALLOC: dalal_benches::alloc::Counting = dalal_benches::alloc::Counting;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(dalal_benches::lab::main_with(&args));
}
