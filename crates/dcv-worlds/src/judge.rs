//! What a disagreement means: justified by a written rule, known (a
//! concurrent engine fix is expected to remove it), or unexplained (a real
//! finding). Also the feature tags of a question's resolution path, which
//! name the likely cause before shrinking confirms it.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use dcv_lab::{Mode, Signing};
use serde::{Deserialize, Serialize};

use crate::batch::{Comparison, QUESTION_DEADLINE, SOA, ServerAnswer, WorldRun};
use crate::delv::{DelvVerdict, ours_as_delv};
use crate::verdict::{Status, Verdict};
use crate::world::{Authority, World, in_zone};

/// A written rule that explains a disagreement by what the servers answered
/// or how long the oracle took, checked on that evidence for each case: the
/// engine's verdict is one the standards (and the CA's own limits) give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Rule {
    /// The zone's listed servers give different answers (a stale secondary,
    /// RFC 1996); a resolver may ask any of them (RFC 1034 §4.3.2, RFC 2182
    /// §3), and each side's verdict is what one of the servers answers. The
    /// security may differ only where the insecure side is a denial in an
    /// NSEC3 opt-out zone (RFC 5155 §9.2: no AD for an opt-out span).
    ServerChoice,
    /// BIND marks an NSEC3 opt-out denial secure; RFC 5155 §9.2 says such a
    /// response MUST NOT get the AD bit, so the engine and Unbound say
    /// insecure (`dcv-dns/tests/delv_differential.rs` documents the same).
    DelvOptOut,
    /// A listed server of the zone does not serve it (a lame delegation,
    /// RFC 1912 §2.8): asked directly it replies without AA and without an
    /// answer, a referral, which is no answer (RFC 1034 §4.3.2), so the
    /// engine asks the zone's other servers and its verdict is what their
    /// authoritative replies say. Unbound, when it picks the lame server,
    /// takes that referral as NODATA, or fails validating the child's keys
    /// or denials it could not get there (EDE 6-12). The product reports
    /// the lame server (`dns_lame_delegation`).
    LameServer,
    /// The oracle answered only after the CA's whole lookup budget
    /// ([`dcv_dns::limits::CA_LOOKUP_BUDGET`], Boulder's `dnsTries` x
    /// `dnsTimeout`), and the engine, bound by that budget, failed at it:
    /// the CA's client would have given up on the resolver too.
    CaBudget,
    /// delv's resolver (the iterator-only Unbound) gave up fetching
    /// (`resolution failed: failure` / `timed out`: not a validator result)
    /// while the validating Unbound, asked the same question, agrees with the
    /// engine: delv checks validation, and it had nothing to validate.
    DelvFetchFailure,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ServerChoice => {
                "server choice: the zone's servers disagree (stale secondary, RFC 1996) and each verdict is one server's answer (RFC 1034 §4.3.2, RFC 2182 §3; a denial in an NSEC3 opt-out span is insecure, RFC 5155 §9.2)"
            }
            Self::LameServer => {
                "lame server: a listed server replies without AA and without an answer (RFC 1034 §4.3.2, RFC 1912 §2.8); the engine's verdict is the zone's authoritative servers' answer, the oracle took the lame reply (NODATA) or failed validating through it"
            }
            Self::CaBudget => {
                "CA budget: the oracle answered after the 10 s a CA waits for one lookup (dcv_dns::limits::CA_LOOKUP_BUDGET); the engine failed at that budget"
            }
            Self::DelvOptOut => {
                "delv labels an NSEC3 opt-out denial secure; RFC 5155 §9.2: no AD for opt-out spans"
            }
            Self::DelvFetchFailure => {
                "delv's resolver gave up fetching (no validator result) where the validating Unbound agrees with the engine"
            }
        })
    }
}

