//! DNS-01 findings (RFC 8555 §8.4, BR 3.2.2.4.7): the TXT record at
//! `_acme-challenge.<name>` as the CA's resolver sees it, as each authoritative
//! server serves it, delegated DCV (a CNAME to the provider that places the
//! tokens), and the common mistakes.

use std::collections::{BTreeMap, BTreeSet};

use dcv_dns::{AliasKind, Lookup, RecordEvidence, RecordType, ServerVerdict};

use crate::codes::FindingCode;
use crate::config::CheckConfig;
use crate::evidence::DnsLookupEvidence;
use crate::messages;
use crate::model::{Evidence, Finding, Method, Severity};
use crate::runner::Observations;

use super::dns::lookup_failure;
use super::{blocking, finding};

/// The text of one TXT RR: its character-strings concatenated (Boulder does
/// the same before comparing, `va/dns.go`). Invalid UTF-8 is replaced.
pub fn txt_text(wire_rdata: &[u8]) -> String {
    let mut out = Vec::new();
    let mut rest = wire_rdata;
    while let Some((&len, tail)) = rest.split_first() {
        let take = usize::from(len).min(tail.len());
        out.extend_from_slice(&tail[..take]);
        rest = &tail[take..];
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn txt_values(records: &[RecordEvidence]) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| r.rtype == RecordType::TXT)
        .map(|r| txt_text(&r.wire_rdata))
        .collect()
}

fn evidence(lookup: &Lookup) -> Evidence {
    Evidence::DnsLookup(DnsLookupEvidence::from_lookup(lookup))
}

