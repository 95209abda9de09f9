//! TLS for PostgreSQL connections, with libpq's `sslmode` meanings, over rustls (aws-lc-rs,
//! the crypto provider the rest of the binary already uses for S3).
//!
//! | `sslmode` | encrypted | chain checked | host name checked |
//! |---|---|---|---|
//! | `disable` | never | | |
//! | `allow` | only if a clear-text connection fails | only with a root certificate | no |
//! | `prefer` (libpq's default) | if the server offers it | only with a root certificate | no |
//! | `require` | always | only with a root certificate (then as `verify-ca`) | no |
//! | `verify-ca` | always | yes | no |
//! | `verify-full` | always | yes | yes |
//!
//! The root certificate comes from `sslrootcert` (or `PGSSLROOTCERT`, or libpq's default
//! `~/.postgresql/root.crt` when that file exists); `sslrootcert=system` uses the platform's
//! roots. A client certificate comes from `sslcert` and `sslkey` (or `PGSSLCERT`/`PGSSLKEY`,
//! or `~/.postgresql/postgresql.crt` and `.key` when both exist).
//!
//! The connector adapts `tokio-rustls` to `tokio-postgres`' TLS traits. It offers no channel
//! binding (`tls-server-end-point`), so SCRAM authenticates without it, as libpq does with
//! `channel_binding=prefer` against a server whose certificate it cannot hash.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    /// Never encrypt.
    Disable,
    /// Clear text first; TLS (unverified) only if that fails.
    Allow,
    /// TLS (unverified) if the server offers it, clear text otherwise. libpq's default.
    Prefer,
    /// Always TLS; the certificate is checked only when a root certificate is configured.
    Require,
    /// Always TLS, and the server's certificate chain must lead to a trusted root.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host connected to.
    VerifyFull,
}

impl SslMode {
    /// Parses libpq's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "disable" => Self::Disable,
            "allow" => Self::Allow,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return None,
        })
    }

    /// libpq's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file of one or more CA certificates.
    File(PathBuf),
    /// The platform's trusted roots (`sslrootcert=system`).
    System,
    /// PEM text of one or more CA certificates, given inline (Clowder's `rdsCa`); `origin`
    /// names where it came from in messages.
    Pem {
        /// The certificates.
        pem: String,
        /// Where they came from, e.g. `ACG_CONFIG database.rdsCa`.
        origin: String,
    },
}

/// The TLS settings of a connection string, after the `PGSSL*` variables and libpq's default
/// files have filled the gaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The requested mode.
    pub mode: SslMode,
    /// Trusted roots, if any.
    pub root_cert: Option<RootCert>,
    /// A client certificate chain (PEM) and its key, if any.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl TlsSettings {
    /// The mode in effect: `require` with a root certificate checks the chain (`verify-ca`),
    /// as libpq does.
    pub fn effective_mode(&self) -> SslMode {
        match (self.mode, &self.root_cert) {
            (SslMode::Require, Some(_)) => SslMode::VerifyCa,
            (mode, _) => mode,
        }
    }

    /// Builds the rustls configuration for the effective mode. Reads the certificate files
    /// now, so a missing or malformed file is reported before any connection is tried.
    pub(crate) fn connector(&self) -> Result<MakeRustls, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mode = self.effective_mode();
        // libpq checks the chain whenever a root certificate is configured, in `allow` and
        // `prefer` too; `verify-*` require one.
        let check_chain = mode >= SslMode::VerifyCa || self.root_cert.is_some();
        let chain = if check_chain {
            let roots = match &self.root_cert {
                Some(root) => load_roots(root)?,
                None => return Err(format!(
                    "sslmode={mode} needs a root certificate: set sslrootcert=/path/to/ca.pem (or PGSSLROOTCERT), \
                     use the platform's roots with sslrootcert=system, or choose sslmode=require"
                )),
            };
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| format!("cannot use the root certificates: {e}"))?;
            Some(webpki)
        } else {
            None
        };
        let verifier = Arc::new(Verifier {
            chain,
            check_name: mode == SslMode::VerifyFull,
            provider: provider.clone(),
        });
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = read_certs(cert, "sslcert")?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    format!(
                        "sslkey {}: cannot read a PEM private key: {e}",
                        key.display()
                    )
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("sslcert/sslkey: {e}"))?
            }
        };
        let mut config = config;
        // PostgreSQL 17's direct TLS negotiation (`sslnegotiation=direct`) requires it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(MakeRustls {
            config: Arc::new(config),
        })
    }
}

