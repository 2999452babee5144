//! The lab's three rows that make the tick-to-order ratio, and only those, several rounds in a
//! row: `hop/disruptor`, `hop/ingress` and `tick_to_order/fused` (200,000 paced samples each,
//! 10 µs apart, busy-spin), each round printing the three p50s and fused ÷ hop. A quicker look
//! than the whole lab when a change to the hot path is being weighed:
//!
//!     cargo run --release -p dalal-benches --example hop_ratio [ROUNDS]

use std::time::Duration;

use dalal_benches::lab::{hop_disruptor, hop_ingress, tick_to_order};
use dalal_config::{PlacementKind, WaitKind};

fn main() {
    let rounds = std::env::args().nth(1).and_then(|a| a.parse::<usize>().ok()).unwrap_or(3);
    let (n, gap, wait) = (200_000, Duration::from_micros(10), WaitKind::BusySpin);
    println!("round  hop/disruptor  hop/ingress  tick_to_order/fused  fused/hop  fused-ingress");
    for r in 1..=rounds {
        let hop = hop_disruptor(n, gap, wait).percentiles().p50_ns;
        let ingress = hop_ingress(n, gap, wait).percentiles().p50_ns;
        let fused = tick_to_order(n, gap, PlacementKind::Fused, wait, 0).percentiles().p50_ns;
        println!(
            "{r:>5}  {hop:>10} ns  {ingress:>8} ns  {fused:>16} ns  {:>8.2}x  {:>10} ns",
            fused as f64 / hop.max(1) as f64,
            fused as i64 - ingress as i64
        );
    }
}
