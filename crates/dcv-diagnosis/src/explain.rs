//! `dcv-doctor explain`: from a pasted `validation_errors` message (Cloudflare's
//! wording) or an ACME problem detail (Boulder's or Pebble's wording) to its
//! cause, what to check, the fix, and the `check` that tests it.
//!
//! Messages carry suffixes (the CA's name, a retry time) and prefixes
//! (`During secondary validation: `), so matching is by case-insensitive
//! substring, most specific pattern first. An unknown message is reported as
//! unknown; this module never guesses.

use serde::Serialize;

use crate::codes::FindingCode;
use crate::model::{Method, WhoFixes};

/// One known message family.
#[derive(Debug)]
struct Pattern {
    /// Lower-case substrings that must all occur.
    needles: &'static [&'static str],
    /// Who writes this text (Cloudflare, Boulder, Pebble).
    source: &'static str,
    cause: &'static str,
    code: Option<FindingCode>,
    check: &'static str,
    fix: &'static str,
    who: WhoFixes,
    /// The `check` method that reproduces it, if any.
    method: Option<Method>,
}

/// What `explain` concluded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The message family that matched, and who writes it.
    pub matched: String,
    pub source: String,
    pub cause: String,
    /// The finding `check` would report for this cause, if it can observe it.
    pub finding: Option<FindingCode>,
    pub what_to_check: String,
    pub fix: String,
    pub who_fixes: WhoFixes,
    /// Whether the CA saw this from a remote perspective (MPIC, BR 3.2.2.9).
    pub from_remote_perspective: bool,
    /// The hostname found in the message, if any.
    pub hostname: Option<String>,
    /// A `dcv-doctor check` command that tests the cause.
    pub check_command: String,
    /// For a rate-limit message explained with `--ct`: the count's findings
    /// for the hostname (filled by the binary, which does the I/O).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ct_count: Option<Vec<crate::model::Finding>>,
}

