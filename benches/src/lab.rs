//! The latency lab as a library: the measurements `dalal bench` and the bench harnesses share,
//! and the report they write (`bench.json`, a percentile plot in SVG).
//!
//! Latency rows come in three kinds, because each answers a different question:
//! - paced (`hop/…`, `tick_to_order/…`): one message every 10 µs, stamped when published. The
//!   cost of one message through an otherwise idle path.
//! - saturated (`hop_saturated/…`): the producer publishes as fast as the ring takes. Latency
//!   then includes queueing behind earlier messages, and the row also carries messages/s.
//! - offered rate (`tick_to_order/fused@100k`): a fixed schedule, each tick stamped with the
//!   time it was *due*, so a publisher or engine that falls behind is charged for the wait
//!   (coordinated omission corrected, as HdrHistogram recommends).

use std::io::Write as _;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dalal_config::{PlacementKind, WaitKind};
use dalal_core::engine::backtest;
use dalal_core::engine::placement::{available_cores, EgressObserver, PlacementConfig, Running};
use dalal_core::engine::stats::LiveStats;
use dalal_core::engine::Engine;
use dalal_core::metrics::{LatencyHistogram, Percentiles, StageLatencies};
use dalal_core::model::{EgressEvent, Input};
use disruptor::{BusySpin, Polling, Producer};
use serde::Serialize;

use crate::scale::ScaleFields;
use crate::ticks_flipping;

/// What the numbers came from, so results from different machines are never confused.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    /// Cores this process may run on.
    pub cores_available: Vec<usize>,
    /// Stage threads are left unpinned here; the kernel may move them.
    pub pinning: String,
    pub wait: String,
    pub profile: &'static str,
}

impl Machine {
    pub fn read(wait: WaitKind) -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Machine {
            cpu,
            cores,
            cores_available: available_cores(),
            pinning: "none (threads unpinned)".into(),
            wait: format!("{wait:?}"),
            profile: if cfg!(debug_assertions) { "debug" } else { "release" },
        }
    }
}

/// One row of `bench.json`: a latency distribution or a throughput.
#[derive(Clone, Debug, Serialize)]
pub struct LabRow {
    pub name: String,
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p999_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p9999_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticks_per_s: Option<f64>,
    /// Saturated hops: messages delivered per second, first publish to last receive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msgs_per_s: Option<f64>,
    /// Offered-rate rows: the schedule the publisher kept (ticks per second).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_per_s: Option<u64>,
    /// Allocation rows: heap allocations per engine event in steady state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocs_per_event: Option<f64>,
    /// `scale/…` rows: the workload's size, its orders and the ratios the group is read by.
    #[serde(flatten)]
    pub scale: Option<ScaleFields>,
}

impl LabRow {
    pub fn latency(name: &str, h: &LatencyHistogram) -> LabRow {
        let p: Percentiles = h.percentiles();
        LabRow {
            name: name.into(),
            count: p.count,
            p50_ns: Some(p.p50_ns),
            p90_ns: Some(p.p90_ns),
            p99_ns: Some(p.p99_ns),
            p999_ns: Some(p.p999_ns),
            p9999_ns: Some(p.p9999_ns),
            max_ns: Some(p.max_ns),
            ticks_per_s: None,
            msgs_per_s: None,
            offered_per_s: None,
            allocs_per_event: None,
            scale: None,
        }
    }

    pub fn throughput(name: &str, count: u64, secs: f64) -> LabRow {
        LabRow {
            name: name.into(),
            count,
            p50_ns: None,
            p90_ns: None,
            p99_ns: None,
            p999_ns: None,
            p9999_ns: None,
            max_ns: None,
            ticks_per_s: Some(count as f64 / secs.max(1e-9)),
            msgs_per_s: None,
            offered_per_s: None,
            allocs_per_event: None,
            scale: None,
        }
    }

    /// A saturated hop: its latency distribution and the rate it sustained.
    pub fn saturated(name: &str, run: &HopRun) -> LabRow {
        LabRow { msgs_per_s: Some(run.msgs_per_s()), ..LabRow::latency(name, &run.hist) }
    }

    /// A latency measured at a fixed offered rate.
    pub fn offered(name: &str, rate: u64, h: &LatencyHistogram) -> LabRow {
        LabRow { offered_per_s: Some(rate), ..LabRow::latency(name, h) }
    }

    pub fn allocs(name: &str, events: u64, per_event: f64) -> LabRow {
        LabRow { allocs_per_event: Some(per_event), ticks_per_s: None, ..LabRow::throughput(name, events, 1.0) }
    }
}

/// A measurement the lab chose not to run here, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

/// Everything one lab run produced; `bench.json` is this, serialized.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub results: Vec<LabRow>,
    /// Combinations not measured on this machine (too few cores for their spinning threads).
    pub skipped: Vec<Skipped>,
}

/// Spins until `gap` has passed since `since`: how a paced producer (or a busy-spin engine
/// thread between ticks) waits.
pub fn pace(gap: Duration, since: Instant) {
    while since.elapsed() < gap {
        std::hint::spin_loop();
    }
}

fn idle(wait: WaitKind) {
    match wait {
        WaitKind::BusySpin => std::hint::spin_loop(),
        _ => std::thread::yield_now(),
    }
}

/// The name a wait strategy has in configs and row names.
pub fn wait_name(wait: WaitKind) -> &'static str {
    match wait {
        WaitKind::BusySpin => "busy-spin",
        WaitKind::Yield => "yield",
        WaitKind::Sleep => "sleep",
    }
}

/// A rate as rows name it: 100000 → `100k`, 1000000 → `1M`, 1500000 → `1.5M`.
pub fn rate_label(rate: u64) -> String {
    let (div, unit) = match rate {
        r if r >= 1_000_000 => (1e6, "M"),
        r if r >= 1_000 => (1e3, "k"),
        _ => (1.0, ""),
    };
    let v = rate as f64 / div;
    let s = format!("{v:.3}");
    format!("{}{unit}", s.trim_end_matches('0').trim_end_matches('.'))
}

/// The receive stamp of a hop whose message carried `sent`: the clock, read once the message
/// itself is in hand.
///
/// The TSC read is not ordered after loads: a consumer that reads its slot and then the clock
/// can have the clock read execute while the slot's cache line is still on its way from the
/// producer's core, and the hop it records stops short of the message arriving (by about that
/// line's transfer, 70–90 ns on a Xeon host). The engine cannot stop its own clock that early: its
/// tick-to-order stamp comes hundreds of instructions after the slot read, more than a core
/// keeps in flight. LFENCE first waits for every earlier load, so a hop row and the engine's
/// rows end at the same point: the data in hand.
#[inline]
fn received(clock: &quanta::Clock, sent: u64) -> u64 {
    // The slot's value is taken before the fence, so its load is among those the fence waits for.
    std::hint::black_box(sent);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: LFENCE takes no operands and touches no memory; it only holds back the
    // instructions after it until earlier ones complete. SSE2, which has it, is part of x86_64.
    unsafe {
        std::arch::x86_64::_mm_lfence()
    };
    clock.raw()
}

