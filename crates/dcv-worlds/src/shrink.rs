//! Shrinking a diverging world to a small one that still diverges the same
//! way (same question, same pair of verdicts), so the cause is plain and the
//! world can become a regression file.
//!
//! Greedy delta debugging: each round tries every single simplification of
//! the current world (drop a zone, a record, a server fault, a zone fault, a
//! stale copy, a lame server, a server; simpler signing), all as worlds of
//! one batch with TLDs of their own, and keeps the first that still
//! diverges; the next round first tries all of the previous round's
//! diverging steps at once.

use std::time::Instant;

use dcv_lab::{Behaviour, KeyAlgorithm, Signing, ZoneFault};

use crate::batch::{RunConfig, run_batch};
use crate::run::Divergence;
use crate::world::World;

/// Rounds at most (each is one batch).
pub const MAX_ROUNDS: usize = 16;
/// Candidates per round at most.
const MAX_CANDIDATES: usize = 150;

/// One simplification, naming what it removes by identity (apex, server
/// name, record text), so a step found in one round applies to a later,
/// smaller world too.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    DropZone(String),
    DropRecord(String, String),
    ClearBehaviour(String),
    DropFault(String, ZoneFault),
    DropStale(String),
    DropLame(String),
    DropServer(String, String),
    PlainNsec(String),
    Algorithm13(String),
    Unsign(String),
}

/// The shrunk world and how it got there.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The smallest world found.
    pub world: World,
    /// Whether the original divergence reproduced at all in isolation.
    pub reproduced: bool,
    /// Rounds run.
    pub rounds: usize,
    /// Log lines.
    pub log: Vec<String>,
}

fn zone_index(w: &World, apex: &str) -> Option<usize> {
    w.zones.iter().position(|z| z.apex == apex)
}

fn server_index(w: &World, name: &str) -> Option<usize> {
    w.servers.iter().position(|s| s.name == name)
}

fn apply(world: &World, step: &Step) -> Option<World> {
    let mut w = world.clone();
    match step {
        Step::DropZone(apex) => {
            let z = zone_index(&w, apex)?;
            if z == 0 || w.children(z).next().is_some() {
                return None;
            }
            w.zones.remove(z);
            for zone in &mut w.zones {
                zone.parent = zone.parent.map(|p| if p > z { p - 1 } else { p });
            }
        }
        Step::DropRecord(apex, line) => {
            let zone = &mut w.zones[zone_index(world, apex)?];
            let r = zone.records.iter().position(|l| l == line)?;
            zone.records.remove(r);
        }
        Step::ClearBehaviour(name) => {
            let server = &mut w.servers[server_index(world, name)?];
            if server.behaviour == Behaviour::default() {
                return None;
            }
            server.behaviour = Behaviour::default();
        }
        Step::DropFault(apex, fault) => {
            let zone = &mut w.zones[zone_index(world, apex)?];
            let f = zone.faults.iter().position(|x| x == fault)?;
            zone.faults.remove(f);
        }
        Step::DropStale(apex) => {
            let zone = &mut w.zones[zone_index(world, apex)?];
            let stale = zone.stale.take()?;
            zone.ns.retain(|s| *s != stale.server);
        }
        Step::DropLame(apex) => {
            let z = zone_index(world, apex)?;
            let lame = w.lame(&w.zones[z]);
            if lame.is_empty() {
                return None;
            }
            w.zones[z].ns.retain(|s| !lame.contains(s));
        }
        Step::DropServer(apex, name) => {
            let s = server_index(world, name)?;
            let zone = &mut w.zones[zone_index(world, apex)?];
            if zone.serving.len() < 2 || !zone.serving.contains(&s) {
                return None;
            }
            zone.serving.retain(|x| *x != s);
            zone.ns.retain(|x| *x != s);
        }
        Step::PlainNsec(apex) => {
            let zone = &mut w.zones[zone_index(world, apex)?];
            if !matches!(zone.signing, Signing::Nsec3 { .. }) {
                return None;
            }
            zone.signing = Signing::Nsec;
        }
        Step::Algorithm13(apex) => {
            let zone = &mut w.zones[zone_index(world, apex)?];
            if !zone.signing.is_signed() || zone.algorithm == KeyAlgorithm::EcdsaP256Sha256 {
                return None;
            }
            zone.algorithm = KeyAlgorithm::EcdsaP256Sha256;
        }
        Step::Unsign(apex) => {
            let zone = &mut w.zones[zone_index(world, apex)?];
            if !zone.signing.is_signed() {
                return None;
            }
            zone.signing = Signing::Unsigned;
            zone.faults.clear();
        }
    }
    drop_unused_servers(&mut w)?;
    (w != *world).then_some(w)
}

