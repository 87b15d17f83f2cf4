//! The ACME server's own word (`check --acme-directory`): what it refused,
//! what it offered, and, after a real validation (`--acme-complete`), its
//! verdict beside dcv-doctor's prediction.

use crate::acme::{AcmeDryRun, AcmeProblem, AcmeStep, ProblemKind};
use crate::codes::FindingCode;
use crate::model::{Evidence, Finding, Method, Report, Severity};

use super::finding;

/// How findings name the CA: its name for a known directory, "compared as
/// <name>" for one we only compare with it (Pebble, a private CA).
fn ca_label(dry: &AcmeDryRun) -> String {
    let name = dry.ca.profile().name;
    if dry.ca_basis.contains("not a known CA") {
        format!("compared as {name}")
    } else {
        name.to_owned()
    }
}

fn with_evidence(mut f: Finding, dry: &AcmeDryRun) -> Finding {
    f.evidence.push(Evidence::Acme(Box::new(dry.clone())));
    f
}

/// The finding for a problem the CA returned before any validation ran.
fn refusal(dry: &AcmeDryRun, step: AcmeStep, p: &AcmeProblem) -> Finding {
    let ca = dry.ca;
    let ca_name = ca_label(dry);
    let (code, severity) = match p.kind {
        ProblemKind::RejectedIdentifier | ProblemKind::UnsupportedIdentifier => {
            (FindingCode::AcmeRejectedIdentifier, Severity::Error)
        }
        // A well-formed request refused as malformed at new-order is about
        // the identifier (Boulder's policy errors are `malformed`).
        ProblemKind::Malformed if step == AcmeStep::NewOrder => {
            (FindingCode::AcmeRejectedIdentifier, Severity::Error)
        }
        ProblemKind::Caa => (FindingCode::AcmeCaa, Severity::Error),
        ProblemKind::RateLimited => (FindingCode::AcmeRateLimited, Severity::Error),
        _ => (FindingCode::AcmeUnavailable, Severity::Warning),
    };
    let mut f = finding(
        code,
        severity,
        format!(
            "{} ({ca_name}) refused while {step}: {}",
            dry.directory, p.detail
        ),
    );
    if severity == Severity::Error {
        f.blocks = vec![ca];
    }
    f.ca_message = crate::messages::documented_message(code).map(str::to_owned);
    f.acme_detail = Some(p.detail.clone());
    f.fix = crate::messages::documented_fix(code).to_owned();
    with_evidence(f, dry)
}

/// dcv-doctor's prediction for the dry run's CA and `method`, from the
/// report as the runner made it: would it validate, and the blocking
/// findings' summaries.
fn prediction(report: &Report, dry: &AcmeDryRun, method: Method) -> (bool, Vec<String>) {
    let Some(verdict) = report.ca_verdicts.iter().find(|v| v.ca == dry.ca) else {
        return (true, Vec::new());
    };
    let Some(m) = verdict.methods.iter().find(|m| m.method == method) else {
        return (true, Vec::new());
    };
    let reasons = m
        .blocked_by
        .iter()
        .filter_map(|code| report.finding(*code))
        .map(|f| format!("{}: {}", f.code, f.summary))
        .collect();
    (m.would_validate, reasons)
}

