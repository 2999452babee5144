//! The whole lab through `cargo bench`: `cargo bench -p dalal-benches --bench lab [-- --quick]
//! [--out DIR] [--rates 100000,1000000]`, the same as the `dalal-lab` binary.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(dalal_benches::lab::main_with(&args));
}
