//! `identifier_rejected`: the CA's identifier policy (Boulder `policy/pa.go`,
//! BR 3.2.2.4), per CA, plus the one policy question DNS answers: is the last
//! label a TLD of the root in use (the IANA root, or a private lab root)?

use dcv_dns::Outcome;

use crate::codes::FindingCode;
use crate::config::CheckConfig;
use crate::identifier::{PolicyProblem, policy_problems};
use crate::messages::CLOUDFLARE_WILL_NOT_ISSUE;
use crate::model::{Evidence, Finding, Severity};
use crate::runner::Observations;

use super::finding;

fn rejected(cfg: &CheckConfig, problem: &PolicyProblem, cas: Vec<crate::CaId>) -> Finding {
    let mut f = finding(
        FindingCode::IdentifierRejected,
        Severity::Error,
        format!("{}: {problem}", cfg.hostname),
    );
    f.blocks = cas;
    f.ca_message = Some(CLOUDFLARE_WILL_NOT_ISSUE.to_owned());
    f.acme_detail = Some(format!(
        "Cannot issue for {:?}: {problem}",
        cfg.hostname.to_string()
    ));
    f.fix = match problem {
        PolicyProblem::IpLiteral => {
            "Request the certificate for a domain name that points at this address.".to_owned()
        }
        PolicyProblem::TooManyLabels { .. } | PolicyProblem::PunycodeNotSupported { .. } => {
            "Use a CA whose policy allows this name (see the verdict per CA), or a shorter name."
                .to_owned()
        }
        _ => "Fix the name; no CA can issue for it as written.".to_owned(),
    };
    f.evidence.push(Evidence::Identifier {
        name: cfg.hostname.to_string(),
        problem: problem.to_string(),
    });
    f
}

/// Policy checks that need no DNS, one finding per problem naming the CAs it
/// blocks.
pub fn syntactic(cfg: &CheckConfig) -> Vec<Finding> {
    let mut per_problem: Vec<(PolicyProblem, Vec<crate::CaId>)> = Vec::new();
    for ca in &cfg.cas {
        for p in policy_problems(&cfg.hostname, ca.profile()) {
            match per_problem.iter_mut().find(|(q, _)| *q == p) {
                Some((_, cas)) => cas.push(*ca),
                None => per_problem.push((p, vec![*ca])),
            }
        }
    }
    per_problem
        .into_iter()
        .map(|(p, cas)| rejected(cfg, &p, cas))
        .collect()
}

/// "TLD" means a TLD of the root in use: NXDOMAIN for `<tld>.` from the root
/// means no CA can issue; a single-label name is a TLD itself.
pub fn tld(cfg: &CheckConfig, obs: &Observations) -> Vec<Finding> {
    let mut out = Vec::new();
    if cfg.hostname.labels().count() == 1 {
        out.push(rejected(cfg, &PolicyProblem::IsTld, cfg.cas.clone()));
        return out;
    }
    if let Some(lookup) = &obs.tld
        && lookup.outcome == Outcome::NxDomain
    {
        let mut f = rejected(
            cfg,
            &PolicyProblem::NotUnderTld {
                tld: cfg.hostname.tld().to_owned(),
            },
            cfg.cas.clone(),
        );
        f.evidence.push(Evidence::DnsLookup(
            crate::evidence::DnsLookupEvidence::from_lookup(lookup),
        ));
        out.push(f);
    }
    out
}
