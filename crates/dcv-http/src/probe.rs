//! The HTTP-01 probe: every address separately, manual redirects under
//! Boulder's rules, and the CA's own path computed from those results.

use std::net::IpAddr;
use std::time::Instant;

use serde::Serialize;
use url::Url;

use crate::classify::{self, Classification, TokenScope};
use crate::compare::{self, AddressComparison};
use crate::config::ProbeConfig;
use crate::fetch::{
    self, ErrorKind, FetchError, FetchOutcome, FetchResponse, Phase, Scheme, Target, Timings,
    TlsInfo,
};
use crate::ip_policy;
use crate::limits;
use crate::message::{self, CaProblem, ProblemType};
use crate::redirect::{self, BadRedirect};
use crate::resolver::{AddressResolver, ResolveError, ResolvedAddrs};

/// Inputs the probe refuses outright.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// HTTP-01 cannot prove control of a wildcard (RFC 8555 §8.3; BR
    /// 3.2.2.4.19 excludes wildcards): use DNS-01.
    #[error(
        "HTTP-01 cannot validate the wildcard name {hostname} (RFC 8555 §8.3, BR 3.2.2.4.19); use DNS-01"
    )]
    WildcardNotAllowed {
        /// The name given.
        hostname: String,
    },
    /// Not a usable host name or IP literal.
    #[error("invalid hostname {hostname:?}: {why}")]
    InvalidHostname {
        /// The name given.
        hostname: String,
        /// What is wrong.
        why: String,
    },
    /// The token is not base64url (RFC 8555 §8.1) or the path is unusable.
    #[error("invalid token or path {0:?}")]
    InvalidTokenPath(String),
}

/// IP version of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// An A record.
    Ipv4,
    /// A AAAA record.
    Ipv6,
}

impl Family {
    /// The family of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        if ip.is_ipv6() {
            Family::Ipv6
        } else {
            Family::Ipv4
        }
    }
}

/// One request in a chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hop {
    /// The CA-side URL (logical ports).
    pub url: String,
    /// Host for `Host`/SNI.
    pub host: String,
    /// Scheme.
    pub scheme: Scheme,
    /// CA-side port (80 or 443).
    pub port: u16,
    /// Socket port dialled.
    pub socket_port: u16,
    /// Address dialled (absent when the hop's host did not resolve).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// For redirect hops on a name: what the name resolved to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addresses_resolved: Option<ResolvedAddrs>,
    /// Response status, when a head arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Location`, verbatim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Per-phase timings.
    pub timings: Timings,
    /// TLS facts for https hops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    /// Response head and body excerpt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<FetchResponse>,
    /// The failure, if this hop failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FetchError>,
}

/// One starting address's chain and what it amounts to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddressAttempt {
    /// The starting address.
    pub address: IpAddr,
    /// Its family.
    pub family: Family,
    /// Every request made, in order.
    pub hops: Vec<Hop>,
    /// The redirect that was refused, if one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_redirect: Option<BadRedirect>,
    /// The verdict for this address.
    pub classification: Classification,
    /// Whether the verdict holds for every token, or only for the one asked.
    pub token_scope: TokenScope,
    /// What Let's Encrypt would say, had it used this address (absent when
    /// it would succeed, or when no expected body was given and the answer
    /// was a small 200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_problem: Option<CaProblem>,
}

impl AddressAttempt {
    /// Whether this chain ended in a dial error (Boulder `fallbackErr`).
    pub fn ended_in_dial_error(&self) -> bool {
        self.hops
            .last()
            .and_then(|h| h.error.as_ref())
            .is_some_and(FetchError::is_dial_error)
    }

    /// The failure that ended this chain, with its typed [`ErrorKind`] and
    /// [`Phase`] (e.g. `Unreachable` in `Connect`: `ENETUNREACH` or
    /// `EHOSTUNREACH`, which may mean this machine has no route to the
    /// family), if the last hop failed.
    pub fn final_error(&self) -> Option<&FetchError> {
        self.hops.last().and_then(|h| h.error.as_ref())
    }
}

