//! The questions the engine puts to name servers: one server (cached and
//! deduplicated in flight, under the query budget), every server of a zone
//! cut, and the single-path probes. Where retransmission and server choice
//! live, apart from the walk that decides what to ask.

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
};

use futures::future::join_all;

use crate::{
    evidence::Exchange,
    lookup::{NameServer, ServerVerdict, ZoneCut},
    transport::{self, QueryParams, ServerReply},
    types::{DnsName, RecordType},
};

use super::classify::classify_for;
use super::{Engine, lock};

impl Engine {
    /// Asks `server` one question over one chosen `path` (UDP or TCP, with or
    /// without EDNS), bypassing the cache: the single-host probe of "is this
    /// server reachable every way a CA's resolver may ask" (RFC 8659 §6.1).
    /// A truncated UDP answer is returned as it came (TC set), not retried
    /// over TCP. Counts against the query budget; `None` once it is spent.
    pub async fn probe_path(
        &self,
        server: SocketAddr,
        qname: &DnsName,
        qtype: RecordType,
        path: crate::evidence::QueryPath,
    ) -> Option<Exchange> {
        let params = QueryParams {
            timeout: self.inner.config.query_timeout,
            retries: self.inner.config.retries,
            policy: self.inner.config.server_policy,
        };
        let budget = || self.take_budget();
        let journal = &self.inner.journal;
        transport::query_path(
            server,
            &qname.to_hickory(),
            qtype,
            path,
            params,
            &budget,
            journal,
        )
        .await
    }

    pub(super) fn take_budget(&self) -> bool {
        self.inner
            .sent
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.inner.config.max_queries).then_some(n + 1)
            })
            .is_ok()
    }

    /// One question to one server, cached and deduplicated in flight.
    pub(super) async fn ask(
        &self,
        server: SocketAddr,
        qname: &DnsName,
        qtype: RecordType,
    ) -> Arc<ServerReply> {
        let cell = {
            let mut map = lock(&self.inner.replies);
            map.entry((server, qname.clone(), qtype))
                .or_default()
                .clone()
        };
        cell.get_or_init(|| async {
            let params = QueryParams {
                timeout: self.inner.config.query_timeout,
                retries: self.inner.config.retries,
                policy: self.inner.config.server_policy,
            };
            let budget = || self.take_budget();
            let journal = &self.inner.journal;
            Arc::new(
                transport::query(server, &qname.to_hickory(), qtype, params, &budget, journal)
                    .await,
            )
        })
        .await
        .clone()
    }

    /// Asks the servers of `cut` concurrently; the root's servers (unless
    /// [`EngineConfig::ask_every_root_server`]) one at a time until one is
    /// usable, as a resolver would: they are never the domain's problem.
    pub(super) async fn ask_cut(
        &self,
        cut: &ZoneCut,
        qname: &DnsName,
        qtype: RecordType,
    ) -> (Vec<NameServer>, Vec<Arc<ServerReply>>, Vec<ServerVerdict>) {
        if cut.parent.is_none() && !self.inner.config.ask_every_root_server {
            let mut servers = Vec::new();
            let mut replies = Vec::new();
            let mut verdicts = Vec::new();
            for ns in &cut.servers {
                let reply = self.ask(ns.addr, qname, qtype).await;
                let verdict = classify_for(&cut.zone, qname, qtype, &reply);
                let done = verdict.is_usable();
                servers.push(ns.clone());
                replies.push(reply);
                verdicts.push(verdict);
                if done {
                    break;
                }
            }
            return (servers, replies, verdicts);
        }
        let replies = join_all(cut.servers.iter().map(|ns| self.ask(ns.addr, qname, qtype))).await;
        let verdicts = replies
            .iter()
            .map(|r| classify_for(&cut.zone, qname, qtype, r))
            .collect();
        (cut.servers.clone(), replies, verdicts)
    }
}