/// A one-hop run: the publish → receive distribution and how long delivering everything took.
#[derive(Clone, Debug, Default)]
pub struct HopRun {
    pub hist: LatencyHistogram,
    /// First publish to last receive.
    pub secs: f64,
}

impl HopRun {
    pub fn msgs_per_s(&self) -> f64 {
        self.hist.len() as f64 / self.secs.max(1e-9)
    }
}

/// The ingress ring's own hop, with no engine behind it: a multi-producer disruptor ring of
/// [`IngressEvent`]s (112-byte slots) with one producer, stamped before the publish as the
/// engine's publisher stamps a tick, and a consumer that records publish → receive. What
/// `tick_to_order/fused` pays for transport before any stage runs; beside `hop/disruptor` (one
/// producer, 8-byte slots) it shows what claiming a slot among several producers and a wider
/// slot cost.
pub fn hop_ingress(n: usize, gap: Duration, wait: WaitKind) -> LatencyHistogram {
    use dalal_core::model::{IngressEvent, InstrumentId, Price, Qty, Tick, Timestamp};
    let tick = Tick { instrument: InstrumentId(0), ts: Timestamp(0), price: Price(142_000), qty: Qty(1) };
    let clock = quanta::Clock::new();
    let (mut poller, b) = disruptor::build_multi_producer(1024, IngressEvent::default, BusySpin).new_event_poller();
    let mut p = b.build();
    let c2 = clock.clone();
    let consumer = std::thread::spawn(move || {
        let mut h = LatencyHistogram::new();
        loop {
            match poller.poll() {
                Ok(mut batch) => {
                    for ev in &mut batch {
                        let sent = ev.ingress_raw;
                        h.record(c2.delta_as_nanos(sent, received(&c2, sent)));
                    }
                }
                Err(Polling::NoEvents) => idle(wait),
                Err(Polling::Shutdown) => break,
            }
        }
        h
    });
    for _ in 0..n {
        let t = Instant::now();
        let ingress_raw = clock.raw();
        p.publish(|e| *e = IngressEvent { input: Input::Tick(tick), ingress_raw, source: 0 });
        pace(gap, t);
    }
    drop(p);
    consumer.join().unwrap_or_default()
}

/// One producer, one consumer thread over a disruptor ring; the consumer records publish →
/// receive. With `gap` the producer publishes one message per gap, without it as fast as the
/// ring takes.
fn disruptor_hop(n: usize, gap: Option<Duration>, wait: WaitKind) -> HopRun {
    let clock = quanta::Clock::new();
    let (mut poller, b) = disruptor::build_single_producer(1024, || 0u64, BusySpin).new_event_poller();
    let mut p = b.build();
    let c2 = clock.clone();
    let consumer = std::thread::spawn(move || {
        let mut h = LatencyHistogram::new();
        let mut last = 0;
        loop {
            match poller.poll() {
                Ok(mut batch) => {
                    for raw in &mut batch {
                        last = received(&c2, *raw);
                        h.record(c2.delta_as_nanos(*raw, last));
                    }
                }
                Err(Polling::NoEvents) => idle(wait),
                Err(Polling::Shutdown) => break,
            }
        }
        (h, last)
    });
    let t0 = clock.raw();
    for _ in 0..n {
        match gap {
            Some(gap) => {
                let t = Instant::now();
                p.publish(|e| *e = clock.raw());
                pace(gap, t);
            }
            None => p.publish(|e| *e = clock.raw()),
        }
    }
    drop(p);
    let (hist, last) = consumer.join().unwrap_or_default();
    HopRun { hist, secs: clock.delta_as_nanos(t0, last) as f64 / 1e9 }
}

/// One producer, one consumer thread; the consumer records publish → receive.
pub fn hop_disruptor(n: usize, gap: Duration, wait: WaitKind) -> LatencyHistogram {
    disruptor_hop(n, Some(gap), wait).hist
}

/// [`hop_disruptor`] with the producer publishing as fast as the ring takes.
pub fn hop_saturated_disruptor(n: usize, wait: WaitKind) -> HopRun {
    disruptor_hop(n, None, wait)
}

/// One producer, one consumer thread over a channel given as its send and non-blocking
/// receive halves; the consumer records publish → receive. `try_recv` answers `Ok(Some)` for a
/// stamp, `Ok(None)` when empty, `Err(())` once the sender (owned by `send`) is gone.
fn hop_channel<R: Send + 'static>(
    n: usize,
    gap: Option<Duration>,
    wait: WaitKind,
    mut send: impl FnMut(u64),
    rx: R,
    try_recv: fn(&R) -> Result<Option<u64>, ()>,
) -> HopRun {
    let clock = quanta::Clock::new();
    let c2 = clock.clone();
    let consumer = std::thread::spawn(move || {
        let mut h = LatencyHistogram::new();
        let mut last = 0;
        loop {
            match try_recv(&rx) {
                Ok(Some(raw)) => {
                    last = received(&c2, raw);
                    h.record(c2.delta_as_nanos(raw, last));
                }
                Ok(None) => idle(wait),
                Err(()) => break,
            }
        }
        (h, last)
    });
    let t0 = clock.raw();
    for _ in 0..n {
        match gap {
            Some(gap) => {
                let t = Instant::now();
                send(clock.raw());
                pace(gap, t);
            }
            None => send(clock.raw()),
        }
    }
    drop(send);
    let (hist, last) = consumer.join().unwrap_or_default();
    HopRun { hist, secs: clock.delta_as_nanos(t0, last) as f64 / 1e9 }
}

fn crossbeam_hop(n: usize, gap: Option<Duration>, wait: WaitKind) -> HopRun {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(1024);
    hop_channel(
        n,
        gap,
        wait,
        move |v| {
            let _ = tx.send(v);
        },
        rx,
        |rx| match rx.try_recv() {
            Ok(v) => Ok(Some(v)),
            Err(crossbeam_channel::TryRecvError::Empty) => Ok(None),
            Err(crossbeam_channel::TryRecvError::Disconnected) => Err(()),
        },
    )
}

fn std_mpsc_hop(n: usize, gap: Option<Duration>, wait: WaitKind) -> HopRun {
    let (tx, rx) = mpsc::sync_channel::<u64>(1024);
    hop_channel(
        n,
        gap,
        wait,
        move |v| {
            let _ = tx.send(v);
        },
        rx,
        |rx| match rx.try_recv() {
            Ok(v) => Ok(Some(v)),
            Err(mpsc::TryRecvError::Empty) => Ok(None),
            Err(mpsc::TryRecvError::Disconnected) => Err(()),
        },
    )
}

pub fn hop_crossbeam(n: usize, gap: Duration, wait: WaitKind) -> LatencyHistogram {
    crossbeam_hop(n, Some(gap), wait).hist
}

