//! Wire to wire on loopback: tick datagram intended-send time → order read by the exchange.
//!
//! Three OS processes, so every hop crosses a real socket and a real process boundary:
//!
//! * the **feed** ([`feed_main`]) sends [`TickDatagram`]s over UDP on a fixed schedule at the
//!   offered rate, stamping each with the time it was *meant* to leave. A feed that falls
//!   behind (descheduled, or the rate is more than it can send) therefore adds its lateness to
//!   the measured latency instead of quietly sending later and hiding the stall (coordinated
//!   omission);
//! * the **engine** runs in the calling process as the product runs colocated: the fused
//!   placement on one busy-polling thread, pinned when the machine allows, polling the UDP
//!   feed ([`UdpSource`]) in line, the tick entering through the ingress ring, the stages
//!   stepping it, and each new order going to the exchange through an egress tap holding an
//!   [`OrderGateway`], carrying the `sent_ns` of the tick that caused it;
//! * the **exchange simulator** ([`exchange_main`]) blocks on its TCP socket, stamps each
//!   order's arrival with `CLOCK_MONOTONIC`, records arrival − origin in a histogram and acks.
//!
//! The children are the calling executable run again with a role argument (`EXE wire-feed
//! ...`, `EXE wire-exchange ...`); every binary that calls [`wire_to_wire`] must hand its
//! argv to [`dispatch_role`] first thing in `main`.
//!
//! Only the engine thread spins. The feed sleeps until just before each send and the exchange
//! sleeps in `read`, and both children are pinned away from the engine's core, so a 2-core
//! machine never has more spinning threads than cores.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use dalal_adapters::feed::{FeedReport as SourceReport, Inline, OriginLog, UdpSource};
use dalal_adapters::wire::order_protocol::{ACK_LEN, FILL_LEN};
use dalal_adapters::wire::{
    monotonic_ns, Ack, ExchangeFill, FeedHandlerError, FeedStats, FrameBuffer, GatewayError, NewOrder, OrderGateway,
    OrderMessage, ProtocolError, Reply, TickDatagram, DATAGRAM_LEN,
};
use dalal_core::engine::placement::{
    available_cores, EgressObserver, EgressTap, IngressPublisher, InlineSource, Launch, LaunchError, PlacementConfig,
    PlacementKind, SourcePoll, WaitKind,
};
use dalal_core::engine::stats::LiveStats;
use dalal_core::engine::Engine;
use dalal_core::metrics::{LatencyHistogram, Percentiles};
use dalal_core::model::{
    AccountId, EgressEvent, IngressEvent, Input, Order, OrderId, OrderStatus, Price, ReportKind, RequestKind,
    TickReject, Timestamp, VenueId, VenueOrderId, VenueReport, VenueRequest, VenueTradeId,
};
use serde::{Deserialize, Serialize};

use crate::ticks_flipping;

/// argv\[1\] of a feed child.
pub const ROLE_FEED: &str = "wire-feed";
/// argv\[1\] of an exchange-simulator child.
pub const ROLE_EXCHANGE: &str = "wire-exchange";

