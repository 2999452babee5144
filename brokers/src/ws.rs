//! What the brokers' WebSocket clients share: where a socket is ([`Target`]), how long to wait
//! before the next attempt ([`backoff`]), and opening the connection ([`open`]): TCP, then TLS
//! when the root is `wss://`, then the WebSocket handshake.
//!
//! TCP and TLS are opened here rather than by tungstenite, so TLS is the rustls build (ring,
//! webpki roots) the REST clients already use. Nothing here logs, and no error carries a URL or
//! a header: a caller scrubs what it shows of the texts it gets back.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::WebSocketStream;

/// A root that is not a `ws://` or `wss://` URL with a host; it holds the root as it may be
/// shown (without any query, which could carry a token).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a ws:// or wss:// URL with a host: {0:?}")]
pub(crate) struct BadRoot(pub(crate) String);

/// Where a socket is, parsed once at start.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// The URL to request, with a path (`/` when the root has none) and any query.
    pub(crate) root: String,
    pub(crate) tls: bool,
    /// Without IPv6 brackets, as TCP and TLS want it.
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Target {
    pub(crate) fn parse(root: &str) -> Result<Target, BadRoot> {
        // Whatever follows a `?` is not echoed back: a root should not carry a token, but if
        // one does it must not reach an error.
        let shown = || BadRoot(root.split('?').next().unwrap_or_default().to_string());
        let uri: Uri = root.parse().map_err(|_| shown())?;
        let tls = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") => false,
            _ => return Err(shown()),
        };
        let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(shown)?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        // `wss://ws.kite.trade?…` has no path; the request line needs one (`GET /?…`).
        let (base, query) = root.split_once('?').map_or((root, None), |(b, q)| (b, Some(q)));
        let has_path = base.split_once("://").is_some_and(|(_, rest)| rest.contains('/'));
        let mut root = if has_path { base.to_string() } else { format!("{base}/") };
        if let Some(q) = query {
            root.push('?');
            root.push_str(q);
        }
        Ok(Target { root, tls, host, port })
    }
}

/// `min × 2^attempt`, capped at `max`, then a random half to all of it, so many clients that
/// lost their connections together do not retry in step.
pub(crate) fn backoff(min: Duration, max: Duration, attempt: u32) -> Duration {
    let base = min.saturating_mul(1u32 << attempt.min(20)).min(max);
    base.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

/// The TLS client configuration, built on first use and kept for the reconnections.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tls(Option<Arc<rustls::ClientConfig>>);

impl Tls {
    /// Ring and the webpki roots; the error text has no secret in it.
    pub(crate) fn config(&mut self) -> Result<Arc<rustls::ClientConfig>, String> {
        if let Some(c) = &self.0 {
            return Ok(c.clone());
        }
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let config = Arc::new(config);
        self.0 = Some(config.clone());
        Ok(config)
    }
}

/// A TCP connection, in TLS or not.
#[derive(Debug)]
pub(crate) enum MaybeTls {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for MaybeTls {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(s) => s.is_write_vectored(),
            MaybeTls::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An open WebSocket.
pub(crate) type Ws = WebSocketStream<MaybeTls>;

/// Which step of [`open`] failed. The texts are the lower layers' own: a caller scrubs them.
#[derive(Debug)]
pub(crate) enum OpenError {
    Tcp(io::Error),
    /// Building the TLS configuration.
    TlsSetup(String),
    /// The host is not a name TLS can check a certificate against.
    TlsName,
    Tls(io::Error),
    /// The WebSocket handshake, an HTTP refusal included (`WsError::Http`).
    Handshake(WsError),
}

/// TCP to the target, TLS over it for `wss://`, then the handshake with `request` (whose URL
/// and headers the caller built, credentials included).
pub(crate) async fn open(target: &Target, request: Request, tls: &mut Tls) -> Result<Ws, OpenError> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port)).await.map_err(OpenError::Tcp)?;
    let _ = tcp.set_nodelay(true);
    let stream = if target.tls {
        let config = tls.config().map_err(OpenError::TlsSetup)?;
        let name = rustls::pki_types::ServerName::try_from(target.host.clone()).map_err(|_| OpenError::TlsName)?;
        let stream = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(OpenError::Tls)?;
        MaybeTls::Tls(Box::new(stream))
    } else {
        MaybeTls::Plain(tcp)
    };
    let (ws, _) = tokio_tungstenite::client_async(request, stream).await.map_err(OpenError::Handshake)?;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_parse_with_default_ports_and_paths() {
        let t = Target::parse("wss://smartapisocket.angelone.in/smart-stream").expect("angel");
        assert_eq!((t.tls, t.host.as_str(), t.port), (true, "smartapisocket.angelone.in", 443));
        assert_eq!(t.root, "wss://smartapisocket.angelone.in/smart-stream");
        let t = Target::parse("ws://[::1]:9001").expect("v6");
        assert_eq!((t.host.as_str(), t.port, t.root.as_str()), ("::1", 9001, "ws://[::1]:9001/"));
        let e = Target::parse("https://h/x?feedToken=topsecret").expect_err("scheme");
        assert!(!e.to_string().contains("topsecret"), "{e}");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_down_to_half() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 0..40 {
            let full = min.saturating_mul(1u32 << attempt.min(20)).min(max);
            let d = backoff(min, max, attempt);
            assert!(d <= full && d >= full / 2, "attempt {attempt}: {d:?} vs {full:?}");
        }
    }
}
