//! The finding catalogue: every stable finding code, what it means, where the
//! rule comes from and who fixes it. `docs/findings.md` is generated from this
//! table (`dcv-doctor findings-doc`) and a test fails when the two drift apart.

use std::fmt;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::model::WhoFixes;

macro_rules! finding_codes {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal {
        meaning: $meaning:literal,
        seed: $seed:literal,
        who: $who:ident,
    } )*) => {
        /// A stable, machine-readable finding identifier.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum FindingCode {
            $( $(#[$doc])* #[serde(rename = $code)] $variant, )*
        }

        impl FindingCode {
            /// Every code, in catalogue order.
            pub const ALL: &'static [FindingCode] = &[ $( FindingCode::$variant, )* ];

            /// The snake_case identifier used in JSON and docs.
            pub fn as_str(self) -> &'static str {
                match self { $( FindingCode::$variant => $code, )* }
            }

            /// One sentence: what the finding means.
            pub fn meaning(self) -> &'static str {
                match self { $( FindingCode::$variant => $meaning, )* }
            }

            /// The troubleshooting-page section, RFC or BR clause the rule rests on.
            pub fn seed(self) -> &'static str {
                match self { $( FindingCode::$variant => $seed, )* }
            }

            /// Who usually has to act.
            pub fn who_fixes(self) -> WhoFixes {
                match self { $( FindingCode::$variant => WhoFixes::$who, )* }
            }

            /// Parses the snake_case identifier.
            pub fn from_code(code: &str) -> Option<FindingCode> {
                match code { $( $code => Some(FindingCode::$variant), )* _ => None }
            }
        }
    };
}

