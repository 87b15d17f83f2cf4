//! Property tests: the parsers never panic on arbitrary bytes, what they
//! accept round-trips, and evaluation never panics on arbitrary input.

mod common;

use common::{le, lenient, strict};
use dcv_caa::{
    CaaLookup, CaaRecord, IssueValue, LookupSecurity, NameLookup, Outcome, Request,
    ValidationMethod, escape_bytes, evaluate, suggest_records, unescape,
};
use proptest::prelude::*;

/// Values built from the RFC 8659 §4.2 grammar, with optional whitespace.
fn grammatical_value() -> impl Strategy<Value = String> {
    let label = "[A-Za-z0-9]([A-Za-z0-9-]{0,4}[A-Za-z0-9])?";
    let issuer =
        proptest::option::of(proptest::collection::vec(label, 1..4).prop_map(|l| l.join(".")));
    let wsp = "[ \t]{0,2}";
    let parameter =
        (label, wsp, wsp, "[!-:<-~]{0,8}").prop_map(|(t, a, b, v)| format!("{t}{a}={b}{v}"));
    let parameters = proptest::collection::vec(parameter, 0..4);
    (wsp, issuer, wsp, any::<bool>(), parameters, wsp).prop_map(
        |(w1, issuer, w2, semicolon, params, w3)| {
            let mut out = format!("{w1}{}{w2}", issuer.unwrap_or_default());
            if semicolon || !params.is_empty() {
                out.push(';');
                out.push_str(&w3);
                out.push_str(&params.join(&format!("{w3};{w3}")));
                out.push_str(&w3);
            }
            out
        },
    )
}

fn any_record() -> impl Strategy<Value = CaaRecord> {
    let tag = prop_oneof![
        Just(b"issue".to_vec()),
        Just(b"ISSUEWILD".to_vec()),
        Just(b"iodef".to_vec()),
        Just(b"tbs".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ];
    let value = prop_oneof![
        Just(b"letsencrypt.org".to_vec()),
        Just(b";".to_vec()),
        Just(b"letsencrypt.org; accounturi=x; validationmethods=http-01".to_vec()),
        grammatical_value().prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..24),
    ];
    (any::<u8>(), tag, value).prop_map(|(flags, tag, value)| CaaRecord::new(flags, tag, value))
}

fn any_lookup() -> impl Strategy<Value = CaaLookup> {
    prop_oneof![
        Just(CaaLookup::Empty),
        proptest::collection::vec(any_record(), 0..6).prop_map(CaaLookup::Records),
        prop_oneof![
            Just(LookupSecurity::ProvenInsecure),
            Just(LookupSecurity::Secure),
            Just(LookupSecurity::Bogus),
            Just(LookupSecurity::Indeterminate),
        ]
        .prop_map(|s| CaaLookup::failed(s, "SERVFAIL")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn rdata_parser_never_panics_and_round_trips(rdata in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(record) = CaaRecord::from_rdata(&rdata) {
            prop_assert_eq!(record.to_rdata().unwrap(), rdata);
            let _ = record.presentation();
        }
    }

    #[test]
    fn value_parser_never_panics_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(value) = IssueValue::parse(&bytes) {
            prop_assert_eq!(IssueValue::parse(value.render().as_bytes()), Ok(value));
        }
    }

    #[test]
    fn printable_values_never_panic_and_round_trip(text in "[ -~\t]{0,40}") {
        if let Ok(value) = IssueValue::parse(text.as_bytes()) {
            prop_assert_eq!(IssueValue::parse(value.render().as_bytes()), Ok(value));
        }
    }

    #[test]
    fn grammatical_values_are_accepted_and_round_trip(text in grammatical_value()) {
        let value = IssueValue::parse(text.as_bytes());
        prop_assert!(value.is_ok(), "{:?} rejected: {:?}", text, value);
        let value = value.unwrap();
        prop_assert_eq!(IssueValue::parse(value.render().as_bytes()), Ok(value));
    }

    #[test]
    fn escaping_is_lossless_and_printable(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let escaped = escape_bytes(&bytes);
        prop_assert!(escaped.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        prop_assert_eq!(unescape(&escaped).unwrap(), bytes);
    }

    #[test]
    fn presentation_value_round_trips(record in any_record()) {
        let text = record.presentation();
        if !record.tag.is_empty() && record.tag.iter().all(u8::is_ascii_alphanumeric) {
            let prefix = format!("{} {} \"", record.flags, String::from_utf8_lossy(&record.tag));
            let inner = text.strip_prefix(&prefix).and_then(|t| t.strip_suffix('"'));
            prop_assert!(inner.is_some(), "{}", text);
            prop_assert_eq!(unescape(inner.unwrap_or_default()).unwrap(), record.value.clone());
        } else {
            prop_assert!(text.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        }
    }

    #[test]
    fn evaluation_never_panics(
        lookups in proptest::collection::vec(any_lookup(), 1..4),
        wildcard in any::<bool>(),
        account in proptest::option::of(Just(common::ACCOUNT)),
        identity in prop_oneof![Just(le()), Just(strict()), Just(lenient())],
    ) {
        let names = ["a.example.com", "example.com", "com"];
        let lookups: Vec<NameLookup> = names
            .iter()
            .zip(lookups)
            .map(|(name, lookup)| NameLookup::new(*name, lookup))
            .collect();
        let name = if wildcard { "*.a.example.com" } else { "a.example.com" };
        let mut request = Request::new(name, ValidationMethod::Http01);
        if let Some(account) = account {
            request = request.with_account_uri(account);
        }
        let decision = evaluate(&request, &identity, &lookups);
        let lines = suggest_records(&decision, &identity, &request);
        prop_assert_eq!(decision.outcome == Outcome::Deny, !lines.is_empty());
        let _ = decision.summary();
    }
}
