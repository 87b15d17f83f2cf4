//! The exact texts CAs give, so users can match our findings to what their
//! ACME client or Cloudflare's `validation_errors` printed. Cloudflare's wording
//! is from its troubleshooting page and API docs (cloudflare-dcv.md §5); Let's
//! Encrypt's is Boulder's (`bdns/problem.go`, `va/*.go`; peers-and-ca-behaviour.md §3).

/// Cloudflare: DNSSEC bogus on a CAA lookup (troubleshooting page, verbatim
/// but for the hostname).
pub fn cloudflare_dnssec_bogus(rtype: &str, hostname: &str) -> String {
    format!(
        "the Certificate Authority had trouble performing a DNS lookup: dns problem: looking up {} for {hostname}: dnssec: bogus",
        rtype.to_ascii_lowercase()
    )
}

/// Cloudflare: any SERVFAIL from the CA's resolver.
pub const CLOUDFLARE_SERVFAIL: &str = "Certificate authority encountered a SERVFAIL during DNS lookup, please check your DNS reachability.";

/// Cloudflare: the general DNS prefix (NXDOMAIN, timeouts, ...).
pub const CLOUDFLARE_DNS_TROUBLE: &str =
    "the Certificate Authority had trouble performing a DNS lookup";

/// Cloudflare: CAA forbids the CA; in the wild with the CA's name appended.
pub fn cloudflare_caa_blocks(ca_caa_value: &str) -> String {
    format!(
        "CAA records block issuance. Please remove all CAA records or add records for this authority ({ca_caa_value})"
    )
}

/// Cloudflare: some perspectives could not look up CAA (BR 3.2.2.9).
pub const CLOUDFLARE_MPIC_CAA: &str = "Certificate authority encountered a multiple perspective CAA check error, please ensure your DNS is configured to allow CAA queries from all geographic perspectives";

/// Cloudflare: some perspectives could not see the DCV record (BR 3.2.2.9).
pub const CLOUDFLARE_MPIC_DCV: &str = "Certificate authority was unable to verify domain ownership from multiple geographic locations (MPIC failure). Please ensure your DNS records are reachable from all geographic perspectives and try again.";

/// Cloudflare: rejected identifier.
pub const CLOUDFLARE_WILL_NOT_ISSUE: &str = "The certificate authority will not issue for this domain. Please check your input or try another authority.";

/// Boulder: a DNS failure without an Extended DNS Error.
/// `DNS problem: <detail> looking up <TYPE> for <name><addition>`.
pub fn boulder_dns_problem(detail: &str, rtype: &str, name: &str) -> String {
    let addition = match detail {
        "NXDOMAIN" => " - check that a DNS record exists for this domain",
        "SERVFAIL" => " - the domain's nameservers may be malfunctioning",
        _ => "",
    };
    format!("DNS problem: {detail} looking up {rtype} for {name}{addition}")
}

/// Boulder: CAA denial, `While processing CAA for <ident>: CAA record for <found> prevents issuance`.
pub fn boulder_caa_denied(identifier: &str, found_at: &str) -> String {
    format!("While processing CAA for {identifier}: CAA record for {found_at} prevents issuance")
}

/// Boulder: a DNS failure while processing CAA.
pub fn boulder_caa_lookup_failed(identifier: &str, dns_problem: &str) -> String {
    format!("While processing CAA for {identifier}: {dns_problem}")
}

/// Boulder DNS-01: no TXT at the validation name.
/// Boulder's HTTP-01 error when neither A nor AAAA gave an address.
pub fn boulder_no_addresses(name: &str) -> String {
    format!("No valid IP addresses found for {name}")
}

pub fn boulder_txt_missing(name: &str) -> String {
    format!("No TXT record found at {name}")
}

/// Boulder DNS-01: TXT present, wrong value (first value, truncated to 100).
pub fn boulder_txt_mismatch(first: &str, more: usize, name: &str) -> String {
    let shown: String = first.chars().take(100).collect();
    let more = if more > 0 {
        format!(" (and {more} more)")
    } else {
        String::new()
    };
    format!("Incorrect TXT record {shown:?}{more} found at {name}")
}

/// Cloudflare: the CA's rate limit (Let's Encrypt's duplicate-certificate
/// limit, troubleshooting page "Rate limiting").
pub const CLOUDFLARE_RATE_LIMITED: &str = "The authority has rate limited these domains. Please wait for the rate limit to expire or try another authority.";