/// How long the feed spins before each send by default; it sleeps until then. Long enough to
/// absorb a sleep's wake-up delay, short enough that at moderate rates the feed's core is
/// mostly free for the exchange.
pub const DEFAULT_SPIN_NS: u64 = 20_000;
/// Ticks the `quick` variant sends at most.
pub const QUICK_TICKS: usize = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("cannot start the {role} process ({exe}): {source}")]
    Spawn { role: &'static str, exe: String, source: io::Error },
    #[error("the {role} process did not {what} in time")]
    Timeout { role: &'static str, what: &'static str },
    #[error("the {role} process failed: {detail}")]
    Child { role: &'static str, detail: String },
    #[error("the {role} process's report does not parse: {detail}")]
    Report { role: &'static str, detail: String },
    #[error("the engine thread stopped: {0}")]
    Engine(String),
    #[error("bad {flag}: {detail}")]
    Args { flag: &'static str, detail: String },
    #[error(transparent)]
    Feed(#[from] FeedHandlerError),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error("exchange protocol: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("{what}: {source}")]
    Io { what: &'static str, source: io::Error },
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> WireError {
    move |source| WireError::Io { what, source }
}

/// One wire-to-wire run.
#[derive(Clone, Debug)]
pub struct WireOptions {
    /// Ticks the feed sends; every one makes an order ([`ticks_flipping`]).
    pub n: usize,
    /// Offered rate, ticks per second.
    pub rate: u64,
    /// The executable run as the feed and the exchange; it must call [`dispatch_role`].
    pub exe: PathBuf,
    /// Sequence numbers the feed skips on purpose, to check gap detection.
    pub skip_seqs: Vec<u64>,
    /// See [`DEFAULT_SPIN_NS`].
    pub spin_ns: u64,
    pub pacing: Pacing,
    /// Run the engine thread and both children under `SCHED_FIFO` (the exchange one level
    /// above the feed, so an order preempts the feed's pacing at once). Off by default: on a
    /// shared machine it takes the cores from everyone else for the length of the run (the
    /// kernel's RT throttling still leaves them 5%). It shows what the path costs once other
    /// tenants' threads can no longer delay it.
    pub realtime: bool,
    /// Pin the engine thread to one core and the children to another, when there are two.
    pub pin: bool,
    /// Once the feed is done, how long the ring must stay quiet, short of every datagram
    /// arriving, before the run counts the rest as lost. Short for the lab (at offered rates
    /// beyond the machine, loss is part of the result); tests that expect every datagram set
    /// it long, so a descheduled engine thread is waited for rather than cut off.
    pub quiet_after_feed: Duration,
}

impl WireOptions {
    pub fn new(n: usize, rate: u64, exe: PathBuf) -> WireOptions {
        WireOptions {
            n,
            rate,
            exe,
            skip_seqs: Vec::new(),
            spin_ns: DEFAULT_SPIN_NS,
            pacing: Pacing::Spin,
            realtime: false,
            pin: true,
            quiet_after_feed: QUIET_AFTER_FEED,
        }
    }

    /// Datagrams the feed will send: `n` less the sequence numbers it skips.
    fn expected_datagrams(&self) -> u64 {
        let mut skipped: Vec<u64> =
            self.skip_seqs.iter().copied().filter(|s| (1..=self.n as u64).contains(s)).collect();
        skipped.sort_unstable();
        skipped.dedup();
        self.n as u64 - skipped.len() as u64
    }

    /// Generous: several times the schedule's length, plus start-up.
    fn timeout(&self) -> Duration {
        let schedule = self.n as f64 / self.rate.max(1) as f64;
        Duration::from_secs_f64(20.0 + 4.0 * schedule)
    }
}

/// What the feed process did, as it reports on stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedReport {
    pub sent: u64,
    /// Left out on purpose (`skip_seqs`).
    pub skipped: u64,
    pub send_errors: u64,
    /// Worst lateness of a send against its schedule, ns: how long a send call returned after
    /// the earliest datagram it carried was due.
    pub max_behind_ns: u64,
    pub pinned: bool,
    /// Ran under `SCHED_FIFO`.
    #[serde(default)]
    pub realtime: bool,
}

/// What the exchange simulator saw, as it reports on stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeReport {
    pub orders: u64,
    pub acks: u64,
    /// Intended send → order read, as the exchange measured it.
    pub latency: Percentiles,
    pub pinned: bool,
    #[serde(default)]
    pub realtime: bool,
}

impl ExchangeReport {
    fn from_histogram(orders: u64, acks: u64, h: &LatencyHistogram, pinned: bool, realtime: bool) -> ExchangeReport {
        ExchangeReport { orders, acks, latency: h.percentiles(), pinned, realtime }
    }
}

/// Everything one run measured.
#[derive(Clone, Debug)]
pub struct WireReport {
    pub n: usize,
    pub rate: u64,
    /// Intended send time of the tick → arrival of its order at the exchange, one sample per
    /// acked order (rebuilt from the acks' arrival stamps; the exchange's own percentiles are
    /// in `exchange`).
    pub latency: LatencyHistogram,
    /// The first leg: intended send time → the engine's feed handler decoded the datagram.
    pub feed_leg: LatencyHistogram,
    /// The last leg: the engine hands the order to its gateway → the exchange read it.
    /// What is left of `latency` after both legs is the engine's own work.
    pub order_leg: LatencyHistogram,
    /// The full round trip: tick datagram's intended send time → order at the exchange →
    /// its fill reported back, published into the ingress ring and booked by the engine.
    pub round_trip: LatencyHistogram,
    /// Fills the engine booked from the exchange's reports.
    pub fills_booked: u64,
    pub feed: FeedReport,
    pub exchange: ExchangeReport,
    /// The engine's feed handler: received, missing (gaps), stale, malformed.
    pub feed_stats: FeedStats,
    pub orders_sent: u64,
    pub orders_acked: u64,
    /// Acks that did not match the oldest unacknowledged order.
    pub ack_mismatches: u64,
    /// The engine's UDP receive buffer as the kernel granted it: how much of a stall the feed
    /// can ride out before datagrams are dropped.
    pub recv_buffer_bytes: Option<usize>,
    pub engine_core: Option<usize>,
    pub engine_pinned: bool,
    /// The engine thread ran under `SCHED_FIFO` ([`WireOptions::realtime`]).
    pub engine_realtime: bool,
    pub children_core: Option<usize>,
    pub seconds: f64,
}

impl WireReport {
    pub fn percentiles(&self) -> Percentiles {
        self.latency.percentiles()
    }

    /// Datagrams lost (or skipped) after the last one the engine saw: invisible to sequence
    /// numbers alone, so counted against the `n` the feed was told to send.
    pub fn trailing_missing(&self) -> u64 {
        (self.n as u64).saturating_sub(self.feed_stats.last_seq)
    }

    /// How the threads were placed, for the report header.
    pub fn placement(&self) -> String {
        let rt = if self.engine_realtime && self.feed.realtime && self.exchange.realtime { ", SCHED_FIFO" } else { "" };
        let place = match (self.engine_core, self.engine_pinned) {
            (Some(c), true) => format!(
                "engine pinned to core {c}, feed+exchange {}",
                self.children_core.map_or("unpinned".into(), |c| format!("pinned to core {c}"))
            ),
            _ => "engine unpinned".into(),
        };
        format!("{place}{rt}")
    }
}

/// The lab's entry point: `n` ticks (at most [`QUICK_TICKS`] when `quick`) at `rate` ticks/s,
/// with this executable as feed and exchange, so its `main` must call [`dispatch_role`].
pub fn wire_to_wire(n: usize, rate: u64, quick: bool) -> Result<WireReport, WireError> {
    let exe = std::env::current_exe().map_err(io_err("cannot find this executable"))?;
    let n = if quick { n.min(QUICK_TICKS) } else { n };
    wire_to_wire_with(&WireOptions::new(n, rate, exe))
}

/// Runs the role named by `args[1]`, if any, and returns its exit code; `None` when `args` is
/// not a role invocation and the caller should go on with its own work.
pub fn dispatch_role(args: &[String]) -> Option<i32> {
    let rest = args.get(2..).unwrap_or(&[]);
    match args.get(1).map(String::as_str) {
        Some(ROLE_FEED) => Some(feed_main(rest)),
        Some(ROLE_EXCHANGE) => Some(exchange_main(rest)),
        _ => None,
    }
}

/// One wire-to-wire run as described by `opt`.
pub fn wire_to_wire_with(opt: &WireOptions) -> Result<WireReport, WireError> {
    if opt.rate == 0 {
        return Err(WireError::Args { flag: "rate", detail: "must be above 0".into() });
    }
    let started = Instant::now();
    let deadline = started + opt.timeout();
    let (setup, _) = crate::ticks_flipping_live(0);
    let loopback: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let feed = UdpSource::bind(loopback, setup.instruments.len(), Some(1))?;
    let feed_addr = feed.local_addr();
    let recv_buffer_bytes = feed.recv_buffer_bytes();
    let origins = feed.origins();

    let cores = available_cores();
    let (engine_core, children_core) = match (opt.pin, cores.as_slice()) {
        (true, [first, .., last]) => (Some(*last), Some(*first)),
        _ => (None, None),
    };
    let child_cpu: Vec<String> = children_core.map(|c| vec!["--cpu".into(), c.to_string()]).unwrap_or_default();

    let mut exchange_args = vec![
        "--listen".to_string(),
        "127.0.0.1:0".into(),
        "--timeout-ms".into(),
        opt.timeout().as_millis().to_string(),
    ];
    exchange_args.extend(child_cpu.iter().cloned());
    // A live venue: each order is acknowledged and then filled in full.
    exchange_args.push("--fills".into());
    if opt.realtime {
        exchange_args.extend(["--rt-priority".into(), "2".into()]);
    }
    let mut exchange = RoleProcess::spawn(opt, ROLE_EXCHANGE, &exchange_args)?;
    let listening = exchange.line(deadline.min(Instant::now() + Duration::from_secs(20)), "report its address")?;
    let exchange_addr: SocketAddr = listening
        .strip_prefix("listening ")
        .and_then(|a| a.trim().parse().ok())
        .ok_or_else(|| WireError::Report { role: ROLE_EXCHANGE, detail: format!("{listening:?}") })?;
    let gateway = OrderGateway::connect(exchange_addr, Duration::from_secs(5))?;

    // The product's colocated engine: fused, busy-polling, the UDP feed in line, the gateway
    // as its egress tap.
    let (outcome_tx, outcome_rx) = mpsc::channel();
    let counts = Arc::new(TapCounts::default());
    let tap = GatewayTap::new(gateway, origins, opt.n, deadline, opt.realtime, outcome_tx, counts.clone());
    let (inline, source_slot) = Inline::new(feed);
    let datagrams = Arc::new(AtomicU64::new(0));
    let inline = Counted { inner: inline, published: datagrams.clone() };
    let place = PlacementConfig {
        placement: PlacementKind::Fused,
        wait: WaitKind::BusySpin,
        cores: engine_core.into_iter().collect(),
        ..PlacementConfig::default()
    };
    let engine = Engine::new(&setup, quanta::Clock::new(), 0);
    let running = Launch::new(engine, &place, Quiet, Arc::new(LiveStats::new(setup.accounts.len())))
        .inline_source(Box::new(inline))
        .egress_tap(Box::new(tap))
        .start()
        .map_err(|e: LaunchError| WireError::Engine(e.to_string()))?;
    let progress = running.progress().clone();

    let mut feed_args = vec![
        "--target".into(),
        feed_addr.to_string(),
        "--n".into(),
        opt.n.to_string(),
        "--rate".into(),
        opt.rate.to_string(),
        "--spin-ns".into(),
        opt.spin_ns.to_string(),
    ];
    feed_args.extend(child_cpu.iter().cloned());
    if opt.pacing == Pacing::Yield {
        feed_args.push("--yield".into());
    }
    if opt.realtime {
        feed_args.extend(["--rt-priority".into(), "1".into()]);
    }
    if !opt.skip_seqs.is_empty() {
        feed_args.push("--skip".into());
        feed_args.push(opt.skip_seqs.iter().map(u64::to_string).collect::<Vec<_>>().join(","));
    }
    let feed_process = RoleProcess::spawn(opt, ROLE_FEED, &feed_args).and_then(|mut feed| {
        let line = feed.line(deadline, "finish sending")?;
        feed.wait(deadline)?;
        serde_json::from_str::<FeedReport>(&line)
            .map_err(|e| WireError::Report { role: ROLE_FEED, detail: format!("{e}: {line:?}") })
    });
    // Every datagram the engine will get is in once the feed is done and the ring has been
    // quiet for a while (or all of them arrived).
    if feed_process.is_ok() {
        let expected = opt.expected_datagrams();
        let mut last = (u64::MAX, Instant::now());
        loop {
            // Datagrams, then the venue's reports: the ring is quiet once every fill is in.
            // The ring's own count also holds the venue's reports: datagrams are counted apart.
            let published = progress.ingress_published.load(Ordering::Acquire);
            let fills_in = counts.booked.load(Ordering::Acquire) >= counts.sent.load(Ordering::Acquire);
            if datagrams.load(Ordering::Acquire) >= expected && fills_in && progress.idle() {
                break;
            }
            if published != last.0 {
                last = (published, Instant::now());
            } else if last.1.elapsed() > opt.quiet_after_feed && progress.idle() {
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let stopped = running.stop();
    let engine_pinned = stopped.pinning.iter().any(|p| p.thread == "engine" && p.pinned);
    let feed_report = feed_process?;
    let outcome =
        outcome_rx.recv_timeout(Duration::from_secs(60)).map_err(|_| WireError::Engine("no outcome".into()))??;
    let source = source_slot.lock().ok().and_then(|mut r| r.take()).unwrap_or_default();
    let line = exchange.line(deadline, "report")?;
    exchange.wait(deadline)?;
    let exchange_report: ExchangeReport = serde_json::from_str(&line)
        .map_err(|e| WireError::Report { role: ROLE_EXCHANGE, detail: format!("{e}: {line:?}") })?;

    Ok(WireReport {
        n: opt.n,
        rate: opt.rate,
        latency: outcome.latency,
        feed_leg: outcome.feed_leg,
        order_leg: outcome.order_leg,
        round_trip: outcome.round_trip,
        fills_booked: outcome.fills_booked,
        feed: feed_report,
        exchange: exchange_report,
        feed_stats: feed_stats(&source),
        orders_sent: outcome.orders_sent,
        orders_acked: outcome.orders_acked,
        ack_mismatches: outcome.ack_mismatches,
        recv_buffer_bytes,
        engine_core,
        engine_pinned,
        engine_realtime: outcome.realtime,
        children_core,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The UDP source's report in the feed handler's terms.
fn feed_stats(r: &SourceReport) -> FeedStats {
    FeedStats {
        received: r.received,
        delivered: r.published,
        missing: r.gaps,
        gap_events: r.gap_events,
        stale: r.duplicates,
        malformed: r.rejects.get(TickReject::Malformed),
        unknown_instrument: r.rejects.get(TickReject::UnknownSymbol),
        last_seq: r.last_seq,
    }
}

/// Egress goes nowhere else in this measurement.
struct Quiet;

impl EgressObserver for Quiet {
    fn on_event(&mut self, _ev: &EgressEvent) {}
}

/// What the engine side measured.
struct EngineOutcome {
    latency: LatencyHistogram,
    feed_leg: LatencyHistogram,
    order_leg: LatencyHistogram,
    round_trip: LatencyHistogram,
    orders_sent: u64,
    orders_acked: u64,
    fills_booked: u64,
    ack_mismatches: u64,
    realtime: bool,
}

/// The feed as the engine thread polls it, counting the datagrams it has put on the ring (one
/// tick each), which is what a run waits for.
struct Counted<S> {
    inner: S,
    published: Arc<AtomicU64>,
}

impl<S: InlineSource> InlineSource for Counted<S> {
    #[inline]
    fn poll(&mut self, out: &mut IngressPublisher, room: usize) -> SourcePoll {
        let r = self.inner.poll(out, room);
        if let SourcePoll::Published(n) = r {
            self.published.fetch_add(n as u64, Ordering::Release);
        }
        r
    }
}

/// Orders sent and fills booked so far, for the caller to see when every fill is in.
#[derive(Default)]
struct TapCounts {
    sent: AtomicU64,
    booked: AtomicU64,
}

/// After the feed is done, the ring must have been quiet this long before the remaining
/// datagrams count as lost.
const QUIET_AFTER_FEED: Duration = Duration::from_millis(50);
/// Loop turns between two reads of the exchange's replies while nothing is outstanding: reading
/// on every turn would double the system calls between two ticks. A power of two.
const REPLY_POLL_EVERY: u32 = 32;
/// Unsent order bytes above which the engine waits for the exchange to catch up before it
/// takes more ticks (they wait in the UDP receive buffer; if that overflows the loss shows as
/// gaps); well below the gateway's hard limit, so overload slows the run instead of failing it.
const BACKLOG_HIGH_WATER: usize = 256 * 1024;
/// Orders whose origin stamps are kept for the round trip (indexed by order id).
const ORIGINS_KEPT: usize = 1 << 16;

/// The exchange simulator as a live venue, run in line on the engine thread as its egress
/// tap: each venue request for a new order is written to the exchange (the first of a loop
/// turn at once, the rest of a burst together at the end of the turn); the exchange's acks
/// and fills are read back and published into the ingress ring as venue reports, so the
/// engine books each fill exactly as it would a broker's; a backlog the exchange has not read
/// holds the engine.
struct GatewayTap {
    gw: OrderGateway,
    venue: VenueId,
    origins: Arc<OriginLog>,
    acks: AckBook,
    feed_leg: LatencyHistogram,
    round_trip: LatencyHistogram,
    /// Per order id (modulo [`ORIGINS_KEPT`]): the origin stamp of the tick that caused it,
    /// and its account.
    order_origin: Vec<(u64, AccountId)>,
    /// Reports read and not yet published (the ring had no room).
    reports: VecDeque<VenueReport>,
    /// Sequence of the last datagram whose feed leg was recorded.
    timed: u64,
    sent_this_turn: bool,
    turn: u32,
    fills_read: u64,
    deadline: Instant,
    realtime: Option<bool>,
    error: Option<WireError>,
    outcome: mpsc::Sender<Result<EngineOutcome, WireError>>,
    counts: Arc<TapCounts>,
}

impl GatewayTap {
    fn new(
        gw: OrderGateway,
        origins: Arc<OriginLog>,
        n: usize,
        deadline: Instant,
        realtime: bool,
        outcome: mpsc::Sender<Result<EngineOutcome, WireError>>,
        counts: Arc<TapCounts>,
    ) -> GatewayTap {
        GatewayTap {
            gw,
            venue: VenueId(0),
            origins,
            acks: AckBook::new(n),
            feed_leg: LatencyHistogram::new(),
            round_trip: LatencyHistogram::new(),
            order_origin: vec![(0, AccountId(0)); ORIGINS_KEPT],
            reports: VecDeque::with_capacity(1024),
            timed: 0,
            sent_this_turn: false,
            turn: 0,
            fills_read: 0,
            deadline,
            realtime: realtime.then_some(false),
            error: None,
            outcome,
            counts,
        }
    }

    fn fail(&mut self, e: impl Into<WireError>) {
        self.error.get_or_insert(e.into());
    }

    /// Reads the exchange's replies into venue reports (and the ack latencies).
    fn read_replies(&mut self) {
        let GatewayTap { gw, acks, reports, order_origin, venue, fills_read, .. } = self;
        let r = gw.poll_replies(&mut |reply| match reply {
            Reply::Ack(a) => {
                acks.on_ack(a);
                let account = order_origin[a.client_order_id as usize % ORIGINS_KEPT].1;
                reports.push_back(report(
                    *venue,
                    account,
                    a.client_order_id,
                    a.exchange_order_id,
                    ReportKind::Accepted,
                ));
            }
            Reply::Fill(f) => {
                *fills_read += 1;
                let account = order_origin[f.client_order_id as usize % ORIGINS_KEPT].1;
                let trade = VenueTradeId::new(&f.trade_id.to_string()).unwrap_or_default();
                let kind = ReportKind::Fill { trade, price: f.price, qty: f.qty };
                reports.push_back(report(*venue, account, f.client_order_id, f.exchange_order_id, kind));
            }
        });
        if let Err(e) = r {
            self.fail(e);
        }
    }

    /// Publishes what was read, as far as the ring has room.
    fn publish(&mut self, out: &mut IngressPublisher, room: usize) -> usize {
        let n = self.reports.len().min(room);
        for r in self.reports.drain(..n) {
            out.publish(Input::VenueReport(r), 0);
        }
        n
    }
}

/// A venue report of the exchange simulator (its ids are numbers).
fn report(venue: VenueId, account: AccountId, order: u64, exchange_id: u64, kind: ReportKind) -> VenueReport {
    let venue_order = VenueOrderId::new(&exchange_id.to_string()).unwrap_or_default();
    VenueReport { venue, account, order: OrderId(order), venue_order, ts: Timestamp::now(), kind }
}

impl EgressTap for GatewayTap {
    fn on_event(&mut self, cause: &IngressEvent, ev: &EgressEvent) {
        match ev {
            EgressEvent::VenueRequest(VenueRequest { venue, kind: RequestKind::New { order, reference } }) => {
                if self.error.is_some() {
                    return;
                }
                self.venue = *venue;
                let (sent_ns, _) = self.origins.get(cause.source);
                self.order_origin[order.id.0 as usize % ORIGINS_KEPT] = (sent_ns, order.intent.account);
                let o = new_order(order, *reference, sent_ns);
                let handed = monotonic_ns();
                let r = if self.sent_this_turn { self.gw.queue(&o) } else { self.gw.send(&o) };
                self.sent_this_turn = true;
                match r {
                    Ok(()) => {
                        self.acks.expect(&o, handed);
                        self.counts.sent.fetch_add(1, Ordering::Release);
                    }
                    Err(e) => self.fail(e),
                }
            }
            // The fill booked: tick sent → order at the exchange → fill in our books.
            EgressEvent::Fill(f) => {
                let (origin, _) = self.order_origin[f.order.0 as usize % ORIGINS_KEPT];
                if origin != 0 {
                    self.round_trip.record(monotonic_ns().saturating_sub(origin));
                }
                self.counts.booked.fetch_add(1, Ordering::Release);
            }
            _ => {}
        }
    }

    fn poll(&mut self, out: &mut IngressPublisher, room: usize) -> usize {
        if let Some(false) = self.realtime {
            // The first turn runs on the engine thread: raise it there.
            self.realtime = Some(set_realtime(1));
        }
        self.sent_this_turn = false;
        // The feed leg of every datagram received since the last turn.
        let latest = self.origins.latest();
        while self.timed < latest {
            self.timed += 1;
            let (sent, received) = self.origins.get(self.timed);
            if received != 0 {
                self.feed_leg.record(received.saturating_sub(sent));
            }
        }
        if self.gw.backlog() > 0 {
            if let Err(e) = self.gw.flush() {
                self.fail(e);
            }
        }
        self.turn = self.turn.wrapping_add(1);
        // Replies are awaited while fills are outstanding; otherwise read now and then, busy or
        // idle (an exchange whose replies go unread blocks writing them and stops reading).
        let outstanding = self.fills_read < self.gw.orders_sent();
        if outstanding || self.turn & (REPLY_POLL_EVERY - 1) == 0 {
            self.read_replies();
        }
        // The exchange is behind: hold the engine until the orders drain.
        while self.gw.backlog() > BACKLOG_HIGH_WATER && self.error.is_none() {
            if let Err(e) = self.gw.flush() {
                self.fail(e);
            }
            self.read_replies();
            if Instant::now() > self.deadline {
                self.fail(WireError::Timeout { role: ROLE_EXCHANGE, what: "read the engine's orders" });
            }
        }
        self.publish(out, room)
    }

    fn finish(&mut self) {
        // Everything is sent; the rest is waiting for acks, which needs no spinning.
        let ack_deadline = (Instant::now() + Duration::from_secs(30)).min(self.deadline);
        while self.error.is_none() && (self.acks.acked < self.gw.orders_sent() || self.gw.backlog() > 0) {
            if let Err(e) = self.gw.flush() {
                self.fail(e);
            }
            self.read_replies();
            if Instant::now() > ack_deadline {
                self.fail(WireError::Timeout { role: ROLE_EXCHANGE, what: "ack every order" });
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        if let Err(e) = self.gw.finish_sending() {
            self.fail(e);
        }
        let result = match self.error.take() {
            Some(e) => Err(e),
            None => Ok(EngineOutcome {
                latency: std::mem::take(&mut self.acks.latency),
                feed_leg: std::mem::take(&mut self.feed_leg),
                order_leg: std::mem::take(&mut self.acks.order_leg),
                round_trip: std::mem::take(&mut self.round_trip),
                orders_sent: self.gw.orders_sent(),
                orders_acked: self.acks.acked,
                fills_booked: self.counts.booked.load(Ordering::Acquire),
                ack_mismatches: self.acks.mismatches,
                realtime: self.realtime.unwrap_or(false),
            }),
        };
        let _ = self.outcome.send(result);
    }
}

/// How many orders the engine makes from the first `n` ticks of [`ticks_flipping`], run in
/// process with no sockets: what a lossless wire run must deliver to the exchange.
pub fn orders_for(n: usize) -> u64 {
    let (setup, ticks) = ticks_flipping(n);
    let mut engine = Engine::new(&setup, quanta::Clock::new(), 0);
    let mut orders = 0;
    for t in &ticks {
        engine.step(&IngressEvent { input: Input::Tick(*t), ingress_raw: 0, source: 0 }, &mut |e| {
            if matches!(e, EgressEvent::Order { order, .. } if order.status == OrderStatus::Pending) {
                orders += 1;
            }
        });
    }
    orders
}

/// The wire frame of a new order; a market order carries the engine's last trade, at which the
/// simulator fills it.
fn new_order(o: &Order, reference: Price, origin_sent_ns: u64) -> NewOrder {
    NewOrder {
        client_order_id: o.id.0,
        account: o.intent.account,
        instrument: o.intent.instrument,
        side: o.intent.side,
        qty: o.intent.qty,
        price: if o.intent.order_type.has_limit() { o.intent.price } else { reference },
        order_type: o.intent.order_type,
        origin_sent_ns,
    }
}

/// Orders waiting for their ack, oldest first: TCP keeps order, so each ack must match the
/// front.
struct AckBook {
    /// Client order id, origin `sent_ns`, and when the engine handed the order to the gateway.
    waiting: VecDeque<(u64, u64, u64)>,
    latency: LatencyHistogram,
    order_leg: LatencyHistogram,
    acked: u64,
    mismatches: u64,
}

impl AckBook {
    fn new(capacity: usize) -> AckBook {
        AckBook {
            waiting: VecDeque::with_capacity(capacity.min(1 << 20)),
            latency: LatencyHistogram::new(),
            order_leg: LatencyHistogram::new(),
            acked: 0,
            mismatches: 0,
        }
    }

    fn expect(&mut self, o: &NewOrder, written_ns: u64) {
        self.waiting.push_back((o.client_order_id, o.origin_sent_ns, written_ns));
    }

    fn on_ack(&mut self, a: Ack) {
        self.acked += 1;
        match self.waiting.pop_front() {
            Some((id, origin, written)) if id == a.client_order_id => {
                self.latency.record(a.arrival_ns.saturating_sub(origin));
                self.order_leg.record(a.arrival_ns.saturating_sub(written));
            }
            _ => self.mismatches += 1,
        }
    }
}

/// A child process that is killed if it is still running when this is dropped, so no error
/// path leaves a feed or an exchange behind.
struct RoleProcess {
    role: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl RoleProcess {
    fn spawn(opt: &WireOptions, role: &'static str, args: &[String]) -> Result<RoleProcess, WireError> {
        let mut child = Command::new(&opt.exe)
            .arg(role)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| WireError::Spawn { role, exe: opt.exe.display().to_string(), source })?;
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            // Ends by itself at the child's exit, when the pipe closes.
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(RoleProcess { role, child, lines })
    }

    /// The next line the child prints, by `deadline`.
    fn line(&mut self, deadline: Instant, what: &'static str) -> Result<String, WireError> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(l) => Ok(l),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(WireError::Timeout { role: self.role, what }),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                Err(WireError::Child { role: self.role, detail: format!("exited ({status}) before it could {what}") })
            }
        }
    }

    fn wait(&mut self, deadline: Instant) -> Result<(), WireError> {
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) if s.success() => return Ok(()),
                Ok(Some(s)) => return Err(WireError::Child { role: self.role, detail: format!("exited with {s}") }),
                Ok(None) if Instant::now() > deadline => {
                    return Err(WireError::Timeout { role: self.role, what: "exit" })
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => return Err(WireError::Child { role: self.role, detail: e.to_string() }),
            }
        }
    }
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `--flag value` pairs of a role's arguments.
struct RoleArgs<'a>(&'a [String]);

impl RoleArgs<'_> {
    fn get(&self, flag: &'static str) -> Option<&str> {
        self.0.iter().position(|a| a == flag).and_then(|i| self.0.get(i + 1)).map(String::as_str)
    }

    fn parse<T: std::str::FromStr>(&self, flag: &'static str) -> Result<Option<T>, WireError>
    where
        T::Err: std::fmt::Display,
    {
        self.get(flag)
            .map(|v| v.parse::<T>().map_err(|e| WireError::Args { flag, detail: format!("{v:?}: {e}") }))
            .transpose()
    }

    fn required<T: std::str::FromStr>(&self, flag: &'static str) -> Result<T, WireError>
    where
        T::Err: std::fmt::Display,
    {
        self.parse(flag)?.ok_or(WireError::Args { flag, detail: "missing".into() })
    }
}

/// Puts the calling thread under `SCHED_FIFO` at `priority`; false when not permitted.
fn set_realtime(priority: i32) -> bool {
    let param = libc::sched_param { sched_priority: priority };
    // SAFETY: `param` is a valid sched_param for the duration of the call, and the thread
    // handle is the caller's own.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if rc != 0 {
        tracing::warn!(priority, error = %io::Error::from_raw_os_error(rc), "cannot switch to SCHED_FIFO");
    }
    rc == 0
}

fn pin_process(cpu: Option<usize>) -> bool {
    cpu.is_some_and(|id| core_affinity::set_for_current(core_affinity::CoreId { id }))
}

/// Makes short sleeps end close to when asked: the default 50 µs timer slack would make the
/// feed wake late and spin less precisely.
fn tighten_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and only affects this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0);
    }
}

/// How the feed waits out the last `spin_ns` before a send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pacing {
    /// Polls the clock with a spin hint: the most precise sends. The exchange still gets the
    /// core when an order wakes it, by wake-up preemption, since it has slept far longer.
    #[default]
    Spin,
    /// Polls the clock with `sched_yield` between reads: gives the core away to anything
    /// runnable, which on a quiet machine is the exchange, and on a busy one is anyone's
    /// compiler, so sends can then be late by a whole time slice.
    Yield,
}

/// Sleeps until `spin_ns` before `target`, then polls the clock to it.
fn wait_until(target: u64, spin_ns: u64, pacing: Pacing) -> u64 {
    loop {
        let now = monotonic_ns();
        if now >= target {
            return now;
        }
        let left = target - now;
        if left > spin_ns {
            std::thread::sleep(Duration::from_nanos(left - spin_ns));
        } else if pacing == Pacing::Yield {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// A role's exit: its report as one JSON line on stdout (0), or the error on stderr (1).
fn print_report<T: Serialize>(role: &str, report: Result<T, WireError>) -> i32 {
    match report.map_err(|e| e.to_string()).and_then(|r| serde_json::to_string(&r).map_err(|e| e.to_string())) {
        Ok(j) => {
            println!("{j}");
            0
        }
        Err(e) => {
            eprintln!("{role}: {e}");
            1
        }
    }
}

/// The feed process: `wire-feed --target ADDR --n N --rate R [--spin-ns NS] [--yield]
/// [--cpu C] [--rt-priority P] [--skip S1,S2,..]`. Prints one JSON [`FeedReport`] line when done.
pub fn feed_main(args: &[String]) -> i32 {
    print_report(ROLE_FEED, feed_role(&RoleArgs(args)))
}

fn feed_role(a: &RoleArgs) -> Result<FeedReport, WireError> {
    let target: SocketAddr = a.required("--target")?;
    let n: usize = a.required("--n")?;
    let rate: u64 = a.required("--rate")?;
    if rate == 0 {
        return Err(WireError::Args { flag: "--rate", detail: "must be above 0".into() });
    }
    let spin_ns: u64 = a.parse("--spin-ns")?.unwrap_or(DEFAULT_SPIN_NS);
    let pacing = if a.0.iter().any(|x| x == "--yield") { Pacing::Yield } else { Pacing::Spin };
    let mut skip: Vec<u64> = match a.get("--skip") {
        Some(s) => s
            .split(',')
            .map(|x| x.trim().parse().map_err(|e| WireError::Args { flag: "--skip", detail: format!("{x:?}: {e}") }))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    skip.sort_unstable();
    let pinned = pin_process(a.parse("--cpu")?);
    let realtime = a.parse::<i32>("--rt-priority")?.is_some_and(set_realtime);
    tighten_timer_slack();
    let sock = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).map_err(io_err("feed bind"))?;
    sock.connect(target).map_err(io_err("feed connect"))?;
    let (_, ticks) = ticks_flipping(n);
    let mut report = FeedReport { pinned, realtime, ..FeedReport::default() };
    let mut batch = [[0u8; DATAGRAM_LEN]; SEND_BATCH];
    // A millisecond of head start so the first sends are not already late.
    let start = monotonic_ns() + 1_000_000;
    let intended = |i: usize| start + (i as u128 * 1_000_000_000 / rate as u128) as u64;
    let mut i = 0;
    while i < ticks.len() {
        let due = intended(i);
        let now = wait_until(due, spin_ns, pacing);
        // Everything already due goes in one system call: a feed behind its schedule catches
        // up instead of falling further behind one `sendto` at a time. Each datagram keeps
        // its own intended time, so the lateness still counts.
        let mut k = 0;
        while i < ticks.len() && k < SEND_BATCH && intended(i) <= now {
            let seq = i as u64 + 1;
            if skip.binary_search(&seq).is_ok() {
                report.skipped += 1;
            } else {
                TickDatagram { seq, tick: ticks[i], sent_ns: intended(i) }.encode(&mut batch[k]);
                k += 1;
            }
            i += 1;
        }
        let sent = send_batch(&sock, &batch[..k]);
        report.sent += sent as u64;
        report.send_errors += (k - sent) as u64;
        report.max_behind_ns = report.max_behind_ns.max(monotonic_ns().saturating_sub(due));
    }
    Ok(report)
}

/// Datagrams the feed hands to the kernel in one `sendmmsg` when it is behind schedule.
const SEND_BATCH: usize = 32;

/// Sends each buffer as one datagram on the connected socket; returns how many went.
fn send_batch(sock: &UdpSocket, bufs: &[[u8; DATAGRAM_LEN]]) -> usize {
    use std::os::fd::AsRawFd;
    match bufs {
        [] => 0,
        [one] => usize::from(sock.send(one).is_ok()),
        _ => {
            let mut iov: Vec<libc::iovec> =
                bufs.iter().map(|b| libc::iovec { iov_base: b.as_ptr() as *mut _, iov_len: b.len() }).collect();
            // SAFETY: an all-zero mmsghdr is valid (null name and control, no iovecs).
            let mut msgs: Vec<libc::mmsghdr> = (0..bufs.len()).map(|_| unsafe { std::mem::zeroed() }).collect();
            for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
                m.msg_hdr.msg_iov = v;
                m.msg_hdr.msg_iovlen = 1;
            }
            let mut done = 0;
            while done < msgs.len() {
                // SAFETY: every header points at one live iovec over a live buffer of the
                // stated length; the socket is connected, so no address is needed.
                let rc = unsafe {
                    libc::sendmmsg(sock.as_raw_fd(), msgs[done..].as_mut_ptr(), (msgs.len() - done) as libc::c_uint, 0)
                };
                if rc <= 0 {
                    break;
                }
                done += rc as usize;
            }
            done
        }
    }
}

/// The exchange simulator: `wire-exchange --listen ADDR [--cpu C] [--rt-priority P]
/// [--timeout-ms MS]`. Prints
/// `listening ADDR` once bound, accepts one connection, acks every order, and prints one JSON
/// [`ExchangeReport`] line when the engine closes its side.
pub fn exchange_main(args: &[String]) -> i32 {
    print_report(ROLE_EXCHANGE, exchange_role(&RoleArgs(args)))
}

fn exchange_role(a: &RoleArgs) -> Result<ExchangeReport, WireError> {
    let listen: SocketAddr = a.required("--listen")?;
    let pinned = pin_process(a.parse("--cpu")?);
    let realtime = a.parse::<i32>("--rt-priority")?.is_some_and(set_realtime);
    // Its own limit, so an exchange whose parent vanished does not wait forever.
    let timeout = Duration::from_millis(a.parse("--timeout-ms")?.unwrap_or(600_000));
    let deadline = Instant::now() + timeout;
    let listener = TcpListener::bind(listen).map_err(io_err("exchange bind"))?;
    let addr = listener.local_addr().map_err(io_err("exchange address"))?;
    println!("listening {addr}");
    io::stdout().flush().map_err(io_err("stdout"))?;
    listener.set_nonblocking(true).map_err(io_err("exchange listener"))?;
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(WireError::Timeout { role: ROLE_EXCHANGE, what: "get a connection from the engine" });
            }
            Err(e) => return Err(WireError::Io { what: "exchange accept", source: e }),
        }
    };
    stream.set_nonblocking(false).map_err(io_err("exchange socket"))?;
    stream.set_nodelay(true).map_err(io_err("exchange socket"))?;
    stream.set_read_timeout(Some(timeout)).map_err(io_err("exchange socket"))?;
    // As a live venue, every acknowledged order is then filled in full at its price.
    let fills = a.0.iter().any(|x| x == "--fills");
    let mut frames = FrameBuffer::new(64 * 1024);
    let mut latency = LatencyHistogram::new();
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    let (mut orders, mut acks) = (0u64, 0u64);
    loop {
        let n = frames.fill_from(&mut stream).map_err(io_err("exchange read"))?;
        if n == 0 {
            break;
        }
        // One stamp per read: every order in it was on the socket by now.
        let arrival = monotonic_ns();
        while let Some(m) = frames.next_message()? {
            let OrderMessage::NewOrder(o) = m else {
                return Err(WireError::Report { role: ROLE_EXCHANGE, detail: "a reply from the engine".into() });
            };
            orders += 1;
            latency.record(arrival.saturating_sub(o.origin_sent_ns));
            let mut frame = [0u8; ACK_LEN];
            Ack { client_order_id: o.client_order_id, exchange_order_id: orders, arrival_ns: arrival }
                .encode(&mut frame);
            out.extend_from_slice(&frame);
            acks += 1;
            if fills {
                let mut frame = [0u8; FILL_LEN];
                let f = ExchangeFill {
                    client_order_id: o.client_order_id,
                    exchange_order_id: orders,
                    trade_id: orders,
                    price: o.price,
                    qty: o.qty,
                };
                f.encode(&mut frame);
                out.extend_from_slice(&frame);
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).map_err(io_err("exchange ack"))?;
            out.clear();
        }
    }
    if frames.pending() > 0 {
        return Err(WireError::Report {
            role: ROLE_EXCHANGE,
            detail: format!("{} bytes of a cut frame", frames.pending()),
        });
    }
    Ok(ExchangeReport::from_histogram(orders, acks, &latency, pinned, realtime))
}