/// The CA's own path (Boulder `va/http.go`): the first AAAA; the first A only
/// after a dial error on it. A bad status, body or redirect on IPv6 is final.
///
/// A dial error on a redirect hop also counts: Boulder's fallback re-runs the
/// request from the initial host on its first A (redirect hops then use their
/// own first AAAA again), which is exactly the first-A attempt's chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaView {
    /// Addresses the CA would dial for the initial host, in order.
    pub addresses_tried: Vec<IpAddr>,
    /// Whether it fell back from IPv6 to IPv4.
    pub fell_back_to_ipv4: bool,
    /// Index into [`HttpProbeReport::attempts`] of the deciding attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<usize>,
    /// The verdict the CA would reach.
    pub classification: Classification,
    /// The CA's problem, if it would fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<CaProblem>,
    /// Whether the verdict holds for every token or only the one asked.
    pub token_scope: TokenScope,
    /// `Some(true)` when the expected body would validate, `Some(false)` when
    /// validation would fail (with no expected body: when it fails for every
    /// token, [`TokenScope::EveryToken`]), `None` when it depends on a token
    /// and body that were not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validates: Option<bool>,
}

/// Everything the probe found for one hostname.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpProbeReport {
    /// The name probed (lower-case, no trailing dot).
    pub hostname: String,
    /// The initial URL, as the CA writes it.
    pub url: String,
    /// What the initial name resolved to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<ResolvedAddrs>,
    /// Why it did not resolve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolve_error: Option<ResolveError>,
    /// One attempt per address, AAAA first.
    pub attempts: Vec<AddressAttempt>,
    /// The CA's own path and verdict.
    pub ca_view: CaView,
    /// Without an expected body: what the first A and each AAAA answer to the
    /// same requests, to tell whether they lead to the same server when the
    /// verdicts alone cannot (a 404 from both).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<AddressComparison>,
}

impl HttpProbeReport {
    /// The attempt from the first AAAA address, if any.
    pub fn first_ipv6(&self) -> Option<&AddressAttempt> {
        self.attempts.iter().find(|a| a.family == Family::Ipv6)
    }

    /// The attempt from the first A address, if any.
    pub fn first_ipv4(&self) -> Option<&AddressAttempt> {
        self.attempts.iter().find(|a| a.family == Family::Ipv4)
    }

    /// True when the first AAAA and first A end differently (e.g. IPv6 404,
    /// IPv4 serving the token): the caller's `ipv6_mismatch`.
    pub fn families_disagree(&self) -> bool {
        match (self.first_ipv6(), self.first_ipv4()) {
            (Some(v6), Some(v4)) => {
                v6.classification.outcome().code() != v4.classification.outcome().code()
            }
            _ => false,
        }
    }
}

fn normalise_hostname(hostname: &str) -> Result<String, ProbeError> {
    let trimmed = hostname.trim();
    let host = trimmed
        .strip_suffix('.')
        .unwrap_or(trimmed)
        .to_ascii_lowercase();
    if host.starts_with("*.") || host.contains('*') {
        return Err(ProbeError::WildcardNotAllowed {
            hostname: hostname.to_owned(),
        });
    }
    let invalid = |why: &str| ProbeError::InvalidHostname {
        hostname: hostname.to_owned(),
        why: why.to_owned(),
    };
    if host.is_empty() {
        return Err(invalid("empty"));
    }
    if host.len() > limits::MAX_HOSTNAME_LEN {
        return Err(invalid("longer than 253 characters"));
    }
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&host)
        .to_owned();
    if host.parse::<IpAddr>().is_err()
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err(invalid(
            "only letters, digits, '-', '_' and '.' (A-labels) are allowed",
        ));
    }
    Ok(host)
}

