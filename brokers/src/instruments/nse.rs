//! Lists of the market that decide which instruments come first. They change with index
//! reviews, so they are data here, in one place, with their date.

/// The NIFTY 50's constituents as NSE trading symbols, as of 14 October 2025: the
/// September 2025 review (INDIGO and MAXHEALTH in, HEROMOTOCO and INDUSINDBK out) and
/// Tata Motors' passenger-vehicle business trading as TMPV after the demerger. NSE Indices
/// reviews the index every March and September: update this list from the constituents file
/// on niftyindices.com (`ind_nifty50list.csv`) when it changes. A symbol missing from a
/// master only loses its priority.
pub const NIFTY_50: [&str; 50] = [
    "ADANIENT",
    "ADANIPORTS",
    "APOLLOHOSP",
    "ASIANPAINT",
    "AXISBANK",
    "BAJAJ-AUTO",
    "BAJAJFINSV",
    "BAJFINANCE",
    "BEL",
    "BHARTIARTL",
    "CIPLA",
    "COALINDIA",
    "DRREDDY",
    "EICHERMOT",
    "ETERNAL",
    "GRASIM",
    "HCLTECH",
    "HDFCBANK",
    "HDFCLIFE",
    "HINDALCO",
    "HINDUNILVR",
    "ICICIBANK",
    "INDIGO",
    "INFY",
    "ITC",
    "JIOFIN",
    "JSWSTEEL",
    "KOTAKBANK",
    "LT",
    "M&M",
    "MARUTI",
    "MAXHEALTH",
    "NESTLEIND",
    "NTPC",
    "ONGC",
    "POWERGRID",
    "RELIANCE",
    "SBILIFE",
    "SBIN",
    "SHRIRAMFIN",
    "SUNPHARMA",
    "TATACONSUM",
    "TATASTEEL",
    "TCS",
    "TECHM",
    "TITAN",
    "TMPV",
    "TRENT",
    "ULTRACEMCO",
    "WIPRO",
];

/// Index derivatives' underlyings (the `name` of their futures and options) in priority
/// order, each with the tradingsymbol of its index row in the master, whose last price
/// ranks the options' strikes. NSE's first (NIFTY, BANKNIFTY, FINNIFTY, MIDCPNIFTY), then
/// NIFTYNXT50, then BSE's.
pub const INDEX_UNDERLYINGS: [(&str, &str); 7] = [
    ("NIFTY", "NIFTY 50"),
    ("BANKNIFTY", "NIFTY BANK"),
    ("FINNIFTY", "NIFTY FIN SERVICE"),
    ("MIDCPNIFTY", "NIFTY MID SELECT"),
    ("NIFTYNXT50", "NIFTY NEXT 50"),
    ("SENSEX", "SENSEX"),
    ("BANKEX", "BANKEX"),
];

pub fn is_nifty_50(symbol: &str) -> bool {
    NIFTY_50.binary_search(&symbol).is_ok()
}

/// The priority of an index underlying (0 = first), `None` for a stock.
pub fn index_rank(underlying: &str) -> Option<usize> {
    INDEX_UNDERLYINGS.iter().position(|(u, _)| *u == underlying)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_has_fifty_names() {
        assert!(NIFTY_50.windows(2).all(|w| w[0] < w[1]), "binary search needs it sorted, without repeats");
        assert!(is_nifty_50("RELIANCE") && is_nifty_50("M&M") && !is_nifty_50("NIFTY"));
        assert_eq!(index_rank("BANKNIFTY"), Some(1));
        assert_eq!(index_rank("RELIANCE"), None);
    }
}