finding_codes! {
    /// The identifier cannot be issued for by policy.
    IdentifierRejected => "identifier_rejected" {
        meaning: "The CA's identifier policy refuses this name (IP literal, not under a TLD of the root in use, a TLD itself, too many labels, reserved-format or malformed punycode label).",
        seed: "Troubleshooting: CA errors / internal errors (\"certificate authority will not issue for this domain\"); Boulder policy/pa.go; BR 3.2.2.4",
        who: Requester,
    }
    /// The name does not exist.
    Nxdomain => "nxdomain" {
        meaning: "A name the CA must look up does not exist (NXDOMAIN).",
        seed: "Troubleshooting: DNS settings and records; RFC 8555 §8.3/§8.4",
        who: DnsProvider,
    }
    /// No A/AAAA for the HTTP check.
    NoAddress => "no_address" {
        meaning: "The hostname has no A or AAAA record the CA could connect to for HTTP validation.",
        seed: "Troubleshooting: DNS settings and records; Boulder va/dns.go getAddrs",
        who: DnsProvider,
    }
    /// SERVFAIL from every authoritative server.
    DnsServfail => "dns_servfail" {
        meaning: "The CA's resolver would return SERVFAIL for a lookup it must make.",
        seed: "Troubleshooting: DNS settings and records (SERVFAIL message)",
        who: DnsProvider,
    }
    /// Authoritative servers do not answer.
    DnsTimeout => "dns_timeout" {
        meaning: "The authoritative servers for a name the CA must look up do not answer in time.",
        seed: "Troubleshooting: DNS settings and records; RFC 8659 §6.1",
        who: DnsProvider,
    }
    /// Authoritative servers refuse.
    DnsRefused => "dns_refused" {
        meaning: "An authoritative server refuses queries for the zone it is delegated (REFUSED).",
        seed: "Troubleshooting: DNS settings and records; RFC 8659 §6.2",
        who: DnsProvider,
    }
    /// A server fails, or answers differently, over some transport or family.
    DnsPathInconsistent => "dns_path_inconsistent" {
        meaning: "An authoritative server fails or gives a different answer over some path (IPv4 or IPv6, UDP with or without EDNS, TCP) while the CA's resolver view works, so some CA perspectives will fail.",
        seed: "Troubleshooting: CAA records must be resolvable from all locations; RFC 8659 §6.1-§6.2; BR 3.2.2.9",
        who: DnsProvider,
    }
    /// A delegated server is lame.
    DnsLameDelegation => "dns_lame_delegation" {
        meaning: "A nameserver named in the delegation does not answer authoritatively for the zone (lame delegation).",
        seed: "Troubleshooting: DNS settings and records; RFC 1034 §4.2.2",
        who: DnsProvider,
    }
    /// DNSSEC validation fails.
    DnssecBogus => "dnssec_bogus" {
        meaning: "DNSSEC validation of an answer the CA needs fails (bogus), so the CA's resolver returns SERVFAIL.",
        seed: "Troubleshooting: DNS settings and records (\"dnssec: bogus\"); RFC 4035 §5; BR 3.2.2.8.1",
        who: DnsProvider,
    }
    /// The hostname or a parent is delegated elsewhere.
    NsDelegated => "ns_delegated" {
        meaning: "An NS record at the hostname or a parent delegates it to another DNS provider, whose records the CA uses.",
        seed: "Troubleshooting: DNS settings and records (NS record for the hostname or its parent)",
        who: DnsProvider,
    }
    /// A nameserver or HTTP target address is private or reserved.
    ReservedAddress => "reserved_address" {
        meaning: "An address the CA would have to reach is private, loopback or reserved, so no public CA can reach it.",
        seed: "RFC 6890 / IANA special-purpose registries; Boulder iana.IsReservedAddr; RFC 8659 §6.3",
        who: DnsProvider,
    }
    /// The DNS-01 TXT record is missing.
    TxtMissing => "txt_missing" {
        meaning: "No TXT record exists at _acme-challenge.<hostname> (or at its delegation target).",
        seed: "Troubleshooting: DNS settings and records; RFC 8555 §8.4",
        who: DnsProvider,
    }
    /// TXT present but not the expected value.
    TxtMismatch => "txt_mismatch" {
        meaning: "TXT records exist at _acme-challenge.<hostname> but none equals an expected value.",
        seed: "RFC 8555 §8.4; Boulder va/dns.go",
        who: DnsProvider,
    }
    /// Authoritative servers disagree about the TXT RRset.
    TxtInconsistent => "txt_inconsistent" {
        meaning: "Some authoritative servers of the zone serve the TXT record and others do not (propagation or out-of-sync secondaries).",
        seed: "Troubleshooting: DNS settings and records; Let's Debug issue #27",
        who: DnsProvider,
    }
    /// The zone name was appended twice.
    TxtDoubledLabel => "txt_doubled_label" {
        meaning: "The TXT record was created with the zone name appended twice (_acme-challenge.www.example.com.example.com).",
        seed: "Let's Debug TXTDoubleLabel; cloudflare-dcv.md §6 (registrars append the zone)",
        who: DnsProvider,
    }
    /// Delegated DCV CNAME clashes with a leftover TXT.
    DelegatedDcvConflict => "delegated_dcv_conflict" {
        meaning: "A leftover _acme-challenge TXT record sits beside or instead of the delegated-DCV CNAME, which breaks delegation.",
        seed: "Cloudflare delegated DCV docs (conflicting records); cloudflare-dcv.md §2.4",
        who: DnsProvider,
    }
    /// Delegated DCV expected, but no CNAME at `_acme-challenge.<host>`.
    DelegatedDcvMissing => "delegated_dcv_missing" {
        meaning: "Delegated DCV is expected (--dcv-delegation) but _acme-challenge.<hostname> has no CNAME: nothing there, a TXT record created instead of the CNAME, or a proxied (orange-cloud) record that answers with addresses.",
        seed: "Cloudflare delegated DCV docs (setup, FlyingPress pitfalls); cloudflare-dcv.md §2.4; RFC 1034 §3.6.2",
        who: DnsProvider,
    }
    /// The delegation CNAME points elsewhere (or only some servers have it).
    DelegatedDcvWrongTarget => "delegated_dcv_wrong_target" {
        meaning: "The _acme-challenge CNAME points somewhere other than the expected delegation target (zone moved to another account, typo, wrong UUID), or only some authoritative servers serve the right CNAME.",
        seed: "Cloudflare delegated DCV docs (the CNAME target changes when the zone moves); cloudflare-dcv.md §2.4; Let's Debug issue #27",
        who: DnsProvider,
    }
    /// Informational: delegation in place, tokens appear only during issuance.
    DelegatedDcvReady => "delegated_dcv_ready" {
        meaning: "The _acme-challenge CNAME points at the expected delegation target on every server; the provider writes the TXT tokens there only while issuance is in progress, so an empty target is healthy.",
        seed: "Cloudflare delegated DCV docs (tokens placed only during issuance); cloudflare-dcv.md §2.4",
        who: DnsProvider,
    }
    /// CAA forbids the CA.
    CaaForbids => "caa_forbids" {
        meaning: "The relevant CAA RRset does not authorise this CA for this name (and method/account).",
        seed: "Troubleshooting: CAA records; RFC 8659 §3-§4; RFC 8657; BR 3.2.2.8",
        who: DnsProvider,
    }
    /// CAA has a critical tag the CA does not know.
    CaaCriticalUnknown => "caa_critical_unknown" {
        meaning: "The relevant CAA RRset has a property with the critical flag and a tag the CA does not understand, which forbids every CA.",
        seed: "RFC 8659 §4.1, §4.5; Boulder va/caa.go (flag 128 or 1)",
        who: DnsProvider,
    }
    /// A CAA lookup the decision depends on failed.
    CaaLookupFailed => "caa_lookup_failed" {
        meaning: "A CAA lookup at or below the relevant RRset failed, and the CA may not treat failure as permission.",
        seed: "Troubleshooting: CAA records must be resolvable; BR 3.2.2.8 and 3.2.2.8.1",
        who: DnsProvider,
    }
    /// Informational: the DNSSEC status of the zone.
    DnssecInsecure => "dnssec_insecure" {
        meaning: "The zone is proven unsigned (insecure delegation); fine for issuance, noted because CAA failures there are treated differently.",
        seed: "RFC 4035 §4.3; BR 3.2.2.8",
        who: DnsProvider,
    }
    /// HTTP token served but wrong.
    HttpTokenMismatch => "http_token_mismatch" {
        meaning: "The validation URL answers 200 but with a body other than the expected key authorisation.",
        seed: "RFC 8555 §8.3; Boulder va/http.go",
        who: OriginServer,
    }
    /// HTTP token not published (probe token 404).
    HttpTokenNotPublished => "http_token_not_published" {
        meaning: "The validation URL answers 404: reachable, but the token is not (yet) served there.",
        seed: "RFC 8555 §8.3; Troubleshooting: Blocked validation URL",
        who: OriginServer,
    }
    /// A 200 for a token that cannot exist.
    HttpCatchAll => "http_catch_all" {
        meaning: "The validation URL answers 200 for a random token that cannot exist: a catch-all route (application fallback, CMS, single-page app) answers every path, and the CA's real token file must win over it.",
        seed: "RFC 8555 §8.3; Boulder va/http.go (body compared with the key authorisation, at most 128 bytes read)",
        who: OriginServer,
    }
    /// Interactive challenge on /.well-known.
    HttpChallengePage => "http_challenge_page" {
        meaning: "An interactive challenge or JavaScript interstitial (WAF rule, Under Attack mode) answers the validation URL; a CA cannot pass it.",
        seed: "Troubleshooting: Blocked validation URL (WAF custom rules, Under Attack mode)",
        who: Cloudflare,
    }
    /// Block page on /.well-known.
    HttpBlocked => "http_blocked" {
        meaning: "A firewall or access rule blocks the validation URL (403 block page, access denied).",
        seed: "Troubleshooting: Blocked validation URL (IP Access Rules, WAF custom rules)",
        who: Cloudflare,
    }
    /// HTTP→HTTPS redirect on /.well-known.
    HttpRedirectToHttps => "http_redirect_to_https" {
        meaning: "The validation URL redirects from HTTP to HTTPS, which breaks partial (CNAME) setups that serve the token at the origin.",
        seed: "Troubleshooting: Redirection (partial setup, Redirect Rules)",
        who: Cloudflare,
    }
    /// A redirect the CA will not follow.
    HttpBadRedirect => "http_bad_redirect" {
        meaning: "The validation URL redirects somewhere the CA refuses to follow (port, scheme, status, loop, too many hops, reserved target).",
        seed: "BR 3.2.2.4.19; Boulder va/http.go processRedirect",
        who: OriginServer,
    }
    /// Could not connect / TLS failed / timed out.
    HttpUnreachable => "http_unreachable" {
        meaning: "The CA cannot fetch the validation URL: connection refused, timed out, reset, or TLS failed after a redirect.",
        seed: "Troubleshooting: Blocked validation URL; Boulder va/va.go detailedError",
        who: OriginServer,
    }
    /// AAAA points elsewhere than A.
    Ipv6Mismatch => "ipv6_mismatch" {
        meaning: "The AAAA record leads to a server that answers differently from the A record's; the CA prefers IPv6 and fails.",
        seed: "Troubleshooting: DNS settings and records (AAAA not pointing to the same dual-stack location)",
        who: DnsProvider,
    }
    /// Plain HTTP on the TLS port.
    HttpOnHttpsPort => "http_on_https_port" {
        meaning: "After a redirect to https, the server speaks plain HTTP on port 443.",
        seed: "Boulder va/va.go (\"Server only speaks HTTP, not TLS\")",
        who: OriginServer,
    }
    /// TLS on the HTTP port.
    TlsOnHttpPort => "tls_on_http_port" {
        meaning: "The server speaks TLS on port 80, where the CA sends plain HTTP.",
        seed: "RFC 8555 §8.3 (port 80, plain HTTP)",
        who: OriginServer,
    }
    /// Any other non-200 status.
    HttpNot200 => "http_not_200" {
        meaning: "The validation URL answers with a status other than 200 (and not a recognised block or challenge page).",
        seed: "BR 3.2.2.4.19; Boulder va/http.go (\"Invalid response from\")",
        who: OriginServer,
    }
    /// Remote perspectives disagree with the primary about CAA.
    MpicCaaDisagreement => "mpic_caa_disagreement" {
        meaning: "Remote network perspectives do not corroborate the primary's CAA decision (they see no permission, or their CAA lookups fail); an error when more disagree than the BR 3.2.2.9 quorum allows, a warning otherwise.",
        seed: "BR 3.2.2.9 (MPIC); Cloudflare \"multiple perspective CAA check error\"; Boulder va/va.go doRemoteOperation",
        who: DnsProvider,
    }
    /// Remote perspectives disagree with the primary about domain control.
    MpicDcvDisagreement => "mpic_dcv_disagreement" {
        meaning: "Remote network perspectives do not see the same HTTP-01 token or DNS-01 TXT value as the primary; an error when more disagree than the BR 3.2.2.9 quorum allows, a warning otherwise.",
        seed: "BR 3.2.2.9 (MPIC); Cloudflare \"(MPIC failure)\"; Boulder va/va.go doRemoteOperation",
        who: DnsProvider,
    }
    /// A remote perspective could not be asked.
    PerspectiveUnavailable => "perspective_unavailable" {
        meaning: "A remote perspective agent could not be asked (down, refused authentication, timed out, bad answer), or too few are configured for the BR 3.2.2.9 minimum, so the MPIC prediction is incomplete; says nothing about the domain.",
        seed: "BR 3.2.2.9 (minimum remote perspectives, quorum); docs/mpic.md",
        who: Requester,
    }
    /// This machine has no IPv6 path to DNS: IPv6 was not checked.
    VantageNoIpv6 => "vantage_no_ipv6" {
        meaning: "This machine cannot reach the root name servers over IPv6, so nothing IPv6 (nameserver addresses, AAAA web addresses) was checked; CAs try IPv6 first. Says nothing about the domain.",
        seed: "Issue #15 §4 (the machine it runs on is not the domain); RFC 7720 §2 (the root answers over IPv4 and IPv6); Boulder va/http.go (IPv6 first)",
        who: Requester,
    }
    /// This machine has no IPv4 path to DNS: IPv4 was not checked.
    VantageNoIpv4 => "vantage_no_ipv4" {
        meaning: "This machine cannot reach the root name servers over IPv4, so nothing IPv4 (nameserver addresses, A web addresses) was checked. Says nothing about the domain.",
        seed: "Issue #15 §4 (the machine it runs on is not the domain); RFC 7720 §2",
        who: Requester,
    }
    /// DNS over TCP does not leave this machine.
    VantageDnsTcpBlocked => "vantage_dns_tcp_blocked" {
        meaning: "DNS over TCP (port 53) does not reach the root from this machine while UDP does, so the nameservers' TCP paths were not checked. Says nothing about the domain.",
        seed: "Issue #15 §4; RFC 7766 §5 (TCP is required); RFC 8659 §6.1",
        who: Requester,
    }
    /// No network at all: nothing could be checked.
    VantageNoNetwork => "vantage_no_network" {
        meaning: "No root name server can be reached from this machine (no route, no address): nothing could be checked, and the domain was not judged (exit 3).",
        seed: "Issue #15 §4 (could not check from here: exit 3)",
        who: Requester,
    }
    /// Outbound DNS is blocked: nothing could be checked.
    VantageDnsBlocked => "vantage_dns_blocked" {
        meaning: "DNS to the root name servers is dropped, rejected or refused on the way out of this machine (a firewall on port 53): nothing could be checked, and the domain was not judged (exit 3).",
        seed: "Issue #15 §4 (could not check from here: exit 3)",
        who: Requester,
    }
    /// Something answers DNS in the root's place: nothing can be trusted.
    VantageDnsIntercepted => "vantage_dns_intercepted" {
        meaning: "Something other than the root name servers answers DNS queries sent to them (a transparent DNS proxy, resolver or filter on port 53): no answer can be taken as the domain's servers' own, so the domain was not judged (exit 3).",
        seed: "Issue #15 §4; RFC 4035 §3.1.3.2 (a root NXDOMAIN carries a signed NSEC proof); RFC 1035 §4.1.1 (AA, RA)",
        who: Requester,
    }
    /// A lookup the CA needs failed only because of this machine.
    VantageNotChecked => "vantage_not_checked" {
        meaning: "A lookup or fetch the CA must make failed here only because of this machine's network (every server or address it needs is one this machine cannot reach), so that part of the domain was not judged (exit 3 unless something else fails).",
        seed: "Issue #15 §4 (the machine it runs on is not the domain)",
        who: Requester,
    }
}

