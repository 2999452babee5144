//! `report.html`: one self-contained page (no script, nothing fetched: a content security
//! policy of `default-src 'none'`) with the equity curve against the benchmark, the drawdown
//! ("underwater") chart, a monthly returns heat map, the round trips on a price chart, the
//! rolling Sharpe ratio, the metrics table and the weekly evaluation. The charts are SVG drawn
//! by `plotters`, inline in the page; `charts/NAME.svg` and `charts/NAME.png` are copies.
//!
//! Every figure is computed by `dalal_analytics` from the same daily returns as metrics.json:
//! the drawdown is `returns::drawdown_series`, the months `returns::aggregate` by calendar
//! month, the rolling Sharpe `returns::rolling_sharpe` over [`ROLLING_WINDOW`] days.

mod charts;
mod png;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use dalal_analytics::weekly::Week;
use dalal_analytics::{returns, Metrics};
use dalal_core::model::Date;

pub use charts::Mark;

/// Days in the rolling Sharpe ratio's window: a trading month.
pub const ROLLING_WINDOW: usize = 21;

/// Round trips of one instrument on its price.
pub struct TradeChart {
    pub symbol: String,
    /// (x, rupees), x in days since `origin_day`'s IST midnight.
    pub prices: Vec<(f64, f64)>,
    pub marks: Vec<Mark>,
    /// Round trips of the instrument in all (`marks` may show an even sample of them).
    pub total: usize,
    /// Days since 1970-01-01 of x = 0.
    pub origin_day: i64,
}

/// What one report shows.
pub struct Report<'a> {
    pub title: String,
    /// One line under the title: what was measured, over what.
    pub subtitle: String,
    /// The curve's days, and its equity at each close (rupees).
    pub dates: &'a [Date],
    pub equity: &'a [f64],
    /// The benchmark's name and value at each close, scaled to start where the equity starts.
    pub benchmark: Option<(String, Vec<f64>)>,
    /// Daily returns, aligned with the last `returns.len()` dates.
    pub returns: &'a [f64],
    pub risk_free: f64,
    pub metrics: &'a Metrics,
    pub weeks: Option<&'a [Week]>,
    pub trades: Option<TradeChart>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A metrics.json value for the table: percentages, rupees or plain numbers; `—` when
/// undefined.
fn shown(key: &str, v: &serde_json::Value) -> String {
    const PERCENT: &[&str] = &[
        "total_return",
        "cagr",
        "annual_volatility",
        "max_drawdown",
        "value_at_risk",
        "alpha",
        "benchmark_return",
        "excess_return",
        "win_rate",
        "exposure",
        "risk_free",
    ];
    const RUPEES: &[&str] = &["average_win", "average_loss", "expectancy", "charges", "start_equity"];
    match v.as_f64() {
        None => "—".to_string(),
        Some(x) if PERCENT.contains(&key) => format!("{:.2}%", x * 100.0),
        Some(x) if RUPEES.contains(&key) => format!("₹{x:.2}"),
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) => format!("{x:.4}"),
    }
}

fn metrics_table(m: &Metrics) -> String {
    let mut s = String::from("<table class=\"metrics\">\n");
    if let Ok(serde_json::Value::Object(o)) = serde_json::to_value(m) {
        for (k, v) in &o {
            let _ = writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&shown(k, v)));
        }
    }
    s.push_str("</table>\n");
    s
}

fn weekly_table(weeks: &[Week]) -> String {
    let pct = |x: f64| if x.is_finite() { format!("{:.2}%", x * 100.0) } else { "—".into() };
    let num = |x: f64| if x.is_finite() { format!("{x:.2}") } else { "—".into() };
    let mut s = String::from(
        "<table class=\"weeks\">\n<tr><th>week</th><th>days</th><th>return</th><th>Sharpe</th><th>max drawdown</th>\
         <th>trades</th><th>win rate</th><th>charges</th><th>gross P&amp;L</th><th>verdict</th><th>reasons</th></tr>\n",
    );
    for w in weeks {
        let start = Date::from_days(w.start_day).map(|d| d.to_string()).unwrap_or_default();
        let verdict = if w.passed() { "pass" } else { "fail" };
        let _ = writeln!(
            s,
            "<tr class=\"{verdict}\"><td>{start}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>₹{:.2}</td><td>₹{:.2}</td><td>{verdict}</td><td>{}</td></tr>",
            w.days,
            pct(w.ret),
            num(w.sharpe),
            pct(w.max_drawdown),
            w.trades,
            pct(w.win_rate),
            w.charges,
            w.gross_pnl,
            esc(&w.failures.join("; "))
        );
    }
    s.push_str("</table>\n");
    s
}