/// One entry of `known-divergences.toml`: either one world (`seed`, and
/// optionally its questions) or a class of disagreements (`feature`: every
/// disagreement whose resolution path has that feature, e.g. a slow server,
/// optionally only where the oracle's verdict is `oracle_verdict`). Class
/// entries are for causes whose divergences move with timing (which seed
/// shows one depends on the machine's load) or that a fix removes at once;
/// they are counted as known, never as agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownDivergence {
    /// World seed; absent for a class entry.
    #[serde(default)]
    pub seed: Option<u64>,
    /// `lab`, `knot` or (for a class entry) `any`.
    #[serde(default = "lab_authority")]
    pub authority: String,
    /// Against whom: `unbound` or `delv`.
    #[serde(default = "unbound_oracle")]
    pub oracle: String,
    /// The questions (`name TYPE`); empty: every question of the world.
    #[serde(default)]
    pub questions: Vec<String>,
    /// A class entry: text contained in one of the question's path features
    /// ([`path_features`], e.g. `slow server`).
    #[serde(default)]
    pub feature: Option<String>,
    /// With `feature`: only where the oracle's verdict, written out
    /// (`Verdict::long`, delv's result), contains this (e.g. `NODATA`,
    /// `EDE 9`).
    #[serde(default)]
    pub oracle_verdict: Option<String>,
    /// With `feature`: only where the engine's verdict, written out,
    /// contains this (e.g. `no verdict within`).
    #[serde(default)]
    pub ours_verdict: Option<String>,
    /// What causes it (the world feature whose removal makes them agree).
    pub cause: String,
    /// The engine area (helper branch) expected to remove it.
    pub area: String,
}

impl KnownDivergence {
    /// Whether this entry covers the disagreement of `c` with `oracle`.
    fn covers(&self, world: &World, c: &Comparison, oracle: &str) -> bool {
        let authority_matches =
            self.authority == "any" || self.authority == authority_name(world.authority);
        if !authority_matches || self.oracle != oracle {
            return false;
        }
        if self.seed.is_some_and(|s| s != world.seed) {
            return false;
        }
        let question = c.question.to_string();
        if !self.questions.is_empty()
            && !self
                .questions
                .iter()
                .any(|q| q.eq_ignore_ascii_case(&question))
        {
            return false;
        }
        if let Some(feature) = &self.feature
            && !path_features(world, &c.question.name)
                .iter()
                .any(|f| f.contains(feature.as_str()))
        {
            return false;
        }
        if let Some(want) = &self.oracle_verdict {
            let theirs = match oracle {
                "delv" => c.delv.as_ref().map(|d| d.verdict.to_string()),
                _ => Some(c.unbound.long()),
            };
            if !theirs.is_some_and(|t| t.contains(want.as_str())) {
                return false;
            }
        }
        if let Some(want) = &self.ours_verdict
            && !c.ours.long().contains(want.as_str())
        {
            return false;
        }
        true
    }
}

fn lab_authority() -> String {
    "lab".to_owned()
}

fn unbound_oracle() -> String {
    "unbound".to_owned()
}

/// The known-divergence list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Known {
    #[serde(default)]
    pub divergence: Vec<KnownDivergence>,
}

impl Known {
    /// Parses `known-divergences.toml` text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let known: Self = toml::from_str(text)?;
        for k in &known.divergence {
            anyhow::ensure!(
                k.seed.is_some() || k.feature.is_some(),
                "a known divergence needs a seed or a feature (cause {:?})",
                k.cause
            );
            anyhow::ensure!(
                (k.oracle_verdict.is_none() && k.ours_verdict.is_none()) || k.feature.is_some(),
                "oracle_verdict and ours_verdict only narrow a feature entry (cause {:?})",
                k.cause
            );
        }
        Ok(known)
    }

    /// The entry covering this disagreement, if any (world entries first).
    pub fn find(&self, world: &World, c: &Comparison, oracle: &str) -> Option<&KnownDivergence> {
        self.divergence
            .iter()
            .filter(|k| k.seed.is_some())
            .chain(self.divergence.iter().filter(|k| k.seed.is_none()))
            .find(|k| k.covers(world, c, oracle))
    }
}

/// `lab` / `knot`.
pub fn authority_name(a: Authority) -> &'static str {
    match a {
        Authority::Lab => "lab",
        Authority::Knot => "knot",
    }
}

/// The judgement of one comparison against one oracle.
#[derive(Debug, Clone, Serialize)]
pub enum Judgement {
    Agree,
    Justified(Rule),
    Known {
        cause: String,
        area: String,
    },
    Unexplained,
    /// Unexplained in the run, but the world run again on its own gave
    /// another pair of verdicts (timing under load; reported, counted apart).
    NotReproduced {
        again: String,
    },
}

impl Judgement {
    /// Whether this counts against the run.
    pub fn is_unexplained(&self) -> bool {
        matches!(self, Self::Unexplained)
    }
}

