//! Fake broker servers for tests (cargo feature `fake`): they speak a broker's real wire
//! format on 127.0.0.1 and keep a small deterministic book that tests script.
//!
//! What every fake needs is here, so the fakes behave alike: [`Malformed`] answers, the
//! [`Clock`] that rate limits read (manual in tests, so no test depends on how fast the
//! machine is), and the [`Runner`] that serves a fake's routers and stops them when the fake
//! is dropped.

pub mod angel;
pub mod kite;
pub mod upstox;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How to garble successful answers (`set_malformed` of each fake): what a client meets when
/// a proxy, a WAF or the broker itself misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// HTTP 200 with an HTML page.
    NotJson,
    /// The right JSON cut off half-way (with a matching Content-Length).
    Truncated,
    /// The envelope with a `data` of the wrong shape (a string).
    WrongShape,
    /// The success envelope without `data`.
    MissingData,
    /// HTTP 200 with no body at all.
    Empty,
}

/// Time for rate limits: the wall clock, or a clock tests move by hand so a limit is hit or
/// not hit regardless of how fast the machine is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Clock {
    Real(Instant),
    Manual(Duration),
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock::Real(Instant::now())
    }

    /// Time since the clock started (or as far as a test moved it).
    pub(crate) fn now(&self) -> Duration {
        match self {
            Clock::Real(start) => start.elapsed(),
            Clock::Manual(d) => *d,
        }
    }

    /// Stops the clock where it is; from now on only [`Clock::advance`] moves it.
    pub(crate) fn make_manual(&mut self) {
        *self = Clock::Manual(self.now());
    }

    /// Moves a manual clock (a real one moves by itself).
    pub(crate) fn advance(&mut self, by: Duration) {
        if let Clock::Manual(d) = self {
            *d += by;
        }
    }
}

/// How a fake's servers run: as tasks on the caller's runtime, or on a thread with a runtime
/// of its own (for plain `#[test]`s without a runtime). Either way they stop with
/// [`Runner::stop`], which the fakes call when dropped.
pub(crate) enum Runner {
    Task(Vec<tokio::task::JoinHandle<()>>),
    Thread(Option<tokio::sync::oneshot::Sender<()>>, Option<std::thread::JoinHandle<()>>),
}

impl Runner {
    /// Serves each router on a port of its own on 127.0.0.1, on the current runtime; the
    /// addresses come back in the routers' order.
    pub(crate) async fn spawn<const N: usize>(
        routers: [axum::Router; N],
    ) -> std::io::Result<([SocketAddr; N], Runner)> {
        let mut addrs = Vec::with_capacity(N);
        let mut listeners = Vec::with_capacity(N);
        for _ in &routers {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            addrs.push(listener.local_addr()?);
            listeners.push(listener);
        }
        let tasks = listeners
            .into_iter()
            .zip(routers)
            .map(|(listener, app)| {
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                })
            })
            .collect();
        Ok((exactly(addrs)?, Runner::Task(tasks)))
    }

    /// Like [`Runner::spawn`], on a thread named `name` with its own runtime.
    pub(crate) fn spawn_in_background<const N: usize>(
        name: &str,
        routers: [axum::Router; N],
    ) -> std::io::Result<([SocketAddr; N], Runner)> {
        let mut addrs = Vec::with_capacity(N);
        let mut listeners = Vec::with_capacity(N);
        for _ in &routers {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.set_nonblocking(true)?;
            addrs.push(listener.local_addr()?);
            listeners.push(listener);
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name(name.to_string()).spawn(move || {
            runtime.block_on(async move {
                for (listener, app) in listeners.into_iter().zip(routers) {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                    tokio::spawn(async move {
                        let _ = axum::serve(listener, app).await;
                    });
                }
                // The servers run as tasks of this runtime until the fake is dropped; the
                // runtime's end cancels them.
                let _ = stopped.await;
            });
        })?;
        Ok((exactly(addrs)?, Runner::Thread(Some(stop), Some(thread))))
    }

    /// Stops the servers (and, on a thread of its own, waits for it).
    pub(crate) fn stop(&mut self) {
        match self {
            Runner::Task(tasks) => tasks.iter().for_each(|t| t.abort()),
            Runner::Thread(stop, thread) => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
        }
    }
}

/// The addresses of `N` listeners as an array (there is one per router).
fn exactly<const N: usize>(addrs: Vec<SocketAddr>) -> std::io::Result<[SocketAddr; N]> {
    addrs.try_into().map_err(|_| std::io::Error::other("one listener per router"))
}
