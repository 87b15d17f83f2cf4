//! DNS-01 findings (RFC 8555 §8.4, BR 3.2.2.4.7): the TXT record at
//! `_acme-challenge.<name>` as the CA's resolver sees it, as each authoritative
//! server serves it, delegated DCV (a CNAME to the provider that places the
//! tokens), and the common mistakes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use dcv_dns::{AliasKind, Lookup, Outcome, RecordEvidence, RecordType, ServerVerdict};

use crate::ca::CaId;
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
    let states = server_states(lookup);
    let both = txt_beside_cname(lookup, obs.txt_cname.as_ref(), &states);
    out.extend(delegation_conflict(
        cfg,
        lookup,
        obs.txt_cname.as_ref(),
        &states,
        &both,
    ));
    if let Some(f) = lookup_failure(cfg, lookup, Some(Method::Dns), "DNS-01 TXT lookup") {
        out.push(f);
        return out;
    }
    let found = txt_values(lookup.records());
    let delegation = cfg.dcv_delegation.as_deref().map(|target| {
        if both.is_empty() {
            delegation_findings(cfg, obs, lookup, &states, target, &found)
        } else {
            // The CNAME is there, beside a TXT: `delegated_dcv_conflict`
            // says so; "no CNAME" would be wrong.
            DelegationCheck {
                findings: Vec::new(),
                ok: false,
            }
        }
    });
    let delegated_ok = delegation.as_ref().is_some_and(|d| d.ok);
    if let Some(d) = delegation {
        out.extend(d.findings);
    }
    let delegated_to = lookup
        .chain
        .iter()
        .find(|l| l.kind == AliasKind::Cname)
        .map(|l| l.target.without_dot().to_owned());
    if found.is_empty() && delegated_ok {
        // cloudflare-dcv.md §2.4: the provider writes the tokens at the target
        // only while issuance is in progress; `delegated_dcv_ready` says so.
        return out;
    }
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
        // With --dcv-delegation the delegation findings say what is (not) at
        // the name, and their fix (the CNAME) is the right one: telling the
        // user to create a TXT there would break the delegation
        // (cloudflare-dcv.md §2.4).
        if cfg.dcv_delegation.is_none() {
            out.push(f);
        }
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

/// Servers that answer the TXT question at `_acme-challenge.<name>` with a
/// TXT record while holding a CNAME at the same owner (their answer to the
/// CNAME question): `(server, CNAME target)`. RFC 1034 §3.6.2 forbids the
/// pair; servers that accept it answer a TXT query from the TXT set and never
/// follow the CNAME.
fn txt_beside_cname(
    lookup: &Lookup,
    cname: Option<&Lookup>,
    states: &[(String, AtName)],
) -> Vec<(String, String)> {
    let Some(cname) = cname else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in &cname.server_answers {
        if a.qname != cname.qname || a.qtype != RecordType::CNAME {
            continue;
        }
        let ServerVerdict::Answer { records } = &a.verdict else {
            continue;
        };
        let Some(c) = records
            .iter()
            .find(|r| r.rtype == RecordType::CNAME && r.name == lookup.qname)
        else {
            continue;
        };
        let who = format!("{} ({})", a.server.name.without_dot(), a.server.addr.ip());
        let serves_txt = states.iter().any(|(w, s)| *w == who && *s == AtName::Txt);
        if serves_txt && !out.iter().any(|(w, _)| *w == who) {
            out.push((who, norm(&c.rdata)));
        }
    }
    out
}

