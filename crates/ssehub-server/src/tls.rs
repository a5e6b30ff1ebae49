//! HTTPS: a certificate chain and key from PEM files, offered with ALPN `h2`
//! then `http/1.1`. [`Tls::reload`] reads the files again (on SIGHUP in
//! `ssehub serve`); new connections get the new certificate while open ones
//! keep theirs, so no stream is dropped.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// Why certificates could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or holds no PEM section of the kind needed.
    #[error("{}: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: rustls::pki_types::pem::Error,
    },
    /// The key is not usable, or does not belong to the certificate.
    #[error("{}: {source}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
}

/// Certificates for HTTPS, re-readable while serving. Cheap to clone.
#[derive(Clone)]
pub struct Tls {
    certs: Arc<Certs>,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.certs.cert)
            .field("key", &self.certs.key)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads a PEM certificate chain (end-entity first) and its PEM private
    /// key (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    ///
    /// When a file cannot be read or parsed, or the key does not match.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (cert, key) = (cert.as_ref().to_owned(), key.as_ref().to_owned());
        let current = load(&cert, &key, &provider)?;
        let certs = Arc::new(Certs {
            cert,
            key,
            provider: provider.clone(),
            current: RwLock::new(Arc::new(current)),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Key {
                path: certs.key.clone(),
                source,
            })?
            .with_no_client_auth()
            .with_cert_resolver(certs.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            certs,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Reads the files again; on success, connections from now on are
    /// offered the new certificate. On failure the old one stays.
    ///
    /// # Errors
    ///
    /// As [`Tls::from_pem_files`].
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = load(&self.certs.cert, &self.certs.key, &self.certs.provider)?;
        *self
            .certs
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

#[derive(Debug)]
struct Certs {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    fn pem(path: &Path) -> impl Fn(rustls::pki_types::pem::Error) -> TlsError + '_ {
        move |source| TlsError::Pem {
            path: path.to_owned(),
            source,
        }
    }
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(pem(cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem(cert))?;
    if chain.is_empty() {
        return Err(pem(cert)(rustls::pki_types::pem::Error::NoItemsFound));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(pem(key))?;
    CertifiedKey::from_der(chain, private, provider).map_err(|source| TlsError::Key {
        path: key.to_owned(),
        source,
    })
}
