//! Performance analytics for backtests and for any daily equity curve.
//!
//! - [`returns`]: metrics over daily simple returns, each equal to the function of the same
//!   name in empyrical-reloaded 0.7.1 (252 periods a year, an annual risk-free rate spread
//!   evenly per period), so a quant can check a figure against the library they know.
//! - [`trades`]: FIFO round trips from executions and the statistics built on them.
//! - [`equity`]: daily equity marked at each close from executions and prices.
//! - [`input`]: daily CSV series (`date,equity`, `date,close`) with line-numbered errors.
//! - [`weekly`]: the run cut into ISO weeks, each judged against a desk's rules.
//!
//! [`Metrics`] gathers them into what `metrics.json` holds. It is plain data with `serde`
//! serialisation: NaN and ±∞ (an undefined or unbounded ratio) serialise as JSON `null`.
//! The crate knows nothing of the engine, so curves from elsewhere get the same treatment.

#![forbid(unsafe_code)]

pub mod equity;
pub mod input;
pub mod returns;
pub mod trades;
pub mod weekly;

use serde::Serialize;

pub use equity::EquityBook;
pub use input::{parse_daily, DailySeries, SeriesError};
pub use trades::{round_trips, trade_metrics, Direction, Execution, RoundTrip, TradeMetrics};

/// The return-based metrics of one series (see [`returns`] for each formula).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ReturnMetrics {
    pub total_return: f64,
    pub cagr: f64,
    pub annual_volatility: f64,
    pub sharpe: f64,
    pub sortino: f64,
    pub calmar: f64,
    pub max_drawdown: f64,
    pub max_drawdown_days: usize,
    pub stability: f64,
    pub tail_ratio: f64,
    pub value_at_risk: f64,
}

impl ReturnMetrics {
    /// All of them for `returns`, with `rf_daily` the daily risk-free return (Sharpe's excess
    /// and Sortino's required return).
    pub fn compute(returns: &[f64], rf_daily: f64) -> Self {
        ReturnMetrics {
            total_return: returns::total_return(returns),
            cagr: returns::cagr(returns),
            annual_volatility: returns::annual_volatility(returns),
            sharpe: returns::sharpe(returns, rf_daily),
            sortino: returns::sortino(returns, rf_daily),
            calmar: returns::calmar(returns),
            max_drawdown: returns::max_drawdown(returns),
            max_drawdown_days: returns::max_drawdown_days(returns),
            stability: returns::stability(returns),
            tail_ratio: returns::tail_ratio(returns),
            value_at_risk: returns::value_at_risk(returns),
        }
    }
}

/// Metrics against a benchmark whose daily returns are aligned with the strategy's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BenchmarkMetrics {
    pub alpha: f64,
    pub beta: f64,
    pub benchmark_return: f64,
    pub excess_return: f64,
}

impl BenchmarkMetrics {
    pub fn compute(returns: &[f64], benchmark: &[f64], rf_daily: f64) -> Self {
        let (alpha, beta) = returns::alpha_beta(returns, benchmark, rf_daily);
        BenchmarkMetrics {
            alpha,
            beta,
            benchmark_return: returns::benchmark_return(benchmark),
            excess_return: returns::excess_return(returns, benchmark),
        }
    }
}

/// Everything `metrics.json` holds, in its key order. The benchmark and trade groups are
/// left out, not written as nulls, when there is no benchmark or no trade record (a curve
/// given to `dalal report`), so a null always means "undefined for this data".
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// Trading days in the equity curve.
    pub days: usize,
    /// The equity the first day's return is measured from, rupees, when it is not the
    /// curve's own first value (a backtest starts from the account's funds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_equity: Option<f64>,
    /// Annual risk-free rate used.
    pub risk_free: f64,
    #[serde(flatten)]
    pub returns: ReturnMetrics,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub benchmark: Option<BenchmarkMetrics>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub trades: Option<TradeMetrics>,
}

impl Metrics {
    /// Metrics of `days` trading days whose daily simple returns are `returns`, with an
    /// optional benchmark (its returns over the same days) and an annual risk-free rate.
    pub fn compute(days: usize, returns: &[f64], benchmark: Option<&[f64]>, risk_free: f64) -> Self {
        let rf = returns::daily_risk_free(risk_free);
        Metrics {
            days,
            start_equity: None,
            risk_free,
            returns: ReturnMetrics::compute(returns, rf),
            benchmark: benchmark.map(|b| BenchmarkMetrics::compute(returns, b, rf)),
            trades: None,
        }
    }
}
