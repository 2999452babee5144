//! `keys` on an instrument: each broker's non-numeric id for it (Upstox's `instrument_key`),
//! optional and checked like `tokens`.

use dalal_config::Config;

fn check(keys: &str) -> Result<Config, String> {
    let text =
        format!("[[instruments]]\nsymbol = \"RELIANCE\"\ntick_size = 0.1\nlot_size = 1\nref_price = 1400.0\n{keys}");
    let c: Config = toml::from_str(&text).map_err(|e| e.to_string())?;
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

#[test]
fn keys_are_optional_and_kept() {
    assert!(check("").expect("valid").instruments[0].keys.is_empty());
    let c = check("tokens = { upstox = 2885 }\nkeys = { upstox = \"NSE_EQ|INE002A01018\" }\n").expect("valid");
    assert_eq!(c.instruments[0].keys.get("upstox").map(String::as_str), Some("NSE_EQ|INE002A01018"));
    assert_eq!(c.instruments[0].tokens.get("upstox"), Some(&2885));
    let c = check("keys = { upstox = \"NSE_INDEX|Nifty 50\" }\n").expect("spaces are part of some keys");
    assert_eq!(c.instruments[0].keys["upstox"], "NSE_INDEX|Nifty 50");
}

#[test]
fn keys_must_be_non_empty_text_for_a_broker() {
    let e = check("keys = { upstox = \"\" }\n").expect_err("empty");
    assert!(e.contains("instruments[0].keys.upstox") && e.contains("non-empty"), "{e}");
    let e = check("keys = { upstox = \"  \" }\n").expect_err("blank");
    assert!(e.contains("instruments[0].keys.upstox"), "{e}");
    let e = check("keys = { upstox = \"NSE_EQ|INE002A01018\\n\" }\n").expect_err("a line break");
    assert!(e.contains("instruments[0].keys.upstox") && e.contains("control characters"), "{e}");
    let e = check("keys = { upstox = \"NSE_EQ|\\u0000\" }\n").expect_err("a NUL");
    assert!(e.contains("control characters"), "{e}");
    let e = check("keys = { zerodha = \"X\" }\n").expect_err("not a broker kind");
    assert!(e.contains("instruments[0].keys.zerodha") && e.contains("not a broker"), "{e}");
    assert!(check("keys = { upstox = 2885 }\n").is_err(), "a key is text");
    assert!(check("key = { upstox = \"X\" }\n").is_err(), "unknown fields are refused");
}
