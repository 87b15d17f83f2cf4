//! A second try at a zone below the one the walk asked (found without a
//! referral, by its RRSIG signer name or a DS probe, RFC 4035 §5, RFC 6840
//! §4.x, or meanwhile by another lookup's referral) when the answer from
//! the walked servers, which serve its parent too, fails validation.
//!
//! The walk only knows the parent's servers, so a co-hosted child is asked
//! there; when those copies cannot give a validatable answer (one answers
//! only without EDNS, so without RRSIGs, and the others fail), a validating
//! resolver does not stop at bogus: Unbound marks the server that gave the
//! bogus answer and asks again (`val_blacklist`, the validator's restart),
//! by then with the child's own delegation, whose NS set may name servers
//! the parent's set lacks (worlds seed 32782).

use std::{collections::HashSet, net::SocketAddr, sync::Arc};

use crate::{
    limits,
    lookup::{NameServer, ServerVerdict, ZoneCut},
    types::{DnsName, RecordType},
    wire::Decoded,
};

use super::Engine;
use super::classify::choose_for;
use super::ctx::Ctx;
use super::walk::dedup_servers;

/// What the retry at the zone below got: the cut as asked (the child's own
/// servers not yet asked), the chosen server's verdict and reply, and where
/// the retry's server answers start in [`Ctx::answers`].
pub(super) struct Retried {
    pub(super) cut: Arc<ZoneCut>,
    pub(super) verdict: ServerVerdict,
    pub(super) decoded: Box<Decoded>,
    pub(super) first_answer: usize,
}

impl Engine {
    /// Asks `qname`/`qtype` once more of the servers of `found`, the zone
    /// below the walked one (its NS set's
    /// addresses, the names without one resolved, at most
    /// [`limits::MAX_NS_NAMES_PER_CUT`]) that have not answered this question
    /// yet. `None` when there is no such server or none gave an answer or a
    /// denial. One retry, never a loop: the caller validates it and keeps the
    /// first verdict if this one fails too.
    pub(super) async fn retry_below(
        &self,
        qname: &DnsName,
        qtype: RecordType,
        found: &ZoneCut,
        ctx: &mut Ctx,
    ) -> Option<Retried> {
        let asked: HashSet<SocketAddr> = ctx
            .answers
            .iter()
            .filter(|a| &a.qname == qname && a.qtype == qtype)
            .map(|a| a.server.addr)
            .collect();
        let mut servers: Vec<NameServer> = found
            .servers
            .iter()
            .filter(|s| !asked.contains(&s.addr))
            .cloned()
            .collect();
        let with_address: HashSet<&DnsName> = found.servers.iter().map(|s| &s.name).collect();
        let to_resolve: Vec<DnsName> = found
            .ns_names
            .iter()
            .filter(|n| !with_address.contains(n))
            .take(limits::MAX_NS_NAMES_PER_CUT)
            .cloned()
            .collect();
        for (_, resolved, _) in self.resolve_ns_servers(&to_resolve, &[], ctx).await {
            servers.extend(resolved.into_iter().filter(|s| !asked.contains(&s.addr)));
        }
        dedup_servers(&mut servers);
        if servers.is_empty() {
            return None;
        }
        let cut = Arc::new(ZoneCut {
            servers,
            ..found.clone()
        });
        let (servers, replies, verdicts) = self.ask_cut_in(&cut, qname, qtype, ctx, true).await;
        for r in &replies {
            ctx.add_reply(r, qname, qtype);
        }
        let chosen = choose_for(qname, qtype, &replies, &verdicts);
        let first_answer = ctx.answers.len();
        ctx.add_answers(
            &cut.zone,
            (qname, qtype),
            (&servers, &replies, &verdicts),
            chosen,
        );
        let i = chosen?;
        let verdict = verdicts[i].clone();
        if !matches!(
            verdict,
            ServerVerdict::Answer { .. } | ServerVerdict::NoData | ServerVerdict::NxDomain
        ) {
            return None;
        }
        let decoded = Box::new(replies[i].decoded.clone()?);
        Some(Retried {
            cut,
            verdict,
            decoded,
            first_answer,
        })
    }
}
