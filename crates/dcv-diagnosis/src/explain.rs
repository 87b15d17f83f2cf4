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
    /// The command that tests it: `check` (the cause now) or `watch` (wait
    /// until it clears).
    verb: Verb,
}

/// Which dcv-doctor command an explanation suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Check,
    Watch,
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
    Pattern {
        needles: &["multiple perspective caa check error"],
        source: "Cloudflare",
        cause: "The CA could not resolve the hostname's CAA records from some of its remote network perspectives (MPIC, BR 3.2.2.9).",
        code: Some(FindingCode::MpicCaaDisagreement),
        check: "Whether every authoritative server answers CAA queries over IPv4 and IPv6, UDP and TCP, from everywhere (geo-blocking, rate limiting, firewalls that drop unknown query types).",
        fix: "Make every authoritative nameserver answer CAA queries (NOERROR with an empty answer when there are no CAA records) from all regions; remove geo/IP restrictions on the DNS servers.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
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
        verb: Verb::Check,
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
        verb: Verb::Check,
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
        verb: Verb::Check,
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
        verb: Verb::Check,
    },
    Pattern {
        needles: &["issuance blocked by a caa error"],
        source: "Cloudflare (DigiCert era)",
        cause: "CAA records at the hostname or a parent did not authorise the CA (legacy DigiCert wording under pending_issuance).",
        code: Some(FindingCode::CaaForbids),
        check: "CAA at the hostname and each parent.",
        fix: "Allow every Cloudflare partner CA in CAA, or remove the CAA records.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
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
        verb: Verb::Check,
    },
    Pattern {
        needles: &["rate limited these domains"],
        source: "Cloudflare",
        cause: "The CA's rate limit for this set of names was hit (Let's Encrypt: 5 duplicate certificates per exact set of names per 7 days).",
        code: Some(FindingCode::RateLimitedDuplicate),
        check: "Recent certificates for the same set of hostnames in Certificate Transparency logs (`--ct` counts them and gives the time the next one is possible).",
        fix: "Wait for the window to pass (the message may carry the time), stop whatever keeps reissuing, or order from another CA.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["will not issue for this domain"],
        source: "Cloudflare",
        cause: "The CA's identifier policy refuses the name (not under a public suffix, a TLD, too many labels, a reserved-format label, a blocked name).",
        code: Some(FindingCode::IdentifierRejected),
        check: "The name's labels, its TLD, and the CA's policy (`--acme-directory` asks a real CA).",
        fix: "Try another CA, or contact the CA if the name should be allowed.",
        who: WhoFixes::CertificateAuthority,
        method: None,
        verb: Verb::Check,
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
        verb: Verb::Check,
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
        verb: Verb::Check,
    },
    Pattern {
        needles: &["validation_timed_out"],
        source: "Cloudflare (status)",
        cause: "Cloudflare's DCV retry schedule ran out (about 14.6 days) before the CA could validate.",
        code: None,
        check: "What blocks validation now, and whether it clears while you fix it.",
        fix: "Fix what `check` reports, then restart validation (PATCH the certificate pack or custom hostname with the same method).",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Watch,
    },
    Pattern {
        needles: &["timed out (validation)"],
        source: "Cloudflare (dashboard)",
        cause: "Cloudflare's DCV retry schedule ran out before the CA could validate.",
        code: None,
        check: "What blocks validation now, and whether it clears while you fix it.",
        fix: "Fix what `check` reports, then restart validation from the dashboard or API.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Watch,
    },
    Pattern {
        needles: &["domain validation failed for"],
        source: "Cloudflare (DigiCert era)",
        cause: "The CA could not validate the name, usually because the DCV token expired or was never placed (legacy DigiCert wording).",
        code: None,
        check: "The current token at its location (TXT or HTTP) and whether it is the newest one.",
        fix: "Place the current tokens (they change after every failed order) and restart validation.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["reported as potential risk"],
        source: "Cloudflare (DigiCert era)",
        cause: "The CA's risk check flagged the name (Safe Browsing, PhishTank or risky keywords); validation stops until the CA's support acts.",
        code: None,
        check: "Nothing dcv-doctor can test: the name's reputation lists.",
        fix: "Contact Cloudflare or the CA's support with the ticket link from the API response.",
        who: WhoFixes::CertificateAuthority,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["common name being too long"],
        source: "Cloudflare (DigiCert era)",
        cause: "A certificate's Common Name is limited to 64 characters; no name of the order is short enough.",
        code: None,
        check: "The lengths of the names in the order.",
        fix: "Turn on Cloudflare Branding (adds a short CN), or include a name of 64 characters or fewer.",
        who: WhoFixes::Cloudflare,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["custom hostname does not cname to this zone"],
        source: "Cloudflare (custom hostname)",
        cause: "The custom hostname's ownership check: the hostname does not CNAME to the SaaS zone (verification_errors, not DCV).",
        code: None,
        check: "The hostname's CNAME at its authoritative servers.",
        fix: "Point the hostname at the SaaS target with a CNAME, or use the TXT/HTTP ownership token.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["fallback origin"],
        source: "Cloudflare (custom hostname)",
        cause: "The SaaS zone has no usable fallback origin, so custom hostnames cannot activate.",
        code: None,
        check: "The zone's fallback origin status in the Cloudflare dashboard.",
        fix: "Set a fallback origin on the SaaS zone and wait until it is active.",
        who: WhoFixes::Cloudflare,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["none of the a or aaaa records are owned by this account"],
        source: "Cloudflare (custom hostname)",
        cause: "The custom hostname neither points at the SaaS zone nor carries the pre-generated ownership token.",
        code: None,
        check: "The hostname's A/AAAA/CNAME records and the `_cf-custom-hostname` TXT record.",
        fix: "Point the hostname at the SaaS target, or publish the ownership TXT (or HTTP) token.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["cannot be activated with a", "validation token"],
        source: "Cloudflare (custom hostname)",
        cause: "The hostname is itself proxied by Cloudflare, so TXT/HTTP ownership tokens cannot activate it; its DNS must point to the SaaS zone.",
        code: None,
        check: "Where the hostname's DNS points.",
        fix: "CNAME the hostname to the SaaS target (DNS only in the owner's zone).",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["associated with a held zone"],
        source: "Cloudflare (custom hostname)",
        cause: "The hostname belongs to a zone on hold at Cloudflare.",
        code: None,
        check: "Nothing dcv-doctor can test.",
        fix: "Ask the owner of the zone to remove the hold.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
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
        verb: Verb::Check,
    },
    Pattern {
        needles: &["insufficient remote perspectives"],
        source: "Boulder",
        cause: "Let's Encrypt had too few remote perspectives available (an outage on its side).",
        code: None,
        check: "Nothing on your side.",
        fix: "Retry later.",
        who: WhoFixes::CertificateAuthority,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["rechecking caa"],
        source: "Boulder",
        cause: "At finalization Let's Encrypt rechecks CAA for authorizations validated more than 7 hours earlier, and the recheck failed: CAA changed since, or its lookup fails.",
        code: Some(FindingCode::CaaForbids),
        check: "CAA at each name of the order now.",
        fix: "Allow the CA in CAA (or remove the records) and make the CAA lookups answer, then finalize again.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["caa record for", "prevents issuance"],
        source: "Boulder",
        cause: "The relevant CAA RRset (at the name given) does not authorise Let's Encrypt.",
        code: Some(FindingCode::CaaForbids),
        check: "CAA at the name the message gives.",
        fix: "Add `CAA 0 issue \"letsencrypt.org\"` there (and `issuewild` for wildcards), or remove the CAA records.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
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
        verb: Verb::Check,
    },
    Pattern {
        needles: &["response was truncated looking up"],
        source: "Boulder",
        cause: "Let's Encrypt's CAA answer came back truncated (TC) and it does not retry CAA over TCP: too many or too large CAA records.",
        code: Some(FindingCode::CaaLookupFailed),
        check: "The size of the CAA RRset and TCP answers from every server.",
        fix: "Trim the CAA RRset so it fits in a UDP answer.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
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
        verb: Verb::Check,
    },
    Pattern {
        needles: &["refused looking up"],
        source: "Boulder",
        cause: "A nameserver answered REFUSED: it is not configured for the zone it is delegated.",
        code: Some(FindingCode::DnsRefused),
        check: "Every nameserver in the delegation for the zone.",
        fix: "Configure the zone on every nameserver of the delegation, or remove the ones that refuse.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["formerr looking up"],
        source: "Boulder",
        cause: "A nameserver answered FORMERR, typically to the resolver's EDNS query (an EDNS-intolerant server or middlebox).",
        code: Some(FindingCode::DnsPathInconsistent),
        check: "Every nameserver over UDP with and without EDNS, and TCP.",
        fix: "Fix the server or firewall that rejects EDNS queries.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["notimp looking up"],
        source: "Boulder",
        cause: "A nameserver answered NOTIMP for a query type it should answer (often CAA), which RFC 8659 §6.2 calls a server bug.",
        code: Some(FindingCode::DnsRefused),
        check: "Every nameserver for the query type given.",
        fix: "Upgrade or fix the nameserver so unknown types get NOERROR with an empty answer.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["query timed out", "looking up"],
        source: "Boulder",
        cause: "The authoritative servers did not answer Let's Encrypt's resolver in time.",
        code: Some(FindingCode::DnsTimeout),
        check: "Reachability of every authoritative server over UDP and TCP, IPv4 and IPv6.",
        fix: "Make the nameservers answer (firewalls, rate limits, query types they drop).",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["server failure at resolver looking up"],
        source: "Boulder",
        cause: "Let's Encrypt's resolver failed to resolve the name (older wording for a failing delegation).",
        code: Some(FindingCode::DnsServfail),
        check: "Every authoritative server on the path.",
        fix: "Fix the failing nameservers.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["networking error looking up"],
        source: "Boulder",
        cause: "A network error between Let's Encrypt's validation authority and its own resolver: not the domain.",
        code: None,
        check: "Nothing on your side.",
        fix: "Retry.",
        who: WhoFixes::CertificateAuthority,
        method: None,
        verb: Verb::Check,
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
        verb: Verb::Check,
    },
    Pattern {
        needles: &["no reachable authority"],
        source: "Boulder",
        cause: "Let's Encrypt's resolver could reach none of the zone's authoritative servers (Extended DNS Error 22).",
        code: Some(FindingCode::DnsTimeout),
        check: "Reachability of every authoritative server.",
        fix: "Make the nameservers answer from the internet.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["network error between resolver and authority"],
        source: "Boulder",
        cause: "Let's Encrypt's resolver lost contact with an authoritative server (Extended DNS Error 23).",
        code: Some(FindingCode::DnsTimeout),
        check: "Reachability of every authoritative server over UDP and TCP.",
        fix: "Make the nameservers answer reliably (firewalls, rate limits).",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["looking up", ": not authoritative"],
        source: "Boulder",
        cause: "A delegated nameserver does not answer authoritatively for the zone (Extended DNS Error 20: lame delegation).",
        code: Some(FindingCode::DnsLameDelegation),
        check: "Every nameserver in the delegation.",
        fix: "Serve the zone on every delegated server, or remove lame ones from the NS sets.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["unknown extended dns error code"],
        source: "Boulder",
        cause: "Let's Encrypt's resolver failed with an Extended DNS Error Boulder has no name for.",
        code: Some(FindingCode::DnsServfail),
        check: "Every authoritative server for the name and type given.",
        fix: "Fix what `check` names.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["no valid a records found"],
        source: "Boulder",
        cause: "No usable A or AAAA record for the hostname (reserved addresses are dropped by the CA).",
        code: Some(FindingCode::NoAddress),
        check: "A and AAAA records of the hostname.",
        fix: "Point the hostname at a public address.",
        who: WhoFixes::DnsProvider,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["no valid aaaa records found"],
        source: "Boulder",
        cause: "No usable A or AAAA record for the hostname (reserved addresses are dropped by the CA).",
        code: Some(FindingCode::NoAddress),
        check: "A and AAAA records of the hostname.",
        fix: "Point the hostname at a public address.",
        who: WhoFixes::DnsProvider,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["no valid ip addresses found for"],
        source: "Boulder (ACMEv1 era)",
        cause: "No usable A or AAAA record for the hostname (older Boulder wording; private and reserved addresses do not count).",
        code: Some(FindingCode::NoAddress),
        check: "A and AAAA records of the hostname, and whether they are public.",
        fix: "Point the hostname at a public address.",
        who: WhoFixes::DnsProvider,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["no ip addresses found for"],
        source: "Boulder",
        cause: "No usable A or AAAA record for the hostname (TLS-ALPN-01 wording).",
        code: Some(FindingCode::NoAddress),
        check: "A and AAAA records of the hostname.",
        fix: "Point the hostname at a public address.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["no ipv4 addresses to try as fallback"],
        source: "Boulder",
        cause: "TLS-ALPN-01: the IPv6 address failed and there is no A record to fall back to.",
        code: Some(FindingCode::HttpUnreachable),
        check: "Port 443 on the AAAA address.",
        fix: "Make port 443 answer on IPv6, or add an A record.",
        who: WhoFixes::OriginServer,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["has no ipv4 or ipv6 addresses"],
        source: "Boulder",
        cause: "The hostname resolves to no address at all.",
        code: Some(FindingCode::NoAddress),
        check: "A and AAAA records of the hostname.",
        fix: "Publish an A or AAAA record.",
        who: WhoFixes::DnsProvider,
        method: Some(Method::Http),
        verb: Verb::Check,
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
        verb: Verb::Check,
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
        verb: Verb::Check,
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
        verb: Verb::Check,
    },
    Pattern {
        needles: &["timeout during"],
        source: "Boulder",
        cause: "The server was too slow in the middle of the exchange (reading or writing).",
        code: Some(FindingCode::HttpUnreachable),
        check: "The server's response time for the validation URL.",
        fix: "Make the validation URL answer quickly.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
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
        verb: Verb::Check,
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
        verb: Verb::Check,
    },
    Pattern {
        needles: &["network unreachable"],
        source: "Boulder",
        cause: "The CA has no route to the address (an address that is not routed on the internet, often an IPv6 address).",
        code: Some(FindingCode::HttpUnreachable),
        check: "Whether every A and AAAA address is public and routed.",
        fix: "Publish only reachable addresses (remove a stale or internal AAAA record).",
        who: WhoFixes::DnsProvider,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["dial tcp", "i/o timeout"],
        source: "Pebble",
        cause: "The CA's connection timed out (Go's dial or read timeout).",
        code: Some(FindingCode::HttpUnreachable),
        check: "Reachability of port 80 on every address.",
        fix: "Open port 80 to the internet.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
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
        verb: Verb::Check,
    },
    Pattern {
        needles: &["first record does not look like a tls handshake"],
        source: "Boulder / Pebble (Go TLS)",
        cause: "After a redirect to https, port 443 answered with something that is not TLS (usually plain HTTP).",
        code: Some(FindingCode::HttpOnHttpsPort),
        check: "What listens on port 443.",
        fix: "Serve TLS on 443, or stop redirecting /.well-known/acme-challenge/ to https.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["server is speaking http/2 over http"],
        source: "Boulder",
        cause: "Port 80 answered with an HTTP/2 frame to an HTTP/1.1 request (h2c prior knowledge forced on).",
        code: Some(FindingCode::HttpNot200),
        check: "The web server's protocol settings on port 80.",
        fix: "Serve HTTP/1.1 on port 80 (do not force HTTP/2 cleartext).",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["doesn't support tlsv1.2 or better"],
        source: "Boulder",
        cause: "The validation URL redirects to an HTTPS server that only offers TLS 1.0/1.1.",
        code: Some(FindingCode::HttpBadRedirect),
        check: "The TLS versions of the redirect target.",
        fix: "Enable TLS 1.2 or later on the target, or do not redirect /.well-known/acme-challenge/.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["remote error: tls"],
        source: "Boulder / Pebble (Go TLS)",
        cause: "The TLS handshake failed after a redirect to https (the server sent a TLS alert: no certificate for the name, no common cipher or protocol).",
        code: Some(FindingCode::HttpUnreachable),
        check: "The redirect chain and the TLS handshake of the https target.",
        fix: "Fix the HTTPS server of the redirect target, or do not redirect /.well-known/acme-challenge/ to https.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["tls: "],
        source: "Boulder / Pebble (Go TLS)",
        cause: "A TLS error after a redirect to https.",
        code: Some(FindingCode::HttpUnreachable),
        check: "The redirect chain and the TLS handshake of the https target.",
        fix: "Fix the HTTPS server of the redirect target, or do not redirect /.well-known/acme-challenge/ to https.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["error getting validation data"],
        source: "Boulder",
        cause: "The CA could not fetch the validation URL for a reason Boulder does not classify (a broken connection, a malformed HTTP response).",
        code: Some(FindingCode::HttpUnreachable),
        check: "The validation URL from every address, hop by hop.",
        fix: "Make /.well-known/acme-challenge/<token> answer with a normal HTTP response on port 80.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["error reading http response body"],
        source: "Boulder",
        cause: "The server's response body could not be read (connection closed mid-body, bad chunked encoding).",
        code: Some(FindingCode::HttpUnreachable),
        check: "The validation URL's response from every address.",
        fix: "Fix the web server or proxy in front of the validation URL.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["redirect loop"],
        source: "Boulder",
        cause: "The validation URL redirects to itself.",
        code: Some(FindingCode::HttpBadRedirect),
        check: "The redirect chain of the validation URL.",
        fix: "Break the loop; exclude /.well-known/acme-challenge/ from the redirect.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["too many redirects"],
        source: "Boulder",
        cause: "The validation URL redirects more than the CA follows (Let's Encrypt: 10).",
        code: Some(FindingCode::HttpBadRedirect),
        check: "The redirect chain of the validation URL.",
        fix: "Serve the token at the first or second hop.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["stopped after 10 redirects"],
        source: "Pebble",
        cause: "The validation URL redirects more than the CA follows.",
        code: Some(FindingCode::HttpBadRedirect),
        check: "The redirect chain of the validation URL.",
        fix: "Serve the token at the first or second hop.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["in redirect target"],
        source: "Boulder",
        cause: "The validation URL redirects somewhere the CA will not follow (a port other than 80/443, a scheme other than http/https, an empty, reserved or non-IANA host, or a missing '/').",
        code: Some(FindingCode::HttpBadRedirect),
        check: "The Location header of every redirect.",
        fix: "Redirect only to http(s) on ports 80/443 with a full, public host name, or do not redirect /.well-known/acme-challenge/.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["disallowed redirect status code"],
        source: "Boulder",
        cause: "The validation URL redirects with a status the CA does not follow (only 301, 302, 307, 308; not 303).",
        code: Some(FindingCode::HttpBadRedirect),
        check: "The redirect status codes of the chain.",
        fix: "Use 301, 302, 307 or 308, or do not redirect.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["redirect target too long"],
        source: "Boulder",
        cause: "A redirect target's path is longer than the CA accepts (2000 bytes).",
        code: Some(FindingCode::HttpBadRedirect),
        check: "The Location header of every redirect.",
        fix: "Redirect to a shorter URL.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["invalid response from", ": \""],
        source: "Boulder",
        cause: "The validation URL answered 200 with a body of 128 bytes or more (an HTML page, a catch-all route), which cannot be the key authorisation.",
        code: Some(FindingCode::HttpTokenMismatch),
        check: "The body served at /.well-known/acme-challenge/<token> from every address.",
        fix: "Serve the token file itself (only the key authorisation) at that path, ahead of any catch-all route.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
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
        verb: Verb::Check,
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
        verb: Verb::Check,
    },
    Pattern {
        needles: &["could not resolve url"],
        source: "Pebble",
        cause: "Pebble could not resolve the hostname to an address (it reads any DNS failure this way).",
        code: Some(FindingCode::NoAddress),
        check: "A and AAAA records of the hostname.",
        fix: "Publish an A or AAAA record that resolves.",
        who: WhoFixes::DnsProvider,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["error occurred while resolving url"],
        source: "Pebble",
        cause: "Pebble's lookup of the hostname failed.",
        code: Some(FindingCode::NoAddress),
        check: "A and AAAA records of the hostname.",
        fix: "Publish an A or AAAA record that resolves.",
        who: WhoFixes::DnsProvider,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["no txt record found for dns-persist-01"],
        source: "Boulder",
        cause: "dns-persist-01: no TXT record at _validation-persist.<name>.",
        code: None,
        check: "TXT at _validation-persist.<name> (a method dcv-doctor does not check yet).",
        fix: "Publish the persistent TXT record the CA asked for.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["accounturi mismatch"],
        source: "Boulder",
        cause: "dns-persist-01: the persistent TXT record names another ACME account.",
        code: None,
        check: "The accounturi in the _validation-persist TXT record.",
        fix: "Put this account's URI in the record.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
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
        verb: Verb::Check,
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
        verb: Verb::Check,
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
        verb: Verb::Check,
    },
    Pattern {
        needles: &["error retrieving txt records for dns challenge"],
        source: "Pebble",
        cause: "Pebble's TXT lookup failed.",
        code: Some(FindingCode::DnsServfail),
        check: "TXT at _acme-challenge.<name> at every authoritative server.",
        fix: "Make the nameservers answer the TXT query.",
        who: WhoFixes::DnsProvider,
        method: Some(Method::Dns),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["returned an unsuccessful response"],
        source: "Pebble",
        cause: "Pebble's DNS lookup got an error RCODE (printed as a character: '\\x03' NXDOMAIN, '\\x02' SERVFAIL).",
        code: Some(FindingCode::DnsServfail),
        check: "The lookup named in the message at every authoritative server.",
        fix: "Create the record, or fix the failing nameservers.",
        who: WhoFixes::DnsProvider,
        method: Some(Method::Dns),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["cannot negotiate alpn protocol"],
        source: "Boulder",
        cause: "TLS-ALPN-01: the server on port 443 does not offer the acme-tls/1 protocol (a method dcv-doctor does not check; HTTP-01 and DNS-01 do not need it).",
        code: None,
        check: "The ALPN protocols port 443 offers.",
        fix: "Use a client/server that answers acme-tls/1, or use HTTP-01 or DNS-01.",
        who: WhoFixes::OriginServer,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["incorrect validation certificate for tls-alpn-01"],
        source: "Boulder / Pebble",
        cause: "TLS-ALPN-01: port 443 presented a certificate that is not the self-signed validation certificate (often a CDN or load balancer terminating TLS in front).",
        code: None,
        check: "The certificate port 443 presents for acme-tls/1.",
        fix: "Terminate TLS where the ACME client runs, or use HTTP-01 or DNS-01.",
        who: WhoFixes::OriginServer,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["incorrect validation certificate for tls-sni-01"],
        source: "Boulder (ACMEv1 era)",
        cause: "TLS-SNI-01, retired by Let's Encrypt in 2019: the client still uses it.",
        code: None,
        check: "Nothing: the method no longer exists.",
        fix: "Update the ACME client and use HTTP-01, DNS-01 or TLS-ALPN-01.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["no certs presented"],
        source: "Boulder / Pebble",
        cause: "TLS-ALPN-01: the server presented no certificate.",
        code: None,
        check: "The TLS handshake on port 443 with ALPN acme-tls/1.",
        fix: "Serve the validation certificate on port 443, or use HTTP-01 or DNS-01.",
        who: WhoFixes::OriginServer,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["recursive on-demand issuance"],
        source: "Boulder",
        cause: "Let's Encrypt refuses names that look generated by on-demand TLS for arbitrary subdomains (too many labels of the same pattern).",
        code: Some(FindingCode::IdentifierRejected),
        check: "The name's labels.",
        fix: "Restrict on-demand issuance to names you serve.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["forbidden by policy"],
        source: "Boulder / Pebble",
        cause: "The CA's policy forbids this name (a blocklist or a high-risk name).",
        code: Some(FindingCode::IdentifierRejected),
        check: "Nothing on your side (`--acme-directory` asks the CA itself).",
        fix: "Use another CA.",
        who: WhoFixes::CertificateAuthority,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["policy forbids issuing for name"],
        source: "Boulder (ACMEv1 era)",
        cause: "Let's Encrypt's policy forbids this name (older wording).",
        code: Some(FindingCode::IdentifierRejected),
        check: "Nothing on your side.",
        fix: "Use another CA.",
        who: WhoFixes::CertificateAuthority,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["blacklisted"],
        source: "Boulder (ACMEv1 era)",
        cause: "Let's Encrypt's blocklist refuses this name (oldest wording).",
        code: Some(FindingCode::IdentifierRejected),
        check: "Nothing on your side.",
        fix: "Use another CA.",
        who: WhoFixes::CertificateAuthority,
        method: None,
        verb: Verb::Check,
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
        verb: Verb::Check,
    },
    Pattern {
        needles: &["is an icann tld"],
        source: "Boulder",
        cause: "The name is a TLD itself.",
        code: Some(FindingCode::IdentifierRejected),
        check: "The name.",
        fix: "Request a name below the TLD.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["wildcard for an icann tld"],
        source: "Boulder",
        cause: "A wildcard directly under a TLD (`*.com`).",
        code: Some(FindingCode::IdentifierRejected),
        check: "The name.",
        fix: "Request a wildcard below a registered domain.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["more than 10 labels"],
        source: "Boulder",
        cause: "Let's Encrypt issues for at most 10 labels.",
        code: Some(FindingCode::IdentifierRejected),
        check: "The name's labels.",
        fix: "Use a shorter name or another CA.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["too many labels"],
        source: "Boulder (ACMEv1 era)",
        cause: "Let's Encrypt issues for at most 10 labels (older wording).",
        code: Some(FindingCode::IdentifierRejected),
        check: "The name's labels.",
        fix: "Use a shorter name or another CA.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["reserved format (r-ldh"],
        source: "Boulder",
        cause: "A label has '--' in positions 3-4 without being valid punycode (RFC 5890 R-LDH).",
        code: Some(FindingCode::IdentifierRejected),
        check: "The name's labels.",
        fix: "Fix the label.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["malformed punycode"],
        source: "Boulder",
        cause: "An xn-- label is not valid punycode/IDNA.",
        code: Some(FindingCode::IdentifierRejected),
        check: "The name's labels.",
        fix: "Use the correct A-label of the name.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["invalid wildcard"],
        source: "Boulder",
        cause: "A wildcard is only allowed as the whole leftmost label.",
        code: Some(FindingCode::IdentifierRejected),
        check: "The name.",
        fix: "Request *.<name> or the name itself.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["more than one wildcard"],
        source: "Boulder",
        cause: "A name may hold at most one wildcard label.",
        code: Some(FindingCode::IdentifierRejected),
        check: "The name.",
        fix: "Request one wildcard level.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["contains an invalid character"],
        source: "Boulder",
        cause: "The name holds a character a hostname cannot (space, underscore, '@', ...).",
        code: Some(FindingCode::IdentifierRejected),
        check: "The spelling of the name.",
        fix: "Fix the name.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["longer than 253 bytes"],
        source: "Boulder",
        cause: "The name is longer than DNS allows.",
        code: Some(FindingCode::IdentifierRejected),
        check: "The name.",
        fix: "Use a shorter name.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["longer than 63 bytes"],
        source: "Boulder",
        cause: "A label is longer than DNS allows.",
        code: Some(FindingCode::IdentifierRejected),
        check: "The name's labels.",
        fix: "Use shorter labels.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["value is an ip address"],
        source: "Boulder",
        cause: "An IP address was requested as a DNS name.",
        code: Some(FindingCode::IdentifierRejected),
        check: "The order's identifiers.",
        fix: "Request the IP as an IP identifier, or use a domain name.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["cannot issue for"],
        source: "Boulder",
        cause: "The CA refuses a name of the order (the text after the colon says why).",
        code: Some(FindingCode::IdentifierRejected),
        check: "The name and the CA's policy.",
        fix: "Fix or drop the name, or use another CA.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["too many certificates", "exact set of"],
        source: "Boulder",
        cause: "Let's Encrypt's duplicate-certificate limit: 5 certificates for the exact same set of names per 7 days.",
        code: Some(FindingCode::RateLimitedDuplicate),
        check: "Recent certificates for the same set of names (`--ct` counts them).",
        fix: "Wait until the time given after 'retry after', stop reissuing, change the set of names, or use another CA.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["too many certificates"],
        source: "Boulder",
        cause: "Let's Encrypt's limit of 50 new certificates per registered domain per 7 days.",
        code: Some(FindingCode::RateLimitedDomain),
        check: "Recent certificates under the registered domain (`--ct` counts them).",
        fix: "Wait until the retry-after time, renew existing sets instead of new ones, request an override, or use another CA.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
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
        verb: Verb::Check,
    },
    Pattern {
        needles: &["too many invalid authorizations"],
        source: "Boulder (ACMEv1 era)",
        cause: "Let's Encrypt's failed-validation limit (older wording).",
        code: None,
        check: "Why validation failed before.",
        fix: "Fix the underlying failure, then wait an hour.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["temporarily prevented from requesting certificates"],
        source: "Boulder",
        cause: "Let's Encrypt paused issuance for these names for this account after many consecutive failed validations.",
        code: None,
        check: "Why validation keeps failing: run the check below and fix that first.",
        fix: "Fix the failure, then unpause at the URL in the message.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["too many currently pending"],
        source: "Boulder (ACMEv1 era)",
        cause: "Too many pending authorizations or orders on the account (older limit).",
        code: None,
        check: "Nothing about the domain.",
        fix: "Deactivate or complete pending authorizations, or wait.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["too many new orders"],
        source: "Boulder",
        cause: "Let's Encrypt's limit on new orders per account (300 per 3 hours).",
        code: None,
        check: "Nothing about the domain.",
        fix: "Wait until the retry-after time; reuse orders.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["too many new registrations"],
        source: "Boulder",
        cause: "Let's Encrypt's limit on new accounts per IP address or IPv6 range.",
        code: None,
        check: "Nothing about the domain.",
        fix: "Reuse one account instead of creating new ones.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["too many registrations for this ip"],
        source: "Boulder (ACMEv1 era)",
        cause: "Let's Encrypt's limit on new accounts per IP (older wording).",
        code: None,
        check: "Nothing about the domain.",
        fix: "Reuse one account.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["service busy"],
        source: "Let's Encrypt",
        cause: "The CA is overloaded (Let's Encrypt answers 503 'Service busy; retry later').",
        code: None,
        check: "Nothing on your side.",
        fix: "Retry later.",
        who: WhoFixes::CertificateAuthority,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["acme:error:caa"],
        source: "ACME problem type",
        cause: "The CA's CAA check forbids issuance.",
        code: Some(FindingCode::CaaForbids),
        check: "CAA at the hostname and each parent.",
        fix: "Allow the CA in CAA, or remove the CAA records.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["acme:error:dns"],
        source: "ACME problem type",
        cause: "A DNS lookup the CA made failed.",
        code: Some(FindingCode::DnsServfail),
        check: "The lookups from the root, per authoritative server.",
        fix: "Fix what `check` names.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["acme:error:connection"],
        source: "ACME problem type",
        cause: "The CA could not connect to the server for validation.",
        code: Some(FindingCode::HttpUnreachable),
        check: "Port 80 (and 443 after a redirect) on every address.",
        fix: "Make the validation URL reachable from the internet.",
        who: WhoFixes::OriginServer,
        method: Some(Method::Http),
        verb: Verb::Check,
    },
    Pattern {
        needles: &["acme:error:tls"],
        source: "ACME problem type",
        cause: "A TLS error during validation (after a redirect to https, or TLS-ALPN-01).",
        code: Some(FindingCode::HttpUnreachable),
        check: "The HTTPS server the validation reaches.",
        fix: "Fix TLS on the target, or do not redirect to https.",
        who: WhoFixes::OriginServer,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["acme:error:incorrectresponse"],
        source: "ACME problem type",
        cause: "The response the CA received does not match the challenge.",
        code: Some(FindingCode::HttpTokenMismatch),
        check: "The published token or TXT value.",
        fix: "Publish the current response.",
        who: WhoFixes::OriginServer,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["acme:error:unauthorized"],
        source: "ACME problem type",
        cause: "The CA did not find the challenge response (wrong content, not found, wrong TXT) or the account may not act on the resource.",
        code: None,
        check: "The response at its location (the check below says what the CA sees).",
        fix: "Publish the current response where the CA looks.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["acme:error:ratelimited"],
        source: "ACME problem type",
        cause: "A CA rate limit (the detail names which).",
        code: None,
        check: "The detail and its retry-after time (`--ct` counts certificate limits).",
        fix: "Wait until the retry-after time.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["acme:error:rejectedidentifier"],
        source: "ACME problem type",
        cause: "The CA will not issue for the name.",
        code: Some(FindingCode::IdentifierRejected),
        check: "The name and the CA's policy.",
        fix: "Use another CA.",
        who: WhoFixes::CertificateAuthority,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["acme:error:unsupportedidentifier"],
        source: "ACME problem type",
        cause: "The CA does not issue for this kind of identifier.",
        code: Some(FindingCode::IdentifierRejected),
        check: "The identifier type.",
        fix: "Use a DNS name, or another CA.",
        who: WhoFixes::CertificateAuthority,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["acme:error:unknownhost"],
        source: "ACME problem type (ACMEv1)",
        cause: "The CA could not resolve the hostname (ACMEv1's unknownHost).",
        code: Some(FindingCode::NoAddress),
        check: "A and AAAA records of the hostname.",
        fix: "Publish an A or AAAA record.",
        who: WhoFixes::DnsProvider,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["acme:error:serverinternal"],
        source: "ACME problem type",
        cause: "An internal error at the CA.",
        code: None,
        check: "Nothing on your side.",
        fix: "Retry later.",
        who: WhoFixes::CertificateAuthority,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["acme:error:malformed"],
        source: "ACME problem type",
        cause: "The CA found the request malformed (the detail says what; a policy refusal of a name is often this type).",
        code: None,
        check: "The detail; for a name, its spelling.",
        fix: "Fix the request (or the name) as the detail says.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["acme:error:badnonce"],
        source: "ACME problem type",
        cause: "A replayed or stale nonce; ACME clients retry this on their own.",
        code: None,
        check: "Nothing about the domain.",
        fix: "Retry; update the ACME client if it does not.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["acme:error:useractionrequired"],
        source: "ACME problem type",
        cause: "The CA needs the account holder to act (new terms of service).",
        code: None,
        check: "Nothing about the domain.",
        fix: "Agree to the CA's current terms (the detail links them).",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
    Pattern {
        needles: &["acme:error:accountdoesnotexist"],
        source: "ACME problem type",
        cause: "The account key is not registered at this CA (a staging account used in production, or the reverse).",
        code: None,
        check: "Nothing about the domain.",
        fix: "Register the account, or use the right directory.",
        who: WhoFixes::Requester,
        method: None,
        verb: Verb::Check,
    },
];

impl Explanation {
    /// Names the hostname (and the order's other names) the user gave with
    /// `explain --hostname/--san`, for a message that does not name them.
    #[must_use]
    pub fn for_hostname(mut self, hostname: &str, sans: &[String]) -> Explanation {
        let sans: String = sans.iter().flat_map(|s| [" --san ", s.as_str()]).collect();
        let command = match &self.hostname {
            Some(known) => self.check_command.replacen(known.as_str(), hostname, 1),
            None => self.check_command.replacen("<hostname>", hostname, 1),
        };
        self.check_command = format!("{command}{sans}");
        self.hostname = Some(hostname.to_owned());
        self
    }
}

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
        check_command: format!(
            "dcv-doctor {} {host}{ca}{method}{perspectives}{ct}",
            match pattern.verb {
                Verb::Check => "check",
                Verb::Watch => "watch",
            }
        ),
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

    /// One row per message users paste: Cloudflare's `validation_errors`
    /// (cloudflare-dcv.md §5, legacy `DigiCert` and custom-hostname texts),
    /// Boulder's problem details as of HEAD 2d00c8e (va/http.go, va/dns.go,
    /// va/va.go, va/caa.go, va/tlsalpn.go, bdns/problem.go, policy/pa.go,
    /// wfe2, ra, ratelimits) and as worded in 2017 (aa62a90) and 2020
    /// (697c221), Pebble's (va/va.go, wfe), and bare RFC 8555 §6.7 problem
    /// types in both the `ACMEv2` and `ACMEv1` namespaces: the pattern each hits
    /// and the finding it maps to.
    const ROWS: &[(&str, &str, Option<FindingCode>)] = &[
        (
            "Certificate authority encountered a multiple perspective CAA check error, please ensure your DNS is configured to allow CAA queries from all geographic perspectives",
            "multiple perspective caa check error",
            Some(FindingCode::MpicCaaDisagreement),
        ),
        (
            "Certificate authority encountered a multiple perspective CAA check error, please ensure your DNS is configured to allow CAA queries",
            "multiple perspective caa check error",
            Some(FindingCode::MpicCaaDisagreement),
        ),
        (
            "Certificate authority was unable to verify domain ownership from multiple geographic locations (MPIC failure). Please ensure your DNS records are reachable from all geographic perspectives and try again.",
            "unable to verify domain ownership from multiple geographic locations",
            Some(FindingCode::MpicDcvDisagreement),
        ),
        (
            "the Certificate Authority had trouble performing a DNS lookup: dns problem: looking up caa for www.example.com: dnssec: bogus",
            "dnssec: bogus",
            Some(FindingCode::DnssecBogus),
        ),
        (
            "Certificate authority encountered a SERVFAIL during DNS lookup, please check your DNS reachability.",
            "encountered a servfail during dns lookup",
            Some(FindingCode::DnsServfail),
        ),
        (
            "CAA records block issuance. Please remove all CAA records or add records for this authority.",
            "caa records block issuance",
            Some(FindingCode::CaaForbids),
        ),
        (
            "CAA records block issuance. Please remove all CAA records or add records for this authority (ssl.com)",
            "caa records block issuance",
            Some(FindingCode::CaaForbids),
        ),
        (
            "Issuance blocked by a CAA error for shop.example.com",
            "issuance blocked by a caa error",
            Some(FindingCode::CaaForbids),
        ),
        ("caa_error", "caa_error", Some(FindingCode::CaaForbids)),
        (
            "The authority has rate limited these domains. Please wait for the rate limit to expire or try another authority.",
            "rate limited these domains",
            Some(FindingCode::RateLimitedDuplicate),
        ),
        (
            "The certificate authority will not issue for this domain. Please check your input or try another authority.",
            "will not issue for this domain",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Internal error with Certificate Authority. Please check later.",
            "internal error with certificate authority",
            None,
        ),
        (
            "the Certificate Authority had trouble performing a DNS lookup",
            "had trouble performing a dns lookup",
            Some(FindingCode::DnsServfail),
        ),
        ("validation_timed_out", "validation_timed_out", None),
        ("Timed Out (Validation)", "timed out (validation)", None),
        (
            "Domain validation failed for shop.example.com",
            "domain validation failed for",
            None,
        ),
        (
            "shop.example.com reported as potential risk: google_safe_browsing",
            "reported as potential risk",
            None,
        ),
        (
            "Issuance blocked due to the Common Name being too long (over 64 characters).",
            "common name being too long",
            None,
        ),
        (
            "custom hostname does not CNAME to this zone.",
            "custom hostname does not cname to this zone",
            None,
        ),
        (
            "Zone does not have a fallback origin set.",
            "fallback origin",
            None,
        ),
        (
            "None of the A or AAAA records are owned by this account and the pre-generated ownership verification token was not found.",
            "none of the a or aaaa records are owned by this account",
            None,
        ),
        (
            "The hostname is using Cloudflare and cannot be activated with an TXT or HTTP validation token. To activate the custom hostname, the DNS target needs to point to the SaaS zone",
            "cannot be activated with a … validation token",
            None,
        ),
        (
            "The hostname is associated with a held zone. Please contact the owner of this domain to have the hold removed.",
            "associated with a held zone",
            None,
        ),
        (
            "Secondary validation RPC failed",
            "secondary validation rpc",
            None,
        ),
        (
            "Insufficient remote perspectives: need at least 3",
            "insufficient remote perspectives",
            None,
        ),
        (
            "rechecking caa: While processing CAA for www.example.com: DNS problem: SERVFAIL looking up CAA for example.com - the domain's nameservers may be malfunctioning",
            "rechecking caa",
            Some(FindingCode::CaaForbids),
        ),
        (
            "Rechecking CAA for \"a.example.com\" and 2 more identifiers failed. Refer to sub-problems for more information",
            "rechecking caa",
            Some(FindingCode::CaaForbids),
        ),
        (
            "While processing CAA for www.example.com: CAA record for example.com prevents issuance",
            "caa record for … prevents issuance",
            Some(FindingCode::CaaForbids),
        ),
        (
            "DNS problem: looking up A for hostname.example: DNSSEC: Signature Expired",
            "dnssec:",
            Some(FindingCode::DnssecBogus),
        ),
        (
            "DNS problem: looking up CAA for example.com: DNSSEC: DNSKEY Missing: validation failure <example.com. CAA IN>: No DNSKEY record from 192.0.2.1 for key example.com. while building chain of trust",
            "dnssec:",
            Some(FindingCode::DnssecBogus),
        ),
        (
            "DNS problem: response was truncated looking up CAA for example.com",
            "response was truncated looking up",
            Some(FindingCode::CaaLookupFailed),
        ),
        (
            "DNS problem: SERVFAIL looking up CAA for example.com - the domain's nameservers may be malfunctioning",
            "servfail looking up",
            Some(FindingCode::DnsServfail),
        ),
        (
            "DNS problem: REFUSED looking up A for www.example.com",
            "refused looking up",
            Some(FindingCode::DnsRefused),
        ),
        (
            "DNS problem: FORMERR looking up A for hostname",
            "formerr looking up",
            Some(FindingCode::DnsPathInconsistent),
        ),
        (
            "DNS problem: NOTIMP looking up CAA for example.com",
            "notimp looking up",
            Some(FindingCode::DnsRefused),
        ),
        (
            "DNS problem: query timed out looking up CAA for example.com",
            "query timed out … looking up",
            Some(FindingCode::DnsTimeout),
        ),
        (
            "DNS problem: query timed out (and was canceled) looking up TXT for _acme-challenge.example.com",
            "query timed out … looking up",
            Some(FindingCode::DnsTimeout),
        ),
        (
            "DNS problem: server failure at resolver looking up TXT for example.com",
            "server failure at resolver looking up",
            Some(FindingCode::DnsServfail),
        ),
        (
            "DNS problem: networking error looking up TXT for example.com",
            "networking error looking up",
            None,
        ),
        (
            "DNS problem: NXDOMAIN looking up TXT for _acme-challenge.example.com - check that a DNS record exists for this domain",
            "nxdomain looking up",
            Some(FindingCode::Nxdomain),
        ),
        (
            "DNS problem: NXDOMAIN looking up A for www.example.com",
            "nxdomain looking up",
            Some(FindingCode::Nxdomain),
        ),
        (
            "DNS problem: looking up A for www.example.com: No Reachable Authority",
            "no reachable authority",
            Some(FindingCode::DnsTimeout),
        ),
        (
            "DNS problem: looking up AAAA for www.example.com: Network Error between Resolver and Authority",
            "network error between resolver and authority",
            Some(FindingCode::DnsTimeout),
        ),
        (
            "DNS problem: looking up A for www.example.com: Not Authoritative",
            "looking up … : not authoritative",
            Some(FindingCode::DnsLameDelegation),
        ),
        (
            "DNS problem: looking up A for www.example.com: Unknown Extended DNS Error code 49",
            "unknown extended dns error code",
            Some(FindingCode::DnsServfail),
        ),
        (
            "DNS problem: no valid A records found for www.example.com; no valid AAAA records found for www.example.com",
            "no valid a records found",
            Some(FindingCode::NoAddress),
        ),
        (
            "no valid AAAA records found for v6.example.com",
            "no valid aaaa records found",
            Some(FindingCode::NoAddress),
        ),
        (
            "No valid IP addresses found for www.example.com",
            "no valid ip addresses found for",
            Some(FindingCode::NoAddress),
        ),
        (
            "No IP addresses found for \"www.example.com\"",
            "no ip addresses found for",
            Some(FindingCode::NoAddress),
        ),
        (
            "Unable to contact \"www.example.com\" at \"2001:db8::1\", no IPv4 addresses to try as fallback",
            "no ipv4 addresses to try as fallback",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "host \"www.example.com\" has no IPv4 or IPv6 addresses",
            "has no ipv4 or ipv6 addresses",
            Some(FindingCode::NoAddress),
        ),
        (
            "The key authorization file from the server did not match this challenge. Expected \"a.b\" (got \"c\")",
            "key authorization file from the server did not match",
            Some(FindingCode::HttpTokenMismatch),
        ),
        (
            "The key authorization file from the server did not match this challenge [a.b] != [c]",
            "key authorization file from the server did not match",
            Some(FindingCode::HttpTokenMismatch),
        ),
        (
            "The key authorization file from the server did not match this challenge \"a.b\" != \"c\"",
            "key authorization file from the server did not match",
            Some(FindingCode::HttpTokenMismatch),
        ),
        (
            "203.0.113.5: Fetching http://example.com/.well-known/acme-challenge/abc: Timeout during connect (likely firewall problem)",
            "timeout during connect",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "Fetching http://localhost/.well-known/acme-challenge/wait-long: Timeout after connect (your server may be slow or overloaded)",
            "timeout after connect",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "Fetching http://example.com/.well-known/acme-challenge/x: Timeout during read (your server may be slow or overloaded)",
            "timeout during",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "::1: Fetching http://ipv6.localhost/ok: Connection refused",
            "connection refused",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "Get \"https://www.example.com/.well-known/acme-challenge/tok\": dial tcp 127.0.0.1:443: connect: connection refused",
            "connection refused",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "Fetching http://example.com/.well-known/acme-challenge/x: Connection reset by peer",
            "connection reset by peer",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "2001:db8::1: Fetching http://example.com/.well-known/acme-challenge/x: Network unreachable",
            "network unreachable",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "Get \"http://example.com/.well-known/acme-challenge/x\": dial tcp 192.0.2.1:80: i/o timeout",
            "dial tcp … i/o timeout",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "Fetching https://example.com/.well-known/acme-challenge/x: Server only speaks HTTP, not TLS",
            "server only speaks http, not tls",
            Some(FindingCode::HttpOnHttpsPort),
        ),
        (
            "Get \"https://example.com/.well-known/acme-challenge/x\": tls: first record does not look like a TLS handshake",
            "first record does not look like a tls handshake",
            Some(FindingCode::HttpOnHttpsPort),
        ),
        (
            "Fetching http://example.com/.well-known/acme-challenge/x: Server is speaking HTTP/2 over HTTP",
            "server is speaking http/2 over http",
            Some(FindingCode::HttpNot200),
        ),
        (
            "validation attempt was redirected to an HTTPS server that doesn't support TLSv1.2 or better. See https://community.letsencrypt.org/t/rejecting-sha-1-csrs-and-validation-using-tls-1-0-1-1-urls/175144",
            "doesn't support tlsv1.2 or better",
            Some(FindingCode::HttpBadRedirect),
        ),
        (
            "203.0.113.5: Fetching https://www.example.com/.well-known/acme-challenge/x: remote error: tls: handshake failure",
            "remote error: tls",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "Fetching https://www.example.com/.well-known/acme-challenge/x: remote error: tls: unrecognized name",
            "remote error: tls",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "Fetching https://www.example.com/.well-known/acme-challenge/x: tls: failed to verify certificate: x509: certificate signed by unknown authority",
            "tls: ",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "Fetching http://ipv6.localhost/ok: Error getting validation data",
            "error getting validation data",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "203.0.113.5: Error getting validation data",
            "error getting validation data",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "Error reading HTTP response body: unexpected EOF",
            "error reading http response body",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "Fetching http://example.com/loop: Redirect loop detected",
            "redirect loop",
            Some(FindingCode::HttpBadRedirect),
        ),
        (
            "Fetching http://example.com/max-redirect/12: Too many redirects",
            "too many redirects",
            Some(FindingCode::HttpBadRedirect),
        ),
        (
            "Get \"http://example.com/.well-known/acme-challenge/x\": stopped after 10 redirects",
            "stopped after 10 redirects",
            Some(FindingCode::HttpBadRedirect),
        ),
        (
            "Invalid port in redirect target. Only ports 80 and 443 are supported, not 8080",
            "in redirect target",
            Some(FindingCode::HttpBadRedirect),
        ),
        (
            "Invalid protocol scheme in redirect target. Only \"http\" and \"https\" protocol schemes are supported, not \"ftp\"",
            "in redirect target",
            Some(FindingCode::HttpBadRedirect),
        ),
        (
            "Invalid host in redirect target \"example.com.well-known\". Check webserver config for missing '/' in redirect target.",
            "in redirect target",
            Some(FindingCode::HttpBadRedirect),
        ),
        (
            "Invalid host in redirect target, must end in IANA registered TLD",
            "in redirect target",
            Some(FindingCode::HttpBadRedirect),
        ),
        (
            "Fetching http://example.com/x: received disallowed redirect status code",
            "disallowed redirect status code",
            Some(FindingCode::HttpBadRedirect),
        ),
        (
            "Fetching http://example.com/x: Redirect target too long",
            "redirect target too long",
            Some(FindingCode::HttpBadRedirect),
        ),
        (
            "203.0.113.5: Invalid response from http://example.com/.well-known/acme-challenge/x: \"<!DOCTYPE html>\\n<html lang=\\\"en\\\">\\n<head>\\n<meta charset=\\\"utf-8\\\">\\n<title>Welcome\"",
            "invalid response from … : \"",
            Some(FindingCode::HttpTokenMismatch),
        ),
        (
            "127.0.0.1: Invalid response from http://example.com/bad-status-code: 410",
            "invalid response from",
            Some(FindingCode::HttpNot200),
        ),
        (
            "Invalid response from http://example.com/.well-known/acme-challenge/x [203.0.113.5]: 404",
            "invalid response from",
            Some(FindingCode::HttpNot200),
        ),
        (
            "Non-200 status code from HTTP: http://example.lab:80/.well-known/acme-challenge/t returned 404",
            "non-200 status code from http",
            Some(FindingCode::HttpNot200),
        ),
        (
            "Could not resolve URL \"www.example.lab\"",
            "could not resolve url",
            Some(FindingCode::NoAddress),
        ),
        (
            "Error occurred while resolving URL \"www.example.lab\": \"lookup failed\"",
            "error occurred while resolving url",
            Some(FindingCode::NoAddress),
        ),
        (
            "No TXT record found for DNS-PERSIST-01 challenge",
            "no txt record found for dns-persist-01",
            None,
        ),
        (
            "accounturi mismatch: expected \"https://acme-v02.api.letsencrypt.org/acme/acct/1\", got \"https://acme-v02.api.letsencrypt.org/acme/acct/2\"",
            "accounturi mismatch",
            None,
        ),
        (
            "No TXT record found at _acme-challenge.example.com",
            "no txt record",
            Some(FindingCode::TxtMissing),
        ),
        (
            "No TXT records found for DNS challenge",
            "no txt record",
            Some(FindingCode::TxtMissing),
        ),
        (
            "Incorrect TXT record \"xyz\" (and 1 more) found at _acme-challenge.example.com",
            "incorrect txt record",
            Some(FindingCode::TxtMismatch),
        ),
        (
            "Correct value not found for DNS challenge",
            "correct value not found for dns challenge",
            Some(FindingCode::TxtMismatch),
        ),
        (
            "Error retrieving TXT records for DNS challenge (\"read udp: i/o timeout\")",
            "error retrieving txt records for dns challenge",
            Some(FindingCode::DnsServfail),
        ),
        (
            "DNS lookup for \"_acme-challenge.www.example.lab\" returned an unsuccessful response: '\\x03'",
            "returned an unsuccessful response",
            Some(FindingCode::DnsServfail),
        ),
        (
            "Cannot negotiate ALPN protocol \"acme-tls/1\" for tls-alpn-01 challenge",
            "cannot negotiate alpn protocol",
            None,
        ),
        (
            "Incorrect validation certificate for tls-alpn-01 challenge. Requested www.example.com from 203.0.113.5:443. Received certificate which is not self-signed.",
            "incorrect validation certificate for tls-alpn-01",
            None,
        ),
        (
            "Incorrect validation certificate for tls-sni-01 challenge. Requested abc.acme.invalid from 203.0.113.5:443. Received 1 certificate(s), first certificate had names \"www.example.com\"",
            "incorrect validation certificate for tls-sni-01",
            None,
        ),
        (
            "No certs presented for tls-alpn-01 challenge",
            "no certs presented",
            None,
        ),
        (
            "Cannot issue for \"a.b.c.d.e.f.g.example.com\": domain name contains too many subdomain labels indicative of recursive on-demand issuance",
            "recursive on-demand issuance",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Cannot issue for \"paypal-login.example.com\": The ACME server refuses to issue a certificate for this domain name, because it is forbidden by policy",
            "forbidden by policy",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Order included an identifier for which issuance is forbidden by policy: \"blocked.good.lab\"",
            "forbidden by policy",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Error creating new authz :: Policy forbids issuing for name",
            "policy forbids issuing for name",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Name is blacklisted",
            "blacklisted",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Domain name does not end with a valid public suffix (TLD)",
            "public suffix",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Cannot issue for \"com\": Domain name is an ICANN TLD",
            "is an icann tld",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Name is an ICANN TLD",
            "is an icann tld",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Domain name is a wildcard for an ICANN TLD",
            "wildcard for an icann tld",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Domain name has more than 10 labels (parts)",
            "more than 10 labels",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "DNS name has too many labels",
            "too many labels",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Domain name contains an invalid label in a reserved format (R-LDH: '??--')",
            "reserved format (r-ldh",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Domain name contains malformed punycode",
            "malformed punycode",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Domain name contains an invalid wildcard. A wildcard is only permitted before the first dot in a domain name",
            "invalid wildcard",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Domain name has more than one wildcard",
            "more than one wildcard",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Cannot issue for \"exa_mple.com\": Domain name contains an invalid character",
            "contains an invalid character",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Domain name is longer than 253 bytes",
            "longer than 253 bytes",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Domain has a label (component between dots) longer than 63 bytes",
            "longer than 63 bytes",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Identifier type is DNS but value is an IP address",
            "value is an ip address",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "Cannot issue for \"x.example.com\": Domain name ends in a dot",
            "cannot issue for",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-08-08 20:50:14 UTC: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers",
            "too many certificates … exact set of",
            Some(FindingCode::RateLimitedDuplicate),
        ),
        (
            "too many certificates (5) already issued for this exact set of domains in the last 168h0m0s, retry after 2024-01-01 00:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-hostnames",
            "too many certificates … exact set of",
            Some(FindingCode::RateLimitedDuplicate),
        ),
        (
            "Error creating new cert :: too many certificates already issued for exact set of domains: www.example.com,example.com: see https://letsencrypt.org/docs/rate-limits/",
            "too many certificates … exact set of",
            Some(FindingCode::RateLimitedDuplicate),
        ),
        (
            "too many certificates (50) already issued for \"example.com\" in the last 168h0m0s, retry after 2026-08-08 20:50:14 UTC: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-registered-domain",
            "too many certificates",
            Some(FindingCode::RateLimitedDomain),
        ),
        (
            "Error creating new order :: too many certificates already issued for: example.com: see https://letsencrypt.org/docs/rate-limits/",
            "too many certificates",
            Some(FindingCode::RateLimitedDomain),
        ),
        (
            "too many certificates already issued for multiple names (example.com and 2 others): see https://letsencrypt.org/docs/rate-limits/",
            "too many certificates",
            Some(FindingCode::RateLimitedDomain),
        ),
        (
            "too many failed authorizations (5) for \"www.example.com\" in the last 1h0m0s, retry after 2026-08-08 20:50:14 UTC: see https://letsencrypt.org/docs/rate-limits/#authorization-failures-per-hostname-per-account",
            "too many failed authorizations",
            None,
        ),
        (
            "Error creating new authz :: too many failed authorizations recently: see https://letsencrypt.org/docs/failed-validation-limit/",
            "too many failed authorizations",
            None,
        ),
        (
            "Error creating new authz :: Too many invalid authorizations recently.",
            "too many invalid authorizations",
            None,
        ),
        (
            "Your account is temporarily prevented from requesting certificates for www.example.com and possibly others. Please visit: https://portal.letsencrypt.org/sfe/v1/unpause?jwt=abc",
            "temporarily prevented from requesting certificates",
            None,
        ),
        (
            "Error creating new authz :: too many currently pending authorizations",
            "too many currently pending",
            None,
        ),
        (
            "too many new orders (300) from this account in the last 3h0m0s, retry after 2026-08-08 20:50:14 UTC",
            "too many new orders",
            None,
        ),
        (
            "too many new registrations (10) from this IP address in the last 3h0m0s, retry after 2026-08-08 20:50:14 UTC",
            "too many new registrations",
            None,
        ),
        (
            "Error creating new account :: too many registrations for this IP: see https://letsencrypt.org/docs/rate-limits/",
            "too many registrations for this ip",
            None,
        ),
        ("Service busy; retry later.", "service busy", None),
        (
            "urn:ietf:params:acme:error:caa",
            "acme:error:caa",
            Some(FindingCode::CaaForbids),
        ),
        (
            "urn:ietf:params:acme:error:dns",
            "acme:error:dns",
            Some(FindingCode::DnsServfail),
        ),
        (
            "urn:ietf:params:acme:error:connection",
            "acme:error:connection",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "urn:ietf:params:acme:error:tls",
            "acme:error:tls",
            Some(FindingCode::HttpUnreachable),
        ),
        (
            "urn:ietf:params:acme:error:incorrectResponse",
            "acme:error:incorrectresponse",
            Some(FindingCode::HttpTokenMismatch),
        ),
        (
            "urn:ietf:params:acme:error:unauthorized",
            "acme:error:unauthorized",
            None,
        ),
        (
            "urn:acme:error:unauthorized",
            "acme:error:unauthorized",
            None,
        ),
        (
            "urn:ietf:params:acme:error:rateLimited",
            "acme:error:ratelimited",
            None,
        ),
        (
            "urn:ietf:params:acme:error:rejectedIdentifier",
            "acme:error:rejectedidentifier",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "urn:ietf:params:acme:error:unsupportedIdentifier",
            "acme:error:unsupportedidentifier",
            Some(FindingCode::IdentifierRejected),
        ),
        (
            "urn:acme:error:unknownHost",
            "acme:error:unknownhost",
            Some(FindingCode::NoAddress),
        ),
        (
            "urn:ietf:params:acme:error:serverInternal",
            "acme:error:serverinternal",
            None,
        ),
        ("urn:acme:error:malformed", "acme:error:malformed", None),
        (
            "urn:ietf:params:acme:error:badNonce",
            "acme:error:badnonce",
            None,
        ),
        (
            "urn:ietf:params:acme:error:userActionRequired",
            "acme:error:useractionrequired",
            None,
        ),
        (
            "urn:ietf:params:acme:error:accountDoesNotExist",
            "acme:error:accountdoesnotexist",
            None,
        ),
        (
            "urn:ietf:params:acme:error:unauthorized :: No TXT record found at _acme-challenge.example.com",
            "no txt record",
            Some(FindingCode::TxtMissing),
        ),
        (
            "urn:acme:error:connection :: Could not connect to www.example.com",
            "acme:error:connection",
            Some(FindingCode::HttpUnreachable),
        ),
    ];

    #[test]
    fn every_pasted_message_is_recognised_by_its_own_pattern() {
        for (message, pattern, code) in ROWS {
            let e = explain(message).unwrap_or_else(|| panic!("not recognised: {message}"));
            assert_eq!(&e.matched, pattern, "{message}");
            assert_eq!(e.finding, *code, "{message}");
        }
    }

    #[test]
    fn every_pattern_has_a_test_row() {
        for p in PATTERNS {
            let key = p.needles.join(" … ");
            assert!(
                ROWS.iter().any(|(_, pattern, _)| *pattern == key),
                "pattern {key:?} has no test row"
            );
        }
    }

    #[test]
    fn a_hostname_given_aside_goes_into_the_command() {
        let e = explain(crate::messages::CLOUDFLARE_RATE_LIMITED)
            .unwrap()
            .for_hostname("www.example.com", &["example.com".to_owned()]);
        assert_eq!(
            e.check_command,
            "dcv-doctor check www.example.com --ct --san example.com"
        );
        assert_eq!(e.hostname.as_deref(), Some("www.example.com"));
    }

    #[test]
    fn a_timed_out_validation_suggests_watch() {
        let e = explain("validation_timed_out").unwrap();
        assert_eq!(e.check_command, "dcv-doctor watch <hostname>");
        let e = explain("No valid IP addresses found for www.example.com").unwrap();
        assert_eq!(
            e.check_command,
            "dcv-doctor check www.example.com --ca letsencrypt --method http"
        );
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
        for text in [
            "the weather is nice",
            "",
            "Redirecting you to the login page",
            "Connection established; DNS is working",
            "Your order has shipped",
            "tls",
            "Timeout",
        ] {
            assert_eq!(explain(text), None, "{text:?}");
        }
    }
}
