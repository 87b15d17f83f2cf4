//! What the page draws besides the report: the DNSSEC chain of trust of the
//! names the CA looks up, and the HTTP-01 attempts per address. Both are
//! built from the check's observations (the probes' own evidence, which the
//! report's findings only summarise), flattened to strings and numbers, and
//! stored beside the report so a permalink draws the same picture later.

use std::collections::BTreeSet;

use dcv_diagnosis::runner::Observations;
use dcv_dns::{Lookup, Security, ValidationStep, ZoneCut};
use serde::{Deserialize, Serialize};

/// Records shown per answer; the report has them all.
const MAX_RECORDS_SHOWN: usize = 4;
/// Zones in one chain (a CNAME chain can cross several trees); beyond this
/// the picture stops and says so.
pub const MAX_CHAIN_ZONES: usize = 24;

/// The pictures of one check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Views {
    pub dnssec: DnssecView,
    /// `None` when the HTTP method was not checked.
    pub http: Option<HttpTimeline>,
}

impl Views {
    /// Builds the pictures from what the probes saw (`None`: the check timed
    /// out or was an IP literal, so there is nothing to draw).
    pub fn from_observations(obs: Option<&Observations>) -> Views {
        let Some(obs) = obs else {
            return Views::default();
        };
        Views {
            dnssec: DnssecView::from_lookups(ca_lookups(obs)),
            http: obs.http.as_ref().map(HttpTimeline::from_probe),
        }
    }
}

/// The lookups a CA makes for this check: A/AAAA at the name (HTTP-01), the
/// `_acme-challenge` TXT (DNS-01) and CAA at the name and each parent (RFC
/// 8659 §3).
fn ca_lookups(obs: &Observations) -> Vec<&Lookup> {
    obs.a
        .iter()
        .chain(obs.aaaa.iter())
        .chain(obs.txt.iter())
        .chain(obs.caa.iter())
        .collect()
}

/// RFC 4035 §4.3 status of one link, as the picture colours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    Secure,
    /// Provably unsigned below this point: fine for a CA (BR 3.2.2.8.1).
    Insecure,
    /// Not validated (no step recorded, e.g. the lookup failed first).
    Unknown,
    /// Could not be determined: a fetch failed. Never read as bogus.
    Indeterminate,
    Bogus,
}

impl LinkStatus {
    fn of(security: &Security) -> (LinkStatus, Option<String>) {
        match security {
            Security::Secure => (LinkStatus::Secure, None),
            Security::Insecure(r) => (LinkStatus::Insecure, Some(r.to_string())),
            Security::Bogus(r) => (LinkStatus::Bogus, Some(r.to_string())),
            Security::Indeterminate(r) => (LinkStatus::Indeterminate, Some(r.to_string())),
        }
    }

    /// Whether the link breaks the chain (drawn red).
    pub fn is_broken(self) -> bool {
        matches!(self, LinkStatus::Bogus | LinkStatus::Indeterminate)
    }

    pub fn label(self) -> &'static str {
        match self {
            LinkStatus::Secure => "secure",
            LinkStatus::Insecure => "insecure",
            LinkStatus::Unknown => "not validated",
            LinkStatus::Indeterminate => "indeterminate",
            LinkStatus::Bogus => "bogus",
        }
    }
}

/// One zone of the chain: how it is anchored (a DS in its parent or a trust
/// anchor), its keys and its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneNode {
    pub zone: String,
    /// Index of the parent zone in [`DnssecView::zones`] (`None`: the top).
    pub parent: Option<usize>,
    /// Checked against a configured trust anchor rather than a parent DS.
    pub anchored: bool,
    /// DS records (or anchors) as `tag/algorithm/digest type`.
    pub ds: Vec<String>,
    pub keys: Vec<KeyView>,
    pub status: LinkStatus,
    pub reason: Option<String>,
    /// Facts the evidence carries beyond the fields above (how the cut was
    /// found, ...), as `name: value`: shown as they are.
    pub notes: Vec<String>,
}

