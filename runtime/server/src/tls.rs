//! TLS for the front doors (rustls, with the certificate and key of
//! `[tls]`): SIP over TLS (`sips:`, usually port 5061) and HTTPS for the
//! agent and admin APIs.
//!
//! [`TlsListener`] accepts TCP connections and runs each handshake in a
//! task of its own, at most [`HANDSHAKES`] at once and each within
//! [`HANDSHAKE_TIMEOUT`], so a peer that connects and stalls holds nothing
//! up; finished handshakes come out of [`TlsListener::next`] (and out of
//! axum's `Listener::accept`, for the APIs).

use crate::config::Tls;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Handshakes in progress at once, at most; more connections wait.
pub const HANDSHAKES: usize = 64;

/// The longest a handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server side of TLS from the configured certificate chain and key
/// (PEM files), or why it cannot be made.
pub fn acceptor(tls: &Tls) -> Result<TlsAcceptor, String> {
    let certificates: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&tls.certificate)
            .map_err(|e| {
                format!(
                    "cannot read the certificate {}: {e}",
                    tls.certificate.display()
                )
            })?
            .collect::<Result<_, _>>()
            .map_err(|e| {
                format!(
                    "the certificate {} is not PEM: {e}",
                    tls.certificate.display()
                )
            })?;
    if certificates.is_empty() {
        return Err(format!(
            "the certificate {} holds no certificate",
            tls.certificate.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| format!("cannot read the private key {}: {e}", tls.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .map_err(|e| {
            format!(
                "the certificate {} and key {} do not make a TLS identity: {e}",
                tls.certificate.display(),
                tls.key.display()
            )
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts TLS connections: TCP accepted, handshakes run concurrently.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `tcp` (within a tokio runtime).
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(HANDSHAKES);
        let task = tokio::spawn(handshakes(tcp, acceptor, tx));
        Ok(TlsListener { ready, local, task })
    }

    /// The next connection whose handshake finished; `None` once the
    /// listener failed for good.
    pub async fn next(&mut self) -> Option<(TlsStream<TcpStream>, SocketAddr)> {
        self.ready.recv().await
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn handshakes(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES));
    let mut backoff = Duration::from_millis(10);
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match tcp.accept().await {
            Ok(accepted) => {
                backoff = Duration::from_millis(10);
                accepted
            }
            Err(error) => {
                tracing::warn!("TLS: accept failed ({error}); retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let (acceptor, ready) = (acceptor.clone(), ready.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let _ = ready.send((stream, peer)).await;
                }
                Ok(Err(error)) => tracing::debug!(peer = %peer, "TLS handshake failed: {error}"),
                Err(_) => tracing::debug!(peer = %peer, "TLS handshake timed out"),
            }
        });
    }
}

/// Limits on an HTTP API's connections.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// The longest a request's headers may take to arrive.
    pub header_timeout: Duration,
}

/// Serves one HTTP/1 connection (WebSocket upgrades included) in a task of
/// its own, if there is room for it.
fn http_connection<I>(
    io: I,
    peer: SocketAddr,
    router: &axum::Router,
    slots: &Arc<tokio::sync::Semaphore>,
    limits: HttpLimits,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Ok(permit) = slots.clone().try_acquire_owned() else {
        tracing::debug!(peer = %peer, "HTTP: too many connections; closed");
        return;
    };
    let service = router
        .clone()
        .layer(axum::Extension(axum::extract::ConnectInfo(peer)));
    let service = hyper_util::service::TowerToHyperService::new(service);
    tokio::spawn(async move {
        let _permit = permit;
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(hyper_util::rt::TokioIo::new(io), service)
            .with_upgrades();
        if let Err(error) = connection.await {
            tracing::debug!(peer = %peer, "HTTP connection ended: {error}");
        }
    });
}

/// Where an HTTP API listens: plain TCP, or TLS.
pub enum HttpListener {
    /// HTTP.
    Plain(TcpListener),
    /// HTTPS.
    Tls(TlsListener),
}

impl HttpListener {
    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            HttpListener::Plain(l) => l.local_addr(),
            HttpListener::Tls(l) => Ok(l.local_addr()),
        }
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        match self {
            HttpListener::Plain(_) => "http",
            HttpListener::Tls(_) => "https",
        }
    }

    /// Serves `router` until the listener fails, with each connection's
    /// address available to handlers and middleware (`ConnectInfo`). At
    /// most `limits.max_connections` are open at once (more are closed as
    /// they come), and a request's headers must arrive within
    /// `limits.header_timeout` (a client trickling them is cut off).
    pub async fn serve(self, router: axum::Router, limits: HttpLimits) -> std::io::Result<()> {
        let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
        match self {
            HttpListener::Plain(listener) => {
                let mut backoff = Duration::from_millis(10);
                loop {
                    match listener.accept().await {
                        Ok((stream, peer)) => {
                            backoff = Duration::from_millis(10);
                            http_connection(stream, peer, &router, &slots, limits);
                        }
                        Err(error) => {
                            tracing::warn!(
                                "HTTP: accept failed ({error}); retrying in {backoff:?}"
                            );
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(1));
                        }
                    }
                }
            }
            HttpListener::Tls(mut listener) => {
                while let Some((stream, peer)) = listener.next().await {
                    http_connection(stream, peer, &router, &slots, limits);
                }
                Ok(())
            }
        }
    }
}