/// Cloudflare: a transient fault inside the CA.
pub const CLOUDFLARE_CA_INTERNAL: &str =
    "Internal error with Certificate Authority. Please check later.";

/// Go's `time.Duration` text for whole hours (`168h0m0s`), as Boulder prints
/// a limit's period.
pub fn go_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    format!("{}h{}m{}s", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Boulder (`ratelimits/limiter.go`): the duplicate-certificate limit.
pub fn boulder_duplicate_limited(
    burst: u32,
    period: std::time::Duration,
    retry_after: &str,
    doc_url: &str,
) -> String {
    format!(
        "too many certificates ({burst}) already issued for this exact set of identifiers in the last {}, retry after {retry_after}: see {doc_url}",
        go_duration(period)
    )
}

/// Boulder (`ratelimits/limiter.go`): the per-registered-domain limit.
pub fn boulder_domain_limited(
    burst: u32,
    domain: &str,
    period: std::time::Duration,
    retry_after: &str,
    doc_url: &str,
) -> String {
    format!(
        "too many certificates ({burst}) already issued for {domain:?} in the last {}, retry after {retry_after}: see {doc_url}",
        go_duration(period)
    )
}

/// For `docs/findings.md`: the message a CA gives for a finding code, as
/// documented (Cloudflare's `validation_errors` wording first, else Boulder's
/// ACME detail with placeholders). `None` where the CA has no message of its
/// own (the HTTP classes surface only as a failed or timed-out validation).
pub fn documented_message(code: crate::FindingCode) -> Option<&'static str> {
    use crate::FindingCode as C;
    Some(match code {
        C::IdentifierRejected | C::AcmeRejectedIdentifier => CLOUDFLARE_WILL_NOT_ISSUE,
        C::Nxdomain => {
            "DNS problem: NXDOMAIN looking up A for <name> - check that a DNS record exists for this domain"
        }
        C::NoAddress => {
            "DNS problem: no valid A records found for <name>; no valid AAAA records found for <name>"
        }
        C::DnsServfail | C::DnsRefused | C::DnsLameDelegation => CLOUDFLARE_SERVFAIL,
        C::DnsTimeout => "DNS problem: query timed out looking up <TYPE> for <name>",
        C::DnssecBogus => {
            "the Certificate Authority had trouble performing a DNS lookup: dns problem: looking up caa for <hostname>: dnssec: bogus"
        }
        C::TxtMissing | C::DelegatedDcvMissing | C::DelegatedDcvWrongTarget => {
            "No TXT record found at _acme-challenge.<name>"
        }
        C::TxtMismatch | C::TxtInconsistent => {
            "Incorrect TXT record \"<value>\" found at _acme-challenge.<name>"
        }
        C::CaaForbids | C::CaaCriticalUnknown | C::AcmeCaa => {
            "CAA records block issuance. Please remove all CAA records or add records for this authority (<ca>)"
        }
        C::CaaLookupFailed => {
            "Certificate authority encountered a SERVFAIL during DNS lookup, please check your DNS reachability."
        }
        C::HttpTokenMismatch => {
            "The key authorization file from the server did not match this challenge. Expected \"<ka>\" (got \"<body>\")"
        }
        C::HttpCatchAll => {
            "The key authorization file from the server did not match this challenge. Expected \"<ka>\" (got \"<page>\")"
        }
        C::HttpTokenNotPublished
        | C::HttpNot200
        | C::HttpChallengePage
        | C::HttpBlocked
        | C::HttpRedirectToHttps
        | C::Ipv6Mismatch => {
            "<ip>: Invalid response from http://<name>/.well-known/acme-challenge/<token>: <status>"
        }
        C::HttpBadRedirect => {
            "<ip>: Fetching <url>: Too many redirects / Redirect loop detected / Invalid port in redirect target ..."
        }
        C::HttpUnreachable => {
            "<ip>: Fetching <url>: Timeout during connect (likely firewall problem) / Connection refused"
        }
        C::HttpOnHttpsPort => "<ip>: Fetching https://<name>/...: Server only speaks HTTP, not TLS",
        C::MpicCaaDisagreement | C::DnsPathInconsistent => {
            "Certificate authority encountered a multiple perspective CAA check error, please ensure your DNS is configured to allow CAA queries from all geographic perspectives"
        }
        C::MpicDcvDisagreement => {
            "Certificate authority was unable to verify domain ownership from multiple geographic locations (MPIC failure). Please ensure your DNS records are reachable from all geographic perspectives and try again."
        }
        C::RateLimitedDuplicate | C::AcmeRateLimited => CLOUDFLARE_RATE_LIMITED,
        C::RateLimitedDomain => {
            "too many certificates (50) already issued for \"<registered domain>\" in the last 168h0m0s, retry after <time>: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-registered-domain"
        }
        C::AcmeUnavailable => CLOUDFLARE_CA_INTERNAL,
        _ => return None,
    })
}

