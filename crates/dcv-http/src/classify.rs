//! What one address's attempt amounts to, with its evidence.

use std::net::IpAddr;

use serde::Serialize;

use crate::fetch::{ErrorKind, FetchResponse, Phase};
use crate::limits;
use crate::redirect::BadRedirectReason;

/// The verdict for one attempt (one starting address, all its hops).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Classification {
    /// Status 200, body under 128 bytes, equal to the key authorisation after
    /// trimming trailing whitespace (Boulder `validateHTTP01`).
    TokenServed {
        /// URL that served it.
        url: String,
        /// The body as served (escaped).
        body: String,
    },
    /// No expected body given and the server answered 404: reachable, token
    /// not published (the healthy answer for a random probe token).
    TokenNotPublished {
        /// URL that answered.
        url: String,
    },
    /// No expected body given and the server answered 200 with a small body:
    /// reachable, content not checked.
    Reachable {
        /// URL that answered.
        url: String,
        /// The body (escaped).
        body: String,
    },
    /// Status 200 but the body is not the key authorisation.
    TokenMismatch {
        /// URL that answered.
        url: String,
        /// What was expected (escaped like Go's `%q`).
        expected: String,
        /// What came, trimmed (escaped like Go's `%q`).
        got: String,
    },
    /// A bot-challenge interstitial (Cloudflare managed/JS challenge, Under
    /// Attack mode): the CA cannot pass it.
    ChallengePage {
        /// URL that answered.
        url: String,
        /// Status of the page.
        status: u16,
        /// Vendor, when recognisable.
        #[serde(skip_serializing_if = "Option::is_none")]
        vendor: Option<String>,
        /// The markers that matched.
        markers: Vec<String>,
    },
    /// A WAF or firewall block page (or a bare 403).
    Blocked {
        /// URL that answered.
        url: String,
        /// Status of the page.
        status: u16,
        /// Vendor, when recognisable.
        #[serde(skip_serializing_if = "Option::is_none")]
        vendor: Option<String>,
        /// The markers that matched.
        markers: Vec<String>,
    },
    /// The chain went http -> https. Fine for Let's Encrypt when the https hop
    /// serves the token; fatal in partial (CNAME) setups where the origin
    /// serves it: exclude `/.well-known/` from the redirect, e.g.
    /// `(http.request.scheme eq "http") and not starts_with(http.request.uri.path, "/.well-known/")`.
    RedirectToHttps {
        /// The http URL that redirected.
        from: String,
        /// The https URL it pointed to.
        to: String,
        /// Every URL requested, in order.
        hops: Vec<String>,
        /// What the chain ended in.
        outcome: Box<Classification>,
    },
    /// A redirect Boulder refuses to follow.
    BadRedirect {
        /// Why.
        reason: BadRedirectReason,
        /// The raw `Location`.
        #[serde(skip_serializing_if = "Option::is_none")]
        location: Option<String>,
        /// URL that sent the redirect.
        from: String,
    },
    /// No usable answer: connect/TLS/read failure or a timeout, or the
    /// redirect target did not resolve.
    Unreachable {
        /// The step that failed.
        phase: Phase,
        /// The OS/library error class.
        error_kind: ErrorKind,
        /// Address dialled, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        address: Option<IpAddr>,
        /// URL being fetched.
        url: String,
        /// Whether this happened after following a redirect.
        after_redirect: bool,
        /// Our description.
        detail: String,
    },
    /// Plain HTTP answered on the TLS port (Boulder: `Server only speaks
    /// HTTP, not TLS`).
    HttpOnHttpsPort {
        /// URL being fetched.
        url: String,
        /// Address dialled.
        address: IpAddr,
    },
    /// A TLS record answered on the plain-HTTP port.
    TlsOnHttpPort {
        /// URL being fetched.
        url: String,
        /// Address dialled.
        address: IpAddr,
    },
    /// An HTTP/2 SETTINGS frame answered on port 80 (Boulder: `Server is
    /// speaking HTTP/2 over HTTP`).
    Http2OnHttpPort {
        /// URL being fetched.
        url: String,
        /// Address dialled.
        address: IpAddr,
    },
    /// Final status other than 200 (Boulder: `Invalid response from <url>: <status>`).
    Not200 {
        /// URL that answered.
        url: String,
        /// The status.
        status: u16,
    },
    /// Status 200 with a body of 128 bytes or more (Boulder refuses it).
    BodyTooLarge {
        /// URL that answered.
        url: String,
        /// Bytes we read (capped; the body may be longer).
        bytes_read: usize,
        /// Whether we saw the end of the body.
        complete: bool,
        /// Boulder's limit.
        limit: usize,
    },
}