fn challenge_path(token_path: &str) -> Result<String, ProbeError> {
    let bad = || ProbeError::InvalidTokenPath(token_path.to_owned());
    if let Some(path) = token_path.strip_prefix('/').map(|_| token_path) {
        if path.len() > limits::MAX_REDIRECT_PATH_BYTES
            || path
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '#')
        {
            return Err(bad());
        }
        return Ok(path.to_owned());
    }
    // RFC 8555 §8.1: tokens are base64url without padding.
    if token_path.is_empty()
        || token_path.len() > limits::MAX_REDIRECT_PATH_BYTES
        || !token_path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(bad());
    }
    Ok(format!("{}{token_path}", limits::ACME_CHALLENGE_PREFIX))
}

fn url_host(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => host.to_owned(),
    }
}

/// Probes `hostname` like an HTTP-01 validation would.
///
/// `token_path` is either a bare token (base64url, RFC 8555 §8.1), fetched at
/// `/.well-known/acme-challenge/<token>`, or a full path starting with `/`.
/// `expected_body` is the key authorisation; without it a 404 counts as
/// "reachable, token not published".
///
/// Every address of the name is fetched separately and concurrently;
/// redirect hops re-resolve their host and use its first AAAA (else first A)
/// like the CA does, so the first-A attempt is exactly what the CA sees after
/// an IPv6 dial failure.
pub async fn probe(
    config: &ProbeConfig,
    hostname: &str,
    token_path: &str,
    expected_body: Option<&str>,
    resolver: &dyn AddressResolver,
) -> Result<HttpProbeReport, ProbeError> {
    let host = normalise_hostname(hostname)?;
    let path = challenge_path(token_path)?;
    let url = Url::parse(&format!("http://{}{path}", url_host(&host))).map_err(|e| {
        ProbeError::InvalidHostname {
            hostname: hostname.to_owned(),
            why: e.to_string(),
        }
    })?;

    let resolution = match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_ipv6() => Ok(ResolvedAddrs {
            v6: vec![ip],
            v4: vec![],
        }),
        Ok(ip) => Ok(ResolvedAddrs {
            v6: vec![],
            v4: vec![ip],
        }),
        Err(_) => {
            match tokio::time::timeout(config.total_deadline, resolver.resolve(&host)).await {
                Ok(r) => r,
                Err(_) => Err(ResolveError::new(format!(
                    "DNS problem: query timed out looking up A/AAAA for {host}"
                ))),
            }
        }
    };

    let resolved = match resolution {
        Ok(r) if !r.is_empty() => r,
        Ok(r) => {
            let err = ResolveError::new(format!(
                "DNS problem: no valid A records found for {host}; no valid AAAA records found for {host}"
            ));
            return Ok(unresolved_report(host, &url, Some(r), err));
        }
        Err(err) => return Ok(unresolved_report(host, &url, None, err)),
    };

    let addrs: Vec<IpAddr> = resolved.all().collect();
    let marker = token_marker(&path);
    let attempts_done = tokio::sync::Notify::new();
    let attempts = async {
        let attempts = futures::future::join_all(
            addrs
                .iter()
                .map(|ip| run_chain(config, resolver, &url, *ip, expected_body, marker)),
        )
        .await;
        attempts_done.notify_one();
        attempts
    };
    // Beside the attempts, not after them, and at most `COMPARISON_GRACE`
    // longer: the comparison adds no round trip to the critical path unless
    // the site root is slower than the token path.
    let comparison = async {
        if expected_body.is_some() {
            return None;
        }
        let cutoff = async {
            attempts_done.notified().await;
            tokio::time::sleep(limits::COMPARISON_GRACE).await;
        };
        compare::compare_addresses(config, &host, &path, &resolved, cutoff).await
    };
    let (attempts, comparison) = tokio::join!(attempts, comparison);

    let ca_view = ca_view(&resolved, &attempts, expected_body);
    Ok(HttpProbeReport {
        hostname: host,
        url: url.to_string(),
        resolved: Some(resolved),
        resolve_error: None,
        attempts,
        ca_view,
        comparison,
    })
}

