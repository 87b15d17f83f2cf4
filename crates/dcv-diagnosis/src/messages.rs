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