/// Every finding of one dry run. `report` is the check's report before these
/// findings are added (the prediction they are compared with).
pub fn findings(dry: &AcmeDryRun, report: &Report) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(why) = &dry.unavailable {
        let mut f = finding(
            FindingCode::AcmeUnavailable,
            Severity::Warning,
            format!(
                "{} could not be asked{}: {why}",
                dry.directory,
                dry.failed_step
                    .map_or_else(String::new, |s| format!(" while {s}"))
            ),
        );
        f.fix = crate::messages::documented_fix(FindingCode::AcmeUnavailable).to_owned();
        out.push(with_evidence(f, dry));
    }
    if let (Some(step), Some(p)) = (dry.failed_step, &dry.problem)
        && step != AcmeStep::Validation
    {
        out.push(refusal(dry, step, p));
    }
    if !dry.authorizations.is_empty() {
        let offered: Vec<String> = dry
            .authorizations
            .iter()
            .map(|z| {
                format!(
                    "{}{} {} ({})",
                    if z.wildcard { "*." } else { "" },
                    z.identifier,
                    z.status,
                    z.challenges.join(", ")
                )
            })
            .collect();
        let mut f = finding(
            FindingCode::AcmeOrderAccepted,
            Severity::Info,
            format!(
                "{} ({}) accepted an order for {}: {}",
                dry.directory,
                ca_label(dry),
                dry.identifiers.join(", "),
                offered.join("; ")
            ),
        );
        f.fix = "Nothing.".to_owned();
        out.push(with_evidence(f, dry));
    }
    let Some(v) = &dry.validation else {
        return out;
    };
    let ca_name = dry.ca.profile().name;
    let ca_says = match &v.ca_problem {
        None if v.ca_valid => "valid".to_owned(),
        None => "invalid (no reason given)".to_owned(),
        Some(p) => format!("invalid: {} ({})", p.detail, p.type_urn),
    };
    if !v.ca_valid {
        let caa = v
            .ca_problem
            .as_ref()
            .is_some_and(|p| p.kind == ProblemKind::Caa);
        let code = if caa {
            FindingCode::AcmeCaa
        } else {
            FindingCode::AcmeValidationFailed
        };
        let mut f = finding(
            code,
            Severity::Error,
            format!(
                "{} ({}) ran a real {} validation of {} and says {ca_says}",
                dry.directory,
                ca_label(dry),
                v.method.acme_label(),
                v.identifier
            ),
        );
        f.blocks = vec![dry.ca];
        f.method = Some(v.method);
        f.acme_detail = v.ca_problem.as_ref().map(|p| p.detail.clone());
        f.fix = crate::messages::documented_fix(code).to_owned();
        out.push(with_evidence(f, dry));
    }
    let (predicted, reasons) = prediction(report, dry, v.method);
    let predicted_text = if predicted {
        "would validate".to_owned()
    } else {
        format!("would fail ({})", reasons.join("; "))
    };
    let agree = predicted == v.ca_valid;
    let mut f = finding(
        if agree {
            FindingCode::AcmeAgrees
        } else {
            FindingCode::AcmeDisagrees
        },
        if agree {
            Severity::Info
        } else {
            Severity::Warning
        },
        format!(
            "{} {}: dcv-doctor predicted {ca_name} {predicted_text}; {} says {ca_says}",
            v.identifier,
            v.method.acme_label(),
            dry.directory
        ),
    );
    f.method = Some(v.method);
    // The one documented way a CA and the prediction part: a CA that does
    // not check CAA (Pebble has no CAA check in any version) validates where
    // Let's Encrypt (Boulder va/caa.go, after DCV) refuses.
    let caa_blocked = report
        .ca_verdicts
        .iter()
        .filter(|cv| cv.ca == dry.ca)
        .flat_map(|cv| &cv.methods)
        .filter(|m| m.method == v.method)
        .flat_map(|m| &m.blocked_by)
        .any(|c| {
            matches!(
                c,
                FindingCode::CaaForbids
                    | FindingCode::CaaCriticalUnknown
                    | FindingCode::CaaLookupFailed
            )
        });
    let deviation = if !agree && caa_blocked && v.ca_valid {
        // Name Pebble only for a directory we merely compare with.
        let which = if ca_label(dry).starts_with("compared as") {
            " (Pebble, for one, never checks CAA)"
        } else {
            ""
        };
        format!(
            " Only CAA stands in the way, and this CA did not check it{which}; {ca_name} does, after the challenge passes, and would refuse."
        )
    } else {
        String::new()
    };
    f.explanation = format!(
        "{} Prediction: {predicted_text}. The CA's verdict after the response was published at {}: {ca_says}.{deviation}",
        f.code.meaning(),
        v.published
    );
    f.fix = crate::messages::documented_fix(f.code).to_owned();
    out.push(with_evidence(f, dry));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CaId;
    use crate::model::{CaVerdict, MethodVerdict, Verdict};

    /// A check that found nothing wrong with Let's Encrypt over DNS-01.
    fn passing_report() -> Report {
        Report {
            hostname: "www.example.com".to_owned(),
            ca: vec![CaId::Letsencrypt],
            method: vec![Method::Dns],
            verdict: Verdict::Pass,
            ca_verdicts: vec![CaVerdict {
                ca: CaId::Letsencrypt,
                would_validate: true,
                methods: vec![MethodVerdict {
                    method: Method::Dns,
                    would_validate: true,
                    blocked_by: Vec::new(),
                }],
            }],
            findings: Vec::new(),
            timings_ms: std::collections::BTreeMap::new(),
            mpic: None,
        }
    }

    /// A dry run the CA ended at `step` with this problem document.
    fn refused(step: AcmeStep, type_urn: &str, detail: &str) -> AcmeDryRun {
        AcmeDryRun {
            directory: "https://acme-staging-v02.api.letsencrypt.org/directory".to_owned(),
            ca: CaId::Letsencrypt,
            ca_basis: "acme-staging-v02.api.letsencrypt.org is Let's Encrypt staging".to_owned(),
            account: Some("https://acme-staging-v02.api.letsencrypt.org/acme/acct/1".to_owned()),
            order: None,
            identifiers: vec!["www.example.com".to_owned()],
            authorizations: Vec::new(),
            failed_step: Some(step),
            problem: Some(AcmeProblem {
                kind: ProblemKind::from_type(type_urn),
                type_urn: type_urn.to_owned(),
                detail: detail.to_owned(),
                status: Some(if type_urn.ends_with("rateLimited") {
                    429
                } else {
                    403
                }),
                subproblems: Vec::new(),
            }),
            unavailable: None,
            validation: None,
        }
    }

    /// The refusals Pebble cannot produce (it has no rate limits and no CAA
    /// check), with Boulder's own wordings: each is an error that blocks the
    /// CA, keeps the CA's detail verbatim and carries the dry run.
    #[test]
    fn rate_limit_and_caa_refusals_block_the_ca_with_its_words() {
        let report = passing_report();
        for (step, type_urn, detail, code) in [
            (
                AcmeStep::NewOrder,
                "urn:ietf:params:acme:error:rateLimited",
                "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-12-05 08:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers",
                FindingCode::AcmeRateLimited,
            ),
            (
                AcmeStep::NewOrder,
                "urn:ietf:params:acme:error:caa",
                "CAA record for www.example.com prevents issuance",
                FindingCode::AcmeCaa,
            ),
            (
                AcmeStep::NewOrder,
                "urn:ietf:params:acme:error:rejectedIdentifier",
                "Cannot issue for \"www.example.com\": The ACME server refuses to issue a certificate for this domain name, because it is forbidden by policy",
                FindingCode::AcmeRejectedIdentifier,
            ),
        ] {
            let dry = refused(step, type_urn, detail);
            let found = findings(&dry, &report);
            assert_eq!(found.len(), 1, "{found:#?}");
            let f = &found[0];
            assert_eq!(f.code, code);
            assert_eq!(f.severity, Severity::Error);
            assert_eq!(f.blocks, vec![CaId::Letsencrypt]);
            assert_eq!(f.acme_detail.as_deref(), Some(detail));
            assert!(
                f.summary.contains("refused while creating the order"),
                "{}",
                f.summary
            );
            assert!(matches!(&f.evidence[0], Evidence::Acme(d) if **d == dry));
        }
        // A server error is the CA's trouble, not the domain's.
        let dry = refused(
            AcmeStep::NewAccount,
            "urn:ietf:params:acme:error:serverInternal",
            "Error creating new account",
        );
        let found = findings(&dry, &report);
        assert_eq!(found[0].code, FindingCode::AcmeUnavailable);
        assert_eq!(found[0].severity, Severity::Warning);
        assert!(found[0].blocks.is_empty());
    }
}