/// DNS-01 findings.
pub fn findings(cfg: &CheckConfig, obs: &Observations) -> Vec<Finding> {
    let Some(lookup) = &obs.txt else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let name = lookup.qname.without_dot().to_owned();
    let expected: BTreeSet<String> = cfg.txt_values.iter().cloned().collect();
    out.extend(delegation_conflict(cfg, lookup));
    if let Some(f) = lookup_failure(cfg, lookup, Some(Method::Dns), "DNS-01 TXT lookup") {
        out.push(f);
        return out;
    }
    let found = txt_values(lookup.records());
    let delegated_to = lookup
        .chain
        .iter()
        .find(|l| l.kind == AliasKind::Cname)
        .map(|l| l.target.without_dot().to_owned());
    if found.is_empty() {
        let doubled: Vec<&Lookup> = obs
            .txt_doubled
            .iter()
            .filter(|l| !l.records().is_empty())
            .collect();
        let mut f = if expected.is_empty() {
            let mut f = finding(
                FindingCode::TxtMissing,
                Severity::Info,
                format!("no TXT record at {name} yet"),
            );
            f.method = Some(Method::Dns);
            f.explanation = "Nothing is published at the DNS-01 validation name yet. That is expected before the CA hands out its token; the lookup itself resolves cleanly.".to_owned();
            f
        } else {
            blocking(
                cfg,
                FindingCode::TxtMissing,
                Some(Method::Dns),
                format!("no TXT record at {name}"),
            )
        };
        let zone = lookup.zone_cut_for(&lookup.qname).map(|c| {
            format!(
                "{} ({})",
                c.zone.without_dot(),
                c.ns_names
                    .iter()
                    .map(dcv_dns::DnsName::without_dot)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        f.acme_detail = Some(messages::boulder_txt_missing(&name));
        f.fix = format!(
            "Create `{name}. TXT \"<value from the CA>\"` at the DNS provider authoritative for {}{}.",
            zone.unwrap_or_else(|| "the zone".to_owned()),
            delegated_to.as_ref().map_or(String::new(), |t| format!(
                " (the name is delegated by CNAME to {t}: the record belongs there)"
            ))
        );
        f.evidence.push(evidence(lookup));
        out.push(f);
        for d in doubled {
            let mut f = finding(
                FindingCode::TxtDoubledLabel,
                if expected.is_empty() {
                    Severity::Warning
                } else {
                    Severity::Error
                },
                format!(
                    "a TXT record exists at {} instead of {name}: the zone name was appended twice",
                    d.qname.without_dot()
                ),
            );
            f.method = Some(Method::Dns);
            if f.severity == Severity::Error {
                f.blocks = cfg.cas.clone();
            }
            f.fix = format!(
                "Delete the TXT record at {} and create it at {name}. Many DNS providers append the zone to the name you type: enter only `_acme-challenge{}` in the name field.",
                d.qname.without_dot(),
                relative_part(&name, lookup)
            );
            f.evidence.push(evidence(d));
            out.push(f);
        }
        return out;
    }
    if !expected.is_empty() {
        let missing: Vec<&String> = expected.difference(&found).collect();
        if !missing.is_empty() {
            let mut f = blocking(
                cfg,
                FindingCode::TxtMismatch,
                Some(Method::Dns),
                format!(
                    "{name} has TXT {} but not the expected {}",
                    quote_list(found.iter()),
                    quote_list(missing.iter().copied())
                ),
            );
            let first = found.iter().next().cloned().unwrap_or_default();
            f.acme_detail = Some(messages::boulder_txt_mismatch(
                &first,
                found.len() - 1,
                &name,
            ));
            f.fix = format!(
                "Publish the current value{} at {name} (tokens change after every failed order; apex + wildcard need two TXT records side by side). Old values can stay but make the answer larger.",
                if missing.len() > 1 { "s" } else { "" }
            );
            f.evidence.push(evidence(lookup));
            out.push(f);
        }
    }
    out.extend(inconsistent(cfg, lookup, &expected));
    out
}

fn relative_part(name: &str, lookup: &Lookup) -> String {
    let zone = lookup
        .zone_cut_for(&lookup.qname)
        .map(|c| c.zone.without_dot().to_owned())
        .unwrap_or_default();
    let inner = name.strip_prefix("_acme-challenge").unwrap_or("");
    let inner = inner.strip_suffix(&zone).unwrap_or(inner);
    inner.trim_end_matches('.').to_owned()
}

fn quote_list<'a>(values: impl Iterator<Item = &'a String>) -> String {
    values
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `txt_inconsistent`: authoritative servers of the zone disagree. The CA's
/// resolver asks one of them at random, so validation becomes a coin toss
/// (Let's Debug issue #27).
fn inconsistent(
    cfg: &CheckConfig,
    lookup: &Lookup,
    expected: &BTreeSet<String>,
) -> Option<Finding> {
    let final_name = lookup.chain.last().map_or(&lookup.qname, |l| &l.target);
    let mut per_server: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for a in &lookup.server_answers {
        if &a.qname != final_name || a.qtype != RecordType::TXT {
            continue;
        }
        let values = match &a.verdict {
            ServerVerdict::Answer { records } => txt_values(records),
            ServerVerdict::NxDomain | ServerVerdict::NoData => BTreeSet::new(),
            _ => continue, // failing servers are reported by the DNS rules
        };
        per_server.insert(
            format!("{} ({})", a.server.name.without_dot(), a.server.addr.ip()),
            values,
        );
    }
    let distinct: BTreeSet<&BTreeSet<String>> = per_server.values().collect();
    if distinct.len() < 2 {
        return None;
    }
    let lacking: Vec<&String> = per_server
        .iter()
        .filter(|(_, v)| {
            if expected.is_empty() {
                v.is_empty()
            } else {
                !expected.is_subset(v)
            }
        })
        .map(|(s, _)| s)
        .collect();
    let serving: Vec<&String> = per_server.keys().filter(|s| !lacking.contains(s)).collect();
    let summary = format!(
        "authoritative servers disagree about {}: {} serve{} it, {} do{} not",
        final_name.without_dot(),
        join(&serving),
        if serving.len() == 1 { "s" } else { "" },
        join(&lacking),
        if lacking.len() == 1 { "es" } else { "" },
    );
    let mut f = if expected.is_empty() || lacking.is_empty() {
        let mut f = finding(FindingCode::TxtInconsistent, Severity::Warning, summary);
        f.method = Some(Method::Dns);
        f
    } else {
        blocking(
            cfg,
            FindingCode::TxtInconsistent,
            Some(Method::Dns),
            summary,
        )
    };
    f.fix = format!(
        "Wait for every nameserver of the zone to serve the same TXT records (check the zone transfer / secondaries: {}), then ask the CA to validate again.",
        join(&lacking)
    );
    f.evidence.push(evidence(lookup));
    Some(f)
}

fn join(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `delegated_dcv_conflict`: at `_acme-challenge.<name>` some servers answer
/// with the delegation CNAME and others with a leftover TXT (or both exist in
/// two copies of the zone). Resolvers pick one at random, so the CA may never
/// reach the provider that places the tokens.
fn delegation_conflict(cfg: &CheckConfig, lookup: &Lookup) -> Option<Finding> {
    let mut cname_servers = Vec::new();
    let mut txt_servers = Vec::new();
    for a in &lookup.server_answers {
        if a.qname != lookup.qname {
            continue;
        }
        if let ServerVerdict::Answer { records } = &a.verdict {
            let who = format!("{} ({})", a.server.name.without_dot(), a.server.addr.ip());
            if records
                .iter()
                .any(|r| r.rtype == RecordType::CNAME && r.name == lookup.qname)
            {
                cname_servers.push(who);
            } else if records
                .iter()
                .any(|r| r.rtype == RecordType::TXT && r.name == lookup.qname)
            {
                txt_servers.push(who);
            }
        }
    }
    if cname_servers.is_empty() || txt_servers.is_empty() {
        return None;
    }
    let name = lookup.qname.without_dot();
    let mut f = blocking(
        cfg,
        FindingCode::DelegatedDcvConflict,
        Some(Method::Dns),
        format!(
            "{name}: {} answer{} with the delegation CNAME but {} with a leftover TXT record",
            cname_servers.join(", "),
            if cname_servers.len() == 1 { "s" } else { "" },
            txt_servers.join(", ")
        ),
    );
    f.fix = format!(
        "Delete every TXT record at {name} (a CNAME cannot coexist with other data, RFC 1034 §3.6.2), including copies in other zones or providers serving the same name, and keep only the `_acme-challenge` CNAME to the DCV provider."
    );
    f.evidence.push(evidence(lookup));
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::txt_text;

    #[test]
    fn txt_strings_are_concatenated_like_boulder_does() {
        assert_eq!(txt_text(b"\x03abc\x02de"), "abcde");
        assert_eq!(txt_text(b""), "");
        // A length byte larger than what is left is cut, never read past the end.
        assert_eq!(txt_text(b"\x09ab"), "ab");
    }
}
