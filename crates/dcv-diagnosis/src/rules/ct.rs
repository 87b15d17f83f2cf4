//! `rate_limited_duplicate`, `rate_limited_domain` and `ct_unavailable`:
//! Let's Encrypt's certificate limits as Certificate Transparency shows them
//! (`dcv_ct::assess`), or why the CT search could not tell.

use dcv_ct::{Assessment, CtError, LimitState, LimitStatus};

use crate::ca::CaId;
use crate::codes::FindingCode;
use crate::evidence::{CtCertificateEvidence, CtFailureEvidence, CtLimitEvidence};
use crate::messages::{
    CLOUDFLARE_RATE_LIMITED, boulder_domain_limited, boulder_duplicate_limited, go_duration,
};
use crate::model::{Evidence, Finding, Severity};

use super::finding;

/// The CT count's context: where it asked and which CAs the check covers.
#[derive(Debug, Clone)]
pub struct CtContext<'a> {
    pub source: &'a str,
    pub queries: &'a [String],
    pub cas: &'a [CaId],
}

fn fmt_time(t: time::OffsetDateTime) -> String {
    dcv_ct::model::format_time(t)
}

fn evidence(ctx: &CtContext<'_>, a: &Assessment, state: &LimitState) -> CtLimitEvidence {
    CtLimitEvidence {
        source: ctx.source.to_owned(),
        queries: ctx.queries.to_vec(),
        limit: state.limit.name.to_owned(),
        doc: state.limit.doc_url(),
        key: state.key.clone(),
        used: state.used(),
        burst: state.limit.burst,
        remaining: state.remaining,
        refill_every: go_duration(state.limit.emission_interval()),
        next_possible: state.next_possible.map(fmt_time),
        renewal_of: a.renewal_of.as_ref().map(|r| {
            format!(
                "{} issued {} by {}",
                r.names,
                fmt_time(r.issued_at),
                r.issuer
            )
        }),
        certificates: state
            .in_period
            .iter()
            .map(|i| CtCertificateEvidence {
                crtsh_ids: i.crtsh_ids.clone(),
                serial: i.serial.clone(),
                issuer: i.issuer.clone(),
                names: i.names.iter().map(str::to_owned).collect(),
                issued_at: fmt_time(i.issued_at),
            })
            .collect(),
        lets_encrypt_certificates: a.lets_encrypt_certificates,
        other_ca_certificates: a.other_ca_certificates,
        caveats: a.caveats.clone(),
    }
}

/// "5 certificates for [a, b] since 2026-08-01 10:00:00 UTC".
fn issued_text(state: &LimitState) -> String {
    match state.in_period.last() {
        Some(oldest) => format!(
            "{} certificate{} in the last 7 days (the oldest {})",
            state.in_period.len(),
            if state.in_period.len() == 1 { "" } else { "s" },
            fmt_time(oldest.issued_at)
        ),
        None => "no certificate in the last 7 days".to_owned(),
    }
}

