//! The evidence a decision carries: per-record verdicts, the climb, the
//! alias chain, messages, suggestions and the JSON shape.

mod common;

use common::*;
use dcv_caa::{
    CaaDecision, CaaLookup, IgnoreReason, LookupSecurity, Outcome, ParsedValue, PropertyTag,
    ReasonCode, RecordVerdict, Rule, StepStatus, ValueErrorKind, evaluate, suggest_records,
};

#[test]
fn every_record_gets_a_verdict() {
    let set = vec![
        issue("pki.goog"),
        issue(";"),
        issue("letsencrypt.org."),
        issue("LetsEncrypt.org"),
        issue(&format!("letsencrypt.org; accounturi={OTHER_ACCOUNT}")),
        issue("letsencrypt.org; validationmethods=dns-01"),
        issuewild("letsencrypt.org"),
        rec(0, "iodef", "mailto:x@example.com"),
        rec(0, "issuemail", ";"),
        rec(0, "tbs", "x"),
    ];
    let request = http("www.example.com").with_account_uri(ACCOUNT);
    let decision = evaluate(&request, &le(), &apex(set));
    assert_eq!(decision.outcome, Outcome::Deny);
    let labels: Vec<&str> = decision
        .deciding_records
        .iter()
        .map(|r| r.verdict.label())
        .collect();
    assert_eq!(
        labels,
        [
            "issuer mismatch",
            "empty issuer",
            "malformed value",
            "issuer case mismatch",
            "accounturi mismatch",
            "validation method not allowed",
            "ignored",
            "ignored",
            "ignored",
            "ignored",
        ]
    );
    let records = &decision.deciding_records;
    assert_eq!(
        records[2].parsed,
        ParsedValue::Malformed {
            error: dcv_caa::ValueError {
                offset: 16,
                kind: ValueErrorKind::IssuerTrailingDot
            }
        }
    );
    assert_eq!(
        records[4].verdict,
        RecordVerdict::AccountUriMismatch {
            required: OTHER_ACCOUNT.to_owned(),
            recognised: true
        }
    );
    assert_eq!(
        records[6].verdict,
        RecordVerdict::Ignored {
            why: IgnoreReason::IssueWildForNonWildcard
        }
    );
    assert_eq!(records[7].property, PropertyTag::Iodef);
    assert_eq!(records[8].property, PropertyTag::Known("issuemail".into()));
    assert_eq!(records[9].property, PropertyTag::Unknown("tbs".into()));
    // The first record that names this CA decides the reason: case first.
    assert_eq!(
        decision.reason_code,
        ReasonCode::IssuerCaseMismatch {
            issuer: "LetsEncrypt.org".into()
        }
    );
}

#[test]
fn staging_account_is_not_recognised_by_production() {
    let request = http("example.com").with_account_uri(ACCOUNT);
    let set = vec![issue(&format!(
        "letsencrypt.org; accounturi={STAGING_ACCOUNT}"
    ))];
    let decision = evaluate(&request, &le(), &[("example.com", records(set))]);
    assert_eq!(
        decision.deciding_records[0].verdict,
        RecordVerdict::AccountUriMismatch {
            required: STAGING_ACCOUNT.to_owned(),
            recognised: false
        }
    );
}

#[test]
fn wildcard_issue_is_overridden_by_issuewild() {
    let decision = evaluate(
        &http("*.example.com"),
        &le(),
        &[(
            "example.com",
            records(vec![issue("letsencrypt.org"), issuewild("pki.goog")]),
        )],
    );
    assert!(decision.wildcard);
    assert_eq!(decision.evaluated_name, "example.com");
    assert_eq!(
        decision.deciding_records[0].verdict,
        RecordVerdict::Ignored {
            why: IgnoreReason::IssueOverriddenByIssueWild
        }
    );
    assert_eq!(decision.rule, Rule::IssueWild);
}

#[test]
fn critical_deny_is_distinguishable() {
    let critical = evaluate(
        &http("example.com"),
        &le(),
        &[(
            "example.com",
            records(vec![rec(128, "tbs", "Unknown"), issue("letsencrypt.org")]),
        )],
    );
    assert!(critical.is_critical_deny());
    assert_eq!(
        critical.reason_code,
        ReasonCode::CriticalUnknownTag {
            tags: vec!["tbs".into()]
        }
    );
    assert_eq!(
        critical.deciding_records[0].verdict,
        RecordVerdict::CriticalUnknownTag
    );
    assert!(critical.deciding_records[0].critical);
    // The issue record still gets its own verdict, for the report.
    assert_eq!(
        critical.deciding_records[1].verdict,
        RecordVerdict::Authorizes
    );

    let forbids = evaluate(
        &http("example.com"),
        &le(),
        &[("example.com", records(vec![issue("pki.goog")]))],
    );
    assert_eq!(forbids.outcome, Outcome::Deny);
    assert!(!forbids.is_critical_deny());
}

