//! Do the A and AAAA records lead to the same server? Without the CA's token
//! both may answer 404 and look alike, so the same requests (the token path
//! and the site root) go to the first A and to each AAAA, and what comes back
//! is compared: status, `Server`, `Location`, `Content-Type` and a digest of
//! the body. A field counts only when the first A gives it twice alike (a
//! date or nonce in a dynamic page is not a second server).
//!
//! The CA prefers IPv6 and falls back to IPv4 only on a dial error (Boulder
//! `va/http.go`), so an AAAA that leads elsewhere decides validation once the
//! real token is published on one server only.

use std::net::IpAddr;
use std::time::Instant;

use serde::Serialize;

use crate::config::ProbeConfig;
use crate::fetch::{self, ErrorKind, FetchOutcome, Scheme, Target};
use crate::limits;
use crate::resolver::ResolvedAddrs;

/// The site root, asked beside the token path: a second request whose answer
/// does not depend on any token.
pub const SITE_ROOT: &str = "/";

/// What one address answered to one request (a single hop: redirects are
/// compared by their `Location`, not followed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparedAnswer {
    /// Path and query asked.
    pub path: String,
    /// Status, when a response head came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Server` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// `Location` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `Content-Type` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// SHA-256 (hex) of the body as read, at most the probe's excerpt cap
    /// ([`limits::BODY_EXCERPT_LIMIT`]); absent for a redirect (its body is
    /// not read) or when no response came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
    /// Bytes of the body read (capped).
    pub body_bytes: usize,
    /// Whether the whole body was read.
    pub body_complete: bool,
    /// Why no (complete) response came, if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorKind>,
    /// Wall-clock time of the request, in milliseconds.
    pub elapsed_ms: f64,
}

impl ComparedAnswer {
    fn from_outcome(path: &str, outcome: &FetchOutcome) -> Self {
        let resp = outcome.response.as_ref();
        let header = |name: &str| resp.and_then(|r| r.header(name)).map(str::to_owned);
        let is_redirect = resp.is_some_and(|r| {
            matches!(r.status, 301 | 302 | 303 | 307 | 308)
                && r.location.as_deref().is_some_and(|l| !l.trim().is_empty())
        });
        Self {
            path: path.to_owned(),
            status: resp.map(|r| r.status),
            server: header("server"),
            location: resp.and_then(|r| r.location.clone()),
            content_type: header("content-type"),
            body_sha256: resp
                .filter(|_| !is_redirect && outcome.error.is_none())
                .and_then(|r| sha256_hex(&r.body.excerpt)),
            body_bytes: resp.map_or(0, |r| r.body.excerpt.len()),
            body_complete: resp.is_some_and(|r| r.body.complete),
            error: outcome.error.as_ref().map(|e| e.kind),
            elapsed_ms: outcome.timings.total_ms,
        }
    }

    /// The value of `field`, as shown in evidence (`None`: absent).
    pub fn field(&self, field: ComparedField) -> Option<String> {
        match field {
            ComparedField::Status => self.status.map(|s| s.to_string()),
            ComparedField::Server => self.server.clone(),
            ComparedField::Location => self.location.clone(),
            ComparedField::ContentType => self.content_type.clone(),
            ComparedField::Body => self
                .body_sha256
                .as_ref()
                .map(|d| format!("sha256:{d} ({} bytes)", self.body_bytes)),
        }
    }
}

/// One address and its answers, in [`AddressComparison::paths`] order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddressAnswers {
    /// The address asked.
    pub address: IpAddr,
    /// One answer per compared path.
    pub answers: Vec<ComparedAnswer>,
}

/// A compared part of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComparedField {
    /// The status code.
    Status,
    /// The `Server` header (software and often version).
    Server,
    /// The `Location` header of a redirect.
    Location,
    /// The `Content-Type` header.
    ContentType,
    /// The body's digest.
    Body,
}

impl ComparedField {
    /// Every field, in comparison order.
    pub const ALL: [ComparedField; 5] = [
        ComparedField::Status,
        ComparedField::Server,
        ComparedField::Location,
        ComparedField::ContentType,
        ComparedField::Body,
    ];

    /// How evidence names it.
    pub fn label(self) -> &'static str {
        match self {
            ComparedField::Status => "status",
            ComparedField::Server => "Server",
            ComparedField::Location => "Location",
            ComparedField::ContentType => "Content-Type",
            ComparedField::Body => "body",
        }
    }
}

