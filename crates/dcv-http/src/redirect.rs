//! Boulder's redirect policy (`va/http.go`, `processRedirect` /
//! `extractRequestTarget`), as a pure function over one redirect response.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;
use url::{Host, Url};

use crate::config::ProbeConfig;
use crate::fetch::Scheme;
use crate::ip_policy::{self, ReservedRange};
use crate::limits;

/// Why a redirect was not followed. Each maps to Boulder's own text
/// ([`BadRedirectReason::boulder_text`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum BadRedirectReason {
    /// More than [`ProbeConfig::max_redirects`] redirects already followed.
    TooManyRedirects {
        /// Redirects followed before this one.
        followed: usize,
    },
    /// A redirect status other than 301/302/307/308 (BR 3.2.2.4.19), e.g. 303.
    DisallowedStatus {
        /// The status received.
        status: u16,
    },
    /// `Location` missing its host (`http:///x`).
    EmptyHost,
    /// `Location` that does not parse as a URL reference.
    InvalidLocation {
        /// The redirect status.
        status: u16,
        /// Why it did not parse.
        error: String,
    },
    /// A scheme other than http/https.
    Scheme {
        /// The scheme found.
        scheme: String,
    },
    /// An explicit port other than 80/443.
    Port {
        /// The port found.
        port: u16,
    },
    /// Host ends in `.well-known`: a redirect rule missing its trailing `/`.
    MissingSlash {
        /// The host found.
        host: String,
    },
    /// IPv6 literal with a scope zone (RFC 4007/6874).
    ScopedAddress,
    /// IP literal in a reserved block (IANA special-purpose registries).
    ReservedTarget {
        /// The address.
        ip: IpAddr,
        /// The block it falls in.
        range: ReservedRange,
    },
    /// A name not ending in an accepted TLD.
    BadTld {
        /// The host found.
        host: String,
    },
    /// Path longer than 2000 bytes.
    PathTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The exact URL was already requested in this chain.
    Loop {
        /// The repeated URL.
        url: String,
    },
}

impl BadRedirectReason {
    /// The text Boulder puts after `Fetching <url>: `.
    pub fn boulder_text(&self) -> String {
        match self {
            Self::TooManyRedirects { .. } => "Too many redirects".to_owned(),
            Self::DisallowedStatus { .. } => "received disallowed redirect status code".to_owned(),
            Self::EmptyHost => "Invalid empty host in redirect target".to_owned(),
            Self::InvalidLocation { status, .. } => {
                format!("Invalid Location header in {status} redirect")
            }
            Self::Scheme { scheme } => format!(
                "Invalid protocol scheme in redirect target. Only \"http\" and \"https\" protocol schemes are supported, not {}",
                crate::message::go_quote(scheme)
            ),
            Self::Port { port } => format!(
                "Invalid port in redirect target. Only ports 80 and 443 are supported, not {port}"
            ),
            Self::MissingSlash { host } => format!(
                "Invalid host in redirect target {}. Check webserver config for missing '/' in redirect target.",
                crate::message::go_quote(host)
            ),
            Self::ScopedAddress => {
                "Invalid host in redirect target: contains scope zone".to_owned()
            }
            Self::ReservedTarget { range, .. } => {
                format!(
                    "Invalid host in redirect target: {}",
                    range.boulder_message()
                )
            }
            Self::BadTld { .. } => {
                "Invalid host in redirect target, must end in IANA registered TLD".to_owned()
            }
            Self::PathTooLong { .. } => "Redirect target too long".to_owned(),
            Self::Loop { .. } => "Redirect loop detected".to_owned(),
        }
    }
}

impl fmt::Display for BadRedirectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.boulder_text())
    }
}

/// A redirect that passed the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectTarget {
    /// The absolute target URL (fragment removed).
    pub url: Url,
    /// Its scheme.
    pub scheme: Scheme,
    /// Lower-case host (name or IP literal without brackets).
    pub host: String,
    /// Set when the host is an IP literal.
    pub ip: Option<IpAddr>,
    /// CA-side port, 80 or 443.
    pub logical_port: u16,
    /// Socket port to dial (from [`ProbeConfig::socket_port`]).
    pub socket_port: u16,
}

/// A refused redirect: the reason and, when it parsed, the target URL
/// (Boulder names it in `Fetching <url>: ...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRedirect {
    /// Why it was refused.
    #[serde(flatten)]
    pub reason: BadRedirectReason,
    /// The raw `Location`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The resolved target URL, when it parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_url: Option<String>,
}

