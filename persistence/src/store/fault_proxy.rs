//! Test support: a TCP forwarder on `127.0.0.1` that can be switched off, to make a database
//! or Redis unavailable in the middle of a run and bring it back ("wrong port, then back")
//! without touching the service itself. Switched off, it cuts every open connection and closes
//! new ones at once; switched on, it forwards again. Only ever listens on loopback.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Debug)]
struct State {
    up: AtomicBool,
    stop: AtomicBool,
    conns: Mutex<Vec<TcpStream>>,
}

impl State {
    fn cut_all(&self) {
        let mut c = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        for s in c.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// A switchable loopback TCP forwarder to `upstream`.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on an ephemeral loopback port and forwards to `upstream`; starts switched on.
    pub fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state =
            Arc::new(State { up: AtomicBool::new(true), stop: AtomicBool::new(false), conns: Mutex::new(Vec::new()) });
        let st = state.clone();
        let thread = std::thread::Builder::new().name("fault-proxy".into()).spawn(move || {
            while !st.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        if !st.up.load(Ordering::Relaxed) {
                            let _ = client.shutdown(Shutdown::Both);
                            continue;
                        }
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(2)) else {
                            let _ = client.shutdown(Shutdown::Both);
                            continue;
                        };
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        let pipes = (client.try_clone(), server.try_clone(), client.try_clone(), server.try_clone());
                        let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = pipes else { continue };
                        st.conns.lock().unwrap_or_else(|p| p.into_inner()).extend([c3, s3]);
                        pipe(client, server);
                        pipe(s2, c2);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(2)),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })?;
        Ok(FaultProxy { addr, state, thread: Some(thread) })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Off: cut every forwarded connection and refuse new ones. On: forward again.
    pub fn set_up(&self, up: bool) {
        self.state.up.store(up, Ordering::Relaxed);
        if !up {
            self.state.cut_all();
        }
    }
}

/// Copies `from` → `to` on its own thread until either side closes.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::thread::Builder::new().name("fault-proxy-pipe".into()).spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
        self.state.cut_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