pub fn hop_std_mpsc(n: usize, gap: Duration, wait: WaitKind) -> LatencyHistogram {
    std_mpsc_hop(n, Some(gap), wait).hist
}

/// [`hop_crossbeam`] with the producer sending as fast as the channel takes.
pub fn hop_saturated_crossbeam(n: usize, wait: WaitKind) -> HopRun {
    crossbeam_hop(n, None, wait)
}

/// [`hop_std_mpsc`] with the producer sending as fast as the channel takes.
pub fn hop_saturated_std_mpsc(n: usize, wait: WaitKind) -> HopRun {
    std_mpsc_hop(n, None, wait)
}

/// Which time a scheduled message carries as its ingress stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// When the schedule said to send it: waiting to be sent counts as latency.
    Intended,
    /// When it was actually written to the ring: the coordinated-omission-prone stamp.
    Actual,
}

/// A fixed offered rate: message `i` is due at `t0 + i / rate`, in the clock's raw units so a
/// stamp can go straight into `IngressEvent.ingress_raw` and be turned back into nanoseconds
/// by whoever measures (the order stage, for tick-to-order).
pub struct Schedule {
    clock: quanta::Clock,
    t0: u64,
    /// Raw clock units per scheduled message.
    period_raw: f64,
}

impl Schedule {
    /// A schedule starting now. `rate_per_s` of 0 is taken as 1.
    pub fn start(clock: &quanta::Clock, rate_per_s: u64) -> Schedule {
        // quanta scales raw to ns linearly and offers no inverse; reading its factor off a long
        // span makes due times convert back to the ns the consumer will compute, with no drift
        // from calibrating against another clock.
        const SPAN: u64 = 1 << 40;
        let ns = clock.delta_as_nanos(0, SPAN).max(1) as f64;
        let raw_per_ns = SPAN as f64 / ns;
        Schedule { clock: clock.clone(), t0: clock.raw(), period_raw: raw_per_ns * 1e9 / rate_per_s.max(1) as f64 }
    }

    /// Raw time at which message `i` is due.
    pub fn due(&self, i: usize) -> u64 {
        self.t0.saturating_add((i as f64 * self.period_raw) as u64)
    }

    /// Spins until message `i` is due (returns at once when already behind); its due time.
    pub fn wait(&self, i: usize) -> u64 {
        let due = self.due(i);
        while self.clock.raw() < due {
            std::hint::spin_loop();
        }
        due
    }

    /// The stamp for a message due at `due`, taken at the moment it is written.
    #[inline]
    pub fn stamp(&self, due: u64, stamp: Stamp) -> u64 {
        match stamp {
            Stamp::Intended => due,
            Stamp::Actual => self.clock.raw(),
        }
    }
}

/// A consumer stall for [`hop_scheduled`]: sleep `pause` after every `every` messages.
#[derive(Clone, Copy, Debug)]
pub struct Stall {
    pub every: usize,
    pub pause: Duration,
}

/// One producer on a fixed schedule into a disruptor ring of `ring` slots (a power of two),
/// one consumer that may stall. Shows what the offered-rate engine rows correct for: with a
/// small ring and a stalling consumer the producer blocks, and only [`Stamp::Intended`]
/// charges the messages it could not send on time.
pub fn hop_scheduled(
    n: usize,
    rate: u64,
    ring: usize,
    stamp: Stamp,
    stall: Option<Stall>,
    wait: WaitKind,
) -> LatencyHistogram {
    let clock = quanta::Clock::new();
    let (mut poller, b) =
        disruptor::build_single_producer(ring.next_power_of_two(), || 0u64, BusySpin).new_event_poller();
    let mut p = b.build();
    let c2 = clock.clone();
    let consumer = std::thread::spawn(move || {
        let mut h = LatencyHistogram::new();
        let mut seen = 0usize;
        loop {
            match poller.poll() {
                Ok(mut batch) => {
                    for raw in &mut batch {
                        h.record(c2.delta_as_nanos(*raw, received(&c2, *raw)));
                        seen += 1;
                        if let Some(s) = stall.filter(|s| s.every > 0 && seen.is_multiple_of(s.every)) {
                            std::thread::sleep(s.pause);
                        }
                    }
                }
                Err(Polling::NoEvents) => idle(wait),
                Err(Polling::Shutdown) => break,
            }
        }
        h
    });
    let schedule = Schedule::start(&clock, rate);
    for i in 0..n {
        let due = schedule.wait(i);
        p.publish(|e| *e = schedule.stamp(due, stamp));
    }
    drop(p);
    consumer.join().unwrap_or_default()
}

struct Null;
impl EgressObserver for Null {
    fn on_event(&mut self, _: &EgressEvent) {}
}

fn placement_config(placement: PlacementKind, wait: WaitKind) -> PlacementConfig {
    PlacementConfig { placement, wait, sleep: Duration::from_micros(20), cores: Vec::new(), ring_size: 1024 }
}

/// Paced ticks through a running engine; every histogram the engine keeps (the stage ones are
/// filled only with `sample_every` > 0).
pub fn engine_latencies(
    n: usize,
    gap: Duration,
    placement: PlacementKind,
    wait: WaitKind,
    sample_every: u32,
) -> StageLatencies {
    let (setup, ticks) = ticks_flipping(n);
    let clock = quanta::Clock::new();
    let engine = Engine::new(&setup, clock.clone(), sample_every);
    let mut running = Running::start(engine, &placement_config(placement, wait), Null, Arc::new(LiveStats::new(1)));
    for t in &ticks {
        let start = Instant::now();
        running.publish(Input::Tick(*t));
        pace(gap, start);
    }
    running.stop().engine.all_latencies()
}

/// Paced ticks through a running engine; the engine's own tick-to-order histogram.
pub fn tick_to_order(
    n: usize,
    gap: Duration,
    placement: PlacementKind,
    wait: WaitKind,
    sample_every: u32,
) -> LatencyHistogram {
    engine_latencies(n, gap, placement, wait, sample_every).tick_to_order
}

/// `n` ticks offered at `rate` per second on a fixed schedule, each stamped per `stamp`; the
/// engine's tick-to-order histogram. With [`Stamp::Intended`] a tick published late (the ring
/// was full, the engine behind) counts from when it was due.
pub fn tick_to_order_at_rate(
    n: usize,
    rate: u64,
    placement: PlacementKind,
    wait: WaitKind,
    stamp: Stamp,
) -> LatencyHistogram {
    let (setup, ticks) = ticks_flipping(n);
    let clock = quanta::Clock::new();
    let engine = Engine::new(&setup, clock.clone(), 0);
    let running = Running::start(engine, &placement_config(placement, wait), Null, Arc::new(LiveStats::new(1)));
    if let Some(mut publisher) = running.publisher() {
        let schedule = Schedule::start(&clock, rate);
        for (i, t) in ticks.iter().enumerate() {
            let due = schedule.wait(i);
            publisher.publish_stamped(Input::Tick(*t), 0, schedule.stamp(due, stamp));
        }
    }
    running.stop().engine.all_latencies().tick_to_order
}

