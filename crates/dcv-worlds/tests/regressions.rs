//! Fixed regression worlds: every divergence the generated worlds found,
//! kept as a seed (or as the shrunk world itself, which no generator change
//! can alter) with what diverged and the rule that decides who is right.
//! Each must agree with Unbound (and delv), or be listed in
//! `known-divergences.toml` until the engine fix lands.
//! Needs root and the tools (see `tests/worlds.rs`).

use std::path::Path;

use dcv_worlds::batch::{RunConfig, run_batch};
use dcv_worlds::judge::{Judgement, Known, judge_world};
use dcv_worlds::{Authority, World, generate};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Regressions {
    regression: Vec<Regression>,
}

/// One entry of `regressions.toml`.
#[derive(Debug, Deserialize)]
struct Regression {
    seed: u64,
    #[serde(default = "lab")]
    authority: String,
    /// The question that diverged (`name TYPE`); all of the world's if absent.
    #[serde(default)]
    question: Option<String>,
    /// What diverged, in words.
    diverged: String,
    /// The rule (RFC section) that decides who is right.
    rule: String,
    /// A shrunk world (JSON, relative to the crate); the seed's generated
    /// world if absent.
    #[serde(default)]
    world: Option<String>,
}

fn lab() -> String {
    "lab".to_owned()
}

fn load(r: &Regression) -> World {
    let mut world = match &r.world {
        Some(file) => {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        }
        None => generate(
            r.seed,
            if r.authority == "knot" {
                Authority::Knot
            } else {
                Authority::Lab
            },
        ),
    };
    if let Some(q) = &r.question {
        world
            .questions
            .retain(|x| x.to_string().eq_ignore_ascii_case(q));
        assert!(
            !world.questions.is_empty(),
            "seed {}: the world has no question {q}",
            r.seed
        );
    }
    world
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_worlds_agree_or_are_known() {
    if let Err(e) = dcv_worlds::tools::check_all() {
        panic!("{e}");
    }
    let list: Regressions =
        toml::from_str(include_str!("../regressions.toml")).expect("regressions.toml parses");
    let known = Known::parse(include_str!("../known-divergences.toml"))
        .expect("known-divergences.toml parses");
    assert!(!list.regression.is_empty());
    let mut worlds: Vec<World> = Vec::new();
    for r in &list.regression {
        assert!(
            !r.diverged.is_empty() && !r.rule.is_empty(),
            "seed {}: say what and why",
            r.seed
        );
        let w = load(r);
        assert!(
            !worlds.iter().any(|x| x.tld == w.tld),
            "seed {} is listed twice",
            r.seed
        );
        worlds.push(w);
    }
    let cfg = RunConfig {
        delv_every: 1,
        world_concurrency: 16,
        ..RunConfig::default()
    };
    let runs = run_batch(worlds, &cfg)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let mut failures = Vec::new();
    for run in &runs {
        let entry = list
            .regression
            .iter()
            .find(|r| r.seed == run.world.seed)
            .expect("every run has its entry");
        for (c, (vs_unbound, vs_delv)) in run.comparisons.iter().zip(judge_world(run, &known)) {
            let line = format!(
                "seed {} {}: ours {} | unbound {} | delv {} — {vs_unbound:?} / {vs_delv:?}",
                run.world.seed,
                c.question,
                c.ours,
                c.unbound,
                c.delv
                    .as_ref()
                    .map_or_else(String::new, |d| d.verdict.to_string())
            );
            println!("{line}");
            let bad = vs_unbound.is_unexplained()
                || vs_delv.as_ref().is_some_and(Judgement::is_unexplained);
            if bad {
                failures.push(format!(
                    "{line}\n  diverged before: {}\n  rule: {}\n{}",
                    entry.diverged,
                    entry.rule,
                    run.world.describe()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "regressions:\n{}", failures.join("\n"));
}
