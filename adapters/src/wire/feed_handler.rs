//! The UDP market-data handler: a non-blocking socket under a `mio` poll, drained completely
//! on every readiness (the registration is edge-triggered, so a partial drain would strand
//! datagrams until the next one arrives). Sequence numbers are checked here, at the edge, so
//! the engine sees only in-order ticks and the counters say exactly what the network lost.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

use super::tick_datagram::{TickDatagram, DATAGRAM_LEN};

const FEED: Token = Token(0);
/// Receive buffer asked of the kernel: bursts at a million ticks a second must not overflow
/// it while the engine is busy with one tick. The kernel may grant less (`net.core.rmem_max`).
const RECV_BUFFER_BYTES: libc::c_int = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FeedHandlerError {
    #[error("cannot bind the UDP feed socket to {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("cannot set up the feed poll: {0}")]
    Poll(io::Error),
    #[error("UDP receive failed: {0}")]
    Recv(io::Error),
}

/// What the sequence check says about one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqVerdict {
    /// The expected next one.
    InOrder,
    /// Newer than expected: `missing` datagrams were skipped. The datagram itself is used.
    Gap { missing: u64 },
    /// Not newer than the last one used: a duplicate, or one that arrived after its
    /// successors. Dropped, since the engine has moved past its time.
    Stale,
}

/// Follows one feed's sequence numbers.
#[derive(Clone, Copy, Debug)]
pub struct SequenceTracker {
    /// The sequence number the next datagram should carry; `None` until the first one when
    /// joining a feed mid-stream.
    next: Option<u64>,
}

impl SequenceTracker {
    /// `first`: the number the feed starts at, so leading losses count too; `None` to take
    /// whatever arrives first as the start (joining a running feed).
    pub fn new(first: Option<u64>) -> SequenceTracker {
        SequenceTracker { next: first }
    }

    pub fn observe(&mut self, seq: u64) -> SeqVerdict {
        let verdict = match self.next {
            None => SeqVerdict::InOrder,
            Some(next) if seq == next => SeqVerdict::InOrder,
            Some(next) if seq > next => SeqVerdict::Gap { missing: seq - next },
            Some(_) => return SeqVerdict::Stale,
        };
        self.next = Some(seq.saturating_add(1));
        verdict
    }

    /// Highest sequence number used so far, if any.
    pub fn last(&self) -> Option<u64> {
        self.next.and_then(|n| n.checked_sub(1))
    }
}

/// Counters of one feed handler. Every received datagram lands in exactly one of
/// `delivered`, `stale`, `malformed` and `unknown_instrument`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Datagrams read from the socket.
    pub received: u64,
    /// Ticks handed to the engine.
    pub delivered: u64,
    /// Datagrams never seen: the sum of every gap's size.
    pub missing: u64,
    /// Separate gaps (a run of consecutive losses is one).
    pub gap_events: u64,
    /// Duplicates and out-of-order arrivals, dropped.
    pub stale: u64,
    /// Wrong size, magic or version.
    pub malformed: u64,
    /// Instrument index outside the engine's instrument list.
    pub unknown_instrument: u64,
    /// Highest sequence number delivered.
    pub last_seq: u64,
}

/// Reads tick datagrams from one UDP socket.
pub struct UdpFeedHandler {
    socket: UdpSocket,
    poll: Poll,
    events: Events,
    seq: SequenceTracker,
    stats: FeedStats,
    instruments: u32,
    /// Datagrams read per call at most, so a caller that fell behind still gets control back
    /// (to write orders, read acks) between slices of a backlog.
    batch_limit: usize,
    /// The last call stopped at `batch_limit` before the socket was empty. The registration
    /// is edge-triggered, so no new readiness would report what is already queued: the next
    /// call reads without waiting for one.
    more_waiting: bool,
    /// Larger than a datagram, so an oversized one is seen as oversized rather than truncated
    /// to a valid length.
    buf: [u8; DATAGRAM_LEN * 4],
}