/// Threads that never yield their core in a paced engine run: the publisher (it paces by
/// spinning) plus every stage thread when stages busy-spin. The egress observer sleeps.
pub fn spinning_threads(placement: PlacementKind, wait: WaitKind) -> usize {
    let stages = match placement {
        PlacementKind::Fused => 1,
        PlacementKind::Pipelined => 4,
    };
    1 + if wait == WaitKind::BusySpin { stages } else { 0 }
}

/// Why a placement and wait strategy are not measured with `cores` free cores, if they are
/// not: more spinning threads than cores measures the scheduler, not the engine, and starves
/// everything else on the machine.
pub fn skip_reason(placement: PlacementKind, wait: WaitKind, cores: usize) -> Option<String> {
    let need = spinning_threads(placement, wait);
    (need > cores).then(|| {
        format!(
            "needs {need} free cores ({} busy-spinning stage thread(s) + the publisher), {cores} available",
            need - 1
        )
    })
}

/// One EMA(9/21) crossover on 1-minute bars of one instrument, over a synthetic session: the
/// backtest throughput workload (most ticks update bars; few trade).
pub fn session_workload(n: usize) -> (dalal_core::engine::setup::EngineSetup, Vec<dalal_core::model::Tick>) {
    let cfg = r#"
        [engine]
        timeframes = []
        latency_sample_every = 0
        [risk]
        enforce_session = false
        mis_square_off = ""
        [[instruments]]
        symbol = "RELIANCE"
        tick_size = 0.10
        lot_size = 1
        ref_price = 1420.00
        band_pct = 20
        [[accounts]]
        name = "quant"
        [accounts.limits]
        max_orders_per_sec = 0
        duplicate_window_ms = 0
        [[accounts.strategies]]
        kind = "ema_cross"
        instrument = "RELIANCE"
        timeframe = "1m"
        fast = 9
        slow = 21
        qty = 100
        allow_short = true
    "#;
    let setup = toml::from_str::<dalal_config::Config>(cfg)
        .ok()
        .and_then(|c| c.validate().ok())
        .unwrap_or_else(|| unreachable!("the workload config is valid"));
    let spec = &setup.instruments[0];
    let synth = dalal_adapters::SyntheticConfig {
        seed: 7,
        instruments: vec![dalal_adapters::SyntheticInstrument::from_spec(spec, setup.ref_prices[0])],
    };
    // 09:15 IST on 2026-11-20, one tick a millisecond.
    let ticks =
        dalal_adapters::generate_session(&synth, dalal_core::model::Timestamp(1_795_146_300_000_000_000), n, 1_000_000)
            .unwrap_or_default();
    (setup, ticks)
}

/// Ticks through the fused engine, published as fast as the ring takes them; every tick is
/// processed (the run waits until the engine has consumed them all), none is lost.
pub fn pipeline_throughput(n: usize, wait: WaitKind) -> (u64, f64) {
    let (setup, ticks) = session_workload(n);
    let clock = quanta::Clock::new();
    let engine = Engine::new(&setup, clock.clone(), 0);
    let cfg = PlacementConfig {
        placement: PlacementKind::Fused,
        wait,
        sleep: Duration::from_micros(20),
        cores: Vec::new(),
        ring_size: 1 << 16,
    };
    let mut running = Running::start(engine, &cfg, Null, Arc::new(LiveStats::new(1)));
    let t0 = Instant::now();
    for t in &ticks {
        running.publish(Input::Tick(*t));
    }
    running.wait_idle();
    let secs = t0.elapsed().as_secs_f64();
    let engine = running.stop().engine;
    (engine.candle.counters.ticks_in, secs)
}

pub fn backtest_throughput(n: usize) -> (u64, f64) {
    let (setup, ticks) = session_workload(n);
    let (mut engine, mut blotter) = backtest::start(&setup, 0);
    let t0 = Instant::now();
    backtest::replay(&mut engine, &mut blotter, &ticks, 0);
    (engine.candle.counters.ticks_in, t0.elapsed().as_secs_f64())
}

/// How many messages each kind of row gets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sizes {
    /// Paced hops and paced engine runs (pipelined runs take a quarter: every hop pays a wake-up).
    pub paced: usize,
    /// Saturated hops.
    pub saturated: usize,
    /// Seconds of schedule per offered rate.
    pub offered_secs: f64,
    /// Ticks per throughput run.
    pub throughput: usize,
    /// Ticks over which allocations are counted (after as many to warm up).
    pub alloc_events: usize,
    /// Ticks of the session the `scale/…` group replays (its start untimed warm-up).
    pub scale_ticks: usize,
    /// Timed runs per point and mode of the `scale/…` group (the rows carry the median).
    pub scale_reps: usize,
}

impl Sizes {
    pub fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                paced: 20_000,
                saturated: 1_000_000,
                offered_secs: 0.2,
                throughput: 1_000_000,
                alloc_events: 100_000,
                scale_ticks: 100_000,
                scale_reps: 3,
            }
        } else {
            Sizes {
                paced: 200_000,
                saturated: 10_000_000,
                offered_secs: 2.0,
                throughput: 5_000_000,
                alloc_events: 1_000_000,
                scale_ticks: 400_000,
                scale_reps: 3,
            }
        }
    }

    /// Ticks offered at `rate` per second, at least a thousand so the tail has samples.
    pub fn offered(&self, rate: u64) -> usize {
        ((rate as f64 * self.offered_secs) as usize).max(1_000)
    }
}

/// The offered rates `dalal bench` uses when none are given (ticks per second).
pub const DEFAULT_RATES: [u64; 2] = [100_000, 1_000_000];

/// Runs the whole lab. `quick` keeps it under a minute; `wait` is how consumers and fused
/// stages wait in the rows that do not name a wait strategy; `rates` are the offered rates of
/// the coordinated-omission rows (ticks per second; zeros are ignored).
/// Heap allocations per event while the engine trades in steady state: the flipping workload
/// (every tick closes a bar, flips the signal and makes an order that fills) through a running
/// engine with a silent observer, counted by the global allocator over `n` ticks after a
/// warm-up of the same length. Waits sleep, so no thread spins on this measurement.
pub fn alloc_steady_state(n: usize, placement: PlacementKind) -> Result<f64, String> {
    if !crate::alloc::installed() {
        return Err("the binary did not install dalal_benches::alloc::Counting as its allocator".into());
    }
    let (setup, ticks) = ticks_flipping(2 * n);
    let engine = Engine::new(&setup, quanta::Clock::new(), 0);
    let cfg = placement_config(placement, WaitKind::Sleep);
    let mut running = Running::start(engine, &cfg, Null, Arc::new(LiveStats::new(1)));
    let (warm, measured) = ticks.split_at(n);
    for t in warm {
        running.publish(Input::Tick(*t));
    }
    running.wait_idle();
    let before = crate::alloc::count();
    for t in measured {
        running.publish(Input::Tick(*t));
    }
    running.wait_idle();
    let allocs = crate::alloc::count() - before;
    let stopped = running.stop();
    if stopped.engine.order.counters.fills < (2 * n) as u64 / 2 {
        return Err(format!("the workload did not trade ({} fills)", stopped.engine.order.counters.fills));
    }
    Ok(allocs as f64 / n as f64)
}