/// `delegated_dcv_conflict`: at `_acme-challenge.<name>` some servers answer
/// with the delegation CNAME and others with a leftover TXT (or both exist in
/// two copies of the zone), or one server holds both. Resolvers pick a server
/// at random, and a server holding both answers TXT queries with the TXT, so
/// the CA may never reach the provider that places the tokens.
fn delegation_conflict(
    cfg: &CheckConfig,
    lookup: &Lookup,
    cname: Option<&Lookup>,
    states: &[(String, AtName)],
    both: &[(String, String)],
) -> Option<Finding> {
    let servers_with = |want: fn(&AtName) -> bool| -> Vec<&str> {
        states
            .iter()
            .filter(|(_, s)| want(s))
            .map(|(w, _)| w.as_str())
            .collect()
    };
    let cname_servers = servers_with(|s| matches!(s, AtName::Cname(_)));
    let txt_servers = servers_with(|s| *s == AtName::Txt);
    if cname_servers.is_empty() || txt_servers.is_empty() {
        return (!both.is_empty()).then(|| cname_beside_txt(cfg, lookup, cname, both));
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
    if !both.is_empty() {
        let holders: Vec<&str> = both.iter().map(|(w, _)| w.as_str()).collect();
        let _ = write!(
            f.summary,
            "; {} hold{} the CNAME beside the TXT",
            holders.join(", "),
            if holders.len() == 1 { "s" } else { "" }
        );
    }
    f.fix = format!(
        "Delete every TXT record at {name} (a CNAME cannot coexist with other data, RFC 1034 §3.6.2), including copies in other zones or providers serving the same name, and keep only the `_acme-challenge` CNAME to the DCV provider."
    );
    f.evidence.push(evidence(lookup));
    if let Some(c) = cname.filter(|_| !both.is_empty()) {
        f.evidence.push(evidence(c));
    }
    Some(f)
}

/// `delegated_dcv_conflict` when servers hold a CNAME and a TXT at the same
/// owner: what a resolver gets is the TXT (the CNAME is never followed), so
/// a delegation there does nothing. An error when a delegation is expected
/// (`--dcv-delegation`), for the CAs that use it; else a warning, because the
/// TXT may be the record meant, and the CNAME the leftover.
fn cname_beside_txt(
    cfg: &CheckConfig,
    lookup: &Lookup,
    cname: Option<&Lookup>,
    both: &[(String, String)],
) -> Finding {
    let name = lookup.qname.without_dot();
    let holders: Vec<&str> = both.iter().map(|(w, _)| w.as_str()).collect();
    let mut targets: Vec<&str> = both.iter().map(|(_, t)| t.as_str()).collect();
    targets.sort_unstable();
    targets.dedup();
    let targets = targets.join(", ");
    let values = txt_values(lookup.records());
    let gets = if values.is_empty() {
        "no TXT value".to_owned()
    } else {
        format!("the TXT {}", quote_list(values.iter()))
    };
    let summary = format!(
        "{name} holds both a CNAME (to {targets}) and a TXT record on {}: a resolver asking for TXT gets {gets} and never follows the CNAME",
        holders.join(", ")
    );
    let expected_target = cfg.dcv_delegation.as_deref().map(norm);
    let mut f = match &expected_target {
        Some(_) => {
            let mut f = finding(FindingCode::DelegatedDcvConflict, Severity::Error, summary);
            f.blocks = cfg
                .cas
                .iter()
                .copied()
                .filter(|c| DELEGATION_CAS.contains(c))
                .collect();
            f
        }
        None => finding(
            FindingCode::DelegatedDcvConflict,
            Severity::Warning,
            summary,
        ),
    };
    f.method = Some(Method::Dns);
    f.explanation = format!(
        "{} RFC 1034 §3.6.2 forbids other data beside a CNAME, but some DNS servers accept both; they answer a TXT query from the TXT set, so the CA's resolver sees only the TXT and never reaches {targets}, where a DCV provider would place its tokens. A resolver that already has the CNAME cached may follow it instead, so answers can also differ from one query to the next.",
        FindingCode::DelegatedDcvConflict.meaning()
    );
    if let Some(want) = &expected_target {
        let _ = write!(
            f.summary,
            "{}",
            if both.iter().all(|(_, t)| t == want) {
                " (the CNAME points to the expected target)".to_owned()
            } else {
                format!(" (and the CNAME does not point to the expected {want})")
            }
        );
        f.acme_detail = Some(match values.iter().next() {
            Some(first) => messages::boulder_txt_mismatch(first, values.len() - 1, name),
            None => messages::boulder_txt_missing(name),
        });
        f.fix = format!(
            "Delete the TXT record at {name} (a CNAME cannot coexist with other data, RFC 1034 §3.6.2) and keep only `{name}. CNAME {want}.`; the provider places the tokens at the target during issuance."
        );
    } else {
        f.fix = format!(
            "Keep one of the two at {name}: if a DCV provider places your tokens (Delegated DCV, acme-dns), delete the TXT record; if you publish the TXT value yourself, delete the CNAME. A CNAME cannot coexist with other data (RFC 1034 §3.6.2)."
        );
    }
    f.evidence.push(evidence(lookup));
    if let Some(c) = cname {
        f.evidence.push(evidence(c));
    }
    f
}

/// CAs that Cloudflare's Delegated DCV works with (cloudflare-dcv.md §2.4:
/// Google Trust Services, Let's Encrypt, SSL.com). A delegation problem
/// blocks the DNS method for these.
const DELEGATION_CAS: &[CaId] = &[CaId::Letsencrypt, CaId::Google, CaId::Sslcom];

/// A name compared the way DNS compares names: case-insensitively (RFC 4343
/// §3), with the trailing dot normalised away.
fn norm(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// What one authoritative server serves at `_acme-challenge.<host>`.
#[derive(Debug, PartialEq, Eq)]
enum AtName {
    Cname(String),
    Txt,
    NoData,
    NxDomain,
}

impl AtName {
    fn describe(&self) -> String {
        match self {
            AtName::Cname(t) => format!("CNAME to {t}"),
            AtName::Txt => "a TXT record".to_owned(),
            AtName::NoData => "no CNAME (NODATA)".to_owned(),
            AtName::NxDomain => "NXDOMAIN".to_owned(),
        }
    }
}

/// Each authoritative server's answer at the query name, failing servers
/// left out (the DNS rules report them).
fn server_states(lookup: &Lookup) -> Vec<(String, AtName)> {
    let mut out: Vec<(String, AtName)> = Vec::new();
    for a in &lookup.server_answers {
        if a.qname != lookup.qname || a.qtype != RecordType::TXT {
            continue;
        }
        let state = match &a.verdict {
            ServerVerdict::Answer { records } => {
                if let Some(c) = records
                    .iter()
                    .find(|r| r.rtype == RecordType::CNAME && r.name == lookup.qname)
                {
                    AtName::Cname(norm(&c.rdata))
                } else if records
                    .iter()
                    .any(|r| r.rtype == RecordType::TXT && r.name == lookup.qname)
                {
                    AtName::Txt
                } else {
                    AtName::NoData
                }
            }
            ServerVerdict::NoData => AtName::NoData,
            ServerVerdict::NxDomain => AtName::NxDomain,
            _ => continue,
        };
        let who = format!("{} ({})", a.server.name.without_dot(), a.server.addr.ip());
        if !out.iter().any(|(w, _)| *w == who) {
            out.push((who, state));
        }
    }
    out
}

/// Whether the name holds A or AAAA records, from the type bitmap of the
/// NSEC (RFC 4034 §4.1.2) or NSEC3 (RFC 5155 §3.2) record proving NODATA for
/// the TXT query. `None` when no server sent such a proof (unsigned zone).
fn nodata_bitmap_has_address(lookup: &Lookup) -> Option<bool> {
    let mut seen = None;
    for x in &lookup.exchanges {
        if x.qname != lookup.qname || x.qtype != RecordType::TXT {
            continue;
        }
        let Some(resp) = x.response() else { continue };
        if !resp.answer.is_empty() {
            continue;
        }
        let nsec3: Vec<&RecordEvidence> = resp
            .authority
            .iter()
            .filter(|r| r.rtype == RecordType::NSEC3)
            .collect();
        let bitmap: Option<Vec<&str>> = if let Some(r) = resp
            .authority
            .iter()
            .find(|r| r.rtype == RecordType::NSEC && r.name == lookup.qname)
        {
            Some(r.rdata.split_whitespace().skip(1).collect())
        } else if let [only] = nsec3.as_slice() {
            // A NODATA proof is the one NSEC3 matching the name (RFC 5155 §7.2.3).
            Some(only.rdata.split_whitespace().skip(5).collect())
        } else {
            None
        };
        if let Some(types) = bitmap {
            let has = types
                .iter()
                .any(|t| t.eq_ignore_ascii_case("A") || t.eq_ignore_ascii_case("AAAA"));
            if has {
                return Some(true);
            }
            seen = Some(false);
        }
    }
    seen
}

/// The delegation findings and whether the CA's resolver reaches the
/// expected target from every server that answers.
struct DelegationCheck {
    findings: Vec<Finding>,
    ok: bool,
}

/// `delegated_dcv_missing` / `delegated_dcv_wrong_target` /
/// `delegated_dcv_ready` (cloudflare-dcv.md §2.4): `_acme-challenge.<host>`
/// must be a CNAME to the provider's target, on every authoritative server
/// (the CA asks one at random, Let's Debug issue #27). Servers that serve a
/// TXT instead beside others with the CNAME are `delegated_dcv_conflict`'s.
fn delegation_findings(
    cfg: &CheckConfig,
    obs: &Observations,
    lookup: &Lookup,
    states: &[(String, AtName)],
    target: &str,
    found: &BTreeSet<String>,
) -> DelegationCheck {
    let name = lookup.qname.without_dot().to_owned();
    let want = norm(target);
    let blocks: Vec<CaId> = cfg
        .cas
        .iter()
        .copied()
        .filter(|c| DELEGATION_CAS.contains(c))
        .collect();
    let first_link = lookup
        .chain
        .iter()
        .find(|l| l.owner == lookup.qname && l.kind == AliasKind::Cname);
    // The resolver reaches the target, possibly through further aliases.
    let chain_reaches = lookup.chain.iter().any(|l| norm(l.target.as_str()) == want);
    let good_target = |t: &str| {
        t == want || (chain_reaches && first_link.is_some_and(|l| norm(l.target.as_str()) == t))
    };
    let good: Vec<&String> = states
        .iter()
        .filter(|(_, s)| matches!(s, AtName::Cname(t) if good_target(t)))
        .map(|(w, _)| w)
        .collect();
    let bad: Vec<&(String, AtName)> = states
        .iter()
        .filter(|(_, s)| !matches!(s, AtName::Cname(t) if good_target(t)) && *s != AtName::Txt)
        .collect();
    let error = |code: FindingCode, summary: String| {
        let mut f = finding(code, Severity::Error, summary);
        f.method = Some(Method::Dns);
        f.blocks.clone_from(&blocks);
        f.evidence.push(evidence(lookup));
        f
    };
    let zone = lookup.zone_cut_for(&lookup.qname).map_or_else(
        || "the zone".to_owned(),
        |c| c.zone.without_dot().to_owned(),
    );
    let target_shown = want.clone();
    let acme_detail = match &lookup.outcome {
        Outcome::NxDomain => messages::boulder_dns_problem("NXDOMAIN", "TXT", &name),
        _ if !found.is_empty() => {
            let first = found.iter().next().cloned().unwrap_or_default();
            messages::boulder_txt_mismatch(&first, found.len() - 1, &name)
        }
        _ => messages::boulder_txt_missing(&name),
    };

    if !good.is_empty() && !bad.is_empty() {
        // Some servers are stale: a coin toss for the CA.
        let stale: Vec<String> = bad
            .iter()
            .map(|(w, s)| format!("{w} serves {}", s.describe()))
            .collect();
        let mut f = error(
            FindingCode::DelegatedDcvWrongTarget,
            format!(
                "only {} of {} authoritative servers serve {name} CNAME {target_shown}: {}",
                good.len(),
                good.len() + bad.len(),
                stale.join(", ")
            ),
        );
        f.explanation = format!(
            "{} The CA's resolver asks one authoritative server at random, so validation fails whenever it asks a stale one (out-of-sync secondary, or a copy of the zone at an old provider).",
            FindingCode::DelegatedDcvWrongTarget.meaning()
        );
        f.acme_detail = Some(messages::boulder_txt_missing(&name));
        f.fix = format!(
            "Make every nameserver of {zone} serve `{name}. CNAME {target_shown}.` (check zone transfers and secondaries: {}).",
            bad.iter()
                .map(|(w, _)| w.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return DelegationCheck {
            findings: vec![f],
            ok: false,
        };
    }
    if !good.is_empty() || (states.is_empty() && chain_reaches) {
        let mut findings = Vec::new();
        if found.is_empty() {
            let mut f = finding(
                FindingCode::DelegatedDcvReady,
                Severity::Info,
                format!(
                    "{name} is delegated by CNAME to {target_shown}; no TXT there yet, which is healthy outside issuance"
                ),
            );
            f.method = Some(Method::Dns);
            f.fix = "Nothing to do: keep the CNAME in place (the provider writes the TXT tokens at the target only while a certificate is being issued, and renewals need the CNAME too).".to_owned();
            f.evidence.push(evidence(lookup));
            findings.push(f);
        }
        return DelegationCheck { findings, ok: true };
    }
    if let Some(link) = first_link {
        let actual = link.target.without_dot().to_owned();
        let others: Vec<String> = states
            .iter()
            .filter(|(_, s)| *s != AtName::Cname(norm(&actual)))
            .map(|(w, s)| format!("{w} serves {}", s.describe()))
            .collect();
        let mut f = error(
            FindingCode::DelegatedDcvWrongTarget,
            format!(
                "{name} is a CNAME to {actual}, not to the expected {target_shown}{}",
                if others.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", others.join(", "))
                }
            ),
        );
        f.acme_detail = Some(acme_detail);
        f.fix = format!(
            "At the DNS provider of {zone}, change the target of `{name}. CNAME` from {actual} to {target_shown} (copy the current value from the dashboard: it changes when the zone moves to another account)."
        );
        return DelegationCheck {
            findings: vec![f],
            ok: false,
        };
    }
    // No CNAME at the name: say what is there instead.
    let what = match &lookup.outcome {
        Outcome::ServFail { .. } => {
            return DelegationCheck {
                findings: Vec::new(),
                ok: false,
            };
        }
        Outcome::Answer { .. } if !found.is_empty() => {
            "a TXT record was created instead of the CNAME".to_owned()
        }
        Outcome::NxDomain => "nothing exists at the name (NXDOMAIN)".to_owned(),
        _ => match nodata_bitmap_has_address(lookup) {
            Some(true) => "the name serves A/AAAA records: the record looks proxied (orange cloud): set it to DNS only".to_owned(),
            Some(false) => "the name exists but holds neither a CNAME nor a TXT record (NODATA)".to_owned(),
            None => "the name exists but holds neither a CNAME nor a TXT record (NODATA); if it is a proxied (orange cloud) record, which answers with addresses, set it to DNS only".to_owned(),
        },
    };
    let misplaced: Vec<&Lookup> = obs
        .txt_doubled
        .iter()
        .filter(|d| {
            d.chain
                .iter()
                .any(|l| l.owner == d.qname && l.kind == AliasKind::Cname)
        })
        .collect();
    let mut summary = format!("no CNAME to {target_shown} at {name}: {what}");
    let mut misplaced_fix = String::new();
    for d in &misplaced {
        let at = d.qname.without_dot();
        let _ = write!(
            summary,
            "; a CNAME exists at {at} instead: the zone name was appended twice"
        );
        let _ = write!(
            misplaced_fix,
            " Delete the CNAME at {at}: many DNS providers append the zone to the name you type, so enter only `_acme-challenge{}`.",
            relative_part(&name, lookup)
        );
    }
    let mut f = error(FindingCode::DelegatedDcvMissing, summary);
    f.acme_detail = Some(acme_detail);
    let remove = match &lookup.outcome {
        Outcome::Answer { .. } if !found.is_empty() => {
            format!(
                " Delete the TXT record at {name} first (a CNAME cannot coexist with other data, RFC 1034 §3.6.2)."
            )
        }
        Outcome::NoData => format!(
            " Delete or replace whatever record holds {name} now; in Cloudflare's dashboard a CNAME there must be DNS only (grey cloud), never proxied."
        ),
        _ => String::new(),
    };
    f.fix = format!(
        "At the DNS provider authoritative for {zone}, create `{name}. CNAME {target_shown}.`.{remove}{misplaced_fix}"
    );
    for d in misplaced {
        f.evidence.push(evidence(d));
    }
    DelegationCheck {
        findings: vec![f],
        ok: false,
    }
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