const STYLE: &str = "body{font-family:sans-serif;margin:24px auto;max-width:1000px;color:#222}\
h1{font-size:22px;margin-bottom:4px}p.sub{color:#666;margin-top:0}h2{font-size:17px;margin-top:28px}\
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}\
th{background:#f4f4f4}table.metrics th{text-align:left}table.metrics{columns:2}\
tr.fail td{background:#fdecea}tr.pass td{background:#eefaf1}td:last-child{text-align:left}\
figure{margin:12px 0}figure svg{max-width:100%;height:auto}";

/// Writes `dir/report.html` and the charts' copies under `dir/charts/`; returns the page's path
/// and the page.
pub fn write(dir: &Path, r: &Report<'_>) -> Result<(PathBuf, String)> {
    let labels: Vec<String> = r.dates.iter().map(Date::to_string).collect();
    let skip = r.dates.len().saturating_sub(r.returns.len());
    let return_labels = &labels[skip..];
    let mut figures: Vec<(&str, String)> = Vec::new();
    let bench = r.benchmark.as_ref().map(|(n, v)| (n.as_str(), v.as_slice()));
    figures.push(("equity", charts::equity(&labels, r.equity, bench)?));
    figures.push(("drawdown", charts::drawdown(return_labels, &returns::drawdown_series(r.returns))?));
    let months: Vec<(u16, u8)> = r.dates[skip..].iter().map(|d| (d.year(), d.month())).collect();
    figures.push(("monthly", charts::monthly(&returns::aggregate(&months, r.returns))?));
    if let Some(t) = &r.trades {
        let origin = t.origin_day;
        let label = move |x: f64| Date::from_days(origin + x.floor() as i64).map(|d| d.to_string()).unwrap_or_default();
        figures.push(("trades", charts::trades(&t.symbol, &t.prices, &t.marks, t.total, &label)?));
    }
    if r.returns.len() >= ROLLING_WINDOW {
        let rolling = returns::rolling_sharpe(r.returns, ROLLING_WINDOW, returns::daily_risk_free(r.risk_free));
        figures.push(("rolling_sharpe", charts::rolling_sharpe(return_labels, &rolling, ROLLING_WINDOW)?));
    }

    let charts_dir = dir.join("charts");
    std::fs::create_dir_all(&charts_dir).with_context(|| format!("cannot create {}", charts_dir.display()))?;
    for (name, svg) in &figures {
        let path = charts_dir.join(format!("{name}.svg"));
        std::fs::write(&path, svg).with_context(|| format!("cannot write {}", path.display()))?;
        png::write_png(svg, &charts_dir.join(format!("{name}.png")))?;
    }

    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>{title}</title><style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n<p class=\"sub\">{sub}</p>\n",
        title = esc(&r.title),
        sub = esc(&r.subtitle)
    );
    for (name, svg) in &figures {
        // The XML declaration belongs to the files, not inside HTML.
        let inline =
            svg.trim_start().strip_prefix("<?xml").and_then(|s| s.split_once("?>")).map_or(svg.as_str(), |x| x.1);
        let _ = writeln!(page, "<figure id=\"{name}\">{}</figure>", inline.trim());
    }
    if r.returns.len() < ROLLING_WINDOW {
        let _ = writeln!(
            page,
            "<p class=\"sub\">No rolling Sharpe ratio: it needs {ROLLING_WINDOW} trading days; this curve has {}.</p>",
            r.returns.len()
        );
    }
    page.push_str("<h2>Metrics</h2>\n");
    page.push_str(&metrics_table(r.metrics));
    if let Some(weeks) = r.weeks {
        let passed = weeks.iter().filter(|w| w.passed()).count();
        let _ = writeln!(page, "<h2>Weekly evaluation: {passed} of {} weeks passed</h2>", weeks.len());
        page.push_str(&weekly_table(weeks));
    }
    page.push_str("</body></html>\n");
    let path = dir.join("report.html");
    std::fs::write(&path, &page).with_context(|| format!("cannot write {}", path.display()))?;
    Ok((path, page))
}