/// Removes servers no zone lists or uses any more (indices remapped).
fn drop_unused_servers(w: &mut World) -> Option<()> {
    let used: Vec<bool> = (0..w.servers.len())
        .map(|s| {
            w.zones.iter().any(|z| {
                z.ns.contains(&s)
                    || z.serving.contains(&s)
                    || z.stale.as_ref().is_some_and(|st| st.server == s)
            })
        })
        .collect();
    if used.iter().all(|u| *u) {
        return Some(());
    }
    let mut next = 0;
    let map: Vec<Option<usize>> = used
        .iter()
        .map(|u| {
            u.then(|| {
                next += 1;
                next - 1
            })
        })
        .collect();
    let servers = std::mem::take(&mut w.servers);
    w.servers = servers
        .into_iter()
        .zip(&used)
        .filter(|(_, u)| **u)
        .map(|(s, _)| s)
        .collect();
    for zone in &mut w.zones {
        zone.ns = zone.ns.iter().filter_map(|s| map[*s]).collect();
        zone.serving = zone.serving.iter().filter_map(|s| map[*s]).collect();
        if let Some(stale) = &mut zone.stale {
            stale.server = map[stale.server]?;
        }
    }
    Some(())
}

fn steps(world: &World) -> Vec<Step> {
    let mut out = Vec::new();
    for zone in world.zones.iter().skip(1).rev() {
        out.push(Step::DropZone(zone.apex.clone()));
    }
    for server in &world.servers {
        out.push(Step::ClearBehaviour(server.name.clone()));
    }
    for zone in &world.zones {
        let apex = &zone.apex;
        out.push(Step::DropStale(apex.clone()));
        out.push(Step::DropLame(apex.clone()));
        for f in &zone.faults {
            out.push(Step::DropFault(apex.clone(), f.clone()));
        }
        for s in &zone.serving {
            out.push(Step::DropServer(
                apex.clone(),
                world.servers[*s].name.clone(),
            ));
        }
        out.push(Step::Unsign(apex.clone()));
        out.push(Step::PlainNsec(apex.clone()));
        out.push(Step::Algorithm13(apex.clone()));
    }
    for zone in &world.zones {
        for line in &zone.records {
            out.push(Step::DropRecord(zone.apex.clone(), line.clone()));
        }
    }
    out
}