impl FindingCode {
    /// Whether a finding with this code means part of the check could not be
    /// made from this machine: the report's verdict is then "could not check
    /// from here" (exit 3) unless another finding already fails it.
    pub fn leaves_unchecked(self) -> bool {
        matches!(
            self,
            FindingCode::VantageNoNetwork
                | FindingCode::VantageDnsBlocked
                | FindingCode::VantageDnsIntercepted
                | FindingCode::VantageNotChecked
        )
    }
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Renders the catalogue as the Markdown table in `docs/findings.md`.
pub fn findings_markdown() -> String {
    let mut out = String::from(
        "# Finding codes\n\n\
         Generated by `cargo run -- findings-doc > docs/findings.md` from \
         `crates/dcv-diagnosis/src/codes.rs` and `messages.rs`; a test fails when \
         they drift apart. Every report carries the exact message for its case; \
         the column below shows the documented form with placeholders.\n\n\
         | code | meaning | CA message | fix | who fixes | rests on |\n|---|---|---|---|---|---|\n",
    );
    for code in FindingCode::ALL {
        let message = crate::messages::documented_message(*code).map_or_else(
            || "(none specific)".to_owned(),
            |m| format!("`{}`", m.replace('|', "\\|")),
        );
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            code.as_str(),
            code.meaning(),
            message,
            crate::messages::documented_fix(*code).replace('|', "\\|"),
            code.who_fixes(),
            code.seed()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_identifier_and_serde() {
        for code in FindingCode::ALL {
            assert_eq!(FindingCode::from_code(code.as_str()), Some(*code));
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn docs_findings_md_matches_the_catalogue() {
        let doc = include_str!("../../../docs/findings.md");
        assert_eq!(
            doc,
            findings_markdown(),
            "docs/findings.md is stale: run `cargo run -- findings-doc > docs/findings.md`"
        );
    }
}
