//! The whole lab through `cargo bench`: `cargo bench -p dalal-benches --bench lab [-- --quick]
//! [--out DIR] [--rates 100000,1000000]`, the same as the `dalal-lab` binary.

/// Counts allocations, for the lab's `alloc/steady_state` row.
#[global_allocator]
static ALLOC: dalal_benches::alloc::Counting = dalal_benches::alloc::Counting;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(dalal_benches::lab::main_with(&args));
}