/// One field on which an AAAA's answer differs from the first A's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The AAAA address.
    pub address: IpAddr,
    /// The path asked.
    pub path: String,
    /// What differs.
    pub field: ComparedField,
    /// The first A's value (twice alike).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The AAAA's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<String>,
}

/// The first A against each AAAA, on the same requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddressComparison {
    /// The paths asked, in order: the token path, then [`SITE_ROOT`].
    pub paths: Vec<String>,
    /// The first A (where the CA falls back to).
    pub reference: AddressAnswers,
    /// The first A asked again: a field that differs between the two is
    /// dynamic and not compared.
    pub reference_again: AddressAnswers,
    /// Each AAAA, at most [`limits::MAX_COMPARED_AAAA`], in record order.
    pub others: Vec<AddressAnswers>,
    /// Every field where an AAAA differs from the (stable) first A, in
    /// address, path and field order. Requests that got no response on
    /// either side are not compared: the attempts report connection failures.
    pub differences: Vec<Difference>,
}

impl AddressComparison {
    /// The differences for one address.
    pub fn differences_for(&self, address: IpAddr) -> impl Iterator<Item = &Difference> {
        self.differences
            .iter()
            .filter(move |d| d.address == address)
    }

    /// The answers of `address`, if it was compared.
    pub fn answers_of(&self, address: IpAddr) -> Option<&AddressAnswers> {
        std::iter::once(&self.reference)
            .chain(&self.others)
            .find(|a| a.address == address)
    }
}

/// SHA-256 through rustls' ring provider (already linked for TLS).
fn sha256_hex(data: &[u8]) -> Option<String> {
    use std::fmt::Write as _;
    let provider = fetch::ring_provider();
    let hash = provider.cipher_suites.iter().find_map(|s| {
        let h = s.tls13()?.common.hash_provider;
        (h.algorithm() == rustls::crypto::hash::HashAlgorithm::SHA256).then_some(h)
    })?;
    let digest = hash.hash(data);
    Some(
        digest
            .as_ref()
            .iter()
            .fold(String::with_capacity(64), |mut acc, b| {
                let _ = write!(acc, "{b:02x}");
                acc
            }),
    )
}

/// One GET on the CA's port 80, no redirect followed, within the probe's
/// per-phase budgets and its total deadline.
async fn ask(config: &ProbeConfig, host: &str, ip: IpAddr, path: &str) -> ComparedAnswer {
    let target = Target {
        host: host.to_owned(),
        ip,
        port: config.http_port,
        scheme: Scheme::Http,
        path: path.to_owned(),
        logical_port: Some(Scheme::Http.default_port()),
    };
    let deadline = Instant::now() + config.total_deadline;
    let outcome = fetch::fetch_until(config, &target, deadline, false).await;
    ComparedAnswer::from_outcome(path, &outcome)
}

/// The answer recorded for a request still running at the cutoff.
fn unfinished(path: &str) -> ComparedAnswer {
    ComparedAnswer {
        path: path.to_owned(),
        status: None,
        server: None,
        location: None,
        content_type: None,
        body_sha256: None,
        body_bytes: 0,
        body_complete: false,
        error: Some(ErrorKind::Timeout),
        elapsed_ms: 0.0,
    }
}

