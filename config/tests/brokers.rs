//! `[[brokers]]` entries and how accounts bind to them.

use dalal_config::{AccountMode, BrokerKind, Config};
use dalal_core::model::{Route, VenueId};

const BASE: &str = r#"
[[instruments]]
symbol = "RELIANCE"
segment = "NSE_EQ"
tick_size = 0.05
lot_size = 1
ref_price = 1400.0
"#;

fn parse(extra: &str) -> Result<Config, String> {
    toml::from_str::<Config>(&format!("{BASE}{extra}")).map_err(|e| e.to_string())
}

fn check(extra: &str) -> Result<dalal_core::engine::setup::EngineSetup, String> {
    let c = parse(extra)?;
    c.validate().map_err(|e| e.to_string())
}

#[test]
fn defaults_are_the_vendors_and_the_rate_is_capped() {
    let c = parse("[[brokers]]\nname = \"z\"\nkind = \"kite\"\norders_per_second = 50\n").expect("parses");
    let b = &c.brokers[0];
    assert_eq!(b.kind, BrokerKind::Kite);
    assert_eq!(b.root(), "https://api.kite.trade");
    assert_eq!(b.ws_root(), "wss://ws.kite.trade");
    assert_eq!(b.login(), "z");
    assert_eq!(b.orders_per_second(), 10, "SEBI's 10/s for unregistered algorithms is the ceiling");
    let c = parse("[[brokers]]\nname = \"a\"\nkind = \"angel\"\nroot = \"http://127.0.0.1:9\"\nlogin = \"vaulted\"\norders_per_second = 3\n")
        .expect("parses");
    assert_eq!(c.brokers[0].root(), "http://127.0.0.1:9");
    assert_eq!(c.brokers[0].login(), "vaulted");
    assert_eq!(c.brokers[0].orders_per_second(), 3);
}

#[test]
fn modes_route_orders() {
    let brokers = "[[venues]]\nname = \"sim\"\nkind = \"wire\"\naddress = \"127.0.0.1:9100\"\n\
                   [[brokers]]\nname = \"z\"\nkind = \"kite\"\n[[brokers]]\nname = \"u\"\nkind = \"upstox\"\n";
    let accounts = "[[accounts]]\nname = \"p\"\nbroker = \"z\"\n\
                    [[accounts]]\nname = \"s\"\nbroker = \"z\"\nmode = \"shadow\"\n\
                    [[accounts]]\nname = \"l\"\nbroker = \"u\"\nmode = \"live\"\n\
                    [[accounts]]\nname = \"w\"\nvenue = \"sim\"\n";
    let c = parse(&format!("{brokers}{accounts}")).expect("parses");
    assert_eq!(c.accounts[1].mode, AccountMode::Shadow);
    let setup = c.validate().expect("valid");
    let routes: Vec<Route> = setup.accounts.iter().map(|a| a.route).collect();
    // Venues first, then broker logins: the live Upstox account is venue 2.
    assert_eq!(routes, vec![Route::Paper, Route::Paper, Route::Live(VenueId(2)), Route::Live(VenueId(0))]);
    assert_eq!(setup.venues, vec!["sim", "z", "u"]);
}

#[test]
fn mistakes_name_their_key() {
    let cases = [
        ("[[brokers]]\nname = \"z\"\nkind = \"zerodha\"\n", "unknown variant"),
        ("[[brokers]]\nname = \"z\"\nkind = \"kite\"\nsecret = \"x\"\n", "unknown field"),
        ("[[brokers]]\nname = \"paper\"\nkind = \"kite\"\n", "brokers[0].name"),
        ("[[brokers]]\nname = \"z\"\nkind = \"kite\"\n[[brokers]]\nname = \"z\"\nkind = \"angel\"\n", "brokers[1].name"),
        ("[[brokers]]\nname = \"z\"\nkind = \"kite\"\nroot = \"ftp://x\"\n", "brokers[0].root"),
        ("[[brokers]]\nname = \"z\"\nkind = \"kite\"\nws_root = \"https://x\"\n", "brokers[0].ws_root"),
        ("[[brokers]]\nname = \"z\"\nkind = \"kite\"\norders_per_second = 0\n", "brokers[0].orders_per_second"),
        ("[[accounts]]\nname = \"a\"\nbroker = \"nope\"\n", "accounts[0].broker"),
        ("[[accounts]]\nname = \"a\"\nmode = \"live\"\n", "accounts[0].mode"),
        ("[[brokers]]\nname = \"z\"\nkind = \"kite\"\n[[accounts]]\nname = \"a\"\nbroker = \"z\"\nmode = \"yolo\"\n", "unknown variant"),
        (
            "[[venues]]\nname = \"sim\"\nkind = \"wire\"\naddress = \"127.0.0.1:1\"\n\
             [[brokers]]\nname = \"z\"\nkind = \"kite\"\n[[accounts]]\nname = \"a\"\nbroker = \"z\"\nvenue = \"sim\"\n",
            "not both",
        ),
        (
            "[[venues]]\nname = \"z\"\nkind = \"wire\"\naddress = \"127.0.0.1:1\"\n[[brokers]]\nname = \"z\"\nkind = \"kite\"\n",
            "brokers[0].name",
        ),
    ];
    for (text, want) in cases {
        let e = check(text).expect_err(text);
        assert!(e.contains(want), "{text:?}: {e:?} does not mention {want:?}");
    }
}