pub fn run(quick: bool, wait: WaitKind, rates: &[u64]) -> Report {
    let sizes = Sizes::new(quick);
    let n = sizes.paced;
    let gap = Duration::from_micros(10);
    let cores = available_cores().len().max(1);
    let mut skipped = Vec::new();
    let mut rows = vec![
        LabRow::latency("hop/disruptor", &hop_disruptor(n, gap, wait)),
        LabRow::latency("hop/crossbeam", &hop_crossbeam(n, gap, wait)),
        LabRow::latency("hop/std_mpsc", &hop_std_mpsc(n, gap, wait)),
        LabRow::latency("hop/ingress", &hop_ingress(n, gap, wait)),
        LabRow::saturated("hop_saturated/disruptor", &hop_saturated_disruptor(sizes.saturated, wait)),
        LabRow::saturated("hop_saturated/crossbeam", &hop_saturated_crossbeam(sizes.saturated, wait)),
        LabRow::saturated("hop_saturated/std_mpsc", &hop_saturated_std_mpsc(sizes.saturated, wait)),
        LabRow::latency("tick_to_order/fused", &tick_to_order(n, gap, PlacementKind::Fused, wait, 0)),
    ];
    // The unsuffixed pipelined row always runs: with too few cores to spin, it sleeps.
    let piped_wait = if skip_reason(PlacementKind::Pipelined, wait, cores).is_none() { wait } else { WaitKind::Sleep };
    rows.push(LabRow::latency(
        "tick_to_order/pipelined",
        &tick_to_order(n / 4, gap, PlacementKind::Pipelined, piped_wait, 0),
    ));
    for (placement, pname, count) in
        [(PlacementKind::Fused, "fused", n), (PlacementKind::Pipelined, "pipelined", n / 4)]
    {
        for w in [WaitKind::BusySpin, WaitKind::Yield, WaitKind::Sleep] {
            let name = format!("tick_to_order/{pname}/{}", wait_name(w));
            match skip_reason(placement, w, cores) {
                Some(reason) => skipped.push(Skipped { name, reason }),
                None => rows.push(LabRow::latency(&name, &tick_to_order(count, gap, placement, w, 0))),
            }
        }
    }
    for &rate in rates.iter().filter(|r| **r > 0) {
        let h = tick_to_order_at_rate(sizes.offered(rate), rate, PlacementKind::Fused, wait, Stamp::Intended);
        rows.push(LabRow::offered(&format!("tick_to_order/fused@{}", rate_label(rate)), rate, &h));
    }
    for (placement, name) in
        [(PlacementKind::Fused, "alloc/steady_state"), (PlacementKind::Pipelined, "alloc/steady_state/pipelined")]
    {
        match alloc_steady_state(sizes.alloc_events, placement) {
            Ok(per_event) => rows.push(LabRow::allocs(name, sizes.alloc_events as u64, per_event)),
            Err(reason) => skipped.push(Skipped { name: name.into(), reason }),
        }
    }
    let stages = engine_latencies(n, gap, PlacementKind::Fused, wait, 1);
    for (name, h) in [
        ("stage/candle", &stages.candle),
        ("stage/strategy", &stages.strategy),
        ("stage/risk", &stages.risk),
        ("stage/order", &stages.order),
    ] {
        rows.push(LabRow::latency(name, h));
    }
    wire_rows(quick, rates, &mut rows, &mut skipped);
    let (c, s) = pipeline_throughput(sizes.throughput, wait);
    rows.push(LabRow::throughput("throughput/pipeline", c, s));
    let (c, s) = backtest_throughput(sizes.throughput);
    rows.push(LabRow::throughput("throughput/backtest", c, s));
    scale_rows(&sizes, &crate::scale::ACCOUNTS, &mut rows, &mut skipped);
    Report { machine: Machine::read(wait), results: rows, skipped }
}

/// Only the `scale/accounts=N` group (`--only scale`), at `accounts` accounts (one account is
/// always measured: the ratios are taken against it).
pub fn run_scale(quick: bool, wait: WaitKind, accounts: &[usize]) -> Report {
    let (mut rows, mut skipped) = (Vec::new(), Vec::new());
    scale_rows(&Sizes::new(quick), accounts, &mut rows, &mut skipped);
    Report { machine: Machine::read(wait), results: rows, skipped }
}

/// The `scale/accounts=N` group (see [`crate::scale`]); listed as skipped if a point's
/// config does not validate.
fn scale_rows(sizes: &Sizes, accounts: &[usize], rows: &mut Vec<LabRow>, skipped: &mut Vec<Skipped>) {
    let points = crate::scale::points(accounts);
    match crate::scale::measure(&points, sizes.scale_ticks, sizes.scale_reps) {
        Ok(points) => rows.extend(crate::scale::rows(&points)),
        Err(e) => skipped.push(Skipped { name: "scale/accounts".into(), reason: e.to_string() }),
    }
}

/// Offered rate of the `wire_to_wire` row: low enough that it measures the path, not a queue.
pub const WIRE_PACED_RATE: u64 = 10_000;

/// Wire to wire over loopback: separate feed and exchange-simulator processes (this executable
/// re-run in their roles, see [`crate::wire::dispatch_role`]) around the pinned engine thread.
/// `wire_to_wire` at [`WIRE_PACED_RATE`] with its two network legs, then one row per offered
/// rate. A run that fails (no loopback, a role that cannot start) is listed as skipped.
fn wire_rows(quick: bool, rates: &[u64], rows: &mut Vec<LabRow>, skipped: &mut Vec<Skipped>) {
    let runs = std::iter::once(("wire_to_wire".to_string(), WIRE_PACED_RATE))
        .chain(rates.iter().filter(|r| **r > 0).map(|&r| (format!("wire_to_wire@{}", rate_label(r)), r)));
    for (i, (name, rate)) in runs.enumerate() {
        // Three seconds of schedule (the quick run caps the count).
        let n = ((rate as f64 * 3.0) as usize).clamp(2_000, 500_000);
        match crate::wire::wire_to_wire(n, rate, quick) {
            Ok(r) => {
                if r.feed_stats.missing > 0 {
                    eprintln!("{name}: {} of {} datagrams lost on loopback", r.feed_stats.missing, r.n);
                }
                rows.push(LabRow::offered(&name, rate, &r.latency));
                if i == 0 {
                    rows.push(LabRow::latency("wire_to_wire/feed_leg", &r.feed_leg));
                    rows.push(LabRow::latency("wire_to_wire/order_leg", &r.order_leg));
                    rows.push(LabRow::offered("wire_round_trip", rate, &r.round_trip));
                }
            }
            Err(e) => skipped.push(Skipped { name, reason: e.to_string() }),
        }
    }
}

