//! The wire-to-wire roles as a standalone executable, so tests can spawn real feed and
//! exchange processes (`dalal-wire wire-feed ...`, `dalal-wire wire-exchange ...`).

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match dalal_benches::wire::dispatch_role(&args) {
        Some(code) => std::process::exit(code),
        None => {
            eprintln!(
                "usage: dalal-wire {} ARGS | {} ARGS (started by the wire-to-wire measurement)",
                dalal_benches::wire::ROLE_FEED,
                dalal_benches::wire::ROLE_EXCHANGE
            );
            std::process::exit(2);
        }
    }
}
