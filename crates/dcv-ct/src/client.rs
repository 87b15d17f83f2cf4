//! The CT search client: `GET <source>?q=<name>&output=json&exclude=expired`
//! against crt.sh or any endpoint that answers its JSON, with a connect
//! timeout, a whole-query timeout, a body cap and a row cap. Every failure is
//! a typed [`CtError`] the report shows as "could not check", never a count.
//!
//! Names are resolved by the system resolver: the source is a public
//! third-party service the user chose with `--ct`/`--ct-url`, not a name
//! under test.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use crate::limits;
use crate::model::CrtShEntry;
use crate::names::NameSet;

/// crt.sh, the default source (`check --ct`).
pub const CRT_SH: &str = "https://crt.sh/";

/// A crt.sh-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtSource {
    base: url::Url,
}

impl CtSource {
    /// crt.sh itself.
    pub fn crt_sh() -> CtSource {
        CtSource {
            base: url::Url::parse(CRT_SH).unwrap_or_else(|_| unreachable!("constant URL")),
        }
    }

    /// A user-given endpoint: `http` or `https`, with a host, without a query
    /// or fragment (we add `?q=...&output=json`).
    pub fn parse(input: &str) -> Result<CtSource, String> {
        let base = url::Url::parse(input).map_err(|e| format!("{input:?} is not a URL: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(format!(
                "{input:?}: the CT source must be an http or https URL"
            ));
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(format!("{input:?} has no host"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(format!(
                "{input:?}: give the endpoint without a query; dcv-doctor adds ?q=<name>&output=json"
            ));
        }
        Ok(CtSource { base })
    }

    /// The URL for one search: `q`, `output=json`, and `exclude=expired`
    /// (certificates issued more than their lifetime ago cannot be in a 7-day
    /// window; the renewal look-back loses expired ones, see the caveats).
    pub fn query_url(&self, q: &str) -> url::Url {
        let mut url = self.base.clone();
        url.query_pairs_mut()
            .append_pair("q", q)
            .append_pair("output", "json")
            .append_pair("exclude", "expired");
        url
    }

    pub fn as_str(&self) -> &str {
        self.base.as_str()
    }
}

impl std::fmt::Display for CtSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.base.as_str())
    }
}

/// Why the CT source could not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CtErrorKind {
    /// Could not connect, or TLS failed.
    Connect,
    /// No complete answer within [`limits::QUERY_TIMEOUT`].
    Timeout,
    /// Answered with a status other than 200 (crt.sh says 502/503 when busy).
    Status,
    /// The body is larger than [`limits::MAX_BODY_BYTES`].
    TooLarge,
    /// More rows than [`limits::MAX_ROWS`].
    TooManyRows,
    /// Not a crt.sh JSON array.
    Malformed,
    /// The client itself could not be built (no trust roots).
    Setup,
}

/// A failed CT query: which URL, what kind of failure, and the detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{url}: {detail}")]
pub struct CtError {
    pub url: String,
    pub kind: CtErrorKind,
    pub detail: String,
}

/// What the source returned for one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CtRows {
    /// The URLs asked, in order.
    pub queries: Vec<String>,
    pub rows: Vec<CrtShEntry>,
}

