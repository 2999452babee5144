//! Plain-text views of a run, for the terminal.

use std::fmt::Write;

use dalal_core::engine::stats::LiveSnapshot;
use dalal_core::engine::summary::RunSummary;
use dalal_core::metrics::Percentiles;

fn us(ns: u64) -> String {
    if ns < 1000 {
        format!("{ns}ns")
    } else {
        format!("{:.1}µs", ns as f64 / 1000.0)
    }
}

/// `p50/p99/p99.9/max` in microseconds.
pub fn fmt_latency(p: &Percentiles) -> String {
    if p.count == 0 {
        return "n/a".into();
    }
    format!("p50 {} p99 {} p99.9 {} max {} (n={})", us(p.p50_ns), us(p.p99_ns), us(p.p999_ns), us(p.max_ns), p.count)
}

fn reasons<'a>(it: impl Iterator<Item = (&'a str, u64)>) -> String {
    let v: Vec<String> = it.map(|(k, n)| format!("{k}={n}")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(" ")
    }
}

/// One progress block while the engine runs.
pub fn render_progress(elapsed_s: f64, s: &LiveSnapshot, t2o: &Percentiles, accounts: &[String]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "[{elapsed_s:>6.1}s] ticks {} (rejected {}: {}) candles {} signals {} orders {} fills {}",
        s.ticks_in,
        s.ticks_in - s.ticks_accepted,
        reasons(s.ticks_rejected.iter().map(|(r, n)| (r.as_str(), *n))),
        s.candles,
        s.signals,
        s.orders,
        s.fills
    );
    let _ =
        writeln!(o, "          risk rejections: {}", reasons(s.risk_rejected.iter().map(|(r, n)| (r.as_str(), *n))));
    for (i, name) in accounts.iter().enumerate() {
        let r = s.realized.get(i).copied().unwrap_or(0);
        let u = s.unrealized.get(i).copied().unwrap_or(0);
        let _ = writeln!(
            o,
            "          {name:<10} P&L ₹{:>12.2} (realized {:.2}, unrealized {:.2})",
            (r + u) as f64 / 100.0,
            r as f64 / 100.0,
            u as f64 / 100.0
        );
    }
    let _ = writeln!(o, "          tick→order {}", fmt_latency(t2o));
    o
}

/// The end-of-run summary.
pub fn render_summary(s: &RunSummary) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "── summary ─────────────────────────────────────────────");
    let _ = writeln!(
        o,
        "ticks in {}  accepted {}  rejected: {}",
        s.ticks_in,
        s.ticks_accepted,
        reasons(s.ticks_rejected.iter().map(|(k, v)| (*k, *v)))
    );
    let _ = writeln!(o, "candles {}  signals {}  orders {}  fills {}", s.candles, s.signals, s.orders, s.fills);
    let _ = writeln!(o, "risk rejections: {}", reasons(s.risk_rejections.iter().map(|(k, v)| (*k, *v))));
    if s.illegal_transitions > 0 {
        let _ = writeln!(o, "illegal order transitions refused: {}", s.illegal_transitions);
    }
    for a in &s.accounts {
        let _ = writeln!(
            o,
            "{:<10} P&L ₹{:>12.2}  realized {:>12.2}  unrealized {:>12.2}  charges {:>10.2}  net {:>12.2}{}",
            a.name,
            a.total_pnl,
            a.realized_pnl,
            a.unrealized_pnl,
            a.charges.total,
            a.net_pnl,
            if a.kill_switch { "  [KILL SWITCH]" } else { "" }
        );
        for p in &a.positions {
            let _ = writeln!(
                o,
                "    {:<12} net {:>7}  avg {:>10.2}  last {:>10.2}  realized {:>10.2}  unrealized {:>10.2}",
                p.symbol, p.net_qty, p.avg_price, p.last_price, p.realized_pnl, p.unrealized_pnl
            );
        }
    }
    if let Some(l) = &s.latency {
        let _ = writeln!(o, "tick→order  {}", fmt_latency(&l.tick_to_order));
        if l.timer_to_order.count > 0 {
            let _ = writeln!(o, "timer→order {}", fmt_latency(&l.timer_to_order));
        }
        let _ = writeln!(o, "  candle    {}", fmt_latency(&l.candle));
        let _ = writeln!(o, "  strategy  {}", fmt_latency(&l.strategy));
        let _ = writeln!(o, "  risk      {}", fmt_latency(&l.risk));
        let _ = writeln!(o, "  order     {}", fmt_latency(&l.order));
    }
    o
}
