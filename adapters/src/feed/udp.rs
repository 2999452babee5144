//! The UDP tick feed as an engine input: [`TickDatagram`]s from one socket, sequence-checked
//! (gaps and stale copies counted), published in arrival order with their sequence number as
//! their source position. Each datagram's send stamp is kept in an [`OriginLog`] for a while, so
//! an order gateway can carry the stamp of the tick that caused an order (wire-to-wire
//! measurement) without the stamp travelling through the engine.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dalal_core::engine::placement::IngressPublisher;
use dalal_core::model::Input;

use super::{FeedPoll, FeedReport, FeedSource};
use crate::wire::{FeedHandlerError, TickDatagram, UdpFeedHandler};

/// Datagrams taken per poll at most: bounds what one poll can queue behind a burst.
const BATCH: usize = 64;

/// Recent datagrams' send stamps and receive times (`CLOCK_MONOTONIC` ns) by sequence number,
/// the last [`OriginLog::LEN`] of them.
pub struct OriginLog {
    stamps: Box<[(AtomicU64, AtomicU64)]>,
    /// The highest sequence number recorded.
    latest: AtomicU64,
}

impl OriginLog {
    pub const LEN: usize = 1 << 14;

    fn new() -> OriginLog {
        OriginLog {
            stamps: (0..Self::LEN).map(|_| (AtomicU64::new(0), AtomicU64::new(0))).collect(),
            latest: AtomicU64::new(0),
        }
    }

    fn record(&self, seq: u64, sent_ns: u64, received_ns: u64) {
        if let Some((s, r)) = self.stamps.get(seq as usize % Self::LEN) {
            s.store(sent_ns, Ordering::Relaxed);
            r.store(received_ns, Ordering::Relaxed);
        }
        self.latest.fetch_max(seq, Ordering::Release);
    }

    /// The highest sequence number recorded so far.
    pub fn latest(&self) -> u64 {
        self.latest.load(Ordering::Acquire)
    }

    /// The send stamp and receive time of datagram `seq`, while it is recent enough to be
    /// kept; zeros otherwise.
    pub fn get(&self, seq: u64) -> (u64, u64) {
        self.stamps
            .get(seq as usize % Self::LEN)
            .map_or((0, 0), |(s, r)| (s.load(Ordering::Relaxed), r.load(Ordering::Relaxed)))
    }
}

pub struct UdpSource {
    handler: UdpFeedHandler,
    addr: SocketAddr,
    origins: Arc<OriginLog>,
    published: u64,
    error: Option<String>,
}

impl UdpSource {
    /// Binds `addr` (port 0 picks a free one) for an engine of `instruments` instruments;
    /// `first_seq` as in [`crate::wire::SequenceTracker::new`].
    pub fn bind(addr: SocketAddr, instruments: usize, first_seq: Option<u64>) -> Result<UdpSource, FeedHandlerError> {
        let mut handler = UdpFeedHandler::bind(addr, instruments, first_seq)?;
        handler.set_batch_limit(BATCH);
        let addr = handler.local_addr().unwrap_or(addr);
        Ok(UdpSource { handler, addr, origins: Arc::new(OriginLog::new()), published: 0, error: None })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The socket's receive buffer as granted, bytes.
    pub fn recv_buffer_bytes(&self) -> Option<usize> {
        self.handler.recv_buffer_bytes()
    }

    pub fn origins(&self) -> Arc<OriginLog> {
        self.origins.clone()
    }
}

impl FeedSource for UdpSource {
    fn name(&self) -> String {
        format!("udp:{}", self.addr)
    }

    #[inline]
    fn poll(&mut self, out: &mut IngressPublisher, room: usize, wait: Duration) -> FeedPoll {
        if self.error.is_some() {
            return FeedPoll::Done;
        }
        self.handler.set_batch_limit(room.min(BATCH));
        let origins = &self.origins;
        let got = self.handler.poll(Some(wait), &mut |dg: &TickDatagram| {
            // Only stamped datagrams are timed: a clock read per datagram is the price.
            let received = if dg.sent_ns != 0 { crate::wire::monotonic_ns() } else { 0 };
            origins.record(dg.seq, dg.sent_ns, received);
            out.publish(Input::Tick(dg.tick), dg.seq);
        });
        match got {
            Ok(0) => FeedPoll::Idle,
            Ok(n) => {
                self.published += n as u64;
                FeedPoll::Published(n)
            }
            Err(e) => {
                tracing::error!(error = %e, feed = %self.addr, "UDP feed stopped");
                self.error = Some(e.to_string());
                FeedPoll::Done
            }
        }
    }

    fn report(&self) -> FeedReport {
        let st = self.handler.stats();
        let mut rejects = crate::csv_ticks::RejectCounts::default();
        rejects.add_n(dalal_core::model::TickReject::Malformed, st.malformed);
        rejects.add_n(dalal_core::model::TickReject::UnknownSymbol, st.unknown_instrument);
        rejects.add_n(dalal_core::model::TickReject::DuplicateSequence, st.stale);
        FeedReport {
            name: self.name(),
            published: self.published,
            received: st.received,
            rejects,
            gaps: st.missing,
            gap_events: st.gap_events,
            duplicates: st.stale,
            last_seq: st.last_seq,
            error: self.error.clone(),
        }
    }
}
