//! The RFC 8659 §3 Relevant RRset search over the caller's lookups, the
//! record evaluation of RFC 8659 §4 and RFC 8657, and the BR 3.2.2.8 /
//! 3.2.2.8.1 lookup-failure rules.

use serde::{Deserialize, Serialize};

use crate::decision::{
    CaaDecision, ClimbStep, DecidingRecord, IgnoreReason, Outcome, ParsedValue, PropertyTag,
    ReasonCode, RecordVerdict, Rule, StepStatus,
};
use crate::escape::escape_bytes;
use crate::lookup::{AsNameLookup, CaaLookup, LookupSecurity};
use crate::policy::{CaIdentity, FailurePolicy, Request};
use crate::record::CaaRecord;
use crate::value::{IssueValue, parse_validation_methods};

/// RFC 8657 §3 parameter tag.
const ACCOUNT_URI: &str = "accounturi";
/// RFC 8657 §4 parameter tag.
const VALIDATION_METHODS: &str = "validationmethods";

/// Lower-cases ASCII and drops one trailing dot; `None` for an empty name or
/// one with an empty label (these cannot be queried).
pub(crate) fn normalize_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.split('.').any(str::is_empty) {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

/// The names RFC 8659 §3 visits for `name`: itself, then each parent, up to
/// but not including the root.
fn climb_names(name: &str) -> Vec<String> {
    let mut names = vec![name.to_owned()];
    let mut rest = name;
    while let Some((_, parent)) = rest.split_once('.') {
        names.push(parent.to_owned());
        rest = parent;
    }
    names
}

/// Evaluates CAA for one request and one CA over the caller's lookups.
///
/// `lookups` holds one entry per queried name (the request name without
/// `*.`, then each parent, closest first; order does not matter, names are
/// compared case-insensitively, a trailing dot is optional). Each entry is
/// the resolver's answer *after* chasing aliases at that name (RFC 8659 §3):
/// the search climbs the original name's labels only, never the CNAME
/// target's, so lookups for other names are ignored. The search stops at
/// the first non-empty RRset; entries above it need not be provided. If a
/// name appears twice, the first entry counts.
///
/// A failed lookup at a name before the Relevant RRset is found stops the
/// search: it may hide records that would apply. Under
/// [`FailurePolicy::PermitIfProvenInsecure`] a failure in a proven-Insecure
/// zone is itself the permission (BR 3.2.2.8), so the search stops there too;
/// a Bogus answer never is (BR 3.2.2.8.1). A failure above the Relevant RRset
/// is never looked at.
pub fn evaluate<L: AsNameLookup>(
    request: &Request,
    identity: &CaIdentity,
    lookups: &[L],
) -> CaaDecision {
    let wildcard = request.is_wildcard();
    let base = request.name.strip_prefix("*.").unwrap_or(&request.name);
    let Some(evaluated_name) = normalize_name(base) else {
        return CaaDecision {
            outcome: Outcome::LookupFailed,
            evaluated_name: base.to_owned(),
            wildcard,
            relevant_name: None,
            cname_chain: Vec::new(),
            deciding_records: Vec::new(),
            climb: Vec::new(),
            rule: Rule::RelevantRrset,
            reason_code: ReasonCode::InvalidRequestName {
                name: request.name.clone(),
            },
        };
    };
    let names = climb_names(&evaluated_name);
    let find = |name: &str| {
        lookups
            .iter()
            .find(|l| normalize_name(l.queried_name()).as_deref() == Some(name))
    };

    let mut decision = CaaDecision {
        outcome: Outcome::Permit,
        evaluated_name,
        wildcard,
        relevant_name: None,
        cname_chain: Vec::new(),
        deciding_records: Vec::new(),
        climb: Vec::new(),
        rule: Rule::RelevantRrset,
        reason_code: ReasonCode::NoRelevantRrset,
    };

    for (position, name) in names.iter().enumerate() {
        let Some(found) = find(name) else {
            decision.climb.push(ClimbStep {
                name: name.clone(),
                cname_chain: Vec::new(),
                status: StepStatus::NotProvided,
            });
            decision.outcome = Outcome::LookupFailed;
            decision.reason_code = ReasonCode::LookupNotProvided { name: name.clone() };
            return decision;
        };
        let cname_chain = found.cname_chain().to_vec();
        match found.caa_lookup() {
            CaaLookup::Records(records) if !records.is_empty() => {
                decision.climb.push(ClimbStep {
                    name: name.clone(),
                    cname_chain: cname_chain.clone(),
                    status: StepStatus::Relevant {
                        records: records.len(),
                    },
                });
                let rrset = evaluate_rrset(records, request, identity);
                decision.outcome = rrset.outcome;
                decision.rule = rrset.rule;
                decision.reason_code = rrset.reason_code;
                decision.deciding_records = rrset.records;
                decision.relevant_name = Some(name.clone());
                decision.cname_chain = cname_chain;
                return decision;
            }
            CaaLookup::Records(_) | CaaLookup::Empty => decision.climb.push(ClimbStep {
                name: name.clone(),
                cname_chain,
                status: StepStatus::Empty,
            }),
            CaaLookup::Failed { security, detail } => {
                // BR 3.2.2.8: only a proven-Insecure failure may be permission,
                // and only if the CA chose to use that exception.
                if *security == LookupSecurity::ProvenInsecure
                    && identity.failure_policy == FailurePolicy::PermitIfProvenInsecure
                {
                    decision.climb.push(ClimbStep {
                        name: name.clone(),
                        cname_chain,
                        status: StepStatus::FailureTolerated {
                            security: *security,
                            detail: detail.clone(),
                        },
                    });
                    decision.rule = Rule::LookupFailure;
                    decision.reason_code =
                        ReasonCode::LookupFailurePermitted { name: name.clone() };
                    return decision;
                }
                decision.climb.push(ClimbStep {
                    name: name.clone(),
                    cname_chain,
                    status: StepStatus::Failed {
                        security: *security,
                        detail: detail.clone(),
                    },
                });
                let relevant_above = closest_rrset_above(&names[position + 1..], find);
                decision.outcome = Outcome::LookupFailed;
                // BR 3.2.2.8.1: a DNSSEC validation error is never permission.
                decision.rule = if *security == LookupSecurity::Bogus {
                    Rule::DnssecValidation
                } else {
                    Rule::LookupFailure
                };
                decision.reason_code = ReasonCode::LookupFailedBelowRelevant {
                    name: name.clone(),
                    security: *security,
                    detail: detail.clone(),
                    relevant_above,
                };
                return decision;
            }
        }
    }
    decision
}

/// The name that would hold the Relevant RRset if the failed lookup were
/// empty: the first non-empty RRset above, as long as every name in between
/// was looked up and empty. Evidence only.
fn closest_rrset_above<'a, L: AsNameLookup + 'a>(
    names: &[String],
    find: impl Fn(&str) -> Option<&'a L>,
) -> Option<String> {
    for name in names {
        match find(name).map(AsNameLookup::caa_lookup) {
            Some(CaaLookup::Records(records)) if !records.is_empty() => return Some(name.clone()),
            Some(CaaLookup::Records(_) | CaaLookup::Empty) => {}
            Some(CaaLookup::Failed { .. }) | None => return None,
        }
    }
    None
}

/// The evaluation of one Relevant RRset, without the search around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
#[non_exhaustive]
pub struct RrsetDecision {
    /// Permit or deny (never a lookup failure).
    pub outcome: Outcome,
    /// The rule it rests on.
    pub rule: Rule,
    /// Why.
    pub reason_code: ReasonCode,
    /// Every record with its verdict, in RRset order.
    pub records: Vec<DecidingRecord>,
}

/// Classifies a tag for this CA (tags match case-insensitively, RFC 8659 §4.1.1).
fn classify(record: &CaaRecord, identity: &CaIdentity) -> PropertyTag {
    if record.tag_is("issue") {
        PropertyTag::Issue
    } else if record.tag_is("issuewild") {
        PropertyTag::IssueWild
    } else if record.tag_is("iodef") {
        PropertyTag::Iodef
    } else if identity.knows_tag(&record.tag) {
        PropertyTag::Known(record.tag_display())
    } else {
        PropertyTag::Unknown(record.tag_display())
    }
}

/// Judges one `issue`/`issuewild` record that governs this request.
fn judge_issue(parsed: &ParsedValue, request: &Request, identity: &CaIdentity) -> RecordVerdict {
    let value = match parsed {
        ParsedValue::Issue { value } => value,
        ParsedValue::Malformed { error } => return RecordVerdict::Malformed { error: *error },
        ParsedValue::Opaque => return RecordVerdict::EmptyIssuer,
    };
    let Some(issuer) = value.issuer_domain.as_deref() else {
        return RecordVerdict::EmptyIssuer;
    };
    if !identity.recognises_issuer(issuer) {
        return if identity.issuer_differs_only_in_case(issuer) {
            RecordVerdict::IssuerCaseMismatch {
                issuer: issuer.to_owned(),
            }
        } else {
            RecordVerdict::IssuerMismatch {
                issuer: issuer.to_owned(),
            }
        };
    }
    // RFC 8657 §3: "A Property with multiple accounturi parameters is
    // unsatisfiable"; without one, any account matches.
    let accounts: Vec<&str> = value.parameter_values(ACCOUNT_URI).collect();
    match (accounts.as_slice(), request.account_uri.as_deref()) {
        ([_, _, ..], _) => return RecordVerdict::AccountUriDuplicate,
        ([required], None) => {
            return RecordVerdict::AccountUriNotProvided {
                required: (*required).to_owned(),
            };
        }
        ([required], Some(account)) if *required != account => {
            return RecordVerdict::AccountUriMismatch {
                required: (*required).to_owned(),
                recognised: identity.account_uri_plausible(required),
            };
        }
        // No accounturi, or the requesting account itself.
        ([] | [_], _) => {}
    }
    // RFC 8657 §4: the method in use must be listed.
    let methods: Vec<&str> = value.parameter_values(VALIDATION_METHODS).collect();
    match methods.as_slice() {
        [] => {}
        [_, _, ..] => return RecordVerdict::ValidationMethodsDuplicate,
        [list] => match parse_validation_methods(list) {
            None => {
                return RecordVerdict::ValidationMethodsMalformed {
                    value: (*list).to_owned(),
                };
            }
            Some(allowed) if !allowed.contains(&request.method.label()) => {
                return RecordVerdict::ValidationMethodNotAllowed {
                    allowed: allowed.into_iter().map(str::to_owned).collect(),
                };
            }
            Some(_) => {}
        },
    }
    RecordVerdict::Authorizes
}

/// Evaluates a Relevant RRset (RFC 8659 §4, RFC 8657) for one request and
/// one CA. An empty slice permits, like any set without restricting tags.
pub fn evaluate_rrset(
    records: &[CaaRecord],
    request: &Request,
    identity: &CaIdentity,
) -> RrsetDecision {
    let wildcard = request.is_wildcard();
    let has_issuewild = records.iter().any(|r| r.tag_is("issuewild"));
    // RFC 8659 §4.3: for a wildcard, any issuewild replaces every issue.
    let issuewild_chosen = wildcard && has_issuewild;
    let issue_rule = if issuewild_chosen {
        Rule::IssueWild
    } else {
        Rule::Issue
    };

    let deciding: Vec<DecidingRecord> = records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let property = classify(record, identity);
            let critical = identity.is_critical(record.flags);
            let parsed = match property {
                PropertyTag::Issue | PropertyTag::IssueWild => {
                    match IssueValue::parse(&record.value) {
                        Ok(value) => ParsedValue::Issue { value },
                        Err(error) => ParsedValue::Malformed { error },
                    }
                }
                _ => ParsedValue::Opaque,
            };
            let ignored = |why| RecordVerdict::Ignored { why };
            let verdict = match &property {
                PropertyTag::Unknown(_) if critical => RecordVerdict::CriticalUnknownTag,
                PropertyTag::Unknown(_) => ignored(IgnoreReason::UnknownNotCritical),
                PropertyTag::Iodef => ignored(IgnoreReason::Iodef),
                PropertyTag::Known(_) => ignored(IgnoreReason::KnownOtherTag),
                PropertyTag::IssueWild if !wildcard => {
                    ignored(IgnoreReason::IssueWildForNonWildcard)
                }
                PropertyTag::Issue if issuewild_chosen => {
                    ignored(IgnoreReason::IssueOverriddenByIssueWild)
                }
                PropertyTag::Issue | PropertyTag::IssueWild => {
                    judge_issue(&parsed, request, identity)
                }
            };
            DecidingRecord {
                index,
                presentation: record.presentation(),
                record: record.clone(),
                property,
                critical,
                parsed,
                verdict,
            }
        })
        .collect();

    let (outcome, rule, reason_code) = decide(&deciding, request, identity, issue_rule);
    RrsetDecision {
        outcome,
        rule,
        reason_code,
        records: deciding,
    }
}