fn unresolved_report(
    host: String,
    url: &Url,
    resolved: Option<ResolvedAddrs>,
    err: ResolveError,
) -> HttpProbeReport {
    let classification = Classification::Unreachable {
        phase: Phase::Dns,
        error_kind: ErrorKind::DnsFailure,
        address: None,
        url: url.to_string(),
        after_redirect: false,
        detail: err.message.clone(),
    };
    HttpProbeReport {
        hostname: host,
        url: url.to_string(),
        resolved,
        ca_view: CaView {
            addresses_tried: vec![],
            fell_back_to_ipv4: false,
            attempt: None,
            classification,
            problem: Some(CaProblem::new(ProblemType::Dns, err.message.clone())),
            token_scope: TokenScope::EveryToken,
            validates: Some(false),
        },
        resolve_error: Some(err),
        attempts: vec![],
        comparison: None,
    }
}

/// Computes the CA's path from the per-address attempts (no refetching).
fn ca_view(
    resolved: &ResolvedAddrs,
    attempts: &[AddressAttempt],
    expected: Option<&str>,
) -> CaView {
    let index_of =
        |ip: Option<&IpAddr>| ip.and_then(|ip| attempts.iter().position(|a| a.address == *ip));
    let v6 = index_of(resolved.v6.first());
    let v4 = index_of(resolved.v4.first());
    let mut tried = Vec::new();
    let mut fell_back = false;
    let chosen = match (v6, v4) {
        (Some(i6), Some(i4)) => {
            tried.push(attempts[i6].address);
            if attempts[i6].ended_in_dial_error() {
                fell_back = true;
                tried.push(attempts[i4].address);
                i4
            } else {
                i6
            }
        }
        (Some(i), None) | (None, Some(i)) => {
            tried.push(attempts[i].address);
            i
        }
        (None, None) => 0,
    };
    let Some(att) = attempts.get(chosen) else {
        return CaView {
            addresses_tried: tried,
            fell_back_to_ipv4: false,
            attempt: None,
            classification: Classification::Unreachable {
                phase: Phase::Dns,
                error_kind: ErrorKind::DnsFailure,
                address: None,
                url: String::new(),
                after_redirect: false,
                detail: "no address to try".to_owned(),
            },
            problem: None,
            token_scope: TokenScope::Undetermined,
            validates: None,
        };
    };
    let validates = match expected {
        Some(_) => Some(att.ca_problem.is_none()),
        None => (att.token_scope == TokenScope::EveryToken).then_some(false),
    };
    CaView {
        addresses_tried: tried,
        fell_back_to_ipv4: fell_back,
        attempt: Some(chosen),
        classification: att.classification.clone(),
        problem: att.ca_problem.clone(),
        token_scope: att.token_scope,
        validates,
    }
}

fn hop_from(url: &Url, target: &Target, logical_port: u16, outcome: FetchOutcome) -> Hop {
    Hop {
        url: url.to_string(),
        host: target.host.clone(),
        scheme: target.scheme,
        port: logical_port,
        socket_port: target.port,
        address: Some(target.ip),
        addresses_resolved: None,
        status: outcome.response.as_ref().map(|r| r.status),
        location: outcome.response.as_ref().and_then(|r| r.location.clone()),
        timings: outcome.timings,
        tls: outcome.tls,
        response: outcome.response,
        error: outcome.error,
    }
}

enum End {
    /// The last hop's response is final.
    Final,
    /// The last hop failed.
    Failed,
    /// A redirect was refused.
    Refused(BadRedirect),
}