/// The table printed to the terminal, then one line per skipped combination.
pub fn table(report: &Report) -> String {
    let rows = &report.results;
    let base = rows.iter().find(|r| r.name == "hop/disruptor").and_then(|r| r.p50_ns).unwrap_or(1).max(1);
    let mut s = format!(
        "{:<34} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>11} {:>8}  {}\n",
        "name", "count", "p50", "p90", "p99", "p99.9", "p99.99", "max", "p50/hop", "rate"
    );
    for r in rows.iter().filter(|r| r.scale.is_none()) {
        let rate = match (r.msgs_per_s, r.offered_per_s) {
            (Some(m), _) => format!("{:.2}M msg/s", m / 1e6),
            (None, Some(o)) => format!("offered {}/s", rate_label(o)),
            _ => String::new(),
        };
        if let Some(a) = r.allocs_per_event {
            s.push_str(&format!("{:<34} {:>9} {:>10.4} allocs/event\n", r.name, r.count, a));
            continue;
        }
        match (r.p50_ns, r.ticks_per_s) {
            (Some(p50), _) => s.push_str(&format!(
                "{:<34} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>11} {:>7.2}x  {rate}\n",
                r.name,
                r.count,
                human_ns(p50),
                human_ns(r.p90_ns.unwrap_or(0)),
                human_ns(r.p99_ns.unwrap_or(0)),
                human_ns(r.p999_ns.unwrap_or(0)),
                human_ns(r.p9999_ns.unwrap_or(0)),
                human_ns(r.max_ns.unwrap_or(0)),
                p50 as f64 / base as f64
            )),
            (None, Some(tps)) => s.push_str(&format!("{:<34} {:>9} {:>10.2}M ticks/s\n", r.name, r.count, tps / 1e6)),
            _ => {}
        }
    }
    if rows.iter().any(|r| r.scale.is_some()) {
        s.push_str(&crate::scale::table(rows));
    }
    for k in &report.skipped {
        s.push_str(&format!("skipped {}: {}\n", k.name, k.reason));
    }
    s
}

/// A latency for people: three significant figures and a unit, so tails from nanoseconds to
/// seconds fit one column (`bench.json` keeps the exact nanoseconds).
pub fn human_ns(ns: u64) -> String {
    let v = ns as f64;
    let (x, unit) = match ns {
        0..=999 => return format!("{ns}ns"),
        1_000..=999_999 => (v / 1e3, "µs"),
        1_000_000..=999_999_999 => (v / 1e6, "ms"),
        _ => (v / 1e9, "s"),
    };
    let digits = if x >= 100.0 {
        0
    } else if x >= 10.0 {
        1
    } else {
        2
    };
    format!("{x:.digits$}{unit}")
}

/// Writes `bench.json` and `latency.svg` (latency against percentile, one panel per group).
pub fn write(dir: &Path, report: &Report) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut f = std::fs::File::create(dir.join("bench.json"))?;
    f.write_all(serde_json::to_string_pretty(report).unwrap_or_default().as_bytes())?;
    f.write_all(b"\n")?;
    std::fs::write(dir.join("latency.svg"), svg(&report.results, &report.machine))
}

/// The panel a row is drawn in: what it measures (`hop`, `tick_to_order`, `stage`, `wire`).
fn group(name: &str) -> &str {
    if name.starts_with("wire") {
        return "wire";
    }
    name.split(['/', '@']).next().unwrap_or(name)
}

/// Where a percentile sits on the "nines" axis: −log10(1 − p), so 50 %, 90 %, 99 %, 99.9 %,
/// 99.99 % are evenly spaced as latency people read them; the maximum one step further.
const NINES: [(&str, f64); 6] = [("50", 0.301), ("90", 1.0), ("99", 2.0), ("99.9", 3.0), ("99.99", 4.0), ("max", 5.0)];

/// Ten colours that tell apart; a panel never has more lines than this in practice, and a
/// line past ten is dashed rather than given a colour already used.
const PALETTE: [&str; 10] =
    ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/// The latency plot: one panel per group, latency (log scale) against percentile on a nines
/// axis, distinct colours within a panel, and the machine in the caption.
pub fn svg(rows: &[LabRow], machine: &Machine) -> String {
    const PW: f64 = 560.0;
    const PH: f64 = 330.0;
    const L: f64 = 70.0;
    const R: f64 = 200.0;
    const T: f64 = 34.0;
    const B: f64 = 44.0;
    const COLS: usize = 2;
    // Scale rows time a backtest's service time, not a path; they have their own table.
    let lat: Vec<&LabRow> = rows.iter().filter(|r| r.p50_ns.is_some() && r.scale.is_none()).collect();
    let mut groups: Vec<(&str, Vec<&LabRow>)> = Vec::new();
    for r in &lat {
        let g = group(&r.name);
        match groups.iter_mut().find(|(n, _)| *n == g) {
            Some((_, v)) => v.push(r),
            None => groups.push((g, vec![r])),
        }
    }
    let panels_down = groups.len().div_ceil(COLS).max(1);
    let (w, h) = (PW * COLS as f64, PH * panels_down as f64 + 60.0);
    let vals = |r: &LabRow| {
        [r.p50_ns, r.p90_ns, r.p99_ns, r.p999_ns, r.p9999_ns, r.max_ns].map(|v| v.map(|v| v.max(1) as f64))
    };
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (k, (name, members)) in groups.iter().enumerate() {
        let (ox, oy) = (PW * (k % COLS) as f64, PH * (k / COLS) as f64);
        let all: Vec<f64> = members.iter().flat_map(|r| vals(r)).flatten().collect();
        let lo = all.iter().copied().fold(f64::MAX, f64::min).max(1.0).log10().floor();
        let hi = all.iter().copied().fold(1.0f64, f64::max).log10().ceil().max(lo + 1.0);
        let x = |n: f64| ox + L + (PW - L - R) * n / 5.0;
        let y = |v: f64| oy + T + (PH - T - B) * (1.0 - (v.log10() - lo) / (hi - lo));
        s.push_str(&format!(
            "<g class=\"panel\" id=\"panel-{name}\"><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" font-weight=\"bold\">{name}</text>\n",
            ox + L,
            oy + 20.0
        ));
        let mut e = lo as i32;
        while f64::from(e) <= hi {
            let v = 10f64.powi(e);
            s.push_str(&format!(
                "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e4e4e4\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
                x(0.0),
                x(5.0),
                x(0.0) - 6.0,
                y(v) + 4.0,
                human_ns(v as u64),
                yy = y(v)
            ));
            e += 1;
        }
        for (label, n) in NINES {
            s.push_str(&format!(
                "<line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#f0f0f0\"/><text x=\"{xx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>\n",
                oy + T,
                oy + PH - B,
                oy + PH - B + 16.0,
                xx = x(n)
            ));
        }
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">percentile</text>\n",
            x(2.5),
            oy + PH - B + 32.0
        ));
        for (i, r) in members.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            let dash = if i >= PALETTE.len() { " stroke-dasharray=\"5,3\"" } else { "" };
            let pts: Vec<String> = vals(r)
                .iter()
                .zip(NINES)
                .filter_map(|(v, (_, n))| v.map(|v| format!("{:.1},{:.1}", x(n), y(v))))
                .collect();
            s.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\"{dash} points=\"{}\"/>\n",
                pts.join(" ")
            ));
            s.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{c}\">{}</text>\n",
                x(5.0) + 10.0,
                oy + T + 14.0 * i as f64 + 8.0,
                r.name
            ));
        }
        s.push_str("</g>\n");
    }
    let m = machine;
    s.push_str(&format!(
        "<text x=\"12\" y=\"{:.1}\" font-size=\"12\">Latency against percentile (nines axis), log scale; one panel per group. Machine: {} · {} cores, available {:?} · pinning: {} · wait: {} · {} build</text>\n</svg>\n",
        h - 24.0,
        m.cpu,
        m.cores,
        m.cores_available,
        m.pinning,
        m.wait,
        m.profile
    ));
    s
}

