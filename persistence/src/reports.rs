//! Run reports: `orders.csv`, `fills.csv`, `summary.json`. Output is a pure function of the
//! engine's results (fixed column order, fixed number formats, no timestamps of the writer),
//! which is what makes "two runs give byte-identical files" checkable.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use dalal_core::engine::backtest::Blotter;
use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::summary::RunSummary;
use dalal_core::model::Fill;
use dalal_core::model::Order;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot encode summary: {0}")]
    Json(#[from] serde_json::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io { path: path.to_path_buf(), source }
}

fn names<'a>(setup: &'a EngineSetup) -> (impl Fn(usize) -> &'a str, impl Fn(usize) -> &'a str) {
    let acct = move |i: usize| setup.accounts.get(i).map(|a| a.name.as_str()).unwrap_or("?");
    let sym = move |i: usize| setup.instruments.get(i).map(|s| s.symbol.as_str()).unwrap_or("?");
    (acct, sym)
}

/// One row per order, in id order, with its final state.
pub fn write_orders_csv(path: &Path, orders: &[Order], setup: &EngineSetup) -> Result<(), ReportError> {
    let f = File::create(path).map_err(io(path))?;
    let mut w = BufWriter::new(f);
    let (acct, sym) = names(setup);
    let mut body = || -> std::io::Result<()> {
        writeln!(
            w,
            "order_id,account,strategy,symbol,side,type,product,validity,qty,price,trigger,status,filled_qty,avg_fill_price,reject_reason,created_ns,updated_ns"
        )?;
        for o in orders {
            let i = &o.intent;
            let avg = if o.filled.0 == 0 { String::new() } else { format!("{:.4}", o.avg_fill_price() / 100.0) };
            writeln!(
                w,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                o.id,
                acct(i.account.index()),
                i.strategy,
                sym(i.instrument.index()),
                i.side,
                i.order_type,
                i.product,
                i.validity,
                i.qty,
                i.price,
                i.trigger,
                o.status,
                o.filled,
                avg,
                o.reject.map(|r| r.as_str()).unwrap_or(""),
                o.created,
                o.updated
            )?;
        }
        w.flush()
    };
    body().map_err(io(path))
}

/// One row per execution, in the order they happened.
pub fn write_fills_csv(path: &Path, fills: &[Fill], setup: &EngineSetup) -> Result<(), ReportError> {
    let f = File::create(path).map_err(io(path))?;
    let mut w = BufWriter::new(f);
    let (acct, sym) = names(setup);
    let mut body = || -> std::io::Result<()> {
        writeln!(w, "fill_id,order_id,account,strategy,symbol,side,qty,price,charges,ts_ns")?;
        for x in fills {
            writeln!(
                w,
                "{},{},{},{},{},{},{},{},{},{}",
                x.id,
                x.order,
                acct(x.account.index()),
                x.strategy,
                sym(x.instrument.index()),
                x.side,
                x.qty,
                x.price,
                x.charges,
                x.ts
            )?;
        }
        w.flush()
    };
    body().map_err(io(path))
}

pub fn write_summary_json(path: &Path, summary: &RunSummary) -> Result<(), ReportError> {
    let mut s = serde_json::to_string_pretty(summary)?;
    s.push('\n');
    std::fs::write(path, s).map_err(io(path))
}

/// Writes `orders.csv`, `fills.csv` and `summary.json` into `dir`, creating it if needed.
pub fn write_run_files(
    dir: &Path,
    blotter: &Blotter,
    summary: &RunSummary,
    setup: &EngineSetup,
) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    write_orders_csv(&dir.join("orders.csv"), &blotter.orders, setup)?;
    write_fills_csv(&dir.join("fills.csv"), &blotter.fills, setup)?;
    write_summary_json(&dir.join("summary.json"), summary)
}
