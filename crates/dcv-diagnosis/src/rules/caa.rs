//! CAA findings (troubleshooting page, "CAA records"): the engine's lookups
//! become `dcv_caa` inputs, each selected CA is evaluated for each method
//! (RFC 8657 `validationmethods` can differ per method), and identical
//! outcomes are merged into one finding naming every CA it blocks.

use dcv_caa::{
    CaIdentity, CaaDecision, CaaLookup, CaaRecord, FailurePolicy, IssuerMatch, LookupSecurity,
    NameLookup, Outcome, ReasonCode, Request, ValidationMethod, evaluate, suggest_records,
};
use dcv_dns::{
    InsecureReason, Lookup, Outcome as DnsOutcome, RecordType, Security, ServFailReason,
    ServerVerdict,
};

use crate::ca::{CaId, CaProfile, CaaFailurePolicy};
use crate::codes::FindingCode;
use crate::config::CheckConfig;
use crate::evidence::{CaaEvidence, DnsLookupEvidence};
use crate::messages;
use crate::model::{Evidence, Finding, Method, Severity};
use crate::runner::Observations;

use super::finding;

/// The `dcv_caa` view of a CA from our catalogue.
pub fn identity(profile: &CaProfile) -> CaIdentity {
    let mut id = CaIdentity::new(profile.caa_issuer_domains.iter().copied())
        .with_issuer_match(if profile.caa_issuer_case_sensitive {
            IssuerMatch::CaseSensitive
        } else {
            IssuerMatch::CaseInsensitive
        })
        .with_flag1_critical(profile.caa_flag1_critical)
        .with_known_tags(profile.caa_known_tags.iter().copied())
        .with_failure_policy(match profile.caa_failure_policy {
            CaaFailurePolicy::NeverPermit => FailurePolicy::NeverPermit,
            CaaFailurePolicy::PermitIfProvenInsecure => FailurePolicy::PermitIfProvenInsecure,
        });
    if let Some(prefix) = profile.acme_account_uri_prefix {
        id = id.with_account_uri_prefixes([prefix]);
    }
    id
}

/// What DNSSEC proved, in BR 3.2.2.8's terms: "Insecure as defined in RFC
/// 4035 §4.3" needs a trust anchor and a signed proof that a delegation has
/// no (usable) DS. With no anchor covering the name nothing is proven, which
/// RFC 4035 §4.3 calls Indeterminate.
fn lookup_security(security: &Security) -> LookupSecurity {
    match security {
        Security::Secure => LookupSecurity::Secure,
        Security::Insecure(InsecureReason::NoTrustAnchor { .. }) | Security::Indeterminate(_) => {
            LookupSecurity::Indeterminate
        }
        Security::Insecure(_) => LookupSecurity::ProvenInsecure,
        Security::Bogus(_) => LookupSecurity::Bogus,
    }
}

/// One engine lookup as the CAA policy's input (RFC 8659 §3: NXDOMAIN and
/// NODATA are both "empty"; the resolver has already chased aliases).
pub fn caa_input(lookup: &Lookup) -> NameLookup {
    let security = lookup_security(&lookup.security);
    let input = match &lookup.outcome {
        DnsOutcome::Answer { records } => {
            let parsed: Result<Vec<CaaRecord>, _> = records
                .iter()
                .filter(|r| r.rtype == RecordType::CAA)
                .map(|r| CaaRecord::from_rdata(&r.wire_rdata))
                .collect();
            match parsed {
                Ok(records) if records.is_empty() => CaaLookup::Empty,
                Ok(records) => CaaLookup::Records(records),
                Err(e) => CaaLookup::failed(security, format!("malformed CAA RDATA: {e}")),
            }
        }
        DnsOutcome::NxDomain | DnsOutcome::NoData => CaaLookup::Empty,
        DnsOutcome::ServFail { why } => CaaLookup::failed(security, format!("SERVFAIL: {why}")),
    };
    NameLookup::new(lookup.qname.without_dot(), input).via_cnames(
        lookup
            .chain
            .iter()
            .map(|l| l.target.without_dot().to_owned()),
    )
}

fn method_label(m: Method) -> ValidationMethod {
    match m {
        Method::Http => ValidationMethod::Http01,
        Method::Dns => ValidationMethod::Dns01,
    }
}

/// A decision with the CA and method it was made for.
struct Decided {
    ca: CaId,
    method: Method,
    decision: CaaDecision,
    request: Request,
}

