//! The engine's order connection to the exchange.
//!
//! The socket is non-blocking, with `TCP_NODELAY` so each order leaves in its own segment at
//! once instead of waiting for the previous one's ACK (Nagle). Non-blocking because the
//! engine thread is the one writing: a blocking `write` to an exchange that stops reading
//! would freeze tick processing for every instrument. Bytes the kernel will not take yet wait
//! in a bounded outgoing buffer and go out on the next [`OrderGateway::flush`]; when that
//! buffer is full the gateway reports [`GatewayError::Backlog`] rather than growing without
//! limit, since an exchange that far behind is an outage, not latency.
//!
//! Acks are read on the same thread with non-blocking reads ([`OrderGateway::poll_acks`]),
//! which the engine does when no tick is waiting, so reading them never delays a tick.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use super::order_protocol::{Ack, ExchangeFill, FrameBuffer, NewOrder, OrderMessage, ProtocolError, NEW_ORDER_LEN};

/// What the exchange sends back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    Ack(Ack),
    Fill(ExchangeFill),
}

/// Outgoing bytes held while the kernel's send buffer is full.
const MAX_BACKLOG_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot connect to the exchange at {addr}: {source}")]
    Connect { addr: SocketAddr, source: io::Error },
    #[error("cannot configure the order socket: {0}")]
    Setup(io::Error),
    #[error("order socket write failed: {0}")]
    Write(io::Error),
    #[error("order socket read failed: {0}")]
    Read(io::Error),
    #[error("the exchange closed the order connection")]
    Closed,
    #[error("{0} bytes of orders wait for the exchange; it has stopped reading")]
    Backlog(usize),
    #[error("the exchange sent a bad frame: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("the exchange sent a NewOrder; only acks are expected")]
    UnexpectedOrder,
}

/// One TCP connection to the exchange.
pub struct OrderGateway {
    stream: TcpStream,
    out: Vec<u8>,
    /// How much of `out` the kernel already took.
    out_sent: usize,
    acks: FrameBuffer,
    orders_sent: u64,
    acks_received: u64,
}

impl OrderGateway {
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<OrderGateway, GatewayError> {
        let stream =
            TcpStream::connect_timeout(&addr, timeout).map_err(|source| GatewayError::Connect { addr, source })?;
        stream.set_nodelay(true).map_err(GatewayError::Setup)?;
        stream.set_nonblocking(true).map_err(GatewayError::Setup)?;
        Ok(OrderGateway {
            stream,
            out: Vec::with_capacity(64 * 1024),
            out_sent: 0,
            acks: FrameBuffer::new(64 * 1024),
            orders_sent: 0,
            acks_received: 0,
        })
    }

    /// Queues one order and writes as much as the kernel takes now.
    pub fn send(&mut self, order: &NewOrder) -> Result<(), GatewayError> {
        self.queue(order)?;
        self.flush()
    }

    /// Queues one order without writing: for a burst, whose orders then leave in one write at
    /// the next [`OrderGateway::flush`].
    pub fn queue(&mut self, order: &NewOrder) -> Result<(), GatewayError> {
        let backlog = self.out.len() - self.out_sent;
        if backlog + NEW_ORDER_LEN > MAX_BACKLOG_BYTES {
            return Err(GatewayError::Backlog(backlog));
        }
        let mut frame = [0u8; NEW_ORDER_LEN];
        order.encode(&mut frame);
        self.out.extend_from_slice(&frame);
        self.orders_sent += 1;
        Ok(())
    }

    /// Writes queued bytes until done or the kernel would block.
    pub fn flush(&mut self) -> Result<(), GatewayError> {
        while self.out_sent < self.out.len() {
            match self.stream.write(&self.out[self.out_sent..]) {
                Ok(0) => return Err(GatewayError::Closed),
                Ok(n) => self.out_sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(GatewayError::Write(e)),
            }
        }
        if self.out_sent == self.out.len() {
            self.out.clear();
            self.out_sent = 0;
        }
        Ok(())
    }

