//! The report's charts, drawn by `plotters` into SVG strings. Text is left as SVG `<text>` in a
//! generic `sans-serif` family: the browser (or, for the PNG copies, resvg with the system's
//! fonts) lays it out.

use anyhow::{anyhow, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Width of every chart, pixels.
pub const WIDTH: u32 = 960;

const STRATEGY: RGBColor = RGBColor(31, 94, 168);
const BENCH: RGBColor = RGBColor(230, 126, 34);
const LOSS: RGBColor = RGBColor(192, 57, 43);
const GAIN: RGBColor = RGBColor(39, 174, 96);
const GRID: RGBColor = RGBColor(225, 225, 225);

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

/// Draws into an SVG string of `WIDTH × height`.
fn svg(height: u32, draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// Bounds of the finite values, padded by 5 % (and widened around a flat line).
fn span(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (-1.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { lo.abs().max(1.0) * 0.05 };
    (lo - pad, hi + pad)
}

type Frame<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A titled chart over `x` × `y` with its grid and axis labels drawn.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
    x_fmt: &dyn Fn(&f64) -> String,
    y_fmt: &dyn Fn(&f64) -> String,
) -> Result<Frame<'a, 'b>> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(84)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(GRID)
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(x_fmt)
        .y_label_formatter(y_fmt)
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// A label for the x position `x` (an index into `labels`); none between two days.
fn at(labels: &[String], x: f64) -> String {
    if (x - x.round()).abs() > 1e-6 || x < 0.0 {
        return String::new();
    }
    labels.get(x.round() as usize).cloned().unwrap_or_default()
}

/// One line per series (name, colour, values by day index) over the days `labels`, y formatted
/// by `fmt`; a dashed-free zero line when `zero`.
fn lines(
    title: &str,
    labels: &[String],
    series: &[(&str, RGBColor, &[f64])],
    fmt: &dyn Fn(&f64) -> String,
    zero: bool,
) -> Result<String> {
    svg(320, |root| {
        let (lo, hi) = span(series.iter().flat_map(|(_, _, v)| v.iter().copied()).chain(zero.then_some(0.0)));
        let n = labels.len().max(2) as f64;
        let mut chart = frame(root, title, (0.0..n - 1.0, lo..hi), &|x| at(labels, *x), fmt)?;
        if zero {
            chart.draw_series(LineSeries::new([(0.0, 0.0), (n - 1.0, 0.0)], BLACK.mix(0.4))).map_err(err)?;
        }
        for (name, colour, values) in series {
            let pts = values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(i, v)| (i as f64, *v));
            let colour = *colour;
            chart
                .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
                .map_err(err)?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK.mix(0.3))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(err)?;
        }
        Ok(())
    })
}

pub fn money(x: &f64) -> String {
    if *x < 0.0 {
        format!("-₹{:.0}", -x)
    } else {
        format!("₹{x:.0}")
    }
}

