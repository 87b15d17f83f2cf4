//! The evidence one lookup gathers: zone cuts walked, every server's answer,
//! the exchanges (each question once) and the validation steps.

use std::{collections::HashSet, net::SocketAddr};

use crate::{
    evidence::Exchange,
    lookup::{CutSource, NameServer, ServerAnswer, ServerVerdict, ValidationStep, ZoneCut},
    transport::ServerReply,
    types::{DnsName, RecordType},
};

use super::ask::Late;
use super::chain::ZoneKeys;

/// Evidence gathered while resolving one lookup.
#[derive(Default)]
pub(super) struct Ctx {
    pub(super) cuts: Vec<ZoneCut>,
    pub(super) answers: Vec<ServerAnswer>,
    pub(super) exchanges: Vec<Exchange>,
    pub(super) seen: HashSet<(SocketAddr, DnsName, RecordType)>,
    pub(super) steps: Vec<ValidationStep>,
    /// Questions the walk left running at a zone cut; their answers join
    /// the evidence before the lookup completes.
    pub(super) late: Vec<Late>,
    /// When the CA would give up on this lookup (set at its first question).
    pub(super) deadline: Option<tokio::time::Instant>,
    /// Names whose key evidence ([`ZoneKeys`]) is already in.
    pub(super) keys_seen: HashSet<DnsName>,
}

impl Ctx {
    /// Adds a zone cut once per zone; a cut known from a referral replaces
    /// the same cut found by validation (the referral names its servers).
    pub(super) fn add_cut(&mut self, cut: &ZoneCut) {
        match self.cuts.iter_mut().find(|c| c.zone == cut.zone) {
            None => self.cuts.push(cut.clone()),
            Some(known) => {
                let found =
                    |c: &ZoneCut| matches!(c.found_by, CutSource::SignerName | CutSource::DsProbe);
                if found(known) && !found(cut) {
                    *known = cut.clone();
                }
            }
        }
    }

    /// Records each server's answer to one question put to a zone's servers,
    /// marking the one the resolver view chose.
    pub(super) fn add_answers(
        &mut self,
        zone: &DnsName,
        (qname, qtype): (&DnsName, RecordType),
        asked: (
            &[NameServer],
            &[std::sync::Arc<ServerReply>],
            &[ServerVerdict],
        ),
        chosen: Option<usize>,
    ) {
        let (servers, replies, verdicts) = asked;
        for (i, ((ns, reply), v)) in servers.iter().zip(replies).zip(verdicts).enumerate() {
            self.answers.push(ServerAnswer {
                zone: zone.clone(),
                qname: qname.clone(),
                qtype,
                server: ns.clone(),
                verdict: v.clone(),
                authoritative: super::classify::is_aa(reply),
                chosen: Some(i) == chosen,
            });
        }
    }

    pub(super) fn add_reply(&mut self, reply: &ServerReply, qname: &DnsName, qtype: RecordType) {
        if self.seen.insert((reply.server, qname.clone(), qtype)) {
            self.exchanges.extend(reply.exchanges.iter().cloned());
        }
    }

    /// Adds exchanges of questions not yet recorded (all attempts of a
    /// question, TCP fallback included, or none of them).
    pub(super) fn add_exchanges<'e>(&mut self, exchanges: impl IntoIterator<Item = &'e Exchange>) {
        let mut fresh = HashSet::new();
        for e in exchanges {
            let key = (e.server, e.qname.clone(), e.qtype);
            if fresh.contains(&key) || !self.seen.contains(&key) {
                fresh.insert(key);
                self.exchanges.push(e.clone());
            }
        }
        self.seen.extend(fresh);
    }

    pub(super) fn merge(&mut self, other: &Ctx, with_answers: bool) {
        for c in &other.cuts {
            self.add_cut(c);
        }
        self.add_exchanges(&other.exchanges);
        if with_answers {
            self.answers.extend(other.answers.iter().cloned());
        }
    }

    /// Adds the key evidence of `zk` and the chain above it, each zone
    /// once; a step another engine fetched (`built_by` is not `engine`, so
    /// it came from a shared cache) says how old it was.
    pub(super) fn add_keys(&mut self, zk: &ZoneKeys, engine: u64) {
        let mut chain = Vec::new();
        let mut cur = Some(zk);
        while let Some(k) = cur {
            chain.push(k);
            cur = k.parent.as_deref();
        }
        for k in chain.into_iter().rev() {
            if !self.keys_seen.insert(k.name.clone()) {
                continue;
            }
            if let Some(step) = &k.step
                && !self.steps.iter().any(|s| s.zone == step.zone)
            {
                let mut step = step.clone();
                if k.built_by != engine {
                    step.from_shared_cache =
                        Some(super::shared::age(k.fetched, std::time::Instant::now()));
                }
                self.steps.push(step);
            }
            if let Some(cut) = &k.found_cut {
                self.add_cut(cut);
            }
            self.answers.extend(k.answers.iter().cloned());
            self.add_exchanges(&k.exchanges);
        }
    }
}