impl UdpFeedHandler {
    /// Binds `addr` (port 0 picks a free one); `instruments` is the engine's instrument count,
    /// `first_seq` as in [`SequenceTracker::new`].
    pub fn bind(addr: SocketAddr, instruments: usize, first_seq: Option<u64>) -> Result<Self, FeedHandlerError> {
        let mut socket = UdpSocket::bind(addr).map_err(|source| FeedHandlerError::Bind { addr, source })?;
        set_recv_buffer(&socket);
        let poll = Poll::new().map_err(FeedHandlerError::Poll)?;
        poll.registry().register(&mut socket, FEED, Interest::READABLE).map_err(FeedHandlerError::Poll)?;
        Ok(UdpFeedHandler {
            socket,
            poll,
            events: Events::with_capacity(4),
            seq: SequenceTracker::new(first_seq),
            stats: FeedStats::default(),
            instruments: u32::try_from(instruments).unwrap_or(u32::MAX),
            batch_limit: usize::MAX,
            more_waiting: false,
            buf: [0; DATAGRAM_LEN * 4],
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// At most `limit` datagrams per [`UdpFeedHandler::poll`] (at least 1); unlimited by
    /// default.
    pub fn set_batch_limit(&mut self, limit: usize) {
        self.batch_limit = limit.max(1);
    }

    /// The socket's receive buffer as granted, bytes.
    pub fn recv_buffer_bytes(&self) -> Option<usize> {
        recv_buffer_bytes(&self.socket)
    }

    pub fn stats(&self) -> FeedStats {
        self.stats
    }

    /// Waits up to `timeout` for readiness (`Some(Duration::ZERO)` for a busy-polling thread:
    /// one `epoll_wait` that never sleeps), then drains the socket, calling `on_tick` for each
    /// in-order datagram as soon as it is decoded. Returns how many ticks were delivered.
    pub fn poll(
        &mut self,
        timeout: Option<Duration>,
        on_tick: &mut impl FnMut(&TickDatagram),
    ) -> Result<usize, FeedHandlerError> {
        if self.more_waiting {
            return self.drain(on_tick);
        }
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(FeedHandlerError::Poll(e)),
        }
        if self.events.is_empty() {
            return Ok(0);
        }
        self.drain(on_tick)
    }

    /// Reads until the socket would block or the batch limit is reached.
    fn drain(&mut self, on_tick: &mut impl FnMut(&TickDatagram)) -> Result<usize, FeedHandlerError> {
        let mut delivered = 0;
        let mut taken = 0;
        loop {
            if taken == self.batch_limit {
                self.more_waiting = true;
                return Ok(delivered);
            }
            let n = match self.socket.recv(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.more_waiting = false;
                    return Ok(delivered);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(FeedHandlerError::Recv(e)),
            };
            self.stats.received += 1;
            taken += 1;
            let dg = match TickDatagram::decode(&self.buf[..n]) {
                Ok(dg) => dg,
                Err(e) => {
                    self.stats.malformed += 1;
                    tracing::debug!(error = %e, "dropped a malformed tick datagram");
                    continue;
                }
            };
            // Sequence first: a datagram refused for its content still arrived, so it must
            // not read as a loss.
            match self.seq.observe(dg.seq) {
                SeqVerdict::InOrder => {}
                SeqVerdict::Gap { missing } => {
                    self.stats.missing += missing;
                    self.stats.gap_events += 1;
                }
                SeqVerdict::Stale => {
                    self.stats.stale += 1;
                    continue;
                }
            }
            if dg.tick.instrument.0 >= self.instruments {
                self.stats.unknown_instrument += 1;
                continue;
            }
            self.stats.delivered += 1;
            self.stats.last_seq = dg.seq;
            delivered += 1;
            on_tick(&dg);
        }
    }
}

/// Best effort: a smaller buffer only means earlier drops, which the gap counters show.
/// `SO_RCVBUFFORCE` (needs `CAP_NET_ADMIN`) lifts `net.core.rmem_max` for this socket alone;
/// the default cap holds only a few hundred small datagrams, a few milliseconds at high rates.
fn set_recv_buffer(socket: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let set = |option: libc::c_int| {
        let size = RECV_BUFFER_BYTES;
        // SAFETY: the fd is open for the socket's lifetime and the option value is a c_int of
        // the size passed.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        rc == 0
    };
    if !set(libc::SO_RCVBUFFORCE) && !set(libc::SO_RCVBUF) {
        tracing::warn!(error = %io::Error::last_os_error(), "cannot enlarge the feed's receive buffer");
    }
}

/// The receive buffer the kernel granted, bytes (it doubles what was asked, for bookkeeping).
pub fn recv_buffer_bytes(socket: &impl std::os::fd::AsRawFd) -> Option<usize> {
    let mut size: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `size` and `len` are valid for writes and `len` holds `size`'s size.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut size as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(size as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dalal_core::model::Tick;
    use dalal_core::model::{InstrumentId, Price, Qty, Timestamp};
    use std::time::Instant;

    fn dg(seq: u64, instrument: u32) -> [u8; DATAGRAM_LEN] {
        let mut b = [0u8; DATAGRAM_LEN];
        TickDatagram {
            seq,
            tick: Tick {
                instrument: InstrumentId(instrument),
                ts: Timestamp(seq as i64),
                price: Price(100),
                qty: Qty(1),
            },
            sent_ns: seq * 10,
        }
        .encode(&mut b);
        b
    }

    /// Polls until `want` datagrams were read or five seconds pass.
    fn read_all(h: &mut UdpFeedHandler, want: u64) -> Vec<u64> {
        let mut seqs = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while h.stats().received < want && Instant::now() < deadline {
            let r = h.poll(Some(Duration::from_millis(10)), &mut |d| seqs.push(d.seq));
            assert!(r.is_ok(), "{r:?}");
        }
        seqs
    }

    #[test]
    fn tracker_counts_gaps_and_stale() {
        let mut t = SequenceTracker::new(Some(1));
        assert_eq!(t.observe(1), SeqVerdict::InOrder);
        assert_eq!(t.observe(2), SeqVerdict::InOrder);
        assert_eq!(t.observe(5), SeqVerdict::Gap { missing: 2 });
        assert_eq!(t.observe(5), SeqVerdict::Stale);
        assert_eq!(t.observe(3), SeqVerdict::Stale);
        assert_eq!(t.observe(6), SeqVerdict::InOrder);
        assert_eq!(t.last(), Some(6));
        let mut join = SequenceTracker::new(None);
        assert_eq!(join.observe(1000), SeqVerdict::InOrder);
        assert_eq!(join.observe(1002), SeqVerdict::Gap { missing: 1 });
        let mut lead = SequenceTracker::new(Some(1));
        assert_eq!(lead.observe(4), SeqVerdict::Gap { missing: 3 });
    }

    #[test]
    fn real_sockets_gaps_duplicates_and_garbage() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!());
        let mut h = UdpFeedHandler::bind(addr, 2, Some(1)).expect("bind");
        let to = h.local_addr().expect("addr");
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("sender");
        // 1, 2, (3, 4 lost), 5, 5 again, 6 on an unknown instrument, garbage, 7, (8 lost), 9.
        for seq in [1, 2, 5, 5] {
            tx.send_to(&dg(seq, 1), to).expect("send");
        }
        tx.send_to(&dg(6, 7), to).expect("send");
        tx.send_to(b"not a tick", to).expect("send");
        for seq in [7, 9] {
            tx.send_to(&dg(seq, 0), to).expect("send");
        }
        let seqs = read_all(&mut h, 8);
        assert_eq!(seqs, vec![1, 2, 5, 7, 9]);
        let s = h.stats();
        assert_eq!(s.received, 8);
        assert_eq!(s.delivered, 5);
        assert_eq!(s.missing, 3);
        assert_eq!(s.gap_events, 2);
        assert_eq!(s.stale, 1);
        assert_eq!(s.malformed, 1);
        assert_eq!(s.unknown_instrument, 1);
        assert_eq!(s.last_seq, 9);
    }

    #[test]
    fn a_batch_limit_slices_a_backlog_without_losing_it() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!());
        let mut h = UdpFeedHandler::bind(addr, 1, Some(1)).expect("bind");
        h.set_batch_limit(3);
        let to = h.local_addr().expect("addr");
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("sender");
        for seq in 1..=10 {
            tx.send_to(&dg(seq, 0), to).expect("send");
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut slices = Vec::new();
        let mut seqs = Vec::new();
        for _ in 0..6 {
            slices.push(h.poll(Some(Duration::ZERO), &mut |d| seqs.push(d.seq)).expect("poll"));
        }
        // Sliced 3, 3, 3, 1, though only one readiness edge was ever reported.
        assert_eq!(slices, vec![3, 3, 3, 1, 0, 0]);
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        assert_eq!(h.stats().missing, 0);
    }

    #[test]
    fn busy_poll_returns_at_once_when_idle() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!());
        let mut h = UdpFeedHandler::bind(addr, 1, None).expect("bind");
        let t = Instant::now();
        for _ in 0..100 {
            assert_eq!(h.poll(Some(Duration::ZERO), &mut |_| {}).ok(), Some(0));
        }
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(h.recv_buffer_bytes().is_some_and(|b| b > 0));
    }
}
