//! `dalal charges`: the cost of one order, each charge shown separately.

use anyhow::{bail, Context, Result};
use dalal_core::model::{Price, Qty, Side};
use dalal_core::stages::charges::{ChargeSegment, ChargeTable};

use crate::cli::ChargesArgs;

pub fn charges(args: ChargesArgs) -> Result<()> {
    let segment = ChargeSegment::parse(&args.segment).with_context(|| {
        format!("--segment {:?}: expected equity-intraday, equity-delivery, futures or options", args.segment)
    })?;
    let side = match args.side.to_ascii_lowercase().as_str() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        other => bail!("--side {other:?}: expected buy or sell"),
    };
    let price = Price::parse_rupees(&args.price).map_err(|e| anyhow::anyhow!("--price: {e}"))?;
    if !price.is_positive() {
        bail!("--price must be positive");
    }
    if args.qty == 0 {
        bail!("--qty must be positive");
    }
    let table = match &args.config {
        Some(path) => crate::commands::load_config(Some(path))?.1.charges,
        None => ChargeTable::default(),
    };
    let c = table.on_order(segment, side, Qty(args.qty).notional(price));
    let rows = [
        ("brokerage", c.brokerage),
        ("stt", c.stt),
        ("exchange_txn", c.exchange_txn),
        ("sebi", c.sebi),
        ("stamp_duty", c.stamp_duty),
        ("gst", c.gst),
        ("total", c.total()),
    ];
    if args.json {
        let fields: Vec<String> = rows.iter().map(|(k, v)| format!("\"{k}\":{}", v)).collect();
        println!("{{{}}}", fields.join(","));
    } else {
        println!("{segment} {side} {} × ₹{price} = ₹{}", args.qty, Qty(args.qty).notional(price));
        for (k, v) in rows {
            println!("{k:<13} ₹{v:>10}");
        }
    }
    Ok(())
}