/// Splits a URL into the parts the probe needs. Only http/https with ports
/// 80/443 pass.
pub(crate) fn url_parts(
    config: &ProbeConfig,
    url: &Url,
) -> Result<RedirectTarget, BadRedirectReason> {
    let scheme = match url.scheme() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => {
            return Err(BadRedirectReason::Scheme {
                scheme: other.to_owned(),
            });
        }
    };
    let logical_port = url.port().unwrap_or(scheme.default_port());
    let Some(socket_port) = config.socket_port(logical_port) else {
        return Err(BadRedirectReason::Port { port: logical_port });
    };
    let (host, ip) = match url.host() {
        None | Some(Host::Domain("")) => return Err(BadRedirectReason::EmptyHost),
        Some(Host::Domain(d)) => (d.to_ascii_lowercase(), None),
        Some(Host::Ipv4(v4)) => (v4.to_string(), Some(IpAddr::V4(v4))),
        Some(Host::Ipv6(v6)) => (v6.to_string(), Some(IpAddr::V6(v6))),
    };
    Ok(RedirectTarget {
        url: url.clone(),
        scheme,
        host,
        ip,
        logical_port,
        socket_port,
    })
}

fn has_empty_authority(location: &str) -> bool {
    let lower = location.trim_start().to_ascii_lowercase();
    ["http://", "https://"].iter().any(|p| {
        lower
            .strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
    })
}

fn has_scope_zone(location: &str) -> bool {
    location
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .is_some_and(|(inside, _)| inside.contains('%'))
}

