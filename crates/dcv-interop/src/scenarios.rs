//! The scenario catalogue: one hostname per failure class, what Pebble must
//! decide (a check that the world is built right), which dcv-doctor findings
//! name the cause, and, where dcv-doctor (which predicts **Let's Encrypt**) and
//! Pebble must differ, why, with the rule and the CA behaviour.

use crate::acme::Method;

/// What the suite publishes before telling Pebble the challenge is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// HTTP-01: the key authorisation on every token-serving web host.
    Token,
    /// DNS-01: the right TXT at `_acme-challenge.<host>` (dynamic update to provider A).
    Txt,
    /// DNS-01: a TXT with a wrong value.
    WrongTxt,
    /// DNS-01: the right TXT, but in `good.lab.` at provider A, below the NS
    /// record that delegates `moved.good.lab.` to provider B (occluded data: the
    /// user edited the old provider).
    OccludedTxt,
    /// DNS-01: the right TXT at this name, which `_acme-challenge.<host>` is a
    /// CNAME to (delegated DCV).
    TxtAt(&'static str),
    /// Nothing (the record is missing, or the zone is broken anyway).
    Nothing,
}

/// Pebble's expected decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Valid,
    /// Invalid with this ACME problem type (without the URN prefix).
    Invalid(&'static str),
}

/// A documented, expected disagreement between Pebble and dcv-doctor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disagreement {
    /// The rule (RFC / BR clause) and what Let's Encrypt's Boulder does.
    pub letsencrypt: &'static str,
    /// What Pebble does instead.
    pub pebble: &'static str,
}

/// One scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    pub name: &'static str,
    pub host: &'static str,
    pub method: Method,
    pub publish: Publish,
    pub pebble: Expect,
    /// dcv-doctor's acceptable first blocking finding (empty: it must pass).
    pub codes: &'static [&'static str],
    pub disagreement: Option<Disagreement>,
    /// Why the expected findings are right (the rule), printed on failure.
    pub rule: &'static str,
}

const fn http(
    name: &'static str,
    host: &'static str,
    pebble: Expect,
    codes: &'static [&'static str],
) -> Scenario {
    Scenario {
        name,
        host,
        method: Method::Http,
        publish: Publish::Token,
        pebble,
        codes,
        disagreement: None,
        rule: "",
    }
}

const fn dns(
    name: &'static str,
    host: &'static str,
    publish: Publish,
    pebble: Expect,
    codes: &'static [&'static str],
) -> Scenario {
    Scenario {
        name,
        host,
        method: Method::Dns,
        publish,
        pebble,
        codes,
        disagreement: None,
        rule: "",
    }
}

const VALID: Expect = Expect::Valid;
const UNAUTHORIZED: Expect = Expect::Invalid("unauthorized");
const CONNECTION: Expect = Expect::Invalid("connection");

/// Pebble resolves with AAAA first and dials only the first address it got.
pub const NO_V4_FALLBACK: Disagreement = Disagreement {
    letsencrypt: "RFC 8555 §8.3 leaves address choice to the CA; Let's Encrypt's Boulder \
                  (va/http.go) dials the first AAAA and, on a *dial* error (refused, \
                  unreachable, connect timeout), retries the whole fetch on the first A, \
                  which serves the token: valid. dcv-doctor predicts Let's Encrypt.",
    pebble: "Pebble (va.go fetchHTTP/resolveIP) dials addrs[0] (the first AAAA) and never \
             falls back to IPv4: connection refused.",
};

/// Pebble never looks at CAA.
pub const NO_CAA: Disagreement = Disagreement {
    letsencrypt: "RFC 8659 §3 and CA/B BR 3.2.2.8: the CA must check CAA; `0 issue \
                  \"ca.invalid\"` authorises only ca.invalid, so Let's Encrypt (Boulder \
                  va/caa.go) refuses with `caa` \"CAA record for caa.good.lab prevents \
                  issuance\". dcv-doctor predicts that. The CAA RRset itself is checked \
                  against Unbound's answer (same records, validated).",
    pebble: "Pebble does no CAA checking at all, so its HTTP-01 validation passes.",
};

/// Redirects the Baseline Requirements forbid, which Go's HTTP client follows.
pub const BR_REDIRECTS: Disagreement = Disagreement {
    letsencrypt: "CA/B BR 3.2.2.4.19: a CA follows only 301, 302, 307 and 308 \
                  redirects, only to http/https URLs on ports 80 or 443. Let's \
                  Encrypt's Boulder (va/http.go processRedirect) refuses the rest \
                  (`received disallowed redirect status code`, `Invalid port in \
                  redirect target. Only ports 80 and 443 are supported`): invalid. \
                  dcv-doctor predicts that (`http_bad_redirect`).",
    pebble: "Pebble uses Go's default redirect policy: it follows 303 and any port, \
             fetches the token there, and validates.",
};

