//! Choosing the run's feeds from the configuration and the command line, and running them:
//! each on a thread of its own, or the market feed in line on the engine thread.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use anyhow::{bail, Context, Result};
use dalal_adapters::feed::{
    drive, FeedReport, FeedSource, Inline, ReportSlot, SyntheticSource, TickFileSource, UdpSource,
};
use dalal_adapters::{ReplaySpeed, SymbolTable, SyntheticConfig, SyntheticInstrument};
use dalal_brokers::kite::feed::{KiteFeed, KiteFeedConfig, Mode, Subscription};
use dalal_config::{Config, FeedKind, FeedMode};
use dalal_core::engine::placement::{IngressPublisher, InlineSource};
use dalal_core::engine::setup::EngineSetup;
use dalal_core::model::time::NANOS_PER_DAY;
use dalal_core::model::Timestamp;

use super::brokers::TokenSink;
use crate::cli::VaultArgs;

/// Applies `--feed` (`synthetic`, `csv:PATH`, `bin:PATH`, `udp:ADDR`, `kite:BROKER`,
/// `angel:BROKER`, `upstox:BROKER`) over the config's feed.
pub(super) fn override_feed(config: &mut Config, feed: Option<&str>) -> Result<()> {
    let expected = "expected synthetic, csv:PATH, bin:PATH, udp:ADDR, kite:BROKER, angel:BROKER or upstox:BROKER";
    match feed {
        None => {}
        Some("synthetic") => config.feed.kind = FeedKind::Synthetic,
        Some(f) => {
            let (kind, rest) = f.split_once(':').with_context(|| format!("--feed {f:?}: {expected}"))?;
            match kind {
                "csv" | "bin" => {
                    config.feed.kind = FeedKind::Csv;
                    config.feed.path = Some(rest.to_string());
                }
                "udp" => {
                    rest.parse::<SocketAddr>().with_context(|| format!("--feed {f:?}: {rest:?} is not an address"))?;
                    config.feed.kind = FeedKind::Udp;
                    config.feed.listen = rest.to_string();
                }
                "kite" => {
                    config.feed.kind = FeedKind::Kite;
                    config.feed.broker = Some(rest.to_string());
                }
                "angel" => {
                    config.feed.kind = FeedKind::Angel;
                    config.feed.broker = Some(rest.to_string());
                }
                "upstox" => {
                    config.feed.kind = FeedKind::Upstox;
                    config.feed.broker = Some(rest.to_string());
                }
                other => bail!("--feed {other:?}: {expected}"),
            }
        }
    }
    Ok(())
}

/// Nanoseconds to add to the wall clock to make market time. A synthetic market keeps its own
/// clock: outside trading hours it starts at the last session's open, so sessions, candles and
/// risk behave as they would during the day. Real feeds (files, UDP) carry their own time.
pub(super) fn market_offset(config: &Config, setup: &EngineSetup) -> i64 {
    if config.feed.kind != FeedKind::Synthetic {
        return 0;
    }
    let now = Timestamp::now();
    if setup.session.contains(now) {
        return 0;
    }
    // Today's open, or the last weekday's at weekends.
    let mut open = setup.session.open_on(now);
    while !setup.session.contains(open) {
        open = Timestamp(open.0 - NANOS_PER_DAY);
    }
    open.0 - now.0
}

/// A market feed; for a broker's feed, where its login's new access tokens go and the
/// console's view of its health (read through a monitor kept before the feed is boxed away
/// into its thread).
pub(super) struct MarketFeed {
    pub source: Box<dyn FeedSource>,
    pub token: Option<(String, TokenSink)>,
    pub health: Option<dalal_admin::FeedView>,
}

impl MarketFeed {
    fn plain(source: Box<dyn FeedSource>) -> MarketFeed {
        MarketFeed { source, token: None, health: None }
    }
}

