//! The engine's network edges for the wire-to-wire loopback measurement: ticks arrive as UDP
//! datagrams ([`tick_datagram`], read by [`feed_handler`]) and orders leave over TCP
//! ([`order_protocol`], sent by [`gateway`]). Every format is fixed-size little-endian so
//! encoding is a handful of stores and decoding can check lengths before it reads a field.
//!
//! Timestamps that cross process boundaries are `CLOCK_MONOTONIC` nanoseconds
//! ([`monotonic_ns`]): one clock for every process on the machine, unaffected by NTP steps,
//! so "sent by the feed" and "arrived at the exchange" can be subtracted.

pub mod feed_handler;
pub mod gateway;
pub mod order_protocol;
pub mod tick_datagram;

pub use feed_handler::{FeedHandlerError, FeedStats, SeqVerdict, SequenceTracker, UdpFeedHandler};
pub use gateway::{GatewayError, OrderGateway, Reply};
pub use order_protocol::{Ack, ExchangeFill, FrameBuffer, NewOrder, OrderMessage, ProtocolError};
pub use tick_datagram::{DatagramError, TickDatagram, DATAGRAM_LEN};

/// `CLOCK_MONOTONIC` in nanoseconds: the clock every process of a wire measurement stamps
/// with, because it is shared machine-wide (unlike `quanta`'s calibrated TSC, whose zero is
/// per process).
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC always exists on Linux;
    // the call only writes into `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn monotonic_clock_moves_forward() {
        let a = super::monotonic_ns();
        let b = super::monotonic_ns();
        assert!(a > 0 && b >= a);
    }
}