/// The rule for NXDOMAIN behind a CNAME (both dangling scenarios).
pub const NXDOMAIN_AFTER_CNAME: &str = "RFC 6604 §2-3: the RCODE (and so the denial) belongs to the \
    last name of the CNAME chain; RFC 4035 §5.4 validates the NSEC for that name. Unbound \
    returns a validated NXDOMAIN (AD) and delv says \"fully validated\"; Let's Encrypt answers \
    `DNS problem: NXDOMAIN looking up …`. A denial checked against the query name instead \
    of the CNAME target is a dcv-dns bug (engine.rs, NxDomain/NoData branch, check_denial \
    with qname_h).";

/// Every scenario, in table order.
pub const SCENARIOS: &[Scenario] = &[
    // HTTP-01, healthy.
    http("http healthy IPv4", "v4.good.lab", VALID, &[]),
    http("http healthy IPv6", "v6.good.lab", VALID, &[]),
    http("http healthy dual-stack", "dual.good.lab", VALID, &[]),
    http("http healthy via CNAME", "cname.good.lab", VALID, &[]),
    http(
        "http healthy, unsigned zone",
        "www.unsigned.lab",
        VALID,
        &[],
    ),
    http(
        "http redirect to https (working)",
        "tohttps.good.lab",
        VALID,
        &[],
    ),
    // HTTP-01, the web server's fault.
    http(
        "http token not published (404)",
        "notoken.good.lab",
        UNAUTHORIZED,
        &["http_token_not_published", "http_not_200"],
    ),
    http(
        "http wrong body",
        "wrongbody.good.lab",
        UNAUTHORIZED,
        &["http_token_mismatch"],
    ),
    http(
        "http 403",
        "forbidden.good.lab",
        UNAUTHORIZED,
        &["http_blocked", "http_not_200"],
    ),
    http(
        "http redirect to https, 443 closed",
        "tohttps-closed.good.lab",
        CONNECTION,
        &["http_unreachable", "http_redirect_to_https"],
    ),
    http(
        "http redirect loop",
        "loop.good.lab",
        CONNECTION,
        &["http_bad_redirect"],
    ),
    http(
        "http connection refused",
        "refused.good.lab",
        CONNECTION,
        &["http_unreachable"],
    ),
    http(
        "http AAAA server without the token",
        "v6wrong.good.lab",
        UNAUTHORIZED,
        &["ipv6_mismatch", "http_not_200", "http_token_not_published"],
    ),
    http(
        "http IPv6-only, connection refused",
        "v6closed.good.lab",
        CONNECTION,
        &["http_unreachable"],
    ),
    Scenario {
        disagreement: Some(BR_REDIRECTS),
        ..http(
            "http 303 redirect (BR)",
            "see-other.good.lab",
            VALID,
            &["http_bad_redirect"],
        )
    },
    Scenario {
        disagreement: Some(BR_REDIRECTS),
        ..http(
            "http redirect to port 8080 (BR)",
            "port8080.good.lab",
            VALID,
            &["http_bad_redirect"],
        )
    },
    Scenario {
        disagreement: Some(NO_V4_FALLBACK),
        ..http(
            "http AAAA refused, A serves token",
            "v6refused.good.lab",
            CONNECTION,
            &[],
        )
    },
    Scenario {
        disagreement: Some(NO_CAA),
        ..http(
            "http CAA forbids (Pebble: no CAA)",
            "caa.good.lab",
            VALID,
            &["caa_forbids"],
        )
    },
    // HTTP-01, DNS's fault.
    http(
        "http NXDOMAIN",
        "nx.good.lab",
        CONNECTION,
        &["nxdomain", "no_address"],
    ),
    // `dangling CNAME gone.good.lab.`, both names in the signed good.lab.: the
    // answer is the signed CNAME plus NXDOMAIN with an NSEC covering
    // gone.good.lab. RFC 6604 §2-3: the RCODE (and so the denial) belongs to
    // the last name of the CNAME chain; RFC 4035 §5.4 validates the NSEC for
    // that name. Unbound returns a validated NXDOMAIN (AD), delv says
    // "fully validated"; Let's Encrypt says `DNS problem: NXDOMAIN looking up A
    // for dangling.good.lab`. dcv-doctor must say `nxdomain`, not `dnssec_bogus`.
    Scenario {
        rule: NXDOMAIN_AFTER_CNAME,
        ..http(
            "http dangling CNAME",
            "dangling.good.lab",
            CONNECTION,
            &["nxdomain", "no_address"],
        )
    },
    http(
        "http DS mismatch",
        "www.dsmismatch.lab",
        CONNECTION,
        &["dnssec_bogus"],
    ),
    http(
        "http expired RRSIG",
        "www.expired.lab",
        CONNECTION,
        &["dnssec_bogus"],
    ),
    http(
        "http DS but unsigned child",
        "www.stripped.lab",
        CONNECTION,
        &["dnssec_bogus"],
    ),
    http(
        "http SERVFAIL zone",
        "www.servfail.lab",
        CONNECTION,
        &["dns_servfail"],
    ),
    http(
        "http REFUSED zone",
        "www.refused.lab",
        CONNECTION,
        &["dns_refused", "dns_lame_delegation"],
    ),
    http(
        "http timing-out nameserver",
        "www.timeout.lab",
        CONNECTION,
        &["dns_timeout"],
    ),
    // DNS-01.
    dns("dns healthy", "dns-ok.good.lab", Publish::Txt, VALID, &[]),
    dns(
        "dns wrong value",
        "dns-wrong.good.lab",
        Publish::WrongTxt,
        UNAUTHORIZED,
        &["txt_mismatch"],
    ),
    dns(
        "dns TXT missing (NXDOMAIN)",
        "dns-missing.good.lab",
        Publish::Nothing,
        UNAUTHORIZED,
        &["txt_missing", "nxdomain"],
    ),
    dns(
        "dns NODATA (empty non-terminal)",
        "dns-nodata.good.lab",
        Publish::Nothing,
        UNAUTHORIZED,
        &["txt_missing"],
    ),
    dns(
        "dns bogus zone (expired)",
        "www.expired.lab",
        Publish::Nothing,
        UNAUTHORIZED,
        &["dnssec_bogus"],
    ),
    dns(
        "dns SERVFAIL zone",
        "www.servfail.lab",
        Publish::Nothing,
        UNAUTHORIZED,
        &["dns_servfail"],
    ),
    dns("dns wildcard", "*.wild.good.lab", Publish::Txt, VALID, &[]),
    dns(
        "dns REFUSED zone",
        "www.refused.lab",
        Publish::Nothing,
        UNAUTHORIZED,
        &["dns_refused", "dns_lame_delegation"],
    ),
    dns(
        "dns timing-out nameserver",
        "www.timeout.lab",
        Publish::Nothing,
        UNAUTHORIZED,
        &["dns_timeout"],
    ),
    dns(
        "dns delegated DCV (CNAME)",
        "dns-cname.good.lab",
        Publish::TxtAt("dcv-target.good.lab."),
        VALID,
        &[],
    ),
    // `_acme-challenge.dns-dangling CNAME dcv-gone.good.lab.` (a delegated-DCV
    // CNAME whose target was never created): NXDOMAIN for the target, proven by
    // NSEC (RFC 6604 §2-3, RFC 4035 §5.4; see "http dangling CNAME"). Let's
    // Encrypt: `DNS problem: NXDOMAIN looking up TXT for _acme-challenge.…`.
    Scenario {
        rule: NXDOMAIN_AFTER_CNAME,
        ..dns(
            "dns delegated DCV CNAME dangling",
            "dns-dangling.good.lab",
            Publish::Nothing,
            UNAUTHORIZED,
            &["txt_missing", "nxdomain"],
        )
    },
    dns(
        "dns NS moved to another provider",
        "www.moved.good.lab",
        Publish::OccludedTxt,
        UNAUTHORIZED,
        &["ns_delegated", "txt_missing", "nxdomain"],
    ),
];