/// CAA findings for every selected CA and method.
pub fn findings(cfg: &CheckConfig, obs: &Observations) -> Vec<Finding> {
    if obs.caa.is_empty() {
        return Vec::new();
    }
    let inputs: Vec<NameLookup> = obs.caa.iter().map(caa_input).collect();
    let mut decided = Vec::new();
    for ca in &cfg.cas {
        let id = identity(ca.profile());
        for m in &cfg.methods {
            let mut request = Request::new(cfg.hostname.to_string(), method_label(*m));
            if let Some(uri) = &cfg.account_uri {
                request = request.with_account_uri(uri.clone());
            }
            let decision = evaluate(&request, &id, &inputs);
            if decision.outcome != Outcome::Permit {
                decided.push(Decided {
                    ca: *ca,
                    method: *m,
                    decision,
                    request,
                });
            }
        }
    }
    // Merge CAs (and methods) that fail for the same reason at the same place
    // on the same methods: a CA refused on one method only must not join a
    // finding that blocks every method.
    let reason_key = |d: &Decided| {
        format!(
            "{:?}|{:?}|{}",
            d.decision.outcome,
            d.decision.rrset_owner(),
            d.decision.reason_code.code()
        )
    };
    let mut groups: Vec<(String, Vec<&Decided>)> = Vec::new();
    for d in &decided {
        let reason = reason_key(d);
        let methods: Vec<Method> = decided
            .iter()
            .filter(|o| o.ca == d.ca && reason_key(o) == reason)
            .map(|o| o.method)
            .collect();
        let key = format!("{reason}|{methods:?}");
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(d),
            None => groups.push((key, vec![d])),
        }
    }
    groups
        .into_iter()
        .map(|(_, members)| group_finding(cfg, obs, &members))
        .collect()
}

/// The engine lookup behind a failed decision: the one for the name the
/// climb stopped at, if that lookup failed at the resolver (a malformed RDATA
/// failure has no SERVFAIL to show).
fn failed_lookup<'a>(obs: &'a Observations, d: &CaaDecision) -> Option<&'a Lookup> {
    let ReasonCode::LookupFailedBelowRelevant { name, .. } = &d.reason_code else {
        return None;
    };
    obs.caa
        .iter()
        .filter(|l| matches!(l.outcome, DnsOutcome::ServFail { .. }))
        .find(|l| l.qname.without_dot().eq_ignore_ascii_case(name))
}

/// Whether every server of the zone that failed the lookup was silent (or
/// unreachable), rather than answering with an error: Boulder then says the
/// query timed out.
fn timed_out(lookup: &Lookup) -> bool {
    let DnsOutcome::ServFail {
        why: ServFailReason::AllServersFailed { zone, .. },
    } = &lookup.outcome
    else {
        return false;
    };
    let failures: Vec<&ServerVerdict> = lookup
        .server_answers
        .iter()
        .filter(|a| &a.zone == zone)
        .map(|a| &a.verdict)
        .filter(|v| !v.is_usable())
        .collect();
    !failures.is_empty()
        && failures.iter().all(|v| {
            matches!(
                v,
                ServerVerdict::Timeout | ServerVerdict::NetworkError { .. }
            )
        })
}