const PATTERNS: &[Pattern] = &[
    // --- Cloudflare validation_errors wording (cloudflare-dcv.md §5) -------------
    Pattern {
        needles: &["multiple perspective caa check error"],
        source: "Cloudflare",
        cause: "The CA could not resolve the hostname's CAA records from some of its remote network perspectives (MPIC, BR 3.2.2.9).",
        code: Some(FindingCode::MpicCaaDisagreement),
        check: "Whether every authoritative server answers CAA queries over IPv4 and IPv6, UDP and TCP, from everywhere (geo-blocking, rate limiting, firewalls that drop unknown query types).",
        fix: "Make every authoritative nameserver answer CAA queries (NOERROR with an empty answer when there are no CAA records) from all regions; remove geo/IP restrictions on the DNS servers.",
        who: WhoFixes::DnsProvider,
        method: None,
    },
    Pattern {
        needles: &["unable to verify domain ownership from multiple geographic locations"],
        source: "Cloudflare",
        cause: "Validation passed from the CA's primary perspective but failed from too many remote perspectives (MPIC failure, BR 3.2.2.9).",
        code: Some(FindingCode::MpicDcvDisagreement),
        check: "Whether the validation URL or TXT record is reachable from every region: geo-blocking firewalls, anycast nodes serving stale data, nameservers that fail from some networks.",
        fix: "Remove geographic restrictions on the validation path (/.well-known/acme-challenge/ and the authoritative DNS servers) and make all nameservers serve the same data.",
        who: WhoFixes::DnsProvider,
        method: None,
    },
    Pattern {
        needles: &["dnssec: bogus"],
        source: "Cloudflare / Boulder",
        cause: "DNSSEC validation of a lookup the CA makes fails (bogus): the chain of trust from the root to the zone is broken.",
        code: Some(FindingCode::DnssecBogus),
        check: "The DS record at the parent against the zone's DNSKEYs, and the RRSIG validity windows, along the chain.",
        fix: "Fix the DS/DNSKEY chain at the DNS provider and registrar (re-sign the zone, or update or remove the DS record at the parent).",
        who: WhoFixes::DnsProvider,
        method: None,
    },
    Pattern {
        needles: &["encountered a servfail during dns lookup"],
        source: "Cloudflare",
        cause: "The CA's resolver got SERVFAIL for a lookup: the authoritative servers fail, time out, or DNSSEC validation fails.",
        code: Some(FindingCode::DnsServfail),
        check: "Every authoritative server of the zone and its parents for the A/AAAA, TXT and CAA lookups.",
        fix: "Fix or remove the failing nameservers so every one answers authoritatively.",
        who: WhoFixes::DnsProvider,
        method: None,
    },
    Pattern {
        needles: &["caa records block issuance"],
        source: "Cloudflare",
        cause: "The hostname's relevant CAA RRset does not authorise the CA Cloudflare ordered from.",
        code: Some(FindingCode::CaaForbids),
        check: "CAA at the hostname and each parent: the closest non-empty RRset decides (RFC 8659 §3).",
        fix: "Add `CAA 0 issue` (and `issuewild` for wildcards) records for every Cloudflare partner CA at the name that holds the CAA records, or remove all CAA records there.",
        who: WhoFixes::DnsProvider,
        method: None,
    },
    Pattern {
        needles: &["caa_error"],
        source: "Cloudflare (status)",
        cause: "CAA records prevented issuance.",
        code: Some(FindingCode::CaaForbids),
        check: "CAA at the hostname and each parent.",
        fix: "Allow every Cloudflare partner CA in CAA, or remove the CAA records.",
        who: WhoFixes::DnsProvider,
        method: None,
    },
    Pattern {
        needles: &["rate limited these domains"],
        source: "Cloudflare",
        cause: "The CA's rate limit for this set of names was hit (Let's Encrypt: 5 duplicate certificates per exact set of names per 7 days).",
        code: Some(FindingCode::RateLimitedDuplicate),
        check: "Recent certificates for the same set of hostnames (certificate transparency logs).",
        fix: "Wait for the window to pass (the message may carry the time), or order from another CA.",
        who: WhoFixes::CertificateAuthority,
        method: None,
    },
    Pattern {
        needles: &["will not issue for this domain"],
        source: "Cloudflare",
        cause: "The CA's identifier policy refuses the name (not under a public suffix, a TLD, too many labels, a reserved-format label, a blocked name).",
        code: Some(FindingCode::IdentifierRejected),
        check: "The name's labels, its TLD, and the CA's policy.",
        fix: "Try another CA, or contact the CA if the name should be allowed.",
        who: WhoFixes::CertificateAuthority,
        method: None,
    },
    Pattern {
        needles: &["internal error with certificate authority"],
        source: "Cloudflare",
        cause: "A transient fault inside the CA during its check.",
        code: None,
        check: "Nothing on your side; the CA's status page.",
        fix: "Wait: Cloudflare retries on its backoff schedule. After a day, switch CA.",
        who: WhoFixes::CertificateAuthority,
        method: None,
    },
    Pattern {
        needles: &["had trouble performing a dns lookup"],
        source: "Cloudflare",
        cause: "A DNS lookup the CA needs failed (SERVFAIL, timeout, NXDOMAIN or DNSSEC).",
        code: Some(FindingCode::DnsServfail),
        check: "The A/AAAA, TXT and CAA lookups from the root, per authoritative server.",
        fix: "Fix whatever `check` names: failing nameservers, a broken DNSSEC chain, or a missing record.",
        who: WhoFixes::DnsProvider,
        method: None,
    },
    // --- ACME rate limits (Boulder ratelimits/limiter.go) -----------------------
    Pattern {
        needles: &["too many certificates", "exact set of"],
        source: "Boulder",
        cause: "Let's Encrypt's duplicate-certificate limit: 5 certificates for the exact same set of names per 7 days.",
        code: Some(FindingCode::RateLimitedDuplicate),
        check: "Recent certificates for the same set of names.",
        fix: "Wait until the time given after 'retry after', or change the set of names, or use another CA.",
        who: WhoFixes::CertificateAuthority,
        method: None,
    },
    Pattern {
        needles: &["too many certificates"],
        source: "Boulder",
        cause: "Let's Encrypt's limit of 50 new certificates per registered domain per 7 days.",
        code: Some(FindingCode::RateLimitedDomain),
        check: "Recent certificates under the registered domain.",
        fix: "Wait until the retry-after time, request an override, or use another CA.",
        who: WhoFixes::CertificateAuthority,
        method: None,
    },
    Pattern {
        needles: &["too many failed authorizations"],
        source: "Boulder",
        cause: "Let's Encrypt's failed-validation limit (5 per name per account per hour) after repeated failures.",
        code: None,
        check: "Why validation failed before: run the check below and fix that first.",
        fix: "Fix the underlying failure, then wait for the window to pass.",
        who: WhoFixes::Requester,
        method: None,
    },
    Pattern {
        needles: &["too many new "],
        source: "Boulder",
        cause: "A Let's Encrypt rate limit (new orders, registrations or certificates per domain).",
        code: None,
        check: "The limit named in the message and its retry-after time.",
        fix: "Wait until the retry-after time, or use another CA.",
        who: WhoFixes::CertificateAuthority,
        method: None,
    },
    // --- Boulder / Pebble problem details (peers-and-ca-behaviour.md §3) ---------
    Pattern {
        needles: &["caa record for", "prevents issuance"],
        source: "Boulder",
        cause: "The relevant CAA RRset (at the name given) does not authorise Let's Encrypt.",
        code: Some(FindingCode::CaaForbids),
        check: "CAA at the name the message gives.",
        fix: "Add `CAA 0 issue \"letsencrypt.org\"` there (and `issuewild` for wildcards), or remove the CAA records.",
        who: WhoFixes::DnsProvider,
        method: None,
    },
    Pattern {
        needles: &["dnssec:"],
        source: "Boulder",
        cause: "DNSSEC validation failed at Let's Encrypt's resolver; the text after 'DNSSEC:' is the Extended DNS Error (signature expired, DNSKEY missing, RRSIGs missing...).",
        code: Some(FindingCode::DnssecBogus),
        check: "The DS/DNSKEY/RRSIG chain for the name and type given.",
        fix: "Re-sign the zone or fix the DS record at the parent.",
        who: WhoFixes::DnsProvider,
        method: None,
    },
    Pattern {
        needles: &["servfail looking up"],
        source: "Boulder",
        cause: "Let's Encrypt's resolver got SERVFAIL: the zone's nameservers fail or time out.",
        code: Some(FindingCode::DnsServfail),
        check: "Every authoritative server for the name and type given.",
        fix: "Fix or remove the failing nameservers.",
        who: WhoFixes::DnsProvider,
        method: None,
    },
    Pattern {
        needles: &["query timed out looking up"],
        source: "Boulder",
        cause: "The authoritative servers did not answer Let's Encrypt's resolver in time.",
        code: Some(FindingCode::DnsTimeout),
        check: "Reachability of every authoritative server over UDP and TCP, IPv4 and IPv6.",
        fix: "Make the nameservers answer (firewalls, rate limits, query types they drop).",
        who: WhoFixes::DnsProvider,
        method: None,
    },
    Pattern {
        needles: &["nxdomain looking up"],
        source: "Boulder",
        cause: "The name does not exist in DNS.",
        code: Some(FindingCode::Nxdomain),
        check: "The record at the name given, at the zone's authoritative servers.",
        fix: "Create the record (A/AAAA for HTTP, TXT for DNS validation) at the authoritative DNS provider.",
        who: WhoFixes::DnsProvider,
        method: None,
    },
    Pattern {
        needles: &["no valid a records found"],
        source: "Boulder",
        cause: "No usable A or AAAA record for the hostname.",
        code: Some(FindingCode::NoAddress),
        check: "A and AAAA records of the hostname (reserved addresses are dropped by the CA).",
        fix: "Point the hostname at a public address.",
        who: WhoFixes::DnsProvider,
        method: Some(Method::Http),
    },
    Pattern {
        needles: &["key authorization file from the server did not match"],
        source: "Boulder / Pebble",
        cause: "The validation URL answers, but with the wrong content.",
        code: Some(FindingCode::HttpTokenMismatch),
        check: "The body served at /.well-known/acme-challenge/<token> from every address.",
        fix: "Serve exactly the key authorisation, and make every address (IPv4 and IPv6) serve the same.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
    },
    Pattern {
        needles: &["timeout during connect"],
        source: "Boulder",
        cause: "The CA's connection to port 80 (or 443 after a redirect) timed out: usually a firewall dropping packets.",
        code: Some(FindingCode::HttpUnreachable),
        check: "Reachability of port 80 on every address of the hostname, from everywhere.",
        fix: "Open port 80 to the internet (at least for /.well-known/acme-challenge/).",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
    },
    Pattern {
        needles: &["timeout after connect"],
        source: "Boulder",
        cause: "The server accepted the connection but did not answer in time.",
        code: Some(FindingCode::HttpUnreachable),
        check: "The server's response time for the validation URL.",
        fix: "Make the validation URL answer quickly (bypass slow application code for /.well-known/acme-challenge/).",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
    },
    Pattern {
        needles: &["connection refused"],
        source: "Boulder / Pebble",
        cause: "Nothing listens on the port the CA connects to at that address.",
        code: Some(FindingCode::HttpUnreachable),
        check: "Port 80 (and 443 after a redirect) on every A and AAAA address.",
        fix: "Run a web server on that address, or remove the DNS record that points there.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
    },
    Pattern {
        needles: &["connection reset by peer"],
        source: "Boulder",
        cause: "The connection was reset: a firewall or a server that drops the CA's request.",
        code: Some(FindingCode::HttpUnreachable),
        check: "Firewalls and the web server in front of the address.",
        fix: "Allow the CA's validation requests through.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
    },
    Pattern {
        needles: &["server only speaks http, not tls"],
        source: "Boulder",
        cause: "After a redirect to https, port 443 answers with plain HTTP.",
        code: Some(FindingCode::HttpOnHttpsPort),
        check: "What listens on port 443.",
        fix: "Serve TLS on 443, or stop redirecting /.well-known/acme-challenge/ to https.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
    },
    Pattern {
        needles: &["redirect"],
        source: "Boulder / Pebble",
        cause: "The validation URL redirects somewhere the CA will not follow (too many redirects, a loop, a port other than 80/443, a scheme other than http/https, a disallowed status).",
        code: Some(FindingCode::HttpBadRedirect),
        check: "The redirect chain of the validation URL.",
        fix: "Exclude /.well-known/acme-challenge/ from the redirect, or redirect only to http(s) on ports 80/443.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
    },
    Pattern {
        needles: &["invalid response from"],
        source: "Boulder",
        cause: "The validation URL answered with a status other than 200 (404: the token is not where the CA looks; 403: blocked).",
        code: Some(FindingCode::HttpNot200),
        check: "The status of /.well-known/acme-challenge/<token> from every address.",
        fix: "Serve the token with status 200, and lift any rule that blocks /.well-known/.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
    },
    Pattern {
        needles: &["non-200 status code from http"],
        source: "Pebble",
        cause: "The validation URL answered with a status other than 200.",
        code: Some(FindingCode::HttpNot200),
        check: "The status of the validation URL.",
        fix: "Serve the token with status 200.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
    },
    Pattern {
        needles: &["no txt record"],
        source: "Boulder / Pebble",
        cause: "No TXT record at _acme-challenge.<name>.",
        code: Some(FindingCode::TxtMissing),
        check: "TXT at _acme-challenge.<name> at every authoritative server (and a delegation CNAME).",
        fix: "Create the TXT record with the value the CA gave, at the DNS provider that is authoritative for that name.",
        who: WhoFixes::DnsProvider,
        method: Some(Method::Dns),
    },
    Pattern {
        needles: &["incorrect txt record"],
        source: "Boulder",
        cause: "TXT records exist at _acme-challenge.<name>, but none has the expected value.",
        code: Some(FindingCode::TxtMismatch),
        check: "The TXT values at every authoritative server.",
        fix: "Replace the TXT value with the current token (tokens change after every failed order).",
        who: WhoFixes::DnsProvider,
        method: Some(Method::Dns),
    },
    Pattern {
        needles: &["correct value not found for dns challenge"],
        source: "Pebble",
        cause: "TXT records exist, but none has the expected value.",
        code: Some(FindingCode::TxtMismatch),
        check: "The TXT values at every authoritative server.",
        fix: "Publish the current token.",
        who: WhoFixes::DnsProvider,
        method: Some(Method::Dns),
    },
    Pattern {
        needles: &["public suffix"],
        source: "Boulder",
        cause: "The name does not end in a TLD.",
        code: Some(FindingCode::IdentifierRejected),
        check: "The spelling of the name.",
        fix: "Use a name under a real TLD.",
        who: WhoFixes::Requester,
        method: None,
    },
    Pattern {
        needles: &["forbidden by policy"],
        source: "Boulder",
        cause: "Let's Encrypt's policy forbids this name (blocklist or high-risk name).",
        code: Some(FindingCode::IdentifierRejected),
        check: "Nothing on your side.",
        fix: "Use another CA.",
        who: WhoFixes::CertificateAuthority,
        method: None,
    },
    Pattern {
        needles: &["secondary validation rpc"],
        source: "Boulder",
        cause: "Let's Encrypt could not reach its own remote perspectives.",
        code: None,
        check: "Nothing on your side.",
        fix: "Retry later.",
        who: WhoFixes::CertificateAuthority,
        method: None,
    },
];