#[test]
fn climb_is_recorded() {
    let lookups = vec![
        at("a.www.example.com", CaaLookup::Empty),
        at("www.example.com", CaaLookup::Empty).via_cnames(["cdn.example.net"]),
        at("example.com", records(vec![issue("letsencrypt.org")])),
    ];
    let decision = evaluate(&http("a.www.example.com"), &le(), &lookups);
    let steps: Vec<(&str, &StepStatus)> = decision
        .climb
        .iter()
        .map(|s| (s.name.as_str(), &s.status))
        .collect();
    assert_eq!(
        steps,
        [
            ("a.www.example.com", &StepStatus::Empty),
            ("www.example.com", &StepStatus::Empty),
            ("example.com", &StepStatus::Relevant { records: 1 }),
        ]
    );
    assert_eq!(decision.climb[1].cname_chain, ["cdn.example.net"]);
    assert!(decision.cname_chain.is_empty());
}

#[test]
fn lookup_failure_names_the_rrset_above() {
    let lookups = www(
        CaaLookup::failed(LookupSecurity::Bogus, "SERVFAIL (EDE 7: Signature Expired)"),
        CaaLookup::Empty,
        records(vec![issue("letsencrypt.org")]),
    );
    let decision = evaluate(&http("www.example.com"), &lenient(), &lookups);
    assert_eq!(decision.outcome, Outcome::LookupFailed);
    assert_eq!(decision.rule.citation(), "BR 3.2.2.8.1");
    assert_eq!(
        decision.reason_code,
        ReasonCode::LookupFailedBelowRelevant {
            name: "www.example.com".into(),
            security: LookupSecurity::Bogus,
            detail: "SERVFAIL (EDE 7: Signature Expired)".into(),
            relevant_above: Some("com".into()),
        }
    );
    assert_eq!(
        decision.summary(),
        "CAA could not be checked: CAA lookup for www.example.com failed \
         (SERVFAIL (EDE 7: Signature Expired); DNSSEC: bogus); it would hide any records \
         that override those at com [BR 3.2.2.8.1]"
    );
}

#[test]
fn tolerated_failure_is_visible_in_the_climb() {
    let lookups = www(
        CaaLookup::failed(LookupSecurity::ProvenInsecure, "timeout"),
        CaaLookup::Empty,
        CaaLookup::Empty,
    );
    let decision = evaluate(&http("www.example.com"), &lenient(), &lookups);
    assert_eq!(decision.outcome, Outcome::Permit);
    assert!(matches!(
        decision.climb[0].status,
        StepStatus::FailureTolerated { .. }
    ));
}

#[test]
fn cname_evidence_points_at_the_target() {
    let lookups = vec![
        at("www.example.com", records(vec![issue("pki.goog")]))
            .via_cnames(["edge.cdn.example", "lb.cdn.example"]),
    ];
    let decision = evaluate(&http("www.example.com"), &le(), &lookups);
    assert_eq!(decision.relevant_name.as_deref(), Some("www.example.com"));
    assert_eq!(decision.rrset_owner(), Some("lb.cdn.example"));
    assert_eq!(
        decision.summary(),
        "CAA record for lb.cdn.example (via CNAME from www.example.com) prevents issuance: \
         this CA is not listed; issuers listed: \"pki.goog\" [RFC 8659 §4.2]"
    );
    // Fixes go where the RRset lives, not beside the CNAME.
    assert_eq!(
        suggest_records(&decision, &le(), &http("www.example.com")),
        [
            "; the CAA records live at lb.cdn.example. (CNAME target of www.example.com.): change them in that zone, or stop aliasing the name",
            "lb.cdn.example. CAA 0 issue \"letsencrypt.org\"",
        ]
    );
}

#[test]
fn summaries_read_like_ca_messages() {
    let deny = evaluate(
        &http("example.com"),
        &le(),
        &[("example.com", records(vec![issue(";")]))],
    );
    assert_eq!(
        deny.summary(),
        "CAA record for example.com prevents issuance: the records name no issuer, so no CA may issue [RFC 8659 §4.2]"
    );
    let none = evaluate(
        &http("example.com"),
        &le(),
        &[("example.com", CaaLookup::Empty), ("com", CaaLookup::Empty)],
    );
    assert_eq!(
        none.summary(),
        "CAA permits issuance: no CAA records at the name or any parent"
    );
    let no_account = evaluate(
        &http("example.com"),
        &le(),
        &[(
            "example.com",
            records(vec![issue(&format!(
                "letsencrypt.org; accounturi={ACCOUNT}"
            ))]),
        )],
    );
    assert!(
        no_account.to_string().contains("no account URI was given"),
        "{no_account}"
    );
}

