//! The harness checks itself: a world with nothing unusual on its paths
//! must agree on every question, and an engine given a wrong trust anchor
//! must be caught disagreeing (so agreement elsewhere means something).
//! Needs root and the tools (see `tests/worlds.rs`).

use dcv_dns::{AnchorKind, EngineConfig};
use dcv_worlds::batch::{RunConfig, run_batch};
use dcv_worlds::judge::{Judgement, Known, judge_world, path_features};
use dcv_worlds::{Authority, World, generate};

/// Lab worlds among the first seeds whose every question has an empty path
/// (no fault, no co-hosting, no stale copy, no CNAME, ...).
fn plain_worlds(count: usize) -> Vec<World> {
    (1..2000)
        .map(|s| generate(s, Authority::Lab))
        .filter(|w| {
            w.questions
                .iter()
                .all(|q| path_features(w, &q.name).is_empty())
        })
        .take(count)
        .collect()
}

/// Flips the root DS digest: every chain of trust breaks at the root.
fn wrong_anchor(cfg: &mut EngineConfig) {
    for anchor in &mut cfg.trust_anchors {
        if let AnchorKind::Ds { digest, .. } = &mut anchor.kind
            && let Some(b) = digest.first_mut()
        {
            *b ^= 0xff;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_worlds_agree_and_a_broken_engine_is_caught() {
    if let Err(e) = dcv_worlds::tools::check_all() {
        panic!("{e}");
    }
    let worlds = plain_worlds(20);
    assert_eq!(worlds.len(), 20, "the generator makes plain worlds");
    let known = Known::default();

    let runs = run_batch(worlds.clone(), &RunConfig::default())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let mut disagreements = Vec::new();
    for run in &runs {
        for (c, (j, _)) in run.comparisons.iter().zip(judge_world(run, &known)) {
            if !matches!(j, Judgement::Agree) {
                disagreements.push(format!(
                    "seed {} {}: ours {} unbound {}",
                    run.world.seed, c.question, c.ours, c.unbound
                ));
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "plain worlds disagree:\n{}",
        disagreements.join("\n")
    );

    let broken = RunConfig {
        engine_tweak: Some(wrong_anchor),
        ..RunConfig::default()
    };
    let runs = run_batch(worlds, &broken)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let (mut secure, mut caught) = (0, 0);
    for run in &runs {
        for (c, (j, _)) in run.comparisons.iter().zip(judge_world(run, &known)) {
            if c.unbound.secure {
                secure += 1;
                caught += usize::from(j.is_unexplained());
            }
        }
    }
    assert!(secure > 0, "some plain worlds are signed");
    assert_eq!(
        caught, secure,
        "every answer Unbound validates must expose the engine's wrong trust anchor"
    );
}