/// Resolves a redirect target's name: first AAAA, else first A, after
/// dropping reserved addresses unless `allow_private` (Boulder `getAddrs`).
async fn resolve_hop(
    config: &ProbeConfig,
    resolver: &dyn AddressResolver,
    host: &str,
    deadline: Instant,
) -> (Option<ResolvedAddrs>, Result<IpAddr, String>) {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let Ok(res) = tokio::time::timeout(remaining, resolver.resolve(host)).await else {
        return (
            None,
            Err(format!(
                "DNS problem: query timed out looking up A/AAAA for {host}"
            )),
        );
    };
    match res {
        Err(e) => (None, Err(e.message)),
        Ok(addrs) => {
            let usable = |ips: &[IpAddr]| -> Vec<IpAddr> {
                ips.iter()
                    .copied()
                    .filter(|ip| config.allow_private || !ip_policy::is_reserved(*ip))
                    .collect()
            };
            let filtered = ResolvedAddrs {
                v6: usable(&addrs.v6),
                v4: usable(&addrs.v4),
            };
            match filtered.preferred() {
                Some(ip) => (Some(addrs), Ok(ip)),
                None => (
                    Some(addrs),
                    Err(format!(
                        "DNS problem: no valid A records found for {host}; no valid AAAA records found for {host}"
                    )),
                ),
            }
        }
    }
}

async fn run_chain(
    config: &ProbeConfig,
    resolver: &dyn AddressResolver,
    initial: &Url,
    first_ip: IpAddr,
    expected: Option<&str>,
    marker: Option<&str>,
) -> AddressAttempt {
    let deadline = Instant::now() + config.total_deadline;
    let mut hops: Vec<Hop> = Vec::new();
    let mut visited: Vec<String> = Vec::new();
    let mut url = initial.clone();
    let mut ip = first_ip;
    let mut resolved_here: Option<ResolvedAddrs> = None;
    let mut followed = 0usize;
    let mut end = End::Failed;

    // Bounded: `check_redirect` refuses once `followed > max_redirects`.
    for _ in 0..config.max_redirects.saturating_add(2) {
        let parts = match redirect::url_parts(config, &url) {
            Ok(p) => p,
            Err(reason) => {
                end = End::Refused(BadRedirect {
                    reason,
                    location: None,
                    target_url: Some(url.to_string()),
                });
                break;
            }
        };
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        let target = Target {
            host: parts.host.clone(),
            ip,
            port: parts.socket_port,
            scheme: parts.scheme,
            path,
            logical_port: Some(parts.logical_port),
        };
        visited.push(url.to_string());
        let outcome = fetch::fetch_until(config, &target, deadline, false).await;
        let mut hop = hop_from(&url, &target, parts.logical_port, outcome);
        hop.addresses_resolved = resolved_here.take();
        let failed = hop.error.is_some();
        let redirect = match (&hop.status, &hop.location) {
            // Like Go's client, a redirect status without a (non-empty)
            // `Location` is a final response.
            (Some(s @ (301 | 302 | 303 | 307 | 308)), Some(loc)) if !loc.trim().is_empty() => {
                Some((*s, loc.clone()))
            }
            _ => None,
        };
        hops.push(hop);
        if failed {
            end = End::Failed;
            break;
        }
        let Some((status, location)) = redirect else {
            end = End::Final;
            break;
        };
        match redirect::check_redirect(config, &url, status, &location, &visited, followed) {
            Err(bad) => {
                end = End::Refused(*bad);
                break;
            }
            Ok(next) => {
                followed += 1;
                let next_ip = if let Some(lit) = next.ip {
                    Ok(lit)
                } else {
                    let (addrs, choice) = resolve_hop(config, resolver, &next.host, deadline).await;
                    resolved_here = addrs;
                    choice
                };
                match next_ip {
                    Ok(n) => {
                        ip = n;
                        url = next.url;
                    }
                    Err(msg) => {
                        hops.push(Hop {
                            url: next.url.to_string(),
                            host: next.host.clone(),
                            scheme: next.scheme,
                            port: next.logical_port,
                            socket_port: next.socket_port,
                            address: None,
                            addresses_resolved: resolved_here.take(),
                            status: None,
                            location: None,
                            timings: Timings::default(),
                            tls: None,
                            response: None,
                            error: Some(FetchError::new(Phase::Dns, ErrorKind::DnsFailure, msg)),
                        });
                        end = End::Failed;
                        break;
                    }
                }
            }
        }
    }

    let classification = classify_chain(&hops, &end, expected);
    let ca_problem = ca_problem(&hops, &end, expected);
    let token_scope = token_scope(&hops, &end, &classification, marker);
    AddressAttempt {
        address: first_ip,
        family: Family::of(first_ip),
        refused_redirect: match end {
            End::Refused(b) => Some(b),
            _ => None,
        },
        hops,
        classification,
        token_scope,
        ca_problem,
    }
}

