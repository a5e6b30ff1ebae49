//! HTTPS for the load generator: HTTP/2 (ALPN `h2`, the `h2` crate) over
//! rustls, for event streams and for publishing.
//!
//! Why HTTP/2 and not HTTP/1.1 over TLS: that is what browsers speak to a hub
//! served over HTTPS, and the point of measuring HTTPS is what one stream costs
//! there, many streams sharing one TLS connection. Why the `h2` crate and not
//! hyper or reqwest: as with [`crate::http`], what a stream costs in the load
//! process must stay small; here a stream is one `h2::RecvStream` (a handle
//! into its connection's state) and no buffer of its own.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, ensure, Context};
use bytes::Bytes;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use crate::http::Target;

/// Each stream's receive window (the HTTP/2 default is 64 KiB; browsers
/// offer more: Chrome 6 MiB). Large enough that flow control does not hold
/// back a burst of small events while the load process is busy elsewhere.
pub const STREAM_WINDOW: u32 = 1 << 20;
/// Each connection's receive window, shared by its streams (Chrome: 15 MiB).
pub const CONNECTION_WINDOW: u32 = 16 << 20;

/// How the server's certificate is checked.
#[derive(Clone, Debug)]
pub enum Verify {
    /// Against these CA certificates (a PEM file).
    Ca(PathBuf),
    /// Not at all: for a self-signed benchmark certificate on loopback.
    Insecure,
}

/// A TLS client that offers only ALPN `h2`.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    /// The HTTP/2 flow-control windows it offers: per stream, per connection.
    windows: (u32, u32),
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// A client checking certificates as `verify` says.
    ///
    /// # Errors
    ///
    /// When the CA file cannot be read or holds no certificate.
    pub fn new(verify: &Verify) -> anyhow::Result<Tls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let mut config = match verify {
            Verify::Ca(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(path)
                    .with_context(|| format!("reading {}", path.display()))?
                {
                    let cert = cert.with_context(|| format!("reading {}", path.display()))?;
                    roots
                        .add(cert)
                        .with_context(|| format!("a certificate of {}", path.display()))?;
                }
                ensure!(!roots.is_empty(), "{}: no certificate", path.display());
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            Verify::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
                .with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
            windows: (STREAM_WINDOW, CONNECTION_WINDOW),
        })
    }

    /// The same client offering other flow-control windows on the
    /// connections it opens (a client that reads slowly, or not at all,
    /// offers little).
    pub fn with_windows(mut self, stream: u32, connection: u32) -> Tls {
        self.windows = (stream, connection);
        self
    }

    /// Opens an HTTP/2 connection to `target` (TCP, TLS with ALPN `h2`, the
    /// HTTP/2 handshake) and drives it in a task of its own; the task ends
    /// when the connection does.
    ///
    /// # Errors
    ///
    /// When any step fails, or the server does not pick `h2`.
    pub async fn connect(
        &self,
        target: &Target,
    ) -> anyhow::Result<(h2::client::SendRequest<Bytes>, JoinHandle<()>)> {
        let tcp = target
            .connect()
            .await
            .with_context(|| format!("connecting to {}", target.addr))?;
        let name = ServerName::try_from(server_name(&target.host).to_owned())
            .with_context(|| format!("{}: not a server name", target.host))?;
        let tls = self
            .connector
            .connect(name, tcp)
            .await
            .context("TLS handshake")?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            bail!("the server did not choose HTTP/2 (ALPN h2)");
        }
        let (send, conn) = h2::client::Builder::new()
            .initial_window_size(self.windows.0)
            .initial_connection_window_size(self.windows.1)
            .handshake::<_, Bytes>(tls)
            .await
            .context("HTTP/2 handshake")?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok((send, driver))
    }
}