fn read_certs(path: &Path, setting: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "{setting} {}: cannot read PEM certificates: {e}",
                path.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "{setting} {}: the file holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

fn load_roots(root: &RootCert) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match root {
        RootCert::File(path) => {
            for cert in read_certs(path, "sslrootcert")? {
                store.add(cert).map_err(|e| {
                    format!(
                        "sslrootcert {}: not a usable CA certificate: {e}",
                        path.display()
                    )
                })?;
            }
        }
        RootCert::Pem { pem, origin } => {
            let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{origin}: cannot read PEM certificates: {e}"))?;
            if certs.is_empty() {
                return Err(format!("{origin}: holds no PEM certificate"));
            }
            for cert in certs {
                store
                    .add(cert)
                    .map_err(|e| format!("{origin}: not a usable CA certificate: {e}"))?;
            }
        }
        RootCert::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(
                    "sslrootcert=system: the platform has no trusted root certificates (is the ca-certificates package installed? SSL_CERT_FILE overrides)"
                        .into(),
                );
            }
        }
    }
    Ok(store)
}

/// How the server's certificate is checked. With `chain` (`verify-ca`, `verify-full`, or any
/// mode given a root certificate, as libpq) it must lead to a trusted root, and the host name
/// is checked only when `check_name` (`verify-full`). Without (`allow`, `prefer` and `require`
/// with no root certificate) any certificate is trusted: the link is encrypted, and the
/// handshake's signatures are still checked, so the session key belongs to whoever holds the
/// certificate's private key.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            // webpki checks the chain before the name, so a name error means the chain is
            // good: exactly what verify-ca asks.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `tokio-postgres`' TLS connector factory over a rustls configuration.
#[derive(Clone)]
pub(crate) struct MakeRustls {
    config: Arc<ClientConfig>,
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        // tokio-postgres asks for a connector before it knows whether the server speaks TLS
        // (and passes "" for a Unix socket), so an unusable name fails only at the handshake.
        let name = ServerName::try_from(domain.to_string()).map_err(|_| domain.to_string());
        Ok(RustlsConnect {
            config: Arc::clone(&self.config),
            name,
        })
    }
}

/// One TLS handshake to come.
pub(crate) struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: Result<ServerName<'static>, String>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let name = self.name.map_err(|host| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{host:?} is not a host name or IP address a certificate can name"),
                )
            })?;
            let tls = tokio_rustls::TlsConnector::from(self.config)
                .connect(name, stream)
                .await?;
            Ok(RustlsStream(Box::new(tls)))
        })
    }
}

/// An established TLS session.
pub(crate) struct RustlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_with_a_root_is_verify_ca() {
        let s = TlsSettings {
            mode: SslMode::Require,
            root_cert: Some(RootCert::File("/x".into())),
            client_cert: None,
        };
        assert_eq!(s.effective_mode(), SslMode::VerifyCa);
        let s = TlsSettings {
            root_cert: None,
            ..s
        };
        assert_eq!(s.effective_mode(), SslMode::Require);
    }

    #[test]
    fn verifying_modes_need_a_root() {
        for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
            let s = TlsSettings {
                mode,
                root_cert: None,
                client_cert: None,
            };
            let e = s.connector().err().expect("refused");
            assert!(e.contains("sslrootcert"), "{e}");
        }
    }

    #[test]
    fn missing_root_file_is_named() {
        let s = TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: Some(RootCert::File("/nonexistent/ca.pem".into())),
            client_cert: None,
        };
        let e = s.connector().err().expect("refused");
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn modes_round_trip() {
        for m in [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ] {
            assert_eq!(SslMode::parse(m).map(SslMode::as_str), Some(m));
        }
        assert_eq!(SslMode::parse("verify_full"), None);
    }
}