/// The lab's command line, shared by `dalal-lab` and `cargo bench --bench lab`:
/// `[--quick] [--out DIR] [--rates 100000,1000000] [--wait busy-spin|yield] [--only scale
/// [--accounts 1,10,50,200,1000]]` (`--only scale`: the `scale/accounts=N` group alone, at the
/// given account counts). Returns the exit
/// code. The wire-to-wire rows run the calling executable again as their feed and exchange
/// processes, so it hands its argv to [`crate::wire::dispatch_role`] first.
pub fn main_with(args: &[String]) -> i32 {
    if let Some(code) = crate::wire::dispatch_role(args) {
        return code;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let out = value("--out").unwrap_or_else(|| "target/bench".into());
    let rates = match value("--rates") {
        None => DEFAULT_RATES.to_vec(),
        Some(list) => match list.split(',').map(|r| r.trim().parse::<u64>()).collect::<Result<Vec<_>, _>>() {
            Ok(rates) if !rates.is_empty() && !rates.contains(&0) => rates,
            _ => {
                eprintln!("--rates {list:?}: expected ticks per second above zero, e.g. 100000,1000000");
                return 2;
            }
        },
    };
    let wait = match value("--wait").as_deref() {
        None | Some("busy-spin") => WaitKind::BusySpin,
        Some("yield") => WaitKind::Yield,
        Some(other) => {
            eprintln!("--wait {other:?}: expected busy-spin or yield");
            return 2;
        }
    };
    let accounts = match value("--accounts") {
        None => crate::scale::ACCOUNTS.to_vec(),
        Some(list) => match list.split(',').map(|n| n.trim().parse::<usize>()).collect::<Result<Vec<_>, _>>() {
            Ok(a) if !a.is_empty() && a.iter().all(|&n| (1..=u16::MAX as usize).contains(&n)) => a,
            _ => {
                eprintln!("--accounts {list:?}: expected account counts from 1 to 65535, e.g. 1,10,200");
                return 2;
            }
        },
    };
    let report = match value("--only").as_deref() {
        None => run(quick, wait, &rates),
        Some("scale") => run_scale(quick, wait, &accounts),
        Some(other) => {
            eprintln!("--only {other:?}: expected scale");
            return 2;
        }
    };
    let m = &report.machine;
    println!("{} build on {} ({} cores), {}, wait {}", m.profile, m.cpu, m.cores, m.pinning, m.wait);
    print!("{}", table(&report));
    match write(std::path::Path::new(&out), &report) {
        Ok(()) => {
            println!("wrote {out}/bench.json and {out}/latency.svg");
            0
        }
        Err(e) => {
            eprintln!("cannot write {out}: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: impl Iterator<Item = u64>) -> LatencyHistogram {
        let mut h = LatencyHistogram::new();
        for v in values {
            h.record(v);
        }
        h
    }

    #[test]
    fn report_has_the_documented_shape() {
        let h = hist((1..1000).map(|v| v * 100));
        let saturated = HopRun { hist: h.clone(), secs: 0.5 };
        let report = Report {
            machine: Machine::read(WaitKind::Sleep),
            results: vec![
                LabRow::latency("hop/disruptor", &h),
                LabRow::throughput("throughput/backtest", 10, 0.5),
                LabRow::saturated("hop_saturated/disruptor", &saturated),
                LabRow::offered("tick_to_order/fused@100k", 100_000, &h),
                LabRow {
                    count: 1_000,
                    ticks_per_s: Some(2e6),
                    scale: Some(ScaleFields {
                        accounts: 10,
                        strategies: 40,
                        instruments: 50,
                        orders: 30,
                        orders_per_s: 6e4,
                        cost_vs_one_account: 1.5,
                        samples_ticks_per_s: vec![2e6],
                        held_positions: 40,
                        vs_mark_every: Some(3.0),
                        refused: None,
                    }),
                    ..LabRow::latency("scale/accounts=10", &h)
                },
            ],
            skipped: vec![Skipped { name: "tick_to_order/pipelined/busy-spin".into(), reason: "cores".into() }],
        };
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), &report).expect("write");
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("bench.json")).expect("json")).expect("parse");
        for k in ["cpu", "cores", "pinning", "wait", "profile"] {
            assert!(!v["machine"][k].is_null(), "machine.{k}");
        }
        let r0 = &v["results"][0];
        for k in ["name", "count", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "p9999_ns", "max_ns"] {
            assert!(!r0[k].is_null(), "{k}");
        }
        assert!(r0.get("msgs_per_s").is_none() && r0.get("ticks_per_s").is_none());
        assert_eq!(v["results"][1]["ticks_per_s"], 20.0);
        assert!(v["results"][1].get("p50_ns").is_none());
        assert_eq!(v["results"][2]["msgs_per_s"], 999.0 / 0.5);
        assert!(!v["results"][2]["p99_ns"].is_null());
        assert_eq!(v["results"][3]["offered_per_s"], 100_000);
        // Scale fields sit in the row itself, and only in scale rows.
        let r4 = &v["results"][4];
        assert_eq!((r4["accounts"].as_u64(), r4["strategies"].as_u64()), (Some(10), Some(40)));
        assert_eq!((r4["cost_vs_one_account"].as_f64(), r4["vs_mark_every"].as_f64()), (Some(1.5), Some(3.0)));
        assert!(r4.get("scale").is_none() && r4["p99_ns"].is_u64() && r4["ticks_per_s"].is_f64());
        assert!(r0.get("accounts").is_none());
        assert_eq!(v["skipped"][0]["name"], "tick_to_order/pipelined/busy-spin");
        assert_eq!(v["skipped"][0]["reason"], "cores");
        let svg = std::fs::read_to_string(dir.path().join("latency.svg")).expect("svg");
        assert!(svg.starts_with("<svg") && svg.contains("hop/disruptor") && svg.contains("polyline"));
        assert!(!svg.contains("scale/"));
        // One panel per group, each on the nines axis, the machine in the caption.
        assert!(svg.contains("id=\"panel-hop\"") && svg.contains("id=\"panel-tick_to_order\""), "{svg}");
        assert!(svg.contains(">99.9</text>") && svg.contains(">max</text>"));
        assert!(svg.contains(&report.machine.cpu) && svg.contains("wait: "));

        // Lines in one panel never share a colour (up to the palette's ten).
        let names: Vec<String> = (0..8).map(|i| format!("stage/s{i}")).collect();
        let many: Vec<LabRow> = names.iter().map(|n| LabRow::latency(n, &h)).collect();
        let plot = super::svg(&many, &report.machine);
        let colours: Vec<&str> = plot
            .lines()
            .filter(|l| l.starts_with("<polyline"))
            .filter_map(|l| l.split("stroke=\"").nth(1)?.split('"').next())
            .collect();
        let distinct: std::collections::BTreeSet<&&str> = colours.iter().collect();
        assert_eq!((colours.len(), distinct.len()), (8, 8), "{plot}");
        let t = table(&report);
        assert!(t.lines().next().is_some_and(|l| l.contains("p99.99") && l.contains("p50/hop")));
        assert!(t.lines().any(|l| l.starts_with("hop_saturated/disruptor") && l.contains("M msg/s")));
        assert!(t.lines().any(|l| l.starts_with("throughput/backtest") && l.contains("M ticks/s")));
        assert!(t.lines().any(|l| l.starts_with("tick_to_order/fused@100k") && l.contains("offered 100k/s")));
        assert!(t.contains("skipped tick_to_order/pipelined/busy-spin: cores"));
        assert!(t.lines().any(|l| l.starts_with("scale/accounts=10 ") && l.contains("1.50x") && l.contains("3.00x")));
    }

    #[test]
    fn only_combinations_with_more_spinning_threads_than_cores_are_skipped() {
        use PlacementKind::{Fused, Pipelined};
        use WaitKind::{BusySpin, Sleep, Yield};
        let skipped = |cores| {
            [Fused, Pipelined]
                .into_iter()
                .flat_map(|p| [BusySpin, Yield, Sleep].map(|w| (p, w)))
                .filter(|&(p, w)| skip_reason(p, w, cores).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(skipped(2), vec![(Pipelined, BusySpin)]);
        assert_eq!(skipped(4), vec![(Pipelined, BusySpin)]);
        assert_eq!(skipped(5), vec![]);
        assert_eq!(skipped(1), vec![(Fused, BusySpin), (Pipelined, BusySpin)]);
        let reason = skip_reason(Pipelined, BusySpin, 2).unwrap_or_default();
        assert!(reason.contains("5 free cores") && reason.contains("2 available"), "{reason}");
    }

    #[test]
    fn human_latencies() {
        assert_eq!(human_ns(711), "711ns");
        assert_eq!(human_ns(14_911), "14.9µs");
        assert_eq!(human_ns(4_184_063), "4.18ms");
        assert_eq!(human_ns(130_154_495), "130ms");
        assert_eq!(human_ns(2_075_131_903), "2.08s");
    }

    #[test]
    fn rate_labels() {
        assert_eq!(rate_label(100_000), "100k");
        assert_eq!(rate_label(1_000_000), "1M");
        assert_eq!(rate_label(1_500_000), "1.5M");
        assert_eq!(rate_label(250), "250");
        assert_eq!(rate_label(12_345), "12.345k");
    }

    #[test]
    fn schedule_due_times_convert_back_to_the_rate() {
        let clock = quanta::Clock::new();
        let s = Schedule::start(&clock, 1_000_000);
        // Message 1,000,000 at 1M/s is due one second after the first.
        let ns = clock.delta_as_nanos(s.due(0), s.due(1_000_000));
        assert!((ns as i64 - 1_000_000_000).abs() < 1_000, "{ns}");
        let ns = clock.delta_as_nanos(s.due(10), s.due(11));
        assert!((999..=1_001).contains(&ns), "{ns}");
        // Waiting for a message long past due returns at once with its due time, not now.
        let late = Schedule::start(&clock, 1_000_000_000);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(late.wait(5), late.due(5));
        assert!(late.stamp(late.due(5), Stamp::Actual) > late.due(1_000_000));
    }

    #[test]
    fn intended_stamps_charge_the_wait_a_stalled_consumer_causes() {
        // 2,000 messages due 10 µs apart into a 4-slot ring; the consumer sleeps 1 ms every 50,
        // so the producer blocks on a full ring and falls further behind with every stall.
        let stall = Some(Stall { every: 50, pause: Duration::from_millis(1) });
        let run = |stamp| hop_scheduled(2_000, 100_000, 4, stamp, stall, WaitKind::Yield).percentiles();
        let actual = run(Stamp::Actual);
        let intended = run(Stamp::Intended);
        assert_eq!((actual.count, intended.count), (2_000, 2_000));
        assert!(intended.p50_ns > actual.p50_ns, "intended {intended:?} actual {actual:?}");
        // Behind by at least one stall for most messages: the corrected median is in milliseconds.
        assert!(intended.p50_ns > 1_000_000, "{intended:?}");
    }

    #[test]
    fn saturated_hops_deliver_everything_and_report_a_rate() {
        for run in [
            hop_saturated_disruptor(10_000, WaitKind::Yield),
            hop_saturated_crossbeam(10_000, WaitKind::Yield),
            hop_saturated_std_mpsc(10_000, WaitKind::Yield),
        ] {
            assert_eq!(run.hist.len(), 10_000);
            assert!(run.secs > 0.0 && run.msgs_per_s() > 0.0, "{run:?}");
        }
    }

    #[test]
    fn stage_breakdown_comes_from_a_stage_timed_fused_run() {
        let l = engine_latencies(200, Duration::from_micros(10), PlacementKind::Fused, WaitKind::Yield, 1);
        for h in [&l.candle, &l.strategy, &l.risk, &l.order] {
            assert_eq!(h.len(), 200);
        }
        // The first ticks only fill the EMAs; after that every tick flips the cross and orders.
        assert!(l.tick_to_order.len() >= 190, "{}", l.tick_to_order.len());
        let off = engine_latencies(200, Duration::from_micros(10), PlacementKind::Fused, WaitKind::Yield, 0);
        assert!(off.candle.is_empty() && off.order.is_empty() && off.tick_to_order.len() >= 190);
    }
}