/// Compares the first A with each AAAA (at most [`limits::MAX_COMPARED_AAAA`])
/// on `token_path` and [`SITE_ROOT`]; `None` without both families. All
/// requests run at once: `2 x (2 + AAAA compared)` in all. Requests still
/// running when `cutoff` completes are recorded as timed out (and so not
/// compared): a slow home page must not hold the check up.
pub(crate) async fn compare_addresses(
    config: &ProbeConfig,
    host: &str,
    token_path: &str,
    resolved: &ResolvedAddrs,
    cutoff: impl std::future::Future<Output = ()>,
) -> Option<AddressComparison> {
    let reference = *resolved.v4.first()?;
    if resolved.v6.is_empty() {
        return None;
    }
    let mut paths = vec![token_path.to_owned()];
    if token_path != SITE_ROOT {
        paths.push(SITE_ROOT.to_owned());
    }
    // Rows: the first A, the first A again, then each AAAA.
    let rows: Vec<IpAddr> = [reference, reference]
        .into_iter()
        .chain(resolved.v6.iter().copied().take(limits::MAX_COMPARED_AAAA))
        .collect();
    let mut slots: Vec<Vec<Option<ComparedAnswer>>> = vec![vec![None; paths.len()]; rows.len()];
    let paths_ref = &paths;
    let mut running: futures::stream::FuturesUnordered<_> = rows
        .iter()
        .enumerate()
        .flat_map(|(r, ip)| {
            paths_ref
                .iter()
                .enumerate()
                .map(move |(p, path)| async move { (r, p, ask(config, host, *ip, path).await) })
        })
        .collect();
    let mut cutoff = std::pin::pin!(cutoff);
    // Bounded: one turn per request, or the cutoff.
    loop {
        tokio::select! {
            next = futures::StreamExt::next(&mut running) => match next {
                Some((r, p, answer)) => slots[r][p] = Some(answer),
                None => break,
            },
            () = &mut cutoff => break,
        }
    }
    drop(running);
    let mut rows = rows
        .into_iter()
        .zip(slots)
        .map(|(address, answers)| AddressAnswers {
            address,
            answers: answers
                .into_iter()
                .zip(&paths)
                .map(|(a, path)| a.unwrap_or_else(|| unfinished(path)))
                .collect(),
        });
    let (Some(first), Some(again)) = (rows.next(), rows.next()) else {
        return None;
    };
    let others: Vec<AddressAnswers> = rows.collect();
    let differences = differences(&first, &again, &others);
    Some(AddressComparison {
        paths,
        reference: first,
        reference_again: again,
        others,
        differences,
    })
}

/// Fields where an address differs from a reference that gave them twice
/// alike. Both sides must have a response head.
fn differences(
    reference: &AddressAnswers,
    again: &AddressAnswers,
    others: &[AddressAnswers],
) -> Vec<Difference> {
    let mut out = Vec::new();
    for other in others {
        for ((r1, r2), o) in reference
            .answers
            .iter()
            .zip(&again.answers)
            .zip(&other.answers)
        {
            if r1.status.is_none() || r2.status.is_none() || o.status.is_none() {
                continue;
            }
            for field in ComparedField::ALL {
                let (a, b, c) = (r1.field(field), r2.field(field), o.field(field));
                if a == b && a != c {
                    out.push(Difference {
                        address: other.address,
                        path: o.path.clone(),
                        field,
                        reference: a,
                        other: c,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, server: &str, body: &str) -> ComparedAnswer {
        ComparedAnswer {
            path: "/".to_owned(),
            status: Some(status),
            server: Some(server.to_owned()),
            location: None,
            content_type: None,
            body_sha256: sha256_hex(body.as_bytes()),
            body_bytes: body.len(),
            body_complete: true,
            error: None,
            elapsed_ms: 1.0,
        }
    }

    fn at(ip: &str, answers: Vec<ComparedAnswer>) -> AddressAnswers {
        AddressAnswers {
            address: ip.parse().unwrap(),
            answers,
        }
    }

    #[test]
    fn sha256_is_the_real_digest() {
        // FIPS 180-2 test vector "abc".
        assert_eq!(
            sha256_hex(b"abc").as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    #[test]
    fn only_fields_the_reference_repeats_count() {
        let r1 = at("192.0.2.1", vec![answer(200, "nginx", "home at 10:00:01")]);
        let r2 = at("192.0.2.1", vec![answer(200, "nginx", "home at 10:00:02")]);
        let same_server = at(
            "2001:db8::1",
            vec![answer(200, "nginx", "home at 10:00:03")],
        );
        assert!(differences(&r1, &r2, &[same_server]).is_empty());
        let other = at("2001:db8::2", vec![answer(404, "Apache", "gone")]);
        let d = differences(&r1, &r2, &[other]);
        let fields: Vec<ComparedField> = d.iter().map(|d| d.field).collect();
        // The body is dynamic on the reference, so it is not compared.
        assert_eq!(fields, vec![ComparedField::Status, ComparedField::Server]);
        assert_eq!(d[0].reference.as_deref(), Some("200"));
        assert_eq!(d[0].other.as_deref(), Some("404"));
    }

    #[test]
    fn a_side_without_a_response_is_not_compared() {
        let r1 = at("192.0.2.1", vec![answer(404, "nginx", "x")]);
        let r2 = r1.clone();
        let mut dead = answer(404, "nginx", "x");
        dead.status = None;
        dead.server = None;
        dead.body_sha256 = None;
        dead.error = Some(ErrorKind::Refused);
        assert!(differences(&r1, &r2, &[at("2001:db8::1", vec![dead])]).is_empty());
    }
}