/// The prefix Boulder puts on the first failing remote perspective's problem.
const SECONDARY_PREFIX: &str = "during secondary validation:";

/// Explains a CA message, or returns `None` when it is not one we know.
pub fn explain(message: &str) -> Option<Explanation> {
    let lower = message.to_lowercase();
    let (remote, body) = match lower.find(SECONDARY_PREFIX) {
        Some(at) => (true, &lower[at + SECONDARY_PREFIX.len()..]),
        None => (false, lower.as_str()),
    };
    let pattern = PATTERNS
        .iter()
        .find(|p| p.needles.iter().all(|n| body.contains(n)))?;
    let hostname = extract_hostname(message);
    let host = hostname.clone().unwrap_or_else(|| "<hostname>".to_owned());
    let method = pattern
        .method
        .map_or(String::new(), |m| format!(" --method {m}"));
    let ca = if pattern.source.contains("Boulder") {
        " --ca letsencrypt"
    } else {
        ""
    };
    // Only remote perspectives reproduce what the CA's remotes saw (BR
    // 3.2.2.9); a check from this machine alone is its primary's view.
    let mpic = matches!(
        pattern.code,
        Some(FindingCode::MpicCaaDisagreement | FindingCode::MpicDcvDisagreement)
    );
    let ct = if matches!(
        pattern.code,
        Some(FindingCode::RateLimitedDuplicate | FindingCode::RateLimitedDomain)
    ) {
        " --ct"
    } else {
        ""
    };
    let perspectives = if remote || mpic {
        " --perspectives perspectives.toml"
    } else {
        ""
    };
    Some(Explanation {
        matched: pattern.needles.join(" … "),
        source: pattern.source.to_owned(),
        cause: if remote {
            format!(
                "Seen from one of the CA's remote perspectives (multi-perspective corroboration, BR 3.2.2.9), after the primary passed: {}",
                pattern.cause
            )
        } else {
            pattern.cause.to_owned()
        },
        finding: pattern.code,
        what_to_check: pattern.check.to_owned(),
        fix: pattern.fix.to_owned(),
        who_fixes: pattern.who,
        from_remote_perspective: remote,
        hostname,
        check_command: format!("dcv-doctor check {host}{ca}{method}{perspectives}{ct}"),
        ct_count: None,
    })
}