/// The run's market feed, as configured.
pub(super) fn market_source(
    config: &Config,
    setup: &EngineSetup,
    symbols: Arc<SymbolTable>,
    speed: ReplaySpeed,
    resume_after: u64,
    offset_ns: i64,
    vault: &VaultArgs,
) -> Result<MarketFeed> {
    let feed = &config.feed;
    Ok(match feed.kind {
        FeedKind::Synthetic => {
            let cfg = SyntheticConfig {
                seed: feed.seed,
                instruments: setup
                    .instruments
                    .iter()
                    .zip(&setup.ref_prices)
                    .map(|(s, p)| SyntheticInstrument::from_spec(s, *p))
                    .collect(),
            };
            MarketFeed::plain(Box::new(SyntheticSource::new(&cfg, feed.rate, offset_ns).context("synthetic feed")?))
        }
        FeedKind::Csv => {
            let path = PathBuf::from(feed.path.clone().unwrap_or_default());
            let source = TickFileSource::open(&path, symbols, speed, resume_after)
                .with_context(|| format!("opening feed {}", path.display()))?;
            MarketFeed::plain(Box::new(source))
        }
        FeedKind::Udp => {
            let addr: SocketAddr = feed.listen.parse().with_context(|| format!("feed.listen {:?}", feed.listen))?;
            let src = UdpSource::bind(addr, setup.instruments.len(), None)?;
            println!("UDP feed on {}", src.local_addr());
            MarketFeed::plain(Box::new(src))
        }
        FeedKind::Kite => kite_feed(config, setup, vault)?,
        FeedKind::Angel => angel_feed(config, setup, vault)?,
        FeedKind::Upstox => upstox_feed(config, setup, vault)?,
    })
}

/// Kite's ticker through the `[feed] broker` login, for every instrument with a Kite token,
/// and where that login's next access token goes (a feed refused for an expired token waits
/// for it, then connects again).
fn kite_feed(config: &Config, setup: &EngineSetup, vault: &VaultArgs) -> Result<MarketFeed> {
    let name = config.feed.broker.clone().unwrap_or_default();
    let broker = config.brokers.iter().find(|b| b.name == name).with_context(|| format!("feed.broker {name:?}"))?;
    let vault = crate::broker::open(vault).context("a broker feed needs the vault (dalal broker add)")?;
    let login = broker.login();
    let api_key = vault.id(login, "api_key")?.with_context(|| format!("broker login {login:?} has no api_key"))?;
    let token = vault
        .secret(login, "access_token")?
        .with_context(|| format!("broker login {login:?} has no access token: run `dalal broker login {login}`"))?;
    let mode = match config.feed.mode {
        FeedMode::Quote => Mode::Quote,
        FeedMode::Full => Mode::Full,
    };
    let mut subscriptions = Vec::new();
    for (section, spec) in config.instruments.iter().zip(&setup.instruments) {
        match section.tokens.get("kite").map(|t| u32::try_from(*t)) {
            Some(Ok(token)) => subscriptions.push(Subscription { token, instrument: spec.id, mode }),
            Some(Err(_)) => {
                bail!("instruments {:?}: Kite token {:?} is out of range", spec.symbol, section.tokens.get("kite"))
            }
            None => tracing::warn!(instrument = %spec.symbol, "no Kite token: not on the Kite feed"),
        }
    }
    let mut cfg = KiteFeedConfig::new(&api_key, token, subscriptions);
    cfg.ws_root = broker.ws_root().to_string();
    let feed = KiteFeed::start(cfg, None).context("starting the Kite feed")?;
    println!("Kite feed from {} ({} instruments)", broker.ws_root(), setup.instruments.len());
    let token = feed.token_handle();
    let monitor = feed.monitor();
    let health = dalal_admin::FeedView::new(format!("kite:{name}"), move || {
        serde_json::to_value(monitor.health()).unwrap_or_default()
    });
    // A removed login leaves the feed as it is: the broker ends its token in its own time.
    let sink: TokenSink = Box::new(move |t| {
        if let Some(t) = t {
            token.set(t);
        }
    });
    Ok(MarketFeed { source: Box::new(feed), token: Some((login.to_string(), sink)), health: Some(health) })
}

