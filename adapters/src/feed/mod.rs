//! Feeds: where ticks and timers come from. Each source — the synthetic market, a replayed tick
//! file, the UDP tick feed, the wall-clock timer — is a [`FeedSource`]: asked to publish what is
//! ready into the ingress ring through an [`IngressPublisher`], it says whether it published,
//! had nothing yet, or has ended. The same source runs on a thread of its own ([`drive`]) or,
//! for the colocated configuration, in line on the engine thread ([`Inline`]). Broker market
//! data will be one more source.

mod file;
mod synthetic;
mod timer;
mod udp;

pub use file::TickFileSource;
pub use synthetic::SyntheticSource;
pub use timer::WallTimer;
pub use udp::{OriginLog, UdpSource};

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dalal_core::engine::placement::{IngressPublisher, InlineSource, SourcePoll};

use crate::csv_ticks::RejectCounts;

/// What one poll did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedPoll {
    /// Published this many events.
    Published(usize),
    /// Nothing was ready within the wait allowed.
    Idle,
    /// The source has ended (a file at its end); it is not polled again.
    Done,
}

/// What a source reports when it stops.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedReport {
    pub name: String,
    /// Events published (ticks and the timers a replay adds).
    pub published: u64,
    /// Ticks refused at the edge, by reason.
    pub rejects: RejectCounts,
    /// Records (lines, datagrams) read, good or bad.
    pub received: u64,
    /// Sequence numbers missing and records delivered twice, for sequenced feeds; the last
    /// sequence number delivered.
    pub gaps: u64,
    /// Times a gap opened (one per run of missing numbers).
    pub gap_events: u64,
    pub duplicates: u64,
    pub last_seq: u64,
    /// Why the source stopped early, if it did.
    pub error: Option<String>,
}

/// A source of engine input.
pub trait FeedSource: Send {
    /// Names the source in logs and reports (`synthetic`, `csv:day.csv`, `udp:0.0.0.0:9000`).
    fn name(&self) -> String;

    /// Publishes what is ready, at most `room` events. When nothing is ready it may wait up to
    /// `wait` for something to become ready (a thread of its own passes a few milliseconds; the
    /// engine thread passes zero and never blocks).
    fn poll(&mut self, out: &mut IngressPublisher, room: usize, wait: Duration) -> FeedPoll;

    /// Counts so far.
    fn report(&self) -> FeedReport;
}

impl<F: FeedSource + ?Sized> FeedSource for Box<F> {
    fn name(&self) -> String {
        (**self).name()
    }
    #[inline]
    fn poll(&mut self, out: &mut IngressPublisher, room: usize, wait: Duration) -> FeedPoll {
        (**self).poll(out, room, wait)
    }
    fn report(&self) -> FeedReport {
        (**self).report()
    }
}

/// Events a source publishes per poll on its own thread before the stop flag is looked at again.
const THREAD_ROOM: usize = 4096;
/// Longest a source on its own thread waits in one poll, so a stop is noticed promptly.
const THREAD_WAIT: Duration = Duration::from_millis(20);

/// Runs `source` on the calling thread until it ends or `stop` is set; returns its report.
pub fn drive(source: &mut dyn FeedSource, out: &mut IngressPublisher, stop: &AtomicBool) -> FeedReport {
    while !stop.load(Ordering::Acquire) {
        if source.poll(out, THREAD_ROOM, THREAD_WAIT) == FeedPoll::Done {
            break;
        }
    }
    source.report()
}

/// A source polled by the fused engine thread itself (see
/// [`InlineSource`](dalal_core::engine::placement::InlineSource)). The engine thread drops it
/// when it ends or the engine stops; its last report is then in the [`ReportSlot`].
pub struct Inline<F: FeedSource> {
    source: F,
    slot: ReportSlot,
}

/// Where an [`Inline`] source leaves its report when it is dropped.
pub type ReportSlot = std::sync::Arc<std::sync::Mutex<Option<FeedReport>>>;

impl<F: FeedSource> Inline<F> {
    pub fn new(source: F) -> (Inline<F>, ReportSlot) {
        let slot = ReportSlot::default();
        (Inline { source, slot: slot.clone() }, slot)
    }
}

impl<F: FeedSource> Drop for Inline<F> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.slot.lock() {
            *s = Some(self.source.report());
        }
    }
}

impl<F: FeedSource + 'static> InlineSource for Inline<F> {
    #[inline]
    fn poll(&mut self, out: &mut IngressPublisher, room: usize) -> SourcePoll {
        match self.source.poll(out, room, Duration::ZERO) {
            FeedPoll::Published(n) => SourcePoll::Published(n),
            FeedPoll::Idle => SourcePoll::Published(0),
            FeedPoll::Done => SourcePoll::Done,
        }
    }
}

/// Waits `d` precisely: sleeps most of it and yields the rest, so sleep's wake-up slack does not
/// make a paced source late.
pub(crate) fn pause(d: Duration) {
    let until = std::time::Instant::now() + d;
    if d > crate::replay::SLEEP_ABOVE {
        std::thread::sleep(d - crate::replay::SLEEP_ABOVE / 2);
    }
    while std::time::Instant::now() < until {
        std::thread::yield_now();
    }
}