/// The part of the challenge path that names the token: its last segment
/// (the token itself for `/.well-known/acme-challenge/<token>`). `None` when
/// the path has no such segment (`/`).
fn token_marker(path: &str) -> Option<&str> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.rsplit('/').next().filter(|s| !s.is_empty())
}

/// Whether `url`'s path and query still name the token.
fn names_token(url: &str, marker: &str) -> bool {
    match Url::parse(url) {
        Ok(u) => u.path().contains(marker) || u.query().is_some_and(|q| q.contains(marker)),
        Err(_) => url.contains(marker),
    }
}

/// Whether the chain's answer holds for every token. A redirect that carries
/// the token along (`return 301 https://$host$request_uri`) is a rule for the
/// whole path, so what follows it holds for every token; one that drops it
/// (to `/`, to a 404 page) may be what the server does only for a file that
/// does not exist, so a failure after it says nothing about the real token.
fn token_scope(
    hops: &[Hop],
    end: &End,
    classification: &Classification,
    marker: Option<&str>,
) -> TokenScope {
    let scope = classification.answer_scope();
    let Some(marker) = marker else {
        return scope;
    };
    let followed_carry = hops.iter().skip(1).all(|h| names_token(&h.url, marker));
    let refused_carries = match end {
        End::Refused(bad) => bad
            .target_url
            .as_deref()
            .or(bad.location.as_deref())
            .is_none_or(|t| names_token(t, marker)),
        End::Final | End::Failed => true,
    };
    match scope {
        TokenScope::EveryToken if !(followed_carry && refused_carries) => TokenScope::Undetermined,
        other => other,
    }
}

fn classify_chain(hops: &[Hop], end: &End, expected: Option<&str>) -> Classification {
    let base = classify_end(hops, end, expected);
    // Wrap when the chain went from http to https.
    let switch = hops
        .windows(2)
        .find(|w| w[0].scheme == Scheme::Http && w[1].scheme == Scheme::Https);
    match switch {
        Some(w) => Classification::RedirectToHttps {
            from: w[0].url.clone(),
            to: w[1].url.clone(),
            hops: hops.iter().map(|h| h.url.clone()).collect(),
            outcome: Box::new(base),
        },
        None => base,
    }
}

fn classify_end(hops: &[Hop], end: &End, expected: Option<&str>) -> Classification {
    let Some(last) = hops.last() else {
        return Classification::Unreachable {
            phase: Phase::Dns,
            error_kind: ErrorKind::Other,
            address: None,
            url: String::new(),
            after_redirect: false,
            detail: "no request was made".to_owned(),
        };
    };
    match end {
        End::Refused(bad) => Classification::BadRedirect {
            reason: bad.reason.clone(),
            location: bad.location.clone(),
            from: last.url.clone(),
        },
        End::Final => last
            .response
            .as_ref()
            .and_then(|r| classify::classify_response(&last.url, r, false, expected))
            .unwrap_or_else(|| unreachable_of(hops, last)),
        End::Failed => {
            let Some(err) = &last.error else {
                return unreachable_of(hops, last);
            };
            match (err.kind, last.address) {
                (ErrorKind::HttpOnTlsPort, Some(address)) => Classification::HttpOnHttpsPort {
                    url: last.url.clone(),
                    address,
                },
                (ErrorKind::TlsOnHttpPort, Some(address)) => Classification::TlsOnHttpPort {
                    url: last.url.clone(),
                    address,
                },
                (ErrorKind::Http2OnHttpPort, Some(address)) => Classification::Http2OnHttpPort {
                    url: last.url.clone(),
                    address,
                },
                _ => last
                    .response
                    .as_ref()
                    .and_then(|r| classify::classify_response(&last.url, r, true, expected))
                    .unwrap_or_else(|| unreachable_of(hops, last)),
            }
        }
    }
}