/// Folds per-record verdicts into one outcome and the most useful reason.
fn decide(
    records: &[DecidingRecord],
    request: &Request,
    identity: &CaIdentity,
    issue_rule: Rule,
) -> (Outcome, Rule, ReasonCode) {
    // RFC 8659 §4.1: a critical unknown tag forbids every CA, whatever else
    // the RRset says.
    let critical: Vec<&DecidingRecord> = records
        .iter()
        .filter(|r| r.verdict == RecordVerdict::CriticalUnknownTag)
        .collect();
    if !critical.is_empty() {
        let mut tags: Vec<String> = Vec::new();
        for record in &critical {
            let tag = record.record.tag_display();
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        let rule = if critical.iter().any(|r| r.record.is_issuer_critical()) {
            Rule::IssuerCritical
        } else {
            Rule::Flag1CriticalCaPolicy
        };
        return (Outcome::Deny, rule, ReasonCode::CriticalUnknownTag { tags });
    }

    let chosen: Vec<&DecidingRecord> = records
        .iter()
        .filter(|r| !matches!(r.verdict, RecordVerdict::Ignored { .. }))
        .collect();
    // RFC 8659 §3: a Relevant RRset without restricting tags does not restrict.
    if chosen.is_empty() {
        return (
            Outcome::Permit,
            Rule::RelevantRrset,
            ReasonCode::NoRestrictingProperty,
        );
    }
    if let Some(record) = chosen
        .iter()
        .find(|r| r.verdict == RecordVerdict::Authorizes)
    {
        return (
            Outcome::Permit,
            issue_rule,
            ReasonCode::Authorized {
                record: record.index,
            },
        );
    }
    deny_reason(&chosen, request, identity, issue_rule).unwrap_or((
        Outcome::Deny,
        issue_rule,
        ReasonCode::EmptyIssuer,
    ))
}

/// Picks the reason closest to "this CA was meant to be allowed": records
/// that name this CA but fail a parameter first, then malformed values that
/// mention it, then other issuers, then malformed values, then `;`.
fn deny_reason(
    chosen: &[&DecidingRecord],
    request: &Request,
    identity: &CaIdentity,
    issue_rule: Rule,
) -> Option<(Outcome, Rule, ReasonCode)> {
    let deny = |rule, reason| Some((Outcome::Deny, rule, reason));
    for record in chosen {
        match &record.verdict {
            RecordVerdict::IssuerCaseMismatch { issuer } => {
                return deny(
                    issue_rule,
                    ReasonCode::IssuerCaseMismatch {
                        issuer: issuer.clone(),
                    },
                );
            }
            RecordVerdict::AccountUriDuplicate => {
                return deny(Rule::AccountUri, ReasonCode::AccountUriDuplicate);
            }
            RecordVerdict::AccountUriNotProvided { .. } => {
                let required = collect(chosen, |v| match v {
                    RecordVerdict::AccountUriNotProvided { required } => Some(required.clone()),
                    _ => None,
                });
                return deny(
                    Rule::AccountUri,
                    ReasonCode::AccountUriNotProvided { required },
                );
            }
            RecordVerdict::AccountUriMismatch { .. } => {
                let required = collect(chosen, |v| match v {
                    RecordVerdict::AccountUriMismatch { required, .. } => Some(required.clone()),
                    _ => None,
                });
                return deny(
                    Rule::AccountUri,
                    ReasonCode::AccountUriMismatch { required },
                );
            }
            RecordVerdict::ValidationMethodsDuplicate => {
                return deny(
                    Rule::ValidationMethods,
                    ReasonCode::ValidationMethodsDuplicate,
                );
            }
            RecordVerdict::ValidationMethodsMalformed { value } => {
                return deny(
                    Rule::ValidationMethods,
                    ReasonCode::ValidationMethodsMalformed {
                        value: value.clone(),
                    },
                );
            }
            RecordVerdict::ValidationMethodNotAllowed { .. } => {
                let allowed = chosen
                    .iter()
                    .filter_map(|r| match &r.verdict {
                        RecordVerdict::ValidationMethodNotAllowed { allowed } => {
                            Some(allowed.clone())
                        }
                        _ => None,
                    })
                    .flatten()
                    .fold(Vec::new(), push_distinct);
                let method = request.method.label().to_owned();
                return deny(
                    Rule::ValidationMethods,
                    ReasonCode::ValidationMethodNotAllowed { method, allowed },
                );
            }
            _ => {}
        }
    }
    let malformed = |record: &DecidingRecord| match &record.verdict {
        RecordVerdict::Malformed { error } => Some(ReasonCode::MalformedIssueValue {
            value: escape_bytes(&record.record.value),
            error: *error,
        }),
        _ => None,
    };
    if let Some(reason) = chosen
        .iter()
        .filter(|r| identity.value_mentions_issuer(&r.record.value))
        .find_map(|r| malformed(r))
    {
        return deny(issue_rule, reason);
    }
    let listed = collect(chosen, |v| match v {
        RecordVerdict::IssuerMismatch { issuer } => Some(issuer.clone()),
        _ => None,
    });
    if !listed.is_empty() {
        return deny(issue_rule, ReasonCode::IssuerNotListed { listed });
    }
    if let Some(reason) = chosen.iter().find_map(|r| malformed(r)) {
        return deny(issue_rule, reason);
    }
    None
}

fn push_distinct(mut acc: Vec<String>, item: String) -> Vec<String> {
    if !acc.contains(&item) {
        acc.push(item);
    }
    acc
}

fn collect(
    chosen: &[&DecidingRecord],
    pick: impl Fn(&RecordVerdict) -> Option<String>,
) -> Vec<String> {
    chosen
        .iter()
        .filter_map(|r| pick(&r.verdict))
        .fold(Vec::new(), push_distinct)
}
