//! Connections to PostgreSQL: two deadpool pools over tokio-postgres, one
//! whose commits wait for the WAL flush and one (`synchronous_commit = off`)
//! for writes whose loss in a server crash costs nothing. Connections are
//! recycled without a round trip (deadpool's `Fast`: a closed connection is
//! noticed by the client itself), and each prepares a statement once and
//! keeps it (`prepare_cached`).
//!
//! TLS follows libpq's `sslmode`: `prefer` and `require` encrypt without
//! checking the certificate, `verify-ca`/`verify-full` check it against the
//! web PKI roots and the host name; see `url.rs` for the loopback default.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::SslMode;

use crate::store::StoreError;
use crate::store::url::{PgTls, PostgresTarget};

/// Connections of the durable pool; PostgreSQL queues writers on row locks
/// itself.
const POOL: usize = 16;
/// Connections of the lazy pool (touches, purges).
const LAZY_POOL: usize = 4;
const WAIT: Duration = Duration::from_secs(5);

pub(super) fn pool(target: &PostgresTarget, lazy: bool) -> Result<Pool, StoreError> {
    let mut config = target.config.clone();
    if lazy {
        let options = config.get_options().unwrap_or_default();
        config.options(format!("{options} -c synchronous_commit=off").trim());
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(WAIT);
    }
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match target.tls {
        PgTls::Disable => {
            config.ssl_mode(SslMode::Disable);
            Manager::from_config(config, tokio_postgres::NoTls, manager_config)
        }
        tls => {
            config.ssl_mode(if tls == PgTls::Prefer {
                SslMode::Prefer
            } else {
                SslMode::Require
            });
            let rustls = client_config(tls == PgTls::Verify)?;
            let connector = tokio_postgres_rustls::MakeRustlsConnect::new(rustls);
            Manager::from_config(config, connector, manager_config)
        }
    };
    Pool::builder(manager)
        .max_size(if lazy { LAZY_POOL } else { POOL })
        .wait_timeout(Some(WAIT))
        .create_timeout(Some(WAIT))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Config(format!("postgres pool: {e}")))
}

fn client_config(verify: bool) -> Result<rustls::ClientConfig, StoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Config(format!("postgres TLS: {e}")))?;
    let config = if verify {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth()
    };
    Ok(config)
}

/// `sslmode=prefer`/`require`: the channel is encrypted and the handshake's
/// signatures are checked, but any certificate is accepted, as libpq does.
/// Use `verify-full` where the network between us and the server is not
/// trusted.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
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
