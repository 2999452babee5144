//! `tokens` on an instrument: each broker's id for it, optional and checked.

use dalal_config::Config;

fn check(tokens: &str) -> Result<Config, String> {
    let text =
        format!("[[instruments]]\nsymbol = \"RELIANCE\"\ntick_size = 0.1\nlot_size = 1\nref_price = 1400.0\n{tokens}");
    let c: Config = toml::from_str(&text).map_err(|e| e.to_string())?;
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

#[test]
fn tokens_are_optional_and_kept() {
    assert!(check("").expect("valid").instruments[0].tokens.is_empty());
    let c = check("tokens = { kite = 738561, upstox = 2885 }\n").expect("valid");
    assert_eq!(c.instruments[0].tokens.get("kite"), Some(&738_561));
    assert_eq!(c.instruments[0].tokens.get("upstox"), Some(&2885));
}

#[test]
fn tokens_must_be_positive_and_for_a_broker() {
    let e = check("tokens = { kite = 0 }\n").expect_err("zero");
    assert!(e.contains("instruments[0].tokens.kite") && e.contains("positive"), "{e}");
    let e = check("tokens = { zerodha = 1 }\n").expect_err("not a broker kind");
    assert!(e.contains("instruments[0].tokens.zerodha"), "{e}");
    assert!(check("tokens = { kite = -5 }\n").is_err());
    assert!(check("tokens = { kite = \"738561\" }\n").is_err());
}
