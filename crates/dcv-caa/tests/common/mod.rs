//! Shared fixtures: a Let's Encrypt-like identity, a strict RFC identity,
//! and shorthands for records and lookups.
#![allow(dead_code)]

use dcv_caa::{
    CaIdentity, CaaLookup, CaaRecord, FailurePolicy, IssuerMatch, LookupSecurity, NameLookup,
    Request, ValidationMethod,
};

pub const ACCOUNT: &str = "https://acme-v02.api.letsencrypt.org/acme/acct/12345";
pub const OTHER_ACCOUNT: &str = "https://acme-v02.api.letsencrypt.org/acme/acct/999";
pub const STAGING_ACCOUNT: &str = "https://acme-staging-v02.api.letsencrypt.org/acme/acct/12345";

/// Modelled on Boulder: exact issuer match, flag 1 critical, issuemail and
/// issuevmc known, failures never permit.
pub fn le() -> CaIdentity {
    CaIdentity::new(["letsencrypt.org"])
        .with_issuer_match(IssuerMatch::CaseSensitive)
        .with_flag1_critical(true)
        .with_known_tags(["issuemail", "issuevmc"])
        .with_failure_policy(FailurePolicy::NeverPermit)
        .with_account_uri_prefixes([
            "https://acme-v02.api.letsencrypt.org/acme/acct/",
            "https://acme-v01.api.letsencrypt.org/acme/reg/",
        ])
}

/// RFC 8659 to the letter: bit 128 only, case-insensitive names.
pub fn strict() -> CaIdentity {
    CaIdentity::new(["letsencrypt.org"])
}

/// A CA that uses the BR 3.2.2.8 exception for proven-Insecure zones.
pub fn lenient() -> CaIdentity {
    strict().with_failure_policy(FailurePolicy::PermitIfProvenInsecure)
}

pub fn rec(flags: u8, tag: &str, value: &str) -> CaaRecord {
    CaaRecord::new(flags, tag, value)
}

pub fn issue(value: &str) -> CaaRecord {
    rec(0, "issue", value)
}

pub fn issuewild(value: &str) -> CaaRecord {
    rec(0, "issuewild", value)
}

pub fn records(records: Vec<CaaRecord>) -> CaaLookup {
    CaaLookup::Records(records)
}

pub fn failed(security: LookupSecurity) -> CaaLookup {
    CaaLookup::failed(security, "SERVFAIL")
}

pub fn at(name: &str, lookup: CaaLookup) -> NameLookup {
    NameLookup::new(name, lookup)
}

pub fn http(name: &str) -> Request {
    Request::new(name, ValidationMethod::Http01)
}

pub fn dns(name: &str) -> Request {
    Request::new(name, ValidationMethod::Dns01)
}

/// `www.example.com`, `example.com`, `com`: the usual three lookups.
pub fn www(www: CaaLookup, apex: CaaLookup, tld: CaaLookup) -> Vec<NameLookup> {
    vec![
        at("www.example.com", www),
        at("example.com", apex),
        at("com", tld),
    ]
}

/// Only the apex has records; `www` and `com` are empty.
pub fn apex(rrset: Vec<CaaRecord>) -> Vec<NameLookup> {
    www(CaaLookup::Empty, records(rrset), CaaLookup::Empty)
}

/// Parses a suggested zone line `owner. CAA flags tag "value"` back into
/// its owner and record; `None` for comments.
pub fn parse_zone_line(line: &str) -> Option<(String, CaaRecord)> {
    if line.starts_with(';') {
        return None;
    }
    let (owner, rest) = line.split_once(" CAA ").expect("zone line has CAA");
    let mut parts = rest.splitn(3, ' ');
    let flags: u8 = parts.next()?.parse().expect("flags");
    let tag = parts.next()?;
    let quoted = parts.next()?;
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .expect("quoted value");
    let value = dcv_caa::unescape(inner).expect("escaped value");
    Some((owner.to_owned(), CaaRecord::new(flags, tag, value)))
}