impl Classification {
    /// The final outcome, looking through [`Classification::RedirectToHttps`].
    pub fn outcome(&self) -> &Classification {
        match self {
            Classification::RedirectToHttps { outcome, .. } => outcome.outcome(),
            other => other,
        }
    }

    /// The `snake_case` name of the (outer) variant.
    pub fn code(&self) -> &'static str {
        match self {
            Classification::TokenServed { .. } => "token_served",
            Classification::TokenNotPublished { .. } => "token_not_published",
            Classification::Reachable { .. } => "reachable",
            Classification::TokenMismatch { .. } => "token_mismatch",
            Classification::ChallengePage { .. } => "challenge_page",
            Classification::Blocked { .. } => "blocked",
            Classification::RedirectToHttps { .. } => "redirect_to_https",
            Classification::BadRedirect { .. } => "bad_redirect",
            Classification::Unreachable { .. } => "unreachable",
            Classification::HttpOnHttpsPort { .. } => "http_on_https_port",
            Classification::TlsOnHttpPort { .. } => "tls_on_http_port",
            Classification::Http2OnHttpPort { .. } => "http2_on_http_port",
            Classification::Not200 { .. } => "not_200",
            Classification::BodyTooLarge { .. } => "body_too_large",
        }
    }

    /// Whether the server answered the way a healthy setup does: the token
    /// served, or (with no expected body) a 404 or a small 200.
    pub fn is_healthy(&self) -> bool {
        matches!(
            self.outcome(),
            Classification::TokenServed { .. }
                | Classification::TokenNotPublished { .. }
                | Classification::Reachable { .. }
        )
    }
}

/// What an answer for one token says about every other token: the part of
/// the verdict that holds without the CA's real token. The usual first run
/// has none, and probes with a random token that cannot exist on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// The failure comes before the token's file can matter: no connection,
    /// a TLS or protocol failure, a challenge or block page, an access-control
    /// or server-error status, a redirect that carries the token to where the
    /// CA will not go. The CA fails whatever the token.
    EveryToken,
    /// The answer is about this token's file: a 404 (nothing published
    /// there), or the expected body compared.
    ThisToken,
    /// A 200 for this token with no expected body to compare (small, too
    /// large, or cut off while reading). For a token that cannot exist this
    /// is a catch-all route: the real file must win over it.
    Answered200,
    /// Cannot be told from this token alone: a 410, a status such as 204 or
    /// 300, or a redirect that drops the token from the path (often a
    /// not-found handler).
    Undetermined,
}

/// The scope of a final status other than 200. A 404 speaks of the resource
/// asked for (RFC 9110 §15.5.5) and a 410 may too (§15.5.11); any other
/// client or server error (401, 403, 429, 451, 5xx ...) refuses the request
/// itself, so every token gets it. Other statuses (1xx, 2xx other than 200,
/// 3xx without `Location`) cannot be placed.
pub fn status_scope(status: u16) -> TokenScope {
    match status {
        404 => TokenScope::ThisToken,
        410 => TokenScope::Undetermined,
        400..=599 => TokenScope::EveryToken,
        _ => TokenScope::Undetermined,
    }
}

impl Classification {
    /// The scope of the final answer alone, before looking at the redirects
    /// that led to it (the probe refines it: a redirect that drops the token
    /// makes a failure after it [`TokenScope::Undetermined`]).
    pub fn answer_scope(&self) -> TokenScope {
        match self.outcome() {
            Classification::TokenServed { .. }
            | Classification::TokenMismatch { .. }
            | Classification::TokenNotPublished { .. } => TokenScope::ThisToken,
            Classification::Reachable { .. } | Classification::BodyTooLarge { .. } => {
                TokenScope::Answered200
            }
            // A body that fails to arrive follows a 200 head (other statuses
            // are classified by their status).
            Classification::Unreachable {
                phase: Phase::Body, ..
            } => TokenScope::Answered200,
            Classification::ChallengePage { .. }
            | Classification::Blocked { .. }
            | Classification::BadRedirect { .. }
            | Classification::Unreachable { .. }
            | Classification::HttpOnHttpsPort { .. }
            | Classification::TlsOnHttpPort { .. }
            | Classification::Http2OnHttpPort { .. } => TokenScope::EveryToken,
            Classification::Not200 { status, .. } => status_scope(*status),
            // `outcome()` looks through the wrapper.
            Classification::RedirectToHttps { .. } => TokenScope::Undetermined,
        }
    }
}

