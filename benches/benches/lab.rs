//! The whole lab through `cargo bench`: `cargo bench -p dalal-benches --bench lab [-- --quick]
//! [--out DIR]`, the same as `dalal bench`.

use dalal_core::config::WaitKind;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The wire-to-wire row runs this executable again as its feed and exchange processes.
    if let Some(code) = dalal_benches::wire::dispatch_role(&args) {
        std::process::exit(code);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "target/bench".into());
    let (machine, rows) = dalal_benches::lab::run(quick, WaitKind::BusySpin);
    println!("{} on {} ({} cores), {}", machine.profile, machine.cpu, machine.cores, machine.pinning);
    print!("{}", dalal_benches::lab::table(&rows));
    match dalal_benches::lab::write(std::path::Path::new(&out), &machine, &rows) {
        Ok(()) => println!("wrote {out}/bench.json and {out}/latency.svg"),
        Err(e) => eprintln!("cannot write {out}: {e}"),
    }
}
