//! Ready-to-paste zone-file lines that would let the CA issue, written at
//! the name where the Relevant RRset lives (the CNAME target if there was
//! one: CAA cannot sit beside a CNAME, RFC 1034 §3.6.2).
//!
//! Advice that is not a record to add is written as a zone-file comment
//! (`; ...`), so pasting every line is harmless.

use crate::decision::{
    CaaDecision, DecidingRecord, Outcome, ParsedValue, PropertyTag, RecordVerdict,
};
use crate::evaluate::evaluate_rrset;
use crate::policy::{CaIdentity, Request};
use crate::record::{CaaRecord, absolute};
use crate::value::{IssueValue, Parameter};

/// Zone-file lines to fix a [`Outcome::Deny`]; empty for a permit or a
/// lookup failure (no record can fix DNS that does not answer).
///
/// For a critical unknown tag: advice to remove those records, then, if the
/// rest would still deny, the lines below. Otherwise `issue` for the CA's
/// first issuer domain name (plus `issuewild` for a wildcard request),
/// carrying over `accounturi` / `validationmethods` restrictions the owner
/// already uses for this CA.
pub fn suggest_records(
    decision: &CaaDecision,
    identity: &CaIdentity,
    request: &Request,
) -> Vec<String> {
    if decision.outcome != Outcome::Deny {
        return Vec::new();
    }
    let Some(owner) = decision.rrset_owner() else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    if let (Some(queried), false) = (&decision.relevant_name, decision.cname_chain.is_empty()) {
        lines.push(format!(
            "; the CAA records live at {} (CNAME target of {}): change them in that zone, or stop aliasing the name",
            absolute(owner),
            absolute(queried)
        ));
    }
    let critical: Vec<&DecidingRecord> = decision
        .deciding_records
        .iter()
        .filter(|r| r.verdict == RecordVerdict::CriticalUnknownTag)
        .collect();
    if critical.is_empty() {
        add_issue_lines(
            &mut lines,
            owner,
            &decision.deciding_records,
            identity,
            request,
        );
        return lines;
    }

    for record in &critical {
        lines.push(format!(
            "; remove (critical tag \"{}\" is not understood by this CA, so it forbids issuance by anyone): {}",
            record.record.tag_display(),
            record.record.zone_line(owner)
        ));
    }
    let remaining: Vec<CaaRecord> = decision
        .deciding_records
        .iter()
        .filter(|r| r.verdict != RecordVerdict::CriticalUnknownTag)
        .map(|r| r.record.clone())
        .collect();
    if remaining.is_empty() {
        lines.push(format!(
            "; no other CAA records remain at {}, so the CA will look at the parent names next: check again after the change",
            absolute(owner)
        ));
        return lines;
    }
    let again = evaluate_rrset(&remaining, request, identity);
    if again.outcome != Outcome::Permit {
        add_issue_lines(&mut lines, owner, &again.records, identity, request);
    }
    lines
}

/// Whether `text` is a valid RFC 8659 §4.2 parameter value.
fn valid_parameter_value(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, 0x21..=0x3a | 0x3c..=0x7e))
}

/// Records of the chosen set that name this CA (exactly or in other case).
fn records_for_ca<'a>(records: &'a [DecidingRecord], identity: &CaIdentity) -> Vec<&'a IssueValue> {
    records
        .iter()
        .filter(|r| !matches!(r.verdict, RecordVerdict::Ignored { .. }))
        .filter_map(|r| match &r.parsed {
            ParsedValue::Issue { value } => Some(value),
            _ => None,
        })
        .filter(|value| {
            value.issuer_domain.as_deref().is_some_and(|issuer| {
                identity
                    .issuer_domains
                    .iter()
                    .any(|own| own.eq_ignore_ascii_case(issuer))
            })
        })
        .collect()
}

fn add_issue_lines(
    lines: &mut Vec<String>,
    owner: &str,
    records: &[DecidingRecord],
    identity: &CaIdentity,
    request: &Request,
) {
    let Some(issuer) = identity.issuer_domains.first() else {
        return;
    };
    let ours = records_for_ca(records, identity);
    let mut parameters = Vec::new();

    if ours
        .iter()
        .any(|v| v.parameter_values("accounturi").next().is_some())
    {
        match request.account_uri.as_deref() {
            Some(uri) if valid_parameter_value(uri) => parameters.push(Parameter {
                tag: "accounturi".to_owned(),
                value: uri.to_owned(),
            }),
            _ => lines.push(
                "; your records bind this CA to an account: add accounturi=<your account URI> to keep that binding"
                    .to_owned(),
            ),
        }
    }
    let method = request.method.label();
    if ours
        .iter()
        .any(|v| v.parameter_values("validationmethods").next().is_some())
        && !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        parameters.push(Parameter {
            tag: "validationmethods".to_owned(),
            value: method.to_owned(),
        });
    }

    for record in records {
        let replace = match &record.verdict {
            RecordVerdict::IssuerCaseMismatch { .. }
            | RecordVerdict::AccountUriDuplicate
            | RecordVerdict::ValidationMethodsDuplicate
            | RecordVerdict::ValidationMethodsMalformed { .. } => true,
            RecordVerdict::Malformed { .. } => identity.value_mentions_issuer(&record.record.value),
            _ => false,
        };
        if replace {
            lines.push(format!(
                "; replace ({}): {}",
                record.verdict.label(),
                record.record.zone_line(owner)
            ));
        }
    }

    let value = IssueValue {
        issuer_domain: Some(issuer.clone()),
        parameters,
    }
    .render();
    lines.push(CaaRecord::new(0, "issue", value.as_bytes()).zone_line(owner));
    if !request.is_wildcard() {
        return;
    }
    lines.push(CaaRecord::new(0, "issuewild", value.as_bytes()).zone_line(owner));

    // RFC 8659 §4.3: once an issuewild exists, issue no longer covers
    // wildcards. Keep wildcard permission for the CAs issue already lists.
    let has_issuewild = records.iter().any(|r| r.property == PropertyTag::IssueWild);
    if has_issuewild {
        return;
    }
    let others: Vec<&DecidingRecord> = records
        .iter()
        .filter(|r| r.property == PropertyTag::Issue)
        .filter(|r| matches!(r.verdict, RecordVerdict::IssuerMismatch { .. }))
        .collect();
    if !others.is_empty() {
        lines.push(
            "; with an issuewild record, issue no longer covers wildcards; these keep the other CAs' wildcard permission:"
                .to_owned(),
        );
        for record in others {
            lines
                .push(CaaRecord::new(0, "issuewild", record.record.value.clone()).zone_line(owner));
        }
    }
}