fn unreachable_of(hops: &[Hop], last: &Hop) -> Classification {
    let (phase, kind, detail) = match &last.error {
        Some(e) => (e.phase, e.kind, e.detail.clone()),
        None => (
            Phase::Response,
            ErrorKind::Other,
            "no usable response".to_owned(),
        ),
    };
    Classification::Unreachable {
        phase,
        error_kind: kind,
        address: last.address,
        url: last.url.clone(),
        after_redirect: hops.len() > 1,
        detail,
    }
}

/// Boulder's text for a failed fetch (`detailedError`).
fn fetch_error_text(err: &FetchError) -> (ProblemType, String) {
    match (err.phase, err.kind) {
        (Phase::Connect, ErrorKind::Timeout) => (
            ProblemType::Connection,
            "Timeout during connect (likely firewall problem)".to_owned(),
        ),
        (_, ErrorKind::Refused) => (ProblemType::Connection, "Connection refused".to_owned()),
        (_, ErrorKind::Unreachable) => (ProblemType::Connection, "Network unreachable".to_owned()),
        (_, ErrorKind::Reset) => (
            ProblemType::Connection,
            "Connection reset by peer".to_owned(),
        ),
        (_, ErrorKind::Timeout) => (
            ProblemType::Connection,
            "Timeout after connect (your server may be slow or overloaded)".to_owned(),
        ),
        (_, ErrorKind::TlsAlert) => (ProblemType::Tls, err.detail.clone()),
        (_, ErrorKind::HttpOnTlsPort) => (
            ProblemType::Malformed,
            "Server only speaks HTTP, not TLS".to_owned(),
        ),
        (_, ErrorKind::Http2OnHttpPort) => (
            ProblemType::Connection,
            "Server is speaking HTTP/2 over HTTP".to_owned(),
        ),
        (_, ErrorKind::DnsFailure) => (ProblemType::Dns, err.detail.clone()),
        _ => (
            ProblemType::Connection,
            "Error getting validation data".to_owned(),
        ),
    }
}

fn invalid_response_quoted(ip: Option<IpAddr>, url: &str, excerpt: &[u8]) -> CaProblem {
    let cut = &excerpt[..excerpt.len().min(limits::CA_BODY_LIMIT)];
    CaProblem::new(
        ProblemType::Unauthorized,
        message::with_ip(
            ip,
            &format!(
                "Invalid response from {url}: {}",
                message::go_quote(&String::from_utf8_lossy(cut))
            ),
        ),
    )
}