/// Judges the engine against Unbound for one question.
pub fn judge_unbound(world: &World, c: &Comparison, known: &Known) -> Judgement {
    if c.ours.agrees(&c.unbound) {
        return Judgement::Agree;
    }
    if let Some(late) = past_deadline(c) {
        return late;
    }
    if server_choice_explains(world, c) {
        return Judgement::Justified(Rule::ServerChoice);
    }
    if lame_server_explains(world, c) {
        return Judgement::Justified(Rule::LameServer);
    }
    if ca_budget_explains(c) {
        return Judgement::Justified(Rule::CaBudget);
    }
    match known.find(world, c, "unbound") {
        Some(k) => Judgement::Known {
            cause: k.cause.clone(),
            area: k.area.clone(),
        },
        None => Judgement::Unexplained,
    }
}

/// Slack past [`QUESTION_DEADLINE`] before an answer counts as late: the
/// stub and the engine stop at the deadline, so only a starved runtime
/// (the machine, not either resolver) reports more.
const DEADLINE_SLACK: Duration = Duration::from_secs(5);

/// A disagreement where either side answered well after the deadline both
/// are given ([`QUESTION_DEADLINE`]): neither verdict then says what the
/// resolver does with its own time, only that the machine was overloaded
/// (seed 641 in CI: Unbound's SERVFAIL measured at 294 s). Counted as
/// known, under load, never as agreement.
fn past_deadline(c: &Comparison) -> Option<Judgement> {
    let limit = (QUESTION_DEADLINE + DEADLINE_SLACK).as_secs_f64();
    let late = |who: &str, secs: f64| Judgement::Known {
        cause: format!(
            "{who} answered after {secs:.0} s, past the {} s deadline both sides are given: the machine was overloaded",
            QUESTION_DEADLINE.as_secs()
        ),
        area: "machine load".to_owned(),
    };
    if c.unbound_secs > limit {
        Some(late("the oracle", c.unbound_secs))
    } else if c.ours_secs > limit {
        Some(late("the engine", c.ours_secs))
    } else {
        None
    }
}

/// Judges the engine against delv (sampled worlds only).
pub fn judge_delv(world: &World, c: &Comparison, known: &Known) -> Option<Judgement> {
    let run = c.delv.as_ref()?;
    let ours = ours_as_delv(&c.ours);
    if ours == run.verdict {
        return Some(Judgement::Agree);
    }
    if let (DelvVerdict::Insecure(a), DelvVerdict::Secure(b)) = (&ours, &run.verdict)
        && a == b
        && run.saw_opt_out
    {
        return Some(Judgement::Justified(Rule::DelvOptOut));
    }
    if run.verdict == DelvVerdict::ServFail && c.ours.agrees(&c.unbound) {
        return Some(Judgement::Justified(Rule::DelvFetchFailure));
    }
    if server_choice_explains(world, c) {
        return Some(Judgement::Justified(Rule::ServerChoice));
    }
    Some(match known.find(world, c, "delv") {
        Some(k) => Judgement::Known {
            cause: k.cause.clone(),
            area: k.area.clone(),
        },
        None => Judgement::Unexplained,
    })
}

/// Whether `v` (not a failure) is what one of the servers' authoritative
/// replies says: the same status and, for an answer, the same records.
fn seen_authoritative(c: &Comparison, v: &Verdict) -> bool {
    v.status != Status::Fail
        && question_answers(c).any(|s| {
            s.authoritative
                && s.verdict.status == v.status
                && (v.status != Status::NoError || s.verdict.answer == v.answer)
        })
}

/// The [`Rule::ServerChoice`] test on the servers' own answers, which the
/// batch collects for disagreements in zones with a stale copy.
fn server_choice_explains(world: &World, c: &Comparison) -> bool {
    let answers: Vec<&Verdict> = question_answers(c)
        .filter(|s| s.authoritative)
        .map(|s| &s.verdict)
        .collect();
    if answers.is_empty()
        || (c.ours.secure != c.unbound.secure && !opt_out_denial_explains_security(world, c))
    {
        return false;
    }
    let servers_disagree = answers.iter().any(|v| !v.agrees_data(answers[0]));
    servers_disagree && seen_authoritative(c, &c.ours) && seen_authoritative(c, &c.unbound)
}

