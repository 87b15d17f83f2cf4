//! Table-driven acceptance tests for [`dcv_caa::evaluate`], one row per
//! rule, named the way Boulder's `va/caa_test.go` names its cases.

mod common;

use common::*;
use dcv_caa::{
    CaIdentity, CaaLookup, LookupSecurity, NameLookup, Outcome, Request, ValidationMethod,
    evaluate, suggest_records,
};

struct Case {
    name: &'static str,
    request: Request,
    identity: CaIdentity,
    lookups: Vec<NameLookup>,
    outcome: Outcome,
    reason: &'static str,
    citation: &'static str,
    relevant: Option<&'static str>,
}

const PERMIT: Outcome = Outcome::Permit;
const DENY: Outcome = Outcome::Deny;
const FAILED: Outcome = Outcome::LookupFailed;

const S3: &str = "RFC 8659 §3";
const S41: &str = "RFC 8659 §4.1";
const S41_FLAG1: &str = "RFC 8659 §4.1 (CA policy: flag 1 treated as critical)";
const S42: &str = "RFC 8659 §4.2";
const S43: &str = "RFC 8659 §4.3";
const ACCT: &str = "RFC 8657 §3";
const METHODS: &str = "RFC 8657 §4";
const BR: &str = "BR 3.2.2.8";
const BR_DNSSEC: &str = "BR 3.2.2.8.1";

const WWW: Option<&str> = Some("www.example.com");
const APEX: Option<&str> = Some("example.com");

#[expect(clippy::too_many_arguments, reason = "one argument per table column")]
fn case(
    name: &'static str,
    request: Request,
    identity: CaIdentity,
    lookups: Vec<NameLookup>,
    outcome: Outcome,
    reason: &'static str,
    citation: &'static str,
    relevant: Option<&'static str>,
) -> Case {
    Case {
        name,
        request,
        identity,
        lookups,
        outcome,
        reason,
        citation,
        relevant,
    }
}

fn many_other_cas(count: usize) -> Vec<dcv_caa::CaaRecord> {
    (0..count)
        .map(|i| issue(&format!("ca{i}.example.net")))
        .collect()
}