fn limit_finding(
    ctx: &CtContext<'_>,
    a: &Assessment,
    state: &LimitState,
    code: FindingCode,
    what: &str,
) -> Finding {
    let lets_encrypt_checked = ctx.cas.contains(&CaId::Letsencrypt);
    // Counted and fine is said too (info): the user asked, and "1 of 5
    // used" is evidence for the next order.
    let severity = match state.status {
        LimitStatus::Reached if lets_encrypt_checked => Severity::Error,
        LimitStatus::Reached | LimitStatus::NearlyReached => Severity::Warning,
        LimitStatus::Ok | LimitStatus::Exempt => Severity::Info,
    };
    let summary = match (state.status, state.next_possible) {
        (LimitStatus::Exempt, _) => format!(
            "Let's Encrypt's limit for {what} does not apply: this order renews {} ({} of {} used by new sets)",
            a.renewal_of.as_ref().map_or_else(String::new, |r| format!(
                "{} issued {}",
                r.names,
                fmt_time(r.issued_at)
            )),
            state.used(),
            state.limit.burst
        ),
        (LimitStatus::Reached, Some(next)) => format!(
            "Let's Encrypt's limit of {} certificates per 7 days for {what} is reached: {}; the next certificate is possible at {}",
            state.limit.burst,
            issued_text(state),
            fmt_time(next)
        ),
        _ => format!(
            "{} of Let's Encrypt's {} certificates per 7 days for {what} are used ({}); {} left",
            state.used(),
            state.limit.burst,
            issued_text(state),
            state.remaining
        ),
    };
    let mut f = finding(code, severity, summary);
    if severity == Severity::Error {
        f.blocks = vec![CaId::Letsencrypt];
        f.ca_message = Some(CLOUDFLARE_RATE_LIMITED.to_owned());
        let retry = state.next_possible.map(fmt_time).unwrap_or_default();
        f.acme_detail = Some(match code {
            FindingCode::RateLimitedDomain => boulder_domain_limited(
                state.limit.burst,
                &state.key,
                state.limit.period,
                &retry,
                &state.limit.doc_url(),
            ),
            _ => boulder_duplicate_limited(
                state.limit.burst,
                state.limit.period,
                &retry,
                &state.limit.doc_url(),
            ),
        });
    }
    f.explanation = format!(
        "{} Certificate Transparency logs every publicly trusted certificate; counting Let's Encrypt's (matched by issuer, a precertificate and its certificate once) and replaying them through Let's Encrypt's token bucket (one back every {}) gives what its rate limiter holds. {}",
        code.meaning(),
        go_duration(state.limit.emission_interval()),
        a.caveats.join(" ")
    );
    f.fix = match code {
        FindingCode::RateLimitedDomain => format!(
            "Wait until {} or later, renew existing certificates for the same sets of names (renewals are exempt) instead of new sets, request a rate-limit override from Let's Encrypt, or order from another CA (Google Trust Services or SSL.com in Cloudflare).",
            state
                .next_possible
                .map_or_else(|| "a token comes back".to_owned(), fmt_time)
        ),
        _ => format!(
            "Wait until {} or later and stop whatever reissues this set (a loop in automation, a redeploy that orders a new certificate each time); or change the set of names, or order from another CA (Google Trust Services or SSL.com in Cloudflare). This limit has no override.",
            state
                .next_possible
                .map_or_else(|| "a token comes back".to_owned(), fmt_time)
        ),
    };
    if severity == Severity::Info {
        "Nothing now; the count says how many are left for the next orders.".clone_into(&mut f.fix);
    }
    f.reference = format!("{}; {}", code.seed(), state.limit.doc_url());
    f.evidence.push(Evidence::CtLimit(evidence(ctx, a, state)));
    f
}

/// The limit findings of one count: the exact set, then each registered domain.
pub fn findings(ctx: &CtContext<'_>, a: &Assessment) -> Vec<Finding> {
    let mut out = vec![limit_finding(
        ctx,
        a,
        &a.duplicate,
        FindingCode::RateLimitedDuplicate,
        &format!("the exact set {}", a.order),
    )];
    for d in &a.domains {
        out.push(limit_finding(
            ctx,
            a,
            &d.state,
            FindingCode::RateLimitedDomain,
            &format!("the registered domain {}", d.registered_domain),
        ));
    }
    out
}

/// The CT search could not answer: a requester-side warning, never a count.
pub fn unavailable(source: &str, e: &CtError) -> Finding {
    let mut f = finding(
        FindingCode::CtUnavailable,
        Severity::Warning,
        format!(
            "Let's Encrypt's certificate limits were not counted: the CT search {source} could not answer ({})",
            e.detail
        ),
    );
    f.fix = crate::messages::documented_fix(FindingCode::CtUnavailable).to_owned();
    f.evidence.push(Evidence::CtFailure(CtFailureEvidence {
        source: source.to_owned(),
        url: e.url.clone(),
        failure: serde_json::to_value(e.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        detail: e.detail.clone(),
    }));
    f
}
