//! The whole lab through `cargo bench`: `cargo bench -p dalal-benches --bench lab [-- --quick]
//! [--out DIR] [--rates 100000,1000000]`, the same as `dalal bench`.

use dalal_benches::lab::DEFAULT_RATES;
use dalal_core::engine::placement::WaitKind;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The wire-to-wire row runs this executable again as its feed and exchange processes.
    if let Some(code) = dalal_benches::wire::dispatch_role(&args) {
        std::process::exit(code);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let out = value("--out").unwrap_or_else(|| "target/bench".into());
    let rates = match value("--rates") {
        None => DEFAULT_RATES.to_vec(),
        Some(list) => match list.split(',').map(|r| r.trim().parse::<u64>()).collect::<Result<Vec<_>, _>>() {
            Ok(rates) if !rates.is_empty() && !rates.contains(&0) => rates,
            _ => {
                eprintln!("--rates {list:?}: expected ticks per second above zero, e.g. 100000,1000000");
                std::process::exit(2);
            }
        },
    };
    let report = dalal_benches::lab::run(quick, WaitKind::BusySpin, &rates);
    let m = &report.machine;
    println!("{} on {} ({} cores), {}", m.profile, m.cpu, m.cores, m.pinning);
    print!("{}", dalal_benches::lab::table(&report));
    match dalal_benches::lab::write(std::path::Path::new(&out), &report) {
        Ok(()) => println!("wrote {out}/bench.json and {out}/latency.svg"),
        Err(e) => eprintln!("cannot write {out}: {e}"),
    }
}
