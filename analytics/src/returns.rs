//! Return-based metrics over daily simple returns, with the conventions of empyrical-reloaded
//! 0.7.1 (the `empyrical` Python package quants check against): 252 periods a year, sample
//! standard deviations (ddof 1), NaN where the input is too short, and the same treatment of
//! constant series. Each function names the empyrical function it reproduces; the fixture test
//! (`tests/empyrical.rs`) holds them to 1e-9 relative.
//!
//! The arithmetic deliberately follows empyrical's order of operations (sequential sums as
//! bottleneck computes them, numpy's percentile interpolation, the drawdown anchored at 100),
//! because on degenerate input (constant series, a zero spread) a different but equally valid
//! order gives a different residue, and a residue is the difference between 0 and infinity.
//!
//! Inputs are slices of simple returns `r[t] = equity[t] / equity[t-1] − 1`; a risk-free rate
//! is annual and is spread evenly over the year: `rf_daily = rate / 252`.

/// Trading periods in a year: daily returns are annualised by 252, as in empyrical.
pub const PERIODS_PER_YEAR: f64 = 252.0;

/// Simple returns of an equity curve: `equity[t] / equity[t-1] − 1` for `t ≥ 1`. The first
/// value is the base of the second, so `n` values give `n − 1` returns (empyrical's
/// `simple_returns`, which drops the leading NaN of `pct_change`).
pub fn simple_returns(equity: &[f64]) -> Vec<f64> {
    equity.windows(2).map(|w| w[1] / w[0] - 1.0).collect()
}

/// The daily risk-free return for an annual `rate`: `rate / 252`.
pub fn daily_risk_free(rate: f64) -> f64 {
    rate / PERIODS_PER_YEAR
}

/// Mean of the non-NaN values, summed in order (bottleneck's `nanmean`); NaN when none.
fn nanmean(xs: impl Iterator<Item = f64>) -> f64 {
    let mut sum = 0.0;
    let mut count = 0usize;
    for x in xs.filter(|x| !x.is_nan()) {
        sum += x;
        count += 1;
    }
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
}

/// Sample standard deviation (ddof 1) of the non-NaN values, two passes (bottleneck's
/// `nanstd`); NaN with fewer than two values.
fn nanstd(xs: &[f64]) -> f64 {
    let mut sum = 0.0;
    let mut count = 0usize;
    for &x in xs.iter().filter(|x| !x.is_nan()) {
        sum += x;
        count += 1;
    }
    if count <= 1 {
        return f64::NAN;
    }
    let mean = sum / count as f64;
    let mut ss = 0.0;
    for &x in xs.iter().filter(|x| !x.is_nan()) {
        let d = x - mean;
        ss += d * d;
    }
    (ss / (count - 1) as f64).sqrt()
}

/// Product of `1 + r` over the non-NaN returns (numpy's `nanprod`, which counts NaN as 1).
fn growth(returns: &[f64]) -> f64 {
    returns.iter().filter(|r| !r.is_nan()).fold(1.0, |acc, r| acc * (r + 1.0))
}

