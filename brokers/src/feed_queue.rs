//! The engine side of a broker's market feed: the bounded queue its connection thread fills
//! with engine inputs, drained by the feed thread (or the engine thread itself, inline) into
//! the ingress ring. Each input gets the feed's next sequence number; the queue's end (the
//! connection thread gone) ends the feed. Kite's, Angel One's and Upstox's feeds share it.

use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

use dalal_adapters::feed::FeedPoll;
use dalal_core::engine::placement::IngressPublisher;
use dalal_core::model::Input;

#[derive(Debug)]
pub struct InputQueue {
    inputs: Receiver<Input>,
    published: u64,
    ended: bool,
}

impl InputQueue {
    pub fn new(inputs: Receiver<Input>) -> InputQueue {
        InputQueue { inputs, published: 0, ended: false }
    }

    /// Inputs published so far.
    pub fn published(&self) -> u64 {
        self.published
    }

    /// Hands over up to `room` queued inputs to `f`, waiting up to `wait` for the first one.
    /// Returns how many were handed over.
    pub fn drain(&mut self, room: usize, wait: Duration, mut f: impl FnMut(Input)) -> usize {
        let mut n = 0;
        while n < room {
            let got = if n == 0 && !wait.is_zero() {
                self.inputs.recv_timeout(wait).map_err(|e| e == RecvTimeoutError::Disconnected)
            } else {
                self.inputs.try_recv().map_err(|e| e == TryRecvError::Disconnected)
            };
            match got {
                Ok(input) => {
                    f(input);
                    n += 1;
                }
                Err(disconnected) => {
                    self.ended |= disconnected;
                    break;
                }
            }
        }
        n
    }

    /// Publishes up to `room` inputs into the ingress ring, numbered in order.
    pub fn poll(&mut self, out: &mut IngressPublisher, room: usize, wait: Duration) -> FeedPoll {
        let mut seq = self.published;
        let n = self.drain(room, wait, |input| {
            seq += 1;
            out.publish(input, seq);
        });
        self.published = seq;
        match n {
            0 if self.ended => FeedPoll::Done,
            0 => FeedPoll::Idle,
            n => FeedPoll::Published(n),
        }
    }
}