pub fn percent(x: &f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The equity curve, against the benchmark scaled to the same start when there is one.
pub fn equity(labels: &[String], equity: &[f64], benchmark: Option<(&str, &[f64])>) -> Result<String> {
    let mut series = vec![("strategy", STRATEGY, equity)];
    if let Some((name, b)) = benchmark {
        series.push((name, BENCH, b));
    }
    lines("Equity at each close", labels, &series, &money, false)
}

/// The drawdown from the running peak ("underwater"), as a filled area below zero.
pub fn drawdown(labels: &[String], drawdown: &[f64]) -> Result<String> {
    svg(240, |root| {
        let (lo, _) = span(drawdown.iter().copied().chain([0.0]));
        let n = labels.len().max(2) as f64;
        let ranges = (0.0..n - 1.0, lo.min(-0.001)..0.0);
        let mut chart = frame(root, "Drawdown from the peak", ranges, &|x| at(labels, *x), &percent)?;
        let pts = drawdown.iter().enumerate().map(|(i, d)| (i as f64, if d.is_finite() { *d } else { 0.0 }));
        chart.draw_series(AreaSeries::new(pts, 0.0, LOSS.mix(0.35)).border_style(LOSS)).map_err(err)?;
        Ok(())
    })
}

/// The rolling Sharpe ratio over `window` days, with the zero line.
pub fn rolling_sharpe(labels: &[String], values: &[f64], window: usize) -> Result<String> {
    let title = format!("Rolling Sharpe ratio, {window} trading days");
    lines(&title, labels, &[("Sharpe", STRATEGY, values)], &|x: &f64| format!("{x:.1}"), true)
}

/// A colour for a return: green for gains, red for losses, stronger towards `scale`.
fn shade(r: f64, scale: f64) -> RGBColor {
    let t = if scale > 0.0 { (r.abs() / scale).min(1.0) } else { 0.0 };
    let base = if r >= 0.0 { GAIN } else { LOSS };
    let mix = |c: u8| (255.0 - (255.0 - f64::from(c)) * (0.15 + 0.85 * t)).round() as u8;
    RGBColor(mix(base.0), mix(base.1), mix(base.2))
}

/// Monthly returns as a heat map: a row per year, a column per month, each cell labelled.
pub fn monthly(cells: &[((u16, u8), f64)]) -> Result<String> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let mut years: Vec<u16> = cells.iter().map(|((y, _), _)| *y).collect();
    years.dedup();
    let rows = years.len().max(1);
    let height = 80 + 40 * rows as u32;
    svg(height, |root| {
        let scale = cells.iter().map(|(_, r)| r.abs()).filter(|r| r.is_finite()).fold(0.0, f64::max);
        // No axes: a column of years on the left and a row of months on top, drawn as text.
        let mut chart = ChartBuilder::on(root)
            .caption("Monthly returns", ("sans-serif", 18))
            .margin(12)
            .build_cartesian_2d(-1.0f64..12.0, 0f64..rows as f64 + 0.6)
            .map_err(err)?;
        let label = ("sans-serif", 14).into_font().color(&BLACK);
        chart
            .draw_series(
                MONTHS
                    .iter()
                    .enumerate()
                    .map(|(i, m)| Text::new(m.to_string(), (i as f64 + 0.35, rows as f64 + 0.5), label.clone())),
            )
            .map_err(err)?;
        chart
            .draw_series(
                years
                    .iter()
                    .enumerate()
                    .map(|(row, y)| Text::new(y.to_string(), (-0.9, (rows - 1 - row) as f64 + 0.65), label.clone())),
            )
            .map_err(err)?;
        for ((year, month), r) in cells {
            let row = years.iter().position(|y| y == year).unwrap_or(0);
            let (x, y) = (f64::from(month.saturating_sub(1)), (rows - 1 - row) as f64);
            chart
                .draw_series([Rectangle::new([(x + 0.02, y + 0.04), (x + 0.98, y + 0.96)], shade(*r, scale).filled())])
                .map_err(err)?;
            chart
                .draw_series([Text::new(
                    format!("{:.1}%", r * 100.0),
                    (x + 0.25, y + 0.65),
                    ("sans-serif", 13).into_font().color(&BLACK),
                )])
                .map_err(err)?;
        }
        Ok(())
    })
}

/// A round trip as the price chart marks it.
pub struct Mark {
    /// Days from the first day's midnight (IST), fractional.
    pub entry_x: f64,
    pub entry_price: f64,
    pub exit_x: f64,
    pub exit_price: f64,
    pub long: bool,
}

/// One instrument's price with its round trips: entries as triangles (green long, red
/// short), exits as dots. `prices` are (x, rupees) with x as in [`Mark`]; `day_label` names
/// the day of an x.
pub fn trades(
    symbol: &str,
    prices: &[(f64, f64)],
    marks: &[Mark],
    total: usize,
    day_label: &dyn Fn(f64) -> String,
) -> Result<String> {
    svg(360, |root| {
        let (x0, x1) = span(prices.iter().map(|p| p.0));
        let (y0, y1) = span(prices.iter().map(|p| p.1).chain(marks.iter().flat_map(|m| [m.entry_price, m.exit_price])));
        let title = if marks.len() < total {
            format!("{symbol}: price and round trips ({} of {total}, evenly spread)", marks.len())
        } else {
            format!("{symbol}: price and its {total} round trips")
        };
        let rupees = |y: &f64| format!("₹{y:.2}");
        let mut chart = frame(root, &title, (x0..x1, y0..y1), &|x| day_label(*x), &rupees)?;
        chart.draw_series(LineSeries::new(prices.iter().copied(), BLACK.mix(0.55))).map_err(err)?;
        chart
            .draw_series(marks.iter().map(|m| {
                TriangleMarker::new((m.entry_x, m.entry_price), 5, if m.long { GAIN.filled() } else { LOSS.filled() })
            }))
            .map_err(err)?;
        chart
            .draw_series(marks.iter().map(|m| Circle::new((m.exit_x, m.exit_price), 3, STRATEGY.filled())))
            .map_err(err)?;
        Ok(())
    })
}
