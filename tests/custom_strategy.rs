//! `examples/custom_strategy.rs` builds and trades: a strategy defined outside the workspace's
//! crates, registered with one line, reads both of its legs and trades them over a session.

#[allow(dead_code)]
#[path = "../examples/custom_strategy.rs"]
mod example;

#[test]
fn the_custom_strategy_example_trades_both_legs() {
    let out = example::run().expect("the example runs");
    assert!(out.orders >= 4, "{} orders", out.orders);
    assert_eq!(out.legs.len(), 2, "orders in both legs: {:?}", out.legs);
    assert!(out.fills > 0);
    assert_eq!(out.summary.accounts.len(), 1);
    assert_eq!(out.summary.orders_rejected, 0, "inside its limits, nothing is refused");
}

#[test]
fn its_parameters_are_validated_with_their_keys() {
    use dalal_config::Config;
    let mut registry = dalal_core::strategies::builtin();
    registry.register::<example::PairSpread>();
    let text = include_str!("../examples/custom_strategy.rs");
    let config = text.split("r#\"").nth(1).and_then(|t| t.split("\"#").next()).expect("the example's config");
    for (from, to, key) in [
        ("other = \"ICICIBANK\"", "other = \"NOPE\"", "accounts[0].strategies[0].other"),
        ("band_bps = 15", "band_bps = 0", "accounts[0].strategies[0].band_bps"),
        ("lookback = 20", "lookback = \"long\"", "accounts[0].strategies[0].lookback"),
        ("lookback = 20", "lookbak = 20", "accounts[0].strategies[0].lookbak"),
        ("allow_short = true", "allow_short = false", "accounts[0].strategies[0].allow_short"),
    ] {
        let c: Config = toml::from_str(&config.replace(from, to)).expect("parses");
        let e = c.validate_with(&registry).expect_err(to);
        assert_eq!(e.key, key, "{to}: {e}");
    }
    // Without its registration the kind is unknown, and the message lists what is known.
    let c: Config = toml::from_str(config).expect("parses");
    let e = c.validate().expect_err("not a built-in");
    assert_eq!(e.key, "accounts[0].strategies[0].kind");
    assert!(e.message.contains("ema_cross") && e.message.contains("pair_spread"), "{e}");
}