/// For `docs/findings.md`: the usual fix, in one sentence. Exhaustive, so a
/// new finding code cannot reach the docs without one.
pub fn documented_fix(code: crate::FindingCode) -> &'static str {
    use crate::FindingCode as C;
    match code {
        C::IdentifierRejected => {
            "Use a name the CA accepts, or another CA (the report names which CAs refuse it)."
        }
        C::Nxdomain | C::NoAddress => "Create the record at the authoritative DNS provider.",
        C::DnsServfail | C::DnsTimeout | C::DnsRefused | C::DnsLameDelegation => {
            "Make every nameserver in the delegation answer authoritatively, or remove it from the NS sets."
        }
        C::DnsSlowServer => {
            "Make the slow or lossy nameservers answer promptly (overload, distance, rate limits, a filter dropping packets), or remove them from the NS sets."
        }
        C::DnsPathInconsistent => {
            "Make every nameserver answer the same over IPv4 and IPv6, UDP with and without EDNS, and TCP (firewalls, middleboxes, out-of-sync copies)."
        }
        C::DnssecBogus => {
            "Re-sign the zone or make the parent's DS match the current KSK (or remove the DS)."
        }
        C::NsDelegated => {
            "Add the records at the provider the NS records name, or remove the NS records."
        }
        C::ReservedAddress => "Publish public addresses; CAs cannot reach private ones.",
        C::TxtMissing | C::TxtMismatch => {
            "Publish the current token value at _acme-challenge.<name> at the authoritative provider."
        }
        C::TxtInconsistent => "Bring every nameserver of the zone in sync, then retry.",
        C::TxtDoubledLabel => "Recreate the record without the zone name appended twice.",
        C::DelegatedDcvConflict => {
            "Delete every TXT at _acme-challenge.<name>; keep only the delegation CNAME."
        }
        C::DelegatedDcvMissing => {
            "Create `_acme-challenge.<name> CNAME <target>` (DNS only, not proxied) and delete any TXT or A/AAAA there."
        }
        C::DelegatedDcvWrongTarget => {
            "Point the _acme-challenge CNAME at the current target from the dashboard on every nameserver."
        }
        C::DelegatedDcvReady => {
            "Nothing: keep the CNAME; the provider places the tokens during issuance."
        }
        C::CaaForbids => {
            "Add `CAA 0 issue` (and `issuewild`) records for the CA where the CAA RRset lives, or remove them all."
        }
        C::CaaCriticalUnknown => "Remove the critical (flag 128) record with the unknown tag.",
        C::CaaLookupFailed => {
            "Make CAA queries answer (NOERROR/empty) from every server, and fix DNSSEC."
        }
        C::DnssecInsecure => "Nothing required; sign the zone to protect CAA and DCV records.",
        C::HttpTokenMismatch => {
            "Serve exactly the key authorisation at the token URL from every address."
        }
        C::HttpTokenNotPublished => "Nothing yet: place the token where the CA will look.",
        C::HttpCatchAll => {
            "Serve /.well-known/acme-challenge/ from a directory ahead of the catch-all route, so the real token file wins."
        }
        C::HttpChallengePage => {
            "Exclude /.well-known/acme-challenge/* from challenges and Under Attack mode."
        }
        C::HttpBlocked => {
            "Allow /.well-known/acme-challenge/* in WAF, IP access rules and firewalls."
        }
        C::HttpRedirectToHttps => {
            "Do not redirect /.well-known/ to https in partial setups; exclude it in Redirect Rules."
        }
        C::HttpBadRedirect => {
            "Redirect only with 301/302/307/308 to http(s) on ports 80/443, or not at all."
        }
        C::HttpUnreachable => {
            "Open port 80 (and 443 if redirected) on every address, or remove the record."
        }
        C::Ipv6Mismatch => "Point AAAA at the same server as A, or remove the AAAA record.",
        C::HttpOnHttpsPort => "Serve TLS on 443 or stop redirecting to https.",
        C::TlsOnHttpPort => "Serve plain HTTP on port 80.",
        C::HttpNot200 => "Serve the token with status 200.",
        C::MpicCaaDisagreement | C::MpicDcvDisagreement => {
            "Make DNS and the validation URL answer the same from every region (geo-blocking, split horizon, anycast nodes out of sync)."
        }
        C::PerspectiveUnavailable => {
            "Fix or remove the perspective agent; the domain is not at fault."
        }
        C::RateLimitedDuplicate => {
            "Wait until the time given (one certificate comes back every 34 hours), stop reissuing the same set, change the set of names, or use another CA."
        }
        C::RateLimitedDomain => {
            "Wait until the time given, renew existing sets instead of new ones (renewals are exempt), request an override from Let's Encrypt, or use another CA."
        }
        C::CtUnavailable => {
            "Retry later, or point --ct-url at another crt.sh-compatible search; the domain is not at fault."
        }
        C::AcmeOrderAccepted | C::AcmeAgrees => "Nothing.",
        C::AcmeRejectedIdentifier => {
            "Use another CA, or ask this CA why it refuses the name (the problem detail names the rule)."
        }
        C::AcmeCaa => {
            "Add `CAA 0 issue` (and `issuewild`) for this CA where the CAA RRset lives, or remove the CAA records."
        }
        C::AcmeRateLimited => {
            "Wait until the retry-after time the CA gave, or use another account or CA."
        }
        C::AcmeValidationFailed => {
            "Fix what the CA's problem detail names (the prediction beside it says where), then validate again."
        }
        C::AcmeDisagrees => {
            "Read both reasons: a CA that deviates from Let's Encrypt's rules (Pebble's are documented), or a gap to report against dcv-doctor."
        }
        C::AcmeUnavailable => {
            "Retry later or check --acme-directory and --acme-ca-cert; the domain is not at fault."
        }
        C::VantageNoIpv6 => {
            "Nothing on the domain: check again from a machine (or an MPIC agent) with IPv6 to see what a CA sees over IPv6."
        }
        C::VantageNoIpv4 => {
            "Nothing on the domain: check again from a machine (or an MPIC agent) with IPv4 to see what a CA sees over IPv4."
        }
        C::VantageDnsTcpBlocked => {
            "Nothing on the domain: allow outbound TCP port 53 here, or check from a machine that has it, to test the TCP paths."
        }
        C::VantageNoNetwork => {
            "Run the check from a machine with Internet access (or give this one a route out), then check again."
        }
        C::VantageDnsBlocked => {
            "Allow outbound DNS (UDP and TCP port 53, to any address) from this machine, or run the check from one that has it."
        }
        C::VantageDnsIntercepted => {
            "Run the check where port 53 goes straight to the Internet: no DNS interception by the network, VPN or security software (or use a remote agent)."
        }
        C::VantageNotChecked => {
            "Check again from a machine that can reach the servers named (the other address family, or without the firewall)."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_the_documented_examples() {
        assert_eq!(
            boulder_dns_problem("SERVFAIL", "CAA", "hostname"),
            "DNS problem: SERVFAIL looking up CAA for hostname - the domain's nameservers may be malfunctioning"
        );
        assert_eq!(
            boulder_dns_problem("NXDOMAIN", "TXT", "hostname"),
            "DNS problem: NXDOMAIN looking up TXT for hostname - check that a DNS record exists for this domain"
        );
        assert_eq!(
            cloudflare_dnssec_bogus("CAA", "www.example.com"),
            "the Certificate Authority had trouble performing a DNS lookup: dns problem: looking up caa for www.example.com: dnssec: bogus"
        );
        assert_eq!(
            boulder_txt_mismatch("abc", 2, "_acme-challenge.x"),
            "Incorrect TXT record \"abc\" (and 2 more) found at _acme-challenge.x"
        );
        // Every message we generate is recognised by `explain`.
        for msg in [
            cloudflare_dnssec_bogus("CAA", "a.example"),
            CLOUDFLARE_SERVFAIL.to_owned(),
            cloudflare_caa_blocks("ssl.com"),
            CLOUDFLARE_WILL_NOT_ISSUE.to_owned(),
            boulder_caa_denied("a.example", "example"),
            boulder_txt_missing("_acme-challenge.a.example"),
            boulder_txt_mismatch("x", 0, "_acme-challenge.a.example"),
        ] {
            assert!(
                crate::explain::explain(&msg).is_some(),
                "explain does not know {msg:?}"
            );
        }
    }
}