/// Hosts of documentation links CAs put in their messages, never the
/// hostname a message is about.
const DOCUMENTATION_HOSTS: &[&str] = &["letsencrypt.org", "pki.goog", "ssl.com", "cloudflare.com"];

/// Finds the hostname a message is about: after `for `, or the host of a URL.
fn extract_hostname(message: &str) -> Option<String> {
    let is_name = |s: &str| {
        s.contains('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '*'))
    };
    // URLs in the message: the first whose host is not a CA's documentation
    // site (rate-limit messages end in a letsencrypt.org link).
    let mut rest = message;
    while let Some(at) = rest.find("://") {
        let host: String = rest[at + 3..]
            .chars()
            .take_while(|c| !matches!(c, '/' | ':' | ' ' | '"'))
            .collect();
        rest = &rest[at + 3..];
        let documentation = DOCUMENTATION_HOSTS
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")));
        if is_name(&host) && !documentation {
            return Some(host);
        }
    }
    let words: Vec<&str> = message.split_whitespace().collect();
    words.windows(2).find_map(|w| {
        let candidate = w[1]
            .trim_end_matches([':', ',', '.', '"', ')'])
            .trim_start_matches('"');
        (w[0].eq_ignore_ascii_case("for") && is_name(candidate))
            .then(|| candidate.trim_start_matches("_acme-challenge.").to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message of cloudflare-dcv.md §5 and the troubleshooting page.
    #[test]
    fn cloudflare_messages_are_recognised() {
        let cases = [
            (
                "the Certificate Authority had trouble performing a DNS lookup: dns problem: looking up caa for www.example.com: dnssec: bogus",
                Some(FindingCode::DnssecBogus),
            ),
            (
                "Certificate authority encountered a SERVFAIL during DNS lookup, please check your DNS reachability.",
                Some(FindingCode::DnsServfail),
            ),
            (
                "the Certificate Authority had trouble performing a DNS lookup",
                Some(FindingCode::DnsServfail),
            ),
            (
                "CAA records block issuance. Please remove all CAA records or add records for this authority (ssl.com)",
                Some(FindingCode::CaaForbids),
            ),
            (
                "Certificate authority encountered a multiple perspective CAA check error, please ensure your DNS is configured to allow CAA queries",
                Some(FindingCode::MpicCaaDisagreement),
            ),
            (
                "Certificate authority encountered a multiple perspective CAA check error, please ensure your DNS is configured to allow CAA queries from all geographic perspectives",
                Some(FindingCode::MpicCaaDisagreement),
            ),
            (
                "Certificate authority was unable to verify domain ownership from multiple geographic locations (MPIC failure). Please ensure your DNS records are reachable from all geographic perspectives and try again.",
                Some(FindingCode::MpicDcvDisagreement),
            ),
            (
                "The authority has rate limited these domains. Please wait for the rate limit to expire or try another authority. Expires 2026-12-01T00:00:00Z",
                Some(FindingCode::RateLimitedDuplicate),
            ),
            (
                "The certificate authority will not issue for this domain. Please check your input or try another authority.",
                Some(FindingCode::IdentifierRejected),
            ),
            (
                "Internal error with Certificate Authority. Please check later.",
                None,
            ),
        ];
        for (message, code) in cases {
            let e = explain(message).unwrap_or_else(|| panic!("not recognised: {message}"));
            assert_eq!(e.finding, code, "{message}");
        }
    }

    /// Boulder's and Pebble's texts (peers-and-ca-behaviour.md §3, lab-notes.md).
    #[test]
    fn boulder_and_pebble_messages_are_recognised() {
        let cases = [
            (
                "DNS problem: looking up A for hostname.example: DNSSEC: Signature Expired",
                FindingCode::DnssecBogus,
            ),
            (
                "DNS problem: SERVFAIL looking up CAA for example.com - the domain's nameservers may be malfunctioning",
                FindingCode::DnsServfail,
            ),
            (
                "DNS problem: NXDOMAIN looking up TXT for _acme-challenge.example.com - check that a DNS record exists for this domain",
                FindingCode::Nxdomain,
            ),
            (
                "DNS problem: query timed out looking up CAA for example.com",
                FindingCode::DnsTimeout,
            ),
            (
                "While processing CAA for www.example.com: CAA record for example.com prevents issuance",
                FindingCode::CaaForbids,
            ),
            (
                "203.0.113.5: Fetching http://example.com/.well-known/acme-challenge/abc: Timeout during connect (likely firewall problem)",
                FindingCode::HttpUnreachable,
            ),
            (
                "::1: Fetching http://ipv6.localhost/ok: Connection refused",
                FindingCode::HttpUnreachable,
            ),
            (
                "127.0.0.1: Invalid response from http://example.com/bad-status-code: 410",
                FindingCode::HttpNot200,
            ),
            (
                "The key authorization file from the server did not match this challenge. Expected \"a.b\" (got \"c\")",
                FindingCode::HttpTokenMismatch,
            ),
            (
                "Fetching http://example.com/max-redirect/12: Too many redirects",
                FindingCode::HttpBadRedirect,
            ),
            (
                "Fetching http://example.com/loop: Redirect loop detected",
                FindingCode::HttpBadRedirect,
            ),
            (
                "Invalid port in redirect target. Only ports 80 and 443 are supported, not 8080",
                FindingCode::HttpBadRedirect,
            ),
            (
                "No TXT record found at _acme-challenge.example.com",
                FindingCode::TxtMissing,
            ),
            (
                "Incorrect TXT record \"xyz\" found at _acme-challenge.example.com",
                FindingCode::TxtMismatch,
            ),
            (
                "Correct value not found for DNS challenge",
                FindingCode::TxtMismatch,
            ),
            (
                "Non-200 status code from HTTP: http://example.lab:80/.well-known/acme-challenge/t returned 404",
                FindingCode::HttpNot200,
            ),
            (
                "Domain name does not end with a valid public suffix (TLD)",
                FindingCode::IdentifierRejected,
            ),
        ];
        for (message, code) in cases {
            let e = explain(message).unwrap_or_else(|| panic!("not recognised: {message}"));
            assert_eq!(e.finding, Some(code), "{message}");
        }
    }

    #[test]
    fn secondary_validation_prefix_is_unwrapped_and_marked_remote() {
        let e = explain(
            "During secondary validation: 1.2.3.4: Fetching http://www.example.com/.well-known/acme-challenge/x: Timeout during connect (likely firewall problem)",
        )
        .unwrap();
        assert!(e.from_remote_perspective);
        assert_eq!(e.finding, Some(FindingCode::HttpUnreachable));
        assert_eq!(e.hostname.as_deref(), Some("www.example.com"));
        assert_eq!(
            e.check_command,
            "dcv-doctor check www.example.com --ca letsencrypt --method http --perspectives perspectives.toml"
        );
        // A Cloudflare MPIC message: only remote perspectives reproduce it.
        let e = explain(crate::messages::CLOUDFLARE_MPIC_CAA).unwrap();
        assert_eq!(e.finding, Some(FindingCode::MpicCaaDisagreement));
        assert!(
            e.check_command
                .ends_with(" --perspectives perspectives.toml"),
            "{}",
            e.check_command
        );
    }

    #[test]
    fn hostnames_are_extracted_from_lookups() {
        let e = explain(
            "DNS problem: SERVFAIL looking up TXT for _acme-challenge.shop.example.com - x",
        )
        .unwrap();
        assert_eq!(e.hostname.as_deref(), Some("shop.example.com"));
    }

    #[test]
    fn unknown_messages_are_not_guessed() {
        assert_eq!(explain("the weather is nice"), None);
        assert_eq!(explain(""), None);
    }
}