/// A recognised page: challenge or block, with vendor and markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageMatch {
    pub challenge: bool,
    pub vendor: Option<String>,
    pub markers: Vec<String>,
}

/// Case-insensitive substring search over raw bytes (ASCII folding).
fn contains_ci(haystack: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    if n.is_empty() || haystack.len() < n.len() {
        return n.is_empty();
    }
    haystack.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Body markers of bot-challenge interstitials, with their vendor.
const CHALLENGE_MARKERS: &[(&str, &str)] = &[
    ("Just a moment...", "cloudflare"),
    ("Checking your browser", "cloudflare"),
    ("cf_chl", "cloudflare"),
    ("challenge-platform", "cloudflare"),
    ("cf-challenge", "cloudflare"),
    ("Enable JavaScript and cookies to continue", "cloudflare"),
    ("DDoS protection by", "ddos-guard"),
    ("_Incapsula_Resource", "imperva"),
    ("sgcaptcha", "siteground"),
];

/// Body markers of WAF / firewall block pages, with their vendor.
const BLOCK_MARKERS: &[(&str, &str)] = &[
    ("Error 1020", "cloudflare"),
    ("Sorry, you have been blocked", "cloudflare"),
    ("Attention Required! | Cloudflare", "cloudflare"),
    ("cf-error-details", "cloudflare"),
    ("acme-protocol", "palo-alto"),
    ("Application Blocked", "palo-alto"),
    ("aes.js", "nginx-testcookie"),
    ("toNumbers(", "nginx-testcookie"),
    ("The requested URL was rejected", "f5-asm"),
    ("Request Rejected", "f5-asm"),
    ("Access Denied - Sucuri Website Firewall", "sucuri"),
    ("Incapsula incident ID", "imperva"),
    ("Mod_Security", "modsecurity"),
    ("Not Acceptable!", "modsecurity"),
    ("Web Page Blocked", "fortinet"),
    ("FortiGuard", "fortinet"),
];

/// Looks for challenge and block pages in a response (any status: the nginx
/// test-cookie page comes with 200).
pub(crate) fn recognise_page(resp: &FetchResponse) -> Option<PageMatch> {
    let body = &resp.body.excerpt;
    let mut markers = Vec::new();
    let mut vendor = None;
    if resp
        .header("cf-mitigated")
        .is_some_and(|v| v.eq_ignore_ascii_case("challenge"))
    {
        markers.push("cf-mitigated: challenge".to_owned());
        vendor = Some("cloudflare".to_owned());
    }
    for (m, v) in CHALLENGE_MARKERS {
        if contains_ci(body, m) {
            markers.push((*m).to_owned());
            vendor.get_or_insert_with(|| (*v).to_owned());
        }
    }
    if !markers.is_empty() {
        return Some(PageMatch {
            challenge: true,
            vendor,
            markers,
        });
    }
    for (m, v) in BLOCK_MARKERS {
        if contains_ci(body, m) {
            markers.push((*m).to_owned());
            vendor.get_or_insert_with(|| (*v).to_owned());
        }
    }
    if resp.status == 403 {
        if contains_ci(body, "Access denied")
            && resp
                .header("server")
                .is_some_and(|s| s.eq_ignore_ascii_case("cloudflare"))
        {
            markers.push("Access denied (cloudflare)".to_owned());
            vendor.get_or_insert_with(|| "cloudflare".to_owned());
        }
        if markers.is_empty() {
            markers.push("status 403".to_owned());
        }
    }
    if markers.is_empty() {
        None
    } else {
        Some(PageMatch {
            challenge: false,
            vendor,
            markers,
        })
    }
}

/// Trims like Go's `strings.TrimRightFunc(s, unicode.IsSpace)`.
pub(crate) fn trim_payload(body: &[u8]) -> String {
    String::from_utf8_lossy(body).trim_end().to_owned()
}

/// Classifies a final (non-followed) response.
pub(crate) fn classify_response(
    url: &str,
    resp: &FetchResponse,
    body_failed: bool,
    expected: Option<&str>,
) -> Option<Classification> {
    let url = url.to_owned();
    if let Some(page) = recognise_page(resp) {
        return Some(if page.challenge {
            Classification::ChallengePage {
                url,
                status: resp.status,
                vendor: page.vendor,
                markers: page.markers,
            }
        } else {
            Classification::Blocked {
                url,
                status: resp.status,
                vendor: page.vendor,
                markers: page.markers,
            }
        });
    }
    let body = &resp.body.excerpt;
    Some(match resp.status {
        200 if body.len() >= limits::CA_BODY_LIMIT => Classification::BodyTooLarge {
            url,
            bytes_read: body.len(),
            complete: resp.body.complete,
            limit: limits::CA_BODY_LIMIT,
        },
        // A body error below the CA limit: the caller reports it as unreachable.
        200 if body_failed => return None,
        200 => {
            let payload = trim_payload(body);
            match expected {
                Some(ka) if payload == ka => Classification::TokenServed {
                    url,
                    body: crate::message::go_quote(&payload),
                },
                Some(ka) => Classification::TokenMismatch {
                    url,
                    expected: crate::message::go_quote(ka),
                    got: crate::message::go_quote(&payload),
                },
                None => Classification::Reachable {
                    url,
                    body: crate::message::go_quote(&payload),
                },
            }
        }
        404 if expected.is_none() => Classification::TokenNotPublished { url },
        status => Classification::Not200 { url, status },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::{BodyCapture, HeaderField};

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> FetchResponse {
        FetchResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| HeaderField {
                    name: (*n).to_owned(),
                    value: (*v).to_owned(),
                })
                .collect(),
            location: None,
            body: BodyCapture {
                excerpt: body.as_bytes().to_vec(),
                complete: true,
                declared_length: None,
            },
        }
    }

    fn code(r: &FetchResponse, expected: Option<&str>) -> &'static str {
        classify_response("http://x/", r, false, expected).map_or("none", |c| c.code())
    }

    #[test]
    fn pages() {
        assert_eq!(
            code(&resp(403, &[("cf-mitigated", "challenge")], ""), None),
            "challenge_page"
        );
        assert_eq!(
            code(&resp(503, &[], "<title>Just a moment...</title>"), None),
            "challenge_page"
        );
        assert_eq!(
            code(&resp(403, &[], "/cdn-cgi/challenge-platform/h/b"), None),
            "challenge_page"
        );
        assert_eq!(
            code(&resp(403, &[], "Error 1020 Access denied"), None),
            "blocked"
        );
        assert_eq!(
            code(
                &resp(403, &[("server", "cloudflare")], "Access denied"),
                None
            ),
            "blocked"
        );
        assert_eq!(
            code(
                &resp(503, &[], "Application Blocked ... acme-protocol"),
                None
            ),
            "blocked"
        );
        assert_eq!(
            code(&resp(200, &[], "<script src=\"/aes.js\"></script>"), None),
            "blocked"
        );
        assert_eq!(code(&resp(403, &[], "nope"), None), "blocked");
    }

    #[test]
    fn token_rules() {
        assert_eq!(
            code(&resp(200, &[], "tok.ka\n  "), Some("tok.ka")),
            "token_served"
        );
        assert_eq!(
            code(&resp(200, &[], " tok.ka"), Some("tok.ka")),
            "token_mismatch"
        );
        assert_eq!(
            code(&resp(200, &[], &"a".repeat(127)), Some("x")),
            "token_mismatch"
        );
        assert_eq!(
            code(&resp(200, &[], &"a".repeat(128)), Some("x")),
            "body_too_large"
        );
        assert_eq!(
            code(&resp(404, &[], "not found"), None),
            "token_not_published"
        );
        assert_eq!(code(&resp(404, &[], "not found"), Some("x")), "not_200");
        assert_eq!(code(&resp(500, &[], ""), None), "not_200");
        assert_eq!(code(&resp(200, &[], "hi"), None), "reachable");
    }
}