/// Applies Boulder's redirect rules to one redirect response.
///
/// `followed` is how many redirects this chain has already followed;
/// `visited` holds every URL already requested in it (loop detection by exact
/// URL, like Boulder).
pub fn check_redirect(
    config: &ProbeConfig,
    current: &Url,
    status: u16,
    location: &str,
    visited: &[String],
    followed: usize,
) -> Result<RedirectTarget, Box<BadRedirect>> {
    let bad = |reason, target: Option<&Url>| {
        Box::new(BadRedirect {
            reason,
            location: Some(location.to_owned()),
            target_url: target.map(|u| u.as_str().to_owned()),
        })
    };
    // Boulder checks `numRedirects > maxRedirect` before incrementing: see
    // `limits::MAX_REDIRECTS`.
    let parsed = current.join(location.trim());
    if followed > config.max_redirects {
        return Err(bad(
            BadRedirectReason::TooManyRedirects { followed },
            parsed.as_ref().ok(),
        ));
    }
    if !matches!(status, 301 | 302 | 307 | 308) {
        return Err(bad(
            BadRedirectReason::DisallowedStatus { status },
            parsed.as_ref().ok(),
        ));
    }
    if has_empty_authority(location) {
        return Err(bad(BadRedirectReason::EmptyHost, None));
    }
    if has_scope_zone(location) {
        return Err(bad(BadRedirectReason::ScopedAddress, None));
    }
    let mut url = match parsed {
        Ok(u) => u,
        Err(e) => {
            return Err(bad(
                BadRedirectReason::InvalidLocation {
                    status,
                    error: e.to_string(),
                },
                None,
            ));
        }
    };
    url.set_fragment(None);
    let target = url_parts(config, &url).map_err(|r| bad(r, Some(&url)))?;
    if target.host.ends_with(".well-known") {
        return Err(bad(
            BadRedirectReason::MissingSlash {
                host: target.host.clone(),
            },
            Some(&url),
        ));
    }
    match target.ip {
        Some(ip) => {
            if !config.allow_private
                && let Some(range) = ip_policy::classify(ip)
            {
                return Err(bad(
                    BadRedirectReason::ReservedTarget { ip, range },
                    Some(&url),
                ));
            }
        }
        None => {
            if !config.tld_policy.accepts_host(&target.host) {
                return Err(bad(
                    BadRedirectReason::BadTld {
                        host: target.host.clone(),
                    },
                    Some(&url),
                ));
            }
        }
    }
    let path_len = url.path().len();
    if path_len > limits::MAX_REDIRECT_PATH_BYTES {
        return Err(bad(
            BadRedirectReason::PathTooLong { len: path_len },
            Some(&url),
        ));
    }
    if visited.iter().any(|v| v == url.as_str()) {
        return Err(bad(
            BadRedirectReason::Loop {
                url: url.as_str().to_owned(),
            },
            Some(&url),
        ));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ProbeConfig {
        ProbeConfig::default()
    }

    fn base() -> Url {
        Url::parse("http://example.com/.well-known/acme-challenge/tok").expect("base")
    }

    fn check(status: u16, loc: &str) -> Result<RedirectTarget, Box<BadRedirect>> {
        check_redirect(&cfg(), &base(), status, loc, &[base().to_string()], 0)
    }

    #[test]
    fn allowed_targets() {
        let ok: &[(&str, &str, u16, Scheme)] = &[
            ("https://example.com/x", "example.com", 443, Scheme::Https),
            ("http://other.org/x", "other.org", 80, Scheme::Http),
            ("http://other.org:443/x", "other.org", 443, Scheme::Http),
            ("https://other.org:80/x", "other.org", 80, Scheme::Https),
            ("/relative/path", "example.com", 80, Scheme::Http),
            ("//Other.ORG/x?q=1", "other.org", 80, Scheme::Http),
            ("http://8.8.8.8/x", "8.8.8.8", 80, Scheme::Http),
            ("http://[2606:4700::1]/x", "2606:4700::1", 80, Scheme::Http),
        ];
        for (loc, host, port, scheme) in ok {
            for status in [301, 302, 307, 308] {
                let t = check(status, loc).unwrap_or_else(|e| panic!("{loc}: {e:?}"));
                assert_eq!(
                    (t.host.as_str(), t.logical_port, t.scheme),
                    (*host, *port, *scheme)
                );
            }
        }
        let t = check(302, "//other.org/x?q=1#frag").expect("query kept");
        assert_eq!(t.url.as_str(), "http://other.org/x?q=1");
    }

    #[test]
    fn refused_targets() {
        let long = format!("http://example.com/{}", "a".repeat(2000));
        let cases: Vec<(u16, &str, &str)> = vec![
            (
                303,
                "https://example.com/",
                "received disallowed redirect status code",
            ),
            (
                302,
                "ftp://example.com/x",
                "Invalid protocol scheme in redirect target. Only \"http\" and \"https\" protocol schemes are supported, not \"ftp\"",
            ),
            (
                302,
                "http://example.com:8080/x",
                "Invalid port in redirect target. Only ports 80 and 443 are supported, not 8080",
            ),
            (
                302,
                "https://example.com:8443/",
                "Invalid port in redirect target. Only ports 80 and 443 are supported, not 8443",
            ),
            (302, "http:///x", "Invalid empty host in redirect target"),
            (
                302,
                "https://bad-redirect.org.well-known/acme-challenge/tok",
                "Invalid host in redirect target \"bad-redirect.org.well-known\". Check webserver config for missing '/' in redirect target.",
            ),
            (
                302,
                "http://10.10.10.10/",
                "Invalid host in redirect target: IP address is in a reserved address block: [RFC1918]: Private-Use",
            ),
            (
                302,
                "http://[::1]/",
                "Invalid host in redirect target: IP address is in a reserved address block: [RFC4291]: Loopback Address",
            ),
            (
                302,
                "http://[fe80::1%25eth0]/",
                "Invalid host in redirect target: contains scope zone",
            ),
            (
                302,
                "http://intranet/x",
                "Invalid host in redirect target, must end in IANA registered TLD",
            ),
            (
                302,
                "http://example.c0m/x",
                "Invalid host in redirect target, must end in IANA registered TLD",
            ),
            (302, long.as_str(), "Redirect target too long"),
            (
                302,
                "/.well-known/acme-challenge/tok",
                "Redirect loop detected",
            ),
        ];
        for (status, loc, text) in cases {
            let err = check(status, loc).expect_err(loc);
            assert_eq!(err.reason.boulder_text(), text, "{loc}");
        }
    }

    #[test]
    fn path_limit_is_inclusive() {
        let ok = format!("http://example.com/{}", "a".repeat(1999));
        assert!(check(302, &ok).is_ok());
    }

    #[test]
    fn private_targets_allowed_when_configured() {
        let mut c = cfg();
        c.allow_private = true;
        let t = check_redirect(&c, &base(), 302, "http://127.0.0.1/x", &[], 0).expect("allowed");
        assert_eq!(t.ip, Some("127.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn redirect_count_off_by_one() {
        // Boulder: `if numRedirects > maxRedirect` before `numRedirects++`:
        // with 10, redirect number 11 (followed = 10) still passes and
        // number 12 (followed = 11) fails.
        let c = cfg();
        assert!(check_redirect(&c, &base(), 302, "/a", &[], 10).is_ok());
        let e = check_redirect(&c, &base(), 302, "/a", &[], 11).expect_err("12th");
        assert_eq!(e.reason.boulder_text(), "Too many redirects");
        assert_eq!(e.target_url.as_deref(), Some("http://example.com/a"));
    }
}