/// The ACME problem type **Pebble** gives for a blocking dcv-doctor finding.
///
/// Pebble (va.go): for HTTP-01 every lookup failure ends inside the HTTP
/// client's dial (`could not resolve URL` / the DNS exchange error) and comes
/// back as `connection`, whatever the rcode; a status or body problem is
/// `unauthorized`. For DNS-01 every failure, resolver errors included, is
/// `unauthorized` (`Error retrieving TXT records …`, `No TXT records found …`,
/// `Correct value not found …`).
pub fn pebble_problem(code: &str, method: Method) -> &'static str {
    if method == Method::Dns {
        return "unauthorized";
    }
    match code {
        "http_token_mismatch"
        | "http_token_not_published"
        | "http_blocked"
        | "http_challenge_page"
        | "http_not_200"
        | "ipv6_mismatch" => "unauthorized",
        "caa_forbids" | "caa_critical_unknown" => "caa",
        // Lookup failures, refused/timed-out connections, redirects Go's client
        // cannot follow: all `connection` in Pebble.
        _ => "connection",
    }
}

/// The ACME problem type **Let's Encrypt** (Boulder) gives for the same
/// finding (peers-and-ca-behaviour.md §3): shown in the table for reference.
pub fn letsencrypt_problem(code: &str, method: Method) -> &'static str {
    match code {
        "nxdomain"
        | "no_address"
        | "dns_servfail"
        | "dns_timeout"
        | "dns_refused"
        | "dns_lame_delegation"
        | "dnssec_bogus"
        | "caa_lookup_failed" => "dns",
        "caa_forbids" | "caa_critical_unknown" => "caa",
        "txt_missing"
        | "txt_mismatch"
        | "txt_inconsistent"
        | "txt_doubled_label"
        | "delegated_dcv_conflict"
        | "ns_delegated"
        | "http_token_mismatch"
        | "http_token_not_published"
        | "http_blocked"
        | "http_challenge_page"
        | "http_not_200"
        | "ipv6_mismatch" => "unauthorized",
        "http_on_https_port" | "tls_on_http_port" => "malformed",
        _ if method == Method::Dns => "unauthorized",
        _ => "connection",
    }
}