fn group_finding(cfg: &CheckConfig, obs: &Observations, members: &[&Decided]) -> Finding {
    let first = members[0];
    let d = &first.decision;
    let mut cas: Vec<CaId> = members.iter().map(|m| m.ca).collect();
    cas.dedup();
    let mut methods: Vec<Method> = members.iter().map(|m| m.method).collect();
    methods.sort();
    methods.dedup();
    // A decision that holds for every selected method blocks the CA outright.
    let method = if methods.len() == cfg.methods.len() {
        None
    } else {
        methods.first().copied()
    };
    let hostname = cfg.hostname.to_string();
    let found_at = d.rrset_owner().unwrap_or(cfg.hostname.base()).to_owned();
    let ca_names: Vec<&str> = cas.iter().map(|c| c.profile().name).collect();
    let (code, summary) = match d.outcome {
        Outcome::Deny if d.is_critical_deny() => (
            FindingCode::CaaCriticalUnknown,
            format!(
                "CAA at {found_at} has a critical property {} cannot process, so it does not issue for {hostname}: {}",
                ca_names.join(", "),
                d.reason_code
            ),
        ),
        Outcome::Deny => (
            FindingCode::CaaForbids,
            format!(
                "CAA at {found_at} does not allow {} for {hostname}: {}",
                ca_names.join(", "),
                d.reason_code
            ),
        ),
        _ => (
            FindingCode::CaaLookupFailed,
            format!("CAA for {hostname} cannot be checked: {}", d.reason_code),
        ),
    };
    let mut f = finding(code, Severity::Error, summary);
    f.blocks = cas.clone();
    f.method = method;
    f.reference = format!("{}; {}", d.rule.citation(), code.seed());
    if code == FindingCode::CaaLookupFailed {
        let failed = failed_lookup(obs, d);
        let bogus = failed.and_then(|l| match &l.security {
            Security::Bogus(r) => Some(r.clone()),
            _ => match &l.outcome {
                DnsOutcome::ServFail {
                    why: ServFailReason::Bogus(r),
                } => Some(r.clone()),
                _ => None,
            },
        });
        if let (Some(l), Some(r)) = (failed, &bogus) {
            // Both name the query that failed, which may be a parent's.
            f.ca_message = Some(messages::cloudflare_dnssec_bogus(
                "CAA",
                l.qname.without_dot(),
            ));
            f.acme_detail = Some(messages::boulder_caa_lookup_failed(
                &hostname,
                &r.boulder_problem(l.qtype, &l.qname),
            ));
            f.explanation = format!(
                "The CAA lookup at {} fails DNSSEC validation ({r}). A DNSSEC failure is never permission to issue (BR 3.2.2.8.1, since 2026-03-15), so every CA stops.",
                l.qname.without_dot()
            );
        } else if let Some(l) = failed.filter(|l| timed_out(l)) {
            // Boulder: `DNS problem: query timed out looking up CAA for <name>`.
            f.ca_message = Some(messages::CLOUDFLARE_DNS_TROUBLE.to_owned());
            f.acme_detail = Some(messages::boulder_caa_lookup_failed(
                &hostname,
                &format!(
                    "DNS problem: query timed out looking up CAA for {}",
                    l.qname.without_dot()
                ),
            ));
            f.explanation = format!(
                "No authoritative server answered the CAA query for {} (RFC 8659 §6.1: firewalls and middleboxes that drop unknown query types look like this). A lookup that never answers is never permission to issue for {}.",
                l.qname.without_dot(),
                ca_names.join(", ")
            );
        } else {
            f.ca_message = Some(messages::CLOUDFLARE_SERVFAIL.to_owned());
            if let Some(l) = failed {
                f.acme_detail = Some(messages::boulder_caa_lookup_failed(
                    &hostname,
                    &messages::boulder_dns_problem("SERVFAIL", "CAA", l.qname.without_dot()),
                ));
            }
            let why_not = match &d.reason_code {
                ReasonCode::LookupFailedBelowRelevant {
                    security: LookupSecurity::ProvenInsecure,
                    ..
                } => format!(
                    "The zone is proven unsigned, but {} never {} a failure as permission.",
                    ca_names.join(", "),
                    if ca_names.len() == 1 { "takes" } else { "take" }
                ),
                ReasonCode::LookupFailedBelowRelevant { security, .. } => format!(
                    "Here DNSSEC does not prove the zone unsigned (it is {security}), so no CA may."
                ),
                _ => String::new(),
            };
            f.explanation = format!(
                "A CAA lookup at or below the name that holds the relevant CAA records failed, so records that would apply may be hidden. CAs may treat a failure as permission only in a zone proven unsigned (BR 3.2.2.8). {why_not}"
            )
            .trim_end()
            .to_owned();
        }
        f.fix = "Make every authoritative server answer CAA queries: NOERROR with an empty answer when there are no CAA records (RFC 8659 §6.2), and fix the DNSSEC chain if it is broken. CAA must resolve from every location.".to_owned();
        if let Some(l) = failed {
            f.evidence
                .push(Evidence::DnsLookup(DnsLookupEvidence::from_lookup(l)));
        }
    } else {
        let value = cas[0].profile().caa_value_to_add;
        f.ca_message = Some(messages::cloudflare_caa_blocks(value));
        if cas.contains(&CaId::Letsencrypt) {
            // Boulder names the name it queried (`caaResult.name`), not the
            // end of the alias chain the resolver followed from it.
            let queried = d.relevant_name.as_deref().unwrap_or(&found_at);
            f.acme_detail = Some(messages::boulder_caa_denied(&hostname, queried));
        }
        let mut lines: Vec<String> = Vec::new();
        for m in members {
            for line in suggest_records(&m.decision, &identity(m.ca.profile()), &m.request) {
                if !lines.contains(&line) {
                    lines.push(line);
                }
            }
        }
        let parent_note = if found_at == cfg.hostname.base() {
            String::new()
        } else {
            format!(
                " The records live at {found_at}, not at {hostname}: in a subdomain setup they are managed by the DNS provider of {found_at}, and they must allow every CA that may issue (Cloudflare rotates its partner CAs)."
            )
        };
        f.fix = if lines.is_empty() {
            format!(
                "Remove the CAA records at {found_at}, or add records that authorise the CA.{parent_note}"
            )
        } else {
            format!(
                "Add at {found_at} (or remove every CAA record there):\n{}{parent_note}",
                lines.join("\n")
            )
        };
    }
    for m in members {
        let ev = Evidence::Caa(CaaEvidence::from_decision(&m.decision));
        if !f.evidence.contains(&ev) {
            f.evidence.push(ev);
        }
    }
    f
}