/// The servers' replies to the question's own type (not the apex SOA
/// probes).
fn question_answers(c: &Comparison) -> impl Iterator<Item = &ServerAnswer> {
    let qtype = c
        .question
        .rtype
        .parse::<dcv_dns::RecordType>()
        .ok()
        .map(|t| t.0);
    c.server_answers
        .iter()
        .filter(move |s| Some(s.rtype) == qtype)
}

/// The [`Rule::LameServer`] test on the servers' own answers: a listed
/// server of a zone on the path replied without AA and without an answer
/// (to the zone's apex SOA, or to the question in the name's own zone),
/// the engine's verdict is what the authoritative servers say, and the
/// oracle's is the NODATA such a reply reads as, or a DNSSEC failure
/// (EDE 6-12).
fn lame_server_explains(world: &World, c: &Comparison) -> bool {
    let lame = c.server_answers.iter().any(|s| {
        !s.authoritative && (s.rtype == SOA || s.name == c.question.name.to_ascii_lowercase())
    });
    let oracle_took_it = (c.unbound.status == Status::NoError && c.unbound.answer.is_empty())
        || c.unbound.bogus
        || (c.unbound.status == Status::Fail
            && c.unbound_secs < QUESTION_DEADLINE.as_secs_f64()
            && servers_only_behind_lame(world, c));
    lame && oracle_took_it && seen_authoritative(c, &c.ours)
}

/// Whether some zone above the question has every server name in zones
/// shown lame (a listed server's apex SOA reply without AA): a resolver
/// that takes that server's referral as NODATA for the server names has no
/// address for the zone and answers SERVFAIL (seed 8968: `z4`'s only
/// server is named in `prov`, one of whose listed servers serves only the
/// parent).
fn servers_only_behind_lame(world: &World, c: &Comparison) -> bool {
    let shown_lame = |z: usize| {
        c.server_answers
            .iter()
            .any(|s| !s.authoritative && s.rtype == SOA && s.name == world.zones[z].apex)
    };
    let qname = c.question.name.to_ascii_lowercase();
    (0..world.zones.len())
        .filter(|&z| in_zone(&qname, &world.zones[z].apex))
        .any(|z| {
            let hosts = world.server_host_zones(z);
            !hosts.is_empty() && hosts.iter().all(|&h| shown_lame(h))
        })
}

/// Slack under [`dcv_dns::limits::CA_LOOKUP_BUDGET`] within which the
/// engine's failure counts as reaching the budget (its clock starts a
/// little after the harness's).
const BUDGET_SLACK: Duration = Duration::from_millis(250);

/// The [`Rule::CaBudget`] test on the two sides' times: the engine failed
/// at the CA's budget, the oracle answered after it.
fn ca_budget_explains(c: &Comparison) -> bool {
    let budget = dcv_dns::limits::CA_LOOKUP_BUDGET;
    c.ours.status == Status::Fail
        && c.unbound.status != Status::Fail
        && c.ours_secs >= budget.saturating_sub(BUDGET_SLACK).as_secs_f64()
        && c.unbound_secs > budget.as_secs_f64()
}

/// A security difference that follows from the server asked: in an NSEC3
/// opt-out zone a denial that lands in an opt-out span is never secure (RFC
/// 5155 §9.2), while a current copy's answer or matching-NSEC3 denial is.
/// So when the insecure side is a denial (NXDOMAIN or NODATA) and the path
/// has an opt-out zone, a stale copy's denial against a current copy's
/// answer differs in security too (seeds 329, 23893).
fn opt_out_denial_explains_security(world: &World, c: &Comparison) -> bool {
    let insecure = if c.ours.secure { &c.unbound } else { &c.ours };
    let denial = insecure.status == Status::NxDomain
        || (insecure.status == Status::NoError && insecure.answer.is_empty());
    denial && path_features(world, &c.question.name).contains("NSEC3 opt-out")
}