#[test]
fn suggestions_are_exact_zone_lines() {
    let cases: Vec<(&str, dcv_caa::Request, Vec<dcv_caa::CaaRecord>, Vec<&str>)> = vec![
        (
            "other CA listed",
            http("www.example.com"),
            vec![issue("pki.goog")],
            vec!["example.com. CAA 0 issue \"letsencrypt.org\""],
        ),
        (
            "wildcard without issuewild keeps other CAs' wildcards",
            http("*.example.com"),
            vec![issue("pki.goog; cansignhttpexchanges=yes")],
            vec![
                "example.com. CAA 0 issue \"letsencrypt.org\"",
                "example.com. CAA 0 issuewild \"letsencrypt.org\"",
                "; with an issuewild record, issue no longer covers wildcards; these keep the other CAs' wildcard permission:",
                "example.com. CAA 0 issuewild \"pki.goog; cansignhttpexchanges=yes\"",
            ],
        ),
        (
            "wildcard with issuewild",
            http("*.example.com"),
            vec![issue("letsencrypt.org"), issuewild("pki.goog")],
            vec![
                "example.com. CAA 0 issue \"letsencrypt.org\"",
                "example.com. CAA 0 issuewild \"letsencrypt.org\"",
            ],
        ),
        (
            "account binding is kept",
            http("www.example.com").with_account_uri(ACCOUNT),
            vec![issue(&format!(
                "letsencrypt.org; accounturi={OTHER_ACCOUNT}"
            ))],
            vec![
                "example.com. CAA 0 issue \"letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/12345\"",
            ],
        ),
        (
            "account binding without a known account",
            http("www.example.com"),
            vec![issue(&format!("letsencrypt.org; accounturi={ACCOUNT}"))],
            vec![
                "; your records bind this CA to an account: add accounturi=<your account URI> to keep that binding",
                "example.com. CAA 0 issue \"letsencrypt.org\"",
            ],
        ),
        (
            "method binding is kept",
            dns("www.example.com"),
            vec![issue("letsencrypt.org; validationmethods=http-01")],
            vec!["example.com. CAA 0 issue \"letsencrypt.org; validationmethods=dns-01\""],
        ),
        (
            "malformed record for this CA",
            http("www.example.com"),
            vec![issue("letsencrypt.org.")],
            vec![
                "; replace (malformed value): example.com. CAA 0 issue \"letsencrypt.org.\"",
                "example.com. CAA 0 issue \"letsencrypt.org\"",
            ],
        ),
        (
            "critical unknown tag beside a permitting record",
            http("www.example.com"),
            vec![rec(128, "tbs", "Unknown"), issue("letsencrypt.org")],
            vec![
                "; remove (critical tag \"tbs\" is not understood by this CA, so it forbids issuance by anyone): example.com. CAA 128 tbs \"Unknown\"",
            ],
        ),
        (
            "critical unknown tag beside another CA",
            http("www.example.com"),
            vec![rec(128, "tbs", "Unknown"), issue("pki.goog")],
            vec![
                "; remove (critical tag \"tbs\" is not understood by this CA, so it forbids issuance by anyone): example.com. CAA 128 tbs \"Unknown\"",
                "example.com. CAA 0 issue \"letsencrypt.org\"",
            ],
        ),
        (
            "duplicate accounturi is replaced",
            http("www.example.com").with_account_uri(ACCOUNT),
            vec![issue(&format!(
                "letsencrypt.org; accounturi={ACCOUNT}; accounturi={ACCOUNT}"
            ))],
            vec![
                "; replace (accounturi duplicated): example.com. CAA 0 issue \"letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/12345; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/12345\"",
                "example.com. CAA 0 issue \"letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/12345\"",
            ],
        ),
        (
            "critical unknown tag alone",
            http("www.example.com"),
            vec![rec(128, "tbs", "Unknown")],
            vec![
                "; remove (critical tag \"tbs\" is not understood by this CA, so it forbids issuance by anyone): example.com. CAA 128 tbs \"Unknown\"",
                "; no other CAA records remain at example.com., so the CA will look at the parent names next: check again after the change",
            ],
        ),
    ];
    for (name, request, set, expected) in cases {
        let decision = evaluate(&request, &le(), &apex(set));
        assert_eq!(decision.outcome, Outcome::Deny, "{name}");
        assert_eq!(
            suggest_records(&decision, &le(), &request),
            expected,
            "{name}"
        );
    }
}