/// Angel One's SmartStream through the `[feed] broker` login, for every instrument with an
/// Angel One token: cash on `nse_cm`, derivatives on `nse_fo`, as SnapQuote (`full`: trades
/// with exchange times, best five, open interest) or Quote. A login without a session yet logs
/// in first with its MPIN and TOTP seed; the login's next session reaches the feed through the
/// vault watcher (JWT and feed token together).
fn angel_feed(config: &Config, setup: &EngineSetup, vault_args: &VaultArgs) -> Result<MarketFeed> {
    use dalal_brokers::angel::smartstream::{SmartStream, SmartStreamConfig, Subscription as AngelSub};
    use dalal_brokers::angel::stream::{ExchangeType, Mode as AngelMode};
    use dalal_core::model::Segment;
    let name = config.feed.broker.clone().unwrap_or_default();
    let broker = config.brokers.iter().find(|b| b.name == name).with_context(|| format!("feed.broker {name:?}"))?;
    let mut vault = crate::broker::open(vault_args).context("a broker feed needs the vault (dalal broker add)")?;
    let login = broker.login();
    let timeout = std::time::Duration::from_secs(7);
    let has_session = vault.secret(login, "jwt_token")?.is_some() && vault.secret(login, "feed_token")?.is_some();
    let mut client = crate::broker::angel_client(&vault, login, Some(broker.root()), timeout, has_session)?;
    if !has_session {
        crate::broker::angel_login_into(&mut vault, login, &mut client)
            .with_context(|| format!("logging in {login:?} for the Angel One feed"))?;
    }
    let tokens = client.tokens().cloned().context("no Angel One session")?;
    let mode = match config.feed.mode {
        FeedMode::Quote => AngelMode::Quote,
        FeedMode::Full => AngelMode::SnapQuote,
    };
    let mut subscriptions = Vec::new();
    for (section, spec) in config.instruments.iter().zip(&setup.instruments) {
        match section.tokens.get("angel") {
            Some(token) => {
                let exchange = match spec.segment {
                    Segment::Equity => ExchangeType::NseCm,
                    Segment::Futures | Segment::Options => ExchangeType::NseFo,
                };
                subscriptions.push(AngelSub::new(exchange, token.to_string(), mode, spec.id));
            }
            None => tracing::warn!(instrument = %spec.symbol, "no Angel One token: not on the Angel One feed"),
        }
    }
    let mut cfg =
        SmartStreamConfig::new(client.api_key(), client.client_code(), tokens.jwt, tokens.feed, subscriptions);
    cfg.ws_root = broker.ws_root().to_string();
    let feed = SmartStream::start(cfg).context("starting the Angel One feed")?;
    println!("Angel One feed from {} ({} instruments)", broker.ws_root(), setup.instruments.len());
    let credentials = feed.credentials_handle();
    let monitor = feed.monitor();
    let health = dalal_admin::FeedView::new(format!("angel:{name}"), move || {
        serde_json::to_value(monitor.health()).unwrap_or_default()
    });
    // The vault watcher hands over the JWT; the feed token of the same login comes with it.
    let (vault_args, login_name) = (vault_args.clone(), login.to_string());
    let sink: TokenSink = Box::new(move |jwt| {
        let Some(jwt) = jwt else { return };
        match crate::broker::open(&vault_args).and_then(|v| Ok(v.secret(&login_name, "feed_token")?)) {
            Ok(Some(feed_token)) => credentials.set(jwt, feed_token),
            Ok(None) => tracing::warn!(login = %login_name, "a new Angel One session without a feed token"),
            Err(e) => tracing::warn!(login = %login_name, error = %e, "the vault cannot be read for the feed token"),
        }
    });
    Ok(MarketFeed { source: Box::new(feed), token: Some((login.to_string(), sink)), health: Some(health) })
}