/// Shrinks the world of `d` (its question only) against Unbound or delv.
pub async fn shrink(
    d: &Divergence,
    cfg: &RunConfig,
    log: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Shrunk> {
    let started = Instant::now();
    let mut current = d.world.clone();
    current.questions = vec![d.comparison.question.clone()];
    let (want_ours, want_theirs) = (d.ours_short(), d.theirs_short());
    let oracle = d.oracle;
    let mut cfg = cfg.clone();
    cfg.delv_only = Some(if oracle == "delv" {
        vec![(current.seed, current.authority)]
    } else {
        Vec::new()
    });
    let original_tld = current.tld.trim_end_matches('.').to_owned();
    let mut lines = Vec::new();
    let mut say = |s: String| {
        log(&s);
        lines.push(s);
    };

    let still = |runs: &[crate::batch::WorldRun], i: usize| -> bool {
        runs.iter()
            .find(|r| r.world.tld == format!("{original_tld}c{i}."))
            .and_then(|r| r.comparisons.first())
            .is_some_and(|c| {
                let (ours, theirs) = match oracle {
                    "delv" => (
                        crate::delv::ours_as_delv(&c.ours).to_string(),
                        c.delv
                            .as_ref()
                            .map(|x| x.verdict.to_string())
                            .unwrap_or_default(),
                    ),
                    _ => (c.ours.short(), c.unbound.short()),
                };
                ours == want_ours && theirs == want_theirs
            })
    };
    let seed_of = |w: &World| w.seed;

    // Round 0: does it reproduce alone?
    let mut control = current.clone();
    control.rename(&format!("{original_tld}c0"));
    let runs = run_batch(vec![control], &cfg).await?;
    let reproduced = still(&runs, 0);
    say(format!(
        "shrink seed {}: reproduces alone: {reproduced} ({:.0} s)",
        seed_of(&current),
        started.elapsed().as_secs_f64()
    ));
    if !reproduced {
        return Ok(Shrunk {
            world: current,
            reproduced,
            rounds: 0,
            log: lines,
        });
    }
    let mut previous_hits: Vec<Step> = Vec::new();
    let mut rounds = 0;
    while rounds < MAX_ROUNDS {
        rounds += 1;
        let mut candidates: Vec<(Vec<Step>, World)> = Vec::new();
        if previous_hits.len() > 1 {
            let mut all = Some(current.clone());
            for step in &previous_hits {
                all = all.and_then(|w| apply(&w, step).or(Some(w)));
            }
            if let Some(w) = all.filter(|w| *w != current) {
                candidates.push((previous_hits.clone(), w));
            }
        }
        for step in steps(&current) {
            if candidates.len() >= MAX_CANDIDATES {
                break;
            }
            if let Some(w) = apply(&current, &step) {
                candidates.push((vec![step], w));
            }
        }
        if candidates.is_empty() {
            break;
        }
        let worlds: Vec<World> = candidates
            .iter()
            .enumerate()
            .map(|(i, (_, w))| {
                let mut w = w.clone();
                w.rename(&format!("{original_tld}c{}", i + 1));
                w
            })
            .collect();
        let runs = run_batch(worlds, &cfg).await?;
        let hits: Vec<usize> = (0..candidates.len())
            .filter(|i| still(&runs, i + 1))
            .collect();
        say(format!(
            "  round {rounds}: {} candidates, {} still diverge ({:.0} s)",
            candidates.len(),
            hits.len(),
            started.elapsed().as_secs_f64()
        ));
        let Some(&first) = hits.first() else {
            break;
        };
        previous_hits = hits
            .iter()
            .filter(|i| candidates[**i].0.len() == 1)
            .map(|i| candidates[*i].0[0].clone())
            .collect();
        current = candidates[first].1.clone();
        previous_hits.retain(|s| apply(&current, s).is_some());
    }
    Ok(Shrunk {
        world: current,
        reproduced,
        rounds,
        log: lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Authority;

    #[test]
    fn every_step_keeps_the_world_consistent() {
        for seed in 0..60 {
            let w = crate::generate(seed, Authority::Lab);
            for step in steps(&w) {
                if let Some(s) = apply(&w, &step) {
                    for z in &s.zones {
                        assert!(z.ns.iter().chain(&z.serving).all(|i| *i < s.servers.len()));
                        if let Some(p) = z.parent {
                            assert!(p < s.zones.len());
                        }
                    }
                    let (servers, zones) = s.lab_specs();
                    assert_eq!(servers.len(), s.servers.len());
                    assert!(!zones.is_empty(), "{step:?}");
                }
            }
        }
    }
}