    /// Bytes of orders not yet handed to the kernel.
    pub fn backlog(&self) -> usize {
        self.out.len() - self.out_sent
    }

    /// Reads whatever acks have arrived, without blocking (fills are skipped); returns how many.
    pub fn poll_acks(&mut self, on_ack: &mut impl FnMut(Ack)) -> Result<usize, GatewayError> {
        self.poll_replies(&mut |r| {
            if let Reply::Ack(a) = r {
                on_ack(a)
            }
        })
    }

    /// Reads whatever replies (acks and fills) have arrived, without blocking; returns how
    /// many.
    pub fn poll_replies(&mut self, on_reply: &mut impl FnMut(Reply)) -> Result<usize, GatewayError> {
        let mut n = 0;
        loop {
            match self.acks.fill_from(&mut self.stream) {
                Ok(0) => return if n > 0 { Ok(n) } else { Err(GatewayError::Closed) },
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(GatewayError::Read(e)),
            }
            while let Some(m) = self.acks.next_message()? {
                match m {
                    OrderMessage::Ack(a) => {
                        n += 1;
                        self.acks_received += 1;
                        on_reply(Reply::Ack(a));
                    }
                    OrderMessage::Fill(f) => {
                        n += 1;
                        on_reply(Reply::Fill(f));
                    }
                    OrderMessage::NewOrder(_) => return Err(GatewayError::UnexpectedOrder),
                }
            }
        }
    }

    /// Tells the exchange no more orders follow (half-close), so it can finish and report
    /// while acks still flow back.
    pub fn finish_sending(&mut self) -> Result<(), GatewayError> {
        self.stream.shutdown(Shutdown::Write).map_err(GatewayError::Write)
    }

    pub fn orders_sent(&self) -> u64 {
        self.orders_sent
    }

    pub fn acks_received(&self) -> u64 {
        self.acks_received
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dalal_core::model::{AccountId, InstrumentId, OrderType, Price, Qty, Side};
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Instant;

    #[test]
    fn orders_out_acks_back_over_real_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        let addr = listener.local_addr().expect("addr");
        let exchange = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut fb = FrameBuffer::new(1024);
            let mut seen = Vec::new();
            while seen.len() < 3 {
                if fb.fill_from(&mut s).expect("read") == 0 {
                    break;
                }
                while let Ok(Some(OrderMessage::NewOrder(o))) = fb.next_message() {
                    let mut a = [0u8; super::super::order_protocol::ACK_LEN];
                    Ack { client_order_id: o.client_order_id, exchange_order_id: 100, arrival_ns: 5 }.encode(&mut a);
                    s.write_all(&a).expect("ack");
                    seen.push(o);
                }
            }
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            (seen, rest.len())
        });
        let mut gw = OrderGateway::connect(addr, Duration::from_secs(5)).expect("connect");
        for id in 1..=3u64 {
            let o = NewOrder {
                client_order_id: id,
                account: AccountId(0),
                instrument: InstrumentId(0),
                side: Side::Buy,
                qty: Qty(1),
                price: Price(0),
                order_type: OrderType::Market,
                origin_sent_ns: id * 10,
            };
            // The last two leave together.
            if id == 2 {
                gw.queue(&o).expect("queue");
                assert_eq!(gw.backlog(), NEW_ORDER_LEN);
            } else {
                gw.send(&o).expect("send");
            }
        }
        let mut ids = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while ids.len() < 3 && Instant::now() < deadline {
            gw.poll_acks(&mut |a| ids.push(a.client_order_id)).expect("acks");
        }
        assert_eq!(ids, vec![1, 2, 3]);
        gw.finish_sending().expect("half-close");
        let (seen, trailing) = exchange.join().expect("exchange thread");
        assert_eq!(seen.iter().map(|o| o.origin_sent_ns).collect::<Vec<_>>(), vec![10, 20, 30]);
        assert_eq!(trailing, 0);
        assert_eq!((gw.orders_sent(), gw.acks_received(), gw.backlog()), (3, 3, 0));
    }
}