/// Upstox's Market Data Feed v3 through the `[feed] broker` login, for every instrument with
/// an Upstox key (`full`: trades, depth and open interest; `quote`: `ltpc`); its next access
/// token reaches the feed through the vault watcher.
fn upstox_feed(config: &Config, setup: &EngineSetup, vault_args: &VaultArgs) -> Result<MarketFeed> {
    use dalal_brokers::upstox::feed::Mode as UpstoxMode;
    use dalal_brokers::upstox::market_feed::{Subscription as UpstoxSub, UpstoxFeed, UpstoxFeedConfig};
    let name = config.feed.broker.clone().unwrap_or_default();
    let broker = config.brokers.iter().find(|b| b.name == name).with_context(|| format!("feed.broker {name:?}"))?;
    let vault = crate::broker::open(vault_args).context("a broker feed needs the vault (dalal broker add)")?;
    let login = broker.login();
    let timeout = std::time::Duration::from_secs(7);
    let client =
        crate::broker::upstox_client(&vault, login, (Some(broker.root()), Some(broker.order_root())), timeout, true)?;
    let mode = match config.feed.mode {
        FeedMode::Quote => UpstoxMode::Ltpc,
        FeedMode::Full => UpstoxMode::Full,
    };
    let mut subscriptions = Vec::new();
    for (section, spec) in config.instruments.iter().zip(&setup.instruments) {
        match section.keys.get("upstox") {
            Some(key) => subscriptions.push(UpstoxSub::new(key.clone(), mode, spec.id)),
            None => tracing::warn!(instrument = %spec.symbol, "no Upstox key: not on the Upstox feed"),
        }
    }
    let cfg = UpstoxFeedConfig::for_client(&client, subscriptions).context("no Upstox session")?;
    let feed = UpstoxFeed::start(cfg).context("starting the Upstox feed")?;
    println!("Upstox feed through {} ({} instruments)", broker.root(), setup.instruments.len());
    let token = feed.token_handle();
    let monitor = feed.monitor();
    let health = dalal_admin::FeedView::new(format!("upstox:{name}"), move || {
        serde_json::to_value(monitor.health()).unwrap_or_default()
    });
    let sink: TokenSink = Box::new(move |t| {
        if let Some(t) = t {
            token.set(t);
        }
    });
    Ok(MarketFeed { source: Box::new(feed), token: Some((login.to_string(), sink)), health: Some(health) })
}

/// Live feeds need wall-clock timers (a replayed file makes its own from its clock).
pub(super) fn needs_wall_timers(config: &Config) -> bool {
    config.feed.kind != FeedKind::Csv
}

/// `source` wrapped for the engine thread, and where its report will be.
pub(super) fn inline(source: Box<dyn FeedSource>) -> (Box<dyn InlineSource>, ReportSlot) {
    let (inline, slot) = Inline::new(source);
    (Box::new(inline), slot)
}

/// Feeds running on threads of their own, and the market feed's report once it is in.
pub(super) struct FeedThreads {
    threads: Vec<(JoinHandle<FeedReport>, bool)>,
    /// Set when the market feed has ended (a file at its end): the run is over.
    pub market_done: Arc<AtomicBool>,
    inline: Option<ReportSlot>,
}

impl FeedThreads {
    pub(super) fn new() -> FeedThreads {
        FeedThreads { threads: Vec::new(), market_done: Arc::new(AtomicBool::new(false)), inline: None }
    }

    /// Runs `source` on a thread named `name` until it ends or `stop` is set; `market` marks
    /// the run's market feed (its end ends the run).
    pub(super) fn spawn(
        &mut self,
        name: &str,
        mut source: Box<dyn FeedSource>,
        mut out: IngressPublisher,
        stop: Arc<AtomicBool>,
        market: bool,
    ) -> Result<()> {
        let done = self.market_done.clone();
        let handle = thread::Builder::new().name(format!("dalal-{name}")).spawn(move || {
            let report = drive(source.as_mut(), &mut out, &stop);
            if market {
                done.store(true, Ordering::Release);
            }
            report
        })?;
        self.threads.push((handle, market));
        Ok(())
    }

    /// The market feed runs in line on the engine thread; its report will be in `slot`.
    pub(super) fn inline_market(&mut self, slot: ReportSlot) {
        self.inline = Some(slot);
    }

    /// Whether the inline market feed has ended (its report is in once it has been dropped).
    pub(super) fn inline_done(&self) -> bool {
        self.inline.as_ref().is_some_and(|s| s.lock().map(|r| r.is_some()).unwrap_or(false))
    }

    /// Joins the feed threads (the stop flag must be set). Returns the market feed's report
    /// when it ran on a thread, or where it will be once the engine thread has dropped it.
    pub(super) fn join(self) -> Result<Option<FeedReport>, ReportSlot> {
        let mut market = None;
        for (h, is_market) in self.threads {
            match h.join() {
                Ok(r) if is_market => market = Some(r),
                Ok(_) => {}
                Err(_) => tracing::error!("a feed thread panicked"),
            }
        }
        match (market, self.inline) {
            (None, Some(slot)) => Err(slot),
            (market, _) => Ok(market),
        }
    }
}