/// One DNSKEY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    pub key_tag: u16,
    pub algorithm: u8,
    /// SEP flag set (RFC 4034 §2.1.1): a key-signing key.
    pub ksk: bool,
    pub matches_ds: bool,
    pub signs_dnskey_rrset: bool,
}

/// One answer the CA needs, attached to the zone that served it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerNode {
    /// `name/TYPE`.
    pub query: String,
    /// Index of the serving zone in [`DnssecView::zones`].
    pub zone: Option<usize>,
    /// `answer`, `NXDOMAIN`, `NODATA`, `SERVFAIL`.
    pub outcome: String,
    pub records: Vec<String>,
    pub more_records: usize,
    pub status: LinkStatus,
    pub reason: Option<String>,
}

/// The chain of trust as a tree: zones from the top down, answers as leaves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DnssecView {
    pub zones: Vec<ZoneNode>,
    pub answers: Vec<AnswerNode>,
    /// The chain was cut at [`MAX_CHAIN_ZONES`].
    pub truncated: bool,
}

impl DnssecView {
    /// Merges the lookups' chains into one tree: a zone reached by several
    /// lookups is one node (its worst status wins, each reason kept once).
    pub fn from_lookups(lookups: Vec<&Lookup>) -> DnssecView {
        let mut view = DnssecView::default();
        for lookup in lookups {
            let mut parent: Option<usize> = None;
            let steps: Vec<StepFacts> = if lookup.validation.is_empty() {
                // Nothing validated: draw the cuts walked, status unknown.
                lookup.zone_cuts.iter().map(StepFacts::from_cut).collect()
            } else {
                lookup
                    .validation
                    .iter()
                    .map(|s| StepFacts::from_step(s, cut_for(lookup, s)))
                    .collect()
            };
            for step in steps {
                if view.zones.len() >= MAX_CHAIN_ZONES && view.find(&step.zone, parent).is_none() {
                    view.truncated = true;
                    break;
                }
                parent = Some(view.merge(step, parent));
            }
            let final_name = lookup.chain.last().map_or(&lookup.qname, |l| &l.target);
            let serving = lookup
                .zone_cut_for(final_name)
                .and_then(|c| {
                    view.zones
                        .iter()
                        .rposition(|z| z.zone == c.zone.to_string())
                })
                .or(parent);
            let (status, reason) = match &lookup.outcome {
                dcv_dns::Outcome::ServFail { why } => {
                    let (s, r) = LinkStatus::of(&lookup.security);
                    let s = if s == LinkStatus::Secure || s == LinkStatus::Insecure {
                        LinkStatus::Unknown
                    } else {
                        s
                    };
                    (s, r.or_else(|| Some(why.to_string())))
                }
                _ => LinkStatus::of(&lookup.security),
            };
            let records: Vec<String> = lookup
                .records()
                .iter()
                .map(|r| format!("{} {} {}", r.name, r.rtype, r.rdata))
                .collect();
            view.answers.push(AnswerNode {
                query: format!("{}/{}", lookup.qname.without_dot(), lookup.qtype),
                zone: serving,
                outcome: match &lookup.outcome {
                    dcv_dns::Outcome::Answer { .. } => "answer".to_owned(),
                    other => other.label().to_owned(),
                },
                more_records: records.len().saturating_sub(MAX_RECORDS_SHOWN),
                records: records.into_iter().take(MAX_RECORDS_SHOWN).collect(),
                status,
                reason,
            });
        }
        view
    }

    fn find(&self, zone: &str, parent: Option<usize>) -> Option<usize> {
        self.zones
            .iter()
            .position(|z| z.zone == zone && z.parent == parent)
    }