/// A reusable client (one connection pool).
#[derive(Clone)]
pub struct CtClient {
    http: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for CtClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl CtClient {
    /// A client that verifies TLS against the platform's roots, ring only.
    pub fn new() -> Result<CtClient, CtError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(limits::CONNECT_TIMEOUT));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(provider)
            .map_err(|e| CtError {
                url: String::new(),
                kind: CtErrorKind::Setup,
                detail: format!("no TLS trust roots: {e}"),
            })?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Ok(CtClient {
            http: Client::builder(TokioExecutor::new()).build(https),
            timeout: limits::QUERY_TIMEOUT,
        })
    }

    /// Shortens the per-query timeout (tests of a source that never answers).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> CtClient {
        self.timeout = timeout;
        self
    }

    /// One search.
    pub async fn search(&self, source: &CtSource, q: &str) -> Result<Vec<CrtShEntry>, CtError> {
        let url = source.query_url(q);
        let err = |kind, detail: String| CtError {
            url: url.to_string(),
            kind,
            detail,
        };
        let uri: hyper::Uri = url
            .as_str()
            .parse()
            .map_err(|e| err(CtErrorKind::Malformed, format!("bad URL: {e}")))?;
        let request = hyper::Request::get(uri)
            .header(hyper::header::ACCEPT, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("dcv-doctor/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| err(CtErrorKind::Malformed, e.to_string()))?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let response = tokio::time::timeout_at(deadline, self.http.request(request))
            .await
            .map_err(|_| {
                err(
                    CtErrorKind::Timeout,
                    format!("no answer within {}s", self.timeout.as_secs()),
                )
            })?
            .map_err(|e| {
                let mut detail = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    detail = format!("{detail}: {s}");
                    source = s.source();
                }
                err(CtErrorKind::Connect, detail)
            })?;
        let status = response.status();
        let body = tokio::time::timeout_at(
            deadline,
            Limited::new(response.into_body(), limits::MAX_BODY_BYTES).collect(),
        )
        .await
        .map_err(|_| {
            err(
                CtErrorKind::Timeout,
                format!(
                    "the answer did not finish within {}s",
                    self.timeout.as_secs()
                ),
            )
        })?
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                err(
                    CtErrorKind::TooLarge,
                    format!(
                        "the answer is larger than {} MiB; too many certificates to count reliably",
                        limits::MAX_BODY_BYTES / (1024 * 1024)
                    ),
                )
            } else {
                err(CtErrorKind::Connect, format!("reading the answer: {e}"))
            }
        })?
        .to_bytes();
        if status != hyper::StatusCode::OK {
            let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(err(
                CtErrorKind::Status,
                format!("HTTP {status}: {}", text.trim()),
            ));
        }
        parse_rows(&body).map_err(|(kind, detail)| err(kind, detail))
    }

    /// Every row that can matter for an order: for each registered domain
    /// `D` of its names (at most [`limits::MAX_REGISTERED_DOMAINS`]), `q=D`
    /// and `q=%.D`, at most [`limits::QUERY_CONCURRENCY`] at once. The
    /// first failure fails the whole count.
    pub async fn rows_for(&self, source: &CtSource, order: &NameSet) -> Result<CtRows, CtError> {
        let queries: Vec<String> = order
            .covering_identifiers()
            .into_iter()
            .take(limits::MAX_REGISTERED_DOMAINS)
            .flat_map(|d| {
                // An address block is searched by its address.
                let d = d.split('/').next().unwrap_or(&d).to_owned();
                if d.parse::<std::net::IpAddr>().is_ok() {
                    vec![d]
                } else {
                    vec![d.clone(), format!("%.{d}")]
                }
            })
            .collect();
        let results: Vec<Result<Vec<CrtShEntry>, CtError>> = futures::stream::iter(&queries)
            .map(|q| self.search(source, q))
            .buffered(limits::QUERY_CONCURRENCY)
            .collect()
            .await;
        let mut rows = Vec::new();
        for r in results {
            rows.extend(r?);
        }
        Ok(CtRows {
            queries: queries
                .iter()
                .map(|q| source.query_url(q).to_string())
                .collect(),
            rows,
        })
    }
}

/// Parses a crt.sh JSON answer (`null` is an empty answer).
fn parse_rows(body: &[u8]) -> Result<Vec<CrtShEntry>, (CtErrorKind, String)> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        let start: String = String::from_utf8_lossy(body).chars().take(80).collect();
        (
            CtErrorKind::Malformed,
            format!("not JSON ({e}); the answer starts {start:?}"),
        )
    })?;
    let items = match value {
        serde_json::Value::Null => return Ok(Vec::new()),
        serde_json::Value::Array(items) => items,
        other => {
            return Err((
                CtErrorKind::Malformed,
                format!(
                    "expected a JSON array of certificates, got {}",
                    match other {
                        serde_json::Value::Object(_) => "an object",
                        _ => "a scalar",
                    }
                ),
            ));
        }
    };
    if items.len() > limits::MAX_ROWS {
        return Err((
            CtErrorKind::TooManyRows,
            format!(
                "{} rows, more than the {} this count reads",
                items.len(),
                limits::MAX_ROWS
            ),
        ));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value(item).map_err(|e| {
                (
                    CtErrorKind::Malformed,
                    format!("row {i} is not a crt.sh certificate row: {e}"),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_validated_and_queries_built() {
        let s = CtSource::parse("http://127.0.0.1:8080/ct").unwrap();
        assert_eq!(
            s.query_url("%.example.com").as_str(),
            "http://127.0.0.1:8080/ct?q=%25.example.com&output=json&exclude=expired"
        );
        assert_eq!(
            CtSource::crt_sh().query_url("example.com").as_str(),
            "https://crt.sh/?q=example.com&output=json&exclude=expired"
        );
        for bad in [
            "ftp://x/",
            "crt.sh",
            "https://crt.sh/?q=x",
            "http://",
            "file:///etc/passwd",
        ] {
            assert!(CtSource::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_that_are_not_rows_are_malformed() {
        assert_eq!(parse_rows(b"null").unwrap(), Vec::new());
        assert_eq!(parse_rows(b"[]").unwrap(), Vec::new());
        for bad in [
            &b"<html>502 Bad Gateway</html>"[..],
            b"{\"error\":1}",
            b"[{\"id\":1}]",
        ] {
            assert_eq!(parse_rows(bad).unwrap_err().0, CtErrorKind::Malformed);
        }
    }
}
