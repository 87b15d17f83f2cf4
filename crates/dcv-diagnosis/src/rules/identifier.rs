//! `identifier_rejected`: the CA's identifier policy (Boulder `policy/pa.go`,
//! BR 3.2.2.4), per CA, plus the one policy question DNS answers: is the last
//! label a TLD of the root in use (the IANA root, or a private lab root)?

use dcv_dns::Outcome;

use crate::codes::FindingCode;
use crate::config::CheckConfig;
use crate::identifier::{Hostname, PolicyProblem, policy_problems};
use crate::messages::CLOUDFLARE_WILL_NOT_ISSUE;
use crate::model::{Evidence, Finding, Severity};
use crate::runner::Observations;

use super::finding;

fn rejected(cfg: &CheckConfig, problem: &PolicyProblem, cas: Vec<crate::CaId>) -> Finding {
    rejected_name(&cfg.hostname, problem, cas)
}

fn rejected_name(name: &Hostname, problem: &PolicyProblem, cas: Vec<crate::CaId>) -> Finding {
    let mut f = finding(
        FindingCode::IdentifierRejected,
        Severity::Error,
        format!("{name}: {problem}"),
    );
    f.blocks = cas;
    f.ca_message = Some(CLOUDFLARE_WILL_NOT_ISSUE.to_owned());
    f.acme_detail = Some(format!(
        "Cannot issue for {:?}: {problem}",
        name.to_string()
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
        name: name.to_string(),
        problem: problem.to_string(),
    });
    f
}

/// Policy checks that need no DNS, for the hostname and every `--san` name
/// (a CA refuses the whole order when it refuses one of its names), one
/// finding per name and problem naming the CAs it blocks.
pub fn syntactic(cfg: &CheckConfig) -> Vec<Finding> {
    let mut per_problem: Vec<(&Hostname, PolicyProblem, Vec<crate::CaId>)> = Vec::new();
    for name in std::iter::once(&cfg.hostname).chain(&cfg.sans) {
        for ca in &cfg.cas {
            for p in policy_problems(name, ca.profile()) {
                match per_problem
                    .iter_mut()
                    .find(|(n, q, _)| *n == name && *q == p)
                {
                    Some((_, _, cas)) => cas.push(*ca),
                    None => per_problem.push((name, p, vec![*ca])),
                }
            }
        }
    }
    per_problem
        .into_iter()
        .map(|(name, p, cas)| rejected_name(name, &p, cas))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CaId;

    #[test]
    fn san_names_meet_the_identifier_policy_too() {
        let mut cfg = CheckConfig::new(Hostname::parse("www.example.com").unwrap());
        cfg.sans = vec![
            Hostname::parse("example.com").unwrap(),
            Hostname::parse("a.b.c.d.e.f.g.h.i.j.example.com").unwrap(),
        ];
        let findings = syntactic(&cfg);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let f = &findings[0];
        assert_eq!(f.code, FindingCode::IdentifierRejected);
        assert!(
            f.summary.starts_with("a.b.c.d.e.f.g.h.i.j.example.com: "),
            "{}",
            f.summary
        );
        assert_eq!(f.blocks, vec![CaId::Letsencrypt]);
        assert_eq!(
            cfg.order_names(),
            vec![
                "www.example.com",
                "example.com",
                "a.b.c.d.e.f.g.h.i.j.example.com"
            ]
        );
    }
}