/// The `q`-th percentile (0–100) of `values` with numpy's default linear interpolation,
/// including its choice of interpolating from the upper neighbour when the fraction is ≥ 0.5.
/// NaN for an empty slice.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let last = n - 1;
    let virtual_index = last as f64 * (q / 100.0);
    if virtual_index >= last as f64 {
        return sorted[last];
    }
    let lower = virtual_index.floor();
    let gamma = virtual_index - lower;
    let i = lower as usize;
    let (a, b) = (sorted[i], sorted[i + 1]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

/// Compounded return over the whole series: `Π(1 + r) − 1` (empyrical `cum_returns_final`).
/// NaN when empty.
pub fn total_return(returns: &[f64]) -> f64 {
    if returns.is_empty() {
        return f64::NAN;
    }
    growth(returns) - 1.0
}

/// Compound annual growth rate: `(Π(1 + r))^(1 / years) − 1` with `years = n / 252`
/// (empyrical `cagr`, an alias of `annual_return`). NaN when empty; NaN when the growth is
/// negative (equity below zero has no real root).
pub fn cagr(returns: &[f64]) -> f64 {
    if returns.is_empty() {
        return f64::NAN;
    }
    let years = returns.len() as f64 / PERIODS_PER_YEAR;
    growth(returns).powf(1.0 / years) - 1.0
}

/// Annualised volatility: sample standard deviation (ddof 1) × √252 (empyrical
/// `annual_volatility`, Lévy exponent 2). NaN with fewer than two returns. A constant series
/// gives the rounding residue of its mean, as empyrical does, not an exact zero.
pub fn annual_volatility(returns: &[f64]) -> f64 {
    if returns.len() < 2 {
        return f64::NAN;
    }
    nanstd(returns) * PERIODS_PER_YEAR.powf(1.0 / 2.0)
}

/// Sharpe ratio: `mean(r − rf) / std(r − rf) × √252`, ddof 1, `rf` the daily risk-free
/// return (empyrical `sharpe_ratio`). NaN with fewer than two returns. When every excess
/// return is equal the deviation is taken as exactly 0, so a constant positive series is
/// +∞, a constant negative one −∞ and a constant zero one NaN (empyrical's
/// `_zero_dispersion_std`).
pub fn sharpe(returns: &[f64], rf_daily: f64) -> f64 {
    if returns.len() < 2 {
        return f64::NAN;
    }
    let adj: Vec<f64> = returns.iter().map(|r| r - rf_daily).collect();
    let mut std = nanstd(&adj);
    let (lo, hi) = min_max(&adj);
    if lo == hi && std.is_finite() {
        std = 0.0;
    }
    nanmean(adj.iter().copied()) / std * PERIODS_PER_YEAR.sqrt()
}

/// Smallest and largest non-NaN value (NaN, NaN when there is none).
fn min_max(xs: &[f64]) -> (f64, f64) {
    let mut lo = f64::NAN;
    let mut hi = f64::NAN;
    for &x in xs.iter().filter(|x| !x.is_nan()) {
        if lo.is_nan() || x < lo {
            lo = x;
        }
        if hi.is_nan() || x > hi {
            hi = x;
        }
    }
    (lo, hi)
}

/// Annualised downside deviation below `required` (daily): `√(mean(min(r − required, 0)²))
/// × √252`, averaged over all days, not only the losing ones (empyrical `downside_risk`).
/// NaN when empty.
pub fn downside_risk(returns: &[f64], required: f64) -> f64 {
    if returns.is_empty() {
        return f64::NAN;
    }
    let squares = returns.iter().map(|r| {
        let d = r - required;
        // `d > 0` is false for NaN, which stays NaN and is skipped by the mean, as np.clip does.
        let d = if d > 0.0 { 0.0 } else { d };
        d * d
    });
    nanmean(squares).sqrt() * PERIODS_PER_YEAR.sqrt()
}

/// Sortino ratio: `mean(r − rf) × 252 / downside_risk(r, rf)`, the daily risk-free return as
/// the required return (empyrical `sortino_ratio`). NaN with fewer than two returns; ±∞ (or
/// NaN for a zero mean) when no day falls below the required return.
pub fn sortino(returns: &[f64], rf_daily: f64) -> f64 {
    if returns.len() < 2 {
        return f64::NAN;
    }
    let average_annual = nanmean(returns.iter().map(|r| r - rf_daily)) * PERIODS_PER_YEAR;
    average_annual / downside_risk(returns, rf_daily)
}

/// Drawdown after each return: `(w[t] − peak[t]) / peak[t]` where `w[t] = 100 × Π(1 + r)`
/// and the running peak starts at the anchor 100 (empyrical `drawdown_series`). So a first
/// losing day is already a drawdown from the starting equity.
pub fn drawdown_series(returns: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(returns.len());
    let mut product = 1.0;
    let mut peak: f64 = 100.0;
    for r in returns {
        // cum_returns: NaN returns count as 0; cumprod then a multiplication by the start.
        product *= if r.is_nan() { 1.0 } else { 1.0 + r };
        let wealth = product * 100.0;
        // np.fmax: a NaN never replaces the peak.
        if wealth > peak {
            peak = wealth;
        }
        out.push((wealth - peak) / peak);
    }
    out
}

/// Maximum drawdown: the most negative value of [`drawdown_series`], a fraction ≤ 0
/// (empyrical `max_drawdown`). 0 for a series that never falls below a peak; NaN when empty.
pub fn max_drawdown(returns: &[f64]) -> f64 {
    if returns.is_empty() {
        return f64::NAN;
    }
    min_max(&drawdown_series(returns)).0
}

/// Longest time under water, in trading days: the longest run of consecutive days whose
/// [`drawdown_series`] value is below zero, i.e. from the first day below a peak (the
/// starting equity counts as one) to the last day before the peak is regained, or to the
/// end if it never is. Empyrical has no such function; this is the length its drawdown
/// series gives. 0 when empty or never below a peak.
pub fn max_drawdown_days(returns: &[f64]) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for d in drawdown_series(returns) {
        run = if d < 0.0 { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// Calmar ratio: `cagr / |max_drawdown|` (empyrical `calmar_ratio`). NaN when there is no
/// drawdown (including an empty series) and when the ratio would be infinite.
pub fn calmar(returns: &[f64]) -> f64 {
    let dd = max_drawdown(returns);
    if dd < 0.0 {
        let ratio = cagr(returns) / dd.abs();
        if ratio.is_infinite() {
            f64::NAN
        } else {
            ratio
        }
    } else {
        f64::NAN
    }
}

/// Stability: R² of an ordinary least-squares line through the cumulative log returns
/// `Σ ln(1 + r)` against the day number (empyrical `stability_of_timeseries`, which takes
/// scipy's `linregress` r-value and squares it). NaN with fewer than two returns, and for a
/// series with no variation at all (a flat curve); r is clipped to [−1, 1] before squaring.
pub fn stability(returns: &[f64]) -> f64 {
    if returns.len() < 2 {
        return f64::NAN;
    }
    let mut y = Vec::with_capacity(returns.len());
    let mut acc = 0.0;
    for r in returns.iter().filter(|r| !r.is_nan()) {
        acc += r.ln_1p();
        y.push(acc);
    }
    let n = y.len() as f64;
    let xmean = (0..y.len()).map(|i| i as f64).sum::<f64>() / n;
    let ymean = y.iter().sum::<f64>() / n;
    let inv_n = 1.0 / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (i, yi) in y.iter().enumerate() {
        let dx = i as f64 - xmean;
        let dy = yi - ymean;
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    let (sxx, sxy, syy) = (sxx * inv_n, sxy * inv_n, syy * inv_n);
    let r = if sxx == 0.0 || syy == 0.0 {
        if sxy == 0.0 {
            f64::NAN
        } else {
            0.0
        }
    } else {
        (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0)
    };
    r * r
}

/// Tail ratio: `|95th percentile| / |5th percentile|` of the daily returns (empyrical
/// `tail_ratio`), how much bigger the right tail is than the left. NaN when empty or when
/// both percentiles are 0; +∞ when only the 5th is.
pub fn tail_ratio(returns: &[f64]) -> f64 {
    let clean: Vec<f64> = returns.iter().copied().filter(|r| !r.is_nan()).collect();
    if clean.is_empty() {
        return f64::NAN;
    }
    percentile(&clean, 95.0).abs() / percentile(&clean, 5.0).abs()
}

/// Daily value at risk at 5 %: the 5th percentile of the daily returns, linearly
/// interpolated (empyrical `value_at_risk` with cutoff 0.05), a loss as a negative fraction.
/// NaN when empty.
pub fn value_at_risk(returns: &[f64]) -> f64 {
    percentile(returns, 5.0)
}

/// Beta against a benchmark: `mean(f̃ · r) / mean(f̃²)` with `f̃ = f − mean(f)`, population
/// moments over the days both are known (empyrical `beta_aligned`; its risk-free argument is
/// unused there, so beta ignores the rate). NaN with fewer than two benchmark days, when the
/// slices differ in length (they must be aligned day by day), and when the benchmark's
/// variance is below 1e-30 (a constant benchmark).
pub fn beta(returns: &[f64], benchmark: &[f64]) -> f64 {
    if returns.is_empty() || benchmark.len() < 2 || returns.len() != benchmark.len() {
        return f64::NAN;
    }
    let independent: Vec<f64> =
        returns.iter().zip(benchmark).map(|(r, f)| if r.is_nan() { f64::NAN } else { *f }).collect();
    let mean = nanmean(independent.iter().copied());
    let residual: Vec<f64> = independent.iter().map(|f| f - mean).collect();
    let covariance = nanmean(residual.iter().zip(returns).map(|(d, r)| d * r));
    let variance = nanmean(residual.iter().map(|d| d * d));
    if variance < 1e-30 || variance.is_nan() {
        return f64::NAN;
    }
    covariance / variance
}

/// Annualised alpha and beta (empyrical `alpha_beta`): beta as [`beta`], and
/// `alpha = (1 + mean((r − rf) − β (f − rf)))^252 − 1` with `rf` the daily risk-free return.
/// Both NaN with fewer than two days or slices of different lengths; alpha is NaN whenever
/// beta is.
pub fn alpha_beta(returns: &[f64], benchmark: &[f64], rf_daily: f64) -> (f64, f64) {
    let b = beta(returns, benchmark);
    if returns.len() < 2 || returns.len() != benchmark.len() {
        return (f64::NAN, b);
    }
    let series = returns.iter().zip(benchmark).map(|(r, f)| (r - rf_daily) - b * (f - rf_daily));
    let alpha = (nanmean(series) + 1.0).powf(PERIODS_PER_YEAR) - 1.0;
    (alpha, b)
}

/// Compounded return of the benchmark over the same days: [`total_return`] of its returns.
pub fn benchmark_return(benchmark: &[f64]) -> f64 {
    total_return(benchmark)
}

/// Total return minus benchmark return, both compounded over the whole period (an
/// arithmetic difference of the two, not a compounded active return).
pub fn excess_return(returns: &[f64], benchmark: &[f64]) -> f64 {
    total_return(returns) - benchmark_return(benchmark)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy_on_small_cases() {
        // numpy.percentile([1, 2, 3, 4], [5, 95]) == [1.15, 3.85]
        assert!((percentile(&[4.0, 1.0, 3.0, 2.0], 5.0) - 1.15).abs() < 1e-12);
        assert!((percentile(&[4.0, 1.0, 3.0, 2.0], 95.0) - 3.85).abs() < 1e-12);
        assert_eq!(percentile(&[7.0], 5.0), 7.0);
        assert!(percentile(&[], 5.0).is_nan());
    }

    #[test]
    fn returns_of_an_equity_curve_start_at_the_second_day() {
        assert_eq!(simple_returns(&[100.0, 110.0, 99.0]), vec![0.10000000000000009, -0.09999999999999998]);
        assert!(simple_returns(&[100.0]).is_empty());
    }

    #[test]
    fn drawdown_days_count_the_time_below_a_peak() {
        assert_eq!(max_drawdown_days(&[0.1, -0.05, -0.01, 0.2, -0.01]), 2);
        assert_eq!(max_drawdown_days(&[-0.1]), 1);
        assert_eq!(max_drawdown_days(&[]), 0);
    }
}

/// Rolling Sharpe ratio over `window` days: at day `t ≥ window − 1`, [`sharpe`] of the returns
/// `t − window + 1 ..= t` (empyrical `roll_sharpe_ratio`, which yields `n − window + 1`
/// values); here aligned with the input, NaN for the first `window − 1` days.
pub fn rolling_sharpe(returns: &[f64], window: usize, rf_daily: f64) -> Vec<f64> {
    let window = window.max(2);
    (0..returns.len())
        .map(|t| if t + 1 < window { f64::NAN } else { sharpe(&returns[t + 1 - window..=t], rf_daily) })
        .collect()
}

/// Returns compounded per period: consecutive days with the same `key` (a month, a year) make
/// one period, `Π(1 + r) − 1` (empyrical `aggregate_returns`, which groups by calendar keys
/// the same way). `keys` and `returns` pair up in order.
pub fn aggregate<K: PartialEq + Copy>(keys: &[K], returns: &[f64]) -> Vec<(K, f64)> {
    let mut out: Vec<(K, f64)> = Vec::new();
    for (k, r) in keys.iter().zip(returns) {
        match out.last_mut() {
            Some((last, growth)) if last == k => *growth *= 1.0 + r,
            _ => out.push((*k, 1.0 + r)),
        }
    }
    out.into_iter().map(|(k, g)| (k, g - 1.0)).collect()
}

#[cfg(test)]
mod period_tests {
    use super::*;

    #[test]
    fn rolling_windows_line_up_with_their_last_day() {
        let r = [0.01, -0.02, 0.03, 0.01, -0.01];
        let s = rolling_sharpe(&r, 3, 0.0);
        assert_eq!(s.len(), 5);
        assert!(s[0].is_nan() && s[1].is_nan());
        assert_eq!(s[2], sharpe(&r[0..3], 0.0));
        assert_eq!(s[4], sharpe(&r[2..5], 0.0));
    }

    #[test]
    fn periods_compound_and_keep_their_order() {
        let keys = [(2026, 1), (2026, 1), (2026, 2), (2027, 1)];
        let r = [0.1, 0.1, -0.5, 0.0];
        let a = aggregate(&keys, &r);
        assert_eq!(a.len(), 3);
        assert!((a[0].1 - 0.21).abs() < 1e-12);
        assert_eq!((a[1], a[2]), (((2026, 2), -0.5), ((2027, 1), 0.0)));
        let total: f64 = a.iter().map(|(_, x)| 1.0 + x).product::<f64>() - 1.0;
        assert!((total - total_return(&r)).abs() < 1e-12);
    }
}