#[test]
fn decision_round_trips_through_json() {
    let set = vec![
        rec(128, "tbs", "\u{0}\"quoted\"\\"),
        dcv_caa::CaaRecord::new(0, "issue", b"ca.example\xff".as_slice()),
        issue(&format!("letsencrypt.org; accounturi={ACCOUNT}")),
        issuewild(";"),
    ];
    let lookups = vec![
        at("www.example.com", CaaLookup::Empty).via_cnames(["x.example.net"]),
        at("example.com", records(set)),
    ];
    let decision = evaluate(&http("www.example.com"), &le(), &lookups);
    let json = serde_json::to_string_pretty(&decision).unwrap();
    let back: CaaDecision = serde_json::from_str(&json).unwrap();
    assert_eq!(back, decision);
    // Raw bytes travel as escaped presentation text, never as raw UTF-8.
    assert!(json.contains(r#""value": "ca.example\\255""#), "{json}");
    assert!(json.contains(r#""code": "critical_unknown_tag""#), "{json}");

    let lookups_json = serde_json::to_string(&lookups).unwrap();
    let lookups_back: Vec<dcv_caa::NameLookup> = serde_json::from_str(&lookups_json).unwrap();
    assert_eq!(lookups_back, lookups);
}

#[test]
fn lookups_can_be_built_from_wire_rdata() {
    let served: [&[u8]; 2] = [b"\x00\x05issueletsencrypt.org", b"\x80\x03tbsx"];
    let lookup = CaaLookup::from_rdata(served).unwrap();
    assert_eq!(
        lookup,
        records(vec![issue("letsencrypt.org"), rec(128, "tbs", "x")])
    );
    assert_eq!(
        CaaLookup::from_rdata(Vec::<Vec<u8>>::new()),
        Ok(CaaLookup::Empty)
    );
    assert_eq!(
        CaaLookup::from_rdata([b"\x00\x00".as_slice()]),
        Err(dcv_caa::RdataError::ZeroTagLength)
    );
}

#[test]
fn plain_string_pairs_are_accepted() {
    let lookups: Vec<(String, CaaLookup)> = vec![
        ("www.example.com".to_owned(), CaaLookup::Empty),
        (
            "example.com".to_owned(),
            records(vec![issue("letsencrypt.org")]),
        ),
    ];
    let decision = evaluate(&http("www.example.com"), &le(), &lookups);
    assert_eq!(decision.outcome, Outcome::Permit);
}

#[test]
fn relevant_above_stops_at_another_failure() {
    let lookups = www(
        CaaLookup::failed(LookupSecurity::Indeterminate, "timeout"),
        CaaLookup::failed(LookupSecurity::Indeterminate, "timeout"),
        records(vec![issue("letsencrypt.org")]),
    );
    let decision = evaluate(&http("www.example.com"), &le(), &lookups);
    assert!(matches!(
        decision.reason_code,
        ReasonCode::LookupFailedBelowRelevant {
            relevant_above: None,
            ..
        }
    ));
}

#[test]
fn inputs_have_a_plain_json_shape() {
    let request = http("*.example.com").with_account_uri(ACCOUNT);
    let json = serde_json::to_value(&request).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"name": "*.example.com", "method": "http-01", "account_uri": ACCOUNT})
    );
    let other: dcv_caa::Request = serde_json::from_value(
        serde_json::json!({"name": "a.example", "method": "dns-persist-01", "account_uri": null}),
    )
    .unwrap();
    assert_eq!(
        other.method,
        dcv_caa::ValidationMethod::Other("dns-persist-01".into())
    );

    let lookup = CaaLookup::failed(LookupSecurity::ProvenInsecure, "timeout");
    assert_eq!(
        serde_json::to_value(&lookup).unwrap(),
        serde_json::json!({"failed": {"security": "proven_insecure", "detail": "timeout"}})
    );
    let identity = le();
    let back: dcv_caa::CaIdentity =
        serde_json::from_value(serde_json::to_value(&identity).unwrap()).unwrap();
    assert_eq!(back, identity);
}

#[test]
fn reason_codes_and_citations_are_stable() {
    let citations = [
        (Rule::RelevantRrset, "RFC 8659 §3"),
        (Rule::IssuerCritical, "RFC 8659 §4.1"),
        (Rule::Issue, "RFC 8659 §4.2"),
        (Rule::IssueWild, "RFC 8659 §4.3"),
        (Rule::AccountUri, "RFC 8657 §3"),
        (Rule::ValidationMethods, "RFC 8657 §4"),
        (Rule::LookupFailure, "BR 3.2.2.8"),
        (Rule::DnssecValidation, "BR 3.2.2.8.1"),
    ];
    for (rule, citation) in citations {
        assert_eq!(rule.citation(), citation);
        assert_eq!(rule.to_string(), citation);
    }
    let reason = ReasonCode::LookupNotProvided {
        name: "example.com".into(),
    };
    assert_eq!(reason.code(), "lookup_not_provided");
    assert_eq!(
        serde_json::to_value(&reason).unwrap(),
        serde_json::json!({"code": "lookup_not_provided", "name": "example.com"})
    );
}