    /// Adds `step` under `parent`, or merges it into the node already there.
    fn merge(&mut self, step: StepFacts, parent: Option<usize>) -> usize {
        if let Some(i) = self.find(&step.zone, parent) {
            let node = &mut self.zones[i];
            if step.status > node.status {
                node.status = step.status;
                node.reason = step.reason;
            }
            for note in step.notes {
                if !node.notes.contains(&note) {
                    node.notes.push(note);
                }
            }
            return i;
        }
        self.zones.push(ZoneNode {
            zone: step.zone,
            parent,
            anchored: step.anchored,
            ds: step.ds,
            keys: step.keys,
            status: step.status,
            reason: step.reason,
            notes: step.notes,
        });
        self.zones.len() - 1
    }

    /// The first broken link, top down: the one the picture highlights.
    pub fn first_broken(&self) -> Option<BrokenLink> {
        if let Some(i) = self.zones.iter().position(|z| z.status.is_broken()) {
            return Some(BrokenLink::Zone(i));
        }
        self.answers
            .iter()
            .position(|a| a.status.is_broken())
            .map(BrokenLink::Answer)
    }
}

/// Which link of the picture is the broken one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokenLink {
    Zone(usize),
    Answer(usize),
}

/// The facts of one zone step, before merging.
struct StepFacts {
    zone: String,
    anchored: bool,
    ds: Vec<String>,
    keys: Vec<KeyView>,
    status: LinkStatus,
    reason: Option<String>,
    notes: Vec<String>,
}

impl StepFacts {
    fn from_step(step: &ValidationStep, cut: Option<&ZoneCut>) -> StepFacts {
        let (status, reason) = LinkStatus::of(&step.security);
        let mut notes = extra_fields(step, &["zone", "anchored", "ds", "dnskeys", "security"]);
        if let Some(cut) = cut {
            notes.extend(cut_notes(cut));
        }
        StepFacts {
            zone: step.zone.to_string(),
            anchored: step.anchored,
            ds: step.ds.iter().map(ToString::to_string).collect(),
            keys: step
                .dnskeys
                .iter()
                .map(|k| KeyView {
                    key_tag: k.key_tag,
                    algorithm: k.algorithm,
                    ksk: k.flags & 0x0001 != 0,
                    matches_ds: k.matches_ds,
                    signs_dnskey_rrset: k.signs_dnskey_rrset,
                })
                .collect(),
            status,
            reason,
            notes,
        }
    }

    fn from_cut(cut: &ZoneCut) -> StepFacts {
        StepFacts {
            zone: cut.zone.to_string(),
            anchored: false,
            ds: Vec::new(),
            keys: Vec::new(),
            status: LinkStatus::Unknown,
            reason: None,
            notes: cut_notes(cut),
        }
    }
}

fn cut_for<'a>(lookup: &'a Lookup, step: &ValidationStep) -> Option<&'a ZoneCut> {
    lookup.zone_cuts.iter().find(|c| c.zone == step.zone)
}

/// How a cut was reached, from its own evidence: the parent and server that
/// referred, and whatever else the engine records about it.
fn cut_notes(cut: &ZoneCut) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(parent) = &cut.parent {
        match cut.referred_by {
            Some(by) => notes.push(format!("delegated by {parent} (referral from {})", by.ip())),
            None => notes.push(format!("below {parent}")),
        }
    }
    notes.extend(extra_fields(
        cut,
        &[
            "zone",
            "parent",
            "ns_names",
            "servers",
            "unresolved",
            "referred_by",
        ],
    ));
    notes
}

/// Fields of `value`'s JSON other than `known`, as `name: value`: evidence
/// the engine adds later is shown without this module knowing its shape.
fn extra_fields(value: &impl Serialize, known: &[&str]) -> Vec<String> {
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(value) else {
        return Vec::new();
    };
    let known: BTreeSet<&str> = known.iter().copied().collect();
    map.into_iter()
        .filter(|(k, v)| !known.contains(k.as_str()) && !v.is_null())
        .filter(|(_, v)| !matches!(v, serde_json::Value::Array(a) if a.is_empty()))
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{}: {s}", k.replace('_', " ")),
            other => format!("{}: {other}", k.replace('_', " ")),
        })
        .collect()
}