/// The world features on a question's resolution path: the zones above the
/// name, those its CNAMEs lead into, and the zones hosting their servers'
/// names. Printed with every divergence; shrinking confirms which matter.
pub fn path_features(world: &World, qname: &str) -> BTreeSet<String> {
    let mut names = vec![qname.to_ascii_lowercase()];
    // Follow CNAMEs written in the world (bounded: a loop revisits a name).
    let mut i = 0;
    while i < names.len() && names.len() < 12 {
        let name = names[i].clone();
        i += 1;
        let Some(z) = world.zone_of(&name) else {
            continue;
        };
        let zone = &world.zones[z];
        for line in &zone.records {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let [owner, "CNAME", target] = f.as_slice() {
                let owner = if *owner == "@" {
                    zone.apex.clone()
                } else {
                    format!("{owner}.{}", zone.apex)
                };
                let wildcard = owner
                    .strip_prefix("*.")
                    .is_some_and(|rest| in_zone(&name, rest));
                if (owner == name || wildcard) && !names.contains(&target.to_ascii_lowercase()) {
                    names.push(target.to_ascii_lowercase());
                }
            }
        }
    }
    let mut zones: BTreeSet<usize> = BTreeSet::new();
    for n in &names {
        for (z, zone) in world.zones.iter().enumerate() {
            if in_zone(n, &zone.apex) {
                zones.insert(z);
            }
        }
    }
    // Zones that hold the names of those zones' servers.
    for z in zones.clone() {
        zones.extend(world.server_host_zones(z));
    }
    let mut tags = BTreeSet::new();
    for &z in &zones {
        let zone = &world.zones[z];
        if let Some(p) = zone.parent
            && world.zones[p]
                .serving
                .iter()
                .any(|s| zone.serving.contains(s))
        {
            tags.insert("co-hosted parent/child".to_owned());
        }
        if !world.lame(zone).is_empty() {
            tags.insert("lame server".to_owned());
        }
        if zone.stale.is_some() {
            tags.insert("stale secondary".to_owned());
        }
        for f in &zone.faults {
            tags.insert(format!("zone fault {f:?}"));
        }
        if let Signing::Nsec3 {
            iterations,
            opt_out,
            ..
        } = &zone.signing
        {
            if *opt_out {
                tags.insert("NSEC3 opt-out".to_owned());
            }
            if *iterations > dcv_dns::limits::NSEC3_MAX_ITERATIONS {
                tags.insert("NSEC3 iterations > 150".to_owned());
            }
        }
        for s in zone
            .ns
            .iter()
            .chain(zone.stale.as_ref().map(|st| &st.server))
        {
            let b = &world.servers[*s].behaviour;
            if b.delay_ms > 0 {
                tags.insert(format!("slow server ({} ms)", b.delay_ms));
            }
            if b.udp_loss.is_some() {
                tags.insert("lossy server".to_owned());
            }
            if let Some(m) = b.edns_mode {
                tags.insert(format!("EDNS-intolerant server ({m:?})"));
            }
            if b.tcp_refused {
                tags.insert("TCP refused".to_owned());
            }
            if let Some(m) = b.tcp_mode {
                tags.insert(format!("TCP {m:?}"));
            }
            if let Some(m) = b.no_edns_mode {
                tags.insert(format!("{m:?} without EDNS"));
            }
            if b.truncate_udp {
                tags.insert("always truncates UDP".to_owned());
            }
            if b.mode != Mode::Answer {
                tags.insert(format!("server {:?}", b.mode));
            }
            for t in &b.per_type {
                tags.insert(format!("{:?} for {}", t.mode, t.rtype));
            }
            let server = &world.servers[*s];
            if !server.ipv4 {
                tags.insert("IPv6-only server".to_owned());
            }
        }
    }
    if names.len() > 1 {
        tags.insert("CNAME".to_owned());
    }
    if qname.starts_with("big.") {
        tags.insert("RRset larger than 1232 octets".to_owned());
    }
    tags
}