fn cases() -> Vec<Case> {
    use CaaLookup::Empty;
    use LookupSecurity::{Bogus, Indeterminate, ProvenInsecure, Secure};
    let h = http("www.example.com");
    let wild = http("*.www.example.com");
    let with_account = http("www.example.com").with_account_uri(ACCOUNT);
    vec![
        // --- RFC 8659 §3: the Relevant RRset search -------------------------
        case(
            "Good (no CAA anywhere)",
            h.clone(),
            le(),
            www(Empty, Empty, Empty),
            PERMIT,
            "no_relevant_rrset",
            S3,
            None,
        ),
        case(
            "Good (issue for this CA at the name)",
            h.clone(),
            le(),
            www(records(vec![issue("letsencrypt.org")]), Empty, Empty),
            PERMIT,
            "authorized",
            S42,
            WWW,
        ),
        case(
            "Good (present on parent)",
            h.clone(),
            le(),
            apex(vec![issue("letsencrypt.org")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (other CA on parent)",
            h.clone(),
            le(),
            apex(vec![issue("pki.goog")]),
            DENY,
            "issuer_not_listed",
            S42,
            APEX,
        ),
        case(
            "Good (climbs through nonexistent names)",
            http("a.b.c.example.com"),
            le(),
            vec![
                at("a.b.c.example.com", Empty),
                at("b.c.example.com", Empty),
                at("c.example.com", Empty),
                at("example.com", records(vec![issue("letsencrypt.org")])),
                at("com", Empty),
            ],
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (TLD holds the RRset)",
            h.clone(),
            le(),
            www(Empty, Empty, records(vec![issue("ca.example.net")])),
            DENY,
            "issuer_not_listed",
            S42,
            Some("com"),
        ),
        case(
            "Bad (closest RRset wins over a permissive parent)",
            h.clone(),
            le(),
            www(
                records(vec![issue("pki.goog")]),
                records(vec![issue("letsencrypt.org")]),
                Empty,
            ),
            DENY,
            "issuer_not_listed",
            S42,
            WWW,
        ),
        case(
            "Good (closest RRset wins over a restrictive parent)",
            h.clone(),
            le(),
            www(
                records(vec![issue("letsencrypt.org")]),
                records(vec![issue(";")]),
                Empty,
            ),
            PERMIT,
            "authorized",
            S42,
            WWW,
        ),
        case(
            "Good (empty Records vector reads as empty)",
            h.clone(),
            le(),
            www(
                records(vec![]),
                records(vec![issue("letsencrypt.org")]),
                Empty,
            ),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (names above the Relevant RRset need not be provided)",
            h.clone(),
            le(),
            vec![at(
                "www.example.com",
                records(vec![issue("letsencrypt.org")]),
            )],
            PERMIT,
            "authorized",
            S42,
            WWW,
        ),
        case(
            "Bad (a name below the Relevant RRset was not provided)",
            h.clone(),
            le(),
            vec![at("example.com", records(vec![issue("letsencrypt.org")]))],
            FAILED,
            "lookup_not_provided",
            S3,
            None,
        ),
        case(
            "Good (names compared without case or trailing dot)",
            http("WWW.Example.COM."),
            le(),
            vec![
                at("www.EXAMPLE.com.", Empty),
                at("Example.Com", records(vec![issue("letsencrypt.org")])),
            ],
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (empty request name)",
            http(""),
            le(),
            vec![],
            FAILED,
            "invalid_request_name",
            S3,
            None,
        ),
        case(
            "Bad (bare wildcard label)",
            http("*."),
            le(),
            vec![],
            FAILED,
            "invalid_request_name",
            S3,
            None,
        ),
        case(
            "Bad (empty label in request name)",
            http("www..example.com"),
            le(),
            vec![],
            FAILED,
            "invalid_request_name",
            S3,
            None,
        ),
        // --- RFC 8659 §4.2: issue values ----------------------------------
        case(
            "Bad (empty issuer ;)",
            h.clone(),
            le(),
            apex(vec![issue(";")]),
            DENY,
            "empty_issuer",
            S42,
            APEX,
        ),
        case(
            "Bad (empty value)",
            h.clone(),
            le(),
            apex(vec![issue("")]),
            DENY,
            "empty_issuer",
            S42,
            APEX,
        ),
        case(
            "Bad (empty issuer with parameters)",
            h.clone(),
            le(),
            apex(vec![issue("; accounturi=x")]),
            DENY,
            "empty_issuer",
            S42,
            APEX,
        ),
        case(
            "Good (authorisations are additive: ; plus this CA)",
            h.clone(),
            le(),
            apex(vec![issue(";"), issue("letsencrypt.org")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (upper-case tag ISSUE)",
            h.clone(),
            le(),
            apex(vec![rec(0, "ISSUE", "letsencrypt.org")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (mixed-case tag IsSuE)",
            h.clone(),
            le(),
            apex(vec![rec(0, "IsSuE", "letsencrypt.org")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (mixed-case tag IsSuE naming another CA)",
            h.clone(),
            le(),
            apex(vec![rec(0, "IsSuE", "pki.goog")]),
            DENY,
            "issuer_not_listed",
            S42,
            APEX,
        ),
        case(
            "Good (whitespace around the issuer)",
            h.clone(),
            le(),
            apex(vec![issue(" \tletsencrypt.org \t")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (issuer with a bare trailing semicolon)",
            h.clone(),
            le(),
            apex(vec![issue("letsencrypt.org;")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (unknown parameter is the issuer's business)",
            h.clone(),
            le(),
            apex(vec![issue("letsencrypt.org; foo=bar")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (issuer with a trailing dot)",
            h.clone(),
            le(),
            apex(vec![issue("letsencrypt.org.")]),
            DENY,
            "malformed_issue_value",
            S42,
            APEX,
        ),
        case(
            "Bad (issuer %%%%%)",
            h.clone(),
            le(),
            apex(vec![issue("%%%%%")]),
            DENY,
            "malformed_issue_value",
            S42,
            APEX,
        ),
        case(
            "Bad (non-ASCII issuer)",
            h.clone(),
            le(),
            apex(vec![issue("l\u{e9}tsencrypt.org")]),
            DENY,
            "malformed_issue_value",
            S42,
            APEX,
        ),
        case(
            "Bad (non-ASCII byte after the issuer)",
            h.clone(),
            le(),
            apex(vec![rec(0, "issue", "letsencrypt.org\u{a0}")]),
            DENY,
            "malformed_issue_value",
            S42,
            APEX,
        ),
        case(
            "Bad (empty parameter)",
            h.clone(),
            le(),
            apex(vec![issue("letsencrypt.org; ;")]),
            DENY,
            "malformed_issue_value",
            S42,
            APEX,
        ),
        case(
            "Bad (trailing semicolon after a parameter)",
            h.clone(),
            le(),
            apex(vec![issue("letsencrypt.org; a=b;")]),
            DENY,
            "malformed_issue_value",
            S42,
            APEX,
        ),
        case(
            "Bad (malformed value that mentions the CA beats other issuers)",
            h.clone(),
            le(),
            apex(vec![issue("pki.goog"), issue("letsencrypt.org.")]),
            DENY,
            "malformed_issue_value",
            S42,
            APEX,
        ),
        case(
            "Bad (other issuer beats an unrelated malformed value)",
            h.clone(),
            le(),
            apex(vec![issue("%%%%%"), issue("pki.goog")]),
            DENY,
            "issuer_not_listed",
            S42,
            APEX,
        ),
        case(
            "Good (valid record beside a malformed one)",
            h.clone(),
            le(),
            apex(vec![issue("%%%%%"), issue("letsencrypt.org")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (mixed-case issuer, case-sensitive CA)",
            h.clone(),
            le(),
            apex(vec![issue("LetsEncrypt.org")]),
            DENY,
            "issuer_case_mismatch",
            S42,
            APEX,
        ),
        case(
            "Good (mixed-case issuer, case-insensitive CA)",
            h.clone(),
            strict(),
            apex(vec![issue("LetsEncrypt.org")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (second issuer domain of the CA)",
            h.clone(),
            CaIdentity::new(["sectigo.com", "comodoca.com"]),
            apex(vec![issue("comodoca.com")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (1000+ records, this CA last)",
            h.clone(),
            le(),
            apex({
                let mut set = many_other_cas(1200);
                set.push(issue("letsencrypt.org"));
                set
            }),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (1000+ records, none for this CA)",
            h.clone(),
            le(),
            apex(many_other_cas(1500)),
            DENY,
            "issuer_not_listed",
            S42,
            APEX,
        ),
        // --- RFC 8659 §3 / §4.4: non-restricting sets ----------------------
        case(
            "Good (only iodef)",
            h.clone(),
            le(),
            apex(vec![rec(0, "iodef", "mailto:security@example.com")]),
            PERMIT,
            "no_restricting_property",
            S3,
            APEX,
        ),
        case(
            "Good (critical iodef is known)",
            h.clone(),
            le(),
            apex(vec![
                rec(128, "iodef", "mailto:x@example.com"),
                issue("letsencrypt.org"),
            ]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (only an unknown non-critical tag)",
            h.clone(),
            le(),
            apex(vec![rec(0, "tbs", "Unknown")]),
            PERMIT,
            "no_restricting_property",
            S3,
            APEX,
        ),
        // --- RFC 8659 §4.1: critical flag ----------------------------------
        case(
            "Bad (unknown critical tag, flags 128)",
            h.clone(),
            le(),
            apex(vec![rec(128, "tbs", "Unknown"), issue("letsencrypt.org")]),
            DENY,
            "critical_unknown_tag",
            S41,
            APEX,
        ),
        case(
            "Bad (unknown critical tag, flags 130)",
            h.clone(),
            strict(),
            apex(vec![rec(130, "tbs", "Unknown"), issue("letsencrypt.org")]),
            DENY,
            "critical_unknown_tag",
            S41,
            APEX,
        ),
        case(
            "Bad (unknown critical tag in upper case)",
            h.clone(),
            le(),
            apex(vec![rec(128, "TBS", "Unknown"), issue("letsencrypt.org")]),
            DENY,
            "critical_unknown_tag",
            S41,
            APEX,
        ),
        case(
            "Bad (critical unknown tag denies a wildcard too)",
            wild.clone(),
            le(),
            apex(vec![rec(128, "tbs", ""), issuewild("letsencrypt.org")]),
            DENY,
            "critical_unknown_tag",
            S41,
            APEX,
        ),
        case(
            "Good (unknown tag, flags 0)",
            h.clone(),
            le(),
            apex(vec![rec(0, "tbs", "Unknown"), issue("letsencrypt.org")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (critical issuemail is known to LE)",
            h.clone(),
            le(),
            apex(vec![rec(128, "issuemail", ";"), issue("letsencrypt.org")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (critical issuemail is unknown to a strict CA)",
            h.clone(),
            strict(),
            apex(vec![rec(128, "issuemail", ";"), issue("letsencrypt.org")]),
            DENY,
            "critical_unknown_tag",
            S41,
            APEX,
        ),
        case(
            "Good (critical issue tag is known)",
            h.clone(),
            le(),
            apex(vec![rec(128, "issue", "letsencrypt.org")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (flags 1 on unknown tag, LE treats it as critical)",
            h.clone(),
            le(),
            apex(vec![rec(1, "tbs", "Unknown"), issue("letsencrypt.org")]),
            DENY,
            "critical_unknown_tag",
            S41_FLAG1,
            APEX,
        ),
        case(
            "Good (flags 1 on unknown tag, strict RFC CA ignores it)",
            h.clone(),
            strict(),
            apex(vec![rec(1, "tbs", "Unknown"), issue("letsencrypt.org")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (flags 1 on issue, LE)",
            h.clone(),
            le(),
            apex(vec![rec(1, "issue", "letsencrypt.org")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (flags 129 on unknown tag cites the RFC)",
            h.clone(),
            le(),
            apex(vec![rec(129, "tbs", "x"), issue("letsencrypt.org")]),
            DENY,
            "critical_unknown_tag",
            S41,
            APEX,
        ),
        // --- RFC 8659 §4.3: wildcards ---------------------------------------
        case(
            "Good (wildcard with issue only)",
            wild.clone(),
            le(),
            apex(vec![issue("letsencrypt.org")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (wildcard with issue for another CA)",
            wild.clone(),
            le(),
            apex(vec![issue("pki.goog")]),
            DENY,
            "issuer_not_listed",
            S42,
            APEX,
        ),
        case(
            "Good (wildcard with issuewild for this CA)",
            wild.clone(),
            le(),
            apex(vec![issuewild("letsencrypt.org"), issue("pki.goog")]),
            PERMIT,
            "authorized",
            S43,
            APEX,
        ),
        case(
            "Bad (wildcard: issuewild for another CA overrides issue)",
            wild.clone(),
            le(),
            apex(vec![issue("letsencrypt.org"), issuewild("pki.goog")]),
            DENY,
            "issuer_not_listed",
            S43,
            APEX,
        ),
        case(
            "Bad (wildcard: issuewild ; forbids wildcards)",
            wild.clone(),
            le(),
            apex(vec![issue("letsencrypt.org"), issuewild(";")]),
            DENY,
            "empty_issuer",
            S43,
            APEX,
        ),
        case(
            "Good (wildcard: upper-case ISSUEWILD counts)",
            wild.clone(),
            le(),
            apex(vec![rec(0, "ISSUEWILD", "letsencrypt.org"), issue(";")]),
            PERMIT,
            "authorized",
            S43,
            APEX,
        ),
        case(
            "Good (wildcard with only iodef)",
            wild.clone(),
            le(),
            apex(vec![rec(0, "iodef", "mailto:x@example.com")]),
            PERMIT,
            "no_restricting_property",
            S3,
            APEX,
        ),
        case(
            "Good (wildcard is evaluated at the base name)",
            http("*.example.com"),
            le(),
            vec![
                at("example.com", records(vec![issue("letsencrypt.org")])),
                at("*.example.com", records(vec![issue(";")])),
            ],
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (issuewild ignored for non-wildcard)",
            h.clone(),
            le(),
            apex(vec![issuewild(";"), issue("letsencrypt.org")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (non-wildcard with only issuewild for another CA)",
            h.clone(),
            le(),
            apex(vec![issuewild("pki.goog")]),
            PERMIT,
            "no_restricting_property",
            S3,
            APEX,
        ),
        case(
            "Bad (non-wildcard: issuewild for this CA does not help)",
            h.clone(),
            le(),
            apex(vec![issuewild("letsencrypt.org"), issue("pki.goog")]),
            DENY,
            "issuer_not_listed",
            S42,
            APEX,
        ),
        // --- RFC 8657 §3: accounturi ----------------------------------------
        case(
            "Good (accounturi matches)",
            with_account.clone(),
            le(),
            apex(vec![issue(&format!(
                "letsencrypt.org; accounturi={ACCOUNT}"
            ))]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (accounturi for another account)",
            with_account.clone(),
            le(),
            apex(vec![issue(&format!(
                "letsencrypt.org; accounturi={OTHER_ACCOUNT}"
            ))]),
            DENY,
            "accounturi_mismatch",
            ACCT,
            APEX,
        ),
        case(
            "Bad (accounturi of the staging environment)",
            with_account.clone(),
            le(),
            apex(vec![issue(&format!(
                "letsencrypt.org; accounturi={STAGING_ACCOUNT}"
            ))]),
            DENY,
            "accounturi_mismatch",
            ACCT,
            APEX,
        ),
        case(
            "Bad (two accounturi parameters, even if one matches)",
            with_account.clone(),
            le(),
            apex(vec![issue(&format!(
                "letsencrypt.org; accounturi={ACCOUNT}; accounturi={ACCOUNT}"
            ))]),
            DENY,
            "accounturi_duplicate",
            ACCT,
            APEX,
        ),
        case(
            "Bad (accounturi but no account given)",
            h.clone(),
            le(),
            apex(vec![issue(&format!(
                "letsencrypt.org; accounturi={ACCOUNT}"
            ))]),
            DENY,
            "accounturi_not_provided",
            ACCT,
            APEX,
        ),
        case(
            "Good (one of two records binds the requesting account)",
            with_account.clone(),
            le(),
            apex(vec![
                issue(&format!("letsencrypt.org; accounturi={OTHER_ACCOUNT}")),
                issue(&format!("letsencrypt.org; accounturi={ACCOUNT}")),
            ]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (accounturi on another CA's record does not matter)",
            h.clone(),
            le(),
            apex(vec![
                issue("pki.goog; accounturi=https://example.net/acct/1"),
                issue("letsencrypt.org"),
            ]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (this CA's accounturi on another issuer's name)",
            with_account.clone(),
            le(),
            apex(vec![issue(&format!("pki.goog; accounturi={ACCOUNT}"))]),
            DENY,
            "issuer_not_listed",
            S42,
            APEX,
        ),
        case(
            "Good (parameter tags are exact: AccountURI is not accounturi)",
            h.clone(),
            le(),
            apex(vec![issue(&format!(
                "letsencrypt.org; AccountURI={OTHER_ACCOUNT}"
            ))]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        // --- RFC 8657 §4: validationmethods ----------------------------------
        case(
            "Good (validationmethods lists the method)",
            h.clone(),
            le(),
            apex(vec![issue("letsencrypt.org; validationmethods=http-01")]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (validationmethods lists several)",
            dns("www.example.com"),
            le(),
            apex(vec![issue(
                "letsencrypt.org; validationmethods=http-01,dns-01",
            )]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (unknown method labels are skipped)",
            h.clone(),
            le(),
            apex(vec![issue(
                "letsencrypt.org; validationmethods=dns-account-01,http-01",
            )]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (validationmethods does not list the method)",
            h.clone(),
            le(),
            apex(vec![issue("letsencrypt.org; validationmethods=dns-01")]),
            DENY,
            "validation_method_not_allowed",
            METHODS,
            APEX,
        ),
        case(
            "Bad (validationmethods labels are exact)",
            h.clone(),
            le(),
            apex(vec![issue("letsencrypt.org; validationmethods=HTTP-01")]),
            DENY,
            "validation_method_not_allowed",
            METHODS,
            APEX,
        ),
        case(
            "Bad (empty validationmethods allows nothing)",
            h.clone(),
            le(),
            apex(vec![issue("letsencrypt.org; validationmethods=")]),
            DENY,
            "validation_method_not_allowed",
            METHODS,
            APEX,
        ),
        case(
            "Bad (two validationmethods parameters)",
            h.clone(),
            le(),
            apex(vec![issue(
                "letsencrypt.org; validationmethods=http-01; validationmethods=http-01",
            )]),
            DENY,
            "validationmethods_duplicate",
            METHODS,
            APEX,
        ),
        case(
            "Bad (validationmethods with a trailing comma)",
            h.clone(),
            le(),
            apex(vec![issue("letsencrypt.org; validationmethods=http-01,")]),
            DENY,
            "validationmethods_malformed",
            METHODS,
            APEX,
        ),
        case(
            "Bad (validationmethods with an underscore)",
            h.clone(),
            le(),
            apex(vec![issue("letsencrypt.org; validationmethods=http_01")]),
            DENY,
            "validationmethods_malformed",
            METHODS,
            APEX,
        ),
        case(
            "Good (other method label in use)",
            Request::new(
                "www.example.com",
                ValidationMethod::Other("dns-persist-01".into()),
            ),
            le(),
            apex(vec![issue(
                "letsencrypt.org; validationmethods=dns-persist-01",
            )]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Good (accounturi and validationmethods both satisfied)",
            with_account.clone(),
            le(),
            apex(vec![issue(&format!(
                "letsencrypt.org; accounturi={ACCOUNT}; validationmethods=http-01"
            ))]),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (accounturi satisfied, validationmethods not)",
            with_account.clone(),
            le(),
            apex(vec![issue(&format!(
                "letsencrypt.org; accounturi={ACCOUNT}; validationmethods=dns-01"
            ))]),
            DENY,
            "validation_method_not_allowed",
            METHODS,
            APEX,
        ),
        case(
            "Good (wildcard: issuewild with validationmethods)",
            Request::new("*.example.com", ValidationMethod::Dns01),
            le(),
            vec![at(
                "example.com",
                records(vec![issuewild("letsencrypt.org; validationmethods=dns-01")]),
            )],
            PERMIT,
            "authorized",
            S43,
            APEX,
        ),
        // --- BR 3.2.2.8 / 3.2.2.8.1: lookup failures ------------------------
        case(
            "Bad (SERVFAIL at the name)",
            h.clone(),
            le(),
            www(failed(Indeterminate), Empty, Empty),
            FAILED,
            "lookup_failed_below_relevant",
            BR,
            None,
        ),
        case(
            "Bad (failure below the Relevant RRset)",
            h.clone(),
            le(),
            www(
                failed(Indeterminate),
                records(vec![issue("letsencrypt.org")]),
                Empty,
            ),
            FAILED,
            "lookup_failed_below_relevant",
            BR,
            None,
        ),
        case(
            "Good (failure above the Relevant RRset is ignored)",
            h.clone(),
            le(),
            www(
                records(vec![issue("letsencrypt.org")]),
                failed(Bogus),
                failed(Indeterminate),
            ),
            PERMIT,
            "authorized",
            S42,
            WWW,
        ),
        case(
            "Good (failure at the TLD above the Relevant RRset)",
            h.clone(),
            le(),
            www(
                Empty,
                records(vec![issue("letsencrypt.org")]),
                failed(Secure),
            ),
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (failure at the TLD with no RRset below)",
            h.clone(),
            le(),
            www(Empty, Empty, failed(Indeterminate)),
            FAILED,
            "lookup_failed_below_relevant",
            BR,
            None,
        ),
        case(
            "Bad (Bogus, never-permit CA)",
            h.clone(),
            le(),
            www(failed(Bogus), Empty, Empty),
            FAILED,
            "lookup_failed_below_relevant",
            BR_DNSSEC,
            None,
        ),
        case(
            "Bad (Bogus is never permission, permit-if-insecure CA)",
            h.clone(),
            lenient(),
            www(failed(Bogus), Empty, Empty),
            FAILED,
            "lookup_failed_below_relevant",
            BR_DNSSEC,
            None,
        ),
        case(
            "Bad (Indeterminate, permit-if-insecure CA)",
            h.clone(),
            lenient(),
            www(failed(Indeterminate), Empty, Empty),
            FAILED,
            "lookup_failed_below_relevant",
            BR,
            None,
        ),
        case(
            "Bad (timeout in a Secure zone, permit-if-insecure CA)",
            h.clone(),
            lenient(),
            www(failed(Secure), Empty, Empty),
            FAILED,
            "lookup_failed_below_relevant",
            BR,
            None,
        ),
        case(
            "Good (proven Insecure, permit-if-insecure CA)",
            h.clone(),
            lenient(),
            www(failed(ProvenInsecure), records(vec![issue(";")]), Empty),
            PERMIT,
            "lookup_failure_permitted",
            BR,
            None,
        ),
        case(
            "Bad (proven Insecure, never-permit CA)",
            h.clone(),
            le(),
            www(failed(ProvenInsecure), Empty, Empty),
            FAILED,
            "lookup_failed_below_relevant",
            BR,
            None,
        ),
        case(
            "Bad (proven Insecure, default strict CA never permits)",
            h.clone(),
            strict(),
            www(failed(ProvenInsecure), Empty, Empty),
            FAILED,
            "lookup_failed_below_relevant",
            BR,
            None,
        ),
        case(
            "Bad (empty name, then failure at the parent)",
            h.clone(),
            le(),
            www(
                Empty,
                failed(Indeterminate),
                records(vec![issue("letsencrypt.org")]),
            ),
            FAILED,
            "lookup_failed_below_relevant",
            BR,
            None,
        ),
        // --- RFC 8659 §3: CNAMEs, expressed as the resolver's answers ---------
        case(
            "Good (CNAME at the name, target's RRset lists this CA)",
            h.clone(),
            le(),
            vec![
                at("www.example.com", records(vec![issue("letsencrypt.org")]))
                    .via_cnames(["cdn.example.net"]),
                at("example.com", records(vec![issue(";")])),
            ],
            PERMIT,
            "authorized",
            S42,
            WWW,
        ),
        case(
            "Bad (CNAME target's RRset wins over a permissive parent)",
            h.clone(),
            le(),
            vec![
                at("www.example.com", records(vec![issue("pki.goog")]))
                    .via_cnames(["cdn.example.net"]),
                at("example.com", records(vec![issue("letsencrypt.org")])),
            ],
            DENY,
            "issuer_not_listed",
            S42,
            WWW,
        ),
        case(
            "Good (CNAME target has no CAA: climb at the original name's parent)",
            h.clone(),
            le(),
            vec![
                at("www.example.com", Empty).via_cnames(["cdn.example.net"]),
                // The target's parent must never be consulted.
                at("example.net", records(vec![issue(";")])),
                at("example.com", records(vec![issue("letsencrypt.org")])),
            ],
            PERMIT,
            "authorized",
            S42,
            APEX,
        ),
        case(
            "Bad (CNAME target does not exist: the original parent forbids)",
            h.clone(),
            le(),
            vec![
                at("www.example.com", Empty).via_cnames(["gone.example.net"]),
                at("example.net", records(vec![issue("letsencrypt.org")])),
                at("example.com", records(vec![issue("pki.goog")])),
                at("com", Empty),
            ],
            DENY,
            "issuer_not_listed",
            S42,
            APEX,
        ),
        case(
            "Bad (CNAME target's lookup fails)",
            h.clone(),
            le(),
            vec![
                at("www.example.com", failed(Bogus)).via_cnames(["cdn.example.net"]),
                at("example.com", records(vec![issue("letsencrypt.org")])),
            ],
            FAILED,
            "lookup_failed_below_relevant",
            BR_DNSSEC,
            None,
        ),
        case(
            "Good (two CNAME hops)",
            h.clone(),
            le(),
            vec![
                at("www.example.com", records(vec![issue("letsencrypt.org")]))
                    .via_cnames(["a.example.net", "b.example.org"]),
            ],
            PERMIT,
            "authorized",
            S42,
            WWW,
        ),
    ]
}

#[test]
fn evaluate_table() {
    let mut failures = Vec::new();
    for case in cases() {
        let decision = evaluate(&case.request, &case.identity, &case.lookups);
        let got = (
            decision.outcome,
            decision.reason_code.code(),
            decision.rule.citation(),
            decision.relevant_name.as_deref(),
        );
        let want = (case.outcome, case.reason, case.citation, case.relevant);
        if got != want {
            failures.push(format!(
                "{}:\n    got  {got:?}\n    want {want:?}",
                case.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn case_names_are_unique() {
    let cases = cases();
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len());
    assert!(before >= 90, "only {before} cases");
}

/// Every deny must be fixable by the suggested lines: apply them to the
/// Relevant RRset (removing what they say to remove) and evaluate again.
#[test]
fn suggestions_fix_every_deny() {
    for case in cases().into_iter().filter(|c| c.outcome == Outcome::Deny) {
        let decision = evaluate(&case.request, &case.identity, &case.lookups);
        let lines = suggest_records(&decision, &case.identity, &case.request);
        assert!(!lines.is_empty(), "{}: no suggestion", case.name);
        let owner = format!("{}.", decision.rrset_owner().unwrap());
        let removes_critical = lines.iter().any(|l| l.starts_with("; remove"));
        let mut rrset: Vec<_> = decision
            .deciding_records
            .iter()
            .filter(|r| {
                !(removes_critical && r.verdict == dcv_caa::RecordVerdict::CriticalUnknownTag)
            })
            .map(|r| r.record.clone())
            .collect();
        for line in &lines {
            if let Some((line_owner, record)) = parse_zone_line(line) {
                assert_eq!(line_owner, owner, "{}: {line}", case.name);
                assert_eq!(
                    record.zone_line(&line_owner),
                    *line,
                    "{}: line round-trips",
                    case.name
                );
                rrset.push(record);
            }
        }
        if rrset.is_empty() {
            // Removing the records hands the decision to the parent names.
            continue;
        }
        let fixed = dcv_caa::evaluate_rrset(&rrset, &case.request, &case.identity);
        assert_eq!(
            fixed.outcome,
            Outcome::Permit,
            "{}: {lines:#?} -> {:?}",
            case.name,
            fixed.reason_code
        );
    }
}

#[test]
fn no_suggestions_for_permit_or_lookup_failure() {
    for case in cases().into_iter().filter(|c| c.outcome != Outcome::Deny) {
        let decision = evaluate(&case.request, &case.identity, &case.lookups);
        assert!(
            suggest_records(&decision, &case.identity, &case.request).is_empty(),
            "{}",
            case.name
        );
    }
}