/// The host of an authority, without port or IPv6 brackets.
fn server_name(authority: &str) -> &str {
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => host,
        _ => authority,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Accepts any certificate (signatures in the handshake are still checked
/// against the certificate's key).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// An HTTP/2 connection that streams share, opened by the first stream that
/// needs it and opened again by the first that finds it closed.
#[derive(Debug, Default)]
pub struct SharedConnection {
    conn: tokio::sync::Mutex<Option<(h2::client::SendRequest<Bytes>, JoinHandle<()>)>>,
}

impl SharedConnection {
    /// A handle for a new request on the connection, connecting first if
    /// there is no open connection.
    ///
    /// # Errors
    ///
    /// As [`Tls::connect`].
    pub async fn sender(
        &self,
        tls: &Tls,
        target: &Target,
    ) -> anyhow::Result<h2::client::SendRequest<Bytes>> {
        let mut conn = self.conn.lock().await;
        if let Some((send, driver)) = conn.as_ref() {
            if !driver.is_finished() {
                return Ok(send.clone());
            }
        }
        let (send, driver) = tls.connect(target).await?;
        *conn = Some((send.clone(), driver));
        Ok(send)
    }

    /// Whether a connection has been opened (and not found closed since).
    pub fn is_open(&self) -> bool {
        self.conn
            .try_lock()
            .map(|c| c.as_ref().is_some_and(|(_, d)| !d.is_finished()))
            .unwrap_or(true)
    }
}

/// Sends `request` (with `body` if there is one) on `send` once the
/// connection has room for another stream; returns the response head and
/// its body.
///
/// # Errors
///
/// When the connection is closed or the stream is reset.
pub async fn request(
    send: h2::client::SendRequest<Bytes>,
    request: ::http::Request<()>,
    body: Option<Bytes>,
) -> anyhow::Result<::http::Response<h2::RecvStream>> {
    let mut send = send.ready().await?;
    let (response, mut stream) = send.send_request(request, body.is_none())?;
    if let Some(body) = body {
        // Request bodies here are small (a publish): within the initial
        // window, so no waiting for capacity.
        stream.send_data(body, true)?;
    }
    Ok(response.await?)
}

/// Reads a whole response body (releasing flow-control capacity as it goes).
///
/// # Errors
///
/// When the stream is reset.
pub async fn read_body(body: &mut h2::RecvStream) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        body.flow_control().release_capacity(chunk.len())?;
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A connection for request/response exchanges over HTTP/2 (publishing), one
/// at a time, as [`crate::http::Client`] does over HTTP/1.1.
#[derive(Debug)]
pub struct Client {
    tls: Tls,
    target: Target,
    conn: SharedConnection,
    authorization: Option<String>,
}

impl Client {
    /// A client for `target`; it connects on first use, and again after the
    /// connection closes.
    pub fn new(tls: Tls, target: Target, authorization: Option<String>) -> Client {
        Client {
            tls,
            target,
            conn: SharedConnection::default(),
            authorization,
        }
    }

    /// `POST path` with a JSON body; returns the status and the body.
    ///
    /// # Errors
    ///
    /// When connecting fails or the stream is reset.
    pub async fn post_json(&mut self, path: &str, body: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        self.post(path, "application/json", body).await
    }

    /// `POST path` with a body of `content_type`; returns the status and the
    /// body.
    ///
    /// # Errors
    ///
    /// When connecting fails or the stream is reset.
    pub async fn post(
        &mut self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let send = self.conn.sender(&self.tls, &self.target).await?;
        let mut req = ::http::Request::post(format!("https://{}{path}", self.target.host))
            .header("content-type", content_type)
            .header("content-length", body.len());
        if let Some(value) = &self.authorization {
            req = req.header("authorization", value);
        }
        let response = request(send, req.body(())?, Some(Bytes::copy_from_slice(body))).await?;
        let status = response.status().as_u16();
        let mut stream = response.into_body();
        Ok((status, read_body(&mut stream).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        assert_eq!(server_name("localhost:8443"), "localhost");
        assert_eq!(server_name("127.0.0.1:8443"), "127.0.0.1");
        assert_eq!(server_name("[::1]:8443"), "::1");
        assert_eq!(server_name("[::1]"), "::1");
        assert_eq!(server_name("example.com"), "example.com");
    }
}