/// The HTTP-01 attempts, one row per starting address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpTimeline {
    pub url: String,
    /// Why the probe could not run or the name did not resolve.
    pub error: Option<String>,
    /// What the CA would do: the addresses it would dial in order, whether
    /// it falls back to IPv4 (only after a dial error on IPv6, Boulder
    /// `va/http.go`), and its verdict.
    pub ca_addresses: Vec<String>,
    pub ca_fell_back_to_ipv4: bool,
    pub ca_outcome: Option<String>,
    pub ca_healthy: bool,
    pub ca_problem: Option<String>,
    pub attempts: Vec<AttemptView>,
}

/// One starting address and its hops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptView {
    /// `IPv6` or `IPv4`.
    pub family: String,
    pub address: String,
    /// The attempt whose result the CA would use.
    pub ca_path: bool,
    pub outcome: String,
    pub healthy: bool,
    pub hops: Vec<HopView>,
}

/// One request of an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HopView {
    pub url: String,
    pub address: Option<String>,
    pub status: Option<u16>,
    pub location: Option<String>,
    /// Phases with their durations, in order: connect, tls, response, body.
    pub phases: Vec<PhaseView>,
    pub total_ms: f64,
    pub failed_phase: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseView {
    pub name: String,
    pub ms: f64,
}

impl HttpTimeline {
    fn from_probe(probe: &Result<dcv_http::HttpProbeReport, String>) -> HttpTimeline {
        let report = match probe {
            Ok(r) => r,
            Err(e) => {
                return HttpTimeline {
                    url: String::new(),
                    error: Some(e.clone()),
                    ca_addresses: Vec::new(),
                    ca_fell_back_to_ipv4: false,
                    ca_outcome: None,
                    ca_healthy: false,
                    ca_problem: None,
                    attempts: Vec::new(),
                };
            }
        };
        let ca = &report.ca_view;
        let attempts = report
            .attempts
            .iter()
            .enumerate()
            .map(|(i, a)| AttemptView {
                family: match a.family {
                    dcv_http::Family::Ipv6 => "IPv6",
                    dcv_http::Family::Ipv4 => "IPv4",
                }
                .to_owned(),
                address: a.address.to_string(),
                ca_path: ca.attempt == Some(i),
                outcome: a.classification.code().to_owned(),
                healthy: a.classification.is_healthy(),
                hops: a.hops.iter().map(hop_view).collect(),
            })
            .collect();
        HttpTimeline {
            url: report.url.clone(),
            error: report.resolve_error.as_ref().map(|e| e.message.clone()),
            ca_addresses: ca.addresses_tried.iter().map(ToString::to_string).collect(),
            ca_fell_back_to_ipv4: ca.fell_back_to_ipv4,
            ca_outcome: Some(ca.classification.code().to_owned()),
            ca_healthy: ca.classification.is_healthy(),
            ca_problem: ca.problem.as_ref().map(|p| p.detail.clone()),
            attempts,
        }
    }

    /// The longest hop, for scaling the bars.
    pub fn longest_ms(&self) -> f64 {
        self.attempts
            .iter()
            .flat_map(|a| &a.hops)
            .map(|h| h.total_ms)
            .fold(0.0, f64::max)
    }
}

fn hop_view(h: &dcv_http::probe::Hop) -> HopView {
    let t = &h.timings;
    let phases = [
        ("connect", t.connect_ms),
        ("tls", t.tls_ms),
        ("response", t.headers_ms),
        ("body", t.body_ms),
    ]
    .into_iter()
    .filter_map(|(name, ms)| {
        ms.map(|ms| PhaseView {
            name: name.to_owned(),
            ms,
        })
    })
    .collect();
    HopView {
        url: h.url.clone(),
        address: h.address.map(|a| a.to_string()),
        status: h.status,
        location: h.location.clone(),
        phases,
        total_ms: t.total_ms,
        failed_phase: h
            .error
            .as_ref()
            .map(|e| format!("{:?}", e.phase).to_lowercase()),
        error: h.error.as_ref().map(|e| e.detail.clone()),
    }
}