/// What Let's Encrypt would report for this chain (None: it would pass, or
/// nothing can be said without the expected body).
fn ca_problem(hops: &[Hop], end: &End, expected: Option<&str>) -> Option<CaProblem> {
    let last = hops.last()?;
    match end {
        End::Refused(bad) => {
            let url = bad.target_url.as_deref().unwrap_or(&last.url);
            Some(CaProblem::new(
                ProblemType::Connection,
                message::with_ip(
                    last.address,
                    &format!("Fetching {url}: {}", bad.reason.boulder_text()),
                ),
            ))
        }
        End::Failed => {
            let err = last.error.as_ref()?;
            if let (Some(resp), Phase::Body) = (&last.response, err.phase) {
                if resp.status != 200 {
                    return Some(CaProblem::new(
                        ProblemType::Unauthorized,
                        message::with_ip(
                            last.address,
                            &format!("Invalid response from {}: {}", last.url, resp.status),
                        ),
                    ));
                }
                if resp.body.excerpt.len() >= limits::CA_BODY_LIMIT {
                    return Some(invalid_response_quoted(
                        last.address,
                        &last.url,
                        &resp.body.excerpt,
                    ));
                }
                let go_err = match err.kind {
                    ErrorKind::Timeout => "context deadline exceeded".to_owned(),
                    ErrorKind::Closed => "unexpected EOF".to_owned(),
                    _ => err.detail.clone(),
                };
                return Some(CaProblem::new(
                    ProblemType::Unauthorized,
                    message::with_ip(
                        last.address,
                        &format!("Error reading HTTP response body: {go_err}"),
                    ),
                ));
            }
            let (ty, text) = fetch_error_text(err);
            // A redirect target that did not resolve is named with the
            // address of the hop that redirected.
            let ip = if err.phase == Phase::Dns {
                hops.len()
                    .checked_sub(2)
                    .and_then(|i| hops.get(i))
                    .and_then(|h| h.address)
            } else {
                last.address
            };
            Some(CaProblem::new(
                ty,
                message::with_ip(ip, &format!("Fetching {}: {text}", last.url)),
            ))
        }
        End::Final => {
            let resp = last.response.as_ref()?;
            if resp.status != 200 {
                return Some(CaProblem::new(
                    ProblemType::Unauthorized,
                    message::with_ip(
                        last.address,
                        &format!("Invalid response from {}: {}", last.url, resp.status),
                    ),
                ));
            }
            if resp.body.excerpt.len() >= limits::CA_BODY_LIMIT {
                return Some(invalid_response_quoted(
                    last.address,
                    &last.url,
                    &resp.body.excerpt,
                ));
            }
            let ka = expected?;
            let payload = classify::trim_payload(&resp.body.excerpt);
            (payload != ka).then(|| {
                CaProblem::new(
                    ProblemType::Unauthorized,
                    message::key_authorization_mismatch(ka, &payload),
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        assert_eq!(
            normalise_hostname("Example.COM.").as_deref(),
            Ok("example.com")
        );
        assert!(matches!(
            normalise_hostname("*.example.com"),
            Err(ProbeError::WildcardNotAllowed { .. })
        ));
        assert!(normalise_hostname("").is_err());
        assert!(normalise_hostname("a b.com").is_err());
        assert_eq!(normalise_hostname("[::1]").as_deref(), Ok("::1"));
    }

    #[test]
    fn boulder_error_texts() {
        let t = |phase, kind| fetch_error_text(&FetchError::new(phase, kind, "x")).1;
        assert_eq!(
            t(Phase::Connect, ErrorKind::Timeout),
            "Timeout during connect (likely firewall problem)"
        );
        assert_eq!(t(Phase::Connect, ErrorKind::Refused), "Connection refused");
        assert_eq!(
            t(Phase::Connect, ErrorKind::Unreachable),
            "Network unreachable"
        );
        assert_eq!(
            t(Phase::Response, ErrorKind::Reset),
            "Connection reset by peer"
        );
        assert_eq!(
            t(Phase::Tls, ErrorKind::Timeout),
            "Timeout after connect (your server may be slow or overloaded)"
        );
        assert_eq!(
            t(Phase::Tls, ErrorKind::HttpOnTlsPort),
            "Server only speaks HTTP, not TLS"
        );
        assert_eq!(
            t(Phase::Response, ErrorKind::Http2OnHttpPort),
            "Server is speaking HTTP/2 over HTTP"
        );
        assert_eq!(
            t(Phase::Response, ErrorKind::TlsOnHttpPort),
            "Error getting validation data"
        );
        let alert = FetchError {
            tls_alert: Some("handshake failure".into()),
            ..FetchError::new(
                Phase::Tls,
                ErrorKind::TlsAlert,
                "remote error: tls: handshake failure",
            )
        };
        assert_eq!(
            fetch_error_text(&alert),
            (
                ProblemType::Tls,
                "remote error: tls: handshake failure".to_owned()
            )
        );
    }

    #[test]
    fn tokens() {
        assert_eq!(
            challenge_path("abc_-1").as_deref(),
            Ok("/.well-known/acme-challenge/abc_-1")
        );
        assert_eq!(challenge_path("/x/y?z").as_deref(), Ok("/x/y?z"));
        assert!(challenge_path("a/b").is_err());
        assert!(challenge_path("").is_err());
        assert!(challenge_path("/a b").is_err());
    }
}
