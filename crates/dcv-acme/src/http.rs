//! The HTTP client behind `instant-acme`: hyper with rustls (ring), every
//! request bounded by [`limits::REQUEST_TIMEOUT`] and every body by
//! [`limits::MAX_BODY_BYTES`], so an ACME server that stalls or floods cannot
//! hold a check. Trust: the system's roots, or one PEM CA (`--acme-ca-cert`,
//! a test CA such as Pebble's).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};

use crate::limits;

type Inner = Client<hyper_rustls::HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>;

/// An `instant_acme::HttpClient` with bounds.
#[derive(Clone)]
pub struct BoundedClient {
    inner: Inner,
}

impl std::fmt::Debug for BoundedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedClient").finish_non_exhaustive()
    }
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read the ACME CA certificate {path}: {detail}")]
    CaCert { path: String, detail: String },
    #[error("no TLS trust roots: {0}")]
    Roots(String),
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl BoundedClient {
    /// Trusting the system's roots, or only the PEM certificates in `ca_cert`.
    pub fn new(ca_cert: Option<&Path>) -> Result<BoundedClient, ClientError> {
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match ca_cert {
            None => builder
                .with_provider_and_platform_verifier(ring())
                .map_err(|e| ClientError::Roots(e.to_string()))?,
            Some(path) => {
                use rustls_pki_types::pem::PemObject as _;
                let err = |detail: String| ClientError::CaCert {
                    path: path.display().to_string(),
                    detail,
                };
                let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
                if meta.len() > limits::MAX_KEY_FILE_BYTES * 16 {
                    return Err(err("too large for a CA certificate".to_owned()));
                }
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls_pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|e| err(e.to_string()))?
                {
                    roots
                        .add(cert.map_err(|e| err(e.to_string()))?)
                        .map_err(|e| err(e.to_string()))?;
                }
                if roots.is_empty() {
                    return Err(err("no certificate in the file".to_owned()));
                }
                let config = rustls::ClientConfig::builder_with_provider(ring())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| ClientError::Roots(e.to_string()))?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                builder.with_tls_config(config)
            }
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(limits::CONNECT_TIMEOUT));
        let https = builder
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Ok(BoundedClient {
            inner: Client::builder(TokioExecutor::new()).build(https),
        })
    }
}

fn other(detail: String) -> instant_acme::Error {
    instant_acme::Error::Other(detail.into())
}

impl HttpClient for BoundedClient {
    fn request(
        &self,
        req: hyper::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let uri = req.uri().to_string();
        let fut = self.inner.request(req);
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + limits::REQUEST_TIMEOUT;
            let response = tokio::time::timeout_at(deadline, fut)
                .await
                .map_err(|_| {
                    other(format!(
                        "{uri}: no answer within {}s",
                        limits::REQUEST_TIMEOUT.as_secs()
                    ))
                })?
                .map_err(|e| {
                    let mut detail = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(s) = source {
                        detail = format!("{detail}: {s}");
                        source = s.source();
                    }
                    other(format!("{uri}: {detail}"))
                })?;
            let (parts, body) = response.into_parts();
            let body = tokio::time::timeout_at(
                deadline,
                Limited::new(body, limits::MAX_BODY_BYTES).collect(),
            )
            .await
            .map_err(|_| other(format!("{uri}: the answer did not finish in time")))?
            .map_err(|e| other(format!("{uri}: reading the answer: {e}")))?
            .to_bytes();
            Ok(BytesResponse::from(hyper::Response::from_parts(
                parts,
                Full::new(body),
            )))
        })
    }
}