/// Judgements of a whole world run, per comparison: (unbound, delv).
pub fn judge_world(run: &WorldRun, known: &Known) -> Vec<(Judgement, Option<Judgement>)> {
    run.comparisons
        .iter()
        .map(|c| {
            (
                judge_unbound(&run.world, c, known),
                judge_delv(&run.world, c, known),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::batch::ServerAnswer;
    use crate::delv::DelvRun;
    use crate::stub::Rr;
    use crate::world::Question;

    fn verdict(status: Status, secure: bool, last_octet: Option<u8>) -> Verdict {
        Verdict {
            status,
            secure,
            answer: last_octet
                .into_iter()
                .map(|b| Rr {
                    owner: "www.w7.".into(),
                    rtype: 1,
                    rdata: vec![192, 0, 2, b],
                })
                .collect::<BTreeSet<_>>(),
            bogus: false,
            detail: String::new(),
        }
    }

    fn comparison(ours: Verdict, unbound: Verdict) -> Comparison {
        Comparison {
            question: Question {
                name: "www.w7.".into(),
                rtype: "A".into(),
            },
            ours,
            unbound,
            delv: None,
            ours_secs: 0.0,
            unbound_secs: 0.0,
            server_answers: Vec::new(),
        }
    }

    fn server(v: Verdict) -> ServerAnswer {
        ServerAnswer {
            server: "ns1.w7.".into(),
            addr: "127.0.0.1:53".parse().unwrap(),
            name: "www.w7.".into(),
            rtype: 1,
            verdict: v,
            authoritative: true,
        }
    }

    /// The rule a judgement names, if it is a justified one.
    fn rule_of(j: &Judgement) -> Option<Rule> {
        match j {
            Judgement::Justified(rule) => Some(*rule),
            _ => None,
        }
    }

    /// A lame server's reply: no AA, no answer (a referral).
    fn lame(v: Verdict) -> ServerAnswer {
        ServerAnswer {
            authoritative: false,
            ..server(v)
        }
    }

    /// Seed 1058: a server listed for the child but serving only the parent
    /// refers the child's questions to the child; Unbound reads that as
    /// NODATA, the engine asks the zone's other servers (NXDOMAIN).
    #[test]
    fn lame_server_needs_the_lame_reply_and_the_engines_verdict_from_the_zone() {
        let world = crate::generate(1058, Authority::Lab);
        let known = Known::default();
        let mut c = comparison(
            verdict(Status::NxDomain, true, None),
            verdict(Status::NoError, false, None),
        );
        assert!(judge_unbound(&world, &c, &known).is_unexplained());
        c.server_answers = vec![
            lame(verdict(Status::NoError, false, None)),
            server(verdict(Status::NxDomain, false, None)),
        ];
        assert_eq!(
            rule_of(&judge_unbound(&world, &c, &known)),
            Some(Rule::LameServer)
        );
        // A DNSSEC failure after asking the lame server is covered too.
        c.unbound = Verdict {
            status: Status::Fail,
            bogus: true,
            ..verdict(Status::Fail, false, None)
        };
        assert_eq!(
            rule_of(&judge_unbound(&world, &c, &known)),
            Some(Rule::LameServer)
        );
        // A failure that is not validation (a timeout) is not.
        c.unbound.bogus = false;
        assert!(judge_unbound(&world, &c, &known).is_unexplained());
        // The engine's verdict must be what an authoritative server says.
        c.unbound = verdict(Status::NoError, false, None);
        c.ours = verdict(Status::NoError, true, Some(7));
        assert!(judge_unbound(&world, &c, &known).is_unexplained());
        // Without a lame reply there is nothing to explain it.
        c.ours = verdict(Status::NxDomain, true, None);
        c.server_answers = vec![server(verdict(Status::NxDomain, false, None))];
        assert!(judge_unbound(&world, &c, &known).is_unexplained());
    }

    /// Seed 8968: `z4`'s only server is named in `prov`, whose listed
    /// `ns1` serves only the parent; Unbound takes its referral for the
    /// server's address as NODATA and SERVFAILs at once.
    #[test]
    fn lame_server_covers_a_servfail_when_every_server_name_lies_behind_it() {
        let world = crate::generate(8968, Authority::Lab);
        let known = Known::default();
        let mut c = comparison(
            verdict(Status::NxDomain, false, None),
            verdict(Status::Fail, false, None),
        );
        c.question.name = "nx.z4.z3.z2.z1.w8968.".into();
        c.unbound_secs = 0.4;
        let prov_soa = ServerAnswer {
            name: "prov.w8968.".into(),
            rtype: SOA,
            ..lame(verdict(Status::NoError, false, None))
        };
        c.server_answers = vec![prov_soa, server(verdict(Status::NxDomain, false, None))];
        assert_eq!(
            rule_of(&judge_unbound(&world, &c, &known)),
            Some(Rule::LameServer)
        );
        // A SERVFAIL only at the deadline is a timeout, not this.
        c.unbound_secs = 30.0;
        assert!(judge_unbound(&world, &c, &known).is_unexplained());
        // A name whose zones' servers are not all behind the lame zone.
        c.unbound_secs = 0.4;
        c.question.name = "nx.z1.w8968.".into();
        assert!(judge_unbound(&world, &c, &known).is_unexplained());
    }

    /// Seed 668: the engine stops at the CA's 10 s budget, Unbound answers
    /// at 15.3 s.
    #[test]
    fn ca_budget_needs_the_engine_at_the_budget_and_the_oracle_past_it() {
        let world = crate::generate(668, Authority::Lab);
        let known = Known::default();
        let mut c = comparison(
            verdict(Status::Fail, false, None),
            verdict(Status::NoError, true, Some(1)),
        );
        c.ours_secs = 10.0;
        c.unbound_secs = 15.3;
        assert_eq!(
            rule_of(&judge_unbound(&world, &c, &known)),
            Some(Rule::CaBudget)
        );
        // The oracle within the budget: the engine gave up too early.
        c.unbound_secs = 9.0;
        assert!(judge_unbound(&world, &c, &known).is_unexplained());
        // The engine failing early is not the budget.
        c.unbound_secs = 15.3;
        c.ours_secs = 4.0;
        assert!(judge_unbound(&world, &c, &known).is_unexplained());
        // The other way round (the engine answers, the oracle fails late)
        // is never this rule.
        c.ours = verdict(Status::NoError, true, Some(1));
        c.unbound = verdict(Status::Fail, false, None);
        c.ours_secs = 10.0;
        assert!(judge_unbound(&world, &c, &known).is_unexplained());
    }

    #[test]
    fn server_choice_needs_each_verdict_from_a_server() {
        let world = crate::generate(7, Authority::Lab);
        let known = Known::default();
        let mut c = comparison(
            verdict(Status::NoError, true, Some(1)),
            verdict(Status::NoError, true, Some(250)),
        );
        assert!(judge_unbound(&world, &c, &known).is_unexplained());
        c.server_answers = vec![
            server(verdict(Status::NoError, false, Some(1))),
            server(verdict(Status::NoError, false, Some(250))),
        ];
        assert_eq!(
            rule_of(&judge_unbound(&world, &c, &known)),
            Some(Rule::ServerChoice)
        );
        // Unbound's answer must be one a server gave.
        c.unbound = verdict(Status::NoError, true, Some(9));
        assert!(judge_unbound(&world, &c, &known).is_unexplained());
        // A security difference is never a server choice.
        c.unbound = verdict(Status::NoError, false, Some(250));
        assert!(judge_unbound(&world, &c, &known).is_unexplained());
    }

    /// Seed 23893: a stale copy's NXDOMAIN lands in an NSEC3 opt-out span
    /// (insecure, RFC 5155 §9.2), a current copy proves NODATA (secure).
    #[test]
    fn server_choice_covers_the_security_an_opt_out_denial_loses() {
        let world = crate::generate(23893, Authority::Lab);
        assert!(path_features(&world, "www.w23893.").contains("NSEC3 opt-out"));
        let known = Known::default();
        let mut c = comparison(
            verdict(Status::NxDomain, false, None),
            verdict(Status::NoError, true, None),
        );
        c.question.name = "www.w23893.".into();
        c.server_answers = vec![
            server(verdict(Status::NxDomain, false, None)),
            server(verdict(Status::NoError, false, None)),
        ];
        assert_eq!(
            rule_of(&judge_unbound(&world, &c, &known)),
            Some(Rule::ServerChoice)
        );
        // An answer with data is secure or not whoever sent it.
        c.server_answers = vec![
            server(verdict(Status::NoError, false, Some(1))),
            server(verdict(Status::NoError, false, Some(2))),
        ];
        c.ours = verdict(Status::NoError, false, Some(1));
        c.unbound = verdict(Status::NoError, true, Some(2));
        assert!(judge_unbound(&world, &c, &known).is_unexplained());
    }

    /// Seed 641 in CI: Unbound's SERVFAIL measured at 294 s on a starved
    /// machine, against the engine's NODATA in 9.9 s.
    #[test]
    fn an_answer_long_past_the_deadline_is_machine_load() {
        let world = crate::generate(641, Authority::Lab);
        let known = Known::default();
        let mut c = comparison(
            verdict(Status::NoError, false, None),
            verdict(Status::Fail, false, None),
        );
        c.ours_secs = 9.9;
        c.unbound_secs = 29.0;
        assert!(judge_unbound(&world, &c, &known).is_unexplained());
        c.unbound_secs = 294.0;
        assert!(matches!(
            judge_unbound(&world, &c, &known),
            Judgement::Known { ref area, .. } if area == "machine load"
        ));
        c.unbound_secs = 1.0;
        c.ours_secs = 60.0;
        assert!(matches!(
            judge_unbound(&world, &c, &known),
            Judgement::Known { .. }
        ));
        // Agreement stays agreement however long it took.
        c.unbound = c.ours.clone();
        assert!(matches!(
            judge_unbound(&world, &c, &known),
            Judgement::Agree
        ));
    }

    #[test]
    fn known_entries_match_seed_oracle_and_question() {
        let world = crate::generate(7, Authority::Lab);
        let c = comparison(
            verdict(Status::Fail, false, None),
            verdict(Status::NoError, true, Some(1)),
        );
        let known = Known::parse(
            "[[divergence]]\nseed = 7\ncause = \"x\"\narea = \"cuts\"\nquestions = [\"www.w7. A\"]\n",
        )
        .unwrap();
        assert!(matches!(
            judge_unbound(&world, &c, &known),
            Judgement::Known { .. }
        ));
        let other = crate::generate(8, Authority::Lab);
        assert!(judge_unbound(&other, &c, &known).is_unexplained());
        let knot = Known::parse(
            "[[divergence]]\nseed = 7\nauthority = \"knot\"\ncause = \"x\"\narea = \"cuts\"\n",
        )
        .unwrap();
        assert!(judge_unbound(&world, &c, &knot).is_unexplained());
    }

    #[test]
    fn feature_entries_cover_only_paths_with_the_feature() {
        let known = Known::parse(
            "[[divergence]]\nfeature = \"slow server\"\noracle_verdict = \"NODATA\"\ncause = \"x\"\narea = \"transport\"\n",
        )
        .unwrap();
        let nodata = verdict(Status::NoError, false, None);
        let answer = verdict(Status::NoError, false, Some(1));
        let (mut with, mut without) = (0, 0);
        for seed in 1..200 {
            let world = crate::generate(seed, Authority::Lab);
            for q in &world.questions {
                let mut c = comparison(answer.clone(), nodata.clone());
                c.question = q.clone();
                let slow = path_features(&world, &q.name)
                    .iter()
                    .any(|f| f.starts_with("slow server"));
                let j = judge_unbound(&world, &c, &known);
                assert_eq!(
                    matches!(j, Judgement::Known { .. }),
                    slow,
                    "seed {seed} {q}"
                );
                // Another oracle verdict is not covered.
                c.unbound = verdict(Status::NxDomain, false, None);
                assert!(judge_unbound(&world, &c, &known).is_unexplained());
                if slow {
                    with += 1;
                } else {
                    without += 1;
                }
            }
        }
        assert!(with > 0 && without > 0);
        assert!(Known::parse("[[divergence]]\ncause = \"x\"\narea = \"y\"\n").is_err());
    }

    #[test]
    fn delv_rules_need_their_evidence() {
        let world = crate::generate(7, Authority::Lab);
        let known = Known::default();
        let ours = verdict(Status::NxDomain, false, None);
        let mut c = comparison(ours.clone(), ours);
        let run = |verdict, saw_opt_out| DelvRun {
            verdict,
            trace_tail: String::new(),
            saw_opt_out,
        };
        c.delv = Some(run(DelvVerdict::Secure("NXDOMAIN"), true));
        assert!(matches!(
            judge_delv(&world, &c, &known),
            Some(Judgement::Justified(Rule::DelvOptOut))
        ));
        c.delv = Some(run(DelvVerdict::Secure("NXDOMAIN"), false));
        assert!(judge_delv(&world, &c, &known).is_some_and(|j| j.is_unexplained()));
        c.delv = Some(run(DelvVerdict::ServFail, false));
        assert!(matches!(
            judge_delv(&world, &c, &known),
            Some(Judgement::Justified(Rule::DelvFetchFailure))
        ));
        c.unbound = verdict(Status::Fail, false, None);
        c.delv = Some(run(DelvVerdict::Bogus, false));
        assert!(judge_delv(&world, &c, &known).is_some_and(|j| j.is_unexplained()));
    }
}
