//! How a batch runs one line's check: the seam where the way a check gets
//! its DNS engine is chosen. A check either shares the root's, the TLDs' and
//! every common zone's cuts and keys with the batch's other checks
//! ([`SharedInfra`], the default: each hostname's own names are still asked
//! fresh), runs alone with its own fresh engine ([`Isolated`], `--isolated`:
//! what one CA perspective sees cold), or also asks remote perspectives
//! ([`WithPerspectives`], BR 3.2.2.9). A worker that takes checks from a
//! queue is one more [`LineChecker`]; the reading, ordering, progress and
//! summary around it stay as they are.

use std::sync::Arc;

use dcv_diagnosis::config::CheckConfig;
use dcv_diagnosis::{Evidence, Report};
use dcv_dns::{DnsName, SharedCacheStats, SharedInfraCache};
use futures::future::BoxFuture;

use crate::mpic::{MpicOptions, PerspectiveSpec, run_mpic_check};

/// One check's result and what the summary groups it by.
#[derive(Debug)]
pub struct Checked {
    pub report: Report,
    /// The DNS zone that holds the hostname (its closest zone cut), when the
    /// check learnt it.
    pub zone: Option<String>,
}

/// Runs one line's check. Implementations own what they share between
/// checks, so the batch can run each check as its own task.
pub trait LineChecker: Send + Sync + std::fmt::Debug + 'static {
    fn check(&self, cfg: CheckConfig) -> BoxFuture<'static, Checked>;

    /// What the batch's shared infrastructure cache saved so far, when the
    /// checks share one (not `--isolated`).
    fn shared_cache_stats(&self) -> Option<SharedCacheStats> {
        None
    }
}

/// Each check with its own DNS engine and cache, so one hostname's answers
/// never colour another's, as separate CA validations would not share a
/// stale negative answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Isolated;

impl LineChecker for Isolated {
    fn check(&self, cfg: CheckConfig) -> BoxFuture<'static, Checked> {
        Box::pin(check_here(cfg))
    }
}

/// Each check with its own engine, but the zone cuts and validated keys of
/// the root, the TLDs and every zone several hostnames share come from one
/// [`SharedInfraCache`] while their TTLs last (see its documentation): a
/// batch of hostnames under a few zones asks the infrastructure once, not
/// once per hostname. Each hostname's own names (A/AAAA, CAA, TXT, CNAME
/// targets) are still asked of every authoritative server by each check.
#[derive(Debug, Clone, Default)]
pub struct SharedInfra {
    pub cache: SharedInfraCache,
}

impl LineChecker for SharedInfra {
    fn check(&self, mut cfg: CheckConfig) -> BoxFuture<'static, Checked> {
        cfg.dns.shared_cache = Some(self.cache.clone());
        Box::pin(check_here(cfg))
    }

    fn shared_cache_stats(&self) -> Option<SharedCacheStats> {
        Some(self.cache.stats())
    }
}

/// One check from here, and the zone that holds the hostname.
async fn check_here(cfg: CheckConfig) -> Checked {
    let name = DnsName::parse(cfg.hostname.base()).ok();
    let (report, observations) = dcv_diagnosis::runner::run_check_observed(cfg).await;
    // CAA is asked at the name itself first (RFC 8659 §3), so that
    // lookup walked down to the zone holding it.
    let zone = observations
        .as_ref()
        .zip(name.as_ref())
        .and_then(|(obs, name)| obs.caa.first()?.zone_cut_for(name))
        .map(|cut| cut.zone.to_string())
        .or_else(|| zone_from_evidence(&report));
    Checked { report, zone }
}

/// The primary check here plus every remote perspective (`check
/// --perspectives`), each agent with its own fresh engine. The primary
/// check uses `shared_cache` when set (not `--isolated`); the agents are
/// engines of their own, cold as a CA's remote perspectives are.
#[derive(Debug, Clone)]
pub struct WithPerspectives {
    pub perspectives: Arc<[PerspectiveSpec]>,
    /// `--as-of`: the date whose BR 3.2.2.9 phase applies (default today).
    pub as_of: Option<time::Date>,
    pub shared_cache: Option<SharedInfraCache>,
}

impl LineChecker for WithPerspectives {
    fn shared_cache_stats(&self) -> Option<SharedCacheStats> {
        self.shared_cache.as_ref().map(SharedInfraCache::stats)
    }

    fn check(&self, mut cfg: CheckConfig) -> BoxFuture<'static, Checked> {
        cfg.dns.shared_cache.clone_from(&self.shared_cache);
        let perspectives = Arc::clone(&self.perspectives);
        let as_of = self.as_of;
        Box::pin(async move {
            let mut opts = MpicOptions::for_check(&cfg);
            if let Some(date) = as_of {
                opts.as_of = date;
            }
            let report = run_mpic_check(cfg, &perspectives, &opts).await;
            // The coordinator hands back the report only: the zone is known
            // when a finding's DNS evidence names it.
            let zone = zone_from_evidence(&report);
            Checked { report, zone }
        })
    }
}

/// The zone a finding's DNS evidence names for the hostname itself.
pub(crate) fn zone_from_evidence(report: &Report) -> Option<String> {
    let own = |query: &str| {
        query
            .rsplit_once('/')
            .is_some_and(|(name, _)| name.trim_end_matches('.') == report.hostname)
    };
    report
        .findings
        .iter()
        .flat_map(|f| &f.evidence)
        .find_map(|e| match e {
            Evidence::DnsLookup(l) if own(&l.query) => l.zone.clone(),
            Evidence::DnsPaths(p) if own(&p.query) => Some(p.zone.clone()),
            _ => None,
        })
}
